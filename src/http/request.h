/*
 * request.h - one client request on a worker, and the response writer.
 *
 * A sy_req_t is created by the server for every request and lives until the
 * response is finished: sy_req_reply* for a whole response, or
 * sy_req_stream_start, sy_req_stream_write..., sy_req_stream_end for a
 * stream. Finishing writes the request's log line and metrics and frees it;
 * the request must not be touched afterwards.
 *
 * When the client leaves before that, the server calls r->on_gone (the
 * handler cancels whatever it started) and the handler then finishes the
 * request as usual; writes after the client left are dropped. Streams report
 * backpressure: sy_req_stream_write answers 1 once more than
 * server.stream_high_water_bytes wait for the client, and r->on_drain is
 * called when the client has taken them all.
 *
 * Worker thread only.
 */
#ifndef SY_HTTP_REQUEST_H
#define SY_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "http/server.h"

struct evhttp_request;
struct evbuffer;

struct sy_req {
    sy_worker_t *w;
    struct evhttp_request *ev; /* NULL once the client is gone and libevent owns it */
    int method;                /* EVHTTP_REQ_* */
    const char *path;          /* path without query, valid while the request lives */
    char id[64];
    uint64_t start_ns;
    uint64_t first_byte_ns; /* first response byte handed to the client */

    /* what the log line and metrics say; set by the handler */
    const char *route; /* static string: "/v1/chat/completions" */
    char model[128];
    char deployment[128];
    char provider[64];
    const char *error_code; /* set when the request failed */
    int status;
    int64_t prompt_tokens, completion_tokens;
    int attempts;         /* upstream attempts made (0: none, a cache hit) */
    const char *fallback; /* the fallback model that answered (config-owned), NULL: none */
    int exp, arm;         /* the A/B experiment and arm it went to (router/experiment.h); -1: none.
                           * Set by routing; finishing then calls srv->exp_done */
    const char *route_reason; /* x-switchyard-route-reason (in arena), NULL: none */

    unsigned streaming : 1, client_gone : 1, orphan : 1, waiting_drain : 1, finished : 1;

    void (*on_gone)(sy_req_t *r);
    void (*on_drain)(sy_req_t *r);
    void *ctx; /* the handler's state */
    int proto;  /* sy_proto_t of the route: the shape of its errors */
    sy_arena_t arena; /* request-scoped memory (a translated call's canonical form) */
};

/* Called by the server for each new request (server.c). */
sy_req_t *sy__req_new(sy_worker_t *w, struct evhttp_request *ev);

/* A request header's value, or NULL. */
const char *sy_req_header(const sy_req_t *r, const char *name);
/* The request body (may be empty). Valid until the request finishes. */
struct evbuffer *sy_req_body(const sy_req_t *r);
/* Add a response header (before the response starts). */
void sy_req_set_header(sy_req_t *r, const char *name, const char *value);
/* Set a response header, replacing any value it had (NULL removes it). */
void sy_req_replace_header(sy_req_t *r, const char *name, const char *value);

/* Whole responses; each finishes the request. */
void sy_req_reply(sy_req_t *r, int status, const char *content_type, const char *body, size_t len);
void sy_req_reply_buf(sy_req_t *r, int status, const char *content_type, struct evbuffer *body);

/* Streams. start sends the status and headers (chunked); write queues bytes
 * and answers 1 when the client is behind (stop producing until on_drain);
 * end finishes the request. */
void sy_req_stream_start(sy_req_t *r, int status, const char *content_type);
int sy_req_stream_write(sy_req_t *r, const char *data, size_t len);
/* The same from an evbuffer, whose bytes are moved out (no copy). */
int sy_req_stream_write_buf(sy_req_t *r, struct evbuffer *data);
void sy_req_stream_end(sy_req_t *r);

/* Finish without writing anything more (the client is gone). */
void sy_req_abandon(sy_req_t *r);

#endif
