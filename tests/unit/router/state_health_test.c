/*
 * state_health_test.c - unit tests for the health layer of
 * src/router/state.c's pick (its health_filter): a deployment whose
 * provider's probes say down is passed over while another may be called,
 * every candidate down is still tried, a down untried one loses to an up
 * tried one, an Ollama deployment whose model is loaded and a llama.cpp
 * deployment with an idle slot are preferred over their kind's others (not
 * over providers without data), and no probes or no data change nothing.
 * Probe outcomes are fed through providers/health.h's internal entry
 * points; picks use seeded randomness.
 */
#include "router/state.h"
#include "config_harness.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"
#include "providers/health.h"

#define MS 1000000ull
#define T0 (1000 * 1000 * MS)

static const char *yaml =
    "providers:\n"
    "  - {name: o1, type: ollama, base_url: \"http://127.0.0.1:1\", health: { unhealthy_after: 1 }}\n"
    "  - {name: o2, type: ollama, base_url: \"http://127.0.0.1:2\", health: { unhealthy_after: 1 }}\n"
    "  - {name: l1, type: openai, base_url: \"http://127.0.0.1:3/v1\", health: { slots: true }}\n"
    "  - {name: l2, type: openai, base_url: \"http://127.0.0.1:4/v1\", health: { slots: true }}\n"
    "  - {name: cloud, type: openai, base_url: \"https://c.example.invalid/v1\"}\n"
    "models:\n"
    "  - name: pair\n"
    "    deployments: [ {provider: o1, model: \"llama3.2\"}, {provider: o2, model: \"llama3.2\"} ]\n"
    "  - name: mixed\n"
    "    deployments: [ {provider: o1, model: \"llama3.2\"}, {provider: o2, model: \"llama3.2\"},\n"
    "                   {provider: cloud, model: gpt} ]\n"
    "  - name: slots\n"
    "    strategy: round_robin\n"
    "    deployments: [ {provider: l1, model: q}, {provider: l2, model: q}, {provider: cloud, model: gpt} ]\n"
    "  - name: cloudy\n"
    "    deployments: [ {provider: cloud, model: a}, {provider: cloud, model: b} ]\n";

enum { O1 = 0, O2, L1, L2, CLOUD };
enum { PAIR = 0, MIXED, SLOTS, CLOUDY };

static sy_config_t *cfg;
static sy_rstate_t *rs;
static sy_health_t *h;

static void setup(void)
{
    sy_log_set_level(SY_LOG_ERROR);
    cfg = sy_test_load_ok(yaml);
    rs = sy_rstate_new(cfg);
    h = sy_health_new(cfg, NULL);
    cr_assert(rs && h);
    rs->health = h;
}

static void teardown(void)
{
    sy_rstate_free(rs);
    sy_health_free(h);
    sy_config_free(cfg);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void up(size_t pi)
{
    sy__health_main_result(h, pi, NULL, 200, "{}", 2, T0, MS);
}

static void down(size_t pi)
{
    sy__health_main_result(h, pi, "connection refused", 0, "", 0, T0, MS);
}

static void aux(size_t pi, const char *body)
{
    sy__health_aux_result(h, pi, NULL, 200, body, strlen(body));
}

/* Which deployments n picks of model m chose, as a bit set; each pick is
 * ended at once. avoid may be NULL. */
static unsigned picks(size_t m, int n, const uint8_t *avoid)
{
    uint64_t seed = 7;
    unsigned seen = 0;
    for (int i = 0; i < n; i++) {
        sy_pick_in_t in = {.now = T0, .rnd = splitmix64(&seed), .avoid = avoid, .prompt_tokens = -1, .max_tokens = -1};
        sy_pick_out_t out;
        int d = sy_rstate_pick(rs, m, &in, &out);
        cr_assert_geq(d, 0, "nothing picked");
        seen |= 1u << d;
        sy_rstate_end(rs, m, (size_t)d, out.probe, SY_OUT_OK, -1, -1, T0);
    }
    return seen;
}

Test(state_health, no_data_no_effect, .init = setup, .fini = teardown)
{
    cr_assert_eq(picks(MIXED, 60, NULL), 0x7);
    up(O1);
    up(O2);
    cr_assert_eq(picks(MIXED, 60, NULL), 0x7, "up with nothing known of the load: the strategy alone");
    rs->health = NULL;
    down(O1);
    cr_assert_eq(picks(PAIR, 60, NULL), 0x3, "without probes wired in, down means nothing");
}

Test(state_health, down_is_passed_over, .init = setup, .fini = teardown)
{
    up(O2);
    down(O1);
    cr_assert_eq(sy_health_state(h, O1), SY_HEALTH_DOWN);
    cr_assert_eq(picks(PAIR, 60, NULL), 0x2);
    cr_assert_eq(picks(MIXED, 60, NULL), 0x6);
    up(O1);
    cr_assert_eq(picks(PAIR, 60, NULL), 0x3, "back up, back in");
}

Test(state_health, all_down_still_tried, .init = setup, .fini = teardown)
{
    down(O1);
    down(O2);
    cr_assert_eq(picks(PAIR, 60, NULL), 0x3, "a probe can be wrong: never refuse on its word alone");
    /* with the cloud up (unprobed), it alone is called */
    cr_assert_eq(picks(MIXED, 60, NULL), 0x4);
}

/* A down deployment that was not tried loses to an up one that was. */
Test(state_health, down_untried_loses_to_up_tried, .init = setup, .fini = teardown)
{
    down(O1);
    up(O2);
    uint8_t avoid[SY_ROUTER_MAX_CAND / 8] = {0};
    avoid[0] = 0x2; /* o2 tried */
    cr_assert_eq(picks(PAIR, 40, avoid), 0x2);
}

Test(state_health, loaded_model_preferred, .init = setup, .fini = teardown)
{
    up(O1);
    up(O2);
    aux(O1, "{\"models\":[{\"name\":\"llama3.2:latest\"}]}");
    aux(O2, "{\"models\":[{\"name\":\"other:1b\"}]}");
    cr_assert_eq(picks(PAIR, 60, NULL), 0x1);
    /* preferred over its own kind, not over a provider that says nothing */
    cr_assert_eq(picks(MIXED, 60, NULL), 0x5);
    /* loaded nowhere: nothing preferred, nothing dropped */
    aux(O1, "{\"models\":[]}");
    cr_assert_eq(picks(PAIR, 60, NULL), 0x3);
    /* loaded on a down server: the up one, unloaded, is called */
    aux(O1, "{\"models\":[{\"name\":\"llama3.2\"}]}");
    down(O1);
    cr_assert_eq(picks(PAIR, 60, NULL), 0x2);
}

Test(state_health, idle_slot_preferred, .init = setup, .fini = teardown)
{
    aux(L1, "[{\"is_processing\":true},{\"is_processing\":true}]");
    aux(L2, "[{\"is_processing\":true},{\"is_processing\":false}]");
    cr_assert_eq(picks(SLOTS, 30, NULL), 0x6, "round robin over l2 and the cloud");
    aux(L1, "[{\"state\":0}]");
    cr_assert_eq(picks(SLOTS, 30, NULL), 0x7, "both have an idle slot");
    aux(L1, "[{\"state\":1}]");
    aux(L2, "[{\"state\":1}]");
    cr_assert_eq(picks(SLOTS, 30, NULL), 0x7, "none idle: nothing preferred, nothing dropped");
}

/* Only models with a deployment on a probed provider pay for the health
 * layer (and lose the weighted pick's one-look shortcut). */
Test(state_health, only_probed_models_are_filtered, .init = setup, .fini = teardown)
{
    cr_assert(rs->models[PAIR].probed);
    cr_assert(rs->models[MIXED].probed);
    cr_assert(rs->models[SLOTS].probed);
    cr_assert_not(rs->models[CLOUDY].probed, "no deployment of it is probed");
}
