/*
 * sqlite_test.c - unit tests for src/cache/sqlite.c, on real SQLite files
 * in a fresh temporary directory per test: put/flush/get and misses,
 * replacement, TTL with an injected clock, cleanup (asked for and on the
 * writer's timer), eviction of the least recently used under the byte
 * bound, reopening after close, vectors (round trip, expiry, cascade,
 * orphans), full write and read queues, refusals, what open says about a
 * file that is not ours, and gets from several threads while writing.
 */
#include "cache/sqlite.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/embed.h"

static char dir[256];
static char db_path[300];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/sy-sqlcache-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db_path, sizeof db_path, "%s/cache.db", dir);
}

static void teardown(void)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(sqlcache, .init = setup, .fini = teardown, .timeout = 30);

/* A key derived from n (splitmix64 over four words): uniform, like SHA-256. */
static void mkkey(unsigned char key[SY_SQLCACHE_KEY_LEN], uint64_t n)
{
    uint64_t x = n * 4 + 0x7654321;
    for (int i = 0; i < 4; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        memcpy(key + 8 * i, &z, 8);
    }
}

static sy_sqlcache_t *open_with(uint64_t max_bytes, size_t write_queue, size_t read_queue, unsigned readers)
{
    sy_sqlcache_opts_t o = {.max_bytes = max_bytes,
                            .cleanup_ms = SY_SQLCACHE_NO_TIMER,
                            .write_queue = write_queue,
                            .read_queue = read_queue,
                            .readers = readers};
    sy_error_t err = {0};
    sy_sqlcache_t *c = sy_sqlcache_open_opts(db_path, &o, &err);
    cr_assert_not_null(c, "open: %s", err.message);
    return c;
}

static sy_sqlcache_t *open_default(uint64_t max_bytes)
{
    return open_with(max_bytes, 0, 0, 0);
}

/* The value stored under key n in most tests: "value-<n>" and a tail of
 * extra bytes derived from n. */
static size_t value_of(uint64_t n, size_t extra, unsigned char *buf, size_t cap)
{
    int len = snprintf((char *)buf, cap, "value-%llu:", (unsigned long long)n);
    size_t total = (size_t)len + extra;
    cr_assert(total <= cap);
    for (size_t i = (size_t)len; i < total; i++)
        buf[i] = (unsigned char)((n * 31 + i) & 0xff);
    return total;
}

/* The extra bytes that make key n's value total bytes long. */
static size_t extra_for(uint64_t n, size_t total)
{
    return total - (size_t)snprintf(NULL, 0, "value-%llu:", (unsigned long long)n);
}

static int put_n(sy_sqlcache_t *c, uint64_t n, size_t extra, uint64_t expire_ms)
{
    unsigned char key[SY_SQLCACHE_KEY_LEN], buf[8192];
    mkkey(key, n);
    size_t len = value_of(n, extra, buf, sizeof buf);
    return sy_sqlcache_put(c, key, buf, len, expire_ms);
}

/* ---- a synchronous get ---------------------------------------------------- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    const sy_cache_val_t *v;
    uint64_t expire_ms;
    pthread_t thread;
} waiter_t;

static void waiter_cb(void *ud, const sy_cache_val_t *v, uint64_t expire_ms)
{
    waiter_t *w = ud;
    pthread_mutex_lock(&w->mu);
    w->v = v;
    w->expire_ms = expire_ms;
    w->thread = pthread_self();
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Get key n at now_ms and wait for the answer (at most 5 s). Returns the
 * value (release it) or NULL; *expire gets the row's expiry. */
static const sy_cache_val_t *get_n(sy_sqlcache_t *c, uint64_t n, uint64_t now_ms, uint64_t *expire)
{
    unsigned char key[SY_SQLCACHE_KEY_LEN];
    mkkey(key, n);
    waiter_t w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    cr_assert_eq(sy_sqlcache_get(c, key, now_ms, waiter_cb, &w), SY_OK);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        cr_assert_eq(pthread_cond_timedwait(&w.cv, &w.mu, &dl), 0, "the get was never answered");
    pthread_mutex_unlock(&w.mu);
    cr_assert(!pthread_equal(w.thread, pthread_self()), "the callback runs on a reader thread");
    if (expire)
        *expire = w.expire_ms;
    return w.v;
}

/* 1 when key n is present and fresh at now_ms with its expected value
 * (a get: it counts as a use). */
static int has_n(sy_sqlcache_t *c, uint64_t n, size_t extra, uint64_t now_ms)
{
    const sy_cache_val_t *v = get_n(c, n, now_ms, NULL);
    if (!v)
        return 0;
    unsigned char buf[8192];
    size_t len = value_of(n, extra, buf, sizeof buf);
    cr_assert_eq(v->len, len, "key %llu: length %zu, expected %zu", (unsigned long long)n, v->len, len);
    cr_assert_eq(memcmp(v->data, buf, len), 0, "key %llu: wrong bytes", (unsigned long long)n);
    sy_cache_val_release(v);
    return 1;
}

static sy_sqlcache_stats_t stats(sy_sqlcache_t *c)
{
    sy_sqlcache_stats_t st;
    sy_sqlcache_stats(c, &st);
    return st;
}

/* ---- basics ------------------------------------------------------------------ */

Test(sqlcache, put_flush_get_and_miss)
{
    sy_sqlcache_t *c = open_default(1 << 20);
    unsigned char key[SY_SQLCACHE_KEY_LEN];
    mkkey(key, 1);
    cr_assert_eq(sy_sqlcache_put(c, key, "hello", 5, 0), SY_OK);
    sy_sqlcache_flush(c);

    uint64_t exp = 99;
    const sy_cache_val_t *v = get_n(c, 1, 1000, &exp);
    cr_assert_not_null(v);
    cr_assert_eq(v->len, 5);
    cr_assert_eq(memcmp(v->data, "hello", 5), 0);
    cr_assert_eq(v->expire_ns, 0);
    cr_assert_eq(exp, 0, "no expiry");
    sy_cache_val_release(v);

    exp = 99;
    cr_assert_null(get_n(c, 2, 1000, &exp), "absent key");
    cr_assert_eq(exp, 0);

    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.hits, 1);
    cr_assert_eq(st.misses, 1);
    cr_assert_eq(st.puts, 1);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.bytes, sy_sqlcache_charge(5));
    cr_assert_eq(st.max_bytes, 1 << 20);
    cr_assert_eq(st.errors, 0);
    cr_assert_eq(st.dropped, 0);
    sy_sqlcache_close(c);
    sy_sqlcache_close(NULL);
}

Test(sqlcache, empty_value_replacement_and_delete)
{
    sy_sqlcache_t *c = open_default(1 << 20);
    unsigned char key[SY_SQLCACHE_KEY_LEN];
    mkkey(key, 7);
    cr_assert_eq(sy_sqlcache_put(c, key, NULL, 0, 0), SY_OK);
    sy_sqlcache_flush(c);
    const sy_cache_val_t *v = get_n(c, 7, 0, NULL);
    cr_assert_not_null(v, "an empty value is a hit");
    cr_assert_eq(v->len, 0);
    sy_cache_val_release(v);

    cr_assert_eq(put_n(c, 7, 100, 0), SY_OK);
    sy_sqlcache_flush(c);
    cr_assert(has_n(c, 7, 100, 0), "the replacement is read back");
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.entries, 1, "a replacement is one row");
    cr_assert_eq(st.bytes, sy_sqlcache_charge(value_of(7, 100, (unsigned char[256]){0}, 256)));
    cr_assert_eq(st.puts, 2);

    cr_assert_eq(sy_sqlcache_delete(c, key), SY_OK);
    sy_sqlcache_flush(c);
    cr_assert_not(has_n(c, 7, 100, 0));
    st = stats(c);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.bytes, 0);
    cr_assert_eq(st.deletes, 1);
}

/* Expiring at e: fresh for now < e, expired from now == e on. */
Test(sqlcache, ttl_with_injected_time)
{
    sy_sqlcache_t *c = open_default(1 << 20);
    cr_assert_eq(put_n(c, 1, 10, 1000), SY_OK);
    sy_sqlcache_flush(c);

    uint64_t exp = 0;
    const sy_cache_val_t *v = get_n(c, 1, 999, &exp);
    cr_assert_not_null(v, "fresh one millisecond before its expiry");
    cr_assert_eq(exp, 1000, "the row's absolute expiry comes with the value");
    sy_cache_val_release(v);
    cr_assert_not(has_n(c, 1, 10, 1000), "expired exactly at its expiry");
    cr_assert_not(has_n(c, 1, 10, 5000));
    cr_assert(has_n(c, 1, 10, 0), "a get does not delete: an earlier clock still sees it");

    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.entries, 1, "only cleanup deletes expired rows");
    cr_assert_eq(st.hits, 2);
    cr_assert_eq(st.misses, 2);
    sy_sqlcache_close(c);
}

Test(sqlcache, cleanup_deletes_expired_rows)
{
    sy_sqlcache_t *c = open_default(1 << 20);
    cr_assert_eq(put_n(c, 1, 0, 1000), SY_OK);
    cr_assert_eq(put_n(c, 2, 0, 2000), SY_OK);
    cr_assert_eq(put_n(c, 3, 0, 0), SY_OK);

    sy_sqlcache_cleanup(c, 1500); /* flushes first */
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.entries, 2);
    cr_assert_eq(st.expired, 1);
    cr_assert_not(has_n(c, 1, 0, 0), "the row is gone, whatever the reader's clock");
    cr_assert(has_n(c, 2, 0, 0));

    sy_sqlcache_cleanup(c, 2000);
    st = stats(c);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.expired, 2);
    cr_assert_eq(st.bytes, sy_sqlcache_charge(value_of(3, 0, (unsigned char[64]){0}, 64)));
    cr_assert(has_n(c, 3, 0, UINT64_MAX / 2), "no expiry: kept");
    cr_assert_eq(st.evictions, 0);
    sy_sqlcache_close(c);
}

Test(sqlcache, cleanup_runs_on_the_writers_timer)
{
    sy_sqlcache_opts_t o = {.max_bytes = 1 << 20, .cleanup_ms = 20};
    sy_error_t err;
    sy_sqlcache_t *c = sy_sqlcache_open_opts(db_path, &o, &err);
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_eq(put_n(c, 1, 0, 1), SY_OK); /* unix ms 1: long past on the wall clock */
    cr_assert_eq(put_n(c, 2, 0, 0), SY_OK);
    sy_sqlcache_flush(c);
    for (int i = 0; i < 300 && stats(c).expired == 0; i++)
        usleep(10000);
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.expired, 1, "the timer's pass deleted the expired row");
    cr_assert_eq(st.entries, 1);
    sy_sqlcache_close(c);
}

/* ---- the bound ---------------------------------------------------------------- */

Test(sqlcache, eviction_keeps_the_bound_and_spares_recently_used)
{
    const size_t total = 1008; /* every value here is this long */
    uint64_t one = sy_sqlcache_charge(total);
    sy_sqlcache_t *c = open_default(10 * one);
    for (uint64_t n = 0; n < 10; n++)
        cr_assert_eq(put_n(c, n, extra_for(n, total), 0), SY_OK);
    sy_sqlcache_flush(c);
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.entries, 10);
    cr_assert_eq(st.bytes, 10 * one);
    cr_assert_eq(st.evictions, 0);

    /* Use 0, 1 and 2: the oldest puts become the most recently used. */
    for (uint64_t n = 0; n < 3; n++)
        cr_assert(has_n(c, n, extra_for(n, total), 0));
    sy_sqlcache_flush(c); /* applies the recorded hits */

    for (uint64_t n = 100; n < 103; n++)
        cr_assert_eq(put_n(c, n, extra_for(n, total), 0), SY_OK);
    sy_sqlcache_flush(c);
    st = stats(c);
    cr_assert_eq(st.evictions, 3);
    cr_assert_eq(st.entries, 10);
    cr_assert_leq(st.bytes, 10 * one);
    for (uint64_t n = 0; n < 3; n++)
        cr_assert(has_n(c, n, extra_for(n, total), 0), "key %llu was used and must survive", (unsigned long long)n);
    for (uint64_t n = 3; n < 6; n++)
        cr_assert_not(has_n(c, n, extra_for(n, total), 0), "key %llu was the least recently used",
                      (unsigned long long)n);
    for (uint64_t n = 6; n < 10; n++)
        cr_assert(has_n(c, n, extra_for(n, total), 0));
    for (uint64_t n = 100; n < 103; n++)
        cr_assert(has_n(c, n, extra_for(n, total), 0));

    /* Many more: the bound holds after every commit. */
    for (uint64_t n = 1000; n < 1200; n++) {
        cr_assert_eq(put_n(c, n, extra_for(n, total), 0), SY_OK);
        if (n % 37 == 0) {
            sy_sqlcache_flush(c);
            cr_assert_leq(stats(c).bytes, 10 * one);
        }
    }
    sy_sqlcache_flush(c);
    st = stats(c);
    cr_assert_leq(st.bytes, 10 * one);
    cr_assert_eq(st.entries, 10);
    cr_assert_eq(st.evictions, 3 + 200);
    for (uint64_t n = 1190; n < 1200; n++)
        cr_assert(has_n(c, n, extra_for(n, total), 0), "the newest stay");
    sy_sqlcache_close(c);
}

Test(sqlcache, refuses_what_can_never_fit_and_bad_options)
{
    sy_sqlcache_t *c = open_default(4096);
    unsigned char key[SY_SQLCACHE_KEY_LEN], buf[8192] = {0};
    mkkey(key, 1);
    size_t fits = 4096 - SY_SQLCACHE_ROW_OVERHEAD;
    cr_assert_eq(sy_sqlcache_put(c, key, buf, fits + 1, 0), SY_ETOOLARGE);
    cr_assert_eq(sy_sqlcache_put(c, key, buf, fits, 0), SY_OK);
    sy_sqlcache_flush(c);
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.refused, 1);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.bytes, 4096);
    sy_sqlcache_close(c);

    sy_error_t err = {0};
    cr_assert_null(sy_sqlcache_open(db_path, SY_SQLCACHE_ROW_OVERHEAD - 1, &err));
    cr_assert_eq(err.code, SY_ECONFIG);
    sy_sqlcache_opts_t o = {.max_bytes = 1 << 20, .readers = 17};
    cr_assert_null(sy_sqlcache_open_opts(db_path, &o, &err));
    cr_assert_eq(err.code, SY_ECONFIG);
    cr_assert_null(sy_sqlcache_open("", 1 << 20, &err));
    cr_assert_eq(err.code, SY_ECONFIG);
}

/* ---- restarts ----------------------------------------------------------------- */

Test(sqlcache, reopen_after_close_keeps_rows_and_creates_parent_dirs)
{
    snprintf(db_path, sizeof db_path, "%s/a/b/cache.db", dir);
    sy_sqlcache_t *c = open_default(1 << 20);
    for (uint64_t n = 0; n < 50; n++)
        cr_assert_eq(put_n(c, n, n * 10, n < 25 ? 0 : 10000), SY_OK);
    sy_sqlcache_close(c); /* no flush: close commits what is queued */

    struct stat sb;
    cr_assert_eq(stat(db_path, &sb), 0, "the file exists under the created directories");

    c = open_default(1 << 20);
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.entries, 50, "the totals come back with the file");
    uint64_t bytes = 0;
    for (uint64_t n = 0; n < 50; n++)
        bytes += sy_sqlcache_charge(value_of(n, n * 10, (unsigned char[1024]){0}, 1024));
    cr_assert_eq(st.bytes, bytes);
    for (uint64_t n = 0; n < 50; n++)
        cr_assert(has_n(c, n, n * 10, 5000), "key %llu survives the restart", (unsigned long long)n);
    uint64_t exp = 0;
    const sy_cache_val_t *v = get_n(c, 30, 5000, &exp);
    cr_assert_eq(exp, 10000, "with its expiry");
    sy_cache_val_release(v);
    sy_sqlcache_close(c);

    /* Reopened with a smaller bound: the writer evicts down to it at once. */
    c = open_default(bytes / 2);
    sy_sqlcache_flush(c);
    for (int i = 0; i < 200 && stats(c).bytes > bytes / 2; i++)
        usleep(5000);
    st = stats(c);
    cr_assert_leq(st.bytes, bytes / 2);
    cr_assert_gt(st.evictions, 0);
    sy_sqlcache_close(c);
}

/* ---- vectors ------------------------------------------------------------------ */

typedef struct vrow {
    unsigned char part[32], key[32];
    float vec[SY_EMBED_DIMS];
    size_t dims;
    sy_semfeat_t feat;
    size_t feat_len;
    uint64_t expire_ms;
} vrow_t;

typedef struct vload {
    vrow_t rows[8];
    size_t n;
} vload_t;

static void vload_cb(void *ud, const unsigned char part[32], const unsigned char key[32], const float *vec,
                     size_t dims, const void *feat, size_t feat_len, uint64_t expire_ms)
{
    vload_t *l = ud;
    cr_assert_lt(l->n, 8);
    cr_assert_leq(dims, SY_EMBED_DIMS);
    cr_assert_leq(feat_len, sizeof(sy_semfeat_t));
    vrow_t *r = &l->rows[l->n++];
    memcpy(r->part, part, 32);
    memcpy(r->key, key, 32);
    memcpy(r->vec, vec, dims * sizeof *vec);
    r->dims = dims;
    memcpy(&r->feat, feat, feat_len);
    r->feat_len = feat_len;
    r->expire_ms = expire_ms;
}

static const vrow_t *find_row(const vload_t *l, const unsigned char key[32])
{
    for (size_t i = 0; i < l->n; i++)
        if (memcmp(l->rows[i].key, key, 32) == 0)
            return &l->rows[i];
    return NULL;
}

static void mkvec(const char *text, float *vec, sy_semfeat_t *feat)
{
    cr_assert_eq(sy_embed_text(text, strlen(text), vec, SY_EMBED_DIMS), 0);
    memset(feat, 0, sizeof *feat);
    sy_semfeat_text(text, strlen(text), feat);
}

Test(sqlcache, vectors_round_trip_expire_and_leave_with_their_entry)
{
    static float v1[SY_EMBED_DIMS], v2[SY_EMBED_DIMS], v3[SY_EMBED_DIMS];
    sy_semfeat_t f1, f2, f3;
    mkvec("what is the capital of France", v1, &f1);
    mkvec("how do I sort a list in Python", v2, &f2);
    mkvec("is 2+2 equal to 4", v3, &f3);
    unsigned char part[32], k1[32], k2[32], k3[32], k4[32], k9[32];
    memset(part, 0xab, sizeof part);
    mkkey(k1, 1);
    mkkey(k2, 2);
    mkkey(k3, 3);
    mkkey(k4, 4);
    mkkey(k9, 9);

    sy_sqlcache_t *c = open_default(1 << 20);
    cr_assert_eq(put_n(c, 1, 0, 0), SY_OK);
    cr_assert_eq(put_n(c, 2, 0, 5000), SY_OK);
    cr_assert_eq(put_n(c, 3, 0, 0), SY_OK);
    cr_assert_eq(put_n(c, 4, 0, 2000), SY_OK);
    cr_assert_eq(sy_sqlcache_put_vec(c, part, k1, v1, SY_EMBED_DIMS, &f1, sizeof f1, 0), SY_OK);
    cr_assert_eq(sy_sqlcache_put_vec(c, part, k2, v2, SY_EMBED_DIMS, &f2, sizeof f2, 5000), SY_OK);
    cr_assert_eq(sy_sqlcache_put_vec(c, part, k3, v3, 8, &f3, sizeof f3, 3000), SY_OK);
    /* a vector without expiry whose entry expires */
    cr_assert_eq(sy_sqlcache_put_vec(c, part, k4, v3, 8, &f3, sizeof f3, 0), SY_OK);
    /* no entry under k9: the vector would answer with nothing, it is not kept */
    cr_assert_eq(sy_sqlcache_put_vec(c, part, k9, v1, SY_EMBED_DIMS, &f1, sizeof f1, 0), SY_OK);
    cr_assert_eq(sy_sqlcache_put_vec(c, part, k1, v1, 0, &f1, sizeof f1, 0), SY_EBADFIELD);
    cr_assert_eq(sy_sqlcache_put_vec(c, part, k1, v1, SY_EMBED_MAX_DIMS + 1, &f1, sizeof f1, 0), SY_EBADFIELD);
    cr_assert_eq(sy_sqlcache_put_vec(c, part, k1, v1, 4, &f1, SY_SQLCACHE_MAX_FEAT + 1, 0), SY_EBADFIELD);
    sy_sqlcache_close(c);

    c = open_default(1 << 20);
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.vectors, 4);
    uint64_t entry = sy_sqlcache_charge(value_of(1, 0, (unsigned char[64]){0}, 64));
    cr_assert_eq(st.bytes, 4 * entry + 2 * sy_sqlcache_vec_charge(SY_EMBED_DIMS, sizeof f1) +
                               2 * sy_sqlcache_vec_charge(8, sizeof f3),
                 "vectors are charged against the bound too");

    vload_t l = {0};
    cr_assert_eq(sy_sqlcache_load_vecs(c, 1000, vload_cb, &l), 4);
    const vrow_t *r1 = find_row(&l, k1), *r2 = find_row(&l, k2), *r3 = find_row(&l, k3), *r4 = find_row(&l, k4);
    cr_assert(r1 && r2 && r3 && r4);
    cr_assert_eq(r4->expire_ms, 0);
    cr_assert_eq(memcmp(r1->part, part, 32), 0);
    cr_assert_eq(r1->dims, SY_EMBED_DIMS);
    cr_assert_eq(memcmp(r1->vec, v1, sizeof v1), 0, "the vector comes back bit for bit");
    cr_assert_eq(r1->feat_len, sizeof f1);
    cr_assert_eq(memcmp(&r1->feat, &f1, sizeof f1), 0);
    cr_assert_eq(sy_semfeat_veto(&r1->feat, &f1), SY_SEMVETO_NONE);
    cr_assert_eq(r1->expire_ms, 0);
    cr_assert_eq(memcmp(r2->vec, v2, sizeof v2), 0);
    cr_assert_eq(r2->expire_ms, 5000);
    cr_assert_eq(r3->dims, 8);
    cr_assert_eq(memcmp(r3->vec, v3, 8 * sizeof(float)), 0);

    l.n = 0;
    cr_assert_eq(sy_sqlcache_load_vecs(c, 3000, vload_cb, &l), 2, "k3's vector and k4's entry have expired");
    cr_assert_null(find_row(&l, k3));
    cr_assert_null(find_row(&l, k4));
    l.n = 0;
    cr_assert_eq(sy_sqlcache_load_vecs(c, 5000, vload_cb, &l), 1, "k2's expired at 5000");
    cr_assert_not_null(find_row(&l, k1));

    /* Cleanup deletes expired vectors and, with an expired entry, its vectors. */
    sy_sqlcache_cleanup(c, 5000);
    st = stats(c);
    cr_assert_eq(st.vectors, 1);
    cr_assert_eq(st.entries, 2);
    /* Deleting the entry deletes its vector. */
    cr_assert_eq(sy_sqlcache_delete(c, k1), SY_OK);
    sy_sqlcache_flush(c);
    st = stats(c);
    cr_assert_eq(st.vectors, 0);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.bytes, entry);
    l.n = 0;
    cr_assert_eq(sy_sqlcache_load_vecs(c, 0, vload_cb, &l), 0);
    sy_sqlcache_close(c);
}

Test(sqlcache, eviction_takes_the_entrys_vectors)
{
    static float v[SY_EMBED_DIMS];
    sy_semfeat_t f;
    mkvec("a question", v, &f);
    unsigned char part[32] = {1};
    uint64_t one = sy_sqlcache_charge(value_of(0, 100, (unsigned char[256]){0}, 256)) +
                   sy_sqlcache_vec_charge(SY_EMBED_DIMS, sizeof f);
    sy_sqlcache_t *c = open_default(4 * one);
    for (uint64_t n = 0; n < 6; n++) {
        unsigned char key[32];
        mkkey(key, n);
        cr_assert_eq(put_n(c, n, 100, 0), SY_OK);
        cr_assert_eq(sy_sqlcache_put_vec(c, part, key, v, SY_EMBED_DIMS, &f, sizeof f, 0), SY_OK);
        sy_sqlcache_flush(c);
        cr_assert_leq(stats(c).bytes, 4 * one);
    }
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.entries, 4);
    cr_assert_eq(st.vectors, 4, "no vector outlives its entry");
    cr_assert_eq(st.evictions, 2);
    vload_t l = {0};
    cr_assert_eq(sy_sqlcache_load_vecs(c, 0, vload_cb, &l), 4);
    for (uint64_t n = 0; n < 2; n++) {
        unsigned char key[32];
        mkkey(key, n);
        cr_assert_null(find_row(&l, key));
    }
    sy_sqlcache_close(c);
}

/* ---- bounded queues ----------------------------------------------------------- */

Test(sqlcache, full_write_queue_drops_and_counts)
{
    sy_sqlcache_t *c = open_with(1 << 20, 8, 0, 1);
    /* Hold the file's write lock from another connection: the writer waits
     * in its busy handler and the queue fills. */
    sqlite3 *other = NULL;
    cr_assert_eq(sqlite3_open(db_path, &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 5000); /* the writer may be committing */
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    /* Fill the queue; give the writer time to take a batch and block on
     * the lock; fill again. The writer then holds one batch (at most 8, or
     * none when it blocked before taking any) and the queue 8. */
    int accepted = 0, rc = SY_OK, n = 0;
    for (int round = 0; round < 2; round++) {
        for (; n < 100; n++) {
            rc = put_n(c, (uint64_t)n, 10, 0);
            if (rc != SY_OK)
                break;
            accepted++;
        }
        cr_assert_eq(rc, SY_ETOOLARGE, "a full queue refuses at once");
        n++; /* key n was dropped */
        if (round == 0)
            usleep(100000);
    }
    cr_assert_geq(accepted, 8);
    cr_assert_leq(accepted, 16, "8 queued plus at most the batch the writer holds");
    cr_assert_eq(stats(c).dropped, 2);
    unsigned char key[32];
    mkkey(key, 500);
    cr_assert_eq(sy_sqlcache_delete(c, key), SY_ETOOLARGE, "deletes queue behind the same bound");
    cr_assert_eq(stats(c).dropped, 3);

    cr_assert_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    sy_sqlcache_flush(c);
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.puts, (uint64_t)accepted);
    cr_assert_eq(st.entries, (uint64_t)accepted);
    cr_assert_eq(st.errors, 0);
    int found = 0;
    for (int k = 0; k < n; k++)
        found += has_n(c, (uint64_t)k, 10, 0);
    cr_assert_eq(found, accepted, "what was accepted is there, what was dropped is not");
    sy_sqlcache_close(c);
}

Test(sqlcache, full_write_queue_by_bytes)
{
    sy_sqlcache_opts_t o = {.max_bytes = 1 << 20, .cleanup_ms = SY_SQLCACHE_NO_TIMER, .write_queue_bytes = 4000};
    sy_error_t err;
    sy_sqlcache_t *c = sy_sqlcache_open_opts(db_path, &o, &err);
    cr_assert_not_null(c, "%s", err.message);
    unsigned char key[32], buf[5000] = {0};
    mkkey(key, 1);
    cr_assert_eq(sy_sqlcache_put(c, key, buf, sizeof buf, 0), SY_ETOOLARGE, "larger than the queue's bytes");
    cr_assert_eq(stats(c).dropped, 1);
    cr_assert_eq(sy_sqlcache_put(c, key, buf, 3000, 0), SY_OK);
    sy_sqlcache_close(c);
}

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open, calls;
} gate_t;

static void gate_cb(void *ud, const sy_cache_val_t *v, uint64_t expire_ms)
{
    gate_t *g = ud;
    sy_cache_val_release(v);
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    g->calls++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

Test(sqlcache, full_read_queue_fails_fast_and_close_answers_queued_gets)
{
    sy_sqlcache_t *c = open_with(1 << 20, 0, 4, 1);
    gate_t g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    unsigned char key[32];
    mkkey(key, 1);
    cr_assert_eq(sy_sqlcache_get(c, key, 0, gate_cb, &g), SY_OK);
    pthread_mutex_lock(&g.mu);
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    /* The only reader is held in the callback: four more fill the queue. */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(sy_sqlcache_get(c, key, 0, gate_cb, &g), SY_OK);
    cr_assert_eq(sy_sqlcache_get(c, key, 0, gate_cb, &g), SY_ETOOLARGE);
    cr_assert_eq(stats(c).busy, 1);
    /* Writes do not wait for readers. */
    cr_assert_eq(put_n(c, 1, 0, 0), SY_OK);
    sy_sqlcache_flush(c);
    cr_assert_eq(stats(c).puts, 1);

    pthread_mutex_lock(&g.mu);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    sy_sqlcache_close(c);
    cr_assert_eq(g.calls, 5, "every queued get is answered, the refused one never");
}

/* ---- files that are not ours -------------------------------------------------- */

Test(sqlcache, garbage_file_gives_a_clear_error)
{
    FILE *f = fopen(db_path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not a database, just some text in the way\n", f);
    fclose(f);
    sy_error_t err = {0};
    cr_assert_null(sy_sqlcache_open(db_path, 1 << 20, &err));
    cr_assert_eq(err.code, SY_EIO);
    cr_assert_not_null(strstr(err.message, db_path), "names the path: %s", err.message);
    cr_assert_not_null(strstr(err.message, "not an SQLite file"), "%s", err.message);

    /* The file is left as it was. */
    f = fopen(db_path, "r");
    char head[16] = {0};
    cr_assert_eq(fread(head, 1, 15, f), 15);
    fclose(f);
    cr_assert_str_eq(head, "this is not a d");
}

Test(sqlcache, corrupt_cache_file_gives_a_clear_error)
{
    sy_sqlcache_t *c = open_default(1 << 20);
    for (uint64_t n = 0; n < 20; n++)
        cr_assert_eq(put_n(c, n, 2000, 0), SY_OK);
    sy_sqlcache_close(c);
    /* Overwrite the header past its magic string (page size, counters,
     * schema cookie, application_id) with noise; no -wal is left after a
     * clean close, remove any -shm. */
    char side[320];
    snprintf(side, sizeof side, "%s-wal", db_path);
    cr_assert_neq(access(side, F_OK), 0, "close checkpoints and removes the WAL");
    snprintf(side, sizeof side, "%s-shm", db_path);
    unlink(side);
    FILE *f = fopen(db_path, "r+");
    cr_assert_not_null(f);
    unsigned char noise[84];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)(i * 37 + 11);
    cr_assert_eq(fseek(f, 16, SEEK_SET), 0);
    cr_assert_eq(fwrite(noise, 1, sizeof noise, f), sizeof noise);
    fclose(f);

    sy_error_t err = {0};
    cr_assert_null(sy_sqlcache_open(db_path, 1 << 20, &err));
    cr_assert_eq(err.code, SY_EIO);
    cr_assert_not_null(strstr(err.message, db_path), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "not an SQLite file, or corrupt"), "%s", err.message);
}

Test(sqlcache, another_programs_database_and_a_newer_schema_are_refused)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES ('mine')", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    sy_error_t err = {0};
    cr_assert_null(sy_sqlcache_open(db_path, 1 << 20, &err));
    cr_assert_eq(err.code, SY_EIO);
    cr_assert_not_null(strstr(err.message, "another program's database"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, db_path));
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    int64_t n = -1;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_eq(n, 1, "nothing was created in it");
    char mode[16] = {0};
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_str_eq(mode, "delete", "not even switched to WAL");

    snprintf(db_path, sizeof db_path, "%s/ours.db", dir);
    sy_sqlcache_close(open_default(1 << 20));
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cr_assert_null(sy_sqlcache_open(db_path, 1 << 20, &err));
    cr_assert_eq(err.code, SY_EIO);
    cr_assert_not_null(strstr(err.message, "newer"), "%s", err.message);
}

Test(sqlcache, schema_is_versioned_and_in_wal_mode)
{
    sy_sqlcache_t *c = open_default(1 << 20);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), SY_SQLCACHE_SCHEMA_VERSION);
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    sy_sqlcache_close(c);
}

/* The file's size with 3000 values of lo..lo+span bytes, over the bytes
 * charged for them. */
static double file_over_charge(const char *name, size_t lo, size_t span)
{
    snprintf(db_path, sizeof db_path, "%s/%s", dir, name);
    sy_sqlcache_t *c = open_default(64 << 20);
    for (uint64_t n = 0; n < 3000; n++)
        cr_assert_eq(put_n(c, n, lo + n % span, 0), SY_OK);
    sy_sqlcache_flush(c);
    uint64_t bytes = stats(c).bytes;
    sy_sqlcache_close(c); /* checkpoints the WAL into the file */
    struct stat sb;
    cr_assert_eq(stat(db_path, &sb), 0);
    return (double)sb.st_size / (double)bytes;
}

/* The charge is honest: the file is about the size of the bytes counted
 * (docs/cache.md has the measured ratios). */
Test(sqlcache, charge_tracks_the_file_size)
{
    double r = file_over_charge("small.db", 600, 400);
    cr_assert(r > 0.75 && r < 1.25, "0.6-1 KB values: file / charged = %.3f", r);
    r = file_over_charge("mid.db", 2000, 2000); /* one row per 4 KiB page: the worst case */
    cr_assert(r > 0.75 && r < 1.5, "2-4 KB values: file / charged = %.3f", r);
}

/* ---- threads ------------------------------------------------------------------ */

#define KEYS 200
#define GETS_PER_THREAD 400

typedef struct getter {
    sy_sqlcache_t *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int outstanding;
    int hits, misses, bad, busy;
} getter_t;

/* Values for key n are "value-<n>:" and a tail derived from n, written
 * several times with different lengths: any hit must be one of them. */
static void check_cb(void *ud, const sy_cache_val_t *v, uint64_t expire_ms)
{
    getter_t *g = ud;
    int bad = 0, hit = v != NULL;
    if (v) {
        unsigned long long n = 0;
        char head[32] = {0};
        memcpy(head, v->data, v->len < 31 ? v->len : 31);
        if (sscanf(head, "value-%llu:", &n) != 1 || n >= KEYS) {
            bad = 1;
        } else {
            unsigned char buf[8192];
            size_t len = v->len < 8192 ? value_of(n, extra_for(n, v->len), buf, sizeof buf) : 0;
            bad = len != v->len || memcmp(buf, v->data, len) != 0;
        }
        sy_cache_val_release(v);
    }
    pthread_mutex_lock(&g->mu);
    g->hits += hit;
    g->misses += !hit;
    g->bad += bad;
    g->outstanding--;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void *getter_main(void *arg)
{
    getter_t *g = arg;
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < GETS_PER_THREAD; i++) {
        unsigned char key[32];
        mkkey(key, (uint64_t)(rand_r(&seed) % KEYS));
        pthread_mutex_lock(&g->mu);
        g->outstanding++;
        pthread_mutex_unlock(&g->mu);
        while (sy_sqlcache_get(g->c, key, 0, check_cb, g) != SY_OK) {
            g->busy++;
            usleep(100);
        }
    }
    pthread_mutex_lock(&g->mu);
    while (g->outstanding > 0)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

Test(sqlcache, concurrent_gets_while_writing)
{
    sy_sqlcache_t *c = open_with(256 << 10, 64, 16, 3);
    getter_t g[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        memset(&g[i], 0, sizeof g[i]);
        g[i].c = c;
        pthread_mutex_init(&g[i].mu, NULL);
        pthread_cond_init(&g[i].cv, NULL);
        cr_assert_eq(pthread_create(&th[i], NULL, getter_main, &g[i]), 0);
    }
    /* Writes meanwhile: replacements of every key at three lengths, deletes,
     * and a bound small enough to evict (~200 KiB for 200 keys of ~1.5 KiB). */
    int dropped = 0;
    for (int round = 0; round < 6; round++) {
        for (uint64_t n = 0; n < KEYS; n++) {
            int rc = put_n(c, n, 500 + 500 * (size_t)(round % 3), 0);
            if (rc != SY_OK) {
                cr_assert_eq(rc, SY_ETOOLARGE);
                dropped++;
                usleep(200);
            }
            if (n % 50 == 0) {
                unsigned char key[32];
                mkkey(key, n + 1);
                sy_sqlcache_delete(c, key);
            }
        }
    }
    int hits = 0, misses = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(g[i].bad, 0, "a get returned bytes that were never stored under its key");
        cr_assert_eq(g[i].hits + g[i].misses, GETS_PER_THREAD);
        hits += g[i].hits;
        misses += g[i].misses;
    }
    sy_sqlcache_flush(c);
    sy_sqlcache_stats_t st = stats(c);
    cr_assert_eq(st.hits, (uint64_t)hits);
    cr_assert_eq(st.misses, (uint64_t)misses);
    cr_assert_eq(st.errors, 0);
    cr_assert_leq(st.bytes, 256 << 10);
    cr_assert_geq(st.dropped, (uint64_t)dropped);
    sy_sqlcache_close(c);
    for (int i = 0; i < 4; i++) {
        pthread_mutex_destroy(&g[i].mu);
        pthread_cond_destroy(&g[i].cv);
    }
}
