/*
 * h1.h - the lean HTTP/1.1 client for plain-HTTP upstreams (internal to
 * src/upstream/; callers use upstream.h).
 *
 * Local model servers speak plain HTTP on loopback or a LAN. For them this
 * client does only what is needed - one request per connection at a time,
 * keep-alive pooling per worker, Content-Length, chunked and close-delimited
 * bodies - on a bufferevent of the worker's loop, without libcurl's general
 * machinery. libcurl stays for TLS, proxies and host names (its threaded
 * resolver), and both transports pass the same tests.
 *
 * The target must be an IP literal or "localhost": nothing here resolves
 * names, so nothing here can block.
 */
#ifndef SY_UPSTREAM_H1_H
#define SY_UPSTREAM_H1_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"

struct event_base;
typedef struct sy_h1 sy_h1_t;
typedef struct sy_h1req sy_h1req_t;

typedef struct sy_h1_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char hostport[80]; /* Host header and pool key */
    const char *path;  /* into the URL: "/v1/chat/completions?x=y" */
} sy_h1_target_t;

typedef struct sy_h1_cbs {
    void (*on_head)(void *ud, int status, const char *content_type, int retry_after);
    int (*on_body)(void *ud, const char *data, size_t len); /* 0 consumed, 1 pause (not consumed) */
    void (*on_done)(void *ud, sy_err_t code, const char *detail); /* SY_OK at a complete response */
} sy_h1_cbs_t;

/* Parse url into t when this client can serve it: "http://", an IP literal
 * or localhost, an optional port (default 80). Returns 0, or -1 when not. */
int sy__h1_target(const char *url, sy_h1_target_t *t);

sy_h1_t *sy__h1_new(struct event_base *base, unsigned max_idle);
/* Close every connection; requests still running end without callbacks. */
void sy__h1_free(sy_h1_t *h);

/* Send a request. headers are "Name: value" lines (Host and Content-Length
 * are added). body is borrowed until on_done or cancel. Returns NULL on
 * allocation failure only; connection failures arrive through on_done. */
sy_h1req_t *sy__h1_start(sy_h1_t *h, const sy_h1_target_t *t, const char *method, const char *const *headers,
                         size_t n_headers, const char *body, size_t body_len, uint32_t connect_ms,
                         const sy_h1_cbs_t *cbs, void *ud);
/* Deliver body again after on_body answered pause (may call on_body here). */
void sy__h1_resume(sy_h1req_t *rq);
/* Close the request's connection; no callback follows. Safe in callbacks. */
void sy__h1_cancel(sy_h1req_t *rq);

#endif
