/*
 * sse.c - incremental Server-Sent Events splitter (see sse.h).
 *
 * The common case - the parser holds nothing and the read ends on an event
 * boundary - is zero-copy: events are reported straight from the caller's
 * bytes. Only the tail of an unfinished event is copied and kept.
 */
#include "upstream/sse.h"

#include <stdlib.h>
#include <string.h>

#define SSE_DEFAULT_MAX (1u << 20)

void sy_sse_init(sy_sse_t *p, size_t max_event)
{
    memset(p, 0, sizeof(*p));
    p->max_event = max_event ? max_event : SSE_DEFAULT_MAX;
}

void sy_sse_release(sy_sse_t *p)
{
    free(p->buf);
    free(p->scratch);
    memset(p, 0, sizeof(*p));
}

/* Find the end of the line starting at s[i]: returns the index of the
 * terminator and sets *next to the first byte after it, or returns -1 when
 * the line is not complete yet (a trailing \r may still be followed by \n:
 * an event ended by a bare \r is delivered when the next byte arrives, or
 * by the caller at the end of the stream - it keeps relayed bytes exact). */
static long line_end(const char *s, size_t n, size_t i, size_t *next)
{
    for (size_t j = i; j < n; j++) {
        if (s[j] == '\n') {
            *next = j + 1;
            return (long)j;
        }
        if (s[j] == '\r') {
            if (j + 1 == n)
                return -1;
            *next = (s[j + 1] == '\n') ? j + 2 : j + 1;
            return (long)j;
        }
    }
    return -1;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap *= 2;
    char *nb = realloc(*buf, ncap);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* Decode the fields of one complete event s[0..n) and call cb. */
static int emit(sy_sse_t *p, const char *s, size_t n, sy_sse_cb cb, void *ud)
{
    sy_sse_event_t ev = {.raw = s, .raw_len = n};
    size_t i = 0, next = 0, ndata = 0, nother = 0;
    const char *first = NULL;
    size_t first_len = 0, joined = 0;

    while (i < n) {
        long e = line_end(s, n, i, &next);
        if (e < 0) /* the event is complete: a last '\r' ends its line */
            e = (long)(s[n - 1] == '\r' ? n - 1 : n), next = n;
        size_t ll = (size_t)e - i;
        const char *line = s + i;
        i = next;
        if (ll == 0)
            break; /* the blank line that ends the event */
        if (line[0] == ':')
            continue;
        nother++;
        const char *colon = memchr(line, ':', ll);
        size_t flen = colon ? (size_t)(colon - line) : ll;
        const char *val = colon ? colon + 1 : line + ll;
        size_t vlen = ll - (size_t)(val - line);
        if (vlen && *val == ' ')
            val++, vlen--;
        if (flen == 4 && memcmp(line, "data", 4) == 0) {
            if (ndata == 0) {
                first = val, first_len = vlen;
            } else {
                if (ndata == 1) {
                    if (grow(&p->scratch, &p->scratch_cap, first_len + 1))
                        return SY_ENOMEM;
                    memcpy(p->scratch, first, first_len);
                    joined = first_len;
                }
                if (grow(&p->scratch, &p->scratch_cap, joined + 1 + vlen + 1))
                    return SY_ENOMEM;
                p->scratch[joined++] = '\n';
                memcpy(p->scratch + joined, val, vlen);
                joined += vlen;
            }
            ndata++;
        } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
            ev.event = val, ev.event_len = vlen;
        }
    }
    if (ndata == 1)
        ev.data = first, ev.data_len = first_len;
    else if (ndata > 1)
        ev.data = p->scratch, ev.data_len = joined;
    ev.is_comment = (nother == 0);
    return cb(ud, &ev);
}

/* Split s[0..n) into events; returns the offset of the first byte of the
 * unfinished tail in *consumed. */
static int split(sy_sse_t *p, const char *s, size_t n, size_t *consumed, sy_sse_cb cb, void *ud)
{
    size_t ev_start = 0, i = 0, next;
    *consumed = 0;
    while (i < n) {
        long e = line_end(s, n, i, &next);
        if (e < 0)
            break;
        if ((size_t)e == i) { /* blank line: event complete */
            if (i > ev_start) { /* a stray blank line is not an event */
                if (next - ev_start > p->max_event) {
                    *consumed = next;
                    return SY_ETOOLARGE;
                }
                int rc = emit(p, s + ev_start, next - ev_start, cb, ud);
                if (rc) {
                    *consumed = next;
                    return rc;
                }
            }
            ev_start = next;
        }
        i = next;
    }
    *consumed = ev_start;
    return 0;
}

int sy_sse_feed(sy_sse_t *p, const char *data, size_t len, sy_sse_cb cb, void *ud)
{
    size_t used;
    int rc;

    if (p->len == 0) {
        rc = split(p, data, len, &used, cb, ud);
        if (rc)
            return rc;
        data += used, len -= used;
    } else {
        if (grow(&p->buf, &p->cap, p->len + len))
            return SY_ENOMEM;
        memcpy(p->buf + p->len, data, len);
        p->len += len;
        rc = split(p, p->buf, p->len, &used, cb, ud);
        memmove(p->buf, p->buf + used, p->len - used);
        p->len -= used;
        if (rc)
            return rc;
        len = 0;
    }
    if (len) { /* keep the unfinished tail */
        if (grow(&p->buf, &p->cap, len))
            return SY_ENOMEM;
        memcpy(p->buf, data, len);
        p->len = len;
    }
    if (p->len > p->max_event)
        return SY_ETOOLARGE;
    return 0;
}
