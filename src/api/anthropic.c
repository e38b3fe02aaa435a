/*
 * anthropic.c - Anthropic ingress stub (being written).
 */
#include "api/api.h"
#include "pipeline/error.h"

void sy_api_anthropic_messages(sy_req_t *r) { sy_respond_errorf(r, SY_EUNSUPPORTED, NULL, "not yet"); }
void sy_api_anthropic_count_tokens(sy_req_t *r) { sy_respond_errorf(r, SY_EUNSUPPORTED, NULL, "not yet"); }
sy_err_t sy_api_anthropic_decode(const char *body, size_t len, sy_arena_t *a, sy_creq_t *q, sy_error_t *err)
{
    (void)body, (void)len, (void)a, (void)q;
    sy_error_set(err, SY_EUNSUPPORTED, NULL, "not yet");
    return SY_EUNSUPPORTED;
}
const sy_ingress_t sy_ingress_anthropic = {SY_PROTO_ANTHROPIC, "text/event-stream", 1, NULL, NULL, NULL, NULL, NULL};
