/*
 * semantic.h - the semantic cache's in-memory vector index: for a request's
 * embedding, the exact-cache key of a stored answer to an equivalent
 * request, if there is one.
 *
 * The index maps a partition (cache/key.h's sy_cache_partition_key: tenant,
 * model, tools, sampling...) to the entries stored in it. An entry is a unit
 * vector (cache/embed.h: the whole conversation embedded), the guard
 * features of the same conversation (sy_semfeat_t), the exact-cache key its
 * answer is stored under in the tiers, and an expiry. The index holds no
 * answers: a hit names a key, and the caller reads the answer from the exact
 * cache's tiers like any exact hit (and deletes the entry from here when the
 * tiers no longer have it).
 *
 * A search is an exact scan of the query's partition: one dot product per
 * entry over a contiguous array of vectors (struct of arrays, so the loop
 * reads vectors and nothing else); only entries at or above the threshold
 * have their expiry and guard features looked at. The best such entry not
 * vetoed (sy_semfeat_veto) and not expired is the hit. The cost grows
 * linearly with the partition's entries times dims; docs/semantic-cache.md
 * ("The index") gives the measured numbers and where it stops scaling.
 *
 * Bounds: at most max_entries entries over all partitions. A put of a new
 * entry into a full index first evicts the least recently used entry of the
 * whole index (inserted, replaced or hit longest ago), whatever its
 * partition; evictions are counted (an expired victim counts as expired).
 * Partitions are created by their first put and freed when their last entry
 * goes, so partitions <= entries (plus a few being filled right now).
 *
 * Time is passed in (monotonic nanoseconds); the module reads no clock. An
 * entry with expire_ns e is live for now < e and expired from now >= e on
 * (e == 0: no expiry). Expired entries are never returned; they are purged
 * by sy_semindex_sweep (and by eviction), which a timer calls.
 *
 * Threads: every function may be called from any thread at the same time,
 * except sy_semindex_free. Each partition has a rwlock: searches of one
 * partition share it, puts and deletes take it alone for a short time (a
 * copy of one vector; an occasional doubling of the arrays). Different
 * partitions do not block each other except on one short mutex that keeps
 * the LRU order (taken by puts, deletes and hits, not by a scan).
 */
#ifndef SY_CACHE_SEMANTIC_H
#define SY_CACHE_SEMANTIC_H

#include <stddef.h>
#include <stdint.h>

#include "cache/embed.h"
#include "core/err.h"

#define SY_SEMINDEX_KEY_LEN 32
/* The most entries one index may be created for (entries are numbered in
 * 32 bits). */
#define SY_SEMINDEX_MAX_ENTRIES ((size_t)1 << 30)

typedef struct sy_semindex sy_semindex_t;

/*
 * Counters since creation and sizes now, summed over the index's shards
 * (each read on its own: a consistent sum of snapshots, not one instant).
 *
 * sim_buckets is the histogram of the similarity every search reported in
 * *sim_out (the hit's similarity on a hit, the best similarity seen on a
 * miss, -1 for an empty or unknown partition): with s that value,
 *   sim_buckets[0]       s < 0 (and NaN)
 *   sim_buckets[k], 1..9 (k-1)/10 <= s < k/10, i.e. k = 1 + (int)(s * 10)
 *   sim_buckets[10]      s >= 0.9 (1.0 and above included)
 * computed in float as written, so a value a rounding error below a tenth
 * lands in the lower bucket. The buckets sum to searches.
 */
typedef struct sy_semindex_stats {
    uint64_t entries;    /* entries stored now (expired ones not yet purged included) */
    uint64_t partitions; /* partitions now */
    uint64_t bytes;      /* bytes allocated now: vectors, keys, features, tables, nodes */
    uint64_t searches;   /* calls of sy_semindex_search */
    uint64_t hits;       /* searches that returned an entry */
    uint64_t misses;     /* searches that did not (searches = hits + misses) */
    uint64_t vetoed;     /* misses with a live entry at or above the threshold, all vetoed */
    uint64_t evictions;  /* live entries dropped to make room for a put */
    uint64_t expired;    /* expired entries purged (sweep, or chosen for eviction) */
    uint64_t sim_buckets[11];
} sy_semindex_stats_t;

/*
 * An index of vectors of dims floats (1..SY_EMBED_MAX_DIMS) holding at most
 * max_entries entries (1..SY_SEMINDEX_MAX_ENTRIES) over all partitions.
 * Memory is allocated as entries arrive, about dims * 4 + 250 bytes per
 * entry (see the stats' bytes). Returns NULL on a bad argument or when
 * memory runs out. The caller frees it with sy_semindex_free.
 */
sy_semindex_t *sy_semindex_new(size_t dims, size_t max_entries);

/* Free the index and everything in it. NULL is a no-op. No other thread may
 * be using it. */
void sy_semindex_free(sy_semindex_t *x);

/*
 * Store an entry in partition part: a copy of vec (dims floats, unit length
 * as sy_embed_* makes them - the index does not normalise), a copy of feat,
 * the exact-cache key the answer is stored under, and its expiry expire_ns
 * (monotonic ns; 0 = none). An entry with the same key in the same partition
 * is replaced (vector, features, expiry) and counts as recently used; the
 * same key in another partition is another entry. A new entry in a full
 * index evicts the least recently used entry first (see the top).
 * Returns SY_OK; SY_EBADFIELD for a NULL argument; SY_ENOMEM when memory
 * runs out (the index is unchanged, except that an entry may have been
 * evicted to make room). now_ns is used to tell an expired victim from a
 * live one in the counters.
 */
sy_err_t sy_semindex_put(sy_semindex_t *x, const unsigned char part[SY_SEMINDEX_KEY_LEN],
                         const unsigned char key[SY_SEMINDEX_KEY_LEN], const float *vec, const sy_semfeat_t *feat,
                         uint64_t expire_ns, uint64_t now_ns);

/*
 * Find the entry of partition part most similar to vec (dims floats) among
 * those with similarity >= threshold, not expired at now_ns
 * and not vetoed by the guards (sy_semfeat_veto(feat, entry's features) is
 * SY_SEMVETO_NONE). On a hit returns 1, copies its key to key_out and its
 * similarity to *sim_out, and marks it recently used. Else returns 0, leaves
 * key_out untouched and sets *sim_out to the best similarity of any live
 * entry of the partition, vetoed or below the threshold (so a caller and the
 * histogram see how near the nearest one was), or -1 when the partition has
 * no live entry. Either way the search is counted and *sim_out goes to the
 * histogram (see sy_semindex_stats_t). Ties between equal similarities go to
 * the entry stored first in the partition's array (an unspecified order).
 * All pointers must be non-NULL (sim_out may be NULL when not wanted).
 * The similarity is the dot product, as sy_embed_dot computes it but summed
 * in another order (vectorised), so the two may differ in the float's last
 * bits.
 */
int sy_semindex_search(sy_semindex_t *x, const unsigned char part[SY_SEMINDEX_KEY_LEN], const float *vec,
                       const sy_semfeat_t *feat, float threshold, uint64_t now_ns,
                       unsigned char key_out[SY_SEMINDEX_KEY_LEN], float *sim_out);

/* Remove the entry with key in partition part (the last element of the
 * partition's arrays moves into its place). Returns 1 when an entry was
 * removed, 0 when there was none. Not counted as an eviction. */
int sy_semindex_delete(sy_semindex_t *x, const unsigned char part[SY_SEMINDEX_KEY_LEN],
                       const unsigned char key[SY_SEMINDEX_KEY_LEN]);

/*
 * Purge entries expired at now_ns, spending about max_work steps (0 = 1024:
 * a hash bucket of partitions is a step, each partition visited one, each
 * entry examined one), resuming where the previous call stopped, partition
 * after partition and inside a large partition, so repeated calls cover the
 * whole index. Partitions left empty are freed. Returns the number of
 * entries purged (counted as expired). Meant for a timer; sweeps are
 * serialised (a second caller waits), other calls run beside them.
 */
size_t sy_semindex_sweep(sy_semindex_t *x, uint64_t now_ns, size_t max_work);

/* Fill *st (see sy_semindex_stats_t). */
void sy_semindex_stats(sy_semindex_t *x, sy_semindex_stats_t *st);

#endif
