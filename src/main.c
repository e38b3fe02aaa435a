/*
 * main.c - the switchyard command line.
 *
 *   switchyard serve --config FILE   run the gateway
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
    "A local-first LLM gateway: OpenAI-compatible clients in, any OpenAI-compatible\n"
    "server out (Ollama and Anthropic adapters are on their way).\n"
    "\n"
    "commands:\n"
    "  serve --config FILE   start the gateway with the YAML config FILE\n"
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
    sy_config_free(cfg);
    sy_diags_release(&d);
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
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
    sy_config_t *cfg = sy_config_load(path, &d);
    if (!cfg) {
        sy_diags_print(stderr, &d);
        fprintf(stderr, "switchyard: cannot start: the config has problems (see above)\n");
        goto out;
    }
    sy_log_set_level(cfg->log.level);
    /* libcurl only when a provider needs it: it costs ~7 MB of resident
     * shared libraries that local plain-HTTP upstreams never use */
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const sy_provider_conf_t *p = &cfg->providers[i];
        if (sy_upstream_needs_curl(p->base_url, p->transport == SY_TRANSPORT_CURL)) {
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
    srv = sy_server_new(cfg, metrics, sy_api_dispatch, &err);
    if (!srv) {
        sy_log(SY_LOG_ERROR, "cannot start", "%s", err.message);
        goto out;
    }
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const sy_provider_conf_t *p = &cfg->providers[i];
        if (p->api_key_env && !p->api_key)
            sy_log(SY_LOG_WARN, "provider key missing",
                   "provider \"%s\": environment variable %s is not set; requests go without a key", p->name,
                   p->api_key_env);
    }
    rc = sy_server_run(srv) == 0 ? 0 : 1;
out:
    sy_server_free(srv);
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
