/*
 * cache.c - the tiers together (see cache.h).
 */
#include "cache/cache.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>

#include "core/clock.h"

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

sy_cache_t *sy_cache_new(const sy_config_t *cfg, sy_error_t *err)
{
    sy_cache_t *c = calloc(1, sizeof(*c));
    if (!c) {
        sy_error_set(err, SY_ENOMEM, NULL, NULL);
        return NULL;
    }
    c->cfg = cfg;
    if (cfg->cache.memory_max_bytes) {
        c->mem = sy_memcache_new((size_t)cfg->cache.memory_max_bytes, 0);
        if (!c->mem) {
            sy_error_set(err, SY_ECONFIG, "cache.memory.max_bytes",
                         "cache.memory.max_bytes %llu is too small for the memory tier's %d shards",
                         (unsigned long long)cfg->cache.memory_max_bytes, SY_MEMCACHE_DEFAULT_SHARDS);
            free(c);
            return NULL;
        }
    }
    return c;
}

void sy_cache_free(sy_cache_t *c)
{
    if (!c)
        return;
    sy_cache_stop(c);
    sy_memcache_free(c->mem);
    free(c);
}

static void sweep_tick(evutil_socket_t fd, short what, void *arg)
{
    sy_cache_t *c = arg;
    (void)fd, (void)what;
    if (c->mem)
        sy_memcache_sweep(c->mem, sy_now_ns(), SWEEP_WORK);
}

int sy_cache_start(sy_cache_t *c, struct event_base *base)
{
    if (!c->mem)
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
    if (c && c->sweep) {
        event_free(c->sweep);
        c->sweep = NULL;
    }
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
    }
    evbuffer_add(out, "}}", 2);
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
        if (t == SY_TIER_MEMORY && !c->mem)
            continue;
        if (t != SY_TIER_MEMORY)
            continue; /* the other tiers report once they exist */
        evbuffer_add_printf(out,
                            "switchyard_cache_tier_lookups_total{tier=\"%s\",result=\"hit\"} %llu\n"
                            "switchyard_cache_tier_lookups_total{tier=\"%s\",result=\"miss\"} %llu\n",
                            tier_names[t], (unsigned long long)ld(&c->hits[t]), tier_names[t],
                            (unsigned long long)ld(&c->tier_misses[t]));
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
