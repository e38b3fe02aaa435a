/*
 * jsonscan_fuzz.c - libFuzzer driver for src/core/jsonscan.c, the in-place
 * JSON validator and walkers that read every client body (src/api/openai.c)
 * and every upstream answer (usage, error messages), checked against json-c
 * and against a small RFC 8259 reference validator written here.
 *
 * The passthrough never builds objects: it validates the client's bytes,
 * reads the fields it needs with the walkers, routes by "model", then
 * replaces the model value's bytes and forwards the rest untouched. If the
 * walkers and a real parser disagreed, the upstream would act on a request
 * other than the one the gateway checked and routed. On every input:
 *   - sy_json_validate accepts exactly what the reference accepts (RFC
 *     8259, no control characters in strings, at most SY_JSON_MAX_DEPTH
 *     nested containers), and a rejection's offset lies inside the input;
 *   - on valid text, json-c parses it too, and a walk with sy_json_value /
 *     sy_json_next_member / sy_json_next_element / sy_json_string /
 *     sy_json_int / sy_json_true reads the same tree as json-c (types,
 *     strings byte for byte, integers, doubles, the last duplicate key
 *     winning, as sy_json_get and json-c both promise);
 *   - the request path of openai.c: when the body is an object with exactly
 *     one key that sy_json_key_is "model" (openai.c refuses duplicates) and
 *     its value is a string, json-c reads the same model, and replacing the
 *     value's bytes as the pipeline does gives a body that json-c parses to
 *     the same object with only "model" changed;
 *   - sy_jsonscan_top (exact key spelling): whenever json-c parses the input
 *     as an object whose "model" is a string and the body has one "model"
 *     key, it either returns a span whose bytes json-c parses to that same
 *     string, or -1 and the key was written with escapes (or the text is
 *     not standard JSON: json-c also accepts comments, single quotes, NaN,
 *     control characters ... which the gateway rejects with 400 anyway);
 *   - no crash, no read outside the input (ASan), no undefined behaviour.
 * Any violation calls abort(), which libFuzzer reports as a crash. Where
 * json-c itself is wrong (keys cut at NUL, some surrogate pairs: see
 * jc_pair_bug) the comparison is skipped, the walk still runs.
 */
#include "core/jsonscan.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEW_MODEL "fuzz-rewritten-model"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "jsonscan_fuzz: invariant failed: %s (%s:%d)\n  ", #cond, __FILE__,   \
                    __LINE__);                                                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- json-c as the reference parser --------------------------------------- */

/* Parse s[0..n) with json-c; exactly one value, whitespace around it. json-c
 * cannot tell where a bare number ends at the end of its input, so it is
 * given a NUL-terminated copy. *ok says whether it parsed (null is NULL). */
static json_object *jc_parse(const char *s, size_t n, int flags, int *ok)
{
    *ok = 0;
    if (n == 0 || n >= (size_t)INT32_MAX)
        return NULL;
    char *z = malloc(n + 1);
    CHECK(z != NULL, "out of memory");
    memcpy(z, s, n);
    z[n] = '\0';
    json_tokener *tok = json_tokener_new_ex(1024);
    CHECK(tok != NULL, "out of memory");
    json_tokener_set_flags(tok, flags);
    json_object *o = json_tokener_parse_ex(tok, z, (int)n + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    while (end < n && (z[end] == ' ' || z[end] == '\n' || z[end] == '\r' || z[end] == '\t'))
        end++;
    free(z);
    if (jerr != json_tokener_success || (end != n && end != n + 1)) {
        json_object_put(o);
        return NULL;
    }
    *ok = 1;
    return o;
}

/* ---- the RFC 8259 reference validator ------------------------------------ */

typedef struct ref {
    const char *s;
    size_t n, i;
} ref_t;

static void ref_ws(ref_t *r)
{
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' ||
                           r->s[r->i] == '\r'))
        r->i++;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int ref_string(ref_t *r)
{
    for (r->i++; r->i < r->n; r->i++) {
        unsigned char c = (unsigned char)r->s[r->i];
        if (c == '"') {
            r->i++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (++r->i >= r->n)
                return 0;
            c = (unsigned char)r->s[r->i];
            if (c == 'u') {
                if (r->n - r->i < 5)
                    return 0;
                for (int k = 1; k <= 4; k++)
                    if (!is_hex(r->s[r->i + (size_t)k]))
                        return 0;
                r->i += 4;
            } else if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' &&
                       c != 'r' && c != 't') {
                return 0;
            }
        }
    }
    return 0;
}

static int ref_digits(ref_t *r)
{
    size_t st = r->i;
    while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
        r->i++;
    return r->i > st;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int ref_number(ref_t *r)
{
    if (r->i < r->n && r->s[r->i] == '-')
        r->i++;
    if (r->i < r->n && r->s[r->i] == '0')
        r->i++;
    else if (!(r->i < r->n && r->s[r->i] >= '1' && r->s[r->i] <= '9' && ref_digits(r)))
        return 0;
    if (r->i < r->n && r->s[r->i] == '.') {
        r->i++;
        if (!ref_digits(r))
            return 0;
    }
    if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
        r->i++;
        if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-'))
            r->i++;
        if (!ref_digits(r))
            return 0;
    }
    return 1;
}

static int ref_word(ref_t *r, const char *w)
{
    size_t l = strlen(w);
    if (r->n - r->i < l || memcmp(r->s + r->i, w, l) != 0)
        return 0;
    r->i += l;
    return 1;
}

/* depth = containers already open around this value */
static int ref_value(ref_t *r, int depth)
{
    ref_ws(r);
    if (r->i >= r->n)
        return 0;
    char c = r->s[r->i];
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        if (depth + 1 > SY_JSON_MAX_DEPTH)
            return 0;
        r->i++;
        ref_ws(r);
        if (r->i < r->n && r->s[r->i] == close) {
            r->i++;
            return 1;
        }
        for (;;) {
            if (c == '{') {
                ref_ws(r);
                if (r->i >= r->n || r->s[r->i] != '"' || !ref_string(r))
                    return 0;
                ref_ws(r);
                if (r->i >= r->n || r->s[r->i] != ':')
                    return 0;
                r->i++;
            }
            if (!ref_value(r, depth + 1))
                return 0;
            ref_ws(r);
            if (r->i < r->n && r->s[r->i] == ',') {
                r->i++;
                continue;
            }
            if (r->i < r->n && r->s[r->i] == close) {
                r->i++;
                return 1;
            }
            return 0;
        }
    }
    switch (c) {
    case '"':
        return ref_string(r);
    case 't':
        return ref_word(r, "true");
    case 'f':
        return ref_word(r, "false");
    case 'n':
        return ref_word(r, "null");
    default:
        return ref_number(r);
    }
}

static int ref_valid(const char *s, size_t n)
{
    ref_t r = {s, n, 0};
    if (!ref_value(&r, 0))
        return 0;
    ref_ws(&r);
    return r.i == n;
}

/* ---- walking with jsonscan, comparing with json-c ------------------------- */

/* A string value decoded by sy_json_string; the caller frees it. */
static char *decode(const sy_jval_t *v, long *len)
{
    CHECK(v->type == SY_JSTRING && v->len >= 2, "not a string value (type %d, %zu bytes)",
          (int)v->type, v->len);
    char *d = malloc(v->len + 1);
    CHECK(d != NULL, "out of memory");
    /* decoding never grows a string: an escape is longer than its bytes */
    *len = sy_json_string(v, d, v->len + 1);
    CHECK(*len >= 0, "sy_json_string failed with room for %zu bytes", v->len);
    CHECK((size_t)*len < v->len, "decoded %ld bytes from %zu", *len, v->len);
    return d;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/*
 * json-c 0.16 decodes a surrogate pair whose code point's low 16 bits fall
 * in D800-DFFF (U+1D800-U+1DFFF, U+2D800 ...: "\ud836\udc00") to U+FFFD, as
 * if it were a lone surrogate; jsonscan decodes it right. Where a string
 * holds such a pair, json-c is no reference. raw is a validated string.
 */
static int jc_pair_bug(const char *raw, size_t len)
{
    for (size_t i = 0; i + 12 <= len; i++) {
        if (raw[i] != '\\')
            continue;
        if (raw[i + 1] == 'u' && raw[i + 6] == '\\' && raw[i + 7] == 'u') {
            unsigned hi = hex4(raw + i + 2), lo = hex4(raw + i + 8);
            if (hi >= 0xD800 && hi <= 0xDBFF && lo >= 0xDC00 && lo <= 0xDFFF) {
                unsigned cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                if ((cp & 0xF800) == 0xD800)
                    return 1;
            }
        }
        i++; /* skip the escaped character */
    }
    return 0;
}

static sy_jval_t key_as_value(const sy_jval_t *k)
{
    sy_jval_t q = {k->p - 1, k->len + 2, SY_JSTRING};
    return q;
}

static void same_tree(const sy_jval_t *v, json_object *o, int depth);

static void same_object(const sy_jval_t *v, json_object *o, int depth)
{
    CHECK(json_object_is_type(o, json_type_object), "object vs json-c %s",
          json_type_to_name(json_object_get_type(o)));
    size_t pos = 0, members = 0;
    sy_jval_t k, val;
    int nul_key = 0;
    /* json-c cuts keys at NUL ("a\u0000b" is "a" to it, and replaces an
     * earlier "a"): an object with such a key cannot be compared */
    while (sy_json_next_member(v, &pos, &k, &val)) {
        CHECK(pos <= v->len, "member walk past the object (%zu > %zu)", pos, v->len);
        members++;
        CHECK(members <= v->len, "member walk does not end");
        sy_jval_t kq = key_as_value(&k);
        long kl;
        char *key = decode(&kq, &kl);
        nul_key |= memchr(key, '\0', (size_t)kl) != NULL || jc_pair_bug(k.p, k.len);
        free(key);
    }
    if (nul_key)
        return;
    /* json-c keeps one member per key (the last); so does sy_json_get */
    pos = 0;
    while (sy_json_next_member(v, &pos, &k, &val)) {
        sy_jval_t kq = key_as_value(&k);
        long kl;
        char *key = decode(&kq, &kl);
        json_object *jv = NULL;
        CHECK(json_object_object_get_ex(o, key, &jv), "key \"%s\" missing in json-c", key);
        if (kl < 200) {
            sy_jval_t got;
            CHECK(sy_json_get(v, key, &got), "sy_json_get misses key \"%s\"", key);
            /* the last occurrence wins in both */
            same_tree(&got, jv, depth + 1);
            CHECK(sy_json_key_is(&k, key), "sy_json_key_is rejects its own key \"%s\"", key);
        }
        free(key);
    }
    CHECK((size_t)json_object_object_length(o) <= members,
          "json-c has %d keys, the walk %zu members", json_object_object_length(o), members);
}

static void same_tree(const sy_jval_t *v, json_object *o, int depth)
{
    CHECK(depth <= SY_JSON_MAX_DEPTH + 1, "walk deeper than the validator allows");
    CHECK(v->p != NULL && v->len > 0, "empty value");
    switch (v->type) {
    case SY_JNULL:
        CHECK(o == NULL, "null vs json-c %s", json_type_to_name(json_object_get_type(o)));
        CHECK(v->len == 4 && memcmp(v->p, "null", 4) == 0, "null spans %zu bytes", v->len);
        break;
    case SY_JBOOL:
        CHECK(json_object_is_type(o, json_type_boolean), "boolean vs json-c %s",
              json_type_to_name(json_object_get_type(o)));
        CHECK(!!sy_json_true(v) == !!json_object_get_boolean(o), "boolean value differs");
        break;
    case SY_JINT: {
        CHECK(json_object_is_type(o, json_type_int), "integer %.*s vs json-c %s",
              (int)(v->len < 40 ? v->len : 40), v->p, json_type_to_name(json_object_get_type(o)));
        int64_t x;
        if (sy_json_int(v, &x) == 0)
            CHECK(x == json_object_get_int64(o), "integer %.*s read as %lld, json-c %lld",
                  (int)(v->len < 40 ? v->len : 40), v->p, (long long)x,
                  (long long)json_object_get_int64(o));
        break;
    }
    case SY_JDOUBLE: {
        CHECK(json_object_is_type(o, json_type_double), "number %.*s vs json-c %s",
              (int)(v->len < 40 ? v->len : 40), v->p, json_type_to_name(json_object_get_type(o)));
        char buf[512];
        if (v->len < sizeof(buf)) {
            memcpy(buf, v->p, v->len);
            buf[v->len] = '\0';
            double d = strtod(buf, NULL);
            CHECK(d == json_object_get_double(o), "number %s differs from json-c's %.17g", buf,
                  json_object_get_double(o));
        }
        break;
    }
    case SY_JSTRING: {
        CHECK(json_object_is_type(o, json_type_string), "string vs json-c %s",
              json_type_to_name(json_object_get_type(o)));
        long l;
        char *d = decode(v, &l);
        CHECK(jc_pair_bug(v->p, v->len) ||
                  ((size_t)l == (size_t)json_object_get_string_len(o) &&
                   memcmp(d, json_object_get_string(o), (size_t)l) == 0),
              "string %.*s decoded to %ld bytes, json-c %d bytes",
              (int)(v->len < 200 ? v->len : 200), v->p, l, json_object_get_string_len(o));
        free(d);
        break;
    }
    case SY_JARRAY: {
        CHECK(json_object_is_type(o, json_type_array), "array vs json-c %s",
              json_type_to_name(json_object_get_type(o)));
        size_t pos = 0, i = 0, n = json_object_array_length(o);
        sy_jval_t e;
        while (sy_json_next_element(v, &pos, &e)) {
            CHECK(pos <= v->len, "element walk past the array");
            CHECK(i < n, "the walk finds more than json-c's %zu elements", n);
            same_tree(&e, json_object_array_get_idx(o, i), depth + 1);
            i++;
        }
        CHECK(i == n, "the walk found %zu elements, json-c %zu", i, n);
        break;
    }
    case SY_JOBJECT:
        same_object(v, o, depth);
        break;
    default:
        CHECK(0, "unknown type %d", (int)v->type);
    }
}

/* ---- the request path of openai.c ----------------------------------------- */

static int is_string(json_object *v, const char *want, size_t want_len)
{
    return v && json_object_is_type(v, json_type_string) &&
           (size_t)json_object_get_string_len(v) == want_len &&
           memcmp(json_object_get_string(v), want, want_len) == 0;
}

/* Replace [vs, ve) as the pipeline's rewrite_model does and check that json-c
 * sees the same object with only "model" changed. */
static void check_rewrite(const char *s, size_t n, size_t vs, size_t ve, json_object *orig)
{
    static const char repl[] = "\"" NEW_MODEL "\"";
    size_t rl = sizeof(repl) - 1, m = vs + rl + (n - ve);
    char *b = malloc(m + 1);
    CHECK(b != NULL, "out of memory");
    memcpy(b, s, vs);
    memcpy(b + vs, repl, rl);
    memcpy(b + vs + rl, s + ve, n - ve);
    b[m] = '\0';
    CHECK(sy_json_validate(b, m, NULL, NULL) == 0, "the rewritten body is not valid JSON");
    int ok;
    json_object *got = jc_parse(b, m, 0, &ok);
    CHECK(ok && got, "json-c cannot parse the rewritten body");
    json_object *v = NULL;
    json_object_object_get_ex(got, "model", &v);
    CHECK(is_string(v, NEW_MODEL, strlen(NEW_MODEL)),
          "after rewriting [%zu,%zu) json-c reads model %s, not the new one", vs, ve,
          v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "(absent)");
    json_object *want = NULL;
    CHECK(json_object_deep_copy(orig, &want, NULL) == 0, "deep copy failed");
    json_object_object_add(want, "model", json_object_new_string(NEW_MODEL));
    const int fl = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
    char *want_s = strdup(json_object_to_json_string_ext(want, fl));
    CHECK(want_s != NULL, "out of memory");
    const char *got_s = json_object_to_json_string_ext(got, fl);
    CHECK(strcmp(want_s, got_s) == 0, "the rewrite changed other members:\n  want %.300s\n  got  %.300s",
          want_s, got_s);
    free(want_s);
    json_object_put(want);
    json_object_put(got);
    free(b);
}

static void check_request(const char *s, size_t n, const sy_jval_t *doc, json_object *o)
{
    /* openai.c's check_fields: every key that sy_json_key_is "model"; a
     * second one is a 400 */
    size_t pos = 0, count = 0, escaped = 0;
    sy_jval_t k, v, model = {0};
    int nul_model = 0;
    while (sy_json_next_member(doc, &pos, &k, &v)) {
        sy_jval_t kq = key_as_value(&k);
        long kl;
        char *key = decode(&kq, &kl);
        int decoded_model = kl == 5 && memcmp(key, "model", 5) == 0;
        /* "model\u0000..." is "model" to json-c, which cuts keys at NUL */
        nul_model |= kl > 5 && memcmp(key, "model", 5) == 0 && memchr(key, '\0', (size_t)kl);
        free(key);
        CHECK(!!sy_json_key_is(&k, "model") == decoded_model,
              "sy_json_key_is(\"%.*s\", model) = %d, decoded %d", (int)(k.len < 80 ? k.len : 80),
              k.p, sy_json_key_is(&k, "model"), decoded_model);
        if (decoded_model) {
            count++;
            model = v;
            escaped = memchr(k.p, '\\', k.len) != NULL;
        }
    }
    json_object *jm = NULL;
    int jc_has = json_object_object_get_ex(o, "model", &jm);
    if (!nul_model)
        CHECK(jc_has == (count > 0), "json-c %s \"model\", the walk found %zu", jc_has ? "has" : "lacks",
              count);

    size_t vs = (size_t)-1, ve = (size_t)-1;
    int rc = sy_jsonscan_top(s, n, "model", &vs, &ve);
    CHECK(rc == 0 || rc == -1, "sy_jsonscan_top returned %d", rc);
    if (rc == 0)
        CHECK(vs <= ve && ve <= n, "span [%zu,%zu) outside the input", vs, ve);
    if (count != 1 || nul_model || model.type != SY_JSTRING)
        return; /* openai.c answers 400 before any rewrite */

    long ml;
    char *m = decode(&model, &ml);
    CHECK(jc_pair_bug(model.p, model.len) || is_string(jm, m, (size_t)ml),
          "the gateway reads model %.*s, json-c %s",
          (int)(ml < 200 ? ml : 200), m, json_object_to_json_string_ext(jm, JSON_C_TO_STRING_PLAIN));
    free(m);
    check_rewrite(s, n, (size_t)(model.p - s), (size_t)(model.p - s) + model.len, o);

    /* the brief's contract of sy_jsonscan_top, on the bodies the gateway accepts */
    if (rc == 0) {
        int ok;
        json_object *span = jc_parse(s + vs, ve - vs, 0, &ok);
        CHECK(ok && (jc_pair_bug(s + vs, ve - vs) ||
                     is_string(span, json_object_get_string(jm), (size_t)json_object_get_string_len(jm))),
              "sy_jsonscan_top span [%zu,%zu) is not json-c's model", vs, ve);
        json_object_put(span);
        CHECK(vs == (size_t)(model.p - s) && ve == vs + model.len,
              "sy_jsonscan_top span [%zu,%zu), the walk's [%zu,%zu)", vs, ve,
              (size_t)(model.p - s), (size_t)(model.p - s) + model.len);
    } else {
        CHECK(escaped, "sy_jsonscan_top returned -1 for a \"model\" key without escapes");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t off = (size_t)-1;
    const char *msg = NULL;
    int valid = sy_json_validate(s, size, &off, &msg) == 0;
    int want = ref_valid(s, size);
    CHECK(valid == want, "sy_json_validate says %s, the RFC 8259 reference %s (error \"%s\" at %zu)",
          valid ? "valid" : "invalid", want ? "valid" : "invalid", msg ? msg : "", off);
    if (!valid) {
        CHECK(off <= size && msg != NULL, "rejection at %zu of %zu, message %p", off, size,
              (const void *)msg);
        size_t vs, ve;
        CHECK(sy_jsonscan_top(s, size, "model", &vs, &ve) == -1, "a span in invalid text");
        return 0;
    }

    int ok;
    json_object *o = jc_parse(s, size, 0, &ok);
    CHECK(ok, "json-c rejects text the validator accepts: %.*s", (int)(size < 300 ? size : 300), s);
    sy_jval_t doc = sy_json_value(s, size);
    CHECK(doc.p >= s && doc.p + doc.len <= s + size, "the value lies outside the input");
    same_tree(&doc, o, 0);
    if (doc.type == SY_JOBJECT)
        check_request(s, size, &doc, o);
    json_object_put(o);
    return 0;
}
