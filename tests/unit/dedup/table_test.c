/*
 * table_test.c - the in-flight dedup table: lead then join, follow (a
 * counted join without an object of one's own), remove only one's own entry, growth past many keys, and many threads racing on the
 * same keys (exactly one leader per key while it stays in the table).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "dedup/table.h"

static void key_of(unsigned n, unsigned char k[32])
{
    memset(k, 0, 32);
    /* spread like a hash would, and collide on the shard/bucket bytes for
     * some keys to exercise probing */
    k[0] = (unsigned char)(n * 7);
    k[8] = (unsigned char)(n % 5);
    memcpy(k + 16, &n, sizeof(n));
}

typedef struct obj {
    atomic_int refs;
} obj_t;

static void retain(void *o)
{
    atomic_fetch_add(&((obj_t *)o)->refs, 1);
}

Test(dedup_table, lead_then_join_then_remove)
{
    sy_dedup_t *t = sy_dedup_new(0);
    unsigned char k[32];
    key_of(1, k);
    obj_t a = {1}, b = {1};
    cr_assert_null(sy_dedup_join(t, k, &a, retain), "the first leads");
    cr_assert_eq(sy_dedup_join(t, k, &b, retain), &a, "the second joins the first");
    cr_assert_eq(atomic_load(&a.refs), 2, "a joiner holds a reference");
    cr_assert_eq(atomic_load(&b.refs), 1);
    cr_assert_eq(sy_dedup_remove(t, k, &b), 0, "only the entry's own object removes it");
    cr_assert_eq(sy_dedup_remove(t, k, &a), 1);
    cr_assert_eq(sy_dedup_remove(t, k, &a), 0);
    cr_assert_null(sy_dedup_join(t, k, &b, retain), "after removal the next leads");
    sy_dedup_stats_t st;
    sy_dedup_stats(t, &st);
    cr_assert_eq(st.inflight, 1);
    cr_assert_eq(st.joins, 1);
    cr_assert_eq(st.leads, 2);
    sy_dedup_free(t);
}

/* A follower looks before it builds a call: found, it is retained and
 * counted as a join; find alone counts nothing. */
Test(dedup_table, follow_counts_a_join_find_does_not)
{
    sy_dedup_t *t = sy_dedup_new(0);
    unsigned char k[32];
    key_of(2, k);
    obj_t a = {1};
    cr_assert_null(sy_dedup_follow(t, k, retain), "nothing to follow");
    cr_assert_null(sy_dedup_join(t, k, &a, retain));
    cr_assert_eq(sy_dedup_follow(t, k, retain), &a);
    cr_assert_eq(sy_dedup_find(t, k, retain), &a);
    cr_assert_eq(atomic_load(&a.refs), 3, "both retain");
    sy_dedup_stats_t st;
    sy_dedup_stats(t, &st);
    cr_assert_eq(st.joins, 1, "the follow only");
    cr_assert_eq(st.leads, 1);
    sy_dedup_free(t);
}

Test(dedup_table, grows_and_finds_every_key)
{
    sy_dedup_t *t = sy_dedup_new(2);
    static obj_t objs[5000];
    unsigned char k[32];
    for (unsigned i = 0; i < 5000; i++) {
        key_of(i, k);
        cr_assert_null(sy_dedup_join(t, k, &objs[i], retain));
    }
    for (unsigned i = 0; i < 5000; i += 2) {
        key_of(i, k);
        cr_assert_eq(sy_dedup_remove(t, k, &objs[i]), 1, "key %u", i);
    }
    for (unsigned i = 0; i < 5000; i++) {
        obj_t other = {0};
        key_of(i, k);
        void *got = sy_dedup_join(t, k, &other, retain);
        if (i % 2)
            cr_assert_eq(got, &objs[i], "key %u", i);
        else
            cr_assert_null(got, "key %u was removed", i);
        if (!got)
            sy_dedup_remove(t, k, &other);
    }
    sy_dedup_stats_t st;
    sy_dedup_stats(t, &st);
    cr_assert_eq(st.inflight, 2500);
    sy_dedup_free(t);
}

typedef struct race {
    sy_dedup_t *t;
    atomic_int leaders[64];
    atomic_int joined;
} race_t;

static void *racer(void *arg)
{
    race_t *r = arg;
    unsigned char k[32];
    obj_t *mine = calloc(64, sizeof(obj_t));
    for (unsigned i = 0; i < 64; i++) {
        key_of(i, k);
        void *got = sy_dedup_join(r->t, k, &mine[i], retain);
        if (got)
            atomic_fetch_add(&r->joined, 1);
        else
            atomic_fetch_add(&r->leaders[i], 1);
    }
    return mine;
}

Test(dedup_table, racing_threads_get_one_leader_per_key)
{
    race_t r;
    memset(&r, 0, sizeof(r));
    r.t = sy_dedup_new(4);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, racer, &r);
    void *mine[8];
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], &mine[i]);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(atomic_load(&r.leaders[i]), 1, "key %d had one leader", i);
    cr_assert_eq(atomic_load(&r.joined), 7 * 64);
    for (int i = 0; i < 8; i++)
        free(mine[i]);
    sy_dedup_free(r.t);
}
