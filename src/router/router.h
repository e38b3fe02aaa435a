/*
 * router.h - from the model a client names to the deployment that serves it.
 *
 * A name is either a configured public model (one of its deployments is
 * picked at random in proportion to the weights) or "provider/model", which
 * addresses that provider's model directly. Later work adds strategies,
 * health, breakers and fallbacks behind the same call.
 */
#ifndef SY_ROUTER_ROUTER_H
#define SY_ROUTER_ROUTER_H

#include <stdint.h>

#include "config/config.h"
#include "core/err.h"

typedef struct sy_route {
    const sy_model_conf_t *model;       /* NULL for a direct provider/model address */
    const sy_provider_conf_t *provider; /* where the request goes */
    const char *upstream_model;         /* the name the provider knows */
    char direct_model[256];             /* storage for a direct address's model part */
} sy_route_t;

/*
 * Resolve name into *out using rnd (uniform random bits) for the weighted
 * pick. Returns SY_OK, or SY_ENOMODEL (with err filled) when nothing serves
 * the name. Pure: no clock, no globals; any thread.
 */
sy_err_t sy_router_resolve(const sy_config_t *cfg, const char *name, uint64_t rnd, sy_route_t *out,
                           sy_error_t *err);

/* The weighted pick alone: index of the deployment chosen by rnd, or -1 when
 * every weight is 0 or there are none. */
int sy_router_pick(const sy_model_conf_t *m, uint64_t rnd);

#endif
