/*
 * breaker.h - one deployment's circuit breaker: closed -> open -> half-open.
 *
 * Closed, every call goes through and failures are remembered. When
 * `failures` of them fall within `window` the breaker opens: no call goes
 * through for `cooldown`. Then it is half-open: exactly one call (the
 * probe) is let through; its success closes the breaker, its failure opens
 * it again for another cooldown. A probe that ends neither way (the client
 * left, the request was at fault) frees the slot for the next probe.
 *
 * Reading the state (sy_breaker_allows) is two atomic loads, so routing
 * never waits; the transitions take the breaker's mutex. The clock is the
 * caller's (nanoseconds, monotonic): unit tests pass their own. Any thread.
 */
#ifndef SY_ROUTER_BREAKER_H
#define SY_ROUTER_BREAKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef enum sy_cb_state {
    SY_CB_CLOSED = 0,
    SY_CB_HALF_OPEN = 1,
    SY_CB_OPEN = 2,
} sy_cb_state_t;

typedef struct sy_breaker {
    /* what routing reads first (one cache line with the deployment's own
     * hot fields: router/state.h) */
    atomic_int state;          /* sy_cb_state_t as last changed (open may be past its cooldown) */
    atomic_int probe;          /* half-open: the probe is out */
    atomic_ullong open_until;  /* when open: the cooldown's end */
    atomic_ullong opens;       /* times it opened */
    pthread_mutex_t mu;
    uint32_t threshold;        /* failures to open; 0 = never opens */
    uint64_t window_ns, cooldown_ns;
    uint64_t *ring;            /* the last `threshold` failure times */
    uint32_t n, head;
} sy_breaker_t;

/* Set b up closed. Returns 0, or -1 out of memory. */
int sy_breaker_init(sy_breaker_t *b, uint32_t failures, uint64_t window_ns, uint64_t cooldown_ns);
void sy_breaker_release(sy_breaker_t *b);

/* The state at now: an open breaker past its cooldown reads half-open.
 * (Inline, as the next: a pick reads every deployment's.) */
static inline sy_cb_state_t sy_breaker_state(sy_breaker_t *b, uint64_t now)
{
    int s = atomic_load_explicit(&b->state, memory_order_acquire);
    if (s == SY_CB_OPEN && now >= atomic_load_explicit(&b->open_until, memory_order_relaxed))
        return SY_CB_HALF_OPEN;
    return (sy_cb_state_t)s;
}

/* Whether a call may go through at now, without taking anything: closed,
 * or half-open with the probe slot free. */
static inline int sy_breaker_allows(sy_breaker_t *b, uint64_t now)
{
    sy_cb_state_t s = sy_breaker_state(b, now);
    if (s == SY_CB_CLOSED)
        return 1;
    if (s == SY_CB_OPEN)
        return 0;
    return atomic_load_explicit(&b->probe, memory_order_relaxed) == 0;
}

/* Take the right to call at now. Returns 0 (closed: no probe), 1 (this call
 * is the half-open probe: report its end with probe set), or -1 (open, or
 * the probe is already out). */
int sy_breaker_enter(sy_breaker_t *b, uint64_t now);

/* A call's end. ok: it succeeded; failed: it failed in a way that counts
 * (connect, timeout, 5xx, 429); neither: it says nothing of the deployment.
 * probe is sy_breaker_enter's answer. Returns the new state when this
 * changed it (for the log), else -1. */
int sy_breaker_end(sy_breaker_t *b, int probe, int ok, int failed, uint64_t now);

/* When an open breaker lets a probe through (0 when it is not open). */
uint64_t sy_breaker_reopens_at(sy_breaker_t *b);

const char *sy_cb_state_name(sy_cb_state_t s);

#endif
