/*
 * egress_fuzz.c - libFuzzer driver for the stream parsers of the
 * three egress adapters (src/providers/openai.c, ollama.c and anthropic.c
 * through egress.c): they read an upstream's SSE
 * chunks and NDJSON lines, bytes nobody here controls, and their events go
 * straight to a client's encoder.
 *
 * Input layout: byte 0 is a control byte - bit 0 the kind (0 OpenAI, 1
 * Ollama), bits 1-3 the number of cut points that follow (each a fraction
 * k/256 of the body's length), bit 4 the operation (chat or generate; an
 * OpenAI generate is read as chat, so bit 4 with bit 0 clear selects the
 * Anthropic parser, src/providers/anthropic.c, instead), bits
 * 5-7 a callback stop (0: never; n: stop at event n * 3 - 2) - and the rest
 * of the input is the upstream's body.
 *
 * The body is parsed as a stream three ways: fed whole, cut at the cut
 * points, and one byte at a time, each followed by sy_eparse_end; then as
 * a whole answer (sy_eparse_whole) and as an embeddings answer. These must
 * hold, else abort() (a crash for libFuzzer):
 *   - the three stream runs give the same events (every field), the same
 *     return and the same error: the parser does not depend on how the
 *     bytes were cut;
 *   - the event contract: START first and once; TEXT / THINKING non-empty;
 *     a TOOL_CALL's index is below the bound and at most one past the
 *     highest seen (calls numbered in order of appearance); FINISH at most
 *     once, a known reason, and no TEXT / THINKING / TOOL_CALL after it;
 *     no ERROR event (errors come back as -1);
 *   - returns are 0, 1 (only when the callback stopped, and no event after
 *     the stop) or -1 with an error code the parsers use and a message;
 *     a stream that ends with 0 has given its FINISH;
 *   - a whole answer parsed with 0 gave START and exactly one FINISH;
 *   - an embeddings answer parsed with SY_OK has exactly the vectors asked
 *     for, every float finite;
 *   - no crash, no leak, no read outside the bytes given (ASan): every
 *     string an event carries is read in full inside the callback.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/egress.h"

#define MAX_CUTS 7

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "egress_fuzz: invariant failed: %s (%s:%d)\n  ", #cond, __FILE__,     \
                    __LINE__);                                                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The events of one run, written down as bytes to compare runs, and the
 * state the contract checks need. */
typedef struct run {
    char *log;
    size_t len, cap;
    int n;        /* events seen */
    int started;  /* START seen */
    int finished; /* FINISH seen */
    int max_call; /* highest tool call index, -1 */
    int stop_at;  /* return 1 from this event (1-based); 0 = never */
    int stopped;
} run_t;

static void put(run_t *r, const void *p, size_t n)
{
    if (r->len + n > r->cap) {
        size_t nc = r->cap ? r->cap : 1024;
        while (nc < r->len + n)
            nc *= 2;
        char *g = realloc(r->log, nc);
        CHECK(g != NULL, "out of memory");
        r->log = g;
        r->cap = nc;
    }
    if (n)
        memcpy(r->log + r->len, p, n);
    r->len += n;
}

/* A string, length first; every byte is read (ASan checks it is valid). */
static void put_str(run_t *r, sy_str_t s)
{
    CHECK(s.len == 0 || s.p != NULL, "a string of %zu bytes at NULL", s.len);
    put(r, &s.len, sizeof(s.len));
    put(r, s.p, s.len);
}

static int on_event(void *ud, const sy_ev_t *ev)
{
    run_t *r = ud;
    CHECK(!r->stopped, "an event after the callback stopped the parser");
    r->n++;
    CHECK(r->started || ev->kind == SY_EV_START, "event kind %d before START", ev->kind);
    put(r, &ev->kind, sizeof(ev->kind));
    switch (ev->kind) {
    case SY_EV_START:
        CHECK(!r->started, "a second START");
        r->started = 1;
        put_str(r, ev->id);
        break;
    case SY_EV_TEXT:
    case SY_EV_THINKING:
        CHECK(!r->finished, "text after FINISH");
        CHECK(ev->text.len > 0, "an empty text event");
        put_str(r, ev->text);
        break;
    case SY_EV_TOOL_CALL:
        CHECK(!r->finished, "a tool call after FINISH");
        CHECK(ev->index >= 0 && ev->index < SY_CRESP_MAX_CALLS, "tool call index %d", ev->index);
        CHECK(ev->index <= r->max_call + 1, "tool call %d after %d: not in order", ev->index, r->max_call);
        if (ev->index > r->max_call)
            r->max_call = ev->index;
        put(r, &ev->index, sizeof(ev->index));
        put_str(r, ev->id);
        put_str(r, ev->name);
        put_str(r, ev->args);
        break;
    case SY_EV_FINISH:
        CHECK(!r->finished, "a second FINISH");
        CHECK(ev->finish > SY_FINISH_NONE && ev->finish <= SY_FINISH_FILTER, "finish %d", ev->finish);
        r->finished = 1;
        put(r, &ev->finish, sizeof(ev->finish));
        put_str(r, ev->stop_sequence);
        break;
    case SY_EV_USAGE:
        put(r, &ev->usage, sizeof(ev->usage));
        break;
    case SY_EV_ERROR:
        CHECK(0, "an ERROR event: parsers report errors by returning -1");
        break;
    }
    if (r->stop_at && r->n == r->stop_at) {
        r->stopped = 1;
        return 1;
    }
    return 0;
}

static void check_rc(const sy_eparse_t *p, const run_t *r, int rc, const char *what)
{
    CHECK(rc == 0 || rc == 1 || rc == -1, "%s returned %d", what, rc);
    CHECK(rc != 1 || r->stopped, "%s returned 1 without a callback stop", what);
    if (rc == -1) {
        sy_err_t c = p->err.code;
        CHECK(c == SY_EUPPROTO || c == SY_EUPSTATUS || c == SY_EUPCLOSED || c == SY_ENOMEM, "%s: error %s", what,
              sy_err_name(c));
        CHECK(memchr(p->err.message, '\0', sizeof(p->err.message)) != NULL && p->err.message[0],
              "%s: an empty or unterminated message", what);
    }
}

typedef struct outcome {
    run_t run;
    int rc;
    sy_error_t err;
} outcome_t;

/* Parse body as a stream fed in pieces ending at cuts[0..ncuts) (step 1:
 * one byte at a time), then end it. */
static outcome_t stream(sy_provider_type_t kind, sy_op_t op, const char *body, size_t n, const size_t *cuts,
                        size_t ncuts, int bytewise, int stop_at)
{
    outcome_t o;
    sy_eparse_t p;
    memset(&o, 0, sizeof(o));
    o.run.max_call = -1;
    o.run.stop_at = stop_at;
    sy_eparse_init(&p, kind, op, 1, on_event, &o.run);
    int rc = 0;
    size_t start = 0;
    if (bytewise) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = sy_eparse_feed(&p, body + i, 1);
            check_rc(&p, &o.run, rc, "feed");
        }
    } else {
        for (size_t k = 0; k <= ncuts && rc == 0; k++) {
            size_t end = k < ncuts ? cuts[k] : n;
            rc = sy_eparse_feed(&p, body + start, end - start);
            check_rc(&p, &o.run, rc, "feed");
            start = end;
        }
    }
    if (rc == 0) {
        rc = sy_eparse_end(&p);
        check_rc(&p, &o.run, rc, "end");
        CHECK(rc != 0 || o.run.finished, "a stream ended cleanly without a FINISH");
    }
    o.rc = rc;
    o.err = p.err;
    sy_eparse_release(&p);
    return o;
}

static void same(const outcome_t *a, const outcome_t *b, const char *what)
{
    CHECK(a->rc == b->rc, "%s: returned %d, whole %d", what, b->rc, a->rc);
    CHECK(a->run.len == b->run.len && (a->run.len == 0 || memcmp(a->run.log, b->run.log, a->run.len) == 0),
          "%s: different events (%d, whole %d)", what, b->run.n, a->run.n);
    if (a->rc == -1)
        CHECK(a->err.code == b->err.code && strcmp(a->err.message, b->err.message) == 0,
              "%s: error \"%s\", whole \"%s\"", what, b->err.message, a->err.message);
}

static void whole(sy_provider_type_t kind, sy_op_t op, const char *body, size_t n)
{
    run_t r;
    sy_eparse_t p;
    memset(&r, 0, sizeof(r));
    r.max_call = -1;
    sy_eparse_init(&p, kind, op, 0, on_event, &r);
    int rc = sy_eparse_whole(&p, body, n);
    check_rc(&p, &r, rc, "whole");
    CHECK(rc != 0 || (r.started && r.finished), "a whole answer without START or FINISH");
    sy_eparse_release(&p);
    free(r.log);
}

static void embed(sy_provider_type_t kind, const char *body, size_t n, size_t n_inputs)
{
    sy_arena_t a;
    sy_embed_t e;
    sy_error_t err;
    sy_arena_init(&a, 64u << 20);
    memset(&err, 0, sizeof(err));
    sy_err_t rc = sy_egress_parse_embed(kind, body, n, n_inputs, &a, &e, &err);
    if (rc == SY_OK) {
        CHECK(e.n_vecs == n_inputs, "%zu vectors for %zu inputs", e.n_vecs, n_inputs);
        for (size_t i = 0; i < e.n_vecs; i++)
            for (size_t j = 0; j < e.vecs[i].n; j++)
                CHECK(isfinite(e.vecs[i].v[j]), "vector %zu value %zu is not finite", i, j);
    } else {
        CHECK(rc == SY_EUPPROTO || rc == SY_EUPSTATUS || rc == SY_ENOMEM, "embeddings: %s", sy_err_name(rc));
        CHECK(err.code == rc && err.message[0], "embeddings: error not filled in");
    }
    sy_arena_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    sy_provider_type_t kind = (ctl & 1) ? SY_PROVIDER_OLLAMA : SY_PROVIDER_OPENAI;
    size_t ncuts = (ctl >> 1) & MAX_CUTS;
    sy_op_t op = (ctl & 16) ? SY_OP_GENERATE : SY_OP_CHAT;
    if (kind == SY_PROVIDER_OPENAI && op == SY_OP_GENERATE) {
        /* an OpenAI generate is read as a chat: the bit is worth more as
         * the third kind */
        kind = SY_PROVIDER_ANTHROPIC;
        op = SY_OP_CHAT;
    }
    int stop_at = (int)(ctl >> 5) * 3 - 2;
    if (stop_at < 0)
        stop_at = 0;
    if (size < 1 + ncuts)
        return 0;
    const char *body = (const char *)data + 1 + ncuts;
    size_t n = size - 1 - ncuts;

    size_t cuts[MAX_CUTS];
    for (size_t k = 0; k < ncuts; k++) {
        size_t c = (n * data[1 + k]) / 256;
        size_t j = k;
        while (j > 0 && cuts[j - 1] > c) {
            cuts[j] = cuts[j - 1];
            j--;
        }
        cuts[j] = c;
    }

    outcome_t a = stream(kind, op, body, n, NULL, 0, 0, 0);
    outcome_t b = stream(kind, op, body, n, cuts, ncuts, 0, 0);
    outcome_t c = stream(kind, op, body, n, NULL, 0, 1, 0);
    same(&a, &b, "cut");
    same(&a, &c, "byte by byte");
    free(b.run.log);
    free(c.run.log);
    if (stop_at) {
        /* a stopping callback: the events up to the stop are the same */
        outcome_t s = stream(kind, op, body, n, cuts, ncuts, 0, stop_at);
        CHECK(s.run.n <= a.run.n, "more events with a stop (%d) than without (%d)", s.run.n, a.run.n);
        CHECK(s.run.len <= a.run.len && (s.run.len == 0 || memcmp(s.run.log, a.run.log, s.run.len) == 0),
              "the events before a stop differ");
        CHECK(s.run.stopped == (a.run.n >= stop_at), "stop at %d of %d events: stopped %d", stop_at, a.run.n,
              s.run.stopped);
        free(s.run.log);
    }
    free(a.run.log);

    whole(kind, op, body, n);
    if (kind != SY_PROVIDER_ANTHROPIC) /* which has no embeddings */
        embed(kind, body, n, (ctl >> 5) & 3);
    return 0;
}
