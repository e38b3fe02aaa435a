/*
 * ndjson_test.c - unit tests for src/upstream/ndjson.c: a stream of lines
 * fed whole, byte by byte, cut at every offset and at every pair of
 * offsets gives the same lines; \n and \r\n endings; blank and
 * whitespace-only lines skipped; the last line without its newline handed
 * out by sy_ndjson_finish; the maximum line size, for a line inside one
 * piece and for one kept across pieces; a callback that stops the feed;
 * bytes that are not text (NUL) carried as they are.
 */
#include "upstream/ndjson.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define MAX_LINES 64

typedef struct rec {
    char *line[MAX_LINES];
    size_t len[MAX_LINES];
    size_t n;
    size_t stop_at; /* return stop_rc from the stop_at-th line (1-based); 0 = never */
    int stop_rc;
} rec_t;

static int record(void *ud, const char *line, size_t len)
{
    rec_t *r = ud;
    cr_assert_lt(r->n, MAX_LINES, "too many lines");
    cr_assert_not_null(line);
    cr_assert_gt(len, 0, "an empty line was handed out");
    r->line[r->n] = malloc(len + 1);
    cr_assert_not_null(r->line[r->n]);
    memcpy(r->line[r->n], line, len);
    r->line[r->n][len] = '\0';
    r->len[r->n] = len;
    r->n++;
    if (r->stop_at && r->n == r->stop_at)
        return r->stop_rc;
    return 0;
}

static void rec_free(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->line[i]);
    r->n = 0;
}

/* Feed s[0..n) cut at the sorted offsets cuts[0..ncuts), then finish. */
static int feed_cut(rec_t *r, const char *s, size_t n, const size_t *cuts, size_t ncuts, size_t max)
{
    sy_ndjson_t p;
    size_t start = 0;
    int rc = 0;
    sy_ndjson_init(&p, max);
    for (size_t k = 0; k <= ncuts && rc == 0; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        rc = sy_ndjson_feed(&p, s + start, end - start, record, r);
        start = end;
    }
    if (rc == 0)
        rc = sy_ndjson_finish(&p, record, r);
    sy_ndjson_release(&p);
    return rc;
}

static void same_lines(const rec_t *a, const rec_t *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu lines, want %zu", what, b->n, a->n);
    for (size_t i = 0; i < a->n; i++)
        cr_assert(a->len[i] == b->len[i] && memcmp(a->line[i], b->line[i], a->len[i]) == 0,
                  "%s: line %zu is \"%s\", want \"%s\"", what, i, b->line[i], a->line[i]);
}

/* Ollama-like lines with both endings, blank lines, a NUL byte inside a
 * line and a last line without its newline. */
static const char STREAM[] = "{\"response\":\"a\",\"done\":false}\n"
                             "\n"
                             "{\"response\":\"b\\n\",\"done\":false}\r\n"
                             "  \t\r\n"
                             "\r\n"
                             "x\0y\n"
                             " {\"done\":true}";

static const char *const WANT[] = {"{\"response\":\"a\",\"done\":false}", "{\"response\":\"b\\n\",\"done\":false}",
                                   "x\0y", " {\"done\":true}"};
static const size_t WANT_LEN[] = {29, 31, 3, 14};

static void check_want(const rec_t *r)
{
    cr_assert_eq(r->n, 4, "%zu lines", r->n);
    for (size_t i = 0; i < 4; i++)
        cr_assert(r->len[i] == WANT_LEN[i] && memcmp(r->line[i], WANT[i], WANT_LEN[i]) == 0,
                  "line %zu is \"%s\" (%zu bytes)", i, r->line[i], r->len[i]);
}

Test(ndjson, stream_fed_whole)
{
    rec_t r = {0};
    cr_assert_eq(feed_cut(&r, STREAM, sizeof(STREAM) - 1, NULL, 0, 0), 0);
    check_want(&r);
    rec_free(&r);
}

Test(ndjson, stream_fed_byte_by_byte)
{
    size_t n = sizeof(STREAM) - 1;
    size_t *cuts = malloc(n * sizeof(size_t));
    cr_assert_not_null(cuts);
    for (size_t i = 0; i < n; i++)
        cuts[i] = i;
    rec_t r = {0};
    cr_assert_eq(feed_cut(&r, STREAM, n, cuts, n, 0), 0);
    check_want(&r);
    rec_free(&r);
    free(cuts);
}

Test(ndjson, stream_cut_at_every_offset_and_pair)
{
    size_t n = sizeof(STREAM) - 1;
    rec_t whole = {0};
    cr_assert_eq(feed_cut(&whole, STREAM, n, NULL, 0, 0), 0);
    for (size_t i = 0; i <= n; i++) {
        rec_t r = {0};
        size_t cut[1] = {i};
        cr_assert_eq(feed_cut(&r, STREAM, n, cut, 1, 0), 0);
        same_lines(&whole, &r, "one cut");
        rec_free(&r);
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j};
            cr_assert_eq(feed_cut(&r, STREAM, n, cuts, 2, 0), 0);
            same_lines(&whole, &r, "two cuts");
            rec_free(&r);
        }
    }
    rec_free(&whole);
}

/* A \r\n split between two pieces still ends the line without its \r. */
Test(ndjson, crlf_split_across_pieces)
{
    sy_ndjson_t p;
    rec_t r = {0};
    sy_ndjson_init(&p, 0);
    cr_assert_eq(sy_ndjson_feed(&p, "{}\r", 3, record, &r), 0);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(sy_ndjson_feed(&p, "\n", 1, record, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.line[0], "{}");
    cr_assert_eq(p.len, 0);
    sy_ndjson_release(&p);
    rec_free(&r);
}

Test(ndjson, finish_hands_out_nothing_when_nothing_is_kept)
{
    sy_ndjson_t p;
    rec_t r = {0};
    sy_ndjson_init(&p, 0);
    cr_assert_eq(sy_ndjson_finish(&p, record, &r), 0);
    cr_assert_eq(sy_ndjson_feed(&p, "", 0, record, &r), 0);
    cr_assert_eq(sy_ndjson_feed(&p, "a\n", 2, record, &r), 0);
    cr_assert_eq(sy_ndjson_finish(&p, record, &r), 0);
    cr_assert_eq(r.n, 1);
    /* a kept tail of blanks only is no line */
    cr_assert_eq(sy_ndjson_feed(&p, " \r", 2, record, &r), 0);
    cr_assert_eq(sy_ndjson_finish(&p, record, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(p.len, 0);
    sy_ndjson_release(&p);
    rec_free(&r);
}

/* The maximum applies to a line inside one piece and to one kept across
 * pieces; a line of exactly the maximum passes. */
Test(ndjson, maximum_line_size)
{
    sy_ndjson_t p;
    rec_t r = {0};

    sy_ndjson_init(&p, 8);
    cr_assert_eq(sy_ndjson_feed(&p, "12345678\n", 9, record, &r), 0);
    cr_assert_eq(sy_ndjson_feed(&p, "1234", 4, record, &r), 0);
    cr_assert_eq(sy_ndjson_feed(&p, "5678\n", 5, record, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.line[1], "12345678");
    cr_assert_eq(sy_ndjson_feed(&p, "123456789\n", 10, record, &r), SY_ETOOLARGE);
    sy_ndjson_release(&p);

    sy_ndjson_init(&p, 8);
    cr_assert_eq(sy_ndjson_feed(&p, "12345", 5, record, &r), 0);
    cr_assert_eq(sy_ndjson_feed(&p, "6789", 4, record, &r), SY_ETOOLARGE);
    sy_ndjson_release(&p);

    sy_ndjson_init(&p, 8);
    cr_assert_eq(sy_ndjson_feed(&p, "123456789", 9, record, &r), SY_ETOOLARGE);
    cr_assert_eq(r.n, 2);
    sy_ndjson_release(&p);

    sy_ndjson_init(&p, 0);
    cr_assert_eq(p.max_line, 1u << 20);
    sy_ndjson_release(&p);
    rec_free(&r);
}

/* A callback's non-zero value stops the feed there and is returned; the
 * next feed goes on after the piece that was stopped. */
Test(ndjson, callback_stops_the_feed)
{
    sy_ndjson_t p;
    rec_t r = {.stop_at = 2, .stop_rc = 7};
    sy_ndjson_init(&p, 0);
    cr_assert_eq(sy_ndjson_feed(&p, "a\nb\nc\n", 6, record, &r), 7);
    cr_assert_eq(r.n, 2);
    r.stop_at = 0;
    cr_assert_eq(sy_ndjson_feed(&p, "d\n", 2, record, &r), 0);
    cr_assert_eq(r.n, 3);
    cr_assert_str_eq(r.line[2], "d");
    /* stopping on a kept line, then on the finish */
    r.stop_at = 4;
    cr_assert_eq(sy_ndjson_feed(&p, "e", 1, record, &r), 0);
    cr_assert_eq(sy_ndjson_feed(&p, "e\nf", 3, record, &r), 7);
    cr_assert_str_eq(r.line[3], "ee");
    r.stop_at = 0;
    cr_assert_eq(p.len, 0, "the stopped piece's tail is not kept");
    cr_assert_eq(sy_ndjson_feed(&p, "g", 1, record, &r), 0);
    r.stop_at = 5;
    cr_assert_eq(sy_ndjson_finish(&p, record, &r), 7);
    cr_assert_str_eq(r.line[4], "g");
    sy_ndjson_release(&p);
    rec_free(&r);
}

/* Release leaves a parser that can be used again; releasing twice is safe. */
Test(ndjson, release_and_reuse)
{
    sy_ndjson_t p;
    rec_t r = {0};
    sy_ndjson_init(&p, 0);
    cr_assert_eq(sy_ndjson_feed(&p, "partial", 7, record, &r), 0);
    sy_ndjson_release(&p);
    sy_ndjson_release(&p);
    cr_assert_eq(p.len, 0);
    cr_assert_eq(sy_ndjson_feed(&p, "x\n", 2, record, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.line[0], "x");
    sy_ndjson_release(&p);
    rec_free(&r);
}
