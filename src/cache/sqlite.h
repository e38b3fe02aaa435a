/*
 * sqlite.h - the SQLite tier of the exact cache: answers (and the semantic
 * cache's vectors) kept in one SQLite file, so they survive a restart.
 *
 * The tier sits behind the memory and Redis tiers: a get that misses them
 * asks this one, a fill writes it behind the response. It stores the same
 * bytes as the other tiers (cache/entry.h) under the same 32-byte key
 * (cache/key.h), each row with an absolute expiry in unix milliseconds
 * (0 = none).
 *
 * Nothing here runs SQLite on the caller's thread (except open, close,
 * flush, cleanup and load_vecs, which are for startup, shutdown and tests):
 *
 *   - Writes (put, delete, put_vec) copy their bytes into a bounded queue and
 *     return at once. One writer thread takes them in batches (one
 *     transaction per batch) on its own connection. A full queue drops the
 *     write and counts it; the cache is then only colder.
 *   - Gets go into a bounded queue too and are answered by the tier's reader
 *     threads, each with its own connection (WAL lets them read while the
 *     writer writes). The callback runs on the reader thread; the caller
 *     hands the result back to its event loop (event_active or the like). A
 *     full queue fails the get at once (counted); the callback is then never
 *     called.
 *
 * Bound and eviction. Every row is charged its payload plus a fixed
 * overhead (SY_SQLCACHE_ROW_OVERHEAD, for the key, the other columns, the
 * indexes and B-tree slack): an entry len bytes, a vector row
 * 4 * dims + feat_len bytes. The total (kept exact by triggers in the file
 * itself) never exceeds max_bytes at a commit: the writer evicts the least
 * recently used entries, by a use counter each put sets and each hit bumps
 * (hits are recorded by the readers and applied by the writer in its next
 * batch, so recency is approximate to a batch, and a hit never writes on
 * the reader's thread). Evicting or expiring an entry deletes its vectors.
 *
 * Expiry. A row stored with expire_ms e is fresh for now_ms < e and expired
 * from now_ms == e on (the memory tier's rule). A get never returns an
 * expired row; the writer deletes expired rows in the background every
 * cleanup period (wall clock), and sy_sqlcache_cleanup does a pass now
 * with the caller's clock.
 *
 * The file: WAL, synchronous=NORMAL (a crash may lose the last commits, never
 * corrupt the file: acceptable for a cache), busy_timeout 5 s, schema
 * versioned by PRAGMA user_version (SY_SQLCACHE_SCHEMA_VERSION) and marked
 * by PRAGMA application_id, so a file of another program or a newer schema
 * is refused at open with a message naming the path, not written over.
 * docs/cache.md ("The SQLite tier") has the schema.
 *
 * Threads: put, put_vec, delete, get and stats may be called from any
 * thread at the same time and never block on SQLite (each takes a mutex for
 * a queue operation). open, close, flush, cleanup and load_vecs block and
 * belong on a thread that may block (startup, shutdown, tests), never on an
 * event loop. close must not race any other call on the same cache.
 */
#ifndef SY_CACHE_SQLITE_H
#define SY_CACHE_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "cache/memory.h"
#include "core/err.h"

#define SY_SQLCACHE_KEY_LEN 32
/* The schema this code reads and writes (PRAGMA user_version). */
#define SY_SQLCACHE_SCHEMA_VERSION 1
/* Bytes charged per row on top of its payload. */
#define SY_SQLCACHE_ROW_OVERHEAD 256
/* The largest guard-feature blob a vector row may carry. */
#define SY_SQLCACHE_MAX_FEAT 1024
/* cleanup_ms value that turns the background cleanup off (tests). */
#define SY_SQLCACHE_NO_TIMER UINT64_MAX

typedef struct sy_sqlcache sy_sqlcache_t;

typedef struct sy_sqlcache_stats {
    uint64_t entries;   /* entry rows in the file (expired ones not yet deleted included) */
    uint64_t bytes;     /* bytes charged: entries and vectors, see sy_sqlcache_charge */
    uint64_t max_bytes; /* the configured bound */
    uint64_t hits;      /* gets answered with a value */
    uint64_t misses;    /* gets answered NULL: absent, expired, or a read error */
    uint64_t expired;   /* entry rows deleted by cleanup because their expiry had passed */
    uint64_t evictions; /* fresh entry rows deleted to stay under max_bytes */
    uint64_t puts;      /* entry rows written (replacements included) */
    uint64_t dropped;   /* writes not queued: the write queue was full or the tier closing */
    uint64_t errors;    /* SQLite failures: a failed read, or a write lost with its batch */
    uint64_t vectors;   /* vector rows in the file */
    uint64_t busy;      /* gets refused: the read queue was full */
    uint64_t refused;   /* puts refused: the row's charge alone exceeds max_bytes */
    uint64_t deletes;   /* entry rows removed by sy_sqlcache_delete */
} sy_sqlcache_stats_t;

typedef struct sy_sqlcache_opts {
    uint64_t max_bytes;       /* the bound on charged bytes; must hold one empty entry */
    uint64_t cleanup_ms;      /* background cleanup period; 0 = 5000; SY_SQLCACHE_NO_TIMER = none */
    size_t write_queue;       /* writes queued at most; 0 = 4096 */
    size_t write_queue_bytes; /* payload bytes those writes may hold; 0 = 64 MiB */
    size_t read_queue;        /* gets queued at most; 0 = 1024 */
    unsigned readers;         /* reader threads (one connection each); 0 = 2; at most 16 */
} sy_sqlcache_opts_t;

/*
 * Open or create the cache file at path (missing parent directories are
 * created, mode 0700), migrate its schema, switch it to WAL and start the
 * writer and reader threads. Every option but max_bytes may be 0 for its
 * default. Returns the cache, or NULL with err filled (SY_EIO naming the
 * path and what is wrong: not an SQLite file or corrupt, another program's
 * database, a newer schema, unwritable; SY_ECONFIG for bad options;
 * SY_ENOMEM). Blocks: startup only.
 */
sy_sqlcache_t *sy_sqlcache_open_opts(const char *path, const sy_sqlcache_opts_t *o, sy_error_t *err);

/* sy_sqlcache_open_opts with every option at its default but max_bytes. */
sy_sqlcache_t *sy_sqlcache_open(const char *path, uint64_t max_bytes, sy_error_t *err);

/*
 * Stop and free the cache: gets already queued are answered (their
 * callbacks run before this returns), writes already queued are committed
 * for up to 5 s and the rest dropped (counted), the threads are joined and
 * the file closed. NULL is a no-op. No other call may run on c meanwhile.
 */
void sy_sqlcache_close(sy_sqlcache_t *c);

/* The bytes charged for an entry of len bytes, and for a vector row. */
uint64_t sy_sqlcache_charge(size_t len);
uint64_t sy_sqlcache_vec_charge(size_t dims, size_t feat_len);

/*
 * The callback of sy_sqlcache_get, run on one of the tier's reader threads:
 * v is the value (v->expire_ns is 0; the callback owns one reference and
 * releases it with sy_cache_val_release, on any thread) and expire_ms the
 * row's absolute expiry in unix ms (0 = none), or v NULL and expire_ms 0 on
 * a miss, an expired row or an error. It must be short (hand the value to
 * the caller's loop) and must not call sy_sqlcache_close.
 */
typedef void (*sy_sqlcache_get_cb)(void *ud, const sy_cache_val_t *v, uint64_t expire_ms);

/*
 * Queue a lookup of key at now_ms (unix ms, passed in). Returns SY_OK when
 * queued: cb is then called exactly once, later, on a reader thread.
 * Returns SY_ETOOLARGE when the read queue is full (counted as busy) and
 * SY_EDRAINING when the cache is closing; cb is then never called. Never
 * blocks on SQLite. Any thread.
 */
int sy_sqlcache_get(sy_sqlcache_t *c, const unsigned char key[SY_SQLCACHE_KEY_LEN], uint64_t now_ms,
                    sy_sqlcache_get_cb cb, void *ud);

/*
 * Queue a copy of bytes[0..len) to be stored under key, expiring at
 * expire_ms (unix ms; 0 = none), replacing any entry of that key. Returns
 * SY_OK when queued; SY_ETOOLARGE when the entry could never fit
 * (sy_sqlcache_charge(len) > max_bytes; counted as refused) or the write
 * queue is full (counted as dropped); SY_EDRAINING when closing (dropped);
 * SY_ENOMEM. Any thread; copies the bytes, never blocks on SQLite.
 */
int sy_sqlcache_put(sy_sqlcache_t *c, const unsigned char key[SY_SQLCACHE_KEY_LEN], const void *bytes, size_t len,
                    uint64_t expire_ms);

/* Queue the deletion of key's entry (and its vectors). Returns as
 * sy_sqlcache_put (no refusal). Any thread. */
int sy_sqlcache_delete(sy_sqlcache_t *c, const unsigned char key[SY_SQLCACHE_KEY_LEN]);

/*
 * Queue a semantic-cache vector row: partition part, the entry key it
 * answers with, vec[0..dims) and the guard features feat[0..feat_len)
 * (opaque bytes, a sy_semfeat_t from cache/embed.h), expiring at expire_ms.
 * One row per (key, part); a later put_vec replaces it. The row is written
 * only if the entry key exists when the writer reaches it (queue the entry's
 * put first), and leaves with that entry (evicted, expired, deleted), so no
 * vector outlives its answer. Returns as sy_sqlcache_put, plus SY_EBADFIELD
 * when dims is 0 or above SY_EMBED_MAX_DIMS or feat_len above
 * SY_SQLCACHE_MAX_FEAT. Any thread.
 */
int sy_sqlcache_put_vec(sy_sqlcache_t *c, const unsigned char part[SY_SQLCACHE_KEY_LEN],
                        const unsigned char key[SY_SQLCACHE_KEY_LEN], const float *vec, size_t dims,
                        const void *feat, size_t feat_len, uint64_t expire_ms);

/* The callback of sy_sqlcache_load_vecs; every pointer is valid only during
 * the call. */
typedef void (*sy_sqlcache_vec_cb)(void *ud, const unsigned char part[SY_SQLCACHE_KEY_LEN],
                                   const unsigned char key[SY_SQLCACHE_KEY_LEN], const float *vec, size_t dims,
                                   const void *feat, size_t feat_len, uint64_t expire_ms);

/*
 * Call cb, on the calling thread, for every vector row that is fresh at
 * now_ms and whose entry is fresh too (to refill the in-memory index at
 * startup). Rows that are malformed (wrong sizes) are skipped and counted
 * as errors. Reads on a connection of its own; writes may go on meanwhile.
 * Returns the number of rows passed to cb, or a negative sy_err_t (SY_EIO,
 * SY_ENOMEM). Blocks.
 */
long sy_sqlcache_load_vecs(sy_sqlcache_t *c, uint64_t now_ms, sy_sqlcache_vec_cb cb, void *ud);

/* Block until every write queued before the call is committed (or lost to
 * an error, counted) and hits recorded before it are applied. Blocks. */
void sy_sqlcache_flush(sy_sqlcache_t *c);

/*
 * Flush, then have the writer run one cleanup pass at now_ms (unix ms):
 * delete every expired entry and vector row, then evict down to max_bytes.
 * Returns when the pass is done. The writer runs the same pass on its own,
 * with the wall clock, every cleanup_ms. Blocks.
 */
void sy_sqlcache_cleanup(sy_sqlcache_t *c, uint64_t now_ms);

/* Fill *st. Counters are updated as work completes; entries, bytes and
 * vectors are the file's totals after the last commit. Any thread. */
void sy_sqlcache_stats(sy_sqlcache_t *c, sy_sqlcache_stats_t *st);

#endif
