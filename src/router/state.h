/*
 * state.h - what the router knows of its deployments while it runs, and
 * the strategies that choose among them.
 *
 * One sy_rstate_t per config: for each configured model a round-robin
 * counter and its counts of retries, fallbacks and refusals; for each of
 * its deployments the calls in flight, a peak-EWMA of the time to first
 * byte, a circuit breaker (breaker.h), a cooldown set by the upstream's
 * Retry-After, and the requests and tokens of the last minute against the
 * deployment's own rpm / tpm. Everything is shared by the workers: counters
 * are atomics, and the few updates that read then write (the EWMA, the
 * minute window, the breaker) take a per-deployment mutex. Choosing reads
 * atomics only, so it never waits.
 *
 * Time is the caller's (monotonic nanoseconds), randomness too (any
 * uniform 64-bit value), so every function is deterministic under test.
 */
#ifndef SY_ROUTER_STATE_H
#define SY_ROUTER_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "router/breaker.h"

struct evbuffer;
struct sy_health;

/* The most deployments a model may have (the config's bound). */
#define SY_ROUTER_MAX_CAND 256

/* Buckets of the time-to-first-byte histogram: bucket i holds samples
 * below 1 ms * 1.2^i (the last one everything slower, from ~97 s). */
#define SY_TTFB_BUCKETS 64

typedef struct sy_dstate {
    /* the first cache line is what a pick reads of every deployment */
    atomic_int inflight;
    int enabled;              /* its provider is enabled and its weight not 0 (fixed) */
    atomic_ullong cool_until; /* the upstream's Retry-After: not chosen before this */
    sy_breaker_t cb;
    atomic_ullong ewma_ns;    /* peak-EWMA of the time to first byte; 0 = no sample yet */
    atomic_ullong calls, failures, first_bytes;
    /* the minute window: requests and tokens of the current and the last minute */
    atomic_ullong win_start;
    atomic_ullong req_cur, req_prev, tok_cur, tok_prev;
    pthread_mutex_t mu; /* ewma_at and the windows' rotation */
    uint64_t ewma_at;
    /* times to first byte of the current and the last minute (hedging's
     * percentile), SY_TTFB_BUCKETS each; written under mu. Kept apart (in
     * the model's ttfb) so that a pick's walk over the deployments stays
     * on few cache lines. */
    atomic_ullong ttfb_start;
    atomic_uint *ttfb_cur, *ttfb_prev;
} __attribute__((aligned(64))) sy_dstate_t;

typedef struct sy_mstate {
    int openai_only; /* every deployment of it and of its fallbacks is OpenAI-compatible */
    int probed;      /* a deployment of it is on a provider with health probes (health.h) */
    atomic_ullong rr;
    atomic_ullong retries, fallbacks, unavailable;
    atomic_ullong hedges, hedge_wins;
    atomic_llong hedge_credit; /* millionths of a hedge the model may still send */
    sy_dstate_t *deps;         /* model->n_deployments */
    atomic_uint *ttfb;         /* their histograms, 2 * SY_TTFB_BUCKETS each */
    /* the weights of the enabled deployments summed in order (the first
     * SY_ROUTER_MAX_CAND): a weighted pick's first draw */
    uint64_t *cum;
} sy_mstate_t;

typedef struct sy_rstate {
    const sy_config_t *cfg;
    sy_mstate_t *models; /* cfg->n_models */
    /* Active health probes (providers/health.h), NULL when none: set by the
     * caller before the first pick; read by it with atomics only. */
    const struct sy_health *health;
} sy_rstate_t;

/* The live state for cfg's models (cfg must outlive it). NULL when out of
 * memory. */
sy_rstate_t *sy_rstate_new(const sy_config_t *cfg);
void sy_rstate_free(sy_rstate_t *s);

/* The state of deployment d of model m (indexes into cfg). */
sy_dstate_t *sy_rstate_dep(sy_rstate_t *s, size_t m, size_t d);

/* ---- choosing ---- */

/* What a pick is told of the request. */
typedef struct sy_pick_in {
    uint64_t now;
    uint64_t rnd;
    const uint8_t *avoid;  /* bit d set: deployment d was tried by this request (may be NULL) */
    int64_t prompt_tokens; /* estimate, for cost and tpm; -1 unknown */
    int64_t max_tokens;    /* the request's cap on the answer; -1 unsaid */
    int fresh_only;        /* only an untried deployment that is not cooling down (a hedge) */
} sy_pick_in_t;

/* The pick, or why nothing could be picked and when something may be. */
typedef struct sy_pick_out {
    int dep;              /* the deployment chosen, -1 none */
    int tried;            /* it was in `avoid` (every untried one was unavailable) */
    int probe;            /* it is its breaker's half-open probe */
    int cooling;          /* it is cooling down (Retry-After): nothing else could be called */
    uint64_t wait_until;  /* none chosen: the soonest an open breaker lets a probe through (0: none will) */
    int saturated;        /* none chosen and some deployment was only full (max_inflight, rpm, tpm) */
} sy_pick_out_t;

/*
 * Choose a deployment of model m by its strategy among those that may be
 * called now: on an enabled provider, weight above 0, breaker closed (or
 * its probe free), under max_inflight, rpm and tpm. Untried deployments
 * come first, then tried ones, then - only when nothing else may be
 * called - those cooling down after a Retry-After.
 * When one is chosen it is entered: its in-flight count, its minute's
 * request count and, half-open, its probe are taken - sy_rstate_end gives
 * them back. Returns out->dep (-1: none, with out's other fields saying why).
 * Cost: linear in the model's deployments, atomics only (plus the
 * breaker's mutex when a probe is taken).
 */
int sy_rstate_pick(sy_rstate_t *s, size_t m, const sy_pick_in_t *in, sy_pick_out_t *out);

/* Give back everything a pick of d took - in flight, the call, the
 * minute's request, the probe - when its caller decides not to call it
 * after all. */
void sy_rstate_unpick(sy_rstate_t *s, size_t m, size_t d, int probe, uint64_t now);

/* Take deployment d of m as sy_rstate_pick would, ignoring its cooldown
 * (the request waited it out). Returns the probe flag, or -1 when it is at
 * max_inflight or its breaker refuses. */
int sy_rstate_enter(sy_rstate_t *s, size_t m, size_t d, uint64_t now);

/* The first byte of an answer from d arrived after ttfb_ns: a latency
 * sample. */
void sy_rstate_first_byte(sy_rstate_t *s, size_t m, size_t d, uint64_t ttfb_ns, uint64_t now);

/* How a call ended, for its breaker. */
typedef enum sy_outcome {
    SY_OUT_OK = 0,   /* answered */
    SY_OUT_FAILED,   /* the deployment failed: connect, timeout, 5xx, 429, cut stream */
    SY_OUT_NEUTRAL,  /* nothing said of the deployment: client gone, request at fault */
} sy_outcome_t;

/* Call on d ended: give back what sy_rstate_pick took, count tokens (-1
 * unknown) against its tpm, tell its breaker (a state change is logged).
 * retry_after_s > 0 sets its cooldown. */
void sy_rstate_end(sy_rstate_t *s, size_t m, size_t d, int probe, sy_outcome_t out, int64_t tokens,
                   int retry_after_s, uint64_t now);

/* The pct-th percentile (1..99) of d's times to first byte over the last
 * one to two minutes, in nanoseconds (a bucket's upper bound: within 20%
 * above the true value); 0 while it has fewer than min_samples. */
uint64_t sy_rstate_ttfb_pct(sy_rstate_t *s, size_t m, size_t d, unsigned pct, unsigned min_samples, uint64_t now);

/* ---- hedging's budget ----
 * Each request of a hedging model earns it max_fraction of a hedge, and
 * the model holds at most one unspent hedge (it starts with one): over any
 * stretch of traffic at most max_fraction of its requests hedge, plus one. */

/* A request of model m started. */
void sy_rstate_hedge_earn(sy_rstate_t *s, size_t m);
/* Whether the model has a hedge to spend (sy_rstate_hedge_take may still
 * lose it to another request). */
int sy_rstate_hedge_ready(sy_rstate_t *s, size_t m);
/* Spend a hedge: 1 when the model had one, else 0. Counts it. */
int sy_rstate_hedge_take(sy_rstate_t *s, size_t m);

/* The peak-EWMA's decay time: a sample's weight halves in ~7 s. */
#define SY_EWMA_TAU_NS 10000000000ull

/* ---- reporting ---- */

/* The "router" object of /api/stats: for every model its strategy, counts
 * and each deployment's state. */
void sy_rstate_json(sy_rstate_t *s, uint64_t now, struct evbuffer *out);

/* The switchyard_circuit_state, switchyard_deployment_* and
 * switchyard_router_* families, in the Prometheus text format. */
void sy_rstate_metrics(sy_rstate_t *s, uint64_t now, struct evbuffer *out);

/* ---- a dry look (POST /admin/route/explain) ---- */

/* One deployment as a pick would see it now. */
typedef struct sy_peek_dep {
    int eligible;        /* a pick may choose it now (cooling ones only when nothing else may) */
    const char *why;     /* why not, or "cooling" (static text); NULL when ready */
    sy_cb_state_t circuit;
    int inflight;
    uint32_t max_inflight;
    uint64_t cooling_ms; /* left of a Retry-After, 0 none */
} sy_peek_dep_t;

/*
 * The deployment of model m a pick would choose now, without taking
 * anything (no in-flight count, no probe, no round-robin step). The
 * strategy's draw uses in->rnd as a pick would, except that a weighted
 * pick's first draw (state.c, pick_drawn) is not made: when it would land
 * on a deployment that may not be called, the two may differ. deps (the model's
 * n_deployments entries, may be NULL) gets each deployment's state.
 * Returns the index or -1. Not on the request path; any thread.
 */
int sy_rstate_peek(sy_rstate_t *s, size_t m, const sy_pick_in_t *in, sy_peek_dep_t *deps);

#endif
