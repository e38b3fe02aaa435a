/*
 * cache.h - the answer cache as the request path sees it: the tiers
 * together, their counters, and the background work that keeps them within
 * their bounds.
 *
 * Tiers, looked up in this order with promotion on a hit:
 *   memory  src/cache/memory.h, in this process (cache.memory.max_bytes)
 *   Redis   shared by every node (cache.redis.url)             [later]
 *   SQLite  survives restarts (cache.sqlite.path)              [later]
 * All store the same bytes (src/cache/entry.h) under the same key
 * (src/cache/key.h). A model uses the cache only when its cache.mode says
 * so; the cache exists when some model does.
 *
 * The counters are atomics any thread bumps; sy_cache_stats_json writes
 * them with each tier's own for GET /api/stats. Any thread, except new,
 * free, start and stop (the main thread, around the workers' lives).
 */
#ifndef SY_CACHE_CACHE_H
#define SY_CACHE_CACHE_H

#include <stdatomic.h>
#include <stdint.h>

#include "cache/memory.h"
#include "config/config.h"
#include "core/err.h"

struct event_base;
struct event;
struct evbuffer;

/* Where a lookup was answered. */
typedef enum sy_cache_tier {
    SY_TIER_MEMORY = 0,
    SY_TIER_REDIS,
    SY_TIER_SQLITE,
    SY_TIER_N,
} sy_cache_tier_t;

const char *sy_cache_tier_name(sy_cache_tier_t t);

typedef struct sy_cache {
    const sy_config_t *cfg;
    sy_memcache_t *mem; /* NULL when cache.memory.max_bytes is 0 */
    struct event *sweep; /* the memory tier's expiry sweep (on the base given to start) */

    /* what the request path did */
    atomic_uint_fast64_t lookups;        /* lookups made (not bypassed) */
    atomic_uint_fast64_t hits[SY_TIER_N]; /* answered by each tier */
    atomic_uint_fast64_t tier_misses[SY_TIER_N];
    atomic_uint_fast64_t misses;         /* no tier had it */
    atomic_uint_fast64_t bypasses;       /* no lookup: Cache-Control: no-cache, or the model does not cache */
    atomic_uint_fast64_t stores;         /* answers written */
    atomic_uint_fast64_t no_stores;      /* answers not written: Cache-Control: no-store */
    atomic_uint_fast64_t not_cacheable;  /* answers not written: an error, a cut stream, a bad entry */
    atomic_uint_fast64_t bad_entries;    /* stored entries that did not read back (treated as misses) */
} sy_cache_t;

/* Whether any model caches. */
int sy_cache_wanted(const sy_config_t *cfg);

/* The tiers the config names. NULL with *err set when one cannot be made. */
sy_cache_t *sy_cache_new(const sy_config_t *cfg, sy_error_t *err);
void sy_cache_free(sy_cache_t *c);

/* Start the background work on base (a worker's loop; its thread runs it).
 * Returns 0, or -1 out of memory. Stop before that loop goes. */
int sy_cache_start(sy_cache_t *c, struct event_base *base);
void sy_cache_stop(sy_cache_t *c);

/* Append the cache's metric families in the Prometheus text format. */
void sy_cache_metrics_text(sy_cache_t *c, struct evbuffer *out);

/* Append the stats object ({"lookups":..,"hit_rate":..,"tiers":{..}}) to out. */
void sy_cache_stats_json(sy_cache_t *c, struct evbuffer *out);

#endif
