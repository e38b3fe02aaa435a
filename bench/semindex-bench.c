/*
 * semindex-bench - how long the semantic cache's index (src/cache/semantic.c)
 * takes to search one partition of 1k, 10k and 100k entries, as a markdown
 * table.
 *
 *   build/semindex-bench [--dims N] [--threads T] [--max N]
 *
 * For each size it fills one partition with pseudo-random unit vectors
 * (dims 512 by default), then times searches with other random vectors at
 * the default threshold: none reaches it, so every search is the full scan a
 * real lookup does (a hit scans the whole partition too). It prints the
 * median and the 99th percentile per search, the cost per entry, the bytes
 * of vectors read per second, the index's bytes per entry (all of the
 * index's memory, arrays rounded up to a power of two), searches per second
 * by one thread and by T threads at once on the same partition (default 2:
 * the searches share the partition's read lock, so this shows whether they
 * scale - on a machine with T idle cores), and the cost of a put into the
 * full partition. A row for one entry gives the fixed cost of a search.
 * --max stops after that size (default 100000). Each measurement runs for
 * about a second.
 */
#include "cache/semantic.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUN_S 1.0
#define MAX_SAMPLES 100000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rand_vec(float *out, size_t dims, uint64_t *s)
{
    double norm = 0;
    for (size_t i = 0; i < dims; i++) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        out[i] = (float)((double)(*s >> 11) / (double)(1ULL << 53) - 0.5);
        norm += (double)out[i] * out[i];
    }
    for (size_t i = 0; i < dims; i++)
        out[i] = (float)(out[i] / __builtin_sqrt(norm));
}

static void key_of(unsigned char k[32], uint64_t n)
{
    memset(k, 0, 32);
    memcpy(k, &n, sizeof n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct run {
    sy_semindex_t *x;
    const unsigned char *part;
    size_t dims;
    uint64_t seed;
    double until;
    size_t searches;
    double *samples; /* seconds per search, up to MAX_SAMPLES */
} run_t;

static void *searcher(void *arg)
{
    run_t *r = arg;
    static const sy_semfeat_t feat;
    float *q = malloc(r->dims * sizeof(float));
    unsigned char got[32];
    float sim;
    if (!q)
        return NULL;
    for (;;) {
        rand_vec(q, r->dims, &r->seed);
        double t0 = now_s();
        (void)sy_semindex_search(r->x, r->part, q, &feat, SY_EMBED_THRESHOLD, 1, got, &sim);
        double t1 = now_s();
        if (r->samples && r->searches < MAX_SAMPLES)
            r->samples[r->searches] = t1 - t0;
        r->searches++;
        if (t1 >= r->until)
            break;
    }
    free(q);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t dims = SY_EMBED_DIMS, threads = 2, max = 100000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dims") && i + 1 < argc)
            dims = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--max") && i + 1 < argc)
            max = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--dims N] [--threads T] [--max N]\n", argv[0]);
            return 2;
        }
    }
    if (dims == 0 || dims > SY_EMBED_MAX_DIMS || threads == 0 || threads > 64) {
        fprintf(stderr, "semindex-bench: bad --dims or --threads\n");
        return 2;
    }
    /* 1 entry: the fixed cost of a search (map, locks, counters) */
    static const size_t sizes[] = {1, 1000, 10000, 100000, 1000000};
    static const sy_semfeat_t feat;
    unsigned char part[32], key[32];
    memset(part, 7, sizeof part);
    float *v = malloc(dims * sizeof(float));
    double *samples = malloc(MAX_SAMPLES * sizeof(double));
    if (!v || !samples)
        return 1;

    printf("Exact scan of one partition, %zu dimensions, one search at a time:\n\n", dims);
    printf("| entries | median per search | p99 | per entry | vectors read | index bytes per entry "
           "| searches/s, 1 thread | searches/s, %zu threads | put |\n",
           threads);
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0] && sizes[si] <= max; si++) {
        size_t n = sizes[si];
        sy_semindex_t *x = sy_semindex_new(dims, n);
        if (!x)
            return 1;
        uint64_t seed = 0x12345678u + n;
        for (size_t i = 0; i < n; i++) {
            rand_vec(v, dims, &seed);
            key_of(key, i);
            if (sy_semindex_put(x, part, key, v, &feat, 0, 0) != SY_OK) {
                fprintf(stderr, "semindex-bench: put failed at %zu\n", i);
                return 1;
            }
        }
        sy_semindex_stats_t st;
        sy_semindex_stats(x, &st);

        /* one thread, timed search by search */
        double s0 = now_s();
        run_t r = {x, part, dims, seed ^ 0xabcdef, s0 + RUN_S, 0, samples};
        searcher(&r);
        double one = (double)r.searches / (now_s() - s0);
        size_t m = r.searches < MAX_SAMPLES ? r.searches : MAX_SAMPLES;
        qsort(samples, m, sizeof *samples, cmp_double);
        double med = samples[m / 2], p99 = samples[(size_t)((double)(m - 1) * 0.99)];

        /* T threads at once on the same partition */
        pthread_t th[64];
        run_t rs[64];
        double t0 = now_s();
        for (size_t t = 0; t < threads; t++) {
            rs[t] = (run_t){x, part, dims, seed + t * 7919, t0 + RUN_S, 0, NULL};
            if (pthread_create(&th[t], NULL, searcher, &rs[t]) != 0)
                return 1;
        }
        size_t total = 0;
        for (size_t t = 0; t < threads; t++) {
            pthread_join(th[t], NULL);
            total += rs[t].searches;
        }
        double par = (double)total / (now_s() - t0);

        /* a put into the full partition: evicts the oldest, appends */
        size_t puts = 1000;
        double p0 = now_s();
        for (size_t i = 0; i < puts; i++) {
            rand_vec(v, dims, &seed);
            key_of(key, n + i);
            (void)sy_semindex_put(x, part, key, v, &feat, 0, 0);
        }
        double put_us = (now_s() - p0) / (double)puts * 1e6;

        printf("| %zu | %.1f µs | %.1f µs | %.2f ns | %.1f GB/s | %.0f | %.0f | %.0f | %.2f µs |\n", n, med * 1e6,
               p99 * 1e6, med / (double)n * 1e9, (double)n * (double)dims * sizeof(float) / med / 1e9,
               (double)st.bytes / (double)n, one, par, put_us);
        fflush(stdout);
        sy_semindex_free(x);
    }
    free(v);
    free(samples);
    return 0;
}
