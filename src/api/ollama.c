/*
 * ollama.c - the Ollama ingress: /api/chat, /api/generate, /api/embed,
 * /api/embeddings, /api/tags, /api/show, /api/ps, /api/version and "/".
 *
 * A client written for Ollama (the `ollama` libraries, Open WebUI, Continue,
 * LangChain) must not be able to tell Switchyard from a real Ollama. Its
 * bodies are decoded into the canonical request (core/canon.h), whatever
 * kind of upstream serves the model, and the canonical events come back
 * through sy_ingress_ollama as Ollama writes them: one JSON object per line
 * (NDJSON), the text in message.content (chat) or response (generate), each
 * tool call whole with its arguments as an object, and a last object with
 * done:true, done_reason and the token counts and durations.
 *
 * Decoding follows Go's encoding/json as Ollama uses it - keys match
 * without regard to case, null means "not said", unknown fields are ignored
 * - but a wrong type is a 400 that names the field. Requests Ollama answers
 * without running a model (an empty conversation "loads" the model, an
 * empty embedding input returns no vectors) are answered here, without an
 * upstream. docs/ollama.md says what is carried where and what is not.
 *
 * Two clocks are read through hooks (sy__ollama_wall, sy__ollama_mono) so
 * the unit tests get fixed timestamps and durations.
 */
#include <event2/buffer.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/jsonscan.h"
#include "core/jsonw.h"
#include "pipeline/error.h"
#include "pipeline/pipeline.h"
#include "providers/discovery.h"
#include "router/router.h"

/* What GET /api/version says: a real release of the time of the client
 * libraries we match (ollama-js 0.6.x), so version checks in clients pass. */
#define SY_OLLAMA_VERSION "0.12.11"
/* The context length /api/show and /api/ps report: the gateway does not
 * know the upstream's; most current models take at least this much. */
#define OLL_CONTEXT_LENGTH 131072
/* /api/ps: models are always "loaded", expiring this long from now (the
 * keep_alive Ollama uses by default). */
#define OLL_PS_EXPIRY_S 300
/* Bound on the tool call pieces a stream buffers until the calls are whole. */
#define OLL_MAX_PENDING (64u << 20)

/* ---- clocks ------------------------------------------------------------- */

static void wall_now(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

static uint64_t mono_now(void)
{
    return sy_now_ns();
}

/* Test hooks (internal, set only by tests/unit/api/ollama_test.c): the wall
 * clock behind created_at and expires_at, and the monotonic clock behind
 * the measured durations. */
void (*sy__ollama_wall)(struct timespec *ts) = wall_now;
uint64_t (*sy__ollama_mono)(void) = mono_now;

#define TIME_CAP 48

/* Go's time.RFC3339Nano in UTC, as Ollama writes its times:
 * "2024-07-22T20:33:28.123648Z" - the fraction without its trailing zeros,
 * none at all on a whole second. buf holds TIME_CAP bytes. */
static void rfc3339(char *buf, time_t sec, long nsec)
{
    /* every line of a stream carries a time: the seconds part is formatted
     * once per second and thread, the fraction by hand */
    static _Thread_local time_t last_sec = -1;
    static _Thread_local char last[TIME_CAP];
    static _Thread_local size_t last_n;
    size_t n = 0;
    if (sec != last_sec) {
        struct tm tm;
        if (gmtime_r(&sec, &tm))
            n = strftime(last, TIME_CAP - 12, "%Y-%m-%dT%H:%M:%S", &tm);
        if (n == 0) {
            memcpy(last, "1970-01-01T00:00:00", 19);
            n = 19;
        }
        last_n = n;
        last_sec = sec;
    }
    n = last_n;
    memcpy(buf, last, n);
    if (nsec > 0 && nsec < 1000000000L) {
        char frac[9];
        long v = nsec;
        for (int i = 8; i >= 0; i--, v /= 10)
            frac[i] = (char)('0' + v % 10);
        int k = 9;
        while (k > 0 && frac[k - 1] == '0')
            k--;
        buf[n++] = '.';
        memcpy(buf + n, frac, (size_t)k);
        n += (size_t)k;
    }
    buf[n++] = 'Z';
    buf[n] = '\0';
}

static void now_rfc3339(char *buf)
{
    struct timespec ts;
    sy__ollama_wall(&ts);
    rfc3339(buf, ts.tv_sec, ts.tv_nsec);
}

/* ---- decoding ----------------------------------------------------------- */

#define T_NULL (1 << SY_JNULL)
#define T_BOOL (1 << SY_JBOOL)
#define T_DOUBLE (1 << SY_JDOUBLE)
#define T_INT (1 << SY_JINT)
#define T_OBJ (1 << SY_JOBJECT)
#define T_ARR (1 << SY_JARRAY)
#define T_STR (1 << SY_JSTRING)
#define T_NUM (T_DOUBLE | T_INT)
#define MAX_FIELDS 24

typedef struct field {
    const char *name;
    int types;
    const char *expect; /* for the message: "a boolean" */
} field_t;

#define F_KEEP_ALIVE {"keep_alive", T_STR | T_NUM | T_NULL, "a duration string or a number of seconds"}
#define F_OPTIONS {"options", T_OBJ | T_NULL, "an object"}
#define F_FORMAT {"format", T_STR | T_OBJ | T_NULL, "\"json\" or a JSON schema object"}
#define F_THINK {"think", T_BOOL | T_STR | T_NULL, "a boolean or a string"}

/* The top-level fields of each body. Only model is required. Fields read
 * but not carried (template, context, shift, logprobs...) are typed all the
 * same: Ollama would refuse a wrong type too. */
static const field_t chat_fields[] = {
    {"model", T_STR | T_NULL, "a string"},
    {"messages", T_ARR | T_NULL, "an array of message objects"},
    {"stream", T_BOOL | T_NULL, "a boolean"},
    F_FORMAT,
    F_KEEP_ALIVE,
    {"tools", T_ARR | T_NULL, "an array of tool objects"},
    F_OPTIONS,
    F_THINK,
    {"truncate", T_BOOL | T_NULL, "a boolean"},
    {"shift", T_BOOL | T_NULL, "a boolean"},
    {"logprobs", T_BOOL | T_NULL, "a boolean"},
    {"top_logprobs", T_INT | T_NULL, "an integer"},
    {NULL, 0, NULL},
};

static const field_t generate_fields[] = {
    {"model", T_STR | T_NULL, "a string"},
    {"prompt", T_STR | T_NULL, "a string"},
    {"suffix", T_STR | T_NULL, "a string"},
    {"system", T_STR | T_NULL, "a string"},
    {"template", T_STR | T_NULL, "a string"},
    {"context", T_ARR | T_NULL, "an array of integers"},
    {"stream", T_BOOL | T_NULL, "a boolean"},
    {"raw", T_BOOL | T_NULL, "a boolean"},
    F_FORMAT,
    F_KEEP_ALIVE,
    {"images", T_ARR | T_NULL, "an array of base64 strings"},
    F_OPTIONS,
    F_THINK,
    {"truncate", T_BOOL | T_NULL, "a boolean"},
    {"shift", T_BOOL | T_NULL, "a boolean"},
    {"logprobs", T_BOOL | T_NULL, "a boolean"},
    {"top_logprobs", T_INT | T_NULL, "an integer"},
    {NULL, 0, NULL},
};

static const field_t embed_fields[] = {
    {"model", T_STR | T_NULL, "a string"},
    {"input", T_STR | T_ARR | T_NULL, "a string or an array of strings"},
    {"truncate", T_BOOL | T_NULL, "a boolean"},
    {"dimensions", T_INT | T_NULL, "an integer"},
    F_KEEP_ALIVE,
    F_OPTIONS,
    {NULL, 0, NULL},
};

static const field_t embeddings_fields[] = {
    {"model", T_STR | T_NULL, "a string"},
    {"prompt", T_STR | T_NULL, "a string"},
    F_KEEP_ALIVE,
    F_OPTIONS,
    {NULL, 0, NULL},
};

/* Go's encoding/json matches a key to a field exactly or, failing that,
 * without regard to case: "Model" sets model in a real Ollama, so here too. */
static int key_matches(const sy_jval_t *k, const char *name)
{
    size_t n = strlen(name);
    return sy_json_key_is(k, name) || (k->len == n && strncasecmp(k->p, name, n) == 0);
}

/* Member name of obj, matched as Go would; the last occurrence wins.
 * Returns 1 with *v set when present and not null. */
static int jget(const sy_jval_t *obj, const char *name, sy_jval_t *v)
{
    size_t pos = 0;
    sy_jval_t k, x;
    int found = 0;
    if (obj->type != SY_JOBJECT)
        return 0;
    while (sy_json_next_member(obj, &pos, &k, &x)) {
        if (key_matches(&k, name)) {
            *v = x;
            found = 1;
        }
    }
    return found && v->type != SY_JNULL;
}

typedef struct dec {
    sy_arena_t *a;
    sy_creq_t *q;
    sy_error_t *err;
} dec_t;

static sy_err_t bad_type(dec_t *d, const char *param, const char *expect, const sy_jval_t *v)
{
    sy_error_set(d->err, SY_EBADFIELD, param, "invalid type for '%s': expected %s, got %s", param, expect,
                 sy_jtype_name(v->type));
    return SY_EBADFIELD;
}

static sy_err_t missing(dec_t *d, const char *param)
{
    sy_error_set(d->err, SY_EMISSING, param, "missing required parameter: '%s'", param);
    return SY_EMISSING;
}

static sy_err_t nomem(dec_t *d)
{
    sy_error_set(d->err, SY_ENOMEM, NULL, "out of memory decoding the request");
    return SY_ENOMEM;
}

/* Check the type of every known top-level field; keep their values in vals
 * (table order, p NULL when absent). Duplicates - also ones differing only
 * in case - are refused: parsers disagree on which one wins. */
static sy_err_t check_fields(dec_t *d, const sy_jval_t *doc, const field_t *fields, sy_jval_t *vals)
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
            if (!key_matches(&k, f->name))
                continue;
            if (vals[i].p) {
                sy_error_set(d->err, SY_EBADREQ, f->name, "duplicate field '%s'", f->name);
                return SY_EBADREQ;
            }
            if (!(f->types & (1 << v.type)))
                return bad_type(d, f->name, f->expect, &v);
            vals[i] = v;
            break;
        }
    }
    /* null is "not said", as in Go */
    for (size_t i = 0; i < nf; i++)
        if (vals[i].p && vals[i].type == SY_JNULL)
            vals[i].p = NULL;
    return SY_OK;
}

/* The value of top-level field name (NULL when absent or null). */
static const sy_jval_t *field(const field_t *fields, const sy_jval_t *vals, const char *name)
{
    for (size_t i = 0; fields[i].name; i++)
        if (strcmp(fields[i].name, name) == 0)
            return vals[i].p ? &vals[i] : NULL;
    return NULL;
}

static sy_err_t dup_str(dec_t *d, const sy_jval_t *v, sy_str_t *out)
{
    return sy_canon_str(d->a, v, out) == 0 ? SY_OK : nomem(d);
}

/* An optional string member of obj: absent or null leaves *out empty. */
static sy_err_t opt_str(dec_t *d, const sy_jval_t *obj, const char *name, const char *param, sy_str_t *out)
{
    sy_jval_t v;
    *out = SY_STR_NULL;
    if (!jget(obj, name, &v))
        return SY_OK;
    if (v.type != SY_JSTRING)
        return bad_type(d, param, "a string", &v);
    return dup_str(d, &v, out);
}

/* A JSON number as int64; a fraction is cut off (Ollama reads its integer
 * options from float64s). Returns 0 or -1 when out of range. */
static int num_i64(const sy_jval_t *v, int64_t *out)
{
    double x;
    if (v->type == SY_JINT)
        return sy_json_int(v, out);
    if (sy_json_double(v, &x) < 0)
        return -1;
    if (!(x > -9.2e18 && x < 9.2e18))
        return -1;
    *out = (int64_t)x;
    return 0;
}

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
           c == '=' || c == '\r' || c == '\n';
}

/* One image: base64 bytes (Ollama's only form), or - more lenient than
 * Ollama - a data: URL, whose media type is then kept. */
static sy_err_t decode_image(dec_t *d, const sy_jval_t *v, const char *param, sy_part_t *part)
{
    sy_str_t s, media, data;
    if (v->type != SY_JSTRING)
        return bad_type(d, param, "a base64 string", v);
    if (dup_str(d, v, &s) != SY_OK)
        return SY_ENOMEM;
    memset(part, 0, sizeof(*part));
    part->kind = SY_PART_IMAGE;
    if (sy_canon_data_url(s, &media, &data)) {
        part->media_type = media;
        s = data;
    }
    int ok = s.len > 0;
    for (size_t i = 0; ok && i < s.len; i++)
        ok = b64_char((unsigned char)s.p[i]);
    if (!ok) {
        sy_error_set(d->err, SY_EBADFIELD, param, "'%s' is not base64 image data", param);
        return SY_EBADFIELD;
    }
    part->data = s;
    return SY_OK;
}

/* Count the elements of an array (0 for anything else). */
static size_t count_elements(const sy_jval_t *arr)
{
    size_t pos = 0, n = 0;
    sy_jval_t v;
    while (sy_json_next_element(arr, &pos, &v))
        n++;
    return n;
}

/* A message's parts: its images first (where Ollama's templates put them),
 * then its text - present when non-empty or when there is nothing else. */
static sy_err_t decode_parts(dec_t *d, const sy_jval_t *images, const char *param, sy_str_t text, int has_calls,
                             sy_msg_t *m)
{
    size_t n_img = images ? count_elements(images) : 0, pos = 0, i = 0;
    int with_text = text.len > 0 || (n_img == 0 && !has_calls);
    sy_jval_t v;
    char p[64];
    m->parts = sy_arena_calloc(d->a, n_img + 1, sizeof(sy_part_t));
    if (!m->parts)
        return nomem(d);
    while (images && sy_json_next_element(images, &pos, &v)) {
        snprintf(p, sizeof(p), "%s[%zu]", param, i);
        if (decode_image(d, &v, p, &m->parts[i]) != SY_OK)
            return d->err->code;
        i++;
    }
    if (with_text) {
        m->parts[i].kind = SY_PART_TEXT;
        m->parts[i].text = text;
        i++;
    }
    m->n_parts = i;
    return SY_OK;
}

/* A tool call's arguments: Ollama's object (its JSON text), or - lenient -
 * a string holding one, as OpenAI writes them. Absent means {}. */
static sy_err_t decode_args(dec_t *d, const sy_jval_t *fn, const char *param, sy_str_t *out)
{
    sy_jval_t v;
    if (!jget(fn, "arguments", &v)) {
        *out = (sy_str_t){"{}", 2};
        return SY_OK;
    }
    if (v.type == SY_JOBJECT)
        return sy_canon_dup(d->a, v.p, v.len, out) == 0 ? SY_OK : nomem(d);
    if (v.type == SY_JSTRING) {
        if (dup_str(d, &v, out) != SY_OK)
            return SY_ENOMEM;
        if (sy_json_validate(out->p, out->len, NULL, NULL) == 0 &&
            sy_json_value(out->p, out->len).type == SY_JOBJECT)
            return SY_OK;
        sy_error_set(d->err, SY_EBADFIELD, param, "'%s' must be a JSON object", param);
        return SY_EBADFIELD;
    }
    return bad_type(d, param, "an object", &v);
}

static sy_err_t decode_calls(dec_t *d, const sy_jval_t *arr, size_t mi, sy_msg_t *m)
{
    size_t n = count_elements(arr), pos = 0, i = 0;
    sy_jval_t c, fn, name;
    char p[64];
    m->calls = sy_arena_calloc(d->a, n ? n : 1, sizeof(sy_tool_call_t));
    if (!m->calls)
        return nomem(d);
    while (sy_json_next_element(arr, &pos, &c)) {
        sy_tool_call_t *k = &m->calls[i];
        snprintf(p, sizeof(p), "messages[%zu].tool_calls[%zu]", mi, i);
        if (c.type != SY_JOBJECT)
            return bad_type(d, p, "an object", &c);
        snprintf(p, sizeof(p), "messages[%zu].tool_calls[%zu].id", mi, i);
        if (opt_str(d, &c, "id", p, &k->id) != SY_OK)
            return d->err->code;
        snprintf(p, sizeof(p), "messages[%zu].tool_calls[%zu].function", mi, i);
        if (!jget(&c, "function", &fn))
            return missing(d, p);
        if (fn.type != SY_JOBJECT)
            return bad_type(d, p, "an object", &fn);
        snprintf(p, sizeof(p), "messages[%zu].tool_calls[%zu].function.name", mi, i);
        if (!jget(&fn, "name", &name))
            return missing(d, p);
        if (name.type != SY_JSTRING)
            return bad_type(d, p, "a string", &name);
        if (dup_str(d, &name, &k->name) != SY_OK)
            return SY_ENOMEM;
        snprintf(p, sizeof(p), "messages[%zu].tool_calls[%zu].function.arguments", mi, i);
        if (decode_args(d, &fn, p, &k->args) != SY_OK)
            return d->err->code;
        i++;
    }
    m->n_calls = i;
    return SY_OK;
}

/* One chat message. The role is read without regard to case, as Ollama
 * lowers it. */
static sy_err_t decode_message(dec_t *d, const sy_jval_t *mv, size_t i, sy_msg_t *m)
{
    sy_jval_t v, images, calls;
    sy_str_t role, content;
    char p[64];
    memset(m, 0, sizeof(*m));
    snprintf(p, sizeof(p), "messages[%zu]", i);
    if (mv->type != SY_JOBJECT)
        return bad_type(d, p, "an object", mv);
    snprintf(p, sizeof(p), "messages[%zu].role", i);
    if (!jget(mv, "role", &v))
        return missing(d, p);
    if (v.type != SY_JSTRING)
        return bad_type(d, p, "a string", &v);
    if (dup_str(d, &v, &role) != SY_OK)
        return SY_ENOMEM;
    int r = -1;
    for (int k = SY_ROLE_SYSTEM; k <= SY_ROLE_TOOL && r < 0; k++) {
        const char *name = sy_role_name((sy_role_t)k);
        if (role.len == strlen(name) && strncasecmp(role.p, name, role.len) == 0)
            r = k;
    }
    if (r < 0) {
        sy_error_set(d->err, SY_EBADFIELD, p, "'%s' must be \"system\", \"user\", \"assistant\" or \"tool\", got \"%.40s\"",
                     p, role.p);
        return SY_EBADFIELD;
    }
    m->role = (sy_role_t)r;

    snprintf(p, sizeof(p), "messages[%zu].content", i);
    if (opt_str(d, mv, "content", p, &content) != SY_OK)
        return d->err->code;
    snprintf(p, sizeof(p), "messages[%zu].thinking", i);
    if (opt_str(d, mv, "thinking", p, &m->thinking) != SY_OK)
        return d->err->code;
    snprintf(p, sizeof(p), "messages[%zu].tool_name", i);
    if (opt_str(d, mv, "tool_name", p, &m->tool_name) != SY_OK)
        return d->err->code;
    snprintf(p, sizeof(p), "messages[%zu].tool_call_id", i);
    if (opt_str(d, mv, "tool_call_id", p, &m->tool_call_id) != SY_OK)
        return d->err->code;

    int has_calls = jget(mv, "tool_calls", &calls);
    if (has_calls) {
        snprintf(p, sizeof(p), "messages[%zu].tool_calls", i);
        if (calls.type != SY_JARRAY)
            return bad_type(d, p, "an array", &calls);
        if (decode_calls(d, &calls, i, m) != SY_OK)
            return d->err->code;
        has_calls = m->n_calls > 0;
    }
    int has_images = jget(mv, "images", &images);
    snprintf(p, sizeof(p), "messages[%zu].images", i);
    if (has_images && images.type != SY_JARRAY)
        return bad_type(d, p, "an array of base64 strings", &images);
    return decode_parts(d, has_images ? &images : NULL, p, content, has_calls, m);
}

static sy_err_t decode_messages(dec_t *d, const sy_jval_t *arr)
{
    sy_creq_t *q = d->q;
    size_t n = arr ? count_elements(arr) : 0, pos = 0, i = 0;
    sy_jval_t v;
    if (n == 0)
        return SY_OK; /* no messages: Ollama's "load" (see serve) */
    q->msgs = sy_arena_calloc(d->a, n, sizeof(sy_msg_t));
    if (!q->msgs)
        return nomem(d);
    while (sy_json_next_element(arr, &pos, &v)) {
        if (decode_message(d, &v, i, &q->msgs[i]) != SY_OK)
            return d->err->code;
        i++;
    }
    q->n_msgs = i;
    return SY_OK;
}

/* tools: OpenAI-shaped [{type:"function", function:{name, description,
 * parameters}}]. */
static sy_err_t decode_tools(dec_t *d, const sy_jval_t *arr)
{
    sy_creq_t *q = d->q;
    size_t n = count_elements(arr), pos = 0, i = 0;
    sy_jval_t t, fn, v;
    char p[64];
    if (n == 0)
        return SY_OK;
    q->tools = sy_arena_calloc(d->a, n, sizeof(sy_tool_t));
    if (!q->tools)
        return nomem(d);
    while (sy_json_next_element(arr, &pos, &t)) {
        sy_tool_t *k = &q->tools[i];
        snprintf(p, sizeof(p), "tools[%zu]", i);
        if (t.type != SY_JOBJECT)
            return bad_type(d, p, "an object", &t);
        snprintf(p, sizeof(p), "tools[%zu].type", i);
        if (jget(&t, "type", &v) && v.type != SY_JSTRING)
            return bad_type(d, p, "a string", &v);
        snprintf(p, sizeof(p), "tools[%zu].function", i);
        if (!jget(&t, "function", &fn))
            return missing(d, p);
        if (fn.type != SY_JOBJECT)
            return bad_type(d, p, "an object", &fn);
        snprintf(p, sizeof(p), "tools[%zu].function.name", i);
        if (opt_str(d, &fn, "name", p, &k->name) != SY_OK)
            return d->err->code;
        if (k->name.len == 0)
            return missing(d, p);
        snprintf(p, sizeof(p), "tools[%zu].function.description", i);
        if (opt_str(d, &fn, "description", p, &k->description) != SY_OK)
            return d->err->code;
        snprintf(p, sizeof(p), "tools[%zu].function.parameters", i);
        if (jget(&fn, "parameters", &v)) {
            if (v.type != SY_JOBJECT)
                return bad_type(d, p, "an object", &v);
            k->parameters = v;
        }
        i++;
    }
    q->n_tools = i;
    return SY_OK;
}

/* options: the members with a canonical meaning are mapped (num_predict is
 * max_tokens); the whole object rides along in q->options for Ollama
 * upstreams. Option names are exact in Ollama (a map, not a struct). */
static sy_err_t decode_options(dec_t *d, const sy_jval_t *opts)
{
    static const struct {
        const char *name;
        size_t off;
    } nums[] = {
        {"temperature", offsetof(sy_creq_t, temperature)},
        {"top_p", offsetof(sy_creq_t, top_p)},
        {"top_k", offsetof(sy_creq_t, top_k)},
        {"presence_penalty", offsetof(sy_creq_t, presence_penalty)},
        {"frequency_penalty", offsetof(sy_creq_t, frequency_penalty)},
    };
    sy_creq_t *q = d->q;
    sy_jval_t v;
    char p[64];
    int64_t x;
    q->options = *opts;
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (!sy_json_get(opts, nums[i].name, &v) || v.type == SY_JNULL)
            continue;
        snprintf(p, sizeof(p), "options.%s", nums[i].name);
        if (v.type != SY_JINT && v.type != SY_JDOUBLE)
            return bad_type(d, p, "a number", &v);
        *(sy_jval_t *)((char *)q + nums[i].off) = v;
    }
    static const char *const ints[] = {"num_predict", "seed", "num_ctx"};
    for (size_t i = 0; i < 3; i++) {
        if (!sy_json_get(opts, ints[i], &v) || v.type == SY_JNULL)
            continue;
        snprintf(p, sizeof(p), "options.%s", ints[i]);
        if (v.type != SY_JINT && v.type != SY_JDOUBLE)
            return bad_type(d, p, "an integer", &v);
        if (num_i64(&v, &x) < 0) {
            sy_error_set(d->err, SY_EBADFIELD, p, "'%s' is out of range", p);
            return SY_EBADFIELD;
        }
        if (i == 0 && x > 0) /* -1 (endless) and -2 (fill the context) say no limit */
            q->max_tokens = x;
        else if (i == 1)
            q->seed = x, q->has_seed = 1;
        else if (i == 2 && x > 0)
            q->num_ctx = x;
    }
    if (sy_json_get(opts, "stop", &v) && v.type != SY_JNULL) {
        size_t pos = 0, n = v.type == SY_JARRAY ? count_elements(&v) : 1, k = 0;
        sy_jval_t s;
        if (v.type != SY_JARRAY && v.type != SY_JSTRING)
            return bad_type(d, "options.stop", "an array of strings", &v);
        q->stop = sy_arena_calloc(d->a, n ? n : 1, sizeof(sy_str_t));
        if (!q->stop)
            return nomem(d);
        if (v.type == SY_JSTRING) {
            if (dup_str(d, &v, &q->stop[0]) != SY_OK)
                return SY_ENOMEM;
            k = 1;
        }
        while (v.type == SY_JARRAY && sy_json_next_element(&v, &pos, &s)) {
            snprintf(p, sizeof(p), "options.stop[%zu]", k);
            if (s.type != SY_JSTRING)
                return bad_type(d, p, "a string", &s);
            if (dup_str(d, &s, &q->stop[k]) != SY_OK)
                return SY_ENOMEM;
            k++;
        }
        q->n_stop = k;
    }
    return SY_OK;
}

/* format: "json", a JSON schema object, or null/"" for plain text - what
 * Ollama accepts. */
static sy_err_t decode_format(dec_t *d, const sy_jval_t *v)
{
    if (v->type == SY_JOBJECT) {
        d->q->format = SY_FORMAT_SCHEMA;
        d->q->format_schema = *v;
        return SY_OK;
    }
    if (v->len == 2) /* "" */
        return SY_OK;
    if (v->len == 6 && memcmp(v->p, "\"json\"", 6) == 0) {
        d->q->format = SY_FORMAT_JSON;
        return SY_OK;
    }
    sy_error_set(d->err, SY_EBADFIELD, "format", "invalid format: %.*s; expected \"json\" or a valid JSON Schema object",
                 (int)(v->len < 60 ? v->len : 60), v->p);
    return SY_EBADFIELD;
}

/* GENERATE: system (optional) and one user message with the images and the
 * prompt. An empty prompt decodes to no messages at all: Ollama answers it
 * by loading the model, without generating. */
static sy_err_t decode_generate(dec_t *d, const field_t *fields, const sy_jval_t *vals)
{
    sy_creq_t *q = d->q;
    const sy_jval_t *v;
    sy_str_t prompt = SY_STR_NULL, system = SY_STR_NULL;
    if ((v = field(fields, vals, "prompt")) && dup_str(d, v, &prompt) != SY_OK)
        return SY_ENOMEM;
    if ((v = field(fields, vals, "system")) && dup_str(d, v, &system) != SY_OK)
        return SY_ENOMEM;
    if ((v = field(fields, vals, "suffix")) && dup_str(d, v, &q->suffix) != SY_OK)
        return SY_ENOMEM;
    if ((v = field(fields, vals, "raw")))
        q->raw = sy_json_true(v);
    const sy_jval_t *images = field(fields, vals, "images");
    /* type-check the images even when the prompt is empty */
    sy_msg_t probe;
    memset(&probe, 0, sizeof(probe));
    if (images && decode_parts(d, images, "images", SY_STR_NULL, 1, &probe) != SY_OK)
        return d->err->code;
    if (prompt.len == 0)
        return SY_OK;
    q->msgs = sy_arena_calloc(d->a, 2, sizeof(sy_msg_t));
    if (!q->msgs)
        return nomem(d);
    if (system.len) {
        sy_msg_t *s = &q->msgs[q->n_msgs++];
        s->role = SY_ROLE_SYSTEM;
        if (decode_parts(d, NULL, "system", system, 0, s) != SY_OK)
            return d->err->code;
    }
    sy_msg_t *u = &q->msgs[q->n_msgs++];
    u->role = SY_ROLE_USER;
    return decode_parts(d, images, "images", prompt, 0, u);
}

static sy_err_t decode_embed(dec_t *d, const field_t *fields, const sy_jval_t *vals, int legacy)
{
    sy_creq_t *q = d->q;
    const sy_jval_t *v = field(fields, vals, legacy ? "prompt" : "input");
    size_t n = v && v->type == SY_JARRAY ? count_elements(v) : 1, pos = 0, i = 0;
    sy_jval_t s;
    char p[48];
    int64_t x;
    q->inputs = sy_arena_calloc(d->a, n ? n : 1, sizeof(sy_str_t));
    if (!q->inputs)
        return nomem(d);
    if (v && v->type == SY_JSTRING) {
        if (dup_str(d, v, &q->inputs[0]) != SY_OK)
            return SY_ENOMEM;
        q->n_inputs = q->inputs[0].len > 0; /* "" embeds nothing, as in Ollama */
    }
    while (v && v->type == SY_JARRAY && sy_json_next_element(v, &pos, &s)) {
        snprintf(p, sizeof(p), "input[%zu]", i);
        if (s.type != SY_JSTRING)
            return bad_type(d, p, "a string", &s);
        if (dup_str(d, &s, &q->inputs[i]) != SY_OK)
            return SY_ENOMEM;
        i++;
        q->n_inputs = i;
    }
    if (legacy)
        return SY_OK;
    if ((v = field(fields, vals, "truncate")))
        q->truncate = sy_json_true(v);
    if ((v = field(fields, vals, "dimensions"))) {
        if (sy_json_int(v, &x) < 0 || x < 0) {
            sy_error_set(d->err, SY_EBADFIELD, "dimensions", "'dimensions' must be a non-negative integer");
            return SY_EBADFIELD;
        }
        if (x > 0)
            q->dimensions = x;
    }
    return SY_OK;
}

sy_err_t sy_api_ollama_decode(const char *body, size_t len, sy_op_t op, sy_arena_t *a, sy_creq_t *q,
                              unsigned *enc_flags, sy_error_t *err)
{
    dec_t d = {a, q, err};
    sy_jval_t doc, vals[MAX_FIELDS];
    const sy_jval_t *v;
    int legacy = op == SY_OP_EMBED && enc_flags && (*enc_flags & SY_ENC_LEGACY_EMB);
    const field_t *fields = op == SY_OP_CHAT       ? chat_fields
                            : op == SY_OP_GENERATE ? generate_fields
                            : legacy               ? embeddings_fields
                                                   : embed_fields;

    sy_creq_init(q, op, SY_PROTO_OLLAMA);
    if (!body || len == 0)
        return sy_error_fail(err, SY_EBADJSON, NULL, "missing request body");
    sy_err_t rc = sy__api_json_object(body, len, &doc, err);
    if (rc != SY_OK)
        return rc;
    if (check_fields(&d, &doc, fields, vals) != SY_OK)
        return err->code;

    if ((v = field(fields, vals, "model")) && dup_str(&d, v, &q->model) != SY_OK)
        return SY_ENOMEM;
    if (q->model.len == 0) {
        sy_error_set(err, SY_EMISSING, "model", "model is required");
        return SY_EMISSING;
    }
    if ((v = field(fields, vals, "keep_alive")))
        q->keep_alive = *v;
    if ((v = field(fields, vals, "options")) && decode_options(&d, v) != SY_OK)
        return err->code;
    if (op != SY_OP_EMBED) {
        v = field(fields, vals, "stream");
        q->stream = v ? sy_json_true(v) : 1; /* Ollama streams unless told not to */
        if ((v = field(fields, vals, "think")))
            q->think = *v;
        if ((v = field(fields, vals, "format")) && decode_format(&d, v) != SY_OK)
            return err->code;
    }
    switch (op) {
    case SY_OP_CHAT:
        if (decode_messages(&d, field(fields, vals, "messages")) != SY_OK)
            return err->code;
        if ((v = field(fields, vals, "tools")) && decode_tools(&d, v) != SY_OK)
            return err->code;
        return SY_OK;
    case SY_OP_GENERATE:
        return decode_generate(&d, fields, vals);
    case SY_OP_EMBED:
        return decode_embed(&d, fields, vals, legacy);
    }
    return SY_OK;
}

/* ---- the encoder -------------------------------------------------------- */

/*
 * Stream state beyond sy_enc_t's own fields:
 *   started        bit 1: an error line was written - the stream is over,
 *                  nothing more is written;
 *   n_blocks       the answer's bytes so far (text, thinking, arguments),
 *                  for an eval_count estimate when the upstream gives none;
 *   first_token_ns set on the first TEXT, THINKING or TOOL_CALL;
 *   own            the tool call pieces (pend_t), until they are whole.
 */
#define ENC_ERRORED 2

/* The pieces of the tool calls, as records appended to one block: a rec_t,
 * then the piece's id, name and arguments bytes. One malloc'd block, so
 * whoever ends the call frees it with free(). */
typedef struct pend {
    size_t len, cap; /* of log */
    int n_calls;     /* 1 + the highest index seen */
    char log[];
} pend_t;

typedef struct rec {
    int32_t index;
    uint32_t id_len, name_len, args_len;
} rec_t;

/* A tool call put together: views into a pend_t or a sy_cresp_t. */
typedef struct call_view {
    sy_str_t id, name, args;
} call_view_t;

static int is_chat(const sy_enc_t *e)
{
    return !e->q || e->q->op != SY_OP_GENERATE;
}

static void count_bytes(sy_enc_t *e, size_t n)
{
    if (n > (size_t)(0x7fffffff - e->n_blocks))
        e->n_blocks = 0x7fffffff;
    else
        e->n_blocks += (int)n;
}

/* {"model":...,"created_at":"...", - every object's start. */
static void head(const sy_enc_t *e, struct evbuffer *o)
{
    char t[TIME_CAP];
    now_rfc3339(t);
    SY_JW_LIT(o, "{\"model\":");
    sy_jw_cstr(o, e->model ? e->model : "");
    SY_JW_LIT(o, ",\"created_at\":\"");
    sy_jw_raw(o, t, strlen(t));
    SY_JW_LIT(o, "\",");
}

static void write_error(sy_enc_t *e, const sy_error_t *err, struct evbuffer *o)
{
    char buf[1400];
    size_t n = sy_error_json(SY_PROTO_OLLAMA, err, buf, sizeof(buf));
    if (n == 0) {
        static const char fallback[] = "{\"error\":\"internal error\"}";
        memcpy(buf, fallback, sizeof(fallback));
        n = sizeof(fallback) - 1;
    }
    sy_jw_raw(o, buf, n);
    SY_JW_LIT(o, "\n");
    e->started |= ENC_ERRORED;
    free(e->own);
    e->own = NULL;
}

static void fail(sy_enc_t *e, struct evbuffer *o, sy_err_t code, const char *fmt, const char *arg)
{
    sy_error_t err;
    sy_error_set(&err, code, NULL, fmt, arg);
    write_error(e, &err, o);
}

/* Copy validated JSON text without the whitespace between tokens: an
 * argument object may arrive pretty-printed, and a newline would split the
 * NDJSON line. (Inside strings a raw newline cannot occur.) */
static void write_compact(struct evbuffer *o, const char *s, size_t n)
{
    size_t run = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (i > run)
                sy_jw_raw(o, s + run, i - run);
            run = i + 1;
        }
    }
    if (n > run)
        sy_jw_raw(o, s + run, n - run);
}

static int only_space(sy_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] != ' ' && s.p[i] != '\t' && s.p[i] != '\n' && s.p[i] != '\r')
            return 0;
    return 1;
}

/* "tool_calls":[{"id":...,"function":{"index":i,"name":...,"arguments":{...}}}]
 * - Ollama's shape (0.12). A call without an id gets call_<index>_<request
 * id>. Returns 0, or -1 with err set when some arguments are not a JSON
 * object (then o holds a partial object the caller throws away). */
static int write_calls(const sy_enc_t *e, const call_view_t *calls, size_t n, struct evbuffer *o, sy_error_t *err)
{
    SY_JW_LIT(o, "\"tool_calls\":[");
    for (size_t i = 0; i < n; i++) {
        const call_view_t *k = &calls[i];
        if (i)
            SY_JW_LIT(o, ",");
        SY_JW_LIT(o, "{\"id\":");
        if (k->id.len) {
            sy_jw_str(o, k->id.p, k->id.len);
        } else {
            char id[160];
            int m = snprintf(id, sizeof(id), "call_%zu%s%.128s", i, e->id ? "_" : "", e->id ? e->id : "");
            sy_jw_str(o, id, m > 0 ? (size_t)m : 0);
        }
        SY_JW_LIT(o, ",\"function\":{\"index\":");
        sy_jw_int(o, (int64_t)i);
        SY_JW_LIT(o, ",\"name\":");
        sy_jw_str(o, k->name.p, k->name.len);
        SY_JW_LIT(o, ",\"arguments\":");
        if (only_space(k->args)) {
            SY_JW_LIT(o, "{}");
        } else if (sy_json_validate(k->args.p, k->args.len, NULL, NULL) == 0 &&
                   sy_json_value(k->args.p, k->args.len).type == SY_JOBJECT) {
            write_compact(o, k->args.p, k->args.len);
        } else {
            sy_error_set(err, SY_EBADREQ, NULL, "the upstream's arguments for tool call %zu (%.*s) are not a JSON object",
                         i, (int)(k->name.len < 80 ? k->name.len : 80), k->name.p ? k->name.p : "");
            return -1;
        }
        SY_JW_LIT(o, "}}");
    }
    SY_JW_LIT(o, "]");
    return 0;
}

/* Keep one TOOL_CALL piece. Returns 0, or -1 after writing the error line. */
static int pend_add(sy_enc_t *e, const sy_ev_t *ev, struct evbuffer *o)
{
    pend_t *p = e->own;
    size_t used = p ? p->len : 0;
    size_t need = sizeof(rec_t) + ev->id.len + ev->name.len + ev->args.len;
    if (ev->index < 0 || ev->index >= SY_CRESP_MAX_CALLS) {
        fail(e, o, SY_EUPPROTO, "the upstream sent more tool calls than %s", "128");
        return -1;
    }
    if (need > OLL_MAX_PENDING || used + need > OLL_MAX_PENDING) {
        fail(e, o, SY_ETOOLARGE, "the upstream's tool calls are larger than %s", "64 MiB");
        return -1;
    }
    if (!p || used + need > p->cap) {
        size_t cap = p ? p->cap : 1024;
        while (cap < used + need)
            cap *= 2;
        pend_t *np = realloc(p, sizeof(pend_t) + cap);
        if (!np) {
            fail(e, o, SY_ENOMEM, "%s", "out of memory buffering tool calls");
            return -1;
        }
        if (!p) {
            np->len = 0;
            np->n_calls = 0;
        }
        np->cap = cap;
        e->own = p = np;
    }
    rec_t h = {ev->index, (uint32_t)ev->id.len, (uint32_t)ev->name.len, (uint32_t)ev->args.len};
    char *w = p->log + p->len;
    memcpy(w, &h, sizeof(h));
    w += sizeof(h);
    if (ev->id.len)
        memcpy(w, ev->id.p, ev->id.len);
    w += ev->id.len;
    if (ev->name.len)
        memcpy(w, ev->name.p, ev->name.len);
    w += ev->name.len;
    if (ev->args.len)
        memcpy(w, ev->args.p, ev->args.len);
    p->len += need;
    if (ev->index + 1 > p->n_calls)
        p->n_calls = ev->index + 1;
    return 0;
}

/* The buffered calls, whole, as one object with done:false (Ollama sends
 * tool calls in a chunk of their own before the final one). */
static void flush_calls(sy_enc_t *e, struct evbuffer *out)
{
    pend_t *p = e->own;
    call_view_t calls[SY_CRESP_MAX_CALLS];
    sy_error_t err;
    if (!p)
        return;
    e->own = NULL;
    char *args = malloc(p->len + 1);
    struct evbuffer *o = evbuffer_new();
    if (!args || !o) {
        free(args);
        if (o)
            evbuffer_free(o);
        free(p);
        fail(e, out, SY_ENOMEM, "%s", "out of memory writing tool calls");
        return;
    }
    size_t off = 0;
    for (int i = 0; i < p->n_calls; i++) {
        call_view_t *k = &calls[i];
        memset(k, 0, sizeof(*k));
        k->args.p = args + off;
        for (size_t at = 0; at < p->len;) {
            rec_t h;
            memcpy(&h, p->log + at, sizeof(h));
            const char *b = p->log + at + sizeof(h);
            if (h.index == i) {
                if (!k->id.len && h.id_len)
                    k->id = (sy_str_t){b, h.id_len};
                if (!k->name.len && h.name_len)
                    k->name = (sy_str_t){b + h.id_len, h.name_len};
                memcpy(args + off, b + h.id_len + h.name_len, h.args_len);
                off += h.args_len;
            }
            at += sizeof(h) + h.id_len + h.name_len + h.args_len;
        }
        k->args.len = (size_t)(args + off - k->args.p);
    }
    head(e, o);
    if (is_chat(e))
        SY_JW_LIT(o, "\"message\":{\"role\":\"assistant\",\"content\":\"\",");
    else
        SY_JW_LIT(o, "\"response\":\"\",\"done\":false,");
    int rc = write_calls(e, calls, (size_t)p->n_calls, o, &err);
    if (is_chat(e))
        SY_JW_LIT(o, "},\"done\":false}\n");
    else
        SY_JW_LIT(o, "}\n");
    e->n_calls = p->n_calls;
    free(args);
    free(p);
    if (rc == 0)
        evbuffer_add_buffer(out, o);
    else
        write_error(e, &err, out);
    evbuffer_free(o);
}

/* One piece of text or reasoning as its own line. */
static void write_piece(sy_enc_t *e, const sy_ev_t *ev, struct evbuffer *o)
{
    int thinking = ev->kind == SY_EV_THINKING;
    head(e, o);
    if (is_chat(e)) {
        SY_JW_LIT(o, "\"message\":{\"role\":\"assistant\",\"content\":");
        if (thinking) {
            SY_JW_LIT(o, "\"\",\"thinking\":");
        }
        sy_jw_str(o, ev->text.p, ev->text.len);
        SY_JW_LIT(o, "},\"done\":false}\n");
    } else {
        SY_JW_LIT(o, "\"response\":");
        if (thinking)
            SY_JW_LIT(o, "\"\",\"thinking\":");
        sy_jw_str(o, ev->text.p, ev->text.len);
        SY_JW_LIT(o, ",\"done\":false}\n");
    }
}

/* ,"total_duration":...,"eval_duration":... - from the upstream's usage
 * where it gave them, otherwise counted and measured here: the prompt is
 * estimated from the request, the answer from its bytes; the prompt took
 * until the first token, the answer from there to now. */
static void write_metrics(const sy_enc_t *e, const sy_usage_t *u, size_t out_bytes, struct evbuffer *o)
{
    uint64_t now = sy__ollama_mono();
    uint64_t start = e->start_ns && e->start_ns <= now ? e->start_ns : now;
    uint64_t first = e->first_token_ns >= start && e->first_token_ns <= now ? e->first_token_ns : 0;
    int64_t total = (int64_t)(now - start);
    int64_t ped = first ? (int64_t)(first - start) : 0;
    int64_t ed = first ? (int64_t)(now - first) : total;
    int64_t pec = e->q ? sy_creq_estimate_tokens(e->q) : 0;
    int64_t ec = sy_canon_estimate_tokens(out_bytes);
    SY_JW_LIT(o, ",\"total_duration\":");
    sy_jw_int(o, u->total_duration >= 0 ? u->total_duration : total);
    SY_JW_LIT(o, ",\"load_duration\":");
    sy_jw_int(o, u->load_duration >= 0 ? u->load_duration : 0);
    SY_JW_LIT(o, ",\"prompt_eval_count\":");
    sy_jw_int(o, u->input_tokens >= 0 ? u->input_tokens : pec);
    SY_JW_LIT(o, ",\"prompt_eval_duration\":");
    sy_jw_int(o, u->prompt_eval_duration >= 0 ? u->prompt_eval_duration : ped);
    SY_JW_LIT(o, ",\"eval_count\":");
    sy_jw_int(o, u->output_tokens >= 0 ? u->output_tokens : ec);
    SY_JW_LIT(o, ",\"eval_duration\":");
    sy_jw_int(o, u->eval_duration >= 0 ? u->eval_duration : ed);
}

static void enc_event(sy_enc_t *e, const sy_ev_t *ev, struct evbuffer *out)
{
    if (e->started & ENC_ERRORED)
        return;
    switch (ev->kind) {
    case SY_EV_START:
        return; /* Ollama has no preamble */
    case SY_EV_TEXT:
    case SY_EV_THINKING:
        if (ev->text.len == 0)
            return;
        if (!e->first_token_ns)
            e->first_token_ns = sy__ollama_mono();
        count_bytes(e, ev->text.len);
        write_piece(e, ev, out);
        return;
    case SY_EV_TOOL_CALL:
        if (!e->first_token_ns)
            e->first_token_ns = sy__ollama_mono();
        count_bytes(e, ev->args.len);
        pend_add(e, ev, out);
        return;
    case SY_EV_FINISH:
        e->finish = ev->finish;
        flush_calls(e, out);
        return;
    case SY_EV_USAGE:
        sy_usage_merge(&e->usage, &ev->usage);
        return;
    case SY_EV_ERROR:
        if (ev->error) {
            write_error(e, ev->error, out);
        } else {
            fail(e, out, SY_EUPSTATUS, "%s", "the upstream reported an error");
        }
        return;
    }
}

/* The final object: done, why, and the counts - written at the end because
 * usage may follow the finish (OpenAI sends it in a chunk of its own). */
static void enc_end(sy_enc_t *e, struct evbuffer *out)
{
    if (e->started & ENC_ERRORED)
        return;
    flush_calls(e, out); /* a stream that ended without a FINISH */
    if (e->started & ENC_ERRORED)
        return;
    head(e, out);
    if (is_chat(e))
        SY_JW_LIT(out, "\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":");
    else
        SY_JW_LIT(out, "\"response\":\"\",\"done\":true,\"done_reason\":");
    sy_jw_cstr(out, sy_finish_to_ollama(e->finish));
    write_metrics(e, &e->usage, (size_t)e->n_blocks, out);
    SY_JW_LIT(out, "}\n");
}

static void enc_error(sy_enc_t *e, const sy_error_t *err, struct evbuffer *out)
{
    if (e->started & ENC_ERRORED) {
        free(e->own);
        e->own = NULL;
        return;
    }
    write_error(e, err, out);
}

/* The whole answer as one object (stream:false): everything in one
 * message, done:true and the counts. Arguments that are not a JSON object
 * turn the answer into Ollama's error object. */
static void enc_whole(sy_enc_t *e, const sy_cresp_t *c, struct evbuffer *out)
{
    call_view_t calls[SY_CRESP_MAX_CALLS];
    sy_usage_t u = e->usage;
    sy_error_t err;
    int rc = 0;
    size_t bytes = c->text_len + c->thinking_len;
    struct evbuffer *o = evbuffer_new();
    if (!o) {
        fail(e, out, SY_ENOMEM, "%s", "out of memory");
        return;
    }
    sy_usage_merge(&u, &c->usage);
    for (size_t i = 0; i < c->n_calls; i++) {
        const sy_cresp_call_t *k = &c->calls[i];
        calls[i].id = (sy_str_t){k->id, k->id ? strlen(k->id) : 0};
        calls[i].name = (sy_str_t){k->name, k->name ? strlen(k->name) : 0};
        calls[i].args = (sy_str_t){k->args, k->args_len};
        bytes += k->args_len;
    }
    head(e, o);
    if (is_chat(e)) {
        SY_JW_LIT(o, "\"message\":{\"role\":\"assistant\",\"content\":");
        sy_jw_str(o, c->text, c->text_len);
        if (c->thinking_len) {
            SY_JW_LIT(o, ",\"thinking\":");
            sy_jw_str(o, c->thinking, c->thinking_len);
        }
        if (c->n_calls) {
            SY_JW_LIT(o, ",");
            rc = write_calls(e, calls, c->n_calls, o, &err);
        }
        SY_JW_LIT(o, "},\"done\":true,\"done_reason\":");
    } else {
        SY_JW_LIT(o, "\"response\":");
        sy_jw_str(o, c->text, c->text_len);
        if (c->thinking_len) {
            SY_JW_LIT(o, ",\"thinking\":");
            sy_jw_str(o, c->thinking, c->thinking_len);
        }
        SY_JW_LIT(o, ",\"done\":true,\"done_reason\":");
    }
    sy_jw_cstr(o, sy_finish_to_ollama(c->finish));
    write_metrics(e, &u, bytes, o);
    if (!is_chat(e) && c->n_calls) { /* GenerateResponse has them at the top level */
        SY_JW_LIT(o, ",");
        rc = write_calls(e, calls, c->n_calls, o, &err);
    }
    SY_JW_LIT(o, "}");
    if (rc == 0) {
        evbuffer_add_buffer(out, o);
    } else {
        char buf[1400];
        sy_jw_raw(out, buf, sy_error_json(SY_PROTO_OLLAMA, &err, buf, sizeof(buf)));
    }
    evbuffer_free(o);
}

/* A float32 in the fewest digits that read back as the same float32 (as
 * Go writes them); a value JSON cannot hold is written as null. */
static void write_float(struct evbuffer *o, float f)
{
    char buf[40];
    int n = 0;
    if (!isfinite(f)) {
        SY_JW_LIT(o, "null");
        return;
    }
    for (int prec = 6; prec <= 9; prec++) {
        n = snprintf(buf, sizeof(buf), "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    sy_jw_raw(o, buf, n > 0 ? (size_t)n : 0);
}

static void write_vec(struct evbuffer *o, const sy_vec_t *v)
{
    SY_JW_LIT(o, "[");
    for (size_t i = 0; i < v->n; i++) {
        if (i)
            SY_JW_LIT(o, ",");
        write_float(o, v->v[i]);
    }
    SY_JW_LIT(o, "]");
}

/* /api/embed's answer, or /api/embeddings' {"embedding":[...]} (the first
 * vector) under SY_ENC_LEGACY_EMB. */
static void enc_embed(sy_enc_t *e, const sy_embed_t *m, struct evbuffer *out)
{
    if (e->flags & SY_ENC_LEGACY_EMB) {
        SY_JW_LIT(out, "{\"embedding\":");
        if (m->n_vecs)
            write_vec(out, &m->vecs[0]);
        else
            SY_JW_LIT(out, "[]");
        SY_JW_LIT(out, "}");
        return;
    }
    uint64_t now = sy__ollama_mono();
    uint64_t start = e->start_ns && e->start_ns <= now ? e->start_ns : now;
    SY_JW_LIT(out, "{\"model\":");
    sy_jw_cstr(out, e->model ? e->model : "");
    SY_JW_LIT(out, ",\"embeddings\":[");
    for (size_t i = 0; i < m->n_vecs; i++) {
        if (i)
            SY_JW_LIT(out, ",");
        write_vec(out, &m->vecs[i]);
    }
    SY_JW_LIT(out, "],\"total_duration\":");
    sy_jw_int(out, (int64_t)(now - start));
    SY_JW_LIT(out, ",\"load_duration\":0,\"prompt_eval_count\":");
    sy_jw_int(out, m->prompt_tokens >= 0 ? m->prompt_tokens : e->q ? sy_creq_estimate_tokens(e->q) : 0);
    SY_JW_LIT(out, "}");
}

const sy_ingress_t sy_ingress_ollama = {
    .proto = SY_PROTO_OLLAMA,
    .stream_type = "application/x-ndjson",
    .keepalive = 0, /* NDJSON has no comment line to keep a stream warm */
    .event = enc_event,
    .end = enc_end,
    .error = enc_error,
    .whole = enc_whole,
    .embed = enc_embed,
};

/* ---- the model listing -------------------------------------------------- */

typedef struct oll_model {
    const char *name;
    sy_provider_type_t kind;     /* of the provider that serves it (first deployment) */
    const sy_disc_model_t *disc; /* a discovered model's details, else NULL */
} oll_model_t;

typedef void (*model_fn)(void *ud, const oll_model_t *m);

/* The kind of provider behind a configured model: its first deployment's. */
static sy_provider_type_t model_kind(const sy_config_t *cfg, const sy_model_conf_t *m)
{
    if (m->n_deployments && m->deployments[0].provider_index < cfg->n_providers)
        return cfg->providers[m->deployments[0].provider_index].type;
    return SY_PROVIDER_OPENAI;
}

typedef struct each_ctx {
    model_fn fn;
    void *ud;
} each_ctx_t;

static void each_entry(void *ud, const sy_model_entry_t *e)
{
    each_ctx_t *c = ud;
    oll_model_t om = {e->name, e->provider ? e->provider->type : SY_PROVIDER_OPENAI, e->disc};
    c->fn(c->ud, &om);
}

/* Every model /api/tags and /api/ps show, in the router's order: the
 * configured public names, then the models discovered at Ollama providers
 * (bare where no configured model has the name, and as provider/model). */
static void each_model(const sy_config_t *cfg, const sy_disc_snap_t *disc, model_fn fn, void *ud)
{
    each_ctx_t c = {fn, ud};
    sy_router_list(cfg, disc, each_entry, &c);
}

/* A stable "sha256-looking" digest of a name: four FNV-1a passes with
 * different bases, 64 hex digits. Clients use it as an identity only. */
static void digest_hex(const char *name, char out[65])
{
    for (int k = 0; k < 4; k++) {
        uint64_t h = 0xcbf29ce484222325ull ^ ((uint64_t)k * 0x9e3779b97f4a7c15ull);
        for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
            h ^= *s;
            h *= 0x100000001b3ull;
        }
        snprintf(out + 16 * k, 17, "%016llx", (unsigned long long)h);
    }
}

/* "details":{...}: what is known is the kind of provider behind the model,
 * given as its family; Ollama's own fields about weights stay empty. */
static void write_details(struct evbuffer *o, const oll_model_t *m)
{
    const sy_disc_model_t *d = m->disc;
    const char *family = d && d->family[0] ? d->family : sy_provider_type_name(m->kind);
    SY_JW_LIT(o, "\"details\":{\"parent_model\":\"\",\"format\":");
    sy_jw_cstr(o, d ? d->format : "");
    SY_JW_LIT(o, ",\"family\":");
    sy_jw_cstr(o, family);
    SY_JW_LIT(o, ",\"families\":[");
    sy_jw_cstr(o, family);
    SY_JW_LIT(o, "],\"parameter_size\":");
    sy_jw_cstr(o, d ? d->parameter_size : "");
    SY_JW_LIT(o, ",\"quantization_level\":");
    sy_jw_cstr(o, d ? d->quantization_level : "");
    SY_JW_LIT(o, "}");
}

/* "digest":"...","details":{...} */
static void write_identity(struct evbuffer *o, const oll_model_t *m)
{
    char dg[65];
    digest_hex(m->name, dg);
    SY_JW_LIT(o, "\"digest\":");
    /* a discovered model keeps its server's digest: clients compare them */
    if (m->disc && m->disc->digest[0])
        sy_jw_cstr(o, m->disc->digest);
    else
        sy_jw_str(o, dg, 64);
    SY_JW_LIT(o, ",");
    write_details(o, m);
}

typedef struct list_ctx {
    struct evbuffer *o;
    size_t n;
    char modified[TIME_CAP];
    char expires[TIME_CAP];
} list_ctx_t;

static void tags_one(void *ud, const oll_model_t *m)
{
    list_ctx_t *c = ud;
    struct evbuffer *o = c->o;
    if (c->n++)
        SY_JW_LIT(o, ",");
    SY_JW_LIT(o, "{\"name\":");
    sy_jw_cstr(o, m->name);
    SY_JW_LIT(o, ",\"model\":");
    sy_jw_cstr(o, m->name);
    SY_JW_LIT(o, ",\"modified_at\":");
    sy_jw_cstr(o, m->disc && m->disc->modified_at[0] ? m->disc->modified_at : c->modified);
    SY_JW_LIT(o, ",\"size\":");
    sy_jw_int(o, m->disc && m->disc->size > 0 ? m->disc->size : 0);
    SY_JW_LIT(o, ",");
    write_identity(o, m);
    SY_JW_LIT(o, "}");
}

static void ps_one(void *ud, const oll_model_t *m)
{
    list_ctx_t *c = ud;
    struct evbuffer *o = c->o;
    if (c->n++)
        SY_JW_LIT(o, ",");
    SY_JW_LIT(o, "{\"name\":");
    sy_jw_cstr(o, m->name);
    SY_JW_LIT(o, ",\"model\":");
    sy_jw_cstr(o, m->name);
    SY_JW_LIT(o, ",\"size\":0,");
    write_identity(o, m);
    SY_JW_LIT(o, ",\"expires_at\":\"");
    sy_jw_raw(o, c->expires, strlen(c->expires));
    SY_JW_LIT(o, "\",\"size_vram\":0,\"context_length\":");
    sy_jw_int(o, OLL_CONTEXT_LENGTH);
    SY_JW_LIT(o, "}");
}

/* GET /api/tags' body; started is the server's start (modified_at).
 * Internal: tests call it. */
void sy__ollama_tags(const sy_config_t *cfg, const sy_disc_snap_t *disc, long started, struct evbuffer *o)
{
    list_ctx_t c = {.o = o};
    rfc3339(c.modified, (time_t)started, 0);
    SY_JW_LIT(o, "{\"models\":[");
    each_model(cfg, disc, tags_one, &c);
    SY_JW_LIT(o, "]}");
}

/* GET /api/ps' body: every model "loaded", expiring OLL_PS_EXPIRY_S from
 * now. Internal: tests call it. */
void sy__ollama_ps(const sy_config_t *cfg, const sy_disc_snap_t *disc, struct evbuffer *o)
{
    list_ctx_t c = {.o = o};
    struct timespec ts;
    sy__ollama_wall(&ts);
    rfc3339(c.expires, ts.tv_sec + OLL_PS_EXPIRY_S, ts.tv_nsec);
    SY_JW_LIT(o, "{\"models\":[");
    each_model(cfg, disc, ps_one, &c);
    SY_JW_LIT(o, "]}");
}

/* Whether cfg serves name: a configured model (even one whose deployments
 * cannot be picked now: the router says why when the call is made) or a
 * provider/model address. Sets *kind to the kind of provider that serves
 * it (a model's first deployment's). */
static int serves(const sy_config_t *cfg, const sy_disc_snap_t *disc, const char *name, sy_provider_type_t *kind)
{
    sy_route_t route;
    sy_error_t err;
    const sy_model_conf_t *m = sy_config_find_model(cfg, name);
    if (m) {
        *kind = model_kind(cfg, m);
        return 1;
    }
    if (sy_router_resolve_with(cfg, disc, name, 0, &route, &err) != SY_OK)
        return 0;
    *kind = route.provider->type;
    return 1;
}

/* Ollama names "x" and "x:latest" the same model: a name not served as
 * given but served without its ":latest" is that one. Returns the length of
 * the name to use, or 0 when nothing serves it. */
static size_t served_name(const sy_config_t *cfg, const sy_disc_snap_t *disc, char *name, sy_provider_type_t *kind)
{
    size_t n = strlen(name);
    if (serves(cfg, disc, name, kind))
        return n;
    if (n > 7 && strcmp(name + n - 7, ":latest") == 0) {
        name[n - 7] = '\0';
        if (serves(cfg, disc, name, kind))
            return n - 7;
        name[n - 7] = ':';
    }
    return 0;
}

/* POST /api/show's body for name (the name as the client gave it). Returns
 * 0, or -1 when cfg serves no such model. Internal: tests call it. */
int sy__ollama_show(const sy_config_t *cfg, const sy_disc_snap_t *disc, long started, const char *name,
                    struct evbuffer *o)
{
    char n[256], t[TIME_CAP];
    sy_provider_type_t kind;
    snprintf(n, sizeof(n), "%s", name);
    if (strlen(name) >= sizeof(n) || !served_name(cfg, disc, n, &kind))
        return -1;
    oll_model_t m = {n, kind, NULL};
    if (disc && !sy_config_find_model(cfg, n)) {
        const char *slash = strchr(n, '/');
        m.disc = sy_disc_snap_find_bare(disc, n);
        if (!m.disc && slash) {
            char prov[128];
            size_t pl = (size_t)(slash - n);
            if (pl < sizeof(prov)) {
                memcpy(prov, n, pl);
                prov[pl] = '\0';
                m.disc = sy_disc_snap_find(disc, prov, slash + 1);
            }
        }
    }
    const char *family = sy_provider_type_name(kind);
    rfc3339(t, (time_t)started, 0);
    SY_JW_LIT(o, "{\"modelfile\":\"# Served by Switchyard\\nFROM ");
    sy_jw_escaped(o, n, strlen(n));
    SY_JW_LIT(o, "\\nTEMPLATE {{ .Prompt }}\\n\",\"parameters\":\"\",\"template\":\"{{ .Prompt }}\",");
    write_details(o, &m);
    SY_JW_LIT(o, ",\"model_info\":{\"general.architecture\":");
    sy_jw_cstr(o, family);
    SY_JW_LIT(o, ",\"general.basename\":");
    sy_jw_cstr(o, n);
    SY_JW_LIT(o, ",\"");
    sy_jw_escaped(o, family, strlen(family));
    SY_JW_LIT(o, ".context_length\":");
    sy_jw_int(o, OLL_CONTEXT_LENGTH);
    SY_JW_LIT(o, "},\"capabilities\":[\"completion\",\"tools\"],\"modified_at\":\"");
    sy_jw_raw(o, t, strlen(t));
    SY_JW_LIT(o, "\"}");
    return 0;
}

/* ---- handlers ----------------------------------------------------------- */

static void reply_json(sy_req_t *r, struct evbuffer *b)
{
    sy_req_reply_buf(r, 200, "application/json; charset=utf-8", b);
    evbuffer_free(b);
}

/* Keep-alive 0 with nothing to run unloads the model in Ollama: a number
 * 0, or a duration string of zeros ("0", "0s", "0m0s"). */
static int keep_alive_zero(const sy_jval_t *v)
{
    if (!v->p)
        return 0;
    if (v->type == SY_JINT || v->type == SY_JDOUBLE)
        return strtod(v->p, NULL) == 0.0;
    if (v->type != SY_JSTRING || v->len < 3)
        return 0;
    int digits = 0;
    for (size_t i = 1; i + 1 < v->len; i++) {
        char c = v->p[i];
        if (c >= '1' && c <= '9')
            return 0;
        if (c == '0')
            digits = 1;
        else if (c != '.' && !strchr("nuµsmh", c) && (unsigned char)c < 0x80)
            return 0;
    }
    return digits;
}

/* What Ollama answers to a conversation without messages or an empty
 * prompt: the model "loaded" (or "unloaded"), nothing generated. One
 * object, not a stream, whatever stream said - as Ollama does. */
static void reply_load(sy_req_t *r, const sy_creq_t *q)
{
    char t[TIME_CAP];
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    now_rfc3339(t);
    SY_JW_LIT(b, "{\"model\":");
    sy_jw_str(b, q->model.p, q->model.len);
    SY_JW_LIT(b, ",\"created_at\":\"");
    sy_jw_raw(b, t, strlen(t));
    if (q->op == SY_OP_CHAT)
        SY_JW_LIT(b, "\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":");
    else
        SY_JW_LIT(b, "\",\"response\":\"\",\"done\":true,\"done_reason\":");
    sy_jw_cstr(b, keep_alive_zero(&q->keep_alive) ? "unload" : "load");
    SY_JW_LIT(b, "}");
    reply_json(r, b);
}

/* No input to embed: Ollama answers with no vectors, without the model. */
static void reply_no_embeddings(sy_req_t *r, const sy_creq_t *q, unsigned flags)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    if (flags & SY_ENC_LEGACY_EMB) {
        SY_JW_LIT(b, "{\"embedding\":[]}");
    } else {
        SY_JW_LIT(b, "{\"model\":");
        sy_jw_str(b, q->model.p, q->model.len);
        SY_JW_LIT(b, ",\"embeddings\":[]}");
    }
    reply_json(r, b);
}

/* The model name as served (":latest" dropped when that is what is
 * served), or an error in Ollama's words. */
static sy_err_t check_model(sy_req_t *r, sy_creq_t *q, sy_error_t *err)
{
    char name[256];
    sy_provider_type_t kind;
    if (q->model.len >= sizeof(name) || memchr(q->model.p, '\0', q->model.len)) {
        sy_error_set(err, SY_EBADREQ, "model", "'model' must be a string of at most %zu bytes without NUL",
                     sizeof(name) - 1);
        return SY_EBADREQ;
    }
    memcpy(name, q->model.p, q->model.len);
    name[q->model.len] = '\0';
    snprintf(r->model, sizeof(r->model), "%.*s", (int)sizeof(r->model) - 1, name);
    const sy_disc_snap_t *disc = sy_discovery_acquire(r->w->srv->discovery);
    size_t n = served_name(r->w->srv->cfg, disc, name, &kind);
    sy_disc_snap_release(disc);
    if (n == 0) {
        sy_error_set(err, SY_ENOMODEL, "model", "model '%s' not found", name);
        return SY_ENOMODEL;
    }
    q->model.len = n;
    return SY_OK;
}

static void serve(sy_req_t *r, sy_op_t op, unsigned flags)
{
    sy_error_t err;
    struct evbuffer *b = sy_req_body(r);
    size_t n = b ? evbuffer_get_length(b) : 0;
    const char *s = n ? (const char *)evbuffer_pullup(b, -1) : NULL;
    sy_creq_t *q = sy_arena_alloc(&r->arena, sizeof(*q));
    if (!q || (n && !s)) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    if (sy_api_ollama_decode(s, n, op, &r->arena, q, &flags, &err) != SY_OK ||
        check_model(r, q, &err) != SY_OK) {
        sy_respond_error(r, &err, -1);
        return;
    }
    if (op != SY_OP_EMBED && q->n_msgs == 0) {
        reply_load(r, q);
        return;
    }
    if (op == SY_OP_EMBED && q->n_inputs == 0) {
        reply_no_embeddings(r, q, flags);
        return;
    }
    sy_pipeline_translate(r, q, &sy_ingress_ollama, flags);
}

void sy_api_ollama_chat(sy_req_t *r)
{
    serve(r, SY_OP_CHAT, 0);
}

void sy_api_ollama_generate(sy_req_t *r)
{
    serve(r, SY_OP_GENERATE, 0);
}

void sy_api_ollama_embed(sy_req_t *r)
{
    serve(r, SY_OP_EMBED, 0);
}

void sy_api_ollama_embeddings(sy_req_t *r)
{
    serve(r, SY_OP_EMBED, SY_ENC_LEGACY_EMB);
}

void sy_api_ollama_tags(sy_req_t *r)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    const sy_disc_snap_t *disc = sy_discovery_acquire(r->w->srv->discovery);
    sy__ollama_tags(r->w->srv->cfg, disc, r->w->srv->started, b);
    sy_disc_snap_release(disc);
    reply_json(r, b);
}

void sy_api_ollama_ps(sy_req_t *r)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    const sy_disc_snap_t *disc = sy_discovery_acquire(r->w->srv->discovery);
    sy__ollama_ps(r->w->srv->cfg, disc, b);
    sy_disc_snap_release(disc);
    reply_json(r, b);
}

/* POST /api/show {"model": name} (or the older "name"). */
void sy_api_ollama_show(sy_req_t *r)
{
    sy_jval_t doc, v;
    char name[256];
    if (sy__api_read_object(r, "missing request body", &doc) < 0)
        return;
    name[0] = '\0';
    static const char *const keys[] = {"name", "model"}; /* model wins */
    for (int k = 0; k < 2; k++) {
        if (!jget(&doc, keys[k], &v))
            continue;
        if (v.type != SY_JSTRING) {
            sy_respond_errorf(r, SY_EBADFIELD, keys[k], "invalid type for '%s': expected a string, got %s", keys[k],
                              sy_jtype_name(v.type));
            return;
        }
        char tmp[256];
        if (sy_json_string(&v, tmp, sizeof(tmp)) < 0) {
            sy_respond_errorf(r, SY_EBADREQ, keys[k], "'%s' is longer than %zu bytes", keys[k], sizeof(tmp) - 1);
            return;
        }
        if (tmp[0])
            memcpy(name, tmp, strlen(tmp) + 1);
    }
    if (!name[0]) {
        sy_respond_errorf(r, SY_EMISSING, "model", "model is required");
        return;
    }
    snprintf(r->model, sizeof(r->model), "%.*s", (int)sizeof(r->model) - 1, name);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    const sy_disc_snap_t *disc = sy_discovery_acquire(r->w->srv->discovery);
    int rc = sy__ollama_show(r->w->srv->cfg, disc, r->w->srv->started, name, b);
    sy_disc_snap_release(disc);
    if (rc < 0) {
        evbuffer_free(b);
        sy_respond_errorf(r, SY_ENOMODEL, "model", "model '%s' not found", name);
        return;
    }
    reply_json(r, b);
}

void sy_api_ollama_version(sy_req_t *r)
{
    static const char v[] = "{\"version\":\"" SY_OLLAMA_VERSION "\"}";
    sy_req_reply(r, 200, "application/json; charset=utf-8", v, sizeof(v) - 1);
}

void sy_api_ollama_root(sy_req_t *r)
{
    static const char ok[] = "Ollama is running";
    sy_req_reply(r, 200, "text/plain; charset=utf-8", ok, sizeof(ok) - 1);
}
