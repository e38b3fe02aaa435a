/*
 * semantic.c - the semantic cache's in-memory vector index (see semantic.h).
 *
 * Layout. Partitions live in a map split over SHARDS shards, each a rwlock
 * and a chained hash table (doubled when the partitions outnumber its
 * buckets). A partition is a rwlock and struct-of-arrays storage for its n
 * entries (capacity cap, a power of two, doubled when full and halved when a
 * quarter full): vecs[cap * dims], keys, feats, expire and node, plus an
 * open-addressing table from entry key to array index (2 * cap slots, linear
 * probing, backward-shift deletion) so a put or delete finds its entry
 * without a scan. Removal moves the last entry into the hole, so the arrays
 * stay dense and a scan never skips.
 *
 * Lifetime of a partition: a caller takes a reference under the shard lock
 * (so it never needs the shard lock while it works on the partition) and
 * drops it after; a partition is freed only under its shard's write lock
 * when it is empty and nobody holds a reference. Whoever leaves a partition
 * empty asks for that ("reap"), looking it up again by id, never by pointer.
 *
 * LRU order over the whole index: one list of nodes, one per entry, under
 * lru_mu. A node records its entry's partition and key (so an evictor can
 * name its victim without touching the partition) and a partition records
 * each entry's node id (so a delete unlinks it). The node pool grows by
 * doubling up to max_entries + 1 (node 0 is the list's sentinel); freed
 * nodes go on a free list. Lock order: shard, then partition, then lru_mu;
 * lru_mu is never held while another lock is taken. An evicting put
 * therefore reads its victim's ids under lru_mu, lets go of everything and
 * removes the victim like a delete would; a victim gone in between is simply
 * not found, and the put tries again.
 *
 * Counters: per shard (the one the partition hashes to), as relaxed atomics,
 * so concurrent searches of different partitions rarely share a cache line;
 * evictions, expired and the entry count under lru_mu.
 */
#include "cache/semantic.h"

#include <float.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

#define SHARDS 16
#define INITIAL_BUCKETS 8
#define MIN_CAP 16
#define INITIAL_NODES 64
#define DEFAULT_SWEEP_WORK 1024
/* emptied partitions a sweep reaps per bucket (more wait for the next pass) */
#define REAP_BATCH 8

enum { WHY_DELETE, WHY_EVICT, WHY_EXPIRE };

struct part {
    struct part *hnext; /* the shard's hash chain */
    pthread_rwlock_t lock;
    atomic_size_t refs; /* taken under the shard lock, dropped anywhere */
    /* the rest under lock */
    size_t n, cap;
    float *vecs;                                /* cap * dims */
    unsigned char (*keys)[SY_SEMINDEX_KEY_LEN]; /* cap */
    sy_semfeat_t *feats;                        /* cap */
    uint64_t *expire;                           /* cap */
    uint32_t *node;                             /* cap: each entry's LRU node */
    uint32_t *slots;                            /* 2 * cap: index + 1, 0 = empty */
    size_t sweep_pos;                           /* where a sweep of this partition resumes */
    uint64_t swept_pass;                        /* the last sweep pass that finished it */
    unsigned char id[SY_SEMINDEX_KEY_LEN];
};

struct shard {
    _Alignas(64) pthread_rwlock_t lock;
    struct part **buckets; /* under lock */
    size_t nbuckets;       /* a power of two */
    size_t count;          /* partitions */
    atomic_uint_least64_t searches, hits, misses, vetoed, sim[11];
};

struct node {
    uint32_t prev, next; /* LRU list through node 0; next is also the free list */
    unsigned char part[SY_SEMINDEX_KEY_LEN], key[SY_SEMINDEX_KEY_LEN];
};

struct sy_semindex {
    size_t dims, max_entries;
    struct shard shards[SHARDS];
    atomic_size_t bytes;

    pthread_mutex_t lru_mu; /* guards the members up to sweep_mu */
    struct node *nodes;     /* nodes[0] is the sentinel: next = least recent, prev = most */
    size_t nodes_cap, nodes_used;
    uint32_t free_node; /* head of the free list, 0 = none */
    size_t count;       /* entries (= nodes on the list) */
    uint64_t evictions, expired;

    pthread_mutex_t sweep_mu; /* guards the sweep cursor */
    unsigned sweep_shard;
    size_t sweep_bucket;
    uint64_t sweep_pass;
};

/* ---- hashing ------------------------------------------------------------ */

static uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Mixed: callers' ids and keys are SHA-256 digests, but a test's
 * hand-made ones are not, and the map must not care. */
static uint64_t hash32(const unsigned char *k)
{
    return sy_mix64(load64(k) ^ sy_mix64(load64(k + 8) ^ sy_mix64(load64(k + 16) ^ sy_mix64(load64(k + 24)))));
}

static struct shard *shard_of(sy_semindex_t *x, const unsigned char *id)
{
    return &x->shards[hash32(id) % SHARDS];
}

static struct part **bucket_of(struct shard *sh, const unsigned char *id)
{
    return &sh->buckets[(hash32(id) >> 8) & (sh->nbuckets - 1)];
}

/*
 * The similarity: the dot product of two unit vectors, like sy_embed_dot,
 * 16 floats a step in four 4-wide sums (GCC/Clang vector extensions; SSE2
 * on any x86-64, NEON on arm64). Measured with bench/semindex-bench.c: 47 ns
 * per 512-dimension entry in cache against 107 ns for sy_embed_dot's scalar
 * loop. The sums are added in another order, so the two may differ in the
 * last bits of the float. Unaligned loads through memcpy: the arrays are
 * only as aligned as malloc makes them.
 */
typedef float v4f __attribute__((vector_size(16)));

static float dot(const float *a, const float *b, size_t d)
{
    v4f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        v4f a0, a1, a2, a3, b0, b1, b2, b3;
        memcpy(&a0, a + i, sizeof a0);
        memcpy(&a1, a + i + 4, sizeof a1);
        memcpy(&a2, a + i + 8, sizeof a2);
        memcpy(&a3, a + i + 12, sizeof a3);
        memcpy(&b0, b + i, sizeof b0);
        memcpy(&b1, b + i + 4, sizeof b1);
        memcpy(&b2, b + i + 8, sizeof b2);
        memcpy(&b3, b + i + 12, sizeof b3);
        s0 += a0 * b0;
        s1 += a1 * b1;
        s2 += a2 * b2;
        s3 += a3 * b3;
    }
    v4f t = (s0 + s1) + (s2 + s3);
    float r = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < d; i++)
        r += a[i] * b[i];
    return r;
}

static int is_expired(uint64_t expire_ns, uint64_t now_ns)
{
    return expire_ns != 0 && now_ns >= expire_ns;
}

/* ---- a partition's arrays ----------------------------------------------- */

static size_t arrays_bytes(const sy_semindex_t *x, size_t cap)
{
    return cap * (x->dims * sizeof(float) + SY_SEMINDEX_KEY_LEN + sizeof(sy_semfeat_t) + sizeof(uint64_t) +
                  sizeof(uint32_t) + 2 * sizeof(uint32_t));
}

static size_t home(const struct part *p, const unsigned char *key)
{
    return (size_t)hash32(key) & (2 * p->cap - 1);
}

/* The array index of key, or -1. */
static long find(const struct part *p, const unsigned char *key)
{
    if (!p->cap)
        return -1;
    size_t mask = 2 * p->cap - 1;
    for (size_t j = home(p, key);; j = (j + 1) & mask) {
        uint32_t s = p->slots[j];
        if (!s)
            return -1;
        if (memcmp(p->keys[s - 1], key, SY_SEMINDEX_KEY_LEN) == 0)
            return (long)s - 1;
    }
}

/* The slot holding index i (which must be in the table). */
static size_t slot_of(const struct part *p, size_t i)
{
    size_t mask = 2 * p->cap - 1;
    size_t j = home(p, p->keys[i]);
    while (p->slots[j] != i + 1)
        j = (j + 1) & mask;
    return j;
}

static void slot_insert(struct part *p, size_t i)
{
    size_t mask = 2 * p->cap - 1;
    size_t j = home(p, p->keys[i]);
    while (p->slots[j])
        j = (j + 1) & mask;
    p->slots[j] = (uint32_t)(i + 1);
}

/* Empty slot j and shift later members of its probe run back, so every
 * entry stays reachable from its home slot without tombstones. */
static void slot_remove(struct part *p, size_t j)
{
    size_t mask = 2 * p->cap - 1;
    p->slots[j] = 0;
    for (size_t k = (j + 1) & mask; p->slots[k]; k = (k + 1) & mask) {
        size_t h = home(p, p->keys[p->slots[k] - 1]);
        /* the member at k may move to j unless its home lies in (j, k] */
        int stays = j < k ? (h > j && h <= k) : (h > j || h <= k);
        if (!stays) {
            p->slots[j] = p->slots[k];
            p->slots[k] = 0;
            j = k;
        }
    }
}

static void arrays_free(struct part *p)
{
    free(p->vecs);
    free(p->keys);
    free(p->feats);
    free(p->expire);
    free(p->node);
    free(p->slots);
}

/* Move the n entries into arrays of capacity cap (>= n, a power of two).
 * Returns 0, or -1 when memory runs out (nothing changed). */
static int part_resize(sy_semindex_t *x, struct part *p, size_t cap)
{
    /* the new arrays are built in q; only they go back to p (never the
     * lock or refs, which other threads change meanwhile) */
    struct part q;
    size_t d = x->dims;
    memset(&q, 0, sizeof q);
    q.n = p->n;
    q.vecs = malloc(cap * d * sizeof(float));
    q.keys = malloc(cap * sizeof *q.keys);
    q.feats = malloc(cap * sizeof *q.feats);
    q.expire = malloc(cap * sizeof *q.expire);
    q.node = malloc(cap * sizeof *q.node);
    q.slots = calloc(2 * cap, sizeof *q.slots);
    if (!q.vecs || !q.keys || !q.feats || !q.expire || !q.node || !q.slots) {
        arrays_free(&q);
        return -1;
    }
    if (p->n) {
        memcpy(q.vecs, p->vecs, p->n * d * sizeof(float));
        memcpy(q.keys, p->keys, p->n * sizeof *q.keys);
        memcpy(q.feats, p->feats, p->n * sizeof *q.feats);
        memcpy(q.expire, p->expire, p->n * sizeof *q.expire);
        memcpy(q.node, p->node, p->n * sizeof *q.node);
    }
    q.cap = cap;
    for (size_t i = 0; i < q.n; i++)
        slot_insert(&q, i);
    atomic_fetch_add(&x->bytes, arrays_bytes(x, cap));
    atomic_fetch_sub(&x->bytes, arrays_bytes(x, p->cap));
    arrays_free(p);
    p->vecs = q.vecs;
    p->keys = q.keys;
    p->feats = q.feats;
    p->expire = q.expire;
    p->node = q.node;
    p->slots = q.slots;
    p->cap = cap;
    return 0;
}

/* ---- LRU nodes (under lru_mu) ------------------------------------------- */

static void lru_unlink(sy_semindex_t *x, uint32_t id)
{
    struct node *e = &x->nodes[id];
    x->nodes[e->prev].next = e->next;
    x->nodes[e->next].prev = e->prev;
}

static void lru_push_recent(sy_semindex_t *x, uint32_t id)
{
    struct node *e = &x->nodes[id], *s = &x->nodes[0];
    e->next = 0;
    e->prev = s->prev;
    x->nodes[s->prev].next = id;
    s->prev = id;
}

/* A node off the free list or the pool's end (doubling the pool when
 * full); 0 when memory runs out. */
static uint32_t node_alloc(sy_semindex_t *x)
{
    if (x->free_node) {
        uint32_t id = x->free_node;
        x->free_node = x->nodes[id].next;
        return id;
    }
    if (x->nodes_used == x->nodes_cap) {
        size_t cap = x->nodes_cap * 2;
        if (cap > x->max_entries + 1)
            cap = x->max_entries + 1;
        struct node *n = realloc(x->nodes, cap * sizeof *n);
        if (!n)
            return 0;
        atomic_fetch_add(&x->bytes, (cap - x->nodes_cap) * sizeof *n);
        x->nodes = n;
        x->nodes_cap = cap;
    }
    return (uint32_t)x->nodes_used++;
}

static void node_free(sy_semindex_t *x, uint32_t id)
{
    x->nodes[id].next = x->free_node;
    x->free_node = id;
}

/* Take entry i out of p (holding p's write lock): the hole is filled by the
 * last entry, its node unlinked and freed, and the reason counted. */
static void drop_at(sy_semindex_t *x, struct part *p, size_t i, int why)
{
    size_t last = p->n - 1, d = x->dims;
    uint32_t nd = p->node[i];
    slot_remove(p, slot_of(p, i));
    if (i != last) {
        p->slots[slot_of(p, last)] = (uint32_t)(i + 1);
        memcpy(p->vecs + i * d, p->vecs + last * d, d * sizeof(float));
        memcpy(p->keys[i], p->keys[last], SY_SEMINDEX_KEY_LEN);
        p->feats[i] = p->feats[last];
        p->expire[i] = p->expire[last];
        p->node[i] = p->node[last];
    }
    p->n = last;

    pthread_mutex_lock(&x->lru_mu);
    lru_unlink(x, nd);
    node_free(x, nd);
    x->count--;
    if (why == WHY_EVICT)
        x->evictions++;
    else if (why == WHY_EXPIRE)
        x->expired++;
    pthread_mutex_unlock(&x->lru_mu);

    /* keep the arrays within four times the entries (a failed shrink only
     * leaves them larger) */
    if (p->cap > MIN_CAP && p->n < p->cap / 4)
        (void)part_resize(x, p, p->cap / 2);
}

/* ---- partitions in the map ---------------------------------------------- */

static struct part **chain_find(struct shard *sh, const unsigned char *id)
{
    struct part **slot = bucket_of(sh, id);
    while (*slot && memcmp((*slot)->id, id, SY_SEMINDEX_KEY_LEN) != 0)
        slot = &(*slot)->hnext;
    return slot;
}

static void part_free(sy_semindex_t *x, struct part *p)
{
    atomic_fetch_sub(&x->bytes, arrays_bytes(x, p->cap) + sizeof *p);
    arrays_free(p);
    pthread_rwlock_destroy(&p->lock);
    free(p);
}

/* Double a shard's table (under its write lock). On allocation failure the
 * table keeps its size: chains get longer, nothing breaks. */
static void shard_grow(sy_semindex_t *x, struct shard *sh)
{
    size_t n = sh->nbuckets * 2;
    struct part **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < sh->nbuckets; i++) {
        struct part *p = sh->buckets[i];
        while (p) {
            struct part *next = p->hnext;
            struct part **head = &b[(hash32(p->id) >> 8) & (n - 1)];
            p->hnext = *head;
            *head = p;
            p = next;
        }
    }
    atomic_fetch_add(&x->bytes, (n - sh->nbuckets) * sizeof *b);
    free(sh->buckets);
    sh->buckets = b;
    sh->nbuckets = n;
}

/* Partition id with a reference the caller drops with part_put; created
 * empty when absent and create is set. NULL when absent (or out of
 * memory). */
static struct part *part_get(sy_semindex_t *x, const unsigned char *id, int create)
{
    struct shard *sh = shard_of(x, id);
    pthread_rwlock_rdlock(&sh->lock);
    struct part *p = *chain_find(sh, id);
    if (p)
        atomic_fetch_add(&p->refs, 1);
    pthread_rwlock_unlock(&sh->lock);
    if (p || !create)
        return p;

    pthread_rwlock_wrlock(&sh->lock);
    struct part **slot = chain_find(sh, id);
    p = *slot;
    if (!p && (p = calloc(1, sizeof *p)) != NULL) {
        if (pthread_rwlock_init(&p->lock, NULL) != 0) {
            free(p);
            p = NULL;
        } else {
            memcpy(p->id, id, SY_SEMINDEX_KEY_LEN);
            *slot = p;
            sh->count++;
            atomic_fetch_add(&x->bytes, sizeof *p);
            if (sh->count > sh->nbuckets)
                shard_grow(x, sh);
        }
    }
    if (p)
        atomic_fetch_add(&p->refs, 1);
    pthread_rwlock_unlock(&sh->lock);
    return p;
}

/* Free partition id if it is empty and nobody holds it. */
static void reap(sy_semindex_t *x, const unsigned char *id)
{
    struct shard *sh = shard_of(x, id);
    pthread_rwlock_wrlock(&sh->lock);
    struct part **slot = chain_find(sh, id);
    struct part *p = *slot;
    /* refs 0: every holder has unlocked p and let go (release), and nobody
     * can take it again while we hold the shard lock */
    if (p && atomic_load_explicit(&p->refs, memory_order_acquire) == 0 && p->n == 0) {
        *slot = p->hnext;
        sh->count--;
        part_free(x, p);
    }
    pthread_rwlock_unlock(&sh->lock);
}

/* Drop the reference part_get gave. empty: the caller saw p empty under its
 * lock (read before unlocking), so p may be freed. */
static void part_put(sy_semindex_t *x, struct part *p, int empty)
{
    unsigned char id[SY_SEMINDEX_KEY_LEN];
    if (empty)
        memcpy(id, p->id, sizeof id); /* p may be gone once let go */
    atomic_fetch_sub_explicit(&p->refs, 1, memory_order_release);
    if (empty)
        reap(x, id);
}

/* ---- the API ------------------------------------------------------------ */

sy_semindex_t *sy_semindex_new(size_t dims, size_t max_entries)
{
    if (dims == 0 || dims > SY_EMBED_MAX_DIMS || max_entries == 0 || max_entries > SY_SEMINDEX_MAX_ENTRIES)
        return NULL;
    sy_semindex_t *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->dims = dims;
    x->max_entries = max_entries;
    x->nodes_cap = max_entries + 1 < INITIAL_NODES ? max_entries + 1 : INITIAL_NODES;
    x->nodes = calloc(x->nodes_cap, sizeof *x->nodes);
    x->nodes_used = 1; /* the sentinel, its links pointing at itself */
    x->sweep_pass = 1;
    int locks = 0, ok = x->nodes != NULL;
    for (; ok && locks < SHARDS; locks++) {
        struct shard *sh = &x->shards[locks];
        sh->nbuckets = INITIAL_BUCKETS;
        sh->buckets = calloc(INITIAL_BUCKETS, sizeof *sh->buckets);
        if (!sh->buckets || pthread_rwlock_init(&sh->lock, NULL) != 0) {
            free(sh->buckets);
            ok = 0;
            break;
        }
    }
    if (ok && pthread_mutex_init(&x->lru_mu, NULL) == 0) {
        if (pthread_mutex_init(&x->sweep_mu, NULL) == 0) {
            atomic_init(&x->bytes, sizeof *x + x->nodes_cap * sizeof *x->nodes +
                                       SHARDS * INITIAL_BUCKETS * sizeof(struct part *));
            return x;
        }
        pthread_mutex_destroy(&x->lru_mu);
    }
    while (locks-- > 0) {
        pthread_rwlock_destroy(&x->shards[locks].lock);
        free(x->shards[locks].buckets);
    }
    free(x->nodes);
    free(x);
    return NULL;
}

void sy_semindex_free(sy_semindex_t *x)
{
    if (!x)
        return;
    for (int s = 0; s < SHARDS; s++) {
        struct shard *sh = &x->shards[s];
        for (size_t b = 0; b < sh->nbuckets; b++) {
            struct part *p = sh->buckets[b];
            while (p) {
                struct part *next = p->hnext;
                part_free(x, p);
                p = next;
            }
        }
        free(sh->buckets);
        pthread_rwlock_destroy(&sh->lock);
    }
    pthread_mutex_destroy(&x->lru_mu);
    pthread_mutex_destroy(&x->sweep_mu);
    free(x->nodes);
    free(x);
}

/* Remove key from partition id, counted as why. Returns 1 when removed. */
static int remove_entry(sy_semindex_t *x, const unsigned char *id, const unsigned char *key, uint64_t now_ns,
                        int why)
{
    struct part *p = part_get(x, id, 0);
    if (!p)
        return 0;
    pthread_rwlock_wrlock(&p->lock);
    long i = find(p, key);
    if (i >= 0) {
        if (why == WHY_EVICT && is_expired(p->expire[i], now_ns))
            why = WHY_EXPIRE;
        drop_at(x, p, (size_t)i, why);
    }
    int empty = p->n == 0;
    pthread_rwlock_unlock(&p->lock);
    part_put(x, p, empty);
    return i >= 0;
}

sy_err_t sy_semindex_put(sy_semindex_t *x, const unsigned char part[SY_SEMINDEX_KEY_LEN],
                         const unsigned char key[SY_SEMINDEX_KEY_LEN], const float *vec, const sy_semfeat_t *feat,
                         uint64_t expire_ns, uint64_t now_ns)
{
    if (!x || !part || !key || !vec || !feat)
        return SY_EBADFIELD;
    size_t d = x->dims;
    for (;;) {
        struct part *p = part_get(x, part, 1);
        if (!p)
            return SY_ENOMEM;
        pthread_rwlock_wrlock(&p->lock);
        long i = find(p, key);
        if (i >= 0) { /* replace in place */
            memcpy(p->vecs + (size_t)i * d, vec, d * sizeof(float));
            p->feats[i] = *feat;
            p->expire[i] = expire_ns;
            pthread_mutex_lock(&x->lru_mu);
            lru_unlink(x, p->node[i]);
            lru_push_recent(x, p->node[i]);
            pthread_mutex_unlock(&x->lru_mu);
            pthread_rwlock_unlock(&p->lock);
            part_put(x, p, 0);
            return SY_OK;
        }
        uint32_t nd = 0;
        int full = 0;
        unsigned char vpart[SY_SEMINDEX_KEY_LEN], vkey[SY_SEMINDEX_KEY_LEN];
        if (p->n < p->cap || part_resize(x, p, p->cap ? p->cap * 2 : MIN_CAP) == 0) {
            pthread_mutex_lock(&x->lru_mu);
            if (x->count < x->max_entries) {
                if ((nd = node_alloc(x)) != 0) {
                    memcpy(x->nodes[nd].part, part, SY_SEMINDEX_KEY_LEN);
                    memcpy(x->nodes[nd].key, key, SY_SEMINDEX_KEY_LEN);
                    lru_push_recent(x, nd);
                    x->count++;
                }
            } else { /* name the least recent entry; remove it below */
                struct node *v = &x->nodes[x->nodes[0].next];
                memcpy(vpart, v->part, sizeof vpart);
                memcpy(vkey, v->key, sizeof vkey);
                full = 1;
            }
            pthread_mutex_unlock(&x->lru_mu);
        }
        if (nd) {
            size_t at = p->n++;
            memcpy(p->vecs + at * d, vec, d * sizeof(float));
            memcpy(p->keys[at], key, SY_SEMINDEX_KEY_LEN);
            p->feats[at] = *feat;
            p->expire[at] = expire_ns;
            p->node[at] = nd;
            slot_insert(p, at);
        }
        int empty = p->n == 0;
        pthread_rwlock_unlock(&p->lock);
        if (!full) {
            part_put(x, p, empty);
            return nd ? SY_OK : SY_ENOMEM;
        }
        /* keep an empty partition we are about to fill; the victim goes
         * without any lock held, and then we try again */
        part_put(x, p, 0);
        remove_entry(x, vpart, vkey, now_ns, WHY_EVICT);
    }
}

/* The histogram bucket of a similarity (see sy_semindex_stats_t). */
static int sim_bucket(float s)
{
    if (!(s >= 0.0f))
        return 0;
    int k = (int)(s * 10.0f);
    return 1 + (k > 9 ? 9 : k);
}

int sy_semindex_search(sy_semindex_t *x, const unsigned char part[SY_SEMINDEX_KEY_LEN], const float *vec,
                       const sy_semfeat_t *feat, float threshold, uint64_t now_ns,
                       unsigned char key_out[SY_SEMINDEX_KEY_LEN], float *sim_out)
{
    struct shard *sh = shard_of(x, part);
    struct part *p = part_get(x, part, 0);
    float seen = -FLT_MAX, hit_sim = -FLT_MAX;
    long hit = -1;
    int candidate = 0;
    if (p) {
        pthread_rwlock_rdlock(&p->lock);
        size_t n = p->n, d = x->dims;
        const float *v = p->vecs;
        for (size_t i = 0; i < n; i++, v += d) {
            float s = dot(vec, v, d);
            /* the rest runs for a few entries only: the running best rises
             * rarely, and few entries reach the threshold */
            if (s > seen && !is_expired(p->expire[i], now_ns))
                seen = s;
            if (s >= threshold && s > hit_sim && !is_expired(p->expire[i], now_ns)) {
                candidate = 1;
                if (sy_semfeat_veto(feat, &p->feats[i]) == SY_SEMVETO_NONE) {
                    hit = (long)i;
                    hit_sim = s;
                }
            }
        }
        if (hit >= 0) {
            memcpy(key_out, p->keys[hit], SY_SEMINDEX_KEY_LEN);
            uint32_t nd = p->node[hit];
            pthread_mutex_lock(&x->lru_mu);
            lru_unlink(x, nd);
            lru_push_recent(x, nd);
            pthread_mutex_unlock(&x->lru_mu);
        }
        pthread_rwlock_unlock(&p->lock);
        part_put(x, p, 0);
    }
    float out = hit >= 0 ? hit_sim : seen > -FLT_MAX ? seen : -1.0f;
    if (sim_out)
        *sim_out = out;
    atomic_fetch_add_explicit(&sh->searches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(hit >= 0 ? &sh->hits : &sh->misses, 1, memory_order_relaxed);
    if (hit < 0 && candidate)
        atomic_fetch_add_explicit(&sh->vetoed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->sim[sim_bucket(out)], 1, memory_order_relaxed);
    return hit >= 0;
}

int sy_semindex_delete(sy_semindex_t *x, const unsigned char part[SY_SEMINDEX_KEY_LEN],
                       const unsigned char key[SY_SEMINDEX_KEY_LEN])
{
    return remove_entry(x, part, key, 0, WHY_DELETE);
}

/* Sweep the partitions of bucket b of shard sh at most *budget steps.
 * Returns 1 when the bucket is done for this pass. */
static int sweep_bucket(sy_semindex_t *x, struct shard *sh, size_t b, uint64_t now_ns, size_t *budget,
                        size_t *purged)
{
    unsigned char empties[REAP_BATCH][SY_SEMINDEX_KEY_LEN];
    size_t n_empty = 0;
    int done = 1;
    pthread_rwlock_rdlock(&sh->lock);
    if (b < sh->nbuckets) {
        for (struct part *p = sh->buckets[b]; p; p = p->hnext) {
            if (*budget == 0) {
                done = 0;
                break;
            }
            --*budget;
            /* the shard lock keeps p alive: no reference needed */
            pthread_rwlock_wrlock(&p->lock);
            if (p->swept_pass != x->sweep_pass) {
                while (p->sweep_pos < p->n && *budget > 0) {
                    --*budget;
                    if (is_expired(p->expire[p->sweep_pos], now_ns)) {
                        drop_at(x, p, p->sweep_pos, WHY_EXPIRE); /* the last entry moves in */
                        ++*purged;
                    } else {
                        p->sweep_pos++;
                    }
                }
                if (p->sweep_pos >= p->n) {
                    p->swept_pass = x->sweep_pass;
                    p->sweep_pos = 0;
                } else {
                    done = 0;
                }
            }
            if (p->n == 0 && n_empty < REAP_BATCH)
                memcpy(empties[n_empty++], p->id, SY_SEMINDEX_KEY_LEN);
            pthread_rwlock_unlock(&p->lock);
        }
    }
    pthread_rwlock_unlock(&sh->lock);
    for (size_t i = 0; i < n_empty; i++)
        reap(x, empties[i]);
    return done;
}

size_t sy_semindex_sweep(sy_semindex_t *x, uint64_t now_ns, size_t max_work)
{
    size_t budget = max_work ? max_work : DEFAULT_SWEEP_WORK, purged = 0;
    pthread_mutex_lock(&x->sweep_mu);
    while (budget > 0) {
        struct shard *sh = &x->shards[x->sweep_shard];
        pthread_rwlock_rdlock(&sh->lock);
        size_t nb = sh->nbuckets;
        pthread_rwlock_unlock(&sh->lock);
        if (x->sweep_bucket < nb) {
            budget--;
            if (!sweep_bucket(x, sh, x->sweep_bucket, now_ns, &budget, &purged))
                break; /* out of budget inside this bucket: resume here */
            x->sweep_bucket++;
            continue;
        }
        x->sweep_bucket = 0;
        if (++x->sweep_shard == SHARDS) { /* a pass is over: stop there */
            x->sweep_shard = 0;
            x->sweep_pass++;
            break;
        }
    }
    pthread_mutex_unlock(&x->sweep_mu);
    return purged;
}

void sy_semindex_stats(sy_semindex_t *x, sy_semindex_stats_t *st)
{
    memset(st, 0, sizeof *st);
    for (int s = 0; s < SHARDS; s++) {
        struct shard *sh = &x->shards[s];
        pthread_rwlock_rdlock(&sh->lock);
        st->partitions += sh->count;
        pthread_rwlock_unlock(&sh->lock);
        st->searches += atomic_load_explicit(&sh->searches, memory_order_relaxed);
        st->hits += atomic_load_explicit(&sh->hits, memory_order_relaxed);
        st->misses += atomic_load_explicit(&sh->misses, memory_order_relaxed);
        st->vetoed += atomic_load_explicit(&sh->vetoed, memory_order_relaxed);
        for (int k = 0; k < 11; k++)
            st->sim_buckets[k] += atomic_load_explicit(&sh->sim[k], memory_order_relaxed);
    }
    pthread_mutex_lock(&x->lru_mu);
    st->entries = x->count;
    st->evictions = x->evictions;
    st->expired = x->expired;
    pthread_mutex_unlock(&x->lru_mu);
    st->bytes = atomic_load(&x->bytes);
}
