/*
 * entry.h - a cached answer as bytes: the canonical response (sy_cresp_t)
 * written as one JSON object, and read back.
 *
 * Every tier stores the same bytes (memory now; Redis and SQLite later), so
 * an answer cached for one client protocol is replayed to any other: the
 * entry holds the canonical answer, never a protocol's wire format. JSON
 * keeps an entry readable in redis-cli or sqlite3 when something needs
 * explaining. The entry is versioned ("v"): a reader meeting another
 * version treats the entry as absent (a miss), never as an error.
 *
 *   {"v":1,"id":"...","text":"...","thinking":"...",
 *    "calls":[{"id":"...","name":"...","args":"..."}],
 *    "finish":"stop"|"length"|"tool_calls"|"content_filter",
 *    "stop_sequence":"...",
 *    "usage":{"input":N,"output":N,"cache_read":N,"cache_write":N}}
 *
 * Absent strings are written as "" and unknown counts as -1. Durations are
 * measurements of one call, not part of the answer, and are not kept.
 *
 * Reading is a parser of bytes that come back from outside the process
 * (Redis, a SQLite file): it validates strictly and bounds what it builds.
 * Any thread.
 */
#ifndef SY_CACHE_ENTRY_H
#define SY_CACHE_ENTRY_H

#include <stddef.h>

#include "core/canon.h"

struct evbuffer;

#define SY_CACHE_ENTRY_VERSION 1

/* Append the entry for c to out. Returns 0, or -1 when out of memory. */
int sy_cache_entry_write(const sy_cresp_t *c, struct evbuffer *out);

/*
 * Read an entry into c (sy_cresp_init'ed by the caller with its bound;
 * sy_cresp_release it afterwards in every case). Returns 0; 1 when the
 * entry is of another version (a miss); -1 when it is not a valid entry
 * (malformed, wrong types, past c's bound).
 */
int sy_cache_entry_read(const char *data, size_t len, sy_cresp_t *c);

#endif
