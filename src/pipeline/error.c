/*
 * error.c - errors as responses (see error.h).
 */
#include "pipeline/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/canon.h"

size_t sy_error_openai_json(const sy_error_t *e, char *buf, size_t cap)
{
    char msg[1100], param[160];
    sy_json_escape(msg, sizeof(msg), e->message, strlen(e->message));
    if (e->param[0]) {
        param[0] = '"';
        size_t n = sy_json_escape(param + 1, sizeof(param) - 2, e->param, strlen(e->param));
        param[n + 1] = '"';
        param[n + 2] = '\0';
    } else {
        memcpy(param, "null", 5);
    }
    int n = snprintf(buf, cap, "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":%s,\"code\":\"%s\"}}",
                     msg, sy_err_openai_type(e->code), param, sy_err_openai_code(e->code));
    if (n < 0)
        n = 0;
    if ((size_t)n >= cap) { /* keep it valid JSON: drop the message */
        n = snprintf(buf, cap, "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}",
                     sy_strerror(e->code), sy_err_openai_type(e->code), sy_err_openai_code(e->code));
        if (n < 0 || (size_t)n >= cap) {
            n = 0;
            if (cap)
                buf[0] = '\0';
        }
    }
    return (size_t)n;
}

const char *sy_error_anthropic_type(int status)
{
    switch (status) {
    case 400:
    case 405:
    case 422:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 504:
        return "timeout_error";
    case 529:
    case 503:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

size_t sy_error_json(int proto, const sy_error_t *e, char *buf, size_t cap)
{
    char msg[1100];
    int n;
    if (proto == SY_PROTO_OPENAI)
        return sy_error_openai_json(e, buf, cap);
    sy_json_escape(msg, sizeof(msg), e->message, strlen(e->message));
    for (int pass = 0; pass < 2; pass++) {
        if (proto == SY_PROTO_OLLAMA)
            n = snprintf(buf, cap, "{\"error\":\"%s\"}", msg);
        else
            n = snprintf(buf, cap, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"%s\"}}",
                         sy_error_anthropic_type(sy_error_status(e)), msg);
        if (n >= 0 && (size_t)n < cap)
            return (size_t)n;
        /* keep it valid JSON: the table's message instead */
        snprintf(msg, sizeof(msg), "%s", sy_strerror(e->code));
    }
    if (cap)
        buf[0] = '\0';
    return 0;
}

void sy_respond_error(sy_req_t *r, const sy_error_t *e, int retry_after_s)
{
    char body[1400];
    size_t n = sy_error_json(r->proto, e, body, sizeof(body));
    r->error_code = sy_err_openai_code(e->code);
    if (retry_after_s >= 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry_after_s);
        sy_req_set_header(r, "Retry-After", ra);
    }
    sy_req_reply(r, sy_error_status(e), "application/json", body, n);
}

void sy_respond_errorf(sy_req_t *r, sy_err_t code, const char *param, const char *fmt, ...)
{
    sy_error_t e;
    sy_error_set(&e, code, param, NULL);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e.message, sizeof(e.message), fmt, ap);
        va_end(ap);
    }
    sy_respond_error(r, &e, -1);
}
