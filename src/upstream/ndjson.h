/*
 * ndjson.h - incremental newline-delimited JSON splitter (Ollama's streams).
 *
 * Pieces of a stream arrive split anywhere; the splitter hands back each
 * complete line (without its \n or \r\n), skips blank lines, and keeps the
 * bytes of an unfinished line up to a maximum line size.
 */
#ifndef SY_UPSTREAM_NDJSON_H
#define SY_UPSTREAM_NDJSON_H

#include <stddef.h>

/* Return 0 to continue, non-zero to stop (sy_ndjson_feed returns it). */
typedef int (*sy_ndjson_cb)(void *ud, const char *line, size_t len);

typedef struct sy_ndjson {
    char *buf; /* bytes of the unfinished line */
    size_t len, cap;
    size_t max_line;
} sy_ndjson_t;

/* Initialise with a maximum line size in bytes (0 = 1 MiB). */
void sy_ndjson_init(sy_ndjson_t *p, size_t max_line);
void sy_ndjson_release(sy_ndjson_t *p);
/* Feed len bytes; cb once per complete non-blank line. Returns 0, the
 * callback's non-zero value, SY_ETOOLARGE past the maximum, SY_ENOMEM. */
int sy_ndjson_feed(sy_ndjson_t *p, const char *data, size_t len, sy_ndjson_cb cb, void *ud);
/* End of input: a last line without its newline is handed to cb. Returns
 * as sy_ndjson_feed. */
int sy_ndjson_finish(sy_ndjson_t *p, sy_ndjson_cb cb, void *ud);

#endif
