/*
 * jsonscan.c - strict JSON validation and in-place walking (see jsonscan.h).
 *
 * The validator is a recursive descent bounded by SY_JSON_MAX_DEPTH. The
 * walkers trust validated text and only skip over values, so they are short.
 */
#include "core/jsonscan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *sy_jtype_name(sy_jtype_t t)
{
    static const char *const names[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

/* ---- validation ----------------------------------------------------------- */

typedef struct vctx {
    const char *s;
    size_t n, i;
    const char *msg;
} vctx_t;

static void ws(vctx_t *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static int fail(vctx_t *c, const char *msg)
{
    c->msg = c->i >= c->n ? "unexpected end of input" : msg;
    return -1;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int v_string(vctx_t *c)
{
    c->i++; /* opening quote */
    while (c->i < c->n) {
        /* the common case: a run of ordinary bytes */
        while (c->i < c->n && (unsigned char)c->s[c->i] >= 0x20 && c->s[c->i] != '"' && c->s[c->i] != '\\')
            c->i++;
        if (c->i >= c->n)
            break;
        unsigned char ch = (unsigned char)c->s[c->i];
        if (ch == '"') {
            c->i++;
            return 0;
        }
        if (ch < 0x20)
            return fail(c, "control character in a string");
        if (ch == '\\') {
            if (++c->i >= c->n)
                return fail(c, "");
            char e = c->s[c->i];
            if (e == 'u') {
                for (int k = 1; k <= 4; k++) {
                    if (c->i + (size_t)k >= c->n) {
                        c->i = c->n;
                        return fail(c, "");
                    }
                    if (hexval(c->s[c->i + (size_t)k]) < 0) {
                        c->i += (size_t)k;
                        return fail(c, "invalid \\u escape");
                    }
                }
                c->i += 5;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return fail(c, "invalid escape in a string");
        }
        c->i++;
    }
    return fail(c, "");
}

static int digits(vctx_t *c)
{
    size_t start = c->i;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
        c->i++;
    return c->i > start ? 0 : fail(c, "invalid number");
}

static int v_number(vctx_t *c)
{
    if (c->s[c->i] == '-')
        c->i++;
    if (c->i >= c->n)
        return fail(c, "");
    if (c->s[c->i] == '0') {
        c->i++;
    } else if (digits(c) < 0) {
        return -1;
    }
    if (c->i < c->n && c->s[c->i] == '.') {
        c->i++;
        if (digits(c) < 0)
            return -1;
    }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        c->i++;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
            c->i++;
        if (digits(c) < 0)
            return -1;
    }
    return 0;
}

static int v_literal(vctx_t *c, const char *lit)
{
    size_t l = strlen(lit);
    for (size_t k = 0; k < l; k++, c->i++)
        if (c->i >= c->n || c->s[c->i] != lit[k])
            return fail(c, "invalid literal");
    return 0;
}

static int v_value(vctx_t *c, int depth)
{
    ws(c);
    if (c->i >= c->n)
        return fail(c, "");
    switch (c->s[c->i]) {
    case '{':
        if (depth >= SY_JSON_MAX_DEPTH)
            return fail(c, "nesting too deep");
        c->i++;
        ws(c);
        if (c->i < c->n && c->s[c->i] == '}') {
            c->i++;
            return 0;
        }
        for (;;) {
            ws(c);
            if (c->i >= c->n || c->s[c->i] != '"')
                return fail(c, "expected a string key");
            if (v_string(c) < 0)
                return -1;
            ws(c);
            if (c->i >= c->n || c->s[c->i] != ':')
                return fail(c, "expected ':' after a key");
            c->i++;
            if (v_value(c, depth + 1) < 0)
                return -1;
            ws(c);
            if (c->i < c->n && c->s[c->i] == ',') {
                c->i++;
                continue;
            }
            if (c->i < c->n && c->s[c->i] == '}') {
                c->i++;
                return 0;
            }
            return fail(c, "expected ',' or '}' in an object");
        }
    case '[':
        if (depth >= SY_JSON_MAX_DEPTH)
            return fail(c, "nesting too deep");
        c->i++;
        ws(c);
        if (c->i < c->n && c->s[c->i] == ']') {
            c->i++;
            return 0;
        }
        for (;;) {
            if (v_value(c, depth + 1) < 0)
                return -1;
            ws(c);
            if (c->i < c->n && c->s[c->i] == ',') {
                c->i++;
                continue;
            }
            if (c->i < c->n && c->s[c->i] == ']') {
                c->i++;
                return 0;
            }
            return fail(c, "expected ',' or ']' in an array");
        }
    case '"':
        return v_string(c);
    case 't':
        return v_literal(c, "true");
    case 'f':
        return v_literal(c, "false");
    case 'n':
        return v_literal(c, "null");
    default:
        if (c->s[c->i] == '-' || (c->s[c->i] >= '0' && c->s[c->i] <= '9'))
            return v_number(c);
        return fail(c, "unexpected character");
    }
}

int sy_json_validate(const char *s, size_t n, size_t *err_off, const char **err_msg)
{
    vctx_t c = {s, n, 0, NULL};
    if (v_value(&c, 0) == 0) {
        ws(&c);
        if (c.i == n)
            return 0;
        c.msg = "unexpected data after the value";
    }
    if (err_off)
        *err_off = c.i > n ? n : c.i;
    if (err_msg)
        *err_msg = c.msg;
    return -1;
}

/* ---- walking validated text ------------------------------------------------ */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] is an opening quote of valid text: the index after its closing
 * quote. memchr finds candidates fast; a quote preceded by an odd number of
 * backslashes is escaped. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
    for (i++; i < n;) {
        const char *q = memchr(s + i, '"', n - i);
        if (!q)
            return n;
        size_t at = (size_t)(q - s), bs = 0;
        while (at - bs > i && s[at - bs - 1] == '\\')
            bs++;
        if (!(bs & 1))
            return at + 1;
        i = at + 1;
    }
    return n;
}

/* The end of the value starting at s[i]; sets *type. */
static size_t skip_value(const char *s, size_t n, size_t i, sy_jtype_t *type)
{
    char ch = i < n ? s[i] : '\0';
    if (ch == '"') {
        *type = SY_JSTRING;
        return skip_string(s, n, i);
    }
    if (ch == '{' || ch == '[') {
        *type = ch == '{' ? SY_JOBJECT : SY_JARRAY;
        int depth = 0;
        for (; i < n; i++) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, n, i) - 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                return i + 1;
            }
        }
        return n;
    }
    if (ch == 't' || ch == 'f') {
        *type = SY_JBOOL;
        return i + (ch == 't' ? 4 : 5);
    }
    if (ch == 'n') {
        *type = SY_JNULL;
        return i + 4;
    }
    *type = SY_JINT;
    while (i < n && (s[i] == '-' || s[i] == '+' || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                     (s[i] >= '0' && s[i] <= '9'))) {
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            *type = SY_JDOUBLE;
        i++;
    }
    return i;
}

sy_jval_t sy_json_value(const char *s, size_t n)
{
    sy_jval_t v = {NULL, 0, SY_JNULL};
    size_t i = skip_ws(s, n, 0);
    size_t e = skip_value(s, n, i, &v.type);
    v.p = s + i;
    v.len = e - i;
    return v;
}

int sy_json_next_member(const sy_jval_t *obj, size_t *pos, sy_jval_t *key, sy_jval_t *val)
{
    const char *s = obj->p;
    size_t n = obj->len, i = *pos;
    if (obj->type != SY_JOBJECT)
        return 0;
    i = skip_ws(s, n, i == 0 ? 1 : i);
    if (i < n && s[i] == ',')
        i = skip_ws(s, n, i + 1);
    if (i >= n || s[i] != '"')
        return 0;
    size_t ke = skip_string(s, n, i);
    key->p = s + i + 1;
    key->len = ke - i - 2;
    key->type = SY_JSTRING;
    i = skip_ws(s, n, ke);
    i = skip_ws(s, n, i + 1); /* ':' */
    size_t ve = skip_value(s, n, i, &val->type);
    val->p = s + i;
    val->len = ve - i;
    *pos = ve;
    return 1;
}

int sy_json_next_element(const sy_jval_t *arr, size_t *pos, sy_jval_t *val)
{
    const char *s = arr->p;
    size_t n = arr->len, i = *pos;
    if (arr->type != SY_JARRAY)
        return 0;
    i = skip_ws(s, n, i == 0 ? 1 : i);
    if (i < n && s[i] == ',')
        i = skip_ws(s, n, i + 1);
    if (i >= n || s[i] == ']')
        return 0;
    size_t ve = skip_value(s, n, i, &val->type);
    val->p = s + i;
    val->len = ve - i;
    *pos = ve;
    return 1;
}

long sy_json_string(const sy_jval_t *str, char *dst, size_t cap)
{
    const char *s = str->p;
    size_t n = str->len, o = 0;
    if (str->type != SY_JSTRING || n < 2 || cap == 0)
        return -1;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char buf[4];
        size_t bl = 1;
        if (ch != '\\') {
            /* the run up to the next escape, copied whole */
            const char *bs = memchr(s + i, '\\', n - 1 - i);
            size_t run = (bs ? (size_t)(bs - s) : n - 1) - i;
            if (o + run >= cap)
                return -1;
            memcpy(dst + o, s + i, run);
            o += run;
            i += run - 1;
            continue;
        } else {
            char e = s[++i];
            switch (e) {
            case 'b': buf[0] = '\b'; break;
            case 'f': buf[0] = '\f'; break;
            case 'n': buf[0] = '\n'; break;
            case 'r': buf[0] = '\r'; break;
            case 't': buf[0] = '\t'; break;
            case 'u': {
                unsigned cp = 0;
                for (int k = 1; k <= 4; k++)
                    cp = cp * 16 + (unsigned)hexval(s[i + (size_t)k]);
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < n && s[i + 1] == '\\' && s[i + 2] == 'u') {
                    unsigned lo = 0;
                    for (int k = 3; k <= 6; k++)
                        lo = lo * 16 + (unsigned)hexval(s[i + (size_t)k]);
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                if (cp >= 0xD800 && cp <= 0xDFFF)
                    cp = 0xFFFD; /* a lone surrogate */
                if (cp < 0x80) {
                    buf[0] = (char)cp;
                } else if (cp < 0x800) {
                    buf[0] = (char)(0xC0 | (cp >> 6)), buf[1] = (char)(0x80 | (cp & 0x3F)), bl = 2;
                } else if (cp < 0x10000) {
                    buf[0] = (char)(0xE0 | (cp >> 12)), buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    buf[2] = (char)(0x80 | (cp & 0x3F)), bl = 3;
                } else {
                    buf[0] = (char)(0xF0 | (cp >> 18)), buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), buf[3] = (char)(0x80 | (cp & 0x3F)), bl = 4;
                }
                break;
            }
            default: buf[0] = e; break; /* \" \\ \/ */
            }
        }
        if (o + bl >= cap)
            return -1;
        memcpy(dst + o, buf, bl);
        o += bl;
    }
    dst[o] = '\0';
    return (long)o;
}

int sy_json_key_is(const sy_jval_t *key, const char *name)
{
    size_t nl = strlen(name);
    if (!memchr(key->p, '\\', key->len))
        return key->len == nl && memcmp(key->p, name, nl) == 0;
    char buf[256];
    sy_jval_t q = {key->p - 1, key->len + 2, SY_JSTRING};
    long l = sy_json_string(&q, buf, sizeof(buf));
    return l >= 0 && (size_t)l == nl && memcmp(buf, name, nl) == 0;
}

int sy_json_get(const sy_jval_t *obj, const char *name, sy_jval_t *val)
{
    size_t pos = 0;
    sy_jval_t k, v;
    int found = 0;
    while (sy_json_next_member(obj, &pos, &k, &v)) {
        if (sy_json_key_is(&k, name)) {
            *val = v;
            found = 1;
        }
    }
    return found;
}

int sy_json_int(const sy_jval_t *v, int64_t *out)
{
    char buf[32];
    if (v->type != SY_JINT || v->len == 0 || v->len >= sizeof(buf))
        return -1;
    memcpy(buf, v->p, v->len);
    buf[v->len] = '\0';
    errno = 0;
    long long x = strtoll(buf, NULL, 10);
    if (errno)
        return -1;
    *out = x;
    return 0;
}

int sy_json_true(const sy_jval_t *v)
{
    return v->type == SY_JBOOL && v->p[0] == 't';
}

int sy_jsonscan_top(const char *s, size_t n, const char *key, size_t *vstart, size_t *vend)
{
    if (sy_json_validate(s, n, NULL, NULL) < 0)
        return -1;
    sy_jval_t doc = sy_json_value(s, n), k, v;
    size_t pos = 0;
    int found = -1;
    while (sy_json_next_member(&doc, &pos, &k, &v)) {
        if (sy_json_key_is(&k, key)) {
            *vstart = (size_t)(v.p - s);
            *vend = *vstart + v.len;
            found = 0;
        }
    }
    return found;
}

void sy_json_members(const sy_jval_t *obj, const char *const *names, sy_jval_t *vals, size_t n, unsigned flags)
{
    size_t pos = 0;
    sy_jval_t k, v;
    for (size_t i = 0; i < n; i++)
        vals[i].p = NULL;
    while (sy_json_next_member(obj, &pos, &k, &v))
        for (size_t i = 0; i < n; i++)
            if (sy_json_key_is(&k, names[i])) {
                vals[i] = v;
                if (v.type == SY_JNULL && (flags & SY_JSON_NULL_ABSENT))
                    vals[i].p = NULL;
                break;
            }
}

int sy_json_double(const sy_jval_t *v, double *out)
{
    char buf[128]; /* the text is followed by more of the document: copy to end it */
    if ((v->type != SY_JINT && v->type != SY_JDOUBLE) || v->len >= sizeof(buf))
        return -1;
    memcpy(buf, v->p, v->len);
    buf[v->len] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}
