/*
 * jsonw.c - JSON text writers over evbuffer (see jsonw.h).
 */
#include "core/jsonw.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sy_jw_raw(struct evbuffer *b, const char *s, size_t n)
{
    if (n)
        evbuffer_add(b, s, n);
}

void sy_jw_escaped(struct evbuffer *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of the bytes not written yet */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t el;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        switch (c) {
        case '"':
        case '\\':
            esc[0] = '\\', esc[1] = (char)c, el = 2;
            break;
        case '\n':
            esc[0] = '\\', esc[1] = 'n', el = 2;
            break;
        case '\r':
            esc[0] = '\\', esc[1] = 'r', el = 2;
            break;
        case '\t':
            esc[0] = '\\', esc[1] = 't', el = 2;
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15], el = 6;
            break;
        }
        if (i > run)
            evbuffer_add(b, s + run, i - run);
        evbuffer_add(b, esc, el);
        run = i + 1;
    }
    if (n > run)
        evbuffer_add(b, s + run, n - run);
}

void sy_jw_str(struct evbuffer *b, const char *s, size_t n)
{
    evbuffer_add(b, "\"", 1);
    if (s)
        sy_jw_escaped(b, s, n);
    evbuffer_add(b, "\"", 1);
}

void sy_jw_cstr(struct evbuffer *b, const char *s)
{
    if (!s)
        SY_JW_LIT(b, "null");
    else
        sy_jw_str(b, s, strlen(s));
}

void sy_jw_int(struct evbuffer *b, int64_t v)
{
    char buf[24];
    size_t i = sizeof buf;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[--i] = '-';
    evbuffer_add(b, buf + i, sizeof buf - i);
}

void sy_jw_double(struct evbuffer *b, double v)
{
    char buf[32];
    if (!isfinite(v)) {
        SY_JW_LIT(b, "null");
        return;
    }
    /* the shortest precision that reads back exactly */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    evbuffer_add(b, buf, strlen(buf));
}

void sy_jw_key(struct evbuffer *b, int *first, const char *key)
{
    if (!*first)
        evbuffer_add(b, ",", 1);
    *first = 0;
    sy_jw_cstr(b, key);
    evbuffer_add(b, ":", 1);
}
