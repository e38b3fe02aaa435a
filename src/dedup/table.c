/*
 * table.c - the in-flight dedup table (see table.h).
 *
 * Open addressing with linear probing and tombstones; a shard grows when
 * live entries plus tombstones pass 3/4 of its slots. Tables stay small:
 * the number of calls in flight, not of cached answers.
 */
#include "dedup/table.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS 16u
#define TOMB ((void *)1)

typedef struct slot {
    unsigned char key[SY_DEDUP_KEY_LEN];
    void *obj; /* NULL empty, TOMB removed */
} slot_t;

typedef struct shard {
    pthread_mutex_t mu;
    slot_t *slots;
    size_t cap, live, used; /* used = live + tombstones */
    uint64_t joins, leads;
} shard_t;

struct sy_dedup {
    shard_t *shards;
    unsigned n; /* a power of two */
};

static uint64_t key_word(const unsigned char *k, size_t at)
{
    uint64_t v;
    memcpy(&v, k + at, sizeof(v));
    return v;
}

sy_dedup_t *sy_dedup_new(unsigned shards)
{
    unsigned n = 1;
    if (shards == 0)
        shards = 16;
    if (shards > 256)
        shards = 256;
    while (n < shards)
        n <<= 1;
    sy_dedup_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->shards = calloc(n, sizeof(shard_t)))) {
        free(t);
        return NULL;
    }
    t->n = n;
    for (unsigned i = 0; i < n; i++)
        pthread_mutex_init(&t->shards[i].mu, NULL);
    return t;
}

void sy_dedup_free(sy_dedup_t *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < t->n; i++) {
        pthread_mutex_destroy(&t->shards[i].mu);
        free(t->shards[i].slots);
    }
    free(t->shards);
    free(t);
}

static shard_t *shard_of(sy_dedup_t *t, const unsigned char *key)
{
    return &t->shards[key_word(key, 0) & (t->n - 1)];
}

/* The slot holding key, or NULL. */
static slot_t *find(shard_t *s, const unsigned char *key)
{
    if (!s->cap)
        return NULL;
    size_t mask = s->cap - 1;
    for (size_t i = key_word(key, 8) & mask;; i = (i + 1) & mask) {
        slot_t *sl = &s->slots[i];
        if (!sl->obj)
            return NULL;
        if (sl->obj != TOMB && memcmp(sl->key, key, SY_DEDUP_KEY_LEN) == 0)
            return sl;
    }
}

static void place(slot_t *slots, size_t cap, const unsigned char *key, void *obj)
{
    size_t mask = cap - 1;
    size_t i = key_word(key, 8) & mask;
    while (slots[i].obj && slots[i].obj != TOMB)
        i = (i + 1) & mask;
    memcpy(slots[i].key, key, SY_DEDUP_KEY_LEN);
    slots[i].obj = obj;
}

/* Make room for one more entry: rehash into a table sized for the live
 * entries (dropping tombstones). Returns 0, or -1 out of memory. */
static int reserve(shard_t *s)
{
    if (s->cap && (s->used + 1) * 4 <= s->cap * 3)
        return 0;
    size_t cap = MIN_SLOTS;
    while ((s->live + 1) * 2 > cap)
        cap <<= 1;
    slot_t *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].obj && s->slots[i].obj != TOMB)
            place(slots, cap, s->slots[i].key, s->slots[i].obj);
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->used = s->live;
    return 0;
}

void *sy_dedup_join(sy_dedup_t *t, const unsigned char key[SY_DEDUP_KEY_LEN], void *mine,
                    sy_dedup_retain_fn retain)
{
    shard_t *s = shard_of(t, key);
    void *got = NULL;
    pthread_mutex_lock(&s->mu);
    slot_t *sl = find(s, key);
    if (sl) {
        got = sl->obj;
        retain(got);
        s->joins++;
    } else if (reserve(s) < 0) {
        got = mine;
    } else {
        place(s->slots, s->cap, key, mine);
        s->live++;
        s->used++;
        s->leads++;
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

static void *lookup(sy_dedup_t *t, const unsigned char key[SY_DEDUP_KEY_LEN], sy_dedup_retain_fn retain, int join)
{
    shard_t *s = shard_of(t, key);
    void *got = NULL;
    pthread_mutex_lock(&s->mu);
    slot_t *sl = find(s, key);
    if (sl) {
        got = sl->obj;
        retain(got);
        s->joins += (uint64_t)join;
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

void *sy_dedup_find(sy_dedup_t *t, const unsigned char key[SY_DEDUP_KEY_LEN], sy_dedup_retain_fn retain)
{
    return lookup(t, key, retain, 0);
}

void *sy_dedup_follow(sy_dedup_t *t, const unsigned char key[SY_DEDUP_KEY_LEN], sy_dedup_retain_fn retain)
{
    return lookup(t, key, retain, 1);
}

int sy_dedup_remove(sy_dedup_t *t, const unsigned char key[SY_DEDUP_KEY_LEN], const void *obj)
{
    shard_t *s = shard_of(t, key);
    int removed = 0;
    pthread_mutex_lock(&s->mu);
    slot_t *sl = find(s, key);
    if (sl && sl->obj == obj) {
        sl->obj = TOMB;
        s->live--;
        removed = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return removed;
}

void sy_dedup_stats(sy_dedup_t *t, sy_dedup_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    for (unsigned i = 0; i < t->n; i++) {
        shard_t *s = &t->shards[i];
        pthread_mutex_lock(&s->mu);
        st->inflight += s->live;
        st->joins += s->joins;
        st->leads += s->leads;
        pthread_mutex_unlock(&s->mu);
    }
}
