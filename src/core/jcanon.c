/*
 * jcanon.c - the canonical spelling of a JSON value (see jcanon.h).
 *
 * Works on validated text in place: strings are decoded unit by unit while
 * they are written or compared, numbers are read digit by digit, objects are
 * sorted through an index of their members. Nothing of the value is copied.
 */
#include "core/jcanon.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OUT(p, n)                                                                                                      \
    do {                                                                                                               \
        if (sink(ud, (p), (n)) != 0)                                                                                   \
            return SY_EINTERNAL;                                                                                       \
    } while (0)
#define LIT(lit) OUT("" lit, sizeof(lit) - 1)

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return 0; /* validated text: not reached */
}

static unsigned hex4(const char *s)
{
    unsigned cp = 0;
    for (int k = 0; k < 4; k++)
        cp = cp * 16 + (unsigned)hexval(s[k]);
    return cp;
}

/* ---- strings: decoding the escaped content unit by unit ------------------ */

/* An iterator over the content of a JSON string (between the quotes). */
typedef struct str_it {
    const char *s;
    size_t i, n;
} str_it_t;

/*
 * The next unit of the decoded string into out (1-4 bytes, *len). Escapes
 * decode as sy_json_string does, except a lone surrogate: it is encoded the
 * way UTF-8 would encode it (3 bytes, 0xED...) for comparisons and *lone is
 * set to its code point so a writer can keep it an escape. Returns 0 at the
 * end, 1 otherwise.
 */
static int str_next(str_it_t *it, unsigned char out[4], size_t *len, unsigned *lone)
{
    const char *s = it->s;
    *lone = 0;
    if (it->i >= it->n)
        return 0;
    unsigned char ch = (unsigned char)s[it->i++];
    *len = 1;
    if (ch != '\\') {
        out[0] = ch;
        return 1;
    }
    char e = it->i < it->n ? s[it->i++] : '\\';
    unsigned cp;
    switch (e) {
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u':
        if (it->i + 4 > it->n) { /* not reached on validated text */
            out[0] = 'u';
            return 1;
        }
        cp = hex4(s + it->i);
        it->i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && it->i + 6 <= it->n && s[it->i] == '\\' && s[it->i + 1] == 'u') {
            unsigned lo = hex4(s + it->i + 2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                it->i += 6;
            }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            *lone = cp;
        if (cp < 0x80) {
            out[0] = (unsigned char)cp;
        } else if (cp < 0x800) {
            out[0] = (unsigned char)(0xC0 | (cp >> 6));
            out[1] = (unsigned char)(0x80 | (cp & 0x3F));
            *len = 2;
        } else if (cp < 0x10000) {
            out[0] = (unsigned char)(0xE0 | (cp >> 12));
            out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            out[2] = (unsigned char)(0x80 | (cp & 0x3F));
            *len = 3;
        } else {
            out[0] = (unsigned char)(0xF0 | (cp >> 18));
            out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            out[3] = (unsigned char)(0x80 | (cp & 0x3F));
            *len = 4;
        }
        return 1;
    default: out[0] = (unsigned char)e; return 1; /* \" \\ \/ */
    }
}

/* Whether byte c is written as it is inside a canonical string. */
static int plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

/* The canonical escape of one byte that is not plain. */
static sy_err_t put_escaped(unsigned char c, sy_jcanon_sink sink, void *ud)
{
    static const char hex[] = "0123456789abcdef";
    char b[6] = {'\\', 'u', '0', '0', 0, 0};
    switch (c) {
    case '"': LIT("\\\""); return SY_OK;
    case '\\': LIT("\\\\"); return SY_OK;
    case '\b': LIT("\\b"); return SY_OK;
    case '\f': LIT("\\f"); return SY_OK;
    case '\n': LIT("\\n"); return SY_OK;
    case '\r': LIT("\\r"); return SY_OK;
    case '\t': LIT("\\t"); return SY_OK;
    default:
        b[4] = hex[c >> 4];
        b[5] = hex[c & 15];
        OUT(b, 6);
        return SY_OK;
    }
}

sy_err_t sy_jcanon_str(const char *s, size_t n, sy_jcanon_sink sink, void *ud)
{
    sy_err_t rc;
    LIT("\"");
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (plain(c))
            continue;
        if (i > run)
            OUT(s + run, i - run);
        if ((rc = put_escaped(c, sink, ud)) != SY_OK)
            return rc;
        run = i + 1;
    }
    if (n > run)
        OUT(s + run, n - run);
    LIT("\"");
    return SY_OK;
}

/* The content s[0..n) of a JSON string (escapes and all), canonically. Runs
 * without escapes are written straight from the text. */
static sy_err_t put_raw_str(const char *s, size_t n, sy_jcanon_sink sink, void *ud)
{
    static const char hex[] = "0123456789abcdef";
    sy_err_t rc;
    str_it_t it = {s, 0, n};
    LIT("\"");
    while (it.i < n) {
        size_t start = it.i;
        while (it.i < n && plain((unsigned char)s[it.i]))
            it.i++;
        if (it.i > start)
            OUT(s + start, it.i - start);
        if (it.i >= n)
            break;
        unsigned char u[4];
        size_t ul;
        unsigned lone;
        str_next(&it, u, &ul, &lone);
        if (lone) {
            char b[6] = {'\\', 'u', hex[(lone >> 12) & 15], hex[(lone >> 8) & 15], hex[(lone >> 4) & 15],
                         hex[lone & 15]};
            OUT(b, 6);
        } else if (ul == 1 && !plain(u[0])) {
            if ((rc = put_escaped(u[0], sink, ud)) != SY_OK)
                return rc;
        } else {
            OUT((const char *)u, ul);
        }
    }
    LIT("\"");
    return SY_OK;
}

/* A byte-at-a-time view of a decoded string, for comparing keys. */
typedef struct byte_it {
    str_it_t it;
    unsigned char u[4];
    size_t ul, ui;
} byte_it_t;

static int byte_next(byte_it_t *b)
{
    if (b->ui >= b->ul) {
        unsigned lone;
        if (!str_next(&b->it, b->u, &b->ul, &lone))
            return -1;
        b->ui = 0;
    }
    return b->u[b->ui++];
}

/* Order of two member keys (escaped contents) by their decoded bytes. */
static int key_cmp(const sy_jval_t *a, const sy_jval_t *b)
{
    if (!memchr(a->p, '\\', a->len) && !memchr(b->p, '\\', b->len)) {
        size_t m = a->len < b->len ? a->len : b->len;
        int c = memcmp(a->p, b->p, m);
        if (c)
            return c;
        return a->len < b->len ? -1 : a->len > b->len;
    }
    byte_it_t x = {{a->p, 0, a->len}, {0}, 0, 0}, y = {{b->p, 0, b->len}, {0}, 0, 0};
    for (;;) {
        int cx = byte_next(&x), cy = byte_next(&y);
        if (cx != cy)
            return cx < cy ? -1 : 1;
        if (cx < 0)
            return 0;
    }
}

/* ---- numbers ------------------------------------------------------------ */

sy_err_t sy_jcanon_number(const char *s, size_t n, sy_jcanon_sink sink, void *ud)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-')
        neg = 1, i++;
    /* the mantissa's digits are s[i0..i1) and s[f0..f1) (the fraction) */
    size_t i0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t i1 = i, f0 = i, f1 = i;
    if (i < n && s[i] == '.') {
        f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        f1 = i;
    }
    int64_t exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i] == '-', i++;
        while (i < n && s[i] == '0')
            i++;
        if (n - i > 18) { /* beyond int64 arithmetic: spelled as it came */
            OUT(s, n);
            return SY_OK;
        }
        for (; i < n; i++)
            exp = exp * 10 + (s[i] - '0');
        if (eneg)
            exp = -exp;
    }
    /* first and last non-zero digit, counting int digits then fraction digits */
    size_t total = (i1 - i0) + (f1 - f0), first = total, last = 0;
    for (size_t k = 0; k < total; k++) {
        char c = k < i1 - i0 ? s[i0 + k] : s[f0 + (k - (i1 - i0))];
        if (c != '0') {
            if (first == total)
                first = k;
            last = k;
        }
    }
    if (first == total) {
        LIT("0");
        return SY_OK;
    }
    if (neg)
        LIT("-");
    size_t ni = i1 - i0;
    if (first < ni) /* digits from the integer part */
        OUT(s + i0 + first, (last < ni ? last + 1 : ni) - first);
    if (last >= ni) { /* digits from the fraction */
        size_t a = first > ni ? first - ni : 0;
        OUT(s + f0 + a, last - ni + 1 - a);
    }
    /* value = digits x 10^(exp - fraction digits + trailing zeros dropped) */
    int64_t e = exp - (int64_t)(f1 - f0) + (int64_t)(total - 1 - last);
    if (e != 0) {
        char b[24];
        int bl = 0;
        uint64_t m = e < 0 ? (uint64_t)0 - (uint64_t)e : (uint64_t)e;
        char t[21];
        int tl = 0;
        do {
            t[tl++] = (char)('0' + m % 10);
            m /= 10;
        } while (m);
        b[bl++] = 'e';
        if (e < 0)
            b[bl++] = '-';
        while (tl)
            b[bl++] = t[--tl];
        OUT(b, (size_t)bl);
    }
    return SY_OK;
}

/* ---- values ------------------------------------------------------------- */

typedef struct member {
    sy_jval_t key, val;
    size_t idx; /* position in the object: equal keys keep their order */
} member_t;

static int member_cmp(const void *pa, const void *pb)
{
    const member_t *a = pa, *b = pb;
    int c = key_cmp(&a->key, &b->key);
    if (c)
        return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Members sorted in place on the stack up to this many, malloc'd past it. */
#define STACK_MEMBERS 8

static sy_err_t put_value(const sy_jval_t *v, sy_jcanon_sink sink, void *ud);

static sy_err_t put_object(const sy_jval_t *v, sy_jcanon_skip skip, void *sud, sy_jcanon_sink sink, void *ud)
{
    member_t local[STACK_MEMBERS], *m = local;
    sy_jval_t k, x;
    size_t pos = 0, n = 0;
    sy_err_t rc = SY_OK;
    while (sy_json_next_member(v, &pos, &k, &x))
        if (!skip || !skip(sud, &k))
            n++;
    if (n > SY_JCANON_MAX_MEMBERS)
        return SY_ETOOLARGE;
    if (n > STACK_MEMBERS && !(m = malloc(n * sizeof(*m))))
        return SY_ENOMEM;
    pos = 0;
    for (size_t i = 0; i < n && sy_json_next_member(v, &pos, &k, &x);)
        if (!skip || !skip(sud, &k)) {
            m[i] = (member_t){k, x, i};
            i++;
        }
    qsort(m, n, sizeof(*m), member_cmp);
    if (sink(ud, "{", 1) != 0) {
        rc = SY_EINTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (i && sink(ud, ",", 1) != 0) {
            rc = SY_EINTERNAL;
            goto out;
        }
        if ((rc = put_raw_str(m[i].key.p, m[i].key.len, sink, ud)) != SY_OK)
            goto out;
        if (sink(ud, ":", 1) != 0) {
            rc = SY_EINTERNAL;
            goto out;
        }
        if ((rc = put_value(&m[i].val, sink, ud)) != SY_OK)
            goto out;
    }
    if (sink(ud, "}", 1) != 0)
        rc = SY_EINTERNAL;
out:
    if (m != local)
        free(m);
    return rc;
}

static sy_err_t put_value(const sy_jval_t *v, sy_jcanon_sink sink, void *ud)
{
    sy_err_t rc;
    size_t pos = 0, i = 0;
    sy_jval_t x;
    switch (v->type) {
    case SY_JNULL: LIT("null"); return SY_OK;
    case SY_JBOOL:
        if (v->p[0] == 't')
            LIT("true");
        else
            LIT("false");
        return SY_OK;
    case SY_JINT:
    case SY_JDOUBLE: return sy_jcanon_number(v->p, v->len, sink, ud);
    case SY_JSTRING: return put_raw_str(v->p + 1, v->len - 2, sink, ud);
    case SY_JARRAY:
        LIT("[");
        while (sy_json_next_element(v, &pos, &x)) {
            if (i++)
                LIT(",");
            if ((rc = put_value(&x, sink, ud)) != SY_OK)
                return rc;
        }
        LIT("]");
        return SY_OK;
    case SY_JOBJECT: return put_object(v, NULL, NULL, sink, ud);
    }
    return SY_EINTERNAL;
}

sy_err_t sy_jcanon_write(const sy_jval_t *v, sy_jcanon_sink sink, void *ud)
{
    if (!v->p) {
        LIT("null");
        return SY_OK;
    }
    return put_value(v, sink, ud);
}

sy_err_t sy_jcanon_write_except(const sy_jval_t *v, sy_jcanon_skip skip, void *sud, sy_jcanon_sink sink, void *ud)
{
    if (v->p && v->type == SY_JOBJECT)
        return put_object(v, skip, sud, sink, ud);
    return sy_jcanon_write(v, sink, ud);
}

/* ---- into a buffer ------------------------------------------------------ */

typedef struct buf_sink {
    char *p;
    size_t len, cap;
} buf_sink_t;

static int to_buf(void *ud, const char *p, size_t n)
{
    buf_sink_t *b = ud;
    if (n >= b->cap - b->len)
        return -1;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

long sy_jcanon_to_buf(const sy_jval_t *v, char *buf, size_t cap)
{
    buf_sink_t b = {buf, 0, cap};
    if (cap == 0)
        return -1;
    buf[0] = '\0';
    if (sy_jcanon_write(v, to_buf, &b) != SY_OK)
        return -1;
    buf[b.len] = '\0';
    return (long)b.len;
}
