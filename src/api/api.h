/*
 * api.h - the ingress side: which handler serves which method and path.
 *
 * sy_api_dispatch is the server's one handler: it looks the request up in
 * the route table and calls the adapter that speaks that API (openai.c,
 * health.c; ollama.c and anthropic.c join them). Unknown paths get 404 and
 * known paths with the wrong method 405, in the OpenAI error shape.
 */
#ifndef SY_API_API_H
#define SY_API_API_H

#include "http/request.h"
#include "pipeline/pipeline.h"
#include "providers/discovery.h"

void sy_api_dispatch(sy_req_t *r);

/* body.c: body[0..len) as one JSON object into *doc (whitespace around it
 * allowed). SY_OK, or SY_EBADJSON (empty, malformed: "malformed JSON at
 * byte N: ...") or SY_EBADREQ (not an object) with err set - the messages
 * every route gives. A route whose empty body has its own message checks
 * that first. */
sy_err_t sy__api_json_object(const char *body, size_t len, sy_jval_t *doc, sy_error_t *err);
/* The same for r's body, answering r with the error when it is not one
 * (empty: that message instead, when not NULL). Returns 0 or -1. */
int sy__api_read_object(sy_req_t *r, const char *empty, sy_jval_t *doc);

/* Handlers (one per route). */
void sy_api_openai_chat(sy_req_t *r);
void sy_api_openai_completions(sy_req_t *r);
void sy_api_openai_embeddings(sy_req_t *r);
void sy_api_openai_models(sy_req_t *r);
void sy_api_openai_model(sy_req_t *r);

/* OpenAI (openai.c): the decoder used when the upstream is another kind,
 * and the encoder of canonical events as OpenAI chunks and objects. */
/* Whether the canonical form carries every field of the OpenAI body for op
 * (no field it does not know, n and best_of 1, no echo; body validated by
 * the caller): only then may an
 * OpenAI-compatible upstream's call be served through the cache or shared,
 * instead of the byte passthrough. */
int sy_api_openai_canon_covers(const char *body, size_t len, sy_op_t op);
sy_err_t sy_api_openai_decode(const char *body, size_t len, sy_op_t op, sy_arena_t *a, sy_creq_t *q,
                              unsigned *enc_flags, sy_error_t *err);
/* The same for a body already validated (sy_json_validate) by the caller:
 * one linear pass less on the request path. */
sy_err_t sy_api_openai_decode_valid(const char *body, size_t len, sy_op_t op, sy_arena_t *a, sy_creq_t *q,
                                    unsigned *enc_flags, sy_error_t *err);
extern const sy_ingress_t sy_ingress_openai;

/* Ollama (ollama.c). */
void sy_api_ollama_chat(sy_req_t *r);       /* POST /api/chat */
void sy_api_ollama_generate(sy_req_t *r);   /* POST /api/generate */
void sy_api_ollama_embed(sy_req_t *r);      /* POST /api/embed */
void sy_api_ollama_embeddings(sy_req_t *r); /* POST /api/embeddings (legacy) */
void sy_api_ollama_tags(sy_req_t *r);       /* GET /api/tags */
void sy_api_ollama_show(sy_req_t *r);       /* POST /api/show */
void sy_api_ollama_ps(sy_req_t *r);         /* GET /api/ps */
void sy_api_ollama_version(sy_req_t *r);    /* GET /api/version */
void sy_api_ollama_root(sy_req_t *r);       /* GET|HEAD / */
/* Decode an Ollama body of operation op (SY_OP_EMBED with SY_ENC_LEGACY_EMB
 * in *enc_flags for /api/embeddings) into q. */
sy_err_t sy_api_ollama_decode(const char *body, size_t len, sy_op_t op, sy_arena_t *a, sy_creq_t *q,
                              unsigned *enc_flags, sy_error_t *err);
extern const sy_ingress_t sy_ingress_ollama;

/* Anthropic (anthropic.c). */
void sy_api_anthropic_messages(sy_req_t *r);     /* POST /v1/messages */
void sy_api_anthropic_count_tokens(sy_req_t *r); /* POST /v1/messages/count_tokens */
sy_err_t sy_api_anthropic_decode(const char *body, size_t len, sy_arena_t *a, sy_creq_t *q, sy_error_t *err);
/* count_tokens' work, reachable without a server (tests): decode body,
 * check the model is served (disc may be NULL), estimate. The model's name
 * goes to model (cut to model_cap) for the log line. SY_OK with *tokens, or
 * the client's error (SY_ENOMODEL when nothing serves the model). */
sy_err_t sy__api_anthropic_count(const sy_config_t *cfg, const sy_disc_snap_t *disc, const char *body, size_t len,
                                 sy_arena_t *a, char *model, size_t model_cap, int64_t *tokens, sy_error_t *err);
extern const sy_ingress_t sy_ingress_anthropic;

/* admin.c: POST /admin/route/explain (no authentication yet) */
void sy_api_admin_route_explain(sy_req_t *r);
struct sy_rstate;
struct evbuffer;
/* The explain's work, reachable without a server (tests): body is the
 * endpoint's JSON; the answer goes to out. SY_OK, or the client's error
 * (400 bad body, 404 unknown model). */
sy_err_t sy__api_admin_explain(const sy_config_t *cfg, struct sy_rstate *rs, const sy_disc_snap_t *disc,
                               const char *body, size_t len, sy_arena_t *a, uint64_t now, uint64_t rnd,
                               struct evbuffer *out, sy_error_t *err);

void sy_api_health_live(sy_req_t *r);
void sy_api_health_ready(sy_req_t *r);
void sy_api_metrics(sy_req_t *r);

/* feedback.c: POST /v1/feedback, and the hook that counts an experiment's
 * request on its arm as it finishes (srv->exp_done) */
void sy_api_feedback(sy_req_t *r);
void sy_api_experiment_done(sy_req_t *r);

/* stats.c: GET /api/stats, and the cache's and dedup's families on /metrics */
void sy_api_stats(sy_req_t *r);
struct evbuffer;
void sy_api_stats_metrics(sy_server_t *srv, struct evbuffer *out);

#endif
