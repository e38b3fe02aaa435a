/*
 * ollama.c - Ollama ingress stub (being written).
 */
#include "api/api.h"
#include "pipeline/error.h"

#define STUB(fn) \
    void fn(sy_req_t *r) { sy_respond_errorf(r, SY_EUNSUPPORTED, NULL, "not yet"); }
STUB(sy_api_ollama_chat)
STUB(sy_api_ollama_generate)
STUB(sy_api_ollama_embed)
STUB(sy_api_ollama_embeddings)
STUB(sy_api_ollama_tags)
STUB(sy_api_ollama_show)
STUB(sy_api_ollama_ps)
STUB(sy_api_ollama_version)
STUB(sy_api_ollama_root)

sy_err_t sy_api_ollama_decode(const char *body, size_t len, sy_op_t op, sy_arena_t *a, sy_creq_t *q,
                              unsigned *enc_flags, sy_error_t *err)
{
    (void)body, (void)len, (void)op, (void)a, (void)q, (void)enc_flags;
    sy_error_set(err, SY_EUNSUPPORTED, NULL, "not yet");
    return SY_EUNSUPPORTED;
}
const sy_ingress_t sy_ingress_ollama = {SY_PROTO_OLLAMA, "application/x-ndjson", 0, NULL, NULL, NULL, NULL, NULL};
