/*
 * anthropic_test.c - unit tests for src/api/anthropic.c: Messages bodies
 * decoded into the canonical request (system prompts, every content block,
 * tool_use and tool_result mapping, images, tool_choice, and a golden table
 * of refusals naming their field), canonical events encoded as the exact
 * named SSE events Anthropic's SDKs read, whole message objects, and the
 * count_tokens estimate. Every data: payload is checked with
 * sy_json_validate and its "type" against the event's name.
 */
#include "api/api.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
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

TestSuite(anthropic_decode, .init = setup, .fini = teardown);
TestSuite(anthropic_encode, .init = setup, .fini = teardown);
TestSuite(anthropic_count, .init = setup, .fini = teardown);

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

static sy_err_t decode(const char *body, sy_creq_t *q, sy_error_t *err)
{
    memset(err, 0, sizeof(*err));
    return sy_api_anthropic_decode(body, strlen(body), &A, q, err);
}

static void decode_ok(const char *body, sy_creq_t *q)
{
    sy_error_t err;
    sy_err_t rc = decode(body, q, &err);
    cr_assert_eq(rc, SY_OK, "decode failed: %s (param %s)", err.message, err.param);
    cr_assert_eq(q->op, SY_OP_CHAT);
    cr_assert_eq(q->proto, SY_PROTO_ANTHROPIC);
}

/* A body around the given messages array text and extra top-level members. */
#define BODY(msgs, extra) "{\"model\":\"claude-x\",\"max_tokens\":64,\"messages\":" msgs extra "}"
#define HI "[{\"role\":\"user\",\"content\":\"hi\"}]"

static void assert_json(const char *s, size_t n)
{
    size_t off;
    const char *msg;
    cr_assert_eq(sy_json_validate(s, n, &off, &msg), 0, "invalid JSON at %zu (%s): %.*s", off, msg, (int)n, s);
}

static char *take(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

/* Every event is "event: <name>\ndata: <JSON>\n\n", and the JSON's "type"
 * is the event's name, as Anthropic sends them. */
static void assert_sse(const char *s)
{
    while (*s) {
        cr_assert(strncmp(s, "event: ", 7) == 0, "not an event line: %s", s);
        s += 7;
        const char *nl = strchr(s, '\n');
        cr_assert_not_null(nl);
        char name[64];
        size_t nn = (size_t)(nl - s);
        cr_assert(nn < sizeof(name));
        memcpy(name, s, nn);
        name[nn] = '\0';
        s = nl + 1;
        cr_assert(strncmp(s, "data: ", 6) == 0, "no data line after event %s: %s", name, s);
        s += 6;
        const char *end = strstr(s, "\n\n");
        cr_assert_not_null(end, "event without its blank line");
        size_t n = (size_t)(end - s);
        assert_json(s, n);
        sy_jval_t o = sy_json_value(s, n), t;
        cr_assert_eq(o.type, SY_JOBJECT);
        cr_assert(sy_json_get(&o, "type", &t) && t.type == SY_JSTRING);
        char tbuf[64];
        cr_assert(sy_json_string(&t, tbuf, sizeof(tbuf)) >= 0);
        cr_assert_str_eq(tbuf, name, "data type %s under event %s", tbuf, name);
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
    e.model = "claude-x";
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

static sy_ev_t ev_usage(int64_t in, int64_t out, int64_t cache_read)
{
    sy_ev_t ev = ev_kind(SY_EV_USAGE);
    ev.usage.input_tokens = in;
    ev.usage.output_tokens = out;
    ev.usage.cache_read_tokens = cache_read;
    return ev;
}

static void run(sy_enc_t *e, const sy_ev_t *evs, size_t n, struct evbuffer *b)
{
    for (size_t i = 0; i < n; i++)
        sy_ingress_anthropic.event(e, &evs[i], b);
    sy_ingress_anthropic.end(e, b);
}

#define RUN(e, evs, b) run((e), (evs), sizeof(evs) / sizeof((evs)[0]), (b))

/* ---- decoding ------------------------------------------------------------ */

Test(anthropic_decode, every_top_level_field)
{
    sy_creq_t q;
    decode_ok("{\"model\":\"claude-x\",\"max_tokens\":1024,\"messages\":" HI ",\"stream\":true,"
              "\"temperature\":0.7,\"top_p\":0.9,\"top_k\":40,\"stop_sequences\":[\"END\",\"\\n\\nHuman:\"],"
              "\"metadata\":{\"user_id\":\"u-42\"},\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048},"
              "\"service_tier\":\"auto\",\"unknown\":{\"x\":[1]}}",
              &q);
    ASSERT_STR(q.model, "claude-x");
    cr_assert_eq(q.max_tokens, 1024);
    cr_assert_eq(q.stream, 1);
    ASSERT_RAW(q.temperature, "0.7");
    ASSERT_RAW(q.top_p, "0.9");
    ASSERT_RAW(q.top_k, "40");
    cr_assert_eq(q.n_stop, 2);
    ASSERT_STR(q.stop[0], "END");
    ASSERT_STR(q.stop[1], "\n\nHuman:");
    ASSERT_STR(q.user, "u-42");
    ASSERT_RAW(q.think, "true");
    cr_assert_eq(q.tool_choice, SY_TOOLS_DEFAULT);
    cr_assert_eq(q.parallel_tool_calls, -1);
    cr_assert_eq(q.n_tools, 0);
    cr_assert_eq(q.n_msgs, 1);
    cr_assert_eq(q.msgs[0].role, SY_ROLE_USER);
    cr_assert_eq(q.msgs[0].n_parts, 1);
    cr_assert_eq(q.msgs[0].parts[0].kind, SY_PART_TEXT);
    ASSERT_STR(q.msgs[0].parts[0].text, "hi");
}

Test(anthropic_decode, defaults_and_nulls_mean_unsaid)
{
    sy_creq_t q;
    decode_ok(BODY(HI, ",\"stream\":null,\"temperature\":null,\"system\":null,\"tools\":null,\"tool_choice\":null,"
                       "\"metadata\":{\"user_id\":null},\"thinking\":{\"type\":\"disabled\"}"),
              &q);
    cr_assert_eq(q.stream, 0);
    cr_assert_null(q.temperature.p);
    cr_assert_null(q.top_p.p);
    cr_assert_null(q.top_k.p);
    cr_assert_eq(q.n_stop, 0);
    cr_assert_eq(q.user.len, 0);
    ASSERT_RAW(q.think, "false");
    cr_assert_eq(q.n_msgs, 1, "no system message for a null system");
    cr_assert_eq(q.has_seed, 0);
    cr_assert_eq(q.format, SY_FORMAT_TEXT);
}

Test(anthropic_decode, system_string_and_blocks)
{
    static const struct {
        const char *system;
        size_t n_parts; /* 0: no system message */
        const char *p0, *p1;
    } rows[] = {
        {"\"Be brief.\"", 1, "Be brief.", NULL},
        {"\"\"", 0, NULL, NULL},
        {"[{\"type\":\"text\",\"text\":\"One.\"},{\"type\":\"text\",\"text\":\"Two.\","
         "\"cache_control\":{\"type\":\"ephemeral\"}}]",
         2, "One.", "Two."},
        {"[{\"type\":\"text\",\"text\":\"\"}]", 0, NULL, NULL},
        {"[]", 0, NULL, NULL},
    };
    char body[512];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sy_creq_t q;
        snprintf(body, sizeof(body), BODY(HI, ",\"system\":%s"), rows[i].system);
        decode_ok(body, &q);
        if (!rows[i].n_parts) {
            cr_assert_eq(q.n_msgs, 1, "row %zu", i);
            cr_assert_eq(q.msgs[0].role, SY_ROLE_USER);
            continue;
        }
        cr_assert_eq(q.n_msgs, 2, "row %zu", i);
        cr_assert_eq(q.msgs[0].role, SY_ROLE_SYSTEM, "the system prompt leads");
        cr_assert_eq(q.msgs[0].n_parts, rows[i].n_parts, "row %zu", i);
        ASSERT_STR(q.msgs[0].parts[0].text, rows[i].p0);
        if (rows[i].p1)
            ASSERT_STR(q.msgs[0].parts[1].text, rows[i].p1);
        cr_assert_eq(q.msgs[1].role, SY_ROLE_USER);
    }
}

Test(anthropic_decode, content_blocks_text_and_images)
{
    sy_creq_t q;
    decode_ok(BODY("[{\"role\":\"user\",\"content\":["
                   "{\"type\":\"text\",\"text\":\"Look:\",\"cache_control\":{\"type\":\"ephemeral\"}},"
                   "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/jpeg\","
                   "\"data\":\"/9j/4AAQ\"}},"
                   "{\"type\":\"text\",\"text\":\"\"},"
                   "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://e.x/a.png\"}},"
                   "{\"type\":\"text\",\"text\":\"caf\\u00e9?\"}]},"
                   "{\"role\":\"assistant\",\"content\":\"A cat.\"},"
                   "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"More\","
                   "\"citations\":null}]}]",
                   ""),
              &q);
    cr_assert_eq(q.n_msgs, 3);
    const sy_msg_t *u = &q.msgs[0];
    cr_assert_eq(u->role, SY_ROLE_USER);
    cr_assert_eq(u->n_parts, 4, "the empty text block is left out");
    cr_assert_eq(u->parts[0].kind, SY_PART_TEXT);
    ASSERT_STR(u->parts[0].text, "Look:");
    cr_assert_eq(u->parts[1].kind, SY_PART_IMAGE);
    ASSERT_STR(u->parts[1].media_type, "image/jpeg");
    ASSERT_STR(u->parts[1].data, "/9j/4AAQ");
    cr_assert_eq(u->parts[1].url.len, 0);
    cr_assert_eq(u->parts[2].kind, SY_PART_IMAGE);
    ASSERT_STR(u->parts[2].url, "https://e.x/a.png");
    cr_assert_eq(u->parts[2].data.len, 0);
    ASSERT_STR(u->parts[3].text, "caf\xc3\xa9?");
    cr_assert_eq(q.msgs[1].role, SY_ROLE_ASSISTANT);
    ASSERT_STR(q.msgs[1].parts[0].text, "A cat.");
    ASSERT_STR(q.msgs[2].parts[0].text, "More");
}

Test(anthropic_decode, tool_use_and_tool_results)
{
    sy_creq_t q;
    decode_ok(BODY("[{\"role\":\"user\",\"content\":\"Weather in Paris and Rome?\"},"
                   "{\"role\":\"assistant\",\"content\":["
                   "{\"type\":\"thinking\",\"thinking\":\"Two cities\",\"signature\":\"sig\"},"
                   "{\"type\":\"redacted_thinking\",\"data\":\"xx\"},"
                   "{\"type\":\"thinking\",\"thinking\":\", two calls.\",\"signature\":\"sig2\"},"
                   "{\"type\":\"text\",\"text\":\"Checking.\"},"
                   "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"weather\",\"input\":{\"city\":\"Paris\"}},"
                   "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"weather\",\"input\":{}}]},"
                   "{\"role\":\"user\",\"content\":["
                   "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"18C\"},"
                   "{\"type\":\"text\",\"text\":\"Also:\"},"
                   "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_2\",\"is_error\":true,\"content\":["
                   "{\"type\":\"text\",\"text\":\"rate \"},{\"type\":\"text\",\"text\":\"limited\"},"
                   "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
                   "\"data\":\"iVBORw0KGgo\"}}]},"
                   "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_9\"},"
                   "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://e.x/map.png\"}}]},"
                   "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
                   "\"content\":\"again\"}]}]",
                   ""),
              &q);
    cr_assert_eq(q.n_msgs, 7);
    cr_assert_eq(q.msgs[0].role, SY_ROLE_USER);

    const sy_msg_t *a = &q.msgs[1];
    cr_assert_eq(a->role, SY_ROLE_ASSISTANT);
    ASSERT_STR(a->thinking, "Two cities, two calls.");
    cr_assert_eq(a->n_parts, 1);
    ASSERT_STR(a->parts[0].text, "Checking.");
    cr_assert_eq(a->n_calls, 2);
    ASSERT_STR(a->calls[0].id, "toolu_1");
    ASSERT_STR(a->calls[0].name, "weather");
    ASSERT_STR(a->calls[0].args, "{\"city\":\"Paris\"}");
    ASSERT_STR(a->calls[1].args, "{}");

    /* the tool results in order, then the user's other blocks */
    const sy_msg_t *t1 = &q.msgs[2], *t2 = &q.msgs[3], *t3 = &q.msgs[4], *u = &q.msgs[5];
    cr_assert_eq(t1->role, SY_ROLE_TOOL);
    ASSERT_STR(t1->tool_call_id, "toolu_1");
    ASSERT_STR(t1->tool_name, "weather");
    cr_assert_eq(t1->is_error, 0);
    cr_assert_eq(t1->n_parts, 1);
    ASSERT_STR(t1->parts[0].text, "18C");
    cr_assert_eq(t2->role, SY_ROLE_TOOL);
    ASSERT_STR(t2->tool_call_id, "toolu_2");
    cr_assert_eq(t2->is_error, 1);
    cr_assert_eq(t2->n_parts, 3);
    ASSERT_STR(t2->parts[0].text, "rate ");
    ASSERT_STR(t2->parts[1].text, "limited");
    cr_assert_eq(t2->parts[2].kind, SY_PART_IMAGE);
    ASSERT_STR(t2->parts[2].media_type, "image/png");
    cr_assert_eq(t3->role, SY_ROLE_TOOL);
    ASSERT_STR(t3->tool_call_id, "toolu_9");
    cr_assert_eq(t3->tool_name.len, 0, "no call with that id: no name");
    cr_assert_eq(t3->n_parts, 0, "a result without content");
    cr_assert_eq(u->role, SY_ROLE_USER);
    cr_assert_eq(u->n_parts, 2);
    ASSERT_STR(u->parts[0].text, "Also:");
    ASSERT_STR(u->parts[1].url, "https://e.x/map.png");

    /* a user message of tool results only makes no user message */
    cr_assert_eq(q.msgs[6].role, SY_ROLE_TOOL);
    ASSERT_STR(q.msgs[6].parts[0].text, "again");
    ASSERT_STR(q.msgs[6].tool_name, "weather");
}

Test(anthropic_decode, tools)
{
    sy_creq_t q;
    decode_ok(BODY(HI, ",\"tools\":[{\"name\":\"weather\",\"description\":\"Get the weather\","
                       "\"input_schema\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}},"
                       "\"cache_control\":{\"type\":\"ephemeral\"}},"
                       "{\"type\":\"custom\",\"name\":\"noop\",\"input_schema\":{\"type\":\"object\"}}]"),
              &q);
    cr_assert_eq(q.n_tools, 2);
    ASSERT_STR(q.tools[0].name, "weather");
    ASSERT_STR(q.tools[0].description, "Get the weather");
    ASSERT_RAW(q.tools[0].parameters, "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}");
    ASSERT_STR(q.tools[1].name, "noop");
    cr_assert_eq(q.tools[1].description.len, 0);
    ASSERT_RAW(q.tools[1].parameters, "{\"type\":\"object\"}");
}

Test(anthropic_decode, tool_choice_variants)
{
    static const struct {
        const char *choice;
        sy_tool_choice_t want;
        const char *name;
        int parallel;
    } rows[] = {
        {"{\"type\":\"auto\"}", SY_TOOLS_AUTO, NULL, -1},
        {"{\"type\":\"any\"}", SY_TOOLS_REQUIRED, NULL, -1},
        {"{\"type\":\"none\"}", SY_TOOLS_NONE, NULL, -1},
        {"{\"type\":\"tool\",\"name\":\"weather\"}", SY_TOOLS_NAMED, "weather", -1},
        {"{\"type\":\"auto\",\"disable_parallel_tool_use\":true}", SY_TOOLS_AUTO, NULL, 0},
        {"{\"type\":\"any\",\"disable_parallel_tool_use\":false}", SY_TOOLS_REQUIRED, NULL, 1},
        {"{\"type\":\"tool\",\"name\":\"w\",\"disable_parallel_tool_use\":true}", SY_TOOLS_NAMED, "w", 0},
    };
    char body[512];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sy_creq_t q;
        snprintf(body, sizeof(body), BODY(HI, ",\"tool_choice\":%s"), rows[i].choice);
        decode_ok(body, &q);
        cr_assert_eq(q.tool_choice, rows[i].want, "row %zu", i);
        if (rows[i].name)
            ASSERT_STR(q.tool_choice_name, rows[i].name);
        cr_assert_eq(q.parallel_tool_calls, rows[i].parallel, "row %zu", i);
    }
}

/* A refusal: the body, the error, the param and the whole message. */
Test(anthropic_decode, errors_name_their_field)
{
    static const struct {
        const char *body;
        sy_err_t code;
        const char *param, *message;
    } rows[] = {
        {"{\"model\":\"claude-x\",\"messages\":" HI "}", SY_EMISSING, "max_tokens", "max_tokens: Field required"},
        {"{\"max_tokens\":5,\"messages\":" HI "}", SY_EMISSING, "model", "model: Field required"},
        {"{\"model\":\"claude-x\",\"max_tokens\":5}", SY_EMISSING, "messages", "messages: Field required"},
        {"", SY_EBADJSON, "", "the request body is empty; expected a JSON object"},
        {"{\"model\":", SY_EBADJSON, "", NULL},
        {"[1]", SY_EBADREQ, "", "the request body must be a JSON object"},
        {"{\"model\":7,\"max_tokens\":5,\"messages\":" HI "}", SY_EBADFIELD, "model",
         "model: invalid type: expected a string, got integer"},
        {"{\"model\":\"\",\"max_tokens\":5,\"messages\":" HI "}", SY_EBADFIELD, "model", "model: must not be empty"},
        {"{\"model\":\"m\",\"max_tokens\":\"5\",\"messages\":" HI "}", SY_EBADFIELD, "max_tokens",
         "max_tokens: invalid type: expected an integer, got string"},
        {"{\"model\":\"m\",\"max_tokens\":1.5,\"messages\":" HI "}", SY_EBADFIELD, "max_tokens",
         "max_tokens: invalid type: expected an integer, got number"},
        {"{\"model\":\"m\",\"max_tokens\":0,\"messages\":" HI "}", SY_EBADFIELD, "max_tokens",
         "max_tokens: Input should be greater than or equal to 1"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":{}}", SY_EBADFIELD, "messages",
         "messages: invalid type: expected an array of messages, got object"},
        {"{\"model\":\"m\",\"model\":\"n\",\"max_tokens\":5,\"messages\":" HI "}", SY_EBADREQ, "model",
         "model: duplicate field"},
        {BODY("[]", ""), SY_EBADREQ, "messages", "messages: at least one message is required"},
        {BODY("[\"hi\"]", ""), SY_EBADFIELD, "messages.0", "messages.0: invalid type: expected an object, got string"},
        {BODY("[{\"content\":\"hi\"}]", ""), SY_EMISSING, "messages.0.role", "messages.0.role: Field required"},
        {BODY("[{\"role\":\"system\",\"content\":\"hi\"}]", ""), SY_EBADFIELD, "messages.0.role",
         "messages.0.role: Input should be 'user' or 'assistant' (a system prompt goes in the top-level 'system')"},
        {BODY("[{\"role\":\"user\"}]", ""), SY_EMISSING, "messages.0.content", "messages.0.content: Field required"},
        {BODY("[{\"role\":\"user\",\"content\":5}]", ""), SY_EBADFIELD, "messages.0.content",
         "messages.0.content: invalid type: expected a string or an array of content blocks, got integer"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]", ""), SY_EMISSING, "messages.0.content.0.type",
         "messages.0.content.0.type: Field required"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}]", ""), SY_EBADFIELD,
         "messages.0.content.0.text", "messages.0.content.0.text: invalid type: expected a string, got integer"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"document\",\"source\":{}}]}]", ""), SY_EBADREQ,
         "messages.0.content.0",
         "messages.0.content.0: content blocks of type 'document' are not supported (expected text, image, "
         "tool_use, tool_result or thinking)"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]}]", ""), SY_EMISSING,
         "messages.0.content.0.source", "messages.0.content.0.source: Field required"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\","
              "\"media_type\":\"image/png\"}}]}]",
              ""),
         SY_EMISSING, "messages.0.content.0.source.data", "messages.0.content.0.source.data: Field required"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\","
              "\"media_type\":3,\"data\":\"x\"}}]}]",
              ""),
         SY_EBADFIELD, "messages.0.content.0.source.media_type",
         "messages.0.content.0.source.media_type: invalid type: expected a string, got integer"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"file\","
              "\"file_id\":\"f\"}}]}]",
              ""),
         SY_EBADREQ, "messages.0.content.0.source.type",
         "messages.0.content.0.source.type: image sources of type 'file' are not supported (expected base64 or "
         "url)"},
        {BODY("[{\"role\":\"assistant\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"url\","
              "\"url\":\"https://e.x\"}}]}]",
              ""),
         SY_EBADREQ, "messages.0.content.0", "messages.0.content.0: images are allowed in user messages only"},
        {BODY("[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\","
              "\"input\":\"{}\"}]}]",
              ""),
         SY_EBADFIELD, "messages.0.content.0.input",
         "messages.0.content.0.input: invalid type: expected an object, got string"},
        {BODY("[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"input\":{}}]}]", ""),
         SY_EMISSING, "messages.0.content.0.name", "messages.0.content.0.name: Field required"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\","
              "\"input\":{}}]}]",
              ""),
         SY_EBADREQ, "messages.0.content.0",
         "messages.0.content.0: tool_use blocks are allowed in assistant messages only"},
        {BODY("[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\"}]}]", ""),
         SY_EBADREQ, "messages.0.content.0",
         "messages.0.content.0: tool_result blocks are allowed in user messages only"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\"}]}]", ""), SY_EMISSING,
         "messages.0.content.0.tool_use_id", "messages.0.content.0.tool_use_id: Field required"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\","
              "\"is_error\":\"yes\"}]}]",
              ""),
         SY_EBADFIELD, "messages.0.content.0.is_error",
         "messages.0.content.0.is_error: invalid type: expected a boolean, got string"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\","
              "\"content\":[{\"type\":\"document\"}]}]}]",
              ""),
         SY_EBADREQ, "messages.0.content.0.content.0",
         "messages.0.content.0.content.0: 'document' blocks are not supported inside a tool_result (expected text "
         "or image)"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":7}]}]",
              ""),
         SY_EBADFIELD, "messages.0.content.0.content",
         "messages.0.content.0.content: invalid type: expected a string or an array of content blocks, got integer"},
        {BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"x\"}]}]", ""), SY_EBADREQ,
         "messages.0.content.0", "messages.0.content.0: thinking blocks are allowed in assistant messages only"},
        {BODY(HI, ",\"system\":5"), SY_EBADFIELD, "system",
         "system: invalid type: expected a string or an array of text blocks, got integer"},
        {BODY(HI, ",\"system\":[{\"type\":\"image\"}]"), SY_EBADFIELD, "system.0",
         "system.0: system blocks must be of type 'text', not 'image'"},
        {BODY(HI, ",\"stop_sequences\":\"END\""), SY_EBADFIELD, "stop_sequences",
         "stop_sequences: invalid type: expected an array of strings, got string"},
        {BODY(HI, ",\"stop_sequences\":[\"a\",1]"), SY_EBADFIELD, "stop_sequences.1",
         "stop_sequences.1: invalid type: expected a string, got integer"},
        {BODY(HI, ",\"temperature\":\"hot\""), SY_EBADFIELD, "temperature",
         "temperature: invalid type: expected a number, got string"},
        {BODY(HI, ",\"top_k\":0.5"), SY_EBADFIELD, "top_k", "top_k: invalid type: expected an integer, got number"},
        {BODY(HI, ",\"stream\":\"yes\""), SY_EBADFIELD, "stream", "stream: invalid type: expected a boolean, got string"},
        {BODY(HI, ",\"tools\":{}"), SY_EBADFIELD, "tools", "tools: invalid type: expected an array of tools, got object"},
        {BODY(HI, ",\"tools\":[{\"name\":\"w\"}]"), SY_EMISSING, "tools.0.input_schema",
         "tools.0.input_schema: Field required"},
        {BODY(HI, ",\"tools\":[{\"input_schema\":{}}]"), SY_EMISSING, "tools.0.name", "tools.0.name: Field required"},
        {BODY(HI, ",\"tools\":[{\"name\":\"\",\"input_schema\":{}}]"), SY_EBADFIELD, "tools.0.name",
         "tools.0.name: must not be empty"},
        {BODY(HI, ",\"tools\":[{\"name\":\"w\",\"input_schema\":[]}]"), SY_EBADFIELD, "tools.0.input_schema",
         "tools.0.input_schema: invalid type: expected a JSON Schema object, got array"},
        {BODY(HI, ",\"tools\":[{\"name\":\"w\",\"description\":1,\"input_schema\":{}}]"), SY_EBADFIELD,
         "tools.0.description", "tools.0.description: invalid type: expected a string, got integer"},
        {BODY(HI, ",\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]"), SY_EBADREQ, "tools.0",
         "tools.0: server tools (type 'web_search_20250305') are not supported; only custom tools with an "
         "input_schema can be translated"},
        {BODY(HI, ",\"tool_choice\":\"auto\""), SY_EBADFIELD, "tool_choice",
         "tool_choice: invalid type: expected an object, got string"},
        {BODY(HI, ",\"tool_choice\":{}"), SY_EMISSING, "tool_choice.type", "tool_choice.type: Field required"},
        {BODY(HI, ",\"tool_choice\":{\"type\":\"required\"}"), SY_EBADFIELD, "tool_choice.type",
         "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none', not 'required'"},
        {BODY(HI, ",\"tool_choice\":{\"type\":\"tool\"}"), SY_EMISSING, "tool_choice.name",
         "tool_choice.name: Field required"},
        {BODY(HI, ",\"tool_choice\":{\"type\":\"auto\",\"disable_parallel_tool_use\":1}"), SY_EBADFIELD,
         "tool_choice.disable_parallel_tool_use",
         "tool_choice.disable_parallel_tool_use: invalid type: expected a boolean, got integer"},
        {BODY(HI, ",\"metadata\":{\"user_id\":5}"), SY_EBADFIELD, "metadata.user_id",
         "metadata.user_id: invalid type: expected a string, got integer"},
        {BODY(HI, ",\"metadata\":[]"), SY_EBADFIELD, "metadata",
         "metadata: invalid type: expected an object, got array"},
        {BODY(HI, ",\"thinking\":{\"type\":\"maybe\"}"), SY_EBADFIELD, "thinking.type",
         "thinking.type: Input should be 'enabled' or 'disabled', not 'maybe'"},
        {BODY(HI, ",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":\"lots\"}"), SY_EBADFIELD,
         "thinking.budget_tokens", "thinking.budget_tokens: invalid type: expected an integer, got string"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sy_creq_t q;
        sy_error_t err;
        sy_err_t rc = decode(rows[i].body, &q, &err);
        cr_assert_eq(rc, rows[i].code, "row %zu: %s: got %s (%s)", i, rows[i].body, sy_err_name(rc), err.message);
        cr_assert_eq(err.code, rows[i].code, "row %zu", i);
        cr_assert_str_eq(err.param, rows[i].param, "row %zu", i);
        if (rows[i].message)
            cr_assert_str_eq(err.message, rows[i].message, "row %zu", i);
        cr_assert_eq(sy_error_status(&err), 400, "row %zu", i);
    }
}

/* What the client receives for a missing max_tokens: Anthropic's own shape. */
Test(anthropic_decode, missing_max_tokens_in_anthropic_shape)
{
    sy_creq_t q;
    sy_error_t err;
    char buf[512];
    cr_assert_eq(decode("{\"model\":\"claude-x\",\"messages\":" HI "}", &q, &err), SY_EMISSING);
    size_t n = sy_error_json(SY_PROTO_ANTHROPIC, &err, buf, sizeof(buf));
    assert_json(buf, n);
    cr_assert_str_eq(buf, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
                          "\"message\":\"max_tokens: Field required\"}}");
    cr_assert_eq(sy_error_status(&err), 400);
}

Test(anthropic_decode, quoted_values_are_clipped_and_never_split)
{
    sy_creq_t q;
    sy_error_t err;
    /* 39 ASCII bytes then a 2-byte character across the 40-byte clip */
    cr_assert_eq(decode(BODY(HI, ",\"tool_choice\":{\"type\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\u00e9zzz\"}"),
                        &q, &err),
                 SY_EBADFIELD);
    cr_assert_str_eq(err.message, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none', not "
                                  "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");
    /* a NUL inside a quoted value ends the quote */
    cr_assert_eq(decode(BODY(HI, ",\"tool_choice\":{\"type\":\"a\\u0000b\"}"), &q, &err), SY_EBADFIELD);
    cr_assert_str_eq(err.message, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none', not 'a'");
}

Test(anthropic_decode, arena_exhaustion_is_enomem_not_a_crash)
{
    sy_arena_t small;
    sy_creq_t q;
    sy_error_t err;
    const char *body = BODY("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"},"
                            "{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":\"r\"}]}]",
                            ",\"system\":\"s\",\"stop_sequences\":[\"x\"]");
    int saw_ok = 0;
    for (size_t max = 64; max < 8192 && !saw_ok; max += 64) {
        sy_arena_init(&small, max);
        sy_err_t rc = sy_api_anthropic_decode(body, strlen(body), &small, &q, &err);
        cr_assert(rc == SY_OK || rc == SY_ENOMEM, "max %zu: %s", max, sy_err_name(rc));
        saw_ok = rc == SY_OK;
        sy_arena_release(&small);
    }
    cr_assert(saw_ok);
}

/* ---- encoding: streams ---------------------------------------------------- */

#define EV(name, json) "event: " name "\ndata: " json "\n\n"
#define MSG_START(usage)                                                                                    \
    EV("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_req_1\",\"type\":\"message\"," \
                        "\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,"  \
                        "\"stop_sequence\":null,\"usage\":" usage "}}")                                      \
    EV("ping", "{\"type\":\"ping\"}")
#define ZERO "{\"input_tokens\":0,\"output_tokens\":0}"
#define START_TEXT(i) \
    EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":" #i ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
#define START_THINKING(i)                                                                             \
    EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":" #i ",\"content_block\":" \
                              "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}")
#define START_TOOL(i, id, name)                                                                       \
    EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":" #i ",\"content_block\":" \
                              "{\"type\":\"tool_use\",\"id\":\"" id "\",\"name\":\"" name "\",\"input\":{}}}")
#define DELTA(i, type, member, s)                                                                                 \
    EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":" #i ",\"delta\":{\"type\":\"" type \
                              "\",\"" member "\":\"" s "\"}}")
#define TEXT(i, s) DELTA(i, "text_delta", "text", s)
#define THINK(i, s) DELTA(i, "thinking_delta", "thinking", s)
#define JSON(i, s) DELTA(i, "input_json_delta", "partial_json", s)
#define STOP(i) EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":" #i "}")
#define MSG_DELTA(reason, seq, usage)                                                                  \
    EV("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":" reason ",\"stop_sequence\":" seq \
                        "},\"usage\":" usage "}")
#define MSG_STOP EV("message_stop", "{\"type\":\"message_stop\"}")

Test(anthropic_encode, text_only)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {ev_kind(SY_EV_START), ev_text(SY_EV_TEXT, "Hel"), ev_text(SY_EV_TEXT, ""),
                     ev_text(SY_EV_TEXT, "lo \"you\"\n"), ev_finish(SY_FINISH_STOP), ev_usage(12, 3, -1)};
    RUN(&e, evs, b);
    assert_text(b, MSG_START(ZERO) START_TEXT(0) TEXT(0, "Hel") TEXT(0, "lo \\\"you\\\"\\n") STOP(0)
                       MSG_DELTA("\"end_turn\"", "null", "{\"input_tokens\":12,\"output_tokens\":3}") MSG_STOP);
    cr_assert_eq(e.n_blocks, 1);
    evbuffer_free(b);
}

Test(anthropic_encode, text_then_tool_call)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {
        ev_kind(SY_EV_START),
        ev_text(SY_EV_TEXT, "Let me check."),
        ev_call(0, "toolu_01A", "get_weather", ""),
        ev_call(0, "", "", "{\"city\":"),
        ev_call(0, "", "", "\"Paris\"}"),
        ev_finish(SY_FINISH_TOOL_CALLS),
        ev_usage(20, 9, -1),
    };
    RUN(&e, evs, b);
    assert_text(b, MSG_START(ZERO) START_TEXT(0) TEXT(0, "Let me check.") STOP(0)
                       START_TOOL(1, "toolu_01A", "get_weather") JSON(1, "{\\\"city\\\":") JSON(1, "\\\"Paris\\\"}")
                           STOP(1) MSG_DELTA("\"tool_use\"", "null", "{\"input_tokens\":20,\"output_tokens\":9}")
                               MSG_STOP);
    evbuffer_free(b);
}

/* Two calls without ids (an Ollama upstream: whole arguments in one piece,
 * finish "stop") get ids made from the request id, and stop_reason
 * tool_use; a request id with bytes Anthropic refuses in ids is cleaned. */
Test(anthropic_encode, two_tool_calls_without_ids)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_enc_t e = enc_for(&q);
    e.id = "client.req:7";
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {
        ev_kind(SY_EV_START),
        ev_call(0, "", "a", "{\"x\":1}"),
        ev_call(1, "", "b", "{}"),
        ev_call(0, "", "", ",late"), /* a piece of a closed call cannot be placed: dropped */
        ev_finish(SY_FINISH_STOP),
    };
    RUN(&e, evs, b);
    assert_text(b, EV("message_start",
                      "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_client.req:7\",\"type\":\"message\","
                      "\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,"
                      "\"stop_sequence\":null,\"usage\":" ZERO "}}") EV("ping", "{\"type\":\"ping\"}")
                       START_TOOL(0, "toolu_0_client_req_7", "a") JSON(0, "{\\\"x\\\":1}") STOP(0)
                           START_TOOL(1, "toolu_1_client_req_7", "b") JSON(1, "{}") STOP(1)
                               MSG_DELTA("\"tool_use\"", "null", ZERO) MSG_STOP);
    cr_assert_eq(e.n_calls, 2);
    evbuffer_free(b);
}

Test(anthropic_encode, thinking_then_text_then_text_after_a_call)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {
        ev_kind(SY_EV_START),
        ev_text(SY_EV_THINKING, "Hmm, "),
        ev_text(SY_EV_THINKING, "think."),
        ev_text(SY_EV_TEXT, "Answer"),
        ev_call(0, "t1", "f", ""),
        ev_text(SY_EV_TEXT, "After"),
        ev_finish(SY_FINISH_TOOL_CALLS),
    };
    RUN(&e, evs, b);
    assert_text(b, MSG_START(ZERO) START_THINKING(0) THINK(0, "Hmm, ") THINK(0, "think.") STOP(0) START_TEXT(1)
                       TEXT(1, "Answer") STOP(1) START_TOOL(2, "t1", "f") STOP(2) START_TEXT(3) TEXT(3, "After")
                           STOP(3) MSG_DELTA("\"tool_use\"", "null", ZERO) MSG_STOP);
    evbuffer_free(b);
}

/* Counts reported at the start (Anthropic's message_start) are in our
 * message_start; counts after the finish (OpenAI's usage chunk) in
 * message_delta, merged field by field. */
Test(anthropic_encode, usage_before_content_and_after_finish)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t u = ev_usage(25, 1, 7);
    u.usage.cache_write_tokens = 2;
    sy_ev_t evs[] = {ev_kind(SY_EV_START), u, ev_text(SY_EV_TEXT, "ok"), ev_finish(SY_FINISH_LENGTH),
                     ev_usage(-1, 15, -1)};
    RUN(&e, evs, b);
    assert_text(b, MSG_START("{\"input_tokens\":16,\"cache_creation_input_tokens\":2,\"cache_read_input_tokens\":7,"
                             "\"output_tokens\":1}") START_TEXT(0) TEXT(0, "ok") STOP(0)
                       MSG_DELTA("\"max_tokens\"", "null",
                                 "{\"input_tokens\":16,\"cache_creation_input_tokens\":2,\"cache_read_input_tokens\":7,"
                                 "\"output_tokens\":15}") MSG_STOP);
    evbuffer_free(b);
}

Test(anthropic_encode, stop_sequence_and_finish_words)
{
    static const struct {
        sy_finish_t f;
        const char *seq, *want;
    } rows[] = {
        {SY_FINISH_STOP, "END", MSG_DELTA("\"stop_sequence\"", "\"END\"", ZERO)},
        {SY_FINISH_STOP, "", MSG_DELTA("\"end_turn\"", "null", ZERO)},
        {SY_FINISH_NONE, "", MSG_DELTA("\"end_turn\"", "null", ZERO)},
        {SY_FINISH_LENGTH, "", MSG_DELTA("\"max_tokens\"", "null", ZERO)},
        {SY_FINISH_FILTER, "", MSG_DELTA("\"refusal\"", "null", ZERO)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sy_creq_t q;
        sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
        sy_enc_t e = enc_for(&q);
        struct evbuffer *b = evbuffer_new();
        sy_ev_t evs[] = {ev_text(SY_EV_TEXT, "x"), ev_finish(rows[i].f)};
        evs[1].stop_sequence = (sy_str_t){rows[i].seq, strlen(rows[i].seq)};
        RUN(&e, evs, b);
        char *got = take(b);
        assert_sse(got);
        char want[1024];
        snprintf(want, sizeof(want), "%s%s", rows[i].want, MSG_STOP);
        cr_assert(strstr(got, want), "row %zu: %s", i, got);
        free(got);
        evbuffer_free(b);
    }
}

/* An answer with no content still has one (empty) text block. */
Test(anthropic_encode, empty_answer)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {ev_kind(SY_EV_START), ev_finish(SY_FINISH_STOP)};
    RUN(&e, evs, b);
    assert_text(b, MSG_START(ZERO) START_TEXT(0) STOP(0) MSG_DELTA("\"end_turn\"", "null", ZERO) MSG_STOP);
    /* and end() alone, the same */
    e = enc_for(&q);
    sy_ingress_anthropic.end(&e, b);
    assert_text(b, MSG_START(ZERO) START_TEXT(0) STOP(0) MSG_DELTA("\"end_turn\"", "null", ZERO) MSG_STOP);
    sy_ingress_anthropic.end(&e, b);
    cr_assert_eq(evbuffer_get_length(b), 0, "nothing after message_stop");
    evbuffer_free(b);
}

Test(anthropic_encode, error_mid_stream)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_enc_t e = enc_for(&q);
    struct evbuffer *b = evbuffer_new();
    sy_ev_t evs[] = {ev_kind(SY_EV_START), ev_text(SY_EV_TEXT, "par")};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        sy_ingress_anthropic.event(&e, &evs[i], b);
    sy_error_t err;
    sy_error_set(&err, SY_EUPCLOSED, NULL, "provider \"p\": closed");
    sy_ingress_anthropic.error(&e, &err, b);
    sy_ingress_anthropic.end(&e, b); /* nothing more after an error */
    sy_ev_t late = ev_text(SY_EV_TEXT, "x");
    sy_ingress_anthropic.event(&e, &late, b);
    assert_text(b, MSG_START(ZERO) START_TEXT(0) TEXT(0, "par")
                       EV("error", "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                                   "\"message\":\"provider \\\"p\\\": closed\"}}"));

    /* an upstream's own error event, typed by its status */
    e = enc_for(&q);
    sy_error_t over;
    sy_error_set(&over, SY_EUPSTATUS, NULL, "Overloaded");
    over.status = 529;
    sy_ev_t ev = ev_kind(SY_EV_ERROR);
    ev.error = &over;
    sy_ev_t before[] = {ev_kind(SY_EV_START), ev_text(SY_EV_TEXT, "a")};
    for (size_t i = 0; i < 2; i++)
        sy_ingress_anthropic.event(&e, &before[i], b);
    sy_ingress_anthropic.event(&e, &ev, b);
    sy_ingress_anthropic.error(&e, &err, b);
    sy_ingress_anthropic.end(&e, b);
    assert_text(b, MSG_START(ZERO) START_TEXT(0) TEXT(0, "a")
                       EV("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                                   "\"message\":\"Overloaded\"}}"));
    evbuffer_free(b);
}

/* ---- encoding: whole answers ---------------------------------------------- */

static void whole(const sy_ev_t *evs, size_t n, const char *want)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_enc_t e = enc_for(&q);
    sy_cresp_t *c = malloc(sizeof(*c));
    cr_assert_not_null(c);
    sy_cresp_init(c, 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(sy_cresp_add(c, &evs[i]), 0);
    struct evbuffer *b = evbuffer_new();
    sy_ingress_anthropic.whole(&e, c, b);
    char *got = take(b);
    assert_json(got, strlen(got));
    cr_assert_str_eq(got, want);
    free(got);
    evbuffer_free(b);
    sy_cresp_release(c);
    free(c);
}

#define WHOLE(evs, want) whole((evs), sizeof(evs) / sizeof((evs)[0]), (want))
#define MSG_HEAD "{\"id\":\"msg_req_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":"

Test(anthropic_encode, whole_text)
{
    sy_ev_t evs[] = {ev_kind(SY_EV_START), ev_text(SY_EV_TEXT, "Hello"), ev_text(SY_EV_TEXT, " there"),
                     ev_finish(SY_FINISH_STOP), ev_usage(10, 2, 4)};
    WHOLE(evs, MSG_HEAD "[{\"type\":\"text\",\"text\":\"Hello there\"}],\"stop_reason\":\"end_turn\","
                        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":6,\"cache_read_input_tokens\":4,"
                        "\"output_tokens\":2}}");
}

Test(anthropic_encode, whole_thinking_text_and_tool_calls)
{
    sy_ev_t evs[] = {
        ev_kind(SY_EV_START),
        ev_text(SY_EV_THINKING, "plan"),
        ev_text(SY_EV_TEXT, "Calling."),
        ev_call(0, "toolu_A", "weather", "{\"city\":"),
        ev_call(0, "", "", " \"Rome\"}"),
        ev_call(1, "", "noargs", ""),
        ev_call(2, "", "cut", "{\"a\":"),
        ev_finish(SY_FINISH_STOP),
    };
    WHOLE(evs, MSG_HEAD "[{\"type\":\"thinking\",\"thinking\":\"plan\",\"signature\":\"\"},"
                        "{\"type\":\"text\",\"text\":\"Calling.\"},"
                        "{\"type\":\"tool_use\",\"id\":\"toolu_A\",\"name\":\"weather\",\"input\":{\"city\": \"Rome\"}},"
                        "{\"type\":\"tool_use\",\"id\":\"toolu_1_req_1\",\"name\":\"noargs\",\"input\":{}},"
                        "{\"type\":\"tool_use\",\"id\":\"toolu_2_req_1\",\"name\":\"cut\",\"input\":{}}],"
                        "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
                        "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}");
}

Test(anthropic_encode, whole_empty_and_stop_sequence)
{
    sy_ev_t evs[] = {ev_kind(SY_EV_START), ev_finish(SY_FINISH_STOP)};
    evs[1].stop_sequence = (sy_str_t){"###", 3};
    WHOLE(evs, MSG_HEAD "[{\"type\":\"text\",\"text\":\"\"}],\"stop_reason\":\"stop_sequence\","
                        "\"stop_sequence\":\"###\",\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}");
    sy_ev_t only_thinking[] = {ev_text(SY_EV_THINKING, "t"), ev_finish(SY_FINISH_LENGTH), ev_usage(3, 4, -1)};
    WHOLE(only_thinking, MSG_HEAD "[{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":\"\"}],"
                                  "\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,"
                                  "\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}");
}

Test(anthropic_encode, no_embeddings)
{
    cr_assert_null(sy_ingress_anthropic.embed);
    cr_assert_eq(sy_ingress_anthropic.proto, SY_PROTO_ANTHROPIC);
    cr_assert_str_eq(sy_ingress_anthropic.stream_type, "text/event-stream");
}

/* ---- count_tokens ---------------------------------------------------------- */

static const char CFG[] = "providers:\n"
                          "  - name: local\n"
                          "    type: openai\n"
                          "    base_url: \"http://127.0.0.1:9/v1\"\n"
                          "models:\n"
                          "  - name: claude-x\n"
                          "    deployments:\n"
                          "      - { provider: local, model: m, weight: 1 }\n";

static sy_err_t count(const sy_config_t *cfg, const char *body, int64_t *n, sy_error_t *err, char *model)
{
    memset(err, 0, sizeof(*err));
    return sy__api_anthropic_count(cfg, NULL, body, strlen(body), &A, model, 32, n, err);
}

Test(anthropic_count, estimate_without_max_tokens)
{
    sy_diags_t d;
    memset(&d, 0, sizeof(d));
    sy_config_t *cfg = sy_config_load_string(CFG, sizeof(CFG) - 1, "t.yaml", &d);
    cr_assert_not_null(cfg);
    sy_error_t err;
    int64_t n = -1;
    char model[32];

    /* system "Be brief." (9 bytes) and "Hello, world" (12): 2 messages of
     * 4 framing bytes each, 29 bytes, 8 tokens at 4 bytes a token */
    cr_assert_eq(count(cfg,
                       "{\"model\":\"claude-x\",\"system\":\"Be brief.\","
                       "\"messages\":[{\"role\":\"user\",\"content\":\"Hello, world\"}]}",
                       &n, &err, model),
                 SY_OK, "%s", err.message);
    cr_assert_eq(n, 8);
    cr_assert_str_eq(model, "claude-x");

    /* a tool and an image count too; max_tokens is accepted and ignored */
    cr_assert_eq(count(cfg,
                       "{\"model\":\"local/anything\",\"max_tokens\":5,"
                       "\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],"
                       "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":"
                       "{\"type\":\"url\",\"url\":\"https://e.x/a.png\"}}]}]}",
                       &n, &err, model),
                 SY_OK, "%s", err.message);
    cr_assert_eq(n, 1000 + 2, "one image ~1000 tokens, 4 + 1 + 2 bytes -> 2 tokens");

    /* unknown models: 404 not_found_error */
    const char *unknown[] = {"nope", "ghost/m", "local/", "/m"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"model\":\"%s\",\"messages\":" HI "}", unknown[i]);
        cr_assert_eq(count(cfg, body, &n, &err, model), SY_ENOMODEL, "%s", unknown[i]);
        cr_assert_eq(sy_error_status(&err), 404);
        cr_assert_str_eq(sy_error_anthropic_type(sy_error_status(&err)), "not_found_error");
        cr_assert_str_eq(model, unknown[i]);
    }
    cr_assert_str_eq(err.message, "model: /m");

    /* the body is still checked */
    cr_assert_eq(count(cfg, "{\"model\":\"claude-x\"}", &n, &err, model), SY_EMISSING);
    cr_assert_str_eq(err.message, "messages: Field required");
    sy_config_free(cfg);
    sy_diags_release(&d);
}
