/*
 * memory_test.c - unit tests for src/cache/memory.c with an injected clock:
 * hit and miss, the TTL boundary, LRU order, the byte bound and evictions,
 * values that outlive replacement, refusal of oversized values, sweep, stats,
 * and a four-thread stress run (run it under ASan, and TSan when available).
 */
#include "cache/memory.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

/* A key derived from n (splitmix64 over four words): uniform, like SHA-256. */
static void mkkey(unsigned char key[SY_MEMCACHE_KEY_LEN], uint64_t n)
{
    uint64_t x = n * 4 + 0x1234567;
    for (int i = 0; i < 4; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        memcpy(key + 8 * i, &z, 8);
    }
}

static sy_err_t put_str(sy_memcache_t *c, uint64_t k, const char *s, uint64_t ttl, uint64_t now)
{
    unsigned char key[SY_MEMCACHE_KEY_LEN];
    mkkey(key, k);
    return sy_memcache_put(c, key, s, strlen(s), ttl, now);
}

static sy_err_t put_len(sy_memcache_t *c, uint64_t k, size_t len, uint64_t ttl, uint64_t now)
{
    unsigned char key[SY_MEMCACHE_KEY_LEN], buf[4096];
    cr_assert(len <= sizeof buf);
    mkkey(key, k);
    memset(buf, (int)(k & 0xff), len);
    return sy_memcache_put(c, key, buf, len, ttl, now);
}

static const sy_cache_val_t *get(sy_memcache_t *c, uint64_t k, uint64_t now)
{
    unsigned char key[SY_MEMCACHE_KEY_LEN];
    mkkey(key, k);
    return sy_memcache_get(c, key, now);
}

/* 1 when k is present and fresh at now (a get: it refreshes recency). */
static int has(sy_memcache_t *c, uint64_t k, uint64_t now)
{
    const sy_cache_val_t *v = get(c, k, now);
    sy_cache_val_release(v);
    return v != NULL;
}

static sy_memcache_stats_t stats(sy_memcache_t *c)
{
    sy_memcache_stats_t st;
    sy_memcache_stats(c, &st);
    return st;
}

Test(memcache, new_rejects_bad_arguments_and_free_null_is_a_no_op)
{
    cr_assert_null(sy_memcache_new(1 << 20, SY_MEMCACHE_MAX_SHARDS + 1));
    cr_assert_null(sy_memcache_new(sy_memcache_charge(0) - 1, 1));
    cr_assert_null(sy_memcache_new(16 * sy_memcache_charge(0) - 1, 16));
    sy_memcache_t *c = sy_memcache_new(16 * sy_memcache_charge(0), 0);
    cr_assert_not_null(c, "0 shards means the default of 16");
    sy_memcache_free(c);
    sy_memcache_free(NULL);
    sy_cache_val_release(NULL);
}

Test(memcache, hit_after_put_and_miss_on_absent_key)
{
    sy_memcache_t *c = sy_memcache_new(1 << 20, 4);
    cr_assert_eq(put_str(c, 1, "hello", 1000, 0), SY_OK);
    const sy_cache_val_t *v = get(c, 1, 10);
    cr_assert_not_null(v);
    cr_assert_eq(v->len, 5);
    cr_assert_eq(memcmp(v->data, "hello", 5), 0);
    cr_assert_eq(v->expire_ns, 1000);
    sy_cache_val_release(v);
    cr_assert_null(get(c, 2, 10));

    sy_memcache_stats_t st = stats(c);
    cr_assert_eq(st.hits, 1);
    cr_assert_eq(st.misses, 1);
    cr_assert_eq(st.puts, 1);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.bytes, sy_memcache_charge(5));
    sy_memcache_free(c);
}

Test(memcache, empty_value_is_stored)
{
    sy_memcache_t *c = sy_memcache_new(1 << 20, 1);
    unsigned char key[SY_MEMCACHE_KEY_LEN];
    mkkey(key, 7);
    cr_assert_eq(sy_memcache_put(c, key, NULL, 0, 0, 0), SY_OK);
    const sy_cache_val_t *v = sy_memcache_get(c, key, 5);
    cr_assert_not_null(v);
    cr_assert_eq(v->len, 0);
    sy_cache_val_release(v);
    sy_memcache_free(c);
}

/* Stored at t with ttl d: fresh for now < t + d, expired at now == t + d. */
Test(memcache, ttl_boundary_is_exclusive)
{
    sy_memcache_t *c = sy_memcache_new(1 << 20, 1);
    cr_assert_eq(put_str(c, 1, "x", 500, 1000), SY_OK);
    cr_assert(has(c, 1, 1000));
    cr_assert(has(c, 1, 1499), "fresh one nanosecond before the TTL ends");
    cr_assert_not(has(c, 1, 1500), "expired exactly at put time + ttl");
    sy_memcache_stats_t st = stats(c);
    cr_assert_eq(st.hits, 2);
    cr_assert_eq(st.misses, 1);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.entries, 0, "an expired entry met by a get is dropped");
    cr_assert_eq(st.bytes, 0);
    cr_assert_not(has(c, 1, 1400), "dropped for good, even if the clock goes back");
    sy_memcache_free(c);
}

Test(memcache, zero_ttl_never_expires_and_large_ttl_saturates)
{
    sy_memcache_t *c = sy_memcache_new(1 << 20, 1);
    cr_assert_eq(put_str(c, 1, "forever", 0, 5), SY_OK);
    cr_assert(has(c, 1, UINT64_MAX));
    cr_assert_eq(put_str(c, 2, "late", 100, UINT64_MAX - 10), SY_OK);
    const sy_cache_val_t *v = get(c, 2, UINT64_MAX - 1);
    cr_assert_not_null(v, "now + ttl past the clock's end saturates instead of wrapping");
    cr_assert_eq(v->expire_ns, UINT64_MAX);
    sy_cache_val_release(v);
    sy_memcache_free(c);
}

Test(memcache, get_refreshes_recency)
{
    /* One shard holding exactly three 100-byte entries. */
    sy_memcache_t *c = sy_memcache_new(3 * sy_memcache_charge(100), 1);
    for (uint64_t k = 1; k <= 3; k++)
        cr_assert_eq(put_len(c, k, 100, 0, k), SY_OK);
    cr_assert(has(c, 1, 10)); /* 1 becomes the hottest: 2 is now the coldest */
    cr_assert_eq(put_len(c, 4, 100, 0, 11), SY_OK);
    cr_assert_not(has(c, 2, 12), "the least recently used entry is evicted");
    cr_assert(has(c, 3, 13));
    cr_assert(has(c, 1, 14));
    cr_assert(has(c, 4, 15));
    /* order now (cold to hot): 3 1 4; a put of 5 evicts 3 */
    cr_assert_eq(put_len(c, 5, 100, 0, 16), SY_OK);
    cr_assert_not(has(c, 3, 17));
    cr_assert_eq(stats(c).evictions, 2);
    cr_assert_eq(stats(c).entries, 3);
    sy_memcache_free(c);
}

Test(memcache, replacing_refreshes_recency_and_is_not_an_eviction)
{
    sy_memcache_t *c = sy_memcache_new(2 * sy_memcache_charge(100), 1);
    cr_assert_eq(put_len(c, 1, 100, 0, 0), SY_OK);
    cr_assert_eq(put_len(c, 2, 100, 0, 0), SY_OK);
    cr_assert_eq(put_len(c, 1, 100, 0, 0), SY_OK); /* replace: 1 hot, 2 cold */
    sy_memcache_stats_t st = stats(c);
    cr_assert_eq(st.evictions, 0);
    cr_assert_eq(st.entries, 2);
    cr_assert_eq(st.puts, 3);
    cr_assert_eq(put_len(c, 3, 100, 0, 0), SY_OK);
    cr_assert_not(has(c, 2, 1));
    cr_assert(has(c, 1, 1));
    sy_memcache_free(c);
}

Test(memcache, byte_bound_is_enforced_and_evictions_counted)
{
    size_t max = 10 * sy_memcache_charge(100) + 50;
    sy_memcache_t *c = sy_memcache_new(max, 1);
    for (uint64_t k = 0; k < 100; k++) {
        cr_assert_eq(put_len(c, k, 100, 0, k), SY_OK);
        sy_memcache_stats_t st = stats(c);
        cr_assert_leq(st.bytes, max);
        cr_assert_eq(st.bytes, st.entries * sy_memcache_charge(100));
    }
    sy_memcache_stats_t st = stats(c);
    cr_assert_eq(st.entries, 10);
    cr_assert_eq(st.evictions, 90);
    cr_assert_eq(st.expired, 0);
    for (uint64_t k = 0; k < 90; k++)
        cr_assert_not(has(c, k, 200), "key %llu should have been evicted", (unsigned long long)k);
    for (uint64_t k = 90; k < 100; k++)
        cr_assert(has(c, k, 200), "key %llu should still be there", (unsigned long long)k);

    /* A bigger value evicts as many cold entries as it needs, and no more. */
    size_t need = 0, big = sy_memcache_charge(350);
    while (st.bytes - need * sy_memcache_charge(100) + big > max)
        need++;
    cr_assert_gt(need, 1);
    cr_assert_eq(put_len(c, 1000, 350, 0, 300), SY_OK);
    st = stats(c);
    cr_assert_leq(st.bytes, max);
    cr_assert_eq(st.evictions, 90 + need);
    cr_assert_eq(st.entries, 10 - need + 1);
    for (uint64_t k = 90; k < 90 + need; k++)
        cr_assert_not(has(c, k, 400));
    sy_memcache_free(c);
}

Test(memcache, bound_holds_over_shards_with_mixed_sizes)
{
    size_t max = 64 * 1024;
    sy_memcache_t *c = sy_memcache_new(max, 16);
    uint64_t x = 88172645463325252ull;
    for (uint64_t k = 0; k < 5000; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        cr_assert_eq(put_len(c, k % 700, (size_t)(x % 2000), x % 3 ? 0 : 50, k), SY_OK);
        if (k % 97 == 0)
            cr_assert_leq(stats(c).bytes, max);
    }
    sy_memcache_stats_t st = stats(c);
    cr_assert_leq(st.bytes, max);
    cr_assert_gt(st.evictions + st.expired, 0);
    cr_assert_eq(st.refusals, 0);
    sy_memcache_free(c);
}

Test(memcache, expired_entries_reached_by_eviction_count_as_expired)
{
    sy_memcache_t *c = sy_memcache_new(2 * sy_memcache_charge(10), 1);
    cr_assert_eq(put_len(c, 1, 10, 5, 0), SY_OK); /* expires at 5 */
    cr_assert_eq(put_len(c, 2, 10, 0, 0), SY_OK);
    cr_assert_eq(put_len(c, 3, 10, 0, 10), SY_OK); /* pushes 1 out, already expired */
    sy_memcache_stats_t st = stats(c);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.evictions, 0);
    sy_memcache_free(c);
}

Test(memcache, a_held_value_outlives_replacement_delete_eviction_and_free)
{
    sy_memcache_t *c = sy_memcache_new(2 * sy_memcache_charge(16), 1);
    unsigned char key[SY_MEMCACHE_KEY_LEN];
    mkkey(key, 1);

    cr_assert_eq(put_str(c, 1, "old value", 0, 0), SY_OK);
    const sy_cache_val_t *old = get(c, 1, 1);
    cr_assert_eq(put_str(c, 1, "new value", 0, 2), SY_OK);
    const sy_cache_val_t *cur = get(c, 1, 3);
    cr_assert_not_null(cur);
    cr_assert_eq(memcmp(cur->data, "new value", 9), 0);
    cr_assert_eq(memcmp(old->data, "old value", 9), 0, "replaced, but still readable");
    sy_cache_val_release(old); /* the last reference: freed here */

    cr_assert_eq(sy_memcache_delete(c, key), 1);
    cr_assert_eq(sy_memcache_delete(c, key), 0);
    cr_assert_null(sy_memcache_get(c, key, 4));
    cr_assert_eq(memcmp(cur->data, "new value", 9), 0, "deleted, but still readable");
    sy_cache_val_release(cur);

    cr_assert_eq(put_str(c, 2, "evict me", 0, 5), SY_OK);
    const sy_cache_val_t *ev = get(c, 2, 6);
    const sy_cache_val_t *extra = sy_cache_val_retain(ev);
    cr_assert_eq(extra, ev);
    cr_assert_eq(put_str(c, 3, "a", 0, 7), SY_OK);
    cr_assert_eq(put_str(c, 4, "b", 0, 8), SY_OK); /* 2 is evicted */
    cr_assert_eq(stats(c).evictions, 1);
    cr_assert_eq(stats(c).deletes, 1);
    cr_assert_eq(memcmp(ev->data, "evict me", 8), 0);
    sy_cache_val_release(ev);
    cr_assert_eq(memcmp(extra->data, "evict me", 8), 0, "one reference left");
    sy_cache_val_release(extra);

    const sy_cache_val_t *last = get(c, 4, 9);
    sy_memcache_free(c);
    cr_assert_eq(memcmp(last->data, "b", 1), 0, "the cache is gone, the value is not");
    sy_cache_val_release(last);
}

Test(memcache, oversized_values_are_refused_and_counted)
{
    size_t max = 1000;
    sy_memcache_t *c = sy_memcache_new(max, 1);
    size_t fits = max - sy_memcache_charge(0);
    cr_assert_eq(put_len(c, 1, 10, 0, 0), SY_OK);
    cr_assert_eq(put_len(c, 1, fits + 1, 0, 1), SY_ETOOLARGE);
    sy_memcache_stats_t st = stats(c);
    cr_assert_eq(st.refusals, 1);
    cr_assert_eq(st.puts, 1);
    cr_assert(has(c, 1, 2), "a refused replacement keeps the existing entry");
    cr_assert_eq(put_len(c, 2, fits, 0, 3), SY_OK, "a value exactly the shard's share fits");
    st = stats(c);
    cr_assert_eq(st.bytes, max);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.evictions, 1);
    sy_memcache_free(c);

    /* The bound is per shard: max_bytes / shards. */
    c = sy_memcache_new(4 * max, 4);
    cr_assert_eq(put_len(c, 1, fits + 1, 0, 0), SY_ETOOLARGE);
    cr_assert_eq(put_len(c, 1, fits, 0, 0), SY_OK);
    sy_memcache_free(c);
}

Test(memcache, sweep_purges_expired_entries_incrementally)
{
    sy_memcache_t *c = sy_memcache_new(1 << 22, 16);
    for (uint64_t k = 0; k < 300; k++)
        cr_assert_eq(put_len(c, k, 20, k % 2 ? 1000 : 0, 0), SY_OK); /* odd keys expire at 1000 */
    cr_assert_eq(sy_memcache_sweep(c, 999, 1 << 20), 0, "nothing is expired yet");
    cr_assert_eq(stats(c).entries, 300);

    /* A small budget: many calls, each purging a little, together all 150. */
    size_t purged = 0, calls = 0;
    while (purged < 150 && calls < 10000) {
        size_t n = sy_memcache_sweep(c, 1000, 8);
        cr_assert_leq(n, 16); /* the budget, plus at most the rest of one chain */
        purged += n;
        calls++;
    }
    cr_assert_eq(purged, 150, "purged %zu after %zu calls", purged, calls);
    cr_assert_gt(calls, 10, "the budget should have split the work");
    sy_memcache_stats_t st = stats(c);
    cr_assert_eq(st.entries, 150);
    cr_assert_eq(st.expired, 150);
    cr_assert_eq(st.bytes, 150 * sy_memcache_charge(20));
    for (uint64_t k = 0; k < 300; k += 2)
        cr_assert(has(c, k, 5000));
    cr_assert_eq(sy_memcache_sweep(c, 5000, 0), 0);
    sy_memcache_free(c);
}

Test(memcache, sweep_with_a_budget_of_one_still_makes_progress)
{
    sy_memcache_t *c = sy_memcache_new(1 << 20, 2);
    for (uint64_t k = 0; k < 20; k++)
        cr_assert_eq(put_len(c, k, 1, 10, 0), SY_OK);
    size_t purged = 0;
    for (int i = 0; i < 100000 && purged < 20; i++)
        purged += sy_memcache_sweep(c, 10, 1);
    cr_assert_eq(purged, 20);
    cr_assert_eq(stats(c).entries, 0);
    sy_memcache_free(c);
}

Test(memcache, stats_are_totals_over_shards)
{
    sy_memcache_t *c = sy_memcache_new(1 << 22, 8);
    for (uint64_t k = 0; k < 200; k++)
        cr_assert_eq(put_len(c, k, 64, 100, 0), SY_OK);
    for (uint64_t k = 0; k < 400; k++) /* 200 hits, 200 misses */
        has(c, k, 50);
    for (uint64_t k = 0; k < 50; k++) /* 50 expired misses */
        has(c, k, 100);
    unsigned char key[SY_MEMCACHE_KEY_LEN];
    for (uint64_t k = 50; k < 60; k++) {
        mkkey(key, k);
        cr_assert_eq(sy_memcache_delete(c, key), 1);
    }
    sy_memcache_stats_t st = stats(c);
    cr_assert_eq(st.max_bytes, 1 << 22);
    cr_assert_eq(st.puts, 200);
    cr_assert_eq(st.hits, 200);
    cr_assert_eq(st.misses, 250);
    cr_assert_eq(st.expired, 50);
    cr_assert_eq(st.deletes, 10);
    cr_assert_eq(st.entries, 140);
    cr_assert_eq(st.bytes, 140 * sy_memcache_charge(64));
    cr_assert_eq(st.evictions, 0);
    cr_assert_eq(st.refusals, 0);
    sy_memcache_free(c);
}

/* Four threads put, get, hold, release, delete and sweep over 97 shared keys
 * in a cache small enough to evict all the time. Every value read must be
 * intact (its bytes say which key and length wrote it); afterwards the
 * counters must add up, the bound must hold, and ASan must see no leak. */
#define STRESS_THREADS 4
#define STRESS_OPS 100000
#define STRESS_KEYS 97
#define STRESS_HOLD 8

struct stress {
    sy_memcache_t *c;
    unsigned id;
    uint64_t gets, hits, puts, refused, deletes, bad;
};

static unsigned char pattern(uint64_t k, size_t len, size_t i)
{
    return (unsigned char)(k * 131 + len * 7 + i);
}

static void *stress_run(void *arg)
{
    struct stress *t = arg;
    const sy_cache_val_t *held[STRESS_HOLD] = {0};
    unsigned char key[SY_MEMCACHE_KEY_LEN], buf[1200];
    uint64_t x = 0x9e3779b97f4a7c15ull * (t->id + 1);
    for (uint64_t i = 0; i < STRESS_OPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t k = x % STRESS_KEYS, now = i * 10;
        mkkey(key, k);
        unsigned op = (unsigned)(x >> 40) % 16;
        if (op < 7) {
            size_t len = 8 + (size_t)(x >> 20) % 1100 + (k == 0 ? 20000 : 0); /* key 0: too large */
            if (len <= sizeof buf) {
                for (size_t j = 0; j < len; j++)
                    buf[j] = pattern(k, len, j);
            }
            sy_err_t rc = sy_memcache_put(t->c, key, len <= sizeof buf ? buf : NULL, len,
                                          (x >> 50) % 2 ? 0 : 5000, now);
            if (rc == SY_OK)
                t->puts++;
            else if (rc == SY_ETOOLARGE)
                t->refused++;
            else
                t->bad++;
        } else if (op < 15) {
            const sy_cache_val_t *v = sy_memcache_get(t->c, key, now);
            t->gets++;
            if (!v)
                continue;
            t->hits++;
            for (size_t j = 0; j < v->len; j++)
                if (v->data[j] != pattern(k, v->len, j)) {
                    t->bad++;
                    break;
                }
            unsigned slot = (unsigned)(i % STRESS_HOLD);
            sy_cache_val_release(held[slot]); /* released long after, maybe evicted */
            held[slot] = v;
        } else if (x & 1) {
            t->deletes += (uint64_t)sy_memcache_delete(t->c, key);
        } else {
            sy_memcache_sweep(t->c, now, 64);
        }
    }
    for (unsigned s = 0; s < STRESS_HOLD; s++)
        sy_cache_val_release(held[s]);
    return NULL;
}

Test(memcache, concurrent_threads_keep_totals_consistent, .timeout = 120)
{
    /* 4 KB per shard, about 6 keys of up to 1.1 KB each: constant eviction */
    size_t max = 16 * 4096;
    sy_memcache_t *c = sy_memcache_new(max, 16);
    struct stress t[STRESS_THREADS];
    pthread_t th[STRESS_THREADS];
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        t[i] = (struct stress){.c = c, .id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, stress_run, &t[i]), 0);
    }
    uint64_t gets = 0, hits = 0, puts = 0, refused = 0, deletes = 0, bad = 0;
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        pthread_join(th[i], NULL);
        gets += t[i].gets, hits += t[i].hits, puts += t[i].puts;
        refused += t[i].refused, deletes += t[i].deletes, bad += t[i].bad;
    }
    cr_assert_eq(bad, 0, "%llu corrupt reads or failed puts", (unsigned long long)bad);
    sy_memcache_stats_t st = stats(c);
    cr_log_info("gets %llu hits %llu puts %llu refused %llu evictions %llu expired %llu "
                "deletes %llu",
                (unsigned long long)gets, (unsigned long long)st.hits, (unsigned long long)st.puts,
                (unsigned long long)st.refusals, (unsigned long long)st.evictions,
                (unsigned long long)st.expired, (unsigned long long)st.deletes);
    cr_assert_eq(st.hits, hits);
    cr_assert_eq(st.hits + st.misses, gets);
    cr_assert_eq(st.puts, puts);
    cr_assert_eq(st.refusals, refused);
    cr_assert_gt(refused, 0);
    cr_assert_eq(st.deletes, deletes);
    cr_assert_gt(hits, 0);
    cr_assert_gt(st.evictions, 0);
    cr_assert_leq(st.bytes, max);
    cr_assert_leq(st.entries, STRESS_KEYS);
    /* Every stored entry left by exactly one door, or is still there. Puts
     * that replaced a live entry are the remainder, so it cannot be negative. */
    cr_assert_geq(st.puts, st.entries + st.evictions + st.expired + st.deletes);
    sy_memcache_free(c); /* the leak check covers entries and held values */
}
