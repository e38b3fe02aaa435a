/*
 * router.c - model name to deployment (see router.h).
 */
#include "router/router.h"

#include <stdio.h>
#include <string.h>

int sy_router_pick(const sy_model_conf_t *m, uint64_t rnd)
{
    uint64_t total = 0;
    for (size_t i = 0; i < m->n_deployments; i++)
        total += m->deployments[i].weight;
    if (total == 0)
        return -1;
    uint64_t x = rnd % total;
    for (size_t i = 0; i < m->n_deployments; i++) {
        if (x < m->deployments[i].weight)
            return (int)i;
        x -= m->deployments[i].weight;
    }
    return -1;
}

sy_err_t sy_router_resolve(const sy_config_t *cfg, const char *name, uint64_t rnd, sy_route_t *out,
                           sy_error_t *err)
{
    memset(out, 0, sizeof(*out));
    const sy_model_conf_t *m = sy_config_find_model(cfg, name);
    if (m) {
        int i = sy_router_pick(m, rnd);
        if (i < 0) {
            sy_error_set(err, SY_ENOMODEL, "model", "model \"%s\" has no deployment with a weight above 0",
                         name);
            return SY_ENOMODEL;
        }
        out->model = m;
        out->provider = &cfg->providers[m->deployments[i].provider_index];
        out->upstream_model = m->deployments[i].model;
        return SY_OK;
    }
    const char *slash = strchr(name, '/');
    if (slash && slash[1]) {
        char pname[128];
        size_t n = (size_t)(slash - name);
        if (n < sizeof(pname)) {
            memcpy(pname, name, n);
            pname[n] = '\0';
            const sy_provider_conf_t *p = sy_config_find_provider(cfg, pname);
            if (p && snprintf(out->direct_model, sizeof(out->direct_model), "%s", slash + 1) <
                         (int)sizeof(out->direct_model)) {
                out->provider = p;
                out->upstream_model = out->direct_model;
                return SY_OK;
            }
        }
    }
    sy_error_set(err, SY_ENOMODEL, "model", "The model `%.200s` does not exist", name);
    return SY_ENOMODEL;
}
