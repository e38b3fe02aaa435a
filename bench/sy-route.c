/*
 * sy-route - the routing decision's cost: router.rules (sy_decide) and the
 * plan's pick over a model's deployments (sy_plan_init, sy_plan_next,
 * sy_plan_end), timed one decision at a time.
 *
 *   build/sy-route [-n ITERATIONS]
 *
 * The config is built in memory: 100 deployments on model "pool" (weighted
 * strategy) beside a few small models, and 50 rules in a realistic mix -
 * header globs, model globs, API + model, metadata, token bounds and four
 * prompt regexes scoped to other models (their cheap conditions fail first,
 * as in a real config) - the rule that matches at index 47. The request is
 * a decoded OpenAI chat of ~1.2 KB with body metadata and three headers,
 * whose "metadata" and "user" members are found beforehand, as the OpenAI
 * ingress finds them while checking the body's fields.
 *
 * It prints one line per measurement, nanoseconds per decision:
 *   decision p50_ns=.. p99_ns=.. p999_ns=.. mean_ns=..   sy_decide + plan init + pick + end
 *   decide   ...                                        sy_decide alone
 *   pick     ...   plan init + the weighted pick + end among the 100
 *   walk     ...   plan init + pick + end looking at all 100 deployments
 *                  (least_inflight; the weighted pick looks at one when
 *                  the deployment it draws may be called)
 *   regex    ...                                        sy_decide when a 1 KB prompt regex is evaluated
 * Each iteration is timed with clock_gettime around it (whose own cost,
 * ~20 ns, is included). Exits 1 when the config does not load or a decision
 * is not the expected one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/jsonscan.h"
#include "router/decide.h"
#include "router/plan.h"
#include "router/state.h"

#define DEPLOYMENTS 100
#define RULES 50
#define MATCH_AT 47

static char *build_config(void)
{
    size_t cap = 64 * 1024, o = 0;
    char *y = malloc(cap);
#define ADD(...) (o += (size_t)snprintf(y + o, cap - o, __VA_ARGS__))
    ADD("providers:\n"
        "  - { name: cloud, type: openai, base_url: \"https://cloud.example.invalid/v1\" }\n"
        "  - { name: local, type: ollama, base_url: \"http://127.0.0.1:11434\" }\n"
        "models:\n"
        "  - name: pool\n    deployments:\n");
    for (int i = 0; i < DEPLOYMENTS; i++)
        ADD("      - { provider: %s, model: \"m-%03d\", weight: %d }\n", i % 2 ? "cloud" : "local", i, 1 + i % 5);
    ADD("  - name: pool-walk\n    strategy: least_inflight\n    deployments:\n");
    for (int i = 0; i < DEPLOYMENTS; i++)
        ADD("      - { provider: %s, model: \"m-%03d\" }\n", i % 2 ? "cloud" : "local", i);
    ADD("  - { name: chat, deployments: [ { provider: cloud, model: c } ] }\n"
        "  - { name: coder, deployments: [ { provider: cloud, model: coder } ] }\n"
        "  - { name: small, deployments: [ { provider: local, model: s } ] }\n"
        "router:\n  rules:\n");
    for (int i = 0; i < RULES; i++) {
        ADD("    - name: r%02d\n", i);
        if (i == MATCH_AT) {
            ADD("      match: { model: \"ch*\", headers: { x-tier: \"gold*\" }, metadata: { app: \"web\" } }\n"
                "      action: { route: pool, cap: { max_tokens: 1024 } }\n");
            continue;
        }
        switch (i % 8) {
        case 0:
            ADD("      match: { headers: { x-team: \"team-%d*\" } }\n      action: { route: small }\n", i);
            break;
        case 1:
            ADD("      match: { model: \"gpt-4-%d*\" }\n      action: { route: coder }\n", i);
            break;
        case 2:
            ADD("      match: { api: anthropic, model: \"claude-*\" }\n      action: { route: chat }\n");
            break;
        case 3:
            ADD("      match: { metadata: { tier: \"tier-%d\" } }\n      action: { set: { temperature: 0 } }\n", i);
            break;
        case 4:
            ADD("      match: { tokens: { min: 100000 } }\n      action: { route: pool }\n");
            break;
        case 5:
            if (i < 40) /* four regexes, scoped to models the request does not ask for */
                ADD("      match: { model: \"code-%d*\", prompt: \"(def|class|fn) [a-z_]+\\\\(\" }\n"
                    "      action: { route: coder }\n",
                    i);
            else
                ADD("      match: { model: \"x-%d\" }\n      action: { route: coder }\n", i);
            break;
        case 6:
            ADD("      match: { api: [ollama, anthropic], headers: { x-env: \"prod\" } }\n"
                "      action: { reject: { status: 403 } }\n");
            break;
        default:
            ADD("      match: { key: \"sk-team-%d-*\" }\n      action: { route: small }\n", i);
            break;
        }
    }
#undef ADD
    return y;
}

static const char *const hdrs[] = {"x-team", "search", "x-tier", "gold", "user-agent", "bench/1.0", NULL};

static const char *hdr(void *ud, const char *name)
{
    (void)ud;
    for (int i = 0; hdrs[i]; i += 2)
        if (strcasecmp(hdrs[i], name) == 0)
            return hdrs[i + 1];
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *t, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)t[i];
    qsort(t, n, sizeof(*t), cmp_u64);
    printf("%-8s p50_ns=%llu p99_ns=%llu p999_ns=%llu mean_ns=%.0f\n", what, (unsigned long long)t[n / 2],
           (unsigned long long)t[n * 99 / 100], (unsigned long long)t[n * 999 / 1000], sum / (double)n);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/*
 * Time n decisions into t and report them as what: sy_decide on in (when
 * in), then (when rs) the plan for the decided model - or for model when
 * in is NULL - its pick and its end. Returns -1 when a plan picks nothing.
 */
static int run(const sy_config_t *cfg, sy_rstate_t *rs, const sy_route_in_t *in, const char *model, uint64_t *t,
               size_t n, uint64_t *seed, const char *what)
{
    sy_decision_t dec;
    sy_error_t err;
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = sy_now_ns();
        if (in) {
            sy_decide(cfg, in, &dec);
            model = dec.model;
        }
        if (rs) {
            sy_plan_t p;
            uint64_t delay;
            int ra;
            if (sy_plan_init(&p, rs, cfg, NULL, model, t0, &err) != SY_OK ||
                sy_plan_next(&p, t0, xorshift(seed), &delay, &err, &ra) != SY_PLAN_GO) {
                fprintf(stderr, "sy-route: no pick: %s\n", err.message);
                return -1;
            }
            sy_plan_end(&p, NULL, -1, 300, t0);
        }
        t[i] = sy_now_ns() - t0;
    }
    report(what, t, n);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = 200000;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-n"))
            n = strtoul(argv[++i], NULL, 10);
    if (n < 1000)
        n = 1000;
    char *yaml = build_config();
    sy_diags_t d = {0};
    sy_config_t *cfg = sy_config_load_string(yaml, strlen(yaml), "sy-route", &d);
    if (!cfg) {
        sy_diags_print(stderr, &d);
        return 1;
    }
    sy_rstate_t *rs = sy_rstate_new(cfg);

    /* a ~1.2 KB chat: a system prompt, three turns, metadata */
    char body[4096], filler[800];
    memset(filler, 0, sizeof(filler));
    for (size_t i = 0; i + 1 < sizeof(filler); i++)
        filler[i] = "the quick brown fox jumps over the lazy dog "[i % 44];
    snprintf(body, sizeof(body),
             "{\"model\":\"chat\",\"metadata\":{\"app\":\"web\",\"user\":\"u-1\"},\"temperature\":0.7,\"messages\":["
             "{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
             "{\"role\":\"user\",\"content\":\"Summarise this text for me please: %s\"},"
             "{\"role\":\"assistant\",\"content\":\"Here is a summary.\"},"
             "{\"role\":\"user\",\"content\":\"Thanks, now shorter.\"}]}",
             filler);
    sy_arena_t a;
    sy_arena_init(&a, 0);
    sy_creq_t q;
    unsigned flags = 0;
    sy_error_t err;
    if (sy_api_openai_decode(body, strlen(body), SY_OP_CHAT, &a, &q, &flags, &err) != SY_OK) {
        fprintf(stderr, "sy-route: decode: %s\n", err.message);
        return 1;
    }
    sy_route_in_t in = {.proto = SY_PROTO_OPENAI, .model = "chat", .q = &q, .body = body, .body_len = strlen(body),
                        .header = hdr, .scanned = 1};
    /* the OpenAI ingress meets "metadata" and "user" as it checks the body's
     * fields (before the decision, and not counted here) */
    sy_jval_t doc = sy_json_value(body, strlen(body));
    if (!sy_json_get(&doc, "metadata", &in.metadata))
        in.metadata.p = NULL;
    if (!sy_json_get(&doc, "user", &in.user))
        in.user.p = NULL;
    sy_decision_t dec;
    if (sy_decide(cfg, &in, &dec) != MATCH_AT || strcmp(dec.model, "pool") != 0) {
        fprintf(stderr, "sy-route: expected rule %d to route to pool, got rule %d (%s)\n", MATCH_AT, dec.rule,
                dec.model);
        return 1;
    }

    uint64_t *t = malloc(n * sizeof(*t));
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    printf("sy-route: %d deployments, %d rules (the match at rule %d), %zu decisions each\n", DEPLOYMENTS, RULES,
           MATCH_AT, n);

    /* the whole decision: rules, then the plan's pick and its end */
    if (run(cfg, rs, &in, NULL, t, n, &seed, "decision") < 0)
        return 1;
    /* the rules alone */
    run(cfg, NULL, &in, NULL, t, n, &seed, "decide");
    /* the plan and the weighted pick alone: its first draw is taken */
    if (run(cfg, rs, NULL, "pool", t, n, &seed, "pick") < 0)
        return 1;
    /* the pick that looks at every deployment (any strategy but weighted,
     * or a weighted draw that lands on one that may not be called) */
    if (run(cfg, rs, NULL, "pool-walk", t, n, &seed, "walk") < 0)
        return 1;
    /* a regex rule whose cheap conditions hold: it scans the user text */
    in.model = "code-5x";
    run(cfg, NULL, &in, NULL, t, n, &seed, "regex");

    free(t);
    sy_arena_release(&a);
    sy_rstate_free(rs);
    sy_config_free(cfg);
    free(yaml);
    return 0;
}
