/*
 * sse.h - incremental Server-Sent Events splitter.
 *
 * Upstream streams arrive in arbitrary pieces: an event may be split across
 * reads, a read may hold many events, lines may end in \n, \r\n or \r. The
 * parser hands back each complete event with its raw bytes (so a passthrough
 * relay forwards exactly what the upstream sent, whole events only, never a
 * fragment) and its decoded "event" and "data" fields. The bytes of an
 * unfinished event are kept, up to a maximum event size.
 */
#ifndef SY_UPSTREAM_SSE_H
#define SY_UPSTREAM_SSE_H

#include <stddef.h>

#include "core/err.h"

typedef struct sy_sse_event {
    const char *raw; /* the whole event as received, blank line included */
    size_t raw_len;
    const char *event; /* value of "event:" (NULL if none) */
    size_t event_len;
    const char *data; /* data lines joined with '\n' (NULL if no data line) */
    size_t data_len;
    int is_comment; /* only comment lines (": keep-alive") */
} sy_sse_event_t;

/* Return 0 to continue, non-zero to stop feeding (sy_sse_feed returns it). */
typedef int (*sy_sse_cb)(void *ud, const sy_sse_event_t *ev);

typedef struct sy_sse {
    char *buf; /* bytes of the unfinished event */
    size_t len, cap;
    char *scratch; /* joined multi-line data */
    size_t scratch_cap;
    size_t max_event; /* largest event accepted */
} sy_sse_t;

/* Initialise with a maximum event size in bytes (0 = 1 MiB). */
void sy_sse_init(sy_sse_t *p, size_t max_event);
void sy_sse_release(sy_sse_t *p);

/*
 * Feed len bytes; cb is called once per complete event, in order, before
 * sy_sse_feed returns. Returns 0 when all input was consumed, the callback's
 * non-zero value if it stopped early, SY_ETOOLARGE if an event outgrew the
 * maximum, SY_ENOMEM on allocation failure.
 */
int sy_sse_feed(sy_sse_t *p, const char *data, size_t len, sy_sse_cb cb, void *ud);

/* Bytes held of an unfinished event (non-zero at end of stream = truncated). */
static inline size_t sy_sse_pending(const sy_sse_t *p)
{
    return p->len;
}

#endif
