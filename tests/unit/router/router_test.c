/*
 * router_test.c - unit tests for src/router/router.c: the weighted pick with
 * a deterministic sequence of random values (rnd = 0..total-1 covers each
 * deployment's weight range exactly), weight 0 never chosen, no usable
 * deployment; resolving a public name, a direct "provider/model" address,
 * and the model_not_found errors for anything else.
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
static sy_model_conf_t models[] = {
    {.name = "fast", .deployments = fast_deps, .n_deployments = 4},
    {.name = "solo", .deployments = solo_deps, .n_deployments = 1},
    {.name = "off", .deployments = off_deps, .n_deployments = 2},
    {.name = "empty", .deployments = NULL, .n_deployments = 0},
    {.name = "mock/shadow", .deployments = shadow_deps, .n_deployments = 1},
};
static const sy_config_t cfg = {
    .path = "<test>",
    .providers = providers,
    .n_providers = 3,
    .models = models,
    .n_models = 5,
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
