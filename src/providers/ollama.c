/*
 * ollama.c - the Ollama egress adapter: a canonical request written as an
 * Ollama API body (POST /api/chat, /api/generate or /api/embed), and the
 * answer - NDJSON lines or one object - read back as canonical events (see
 * egress.h).
 *
 * Encoding follows what Ollama's server reads:
 *
 *   - "stream" is always written: Ollama streams unless told false.
 *   - A message's text parts are one "content" string (joined with a blank
 *     line); its images go in "images" as bare base64 (a data: URL is
 *     split). Ollama cannot fetch an image URL, and the gateway never does:
 *     one is refused with SY_EUNSUPPORTED.
 *   - Tool call arguments are an object ("arguments":{...}), the canonical
 *     JSON text written as it is once it validates as an object; a call's
 *     id and a result's tool_call_id go along when known (Ollama 0.12 reads
 *     them, older versions ignore them). A result without its tool's name
 *     gets the name of the call it answers, looked up by id.
 *   - Sampling goes in "options": temperature, top_p, top_k, num_predict
 *     (max_tokens), stop, seed, num_ctx and the penalties, then every other
 *     member of the client's own options object (Ollama clients send
 *     mirostat, repeat_penalty...) not already written.
 *   - Ollama has no tool_choice: "none" leaves the tools out, a named tool
 *     sends only that tool; parallel_tool_calls and the end-user id have no
 *     field and are dropped. A JSON answer is format:"json", a schema is
 *     format:<schema>.
 *
 * Parsing: each line (or the one object) may carry message.content or
 * response (text), message.thinking or thinking, message.tool_calls (whole
 * calls, their arguments an object) and, on the last line, done:true with
 * done_reason and the counts and durations. Ollama has no response id: START
 * carries none, and calls have an id only from versions that give one. It
 * says "stop" after tool calls: an answer with tool calls finishes with
 * SY_FINISH_TOOL_CALLS. A line {"error":"..."} is the upstream failing
 * mid-stream.
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
#define UP "Ollama upstream: "

/* ---- encoding: small helpers --------------------------------------------- */

/* A NUL-terminated fragment chosen at run time (SY_JW_LIT takes literals). */
static void put(struct evbuffer *b, const char *s)
{
    sy_jw_raw(b, s, strlen(s));
}

/* Which messages a helper below takes: those with this role, any (ANY) or
 * all but the system ones (NOT_SYSTEM). */
#define ANY (-1)
#define NOT_SYSTEM (-2)

static int role_matches(sy_role_t r, int role)
{
    return role == ANY || (role == NOT_SYSTEM ? r != SY_ROLE_SYSTEM : (int)r == role);
}

/* The text parts of the messages [from, to) that match role, non-empty ones
 * joined with a blank line, as the inside of a JSON string (b NULL: write
 * nothing). Returns whether there was any. */
static int write_text(struct evbuffer *b, const sy_creq_t *q, size_t from, size_t to, int role)
{
    int any = 0;
    for (size_t i = from; i < to; i++) {
        const sy_msg_t *m = &q->msgs[i];
        if (!role_matches(m->role, role))
            continue;
        for (size_t j = 0; j < m->n_parts; j++) {
            const sy_part_t *pt = &m->parts[j];
            if (pt->kind != SY_PART_TEXT || pt->text.len == 0)
                continue;
            if (b && any)
                SY_JW_LIT(b, "\\n\\n");
            if (b)
                sy_jw_escaped(b, pt->text.p, pt->text.len);
            any = 1;
        }
    }
    return any;
}

/* ,"images":[...] for the images of the messages [from, to) that match
 * role, nothing when there are none. An image given by URL cannot go to
 * Ollama: SY_EUNSUPPORTED naming where it stood (param). */
static sy_err_t write_images(struct evbuffer *b, const sy_creq_t *q, size_t from, size_t to, int role,
                             const char *param, sy_error_t *err)
{
    int first = 1;
    for (size_t i = from; i < to; i++) {
        const sy_msg_t *m = &q->msgs[i];
        if (!role_matches(m->role, role))
            continue;
        for (size_t j = 0; j < m->n_parts; j++) {
            const sy_part_t *pt = &m->parts[j];
            sy_str_t media, data = pt->data;
            if (pt->kind != SY_PART_IMAGE)
                continue;
            if (pt->url.len && !sy_canon_data_url(pt->url, &media, &data))
                return sy_error_fail(err, SY_EUNSUPPORTED, param,
                                     "%s: Ollama accepts only inline base64 images, not image URLs", param);
            put(b, first ? ",\"images\":[" : ",");
            first = 0;
            sy_jw_str(b, data.p, data.len);
        }
    }
    if (!first)
        SY_JW_LIT(b, "]");
    return SY_OK;
}

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

/* The name of the call tool message ti answers, by its tool_call_id, from
 * the assistant turns before it; empty when not found. */
static sy_str_t name_of_call(const sy_creq_t *q, size_t ti)
{
    const sy_msg_t *t = &q->msgs[ti];
    if (!t->tool_call_id.len)
        return SY_STR_NULL;
    for (size_t i = ti; i-- > 0;) {
        const sy_msg_t *m = &q->msgs[i];
        for (size_t k = 0; m->role == SY_ROLE_ASSISTANT && k < m->n_calls; k++)
            if (sy_str_eq(m->calls[k].id, t->tool_call_id))
                return m->calls[k].name;
    }
    return SY_STR_NULL;
}

/* ---- encoding: chat ------------------------------------------------------- */

static sy_err_t write_message(const sy_creq_t *q, size_t i, struct evbuffer *b, sy_error_t *err)
{
    const sy_msg_t *m = &q->msgs[i];
    char p[96];
    sy_err_t rc;
    SY_JW_LIT(b, "{\"role\":");
    sy_jw_cstr(b, sy_role_name(m->role));
    SY_JW_LIT(b, ",\"content\":\"");
    write_text(b, q, i, i + 1, ANY);
    SY_JW_LIT(b, "\"");
    if (m->role == SY_ROLE_ASSISTANT && m->thinking.len) {
        SY_JW_LIT(b, ",\"thinking\":");
        sy_jw_str(b, m->thinking.p, m->thinking.len);
    }
    snprintf(p, sizeof(p), "messages[%zu].content", i);
    if ((rc = write_images(b, q, i, i + 1, ANY, p, err)))
        return rc;
    if (m->role == SY_ROLE_ASSISTANT && m->n_calls) {
        SY_JW_LIT(b, ",\"tool_calls\":[");
        for (size_t k = 0; k < m->n_calls; k++) {
            const sy_tool_call_t *c = &m->calls[k];
            if (!args_ok(c->args)) {
                snprintf(p, sizeof(p), "messages[%zu].tool_calls[%zu].function.arguments", i, k);
                return sy_error_fail(err, SY_EBADREQ, p, "%s: the arguments must be a JSON object", p);
            }
            put(b, k ? ",{" : "{");
            if (c->id.len) {
                SY_JW_LIT(b, "\"id\":");
                sy_jw_str(b, c->id.p, c->id.len);
                SY_JW_LIT(b, ",");
            }
            SY_JW_LIT(b, "\"function\":{\"name\":");
            sy_jw_str(b, c->name.p, c->name.len);
            SY_JW_LIT(b, ",\"arguments\":");
            if (sy_str_blank(c->args))
                SY_JW_LIT(b, "{}");
            else
                sy_jw_raw(b, c->args.p, c->args.len);
            SY_JW_LIT(b, "}}");
        }
        SY_JW_LIT(b, "]");
    }
    if (m->role == SY_ROLE_TOOL) {
        sy_str_t name = m->tool_name.len ? m->tool_name : name_of_call(q, i);
        if (name.len) {
            SY_JW_LIT(b, ",\"tool_name\":");
            sy_jw_str(b, name.p, name.len);
        }
        if (m->tool_call_id.len) {
            SY_JW_LIT(b, ",\"tool_call_id\":");
            sy_jw_str(b, m->tool_call_id.p, m->tool_call_id.len);
        }
    }
    SY_JW_LIT(b, "}");
    return SY_OK;
}

static void write_tool(struct evbuffer *b, const sy_tool_t *t, int first)
{
    put(b, first ? "{" : ",{");
    SY_JW_LIT(b, "\"type\":\"function\",\"function\":{\"name\":");
    sy_jw_str(b, t->name.p, t->name.len);
    if (t->description.len) {
        SY_JW_LIT(b, ",\"description\":");
        sy_jw_str(b, t->description.p, t->description.len);
    }
    SY_JW_LIT(b, ",\"parameters\":");
    if (t->parameters.p)
        sy_jw_raw(b, t->parameters.p, t->parameters.len);
    else
        SY_JW_LIT(b, "{\"type\":\"object\",\"properties\":{}}");
    SY_JW_LIT(b, "}}");
}

/* tools, bent to tool_choice (Ollama has none): "none" sends no tools, a
 * named tool only that one (all of them if no tool has that name). */
static void write_tools(const sy_creq_t *q, struct evbuffer *b)
{
    if (!q->n_tools || q->tool_choice == SY_TOOLS_NONE)
        return;
    size_t named = SIZE_MAX;
    for (size_t i = 0; q->tool_choice == SY_TOOLS_NAMED && i < q->n_tools && named == SIZE_MAX; i++)
        if (sy_str_eq(q->tools[i].name, q->tool_choice_name))
            named = i;
    SY_JW_LIT(b, ",\"tools\":[");
    if (named != SIZE_MAX) {
        write_tool(b, &q->tools[named], 1);
    } else {
        for (size_t i = 0; i < q->n_tools; i++)
            write_tool(b, &q->tools[i], i == 0);
    }
    SY_JW_LIT(b, "]");
}

static void write_format(const sy_creq_t *q, struct evbuffer *b)
{
    if (q->format == SY_FORMAT_SCHEMA && q->format_schema.p) {
        SY_JW_LIT(b, ",\"format\":");
        sy_jw_raw(b, q->format_schema.p, q->format_schema.len);
    } else if (q->format != SY_FORMAT_TEXT) {
        SY_JW_LIT(b, ",\"format\":\"json\"");
    }
}

/* "options":{...}: the canonical sampling fields under Ollama's names, then
 * the members of the client's options object not written yet (raw, as the
 * client sent them). Nothing when there is nothing to say. */
static void write_options(const sy_creq_t *q, struct evbuffer *b)
{
    enum { O_TEMP, O_TOP_P, O_TOP_K, O_NUM_PREDICT, O_STOP, O_SEED, O_NUM_CTX, O_PRES, O_FREQ, O_N };
    static const char *const names[O_N] = {"temperature", "top_p", "top_k", "num_predict", "stop",
                                           "seed", "num_ctx", "presence_penalty", "frequency_penalty"};
    int written[O_N] = {0};
    int first = 1;
    const sy_jval_t *raw[O_N] = {[O_TEMP] = &q->temperature, [O_TOP_P] = &q->top_p, [O_TOP_K] = &q->top_k,
                                 [O_PRES] = &q->presence_penalty, [O_FREQ] = &q->frequency_penalty};
    for (int i = 0; i < O_N; i++) {
        int say = raw[i] ? raw[i]->p != NULL
                  : i == O_NUM_PREDICT ? q->max_tokens >= 0
                  : i == O_STOP ? q->n_stop > 0
                  : i == O_SEED ? q->has_seed
                                : q->num_ctx > 0;
        if (!say)
            continue;
        put(b, first ? ",\"options\":{" : ",");
        first = 0;
        written[i] = 1;
        sy_jw_str(b, names[i], strlen(names[i]));
        SY_JW_LIT(b, ":");
        if (raw[i]) {
            sy_jw_raw(b, raw[i]->p, raw[i]->len);
        } else if (i == O_NUM_PREDICT) {
            sy_jw_int(b, q->max_tokens);
        } else if (i == O_SEED) {
            sy_jw_int(b, q->seed);
        } else if (i == O_NUM_CTX) {
            sy_jw_int(b, q->num_ctx);
        } else {
            SY_JW_LIT(b, "[");
            for (size_t k = 0; k < q->n_stop; k++) {
                if (k)
                    SY_JW_LIT(b, ",");
                sy_jw_str(b, q->stop[k].p, q->stop[k].len);
            }
            SY_JW_LIT(b, "]");
        }
    }
    if (q->options.p && q->options.type == SY_JOBJECT) {
        size_t pos = 0;
        sy_jval_t k, v;
        while (sy_json_next_member(&q->options, &pos, &k, &v)) {
            int done = 0;
            for (int i = 0; i < O_N && !done; i++)
                done = written[i] && sy_json_key_is(&k, names[i]);
            if (done)
                continue;
            put(b, first ? ",\"options\":{\"" : ",\"");
            first = 0;
            sy_jw_raw(b, k.p, k.len); /* the key's bytes, escapes and all */
            SY_JW_LIT(b, "\":");
            sy_jw_raw(b, v.p, v.len);
        }
    }
    if (!first)
        SY_JW_LIT(b, "}");
}

/* keep_alive, think (raw) and stream: the tail every operation shares. */
static void write_tail(const sy_creq_t *q, struct evbuffer *b, int think)
{
    if (q->keep_alive.p) {
        SY_JW_LIT(b, ",\"keep_alive\":");
        sy_jw_raw(b, q->keep_alive.p, q->keep_alive.len);
    }
    if (think && q->think.p) {
        SY_JW_LIT(b, ",\"think\":");
        sy_jw_raw(b, q->think.p, q->think.len);
    }
}

static sy_err_t encode_chat(const sy_creq_t *q, struct evbuffer *out, sy_error_t *err)
{
    sy_err_t rc;
    SY_JW_LIT(out, ",\"messages\":[");
    for (size_t i = 0; i < q->n_msgs; i++) {
        if (i)
            SY_JW_LIT(out, ",");
        if ((rc = write_message(q, i, out, err)))
            return rc;
    }
    SY_JW_LIT(out, "]");
    write_tools(q, out);
    return SY_OK;
}

/* GENERATE: the system messages' text is "system", the rest's text the
 * prompt, their images "images". */
static sy_err_t encode_generate(const sy_creq_t *q, struct evbuffer *out, sy_error_t *err)
{
    sy_err_t rc;
    SY_JW_LIT(out, ",\"prompt\":\"");
    write_text(out, q, 0, q->n_msgs, NOT_SYSTEM);
    SY_JW_LIT(out, "\"");
    if (write_text(NULL, q, 0, q->n_msgs, SY_ROLE_SYSTEM)) {
        SY_JW_LIT(out, ",\"system\":\"");
        write_text(out, q, 0, q->n_msgs, SY_ROLE_SYSTEM);
        SY_JW_LIT(out, "\"");
    }
    if (q->suffix.len) {
        SY_JW_LIT(out, ",\"suffix\":");
        sy_jw_str(out, q->suffix.p, q->suffix.len);
    }
    if (q->raw)
        SY_JW_LIT(out, ",\"raw\":true");
    if ((rc = write_images(out, q, 0, q->n_msgs, NOT_SYSTEM, "images", err)))
        return rc;
    return SY_OK;
}

static void encode_embed(const sy_creq_t *q, struct evbuffer *out)
{
    SY_JW_LIT(out, ",\"input\":[");
    for (size_t i = 0; i < q->n_inputs; i++) {
        if (i)
            SY_JW_LIT(out, ",");
        sy_jw_str(out, q->inputs[i].p, q->inputs[i].len);
    }
    SY_JW_LIT(out, "]");
    if (q->truncate >= 0) {
        if (q->truncate)
            SY_JW_LIT(out, ",\"truncate\":true");
        else
            SY_JW_LIT(out, ",\"truncate\":false");
    }
    if (q->dimensions > 0) {
        SY_JW_LIT(out, ",\"dimensions\":");
        sy_jw_int(out, q->dimensions);
    }
    write_tail(q, out, 0);
}

sy_err_t sy__ollama_encode(const sy_creq_t *q, const char *model, struct evbuffer *out, const char **path,
                           sy_error_t *err)
{
    sy_err_t rc;
    SY_JW_LIT(out, "{\"model\":");
    sy_jw_cstr(out, model);
    if (q->op == SY_OP_EMBED) {
        encode_embed(q, out);
        SY_JW_LIT(out, "}");
        *path = "/api/embed";
        return SY_OK;
    }
    if ((rc = q->op == SY_OP_GENERATE ? encode_generate(q, out, err) : encode_chat(q, out, err)))
        return rc;
    write_format(q, out);
    write_options(q, out);
    write_tail(q, out, 1);
    if (q->stream)
        SY_JW_LIT(out, ",\"stream\":true}");
    else
        SY_JW_LIT(out, ",\"stream\":false}");
    *path = q->op == SY_OP_GENERATE ? "/api/generate" : "/api/chat";
    return SY_OK;
}

/* ---- parsing: helpers ----------------------------------------------------- */

/* {"error":"..."} (or {"error":{"message":...}}): always -1, p->err the
 * upstream's message. */
static int on_error(sy_eparse_t *p, const sy_jval_t *e)
{
    sy_jval_t m = *e;
    sy_str_t text = SY_STR_NULL;
    if (e->type == SY_JOBJECT && !sy_json_get(e, "message", &m))
        m.type = SY_JNULL;
    if (m.type == SY_JSTRING && sy_canon_str(&p->scratch, &m, &text) < 0)
        text = SY_STR_NULL;
    if (text.len)
        sy_error_set(&p->err, SY_EUPSTATUS, NULL, "%.*s", (int)(text.len > 400 ? 400 : text.len), text.p);
    else
        sy_error_set(&p->err, SY_EUPSTATUS, NULL, "the upstream reported an error");
    return -1;
}

static int on_text(sy_eparse_t *p, const sy_jval_t *v, sy_ev_kind_t kind, const char *what)
{
    sy_ev_t ev;
    if (!v->p || (v->type == SY_JSTRING && v->len <= 2))
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    if (sy__eparse_str(p, v, what, &ev.text) < 0)
        return -1;
    return ev.text.len ? sy__eparse_send(p, &ev) : 0;
}

/* A whole tool call {"id"?,"function":{"name","arguments":{...}}}: one
 * TOOL_CALL event, the next index of ours. Arguments that come as a string
 * (some models' templates) are taken as the JSON text they hold. */
static int on_call(sy_eparse_t *p, const sy_jval_t *tc)
{
    static const char *const fnames[] = {"name", "arguments"};
    sy_jval_t fn, id, f[2];
    sy_ev_t ev;
    if (tc->type != SY_JOBJECT || !sy_json_get(tc, "function", &fn) || fn.type != SY_JOBJECT)
        return sy__eparse_fail(p, UP "a tool call without a function object");
    sy_json_members(&fn, fnames, f, 2, SY_JSON_NULL_ABSENT);
    if (!f[0].p)
        return sy__eparse_fail(p, UP "a tool call without a name");
    if (p->n_calls >= SY_CRESP_MAX_CALLS)
        return sy__eparse_fail(p, UP "more than %d tool calls", SY_CRESP_MAX_CALLS);
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_TOOL_CALL;
    if (sy__eparse_str(p, &f[0], "tool call name", &ev.name) < 0)
        return -1;
    if (sy_json_get(tc, "id", &id) && id.type == SY_JSTRING && sy__eparse_str(p, &id, "tool call id", &ev.id) < 0)
        return -1;
    if (f[1].p && f[1].type == SY_JOBJECT)
        ev.args = (sy_str_t){f[1].p, f[1].len};
    else if (f[1].p && f[1].type == SY_JSTRING && sy__eparse_str(p, &f[1], "tool call arguments", &ev.args) < 0)
        return -1;
    else if (f[1].p && f[1].type != SY_JSTRING)
        return sy__eparse_fail(p, UP "tool call arguments are not an object");
    ev.index = p->n_calls++;
    return sy__eparse_send(p, &ev);
}

/* A non-negative integer into *out (left alone otherwise); whether it was. */
static int count_of(const sy_jval_t *v, int64_t *out)
{
    int64_t x;
    if (v->p && v->type == SY_JINT && sy_json_int(v, &x) == 0 && x >= 0) {
        *out = x;
        return 1;
    }
    return 0;
}

/* The last object: FINISH from done_reason (tool calls seen turn "stop"
 * into tool_calls), then USAGE from the counts and durations. */
static int on_done(sy_eparse_t *p, const sy_jval_t *reason, const sy_jval_t *counts)
{
    sy_ev_t ev;
    int rc, any = 0;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_FINISH;
    ev.finish = SY_FINISH_STOP;
    if (reason->p && reason->type == SY_JSTRING) {
        sy_str_t s;
        if (sy__eparse_str(p, reason, "done_reason", &s) < 0)
            return -1;
        ev.finish = sy_finish_from_ollama(s.p, s.len);
        if (ev.finish == SY_FINISH_NONE)
            ev.finish = SY_FINISH_STOP;
    }
    if (ev.finish == SY_FINISH_STOP && p->n_calls > 0)
        ev.finish = SY_FINISH_TOOL_CALLS;
    if (!p->finished && (rc = sy__eparse_send(p, &ev)))
        return rc;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_USAGE;
    sy_usage_init(&ev.usage);
    int64_t *to[] = {&ev.usage.input_tokens,  &ev.usage.output_tokens,        &ev.usage.total_duration,
                     &ev.usage.load_duration, &ev.usage.prompt_eval_duration, &ev.usage.eval_duration};
    for (size_t i = 0; i < 6; i++)
        any |= count_of(&counts[i], to[i]);
    if (!any)
        return 0;
    sy_usage_merge(&p->usage, &ev.usage);
    return sy__eparse_send(p, &ev);
}

/* One line of a stream, or the whole answer (whole: a missing done counts
 * as done). */
static int on_object(sy_eparse_t *p, const sy_jval_t *obj, int whole)
{
    static const char *const names[] = {"error",         "message",           "response",
                                        "thinking",      "done",              "done_reason",
                                        "prompt_eval_count", "eval_count",    "total_duration",
                                        "load_duration", "prompt_eval_duration", "eval_duration"};
    enum { F_ERROR, F_MESSAGE, F_RESPONSE, F_THINKING, F_DONE, F_REASON, F_COUNTS, F_N = 12 };
    static const char *const mnames[] = {"thinking", "content", "tool_calls"};
    sy_jval_t f[F_N], m[3] = {{NULL, 0, SY_JNULL}, {NULL, 0, SY_JNULL}, {NULL, 0, SY_JNULL}}, tc;
    int rc;
    sy_json_members(obj, names, f, F_N, SY_JSON_NULL_ABSENT);
    if (f[F_ERROR].p)
        return on_error(p, &f[F_ERROR]);
    if ((rc = sy__eparse_start(p, SY_STR_NULL)))
        return rc;
    if (f[F_MESSAGE].p) {
        if (f[F_MESSAGE].type != SY_JOBJECT)
            return sy__eparse_fail(p, UP "message is not an object");
        sy_json_members(&f[F_MESSAGE], mnames, m, 3, SY_JSON_NULL_ABSENT);
    }
    if ((rc = on_text(p, m[0].p ? &m[0] : &f[F_THINKING], SY_EV_THINKING, "thinking")) ||
        (rc = on_text(p, m[1].p ? &m[1] : &f[F_RESPONSE], SY_EV_TEXT, "content")))
        return rc;
    if (m[2].p) {
        size_t pos = 0;
        if (m[2].type != SY_JARRAY)
            return sy__eparse_fail(p, UP "message.tool_calls is not an array");
        while (sy_json_next_element(&m[2], &pos, &tc))
            if ((rc = on_call(p, &tc)))
                return rc;
    }
    if (!whole && !(f[F_DONE].p && sy_json_true(&f[F_DONE])))
        return 0;
    p->ended = 1;
    return on_done(p, &f[F_REASON], &f[F_COUNTS]);
}

/* ---- parsing: the stream -------------------------------------------------- */

static int on_line(void *ud, const char *line, size_t len)
{
    sy_eparse_t *p = ud;
    size_t off;
    const char *msg;
    if (p->ended)
        return 0;
    sy_arena_reset(&p->scratch);
    if (sy_json_validate(line, len, &off, &msg) < 0)
        return sy__eparse_fail(p, UP "stream line is not valid JSON (%s at byte %zu)", msg, off);
    sy_jval_t obj = sy_json_value(line, len);
    if (obj.type != SY_JOBJECT)
        return sy__eparse_fail(p, UP "stream line is not a JSON object");
    return on_object(p, &obj, 0);
}

int sy__ollama_feed(sy_eparse_t *p, const char *data, size_t len)
{
    return sy__eparse_split_rc(p, sy_ndjson_feed(&p->lines, data, len, on_line, p));
}

/* The body ended: a last line without its newline is complete now (one
 * that is not whole JSON was cut, not malformed); without the done:true
 * line the answer was cut short. */
int sy__ollama_end(sy_eparse_t *p)
{
    int rc = sy__eparse_split_rc(p, sy_ndjson_finish(&p->lines, on_line, p));
    if (rc && !(rc < 0 && p->err.code == SY_EUPPROTO && !p->ended))
        return rc;
    if (!p->ended) {
        sy_error_set(&p->err, SY_EUPCLOSED, NULL, "upstream stream ended before its end");
        return -1;
    }
    return 0;
}

/* ---- parsing: a whole answer --------------------------------------------- */

int sy__ollama_whole(sy_eparse_t *p, const char *body, size_t len)
{
    sy_jval_t obj;
    if (sy__eparse_object(p, body, len, &obj) < 0)
        return -1;
    return on_object(p, &obj, 1);
}

/* ---- embeddings ------------------------------------------------------------ */

/* An array of JSON numbers as floats in the arena: 0, -1 when it is not
 * one (or a number does not fit a float), -2 out of memory. */
static int vec_of(sy_arena_t *a, const sy_jval_t *arr, sy_vec_t *out)
{
    size_t pos = 0, n = 0;
    sy_jval_t x;
    if (arr->type != SY_JARRAY)
        return -1;
    while (sy_json_next_element(arr, &pos, &x))
        n++;
    if (!(out->v = sy_arena_alloc(a, (n ? n : 1) * sizeof(float))))
        return -2;
    out->n = 0;
    pos = 0;
    while (sy_json_next_element(arr, &pos, &x)) {
        double d;
        if (sy_json_double(&x, &d) < 0)
            return -1;
        float f = (float)d;
        if (!isfinite(f))
            return -1;
        out->v[out->n++] = f;
    }
    return 0;
}

/* {"embeddings":[[...],...],"prompt_eval_count":n} (/api/embed); the
 * single {"embedding":[...]} of the older /api/embeddings is read too when
 * one vector was asked for. */
sy_err_t sy__ollama_embed(const char *body, size_t len, size_t n_inputs, sy_arena_t *a, sy_embed_t *out,
                          sy_error_t *err)
{
    size_t off, pos = 0, n = 0;
    const char *msg;
    sy_jval_t v, el, e;
    out->vecs = NULL;
    out->n_vecs = 0;
    out->prompt_tokens = -1;
    if (sy_json_validate(body, len, &off, &msg) < 0)
        return sy_error_fail(err, SY_EUPPROTO, NULL, UP "embeddings answer is not valid JSON (%s at byte %zu)", msg,
                             off);
    sy_jval_t obj = sy_json_value(body, len);
    if (obj.type != SY_JOBJECT)
        return sy_error_fail(err, SY_EUPPROTO, NULL, UP "embeddings answer is not a JSON object");
    if (sy_json_get(&obj, "error", &e) && e.type != SY_JNULL) {
        char text[400] = "";
        sy_jval_t m = e;
        if (e.type == SY_JOBJECT && !sy_json_get(&e, "message", &m))
            m.type = SY_JNULL;
        if (m.type == SY_JSTRING)
            sy_json_string(&m, text, sizeof(text));
        sy_error_set(err, SY_EUPSTATUS, NULL, "%s", text[0] ? text : "the upstream reported an error");
        return SY_EUPSTATUS;
    }
    int single = 0;
    if (!sy_json_get(&obj, "embeddings", &v) || v.type != SY_JARRAY) {
        if (!sy_json_get(&obj, "embedding", &v) || v.type != SY_JARRAY)
            return sy_error_fail(err, SY_EUPPROTO, NULL, UP "embeddings answer without an embeddings array");
        single = 1;
    }
    if (single) {
        n = 1;
    } else {
        while (sy_json_next_element(&v, &pos, &el))
            n++;
    }
    if (n != n_inputs)
        return sy_error_fail(err, SY_EUPPROTO, NULL, UP "%zu embeddings for %zu inputs", n, n_inputs);
    if (!(out->vecs = sy_arena_calloc(a, n ? n : 1, sizeof(sy_vec_t)))) {
        sy_error_set(err, SY_ENOMEM, NULL, "out of memory reading the embeddings");
        return SY_ENOMEM;
    }
    pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (!single)
            sy_json_next_element(&v, &pos, &el);
        int rc = vec_of(a, single ? &v : &el, &out->vecs[i]);
        if (rc == -2) {
            sy_error_set(err, SY_ENOMEM, NULL, "out of memory reading the embeddings");
            return SY_ENOMEM;
        }
        if (rc)
            return sy_error_fail(err, SY_EUPPROTO, NULL, UP "embeddings[%zu] is not a vector of floats", i);
    }
    out->n_vecs = n;
    if (sy_json_get(&obj, "prompt_eval_count", &v))
        count_of(&v, &out->prompt_tokens);
    return SY_OK;
}
