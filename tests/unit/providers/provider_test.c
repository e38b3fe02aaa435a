/*
 * provider_test.c - unit tests for src/providers/provider.c: which client
 * headers may travel upstream (exact names, "prefix*" patterns, any case,
 * and credentials / hop-by-hop headers never, even when listed), and the
 * upstream request an OpenAI-compatible provider gets: URL, Content-Type,
 * Accept, x-request-id, the provider's own key, extra headers, forwarded
 * client headers, and refusal of any header value holding a line break.
 * Ollama providers get the same Bearer key and accept NDJSON streams;
 * Anthropic providers get x-api-key and anthropic-version, never
 * Authorization, and a client's anthropic-version is not forwarded.
 */
#include "providers/provider.h"

#include <criterion/criterion.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- helpers ------------------------------------------------------------ */

static char *fwd_default[] = {"x-trace-id", "x-mock-*", "OpenAI-Organization"};

static sy_provider_conf_t openai_provider(void)
{
    sy_provider_conf_t p = {
        .name = "mock",
        .type = SY_PROVIDER_OPENAI,
        .base_url = "http://127.0.0.1:8080/v1",
        .api_key_env = "MOCK_KEY",
        .api_key = "sk-test-123",
    };
    return p;
}

static sy_req_t request(const char *id)
{
    sy_req_t r;
    memset(&r, 0, sizeof(r));
    snprintf(r.id, sizeof(r.id), "%s", id);
    r.path = "/v1/chat/completions";
    return r;
}

/* Index of the header line equal to line, or -1. */
static int find_line(const sy_egress_t *o, const char *line)
{
    for (size_t i = 0; i < o->n_headers; i++)
        if (strcmp(o->headers[i], line) == 0)
            return (int)i;
    return -1;
}

/* Number of header lines whose name (before ':') is name, any case. */
static int count_name(const sy_egress_t *o, const char *name)
{
    int n = 0;
    size_t nl = strlen(name);
    for (size_t i = 0; i < o->n_headers; i++)
        if (strncasecmp(o->headers[i], name, nl) == 0 && o->headers[i][nl] == ':')
            n++;
    return n;
}

/* Every header line is "Name: value" without CR or LF, inside store. */
static void check_lines_sane(const sy_egress_t *o)
{
    cr_assert_leq(o->n_headers, SY_EGRESS_MAX_HEADERS);
    for (size_t i = 0; i < o->n_headers; i++) {
        const char *h = o->headers[i];
        cr_assert(h >= o->store && h < o->store + sizeof(o->store), "header %zu outside store", i);
        cr_assert_null(strpbrk(h, "\r\n"), "header %zu holds a line break", i);
        const char *colon = strchr(h, ':');
        cr_assert_not_null(colon, "header %zu has no colon: %s", i, h);
        cr_assert_gt(colon - h, 0);
        cr_assert_eq(colon[1], ' ');
    }
}

/* ---- sy_provider_forwards ------------------------------------------------ */

Test(provider_forwards, nothing_by_default)
{
    sy_provider_conf_t p = openai_provider();
    cr_assert_not(sy_provider_forwards(&p, "x-trace-id"));
    cr_assert_not(sy_provider_forwards(&p, "user-agent"));
    cr_assert_not(sy_provider_forwards(&p, "authorization"));
}

Test(provider_forwards, exact_names)
{
    sy_provider_conf_t p = openai_provider();
    p.forward_headers = fwd_default;
    p.n_forward_headers = 3;
    cr_assert(sy_provider_forwards(&p, "x-trace-id"));
    cr_assert(sy_provider_forwards(&p, "openai-organization"));
    cr_assert_not(sy_provider_forwards(&p, "x-trace"));
    cr_assert_not(sy_provider_forwards(&p, "x-trace-id2"));
    cr_assert_not(sy_provider_forwards(&p, "x-trace-i"));
    cr_assert_not(sy_provider_forwards(&p, ""));
    cr_assert_not(sy_provider_forwards(&p, "user-agent"));
}

Test(provider_forwards, prefix_patterns)
{
    sy_provider_conf_t p = openai_provider();
    p.forward_headers = fwd_default;
    p.n_forward_headers = 3;
    cr_assert(sy_provider_forwards(&p, "x-mock-latency-ms"));
    cr_assert(sy_provider_forwards(&p, "x-mock-status"));
    cr_assert(sy_provider_forwards(&p, "x-mock-"));
    cr_assert_not(sy_provider_forwards(&p, "x-mock"));
    cr_assert_not(sy_provider_forwards(&p, "x-mocks"));
    cr_assert_not(sy_provider_forwards(&p, "y-mock-status"));
}

Test(provider_forwards, case_insensitive)
{
    sy_provider_conf_t p = openai_provider();
    p.forward_headers = fwd_default;
    p.n_forward_headers = 3;
    cr_assert(sy_provider_forwards(&p, "X-Trace-Id"));
    cr_assert(sy_provider_forwards(&p, "X-TRACE-ID"));
    cr_assert(sy_provider_forwards(&p, "X-Mock-Latency-Ms"));
    cr_assert(sy_provider_forwards(&p, "X-MOCK-FAULT"));
    cr_assert(sy_provider_forwards(&p, "OPENAI-ORGANIZATION"));
}

Test(provider_forwards, credentials_and_hop_by_hop_never)
{
    static char *listed[] = {"authorization", "x-api-key", "cookie", "host", "content-length", "api-key",
                             "proxy-authorization", "connection", "transfer-encoding", "x-request-id",
                             "content-type", "expect", "upgrade", "te", "keep-alive", "accept-encoding"};
    static char *star[] = {"*"};
    sy_provider_conf_t p = openai_provider();
    p.forward_headers = listed;
    p.n_forward_headers = sizeof(listed) / sizeof(listed[0]);
    for (size_t i = 0; i < p.n_forward_headers; i++) {
        char upper[64];
        size_t k;
        for (k = 0; listed[i][k] && k + 1 < sizeof(upper); k++)
            upper[k] = (char)(listed[i][k] >= 'a' && listed[i][k] <= 'z' ? listed[i][k] - 32 : listed[i][k]);
        upper[k] = '\0';
        cr_assert_not(sy_provider_forwards(&p, listed[i]), "%s forwarded", listed[i]);
        cr_assert_not(sy_provider_forwards(&p, upper), "%s forwarded", upper);
    }
    /* a catch-all pattern forwards ordinary headers, still never these */
    p.forward_headers = star;
    p.n_forward_headers = 1;
    cr_assert(sy_provider_forwards(&p, "x-anything"));
    cr_assert(sy_provider_forwards(&p, "user-agent"));
    const char *never[] = {"Authorization", "X-Api-Key", "Cookie", "Host", "Content-Length", "Proxy-Authorization"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        cr_assert_not(sy_provider_forwards(&p, never[i]), "%s forwarded by *", never[i]);
}

/* ---- sy_provider_prepare ------------------------------------------------- */

Test(provider_prepare, openai_stream)
{
    sy_provider_conf_t p = openai_provider();
    sy_req_t r = request("req-42");
    sy_egress_t o;
    sy_error_t e;
    memset(&o, 0x5a, sizeof(o));
    cr_assert_eq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK, "%s", e.message);
    cr_assert_str_eq(o.url, "http://127.0.0.1:8080/v1/chat/completions");
    check_lines_sane(&o);
    cr_assert_eq(o.n_headers, 4);
    cr_assert_eq(find_line(&o, "Content-Type: application/json"), 0);
    cr_assert_geq(find_line(&o, "Accept: text/event-stream"), 0);
    cr_assert_geq(find_line(&o, "x-request-id: req-42"), 0);
    cr_assert_geq(find_line(&o, "Authorization: Bearer sk-test-123"), 0);
}

Test(provider_prepare, openai_not_stream)
{
    sy_provider_conf_t p = openai_provider();
    sy_req_t r = request("id-1");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/embeddings", &r, 0, &o, &e), SY_OK);
    cr_assert_str_eq(o.url, "http://127.0.0.1:8080/v1/embeddings");
    cr_assert_geq(find_line(&o, "Accept: application/json"), 0);
    cr_assert_eq(count_name(&o, "Accept"), 1);
    cr_assert_eq(count_name(&o, "Content-Type"), 1);
}

Test(provider_prepare, no_authorization_without_key)
{
    sy_provider_conf_t p = openai_provider();
    p.api_key = NULL;
    sy_req_t r = request("id-2");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/chat/completions", &r, 0, &o, &e), SY_OK);
    cr_assert_eq(count_name(&o, "Authorization"), 0);
    cr_assert_eq(o.n_headers, 3);
    check_lines_sane(&o);
}

Test(provider_prepare, extra_headers_after_the_standard_ones)
{
    sy_header_kv_t extra[] = {{"x-extra", "value"}, {"OpenAI-Project", "proj_1"}, {"x-empty", ""}};
    sy_provider_conf_t p = openai_provider();
    p.headers = extra;
    p.n_headers = 3;
    sy_req_t r = request("id-3");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK, "%s", e.message);
    check_lines_sane(&o);
    cr_assert_eq(o.n_headers, 7);
    int auth = find_line(&o, "Authorization: Bearer sk-test-123");
    int x1 = find_line(&o, "x-extra: value");
    int x2 = find_line(&o, "OpenAI-Project: proj_1");
    int x3 = find_line(&o, "x-empty: ");
    cr_assert(auth >= 0 && x1 > auth && x2 > x1 && x3 > x2, "order auth %d, extras %d %d %d", auth, x1, x2, x3);
}

/* Without r->ev nothing of the client's is forwarded, whatever is allowed. */
Test(provider_prepare, no_client_request_nothing_forwarded)
{
    sy_provider_conf_t p = openai_provider();
    p.forward_headers = fwd_default;
    p.n_forward_headers = 3;
    sy_req_t r = request("id-4");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK);
    cr_assert_eq(o.n_headers, 4);
}

/* Reusing an egress for a second request starts from empty. */
Test(provider_prepare, reuse_resets)
{
    sy_provider_conf_t p = openai_provider();
    sy_req_t r = request("first");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/a", &r, 1, &o, &e), SY_OK);
    r = request("second");
    cr_assert_eq(sy_provider_prepare(&p, "/b", &r, 0, &o, &e), SY_OK);
    cr_assert_eq(o.n_headers, 4);
    cr_assert_str_eq(o.url, "http://127.0.0.1:8080/v1/b");
    cr_assert_geq(find_line(&o, "x-request-id: second"), 0);
    cr_assert_eq(find_line(&o, "x-request-id: first"), -1);
}

/* A line break in any value that goes upstream would let the value add
 * headers of its own: prepare must fail and never hand such a line out. */
Test(provider_prepare, line_break_in_a_value_fails)
{
    static const char *const bad[] = {"a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\rX-Injected: 1", "\r\n", "tail\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sy_egress_t o;
        sy_error_t e;

        /* in an extra header's value */
        sy_header_kv_t extra[] = {{"x-ok", "fine"}, {"x-extra", (char *)bad[i]}};
        sy_provider_conf_t p = openai_provider();
        p.headers = extra;
        p.n_headers = 2;
        sy_req_t r = request("id-5");
        cr_assert_neq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK, "extra value %zu", i);
        check_lines_sane(&o);
        cr_assert_eq(count_name(&o, "X-Injected"), 0);

        /* in an extra header's name */
        sy_header_kv_t extra2[] = {{(char *)bad[i], "v"}};
        p.headers = extra2;
        p.n_headers = 1;
        cr_assert_neq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK, "extra name %zu", i);
        check_lines_sane(&o);

        /* in the API key */
        p = openai_provider();
        p.api_key = (char *)bad[i];
        cr_assert_neq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK, "api key %zu", i);
        check_lines_sane(&o);
        cr_assert_eq(count_name(&o, "X-Injected"), 0);

        /* in the request id */
        p = openai_provider();
        r = request(bad[i]);
        cr_assert_neq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK, "request id %zu", i);
        check_lines_sane(&o);
        cr_assert_eq(count_name(&o, "X-Injected"), 0);
    }
}

Test(provider_prepare, too_many_extra_headers_fail_cleanly)
{
    static sy_header_kv_t extra[SY_EGRESS_MAX_HEADERS + 10];
    static char names[SY_EGRESS_MAX_HEADERS + 10][16];
    for (size_t i = 0; i < SY_EGRESS_MAX_HEADERS + 10; i++) {
        snprintf(names[i], sizeof(names[i]), "x-h%zu", i);
        extra[i].name = names[i];
        extra[i].value = "v";
    }
    sy_provider_conf_t p = openai_provider();
    p.headers = extra;
    p.n_headers = SY_EGRESS_MAX_HEADERS + 10;
    sy_req_t r = request("id-6");
    sy_egress_t o;
    sy_error_t e;
    sy_err_t rc = sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e);
    cr_assert_neq(rc, SY_OK);
    cr_assert_eq(e.code, rc);
    cr_assert_leq(o.n_headers, SY_EGRESS_MAX_HEADERS);
    check_lines_sane(&o);
}

Test(provider_prepare, oversized_header_values_fail_cleanly)
{
    static char big[20000];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sy_header_kv_t extra[] = {{"x-big", big}};
    sy_provider_conf_t p = openai_provider();
    p.headers = extra;
    p.n_headers = 1;
    sy_req_t r = request("id-7");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_neq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK);
    check_lines_sane(&o);
    cr_assert_leq(o.used, sizeof(o.store));
}

Test(provider_prepare, overlong_url_fails)
{
    static char base[3000];
    int n = snprintf(base, sizeof(base), "http://h/");
    memset(base + n, 'a', sizeof(base) - 1 - (size_t)n);
    base[sizeof(base) - 1] = '\0';
    sy_provider_conf_t p = openai_provider();
    p.base_url = base;
    sy_req_t r = request("id-8");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_neq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK);
    cr_assert_lt(strlen(o.url), sizeof(o.url));
}

static sy_provider_conf_t other_provider(sy_provider_type_t type)
{
    sy_provider_conf_t p = openai_provider();
    p.name = "other";
    p.type = type;
    p.base_url = type == SY_PROVIDER_OLLAMA ? "http://127.0.0.1:11434" : "https://api.anthropic.com";
    return p;
}

Test(provider_prepare, ollama_stream_accepts_ndjson)
{
    sy_provider_conf_t p = other_provider(SY_PROVIDER_OLLAMA);
    sy_req_t r = request("id-9");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/api/chat", &r, 1, &o, &e), SY_OK, "%s", e.message);
    cr_assert_str_eq(o.url, "http://127.0.0.1:11434/api/chat");
    check_lines_sane(&o);
    cr_assert_eq(o.n_headers, 4);
    cr_assert_eq(find_line(&o, "Content-Type: application/json"), 0);
    cr_assert_geq(find_line(&o, "Accept: application/x-ndjson"), 0);
    cr_assert_geq(find_line(&o, "x-request-id: id-9"), 0);
    /* a key means an authenticating proxy in front of Ollama */
    cr_assert_geq(find_line(&o, "Authorization: Bearer sk-test-123"), 0);
    cr_assert_eq(count_name(&o, "x-api-key"), 0);
}

Test(provider_prepare, ollama_whole_without_key)
{
    sy_provider_conf_t p = other_provider(SY_PROVIDER_OLLAMA);
    p.api_key = NULL;
    sy_req_t r = request("id-9b");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/api/embed", &r, 0, &o, &e), SY_OK, "%s", e.message);
    check_lines_sane(&o);
    cr_assert_eq(o.n_headers, 3);
    cr_assert_geq(find_line(&o, "Accept: application/json"), 0);
    cr_assert_eq(count_name(&o, "Authorization"), 0);
}

Test(provider_prepare, anthropic_stream)
{
    sy_provider_conf_t p = other_provider(SY_PROVIDER_ANTHROPIC);
    sy_req_t r = request("id-12");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/v1/messages", &r, 1, &o, &e), SY_OK, "%s", e.message);
    cr_assert_str_eq(o.url, "https://api.anthropic.com/v1/messages");
    check_lines_sane(&o);
    cr_assert_eq(o.n_headers, 5);
    cr_assert_eq(find_line(&o, "Content-Type: application/json"), 0);
    cr_assert_geq(find_line(&o, "Accept: text/event-stream"), 0);
    cr_assert_geq(find_line(&o, "x-request-id: id-12"), 0);
    cr_assert_geq(find_line(&o, "x-api-key: sk-test-123"), 0);
    cr_assert_geq(find_line(&o, "anthropic-version: 2023-06-01"), 0);
    cr_assert_eq(count_name(&o, "Authorization"), 0);
}

Test(provider_prepare, anthropic_whole_without_key)
{
    sy_provider_conf_t p = other_provider(SY_PROVIDER_ANTHROPIC);
    p.api_key = NULL;
    sy_req_t r = request("id-13");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/v1/messages", &r, 0, &o, &e), SY_OK, "%s", e.message);
    check_lines_sane(&o);
    cr_assert_eq(o.n_headers, 4);
    cr_assert_geq(find_line(&o, "Accept: application/json"), 0);
    cr_assert_geq(find_line(&o, "anthropic-version: 2023-06-01"), 0);
    cr_assert_eq(count_name(&o, "x-api-key"), 0);
    cr_assert_eq(count_name(&o, "Authorization"), 0);
}

/* A provider that configures its own anthropic-version (and beta flags)
 * sends that one, once. */
Test(provider_prepare, anthropic_configured_version_replaces_ours)
{
    sy_header_kv_t extra[] = {{"Anthropic-Version", "2024-01-01"}, {"anthropic-beta", "tools-1"}};
    sy_provider_conf_t p = other_provider(SY_PROVIDER_ANTHROPIC);
    p.headers = extra;
    p.n_headers = 2;
    sy_req_t r = request("id-14");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/v1/messages", &r, 1, &o, &e), SY_OK, "%s", e.message);
    check_lines_sane(&o);
    cr_assert_eq(count_name(&o, "anthropic-version"), 1);
    cr_assert_geq(find_line(&o, "Anthropic-Version: 2024-01-01"), 0);
    cr_assert_geq(find_line(&o, "anthropic-beta: tools-1"), 0);
}

/* The Anthropic SDK sends its own anthropic-version and x-api-key: neither
 * reaches the upstream, even when anthropic-* headers are forwarded. */
Test(provider_prepare, anthropic_client_version_and_key_not_forwarded)
{
    static const char *const kv[] = {
        "anthropic-version", "2099-01-01", "anthropic-beta", "prompt-caching", "x-api-key", "client-key",
        "Authorization", "Bearer client-secret",
    };
    static char *fwd[] = {"anthropic-*", "x-api-key", "authorization"};
    sy_provider_conf_t p = other_provider(SY_PROVIDER_ANTHROPIC);
    p.forward_headers = fwd;
    p.n_forward_headers = 3;
    sy_req_t r = request("id-15");
    r.ev = evhttp_request_new(NULL, NULL);
    cr_assert_not_null(r.ev);
    struct evkeyvalq *in = evhttp_request_get_input_headers(r.ev);
    for (size_t i = 0; i + 1 < sizeof(kv) / sizeof(kv[0]); i += 2)
        cr_assert_eq(evhttp_add_header(in, kv[i], kv[i + 1]), 0);
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/v1/messages", &r, 1, &o, &e), SY_OK, "%s", e.message);
    check_lines_sane(&o);
    cr_assert_eq(count_name(&o, "anthropic-version"), 1);
    cr_assert_geq(find_line(&o, "anthropic-version: 2023-06-01"), 0);
    cr_assert_geq(find_line(&o, "anthropic-beta: prompt-caching"), 0);
    cr_assert_eq(count_name(&o, "x-api-key"), 1);
    cr_assert_geq(find_line(&o, "x-api-key: sk-test-123"), 0);
    cr_assert_eq(count_name(&o, "Authorization"), 0);
    evhttp_request_free(r.ev);
}

/* The key goes in x-api-key for Anthropic: a line break there fails too. */
Test(provider_prepare, anthropic_key_with_line_break_fails)
{
    sy_provider_conf_t p = other_provider(SY_PROVIDER_ANTHROPIC);
    p.api_key = "k\r\nX-Injected: 1";
    sy_req_t r = request("id-16");
    sy_egress_t o;
    sy_error_t e;
    cr_assert_neq(sy_provider_prepare(&p, "/v1/messages", &r, 1, &o, &e), SY_OK);
    check_lines_sane(&o);
    cr_assert_eq(count_name(&o, "X-Injected"), 0);
}

/* ---- forwarding real client headers -------------------------------------- */

/* A client request object (no connection) carrying the given headers. */
static struct evhttp_request *client_request(const char *const *kv, size_t n)
{
    struct evhttp_request *ev = evhttp_request_new(NULL, NULL);
    cr_assert_not_null(ev);
    struct evkeyvalq *in = evhttp_request_get_input_headers(ev);
    for (size_t i = 0; i + 1 < n; i += 2)
        cr_assert_eq(evhttp_add_header(in, kv[i], kv[i + 1]), 0, "header %s refused", kv[i]);
    return ev;
}

Test(provider_prepare, forwards_allowed_client_headers_only)
{
    static const char *const kv[] = {
        "Authorization", "Bearer client-secret", "X-Api-Key", "client-key", "Cookie", "session=1",
        "Host", "gateway.local", "Content-Length", "99", "X-Trace-Id", "trace-1",
        "X-Mock-Latency-Ms", "5", "User-Agent", "test/1.0", "x-request-id", "client-chosen",
    };
    static char *fwd[] = {"x-trace-id", "x-mock-*", "authorization", "x-api-key", "cookie", "host",
                          "content-length", "x-request-id"};
    sy_provider_conf_t p = openai_provider();
    p.forward_headers = fwd;
    p.n_forward_headers = sizeof(fwd) / sizeof(fwd[0]);
    sy_req_t r = request("gw-id");
    r.ev = client_request(kv, sizeof(kv) / sizeof(kv[0]));
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_OK, "%s", e.message);
    check_lines_sane(&o);
    cr_assert_geq(find_line(&o, "X-Trace-Id: trace-1"), 0);
    cr_assert_geq(find_line(&o, "X-Mock-Latency-Ms: 5"), 0);
    cr_assert_eq(count_name(&o, "User-Agent"), 0);
    cr_assert_eq(count_name(&o, "Authorization"), 1);
    cr_assert_geq(find_line(&o, "Authorization: Bearer sk-test-123"), 0);
    cr_assert_eq(count_name(&o, "X-Api-Key"), 0);
    cr_assert_eq(count_name(&o, "Cookie"), 0);
    cr_assert_eq(count_name(&o, "Host"), 0);
    cr_assert_eq(count_name(&o, "Content-Length"), 0);
    cr_assert_eq(count_name(&o, "x-request-id"), 1);
    cr_assert_geq(find_line(&o, "x-request-id: gw-id"), 0);
    for (size_t i = 0; i < o.n_headers; i++)
        cr_assert_null(strstr(o.headers[i], "client-secret"), "client credential forwarded: %s", o.headers[i]);
    evhttp_request_free(r.ev);
}

/* A client header value holding a line break - a folded line (CRLF +
 * space) or a bare CR, which the HTTP parser leaves inside the value since
 * only LF and CRLF end its lines - must not reach the upstream. */
Test(provider_prepare, forwarded_value_with_line_break_fails)
{
    static char *fwd[] = {"x-mock-*"};
    static char v1[] = "a\r\n X-Injected: 1", v2[] = "a\rX-Injected: 1", v3[] = "a\nX-Injected: 1";
    char *values[] = {v1, v2, v3};
    for (size_t i = 0; i < 3; i++) {
        sy_provider_conf_t p = openai_provider();
        p.forward_headers = fwd;
        p.n_forward_headers = 1;
        sy_req_t r = request("id-10");
        struct evhttp_request *ev = evhttp_request_new(NULL, NULL);
        cr_assert_not_null(ev);
        struct evkeyvalq *in = evhttp_request_get_input_headers(ev);
        /* evhttp_add_header refuses some of these values: put the value in
         * place directly, as the parser could have left it */
        cr_assert_eq(evhttp_add_header(in, "X-Mock-Fault", "placeholder"), 0);
        struct evkeyval *h = in->tqh_first;
        cr_assert_not_null(h);
        char *saved = h->value;
        h->value = values[i];
        r.ev = ev;
        sy_egress_t o;
        sy_error_t e;
        sy_err_t rc = sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e);
        h->value = saved;
        cr_assert_neq(rc, SY_OK, "value %zu forwarded", i);
        cr_assert_eq(e.code, SY_EBADREQ);
        check_lines_sane(&o);
        cr_assert_eq(count_name(&o, "X-Injected"), 0);
        cr_assert_eq(count_name(&o, " X-Injected"), 0);
        evhttp_request_free(ev);
    }
}

Test(provider_prepare, too_many_forwarded_headers_is_bad_request)
{
    static char *fwd[] = {"x-f-*"};
    sy_provider_conf_t p = openai_provider();
    p.forward_headers = fwd;
    p.n_forward_headers = 1;
    sy_req_t r = request("id-11");
    struct evhttp_request *ev = evhttp_request_new(NULL, NULL);
    cr_assert_not_null(ev);
    struct evkeyvalq *in = evhttp_request_get_input_headers(ev);
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof(name), "x-f-%d", i);
        cr_assert_eq(evhttp_add_header(in, name, "v"), 0);
    }
    r.ev = ev;
    sy_egress_t o;
    sy_error_t e;
    cr_assert_eq(sy_provider_prepare(&p, "/chat/completions", &r, 1, &o, &e), SY_EBADREQ);
    cr_assert_eq(sy_error_status(&e), 400);
    cr_assert_eq(o.n_headers, SY_EGRESS_MAX_HEADERS);
    check_lines_sane(&o);
    evhttp_request_free(ev);
}
