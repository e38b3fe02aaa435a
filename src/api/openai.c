/*
 * openai.c - the OpenAI ingress: /v1/chat/completions, /v1/completions,
 * /v1/embeddings, /v1/models.
 *
 * A body is parsed once (json-c keeps NULs and 64-bit integers exact), its
 * fields' types are checked against a table per operation so a wrong type
 * is a 400 that names the field, and the call goes to the pipeline with the
 * client's own bytes. Fields the table does not name are carried through
 * untouched: the upstream is the judge of what it supports.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/log.h"
#include "pipeline/error.h"
#include "pipeline/pipeline.h"

/* type masks */
#define T_NULL (1 << json_type_null)
#define T_BOOL (1 << json_type_boolean)
#define T_DOUBLE (1 << json_type_double)
#define T_INT (1 << json_type_int)
#define T_OBJ (1 << json_type_object)
#define T_ARR (1 << json_type_array)
#define T_STR (1 << json_type_string)
#define T_NUM (T_DOUBLE | T_INT)

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
    {"user", T_STR | T_NULL, 0, "a string"},
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

/* Parse the body as one JSON object. On failure answers the request and
 * returns NULL. */
static json_object *parse_body(sy_req_t *r, const char **text, size_t *len)
{
    struct evbuffer *b = sy_req_body(r);
    size_t n = b ? evbuffer_get_length(b) : 0;
    const char *s = n ? (const char *)evbuffer_pullup(b, -1) : "";
    if (n == 0) {
        sy_respond_errorf(r, SY_EBADJSON, NULL, "the request body is empty; expected a JSON object");
        return NULL;
    }
    if (n > (size_t)INT32_MAX) {
        sy_respond_errorf(r, SY_ETOOLARGE, NULL, NULL);
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(256);
    if (!tok) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return NULL;
    }
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!o || jerr != json_tokener_success) {
        json_object_put(o);
        if (jerr == json_tokener_continue)
            sy_respond_errorf(r, SY_EBADJSON, NULL, "malformed JSON at byte %zu: unexpected end of input", n);
        else
            sy_respond_errorf(r, SY_EBADJSON, NULL, "malformed JSON at byte %zu: %s", end,
                              json_tokener_error_desc(jerr));
        return NULL;
    }
    while (end < n && (s[end] == ' ' || s[end] == '\n' || s[end] == '\r' || s[end] == '\t'))
        end++;
    if (end != n) {
        json_object_put(o);
        sy_respond_errorf(r, SY_EBADJSON, NULL, "malformed JSON at byte %zu: unexpected data after the value",
                          end);
        return NULL;
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        sy_respond_errorf(r, SY_EBADREQ, NULL, "the request body must be a JSON object");
        return NULL;
    }
    *text = s;
    *len = n;
    return o;
}

/* Check every named field's type; answers the request and returns -1 on the
 * first problem. */
static int check_fields(sy_req_t *r, json_object *o, const field_t *f)
{
    for (; f->name; f++) {
        json_object *v;
        if (!json_object_object_get_ex(o, f->name, &v)) {
            if (f->required) {
                sy_respond_errorf(r, SY_EMISSING, f->name, "missing required parameter: '%s'", f->name);
                return -1;
            }
            continue;
        }
        if (!(f->types & (1 << json_object_get_type(v)))) {
            sy_respond_errorf(r, SY_EBADFIELD, f->name, "invalid type for '%s': expected %s, got %s", f->name,
                              f->expect, json_type_to_name(json_object_get_type(v)));
            return -1;
        }
    }
    return 0;
}

static int check_messages(sy_req_t *r, json_object *o)
{
    json_object *msgs, *so, *iu;
    json_object_object_get_ex(o, "messages", &msgs);
    size_t n = json_object_array_length(msgs);
    if (n == 0) {
        sy_respond_errorf(r, SY_EBADREQ, "messages", "'messages' must contain at least one message");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i), *role;
        char param[48];
        snprintf(param, sizeof(param), "messages[%zu]", i);
        if (!json_object_is_type(m, json_type_object)) {
            sy_respond_errorf(r, SY_EBADFIELD, param, "invalid type for '%s': expected an object", param);
            return -1;
        }
        if (!json_object_object_get_ex(m, "role", &role) || !json_object_is_type(role, json_type_string)) {
            snprintf(param, sizeof(param), "messages[%zu].role", i);
            sy_respond_errorf(r, SY_EBADFIELD, param, "'%s' must be a string", param);
            return -1;
        }
    }
    if (json_object_object_get_ex(o, "stream_options", &so) && json_object_is_type(so, json_type_object) &&
        json_object_object_get_ex(so, "include_usage", &iu) && !json_object_is_type(iu, json_type_boolean) &&
        !json_object_is_type(iu, json_type_null)) {
        sy_respond_errorf(r, SY_EBADFIELD, "stream_options.include_usage",
                          "invalid type for 'stream_options.include_usage': expected a boolean");
        return -1;
    }
    return 0;
}

static void forward(sy_req_t *r, const field_t *fields, const char *upstream_path, int chat)
{
    const char *text;
    size_t len;
    json_object *o = parse_body(r, &text, &len), *v;
    if (!o)
        return;
    if (check_fields(r, o, fields) < 0 || (chat && check_messages(r, o) < 0)) {
        json_object_put(o);
        return;
    }
    sy_call_t c = {
        .route = r->route,
        .upstream_path = upstream_path,
        .body = text,
        .body_len = len,
        .json = o,
    };
    json_object_object_get_ex(o, "model", &v);
    c.model = json_object_get_string(v);
    c.stream = json_object_object_get_ex(o, "stream", &v) && json_object_get_boolean(v);
    sy_pipeline_forward(r, &c);
}

void sy_api_openai_chat(sy_req_t *r)
{
    forward(r, chat_fields, "/chat/completions", 1);
}

void sy_api_openai_completions(sy_req_t *r)
{
    forward(r, completion_fields, "/completions", 0);
}

void sy_api_openai_embeddings(sy_req_t *r)
{
    forward(r, embedding_fields, "/embeddings", 0);
}

static void model_object(struct evbuffer *b, const char *id, long created)
{
    char esc[600];
    sy_json_escape(esc, sizeof(esc), id, strlen(id));
    evbuffer_add_printf(b, "{\"id\":\"%s\",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"switchyard\"}", esc,
                        created);
}


void sy_api_openai_models(sy_req_t *r)
{
    const sy_config_t *cfg = r->w->srv->cfg;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < cfg->n_models; i++) {
        if (i)
            evbuffer_add(b, ",", 1);
        model_object(b, cfg->models[i].name, (long)r->w->srv->started);
    }
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
    if (!sy_config_find_model(cfg, id)) {
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
