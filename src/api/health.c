/*
 * health.c - liveness, readiness and the metrics scrape.
 *
 * Live means the process answers. Ready means the config is loaded and the
 * server is not draining; provider reachability joins it when active health
 * probes land (the routing work).
 */
#include <event2/buffer.h>
#include <stdatomic.h>

#include "api/api.h"
#include "pipeline/error.h"

void sy_api_health_live(sy_req_t *r)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    sy_req_reply(r, 200, "application/json", ok, sizeof(ok) - 1);
}

void sy_api_health_ready(sy_req_t *r)
{
    static const char ready[] = "{\"status\":\"ready\"}";
    static const char draining[] = "{\"status\":\"draining\"}";
    if (atomic_load(&r->w->srv->draining))
        sy_req_reply(r, 503, "application/json", draining, sizeof(draining) - 1);
    else
        sy_req_reply(r, 200, "application/json", ready, sizeof(ready) - 1);
}

void sy_api_metrics(sy_req_t *r)
{
    struct evbuffer *b = evbuffer_new();
    if (!b || sy_metrics_render(r->w->srv->metrics, b) < 0) {
        if (b)
            evbuffer_free(b);
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    sy_api_stats_metrics(r->w->srv, b);
    sy_req_reply_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}
