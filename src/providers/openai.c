/*
 * openai.c - egress adapter stub (being written).
 */
#include "providers/egress.h"

sy_err_t sy__openai_encode(const sy_creq_t *q, const char *model, struct evbuffer *out, const char **path,
                           sy_error_t *err)
{
    (void)q, (void)model, (void)out, (void)path;
    sy_error_set(err, SY_EUNSUPPORTED, NULL, "not yet");
    return SY_EUNSUPPORTED;
}
int sy__openai_feed(sy_eparse_t *p, const char *data, size_t len) { (void)p, (void)data, (void)len; return -1; }
int sy__openai_end(sy_eparse_t *p) { (void)p; return -1; }
int sy__openai_whole(sy_eparse_t *p, const char *body, size_t len) { (void)p, (void)body, (void)len; return -1; }
sy_err_t sy__openai_embed(const char *body, size_t len, size_t n_inputs, sy_arena_t *a, sy_embed_t *out,
                          sy_error_t *err)
{
    (void)body, (void)len, (void)n_inputs, (void)a, (void)out;
    sy_error_set(err, SY_EUNSUPPORTED, NULL, "not yet");
    return SY_EUNSUPPORTED;
}
