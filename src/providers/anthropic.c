/*
 * anthropic.c - egress adapter stub (being written).
 */
#include "providers/egress.h"

sy_err_t sy__anthropic_encode(const sy_creq_t *q, const char *model, int64_t default_max_tokens,
                              struct evbuffer *out, const char **path, sy_error_t *err)
{
    (void)q, (void)model, (void)out, (void)path, (void)default_max_tokens;
    sy_error_set(err, SY_EUNSUPPORTED, NULL, "not yet");
    return SY_EUNSUPPORTED;
}
int sy__anthropic_feed(sy_eparse_t *p, const char *data, size_t len) { (void)p, (void)data, (void)len; return -1; }
int sy__anthropic_end(sy_eparse_t *p) { (void)p; return -1; }
int sy__anthropic_whole(sy_eparse_t *p, const char *body, size_t len) { (void)p, (void)body, (void)len; return -1; }
