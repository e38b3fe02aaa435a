/*
 * stats.c - GET /api/stats: the cache and the in-flight dedup as one JSON
 * object, for operators and the console; and their families on /metrics.
 *
 *   {"cache":{...} | null, "dedup":{"inflight":N,"joins":N,"leads":N},
 *    "router":{"models":[...]}, "experiments":[...], "providers":{...} | null}
 *
 * "cache" is null when no model caches. docs/cache.md lists the cache's
 * fields, docs/routing.md the router's and the experiments'.
 */
#include <event2/buffer.h>

#include "api/api.h"
#include "cache/cache.h"
#include "core/clock.h"
#include "dedup/table.h"
#include "providers/health.h"
#include "router/state.h"
#include "router/experiment.h"
#include "http/request.h"
#include "pipeline/error.h"

static void dedup_json(sy_dedup_t *t, struct evbuffer *b)
{
    sy_dedup_stats_t st = {0};
    if (t)
        sy_dedup_stats(t, &st);
    evbuffer_add_printf(b, "{\"inflight\":%llu,\"joins\":%llu,\"leads\":%llu}", (unsigned long long)st.inflight,
                        (unsigned long long)st.joins, (unsigned long long)st.leads);
}

void sy_api_stats(sy_req_t *r)
{
    sy_server_t *srv = r->w->srv;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    evbuffer_add(b, "{\"cache\":", 9);
    if (srv->cache)
        sy_cache_stats_json(srv->cache, b);
    else
        evbuffer_add(b, "null", 4);
    evbuffer_add(b, ",\"dedup\":", 9);
    dedup_json(srv->dedup, b);
    evbuffer_add(b, ",\"router\":", 10);
    if (srv->rstate)
        sy_rstate_json(srv->rstate, sy_now_ns(), b);
    else
        evbuffer_add(b, "null", 4);
    /* A/B experiments: per arm (docs/routing.md#a-b-experiments) */
    evbuffer_add(b, ",\"experiments\":", 15);
    if (srv->exp)
        sy_exp_json(srv->exp, b);
    else
        evbuffer_add(b, "[]", 2);
    /* health probes (providers/health.h): null when no provider is probed */
    evbuffer_add(b, ",\"providers\":", 13);
    if (srv->health)
        sy_health_json(srv->health, sy_now_ns(), b);
    else
        evbuffer_add(b, "null", 4);
    evbuffer_add(b, "}", 1);
    sy_req_reply_buf(r, 200, "application/json", b);
    evbuffer_free(b);
}

void sy_api_stats_metrics(sy_server_t *srv, struct evbuffer *out)
{
    if (srv->cache)
        sy_cache_metrics_text(srv->cache, out);
    if (srv->rstate)
        sy_rstate_metrics(srv->rstate, sy_now_ns(), out);
    if (srv->exp)
        sy_exp_metrics(srv->exp, out);
    if (srv->health)
        sy_health_metrics(srv->health, out);
    if (!srv->dedup)
        return;
    sy_dedup_stats_t st;
    sy_dedup_stats(srv->dedup, &st);
    evbuffer_add_printf(out,
                        "# HELP switchyard_dedup_joins_total Requests that joined an identical call in flight.\n"
                        "# TYPE switchyard_dedup_joins_total counter\n"
                        "switchyard_dedup_joins_total %llu\n"
                        "# HELP switchyard_dedup_leads_total Calls other requests could join.\n"
                        "# TYPE switchyard_dedup_leads_total counter\n"
                        "switchyard_dedup_leads_total %llu\n"
                        "# HELP switchyard_dedup_inflight Shared calls in flight now.\n"
                        "# TYPE switchyard_dedup_inflight gauge\n"
                        "switchyard_dedup_inflight %llu\n",
                        (unsigned long long)st.joins, (unsigned long long)st.leads, (unsigned long long)st.inflight);
}
