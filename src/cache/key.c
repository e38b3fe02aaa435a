/*
 * key.c - the exact cache's key (see key.h).
 *
 * The document is written through a sticky-error writer: each helper does
 * nothing once a step failed, so the field list below reads as the format
 * it defines. Every field is always written (null when unsaid) in one fixed
 * order, every string is a canonical JSON string and every raw JSON value
 * is canonical, so the document is one-to-one with what it describes: two
 * requests that differ in a hashed field give two different documents,
 * and messages "ab"+"c" and "a"+"bc" are two different arrays.
 *
 * The semantic cache's partition key is the same writer told to leave out
 * the conversation, so the two documents cannot drift apart field by field.
 */
#include "cache/key.h"

/* SHA256_* are deprecated in OpenSSL 3: chosen on purpose, see below */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

typedef struct kw {
    sy_jcanon_sink sink;
    void *ud;
    sy_err_t rc;
} kw_t;

static void raw(kw_t *w, const char *p, size_t n)
{
    if (w->rc == SY_OK && w->sink(w->ud, p, n) != 0)
        w->rc = SY_EINTERNAL;
}

#define RAW(w, lit) raw((w), "" lit, sizeof(lit) - 1)

static void str(kw_t *w, sy_str_t s)
{
    if (w->rc == SY_OK)
        w->rc = sy_jcanon_str(s.p, s.p ? s.len : 0, w->sink, w->ud);
}

static void cstr(kw_t *w, const char *s)
{
    str(w, (sy_str_t){s, s ? strlen(s) : 0});
}

/* A raw JSON value, canonical (null when absent). */
static void jval(kw_t *w, const sy_jval_t *v)
{
    if (w->rc == SY_OK)
        w->rc = sy_jcanon_write(v, w->sink, w->ud);
}

static void i64(kw_t *w, int64_t x)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%lld", (long long)x);
    raw(w, b, (size_t)n);
}

/* An integer where -1 means unsaid. */
static void opt_i64(kw_t *w, int64_t x)
{
    if (x < 0)
        RAW(w, "null");
    else
        i64(w, x);
}

/* A tri-state flag: -1 unsaid, 0, 1. */
static void tri(kw_t *w, int x)
{
    if (x < 0)
        RAW(w, "null");
    else if (x)
        RAW(w, "true");
    else
        RAW(w, "false");
}

static void key(kw_t *w, const char *k)
{
    /* keys are this file's own literals: plain ASCII, written quoted */
    RAW(w, ",\"");
    raw(w, k, strlen(k));
    RAW(w, "\":");
}

/*
 * A tool call's arguments: canonical JSON when the text is JSON (so member
 * order and whitespace do not matter), else the text itself. The two are
 * tagged so the text `"x"` and the JSON string "x" stay apart.
 */
static void args(kw_t *w, sy_str_t a)
{
    if (a.p && a.len && sy_json_validate(a.p, a.len, NULL, NULL) == 0) {
        sy_jval_t v = sy_json_value(a.p, a.len);
        RAW(w, "{\"json\":");
        jval(w, &v);
    } else {
        RAW(w, "{\"text\":");
        str(w, a);
    }
    RAW(w, "}");
}

static void part(kw_t *w, const sy_part_t *p)
{
    if (p->kind == SY_PART_TEXT) {
        RAW(w, "{\"text\":");
        str(w, p->text);
        RAW(w, "}");
        return;
    }
    /* An image without a media type (Ollama's) is sent to providers that
     * need one with the type its bytes show: hash that, so the same image
     * from two protocols is one image. */
    sy_str_t media = p->media_type;
    if (p->data.len && !media.len) {
        const char *m = sy_canon_image_media(p->data);
        media = (sy_str_t){m, strlen(m)};
    }
    RAW(w, "{\"image\":{\"url\":");
    str(w, p->url);
    RAW(w, ",\"media_type\":");
    str(w, media);
    RAW(w, ",\"data\":");
    str(w, p->data);
    RAW(w, "}}");
}

static void message(kw_t *w, const sy_msg_t *m)
{
    RAW(w, "{\"role\":");
    cstr(w, sy_role_name(m->role));
    RAW(w, ",\"parts\":[");
    for (size_t i = 0; i < m->n_parts; i++) {
        if (i)
            RAW(w, ",");
        part(w, &m->parts[i]);
    }
    RAW(w, "],\"calls\":[");
    for (size_t i = 0; i < m->n_calls; i++) {
        const sy_tool_call_t *c = &m->calls[i];
        if (i)
            RAW(w, ",");
        RAW(w, "{\"id\":");
        str(w, c->id);
        RAW(w, ",\"name\":");
        str(w, c->name);
        RAW(w, ",\"args\":");
        args(w, c->args);
        RAW(w, "}");
    }
    RAW(w, "]");
    key(w, "tool_call_id");
    str(w, m->tool_call_id);
    key(w, "tool_name");
    str(w, m->tool_name);
    key(w, "is_error");
    tri(w, m->is_error ? 1 : 0);
    key(w, "thinking");
    str(w, m->thinking);
    RAW(w, "}");
}

/*
 * Ollama's options object as the Ollama egress sends it: the members it
 * writes from canonical fields (already hashed under their canonical names)
 * are left out, the rest ride along. The list mirrors write_options in
 * providers/ollama.c: a member is replaced only when its canonical field is
 * said.
 */
static int option_is_canonical(void *sud, const sy_jval_t *k)
{
    const sy_creq_t *q = sud;
    const struct {
        const char *name;
        int said;
    } mapped[] = {
        {"temperature", q->temperature.p != NULL},
        {"top_p", q->top_p.p != NULL},
        {"top_k", q->top_k.p != NULL},
        {"num_predict", q->max_tokens >= 0},
        {"stop", q->n_stop > 0},
        {"seed", q->has_seed},
        {"num_ctx", q->num_ctx > 0},
        {"presence_penalty", q->presence_penalty.p != NULL},
        {"frequency_penalty", q->frequency_penalty.p != NULL},
    };
    for (size_t i = 0; i < sizeof(mapped) / sizeof(mapped[0]); i++)
        if (mapped[i].said && sy_json_key_is(k, mapped[i].name))
            return 1;
    return 0;
}

/* How many members of options option_is_canonical keeps (1 for a value that
 * is not an object: it is hashed whole; 0 when absent or null). */
static size_t options_left(const sy_creq_t *q)
{
    size_t pos = 0, n = 0;
    sy_jval_t k, v;
    if (!q->options.p || q->options.type == SY_JNULL)
        return 0;
    if (q->options.type != SY_JOBJECT)
        return 1;
    while (sy_json_next_member(&q->options, &pos, &k, &v))
        n += !option_is_canonical((void *)q, &k);
    return n;
}

/*
 * The exact key's document, or with partition set the semantic cache's
 * partition document: the same fields in the same order without what was
 * said (messages, suffix, inputs), opened by its own first member so that
 * no partition document is ever an exact one.
 */
static sy_err_t write_doc(const sy_creq_t *q, const char *ns, const char *public_model, int partition,
                          sy_jcanon_sink sink, void *ud)
{
    static const char *const ops[] = {"chat", "generate", "embed"};
    static const char *const choices[] = {"default", "auto", "none", "required", "named"};
    static const char *const formats[] = {"text", "json", "schema"};
    kw_t w = {sink, ud, SY_OK};

    if (partition) {
        RAW(&w, "{\"partition\":");
        i64(&w, SY_CACHE_PARTITION_VERSION);
    } else {
        RAW(&w, "{\"v\":");
        i64(&w, SY_CACHE_KEY_VERSION);
    }
    key(&w, "ns");
    cstr(&w, ns);
    key(&w, "model");
    if (public_model)
        cstr(&w, public_model);
    else
        str(&w, q->model);
    key(&w, "op");
    cstr(&w, (unsigned)q->op < 3 ? ops[q->op] : "?");

    if (!partition) {
        key(&w, "messages");
        RAW(&w, "[");
        for (size_t i = 0; i < q->n_msgs; i++) {
            if (i)
                RAW(&w, ",");
            message(&w, &q->msgs[i]);
        }
        RAW(&w, "]");
    }

    key(&w, "tools");
    RAW(&w, "[");
    for (size_t i = 0; i < q->n_tools; i++) {
        const sy_tool_t *t = &q->tools[i];
        if (i)
            RAW(&w, ",");
        RAW(&w, "{\"name\":");
        str(&w, t->name);
        RAW(&w, ",\"description\":");
        str(&w, t->description);
        RAW(&w, ",\"parameters\":");
        jval(&w, &t->parameters);
        RAW(&w, "}");
    }
    RAW(&w, "]");
    key(&w, "tool_choice");
    cstr(&w, (unsigned)q->tool_choice < 5 ? choices[q->tool_choice] : "?");
    key(&w, "tool_choice_name");
    if (q->tool_choice == SY_TOOLS_NAMED)
        str(&w, q->tool_choice_name);
    else
        RAW(&w, "null");
    key(&w, "parallel_tool_calls");
    tri(&w, q->parallel_tool_calls);

    key(&w, "temperature");
    jval(&w, &q->temperature);
    key(&w, "top_p");
    jval(&w, &q->top_p);
    key(&w, "top_k");
    jval(&w, &q->top_k);
    key(&w, "presence_penalty");
    jval(&w, &q->presence_penalty);
    key(&w, "frequency_penalty");
    jval(&w, &q->frequency_penalty);
    key(&w, "max_tokens");
    opt_i64(&w, q->max_tokens);
    key(&w, "stop");
    RAW(&w, "[");
    for (size_t i = 0; i < q->n_stop; i++) {
        if (i)
            RAW(&w, ",");
        str(&w, q->stop[i]);
    }
    RAW(&w, "]");
    key(&w, "seed");
    if (q->has_seed)
        i64(&w, q->seed);
    else
        RAW(&w, "null");

    /* the schema and its name only matter when a schema is asked for; an
     * empty name is sent as "response" */
    key(&w, "format");
    cstr(&w, (unsigned)q->format < 3 ? formats[q->format] : "?");
    key(&w, "format_schema");
    if (q->format == SY_FORMAT_SCHEMA)
        jval(&w, &q->format_schema);
    else
        RAW(&w, "null");
    key(&w, "format_name");
    if (q->format != SY_FORMAT_SCHEMA)
        RAW(&w, "null");
    else if (q->format_name.len)
        str(&w, q->format_name);
    else
        cstr(&w, "response");

    key(&w, "num_ctx");
    opt_i64(&w, q->num_ctx > 0 ? q->num_ctx : -1);
    /* what is left of options after the canonical members; nothing left is
     * no options at all (the egress then sends none) */
    key(&w, "options");
    if (options_left(q) == 0)
        RAW(&w, "null");
    else if (w.rc == SY_OK)
        w.rc = sy_jcanon_write_except(&q->options, option_is_canonical, (void *)q, sink, ud);
    key(&w, "think");
    jval(&w, &q->think);

    if (!partition) {
        key(&w, "suffix");
        str(&w, q->suffix);
    }
    key(&w, "raw");
    tri(&w, q->raw ? 1 : 0);

    if (!partition) {
        key(&w, "inputs");
        RAW(&w, "[");
        for (size_t i = 0; i < q->n_inputs; i++) {
            if (i)
                RAW(&w, ",");
            str(&w, q->inputs[i]);
        }
        RAW(&w, "]");
    }
    key(&w, "dimensions");
    opt_i64(&w, q->dimensions);
    key(&w, "truncate");
    tri(&w, q->truncate);
    RAW(&w, "}");
    return w.rc;
}

sy_err_t sy_cache_key_write(const sy_creq_t *q, const char *ns, const char *public_model, sy_jcanon_sink sink,
                            void *ud)
{
    return write_doc(q, ns, public_model, 0, sink, ud);
}

/* ---- SHA-256, fed through a buffer -------------------------------------- */

/*
 * OpenSSL's SHA-256 functions rather than EVP: the first EVP digest sets up
 * OpenSSL 3's library context and providers, +2.3 MB resident for the life
 * of the process (measured); SHA256_* need none of it, keep their state on
 * the stack (no allocation, no failure) and are ~5x faster on a small
 * request. Deprecated in OpenSSL 3 but present; should they go, EVP with
 * one EVP_MD fetched at start is the replacement.
 */
#define HASH_BUF 4096

typedef struct hasher {
    SHA256_CTX sha;
    size_t len;
    unsigned char buf[HASH_BUF];
} hasher_t;

static int hash_sink(void *ud, const char *p, size_t n)
{
    hasher_t *h = ud;
    if (n > HASH_BUF - h->len) {
        if (h->len)
            SHA256_Update(&h->sha, h->buf, h->len);
        h->len = 0;
        if (n >= HASH_BUF) { /* a big piece (a long text): straight in */
            SHA256_Update(&h->sha, p, n);
            return 0;
        }
    }
    memcpy(h->buf + h->len, p, n);
    h->len += n;
    return 0;
}

static sy_err_t hash_doc(const sy_creq_t *q, const char *ns, const char *public_model, int partition,
                         unsigned char out[SY_CACHE_KEY_LEN])
{
    hasher_t h;
    unsigned char md[SHA256_DIGEST_LENGTH];
    sy_err_t rc;
    h.len = 0;
    SHA256_Init(&h.sha);
    if ((rc = write_doc(q, ns, public_model, partition, hash_sink, &h)) != SY_OK)
        return rc;
    if (h.len)
        SHA256_Update(&h.sha, h.buf, h.len);
    SHA256_Final(md, &h.sha);
    memcpy(out, md, SY_CACHE_KEY_LEN);
    return SY_OK;
}

sy_err_t sy_cache_key(const sy_creq_t *q, const char *ns, const char *public_model, unsigned char out[SY_CACHE_KEY_LEN])
{
    return hash_doc(q, ns, public_model, 0, out);
}

sy_err_t sy_cache_partition_key(const sy_creq_t *q, const char *ns, const char *public_model,
                                unsigned char out[SY_CACHE_KEY_LEN])
{
    return hash_doc(q, ns, public_model, 1, out);
}

void sy_cache_key_hex(const unsigned char k[SY_CACHE_KEY_LEN], char out[2 * SY_CACHE_KEY_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < SY_CACHE_KEY_LEN; i++) {
        out[2 * i] = hex[k[i] >> 4];
        out[2 * i + 1] = hex[k[i] & 15];
    }
    out[2 * SY_CACHE_KEY_LEN] = '\0';
}
