/*
 * hedge_test.c - unit tests for hedging: the wait before a hedge
 * (sy_plan_hedge_after: after_ms, then the deployment's own percentile once
 * it has samples), the hedge's choice of deployment (another, untried, not
 * cooling, breaker closed), the max_fraction budget, and how a race ends
 * (sy_plan_hedge_drop / sy_plan_hedge_promote: who is counted, what the
 * breaker and the latency figures learn, what the plan does next); and the
 * time-to-first-byte histogram behind the percentile (state.c). Clock and
 * random numbers are injected.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "config_harness.h"
#include "router/plan.h"
#include "router/state.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1000 * S)

#define CONFIG                                                                                         \
    "providers:\n"                                                                                     \
    "  - {name: a, type: openai, base_url: \"https://a.example.invalid/v1\"}\n"                        \
    "  - {name: b, type: openai, base_url: \"https://b.example.invalid/v1\"}\n"                        \
    "  - {name: c, type: openai, base_url: \"https://c.example.invalid/v1\"}\n"                        \
    "router:\n"                                                                                        \
    "  defaults:\n"                                                                                    \
    "    retries: {max: 1, backoff_ms: 10, max_backoff_ms: 100}\n"                                     \
    "    circuit_breaker: {failures: 0}\n"                                                             \
    "models:\n"                                                                                        \
    "  - name: fixed\n" /* 0 */                                                                        \
    "    hedge: {after_ms: 300, max_fraction: 1}\n"                                                    \
    "    deployments:\n"                                                                               \
    "      - {provider: a, model: x, weight: 1000}\n"                                                  \
    "      - {provider: b, model: y, weight: 1}\n"                                                     \
    "  - name: pct\n" /* 1 */                                                                          \
    "    hedge: {percentile: 90, after_ms: 500, max_fraction: 1}\n"                                    \
    "    deployments:\n"                                                                               \
    "      - {provider: a, model: x, weight: 1000}\n"                                                  \
    "      - {provider: b, model: y, weight: 1}\n"                                                     \
    "  - name: pct-only\n" /* 2 */                                                                     \
    "    hedge: {percentile: 95}\n"                                                                    \
    "    deployments:\n"                                                                               \
    "      - {provider: a, model: x, weight: 1000}\n"                                                  \
    "      - {provider: b, model: y, weight: 1}\n"                                                     \
    "  - name: half\n" /* 3 */                                                                         \
    "    hedge: {after_ms: 100, max_fraction: 0.5}\n"                                                  \
    "    deployments:\n"                                                                               \
    "      - {provider: a, model: x, weight: 1000}\n"                                                  \
    "      - {provider: b, model: y, weight: 1}\n"                                                     \
    "  - name: lonely\n" /* 4 */                                                                       \
    "    hedge: {after_ms: 100}\n"                                                                     \
    "    deployments: [{provider: a, model: x}]\n"                                                     \
    "  - name: plain\n" /* 5 */                                                                        \
    "    deployments:\n"                                                                               \
    "      - {provider: a, model: x}\n"                                                                \
    "      - {provider: b, model: y}\n"                                                                \
    "  - name: guarded\n" /* 6 */                                                                      \
    "    hedge: {after_ms: 100, max_fraction: 1}\n"                                                    \
    "    circuit_breaker: {failures: 1, cooldown_s: 30}\n"                                             \
    "    deployments:\n"                                                                               \
    "      - {provider: a, model: x, weight: 1000}\n"                                                  \
    "      - {provider: b, model: y, weight: 1}\n"                                                     \
    "  - name: three\n" /* 7 */                                                                        \
    "    hedge: {after_ms: 100, max_fraction: 1}\n"                                                    \
    "    deployments:\n"                                                                               \
    "      - {provider: a, model: x, weight: 1000}\n"                                                  \
    "      - {provider: b, model: y, weight: 1}\n"                                                     \
    "      - {provider: c, model: z, weight: 1}\n"                                                     \
    "  - name: tight\n" /* 8 */                                                                        \
    "    deployments: [{provider: a, model: x, max_inflight: 1, rpm: 100}]\n"

enum { FIXED, PCT, PCT_ONLY, HALF, LONELY, PLAIN, GUARDED, THREE, TIGHT };

static sy_config_t *cfg;
static sy_rstate_t *rs;

static void setup(void)
{
    sy_log_set_level(SY_LOG_ERROR);
    cfg = sy_test_load_ok(CONFIG);
    rs = sy_rstate_new(cfg);
    cr_assert_not_null(rs);
}

static void teardown(void)
{
    sy_rstate_free(rs);
    sy_config_free(cfg);
}

TestSuite(hedge, .init = setup, .fini = teardown);

static void start(sy_plan_t *p, const char *name, uint64_t now)
{
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    cr_assert_eq(sy_plan_init(p, rs, cfg, NULL, name, now, &e), SY_OK, "init %s: %s", name, e.message);
    uint64_t delay;
    int ra;
    cr_assert_eq(sy_plan_next(p, now, 0, &delay, &e, &ra), SY_PLAN_GO);
    cr_assert_eq(p->dep, 0, "the heavy deployment goes first");
}

static sy_dstate_t *dep(size_t m, size_t d)
{
    return sy_rstate_dep(rs, m, d);
}

static sy_error_t status_err(int status)
{
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    sy_error_set(&e, SY_EUPSTATUS, NULL, "HTTP %d", status);
    e.status = status;
    return e;
}

Test(hedge, config)
{
    cr_assert_eq(cfg->models[FIXED].hedge.on, 1);
    cr_assert_eq(cfg->models[FIXED].hedge.after_ms, 300);
    cr_assert_eq(cfg->models[PCT_ONLY].hedge.percentile, 95);
    cr_assert_float_eq(cfg->models[PCT_ONLY].hedge.max_fraction, 0.1, 1e-9, "max_fraction defaults to 0.1");
    cr_assert_eq(cfg->models[PLAIN].hedge.on, 0);

    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"hedge: {max_fraction: 0.5}", "say when to hedge"},
        {"hedge: {after_ms: 0}", "after_ms"},
        {"hedge: {percentile: 100}", "percentile"},
        {"hedge: {percentile: 10}", "percentile"},
        {"hedge: {after_ms: 10, max_fraction: 1.5}", "max_fraction"},
        {"hedge: {after: 10}", "did you mean \"after_ms\""},
        {"hedge: 10", "hedge"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "providers: [{name: a, type: openai, base_url: \"https://a.example.invalid/v1\"}]\n"
                 "models:\n  - name: m\n    %s\n    deployments: [{provider: a, model: x}]\n",
                 bad[i].yaml);
        sy_diags_t d = {0};
        sy_config_t *c = sy_config_load_string(text, strlen(text), "t.yaml", &d);
        cr_assert_null(c, "%s: accepted", bad[i].yaml);
        cr_assert_gt(d.n, 0);
        size_t k = 0;
        while (k < d.n && !strstr(d.items[k].message, bad[i].want))
            k++;
        cr_assert_lt(k, d.n, "%s: %s", bad[i].yaml, d.items[0].message);
        cr_assert_eq(d.items[k].line, 4, "%s: line %d", bad[i].yaml, d.items[k].line);
        sy_diags_release(&d);
    }
}

Test(hedge, after_fixed_and_not)
{
    sy_plan_t p;
    start(&p, "fixed", T0);
    cr_assert_eq(sy_plan_hedge_after(&p, T0), 300 * MS);
    sy_plan_first_byte(&p, T0 + 10 * MS);
    cr_assert_eq(sy_plan_hedge_after(&p, T0), 0, "a first byte came: no hedge");
    sy_plan_end(&p, NULL, -1, -1, T0 + 20 * MS);
    cr_assert_eq(sy_plan_hedge_after(&p, T0), 0, "nothing held");

    sy_plan_t q;
    start(&q, "plain", T0);
    cr_assert_eq(sy_plan_hedge_after(&q, T0), 0, "the model does not hedge");
    sy_plan_end(&q, NULL, -1, -1, T0);
    start(&q, "lonely", T0);
    cr_assert_eq(sy_plan_hedge_after(&q, T0), 0, "nowhere else to go");
    sy_plan_end(&q, NULL, -1, -1, T0);
}

/* n first bytes on deployment 0 of m, the i-th after base + i*step. */
static void samples(size_t m, int n, uint64_t base, uint64_t step, uint64_t now)
{
    for (int i = 0; i < n; i++)
        sy_rstate_first_byte(rs, m, 0, base + (uint64_t)i * step, now);
}

Test(hedge, after_percentile)
{
    sy_plan_t p;
    start(&p, "pct", T0);
    cr_assert_eq(sy_plan_hedge_after(&p, T0), 500 * MS, "no samples: after_ms");
    samples(PCT, 19, 10 * MS, 0, T0);
    cr_assert_eq(sy_plan_hedge_after(&p, T0), 500 * MS, "19 samples are not enough");
    samples(PCT, 1, 10 * MS, 0, T0);
    uint64_t t = sy_plan_hedge_after(&p, T0);
    cr_assert(t >= 10 * MS && t <= 12 * MS, "20 samples of 10 ms: %llu", (unsigned long long)t);
    sy_plan_end(&p, NULL, -1, -1, T0);

    start(&p, "pct-only", T0);
    cr_assert_eq(sy_plan_hedge_after(&p, T0), 0, "no samples and no after_ms: no hedge");
    samples(PCT_ONLY, 100, 1 * MS, 1 * MS, T0);
    t = sy_plan_hedge_after(&p, T0);
    cr_assert(t >= 95 * MS && t <= 95 * MS * 12 / 10, "p95 of 1..100 ms: %llu", (unsigned long long)t);
    sy_plan_end(&p, NULL, -1, -1, T0);
}

Test(hedge, histogram_window)
{
    /* samples age out: a minute later they still count, two minutes later not */
    samples(PLAIN, 50, 200 * MS, 0, T0);
    uint64_t t = sy_rstate_ttfb_pct(rs, PLAIN, 0, 50, 20, T0);
    cr_assert(t >= 200 * MS && t <= 240 * MS, "%llu", (unsigned long long)t);
    cr_assert_eq(sy_rstate_ttfb_pct(rs, PLAIN, 0, 50, 51, T0), 0, "fewer than min_samples");
    samples(PLAIN, 50, 20 * MS, 0, T0 + 61 * S); /* rolls: the 200s are the last minute now */
    t = sy_rstate_ttfb_pct(rs, PLAIN, 0, 90, 20, T0 + 61 * S);
    cr_assert(t >= 200 * MS, "the last minute counts: p90 %llu", (unsigned long long)t);
    t = sy_rstate_ttfb_pct(rs, PLAIN, 0, 40, 20, T0 + 61 * S);
    cr_assert(t <= 24 * MS, "p40 among the new: %llu", (unsigned long long)t);
    cr_assert_eq(sy_rstate_ttfb_pct(rs, PLAIN, 0, 50, 1, T0 + 200 * S), 0, "all stale");
    /* extremes land in the end buckets */
    sy_rstate_first_byte(rs, PLAIN, 1, 0, T0);
    sy_rstate_first_byte(rs, PLAIN, 1, 3600 * S, T0);
    cr_assert_leq(sy_rstate_ttfb_pct(rs, PLAIN, 1, 50, 1, T0), 1 * MS);
    cr_assert_geq(sy_rstate_ttfb_pct(rs, PLAIN, 1, 99, 1, T0), 90 * S);
}

Test(hedge, picks_another_untried_deployment)
{
    sy_plan_t p;
    start(&p, "fixed", T0);
    cr_assert_eq(sy_plan_hedge(&p, T0 + 300 * MS, 0), 1);
    cr_assert_eq(p.hedge.held, 1);
    cr_assert_eq(p.hedge.dep, 1);
    cr_assert_str_eq(p.hedge.route.upstream_model, "y");
    cr_assert_str_eq(p.hedge.route.provider->name, "b");
    cr_assert_eq(p.attempts, 2);
    cr_assert_eq(p.model_attempts, 1, "a hedge spends no retry");
    cr_assert_eq(atomic_load(&dep(FIXED, 0)->inflight), 1);
    cr_assert_eq(atomic_load(&dep(FIXED, 1)->inflight), 1);
    cr_assert_eq(sy_plan_hedge(&p, T0 + 300 * MS, 0), 0, "one hedge at a time");
    cr_assert_eq(atomic_load(&rs->models[FIXED].hedges), 1);
    sy_plan_hedge_drop(&p, NULL, -1, T0 + 400 * MS);
    sy_plan_end(&p, NULL, -1, -1, T0 + 400 * MS);
    cr_assert_eq(atomic_load(&dep(FIXED, 0)->inflight), 0);
    cr_assert_eq(atomic_load(&dep(FIXED, 1)->inflight), 0);

    /* every other deployment tried already: no hedge */
    sy_plan_t q;
    start(&q, "fixed", T0);
    sy_error_t e = status_err(500);
    cr_assert_eq(sy_plan_end(&q, &e, -1, -1, T0 + MS), 1);
    uint64_t delay;
    int ra;
    cr_assert_eq(sy_plan_next(&q, T0 + MS, 0, &delay, &e, &ra), SY_PLAN_GO);
    cr_assert_eq(q.dep, 1);
    cr_assert_eq(sy_plan_hedge(&q, T0 + 500 * MS, 0), 0, "a was tried by this request");
    cr_assert_eq(atomic_load(&dep(FIXED, 0)->inflight), 0, "the refused pick was given back");
    sy_plan_end(&q, NULL, -1, -1, T0 + 600 * MS);
}

Test(hedge, not_to_an_open_or_cooling_deployment)
{
    sy_plan_t p;
    /* open b's breaker (failures: 1) */
    start(&p, "guarded", T0);
    sy_plan_hedge(&p, T0, 0);
    cr_assert_eq(p.hedge.dep, 1);
    sy_error_t e = status_err(502);
    sy_plan_hedge_drop(&p, &e, -1, T0 + MS);
    cr_assert_eq(atomic_load(&dep(GUARDED, 1)->failures), 1, "the hedge's failure counts");
    cr_assert_eq(sy_breaker_state(&dep(GUARDED, 1)->cb, T0 + MS), SY_CB_OPEN);
    cr_assert_eq(p.failed, 1, "and is the plan's last");
    sy_plan_end(&p, NULL, -1, -1, T0 + 2 * MS);

    start(&p, "guarded", T0 + S);
    cr_assert_eq(sy_plan_hedge(&p, T0 + S, 0), 0, "b's breaker is open");
    sy_plan_end(&p, NULL, -1, -1, T0 + S);

    /* a cooling deployment (Retry-After) is left alone */
    start(&p, "three", T0);
    cr_assert_eq(sy_plan_hedge(&p, T0, 1), 1);
    int h = p.hedge.dep;
    e = status_err(429);
    sy_plan_hedge_drop(&p, &e, 60, T0 + MS);
    sy_plan_end(&p, NULL, -1, -1, T0 + MS);
    cr_assert_gt(atomic_load(&dep(THREE, (size_t)h)->cool_until), T0 + MS, "it cools down");
    start(&p, "three", T0 + 2 * MS);
    cr_assert_eq(sy_plan_hedge(&p, T0 + 2 * MS, 1), 1);
    cr_assert_neq(p.hedge.dep, h, "not the one cooling down");
    sy_plan_hedge_drop(&p, NULL, -1, T0 + 3 * MS);
    sy_plan_end(&p, NULL, -1, -1, T0 + 3 * MS);
}

Test(hedge, budget)
{
    /* max_fraction 0.5: a hedge in hand at start, half a hedge earned per request */
    int got[8];
    for (int i = 0; i < 8; i++) {
        sy_plan_t p;
        start(&p, "half", T0 + (uint64_t)i * S);
        got[i] = sy_plan_hedge(&p, T0 + (uint64_t)i * S + 100 * MS, 0);
        sy_plan_hedge_drop(&p, NULL, -1, T0 + (uint64_t)i * S + 200 * MS);
        sy_plan_end(&p, NULL, -1, -1, T0 + (uint64_t)i * S + 200 * MS);
    }
    int want[8] = {1, 0, 1, 0, 1, 0, 1, 0};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(got[i], want[i], "request %d", i);
    cr_assert_eq(atomic_load(&rs->models[HALF].hedges), 4);

    /* the budget does not pile up while nobody hedges */
    for (int i = 0; i < 10; i++) {
        sy_plan_t p;
        start(&p, "half", T0 + 100 * S);
        sy_plan_end(&p, NULL, -1, -1, T0 + 100 * S);
    }
    int n = 0;
    for (int i = 0; i < 4; i++) {
        sy_plan_t p;
        start(&p, "half", T0 + 200 * S);
        n += sy_plan_hedge(&p, T0 + 200 * S, 0);
        sy_plan_hedge_drop(&p, NULL, -1, T0 + 200 * S);
        sy_plan_end(&p, NULL, -1, -1, T0 + 200 * S);
    }
    cr_assert_eq(n, 2, "one saved hedge, then one per two requests: %d", n);
}

Test(hedge, the_first_attempt_wins)
{
    sy_plan_t p;
    start(&p, "fixed", T0);
    sy_plan_hedge(&p, T0 + 300 * MS, 0);
    sy_plan_hedge_drop(&p, NULL, -1, T0 + 350 * MS);
    cr_assert_eq(p.hedge.held, 0);
    cr_assert_eq(p.dep, 0, "the first attempt goes on");
    cr_assert_eq(atomic_load(&dep(FIXED, 1)->inflight), 0);
    cr_assert_eq(atomic_load(&dep(FIXED, 1)->failures), 0, "losing is no failure");
    cr_assert_eq(atomic_load(&dep(FIXED, 1)->first_bytes), 1, "its wait is a latency sample");
    uint64_t ewma = atomic_load(&dep(FIXED, 1)->ewma_ns);
    cr_assert(ewma >= 49 * MS && ewma <= 51 * MS, "at least 50 ms: %llu", (unsigned long long)ewma);
    cr_assert_eq(atomic_load(&rs->models[FIXED].hedge_wins), 0);
    sy_plan_first_byte(&p, T0 + 350 * MS);
    cr_assert_eq(sy_plan_end(&p, NULL, -1, 10, T0 + 400 * MS), 0);
}

Test(hedge, the_hedge_wins)
{
    sy_plan_t p;
    start(&p, "fixed", T0);
    sy_plan_hedge(&p, T0 + 300 * MS, 0);
    sy_plan_hedge_promote(&p, NULL, -1, T0 + 320 * MS);
    cr_assert_eq(p.hedge.held, 0);
    cr_assert_eq(p.held, 1);
    cr_assert_eq(p.dep, 1, "the hedge is the attempt now");
    cr_assert_str_eq(p.route.upstream_model, "y");
    cr_assert_eq(atomic_load(&dep(FIXED, 0)->inflight), 0, "the first is given back");
    cr_assert_eq(atomic_load(&dep(FIXED, 0)->failures), 0);
    cr_assert_eq(atomic_load(&dep(FIXED, 0)->first_bytes), 1, "it was at least 320 ms slow");
    cr_assert_eq(atomic_load(&rs->models[FIXED].hedge_wins), 1);
    sy_plan_first_byte(&p, T0 + 320 * MS);
    uint64_t ewma = atomic_load(&dep(FIXED, 1)->ewma_ns);
    cr_assert(ewma >= 19 * MS && ewma <= 21 * MS, "the hedge's own time: %llu", (unsigned long long)ewma);
    cr_assert_eq(sy_plan_end(&p, NULL, -1, 10, T0 + 400 * MS), 0);
    cr_assert_eq(atomic_load(&dep(FIXED, 1)->inflight), 0);
}

Test(hedge, the_first_fails_during_the_race)
{
    sy_plan_t p;
    start(&p, "fixed", T0);
    sy_plan_hedge(&p, T0 + 300 * MS, 0);
    sy_error_t e = status_err(500);
    sy_plan_hedge_promote(&p, &e, -1, T0 + 350 * MS);
    cr_assert_eq(p.dep, 1);
    cr_assert_eq(atomic_load(&dep(FIXED, 0)->failures), 1, "the first's failure counts");
    cr_assert_eq(atomic_load(&dep(FIXED, 0)->first_bytes), 0, "a failure is no latency sample");
    cr_assert_eq(atomic_load(&rs->models[FIXED].hedge_wins), 0, "not a win");
    cr_assert_eq(p.failed, 1);
    /* the hedge fails too: the retries budget (max 1) is still whole */
    sy_error_t e2 = status_err(503);
    cr_assert_eq(sy_plan_end(&p, &e2, -1, -1, T0 + 400 * MS), 1, "one retry left");
    uint64_t delay;
    int ra;
    cr_assert_eq(sy_plan_next(&p, T0 + 400 * MS, UINT64_MAX / 3, &delay, &e, &ra), SY_PLAN_GO);
    cr_assert_eq(p.attempts, 3);
    cr_assert_gt(delay, 0, "both were tried: a backoff");
    cr_assert_eq(sy_plan_end(&p, &e2, -1, -1, T0 + S), 0, "no retry left");
    cr_assert_eq(p.last.status, 503, "the last failure is the answer");
}

Test(hedge, abandoned)
{
    /* a plan asked again (or a call abandoned) with a hedge held ends it
     * as saying nothing */
    sy_plan_t p;
    start(&p, "fixed", T0);
    sy_plan_hedge(&p, T0 + 300 * MS, 0);
    sy_error_t gone;
    memset(&gone, 0, sizeof(gone));
    sy_error_set(&gone, SY_ECLIENTGONE, NULL, NULL);
    sy_plan_hedge_drop(&p, &gone, -1, T0 + 310 * MS);
    cr_assert_eq(atomic_load(&dep(FIXED, 1)->inflight), 0);
    cr_assert_eq(atomic_load(&dep(FIXED, 1)->first_bytes), 0, "no sample from an abandoned call");
    cr_assert_eq(p.failed, 0);

    sy_plan_t q;
    start(&q, "three", T0);
    sy_plan_hedge(&q, T0 + 100 * MS, 0);
    int h = q.hedge.dep;
    uint64_t delay;
    int ra;
    sy_error_t e;
    cr_assert_eq(sy_plan_next(&q, T0 + 200 * MS, 0, &delay, &e, &ra), SY_PLAN_GO);
    cr_assert_eq(q.hedge.held, 0);
    cr_assert_eq(atomic_load(&dep(THREE, (size_t)h)->inflight), 0);
    sy_plan_end(&q, NULL, -1, -1, T0 + 300 * MS);
    sy_plan_end(&p, NULL, -1, -1, T0 + 300 * MS);
}

Test(hedge, a_hedge_not_sent_takes_nothing)
{
    /* max_fraction 0.5: the first request spends the hedge, the second has none */
    for (int i = 0; i < 2; i++) {
        sy_plan_t p;
        start(&p, "half", T0);
        cr_assert_eq(sy_plan_hedge(&p, T0 + 100 * MS, 0), i == 0);
        sy_plan_hedge_drop(&p, NULL, -1, T0 + 200 * MS);
        sy_plan_end(&p, NULL, -1, -1, T0 + 200 * MS);
    }
    cr_assert_eq(atomic_load(&dep(HALF, 1)->calls), 1, "no call counted for the hedge not sent");
    cr_assert_eq(atomic_load(&dep(HALF, 1)->req_cur), 1, "nor a request against its rpm");
}

Test(hedge, unpick_gives_back_everything)
{
    sy_pick_in_t in = {.now = T0, .rnd = 0, .prompt_tokens = -1, .max_tokens = -1};
    sy_pick_out_t out;
    cr_assert_eq(sy_rstate_pick(rs, TIGHT, &in, &out), 0);
    cr_assert_eq(atomic_load(&dep(TIGHT, 0)->inflight), 1);
    sy_rstate_unpick(rs, TIGHT, 0, out.probe, T0);
    cr_assert_eq(atomic_load(&dep(TIGHT, 0)->inflight), 0);
    cr_assert_eq(atomic_load(&dep(TIGHT, 0)->calls), 0);
    cr_assert_eq(atomic_load(&dep(TIGHT, 0)->req_cur), 0);
}

Test(hedge, a_full_deployment_is_not_chosen_even_cooling)
{
    /* cooling after a Retry-After, and at its max_inflight: refused, not a last resort */
    sy_pick_in_t in = {.now = T0, .rnd = 0, .prompt_tokens = -1, .max_tokens = -1};
    sy_pick_out_t out;
    cr_assert_eq(sy_rstate_pick(rs, TIGHT, &in, &out), 0);
    sy_rstate_end(rs, TIGHT, 0, out.probe, SY_OUT_FAILED, -1, 30, T0);
    cr_assert_eq(sy_rstate_pick(rs, TIGHT, &in, &out), 0, "cooling only: still chosen");
    cr_assert(out.cooling);
    cr_assert_eq(sy_rstate_pick(rs, TIGHT, &in, &out), -1, "cooling and full: refused");
    cr_assert(out.saturated);
}

Test(hedge, a_timeout_is_a_latency_sample)
{
    /* no first byte in 5 s: the latency strategy must not take it for a
     * deployment without figures */
    sy_plan_t p;
    start(&p, "fixed", T0);
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    sy_error_set(&e, SY_EUPTIMEOUT, NULL, "no first byte");
    sy_plan_end(&p, &e, -1, -1, T0 + 5 * S);
    uint64_t ewma = atomic_load(&dep(FIXED, 0)->ewma_ns);
    cr_assert(ewma >= 5 * S - MS && ewma <= 5 * S + MS, "%llu", (unsigned long long)ewma);
    /* a refused connection says nothing of latency */
    start(&p, "plain", T0);
    sy_error_set(&e, SY_EUPCONNECT, NULL, "refused");
    sy_plan_end(&p, &e, -1, -1, T0 + MS);
    cr_assert_eq(atomic_load(&dep(PLAIN, (size_t)p.last_dep)->ewma_ns), 0);
}
