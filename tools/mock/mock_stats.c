/*
 * mock_stats.c - the counters behind sy-mock's GET /__stats.
 *
 * Every worker thread counts into one shared object guarded by one mutex:
 * a request costs a single lock/unlock (the record of its method, path,
 * headers and body is built before the lock is taken, and the record it
 * pushes out of the ring is freed after it is released), which keeps the
 * numbers exact across workers at a cost well under a microsecond. Open
 * streams are linked here while they run so /__stats can list their
 * progress; their tokens_sent is an atomic the owning worker bumps without
 * the lock.
 */
#include "mock.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#define PATH_SLOTS (2 * SY_MOCK_MAX_PATHS)
#define PATH_KEEP 512

struct sy_mock_rec {
    size_t cap; /* bytes of data[] */
    const char *method;
    const char *path;
    const char *hdr; /* nhdr pairs of NUL-terminated name (lower-cased) and value */
    size_t nhdr;
    const char *body;
    size_t body_len;
    char data[];
};

struct path_slot {
    char *path; /* NULL when free */
    uint64_t n;
};

struct sy_mock_stats {
    pthread_mutex_t mu;
    uint64_t requests;
    uint64_t completed;
    uint64_t cancelled;
    uint64_t cut;
    long open;
    size_t npaths;
    struct path_slot slots[PATH_SLOTS];
    sy_mock_stream_stat_t *streams;
    sy_mock_rec_t *ring[SY_MOCK_LAST_REQUESTS];
    unsigned ring_head; /* index of the oldest record */
    unsigned ring_count;
};

sy_mock_stats_t *sy_mock_stats_new(void)
{
    sy_mock_stats_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Forgets paths and records. Called with the lock held (or single-threaded). */
static void clear_locked(sy_mock_stats_t *s, sy_mock_rec_t **old, unsigned *nold)
{
    for (size_t i = 0; i < PATH_SLOTS; i++) {
        free(s->slots[i].path);
        s->slots[i].path = NULL;
        s->slots[i].n = 0;
    }
    s->npaths = 0;
    *nold = 0;
    for (unsigned i = 0; i < s->ring_count; i++)
        old[(*nold)++] = s->ring[(s->ring_head + i) % SY_MOCK_LAST_REQUESTS];
    memset(s->ring, 0, sizeof s->ring);
    s->ring_head = 0;
    s->ring_count = 0;
}

void sy_mock_stats_free(sy_mock_stats_t *s)
{
    sy_mock_rec_t *old[SY_MOCK_LAST_REQUESTS];
    unsigned nold;
    if (s == NULL)
        return;
    clear_locked(s, old, &nold);
    for (unsigned i = 0; i < nold; i++)
        free(old[i]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

sy_mock_rec_t *sy_mock_rec_new(sy_mock_rec_t *reuse, const char *method, const char *path,
                               const struct evkeyvalq *headers, const char *body,
                               size_t body_len)
{
    const struct evkeyval *kv;
    size_t path_len = strnlen(path, PATH_KEEP);
    size_t need = path_len + 1, nhdr = 0;
    if (body_len > SY_MOCK_BODY_KEEP)
        body_len = SY_MOCK_BODY_KEEP;
    for (kv = (headers)->tqh_first; kv; kv = kv->next.tqe_next) {
        need += strlen(kv->key) + strlen(kv->value) + 2;
        nhdr++;
    }
    need += body_len;
    sy_mock_rec_t *r = reuse;
    if (r == NULL || r->cap < need) {
        /* Rounded up so the record pushed out of the ring usually fits the
         * next request and no allocation happens per request. */
        size_t cap = need < 4096 ? 4096 : need;
        free(reuse);
        if ((r = malloc(sizeof *r + cap)) == NULL)
            return NULL;
        r->cap = cap;
    }
    char *o = r->data;
    r->method = method;
    r->path = o;
    memcpy(o, path, path_len);
    o[path_len] = 0;
    o += path_len + 1;
    r->hdr = o;
    r->nhdr = nhdr;
    for (kv = (headers)->tqh_first; kv; kv = kv->next.tqe_next) {
        size_t kl = strlen(kv->key), vl = strlen(kv->value);
        for (size_t i = 0; i < kl; i++)
            o[i] = (char)tolower((unsigned char)kv->key[i]);
        o[kl] = 0;
        o += kl + 1;
        memcpy(o, kv->value, vl + 1);
        o += vl + 1;
    }
    r->body = o;
    r->body_len = body_len;
    if (body_len)
        memcpy(o, body, body_len);
    return r;
}

/* Adds one to path's count, inserting it while there is room. Lock held. */
static void count_path_locked(sy_mock_stats_t *s, const char *path)
{
    size_t len = strnlen(path, PATH_KEEP);
    size_t i = sy_mock_fnv1a(SY_MOCK_FNV_OFFSET, path, len) % PATH_SLOTS;
    for (;;) {
        struct path_slot *sl = &s->slots[i];
        if (sl->path == NULL) {
            if (s->npaths >= SY_MOCK_MAX_PATHS)
                return;
            sl->path = malloc(len + 1);
            if (sl->path == NULL)
                return;
            memcpy(sl->path, path, len);
            sl->path[len] = 0;
            sl->n = 1;
            s->npaths++;
            return;
        }
        if (strncmp(sl->path, path, len) == 0 && sl->path[len] == 0) {
            sl->n++;
            return;
        }
        i = (i + 1) % PATH_SLOTS;
    }
}

void sy_mock_rec_free(sy_mock_rec_t *r)
{
    free(r);
}

sy_mock_rec_t *sy_mock_stats_request(sy_mock_stats_t *s, const char *path, sy_mock_rec_t *rec)
{
    sy_mock_rec_t *drop = NULL;
    pthread_mutex_lock(&s->mu);
    s->requests++;
    count_path_locked(s, path);
    if (rec != NULL) {
        if (s->ring_count == SY_MOCK_LAST_REQUESTS) {
            drop = s->ring[s->ring_head];
            s->ring[s->ring_head] = rec;
            s->ring_head = (s->ring_head + 1) % SY_MOCK_LAST_REQUESTS;
        } else {
            s->ring[(s->ring_head + s->ring_count) % SY_MOCK_LAST_REQUESTS] = rec;
            s->ring_count++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return drop;
}

void sy_mock_stats_stream_open(sy_mock_stats_t *s, sy_mock_stream_stat_t *st)
{
    pthread_mutex_lock(&s->mu);
    st->prev = NULL;
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    s->open++;
    pthread_mutex_unlock(&s->mu);
}

void sy_mock_stats_stream_close(sy_mock_stats_t *s, sy_mock_stream_stat_t *st,
                                sy_mock_stream_end_t how)
{
    pthread_mutex_lock(&s->mu);
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
    s->open--;
    switch (how) {
    case SY_MOCK_END_COMPLETED: s->completed++; break;
    case SY_MOCK_END_CANCELLED: s->cancelled++; break;
    case SY_MOCK_END_CUT: s->cut++; break;
    case SY_MOCK_END_SHUTDOWN: break;
    }
    pthread_mutex_unlock(&s->mu);
}

void sy_mock_stats_reset(sy_mock_stats_t *s)
{
    sy_mock_rec_t *old[SY_MOCK_LAST_REQUESTS];
    unsigned nold;
    pthread_mutex_lock(&s->mu);
    s->requests = 0;
    s->completed = 0;
    s->cancelled = 0;
    s->cut = 0;
    clear_locked(s, old, &nold);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < nold; i++)
        free(old[i]);
}

/* The headers of r as a JSON object; a repeated name joins its values with ", ". */
static json_object *headers_json(const sy_mock_rec_t *r)
{
    json_object *h = json_object_new_object();
    const char *p = r->hdr;
    for (size_t i = 0; i < r->nhdr; i++) {
        const char *name = p;
        const char *value = name + strlen(name) + 1;
        p = value + strlen(value) + 1;
        json_object *prev = NULL;
        if (json_object_object_get_ex(h, name, &prev) && json_object_is_type(prev, json_type_string)) {
            size_t pl = (size_t)json_object_get_string_len(prev), vl = strlen(value);
            char *joined = malloc(pl + 2 + vl + 1);
            if (joined == NULL)
                continue;
            memcpy(joined, json_object_get_string(prev), pl);
            memcpy(joined + pl, ", ", 2);
            memcpy(joined + pl + 2, value, vl + 1);
            json_object_object_add(h, name, json_object_new_string_len(joined, (int)(pl + 2 + vl)));
            free(joined);
        } else {
            json_object_object_add(h, name, json_object_new_string(value));
        }
    }
    return h;
}

void sy_mock_stats_json(sy_mock_stats_t *s, struct evbuffer *b)
{
    json_object *o = json_object_new_object();
    json_object *by_path = json_object_new_object();
    json_object *streams = json_object_new_array();
    json_object *last = json_object_new_array();

    pthread_mutex_lock(&s->mu);
    json_object_object_add(o, "requests", json_object_new_int64((int64_t)s->requests));
    for (size_t i = 0; i < PATH_SLOTS; i++)
        if (s->slots[i].path)
            json_object_object_add(by_path, s->slots[i].path,
                                   json_object_new_int64((int64_t)s->slots[i].n));
    json_object_object_add(o, "by_path", by_path);
    json_object_object_add(o, "open_streams", json_object_new_int64(s->open));
    json_object_object_add(o, "streams_completed", json_object_new_int64((int64_t)s->completed));
    json_object_object_add(o, "streams_cancelled", json_object_new_int64((int64_t)s->cancelled));
    json_object_object_add(o, "streams_cut", json_object_new_int64((int64_t)s->cut));
    /* The list is newest first; report oldest first like last_requests. */
    sy_mock_stream_stat_t *tail = s->streams;
    while (tail && tail->next)
        tail = tail->next;
    for (sy_mock_stream_stat_t *st = tail; st; st = st->prev) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "path", json_object_new_string(st->path));
        json_object_object_add(e, "tokens_sent",
                               json_object_new_int64(atomic_load_explicit(&st->tokens_sent,
                                                                          memory_order_relaxed)));
        json_object_object_add(e, "tokens_total", json_object_new_int64(st->tokens_total));
        json_object_array_add(streams, e);
    }
    json_object_object_add(o, "streams", streams);
    for (unsigned i = 0; i < s->ring_count; i++) {
        const sy_mock_rec_t *r = s->ring[(s->ring_head + i) % SY_MOCK_LAST_REQUESTS];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "method", json_object_new_string(r->method));
        json_object_object_add(e, "path", json_object_new_string(r->path));
        json_object_object_add(e, "headers", headers_json(r));
        json_object_object_add(e, "body", json_object_new_string_len(r->body, (int)r->body_len));
        json_object_array_add(last, e);
    }
    pthread_mutex_unlock(&s->mu);
    json_object_object_add(o, "last_requests", last);

    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    evbuffer_add(b, text, len);
    json_object_put(o);
}
