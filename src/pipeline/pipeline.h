/*
 * pipeline.h - the request lifecycle from a decoded request to a finished
 * response: route, egress, upstream attempt, relay back to the client.
 *
 * Today's path is the OpenAI passthrough: the client's JSON bytes go upstream
 * with only "model" rewritten, and the upstream's answer comes back as it is
 * - whole for a plain response, event by event for a stream, flushed per
 * upstream read, with backpressure from a slow client to the upstream, SSE
 * keep-alive comments while the upstream is silent, and a protocol-correct
 * error event when the upstream fails mid-stream. Later stages (auth,
 * limits, cache, dedup, retries) slot in before and after the attempt.
 */
#ifndef SY_PIPELINE_PIPELINE_H
#define SY_PIPELINE_PIPELINE_H

#include <stddef.h>

#include "core/jsonscan.h"
#include "http/request.h"
#include "core/canon.h"

struct evbuffer;

/*
 * The client side of a translated call: how one ingress protocol writes
 * canonical events for its client. The pipeline owns an sy_enc_t per call;
 * the encoder keeps its stream state in it.
 */
typedef struct sy_enc {
    const sy_creq_t *q;
    const char *model; /* the model name the client sees (the one it asked for) */
    const char *id;    /* the request id (response ids derive from it) */
    int64_t created;   /* unix seconds */
    uint64_t start_ns; /* monotonic start of the request */
    unsigned flags;    /* SY_ENC_* */
    /* stream state, the encoder's own */
    int started;    /* preamble written */
    int open_block; /* Anthropic: index of the open content block, -1 none */
    int open_kind;  /* Anthropic: SY_EV_TEXT, SY_EV_THINKING or SY_EV_TOOL_CALL */
    int n_blocks;   /* Anthropic: content blocks started */
    int n_calls;    /* tool calls started */
    int call_block; /* Anthropic: the tool call index of the open block */
    sy_finish_t finish;
    char stop_sequence[256];
    sy_usage_t usage;        /* merged from every USAGE event */
    uint64_t first_token_ns; /* monotonic, first TEXT/TOOL_CALL */
    /* More state an encoder needs (Ollama: tool calls buffered until they
     * are whole): one malloc'd block or NULL. The encoder frees it in end()
     * and error() and sets it NULL; whatever is left when a call ends any
     * other way (the client left) the pipeline releases with free(). */
    void *own;
} sy_enc_t;

/* enc flags set by the ingress decoders */
#define SY_ENC_BASE64 0x1     /* OpenAI embeddings: encoding_format base64 */
#define SY_ENC_LEGACY_EMB 0x2 /* Ollama /api/embeddings: one "embedding" */

typedef struct sy_ingress {
    sy_proto_t proto;
    const char *stream_type; /* "text/event-stream" or "application/x-ndjson" */
    int keepalive;           /* ": keep-alive" comments may be sent while idle (SSE) */
    /* Streams: write what ev means for the client into out (maybe nothing). */
    void (*event)(sy_enc_t *e, const sy_ev_t *ev, struct evbuffer *out);
    /* The upstream's stream ended well: write the closing events. */
    void (*end)(sy_enc_t *e, struct evbuffer *out);
    /* The stream failed after it started: the protocol's error event. */
    void (*error)(sy_enc_t *e, const sy_error_t *err, struct evbuffer *out);
    /* A whole (non-stream) answer. */
    void (*whole)(sy_enc_t *e, const sy_cresp_t *c, struct evbuffer *out);
    /* A whole embeddings answer (NULL: the protocol has none). */
    void (*embed)(sy_enc_t *e, const sy_embed_t *m, struct evbuffer *out);
} sy_ingress_t;

/* Decodes an OpenAI body into q (the arena holds the strings). */
typedef sy_err_t (*sy_decode_fn)(const char *body, size_t len, sy_op_t op, sy_arena_t *a, sy_creq_t *q,
                                 unsigned *enc_flags, sy_error_t *err);

/* What an ingress adapter decoded from the client. */
typedef struct sy_call {
    const char *route;         /* "/v1/chat/completions" (static) */
    const char *upstream_path; /* the same operation at the provider: "/chat/completions" */
    const char *model;         /* the public model name (inside json) */
    int stream;                /* client asked for an event stream */
    const char *body;          /* the client's JSON text (contiguous, valid while r lives) */
    size_t body_len;
    sy_jval_t model_value;     /* the "model" value's bytes inside body */
    sy_op_t op;
    sy_decode_fn decode;         /* to canonical, when the upstream is not OpenAI-compatible */
    /* whether the canonical form carries every field of the body (NULL: it
     * does not): an OpenAI-compatible upstream's call may then be cached
     * and shared instead of passed through */
    int (*covers)(const char *body, size_t len, sy_op_t op);
    const sy_ingress_t *ingress; /* and back */
    /* the body's top-level "metadata" and "user" values as the ingress met
     * them checking the body (scanned 1; p NULL: absent), for the routing
     * rules and experiments; scanned 0: they look for themselves */
    int scanned;
    sy_jval_t metadata, user;
} sy_call_t;

/* Run the call to its end; always finishes r (directly or later). An
 * OpenAI-compatible deployment gets the client's bytes (passthrough); any
 * other kind gets the call decoded and translated. */
void sy_pipeline_forward(sy_req_t *r, sy_call_t *call);

/*
 * Run a canonical request to its end: route q->model, encode for the chosen
 * provider's kind, send, parse its answer into events and write them for
 * the client through in. q and its strings live in r's arena. Always
 * finishes r.
 */
void sy_pipeline_translate(sy_req_t *r, sy_creq_t *q, const sy_ingress_t *in, unsigned enc_flags);

/* Another node announced (through Redis) that the shared call for key
 * ended (ok or not): a flight of this process following it reads the
 * answer or calls upstream itself. srv is the sy_server_t; any thread. */
void sy_pipeline_remote_done(void *srv, const unsigned char key[32], int ok);

/* Read usage.prompt_tokens / completion_tokens of an OpenAI response or
 * chunk (validated JSON text) into r; fields absent or null are left alone. */
void sy_pipeline_take_usage(sy_req_t *r, const sy_jval_t *obj);

#endif
