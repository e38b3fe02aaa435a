/*
 * routes.c - the route table (see api.h).
 */
#include <event2/http.h>
#include <string.h>

#include "api/api.h"
#include "pipeline/error.h"

typedef struct route {
    const char *path;
    int prefix; /* path is a prefix ("/v1/models/") */
    int methods;
    void (*handler)(sy_req_t *r);
    const char *name; /* the route label in logs and metrics */
} route_t;

static const route_t routes[] = {
    {"/v1/chat/completions", 0, EVHTTP_REQ_POST, sy_api_openai_chat, "/v1/chat/completions"},
    {"/v1/completions", 0, EVHTTP_REQ_POST, sy_api_openai_completions, "/v1/completions"},
    {"/v1/embeddings", 0, EVHTTP_REQ_POST, sy_api_openai_embeddings, "/v1/embeddings"},
    {"/v1/models", 0, EVHTTP_REQ_GET, sy_api_openai_models, "/v1/models"},
    {"/v1/models/", 1, EVHTTP_REQ_GET, sy_api_openai_model, "/v1/models/{id}"},
    {"/health/live", 0, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, sy_api_health_live, "/health/live"},
    {"/health/ready", 0, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, sy_api_health_ready, "/health/ready"},
    {"/metrics", 0, EVHTTP_REQ_GET, sy_api_metrics, "/metrics"},
};

void sy_api_dispatch(sy_req_t *r)
{
    const route_t *found = NULL;
    /* draining: requests in flight finish, new ones (on connections that were
     * already open) are turned away - except the probes that report it */
    if (r->w->draining && strncmp(r->path, "/health/", 8) != 0) {
        sy_respond_errorf(r, SY_EDRAINING, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route_t *rt = &routes[i];
        size_t n = strlen(rt->path);
        if (rt->prefix ? strncmp(r->path, rt->path, n) == 0 && r->path[n] : strcmp(r->path, rt->path) == 0) {
            found = rt;
            if (rt->methods & r->method) {
                r->route = rt->name;
                rt->handler(r);
                return;
            }
        }
    }
    if (found) {
        r->route = found->name;
        sy_respond_errorf(r, SY_EMETHOD, NULL, "method not allowed on %s", found->name);
        return;
    }
    sy_respond_errorf(r, SY_ENOROUTE, NULL, "unknown URL: %.200s", r->path);
}
