/*
 * semantic-eval - precision and recall of the semantic cache's built-in
 * embedder (src/cache/embed.c) on the labelled pairs, as a markdown table.
 *
 *   build/semantic-eval [--dims N] [--misses] [FILE]
 *
 * FILE defaults to tests/data/semantic-pairs.tsv. For each threshold it
 * counts, over the labelled pairs, how many the cache would serve from one
 * another (similarity >= threshold, and with guards no veto): precision is
 * the share of those that are truly the same question, recall the share of
 * the same-question pairs it serves. With --misses it also lists the false
 * hits and the guards' vetoes at the default threshold, one per line. It
 * then times the embedder (microseconds per KB of text) and an exact scan of
 * 100k vectors at the chosen dimension. Exits 1 when the file cannot be read
 * or parsed or holds fewer than 300 pairs.
 */
#include "cache/embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_PAIRS 300
#define MAX_PAIRS 100000
#define MAX_FILE (16u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(MAX_FILE);
    size_t len = buf ? fread(buf, 1, MAX_FILE, f) : 0;
    int bad = !buf || ferror(f) || len == MAX_FILE;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *n = len;
    return buf;
}

static double ratio(size_t a, size_t b)
{
    return b ? (double)a / (double)b : 1.0;
}

/* Time the embedder on a ~1 KB text and an exact scan of 100k vectors. */
static void timings(size_t dims)
{
    static const char para[] =
        "How do I reverse a list in Python without changing the original list? "
        "I tried list.reverse() but it modifies it in place, and reversed() gives "
        "an iterator. What is the most idiomatic way in Python 3.12, and is slicing "
        "with [::-1] slower for a list of 10,000 items? ";
    char text[1100];
    size_t tl = 0;
    while (tl + sizeof para - 1 < sizeof text) {
        memcpy(text + tl, para, sizeof para - 1);
        tl += sizeof para - 1;
    }
    float *v = malloc(dims * sizeof *v);
    int reps = 20000;
    double t0 = now_s();
    for (int i = 0; i < reps; i++) {
        text[0] = (char)('A' + i % 26);
        sy_embed_text(text, tl, v, dims);
    }
    double per = (now_s() - t0) / reps * 1e6;
    printf("\nembedder: %.2f us per KB (%zu-byte text, %zu dims)\n", per * 1024.0 / (double)tl, tl,
           dims);

    size_t n = 100000;
    float *m = malloc(n * dims * sizeof *m);
    if (!m || !v) {
        free(m);
        free(v);
        return;
    }
    for (size_t i = 0; i < n * dims; i++)
        m[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    float best = -2;
    double s0 = now_s();
    int scans = 5;
    for (int r = 0; r < scans; r++)
        for (size_t i = 0; i < n; i++) {
            float s = sy_embed_dot(v, m + i * dims, dims);
            if (s > best)
                best = s;
        }
    double scan = (now_s() - s0) / scans * 1e6;
    printf("exact scan: %.0f us per 100k vectors of %zu dims (%.1f MB of floats; best %.3f)\n",
           scan, dims, (double)(n * dims * sizeof *m) / 1e6, best);
    free(m);
    free(v);
}

int main(int argc, char **argv)
{
    const char *path = "tests/data/semantic-pairs.tsv";
    size_t dims = SY_EMBED_DIMS;
    int misses = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dims") == 0 && i + 1 < argc)
            dims = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--misses") == 0)
            misses = 1;
        else
            path = argv[i];
    }
    size_t n = 0;
    char *tsv = read_all(path, &n);
    if (!tsv) {
        fprintf(stderr, "semantic-eval: cannot read %s\n", path);
        return 1;
    }
    sy_embed_pair_t *pairs = malloc(MAX_PAIRS * sizeof *pairs);
    size_t bad = 0;
    long np = pairs ? sy_embed_pairs_score(tsv, n, dims, pairs, MAX_PAIRS, &bad) : -1;
    if (np < 0) {
        fprintf(stderr, "semantic-eval: %s:%zu: malformed line (or bad --dims)\n", path, bad);
        return 1;
    }
    if (np > MAX_PAIRS)
        np = MAX_PAIRS;
    size_t pos = 0;
    for (long i = 0; i < np; i++)
        pos += (size_t)pairs[i].label;
    printf("%ld pairs (%zu same question, %zu different), %zu dims\n\n", np, pos,
           (size_t)np - pos, dims);
    printf("| threshold | guards | hits | true | false | precision | recall |\n");
    printf("|---:|:---:|---:|---:|---:|---:|---:|\n");
    static const float thr[] = {0.70f, 0.75f, 0.80f, 0.85f, 0.88f, 0.90f, 0.92f, 0.94f, 0.96f};
    for (size_t t = 0; t < sizeof thr / sizeof thr[0]; t++)
        for (int g = 0; g <= 1; g++) {
            sy_embed_counts_t c;
            sy_embed_pairs_count(pairs, (size_t)np, thr[t], g, &c);
            printf("| %.2f | %s | %zu | %zu | %zu | %.3f | %.3f |\n", thr[t], g ? "yes" : "no",
                   c.tp + c.fp, c.tp, c.fp, ratio(c.tp, c.tp + c.fp), ratio(c.tp, c.tp + c.fn));
        }
    if (misses) {
        printf("\nat %.2f:\n", SY_EMBED_THRESHOLD);
        for (long i = 0; i < np; i++) {
            const sy_embed_pair_t *p = &pairs[i];
            const char *what = NULL;
            if (p->sim >= SY_EMBED_THRESHOLD && !p->label)
                what = p->veto ? "vetoed" : "FALSE HIT";
            else if (p->sim >= SY_EMBED_THRESHOLD && p->label && p->veto)
                what = "lost";
            else if (p->sim < SY_EMBED_THRESHOLD && p->label)
                what = "below";
            if (what)
                printf("  line %zu: %s sim %.3f veto %s\n", p->line, what, p->sim,
                       sy_semveto_name(p->veto));
        }
    }
    timings(dims);
    free(pairs);
    free(tsv);
    if (np < MIN_PAIRS) {
        fprintf(stderr, "semantic-eval: %ld pairs, fewer than %d\n", np, MIN_PAIRS);
        return 1;
    }
    return 0;
}
