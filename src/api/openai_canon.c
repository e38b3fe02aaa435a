/*
 * openai_canon.c - OpenAI ingress for translated calls: stub (being written).
 */
#include "api/api.h"

sy_err_t sy_api_openai_decode(const char *body, size_t len, sy_op_t op, sy_arena_t *a, sy_creq_t *q,
                              unsigned *enc_flags, sy_error_t *err)
{
    (void)body, (void)len, (void)op, (void)a, (void)q, (void)enc_flags;
    sy_error_set(err, SY_EUNSUPPORTED, NULL, "not yet");
    return SY_EUNSUPPORTED;
}
const sy_ingress_t sy_ingress_openai = {SY_PROTO_OPENAI, "text/event-stream", 1, NULL, NULL, NULL, NULL, NULL};
