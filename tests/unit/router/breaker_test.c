/*
 * breaker_test.c - unit tests for src/router/breaker.c: the closed -> open
 * -> half-open -> closed machine driven by an injected clock. Opening
 * after exactly `failures` failures inside the window (one fewer, or the
 * same number spread wider than the window, do not open); an open breaker
 * refuses; past its cooldown it reads half-open and grants exactly one
 * probe; the probe's success closes it, its failure re-opens it for a new
 * cooldown, a neutral end frees the slot; failures = 0 never opens; calls
 * entered while closed that end after it opened are ignored; the opens
 * counter and reopens_at. Last, 8 threads hammer one breaker and count the
 * probe's holders with an atomic: never two at once, and never one inside
 * a cooldown.
 */
#include "router/breaker.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#define S 1000000000ull  /* one second in ns */
#define MS 1000000ull    /* one millisecond in ns */
#define T0 (1000 * S)    /* an arbitrary start: the monotonic clock is rarely near 0 */

/* A breaker of `failures` in 30 s, 10 s cooldown. */
static void mk(sy_breaker_t *b, uint32_t failures)
{
    cr_assert_eq(sy_breaker_init(b, failures, 30 * S, 10 * S), 0);
}

/* n counted failures of calls entered while closed, one every `step` ns
 * from t; returns the time of the last. */
static uint64_t fail_n(sy_breaker_t *b, int n, uint64_t t, uint64_t step)
{
    for (int i = 0; i < n; i++, t += step) {
        cr_assert_eq(sy_breaker_enter(b, t), 0, "failure %d: call refused", i);
        sy_breaker_end(b, 0, 0, 1, t);
    }
    return t - step;
}

Test(breaker, starts_closed)
{
    sy_breaker_t b;
    mk(&b, 5);
    cr_assert_eq(sy_breaker_state(&b, T0), SY_CB_CLOSED);
    cr_assert_eq(sy_breaker_allows(&b, T0), 1);
    cr_assert_eq(sy_breaker_enter(&b, T0), 0);
    cr_assert_eq(sy_breaker_reopens_at(&b), 0);
    cr_assert_eq(atomic_load(&b.opens), 0);
    sy_breaker_release(&b);
}

Test(breaker, opens_after_exactly_n_failures_in_window)
{
    sy_breaker_t b;
    mk(&b, 5);
    uint64_t t = fail_n(&b, 4, T0, S);
    cr_assert_eq(sy_breaker_state(&b, t), SY_CB_CLOSED, "4 of 5 failures opened it");
    cr_assert_eq(sy_breaker_allows(&b, t), 1);
    t += S;
    cr_assert_eq(sy_breaker_enter(&b, t), 0);
    cr_assert_eq(sy_breaker_end(&b, 0, 0, 1, t), SY_CB_OPEN, "the 5th failure reports the change");
    cr_assert_eq(sy_breaker_state(&b, t), SY_CB_OPEN);
    cr_assert_eq(atomic_load(&b.opens), 1);
    sy_breaker_release(&b);
}

Test(breaker, failure_end_returns_minus_one_while_closed)
{
    sy_breaker_t b;
    mk(&b, 3);
    cr_assert_eq(sy_breaker_end(&b, 0, 0, 1, T0), -1);
    cr_assert_eq(sy_breaker_end(&b, 0, 0, 1, T0 + 1), -1);
    cr_assert_eq(sy_breaker_end(&b, 0, 1, 0, T0 + 2), -1, "a success says nothing while closed");
    cr_assert_eq(sy_breaker_end(&b, 0, 0, 0, T0 + 3), -1, "a neutral end says nothing");
    cr_assert_eq(sy_breaker_state(&b, T0 + 3), SY_CB_CLOSED);
    sy_breaker_release(&b);
}

/* Exactly at the window's edge the oldest failure still counts; one ns
 * later it does not. */
Test(breaker, window_edge)
{
    sy_breaker_t b;
    cr_assert_eq(sy_breaker_init(&b, 3, 30 * S, 10 * S), 0);
    sy_breaker_end(&b, 0, 0, 1, T0);
    sy_breaker_end(&b, 0, 0, 1, T0 + 10 * S);
    sy_breaker_end(&b, 0, 0, 1, T0 + 30 * S + 1);
    cr_assert_eq(sy_breaker_state(&b, T0 + 30 * S + 1), SY_CB_CLOSED, "3 failures over 30 s + 1 ns opened it");
    sy_breaker_release(&b);

    cr_assert_eq(sy_breaker_init(&b, 3, 30 * S, 10 * S), 0);
    sy_breaker_end(&b, 0, 0, 1, T0);
    sy_breaker_end(&b, 0, 0, 1, T0 + 10 * S);
    sy_breaker_end(&b, 0, 0, 1, T0 + 30 * S);
    cr_assert_eq(sy_breaker_state(&b, T0 + 30 * S), SY_CB_OPEN, "3 failures within exactly 30 s did not open");
    sy_breaker_release(&b);
}

/* N failures spread wider than the window never open it, however many:
 * each group of N spans more than the window. */
Test(breaker, failures_spread_wider_than_window_do_not_open)
{
    sy_breaker_t b;
    mk(&b, 5);
    /* one every 8 s: any 5 consecutive span 32 s > 30 s */
    uint64_t t = fail_n(&b, 50, T0, 8 * S);
    cr_assert_eq(sy_breaker_state(&b, t), SY_CB_CLOSED);
    cr_assert_eq(atomic_load(&b.opens), 0);
    /* 40 s later four quick ones: the last 5 still span more than 30 s */
    t += 40 * S;
    fail_n(&b, 4, t, MS);
    cr_assert_eq(sy_breaker_state(&b, t + 3 * MS), SY_CB_CLOSED);
    /* a fifth: 5 failures in 4 ms */
    sy_breaker_end(&b, 0, 0, 1, t + 4 * MS);
    cr_assert_eq(sy_breaker_state(&b, t + 4 * MS), SY_CB_OPEN, "5 failures in 4 ms did not open");
    sy_breaker_release(&b);
}

/* A success while closed does not clear the failures: one call in two
 * failing still opens. */
Test(breaker, successes_between_failures_do_not_reset)
{
    sy_breaker_t b;
    mk(&b, 3);
    uint64_t t = T0;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(sy_breaker_state(&b, t), SY_CB_CLOSED, "opened after %d failures", i);
        sy_breaker_end(&b, 0, 1, 0, t);
        t += S;
        sy_breaker_end(&b, 0, 0, 1, t);
        t += S;
    }
    cr_assert_eq(sy_breaker_state(&b, t), SY_CB_OPEN);
    sy_breaker_release(&b);
}

Test(breaker, open_refuses_until_cooldown)
{
    sy_breaker_t b;
    mk(&b, 2);
    uint64_t t = fail_n(&b, 2, T0, S);
    cr_assert_eq(sy_breaker_reopens_at(&b), t + 10 * S);
    for (uint64_t dt = 0; dt < 10 * S; dt += S / 2) {
        cr_assert_eq(sy_breaker_state(&b, t + dt), SY_CB_OPEN);
        cr_assert_eq(sy_breaker_allows(&b, t + dt), 0);
        cr_assert_eq(sy_breaker_enter(&b, t + dt), -1, "open breaker let a call through at +%llu ns",
                     (unsigned long long)dt);
    }
    cr_assert_eq(sy_breaker_enter(&b, t + 10 * S - 1), -1, "1 ns before the cooldown ends");
    cr_assert_eq(sy_breaker_state(&b, t + 10 * S), SY_CB_HALF_OPEN);
    sy_breaker_release(&b);
}

Test(breaker, half_open_grants_exactly_one_probe)
{
    sy_breaker_t b;
    mk(&b, 2);
    uint64_t t = fail_n(&b, 2, T0, S) + 10 * S;
    cr_assert_eq(sy_breaker_state(&b, t), SY_CB_HALF_OPEN);
    cr_assert_eq(sy_breaker_allows(&b, t), 1);
    cr_assert_eq(sy_breaker_enter(&b, t), 1, "the first caller gets the probe");
    cr_assert_eq(sy_breaker_allows(&b, t), 0, "the probe is out");
    cr_assert_eq(sy_breaker_enter(&b, t), -1, "a second probe granted");
    cr_assert_eq(sy_breaker_enter(&b, t + 60 * S), -1, "a second probe granted later");
    cr_assert_eq(sy_breaker_state(&b, t + 60 * S), SY_CB_HALF_OPEN);
    cr_assert_eq(sy_breaker_reopens_at(&b), 0, "half-open is not open");
    sy_breaker_release(&b);
}

Test(breaker, probe_success_closes)
{
    sy_breaker_t b;
    mk(&b, 2);
    uint64_t t = fail_n(&b, 2, T0, S) + 10 * S;
    cr_assert_eq(sy_breaker_enter(&b, t), 1);
    cr_assert_eq(sy_breaker_end(&b, 1, 1, 0, t + S), SY_CB_CLOSED);
    cr_assert_eq(sy_breaker_state(&b, t + S), SY_CB_CLOSED);
    cr_assert_eq(sy_breaker_enter(&b, t + S), 0);
    cr_assert_eq(sy_breaker_enter(&b, t + S), 0, "closed: everyone goes through");
    /* the failures before the trip are forgotten: one more does not re-open */
    sy_breaker_end(&b, 0, 0, 1, t + 2 * S);
    cr_assert_eq(sy_breaker_state(&b, t + 2 * S), SY_CB_CLOSED);
    sy_breaker_end(&b, 0, 0, 1, t + 3 * S);
    cr_assert_eq(sy_breaker_state(&b, t + 3 * S), SY_CB_OPEN, "2 new failures did not open it");
    cr_assert_eq(atomic_load(&b.opens), 2);
    sy_breaker_release(&b);
}

Test(breaker, probe_failure_reopens_with_new_cooldown)
{
    sy_breaker_t b;
    mk(&b, 2);
    uint64_t t = fail_n(&b, 2, T0, S) + 10 * S;
    cr_assert_eq(sy_breaker_enter(&b, t), 1);
    uint64_t fail_at = t + 3 * S;
    cr_assert_eq(sy_breaker_end(&b, 1, 0, 1, fail_at), SY_CB_OPEN);
    cr_assert_eq(sy_breaker_state(&b, fail_at), SY_CB_OPEN);
    cr_assert_eq(sy_breaker_reopens_at(&b), fail_at + 10 * S, "the new cooldown runs from the probe's failure");
    cr_assert_eq(sy_breaker_enter(&b, fail_at + 10 * S - 1), -1);
    cr_assert_eq(sy_breaker_state(&b, fail_at + 10 * S), SY_CB_HALF_OPEN);
    cr_assert_eq(sy_breaker_enter(&b, fail_at + 10 * S), 1, "the next probe after the new cooldown");
    cr_assert_eq(atomic_load(&b.opens), 2);
    sy_breaker_release(&b);
}

Test(breaker, neutral_probe_end_frees_the_slot)
{
    sy_breaker_t b;
    mk(&b, 2);
    uint64_t t = fail_n(&b, 2, T0, S) + 10 * S;
    cr_assert_eq(sy_breaker_enter(&b, t), 1);
    cr_assert_eq(sy_breaker_enter(&b, t), -1);
    cr_assert_eq(sy_breaker_end(&b, 1, 0, 0, t + S), -1, "a neutral end changes no state");
    cr_assert_eq(sy_breaker_state(&b, t + S), SY_CB_HALF_OPEN);
    cr_assert_eq(sy_breaker_allows(&b, t + S), 1);
    cr_assert_eq(sy_breaker_enter(&b, t + S), 1, "the slot is free again");
    cr_assert_eq(sy_breaker_enter(&b, t + S), -1);
    cr_assert_eq(atomic_load(&b.opens), 1);
    sy_breaker_release(&b);
}

Test(breaker, zero_failures_never_opens)
{
    sy_breaker_t b;
    cr_assert_eq(sy_breaker_init(&b, 0, 30 * S, 10 * S), 0);
    for (int i = 0; i < 10000; i++) {
        uint64_t t = T0 + (uint64_t)i;
        cr_assert_eq(sy_breaker_enter(&b, t), 0);
        cr_assert_eq(sy_breaker_end(&b, 0, 0, 1, t), -1);
    }
    cr_assert_eq(sy_breaker_state(&b, T0 + 10000), SY_CB_CLOSED);
    cr_assert_eq(atomic_load(&b.opens), 0);
    sy_breaker_release(&b);
}

/* Calls entered while closed that end after the breaker opened (or while
 * it is half-open) change nothing: neither their failures nor their
 * successes. */
Test(breaker, stragglers_ignored)
{
    sy_breaker_t b;
    mk(&b, 2);
    cr_assert_eq(sy_breaker_enter(&b, T0), 0); /* a call goes out, then the breaker opens */
    uint64_t t = fail_n(&b, 2, T0, S);
    cr_assert_eq(sy_breaker_state(&b, t), SY_CB_OPEN);
    uint64_t until = sy_breaker_reopens_at(&b);
    /* while open: a straggler's success does not close it, failures do not extend it */
    cr_assert_eq(sy_breaker_end(&b, 0, 1, 0, t + S), -1);
    cr_assert_eq(sy_breaker_end(&b, 0, 0, 1, t + 2 * S), -1);
    cr_assert_eq(sy_breaker_end(&b, 0, 0, 1, t + 3 * S), -1);
    cr_assert_eq(sy_breaker_state(&b, t + 3 * S), SY_CB_OPEN);
    cr_assert_eq(sy_breaker_reopens_at(&b), until, "a straggler moved the cooldown");
    cr_assert_eq(atomic_load(&b.opens), 1);
    /* while half-open with the probe out: same */
    cr_assert_eq(sy_breaker_enter(&b, until), 1);
    cr_assert_eq(sy_breaker_end(&b, 0, 1, 0, until + 1), -1);
    cr_assert_eq(sy_breaker_end(&b, 0, 0, 1, until + 2), -1);
    cr_assert_eq(sy_breaker_end(&b, 0, 0, 1, until + 3), -1);
    cr_assert_eq(sy_breaker_state(&b, until + 3), SY_CB_HALF_OPEN);
    cr_assert_eq(sy_breaker_enter(&b, until + 3), -1, "a straggler freed the probe slot");
    cr_assert_eq(sy_breaker_end(&b, 1, 1, 0, until + 4), SY_CB_CLOSED);
    cr_assert_eq(atomic_load(&b.opens), 1);
    sy_breaker_release(&b);
}

Test(breaker, opens_counter_and_reopens_at)
{
    sy_breaker_t b;
    mk(&b, 1);
    uint64_t t = T0;
    for (unsigned i = 1; i <= 4; i++) {
        sy_breaker_end(&b, 0, 0, 1, t);
        cr_assert_eq(atomic_load(&b.opens), i);
        cr_assert_eq(sy_breaker_reopens_at(&b), t + 10 * S);
        t += 10 * S;
        cr_assert_eq(sy_breaker_enter(&b, t), 1);
        cr_assert_eq(sy_breaker_end(&b, 1, 1, 0, t), SY_CB_CLOSED);
        cr_assert_eq(sy_breaker_reopens_at(&b), 0, "closed: reopens_at is 0");
        t += S;
    }
    sy_breaker_release(&b);
}

Test(breaker, state_names)
{
    cr_assert_str_eq(sy_cb_state_name(SY_CB_CLOSED), "closed");
    cr_assert_str_eq(sy_cb_state_name(SY_CB_HALF_OPEN), "half_open");
    cr_assert_str_eq(sy_cb_state_name(SY_CB_OPEN), "open");
    cr_assert_eq((int)SY_CB_CLOSED, 0);
    cr_assert_eq((int)SY_CB_HALF_OPEN, 1);
    cr_assert_eq((int)SY_CB_OPEN, 2);
}

/* ---- threads ---------------------------------------------------------- */

/*
 * Eight threads share one breaker and one clock: each call takes the next
 * tick of a shared atomic counter as its now. A 1-in-3 failure rate with a
 * 3-failure threshold keeps the breaker cycling through every state. A
 * thread granted the probe counts itself in `holders` and checks that it
 * is alone and that the cooldown it was granted after has ended.
 */
#define THREADS 8
#define ROUNDS 10000

static sy_breaker_t shared;
static atomic_ullong clock_ns;
static atomic_int holders, max_holders;
static atomic_ullong probes, closes, early;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *hammer(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t now = atomic_fetch_add(&clock_ns, 1000);
        uint64_t r = splitmix64(&seed);
        int p = sy_breaker_enter(&shared, now);
        if (p < 0)
            continue;
        if (p == 1) {
            int h = atomic_fetch_add(&holders, 1) + 1;
            int m = atomic_load(&max_holders);
            while (h > m && !atomic_compare_exchange_weak(&max_holders, &m, h))
                ;
            if (atomic_load(&shared.open_until) > now)
                atomic_fetch_add(&early, 1);
            atomic_fetch_add(&probes, 1);
            if (r & 0x100)
                sched_yield();
            atomic_fetch_sub(&holders, 1);
        }
        uint64_t end = atomic_fetch_add(&clock_ns, 1000);
        int fail = r % 3 == 0, ok = !fail && (r >> 8) % 8 != 0; /* else neutral */
        if (sy_breaker_end(&shared, p, ok, fail, end) == SY_CB_CLOSED)
            atomic_fetch_add(&closes, 1);
    }
    return NULL;
}

Test(breaker, threads_never_share_the_probe, .timeout = 60)
{
    /* 3 failures in 50 us open it for 20 us */
    cr_assert_eq(sy_breaker_init(&shared, 3, 50000, 20000), 0);
    atomic_store(&clock_ns, T0);
    pthread_t th[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, (void *)(i * 7919 + 1)), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&max_holders), 1, "the probe was held by %d at once", atomic_load(&max_holders));
    cr_assert_eq(atomic_load(&holders), 0);
    cr_assert_eq(atomic_load(&early), 0, "%llu probes granted inside a cooldown",
                 (unsigned long long)atomic_load(&early));
    cr_assert_gt(atomic_load(&shared.opens), 10, "the breaker hardly opened: the test tests nothing");
    cr_assert_gt(atomic_load(&probes), 10);
    cr_assert_gt(atomic_load(&closes), 0);
    cr_log_info("opens %llu, probes %llu, closes %llu", (unsigned long long)atomic_load(&shared.opens),
                (unsigned long long)atomic_load(&probes), (unsigned long long)atomic_load(&closes));
    sy_breaker_release(&shared);
}
