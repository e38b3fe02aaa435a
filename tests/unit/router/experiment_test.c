/*
 * experiment_test.c - unit tests for src/router/experiment.c and the
 * router.experiments config: sticky assignment (the same id, the same arm;
 * experiments independent), the split over 100k ids within tolerance,
 * weights 0 and 100, the sticky id's precedence, cost from a deployment's
 * price, per-arm counters and their /api/stats JSON and /metrics text, the
 * feedback table (remember, look up, replace, evict, several threads),
 * and the config's diagnostics.
 */
#include "config_harness.h"
#include "router/experiment.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROVIDERS                                                                                      \
    "providers:\n"                                                                                     \
    "  - {name: cloud, type: openai, base_url: \"https://c.example.invalid/v1\"}\n"                    \
    "  - {name: local, type: ollama, base_url: \"http://localhost:11434\"}\n"
#define MODELS                                                                                         \
    "models:\n"                                                                                        \
    "  - name: chat\n"                                                                                 \
    "    deployments:\n"                                                                               \
    "      - {provider: cloud, model: gpt, price: {input_per_mtok: 2, output_per_mtok: 8}}\n"          \
    "  - name: chat-local\n"                                                                           \
    "    deployments: [{provider: local, model: \"qwen:7b\"}]\n"                                       \
    "  - name: other\n"                                                                                \
    "    deployments: [{provider: cloud, model: unpriced}]\n"

static sy_config_t *split(const char *arms)
{
    char text[2048];
    snprintf(text, sizeof(text),
             PROVIDERS MODELS "router:\n"
                              "  experiments:\n"
                              "    - name: e1\n"
                              "      model: chat\n"
                              "      arms:\n%s",
             arms);
    return sy_test_load_ok(text);
}

#define TWO_ARMS                                                                                       \
    "        - { name: control, weight: 50 }\n"                                                        \
    "        - { name: local, weight: 50, model: chat-local }\n"

/* ---- config ---- */

Test(experiment, config_read_back)
{
    sy_config_t *cfg = split(TWO_ARMS);
    cr_assert_eq(cfg->n_experiments, 1);
    const sy_exp_conf_t *e = &cfg->experiments[0];
    cr_assert_str_eq(e->name, "e1");
    cr_assert_str_eq(e->model, "chat");
    cr_assert_eq(e->model_index, 0);
    cr_assert_eq(e->sticky, SY_EXP_STICKY_USER, "user is the default");
    cr_assert_eq(e->n_arms, 2);
    cr_assert_str_eq(e->arms[0].name, "control");
    cr_assert_null(e->arms[0].model);
    cr_assert_eq(e->arms[0].model_index, -1);
    cr_assert_eq(e->arms[0].weight_bp, 5000);
    cr_assert_str_eq(e->arms[1].model, "chat-local");
    cr_assert_eq(e->arms[1].model_index, 1);
    cr_assert_eq(sy_exp_find(cfg, "chat"), 0);
    cr_assert_eq(sy_exp_find(cfg, "chat-local"), -1, "an arm's model is not split itself");
    cr_assert_eq(sy_exp_find(cfg, NULL), -1);
    sy_config_free(cfg);

    cfg = split("        - { name: a, weight: 33.33 }\n"
                "        - { name: b, weight: 33.33 }\n"
                "        - { name: c, weight: 33.34 }\n");
    cr_assert_eq(cfg->experiments[0].arms[2].weight_bp, 3334, "hundredths of a percent");
    sy_config_free(cfg);
}

/* Lines: 1-3 providers, 4-11 models, 12 router:, 13 experiments:, 14 the
 * first experiment's name. */
#define EXP_HEAD PROVIDERS MODELS "router:\n  experiments:\n"

Test(experiment, config_errors)
{
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chatt\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 50} ]\n",
                "15:14: router.experiments[0].model: unknown model \"chatt\"; did you mean \"chat\"?");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 40} ]\n",
                "16:7: router.experiments[0].arms: the arms' weights add up to 90; they are percentages and must add "
                "up to 100");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 50}, {name: a, weight: 50} ]\n",
                "16:45: router.experiments[0].arms[1].name: duplicate arm name \"a\"");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 50} ]\n"
                         "    - name: e1\n"
                         "      model: other\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 50} ]\n",
                "17:13: router.experiments[1].name: duplicate experiment name \"e1\" (first defined at line 14)");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 50} ]\n"
                         "    - name: e2\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 50} ]\n",
                "18:14: router.experiments[1].model: model \"chat\" is already split by experiment \"e1\"; a model "
                "has one experiment at a time");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      modle: chat\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 50} ]\n",
                "15:7: unknown key \"modle\" in router.experiments[0]; did you mean \"model\"?");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, wieght: 50} ]\n",
                "16:48: unknown key \"wieght\" in router.experiments[0].arms[1]; did you mean \"weight\"?");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 100} ]\n",
                "16:7: router.experiments[0].arms: an experiment needs at least two arms");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      sticky: users\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 50} ]\n",
                "16:15: router.experiments[0].sticky: expected one of user, key, none");
    sy_test_expect_diag(EXP_HEAD "    - name: \"e 1\"\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 50, model: nope} ]\n",
                "14:13: router.experiments[0].name: use letters, digits and - _ . : only");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 50}, {name: b, weight: 50, model: chat-locl} ]\n",
                "16:67: router.experiments[0].arms[1].model: unknown model \"chat-locl\"; did you mean "
                "\"chat-local\"?");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 50.005}, {name: b, weight: 49.995} ]\n",
                "16:33: router.experiments[0].arms[0].weight: a percentage with at most two decimals");
    sy_test_expect_diag(EXP_HEAD "    - name: e1\n"
                         "      model: chat\n"
                         "      arms: [ {name: a, weight: 150}, {name: b, weight: 50} ]\n",
                "16:33: router.experiments[0].arms[0].weight: out of range (0..100)");
    sy_test_expect_diag(EXP_HEAD "    - model: chat\n"
                         "      arms: [ {weight: 50}, {name: b, weight: 50} ]\n",
                "14:7: router.experiments[0]: missing required key \"name\"");
    sy_test_expect_diag(EXP_HEAD "    - model: chat\n"
                         "      arms: [ {weight: 50}, {name: b, weight: 50} ]\n",
                "15:16: router.experiments[0].arms[0]: missing required key \"name\"");
    sy_test_expect_diag(PROVIDERS MODELS "router:\n  experiment: []\n",
                "13:3: unknown key \"experiment\" in router; did you mean \"experiments\"?");
}

/* ---- assignment ---- */

Test(experiment, sticky_same_id_same_arm)
{
    sy_config_t *cfg = split(TWO_ARMS);
    const sy_exp_conf_t *e = &cfg->experiments[0];
    char id[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(id, sizeof(id), "user-%d", i);
        int a = sy_exp_assign(e, id, (size_t)n);
        cr_assert(a == 0 || a == 1);
        for (int k = 0; k < 3; k++)
            cr_assert_eq(sy_exp_assign(e, id, (size_t)n), a, "sticky");
        uint32_t b = sy_exp_bucket(e, id, (size_t)n);
        cr_assert_lt(b, 10000);
        cr_assert_eq(a, b < 5000 ? 0 : 1, "bucket below the first arm's 50%% goes to it");
    }
    sy_config_free(cfg);
}

/* The name salts the hash: two experiments split the same users independently. */
Test(experiment, experiments_independent)
{
    sy_config_t *cfg = sy_test_load_ok(PROVIDERS MODELS "router:\n  experiments:\n"
                                                "    - { name: one, model: chat, arms: [ {name: a, weight: 50}, {name: b, weight: 50} ] }\n"
                                                "    - { name: two, model: other, arms: [ {name: a, weight: 50}, {name: b, weight: 50} ] }\n");
    int same = 0;
    char id[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(id, sizeof(id), "u%d", i);
        same += sy_exp_assign(&cfg->experiments[0], id, (size_t)n) == sy_exp_assign(&cfg->experiments[1], id, (size_t)n);
    }
    cr_assert(same > 4700 && same < 5300, "agreement %d of 10000 should be ~half", same);
    sy_config_free(cfg);
}

static void check_split(const char *arms, const double *want, size_t n)
{
    sy_config_t *cfg = split(arms);
    int count[8] = {0};
    char id[32];
    for (int i = 0; i < 100000; i++) {
        int len = snprintf(id, sizeof(id), "req_%08x", (unsigned)i * 2654435761u);
        int a = sy_exp_assign(&cfg->experiments[0], id, (size_t)len);
        cr_assert(a >= 0 && (size_t)a < n);
        count[a]++;
    }
    for (size_t a = 0; a < n; a++)
        cr_assert(fabs(count[a] / 100000.0 - want[a]) < 0.01, "arm %zu got %.4f, want %.2f", a, count[a] / 100000.0,
                  want[a]);
    sy_config_free(cfg);
}

Test(experiment, split_within_tolerance)
{
    check_split(TWO_ARMS, (double[]){0.5, 0.5}, 2);
    check_split("        - { name: a, weight: 10 }\n"
                "        - { name: b, weight: 30 }\n"
                "        - { name: c, weight: 60 }\n",
                (double[]){0.1, 0.3, 0.6}, 3);
    check_split("        - { name: a, weight: 0 }\n"
                "        - { name: b, weight: 100 }\n",
                (double[]){0, 1}, 2);
    check_split("        - { name: a, weight: 100 }\n"
                "        - { name: b, weight: 0 }\n",
                (double[]){1, 0}, 2);
}

Test(experiment, sticky_id_precedence)
{
    sy_config_t *cfg = split(TWO_ARMS);
    sy_exp_conf_t e = cfg->experiments[0];
    size_t n;
    e.sticky = SY_EXP_STICKY_USER;
    cr_assert_str_eq(sy_exp_sticky_id(&e, "hdr", "body", 4, NULL, "req1", &n), "hdr");
    cr_assert_eq(n, 3);
    const char *s = sy_exp_sticky_id(&e, "", "body-user", 4, NULL, "req1", &n);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(s, "body", 4), 0, "the body's user (its length, not NUL-terminated)");
    cr_assert_str_eq(sy_exp_sticky_id(&e, NULL, NULL, 0, NULL, "req1", &n), "req1", "no id: the request's");
    e.sticky = SY_EXP_STICKY_KEY;
    cr_assert_str_eq(sy_exp_sticky_id(&e, "hdr", "body", 4, "sk-key", "req1", &n), "sk-key");
    cr_assert_str_eq(sy_exp_sticky_id(&e, "hdr", "body", 4, NULL, "req1", &n), "hdr", "no key: as user");
    e.sticky = SY_EXP_STICKY_NONE;
    cr_assert_str_eq(sy_exp_sticky_id(&e, "hdr", "body", 4, "k", "req1", &n), "req1");
    sy_config_free(cfg);
}

Test(experiment, cost_from_price)
{
    sy_config_t *cfg = split(TWO_ARMS);
    /* chat's cloud gpt: 2 in, 8 out per million */
    cr_assert_float_eq(sy_exp_cost(cfg, NULL, "chat", "cloud", "gpt", 1000, 500), (2000.0 + 4000.0) / 1e6, 1e-12);
    cr_assert_float_eq(sy_exp_cost(cfg, NULL, "chat-local", "local", "qwen:7b", 1000, 500), 0, 1e-12,
                       "a local deployment costs 0");
    cr_assert_float_eq(sy_exp_cost(cfg, NULL, "x", "cloud", "gpt", 1000, -1), 2000.0 / 1e6, 1e-12,
                       "found in any model; unknown tokens count 0");
    cr_assert_lt(sy_exp_cost(cfg, NULL, "other", "cloud", "unpriced", 10, 10), 0, "no price: unknown");
    cr_assert_lt(sy_exp_cost(cfg, NULL, "chat", "", "", 10, 10), 0);
    sy_config_free(cfg);
}

/* ---- counters and reports ---- */

static json_object *stats_json(sy_exp_state_t *s)
{
    struct evbuffer *b = evbuffer_new();
    sy_exp_json(s, b);
    size_t n = evbuffer_get_length(b);
    char *t = malloc(n + 1);
    evbuffer_remove(b, t, n);
    t[n] = '\0';
    evbuffer_free(b);
    json_object *j = json_tokener_parse(t);
    if (!j)
        cr_assert_fail("not JSON: %s", t);
    free(t);
    return j;
}

static json_object *arm_json(json_object *root, int exp, int arm)
{
    json_object *e = json_object_array_get_idx(root, (size_t)exp), *arms;
    cr_assert(json_object_object_get_ex(e, "arms", &arms));
    return json_object_array_get_idx(arms, (size_t)arm);
}

static double num(json_object *o, const char *k)
{
    json_object *v;
    cr_assert(json_object_object_get_ex(o, k, &v), "no %s", k);
    return json_object_get_double(v);
}

Test(experiment, record_and_json)
{
    sy_config_t *cfg = split(TWO_ARMS);
    sy_exp_state_t *s = sy_exp_state_new(cfg, 0);
    cr_assert_not_null(s);
    for (int i = 0; i < 10; i++) {
        sy_exp_outcome_t o = {.error = i == 9, .latency_ns = 10000000ull * (uint64_t)(i + 1), .ttft_ns = 2000000,
                              .prompt_tokens = 100, .completion_tokens = 50, .cost_usd = 0.0006};
        sy_exp_record(s, 0, 0, &o);
    }
    sy_exp_outcome_t o = {.latency_ns = 5000000, .ttft_ns = -1, .prompt_tokens = -1, .cost_usd = -1};
    sy_exp_record(s, 0, 1, &o);
    sy_exp_record(s, 0, 7, &o); /* out of range: ignored */
    sy_exp_record(s, 3, 0, &o);
    cr_assert_eq(sy_exp_remember(s, "req_a", 0, 0), 0);
    int e, a, rep;
    cr_assert_eq(sy_exp_feedback(s, "req_a", 1.0, &e, &a, &rep), 0);
    cr_assert_eq(rep, 0);
    cr_assert_eq(sy_exp_remember(s, "req_b", 0, 0), 0);
    cr_assert_eq(sy_exp_feedback(s, "req_b", 0.5, &e, &a, &rep), 0);

    json_object *root = stats_json(s);
    json_object *ex = json_object_array_get_idx(root, 0), *v;
    cr_assert(json_object_object_get_ex(ex, "name", &v));
    cr_assert_str_eq(json_object_get_string(v), "e1");
    cr_assert(json_object_object_get_ex(ex, "sticky", &v));
    cr_assert_str_eq(json_object_get_string(v), "user");
    json_object *c = arm_json(root, 0, 0), *l = arm_json(root, 0, 1);
    cr_assert(json_object_object_get_ex(c, "model", &v));
    cr_assert_str_eq(json_object_get_string(v), "chat", "control: the asked model");
    cr_assert(json_object_object_get_ex(l, "model", &v));
    cr_assert_str_eq(json_object_get_string(v), "chat-local");
    cr_assert_float_eq(num(c, "weight"), 50, 1e-9);
    cr_assert_float_eq(num(c, "requests"), 10, 1e-9);
    cr_assert_float_eq(num(c, "errors"), 1, 1e-9);
    cr_assert_float_eq(num(c, "error_rate"), 0.1, 1e-9);
    cr_assert_float_eq(num(c, "latency_ms_mean"), 55, 1e-6, "10..100 ms");
    cr_assert(num(c, "latency_ms_p50") > 40 && num(c, "latency_ms_p50") <= 50, "p50 %f", num(c, "latency_ms_p50"));
    cr_assert(num(c, "latency_ms_p95") > 75 && num(c, "latency_ms_p95") <= 100, "p95 %f",
              num(c, "latency_ms_p95"));
    cr_assert_float_eq(num(c, "ttft_ms_mean"), 2, 1e-9);
    cr_assert_float_eq(num(c, "prompt_tokens"), 1000, 1e-9);
    cr_assert_float_eq(num(c, "completion_tokens"), 500, 1e-9);
    cr_assert_float_eq(num(c, "cost_usd"), 0.006, 1e-9);
    cr_assert_float_eq(num(c, "unpriced"), 0, 1e-9);
    cr_assert_float_eq(num(c, "feedback_count"), 2, 1e-9);
    cr_assert_float_eq(num(c, "feedback_sum"), 1.5, 1e-9);
    cr_assert_float_eq(num(c, "feedback_mean"), 0.75, 1e-9);
    cr_assert_float_eq(num(l, "requests"), 1, 1e-9);
    cr_assert_float_eq(num(l, "unpriced"), 1, 1e-9);
    cr_assert_float_eq(num(l, "ttft_ms_mean"), 0, 1e-9, "no first byte");
    cr_assert(json_object_object_get_ex(l, "feedback_mean", &v));
    cr_assert_null(v, "no feedback: null");
    json_object_put(root);
    sy_exp_state_free(s);
    sy_config_free(cfg);
}

Test(experiment, latency_quantiles)
{
    sy_config_t *cfg = split(TWO_ARMS);
    sy_exp_state_t *s = sy_exp_state_new(cfg, 0);
    cr_assert_float_eq(sy_exp_latency_quantile(sy_exp_arm(s, 0, 0), 0.5), 0, 1e-9, "no requests");
    for (int i = 0; i < 100; i++) {
        sy_exp_outcome_t o = {.latency_ns = (i < 90 ? 8 : 400) * 1000000ull, .ttft_ns = -1, .cost_usd = -1};
        sy_exp_record(s, 0, 0, &o);
    }
    double p50 = sy_exp_latency_quantile(sy_exp_arm(s, 0, 0), 0.5);
    double p95 = sy_exp_latency_quantile(sy_exp_arm(s, 0, 0), 0.95);
    cr_assert(p50 > 7.5 && p50 <= 10, "p50 %f in the (7.5, 10] bucket", p50);
    cr_assert(p95 > 300 && p95 <= 400, "p95 %f", p95);
    sy_exp_state_free(s);
    sy_config_free(cfg);
}

Test(experiment, metrics_text)
{
    sy_config_t *cfg = split(TWO_ARMS);
    sy_exp_state_t *s = sy_exp_state_new(cfg, 0);
    sy_exp_outcome_t o = {.error = 1, .latency_ns = 20000000, .ttft_ns = -1, .prompt_tokens = 7,
                          .completion_tokens = 3, .cost_usd = 0.5};
    sy_exp_record(s, 0, 1, &o);
    struct evbuffer *b = evbuffer_new();
    sy_exp_metrics(s, b);
    evbuffer_add(b, "", 1);
    const char *t = (const char *)evbuffer_pullup(b, -1);
    static const char *const want[] = {
        "# TYPE switchyard_experiment_requests_total counter\n",
        "switchyard_experiment_requests_total{experiment=\"e1\",arm=\"local\"} 1\n",
        "switchyard_experiment_requests_total{experiment=\"e1\",arm=\"control\"} 0\n",
        "switchyard_experiment_errors_total{experiment=\"e1\",arm=\"local\"} 1\n",
        "switchyard_experiment_tokens_total{experiment=\"e1\",arm=\"local\",direction=\"prompt\"} 7\n",
        "switchyard_experiment_tokens_total{experiment=\"e1\",arm=\"local\",direction=\"completion\"} 3\n",
        "switchyard_experiment_cost_usd_total{experiment=\"e1\",arm=\"local\"} 0.500000000\n",
        "# TYPE switchyard_experiment_duration_seconds histogram\n",
        "switchyard_experiment_duration_seconds_bucket{experiment=\"e1\",arm=\"local\",le=\"0.015\"} 0\n",
        "switchyard_experiment_duration_seconds_bucket{experiment=\"e1\",arm=\"local\",le=\"0.02\"} 1\n",
        "switchyard_experiment_duration_seconds_bucket{experiment=\"e1\",arm=\"local\",le=\"+Inf\"} 1\n",
        "switchyard_experiment_duration_seconds_count{experiment=\"e1\",arm=\"local\"} 1\n",
        "# TYPE switchyard_experiment_feedback_score_sum gauge\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_not_null(strstr(t, want[i]), "missing: %s", want[i]);
    evbuffer_free(b);
    sy_exp_state_free(s);
    sy_config_free(cfg);

    /* without experiments: nothing at all */
    cfg = sy_test_load_ok(PROVIDERS MODELS);
    s = sy_exp_state_new(cfg, 0);
    b = evbuffer_new();
    sy_exp_metrics(s, b);
    cr_assert_eq(evbuffer_get_length(b), 0);
    sy_exp_json(s, b);
    evbuffer_add(b, "", 1);
    cr_assert_str_eq((const char *)evbuffer_pullup(b, -1), "[]");
    int e, a;
    cr_assert_eq(sy_exp_remember(s, "req", 0, 0), -1, "no table without experiments");
    cr_assert_eq(sy_exp_lookup(s, "req", &e, &a), -1);
    evbuffer_free(b);
    sy_exp_state_free(s);
    sy_config_free(cfg);
}

/* ---- the feedback table ---- */

Test(experiment, remember_lookup_replace)
{
    sy_config_t *cfg = split(TWO_ARMS);
    sy_exp_state_t *s = sy_exp_state_new(cfg, 0);
    int e = -1, a = -1, rep = -1;
    cr_assert_eq(sy_exp_lookup(s, "req_x", &e, &a), -1, "unknown");
    cr_assert_eq(sy_exp_feedback(s, "req_x", 1, &e, &a, &rep), -1);
    cr_assert_eq(sy_exp_remember(s, "req_x", 0, 1), 0);
    cr_assert_eq(sy_exp_lookup(s, "req_x", &e, &a), 0);
    cr_assert_eq(e, 0);
    cr_assert_eq(a, 1);
    cr_assert_eq(sy_exp_lookup(s, "req_", &e, &a), -1, "a prefix is not the id");
    cr_assert_eq(sy_exp_lookup(s, "req_xy", &e, &a), -1);
    /* invalid input */
    cr_assert_eq(sy_exp_remember(s, "", 0, 0), -1);
    char longid[80];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[79] = '\0';
    cr_assert_eq(sy_exp_remember(s, longid, 0, 0), -1, "longer than a request id");
    cr_assert_eq(sy_exp_remember(s, "req_y", 0, 5), -1, "no such arm");
    cr_assert_eq(sy_exp_feedback(s, "req_x", NAN, &e, &a, &rep), -1, "not finite");
    /* a score, then another: replaced */
    cr_assert_eq(sy_exp_feedback(s, "req_x", 4, &e, &a, &rep), 0);
    cr_assert_eq(rep, 0);
    cr_assert_eq(sy_exp_feedback(s, "req_x", -2, &e, &a, &rep), 0);
    cr_assert_eq(rep, 1);
    sy_exp_arm_state_t *as = sy_exp_arm(s, 0, 1);
    cr_assert_eq(atomic_load(&as->feedback_count), 1, "replacing does not count twice");
    double sum;
    uint64_t bits = atomic_load(&as->feedback_sum_bits);
    memcpy(&sum, &bits, sizeof(sum));
    cr_assert_float_eq(sum, -2, 1e-12);
    /* the id comes again (a client's own x-request-id): its latest request */
    cr_assert_eq(sy_exp_remember(s, "req_x", 0, 0), 0);
    cr_assert_eq(sy_exp_lookup(s, "req_x", &e, &a), 0);
    cr_assert_eq(a, 0);
    cr_assert_eq(sy_exp_feedback(s, "req_x", 1, &e, &a, &rep), 0);
    cr_assert_eq(rep, 0, "a new request: its first score");
    sy_exp_state_free(s);
    sy_config_free(cfg);
}

Test(experiment, oldest_evicted)
{
    sy_config_t *cfg = split(TWO_ARMS);
    sy_exp_state_t *s = sy_exp_state_new(cfg, 64); /* 16 shards of 4 */
    char id[32];
    int e, a;
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "req_%d", i);
        cr_assert_eq(sy_exp_remember(s, id, 0, i & 1), 0);
    }
    int found = 0, recent = 0;
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "req_%d", i);
        if (sy_exp_lookup(s, id, &e, &a) == 0) {
            found++;
            cr_assert_eq(a, i & 1);
            recent += i >= 10000 - 400;
        }
    }
    cr_assert_eq(found, 64, "exactly the capacity is kept (every shard full)");
    cr_assert_eq(recent, 64, "and only recent ids");
    snprintf(id, sizeof(id), "req_%d", 9999);
    cr_assert_eq(sy_exp_lookup(s, id, &e, &a), 0, "the newest is there");
    cr_assert_eq(sy_exp_lookup(s, "req_0", &e, &a), -1, "the oldest is gone");
    sy_exp_state_free(s);
    sy_config_free(cfg);
}

typedef struct worker {
    sy_exp_state_t *s;
    int t;
} worker_t;

static void *hammer(void *arg)
{
    worker_t *w = arg;
    char id[32];
    int e, a, rep;
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof(id), "t%d-%d", w->t, i);
        sy_exp_remember(w->s, id, 0, w->t & 1);
        sy_exp_outcome_t o = {.latency_ns = 1000000, .ttft_ns = -1, .cost_usd = -1};
        sy_exp_record(w->s, 0, w->t & 1, &o);
        if (sy_exp_feedback(w->s, id, 1.0, &e, &a, &rep) != 0 || a != (w->t & 1))
            return (void *)1; /* the table is large enough to keep every id until now */
    }
    return NULL;
}

Test(experiment, threads)
{
    sy_config_t *cfg = split(TWO_ARMS);
    sy_exp_state_t *s = sy_exp_state_new(cfg, 0);
    pthread_t th[4];
    worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){s, i};
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        cr_assert_null(rv, "thread %d lost an id", i);
    }
    for (int arm = 0; arm < 2; arm++) {
        sy_exp_arm_state_t *as = sy_exp_arm(s, 0, arm);
        cr_assert_eq(atomic_load(&as->requests), 40000);
        cr_assert_eq(atomic_load(&as->feedback_count), 40000);
        double sum;
        uint64_t bits = atomic_load(&as->feedback_sum_bits);
        memcpy(&sum, &bits, sizeof(sum));
        cr_assert_float_eq(sum, 40000, 1e-9);
    }
    sy_exp_state_free(s);
    sy_config_free(cfg);
}

/* Model names may hold any character: the JSON escapes them. */
Test(experiment, json_escapes_model_names)
{
    sy_config_t *cfg = sy_test_load_ok(PROVIDERS "models:\n"
                                         "  - { name: 'we\"ird\\m', deployments: [{provider: cloud, model: x}] }\n"
                                         "  - { name: plain, deployments: [{provider: cloud, model: y}] }\n"
                                         "router:\n  experiments:\n"
                                         "    - { name: e, model: 'we\"ird\\m', arms: [ {name: a, weight: 50},"
                                         " {name: b, weight: 50, model: plain} ] }\n");
    sy_exp_state_t *s = sy_exp_state_new(cfg, 0);
    json_object *root = stats_json(s), *v;
    cr_assert(json_object_object_get_ex(json_object_array_get_idx(root, 0), "model", &v));
    cr_assert_str_eq(json_object_get_string(v), "we\"ird\\m");
    cr_assert(json_object_object_get_ex(arm_json(root, 0, 0), "model", &v));
    cr_assert_str_eq(json_object_get_string(v), "we\"ird\\m");
    json_object_put(root);
    sy_exp_state_free(s);
    sy_config_free(cfg);
}
