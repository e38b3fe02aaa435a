/*
 * experiment.c - A/B assignment, per-arm counters and the feedback table
 * (see experiment.h).
 *
 * Counters are atomics, added to with relaxed order: a report may see one
 * request's latency before its count, which a dashboard does not notice.
 * The feedback sum is a double kept as bits and updated with a
 * compare-and-swap loop, so a replaced score can be taken back out.
 *
 * The assignment table is split into shards by the id's hash; each shard
 * is a ring of slots (the oldest is overwritten) with a chained hash index
 * over it, under its own mutex. A remembered id costs one lock, a hash and
 * a short chain walk.
 */
#include "router/experiment.h"

#include <event2/buffer.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/jsonw.h"

/* ---- assignment ---- */

int sy_exp_find(const sy_config_t *cfg, const char *model)
{
    if (!cfg || !model)
        return -1;
    for (size_t i = 0; i < cfg->n_experiments; i++)
        if (cfg->experiments[i].model && strcmp(cfg->experiments[i].model, model) == 0)
            return (int)i;
    return -1;
}

uint32_t sy_exp_bucket(const sy_exp_conf_t *e, const char *id, size_t len)
{
    static const unsigned char sep = 0xff; /* never inside UTF-8 text */
    uint64_t h = SY_FNV_OFFSET;
    if (e->name)
        h = sy_fnv1a(h, e->name, strlen(e->name));
    h = sy_fnv1a(h, &sep, 1);
    h = sy_fnv1a(h, id, id ? len : 0);
    return (uint32_t)(sy_mix64(h) % 10000u);
}

int sy_exp_assign(const sy_exp_conf_t *e, const char *sticky_id, size_t len)
{
    uint32_t b = sy_exp_bucket(e, sticky_id, len);
    uint32_t cum = 0;
    int last = -1;
    for (size_t i = 0; i < e->n_arms; i++) {
        if (e->arms[i].weight_bp == 0)
            continue;
        cum += e->arms[i].weight_bp;
        last = (int)i;
        if (b < cum)
            return (int)i;
    }
    return last; /* weights adding up to less than 100 (never from a loaded config) */
}

const char *sy_exp_sticky_id(const sy_exp_conf_t *e, const char *header_user, const char *body_user,
                             size_t body_user_len, const char *key, const char *request_id, size_t *len)
{
    if (e->sticky == SY_EXP_STICKY_KEY && key && key[0]) {
        *len = strlen(key);
        return key;
    }
    if (e->sticky != SY_EXP_STICKY_NONE) {
        if (header_user && header_user[0]) {
            *len = strlen(header_user);
            return header_user;
        }
        if (body_user && body_user_len) {
            *len = body_user_len;
            return body_user;
        }
    }
    *len = strlen(request_id);
    return request_id;
}

static const sy_deployment_conf_t *find_dep(const sy_model_conf_t *m, const char *provider, const char *upstream)
{
    for (size_t j = 0; m && j < m->n_deployments; j++) {
        const sy_deployment_conf_t *d = &m->deployments[j];
        if (d->priced && d->provider && d->model && !strcmp(d->provider, provider) && !strcmp(d->model, upstream))
            return d;
    }
    return NULL;
}

double sy_exp_cost(const sy_config_t *cfg, const char *fallback, const char *model, const char *provider,
                   const char *upstream_model, int64_t prompt_tokens, int64_t completion_tokens)
{
    if (!cfg || !provider || !upstream_model || !provider[0] || !upstream_model[0])
        return -1;
    const sy_deployment_conf_t *d = NULL;
    if (fallback)
        d = find_dep(sy_config_find_model(cfg, fallback), provider, upstream_model);
    if (!d && model)
        d = find_dep(sy_config_find_model(cfg, model), provider, upstream_model);
    for (size_t i = 0; !d && i < cfg->n_models; i++)
        d = find_dep(&cfg->models[i], provider, upstream_model);
    if (!d)
        return -1;
    double in = prompt_tokens > 0 ? (double)prompt_tokens : 0;
    double out = completion_tokens > 0 ? (double)completion_tokens : 0;
    return (in * d->price_in + out * d->price_out) / 1e6;
}

/* ---- live state ---- */

const double sy_exp_lat_bounds_ms[SY_EXP_LAT_BUCKETS - 1] = {
    1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000};

#define SHARDS 16

typedef struct slot {
    char id[SY_EXP_ID_MAX + 1];
    uint64_t hash;
    int32_t next; /* the next slot in the same bucket, -1 none */
    uint16_t exp, arm;
    uint8_t used, scored;
    double score;
} slot_t;

typedef struct shard {
    pthread_mutex_t mu;
    slot_t *slots; /* a ring of cap */
    int32_t *heads; /* nbuckets chains, -1 empty */
    uint32_t pos;   /* the next slot to (over)write */
} __attribute__((aligned(64))) shard_t;

typedef struct exp_arms {
    sy_exp_arm_state_t *arms;
    size_t n;
} exp_arms_t;

struct sy_exp_state {
    const sy_config_t *cfg;
    exp_arms_t *exps; /* cfg->n_experiments */
    shard_t *shards;  /* SHARDS, NULL without experiments */
    uint32_t cap;     /* slots per shard */
    uint32_t nbuckets; /* chains per shard, a power of two */
};

sy_exp_state_t *sy_exp_state_new(const sy_config_t *cfg, size_t remember)
{
    sy_exp_state_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = cfg;
    if (cfg->n_experiments == 0)
        return s;
    s->exps = calloc(cfg->n_experiments, sizeof(*s->exps));
    if (!s->exps)
        goto fail;
    for (size_t i = 0; i < cfg->n_experiments; i++) {
        size_t n = cfg->experiments[i].n_arms;
        s->exps[i].n = n;
        if (n && posix_memalign((void **)&s->exps[i].arms, 64, n * sizeof(sy_exp_arm_state_t)) != 0) {
            s->exps[i].arms = NULL;
            goto fail;
        }
        if (n)
            memset(s->exps[i].arms, 0, n * sizeof(sy_exp_arm_state_t));
    }
    if (remember == 0)
        remember = SY_EXP_REMEMBER;
    s->cap = (uint32_t)((remember + SHARDS - 1) / SHARDS);
    s->nbuckets = 1;
    while (s->nbuckets < s->cap)
        s->nbuckets <<= 1;
    if (posix_memalign((void **)&s->shards, 64, SHARDS * sizeof(shard_t)) != 0) {
        s->shards = NULL;
        goto fail;
    }
    memset(s->shards, 0, SHARDS * sizeof(shard_t));
    for (int i = 0; i < SHARDS; i++) {
        shard_t *sh = &s->shards[i];
        pthread_mutex_init(&sh->mu, NULL);
        sh->slots = calloc(s->cap, sizeof(*sh->slots));
        sh->heads = malloc(s->nbuckets * sizeof(*sh->heads));
        if (!sh->slots || !sh->heads)
            goto fail;
        memset(sh->heads, 0xff, s->nbuckets * sizeof(*sh->heads));
    }
    return s;
fail:
    sy_exp_state_free(s);
    return NULL;
}

void sy_exp_state_free(sy_exp_state_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->exps && i < s->cfg->n_experiments; i++)
        free(s->exps[i].arms);
    free(s->exps);
    for (int i = 0; s->shards && i < SHARDS; i++) {
        pthread_mutex_destroy(&s->shards[i].mu);
        free(s->shards[i].slots);
        free(s->shards[i].heads);
    }
    free(s->shards);
    free(s);
}

sy_exp_arm_state_t *sy_exp_arm(sy_exp_state_t *s, int exp, int arm)
{
    if (!s || !s->exps || exp < 0 || (size_t)exp >= s->cfg->n_experiments || arm < 0 ||
        (size_t)arm >= s->exps[exp].n)
        return NULL;
    return &s->exps[exp].arms[arm];
}

static double bits_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t double_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static void add_double(atomic_ullong *a, double v)
{
    unsigned long long cur = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak(a, &cur, double_bits(bits_double(cur) + v)))
        ;
}

static void add(atomic_ullong *a, uint64_t v)
{
    atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

void sy_exp_record(sy_exp_state_t *s, int exp, int arm, const sy_exp_outcome_t *o)
{
    sy_exp_arm_state_t *a = sy_exp_arm(s, exp, arm);
    if (!a)
        return;
    add(&a->requests, 1);
    if (o->error)
        add(&a->errors, 1);
    uint64_t us = o->latency_ns / 1000u;
    add(&a->latency_us_sum, us);
    unsigned long long mx = atomic_load_explicit(&a->latency_us_max, memory_order_relaxed);
    while (us > mx && !atomic_compare_exchange_weak(&a->latency_us_max, &mx, us))
        ;
    double ms = (double)o->latency_ns / 1e6;
    size_t b = 0;
    while (b < SY_EXP_LAT_BUCKETS - 1 && ms > sy_exp_lat_bounds_ms[b])
        b++;
    add(&a->latency_hist[b], 1);
    if (o->ttft_ns >= 0) {
        add(&a->ttft_us_sum, (uint64_t)o->ttft_ns / 1000u);
        add(&a->ttft_count, 1);
    }
    if (o->prompt_tokens > 0)
        add(&a->prompt_tokens, (uint64_t)o->prompt_tokens);
    if (o->completion_tokens > 0)
        add(&a->completion_tokens, (uint64_t)o->completion_tokens);
    if (o->cost_usd >= 0)
        add(&a->cost_nusd, (uint64_t)llround(o->cost_usd * 1e9));
    else
        add(&a->unpriced, 1);
}

/* ---- the assignment table ---- */

static uint64_t id_hash(const char *id, size_t n)
{
    return sy_mix64(sy_fnv1a(SY_FNV_OFFSET, id, n));
}

/* The slot holding id in sh, or -1. Under sh->mu. */
static int32_t slot_find(const sy_exp_state_t *s, const shard_t *sh, uint64_t h, const char *id, size_t n)
{
    for (int32_t i = sh->heads[h & (s->nbuckets - 1)]; i >= 0; i = sh->slots[i].next) {
        const slot_t *sl = &sh->slots[i];
        if (sl->hash == h && strncmp(sl->id, id, sizeof(sl->id)) == 0 && sl->id[n] == '\0')
            return i;
    }
    return -1;
}

static void slot_unlink(const sy_exp_state_t *s, shard_t *sh, int32_t idx)
{
    int32_t *p = &sh->heads[sh->slots[idx].hash & (s->nbuckets - 1)];
    while (*p >= 0 && *p != idx)
        p = &sh->slots[*p].next;
    if (*p == idx)
        *p = sh->slots[idx].next;
}

static shard_t *shard_of(sy_exp_state_t *s, uint64_t h)
{
    return &s->shards[(h >> 59) % SHARDS];
}

static int id_ok(const char *id, size_t *n)
{
    if (!id)
        return 0;
    *n = strnlen(id, SY_EXP_ID_MAX + 1);
    return *n > 0 && *n <= SY_EXP_ID_MAX;
}

int sy_exp_remember(sy_exp_state_t *s, const char *request_id, int exp, int arm)
{
    size_t n;
    if (!s || !s->shards || !id_ok(request_id, &n) || !sy_exp_arm(s, exp, arm))
        return -1;
    uint64_t h = id_hash(request_id, n);
    shard_t *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->mu);
    int32_t i = slot_find(s, sh, h, request_id, n);
    if (i < 0) {
        i = (int32_t)sh->pos;
        sh->pos = (sh->pos + 1) % s->cap;
        slot_t *sl = &sh->slots[i];
        if (sl->used)
            slot_unlink(s, sh, i);
        memcpy(sl->id, request_id, n);
        sl->id[n] = '\0';
        sl->hash = h;
        sl->used = 1;
        sl->next = sh->heads[h & (s->nbuckets - 1)];
        sh->heads[h & (s->nbuckets - 1)] = i;
    }
    slot_t *sl = &sh->slots[i];
    sl->exp = (uint16_t)exp;
    sl->arm = (uint16_t)arm;
    sl->scored = 0;
    sl->score = 0;
    pthread_mutex_unlock(&sh->mu);
    return 0;
}

int sy_exp_lookup(sy_exp_state_t *s, const char *request_id, int *exp, int *arm)
{
    size_t n;
    if (!s || !s->shards || !id_ok(request_id, &n))
        return -1;
    uint64_t h = id_hash(request_id, n);
    shard_t *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->mu);
    int32_t i = slot_find(s, sh, h, request_id, n);
    if (i >= 0) {
        *exp = sh->slots[i].exp;
        *arm = sh->slots[i].arm;
    }
    pthread_mutex_unlock(&sh->mu);
    return i >= 0 ? 0 : -1;
}

int sy_exp_feedback(sy_exp_state_t *s, const char *request_id, double score, int *exp, int *arm, int *replaced)
{
    size_t n;
    if (!s || !s->shards || !id_ok(request_id, &n) || !isfinite(score))
        return -1;
    uint64_t h = id_hash(request_id, n);
    shard_t *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->mu);
    int32_t i = slot_find(s, sh, h, request_id, n);
    if (i < 0) {
        pthread_mutex_unlock(&sh->mu);
        return -1;
    }
    slot_t *sl = &sh->slots[i];
    sy_exp_arm_state_t *a = sy_exp_arm(s, sl->exp, sl->arm);
    *exp = sl->exp;
    *arm = sl->arm;
    *replaced = sl->scored;
    /* under the shard's lock, so two scores for one id cannot interleave */
    if (sl->scored) {
        add_double(&a->feedback_sum_bits, score - sl->score);
    } else {
        add(&a->feedback_count, 1);
        add_double(&a->feedback_sum_bits, score);
    }
    sl->scored = 1;
    sl->score = score;
    pthread_mutex_unlock(&sh->mu);
    return 0;
}

double sy_exp_latency_quantile(const sy_exp_arm_state_t *a, double p)
{
    uint64_t h[SY_EXP_LAT_BUCKETS], total = 0;
    for (size_t i = 0; i < SY_EXP_LAT_BUCKETS; i++)
        total += h[i] = atomic_load_explicit(&a->latency_hist[i], memory_order_relaxed);
    if (total == 0)
        return 0;
    double rank = p * (double)total, before = 0;
    double max_ms = (double)atomic_load_explicit(&a->latency_us_max, memory_order_relaxed) / 1e3;
    for (size_t i = 0; i < SY_EXP_LAT_BUCKETS; i++) {
        if (h[i] == 0 || before + (double)h[i] < rank) {
            before += (double)h[i];
            continue;
        }
        double lo = i ? sy_exp_lat_bounds_ms[i - 1] : 0;
        double hi = i < SY_EXP_LAT_BUCKETS - 1 ? sy_exp_lat_bounds_ms[i] : max_ms;
        if (hi > max_ms && max_ms >= lo)
            hi = max_ms; /* nothing was slower than the slowest */
        return lo + (hi - lo) * (rank - before) / (double)h[i];
    }
    return max_ms;
}

/* ---- reporting ---- */

static uint64_t ld(const atomic_ullong *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* Experiment and arm names are letters, digits and - _ . : (config.c
 * checks): they need no escaping; model names may. */
void sy_exp_json(sy_exp_state_t *s, struct evbuffer *b)
{
    const sy_config_t *cfg = s->cfg;
    static const char *const sticky[] = {"user", "key", "none"};
    evbuffer_add(b, "[", 1);
    for (size_t i = 0; i < cfg->n_experiments; i++) {
        const sy_exp_conf_t *e = &cfg->experiments[i];
        evbuffer_add_printf(b, "%s{\"name\":\"%s\",\"model\":", i ? "," : "", e->name);
        sy_jw_cstr(b, e->model); /* a model name may hold any character */
        evbuffer_add_printf(b, ",\"sticky\":\"%s\",\"arms\":[", sticky[e->sticky % 3]);
        for (size_t j = 0; j < e->n_arms; j++) {
            const sy_exp_arm_conf_t *ac = &e->arms[j];
            const sy_exp_arm_state_t *a = &s->exps[i].arms[j];
            uint64_t req = ld(&a->requests), err = ld(&a->errors), ttn = ld(&a->ttft_count);
            uint64_t fbn = ld(&a->feedback_count);
            double fbs = bits_double(ld(&a->feedback_sum_bits));
            evbuffer_add_printf(b, "%s{\"name\":\"%s\",\"model\":", j ? "," : "", ac->name);
            sy_jw_cstr(b, ac->model ? ac->model : e->model);
            evbuffer_add_printf(
                b,
                ",\"weight\":%g,\"requests\":%llu,\"errors\":%llu,"
                "\"error_rate\":%.4f,\"latency_ms_mean\":%.3f,\"latency_ms_p50\":%.3f,\"latency_ms_p95\":%.3f,"
                "\"ttft_ms_mean\":%.3f,\"prompt_tokens\":%llu,\"completion_tokens\":%llu,\"cost_usd\":%.9f,"
                "\"unpriced\":%llu,\"feedback_count\":%llu,\"feedback_sum\":",
                (double)ac->weight_bp / 100.0,
                (unsigned long long)req, (unsigned long long)err, req ? (double)err / (double)req : 0.0,
                req ? (double)ld(&a->latency_us_sum) / 1e3 / (double)req : 0.0, sy_exp_latency_quantile(a, 0.5),
                sy_exp_latency_quantile(a, 0.95), ttn ? (double)ld(&a->ttft_us_sum) / 1e3 / (double)ttn : 0.0,
                (unsigned long long)ld(&a->prompt_tokens), (unsigned long long)ld(&a->completion_tokens),
                (double)ld(&a->cost_nusd) / 1e9, (unsigned long long)ld(&a->unpriced), (unsigned long long)fbn);
            sy_jw_double(b, fbs);
            SY_JW_LIT(b, ",\"feedback_mean\":");
            if (fbn)
                sy_jw_double(b, fbs / (double)fbn);
            else
                evbuffer_add(b, "null", 4);
            evbuffer_add(b, "}", 1);
        }
        evbuffer_add(b, "]}", 2);
    }
    evbuffer_add(b, "]", 1);
}

typedef enum fam_kind { F_REQ, F_ERR, F_TOK, F_COST, F_UNPRICED, F_FBN, F_FBS } fam_kind_t;

void sy_exp_metrics(sy_exp_state_t *s, struct evbuffer *b)
{
    const sy_config_t *cfg = s->cfg;
    if (cfg->n_experiments == 0)
        return;
    static const struct {
        const char *name, *help, *type;
        fam_kind_t kind;
    } fam[] = {
        {"switchyard_experiment_requests_total", "Requests per experiment arm.", "counter", F_REQ},
        {"switchyard_experiment_errors_total", "Requests of an arm answered with a status >= 400.", "counter", F_ERR},
        {"switchyard_experiment_tokens_total", "Tokens per experiment arm.", "counter", F_TOK},
        {"switchyard_experiment_cost_usd_total", "Cost in USD per experiment arm (priced deployments).", "counter",
         F_COST},
        {"switchyard_experiment_unpriced_total", "Requests of an arm answered by a deployment without a price.",
         "counter", F_UNPRICED},
        {"switchyard_experiment_feedback_total", "Requests of an arm that received feedback.", "counter", F_FBN},
        {"switchyard_experiment_feedback_score_sum", "The sum of an arm's feedback scores.", "gauge", F_FBS},
    };
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
        for (size_t i = 0; i < cfg->n_experiments; i++) {
            const sy_exp_conf_t *e = &cfg->experiments[i];
            for (size_t j = 0; j < e->n_arms; j++) {
                const sy_exp_arm_state_t *a = &s->exps[i].arms[j];
                const char *n = fam[f].name, *en = e->name, *an = e->arms[j].name;
                switch (fam[f].kind) {
                case F_TOK:
                    evbuffer_add_printf(b, "%s{experiment=\"%s\",arm=\"%s\",direction=\"prompt\"} %llu\n", n, en, an,
                                        (unsigned long long)ld(&a->prompt_tokens));
                    evbuffer_add_printf(b, "%s{experiment=\"%s\",arm=\"%s\",direction=\"completion\"} %llu\n", n, en,
                                        an, (unsigned long long)ld(&a->completion_tokens));
                    break;
                case F_COST:
                    evbuffer_add_printf(b, "%s{experiment=\"%s\",arm=\"%s\"} %.9f\n", n, en, an,
                                        (double)ld(&a->cost_nusd) / 1e9);
                    break;
                case F_FBS:
                    evbuffer_add_printf(b, "%s{experiment=\"%s\",arm=\"%s\"} %.17g\n", n, en, an,
                                        bits_double(ld(&a->feedback_sum_bits)));
                    break;
                default: {
                    const atomic_ullong *c = fam[f].kind == F_REQ   ? &a->requests
                                             : fam[f].kind == F_ERR ? &a->errors
                                             : fam[f].kind == F_UNPRICED ? &a->unpriced
                                                                         : &a->feedback_count;
                    evbuffer_add_printf(b, "%s{experiment=\"%s\",arm=\"%s\"} %llu\n", n, en, an,
                                        (unsigned long long)ld(c));
                }
                }
            }
        }
    }
    static const char *const hn = "switchyard_experiment_duration_seconds";
    evbuffer_add_printf(b, "# HELP %s Request duration per experiment arm.\n# TYPE %s histogram\n", hn, hn);
    for (size_t i = 0; i < cfg->n_experiments; i++) {
        const sy_exp_conf_t *e = &cfg->experiments[i];
        for (size_t j = 0; j < e->n_arms; j++) {
            const sy_exp_arm_state_t *a = &s->exps[i].arms[j];
            uint64_t cum = 0;
            for (size_t k = 0; k < SY_EXP_LAT_BUCKETS; k++) {
                cum += ld(&a->latency_hist[k]);
                if (k < SY_EXP_LAT_BUCKETS - 1)
                    evbuffer_add_printf(b, "%s_bucket{experiment=\"%s\",arm=\"%s\",le=\"%g\"} %llu\n", hn, e->name,
                                        e->arms[j].name, sy_exp_lat_bounds_ms[k] / 1e3, (unsigned long long)cum);
                else
                    evbuffer_add_printf(b, "%s_bucket{experiment=\"%s\",arm=\"%s\",le=\"+Inf\"} %llu\n", hn,
                                        e->name, e->arms[j].name, (unsigned long long)cum);
            }
            evbuffer_add_printf(b, "%s_sum{experiment=\"%s\",arm=\"%s\"} %.6f\n", hn, e->name, e->arms[j].name,
                                (double)ld(&a->latency_us_sum) / 1e6);
            evbuffer_add_printf(b, "%s_count{experiment=\"%s\",arm=\"%s\"} %llu\n", hn, e->name, e->arms[j].name,
                                (unsigned long long)cum);
        }
    }
}
