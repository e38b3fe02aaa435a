/*
 * openai_canon_test.c - unit tests for src/api/openai_canon.c: OpenAI
 * bodies decoded into the canonical request (every field, for chat,
 * completions and embeddings, and a golden table of refusals naming their
 * field), and canonical events encoded back as the exact SSE text, whole
 * objects and embeddings a client of the OpenAI API reads. Every JSON
 * payload written is checked with sy_json_validate.
 */
#include "api/api.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"
#include "pipeline/error.h"

static sy_arena_t A;

static void setup(void)
{
    sy_arena_init(&A, 1u << 20);
}

static void teardown(void)
{
    sy_arena_release(&A);
}

TestSuite(openai_decode, .init = setup, .fini = teardown);
TestSuite(openai_encode, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------ */

static int seq(sy_str_t s, const char *lit)
{
    return s.p && s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static int jeq(sy_jval_t v, const char *lit)
{
    return v.p && v.len == strlen(lit) && memcmp(v.p, lit, v.len) == 0;
}

#define ASSERT_STR(s, lit) cr_assert(seq((s), (lit)), "got '%.*s', want '%s'", (int)(s).len, (s).p ? (s).p : "", lit)
#define ASSERT_RAW(v, lit) cr_assert(jeq((v), (lit)), "got '%.*s', want '%s'", (int)(v).len, (v).p ? (v).p : "", lit)

static sy_err_t decode(const char *body, sy_op_t op, sy_creq_t *q, unsigned *flags, sy_error_t *err)
{
    *flags = 0;
    memset(err, 0, sizeof(*err));
    return sy_api_openai_decode(body, strlen(body), op, &A, q, flags, err);
}

static void decode_ok(const char *body, sy_op_t op, sy_creq_t *q, unsigned *flags)
{
    sy_error_t err;
    sy_err_t rc = decode(body, op, q, flags, &err);
    cr_assert_eq(rc, SY_OK, "decode failed: %s (param %s)", err.message, err.param);
}

static void assert_json(const char *s, size_t n)
{
    size_t off;
    const char *msg;
    cr_assert_eq(sy_json_validate(s, n, &off, &msg), 0, "invalid JSON at %zu (%s): %.*s", off, msg, (int)n, s);
}

/* The encoder's output as a NUL-terminated string (malloc'd), the buffer
 * drained. */
static char *take(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

/* Every event of an SSE text is "data: <JSON>\n\n" or "data: [DONE]\n\n". */
static void assert_sse(const char *s)
{
    while (*s) {
        cr_assert(strncmp(s, "data: ", 6) == 0, "not a data line: %s", s);
        s += 6;
        const char *end = strstr(s, "\n\n");
        cr_assert_not_null(end, "event without its blank line");
        if (!(end - s == 6 && memcmp(s, "[DONE]", 6) == 0))
            assert_json(s, (size_t)(end - s));
        s = end + 2;
    }
}

static void assert_text(struct evbuffer *b, const char *want)
{
    char *got = take(b);
    assert_sse(got);
    cr_assert_str_eq(got, want);
    free(got);
}

static sy_enc_t enc_for(const sy_creq_t *q)
{
    sy_enc_t e;
    memset(&e, 0, sizeof(e));
    e.q = q;
    e.model = "gpt-x";
    e.id = "req_1";
    e.created = 1700000000;
    e.open_block = -1;
    sy_usage_init(&e.usage);
    return e;
}

static sy_ev_t ev_kind(sy_ev_kind_t k)
{
    sy_ev_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = k;
    sy_usage_init(&ev.usage);
    return ev;
}

static sy_ev_t ev_text(sy_ev_kind_t k, const char *t)
{
    sy_ev_t ev = ev_kind(k);
    ev.text = (sy_str_t){t, strlen(t)};
    return ev;
}

static sy_ev_t ev_call(int index, const char *id, const char *name, const char *args)
{
    sy_ev_t ev = ev_kind(SY_EV_TOOL_CALL);
    ev.index = index;
    ev.id = (sy_str_t){id, strlen(id)};
    ev.name = (sy_str_t){name, strlen(name)};
    ev.args = (sy_str_t){args, strlen(args)};
    return ev;
}

static sy_ev_t ev_finish(sy_finish_t f)
{
    sy_ev_t ev = ev_kind(SY_EV_FINISH);
    ev.finish = f;
    return ev;
}

static sy_ev_t ev_usage(int64_t in, int64_t out, int64_t cached)
{
    sy_ev_t ev = ev_kind(SY_EV_USAGE);
    ev.usage.input_tokens = in;
    ev.usage.output_tokens = out;
    ev.usage.cache_read_tokens = cached;
    return ev;
}

/* ---- decoding: chat ------------------------------------------------------ */

Test(openai_decode, chat_every_top_level_field)
{
    sy_creq_t q;
    unsigned flags;
    decode_ok("{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
              "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
              "\"temperature\":0.5,\"top_p\":1,\"presence_penalty\":-0.25,\"frequency_penalty\":1e-2,"
              "\"max_tokens\":100,\"stop\":[\"END\",\"\\n\\n\"],\"seed\":-42,\"user\":\"u-7\","
              "\"parallel_tool_calls\":false,\"n\":1,\"logprobs\":false,\"unknown\":{\"x\":[1]}}",
              SY_OP_CHAT, &q, &flags);
    cr_assert_eq(q.op, SY_OP_CHAT);
    cr_assert_eq(q.proto, SY_PROTO_OPENAI);
    ASSERT_STR(q.model, "m1");
    cr_assert_eq(q.stream, 1);
    cr_assert_eq(q.include_usage, 1);
    ASSERT_RAW(q.temperature, "0.5");
    ASSERT_RAW(q.top_p, "1");
    ASSERT_RAW(q.presence_penalty, "-0.25");
    ASSERT_RAW(q.frequency_penalty, "1e-2");
    cr_assert_null(q.top_k.p);
    cr_assert_eq(q.max_tokens, 100);
    cr_assert_eq(q.n_stop, 2);
    ASSERT_STR(q.stop[0], "END");
    ASSERT_STR(q.stop[1], "\n\n");
    cr_assert_eq(q.has_seed, 1);
    cr_assert_eq(q.seed, -42);
    ASSERT_STR(q.user, "u-7");
    cr_assert_eq(q.parallel_tool_calls, 0);
    cr_assert_eq(q.format, SY_FORMAT_TEXT);
    cr_assert_eq(q.tool_choice, SY_TOOLS_DEFAULT);
    cr_assert_eq(q.n_msgs, 1);
    cr_assert_eq(q.msgs[0].role, SY_ROLE_USER);
    cr_assert_eq(q.msgs[0].n_parts, 1);
    ASSERT_STR(q.msgs[0].parts[0].text, "hi");
    cr_assert_eq(flags, 0);
}

Test(openai_decode, chat_defaults_when_unsaid)
{
    sy_creq_t q;
    unsigned flags;
    decode_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":null,"
              "\"temperature\":null,\"stop\":null,\"seed\":null,\"tools\":null,\"tool_choice\":null,"
              "\"response_format\":null,\"max_tokens\":null}",
              SY_OP_CHAT, &q, &flags);
    cr_assert_eq(q.stream, 0);
    cr_assert_eq(q.include_usage, 0);
    cr_assert_null(q.temperature.p);
    cr_assert_eq(q.n_stop, 0);
    cr_assert_eq(q.has_seed, 0);
    cr_assert_eq(q.max_tokens, -1);
    cr_assert_eq(q.parallel_tool_calls, -1);
    cr_assert_eq(q.n_tools, 0);
    cr_assert_eq(q.tool_choice, SY_TOOLS_DEFAULT);
}

Test(openai_decode, max_completion_tokens_wins_and_stop_string)
{
    sy_creq_t q;
    unsigned flags;
    decode_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
              "\"max_tokens\":10,\"max_completion_tokens\":20,\"stop\":\"STOP\"}",
              SY_OP_CHAT, &q, &flags);
    cr_assert_eq(q.max_tokens, 20);
    cr_assert_eq(q.n_stop, 1);
    ASSERT_STR(q.stop[0], "STOP");
    decode_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":7}",
              SY_OP_CHAT, &q, &flags);
    cr_assert_eq(q.max_tokens, 7);
}

Test(openai_decode, roles_and_string_content)
{
    sy_creq_t q;
    unsigned flags;
    decode_ok("{\"model\":\"m\",\"messages\":["
              "{\"role\":\"system\",\"content\":\"be brief\"},"
              "{\"role\":\"developer\",\"content\":\"and kind\"},"
              "{\"role\":\"user\",\"content\":\"caf\\u00e9 \\\"q\\\"\",\"name\":\"alice\"},"
              "{\"role\":\"assistant\",\"content\":\"\"},"
              "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"thought\"},"
              "{\"role\":\"assistant\"}]}",
              SY_OP_CHAT, &q, &flags);
    cr_assert_eq(q.n_msgs, 6);
    cr_assert_eq(q.msgs[0].role, SY_ROLE_SYSTEM);
    cr_assert_eq(q.msgs[1].role, SY_ROLE_SYSTEM, "developer is system");
    ASSERT_STR(q.msgs[1].parts[0].text, "and kind");
    cr_assert_eq(q.msgs[2].role, SY_ROLE_USER);
    ASSERT_STR(q.msgs[2].parts[0].text, "caf\xc3\xa9 \"q\"");
    cr_assert_eq(q.msgs[3].role, SY_ROLE_ASSISTANT);
    cr_assert_eq(q.msgs[3].n_parts, 0, "an empty string is no part");
    cr_assert_eq(q.msgs[4].n_parts, 0);
    ASSERT_STR(q.msgs[4].thinking, "thought");
    cr_assert_eq(q.msgs[5].n_parts, 0);
}

Test(openai_decode, content_parts_text_and_images)
{
    sy_creq_t q;
    unsigned flags;
    decode_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
              "{\"type\":\"text\",\"text\":\"what is this?\"},"
              "{\"type\":\"text\",\"text\":\"\"},"
              "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/4AAQ\",\"detail\":\"low\"}},"
              "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.png\"}},"
              "{\"type\":\"text\",\"text\":\"and this?\"}]}]}",
              SY_OP_CHAT, &q, &flags);
    const sy_msg_t *m = &q.msgs[0];
    cr_assert_eq(m->n_parts, 4, "the empty text part is left out");
    cr_assert_eq(m->parts[0].kind, SY_PART_TEXT);
    ASSERT_STR(m->parts[0].text, "what is this?");
    cr_assert_eq(m->parts[1].kind, SY_PART_IMAGE);
    ASSERT_STR(m->parts[1].media_type, "image/jpeg");
    ASSERT_STR(m->parts[1].data, "/9j/4AAQ");
    cr_assert_eq(m->parts[1].url.len, 0);
    cr_assert_eq(m->parts[2].kind, SY_PART_IMAGE);
    ASSERT_STR(m->parts[2].url, "https://example.com/cat.png");
    cr_assert_eq(m->parts[2].data.len, 0);
    ASSERT_STR(m->parts[3].text, "and this?");
}

Test(openai_decode, assistant_tool_calls_and_tool_results)
{
    sy_creq_t q;
    unsigned flags;
    decode_ok("{\"model\":\"m\",\"messages\":["
              "{\"role\":\"user\",\"content\":\"weather?\"},"
              "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
              "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
              "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
              "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"now\",\"arguments\":\"\"}}]},"
              "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"18C\"},"
              "{\"role\":\"tool\",\"tool_call_id\":\"call_b\",\"content\":[{\"type\":\"text\",\"text\":\"noon\"}]},"
              "{\"role\":\"tool\",\"tool_call_id\":\"call_zzz\",\"name\":\"legacy\",\"content\":\"x\"}]}",
              SY_OP_CHAT, &q, &flags);
    cr_assert_eq(q.n_msgs, 5);
    const sy_msg_t *a = &q.msgs[1];
    cr_assert_eq(a->role, SY_ROLE_ASSISTANT);
    cr_assert_eq(a->n_parts, 0);
    cr_assert_eq(a->n_calls, 2);
    ASSERT_STR(a->calls[0].id, "call_a");
    ASSERT_STR(a->calls[0].name, "get_weather");
    ASSERT_STR(a->calls[0].args, "{\"city\":\"Paris\"}");
    ASSERT_STR(a->calls[1].args, "{}"); /* empty arguments mean {} */
    const sy_msg_t *t = &q.msgs[2];
    cr_assert_eq(t->role, SY_ROLE_TOOL);
    ASSERT_STR(t->tool_call_id, "call_a");
    ASSERT_STR(t->tool_name, "get_weather");
    ASSERT_STR(t->parts[0].text, "18C");
    ASSERT_STR(q.msgs[3].tool_name, "now");
    ASSERT_STR(q.msgs[3].parts[0].text, "noon");
    /* a call not found keeps the message's own name */
    ASSERT_STR(q.msgs[4].tool_name, "legacy");
}

Test(openai_decode, tools_and_tool_choice)
{
    sy_creq_t q;
    unsigned flags;
    decode_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":["
              "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather now\","
              "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}},\"strict\":true}},"
              "{\"type\":\"function\",\"function\":{\"name\":\"noargs\"}}],"
              "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
              "\"parallel_tool_calls\":true}",
              SY_OP_CHAT, &q, &flags);
    cr_assert_eq(q.n_tools, 2);
    ASSERT_STR(q.tools[0].name, "get_weather");
    ASSERT_STR(q.tools[0].description, "Weather now");
    ASSERT_RAW(q.tools[0].parameters, "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}");
    ASSERT_STR(q.tools[1].name, "noargs");
    cr_assert_eq(q.tools[1].description.len, 0);
    cr_assert_null(q.tools[1].parameters.p);
    cr_assert_eq(q.tool_choice, SY_TOOLS_NAMED);
    ASSERT_STR(q.tool_choice_name, "get_weather");
    cr_assert_eq(q.parallel_tool_calls, 1);

    static const struct {
        const char *choice;
        sy_tool_choice_t want;
    } rows[] = {
        {"\"auto\"", SY_TOOLS_AUTO},
        {"\"none\"", SY_TOOLS_NONE},
        {"\"required\"", SY_TOOLS_REQUIRED},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":%s}",
                 rows[i].choice);
        decode_ok(body, SY_OP_CHAT, &q, &flags);
        cr_assert_eq(q.tool_choice, rows[i].want, "%s", rows[i].choice);
    }
}

Test(openai_decode, response_formats)
{
    static const struct {
        const char *rf;
        sy_format_t format;
        const char *name, *schema;
    } rows[] = {
        {"{\"type\":\"text\"}", SY_FORMAT_TEXT, "", NULL},
        {"{\"type\":\"json_object\"}", SY_FORMAT_JSON, "", NULL},
        {"{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"person\",\"strict\":true,"
         "\"schema\":{\"type\":\"object\",\"required\":[\"age\"]}}}",
         SY_FORMAT_SCHEMA, "person", "{\"type\":\"object\",\"required\":[\"age\"]}"},
        {"{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"any\"}}", SY_FORMAT_JSON, "any", NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sy_creq_t q;
        unsigned flags;
        char body[512];
        snprintf(body, sizeof body,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":%s}",
                 rows[i].rf);
        decode_ok(body, SY_OP_CHAT, &q, &flags);
        cr_assert_eq(q.format, rows[i].format, "row %zu", i);
        cr_assert(seq(q.format_name, rows[i].name) || (!rows[i].name[0] && !q.format_name.len), "row %zu", i);
        if (rows[i].schema)
            ASSERT_RAW(q.format_schema, rows[i].schema);
        else
            cr_assert_null(q.format_schema.p, "row %zu", i);
    }
}

/* ---- decoding: completions and embeddings --------------------------------- */

Test(openai_decode, completions_prompt_and_suffix)
{
    sy_creq_t q;
    unsigned flags;
    decode_ok("{\"model\":\"m\",\"prompt\":\"def f():\",\"suffix\":\"return 1\",\"max_tokens\":16,"
              "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"echo\":false,\"n\":1,"
              "\"temperature\":0,\"stop\":\"\\n\",\"logprobs\":null}",
              SY_OP_GENERATE, &q, &flags);
    cr_assert_eq(q.op, SY_OP_GENERATE);
    cr_assert_eq(q.n_msgs, 1);
    cr_assert_eq(q.msgs[0].role, SY_ROLE_USER);
    cr_assert_eq(q.msgs[0].n_parts, 1);
    ASSERT_STR(q.msgs[0].parts[0].text, "def f():");
    ASSERT_STR(q.suffix, "return 1");
    cr_assert_eq(q.max_tokens, 16);
    cr_assert_eq(q.stream, 1);
    cr_assert_eq(q.include_usage, 1);
    ASSERT_RAW(q.temperature, "0");
    ASSERT_STR(q.stop[0], "\n");

    decode_ok("{\"model\":\"m\",\"prompt\":[\"only one\"]}", SY_OP_GENERATE, &q, &flags);
    ASSERT_STR(q.msgs[0].parts[0].text, "only one");
    cr_assert_eq(q.suffix.len, 0);

    decode_ok("{\"model\":\"m\",\"prompt\":\"\"}", SY_OP_GENERATE, &q, &flags);
    cr_assert_eq(q.msgs[0].n_parts, 1, "an empty prompt is still the prompt");
    cr_assert_eq(q.msgs[0].parts[0].text.len, 0);
}

Test(openai_decode, embeddings_inputs_and_formats)
{
    sy_creq_t q;
    unsigned flags;
    decode_ok("{\"model\":\"e\",\"input\":\"hello\"}", SY_OP_EMBED, &q, &flags);
    cr_assert_eq(q.op, SY_OP_EMBED);
    cr_assert_eq(q.n_inputs, 1);
    ASSERT_STR(q.inputs[0], "hello");
    cr_assert_eq(q.dimensions, -1);
    cr_assert_eq(flags, 0);

    decode_ok("{\"model\":\"e\",\"input\":[\"a\",\"b\\u0000c\",\"\"],\"dimensions\":256,"
              "\"encoding_format\":\"base64\",\"user\":\"u\"}",
              SY_OP_EMBED, &q, &flags);
    cr_assert_eq(q.n_inputs, 3);
    ASSERT_STR(q.inputs[0], "a");
    cr_assert(q.inputs[1].len == 3 && memcmp(q.inputs[1].p, "b\0c", 3) == 0, "NUL kept");
    cr_assert_eq(q.inputs[2].len, 0);
    cr_assert_eq(q.dimensions, 256);
    cr_assert_eq(flags, SY_ENC_BASE64);
    ASSERT_STR(q.user, "u");

    decode_ok("{\"model\":\"e\",\"input\":\"x\",\"encoding_format\":\"float\"}", SY_OP_EMBED, &q, &flags);
    cr_assert_eq(flags, 0);

    /* the flag is added to what the caller already set */
    sy_error_t err;
    flags = SY_ENC_LEGACY_EMB;
    const char *b = "{\"model\":\"e\",\"input\":\"x\",\"encoding_format\":\"base64\"}";
    cr_assert_eq(sy_api_openai_decode(b, strlen(b), SY_OP_EMBED, &A, &q, &flags, &err), SY_OK);
    cr_assert_eq(flags, SY_ENC_LEGACY_EMB | SY_ENC_BASE64);
}

/* ---- decoding: refusals ---------------------------------------------------- */

#define MSG(m) "{\"model\":\"m\",\"messages\":[" m "]}"
#define USER "{\"role\":\"user\",\"content\":\"x\"}"
#define WITH(extra) "{\"model\":\"m\",\"messages\":[" USER "]," extra "}"

Test(openai_decode, errors_name_their_field)
{
    static const struct {
        sy_op_t op;
        const char *body;
        sy_err_t code;
        const char *param; /* "" = none */
        const char *says;  /* a piece of the message, or NULL */
    } rows[] = {
        /* the body */
        {SY_OP_CHAT, "{\"model\":", SY_EBADJSON, "", "malformed JSON"},
        {SY_OP_CHAT, "[1]", SY_EBADREQ, "", "JSON object"},
        {SY_OP_CHAT, "{\"messages\":[" USER "]}", SY_EMISSING, "model", NULL},
        {SY_OP_CHAT, "{\"model\":7,\"messages\":[" USER "]}", SY_EBADFIELD, "model", "expected a string"},
        /* messages */
        {SY_OP_CHAT, "{\"model\":\"m\"}", SY_EMISSING, "messages", NULL},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":{}}", SY_EBADFIELD, "messages", NULL},
        {SY_OP_CHAT, MSG(""), SY_EBADREQ, "messages", "at least one"},
        {SY_OP_CHAT, MSG("\"hi\""), SY_EBADFIELD, "messages[0]", NULL},
        {SY_OP_CHAT, MSG("{\"content\":\"x\"}"), SY_EMISSING, "messages[0].role", NULL},
        {SY_OP_CHAT, MSG("{\"role\":\"robot\",\"content\":\"x\"}"), SY_EBADFIELD, "messages[0].role", "'robot'"},
        {SY_OP_CHAT, MSG("{\"role\":\"function\",\"content\":\"x\"}"), SY_EBADFIELD, "messages[0].role", NULL},
        {SY_OP_CHAT, MSG("{\"role\":\"user\"}"), SY_EMISSING, "messages[0].content", NULL},
        {SY_OP_CHAT, MSG("{\"role\":\"user\",\"content\":null}"), SY_EBADFIELD, "messages[0].content", NULL},
        {SY_OP_CHAT, MSG("{\"role\":\"user\",\"content\":5}"), SY_EBADFIELD, "messages[0].content", NULL},
        {SY_OP_CHAT, MSG("{\"role\":\"user\",\"content\":[\"x\"]}"), SY_EBADFIELD, "messages[0].content[0]", NULL},
        {SY_OP_CHAT, MSG("{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}"), SY_EMISSING,
         "messages[0].content[0].type", NULL},
        {SY_OP_CHAT, MSG(USER "," USER ",{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}"), SY_EBADFIELD,
         "messages[2].content[0].type", "'video'"},
        {SY_OP_CHAT, MSG("{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}"), SY_EMISSING,
         "messages[0].content[0].text", NULL},
        {SY_OP_CHAT, MSG("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}"), SY_EBADFIELD,
         "messages[0].content[0].text", NULL},
        {SY_OP_CHAT, MSG("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}"), SY_EMISSING,
         "messages[0].content[0].image_url.url", NULL},
        {SY_OP_CHAT, MSG("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}"), SY_EMISSING,
         "messages[0].content[0].image_url", NULL},
        {SY_OP_CHAT,
         MSG("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:text/plain,hi\"}}]}"),
         SY_EBADFIELD, "messages[0].content[0].image_url.url", "base64"},
        {SY_OP_CHAT,
         MSG("{\"role\":\"system\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]}"),
         SY_EBADREQ, "messages[0].content[0].type", "user messages only"},
        {SY_OP_CHAT,
         MSG("{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AA\"}}]}"),
         SY_EBADREQ, "messages[0].content[0].type", "OpenAI-compatible upstream"},
        {SY_OP_CHAT, MSG("{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{}}]}"), SY_EBADREQ,
         "messages[0].content[0].type", NULL},
        /* tool calls and results */
        {SY_OP_CHAT, MSG(USER ",{\"role\":\"assistant\",\"tool_calls\":{}}"), SY_EBADFIELD, "messages[1].tool_calls",
         NULL},
        {SY_OP_CHAT, MSG(USER ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\"}]}"),
         SY_EMISSING, "messages[1].tool_calls[0].function", NULL},
        {SY_OP_CHAT,
         MSG(USER ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"custom\",\"function\":{}}]}"),
         SY_EBADFIELD, "messages[1].tool_calls[0].type", NULL},
        {SY_OP_CHAT, MSG(USER ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":{}}]}"), SY_EMISSING,
         "messages[1].tool_calls[0].function.name", NULL},
        {SY_OP_CHAT,
         MSG(USER ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":\"f\","
                  "\"arguments\":\"{oops\"}}]}"),
         SY_EBADREQ, "messages[1].tool_calls[0].function.arguments", "JSON object"},
        {SY_OP_CHAT,
         MSG(USER ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":\"f\","
                  "\"arguments\":\"[1,2]\"}}]}"),
         SY_EBADREQ, "messages[1].tool_calls[0].function.arguments", NULL},
        {SY_OP_CHAT,
         MSG(USER ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":\"f\","
                  "\"arguments\":{\"a\":1}}}]}"),
         SY_EBADFIELD, "messages[1].tool_calls[0].function.arguments", "a string of JSON"},
        {SY_OP_CHAT, MSG(USER ",{\"role\":\"tool\",\"content\":\"r\"}"), SY_EMISSING, "messages[1].tool_call_id", NULL},
        {SY_OP_CHAT, MSG(USER ",{\"role\":\"tool\",\"tool_call_id\":3,\"content\":\"r\"}"), SY_EBADFIELD,
         "messages[1].tool_call_id", NULL},
        /* tools */
        {SY_OP_CHAT, WITH("\"tools\":[1]"), SY_EBADFIELD, "tools[0]", NULL},
        {SY_OP_CHAT, WITH("\"tools\":[{\"function\":{\"name\":\"f\"}}]"), SY_EMISSING, "tools[0].type", NULL},
        {SY_OP_CHAT, WITH("\"tools\":[{\"type\":\"web_search\"}]"), SY_EBADFIELD, "tools[0].type", NULL},
        {SY_OP_CHAT, WITH("\"tools\":[{\"type\":\"function\"}]"), SY_EMISSING, "tools[0].function", NULL},
        {SY_OP_CHAT, WITH("\"tools\":[{\"type\":\"function\",\"function\":{}}]"), SY_EMISSING,
         "tools[0].function.name", NULL},
        {SY_OP_CHAT, WITH("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"\"}}]"), SY_EBADFIELD,
         "tools[0].function.name", NULL},
        {SY_OP_CHAT, WITH("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":\"{}\"}}]"),
         SY_EBADFIELD, "tools[0].function.parameters", NULL},
        {SY_OP_CHAT, WITH("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":1}}]"),
         SY_EBADFIELD, "tools[0].function.description", NULL},
        {SY_OP_CHAT, WITH("\"tool_choice\":\"maybe\""), SY_EBADFIELD, "tool_choice", "'maybe'"},
        {SY_OP_CHAT, WITH("\"tool_choice\":{\"type\":\"allowed_tools\"}"), SY_EBADREQ, "tool_choice.type", NULL},
        {SY_OP_CHAT, WITH("\"tool_choice\":{\"type\":\"function\"}"), SY_EMISSING, "tool_choice.function", NULL},
        {SY_OP_CHAT, WITH("\"tool_choice\":{\"type\":\"function\",\"function\":{}}"), SY_EMISSING,
         "tool_choice.function.name", NULL},
        {SY_OP_CHAT, WITH("\"parallel_tool_calls\":\"yes\""), SY_EBADFIELD, "parallel_tool_calls", NULL},
        /* formats, sampling, limits */
        {SY_OP_CHAT, WITH("\"response_format\":{}"), SY_EMISSING, "response_format.type", NULL},
        {SY_OP_CHAT, WITH("\"response_format\":{\"type\":\"yaml\"}"), SY_EBADFIELD, "response_format.type", NULL},
        {SY_OP_CHAT, WITH("\"response_format\":{\"type\":\"json_schema\"}"), SY_EMISSING,
         "response_format.json_schema", NULL},
        {SY_OP_CHAT, WITH("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":[]}}"),
         SY_EBADFIELD, "response_format.json_schema.schema", NULL},
        {SY_OP_CHAT, WITH("\"stop\":[\"a\",1]"), SY_EBADFIELD, "stop[1]", NULL},
        {SY_OP_CHAT, WITH("\"stop\":5"), SY_EBADFIELD, "stop", NULL},
        {SY_OP_CHAT, WITH("\"max_tokens\":0"), SY_EBADFIELD, "max_tokens", "at least 1"},
        {SY_OP_CHAT, WITH("\"max_completion_tokens\":1.5"), SY_EBADFIELD, "max_completion_tokens", NULL},
        {SY_OP_CHAT, WITH("\"seed\":1e3"), SY_EBADFIELD, "seed", NULL},
        {SY_OP_CHAT, WITH("\"seed\":99999999999999999999"), SY_EBADFIELD, "seed", "out of range"},
        {SY_OP_CHAT, WITH("\"temperature\":\"hot\""), SY_EBADFIELD, "temperature", NULL},
        {SY_OP_CHAT, WITH("\"presence_penalty\":true"), SY_EBADFIELD, "presence_penalty", NULL},
        {SY_OP_CHAT, WITH("\"n\":2"), SY_EBADREQ, "n", "OpenAI-compatible upstream"},
        {SY_OP_CHAT, WITH("\"n\":0"), SY_EBADFIELD, "n", NULL},
        {SY_OP_CHAT, WITH("\"stream\":\"yes\""), SY_EBADFIELD, "stream", NULL},
        {SY_OP_CHAT, WITH("\"stream_options\":{\"include_usage\":1}"), SY_EBADFIELD, "stream_options.include_usage",
         NULL},
        {SY_OP_CHAT, WITH("\"user\":5"), SY_EBADFIELD, "user", NULL},
        /* completions */
        {SY_OP_GENERATE, "{\"model\":\"m\"}", SY_EMISSING, "prompt", NULL},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", SY_EBADREQ, "prompt",
         "batched prompts (2) need an OpenAI-compatible upstream"},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":[1,2,3]}", SY_EBADREQ, "prompt", "token-id prompts"},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":[[1,2],[3]]}", SY_EBADREQ, "prompt", "token-id prompts"},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":[]}", SY_EBADREQ, "prompt", "empty"},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":[null]}", SY_EBADFIELD, "prompt[0]", NULL},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":{}}", SY_EBADFIELD, "prompt", NULL},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"echo\":true}", SY_EBADREQ, "echo", NULL},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"best_of\":3}", SY_EBADREQ, "best_of", NULL},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"suffix\":1}", SY_EBADFIELD, "suffix", NULL},
        /* embeddings */
        {SY_OP_EMBED, "{\"model\":\"e\"}", SY_EMISSING, "input", NULL},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":[[1,2],[3]]}", SY_EBADREQ, "input", "not supported"},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":[1,2]}", SY_EBADREQ, "input", "token-id inputs"},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":[\"a\",3]}", SY_EBADREQ, "input", NULL},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":[\"a\",{}]}", SY_EBADFIELD, "input[1]", NULL},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":[]}", SY_EBADREQ, "input", "empty"},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":true}", SY_EBADFIELD, "input", NULL},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":\"x\",\"encoding_format\":\"int8\"}", SY_EBADFIELD,
         "encoding_format", "'int8'"},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":\"x\",\"dimensions\":0}", SY_EBADFIELD, "dimensions", NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sy_creq_t q;
        unsigned flags;
        sy_error_t err;
        sy_err_t rc = decode(rows[i].body, rows[i].op, &q, &flags, &err);
        cr_assert_eq(rc, rows[i].code, "row %zu (%s): got %s (%s, param '%s')", i, rows[i].body, sy_err_name(rc),
                     err.message, err.param);
        cr_assert_eq(err.code, rows[i].code, "row %zu", i);
        cr_assert_str_eq(err.param, rows[i].param, "row %zu (%s): %s", i, rows[i].body, err.message);
        if (rows[i].says)
            cr_assert(strstr(err.message, rows[i].says), "row %zu: '%s' lacks '%s'", i, err.message, rows[i].says);
        cr_assert(sy_error_status(&err) == 400, "row %zu: status %d", i, sy_error_status(&err));
        /* and the error renders as valid OpenAI JSON */
        char buf[1500];
        size_t n = sy_error_json(SY_PROTO_OPENAI, &err, buf, sizeof buf);
        assert_json(buf, n);
    }
}

Test(openai_decode, quoted_values_are_clipped_on_character_boundaries)
{
    /* "a" then 60 two-byte characters: the message quotes 40 bytes at most
     * and never half a character, so 39 */
    char body[256];
    char role[122];
    role[0] = 'a';
    for (int i = 0; i < 60; i++)
        memcpy(role + 1 + 2 * i, "\xc3\xa9", 2);
    role[121] = '\0';
    snprintf(body, sizeof body, "{\"model\":\"m\",\"messages\":[{\"role\":\"%s\",\"content\":\"x\"}]}", role);
    sy_creq_t q;
    unsigned flags;
    sy_error_t err;
    cr_assert_eq(decode(body, SY_OP_CHAT, &q, &flags, &err), SY_EBADFIELD);
    char buf[1500];
    size_t n = sy_error_json(SY_PROTO_OPENAI, &err, buf, sizeof buf);
    assert_json(buf, n);
    const char *quoted = strstr(err.message, "': '") + 4;
    const char *end = strchr(quoted, '\'');
    cr_assert_eq(end - quoted, 39);
}

Test(openai_decode, arena_exhaustion_is_enomem_not_a_crash)
{
    sy_arena_t small;
    sy_arena_init(&small, 256);
    char body[4096];
    int n = snprintf(body, sizeof body, "{\"model\":\"m\",\"messages\":[");
    for (int i = 0; i < 40; i++)
        n += snprintf(body + n, sizeof body - (size_t)n, "%s{\"role\":\"user\",\"content\":\"message %d\"}",
                      i ? "," : "", i);
    snprintf(body + n, sizeof body - (size_t)n, "]}");
    sy_creq_t q;
    unsigned flags = 0;
    sy_error_t err;
    cr_assert_eq(sy_api_openai_decode(body, strlen(body), SY_OP_CHAT, &small, &q, &flags, &err), SY_ENOMEM);
    sy_arena_release(&small);
}

/* ---- encoding: streams ---------------------------------------------------- */

/* the chunk frame with the test's id, created and model */
#define CHUNK(delta, finish)                                                                                   \
    "data: {\"id\":\"chatcmpl-req_1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-x\"," \
    "\"choices\":[{\"index\":0,\"delta\":{" delta "},\"logprobs\":null,\"finish_reason\":" finish "}]}\n\n"
#define ROLE CHUNK("\"role\":\"assistant\",\"content\":\"\"", "null")
#define DONE "data: [DONE]\n\n"

static sy_creq_t chat_q(int include_usage)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    q.stream = 1;
    q.include_usage = include_usage;
    return q;
}

Test(openai_encode, text_stream)
{
    sy_creq_t q = chat_q(0);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {
        ev_kind(SY_EV_START),          ev_text(SY_EV_TEXT, "Hel"),       ev_text(SY_EV_TEXT, ""),
        ev_text(SY_EV_TEXT, "lo \"w\"\n"), ev_finish(SY_FINISH_STOP), ev_usage(5, 2, -1),
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        sy_ingress_openai.event(&e, &evs[i], b);
    sy_ingress_openai.end(&e, b);
    assert_text(b, ROLE CHUNK("\"content\":\"Hel\"", "null") CHUNK("\"content\":\"lo \\\"w\\\"\\n\"", "null")
                       CHUNK("", "\"stop\"") DONE);
    cr_assert_neq(e.first_token_ns, 0);
    /* nothing after the end */
    sy_ev_t late = ev_text(SY_EV_TEXT, "late");
    sy_ingress_openai.event(&e, &late, b);
    sy_ingress_openai.end(&e, b);
    cr_assert_eq(evbuffer_get_length(b), 0);
    evbuffer_free(b);
}

Test(openai_encode, thinking_is_reasoning_content)
{
    sy_creq_t q = chat_q(0);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {ev_kind(SY_EV_START), ev_text(SY_EV_THINKING, "hmm"), ev_text(SY_EV_TEXT, "42"),
                     ev_finish(SY_FINISH_LENGTH)};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        sy_ingress_openai.event(&e, &evs[i], b);
    sy_ingress_openai.end(&e, b);
    assert_text(b, ROLE CHUNK("\"reasoning_content\":\"hmm\"", "null") CHUNK("\"content\":\"42\"", "null")
                       CHUNK("", "\"length\"") DONE);
    evbuffer_free(b);
}

Test(openai_encode, two_tool_calls_interleaved)
{
    sy_creq_t q = chat_q(0);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {
        ev_kind(SY_EV_START),
        ev_call(0, "call_a", "get", ""),
        ev_call(1, "", "put", "{\"k\""),
        ev_call(0, "", "", "{\"x\":1}"),
        ev_call(1, "", "", ":2}"),
        ev_finish(SY_FINISH_STOP), /* an upstream that says "stop" after calls (Ollama) */
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        sy_ingress_openai.event(&e, &evs[i], b);
    sy_ingress_openai.end(&e, b);
    assert_text(b, ROLE CHUNK("\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\","
                              "\"function\":{\"name\":\"get\",\"arguments\":\"\"}}]",
                              "null")
                       CHUNK("\"tool_calls\":[{\"index\":1,\"id\":\"call_1_req_1\",\"type\":\"function\","
                             "\"function\":{\"name\":\"put\",\"arguments\":\"\"}}]",
                             "null")
                           CHUNK("\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{\\\"k\\\"\"}}]", "null")
                               CHUNK("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"x\\\":1}\"}}]",
                                     "null")
                                   CHUNK("\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\":2}\"}}]", "null")
                                       CHUNK("", "\"tool_calls\"") DONE);
    cr_assert_eq(e.n_calls, 2);
    evbuffer_free(b);
}

Test(openai_encode, usage_after_finish_with_include_usage)
{
    sy_creq_t q = chat_q(1);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {ev_kind(SY_EV_START), ev_text(SY_EV_TEXT, "ok"), ev_usage(5, -1, -1), ev_finish(SY_FINISH_STOP),
                     ev_usage(-1, 2, 3)};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        sy_ingress_openai.event(&e, &evs[i], b);
    sy_ingress_openai.end(&e, b);
    assert_text(b, ROLE CHUNK("\"content\":\"ok\"", "null") CHUNK("", "\"stop\"")
                   "data: {\"id\":\"chatcmpl-req_1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                   "\"model\":\"gpt-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
                   "\"total_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\n" DONE);
    evbuffer_free(b);
}

Test(openai_encode, usage_unknown_counts_and_without_include_usage)
{
    /* include_usage with nothing reported: zeros, no details */
    sy_creq_t q = chat_q(1);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t start = ev_kind(SY_EV_START), fin = ev_finish(SY_FINISH_STOP);
    sy_ingress_openai.event(&e, &start, b);
    sy_ingress_openai.event(&e, &fin, b);
    sy_ingress_openai.end(&e, b);
    assert_text(b, ROLE CHUNK("", "\"stop\"")
                   "data: {\"id\":\"chatcmpl-req_1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                   "\"model\":\"gpt-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,"
                   "\"total_tokens\":0}}\n\n" DONE);

    /* reported but not asked for: no usage chunk */
    sy_creq_t q2 = chat_q(0);
    e = enc_for(&q2);
    sy_ev_t u = ev_usage(9, 9, 9);
    sy_ingress_openai.event(&e, &start, b);
    sy_ingress_openai.event(&e, &fin, b);
    sy_ingress_openai.event(&e, &u, b);
    sy_ingress_openai.end(&e, b);
    assert_text(b, ROLE CHUNK("", "\"stop\"") DONE);
    evbuffer_free(b);
}

Test(openai_encode, empty_stream_still_finishes)
{
    sy_creq_t q = chat_q(0);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ingress_openai.end(&e, b);
    assert_text(b, ROLE CHUNK("", "\"stop\"") DONE);
    evbuffer_free(b);
}

Test(openai_encode, error_mid_stream_has_no_done)
{
    sy_creq_t q = chat_q(1);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {ev_kind(SY_EV_START), ev_text(SY_EV_TEXT, "par")};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        sy_ingress_openai.event(&e, &evs[i], b);
    sy_error_t err;
    sy_error_set(&err, SY_EUPCLOSED, NULL, "provider \"p\": closed");
    sy_ingress_openai.error(&e, &err, b);
    sy_ingress_openai.end(&e, b); /* nothing more after an error */
    assert_text(b, ROLE CHUNK("\"content\":\"par\"", "null")
                   "data: {\"error\":{\"message\":\"provider \\\"p\\\": closed\",\"type\":\"upstream_error\","
                   "\"param\":null,\"code\":\"upstream_closed\"}}\n\n");
    evbuffer_free(b);

    /* an ERROR event closes the stream the same way */
    b = evbuffer_new();
    e = enc_for(&q);
    sy_ev_t ev = ev_kind(SY_EV_ERROR);
    ev.error = &err;
    sy_ingress_openai.event(&e, &ev, b);
    sy_ingress_openai.error(&e, &err, b);
    sy_ingress_openai.end(&e, b);
    char *got = take(b);
    assert_sse(got);
    const char *first = strstr(got, "data: {\"error\"");
    cr_assert_not_null(first, "%s", got);
    cr_assert_null(strstr(first + 1, "data: {\"error\""), "one error event: %s", got);
    cr_assert_null(strstr(got, "[DONE]"));
    free(got);
    evbuffer_free(b);
}

#define TCHUNK(text, finish)                                                                              \
    "data: {\"id\":\"cmpl-req_1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"gpt-x\"," \
    "\"choices\":[{\"text\":\"" text "\",\"index\":0,\"logprobs\":null,\"finish_reason\":" finish "}]}\n\n"

Test(openai_encode, text_completion_stream)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_GENERATE, SY_PROTO_OPENAI);
    q.stream = 1;
    q.include_usage = 1;
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {ev_kind(SY_EV_START), ev_text(SY_EV_THINKING, "dropped"), ev_text(SY_EV_TEXT, "def"),
                     ev_text(SY_EV_TEXT, " f"), ev_finish(SY_FINISH_LENGTH), ev_usage(4, 2, -1)};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        sy_ingress_openai.event(&e, &evs[i], b);
    sy_ingress_openai.end(&e, b);
    assert_text(b, TCHUNK("def", "null") TCHUNK(" f", "null") TCHUNK("", "\"length\"")
                   "data: {\"id\":\"cmpl-req_1\",\"object\":\"text_completion\",\"created\":1700000000,"
                   "\"model\":\"gpt-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,"
                   "\"total_tokens\":6}}\n\n" DONE);
    evbuffer_free(b);
}

/* ---- encoding: whole answers ----------------------------------------------- */

static void add(sy_cresp_t *c, sy_ev_t ev)
{
    cr_assert_eq(sy_cresp_add(c, &ev), 0);
}

static char *whole(const sy_creq_t *q, const sy_cresp_t *c)
{
    sy_enc_t e = enc_for(q);
    struct evbuffer *b = evbuffer_new();
    sy_ingress_openai.whole(&e, c, b);
    char *s = take(b);
    evbuffer_free(b);
    assert_json(s, strlen(s));
    return s;
}

Test(openai_encode, whole_text)
{
    sy_creq_t q = chat_q(0);
    sy_cresp_t c;
    sy_cresp_init(&c, 0);
    add(&c, ev_kind(SY_EV_START));
    add(&c, ev_text(SY_EV_TEXT, "Hello, "));
    add(&c, ev_text(SY_EV_TEXT, "world"));
    add(&c, ev_finish(SY_FINISH_STOP));
    add(&c, ev_usage(10, 3, 4));
    char *s = whole(&q, &c);
    cr_assert_str_eq(s, "{\"id\":\"chatcmpl-req_1\",\"object\":\"chat.completion\",\"created\":1700000000,"
                        "\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":\"Hello, world\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                        "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,\"total_tokens\":13,"
                        "\"prompt_tokens_details\":{\"cached_tokens\":4}}}");
    free(s);
    sy_cresp_release(&c);
}

Test(openai_encode, whole_empty_answer_has_empty_content)
{
    sy_creq_t q = chat_q(0);
    sy_cresp_t c;
    sy_cresp_init(&c, 0);
    char *s = whole(&q, &c);
    cr_assert(strstr(s, "\"content\":\"\",\"refusal\":null}"), "%s", s);
    cr_assert(strstr(s, "\"finish_reason\":\"stop\""), "%s", s);
    cr_assert(strstr(s, "\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}}"), "%s", s);
    free(s);
}

Test(openai_encode, whole_tool_calls)
{
    sy_creq_t q = chat_q(0);
    sy_cresp_t c;
    sy_cresp_init(&c, 0);
    add(&c, ev_kind(SY_EV_START));
    add(&c, ev_text(SY_EV_THINKING, "need tools"));
    add(&c, ev_call(0, "call_a", "get", "{\"x\":"));
    add(&c, ev_call(1, "", "now", ""));
    add(&c, ev_call(0, "", "", "1}"));
    add(&c, ev_finish(SY_FINISH_TOOL_CALLS));
    add(&c, ev_usage(7, 5, -1));
    char *s = whole(&q, &c);
    cr_assert_str_eq(s, "{\"id\":\"chatcmpl-req_1\",\"object\":\"chat.completion\",\"created\":1700000000,"
                        "\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":null,\"refusal\":null,\"reasoning_content\":\"need tools\",\"tool_calls\":["
                        "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get\","
                        "\"arguments\":\"{\\\"x\\\":1}\"}},"
                        "{\"id\":\"call_1_req_1\",\"type\":\"function\",\"function\":{\"name\":\"now\","
                        "\"arguments\":\"{}\"}}]},"
                        "\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],"
                        "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5,\"total_tokens\":12}}");
    free(s);

    /* the same generated id a stream gives for the same call */
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t ev = ev_call(1, "", "now", "");
    sy_ev_t first = ev_call(0, "call_a", "get", "");
    sy_ingress_openai.event(&e, &first, b);
    sy_ingress_openai.event(&e, &ev, b);
    char *st = take(b);
    cr_assert(strstr(st, "\"id\":\"call_1_req_1\""), "%s", st);
    free(st);
    evbuffer_free(b);

    /* text next to the calls keeps its content; "stop" becomes tool_calls */
    sy_cresp_t c2;
    sy_cresp_init(&c2, 0);
    add(&c2, ev_text(SY_EV_TEXT, "calling"));
    add(&c2, ev_call(0, "x", "f", "{}"));
    add(&c2, ev_finish(SY_FINISH_STOP));
    s = whole(&q, &c2);
    cr_assert(strstr(s, "\"content\":\"calling\""), "%s", s);
    cr_assert(strstr(s, "\"finish_reason\":\"tool_calls\""), "%s", s);
    free(s);
    sy_cresp_release(&c);
    sy_cresp_release(&c2);
}

Test(openai_encode, whole_text_completion)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_GENERATE, SY_PROTO_OPENAI);
    sy_cresp_t c;
    sy_cresp_init(&c, 0);
    add(&c, ev_text(SY_EV_TEXT, "return 1"));
    add(&c, ev_finish(SY_FINISH_LENGTH));
    add(&c, ev_usage(3, 2, -1));
    char *s = whole(&q, &c);
    cr_assert_str_eq(s, "{\"id\":\"cmpl-req_1\",\"object\":\"text_completion\",\"created\":1700000000,"
                        "\"model\":\"gpt-x\",\"choices\":[{\"text\":\"return 1\",\"index\":0,\"logprobs\":null,"
                        "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,"
                        "\"total_tokens\":5}}");
    free(s);
    sy_cresp_release(&c);
}

/* ---- encoding: embeddings -------------------------------------------------- */

static const float V0[] = {0.1f, -2.5f, 1e-8f, 3.14159274f, -0.0f, 16777217.0f, 1.17549435e-38f};
static const float V1[] = {0.333333343f};

static sy_embed_t two_vectors(void)
{
    static sy_vec_t vecs[2];
    vecs[0] = (sy_vec_t){(float *)V0, sizeof V0 / sizeof V0[0]};
    vecs[1] = (sy_vec_t){(float *)V1, 1};
    return (sy_embed_t){vecs, 2, 6};
}

static char *embed(unsigned flags, const sy_embed_t *m)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_EMBED, SY_PROTO_OPENAI);
    sy_enc_t e = enc_for(&q);
    e.flags = flags;
    struct evbuffer *b = evbuffer_new();
    sy_ingress_openai.embed(&e, m, b);
    char *s = take(b);
    evbuffer_free(b);
    assert_json(s, strlen(s));
    return s;
}

static json_object *embedding_of(json_object *root, size_t i)
{
    json_object *data, *item, *v;
    cr_assert(json_object_object_get_ex(root, "data", &data));
    item = json_object_array_get_idx(data, i);
    cr_assert_not_null(item);
    cr_assert(json_object_object_get_ex(item, "index", &v) && json_object_get_int(v) == (int)i);
    cr_assert(json_object_object_get_ex(item, "object", &v) && !strcmp(json_object_get_string(v), "embedding"));
    cr_assert(json_object_object_get_ex(item, "embedding", &v));
    return v;
}

Test(openai_encode, embeddings_float)
{
    sy_embed_t m = two_vectors();
    char *s = embed(0, &m);
    cr_assert(strstr(s, "\"embedding\":[0.100000001,-2.5,9.99999994e-09,3.14159274,-0,16777216,"), "%s", s);
    cr_assert(strstr(s, "],\"model\":\"gpt-x\",\"usage\":{\"prompt_tokens\":6,\"total_tokens\":6}}"), "%s", s);
    cr_assert(!strncmp(s, "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,", 55), "%s", s);
    json_object *root = json_tokener_parse(s);
    cr_assert_not_null(root);
    for (size_t i = 0; i < 2; i++) {
        json_object *arr = embedding_of(root, i);
        const float *want = i ? V1 : V0;
        size_t n = i ? 1 : sizeof V0 / sizeof V0[0];
        cr_assert_eq(json_object_array_length(arr), n);
        for (size_t j = 0; j < n; j++) {
            float got = (float)json_object_get_double(json_object_array_get_idx(arr, j));
            cr_assert(got == want[j], "vec %zu [%zu]: %.9g != %.9g", i, j, (double)got,
                      (double)want[j]);
        }
    }
    json_object_put(root);
    free(s);
}

/* Decode standard base64 (with padding) into bytes. Returns the length. */
static size_t unbase64(const char *s, unsigned char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0, len = strlen(s);
    cr_assert_eq(len % 4, 0, "base64 length %zu", len);
    for (size_t i = 0; i < len; i += 4) {
        uint32_t w = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *p = s[i + k] == '=' ? NULL : strchr(tbl, s[i + k]);
            if (!p) {
                cr_assert_eq(s[i + k], '=');
                pad++;
            }
            w = w << 6 | (p ? (uint32_t)(p - tbl) : 0);
        }
        out[n++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[n++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[n++] = (unsigned char)w;
    }
    return n;
}

Test(openai_encode, embeddings_base64_little_endian_float32)
{
    sy_embed_t m = two_vectors();
    m.prompt_tokens = -1;
    char *s = embed(SY_ENC_BASE64, &m);
    cr_assert(strstr(s, "\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}"), "%s", s);
    json_object *root = json_tokener_parse(s);
    cr_assert_not_null(root);
    for (size_t i = 0; i < 2; i++) {
        json_object *str = embedding_of(root, i);
        cr_assert(json_object_is_type(str, json_type_string));
        unsigned char bytes[64];
        size_t n = unbase64(json_object_get_string(str), bytes);
        const float *want = i ? V1 : V0;
        size_t nf = i ? 1 : sizeof V0 / sizeof V0[0];
        cr_assert_eq(n, nf * 4);
        for (size_t j = 0; j < nf; j++) {
            uint32_t bits = (uint32_t)bytes[4 * j] | (uint32_t)bytes[4 * j + 1] << 8 |
                            (uint32_t)bytes[4 * j + 2] << 16 | (uint32_t)bytes[4 * j + 3] << 24;
            float got;
            memcpy(&got, &bits, 4);
            cr_assert(memcmp(&got, &want[j], 4) == 0, "vec %zu [%zu]: %.9g != %.9g", i, j, (double)got,
                      (double)want[j]);
        }
    }
    /* 0.333333343f is 0x3eaaaaab: bytes ab aa aa 3e */
    cr_assert(strstr(s, "\"embedding\":\"q6qqPg==\""), "%s", s);
    json_object_put(root);
    free(s);
}

Test(openai_encode, embeddings_long_vector_and_empty)
{
    /* wider than the writers' batch buffers, both ways */
    static float big[3000];
    for (size_t i = 0; i < 3000; i++)
        big[i] = (float)i * -1.25e-3f + 1e-30f;
    sy_vec_t vecs[2] = {{big, 3000}, {NULL, 0}};
    sy_embed_t m = {vecs, 2, 1};
    for (unsigned flags = 0; flags <= SY_ENC_BASE64; flags += SY_ENC_BASE64) {
        char *s = embed(flags, &m);
        json_object *root = json_tokener_parse(s);
        cr_assert_not_null(root);
        json_object *v = embedding_of(root, 0);
        if (flags) {
            unsigned char *bytes = malloc(3000 * 4 + 4);
            cr_assert_eq(unbase64(json_object_get_string(v), bytes), 3000 * 4);
            float f;
            uint32_t bits = (uint32_t)bytes[4 * 2999] | (uint32_t)bytes[4 * 2999 + 1] << 8 |
                            (uint32_t)bytes[4 * 2999 + 2] << 16 | (uint32_t)bytes[4 * 2999 + 3] << 24;
            memcpy(&f, &bits, 4);
            cr_assert(f == big[2999]);
            free(bytes);
            cr_assert_str_eq(json_object_get_string(embedding_of(root, 1)), "");
        } else {
            cr_assert_eq(json_object_array_length(v), 3000);
            for (size_t j = 0; j < 3000; j++)
                cr_assert((float)json_object_get_double(json_object_array_get_idx(v, j)) == big[j], "[%zu]", j);
            cr_assert_eq(json_object_array_length(embedding_of(root, 1)), 0);
        }
        json_object_put(root);
        free(s);
    }
}
