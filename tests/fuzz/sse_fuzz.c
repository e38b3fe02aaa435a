/*
 * sse_fuzz.c - libFuzzer driver for src/upstream/sse.c, the splitter that
 * reads upstream Server-Sent Events streams (bytes nobody here controls).
 *
 * Input layout: byte 0 is a control byte, the next (byte0 & 7) bytes are cut
 * points (each one a fraction k/256 of the stream's length), everything
 * after them is the stream. The stream is fed to the parser three ways:
 *   A. whole, in one sy_sse_feed call;
 *   B. cut at the cut points (empty pieces included);
 *   C. cut the same way with either a small maximum event size (control bit
 *      3) or a callback that stops the feed at event (byte0 >> 5) + 1 (bit 4).
 * and these must hold:
 *   - every run: the events' raw bytes appear in the stream in order, one
 *     right after the other, with only line terminators between them (the
 *     parser drops stray blank lines by design, nothing else), and the
 *     pending tail is exactly the last bytes fed after the last event;
 *   - each event's decoded fields ("event", joined "data", is_comment)
 *     agree with an independent decoding of its raw bytes, and the raw
 *     bytes end with exactly one blank line;
 *   - A and B give the same events and the same pending tail; feeding
 *     "\n\n" afterwards (what the relay does when the upstream ends
 *     mid-event) flushes everything in both, with the same events;
 *   - C: no event larger than the maximum is ever reported, and without
 *     SY_ETOOLARGE the kept tail never exceeds it (after SY_ETOOLARGE the
 *     stream is abandoned, as the relay does); a stopping callback's value
 *     is returned and no later event is reported by that call;
 *   - no crash, no leak, no read outside the caller's bytes (ASan).
 * Any violation calls abort(), which libFuzzer reports as a crash.
 */
#include "upstream/sse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CUTS 7

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "sse_fuzz: invariant failed: %s (%s:%d)\n  ", #cond, __FILE__,        \
                    __LINE__);                                                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* One event as the callback saw it, copied: the parser's pointers are only
 * valid during the callback. */
typedef struct rec_ev {
    char *raw;
    size_t raw_len;
    char *event; /* NULL when absent */
    size_t event_len;
    char *data; /* NULL when absent */
    size_t data_len;
    int is_comment;
} rec_ev_t;

/* The state of one run: the stream, how much of it was fed, the events. */
typedef struct run {
    const char *in; /* the whole stream */
    size_t in_len;
    size_t fed;  /* bytes of in handed to sy_sse_feed so far */
    size_t pos;  /* end in `in` of the last event's raw bytes */
    int check_partition;
    rec_ev_t *ev;
    size_t n, cap;
    size_t calls_this_feed;
    size_t stop_at; /* 1-based event index whose callback returns stop_rc; 0 = never */
    int stop_rc;
    int stopped;
    size_t max_event; /* the parser's maximum: no larger event may be reported */
} run_t;

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    CHECK(d != NULL, "out of memory");
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int is_eol(char c)
{
    return c == '\r' || c == '\n';
}

/*
 * The independent decoding of one complete event's raw bytes, per the SSE
 * spec: lines end in \r\n, \n or \r; the first empty line ends the event and
 * must be the raw's last line; ":" lines are comments; "name:value" with one
 * optional leading space in value; "data" lines joined with '\n'; the last
 * "event" wins.
 */
static void check_decoding(const sy_sse_event_t *ev)
{
    const char *s = ev->raw;
    size_t n = ev->raw_len, i = 0, ndata = 0, nother = 0;
    const char *event = NULL;
    size_t event_len = 0;
    char *data = malloc(n + 1);
    size_t data_len = 0;
    int ended = 0;

    CHECK(data != NULL, "out of memory");
    CHECK(n > 0 && !is_eol(s[0]), "an event starts with a line terminator (raw_len %zu)", n);
    while (i < n) {
        size_t j = i;
        while (j < n && !is_eol(s[j]))
            j++;
        CHECK(j < n, "the raw bytes do not end with a line terminator");
        size_t next = (s[j] == '\r' && j + 1 < n && s[j + 1] == '\n') ? j + 2 : j + 1;
        const char *line = s + i;
        size_t ll = j - i;
        i = next;
        if (ll == 0) {
            ended = 1;
            break;
        }
        if (line[0] == ':')
            continue;
        nother++;
        const char *colon = memchr(line, ':', ll);
        size_t flen = colon ? (size_t)(colon - line) : ll;
        const char *val = colon ? colon + 1 : line + ll;
        size_t vlen = ll - (size_t)(val - line);
        if (vlen && val[0] == ' ')
            val++, vlen--;
        if (flen == 4 && memcmp(line, "data", 4) == 0) {
            if (ndata++)
                data[data_len++] = '\n';
            memcpy(data + data_len, val, vlen);
            data_len += vlen;
        } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
            event = val;
            event_len = vlen;
        }
    }
    CHECK(ended, "no blank line in the event's raw bytes");
    CHECK(i == n, "bytes after the blank line inside an event (%zu of %zu)", i, n);
    CHECK(ev->is_comment == (nother == 0), "is_comment %d, %zu non-comment lines", ev->is_comment,
          nother);
    CHECK((ev->event != NULL) == (event != NULL), "event field presence differs");
    if (event) {
        CHECK(ev->event_len == event_len && memcmp(ev->event, event, event_len) == 0,
              "event field \"%.*s\" decoded as \"%.*s\"", (int)event_len, event,
              (int)ev->event_len, ev->event);
    }
    CHECK((ev->data != NULL) == (ndata > 0), "data presence differs (%zu data lines)", ndata);
    if (ndata) {
        CHECK(ev->data_len == data_len && memcmp(ev->data, data, data_len) == 0,
              "data (%zu bytes) decoded as %zu bytes", data_len, ev->data_len);
    }
    free(data);
}

static int on_event(void *ud, const sy_sse_event_t *ev)
{
    run_t *r = ud;
    CHECK(!r->stopped, "an event was reported after the callback stopped the feed");
    CHECK(ev->raw != NULL, "raw is NULL");
    CHECK(ev->raw_len <= r->max_event, "a %zu-byte event reported, max %zu", ev->raw_len,
          r->max_event);
    check_decoding(ev);
    if (r->check_partition) {
        /* only stray blank lines may lie between two events */
        while (r->pos < r->fed && is_eol(r->in[r->pos]))
            r->pos++;
        CHECK(r->pos + ev->raw_len <= r->fed, "event past the bytes fed (pos %zu + %zu > %zu)",
              r->pos, ev->raw_len, r->fed);
        CHECK(memcmp(r->in + r->pos, ev->raw, ev->raw_len) == 0,
              "event %zu's raw bytes are not the stream's bytes at offset %zu", r->n, r->pos);
        r->pos += ev->raw_len;
    }
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        rec_ev_t *v = realloc(r->ev, ncap * sizeof(*v));
        CHECK(v != NULL, "out of memory");
        r->ev = v;
        r->cap = ncap;
    }
    rec_ev_t *e = &r->ev[r->n++];
    e->raw = dup_n(ev->raw, ev->raw_len);
    e->raw_len = ev->raw_len;
    e->event = ev->event ? dup_n(ev->event, ev->event_len) : NULL;
    e->event_len = ev->event_len;
    e->data = ev->data ? dup_n(ev->data, ev->data_len) : NULL;
    e->data_len = ev->data_len;
    e->is_comment = ev->is_comment;
    r->calls_this_feed++;
    if (r->stop_at && r->n == r->stop_at) {
        r->stopped = 1;
        return r->stop_rc;
    }
    return 0;
}

static void run_free(run_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ev[i].raw);
        free(r->ev[i].event);
        free(r->ev[i].data);
    }
    free(r->ev);
}

/* The pending tail must be the last bytes fed, after only blank lines. */
static void check_tail(const run_t *r, const sy_sse_t *p)
{
    size_t pend = sy_sse_pending(p);
    CHECK(pend <= r->fed, "pending %zu > fed %zu", pend, r->fed);
    size_t start = r->fed - pend;
    CHECK(start >= r->pos, "pending tail overlaps the last event (tail at %zu, event end %zu)",
          start, r->pos);
    for (size_t i = r->pos; i < start; i++)
        CHECK(is_eol(r->in[i]), "byte %zu (0x%02x) was dropped: neither in an event nor pending",
              i, (unsigned char)r->in[i]);
    CHECK(pend == 0 || memcmp(p->buf, r->in + start, pend) == 0,
          "pending bytes differ from the stream's last %zu bytes", pend);
}

/*
 * Feed the stream in pieces ending at cuts[0..ncuts) and then at in_len.
 * Returns the last sy_sse_feed result; stops at the first non-zero one.
 */
static int feed_pieces(run_t *r, sy_sse_t *p, const size_t *cuts, size_t ncuts)
{
    size_t start = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : r->in_len;
        size_t before = r->n;
        r->calls_this_feed = 0;
        r->fed = end;
        int rc = sy_sse_feed(p, r->in + start, end - start, on_event, r);
        if (r->stopped) {
            CHECK(rc == r->stop_rc, "the callback stopped with %d, sy_sse_feed returned %d",
                  r->stop_rc, rc);
            CHECK(r->n == before + r->calls_this_feed, "event count mismatch after a stop");
            return rc;
        }
        CHECK(rc == 0 || rc == SY_ETOOLARGE, "unexpected result %d", rc);
        if (rc == SY_ETOOLARGE) {
            /* the stream is over for the caller; what the parser kept of
             * the oversized event is unspecified, so no partition check */
            CHECK(end > start, "SY_ETOOLARGE from an empty feed");
            return rc;
        }
        if (r->check_partition)
            check_tail(r, p);
        CHECK(sy_sse_pending(p) <= p->max_event, "%zu pending past max %zu without an error",
              sy_sse_pending(p), p->max_event);
        start = end;
    }
    return 0;
}

static void same_events(const run_t *a, const run_t *b, const char *what)
{
    CHECK(a->n == b->n, "%s: %zu events whole, %zu split", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const rec_ev_t *x = &a->ev[i], *y = &b->ev[i];
        CHECK(x->raw_len == y->raw_len && memcmp(x->raw, y->raw, x->raw_len) == 0,
              "%s: event %zu raw bytes differ", what, i);
        CHECK(x->is_comment == y->is_comment, "%s: event %zu is_comment differs", what, i);
        CHECK((x->event == NULL) == (y->event == NULL) &&
                  (!x->event ||
                   (x->event_len == y->event_len && memcmp(x->event, y->event, x->event_len) == 0)),
              "%s: event %zu event field differs", what, i);
        CHECK((x->data == NULL) == (y->data == NULL) &&
                  (!x->data ||
                   (x->data_len == y->data_len && memcmp(x->data, y->data, x->data_len) == 0)),
              "%s: event %zu data differs", what, i);
    }
}

/* The end of stream as the relay handles it: a final "\n\n" flushes all. */
static void flush(run_t *r, sy_sse_t *p)
{
    r->check_partition = 0;
    r->calls_this_feed = 0;
    int rc = sy_sse_feed(p, "\n\n", 2, on_event, r);
    CHECK(rc == 0, "flush returned %d", rc);
    CHECK(sy_sse_pending(p) == 0, "%zu bytes still pending after \"\\n\\n\"", sy_sse_pending(p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    size_t ncuts = ctl & MAX_CUTS;
    if (size < 1 + ncuts)
        return 0;
    const char *in = (const char *)data + 1 + ncuts;
    size_t in_len = size - 1 - ncuts;

    /* cut points as fractions of the stream, sorted (equal ones give empty pieces) */
    size_t cuts[MAX_CUTS];
    for (size_t k = 0; k < ncuts; k++) {
        size_t c = (in_len * data[1 + k]) / 256;
        size_t j = k;
        while (j > 0 && cuts[j - 1] > c) {
            cuts[j] = cuts[j - 1];
            j--;
        }
        cuts[j] = c;
    }

    /* A: whole */
    run_t a = {.in = in, .in_len = in_len, .check_partition = 1};
    sy_sse_t pa;
    sy_sse_init(&pa, 0);
    a.max_event = pa.max_event;
    CHECK(feed_pieces(&a, &pa, NULL, 0) == 0, "whole feed failed");

    /* B: cut */
    run_t b = {.in = in, .in_len = in_len, .check_partition = 1};
    sy_sse_t pb;
    sy_sse_init(&pb, 0);
    b.max_event = pb.max_event;
    CHECK(feed_pieces(&b, &pb, cuts, ncuts) == 0, "split feed failed");

    same_events(&a, &b, "whole vs split");
    CHECK(sy_sse_pending(&pa) == sy_sse_pending(&pb) &&
              (sy_sse_pending(&pa) == 0 || memcmp(pa.buf, pb.buf, sy_sse_pending(&pa)) == 0),
          "pending tails differ: %zu whole, %zu split", sy_sse_pending(&pa), sy_sse_pending(&pb));
    flush(&a, &pa);
    flush(&b, &pb);
    same_events(&a, &b, "after the final flush");
    sy_sse_release(&pa);
    sy_sse_release(&pb);
    run_free(&a);
    run_free(&b);

    /* C: a small maximum, or a callback that stops the feed */
    run_t c = {.in = in, .in_len = in_len, .check_partition = 1};
    sy_sse_t pc;
    if (ctl & 16) {
        sy_sse_init(&pc, 0);
        c.stop_at = (ctl >> 5) + 1;
        c.stop_rc = 7;
    } else {
        sy_sse_init(&pc, (ctl & 8) ? 1 + (ctl >> 4) * 16 : 0);
    }
    c.max_event = pc.max_event;
    feed_pieces(&c, &pc, cuts, ncuts);
    sy_sse_release(&pc);
    run_free(&c);
    return 0;
}
