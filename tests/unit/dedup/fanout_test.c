/*
 * fanout_test.c - unit tests for src/dedup/fanout.c: readers at different
 * paces get identical bytes, late joins, the bound and the laggard policy,
 * pinned views, notify and on_last_leave, end status, 1000 readers, and a
 * producer thread with 8 reader threads woken through condition variables.
 */
#include "dedup/fanout.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The stream's byte at offset i: every reader can check any slice. */
static unsigned char byte_at(uint64_t i)
{
    return (unsigned char)((i * 131u + (i >> 8) + 7u) & 0xffu);
}

/* Length of the k-th append: 1..300 bytes, uneven. */
static size_t piece_len(size_t k)
{
    return 1 + (k * 37u) % 300u;
}

/* Append the next piece; *off advances. Returns append's result. */
static int put(sy_fanout_t *f, uint64_t *off, size_t len)
{
    unsigned char buf[4096];
    if (len > sizeof(buf)) /* also runs on the producer thread: no assert */
        return SY_EINTERNAL;
    for (size_t i = 0; i < len; i++)
        buf[i] = byte_at(*off + i);
    int rc = sy_fanout_append(f, buf, len);
    if (rc == 0)
        *off += len;
    return rc;
}

typedef struct sink {
    unsigned char *buf;
    size_t len, cap;
} sink_t;

static void sink_init(sink_t *s, size_t cap)
{
    s->buf = malloc(cap);
    cr_assert_not_null(s->buf);
    s->len = 0;
    s->cap = cap;
}

/* Read and consume up to max_views views (0 = until not DATA); consume
 * `part` bytes of each view at a time when non-zero. Returns the last rc. */
static int drain(sy_fanout_reader_t *r, sink_t *s, size_t max_views, size_t part)
{
    const char *p;
    size_t n;
    int rc;
    size_t views = 0;
    while ((rc = sy_fanout_read(r, &p, &n)) == SY_FANOUT_DATA) {
        cr_assert_gt(n, 0);
        size_t take = part && part < n ? part : n;
        cr_assert_leq(s->len + take, s->cap);
        memcpy(s->buf + s->len, p, take);
        s->len += take;
        cr_assert_eq(sy_fanout_consume(r, take), 0);
        if (max_views && ++views >= max_views)
            break;
    }
    return rc;
}

static void assert_stream_bytes(const sink_t *s, size_t want_len)
{
    cr_assert_eq(s->len, want_len, "got %zu bytes, want %zu", s->len, want_len);
    for (size_t i = 0; i < s->len; i++)
        cr_assert_eq(s->buf[i], byte_at(i), "byte %zu differs", i);
}

static void count_cb(void *ud)
{
    (*(int *)ud)++;
}

Test(fanout, three_readers_at_different_paces_get_identical_bytes)
{
    sy_fanout_t *f = sy_fanout_new(1 << 20, 0, NULL, NULL);
    cr_assert_not_null(f);
    sy_fanout_reader_t *a, *b, *c;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &a), 0);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &b), 0);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &c), 0);
    sink_t sa, sb, sc;
    sink_init(&sa, 1 << 20);
    sink_init(&sb, 1 << 20);
    sink_init(&sc, 1 << 20);
    uint64_t off = 0;
    for (size_t k = 0; k < 500; k++) {
        cr_assert_eq(put(f, &off, piece_len(k)), 0);
        cr_assert_eq(drain(a, &sa, 0, 0), SY_FANOUT_AGAIN); /* keeps up */
        if (k % 7 == 0)
            drain(b, &sb, 2, 50); /* a little at a time, partial consumes */
        /* c reads nothing until the end */
    }
    cr_assert_eq(sy_fanout_end(f, SY_OK), 0);
    cr_assert_eq(drain(a, &sa, 0, 0), SY_FANOUT_END);
    cr_assert_eq(drain(b, &sb, 0, 13), SY_FANOUT_END);
    cr_assert_eq(drain(c, &sc, 0, 0), SY_FANOUT_END);
    assert_stream_bytes(&sa, off);
    assert_stream_bytes(&sb, off);
    assert_stream_bytes(&sc, off);
    sy_fanout_stats_t st;
    sy_fanout_stats(f, &st);
    cr_assert_eq(st.bytes_total, off);
    cr_assert_eq(st.detached, 0);
    cr_assert_eq(st.status, SY_OK);
    cr_assert_leq(st.peak_bytes, (size_t)1 << 20);
    sy_fanout_leave(a);
    sy_fanout_leave(b);
    sy_fanout_leave(c);
    sy_fanout_release(f);
    free(sa.buf);
    free(sb.buf);
    free(sc.buf);
}

Test(fanout, a_view_holds_whole_appends)
{
    sy_fanout_t *f = sy_fanout_new(1 << 16, 0, NULL, NULL);
    sy_fanout_reader_t *r;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &r), 0);
    uint64_t off = 0;
    size_t ends[64], nends = 0;
    for (size_t k = 0; k < 60; k++) {
        put(f, &off, piece_len(k));
        ends[nends++] = off;
    }
    const char *p;
    size_t n;
    uint64_t pos = 0;
    while (sy_fanout_read(r, &p, &n) == SY_FANOUT_DATA) {
        pos += n;
        int boundary = 0;
        for (size_t i = 0; i < nends; i++)
            boundary |= ends[i] == pos;
        cr_assert(boundary, "a view ends at %llu, inside an append", (unsigned long long)pos);
        sy_fanout_consume(r, n);
    }
    cr_assert_eq(pos, off);
    sy_fanout_leave(r);
    sy_fanout_release(f);
}

Test(fanout, a_reader_joining_mid_stream_gets_everything_from_the_start)
{
    sy_fanout_t *f = sy_fanout_new(1 << 20, 0, NULL, NULL);
    sy_fanout_reader_t *early, *late;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &early), 0);
    sink_t se, sl;
    sink_init(&se, 1 << 20);
    sink_init(&sl, 1 << 20);
    uint64_t off = 0;
    for (size_t k = 0; k < 200; k++) {
        put(f, &off, piece_len(k));
        drain(early, &se, 0, 0); /* the early reader has passed everything */
    }
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &late), 0);
    for (size_t k = 200; k < 300; k++)
        put(f, &off, piece_len(k));
    sy_fanout_end(f, SY_OK);
    cr_assert_eq(drain(early, &se, 0, 0), SY_FANOUT_END);
    cr_assert_eq(drain(late, &sl, 0, 0), SY_FANOUT_END);
    assert_stream_bytes(&se, off);
    assert_stream_bytes(&sl, off);

    /* joining after the end, while the start is held, replays it all */
    sy_fanout_reader_t *after;
    sink_t sa;
    sink_init(&sa, 1 << 20);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &after), 0);
    cr_assert_eq(drain(after, &sa, 0, 0), SY_FANOUT_END);
    assert_stream_bytes(&sa, off);
    sy_fanout_leave(after);
    sy_fanout_leave(early);
    sy_fanout_leave(late);
    sy_fanout_release(f);
    free(se.buf);
    free(sl.buf);
    free(sa.buf);
}

Test(fanout, a_stalled_reader_is_detached_and_memory_stays_bounded)
{
    const size_t max = 4096;
    sy_fanout_t *f = sy_fanout_new(max, 0, NULL, NULL);
    sy_fanout_reader_t *stalled, *fast1, *fast2;
    int stalled_notes = 0;
    cr_assert_eq(sy_fanout_join(f, count_cb, &stalled_notes, &stalled), 0);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &fast1), 0);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &fast2), 0);
    sink_t s1, s2;
    sink_init(&s1, 1 << 20);
    sink_init(&s2, 1 << 20);
    uint64_t off = 0;
    for (size_t k = 0; k < 400; k++) {
        cr_assert_eq(put(f, &off, piece_len(k)), 0);
        sy_fanout_stats_t st;
        sy_fanout_stats(f, &st);
        cr_assert_leq(st.bytes_held, max, "held %zu > bound after append %zu", st.bytes_held, k);
        cr_assert_eq(drain(fast1, &s1, 0, 0), SY_FANOUT_AGAIN);
        if (k % 3 == 0)
            cr_assert_eq(drain(fast2, &s2, 0, 0), SY_FANOUT_AGAIN);
    }
    sy_fanout_stats_t st;
    sy_fanout_stats(f, &st);
    cr_assert_eq(st.detached, 1);
    cr_assert_eq(st.readers, 3);
    cr_assert_eq(st.attached, 2);
    cr_assert_leq(st.peak_bytes, max);
    cr_assert_not(st.joinable);

    /* the stalled one learns it fell behind; it is told again at the end */
    const char *p;
    size_t n;
    cr_assert_eq(sy_fanout_read(stalled, &p, &n), SY_FANOUT_BEHIND);
    cr_assert_null(p);
    cr_assert_eq(n, 0);
    cr_assert_eq(stalled_notes, 0);

    /* a newcomer cannot start from the beginning any more */
    sy_fanout_reader_t *late;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &late), SY_FANOUT_LATE);
    cr_assert_null(late);

    sy_fanout_end(f, SY_OK);
    cr_assert_eq(stalled_notes, 1);
    cr_assert_eq(sy_fanout_read(stalled, &p, &n), SY_FANOUT_BEHIND);
    cr_assert_eq(drain(fast1, &s1, 0, 0), SY_FANOUT_END);
    cr_assert_eq(drain(fast2, &s2, 0, 0), SY_FANOUT_END);
    assert_stream_bytes(&s1, off);
    assert_stream_bytes(&s2, off);
    sy_fanout_stats(f, &st);
    cr_assert_eq(st.late_refused, 1);
    sy_fanout_leave(stalled);
    sy_fanout_leave(fast1);
    sy_fanout_leave(fast2);
    sy_fanout_release(f);
    free(s1.buf);
    free(s2.buf);
}

Test(fanout, once_the_start_is_gone_passed_chunks_are_freed_at_once)
{
    const size_t max = 4096;
    sy_fanout_t *f = sy_fanout_new(max, 0, NULL, NULL);
    sy_fanout_reader_t *r;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &r), 0);
    sink_t s;
    sink_init(&s, 1 << 20);
    uint64_t off = 0;
    for (size_t k = 0; k < 100; k++) {
        put(f, &off, 200);
        drain(r, &s, 0, 0);
    }
    sy_fanout_stats_t st;
    sy_fanout_stats(f, &st);
    /* the reader is caught up: only the chunk it stands in is kept */
    cr_assert_leq(st.bytes_held, 512, "held %zu", st.bytes_held);
    cr_assert_eq(st.detached, 0);
    sy_fanout_leave(r);
    sy_fanout_release(f);
    free(s.buf);
}

Test(fanout, a_view_survives_its_reader_being_detached)
{
    const size_t max = 2048;
    sy_fanout_t *f = sy_fanout_new(max, 0, NULL, NULL);
    sy_fanout_reader_t *slow;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &slow), 0);
    uint64_t off = 0;
    put(f, &off, 100);
    const char *p;
    size_t n;
    cr_assert_eq(sy_fanout_read(slow, &p, &n), SY_FANOUT_DATA);
    cr_assert_eq(n, 100);
    /* the producer runs far ahead while the view is held */
    for (size_t k = 0; k < 100; k++)
        cr_assert_eq(put(f, &off, 150), 0);
    sy_fanout_stats_t st;
    sy_fanout_stats(f, &st);
    cr_assert_eq(st.detached, 1);
    cr_assert_gt(st.bytes_pinned, 0);
    cr_assert_leq(st.bytes_held, max);
    for (size_t i = 0; i < n; i++) /* ASan: still valid memory */
        cr_assert_eq((unsigned char)p[i], byte_at(i));
    cr_assert_eq(sy_fanout_consume(slow, n), 0);
    sy_fanout_stats(f, &st);
    cr_assert_eq(st.bytes_pinned, 0);
    cr_assert_eq(sy_fanout_read(slow, &p, &n), SY_FANOUT_BEHIND);
    sy_fanout_leave(slow);
    sy_fanout_release(f);
}

Test(fanout, pinned_view_is_freed_by_leave)
{
    sy_fanout_t *f = sy_fanout_new(1024, 0, NULL, NULL);
    sy_fanout_reader_t *slow;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &slow), 0);
    uint64_t off = 0;
    put(f, &off, 100);
    const char *p;
    size_t n;
    cr_assert_eq(sy_fanout_read(slow, &p, &n), SY_FANOUT_DATA);
    for (size_t k = 0; k < 50; k++)
        put(f, &off, 100);
    sy_fanout_leave(slow); /* ASan/LSan: the pinned chunk must be freed */
    sy_fanout_release(f);
}

static int last_leave_calls;
static void on_last_leave(void *ud)
{
    cr_assert_eq(ud, &last_leave_calls);
    last_leave_calls++;
}

Test(fanout, the_last_reader_leaving_fires_on_last_leave_exactly_once)
{
    last_leave_calls = 0;
    sy_fanout_t *f = sy_fanout_new(0, 0, on_last_leave, &last_leave_calls);
    sy_fanout_reader_t *a, *b;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &a), 0);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &b), 0);
    uint64_t off = 0;
    put(f, &off, 10);
    sy_fanout_leave(a);
    cr_assert_eq(last_leave_calls, 0);
    sy_fanout_leave(b);
    cr_assert_eq(last_leave_calls, 1);
    /* the upstream is being cancelled: nobody may join a stream that will not finish */
    sy_fanout_reader_t *c;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &c), SY_FANOUT_GONE);
    cr_assert_null(c);
    cr_assert_eq(sy_fanout_end(f, SY_ECLIENTGONE), 0);
    sy_fanout_release(f);
    cr_assert_eq(last_leave_calls, 1);
}

Test(fanout, a_detached_reader_still_keeps_the_upstream_alive)
{
    last_leave_calls = 0;
    sy_fanout_t *f = sy_fanout_new(1024, 0, on_last_leave, &last_leave_calls);
    sy_fanout_reader_t *slow, *fast;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &slow), 0);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &fast), 0);
    uint64_t off = 0;
    sink_t s;
    sink_init(&s, 1 << 16);
    for (size_t k = 0; k < 40; k++) {
        put(f, &off, 100);
        drain(fast, &s, 0, 0);
    }
    sy_fanout_leave(fast);
    /* the detached reader may be waiting for the finished cache entry */
    cr_assert_eq(last_leave_calls, 0);
    sy_fanout_leave(slow);
    cr_assert_eq(last_leave_calls, 1);
    sy_fanout_release(f);
    free(s.buf);
}

Test(fanout, no_last_leave_after_end_or_release)
{
    last_leave_calls = 0;
    sy_fanout_t *f = sy_fanout_new(0, 0, on_last_leave, &last_leave_calls);
    sy_fanout_reader_t *a;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &a), 0);
    sy_fanout_end(f, SY_OK);
    sy_fanout_leave(a);
    cr_assert_eq(last_leave_calls, 0);
    sy_fanout_release(f);

    f = sy_fanout_new(0, 0, on_last_leave, &last_leave_calls);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &a), 0);
    sy_fanout_release(f); /* the producer left first; the reader keeps the memory */
    const char *p;
    size_t n;
    cr_assert_eq(sy_fanout_read(a, &p, &n), SY_FANOUT_END);
    sy_fanout_leave(a); /* frees the stream */
    cr_assert_eq(last_leave_calls, 0);
}

Test(fanout, the_end_status_reaches_every_reader_after_the_data)
{
    sy_fanout_t *f = sy_fanout_new(0, 0, NULL, NULL);
    sy_fanout_reader_t *a, *b;
    int notes_a = 0;
    cr_assert_eq(sy_fanout_join(f, count_cb, &notes_a, &a), 0);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &b), 0);
    uint64_t off = 0;
    put(f, &off, 300);
    sink_t sa, sb;
    sink_init(&sa, 4096);
    sink_init(&sb, 4096);
    cr_assert_eq(drain(a, &sa, 0, 0), SY_FANOUT_AGAIN);
    int status = 1;
    cr_assert_eq(sy_fanout_ended(f, &status), 0);
    cr_assert_eq(status, 1);
    cr_assert_eq(sy_fanout_end(f, SY_EUPTIMEOUT), 0);
    cr_assert_eq(sy_fanout_end(f, SY_OK), SY_EINTERNAL);
    cr_assert_eq(sy_fanout_append(f, "x", 1), SY_EINTERNAL);
    cr_assert_eq(notes_a, 1);
    cr_assert_eq(sy_fanout_ended(f, &status), 1);
    cr_assert_eq(status, SY_EUPTIMEOUT);
    cr_assert_eq(drain(a, &sa, 0, 0), SY_FANOUT_END);
    cr_assert_eq(drain(b, &sb, 0, 0), SY_FANOUT_END); /* data first, then the end */
    assert_stream_bytes(&sb, 300);
    sy_fanout_stats_t st;
    sy_fanout_stats(f, &st);
    cr_assert_eq(st.status, SY_EUPTIMEOUT);
    sy_fanout_leave(a);
    sy_fanout_leave(b);
    sy_fanout_release(f);
    free(sa.buf);
    free(sb.buf);
}

Test(fanout, a_producer_releasing_without_end_ends_with_an_error)
{
    sy_fanout_t *f = sy_fanout_new(0, 0, NULL, NULL);
    sy_fanout_reader_t *a;
    int notes = 0;
    cr_assert_eq(sy_fanout_join(f, count_cb, &notes, &a), 0);
    const char *p;
    size_t n;
    cr_assert_eq(sy_fanout_read(a, &p, &n), SY_FANOUT_AGAIN);
    sy_fanout_release(f);
    cr_assert_eq(notes, 1);
    cr_assert_eq(sy_fanout_read(a, &p, &n), SY_FANOUT_END);
    sy_fanout_leave(a);
}

Test(fanout, notify_is_called_once_per_again)
{
    sy_fanout_t *f = sy_fanout_new(0, 0, NULL, NULL);
    int notes = 0;
    sy_fanout_reader_t *r;
    cr_assert_eq(sy_fanout_join(f, count_cb, &notes, &r), 0);
    uint64_t off = 0;
    put(f, &off, 10); /* nobody waiting yet: no call */
    cr_assert_eq(notes, 0);
    const char *p;
    size_t n;
    cr_assert_eq(sy_fanout_read(r, &p, &n), SY_FANOUT_DATA);
    sy_fanout_consume(r, n);
    cr_assert_eq(sy_fanout_read(r, &p, &n), SY_FANOUT_AGAIN);
    put(f, &off, 10);
    put(f, &off, 10);
    cr_assert_eq(notes, 1);
    cr_assert_eq(sy_fanout_read(r, &p, &n), SY_FANOUT_DATA);
    cr_assert_eq(n, 20);
    /* consuming more than the view is refused and changes nothing */
    cr_assert_eq(sy_fanout_consume(r, 21), SY_EINTERNAL);
    cr_assert_eq(sy_fanout_consume(r, 20), 0);
    cr_assert_eq(sy_fanout_read(r, &p, &n), SY_FANOUT_AGAIN);
    sy_fanout_leave(r); /* after leave: never called again */
    put(f, &off, 10);
    sy_fanout_end(f, SY_OK);
    cr_assert_eq(notes, 1);
    sy_fanout_release(f);
}

Test(fanout, an_append_larger_than_the_bound_fails_and_detaches_everyone)
{
    sy_fanout_t *f = sy_fanout_new(1000, 0, NULL, NULL);
    sy_fanout_reader_t *a;
    int notes = 0;
    cr_assert_eq(sy_fanout_join(f, count_cb, &notes, &a), 0);
    const char *p;
    size_t n;
    cr_assert_eq(sy_fanout_read(a, &p, &n), SY_FANOUT_AGAIN);
    uint64_t off = 0;
    cr_assert_eq(put(f, &off, 1001), SY_ETOOLARGE);
    cr_assert_eq(notes, 1);
    cr_assert_eq(sy_fanout_read(a, &p, &n), SY_FANOUT_BEHIND);
    cr_assert_eq(put(f, &off, 10), SY_ETOOLARGE);
    sy_fanout_reader_t *b;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &b), SY_FANOUT_LATE);
    sy_fanout_end(f, SY_ETOOLARGE);
    sy_fanout_leave(a);
    sy_fanout_release(f);
}

Test(fanout, max_readers_is_enforced)
{
    sy_fanout_t *f = sy_fanout_new(0, 2, NULL, NULL);
    sy_fanout_reader_t *a, *b, *c;
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &a), 0);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &b), 0);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &c), SY_FANOUT_FULL);
    cr_assert_null(c);
    sy_fanout_leave(b);
    cr_assert_eq(sy_fanout_join(f, NULL, NULL, &c), 0);
    sy_fanout_leave(a);
    sy_fanout_leave(c);
    sy_fanout_release(f);
    cr_assert_str_eq(sy_fanout_rc_name(SY_FANOUT_FULL), "FULL");
    cr_assert_str_eq(sy_fanout_rc_name(SY_ENOMEM), "ENOMEM");
}

Test(fanout, a_thousand_readers_on_one_stream)
{
    enum { N = 1000 };
    sy_fanout_t *f = sy_fanout_new(1 << 20, N, NULL, NULL);
    static sy_fanout_reader_t *r[N];
    static uint64_t got[N];
    static int notes[N];
    for (int i = 0; i < N; i++) {
        notes[i] = 0;
        got[i] = 0;
        cr_assert_eq(sy_fanout_join(f, count_cb, &notes[i], &r[i]), 0);
    }
    uint64_t off = 0;
    for (size_t k = 0; k < 200; k++) {
        cr_assert_eq(put(f, &off, piece_len(k)), 0);
        /* every reader reads a view now and then, at its own rhythm */
        for (int i = 0; i < N; i++) {
            if (k % (size_t)(1 + i % 10) != 0)
                continue;
            const char *p;
            size_t n;
            int rc;
            while ((rc = sy_fanout_read(r[i], &p, &n)) == SY_FANOUT_DATA) {
                for (size_t j = 0; j < n; j++)
                    if ((unsigned char)p[j] != byte_at(got[i] + j))
                        cr_assert_fail("reader %d byte %llu differs", i,
                                 (unsigned long long)(got[i] + j));
                got[i] += n;
                sy_fanout_consume(r[i], n);
            }
            cr_assert_eq(rc, SY_FANOUT_AGAIN);
        }
    }
    sy_fanout_end(f, SY_OK);
    for (int i = 0; i < N; i++) {
        const char *p;
        size_t n;
        int rc;
        while ((rc = sy_fanout_read(r[i], &p, &n)) == SY_FANOUT_DATA) {
            for (size_t j = 0; j < n; j++)
                if ((unsigned char)p[j] != byte_at(got[i] + j))
                    cr_assert_fail("reader %d byte %llu differs", i, (unsigned long long)(got[i] + j));
            got[i] += n;
            sy_fanout_consume(r[i], n);
        }
        cr_assert_eq(rc, SY_FANOUT_END);
        cr_assert_eq(got[i], off);
        cr_assert_gt(notes[i], 0);
    }
    sy_fanout_stats_t st;
    sy_fanout_stats(f, &st);
    cr_assert_eq(st.readers, N);
    cr_assert_eq(st.joins, N);
    cr_assert_eq(st.detached, 0);
    for (int i = 0; i < N; i++)
        sy_fanout_leave(r[i]);
    sy_fanout_release(f);
}

/* ---- threads ---------------------------------------------------------------- */

#include <time.h>

static unsigned char *expected; /* the stream's bytes, for memcmp on reader threads */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int woken;
    sy_fanout_reader_t *r;
    uint64_t got;
    int final_rc;
    int bad_byte;
    unsigned sleep_us; /* per view: a slow client */
} waiter_t;

static void sleep_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

/* Runs under the stream's mutex on the producer's thread: just signal. */
static void waiter_notify(void *ud)
{
    waiter_t *w = ud;
    pthread_mutex_lock(&w->mu);
    w->woken = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void *reader_main(void *arg)
{
    waiter_t *w = arg;
    for (;;) {
        const char *p;
        size_t n;
        int rc = sy_fanout_read(w->r, &p, &n);
        if (rc == SY_FANOUT_DATA) {
            if (memcmp(p, expected + w->got, n) != 0)
                w->bad_byte = 1;
            if (w->sleep_us)
                sleep_us(w->sleep_us);
            w->got += n;
            sy_fanout_consume(w->r, n);
            continue;
        }
        if (rc == SY_FANOUT_AGAIN) {
            pthread_mutex_lock(&w->mu);
            while (!w->woken)
                pthread_cond_wait(&w->cv, &w->mu);
            w->woken = 0;
            pthread_mutex_unlock(&w->mu);
            continue;
        }
        w->final_rc = rc; /* END or BEHIND */
        break;
    }
    sy_fanout_leave(w->r);
    return NULL;
}

typedef struct producer {
    sy_fanout_t *f;
    size_t pieces;
    unsigned pause_us; /* after every 16 appends: an upstream's pace */
    uint64_t off;
    int failed; /* checked on the main thread */
} producer_t;

static void *producer_main(void *arg)
{
    producer_t *pr = arg;
    for (size_t k = 0; k < pr->pieces; k++) {
        size_t len = piece_len(k);
        if (sy_fanout_append(pr->f, expected + pr->off, len) != 0)
            pr->failed = 1;
        pr->off += len;
        if (pr->pause_us && k % 16 == 15)
            sleep_us(pr->pause_us);
    }
    sy_fanout_end(pr->f, SY_OK);
    return NULL;
}

/* 8 readers; those from slow_from on sleep slow_us per view. Returns the
 * number of readers that read the whole stream. */
static int run_threads(size_t max_bytes, size_t pieces, unsigned pause_us, int slow_from,
                       unsigned slow_us)
{
    enum { R = 8 };
    size_t total = 0;
    for (size_t k = 0; k < pieces; k++)
        total += piece_len(k);
    expected = malloc(total);
    cr_assert_not_null(expected);
    for (size_t i = 0; i < total; i++)
        expected[i] = byte_at(i);
    sy_fanout_t *f = sy_fanout_new(max_bytes, 0, NULL, NULL);
    cr_assert_not_null(f);
    waiter_t w[R];
    pthread_t rt[R], pt;
    for (int i = 0; i < R; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        pthread_mutex_init(&w[i].mu, NULL);
        pthread_cond_init(&w[i].cv, NULL);
        w[i].sleep_us = i >= slow_from ? slow_us : 0;
        cr_assert_eq(sy_fanout_join(f, waiter_notify, &w[i], &w[i].r), 0);
    }
    producer_t pr = {f, pieces, pause_us, 0, 0};
    for (int i = 0; i < R; i++)
        pthread_create(&rt[i], NULL, reader_main, &w[i]);
    pthread_create(&pt, NULL, producer_main, &pr);
    pthread_join(pt, NULL);
    for (int i = 0; i < R; i++)
        pthread_join(rt[i], NULL);
    cr_assert_not(pr.failed);
    cr_assert_eq(pr.off, total);
    sy_fanout_stats_t st;
    sy_fanout_stats(f, &st);
    /* the bound holds for the buffer; a detached reader's view may pin one
     * more chunk (16 KiB at most) until its next call */
    cr_assert_leq(st.peak_bytes, max_bytes + (size_t)(R - slow_from) * 16384,
                  "peak %zu over %zu", st.peak_bytes, max_bytes);
    cr_assert_leq(st.bytes_held, max_bytes);
    cr_assert_eq(st.bytes_pinned, 0);
    cr_assert_eq(st.bytes_total, total);
    int completed = 0;
    for (int i = 0; i < R; i++) {
        cr_assert_not(w[i].bad_byte, "reader %d saw a wrong byte", i);
        if (w[i].final_rc == SY_FANOUT_END) {
            cr_assert_eq(w[i].got, total, "reader %d", i);
            completed++;
        } else {
            cr_assert_eq(w[i].final_rc, SY_FANOUT_BEHIND, "reader %d: %s", i,
                         sy_fanout_rc_name(w[i].final_rc));
            cr_assert_lt(w[i].got, total);
            cr_assert_geq(i, slow_from, "fast reader %d was detached", i);
        }
        pthread_mutex_destroy(&w[i].mu);
        pthread_cond_destroy(&w[i].cv);
    }
    cr_log_info("bound %zu: %d of %d readers completed, peak %zu bytes", max_bytes, completed,
                R, st.peak_bytes);
    cr_assert_eq((uint64_t)(R - completed), st.detached);
    sy_fanout_release(f);
    free(expected);
    expected = NULL;
    return completed;
}

Test(fanout_threads, producer_and_8_readers_get_identical_bytes)
{
    /* the whole stream (about 3 MB) fits: nobody is detached */
    cr_assert_eq(run_threads(8u << 20, 20000, 0, 8, 0), 8);
}

Test(fanout_threads, two_sleepy_readers_are_detached_and_six_fast_ones_finish)
{
    /* an upstream pacing about 3 MB over >= 125 ms, a 1 MiB bound; two readers
     * sleep 5 ms per view (at most 16 KiB): they read < 1 MB in that time */
    cr_assert_eq(run_threads(1u << 20, 20000, 100, 6, 5000), 6);
}
