/*
 * health.h - active health probes of providers, and what local servers say
 * of their load.
 *
 * A provider with `health:` set (config.h sy_health_conf_t) is asked a GET
 * on its probe path (Ollama /api/tags, OpenAI-compatible /models after a
 * base_url ending in /v1, Anthropic /v1/models) every interval. Any 2xx
 * answer is a good probe, anything else (refused, timed out, another
 * status) a failed one; healthy_after good probes in a row mark the
 * provider up, unhealthy_after failed ones down. Before either it is
 * unknown, which routes like up.
 *
 * After a good probe, a local server is asked what it is busy with:
 *   - Ollama (`loaded`, on by default): GET /api/ps, the models in memory.
 *     A deployment whose model is listed is preferred (loading a model
 *     costs seconds).
 *   - a llama.cpp server (type openai, `slots: true`): GET /slots at the
 *     server's root (base_url without a trailing /v1), an array of slots
 *     each with "is_processing" (newer servers) or "state" (older: 0 idle).
 *     A deployment on a server with an idle slot is preferred over one on
 *     a server with none. A server whose /slots is off (404 or 501: started
 *     with --no-slots, or older ones without --slots) is asked GET /metrics
 *     instead (needs --metrics): "llamacpp:requests_deferred" above 0 means
 *     every slot is busy.
 *
 * How routing uses it (router/state.c): a deployment whose provider is down
 * is passed over like one with an open breaker - unless every candidate is
 * down, then they are still tried (a probe can be wrong, and refusing on
 * its word alone would turn a probe's mistake into an outage). Among the
 * rest, the preferred ones are kept when there are any; no data (no probe
 * yet, a failed /api/ps) changes nothing.
 *
 * Threads: the probes run on one worker's loop (the one discovery uses, so
 * a provider that both discovers and is probed on /api/tags is asked once:
 * the health probe's answer is handed to discovery, see
 * sy_discovery_share). What routing reads are atomics; the reports (JSON,
 * metrics) take a per-provider mutex for the last error and loaded names.
 */
#ifndef SY_PROVIDERS_HEALTH_H
#define SY_PROVIDERS_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "providers/discovery.h"

struct evbuffer;
typedef struct sy_worker sy_worker_t;
typedef struct sy_health sy_health_t;

/* A provider's state by its probes. */
enum { SY_HEALTH_UNKNOWN = 0, SY_HEALTH_UP = 1, SY_HEALTH_DOWN = 2 };

/* Whether provider p is probed (health enabled, not disabled, not a demo);
 * whether cfg has such a provider. */
int sy_health_probed(const sy_provider_conf_t *p);
int sy_health_wanted(const sy_config_t *cfg);

/*
 * The probes of cfg's providers (cfg must outlive them). disc (may be NULL)
 * is the model discovery: a discovering provider whose probe path is
 * /api/tags is shared with it (call before sy_discovery_start). NULL when
 * nothing is probed or out of memory. Nothing runs until sy_health_start.
 * Main thread.
 */
sy_health_t *sy_health_new(const sy_config_t *cfg, sy_discovery_t *disc);

/* Run the probes on worker w's loop: every provider's first at once. Must
 * be the loop discovery runs on when they share. Any thread once w's base
 * exists. Returns 0, or -1 when a timer cannot be made. */
int sy_health_start(sy_health_t *h, sy_worker_t *w);

/* Cancel the probes in flight and the timers for good. On w's thread or
 * once its loop stopped, before w's upstream client is freed. Idempotent;
 * NULL ok. */
void sy_health_stop(sy_health_t *h);

/* Stop, then free. NULL ok. */
void sy_health_free(sy_health_t *h);

/* ---- read by routing: atomics only, any thread ---- */

/* SY_HEALTH_* of provider pi (UNKNOWN when not probed or h is NULL). */
int sy_health_state(const sy_health_t *h, size_t pi);

/* What the local server of deployment d of model m says: 1 preferred
 * (its model is loaded, an idle slot), -1 known not to be, 0 no data. */
int sy_health_pref(const sy_health_t *h, size_t m, size_t d);

/* ---- reports, any thread ---- */

/* Whether some probed provider is up (1), or none is (0); 1 when nothing
 * is probed. */
int sy_health_any_up(sy_health_t *h);

/* {"name": {"status","last_probe_ms_ago","latency_ms","probes","failures",
 * "error","loaded"?,"slots"?}, ...} for every probed provider; now is
 * monotonic nanoseconds. */
void sy_health_json(sy_health_t *h, uint64_t now, struct evbuffer *out);

/* switchyard_provider_up, _probe_latency_seconds, _loaded_models,
 * _idle_slots in the Prometheus text format. */
void sy_health_metrics(sy_health_t *h, struct evbuffer *out);

/* ---- internal, for tests ---------------------------------------------- */

/* Parse GET /slots' body: the number of slots and of idle ones. Returns
 * SY_OK, or SY_EUPPROTO with err saying why (not JSON, not an array, no
 * slot with a state). At most SY_HEALTH_MAX_SLOTS slots are counted. */
#define SY_HEALTH_MAX_SLOTS 4096
sy_err_t sy__health_parse_slots(const char *body, size_t len, int *total, int *idle, sy_error_t *err);

/* Parse a Prometheus text body for llama.cpp's llamacpp:requests_processing
 * and llamacpp:requests_deferred (-1 each when absent). Returns 0 when
 * either was found, -1 otherwise. */
int sy__health_parse_metrics(const char *text, size_t len, int64_t *processing, int64_t *deferred);

/* Feed provider pi's probe outcome as the loop would: the main probe (why
 * a transport error, or status and body) at now after latency_ns; returns
 * the provider's SY_HEALTH_* state after it. */
int sy__health_main_result(sy_health_t *h, size_t pi, const char *why, int status, const char *body, size_t len,
                           uint64_t now, uint64_t latency_ns);
/* The second probe's outcome (/api/ps, /slots or /metrics, by what pi
 * is): sets the preferences of pi's deployments. */
void sy__health_aux_result(sy_health_t *h, size_t pi, const char *why, int status, const char *body, size_t len);
/* Whether pi has fallen back from /slots to /metrics. */
int sy__health_uses_metrics(const sy_health_t *h, size_t pi);
/* Probe every interval_ms instead of each provider's interval (tests). */
void sy__health_set_interval_ms(sy_health_t *h, uint32_t interval_ms);

#endif
