/*
 * state_test.c - unit tests for src/router/state.c: the router's live state
 * built from YAML configs (sy_config_load_string) and driven with injected
 * clock values and random numbers (a seeded splitmix64).
 *
 * Each strategy: weighted (the split follows the weights), round_robin
 * (exact rotation), least_inflight, latency (power of two choices on the
 * peak-EWMA, which rises at once and decays with SY_EWMA_TAU_NS), cost
 * (cheapest priced first, local deployments free, max_tokens weighing the
 * answer's price), usage (most headroom against rpm / tpm, the sliding
 * minute). Then what every strategy obeys: max_inflight, the avoid set,
 * Retry-After cooldowns, disabled providers and weight 0, breakers opened
 * through sy_rstate_end and their single probe; and the /api/stats JSON
 * and the Prometheus families.
 */
#include "router/state.h"
#include "config_harness.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <event2/buffer.h>
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1000 * S)

/* Three remote providers (unpriced unless a deployment says), one local
 * Ollama server (priced 0 by default), one optional provider whose key
 * variable is unset (disabled). */
#define PROVIDERS                                                                                      \
    "providers:\n"                                                                                     \
    "  - {name: a, type: openai, base_url: \"https://a.example.invalid/v1\"}\n"                        \
    "  - {name: b, type: openai, base_url: \"https://b.example.invalid/v1\"}\n"                        \
    "  - {name: c, type: openai, base_url: \"https://c.example.invalid/v1\"}\n"                        \
    "  - {name: local, type: ollama, base_url: \"http://localhost:11434\"}\n"                          \
    "  - {name: off, type: openai, base_url: \"https://off.example.invalid/v1\","                      \
    " api_key_env: SY_STATE_TEST_UNSET_KEY, optional: true}\n"

typedef struct fixture {
    sy_config_t *cfg;
    sy_rstate_t *rs;
} fixture_t;

static fixture_t load_at(const char *yaml, int log_level)
{
    fixture_t f;
    sy_log_set_level(log_level); /* the breaker's transitions are logged */
    unsetenv("SY_STATE_TEST_UNSET_KEY");
    f.cfg = sy_test_load_ok(yaml);
    f.rs = sy_rstate_new(f.cfg);
    cr_assert_not_null(f.rs);
    return f;
}

static fixture_t load(const char *yaml)
{
    return load_at(yaml, SY_LOG_ERROR);
}

static void unload(fixture_t *f)
{
    sy_rstate_free(f->rs);
    sy_config_free(f->cfg);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A pick of model m at now with rnd; the chosen deployment stays entered. */
static int pick_ex(fixture_t *f, size_t m, uint64_t now, uint64_t rnd, const uint8_t *avoid, int64_t prompt,
                   int64_t max_tokens, sy_pick_out_t *out)
{
    sy_pick_in_t in = {.now = now, .rnd = rnd, .avoid = avoid, .prompt_tokens = prompt, .max_tokens = max_tokens};
    int d = sy_rstate_pick(f->rs, m, &in, out);
    cr_assert_eq(d, out->dep);
    return d;
}

static int pick(fixture_t *f, size_t m, uint64_t now, uint64_t rnd, sy_pick_out_t *out)
{
    return pick_ex(f, m, now, rnd, NULL, -1, -1, out);
}

static void end_ok(fixture_t *f, size_t m, int d, uint64_t now)
{
    sy_rstate_end(f->rs, m, (size_t)d, 0, SY_OUT_OK, -1, -1, now);
}

static int inflight(fixture_t *f, size_t m, size_t d)
{
    return atomic_load(&sy_rstate_dep(f->rs, m, d)->inflight);
}

/* ---- weighted ----------------------------------------------------------- */

Test(state, weighted_split_follows_weights)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 3}\n"
                                 "      - {provider: b, model: y, weight: 1}\n");
    cr_assert_eq(f.cfg->models[0].route.strategy, SY_STRATEGY_WEIGHTED, "weighted is the default");
    uint64_t seed = 42;
    int count[2] = {0};
    sy_pick_out_t out;
    for (int i = 0; i < 2000; i++) {
        int d = pick(&f, 0, T0 + (uint64_t)i * MS, splitmix64(&seed), &out);
        cr_assert(d == 0 || d == 1, "pick %d", d);
        cr_assert_eq(out.tried, 0);
        cr_assert_eq(out.probe, 0);
        count[d]++;
        end_ok(&f, 0, d, T0 + (uint64_t)i * MS);
    }
    double share = count[0] / 2000.0;
    cr_assert(fabs(share - 0.75) <= 0.05, "weight 3 of 4 got %.3f (%d / %d)", share, count[0], count[1]);
    cr_assert_eq(inflight(&f, 0, 0) + inflight(&f, 0, 1), 0, "every pick was ended");
    cr_assert_eq(atomic_load(&sy_rstate_dep(f.rs, 0, 0)->calls), (unsigned long long)count[0]);
    unload(&f);
}

/* The draw is a pure function of rnd: rnd % 4 in [0,3) is the first. */
Test(state, weighted_draw_maps_rnd)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 3}\n"
                                 "      - {provider: b, model: y, weight: 1}\n");
    sy_pick_out_t out;
    for (uint64_t r = 0; r < 40; r++) {
        int d = pick(&f, 0, T0, r, &out);
        cr_assert_eq(d, r % 4 < 3 ? 0 : 1, "rnd %llu", (unsigned long long)r);
        end_ok(&f, 0, d, T0);
    }
    unload(&f);
}

/* A weighted pick first draws among every deployment and takes the one
 * drawn when it is ready; when it is not, the second draw (among the ready
 * ones) must not depend on the first, or the shares drift: here the naive
 * second draw (the same rnd % 2) would give the third deployment every
 * refusal, 75% in all. */
Test(state, weighted_split_exact_when_some_are_full)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: w, weight: 1}\n"
                                 "      - {provider: b, model: x, weight: 1, max_inflight: 1}\n"
                                 "      - {provider: c, model: y, weight: 1}\n"
                                 "      - {provider: local, model: z, weight: 1, max_inflight: 1}\n"
                                 "  - name: n\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: w, weight: 3, max_inflight: 1}\n"
                                 "      - {provider: b, model: x, weight: 1}\n"
                                 "      - {provider: c, model: y, weight: 2}\n"
                                 "      - {provider: local, model: z, weight: 2}\n");
    cr_assert_geq(sy_rstate_enter(f.rs, 0, 1, T0), 0);
    cr_assert_geq(sy_rstate_enter(f.rs, 0, 3, T0), 0);
    cr_assert_geq(sy_rstate_enter(f.rs, 1, 0, T0), 0);
    uint64_t seed = 7;
    int count[2][4] = {{0}};
    sy_pick_out_t out;
    for (size_t m = 0; m < 2; m++)
        for (int i = 0; i < 4000; i++) {
            int d = pick(&f, m, T0, splitmix64(&seed), &out);
            cr_assert(d >= 0);
            count[m][d]++;
            end_ok(&f, m, d, T0);
        }
    cr_assert_eq(count[0][1] + count[0][3] + count[1][0], 0, "a full deployment was picked");
    double a = count[0][0] / 4000.0, b = count[1][1] / 4000.0, c = count[1][2] / 4000.0;
    cr_assert(fabs(a - 0.5) <= 0.03, "equal weights, two full: %.3f (%d / %d)", a, count[0][0], count[0][2]);
    cr_assert(fabs(b - 0.2) <= 0.03 && fabs(c - 0.4) <= 0.03, "1:2:2 when the heavy one is full: %.3f %.3f", b, c);
    unload(&f);
}

/* ---- round robin ---------------------------------------------------------- */

Test(state, round_robin_rotates_exactly)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: round_robin\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 5}\n"
                                 "      - {provider: b, model: y}\n"
                                 "      - {provider: c, model: z}\n");
    cr_assert_eq(f.cfg->models[0].route.strategy, SY_STRATEGY_ROUND_ROBIN);
    uint64_t seed = 7;
    sy_pick_out_t out;
    for (int i = 0; i < 30; i++) {
        int d = pick(&f, 0, T0, splitmix64(&seed), &out);
        cr_assert_eq(d, i % 3, "pick %d went to %d", i, d);
        end_ok(&f, 0, d, T0);
    }
    unload(&f);
}

/* ---- least in flight ------------------------------------------------------ */

Test(state, least_inflight_picks_the_idlest)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: least_inflight\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x}\n"
                                 "      - {provider: b, model: y}\n"
                                 "      - {provider: c, model: z}\n");
    uint64_t seed = 99;
    sy_pick_out_t out;
    /* picks hold: the first three go to three different deployments */
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        int d = pick(&f, 0, T0, splitmix64(&seed), &out);
        cr_assert_eq(seen & (1 << d), 0, "deployment %d picked twice while others were idle", d);
        seen |= 1 << d;
    }
    cr_assert_eq(seen, 7);
    for (int d = 0; d < 3; d++)
        cr_assert_eq(inflight(&f, 0, (size_t)d), 1);
    /* one ends: the next pick goes there, whatever rnd */
    sy_rstate_end(f.rs, 0, 1, 0, SY_OUT_OK, -1, -1, T0);
    for (int i = 0; i < 20; i++) {
        int d = pick(&f, 0, T0, splitmix64(&seed), &out);
        cr_assert_eq(d, 1, "picked %d with 1 idle", d);
        sy_rstate_end(f.rs, 0, 1, 0, SY_OUT_OK, -1, -1, T0);
    }
    /* a long run of held picks stays level: never two apart */
    for (int i = 0; i < 300; i++) {
        int lo = 1 << 30;
        for (size_t d = 0; d < 3; d++)
            lo = inflight(&f, 0, d) < lo ? inflight(&f, 0, d) : lo;
        int d = pick(&f, 0, T0, splitmix64(&seed), &out);
        cr_assert_eq(inflight(&f, 0, (size_t)d) - 1, lo, "pick %d: %d had %d in flight, the least was %d", i, d,
                     inflight(&f, 0, (size_t)d) - 1, lo);
    }
    unload(&f);
}

/* ---- latency ---------------------------------------------------------------- */

static uint64_t ewma(fixture_t *f, size_t m, size_t d)
{
    return atomic_load(&sy_rstate_dep(f->rs, m, d)->ewma_ns);
}

Test(state, latency_prefers_lower_ewma_times_load)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: latency\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x}\n"
                                 "      - {provider: b, model: y}\n");
    sy_rstate_first_byte(f.rs, 0, 0, 100 * MS, T0);
    sy_rstate_first_byte(f.rs, 0, 1, 500 * MS, T0);
    cr_assert_eq(ewma(&f, 0, 0), 100 * MS, "the first sample is the EWMA");
    cr_assert_eq(ewma(&f, 0, 1), 500 * MS);
    uint64_t seed = 5;
    sy_pick_out_t out;
    /* 100 x (k+1) < 500 for k = 0..3 in flight */
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 50; i++) {
            int d = pick(&f, 0, T0, splitmix64(&seed), &out);
            cr_assert_eq(d, 0, "%d in flight on the fast one: picked the slow one", k);
            sy_rstate_end(f.rs, 0, 0, 0, SY_OUT_OK, -1, -1, T0);
        }
        cr_assert_eq(pick(&f, 0, T0, splitmix64(&seed), &out), 0);
    }
    /* 5 in flight on the fast one: 100 x 6 > 500 x 1 (4 is a tie, either way) */
    cr_assert_eq(sy_rstate_enter(f.rs, 0, 0, T0), 0);
    cr_assert_eq(inflight(&f, 0, 0), 5);
    for (int i = 0; i < 50; i++) {
        int d = pick(&f, 0, T0, splitmix64(&seed), &out);
        cr_assert_eq(d, 1, "600 ms of load against 500 ms: picked the loaded one");
        sy_rstate_end(f.rs, 0, 1, 0, SY_OUT_OK, -1, -1, T0);
    }
    unload(&f);
}

/* With three deployments the pair is drawn: the slowest never wins a pair,
 * the middle one wins the pairs without the fastest. */
Test(state, latency_power_of_two_choices)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: latency\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x}\n"
                                 "      - {provider: b, model: y}\n"
                                 "      - {provider: c, model: z}\n");
    sy_rstate_first_byte(f.rs, 0, 0, 100 * MS, T0);
    sy_rstate_first_byte(f.rs, 0, 1, 200 * MS, T0);
    sy_rstate_first_byte(f.rs, 0, 2, 300 * MS, T0);
    uint64_t seed = 11;
    int count[3] = {0};
    sy_pick_out_t out;
    for (int i = 0; i < 3000; i++) {
        int d = pick(&f, 0, T0, splitmix64(&seed), &out);
        count[d]++;
        end_ok(&f, 0, d, T0);
    }
    cr_assert_eq(count[2], 0, "the slowest won a pair");
    /* the pair {1,2} is one of three: about 1000 */
    cr_assert(count[1] > 800 && count[1] < 1200, "middle: %d", count[1]);
    cr_assert_eq(count[0] + count[1], 3000);
    unload(&f);
}

Test(state, latency_unsampled_is_tried_first)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: latency\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x}\n"
                                 "      - {provider: b, model: y}\n");
    sy_rstate_first_byte(f.rs, 0, 0, 1 * MS, T0);
    sy_pick_out_t out;
    uint64_t seed = 3;
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(pick(&f, 0, T0, splitmix64(&seed), &out), 1, "a deployment with no sample is explored");
        end_ok(&f, 0, 1, T0);
    }
    unload(&f);
}

/* Peak-EWMA: a slower sample is taken at once; faster ones pull it down
 * with weight 1 - exp(-dt / tau). */
Test(state, latency_peak_ewma)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: latency\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x}\n");
    const double tau = (double)SY_EWMA_TAU_NS;
    sy_rstate_first_byte(f.rs, 0, 0, 100 * MS, T0);
    cr_assert_eq(ewma(&f, 0, 0), 100 * MS);
    uint64_t t = T0 + S;
    sy_rstate_first_byte(f.rs, 0, 0, 1000 * MS, t);
    cr_assert_eq(ewma(&f, 0, 0), 1000 * MS, "a slow sample raises the EWMA at once");
    /* a fast sample at the same instant weighs nothing */
    sy_rstate_first_byte(f.rs, 0, 0, 100 * MS, t);
    cr_assert_eq(ewma(&f, 0, 0), 1000 * MS, "a fast sample with no time passed moved the EWMA");
    /* one tau later: 1000 e^-1 + 100 (1 - e^-1) ~ 431 ms */
    t += SY_EWMA_TAU_NS;
    sy_rstate_first_byte(f.rs, 0, 0, 100 * MS, t);
    double want = 1000.0 * exp(-1.0) + 100.0 * (1 - exp(-1.0));
    double got = (double)ewma(&f, 0, 0) / 1e6;
    cr_assert(fabs(got - want) < 0.01, "after one tau: %.3f ms, want %.3f", got, want);
    /* half a tau later */
    t += SY_EWMA_TAU_NS / 2;
    sy_rstate_first_byte(f.rs, 0, 0, 100 * MS, t);
    double w = exp(-0.5 * 1e10 / tau);
    want = want * w + 100.0 * (1 - w);
    got = (double)ewma(&f, 0, 0) / 1e6;
    cr_assert(fabs(got - want) < 0.01, "after 1.5 tau: %.3f ms, want %.3f", got, want);
    /* many taus: it settles on the fast value */
    for (int i = 0; i < 10; i++) {
        t += SY_EWMA_TAU_NS;
        sy_rstate_first_byte(f.rs, 0, 0, 100 * MS, t);
    }
    got = (double)ewma(&f, 0, 0) / 1e6;
    cr_assert(fabs(got - 100.0) < 0.1, "settled at %.3f ms", got);
    /* and a slow one is taken at once again */
    sy_rstate_first_byte(f.rs, 0, 0, 700 * MS, t + 1);
    cr_assert_eq(ewma(&f, 0, 0), 700 * MS);
    cr_assert_eq(atomic_load(&sy_rstate_dep(f.rs, 0, 0)->first_bytes), 16);
    unload(&f);
}

/* ---- cost ------------------------------------------------------------------- */

Test(state, cost_cheapest_priced_first_unpriced_last)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: cost\n"
                                 "    deployments:\n"
                                 "      - {provider: c, model: unpriced, max_inflight: 1}\n"
                                 "      - {provider: b, model: dear, max_inflight: 1,"
                                 " price: {input_per_mtok: 5, output_per_mtok: 15}}\n"
                                 "      - {provider: a, model: cheap, max_inflight: 1,"
                                 " price: {input_per_mtok: 0.5, output_per_mtok: 1.5}}\n");
    const sy_model_conf_t *m = &f.cfg->models[0];
    cr_assert_eq(m->deployments[0].priced, 0);
    cr_assert_eq(m->deployments[1].priced, 1);
    cr_assert_eq(m->deployments[2].price_in, 0.5);
    uint64_t seed = 1;
    sy_pick_out_t out;
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(pick(&f, 0, T0, splitmix64(&seed), &out), 2, "not the cheapest");
        end_ok(&f, 0, 2, T0);
    }
    /* held: cheap is full, then dear, then only the unpriced one is left */
    cr_assert_eq(pick(&f, 0, T0, splitmix64(&seed), &out), 2);
    cr_assert_eq(pick(&f, 0, T0, splitmix64(&seed), &out), 1, "a priced one comes before an unpriced one");
    cr_assert_eq(pick(&f, 0, T0, splitmix64(&seed), &out), 0, "the unpriced one when no priced one is left");
    cr_assert_eq(pick(&f, 0, T0, splitmix64(&seed), &out), -1);
    cr_assert_eq(out.saturated, 1);
    unload(&f);
}

Test(state, cost_local_deployment_is_free)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: cost\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: cheap,"
                                 " price: {input_per_mtok: 0.01, output_per_mtok: 0.01}}\n"
                                 "      - {provider: local, model: \"llama3.2:1b\"}\n"
                                 "      - {provider: c, model: unpriced}\n");
    const sy_deployment_conf_t *dl = &f.cfg->models[0].deployments[1];
    cr_assert_eq(dl->priced, 1, "an Ollama deployment is priced by default");
    cr_assert_eq(dl->price_in, 0.0);
    cr_assert_eq(dl->price_out, 0.0);
    uint64_t seed = 8;
    sy_pick_out_t out;
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(pick(&f, 0, T0, splitmix64(&seed), &out), 1);
        end_ok(&f, 0, 1, T0);
    }
    unload(&f);
}

/* Input-cheap vs output-cheap: the expected answer length decides. */
Test(state, cost_max_tokens_changes_the_choice)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: cost\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: in-cheap,"
                                 " price: {input_per_mtok: 1, output_per_mtok: 10}}\n"
                                 "      - {provider: b, model: out-cheap,"
                                 " price: {input_per_mtok: 5, output_per_mtok: 2}}\n");
    sy_pick_out_t out;
    /* prompt 100: in-cheap 100 + 10 t, out-cheap 500 + 2 t: in-cheap below t = 50 */
    static const struct {
        int64_t max_tokens;
        int want;
    } cases[] = {{1, 0}, {10, 0}, {49, 0}, {51, 1}, {1000, 1}, {-1, 1} /* unsaid: 512 */};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int d = pick_ex(&f, 0, T0, 12345, NULL, 100, cases[i].max_tokens, &out);
        cr_assert_eq(d, cases[i].want, "max_tokens %lld: picked %d", (long long)cases[i].max_tokens, d);
        end_ok(&f, 0, d, T0);
    }
    /* a long prompt with a short answer: the input price decides */
    cr_assert_eq(pick_ex(&f, 0, T0, 1, NULL, 100000, 100, &out), 0);
    unload(&f);
}

/* ---- usage ------------------------------------------------------------------- */

Test(state, usage_most_headroom)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: usage\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, rpm: 10}\n"
                                 "      - {provider: b, model: y, rpm: 20}\n");
    uint64_t seed = 77;
    sy_pick_out_t out;
    int used[2] = {0, 0};
    const double rpm[2] = {10, 20};
    for (int i = 0; i < 30; i++) {
        double h0 = 1.0 - (used[0] + 1) / rpm[0], h1 = 1.0 - (used[1] + 1) / rpm[1];
        int d = pick(&f, 0, T0 + (uint64_t)i * MS, splitmix64(&seed), &out);
        cr_assert(d == 0 || d == 1, "pick %d: none with headroom left (%d, %d used)", i, used[0], used[1]);
        if (h0 != h1)
            cr_assert_eq(d, h0 > h1 ? 0 : 1, "pick %d: headroom %.3f vs %.3f, picked %d", i, h0, h1, d);
        used[d]++;
        end_ok(&f, 0, d, T0 + (uint64_t)i * MS);
    }
    cr_assert_eq(used[0], 10);
    cr_assert_eq(used[1], 20);
    cr_assert_eq(pick(&f, 0, T0 + 30 * MS, 0, &out), -1, "both at their rpm");
    cr_assert_eq(out.saturated, 1);
    cr_assert_eq(out.wait_until, 0);
    unload(&f);
}

Test(state, usage_tpm_headroom)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    strategy: usage\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, tpm: 1000}\n"
                                 "      - {provider: b, model: y, tpm: 1000}\n");
    sy_pick_out_t out;
    /* 700 tokens on a: b has more headroom */
    int d = pick(&f, 0, T0, 0, &out);
    sy_rstate_end(f.rs, 0, (size_t)d, 0, SY_OUT_OK, 700, -1, T0);
    int other = 1 - d;
    for (uint64_t r = 0; r < 20; r++) {
        cr_assert_eq(pick_ex(&f, 0, T0, r, NULL, 100, -1, &out), other);
        sy_rstate_end(f.rs, 0, (size_t)other, 0, SY_OUT_OK, 0, -1, T0);
    }
    /* a prompt must fit in what is left */
    cr_assert_eq(pick_ex(&f, 0, T0, 0, NULL, 400, -1, &out), other, "400 fits in the 1000 left on the other");
    sy_rstate_end(f.rs, 0, (size_t)other, 0, SY_OUT_OK, 700, -1, T0);
    cr_assert_eq(pick_ex(&f, 0, T0, 0, NULL, 400, -1, &out), -1, "400 tokens do not fit in 300");
    cr_assert_eq(out.saturated, 1);
    cr_assert_eq(pick_ex(&f, 0, T0, 0, NULL, 300, -1, &out) >= 0, 1, "300 tokens fit in 300");
    unload(&f);
}

/* Every strategy skips a deployment at its rpm. */
Test(state, rpm_reached_is_skipped)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 1000, rpm: 3}\n"
                                 "      - {provider: b, model: y, weight: 1}\n");
    sy_pick_out_t out;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pick(&f, 0, T0, 0, &out), 0);
        end_ok(&f, 0, 0, T0);
    }
    for (uint64_t r = 0; r < 50; r++) {
        cr_assert_eq(pick(&f, 0, T0 + S, r, &out), 1, "deployment at its rpm picked");
        end_ok(&f, 0, 1, T0 + S);
    }
    unload(&f);
}

/* The minute window: 10 requests at T0 on rpm 10. They count fully for a
 * minute, then fade linearly over the next: half at 90 s, none at 120 s. */
static uint64_t rpm_used(fixture_t *f, uint64_t now);

Test(state, rpm_window_rolls)
{
    const char *yaml = PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, rpm: 10}\n";
    static const struct {
        uint64_t at;
        uint64_t used; /* requests of the last minute at T0 + at */
        int more;      /* picks allowed then */
    } cases[] = {
        {0, 10, 0},       {30 * S, 10, 0}, {60 * S - 1, 10, 0}, {60 * S, 10, 0},
        {75 * S, 7, 3},   {90 * S, 5, 5},  {105 * S, 2, 8},     {120 * S, 0, 10},
        {150 * S, 0, 10}, {600 * S, 0, 10},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture_t f = load(yaml);
        sy_pick_out_t out;
        for (int k = 0; k < 10; k++) {
            cr_assert_eq(pick(&f, 0, T0, 0, &out), 0);
            end_ok(&f, 0, 0, T0);
        }
        uint64_t now = T0 + cases[i].at;
        cr_assert_eq(rpm_used(&f, now), cases[i].used, "at +%llu s: %llu used, want %llu",
                     (unsigned long long)(cases[i].at / S), (unsigned long long)rpm_used(&f, now),
                     (unsigned long long)cases[i].used);
        int n = 0;
        while (pick(&f, 0, now, 0, &out) == 0) {
            end_ok(&f, 0, 0, now);
            cr_assert_lt(++n, 100);
        }
        cr_assert_eq(out.saturated, 1);
        cr_assert_eq(n, cases[i].more, "at +%llu s: %d picks allowed, want %d", (unsigned long long)(cases[i].at / S),
                     n, cases[i].more);
        unload(&f);
    }
}

/* ---- what every strategy obeys ------------------------------------------------ */

Test(state, max_inflight_full_is_skipped)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 100, max_inflight: 2}\n"
                                 "      - {provider: b, model: y, weight: 1, max_inflight: 1}\n");
    sy_pick_out_t out;
    /* rnd 0 always draws the heavy one when it may be called */
    cr_assert_eq(pick(&f, 0, T0, 0, &out), 0);
    cr_assert_eq(pick(&f, 0, T0, 0, &out), 0);
    cr_assert_eq(pick(&f, 0, T0, 0, &out), 1, "a full deployment was picked");
    cr_assert_eq(pick(&f, 0, T0, 0, &out), -1);
    cr_assert_eq(out.saturated, 1);
    cr_assert_eq(out.wait_until, 0);
    cr_assert_eq(inflight(&f, 0, 0), 2);
    cr_assert_eq(inflight(&f, 0, 1), 1);
    end_ok(&f, 0, 0, T0);
    cr_assert_eq(pick(&f, 0, T0, 0, &out), 0, "a freed slot");
    unload(&f);
}

/* Workers picking at the same moment never put more calls on a deployment
 * than its max_inflight: the slot is taken atomically. */
#define RACERS 8
typedef struct racer {
    fixture_t *f;
    pthread_barrier_t *go;
    uint64_t seed;
    int got[1000];
} racer_t;

static void *race_pick(void *arg)
{
    racer_t *r = arg;
    for (int round = 0; round < 1000; round++) {
        pthread_barrier_wait(r->go);
        sy_pick_out_t out;
        sy_pick_in_t in = {.now = T0, .rnd = splitmix64(&r->seed), .prompt_tokens = -1, .max_tokens = -1};
        r->got[round] = sy_rstate_pick(r->f->rs, 0, &in, &out);
        pthread_barrier_wait(r->go); /* every pick of the round made */
        pthread_barrier_wait(r->go); /* the main thread ended them */
    }
    return NULL;
}

Test(state, max_inflight_holds_under_racing_picks, .timeout = 60)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 1, max_inflight: 1}\n"
                                 "      - {provider: b, model: y, weight: 1, max_inflight: 2}\n");
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS + 1);
    racer_t r[RACERS];
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (racer_t){.f = &f, .go = &go, .seed = (uint64_t)i * 7919u};
        cr_assert_eq(pthread_create(&t[i], NULL, race_pick, &r[i]), 0);
    }
    for (int round = 0; round < 1000; round++) {
        pthread_barrier_wait(&go);
        pthread_barrier_wait(&go);
        int n[2] = {0, 0}, none = 0;
        for (int i = 0; i < RACERS; i++) {
            if (r[i].got[round] < 0)
                none++;
            else
                n[r[i].got[round]]++;
        }
        cr_assert(n[0] == 1 && n[1] == 2 && none == RACERS - 3, "round %d: %d on x (max 1), %d on y (max 2), %d refused",
                  round, n[0], n[1], none);
        cr_assert_eq(inflight(&f, 0, 0), 1);
        cr_assert_eq(inflight(&f, 0, 1), 2);
        for (int i = 0; i < RACERS; i++)
            if (r[i].got[round] >= 0)
                end_ok(&f, 0, r[i].got[round], T0);
        pthread_barrier_wait(&go);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    unload(&f);
}

Test(state, avoid_prefers_untried_then_tried)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 100}\n"
                                 "      - {provider: b, model: y, weight: 100}\n"
                                 "      - {provider: c, model: z, weight: 1, max_inflight: 1}\n");
    uint64_t seed = 4;
    sy_pick_out_t out;
    uint8_t avoid[SY_ROUTER_MAX_CAND / 8] = {0};
    avoid[0] = 0x3; /* 0 and 1 tried */
    for (int i = 0; i < 50; i++) {
        int d = pick_ex(&f, 0, T0, splitmix64(&seed), avoid, -1, -1, &out);
        cr_assert_eq(d, 2, "picked tried %d with an untried one free", d);
        cr_assert_eq(out.tried, 0);
        end_ok(&f, 0, d, T0);
    }
    /* the untried one is full: a tried one, said so */
    int held = pick_ex(&f, 0, T0, 0, avoid, -1, -1, &out);
    cr_assert_eq(held, 2);
    int seen = 0;
    for (int i = 0; i < 50; i++) {
        int d = pick_ex(&f, 0, T0, splitmix64(&seed), avoid, -1, -1, &out);
        cr_assert(d == 0 || d == 1, "picked %d", d);
        cr_assert_eq(out.tried, 1);
        seen |= 1 << d;
        end_ok(&f, 0, d, T0);
    }
    cr_assert_eq(seen, 3, "among tried ones the strategy still draws");
    /* every one tried: the same, all marked tried */
    avoid[0] = 0x7;
    end_ok(&f, 0, 2, T0);
    int d = pick_ex(&f, 0, T0, 0, avoid, -1, -1, &out);
    cr_assert(d >= 0);
    cr_assert_eq(out.tried, 1);
    unload(&f);
}

Test(state, retry_after_cools_down)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 100}\n"
                                 "      - {provider: b, model: y, weight: 1}\n"
                                 "  - name: one\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x}\n");
    sy_pick_out_t out;
    cr_assert_eq(pick(&f, 0, T0, 0, &out), 0);
    sy_rstate_end(f.rs, 0, 0, 0, SY_OUT_FAILED, -1, 5, T0);
    cr_assert_eq(atomic_load(&sy_rstate_dep(f.rs, 0, 0)->cool_until), T0 + 5 * S);
    for (uint64_t t = T0; t < T0 + 5 * S; t += S / 4) {
        cr_assert_eq(pick(&f, 0, t, 0, &out), 1, "a cooling deployment was picked");
        end_ok(&f, 0, 1, t);
    }
    cr_assert_eq(pick(&f, 0, T0 + 5 * S, 0, &out), 0, "the cooldown is over");
    end_ok(&f, 0, 0, T0 + 5 * S);

    /* alone: avoided, never refused - picked, and marked cooling */
    cr_assert_eq(pick(&f, 1, T0, 0, &out), 0);
    cr_assert_eq(out.cooling, 0);
    sy_rstate_end(f.rs, 1, 0, 0, SY_OUT_FAILED, -1, 3, T0 + S);
    cr_assert_eq(pick(&f, 1, T0 + 2 * S, 0, &out), 0);
    cr_assert_eq(out.cooling, 1);
    cr_assert_eq(out.saturated, 0);
    /* a shorter Retry-After does not shorten it */
    sy_rstate_end(f.rs, 1, 0, 0, SY_OUT_FAILED, -1, 1, T0 + 2 * S);
    cr_assert_eq(atomic_load(&sy_rstate_dep(f.rs, 1, 0)->cool_until), T0 + 4 * S);
    cr_assert_eq(pick(&f, 1, T0 + 3 * S, 0, &out), 0);
    cr_assert_eq(out.cooling, 1);
    end_ok(&f, 1, 0, T0 + 3 * S);
    cr_assert_eq(pick(&f, 1, T0 + 4 * S, 0, &out), 0);
    cr_assert_eq(out.cooling, 0, "the cooldown is over");
    unload(&f);
}

Test(state, disabled_and_weight_zero_never_picked)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    deployments:\n"
                                 "      - {provider: off, model: x, weight: 1000}\n"
                                 "      - {provider: a, model: y, weight: 0}\n"
                                 "      - {provider: b, model: z, weight: 1}\n"
                                 "  - name: none\n"
                                 "    strategy: least_inflight\n"
                                 "    deployments:\n"
                                 "      - {provider: off, model: x}\n"
                                 "      - {provider: a, model: y, weight: 0}\n");
    cr_assert_eq(f.cfg->providers[4].disabled, 1);
    uint64_t seed = 6;
    sy_pick_out_t out;
    uint8_t avoid[SY_ROUTER_MAX_CAND / 8] = {0x4};
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(pick(&f, 0, T0, splitmix64(&seed), &out), 2);
        end_ok(&f, 0, 2, T0);
        cr_assert_eq(pick_ex(&f, 0, T0, splitmix64(&seed), avoid, -1, -1, &out), 2, "tried or not");
        end_ok(&f, 0, 2, T0);
        cr_assert_eq(pick(&f, 1, T0, splitmix64(&seed), &out), -1);
        cr_assert_eq(out.wait_until, 0, "nothing will ever be callable");
        cr_assert_eq(out.saturated, 0);
    }
    unload(&f);
}

/* failures: 3 through sy_rstate_end open the breaker; picks stop; after
 * the cooldown exactly one pick is the probe. */
Test(state, breaker_through_end)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    circuit_breaker: {failures: 3, window_s: 10, cooldown_s: 5}\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 100}\n"
                                 "      - {provider: b, model: y, weight: 1}\n");
    sy_pick_out_t out;
    uint64_t t = T0;
    for (int i = 0; i < 3; i++, t += S) {
        cr_assert_eq(pick(&f, 0, t, 0, &out), 0, "failure %d: closed, the heavy one", i);
        sy_rstate_end(f.rs, 0, 0, out.probe, SY_OUT_FAILED, -1, -1, t);
    }
    uint64_t opened = t - S;
    sy_dstate_t *d0 = sy_rstate_dep(f.rs, 0, 0);
    cr_assert_eq(sy_breaker_state(&d0->cb, opened), SY_CB_OPEN);
    cr_assert_eq(atomic_load(&d0->failures), 3);
    for (uint64_t r = 0; r < 100; r++) {
        cr_assert_eq(pick(&f, 0, opened + r * 40 * MS, r, &out), 1, "an open deployment was picked");
        end_ok(&f, 0, 1, opened);
    }
    /* the other cools down for 30 s: with the first open, it is still called */
    cr_assert_eq(pick(&f, 0, opened, 0, &out), 1);
    sy_rstate_end(f.rs, 0, 1, 0, SY_OUT_FAILED, -1, 30, opened); /* cools for 30 s */
    cr_assert_eq(pick(&f, 0, opened + S, 0, &out), 1);
    cr_assert_eq(out.cooling, 1);
    end_ok(&f, 0, 1, opened + S);
    /* half-open: one probe, preferred to the cooling one */
    cr_assert_eq(pick(&f, 0, opened + 5 * S, 0, &out), 0);
    cr_assert_eq(out.probe, 1);
    cr_assert_eq(pick(&f, 0, opened + 5 * S, 0, &out), 1, "no second probe: the cooling one");
    cr_assert_eq(out.cooling, 1);
    end_ok(&f, 0, 1, opened + 5 * S);
    /* a neutral end frees it; a success closes it */
    sy_rstate_end(f.rs, 0, 0, 1, SY_OUT_NEUTRAL, -1, -1, opened + 6 * S);
    cr_assert_eq(pick(&f, 0, opened + 6 * S, 0, &out), 0);
    cr_assert_eq(out.probe, 1);
    sy_rstate_end(f.rs, 0, 0, 1, SY_OUT_OK, -1, -1, opened + 7 * S);
    cr_assert_eq(sy_breaker_state(&d0->cb, opened + 7 * S), SY_CB_CLOSED);
    cr_assert_eq(pick(&f, 0, opened + 7 * S, 0, &out), 0);
    cr_assert_eq(out.probe, 0);
    cr_assert_eq(pick(&f, 0, opened + 7 * S, 0, &out), 0, "closed: no limit of one");
    cr_assert_eq(inflight(&f, 0, 0), 2);
    unload(&f);
}

/* A failed probe through sy_rstate_end opens it for a new cooldown. */
Test(state, breaker_probe_failure_through_end)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    circuit_breaker: {failures: 1, window_s: 10, cooldown_s: 5}\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x}\n");
    sy_pick_out_t out;
    cr_assert_eq(pick(&f, 0, T0, 0, &out), 0);
    sy_rstate_end(f.rs, 0, 0, out.probe, SY_OUT_FAILED, -1, -1, T0);
    cr_assert_eq(pick(&f, 0, T0 + 5 * S, 0, &out), 0);
    cr_assert_eq(out.probe, 1);
    sy_rstate_end(f.rs, 0, 0, 1, SY_OUT_FAILED, -1, -1, T0 + 6 * S);
    cr_assert_eq(pick(&f, 0, T0 + 10 * S, 0, &out), -1);
    cr_assert_eq(out.wait_until, T0 + 11 * S);
    cr_assert_eq(pick(&f, 0, T0 + 11 * S, 0, &out), 0);
    cr_assert_eq(out.probe, 1);
    cr_assert_eq(atomic_load(&sy_rstate_dep(f.rs, 0, 0)->cb.opens), 2);
    unload(&f);
}

/* Neutral outcomes (client gone, request at fault) never open it. */
Test(state, neutral_outcomes_do_not_open)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    circuit_breaker: {failures: 1}\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x}\n");
    sy_pick_out_t out;
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(pick(&f, 0, T0 + (uint64_t)i, 0, &out), 0);
        sy_rstate_end(f.rs, 0, 0, 0, SY_OUT_NEUTRAL, -1, -1, T0 + (uint64_t)i);
    }
    cr_assert_eq(atomic_load(&sy_rstate_dep(f.rs, 0, 0)->failures), 0);
    cr_assert_eq(inflight(&f, 0, 0), 0);
    unload(&f);
}

/* ---- reporting ---------------------------------------------------------------- */

static char *drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static json_object *stats(fixture_t *f, uint64_t now)
{
    struct evbuffer *b = evbuffer_new();
    sy_rstate_json(f->rs, now, b);
    char *s = drain(b);
    evbuffer_free(b);
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, s, (int)strlen(s));
    enum json_tokener_error e = json_tokener_get_error(tok);
    json_tokener_free(tok);
    cr_assert_eq(e, json_tokener_success, "invalid JSON (%s): %s", json_tokener_error_desc(e), s);
    cr_assert_not_null(o);
    free(s);
    return o;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    cr_assert(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key, json_object_to_json_string(o));
    return v;
}

static int64_t geti(json_object *o, const char *key)
{
    json_object *v = get(o, key);
    cr_assert(json_object_is_type(v, json_type_int), "\"%s\" is not an integer", key);
    return json_object_get_int64(v);
}

static const char *getstr(json_object *o, const char *key)
{
    json_object *v = get(o, key);
    cr_assert(json_object_is_type(v, json_type_string), "\"%s\" is not a string", key);
    return json_object_get_string(v);
}

static uint64_t rpm_used(fixture_t *f, uint64_t now)
{
    json_object *o = stats(f, now);
    json_object *dep = json_object_array_get_idx(get(json_object_array_get_idx(get(o, "models"), 0), "deployments"), 0);
    uint64_t u = (uint64_t)geti(dep, "rpm_used");
    json_object_put(o);
    return u;
}

Test(state, stats_json)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: \"we\\\"ird\\\\name\"\n"
                                 "    strategy: least_inflight\n"
                                 "    circuit_breaker: {failures: 1, cooldown_s: 5}\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: x, weight: 3, rpm: 100, tpm: 10000}\n"
                                 "      - {provider: b, model: y}\n"
                                 "  - name: second\n"
                                 "    deployments:\n"
                                 "      - {provider: c, model: z}\n");
    sy_pick_out_t out;
    /* deployment 0: two calls, one failed (opens it), 150 tokens; a TTFB of 250 ms */
    cr_assert_eq(sy_rstate_enter(f.rs, 0, 0, T0), 0);
    sy_rstate_first_byte(f.rs, 0, 0, 250 * MS, T0);
    sy_rstate_end(f.rs, 0, 0, 0, SY_OUT_OK, 150, -1, T0);
    cr_assert_eq(sy_rstate_enter(f.rs, 0, 0, T0), 0);
    sy_rstate_end(f.rs, 0, 0, 0, SY_OUT_FAILED, -1, 2, T0);
    /* deployment 1: one in flight */
    cr_assert_eq(pick(&f, 0, T0, 0, &out), 1);
    atomic_fetch_add(&f.rs->models[0].retries, 4);
    atomic_fetch_add(&f.rs->models[0].fallbacks, 2);
    atomic_fetch_add(&f.rs->models[1].unavailable, 1);

    json_object *o = stats(&f, T0 + S);
    json_object *models = get(o, "models");
    cr_assert_eq(json_object_array_length(models), 2);
    json_object *m = json_object_array_get_idx(models, 0);
    cr_assert_str_eq(getstr(m, "name"), "we\"ird\\name");
    cr_assert_str_eq(getstr(m, "strategy"), "least_inflight");
    cr_assert_eq(geti(m, "retries"), 4);
    cr_assert_eq(geti(m, "fallbacks"), 2);
    cr_assert_eq(geti(m, "unavailable"), 0);
    json_object *deps = get(m, "deployments");
    cr_assert_eq(json_object_array_length(deps), 2);
    json_object *d0 = json_object_array_get_idx(deps, 0);
    cr_assert_str_eq(getstr(d0, "provider"), "a");
    cr_assert_str_eq(getstr(d0, "model"), "x");
    cr_assert_eq(geti(d0, "weight"), 3);
    cr_assert_str_eq(getstr(d0, "circuit"), "open");
    cr_assert_eq(geti(d0, "circuit_opens"), 1);
    cr_assert_eq(geti(d0, "reopens_in_ms"), 4000);
    cr_assert_eq(geti(d0, "cooldown_ms"), 1000);
    cr_assert_eq(geti(d0, "inflight"), 0);
    cr_assert_eq(geti(d0, "calls"), 2);
    cr_assert_eq(geti(d0, "failures"), 1);
    cr_assert(fabs(json_object_get_double(get(d0, "ttfb_ewma_ms")) - 250.0) < 1e-6);
    cr_assert_eq(geti(d0, "rpm_used"), 2);
    cr_assert_eq(geti(d0, "tpm_used"), 150);
    json_object *d1 = json_object_array_get_idx(deps, 1);
    cr_assert_str_eq(getstr(d1, "circuit"), "closed");
    cr_assert_eq(geti(d1, "inflight"), 1);
    cr_assert_eq(geti(d1, "reopens_in_ms"), 0);
    cr_assert_eq(geti(d1, "weight"), 1);
    json_object *m1 = json_object_array_get_idx(models, 1);
    cr_assert_str_eq(getstr(m1, "strategy"), "weighted");
    cr_assert_eq(geti(m1, "unavailable"), 1);
    json_object_put(o);

    /* half-open past the cooldown */
    o = stats(&f, T0 + 5 * S);
    d0 = json_object_array_get_idx(get(json_object_array_get_idx(get(o, "models"), 0), "deployments"), 0);
    cr_assert_str_eq(getstr(d0, "circuit"), "half_open");
    json_object_put(o);
    unload(&f);
}

Test(state, metrics_circuit_state)
{
    fixture_t f = load(PROVIDERS "models:\n"
                                 "  - name: m\n"
                                 "    circuit_breaker: {failures: 1, cooldown_s: 5}\n"
                                 "    deployments:\n"
                                 "      - {provider: a, model: closed}\n"
                                 "      - {provider: b, model: half}\n"
                                 "      - {provider: c, model: open}\n");
    sy_rstate_end(f.rs, 0, 1, 0, SY_OUT_FAILED, -1, -1, T0);         /* half-open at T0 + 5 s */
    sy_rstate_end(f.rs, 0, 2, 0, SY_OUT_FAILED, -1, -1, T0 + 4 * S); /* open until T0 + 9 s */
    /* the ends above gave back picks never taken: put the counts straight */
    atomic_store(&sy_rstate_dep(f.rs, 0, 1)->inflight, 0);
    atomic_store(&sy_rstate_dep(f.rs, 0, 2)->inflight, 3);
    sy_rstate_first_byte(f.rs, 0, 0, 1500 * MS, T0);
    struct evbuffer *b = evbuffer_new();
    sy_rstate_metrics(f.rs, T0 + 6 * S, b);
    char *s = drain(b);
    evbuffer_free(b);
    static const char *const want[] = {
        "# TYPE switchyard_circuit_state gauge\n",
        "switchyard_circuit_state{model=\"m\",provider=\"a\",deployment=\"closed\"} 0\n",
        "switchyard_circuit_state{model=\"m\",provider=\"b\",deployment=\"half\"} 1\n",
        "switchyard_circuit_state{model=\"m\",provider=\"c\",deployment=\"open\"} 2\n",
        "switchyard_deployment_inflight{model=\"m\",provider=\"c\",deployment=\"open\"} 3\n",
        "switchyard_deployment_ttfb_ewma_seconds{model=\"m\",provider=\"a\",deployment=\"closed\"} 1.500000\n",
        "switchyard_circuit_opens_total{model=\"m\",provider=\"b\",deployment=\"half\"} 1\n",
        "switchyard_circuit_opens_total{model=\"m\",provider=\"a\",deployment=\"closed\"} 0\n",
        "# TYPE switchyard_router_retries_total counter\n",
        "switchyard_router_unavailable_total{model=\"m\"} 0\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_not_null(strstr(s, want[i]), "missing %s in:\n%s", want[i], s);
    /* every sample line is "name{labels} value" */
    int lines = 0;
    for (char *l = s; *l; l = strchr(l, '\n') + 1) {
        cr_assert_not_null(strchr(l, '\n'), "unterminated line");
        if (*l != '#') {
            cr_assert_not_null(strstr(l, "} "), "bad sample line %.80s", l);
            lines++;
        }
    }
    cr_assert_eq(lines, 4 * 3 + 5 * 1); /* 4 families per deployment, 5 per model */
    free(s);
    unload(&f);
}

/* The breaker's transitions are logged at warn (open) and info (closed),
 * and only when log.level lets them through. */
static char *read_stderr(void)
{
    fflush(stderr);
    FILE *f = cr_get_redirected_stderr();
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    return buf;
}

static void open_then_close(fixture_t *f)
{
    sy_pick_out_t out;
    cr_assert_eq(pick(f, 0, T0, 0, &out), 0);
    sy_rstate_end(f->rs, 0, 0, 0, SY_OUT_FAILED, -1, -1, T0);
    cr_assert_eq(pick(f, 0, T0 + 5 * S, 0, &out), 0);
    cr_assert_eq(out.probe, 1);
    sy_rstate_end(f->rs, 0, 0, 1, SY_OUT_OK, -1, -1, T0 + 5 * S);
}

#define ONE_BREAKER                                                                                    \
    PROVIDERS "models:\n"                                                                              \
              "  - name: m\n"                                                                          \
              "    circuit_breaker: {failures: 1, cooldown_s: 5}\n"                                    \
              "    deployments:\n"                                                                     \
              "      - {provider: a, model: x}\n"

Test(state, circuit_log_lines, .init = cr_redirect_stderr)
{
    fixture_t f = load_at(ONE_BREAKER, SY_LOG_INFO);
    open_then_close(&f);
    char *s = read_stderr();
    cr_assert_not_null(strstr(s, "\"level\":\"warn\",\"msg\":\"circuit open\",\"model\":\"m\""), "%s", s);
    cr_assert_not_null(strstr(s, "\"cooldown_ms\":5000.000"), "%s", s);
    cr_assert_not_null(strstr(s, "\"level\":\"info\",\"msg\":\"circuit closed\""), "%s", s);
    unload(&f);
}

Test(state, circuit_log_obeys_level, .init = cr_redirect_stderr)
{
    fixture_t f = load_at(ONE_BREAKER, SY_LOG_WARN);
    open_then_close(&f);
    char *s = read_stderr();
    cr_assert_not_null(strstr(s, "circuit open"), "%s", s);
    cr_assert_null(strstr(s, "circuit closed"), "an info line at level warn: %s", s);
    unload(&f);

    f = load_at(ONE_BREAKER, SY_LOG_ERROR);
    open_then_close(&f);
    s = read_stderr();
    cr_assert_eq(strlen(s), 0, "lines at level error: %s", s);
    unload(&f);
}
