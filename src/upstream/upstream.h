/*
 * upstream.h - the HTTP client every provider adapter sends through.
 *
 * Two transports sit behind it: a lean HTTP/1.1 client (h1.c) for plain-HTTP
 * upstreams addressed by IP or localhost - the local model servers - and
 * libcurl for everything else (TLS, proxies from the environment, host names).
 *
 * One sy_upstream_t per worker thread drives libcurl's multi-socket API from
 * that worker's libevent loop: curl's sockets become events, curl's timer an
 * evtimer, and connections are pooled per worker and reused. A request
 * (sy_upreq_t) reports back through three callbacks, in order: on_head once
 * (status and content type known, before any body), on_body for each piece
 * of body, on_done exactly once at the end with NULL on success or the
 * error. When sy_upstream_start fails it returns NULL and no callback is
 * ever called (libuv's rule). After on_done, or after sy_upreq_cancel, the
 * request is gone and no callback follows.
 *
 * Timeouts: connect_ms (TCP+TLS), first_byte_ms (start of the attempt to the
 * first response byte), idle_ms (silence between body pieces; time paused for
 * a slow client does not count), total_ms (the whole transfer).
 *
 * Everything here runs on the owning worker's thread only.
 */
#ifndef SY_UPSTREAM_UPSTREAM_H
#define SY_UPSTREAM_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"

struct event_base;
typedef struct sy_upstream sy_upstream_t;
typedef struct sy_upreq sy_upreq_t;

/* on_body's answer when the consumer cannot take more now: the bytes were
 * NOT consumed; curl keeps them and delivers them again after sy_upreq_resume. */
#define SY_UPSTREAM_PAUSE 1

typedef struct sy_upreq_cbs {
    void (*on_head)(void *ud, int status, const char *content_type);
    int (*on_body)(void *ud, const char *data, size_t len); /* 0 or SY_UPSTREAM_PAUSE */
    void (*on_done)(void *ud, const sy_error_t *err);
} sy_upreq_cbs_t;

typedef struct sy_upreq_opts {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    size_t n_headers;
    char *body; /* malloc'd; ownership passes to the request (freed at the end) */
    size_t body_len;
    sy_timeouts_t timeouts;
    int force_curl; /* use libcurl even where the lean plain-HTTP transport could serve */
} sy_upreq_opts_t;

/* Whether requests to base_url go through libcurl (TLS, host names, a proxy
 * in the environment, or transport: curl). The caller loads libcurl
 * (curl_dl.h) before creating clients when any provider needs it. */
int sy_upstream_needs_curl(const char *base_url, int force_curl);
/* A proxy for plain HTTP is set in the environment (http_proxy, all_proxy). */
int sy_upstream_proxy_env(void);

/* Create the client for one worker's loop. NULL on failure. Without libcurl
 * loaded, only the lean transport is available. */
sy_upstream_t *sy_upstream_new(struct event_base *base, unsigned max_connections);
/* Cancel every request still running (no callbacks) and free. NULL ok. */
void sy_upstream_free(sy_upstream_t *up);
/* Requests in flight. */
unsigned sy_upstream_active(const sy_upstream_t *up);

/*
 * Start a request. Returns the handle, or NULL with *err set (then opts->body
 * has been freed and no callback will be called).
 */
sy_upreq_t *sy_upstream_start(sy_upstream_t *up, sy_upreq_opts_t *opts, const sy_upreq_cbs_t *cbs,
                              void *ud, sy_error_t *err);

/* Resume a request whose on_body answered SY_UPSTREAM_PAUSE. on_body may be
 * called from inside this function. */
void sy_upreq_resume(sy_upreq_t *rq);

/* Stop a request now: its connection is closed (the upstream sees the peer
 * leave) and no callback follows. Safe from any callback of this request. */
void sy_upreq_cancel(sy_upreq_t *rq);

/* Nanoseconds from start to the first body byte (0 if none yet). */
uint64_t sy_upreq_ttfb_ns(const sy_upreq_t *rq);
/* The Retry-After header's value in seconds (-1 if absent). */
int sy_upreq_retry_after(const sy_upreq_t *rq);

#endif
