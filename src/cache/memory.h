/*
 * memory.h - the memory tier of the exact cache: a bounded, sharded,
 * thread-safe map from a 32-byte SHA-256 key to an immutable byte blob.
 *
 * The key is the cache key of issue 4 (already a uniform hash), so its bytes
 * choose the shard (bytes 0-7) and the bucket (bytes 8-15); nothing is hashed
 * again. Each shard is a mutex, a chained hash table and an LRU list, and owns
 * an equal share (max_bytes / shards) of the byte bound; a put evicts from its
 * shard's cold end until the new entry fits. Every entry is charged its value
 * bytes plus a fixed overhead (entry, value header, table slot, allocator
 * headers: see sy_memcache_charge), so the bound is on memory, not payload.
 *
 * Values are reference counted (h2o's lib/common/cache.c is the model): the
 * table holds one reference, sy_memcache_get hands the caller another, and a
 * value evicted, expired, deleted or replaced while a reader holds it stays
 * valid until that reader calls sy_cache_val_release. So a worker can stream
 * a cached answer at the client's pace without holding any lock.
 *
 * Time is passed in (monotonic nanoseconds, sy_now_ns at the edge); the
 * module never reads a clock. An entry stored at t with ttl_ns d is fresh for
 * t <= now < t + d and expired from now == t + d on. Expired entries are
 * dropped when a get meets them (counted as a miss and as expired), when
 * eviction reaches them, and by sy_memcache_sweep, which a timer calls to
 * purge them a bounded amount of work at a time.
 *
 * Threads: every function may be called from any thread at the same time,
 * except sy_memcache_free. Each call takes one shard mutex for a bounded time
 * (a put may rehash its shard's table: O(entries in that shard), amortised).
 */
#ifndef SY_CACHE_MEMORY_H
#define SY_CACHE_MEMORY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define SY_MEMCACHE_KEY_LEN 32
/* Shards used when the caller passes 0, and the most accepted. */
#define SY_MEMCACHE_DEFAULT_SHARDS 16
#define SY_MEMCACHE_MAX_SHARDS 256

typedef struct sy_memcache sy_memcache_t;

/*
 * A stored value: read data[0..len) and expire_ns; never write. expire_ns is
 * the monotonic time at which the entry expired or will expire (0 = no TTL),
 * so a caller promoting the value to another tier can give it the remaining
 * TTL. The refs member is private.
 */
typedef struct sy_cache_val {
    atomic_size_t sy__refs;
    uint64_t expire_ns;
    size_t len;
    unsigned char data[];
} sy_cache_val_t;

/* Totals over all shards, each shard read under its own lock (so the totals
 * are a consistent sum of per-shard snapshots, not one global instant). */
typedef struct sy_memcache_stats {
    uint64_t max_bytes; /* the configured bound */
    uint64_t entries;   /* entries stored now (expired ones not yet purged included) */
    uint64_t bytes;     /* bytes charged now (sy_memcache_charge summed over entries) */
    uint64_t hits;      /* gets that returned a value */
    uint64_t misses;    /* gets that returned NULL (absent or expired) */
    uint64_t expired;   /* entries dropped because their TTL had passed (get, put, sweep) */
    uint64_t evictions; /* fresh entries dropped to make room (LRU) */
    uint64_t refusals;  /* puts refused: the value could never fit in a shard */
    uint64_t puts;      /* puts stored (replacements included) */
    uint64_t deletes;   /* entries removed by sy_memcache_delete */
} sy_memcache_stats_t;

/* A cache bounded to max_bytes in total, split over `shards` shards (0 = 16;
 * at most 256). Returns NULL when max_bytes cannot hold one empty-valued entry
 * per shard, when shards is too large, or when memory runs out. The caller
 * owns the cache and frees it with sy_memcache_free. */
sy_memcache_t *sy_memcache_new(size_t max_bytes, unsigned shards);

/* Free the cache and drop its references to every value; values that readers
 * still hold stay valid until released. NULL is a no-op. No other thread may
 * be using the cache. */
void sy_memcache_free(sy_memcache_t *c);

/* The bytes charged for an entry whose value is len bytes long: len plus a
 * fixed overhead. A value with charge > max_bytes / shards is refused. */
size_t sy_memcache_charge(size_t len);

/* Look key up at time now_ns. Returns the value with a reference the caller
 * owns (release it with sy_cache_val_release, on any thread), or NULL on a
 * miss. A hit moves the entry to the hot end of its shard's LRU list. An
 * expired entry is removed and the call is a miss. */
const sy_cache_val_t *sy_memcache_get(sy_memcache_t *c,
                                      const unsigned char key[SY_MEMCACHE_KEY_LEN],
                                      uint64_t now_ns);

/* Store a copy of bytes[0..len) under key, expiring at now_ns + ttl_ns
 * (ttl_ns 0 = no TTL; the entry leaves only by eviction, replacement or
 * delete). An existing entry for key is replaced; readers holding the old
 * value keep it. Evicts least-recently-used entries of the shard until the
 * new one fits. The data is copied before the shard lock is taken.
 * Returns SY_OK; SY_ETOOLARGE (counted as a refusal, nothing changed, an
 * existing entry kept) when sy_memcache_charge(len) exceeds the shard's
 * share; SY_ENOMEM when allocation fails (nothing changed). */
sy_err_t sy_memcache_put(sy_memcache_t *c, const unsigned char key[SY_MEMCACHE_KEY_LEN],
                         const void *bytes, size_t len, uint64_t ttl_ns, uint64_t now_ns);

/* Remove key's entry. Returns 1 when an entry was removed, 0 when there was
 * none. Readers holding its value keep it. */
int sy_memcache_delete(sy_memcache_t *c, const unsigned char key[SY_MEMCACHE_KEY_LEN]);

/* Purge expired entries at time now_ns, spending about max_work steps (0 =
 * 1024; a bucket is a step, each entry examined is one, and a started chain
 * is finished, so it overshoots by a chain at most), resuming where the
 * previous call stopped, shard after shard, so repeated calls cover the whole
 * cache. A shard lock is held only for the steps spent in that shard.
 * Returns the number of entries purged (counted as expired). Meant for a
 * timer: a full pass costs about (buckets + entries) steps. */
size_t sy_memcache_sweep(sy_memcache_t *c, uint64_t now_ns, size_t max_work);

/* Fill *st with totals over all shards. */
void sy_memcache_stats(sy_memcache_t *c, sy_memcache_stats_t *st);

/* Take another reference to v (to hand it to another thread, say). Returns v. */
const sy_cache_val_t *sy_cache_val_retain(const sy_cache_val_t *v);
/* Drop a reference; the last one frees the value. NULL is a no-op. */
void sy_cache_val_release(const sy_cache_val_t *v);

#endif
