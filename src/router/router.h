/*
 * router.h - from the model a client names to the deployment that serves it.
 *
 * A name resolves, in this order, to:
 *   1. a configured public model: one of its deployments is picked at random
 *      in proportion to the weights, skipping deployments on a disabled
 *      provider (optional, key variable unset);
 *   2. "provider/model": that provider's model, addressed directly (any
 *      configured provider that is not disabled; this is also how a
 *      discovering provider's models are named unambiguously);
 *   3. a bare model name found in the discovery snapshot (discovery.h): the
 *      first provider in config order that lists it serves it.
 * Later work adds strategies, health, breakers and fallbacks behind the same
 * call. The router also lists every name it would resolve, for /v1/models
 * and /api/tags.
 */
#ifndef SY_ROUTER_ROUTER_H
#define SY_ROUTER_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "providers/discovery.h"

typedef struct sy_route {
    const sy_model_conf_t *model;       /* NULL for a direct or discovered address */
    const sy_provider_conf_t *provider; /* where the request goes */
    const char *upstream_model;         /* the name the provider knows; valid as long as the route */
    int discovered;                     /* resolved through the discovery snapshot */
    char direct_model[256];             /* storage for a direct or discovered model name */
} sy_route_t;

/* Whether deployment d may ever be chosen: its provider is configured and
 * enabled, its weight above 0. */
int sy_router_usable(const sy_config_t *cfg, const sy_deployment_conf_t *d);

/*
 * Resolve name into *out using rnd (uniform random bits) for the weighted
 * pick; disc (may be NULL) is the discovery snapshot to look bare names up
 * in, and need not outlive the call: whatever the route needs is copied.
 * Returns SY_OK; SY_ENOMODEL (404) when nothing serves the name; SY_ENOKEY
 * (503) when only disabled providers would, the message naming the key
 * variable to set. err is filled on failure. Pure: no clock, no globals;
 * any thread.
 */
sy_err_t sy_router_resolve_with(const sy_config_t *cfg, const sy_disc_snap_t *disc, const char *name, uint64_t rnd,
                                sy_route_t *out, sy_error_t *err);

/* sy_router_resolve_with without discovered models. */
sy_err_t sy_router_resolve(const sy_config_t *cfg, const char *name, uint64_t rnd, sy_route_t *out,
                           sy_error_t *err);

/* The weighted pick alone: index of the deployment chosen by rnd, or -1 when
 * every weight is 0 or there are none. Disabled providers are not known
 * here: every deployment counts. */
int sy_router_pick(const sy_model_conf_t *m, uint64_t rnd);

/* One name a client may ask for, as sy_router_list reports it. */
typedef struct sy_model_entry {
    const char *name;                   /* the public name; valid during the callback only */
    const sy_model_conf_t *model;       /* a configured model, else NULL */
    const sy_provider_conf_t *provider; /* configured: the first enabled deployment's provider;
                                         * discovered: the provider that lists it */
    const sy_disc_model_t *disc;        /* a discovered model's details, else NULL */
} sy_model_entry_t;

typedef void (*sy_router_list_fn)(void *ud, const sy_model_entry_t *e);

/*
 * Call fn for every name the router resolves, in this order: the configured
 * models that have a deployment on an enabled provider - or, for a
 * complexity model, a tier whose model has one - (config order), then
 * for each discovered model of an enabled provider (snapshot order) its bare
 * name - unless a configured model or an earlier provider has that name -
 * followed by its "provider/name". A name a configured model shadows is
 * never listed twice. disc may be NULL. Returns how many entries were
 * reported. Any thread; cost linear in configured x discovered names.
 */
size_t sy_router_list(const sy_config_t *cfg, const sy_disc_snap_t *disc, sy_router_list_fn fn, void *ud);

#endif
