/*
 * router.c - model name to deployment (see router.h).
 *
 * Everything here is a linear walk over the config and the snapshot: both
 * are small, and a request resolves one name. A disabled provider (its
 * optional key is missing) keeps its place in the config, so deployments
 * keep their provider indexes; the router just never chooses it.
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

static const sy_provider_conf_t *dep_provider(const sy_config_t *cfg, const sy_deployment_conf_t *d)
{
    return d->provider_index < cfg->n_providers ? &cfg->providers[d->provider_index] : NULL;
}

int sy_router_usable(const sy_config_t *cfg, const sy_deployment_conf_t *d)
{
    const sy_provider_conf_t *p = dep_provider(cfg, d);
    return p && !p->disabled && d->weight > 0;
}

/* The weighted pick among the deployments on enabled providers; -1 when
 * none has a weight above 0. */
static int pick_enabled(const sy_config_t *cfg, const sy_model_conf_t *m, uint64_t rnd)
{
    uint64_t total = 0;
    for (size_t i = 0; i < m->n_deployments; i++)
        if (sy_router_usable(cfg, &m->deployments[i]))
            total += m->deployments[i].weight;
    if (total == 0)
        return -1;
    uint64_t x = rnd % total;
    for (size_t i = 0; i < m->n_deployments; i++) {
        if (!sy_router_usable(cfg, &m->deployments[i]))
            continue;
        if (x < m->deployments[i].weight)
            return (int)i;
        x -= m->deployments[i].weight;
    }
    return -1;
}

/* "the key variable is not set" for a disabled provider, as the fix to make. */
static void error_disabled_model(const sy_config_t *cfg, const sy_model_conf_t *m, sy_error_t *err)
{
    char vars[200] = "";
    size_t o = 0;
    const char *first = NULL;
    for (size_t i = 0; i < m->n_deployments; i++) {
        const sy_provider_conf_t *p = dep_provider(cfg, &m->deployments[i]);
        if (!p || !p->disabled || m->deployments[i].weight == 0 || !p->api_key_env)
            continue;
        if (!first)
            first = p->name;
        if (strstr(vars, p->api_key_env))
            continue; /* named already (a rough test, enough for a message) */
        int w = snprintf(vars + o, sizeof(vars) - o, "%s%s", o ? " or " : "", p->api_key_env);
        if (w < 0 || (size_t)w >= sizeof(vars) - o)
            break;
        o += (size_t)w;
    }
    sy_error_set(err, SY_ENOKEY, "model",
                 "model `%.100s` is served by provider \"%.64s\", which is disabled because its API key is "
                 "not set: set %s and restart",
                 m->name, first ? first : "?", vars[0] ? vars : "its key variable");
}

/* The provider named by name[0..len), or NULL. */
static const sy_provider_conf_t *provider_n(const sy_config_t *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const char *pn = cfg->providers[i].name;
        if (pn && strlen(pn) == len && memcmp(pn, name, len) == 0)
            return &cfg->providers[i];
    }
    return NULL;
}

static int copy_model(sy_route_t *out, const char *model)
{
    size_t n = strlen(model);
    if (n >= sizeof(out->direct_model))
        return -1;
    memcpy(out->direct_model, model, n + 1);
    out->upstream_model = out->direct_model;
    return 0;
}

/* sy_disc_snap_find_bare among the providers that are not disabled: an
 * exact name anywhere first, then the first implied ":latest". (Discovery
 * never asks a disabled provider, so its models are not normally there.) */
static const sy_disc_model_t *find_discovered(const sy_config_t *cfg, const sy_disc_snap_t *s, const char *name)
{
    const sy_disc_model_t *tagged = NULL;
    for (size_t i = 0; s && i < s->n_models; i++) {
        const sy_disc_model_t *m = &s->models[i];
        if (m->provider_index >= cfg->n_providers || cfg->providers[m->provider_index].disabled)
            continue;
        int how = sy_disc_name_match(m->name, name);
        if (how == 2)
            return m;
        if (how == 1 && !tagged)
            tagged = m;
    }
    return tagged;
}

sy_err_t sy_router_resolve_with(const sy_config_t *cfg, const sy_disc_snap_t *disc, const char *name, uint64_t rnd,
                                sy_route_t *out, sy_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!name)
        name = "";

    /* 1. a configured public model */
    const sy_model_conf_t *m = sy_config_find_model(cfg, name);
    if (m) {
        int i = pick_enabled(cfg, m, rnd);
        if (i >= 0) {
            out->model = m;
            out->provider = dep_provider(cfg, &m->deployments[i]);
            out->upstream_model = m->deployments[i].model;
            return SY_OK;
        }
        /* nothing usable: because of missing keys, or of weights */
        for (size_t j = 0; j < m->n_deployments; j++) {
            const sy_provider_conf_t *p = dep_provider(cfg, &m->deployments[j]);
            if (p && p->disabled && m->deployments[j].weight > 0) {
                error_disabled_model(cfg, m, err);
                return SY_ENOKEY;
            }
        }
        sy_error_set(err, SY_ENOMODEL, "model", "model \"%.200s\" has no deployment with a weight above 0", name);
        return SY_ENOMODEL;
    }

    /* 2. "provider/model", split at the first slash */
    const char *slash = strchr(name, '/');
    if (slash && slash > name && slash[1]) {
        const sy_provider_conf_t *p = provider_n(cfg, name, (size_t)(slash - name));
        if (p && p->disabled) {
            sy_error_set(err, SY_ENOKEY, "model",
                         "provider \"%.64s\" is disabled because its API key is not set: set %.64s and restart",
                         p->name, p->api_key_env ? p->api_key_env : "its key variable");
            return SY_ENOKEY;
        }
        if (p && copy_model(out, slash + 1) == 0) {
            out->provider = p;
            return SY_OK;
        }
        if (p) {
            sy_error_set(err, SY_ENOMODEL, "model", "model name too long (at most %zu bytes after \"%.64s/\")",
                         sizeof(out->direct_model) - 1, p->name);
            return SY_ENOMODEL;
        }
    }

    /* 3. a bare name a discovering provider lists */
    const sy_disc_model_t *dm = find_discovered(cfg, disc, name);
    if (dm && copy_model(out, dm->name) == 0) {
        out->provider = &cfg->providers[dm->provider_index];
        out->discovered = 1;
        return SY_OK;
    }

    sy_error_set(err, SY_ENOMODEL, "model", "The model `%.200s` does not exist", name);
    return SY_ENOMODEL;
}

sy_err_t sy_router_resolve(const sy_config_t *cfg, const char *name, uint64_t rnd, sy_route_t *out,
                           sy_error_t *err)
{
    return sy_router_resolve_with(cfg, NULL, name, rnd, out, err);
}

/* ---- listing ------------------------------------------------------------ */

static int provider_enabled(const sy_config_t *cfg, size_t index)
{
    return index < cfg->n_providers && !cfg->providers[index].disabled;
}

/* Whether discovered model i's bare name is served by something before it:
 * a configured model of that name, or an earlier provider's model. */
static int bare_shadowed(const sy_config_t *cfg, const sy_disc_snap_t *s, size_t i)
{
    const sy_disc_model_t *dm = &s->models[i];
    if (sy_config_find_model(cfg, dm->name))
        return 1;
    /* "x/y" with a provider named x is read as a direct address first */
    const char *slash = strchr(dm->name, '/');
    if (slash && slash > dm->name && provider_n(cfg, dm->name, (size_t)(slash - dm->name)))
        return 1;
    for (size_t j = 0; j < i; j++) {
        const sy_disc_model_t *o = &s->models[j];
        if (o->provider_index != dm->provider_index && provider_enabled(cfg, o->provider_index) &&
            strcmp(o->name, dm->name) == 0)
            return 1;
    }
    return 0;
}

size_t sy_router_list(const sy_config_t *cfg, const sy_disc_snap_t *disc, sy_router_list_fn fn, void *ud)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_models; i++) {
        const sy_model_conf_t *m = &cfg->models[i];
        const sy_provider_conf_t *p = NULL;
        for (size_t j = 0; j < m->n_deployments && !p; j++)
            if (sy_router_usable(cfg, &m->deployments[j]))
                p = dep_provider(cfg, &m->deployments[j]);
        /* a complexity model has tiers, not deployments: listed when one of
         * its tiers' models could serve it, with that model's provider */
        for (size_t t = 0; t < m->n_tiers && !p; t++) {
            const sy_model_conf_t *tm = &cfg->models[m->tiers[t].model_index];
            for (size_t j = 0; j < tm->n_deployments && !p; j++)
                if (sy_router_usable(cfg, &tm->deployments[j]))
                    p = dep_provider(cfg, &tm->deployments[j]);
        }
        if (!p)
            continue;
        sy_model_entry_t e = {.name = m->name, .model = m, .provider = p};
        fn(ud, &e);
        n++;
    }
    for (size_t i = 0; disc && i < disc->n_models; i++) {
        const sy_disc_model_t *dm = &disc->models[i];
        if (!provider_enabled(cfg, dm->provider_index))
            continue;
        const sy_provider_conf_t *p = &cfg->providers[dm->provider_index];
        sy_model_entry_t e = {.name = dm->name, .provider = p, .disc = dm};
        if (!bare_shadowed(cfg, disc, i)) {
            fn(ud, &e);
            n++;
        }
        char full[SY_DISC_MAX_NAME + 300];
        int w = snprintf(full, sizeof(full), "%s/%s", p->name, dm->name);
        if (w < 0 || (size_t)w >= sizeof(full) || sy_config_find_model(cfg, full))
            continue;
        e.name = full;
        fn(ud, &e);
        n++;
    }
    return n;
}
