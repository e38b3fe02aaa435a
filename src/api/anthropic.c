/*
 * anthropic.c - the Anthropic ingress: POST /v1/messages and
 * POST /v1/messages/count_tokens, spoken so that Anthropic's own SDKs work
 * against Switchyard unchanged.
 *
 * A Messages body is decoded into the canonical request (canon.h) and run
 * through sy_pipeline_translate, whatever kind of upstream serves the model;
 * the canonical events that come back are written as Anthropic's named SSE
 * events (message_start, content_block_start/delta/stop, message_delta,
 * message_stop) or as one message object. Decoding reads the body in place
 * (jsonscan.h) and checks the type of every field it reads, so a client's
 * mistake is a 400 in Anthropic's error shape whose message starts with the
 * field's path written the way Anthropic writes it ("messages.1.content.0.
 * source.data: Field required").
 *
 * Anthropic's content model differs from the canonical one in one place
 * that matters: tool results are blocks inside a user message, where the
 * canonical form (like OpenAI and Ollama) has one "tool" message per result.
 * A user message's tool_result blocks therefore become SY_ROLE_TOOL messages,
 * in order, followed by one user message with the message's other blocks.
 *
 * What the canonical form cannot carry (documents, server tools, citations,
 * cache_control, thinking signatures) is refused with a 400 when dropping it
 * would change the answer, and dropped when it only decorates the request;
 * docs/anthropic.md lists which is which.
 *
 * The client's key may come as x-api-key or Authorization: Bearer; neither
 * is checked here yet, and the provider layer never forwards either.
 */
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "config/config.h"
#include "core/jsonscan.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "http/server.h"
#include "pipeline/error.h"
#include "router/router.h"

/* type masks */
#define T_NULL (1 << SY_JNULL)
#define T_BOOL (1 << SY_JBOOL)
#define T_INT (1 << SY_JINT)
#define T_NUM ((1 << SY_JDOUBLE) | T_INT)
#define T_STR (1 << SY_JSTRING)
#define T_ARR (1 << SY_JARRAY)
#define T_OBJ (1 << SY_JOBJECT)

#define PATH_MAX_LEN 96

/* ---- decoding: errors and small helpers ---------------------------------- */

/*
 * Decoding state: the arena the strings go to, the request being filled,
 * and how many messages it has room for (counted before decoding, since a
 * user message with tool results becomes several canonical messages).
 */
typedef struct dec {
    sy_arena_t *a;
    sy_creq_t *q;
    size_t cap_msgs;
    sy_error_t *err;
} dec_t;

static sy_err_t fail(sy_error_t *err, sy_err_t code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Set err to code with the message "<path>: <text>", the way Anthropic
 * words its validation errors; path also goes to err->param. */
static sy_err_t fail(sy_error_t *err, sy_err_t code, const char *path, const char *fmt, ...)
{
    char msg[sizeof(err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (path)
        sy_error_set(err, code, path, "%s: %s", path, msg);
    else
        sy_error_set(err, code, NULL, "%s", msg);
    return code;
}

/* A field's path into p (PATH_MAX_LEN bytes), cut short when a client's
 * nesting makes it longer: it only names the field in a message. */
static void pathf(char *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pathf(char *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, PATH_MAX_LEN, fmt, ap);
    va_end(ap);
}

static sy_err_t missing(sy_error_t *err, const char *path)
{
    return fail(err, SY_EMISSING, path, "Field required");
}

/* v's type must be one of mask; expect says what in the message. */
static sy_err_t want(const sy_jval_t *v, int mask, const char *path, const char *expect, sy_error_t *err)
{
    if (mask & (1 << v->type))
        return SY_OK;
    return fail(err, SY_EBADFIELD, path, "invalid type: expected %s, got %s", expect, sy_jtype_name(v->type));
}

static sy_err_t oom(sy_error_t *err)
{
    return fail(err, SY_ENOMEM, NULL, "out of memory decoding the request");
}

/* A JSON string value into the arena (its type already checked). */
static sy_err_t dstr(dec_t *d, const sy_jval_t *v, sy_str_t *out)
{
    if (sy_canon_str(d->a, v, out) < 0)
        return oom(d->err);
    return SY_OK;
}

/* Arena array of n elements of size sz (n may be 0). */
static void *alloc_array(dec_t *d, size_t n, size_t sz)
{
    void *p = sy_arena_calloc(d->a, n ? n : 1, sz);
    if (!p)
        oom(d->err);
    return p;
}

static int str_is(sy_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* Whether the JSON string value v decodes to lit (false for other types). */
static int jstr_is(const sy_jval_t *v, const char *lit)
{
    char buf[32];
    long n;
    if (v->type != SY_JSTRING || (n = sy_json_string(v, buf, sizeof(buf))) < 0)
        return 0;
    return (size_t)n == strlen(lit) && memcmp(buf, lit, (size_t)n) == 0;
}

/* A client's word quoted in a message: at most 40 bytes, never half a UTF-8
 * character, and no NUL inside. buf holds at least 41 bytes. */
static const char *clip(sy_str_t s, char *buf)
{
    size_t n = s.len < 40 ? s.len : 40;
    const char *z = memchr(s.p, '\0', n);
    if (z)
        n = (size_t)(z - s.p);
    memcpy(buf, s.p, n);
    if (n < s.len)
        n = sy_utf8_trim(buf, n);
    buf[n] = '\0';
    return buf;
}

static size_t count_elements(const sy_jval_t *arr)
{
    size_t pos = 0, n = 0;
    sy_jval_t v;
    while (sy_json_next_element(arr, &pos, &v))
        n++;
    return n;
}

/* A block's "type": present and a string, decoded into *type. */
static sy_err_t block_type(dec_t *d, const sy_jval_t *tv, const char *path, sy_str_t *type)
{
    char p[PATH_MAX_LEN];
    sy_err_t rc;
    pathf(p, "%s.type", path);
    if (!tv->p)
        return missing(d->err, p);
    if ((rc = want(tv, T_STR, p, "a string", d->err)))
        return rc;
    return dstr(d, tv, type);
}

/* A required string member v of a block, decoded into *out. */
static sy_err_t req_str(dec_t *d, const sy_jval_t *v, const char *path, const char *name, sy_str_t *out)
{
    char p[PATH_MAX_LEN];
    sy_err_t rc;
    pathf(p, "%s.%s", path, name);
    if (!v->p)
        return missing(d->err, p);
    if ((rc = want(v, T_STR, p, "a string", d->err)))
        return rc;
    return dstr(d, v, out);
}

/* ---- decoding: content blocks --------------------------------------------- */

/* A text block: {"type":"text","text":"..."} (citations and cache_control
 * are dropped). An empty text is left out: Anthropic itself refuses empty
 * text blocks, and other upstreams gain nothing from them. */
static sy_err_t decode_text(dec_t *d, const sy_jval_t *blk, const char *path, sy_msg_t *m)
{
    sy_jval_t tv;
    sy_str_t s;
    sy_err_t rc;
    if (!sy_json_get(blk, "text", &tv))
        tv.p = NULL;
    if ((rc = req_str(d, &tv, path, "text", &s)))
        return rc;
    if (s.len) {
        sy_part_t *pt = &m->parts[m->n_parts++];
        pt->kind = SY_PART_TEXT;
        pt->text = s;
    }
    return SY_OK;
}

/* An image block: a base64 source {media_type, data} or a url source {url}.
 * The gateway never fetches a URL: it stays a URL for the egress to judge. */
static sy_err_t decode_image(dec_t *d, const sy_jval_t *blk, const char *path, sy_msg_t *m)
{
    static const char *const names[] = {"type", "media_type", "data", "url"};
    char p[PATH_MAX_LEN], cb[48];
    sy_jval_t src, f[4];
    sy_str_t type;
    sy_err_t rc;
    pathf(p, "%s.source", path);
    if (!sy_json_get(blk, "source", &src))
        return missing(d->err, p);
    if ((rc = want(&src, T_OBJ, p, "an object", d->err)))
        return rc;
    sy_json_members(&src, names, f, 4, 0);
    if ((rc = block_type(d, &f[0], p, &type)))
        return rc;
    sy_part_t *pt = &m->parts[m->n_parts];
    memset(pt, 0, sizeof(*pt));
    pt->kind = SY_PART_IMAGE;
    if (str_is(type, "base64")) {
        if ((rc = req_str(d, &f[1], p, "media_type", &pt->media_type)) ||
            (rc = req_str(d, &f[2], p, "data", &pt->data)))
            return rc;
        if (pt->data.len == 0) {
            pathf(p, "%s.source.data", path);
            return fail(d->err, SY_EBADFIELD, p, "must not be empty");
        }
    } else if (str_is(type, "url")) {
        if ((rc = req_str(d, &f[3], p, "url", &pt->url)))
            return rc;
        if (pt->url.len == 0) {
            pathf(p, "%s.source.url", path);
            return fail(d->err, SY_EBADFIELD, p, "must not be empty");
        }
    } else {
        pathf(p, "%s.source.type", path);
        return fail(d->err, SY_EBADREQ, p, "image sources of type '%s' are not supported (expected base64 or url)",
                    clip(type, cb));
    }
    m->n_parts++;
    return SY_OK;
}

/* A tool_result's content: a string, or text and image blocks. */
static sy_err_t decode_result_content(dec_t *d, const sy_jval_t *v, const char *path, sy_msg_t *m)
{
    char p[PATH_MAX_LEN], cb[48];
    size_t pos = 0, j = 0;
    sy_jval_t el, tv;
    sy_str_t type;
    sy_err_t rc;
    if (v->type == SY_JSTRING) {
        if (!(m->parts = alloc_array(d, 1, sizeof(sy_part_t))))
            return SY_ENOMEM;
        if ((rc = dstr(d, v, &m->parts[0].text)))
            return rc;
        m->parts[0].kind = SY_PART_TEXT;
        m->n_parts = m->parts[0].text.len ? 1 : 0;
        return SY_OK;
    }
    if ((rc = want(v, T_ARR, path, "a string or an array of content blocks", d->err)))
        return rc;
    if (!(m->parts = alloc_array(d, count_elements(v), sizeof(sy_part_t))))
        return SY_ENOMEM;
    while (sy_json_next_element(v, &pos, &el)) {
        pathf(p, "%s.%zu", path, j++);
        if ((rc = want(&el, T_OBJ, p, "an object", d->err)))
            return rc;
        if (!sy_json_get(&el, "type", &tv))
            tv.p = NULL;
        if ((rc = block_type(d, &tv, p, &type)))
            return rc;
        if (str_is(type, "text"))
            rc = decode_text(d, &el, p, m);
        else if (str_is(type, "image"))
            rc = decode_image(d, &el, p, m);
        else
            rc = fail(d->err, SY_EBADREQ, p,
                      "'%s' blocks are not supported inside a tool_result (expected text or image)", clip(type, cb));
        if (rc)
            return rc;
    }
    return SY_OK;
}

/* The name of the tool whose call `id` answers: looked up among the calls of
 * the nearest assistant message before (Anthropic requires the results to
 * follow their calls at once, which also bounds the search). */
static sy_str_t lookup_tool_name(const sy_creq_t *q, sy_str_t id)
{
    for (size_t i = q->n_msgs; i-- > 0;) {
        const sy_msg_t *m = &q->msgs[i];
        if (m->role != SY_ROLE_ASSISTANT)
            continue;
        for (size_t j = 0; j < m->n_calls; j++)
            if (m->calls[j].id.len == id.len && memcmp(m->calls[j].id.p, id.p, id.len) == 0)
                return m->calls[j].name;
        break;
    }
    return SY_STR_NULL;
}

/* The next free canonical message (room was counted beforehand). */
static sy_msg_t *push_msg(dec_t *d, sy_role_t role)
{
    if (d->q->n_msgs >= d->cap_msgs) { /* cannot happen: the count is exact */
        fail(d->err, SY_EINTERNAL, NULL, "message count changed while decoding");
        return NULL;
    }
    sy_msg_t *m = &d->q->msgs[d->q->n_msgs++];
    memset(m, 0, sizeof(*m));
    m->role = role;
    return m;
}

/* A tool_result block: one SY_ROLE_TOOL message. */
static sy_err_t decode_tool_result(dec_t *d, const sy_jval_t *blk, const char *path)
{
    static const char *const names[] = {"tool_use_id", "content", "is_error"};
    char p[PATH_MAX_LEN];
    sy_jval_t f[3];
    sy_str_t id;
    sy_err_t rc;
    sy_json_members(blk, names, f, 3, 0);
    if ((rc = req_str(d, &f[0], path, "tool_use_id", &id)))
        return rc;
    sy_msg_t *m = push_msg(d, SY_ROLE_TOOL);
    if (!m)
        return SY_EINTERNAL;
    m->tool_call_id = id;
    m->tool_name = lookup_tool_name(d->q, id);
    if (f[1].p && f[1].type != SY_JNULL) {
        pathf(p, "%s.content", path);
        if ((rc = decode_result_content(d, &f[1], p, m)))
            return rc;
    }
    if (f[2].p && f[2].type != SY_JNULL) {
        pathf(p, "%s.is_error", path);
        if ((rc = want(&f[2], T_BOOL, p, "a boolean", d->err)))
            return rc;
        m->is_error = sy_json_true(&f[2]);
    }
    return SY_OK;
}

/* A tool_use block of an assistant message: its input object's JSON text
 * becomes the call's arguments. */
static sy_err_t decode_tool_use(dec_t *d, const sy_jval_t *blk, const char *path, sy_msg_t *m)
{
    static const char *const names[] = {"id", "name", "input"};
    char p[PATH_MAX_LEN];
    sy_jval_t f[3];
    sy_err_t rc;
    sy_tool_call_t *k = &m->calls[m->n_calls];
    sy_json_members(blk, names, f, 3, 0);
    if ((rc = req_str(d, &f[0], path, "id", &k->id)) || (rc = req_str(d, &f[1], path, "name", &k->name)))
        return rc;
    pathf(p, "%s.input", path);
    if (!f[2].p)
        return missing(d->err, p);
    if ((rc = want(&f[2], T_OBJ, p, "an object", d->err)))
        return rc;
    if (sy_canon_dup(d->a, f[2].p, f[2].len, &k->args) < 0)
        return oom(d->err);
    m->n_calls++;
    return SY_OK;
}

/* A thinking block carried back in an assistant turn: its text joins the
 * message's thinking (the signature cannot be carried). */
static sy_err_t decode_thinking(dec_t *d, const sy_jval_t *blk, const char *path, sy_msg_t *m)
{
    sy_jval_t tv;
    sy_str_t s;
    sy_err_t rc;
    if (!sy_json_get(blk, "thinking", &tv))
        tv.p = NULL;
    if ((rc = req_str(d, &tv, path, "thinking", &s)))
        return rc;
    if (!m->thinking.len) {
        m->thinking = s;
    } else if (s.len) { /* several thinking blocks: one text */
        char *j = sy_arena_alloc(d->a, m->thinking.len + s.len + 1);
        if (!j)
            return oom(d->err);
        memcpy(j, m->thinking.p, m->thinking.len);
        memcpy(j + m->thinking.len, s.p, s.len);
        j[m->thinking.len + s.len] = '\0';
        m->thinking.p = j;
        m->thinking.len += s.len;
    }
    return SY_OK;
}

/*
 * messages[i] with array content. A user message's tool_result blocks are
 * pushed as tool messages as they come; its text and images are gathered
 * and pushed after them as one user message. An assistant message's text,
 * tool_use and thinking blocks make one assistant message.
 */
static sy_err_t decode_blocks(dec_t *d, const sy_jval_t *arr, size_t i, sy_role_t role)
{
    char p[PATH_MAX_LEN], cb[48];
    size_t pos = 0, j = 0, n = count_elements(arr), n_results = 0;
    sy_jval_t el, tv;
    sy_str_t type;
    sy_msg_t m;
    sy_err_t rc;
    memset(&m, 0, sizeof(m));
    m.role = role;
    if (!(m.parts = alloc_array(d, n, sizeof(sy_part_t))))
        return SY_ENOMEM;
    if (role == SY_ROLE_ASSISTANT && !(m.calls = alloc_array(d, n, sizeof(sy_tool_call_t))))
        return SY_ENOMEM;
    while (sy_json_next_element(arr, &pos, &el)) {
        pathf(p, "messages.%zu.content.%zu", i, j++);
        if ((rc = want(&el, T_OBJ, p, "an object", d->err)))
            return rc;
        if (!sy_json_get(&el, "type", &tv))
            tv.p = NULL;
        if ((rc = block_type(d, &tv, p, &type)))
            return rc;
        if (str_is(type, "text")) {
            rc = decode_text(d, &el, p, &m);
        } else if (str_is(type, "image")) {
            if (role != SY_ROLE_USER)
                return fail(d->err, SY_EBADREQ, p, "images are allowed in user messages only");
            rc = decode_image(d, &el, p, &m);
        } else if (str_is(type, "tool_result")) {
            if (role != SY_ROLE_USER)
                return fail(d->err, SY_EBADREQ, p, "tool_result blocks are allowed in user messages only");
            rc = decode_tool_result(d, &el, p);
            n_results++;
        } else if (str_is(type, "tool_use")) {
            if (role != SY_ROLE_ASSISTANT)
                return fail(d->err, SY_EBADREQ, p, "tool_use blocks are allowed in assistant messages only");
            rc = decode_tool_use(d, &el, p, &m);
        } else if (str_is(type, "thinking") || str_is(type, "redacted_thinking")) {
            if (role != SY_ROLE_ASSISTANT)
                return fail(d->err, SY_EBADREQ, p, "%s blocks are allowed in assistant messages only",
                            clip(type, cb));
            /* redacted thinking is encrypted for Anthropic alone: dropped */
            rc = str_is(type, "thinking") ? decode_thinking(d, &el, p, &m) : SY_OK;
        } else {
            rc = fail(d->err, SY_EBADREQ, p,
                      "content blocks of type '%s' are not supported (expected text, image, tool_use, "
                      "tool_result or thinking)",
                      clip(type, cb));
        }
        if (rc)
            return rc;
    }
    /* a user message made only of tool results needs no user message */
    if (role == SY_ROLE_USER && n_results && !m.n_parts)
        return SY_OK;
    sy_msg_t *slot = push_msg(d, role);
    if (!slot)
        return SY_EINTERNAL;
    *slot = m;
    return SY_OK;
}

static sy_err_t decode_message(dec_t *d, const sy_jval_t *el, size_t i)
{
    static const char *const names[] = {"role", "content"};
    char p[PATH_MAX_LEN];
    sy_jval_t f[2];
    sy_role_t role;
    sy_err_t rc;
    pathf(p, "messages.%zu", i);
    if ((rc = want(el, T_OBJ, p, "an object", d->err)))
        return rc;
    sy_json_members(el, names, f, 2, 0);
    pathf(p, "messages.%zu.role", i);
    if (!f[0].p)
        return missing(d->err, p);
    if ((rc = want(&f[0], T_STR, p, "a string", d->err)))
        return rc;
    if (jstr_is(&f[0], "user"))
        role = SY_ROLE_USER;
    else if (jstr_is(&f[0], "assistant"))
        role = SY_ROLE_ASSISTANT;
    else
        return fail(d->err, SY_EBADFIELD, p,
                    "Input should be 'user' or 'assistant' (a system prompt goes in the top-level 'system')");
    pathf(p, "messages.%zu.content", i);
    if (!f[1].p)
        return missing(d->err, p);
    if ((rc = want(&f[1], T_STR | T_ARR, p, "a string or an array of content blocks", d->err)))
        return rc;
    if (f[1].type == SY_JARRAY)
        return decode_blocks(d, &f[1], i, role);
    sy_msg_t *m = push_msg(d, role);
    if (!m || !(m->parts = alloc_array(d, 1, sizeof(sy_part_t))))
        return d->err->code;
    m->parts[0].kind = SY_PART_TEXT;
    m->n_parts = 1;
    return dstr(d, &f[1], &m->parts[0].text);
}

/* How many canonical messages `messages` makes at most: one per message
 * plus one per tool_result block (a user message may split in two). */
static size_t count_msgs(const sy_jval_t *msgs)
{
    size_t pos = 0, n = 0;
    sy_jval_t m, content, blk, type;
    while (sy_json_next_element(msgs, &pos, &m)) {
        n++;
        if (m.type != SY_JOBJECT || !sy_json_get(&m, "content", &content) || content.type != SY_JARRAY)
            continue;
        size_t bpos = 0;
        while (sy_json_next_element(&content, &bpos, &blk))
            if (blk.type == SY_JOBJECT && sy_json_get(&blk, "type", &type) && jstr_is(&type, "tool_result"))
                n++;
    }
    return n;
}

/* The top-level system prompt: a string or an array of text blocks, made
 * into the leading system message (one part per block). */
static sy_err_t decode_system(dec_t *d, const sy_jval_t *v)
{
    char p[PATH_MAX_LEN], cb[48];
    size_t pos = 0, j = 0;
    sy_jval_t el, tv;
    sy_str_t type;
    sy_msg_t m;
    sy_err_t rc;
    memset(&m, 0, sizeof(m));
    m.role = SY_ROLE_SYSTEM;
    if (v->type == SY_JSTRING) {
        if (!(m.parts = alloc_array(d, 1, sizeof(sy_part_t))))
            return SY_ENOMEM;
        if ((rc = dstr(d, v, &m.parts[0].text)))
            return rc;
        m.parts[0].kind = SY_PART_TEXT;
        m.n_parts = m.parts[0].text.len ? 1 : 0;
    } else {
        if (!(m.parts = alloc_array(d, count_elements(v), sizeof(sy_part_t))))
            return SY_ENOMEM;
        while (sy_json_next_element(v, &pos, &el)) {
            pathf(p, "system.%zu", j++);
            if ((rc = want(&el, T_OBJ, p, "an object", d->err)))
                return rc;
            if (!sy_json_get(&el, "type", &tv))
                tv.p = NULL;
            if ((rc = block_type(d, &tv, p, &type)))
                return rc;
            if (!str_is(type, "text"))
                return fail(d->err, SY_EBADFIELD, p, "system blocks must be of type 'text', not '%s'",
                            clip(type, cb));
            if ((rc = decode_text(d, &el, p, &m)))
                return rc;
        }
    }
    if (!m.n_parts)
        return SY_OK;
    sy_msg_t *slot = push_msg(d, SY_ROLE_SYSTEM);
    if (!slot)
        return SY_EINTERNAL;
    *slot = m;
    return SY_OK;
}

/* ---- decoding: tools and the rest ------------------------------------------ */

static sy_err_t decode_tools(dec_t *d, const sy_jval_t *v)
{
    static const char *const names[] = {"name", "description", "input_schema", "type"};
    char p[PATH_MAX_LEN], cb[48];
    size_t pos = 0, i = 0;
    sy_jval_t el, f[4];
    sy_str_t type;
    sy_err_t rc;
    sy_creq_t *q = d->q;
    if (!(q->tools = alloc_array(d, count_elements(v), sizeof(sy_tool_t))))
        return SY_ENOMEM;
    while (sy_json_next_element(v, &pos, &el)) {
        sy_tool_t *t = &q->tools[i];
        pathf(p, "tools.%zu", i);
        if ((rc = want(&el, T_OBJ, p, "an object", d->err)))
            return rc;
        sy_json_members(&el, names, f, 4, 0);
        /* custom tools have no type or "custom"; the others (web_search,
         * bash, text_editor, ...) run inside Anthropic's service */
        if (f[3].p && f[3].type != SY_JNULL) {
            if ((rc = block_type(d, &f[3], p, &type)))
                return rc;
            if (!str_is(type, "custom"))
                return fail(d->err, SY_EBADREQ, p,
                            "server tools (type '%s') are not supported; only custom tools with an input_schema "
                            "can be translated",
                            clip(type, cb));
        }
        if ((rc = req_str(d, &f[0], p, "name", &t->name)))
            return rc;
        if (!t->name.len) {
            pathf(p, "tools.%zu.name", i);
            return fail(d->err, SY_EBADFIELD, p, "must not be empty");
        }
        if (f[1].p && f[1].type != SY_JNULL && (rc = req_str(d, &f[1], p, "description", &t->description)))
            return rc;
        pathf(p, "tools.%zu.input_schema", i);
        if (!f[2].p)
            return missing(d->err, p);
        if ((rc = want(&f[2], T_OBJ, p, "a JSON Schema object", d->err)))
            return rc;
        t->parameters = f[2];
        q->n_tools = ++i;
    }
    return SY_OK;
}

/* {"type": auto | any | tool (with name) | none, "disable_parallel_tool_use"} */
static sy_err_t decode_tool_choice(dec_t *d, const sy_jval_t *v)
{
    static const char *const names[] = {"type", "name", "disable_parallel_tool_use"};
    char cb[48];
    sy_jval_t f[3];
    sy_str_t type;
    sy_err_t rc;
    sy_creq_t *q = d->q;
    sy_json_members(v, names, f, 3, 0);
    if ((rc = block_type(d, &f[0], "tool_choice", &type)))
        return rc;
    if (str_is(type, "auto")) {
        q->tool_choice = SY_TOOLS_AUTO;
    } else if (str_is(type, "any")) {
        q->tool_choice = SY_TOOLS_REQUIRED;
    } else if (str_is(type, "none")) {
        q->tool_choice = SY_TOOLS_NONE;
    } else if (str_is(type, "tool")) {
        if ((rc = req_str(d, &f[1], "tool_choice", "name", &q->tool_choice_name)))
            return rc;
        q->tool_choice = SY_TOOLS_NAMED;
    } else {
        return fail(d->err, SY_EBADFIELD, "tool_choice.type",
                    "Input should be 'auto', 'any', 'tool' or 'none', not '%s'", clip(type, cb));
    }
    if (f[2].p && f[2].type != SY_JNULL) {
        if ((rc = want(&f[2], T_BOOL, "tool_choice.disable_parallel_tool_use", "a boolean", d->err)))
            return rc;
        q->parallel_tool_calls = !sy_json_true(&f[2]);
    }
    return SY_OK;
}

static sy_err_t decode_stop(dec_t *d, const sy_jval_t *v)
{
    char p[PATH_MAX_LEN];
    size_t pos = 0, i = 0;
    sy_jval_t el;
    sy_err_t rc;
    sy_creq_t *q = d->q;
    if (!(q->stop = alloc_array(d, count_elements(v), sizeof(sy_str_t))))
        return SY_ENOMEM;
    while (sy_json_next_element(v, &pos, &el)) {
        pathf(p, "stop_sequences.%zu", i);
        if ((rc = want(&el, T_STR, p, "a string", d->err)) || (rc = dstr(d, &el, &q->stop[i])))
            return rc;
        q->n_stop = ++i;
    }
    return SY_OK;
}

/* thinking {"type":"enabled","budget_tokens":N} | {"type":"disabled"}: the
 * canonical form has only Ollama's think switch for it (the budget has no
 * counterpart and is dropped). */
static sy_err_t decode_thinking_config(dec_t *d, const sy_jval_t *v)
{
    static const sy_jval_t yes = {"true", 4, SY_JBOOL}, no = {"false", 5, SY_JBOOL};
    char cb[48];
    sy_jval_t tv, bt;
    sy_str_t type;
    sy_err_t rc;
    if (!sy_json_get(v, "type", &tv))
        tv.p = NULL;
    if ((rc = block_type(d, &tv, "thinking", &type)))
        return rc;
    if (sy_json_get(v, "budget_tokens", &bt) &&
        (rc = want(&bt, T_INT | T_NULL, "thinking.budget_tokens", "an integer", d->err)))
        return rc;
    if (str_is(type, "enabled") || str_is(type, "adaptive"))
        d->q->think = yes;
    else if (str_is(type, "disabled"))
        d->q->think = no;
    else
        return fail(d->err, SY_EBADFIELD, "thinking.type", "Input should be 'enabled' or 'disabled', not '%s'",
                    clip(type, cb));
    return SY_OK;
}

/* The top-level fields read; every other field is ignored. Only model,
 * messages and max_tokens refuse null. */
enum {
    K_MODEL, K_MAX_TOKENS, K_MESSAGES, K_SYSTEM, K_STOP, K_TEMPERATURE, K_TOP_P, K_TOP_K, K_STREAM,
    K_TOOLS, K_TOOL_CHOICE, K_METADATA, K_THINKING, K_COUNT
};

static const struct {
    const char *name;
    int types;
    const char *expect;
} top_fields[K_COUNT] = {
    [K_MODEL] = {"model", T_STR, "a string"},
    [K_MAX_TOKENS] = {"max_tokens", T_INT, "an integer"},
    [K_MESSAGES] = {"messages", T_ARR, "an array of messages"},
    [K_SYSTEM] = {"system", T_STR | T_ARR | T_NULL, "a string or an array of text blocks"},
    [K_STOP] = {"stop_sequences", T_ARR | T_NULL, "an array of strings"},
    [K_TEMPERATURE] = {"temperature", T_NUM | T_NULL, "a number"},
    [K_TOP_P] = {"top_p", T_NUM | T_NULL, "a number"},
    [K_TOP_K] = {"top_k", T_INT | T_NULL, "an integer"},
    [K_STREAM] = {"stream", T_BOOL | T_NULL, "a boolean"},
    [K_TOOLS] = {"tools", T_ARR | T_NULL, "an array of tools"},
    [K_TOOL_CHOICE] = {"tool_choice", T_OBJ | T_NULL, "an object"},
    [K_METADATA] = {"metadata", T_OBJ | T_NULL, "an object"},
    [K_THINKING] = {"thinking", T_OBJ | T_NULL, "an object"},
};

/* Decode a validated object; need_max: max_tokens is required (Messages)
 * or ignored (count_tokens). */
static sy_err_t decode_body(const sy_jval_t *doc, int need_max, sy_arena_t *a, sy_creq_t *q, sy_error_t *err)
{
    size_t pos = 0;
    sy_jval_t k, v, f[K_COUNT];
    sy_err_t rc;
    dec_t d = {a, q, 0, err};

    for (size_t i = 0; i < K_COUNT; i++)
        f[i].p = NULL;
    while (sy_json_next_member(doc, &pos, &k, &v)) {
        for (size_t i = 0; i < K_COUNT; i++) {
            if (!sy_json_key_is(&k, top_fields[i].name))
                continue;
            if (f[i].p) /* parsers disagree on which duplicate wins: refuse to guess */
                return fail(err, SY_EBADREQ, top_fields[i].name, "duplicate field");
            if ((rc = want(&v, top_fields[i].types, top_fields[i].name, top_fields[i].expect, err)))
                return rc;
            f[i] = v;
            break;
        }
    }
#define GIVEN(i) (f[i].p && f[i].type != SY_JNULL)
    if (!f[K_MODEL].p)
        return missing(err, "model");
    if ((rc = dstr(&d, &f[K_MODEL], &q->model)))
        return rc;
    if (!q->model.len)
        return fail(err, SY_EBADFIELD, "model", "must not be empty");
    if (need_max) {
        if (!f[K_MAX_TOKENS].p)
            return missing(err, "max_tokens");
        if (sy_json_int(&f[K_MAX_TOKENS], &q->max_tokens) < 0 || q->max_tokens < 1)
            return fail(err, SY_EBADFIELD, "max_tokens", "Input should be greater than or equal to 1");
    }
    if (!f[K_MESSAGES].p)
        return missing(err, "messages");

    d.cap_msgs = count_msgs(&f[K_MESSAGES]) + 1; /* + the system prompt */
    if (!(q->msgs = alloc_array(&d, d.cap_msgs, sizeof(sy_msg_t))))
        return SY_ENOMEM;
    if (GIVEN(K_SYSTEM) && (rc = decode_system(&d, &f[K_SYSTEM])))
        return rc;
    size_t epos = 0, i = 0;
    while (sy_json_next_element(&f[K_MESSAGES], &epos, &v))
        if ((rc = decode_message(&d, &v, i++)))
            return rc;
    if (i == 0)
        return fail(err, SY_EBADREQ, "messages", "at least one message is required");

    if (GIVEN(K_STOP) && (rc = decode_stop(&d, &f[K_STOP])))
        return rc;
    if (GIVEN(K_TEMPERATURE))
        q->temperature = f[K_TEMPERATURE];
    if (GIVEN(K_TOP_P))
        q->top_p = f[K_TOP_P];
    if (GIVEN(K_TOP_K))
        q->top_k = f[K_TOP_K];
    q->stream = GIVEN(K_STREAM) && sy_json_true(&f[K_STREAM]);
    if (GIVEN(K_TOOLS) && (rc = decode_tools(&d, &f[K_TOOLS])))
        return rc;
    if (GIVEN(K_TOOL_CHOICE) && (rc = decode_tool_choice(&d, &f[K_TOOL_CHOICE])))
        return rc;
    if (GIVEN(K_METADATA) && sy_json_get(&f[K_METADATA], "user_id", &v) && v.type != SY_JNULL) {
        if ((rc = want(&v, T_STR, "metadata.user_id", "a string", err)) || (rc = dstr(&d, &v, &q->user)))
            return rc;
    }
    if (GIVEN(K_THINKING) && (rc = decode_thinking_config(&d, &f[K_THINKING])))
        return rc;
#undef GIVEN
    return SY_OK;
}

static sy_err_t decode(const char *body, size_t len, int need_max, sy_arena_t *a, sy_creq_t *q, sy_error_t *err)
{
    sy_jval_t doc;
    sy_creq_init(q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_err_t rc = sy__api_json_object(body, len, &doc, err);
    return rc != SY_OK ? rc : decode_body(&doc, need_max, a, q, err);
}

sy_err_t sy_api_anthropic_decode(const char *body, size_t len, sy_arena_t *a, sy_creq_t *q, sy_error_t *err)
{
    return decode(body, len, 1, a, q, err);
}

/* ---- handlers ------------------------------------------------------------- */

/* The body decoded into a canonical request in r's arena; on failure the
 * request is answered and NULL returned. */
static sy_creq_t *decode_request(sy_req_t *r, int need_max)
{
    sy_error_t err;
    struct evbuffer *b = sy_req_body(r);
    size_t n = b ? evbuffer_get_length(b) : 0;
    const char *s = n ? (const char *)evbuffer_pullup(b, -1) : NULL;
    sy_creq_t *q = sy_arena_alloc(&r->arena, sizeof(*q));
    if (!q || (n && !s)) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return NULL;
    }
    if (decode(s, n, need_max, &r->arena, q, &err) != SY_OK) {
        sy_respond_error(r, &err, -1);
        return NULL;
    }
    return q;
}

void sy_api_anthropic_messages(sy_req_t *r)
{
    sy_creq_t *q = decode_request(r, 1);
    if (q)
        sy_pipeline_translate(r, q, &sy_ingress_anthropic, 0);
}

/* Whether name is served: a configured model (even one whose providers
 * are disabled now), or whatever else the router resolves - a
 * "provider/model" address or a discovered model. */
static int model_known(const sy_config_t *cfg, const sy_disc_snap_t *disc, const char *name)
{
    sy_route_t route;
    sy_error_t err;
    return sy_config_find_model(cfg, name) || sy_router_resolve_with(cfg, disc, name, 0, &route, &err) == SY_OK;
}

/*
 * count_tokens: the estimate for body against cfg's models. Internal
 * (sy__) so its unit test reaches it without a server; declared here and
 * in the test. The model's name goes to model (model_cap bytes, cut short
 * if need be; for the log line) once decoded. Returns SY_OK with *tokens,
 * or the error for the client (SY_ENOMODEL when nothing serves the model).
 */
sy_err_t sy__api_anthropic_count(const sy_config_t *cfg, const sy_disc_snap_t *disc, const char *body, size_t len,
                                 sy_arena_t *a, char *model, size_t model_cap, int64_t *tokens, sy_error_t *err)
{
    char name[256];
    sy_creq_t q;
    sy_err_t rc;
    if ((rc = decode(body, len, 0, a, &q, err)) != SY_OK)
        return rc;
    if (q.model.len >= sizeof(name) || memchr(q.model.p, '\0', q.model.len))
        return fail(err, SY_EBADFIELD, "model", "must be a string of at most %zu bytes without NUL",
                    sizeof(name) - 1);
    memcpy(name, q.model.p, q.model.len);
    name[q.model.len] = '\0';
    if (model_cap) {
        size_t n = q.model.len < model_cap ? q.model.len : model_cap - 1;
        memcpy(model, name, n);
        model[n] = '\0';
    }
    if (!model_known(cfg, disc, name))
        return fail(err, SY_ENOMODEL, "model", "%.200s", name);
    *tokens = sy_creq_estimate_tokens(&q);
    return SY_OK;
}

/*
 * count_tokens answers from the gateway's own estimate (canon.h), not from a
 * tokenizer: the upstream may not be Anthropic and may not count at all.
 * The x-switchyard-estimate header says so.
 */
void sy_api_anthropic_count_tokens(sy_req_t *r)
{
    char body[64];
    sy_error_t err;
    int64_t tokens = 0;
    struct evbuffer *b = sy_req_body(r);
    size_t n = b ? evbuffer_get_length(b) : 0;
    const char *s = n ? (const char *)evbuffer_pullup(b, -1) : NULL;
    if (n && !s) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    const sy_disc_snap_t *disc = sy_discovery_acquire(r->w->srv->discovery);
    sy_err_t crc = sy__api_anthropic_count(r->w->srv->cfg, disc, s, n, &r->arena, r->model, sizeof(r->model), &tokens,
                                           &err);
    sy_disc_snap_release(disc);
    if (crc !=
        SY_OK) {
        sy_respond_error(r, &err, -1);
        return;
    }
    int m = snprintf(body, sizeof(body), "{\"input_tokens\":%lld}", (long long)tokens);
    sy_req_set_header(r, "x-switchyard-estimate", "true");
    sy_req_reply(r, 200, "application/json", body, (size_t)m);
}

/* ---- encoding ------------------------------------------------------------- */

/* enc->started: 0 nothing written, 1 message_start written, 2 closed
 * (message_stop or an error event written): nothing more goes out. */
#define ST_OPEN 1
#define ST_CLOSED 2

static const char *enc_id(const sy_enc_t *e)
{
    return e->id ? e->id : "";
}

/* "msg_<request id>" */
static void message_id(const sy_enc_t *e, struct evbuffer *out)
{
    SY_JW_LIT(out, "\"msg_");
    sy_jw_escaped(out, enc_id(e), strlen(enc_id(e)));
    SY_JW_LIT(out, "\"");
}

/* The id of tool call `index`: the upstream's, or "toolu_<index>_<request
 * id>" when it gave none - the same in a stream and a whole answer. Anthropic
 * accepts only [A-Za-z0-9_-] in ids it is sent back, so other bytes of a
 * client-chosen request id become '_'. */
static void call_id(const sy_enc_t *e, int index, const char *given, size_t given_len, struct evbuffer *out)
{
    char buf[80];
    if (given && given_len) {
        sy_jw_str(out, given, given_len);
        return;
    }
    int n = snprintf(buf, sizeof(buf), "toolu_%d_%s", index, enc_id(e));
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    for (int i = 0; i < n; i++) {
        char c = buf[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            buf[i] = '_';
    }
    sy_jw_raw(out, "\"", 1);
    sy_jw_raw(out, buf, (size_t)n);
    sy_jw_raw(out, "\"", 1);
}

static int64_t nz(int64_t v)
{
    return v > 0 ? v : 0;
}

/* {"input_tokens":…, cache counts when known, "output_tokens":…}; a count
 * the upstream did not give is 0. */
static void usage_object(const sy_usage_t *u, struct evbuffer *out)
{
    /* canonical input counts cached tokens too; Anthropic's does not */
    int64_t in = nz(u->input_tokens) - nz(u->cache_read_tokens) - nz(u->cache_write_tokens);
    SY_JW_LIT(out, "{\"input_tokens\":");
    sy_jw_int(out, in > 0 ? in : 0);
    if (u->cache_write_tokens >= 0) {
        SY_JW_LIT(out, ",\"cache_creation_input_tokens\":");
        sy_jw_int(out, u->cache_write_tokens);
    }
    if (u->cache_read_tokens >= 0) {
        SY_JW_LIT(out, ",\"cache_read_input_tokens\":");
        sy_jw_int(out, u->cache_read_tokens);
    }
    SY_JW_LIT(out, ",\"output_tokens\":");
    sy_jw_int(out, nz(u->output_tokens));
    SY_JW_LIT(out, "}");
}

/* The stop reason the client sees. An upstream that calls tools but says
 * only "stop" (Ollama does) still ends in tool_use for the client, whose
 * tool loop looks for that word; a stop sequence that matched is named as
 * Anthropic names it. */
static const char *stop_reason(sy_finish_t f, int has_calls, const char *stop_seq)
{
    if (f == SY_FINISH_NONE)
        f = SY_FINISH_STOP;
    if (f == SY_FINISH_STOP && has_calls)
        f = SY_FINISH_TOOL_CALLS;
    if (f == SY_FINISH_STOP && stop_seq && stop_seq[0])
        return "stop_sequence"; /* Anthropic's own refinement of "stop", no canonical reason */
    return sy_finish_to_anthropic(f);
}

static void stop_sequence(const char *s, struct evbuffer *out)
{
    if (s && s[0])
        sy_jw_cstr(out, s);
    else
        SY_JW_LIT(out, "null");
}

/* "event: <name>\ndata: " ... "\n\n" around each event's JSON. */
static void ev_open(struct evbuffer *out, const char *name)
{
    SY_JW_LIT(out, "event: ");
    sy_jw_raw(out, name, strlen(name));
    SY_JW_LIT(out, "\ndata: ");
}

static void ev_close(struct evbuffer *out)
{
    SY_JW_LIT(out, "\n\n");
}

/* message_start (with whatever usage is known by now) and a ping, once, as
 * Anthropic opens every stream. */
static void ensure_started(sy_enc_t *e, struct evbuffer *out)
{
    if (e->started)
        return;
    e->started = ST_OPEN;
    ev_open(out, "message_start");
    SY_JW_LIT(out, "{\"type\":\"message_start\",\"message\":{\"id\":");
    message_id(e, out);
    SY_JW_LIT(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    sy_jw_cstr(out, e->model ? e->model : "");
    SY_JW_LIT(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
    usage_object(&e->usage, out);
    SY_JW_LIT(out, "}}");
    ev_close(out);
    ev_open(out, "ping");
    SY_JW_LIT(out, "{\"type\":\"ping\"}");
    ev_close(out);
}

static void close_block(sy_enc_t *e, struct evbuffer *out)
{
    if (e->open_block < 0)
        return;
    ev_open(out, "content_block_stop");
    SY_JW_LIT(out, "{\"type\":\"content_block_stop\",\"index\":");
    sy_jw_int(out, e->open_block);
    SY_JW_LIT(out, "}");
    ev_close(out);
    e->open_block = -1;
}

/* Close the open block and start the next one of kind (SY_EV_TEXT,
 * SY_EV_THINKING, SY_EV_TOOL_CALL with ev's id and name). */
static void open_block(sy_enc_t *e, int kind, const sy_ev_t *ev, struct evbuffer *out)
{
    close_block(e, out);
    ev_open(out, "content_block_start");
    SY_JW_LIT(out, "{\"type\":\"content_block_start\",\"index\":");
    sy_jw_int(out, e->n_blocks);
    SY_JW_LIT(out, ",\"content_block\":");
    if (kind == SY_EV_TEXT) {
        SY_JW_LIT(out, "{\"type\":\"text\",\"text\":\"\"}");
    } else if (kind == SY_EV_THINKING) {
        SY_JW_LIT(out, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}");
    } else {
        SY_JW_LIT(out, "{\"type\":\"tool_use\",\"id\":");
        call_id(e, ev->index, ev->id.p, ev->id.len, out);
        SY_JW_LIT(out, ",\"name\":");
        sy_jw_str(out, ev->name.p, ev->name.len);
        SY_JW_LIT(out, ",\"input\":{}}");
        e->call_block = ev->index;
    }
    SY_JW_LIT(out, "}");
    ev_close(out);
    e->open_block = e->n_blocks++;
    e->open_kind = kind;
}

/* content_block_delta of the open block: delta_type and its one member. */
static void block_delta(const sy_enc_t *e, const char *delta_type, const char *member, sy_str_t s,
                        struct evbuffer *out)
{
    ev_open(out, "content_block_delta");
    SY_JW_LIT(out, "{\"type\":\"content_block_delta\",\"index\":");
    sy_jw_int(out, e->open_block);
    SY_JW_LIT(out, ",\"delta\":{\"type\":");
    sy_jw_cstr(out, delta_type);
    SY_JW_LIT(out, ",");
    sy_jw_cstr(out, member);
    SY_JW_LIT(out, ":");
    sy_jw_str(out, s.p, s.len);
    SY_JW_LIT(out, "}}");
    ev_close(out);
}

static void write_error(sy_enc_t *e, const sy_error_t *err, struct evbuffer *out)
{
    char buf[1500];
    size_t n = sy_error_json(SY_PROTO_ANTHROPIC, err, buf, sizeof(buf));
    ev_open(out, "error");
    sy_jw_raw(out, buf, n);
    ev_close(out);
    e->started = ST_CLOSED;
}

/*
 * One canonical event. message_start waits for the first content (or the
 * finish) so that counts an upstream reports at its start - Anthropic's own
 * message_start - are in it; the closing message_delta waits for end(),
 * since usage may come after the finish. A tool call's pieces go to its
 * block while it is open; a piece of a call whose block was closed by
 * another block cannot be placed in an Anthropic stream and is dropped
 * (upstreams send calls one after another).
 */
static void ant_event(sy_enc_t *e, const sy_ev_t *ev, struct evbuffer *out)
{
    if (e->started == ST_CLOSED)
        return;
    switch (ev->kind) {
    case SY_EV_START:
        return;
    case SY_EV_TEXT:
    case SY_EV_THINKING:
        if (!ev->text.len)
            return;
        ensure_started(e, out);
        if (e->open_block < 0 || e->open_kind != (int)ev->kind)
            open_block(e, ev->kind, ev, out);
        if (ev->kind == SY_EV_TEXT)
            block_delta(e, "text_delta", "text", ev->text, out);
        else
            block_delta(e, "thinking_delta", "thinking", ev->text, out);
        return;
    case SY_EV_TOOL_CALL:
        if (ev->index < 0 || ev->index >= SY_CRESP_MAX_CALLS)
            return;
        ensure_started(e, out);
        if (ev->index >= e->n_calls) {
            e->n_calls = ev->index + 1;
            open_block(e, SY_EV_TOOL_CALL, ev, out);
        } else if (e->open_block < 0 || e->open_kind != SY_EV_TOOL_CALL || e->call_block != ev->index) {
            return;
        }
        if (ev->args.len)
            block_delta(e, "input_json_delta", "partial_json", ev->args, out);
        return;
    case SY_EV_FINISH:
        ensure_started(e, out);
        close_block(e, out);
        if (e->finish == SY_FINISH_NONE) {
            e->finish = ev->finish ? ev->finish : SY_FINISH_STOP;
            size_t n = ev->stop_sequence.len < sizeof(e->stop_sequence) ? ev->stop_sequence.len : 0;
            if (n && memchr(ev->stop_sequence.p, '\0', n))
                n = 0;
            memcpy(e->stop_sequence, ev->stop_sequence.p ? ev->stop_sequence.p : "", n);
            e->stop_sequence[n] = '\0';
        }
        return;
    case SY_EV_USAGE:
        sy_usage_merge(&e->usage, &ev->usage);
        return;
    case SY_EV_ERROR:
        if (ev->error)
            write_error(e, ev->error, out);
        return;
    }
}

/* The stream ended well: close the last block, then message_delta with
 * the stop reason and every count known by now, and message_stop. An
 * answer with no content at all still gets one empty text block, as
 * Anthropic's do, so clients that read content[0] find it. */
static void ant_end(sy_enc_t *e, struct evbuffer *out)
{
    if (e->started == ST_CLOSED)
        return;
    ensure_started(e, out);
    if (e->n_blocks == 0) {
        sy_ev_t ev;
        memset(&ev, 0, sizeof(ev));
        open_block(e, SY_EV_TEXT, &ev, out);
    }
    close_block(e, out);
    ev_open(out, "message_delta");
    SY_JW_LIT(out, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
    sy_jw_cstr(out, stop_reason(e->finish, e->n_calls > 0, e->stop_sequence));
    SY_JW_LIT(out, ",\"stop_sequence\":");
    stop_sequence(e->stop_sequence, out);
    SY_JW_LIT(out, "},\"usage\":");
    usage_object(&e->usage, out);
    SY_JW_LIT(out, "}");
    ev_close(out);
    ev_open(out, "message_stop");
    SY_JW_LIT(out, "{\"type\":\"message_stop\"}");
    ev_close(out);
    e->started = ST_CLOSED;
}

/* An error event ends the stream; the SDKs raise it as an APIError of the
 * error's type. */
static void ant_error(sy_enc_t *e, const sy_error_t *err, struct evbuffer *out)
{
    if (e->started == ST_CLOSED)
        return;
    write_error(e, err, out);
}

/* Whether text is exactly one JSON object (whitespace around allowed). */
static int is_json_object(const char *s, size_t n)
{
    size_t off;
    const char *msg;
    return sy_json_validate(s, n, &off, &msg) == 0 && sy_json_value(s, n).type == SY_JOBJECT;
}

/*
 * A whole answer: the message object, its content blocks in Anthropic's
 * order (thinking, text, tool_use). A tool call's input is its arguments'
 * object; arguments that are empty or not an object (a model cut off by
 * max_tokens mid-call) are written as {} since the client's SDK would fail
 * on anything else and whole() has no way to fail the request.
 */
static void ant_whole(sy_enc_t *e, const sy_cresp_t *c, struct evbuffer *out)
{
    int first = 1;
    SY_JW_LIT(out, "{\"id\":");
    message_id(e, out);
    SY_JW_LIT(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    sy_jw_cstr(out, e->model ? e->model : "");
    SY_JW_LIT(out, ",\"content\":[");
    if (c->thinking_len) {
        SY_JW_LIT(out, "{\"type\":\"thinking\",\"thinking\":");
        sy_jw_str(out, c->thinking, c->thinking_len);
        SY_JW_LIT(out, ",\"signature\":\"\"}");
        first = 0;
    }
    if (c->text_len || (!c->thinking_len && !c->n_calls)) {
        if (!first)
            SY_JW_LIT(out, ",");
        SY_JW_LIT(out, "{\"type\":\"text\",\"text\":");
        sy_jw_str(out, c->text ? c->text : "", c->text_len);
        SY_JW_LIT(out, "}");
        first = 0;
    }
    for (size_t i = 0; i < c->n_calls; i++) {
        const sy_cresp_call_t *k = &c->calls[i];
        if (!first)
            SY_JW_LIT(out, ",");
        first = 0;
        SY_JW_LIT(out, "{\"type\":\"tool_use\",\"id\":");
        call_id(e, (int)i, k->id, k->id ? strlen(k->id) : 0, out);
        SY_JW_LIT(out, ",\"name\":");
        sy_jw_cstr(out, k->name ? k->name : "");
        SY_JW_LIT(out, ",\"input\":");
        if (k->args_len && is_json_object(k->args, k->args_len))
            sy_jw_raw(out, k->args, k->args_len);
        else
            SY_JW_LIT(out, "{}");
        SY_JW_LIT(out, "}");
    }
    SY_JW_LIT(out, "],\"stop_reason\":");
    sy_jw_cstr(out, stop_reason(c->finish, c->n_calls > 0, c->stop_sequence));
    SY_JW_LIT(out, ",\"stop_sequence\":");
    stop_sequence(c->stop_sequence, out);
    SY_JW_LIT(out, ",\"usage\":");
    usage_object(&c->usage, out);
    SY_JW_LIT(out, "}");
}

const sy_ingress_t sy_ingress_anthropic = {
    .proto = SY_PROTO_ANTHROPIC,
    .stream_type = "text/event-stream",
    .keepalive = 1,
    .event = ant_event,
    .end = ant_end,
    .error = ant_error,
    .whole = ant_whole,
    .embed = NULL, /* Anthropic has no embeddings API */
};
