/*
 * admin.c - the operator's endpoints under /admin/. Today one:
 *
 *   POST /admin/route/explain
 *   {"api": "openai" | "ollama" | "anthropic",   (default openai)
 *    "headers": {"x-team": "search", ...},        (optional: the request's headers)
 *    "request": { a client request body of that API }}
 *
 * answers what the router would do with that request, without sending it:
 * the rule that matched (router.rules), the model planned for, the
 * parameters forced or capped, a refusal, and the plan - the deployment a
 * pick would choose now, every deployment's state (circuit, in flight,
 * cooling, eligible or why not) and the fallbacks. Nothing is taken: no
 * in-flight count, no breaker probe, no round-robin turn. A weighted or
 * latency draw may choose another deployment when the request is really
 * sent. Errors come in OpenAI's shape (400 bad body, 404 unknown model).
 *
 * /admin/ has no authentication yet (a later issue adds admin keys):
 * listen on a trusted address.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/jsonscan.h"
#include "core/jsonw.h"
#include "pipeline/error.h"
#include "router/decide.h"
#include "router/plan.h"
#include "router/state.h"

#define MAX_HEADERS 64

typedef struct hdr {
    const char *name, *value;
} hdr_t;

typedef struct hdrs {
    hdr_t h[MAX_HEADERS];
    size_t n;
} hdrs_t;

static const char *hdr_lookup(void *ud, const char *name)
{
    const hdrs_t *hs = ud;
    for (size_t i = 0; i < hs->n; i++)
        if (strcasecmp(hs->h[i].name, name) == 0)
            return hs->h[i].value;
    return NULL;
}

static sy_err_t read_headers(const sy_jval_t *obj, sy_arena_t *a, hdrs_t *hs, sy_error_t *err)
{
    size_t pos = 0;
    sy_jval_t k, v;
    hs->n = 0;
    if (obj->type != SY_JOBJECT)
        return sy_error_fail(err, SY_EBADFIELD, "headers", "'headers' must be an object of strings");
    while (sy_json_next_member(obj, &pos, &k, &v)) {
        if (hs->n == MAX_HEADERS)
            return sy_error_fail(err, SY_EBADREQ, "headers", "at most %d headers", MAX_HEADERS);
        sy_jval_t ks = {k.p - 1, k.len + 2, SY_JSTRING}; /* the key with its quotes */
        sy_str_t name, value; /* decoded, NUL-terminated */
        if (sy_canon_str(a, &ks, &name) < 0 || sy_canon_str(a, &v, &value) < 0)
            return sy_error_fail(err, SY_EBADFIELD, "headers", "'headers' must be an object of strings");
        hs->h[hs->n].name = name.p;
        hs->h[hs->n].value = value.p;
        hs->n++;
    }
    return SY_OK;
}

/* The operation a request body of api asks for, from its fields. */
static sy_op_t request_op(const sy_jval_t *req)
{
    sy_jval_t v;
    if (sy_json_get(req, "messages", &v))
        return SY_OP_CHAT;
    if (sy_json_get(req, "input", &v))
        return SY_OP_EMBED;
    if (sy_json_get(req, "prompt", &v))
        return SY_OP_GENERATE;
    return SY_OP_CHAT;
}

static void dep_json(struct evbuffer *b, const sy_model_conf_t *m, size_t i,
                     const sy_peek_dep_t *d)
{
    const sy_deployment_conf_t *dc = &m->deployments[i];
    evbuffer_add_printf(b, "{\"index\":%zu,\"provider\":", i);
    sy_jw_cstr(b, dc->provider);
    SY_JW_LIT(b, ",\"model\":");
    sy_jw_cstr(b, dc->model);
    evbuffer_add_printf(b, ",\"weight\":%u,\"circuit\":\"%s\",\"inflight\":%d,\"max_inflight\":%u,\"cooling_ms\":%llu,"
                           "\"eligible\":%s,\"why\":",
                        dc->weight, sy_cb_state_name(d->circuit), d->inflight, d->max_inflight,
                        (unsigned long long)d->cooling_ms, d->eligible ? "true" : "false");
    sy_jw_cstr(b, d->why);
    SY_JW_LIT(b, "}");
}

static void chosen_json(struct evbuffer *b, const sy_model_conf_t *m, int d)
{
    if (d < 0) {
        SY_JW_LIT(b, "null");
        return;
    }
    SY_JW_LIT(b, "{\"model\":");
    sy_jw_cstr(b, m->name);
    SY_JW_LIT(b, ",\"provider\":");
    sy_jw_cstr(b, m->deployments[d].provider);
    SY_JW_LIT(b, ",\"upstream_model\":");
    sy_jw_cstr(b, m->deployments[d].model);
    evbuffer_add_printf(b, ",\"index\":%d}", d);
}

/* One model of the chain: its strategy, the pick and every deployment.
 * Returns the deployment chosen or -1. */
static int model_json(struct evbuffer *b, sy_rstate_t *rs, const sy_config_t *cfg, size_t mi, const sy_pick_in_t *in)
{
    const sy_model_conf_t *m = &cfg->models[mi];
    sy_peek_dep_t deps[SY_ROUTER_MAX_CAND];
    int d = sy_rstate_peek(rs, mi, in, deps);
    SY_JW_LIT(b, "{\"model\":");
    sy_jw_cstr(b, m->name);
    evbuffer_add_printf(b, ",\"strategy\":\"%s\",\"chosen\":", sy_strategy_name(m->route.strategy));
    chosen_json(b, m, d);
    SY_JW_LIT(b, ",\"candidates\":[");
    for (size_t i = 0; i < m->n_deployments && i < SY_ROUTER_MAX_CAND; i++) {
        if (i)
            SY_JW_LIT(b, ",");
        dep_json(b, m, i, &deps[i]);
    }
    SY_JW_LIT(b, "]}");
    return d;
}

static void params_json(struct evbuffer *b, const sy_params_t *p, int cap)
{
    unsigned mask = cap ? p->cap_mask : p->set_mask;
    int first = 1;
    SY_JW_LIT(b, "{");
    for (int k = 0; k < SY_PARAM__N; k++) {
        if (!(mask & (1u << k)))
            continue;
        char num[40];
        size_t n = sy_params_format((sy_param_t)k, cap ? p->cap[k] : p->set[k], num, sizeof(num));
        sy_jw_key(b, &first, sy_param_name((sy_param_t)k));
        sy_jw_raw(b, num, n);
    }
    SY_JW_LIT(b, "}");
}

/* The request's sampling parameters after the decision (those it says). */
static void effective_json(struct evbuffer *b, const sy_creq_t *q)
{
    const sy_jval_t *vals[] = {&q->temperature, &q->top_p, &q->top_k, NULL, NULL, &q->presence_penalty,
                               &q->frequency_penalty};
    int first = 1;
    SY_JW_LIT(b, "{");
    for (int k = 0; k < SY_PARAM__N; k++) {
        if (k == SY_PARAM_MAX_TOKENS && q->max_tokens >= 0) {
            sy_jw_key(b, &first, "max_tokens");
            sy_jw_int(b, q->max_tokens);
        } else if (k == SY_PARAM_SEED && q->has_seed) {
            sy_jw_key(b, &first, "seed");
            sy_jw_int(b, q->seed);
        } else if (vals[k] && vals[k]->p && (vals[k]->type == SY_JINT || vals[k]->type == SY_JDOUBLE)) {
            sy_jw_key(b, &first, sy_param_name((sy_param_t)k));
            sy_jw_raw(b, vals[k]->p, vals[k]->len);
        }
    }
    SY_JW_LIT(b, "}");
}

sy_err_t sy__api_admin_explain(const sy_config_t *cfg, sy_rstate_t *rs, const sy_disc_snap_t *disc, const char *body,
                               size_t len, sy_arena_t *a, uint64_t now, uint64_t rnd, struct evbuffer *out,
                               sy_error_t *err)
{
    static const char *const names[] = {"api", "headers", "request"};
    static const char *const apis[] = {"openai", "ollama", "anthropic"};
    sy_jval_t vals[3];
    hdrs_t *hs = sy_arena_calloc(a, 1, sizeof(*hs));
    sy_creq_t *q = sy_arena_alloc(a, sizeof(*q));
    unsigned flags = 0;
    int proto = SY_PROTO_OPENAI;
    sy_err_t rc;

    if (!hs || !q)
        return sy_error_fail(err, SY_ENOMEM, NULL, NULL);
    sy_jval_t doc;
    if ((rc = sy__api_json_object(body, len, &doc, err)) != SY_OK)
        return rc;
    sy_json_members(&doc, names, vals, 3, SY_JSON_NULL_ABSENT);
    if (vals[0].p) {
        char api[16];
        proto = -1;
        if (vals[0].type == SY_JSTRING && sy_json_string(&vals[0], api, sizeof(api)) >= 0)
            for (int i = 0; i < 3; i++)
                if (!strcmp(api, apis[i]))
                    proto = i;
        if (proto < 0)
            return sy_error_fail(err, SY_EBADFIELD, "api", "'api' must be one of openai, ollama, anthropic");
    }
    if (vals[1].p && (rc = read_headers(&vals[1], a, hs, err)) != SY_OK)
        return rc;
    if (!vals[2].p || vals[2].type != SY_JOBJECT)
        return sy_error_fail(err, SY_EMISSING, "request", "'request' must be a client request body (an object)");
    const sy_jval_t *req = &vals[2];
    if (proto == SY_PROTO_OPENAI)
        rc = sy_api_openai_decode(req->p, req->len, request_op(req), a, q, &flags, err);
    else if (proto == SY_PROTO_OLLAMA)
        rc = sy_api_ollama_decode(req->p, req->len, request_op(req), a, q, &flags, err);
    else
        rc = sy_api_anthropic_decode(req->p, req->len, a, q, err);
    if (rc != SY_OK) {
        char tmp[sizeof(err->message)];
        snprintf(tmp, sizeof(tmp), "request: %.480s", err->message);
        memcpy(err->message, tmp, sizeof(tmp));
        return rc;
    }
    char model[256];
    if (!q->model.p || !q->model.len || q->model.len >= sizeof(model) || memchr(q->model.p, '\0', q->model.len))
        return sy_error_fail(err, SY_EMISSING, "request.model", "'request.model' must be a non-empty string");
    memcpy(model, q->model.p, q->model.len);
    model[q->model.len] = '\0';

    /* an experiment's arm: by the user given, else the one a request id "explain" gets */
    sy_route_in_t in = {.proto = proto, .model = model, .q = q, .body = req->p, .body_len = req->len,
                        .header = hdr_lookup, .hud = hs, .request_id = "explain"};
    sy_decision_t dec;
    sy_decide(cfg, &in, &dec);
    if (!dec.reject && sy_params_apply(&dec.params, q, a) < 0)
        return sy_error_fail(err, SY_ENOMEM, NULL, NULL);

    sy_plan_t plan;
    if (!dec.reject && (rc = sy_plan_init(&plan, rs, cfg, disc, dec.model, now, err)) != SY_OK)
        return rc;

    SY_JW_LIT(out, "{\"api\":");
    sy_jw_cstr(out, apis[proto]);
    SY_JW_LIT(out, ",\"model\":");
    sy_jw_cstr(out, model);
    SY_JW_LIT(out, ",\"rule\":");
    if (dec.rule >= 0) {
        evbuffer_add_printf(out, "{\"index\":%d,\"name\":", dec.rule);
        sy_jw_cstr(out, cfg->rules[dec.rule].name);
        SY_JW_LIT(out, "}");
    } else {
        SY_JW_LIT(out, "null");
    }
    SY_JW_LIT(out, ",\"reason\":");
    sy_jw_cstr(out, dec.reason[0] ? dec.reason : NULL);
    SY_JW_LIT(out, ",\"final_model\":");
    sy_jw_cstr(out, dec.reject ? NULL : dec.model);
    SY_JW_LIT(out, ",\"experiment\":");
    if (dec.exp >= 0) {
        const sy_exp_conf_t *e = &cfg->experiments[dec.exp];
        SY_JW_LIT(out, "{\"name\":");
        sy_jw_cstr(out, e->name);
        SY_JW_LIT(out, ",\"arm\":");
        sy_jw_cstr(out, e->arms[dec.arm].name);
        SY_JW_LIT(out, "}");
    } else {
        SY_JW_LIT(out, "null");
    }
    SY_JW_LIT(out, ",\"complexity\":");
    if (dec.cx_score >= 0)
        evbuffer_add_printf(out, "{\"score\":%d,\"tier\":%d}", dec.cx_score, dec.cx_tier);
    else
        SY_JW_LIT(out, "null");
    SY_JW_LIT(out, ",\"params\":{\"set\":");
    params_json(out, &dec.params, 0);
    SY_JW_LIT(out, ",\"cap\":");
    params_json(out, &dec.params, 1);
    SY_JW_LIT(out, ",\"effective\":");
    effective_json(out, q);
    SY_JW_LIT(out, "},\"tokens_estimate\":");
    sy_jw_int(out, sy_creq_estimate_tokens(q));
    SY_JW_LIT(out, ",\"reject\":");
    if (dec.reject) {
        evbuffer_add_printf(out, "{\"status\":%d,\"message\":", dec.status);
        sy_jw_cstr(out, dec.message);
        SY_JW_LIT(out, "},\"plan\":null}");
        return SY_OK;
    }
    SY_JW_LIT(out, "null,\"plan\":");
    if (plan.asked == SY_PLAN_DIRECT) {
        SY_JW_LIT(out, "{\"direct\":true,\"chosen\":{\"provider\":");
        sy_jw_cstr(out, plan.route.provider->name);
        SY_JW_LIT(out, ",\"upstream_model\":");
        sy_jw_cstr(out, plan.route.direct_model);
        evbuffer_add_printf(out, ",\"index\":null,\"discovered\":%s},\"fallbacks\":[],\"context_fallbacks\":[]}}",
                            plan.route.discovered ? "true" : "false");
        return SY_OK;
    }
    const sy_model_conf_t *m = &cfg->models[plan.asked];
    sy_pick_in_t pin = {.now = now, .rnd = rnd, .prompt_tokens = sy_creq_estimate_tokens(q),
                        .max_tokens = q->max_tokens};
    struct evbuffer *chain = evbuffer_new();
    if (!chain)
        return sy_error_fail(err, SY_ENOMEM, NULL, NULL);
    SY_JW_LIT(chain, ",\"first\":");
    int d = model_json(chain, rs, cfg, plan.asked, &pin);
    const sy_model_conf_t *by = d >= 0 ? m : NULL;
    int by_d = d;
    SY_JW_LIT(chain, ",\"fallbacks\":[");
    for (size_t k = 0; k < m->n_fallbacks; k++) {
        if (k)
            SY_JW_LIT(chain, ",");
        int fd = model_json(chain, rs, cfg, m->fallbacks[k], &pin);
        if (!by && fd >= 0) {
            by = &cfg->models[m->fallbacks[k]];
            by_d = fd;
        }
    }
    SY_JW_LIT(chain, "],\"context_fallbacks\":[");
    for (size_t k = 0; k < m->n_context_fallbacks; k++) {
        if (k)
            SY_JW_LIT(chain, ",");
        sy_jw_cstr(chain, cfg->models[m->context_fallbacks[k]].name);
    }
    SY_JW_LIT(out, "{\"direct\":false,\"chosen\":");
    chosen_json(out, by ? by : m, by ? by_d : -1);
    evbuffer_add_printf(out, ",\"attempts\":%u,\"timeout_ms\":%u", 1 + m->route.retries, m->route.timeout_ms);
    evbuffer_add_buffer(out, chain);
    evbuffer_free(chain);
    SY_JW_LIT(out, "]}}");
    return SY_OK;
}

void sy_api_admin_route_explain(sy_req_t *r)
{
    sy_server_t *srv = r->w->srv;
    sy_error_t err;
    struct evbuffer *b = sy_req_body(r);
    size_t n = b ? evbuffer_get_length(b) : 0;
    const char *s = n ? (const char *)evbuffer_pullup(b, -1) : NULL;
    struct evbuffer *out = evbuffer_new();
    if (!out || (n && !s)) {
        if (out)
            evbuffer_free(out);
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    const sy_disc_snap_t *disc = sy_discovery_acquire(srv->discovery);
    sy_err_t rc = sy__api_admin_explain(srv->cfg, srv->rstate, disc, s, n, &r->arena, sy_now_ns(),
                                        sy_worker_rand(r->w), out, &err);
    sy_disc_snap_release(disc);
    if (rc != SY_OK) {
        evbuffer_free(out);
        sy_respond_error(r, &err, -1);
        return;
    }
    sy_req_reply_buf(r, 200, "application/json", out);
    evbuffer_free(out);
}
