/*
 * table.h - the in-flight dedup table: which upstream call is answering a
 * cache key right now.
 *
 * Identical requests (the same 32-byte cache key, src/cache/key.h) that
 * arrive while the first is being answered join its call instead of making
 * their own. The table maps a key to the caller's object for that call (the
 * pipeline's flight) and knows nothing else about it: the caller keeps the
 * object alive while it is in the table and passes a retain function, run
 * under the shard's lock, so a joiner holds its own reference before the
 * lock is let go and the owner cannot free the object under it.
 *
 * The key is already a uniform hash: its first bytes choose the shard and
 * the bucket. Each shard is a mutex and a small open hash table that grows;
 * a shard is locked for a lookup or an insert only, never while the caller
 * works. Any thread.
 */
#ifndef SY_DEDUP_TABLE_H
#define SY_DEDUP_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define SY_DEDUP_KEY_LEN 32

typedef struct sy_dedup sy_dedup_t;

/* Takes a reference to obj for the caller; runs under the shard's lock,
 * so it must be short (an atomic increment). */
typedef void (*sy_dedup_retain_fn)(void *obj);

/* A table of `shards` shards (0 = 16, rounded up to a power of two, at most
 * 256). NULL when out of memory. */
sy_dedup_t *sy_dedup_new(unsigned shards);
/* Free the table (not the objects in it). No other thread may use it. */
void sy_dedup_free(sy_dedup_t *t);

/*
 * Join or lead: when key is in the table, retain its object and return it
 * (the caller joins that call); otherwise insert mine under key and return
 * NULL (the caller leads). Returns mine itself only when the table cannot
 * grow (out of memory): the caller then runs alone, unregistered.
 */
void *sy_dedup_join(sy_dedup_t *t, const unsigned char key[SY_DEDUP_KEY_LEN], void *mine,
                    sy_dedup_retain_fn retain);

/* The object under key, retained, or NULL. */
void *sy_dedup_find(sy_dedup_t *t, const unsigned char key[SY_DEDUP_KEY_LEN], sy_dedup_retain_fn retain);

/* sy_dedup_find for a caller about to join the call it finds (counted as a
 * join): a follower need not build a call of its own to offer first. */
void *sy_dedup_follow(sy_dedup_t *t, const unsigned char key[SY_DEDUP_KEY_LEN], sy_dedup_retain_fn retain);

/* Remove key's entry if its object is obj. Returns 1 when removed. */
int sy_dedup_remove(sy_dedup_t *t, const unsigned char key[SY_DEDUP_KEY_LEN], const void *obj);

/* Calls in the table now, and joins and leads since creation. */
typedef struct sy_dedup_stats {
    uint64_t inflight, joins, leads;
} sy_dedup_stats_t;
void sy_dedup_stats(sy_dedup_t *t, sy_dedup_stats_t *st);

#endif
