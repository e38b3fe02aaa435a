/*
 * discovery_test.c - unit tests for src/providers/discovery.c: parsing
 * Ollama's GET /api/tags (fields, escapes, the bounds on names and on the
 * number of models, bodies that are not a listing), snapshots (copies,
 * lookups with Ollama's ":latest" rule, replacing one provider's models),
 * and the probes themselves on a real event loop against a fake Ollama
 * served by evhttp on loopback: the first listing, a failing server that
 * keeps the last good models and logs once per change, a changed listing,
 * a provider that is down from the start, and a clean stop with a probe
 * still in flight.
 */
#include "providers/discovery.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "http/server.h"
#include "upstream/upstream.h"

static const char tags_body[] =
    "{\"models\":["
    "{\"name\":\"llama3.2:latest\",\"model\":\"llama3.2:latest\","
    "\"modified_at\":\"2024-10-01T12:00:00.123456789-07:00\",\"size\":2019393189,"
    "\"digest\":\"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72\","
    "\"details\":{\"parent_model\":\"\",\"format\":\"gguf\",\"family\":\"llama\",\"families\":[\"llama\"],"
    "\"parameter_size\":\"3.2B\",\"quantization_level\":\"Q4_K_M\"}},"
    "{\"name\":\"qwen2.5:7b\",\"model\":\"qwen2.5:7b\",\"size\":4683087332,\"details\":{\"family\":\"qwen2\"}}"
    "]}";

static void parse_ok(const char *body, sy__disc_list_t *l)
{
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    sy_err_t rc = sy__disc_parse_tags(body, strlen(body), "local", 2, l, &e);
    cr_assert_eq(rc, SY_OK, "%s", e.message);
}

/* ---- parsing ----------------------------------------------------------- */

Test(disc_parse, ollama_listing)
{
    sy__disc_list_t l;
    parse_ok(tags_body, &l);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.skipped, 0);
    cr_assert_eq(l.truncated, 0);
    const sy_disc_model_t *m = &l.models[0];
    cr_assert_str_eq(m->provider, "local");
    cr_assert_eq(m->provider_index, 2);
    cr_assert_str_eq(m->name, "llama3.2:latest");
    cr_assert_str_eq(m->model, "llama3.2:latest");
    cr_assert_eq(m->size, 2019393189);
    cr_assert_str_eq(m->digest, "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72");
    cr_assert_str_eq(m->modified_at, "2024-10-01T12:00:00.123456789-07:00");
    cr_assert_str_eq(m->format, "gguf");
    cr_assert_str_eq(m->family, "llama");
    cr_assert_str_eq(m->parameter_size, "3.2B");
    cr_assert_str_eq(m->quantization_level, "Q4_K_M");
    m = &l.models[1];
    cr_assert_str_eq(m->name, "qwen2.5:7b");
    cr_assert_eq(m->size, 4683087332);
    cr_assert_str_eq(m->family, "qwen2");
    cr_assert_null(m->digest, "absent in the list; the snapshot makes it \"\"");
    sy__disc_list_release(&l);
}

Test(disc_parse, empty_listing)
{
    sy__disc_list_t l;
    parse_ok("{\"models\":[]}", &l);
    cr_assert_eq(l.n, 0);
    sy__disc_list_release(&l);
}

Test(disc_parse, not_a_listing)
{
    static const char *const bad[] = {
        "", "not json", "{\"models\":[", "[]", "{}", "{\"models\":{}}", "{\"models\":null}", "\"models\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sy__disc_list_t l;
        sy_error_t e;
        memset(&e, 0, sizeof(e));
        cr_assert_eq(sy__disc_parse_tags(bad[i], strlen(bad[i]), "p", 0, &l, &e), SY_EUPPROTO, "body %zu", i);
        cr_assert_gt(strlen(e.message), 0);
        cr_assert_eq(l.n, 0);
        sy__disc_list_release(&l);
    }
}

/* Entries without a usable name are skipped, the rest kept in order. */
Test(disc_parse, unusable_names_skipped)
{
    char longname[300];
    memset(longname, 'n', 256);
    longname[256] = '\0';
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"models\":["
             "{\"name\":\"%s\"},"                 /* 256 bytes: too long */
             "{\"name\":\"%.255s\"},"             /* 255: the longest kept */
             "{\"name\":42},"                     /* not a string */
             "{\"name\":\"\"},"                   /* empty */
             "{\"size\":1},"                      /* no name at all */
             "{\"name\":\"a\\u0000b\"},"          /* NUL inside */
             "{\"name\":\"tab\\there\"},"         /* control character */
             "7,"                                 /* not an object */
             "{\"model\":\"only-model:1b\"},"     /* "model" stands in */
             "{\"name\":\"caf\\u00e9:latest\",\"size\":-5,\"digest\":3}" /* escapes decoded; bad fields ignored */
             "]}",
             longname, longname);
    sy__disc_list_t l;
    parse_ok(body, &l);
    cr_assert_eq(l.n, 3);
    cr_assert_eq(l.skipped, 7);
    cr_assert_eq(strlen(l.models[0].name), 255);
    cr_assert_str_eq(l.models[1].name, "only-model:1b");
    cr_assert_str_eq(l.models[1].model, "only-model:1b");
    cr_assert_str_eq(l.models[2].name, "caf\xc3\xa9:latest");
    cr_assert_eq(l.models[2].size, -1);
    cr_assert_null(l.models[2].digest);
    sy__disc_list_release(&l);
}

Test(disc_parse, at_most_4096_models)
{
    size_t n = SY_DISC_MAX_MODELS + 5;
    size_t cap = n * 32 + 64;
    char *body = malloc(cap);
    cr_assert_not_null(body);
    size_t o = (size_t)snprintf(body, cap, "{\"models\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(body + o, cap - o, "%s{\"name\":\"m%zu\"}", i ? "," : "", i);
    snprintf(body + o, cap - o, "]}");
    sy__disc_list_t l;
    parse_ok(body, &l);
    cr_assert_eq(l.n, SY_DISC_MAX_MODELS);
    cr_assert_eq(l.truncated, 5);
    cr_assert_str_eq(l.models[SY_DISC_MAX_MODELS - 1].name, "m4095");
    sy__disc_list_release(&l);
    free(body);
}

/* ---- snapshots ---------------------------------------------------------- */

static const sy_disc_model_t some[] = {
    {.provider = "a", .provider_index = 0, .name = "x:latest", .size = 7, .family = "llama"},
    {.provider = "a", .provider_index = 0, .name = "y:1b"},
    {.provider = "b", .provider_index = 2, .name = "x"},
    {.provider = "b", .provider_index = 2, .name = "ns/z:latest"},
};

Test(disc_snap, copies_everything)
{
    char name[] = "temp:latest";
    sy_disc_model_t m = {.provider = "p", .provider_index = 1, .name = name, .size = 3};
    sy_disc_snap_t *s = sy_disc_snap_new(&m, 1);
    cr_assert_not_null(s);
    memset(name, 'X', sizeof(name) - 1);
    cr_assert_eq(s->n_models, 1);
    cr_assert_str_eq(s->models[0].name, "temp:latest");
    cr_assert_str_eq(s->models[0].model, "", "NULL strings become empty");
    cr_assert_str_eq(s->models[0].digest, "");
    cr_assert_eq(s->models[0].size, 3);
    cr_assert_eq(s->models[0].provider_index, 1);
    sy_disc_snap_release(s);
}

Test(disc_snap, refcount)
{
    sy_disc_snap_t *s = sy_disc_snap_new(some, 4);
    cr_assert_eq(sy_disc_snap_retain(s), s);
    sy_disc_snap_release(s);
    cr_assert_str_eq(s->models[3].name, "ns/z:latest", "still alive after one of two releases");
    sy_disc_snap_release(s);
    sy_disc_snap_release(NULL);
    cr_assert_null(sy_disc_snap_retain(NULL));
}

Test(disc_snap, lookups)
{
    sy_disc_snap_t *s = sy_disc_snap_new(some, 4);
    /* exact names first, over the whole snapshot */
    cr_assert_str_eq(sy_disc_snap_find_bare(s, "x")->provider, "b");
    cr_assert_str_eq(sy_disc_snap_find_bare(s, "x:latest")->provider, "a");
    cr_assert_str_eq(sy_disc_snap_find_bare(s, "y:1b")->name, "y:1b");
    cr_assert_null(sy_disc_snap_find_bare(s, "y"), "only :latest is implied");
    cr_assert_str_eq(sy_disc_snap_find_bare(s, "ns/z")->name, "ns/z:latest");
    cr_assert_null(sy_disc_snap_find_bare(s, "ns"));
    cr_assert_null(sy_disc_snap_find_bare(s, ""));
    /* by provider */
    cr_assert_str_eq(sy_disc_snap_find(s, "a", "x")->name, "x:latest");
    cr_assert_str_eq(sy_disc_snap_find(s, "b", "x")->name, "x");
    cr_assert_null(sy_disc_snap_find(s, "b", "y:1b"));
    cr_assert_null(sy_disc_snap_find(s, "c", "x"));
    cr_assert_null(sy_disc_snap_find(s, NULL, "x"));
    cr_assert_null(sy_disc_snap_find(NULL, "a", "x"));
    cr_assert_null(sy_disc_snap_find_bare(NULL, "x"));
    sy_disc_snap_release(s);
}

Test(disc_snap, name_rule)
{
    cr_assert_eq(sy_disc_name_match("x:latest", "x:latest"), 2);
    cr_assert_eq(sy_disc_name_match("x:latest", "x"), 1);
    cr_assert_eq(sy_disc_name_match("ns/x:latest", "ns/x"), 1);
    cr_assert_eq(sy_disc_name_match("x:1b", "x"), 0);
    cr_assert_eq(sy_disc_name_match("x:latest", "x:1b"), 0);
    cr_assert_eq(sy_disc_name_match("host:1/x:latest", "host:1/x"), 1, "a ':' before the last '/' is no tag");
    cr_assert_eq(sy_disc_name_match(":latest", ""), 0);
    cr_assert_eq(sy_disc_name_match("xy:latest", "x"), 0);
}

static void expect_names(const sy_disc_snap_t *s, const char *const *want, size_t n)
{
    cr_assert_eq(s->n_models, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(s->models[i].name, want[i], "model %zu", i);
}

Test(disc_snap, replace_keeps_provider_order)
{
    sy_disc_snap_t *s0 = sy_disc_snap_new(some, 4);
    sy_disc_model_t mid = {.provider = "m", .provider_index = 1, .name = "mid"};
    sy_disc_snap_t *s1 = sy__disc_snap_replace(s0, 1, &mid, 1);
    static const char *const w1[] = {"x:latest", "y:1b", "mid", "x", "ns/z:latest"};
    expect_names(s1, w1, 5);
    sy_disc_model_t a2[] = {{.provider = "a", .provider_index = 0, .name = "new"}};
    sy_disc_snap_t *s2 = sy__disc_snap_replace(s1, 0, a2, 1);
    static const char *const w2[] = {"new", "mid", "x", "ns/z:latest"};
    expect_names(s2, w2, 4);
    sy_disc_snap_t *s3 = sy__disc_snap_replace(s2, 2, NULL, 0);
    static const char *const w3[] = {"new", "mid"};
    expect_names(s3, w3, 2);
    sy_disc_snap_t *s4 = sy__disc_snap_replace(NULL, 5, a2, 1);
    cr_assert_eq(s4->n_models, 1);
    /* the old snapshots are untouched */
    expect_names(s0, (const char *const[]){"x:latest", "y:1b", "x", "ns/z:latest"}, 4);
    sy_disc_snap_release(s0);
    sy_disc_snap_release(s1);
    sy_disc_snap_release(s2);
    sy_disc_snap_release(s3);
    sy_disc_snap_release(s4);
}

/* ---- probes against a fake Ollama ---------------------------------------- */

typedef struct fake {
    struct evhttp *http;
    uint16_t port;
    int status;       /* what GET /api/tags answers */
    const char *body; /* with this body */
    int hits;
    int hold;         /* never answer (a probe stays in flight) */
    struct evhttp_request *held;
} fake_t;

static void fake_cb(struct evhttp_request *req, void *arg)
{
    fake_t *f = arg;
    f->hits++;
    cr_assert_eq(evhttp_request_get_command(req), EVHTTP_REQ_GET);
    cr_assert_str_eq(evhttp_request_get_uri(req), "/api/tags");
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    cr_assert_not_null(auth);
    cr_assert_str_eq(auth, "Bearer k-123");
    const char *extra = evhttp_find_header(evhttp_request_get_input_headers(req), "x-team");
    cr_assert_not_null(extra);
    if (f->hold) {
        f->held = req;
        return;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, f->body, strlen(f->body));
    evhttp_send_reply(req, f->status, "X", b);
    evbuffer_free(b);
}

static void fake_start(fake_t *f, struct event_base *base)
{
    f->http = evhttp_new(base);
    cr_assert_not_null(f->http);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
    cr_assert_not_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    cr_assert_eq(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    f->port = ntohs(sa.sin_port);
    evhttp_set_gencb(f->http, fake_cb, f);
}

/* A port nothing listens on: bound then closed. */
static uint16_t closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

typedef struct env {
    struct event_base *base;
    sy_upstream_t *up;
    sy_worker_t w;
    fake_t fake;
    sy_config_t *cfg;
    sy_discovery_t *d;
    int log_fd; /* stderr goes to a file while the test runs */
    int saved_stderr;
    char log_path[64];
} env_t;

static void env_init(env_t *e, int with_down)
{
    memset(e, 0, sizeof(*e));
    e->base = event_base_new();
    e->up = sy_upstream_new(e->base, 8);
    cr_assert(e->base && e->up);
    e->w.base = e->base;
    e->w.upstream = e->up;
    e->fake.status = 200;
    e->fake.body = tags_body;
    fake_start(&e->fake, e->base);
    setenv("SY_DISC_TEST_KEY", "k-123", 1);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "providers:\n"
             "  - {name: plain, type: openai, base_url: \"http://127.0.0.1:1/v1\"}\n"
             "  - name: local\n"
             "    type: ollama\n"
             "    base_url: \"http://127.0.0.1:%u\"\n"
             "    api_key_env: SY_DISC_TEST_KEY\n"
             "    headers: {x-team: t}\n"
             "    discover: true\n"
             "    timeouts: {first_byte_ms: 2000}\n"
             "%s",
             e->fake.port,
             with_down ? "  - {name: down, type: ollama, base_url: \"http://127.0.0.1:%u\", discover: true}\n" : "");
    char yaml2[1200];
    snprintf(yaml2, sizeof(yaml2), yaml, closed_port());
    sy_diags_t dg = {0};
    e->cfg = sy_config_load_string(yaml2, strlen(yaml2), "t.yaml", &dg);
    cr_assert_not_null(e->cfg, "%s", dg.n ? dg.items[0].message : "?");
    sy_diags_release(&dg);
    cr_assert(sy_discovery_wanted(e->cfg));
    e->d = sy_discovery_new(e->cfg);
    cr_assert_not_null(e->d);
    sy__discovery_set_interval_ms(e->d, 30);

    snprintf(e->log_path, sizeof(e->log_path), "/tmp/sy-disc-test-%d.log", (int)getpid());
    e->log_fd = open(e->log_path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    cr_assert_geq(e->log_fd, 0);
    fflush(stderr);
    e->saved_stderr = dup(2);
    dup2(e->log_fd, 2);
}

/* Restore stderr; returns what was logged (malloc'd). */
static char *env_log(env_t *e)
{
    fflush(stderr);
    dup2(e->saved_stderr, 2);
    close(e->saved_stderr);
    off_t n = lseek(e->log_fd, 0, SEEK_END);
    char *s = calloc(1, (size_t)n + 1);
    cr_assert_eq(pread(e->log_fd, s, (size_t)n, 0), n);
    close(e->log_fd);
    unlink(e->log_path);
    return s;
}

static void env_free(env_t *e)
{
    sy_discovery_free(e->d);
    sy_upstream_free(e->up);
    evhttp_free(e->fake.http);
    event_base_free(e->base);
    sy_config_free(e->cfg);
    unsetenv("SY_DISC_TEST_KEY");
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Run the loop until pred(e) holds (checked every 5 ms), at most ms. */
static int run_until(env_t *e, int (*pred)(env_t *), int ms)
{
    for (int waited = 0; waited < ms; waited += 5) {
        if (pred(e))
            return 1;
        struct timeval tv = {0, 5000};
        event_base_loopexit(e->base, &tv);
        event_base_dispatch(e->base);
    }
    return pred(e);
}

static size_t n_models(env_t *e)
{
    const sy_disc_snap_t *s = sy_discovery_acquire(e->d);
    size_t n = s ? s->n_models : 0;
    sy_disc_snap_release(s);
    return n;
}

static int has_two(env_t *e)
{
    return n_models(e) == 2;
}
static int has_one(env_t *e)
{
    return n_models(e) == 1;
}
static int five_more_hits(env_t *e)
{
    return e->fake.hits >= 7;
}
static int held(env_t *e)
{
    return e->fake.held != NULL;
}

Test(discovery, not_wanted)
{
    sy_diags_t dg = {0};
    const char *y = "providers:\n"
                    "  - {name: a, type: ollama, base_url: \"http://127.0.0.1:1\"}\n"
                    "  - {name: b, type: ollama, base_url: \"http://127.0.0.1:1\", discover: true,"
                    " api_key_env: SY_DISC_UNSET_VAR, optional: true}\n";
    unsetenv("SY_DISC_UNSET_VAR");
    sy_config_t *cfg = sy_config_load_string(y, strlen(y), "t.yaml", &dg);
    cr_assert_not_null(cfg);
    cr_assert_eq(sy_discovery_wanted(cfg), 0, "a disabled provider is not probed");
    cr_assert_null(sy_discovery_new(cfg));
    cr_assert_null(sy_discovery_acquire(NULL));
    sy_discovery_stop(NULL);
    sy_discovery_free(NULL);
    sy_config_free(cfg);
}

Test(discovery, lists_then_keeps_models_while_down_then_changes, .timeout = 20)
{
    env_t e;
    env_init(&e, 0);
    cr_assert_null(sy_discovery_acquire(e.d), "nothing before the first probe");
    cr_assert_eq(sy_discovery_start(e.d, &e.w), 0);
    int ok1 = run_until(&e, has_two, 5000);

    const sy_disc_snap_t *first = sy_discovery_acquire(e.d);

    /* the server fails: several probes, the models stay, one log line */
    e.fake.status = 500;
    e.fake.body = "{\"error\":\"boom\"}";
    e.fake.hits = 2;
    int ok2 = run_until(&e, five_more_hits, 5000);
    size_t while_down = n_models(&e);

    /* it comes back with another listing */
    e.fake.status = 200;
    e.fake.body = "{\"models\":[{\"name\":\"phi3:mini\"}]}";
    int ok3 = run_until(&e, has_one, 5000);
    const sy_disc_snap_t *last = sy_discovery_acquire(e.d);
    sy_discovery_stop(e.d);
    char *log = env_log(&e);

    cr_assert(ok1, "first listing not published; log:\n%s", log);
    cr_assert_str_eq(first->models[0].name, "llama3.2:latest");
    cr_assert_str_eq(first->models[0].provider, "local");
    cr_assert_eq(first->models[0].provider_index, 1);
    cr_assert_str_eq(first->models[1].family, "qwen2");
    cr_assert(ok2, "no probes while down");
    cr_assert_eq(while_down, 2, "a failed probe dropped the models");
    cr_assert(ok3, "changed listing not published; log:\n%s", log);
    cr_assert_str_eq(last->models[0].name, "phi3:mini");
    /* a reader's snapshot survives the swap */
    cr_assert_str_eq(first->models[1].name, "qwen2.5:7b");
    sy_disc_snap_release(first);
    sy_disc_snap_release(last);

    cr_assert_eq(count(log, "\"provider reachable\""), 2, "log:\n%s", log);
    cr_assert_eq(count(log, "\"provider unreachable\""), 1, "log:\n%s", log);
    cr_assert_eq(count(log, "HTTP 500"), 1, "log:\n%s", log);
    free(log);
    env_free(&e);
}

Test(discovery, one_provider_down_from_the_start, .timeout = 20)
{
    env_t e;
    env_init(&e, 1);
    cr_assert_eq(sy_discovery_start(e.d, &e.w), 0);
    int ok = run_until(&e, has_two, 5000);
    e.fake.hits = 0;
    run_until(&e, five_more_hits, 1000); /* let the down provider be probed a few times */
    sy_discovery_free(e.d);
    e.d = NULL;
    char *log = env_log(&e);
    cr_assert(ok, "log:\n%s", log);
    cr_assert_eq(count(log, "\"provider unreachable\""), 1, "log:\n%s", log);
    cr_assert_eq(count(log, "\"provider\":\"down\""), 1, "log:\n%s", log);
    cr_assert_eq(count(log, "no models discovered yet"), 1, "log:\n%s", log);
    free(log);
    env_free(&e);
}

/* Stopping with a probe in flight cancels it: nothing leaks, no callback
 * comes later (the loop runs on after the stop). */
Test(discovery, stop_with_a_probe_in_flight, .timeout = 20)
{
    env_t e;
    env_init(&e, 0);
    e.fake.hold = 1;
    cr_assert_eq(sy_discovery_start(e.d, &e.w), 0);
    int ok = run_until(&e, held, 5000);
    sy_discovery_stop(e.d);
    sy_discovery_stop(e.d); /* idempotent */
    cr_assert_eq(sy_upstream_active(e.up), 0);
    e.fake.hits = 0;
    struct timeval tv = {0, 100000};
    event_base_loopexit(e.base, &tv);
    event_base_dispatch(e.base);
    char *log = env_log(&e);
    cr_assert(ok, "log:\n%s", log);
    cr_assert_eq(e.fake.hits, 0, "probed after stop");
    cr_assert_null(sy_discovery_acquire(e.d));
    free(log);
    env_free(&e);
}

/* ---- a listing fed by another prober (health.h) -------------------------- */

/* sy_discovery_share hands a provider's listing to whoever feeds it;
 * sy_discovery_feed then publishes or keeps, as discovery's own probe
 * would. No loop runs: nothing is started. */
static int never(env_t *e)
{
    (void)e;
    return 0;
}

/* A provider whose listing another prober shares (health probes: one GET
 * /api/tags for both) sends nothing of its own, however long the loop runs. */
Test(discovery, shared_sends_nothing_of_its_own, .timeout = 20)
{
    env_t e;
    env_init(&e, 0);
    cr_assert_eq(sy_discovery_share(e.d, 1), 0);
    cr_assert_eq(sy_discovery_start(e.d, &e.w), 0);
    run_until(&e, never, 300); /* ten intervals of 30 ms */
    int hits = e.fake.hits;
    const char *body = "{\"models\":[{\"name\":\"llama3.2:latest\"}]}";
    sy_discovery_feed(e.d, 1, NULL, 200, body, strlen(body));
    size_t n = n_models(&e);
    sy_discovery_stop(e.d);
    free(env_log(&e));
    cr_assert_eq(hits, 0, "discovery sent %d requests of its own", hits);
    cr_assert_eq(n, 1, "the shared listing is what it serves");
    env_free(&e);
}

Test(discovery, shared_listing_is_fed)
{
    sy_diags_t dg = {0};
    const char *y = "providers:\n"
                    "  - {name: a, type: ollama, base_url: \"http://127.0.0.1:1\"}\n"
                    "  - {name: b, type: ollama, base_url: \"http://127.0.0.1:1\", discover: true}\n";
    sy_log_set_level(SY_LOG_ERROR);
    sy_config_t *cfg = sy_config_load_string(y, strlen(y), "t.yaml", &dg);
    cr_assert_not_null(cfg);
    sy_discovery_t *d = sy_discovery_new(cfg);
    cr_assert_not_null(d);
    cr_assert_eq(sy_discovery_share(d, 0), -1, "a does not discover");
    cr_assert_eq(sy_discovery_share(NULL, 1), -1);
    /* not shared yet: a feed is ignored */
    const char *body = "{\"models\":[{\"name\":\"llama3.2:latest\"}]}";
    sy_discovery_feed(d, 1, NULL, 200, body, strlen(body));
    cr_assert_null(sy_discovery_acquire(d));
    cr_assert_eq(sy_discovery_share(d, 1), 0);
    sy_discovery_feed(d, 1, NULL, 200, body, strlen(body));
    const sy_disc_snap_t *s = sy_discovery_acquire(d);
    cr_assert_not_null(s);
    cr_assert_not_null(sy_disc_snap_find(s, "b", "llama3.2"));
    sy_disc_snap_release(s);
    /* failures keep the last listing */
    sy_discovery_feed(d, 1, "connection refused", 0, NULL, 0);
    sy_discovery_feed(d, 1, NULL, 503, "", 0);
    sy_discovery_feed(d, 1, NULL, 200, "not json", 8);
    s = sy_discovery_acquire(d);
    cr_assert_not_null(sy_disc_snap_find(s, "b", "llama3.2:latest"));
    sy_disc_snap_release(s);
    sy_discovery_feed(d, 1, NULL, 200, "{\"models\":[]}", 13);
    s = sy_discovery_acquire(d);
    cr_assert_null(sy_disc_snap_find(s, "b", "llama3.2:latest"));
    sy_disc_snap_release(s);

    /* the same listing again publishes nothing new; any field changed does */
    const char *v1 = "{\"models\":[{\"name\":\"m:latest\",\"digest\":\"aa\",\"size\":5}]}";
    const char *v2 = "{\"models\":[{\"name\":\"m:latest\",\"digest\":\"bb\",\"size\":5}]}";
    sy_discovery_feed(d, 1, NULL, 200, v1, strlen(v1));
    const sy_disc_snap_t *a = sy_discovery_acquire(d);
    sy_discovery_feed(d, 1, NULL, 200, v1, strlen(v1));
    const sy_disc_snap_t *b = sy_discovery_acquire(d);
    cr_assert_eq(a, b, "an unchanged listing keeps the snapshot");
    sy_discovery_feed(d, 1, NULL, 200, v2, strlen(v2));
    const sy_disc_snap_t *c = sy_discovery_acquire(d);
    cr_assert_neq(c, a, "a re-pulled model (new digest) is published");
    cr_assert_str_eq(sy_disc_snap_find(c, "b", "m:latest")->digest, "bb");
    cr_assert_str_eq(sy_disc_snap_find(a, "b", "m:latest")->digest, "aa", "a reader's snapshot stays whole");
    sy_disc_snap_release(a);
    sy_disc_snap_release(b);
    sy_disc_snap_release(c);
    sy_discovery_free(d);
    sy_config_free(cfg);
}
