/*
 * egress.c - dispatch to the egress adapter of a provider kind (see
 * egress.h), and the parser plumbing the adapters share.
 */
#include "providers/egress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

sy_err_t sy_egress_encode(sy_provider_type_t kind, const sy_creq_t *q, const char *upstream_model,
                          int64_t default_max_tokens, struct evbuffer *out, const char **path, sy_error_t *err)
{
    switch (kind) {
    case SY_PROVIDER_OPENAI:
        return sy__openai_encode(q, upstream_model, out, path, err);
    case SY_PROVIDER_OLLAMA:
        return sy__ollama_encode(q, upstream_model, out, path, err);
    case SY_PROVIDER_ANTHROPIC:
        return sy__anthropic_encode(q, upstream_model, default_max_tokens, out, path, err);
    }
    sy_error_set(err, SY_EINTERNAL, NULL, "unknown provider kind");
    return SY_EINTERNAL;
}

void sy_eparse_init(sy_eparse_t *p, sy_provider_type_t kind, sy_op_t op, int stream, sy_ev_cb cb, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->op = op;
    p->stream = stream;
    p->cb = cb;
    p->ud = ud;
    sy_sse_init(&p->sse, SY_EPARSE_MAX_EVENT);
    sy_ndjson_init(&p->lines, SY_EPARSE_MAX_EVENT);
    sy_arena_init(&p->scratch, 4 * SY_EPARSE_MAX_EVENT);
    for (int i = 0; i < SY_EPARSE_MAX_BLOCKS; i++)
        p->block_call[i] = -1;
    p->last_call_index = -1;
    sy_usage_init(&p->usage);
}

void sy_eparse_release(sy_eparse_t *p)
{
    sy_sse_release(&p->sse);
    sy_ndjson_release(&p->lines);
    sy_arena_release(&p->scratch);
}

int sy_eparse_feed(sy_eparse_t *p, const char *data, size_t len)
{
    switch (p->kind) {
    case SY_PROVIDER_OPENAI:
        return sy__openai_feed(p, data, len);
    case SY_PROVIDER_OLLAMA:
        return sy__ollama_feed(p, data, len);
    case SY_PROVIDER_ANTHROPIC:
        return sy__anthropic_feed(p, data, len);
    }
    return -1;
}

int sy_eparse_end(sy_eparse_t *p)
{
    switch (p->kind) {
    case SY_PROVIDER_OPENAI:
        return sy__openai_end(p);
    case SY_PROVIDER_OLLAMA:
        return sy__ollama_end(p);
    case SY_PROVIDER_ANTHROPIC:
        return sy__anthropic_end(p);
    }
    return -1;
}

int sy_eparse_whole(sy_eparse_t *p, const char *body, size_t len)
{
    switch (p->kind) {
    case SY_PROVIDER_OPENAI:
        return sy__openai_whole(p, body, len);
    case SY_PROVIDER_OLLAMA:
        return sy__ollama_whole(p, body, len);
    case SY_PROVIDER_ANTHROPIC:
        return sy__anthropic_whole(p, body, len);
    }
    return -1;
}

sy_err_t sy_egress_parse_embed(sy_provider_type_t kind, const char *body, size_t len, size_t n_inputs,
                               sy_arena_t *a, sy_embed_t *out, sy_error_t *err)
{
    switch (kind) {
    case SY_PROVIDER_OPENAI:
        return sy__openai_embed(body, len, n_inputs, a, out, err);
    case SY_PROVIDER_OLLAMA:
        return sy__ollama_embed(body, len, n_inputs, a, out, err);
    case SY_PROVIDER_ANTHROPIC:
        break;
    }
    sy_error_set(err, SY_EUNSUPPORTED, NULL, "this provider has no embeddings");
    return SY_EUNSUPPORTED;
}

int sy__eparse_emit(sy_eparse_t *p, const sy_ev_t *ev)
{
    if (ev->kind == SY_EV_FINISH)
        p->finished = 1;
    return p->cb(p->ud, ev) ? 1 : 0;
}

int sy__eparse_start(sy_eparse_t *p, sy_str_t id)
{
    if (p->started)
        return 0;
    p->started = 1;
    sy_ev_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_START;
    ev.id = id;
    return sy__eparse_emit(p, &ev);
}

int sy__eparse_fail(sy_eparse_t *p, const char *fmt, ...)
{
    char msg[sizeof(p->err.message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sy_error_set(&p->err, SY_EUPPROTO, NULL, "%s", msg);
    return -1;
}

int sy__eparse_send(sy_eparse_t *p, const sy_ev_t *ev)
{
    int rc = sy__eparse_start(p, SY_STR_NULL);
    return rc ? rc : sy__eparse_emit(p, ev);
}

int sy__eparse_str(sy_eparse_t *p, const sy_jval_t *v, const char *what, sy_str_t *out)
{
    if (v->type != SY_JSTRING)
        return sy__eparse_fail(p, "the upstream's %s is not a string", what);
    if (sy_canon_str(&p->scratch, v, out) < 0) {
        sy_error_set(&p->err, SY_ENOMEM, NULL, "out of memory reading the upstream's %s", what);
        return -1;
    }
    return 0;
}

int sy__eparse_split_rc(sy_eparse_t *p, int rc)
{
    if (rc == 0 || rc == 1 || rc == -1)
        return rc;
    if (rc == SY_ETOOLARGE)
        return sy__eparse_fail(p, "the upstream's stream has an event or line larger than %u bytes",
                               SY_EPARSE_MAX_EVENT);
    sy_error_set(&p->err, SY_ENOMEM, NULL, "out of memory reading the upstream's stream");
    return -1;
}

int sy__eparse_object(sy_eparse_t *p, const char *body, size_t len, sy_jval_t *obj)
{
    size_t off;
    const char *msg;
    if (sy_json_validate(body, len, &off, &msg) < 0)
        return sy__eparse_fail(p, "the upstream's answer is not valid JSON (%s at byte %zu)", msg, off);
    *obj = sy_json_value(body, len);
    if (obj->type != SY_JOBJECT)
        return sy__eparse_fail(p, "the upstream's answer is not a JSON object");
    sy_arena_reset(&p->scratch);
    return 0;
}
