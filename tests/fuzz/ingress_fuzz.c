/*
 * ingress_fuzz.c - libFuzzer driver for the ingress decoders (src/api/
 * openai_canon.c, ollama.c, anthropic.c) and, behind them, the egress
 * encoders (src/providers/{openai,ollama,anthropic}.c).
 *
 * A client's body is decoded into the canonical request, which is then
 * encoded for every kind of upstream. The first input byte picks the
 * decoder and operation; the rest is the body. On every input:
 *   - a decoder either succeeds or fails with an error code and a message;
 *   - every encoding of a decoded request that succeeds is one valid JSON
 *     object (what goes upstream is never broken JSON, whatever the client
 *     sent);
 *   - no crash, no read outside the input, no leak, no undefined behaviour.
 * Any violation calls abort(), which libFuzzer reports as a crash.
 */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/jsonscan.h"
#include "providers/egress.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "ingress_fuzz: invariant failed: %s (%s:%d)\n  ", #cond, __FILE__,    \
                    __LINE__);                                                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static sy_err_t decode(unsigned which, const char *s, size_t n, sy_arena_t *a, sy_creq_t *q, sy_error_t *err)
{
    unsigned flags = 0;
    switch (which % 8) {
    case 0:
        return sy_api_openai_decode(s, n, SY_OP_CHAT, a, q, &flags, err);
    case 1:
        return sy_api_openai_decode(s, n, SY_OP_GENERATE, a, q, &flags, err);
    case 2:
        return sy_api_openai_decode(s, n, SY_OP_EMBED, a, q, &flags, err);
    case 3:
        return sy_api_ollama_decode(s, n, SY_OP_CHAT, a, q, &flags, err);
    case 4:
        return sy_api_ollama_decode(s, n, SY_OP_GENERATE, a, q, &flags, err);
    case 5:
        return sy_api_ollama_decode(s, n, SY_OP_EMBED, a, q, &flags, err);
    case 6:
        flags = SY_ENC_LEGACY_EMB;
        return sy_api_ollama_decode(s, n, SY_OP_EMBED, a, q, &flags, err);
    default:
        return sy_api_anthropic_decode(s, n, a, q, err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    sy_arena_t a;
    sy_creq_t q;
    sy_error_t err;
    sy_arena_init(&a, 64u << 20);
    memset(&err, 0, sizeof err);
    sy_err_t rc = decode(data[0], body, n, &a, &q, &err);
    if (rc != SY_OK) {
        CHECK(rc < 0 && err.message[0], "a failed decode must say why (rc %d)", (int)rc);
        sy_arena_release(&a);
        return 0;
    }
    (void)sy_creq_estimate_tokens(&q);
    static const sy_provider_type_t kinds[] = {SY_PROVIDER_OPENAI, SY_PROVIDER_OLLAMA, SY_PROVIDER_ANTHROPIC};
    for (size_t k = 0; k < 3; k++) {
        struct evbuffer *b = evbuffer_new();
        const char *path = NULL;
        sy_error_t e2;
        if (sy_egress_encode(kinds[k], &q, "fuzz-model", 4096, b, &path, &e2) == SY_OK) {
            size_t len = evbuffer_get_length(b), off = 0;
            const char *s = (const char *)evbuffer_pullup(b, -1);
            const char *msg = "";
            CHECK(path && path[0] == '/', "kind %zu gave no path", k);
            CHECK(len && sy_json_validate(s, len, &off, &msg) == 0, "kind %zu wrote invalid JSON at %zu: %s\n%.*s",
                  k, off, msg, (int)(len > 2000 ? 2000 : len), s ? s : "");
            sy_jval_t v = sy_json_value(s, len);
            CHECK(v.type == SY_JOBJECT, "kind %zu did not write an object", k);
        }
        evbuffer_free(b);
    }
    sy_arena_release(&a);
    return 0;
}
