/*
 * err.h - the one error type of Switchyard.
 *
 * Every failure in the gateway is a sy_err_t. The table below is the single
 * place that says, for each error, its HTTP status, its OpenAI error "type"
 * and "code", and a default message. src/pipeline/error.c turns an error into
 * the caller's protocol; nothing else chooses a status. Errors are negative
 * (libuv style) so "rc < 0" reads as failure and SY_OK is 0.
 */
#ifndef SY_CORE_ERR_H
#define SY_CORE_ERR_H

/* XX(name, http_status, openai_type, openai_code, message) */
#define SY_ERR_MAP(XX)                                                                        \
    XX(ENOMEM, 500, "server_error", "out_of_memory", "out of memory")                         \
    XX(EINTERNAL, 500, "server_error", "internal_error", "internal error")                    \
    XX(EBADJSON, 400, "invalid_request_error", "invalid_json", "malformed JSON")              \
    XX(EBADFIELD, 400, "invalid_request_error", "invalid_type", "invalid field")              \
    XX(EMISSING, 400, "invalid_request_error", "missing_required_parameter",                  \
       "missing required field")                                                              \
    XX(EBADREQ, 400, "invalid_request_error", "invalid_request", "bad request")               \
    XX(ENOMODEL, 404, "invalid_request_error", "model_not_found", "model not found")          \
    XX(ENOROUTE, 404, "invalid_request_error", "unknown_url", "unknown route")                \
    XX(EMETHOD, 405, "invalid_request_error", "method_not_allowed", "method not allowed")     \
    XX(ETOOLARGE, 413, "invalid_request_error", "request_too_large", "request body too large") \
    XX(EREJECTED, 403, "invalid_request_error", "request_rejected",                           \
       "request rejected by a routing rule")                                                  \
    XX(EDRAINING, 503, "server_error", "shutting_down", "server is shutting down")            \
    XX(EUNAVAIL, 503, "server_error", "no_deployment_available",                              \
       "no deployment of the model can take the request now")                                 \
    XX(ENOKEY, 503, "server_error", "provider_key_missing",                                   \
       "the provider's API key is not configured")                                            \
    XX(EUNSUPPORTED, 501, "invalid_request_error", "unsupported",                             \
       "not supported by this provider")                                                      \
    XX(EUPCONNECT, 502, "upstream_error", "upstream_connect_failed",                          \
       "could not connect to the upstream")                                                   \
    XX(EUPTIMEOUT, 504, "upstream_error", "upstream_timeout", "upstream timed out")           \
    XX(EUPSTATUS, 502, "upstream_error", "upstream_error", "upstream returned an error")      \
    XX(EUPPROTO, 502, "upstream_error", "upstream_bad_response",                              \
       "upstream sent an invalid response")                                                   \
    XX(EUPCLOSED, 502, "upstream_error", "upstream_closed",                                   \
       "upstream closed the connection mid-response")                                         \
    XX(ECLIENTGONE, 499, "client_error", "client_closed", "client closed the connection")     \
    XX(ECONFIG, 500, "server_error", "config_error", "invalid configuration")                 \
    XX(EIO, 500, "server_error", "io_error", "I/O error")                                     \
    XX(ENOTFOUND, 404, "invalid_request_error", "not_found", "not found")

typedef enum sy_err {
    SY_OK = 0,
#define SY__ERR_ENUM(name, st, ty, code, msg) SY_##name,
    SY__ERR_FIRST = -1000,
    SY_ERR_MAP(SY__ERR_ENUM)
#undef SY__ERR_ENUM
        SY__ERR_LAST
} sy_err_t;

/* A default human message for err ("malformed JSON"). Never NULL. */
const char *sy_strerror(sy_err_t err);
/* The symbolic name ("EBADJSON"). Never NULL. */
const char *sy_err_name(sy_err_t err);
/* The HTTP status the error maps to (500 for unknown codes). */
int sy_err_status(sy_err_t err);
/* The OpenAI error "type" and "code" strings. Never NULL. */
const char *sy_err_openai_type(sy_err_t err);
const char *sy_err_openai_code(sy_err_t err);

/*
 * An error with its context, as it travels from where it happened to the one
 * place that renders it. status overrides the table's status when non-zero
 * (an upstream's own 4xx/5xx carried through). param names the offending field.
 */
typedef struct sy_error {
    sy_err_t code;
    int status;
    char param[64];
    char message[512];
} sy_error_t;

/* Fill e with code, a printf-style message (NULL for the table's) and a param (may be NULL). */
void sy_error_set(sy_error_t *e, sy_err_t code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same, returning code: "return sy_error_fail(err, SY_EBADREQ, ...);". */
sy_err_t sy_error_fail(sy_error_t *e, sy_err_t code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The status e maps to: e->status if set, else the table's. */
int sy_error_status(const sy_error_t *e);

#endif
