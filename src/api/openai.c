/*
 * openai.c - the OpenAI ingress: /v1/chat/completions, /v1/completions,
 * /v1/embeddings, /v1/models.
 *
 * A body is validated once, in place (no objects are built), its fields'
 * types are checked against a table per operation so a wrong type is a 400
 * that names the field, and the call goes to the pipeline with the client's
 * own bytes. Fields the table does not name are carried through
 * untouched: the upstream is the judge of what it supports.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/jsonscan.h"
#include "core/log.h"
#include "pipeline/error.h"
#include "pipeline/pipeline.h"
#include "providers/discovery.h"
#include "router/router.h"

/* type masks */
#define T_NULL (1 << SY_JNULL)
#define T_BOOL (1 << SY_JBOOL)
#define T_DOUBLE (1 << SY_JDOUBLE)
#define T_INT (1 << SY_JINT)
#define T_OBJ (1 << SY_JOBJECT)
#define T_ARR (1 << SY_JARRAY)
#define T_STR (1 << SY_JSTRING)
#define T_NUM (T_DOUBLE | T_INT)
#define T_ANY (T_NULL | T_BOOL | T_NUM | T_STR | T_ARR | T_OBJ)
#define MAX_FIELDS 24

typedef struct field {
    const char *name;
    int types;
    int required;
    const char *expect; /* for the message: "a boolean" */
} field_t;

static const field_t chat_fields[] = {
    {"model", T_STR, 1, "a string"},
    {"messages", T_ARR, 1, "an array of message objects"},
    {"stream", T_BOOL | T_NULL, 0, "a boolean"},
    {"stream_options", T_OBJ | T_NULL, 0, "an object"},
    {"n", T_INT | T_NULL, 0, "an integer"},
    {"temperature", T_NUM | T_NULL, 0, "a number"},
    {"top_p", T_NUM | T_NULL, 0, "a number"},
    {"max_tokens", T_INT | T_NULL, 0, "an integer"},
    {"max_completion_tokens", T_INT | T_NULL, 0, "an integer"},
    {"presence_penalty", T_NUM | T_NULL, 0, "a number"},
    {"frequency_penalty", T_NUM | T_NULL, 0, "a number"},
    {"seed", T_INT | T_NULL, 0, "an integer"},
    {"stop", T_STR | T_ARR | T_NULL, 0, "a string or an array of strings"},
    {"tools", T_ARR | T_NULL, 0, "an array"},
    {"tool_choice", T_STR | T_OBJ | T_NULL, 0, "a string or an object"},
    {"response_format", T_OBJ | T_NULL, 0, "an object"},
    {"logprobs", T_BOOL | T_NULL, 0, "a boolean"},
    {"top_logprobs", T_INT | T_NULL, 0, "an integer"},
    /* these two last, in this order: CHAT_USER */
    {"user", T_STR | T_NULL, 0, "a string"},
    {"metadata", T_ANY, 0, "anything"}, /* not checked: met on the walk for the routing rules */
    {NULL, 0, 0, NULL},
};

static const field_t completion_fields[] = {
    {"model", T_STR, 1, "a string"},
    {"prompt", T_STR | T_ARR, 1, "a string or an array"},
    {"stream", T_BOOL | T_NULL, 0, "a boolean"},
    {"stream_options", T_OBJ | T_NULL, 0, "an object"},
    {"n", T_INT | T_NULL, 0, "an integer"},
    {"temperature", T_NUM | T_NULL, 0, "a number"},
    {"top_p", T_NUM | T_NULL, 0, "a number"},
    {"max_tokens", T_INT | T_NULL, 0, "an integer"},
    {"seed", T_INT | T_NULL, 0, "an integer"},
    {"stop", T_STR | T_ARR | T_NULL, 0, "a string or an array of strings"},
    {"logprobs", T_INT | T_NULL, 0, "an integer"},
    {"echo", T_BOOL | T_NULL, 0, "a boolean"},
    {"suffix", T_STR | T_NULL, 0, "a string"},
    {"user", T_STR | T_NULL, 0, "a string"},
    {NULL, 0, 0, NULL},
};

static const field_t embedding_fields[] = {
    {"model", T_STR, 1, "a string"},
    {"input", T_STR | T_ARR, 1, "a string or an array"},
    {"encoding_format", T_STR | T_NULL, 0, "a string"},
    {"dimensions", T_INT | T_NULL, 0, "an integer"},
    {"user", T_STR | T_NULL, 0, "a string"},
    {NULL, 0, 0, NULL},
};

/* Check the type of every known field and that the required ones are there;
 * answers the request and returns -1 on the first problem. Keeps the values
 * of the known fields in vals (in table order). */
static int check_fields(sy_req_t *r, const sy_jval_t *doc, const field_t *fields, sy_jval_t *vals)
{
    size_t pos = 0, nf = 0;
    sy_jval_t k, v;
    while (fields[nf].name)
        nf++;
    for (size_t i = 0; i < nf; i++)
        vals[i].p = NULL;
    while (sy_json_next_member(doc, &pos, &k, &v)) {
        for (size_t i = 0; i < nf; i++) {
            const field_t *f = &fields[i];
            if (!sy_json_key_is(&k, f->name)) {
                /* some upstreams (Go's encoding/json) match keys ignoring
                 * case: "Model" would route past what we checked */
                if (k.len == strlen(f->name) && strncasecmp(k.p, f->name, k.len) == 0) {
                    sy_respond_errorf(r, SY_EBADREQ, f->name, "field '%.*s' differs from '%s' only in case",
                                      (int)k.len, k.p, f->name);
                    return -1;
                }
                continue;
            }
            if (vals[i].p) {
                /* parsers disagree on which duplicate wins: refuse to guess */
                sy_respond_errorf(r, SY_EBADREQ, f->name, "duplicate field '%s'", f->name);
                return -1;
            }
            if (!(f->types & (1 << v.type))) {
                sy_respond_errorf(r, SY_EBADFIELD, f->name, "invalid type for '%s': expected %s, got %s", f->name,
                                  f->expect, sy_jtype_name(v.type));
                return -1;
            }
            vals[i] = v;
            break;
        }
    }
    for (size_t i = 0; i < nf; i++) {
        if (fields[i].required && !vals[i].p) {
            sy_respond_errorf(r, SY_EMISSING, fields[i].name, "missing required parameter: '%s'", fields[i].name);
            return -1;
        }
    }
    return 0;
}

/* messages: a non-empty array of objects with a string role. */
static int check_messages(sy_req_t *r, const sy_jval_t *msgs, const sy_jval_t *stream_options)
{
    size_t pos = 0, i = 0;
    sy_jval_t m, role, iu;
    char param[48];
    while (sy_json_next_element(msgs, &pos, &m)) {
        snprintf(param, sizeof(param), "messages[%zu]", i);
        if (m.type != SY_JOBJECT) {
            sy_respond_errorf(r, SY_EBADFIELD, param, "invalid type for '%s': expected an object, got %s", param,
                              sy_jtype_name(m.type));
            return -1;
        }
        if (!sy_json_get(&m, "role", &role) || role.type != SY_JSTRING) {
            snprintf(param, sizeof(param), "messages[%zu].role", i);
            sy_respond_errorf(r, SY_EBADFIELD, param, "'%s' must be a string", param);
            return -1;
        }
        i++;
    }
    if (i == 0) {
        sy_respond_errorf(r, SY_EBADREQ, "messages", "'messages' must contain at least one message");
        return -1;
    }
    if (stream_options->p && stream_options->type == SY_JOBJECT && sy_json_get(stream_options, "include_usage", &iu) &&
        iu.type != SY_JBOOL && iu.type != SY_JNULL) {
        sy_respond_errorf(r, SY_EBADFIELD, "stream_options.include_usage",
                          "invalid type for 'stream_options.include_usage': expected a boolean, got %s",
                          sy_jtype_name(iu.type));
        return -1;
    }
    return 0;
}

/* Field order in every table: model first, then the required body field,
 * then stream and stream_options where the operation streams. */
enum { F_MODEL = 0, F_BODY = 1, F_STREAM = 2, F_STREAM_OPTIONS = 3 };

/* chat_fields ends with "user" then "metadata" (before the NULL), which
 * the routing rules and experiments are handed */
#define CHAT_USER (sizeof(chat_fields) / sizeof(chat_fields[0]) - 3)

/* user_at: where fields has "user" followed by "metadata", -1 none. */
static void forward(sy_req_t *r, const field_t *fields, const char *upstream_path, sy_op_t op, int streams,
                    int user_at)
{
    sy_jval_t doc, vals[MAX_FIELDS];
    char model[256];
    if (sy__api_read_object(r, NULL, &doc) < 0 || check_fields(r, &doc, fields, vals) < 0)
        return;
    if (op == SY_OP_CHAT && check_messages(r, &vals[F_BODY], &vals[F_STREAM_OPTIONS]) < 0)
        return;
    if (sy_json_string(&vals[F_MODEL], model, sizeof(model)) < 0) {
        sy_respond_errorf(r, SY_EBADREQ, "model", "'model' is longer than %zu bytes", sizeof(model) - 1);
        return;
    }
    sy_call_t c = {
        .route = r->route,
        .upstream_path = upstream_path,
        .model = model,
        .stream = streams && vals[F_STREAM].p && sy_json_true(&vals[F_STREAM]),
        .body = doc.p,
        .body_len = doc.len,
        .model_value = vals[F_MODEL],
        /* for an upstream of another kind: decoded and translated */
        .op = op,
        .decode = sy_api_openai_decode_valid, /* validated above */
        .covers = sy_api_openai_canon_covers,
        .ingress = &sy_ingress_openai,
    };
    if (user_at >= 0) { /* met on the walk above: not looked for again */
        c.user = vals[user_at];
        c.metadata = vals[user_at + 1];
        c.scanned = 1;
    }
    /* the body as received, whitespace around the object included */
    struct evbuffer *b = sy_req_body(r);
    c.body = (const char *)evbuffer_pullup(b, -1);
    c.body_len = evbuffer_get_length(b);
    sy_pipeline_forward(r, &c);
}

void sy_api_openai_chat(sy_req_t *r)
{
    forward(r, chat_fields, "/chat/completions", SY_OP_CHAT, 1, (int)CHAT_USER);
}

void sy_api_openai_completions(sy_req_t *r)
{
    forward(r, completion_fields, "/completions", SY_OP_GENERATE, 1, -1);
}

void sy_api_openai_embeddings(sy_req_t *r)
{
    forward(r, embedding_fields, "/embeddings", SY_OP_EMBED, 0, -1);
}

static void model_object(struct evbuffer *b, const char *id, long created)
{
    char esc[600];
    sy_json_escape(esc, sizeof(esc), id, strlen(id));
    evbuffer_add_printf(b, "{\"id\":\"%s\",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"switchyard\"}", esc,
                        created);
}


typedef struct list_ctx {
    struct evbuffer *b;
    long created;
    size_t n;
} list_ctx_t;

static void list_one(void *ud, const sy_model_entry_t *e)
{
    list_ctx_t *c = ud;
    if (c->n++)
        evbuffer_add(c->b, ",", 1);
    model_object(c->b, e->name, c->created);
}

/* GET /v1/models: every name the router resolves - the configured models,
 * then the models discovered at Ollama providers (router.h's order). */
void sy_api_openai_models(sy_req_t *r)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    list_ctx_t c = {b, (long)r->w->srv->started, 0};
    evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":[");
    const sy_disc_snap_t *disc = sy_discovery_acquire(r->w->srv->discovery);
    sy_router_list(r->w->srv->cfg, disc, list_one, &c);
    sy_disc_snap_release(disc);
    evbuffer_add_printf(b, "]}");
    sy_req_reply_buf(r, 200, "application/json", b);
    evbuffer_free(b);
}

void sy_api_openai_model(sy_req_t *r)
{
    const sy_config_t *cfg = r->w->srv->cfg;
    char id[512];
    const char *raw = r->path + strlen("/v1/models/");
    char *dec = evhttp_uridecode(raw, 0, NULL);
    snprintf(id, sizeof(id), "%s", dec ? dec : raw);
    free(dec);
    sy_route_t route;
    sy_error_t err;
    const sy_disc_snap_t *disc = sy_discovery_acquire(r->w->srv->discovery);
    int known = sy_config_find_model(cfg, id) || sy_router_resolve_with(cfg, disc, id, 0, &route, &err) == SY_OK;
    sy_disc_snap_release(disc);
    if (!known) {
        sy_respond_errorf(r, SY_ENOMODEL, "model", "The model `%.200s` does not exist", id);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    model_object(b, id, (long)r->w->srv->started);
    sy_req_reply_buf(r, 200, "application/json", b);
    evbuffer_free(b);
}
