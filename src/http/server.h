/*
 * server.h - the listener: one libevent loop per worker thread.
 *
 * sy_server_new binds one SO_REUSEPORT socket per worker (the kernel spreads
 * connections across them), each worker thread runs its own event_base with
 * its own evhttp and its own upstream client, and every request reaches the
 * one handler given at creation on the worker that accepted it. sy_server_run
 * blocks until SIGTERM or SIGINT, then drains: listeners close at once (new
 * connections are refused), requests on open connections get 503, requests
 * in flight finish, bounded by server.drain_timeout_ms.
 */
#ifndef SY_HTTP_SERVER_H
#define SY_HTTP_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "telemetry/metrics.h"

struct event_base;
struct evhttp;
struct event;
typedef struct sy_server sy_server_t;
typedef struct sy_worker sy_worker_t;
typedef struct sy_req sy_req_t;
typedef struct sy_upstream sy_upstream_t;
typedef struct sy_discovery sy_discovery_t;
struct sy_cache;
struct sy_dedup;
struct sy_rstate;
struct sy_exp_state;
struct sy_health;

/* Receives every request. Must eventually answer it (see request.h). */
typedef void (*sy_handler_fn)(sy_req_t *r);

/* The gateway's own metric families, registered once by the server. */
typedef struct sy_server_metrics {
    sy_metric_t *requests;         /* counter {route, model, status} */
    sy_metric_t *duration;         /* histogram {route} seconds */
    sy_metric_t *ttft;             /* histogram {route, model} seconds */
    sy_metric_t *upstream_errors;  /* counter {provider, kind} */
    sy_metric_t *tokens;           /* counter {model, direction} */
    sy_metric_t *inflight;         /* gauge {} */
    sy_metric_t *client_gone;      /* counter {route} */
} sy_server_metrics_t;

struct sy_worker {
    sy_server_t *srv;
    unsigned index; /* also this worker's metrics shard */
    struct event_base *base;
    struct evhttp *http;
    void *bound; /* struct evhttp_bound_socket * */
    sy_upstream_t *upstream;
    struct event *wake; /* activated from the main thread to start draining */
    pthread_t thread;
    unsigned inflight;
    unsigned flushing; /* responses finished but not yet written out */
    unsigned flush_waits; /* drain: turns spent waiting for flushing to reach 0 */
    struct event *recheck; /* drain: polls flushing (a connection that died leaves it high) */
    int draining;
    uint64_t rng[2]; /* xorshift128+ state: request ids, weighted picks */
};

struct sy_server {
    const sy_config_t *cfg;
    sy_metrics_t *metrics;
    sy_server_metrics_t m;
    sy_handler_fn handler;
    sy_worker_t *workers;
    unsigned nworkers;
    long started;  /* wall-clock start, seconds (the models' "created") */
    uint16_t port; /* the bound port (resolved when the config said 0) */
    atomic_int draining;
    atomic_int stopping;
    /* Ollama model discovery (providers/discovery.h), NULL when no provider
     * discovers; handlers read its snapshots. Owned by the caller (set it
     * between sy_server_new and sy_server_run, free it after
     * sy_server_free). The server knows it only through the two hooks the
     * caller sets with it: start on worker 0 once the workers run (non-zero
     * = failed: logged, requests go on), stop once they have stopped. */
    sy_discovery_t *discovery;
    int (*discovery_start)(sy_discovery_t *d, sy_worker_t *w);
    void (*discovery_stop)(sy_discovery_t *d);
    /* The answer cache (cache/cache.h; NULL when no model caches) and the
     * in-flight dedup table (dedup/table.h): owned by the caller like
     * discovery. The cache's background work runs on worker 0, started and
     * stopped through the two hooks. */
    struct sy_cache *cache;
    struct sy_dedup *dedup;
    /* The router's live state (router/state.h): deployments' in-flight
     * counts, latencies, circuit breakers. Owned by the caller. */
    struct sy_rstate *rstate;
    int (*cache_start)(struct sy_cache *c, struct event_base *base);
    void (*cache_stop)(struct sy_cache *c);
    /* A/B experiments (router/experiment.h): the per-arm counters and the
     * table /v1/feedback reads, owned by the caller; exp_done is called as
     * a request with r->exp >= 0 finishes (before it is freed), to count
     * its outcome on its arm. */
    struct sy_exp_state *exp;
    void (*exp_done)(sy_req_t *r);
    /* Active health probes (providers/health.h), NULL when no provider is
     * probed. Owned by the caller like discovery, and run the same way: on
     * worker 0 (the loop discovery uses: they share /api/tags answers),
     * started once the workers run, stopped once they have stopped. */
    struct sy_health *health;
    int (*health_start)(struct sy_health *h, sy_worker_t *w);
    void (*health_stop)(struct sy_health *h);
};

/*
 * Bind the listeners and create the workers (threads not started yet).
 * Returns NULL with *err set when a socket cannot be bound.
 */
sy_server_t *sy_server_new(const sy_config_t *cfg, sy_metrics_t *metrics, sy_handler_fn handler,
                           sy_error_t *err);

/* Start the workers, wait for SIGTERM/SIGINT, drain, join. Returns 0 on a
 * clean drain, 1 if the drain timeout cut requests short. Main thread only. */
int sy_server_run(sy_server_t *srv);

/* Free everything (after run returned, or instead of it). NULL ok. */
void sy_server_free(sy_server_t *srv);

/* A uniformly random 64-bit value from the worker's generator. */
uint64_t sy_worker_rand(sy_worker_t *w);

#endif
