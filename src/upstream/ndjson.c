/*
 * ndjson.c - newline-delimited JSON splitter (see ndjson.h).
 *
 * Complete lines inside one piece are handed out straight from the piece;
 * only the unfinished tail is copied, so a read holding many lines costs no
 * copy at all.
 */
#include "upstream/ndjson.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void sy_ndjson_init(sy_ndjson_t *p, size_t max_line)
{
    p->buf = NULL;
    p->len = p->cap = 0;
    p->max_line = max_line ? max_line : (1u << 20);
}

void sy_ndjson_release(sy_ndjson_t *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}

static int keep(sy_ndjson_t *p, const char *data, size_t len)
{
    if (p->len + len > p->max_line)
        return SY_ETOOLARGE;
    if (p->len + len > p->cap) {
        size_t nc = p->cap ? p->cap : 256;
        while (nc < p->len + len)
            nc *= 2;
        char *nb = realloc(p->buf, nc);
        if (!nb)
            return SY_ENOMEM;
        p->buf = nb;
        p->cap = nc;
    }
    memcpy(p->buf + p->len, data, len);
    p->len += len;
    return 0;
}

/* Hand out one line without its line ending; blank lines are skipped. */
static int line(const char *s, size_t n, sy_ndjson_cb cb, void *ud)
{
    if (n && s[n - 1] == '\r')
        n--;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i == n)
        return 0;
    return cb(ud, s, n);
}

int sy_ndjson_feed(sy_ndjson_t *p, const char *data, size_t len, sy_ndjson_cb cb, void *ud)
{
    int rc;
    while (len) {
        const char *nl = memchr(data, '\n', len);
        if (!nl)
            return keep(p, data, len);
        size_t n = (size_t)(nl - data);
        if (p->len) {
            if ((rc = keep(p, data, n)))
                return rc;
            size_t total = p->len;
            p->len = 0; /* the callback may not feed again: the buffer is safe to hand out */
            rc = line(p->buf, total, cb, ud);
            if (rc)
                return rc;
        } else {
            if (n > p->max_line)
                return SY_ETOOLARGE;
            if ((rc = line(data, n, cb, ud)))
                return rc;
        }
        data = nl + 1;
        len -= n + 1;
    }
    return 0;
}

int sy_ndjson_finish(sy_ndjson_t *p, sy_ndjson_cb cb, void *ud)
{
    if (!p->len)
        return 0;
    size_t n = p->len;
    p->len = 0;
    return line(p->buf, n, cb, ud);
}
