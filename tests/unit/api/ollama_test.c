/*
 * ollama_test.c - unit tests for src/api/ollama.c: decoding Ollama bodies
 * into the canonical request (messages, images, tool calls, tools, the
 * options mapping, format, the wrong-type table with the field each error
 * names), the NDJSON encoder fed sequences of canonical events (text,
 * thinking, tool calls buffered until whole, the done object and its usage
 * mapping, error lines), whole answers, both embedding shapes, and the
 * model listing (/api/tags, /api/ps, /api/show) - as golden text, every
 * line also checked to be valid JSON.
 *
 * The clocks go through ollama.c's test hooks: created_at is always
 * 2024-07-22T20:33:28.123648Z and the monotonic time is whatever a step
 * sets in mono_ns.
 */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/jsonscan.h"
#include "core/canon.h"
#include "pipeline/pipeline.h"
#include "providers/discovery.h"

/* ollama.c's internal hooks and listing bodies */
extern void (*sy__ollama_wall)(struct timespec *ts);
extern uint64_t (*sy__ollama_mono)(void);
void sy__ollama_tags(const sy_config_t *cfg, const sy_disc_snap_t *disc, long started, struct evbuffer *o);
void sy__ollama_ps(const sy_config_t *cfg, const sy_disc_snap_t *disc, struct evbuffer *o);
int sy__ollama_show(const sy_config_t *cfg, const sy_disc_snap_t *disc, long started, const char *name,
                    struct evbuffer *o);

#define S(lit) ((sy_str_t){(lit), sizeof(lit) - 1})
#define SS(lit) {(lit), sizeof(lit) - 1} /* the same in a static initializer */

static uint64_t mono_ns;

static void fixed_wall(struct timespec *ts)
{
    ts->tv_sec = 1721680408; /* 2024-07-22T20:33:28Z */
    ts->tv_nsec = 123648000;
}

static uint64_t fixed_mono(void)
{
    return mono_ns;
}

static sy_arena_t A;

static void setup(void)
{
    sy_arena_init(&A, 1 << 20);
    sy__ollama_wall = fixed_wall;
    sy__ollama_mono = fixed_mono;
    mono_ns = 0;
}

static void teardown(void)
{
    sy_arena_release(&A);
}

TestSuite(ollama, .init = setup, .fini = teardown);

static int str_is(sy_str_t s, const char *want)
{
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.p, want, s.len) == 0);
}

static int jval_is(sy_jval_t v, const char *want)
{
    return v.p && v.len == strlen(want) && memcmp(v.p, want, v.len) == 0;
}

static sy_err_t dec(const char *json, sy_op_t op, unsigned flags, sy_creq_t *q, sy_error_t *err)
{
    memset(err, 0, sizeof(*err));
    return sy_api_ollama_decode(json, strlen(json), op, &A, q, &flags, err);
}

/* The buffer's text (drained), NUL-terminated in a static buffer. */
static const char *text_of(struct evbuffer *b)
{
    static char out[1 << 16];
    size_t n = evbuffer_get_length(b);
    cr_assert_lt(n, sizeof(out));
    evbuffer_remove(b, out, n);
    out[n] = '\0';
    return out;
}

/* Every line of an NDJSON text is one valid JSON object. */
static void assert_ndjson(const char *s)
{
    while (*s) {
        const char *nl = strchr(s, '\n');
        cr_assert(nl, "every line ends with a newline: %s", s);
        size_t off;
        const char *msg;
        cr_assert_eq(sy_json_validate(s, (size_t)(nl - s), &off, &msg), 0, "line %.*s: %s at %zu", (int)(nl - s), s,
                     msg, off);
        cr_assert_eq(sy_json_value(s, (size_t)(nl - s)).type, SY_JOBJECT);
        s = nl + 1;
    }
}

static void assert_json(const char *s)
{
    size_t off;
    const char *msg;
    cr_assert_eq(sy_json_validate(s, strlen(s), &off, &msg), 0, "%s: %s at %zu", s, msg, off);
}

/* ---- decoding: chat ------------------------------------------------------ */

Test(ollama, decode_chat_full)
{
    static const char body[] =
        "{\"model\":\"llama3.2\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":\"What is this?\",\"images\":[\"iVBORw0KGgoAAAA=\",\"/9j/4AAQ\"]},"
        "{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"look it up\",\"tool_calls\":["
        "{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\": \"Paris\"}}},"
        "{\"id\":\"call_x\",\"function\":{\"index\":1,\"name\":\"now\"}}]},"
        "{\"role\":\"tool\",\"content\":\"22C\",\"tool_name\":\"get_weather\",\"tool_call_id\":\"call_w\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
        "\"parameters\":{\"type\":\"object\"}}}],"
        "\"format\":\"json\",\"keep_alive\":\"5m\",\"think\":true,"
        "\"options\":{\"num_predict\":128,\"temperature\":0.2,\"top_p\":0.9,\"top_k\":40,\"seed\":7,"
        "\"stop\":[\"###\",\"END\"],\"num_ctx\":8192,\"presence_penalty\":0.5,\"frequency_penalty\":-1,"
        "\"mirostat\":2}}";
    sy_creq_t q;
    sy_error_t err;
    cr_assert_eq(dec(body, SY_OP_CHAT, 0, &q, &err), SY_OK, "%s", err.message);
    cr_assert_eq(q.op, SY_OP_CHAT);
    cr_assert_eq(q.proto, SY_PROTO_OLLAMA);
    cr_assert(str_is(q.model, "llama3.2"));
    cr_assert_eq(q.stream, 1, "Ollama streams when stream is absent");
    cr_assert_eq(q.n_msgs, 4);

    cr_assert_eq(q.msgs[0].role, SY_ROLE_SYSTEM);
    cr_assert_eq(q.msgs[0].n_parts, 1);
    cr_assert(str_is(q.msgs[0].parts[0].text, "Be brief."));

    const sy_msg_t *u = &q.msgs[1];
    cr_assert_eq(u->role, SY_ROLE_USER);
    cr_assert_eq(u->n_parts, 3, "two images, then the text");
    cr_assert_eq(u->parts[0].kind, SY_PART_IMAGE);
    cr_assert(str_is(u->parts[0].data, "iVBORw0KGgoAAAA="));
    cr_assert_eq(u->parts[0].media_type.len, 0, "Ollama images carry no media type");
    cr_assert(str_is(u->parts[1].data, "/9j/4AAQ"));
    cr_assert_eq(u->parts[2].kind, SY_PART_TEXT);
    cr_assert(str_is(u->parts[2].text, "What is this?"));

    const sy_msg_t *a = &q.msgs[2];
    cr_assert_eq(a->role, SY_ROLE_ASSISTANT);
    cr_assert_eq(a->n_parts, 0, "an empty content beside tool calls is no part");
    cr_assert(str_is(a->thinking, "look it up"));
    cr_assert_eq(a->n_calls, 2);
    cr_assert_eq(a->calls[0].id.len, 0);
    cr_assert(str_is(a->calls[0].name, "get_weather"));
    cr_assert(str_is(a->calls[0].args, "{\"city\": \"Paris\"}"), "the object's own text");
    cr_assert(str_is(a->calls[1].id, "call_x"));
    cr_assert(str_is(a->calls[1].args, "{}"), "absent arguments are {}");

    const sy_msg_t *t = &q.msgs[3];
    cr_assert_eq(t->role, SY_ROLE_TOOL);
    cr_assert(str_is(t->tool_name, "get_weather"));
    cr_assert(str_is(t->tool_call_id, "call_w"));
    cr_assert(str_is(t->parts[0].text, "22C"));

    cr_assert_eq(q.n_tools, 1);
    cr_assert(str_is(q.tools[0].name, "get_weather"));
    cr_assert(str_is(q.tools[0].description, "Weather"));
    cr_assert(jval_is(q.tools[0].parameters, "{\"type\":\"object\"}"));
    cr_assert_eq(q.tool_choice, SY_TOOLS_DEFAULT);

    cr_assert_eq(q.format, SY_FORMAT_JSON);
    cr_assert(jval_is(q.keep_alive, "\"5m\""));
    cr_assert(jval_is(q.think, "true"));

    cr_assert_eq(q.max_tokens, 128);
    cr_assert(jval_is(q.temperature, "0.2"));
    cr_assert(jval_is(q.top_p, "0.9"));
    cr_assert(jval_is(q.top_k, "40"));
    cr_assert(jval_is(q.presence_penalty, "0.5"));
    cr_assert(jval_is(q.frequency_penalty, "-1"));
    cr_assert(q.has_seed);
    cr_assert_eq(q.seed, 7);
    cr_assert_eq(q.n_stop, 2);
    cr_assert(str_is(q.stop[0], "###"));
    cr_assert(str_is(q.stop[1], "END"));
    cr_assert_eq(q.num_ctx, 8192);
    cr_assert_eq(q.options.type, SY_JOBJECT);
    cr_assert(q.options.len > 0 && q.options.p[0] == '{' && strstr(q.options.p, "\"mirostat\":2"),
              "the whole options object rides along");
}

Test(ollama, decode_chat_minimal_and_defaults)
{
    sy_creq_t q;
    sy_error_t err;
    cr_assert_eq(dec("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":false}",
                     SY_OP_CHAT, 0, &q, &err),
                 SY_OK);
    cr_assert_eq(q.stream, 0);
    cr_assert_eq(q.max_tokens, -1);
    cr_assert_eq(q.num_ctx, -1);
    cr_assert_eq(q.has_seed, 0);
    cr_assert_eq(q.format, SY_FORMAT_TEXT);
    cr_assert_null(q.options.p);
    cr_assert_null(q.keep_alive.p);
    cr_assert_null(q.think.p);
    cr_assert_eq(q.n_tools, 0);

    /* null is "not said", as in Go */
    cr_assert_eq(dec("{\"model\":\"m\",\"messages\":null,\"stream\":null,\"options\":null,\"format\":null,"
                     "\"tools\":null,\"keep_alive\":null}",
                     SY_OP_CHAT, 0, &q, &err),
                 SY_OK, "%s", err.message);
    cr_assert_eq(q.n_msgs, 0, "no messages: Ollama's load answer");
    cr_assert_eq(q.stream, 1);

    /* a message with no content at all still has its (empty) text part */
    cr_assert_eq(dec("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", SY_OP_CHAT, 0, &q, &err), SY_OK);
    cr_assert_eq(q.msgs[0].n_parts, 1);
    cr_assert_eq(q.msgs[0].parts[0].text.len, 0);
}

Test(ollama, decode_keys_and_roles_ignore_case_like_go)
{
    sy_creq_t q;
    sy_error_t err;
    cr_assert_eq(dec("{\"Model\":\"m\",\"MESSAGES\":[{\"Role\":\"User\",\"Content\":\"hi\"}],\"Stream\":false}",
                     SY_OP_CHAT, 0, &q, &err),
                 SY_OK, "%s", err.message);
    cr_assert(str_is(q.model, "m"));
    cr_assert_eq(q.msgs[0].role, SY_ROLE_USER);
    cr_assert(str_is(q.msgs[0].parts[0].text, "hi"));
    cr_assert_eq(q.stream, 0);
}

Test(ollama, decode_images_data_url_and_lenient_arguments)
{
    sy_creq_t q;
    sy_error_t err;
    cr_assert_eq(dec("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\","
                     "\"images\":[\"data:image/jpeg;base64,/9j/AAA=\"]},"
                     "{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
                     "\"arguments\":\"{\\\"a\\\":1}\"}}]}]}",
                     SY_OP_CHAT, 0, &q, &err),
                 SY_OK, "%s", err.message);
    cr_assert(str_is(q.msgs[0].parts[0].media_type, "image/jpeg"), "a data: URL keeps its media type");
    cr_assert(str_is(q.msgs[0].parts[0].data, "/9j/AAA="));
    cr_assert(str_is(q.msgs[1].calls[0].args, "{\"a\":1}"), "arguments as an OpenAI-style string");
}

Test(ollama, decode_format)
{
    static const struct {
        const char *format;
        sy_format_t want;
    } rows[] = {
        {"\"json\"", SY_FORMAT_JSON},
        {"\"\"", SY_FORMAT_TEXT},
        {"null", SY_FORMAT_TEXT},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}", SY_FORMAT_SCHEMA},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char body[256];
        sy_creq_t q;
        sy_error_t err;
        snprintf(body, sizeof(body), "{\"model\":\"m\",\"prompt\":\"p\",\"format\":%s}", rows[i].format);
        cr_assert_eq(dec(body, SY_OP_GENERATE, 0, &q, &err), SY_OK, "%s: %s", rows[i].format, err.message);
        cr_assert_eq(q.format, rows[i].want, "%s", rows[i].format);
        if (rows[i].want == SY_FORMAT_SCHEMA)
            cr_assert(jval_is(q.format_schema, rows[i].format));
    }
}

Test(ollama, decode_options_mapping)
{
    static const struct {
        const char *options;
        int64_t max_tokens, num_ctx, seed; /* seed -1: none */
        size_t n_stop;
    } rows[] = {
        {"{\"num_predict\":-1}", -1, -1, -1, 0},  /* endless: no limit */
        {"{\"num_predict\":-2}", -1, -1, -1, 0},  /* fill the context: no limit */
        {"{\"num_predict\":0}", -1, -1, -1, 0},   /* nothing said */
        {"{\"num_predict\":12.7}", 12, -1, -1, 0}, /* Go reads a float64, cuts */
        {"{\"num_ctx\":4096.0,\"seed\":-3}", -1, 4096, -3, 0},
        {"{\"stop\":\"\\n\\n\"}", -1, -1, -1, 1}, /* one string: lenient */
        {"{\"stop\":[]}", -1, -1, -1, 0},
        {"{\"temperature\":null,\"unknown\":{\"x\":[1]}}", -1, -1, -1, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char body[256];
        sy_creq_t q;
        sy_error_t err;
        snprintf(body, sizeof(body), "{\"model\":\"m\",\"prompt\":\"p\",\"options\":%s}", rows[i].options);
        cr_assert_eq(dec(body, SY_OP_GENERATE, 0, &q, &err), SY_OK, "%s: %s", rows[i].options, err.message);
        cr_assert_eq(q.max_tokens, rows[i].max_tokens, "%s", rows[i].options);
        cr_assert_eq(q.num_ctx, rows[i].num_ctx, "%s", rows[i].options);
        cr_assert_eq(q.has_seed, rows[i].seed != -1, "%s", rows[i].options);
        if (rows[i].seed != -1)
            cr_assert_eq(q.seed, rows[i].seed);
        cr_assert_eq(q.n_stop, rows[i].n_stop, "%s", rows[i].options);
        cr_assert(jval_is(q.options, rows[i].options), "%s kept whole", rows[i].options);
        cr_assert_null(q.temperature.p);
    }
}

/* ---- decoding: generate and embeddings ---------------------------------- */

Test(ollama, decode_generate)
{
    sy_creq_t q;
    sy_error_t err;
    cr_assert_eq(dec("{\"model\":\"m\",\"prompt\":\"def f(\",\"suffix\":\"return x\",\"system\":\"You code.\","
                     "\"raw\":true,\"images\":[\"R0lGODlh\"],\"template\":\"{{ .Prompt }}\",\"context\":[1,2,3],"
                     "\"think\":\"high\",\"keep_alive\":300}",
                     SY_OP_GENERATE, 0, &q, &err),
                 SY_OK, "%s", err.message);
    cr_assert_eq(q.op, SY_OP_GENERATE);
    cr_assert_eq(q.n_msgs, 2);
    cr_assert_eq(q.msgs[0].role, SY_ROLE_SYSTEM);
    cr_assert(str_is(q.msgs[0].parts[0].text, "You code."));
    cr_assert_eq(q.msgs[1].role, SY_ROLE_USER);
    cr_assert_eq(q.msgs[1].n_parts, 2);
    cr_assert(str_is(q.msgs[1].parts[0].data, "R0lGODlh"));
    cr_assert(str_is(q.msgs[1].parts[1].text, "def f("));
    cr_assert(str_is(q.suffix, "return x"));
    cr_assert_eq(q.raw, 1);
    cr_assert(jval_is(q.think, "\"high\""));
    cr_assert(jval_is(q.keep_alive, "300"));

    /* an empty prompt is Ollama's "load": no messages, whatever else */
    cr_assert_eq(dec("{\"model\":\"m\",\"system\":\"s\",\"images\":[\"R0lGODlh\"]}", SY_OP_GENERATE, 0, &q, &err),
                 SY_OK);
    cr_assert_eq(q.n_msgs, 0);
    cr_assert_eq(dec("{\"model\":\"m\",\"prompt\":\"\"}", SY_OP_GENERATE, 0, &q, &err), SY_OK);
    cr_assert_eq(q.n_msgs, 0);
}

Test(ollama, decode_embed)
{
    static const struct {
        const char *body;
        unsigned flags;
        size_t n;
        const char *first;
    } rows[] = {
        {"{\"model\":\"e\",\"input\":\"hello\"}", 0, 1, "hello"},
        {"{\"model\":\"e\",\"input\":[\"a\",\"b\",\"c\"]}", 0, 3, "a"},
        {"{\"model\":\"e\",\"input\":\"\"}", 0, 0, NULL},
        {"{\"model\":\"e\",\"input\":[]}", 0, 0, NULL},
        {"{\"model\":\"e\"}", 0, 0, NULL},
        {"{\"model\":\"e\",\"prompt\":\"legacy\"}", SY_ENC_LEGACY_EMB, 1, "legacy"},
        {"{\"model\":\"e\",\"prompt\":\"\"}", SY_ENC_LEGACY_EMB, 0, NULL},
        {"{\"model\":\"e\",\"input\":\"ignored by the legacy route\"}", SY_ENC_LEGACY_EMB, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sy_creq_t q;
        sy_error_t err;
        cr_assert_eq(dec(rows[i].body, SY_OP_EMBED, rows[i].flags, &q, &err), SY_OK, "%s: %s", rows[i].body,
                     err.message);
        cr_assert_eq(q.op, SY_OP_EMBED);
        cr_assert_eq(q.n_inputs, rows[i].n, "%s", rows[i].body);
        if (rows[i].first)
            cr_assert(str_is(q.inputs[0], rows[i].first));
    }
    sy_creq_t q;
    sy_error_t err;
    cr_assert_eq(dec("{\"model\":\"e\",\"input\":\"x\",\"truncate\":false,\"dimensions\":256,\"keep_alive\":\"1h\","
                     "\"options\":{\"num_ctx\":512}}",
                     SY_OP_EMBED, 0, &q, &err),
                 SY_OK);
    cr_assert_eq(q.truncate, 0);
    cr_assert_eq(q.dimensions, 256);
    cr_assert_eq(q.num_ctx, 512);
    cr_assert(jval_is(q.keep_alive, "\"1h\""));
    cr_assert_eq(dec("{\"model\":\"e\",\"input\":\"x\"}", SY_OP_EMBED, 0, &q, &err), SY_OK);
    cr_assert_eq(q.truncate, -1);
    cr_assert_eq(q.dimensions, -1);
}

/* ---- decoding: errors name the field ------------------------------------ */

Test(ollama, decode_errors_name_the_field)
{
    static const struct {
        sy_op_t op;
        const char *body;
        sy_err_t code;
        const char *param; /* "" for none */
        const char *msg;   /* a piece of the message */
    } rows[] = {
        {SY_OP_CHAT, "", SY_EBADJSON, "", "missing request body"},
        {SY_OP_CHAT, "{\"model\":", SY_EBADJSON, "", "malformed JSON"},
        {SY_OP_CHAT, "[]", SY_EBADREQ, "", "must be a JSON object"},
        {SY_OP_CHAT, "{}", SY_EMISSING, "model", "model is required"},
        {SY_OP_CHAT, "{\"model\":\"\"}", SY_EMISSING, "model", "model is required"},
        {SY_OP_CHAT, "{\"model\":1}", SY_EBADFIELD, "model", "expected a string, got integer"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"Model\":\"n\"}", SY_EBADREQ, "model", "duplicate field 'model'"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":{}}", SY_EBADFIELD, "messages", "got object"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"stream\":\"yes\"}", SY_EBADFIELD, "stream", "expected a boolean"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"think\":1}", SY_EBADFIELD, "think", "got integer"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"keep_alive\":true}", SY_EBADFIELD, "keep_alive", "got boolean"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"format\":1}", SY_EBADFIELD, "format", "\"json\" or a JSON schema"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"format\":\"xml\"}", SY_EBADFIELD, "format", "invalid format: \"xml\""},
        {SY_OP_CHAT, "{\"model\":\"m\",\"tools\":{}}", SY_EBADFIELD, "tools", "got object"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"options\":[]}", SY_EBADFIELD, "options", "got array"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[1]}", SY_EBADFIELD, "messages[0]", "expected an object"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", SY_EMISSING, "messages[0].role",
         "missing"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":2}]}", SY_EBADFIELD, "messages[0].role", "got integer"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\"}]}", SY_EBADFIELD, "messages[0].role",
         "\"wizard\""},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},{\"role\":\"user\",\"content\":1}]}",
         SY_EBADFIELD, "messages[1].content", "expected a string"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"thinking\":[]}]}", SY_EBADFIELD,
         "messages[0].thinking", "got array"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"tool_name\":5}]}", SY_EBADFIELD,
         "messages[0].tool_name", "got integer"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"images\":\"abc\"}]}", SY_EBADFIELD,
         "messages[0].images", "got string"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"images\":[1]}]}", SY_EBADFIELD,
         "messages[0].images[0]", "got integer"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"images\":[\"abc\",\"not base64!\"]}]}",
         SY_EBADFIELD, "messages[0].images[1]", "not base64"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"images\":[\"\"]}]}", SY_EBADFIELD,
         "messages[0].images[0]", "not base64"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}", SY_EBADFIELD,
         "messages[0].tool_calls", "got object"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{}]}]}", SY_EMISSING,
         "messages[0].tool_calls[0].function", "missing"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":1}]}]}",
         SY_EBADFIELD, "messages[0].tool_calls[0].function", "got integer"},
        {SY_OP_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":1}}]}]}",
         SY_EBADFIELD, "messages[0].tool_calls[0].function.name", "got integer"},
        {SY_OP_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
         "\"arguments\":[1]}}]}]}",
         SY_EBADFIELD, "messages[0].tool_calls[0].function.arguments", "got array"},
        {SY_OP_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
         "\"arguments\":\"[1]\"}}]}]}",
         SY_EBADFIELD, "messages[0].tool_calls[0].function.arguments", "must be a JSON object"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"tools\":[\"f\"]}", SY_EBADFIELD, "tools[0]", "expected an object"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"tools\":[{\"type\":\"function\"}]}", SY_EMISSING, "tools[0].function",
         "missing"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"tools\":[{\"type\":1,\"function\":{}}]}", SY_EBADFIELD, "tools[0].type",
         "got integer"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"tools\":[{\"function\":{\"description\":\"d\"}}]}", SY_EMISSING,
         "tools[0].function.name", "missing"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"tools\":[{\"function\":{\"name\":\"a\",\"parameters\":\"x\"}}]}",
         SY_EBADFIELD, "tools[0].function.parameters", "got string"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"options\":{\"temperature\":\"hot\"}}", SY_EBADFIELD, "options.temperature",
         "expected a number"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"options\":{\"num_predict\":\"10\"}}", SY_EBADFIELD, "options.num_predict",
         "expected an integer"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"options\":{\"seed\":1e300}}", SY_EBADFIELD, "options.seed", "out of range"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"options\":{\"stop\":[\"a\",1]}}", SY_EBADFIELD, "options.stop[1]",
         "expected a string"},
        {SY_OP_CHAT, "{\"model\":\"m\",\"options\":{\"stop\":5}}", SY_EBADFIELD, "options.stop", "got integer"},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":1}", SY_EBADFIELD, "prompt", "expected a string"},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"raw\":\"yes\"}", SY_EBADFIELD, "raw", "a boolean"},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"images\":[1]}", SY_EBADFIELD, "images[0]",
         "got integer"},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"images\":[\"%%%\"]}", SY_EBADFIELD, "images[0]", "not base64"},
        {SY_OP_GENERATE, "{\"model\":\"m\",\"context\":\"x\"}", SY_EBADFIELD, "context", "got string"},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":1}", SY_EBADFIELD, "input", "a string or an array of strings"},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":[\"a\",null]}", SY_EBADFIELD, "input[1]", "got null"},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":\"x\",\"dimensions\":\"8\"}", SY_EBADFIELD, "dimensions",
         "an integer"},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":\"x\",\"dimensions\":-1}", SY_EBADFIELD, "dimensions",
         "non-negative"},
        {SY_OP_EMBED, "{\"model\":\"e\",\"input\":\"x\",\"truncate\":1}", SY_EBADFIELD, "truncate", "a boolean"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sy_creq_t q;
        sy_error_t err;
        sy_err_t rc = dec(rows[i].body, rows[i].op, 0, &q, &err);
        cr_assert_eq(rc, rows[i].code, "%s: got %s (%s)", rows[i].body, sy_err_name(rc), err.message);
        cr_assert_eq(err.code, rows[i].code, "%s", rows[i].body);
        cr_assert_str_eq(err.param, rows[i].param, "%s", rows[i].body);
        cr_assert(strstr(err.message, rows[i].msg), "%s: message \"%s\" lacks \"%s\"", rows[i].body, err.message,
                  rows[i].msg);
        cr_assert_eq(sy_err_status(err.code) / 100, 4, "a client error");
    }
    /* the legacy route checks prompt, not input */
    sy_creq_t q;
    sy_error_t err;
    cr_assert_eq(dec("{\"model\":\"e\",\"prompt\":[\"a\"]}", SY_OP_EMBED, SY_ENC_LEGACY_EMB, &q, &err), SY_EBADFIELD);
    cr_assert_str_eq(err.param, "prompt");
}

Test(ollama, decode_survives_every_cut_of_a_body)
{
    /* each prefix is malformed JSON (or a shorter object): never a crash */
    static const char body[] = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\","
                               "\"images\":[\"AAAA\"]}],\"options\":{\"stop\":[\"x\"]},\"tools\":[{\"function\":"
                               "{\"name\":\"f\",\"parameters\":{}}}]}";
    for (size_t n = 0; n <= sizeof(body) - 1; n++) {
        sy_creq_t q;
        sy_error_t err;
        unsigned flags = 0;
        sy_err_t rc = sy_api_ollama_decode(body, n, SY_OP_CHAT, &A, &q, &flags, &err);
        cr_assert(n == sizeof(body) - 1 ? rc == SY_OK : rc != SY_OK, "cut at %zu: %s", n, sy_err_name(rc));
    }
}

/* ---- the encoder: streams ----------------------------------------------- */

#define T "\"created_at\":\"2024-07-22T20:33:28.123648Z\""
#define HEAD "{\"model\":\"m\"," T ","
#define MSG(content) "\"message\":{\"role\":\"assistant\",\"content\":" content "}"
#define CHUNK(content) HEAD MSG(content) ",\"done\":false}\n"
#define METRICS(total, load, pec, ped, ec, ed)                                                                  \
    ",\"total_duration\":" #total ",\"load_duration\":" #load ",\"prompt_eval_count\":" #pec                    \
    ",\"prompt_eval_duration\":" #ped ",\"eval_count\":" #ec ",\"eval_duration\":" #ed
#define DONE(reason, metrics) HEAD MSG("\"\"") ",\"done\":true,\"done_reason\":\"" reason "\"" metrics "}\n"
#define GDONE(reason, metrics) HEAD "\"response\":\"\",\"done\":true,\"done_reason\":\"" reason "\"" metrics "}\n"

#define U(in, out) {in, out, -1, -1, -1, -1, -1, -1}
#define EV_TEXT(s) {.kind = SY_EV_TEXT, .text = SS(s)}
#define EV_THINK(s) {.kind = SY_EV_THINKING, .text = SS(s)}
#define EV_CALL(i, id_, name_, args_) {.kind = SY_EV_TOOL_CALL, .index = (i), .id = SS(id_), .name = SS(name_), .args = SS(args_)}
#define EV_FINISH(f) {.kind = SY_EV_FINISH, .finish = (f)}
#define EV_USAGE(...) {.kind = SY_EV_USAGE, .usage = __VA_ARGS__}
#define EV_START {.kind = SY_EV_START, .id = SS("chatcmpl-1")}

typedef struct step {
    sy_ev_t ev;
    uint64_t at; /* the monotonic clock while the event is fed */
} step_t;

enum { END_OK = 0, END_ERROR = 1 };

typedef struct stream_case {
    const char *name;
    sy_op_t op;
    step_t steps[8];
    size_t n;
    int end; /* END_OK: end(); END_ERROR: error() with "upstream closed" */
    uint64_t end_at;
    const char *want;
} stream_case_t;

static const stream_case_t stream_cases[] = {
    {"chat text, usage after the finish (OpenAI order)",
     SY_OP_CHAT,
     {{EV_START, 1100},
      {EV_TEXT("Hel"), 1500},
      {EV_TEXT("lo \"you\"\n"), 1600},
      {EV_FINISH(SY_FINISH_STOP), 1700},
      {EV_USAGE(U(10, 2)), 1800}},
     5,
     END_OK,
     5000,
     CHUNK("\"Hel\"") CHUNK("\"lo \\\"you\\\"\\n\"") DONE("stop", METRICS(4000, 0, 10, 500, 2, 3500))},
    {"an Ollama upstream's own durations win",
     SY_OP_CHAT,
     {{EV_TEXT("x"), 2000},
      {EV_FINISH(SY_FINISH_STOP), 2000},
      {EV_USAGE({26, 298, -1, -1, 9000, 100, 200, 8000}), 2000}},
     3,
     END_OK,
     3000,
     CHUNK("\"x\"") DONE("stop", METRICS(9000, 100, 26, 200, 298, 8000))},
    {"later usage fields win, per field",
     SY_OP_CHAT,
     {{EV_USAGE(U(5, -1)), 1000}, {EV_USAGE(U(-1, 9)), 1000}, {EV_USAGE(U(6, -1)), 1000}},
     3,
     END_OK,
     1000,
     DONE("stop", METRICS(0, 0, 6, 0, 9, 0))},
    {"thinking then text, cut by the length limit, counts estimated",
     SY_OP_CHAT,
     {{EV_THINK("hmm"), 1200}, {EV_TEXT(""), 1250}, {EV_TEXT("Hi!!!"), 1300}, {EV_FINISH(SY_FINISH_LENGTH), 1400}},
     4,
     END_OK,
     2000,
     HEAD "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hmm\"},\"done\":false}\n" CHUNK(
         "\"Hi!!!\"") DONE("length", METRICS(1000, 0, 0, 200, 2, 800))},
    {"generate: response and thinking",
     SY_OP_GENERATE,
     {{EV_THINK("t"), 1000}, {EV_TEXT("Hi"), 1000}, {EV_FINISH(SY_FINISH_STOP), 1000}},
     3,
     END_OK,
     1000,
     HEAD "\"response\":\"\",\"thinking\":\"t\",\"done\":false}\n" HEAD
     "\"response\":\"Hi\",\"done\":false}\n" GDONE("stop", METRICS(0, 0, 0, 0, 1, 0))},
    {"tool calls: buffered, then whole in one chunk; an id made where the upstream gave none",
     SY_OP_CHAT,
     {{EV_START, 1000},
      {EV_CALL(0, "call_a", "get_weather", "{\"city\":"), 1100},
      {EV_CALL(1, "", "now", ""), 1200},
      {EV_CALL(0, "", "", " \"Paris\"}"), 1300},
      {EV_FINISH(SY_FINISH_TOOL_CALLS), 1400},
      {EV_USAGE(U(5, 7)), 1500}},
     6,
     END_OK,
     3000,
     HEAD MSG("\"\",\"tool_calls\":[{\"id\":\"call_a\",\"function\":{\"index\":0,\"name\":\"get_weather\","
              "\"arguments\":{\"city\":\"Paris\"}}},{\"id\":\"call_1_req1\",\"function\":{\"index\":1,"
              "\"name\":\"now\",\"arguments\":{}}}]") ",\"done\":false}\n" DONE("stop",
                                                                                METRICS(2000, 0, 5, 100, 7, 1900))},
    {"text before a call; pretty-printed arguments are compacted; no FINISH: flushed at the end",
     SY_OP_CHAT,
     {{EV_TEXT("Let me check."), 1000},
      {EV_CALL(0, "toolu_1", "f", "{\n  \"a\": [1, 2],\n  \"s\": \"x y\\n\"\n}"), 1000}},
     2,
     END_OK,
     1000,
     CHUNK("\"Let me check.\"") HEAD MSG(
         "\"\",\"tool_calls\":[{\"id\":\"toolu_1\",\"function\":{\"index\":0,\"name\":\"f\","
         "\"arguments\":{\"a\":[1,2],\"s\":\"x y\\n\"}}}]") ",\"done\":false}\n" DONE("stop",
                                                                                     METRICS(0, 0, 0, 0, 12, 0))},
    {"generate: tool calls at the top level",
     SY_OP_GENERATE,
     {{EV_CALL(0, "c", "f", "{}"), 1000}, {EV_FINISH(SY_FINISH_TOOL_CALLS), 1000}},
     2,
     END_OK,
     1000,
     HEAD "\"response\":\"\",\"done\":false,\"tool_calls\":[{\"id\":\"c\",\"function\":{\"index\":0,\"name\":\"f\","
          "\"arguments\":{}}}]}\n" GDONE("stop", METRICS(0, 0, 0, 0, 1, 0))},
    {"arguments that are not an object: the error line ends the stream",
     SY_OP_CHAT,
     {{EV_CALL(0, "c", "f", "{\"a\":"), 1000}, {EV_FINISH(SY_FINISH_TOOL_CALLS), 1000}, {EV_TEXT("late"), 1000}},
     3,
     END_OK,
     1000,
     "{\"error\":\"the upstream's arguments for tool call 0 (f) are not a JSON object\"}\n"},
    {"arguments that are an array",
     SY_OP_CHAT,
     {{EV_CALL(0, "c", "f", "[1]"), 1000}},
     1,
     END_OK,
     1000,
     "{\"error\":\"the upstream's arguments for tool call 0 (f) are not a JSON object\"}\n"},
    {"a call index past the limit",
     SY_OP_CHAT,
     {{EV_TEXT("a"), 1000}, {EV_CALL(128, "c", "f", "{}"), 1000}, {EV_CALL(0, "c", "f", "{}"), 1000}},
     3,
     END_OK,
     1000,
     CHUNK("\"a\"") "{\"error\":\"the upstream sent more tool calls than 128\"}\n"},
    {"the upstream fails mid-stream: one error line",
     SY_OP_CHAT,
     {{EV_TEXT("par"), 1000}, {EV_CALL(0, "c", "f", "{"), 1000}},
     2,
     END_ERROR,
     1000,
     CHUNK("\"par\"") "{\"error\":\"upstream closed\"}\n"},
    {"an ERROR event, then the pipeline's error(): written once",
     SY_OP_CHAT,
     {{EV_TEXT("par"), 1000}, {{.kind = SY_EV_ERROR}, 1000}},
     2,
     END_ERROR,
     1000,
     CHUNK("\"par\"") "{\"error\":\"the upstream reported an error\"}\n"},
    {"an empty stream still ends with its done object",
     SY_OP_CHAT,
     {{EV_START, 1000}},
     1,
     END_OK,
     1500,
     DONE("stop", METRICS(500, 0, 0, 0, 0, 500))},
};

static void enc_init(sy_enc_t *e, sy_creq_t *q, sy_op_t op)
{
    sy_creq_init(q, op, SY_PROTO_OLLAMA);
    memset(e, 0, sizeof(*e));
    e->q = q;
    e->model = "m";
    e->id = "req1";
    e->start_ns = 1000;
    e->open_block = -1;
    sy_usage_init(&e->usage);
}

Test(ollama, stream_golden)
{
    for (size_t c = 0; c < sizeof(stream_cases) / sizeof(stream_cases[0]); c++) {
        const stream_case_t *k = &stream_cases[c];
        sy_enc_t e;
        sy_creq_t q;
        struct evbuffer *out = evbuffer_new();
        enc_init(&e, &q, k->op);
        for (size_t i = 0; i < k->n; i++) {
            mono_ns = k->steps[i].at;
            sy_ingress_ollama.event(&e, &k->steps[i].ev, out);
        }
        mono_ns = k->end_at;
        if (k->end == END_ERROR) {
            sy_error_t err;
            sy_error_set(&err, SY_EUPCLOSED, NULL, "upstream closed");
            sy_ingress_ollama.error(&e, &err, out);
        }
        sy_ingress_ollama.end(&e, out); /* after an error: writes nothing */
        const char *got = text_of(out);
        cr_assert_str_eq(got, k->want, "%s", k->name);
        assert_ndjson(got);
        cr_assert_null(e.own, "%s: the buffered calls are freed", k->name);
        evbuffer_free(out);
    }
}

Test(ollama, stream_metadata)
{
    cr_assert_eq(sy_ingress_ollama.proto, SY_PROTO_OLLAMA);
    cr_assert_str_eq(sy_ingress_ollama.stream_type, "application/x-ndjson");
    cr_assert_eq(sy_ingress_ollama.keepalive, 0, "NDJSON has no comment lines");
    cr_assert_not_null(sy_ingress_ollama.embed);
}

Test(ollama, stream_prompt_estimate_and_measured_durations)
{
    sy_enc_t e;
    sy_creq_t q;
    sy_msg_t m = {.role = SY_ROLE_USER};
    sy_part_t p = {.kind = SY_PART_TEXT, .text = S("0123456789abcdef")};
    struct evbuffer *out = evbuffer_new();
    enc_init(&e, &q, SY_OP_CHAT);
    m.parts = &p;
    m.n_parts = 1;
    q.msgs = &m;
    q.n_msgs = 1;
    sy_ev_t t = EV_TEXT("abcdefgh");
    mono_ns = 1250;
    sy_ingress_ollama.event(&e, &t, out);
    mono_ns = 2000;
    sy_ingress_ollama.end(&e, out);
    cr_assert_str_eq(text_of(out), CHUNK("\"abcdefgh\"") DONE("stop", METRICS(1000, 0, 5, 250, 2, 750)),
                     "prompt: (4 + 16) / 4 tokens; answer 8 / 4");
    evbuffer_free(out);
}

Test(ollama, stream_many_pieces_of_one_call)
{
    /* arguments streamed a byte at a time grow the buffer many times */
    static const char args[] = "{\"text\":\"the quick brown fox jumps over the lazy dog, again and again\"}";
    sy_enc_t e;
    sy_creq_t q;
    struct evbuffer *out = evbuffer_new();
    enc_init(&e, &q, SY_OP_CHAT);
    for (int round = 0; round < 40; round++) {
        for (size_t i = 0; i < sizeof(args) - 1; i++) {
            sy_ev_t ev = {.kind = SY_EV_TOOL_CALL, .index = round, .args = {args + i, 1}};
            if (i == 0)
                ev.name = S("echo");
            sy_ingress_ollama.event(&e, &ev, out);
        }
    }
    cr_assert_eq(evbuffer_get_length(out), 0, "nothing before the calls are whole");
    sy_ev_t fin = EV_FINISH(SY_FINISH_TOOL_CALLS);
    sy_ingress_ollama.event(&e, &fin, out);
    const char *got = text_of(out);
    assert_ndjson(got);
    cr_assert(strstr(got, "{\"id\":\"call_39_req1\",\"function\":{\"index\":39,\"name\":\"echo\",\"arguments\":{"
                          "\"text\":\"the quick brown fox jumps over the lazy dog, again and again\"}}}]}"));
    cr_assert_null(e.own);
    evbuffer_free(out);
}

Test(ollama, stream_client_gone_leaves_own_to_free)
{
    /* the pipeline frees whatever own is left (free()) when the client
     * leaves before end()/error() */
    sy_enc_t e;
    sy_creq_t q;
    struct evbuffer *out = evbuffer_new();
    enc_init(&e, &q, SY_OP_CHAT);
    sy_ev_t ev = EV_CALL(0, "c", "f", "{\"a\":1");
    sy_ingress_ollama.event(&e, &ev, out);
    cr_assert_not_null(e.own);
    free(e.own);
    evbuffer_free(out);
}

/* ---- the encoder: whole answers ----------------------------------------- */

static void feed_cresp(sy_cresp_t *c, const sy_ev_t *evs, size_t n)
{
    sy_cresp_init(c, 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(sy_cresp_add(c, &evs[i]), 0);
}

Test(ollama, whole_chat)
{
    static const sy_ev_t evs[] = {
        EV_START,
        EV_THINK("t"),
        EV_TEXT("Hello"),
        EV_CALL(0, "", "f", "{\"x\": 1}"),
        EV_FINISH(SY_FINISH_TOOL_CALLS),
        EV_USAGE(U(3, 4)),
    };
    sy_cresp_t c;
    sy_enc_t e;
    sy_creq_t q;
    struct evbuffer *out = evbuffer_new();
    feed_cresp(&c, evs, sizeof(evs) / sizeof(evs[0]));
    enc_init(&e, &q, SY_OP_CHAT);
    mono_ns = 2000;
    sy_ingress_ollama.whole(&e, &c, out);
    const char *got = text_of(out);
    cr_assert_str_eq(got, HEAD MSG("\"Hello\",\"thinking\":\"t\",\"tool_calls\":[{\"id\":\"call_0_req1\","
                                   "\"function\":{\"index\":0,\"name\":\"f\",\"arguments\":{\"x\":1}}}]")
                     ",\"done\":true,\"done_reason\":\"stop\"" METRICS(1000, 0, 3, 0, 4, 1000) "}");
    assert_json(got);
    sy_cresp_release(&c);
    evbuffer_free(out);
}

Test(ollama, whole_generate_estimates)
{
    static const sy_ev_t evs[] = {EV_TEXT("Hi"), EV_FINISH(SY_FINISH_LENGTH)};
    sy_cresp_t c;
    sy_enc_t e;
    sy_creq_t q;
    sy_msg_t m = {.role = SY_ROLE_USER};
    sy_part_t p = {.kind = SY_PART_TEXT, .text = S("abcd")};
    struct evbuffer *out = evbuffer_new();
    feed_cresp(&c, evs, 2);
    enc_init(&e, &q, SY_OP_GENERATE);
    m.parts = &p;
    m.n_parts = 1;
    q.msgs = &m;
    q.n_msgs = 1;
    mono_ns = 1000;
    sy_ingress_ollama.whole(&e, &c, out);
    const char *got = text_of(out);
    cr_assert_str_eq(got, HEAD "\"response\":\"Hi\",\"done\":true,\"done_reason\":\"length\"" METRICS(0, 0, 2, 0, 1,
                                                                                                       0) "}");
    assert_json(got);
    sy_cresp_release(&c);
    evbuffer_free(out);
}

Test(ollama, whole_empty_and_bad_arguments)
{
    sy_cresp_t c;
    sy_enc_t e;
    sy_creq_t q;
    struct evbuffer *out = evbuffer_new();
    enc_init(&e, &q, SY_OP_CHAT);
    mono_ns = 1000;
    feed_cresp(&c, NULL, 0);
    sy_ingress_ollama.whole(&e, &c, out);
    cr_assert_str_eq(text_of(out), HEAD MSG("\"\"") ",\"done\":true,\"done_reason\":\"stop\"" METRICS(0, 0, 0, 0, 0,
                                                                                                       0) "}");
    sy_cresp_release(&c);

    static const sy_ev_t bad[] = {EV_TEXT("x"), EV_CALL(0, "id", "g", "not json")};
    feed_cresp(&c, bad, 2);
    sy_ingress_ollama.whole(&e, &c, out);
    const char *got = text_of(out);
    cr_assert_str_eq(got, "{\"error\":\"the upstream's arguments for tool call 0 (g) are not a JSON object\"}");
    assert_json(got);
    sy_cresp_release(&c);
    evbuffer_free(out);
}

/* ---- the encoder: embeddings -------------------------------------------- */

Test(ollama, embed_both_shapes)
{
    float a[] = {0.1f, -0.5f, 1e-10f, FLT_MAX, 0.0f, 1.0f / 3, 123456.789f};
    float b[] = {1.0f};
    sy_vec_t vecs[] = {{a, sizeof(a) / sizeof(a[0])}, {b, 1}};
    sy_embed_t m = {vecs, 2, 7};
    sy_enc_t e;
    sy_creq_t q;
    struct evbuffer *out = evbuffer_new();
    enc_init(&e, &q, SY_OP_EMBED);
    mono_ns = 4000;
    sy_ingress_ollama.embed(&e, &m, out);
    const char *got = text_of(out);
    cr_assert_str_eq(got, "{\"model\":\"m\",\"embeddings\":[[0.1,-0.5,1e-10,3.4028235e+38,0,0.33333334,123456.79],[1]],"
                          "\"total_duration\":3000,\"load_duration\":0,\"prompt_eval_count\":7}");
    assert_json(got);

    e.flags = SY_ENC_LEGACY_EMB;
    sy_ingress_ollama.embed(&e, &m, out);
    got = text_of(out);
    cr_assert_str_eq(got, "{\"embedding\":[0.1,-0.5,1e-10,3.4028235e+38,0,0.33333334,123456.79]}");
    assert_json(got);

    m.n_vecs = 0;
    sy_ingress_ollama.embed(&e, &m, out);
    cr_assert_str_eq(text_of(out), "{\"embedding\":[]}");
    evbuffer_free(out);
}

Test(ollama, embed_floats_read_back_exactly_and_estimate)
{
    enum { N = 2000 };
    static float v[N];
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) { /* a spread of magnitudes and signs */
        x = x * 1664525u + 1013904223u;
        v[i] = (float)((double)(int32_t)x / 2147483648.0 * pow(10.0, (double)(i % 40) - 20.0));
    }
    sy_vec_t vec = {v, N};
    sy_embed_t m = {&vec, 1, -1};
    sy_enc_t e;
    sy_creq_t q;
    sy_str_t inputs[] = {S("twelve bytes")};
    struct evbuffer *out = evbuffer_new();
    enc_init(&e, &q, SY_OP_EMBED);
    q.inputs = inputs;
    q.n_inputs = 1;
    mono_ns = 1000;
    sy_ingress_ollama.embed(&e, &m, out);
    size_t n = evbuffer_get_length(out);
    char *s = malloc(n + 1);
    evbuffer_remove(out, s, n);
    s[n] = '\0';
    assert_json(s);
    cr_assert(strstr(s, "\"prompt_eval_count\":3}"), "estimated from the input when the upstream said nothing");
    char *p = strstr(s, "[[") + 2;
    for (int i = 0; i < N; i++) {
        char *end;
        float f = strtof(p, &end);
        cr_assert_eq(f, v[i], "element %d: %.*s", i, (int)(end - p), p);
        p = end + 1;
    }
    free(s);
    evbuffer_free(out);
}

/* ---- the model listing -------------------------------------------------- */

static sy_provider_conf_t providers[] = {
    {.name = "local", .type = SY_PROVIDER_OLLAMA, .base_url = "http://127.0.0.1:11434"},
    {.name = "cloud", .type = SY_PROVIDER_OPENAI, .base_url = "https://api.example.invalid/v1"},
};
static sy_deployment_conf_t fast_deps[] = {{.provider = "local", .provider_index = 0, .model = "llama3.2", .weight = 1}};
static sy_deployment_conf_t gpt_deps[] = {{.provider = "cloud", .provider_index = 1, .model = "gpt-4o", .weight = 1}};
static sy_model_conf_t models[] = {
    {.name = "fast", .deployments = fast_deps, .n_deployments = 1},
    {.name = "gpt \"4\"", .deployments = gpt_deps, .n_deployments = 1},
};
static sy_config_t cfg = {.providers = providers, .n_providers = 2, .models = models, .n_models = 2};

#define DETAILS(fam)                                                                                            \
    "\"details\":{\"parent_model\":\"\",\"format\":\"\",\"family\":\"" fam "\",\"families\":[\"" fam           \
    "\"],\"parameter_size\":\"\",\"quantization_level\":\"\"}"

/* The digests are part of the contract: clients key caches on them. */
static const char *digest_of(const char *json, const char *after)
{
    static char d[65];
    const char *p = strstr(strstr(json, after), "\"digest\":\"") + 10;
    memcpy(d, p, 64);
    d[64] = '\0';
    return d;
}

Test(ollama, tags)
{
    struct evbuffer *out = evbuffer_new();
    sy__ollama_tags(&cfg, NULL, 1721680408, out);
    const char *got = text_of(out);
    assert_json(got);
    char want[2048];
    char d1[65], d2[65];
    snprintf(d1, sizeof(d1), "%s", digest_of(got, "\"fast\""));
    snprintf(d2, sizeof(d2), "%s", digest_of(got, "\"gpt \\\"4\\\"\""));
    snprintf(want, sizeof(want),
             "{\"models\":["
             "{\"name\":\"fast\",\"model\":\"fast\",\"modified_at\":\"2024-07-22T20:33:28Z\",\"size\":0,"
             "\"digest\":\"%s\"," DETAILS("ollama") "},"
             "{\"name\":\"gpt \\\"4\\\"\",\"model\":\"gpt \\\"4\\\"\",\"modified_at\":\"2024-07-22T20:33:28Z\","
             "\"size\":0,\"digest\":\"%s\"," DETAILS("openai") "}]}",
             d1, d2);
    cr_assert_str_eq(got, want);
    cr_assert_str_eq(d1, "ef5a4a7916c5f26f94f7bb2f4e4eeedeabe29e30a0431fb95bcc88230a624c20", "stable digest");
    cr_assert_str_neq(d1, d2);
    for (int i = 0; i < 64; i++)
        cr_assert(strchr("0123456789abcdef", d2[i]));

    sy_config_t none = {0};
    sy__ollama_tags(&none, NULL, 0, out);
    cr_assert_str_eq(text_of(out), "{\"models\":[]}");
    evbuffer_free(out);
}

Test(ollama, ps)
{
    struct evbuffer *out = evbuffer_new();
    sy__ollama_ps(&cfg, NULL, out);
    const char *got = text_of(out);
    assert_json(got);
    cr_assert(strstr(got, "{\"models\":[{\"name\":\"fast\",\"model\":\"fast\",\"size\":0,\"digest\":\""));
    cr_assert(strstr(got, DETAILS("ollama") ",\"expires_at\":\"2024-07-22T20:38:28.123648Z\",\"size_vram\":0,"
                                            "\"context_length\":131072}"),
              "%s", got);
    evbuffer_free(out);
}

Test(ollama, show)
{
    static const char want_fast[] =
        "{\"modelfile\":\"# Served by Switchyard\\nFROM fast\\nTEMPLATE {{ .Prompt }}\\n\",\"parameters\":\"\","
        "\"template\":\"{{ .Prompt }}\"," DETAILS("ollama") ",\"model_info\":{\"general.architecture\":\"ollama\","
        "\"general.basename\":\"fast\",\"ollama.context_length\":131072},\"capabilities\":[\"completion\",\"tools\"],"
        "\"modified_at\":\"2024-07-22T20:33:28Z\"}";
    struct evbuffer *out = evbuffer_new();
    cr_assert_eq(sy__ollama_show(&cfg, NULL, 1721680408, "fast", out), 0);
    const char *got = text_of(out);
    cr_assert_str_eq(got, want_fast);
    assert_json(got);

    cr_assert_eq(sy__ollama_show(&cfg, NULL, 1721680408, "fast:latest", out), 0, "x:latest is x");
    cr_assert_str_eq(text_of(out), want_fast);

    cr_assert_eq(sy__ollama_show(&cfg, NULL, 0, "cloud/gpt-4.1", out), 0, "a direct provider/model address");
    got = text_of(out);
    assert_json(got);
    cr_assert(strstr(got, "\"general.architecture\":\"openai\""));
    cr_assert(strstr(got, "FROM cloud/gpt-4.1"));

    cr_assert_eq(sy__ollama_show(&cfg, NULL, 0, "gpt \"4\"", out), 0);
    assert_json(text_of(out));

    /* a configured model whose deployments cannot be picked is still known
     * (the call itself then says why) */
    sy_deployment_conf_t off_deps[] = {{.provider = "local", .provider_index = 0, .model = "x", .weight = 0}};
    sy_model_conf_t off = {.name = "off", .deployments = off_deps, .n_deployments = 1};
    sy_config_t cfg_off = {.providers = providers, .n_providers = 2, .models = &off, .n_models = 1};
    cr_assert_eq(sy__ollama_show(&cfg_off, NULL, 0, "off", out), 0);
    assert_json(text_of(out));

    cr_assert_eq(sy__ollama_show(&cfg, NULL, 0, "nope", out), -1);
    cr_assert_eq(sy__ollama_show(&cfg, NULL, 0, "nope:latest", out), -1);
    cr_assert_eq(sy__ollama_show(&cfg, NULL, 0, "fast:7b", out), -1, "only :latest is an alias");
    cr_assert_eq(evbuffer_get_length(out), 0, "nothing written for an unknown model");
    evbuffer_free(out);
}
