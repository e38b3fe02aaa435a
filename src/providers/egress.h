/*
 * egress.h - the egress adapters: a canonical request encoded for one kind
 * of provider, and that provider's answer parsed back into canonical events.
 *
 * Three kinds: OpenAI-compatible (openai.c: /chat/completions and
 * /embeddings under base_url, SSE), Ollama (ollama.c:
 * /api/chat, /api/generate, /api/embed, NDJSON) and Anthropic (anthropic.c:
 * /v1/messages, SSE with named events). egress.c dispatches on the kind.
 *
 * A parser (sy_eparse_t) takes the upstream's body as it arrives - split
 * anywhere, a read holding many events or part of one - and calls back once
 * per canonical event, in order: START, then TEXT / THINKING / TOOL_CALL
 * pieces, FINISH, USAGE. An error the upstream reports inside a 2xx stream
 * (OpenAI {"error":...}, Anthropic event: error, Ollama {"error":"..."})
 * ends the parse with -1 and p->err filled (SY_EUPSTATUS, the upstream's
 * message). The same parser reads a whole (non-stream) answer with
 * sy_eparse_whole and gives the same events.
 *
 * Worker thread only; no allocation escapes the parser.
 */
#ifndef SY_PROVIDERS_EGRESS_H
#define SY_PROVIDERS_EGRESS_H

#include <stddef.h>

#include "config/config.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/canon.h"
#include "upstream/ndjson.h"
#include "upstream/sse.h"

struct evbuffer;

#define SY_EPARSE_MAX_EVENT (8u << 20) /* one SSE event or NDJSON line */
#define SY_EPARSE_MAX_BLOCKS 256       /* Anthropic content blocks tracked */

/*
 * Encode q for a provider of kind `kind`, asking for upstream_model, into
 * out (the request body). *path is set to the operation's path relative to
 * the provider's base_url (static string). Returns SY_OK, or an error in err:
 * SY_EUNSUPPORTED for an operation the kind does not have (embeddings at
 * Anthropic), SY_EBADREQ for a request the kind cannot express.
 *   OpenAI:    /chat/completions (GENERATE goes as chat too), /embeddings
 *              (encoding_format float); a stream asks for usage
 *              (stream_options.include_usage).
 *   Ollama:    /api/chat, /api/generate, /api/embed; options{} from the
 *              sampling fields, images as base64, tool arguments as objects.
 *   Anthropic: /v1/messages; system messages moved to the top-level
 *              "system"; max_tokens defaulted (default_max_tokens) when
 *              unsaid; tool results as user tool_result blocks.
 */
sy_err_t sy_egress_encode(sy_provider_type_t kind, const sy_creq_t *q, const char *upstream_model,
                          int64_t default_max_tokens, struct evbuffer *out, const char **path, sy_error_t *err);

/* Parser state. Fields below `cb` are the adapters' own. */
typedef struct sy_eparse {
    sy_provider_type_t kind;
    sy_op_t op;
    int stream;
    sy_ev_cb cb;
    void *ud;
    sy_error_t err; /* when a call returned -1 */

    sy_sse_t sse;       /* OpenAI, Anthropic streams */
    sy_ndjson_t lines;  /* Ollama streams */
    sy_arena_t scratch; /* decoded strings of one event; reset between events */
    int started;        /* START sent */
    int finished;       /* FINISH sent */
    int ended;          /* the protocol's end marker seen ([DONE], message_stop, done:true) */
    int n_calls;        /* tool calls seen so far */
    int block_call[SY_EPARSE_MAX_BLOCKS]; /* Anthropic: content block -> tool call index, -1 */
    int last_call_index;                  /* OpenAI: upstream index of the latest call */
    int call_map[SY_CRESP_MAX_CALLS];     /* OpenAI: call_map[ours] = the upstream's tool_calls[].index */
    int n_call_map;
    sy_usage_t usage;
} sy_eparse_t;

void sy_eparse_init(sy_eparse_t *p, sy_provider_type_t kind, sy_op_t op, int stream, sy_ev_cb cb, void *ud);
void sy_eparse_release(sy_eparse_t *p);

/*
 * Feed a piece of a streamed body. Returns 0 when consumed, 1 when the
 * callback asked to stop, -1 with p->err set on a protocol error or an error
 * the upstream reported in the stream.
 */
int sy_eparse_feed(sy_eparse_t *p, const char *data, size_t len);
/*
 * The streamed body ended (the transfer finished cleanly). Flushes a last
 * event without its blank line. Returns 0, 1 (callback stop), or -1 with
 * p->err (SY_EUPCLOSED) when the stream stopped before its end marker or
 * before a finish: the answer is truncated and must not pass as whole.
 */
int sy_eparse_end(sy_eparse_t *p);
/* Parse a whole non-stream answer (JSON text). Same returns as feed;
 * SY_EUPPROTO when it is not the expected JSON object. */
int sy_eparse_whole(sy_eparse_t *p, const char *body, size_t len);

/*
 * Parse a whole embeddings answer of kind `kind` into out (vectors in the
 * arena). n_inputs is how many vectors were asked for: another count is
 * SY_EUPPROTO. Returns SY_OK or an error in err.
 */
sy_err_t sy_egress_parse_embed(sy_provider_type_t kind, const char *body, size_t len, size_t n_inputs,
                               sy_arena_t *a, sy_embed_t *out, sy_error_t *err);

/* The per-kind implementations egress.c dispatches to (internal). */
sy_err_t sy__openai_encode(const sy_creq_t *q, const char *model, struct evbuffer *out, const char **path,
                           sy_error_t *err);
int sy__openai_feed(sy_eparse_t *p, const char *data, size_t len);
int sy__openai_end(sy_eparse_t *p);
int sy__openai_whole(sy_eparse_t *p, const char *body, size_t len);
sy_err_t sy__openai_embed(const char *body, size_t len, size_t n_inputs, sy_arena_t *a, sy_embed_t *out,
                          sy_error_t *err);

sy_err_t sy__ollama_encode(const sy_creq_t *q, const char *model, struct evbuffer *out, const char **path,
                           sy_error_t *err);
int sy__ollama_feed(sy_eparse_t *p, const char *data, size_t len);
int sy__ollama_end(sy_eparse_t *p);
int sy__ollama_whole(sy_eparse_t *p, const char *body, size_t len);
sy_err_t sy__ollama_embed(const char *body, size_t len, size_t n_inputs, sy_arena_t *a, sy_embed_t *out,
                          sy_error_t *err);

sy_err_t sy__anthropic_encode(const sy_creq_t *q, const char *model, int64_t default_max_tokens,
                              struct evbuffer *out, const char **path, sy_error_t *err);
int sy__anthropic_feed(sy_eparse_t *p, const char *data, size_t len);
int sy__anthropic_end(sy_eparse_t *p);
int sy__anthropic_whole(sy_eparse_t *p, const char *body, size_t len);

/* Shared by the parsers. A protocol error (SY_EUPPROTO with a printf-style
 * message); returns -1. */
int sy__eparse_fail(sy_eparse_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A whole answer's body as one JSON object in *obj (p->scratch emptied for
 * its strings); -1 with p->err (SY_EUPPROTO) when it is not one. */
int sy__eparse_object(sy_eparse_t *p, const char *body, size_t len, sy_jval_t *obj);
/* Emit ev, START first when none was sent; returns the callback's answer. */
int sy__eparse_send(sy_eparse_t *p, const sy_ev_t *ev);
/* Decode the string v (which must be one) into p->scratch; -1 with p->err
 * (SY_EUPPROTO naming what, or SY_ENOMEM) otherwise. */
int sy__eparse_str(sy_eparse_t *p, const sy_jval_t *v, const char *what, sy_str_t *out);
/* The answer of the SSE or NDJSON splitter (sy_sse_feed, sy_ndjson_feed)
 * as the parser's: 0, 1 and -1 (p->err set by a callback) pass through; the
 * splitter's own SY_ETOOLARGE and SY_ENOMEM become -1 with p->err. */
int sy__eparse_split_rc(sy_eparse_t *p, int rc);
/* Emit ev through p->cb; returns the callback's answer. */
int sy__eparse_emit(sy_eparse_t *p, const sy_ev_t *ev);
/* Emit START once (before the first other event). */
int sy__eparse_start(sy_eparse_t *p, sy_str_t id);

#endif
