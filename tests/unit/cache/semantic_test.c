/*
 * semantic_test.c - unit tests for src/cache/semantic.c, the semantic
 * cache's vector index: exact match, threshold, guards (real texts through
 * the built-in embedder), partition isolation, replace, delete, TTL and
 * sweep with an injected clock, LRU eviction at the bound, the similarity
 * histogram, many entries through the arrays' growth, shrinkage and the key
 * table's deletions, and four threads putting, searching, deleting and
 * sweeping at once followed by a consistency check.
 */
#include "cache/semantic.h"

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static void id_of(unsigned char out[32], unsigned tag, unsigned n)
{
    memset(out, 0, 32);
    out[0] = (unsigned char)tag;
    memcpy(out + 28, &n, sizeof n); /* only the last bytes differ: the hash must mix */
}

/* A unit vector in 2 dimensions with the given similarity to (1, 0). */
static void vec2(float out[2], float sim)
{
    out[0] = sim;
    out[1] = sqrtf(1.0f - sim * sim);
}

static const sy_semfeat_t NOFEAT; /* all zero: no guard tells two apart */

/* A deterministic pseudo-random unit vector for seed. */
static void rand_vec(float *out, size_t dims, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    double norm = 0;
    for (size_t i = 0; i < dims; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out[i] = (float)((double)(s >> 11) / (double)(1ULL << 53) - 0.5);
        norm += (double)out[i] * out[i];
    }
    for (size_t i = 0; i < dims; i++)
        out[i] = (float)(out[i] / sqrt(norm));
}

typedef struct text {
    float v[SY_EMBED_DIMS];
    sy_semfeat_t f;
} text_t;

static void text(text_t *t, const char *s)
{
    cr_assert_eq(sy_embed_text(s, strlen(s), t->v, SY_EMBED_DIMS), 0);
    sy_semfeat_text(s, strlen(s), &t->f);
}

static sy_semindex_stats_t stats(sy_semindex_t *x)
{
    sy_semindex_stats_t st;
    sy_semindex_stats(x, &st);
    return st;
}

/* ---- tests -------------------------------------------------------------- */

Test(semindex, bad_arguments)
{
    cr_assert_null(sy_semindex_new(0, 10));
    cr_assert_null(sy_semindex_new(SY_EMBED_MAX_DIMS + 1, 10));
    cr_assert_null(sy_semindex_new(8, 0));
    cr_assert_null(sy_semindex_new(8, SY_SEMINDEX_MAX_ENTRIES + 1));
    sy_semindex_free(NULL);
    sy_semindex_t *x = sy_semindex_new(2, 10);
    cr_assert_not_null(x);
    unsigned char p[32], k[32];
    float v[2];
    id_of(p, 1, 0);
    id_of(k, 2, 0);
    vec2(v, 1);
    cr_assert_eq(sy_semindex_put(x, p, k, NULL, &NOFEAT, 0, 0), SY_EBADFIELD);
    cr_assert_eq(sy_semindex_put(x, p, k, v, NULL, 0, 0), SY_EBADFIELD);
    cr_assert_eq(stats(x).entries, 0);
    sy_semindex_free(x);
}

Test(semindex, exact_match_among_texts)
{
    static const char *const texts[] = {
        "What is the capital of France?",
        "How do I sort a list in Python?",
        "what is 2+2",
        "Explain the difference between TCP and UDP.",
    };
    enum { N = sizeof texts / sizeof texts[0] };
    sy_semindex_t *x = sy_semindex_new(SY_EMBED_DIMS, 100);
    cr_assert_not_null(x);
    static text_t t[N];
    unsigned char p[32], k[32], got[32];
    id_of(p, 1, 0);
    for (unsigned i = 0; i < N; i++) {
        text(&t[i], texts[i]);
        id_of(k, 9, i);
        cr_assert_eq(sy_semindex_put(x, p, k, t[i].v, &t[i].f, 0, 0), SY_OK);
    }
    for (unsigned i = 0; i < N; i++) {
        float sim = 0;
        memset(got, 0, sizeof got);
        cr_assert_eq(sy_semindex_search(x, p, t[i].v, &t[i].f, SY_EMBED_THRESHOLD, 0, got, &sim), 1, "%s", texts[i]);
        id_of(k, 9, i);
        cr_assert_arr_eq(got, k, 32, "%s found another entry", texts[i]);
        cr_assert_float_eq(sim, 1.0f, 1e-5);
    }
    /* a paraphrase the embedder scores high: "what's" and a question mark */
    text_t q;
    text(&q, "what's the capital of france");
    float sim = 0;
    cr_assert_eq(sy_semindex_search(x, p, q.v, &q.f, 0.5f, 0, got, &sim), 1);
    id_of(k, 9, 0);
    cr_assert_arr_eq(got, k, 32);
    cr_assert_float_eq(sim, sy_embed_dot(q.v, t[0].v, SY_EMBED_DIMS), 1e-6);
    sy_semindex_stats_t st = stats(x);
    cr_assert_eq(st.entries, N);
    cr_assert_eq(st.partitions, 1);
    cr_assert_eq(st.searches, N + 1);
    cr_assert_eq(st.hits, N + 1);
    cr_assert_geq(st.bytes, N * SY_EMBED_DIMS * sizeof(float));
    sy_semindex_free(x);
}

Test(semindex, threshold_is_inclusive_and_best_wins)
{
    sy_semindex_t *x = sy_semindex_new(2, 10);
    unsigned char p[32], k[32], got[32];
    float v[2], q[2] = {1, 0}, sim;
    id_of(p, 1, 0);
    const float sims[] = {0.80f, 0.95f, 0.90f};
    for (unsigned i = 0; i < 3; i++) {
        vec2(v, sims[i]);
        id_of(k, 2, i);
        cr_assert_eq(sy_semindex_put(x, p, k, v, &NOFEAT, 0, 0), SY_OK);
    }
    /* the best of three, whatever the threshold below it */
    cr_assert_eq(sy_semindex_search(x, p, q, &NOFEAT, 0.5f, 0, got, &sim), 1);
    id_of(k, 2, 1);
    cr_assert_arr_eq(got, k, 32);
    cr_assert_eq(sim, 0.95f);
    /* at exactly the best similarity: a hit; a hair above: a miss that
     * still reports how near it came, and leaves key_out alone */
    cr_assert_eq(sy_semindex_search(x, p, q, &NOFEAT, 0.95f, 0, got, &sim), 1);
    memset(got, 0xab, sizeof got);
    cr_assert_eq(sy_semindex_search(x, p, q, &NOFEAT, nextafterf(0.95f, 2.0f), 0, got, &sim), 0);
    cr_assert_eq(sim, 0.95f);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(got[i], 0xab);
    sy_semindex_stats_t st = stats(x);
    cr_assert_eq(st.hits, 2);
    cr_assert_eq(st.misses, 1);
    cr_assert_eq(st.vetoed, 0, "a miss below the threshold is not a veto");
    sy_semindex_free(x);
}

Test(semindex, guards_veto_other_numbers)
{
    sy_semindex_t *x = sy_semindex_new(SY_EMBED_DIMS, 10);
    unsigned char p[32], k22[32], k23[32], got[32];
    id_of(p, 1, 0);
    id_of(k22, 2, 22);
    id_of(k23, 2, 23);
    static text_t a, b, a2;
    text(&a, "what is 2+2");
    text(&b, "what is 2+3");
    text(&a2, "What is 2+2?");
    float near = sy_embed_dot(a.v, b.v, SY_EMBED_DIMS);
    cr_assert(near > 0.5f && near < 0.99f, "%f", near);
    cr_assert_eq(sy_semindex_put(x, p, k22, a.v, &a.f, 0, 0), SY_OK);

    /* above the threshold but vetoed: a miss, counted as vetoed, and the
     * vetoed entry's similarity is what was seen */
    float sim;
    cr_assert_eq(sy_semindex_search(x, p, b.v, &b.f, 0.5f, 0, got, &sim), 0);
    cr_assert_float_eq(sim, near, 1e-6);
    cr_assert_eq(stats(x).vetoed, 1);
    /* below the threshold the guards are not asked: a plain miss */
    cr_assert_eq(sy_semindex_search(x, p, b.v, &b.f, 0.9f, 0, got, &sim), 0);
    cr_assert_eq(stats(x).vetoed, 1);
    /* the same question, spelled otherwise: a hit */
    cr_assert_eq(sy_semindex_search(x, p, a2.v, &a2.f, 0.92f, 0, got, &sim), 1);
    cr_assert_arr_eq(got, k22, 32);

    /* with both stored, each finds its own even at a low threshold */
    cr_assert_eq(sy_semindex_put(x, p, k23, b.v, &b.f, 0, 0), SY_OK);
    cr_assert_eq(sy_semindex_search(x, p, b.v, &b.f, 0.5f, 0, got, &sim), 1);
    cr_assert_arr_eq(got, k23, 32);
    cr_assert_eq(sy_semindex_search(x, p, a2.v, &a2.f, 0.5f, 0, got, &sim), 1);
    cr_assert_arr_eq(got, k22, 32);
    sy_semindex_free(x);
}

Test(semindex, a_lower_unvetoed_entry_beats_a_higher_vetoed_one)
{
    sy_semindex_t *x = sy_semindex_new(2, 10);
    unsigned char p[32], k[32], got[32];
    float v[2], q[2] = {1, 0}, sim;
    sy_semfeat_t two, three;
    sy_semfeat_text("add 2", 5, &two);
    sy_semfeat_text("add 3", 5, &three);
    cr_assert_neq(sy_semfeat_veto(&two, &three), SY_SEMVETO_NONE);
    id_of(p, 1, 0);
    vec2(v, 0.99f);
    id_of(k, 3, 0);
    sy_semindex_put(x, p, k, v, &three, 0, 0);
    vec2(v, 0.93f);
    id_of(k, 3, 1);
    sy_semindex_put(x, p, k, v, &two, 0, 0);
    cr_assert_eq(sy_semindex_search(x, p, q, &two, 0.9f, 0, got, &sim), 1);
    cr_assert_arr_eq(got, k, 32);
    cr_assert_eq(sim, 0.93f);
    cr_assert_eq(stats(x).vetoed, 0, "a hit is not a vetoed miss");
    sy_semindex_free(x);
}

Test(semindex, partitions_are_isolated)
{
    sy_semindex_t *x = sy_semindex_new(2, 10);
    unsigned char pa[32], pb[32], k[32], got[32];
    float v[2] = {1, 0}, sim = 0;
    id_of(pa, 1, 1);
    id_of(pb, 1, 2);
    id_of(k, 2, 0);
    cr_assert_eq(sy_semindex_put(x, pa, k, v, &NOFEAT, 0, 0), SY_OK);
    cr_assert_eq(sy_semindex_search(x, pb, v, &NOFEAT, 0.0f, 0, got, &sim), 0);
    cr_assert_eq(sim, -1.0f, "an unknown partition reports -1");
    /* the same entry key in another partition is another entry */
    float w[2] = {0, 1};
    cr_assert_eq(sy_semindex_put(x, pb, k, w, &NOFEAT, 0, 0), SY_OK);
    sy_semindex_stats_t st = stats(x);
    cr_assert_eq(st.entries, 2);
    cr_assert_eq(st.partitions, 2);
    cr_assert_eq(sy_semindex_search(x, pb, v, &NOFEAT, 0.5f, 0, got, &sim), 0);
    cr_assert_eq(sim, 0.0f, "pb holds only w");
    cr_assert_eq(sy_semindex_delete(x, pa, k), 1);
    cr_assert_eq(sy_semindex_search(x, pb, w, &NOFEAT, 0.5f, 0, got, &sim), 1);
    cr_assert_arr_eq(got, k, 32);
    st = stats(x);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.partitions, 1, "an emptied partition is freed");
    sy_semindex_free(x);
}

Test(semindex, replace_same_key)
{
    sy_semindex_t *x = sy_semindex_new(2, 10);
    unsigned char p[32], k[32], got[32];
    float v1[2] = {1, 0}, v2[2] = {0, 1}, sim;
    sy_semfeat_t two, three;
    sy_semfeat_text("add 2", 5, &two);
    sy_semfeat_text("add 3", 5, &three);
    id_of(p, 1, 0);
    id_of(k, 2, 0);
    cr_assert_eq(sy_semindex_put(x, p, k, v1, &two, 100, 0), SY_OK);
    cr_assert_eq(sy_semindex_put(x, p, k, v2, &three, 0, 0), SY_OK);
    cr_assert_eq(stats(x).entries, 1);
    /* the old vector, features and expiry are gone */
    cr_assert_eq(sy_semindex_search(x, p, v1, &three, 0.5f, 0, got, &sim), 0);
    cr_assert_eq(sim, 0.0f);
    cr_assert_eq(sy_semindex_search(x, p, v2, &two, 0.5f, 0, got, &sim), 0);
    cr_assert_eq(stats(x).vetoed, 1);
    cr_assert_eq(sy_semindex_search(x, p, v2, &three, 0.5f, 200, got, &sim), 1, "no expiry any more");
    cr_assert_arr_eq(got, k, 32);
    sy_semindex_free(x);
}

Test(semindex, delete)
{
    sy_semindex_t *x = sy_semindex_new(2, 10);
    unsigned char p[32], k[32], k2[32], got[32];
    float v[2] = {1, 0}, w[2], sim;
    vec2(w, 0.6f);
    id_of(p, 1, 0);
    id_of(k, 2, 0);
    id_of(k2, 2, 1);
    cr_assert_eq(sy_semindex_delete(x, p, k), 0, "unknown partition");
    sy_semindex_put(x, p, k, v, &NOFEAT, 0, 0);
    sy_semindex_put(x, p, k2, w, &NOFEAT, 0, 0);
    cr_assert_eq(sy_semindex_delete(x, p, k), 1);
    cr_assert_eq(sy_semindex_delete(x, p, k), 0);
    /* the entry that moved into the hole is still found by its key */
    cr_assert_eq(sy_semindex_search(x, p, v, &NOFEAT, 0.5f, 0, got, &sim), 1);
    cr_assert_arr_eq(got, k2, 32);
    cr_assert_eq(sim, 0.6f);
    cr_assert_eq(sy_semindex_delete(x, p, k2), 1);
    cr_assert_eq(sy_semindex_search(x, p, v, &NOFEAT, 0.0f, 0, got, &sim), 0);
    cr_assert_eq(sim, -1.0f);
    sy_semindex_stats_t st = stats(x);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.partitions, 0);
    cr_assert_eq(st.evictions, 0, "a delete is not an eviction");
    sy_semindex_free(x);
}

Test(semindex, ttl_with_injected_time)
{
    sy_semindex_t *x = sy_semindex_new(2, 10);
    unsigned char p[32], k[32], k2[32], got[32];
    float v[2] = {1, 0}, w[2], sim;
    vec2(w, 0.97f);
    id_of(p, 1, 0);
    id_of(k, 2, 0);
    id_of(k2, 2, 1);
    sy_semindex_put(x, p, k, v, &NOFEAT, 1000, 0); /* live for now < 1000 */
    sy_semindex_put(x, p, k2, w, &NOFEAT, 0, 0);   /* never expires */
    cr_assert_eq(sy_semindex_search(x, p, v, &NOFEAT, 0.9f, 999, got, &sim), 1);
    cr_assert_arr_eq(got, k, 32);
    /* at 1000 the first is expired: the second answers */
    cr_assert_eq(sy_semindex_search(x, p, v, &NOFEAT, 0.9f, 1000, got, &sim), 1);
    cr_assert_arr_eq(got, k2, 32);
    cr_assert_eq(sim, 0.97f);
    /* an expired entry is not even "seen" on a miss */
    cr_assert_eq(sy_semindex_delete(x, p, k2), 1);
    cr_assert_eq(sy_semindex_search(x, p, v, &NOFEAT, 0.9f, 5000, got, &sim), 0);
    cr_assert_eq(sim, -1.0f);
    cr_assert_eq(stats(x).entries, 1, "expired, not yet purged");
    cr_assert_eq(sy_semindex_sweep(x, 5000, 0), 1);
    sy_semindex_stats_t st = stats(x);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.partitions, 0);
    sy_semindex_free(x);
}

Test(semindex, lru_eviction_at_the_bound)
{
    sy_semindex_t *x = sy_semindex_new(2, 3);
    unsigned char pa[32], pb[32], k[6][32], got[32];
    float v[2] = {1, 0}, sim;
    id_of(pa, 1, 1);
    id_of(pb, 1, 2);
    for (unsigned i = 0; i < 6; i++)
        id_of(k[i], 2, i);
    /* e0 in A, e1 in B, e2 in A: the bound counts every partition */
    cr_assert_eq(sy_semindex_put(x, pa, k[0], v, &NOFEAT, 0, 0), SY_OK);
    cr_assert_eq(sy_semindex_put(x, pb, k[1], v, &NOFEAT, 0, 0), SY_OK);
    float w[2];
    vec2(w, 0.5f);
    cr_assert_eq(sy_semindex_put(x, pa, k[2], w, &NOFEAT, 0, 0), SY_OK);
    /* a hit on e0 makes it recent: e1 is now the least recent */
    cr_assert_eq(sy_semindex_search(x, pa, v, &NOFEAT, 0.9f, 0, got, &sim), 1);
    cr_assert_eq(sy_semindex_put(x, pb, k[3], w, &NOFEAT, 0, 0), SY_OK);
    cr_assert_eq(sy_semindex_delete(x, pb, k[1]), 0, "e1 was evicted");
    sy_semindex_stats_t st = stats(x);
    cr_assert_eq(st.entries, 3);
    cr_assert_eq(st.evictions, 1);
    /* replacing e2 makes it recent: e0 goes next */
    cr_assert_eq(sy_semindex_put(x, pa, k[2], w, &NOFEAT, 0, 0), SY_OK);
    cr_assert_eq(stats(x).evictions, 1, "a replace needs no room");
    cr_assert_eq(sy_semindex_put(x, pb, k[4], w, &NOFEAT, 0, 0), SY_OK);
    cr_assert_eq(sy_semindex_delete(x, pa, k[0]), 0, "e0 was evicted");
    cr_assert_eq(sy_semindex_delete(x, pa, k[2]), 1);
    cr_assert_eq(sy_semindex_delete(x, pb, k[3]), 1);
    cr_assert_eq(sy_semindex_delete(x, pb, k[4]), 1);
    st = stats(x);
    cr_assert_eq(st.evictions, 2);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.partitions, 0);

    /* an expired victim counts as expired, not as an eviction; a victim in
     * the putting partition itself is fine */
    cr_assert_eq(sy_semindex_put(x, pa, k[0], v, &NOFEAT, 10, 0), SY_OK);
    cr_assert_eq(sy_semindex_put(x, pa, k[1], v, &NOFEAT, 0, 0), SY_OK);
    cr_assert_eq(sy_semindex_put(x, pa, k[2], v, &NOFEAT, 0, 0), SY_OK);
    cr_assert_eq(sy_semindex_put(x, pa, k[5], v, &NOFEAT, 0, 20), SY_OK);
    st = stats(x);
    cr_assert_eq(st.evictions, 2);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.entries, 3);
    cr_assert_eq(st.partitions, 1);
    sy_semindex_free(x);

    /* a bound of one: every put of a new key replaces the only entry */
    x = sy_semindex_new(2, 1);
    for (unsigned i = 0; i < 5; i++)
        cr_assert_eq(sy_semindex_put(x, i % 2 ? pa : pb, k[i], v, &NOFEAT, 0, 0), SY_OK);
    st = stats(x);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.evictions, 4);
    cr_assert_eq(st.partitions, 1);
    cr_assert_eq(sy_semindex_search(x, pb, v, &NOFEAT, 0.9f, 0, got, &sim), 1);
    cr_assert_arr_eq(got, k[4], 32);
    sy_semindex_free(x);
}

Test(semindex, sweep_is_bounded_and_covers_everything)
{
    enum { PARTS = 5, PER = 40, DIMS = 4 };
    sy_semindex_t *x = sy_semindex_new(DIMS, 1000);
    unsigned char p[32], k[32];
    float v[DIMS];
    for (unsigned i = 0; i < PARTS; i++) {
        id_of(p, 1, i);
        for (unsigned j = 0; j < PER; j++) {
            id_of(k, 2, j);
            rand_vec(v, DIMS, i * 1000 + j);
            /* odd entries expire at 50, even ones at 500 */
            cr_assert_eq(sy_semindex_put(x, p, k, v, &NOFEAT, j % 2 ? 50 : 500, 0), SY_OK);
        }
    }
    cr_assert_eq(sy_semindex_sweep(x, 49, 0), 0, "nothing expired yet");
    /* small steps: never more than the budget purged per call, and all of
     * the expired ones within a few passes */
    size_t total = 0, calls = 0;
    while (total < PARTS * PER / 2 && calls < 1000) {
        size_t n = sy_semindex_sweep(x, 60, 7);
        cr_assert_leq(n, 7);
        total += n;
        calls++;
    }
    cr_assert_eq(total, PARTS * PER / 2, "after %zu calls", calls);
    cr_assert_gt(calls, PARTS * PER / 2 / 7);
    sy_semindex_stats_t st = stats(x);
    cr_assert_eq(st.entries, PARTS * PER / 2);
    cr_assert_eq(st.expired, PARTS * PER / 2);
    cr_assert_eq(st.partitions, PARTS);
    /* the survivors are the even ones, each still found by its vector */
    for (unsigned i = 0; i < PARTS; i++) {
        id_of(p, 1, i);
        for (unsigned j = 0; j < PER; j++) {
            unsigned char got[32];
            float sim;
            rand_vec(v, DIMS, i * 1000 + j);
            int hit = sy_semindex_search(x, p, v, &NOFEAT, 0.9999f, 60, got, &sim);
            id_of(k, 2, j);
            if (j % 2 == 0) {
                cr_assert_eq(hit, 1);
                cr_assert_arr_eq(got, k, 32);
            }
            cr_assert_eq(sy_semindex_delete(x, p, k), j % 2 == 0);
            if (j % 2 == 0) /* put it back for the last sweep */
                cr_assert_eq(sy_semindex_put(x, p, k, v, &NOFEAT, 500, 60), SY_OK);
        }
    }
    /* everything expires: whole passes purge it all and free the partitions */
    total = 0;
    for (int i = 0; i < 4; i++)
        total += sy_semindex_sweep(x, 500, (size_t)1 << 20);
    cr_assert_eq(total, PARTS * PER / 2);
    st = stats(x);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.partitions, 0);
    cr_assert_eq(st.expired, PARTS * PER);
    sy_semindex_free(x);
}

Test(semindex, similarity_histogram)
{
    sy_semindex_t *x = sy_semindex_new(2, 10);
    unsigned char p[32], empty[32], k[32], got[32];
    float v[2] = {1, 0}, q[2], sim;
    id_of(p, 1, 0);
    id_of(empty, 1, 1);
    id_of(k, 2, 0);
    sy_semindex_put(x, p, k, v, &NOFEAT, 0, 0);
    /* misses report the similarity seen; a threshold above 1 never hits */
    const float sims[] = {-0.5f, 0.05f, 0.15f, 0.55f, 0.95f, 1.0f, 0.0f, 0.999f};
    for (size_t i = 0; i < sizeof sims / sizeof sims[0]; i++) {
        vec2(q, sims[i]);
        cr_assert_eq(sy_semindex_search(x, p, q, &NOFEAT, 2.0f, 0, got, &sim), 0);
        cr_assert_eq(sim, sims[i]);
    }
    cr_assert_eq(sy_semindex_search(x, empty, v, &NOFEAT, 0.0f, 0, got, &sim), 0); /* -1 */
    vec2(q, 0.92f);
    cr_assert_eq(sy_semindex_search(x, p, q, &NOFEAT, 0.9f, 0, got, &sim), 1); /* 0.92, a hit */
    sy_semindex_stats_t st = stats(x);
    const uint64_t want[11] = {2, 2, 1, 0, 0, 0, 1, 0, 0, 0, 4};
    for (int b = 0; b < 11; b++)
        cr_assert_eq(st.sim_buckets[b], want[b], "bucket %d: %llu", b, (unsigned long long)st.sim_buckets[b]);
    cr_assert_eq(st.searches, 10);
    cr_assert_eq(st.hits, 1);
    cr_assert_eq(st.misses, 9);
    sy_semindex_free(x);
}

Test(semindex, many_entries_grow_shrink_and_stay_findable)
{
    enum { N = 3000, DIMS = 8 };
    sy_semindex_t *x = sy_semindex_new(DIMS, N);
    unsigned char p[32], k[32], got[32];
    float v[DIMS], sim;
    id_of(p, 1, 0);
    for (unsigned i = 0; i < N; i++) {
        id_of(k, 2, i);
        rand_vec(v, DIMS, i);
        cr_assert_eq(sy_semindex_put(x, p, k, v, &NOFEAT, 0, 0), SY_OK);
    }
    sy_semindex_stats_t st = stats(x);
    cr_assert_eq(st.entries, N);
    cr_assert_eq(st.evictions, 0);
    uint64_t full_bytes = st.bytes;
    /* delete all but every seventh, in a scattered order */
    for (unsigned n = 0, i = 0; n < N; n++, i = (i + 1237) % N)
        if (i % 7) {
            id_of(k, 2, i);
            cr_assert_eq(sy_semindex_delete(x, p, k), 1, "%u", i);
        }
    for (unsigned i = 0; i < N; i++) {
        id_of(k, 2, i);
        rand_vec(v, DIMS, i);
        int hit = sy_semindex_search(x, p, v, &NOFEAT, 0.9999f, 0, got, &sim);
        if (i % 7 == 0) {
            cr_assert_eq(hit, 1, "%u", i);
            cr_assert_arr_eq(got, k, 32, "%u", i);
        } else {
            cr_assert(!hit || memcmp(got, k, 32) != 0, "%u found after its delete", i);
        }
    }
    st = stats(x);
    cr_assert_eq(st.entries, (N + 6) / 7);
    cr_assert_lt(st.bytes, full_bytes, "the arrays shrank");
    /* and grow again through replaced and new keys */
    for (unsigned i = 0; i < N; i++) {
        id_of(k, 2, i);
        rand_vec(v, DIMS, i + 7 * N);
        cr_assert_eq(sy_semindex_put(x, p, k, v, &NOFEAT, 0, 0), SY_OK);
    }
    cr_assert_eq(stats(x).entries, N);
    for (unsigned i = 0; i < N; i += 13) {
        id_of(k, 2, i);
        rand_vec(v, DIMS, i + 7 * N);
        cr_assert_eq(sy_semindex_search(x, p, v, &NOFEAT, 0.9999f, 0, got, &sim), 1);
        cr_assert_arr_eq(got, k, 32);
    }
    sy_semindex_free(x);
}

/* ---- threads ------------------------------------------------------------ */

enum { T_THREADS = 4, T_OPS = 20000, T_PARTS = 6, T_KEYS = 40, T_DIMS = 16, T_MAX = 100 };

typedef struct tctx {
    sy_semindex_t *x;
    atomic_uint_fast64_t *clock;
    atomic_int *wrong;
    unsigned seed;
    uint64_t searches;
} tctx_t;

static void t_ids(unsigned pi, unsigned ki, unsigned char p[32], unsigned char k[32], float *v)
{
    id_of(p, 1, pi);
    id_of(k, 2, ki);
    rand_vec(v, T_DIMS, pi * 1000 + ki);
}

static void *worker(void *arg)
{
    tctx_t *c = arg;
    unsigned s = c->seed;
    unsigned char p[32], k[32], got[32];
    float v[T_DIMS], sim;
    for (int i = 0; i < T_OPS; i++) {
        s = s * 1103515245u + 12345u;
        unsigned r = s >> 8;
        unsigned pi = r % T_PARTS, ki = (r / T_PARTS) % T_KEYS, op = (r / (T_PARTS * T_KEYS)) % 20;
        uint64_t now = atomic_fetch_add(c->clock, 1);
        t_ids(pi, ki, p, k, v);
        if (op < 10) {
            c->searches++;
            if (sy_semindex_search(c->x, p, v, &NOFEAT, 0.999f, now, got, &sim) && memcmp(got, k, 32) != 0)
                atomic_fetch_add(c->wrong, 1);
        } else if (op < 16) {
            /* a third expire soon */
            uint64_t exp = op < 12 ? now + 50 : 0;
            if (sy_semindex_put(c->x, p, k, v, &NOFEAT, exp, now) != SY_OK)
                atomic_fetch_add(c->wrong, 1);
        } else if (op < 19) {
            sy_semindex_delete(c->x, p, k);
        } else {
            sy_semindex_sweep(c->x, now, 64);
            sy_semindex_stats_t st;
            sy_semindex_stats(c->x, &st);
            if (st.entries > T_MAX)
                atomic_fetch_add(c->wrong, 1);
        }
    }
    return NULL;
}

Test(semindex, four_threads_at_once)
{
    sy_semindex_t *x = sy_semindex_new(T_DIMS, T_MAX);
    atomic_uint_fast64_t clock = 1;
    atomic_int wrong = 0;
    pthread_t th[T_THREADS];
    tctx_t ctx[T_THREADS];
    for (int i = 0; i < T_THREADS; i++) {
        ctx[i] = (tctx_t){x, &clock, &wrong, (unsigned)(i * 7919 + 1), 0};
        cr_assert_eq(pthread_create(&th[i], NULL, worker, &ctx[i]), 0);
    }
    uint64_t searches = 0;
    for (int i = 0; i < T_THREADS; i++) {
        pthread_join(th[i], NULL);
        searches += ctx[i].searches;
    }
    cr_assert_eq(atomic_load(&wrong), 0, "a wrong hit, a failed put or the bound exceeded");
    sy_semindex_stats_t st = stats(x);
    cr_assert_eq(st.searches, searches);
    cr_assert_eq(st.hits + st.misses, st.searches);
    uint64_t sum = 0;
    for (int b = 0; b < 11; b++)
        sum += st.sim_buckets[b];
    cr_assert_eq(sum, st.searches);
    cr_assert_leq(st.entries, T_MAX);
    cr_assert_gt(st.evictions, 0, "the bound was reached");
    cr_assert_gt(st.hits, 0);

    /* consistency: purge what has expired, then every entry the stats count
     * is found by its own vector, and nothing else is */
    uint64_t now = atomic_load(&clock) + 1000;
    for (int i = 0; i < 3; i++)
        sy_semindex_sweep(x, now, (size_t)1 << 20);
    st = stats(x);
    uint64_t found = 0;
    for (unsigned pi = 0; pi < T_PARTS; pi++)
        for (unsigned ki = 0; ki < T_KEYS; ki++) {
            unsigned char p[32], k[32], got[32];
            float v[T_DIMS], sim;
            t_ids(pi, ki, p, k, v);
            if (sy_semindex_search(x, p, v, &NOFEAT, 0.999f, now, got, &sim)) {
                cr_assert_arr_eq(got, k, 32);
                found++;
            }
        }
    cr_assert_eq(found, st.entries);
    cr_assert_leq(st.partitions, T_PARTS);
    /* and all of it can be deleted, leaving no partition behind */
    for (unsigned pi = 0; pi < T_PARTS; pi++)
        for (unsigned ki = 0; ki < T_KEYS; ki++) {
            unsigned char p[32], k[32];
            float v[T_DIMS];
            t_ids(pi, ki, p, k, v);
            sy_semindex_delete(x, p, k);
        }
    st = stats(x);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.partitions, 0);
    sy_semindex_free(x);
}
