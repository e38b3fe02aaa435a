/*
 * openai_canon.c - the OpenAI API for translated calls: a client's body
 * decoded into the canonical request, and canonical events written back as
 * OpenAI chunks and objects.
 *
 * openai.c serves a call whose upstream is OpenAI-compatible by passing the
 * client's bytes through. When the routed deployment is an Ollama or an
 * Anthropic one, the pipeline calls sy_api_openai_decode (through the
 * sy_call_t openai.c fills) and writes the answer through sy_ingress_openai.
 * openai.c has already validated the body and checked the types of the
 * top-level fields it knows; this decoder still checks every type it reads
 * (it is also reached from tests and must never walk bad text), and says
 * which field is wrong down to "messages[2].content[0].type".
 *
 * What a translated call cannot express is refused with a 400 naming the
 * field rather than silently dropped when dropping it would change the
 * answer (n > 1, batched or token prompts, echo, audio and file parts);
 * fields that only decorate the answer (logprobs, detail of an image) are
 * ignored. docs/api.md lists both.
 *
 * The encoder writes what the official SDKs read: a chat stream of
 * chat.completion.chunk events starting with the assistant role, tool calls
 * split into a header piece (id, name) and argument pieces, the finish
 * reason in its own chunk, the usage chunk (when the client asked for it)
 * and [DONE] at the end - the usage after the finish, as OpenAI sends it.
 * Reasoning text goes out as delta.reasoning_content, the field several
 * OpenAI-compatible servers use for it.
 */
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/jsonscan.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "pipeline/error.h"

/* type masks, as in openai.c */
#define T_NULL (1 << SY_JNULL)
#define T_BOOL (1 << SY_JBOOL)
#define T_INT (1 << SY_JINT)
#define T_NUM ((1 << SY_JDOUBLE) | T_INT)
#define T_STR (1 << SY_JSTRING)
#define T_ARR (1 << SY_JARRAY)
#define T_OBJ (1 << SY_JOBJECT)

/* A tool result looks for its call's name among this many calls of the
 * assistant message before it (bounds the work on hostile bodies). */
#define NAME_LOOKUP_CALLS 256

/* ---- decoding: errors and small helpers ---------------------------------- */

/* v's type must be one of mask; expect says what in the message. */
static sy_err_t want(const sy_jval_t *v, int mask, const char *param, const char *expect, sy_error_t *err)
{
    if (mask & (1 << v->type))
        return SY_OK;
    return sy_error_fail(err, SY_EBADFIELD, param, "invalid type for '%s': expected %s, got %s", param, expect,
                sy_jtype_name(v->type));
}

/* A JSON string value into the arena (its type already checked). */
static sy_err_t dstr(sy_arena_t *a, const sy_jval_t *v, sy_str_t *out, sy_error_t *err)
{
    if (sy_canon_str(a, v, out) < 0)
        return sy_error_fail(err, SY_ENOMEM, NULL, "out of memory decoding the request");
    return SY_OK;
}

/* A client's value quoted in a message: at most 40 bytes, never half a
 * UTF-8 character, NUL-terminated in buf (at least 41 bytes). */
#define CLIP_MAX 40
static const char *clip(sy_str_t s, char *buf)
{
    size_t n = s.len < CLIP_MAX ? s.len : CLIP_MAX;
    memcpy(buf, s.p, n);
    if (n < s.len)
        n = sy_utf8_trim(buf, n);
    buf[n] = '\0';
    return buf;
}

static int str_is(sy_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.p, lit, n) == 0;
}

static size_t count_elements(const sy_jval_t *arr)
{
    size_t pos = 0, n = 0;
    sy_jval_t v;
    while (sy_json_next_element(arr, &pos, &v))
        n++;
    return n;
}

/* Arena array of n elements of size sz (n may be 0). */
static void *alloc_array(sy_arena_t *a, size_t n, size_t sz, sy_error_t *err)
{
    void *p = sy_arena_calloc(a, n ? n : 1, sz);
    if (!p)
        sy_error_fail(err, SY_ENOMEM, NULL, "out of memory decoding the request");
    return p;
}

/* Whether text is a JSON object (with whitespace around it allowed). */
static int is_json_object(const char *s, size_t n)
{
    size_t off;
    const char *msg;
    if (sy_json_validate(s, n, &off, &msg) < 0)
        return 0;
    return sy_json_value(s, n).type == SY_JOBJECT;
}

/* ---- decoding: messages --------------------------------------------------- */

/*
 * Content parts of message mi. Text parts that are empty are left out (an
 * empty text block is an error at Anthropic); images are allowed in user
 * messages only, as at OpenAI. A data: URL becomes inline base64 with its
 * media type; any other URL stays a URL for the egress to judge.
 */
static sy_err_t decode_parts(sy_arena_t *a, const sy_jval_t *arr, size_t mi, sy_role_t role, sy_msg_t *m,
                             sy_error_t *err)
{
    static const char *const pnames[] = {"type", "text", "image_url", "refusal"};
    enum { P_TYPE, P_TEXT, P_IMAGE, P_REFUSAL };
    char param[64], cb[CLIP_MAX + 1];
    size_t pos = 0, j = 0, n = count_elements(arr);
    sy_jval_t el, f[4];
    sy_str_t type;
    sy_err_t rc;
    if (!(m->parts = alloc_array(a, n, sizeof(sy_part_t), err)))
        return SY_ENOMEM;
    while (sy_json_next_element(arr, &pos, &el)) {
        snprintf(param, sizeof(param), "messages[%zu].content[%zu]", mi, j);
        if ((rc = want(&el, T_OBJ, param, "a content part object", err)))
            return rc;
        sy_json_members(&el, pnames, f, 4, 0);
        snprintf(param, sizeof(param), "messages[%zu].content[%zu].type", mi, j);
        if (!f[P_TYPE].p)
            return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
        if ((rc = want(&f[P_TYPE], T_STR, param, "a string", err)) || (rc = dstr(a, &f[P_TYPE], &type, err)))
            return rc;
        sy_part_t *pt = &m->parts[m->n_parts];
        if (str_is(type, "text") || (str_is(type, "refusal") && role == SY_ROLE_ASSISTANT)) {
            int is_text = str_is(type, "text");
            sy_jval_t *tv = is_text ? &f[P_TEXT] : &f[P_REFUSAL];
            snprintf(param, sizeof(param), "messages[%zu].content[%zu].%s", mi, j, is_text ? "text" : "refusal");
            if (!tv->p)
                return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
            if ((rc = want(tv, T_STR, param, "a string", err)))
                return rc;
            if (tv->len > 2) {
                pt->kind = SY_PART_TEXT;
                if ((rc = dstr(a, tv, &pt->text, err)))
                    return rc;
                m->n_parts++;
            }
        } else if (str_is(type, "image_url")) {
            if (role != SY_ROLE_USER)
                return sy_error_fail(err, SY_EBADREQ, param, "'%s': images are allowed in user messages only", param);
            snprintf(param, sizeof(param), "messages[%zu].content[%zu].image_url", mi, j);
            sy_jval_t url = f[P_IMAGE];
            if (!url.p)
                return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
            if ((rc = want(&url, T_OBJ | T_STR, param, "an object with a url", err)))
                return rc;
            if (url.type == SY_JOBJECT) {
                sy_jval_t obj = url;
                snprintf(param, sizeof(param), "messages[%zu].content[%zu].image_url.url", mi, j);
                if (!sy_json_get(&obj, "url", &url))
                    return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
                if ((rc = want(&url, T_STR, param, "a string", err)))
                    return rc;
            }
            sy_str_t u, media, data;
            if ((rc = dstr(a, &url, &u, err)))
                return rc;
            pt->kind = SY_PART_IMAGE;
            if (sy_canon_data_url(u, &media, &data)) {
                pt->media_type = media;
                pt->data = data;
            } else if (u.len >= 5 && memcmp(u.p, "data:", 5) == 0) {
                return sy_error_fail(err, SY_EBADFIELD, param,
                            "'%s' is a data: URL that is not base64 (expected data:<media type>;base64,<data>)",
                            param);
            } else if (u.len == 0) {
                return sy_error_fail(err, SY_EBADFIELD, param, "'%s' is empty", param);
            } else {
                pt->url = u;
            }
            m->n_parts++;
        } else if (str_is(type, "input_audio") || str_is(type, "file")) {
            return sy_error_fail(err, SY_EBADREQ, param,
                        "content parts of type '%s' need an OpenAI-compatible upstream; this model's is not",
                        clip(type, cb));
        } else {
            return sy_error_fail(err, SY_EBADFIELD, param, "invalid value for '%s': '%s' is not a content part type%s",
                        param, clip(type, cb),
                        role == SY_ROLE_USER ? " (expected text or image_url)" : " (expected text)");
        }
        j++;
    }
    return SY_OK;
}

/* An assistant message's tool_calls. Arguments travel as a string holding
 * JSON: decoded here, they must be an object (empty means {}). */
static sy_err_t decode_calls(sy_arena_t *a, const sy_jval_t *arr, size_t mi, sy_msg_t *m, sy_error_t *err)
{
    static const char *const cnames[] = {"id", "type", "function"};
    static const char *const fnames[] = {"name", "arguments"};
    char param[64];
    size_t pos = 0, j = 0, n = count_elements(arr);
    sy_jval_t el, c[3], f[2];
    sy_err_t rc;
    if (!(m->calls = alloc_array(a, n, sizeof(sy_tool_call_t), err)))
        return SY_ENOMEM;
    while (sy_json_next_element(arr, &pos, &el)) {
        sy_tool_call_t *k = &m->calls[j];
        snprintf(param, sizeof(param), "messages[%zu].tool_calls[%zu]", mi, j);
        if ((rc = want(&el, T_OBJ, param, "an object", err)))
            return rc;
        sy_json_members(&el, cnames, c, 3, 0);
        if (c[0].p && c[0].type != SY_JNULL) {
            snprintf(param, sizeof(param), "messages[%zu].tool_calls[%zu].id", mi, j);
            if ((rc = want(&c[0], T_STR, param, "a string", err)) || (rc = dstr(a, &c[0], &k->id, err)))
                return rc;
        }
        if (c[1].p) {
            sy_str_t type;
            snprintf(param, sizeof(param), "messages[%zu].tool_calls[%zu].type", mi, j);
            if ((rc = want(&c[1], T_STR, param, "a string", err)) || (rc = dstr(a, &c[1], &type, err)))
                return rc;
            if (!str_is(type, "function"))
                return sy_error_fail(err, SY_EBADFIELD, param, "invalid value for '%s': only \"function\" tool calls can be "
                            "translated", param);
        }
        snprintf(param, sizeof(param), "messages[%zu].tool_calls[%zu].function", mi, j);
        if (!c[2].p)
            return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
        if ((rc = want(&c[2], T_OBJ, param, "an object", err)))
            return rc;
        sy_json_members(&c[2], fnames, f, 2, 0);
        snprintf(param, sizeof(param), "messages[%zu].tool_calls[%zu].function.name", mi, j);
        if (!f[0].p)
            return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
        if ((rc = want(&f[0], T_STR, param, "a string", err)) || (rc = dstr(a, &f[0], &k->name, err)))
            return rc;
        snprintf(param, sizeof(param), "messages[%zu].tool_calls[%zu].function.arguments", mi, j);
        if (f[1].p && f[1].type != SY_JNULL) {
            if ((rc = want(&f[1], T_STR, param, "a string of JSON", err)) || (rc = dstr(a, &f[1], &k->args, err)))
                return rc;
        }
        if (sy_str_blank(k->args)) {
            k->args = (sy_str_t){"{}", 2};
        } else if (!is_json_object(k->args.p, k->args.len)) {
            return sy_error_fail(err, SY_EBADREQ, param, "'%s' must be a JSON object encoded as a string", param);
        }
        j++;
    }
    m->n_calls = j;
    return SY_OK;
}

/* The name of the tool whose call `id` answers: among the calls of the
 * closest assistant message before msgs[i] that made any. */
static sy_str_t lookup_tool_name(const sy_msg_t *msgs, size_t i, sy_str_t id)
{
    while (i-- > 0) {
        const sy_msg_t *m = &msgs[i];
        if (m->role != SY_ROLE_ASSISTANT || m->n_calls == 0)
            continue;
        for (size_t j = 0; j < m->n_calls && j < NAME_LOOKUP_CALLS; j++)
            if (m->calls[j].id.len == id.len && memcmp(m->calls[j].id.p, id.p, id.len) == 0)
                return m->calls[j].name;
        break;
    }
    return SY_STR_NULL;
}

static sy_err_t decode_message(sy_arena_t *a, const sy_jval_t *el, size_t i, sy_msg_t *msgs, sy_error_t *err)
{
    static const char *const names[] = {"role", "content", "name", "tool_calls", "tool_call_id",
                                        "reasoning_content"};
    enum { M_ROLE, M_CONTENT, M_NAME, M_CALLS, M_CALL_ID, M_REASONING, M_N };
    sy_msg_t *m = &msgs[i];
    char param[64], cb[CLIP_MAX + 1];
    sy_jval_t f[M_N];
    sy_str_t role;
    sy_err_t rc;

    snprintf(param, sizeof(param), "messages[%zu]", i);
    if ((rc = want(el, T_OBJ, param, "an object", err)))
        return rc;
    sy_json_members(el, names, f, M_N, 0);
    snprintf(param, sizeof(param), "messages[%zu].role", i);
    if (!f[M_ROLE].p)
        return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
    if ((rc = want(&f[M_ROLE], T_STR, param, "a string", err)) || (rc = dstr(a, &f[M_ROLE], &role, err)))
        return rc;
    int r = sy_role_from(role.p, role.len);
    if (r < 0)
        return sy_error_fail(err, SY_EBADFIELD, param,
                    "invalid value for '%s': '%s' (expected system, developer, user, assistant or tool)", param,
                    clip(role, cb));
    m->role = (sy_role_t)r;

    /* content: a string, parts, or (assistant only) null or absent */
    snprintf(param, sizeof(param), "messages[%zu].content", i);
    sy_jval_t c = f[M_CONTENT];
    if (!c.p || c.type == SY_JNULL) {
        if (m->role != SY_ROLE_ASSISTANT)
            return sy_error_fail(err, c.p ? SY_EBADFIELD : SY_EMISSING, param,
                        c.p ? "invalid type for '%s': expected a string or an array of content parts, got null"
                            : "missing required parameter: '%s'",
                        param);
    } else if (c.type == SY_JSTRING) {
        if (c.len > 2) {
            if (!(m->parts = alloc_array(a, 1, sizeof(sy_part_t), err)))
                return SY_ENOMEM;
            m->parts[0].kind = SY_PART_TEXT;
            if ((rc = dstr(a, &c, &m->parts[0].text, err)))
                return rc;
            m->n_parts = 1;
        }
    } else if (c.type == SY_JARRAY) {
        if ((rc = decode_parts(a, &c, i, m->role, m, err)))
            return rc;
    } else {
        return want(&c, T_STR | T_ARR, param, "a string or an array of content parts", err);
    }

    if (m->role == SY_ROLE_ASSISTANT && f[M_CALLS].p && f[M_CALLS].type != SY_JNULL) {
        snprintf(param, sizeof(param), "messages[%zu].tool_calls", i);
        if ((rc = want(&f[M_CALLS], T_ARR, param, "an array", err)) || (rc = decode_calls(a, &f[M_CALLS], i, m, err)))
            return rc;
    }
    if (m->role == SY_ROLE_ASSISTANT && f[M_REASONING].p && f[M_REASONING].type != SY_JNULL) {
        /* what this gateway sends as reasoning comes back in the history */
        snprintf(param, sizeof(param), "messages[%zu].reasoning_content", i);
        if ((rc = want(&f[M_REASONING], T_STR, param, "a string", err)) ||
            (rc = dstr(a, &f[M_REASONING], &m->thinking, err)))
            return rc;
    }
    if (m->role == SY_ROLE_TOOL) {
        snprintf(param, sizeof(param), "messages[%zu].tool_call_id", i);
        if (!f[M_CALL_ID].p)
            return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
        if ((rc = want(&f[M_CALL_ID], T_STR, param, "a string", err)) ||
            (rc = dstr(a, &f[M_CALL_ID], &m->tool_call_id, err)))
            return rc;
        m->tool_name = lookup_tool_name(msgs, i, m->tool_call_id);
    }
    if (f[M_NAME].p && f[M_NAME].type != SY_JNULL) {
        snprintf(param, sizeof(param), "messages[%zu].name", i);
        if ((rc = want(&f[M_NAME], T_STR, param, "a string", err)))
            return rc;
        /* the canonical form keeps no participant names; a tool result's
         * name is the tool's (the older function-result convention) */
        if (m->role == SY_ROLE_TOOL && !m->tool_name.len && (rc = dstr(a, &f[M_NAME], &m->tool_name, err)))
            return rc;
    }
    return SY_OK;
}

static sy_err_t decode_messages(sy_arena_t *a, const sy_jval_t *v, sy_creq_t *q, sy_error_t *err)
{
    size_t pos = 0, i = 0, n;
    sy_jval_t el;
    sy_err_t rc;
    if ((rc = want(v, T_ARR, "messages", "an array of message objects", err)))
        return rc;
    if ((n = count_elements(v)) == 0)
        return sy_error_fail(err, SY_EBADREQ, "messages", "'messages' must contain at least one message");
    if (!(q->msgs = alloc_array(a, n, sizeof(sy_msg_t), err)))
        return SY_ENOMEM;
    while (sy_json_next_element(v, &pos, &el)) {
        if ((rc = decode_message(a, &el, i, q->msgs, err)))
            return rc;
        q->n_msgs = ++i;
    }
    return SY_OK;
}

/* ---- decoding: tools, formats, the rest ----------------------------------- */

static sy_err_t decode_tools(sy_arena_t *a, const sy_jval_t *v, sy_creq_t *q, sy_error_t *err)
{
    static const char *const tnames[] = {"type", "function"};
    static const char *const fnames[] = {"name", "description", "parameters"};
    char param[64];
    size_t pos = 0, i = 0, n = count_elements(v);
    sy_jval_t el, t[2], f[3];
    sy_str_t type;
    sy_err_t rc;
    if (!(q->tools = alloc_array(a, n, sizeof(sy_tool_t), err)))
        return SY_ENOMEM;
    while (sy_json_next_element(v, &pos, &el)) {
        sy_tool_t *tool = &q->tools[i];
        snprintf(param, sizeof(param), "tools[%zu]", i);
        if ((rc = want(&el, T_OBJ, param, "an object", err)))
            return rc;
        sy_json_members(&el, tnames, t, 2, 0);
        snprintf(param, sizeof(param), "tools[%zu].type", i);
        if (!t[0].p)
            return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
        if ((rc = want(&t[0], T_STR, param, "a string", err)) || (rc = dstr(a, &t[0], &type, err)))
            return rc;
        if (!str_is(type, "function"))
            return sy_error_fail(err, SY_EBADFIELD, param,
                        "invalid value for '%s': only \"function\" tools can be translated for this model", param);
        snprintf(param, sizeof(param), "tools[%zu].function", i);
        if (!t[1].p)
            return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
        if ((rc = want(&t[1], T_OBJ, param, "an object", err)))
            return rc;
        sy_json_members(&t[1], fnames, f, 3, 0);
        snprintf(param, sizeof(param), "tools[%zu].function.name", i);
        if (!f[0].p)
            return sy_error_fail(err, SY_EMISSING, param, "missing required parameter: '%s'", param);
        if ((rc = want(&f[0], T_STR, param, "a string", err)) || (rc = dstr(a, &f[0], &tool->name, err)))
            return rc;
        if (tool->name.len == 0)
            return sy_error_fail(err, SY_EBADFIELD, param, "'%s' must not be empty", param);
        if (f[1].p && f[1].type != SY_JNULL) {
            snprintf(param, sizeof(param), "tools[%zu].function.description", i);
            if ((rc = want(&f[1], T_STR, param, "a string", err)) || (rc = dstr(a, &f[1], &tool->description, err)))
                return rc;
        }
        if (f[2].p && f[2].type != SY_JNULL) {
            snprintf(param, sizeof(param), "tools[%zu].function.parameters", i);
            if ((rc = want(&f[2], T_OBJ, param, "a JSON Schema object", err)))
                return rc;
            tool->parameters = f[2];
        }
        q->n_tools = ++i;
    }
    return SY_OK;
}

static sy_err_t decode_tool_choice(sy_arena_t *a, const sy_jval_t *v, sy_creq_t *q, sy_error_t *err)
{
    char cb[CLIP_MAX + 1];
    sy_str_t s;
    sy_jval_t type, fn, name;
    sy_err_t rc;
    if (v->type == SY_JSTRING) {
        if ((rc = dstr(a, v, &s, err)))
            return rc;
        if (str_is(s, "auto"))
            q->tool_choice = SY_TOOLS_AUTO;
        else if (str_is(s, "none"))
            q->tool_choice = SY_TOOLS_NONE;
        else if (str_is(s, "required"))
            q->tool_choice = SY_TOOLS_REQUIRED;
        else
            return sy_error_fail(err, SY_EBADFIELD, "tool_choice",
                        "invalid value for 'tool_choice': '%s' (expected auto, none, required or an object)",
                        clip(s, cb));
        return SY_OK;
    }
    if ((rc = want(v, T_OBJ, "tool_choice", "a string or an object", err)))
        return rc;
    if (!sy_json_get(v, "type", &type))
        return sy_error_fail(err, SY_EMISSING, "tool_choice.type", "missing required parameter: 'tool_choice.type'");
    if ((rc = want(&type, T_STR, "tool_choice.type", "a string", err)) || (rc = dstr(a, &type, &s, err)))
        return rc;
    if (!str_is(s, "function"))
        return sy_error_fail(err, SY_EBADREQ, "tool_choice.type",
                    "'tool_choice' of type '%s' cannot be translated for this model (expected function)",
                    clip(s, cb));
    if (!sy_json_get(v, "function", &fn))
        return sy_error_fail(err, SY_EMISSING, "tool_choice.function", "missing required parameter: 'tool_choice.function'");
    if ((rc = want(&fn, T_OBJ, "tool_choice.function", "an object", err)))
        return rc;
    if (!sy_json_get(&fn, "name", &name))
        return sy_error_fail(err, SY_EMISSING, "tool_choice.function.name",
                    "missing required parameter: 'tool_choice.function.name'");
    if ((rc = want(&name, T_STR, "tool_choice.function.name", "a string", err)) ||
        (rc = dstr(a, &name, &q->tool_choice_name, err)))
        return rc;
    q->tool_choice = SY_TOOLS_NAMED;
    return SY_OK;
}

static sy_err_t decode_response_format(sy_arena_t *a, const sy_jval_t *v, sy_creq_t *q, sy_error_t *err)
{
    static const char *const snames[] = {"name", "schema", "strict"};
    char cb[CLIP_MAX + 1];
    sy_jval_t type, js, f[3];
    sy_str_t s;
    sy_err_t rc;
    if ((rc = want(v, T_OBJ, "response_format", "an object", err)))
        return rc;
    if (!sy_json_get(v, "type", &type))
        return sy_error_fail(err, SY_EMISSING, "response_format.type", "missing required parameter: 'response_format.type'");
    if ((rc = want(&type, T_STR, "response_format.type", "a string", err)) || (rc = dstr(a, &type, &s, err)))
        return rc;
    if (str_is(s, "text")) {
        q->format = SY_FORMAT_TEXT;
        return SY_OK;
    }
    if (str_is(s, "json_object")) {
        q->format = SY_FORMAT_JSON;
        return SY_OK;
    }
    if (!str_is(s, "json_schema"))
        return sy_error_fail(err, SY_EBADFIELD, "response_format.type",
                    "invalid value for 'response_format.type': '%s' (expected text, json_object or json_schema)",
                    clip(s, cb));
    if (!sy_json_get(v, "json_schema", &js))
        return sy_error_fail(err, SY_EMISSING, "response_format.json_schema",
                    "missing required parameter: 'response_format.json_schema'");
    if ((rc = want(&js, T_OBJ, "response_format.json_schema", "an object", err)))
        return rc;
    sy_json_members(&js, snames, f, 3, 0);
    if (f[0].p && f[0].type != SY_JNULL) {
        if ((rc = want(&f[0], T_STR, "response_format.json_schema.name", "a string", err)) ||
            (rc = dstr(a, &f[0], &q->format_name, err)))
            return rc;
    }
    if (f[2].p && (rc = want(&f[2], T_BOOL | T_NULL, "response_format.json_schema.strict", "a boolean", err)))
        return rc;
    if (f[1].p && f[1].type != SY_JNULL) {
        if ((rc = want(&f[1], T_OBJ, "response_format.json_schema.schema", "a JSON Schema object", err)))
            return rc;
        q->format = SY_FORMAT_SCHEMA;
        q->format_schema = f[1];
    } else {
        q->format = SY_FORMAT_JSON; /* a schema without its schema: any JSON object */
    }
    return SY_OK;
}

static sy_err_t decode_stop(sy_arena_t *a, const sy_jval_t *v, sy_creq_t *q, sy_error_t *err)
{
    char param[32];
    size_t pos = 0, i = 0;
    sy_jval_t el;
    sy_err_t rc;
    if (v->type == SY_JSTRING) {
        if (!(q->stop = alloc_array(a, 1, sizeof(sy_str_t), err)))
            return SY_ENOMEM;
        if ((rc = dstr(a, v, &q->stop[0], err)))
            return rc;
        q->n_stop = 1;
        return SY_OK;
    }
    if ((rc = want(v, T_ARR, "stop", "a string or an array of strings", err)))
        return rc;
    if (!(q->stop = alloc_array(a, count_elements(v), sizeof(sy_str_t), err)))
        return SY_ENOMEM;
    while (sy_json_next_element(v, &pos, &el)) {
        snprintf(param, sizeof(param), "stop[%zu]", i);
        if ((rc = want(&el, T_STR, param, "a string", err)) || (rc = dstr(a, &el, &q->stop[i], err)))
            return rc;
        q->n_stop = ++i;
    }
    return SY_OK;
}

/* /v1/completions: the prompt becomes one user message. A prompt the
 * canonical form cannot carry (several prompts, token ids) is refused. */
static sy_err_t decode_prompt(sy_arena_t *a, const sy_jval_t *v, sy_creq_t *q, sy_error_t *err)
{
    sy_jval_t one = *v, el;
    size_t pos = 0;
    sy_err_t rc;
    if (v->type == SY_JARRAY) {
        size_t n = count_elements(v);
        if (!sy_json_next_element(v, &pos, &el))
            return sy_error_fail(err, SY_EBADREQ, "prompt", "'prompt' must not be an empty array");
        if (el.type == SY_JINT || el.type == SY_JARRAY)
            return sy_error_fail(err, SY_EBADREQ, "prompt",
                        "token-id prompts need an OpenAI-compatible upstream; send 'prompt' as a string");
        if (n > 1)
            return sy_error_fail(err, SY_EBADREQ, "prompt",
                        "batched prompts (%zu) need an OpenAI-compatible upstream; send one prompt per request", n);
        one = el;
        if ((rc = want(&one, T_STR, "prompt[0]", "a string", err)))
            return rc;
    } else if ((rc = want(v, T_STR, "prompt", "a string or an array of one string", err))) {
        return rc;
    }
    if (!(q->msgs = alloc_array(a, 1, sizeof(sy_msg_t), err)) ||
        !(q->msgs[0].parts = alloc_array(a, 1, sizeof(sy_part_t), err)))
        return SY_ENOMEM;
    q->msgs[0].role = SY_ROLE_USER;
    q->msgs[0].parts[0].kind = SY_PART_TEXT;
    q->msgs[0].n_parts = 1;
    q->n_msgs = 1;
    return dstr(a, &one, &q->msgs[0].parts[0].text, err);
}

static sy_err_t decode_input(sy_arena_t *a, const sy_jval_t *v, sy_creq_t *q, sy_error_t *err)
{
    char param[32];
    size_t pos = 0, i = 0;
    sy_jval_t el;
    sy_err_t rc;
    if (v->type == SY_JSTRING) {
        if (!(q->inputs = alloc_array(a, 1, sizeof(sy_str_t), err)))
            return SY_ENOMEM;
        q->n_inputs = 1;
        return dstr(a, v, &q->inputs[0], err);
    }
    if ((rc = want(v, T_ARR, "input", "a string or an array of strings", err)))
        return rc;
    size_t n = count_elements(v);
    if (n == 0)
        return sy_error_fail(err, SY_EBADREQ, "input", "'input' must not be an empty array");
    if (!(q->inputs = alloc_array(a, n, sizeof(sy_str_t), err)))
        return SY_ENOMEM;
    while (sy_json_next_element(v, &pos, &el)) {
        snprintf(param, sizeof(param), "input[%zu]", i);
        if (el.type == SY_JINT || el.type == SY_JARRAY)
            return sy_error_fail(err, SY_EBADREQ, "input",
                        "token-id inputs are not supported by this model's upstream kind; send 'input' as strings");
        if ((rc = want(&el, T_STR, param, "a string", err)) || (rc = dstr(a, &el, &q->inputs[i], err)))
            return rc;
        q->n_inputs = ++i;
    }
    return SY_OK;
}

/* An integer field: at least min. */
static sy_err_t want_int(const sy_jval_t *v, const char *param, int64_t min, int64_t *out, sy_error_t *err)
{
    sy_err_t rc;
    if ((rc = want(v, T_INT, param, "an integer", err)))
        return rc;
    if (sy_json_int(v, out) < 0)
        return sy_error_fail(err, SY_EBADFIELD, param, "'%s' is out of range", param);
    if (*out < min)
        return sy_error_fail(err, SY_EBADFIELD, param, "invalid value for '%s': expected at least %lld, got %lld", param,
                    (long long)min, (long long)*out);
    return SY_OK;
}

/* ---- decoding: the body --------------------------------------------------- */

#define OPS_CHAT (1u << SY_OP_CHAT)
#define OPS_GEN (1u << SY_OP_GENERATE)
#define OPS_EMB (1u << SY_OP_EMBED)
#define OPS_TEXT (OPS_CHAT | OPS_GEN)

enum {
    K_MODEL, K_MESSAGES, K_PROMPT, K_INPUT, K_STREAM, K_STREAM_OPTIONS, K_TEMPERATURE, K_TOP_P,
    K_MAX_TOKENS, K_MAX_COMPLETION_TOKENS, K_PRESENCE, K_FREQUENCY, K_SEED, K_STOP, K_TOOLS,
    K_TOOL_CHOICE, K_PARALLEL, K_RESPONSE_FORMAT, K_USER, K_N, K_SUFFIX, K_ECHO, K_BEST_OF,
    K_DIMENSIONS, K_ENCODING_FORMAT, K_COUNT
};

/* The top-level fields each operation reads; anything else is ignored. */
static const struct {
    const char *name;
    unsigned ops;
} keys[K_COUNT] = {
    [K_MODEL] = {"model", OPS_TEXT | OPS_EMB},
    [K_MESSAGES] = {"messages", OPS_CHAT},
    [K_PROMPT] = {"prompt", OPS_GEN},
    [K_INPUT] = {"input", OPS_EMB},
    [K_STREAM] = {"stream", OPS_TEXT},
    [K_STREAM_OPTIONS] = {"stream_options", OPS_TEXT},
    [K_TEMPERATURE] = {"temperature", OPS_TEXT},
    [K_TOP_P] = {"top_p", OPS_TEXT},
    [K_MAX_TOKENS] = {"max_tokens", OPS_TEXT},
    [K_MAX_COMPLETION_TOKENS] = {"max_completion_tokens", OPS_CHAT},
    [K_PRESENCE] = {"presence_penalty", OPS_TEXT},
    [K_FREQUENCY] = {"frequency_penalty", OPS_TEXT},
    [K_SEED] = {"seed", OPS_TEXT},
    [K_STOP] = {"stop", OPS_TEXT},
    [K_TOOLS] = {"tools", OPS_CHAT},
    [K_TOOL_CHOICE] = {"tool_choice", OPS_CHAT},
    [K_PARALLEL] = {"parallel_tool_calls", OPS_CHAT},
    [K_RESPONSE_FORMAT] = {"response_format", OPS_CHAT},
    [K_USER] = {"user", OPS_TEXT | OPS_EMB},
    [K_N] = {"n", OPS_TEXT},
    [K_SUFFIX] = {"suffix", OPS_GEN},
    [K_ECHO] = {"echo", OPS_GEN},
    [K_BEST_OF] = {"best_of", OPS_GEN},
    [K_DIMENSIONS] = {"dimensions", OPS_EMB},
    [K_ENCODING_FORMAT] = {"encoding_format", OPS_EMB},
};

/* A sampling number kept raw; null is unsaid. */
static sy_err_t raw_number(const sy_jval_t *v, const char *param, sy_jval_t *out, sy_error_t *err)
{
    sy_err_t rc;
    if (!v->p || v->type == SY_JNULL)
        return SY_OK;
    if ((rc = want(v, T_NUM, param, "a number", err)))
        return rc;
    *out = *v;
    return SY_OK;
}

static sy_err_t decode_body(const sy_jval_t *doc, sy_op_t op, sy_arena_t *a, sy_creq_t *q, unsigned *enc_flags,
                            sy_error_t *err)
{
    sy_jval_t f[K_COUNT], k, v;
    char cb[CLIP_MAX + 1];
    size_t pos = 0;
    int64_t n;
    sy_str_t s;
    sy_err_t rc;
    unsigned opbit = 1u << op;

    for (size_t i = 0; i < K_COUNT; i++)
        f[i].p = NULL;
    while (sy_json_next_member(doc, &pos, &k, &v))
        for (size_t i = 0; i < K_COUNT; i++)
            if ((keys[i].ops & opbit) && sy_json_key_is(&k, keys[i].name)) {
                f[i] = v;
                break;
            }
#define ABSENT(i) (!f[i].p || f[i].type == SY_JNULL)

    if (!f[K_MODEL].p)
        return sy_error_fail(err, SY_EMISSING, "model", "missing required parameter: 'model'");
    if ((rc = want(&f[K_MODEL], T_STR, "model", "a string", err)) || (rc = dstr(a, &f[K_MODEL], &q->model, err)))
        return rc;
    if (!ABSENT(K_USER)) {
        if ((rc = want(&f[K_USER], T_STR, "user", "a string", err)) || (rc = dstr(a, &f[K_USER], &q->user, err)))
            return rc;
    }

    if (op == SY_OP_EMBED) {
        if (!f[K_INPUT].p)
            return sy_error_fail(err, SY_EMISSING, "input", "missing required parameter: 'input'");
        if ((rc = decode_input(a, &f[K_INPUT], q, err)))
            return rc;
        if (!ABSENT(K_DIMENSIONS) && (rc = want_int(&f[K_DIMENSIONS], "dimensions", 1, &q->dimensions, err)))
            return rc;
        if (!ABSENT(K_ENCODING_FORMAT)) {
            if ((rc = want(&f[K_ENCODING_FORMAT], T_STR, "encoding_format", "a string", err)) ||
                (rc = dstr(a, &f[K_ENCODING_FORMAT], &s, err)))
                return rc;
            if (str_is(s, "base64"))
                *enc_flags |= SY_ENC_BASE64;
            else if (!str_is(s, "float"))
                return sy_error_fail(err, SY_EBADFIELD, "encoding_format",
                            "invalid value for 'encoding_format': '%s' (expected float or base64)",
                            clip(s, cb));
        }
        return SY_OK;
    }

    if (op == SY_OP_CHAT) {
        if (!f[K_MESSAGES].p)
            return sy_error_fail(err, SY_EMISSING, "messages", "missing required parameter: 'messages'");
        if ((rc = decode_messages(a, &f[K_MESSAGES], q, err)))
            return rc;
    } else {
        if (!f[K_PROMPT].p)
            return sy_error_fail(err, SY_EMISSING, "prompt", "missing required parameter: 'prompt'");
        if ((rc = decode_prompt(a, &f[K_PROMPT], q, err)))
            return rc;
        if (!ABSENT(K_SUFFIX)) {
            if ((rc = want(&f[K_SUFFIX], T_STR, "suffix", "a string", err)) ||
                (rc = dstr(a, &f[K_SUFFIX], &q->suffix, err)))
                return rc;
        }
        if (!ABSENT(K_ECHO)) {
            if ((rc = want(&f[K_ECHO], T_BOOL, "echo", "a boolean", err)))
                return rc;
            if (sy_json_true(&f[K_ECHO]))
                return sy_error_fail(err, SY_EBADREQ, "echo", "'echo' needs an OpenAI-compatible upstream");
        }
        if (!ABSENT(K_BEST_OF)) {
            if ((rc = want_int(&f[K_BEST_OF], "best_of", 1, &n, err)))
                return rc;
            if (n > 1)
                return sy_error_fail(err, SY_EBADREQ, "best_of", "'best_of' above 1 needs an OpenAI-compatible upstream");
        }
    }

    if (!ABSENT(K_STREAM)) {
        if ((rc = want(&f[K_STREAM], T_BOOL, "stream", "a boolean", err)))
            return rc;
        q->stream = sy_json_true(&f[K_STREAM]);
    }
    if (!ABSENT(K_STREAM_OPTIONS)) {
        sy_jval_t iu;
        if ((rc = want(&f[K_STREAM_OPTIONS], T_OBJ, "stream_options", "an object", err)))
            return rc;
        if (sy_json_get(&f[K_STREAM_OPTIONS], "include_usage", &iu)) {
            if ((rc = want(&iu, T_BOOL | T_NULL, "stream_options.include_usage", "a boolean", err)))
                return rc;
            q->include_usage = sy_json_true(&iu);
        }
    }
    if (!ABSENT(K_N)) {
        if ((rc = want_int(&f[K_N], "n", 1, &n, err)))
            return rc;
        if (n > 1)
            return sy_error_fail(err, SY_EBADREQ, "n", "'n' above 1 needs an OpenAI-compatible upstream");
    }
    if ((rc = raw_number(&f[K_TEMPERATURE], "temperature", &q->temperature, err)) ||
        (rc = raw_number(&f[K_TOP_P], "top_p", &q->top_p, err)) ||
        (rc = raw_number(&f[K_PRESENCE], "presence_penalty", &q->presence_penalty, err)) ||
        (rc = raw_number(&f[K_FREQUENCY], "frequency_penalty", &q->frequency_penalty, err)))
        return rc;
    /* max_completion_tokens is the newer name; it wins when both are sent */
    if (!ABSENT(K_MAX_COMPLETION_TOKENS)) {
        if ((rc = want_int(&f[K_MAX_COMPLETION_TOKENS], "max_completion_tokens", 1, &q->max_tokens, err)))
            return rc;
    } else if (!ABSENT(K_MAX_TOKENS)) {
        if ((rc = want_int(&f[K_MAX_TOKENS], "max_tokens", 1, &q->max_tokens, err)))
            return rc;
    }
    if (!ABSENT(K_SEED)) {
        if ((rc = want_int(&f[K_SEED], "seed", INT64_MIN, &q->seed, err)))
            return rc;
        q->has_seed = 1;
    }
    if (!ABSENT(K_STOP) && (rc = decode_stop(a, &f[K_STOP], q, err)))
        return rc;

    if (op != SY_OP_CHAT)
        return SY_OK;
    if (!ABSENT(K_TOOLS)) {
        if ((rc = want(&f[K_TOOLS], T_ARR, "tools", "an array", err)) || (rc = decode_tools(a, &f[K_TOOLS], q, err)))
            return rc;
    }
    if (!ABSENT(K_TOOL_CHOICE) && (rc = decode_tool_choice(a, &f[K_TOOL_CHOICE], q, err)))
        return rc;
    if (!ABSENT(K_PARALLEL)) {
        if ((rc = want(&f[K_PARALLEL], T_BOOL, "parallel_tool_calls", "a boolean", err)))
            return rc;
        q->parallel_tool_calls = sy_json_true(&f[K_PARALLEL]);
    }
    if (!ABSENT(K_RESPONSE_FORMAT) && (rc = decode_response_format(a, &f[K_RESPONSE_FORMAT], q, err)))
        return rc;
#undef ABSENT
    return SY_OK;
}

sy_err_t sy_api_openai_decode(const char *body, size_t len, sy_op_t op, sy_arena_t *a, sy_creq_t *q,
                              unsigned *enc_flags, sy_error_t *err)
{
    sy_creq_init(q, op, SY_PROTO_OPENAI);
    if ((unsigned)op > SY_OP_EMBED)
        return sy_error_fail(err, SY_EINTERNAL, NULL, "unknown operation");
    /* openai.c validated it; validating again keeps this function safe on
     * its own for the price of one more linear pass */
    sy_jval_t doc;
    sy_err_t rc = sy__api_json_object(body, len, &doc, err);
    return rc != SY_OK ? rc : decode_body(&doc, op, a, q, enc_flags, err);
}

sy_err_t sy_api_openai_decode_valid(const char *body, size_t len, sy_op_t op, sy_arena_t *a, sy_creq_t *q,
                                    unsigned *enc_flags, sy_error_t *err)
{
    sy_creq_init(q, op, SY_PROTO_OPENAI);
    if ((unsigned)op > SY_OP_EMBED)
        return sy_error_fail(err, SY_EINTERNAL, NULL, "unknown operation");
    sy_jval_t doc = sy_json_value(body, len);
    if (doc.type != SY_JOBJECT)
        return sy_error_fail(err, SY_EBADREQ, NULL, "the request body must be a JSON object");
    return decode_body(&doc, op, a, q, enc_flags, err);
}

int sy_api_openai_canon_covers(const char *body, size_t len, sy_op_t op)
{
    if ((unsigned)op > SY_OP_EMBED || !body) /* validated by the caller */
        return 0;
    sy_jval_t doc = sy_json_value(body, len), k, v;
    if (doc.type != SY_JOBJECT)
        return 0;
    size_t pos = 0;
    while (sy_json_next_member(&doc, &pos, &k, &v)) {
        size_t i;
        for (i = 0; i < K_COUNT; i++)
            if ((keys[i].ops & (1u << op)) && sy_json_key_is(&k, keys[i].name))
                break;
        if (i == K_COUNT)
            return 0; /* a field the canonical form does not carry */
        if (v.type == SY_JNULL)
            continue;
        int64_t n;
        if ((i == K_N || i == K_BEST_OF) && (sy_json_int(&v, &n) < 0 || n != 1))
            return 0;
        if (i == K_ECHO && sy_json_true(&v))
            return 0;
    }
    return 1;
}

/* ---- encoding ------------------------------------------------------------- */

/* enc->started: 0 nothing written, 1 the stream is open, 2 it is closed
 * ([DONE] or an error event written): nothing more goes out. */
#define ST_OPEN 1
#define ST_CLOSED 2

static int is_generate(const sy_enc_t *e)
{
    return e->q && e->q->op == SY_OP_GENERATE;
}

static const char *enc_id(const sy_enc_t *e)
{
    return e->id ? e->id : "";
}

/* The id of tool call `index` when the upstream gave none: the same in a
 * stream and in a whole answer of one request. */
static void call_id(const sy_enc_t *e, int index, const char *given, size_t given_len, struct evbuffer *out)
{
    if (given && given_len) {
        sy_jw_str(out, given, given_len);
        return;
    }
    evbuffer_add_printf(out, "\"call_%d_", index);
    sy_jw_escaped(out, enc_id(e), strlen(enc_id(e)));
    SY_JW_LIT(out, "\"");
}

/* {"id":"chatcmpl-…","object":…,"created":…,"model":…, - the members
 * every object of an answer opens with. */
static void open_object(const sy_enc_t *e, const char *object, struct evbuffer *out)
{
    SY_JW_LIT(out, "{\"id\":\"");
    if (is_generate(e))
        SY_JW_LIT(out, "cmpl-");
    else
        SY_JW_LIT(out, "chatcmpl-");
    sy_jw_escaped(out, enc_id(e), strlen(enc_id(e)));
    SY_JW_LIT(out, "\",\"object\":");
    sy_jw_cstr(out, object);
    SY_JW_LIT(out, ",\"created\":");
    sy_jw_int(out, e->created);
    SY_JW_LIT(out, ",\"model\":");
    sy_jw_cstr(out, e->model ? e->model : "");
}

/* data: {…,"choices":[{"index":0,"delta":{ - the caller writes the delta's
 * members, then close_delta. */
static void open_delta(const sy_enc_t *e, struct evbuffer *out)
{
    SY_JW_LIT(out, "data: ");
    open_object(e, "chat.completion.chunk", out);
    SY_JW_LIT(out, ",\"choices\":[{\"index\":0,\"delta\":{");
}

static void close_delta(const char *finish, struct evbuffer *out)
{
    SY_JW_LIT(out, "},\"logprobs\":null,\"finish_reason\":");
    sy_jw_cstr(out, finish);
    SY_JW_LIT(out, "}]}\n\n");
}

/* A text_completion chunk: a piece of text and/or the finish reason. */
static void text_chunk(const sy_enc_t *e, const char *s, size_t n, const char *finish, struct evbuffer *out)
{
    SY_JW_LIT(out, "data: ");
    open_object(e, "text_completion", out);
    SY_JW_LIT(out, ",\"choices\":[{\"text\":");
    sy_jw_str(out, s ? s : "", s ? n : 0);
    SY_JW_LIT(out, ",\"index\":0,\"logprobs\":null,\"finish_reason\":");
    sy_jw_cstr(out, finish);
    SY_JW_LIT(out, "}]}\n\n");
}

/* "usage":{…} from what the upstream reported; a count it did not give is
 * written as 0 (every OpenAI client expects the three numbers). */
static void usage_member(const sy_usage_t *u, struct evbuffer *out)
{
    int64_t in = u->input_tokens > 0 ? u->input_tokens : 0;
    int64_t outn = u->output_tokens > 0 ? u->output_tokens : 0;
    SY_JW_LIT(out, "\"usage\":{\"prompt_tokens\":");
    sy_jw_int(out, in);
    SY_JW_LIT(out, ",\"completion_tokens\":");
    sy_jw_int(out, outn);
    SY_JW_LIT(out, ",\"total_tokens\":");
    sy_jw_int(out, in + outn);
    if (u->cache_read_tokens >= 0) {
        SY_JW_LIT(out, ",\"prompt_tokens_details\":{\"cached_tokens\":");
        sy_jw_int(out, u->cache_read_tokens);
        SY_JW_LIT(out, "}");
    }
    SY_JW_LIT(out, "}");
}

/* The finish reason the client sees. An upstream that calls tools but
 * says only "stop" (Ollama does) still ends in tool_calls for the client,
 * whose tool loop looks for that word. */
static sy_finish_t client_finish(sy_finish_t f, int has_calls)
{
    if (f == SY_FINISH_NONE)
        f = SY_FINISH_STOP;
    if (f == SY_FINISH_STOP && has_calls)
        f = SY_FINISH_TOOL_CALLS;
    return f;
}

/* The first chunk of a chat stream: the assistant's role. */
static void ensure_started(sy_enc_t *e, struct evbuffer *out)
{
    if (e->started)
        return;
    e->started = ST_OPEN;
    if (is_generate(e))
        return;
    open_delta(e, out);
    SY_JW_LIT(out, "\"role\":\"assistant\",\"content\":\"\"");
    close_delta(NULL, out);
}

static void write_finish(sy_enc_t *e, sy_finish_t f, struct evbuffer *out)
{
    e->finish = client_finish(f, e->n_calls > 0);
    const char *word = sy_finish_to_openai(e->finish);
    if (is_generate(e)) {
        text_chunk(e, "", 0, word, out);
    } else {
        open_delta(e, out);
        close_delta(word, out);
    }
}

static void write_error(sy_enc_t *e, const sy_error_t *err, struct evbuffer *out)
{
    char buf[1500];
    size_t n = sy_error_json(SY_PROTO_OPENAI, err, buf, sizeof(buf));
    SY_JW_LIT(out, "data: ");
    sy_jw_raw(out, buf, n);
    SY_JW_LIT(out, "\n\n");
    e->started = ST_CLOSED;
}

static void note_first_token(sy_enc_t *e)
{
    if (!e->first_token_ns)
        e->first_token_ns = sy_now_ns();
}

static void oai_event(sy_enc_t *e, const sy_ev_t *ev, struct evbuffer *out)
{
    if (e->started == ST_CLOSED)
        return;
    switch (ev->kind) {
    case SY_EV_START:
        ensure_started(e, out);
        return;
    case SY_EV_TEXT:
        if (!ev->text.len)
            return;
        ensure_started(e, out);
        note_first_token(e);
        if (is_generate(e)) {
            text_chunk(e, ev->text.p, ev->text.len, NULL, out);
            return;
        }
        open_delta(e, out);
        SY_JW_LIT(out, "\"content\":");
        sy_jw_str(out, ev->text.p, ev->text.len);
        close_delta(NULL, out);
        return;
    case SY_EV_THINKING:
        /* a text completion has nowhere to put reasoning */
        if (!ev->text.len || is_generate(e))
            return;
        ensure_started(e, out);
        open_delta(e, out);
        SY_JW_LIT(out, "\"reasoning_content\":");
        sy_jw_str(out, ev->text.p, ev->text.len);
        close_delta(NULL, out);
        return;
    case SY_EV_TOOL_CALL:
        if (is_generate(e) || ev->index < 0 || ev->index >= SY_CRESP_MAX_CALLS)
            return;
        ensure_started(e, out);
        note_first_token(e);
        /* calls start in index order: an index not seen yet is a call's
         * first piece, which carries its id and name */
        if (ev->index >= e->n_calls) {
            e->n_calls = ev->index + 1;
            open_delta(e, out);
            evbuffer_add_printf(out, "\"tool_calls\":[{\"index\":%d,\"id\":", ev->index);
            call_id(e, ev->index, ev->id.p, ev->id.len, out);
            SY_JW_LIT(out, ",\"type\":\"function\",\"function\":{\"name\":");
            sy_jw_str(out, ev->name.p, ev->name.len);
            SY_JW_LIT(out, ",\"arguments\":\"\"}}]");
            close_delta(NULL, out);
        }
        if (ev->args.len) {
            open_delta(e, out);
            evbuffer_add_printf(out, "\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":", ev->index);
            sy_jw_str(out, ev->args.p, ev->args.len);
            SY_JW_LIT(out, "}}]");
            close_delta(NULL, out);
        }
        return;
    case SY_EV_FINISH:
        ensure_started(e, out);
        if (e->finish == SY_FINISH_NONE)
            write_finish(e, ev->finish, out);
        return;
    case SY_EV_USAGE:
        sy_usage_merge(&e->usage, &ev->usage);
        return;
    case SY_EV_ERROR:
        if (ev->error) {
            ensure_started(e, out);
            write_error(e, ev->error, out);
        }
        return;
    }
}

/* The usage chunk comes here, after the finish, because some upstreams
 * (OpenAI's own) send their counts after the finish reason. */
static void oai_end(sy_enc_t *e, struct evbuffer *out)
{
    if (e->started == ST_CLOSED)
        return;
    ensure_started(e, out);
    if (e->finish == SY_FINISH_NONE)
        write_finish(e, SY_FINISH_STOP, out);
    if (e->q && e->q->include_usage) {
        SY_JW_LIT(out, "data: ");
        open_object(e, is_generate(e) ? "text_completion" : "chat.completion.chunk", out);
        SY_JW_LIT(out, ",\"choices\":[],");
        usage_member(&e->usage, out);
        SY_JW_LIT(out, "}\n\n");
    }
    SY_JW_LIT(out, "data: [DONE]\n\n");
    e->started = ST_CLOSED;
}

/* One error event and no [DONE]: the SDKs raise it as an API error. */
static void oai_error(sy_enc_t *e, const sy_error_t *err, struct evbuffer *out)
{
    if (e->started == ST_CLOSED)
        return;
    write_error(e, err, out);
}

static void oai_whole(sy_enc_t *e, const sy_cresp_t *c, struct evbuffer *out)
{
    const char *finish = sy_finish_to_openai(client_finish(c->finish, c->n_calls > 0));
    if (is_generate(e)) {
        open_object(e, "text_completion", out);
        SY_JW_LIT(out, ",\"choices\":[{\"text\":");
        sy_jw_str(out, c->text ? c->text : "", c->text_len);
        SY_JW_LIT(out, ",\"index\":0,\"logprobs\":null,\"finish_reason\":");
        sy_jw_cstr(out, finish);
        SY_JW_LIT(out, "}],");
        usage_member(&c->usage, out);
        SY_JW_LIT(out, "}");
        return;
    }
    open_object(e, "chat.completion", out);
    SY_JW_LIT(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (c->text_len || !c->n_calls)
        sy_jw_str(out, c->text ? c->text : "", c->text_len);
    else
        SY_JW_LIT(out, "null");
    SY_JW_LIT(out, ",\"refusal\":null");
    if (c->thinking_len) {
        SY_JW_LIT(out, ",\"reasoning_content\":");
        sy_jw_str(out, c->thinking, c->thinking_len);
    }
    if (c->n_calls) {
        SY_JW_LIT(out, ",\"tool_calls\":[");
        for (size_t i = 0; i < c->n_calls; i++) {
            const sy_cresp_call_t *k = &c->calls[i];
            if (i)
                SY_JW_LIT(out, ",");
            SY_JW_LIT(out, "{\"id\":");
            call_id(e, (int)i, k->id, k->id ? strlen(k->id) : 0, out);
            SY_JW_LIT(out, ",\"type\":\"function\",\"function\":{\"name\":");
            sy_jw_cstr(out, k->name ? k->name : "");
            SY_JW_LIT(out, ",\"arguments\":");
            if (k->args_len)
                sy_jw_str(out, k->args, k->args_len);
            else
                SY_JW_LIT(out, "\"{}\"");
            SY_JW_LIT(out, "}}");
        }
        SY_JW_LIT(out, "]");
    }
    SY_JW_LIT(out, "},\"logprobs\":null,\"finish_reason\":");
    sy_jw_cstr(out, finish);
    SY_JW_LIT(out, "}],");
    usage_member(&c->usage, out);
    SY_JW_LIT(out, "}");
}

/* A vector as a JSON array; "%.9g" is enough digits for any float32 to
 * read back as the same float. Written in batches to keep the evbuffer
 * calls few on 4096-wide vectors. */
static void floats_json(const sy_vec_t *v, struct evbuffer *out)
{
    char buf[4096];
    size_t n = 0;
    buf[n++] = '[';
    for (size_t i = 0; i < v->n; i++) {
        if (n > sizeof(buf) - 40) {
            evbuffer_add(out, buf, n);
            n = 0;
        }
        if (i)
            buf[n++] = ',';
        float f = v->v[i];
        if (f != f || f - f != 0) /* NaN or infinite: JSON has neither */
            f = 0;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%.9g", (double)f);
    }
    buf[n++] = ']';
    evbuffer_add(out, buf, n);
}

/* A vector as base64 of its float32 values, little-endian, the way
 * OpenAI's encoding_format "base64" carries them. */
static void floats_base64(const sy_vec_t *v, struct evbuffer *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char buf[4096];
    size_t n = 0, have = 0, total = v->n * 4;
    unsigned char grp[3];
    buf[n++] = '"';
    for (size_t i = 0; i < total; i++) {
        uint32_t bits;
        memcpy(&bits, &v->v[i / 4], 4);
        grp[have++] = (unsigned char)(bits >> (8 * (i % 4)));
        if (have < 3 && i + 1 < total)
            continue;
        if (n > sizeof(buf) - 8) {
            evbuffer_add(out, buf, n);
            n = 0;
        }
        uint32_t w = (uint32_t)grp[0] << 16 | (have > 1 ? (uint32_t)grp[1] << 8 : 0) | (have > 2 ? grp[2] : 0);
        buf[n++] = tbl[(w >> 18) & 63];
        buf[n++] = tbl[(w >> 12) & 63];
        buf[n++] = have > 1 ? tbl[(w >> 6) & 63] : '=';
        buf[n++] = have > 2 ? tbl[w & 63] : '=';
        have = 0;
    }
    buf[n++] = '"';
    evbuffer_add(out, buf, n);
}

static void oai_embed(sy_enc_t *e, const sy_embed_t *m, struct evbuffer *out)
{
    int64_t pt = m->prompt_tokens > 0 ? m->prompt_tokens : 0;
    SY_JW_LIT(out, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < m->n_vecs; i++) {
        if (i)
            SY_JW_LIT(out, ",");
        SY_JW_LIT(out, "{\"object\":\"embedding\",\"index\":");
        sy_jw_int(out, (int64_t)i);
        SY_JW_LIT(out, ",\"embedding\":");
        if (e->flags & SY_ENC_BASE64)
            floats_base64(&m->vecs[i], out);
        else
            floats_json(&m->vecs[i], out);
        SY_JW_LIT(out, "}");
    }
    SY_JW_LIT(out, "],\"model\":");
    sy_jw_cstr(out, e->model ? e->model : "");
    SY_JW_LIT(out, ",\"usage\":{\"prompt_tokens\":");
    sy_jw_int(out, pt);
    SY_JW_LIT(out, ",\"total_tokens\":");
    sy_jw_int(out, pt);
    SY_JW_LIT(out, "}}");
}

const sy_ingress_t sy_ingress_openai = {
    .proto = SY_PROTO_OPENAI,
    .stream_type = "text/event-stream",
    .keepalive = 1,
    .event = oai_event,
    .end = oai_end,
    .error = oai_error,
    .whole = oai_whole,
    .embed = oai_embed,
};
