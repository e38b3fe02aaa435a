/*
 * body.c - a client's JSON body as one object (see api.h), the same
 * checks and messages for every route and decoder.
 */
#include "api/api.h"

#include <event2/buffer.h>

#include "core/jsonscan.h"
#include "pipeline/error.h"

sy_err_t sy__api_json_object(const char *body, size_t len, sy_jval_t *doc, sy_error_t *err)
{
    size_t off;
    const char *msg;
    if (!body || len == 0)
        return sy_error_fail(err, SY_EBADJSON, NULL, "the request body is empty; expected a JSON object");
    if (sy_json_validate(body, len, &off, &msg) < 0)
        return sy_error_fail(err, SY_EBADJSON, NULL, "malformed JSON at byte %zu: %s", off, msg);
    *doc = sy_json_value(body, len);
    if (doc->type != SY_JOBJECT)
        return sy_error_fail(err, SY_EBADREQ, NULL, "the request body must be a JSON object");
    return SY_OK;
}

int sy__api_read_object(sy_req_t *r, const char *empty, sy_jval_t *doc)
{
    struct evbuffer *b = sy_req_body(r);
    size_t n = b ? evbuffer_get_length(b) : 0;
    const char *s = n ? (const char *)evbuffer_pullup(b, -1) : NULL;
    sy_error_t e;
    if (!n && empty)
        sy_error_set(&e, SY_EBADJSON, NULL, "%s", empty);
    else if (n && !s)
        sy_error_set(&e, SY_ENOMEM, NULL, NULL);
    else if (sy__api_json_object(s, n, doc, &e) == SY_OK)
        return 0;
    sy_respond_error(r, &e, -1);
    return -1;
}
