/*
 * jsonscan.c - locate a top-level member's value (see jsonscan.h).
 */
#include "core/jsonscan.h"

#include <string.h>

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] is '"': return the index after the closing quote, or 0 on error. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Skip one value starting at s[i]; return the index after it, or 0. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    if (s[i] == '"')
        return skip_string(s, n, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (; i < n; i++) {
            char c = s[i];
            if (c == '"') {
                size_t j = skip_string(s, n, i);
                if (!j)
                    return 0;
                i = j - 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return 0;
    }
    /* number, true, false, null */
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
           s[i] != '\r' && s[i] != '\t')
        i++;
    return i;
}

int sy_jsonscan_top(const char *s, size_t n, const char *key, size_t *vstart, size_t *vend)
{
    size_t klen = strlen(key), i = skip_ws(s, n, 0);
    int found = -1;
    if (i >= n || s[i] != '{')
        return -1;
    i = skip_ws(s, n, i + 1);
    if (i < n && s[i] == '}')
        return -1;
    while (i < n) {
        if (s[i] != '"')
            return -1;
        size_t kend = skip_string(s, n, i);
        if (!kend)
            return -1;
        int match = (kend - i - 2 == klen && memcmp(s + i + 1, key, klen) == 0);
        i = skip_ws(s, n, kend);
        if (i >= n || s[i] != ':')
            return -1;
        i = skip_ws(s, n, i + 1);
        size_t vs = i, ve = skip_value(s, n, i);
        if (!ve)
            return -1;
        if (match) {
            *vstart = vs, *vend = ve;
            found = 0;
        }
        i = skip_ws(s, n, ve);
        if (i < n && s[i] == ',') {
            i = skip_ws(s, n, i + 1);
            continue;
        }
        if (i < n && s[i] == '}')
            return found;
        return -1;
    }
    return -1;
}
