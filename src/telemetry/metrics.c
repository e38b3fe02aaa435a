/*
 * metrics.c - the metrics registry: counters, gauges and histograms recorded
 * per worker thread and summed into Prometheus text on a scrape.
 *
 * A family (one metric name) owns one shard per worker thread. A shard is a
 * mutex and an open-addressing hash table from a label-value set to that
 * shard's series (a running sum, or non-cumulative histogram bucket counts
 * plus a sum). The owner thread takes its shard's mutex only for the instant
 * of an update, so the lock is uncontended except while a scrape sums that
 * shard. Label-value sets are interned once per family in a second table
 * under a read-write lock; that table is touched only when a shard sees a set
 * for the first time, and it is what bounds the family: it counts distinct
 * sets across all shards, and past max_series hands out the one "_overflow"
 * set instead. Memory is thus at most (max_series + 1) keys per family and as
 * many series per shard, whatever label values clients send.
 *
 * Lock order: an updater holds its shard mutex and may then take the family
 * key lock; a scrape takes the registry mutex, copies the key list under the
 * key lock and releases it before taking any shard mutex. No cycle.
 */
#include "telemetry/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

#define DEFAULT_MAX_SERIES 2048
/* Hash-table capacities are 32-bit; this keeps them far from overflow. */
#define MAX_MAX_SERIES (1u << 22)
#define MAX_BOUNDS 1024
#define MAX_NAME_BYTES 200

const double sy_metrics_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                            5,      10,    30,     60,    120};
const unsigned sy_metrics_latency_nbounds =
    sizeof sy_metrics_latency_bounds / sizeof sy_metrics_latency_bounds[0];

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

static const char *const kind_names[] = {"counter", "gauge", "histogram"};

/* The label values of one update, measured and hashed once. */
struct query {
    uint64_t hash;
    const char *v[SY_METRICS_MAX_LABELS];
    size_t len[SY_METRICS_MAX_LABELS];
};

/* An interned label-value set. Immutable once published, freed only with the
 * registry, so shards may point at it without holding the family lock. Unused
 * label slots point at "" so keys compare over all slots. */
struct key {
    uint64_t hash;
    uint32_t id; /* index in the family's byid array */
    uint16_t len[SY_METRICS_MAX_LABELS];
    const char *val[SY_METRICS_MAX_LABELS];
    char data[];
};

/* One shard's series. sum is the counter/gauge value or the histogram sum;
 * counts are histogram buckets, non-cumulative, the last one for +Inf. */
struct series {
    const struct key *key;
    double sum;
    uint64_t counts[];
};

struct slot {
    uint64_t hash;
    void *p; /* NULL = empty */
};

/* Open addressing with linear probing; capacity a power of two, at most half
 * full; entries are never removed. */
struct table {
    struct slot *slots;
    uint32_t cap, n;
};

/* Aligned so two shards' mutexes never share a cache line. */
struct shard {
    _Alignas(64) pthread_mutex_t mu;
    struct table t;
};

struct sy_metric {
    sy_metrics_t *m;
    struct sy_metric *next;
    enum kind kind;
    char *name;
    char *help; /* already escaped for the HELP line */
    unsigned nlabels;
    char *labels[SY_METRICS_MAX_LABELS];
    double *bounds;
    unsigned nbounds;
    size_t max_series;

    pthread_rwlock_t klock; /* guards keys, byid, nkeys, nregular, overflow */
    struct table keys;
    struct key **byid;
    uint32_t nkeys, byid_cap;
    size_t nregular; /* keys interned under the bound (not the overflow one) */
    struct key *overflow;

    struct shard *shards; /* m->nshards of them */
};

struct sy_metrics {
    unsigned nshards;
    size_t max_series;
    pthread_mutex_t lock; /* guards the family list */
    struct sy_metric *head, *tail;
};

static const char overflow_value[] = "_overflow";

/* ---- hashing and keys ---------------------------------------------------- */

static inline uint32_t slot_of(uint64_t h, uint32_t mask)
{
    return (uint32_t)(h ^ (h >> 32)) & mask;
}

/* Measure and hash an update's label values. A value longer than
 * SY_METRICS_MAX_VALUE_BYTES is cut back to a character boundary so the
 * stored copy stays valid UTF-8. Each value is followed by a 0 byte in the
 * hash so ("a","bc") and ("ab","c") differ. */
static void query_make(const sy_metric_t *f, const char *const *values, struct query *q)
{
    uint64_t h = SY_FNV_OFFSET;

    for (unsigned i = 0; i < f->nlabels; i++) {
        const char *s = values && values[i] ? values[i] : "";
        size_t n = strnlen(s, SY_METRICS_MAX_VALUE_BYTES + 1);

        if (n > SY_METRICS_MAX_VALUE_BYTES) {
            n = SY_METRICS_MAX_VALUE_BYTES;
            while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
                n--;
        }
        h = sy_fnv1a(h, s, n);
        h *= SY_FNV_PRIME; /* the 0 separator: h ^= 0 is a no-op */
        q->v[i] = s;
        q->len[i] = n;
    }
    q->hash = h;
}

static int key_matches(const struct key *k, const struct query *q, unsigned nlabels)
{
    if (k->hash != q->hash)
        return 0;
    for (unsigned i = 0; i < nlabels; i++)
        if (k->len[i] != q->len[i] || memcmp(k->val[i], q->v[i], q->len[i]) != 0)
            return 0;
    return 1;
}

static struct key *key_new(const sy_metric_t *f, const struct query *q)
{
    size_t total = 0;
    struct key *k;
    char *p;

    for (unsigned i = 0; i < f->nlabels; i++)
        total += q->len[i] + 1;
    k = malloc(sizeof *k + total);
    if (!k)
        return NULL;
    k->hash = q->hash;
    k->id = 0;
    p = k->data;
    for (unsigned i = 0; i < SY_METRICS_MAX_LABELS; i++) {
        if (i < f->nlabels) {
            memcpy(p, q->v[i], q->len[i]);
            p[q->len[i]] = '\0';
            k->val[i] = p;
            k->len[i] = (uint16_t)q->len[i];
            p += q->len[i] + 1;
        } else {
            k->val[i] = "";
            k->len[i] = 0;
        }
    }
    return k;
}

/* Series order in the exposition: by label values, label by label. */
static int key_cmp(const void *a, const void *b)
{
    const struct key *ka = *(const struct key *const *)a;
    const struct key *kb = *(const struct key *const *)b;

    for (unsigned i = 0; i < SY_METRICS_MAX_LABELS; i++) {
        int c = strcmp(ka->val[i], kb->val[i]);
        if (c)
            return c;
    }
    return 0;
}

/* ---- the open-addressing table ------------------------------------------- */

static void table_put(struct table *t, uint64_t h, void *p)
{
    uint32_t mask = t->cap - 1;
    uint32_t i = slot_of(h, mask);

    while (t->slots[i].p)
        i = (i + 1) & mask;
    t->slots[i].hash = h;
    t->slots[i].p = p;
    t->n++;
}

/* Make room for one more entry. Returns 0, or -1 when out of memory. */
static int table_reserve(struct table *t)
{
    struct table nt;

    if ((t->n + 1) * 2 <= t->cap)
        return 0;
    nt.cap = t->cap ? t->cap * 2 : 16;
    nt.n = 0;
    nt.slots = calloc(nt.cap, sizeof *nt.slots);
    if (!nt.slots)
        return -1;
    for (uint32_t i = 0; i < t->cap; i++)
        if (t->slots[i].p)
            table_put(&nt, t->slots[i].hash, t->slots[i].p);
    free(t->slots);
    *t = nt;
    return 0;
}

/* ---- family key set ------------------------------------------------------ */

static struct key *keys_find(const sy_metric_t *f, const struct query *q)
{
    uint32_t mask, i;

    if (!f->keys.cap)
        return NULL;
    mask = f->keys.cap - 1;
    for (i = slot_of(q->hash, mask); f->keys.slots[i].p; i = (i + 1) & mask) {
        struct key *k = f->keys.slots[i].p;
        if (f->keys.slots[i].hash == q->hash && key_matches(k, q, f->nlabels))
            return k;
    }
    return NULL;
}

/* Create and publish a key for q. Caller holds klock for writing. */
static struct key *keys_add(sy_metric_t *f, const struct query *q)
{
    struct key *k;

    if (f->nkeys == f->byid_cap) {
        uint32_t ncap = f->byid_cap ? f->byid_cap * 2 : 16;
        struct key **nb = realloc(f->byid, ncap * sizeof *nb);
        if (!nb)
            return NULL;
        f->byid = nb;
        f->byid_cap = ncap;
    }
    if (table_reserve(&f->keys))
        return NULL;
    k = key_new(f, q);
    if (!k)
        return NULL;
    k->id = f->nkeys;
    f->byid[f->nkeys++] = k;
    table_put(&f->keys, k->hash, k);
    return k;
}

/* The all-"_overflow" key, created on first need. Caller holds klock for
 * writing. It may already exist as an ordinary key if a caller used those
 * values itself; then that one is it. */
static struct key *overflow_key(sy_metric_t *f)
{
    const char *vals[SY_METRICS_MAX_LABELS];
    struct query q;
    struct key *k;

    if (f->overflow)
        return f->overflow;
    for (unsigned i = 0; i < SY_METRICS_MAX_LABELS; i++)
        vals[i] = overflow_value;
    query_make(f, vals, &q);
    k = keys_find(f, &q);
    if (!k)
        k = keys_add(f, &q);
    f->overflow = k;
    return k;
}

/* The family's key for q: the existing one, a new one while under the
 * bound, else the overflow key. NULL only when out of memory. The common
 * cases (known key, or family full) need only the read lock. */
static struct key *family_intern(sy_metric_t *f, const struct query *q)
{
    struct key *k;

    pthread_rwlock_rdlock(&f->klock);
    k = keys_find(f, q);
    if (!k && f->nregular >= f->max_series)
        k = f->overflow;
    pthread_rwlock_unlock(&f->klock);
    if (k)
        return k;

    pthread_rwlock_wrlock(&f->klock);
    k = keys_find(f, q);
    if (!k) {
        if (f->nregular < f->max_series) {
            k = keys_add(f, q);
            if (k)
                f->nregular++;
        } else {
            k = overflow_key(f);
        }
    }
    pthread_rwlock_unlock(&f->klock);
    return k;
}

/* ---- shards -------------------------------------------------------------- */

static struct series *shard_find(const sy_metric_t *f, const struct shard *sh,
                                 const struct query *q)
{
    uint32_t mask, i;

    if (!sh->t.cap)
        return NULL;
    mask = sh->t.cap - 1;
    for (i = slot_of(q->hash, mask); sh->t.slots[i].p; i = (i + 1) & mask) {
        struct series *s = sh->t.slots[i].p;
        if (sh->t.slots[i].hash == q->hash && key_matches(s->key, q, f->nlabels))
            return s;
    }
    return NULL;
}

/* Keys are interned, so a key is found by pointer. */
static struct series *shard_find_key(const struct shard *sh, const struct key *k)
{
    uint32_t mask, i;

    if (!sh->t.cap)
        return NULL;
    mask = sh->t.cap - 1;
    for (i = slot_of(k->hash, mask); sh->t.slots[i].p; i = (i + 1) & mask) {
        struct series *s = sh->t.slots[i].p;
        if (s->key == k)
            return s;
    }
    return NULL;
}

/* First update of q in this shard. Caller holds sh->mu. NULL when out of
 * memory (the update is then dropped). */
static struct series *shard_insert(sy_metric_t *f, struct shard *sh, const struct query *q)
{
    struct key *k = family_intern(f, q);
    struct series *s;
    size_t nb = f->kind == KIND_HISTOGRAM ? f->nbounds + 1 : 0;

    if (!k)
        return NULL;
    /* q may have been redirected to the overflow key this shard already has. */
    s = shard_find_key(sh, k);
    if (s)
        return s;
    if (table_reserve(&sh->t))
        return NULL;
    s = calloc(1, sizeof *s + nb * sizeof s->counts[0]);
    if (!s)
        return NULL;
    s->key = k;
    table_put(&sh->t, k->hash, s);
    return s;
}

static void series_record(const sy_metric_t *f, struct series *s, double v)
{
    unsigned lo = 0, hi = f->nbounds;

    if (f->kind != KIND_HISTOGRAM) {
        s->sum += v;
        return;
    }
    /* First bucket with v <= bound: "le" is inclusive. */
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (v <= f->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    s->counts[lo]++;
    s->sum += v;
}

void sy_metric_add(sy_metric_t *f, unsigned shard, const char *const *values, double v)
{
    struct query q;
    struct shard *sh;
    struct series *s;

    /* A NaN or infinity would poison the sum for the life of the process. */
    if (!f || !isfinite(v) || (f->kind == KIND_COUNTER && v < 0))
        return;
    query_make(f, values, &q);
    sh = &f->shards[shard < f->m->nshards ? shard : f->m->nshards - 1];
    pthread_mutex_lock(&sh->mu);
    s = shard_find(f, sh, &q);
    if (!s)
        s = shard_insert(f, sh, &q);
    if (s)
        series_record(f, s, v);
    pthread_mutex_unlock(&sh->mu);
}

void sy_metric_observe(sy_metric_t *f, unsigned shard, const char *const *values, double v)
{
    sy_metric_add(f, shard, values, v);
}

double sy_metric_value(sy_metric_t *f, const char *const *values)
{
    struct query q;
    double total = 0;

    if (!f)
        return 0;
    query_make(f, values, &q);
    for (unsigned i = 0; i < f->m->nshards; i++) {
        struct shard *sh = &f->shards[i];
        struct series *s;

        pthread_mutex_lock(&sh->mu);
        s = shard_find(f, sh, &q);
        if (s && f->kind == KIND_HISTOGRAM) {
            for (unsigned j = 0; j <= f->nbounds; j++)
                total += (double)s->counts[j];
        } else if (s) {
            total += s->sum;
        }
        pthread_mutex_unlock(&sh->mu);
    }
    return total;
}

/* ---- registry and registration ------------------------------------------- */

sy_metrics_t *sy_metrics_new(unsigned nshards, size_t max_series)
{
    sy_metrics_t *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    m->nshards = nshards ? nshards : 1;
    m->max_series = max_series ? max_series : DEFAULT_MAX_SERIES;
    if (m->max_series > MAX_MAX_SERIES)
        m->max_series = MAX_MAX_SERIES;
    return m;
}

static void family_free(sy_metric_t *f, unsigned nshards)
{
    if (!f)
        return;
    if (f->shards) {
        for (unsigned i = 0; i < nshards; i++) {
            struct shard *sh = &f->shards[i];
            for (uint32_t j = 0; j < sh->t.cap; j++)
                free(sh->t.slots[j].p);
            free(sh->t.slots);
            pthread_mutex_destroy(&sh->mu);
        }
        free(f->shards);
        pthread_rwlock_destroy(&f->klock);
    }
    for (uint32_t i = 0; i < f->nkeys; i++)
        free(f->byid[i]);
    free(f->byid);
    free(f->keys.slots);
    free(f->name);
    free(f->help);
    for (unsigned i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->bounds);
    free(f);
}

void sy_metrics_free(sy_metrics_t *m)
{
    sy_metric_t *f, *next;

    if (!m)
        return;
    for (f = m->head; f; f = next) {
        next = f->next;
        family_free(f, m->nshards);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int name_ok(const char *s, int colons)
{
    size_t n;

    if (!s || !*s)
        return 0;
    n = strnlen(s, MAX_NAME_BYTES + 1);
    if (n > MAX_NAME_BYTES || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (colons && c == ':')))
            return 0;
    }
    return 1;
}

/* HELP text escapes only backslash and newline (format 0.0.4). */
static char *help_escape(const char *help)
{
    size_t n = strlen(help), extra = 0, j = 0;
    char *out;

    for (size_t i = 0; i < n; i++)
        extra += help[i] == '\\' || help[i] == '\n';
    out = malloc(n + extra + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (help[i] == '\\' || help[i] == '\n') {
            out[j++] = '\\';
            out[j++] = help[i] == '\n' ? 'n' : '\\';
        } else {
            out[j++] = help[i];
        }
    }
    out[j] = '\0';
    return out;
}

/* Check the arguments, then build and append a family. NULL on bad
 * arguments (invalid or duplicate names, too many labels, bounds not finite
 * and strictly ascending, "le" as a histogram label) or no memory. */
static sy_metric_t *family_register(sy_metrics_t *m, enum kind kind, const char *name,
                                    const char *help, unsigned nlabels,
                                    const char *const *labels, const double *bounds,
                                    unsigned nbounds)
{
    sy_metric_t *f = NULL, *ret = NULL, *it;
    int locked = 0;

    if (!m || !name_ok(name, 1) || nlabels > SY_METRICS_MAX_LABELS || (nlabels && !labels))
        goto out;
    for (unsigned i = 0; i < nlabels; i++) {
        if (!name_ok(labels[i], 0) || strncmp(labels[i], "__", 2) == 0)
            goto out;
        if (kind == KIND_HISTOGRAM && strcmp(labels[i], "le") == 0)
            goto out;
        for (unsigned j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                goto out;
    }
    if (kind == KIND_HISTOGRAM) {
        if (nbounds > MAX_BOUNDS || (nbounds && !bounds))
            goto out;
        for (unsigned i = 0; i < nbounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                goto out;
    } else {
        nbounds = 0;
    }

    f = calloc(1, sizeof *f);
    if (!f)
        goto out;
    f->m = m;
    f->kind = kind;
    f->max_series = m->max_series;
    f->name = strdup(name);
    f->help = help_escape(help ? help : "");
    if (!f->name || !f->help)
        goto out;
    for (unsigned i = 0; i < nlabels; i++) {
        f->labels[i] = strdup(labels[i]);
        if (!f->labels[i])
            goto out;
        f->nlabels = i + 1;
    }
    if (nbounds) {
        f->bounds = malloc(nbounds * sizeof *f->bounds);
        if (!f->bounds)
            goto out;
        memcpy(f->bounds, bounds, nbounds * sizeof *f->bounds);
    }
    f->nbounds = nbounds;

    /* Shards last: family_free() treats a non-NULL shards as "locks are
     * initialised". */
    if (pthread_rwlock_init(&f->klock, NULL) != 0)
        goto out;
    f->shards = aligned_alloc(_Alignof(struct shard), m->nshards * sizeof *f->shards);
    if (!f->shards) {
        pthread_rwlock_destroy(&f->klock);
        goto out;
    }
    memset(f->shards, 0, m->nshards * sizeof *f->shards);
    for (unsigned i = 0; i < m->nshards; i++)
        pthread_mutex_init(&f->shards[i].mu, NULL);

    pthread_mutex_lock(&m->lock);
    locked = 1;
    for (it = m->head; it; it = it->next)
        if (strcmp(it->name, name) == 0)
            goto out;
    if (m->tail)
        m->tail->next = f;
    else
        m->head = f;
    m->tail = f;
    ret = f;
    f = NULL;
out:
    if (locked)
        pthread_mutex_unlock(&m->lock);
    family_free(f, m ? m->nshards : 0);
    return ret;
}

sy_metric_t *sy_metrics_counter(sy_metrics_t *m, const char *name, const char *help,
                                unsigned nlabels, const char *const *labels)
{
    return family_register(m, KIND_COUNTER, name, help, nlabels, labels, NULL, 0);
}

sy_metric_t *sy_metrics_gauge(sy_metrics_t *m, const char *name, const char *help,
                              unsigned nlabels, const char *const *labels)
{
    return family_register(m, KIND_GAUGE, name, help, nlabels, labels, NULL, 0);
}

sy_metric_t *sy_metrics_histogram(sy_metrics_t *m, const char *name, const char *help,
                                  unsigned nlabels, const char *const *labels,
                                  const double *bounds, unsigned nbounds)
{
    return family_register(m, KIND_HISTOGRAM, name, help, nlabels, labels, bounds, nbounds);
}

/* ---- rendering ----------------------------------------------------------- */

/* Shortest text that reads back as v: integers without exponent or point
 * ("3", not "3.0000000000000000"), others with 15 to 17 significant digits
 * ("0.005", "0.30000000000000004"), and Prometheus' NaN/+Inf/-Inf. */
static void fmt_num(double v, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(buf, cap, "0"); /* also -0 */
    } else if (v == floor(v) && fabs(v) < 1e17) {
        snprintf(buf, cap, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, cap, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
}

/* Append s[0..n) escaped as a label value: backslash, quote, newline. */
static int put_label_value(struct evbuffer *lb, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t j = 0; j < n; j++) {
        const char *esc = s[j] == '\\' ? "\\\\" : s[j] == '"' ? "\\\"" : s[j] == '\n' ? "\\n" : NULL;
        if (!esc)
            continue;
        if (evbuffer_add(lb, s + run, j - run) || evbuffer_add(lb, esc, 2))
            return -1;
        run = j + 1;
    }
    return evbuffer_add(lb, s + run, n - run);
}

int sy_metrics_label(struct evbuffer *out, const char *s)
{
    return put_label_value(out, s, strlen(s));
}

/* Append `a="x",b="y"` (no braces) for key k, label values escaped. */
static int put_labels(struct evbuffer *lb, const sy_metric_t *f, const struct key *k)
{
    for (unsigned i = 0; i < f->nlabels; i++) {
        if (evbuffer_add_printf(lb, "%s%s=\"", i ? "," : "", f->labels[i]) < 0)
            return -1;
        if (put_label_value(lb, k->val[i], k->len[i]) || evbuffer_add(lb, "\"", 1))
            return -1;
    }
    return 0;
}

/* The lines of one series: value, or buckets/sum/count. */
static int put_series(struct evbuffer *out, const sy_metric_t *f, const char *lbl, int llen,
                      double sum, const uint64_t *counts)
{
    char num[40];
    uint64_t cum = 0;

    fmt_num(sum, num, sizeof num);
    if (f->kind != KIND_HISTOGRAM) {
        if (llen)
            return evbuffer_add_printf(out, "%s{%.*s} %s\n", f->name, llen, lbl, num) < 0;
        return evbuffer_add_printf(out, "%s %s\n", f->name, num) < 0;
    }
    for (unsigned i = 0; i <= f->nbounds; i++) {
        char le[40];

        cum += counts[i];
        if (i < f->nbounds)
            fmt_num(f->bounds[i], le, sizeof le);
        else
            snprintf(le, sizeof le, "+Inf");
        if (evbuffer_add_printf(out, "%s_bucket{%.*s%sle=\"%s\"} %" PRIu64 "\n", f->name, llen,
                                lbl, llen ? "," : "", le, cum) < 0)
            return -1;
    }
    if (llen)
        return evbuffer_add_printf(out, "%s_sum{%.*s} %s\n%s_count{%.*s} %" PRIu64 "\n",
                                   f->name, llen, lbl, num, f->name, llen, lbl, cum) < 0;
    return evbuffer_add_printf(out, "%s_sum %s\n%s_count %" PRIu64 "\n", f->name, num, f->name,
                               cum) < 0;
}

/* One family: HELP and TYPE, then each series that some shard holds, summed
 * over shards, in label-value order. */
static int render_family(sy_metric_t *f, struct evbuffer *out)
{
    int rc = -1;
    struct key **keys = NULL;
    unsigned char *seen = NULL;
    double *sums = NULL;
    uint64_t *counts = NULL;
    struct evbuffer *lb = NULL;
    size_t nb = f->kind == KIND_HISTOGRAM ? f->nbounds + 1 : 0;
    uint32_t n, nseen = 0;

    if (evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                            kind_names[f->kind]) < 0)
        goto out;

    /* Copy the key list so no shard mutex is taken under klock (an updater
     * takes them in the other order). Keys are immutable and outlive us. */
    pthread_rwlock_rdlock(&f->klock);
    n = f->nkeys;
    if (n) {
        keys = malloc(n * sizeof *keys);
        if (keys)
            memcpy(keys, f->byid, n * sizeof *keys);
    }
    pthread_rwlock_unlock(&f->klock);
    if (!n) {
        rc = 0;
        goto out;
    }
    seen = calloc(n, 1);
    sums = calloc(n, sizeof *sums);
    if (nb)
        counts = calloc((size_t)n * nb, sizeof *counts);
    lb = evbuffer_new();
    if (!keys || !seen || !sums || (nb && !counts) || !lb)
        goto out;

    for (unsigned i = 0; i < f->m->nshards; i++) {
        struct shard *sh = &f->shards[i];

        pthread_mutex_lock(&sh->mu);
        for (uint32_t j = 0; j < sh->t.cap; j++) {
            const struct series *s = sh->t.slots[j].p;
            uint32_t id;

            if (!s || (id = s->key->id) >= n) /* interned after our copy */
                continue;
            seen[id] = 1;
            sums[id] += s->sum;
            for (size_t b = 0; b < nb; b++)
                counts[(size_t)id * nb + b] += s->counts[b];
        }
        pthread_mutex_unlock(&sh->mu);
    }

    for (uint32_t id = 0; id < n; id++)
        if (seen[id])
            keys[nseen++] = keys[id]; /* byid[id]->id == id, and nseen <= id */
    qsort(keys, nseen, sizeof *keys, key_cmp);

    for (uint32_t i = 0; i < nseen; i++) {
        const struct key *k = keys[i];
        const char *lbl = "";
        size_t llen;

        evbuffer_drain(lb, evbuffer_get_length(lb));
        if (put_labels(lb, f, k))
            goto out;
        llen = evbuffer_get_length(lb);
        if (llen && !(lbl = (const char *)evbuffer_pullup(lb, -1)))
            goto out;
        if (put_series(out, f, lbl, (int)llen, sums[k->id],
                       nb ? &counts[(size_t)k->id * nb] : NULL))
            goto out;
    }
    rc = 0;
out:
    if (lb)
        evbuffer_free(lb);
    free(keys);
    free(seen);
    free(sums);
    free(counts);
    return rc;
}

int sy_metrics_render(sy_metrics_t *m, struct evbuffer *out)
{
    int rc = 0;

    if (!m || !out)
        return -1;
    pthread_mutex_lock(&m->lock);
    for (sy_metric_t *f = m->head; f && rc == 0; f = f->next)
        rc = render_family(f, out);
    pthread_mutex_unlock(&m->lock);
    return rc;
}
