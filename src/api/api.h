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

void sy_api_dispatch(sy_req_t *r);

/* Handlers (one per route). */
void sy_api_openai_chat(sy_req_t *r);
void sy_api_openai_completions(sy_req_t *r);
void sy_api_openai_embeddings(sy_req_t *r);
void sy_api_openai_models(sy_req_t *r);
void sy_api_openai_model(sy_req_t *r);
void sy_api_health_live(sy_req_t *r);
void sy_api_health_ready(sy_req_t *r);
void sy_api_metrics(sy_req_t *r);

#endif
