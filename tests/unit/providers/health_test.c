/*
 * health_test.c - unit tests for src/providers/health.c: parsing what
 * llama.cpp's GET /slots and GET /metrics answer (valid, older shape,
 * malformed, huge), the up/down state machine (unhealthy_after,
 * healthy_after), the per-deployment preferences set by /api/ps, /slots
 * and /metrics answers (and cleared by failures), the fall back from /slots
 * to /metrics, and the JSON and Prometheus reports. Probe outcomes are fed
 * through the internal entry points with an injected clock; no loop runs.
 */
#include "providers/health.h"
#include "config_harness.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define MS 1000000ull

static const char *yaml =
    "providers:\n"
    "  - {name: cloud, type: openai, base_url: \"https://c.example.invalid/v1\"}\n"
    "  - {name: ol, type: ollama, base_url: \"http://127.0.0.1:1\", health: { unhealthy_after: 2, healthy_after: 2 }}\n"
    "  - {name: lc, type: openai, base_url: \"http://127.0.0.1:2/v1\", health: { slots: true }}\n"
    "  - {name: plain, type: openai, base_url: \"http://127.0.0.1:3/v1\", health: true}\n"
    "models:\n"
    "  - name: m\n"
    "    deployments:\n"
    "      - { provider: cloud, model: gpt }\n"
    "      - { provider: ol, model: \"llama3.2\" }\n"
    "      - { provider: ol, model: \"qwen2.5:7b\" }\n"
    "      - { provider: lc, model: q }\n"
    "  - name: n\n"
    "    deployments:\n"
    "      - { provider: lc, model: q }\n";

enum { CLOUD = 0, OL = 1, LC = 2, PLAIN = 3 };

static sy_config_t *cfg;
static sy_health_t *h;

static void setup(void)
{
    sy_log_set_level(3); /* transitions are logged: keep the output quiet */
    cfg = sy_test_load_ok(yaml);
    h = sy_health_new(cfg, NULL);
    cr_assert_not_null(h);
}

static void teardown(void)
{
    sy_health_free(h);
    sy_config_free(cfg);
}

static int ok(size_t pi, uint64_t at)
{
    return sy__health_main_result(h, pi, NULL, 200, "{}", 2, at, 1 * MS);
}

static int fail(size_t pi, uint64_t at)
{
    return sy__health_main_result(h, pi, "connection refused", 0, "", 0, at, 2 * MS);
}

static void aux(size_t pi, int status, const char *body)
{
    sy__health_aux_result(h, pi, NULL, status, body, strlen(body));
}

/* The report as a json-c object (the caller puts it). */
static json_object *report(uint64_t now)
{
    struct evbuffer *b = evbuffer_new();
    sy_health_json(h, now, b);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    json_object *o = json_tokener_parse(s);
    cr_assert_not_null(o, "not JSON: %s", s);
    free(s);
    return o;
}

static json_object *field(json_object *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        json_object *v = NULL;
        cr_assert(json_object_object_get_ex(o, k, &v), "no %s in %s", k, json_object_to_json_string(o));
        o = v;
    }
    return o;
}

/* ---- configuration ---- */

Test(health, wanted_and_not)
{
    const char *none = "providers:\n  - {name: a, type: ollama, base_url: \"http://h\"}\n";
    const char *demo = "providers:\n  - {name: demo-a, type: openai, base_url: \"http://h/v1\", health: true}\n";
    sy_diags_t d = {0};
    sy_config_t *c1 = sy_config_load_string(none, strlen(none), "t.yaml", &d);
    sy_config_t *c2 = sy_config_load_string(demo, strlen(demo), "t.yaml", &d);
    cr_assert(c1 && c2);
    cr_assert_eq(sy_health_wanted(c1), 0);
    cr_assert_null(sy_health_new(c1, NULL));
    cr_assert_eq(sy_health_wanted(c2), 0, "a demo provider answers itself: nothing to probe");
    sy_config_free(c1);
    sy_config_free(c2);
}

/* ---- /slots ---- */

Test(health, slots_new_shape)
{
    const char *b = "[{\"id\":0,\"id_task\":3,\"n_ctx\":1024,\"is_processing\":true,\"params\":{\"x\":[1,2]}},"
                    " {\"id\":1,\"id_task\":-1,\"is_processing\":false},"
                    " {\"id\":2,\"is_processing\":false}]";
    int total, idle;
    sy_error_t e;
    cr_assert_eq(sy__health_parse_slots(b, strlen(b), &total, &idle, &e), SY_OK);
    cr_assert_eq(total, 3);
    cr_assert_eq(idle, 2);
}

Test(health, slots_older_shape_state)
{
    const char *b = "[{\"id\":0,\"state\":1,\"prompt\":\"hi\"},{\"id\":1,\"state\":0}]";
    int total, idle;
    sy_error_t e;
    cr_assert_eq(sy__health_parse_slots(b, strlen(b), &total, &idle, &e), SY_OK);
    cr_assert_eq(total, 2);
    cr_assert_eq(idle, 1);
    /* a slot without a state counts as one, busy */
    const char *c = "[{\"id\":0,\"state\":0},{\"id\":1}]";
    cr_assert_eq(sy__health_parse_slots(c, strlen(c), &total, &idle, &e), SY_OK);
    cr_assert_eq(total, 2);
    cr_assert_eq(idle, 1);
}

Test(health, slots_malformed)
{
    const char *bad[] = {"", "[", "{\"slots\":[]}", "[]", "[1,2,\"x\"]", "[{\"id\":0}]",
                         "[{\"is_processing\":\"no\"}]", "[{\"state\":\"0\"}]", "[{\"is_processing\":false}] x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int total = -5, idle = -5;
        sy_error_t e;
        cr_assert_eq(sy__health_parse_slots(bad[i], strlen(bad[i]), &total, &idle, &e), SY_EUPPROTO, "%s", bad[i]);
        cr_assert_neq(e.message[0], '\0');
        cr_assert_eq(total, 0);
        cr_assert_eq(idle, 0);
    }
}

Test(health, slots_huge_is_capped)
{
    size_t n = SY_HEALTH_MAX_SLOTS + 500;
    const char *one = "{\"is_processing\":false},";
    char *b = malloc(n * strlen(one) + 3);
    char *at = b;
    *at++ = '[';
    for (size_t i = 0; i < n; i++) {
        memcpy(at, one, strlen(one));
        at += strlen(one);
    }
    at[-1] = ']';
    *at = '\0';
    int total, idle;
    sy_error_t e;
    cr_assert_eq(sy__health_parse_slots(b, strlen(b), &total, &idle, &e), SY_OK);
    cr_assert_eq(total, SY_HEALTH_MAX_SLOTS);
    cr_assert_eq(idle, SY_HEALTH_MAX_SLOTS);
    free(b);
}

/* ---- /metrics ---- */

Test(health, metrics_parse)
{
    const char *t = "# HELP llamacpp:requests_processing Number of requests processing.\n"
                    "# TYPE llamacpp:requests_processing gauge\n"
                    "llamacpp:requests_processing 3\n"
                    "llamacpp:requests_processing_extra 99\n"
                    "llamacpp:requests_deferred{slot=\"x\"} 2 1700000000\r\n"
                    "llamacpp:kv_cache_usage_ratio 0.5";
    int64_t p, d;
    cr_assert_eq(sy__health_parse_metrics(t, strlen(t), &p, &d), 0);
    cr_assert_eq(p, 3);
    cr_assert_eq(d, 2);
    const char *only = "llamacpp:requests_deferred 0";
    cr_assert_eq(sy__health_parse_metrics(only, strlen(only), &p, &d), 0);
    cr_assert_eq(p, -1);
    cr_assert_eq(d, 0);
}

Test(health, metrics_absent_or_garbage)
{
    const char *bad[] = {"", "# nothing\n", "llamacpp:requests_processing\n", "llamacpp:requests_processing -1\n",
                         "llamacpp:requests_processing NaN\n", "llamacpp:requests_deferred abc\n",
                         "xllamacpp:requests_deferred 1\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t p, d;
        cr_assert_eq(sy__health_parse_metrics(bad[i], strlen(bad[i]), &p, &d), -1, "%s", bad[i]);
        cr_assert_eq(p, -1);
        cr_assert_eq(d, -1);
    }
}

/* ---- up and down ---- */

Test(health, unknown_until_probed, .init = setup, .fini = teardown)
{
    cr_assert_eq(sy_health_state(h, OL), SY_HEALTH_UNKNOWN);
    cr_assert_eq(sy_health_state(h, CLOUD), SY_HEALTH_UNKNOWN, "not probed");
    cr_assert_eq(sy_health_state(h, 99), SY_HEALTH_UNKNOWN);
    cr_assert_eq(sy_health_state(NULL, OL), SY_HEALTH_UNKNOWN);
    cr_assert_eq(sy_health_pref(h, 0, 1), 0);
    cr_assert_eq(sy_health_any_up(h), 0, "nothing up yet");
}

Test(health, unhealthy_after_and_healthy_after, .init = setup, .fini = teardown)
{
    /* ol: unhealthy_after 2, healthy_after 2 */
    cr_assert_eq(ok(OL, 1 * MS), SY_HEALTH_UNKNOWN, "one good probe of two");
    cr_assert_eq(ok(OL, 2 * MS), SY_HEALTH_UP);
    cr_assert_eq(fail(OL, 3 * MS), SY_HEALTH_UP, "one failure is not enough");
    cr_assert_eq(ok(OL, 4 * MS), SY_HEALTH_UP);
    cr_assert_eq(fail(OL, 5 * MS), SY_HEALTH_UP, "the streak restarted");
    cr_assert_eq(fail(OL, 6 * MS), SY_HEALTH_DOWN);
    cr_assert_eq(fail(OL, 7 * MS), SY_HEALTH_DOWN);
    cr_assert_eq(ok(OL, 8 * MS), SY_HEALTH_DOWN, "one good probe of two");
    cr_assert_eq(fail(OL, 9 * MS), SY_HEALTH_DOWN);
    cr_assert_eq(ok(OL, 10 * MS), SY_HEALTH_DOWN);
    cr_assert_eq(ok(OL, 11 * MS), SY_HEALTH_UP);
    /* plain: the defaults, unhealthy_after 2, healthy_after 1 */
    cr_assert_eq(fail(PLAIN, 1 * MS), SY_HEALTH_UNKNOWN);
    cr_assert_eq(fail(PLAIN, 2 * MS), SY_HEALTH_DOWN);
    cr_assert_eq(ok(PLAIN, 3 * MS), SY_HEALTH_UP);
    cr_assert_eq(sy_health_any_up(h), 1);
}

Test(health, non_2xx_is_a_failure, .init = setup, .fini = teardown)
{
    for (int i = 0; i < 2; i++)
        sy__health_main_result(h, PLAIN, NULL, 401, "", 0, (uint64_t)(i + 1) * MS, MS);
    cr_assert_eq(sy_health_state(h, PLAIN), SY_HEALTH_DOWN);
    json_object *o = report(10 * MS);
    cr_assert_str_eq(json_object_get_string(field(o, "plain.error")), "GET /models answered HTTP 401");
    cr_assert_str_eq(json_object_get_string(field(o, "plain.status")), "down");
    cr_assert_eq(json_object_get_int(field(o, "plain.failures")), 2);
    cr_assert_eq(json_object_get_int(field(o, "plain.last_probe_ms_ago")), 8);
    json_object_put(o);
    sy__health_main_result(h, PLAIN, NULL, 204, "", 0, 11 * MS, MS);
    o = report(11 * MS);
    cr_assert_str_eq(json_object_get_string(field(o, "plain.status")), "up");
    cr_assert(json_object_is_type(field(o, "plain.error"), json_type_null));
    json_object_put(o);
}

/* ---- preferences ---- */

Test(health, ps_prefers_loaded_models, .init = setup, .fini = teardown)
{
    ok(OL, MS);
    ok(OL, 2 * MS);
    aux(OL, 200, "{\"models\":[{\"name\":\"llama3.2:latest\",\"model\":\"llama3.2:latest\",\"size_vram\":5}]}");
    cr_assert_eq(sy_health_pref(h, 0, 1), 1, "llama3.2 is llama3.2:latest, loaded");
    cr_assert_eq(sy_health_pref(h, 0, 2), -1, "qwen2.5:7b is not loaded");
    cr_assert_eq(sy_health_pref(h, 0, 0), 0, "the cloud says nothing");
    json_object *o = report(3 * MS);
    json_object *l = field(o, "ol.loaded");
    cr_assert_eq(json_object_array_length(l), 1);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(l, 0)), "llama3.2:latest");
    json_object_put(o);

    /* "model" counts too when it differs from "name" */
    aux(OL, 200, "{\"models\":[{\"name\":\"alias\",\"model\":\"qwen2.5:7b\"}]}");
    cr_assert_eq(sy_health_pref(h, 0, 1), -1);
    cr_assert_eq(sy_health_pref(h, 0, 2), 1);

    /* nothing loaded: every deployment of ol is "not loaded" */
    aux(OL, 200, "{\"models\":[]}");
    cr_assert_eq(sy_health_pref(h, 0, 1), -1);
    cr_assert_eq(sy_health_pref(h, 0, 2), -1);
}

Test(health, ps_malformed_or_failed_clears, .init = setup, .fini = teardown)
{
    aux(OL, 200, "{\"models\":[{\"name\":\"llama3.2\"}]}");
    cr_assert_eq(sy_health_pref(h, 0, 1), 1);
    aux(OL, 200, "{\"models\": 5}");
    cr_assert_eq(sy_health_pref(h, 0, 1), 0, "an answer we cannot read says nothing");
    aux(OL, 200, "{\"models\":[{\"name\":\"llama3.2\"}]}");
    aux(OL, 500, "");
    cr_assert_eq(sy_health_pref(h, 0, 1), 0);
    json_object *o = report(MS);
    cr_assert(json_object_is_type(field(o, "ol.loaded"), json_type_null));
    json_object_put(o);
    /* a failed main probe clears what the server was busy with */
    aux(OL, 200, "{\"models\":[{\"name\":\"llama3.2\"}]}");
    fail(OL, MS);
    cr_assert_eq(sy_health_pref(h, 0, 1), 0);
}

Test(health, slots_prefer_idle, .init = setup, .fini = teardown)
{
    aux(LC, 200, "[{\"is_processing\":true},{\"is_processing\":false}]");
    cr_assert_eq(sy_health_pref(h, 0, 3), 1);
    cr_assert_eq(sy_health_pref(h, 1, 0), 1, "every model's deployments on lc");
    aux(LC, 200, "[{\"is_processing\":true},{\"is_processing\":true}]");
    cr_assert_eq(sy_health_pref(h, 0, 3), -1);
    json_object *o = report(MS);
    cr_assert_str_eq(json_object_get_string(field(o, "lc.slots.source")), "slots");
    cr_assert_eq(json_object_get_int(field(o, "lc.slots.total")), 2);
    cr_assert_eq(json_object_get_int(field(o, "lc.slots.idle")), 0);
    json_object_put(o);
    aux(LC, 200, "not json");
    cr_assert_eq(sy_health_pref(h, 0, 3), 0);
}

Test(health, slots_off_falls_back_to_metrics, .init = setup, .fini = teardown)
{
    cr_assert_eq(sy__health_uses_metrics(h, LC), 0);
    aux(LC, 500, "");
    cr_assert_eq(sy__health_uses_metrics(h, LC), 0, "a 500 is trouble, not a missing endpoint");
    aux(LC, 501, "{\"error\":{\"code\":501,\"type\":\"not_supported_error\"}}");
    cr_assert_eq(sy__health_uses_metrics(h, LC), 1);
    aux(LC, 200, "llamacpp:requests_processing 4\nllamacpp:requests_deferred 2\n");
    cr_assert_eq(sy_health_pref(h, 0, 3), -1, "requests wait: every slot is busy");
    aux(LC, 200, "llamacpp:requests_processing 1\nllamacpp:requests_deferred 0\n");
    cr_assert_eq(sy_health_pref(h, 0, 3), 1);
    json_object *o = report(MS);
    cr_assert_str_eq(json_object_get_string(field(o, "lc.slots.source")), "metrics");
    cr_assert_eq(json_object_get_int(field(o, "lc.slots.processing")), 1);
    cr_assert_eq(json_object_get_int(field(o, "lc.slots.deferred")), 0);
    json_object_put(o);
    aux(LC, 200, "# no llama.cpp metrics here\n");
    cr_assert_eq(sy_health_pref(h, 0, 3), 0);
}

/* ---- reports ---- */

Test(health, json_lists_only_probed, .init = setup, .fini = teardown)
{
    json_object *o = report(0);
    cr_assert_eq(json_object_object_length(o), 3);
    json_object *v;
    cr_assert_not(json_object_object_get_ex(o, "cloud", &v));
    cr_assert_str_eq(json_object_get_string(field(o, "ol.status")), "unknown");
    cr_assert(json_object_is_type(field(o, "ol.last_probe_ms_ago"), json_type_null));
    cr_assert_not(json_object_object_get_ex(field(o, "plain"), "slots", &v));
    cr_assert_not(json_object_object_get_ex(field(o, "plain"), "loaded", &v));
    json_object_put(o);
}

Test(health, metrics_families, .init = setup, .fini = teardown)
{
    ok(PLAIN, MS);
    ok(OL, MS);
    ok(OL, 2 * MS);
    aux(OL, 200, "{\"models\":[{\"name\":\"a\"},{\"name\":\"b\"}]}");
    aux(LC, 200, "[{\"state\":0},{\"state\":0},{\"state\":1}]");
    fail(LC, 3 * MS);
    struct evbuffer *b = evbuffer_new();
    sy_health_metrics(h, b);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    cr_assert(strstr(s, "# TYPE switchyard_provider_up gauge\n"));
    cr_assert(strstr(s, "switchyard_provider_up{provider=\"plain\"} 1\n"));
    cr_assert(strstr(s, "switchyard_provider_up{provider=\"ol\"} 1\n"));
    cr_assert(strstr(s, "switchyard_provider_up{provider=\"lc\"} 0\n"));
    cr_assert_null(strstr(s, "provider=\"cloud\""));
    cr_assert(strstr(s, "switchyard_provider_probe_latency_seconds{provider=\"ol\"} 0.001000\n"));
    cr_assert(strstr(s, "switchyard_provider_probe_failures_total{provider=\"lc\"} 1\n"));
    cr_assert(strstr(s, "switchyard_provider_loaded_models{provider=\"ol\"} 2\n"));
    cr_assert(strstr(s, "switchyard_provider_idle_slots{provider=\"lc\"} 2\n"));
    free(s);
}
