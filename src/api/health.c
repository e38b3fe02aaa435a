/*
 * health.c - liveness, readiness and the metrics scrape.
 *
 * Live means the process answers. Ready means the config is loaded and the
 * server is not draining; with server.ready_requires_providers, also that
 * some provider with health probes is up.
 */
#include <event2/buffer.h>
#include <stdatomic.h>

#include "api/api.h"
#include "core/clock.h"
#include "providers/health.h"
#include "pipeline/error.h"

void sy_api_health_live(sy_req_t *r)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    sy_req_reply(r, 200, "application/json", ok, sizeof(ok) - 1);
}

/* Ready: not draining and, when server.ready_requires_providers says so,
 * some probed provider up. With health probes the answer lists every
 * probed provider's state (providers/health.h). */
void sy_api_health_ready(sy_req_t *r)
{
    static const char ready[] = "{\"status\":\"ready\"}";
    static const char draining[] = "{\"status\":\"draining\"}";
    sy_server_t *srv = r->w->srv;
    if (atomic_load(&srv->draining)) {
        sy_req_reply(r, 503, "application/json", draining, sizeof(draining) - 1);
        return;
    }
    if (!srv->health) {
        sy_req_reply(r, 200, "application/json", ready, sizeof(ready) - 1);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    int ok = !srv->cfg->server.ready_requires_providers || sy_health_any_up(srv->health);
    evbuffer_add_printf(b, "{\"status\":\"%s\",\"providers\":", ok ? "ready" : "no_provider_up");
    sy_health_json(srv->health, sy_now_ns(), b);
    evbuffer_add(b, "}", 1);
    sy_req_reply_buf(r, ok ? 200 : 503, "application/json", b);
    evbuffer_free(b);
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
