/*
 * plan_test.c - unit tests for src/router/plan.c: how each failure is
 * classified, the full-jitter backoff's bounds and mean, and whole plans
 * driven by hand with injected clocks and random numbers: the next attempt
 * after a failure (another deployment at once, the same one after a
 * backoff and its Retry-After), retries.max then the fallbacks in order,
 * context_fallbacks for a prompt too long, final errors, the deadline, all
 * breakers open (fail with Retry-After, or wait), direct "provider/model"
 * addresses on router.defaults, and the attempts counter.
 */
#include "router/plan.h"
#include "config_harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1000 * S)

/* ---- sy_plan_classify ------------------------------------------------------ */

static sy_error_t err_code(sy_err_t c)
{
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    sy_error_set(&e, c, NULL, NULL);
    return e;
}

static sy_error_t err_status(int status, const char *msg)
{
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    sy_error_set(&e, SY_EUPSTATUS, NULL, "%s", msg);
    e.status = status;
    return e;
}

Test(plan_classify, transport_errors_retry)
{
    static const sy_err_t codes[] = {SY_EUPCONNECT, SY_EUPTIMEOUT, SY_EUPCLOSED, SY_EUPPROTO};
    for (size_t i = 0; i < 4; i++) {
        sy_error_t e = err_code(codes[i]);
        cr_assert_eq(sy_plan_classify(&e), SY_FAIL_RETRY, "%s", sy_err_name(codes[i]));
    }
}

Test(plan_classify, statuses)
{
    static const struct {
        int status;
        const char *msg;
        sy_fail_kind_t want;
    } cases[] = {
        {429, "rate limited", SY_FAIL_RETRY},
        {408, "request timeout", SY_FAIL_RETRY},
        {500, "internal", SY_FAIL_RETRY},
        {502, "bad gateway", SY_FAIL_RETRY},
        {503, "overloaded", SY_FAIL_RETRY},
        {529, "overloaded_error", SY_FAIL_RETRY},
        {400, "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
         SY_FAIL_CONTEXT},
        {400, "prompt is too long: 210000 tokens > 200000 maximum", SY_FAIL_CONTEXT},
        {400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Prompt Is Too Long\"}}",
         SY_FAIL_CONTEXT},
        {400, "code: context_length_exceeded", SY_FAIL_CONTEXT},
        {413, "request exceeds the context window", SY_FAIL_CONTEXT},
        {400, "temperature must be at most 2", SY_FAIL_FINAL},
        {400, "", SY_FAIL_FINAL},
        {401, "invalid api key", SY_FAIL_FINAL},
        {401, "maximum context length", SY_FAIL_FINAL},
        {403, "forbidden", SY_FAIL_FINAL},
        {404, "model not found", SY_FAIL_FINAL},
        {404, "prompt is too long", SY_FAIL_FINAL},
        {422, "unprocessable", SY_FAIL_FINAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sy_error_t e = err_status(cases[i].status, cases[i].msg);
        cr_assert_eq(sy_plan_classify(&e), cases[i].want, "%d \"%s\": got %d", cases[i].status, cases[i].msg,
                     sy_plan_classify(&e));
    }
}

Test(plan_classify, client_gone_and_local_errors)
{
    sy_error_t e = err_code(SY_ECLIENTGONE);
    cr_assert_eq(sy_plan_classify(&e), SY_FAIL_CLIENT);
    static const sy_err_t finals[] = {SY_ENOMEM, SY_EINTERNAL, SY_EBADREQ, SY_EBADJSON, SY_ENOMODEL,
                                      SY_EUNSUPPORTED, SY_ETOOLARGE};
    for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
        e = err_code(finals[i]);
        cr_assert_eq(sy_plan_classify(&e), SY_FAIL_FINAL, "%s", sy_err_name(finals[i]));
    }
}

/* ---- sy_backoff_ns ------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t cap_ms(unsigned k, uint64_t base, uint64_t max)
{
    uint64_t c = base;
    for (unsigned i = 0; i < k && c < max; i++)
        c *= 2;
    return c < max ? c : max;
}

Test(backoff, bounds)
{
    static const uint32_t params[][2] = {{50, 2000}, {100, 1000}, {1, 600000}, {60000, 600000}, {7, 7}};
    uint64_t seed = 2024;
    for (size_t p = 0; p < sizeof(params) / sizeof(params[0]); p++) {
        uint32_t base = params[p][0], max = params[p][1];
        for (unsigned k = 0; k < 40; k++) {
            uint64_t cap = cap_ms(k, base, max) * MS;
            cr_assert_eq(sy_backoff_ns(k, base, max, 0), 0, "0 is reachable");
            cr_assert_eq(sy_backoff_ns(k, base, max, cap), cap, "k %u base %u max %u: the cap is reachable", k, base,
                         max);
            cr_assert_eq(sy_backoff_ns(k, base, max, cap + 1), 0);
            for (int i = 0; i < 200; i++) {
                uint64_t d = sy_backoff_ns(k, base, max, splitmix64(&seed));
                cr_assert_leq(d, cap, "k %u base %u max %u: %llu ns above %llu", k, base, max, (unsigned long long)d,
                              (unsigned long long)cap);
            }
            cr_assert_leq(sy_backoff_ns(k, base, max, UINT64_MAX), cap);
        }
    }
    /* the first caps: 50, 100, 200, ... 1600, then 2000 for ever */
    static const uint64_t caps[] = {50, 100, 200, 400, 800, 1600, 2000, 2000};
    for (unsigned k = 0; k < 8; k++)
        cr_assert_eq(sy_backoff_ns(k, 50, 2000, 3 * (caps[k] * MS + 1) - 1), caps[k] * MS, "k %u", k);
    cr_assert_eq(sy_backoff_ns(1000000, 50, 2000, 2000 * MS), 2000 * MS, "a huge k does not overflow");
    cr_assert_eq(sy_backoff_ns(3, 0, 2000, 12345), 0, "backoff_ms 0: never waits");
    cr_assert_eq(sy_backoff_ns(0, 5000, 2000, 2000 * MS), 2000 * MS, "a base above the max is capped");
    cr_assert_eq(sy_backoff_ns(0, 5000, 2000, 2000 * MS + 1), 0);
}

Test(backoff, mean_is_half_the_cap)
{
    uint64_t seed = 99;
    for (unsigned k = 0; k < 8; k++) {
        double cap = (double)(cap_ms(k, 50, 2000) * MS), sum = 0;
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int i = 0; i < 10000; i++) {
            uint64_t d = sy_backoff_ns(k, 50, 2000, splitmix64(&seed));
            sum += (double)d;
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        double mean = sum / 10000;
        cr_assert(fabs(mean - cap / 2) < cap * 0.02, "k %u: mean %.0f, cap %.0f", k, mean, cap);
        cr_assert_lt((double)lo, cap * 0.01, "k %u: the low end is not drawn", k);
        cr_assert_gt((double)hi, cap * 0.99, "k %u: the high end is not drawn", k);
    }
}

/* ---- plans ------------------------------------------------------------------------ */

#define CONFIG                                                                                         \
    "providers:\n"                                                                                     \
    "  - {name: a, type: openai, base_url: \"https://a.example.invalid/v1\"}\n"                        \
    "  - {name: b, type: openai, base_url: \"https://b.example.invalid/v1\"}\n"                        \
    "  - {name: off, type: openai, base_url: \"https://off.example.invalid/v1\","                      \
    " api_key_env: SY_PLAN_TEST_UNSET_KEY, optional: true}\n"                                          \
    "router:\n"                                                                                        \
    "  defaults:\n"                                                                                    \
    "    retries: {max: 2, backoff_ms: 100, max_backoff_ms: 2000}\n"                                   \
    "    circuit_breaker: {failures: 0}\n"                                                             \
    "models:\n"                                                                                        \
    "  - name: two\n" /* 0 */                                                                          \
    "    deployments:\n"                                                                               \
    "      - {provider: a, model: x, weight: 100}\n"                                                   \
    "      - {provider: b, model: y, weight: 1}\n"                                                     \
    "  - name: solo\n" /* 1 */                                                                         \
    "    deployments: [{provider: a, model: s}]\n"                                                     \
    "  - name: main\n" /* 2 */                                                                         \
    "    retries: {max: 1}\n"                                                                          \
    "    fallbacks: [fb1, fb2]\n"                                                                      \
    "    context_fallbacks: [big]\n"                                                                   \
    "    deployments: [{provider: a, model: main-x}]\n"                                                \
    "  - name: fb1\n" /* 3 */                                                                          \
    "    retries: {max: 0}\n"                                                                          \
    "    deployments: [{provider: b, model: fb1-y}]\n"                                                 \
    "  - name: fb2\n" /* 4 */                                                                          \
    "    retries: {max: 0}\n"                                                                          \
    "    deployments: [{provider: a, model: fb2-x}]\n"                                                 \
    "  - name: big\n" /* 5 */                                                                          \
    "    retries: {max: 0}\n"                                                                          \
    "    deployments: [{provider: b, model: big-y}]\n"                                                 \
    "  - name: short\n" /* 6 */                                                                        \
    "    timeout_ms: 1000\n"                                                                           \
    "    deployments: [{provider: a, model: s}]\n"                                                     \
    "  - name: fragile\n" /* 7 */                                                                      \
    "    circuit_breaker: {failures: 1, cooldown_s: 30}\n"                                             \
    "    deployments:\n"                                                                               \
    "      - {provider: a, model: f1}\n"                                                               \
    "      - {provider: b, model: f2}\n"                                                               \
    "  - name: patient\n" /* 8 */                                                                      \
    "    circuit_breaker: {failures: 1, cooldown_s: 30}\n"                                             \
    "    when_all_open: wait\n"                                                                        \
    "    deployments: [{provider: a, model: p1}]\n"                                                    \
    "  - name: hasty\n" /* 9 */                                                                        \
    "    circuit_breaker: {failures: 1, cooldown_s: 30}\n"                                             \
    "    when_all_open: wait\n"                                                                        \
    "    timeout_ms: 10000\n"                                                                          \
    "    deployments: [{provider: a, model: h1}]\n"                                                    \
    "  - name: chain\n" /* 10 */                                                                       \
    "    retries: {max: 1}\n"                                                                          \
    "    fallbacks: [guarded]\n"                                                                       \
    "    deployments: [{provider: a, model: c1}]\n"                                                    \
    "  - name: guarded\n" /* 11 */                                                                     \
    "    circuit_breaker: {failures: 1, cooldown_s: 30}\n"                                             \
    "    deployments: [{provider: b, model: g1}]\n"                                                    \
    "  - name: keyless\n" /* 12 */                                                                     \
    "    deployments: [{provider: off, model: k}]\n"                                                   \
    "  - name: unreachable\n" /* 13 */                                                                 \
    "    circuit_breaker: {failures: 1, cooldown_s: 30}\n"                                             \
    "    fallbacks: [fragile]\n"                                                                       \
    "    deployments: [{provider: a, model: u1}]\n"                                                    \
    "  - name: busy\n" /* 14 */                                                                        \
    "    when_all_open: wait\n"                                                                        \
    "    fallbacks: [busy2]\n"                                                                         \
    "    deployments: [{provider: a, model: b1, max_inflight: 1}]\n"                                   \
    "  - name: busy2\n" /* 15 */                                                                       \
    "    deployments: [{provider: b, model: b2, max_inflight: 1}]\n"

enum { TWO, SOLO, MAIN, FB1, FB2, BIG, SHORT, FRAGILE, PATIENT, HASTY, CHAIN, GUARDED, KEYLESS, UNREACHABLE, BUSY,
       BUSY2 };

static sy_config_t *cfg;
static sy_rstate_t *rs;

static void setup(void)
{
    sy_log_set_level(SY_LOG_ERROR);
    unsetenv("SY_PLAN_TEST_UNSET_KEY");
    cfg = sy_test_load_ok(CONFIG);
    rs = sy_rstate_new(cfg);
    cr_assert_not_null(rs);
}

static void teardown(void)
{
    sy_rstate_free(rs);
    sy_config_free(cfg);
}

TestSuite(plan, .init = setup, .fini = teardown);

static void start(sy_plan_t *p, const char *name, uint64_t now)
{
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    sy_err_t rc = sy_plan_init(p, rs, cfg, NULL, name, now, &e);
    cr_assert_eq(rc, SY_OK, "init \"%s\": %s (%s)", name, sy_err_name(rc), e.message);
}

/* An attempt that must be GO; returns its delay. */
static uint64_t go(sy_plan_t *p, uint64_t now, uint64_t rnd)
{
    uint64_t delay = 12345;
    sy_error_t e;
    int ra = 0;
    sy_plan_act_t a = sy_plan_next(p, now, rnd, &delay, &e, &ra);
    cr_assert_eq(a, SY_PLAN_GO, "expected GO, got %d (%s)", a, a == SY_PLAN_FAIL ? e.message : "");
    return delay;
}

static const char *dep_model(const sy_plan_t *p)
{
    return p->route.upstream_model;
}

static int dep_calls(size_t m, size_t d)
{
    return (int)atomic_load(&sy_rstate_dep(rs, m, d)->calls);
}

Test(plan, first_attempt)
{
    sy_plan_t p;
    start(&p, "two", T0);
    cr_assert_eq(p.attempts, 0);
    cr_assert_eq(go(&p, T0, 0), 0, "the first attempt waits for nothing");
    cr_assert_eq(p.attempts, 1);
    cr_assert_eq(p.dep, 0);
    cr_assert_str_eq(dep_model(&p), "x");
    cr_assert_str_eq(p.route.provider->name, "a");
    cr_assert_eq(p.route.model, &cfg->models[TWO]);
    cr_assert_eq(sy_plan_model(&p), &cfg->models[TWO]);
    cr_assert_null(sy_plan_fallback(&p));
    cr_assert_eq(sy_plan_conf(&p), &cfg->models[TWO].route);
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, TWO, 0)->inflight), 1);
    cr_assert_eq(sy_plan_end(&p, NULL, -1, 42, T0 + S), 0, "success: nothing follows");
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, TWO, 0)->inflight), 0);
    cr_assert_eq(sy_plan_end(&p, NULL, -1, 42, T0 + S), 0, "a second end does nothing");
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, TWO, 0)->inflight), 0);
}

Test(plan, init_errors)
{
    sy_plan_t p;
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    cr_assert_eq(sy_plan_init(&p, rs, cfg, NULL, "nope", T0, &e), SY_ENOMODEL);
    cr_assert_eq(sy_plan_init(&p, rs, cfg, NULL, "keyless", T0, &e), SY_ENOKEY);
    cr_assert_eq(sy_plan_init(&p, rs, cfg, NULL, "zzz/model", T0, &e), SY_ENOMODEL);
}

Test(plan, other_deployment_at_once)
{
    sy_plan_t p;
    start(&p, "two", T0);
    go(&p, T0, 0);
    cr_assert_eq(p.dep, 0);
    sy_error_t e = err_status(500, "boom");
    cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0 + S), 1);
    /* rnd 0 would draw deployment 0 again: it is tried, 1 is not */
    cr_assert_eq(go(&p, T0 + S, 0), 0, "an untried deployment is called at once");
    cr_assert_eq(p.dep, 1);
    cr_assert_str_eq(dep_model(&p), "y");
    cr_assert_str_eq(p.route.provider->name, "b");
    cr_assert_eq(p.attempts, 2);
    cr_assert_eq(atomic_load(&rs->models[TWO].retries), 1);
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, TWO, 0)->failures), 1);
    cr_assert_eq(sy_plan_end(&p, NULL, -1, -1, T0 + 2 * S), 0);
}

Test(plan, same_deployment_backs_off)
{
    uint64_t seed = 17;
    uint64_t max_seen = 0;
    for (int run = 0; run < 200; run++) {
        sy_plan_t p;
        uint64_t t = T0 + (uint64_t)run * 100 * S;
        start(&p, "solo", t);
        cr_assert_eq(go(&p, t, splitmix64(&seed)), 0);
        sy_error_t e = err_code(SY_EUPTIMEOUT);
        for (unsigned k = 0; k < 2; k++) {
            t += S;
            cr_assert_eq(sy_plan_end(&p, &e, -1, -1, t), 1, "retry %u of 2", k + 1);
            uint64_t d = go(&p, t, splitmix64(&seed));
            uint64_t cap = (100ull << k) * MS;
            cr_assert_leq(d, cap, "retry %u: %llu ns above %llu", k + 1, (unsigned long long)d,
                          (unsigned long long)cap);
            max_seen = d > max_seen ? d : max_seen;
            cr_assert_eq(p.dep, 0);
            cr_assert_eq(p.sent_at, t + d);
        }
        cr_assert_eq(p.attempts, 3);
        cr_assert_eq(sy_plan_end(&p, &e, -1, -1, t + S), 0, "1 + retries.max attempts, then nothing");
        cr_assert_eq(p.failed, 1);
        cr_assert_eq(p.last.code, SY_EUPTIMEOUT);
    }
    cr_assert_gt(max_seen, 100 * MS, "the second backoff never went past the first's cap");
}

/* A 429 with Retry-After: the deployment is not called again before it,
 * and not much later either (the wait is counted once). */
Test(plan, retry_after_same_deployment)
{
    uint64_t seed = 3;
    for (int run = 0; run < 50; run++) {
        sy_plan_t p;
        uint64_t t = T0 + (uint64_t)run * 100 * S;
        start(&p, "solo", t);
        go(&p, t, splitmix64(&seed));
        sy_error_t e = err_status(429, "slow down");
        uint64_t failed_at = t + S;
        cr_assert_eq(sy_plan_end(&p, &e, 1, -1, failed_at), 1);
        /* ask until GO, waiting what it says */
        uint64_t now = failed_at, delay = 0;
        sy_error_t err;
        int ra;
        sy_plan_act_t a;
        int waits = 0;
        while ((a = sy_plan_next(&p, now, splitmix64(&seed), &delay, &err, &ra)) == SY_PLAN_WAIT) {
            cr_assert_lt(++waits, 10);
            now += delay;
        }
        cr_assert_eq(a, SY_PLAN_GO, "%s", err.message);
        uint64_t sent = now + delay;
        cr_assert_geq(sent, failed_at + S, "called %lld ms before its Retry-After ended",
                      (long long)((failed_at + S - sent) / MS));
        cr_assert_leq(sent, failed_at + S + 100 * MS, "Retry-After 1 s + a backoff of at most 100 ms, but sent "
                                                       "after %llu ms",
                      (unsigned long long)((sent - failed_at) / MS));
        cr_assert_eq(p.sent_at, sent);
        sy_plan_end(&p, NULL, -1, -1, sent + S);
    }
}

/* Retry-After cools the deployment down for every request. */
Test(plan, retry_after_cools_down_for_others)
{
    sy_plan_t p, q;
    start(&p, "two", T0);
    go(&p, T0, 0);
    cr_assert_eq(p.dep, 0);
    sy_error_t e = err_status(429, "slow down");
    cr_assert_eq(sy_plan_end(&p, &e, 5, -1, T0), 1);
    for (int i = 0; i < 20; i++) {
        uint64_t t = T0 + (uint64_t)i * 200 * MS;
        start(&q, "two", t);
        cr_assert_eq(go(&q, t, 0), 0);
        cr_assert_eq(q.dep, 1, "another request called the cooling deployment at +%d ms", i * 200);
        sy_plan_end(&q, NULL, -1, -1, t);
    }
    start(&q, "two", T0 + 5 * S);
    go(&q, T0 + 5 * S, 0);
    cr_assert_eq(q.dep, 0, "the cooldown is over");
    sy_plan_end(&q, NULL, -1, -1, T0 + 5 * S);
}

/* A Retry-After longer than the plan may wait (max_backoff_ms): the error
 * is the answer, with its Retry-After. */
Test(plan, retry_after_too_long_fails_with_it)
{
    sy_plan_t p;
    start(&p, "solo", T0);
    go(&p, T0, 0);
    sy_error_t e = err_status(429, "slow down");
    cr_assert_eq(sy_plan_end(&p, &e, 30, -1, T0), 1);
    uint64_t delay;
    sy_error_t err;
    int ra;
    cr_assert_eq(sy_plan_next(&p, T0, 0, &delay, &err, &ra), SY_PLAN_FAIL);
    cr_assert_eq(err.code, SY_EUPSTATUS);
    cr_assert_eq(err.status, 429);
    cr_assert_eq(ra, 30);
}

Test(plan, fallbacks_in_order)
{
    sy_plan_t p;
    sy_error_t e = err_status(503, "overloaded");
    start(&p, "main", T0);
    /* main: 1 + retries.max (1) attempts */
    go(&p, T0, 0);
    cr_assert_str_eq(dep_model(&p), "main-x");
    cr_assert_null(sy_plan_fallback(&p));
    cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 1);
    go(&p, T0, 0);
    cr_assert_str_eq(dep_model(&p), "main-x");
    cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 1, "main exhausted: fb1 follows");
    /* fb1 */
    cr_assert_eq(go(&p, T0, 0), 0, "a fallback's first deployment is untried");
    cr_assert_str_eq(dep_model(&p), "fb1-y");
    cr_assert_not_null(sy_plan_fallback(&p));
    cr_assert_str_eq(sy_plan_fallback(&p), "fb1");
    cr_assert_eq(sy_plan_model(&p), &cfg->models[FB1]);
    cr_assert_eq(sy_plan_conf(&p)->retries, 0, "the fallback's own retries");
    cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 1, "fb1 exhausted: fb2 follows");
    /* fb2 */
    go(&p, T0, 0);
    cr_assert_str_eq(dep_model(&p), "fb2-x");
    cr_assert_str_eq(sy_plan_fallback(&p), "fb2");
    cr_assert_eq(p.attempts, 4);
    cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 0, "nothing after the last fallback");
    cr_assert_eq(atomic_load(&rs->models[MAIN].fallbacks), 2);
    cr_assert_eq(atomic_load(&rs->models[MAIN].retries), 3);
    cr_assert_eq(p.last.status, 503);
}

Test(plan, fallback_answers)
{
    sy_plan_t p;
    sy_error_t e = err_code(SY_EUPCONNECT);
    start(&p, "main", T0);
    go(&p, T0, 0);
    sy_plan_end(&p, &e, -1, -1, T0);
    go(&p, T0, 0);
    sy_plan_end(&p, &e, -1, -1, T0);
    go(&p, T0, 0);
    cr_assert_str_eq(sy_plan_fallback(&p), "fb1");
    cr_assert_eq(sy_plan_end(&p, NULL, -1, 10, T0 + S), 0);
    cr_assert_str_eq(sy_plan_fallback(&p), "fb1", "the answer came from fb1");
}

Test(plan, context_fallbacks)
{
    sy_plan_t p;
    start(&p, "main", T0);
    go(&p, T0, 0);
    sy_error_t e = err_status(400, "This model's maximum context length is 8192 tokens");
    cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 1);
    cr_assert_eq(go(&p, T0, 0), 0);
    cr_assert_str_eq(dep_model(&p), "big-y");
    cr_assert_str_eq(sy_plan_fallback(&p), "big");
    cr_assert_eq(p.context, 1);
    /* a too-long prompt says nothing of the deployment */
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, MAIN, 0)->failures), 0);
    /* big fails: context_fallbacks has no second entry, fallbacks are not used */
    sy_error_t e2 = err_status(500, "boom");
    cr_assert_eq(sy_plan_end(&p, &e2, -1, -1, T0), 0);
    cr_assert_eq(dep_calls(FB1, 0), 0);
}

Test(plan, context_error_without_context_fallbacks_stops)
{
    sy_plan_t p;
    start(&p, "two", T0);
    go(&p, T0, 0);
    sy_error_t e = err_status(400, "prompt is too long: 300000 tokens > 200000 maximum");
    cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 0, "another deployment of the same model would refuse it too");
    cr_assert_eq(p.last.status, 400);
}

Test(plan, final_and_client_errors_stop)
{
    static const int statuses[] = {400, 401, 403, 404};
    for (size_t i = 0; i < 4; i++) {
        sy_plan_t p;
        start(&p, "main", T0);
        go(&p, T0, 0);
        sy_error_t e = err_status(statuses[i], "no");
        cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 0, "%d was retried", statuses[i]);
        cr_assert_eq(p.failed, 1);
        cr_assert_eq(p.last.status, statuses[i]);
    }
    sy_plan_t p;
    start(&p, "main", T0);
    go(&p, T0, 0);
    sy_error_t e = err_code(SY_ECLIENTGONE);
    cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 0);
    cr_assert_eq(p.failed, 0, "the client leaving is not the upstream's failure");
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, MAIN, 0)->failures), 0, "none counted against the breaker");
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, MAIN, 0)->inflight), 0);
}

/* timeout_ms 1000: a retry whose backoff would end past the deadline is
 * not made; nothing is retried once it has passed. */
Test(plan, deadline)
{
    uint64_t seed = 5;
    int went = 0, stopped = 0;
    for (int run = 0; run < 200; run++) {
        sy_plan_t p;
        uint64_t t = T0 + (uint64_t)run * 10 * S;
        start(&p, "short", t);
        cr_assert_eq(p.deadline, t + 1000 * MS);
        go(&p, t, splitmix64(&seed));
        sy_error_t e = err_status(502, "bad gateway");
        uint64_t now = t + 950 * MS;
        cr_assert_eq(sy_plan_end(&p, &e, -1, -1, now), 1);
        uint64_t delay;
        sy_error_t err;
        int ra;
        sy_plan_act_t a = sy_plan_next(&p, now, splitmix64(&seed), &delay, &err, &ra);
        if (a == SY_PLAN_GO) {
            cr_assert_lt(now + delay, p.deadline, "a retry sent at +%llu ms, past the deadline",
                         (unsigned long long)((now + delay - t) / MS));
            went++;
            cr_assert_eq(sy_plan_end(&p, &e, -1, -1, t + 1000 * MS), 0, "a retry after the deadline");
        } else {
            cr_assert_eq(a, SY_PLAN_FAIL);
            cr_assert_eq(err.status, 502, "the last error is the answer");
            stopped++;
        }
        cr_assert_eq(atomic_load(&sy_rstate_dep(rs, SHORT, 0)->inflight), 0);
    }
    cr_assert_gt(went, 0);
    cr_assert_gt(stopped, 0);
}

/* Every breaker open: 503 no_deployment_available with Retry-After =
 * the seconds until the first half-opens, rounded up. */
static void open_breaker(size_t m, size_t d, uint64_t at)
{
    cr_assert_eq(sy_rstate_enter(rs, m, d, at), 0);
    sy_rstate_end(rs, m, d, 0, SY_OUT_FAILED, -1, -1, at);
    cr_assert_eq(sy_breaker_state(&sy_rstate_dep(rs, m, d)->cb, at), SY_CB_OPEN);
}

Test(plan, all_open_fails_with_retry_after)
{
    open_breaker(FRAGILE, 0, T0);
    open_breaker(FRAGILE, 1, T0 + 10 * S); /* half-opens at T0 + 40 s */
    static const struct {
        uint64_t at;
        int ra;
    } cases[] = {{T0, 30}, {T0 + 2500 * MS, 28}, {T0 + 29 * S, 1}, {T0 + 29 * S + 1, 1}};
    for (size_t i = 0; i < 4; i++) {
        sy_plan_t p;
        start(&p, "fragile", cases[i].at);
        uint64_t delay = 1;
        sy_error_t err;
        int ra = 0;
        cr_assert_eq(sy_plan_next(&p, cases[i].at, 0, &delay, &err, &ra), SY_PLAN_FAIL);
        cr_assert_eq(err.code, SY_EUNAVAIL);
        cr_assert_eq(sy_error_status(&err), 503);
        cr_assert_eq(ra, cases[i].ra, "at +%llu ms: Retry-After %d, want %d",
                     (unsigned long long)((cases[i].at - T0) / MS), ra, cases[i].ra);
        cr_assert_not_null(strstr(err.message, "fragile"), "%s", err.message);
        cr_assert_eq(delay, 0);
    }
    cr_assert_eq(atomic_load(&rs->models[FRAGILE].unavailable), 4);
    /* half-open: the probe goes */
    sy_plan_t p;
    start(&p, "fragile", T0 + 30 * S);
    cr_assert_eq(go(&p, T0 + 30 * S, 0), 0);
    cr_assert_eq(p.dep, 0);
    cr_assert_eq(p.probe, 1);
    cr_assert_eq(sy_plan_end(&p, NULL, -1, -1, T0 + 31 * S), 0);
    cr_assert_eq(sy_breaker_state(&sy_rstate_dep(rs, FRAGILE, 0)->cb, T0 + 31 * S), SY_CB_CLOSED);
}

/* The fallbacks' breakers count too: the soonest of all. */
Test(plan, all_open_with_fallbacks)
{
    open_breaker(UNREACHABLE, 0, T0);
    open_breaker(FRAGILE, 0, T0 - 20 * S); /* half-opens at T0 + 10 s */
    open_breaker(FRAGILE, 1, T0);
    sy_plan_t p;
    start(&p, "unreachable", T0 + S);
    uint64_t delay;
    sy_error_t err;
    int ra;
    cr_assert_eq(sy_plan_next(&p, T0 + S, 0, &delay, &err, &ra), SY_PLAN_FAIL);
    cr_assert_eq(err.code, SY_EUNAVAIL);
    cr_assert_eq(ra, 9);
    cr_assert_not_null(strstr(err.message, "and of its fallbacks"), "%s", err.message);
}

Test(plan, when_all_open_wait)
{
    open_breaker(PATIENT, 0, T0);
    sy_plan_t p;
    start(&p, "patient", T0 + 12 * S);
    uint64_t delay = 0;
    sy_error_t err;
    int ra;
    cr_assert_eq(sy_plan_next(&p, T0 + 12 * S, 0, &delay, &err, &ra), SY_PLAN_WAIT);
    cr_assert_eq(delay, 18 * S, "wait until the half-open");
    cr_assert_eq(p.attempts, 0);
    cr_assert_eq(go(&p, T0 + 30 * S, 0), 0);
    cr_assert_eq(p.probe, 1);
    cr_assert_eq(p.attempts, 1);
    /* a second request meanwhile: the probe is out, nothing says when */
    sy_plan_t q;
    start(&q, "patient", T0 + 30 * S);
    cr_assert_eq(sy_plan_next(&q, T0 + 30 * S, 0, &delay, &err, &ra), SY_PLAN_FAIL);
    cr_assert_eq(err.code, SY_EUNAVAIL);
    sy_plan_end(&p, NULL, -1, -1, T0 + 31 * S);
}

/* when_all_open: wait never waits past the deadline (timeout_ms 10 s,
 * cooldown 30 s). */
Test(plan, when_all_open_wait_bounded_by_deadline)
{
    open_breaker(HASTY, 0, T0);
    sy_plan_t p;
    start(&p, "hasty", T0 + 15 * S);
    uint64_t delay;
    sy_error_t err;
    int ra;
    cr_assert_eq(sy_plan_next(&p, T0 + 15 * S, 0, &delay, &err, &ra), SY_PLAN_FAIL);
    cr_assert_eq(err.code, SY_EUNAVAIL);
    cr_assert_eq(ra, 15);
    /* 5 s before the half-open: within the deadline, it waits */
    start(&p, "hasty", T0 + 25 * S);
    cr_assert_eq(sy_plan_next(&p, T0 + 25 * S, 0, &delay, &err, &ra), SY_PLAN_WAIT);
    cr_assert_eq(delay, 5 * S);
}

/* A plan that waited (its model cooling, its fallback's breaker open)
 * comes back to where it was: its tried deployments and its attempts are
 * kept, so retries.max still holds. */
Test(plan, wait_keeps_the_budget)
{
    open_breaker(GUARDED, 0, T0);
    sy_plan_t p;
    start(&p, "chain", T0 + S);
    go(&p, T0 + S, 0);
    sy_error_t e = err_status(429, "slow down");
    cr_assert_eq(sy_plan_end(&p, &e, 1, -1, T0 + S), 1);
    uint64_t now = T0 + S, delay;
    sy_error_t err;
    int ra;
    int sent = 1;
    for (int i = 0; i < 20; i++) {
        sy_plan_act_t a = sy_plan_next(&p, now, (uint64_t)i, &delay, &err, &ra);
        if (a == SY_PLAN_WAIT) {
            now += delay;
            continue;
        }
        if (a == SY_PLAN_FAIL)
            break;
        sent++;
        cr_assert_str_eq(dep_model(&p), "c1");
        now += delay;
        if (!sy_plan_end(&p, &e, -1, -1, now))
            break;
    }
    cr_assert_eq(sent, 2, "chain has retries.max 1: %d attempts", sent);
    cr_assert_eq(dep_calls(CHAIN, 0), 2);
    cr_assert_eq(dep_calls(GUARDED, 0), 1, "only the call that opened its breaker");
    cr_assert_eq(atomic_load(&rs->models[CHAIN].fallbacks), 1, "the look at the fallback before the wait counted");
}

/* Every deployment full (max_inflight), when_all_open: wait: the plan
 * polls; its looks at the fallback are not moves to it. */
Test(plan, saturated_polling)
{
    cr_assert_eq(sy_rstate_enter(rs, BUSY, 0, T0), 0);
    cr_assert_eq(sy_rstate_enter(rs, BUSY2, 0, T0), 0);
    sy_plan_t p;
    start(&p, "busy", T0);
    uint64_t now = T0, delay;
    sy_error_t err;
    int ra;
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(sy_plan_next(&p, now, 0, &delay, &err, &ra), SY_PLAN_WAIT);
        cr_assert_gt(delay, 0);
        cr_assert_leq(delay, 100 * MS, "a full deployment is looked at again soon");
        now += delay;
    }
    cr_assert_eq(atomic_load(&rs->models[BUSY].fallbacks), 0, "%llu fallbacks counted while waiting",
                 (unsigned long long)atomic_load(&rs->models[BUSY].fallbacks));
    cr_assert_null(sy_plan_fallback(&p));
    sy_rstate_end(rs, BUSY2, 0, 0, SY_OUT_OK, -1, -1, now);
    cr_assert_eq(go(&p, now, 0), 0);
    cr_assert_str_eq(sy_plan_fallback(&p), "busy2");
    cr_assert_eq(atomic_load(&rs->models[BUSY].fallbacks), 1);
    cr_assert_eq(p.attempts, 1);
    sy_plan_end(&p, NULL, -1, -1, now);
}

Test(plan, direct_address_uses_router_defaults)
{
    sy_plan_t p;
    start(&p, "a/some-model", T0);
    cr_assert_eq(p.asked, SY_PLAN_DIRECT);
    cr_assert_eq(p.deadline, T0 + 600000 * MS);
    cr_assert_null(sy_plan_model(&p));
    cr_assert_null(sy_plan_fallback(&p));
    cr_assert_eq(sy_plan_conf(&p), &cfg->router);
    cr_assert_eq(go(&p, T0, 0), 0);
    cr_assert_eq(p.dep, -1);
    cr_assert_str_eq(p.route.provider->name, "a");
    cr_assert_str_eq(dep_model(&p), "some-model");
    sy_error_t e = err_code(SY_EUPCLOSED);
    uint64_t seed = 8;
    for (unsigned k = 0; k < 2; k++) {
        cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 1, "retry %u of router.defaults' 2", k + 1);
        uint64_t d = go(&p, T0, splitmix64(&seed));
        cr_assert_leq(d, (100ull << k) * MS);
        cr_assert_str_eq(dep_model(&p), "some-model");
    }
    cr_assert_eq(p.attempts, 3);
    cr_assert_eq(sy_plan_end(&p, &e, -1, -1, T0), 0);

    /* Retry-After on a direct address */
    start(&p, "b/other", T0);
    go(&p, T0, 0);
    sy_error_t r = err_status(429, "later");
    cr_assert_eq(sy_plan_end(&p, &r, 1, -1, T0), 1);
    uint64_t d = go(&p, T0, UINT64_MAX);
    cr_assert_geq(d, S);
    cr_assert_leq(d, S + 100 * MS);
    /* a final error stops */
    sy_error_t f = err_status(404, "no such model");
    cr_assert_eq(sy_plan_end(&p, &f, -1, -1, T0 + 2 * S), 0);
}

Test(plan, attempts_counter_over_models)
{
    sy_plan_t p;
    sy_error_t e = err_status(500, "x");
    start(&p, "main", T0);
    unsigned want = 0;
    do {
        go(&p, T0, 0);
        cr_assert_eq(p.attempts, ++want);
    } while (sy_plan_end(&p, &e, -1, -1, T0));
    cr_assert_eq(want, 4, "2 on main, 1 on fb1, 1 on fb2");
}

/* The caller asks again without ending the attempt: it ends as neutral,
 * its in-flight slot given back. */
Test(plan, next_without_end_gives_back)
{
    sy_plan_t p;
    start(&p, "two", T0);
    go(&p, T0, 0);
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, TWO, 0)->inflight), 1);
    go(&p, T0, 0);
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, TWO, 0)->inflight), 0);
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, TWO, 1)->inflight), 1);
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, TWO, 0)->failures), 0);
    sy_plan_end(&p, NULL, -1, -1, T0);
}

Test(plan, first_byte_is_a_latency_sample)
{
    sy_plan_t p;
    start(&p, "solo", T0);
    go(&p, T0, 0);
    sy_plan_first_byte(&p, T0 + 300 * MS);
    sy_plan_first_byte(&p, T0 + 900 * MS); /* only the first counts */
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, SOLO, 0)->ewma_ns), 300 * MS);
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, SOLO, 0)->first_bytes), 1);
    sy_plan_end(&p, NULL, -1, -1, T0 + S);
    sy_plan_first_byte(&p, T0 + 2 * S); /* after the end: nothing */
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, SOLO, 0)->first_bytes), 1);
}
