/*
 * cache.c - the tiers together (see cache.h).
 */
#include "cache/cache.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>

#include "cache/embed.h"
#include "cache/key.h"
#include "cache/semantic.h"
#include "cache/sqlite.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/redis.h"

/* the semantic index's bound: one entry per 4 KiB of the memory tier's
 * (a 512-dimension vector and its features take ~2.2 KiB) */
#define SEM_BYTES_PER_ENTRY 4096
#define SEM_MIN_ENTRIES 1024

#define SWEEP_EVERY_MS 1000
#define SWEEP_WORK 4096 /* steps per tick: a full pass over 1M entries in ~4 min */

static const char *const tier_names[SY_TIER_N] = {"memory", "redis", "sqlite"};

const char *sy_cache_tier_name(sy_cache_tier_t t)
{
    return (unsigned)t < SY_TIER_N ? tier_names[t] : "?";
}

int sy_cache_wanted(const sy_config_t *cfg)
{
    for (size_t i = 0; cfg && i < cfg->n_models; i++)
        if (cfg->models[i].cache_mode != SY_CACHE_OFF)
            return 1;
    return 0;
}

static int any_semantic(const sy_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        if (cfg->models[i].cache_mode == SY_CACHE_SEMANTIC)
            return 1;
    return 0;
}

struct sy_semindex *sy_cache_sem(sy_cache_t *c, size_t dims)
{
    struct sy_semindex *x = __atomic_load_n(&c->sem, __ATOMIC_ACQUIRE);
    if (x || !dims || !c->sem_max)
        return x && (!dims || dims == c->sem_dims) ? x : NULL;
    pthread_mutex_lock(&c->sem_mu);
    x = c->sem;
    if (!x && dims <= SY_EMBED_MAX_DIMS) {
        c->sem_dims = dims;
        x = sy_semindex_new(dims, c->sem_max);
        __atomic_store_n(&c->sem, x, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&c->sem_mu);
    return x && dims == c->sem_dims ? x : NULL;
}

static void load_vec(void *ud, const unsigned char part[32], const unsigned char key[32], const float *vec,
                     size_t dims, const void *feat, size_t feat_len, uint64_t expire_ms)
{
    sy_cache_t *c = ud;
    sy_semfeat_t f;
    struct sy_semindex *x = sy_cache_sem(c, dims);
    if (!x || feat_len != sizeof(f) || (c->sem_builtin && dims != SY_EMBED_DIMS))
        return; /* written by another build or embedder: skipped */
    memcpy(&f, feat, sizeof(f));
    uint64_t now = sy_now_ns(), unow = sy_unix_ms(), exp = 0;
    if (expire_ms) {
        if (expire_ms <= unow)
            return;
        exp = now + (expire_ms - unow) * 1000000ull;
    }
    sy_semindex_put(x, part, key, vec, &f, exp, now);
}

sy_cache_t *sy_cache_new(const sy_config_t *cfg, unsigned nworkers, sy_error_t *err)
{
    sy_cache_t *c = calloc(1, sizeof(*c));
    if (!c) {
        sy_error_set(err, SY_ENOMEM, NULL, NULL);
        return NULL;
    }
    c->cfg = cfg;
    pthread_mutex_init(&c->sem_mu, NULL);
    if (any_semantic(cfg)) {
        size_t n = (size_t)(cfg->cache.memory_max_bytes / SEM_BYTES_PER_ENTRY);
        c->sem_max = n < SEM_MIN_ENTRIES ? SEM_MIN_ENTRIES : n;
        c->sem_builtin = !cfg->cache.embedder || strcmp(cfg->cache.embedder, "builtin") == 0;
        if (c->sem_builtin && !sy_cache_sem(c, SY_EMBED_DIMS))
            goto oom;
    }
    if (cfg->cache.redis_url) {
        c->rshared = sy_redis_shared_new(cfg->cache.redis_url, cfg->cache.redis_connect_timeout_ms,
                                         cfg->cache.redis_command_timeout_ms, err);
        if (!c->rshared)
            goto fail;
        c->redis = calloc(nworkers, sizeof(*c->redis));
        if (!c->redis)
            goto oom;
        c->n_redis = nworkers;
    }
    if (cfg->cache.sqlite_path) {
        c->sql = sy_sqlcache_open(cfg->cache.sqlite_path, cfg->cache.sqlite_max_bytes, err);
        if (!c->sql)
            goto fail;
        if (c->sem_max) {
            long n = sy_sqlcache_load_vecs(c->sql, sy_unix_ms(), load_vec, c);
            if (n > 0)
                sy_log(SY_LOG_INFO, "semantic cache reloaded", "%ld vectors from %s", n, cfg->cache.sqlite_path);
        }
    }
    if (cfg->cache.memory_max_bytes) {
        c->mem = sy_memcache_new((size_t)cfg->cache.memory_max_bytes, 0);
        if (!c->mem) {
            sy_error_set(err, SY_ECONFIG, "cache.memory.max_bytes",
                         "cache.memory.max_bytes %llu is too small for the memory tier's %d shards",
                         (unsigned long long)cfg->cache.memory_max_bytes, SY_MEMCACHE_DEFAULT_SHARDS);
            goto fail;
        }
    }
    return c;
oom:
    sy_error_set(err, SY_ENOMEM, NULL, NULL);
fail:
    sy_cache_free(c);
    return NULL;
}

void sy_cache_free(sy_cache_t *c)
{
    if (!c)
        return;
    sy_cache_stop(c);
    free(c->redis);
    sy_redis_shared_free(c->rshared);
    sy_sqlcache_close(c->sql);
    sy_semindex_free(c->sem);
    pthread_mutex_destroy(&c->sem_mu);
    sy_memcache_free(c->mem);
    free(c);
}

static void done_msg(void *ud, const char *msg, size_t len);

static void sweep_tick(evutil_socket_t fd, short what, void *arg)
{
    sy_cache_t *c = arg;
    (void)fd, (void)what;
    if (c->mem)
        sy_memcache_sweep(c->mem, sy_now_ns(), SWEEP_WORK);
    struct sy_semindex *x = sy_cache_sem(c, 0);
    if (x)
        sy_semindex_sweep(x, sy_now_ns(), SWEEP_WORK);
}

int sy_cache_start(sy_cache_t *c, struct event_base *base)
{
    if (c->rshared && !(c->sub = sy_redis_subscribe(base, c->rshared, SY_CACHE_DONE_CHANNEL, done_msg, c)))
        return -1;
    if (!c->mem && !c->sem_max)
        return 0;
    c->sweep = event_new(base, -1, EV_PERSIST, sweep_tick, c);
    if (!c->sweep)
        return -1;
    struct timeval tv = {SWEEP_EVERY_MS / 1000, (SWEEP_EVERY_MS % 1000) * 1000};
    event_add(c->sweep, &tv);
    return 0;
}

void sy_cache_stop(sy_cache_t *c)
{
    /* the Redis clients live on the workers' loops: they go before those */
    for (unsigned i = 0; c && i < c->n_redis; i++) {
        sy_redis_free(c->redis[i]);
        c->redis[i] = NULL;
    }
    if (c && c->sub) {
        sy_redis_sub_free(c->sub);
        c->sub = NULL;
    }
    if (c && c->sweep) {
        event_free(c->sweep);
        c->sweep = NULL;
    }
}

struct sy_redis *sy_cache_redis(sy_cache_t *c, unsigned worker, struct event_base *base)
{
    if (!c->rshared || worker >= c->n_redis)
        return NULL;
    if (!c->redis[worker]) {
        c->redis[worker] = sy_redis_new(base, c->rshared);
        if (c->redis[worker])
            sy_redis_connect(c->redis[worker]);
    }
    return c->redis[worker];
}

size_t sy_cache_redis_key(const unsigned char key[32], char kind, char out[SY_CACHE_REDIS_KEY_MAX])
{
    char hex[2 * SY_CACHE_KEY_LEN + 1];
    sy_cache_key_hex(key, hex);
    return (size_t)snprintf(out, SY_CACHE_REDIS_KEY_MAX, "switchyard:%c:%d:%s", kind, SY_CACHE_KEY_VERSION, hex);
}

static int unhex(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static void done_msg(void *ud, const char *msg, size_t len)
{
    sy_cache_t *c = ud;
    unsigned char key[SY_CACHE_KEY_LEN];
    if ((len != 64 && len != 65) || !c->on_remote_done)
        return;
    for (int i = 0; i < 32; i++) {
        int hi = unhex(msg[2 * i]), lo = unhex(msg[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return;
        key[i] = (unsigned char)(hi << 4 | lo);
    }
    c->on_remote_done(c->remote_ud, key, len == 64);
}

void sy_cache_store_lower(sy_cache_t *c, unsigned worker, struct event_base *base, const unsigned char key[32],
                          const void *entry, size_t len, uint64_t ttl_ns)
{
    if (c->sql)
        sy_sqlcache_put(c->sql, key, entry, len, ttl_ns ? sy_unix_ms() + (ttl_ns + 999999) / 1000000 : 0);
    sy_cache_store_redis(c, worker, base, key, entry, len, ttl_ns);
}

void sy_cache_store_redis(sy_cache_t *c, unsigned worker, struct event_base *base, const unsigned char key[32],
                          const void *entry, size_t len, uint64_t ttl_ns)
{
    uint64_t ttl_ms = ttl_ns ? (ttl_ns + 999999) / 1000000 : 0;
    uint64_t expire_ms = ttl_ms ? sy_unix_ms() + ttl_ms : 0;
    struct sy_redis *rc = sy_cache_redis(c, worker, base);
    if (!rc)
        return;
    unsigned char *v = malloc(SY_CACHE_REDIS_HEAD + len);
    if (!v)
        return;
    for (int i = 0; i < 8; i++)
        v[i] = (unsigned char)(expire_ms >> (8 * i));
    memcpy(v + SY_CACHE_REDIS_HEAD, entry, len);
    char k[SY_CACHE_REDIS_KEY_MAX];
    size_t kl = sy_cache_redis_key(key, 'c', k);
    sy_redis_set(rc, k, kl, v, SY_CACHE_REDIS_HEAD + len, ttl_ms, 0, NULL, NULL);
    free(v);
}

static uint64_t ld(atomic_uint_fast64_t *a)
{
    return (uint64_t)atomic_load_explicit(a, memory_order_relaxed);
}

void sy_cache_stats_json(sy_cache_t *c, struct evbuffer *out)
{
    uint64_t hits = 0;
    for (int t = 0; t < SY_TIER_N; t++)
        hits += ld(&c->hits[t]);
    uint64_t lookups = ld(&c->lookups);
    evbuffer_add_printf(out,
                        "{\"lookups\":%llu,\"hits\":%llu,\"misses\":%llu,\"bypasses\":%llu,\"hit_rate\":%.4f,"
                        "\"stores\":%llu,\"no_stores\":%llu,\"not_cacheable\":%llu,\"bad_entries\":%llu,\"tiers\":{",
                        (unsigned long long)lookups, (unsigned long long)hits, (unsigned long long)ld(&c->misses),
                        (unsigned long long)ld(&c->bypasses), lookups ? (double)hits / (double)lookups : 0.0,
                        (unsigned long long)ld(&c->stores), (unsigned long long)ld(&c->no_stores),
                        (unsigned long long)ld(&c->not_cacheable), (unsigned long long)ld(&c->bad_entries));
    const char *sep = "";
    if (c->mem) {
        sy_memcache_stats_t st;
        sy_memcache_stats(c->mem, &st);
        evbuffer_add_printf(out,
                            "\"memory\":{\"hits\":%llu,\"misses\":%llu,\"entries\":%llu,\"bytes\":%llu,"
                            "\"max_bytes\":%llu,\"evictions\":%llu,\"expired\":%llu,\"refused\":%llu}",
                            (unsigned long long)ld(&c->hits[SY_TIER_MEMORY]),
                            (unsigned long long)ld(&c->tier_misses[SY_TIER_MEMORY]),
                            (unsigned long long)st.entries, (unsigned long long)st.bytes,
                            (unsigned long long)st.max_bytes, (unsigned long long)st.evictions,
                            (unsigned long long)st.expired, (unsigned long long)st.refusals);
        sep = ",";
    }
    if (c->rshared) {
        sy_redis_stats_t st;
        sy_redis_shared_stats(c->rshared, &st);
        evbuffer_add_printf(out,
                            "%s\"redis\":{\"hits\":%llu,\"misses\":%llu,\"state\":\"%s\",\"url\":\"%s\","
                            "\"ups\":%llu,\"downs\":%llu,\"commands\":%llu,\"errors\":%llu,\"timeouts\":%llu,"
                            "\"refused\":%llu}",
                            sep, (unsigned long long)ld(&c->hits[SY_TIER_REDIS]),
                            (unsigned long long)ld(&c->tier_misses[SY_TIER_REDIS]),
                            st.state == SY_REDIS_STATE_UP     ? "up"
                            : st.state == SY_REDIS_STATE_DOWN ? "down"
                                                              : "unknown",
                            sy_redis_shared_name(c->rshared), (unsigned long long)st.ups,
                            (unsigned long long)st.downs, (unsigned long long)st.commands,
                            (unsigned long long)st.errors, (unsigned long long)st.timeouts,
                            (unsigned long long)st.refused);
        sep = ",";
    }
    if (c->sql) {
        sy_sqlcache_stats_t st;
        sy_sqlcache_stats(c->sql, &st);
        evbuffer_add_printf(out,
                            "%s\"sqlite\":{\"hits\":%llu,\"misses\":%llu,\"entries\":%llu,\"bytes\":%llu,"
                            "\"max_bytes\":%llu,\"evictions\":%llu,\"expired\":%llu,\"vectors\":%llu,"
                            "\"dropped\":%llu,\"errors\":%llu,\"busy\":%llu}",
                            sep, (unsigned long long)ld(&c->hits[SY_TIER_SQLITE]),
                            (unsigned long long)ld(&c->tier_misses[SY_TIER_SQLITE]), (unsigned long long)st.entries,
                            (unsigned long long)st.bytes, (unsigned long long)st.max_bytes,
                            (unsigned long long)st.evictions, (unsigned long long)st.expired,
                            (unsigned long long)st.vectors, (unsigned long long)st.dropped,
                            (unsigned long long)st.errors, (unsigned long long)st.busy);
    }
    evbuffer_add(out, "}", 1);
    if (c->sem_max) {
        sy_semindex_stats_t st = {0};
        struct sy_semindex *x = sy_cache_sem(c, 0);
        char emb[300];
        const char *name = c->sem_builtin ? "builtin" : c->cfg->cache.embedder;
        sy_json_escape(emb, sizeof(emb), name, strlen(name));
        if (x)
            sy_semindex_stats(x, &st);
        evbuffer_add_printf(out,
                            ",\"semantic\":{\"hits\":%llu,\"searches\":%llu,\"vetoed\":%llu,\"entries\":%llu,"
                            "\"partitions\":%llu,\"bytes\":%llu,\"evictions\":%llu,\"expired\":%llu,"
                            "\"threshold\":%.4f,\"embedder\":\"%s\",\"dims\":%zu,\"embeds\":%llu,"
                            "\"embed_errors\":%llu,\"similarity\":[",
                            (unsigned long long)ld(&c->semantic_hits), (unsigned long long)st.searches,
                            (unsigned long long)st.vetoed, (unsigned long long)st.entries,
                            (unsigned long long)st.partitions, (unsigned long long)st.bytes,
                            (unsigned long long)st.evictions, (unsigned long long)st.expired,
                            c->cfg->cache.threshold, emb,
                            x ? c->sem_dims : (size_t)0, (unsigned long long)ld(&c->embeds),
                            (unsigned long long)ld(&c->embed_errors));
        for (int i = 0; i < 11; i++)
            evbuffer_add_printf(out, "%s%llu", i ? "," : "", (unsigned long long)st.sim_buckets[i]);
        evbuffer_add(out, "]}", 2);
    }
    evbuffer_add(out, "}", 1);
}

static void family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void sy_cache_metrics_text(sy_cache_t *c, struct evbuffer *out)
{
    family(out, "switchyard_cache_requests_total", "counter",
           "Requests of caching models by cache outcome (hit, miss, bypass).");
    uint64_t hits = 0;
    for (int t = 0; t < SY_TIER_N; t++)
        hits += ld(&c->hits[t]);
    evbuffer_add_printf(out,
                        "switchyard_cache_requests_total{outcome=\"hit\"} %llu\n"
                        "switchyard_cache_requests_total{outcome=\"miss\"} %llu\n"
                        "switchyard_cache_requests_total{outcome=\"bypass\"} %llu\n",
                        (unsigned long long)hits, (unsigned long long)ld(&c->misses),
                        (unsigned long long)ld(&c->bypasses));
    family(out, "switchyard_cache_tier_lookups_total", "counter", "Lookups per cache tier by result.");
    for (int t = 0; t < SY_TIER_N; t++) {
        if ((t == SY_TIER_MEMORY && !c->mem) || (t == SY_TIER_REDIS && !c->rshared) ||
            (t == SY_TIER_SQLITE && !c->sql))
            continue;
        evbuffer_add_printf(out,
                            "switchyard_cache_tier_lookups_total{tier=\"%s\",result=\"hit\"} %llu\n"
                            "switchyard_cache_tier_lookups_total{tier=\"%s\",result=\"miss\"} %llu\n",
                            tier_names[t], (unsigned long long)ld(&c->hits[t]), tier_names[t],
                            (unsigned long long)ld(&c->tier_misses[t]));
    }
    if (c->sem_max) {
        sy_semindex_stats_t st = {0};
        struct sy_semindex *x = sy_cache_sem(c, 0);
        if (x)
            sy_semindex_stats(x, &st);
        family(out, "switchyard_cache_semantic_hits_total", "counter", "Hits found through a similar request.");
        evbuffer_add_printf(out, "switchyard_cache_semantic_hits_total %llu\n",
                            (unsigned long long)ld(&c->semantic_hits));
        family(out, "switchyard_cache_semantic_similarity", "histogram",
               "The best similarity each semantic search saw (-1: an empty partition).");
        uint64_t cum = st.sim_buckets[0];
        evbuffer_add_printf(out, "switchyard_cache_semantic_similarity_bucket{le=\"0\"} %llu\n",
                            (unsigned long long)cum);
        for (int i = 1; i < 10; i++) {
            cum += st.sim_buckets[i];
            evbuffer_add_printf(out, "switchyard_cache_semantic_similarity_bucket{le=\"0.%d\"} %llu\n", i,
                                (unsigned long long)cum);
        }
        cum += st.sim_buckets[10];
        evbuffer_add_printf(out,
                            "switchyard_cache_semantic_similarity_bucket{le=\"+Inf\"} %llu\n"
                            "switchyard_cache_semantic_similarity_count %llu\n",
                            (unsigned long long)cum, (unsigned long long)st.searches);
    }
    if (c->rshared) {
        sy_redis_stats_t st;
        sy_redis_shared_stats(c->rshared, &st);
        family(out, "switchyard_redis_up", "gauge", "1 when the last Redis connection event was a success.");
        evbuffer_add_printf(out, "switchyard_redis_up %d\n", st.state == SY_REDIS_STATE_UP);
        family(out, "switchyard_redis_errors_total", "counter", "Redis commands that failed (timeouts included).");
        evbuffer_add_printf(out, "switchyard_redis_errors_total %llu\n", (unsigned long long)st.errors);
        family(out, "switchyard_redis_state_changes_total", "counter", "Redis going up or down.");
        evbuffer_add_printf(out,
                            "switchyard_redis_state_changes_total{to=\"up\"} %llu\n"
                            "switchyard_redis_state_changes_total{to=\"down\"} %llu\n",
                            (unsigned long long)st.ups, (unsigned long long)st.downs);
    }
    family(out, "switchyard_cache_stores_total", "counter", "Answers written to the cache.");
    evbuffer_add_printf(out, "switchyard_cache_stores_total %llu\n", (unsigned long long)ld(&c->stores));
    family(out, "switchyard_cache_not_stored_total", "counter", "Answers not written, by reason.");
    evbuffer_add_printf(out,
                        "switchyard_cache_not_stored_total{reason=\"no_store\"} %llu\n"
                        "switchyard_cache_not_stored_total{reason=\"not_cacheable\"} %llu\n",
                        (unsigned long long)ld(&c->no_stores), (unsigned long long)ld(&c->not_cacheable));
    if (c->mem) {
        sy_memcache_stats_t st;
        sy_memcache_stats(c->mem, &st);
        family(out, "switchyard_cache_entries", "gauge", "Entries held per tier.");
        evbuffer_add_printf(out, "switchyard_cache_entries{tier=\"memory\"} %llu\n", (unsigned long long)st.entries);
        family(out, "switchyard_cache_bytes", "gauge", "Bytes held per tier (entry overhead included).");
        evbuffer_add_printf(out, "switchyard_cache_bytes{tier=\"memory\"} %llu\n", (unsigned long long)st.bytes);
        family(out, "switchyard_cache_evictions_total", "counter", "Fresh entries evicted to stay in bounds, per tier.");
        evbuffer_add_printf(out, "switchyard_cache_evictions_total{tier=\"memory\"} %llu\n",
                            (unsigned long long)st.evictions);
        family(out, "switchyard_cache_expired_total", "counter", "Entries dropped at the end of their TTL, per tier.");
        evbuffer_add_printf(out, "switchyard_cache_expired_total{tier=\"memory\"} %llu\n",
                            (unsigned long long)st.expired);
    }
}
