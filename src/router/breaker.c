/*
 * breaker.c - the circuit breaker's state machine (see breaker.h).
 *
 * "failures within window" is exact: a ring keeps the times of the last
 * `threshold` failures, and the breaker opens when the oldest of them is
 * younger than the window. A success while closed does not clear the ring:
 * a deployment failing one call in two still opens.
 */
#include "router/breaker.h"

#include <stdlib.h>

int sy_breaker_init(sy_breaker_t *b, uint32_t failures, uint64_t window_ns, uint64_t cooldown_ns)
{
    atomic_init(&b->state, SY_CB_CLOSED);
    atomic_init(&b->open_until, 0);
    atomic_init(&b->probe, 0);
    atomic_init(&b->opens, 0);
    b->threshold = failures;
    b->window_ns = window_ns;
    b->cooldown_ns = cooldown_ns;
    b->n = b->head = 0;
    b->ring = NULL;
    if (failures && !(b->ring = calloc(failures, sizeof(*b->ring))))
        return -1;
    if (pthread_mutex_init(&b->mu, NULL) != 0) {
        free(b->ring);
        return -1;
    }
    return 0;
}

void sy_breaker_release(sy_breaker_t *b)
{
    pthread_mutex_destroy(&b->mu);
    free(b->ring);
    b->ring = NULL;
}

int sy_breaker_enter(sy_breaker_t *b, uint64_t now)
{
    sy_cb_state_t s = sy_breaker_state(b, now);
    if (s == SY_CB_CLOSED)
        return 0;
    if (s == SY_CB_OPEN)
        return -1;
    int free_slot = 0;
    if (!atomic_compare_exchange_strong(&b->probe, &free_slot, 1))
        return -1;
    pthread_mutex_lock(&b->mu);
    /* it may have changed since the look above: closed by another probe's
     * success, or opened again for a new cooldown by its failure */
    sy_cb_state_t cur = sy_breaker_state(b, now);
    if (cur != SY_CB_HALF_OPEN) {
        atomic_store(&b->probe, 0);
        pthread_mutex_unlock(&b->mu);
        return cur == SY_CB_CLOSED ? 0 : -1;
    }
    atomic_store_explicit(&b->state, SY_CB_HALF_OPEN, memory_order_release);
    pthread_mutex_unlock(&b->mu);
    return 1;
}

/* Open at now for a cooldown (mutex held). */
static void trip(sy_breaker_t *b, uint64_t now)
{
    b->n = b->head = 0;
    atomic_store_explicit(&b->open_until, now + b->cooldown_ns, memory_order_relaxed);
    atomic_store_explicit(&b->state, SY_CB_OPEN, memory_order_release);
    atomic_fetch_add_explicit(&b->opens, 1, memory_order_relaxed);
}

int sy_breaker_end(sy_breaker_t *b, int probe, int ok, int failed, uint64_t now)
{
    int changed = -1;
    if (!probe && !failed)
        return -1; /* a closed breaker only remembers failures */
    pthread_mutex_lock(&b->mu);
    int cur = atomic_load(&b->state);
    if (probe) {
        if (ok) {
            b->n = b->head = 0;
            atomic_store_explicit(&b->state, SY_CB_CLOSED, memory_order_release);
            changed = SY_CB_CLOSED;
        } else if (failed) {
            trip(b, now);
            changed = SY_CB_OPEN;
        }
        atomic_store(&b->probe, 0);
    } else if (cur == SY_CB_CLOSED && b->threshold) {
        b->ring[b->head] = now;
        b->head = (b->head + 1) % b->threshold;
        if (b->n < b->threshold)
            b->n++;
        /* full: head is the oldest of the last `threshold` failures */
        if (b->n == b->threshold && now - b->ring[b->head % b->threshold] <= b->window_ns) {
            trip(b, now);
            changed = SY_CB_OPEN;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return changed;
}

uint64_t sy_breaker_reopens_at(sy_breaker_t *b)
{
    if (atomic_load_explicit(&b->state, memory_order_acquire) != SY_CB_OPEN)
        return 0;
    return atomic_load_explicit(&b->open_until, memory_order_relaxed);
}

const char *sy_cb_state_name(sy_cb_state_t s)
{
    switch (s) {
    case SY_CB_CLOSED:
        return "closed";
    case SY_CB_HALF_OPEN:
        return "half_open";
    default:
        return "open";
    }
}
