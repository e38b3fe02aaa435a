/*
 * memory.c - the memory tier of the exact cache (see memory.h).
 *
 * Layout: an array of cache-line-aligned shards. A shard is a mutex, a
 * chained hash table whose size is a power of two (doubled when the entries
 * outnumber the buckets, never shrunk) and a circular LRU list through a
 * sentinel (next of the sentinel is the hottest entry, prev the coldest).
 * An entry holds the key, its links and one reference to its value; values
 * live in their own allocation so they can outlive the entry.
 *
 * Work done under a shard lock is kept small: the value is copied before the
 * lock is taken, and entries removed under the lock (replaced, evicted,
 * expired) are chained on a local list and freed after it is released.
 */
#include "cache/memory.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKETS 64
#define DEFAULT_SWEEP_WORK 1024

struct entry {
    struct entry *hnext;         /* hash chain; also the local free list */
    struct entry *lprev, *lnext; /* LRU list */
    sy_cache_val_t *val;         /* one reference, owned by the entry */
    unsigned char key[SY_MEMCACHE_KEY_LEN];
};

struct shard {
    _Alignas(64) pthread_mutex_t mu;
    struct entry **buckets;
    size_t nbuckets;  /* a power of two */
    struct entry lru; /* sentinel */
    size_t count, bytes, max_bytes;
    size_t sweep_bucket; /* where the next sweep of this shard resumes */
    uint64_t hits, misses, expired, evictions, refusals, puts, deletes;
};

struct sy_memcache {
    struct shard *shards;
    unsigned nshards;
    size_t max_bytes;
    atomic_uint sweep_shard; /* the shard the next sweep starts in */
};

/* Fixed cost charged per entry on top of the value bytes: the entry, the
 * value header, the table slots it accounts for (the table holds at most two
 * slots per entry at its peak: it doubles only past one entry per slot) and
 * two allocator headers. */
#define ENTRY_OVERHEAD \
    (sizeof(struct entry) + sizeof(sy_cache_val_t) + 2 * sizeof(struct entry *) + 2 * 16)

size_t sy_memcache_charge(size_t len)
{
    return len > SIZE_MAX - ENTRY_OVERHEAD ? SIZE_MAX : len + ENTRY_OVERHEAD;
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static struct shard *shard_of(sy_memcache_t *c, const unsigned char *key)
{
    return &c->shards[load64(key) % c->nshards];
}

static int is_expired(const sy_cache_val_t *v, uint64_t now_ns)
{
    return v->expire_ns != 0 && now_ns >= v->expire_ns;
}

static void lru_unlink(struct entry *e)
{
    e->lprev->lnext = e->lnext;
    e->lnext->lprev = e->lprev;
}

static void lru_push_hot(struct shard *s, struct entry *e)
{
    e->lprev = &s->lru;
    e->lnext = s->lru.lnext;
    s->lru.lnext->lprev = e;
    s->lru.lnext = e;
}

/* The link that points at key's entry (*slot is NULL when absent). */
static struct entry **find_slot(struct shard *s, const unsigned char *key)
{
    struct entry **slot = &s->buckets[load64(key + 8) & (s->nbuckets - 1)];
    while (*slot && memcmp((*slot)->key, key, SY_MEMCACHE_KEY_LEN) != 0)
        slot = &(*slot)->hnext;
    return slot;
}

/* Take the entry *slot points at out of the shard and put it on *grave, to be
 * freed once the lock is released. */
static void remove_at(struct shard *s, struct entry **slot, struct entry **grave)
{
    struct entry *e = *slot;
    *slot = e->hnext;
    lru_unlink(e);
    s->count--;
    s->bytes -= sy_memcache_charge(e->val->len);
    e->hnext = *grave;
    *grave = e;
}

static void free_entries(struct entry *e)
{
    while (e) {
        struct entry *next = e->hnext;
        sy_cache_val_release(e->val);
        free(e);
        e = next;
    }
}

/* Double the table. On allocation failure the table keeps its size: chains
 * get longer, nothing breaks. */
static void grow(struct shard *s)
{
    size_t n = s->nbuckets * 2;
    struct entry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct entry *e = s->buckets[i];
        while (e) {
            struct entry *next = e->hnext;
            struct entry **head = &b[load64(e->key + 8) & (n - 1)];
            e->hnext = *head;
            *head = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

sy_memcache_t *sy_memcache_new(size_t max_bytes, unsigned shards)
{
    if (shards == 0)
        shards = SY_MEMCACHE_DEFAULT_SHARDS;
    if (shards > SY_MEMCACHE_MAX_SHARDS || max_bytes / shards < sy_memcache_charge(0))
        return NULL;
    sy_memcache_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max_bytes = max_bytes;
    c->shards = aligned_alloc(_Alignof(struct shard), shards * sizeof(struct shard));
    if (!c->shards) {
        free(c);
        return NULL;
    }
    memset(c->shards, 0, shards * sizeof(struct shard));
    atomic_init(&c->sweep_shard, 0);
    for (unsigned i = 0; i < shards; i++) {
        struct shard *s = &c->shards[i];
        s->buckets = calloc(INITIAL_BUCKETS, sizeof *s->buckets);
        if (!s->buckets) {
            sy_memcache_free(c);
            return NULL;
        }
        c->nshards = i + 1; /* what sy_memcache_free must undo */
        pthread_mutex_init(&s->mu, NULL);
        s->nbuckets = INITIAL_BUCKETS;
        s->lru.lnext = s->lru.lprev = &s->lru;
        s->max_bytes = max_bytes / shards;
    }
    return c;
}

void sy_memcache_free(sy_memcache_t *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];
        for (size_t b = 0; b < s->nbuckets; b++)
            free_entries(s->buckets[b]);
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(c->shards);
    free(c);
}

const sy_cache_val_t *sy_memcache_get(sy_memcache_t *c,
                                      const unsigned char key[SY_MEMCACHE_KEY_LEN],
                                      uint64_t now_ns)
{
    struct shard *s = shard_of(c, key);
    struct entry *grave = NULL;
    sy_cache_val_t *v = NULL;

    pthread_mutex_lock(&s->mu);
    struct entry **slot = find_slot(s, key);
    if (!*slot) {
        s->misses++;
    } else if (is_expired((*slot)->val, now_ns)) {
        remove_at(s, slot, &grave);
        s->expired++;
        s->misses++;
    } else {
        struct entry *e = *slot;
        lru_unlink(e);
        lru_push_hot(s, e);
        v = e->val;
        atomic_fetch_add_explicit(&v->sy__refs, 1, memory_order_relaxed);
        s->hits++;
    }
    pthread_mutex_unlock(&s->mu);

    free_entries(grave);
    return v;
}

sy_err_t sy_memcache_put(sy_memcache_t *c, const unsigned char key[SY_MEMCACHE_KEY_LEN],
                         const void *bytes, size_t len, uint64_t ttl_ns, uint64_t now_ns)
{
    struct shard *s = shard_of(c, key);
    size_t charge = sy_memcache_charge(len);

    if (charge > s->max_bytes) { /* max_bytes never changes: no lock needed to read it */
        pthread_mutex_lock(&s->mu);
        s->refusals++;
        pthread_mutex_unlock(&s->mu);
        return SY_ETOOLARGE;
    }

    sy_cache_val_t *v = malloc(sizeof *v + len);
    struct entry *e = malloc(sizeof *e);
    if (!v || !e) {
        free(v);
        free(e);
        return SY_ENOMEM;
    }
    atomic_init(&v->sy__refs, 1);
    v->len = len;
    if (len)
        memcpy(v->data, bytes, len);
    if (ttl_ns == 0)
        v->expire_ns = 0;
    else
        v->expire_ns = now_ns > UINT64_MAX - ttl_ns ? UINT64_MAX : now_ns + ttl_ns;
    e->val = v;
    memcpy(e->key, key, SY_MEMCACHE_KEY_LEN);

    struct entry *grave = NULL;
    pthread_mutex_lock(&s->mu);
    struct entry **slot = find_slot(s, key);
    if (*slot)
        remove_at(s, slot, &grave); /* replacement: not an eviction */
    while (s->bytes + charge > s->max_bytes) {
        struct entry *cold = s->lru.lprev; /* never the sentinel: bytes > 0 */
        int expired = is_expired(cold->val, now_ns);
        remove_at(s, find_slot(s, cold->key), &grave);
        if (expired)
            s->expired++;
        else
            s->evictions++;
    }
    slot = &s->buckets[load64(key + 8) & (s->nbuckets - 1)];
    e->hnext = *slot;
    *slot = e;
    lru_push_hot(s, e);
    s->count++;
    s->bytes += charge;
    s->puts++;
    if (s->count > s->nbuckets)
        grow(s);
    pthread_mutex_unlock(&s->mu);

    free_entries(grave);
    return SY_OK;
}

int sy_memcache_delete(sy_memcache_t *c, const unsigned char key[SY_MEMCACHE_KEY_LEN])
{
    struct shard *s = shard_of(c, key);
    struct entry *grave = NULL;

    pthread_mutex_lock(&s->mu);
    struct entry **slot = find_slot(s, key);
    if (*slot) {
        remove_at(s, slot, &grave);
        s->deletes++;
    }
    pthread_mutex_unlock(&s->mu);

    free_entries(grave);
    return grave != NULL;
}

/* Sweep shard s from its cursor, spending at most *budget steps (a bucket is
 * one step, each entry examined another; a started chain is finished).
 * Returns 1 when the shard's table was scanned to its end (the cursor then
 * restarts at 0), 0 when the budget ran out first. */
static int sweep_shard(struct shard *s, uint64_t now_ns, size_t *budget, size_t *purged,
                       struct entry **grave)
{
    while (*budget > 0) {
        if (s->sweep_bucket >= s->nbuckets) {
            s->sweep_bucket = 0;
            return 1;
        }
        (*budget)--;
        struct entry **slot = &s->buckets[s->sweep_bucket++];
        while (*slot) {
            if (*budget > 0)
                (*budget)--;
            if (is_expired((*slot)->val, now_ns)) {
                remove_at(s, slot, grave);
                s->expired++;
                (*purged)++;
            } else {
                slot = &(*slot)->hnext;
            }
        }
    }
    return 0;
}

size_t sy_memcache_sweep(sy_memcache_t *c, uint64_t now_ns, size_t max_work)
{
    size_t budget = max_work ? max_work : DEFAULT_SWEEP_WORK;
    size_t purged = 0;
    /* At most one full round (plus the rest of the shard we start in), so a
     * large budget on a small cache does not spin. */
    for (unsigned visits = 0; budget > 0 && visits <= c->nshards; visits++) {
        unsigned i = atomic_load(&c->sweep_shard) % c->nshards;
        struct shard *s = &c->shards[i];
        struct entry *grave = NULL;
        pthread_mutex_lock(&s->mu);
        int done = sweep_shard(s, now_ns, &budget, &purged, &grave);
        pthread_mutex_unlock(&s->mu);
        free_entries(grave);
        if (!done)
            break;
        /* Only the sweeper that finished shard i moves the cursor on. */
        atomic_compare_exchange_strong(&c->sweep_shard, &i, (i + 1) % c->nshards);
    }
    return purged;
}

void sy_memcache_stats(sy_memcache_t *c, sy_memcache_stats_t *st)
{
    memset(st, 0, sizeof *st);
    st->max_bytes = c->max_bytes;
    for (unsigned i = 0; i < c->nshards; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        st->entries += s->count;
        st->bytes += s->bytes;
        st->hits += s->hits;
        st->misses += s->misses;
        st->expired += s->expired;
        st->evictions += s->evictions;
        st->refusals += s->refusals;
        st->puts += s->puts;
        st->deletes += s->deletes;
        pthread_mutex_unlock(&s->mu);
    }
}

const sy_cache_val_t *sy_cache_val_retain(const sy_cache_val_t *v)
{
    atomic_fetch_add_explicit(&((sy_cache_val_t *)v)->sy__refs, 1, memory_order_relaxed);
    return v;
}

void sy_cache_val_release(const sy_cache_val_t *v)
{
    if (!v)
        return;
    sy_cache_val_t *mv = (sy_cache_val_t *)v;
    if (atomic_fetch_sub_explicit(&mv->sy__refs, 1, memory_order_acq_rel) == 1)
        free(mv);
}
