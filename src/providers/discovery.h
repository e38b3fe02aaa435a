/*
 * discovery.h - the models an Ollama server has, learned by asking it.
 *
 * A provider of type ollama with `discover: true` is asked GET /api/tags at
 * start and every discover_interval_s. What it answers becomes part of an
 * immutable snapshot (sy_disc_snap_t) that every worker reads: the router
 * resolves bare model names through it and the listings (/v1/models,
 * /api/tags) show its models. The probes run on one worker's event loop;
 * the snapshot is published as a reference-counted pointer behind a mutex,
 * so a reader takes a reference (sy_discovery_acquire), uses the snapshot
 * for as long as it likes without a lock, and drops it
 * (sy_disc_snap_release). A new listing replaces the pointer; the old
 * snapshot is freed when its last reader lets go.
 *
 * A probe that fails (connection refused, an error status, a body that is
 * not a listing) keeps the provider's models from the last good answer and
 * is retried at the interval; the log says so once per change between
 * reachable and unreachable. Bounds: at most SY_DISC_MAX_MODELS models per
 * provider (the rest of a longer listing is ignored, with a warning), names
 * of at most SY_DISC_MAX_NAME bytes (longer ones are skipped), a listing of
 * at most SY_DISC_MAX_BODY bytes.
 */
#ifndef SY_PROVIDERS_DISCOVERY_H
#define SY_PROVIDERS_DISCOVERY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"

#define SY_DISC_MAX_MODELS 4096
#define SY_DISC_MAX_NAME 255
#define SY_DISC_MAX_BODY (16u * 1024u * 1024u)

typedef struct sy_worker sy_worker_t;
typedef struct sy_discovery sy_discovery_t;

/* One discovered model. Every string is NUL-terminated and never NULL ("" when
 * the server did not say). */
typedef struct sy_disc_model {
    const char *provider;  /* the provider's name */
    size_t provider_index; /* into sy_config_t.providers */
    const char *name;      /* as the server lists it: "llama3.2:latest" */
    const char *model;     /* the listing's "model" (usually the name again) */
    int64_t size;          /* bytes on disk; -1 when not given */
    const char *digest;
    const char *modified_at; /* RFC 3339, as given */
    const char *family;      /* details.family ... */
    const char *parameter_size;
    const char *quantization_level;
    const char *format;
} sy_disc_model_t;

/* An immutable set of discovered models, ordered by provider (config order),
 * then as each provider listed them. refs is the snapshot's only mutable
 * part and belongs to retain/release. */
typedef struct sy_disc_snap {
    const sy_disc_model_t *models;
    size_t n_models;
    atomic_uint refs;
} sy_disc_snap_t;

/*
 * A new snapshot holding copies of models[0..n) (their strings included;
 * NULL strings become ""). models must be ordered by provider_index. One
 * reference, owned by the caller. NULL when out of memory. Any thread.
 */
sy_disc_snap_t *sy_disc_snap_new(const sy_disc_model_t *models, size_t n);
/* Take one more reference; returns s. NULL ok. Any thread. */
const sy_disc_snap_t *sy_disc_snap_retain(const sy_disc_snap_t *s);
/* Drop a reference; the last one frees the snapshot. NULL ok. Any thread. */
void sy_disc_snap_release(const sy_disc_snap_t *s);

/*
 * The model provider lists as name, or NULL. A name without a tag also
 * matches the listed "name:latest", as Ollama itself does. s may be NULL.
 */
const sy_disc_model_t *sy_disc_snap_find(const sy_disc_snap_t *s, const char *provider, const char *name);
/* The first model listed as name by any provider (config order), same
 * matching; an exact name anywhere wins over an implied ":latest". NULL
 * when none. */
const sy_disc_model_t *sy_disc_snap_find_bare(const sy_disc_snap_t *s, const char *name);

/* The matching rule itself: 2 when listed is asked, 1 when asked has no tag
 * and listed is asked + ":latest", else 0. */
int sy_disc_name_match(const char *listed, const char *asked);

/* Whether cfg has a provider that discovers (type ollama, discover: true,
 * not disabled). */
int sy_discovery_wanted(const sy_config_t *cfg);

/*
 * The discovery of cfg's discovering providers; cfg must outlive it. NULL
 * when no provider discovers (sy_discovery_wanted is 0) or out of memory.
 * Nothing runs until sy_discovery_start. Main thread.
 */
sy_discovery_t *sy_discovery_new(const sy_config_t *cfg);

/*
 * Run the probes on worker w's loop: the first at once, then every
 * provider's interval after its previous probe ended. May be called from
 * any thread once w's event base exists (libevent's locking must be on, as
 * sy_server_new sets it). Returns 0, or -1 when a timer cannot be made.
 */
int sy_discovery_start(sy_discovery_t *d, sy_worker_t *w);

/*
 * Stop probing for good: cancel the probe in flight and the timers. Call it
 * on w's thread or once w's loop no longer runs (its thread joined), and
 * before w's upstream client and event base are freed. Idempotent; NULL ok.
 */
void sy_discovery_stop(sy_discovery_t *d);

/*
 * Let another prober's GET /api/tags serve provider_index's listing
 * (health.h: a provider with active health probes on /api/tags): discovery
 * then sends no request of its own for it and takes what
 * sy_discovery_feed hands over. Call before sy_discovery_start. Returns 0,
 * or -1 when the provider does not discover (or discovery has started).
 */
int sy_discovery_share(sy_discovery_t *d, size_t provider_index);

/*
 * The outcome of a shared GET /api/tags for provider_index: why it failed
 * (a transport error; NULL when an answer came), else its status and body.
 * Handled as discovery's own probe would (a new snapshot, or the last
 * listing kept). Call on the thread of the loop discovery runs on. No-op
 * for a provider not shared, or after sy_discovery_stop. d may be NULL.
 */
void sy_discovery_feed(sy_discovery_t *d, size_t provider_index, const char *why, int status, const char *body,
                       size_t len);

/* Stop, then free everything; the snapshot lives on while readers hold it.
 * NULL ok. */
void sy_discovery_free(sy_discovery_t *d);

/*
 * The current snapshot with a reference the caller must drop with
 * sy_disc_snap_release; NULL when d is NULL or nothing was discovered yet.
 * Any thread; never blocks beyond a pointer swap.
 */
const sy_disc_snap_t *sy_discovery_acquire(sy_discovery_t *d);

/* ---- internal, for tests ---------------------------------------------- */

/* A parsed listing: models whose strings live in pool. */
typedef struct sy__disc_list {
    sy_disc_model_t *models;
    size_t n;
    size_t skipped;   /* entries without a usable name */
    size_t truncated; /* entries past SY_DISC_MAX_MODELS */
    char *pool;
} sy__disc_list_t;

/* Parse GET /api/tags' body for provider (name, index) into *out. Returns
 * SY_OK, or SY_EUPPROTO with err saying what is wrong. Free with
 * sy__disc_list_release (also after a failure). */
sy_err_t sy__disc_parse_tags(const char *body, size_t len, const char *provider, size_t provider_index,
                             sy__disc_list_t *out, sy_error_t *err);
void sy__disc_list_release(sy__disc_list_t *l);

/* Append data[0..n) to a malloc'd body (*len bytes of *cap), growing it
 * up to SY_DISC_MAX_BODY. Returns 0, -1 when it would grow past that, -2
 * out of memory (the body is kept as it was). For listings and probes. */
int sy__disc_append(char **body, size_t *len, size_t *cap, const char *data, size_t n);

/* A new snapshot: old's models with provider_index's replaced by
 * models[0..n). NULL when out of memory. */
sy_disc_snap_t *sy__disc_snap_replace(const sy_disc_snap_t *old, size_t provider_index,
                                      const sy_disc_model_t *models, size_t n);

/* Probe every interval_ms instead of every discover_interval_s (tests). */
void sy__discovery_set_interval_ms(sy_discovery_t *d, uint32_t interval_ms);

#endif
