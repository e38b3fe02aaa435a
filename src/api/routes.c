/*
 * routes.c - the route table (see api.h).
 */
#include <event2/http.h>
#include <string.h>

#include "api/api.h"
#include "core/canon.h"
#include "pipeline/error.h"

typedef struct route {
    const char *path;
    int prefix; /* path is a prefix ("/v1/models/") */
    int methods;
    void (*handler)(sy_req_t *r);
    const char *name; /* the route label in logs and metrics */
    int proto;        /* sy_proto_t: the shape of the route's errors */
} route_t;

#define GET_HEAD (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)
#define OAI SY_PROTO_OPENAI
#define OLL SY_PROTO_OLLAMA
#define ANT SY_PROTO_ANTHROPIC

static const route_t routes[] = {
    {"/v1/chat/completions", 0, EVHTTP_REQ_POST, sy_api_openai_chat, "/v1/chat/completions", OAI},
    {"/v1/completions", 0, EVHTTP_REQ_POST, sy_api_openai_completions, "/v1/completions", OAI},
    {"/v1/embeddings", 0, EVHTTP_REQ_POST, sy_api_openai_embeddings, "/v1/embeddings", OAI},
    {"/v1/messages", 0, EVHTTP_REQ_POST, sy_api_anthropic_messages, "/v1/messages", ANT},
    {"/v1/messages/count_tokens", 0, EVHTTP_REQ_POST, sy_api_anthropic_count_tokens,
     "/v1/messages/count_tokens", ANT},
    {"/v1/models", 0, EVHTTP_REQ_GET, sy_api_openai_models, "/v1/models", OAI},
    {"/v1/models/", 1, EVHTTP_REQ_GET, sy_api_openai_model, "/v1/models/{id}", OAI},
    {"/api/chat", 0, EVHTTP_REQ_POST, sy_api_ollama_chat, "/api/chat", OLL},
    {"/api/generate", 0, EVHTTP_REQ_POST, sy_api_ollama_generate, "/api/generate", OLL},
    {"/api/embed", 0, EVHTTP_REQ_POST, sy_api_ollama_embed, "/api/embed", OLL},
    {"/api/embeddings", 0, EVHTTP_REQ_POST, sy_api_ollama_embeddings, "/api/embeddings", OLL},
    {"/api/tags", 0, GET_HEAD, sy_api_ollama_tags, "/api/tags", OLL},
    {"/api/show", 0, EVHTTP_REQ_POST, sy_api_ollama_show, "/api/show", OLL},
    {"/api/ps", 0, GET_HEAD, sy_api_ollama_ps, "/api/ps", OLL},
    {"/api/version", 0, GET_HEAD, sy_api_ollama_version, "/api/version", OLL},
    {"/api/stats", 0, EVHTTP_REQ_GET, sy_api_stats, "/api/stats", OAI},
    {"/v1/feedback", 0, EVHTTP_REQ_POST, sy_api_feedback, "/v1/feedback", OAI},
    {"/", 0, GET_HEAD, sy_api_ollama_root, "/", OLL},
    {"/health/live", 0, GET_HEAD, sy_api_health_live, "/health/live", OAI},
    {"/health/ready", 0, GET_HEAD, sy_api_health_ready, "/health/ready", OAI},
    {"/metrics", 0, EVHTTP_REQ_GET, sy_api_metrics, "/metrics", OAI},
    /* operators (no authentication yet) */
    {"/admin/route/explain", 0, EVHTTP_REQ_POST, sy_api_admin_route_explain, "/admin/route/explain", OAI},
};

/* The error shape for a path no route matched: Ollama's under /api/,
 * Anthropic's under /v1/messages, OpenAI's elsewhere. */
static int path_proto(const char *path)
{
    if (strncmp(path, "/api/", 5) == 0)
        return SY_PROTO_OLLAMA;
    if (strncmp(path, "/v1/messages", 12) == 0)
        return SY_PROTO_ANTHROPIC;
    return SY_PROTO_OPENAI;
}

void sy_api_dispatch(sy_req_t *r)
{
    const route_t *found = NULL;
    r->proto = path_proto(r->path);
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
            r->proto = rt->proto;
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
