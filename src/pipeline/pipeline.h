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

/* What an ingress adapter decoded from the client. */
typedef struct sy_call {
    const char *route;         /* "/v1/chat/completions" (static) */
    const char *upstream_path; /* the same operation at the provider: "/chat/completions" */
    const char *model;         /* the public model name (inside json) */
    int stream;                /* client asked for an event stream */
    const char *body;          /* the client's JSON text (contiguous, valid while r lives) */
    size_t body_len;
    sy_jval_t model_value;     /* the "model" value's bytes inside body */
} sy_call_t;

/* Run the call to its end; always finishes r (directly or later). */
void sy_pipeline_forward(sy_req_t *r, sy_call_t *call);

/* Read usage.prompt_tokens / completion_tokens of an OpenAI response or
 * chunk (validated JSON text) into r; fields absent or null are left alone. */
void sy_pipeline_take_usage(sy_req_t *r, const sy_jval_t *obj);

#endif
