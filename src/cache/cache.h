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

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cache/memory.h"
#include "config/config.h"
#include "core/err.h"

struct event_base;
struct event;
struct evbuffer;
struct sy_sqlcache;
struct sy_redis_shared;
struct sy_redis;
struct sy_semindex;

/* A Redis value: the expiry (unix ms, little-endian, 0 = none) then the entry. */
#define SY_CACHE_REDIS_HEAD 8
/* "switchyard:c:<v>:<64 hex>" and a NUL */
#define SY_CACHE_REDIS_KEY_MAX 96

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
    struct sy_sqlcache *sql;          /* NULL when cache.sqlite.path is unset */
    struct sy_redis_shared *rshared;  /* NULL when cache.redis.url is unset */
    struct sy_redis **redis;          /* one client per worker, made on first use on its thread */
    unsigned n_redis;
    struct sy_semindex *sem;          /* NULL until made: read it with sy_cache_sem */
    size_t sem_dims;                  /* its vectors' dimension (set before sem) */
    size_t sem_max;                   /* its bound on entries; 0 = no model is semantic */
    int sem_builtin;                  /* the embedder is the built-in one (else a model) */
    pthread_mutex_t sem_mu;
    struct sy_redis_sub *sub;         /* the nodes' "call done" messages (cross-node dedup) */
    /* Called on the subscriber's loop for each "call done" message: key,
     * and whether the call ended well. Set before start. */
    void (*on_remote_done)(void *ud, const unsigned char key[32], int ok);
    void *remote_ud;

    /* what the request path did */
    atomic_uint_fast64_t lookups;        /* lookups made (not bypassed) */
    atomic_uint_fast64_t hits[SY_TIER_N]; /* answered by each tier */
    atomic_uint_fast64_t tier_misses[SY_TIER_N];
    atomic_uint_fast64_t misses;         /* no tier had it */
    atomic_uint_fast64_t semantic_hits;  /* of the hits: found through a similar request */
    atomic_uint_fast64_t embeds;         /* embedding model calls that gave a vector */
    atomic_uint_fast64_t embed_errors;   /* ... that did not (the request went on as an exact miss) */
    atomic_uint_fast64_t bypasses;       /* no lookup: Cache-Control: no-cache, or the model does not cache */
    atomic_uint_fast64_t stores;         /* answers written */
    atomic_uint_fast64_t no_stores;      /* answers not written: Cache-Control: no-store */
    atomic_uint_fast64_t not_cacheable;  /* answers not written: an error, a cut stream, a bad entry */
    atomic_uint_fast64_t bad_entries;    /* stored entries that did not read back (treated as misses) */
} sy_cache_t;

/* Whether any model caches. */
int sy_cache_wanted(const sy_config_t *cfg);

/* The tiers the config names, for nworkers workers (each gets its own Redis
 * client). Opens the SQLite file and reloads its semantic vectors (start-up
 * only: blocks). NULL with *err set when a tier cannot be made. */
sy_cache_t *sy_cache_new(const sy_config_t *cfg, unsigned nworkers, sy_error_t *err);
void sy_cache_free(sy_cache_t *c);

/* Start the background work on base (a worker's loop; its thread runs it):
 * the expiry sweeps and, with Redis, the subscriber to the nodes' "call
 * done" messages. Returns 0, or -1 out of memory. Stop after the workers
 * stopped and before their loops go: it also frees the workers' Redis
 * clients. */
int sy_cache_start(sy_cache_t *c, struct event_base *base);
void sy_cache_stop(sy_cache_t *c);

/* The semantic index for vectors of dims floats: made at the first call
 * (an embedding model's dimension is known from its first answer). NULL
 * when no model is semantic, when dims differs from the index's, or out of
 * memory; dims 0 only reads what exists. Any thread. */
struct sy_semindex *sy_cache_sem(sy_cache_t *c, size_t dims);

/* Worker `worker`'s Redis client, made on base at the first call (that
 * worker's thread only). NULL when there is no Redis tier. */
struct sy_redis *sy_cache_redis(sy_cache_t *c, unsigned worker, struct event_base *base);

/* key's name in Redis, NUL-terminated, into out. Returns its length. kind
 * is 'c' for a cached answer, 'l' for a cross-node dedup lock, 'r' for a
 * shared call's result. */
size_t sy_cache_redis_key(const unsigned char key[32], char kind, char out[SY_CACHE_REDIS_KEY_MAX]);

/* The channel the nodes announce finished shared calls on: the message is
 * the key in hex, with a "!" after it when the call failed. */
#define SY_CACHE_DONE_CHANNEL "switchyard:done:1"

/* Write entry[0..len) under key to the tiers below memory (Redis through
 * worker's client, SQLite through its writer), expiring ttl_ns from now (0 =
 * never). Fire and forget: a failure is counted by the tier, never
 * reported. The worker's thread. */
void sy_cache_store_lower(sy_cache_t *c, unsigned worker, struct event_base *base, const unsigned char key[32],
                          const void *entry, size_t len, uint64_t ttl_ns);

/* The same for Redis alone (promoting an answer found in SQLite). */
void sy_cache_store_redis(sy_cache_t *c, unsigned worker, struct event_base *base, const unsigned char key[32],
                          const void *entry, size_t len, uint64_t ttl_ns);

/* Append the cache's metric families in the Prometheus text format. */
void sy_cache_metrics_text(sy_cache_t *c, struct evbuffer *out);

/* Append the stats object ({"lookups":..,"hit_rate":..,"tiers":{..}}) to out. */
void sy_cache_stats_json(sy_cache_t *c, struct evbuffer *out);

#endif
