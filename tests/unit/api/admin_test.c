/*
 * admin_test.c - unit tests for src/api/admin.c (POST /admin/route/explain
 * without a server): the decision and the plan for each client API, a
 * refusal, the dry pick that takes nothing (in-flight counts and the
 * round-robin turn stay as they were), a deployment that may not be
 * called and why, the fallback that would answer, and the errors (bad
 * JSON, bad api, bad request body, unknown model).
 */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "config_harness.h"
#include "core/log.h"
#include "router/state.h"

#define S 1000000000ull

static const char *yaml =
    "providers:\n"
    "  - { name: p, type: openai, base_url: \"https://p.example.invalid/v1\" }\n"
    "  - { name: o, type: ollama, base_url: \"http://127.0.0.1:1\" }\n"
    "models:\n"
    "  - name: chat\n"
    "    strategy: round_robin\n"
    "    deployments: [ { provider: p, model: a }, { provider: p, model: b, weight: 0 } ]\n"
    "    fallbacks: [ spare ]\n"
    "  - name: spare\n"
    "    deployments: [ { provider: o, model: s, max_inflight: 1 } ]\n"
    "  - name: coder\n"
    "    deployments: [ { provider: p, model: c } ]\n"
    "router:\n"
    "  rules:\n"
    "    - name: no-evil\n"
    "      match: { headers: { x-team: evil } }\n"
    "      action: { reject: { status: 403, message: \"go away\" } }\n"
    "    - name: code\n"
    "      match: { prompt: \"def \" }\n"
    "      action: { route: coder, cap: { max_tokens: 64 } }\n";

static sy_config_t *cfg;
static sy_rstate_t *rs;
static sy_arena_t arena;

static void setup(void)
{
    sy_log_set_level(SY_LOG_ERROR); /* the breaker opening is logged */
    cfg = sy_test_load_ok(yaml);
    rs = sy_rstate_new(cfg);
    cr_assert_not_null(rs);
    sy_arena_init(&arena, 0);
}

static void teardown(void)
{
    sy_arena_release(&arena);
    sy_rstate_free(rs);
    sy_config_free(cfg);
}

/* Run the explain on body; *text gets the answer (malloc'd). */
static sy_err_t explain(const char *body, char **text, sy_error_t *err)
{
    struct evbuffer *b = evbuffer_new();
    sy_err_t rc = sy__api_admin_explain(cfg, rs, NULL, body, strlen(body), &arena, 100 * S, 12345, b, err);
    size_t n = evbuffer_get_length(b);
    *text = malloc(n + 1);
    evbuffer_remove(b, *text, n);
    (*text)[n] = '\0';
    evbuffer_free(b);
    if (rc == SY_OK)
        cr_assert_eq(sy_json_validate(*text, n, NULL, NULL), 0, "valid JSON: %s", *text);
    return rc;
}

#define HAS(t, s) cr_assert(strstr((t), (s)) != NULL, "expected %s in %s", (s), (t))

TestSuite(admin, .init = setup, .fini = teardown);

Test(admin, plain_request_plans_the_model_asked_for)
{
    char *t;
    sy_error_t e;
    cr_assert_eq(explain("{\"request\":{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}", &t,
                         &e),
                 SY_OK);
    HAS(t, "\"api\":\"openai\",\"model\":\"chat\",\"rule\":null,\"reason\":null,\"final_model\":\"chat\"");
    HAS(t, "\"plan\":{\"direct\":false,\"chosen\":{\"model\":\"chat\",\"provider\":\"p\",\"upstream_model\":\"a\","
           "\"index\":0}");
    HAS(t, "{\"index\":1,\"provider\":\"p\",\"model\":\"b\",\"weight\":0,\"circuit\":\"closed\",\"inflight\":0,"
           "\"max_inflight\":0,\"cooling_ms\":0,\"eligible\":false,\"why\":\"weight 0\"}");
    HAS(t, "\"fallbacks\":[{\"model\":\"spare\"");
    HAS(t, "\"reject\":null");
    free(t);
    /* nothing was taken: no call in flight, the round-robin turn unchanged */
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, 0, 0)->inflight), 0);
    cr_assert_eq(atomic_load(&rs->models[0].rr), 0);
    cr_assert_eq(atomic_load(&sy_rstate_dep(rs, 0, 0)->calls), 0);
}

Test(admin, rule_routes_and_caps_for_each_api)
{
    static const char *bodies[] = {
        "{\"request\":{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"def f(x)\"}]}}",
        "{\"api\":\"ollama\",\"request\":{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"def "
        "f(x)\"}]}}",
        "{\"api\":\"anthropic\",\"request\":{\"model\":\"chat\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\","
        "\"content\":\"def f(x)\"}]}}",
    };
    for (int i = 0; i < 3; i++) {
        char *t;
        sy_error_t e;
        cr_assert_eq(explain(bodies[i], &t, &e), SY_OK, "%s", e.message);
        HAS(t, "\"rule\":{\"index\":1,\"name\":\"code\"},\"reason\":\"rule=code\",\"final_model\":\"coder\"");
        HAS(t, "\"cap\":{\"max_tokens\":64},\"effective\":{\"max_tokens\":64}");
        HAS(t, "\"upstream_model\":\"c\"");
        free(t);
    }
}

Test(admin, refusal_has_no_plan)
{
    char *t;
    sy_error_t e;
    cr_assert_eq(explain("{\"headers\":{\"X-Team\":\"evil\"},\"request\":{\"model\":\"nope\",\"messages\":[{\"role\":"
                         "\"user\",\"content\":\"hi\"}]}}",
                         &t, &e),
                 SY_OK);
    HAS(t, "\"rule\":{\"index\":0,\"name\":\"no-evil\"}");
    HAS(t, "\"final_model\":null");
    HAS(t, "\"reject\":{\"status\":403,\"message\":\"go away\"},\"plan\":null}");
    free(t);
}

Test(admin, full_and_fallback)
{
    /* chat's only eligible deployment is open: the fallback answers, and
     * spare's one deployment is full */
    sy_dstate_t *d = sy_rstate_dep(rs, 0, 0);
    for (int i = 0; i < 5; i++) {
        int probe = sy_rstate_enter(rs, 0, 0, 100 * S);
        sy_rstate_end(rs, 0, 0, probe, SY_OUT_FAILED, -1, -1, 100 * S);
    }
    cr_assert_eq(sy_breaker_state(&d->cb, 100 * S), SY_CB_OPEN);
    char *t;
    sy_error_t e;
    cr_assert_eq(explain("{\"request\":{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}", &t,
                         &e),
                 SY_OK);
    HAS(t, "\"chosen\":{\"model\":\"spare\",\"provider\":\"o\",\"upstream_model\":\"s\",\"index\":0}");
    HAS(t, "\"circuit\":\"open\"");
    HAS(t, "\"why\":\"circuit open\"");
    free(t);
    sy_rstate_enter(rs, 1, 0, 100 * S);
    cr_assert_eq(explain("{\"request\":{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}", &t,
                         &e),
                 SY_OK);
    HAS(t, "\"plan\":{\"direct\":false,\"chosen\":null");
    HAS(t, "\"inflight\":1,\"max_inflight\":1,\"cooling_ms\":0,\"eligible\":false,\"why\":\"at max_inflight\"");
    free(t);
}

Test(admin, direct_address)
{
    char *t;
    sy_error_t e;
    cr_assert_eq(explain("{\"request\":{\"model\":\"o/llama\",\"prompt\":\"x\"}}", &t, &e), SY_OK);
    HAS(t, "\"plan\":{\"direct\":true,\"chosen\":{\"provider\":\"o\",\"upstream_model\":\"llama\"");
    free(t);
}

Test(admin, errors)
{
    static const struct {
        const char *body;
        sy_err_t code;
        const char *msg;
    } cases[] = {
        {"{\"request\":", SY_EBADJSON, "malformed JSON"},
        {"[]", SY_EBADREQ, "must be a JSON object"},
        {"{\"api\":\"grpc\",\"request\":{}}", SY_EBADFIELD, "'api' must be one of"},
        {"{\"api\":\"openai\"}", SY_EMISSING, "'request' must be"},
        {"{\"headers\":{\"a\":1},\"request\":{}}", SY_EBADFIELD, "'headers' must be an object of strings"},
        {"{\"request\":{\"model\":\"chat\"}}", SY_EMISSING, "request: "},
        {"{\"api\":\"anthropic\",\"request\":{\"model\":\"chat\",\"messages\":[]}}", SY_EMISSING, "request: "},
        {"{\"request\":{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}", SY_ENOMODEL,
         "nope"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t;
        sy_error_t e;
        sy_err_t rc = explain(cases[i].body, &t, &e);
        cr_assert_eq(rc, cases[i].code, "case %zu: %s (%s)", i, sy_err_name(rc), e.message);
        cr_assert(strstr(e.message, cases[i].msg), "case %zu: %s", i, e.message);
        free(t);
    }
}
