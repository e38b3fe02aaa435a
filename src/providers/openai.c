/*
 * openai.c - the OpenAI-compatible egress adapter: a canonical request
 * written as a Chat Completions body (POST /chat/completions, or
 * /embeddings), and the answer - an SSE stream of chat.completion.chunk
 * objects or one chat.completion object - read back as canonical events
 * (see egress.h). "OpenAI-compatible" covers OpenAI itself and the servers
 * that copy its API (vLLM, llama.cpp, LM Studio, Ollama's /v1, DeepSeek,
 * OpenRouter...), so the parser takes the variations they are known for.
 *
 * Encoding. A GENERATE request (a bare prompt, /api/generate or
 * /v1/completions) is sent as a chat too: its optional system message and
 * its one user message are already messages. Chat has no fill-in-the-middle,
 * so a suffix is refused. The canonical form bends to what the API accepts:
 *
 *   - A message's text parts go as one content string (joined with a blank
 *     line); a user message with images goes as a parts array, an inline
 *     image as a data: URL (its media type guessed from the bytes when the
 *     client gave none - Ollama's images come without one).
 *   - Images are allowed in user messages only. Images a tool returned
 *     (Anthropic tool_result blocks) are sent in a user message right after
 *     the run of tool messages; images anywhere else are refused.
 *   - Every assistant tool call needs an id and every tool message the id
 *     it answers. A call without one (Ollama's) gets "call_<msg>_<k>", and
 *     a tool result without one answers the first call of the latest
 *     assistant turn that no result has answered yet, preferring a call to
 *     the tool it names - the same pairing anthropic.c makes.
 *   - Reasoning given back in the history (Ollama "thinking") is not sent:
 *     OpenAI has no such input field and some servers refuse one.
 *   - tool_choice and parallel_tool_calls go only with tools (OpenAI
 *     refuses them alone); top_k and the Ollama-only fields (num_ctx,
 *     keep_alive, think, options) have no field here and are dropped.
 *   - A stream asks for the usage chunk (stream_options.include_usage)
 *     whatever the client asked: the gateway counts tokens for every call.
 *
 * Parsing. Each SSE event's data is one chunk: the first chunk with an id
 * gives START; delta.content is text, delta.reasoning_content (or
 * delta.reasoning) thinking; delta.tool_calls carries calls in pieces keyed
 * by the upstream's index, mapped to ours (0, 1, ... in order of first
 * appearance, p->call_map holding the upstream index of each of ours); a
 * finish_reason gives FINISH; usage - also in a last chunk with no choices -
 * gives USAGE (after the finish, choices are passed over: only usage may
 * follow); "data: [DONE]" ends the stream. A stream with a finish
 * reason but no [DONE] ended cleanly too (several servers leave it out); one
 * with neither was cut. An answer that has tool calls finishes with
 * SY_FINISH_TOOL_CALLS even when the server says "stop" (some do).
 */
#include <event2/buffer.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"
#include "core/jsonw.h"
#include "providers/egress.h"

/* How protocol errors name the upstream. */
#define UP "OpenAI-compatible upstream: "

/* ---- encoding: small helpers --------------------------------------------- */

/* Whether args is empty (meaning {}) or the text of one JSON object. */
static int args_ok(sy_str_t args)
{
    size_t off;
    const char *msg;
    if (sy_str_blank(args))
        return 1;
    if (sy_json_validate(args.p, args.len, &off, &msg) < 0)
        return 0;
    return sy_json_value(args.p, args.len).type == SY_JOBJECT;
}

static size_t count_images(const sy_msg_t *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_parts; i++)
        n += m->parts[i].kind == SY_PART_IMAGE;
    return n;
}

/* The text parts of m as one JSON string, non-empty ones joined with a
 * blank line. */
static void write_joined_text(struct evbuffer *b, const sy_msg_t *m)
{
    int any = 0;
    SY_JW_LIT(b, "\"");
    for (size_t i = 0; i < m->n_parts; i++) {
        const sy_part_t *pt = &m->parts[i];
        if (pt->kind != SY_PART_TEXT || pt->text.len == 0)
            continue;
        if (any)
            SY_JW_LIT(b, "\\n\\n");
        sy_jw_escaped(b, pt->text.p, pt->text.len);
        any = 1;
    }
    SY_JW_LIT(b, "\"");
}

static int has_text(const sy_msg_t *m)
{
    for (size_t i = 0; i < m->n_parts; i++)
        if (m->parts[i].kind == SY_PART_TEXT && m->parts[i].text.len)
            return 1;
    return 0;
}

/* {"type":"image_url","image_url":{"url":...}}: a URL as given (http(s) or
 * an undecoded data: URL), inline bytes as a data: URL. */
static void write_image_part(struct evbuffer *b, const sy_part_t *pt)
{
    SY_JW_LIT(b, "{\"type\":\"image_url\",\"image_url\":{\"url\":");
    if (pt->url.len) {
        sy_jw_str(b, pt->url.p, pt->url.len);
    } else {
        const char *media = pt->media_type.len ? NULL : sy_canon_image_media(pt->data);
        SY_JW_LIT(b, "\"data:");
        if (media)
            sy_jw_escaped(b, media, strlen(media));
        else
            sy_jw_escaped(b, pt->media_type.p, pt->media_type.len);
        SY_JW_LIT(b, ";base64,");
        sy_jw_escaped(b, pt->data.p, pt->data.len);
        SY_JW_LIT(b, "\"");
    }
    SY_JW_LIT(b, "}}");
}

/* A user message's parts array: texts (empty ones left out) and images, in
 * order; with text_too 0, only the images. */
static void write_parts(struct evbuffer *b, const sy_msg_t *m, int text_too, int *first)
{
    for (size_t i = 0; i < m->n_parts; i++) {
        const sy_part_t *pt = &m->parts[i];
        if (pt->kind == SY_PART_TEXT && (!text_too || pt->text.len == 0))
            continue;
        if (!*first)
            SY_JW_LIT(b, ",");
        *first = 0;
        if (pt->kind == SY_PART_TEXT) {
            SY_JW_LIT(b, "{\"type\":\"text\",\"text\":");
            sy_jw_str(b, pt->text.p, pt->text.len);
            SY_JW_LIT(b, "}");
        } else {
            write_image_part(b, pt);
        }
    }
}

/* ---- encoding: the conversation ----------------------------------------- */

typedef struct enc {
    const sy_creq_t *q;
    struct evbuffer *b;
    sy_error_t *err;
    size_t *base;            /* per message: the slot of its first call in answered[] */
    unsigned char *answered; /* per assistant call: a tool result answered it */
} enc_t;

/* The id of call k of message mi: its own, or call_<mi>_<k>. */
static void write_call_id(struct evbuffer *b, const sy_msg_t *m, size_t mi, size_t k)
{
    if (m->calls[k].id.len)
        sy_jw_str(b, m->calls[k].id.p, m->calls[k].id.len);
    else
        evbuffer_add_printf(b, "\"call_%zu_%zu\"", mi, k);
}

static sy_err_t write_calls(enc_t *e, size_t mi)
{
    const sy_msg_t *m = &e->q->msgs[mi];
    struct evbuffer *b = e->b;
    SY_JW_LIT(b, ",\"tool_calls\":[");
    for (size_t k = 0; k < m->n_calls; k++) {
        const sy_tool_call_t *c = &m->calls[k];
        if (!args_ok(c->args)) {
            char p[96];
            snprintf(p, sizeof(p), "messages[%zu].tool_calls[%zu].function.arguments", mi, k);
            return sy_error_fail(e->err, SY_EBADREQ, p, "%s: the arguments must be a JSON object", p);
        }
        if (k)
            SY_JW_LIT(b, ",");
        SY_JW_LIT(b, "{\"id\":");
        write_call_id(b, m, mi, k);
        SY_JW_LIT(b, ",\"type\":\"function\",\"function\":{\"name\":");
        sy_jw_str(b, c->name.p, c->name.len);
        SY_JW_LIT(b, ",\"arguments\":");
        if (sy_str_blank(c->args))
            SY_JW_LIT(b, "\"{}\"");
        else
            sy_jw_str(b, c->args.p, c->args.len);
        SY_JW_LIT(b, "}}");
    }
    SY_JW_LIT(b, "]");
    return SY_OK;
}

/*
 * The tool_call_id of tool message ti. One it carries is sent as it is (and
 * marks its call answered); without one, the latest assistant turn before
 * it is searched for the first unanswered call - to the tool it names, if
 * it names one and there is such a call, else any. With no call left, the
 * tool's name stands in.
 */
static void write_result_id(enc_t *e, size_t ti)
{
    const sy_msg_t *t = &e->q->msgs[ti];
    struct evbuffer *b = e->b;
    size_t ai = ti;
    while (ai-- > 0 && e->q->msgs[ai].role != SY_ROLE_ASSISTANT)
        ;
    const sy_msg_t *a = ai < ti ? &e->q->msgs[ai] : NULL;
    /* no call anywhere in the conversation: nothing was allocated */
    unsigned char *ans = a && a->n_calls ? e->answered + e->base[ai] : NULL;
    if (t->tool_call_id.len) {
        for (size_t k = 0; a && k < a->n_calls; k++)
            if (!ans[k] && sy_str_eq(a->calls[k].id, t->tool_call_id)) {
                ans[k] = 1;
                break;
            }
        sy_jw_str(b, t->tool_call_id.p, t->tool_call_id.len);
        return;
    }
    size_t pick = SIZE_MAX;
    for (size_t k = 0; a && k < a->n_calls && pick == SIZE_MAX; k++)
        if (!ans[k] && t->tool_name.len && sy_str_eq(a->calls[k].name, t->tool_name))
            pick = k;
    for (size_t k = 0; a && k < a->n_calls && pick == SIZE_MAX; k++)
        if (!ans[k])
            pick = k;
    if (pick != SIZE_MAX) {
        ans[pick] = 1;
        write_call_id(b, a, ai, pick);
    } else if (t->tool_name.len) {
        sy_jw_str(b, t->tool_name.p, t->tool_name.len);
    } else {
        SY_JW_LIT(b, "\"call_unknown\"");
    }
}

static sy_err_t write_message(enc_t *e, size_t i, int *first)
{
    const sy_msg_t *m = &e->q->msgs[i];
    struct evbuffer *b = e->b;
    size_t n_img = count_images(m);
    char p[64];

    if (n_img && m->role != SY_ROLE_USER && m->role != SY_ROLE_TOOL) {
        snprintf(p, sizeof(p), "messages[%zu].content", i);
        return sy_error_fail(e->err, SY_EBADREQ, p, "%s: OpenAI-compatible upstreams take images only in user messages",
                             p);
    }
    if (!*first)
        SY_JW_LIT(b, ",");
    *first = 0;
    SY_JW_LIT(b, "{\"role\":");
    sy_jw_cstr(b, sy_role_name(m->role));
    SY_JW_LIT(b, ",\"content\":");
    if (m->role == SY_ROLE_USER && n_img) {
        int f = 1;
        SY_JW_LIT(b, "[");
        write_parts(b, m, 1, &f);
        SY_JW_LIT(b, "]");
    } else if (m->role == SY_ROLE_ASSISTANT && m->n_calls && !has_text(m)) {
        SY_JW_LIT(b, "null");
    } else {
        write_joined_text(b, m);
    }
    if (m->role == SY_ROLE_ASSISTANT && m->n_calls) {
        sy_err_t rc = write_calls(e, i);
        if (rc)
            return rc;
    }
    if (m->role == SY_ROLE_TOOL) {
        SY_JW_LIT(b, ",\"tool_call_id\":");
        write_result_id(e, i);
    }
    SY_JW_LIT(b, "}");
    return SY_OK;
}

/* After a run of tool messages [from, to): the images they returned, as one
 * user message (a tool message cannot hold images). */
static void write_tool_images(enc_t *e, size_t from, size_t to, int *first)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++)
        n += count_images(&e->q->msgs[i]);
    if (!n)
        return;
    int f = 1;
    SY_JW_LIT(e->b, ",{\"role\":\"user\",\"content\":[");
    for (size_t i = from; i < to; i++)
        write_parts(e->b, &e->q->msgs[i], 0, &f);
    SY_JW_LIT(e->b, "]}");
    *first = 0;
}

static sy_err_t write_messages(enc_t *e)
{
    const sy_creq_t *q = e->q;
    int first = 1;
    sy_err_t rc;
    SY_JW_LIT(e->b, ",\"messages\":[");
    for (size_t i = 0; i < q->n_msgs; i++) {
        if ((rc = write_message(e, i, &first)))
            return rc;
        if (q->msgs[i].role == SY_ROLE_TOOL && (i + 1 == q->n_msgs || q->msgs[i + 1].role != SY_ROLE_TOOL)) {
            size_t from = i;
            while (from > 0 && q->msgs[from - 1].role == SY_ROLE_TOOL)
                from--;
            write_tool_images(e, from, i + 1, &first);
        }
    }
    SY_JW_LIT(e->b, "]");
    return SY_OK;
}

/* ---- encoding: the rest of the request ------------------------------------ */

static void write_tools(const sy_creq_t *q, struct evbuffer *b)
{
    SY_JW_LIT(b, ",\"tools\":[");
    for (size_t i = 0; i < q->n_tools; i++) {
        const sy_tool_t *t = &q->tools[i];
        if (i)
            SY_JW_LIT(b, ",");
        SY_JW_LIT(b, "{\"type\":\"function\",\"function\":{\"name\":");
        sy_jw_str(b, t->name.p, t->name.len);
        if (t->description.len) {
            SY_JW_LIT(b, ",\"description\":");
            sy_jw_str(b, t->description.p, t->description.len);
        }
        if (t->parameters.p) {
            SY_JW_LIT(b, ",\"parameters\":");
            sy_jw_raw(b, t->parameters.p, t->parameters.len);
        }
        SY_JW_LIT(b, "}}");
    }
    SY_JW_LIT(b, "]");
    switch (q->tool_choice) {
    case SY_TOOLS_DEFAULT:
        break;
    case SY_TOOLS_AUTO:
        SY_JW_LIT(b, ",\"tool_choice\":\"auto\"");
        break;
    case SY_TOOLS_NONE:
        SY_JW_LIT(b, ",\"tool_choice\":\"none\"");
        break;
    case SY_TOOLS_REQUIRED:
        SY_JW_LIT(b, ",\"tool_choice\":\"required\"");
        break;
    case SY_TOOLS_NAMED:
        SY_JW_LIT(b, ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":");
        sy_jw_str(b, q->tool_choice_name.p, q->tool_choice_name.len);
        SY_JW_LIT(b, "}}");
        break;
    }
    if (q->parallel_tool_calls == 0)
        SY_JW_LIT(b, ",\"parallel_tool_calls\":false");
    else if (q->parallel_tool_calls == 1)
        SY_JW_LIT(b, ",\"parallel_tool_calls\":true");
}

static void write_format(const sy_creq_t *q, struct evbuffer *b)
{
    if (q->format == SY_FORMAT_SCHEMA && q->format_schema.p) {
        SY_JW_LIT(b, ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":");
        if (q->format_name.len)
            sy_jw_str(b, q->format_name.p, q->format_name.len);
        else
            SY_JW_LIT(b, "\"response\"");
        SY_JW_LIT(b, ",\"schema\":");
        sy_jw_raw(b, q->format_schema.p, q->format_schema.len);
        SY_JW_LIT(b, "}}");
    } else if (q->format != SY_FORMAT_TEXT) {
        SY_JW_LIT(b, ",\"response_format\":{\"type\":\"json_object\"}");
    }
}

static sy_err_t encode_embed(const sy_creq_t *q, const char *model, struct evbuffer *out, const char **path)
{
    SY_JW_LIT(out, "{\"model\":");
    sy_jw_cstr(out, model);
    SY_JW_LIT(out, ",\"input\":[");
    for (size_t i = 0; i < q->n_inputs; i++) {
        if (i)
            SY_JW_LIT(out, ",");
        sy_jw_str(out, q->inputs[i].p, q->inputs[i].len);
    }
    SY_JW_LIT(out, "],\"encoding_format\":\"float\"");
    if (q->dimensions > 0) {
        SY_JW_LIT(out, ",\"dimensions\":");
        sy_jw_int(out, q->dimensions);
    }
    if (q->user.len) {
        SY_JW_LIT(out, ",\"user\":");
        sy_jw_str(out, q->user.p, q->user.len);
    }
    SY_JW_LIT(out, "}");
    *path = "/embeddings";
    return SY_OK;
}

sy_err_t sy__openai_encode(const sy_creq_t *q, const char *model, struct evbuffer *out, const char **path,
                           sy_error_t *err)
{
    enc_t e = {.q = q, .b = out, .err = err};
    size_t n_calls = 0;
    sy_err_t rc = SY_OK;

    if (q->op == SY_OP_EMBED)
        return encode_embed(q, model, out, path);
    if (q->suffix.len)
        return sy_error_fail(err, SY_EBADREQ, "suffix",
                             "suffix: OpenAI-compatible upstreams are sent a chat, which has no suffix");
    if (q->n_msgs && !(e.base = calloc(q->n_msgs, sizeof(*e.base))))
        return sy_error_fail(err, SY_ENOMEM, NULL, "out of memory encoding the request");
    for (size_t i = 0; i < q->n_msgs; i++) {
        e.base[i] = n_calls;
        n_calls += q->msgs[i].role == SY_ROLE_ASSISTANT ? q->msgs[i].n_calls : 0;
    }
    if (n_calls && !(e.answered = calloc(n_calls, 1))) {
        rc = sy_error_fail(err, SY_ENOMEM, NULL, "out of memory encoding the request");
        goto out;
    }

    SY_JW_LIT(out, "{\"model\":");
    sy_jw_cstr(out, model);
    if ((rc = write_messages(&e)))
        goto out;
    if (q->n_tools)
        write_tools(q, out);
    static const char *const knames[] = {",\"temperature\":", ",\"top_p\":", ",\"presence_penalty\":",
                                         ",\"frequency_penalty\":"};
    const sy_jval_t *kvals[] = {&q->temperature, &q->top_p, &q->presence_penalty, &q->frequency_penalty};
    for (size_t i = 0; i < 4; i++)
        if (kvals[i]->p) {
            sy_jw_raw(out, knames[i], strlen(knames[i]));
            sy_jw_raw(out, kvals[i]->p, kvals[i]->len);
        }
    if (q->max_tokens >= 0) {
        SY_JW_LIT(out, ",\"max_tokens\":");
        sy_jw_int(out, q->max_tokens);
    }
    if (q->n_stop) {
        SY_JW_LIT(out, ",\"stop\":[");
        for (size_t i = 0; i < q->n_stop; i++) {
            if (i)
                SY_JW_LIT(out, ",");
            sy_jw_str(out, q->stop[i].p, q->stop[i].len);
        }
        SY_JW_LIT(out, "]");
    }
    if (q->has_seed) {
        SY_JW_LIT(out, ",\"seed\":");
        sy_jw_int(out, q->seed);
    }
    write_format(q, out);
    if (q->user.len) {
        SY_JW_LIT(out, ",\"user\":");
        sy_jw_str(out, q->user.p, q->user.len);
    }
    if (q->stream)
        SY_JW_LIT(out, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    SY_JW_LIT(out, "}");
    *path = "/chat/completions";
out:
    free(e.base);
    free(e.answered);
    return rc;
}

/* ---- parsing: helpers ----------------------------------------------------- */

static int is_str(const sy_jval_t *v, const char *lit)
{
    size_t n = strlen(lit);
    return v->p && v->type == SY_JSTRING && v->len == n + 2 && memcmp(v->p + 1, lit, n) == 0;
}

/* A non-negative integer member of obj into *out (left alone otherwise). */
static int get_count(const sy_jval_t *obj, const char *name, int64_t *out)
{
    sy_jval_t v;
    int64_t x;
    if (obj->p && obj->type == SY_JOBJECT && sy_json_get(obj, name, &v) && v.type == SY_JINT &&
        sy_json_int(&v, &x) == 0 && x >= 0) {
        *out = x;
        return 1;
    }
    return 0;
}

/* usage: prompt_tokens, completion_tokens and the cached part of the prompt
 * (prompt_tokens_details.cached_tokens; DeepSeek's prompt_cache_hit_tokens).
 * Emits USAGE when it gives any count. */
static int on_usage(sy_eparse_t *p, const sy_jval_t *u)
{
    sy_ev_t ev;
    sy_jval_t d;
    if (!u->p || u->type != SY_JOBJECT)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_USAGE;
    sy_usage_init(&ev.usage);
    int any = get_count(u, "prompt_tokens", &ev.usage.input_tokens);
    any |= get_count(u, "completion_tokens", &ev.usage.output_tokens);
    if (!(sy_json_get(u, "prompt_tokens_details", &d) && get_count(&d, "cached_tokens", &ev.usage.cache_read_tokens)))
        get_count(u, "prompt_cache_hit_tokens", &ev.usage.cache_read_tokens);
    any |= ev.usage.cache_read_tokens >= 0;
    if (!any)
        return 0;
    sy_usage_merge(&p->usage, &ev.usage);
    return sy__eparse_send(p, &ev);
}

/*
 * An error the upstream reported with a 2xx status: {"error":{"message",
 * "type","code"}} (OpenAI, vLLM), {"error":"text"}, or an "event: error"
 * whose data is any object. Always -1, p->err the upstream's message. A
 * numeric code that is an HTTP status (vLLM sends one) is kept, so the
 * client gets the kind of error the upstream meant.
 */
static int on_error(sy_eparse_t *p, const sy_jval_t *obj)
{
    static const char *const names[] = {"message", "type", "code"};
    sy_jval_t e, f[3] = {{NULL, 0, SY_JNULL}, {NULL, 0, SY_JNULL}, {NULL, 0, SY_JNULL}};
    sy_str_t text = SY_STR_NULL;
    int64_t code;
    if (!sy_json_get(obj, "error", &e))
        e = *obj;
    if (e.type == SY_JSTRING) {
        f[0] = e;
    } else if (e.type == SY_JOBJECT) {
        sy_json_members(&e, names, f, 3, SY_JSON_NULL_ABSENT);
    }
    for (size_t i = 0; i < 2 && !text.len; i++)
        if (f[i].p && f[i].type == SY_JSTRING && sy_canon_str(&p->scratch, &f[i], &text) < 0)
            text = SY_STR_NULL;
    if (text.len)
        sy_error_set(&p->err, SY_EUPSTATUS, NULL, "%.*s", (int)(text.len > 400 ? 400 : text.len), text.p);
    else
        sy_error_set(&p->err, SY_EUPSTATUS, NULL, "the upstream reported an error");
    if (f[2].p && f[2].type == SY_JINT && sy_json_int(&f[2], &code) == 0 && code >= 400 && code <= 599)
        p->err.status = (int)code;
    else if (is_str(&f[2], "rate_limit_exceeded") || is_str(&f[1], "rate_limit_error"))
        p->err.status = 429;
    return -1;
}

/* FINISH, once: reason is the upstream's word (NULL: a plain stop). An
 * answer with tool calls ends in tool_calls, whatever the server said. */
static int finish(sy_eparse_t *p, const sy_jval_t *reason)
{
    sy_ev_t ev;
    if (p->finished)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_FINISH;
    ev.finish = SY_FINISH_STOP;
    if (reason && reason->p && reason->type == SY_JSTRING) {
        sy_str_t s;
        if (sy__eparse_str(p, reason, "finish_reason", &s) < 0)
            return -1;
        ev.finish = sy_finish_from_openai(s.p, s.len);
        if (ev.finish == SY_FINISH_NONE)
            ev.finish = SY_FINISH_STOP;
    }
    if (ev.finish == SY_FINISH_STOP && p->n_calls > 0)
        ev.finish = SY_FINISH_TOOL_CALLS;
    return sy__eparse_send(p, &ev);
}

/* Text or thinking v as events: a string, or an array of parts whose
 * "text" strings are taken in order (Mistral answers content that way);
 * anything else is nothing. */
static int on_text(sy_eparse_t *p, const sy_jval_t *v, sy_ev_kind_t kind, const char *what)
{
    sy_ev_t ev;
    if (v->p && v->type == SY_JARRAY) {
        size_t pos = 0;
        sy_jval_t part, t;
        int rc;
        while (sy_json_next_element(v, &pos, &part))
            if (part.type == SY_JOBJECT && sy_json_get(&part, "text", &t) && (rc = on_text(p, &t, kind, what)))
                return rc;
        return 0;
    }
    if (!v->p || v->type != SY_JSTRING || v->len <= 2)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    if (sy__eparse_str(p, v, what, &ev.text) < 0)
        return -1;
    return ev.text.len ? sy__eparse_send(p, &ev) : 0;
}

/*
 * Our index for a piece of tool call whose upstream index is key (the
 * upstream's tool_calls[].index; pieces without one continue the latest
 * call, or open a call when they carry an id). A key met for the first time
 * is the next of ours. Returns it, or -1 with p->err set past the bound.
 */
static int call_index(sy_eparse_t *p, const sy_jval_t *index, int has_id)
{
    int64_t key;
    if (index->p && index->type == SY_JINT && sy_json_int(index, &key) == 0 && key >= 0 && key < INT32_MAX) {
        /* given */
    } else if (!has_id && p->n_call_map > 0) {
        key = p->last_call_index;
    } else {
        key = (int64_t)INT32_MAX - p->n_call_map; /* an index of its own, past any real one */
    }
    p->last_call_index = (int)key;
    for (int i = 0; i < p->n_call_map; i++)
        if (p->call_map[i] == (int)key)
            return i;
    if (p->n_call_map >= SY_CRESP_MAX_CALLS)
        return sy__eparse_fail(p, UP "more than %d tool calls", SY_CRESP_MAX_CALLS);
    p->call_map[p->n_call_map] = (int)key;
    p->n_calls = p->n_call_map + 1;
    return p->n_call_map++;
}

/*
 * One element of tool_calls: in a stream a piece (the first with id and
 * name, then argument fragments), in a whole answer a whole call (its own
 * index: calls come in order). arguments is a string holding JSON text; a
 * few servers send the object itself, taken as its text.
 */
static int on_call(sy_eparse_t *p, const sy_jval_t *tc, int whole)
{
    static const char *const names[] = {"index", "id", "function"};
    static const char *const fnames[] = {"name", "arguments"};
    sy_jval_t f[3], fn[2];
    sy_ev_t ev;
    if (tc->type != SY_JOBJECT)
        return sy__eparse_fail(p, UP "a tool call is not an object");
    sy_json_members(tc, names, f, 3, SY_JSON_NULL_ABSENT);
    fn[0].p = fn[1].p = NULL;
    if (f[2].p) {
        if (f[2].type != SY_JOBJECT)
            return sy__eparse_fail(p, UP "tool call function is not an object");
        sy_json_members(&f[2], fnames, fn, 2, SY_JSON_NULL_ABSENT);
    }
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_TOOL_CALL;
    if ((f[1].p && sy__eparse_str(p, &f[1], "tool call id", &ev.id) < 0) ||
        (fn[0].p && sy__eparse_str(p, &fn[0], "tool call name", &ev.name) < 0))
        return -1;
    if (fn[1].p) {
        if (fn[1].type == SY_JOBJECT)
            ev.args = (sy_str_t){fn[1].p, fn[1].len};
        else if (sy__eparse_str(p, &fn[1], "tool call arguments", &ev.args) < 0)
            return -1;
    }
    if (whole) {
        if (p->n_calls >= SY_CRESP_MAX_CALLS)
            return sy__eparse_fail(p, UP "more than %d tool calls", SY_CRESP_MAX_CALLS);
        if (!ev.name.len)
            return sy__eparse_fail(p, UP "a tool call without a name");
        ev.index = p->n_calls++;
        return sy__eparse_send(p, &ev);
    }
    int before = p->n_call_map;
    if ((ev.index = call_index(p, &f[0], ev.id.len > 0)) < 0)
        return -1;
    if (ev.index < before && !ev.id.len && !ev.name.len && !ev.args.len)
        return 0; /* nothing new */
    return sy__eparse_send(p, &ev);
}

/* A choice's delta (stream) or message (whole): thinking, text, tool calls. */
static int on_message(sy_eparse_t *p, const sy_jval_t *m, int whole)
{
    static const char *const names[] = {"reasoning_content", "reasoning", "content", "refusal", "tool_calls"};
    enum { M_RC, M_REASONING, M_CONTENT, M_REFUSAL, M_CALLS };
    sy_jval_t f[5], tc;
    size_t pos = 0;
    int rc;
    sy_json_members(m, names, f, 5, SY_JSON_NULL_ABSENT);
    sy_jval_t *think = f[M_RC].p && f[M_RC].type == SY_JSTRING ? &f[M_RC] : &f[M_REASONING];
    if ((rc = on_text(p, think, SY_EV_THINKING, "reasoning")) ||
        (rc = on_text(p, &f[M_CONTENT], SY_EV_TEXT, "content")))
        return rc;
    /* a refusal is the answer's text: the client would see nothing else */
    if ((rc = on_text(p, &f[M_REFUSAL], SY_EV_TEXT, "refusal")))
        return rc;
    if (!f[M_CALLS].p)
        return 0;
    if (f[M_CALLS].type != SY_JARRAY)
        return sy__eparse_fail(p, UP "tool_calls is not an array");
    while (sy_json_next_element(&f[M_CALLS], &pos, &tc))
        if ((rc = on_call(p, &tc, whole)))
            return rc;
    return 0;
}

/* The choice this parser follows: index 0 (or the first, without indexes);
 * n > 1 is never asked for. Returns 1 and sets *choice, or 0. */
static int first_choice(const sy_jval_t *choices, sy_jval_t *choice)
{
    size_t pos = 0;
    sy_jval_t c, idx;
    while (sy_json_next_element(choices, &pos, &c)) {
        if (c.type != SY_JOBJECT)
            continue;
        if (sy_json_get(&c, "index", &idx) && idx.type == SY_JINT && !(idx.len == 1 && idx.p[0] == '0'))
            continue;
        *choice = c;
        return 1;
    }
    return 0;
}

/* One chunk (stream) or the whole chat.completion object. */
static int on_object(sy_eparse_t *p, const sy_jval_t *obj, int whole)
{
    static const char *const names[] = {"id", "choices", "usage", "error"};
    enum { O_ID, O_CHOICES, O_USAGE, O_ERROR };
    static const char *const cnames[] = {"delta", "message", "finish_reason"};
    sy_jval_t f[4], c, cf[3];
    int rc;
    sy_json_members(obj, names, f, 4, SY_JSON_NULL_ABSENT);
    if (f[O_ERROR].p)
        return on_error(p, obj);
    if (whole && (!f[O_CHOICES].p || f[O_CHOICES].type != SY_JARRAY))
        return sy__eparse_fail(p, UP "answer without a choices array");
    if (f[O_ID].p && f[O_ID].type == SY_JSTRING && f[O_ID].len > 2 && !p->started) {
        sy_str_t id;
        if (sy__eparse_str(p, &f[O_ID], "id", &id) < 0)
            return -1;
        if ((rc = sy__eparse_start(p, id)))
            return rc;
    }
    if (f[O_CHOICES].p && f[O_CHOICES].type != SY_JARRAY)
        return sy__eparse_fail(p, UP "choices is not an array");
    if (f[O_CHOICES].p && p->finished) {
        /* the answer is over: only its usage may follow */
    } else if (f[O_CHOICES].p && first_choice(&f[O_CHOICES], &c)) {
        sy_json_members(&c, cnames, cf, 3, SY_JSON_NULL_ABSENT);
        sy_jval_t *m = whole ? &cf[1] : &cf[0];
        if (m->p && m->type != SY_JOBJECT)
            return sy__eparse_fail(p, UP "choices[0].%s is not an object",
                              whole ? "message" : "delta");
        if (m->p && (rc = on_message(p, m, whole)))
            return rc;
        if ((cf[2].p || whole) && (rc = finish(p, &cf[2])))
            return rc;
    } else if (whole) {
        return sy__eparse_fail(p, UP "answer without a choice");
    }
    if (f[O_USAGE].p && (rc = on_usage(p, &f[O_USAGE])))
        return rc;
    return 0;
}

/* ---- parsing: the stream -------------------------------------------------- */

static int on_sse(void *ud, const sy_sse_event_t *sev)
{
    sy_eparse_t *p = ud;
    size_t off;
    const char *msg;
    if (!sev->data || p->ended)
        return 0;
    if (sev->data_len == 6 && memcmp(sev->data, "[DONE]", 6) == 0) {
        p->ended = 1;
        return 0;
    }
    sy_arena_reset(&p->scratch);
    if (sy_json_validate(sev->data, sev->data_len, &off, &msg) < 0)
        return sy__eparse_fail(p, UP "stream event is not valid JSON (%s at byte %zu)", msg,
                          off);
    sy_jval_t obj = sy_json_value(sev->data, sev->data_len);
    if (obj.type != SY_JOBJECT)
        return sy__eparse_fail(p, UP "stream event is not a JSON object");
    if (sev->event && sev->event_len == 5 && memcmp(sev->event, "error", 5) == 0)
        return on_error(p, &obj);
    return on_object(p, &obj, 0);
}

int sy__openai_feed(sy_eparse_t *p, const char *data, size_t len)
{
    return sy__eparse_split_rc(p, sy_sse_feed(&p->sse, data, len, on_sse, p));
}

/* The body ended: an event held without its blank line is complete now
 * (one that is not whole JSON was cut, not malformed). A stream is whole
 * when it said [DONE] or gave a finish reason; [DONE] without a finish
 * reason finishes it as a stop. */
int sy__openai_end(sy_eparse_t *p)
{
    int rc;
    if (sy_sse_pending(&p->sse) && (rc = sy__eparse_split_rc(p, sy_sse_feed(&p->sse, "\n\n", 2, on_sse, p)))) {
        if (rc < 0 && p->err.code == SY_EUPPROTO && !p->ended && !p->finished)
            goto cut;
        return rc;
    }
    if (!p->ended && !p->finished)
        goto cut;
    sy_arena_reset(&p->scratch);
    return finish(p, NULL);
cut:
    sy_error_set(&p->err, SY_EUPCLOSED, NULL, "upstream stream ended before its end");
    return -1;
}

/* ---- parsing: a whole answer --------------------------------------------- */

int sy__openai_whole(sy_eparse_t *p, const char *body, size_t len)
{
    sy_jval_t obj;
    if (sy__eparse_object(p, body, len, &obj) < 0)
        return -1;
    return on_object(p, &obj, 1);
}

/* ---- embeddings ------------------------------------------------------------ */

/* A JSON number (validated text, followed by more of the document) as a
 * float; 0 or -1 when it does not fit one. */
static int to_float(const sy_jval_t *v, float *out)
{
    double d;
    if (sy_json_double(v, &d) < 0)
        return -1;
    float f = (float)d;
    if (!isfinite(f))
        return -1;
    *out = f;
    return 0;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* A base64 string of little-endian float32s (encoding_format "base64",
 * which some servers answer whatever was asked) into out. Returns 0, -1
 * when it is not such a string, -2 out of memory. */
static int b64_floats(sy_arena_t *a, const sy_jval_t *v, sy_vec_t *out)
{
    const unsigned char *s = (const unsigned char *)v->p + 1;
    size_t n = v->len - 2;
    while (n && s[n - 1] == '=')
        n--;
    size_t bytes = n * 3 / 4;
    if (n % 4 == 1 || bytes % 4)
        return -1;
    unsigned char *raw = sy_arena_alloc(a, bytes + 3);
    out->v = sy_arena_alloc(a, (bytes / 4 ? bytes / 4 : 1) * sizeof(float));
    if (!raw || !out->v)
        return -2;
    uint32_t acc = 0;
    size_t bits = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        int x = b64_val(s[i]);
        if (x < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[k++] = (unsigned char)(acc >> bits);
        }
    }
    out->n = bytes / 4;
    for (size_t i = 0; i < out->n; i++) {
        uint32_t u = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 | (uint32_t)raw[4 * i + 2] << 16 |
                     (uint32_t)raw[4 * i + 3] << 24;
        memcpy(&out->v[i], &u, sizeof(float));
    }
    return 0;
}

/* An array of numbers as floats in the arena. Returns as b64_floats. */
static int num_floats(sy_arena_t *a, const sy_jval_t *v, sy_vec_t *out)
{
    size_t pos = 0, n = 0;
    sy_jval_t x;
    while (sy_json_next_element(v, &pos, &x))
        n++;
    out->v = sy_arena_alloc(a, (n ? n : 1) * sizeof(float));
    if (!out->v)
        return -2;
    out->n = 0;
    pos = 0;
    while (sy_json_next_element(v, &pos, &x)) {
        if ((x.type != SY_JINT && x.type != SY_JDOUBLE) || to_float(&x, &out->v[out->n]) < 0)
            return -1;
        out->n++;
    }
    return 0;
}

sy_err_t sy__openai_embed(const char *body, size_t len, size_t n_inputs, sy_arena_t *a, sy_embed_t *out,
                          sy_error_t *err)
{
    size_t off, pos = 0, j = 0;
    const char *msg;
    sy_jval_t data, el, v, u;
    out->vecs = NULL;
    out->n_vecs = 0;
    out->prompt_tokens = -1;
    if (sy_json_validate(body, len, &off, &msg) < 0)
        return sy_error_fail(err, SY_EUPPROTO, NULL, UP "embeddings answer is not valid JSON (%s at byte %zu)",
                             msg, off);
    sy_jval_t obj = sy_json_value(body, len);
    if (obj.type != SY_JOBJECT)
        return sy_error_fail(err, SY_EUPPROTO, NULL, UP "embeddings answer is not a JSON object");
    if (sy_json_get(&obj, "error", &v) && v.type != SY_JNULL) {
        sy_eparse_t tmp; /* on_error's message rules, without a whole parser */
        memset(&tmp, 0, sizeof(tmp));
        sy_arena_init(&tmp.scratch, 1u << 16);
        on_error(&tmp, &obj);
        sy_arena_release(&tmp.scratch);
        *err = tmp.err;
        return SY_EUPSTATUS;
    }
    if (!sy_json_get(&obj, "data", &data) || data.type != SY_JARRAY)
        return sy_error_fail(err, SY_EUPPROTO, NULL, UP "embeddings answer without a data array");
    size_t n = 0;
    while (sy_json_next_element(&data, &pos, &el))
        n++;
    if (n != n_inputs)
        return sy_error_fail(err, SY_EUPPROTO, NULL, UP "%zu embeddings for %zu inputs", n, n_inputs);
    out->vecs = sy_arena_calloc(a, n ? n : 1, sizeof(sy_vec_t));
    unsigned char *seen = sy_arena_calloc(a, n ? n : 1, 1);
    if (!out->vecs || !seen) {
        sy_error_set(err, SY_ENOMEM, NULL, "out of memory reading the embeddings");
        return SY_ENOMEM;
    }
    pos = 0;
    while (sy_json_next_element(&data, &pos, &el)) {
        int64_t idx = (int64_t)j;
        if (el.type != SY_JOBJECT)
            return sy_error_fail(err, SY_EUPPROTO, NULL, UP "data[%zu] is not an object", j);
        if (sy_json_get(&el, "index", &v) && v.type != SY_JNULL &&
            (v.type != SY_JINT || sy_json_int(&v, &idx) < 0 || idx < 0 || (uint64_t)idx >= n))
            return sy_error_fail(err, SY_EUPPROTO, NULL, UP "data[%zu].index is not an index of the inputs", j);
        if (seen[idx])
            return sy_error_fail(err, SY_EUPPROTO, NULL, UP "two embeddings for input %lld", (long long)idx);
        seen[idx] = 1;
        if (!sy_json_get(&el, "embedding", &v) || (v.type != SY_JARRAY && v.type != SY_JSTRING))
            return sy_error_fail(err, SY_EUPPROTO, NULL, UP "data[%zu] without an embedding", j);
        int vrc = v.type == SY_JARRAY ? num_floats(a, &v, &out->vecs[idx]) : b64_floats(a, &v, &out->vecs[idx]);
        if (vrc == -2) {
            sy_error_set(err, SY_ENOMEM, NULL, "out of memory reading the embeddings");
            return SY_ENOMEM;
        }
        if (vrc)
            return sy_error_fail(err, SY_EUPPROTO, NULL, UP "data[%zu].embedding is not a vector of floats", j);
        j++;
    }
    out->n_vecs = n;
    if (sy_json_get(&obj, "usage", &u))
        get_count(&u, "prompt_tokens", &out->prompt_tokens);
    return SY_OK;
}
