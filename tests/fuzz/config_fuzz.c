/*
 * config_fuzz.c - libFuzzer driver for src/config/config.c: the YAML
 * configuration loader (libfyaml underneath) on arbitrary bytes.
 *
 * `switchyard validate` runs this loader on whatever file it is given, and
 * hot reload will run it on files edited by hand, so it must survive any
 * input. Invariants checked on every input:
 *   - no crash, no leak, no read outside the input (ASan/LSan/UBSan);
 *   - NULL comes with at least one diagnostic, a config with none;
 *   - every diagnostic names the file it was given, has line >= 1 and
 *     col >= 1, a line no greater than the input's line count as YAML
 *     counts lines (+1: libfyaml places some end-of-input errors on the
 *     line after the last) and a non-empty message;
 *   - a loaded config is consistent: every provider and model has a name,
 *     every deployment a provider index in range whose name matches.
 * Any violation calls abort(), which libFuzzer reports as a crash.
 */
#include "config/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_NAME "fuzz.yaml"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "config_fuzz: invariant failed: %s (%s:%d)\n  ", #cond, __FILE__,     \
                    __LINE__);                                                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_config(const sy_config_t *cfg)
{
    CHECK(cfg->server.listen && cfg->server.host, "server.listen/host missing");
    CHECK(cfg->server.workers >= 1, "workers %u", cfg->server.workers);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const sy_provider_conf_t *p = &cfg->providers[i];
        CHECK(p->name && p->name[0], "providers[%zu] has no name", i);
        CHECK(p->base_url && p->base_url[0], "providers[%zu] has no base_url", i);
        CHECK(p->n_headers == 0 || p->headers, "providers[%zu] headers", i);
        for (size_t j = 0; j < p->n_headers; j++)
            CHECK(p->headers[j].name && p->headers[j].value, "providers[%zu].headers[%zu]", i, j);
        for (size_t j = 0; j < p->n_forward_headers; j++)
            CHECK(p->forward_headers[j], "providers[%zu].forward_headers[%zu]", i, j);
    }
    for (size_t i = 0; i < cfg->n_models; i++) {
        const sy_model_conf_t *m = &cfg->models[i];
        CHECK(m->name && m->name[0], "models[%zu] has no name", i);
        CHECK(m->n_deployments >= 1 && m->deployments, "models[%zu] has no deployment", i);
        for (size_t j = 0; j < m->n_deployments; j++) {
            const sy_deployment_conf_t *d = &m->deployments[j];
            CHECK(d->provider && d->model, "models[%zu].deployments[%zu] incomplete", i, j);
            CHECK(d->provider_index < cfg->n_providers &&
                      strcmp(cfg->providers[d->provider_index].name, d->provider) == 0,
                  "models[%zu].deployments[%zu] resolves to the wrong provider", i, j);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sy_diags_t diags = {0};
    /* YAML breaks lines at \n, \r\n and a lone \r (and, in YAML 1.1, at
     * NEL, LS and PS: counting those too only loosens the bound) */
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n' || (data[i] == '\r' && !(i + 1 < size && data[i + 1] == '\n')))
            lines++;
        else if (data[i] == 0xc2 && i + 1 < size && data[i + 1] == 0x85)
            lines++;
        else if (data[i] == 0xe2 && i + 2 < size && data[i + 1] == 0x80 &&
                 (data[i + 2] == 0xa8 || data[i + 2] == 0xa9))
            lines++;
    }

    sy_config_t *cfg = sy_config_load_string((const char *)data, size, FILE_NAME, &diags);
    if (cfg) {
        CHECK(diags.n == 0, "a config was returned with %zu diagnostics (first: %s)", diags.n,
              diags.items[0].message);
        check_config(cfg);
    } else {
        CHECK(diags.n >= 1, "NULL without a diagnostic");
    }
    for (size_t i = 0; i < diags.n; i++) {
        const sy_diag_t *d = &diags.items[i];
        CHECK(d->file && strcmp(d->file, FILE_NAME) == 0, "diagnostic %zu names file %s", i,
              d->file ? d->file : "(null)");
        CHECK(d->message && d->message[0], "diagnostic %zu has no message", i);
        CHECK(d->line >= 1 && d->col >= 1, "diagnostic %zu at %d:%d: %s", i, d->line, d->col,
              d->message);
        CHECK((size_t)d->line <= lines + 1, "diagnostic %zu at line %d of a %zu-line input: %s", i,
              d->line, lines, d->message);
    }
    sy_diags_release(&diags);
    sy_config_free(cfg);
    return 0;
}
