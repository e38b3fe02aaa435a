/*
 * error.h - the one place an error becomes a response.
 *
 * sy_err_t's table (core/err.h) gives the status and the OpenAI type and
 * code; this module renders them in the caller's protocol: OpenAI's
 * {"error":{"message","type","param","code"}}, Ollama's {"error":"..."} and
 * Anthropic's {"type":"error","error":{"type","message"}}. The request's
 * proto (set by the route table) chooses.
 */
#ifndef SY_PIPELINE_ERROR_H
#define SY_PIPELINE_ERROR_H

#include <stddef.h>

#include "core/err.h"
#include "http/request.h"

/* Render e as OpenAI's {"error":{"message","type","param","code"}} into
 * buf (always NUL-terminated). Returns the length. Never truncated JSON:
 * when the whole does not fit, the table's default message is used with a
 * null param, and when even that does not fit, nothing (0, empty string). */
size_t sy_error_openai_json(const sy_error_t *e, char *buf, size_t cap);

/* The same in the shape of protocol proto (sy_proto_t). */
size_t sy_error_json(int proto, const sy_error_t *e, char *buf, size_t cap);
/* Anthropic's error "type" for an HTTP status (400 invalid_request_error,
 * 401 authentication_error, 403 permission_error, 404 not_found_error, 413
 * request_too_large, 429 rate_limit_error, 503/529 overloaded_error, 504
 * timeout_error, other 5xx api_error). */
const char *sy_error_anthropic_type(int status);

/* Answer the request with e in the shape of r->proto and e's status (finishes r).
 * Sets Retry-After when retry_after_s >= 0. */
void sy_respond_error(sy_req_t *r, const sy_error_t *e, int retry_after_s);

/* The same from a code and a message (printf-style; NULL = the default). */
void sy_respond_errorf(sy_req_t *r, sy_err_t code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
