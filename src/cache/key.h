/*
 * key.h - the exact cache's key: SHA-256 of everything that changes the
 * answer, and nothing else.
 *
 * Every tier of the exact cache (memory, Redis, SQLite) and the in-flight
 * dedup table find an answer by this key, so two requests get the same key
 * exactly when one's answer may be served for the other. The key is computed
 * from the canonical request (sy_creq_t), after decoding, so an OpenAI,
 * Ollama and Anthropic client asking the same thing of the same public model
 * share one entry.
 *
 * What is hashed is one document, written in a fixed order as JSON with
 * every raw JSON part in canonical form (core/jcanon.h) and streamed into
 * SHA-256 through a small buffer - a request with megabytes of content is
 * never copied:
 *
 *   {"v":1,"ns":..,"model":..,"op":"chat","messages":[..],"tools":[..],
 *    "tool_choice":..,"tool_choice_name":..,"parallel_tool_calls":..,
 *    "temperature":..,"top_p":..,"top_k":..,"presence_penalty":..,
 *    "frequency_penalty":..,"max_tokens":..,"stop":[..],"seed":..,
 *    "format":..,"format_schema":..,"format_name":..,"num_ctx":..,
 *    "options":{..},"think":..,"suffix":..,"raw":..,"inputs":[..],
 *    "dimensions":..,"truncate":..}
 *
 * Left out on purpose: stream, include_usage, the client's protocol,
 * keep_alive, user (an end-user id for the provider's abuse monitoring; it
 * does not change the answer - isolation between parties is the tenant
 * namespace's job), and the spelling of raw JSON (member order, whitespace,
 * escapes, "0.7" vs "7e-1"). docs/cache.md says why for each.
 *
 * Any change to what is hashed must bump SY_CACHE_KEY_VERSION so old entries
 * in a shared tier (Redis, SQLite) are not read with a new meaning; a
 * known-answer test pins the current form.
 *
 * Everything here is pure (no state, no clock) and may be called from any
 * thread.
 */
#ifndef SY_CACHE_KEY_H
#define SY_CACHE_KEY_H

#include <stddef.h>

#include "core/canon.h"
#include "core/err.h"
#include "core/jcanon.h"

#define SY_CACHE_KEY_VERSION 1
#define SY_CACHE_KEY_LEN 32

/*
 * The key of request q under tenant namespace ns and public model
 * public_model into out.
 *
 *   q             a decoded request (read only; its strings and raw JSON
 *                 must stay valid during the call)
 *   ns            the tenant namespace, NUL-terminated; NULL is ""
 *   public_model  the public model name the request is served as (after
 *                 alias resolution, if any), NUL-terminated; NULL takes
 *                 q->model
 *   out           32 bytes
 *
 * Returns SY_OK, SY_ETOOLARGE (a raw JSON object with more than
 * SY_JCANON_MAX_MEMBERS members) or SY_ENOMEM (sorting such an object's
 * members). On error out is untouched and the request should bypass the
 * cache. Allocates only to sort objects of more than 8 members.
 */
sy_err_t sy_cache_key(const sy_creq_t *q, const char *ns, const char *public_model, unsigned char out[SY_CACHE_KEY_LEN]);

/*
 * The document sy_cache_key hashes, written to sink instead (for tests and
 * for debugging a miss). Same arguments and returns, plus SY_EINTERNAL when
 * the sink stops.
 */
sy_err_t sy_cache_key_write(const sy_creq_t *q, const char *ns, const char *public_model, sy_jcanon_sink sink,
                            void *ud);

/*
 * The semantic cache's partition key of q into out: SHA-256 of the same
 * document as sy_cache_key without what was said - no "messages", "suffix"
 * or "inputs" members - and opened by {"partition":N (N is
 * SY_CACHE_PARTITION_VERSION) instead of {"v":N:
 *
 *   {"partition":1,"ns":..,"model":..,"op":..,"tools":[..],"tool_choice":..,
 *    ...every other member of the exact document in its order...}
 *
 * So two requests share a partition exactly when they differ only in their
 * conversation (messages, a generate request's suffix, an embed request's
 * inputs): the same tenant, model, operation, tools, sampling, limits,
 * format and options. A partition key is never an exact key (the documents
 * differ from their first member on). Same arguments, returns and threads as
 * sy_cache_key; bump SY_CACHE_PARTITION_VERSION with any change to the
 * document (vectors persisted under old partitions are then not found).
 */
#define SY_CACHE_PARTITION_VERSION 1
sy_err_t sy_cache_partition_key(const sy_creq_t *q, const char *ns, const char *public_model,
                                unsigned char out[SY_CACHE_KEY_LEN]);

/* k as 64 lowercase hex digits and a NUL into out. */
void sy_cache_key_hex(const unsigned char k[SY_CACHE_KEY_LEN], char out[2 * SY_CACHE_KEY_LEN + 1]);

#endif
