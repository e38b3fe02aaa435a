/*
 * main.c - the switchyard command line.
 *
 *   switchyard serve --config FILE [--listen ADDR]   run the gateway
 *   switchyard validate FILE         check a config: file:line:col per problem
 *   switchyard --version | --help
 *
 * Unknown commands and flags are errors (exit 2), never ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "config/config.h"
#include "core/log.h"
#include "http/server.h"
#include "providers/discovery.h"
#include "providers/health.h"
#include "router/state.h"
#include "router/experiment.h"
#include "cache/cache.h"
#include "pipeline/pipeline.h"
#include "dedup/table.h"
#include "telemetry/metrics.h"
#include "upstream/curl_dl.h"
#include "upstream/upstream.h"

#ifndef SY_VERSION
#define SY_VERSION "0.0.0"
#endif
#ifndef SY_GITREV
#define SY_GITREV "unknown"
#endif

static const char usage[] =
    "usage: switchyard <command> [options]\n"
    "\n"
    "A local-first LLM gateway: clients of the OpenAI, Ollama and Anthropic APIs in,\n"
    "OpenAI-compatible, Ollama and Anthropic servers out.\n"
    "\n"
    "commands:\n"
    "  serve --config FILE   start the gateway with the YAML config FILE\n"
    "        [--listen ADDR] listen on ADDR (\"host:port\") instead of server.listen\n"
    "  validate FILE         check FILE; print file:line:col: message per problem\n"
    "\n"
    "options:\n"
    "  -h, --help            this text\n"
    "  -V, --version         print the version\n";

static int cmd_validate(int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "switchyard validate: expected exactly one FILE\n");
        return 2;
    }
    sy_diags_t d = {0};
    sy_config_t *cfg = sy_config_load(argv[0], &d);
    if (!cfg) {
        sy_diags_print(stderr, &d);
        sy_diags_release(&d);
        return 1;
    }
    printf("%s: ok (%zu providers, %zu models)\n", argv[0], cfg->n_providers, cfg->n_models);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const sy_provider_conf_t *p = &cfg->providers[i];
        if (p->disabled)
            printf("note: provider \"%s\" would be disabled: %s is not set (optional: true)\n", p->name,
                   p->api_key_env);
    }
    sy_config_free(cfg);
    sy_diags_release(&d);
    return 0;
}

/*
 * One info line per provider: where it is and whether it takes requests;
 * and a warning for each demo provider, whose answers are simulated, so
 * nobody mistakes sy-mock's words for a model's.
 */
static void log_providers(const sy_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const sy_provider_conf_t *p = &cfg->providers[i];
        sy_logline_t l;
        sy_logline_begin(&l, SY_LOG_INFO, "provider");
        sy_logline_str(&l, "name", p->name);
        sy_logline_str(&l, "type", sy_provider_type_name(p->type));
        sy_logline_str(&l, "base_url", p->base_url);
        sy_logline_str(&l, "state", p->disabled ? "disabled" : "enabled");
        if (p->disabled) {
            char why[320];
            snprintf(why, sizeof(why), "%s is not set (optional: true): its models are not served", p->api_key_env);
            sy_logline_str(&l, "detail", why);
        }
        if (p->discover)
            sy_logline_int(&l, "discover_interval_s", p->discover_interval_s);
        sy_logline_int(&l, "demo", p->demo ? 1 : 0);
        sy_logline_end(&l);
        if (p->demo)
            sy_log(SY_LOG_WARN, "demo provider", "provider %s is a demo (sy-mock): answers are simulated", p->name);
        else if (p->api_key_env && !p->api_key && !p->disabled)
            sy_log(SY_LOG_WARN, "provider key missing",
                   "provider \"%s\": environment variable %s is not set; requests go without a key", p->name,
                   p->api_key_env);
    }
}

static int cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    const char *listen = NULL;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[++i];
        } else if (strncmp(argv[i], "--listen=", 9) == 0) {
            listen = argv[i] + 9;
        } else {
            fprintf(stderr, "switchyard serve: unknown argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "switchyard serve: --config FILE is required\n");
        return 2;
    }

    int rc = 1;
    sy_diags_t d = {0};
    sy_error_t err;
    sy_metrics_t *metrics = NULL;
    sy_server_t *srv = NULL;
    sy_discovery_t *disc = NULL;
    sy_health_t *health = NULL;
    sy_cache_t *cache = NULL;
    sy_dedup_t *dedup = NULL;
    sy_rstate_t *rstate = NULL;
    sy_exp_state_t *exps = NULL;
    sy_config_t *cfg = sy_config_load(path, &d);
    if (!cfg) {
        sy_diags_print(stderr, &d);
        fprintf(stderr, "switchyard: cannot start: the config has problems (see above)\n");
        goto out;
    }
    if (listen) {
        int lr = sy_config_set_listen(cfg, listen);
        if (lr < 0) {
            fprintf(stderr, "switchyard serve: --listen \"%s\": %s\n", listen,
                    lr == -2   ? "port out of range (0..65535)"
                    : lr == -3 ? "out of memory"
                               : "expected \"host:port\", \"[v6]:port\" or \":port\"");
            rc = 2;
            goto out;
        }
    }
    sy_log_set_level(cfg->log.level);
    log_providers(cfg);
    /* libcurl only when a provider needs it: it costs ~7 MB of resident
     * shared libraries that local plain-HTTP upstreams never use (and a
     * disabled cloud provider never sends anything) */
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const sy_provider_conf_t *p = &cfg->providers[i];
        if (!p->disabled && sy_upstream_needs_curl(p->base_url, p->transport == SY_TRANSPORT_CURL)) {
            if (sy_curl_load(&err) != SY_OK) {
                sy_log(SY_LOG_ERROR, "cannot start", "provider \"%s\": %s", p->name, err.message);
                goto out;
            }
            break;
        }
    }
    /* one shard per worker, and one for other threads */
    metrics = sy_metrics_new(cfg->server.workers + 1, 0);
    if (!metrics)
        goto out;
    if (sy_discovery_wanted(cfg) && (disc = sy_discovery_new(cfg)) == NULL) {
        sy_log(SY_LOG_ERROR, "cannot start", "model discovery: out of memory");
        goto out;
    }
    /* after discovery: a provider probed on /api/tags shares the answer with it */
    if (sy_health_wanted(cfg) && (health = sy_health_new(cfg, disc)) == NULL) {
        sy_log(SY_LOG_ERROR, "cannot start", "health probes: out of memory");
        goto out;
    }
    if (sy_cache_wanted(cfg) && (cache = sy_cache_new(cfg, cfg->server.workers, &err)) == NULL) {
        sy_log(SY_LOG_ERROR, "cannot start", "cache: %s", err.message);
        goto out;
    }
    if ((dedup = sy_dedup_new(0)) == NULL || (rstate = sy_rstate_new(cfg)) == NULL ||
        (exps = sy_exp_state_new(cfg, 0)) == NULL)
        goto out;
    srv = sy_server_new(cfg, metrics, sy_api_dispatch, &err);
    if (!srv) {
        sy_log(SY_LOG_ERROR, "cannot start", "%s", err.message);
        goto out;
    }
    srv->discovery = disc;
    srv->discovery_start = sy_discovery_start;
    srv->discovery_stop = sy_discovery_stop;
    srv->cache = cache;
    if (cache) {
        cache->on_remote_done = sy_pipeline_remote_done;
        cache->remote_ud = srv;
    }
    srv->dedup = dedup;
    srv->rstate = rstate;
    srv->exp = exps;
    srv->exp_done = sy_api_experiment_done;
    rstate->health = health;
    srv->health = health;
    srv->health_start = sy_health_start;
    srv->health_stop = sy_health_stop;
    srv->cache_start = sy_cache_start;
    srv->cache_stop = sy_cache_stop;
    rc = sy_server_run(srv) == 0 ? 0 : 1;
out:
    sy_server_free(srv);
    sy_health_free(health);
    sy_discovery_free(disc);
    sy_cache_free(cache);
    sy_dedup_free(dedup);
    sy_rstate_free(rstate);
    sy_exp_state_free(exps);
    sy_metrics_free(metrics);
    sy_config_free(cfg);
    sy_diags_release(&d);
    sy_curl_unload();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        printf("switchyard %s (%s)\n", SY_VERSION, SY_GITREV);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 2, argv + 2);
    fprintf(stderr, "switchyard: unknown command or flag \"%s\"\n\n%s", cmd, usage);
    return 2;
}
