/*
 * config_test.c - unit tests for src/config/config.c: a full config read back
 * field by field, defaults, and one test per kind of diagnostic with its exact
 * file:line:col and text (the `switchyard validate` output users see).
 */
#include "config/config.h"
#include "config_harness.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Load text as "t.yaml"; the diagnostics go to d. */
static sy_config_t *load(const char *text, sy_diags_t *d)
{
    return sy_config_load_string(text, strlen(text), "t.yaml", d);
}

/* The i-th diagnostic rendered as sy_diags_print would. */
static const char *diag_str(const sy_diags_t *d, size_t i, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%d:%d: %s", d->items[i].file, d->items[i].line, d->items[i].col,
             d->items[i].message);
    return buf;
}

/* Load text that must be valid; fails the test with the diagnostics otherwise. */
static sy_config_t *load_ok(const char *text)
{
    sy_diags_t d = {0};
    sy_config_t *cfg = load(text, &d);
    if (!cfg) {
        char buf[1200];
        cr_assert_fail("unexpected diagnostic: %s", d.n ? diag_str(&d, 0, buf, sizeof(buf)) : "?");
    }
    cr_assert_eq(d.n, 0);
    sy_diags_release(&d);
    return cfg;
}

static const char *full_yaml =
    "server:\n"
    "  listen: \"10.1.2.3:8080\"\n"
    "  workers: 3\n"
    "  max_body_bytes: 1048576\n"
    "  drain_timeout_ms: 2500\n"
    "  stream_high_water_bytes: 65536\n"
    "  sse_keepalive_ms: 500\n"
    "log: { level: warn, requests: false }\n"
    "providers:\n"
    "  - name: mock\n"
    "    type: openai\n"
    "    base_url: \"http://127.0.0.1:9999/v1/\"\n"
    "    api_key_env: SY_TEST_FULL_KEY\n"
    "    timeouts: { connect_ms: 1, first_byte_ms: 2, idle_ms: 3, total_ms: 4 }\n"
    "    headers: { x-extra: \"value\", X-Two: \"2\" }\n"
    "  - name: local\n"
    "    type: ollama\n"
    "    base_url: http://127.0.0.1:11434\n"
    "  - { name: claude, type: anthropic, base_url: \"https://api.example.com\" }\n"
    "models:\n"
    "  - name: fast\n"
    "    deployments:\n"
    "      - { provider: local, model: \"llama3.2:1b\", weight: 3 }\n"
    "      - { provider: mock, model: \"mock-small\", weight: 0 }\n"
    "  - name: smart\n"
    "    deployments:\n"
    "      - provider: claude\n"
    "        model: big\n";

Test(config, full_config_every_field)
{
    setenv("SY_TEST_FULL_KEY", "sk-123", 1);
    sy_config_t *c = load_ok(full_yaml);
    cr_assert_str_eq(c->path, "<string>");
    cr_assert_str_eq(c->server.listen, "10.1.2.3:8080");
    cr_assert_str_eq(c->server.host, "10.1.2.3");
    cr_assert_eq(c->server.port, 8080);
    cr_assert_eq(c->server.workers, 3);
    cr_assert_eq(c->server.max_body_bytes, 1048576);
    cr_assert_eq(c->server.drain_timeout_ms, 2500);
    cr_assert_eq(c->server.stream_high_water_bytes, 65536);
    cr_assert_eq(c->server.sse_keepalive_ms, 500);
    cr_assert_eq(c->log.level, 2);
    cr_assert_eq(c->log.requests, 0);

    cr_assert_eq(c->n_providers, 3);
    const sy_provider_conf_t *p = &c->providers[0];
    cr_assert_str_eq(p->name, "mock");
    cr_assert_eq(p->type, SY_PROVIDER_OPENAI);
    cr_assert_str_eq(p->base_url, "http://127.0.0.1:9999/v1");
    cr_assert_str_eq(p->api_key_env, "SY_TEST_FULL_KEY");
    cr_assert_str_eq(p->api_key, "sk-123");
    cr_assert_eq(p->timeouts.connect_ms, 1);
    cr_assert_eq(p->timeouts.first_byte_ms, 2);
    cr_assert_eq(p->timeouts.idle_ms, 3);
    cr_assert_eq(p->timeouts.total_ms, 4);
    cr_assert_eq(p->n_headers, 2);
    cr_assert_str_eq(p->headers[0].name, "x-extra");
    cr_assert_str_eq(p->headers[0].value, "value");
    cr_assert_str_eq(p->headers[1].name, "X-Two");
    cr_assert_str_eq(p->headers[1].value, "2");

    p = &c->providers[1];
    cr_assert_str_eq(p->name, "local");
    cr_assert_eq(p->type, SY_PROVIDER_OLLAMA);
    cr_assert_str_eq(p->base_url, "http://127.0.0.1:11434");
    cr_assert_null(p->api_key_env);
    cr_assert_null(p->api_key);
    cr_assert_eq(p->n_headers, 0);
    cr_assert_null(p->headers);

    p = &c->providers[2];
    cr_assert_str_eq(p->name, "claude");
    cr_assert_eq(p->type, SY_PROVIDER_ANTHROPIC);
    cr_assert_str_eq(p->base_url, "https://api.example.com");

    cr_assert_eq(c->n_models, 2);
    const sy_model_conf_t *m = &c->models[0];
    cr_assert_str_eq(m->name, "fast");
    cr_assert_eq(m->n_deployments, 2);
    cr_assert_str_eq(m->deployments[0].provider, "local");
    cr_assert_eq(m->deployments[0].provider_index, 1);
    cr_assert_str_eq(m->deployments[0].model, "llama3.2:1b");
    cr_assert_eq(m->deployments[0].weight, 3);
    cr_assert_str_eq(m->deployments[1].provider, "mock");
    cr_assert_eq(m->deployments[1].provider_index, 0);
    cr_assert_str_eq(m->deployments[1].model, "mock-small");
    cr_assert_eq(m->deployments[1].weight, 0);
    m = &c->models[1];
    cr_assert_str_eq(m->name, "smart");
    cr_assert_eq(m->n_deployments, 1);
    cr_assert_str_eq(m->deployments[0].provider, "claude");
    cr_assert_eq(m->deployments[0].provider_index, 2);
    cr_assert_str_eq(m->deployments[0].model, "big");
    cr_assert_eq(m->deployments[0].weight, 1);

    cr_assert_eq(sy_config_find_model(c, "smart"), &c->models[1]);
    cr_assert_null(sy_config_find_model(c, "nope"));
    cr_assert_eq(sy_config_find_provider(c, "claude"), &c->providers[2]);
    cr_assert_null(sy_config_find_provider(c, "nope"));
    cr_assert_null(sy_config_find_provider(NULL, "x"));
    sy_config_free(c);
}

Test(config, design_example_loads)
{
    const char *y =
        "server:   { listen: \"127.0.0.1:11435\", workers: auto, max_body_bytes: 33554432,\n"
        "            drain_timeout_ms: 10000, stream_high_water_bytes: 262144, "
        "sse_keepalive_ms: 15000 }\n"
        "log:      { level: info, requests: true }\n"
        "providers:\n"
        "  - name: mock\n"
        "    type: openai                       # openai | ollama | anthropic\n"
        "    base_url: \"http://127.0.0.1:1234/v1\"\n"
        "    api_key_env: MOCK_KEY\n"
        "    timeouts: { connect_ms: 5000, first_byte_ms: 120000, idle_ms: 60000, total_ms: 600000 }\n"
        "    headers: { x-extra: \"value\" }\n"
        "models:\n"
        "  - name: fast\n"
        "    deployments:\n"
        "      - { provider: mock, model: \"mock-small\", weight: 1 }\n";
    sy_config_t *c = load_ok(y);
    cr_assert_eq(c->server.port, 11435);
    cr_assert_eq(c->n_models, 1);
    sy_config_free(c);
}

Test(config, defaults_for_empty_mapping)
{
    sy_config_t *c = load_ok("{}\n");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_str_eq(c->server.listen, "127.0.0.1:11435");
    cr_assert_str_eq(c->server.host, "127.0.0.1");
    cr_assert_eq(c->server.port, 11435);
    cr_assert_eq(c->server.workers, (unsigned)(ncpu < 1 ? 1 : ncpu));
    cr_assert_eq(c->server.max_body_bytes, 33554432);
    cr_assert_eq(c->server.drain_timeout_ms, 10000);
    cr_assert_eq(c->server.stream_high_water_bytes, 262144);
    cr_assert_eq(c->server.sse_keepalive_ms, 15000);
    cr_assert_eq(c->log.level, 1);
    cr_assert_eq(c->log.requests, 1);
    cr_assert_eq(c->n_providers, 0);
    cr_assert_null(c->providers);
    cr_assert_eq(c->n_models, 0);
    cr_assert_null(c->models);
    sy_config_free(c);
}

Test(config, defaults_for_provider_and_deployment)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - { name: p, type: ollama, base_url: \"http://h:1\" }\n"
                             "models:\n"
                             "  - { name: m, deployments: [ { provider: p, model: x } ] }\n");
    const sy_provider_conf_t *p = &c->providers[0];
    cr_assert_eq(p->timeouts.connect_ms, 5000);
    cr_assert_eq(p->timeouts.first_byte_ms, 120000);
    cr_assert_eq(p->timeouts.idle_ms, 60000);
    cr_assert_eq(p->timeouts.total_ms, 600000);
    cr_assert_null(p->api_key_env);
    cr_assert_null(p->api_key);
    cr_assert_eq(c->models[0].deployments[0].weight, 1);
    cr_assert_eq(c->models[0].deployments[0].provider_index, 0);
    sy_config_free(c);
}

Test(config, partial_timeouts_keep_other_defaults)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - name: p\n"
                             "    type: openai\n"
                             "    base_url: http://h\n"
                             "    timeouts: { idle_ms: 0 }\n");
    cr_assert_eq(c->providers[0].timeouts.idle_ms, 0);
    cr_assert_eq(c->providers[0].timeouts.connect_ms, 5000);
    cr_assert_eq(c->providers[0].timeouts.total_ms, 600000);
    sy_config_free(c);
}

Test(config, workers_auto_is_online_cpus)
{
    sy_config_t *c = load_ok("server: { workers: auto }\n");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_eq(c->server.workers, (unsigned)(ncpu < 1 ? 1 : ncpu));
    sy_config_free(c);
    c = load_ok("server: { workers: \"auto\" }\n");
    cr_assert_eq(c->server.workers, (unsigned)(ncpu < 1 ? 1 : ncpu));
    sy_config_free(c);
}

Test(config, workers_number)
{
    sy_config_t *c = load_ok("server: { workers: 7 }\n");
    cr_assert_eq(c->server.workers, 7);
    sy_config_free(c);
}

Test(config, workers_bad_values)
{
    sy_test_expect_diags("server:\n  workers: many\n",
                 "t.yaml:2:12: server.workers: expected a positive integer or \"auto\"", NULL);
    sy_test_expect_diags("server:\n  workers: 0\n",
                 "t.yaml:2:12: server.workers: expected a positive integer or \"auto\"", NULL);
    sy_test_expect_diags("server:\n  workers: -2\n",
                 "t.yaml:2:12: server.workers: expected a positive integer or \"auto\"", NULL);
    sy_test_expect_diags("server:\n  workers: 2.5\n",
                 "t.yaml:2:12: server.workers: expected a positive integer or \"auto\"", NULL);
    sy_test_expect_diags("server:\n  workers: 5000\n",
                 "t.yaml:2:12: server.workers: out of range (1..1024)", NULL);
}

Test(config, listen_ipv4)
{
    sy_config_t *c = load_ok("server: { listen: \"127.0.0.1:0\" }\n");
    cr_assert_str_eq(c->server.host, "127.0.0.1");
    cr_assert_eq(c->server.port, 0);
    sy_config_free(c);
}

Test(config, listen_ipv6_brackets)
{
    sy_config_t *c = load_ok("server: { listen: \"[::1]:8080\" }\n");
    cr_assert_str_eq(c->server.listen, "[::1]:8080");
    cr_assert_str_eq(c->server.host, "::1");
    cr_assert_eq(c->server.port, 8080);
    sy_config_free(c);
}

Test(config, listen_port_only_is_any_address)
{
    sy_config_t *c = load_ok("server: { listen: \":8080\" }\n");
    cr_assert_str_eq(c->server.listen, ":8080");
    cr_assert_str_eq(c->server.host, "0.0.0.0");
    cr_assert_eq(c->server.port, 8080);
    sy_config_free(c);
}

Test(config, listen_hostname)
{
    sy_config_t *c = load_ok("server: { listen: localhost:65535 }\n");
    cr_assert_str_eq(c->server.host, "localhost");
    cr_assert_eq(c->server.port, 65535);
    sy_config_free(c);
}

Test(config, listen_errors)
{
    const char *fmt = "t.yaml:2:11: server.listen: expected \"host:port\", \"[v6]:port\" or \":port\"";
    sy_test_expect_diags("server:\n  listen: \"127.0.0.1\"\n", fmt, NULL);
    sy_test_expect_diags("server:\n  listen: \"::1:80\"\n", fmt, NULL);
    sy_test_expect_diags("server:\n  listen: \"[::1]\"\n", fmt, NULL);
    sy_test_expect_diags("server:\n  listen: \"[nope]:80\"\n", fmt, NULL);
    sy_test_expect_diags("server:\n  listen: \"h:\"\n", fmt, NULL);
    sy_test_expect_diags("server:\n  listen: \"h:8x\"\n", fmt, NULL);
    sy_test_expect_diags("server:\n  listen: \"h:70000\"\n",
                 "t.yaml:2:11: server.listen: port out of range (0..65535)", NULL);
    sy_test_expect_diags("server:\n  listen: [a]\n", "t.yaml:2:3: server.listen: expected a string",
                 NULL);
}

Test(config, parse_listen_function)
{
    char host[64];
    uint16_t port = 1;
    cr_assert_eq(sy_config_parse_listen("[::1]:8080", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 8080);
    cr_assert_eq(sy_config_parse_listen(":0", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "0.0.0.0");
    cr_assert_eq(port, 0);
    cr_assert_eq(sy_config_parse_listen("1.2.3.4:99999", host, sizeof(host), &port), -2);
    cr_assert_eq(sy_config_parse_listen("1.2.3.4", host, sizeof(host), &port), -1);
    cr_assert_eq(sy_config_parse_listen("[]:80", host, sizeof(host), &port), -1);
    cr_assert_eq(sy_config_parse_listen("a b:80", host, sizeof(host), &port), -1);
    cr_assert_eq(sy_config_parse_listen("127.0.0.1:80", host, 4, &port), -1);
}

Test(config, unknown_key_did_you_mean)
{
    sy_test_expect_diags("server:\n  listn: \"127.0.0.1:1\"\n",
                 "t.yaml:2:3: unknown key \"listn\" in server; did you mean \"listen\"?", NULL);
}

Test(config, unknown_key_prefix_suggestion)
{
    sy_test_expect_diags("server:\n  max_body: 5\n",
                 "t.yaml:2:3: unknown key \"max_body\" in server; did you mean \"max_body_bytes\"?",
                 NULL);
}

Test(config, unknown_key_lists_allowed_keys)
{
    sy_test_expect_diags("log:\n  colour: red\n",
                 "t.yaml:2:3: unknown key \"colour\" in log; expected one of level, requests", NULL);
}

Test(config, unknown_key_top_level)
{
    sy_test_expect_diags("servr: {}\n",
                 "t.yaml:1:1: unknown key \"servr\" at the top level; did you mean \"server\"?",
                 NULL);
}

Test(config, unknown_key_nested_levels)
{
    sy_test_expect_diags("providers:\n"
                 "  - name: p\n"
                 "    type: openai\n"
                 "    base_url: http://h\n"
                 "    timeouts: { idle: 5 }\n"
                 "    api_key: x\n"
                 "models:\n"
                 "  - name: m\n"
                 "    deployments:\n"
                 "      - { provider: p, model: x, wieght: 2 }\n",
                 "t.yaml:5:17: unknown key \"idle\" in providers[0].timeouts; did you mean "
                 "\"idle_ms\"?",
                 "t.yaml:6:5: unknown key \"api_key\" in providers[0]; did you mean "
                 "\"api_key_env\"?",
                 "t.yaml:10:34: unknown key \"wieght\" in models[0].deployments[0]; did you mean "
                 "\"weight\"?",
                 NULL);
}

Test(config, wrong_type_enum)
{
    sy_test_expect_diags("providers:\n"
                 "  - name: p\n"
                 "    type: openia\n"
                 "    base_url: http://h\n",
                 "t.yaml:3:11: providers[0].type: expected one of openai, ollama, anthropic", NULL);
}

Test(config, log_level_and_bool)
{
    sy_test_expect_diags("log:\n  level: verbose\n  requests: yes\n",
                 "t.yaml:2:10: log.level: expected one of debug, info, warn, error",
                 "t.yaml:3:13: log.requests: expected true or false", NULL);
    sy_config_t *c = load_ok("log: { level: debug, requests: False }\n");
    cr_assert_eq(c->log.level, 0);
    cr_assert_eq(c->log.requests, 0);
    sy_config_free(c);
    c = load_ok("log: { level: error }\n");
    cr_assert_eq(c->log.level, 3);
    sy_config_free(c);
}

Test(config, section_wrong_type)
{
    sy_test_expect_diags("server: 5\n", "t.yaml:1:9: server: expected a mapping", NULL);
    sy_test_expect_diags("server:\n", "t.yaml:1:1: server: expected a mapping", NULL);
    sy_test_expect_diags("providers: { name: x }\n", "t.yaml:1:1: providers: expected a list", NULL);
    sy_test_expect_diags("models: nope\n", "t.yaml:1:9: models: expected a list", NULL);
    sy_test_expect_diags("providers:\n  - just-a-string\n",
                 "t.yaml:2:5: providers[0]: expected a mapping", NULL);
}

Test(config, integers_negative_fraction_overflow)
{
    sy_test_expect_diags("server:\n"
                 "  max_body_bytes: -1\n"
                 "  drain_timeout_ms: 1.5\n"
                 "  stream_high_water_bytes: 99999999999999999999999\n"
                 "  sse_keepalive_ms: 4294967296\n",
                 "t.yaml:2:19: server.max_body_bytes: expected a positive integer, not a negative "
                 "number",
                 "t.yaml:3:21: server.drain_timeout_ms: expected a non-negative integer",
                 "t.yaml:4:28: server.stream_high_water_bytes: out of range (1..4294967295)",
                 "t.yaml:5:21: server.sse_keepalive_ms: out of range (0..4294967295)", NULL);
}

Test(config, integers_must_be_plain)
{
    sy_test_expect_diags("server:\n  max_body_bytes: \"100\"\n",
                 "t.yaml:2:19: server.max_body_bytes: expected a positive integer", NULL);
    sy_test_expect_diags("server:\n  max_body_bytes: 0x10\n",
                 "t.yaml:2:19: server.max_body_bytes: expected a positive integer", NULL);
}

Test(config, zero_is_allowed_where_documented)
{
    sy_config_t *c = load_ok("server: { sse_keepalive_ms: 0, drain_timeout_ms: 0 }\n");
    cr_assert_eq(c->server.sse_keepalive_ms, 0);
    cr_assert_eq(c->server.drain_timeout_ms, 0);
    sy_config_free(c);
}

Test(config, weight_range)
{
    sy_test_expect_diags("providers: [ { name: p, type: openai, base_url: \"http://h\" } ]\n"
                 "models:\n"
                 "  - name: m\n"
                 "    deployments:\n"
                 "      - { provider: p, model: x, weight: 2000000 }\n"
                 "      - { provider: p, model: y, weight: -3 }\n",
                 "t.yaml:5:42: models[0].deployments[0].weight: out of range (0..1000000)",
                 "t.yaml:6:42: models[0].deployments[1].weight: expected a non-negative integer, "
                 "not a negative number",
                 NULL);
}

Test(config, missing_required_provider_fields)
{
    sy_test_expect_diags("providers:\n"
                 "  - type: openai\n"
                 "  - name: b\n",
                 "t.yaml:2:5: providers[0]: missing required key \"name\"",
                 "t.yaml:2:5: providers[0]: missing required key \"base_url\"",
                 "t.yaml:3:5: providers[1]: missing required key \"type\"",
                 "t.yaml:3:5: providers[1]: missing required key \"base_url\"", NULL);
}

Test(config, missing_required_model_and_deployment_fields)
{
    sy_test_expect_diags("providers: [ { name: p, type: openai, base_url: \"http://h\" } ]\n"
                 "models:\n"
                 "  - deployments:\n"
                 "      - { model: x }\n"
                 "      - { provider: p }\n"
                 "  - name: lonely\n",
                 "t.yaml:3:5: models[0]: missing required key \"name\"",
                 "t.yaml:4:11: models[0].deployments[0]: missing required key \"provider\"",
                 "t.yaml:5:11: models[0].deployments[1]: missing required key \"model\"",
                 "t.yaml:6:5: models[1]: missing required key \"deployments\"", NULL);
}

Test(config, empty_deployments)
{
    sy_test_expect_diags("models:\n  - name: m\n    deployments: []\n",
                 "t.yaml:3:5: models[0].deployments: expected at least one deployment", NULL);
}

Test(config, empty_strings_rejected)
{
    sy_test_expect_diags("providers:\n  - { name: \"\", type: openai, base_url: \"http://h\" }\n",
                 "t.yaml:2:13: providers[0].name: must not be empty", NULL);
    sy_test_expect_diags("providers:\n  - name: ~\n    type: openai\n    base_url: http://h\n",
                 "t.yaml:2:11: providers[0].name: expected a string", NULL);
}

Test(config, duplicate_provider_names)
{
    sy_test_expect_diags("providers:\n"
                 "  - { name: a, type: openai, base_url: \"http://h\" }\n"
                 "  - { name: a, type: ollama, base_url: \"http://h\" }\n",
                 "t.yaml:3:13: providers[1].name: duplicate provider name \"a\" (first defined at "
                 "line 2)",
                 NULL);
}

Test(config, duplicate_model_names)
{
    sy_test_expect_diags("providers: [ { name: p, type: openai, base_url: \"http://h\" } ]\n"
                 "models:\n"
                 "  - { name: m, deployments: [ { provider: p, model: x } ] }\n"
                 "  - { name: m, deployments: [ { provider: p, model: y } ] }\n",
                 "t.yaml:4:13: models[1].name: duplicate model name \"m\" (first defined at line 3)",
                 NULL);
}

Test(config, unknown_provider_reference_did_you_mean)
{
    sy_test_expect_diags("providers: [ { name: mock, type: openai, base_url: \"http://h\" } ]\n"
                 "models:\n"
                 "  - name: m\n"
                 "    deployments:\n"
                 "      - provider: mokc\n"
                 "        model: x\n",
                 "t.yaml:5:19: models[0].deployments[0].provider: unknown provider \"mokc\"; did "
                 "you mean \"mock\"?",
                 NULL);
}

Test(config, unknown_provider_reference_no_suggestion)
{
    sy_test_expect_diags("providers: [ { name: mock, type: openai, base_url: \"http://h\" } ]\n"
                 "models:\n"
                 "  - { name: m, deployments: [ { provider: zzzzzz, model: x } ] }\n",
                 "t.yaml:3:43: models[0].deployments[0].provider: unknown provider \"zzzzzz\"",
                 NULL);
}

Test(config, providers_after_models_resolve)
{
    sy_config_t *c = load_ok("models:\n"
                             "  - { name: m, deployments: [ { provider: b, model: x } ] }\n"
                             "providers:\n"
                             "  - { name: a, type: openai, base_url: \"http://h\" }\n"
                             "  - { name: b, type: openai, base_url: \"http://h\" }\n");
    cr_assert_eq(c->models[0].deployments[0].provider_index, 1);
    sy_config_free(c);
}

Test(config, api_key_env_set)
{
    setenv("SY_TEST_KEY_A", "secret-a", 1);
    sy_config_t *c = load_ok("providers:\n"
                             "  - { name: p, type: openai, base_url: \"http://h\", "
                             "api_key_env: SY_TEST_KEY_A }\n");
    cr_assert_str_eq(c->providers[0].api_key_env, "SY_TEST_KEY_A");
    cr_assert_str_eq(c->providers[0].api_key, "secret-a");
    sy_config_free(c);
}

Test(config, api_key_env_unset_or_empty)
{
    unsetenv("SY_TEST_KEY_B");
    sy_config_t *c = load_ok("providers:\n"
                             "  - { name: p, type: openai, base_url: \"http://h\", "
                             "api_key_env: SY_TEST_KEY_B }\n");
    cr_assert_str_eq(c->providers[0].api_key_env, "SY_TEST_KEY_B");
    cr_assert_null(c->providers[0].api_key);
    sy_config_free(c);
    setenv("SY_TEST_KEY_B", "", 1);
    c = load_ok("providers:\n"
                "  - { name: p, type: openai, base_url: \"http://h\", api_key_env: SY_TEST_KEY_B }\n");
    cr_assert_null(c->providers[0].api_key);
    sy_config_free(c);
}

Test(config, api_key_env_bad_name)
{
    sy_test_expect_diags("providers:\n"
                 "  - name: p\n"
                 "    type: openai\n"
                 "    base_url: http://h\n"
                 "    api_key_env: \"MY KEY\"\n",
                 "t.yaml:5:18: providers[0].api_key_env: expected an environment variable name "
                 "(letters, digits, '_')",
                 NULL);
}

Test(config, base_url_checks)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - { name: p, type: openai, base_url: \"HTTPS://h/v1///\" }\n");
    cr_assert_str_eq(c->providers[0].base_url, "HTTPS://h/v1");
    sy_config_free(c);
    sy_test_expect_diags("providers:\n  - { name: p, type: openai, base_url: \"ftp://h\" }\n",
                 "t.yaml:2:40: providers[0].base_url: must start with http:// or https://", NULL);
    sy_test_expect_diags("providers:\n  - { name: p, type: openai, base_url: \"http:///\" }\n",
                 "t.yaml:2:40: providers[0].base_url: missing host after the scheme", NULL);
    sy_test_expect_diags("providers:\n  - { name: p, type: openai, base_url: \"h:1\" }\n",
                 "t.yaml:2:40: providers[0].base_url: must start with http:// or https://", NULL);
}

Test(config, headers_checks)
{
    sy_test_expect_diags("providers:\n"
                 "  - name: p\n"
                 "    type: openai\n"
                 "    base_url: http://h\n"
                 "    headers:\n"
                 "      Host: x\n"
                 "      bad name: x\n"
                 "      X-A: a\n"
                 "      x-a: b\n"
                 "      x-b: [1]\n"
                 "      x-c: \"ok\"\n",
                 "t.yaml:6:7: providers[0].headers: \"Host\" is set by switchyard and cannot be "
                 "configured",
                 "t.yaml:7:7: providers[0].headers: \"bad name\" is not a valid header name",
                 "t.yaml:9:7: providers[0].headers: duplicate header \"x-a\"",
                 "t.yaml:10:7: providers[0].headers.x-b: expected a string", NULL);
    sy_test_expect_diags("providers:\n"
                 "  - { name: p, type: openai, base_url: \"http://h\", headers: [a] }\n",
                 "t.yaml:2:52: providers[0].headers: expected a mapping", NULL);
}

Test(config, header_value_empty_allowed)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - { name: p, type: openai, base_url: \"http://h\", "
                             "headers: { x-empty: \"\" } }\n");
    cr_assert_eq(c->providers[0].n_headers, 1);
    cr_assert_str_eq(c->providers[0].headers[0].value, "");
    sy_config_free(c);
}

Test(config, empty_file, .init = cr_redirect_stderr)
{
    sy_test_expect_diags("", "t.yaml:1:1: the configuration is empty", NULL);
    sy_test_expect_diags("# just a comment\n\n", "t.yaml:1:1: the configuration is empty", NULL);
    sy_test_expect_diags("---\n", "t.yaml:1:1: the configuration is empty", NULL);
    fflush(stderr);
    cr_assert_stderr_eq_str("");
}

Test(config, top_level_not_mapping)
{
    sy_test_expect_diags("- a\n- b\n",
                 "t.yaml:1:1: expected a mapping at the top level (server, log, providers, models, cache, router)",
                 NULL);
    sy_test_expect_diags("\n  hello\n",
                 "t.yaml:2:3: expected a mapping at the top level (server, log, providers, models, cache, router)",
                 NULL);
}

Test(config, yaml_syntax_error_nothing_on_stderr, .init = cr_redirect_stderr)
{
    sy_test_expect_diags("server:\n  listen: [1, 2\nlog: {}\n",
                 "t.yaml:4:1: flow sequence without a closing bracket", NULL);
    sy_test_expect_diags("a: \"open\n", "t.yaml:1:5: double-quoted scalar without closing quote", NULL);
    sy_test_expect_diags("log: {}\nlog: {}\n", "t.yaml:2:1: duplicate key", NULL);
    fflush(stderr);
    cr_assert_stderr_eq_str("");
}

Test(config, undefined_alias_is_an_error, .init = cr_redirect_stderr)
{
    sy_test_expect_diags("server: *nothing\n", "t.yaml:1:10: invalid alias", NULL);
    fflush(stderr);
    cr_assert_stderr_eq_str("");
}

Test(config, anchors_and_merge_keys)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - &base { name: a, type: openai, base_url: \"http://h\" }\n"
                             "  - <<: *base\n"
                             "    name: b\n");
    cr_assert_eq(c->n_providers, 2);
    cr_assert_str_eq(c->providers[1].name, "b");
    cr_assert_str_eq(c->providers[1].base_url, "http://h");
    sy_config_free(c);
}

Test(config, multiple_documents_rejected)
{
    sy_test_expect_diags("log: {}\n---\nlog: {}\n", "t.yaml:2:1: only one YAML document is allowed",
                 NULL);
}

Test(config, invalid_utf8, .init = cr_redirect_stderr)
{
    sy_test_expect_diags("log:\n  level: \xff\n",
                 "t.yaml:2:10: invalid UTF-8 or NUL byte; the configuration must be UTF-8 text",
                 NULL);
    fflush(stderr);
    cr_assert_stderr_eq_str("");
}

Test(config, all_problems_reported_in_order)
{
    sy_test_expect_diags("models:\n"
                 "  - name: m\n"
                 "    deployments: [ { provider: ghost, model: x } ]\n"
                 "server:\n"
                 "  listn: \":1\"\n"
                 "  workers: lots\n"
                 "providers:\n"
                 "  - { name: p, type: nope, base_url: \"http://h\" }\n"
                 "bogus: 1\n",
                 "t.yaml:3:32: models[0].deployments[0].provider: unknown provider \"ghost\"",
                 "t.yaml:5:3: unknown key \"listn\" in server; did you mean \"listen\"?",
                 "t.yaml:6:12: server.workers: expected a positive integer or \"auto\"",
                 "t.yaml:8:22: providers[0].type: expected one of openai, ollama, anthropic",
                 "t.yaml:9:1: unknown key \"bogus\" at the top level; expected one of server, log, "
                 "providers, models, cache, router",
                 NULL);
}

Test(config, too_many_problems_are_capped)
{
    char text[8192];
    size_t o = (size_t)snprintf(text, sizeof(text), "server:\n");
    for (int i = 0; i < 150; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "  zz%03d: 1\n", i);
    sy_diags_t d = {0};
    cr_assert_null(load(text, &d));
    cr_assert_eq(d.n, 101);
    cr_assert_str_eq(d.items[100].message, "too many problems; 50 more not shown");
    sy_diags_release(&d);
}

Test(config, diags_are_appended)
{
    sy_diags_t d = {0};
    cr_assert_null(load("server: 1\n", &d));
    cr_assert_null(load("log: 1\n", &d));
    cr_assert_eq(d.n, 2);
    cr_assert_str_eq(d.items[0].message, "server: expected a mapping");
    cr_assert_str_eq(d.items[1].message, "log: expected a mapping");
    sy_diags_release(&d);
    cr_assert_eq(d.n, 0);
    cr_assert_null(d.items);
}

Test(config, null_diags_allowed)
{
    cr_assert_null(sy_config_load_string("server: 1\n", 10, "x", NULL));
    cr_assert_null(sy_config_load("/nonexistent/sy.yaml", NULL));
    sy_config_t *c = sy_config_load_string("{}", 2, NULL, NULL);
    cr_assert_not_null(c);
    sy_config_free(c);
    sy_config_free(NULL);
    sy_diags_release(NULL);
}

Test(config, string_name_defaults)
{
    sy_diags_t d = {0};
    cr_assert_null(sy_config_load_string("server: 1\n", 10, NULL, &d));
    cr_assert_eq(d.n, 1);
    cr_assert_str_eq(d.items[0].file, "<string>");
    sy_diags_release(&d);
}

Test(config, load_file)
{
    char path[] = "/tmp/sy_config_test_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *y = "server: { listen: \":9\" }\nlog: { level: debug }\n";
    cr_assert_eq(write(fd, y, strlen(y)), (ssize_t)strlen(y));
    close(fd);
    sy_diags_t d = {0};
    sy_config_t *c = sy_config_load(path, &d);
    cr_assert_not_null(c);
    cr_assert_eq(d.n, 0);
    cr_assert_str_eq(c->path, path);
    cr_assert_eq(c->server.port, 9);
    cr_assert_eq(c->log.level, 0);
    sy_config_free(c);

    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_geq(fd, 0);
    y = "server:\n  listen: 5\n";
    cr_assert_eq(write(fd, y, strlen(y)), (ssize_t)strlen(y));
    close(fd);
    cr_assert_null(sy_config_load(path, &d));
    cr_assert_eq(d.n, 1);
    cr_assert_str_eq(d.items[0].file, path);
    cr_assert_eq(d.items[0].line, 2);
    cr_assert_eq(d.items[0].col, 11);
    sy_diags_release(&d);
    unlink(path);
}

Test(config, load_missing_file)
{
    sy_diags_t d = {0};
    cr_assert_null(sy_config_load("/nonexistent/sy.yaml", &d));
    cr_assert_eq(d.n, 1);
    char buf[512];
    cr_assert_str_eq(diag_str(&d, 0, buf, sizeof(buf)),
                     "/nonexistent/sy.yaml:1:1: cannot read: No such file or directory");
    sy_diags_release(&d);
    cr_assert_null(sy_config_load("/tmp", &d));
    cr_assert_str_eq(diag_str(&d, 0, buf, sizeof(buf)), "/tmp:1:1: cannot read: Is a directory");
    sy_diags_release(&d);
}

Test(config, diags_print_format)
{
    sy_diags_t d = {0};
    cr_assert_null(load("server:\n  listn: 1\nlog: 2\n", &d));
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    cr_assert_not_null(f);
    sy_diags_print(f, &d);
    fclose(f);
    cr_assert_str_eq(out, "t.yaml:2:3: unknown key \"listn\" in server; did you mean \"listen\"?\n"
                          "t.yaml:3:6: log: expected a mapping\n");
    free(out);
    sy_diags_release(&d);
}

Test(config, provider_type_names)
{
    cr_assert_str_eq(sy_provider_type_name(SY_PROVIDER_OPENAI), "openai");
    cr_assert_str_eq(sy_provider_type_name(SY_PROVIDER_OLLAMA), "ollama");
    cr_assert_str_eq(sy_provider_type_name(SY_PROVIDER_ANTHROPIC), "anthropic");
    cr_assert_str_eq(sy_provider_type_name((sy_provider_type_t)42), "unknown");
}

Test(config, non_string_key)
{
    sy_test_expect_diags("server:\n  [a]: 1\n", "t.yaml:2:4: server: keys must be strings", NULL);
}

Test(config, forward_headers_lowercased_and_prefixes)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - name: p\n"
                             "    type: openai\n"
                             "    base_url: http://127.0.0.1:1/v1\n"
                             "    forward_headers: [X-Mock-*, OpenAI-Beta]\n");
    cr_assert_eq(c->providers[0].n_forward_headers, 2);
    cr_assert_str_eq(c->providers[0].forward_headers[0], "x-mock-*");
    cr_assert_str_eq(c->providers[0].forward_headers[1], "openai-beta");
    sy_config_free(c);
}

Test(config, forward_headers_default_none)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - {name: p, type: openai, base_url: \"http://127.0.0.1:1/v1\"}\n");
    cr_assert_eq(c->providers[0].n_forward_headers, 0);
    cr_assert_null(c->providers[0].forward_headers);
    sy_config_free(c);
}

Test(config, forward_headers_bad_pattern)
{
    sy_test_expect_diags("providers:\n"
                 "  - name: p\n"
                 "    type: openai\n"
                 "    base_url: http://127.0.0.1:1/v1\n"
                 "    forward_headers: [\"x-*-y\", 3]\n",
                 "t.yaml:5:23: providers[0].forward_headers[0]: expected a header name, or a prefix "
                 "ending in '*' (\"x-trace-*\")",
                 NULL);
}

Test(config, transport_auto_default_and_curl)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - {name: a, type: openai, base_url: \"http://127.0.0.1:1/v1\"}\n"
                             "  - {name: b, type: openai, base_url: \"http://127.0.0.1:1/v1\", transport: curl}\n");
    cr_assert_eq(c->providers[0].transport, SY_TRANSPORT_AUTO);
    cr_assert_eq(c->providers[1].transport, SY_TRANSPORT_CURL);
    sy_config_free(c);
}

/* Nested aliases expand exponentially: refused quickly, not expanded. */
Test(config, alias_bomb_refused, .timeout = 5)
{
    sy_test_expect_diags("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                 "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
                 "t.yaml:1:1: the configuration expands to more than 100000 nodes through aliases", NULL);
}

/* A number that ends the text (no newline after it) is read within its bounds. */
Test(config, number_at_end_of_text)
{
    sy_config_t *c = load_ok("server:\n  workers: 12");
    cr_assert_eq(c->server.workers, 12);
    sy_config_free(c);
    sy_diags_t d = {0};
    const char *t = "server:\n  max_body_bytes: 123456789012345678901234";
    cr_assert_null(sy_config_load_string(t, strlen(t), "t.yaml", &d));
    cr_assert_eq(d.n, 1);
    cr_assert(strstr(d.items[0].message, "out of range"), "%s", d.items[0].message);
    sy_diags_release(&d);
}

/* ---- discovery, optional providers, default_max_tokens, demo ------------ */

Test(config, provider_new_keys_defaults)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - {name: p, type: ollama, base_url: \"http://127.0.0.1:11434\"}\n");
    const sy_provider_conf_t *p = &c->providers[0];
    cr_assert_eq(p->discover, 0);
    cr_assert_eq(p->discover_interval_s, 60);
    cr_assert_eq(p->optional, 0);
    cr_assert_eq(p->disabled, 0);
    cr_assert_eq(p->demo, 0);
    cr_assert_eq(p->default_max_tokens, 4096);
    sy_config_free(c);
}

Test(config, discover_on_ollama)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - name: local\n"
                             "    type: ollama\n"
                             "    base_url: \"http://127.0.0.1:11434\"\n"
                             "    discover: true\n"
                             "    discover_interval_s: 5\n");
    cr_assert_eq(c->providers[0].discover, 1);
    cr_assert_eq(c->providers[0].discover_interval_s, 5);
    sy_config_free(c);
}

/* The check runs after the whole entry is read: type may come after discover. */
Test(config, discover_only_for_ollama)
{
    sy_test_expect_diags("providers:\n"
                 "  - name: cloud\n"
                 "    discover: true\n"
                 "    type: openai\n"
                 "    base_url: \"http://127.0.0.1:1/v1\"\n"
                 "  - {name: a, type: anthropic, base_url: \"http://h\", discover: false}\n",
                 "t.yaml:3:5: providers[0].discover: only a provider of type ollama can discover its models",
                 NULL);
}

Test(config, discover_bad_values)
{
    sy_test_expect_diags("providers:\n"
                 "  - name: a\n"
                 "    type: ollama\n"
                 "    base_url: \"http://h\"\n"
                 "    discover: yes\n"
                 "    discover_interval_s: 0\n"
                 "  - {name: b, type: ollama, base_url: \"http://h\", discover_interval_s: 86401}\n",
                 "t.yaml:5:15: providers[0].discover: expected true or false",
                 "t.yaml:6:26: providers[0].discover_interval_s: expected a positive integer",
                 "t.yaml:7:72: providers[1].discover_interval_s: out of range (1..86400)",
                 NULL);
}

Test(config, optional_provider_without_key_is_disabled)
{
    unsetenv("SY_TEST_OPT_MISSING");
    setenv("SY_TEST_OPT_EMPTY", "", 1);
    setenv("SY_TEST_OPT_SET", "sk-1", 1);
    sy_config_t *c = load_ok("providers:\n"
                             "  - {name: a, type: openai, base_url: \"http://h/v1\", api_key_env: SY_TEST_OPT_MISSING,"
                             " optional: true}\n"
                             "  - {name: b, type: openai, base_url: \"http://h/v1\", api_key_env: SY_TEST_OPT_EMPTY,"
                             " optional: true}\n"
                             "  - {name: c, type: openai, base_url: \"http://h/v1\", api_key_env: SY_TEST_OPT_SET,"
                             " optional: true}\n"
                             "  - {name: d, type: openai, base_url: \"http://h/v1\", api_key_env: SY_TEST_OPT_MISSING}\n"
                             "  - {name: e, type: openai, base_url: \"http://h/v1\", optional: true}\n"
                             "models:\n"
                             "  - name: m\n"
                             "    deployments: [{provider: a, model: x}]\n");
    cr_assert_eq(c->providers[0].optional, 1);
    cr_assert_eq(c->providers[0].disabled, 1, "unset variable");
    cr_assert_eq(c->providers[1].disabled, 1, "empty variable");
    cr_assert_eq(c->providers[2].disabled, 0, "key set");
    cr_assert_str_eq(c->providers[2].api_key, "sk-1");
    cr_assert_eq(c->providers[3].disabled, 0, "not optional: sent without a key");
    cr_assert_eq(c->providers[4].disabled, 0, "no api_key_env: nothing to miss");
    /* a model on a disabled provider is still a valid config */
    cr_assert_eq(c->n_models, 1);
    sy_config_free(c);
    unsetenv("SY_TEST_OPT_EMPTY");
    unsetenv("SY_TEST_OPT_SET");
}

Test(config, optional_bad_value)
{
    sy_test_expect_diags("providers:\n"
                 "  - {name: a, type: openai, base_url: \"http://h\", optional: 1}\n",
                 "t.yaml:2:61: providers[0].optional: expected true or false", NULL);
}

Test(config, default_max_tokens)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - {name: a, type: anthropic, base_url: \"http://h\", default_max_tokens: 8192}\n"
                             "  - {name: b, type: anthropic, base_url: \"http://h\", default_max_tokens: 10000000}\n");
    cr_assert_eq(c->providers[0].default_max_tokens, 8192);
    cr_assert_eq(c->providers[1].default_max_tokens, 10000000);
    sy_config_free(c);
    sy_test_expect_diags("providers:\n"
                 "  - {name: a, type: anthropic, base_url: \"http://h\", default_max_tokens: 0}\n"
                 "  - {name: b, type: anthropic, base_url: \"http://h\", default_max_tokens: 10000001}\n",
                 "t.yaml:2:74: providers[0].default_max_tokens: expected a positive integer",
                 "t.yaml:3:74: providers[1].default_max_tokens: out of range (1..10000000)", NULL);
}

/* demo follows the name ("demo-...") unless written out. */
Test(config, demo_flag)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - {name: demo-openai, type: openai, base_url: \"http://h/v1\"}\n"
                             "  - {name: mock, type: openai, base_url: \"http://h/v1\", demo: true}\n"
                             "  - {name: demo-real, type: openai, base_url: \"http://h/v1\", demo: false}\n"
                             "  - {name: demonstration, type: openai, base_url: \"http://h/v1\"}\n");
    cr_assert_eq(c->providers[0].demo, 1);
    cr_assert_eq(c->providers[1].demo, 1);
    cr_assert_eq(c->providers[2].demo, 0);
    cr_assert_eq(c->providers[3].demo, 0);
    sy_config_free(c);
}

Test(config, new_keys_suggested)
{
    sy_test_expect_diags("providers:\n"
                 "  - name: a\n"
                 "    type: ollama\n"
                 "    base_url: \"http://h\"\n"
                 "    discovr: true\n"
                 "    optinal: true\n"
                 "    discover_interval: 5\n"
                 "    default_max_token: 5\n",
                 "t.yaml:5:5: unknown key \"discovr\" in providers[0]; did you mean \"discover\"?",
                 "t.yaml:6:5: unknown key \"optinal\" in providers[0]; did you mean \"optional\"?",
                 "t.yaml:7:5: unknown key \"discover_interval\" in providers[0]; did you mean "
                 "\"discover_interval_s\"?",
                 "t.yaml:8:5: unknown key \"default_max_token\" in providers[0]; did you mean "
                 "\"default_max_tokens\"?",
                 NULL);
}

Test(config, set_listen)
{
    sy_config_t *c = load_ok("server: {listen: \"127.0.0.1:11435\"}\n");
    cr_assert_eq(sy_config_set_listen(c, "[::1]:0"), 0);
    cr_assert_str_eq(c->server.listen, "[::1]:0");
    cr_assert_str_eq(c->server.host, "::1");
    cr_assert_eq(c->server.port, 0);
    cr_assert_eq(sy_config_set_listen(c, "nonsense"), -1);
    cr_assert_eq(sy_config_set_listen(c, "127.0.0.1:70000"), -2);
    cr_assert_str_eq(c->server.listen, "[::1]:0", "unchanged after a bad address");
    sy_config_free(c);
}

/* ---- cache and dedup ------------------------------------------------------ */

#define CACHE_BASE                                                                                 \
    "providers:\n"                                                                                 \
    "  - { name: p, type: openai, base_url: \"http://127.0.0.1:1/v1\" }\n"

Test(config, cache_defaults)
{
    sy_config_t *c = load_ok(CACHE_BASE "models:\n  - { name: m, deployments: [ { provider: p, model: x } ] }\n");
    cr_assert_eq(c->cache.memory_max_bytes, 268435456u);
    cr_assert_null(c->cache.redis_url);
    cr_assert_null(c->cache.sqlite_path);
    cr_assert_eq(c->cache.sqlite_max_bytes, 4294967296ull);
    cr_assert_str_eq(c->cache.embedder, "builtin");
    cr_assert_float_eq(c->cache.threshold, 0.92, 1e-12);
    cr_assert_eq(c->models[0].cache_mode, SY_CACHE_OFF);
    cr_assert_eq(c->models[0].cache_ttl_s, 600);
    cr_assert_eq(c->models[0].dedup, SY_DEDUP_AUTO);
    sy_config_free(c);
}

Test(config, cache_section_and_model_keys)
{
    sy_config_t *c = load_ok(CACHE_BASE
                             "cache:\n"
                             "  memory:   { max_bytes: 1048576 }\n"
                             "  redis:    { url: \"redis://127.0.0.1:6379/0\" }\n"
                             "  sqlite:   { path: \"var/cache.db\", max_bytes: 2097152 }\n"
                             "  semantic: { embedder: emb, threshold: 0.95 }\n"
                             "models:\n"
                             "  - name: m\n"
                             "    deployments: [ { provider: p, model: x } ]\n"
                             "    cache: { mode: exact, ttl_s: 60 }\n"
                             "    dedup: off\n"
                             "  - name: emb\n"
                             "    deployments: [ { provider: p, model: e } ]\n"
                             "    cache: { mode: semantic }\n"
                             "    dedup: on\n");
    cr_assert_eq(c->cache.memory_max_bytes, 1048576u);
    cr_assert_str_eq(c->cache.redis_url, "redis://127.0.0.1:6379/0");
    cr_assert_str_eq(c->cache.sqlite_path, "var/cache.db");
    cr_assert_eq(c->cache.sqlite_max_bytes, 2097152u);
    cr_assert_str_eq(c->cache.embedder, "emb");
    cr_assert_float_eq(c->cache.threshold, 0.95, 1e-12);
    cr_assert_eq(c->models[0].cache_mode, SY_CACHE_EXACT);
    cr_assert_eq(c->models[0].cache_ttl_s, 60);
    cr_assert_eq(c->models[0].dedup, SY_DEDUP_OFF);
    cr_assert_eq(c->models[1].cache_mode, SY_CACHE_SEMANTIC);
    cr_assert_eq(c->models[1].cache_ttl_s, 600);
    cr_assert_eq(c->models[1].dedup, SY_DEDUP_ON);
    sy_config_free(c);
}

Test(config, redis_settings)
{
    sy_diags_t d = {0};
    sy_config_t *c = load(CACHE_BASE "cache:\n"
                                         "  redis: { url: \"redis://127.0.0.1:6379/0\", connect_timeout_ms: 250, "
                                         "command_timeout_ms: 50 }\n",
                              &d);
    cr_assert_not_null(c);
    cr_assert_str_eq(c->cache.redis_url, "redis://127.0.0.1:6379/0");
    cr_assert_eq(c->cache.redis_connect_timeout_ms, 250);
    cr_assert_eq(c->cache.redis_command_timeout_ms, 50);
    sy_config_free(c);
    sy_diags_release(&d);
    sy_test_expect_diags(CACHE_BASE "cache:\n"
                            "  redis: { url: \"rediss://127.0.0.1:6379\", command_timeout_ms: 0 }\n",
                 "t.yaml:4:17: cache.redis.url: TLS to Redis (rediss://) is not supported; use redis:// on a "
                 "trusted network or unix://",
                 "t.yaml:4:64: cache.redis.command_timeout_ms: expected a positive integer", NULL);
}

Test(config, cache_problems)
{
    sy_test_expect_diags(CACHE_BASE
                 "cache:\n"
                 "  memory: { max_byte: 1 }\n"
                 "  redis: { url: \"http://127.0.0.1:6379\" }\n"
                 "  semantic: { embedder: nope, threshold: 1.5 }\n"
                 "models:\n"
                 "  - name: m\n"
                 "    deployments: [ { provider: p, model: x } ]\n"
                 "    cache: { mode: fuzzy, ttl_s: 0 }\n"
                 "    dedup: maybe\n",
                 "t.yaml:4:13: unknown key \"max_byte\" in cache.memory; did you mean \"max_bytes\"?",
                 "t.yaml:5:17: cache.redis.url: expected a redis:// or unix:// URL",
                 "t.yaml:6:25: cache.semantic.embedder: \"nope\" is neither \"builtin\" nor a model of this config",
                 "t.yaml:6:42: cache.semantic.threshold: out of range (0..1)",
                 "t.yaml:10:20: models[0].cache.mode: expected one of off, exact, semantic",
                 "t.yaml:10:34: models[0].cache.ttl_s: expected a positive integer",
                 "t.yaml:11:12: models[0].dedup: expected one of auto, on, off",
                 NULL);
}

/* ---- routing: router.defaults, the models' own keys, deployments ---------- */

#define ROUTE_BASE                                                                                     \
    "providers:\n"                                                                                     \
    "  - { name: p, type: openai, base_url: \"https://p.example.invalid/v1\" }\n"                      \
    "  - { name: q, type: openai, base_url: \"https://q.example.invalid/v1\" }\n"

Test(config, routing_defaults)
{
    sy_config_t *c = load_ok(ROUTE_BASE "models:\n"
                                        "  - name: m\n"
                                        "    deployments: [ { provider: p, model: x } ]\n");
    const sy_route_conf_t *r = &c->router;
    cr_assert_eq(r->strategy, SY_STRATEGY_WEIGHTED);
    cr_assert_eq(r->retries, 2);
    cr_assert_eq(r->backoff_ms, 50);
    cr_assert_eq(r->max_backoff_ms, 2000);
    cr_assert_eq(r->cb_failures, 5);
    cr_assert_eq(r->cb_window_s, 30);
    cr_assert_eq(r->cb_cooldown_s, 30);
    cr_assert_eq(r->when_all_open, SY_ALL_OPEN_FAIL);
    cr_assert_eq(r->timeout_ms, 600000);
    const sy_model_conf_t *m = &c->models[0];
    cr_assert_eq(memcmp(&m->route, r, sizeof(*r)), 0, "a model without keys of its own has router.defaults");
    cr_assert_eq(m->n_fallbacks, 0);
    cr_assert_null(m->fallbacks);
    cr_assert_eq(m->n_context_fallbacks, 0);
    const sy_deployment_conf_t *d = &m->deployments[0];
    cr_assert_eq(d->max_inflight, 0);
    cr_assert_eq(d->rpm, 0);
    cr_assert_eq(d->tpm, 0);
    cr_assert_eq(d->priced, 0, "a remote deployment without a price is unpriced");
    sy_config_free(c);

    /* no models at all: router.defaults still has its defaults */
    c = load_ok("log: { level: info }\n");
    cr_assert_eq(c->router.retries, 2);
    cr_assert_eq(c->router.timeout_ms, 600000);
    sy_config_free(c);
}

Test(config, strategy_names)
{
    static const char *const names[] = {"weighted", "round_robin", "least_inflight", "latency", "cost", "usage"};
    for (int i = 0; i < 6; i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml),
                 ROUTE_BASE "models:\n  - name: m\n    strategy: %s\n    deployments: [ { provider: p, model: x } ]\n",
                 names[i]);
        sy_config_t *c = load_ok(yaml);
        cr_assert_eq(c->models[0].route.strategy, (sy_strategy_t)i);
        cr_assert_str_eq(sy_strategy_name((sy_strategy_t)i), names[i]);
        sy_config_free(c);
    }
}

Test(config, router_defaults_set)
{
    sy_config_t *c = load_ok(ROUTE_BASE "router:\n"
                                        "  defaults:\n"
                                        "    strategy: least_inflight\n"
                                        "    retries: { max: 4, backoff_ms: 10, max_backoff_ms: 500 }\n"
                                        "    circuit_breaker: { failures: 3, window_s: 10, cooldown_s: 60 }\n"
                                        "    when_all_open: wait\n"
                                        "    timeout_ms: 30000\n"
                                        "models:\n"
                                        "  - name: m\n"
                                        "    deployments: [ { provider: p, model: x } ]\n");
    const sy_route_conf_t *r = &c->router;
    cr_assert_eq(r->strategy, SY_STRATEGY_LEAST_INFLIGHT);
    cr_assert_eq(r->retries, 4);
    cr_assert_eq(r->backoff_ms, 10);
    cr_assert_eq(r->max_backoff_ms, 500);
    cr_assert_eq(r->cb_failures, 3);
    cr_assert_eq(r->cb_window_s, 10);
    cr_assert_eq(r->cb_cooldown_s, 60);
    cr_assert_eq(r->when_all_open, SY_ALL_OPEN_WAIT);
    cr_assert_eq(r->timeout_ms, 30000);
    cr_assert_eq(memcmp(&c->models[0].route, r, sizeof(*r)), 0);
    sy_config_free(c);
}

/* A model's keys override router.defaults one by one, the rest inherited,
 * whether router comes before or after models in the file. */
Test(config, model_overrides_inherit_the_rest)
{
    static const char *const router =
        "router:\n"
        "  defaults:\n"
        "    strategy: cost\n"
        "    retries: { max: 4, backoff_ms: 10, max_backoff_ms: 500 }\n"
        "    circuit_breaker: { failures: 3, window_s: 10, cooldown_s: 60 }\n"
        "    when_all_open: wait\n"
        "    timeout_ms: 30000\n";
    static const char *const models =
        "models:\n"
        "  - name: m\n"
        "    retries: { max: 1 }\n"
        "    circuit_breaker: { cooldown_s: 5 }\n"
        "    timeout_ms: 1000\n"
        "    deployments: [ { provider: p, model: x } ]\n"
        "  - name: n\n"
        "    strategy: latency\n"
        "    when_all_open: fail\n"
        "    retries: { backoff_ms: 0 }\n"
        "    deployments: [ { provider: p, model: y } ]\n"
        "  - name: o\n"
        "    deployments: [ { provider: p, model: z } ]\n";
    for (int order = 0; order < 2; order++) {
        char yaml[2048];
        snprintf(yaml, sizeof(yaml), "%s%s%s", ROUTE_BASE, order ? models : router, order ? router : models);
        sy_config_t *c = load_ok(yaml);
        const sy_route_conf_t *m = &c->models[0].route, *n = &c->models[1].route, *o = &c->models[2].route;
        cr_assert_eq(m->strategy, SY_STRATEGY_COST, "order %d", order);
        cr_assert_eq(m->retries, 1);
        cr_assert_eq(m->backoff_ms, 10, "order %d: backoff_ms not inherited", order);
        cr_assert_eq(m->max_backoff_ms, 500);
        cr_assert_eq(m->cb_failures, 3);
        cr_assert_eq(m->cb_window_s, 10);
        cr_assert_eq(m->cb_cooldown_s, 5);
        cr_assert_eq(m->when_all_open, SY_ALL_OPEN_WAIT);
        cr_assert_eq(m->timeout_ms, 1000);
        cr_assert_eq(n->strategy, SY_STRATEGY_LATENCY);
        cr_assert_eq(n->when_all_open, SY_ALL_OPEN_FAIL);
        cr_assert_eq(n->retries, 4);
        cr_assert_eq(n->backoff_ms, 0);
        cr_assert_eq(n->max_backoff_ms, 500);
        cr_assert_eq(n->timeout_ms, 30000);
        cr_assert_eq(memcmp(o, &c->router, sizeof(*o)), 0, "order %d: a model without keys", order);
        cr_assert_eq(c->router.retries, 4, "a model's override leaked into router.defaults");
        cr_assert_eq(c->router.cb_cooldown_s, 60);
        sy_config_free(c);
    }
}

Test(config, fallbacks_resolved_in_order)
{
    sy_config_t *c = load_ok(ROUTE_BASE "models:\n"
                                        "  - name: main\n"
                                        "    fallbacks: [ c, b ]\n"
                                        "    context_fallbacks: [ big ]\n"
                                        "    deployments: [ { provider: p, model: x } ]\n"
                                        "  - { name: b, deployments: [ { provider: p, model: y } ] }\n"
                                        "  - { name: c, fallbacks: [ main ],"
                                        " deployments: [ { provider: q, model: y } ] }\n"
                                        "  - { name: big, deployments: [ { provider: q, model: z } ] }\n");
    const sy_model_conf_t *m = &c->models[0];
    cr_assert_eq(m->n_fallbacks, 2);
    cr_assert_eq(m->fallbacks[0], 2);
    cr_assert_eq(m->fallbacks[1], 1);
    cr_assert_eq(m->n_context_fallbacks, 1);
    cr_assert_eq(m->context_fallbacks[0], 3);
    cr_assert_eq(c->models[2].n_fallbacks, 1, "two models may fall back to each other");
    cr_assert_eq(c->models[2].fallbacks[0], 0);
    sy_config_free(c);
}

Test(config, deployment_routing_keys)
{
    sy_config_t *c = load_ok(ROUTE_BASE
                             "  - { name: local, type: ollama, base_url: \"http://127.0.0.1:11434\" }\n"
                             "  - { name: lan, type: openai, base_url: \"http://192.168.1.20:8000/v1\" }\n"
                             "  - { name: v6, type: openai, base_url: \"http://[::1]:8000/v1\" }\n"
                             "  - { name: named, type: openai, base_url: \"http://localhost:8000/v1\" }\n"
                             "  - { name: demo-x, type: openai, base_url: \"https://demo.example.invalid\" }\n"
                             "models:\n"
                             "  - name: m\n"
                             "    deployments:\n"
                             "      - provider: p\n"
                             "        model: x\n"
                             "        max_inflight: 8\n"
                             "        rpm: 600\n"
                             "        tpm: 100000\n"
                             "        price: { input_per_mtok: 2.5, output_per_mtok: 10 }\n"
                             "      - { provider: q, model: y, price: { input_per_mtok: 0.15 } }\n"
                             "      - { provider: local, model: z }\n"
                             "      - { provider: local, model: w, price: { output_per_mtok: 1 } }\n"
                             "      - { provider: lan, model: v }\n"
                             "      - { provider: v6, model: u }\n"
                             "      - { provider: named, model: t }\n"
                             "      - { provider: demo-x, model: s }\n");
    const sy_deployment_conf_t *d = c->models[0].deployments;
    cr_assert_eq(d[0].max_inflight, 8);
    cr_assert_eq(d[0].rpm, 600);
    cr_assert_eq(d[0].tpm, 100000);
    cr_assert_eq(d[0].priced, 1);
    cr_assert_float_eq(d[0].price_in, 2.5, 1e-12);
    cr_assert_float_eq(d[0].price_out, 10.0, 1e-12);
    cr_assert_eq(d[1].priced, 1, "a price with one side given");
    cr_assert_float_eq(d[1].price_in, 0.15, 1e-12);
    cr_assert_eq(d[1].price_out, 0.0);
    for (int i = 2; i <= 7; i++) {
        if (i == 3)
            continue;
        cr_assert_eq(d[i].priced, 1, "deployment %d on a local provider is free", i);
        cr_assert_eq(d[i].price_in, 0.0);
        cr_assert_eq(d[i].price_out, 0.0);
    }
    cr_assert_eq(d[3].priced, 1);
    cr_assert_eq(d[3].price_out, 1.0, "a local deployment's own price wins");
    sy_config_free(c);
}

Test(config, routing_problems)
{
    sy_test_expect_diags(ROUTE_BASE "models:\n"
                            "  - name: m\n"
                            "    strategy: fastest\n"
                            "    deployments: [ { provider: p, model: x } ]\n",
                 "t.yaml:6:15: models[0].strategy: expected one of weighted, round_robin, least_inflight, latency, "
                 "cost, usage",
                 NULL);
    sy_test_expect_diags(ROUTE_BASE "router:\n"
                            "  defaults: { strategy: random, when_all_open: queue }\n",
                 "t.yaml:5:25: router.defaults.strategy: expected one of weighted, round_robin, least_inflight, "
                 "latency, cost, usage",
                 "t.yaml:5:48: router.defaults.when_all_open: expected one of fail, wait", NULL);
    sy_test_expect_diags(ROUTE_BASE "router:\n"
                            "  default: { strategy: cost }\n",
                 "t.yaml:5:3: unknown key \"default\" in router; did you mean \"defaults\"?", NULL);
    sy_test_expect_diags(ROUTE_BASE "router:\n"
                            "  defaults:\n"
                            "    retries: { maxx: 3, backoff: 10 }\n"
                            "    circuit_breaker: { failure: 3, cooldown: 1 }\n",
                 "t.yaml:6:16: unknown key \"maxx\" in router.defaults.retries; did you mean \"max\"?",
                 "t.yaml:6:25: unknown key \"backoff\" in router.defaults.retries; did you mean \"backoff_ms\"?",
                 "t.yaml:7:24: unknown key \"failure\" in router.defaults.circuit_breaker; did you mean \"failures\"?",
                 "t.yaml:7:36: unknown key \"cooldown\" in router.defaults.circuit_breaker; did you mean "
                 "\"cooldown_s\"?",
                 NULL);
    sy_test_expect_diags(ROUTE_BASE "models:\n"
                            "  - name: m\n"
                            "    retries: { max: 1, jitter: true }\n"
                            "    deployments: [ { provider: p, model: x } ]\n",
                 "t.yaml:6:24: unknown key \"jitter\" in models[0].retries; expected one of max, backoff_ms, "
                 "max_backoff_ms",
                 NULL);
}

Test(config, routing_numbers_out_of_range)
{
    sy_test_expect_diags(ROUTE_BASE "router:\n"
                            "  defaults:\n"
                            "    retries: { max: 11, backoff_ms: -1, max_backoff_ms: 600001 }\n"
                            "    circuit_breaker: { failures: 1001, window_s: 0, cooldown_s: 86401 }\n"
                            "    timeout_ms: 0\n",
                 "t.yaml:6:21: router.defaults.retries.max: out of range (0..10)",
                 "t.yaml:6:37: router.defaults.retries.backoff_ms: expected a non-negative integer, not a negative "
                 "number",
                 "t.yaml:6:57: router.defaults.retries.max_backoff_ms: out of range (0..600000)",
                 "t.yaml:7:34: router.defaults.circuit_breaker.failures: out of range (0..1000)",
                 "t.yaml:7:50: router.defaults.circuit_breaker.window_s: expected a positive integer",
                 "t.yaml:7:65: router.defaults.circuit_breaker.cooldown_s: out of range (1..86400)",
                 "t.yaml:8:17: router.defaults.timeout_ms: expected a positive integer", NULL);
}

Test(config, deployment_routing_problems)
{
    sy_test_expect_diags(ROUTE_BASE "models:\n"
                            "  - name: m\n"
                            "    deployments:\n"
                            "      - { provider: p, model: x, price: { input_per_mtok: -1, output_per_mtok: 2 } }\n"
                            "      - { provider: p, model: y, price: { input: 1 }, max_inflight: -3, rpm: 1.5 }\n"
                            "      - { provider: p, model: z, price: 3, tpm: many }\n",
                 "t.yaml:7:59: models[0].deployments[0].price.input_per_mtok: out of range (0..1e+06)",
                 "t.yaml:8:43: unknown key \"input\" in models[0].deployments[1].price; did you mean "
                 "\"input_per_mtok\"?",
                 "t.yaml:8:69: models[0].deployments[1].max_inflight: expected a non-negative integer, not a negative "
                 "number",
                 "t.yaml:8:78: models[0].deployments[1].rpm: expected a non-negative integer",
                 "t.yaml:9:41: models[0].deployments[2].price: expected a mapping",
                 "t.yaml:9:49: models[0].deployments[2].tpm: expected a non-negative integer", NULL);
}

Test(config, fallback_problems)
{
    sy_test_expect_diags(ROUTE_BASE "models:\n"
                            "  - name: main\n"
                            "    fallbacks: [ backup, mian, backup ]\n"
                            "    context_fallbacks: [ main, huge ]\n"
                            "    deployments: [ { provider: p, model: x } ]\n"
                            "  - name: backup\n"
                            "    deployments: [ { provider: p, model: y } ]\n",
                 "t.yaml:6:26: models[0].fallbacks[1]: unknown model \"mian\"; did you mean \"main\"?",
                 "t.yaml:6:32: models[0].fallbacks[2]: \"backup\" is listed twice",
                 "t.yaml:7:26: models[0].context_fallbacks[0]: a model cannot fall back to itself",
                 "t.yaml:7:32: models[0].context_fallbacks[1]: unknown model \"huge\"", NULL);
    sy_test_expect_diags(ROUTE_BASE "models:\n"
                            "  - name: main\n"
                            "    fallbacks: backup\n"
                            "    deployments: [ { provider: p, model: x } ]\n",
                 "t.yaml:6:16: models[0].fallbacks: expected a list", NULL);
}

/* ---- router.rules (the matching itself: tests/unit/router/rules_test.c) ---- */

Test(config, router_rules_read_back)
{
    sy_config_t *c = load_ok(ROUTE_BASE "models:\n"
                                        "  - { name: m, deployments: [ { provider: p, model: x } ] }\n"
                                        "router:\n"
                                        "  defaults: { retries: { max: 1 } }\n"
                                        "  rules:\n"
                                        "    - name: r\n"
                                        "      match:\n"
                                        "        api: anthropic\n"
                                        "        model: [\"a*\", b]\n"
                                        "        headers: { X-Team: \"s*\" }\n"
                                        "        metadata: { tier: gold }\n"
                                        "        prompt: \"^hi\"\n"
                                        "        prompt_icase: true\n"
                                        "        tokens: { max: 10 }\n"
                                        "      action: { route: m, set: { top_p: 0.5 }, cap: { max_tokens: 9 } }\n");
    cr_assert_eq(c->n_rules, 1);
    const sy_rule_conf_t *r = &c->rules[0];
    cr_assert_str_eq(r->name, "r");
    cr_assert_eq(r->apis, 1u << 2);
    cr_assert_eq(r->n_models, 2);
    cr_assert_str_eq(r->models[1], "b");
    cr_assert_str_eq(r->headers[0].name, "x-team");
    cr_assert_str_eq(r->metadata[0].glob, "gold");
    cr_assert_not_null(r->prompt_re);
    cr_assert(r->prompt_icase);
    cr_assert_eq(r->tokens_min, -1);
    cr_assert_eq(r->tokens_max, 10);
    cr_assert_eq(r->route_model, 0);
    cr_assert_eq(r->params.set_mask, 1u << SY_PARAM_TOP_P);
    cr_assert_eq(r->params.cap[SY_PARAM_MAX_TOKENS], 9);
    cr_assert_eq(r->needs, SY_RULE_NEEDS_PROMPT | SY_RULE_NEEDS_META);
    cr_assert_eq(c->rules_need, r->needs);
    cr_assert_eq(c->router.retries, 1, "defaults still read beside rules");
    cr_assert_str_eq(sy_param_name(SY_PARAM_FREQUENCY_PENALTY), "frequency_penalty");
    sy_config_free(c);
}

Test(config, router_rules_shape_errors)
{
    sy_test_expect_diags(ROUTE_BASE "router:\n"
                            "  rule: []\n"
                            "  rules: { name: x }\n",
                 "t.yaml:5:3: unknown key \"rule\" in router; did you mean \"rules\"?",
                 "t.yaml:6:3: router.rules: expected a list", NULL);
}

/* ---- complexity models and A/B experiments (router/complexity.h,
 * router/experiment.h; their own tests check every diagnostic) ---- */

Test(config, complexity_and_experiments_read_back)
{
    sy_config_t *cfg = load_ok(ROUTE_BASE "models:\n"
                                          "  - { name: small, deployments: [ { provider: p, model: s } ] }\n"
                                          "  - { name: large, deployments: [ { provider: p, model: l } ] }\n"
                                          "  - name: auto\n"
                                          "    router: complexity\n"
                                          "    tiers: [ { below: 40, model: small }, { model: large } ]\n"
                                          "    complexity: { weights: { math: 30 } }\n"
                                          "router:\n"
                                          "  experiments:\n"
                                          "    - name: ab\n"
                                          "      model: small\n"
                                          "      sticky: none\n"
                                          "      arms: [ { name: a, weight: 25.5 }, { name: b, weight: 74.5, model: auto } ]\n");
    const sy_model_conf_t *m = &cfg->models[2];
    cr_assert(m->complexity);
    cr_assert_eq(m->n_deployments, 0);
    cr_assert_eq(m->n_tiers, 2);
    cr_assert_eq(m->tiers[0].below, 40);
    cr_assert_str_eq(m->tiers[0].model, "small");
    cr_assert_eq(m->tiers[1].model_index, 1);
    cr_assert_float_eq(m->cx_weights.math, 30, 1e-9);
    cr_assert_float_eq(m->cx_weights.tokens, 25, 1e-9);
    cr_assert_eq(cfg->models[0].complexity, 0);
    cr_assert_eq(cfg->models[0].n_tiers, 0);
    cr_assert_eq(cfg->n_experiments, 1);
    const sy_exp_conf_t *e = &cfg->experiments[0];
    cr_assert_str_eq(e->name, "ab");
    cr_assert_eq(e->model_index, 0);
    cr_assert_eq(e->sticky, SY_EXP_STICKY_NONE);
    cr_assert_eq(e->arms[0].weight_bp, 2550);
    cr_assert_eq(e->arms[1].weight_bp, 7450);
    cr_assert_eq(e->arms[1].model_index, 2, "an arm may send to a complexity model");
    sy_config_free(cfg);

    cfg = load_ok(ROUTE_BASE "models: [ { name: x, deployments: [ { provider: p, model: s } ] } ]\n"
                             "router: { experiments: [] }\n");
    cr_assert_eq(cfg->n_experiments, 0);
    cr_assert_null(cfg->experiments);
    sy_config_free(cfg);
}

Test(config, complexity_and_experiment_problems)
{
    sy_test_expect_diags(ROUTE_BASE "models:\n"
                            "  - { name: small, deployments: [ { provider: p, model: s } ] }\n"
                            "  - { name: auto, router: complexity, tiers: [ { below: 0, model: small }, { model: smal } ] }\n"
                            "router:\n"
                            "  experiments:\n"
                            "    - { name: ab, model: small, arms: [ { name: a, weight: 60 }, { name: b, weight: 60 } ] }\n",
                 "t.yaml:6:57: models[1].tiers[0].below: expected a positive integer",
                 "t.yaml:6:85: models[1].tiers[1].model: unknown model \"smal\"; did you mean \"small\"?",
                 "t.yaml:9:33: router.experiments[0].arms: the arms' weights add up to 120; they are percentages and "
                 "must add up to 100",
                 NULL);
}

/* ---- providers[].health, server.ready_requires_providers ---------------- */

Test(config, health_off_by_default)
{
    sy_config_t *c = load_ok("providers:\n"
                             "  - {name: p, type: ollama, base_url: \"http://127.0.0.1:11434\"}\n");
    const sy_health_conf_t *h = &c->providers[0].health;
    cr_assert_eq(h->enabled, 0);
    cr_assert_null(h->path);
    cr_assert_eq(h->interval_ms, 10000);
    cr_assert_eq(h->timeout_ms, 2000);
    cr_assert_eq(h->unhealthy_after, 2);
    cr_assert_eq(h->healthy_after, 1);
    cr_assert_eq(h->loaded, 1, "an Ollama provider reads /api/ps once probed");
    cr_assert_eq(h->slots, 0);
    cr_assert_eq(c->server.ready_requires_providers, 0);
    sy_config_free(c);
}

Test(config, health_true_and_mapping)
{
    sy_config_t *c = load_ok("server: { ready_requires_providers: true }\n"
                             "providers:\n"
                             "  - {name: a, type: ollama, base_url: \"http://h:1\", health: true}\n"
                             "  - name: b\n"
                             "    type: openai\n"
                             "    base_url: \"http://h:2/v1\"\n"
                             "    health: { path: /health, interval_s: 0.25, timeout_ms: 500, unhealthy_after: 3,\n"
                             "              healthy_after: 2, slots: true }\n"
                             "  - {name: c, type: ollama, base_url: \"http://h:3\", health: { loaded: false }}\n"
                             "  - {name: d, type: anthropic, base_url: \"http://h:4\", health: false}\n");
    cr_assert_eq(c->server.ready_requires_providers, 1);
    cr_assert_eq(c->providers[0].health.enabled, 1);
    cr_assert_eq(c->providers[0].health.loaded, 1);
    const sy_health_conf_t *b = &c->providers[1].health;
    cr_assert_eq(b->enabled, 1);
    cr_assert_str_eq(b->path, "/health");
    cr_assert_eq(b->interval_ms, 250);
    cr_assert_eq(b->timeout_ms, 500);
    cr_assert_eq(b->unhealthy_after, 3);
    cr_assert_eq(b->healthy_after, 2);
    cr_assert_eq(b->slots, 1);
    cr_assert_eq(b->loaded, 0, "only Ollama has /api/ps");
    cr_assert_eq(c->providers[2].health.enabled, 1);
    cr_assert_eq(c->providers[2].health.loaded, 0);
    cr_assert_eq(c->providers[3].health.enabled, 0);
    sy_config_free(c);
}

Test(config, health_bad_values)
{
    sy_test_expect_diags("providers:\n"
                 "  - name: a\n"
                 "    type: ollama\n"
                 "    base_url: \"http://h\"\n"
                 "    health: { intervall_s: 1, path: api/tags, interval_s: 0.01, timeout_ms: 0, unhealthy_after: 101 }\n"
                 "  - {name: b, type: openai, base_url: \"http://h\", health: yes}\n"
                 "  - {name: c, type: openai, base_url: \"http://h\", health: [1]}\n",
                 "t.yaml:5:15: unknown key \"intervall_s\" in providers[0].health; did you mean \"interval_s\"?",
                 "t.yaml:5:37: providers[0].health.path: must start with \"/\" (it is appended to base_url)",
                 "t.yaml:5:59: providers[0].health.interval_s: out of range (0.05..86400)",
                 "t.yaml:5:77: providers[0].health.timeout_ms: expected a positive integer",
                 "t.yaml:5:97: providers[0].health.unhealthy_after: out of range (1..100)",
                 "t.yaml:6:59: providers[1].health: expected true or false",
                 "t.yaml:7:51: providers[2].health: expected true, false or a mapping", NULL);
}

/* /api/ps is Ollama's, /slots a llama.cpp server's (type openai). */
Test(config, health_loaded_and_slots_by_type)
{
    sy_test_expect_diags("providers:\n"
                 "  - {name: a, type: openai, base_url: \"http://h\", health: { loaded: true }}\n"
                 "  - {name: b, type: ollama, base_url: \"http://h\", health: { slots: true }}\n"
                 "  - {name: c, type: anthropic, base_url: \"http://h\", health: { slots: true }}\n",
                 "t.yaml:2:51: providers[0].health.loaded: only a provider of type ollama lists its loaded models "
                 "(GET /api/ps)",
                 "t.yaml:3:51: providers[1].health.slots: only a provider of type openai (a llama.cpp server) has slots",
                 "t.yaml:4:54: providers[2].health.slots: only a provider of type openai (a llama.cpp server) has slots",
                 NULL);
}

/* Names are found through an index built at load: every model and provider
 * of a large config, none that is not there, the first of a prefix family. */
Test(config, find_by_name_in_a_large_config)
{
    size_t cap = 256 * 1024, o = 0;
    char *y = malloc(cap);
    o += (size_t)snprintf(y + o, cap - o, "providers:\n");
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(y + o, cap - o, "  - { name: p%d, type: openai, base_url: \"https://p%d.example.invalid/v1\" }\n",
                              i, i);
    o += (size_t)snprintf(y + o, cap - o, "models:\n");
    for (int i = 0; i < 1500; i++)
        o += (size_t)snprintf(y + o, cap - o, "  - { name: m%d, deployments: [ { provider: p%d, model: u } ] }\n", i,
                              i % 300);
    sy_config_t *c = load_ok(y);
    cr_assert_not_null(c->model_slots);
    cr_assert_not_null(c->provider_slots);
    char name[32];
    for (int i = 0; i < 1500; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        const sy_model_conf_t *m = sy_config_find_model(c, name);
        cr_assert(m && m == &c->models[i], "%s", name);
        cr_assert_eq(m->deployments[0].provider_index, (size_t)(i % 300));
    }
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        const sy_provider_conf_t *p = sy_config_find_provider(c, name);
        cr_assert(p && p == &c->providers[i], "%s", name);
    }
    cr_assert_null(sy_config_find_model(c, "m1500"));
    cr_assert_null(sy_config_find_model(c, "m"));
    cr_assert_null(sy_config_find_model(c, ""));
    cr_assert_null(sy_config_find_provider(c, "p300"));
    cr_assert_null(sy_config_find_model(c, NULL));
    sy_config_free(c);
    free(y);
}
