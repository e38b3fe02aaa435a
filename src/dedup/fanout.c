/*
 * fanout.c - one upstream stream, read by many waiters, in bounded memory.
 *
 * The buffer is a singly linked list of chunks, each knowing its offset in
 * the stream. A reader is an offset (pos) plus the chunk holding it (cur);
 * each chunk counts the attached readers standing in it (hold), which is
 * all the reference counting needed: the head chunks with hold == 0 are
 * behind every reader. The list starts with an empty sentinel chunk so that
 * a reader always has a chunk, even before the first append.
 *
 * Two phases. While the first byte is still held, nothing is dropped unless
 * the bound demands it, so late joiners start from the beginning. Once a
 * chunk with data has been dropped the stream cannot be joined any more, and
 * from then on chunks are freed as soon as every reader has passed them.
 *
 * A reader detached while it holds a view would have the chunk freed under
 * it by the producer's thread. So a detached reader with a view "pins" its
 * chunk: the chunk leaves the list (and the bound) but its memory lives until
 * the reader's next call. That memory is counted as bytes_pinned.
 *
 * Everything is under one mutex per stream; callbacks run under it (the
 * header says why).
 */
#include "dedup/fanout.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FANOUT_DEFAULT_MAX_BYTES ((size_t)1 << 20)
#define FANOUT_DEFAULT_MAX_READERS 4096
#define FANOUT_CHUNK_MIN 256
#define FANOUT_CHUNK_MAX 16384

struct chunk {
    struct chunk *next;
    uint64_t off; /* stream offset of data[0] */
    size_t len;   /* bytes written */
    size_t cap;   /* bytes allocated for data */
    size_t hold;  /* attached readers whose cur is this chunk */
    size_t pins;  /* detached readers still viewing it */
    int linked;   /* in the list (else freed when pins drops to 0) */
    char data[];
};

struct sy_fanout_reader {
    sy_fanout_t *f;
    sy_fanout_reader_t *prev, *next;   /* all readers */
    sy_fanout_reader_t *aprev, *anext; /* armed readers */
    int armed;                         /* read said AGAIN/BEHIND, notify owed */
    int detached;
    struct chunk *cur; /* attached: the chunk holding pos; detached: pinned chunk or NULL */
    uint64_t pos;
    size_t view; /* bytes of the last view not consumed yet */
    sy_fanout_notify_cb notify;
    void *ud;
};

struct sy_fanout {
    pthread_mutex_t mu;
    size_t refs;  /* the producer's hold + one per reader */
    int producer; /* the producer still holds it */
    size_t max_bytes, max_readers, chunk_cap;
    struct chunk *head, *tail;
    sy_fanout_reader_t *readers, *armed;
    size_t nreaders, nattached;
    int ended, status;
    int broken; /* an append larger than the bound: nothing more is kept */
    int gone;   /* on_last_leave fired */
    sy_fanout_last_leave_cb on_last_leave;
    void *ud;
    size_t held, pinned, peak;
    uint64_t total, joins, detached, late_refused;
};

const char *sy_fanout_rc_name(int rc)
{
    switch (rc) {
    case 0:
        return "OK";
    case SY_FANOUT_DATA:
        return "DATA";
    case SY_FANOUT_AGAIN:
        return "AGAIN";
    case SY_FANOUT_END:
        return "END";
    case SY_FANOUT_BEHIND:
        return "BEHIND";
    case SY_FANOUT_LATE:
        return "LATE";
    case SY_FANOUT_GONE:
        return "GONE";
    case SY_FANOUT_FULL:
        return "FULL";
    default:
        return rc < 0 ? sy_err_name((sy_err_t)rc) : "UNKNOWN";
    }
}

sy_fanout_t *sy_fanout_new(size_t max_bytes, size_t max_readers,
                           sy_fanout_last_leave_cb on_last_leave, void *ud)
{
    sy_fanout_t *f = calloc(1, sizeof(*f));
    struct chunk *sentinel = calloc(1, sizeof(*sentinel));
    if (!f || !sentinel || pthread_mutex_init(&f->mu, NULL) != 0) {
        free(f);
        free(sentinel);
        return NULL;
    }
    f->max_bytes = max_bytes ? max_bytes : FANOUT_DEFAULT_MAX_BYTES;
    f->max_readers = max_readers ? max_readers : FANOUT_DEFAULT_MAX_READERS;
    /* 1/16 of the bound: a detach drops at most that much more than needed */
    f->chunk_cap = f->max_bytes / 16;
    if (f->chunk_cap < FANOUT_CHUNK_MIN)
        f->chunk_cap = FANOUT_CHUNK_MIN;
    if (f->chunk_cap > FANOUT_CHUNK_MAX)
        f->chunk_cap = FANOUT_CHUNK_MAX;
    sentinel->linked = 1;
    f->head = f->tail = sentinel;
    f->refs = 1;
    f->producer = 1;
    f->on_last_leave = on_last_leave;
    f->ud = ud;
    return f;
}

static void destroy(sy_fanout_t *f)
{
    /* every reader has left, so no chunk is pinned */
    struct chunk *c = f->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* ---- under the lock ------------------------------------------------------ */

static void note_peak(sy_fanout_t *f)
{
    if (f->held + f->pinned > f->peak)
        f->peak = f->held + f->pinned;
}

static void arm(sy_fanout_t *f, sy_fanout_reader_t *r)
{
    if (r->armed)
        return;
    r->armed = 1;
    r->aprev = NULL;
    r->anext = f->armed;
    if (f->armed)
        f->armed->aprev = r;
    f->armed = r;
}

static void disarm(sy_fanout_t *f, sy_fanout_reader_t *r)
{
    if (!r->armed)
        return;
    if (r->aprev)
        r->aprev->anext = r->anext;
    else
        f->armed = r->anext;
    if (r->anext)
        r->anext->aprev = r->aprev;
    r->armed = 0;
    r->aprev = r->anext = NULL;
}

/* Notify every reader owed a notification, once each. */
static void wake_all(sy_fanout_t *f)
{
    while (f->armed) {
        sy_fanout_reader_t *r = f->armed;
        disarm(f, r);
        if (r->notify)
            r->notify(r->ud);
    }
}

/* Take the head chunk out of the list (its hold is 0 and it is not the
 * tail). Freed now, or by the last detached reader viewing it. */
static void unlink_head(sy_fanout_t *f)
{
    struct chunk *c = f->head;
    f->head = c->next;
    c->next = NULL;
    c->linked = 0;
    f->held -= c->cap;
    if (c->pins == 0)
        free(c);
    else
        f->pinned += c->cap;
}

/* Drop a detached reader's pin, freeing the chunk if it was the last. */
static void unpin(sy_fanout_t *f, sy_fanout_reader_t *r)
{
    struct chunk *c = r->cur;
    r->cur = NULL;
    r->view = 0;
    if (!c)
        return;
    c->pins--;
    if (!c->linked && c->pins == 0) {
        f->pinned -= c->cap;
        free(c);
    }
}

/* Move an attached reader standing at the end of a full chunk into the next. */
static void advance(sy_fanout_reader_t *r)
{
    while (r->cur->next && r->pos == r->cur->off + r->cur->len) {
        r->cur->hold--;
        r->cur = r->cur->next;
        r->cur->hold++;
    }
}

/* Once the start is gone there is no late joiner to keep bytes for: free
 * what every reader has passed. */
static void trim(sy_fanout_t *f)
{
    if (f->head->off == 0 && !f->broken)
        return;
    while (f->head != f->tail && f->head->hold == 0)
        unlink_head(f);
}

static void detach(sy_fanout_t *f, sy_fanout_reader_t *r)
{
    struct chunk *c = r->cur;
    r->detached = 1;
    f->nattached--;
    f->detached++;
    c->hold--;
    if (r->view > 0)
        c->pins++; /* its view outlives the chunk's place in the list */
    else
        r->cur = NULL;
    if (r->armed) {
        disarm(f, r);
        if (r->notify)
            r->notify(r->ud);
    }
}

/* After a new tail chunk: drop head chunks until the bound holds again,
 * detaching the readers still inside them (the slowest ones). Readers that
 * have read a head chunk to its end are moved on, not detached. */
static void enforce_bound(sy_fanout_t *f)
{
    while (f->held > f->max_bytes && f->head != f->tail) {
        struct chunk *c = f->head;
        if (c->hold > 0) {
            for (sy_fanout_reader_t *r = f->readers; r; r = r->next) {
                if (r->detached || r->cur != c)
                    continue;
                if (r->pos == c->off + c->len)
                    advance(r);
                else
                    detach(f, r);
            }
        }
        unlink_head(f);
    }
}

/* ---- producer ------------------------------------------------------------- */

int sy_fanout_append(sy_fanout_t *f, const void *data, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (f->ended) {
        rc = SY_EINTERNAL;
        goto out;
    }
    if (f->broken || len > f->max_bytes) {
        if (!f->broken) {
            f->broken = 1;
            for (sy_fanout_reader_t *r = f->readers; r; r = r->next)
                if (!r->detached)
                    detach(f, r);
            trim(f);
        }
        rc = SY_ETOOLARGE;
        goto out;
    }
    if (len == 0)
        goto out;
    struct chunk *t = f->tail;
    if (t->cap - t->len >= len) {
        /* readers never look past t->len, so writing here races with no one */
        memcpy(t->data + t->len, data, len);
        t->len += len;
    } else {
        size_t cap = len > f->chunk_cap ? len : f->chunk_cap;
        if (cap > f->max_bytes)
            cap = f->max_bytes;
        struct chunk *c = malloc(sizeof(*c) + cap);
        if (!c) {
            rc = SY_ENOMEM;
            goto out;
        }
        memset(c, 0, sizeof(*c));
        c->off = t->off + t->len;
        c->cap = cap;
        c->len = len;
        c->linked = 1;
        memcpy(c->data, data, len);
        t->next = c;
        f->tail = c;
        f->held += cap;
        enforce_bound(f);
    }
    f->total += len;
    note_peak(f);
    trim(f);
    wake_all(f);
out:
    pthread_mutex_unlock(&f->mu);
    return rc;
}

int sy_fanout_end(sy_fanout_t *f, int status)
{
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (f->ended) {
        rc = SY_EINTERNAL;
    } else {
        f->ended = 1;
        f->status = status;
        wake_all(f);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void sy_fanout_release(sy_fanout_t *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    if (!f->ended) {
        f->ended = 1;
        f->status = SY_EINTERNAL;
        wake_all(f);
    }
    f->producer = 0;
    int last = --f->refs == 0;
    pthread_mutex_unlock(&f->mu);
    if (last)
        destroy(f);
}

/* ---- readers -------------------------------------------------------------- */

int sy_fanout_join(sy_fanout_t *f, sy_fanout_notify_cb notify, void *ud,
                   sy_fanout_reader_t **out)
{
    int rc = 0;
    *out = NULL;
    sy_fanout_reader_t *r = calloc(1, sizeof(*r)); /* outside the lock */
    if (!r)
        return SY_ENOMEM;
    pthread_mutex_lock(&f->mu);
    if (f->gone) {
        rc = SY_FANOUT_GONE;
    } else if (f->broken || f->head->off != 0) {
        f->late_refused++;
        rc = SY_FANOUT_LATE;
    } else if (f->nreaders >= f->max_readers) {
        rc = SY_FANOUT_FULL;
    } else {
        r->f = f;
        r->notify = notify;
        r->ud = ud;
        r->cur = f->head;
        r->cur->hold++;
        r->next = f->readers;
        if (f->readers)
            f->readers->prev = r;
        f->readers = r;
        f->nreaders++;
        f->nattached++;
        f->refs++;
        f->joins++;
        *out = r;
        r = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    free(r);
    return rc;
}

int sy_fanout_read(sy_fanout_reader_t *r, const char **p, size_t *n)
{
    sy_fanout_t *f = r->f;
    int rc;
    *p = NULL;
    *n = 0;
    pthread_mutex_lock(&f->mu);
    if (r->detached) {
        unpin(f, r);
        if (!f->ended)
            arm(f, r); /* told when the stream ends, for the cache entry */
        rc = SY_FANOUT_BEHIND;
        goto out;
    }
    advance(r);
    struct chunk *c = r->cur;
    size_t avail = (size_t)(c->off + c->len - r->pos);
    if (avail > 0) {
        *p = c->data + (r->pos - c->off);
        *n = avail;
        r->view = avail;
        rc = SY_FANOUT_DATA;
    } else if (f->ended) {
        r->view = 0;
        rc = SY_FANOUT_END;
    } else {
        r->view = 0;
        arm(f, r);
        rc = SY_FANOUT_AGAIN;
    }
    trim(f);
out:
    pthread_mutex_unlock(&f->mu);
    return rc;
}

int sy_fanout_consume(sy_fanout_reader_t *r, size_t n)
{
    sy_fanout_t *f = r->f;
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (r->detached) {
        unpin(f, r);
    } else if (n > r->view) {
        rc = SY_EINTERNAL;
    } else {
        r->pos += n;
        r->view -= n;
        if (r->view == 0) {
            advance(r);
            trim(f);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void sy_fanout_leave(sy_fanout_reader_t *r)
{
    if (!r)
        return;
    sy_fanout_t *f = r->f;
    pthread_mutex_lock(&f->mu);
    disarm(f, r);
    if (r->prev)
        r->prev->next = r->next;
    else
        f->readers = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->detached) {
        unpin(f, r);
    } else {
        r->cur->hold--;
        f->nattached--;
    }
    f->nreaders--;
    if (f->nreaders == 0 && !f->ended && f->producer && !f->gone) {
        f->gone = 1;
        if (f->on_last_leave)
            f->on_last_leave(f->ud);
    }
    trim(f);
    int last = --f->refs == 0;
    pthread_mutex_unlock(&f->mu);
    free(r);
    if (last)
        destroy(f);
}

/* ---- queries -------------------------------------------------------------- */

int sy_fanout_ended(sy_fanout_t *f, int *status)
{
    pthread_mutex_lock(&f->mu);
    int ended = f->ended;
    if (ended && status)
        *status = f->status;
    pthread_mutex_unlock(&f->mu);
    return ended;
}

void sy_fanout_stats(sy_fanout_t *f, sy_fanout_stats_t *out)
{
    pthread_mutex_lock(&f->mu);
    out->bytes_held = f->held;
    out->bytes_pinned = f->pinned;
    out->peak_bytes = f->peak;
    out->bytes_total = f->total;
    out->readers = f->nreaders;
    out->attached = f->nattached;
    out->joins = f->joins;
    out->detached = f->detached;
    out->late_refused = f->late_refused;
    out->joinable = !f->gone && !f->broken && f->head->off == 0;
    out->ended = f->ended;
    out->status = f->ended ? f->status : 0;
    pthread_mutex_unlock(&f->mu);
}
