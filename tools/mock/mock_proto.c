/*
 * mock_proto.c - what sy-mock reads from a request and the shapes it answers in.
 *
 * sy_mock_decode pulls from a parsed body only what a reply depends on (the
 * message texts through sy_mock_text_t, the model to echo, stream flags, the
 * first tool, embedding inputs). The builders below then write the replies of
 * the three protocols straight into an evbuffer with literal fragments and
 * one JSON string escaper: no object tree is built for a reply, which keeps a
 * non-streaming chat reply to about a microsecond. The shapes follow what the
 * official openai, ollama and @anthropic-ai/sdk clients parse: chat.completion
 * and chat.completion.chunk objects, Ollama's NDJSON with its final done
 * object and durations, and Anthropic's message and SSE event sequence.
 */
#include "mock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#define ADD(b, lit) evbuffer_add((b), (lit), sizeof(lit) - 1)

/* Model list, shared by /v1/models, /api/tags, /api/ps and /api/show. */
static const char *const models[] = {"mock-small", "mock-large"};
#define MODELS_N (sizeof models / sizeof models[0])
#define MODEL_CREATED 1700000000

/* ---- small writers ------------------------------------------------------ */

static void add_jstr(struct evbuffer *b, const char *s, size_t n)
{
    ADD(b, "\"");
    sy_mock_json_escape(b, s, n);
    ADD(b, "\"");
}

static void add_cstr(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, s, strlen(s));
}

/* Appends v in decimal: evbuffer_add_printf costs as much as the rest of a
 * small reply. */
static void add_i64(struct evbuffer *b, int64_t v)
{
    char buf[24];
    size_t i = sizeof buf;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[--i] = '-';
    evbuffer_add(b, buf + i, sizeof buf - i);
}

static void add_model(struct evbuffer *b, const sy_mock_gen_t *g)
{
    add_jstr(b, g->model, g->model_len);
}

/* Opens a streamed JSON object, with the mock_ts_ns field when asked for. */
static void obj_open(struct evbuffer *b, const sy_mock_gen_t *g)
{
    if (g->timestamps) {
        ADD(b, "{\"mock_ts_ns\":");
        add_i64(b, sy_mock_mono_ns());
        ADD(b, ",");
    } else {
        ADD(b, "{");
    }
}

/* Appends the escaped text of completion token i (0 is the echo). Tokens
 * must be asked for in order: each word token advances g->prng. */
static void add_token(struct evbuffer *b, sy_mock_gen_t *g, long i)
{
    if (i == 0) {
        ADD(b, "[");
        sy_mock_json_escape(b, g->echo, g->echo_len);
        ADD(b, "]");
        return;
    }
    size_t wl;
    const char *w = sy_mock_word(sy_mock_prng_next(&g->prng), &wl);
    ADD(b, " ");
    evbuffer_add(b, w, wl);
}

/* The escaped text of the whole completion; leaves g->prng as it found it. */
static void add_completion(struct evbuffer *b, sy_mock_gen_t *g)
{
    uint64_t saved = g->prng;
    g->prng = g->seed;
    for (long i = 0; i < g->tokens; i++)
        add_token(b, g, i);
    g->prng = saved;
}

static void add_tool_id(struct evbuffer *b, const sy_mock_gen_t *g)
{
    evbuffer_add_printf(b, "\"call_%08" PRIx32 "\"", (uint32_t)g->seed);
}

/* Ollama's created_at: RFC 3339 UTC with nanoseconds. */
static void add_created_at(struct evbuffer *b)
{
    int64_t ns = sy_mock_real_ns();
    time_t secs = (time_t)(ns / 1000000000);
    struct tm tm;
    char buf[40];
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    evbuffer_add(b, "\"", 1);
    evbuffer_add(b, buf, n);
    evbuffer_add_printf(b, ".%09ldZ\"", (long)(ns % 1000000000));
}


/* Ollama's closing counters; durations are measured and never 0. */
static void add_ollama_done(struct evbuffer *b, const sy_mock_gen_t *g)
{
    int64_t now = sy_mock_mono_ns();
    int64_t total = now - g->t_start_ns;
    if (total < 2)
        total = 2;
    int64_t prompt = g->t_first_ns ? g->t_first_ns - g->t_start_ns : total / 4;
    if (prompt < 1)
        prompt = 1;
    if (prompt >= total)
        prompt = total - 1;
    evbuffer_add_printf(b,
                        "\"done_reason\":\"stop\",\"done\":true,\"total_duration\":%" PRId64
                        ",\"load_duration\":1,\"prompt_eval_count\":%ld,"
                        "\"prompt_eval_duration\":%" PRId64 ",\"eval_count\":%ld,"
                        "\"eval_duration\":%" PRId64 "}",
                        total, g->prompt_tokens, prompt, g->tokens, total - prompt);
}

static void add_openai_usage(struct evbuffer *b, const sy_mock_gen_t *g)
{
    ADD(b, "\"usage\":{\"prompt_tokens\":");
    add_i64(b, g->prompt_tokens);
    ADD(b, ",\"completion_tokens\":");
    add_i64(b, g->tokens);
    ADD(b, ",\"total_tokens\":");
    add_i64(b, g->prompt_tokens + g->tokens);
    ADD(b, "}");
}

/* "id":"<prefix><id>","object":"<object>","created":<created>,"model":<model> */
static void add_openai_head(struct evbuffer *b, const sy_mock_gen_t *g, const char *prefix,
                            const char *object)
{
    ADD(b, "\"id\":\"");
    add_cstr(b, prefix);
    add_cstr(b, g->id);
    ADD(b, "\",\"object\":\"");
    add_cstr(b, object);
    ADD(b, "\",\"created\":");
    add_i64(b, g->created);
    ADD(b, ",\"model\":");
    add_model(b, g);
}

/* ---- decoding ----------------------------------------------------------- */

sy_mock_proto_t sy_mock_kind_proto(sy_mock_kind_t kind)
{
    switch (kind) {
    case SY_MOCK_K_OLL_CHAT:
    case SY_MOCK_K_OLL_GEN:
    case SY_MOCK_K_OLL_EMBED:
    case SY_MOCK_K_OLL_EMBEDDINGS:
    case SY_MOCK_K_OLL_TAGS:
    case SY_MOCK_K_OLL_SHOW:
    case SY_MOCK_K_OLL_PS:
    case SY_MOCK_K_OLL_VERSION:
    case SY_MOCK_K_OLL_ROOT:
        return SY_MOCK_P_OLLAMA;
    case SY_MOCK_K_ANT_MESSAGES:
        return SY_MOCK_P_ANTHROPIC;
    default:
        return SY_MOCK_P_OPENAI;
    }
}

int sy_mock_kind_streams(sy_mock_kind_t kind)
{
    return kind == SY_MOCK_K_OAI_CHAT || kind == SY_MOCK_K_OAI_COMPL ||
           kind == SY_MOCK_K_OLL_CHAT || kind == SY_MOCK_K_OLL_GEN ||
           kind == SY_MOCK_K_ANT_MESSAGES;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v))
        return v;
    return NULL;
}

static int is_str(json_object *v, const char *s)
{
    return v && json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), s) == 0;
}

static void add_string(sy_mock_text_t *t, json_object *v)
{
    sy_mock_text_add(t, json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/* Adds the text of a message content: a string, or an array of parts whose
 * "text" counts, with Anthropic tool_result blocks counting their content. */
static void add_content(sy_mock_text_t *t, json_object *c)
{
    if (c == NULL)
        return;
    if (json_object_is_type(c, json_type_string)) {
        add_string(t, c);
        return;
    }
    if (!json_object_is_type(c, json_type_array))
        return;
    size_t n = json_object_array_length(c);
    for (size_t i = 0; i < n; i++) {
        json_object *part = json_object_array_get_idx(c, i);
        json_object *text = get(part, "text");
        if (text && json_object_is_type(text, json_type_string))
            add_string(t, text);
        else if (is_str(get(part, "type"), "tool_result"))
            add_content(t, get(part, "content"));
    }
}

static void add_messages(sy_mock_text_t *t, json_object *msgs)
{
    if (msgs == NULL || !json_object_is_type(msgs, json_type_array))
        return;
    size_t n = json_object_array_length(msgs);
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        sy_mock_text_message(t, is_str(get(m, "role"), "user"));
        add_content(t, get(m, "content"));
    }
}

/* A prompt: a string or an array of strings (token arrays do not count). */
static void add_prompt(sy_mock_text_t *t, json_object *p)
{
    sy_mock_text_message(t, 1);
    if (p && json_object_is_type(p, json_type_array)) {
        size_t n = json_object_array_length(p);
        for (size_t i = 0; i < n; i++) {
            json_object *s = json_object_array_get_idx(p, i);
            if (s && json_object_is_type(s, json_type_string))
                add_string(t, s);
        }
    } else if (p && json_object_is_type(p, json_type_string)) {
        add_string(t, p);
    }
}

/* The name of the tool a reply calls, or NULL: the first tool, unless
 * tool_choice is "none" (OpenAI) or {"type":"none"} (Anthropic). */
static json_object *first_tool_name(json_object *body)
{
    json_object *tools = get(body, "tools");
    json_object *choice = get(body, "tool_choice");
    if (tools == NULL || !json_object_is_type(tools, json_type_array) ||
        json_object_array_length(tools) == 0)
        return NULL;
    if (is_str(choice, "none") || is_str(get(choice, "type"), "none"))
        return NULL;
    json_object *tool = json_object_array_get_idx(tools, 0);
    json_object *name = get(get(tool, "function"), "name");
    if (name == NULL)
        name = get(tool, "name");
    if (name == NULL || !json_object_is_type(name, json_type_string))
        return NULL;
    return name;
}

static int decode_embeddings(sy_mock_gen_t *g, json_object *body, char *err, size_t errlen)
{
    json_object *in = get(body, g->kind == SY_MOCK_K_OLL_EMBEDDINGS ? "prompt" : "input");
    if (in == NULL || !(json_object_is_type(in, json_type_string) ||
                        json_object_is_type(in, json_type_array))) {
        snprintf(err, errlen, "mock: \"%s\" must be a string or an array",
                 g->kind == SY_MOCK_K_OLL_EMBEDDINGS ? "prompt" : "input");
        return -1;
    }
    g->input = in;
    g->dims = 8;
    json_object *d = get(body, "dimensions");
    if (d != NULL && !json_object_is_type(d, json_type_null)) {
        long v = json_object_is_type(d, json_type_int) ? (long)json_object_get_int64(d) : 0;
        if (v < 1 || v > SY_MOCK_MAX_DIMS) {
            snprintf(err, errlen, "mock: \"dimensions\" must be an integer from 1 to %ld",
                     SY_MOCK_MAX_DIMS);
            return -1;
        }
        g->dims = v;
    }
    g->base64 = g->kind == SY_MOCK_K_OAI_EMBED && is_str(get(body, "encoding_format"), "base64");
    return 0;
}

int sy_mock_decode(sy_mock_gen_t *g, sy_mock_kind_t kind, json_object *body, char *err,
                   size_t errlen)
{
    sy_mock_text_t t;
    json_object *v;

    if (body == NULL || !json_object_is_type(body, json_type_object)) {
        snprintf(err, errlen, "mock: the request body must be a JSON object");
        return -1;
    }
    g->kind = kind;
    v = get(body, "model");
    if (v == NULL)
        v = get(body, "name"); /* Ollama's older /api/show */
    if (v && json_object_is_type(v, json_type_string)) {
        g->model = json_object_get_string(v);
        g->model_len = (size_t)json_object_get_string_len(v);
        if (g->model_len > SY_MOCK_NAME_MAX)
            g->model_len = sy_mock_utf8_prefix(g->model, g->model_len, SY_MOCK_NAME_MAX);
    } else {
        g->model = "";
        g->model_len = 0;
    }

    if (kind == SY_MOCK_K_OAI_EMBED || kind == SY_MOCK_K_OLL_EMBED || kind == SY_MOCK_K_OLL_EMBEDDINGS)
        return decode_embeddings(g, body, err, errlen);
    if (!sy_mock_kind_streams(kind))
        return 0;

    sy_mock_text_init(&t);
    switch (kind) {
    case SY_MOCK_K_ANT_MESSAGES:
        sy_mock_text_message(&t, 0);
        add_content(&t, get(body, "system"));
        add_messages(&t, get(body, "messages"));
        break;
    case SY_MOCK_K_OAI_CHAT:
    case SY_MOCK_K_OLL_CHAT:
        add_messages(&t, get(body, "messages"));
        break;
    case SY_MOCK_K_OLL_GEN:
        sy_mock_text_message(&t, 0);
        add_content(&t, get(body, "system"));
        add_prompt(&t, get(body, "prompt"));
        break;
    default: /* SY_MOCK_K_OAI_COMPL */
        add_prompt(&t, get(body, "prompt"));
        break;
    }
    g->seed = t.hash;
    g->prng = t.hash;
    g->prompt_tokens = t.words > 0 ? t.words : 1;
    g->echo_len = sy_mock_utf8_prefix(t.user, t.user_len, SY_MOCK_ECHO_MAX);
    memcpy(g->echo, t.user, g->echo_len);
    g->echo[g->echo_len] = 0;

    v = get(body, "stream");
    if (kind == SY_MOCK_K_OLL_CHAT || kind == SY_MOCK_K_OLL_GEN)
        g->stream = !(v && json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v));
    else
        g->stream = v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
    v = get(get(body, "stream_options"), "include_usage");
    g->include_usage = v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);

    g->tool = NULL;
    g->tool_len = 0;
    g->args_len = 0;
    if (kind == SY_MOCK_K_OAI_CHAT || kind == SY_MOCK_K_OLL_CHAT || kind == SY_MOCK_K_ANT_MESSAGES) {
        json_object *name = first_tool_name(body);
        if (name) {
            g->tool = json_object_get_string(name);
            g->tool_len = (size_t)json_object_get_string_len(name);
            if (g->tool_len > SY_MOCK_NAME_MAX)
                g->tool_len = sy_mock_utf8_prefix(g->tool, g->tool_len, SY_MOCK_NAME_MAX);
            char esc[6 * SY_MOCK_ECHO_MAX + 1];
            size_t el = sy_mock_json_escape_buf(esc, sizeof esc, g->echo, g->echo_len);
            int n = snprintf(g->args, sizeof g->args, "{\"echo\":\"%s\"}", el == (size_t)-1 ? "" : esc);
            g->args_len = n > 0 && (size_t)n < sizeof g->args ? (size_t)n : 0;
        }
    }
    return 0;
}

/* ---- non-stream replies -------------------------------------------------- */

static void reply_openai_chat(struct evbuffer *b, sy_mock_gen_t *g)
{
    ADD(b, "{");
    add_openai_head(b, g, "chatcmpl-", "chat.completion");
    ADD(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",");
    if (g->tool) {
        ADD(b, "\"content\":null,\"tool_calls\":[{\"id\":");
        add_tool_id(b, g);
        ADD(b, ",\"type\":\"function\",\"function\":{\"name\":");
        add_jstr(b, g->tool, g->tool_len);
        ADD(b, ",\"arguments\":");
        add_jstr(b, g->args, g->args_len);
        ADD(b, "}}],\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],");
    } else {
        ADD(b, "\"content\":\"");
        add_completion(b, g);
        ADD(b, "\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],");
    }
    add_openai_usage(b, g);
    ADD(b, "}");
}

static void reply_openai_completion(struct evbuffer *b, sy_mock_gen_t *g)
{
    ADD(b, "{");
    add_openai_head(b, g, "cmpl-", "text_completion");
    ADD(b, ",\"choices\":[{\"text\":\"");
    add_completion(b, g);
    ADD(b, "\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],");
    add_openai_usage(b, g);
    ADD(b, "}");
}

static void add_ollama_tool_calls(struct evbuffer *b, sy_mock_gen_t *g)
{
    ADD(b, "\"tool_calls\":[{\"id\":");
    add_tool_id(b, g);
    ADD(b, ",\"function\":{\"name\":");
    add_jstr(b, g->tool, g->tool_len);
    ADD(b, ",\"arguments\":");
    evbuffer_add(b, g->args, g->args_len);
    ADD(b, "}}]");
}

static void reply_ollama(struct evbuffer *b, sy_mock_gen_t *g)
{
    ADD(b, "{\"model\":");
    add_model(b, g);
    ADD(b, ",\"created_at\":");
    add_created_at(b);
    if (g->kind == SY_MOCK_K_OLL_GEN) {
        ADD(b, ",\"response\":\"");
        add_completion(b, g);
        ADD(b, "\",");
    } else if (g->tool) {
        ADD(b, ",\"message\":{\"role\":\"assistant\",\"content\":\"\",");
        add_ollama_tool_calls(b, g);
        ADD(b, "},");
    } else {
        ADD(b, ",\"message\":{\"role\":\"assistant\",\"content\":\"");
        add_completion(b, g);
        ADD(b, "\"},");
    }
    add_ollama_done(b, g);
}

static void reply_anthropic(struct evbuffer *b, sy_mock_gen_t *g)
{
    evbuffer_add_printf(b, "{\"id\":\"msg_%s\",\"type\":\"message\",\"role\":\"assistant\",\"model\":", g->id);
    add_model(b, g);
    if (g->tool) {
        ADD(b, ",\"content\":[{\"type\":\"tool_use\",\"id\":");
        add_tool_id(b, g);
        ADD(b, ",\"name\":");
        add_jstr(b, g->tool, g->tool_len);
        ADD(b, ",\"input\":");
        evbuffer_add(b, g->args, g->args_len);
        ADD(b, "}],\"stop_reason\":\"tool_use\"");
    } else {
        ADD(b, ",\"content\":[{\"type\":\"text\",\"text\":\"");
        add_completion(b, g);
        ADD(b, "\"}],\"stop_reason\":\"end_turn\"");
    }
    evbuffer_add_printf(b, ",\"stop_sequence\":null,\"usage\":{\"input_tokens\":%ld,\"output_tokens\":%ld}}",
                        g->prompt_tokens, g->tokens);
}

void sy_mock_reply(struct evbuffer *b, sy_mock_gen_t *g)
{
    switch (g->kind) {
    case SY_MOCK_K_OAI_CHAT: reply_openai_chat(b, g); break;
    case SY_MOCK_K_OAI_COMPL: reply_openai_completion(b, g); break;
    case SY_MOCK_K_ANT_MESSAGES: reply_anthropic(b, g); break;
    default: reply_ollama(b, g); break;
    }
}

/* Hash and word count of one embedding input: a string, or anything else
 * (a token array) by its JSON text. */
static uint64_t input_hash(json_object *x, long *words)
{
    if (json_object_is_type(x, json_type_string)) {
        const char *s = json_object_get_string(x);
        size_t n = (size_t)json_object_get_string_len(x);
        *words += sy_mock_count_words(s, n);
        return sy_mock_fnv1a(SY_MOCK_FNV_OFFSET, s, n);
    }
    size_t n = 0;
    const char *s = json_object_to_json_string_length(x, JSON_C_TO_STRING_PLAIN, &n);
    *words += json_object_is_type(x, json_type_array) ? (long)json_object_array_length(x) : 1;
    return sy_mock_fnv1a(SY_MOCK_FNV_OFFSET, s, n);
}

static void add_vector(struct evbuffer *b, uint64_t h, long dims, int base64)
{
    float stackv[256];
    float *v = dims <= 256 ? stackv : malloc(sizeof(float) * (size_t)dims);
    if (v == NULL) {
        ADD(b, "[]");
        return;
    }
    sy_mock_embedding(h, v, dims);
    if (base64) {
        /* float32 little-endian, as the OpenAI API sends it; x86 and arm64
         * are little-endian already. */
        ADD(b, "\"");
        sy_mock_base64(b, (const unsigned char *)v, sizeof(float) * (size_t)dims);
        ADD(b, "\"");
    } else {
        /* Each float32 printed as the exact double it widens to, so a client
         * reads the same numbers from the JSON and from the base64 form. */
        ADD(b, "[");
        for (long i = 0; i < dims; i++)
            evbuffer_add_printf(b, i ? ",%.17g" : "%.17g", (double)v[i]);
        ADD(b, "]");
    }
    if (v != stackv)
        free(v);
}

void sy_mock_reply_embeddings(struct evbuffer *b, sy_mock_gen_t *g)
{
    json_object *in = g->input;
    int many = json_object_is_type(in, json_type_array) &&
               !(json_object_array_length(in) > 0 &&
                 json_object_is_type(json_object_array_get_idx(in, 0), json_type_int));
    size_t n = many ? json_object_array_length(in) : 1;
    long words = 0;

    if (g->kind == SY_MOCK_K_OLL_EMBEDDINGS) {
        ADD(b, "{\"embedding\":");
        add_vector(b, input_hash(in, &words), g->dims, 0);
        ADD(b, "}");
        return;
    }
    if (g->kind == SY_MOCK_K_OAI_EMBED)
        ADD(b, "{\"object\":\"list\",\"data\":[");
    else
        ADD(b, "{\"model\":");
    if (g->kind == SY_MOCK_K_OLL_EMBED) {
        add_model(b, g);
        ADD(b, ",\"embeddings\":[");
    }
    for (size_t i = 0; i < n; i++) {
        json_object *x = many ? json_object_array_get_idx(in, i) : in;
        if (i)
            ADD(b, ",");
        if (g->kind == SY_MOCK_K_OAI_EMBED)
            evbuffer_add_printf(b, "{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i);
        add_vector(b, input_hash(x, &words), g->dims, g->base64);
        if (g->kind == SY_MOCK_K_OAI_EMBED)
            ADD(b, "}");
    }
    if (words < 1)
        words = 1;
    if (g->kind == SY_MOCK_K_OAI_EMBED) {
        ADD(b, "],\"model\":");
        add_model(b, g);
        evbuffer_add_printf(b, ",\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}}", words, words);
    } else {
        int64_t total = sy_mock_mono_ns() - g->t_start_ns;
        evbuffer_add_printf(b, "],\"total_duration\":%" PRId64 ",\"load_duration\":1,\"prompt_eval_count\":%ld}",
                            total > 1 ? total : 1, words);
    }
}

int sy_mock_model_known(const char *id)
{
    for (size_t i = 0; i < MODELS_N; i++)
        if (strcmp(id, models[i]) == 0)
            return 1;
    return 0;
}

static void add_openai_model(struct evbuffer *b, const char *id, size_t len)
{
    ADD(b, "{\"id\":");
    add_jstr(b, id, len);
    evbuffer_add_printf(b, ",\"object\":\"model\",\"created\":%d,\"owned_by\":\"sy-mock\"}", MODEL_CREATED);
}

static void add_ollama_details(struct evbuffer *b)
{
    ADD(b, "{\"parent_model\":\"\",\"format\":\"gguf\",\"family\":\"mock\",\"families\":[\"mock\"],"
           "\"parameter_size\":\"1M\",\"quantization_level\":\"Q8_0\"}");
}

static void add_ollama_model(struct evbuffer *b, const char *name, int running)
{
    uint64_t h = sy_mock_fnv1a(SY_MOCK_FNV_OFFSET, name, strlen(name));
    uint64_t st = h;
    ADD(b, "{\"name\":");
    add_cstr(b, "\"");
    add_cstr(b, name);
    ADD(b, "\",\"model\":\"");
    add_cstr(b, name);
    ADD(b, "\",");
    if (!running)
        ADD(b, "\"modified_at\":\"2024-01-01T00:00:00Z\",");
    ADD(b, "\"size\":1048576,\"digest\":\"");
    for (int i = 0; i < 4; i++)
        evbuffer_add_printf(b, "%016" PRIx64, sy_mock_prng_next(&st));
    ADD(b, "\",\"details\":");
    add_ollama_details(b);
    if (running)
        ADD(b, ",\"expires_at\":\"2099-01-01T00:00:00Z\",\"size_vram\":0");
    ADD(b, "}");
}

void sy_mock_reply_ps(struct evbuffer *b, const char (*names)[SY_MOCK_HEALTH_NAME_MAX + 1], size_t n)
{
    ADD(b, "{\"models\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ADD(b, ",");
        add_ollama_model(b, names[i], 1);
    }
    ADD(b, "]}");
}

void sy_mock_reply_models(struct evbuffer *b, sy_mock_kind_t kind, const char *id)
{
    switch (kind) {
    case SY_MOCK_K_OAI_MODELS:
        ADD(b, "{\"object\":\"list\",\"data\":[");
        for (size_t i = 0; i < MODELS_N; i++) {
            if (i)
                ADD(b, ",");
            add_openai_model(b, models[i], strlen(models[i]));
        }
        ADD(b, "]}");
        break;
    case SY_MOCK_K_OAI_MODEL:
        add_openai_model(b, id, strlen(id));
        break;
    case SY_MOCK_K_OLL_TAGS:
    case SY_MOCK_K_OLL_PS:
        ADD(b, "{\"models\":[");
        for (size_t i = 0; i < MODELS_N; i++) {
            if (i)
                ADD(b, ",");
            add_ollama_model(b, models[i], kind == SY_MOCK_K_OLL_PS);
        }
        ADD(b, "]}");
        break;
    case SY_MOCK_K_OLL_SHOW:
        ADD(b, "{\"modelfile\":\"# sy-mock\\nFROM ");
        sy_mock_json_escape(b, id, strlen(id));
        ADD(b, "\\n\",\"parameters\":\"\",\"template\":\"{{ .Prompt }}\",\"details\":");
        add_ollama_details(b);
        ADD(b, ",\"model_info\":{\"general.architecture\":\"mock\",\"general.parameter_count\":1048576,"
               "\"mock.context_length\":8192,\"mock.embedding_length\":8},"
               "\"capabilities\":[\"completion\",\"tools\",\"embedding\"],"
               "\"modified_at\":\"2024-01-01T00:00:00Z\"}");
        break;
    case SY_MOCK_K_OLL_VERSION:
        ADD(b, "{\"version\":\"0.6.8\"}");
        break;
    default: /* SY_MOCK_K_OLL_ROOT */
        ADD(b, "Ollama is running");
        break;
    }
}

/* The error "type" of each protocol for an HTTP status. */
static const char *openai_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static const char *anthropic_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

void sy_mock_error_body(struct evbuffer *b, sy_mock_proto_t proto, int status, const char *msg,
                        const char *code)
{
    switch (proto) {
    case SY_MOCK_P_OLLAMA:
        ADD(b, "{\"error\":");
        add_jstr(b, msg, strlen(msg));
        ADD(b, "}");
        break;
    case SY_MOCK_P_ANTHROPIC:
        evbuffer_add_printf(b, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                            anthropic_type(status));
        add_jstr(b, msg, strlen(msg));
        ADD(b, "}}");
        break;
    default:
        ADD(b, "{\"error\":{\"message\":");
        add_jstr(b, msg, strlen(msg));
        evbuffer_add_printf(b, ",\"type\":\"%s\",\"param\":null,\"code\":", openai_type(status));
        if (code)
            evbuffer_add_printf(b, "\"%s\"}}", code);
        else
            ADD(b, "null}}");
        break;
    }
}

/* ---- streams ------------------------------------------------------------ */

const char *sy_mock_stream_content_type(sy_mock_kind_t kind)
{
    return sy_mock_kind_proto(kind) == SY_MOCK_P_OLLAMA ? "application/x-ndjson" : "text/event-stream";
}

long sy_mock_stream_total(const sy_mock_gen_t *g)
{
    if (g->tool == NULL)
        return g->tokens;
    if (g->kind == SY_MOCK_K_OLL_CHAT)
        return 1; /* Ollama sends a tool call whole, in one object */
    long k = g->tokens < 1 ? 1 : g->tokens;
    if ((size_t)k > g->args_len)
        k = (long)g->args_len;
    return k > 0 ? k : 1;
}

/* Byte offset where piece i of total pieces of the arguments starts, moved
 * forward off UTF-8 continuation bytes so no piece splits a character. */
static size_t piece_start(const sy_mock_gen_t *g, long i, long total)
{
    size_t p = (size_t)((unsigned long long)g->args_len * (unsigned long long)i / (unsigned long long)total);
    while (p < g->args_len && ((unsigned char)g->args[p] & 0xC0) == 0x80)
        p++;
    return p;
}

static void add_piece(struct evbuffer *b, const sy_mock_gen_t *g, long i, long total)
{
    size_t s = piece_start(g, i, total), e = piece_start(g, i + 1, total);
    add_jstr(b, g->args + s, e - s);
}

static void openai_chunk_open(struct evbuffer *b, sy_mock_gen_t *g)
{
    ADD(b, "data: ");
    obj_open(b, g);
    if (g->kind == SY_MOCK_K_OAI_COMPL)
        add_openai_head(b, g, "cmpl-", "text_completion");
    else
        add_openai_head(b, g, "chatcmpl-", "chat.completion.chunk");
}

static void anthropic_event(struct evbuffer *b, sy_mock_gen_t *g, const char *name)
{
    evbuffer_add_printf(b, "event: %s\ndata: ", name);
    obj_open(b, g);
    evbuffer_add_printf(b, "\"type\":\"%s\"", name);
}

static void ollama_open(struct evbuffer *b, sy_mock_gen_t *g)
{
    obj_open(b, g);
    ADD(b, "\"model\":");
    add_model(b, g);
    ADD(b, ",\"created_at\":");
    add_created_at(b);
}

void sy_mock_stream_head(struct evbuffer *b, sy_mock_gen_t *g)
{
    switch (g->kind) {
    case SY_MOCK_K_OAI_CHAT:
        openai_chunk_open(b, g);
        if (g->tool) {
            ADD(b, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,"
                   "\"tool_calls\":[{\"index\":0,\"id\":");
            add_tool_id(b, g);
            ADD(b, ",\"type\":\"function\",\"function\":{\"name\":");
            add_jstr(b, g->tool, g->tool_len);
            ADD(b, ",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        } else {
            ADD(b, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        }
        break;
    case SY_MOCK_K_ANT_MESSAGES:
        anthropic_event(b, g, "message_start");
        evbuffer_add_printf(b, ",\"message\":{\"id\":\"msg_%s\",\"type\":\"message\",\"role\":\"assistant\",\"model\":",
                            g->id);
        add_model(b, g);
        evbuffer_add_printf(b, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                               "\"usage\":{\"input_tokens\":%ld,\"output_tokens\":0}}}\n\n",
                            g->prompt_tokens);
        anthropic_event(b, g, "content_block_start");
        if (g->tool) {
            ADD(b, ",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":");
            add_tool_id(b, g);
            ADD(b, ",\"name\":");
            add_jstr(b, g->tool, g->tool_len);
            ADD(b, ",\"input\":{}}}\n\n");
        } else {
            ADD(b, ",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        }
        anthropic_event(b, g, "ping");
        ADD(b, "}\n\n");
        break;
    default: /* completions and Ollama have no preamble */
        break;
    }
}

void sy_mock_stream_token(struct evbuffer *b, sy_mock_gen_t *g, long i, long total)
{
    switch (g->kind) {
    case SY_MOCK_K_OAI_CHAT:
        openai_chunk_open(b, g);
        if (g->tool) {
            ADD(b, ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":");
            add_piece(b, g, i, total);
            ADD(b, "}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        } else {
            ADD(b, ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
            add_token(b, g, i);
            ADD(b, "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        }
        break;
    case SY_MOCK_K_OAI_COMPL:
        openai_chunk_open(b, g);
        ADD(b, ",\"choices\":[{\"text\":\"");
        add_token(b, g, i);
        ADD(b, "\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        break;
    case SY_MOCK_K_ANT_MESSAGES:
        anthropic_event(b, g, "content_block_delta");
        if (g->tool) {
            ADD(b, ",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":");
            add_piece(b, g, i, total);
            ADD(b, "}}\n\n");
        } else {
            ADD(b, ",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"");
            add_token(b, g, i);
            ADD(b, "\"}}\n\n");
        }
        break;
    case SY_MOCK_K_OLL_GEN:
        ollama_open(b, g);
        ADD(b, ",\"response\":\"");
        add_token(b, g, i);
        ADD(b, "\",\"done\":false}\n");
        break;
    default: /* SY_MOCK_K_OLL_CHAT */
        ollama_open(b, g);
        if (g->tool) {
            ADD(b, ",\"message\":{\"role\":\"assistant\",\"content\":\"\",");
            add_ollama_tool_calls(b, g);
            ADD(b, "},\"done\":false}\n");
        } else {
            ADD(b, ",\"message\":{\"role\":\"assistant\",\"content\":\"");
            add_token(b, g, i);
            ADD(b, "\"},\"done\":false}\n");
        }
        break;
    }
}

void sy_mock_stream_tail(struct evbuffer *b, sy_mock_gen_t *g)
{
    switch (g->kind) {
    case SY_MOCK_K_OAI_CHAT:
    case SY_MOCK_K_OAI_COMPL:
        openai_chunk_open(b, g);
        if (g->kind == SY_MOCK_K_OAI_COMPL)
            ADD(b, ",\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n");
        else if (g->tool)
            ADD(b, ",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n");
        else
            ADD(b, ",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n");
        if (g->include_usage) {
            openai_chunk_open(b, g);
            ADD(b, ",\"choices\":[],");
            add_openai_usage(b, g);
            ADD(b, "}\n\n");
        }
        ADD(b, "data: [DONE]\n\n");
        break;
    case SY_MOCK_K_ANT_MESSAGES:
        anthropic_event(b, g, "content_block_stop");
        ADD(b, ",\"index\":0}\n\n");
        anthropic_event(b, g, "message_delta");
        evbuffer_add_printf(b, ",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null},"
                               "\"usage\":{\"output_tokens\":%ld}}\n\n",
                            g->tool ? "tool_use" : "end_turn", g->tokens);
        anthropic_event(b, g, "message_stop");
        ADD(b, "}\n\n");
        break;
    case SY_MOCK_K_OLL_GEN:
        ollama_open(b, g);
        ADD(b, ",\"response\":\"\",");
        add_ollama_done(b, g);
        ADD(b, "\n");
        break;
    default: /* SY_MOCK_K_OLL_CHAT */
        ollama_open(b, g);
        ADD(b, ",\"message\":{\"role\":\"assistant\",\"content\":\"\"},");
        add_ollama_done(b, g);
        ADD(b, "\n");
        break;
    }
}

void sy_mock_bad_json(struct evbuffer *b, sy_mock_kind_t kind, int stream)
{
    if (!stream)
        ADD(b, "{\"id\": this is not JSON");
    else if (sy_mock_kind_proto(kind) == SY_MOCK_P_OLLAMA)
        ADD(b, "{\"model\": this is not JSON\n");
    else if (kind == SY_MOCK_K_ANT_MESSAGES)
        ADD(b, "event: message_start\ndata: {\"type\": this is not JSON\n\n");
    else
        ADD(b, "data: {\"id\": this is not JSON\n\n");
}
