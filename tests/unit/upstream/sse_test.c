/*
 * sse_test.c - unit tests for src/upstream/sse.c: one multi-event stream fed
 * whole, byte by byte and cut at every offset (and at every pair of offsets)
 * must give the same events, raw bytes included; the three line endings;
 * multi-line data; "data:" with and without its space; comment-only events;
 * stray blank lines; the maximum event size; a callback that stops the feed;
 * pending bytes of an unfinished event; an OpenAI-like stream ending in
 * [DONE].
 */
#include "upstream/sse.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 64

/* One event as the callback saw it, copied (the parser's pointers are only
 * valid during the callback). */
typedef struct rec_ev {
    char *raw;
    size_t raw_len;
    char *event; /* NULL when the event had no "event:" field */
    size_t event_len;
    char *data; /* NULL when the event had no data line */
    size_t data_len;
    int is_comment;
} rec_ev_t;

typedef struct rec {
    rec_ev_t ev[MAX_EVENTS];
    size_t n;
    size_t calls;
    size_t stop_at; /* return stop_rc from the stop_at-th call (1-based); 0 = never */
    int stop_rc;
} rec_t;

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    cr_assert_not_null(d);
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int record(void *ud, const sy_sse_event_t *ev)
{
    rec_t *r = ud;
    r->calls++;
    cr_assert_lt(r->n, MAX_EVENTS, "too many events");
    cr_assert_not_null(ev->raw);
    rec_ev_t *e = &r->ev[r->n++];
    e->raw = dup_n(ev->raw, ev->raw_len);
    e->raw_len = ev->raw_len;
    e->event = ev->event ? dup_n(ev->event, ev->event_len) : NULL;
    e->event_len = ev->event_len;
    e->data = ev->data ? dup_n(ev->data, ev->data_len) : NULL;
    e->data_len = ev->data_len;
    e->is_comment = ev->is_comment;
    if (r->stop_at && r->calls == r->stop_at)
        return r->stop_rc;
    return 0;
}

static void rec_free(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ev[i].raw);
        free(r->ev[i].event);
        free(r->ev[i].data);
    }
    memset(r, 0, sizeof(*r));
}

/* What an event must look like; NULL event/data means "absent". */
typedef struct want_ev {
    const char *raw;
    const char *event;
    const char *data;
    int is_comment;
} want_ev_t;

static void check_events(const rec_t *r, const want_ev_t *want, size_t n, const char *how)
{
    cr_assert_eq(r->n, n, "%s: got %zu events, want %zu", how, r->n, n);
    for (size_t i = 0; i < n; i++) {
        const rec_ev_t *e = &r->ev[i];
        cr_assert_eq(e->raw_len, strlen(want[i].raw), "%s: event %zu raw length %zu, want %zu", how, i,
                     e->raw_len, strlen(want[i].raw));
        cr_assert(memcmp(e->raw, want[i].raw, e->raw_len) == 0, "%s: event %zu raw differs", how, i);
        if (want[i].event) {
            cr_assert_not_null(e->event, "%s: event %zu has no event name", how, i);
            cr_assert_eq(e->event_len, strlen(want[i].event), "%s: event %zu name length", how, i);
            cr_assert(memcmp(e->event, want[i].event, e->event_len) == 0, "%s: event %zu name is \"%s\"",
                      how, i, e->event);
        } else {
            cr_assert_null(e->event, "%s: event %zu has an unexpected event name \"%s\"", how, i, e->event);
        }
        if (want[i].data) {
            cr_assert_not_null(e->data, "%s: event %zu has no data", how, i);
            cr_assert_eq(e->data_len, strlen(want[i].data), "%s: event %zu data length %zu, want %zu (\"%s\")",
                         how, i, e->data_len, strlen(want[i].data), e->data);
            cr_assert(memcmp(e->data, want[i].data, e->data_len) == 0, "%s: event %zu data \"%s\", want \"%s\"",
                      how, i, e->data, want[i].data);
        } else {
            cr_assert_null(e->data, "%s: event %zu has unexpected data \"%s\"", how, i, e->data);
        }
        cr_assert_eq(e->is_comment, want[i].is_comment, "%s: event %zu is_comment %d", how, i, e->is_comment);
    }
}

/* Feed s cut at the given offsets (ascending, each in (0, n)); every feed
 * must return 0 and nothing may be pending at the end. */
static void feed_cut(const char *s, size_t n, const size_t *cuts, size_t ncuts, size_t max_event, rec_t *r)
{
    sy_sse_t p;
    size_t at = 0;
    sy_sse_init(&p, max_event);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        int rc = sy_sse_feed(&p, s + at, end - at, record, r);
        cr_assert_eq(rc, 0, "feed [%zu,%zu) returned %d", at, end, rc);
        at = end;
    }
    cr_assert_eq(sy_sse_pending(&p), 0, "%zu bytes still pending", sy_sse_pending(&p));
    sy_sse_release(&p);
}

/* A stream exercising every feature at once: a comment-only event followed
 * by a stray blank line, \r\n lines with an event name, \r lines with
 * multi-line data (one "data:" without its space, one with two spaces), a
 * data line without a colon, an inline comment between data lines, an event
 * with no data at all, and the final [DONE]. */
static const char big_stream[] = ": keep-alive\n\n"
                                 "\n"
                                 "event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\n"
                                 "data:first\rdata:  second\r\r"
                                 "id: 1\nevent:ping\ndata\n\n"
                                 "data: {\"x\":\"a:b\"}\n: inline comment\ndata: [1,2]\n\n"
                                 "retry: 100\n\n"
                                 "data: [DONE]\n\n";

static const want_ev_t big_want[] = {
    {": keep-alive\n\n", NULL, NULL, 1},
    {"event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\n", "message_start",
     "{\"type\":\"message_start\"}", 0},
    {"data:first\rdata:  second\r\r", NULL, "first\n second", 0},
    {"id: 1\nevent:ping\ndata\n\n", "ping", "", 0},
    {"data: {\"x\":\"a:b\"}\n: inline comment\ndata: [1,2]\n\n", NULL, "{\"x\":\"a:b\"}\n[1,2]", 0},
    {"retry: 100\n\n", NULL, NULL, 0},
    {"data: [DONE]\n\n", NULL, "[DONE]", 0},
};
#define BIG_N (sizeof(big_want) / sizeof(big_want[0]))
#define BIG_LEN (sizeof(big_stream) - 1)

Test(sse, stream_fed_whole)
{
    rec_t r = {0};
    feed_cut(big_stream, BIG_LEN, NULL, 0, 0, &r);
    check_events(&r, big_want, BIG_N, "whole");
    rec_free(&r);
}

Test(sse, stream_fed_byte_by_byte)
{
    rec_t r = {0};
    size_t cuts[BIG_LEN];
    for (size_t i = 1; i < BIG_LEN; i++)
        cuts[i - 1] = i;
    feed_cut(big_stream, BIG_LEN, cuts, BIG_LEN - 1, 0, &r);
    check_events(&r, big_want, BIG_N, "byte by byte");
    rec_free(&r);
}

Test(sse, stream_split_at_every_offset)
{
    char how[64];
    for (size_t cut = 1; cut < BIG_LEN; cut++) {
        rec_t r = {0};
        feed_cut(big_stream, BIG_LEN, &cut, 1, 0, &r);
        snprintf(how, sizeof(how), "cut at %zu", cut);
        check_events(&r, big_want, BIG_N, how);
        rec_free(&r);
    }
}

Test(sse, stream_split_at_every_pair_of_offsets)
{
    char how[64];
    for (size_t a = 1; a < BIG_LEN; a++) {
        for (size_t b = a + 1; b < BIG_LEN; b++) {
            size_t cuts[2] = {a, b};
            rec_t r = {0};
            feed_cut(big_stream, BIG_LEN, cuts, 2, 0, &r);
            snprintf(how, sizeof(how), "cuts at %zu,%zu", a, b);
            check_events(&r, big_want, BIG_N, how);
            rec_free(&r);
        }
    }
}

/* A split between the \r and the \n of a line end, in a data line and in
 * the blank line, must not produce an extra blank line (an early event). */
Test(sse, split_inside_crlf)
{
    static const char s[] = "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n";
    static const want_ev_t want[] = {
        {"data: a\r\ndata: b\r\n\r\n", NULL, "a\nb", 0},
        {"data: c\r\n\r\n", NULL, "c", 0},
    };
    const size_t n = sizeof(s) - 1;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\r')
            continue;
        size_t cut = i + 1; /* between \r and \n */
        rec_t r = {0};
        feed_cut(s, n, &cut, 1, 0, &r);
        char how[32];
        snprintf(how, sizeof(how), "cut at %zu", cut);
        check_events(&r, want, 2, how);
        rec_free(&r);
    }
}

/* The same two events with each line ending. The \r stream is followed by
 * one \n event so that its events are complete whatever comes next. */
Test(sse, line_endings)
{
    static const struct {
        const char *s;
        want_ev_t want[3];
        size_t n;
    } cases[] = {
        {"event: e\ndata: a\ndata: b\n\ndata: c\n\n",
         {{"event: e\ndata: a\ndata: b\n\n", "e", "a\nb", 0}, {"data: c\n\n", NULL, "c", 0}},
         2},
        {"event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n",
         {{"event: e\r\ndata: a\r\ndata: b\r\n\r\n", "e", "a\nb", 0}, {"data: c\r\n\r\n", NULL, "c", 0}},
         2},
        {"event: e\rdata: a\rdata: b\r\rdata: c\r\rdata: end\n\n",
         {{"event: e\rdata: a\rdata: b\r\r", "e", "a\nb", 0},
          {"data: c\r\r", NULL, "c", 0},
          {"data: end\n\n", NULL, "end", 0}},
         3},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        size_t n = strlen(cases[k].s);
        char how[48];
        rec_t r = {0};
        feed_cut(cases[k].s, n, NULL, 0, 0, &r);
        snprintf(how, sizeof(how), "case %zu whole", k);
        check_events(&r, cases[k].want, cases[k].n, how);
        rec_free(&r);
        for (size_t cut = 1; cut < n; cut++) {
            rec_t r2 = {0};
            feed_cut(cases[k].s, n, &cut, 1, 0, &r2);
            snprintf(how, sizeof(how), "case %zu cut at %zu", k, cut);
            check_events(&r2, cases[k].want, cases[k].n, how);
            rec_free(&r2);
        }
    }
}

/* "data: x\r\r" is a complete event: the second \r is a blank line whether
 * or not a \n follows it. A stream using bare \r line endings must get its
 * last event delivered, and nothing may be reported pending (which the
 * relay would read as a truncated stream). */
/* A bare '\r' as the very last byte may be the first half of "\r\n", so
 * the event it ends is held until the next byte (or the caller's end-of-
 * stream flush): relayed bytes stay exactly the upstream's. */
Test(sse, cr_terminated_final_event_waits_for_next_byte)
{
    static const char s[] = "data: a\r\rdata: b\r\r";
    sy_sse_t p;
    rec_t r = {0};
    sy_sse_init(&p, 0);
    int rc = sy_sse_feed(&p, s, sizeof(s) - 1, record, &r);
    size_t pending = sy_sse_pending(&p);
    size_t n_before = r.n;
    int rc2 = sy_sse_feed(&p, "\n", 1, record, &r);
    size_t pending2 = sy_sse_pending(&p);
    sy_sse_release(&p);
    int second_ok = r.n == 2 && r.ev[1].raw_len == 10 && memcmp(r.ev[1].raw, "data: b\r\r\n", 10) == 0 &&
                    r.ev[1].data && strcmp(r.ev[1].data, "b") == 0;
    int first_ok = r.n >= 1 && r.ev[0].raw_len == 9 && r.ev[0].data && strcmp(r.ev[0].data, "a") == 0;
    rec_free(&r);
    cr_assert_eq(rc, 0);
    cr_assert_eq(rc2, 0);
    cr_assert(first_ok, "first event wrong");
    cr_assert_eq(n_before, 1);
    cr_assert_eq(pending, 9);
    cr_assert(second_ok, "the held event arrives whole once the next byte comes");
    cr_assert_eq(pending2, 0);
}

Test(sse, data_with_and_without_space)
{
    static const char s[] = "data:x\n\n"
                            "data: x\n\n"
                            "data:  x\n\n"
                            "data:\n\n"
                            "data: \n\n";
    static const want_ev_t want[] = {
        {"data:x\n\n", NULL, "x", 0},   {"data: x\n\n", NULL, "x", 0}, {"data:  x\n\n", NULL, " x", 0},
        {"data:\n\n", NULL, "", 0},     {"data: \n\n", NULL, "", 0},
    };
    rec_t r = {0};
    feed_cut(s, sizeof(s) - 1, NULL, 0, 0, &r);
    check_events(&r, want, 5, "data forms");
    rec_free(&r);
}

Test(sse, multi_line_data_joined_with_newline)
{
    static const char s[] = "data: one\ndata: two\ndata:\ndata: four\n\n"
                            "data: solo\n\n";
    static const want_ev_t want[] = {
        {"data: one\ndata: two\ndata:\ndata: four\n\n", NULL, "one\ntwo\n\nfour", 0},
        {"data: solo\n\n", NULL, "solo", 0},
    };
    rec_t r = {0};
    feed_cut(s, sizeof(s) - 1, NULL, 0, 0, &r);
    check_events(&r, want, 2, "multi-line");
    rec_free(&r);
}

Test(sse, comment_only_events)
{
    static const char s[] = ": keep-alive\n\n"
                            ":\n\n"
                            ": a\n: b\r\n\r\n"
                            ": c\ndata: d\n\n";
    static const want_ev_t want[] = {
        {": keep-alive\n\n", NULL, NULL, 1},
        {":\n\n", NULL, NULL, 1},
        {": a\n: b\r\n\r\n", NULL, NULL, 1},
        {": c\ndata: d\n\n", NULL, "d", 0},
    };
    rec_t r = {0};
    feed_cut(s, sizeof(s) - 1, NULL, 0, 0, &r);
    check_events(&r, want, 4, "comments");
    rec_free(&r);
}

Test(sse, stray_blank_lines_are_not_events)
{
    static const char s[] = "\n\r\n\n\n"
                            "data: a\n\n"
                            "\n\n\r\n"
                            "data: b\n\n"
                            "\n";
    static const want_ev_t want[] = {
        {"data: a\n\n", NULL, "a", 0},
        {"data: b\n\n", NULL, "b", 0},
    };
    rec_t r = {0};
    feed_cut(s, sizeof(s) - 1, NULL, 0, 0, &r);
    check_events(&r, want, 2, "stray blank lines");
    rec_free(&r);

    /* blank lines alone, one feed per byte */
    sy_sse_t p;
    rec_t r2 = {0};
    sy_sse_init(&p, 0);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(sy_sse_feed(&p, "\n", 1, record, &r2), 0);
    cr_assert_eq(r2.calls, 0);
    cr_assert_eq(sy_sse_pending(&p), 0);
    sy_sse_release(&p);
}

Test(sse, unknown_fields_are_ignored)
{
    static const char s[] = "foo: bar\nid: 3\ndata: x\nretry: 5\n\n";
    static const want_ev_t want[] = {{"foo: bar\nid: 3\ndata: x\nretry: 5\n\n", NULL, "x", 0}};
    rec_t r = {0};
    feed_cut(s, sizeof(s) - 1, NULL, 0, 0, &r);
    check_events(&r, want, 1, "unknown fields");
    rec_free(&r);
}

Test(sse, default_max_is_one_mib)
{
    sy_sse_t p;
    sy_sse_init(&p, 0);
    cr_assert_eq(p.max_event, (size_t)1 << 20);
    sy_sse_release(&p);
    sy_sse_init(&p, 100);
    cr_assert_eq(p.max_event, 100);
    sy_sse_release(&p);
}

/* An unfinished event that grows past max_event is refused, whether it
 * arrives in one read or many, and nothing is delivered. */
Test(sse, unfinished_event_over_max_is_too_large)
{
    const size_t max = 64;
    char big[200];
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', sizeof(big) - 6);

    /* one read */
    sy_sse_t p;
    rec_t r = {0};
    sy_sse_init(&p, max);
    cr_assert_eq(sy_sse_feed(&p, big, sizeof(big), record, &r), SY_ETOOLARGE);
    cr_assert_eq(r.calls, 0);
    sy_sse_release(&p);

    /* byte by byte: accepted up to max, refused as soon as it is past it */
    sy_sse_init(&p, max);
    size_t i;
    int rc = 0;
    for (i = 0; i < sizeof(big); i++) {
        rc = sy_sse_feed(&p, big + i, 1, record, &r);
        if (rc)
            break;
    }
    cr_assert_eq(rc, SY_ETOOLARGE);
    cr_assert_eq(i, max, "refused after %zu bytes, want after %zu", i + 1, max + 1);
    cr_assert_eq(r.calls, 0);
    sy_sse_release(&p);

    /* a buffered tail, then the rest in one read */
    sy_sse_init(&p, max);
    cr_assert_eq(sy_sse_feed(&p, big, 10, record, &r), 0);
    cr_assert_eq(sy_sse_pending(&p), 10);
    cr_assert_eq(sy_sse_feed(&p, big + 10, sizeof(big) - 10, record, &r), SY_ETOOLARGE);
    cr_assert_eq(r.calls, 0);
    sy_sse_release(&p);
}

/* An event of exactly max_event bytes (blank line included) is accepted
 * however it arrives. */
Test(sse, event_of_exactly_max_is_accepted)
{
    const size_t max = 64;
    char ev[64];
    memcpy(ev, "data: ", 6);
    memset(ev + 6, 'y', max - 8);
    ev[max - 2] = '\n';
    ev[max - 1] = '\n';

    rec_t r = {0};
    feed_cut(ev, max, NULL, 0, max, &r);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.ev[0].raw_len, max);
    rec_free(&r);

    size_t cuts[63];
    for (size_t i = 1; i < max; i++)
        cuts[i - 1] = i;
    feed_cut(ev, max, cuts, max - 1, max, &r);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.ev[0].raw_len, max);
    cr_assert_eq(r.ev[0].data_len, max - 8);
    rec_free(&r);
}

/* max_event is "the largest event accepted": a complete event larger than
 * that must be refused the same way whether it arrives in one read, in two,
 * or byte by byte - otherwise the limit depends on how the upstream's bytes
 * happened to be cut. Checks every way and reports each that lets it pass. */
Test(sse, complete_event_over_max_is_too_large_however_it_arrives)
{
    const size_t max = 64;
    const size_t sizes[] = {max + 1, max + 2, 2 * max, 4 * max};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        char *ev = malloc(n);
        cr_assert_not_null(ev);
        memcpy(ev, "data: ", 6);
        memset(ev + 6, 'z', n - 8);
        ev[n - 2] = '\n';
        ev[n - 1] = '\n';
        /* chunk sizes: whole, halves, one byte */
        const size_t chunks[] = {n, (n + 1) / 2, 1};
        for (size_t c = 0; c < 3; c++) {
            sy_sse_t p;
            rec_t r = {0};
            int rc = 0;
            sy_sse_init(&p, max);
            for (size_t at = 0; at < n && rc == 0; at += chunks[c]) {
                size_t len = n - at < chunks[c] ? n - at : chunks[c];
                rc = sy_sse_feed(&p, ev + at, len, record, &r);
            }
            cr_expect(rc == SY_ETOOLARGE && r.calls == 0,
                      "event of %zu bytes (max %zu) in chunks of %zu: rc %d, %zu event(s) delivered", n, max,
                      chunks[c], rc, r.calls);
            sy_sse_release(&p);
            rec_free(&r);
        }
        free(ev);
    }
}

Test(sse, callback_stop_value_is_returned)
{
    static const char s[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    const size_t n = sizeof(s) - 1;

    /* nothing buffered: the zero-copy path */
    sy_sse_t p;
    rec_t r = {.stop_at = 2, .stop_rc = 7};
    sy_sse_init(&p, 0);
    cr_assert_eq(sy_sse_feed(&p, s, n, record, &r), 7);
    cr_assert_eq(r.calls, 2, "callback called %zu times after asking to stop", r.calls);
    cr_assert_str_eq(r.ev[1].data, "2");
    sy_sse_release(&p);
    rec_free(&r);

    /* something buffered first: the copying path */
    r = (rec_t){.stop_at = 2, .stop_rc = -42};
    sy_sse_init(&p, 0);
    cr_assert_eq(sy_sse_feed(&p, s, 3, record, &r), 0);
    cr_assert_eq(sy_sse_feed(&p, s + 3, n - 3, record, &r), -42);
    cr_assert_eq(r.calls, 2, "callback called %zu times after asking to stop", r.calls);
    sy_sse_release(&p);
    rec_free(&r);

    /* stop on the very first event */
    r = (rec_t){.stop_at = 1, .stop_rc = 1};
    sy_sse_init(&p, 0);
    cr_assert_eq(sy_sse_feed(&p, s, n, record, &r), 1);
    cr_assert_eq(r.calls, 1);
    sy_sse_release(&p);
    rec_free(&r);
}

Test(sse, pending_bytes_of_unfinished_event)
{
    sy_sse_t p;
    rec_t r = {0};
    sy_sse_init(&p, 0);
    cr_assert_eq(sy_sse_pending(&p), 0);
    cr_assert_eq(sy_sse_feed(&p, "data: abc", 9, record, &r), 0);
    cr_assert_eq(sy_sse_pending(&p), 9);
    cr_assert_eq(sy_sse_feed(&p, "\n", 1, record, &r), 0);
    cr_assert_eq(sy_sse_pending(&p), 10);
    cr_assert_eq(r.calls, 0);
    cr_assert_eq(sy_sse_feed(&p, "\ndata: de", 9, record, &r), 0);
    cr_assert_eq(r.calls, 1);
    cr_assert_str_eq(r.ev[0].data, "abc");
    cr_assert_eq(sy_sse_pending(&p), 8, "pending %zu", sy_sse_pending(&p));
    cr_assert_eq(sy_sse_feed(&p, "f\n\n", 3, record, &r), 0);
    cr_assert_eq(r.calls, 2);
    cr_assert_str_eq(r.ev[1].data, "def");
    cr_assert_eq(r.ev[1].raw_len, 11);
    cr_assert(memcmp(r.ev[1].raw, "data: def\n\n", 11) == 0);
    cr_assert_eq(sy_sse_pending(&p), 0);
    /* a trailing \r is held until the next byte says whether \n follows */
    cr_assert_eq(sy_sse_feed(&p, "data: g\r", 8, record, &r), 0);
    cr_assert_eq(sy_sse_pending(&p), 8);
    sy_sse_release(&p);
    rec_free(&r);
}

Test(sse, empty_feed_is_a_no_op)
{
    sy_sse_t p;
    rec_t r = {0};
    sy_sse_init(&p, 0);
    cr_assert_eq(sy_sse_feed(&p, "", 0, record, &r), 0);
    cr_assert_eq(sy_sse_feed(&p, "data: a", 7, record, &r), 0);
    cr_assert_eq(sy_sse_feed(&p, "", 0, record, &r), 0);
    cr_assert_eq(sy_sse_pending(&p), 7);
    cr_assert_eq(r.calls, 0);
    sy_sse_release(&p);
}

/* The kind of stream an OpenAI-compatible upstream sends, cut in 7-byte
 * reads: every chunk's data parses as JSON, the deltas rebuild the text, the
 * usage chunk is seen, and the stream ends with [DONE]. */
Test(sse, openai_like_stream_ends_with_done)
{
    static const char *const words[] = {"", "Hello", " wide", " world", "!"};
    char stream[4096];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        int m = snprintf(stream + n, sizeof(stream) - n,
                         "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\","
                         "\"choices\":[{\"index\":0,\"delta\":{%s\"content\":\"%s\"},\"finish_reason\":null}]}\n\n",
                         i == 0 ? "\"role\":\"assistant\"," : "", words[i]);
        cr_assert(m > 0 && (size_t)m < sizeof(stream) - n);
        n += (size_t)m;
    }
    static const char tail[] =
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n"
        "data: [DONE]\n\n";
    cr_assert_lt(n + sizeof(tail), sizeof(stream));
    memcpy(stream + n, tail, sizeof(tail));
    n += sizeof(tail) - 1;

    size_t cuts[4096 / 7 + 1], nc = 0;
    for (size_t at = 7; at < n; at += 7)
        cuts[nc++] = at;
    rec_t r = {0};
    feed_cut(stream, n, cuts, nc, 0, &r);

    cr_assert_eq(r.n, 8);
    char text[64] = "";
    size_t tl = 0;
    int saw_usage = 0;
    size_t raw_total = 0;
    for (size_t i = 0; i < r.n; i++) {
        raw_total += r.ev[i].raw_len;
        cr_assert_not_null(r.ev[i].data);
        cr_assert_null(r.ev[i].event);
        cr_assert_not(r.ev[i].is_comment);
        if (i == r.n - 1) {
            cr_assert_str_eq(r.ev[i].data, "[DONE]");
            break;
        }
        json_object *o = json_tokener_parse(r.ev[i].data);
        cr_assert_not_null(o, "chunk %zu is not JSON: %s", i, r.ev[i].data);
        json_object *choices, *usage;
        cr_assert(json_object_object_get_ex(o, "choices", &choices));
        if (json_object_object_get_ex(o, "usage", &usage)) {
            json_object *pt;
            cr_assert(json_object_object_get_ex(usage, "prompt_tokens", &pt));
            cr_assert_eq(json_object_get_int(pt), 3);
            saw_usage = 1;
        }
        if (json_object_array_length(choices) > 0) {
            json_object *delta, *content;
            cr_assert(json_object_object_get_ex(json_object_array_get_idx(choices, 0), "delta", &delta));
            if (json_object_object_get_ex(delta, "content", &content)) {
                const char *c = json_object_get_string(content);
                size_t cl = strlen(c);
                cr_assert_lt(tl + cl, sizeof(text));
                memcpy(text + tl, c, cl + 1);
                tl += cl;
            }
        }
        json_object_put(o);
    }
    cr_assert_str_eq(text, "Hello wide world!");
    cr_assert(saw_usage);
    cr_assert_eq(raw_total, n, "raw bytes of the events do not add up to the stream");
    rec_free(&r);
}

/* A parser can be released and initialised again, and released twice. */
Test(sse, release_and_reuse)
{
    sy_sse_t p;
    rec_t r = {0};
    sy_sse_init(&p, 0);
    cr_assert_eq(sy_sse_feed(&p, "data: partial", 13, record, &r), 0);
    sy_sse_release(&p);
    sy_sse_release(&p);
    sy_sse_init(&p, 0);
    cr_assert_eq(sy_sse_feed(&p, "data: x\n\n", 9, record, &r), 0);
    cr_assert_eq(r.calls, 1);
    cr_assert_str_eq(r.ev[0].data, "x");
    sy_sse_release(&p);
    rec_free(&r);
}
