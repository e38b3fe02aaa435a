/*
 * decide_test.c - unit tests for src/router/decide.c: the first matching
 * rule wins in config order, what each action puts in the decision (model,
 * reason, params, reject), no rules at all, the lazily decoded request
 * handed back; then the experiment's arm (sticky by user, its model and
 * parameters over the rule's) and a complexity model's tier, in that
 * order, decoding the request only when a complexity model needs it; the
 * set / cap semantics (set wins, a cap lowers, an unsaid
 * max_tokens takes its cap, other unsaid parameters stay unsaid), applied
 * to a canonical request and patched into a client's OpenAI body.
 */
#include "config_harness.h"
#include "router/decide.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jsonscan.h"
#include "router/experiment.h"

#define BASE                                                                                           \
    "providers:\n"                                                                                     \
    "  - { name: p, type: openai, base_url: \"https://p.example.invalid/v1\" }\n"                      \
    "models:\n"                                                                                        \
    "  - { name: small, deployments: [ { provider: p, model: s } ] }\n"                                \
    "  - { name: coder, deployments: [ { provider: p, model: c } ] }\n"                                \
    "  - { name: big, deployments: [ { provider: p, model: b } ] }\n"

static const char *hdr(void *ud, const char *name)
{
    const char *const *kv = ud;
    for (int i = 0; kv[i]; i += 2)
        if (strcasecmp(kv[i], name) == 0)
            return kv[i + 1];
    return NULL;
}

static const char *rules_yaml =
    BASE "router:\n"
         "  rules:\n"
         "    - name: banned\n"
         "      match: { headers: { x-team: blocked } }\n"
         "      action: { reject: { status: 451, message: \"team blocked\" } }\n"
         "    - name: code\n"
         "      match: { model: \"small\", prompt: \"def \" }\n"
         "      action: { route: coder, set: { temperature: 0 } }\n"
         "    - name: anthropic-cap\n"
         "      match: { api: anthropic }\n"
         "      action: { cap: { max_tokens: 100 } }\n"
         "    - name: catch-all-small\n"
         "      match: { model: \"sm*\" }\n"
         "      action: { route: big }\n";

static sy_creq_t req;
static sy_msg_t msg;
static sy_part_t part;

static const sy_creq_t *user_says(const char *text)
{
    sy_creq_init(&req, SY_OP_CHAT, SY_PROTO_OPENAI);
    memset(&msg, 0, sizeof(msg));
    memset(&part, 0, sizeof(part));
    msg.role = SY_ROLE_USER;
    msg.parts = &part;
    msg.n_parts = 1;
    part.text = (sy_str_t){text, strlen(text)};
    req.msgs = &msg;
    req.n_msgs = 1;
    return &req;
}

static const sy_creq_t *decode_cb(void *ud)
{
    return user_says(ud);
}

Test(decide, no_rules_is_the_request_as_it_came)
{
    sy_config_t *c = sy_test_load_ok(BASE);
    sy_route_in_t in = {.proto = SY_PROTO_OPENAI, .model = "small"};
    sy_decision_t d;
    cr_assert_eq(sy_decide(c, &in, &d), -1);
    cr_assert_str_eq(d.model, "small");
    cr_assert_eq(d.rule, -1);
    cr_assert_not(d.reject);
    cr_assert_str_eq(d.reason, "");
    cr_assert_not(sy_params_any(&d.params));
    sy_config_free(c);
}

Test(decide, first_matching_rule_wins)
{
    sy_config_t *c = sy_test_load_ok(rules_yaml);
    const char *blocked[] = {"x-team", "blocked", NULL};
    const char *none[] = {NULL};
    sy_decision_t d;

    /* rule 0 holds as well as rules 1 and 3: the first decides */
    sy_route_in_t in = {.proto = SY_PROTO_OPENAI, .model = "small", .q = user_says("def f"), .header = hdr,
                        .hud = blocked};
    cr_assert_eq(sy_decide(c, &in, &d), 0);
    cr_assert(d.reject);
    cr_assert_eq(d.status, 451);
    cr_assert_str_eq(d.message, "team blocked");
    cr_assert_str_eq(d.reason, "rule=banned");
    cr_assert_str_eq(d.model, "small", "a refusal routes nowhere");

    in.hud = none;
    cr_assert_eq(sy_decide(c, &in, &d), 1);
    cr_assert_not(d.reject);
    cr_assert_str_eq(d.model, "coder");
    cr_assert_str_eq(d.reason, "rule=code");
    cr_assert_eq(d.params.set_mask, 1u << SY_PARAM_TEMPERATURE);
    cr_assert_eq(d.params.set[SY_PARAM_TEMPERATURE], 0);

    in.q = user_says("no code");
    cr_assert_eq(sy_decide(c, &in, &d), 3);
    cr_assert_str_eq(d.model, "big");
    cr_assert_not(sy_params_any(&d.params));

    in.proto = SY_PROTO_ANTHROPIC;
    cr_assert_eq(sy_decide(c, &in, &d), 2, "rules are tried in order: the cap comes before the catch-all");
    cr_assert_str_eq(d.model, "small", "a rule without route keeps the model");
    cr_assert_eq(d.params.cap_mask, 1u << SY_PARAM_MAX_TOKENS);

    in.proto = SY_PROTO_OLLAMA;
    in.model = "other";
    cr_assert_eq(sy_decide(c, &in, &d), -1);
    cr_assert_str_eq(d.model, "other");
    sy_config_free(c);
}

Test(decide, lazily_decoded_request_is_handed_back)
{
    sy_config_t *c = sy_test_load_ok(rules_yaml);
    sy_route_in_t in = {.proto = SY_PROTO_OPENAI, .model = "small", .decode = decode_cb, .dud = "def x"};
    sy_decision_t d;
    cr_assert_eq(sy_decide(c, &in, &d), 1);
    cr_assert_eq(d.q, &req);
    in.model = "zzz"; /* no rule reaches the prompt */
    cr_assert_eq(sy_decide(c, &in, &d), -1);
    cr_assert_null(d.q);
    sy_config_free(c);
}

/* ---- set and cap ---- */

static sy_params_t params(void)
{
    sy_params_t p;
    memset(&p, 0, sizeof(p));
    p.set_mask = 1u << SY_PARAM_SEED;
    p.set[SY_PARAM_SEED] = 7;
    p.cap_mask = (1u << SY_PARAM_TEMPERATURE) | (1u << SY_PARAM_MAX_TOKENS) | (1u << SY_PARAM_TOP_P);
    p.cap[SY_PARAM_TEMPERATURE] = 0.7;
    p.cap[SY_PARAM_MAX_TOKENS] = 512;
    p.cap[SY_PARAM_TOP_P] = 0.5;
    return p;
}

Test(params, value_semantics)
{
    sy_params_t p = params();
    double v;
    cr_assert(sy_params_value(&p, SY_PARAM_SEED, 0, 0, &v));
    cr_assert_eq(v, 7);
    cr_assert(sy_params_value(&p, SY_PARAM_SEED, 1, 3, &v), "set overrides what was said");
    cr_assert_not(sy_params_value(&p, SY_PARAM_SEED, 1, 7, &v), "already so: no change");
    cr_assert(sy_params_value(&p, SY_PARAM_TEMPERATURE, 1, 1.2, &v));
    cr_assert_eq(v, 0.7);
    cr_assert_not(sy_params_value(&p, SY_PARAM_TEMPERATURE, 1, 0.3, &v), "under the cap: kept");
    cr_assert_not(sy_params_value(&p, SY_PARAM_TEMPERATURE, 0, 0, &v), "unsaid temperature stays unsaid");
    cr_assert(sy_params_value(&p, SY_PARAM_MAX_TOKENS, 0, 0, &v), "an unsaid max_tokens takes its cap");
    cr_assert_eq(v, 512);
    cr_assert_not(sy_params_value(&p, SY_PARAM_TOP_K, 1, 99, &v), "not named: untouched");
    p.set_mask |= 1u << SY_PARAM_TEMPERATURE;
    p.set[SY_PARAM_TEMPERATURE] = 1.5;
    cr_assert(sy_params_value(&p, SY_PARAM_TEMPERATURE, 1, 0.1, &v));
    cr_assert_eq(v, 1.5, "set wins over cap");
}

Test(params, format)
{
    char b[40];
    sy_params_format(SY_PARAM_TEMPERATURE, 0.7, b, sizeof(b));
    cr_assert_str_eq(b, "0.7");
    sy_params_format(SY_PARAM_TEMPERATURE, 0, b, sizeof(b));
    cr_assert_str_eq(b, "0");
    sy_params_format(SY_PARAM_MAX_TOKENS, 1024, b, sizeof(b));
    cr_assert_str_eq(b, "1024");
    sy_params_format(SY_PARAM_SEED, -9007199254740991.0, b, sizeof(b));
    cr_assert_str_eq(b, "-9007199254740991");
    sy_params_format(SY_PARAM_TOP_P, 0.1 + 0.2, b, sizeof(b));
    cr_assert_eq(strtod(b, NULL), 0.1 + 0.2, "round-trips: %s", b);
}

Test(params, apply_to_canonical_request)
{
    sy_arena_t a;
    sy_arena_init(&a, 0);
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    static const char t[] = "1.3", tp[] = "0.2";
    q.temperature = (sy_jval_t){t, 3, SY_JDOUBLE};
    q.top_p = (sy_jval_t){tp, 3, SY_JDOUBLE};
    sy_params_t p = params();
    cr_assert_eq(sy_params_apply(&p, &q, &a), 0);
    double v;
    cr_assert_eq(sy_json_double(&q.temperature, &v), 0);
    cr_assert_eq(v, 0.7);
    cr_assert_eq(q.top_p.p, tp, "under its cap: the client's own bytes");
    cr_assert_eq(q.max_tokens, 512);
    cr_assert(q.has_seed);
    cr_assert_eq(q.seed, 7);
    cr_assert_null(q.top_k.p);
    cr_assert_null(q.presence_penalty.p);

    /* a max_tokens under the cap stays */
    q.max_tokens = 100;
    cr_assert_eq(sy_params_apply(&p, &q, &a), 0);
    cr_assert_eq(q.max_tokens, 100);
    q.max_tokens = 4096;
    cr_assert_eq(sy_params_apply(&p, &q, &a), 0);
    cr_assert_eq(q.max_tokens, 512);
    sy_arena_release(&a);
}

static const char *patch(const sy_params_t *p, const char *body, sy_arena_t *a)
{
    size_t n;
    const char *out = sy_params_patch_json(p, body, strlen(body), a, &n);
    cr_assert_not_null(out);
    cr_assert_eq(strlen(out), n);
    cr_assert_eq(sy_json_validate(out, n, NULL, NULL), 0, "valid JSON: %s", out);
    return out;
}

Test(params, patch_openai_body)
{
    sy_arena_t a;
    sy_arena_init(&a, 0);
    sy_params_t p = params();
    const char *b1 = " {\"model\":\"m\", \"temperature\": 1.5 ,\"messages\":[{\"role\":\"user\",\"content\":\"temperature\"}]}\n";
    cr_assert_str_eq(patch(&p, b1, &a),
                     " {\"max_tokens\":512,\"seed\":7,\"model\":\"m\", \"temperature\": 0.7 ,\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"temperature\"}]}\n");

    /* max_completion_tokens is the name patched when the body uses it; a
     * null value counts as unsaid */
    const char *b2 = "{\"max_completion_tokens\":2048,\"seed\":null,\"top_p\":0.4}";
    cr_assert_str_eq(patch(&p, b2, &a), "{\"max_completion_tokens\":512,\"seed\":7,\"top_p\":0.4}");

    /* nothing to change: the body itself */
    sy_params_t q;
    memset(&q, 0, sizeof(q));
    q.cap_mask = 1u << SY_PARAM_TEMPERATURE;
    q.cap[SY_PARAM_TEMPERATURE] = 1;
    size_t n;
    const char *b3 = "{\"temperature\":0.5}";
    cr_assert_eq(sy_params_patch_json(&q, b3, strlen(b3), &a, &n), b3);

    /* every occurrence of a duplicated member is replaced */
    const char *b4 = "{\"temperature\":2,\"x\":1,\"temperature\":1.9}";
    cr_assert_str_eq(patch(&q, b4, &a), "{\"temperature\":1,\"x\":1,\"temperature\":1}");

    /* an empty object takes its inserts without a trailing comma */
    cr_assert_str_eq(patch(&p, "{ }", &a), "{\"max_tokens\":512,\"seed\":7 }");
    sy_arena_release(&a);
}

/* ---- the experiment and complexity steps ---- */

static const char *steps_yaml =
    BASE "  - name: auto\n"
         "    router: complexity\n"
         "    tiers: [ { below: 20, model: small }, { model: big } ]\n"
         "router:\n"
         "  rules:\n"
         "    - { name: alias, match: { model: old }, action: { route: small, cap: { max_tokens: 50 } } }\n"
         "  experiments:\n"
         "    - name: ab\n"
         "      model: small\n"
         "      sticky: user\n"
         "      arms:\n"
         "        - { name: keep, weight: 50 }\n"
         "        - { name: smart, weight: 50, model: auto, set: { temperature: 0.5, max_tokens: 80 } }\n";

/* The arm experiment 0 gives user id u. */
static int exp_arm_of(const sy_config_t *c, const char *u)
{
    return sy_exp_assign(&c->experiments[0], u, strlen(u));
}

/* A user id the experiment puts on arm `want`. */
static const char *user_on(const sy_config_t *c, int want, char *buf, size_t cap)
{
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, cap, "u%d", i);
        if (exp_arm_of(c, buf) == want)
            return buf;
    }
    cr_assert_fail("no user on arm %d", want);
    return NULL;
}

Test(decide, wanted)
{
    sy_config_t *c = sy_test_load_ok(BASE);
    cr_assert_not(sy_decide_wanted(c), "nothing to decide: the pipeline skips the step");
    sy_config_free(c);
    c = sy_test_load_ok(steps_yaml);
    cr_assert(sy_decide_wanted(c));
    cr_assert_eq(c->n_complexity, 1);
    sy_config_free(c);
}

Test(decide, rule_then_experiment_then_complexity)
{
    sy_config_t *c = sy_test_load_ok(steps_yaml);
    char keep[16], smart[16];
    user_on(c, 0, keep, sizeof(keep));
    user_on(c, 1, smart, sizeof(smart));
    sy_decision_t d;

    /* the control arm: the rule's model and cap stay */
    const char *h1[] = {"x-switchyard-user", keep, NULL};
    sy_route_in_t in = {.proto = SY_PROTO_OPENAI, .model = "old", .q = user_says("hi"), .header = hdr, .hud = h1,
                        .request_id = "r1"};
    cr_assert_eq(sy_decide(c, &in, &d), 0);
    cr_assert_str_eq(d.model, "small");
    cr_assert_eq(d.exp, 0);
    cr_assert_eq(d.arm, 0);
    cr_assert_eq(d.cx_score, -1);
    cr_assert_str_eq(d.reason, "rule=alias experiment=ab arm=keep");
    cr_assert_eq(d.params.cap_mask, 1u << SY_PARAM_MAX_TOKENS);

    /* the smart arm: to the complexity model, whose tier decides; the arm's
     * max_tokens replaces the rule's cap */
    const char *h2[] = {"x-switchyard-user", smart, NULL};
    in.hud = h2;
    cr_assert_eq(sy_decide(c, &in, &d), 0);
    cr_assert_eq(d.arm, 1);
    cr_assert_str_eq(d.model, "small", "a short question: the low tier");
    cr_assert_eq(d.cx_tier, 0);
    cr_assert_geq(d.cx_score, 0);
    cr_assert_eq(strncmp(d.reason, "rule=alias experiment=ab arm=smart complexity=", 46), 0, "%s", d.reason);
    cr_assert_eq(d.params.set_mask, (1u << SY_PARAM_TEMPERATURE) | (1u << SY_PARAM_MAX_TOKENS));
    cr_assert_eq(d.params.cap_mask, 0u);
    cr_assert_eq(d.params.set[SY_PARAM_MAX_TOKENS], 80);

    /* the sticky id: the same user, the same arm, whatever the request id */
    in.request_id = "r2";
    sy_decision_t d2;
    sy_decide(c, &in, &d2);
    cr_assert_eq(d2.arm, d.arm);
    sy_config_free(c);
}

Test(decide, complexity_decodes_only_when_asked_for)
{
    sy_config_t *c = sy_test_load_ok(steps_yaml);
    sy_decision_t d;
    char hard[4096];
    snprintf(hard, sizeof(hard), "%s",
             "Step 1: prove the theorem. Then step 2: the integral of x^2. Finally step 3.\n"
             "```c\nint a;\n```\n```c\nint b;\n```\n```c\nint c;\n```\n"
             "1. one\n2. two\n3. three\n\\frac{1}{2} \\sum \\int \\sqrt{x} the eigenvalue of the matrix");
    /* the passthrough: no decoded request, a decode callback */
    sy_route_in_t in = {.proto = SY_PROTO_OPENAI, .model = "auto", .decode = decode_cb, .dud = hard};
    cr_assert_eq(sy_decide(c, &in, &d), -1, "no rule matched");
    cr_assert_str_eq(d.model, "big");
    cr_assert_eq(d.cx_tier, 1);
    cr_assert_geq(d.cx_score, 20);
    cr_assert_not_null(d.q, "the request decoded for the score is handed back");
    cr_assert_eq(strncmp(d.reason, "complexity=", 11), 0, "%s", d.reason);
    cr_assert_not_null(strstr(d.reason, " tier=big "), "%s", d.reason);

    /* a model that is not a complexity model is not decoded for */
    in.model = "coder";
    cr_assert_eq(sy_decide(c, &in, &d), -1);
    cr_assert_null(d.q);
    cr_assert_str_eq(d.reason, "");
    sy_config_free(c);
}
