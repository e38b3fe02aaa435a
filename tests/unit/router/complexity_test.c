/*
 * complexity_test.c - unit tests for src/router/complexity.c: each feature
 * on requests built by hand (code fences and indented blocks, math words,
 * LaTeX, symbols and arithmetic, numbered lists and step words, depth,
 * tools, max_tokens), the bounded scan (newest message first), the exact
 * score formula with its saturation, weight overrides, determinism, the
 * tier at every boundary, the reason string, and the config keys of a
 * `router: complexity` model with their diagnostics.
 */
#include "config_harness.h"
#include "router/complexity.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- requests by hand ---- */

#define MAXM 8

typedef struct hreq {
    sy_creq_t q;
    sy_msg_t msgs[MAXM];
    sy_part_t parts[MAXM];
    sy_tool_t tools[8];
} hreq_t;

static sy_str_t S(const char *s)
{
    return (sy_str_t){s, strlen(s)};
}

static void hreq_init(hreq_t *h)
{
    memset(h, 0, sizeof(*h));
    sy_creq_init(&h->q, SY_OP_CHAT, SY_PROTO_OPENAI);
    h->q.msgs = h->msgs;
    h->q.tools = h->tools;
}

static void add_msg(hreq_t *h, sy_role_t role, const char *text, size_t len)
{
    size_t i = h->q.n_msgs++;
    cr_assert_lt(i, MAXM);
    h->parts[i] = (sy_part_t){.kind = SY_PART_TEXT, .text = {text, len}};
    h->msgs[i] = (sy_msg_t){.role = role, .parts = &h->parts[i], .n_parts = 1};
}

static void add_user(hreq_t *h, const char *text)
{
    add_msg(h, SY_ROLE_USER, text, strlen(text));
}

static sy_cx_feat_t feat_of(const char *text)
{
    hreq_t h;
    hreq_init(&h);
    add_user(&h, text);
    sy_cx_feat_t f;
    sy_cx_features(&h.q, &f);
    return f;
}

/* ---- features ---- */

Test(complexity, plain_question_scores_zero)
{
    hreq_t h;
    hreq_init(&h);
    add_user(&h, "What is the capital of France?");
    sy_cx_feat_t f;
    sy_cx_features(&h.q, &f);
    cr_assert_eq(f.code_blocks, 0);
    cr_assert_eq(f.math, 0);
    cr_assert_eq(f.steps, 0);
    cr_assert_eq(f.depth, 1);
    cr_assert_eq(f.tools, 0);
    cr_assert_eq(f.max_tokens, 0, "max_tokens unsaid counts 0");
    cr_assert_eq(f.tokens, sy_creq_estimate_tokens(&h.q));
    cr_assert_eq(sy_cx_score(&f, NULL), 0);
}

Test(complexity, fenced_code_blocks)
{
    cr_assert_eq(feat_of("```py\nx = 1\n```\nand\n```\ny\n```\n").code_blocks, 2);
    cr_assert_eq(feat_of("~~~\ncode\n~~~").code_blocks, 1, "tilde fences");
    cr_assert_eq(feat_of("see:\n```\nnever closed").code_blocks, 1, "an unclosed fence counts");
    cr_assert_eq(feat_of("   ```\nx\n   ```").code_blocks, 1, "up to three spaces before a fence");
    cr_assert_eq(feat_of("inline ``` is not a fence").code_blocks, 0);
    /* what is inside a fence is code only: no math, no steps */
    sy_cx_feat_t f = feat_of("```\nx = 2 + 3\n1. first then next\n```");
    cr_assert_eq(f.math, 0);
    cr_assert_eq(f.steps, 0);
}

Test(complexity, indented_code_blocks)
{
    cr_assert_eq(feat_of("Look:\n\n    int x;\n    return x;\n").code_blocks, 1);
    cr_assert_eq(feat_of("Look:\n\n\tint x;\n\treturn x;\n").code_blocks, 1, "tabs indent too");
    cr_assert_eq(feat_of("Look:\n\n    one line only\n").code_blocks, 0, "a block is two lines or more");
    cr_assert_eq(feat_of("Look:\n    not after a blank\n    line\n").code_blocks, 0);
    cr_assert_eq(feat_of("\n    a\n    b\n\n    c\n    d\n").code_blocks, 2);
}

Test(complexity, math_signals)
{
    cr_assert_eq(feat_of("Prove the theorem.").math, 2, "words");
    cr_assert_eq(feat_of("PROOFS and Lemmas").math, 2, "case and plural");
    cr_assert_eq(feat_of("improve the provenance").math, 0, "whole words only");
    cr_assert_eq(feat_of("$$\\frac{a}{b}$$").math, 3, "$$ twice and \\frac");
    cr_assert_eq(feat_of("\\(x\\) and \\sqrt{2}").math, 2, "\\( and \\sqrt");
    cr_assert_eq(feat_of("2 + 2 = 4").math, 2, "arithmetic");
    cr_assert_eq(feat_of("x^2").math, 1);
    cr_assert_eq(feat_of("a = b").math, 0, "no digit: not arithmetic");
    cr_assert_eq(feat_of("gpt-4 and and/or").math, 0, "- and / need digits on both sides");
    cr_assert_eq(feat_of("10/2 and 7-3").math, 2);
    cr_assert_eq(feat_of("\xe2\x88\xab f \xe2\x89\xa4 3").math, 2, "U+222B and U+2264");
    cr_assert_eq(feat_of("- a bullet").math, 0);
}

Test(complexity, step_signals)
{
    cr_assert_eq(feat_of("1. Install\n2. Configure\n3) Run\n").steps, 3, "numbered items");
    cr_assert_eq(feat_of("  12. indented item").steps, 1);
    cr_assert_eq(feat_of("1.5 is a number").steps, 0);
    cr_assert_eq(feat_of("First do A, then B, next C, finally D.").steps, 4);
    cr_assert_eq(feat_of("Explain step by step: the steps").steps, 3, "step, step and steps");
    cr_assert_eq(feat_of("stepping thenceforth").steps, 0, "whole words only");
}

Test(complexity, depth_tools_max_tokens)
{
    hreq_t h;
    hreq_init(&h);
    add_msg(&h, SY_ROLE_SYSTEM, "be brief", 8);
    add_user(&h, "hi");
    add_msg(&h, SY_ROLE_ASSISTANT, "hello", 5);
    add_user(&h, "again");
    h.tools[0] = (sy_tool_t){.name = S("get_weather")};
    h.tools[1] = (sy_tool_t){.name = S("search")};
    h.q.n_tools = 2;
    h.q.max_tokens = 4096;
    sy_cx_feat_t f;
    sy_cx_features(&h.q, &f);
    cr_assert_eq(f.depth, 3, "system messages are not turns");
    cr_assert_eq(f.tools, 2);
    cr_assert_eq(f.max_tokens, 4096);
}

/* The scan reads SY_CX_SCAN_MAX bytes, newest message first. */
Test(complexity, scan_is_bounded_newest_first)
{
    size_t big = SY_CX_SCAN_MAX + 1000;
    char *old = malloc(big + 16);
    memset(old, 'a', big);
    memcpy(old + big, "\n```\nx\n```\n", 11);
    hreq_t h;
    hreq_init(&h);
    add_msg(&h, SY_ROLE_USER, old, big + 11); /* its fence lies past the budget */
    add_user(&h, "Prove it.\n```\ncode\n```");
    sy_cx_feat_t f;
    sy_cx_features(&h.q, &f);
    cr_assert_eq(f.code_blocks, 1, "the newest message is read whole, the old one's tail is not");
    cr_assert_eq(f.math, 1);
    cr_assert_eq(f.depth, 2, "depth counts every turn, read or not");
    cr_assert_gt(f.tokens, (int64_t)(big / 4), "tokens cover the whole request");
    free(old);
}

/* ---- score ---- */

static unsigned score_of(sy_cx_feat_t f)
{
    return sy_cx_score(&f, NULL);
}

Test(complexity, score_formula)
{
    /* tokens: 25 x log2(t/64)/7 */
    cr_assert_eq(score_of((sy_cx_feat_t){.tokens = 64}), 0);
    cr_assert_eq(score_of((sy_cx_feat_t){.tokens = 512}), 11, "25 x 3/7 = 10.71");
    cr_assert_eq(score_of((sy_cx_feat_t){.tokens = 8192}), 25);
    /* code: 20 x min(n,3)/3 */
    cr_assert_eq(score_of((sy_cx_feat_t){.code_blocks = 1}), 7, "20/3 = 6.67");
    cr_assert_eq(score_of((sy_cx_feat_t){.code_blocks = 3}), 20);
    /* math and steps: 15 x min(n,5)/5 */
    cr_assert_eq(score_of((sy_cx_feat_t){.math = 2}), 6);
    cr_assert_eq(score_of((sy_cx_feat_t){.steps = 5}), 15);
    /* depth: 10 x min(d-1,8)/8 */
    cr_assert_eq(score_of((sy_cx_feat_t){.depth = 1}), 0);
    cr_assert_eq(score_of((sy_cx_feat_t){.depth = 5}), 5);
    /* tools: 10 x min(n,4)/4 */
    cr_assert_eq(score_of((sy_cx_feat_t){.tools = 1}), 3, "2.5 rounds half up");
    /* max_tokens: 5 x log2(m/256)/6 */
    cr_assert_eq(score_of((sy_cx_feat_t){.max_tokens = 256}), 0);
    cr_assert_eq(score_of((sy_cx_feat_t){.max_tokens = 4096}), 3, "5 x 4/6 = 3.33");
    /* together */
    cr_assert_eq(score_of((sy_cx_feat_t){.tokens = 512, .code_blocks = 1, .steps = 2, .depth = 1}), 23,
                 "10.71 + 6.67 + 6 = 23.38");
}

Test(complexity, features_saturate)
{
    sy_cx_feat_t a = {.tokens = 8192, .code_blocks = 3, .math = 5, .steps = 5, .depth = 9, .tools = 4, .max_tokens = 16384};
    sy_cx_feat_t b = {.tokens = 1000000, .code_blocks = 1000, .math = 1000, .steps = 1000, .depth = 1000,
                      .tools = 1000, .max_tokens = 1000000};
    cr_assert_eq(score_of(a), 100);
    cr_assert_eq(score_of(b), 100, "past saturation nothing adds");
}

Test(complexity, weights_override)
{
    sy_cx_weights_t w = {0};
    w.code = 100;
    cr_assert_eq(sy_cx_score(&(sy_cx_feat_t){.code_blocks = 1, .tokens = 8192}, &w), 33, "only code counts");
    w.tokens = 100;
    cr_assert_eq(sy_cx_score(&(sy_cx_feat_t){.code_blocks = 3, .tokens = 8192}, &w), 100, "capped at 100");
}

Test(complexity, deterministic)
{
    hreq_t h;
    hreq_init(&h);
    add_user(&h, "First, prove that 2 + 2 = 4.\n```\ncode\n```\n1. a\n2. b\n");
    sy_cx_feat_t f1, f2;
    sy_cx_features(&h.q, &f1);
    sy_cx_features(&h.q, &f2);
    cr_assert_eq(memcmp(&f1, &f2, sizeof(f1)), 0);
    cr_assert_eq(sy_cx_score(&f1, NULL), sy_cx_score(&f2, NULL));
    cr_assert_eq(f1.steps, 3);
    cr_assert_eq(f1.math, 3);
    cr_assert_eq(f1.code_blocks, 1);
}

/* ---- tiers and reason ---- */

#define PROVIDERS                                                                                      \
    "providers:\n"                                                                                     \
    "  - {name: p, type: openai, base_url: \"https://p.example.invalid/v1\"}\n"
#define MODELS3                                                                                        \
    "models:\n"                                                                                        \
    "  - {name: small, deployments: [{provider: p, model: s}]}\n"                                      \
    "  - {name: medium, deployments: [{provider: p, model: m}]}\n"                                     \
    "  - {name: large, deployments: [{provider: p, model: l}]}\n"

Test(complexity, tier_boundaries)
{
    sy_config_t *cfg = sy_test_load_ok(PROVIDERS MODELS3 "  - name: auto\n"
                                                 "    router: complexity\n"
                                                 "    tiers:\n"
                                                 "      - { below: 30, model: small }\n"
                                                 "      - { below: 70, model: medium }\n"
                                                 "      - { model: large }\n");
    const sy_model_conf_t *m = sy_config_find_model(cfg, "auto");
    cr_assert(m->complexity);
    cr_assert_eq(m->n_deployments, 0);
    cr_assert_eq(m->n_tiers, 3);
    cr_assert_eq(m->tiers[0].model_index, 0);
    cr_assert_eq(m->tiers[2].model_index, 2);
    cr_assert_eq(m->tiers[2].below, 0, "the catch-all");
    cr_assert_eq(sy_cx_tier(m, 0), 0);
    cr_assert_eq(sy_cx_tier(m, 29), 0);
    cr_assert_eq(sy_cx_tier(m, 30), 1, "below is exclusive");
    cr_assert_eq(sy_cx_tier(m, 69), 1);
    cr_assert_eq(sy_cx_tier(m, 70), 2);
    cr_assert_eq(sy_cx_tier(m, 100), 2);
    cr_assert_eq(sy_cx_tier(sy_config_find_model(cfg, "small"), 50), -1, "no tiers");
    /* defaults when the model sets no weights */
    cr_assert_eq(memcmp(&m->cx_weights, &sy_cx_default_weights, sizeof(m->cx_weights)), 0);
    sy_config_free(cfg);
}

Test(complexity, weights_config_merges_defaults)
{
    sy_config_t *cfg = sy_test_load_ok(PROVIDERS MODELS3 "  - name: auto\n"
                                                 "    router: complexity\n"
                                                 "    tiers: [ { below: 50, model: small }, { model: large } ]\n"
                                                 "    complexity: { weights: { code: 40, tools: 0 } }\n");
    const sy_model_conf_t *m = &cfg->models[3];
    cr_assert_float_eq(m->cx_weights.code, 40, 1e-9);
    cr_assert_float_eq(m->cx_weights.tools, 0, 1e-9);
    cr_assert_float_eq(m->cx_weights.tokens, 25, 1e-9, "the others keep their defaults");
    cr_assert_float_eq(m->cx_weights.max_tokens, 5, 1e-9);
    sy_config_free(cfg);
}

Test(complexity, reason_string)
{
    sy_cx_feat_t f = {.tokens = 812, .code_blocks = 1, .steps = 2, .depth = 1, .max_tokens = 1024};
    char buf[256];
    size_t n = sy_cx_reason(buf, sizeof(buf), 42, "medium", &f);
    cr_assert_str_eq(buf, "complexity=42 tier=medium tokens=812 code=1 math=0 steps=2 depth=1 tools=0 max_tokens=1024");
    cr_assert_eq(n, strlen(buf));
    sy_cx_reason(buf, sizeof(buf), 7, NULL, &f);
    cr_assert_str_eq(buf, "complexity=7 tokens=812 code=1 math=0 steps=2 depth=1 tools=0 max_tokens=1024");
    char small[16];
    n = sy_cx_reason(small, sizeof(small), 42, "medium", &f);
    cr_assert_eq(n, 15, "cut to fit");
    cr_assert_str_eq(small, "complexity=42 t");
    cr_assert_eq(sy_cx_reason(small, 0, 42, NULL, &f), 0);
}

/* ---- config diagnostics ---- */

Test(complexity, config_errors)
{
    /* line 7 is the complexity model's first line */
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { below: 30, model: smal }, { model: large } ]\n",
                "9:34: models[3].tiers[0].model: unknown model \"smal\"; did you mean \"small\"?");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { below: 70, model: small }, { below: 30, model: medium }, { model: large } ]\n",
                "9:52: models[3].tiers[1].below: must be above the previous tier's (70): tiers are in ascending order");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { below: 30, model: small }, { below: 90, model: large } ]\n",
                "9:52: models[3].tiers[1].below: the last tier is the catch-all and takes every score left; remove its \"below\"");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { model: small }, { model: large } ]\n",
                "9:16: models[3].tiers[0]: missing required key \"below\" (only the last tier, the catch-all, has none)");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { below: 101, model: small }, { model: large } ]\n",
                "9:23: models[3].tiers[0].below: out of range (1..100)");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    deployments: [ { provider: p, model: x } ]\n"
                                  "    tiers: [ { model: large } ]\n",
                "9:5: models[3].deployments: a model with \"router: complexity\" has no deployments; its tiers name "
                "the models that serve it");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    fallbacks: [ small ]\n"
                                  "    tiers: [ { model: large } ]\n",
                "9:5: models[3].fallbacks: not allowed on a model with \"router: complexity\"; set it on its tiers' models");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n",
                "7:5: models[3]: missing required key \"tiers\" (a model with \"router: complexity\" routes by them)");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { model: auto2 } ]\n"
                                  "  - name: auto2\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { model: large } ]\n",
                "9:23: models[3].tiers[0].model: \"auto2\" is itself a complexity model; a tier names a model with "
                "deployments");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { model: auto } ]\n",
                "9:23: models[3].tiers[0].model: a complexity model cannot route to itself");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complex\n",
                "8:13: models[3].router: expected one of deployments, complexity");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { model: large } ]\n"
                                  "    complexity: { weights: { token: 3 } }\n",
                "10:30: unknown key \"token\" in models[3].complexity.weights; did you mean \"tokens\"?");
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { model: large } ]\n"
                                  "    complexity: { weights: { code: 101 } }\n",
                "10:36: models[3].complexity.weights.code: out of range (0..100)");
    sy_test_expect_diag(PROVIDERS "models:\n"
                          "  - name: plain\n"
                          "    deployments: [ { provider: p, model: x } ]\n"
                          "    tiers: [ { model: plain } ]\n",
                "6:5: models[0].tiers: only a model with \"router: complexity\" has tiers");
}

/* ---- listing (/v1/models, /api/tags) ---- */

#include "router/router.h"

typedef struct listed {
    char names[8][32];
    const char *providers[8];
    size_t n;
} listed_t;

static void collect(void *ud, const sy_model_entry_t *e)
{
    listed_t *l = ud;
    if (l->n < 8) {
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", e->name);
        l->providers[l->n] = e->provider ? e->provider->name : NULL;
        l->n++;
    }
}

/* A complexity model has no deployment of its own, yet it is a public
 * name: listed with the provider of its first tier that can serve it. */
Test(complexity, listed_through_its_tiers)
{
    unsetenv("SY_CX_TEST_UNSET_KEY");
    sy_config_t *cfg = sy_test_load_ok("providers:\n"
                               "  - {name: p, type: openai, base_url: \"https://p.example.invalid/v1\"}\n"
                               "  - {name: off, type: openai, base_url: \"https://o.example.invalid/v1\","
                               " api_key_env: SY_CX_TEST_UNSET_KEY, optional: true}\n"
                               "models:\n"
                               "  - {name: dark, deployments: [{provider: off, model: d}]}\n"
                               "  - {name: lit, deployments: [{provider: p, model: l}]}\n"
                               "  - name: auto\n"
                               "    router: complexity\n"
                               "    tiers: [ { below: 50, model: dark }, { model: lit } ]\n"
                               "  - name: unlit\n"
                               "    router: complexity\n"
                               "    tiers: [ { model: dark } ]\n");
    listed_t l = {0};
    cr_assert_eq(sy_router_list(cfg, NULL, collect, &l), 2);
    cr_assert_str_eq(l.names[0], "lit");
    cr_assert_str_eq(l.names[1], "auto");
    cr_assert_str_eq(l.providers[1], "p", "the first tier that can serve it");
    sy_config_free(cfg);
}

Test(complexity, not_a_fallback)
{
    sy_test_expect_diag(PROVIDERS MODELS3 "  - name: auto\n"
                                  "    router: complexity\n"
                                  "    tiers: [ { model: large } ]\n"
                                  "  - name: chat\n"
                                  "    deployments: [ { provider: p, model: c } ]\n"
                                  "    fallbacks: [ small, auto ]\n",
                "12:25: models[4].fallbacks[1]: \"auto\" is a complexity model; a fallback names a model with deployments");
}
