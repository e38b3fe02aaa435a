/*
 * router_test.c - unit tests for src/router/router.c: the weighted pick with
 * a deterministic sequence of random values (rnd = 0..total-1 covers each
 * deployment's weight range exactly), weight 0 never chosen, no usable
 * deployment; resolving a public name, a direct "provider/model" address,
 * and the model_not_found errors for anything else; disabled providers
 * (never chosen, provider_key_missing when nothing else serves); bare names
 * through an injected discovery snapshot, and the listing of every name.
 */
#include "router/router.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A config built by hand: providers "local" (ollama), "mock" and "cloud"
 * (openai); models "fast" (weights 3/0/1/2), "solo", "off" (all weights 0),
 * "empty" (no deployment) and "mock/shadow", a public name that looks like
 * a direct address. */
static sy_provider_conf_t providers[] = {
    {.name = "local", .type = SY_PROVIDER_OLLAMA, .base_url = "http://127.0.0.1:11434"},
    {.name = "mock", .type = SY_PROVIDER_OPENAI, .base_url = "http://127.0.0.1:9/v1"},
    {.name = "cloud", .type = SY_PROVIDER_OPENAI, .base_url = "https://api.example.invalid/v1"},
    {.name = "ollama2", .type = SY_PROVIDER_OLLAMA, .base_url = "http://127.0.0.1:11435", .discover = 1},
    {.name = "closed",
     .type = SY_PROVIDER_OPENAI,
     .base_url = "https://closed.example.invalid/v1",
     .api_key_env = "CLOSED_KEY",
     .optional = 1,
     .disabled = 1},
    {.name = "offline",
     .type = SY_PROVIDER_OLLAMA,
     .base_url = "http://127.0.0.1:11436",
     .api_key_env = "OFFLINE_KEY",
     .discover = 1,
     .optional = 1,
     .disabled = 1},
    {.name = "late", .type = SY_PROVIDER_OLLAMA, .base_url = "http://127.0.0.1:11437", .discover = 1},
};
static sy_deployment_conf_t fast_deps[] = {
    {.provider = "local", .provider_index = 0, .model = "llama3.2:1b", .weight = 3},
    {.provider = "cloud", .provider_index = 2, .model = "never-me", .weight = 0},
    {.provider = "cloud", .provider_index = 2, .model = "gpt-4o-mini", .weight = 1},
    {.provider = "mock", .provider_index = 1, .model = "mock-small", .weight = 2},
};
static sy_deployment_conf_t solo_deps[] = {
    {.provider = "mock", .provider_index = 1, .model = "mock-large", .weight = 1},
};
static sy_deployment_conf_t off_deps[] = {
    {.provider = "mock", .provider_index = 1, .model = "a", .weight = 0},
    {.provider = "cloud", .provider_index = 2, .model = "b", .weight = 0},
};
static sy_deployment_conf_t shadow_deps[] = {
    {.provider = "cloud", .provider_index = 2, .model = "shadowed", .weight = 1},
};
static sy_deployment_conf_t keyless_deps[] = {
    {.provider = "closed", .provider_index = 4, .model = "gpt-x", .weight = 1},
    {.provider = "mock", .provider_index = 1, .model = "never", .weight = 0},
};
static sy_deployment_conf_t mixed_deps[] = {
    {.provider = "closed", .provider_index = 4, .model = "gpt-x", .weight = 5},
    {.provider = "mock", .provider_index = 1, .model = "mock-small", .weight = 1},
};
static sy_model_conf_t models[] = {
    {.name = "fast", .deployments = fast_deps, .n_deployments = 4},
    {.name = "solo", .deployments = solo_deps, .n_deployments = 1},
    {.name = "off", .deployments = off_deps, .n_deployments = 2},
    {.name = "empty", .deployments = NULL, .n_deployments = 0},
    {.name = "mock/shadow", .deployments = shadow_deps, .n_deployments = 1},
    {.name = "keyless", .deployments = keyless_deps, .n_deployments = 2},
    {.name = "mixed", .deployments = mixed_deps, .n_deployments = 2},
};
static const sy_config_t cfg = {
    .path = "<test>",
    .providers = providers,
    .n_providers = 7,
    .models = models,
    .n_models = 7,
};

/* ---- sy_router_pick ----------------------------------------------------- */

/* rnd = 0..5 maps onto the weight ranges in order: [0,3) -> 0, [3,4) -> 2,
 * [4,6) -> 3; and again for every further multiple of the total. */
Test(router_pick, exact_mapping_of_rnd_onto_weight_ranges)
{
    static const int want[6] = {0, 0, 0, 2, 3, 3};
    for (uint64_t rnd = 0; rnd < 600; rnd++)
        cr_assert_eq(sy_router_pick(&models[0], rnd), want[rnd % 6], "rnd %llu", (unsigned long long)rnd);
}

Test(router_pick, distribution_follows_weights)
{
    int count[4] = {0};
    const uint64_t n = 6000;
    for (uint64_t rnd = 0; rnd < n; rnd++) {
        int i = sy_router_pick(&models[0], rnd * 0x9e3779b97f4a7c15ull);
        cr_assert(i >= 0 && i < 4, "pick %d", i);
        count[i]++;
    }
    cr_assert_eq(count[1], 0, "weight 0 picked %d times", count[1]);
    /* multiplying by an odd constant permutes residues: exact thirds, sixths */
    cr_assert_eq(count[0] + count[2] + count[3], (int)n);
    cr_assert(count[0] > 2700 && count[0] < 3300, "weight 3: %d of %llu", count[0], (unsigned long long)n);
    cr_assert(count[2] > 800 && count[2] < 1200, "weight 1: %d", count[2]);
    cr_assert(count[3] > 1700 && count[3] < 2300, "weight 2: %d", count[3]);
}

Test(router_pick, large_rnd_values)
{
    const uint64_t vals[] = {UINT64_MAX, UINT64_MAX - 1, (uint64_t)1 << 63, 0xdeadbeefcafef00dull};
    for (size_t i = 0; i < 4; i++) {
        int want[6] = {0, 0, 0, 2, 3, 3};
        cr_assert_eq(sy_router_pick(&models[0], vals[i]), want[vals[i] % 6]);
    }
}

Test(router_pick, single_deployment_always_picked)
{
    for (uint64_t rnd = 0; rnd < 100; rnd++)
        cr_assert_eq(sy_router_pick(&models[1], rnd * 7919), 0);
}

Test(router_pick, weight_zero_never_picked)
{
    sy_deployment_conf_t d[] = {
        {.model = "z0", .weight = 0}, {.model = "a", .weight = 5}, {.model = "z1", .weight = 0},
        {.model = "b", .weight = 1},  {.model = "z2", .weight = 0},
    };
    sy_model_conf_t m = {.name = "m", .deployments = d, .n_deployments = 5};
    for (uint64_t rnd = 0; rnd < 1200; rnd++) {
        int i = sy_router_pick(&m, rnd);
        cr_assert(i == 1 || i == 3, "rnd %llu picked %d", (unsigned long long)rnd, i);
        cr_assert_eq(i, rnd % 6 < 5 ? 1 : 3);
    }
}

Test(router_pick, huge_weights_do_not_overflow)
{
    sy_deployment_conf_t d[] = {
        {.model = "a", .weight = UINT32_MAX},
        {.model = "b", .weight = UINT32_MAX},
        {.model = "c", .weight = 1},
    };
    sy_model_conf_t m = {.name = "m", .deployments = d, .n_deployments = 3};
    cr_assert_eq(sy_router_pick(&m, 0), 0);
    cr_assert_eq(sy_router_pick(&m, UINT32_MAX - 1ull), 0);
    cr_assert_eq(sy_router_pick(&m, UINT32_MAX), 1);
    cr_assert_eq(sy_router_pick(&m, 2ull * UINT32_MAX - 1), 1);
    cr_assert_eq(sy_router_pick(&m, 2ull * UINT32_MAX), 2);
}

Test(router_pick, no_usable_deployment)
{
    for (uint64_t rnd = 0; rnd < 10; rnd++) {
        cr_assert_eq(sy_router_pick(&models[2], rnd), -1, "all weights 0");
        cr_assert_eq(sy_router_pick(&models[3], rnd), -1, "no deployment");
    }
}

/* ---- sy_router_resolve --------------------------------------------------- */

static void expect_route(const char *name, uint64_t rnd, const sy_model_conf_t *model, const char *provider,
                         const char *upstream)
{
    sy_route_t r;
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    sy_err_t rc = sy_router_resolve(&cfg, name, rnd, &r, &e);
    cr_assert_eq(rc, SY_OK, "\"%s\": %s (%s)", name, sy_err_name(rc), e.message);
    cr_assert_eq(r.model, model, "\"%s\": wrong model conf", name);
    cr_assert_not_null(r.provider);
    cr_assert_str_eq(r.provider->name, provider, "\"%s\"", name);
    cr_assert_not_null(r.upstream_model);
    cr_assert_str_eq(r.upstream_model, upstream, "\"%s\"", name);
}

static void expect_no_model(const char *name)
{
    sy_route_t r;
    sy_error_t e;
    memset(&r, 0x5a, sizeof(r));
    memset(&e, 0, sizeof(e));
    sy_err_t rc = sy_router_resolve(&cfg, name, 0, &r, &e);
    cr_assert_eq(rc, SY_ENOMODEL, "\"%s\": %s", name, sy_err_name(rc));
    cr_assert_eq(e.code, SY_ENOMODEL);
    cr_assert_str_eq(e.param, "model", "\"%s\"", name);
    cr_assert_gt(strlen(e.message), 0);
    cr_assert_eq(sy_error_status(&e), 404);
    cr_assert_null(r.provider, "\"%s\": provider set on failure", name);
}

Test(router_resolve, public_name_weighted)
{
    expect_route("fast", 0, &models[0], "local", "llama3.2:1b");
    expect_route("fast", 2, &models[0], "local", "llama3.2:1b");
    expect_route("fast", 3, &models[0], "cloud", "gpt-4o-mini");
    expect_route("fast", 4, &models[0], "mock", "mock-small");
    expect_route("fast", 5, &models[0], "mock", "mock-small");
    expect_route("fast", 6, &models[0], "local", "llama3.2:1b");
    expect_route("solo", 12345, &models[1], "mock", "mock-large");
}

Test(router_resolve, public_name_never_resolves_to_weight_zero)
{
    for (uint64_t rnd = 0; rnd < 1000; rnd++) {
        sy_route_t r;
        sy_error_t e;
        cr_assert_eq(sy_router_resolve(&cfg, "fast", rnd, &r, &e), SY_OK);
        cr_assert_str_neq(r.upstream_model, "never-me");
    }
}

Test(router_resolve, provider_slash_model_direct)
{
    expect_route("mock/gpt-4o", 0, NULL, "mock", "gpt-4o");
    expect_route("cloud/gpt-4o-mini", 99, NULL, "cloud", "gpt-4o-mini");
    expect_route("local/llama3.2:1b", 0, NULL, "local", "llama3.2:1b");
    /* only the first slash separates: the rest is the provider's model name */
    expect_route("cloud/org/model-v1", 0, NULL, "cloud", "org/model-v1");
}

Test(router_resolve, direct_model_is_copied_into_the_route)
{
    char name[64];
    snprintf(name, sizeof(name), "mock/temporary");
    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve(&cfg, name, 0, &r, &e), SY_OK);
    memset(name, 'X', sizeof(name) - 1);
    cr_assert_str_eq(r.upstream_model, "temporary", "route points into the caller's string");
    cr_assert_eq(r.upstream_model, r.direct_model);
}

Test(router_resolve, public_name_with_slash_wins_over_direct)
{
    expect_route("mock/shadow", 0, &models[4], "cloud", "shadowed");
}

Test(router_resolve, unknown_name)
{
    expect_no_model("slow");
    expect_no_model("");
    expect_no_model("FAST");
    expect_no_model("fast ");

    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve(&cfg, "no-such-model", 0, &r, &e), SY_ENOMODEL);
    cr_assert_not_null(strstr(e.message, "no-such-model"), "message does not name the model: %s", e.message);
}

Test(router_resolve, unknown_provider_prefix)
{
    expect_no_model("nope/gpt-4o");
    expect_no_model("Mock/gpt-4o");
    expect_no_model("/gpt-4o");
    expect_no_model("mock/");
    expect_no_model("mock");
}

Test(router_resolve, all_weights_zero)
{
    expect_no_model("off");
    expect_no_model("empty");
    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve(&cfg, "off", 0, &r, &e), SY_ENOMODEL);
    cr_assert_not_null(strstr(e.message, "off"), "message: %s", e.message);
}

Test(router_resolve, overlong_names)
{
    /* a provider part longer than any provider name buffer */
    char name[600];
    memset(name, 'p', 300);
    snprintf(name + 300, sizeof(name) - 300, "/model");
    expect_no_model(name);

    /* a direct model longer than the route can hold */
    int n = snprintf(name, sizeof(name), "mock/");
    memset(name + n, 'm', 400);
    name[n + 400] = '\0';
    expect_no_model(name);

    /* the longest direct model that fits */
    n = snprintf(name, sizeof(name), "mock/");
    memset(name + n, 'm', 255);
    name[n + 255] = '\0';
    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve(&cfg, name, 0, &r, &e), SY_OK);
    cr_assert_eq(strlen(r.upstream_model), 255);

    /* the error message stays bounded */
    memset(name, 'z', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    cr_assert_eq(sy_router_resolve(&cfg, name, 0, &r, &e), SY_ENOMODEL);
    cr_assert_lt(strlen(e.message), sizeof(e.message));
}

/* ---- disabled providers ---------------------------------------------------- */

Test(router_resolve, disabled_deployments_never_chosen)
{
    for (uint64_t rnd = 0; rnd < 600; rnd++)
        expect_route("mixed", rnd, &models[6], "mock", "mock-small");
}

Test(router_resolve, only_disabled_deployments_is_a_missing_key)
{
    sy_route_t r;
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    cr_assert_eq(sy_router_resolve(&cfg, "keyless", 0, &r, &e), SY_ENOKEY);
    cr_assert_eq(e.code, SY_ENOKEY);
    cr_assert_eq(sy_error_status(&e), 503);
    cr_assert_not_null(strstr(e.message, "CLOSED_KEY"), "message does not name the variable: %s", e.message);
    cr_assert_not_null(strstr(e.message, "closed"), "message does not name the provider: %s", e.message);
    cr_assert_null(r.provider);
}

Test(router_resolve, direct_address_of_a_disabled_provider)
{
    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve(&cfg, "closed/gpt-x", 0, &r, &e), SY_ENOKEY);
    cr_assert_not_null(strstr(e.message, "CLOSED_KEY"), "%s", e.message);
    cr_assert_null(r.provider);
}

/* ---- discovered models ---------------------------------------------------- */

/* local (index 0) lists four models, ollama2 (3) three, offline (5, disabled)
 * two, late (6) one of them. "solo" is also a configured model; "mock/x"
 * looks like a direct address of provider mock; "shared:1b" is listed by
 * both local and ollama2. */
static const sy_disc_model_t listed[] = {
    {.provider = "local", .provider_index = 0, .name = "llama3.2:latest", .size = 2019393189},
    {.provider = "local", .provider_index = 0, .name = "qwen2.5:7b", .family = "qwen2"},
    {.provider = "local", .provider_index = 0, .name = "solo"},
    {.provider = "local", .provider_index = 0, .name = "shared:1b"},
    {.provider = "ollama2", .provider_index = 3, .name = "shared:1b"},
    {.provider = "ollama2", .provider_index = 3, .name = "only-here:latest"},
    {.provider = "ollama2", .provider_index = 3, .name = "mock/x"},
    {.provider = "offline", .provider_index = 5, .name = "hidden:latest"},
    {.provider = "offline", .provider_index = 5, .name = "gone:latest"},
    {.provider = "late", .provider_index = 6, .name = "hidden:latest"},
};

static sy_disc_snap_t *snap(void)
{
    sy_disc_snap_t *s = sy_disc_snap_new(listed, sizeof(listed) / sizeof(listed[0]));
    cr_assert_not_null(s);
    return s;
}

static void expect_disc_route(const sy_disc_snap_t *s, const char *name, const char *provider, const char *upstream)
{
    sy_route_t r;
    sy_error_t e;
    memset(&e, 0, sizeof(e));
    sy_err_t rc = sy_router_resolve_with(&cfg, s, name, 0, &r, &e);
    cr_assert_eq(rc, SY_OK, "\"%s\": %s (%s)", name, sy_err_name(rc), e.message);
    cr_assert_null(r.model);
    cr_assert_eq(r.discovered, 1, "\"%s\" not marked discovered", name);
    cr_assert_str_eq(r.provider->name, provider, "\"%s\"", name);
    cr_assert_str_eq(r.upstream_model, upstream, "\"%s\"", name);
    cr_assert_eq(r.upstream_model, r.direct_model, "\"%s\": not copied into the route", name);
}

static void expect_disc_no_model(const sy_disc_snap_t *s, const char *name)
{
    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve_with(&cfg, s, name, 0, &r, &e), SY_ENOMODEL, "\"%s\"", name);
    cr_assert_null(r.provider);
}

Test(router_discovered, bare_names)
{
    sy_disc_snap_t *s = snap();
    expect_disc_route(s, "qwen2.5:7b", "local", "qwen2.5:7b");
    expect_disc_route(s, "llama3.2:latest", "local", "llama3.2:latest");
    /* a name without a tag is the ":latest" one, as in Ollama */
    expect_disc_route(s, "llama3.2", "local", "llama3.2:latest");
    expect_disc_route(s, "only-here", "ollama2", "only-here:latest");
    /* the first provider in config order wins */
    expect_disc_route(s, "shared:1b", "local", "shared:1b");
    /* a tag is not dropped: "qwen2.5" is not "qwen2.5:7b" */
    expect_disc_no_model(s, "qwen2.5");
    expect_disc_no_model(s, "llama3.2:1b");
    sy_disc_snap_release(s);
}

Test(router_discovered, configured_and_direct_come_first)
{
    sy_disc_snap_t *s = snap();
    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve_with(&cfg, s, "solo", 0, &r, &e), SY_OK);
    cr_assert_eq(r.model, &models[1]);
    cr_assert_eq(r.discovered, 0);
    cr_assert_str_eq(r.upstream_model, "mock-large");
    /* "mock/x" is provider mock's model x, not ollama2's "mock/x" */
    cr_assert_eq(sy_router_resolve_with(&cfg, s, "mock/x", 0, &r, &e), SY_OK);
    cr_assert_str_eq(r.provider->name, "mock");
    cr_assert_str_eq(r.upstream_model, "x");
    cr_assert_eq(r.discovered, 0);
    /* a discovering provider's models by their full address */
    cr_assert_eq(sy_router_resolve_with(&cfg, s, "ollama2/shared:1b", 0, &r, &e), SY_OK);
    cr_assert_str_eq(r.provider->name, "ollama2");
    cr_assert_str_eq(r.upstream_model, "shared:1b");
    sy_disc_snap_release(s);
}

Test(router_discovered, disabled_provider_models_never_chosen)
{
    sy_disc_snap_t *s = snap();
    /* offline lists it first, but is disabled: late serves it */
    expect_disc_route(s, "hidden", "late", "hidden:latest");
    expect_disc_route(s, "hidden:latest", "late", "hidden:latest");
    /* listed by the disabled provider alone */
    expect_disc_no_model(s, "gone");
    expect_disc_no_model(s, "gone:latest");
    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve_with(&cfg, s, "offline/hidden", 0, &r, &e), SY_ENOKEY);
    sy_disc_snap_release(s);
}

Test(router_discovered, without_snapshot)
{
    expect_disc_no_model(NULL, "qwen2.5:7b");
    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve(&cfg, "qwen2.5:7b", 0, &r, &e), SY_ENOMODEL);
    /* an empty snapshot is the same */
    sy_disc_snap_t *s = sy_disc_snap_new(NULL, 0);
    cr_assert_not_null(s);
    expect_disc_no_model(s, "qwen2.5:7b");
    sy_disc_snap_release(s);
}

/* The route owns its copy: the snapshot may go away while the request lives. */
Test(router_discovered, route_outlives_the_snapshot)
{
    sy_disc_snap_t *s = snap();
    sy_route_t r;
    sy_error_t e;
    cr_assert_eq(sy_router_resolve_with(&cfg, s, "qwen2.5:7b", 0, &r, &e), SY_OK);
    sy_disc_snap_release(s);
    cr_assert_str_eq(r.upstream_model, "qwen2.5:7b");
    cr_assert_str_eq(r.provider->name, "local");
}

/* ---- listing ---------------------------------------------------------------- */

typedef struct seen {
    char names[64][320];
    const sy_model_entry_t *last;
    int disc[64];
    int configured[64];
    char provider[64][64];
    size_t n;
} seen_t;

static void collect(void *ud, const sy_model_entry_t *e)
{
    seen_t *s = ud;
    cr_assert_lt(s->n, 64);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->name);
    snprintf(s->provider[s->n], sizeof(s->provider[0]), "%s", e->provider ? e->provider->name : "-");
    s->disc[s->n] = e->disc != NULL;
    s->configured[s->n] = e->model != NULL;
    s->n++;
}

Test(router_list, configured_then_discovered)
{
    static const char *const want[] = {
        /* configured, with a deployment on an enabled provider and a weight */
        "fast", "solo", "mock/shadow", "mixed",
        /* discovered: bare name unless shadowed, then provider/name */
        "llama3.2:latest", "local/llama3.2:latest", "qwen2.5:7b", "local/qwen2.5:7b", "local/solo", "shared:1b",
        "local/shared:1b", "ollama2/shared:1b", "only-here:latest", "ollama2/only-here:latest", "ollama2/mock/x",
        "hidden:latest", "late/hidden:latest",
    };
    static const char *const want_provider[] = {
        "local", "mock", "cloud", "mock", "local", "local", "local", "local", "local", "local", "local",
        "ollama2", "ollama2", "ollama2", "ollama2", "late", "late",
    };
    const size_t nwant = sizeof(want) / sizeof(want[0]);
    sy_disc_snap_t *s = snap();
    seen_t *got = calloc(1, sizeof(*got));
    cr_assert_eq(sy_router_list(&cfg, s, collect, got), nwant);
    cr_assert_eq(got->n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        cr_assert_str_eq(got->names[i], want[i], "entry %zu", i);
        cr_assert_str_eq(got->provider[i], want_provider[i], "entry %zu (%s)", i, want[i]);
        cr_assert_eq(got->configured[i], i < 4, "entry %zu", i);
        cr_assert_eq(got->disc[i], i >= 4, "entry %zu", i);
    }
    /* every listed name resolves, to the provider the listing names */
    for (size_t i = 0; i < nwant; i++) {
        sy_route_t r;
        sy_error_t e;
        cr_assert_eq(sy_router_resolve_with(&cfg, s, want[i], 0, &r, &e), SY_OK, "%s: %s", want[i], e.message);
        if (i >= 4)
            cr_assert_str_eq(r.provider->name, want_provider[i], "%s", want[i]);
    }
    free(got);
    sy_disc_snap_release(s);
}

Test(router_list, without_snapshot)
{
    seen_t *got = calloc(1, sizeof(*got));
    cr_assert_eq(sy_router_list(&cfg, NULL, collect, got), 4);
    cr_assert_str_eq(got->names[3], "mixed");
    free(got);
}

static void keep_details(void *ud, const sy_model_entry_t *e)
{
    const sy_disc_model_t **out = ud;
    if (e->disc && !strcmp(e->name, "qwen2.5:7b"))
        *out = e->disc;
}

Test(router_list, entries_carry_the_details)
{
    sy_disc_snap_t *s = snap();
    const sy_disc_model_t *d = NULL;
    sy_router_list(&cfg, s, keep_details, &d);
    cr_assert_not_null(d);
    cr_assert_str_eq(d->family, "qwen2");
    cr_assert_str_eq(d->digest, "", "absent strings are empty, not NULL");
    sy_disc_snap_release(s);
}
