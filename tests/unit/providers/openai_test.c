/*
 * openai_test.c - unit tests for src/providers/openai.c, the
 * OpenAI-compatible egress adapter.
 *
 * Encoding: a golden table of canonical requests and the exact JSON body
 * each one gives (every body is also checked with sy_json_validate), and
 * the requests it refuses, naming the field. Parsing: real-looking upstream
 * streams fed whole, one byte at a time and cut at every offset - the
 * canonical events, written down as text, must be the same every way and
 * equal the expected ones; tool call pieces under the upstream's indexes;
 * usage after the finish; errors inside the stream; truncated streams;
 * whole chat.completion bodies; embeddings as floats and as base64; bad
 * JSON.
 */
#include "providers/egress.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"

static sy_arena_t A;

static void setup(void)
{
    sy_arena_init(&A, 1u << 20);
}

static void teardown(void)
{
    sy_arena_release(&A);
}

TestSuite(openai_encode, .init = setup, .fini = teardown);
TestSuite(openai_parse, .init = setup, .fini = teardown);
TestSuite(openai_embed, .init = setup, .fini = teardown);

/* ---- building requests ---------------------------------------------------- */

static sy_str_t S(const char *s)
{
    return (sy_str_t){s, strlen(s)};
}

/* Raw JSON (must be valid) as the decoders keep it. */
static sy_jval_t J(const char *s)
{
    return sy_json_value(s, strlen(s));
}

static sy_part_t TEXT(const char *s)
{
    return (sy_part_t){.kind = SY_PART_TEXT, .text = S(s)};
}

static sy_msg_t MSG(sy_role_t role, const char *text)
{
    sy_msg_t m;
    memset(&m, 0, sizeof(m));
    m.role = role;
    if (text) {
        m.parts = sy_arena_calloc(&A, 1, sizeof(sy_part_t));
        m.parts[0] = TEXT(text);
        m.n_parts = 1;
    }
    return m;
}

/* Encode q; the body as a malloc'd string (NULL on error, err filled). */
static char *encode(const sy_creq_t *q, const char **path, sy_error_t *err)
{
    struct evbuffer *b = evbuffer_new();
    memset(err, 0, sizeof(*err));
    *path = NULL;
    sy_err_t rc = sy_egress_encode(SY_PROVIDER_OPENAI, q, "gpt-up", 0, b, path, err);
    char *s = NULL;
    if (rc == SY_OK) {
        size_t n = evbuffer_get_length(b);
        s = malloc(n + 1);
        cr_assert_not_null(s);
        evbuffer_remove(b, s, n);
        s[n] = '\0';
        size_t off;
        const char *msg;
        cr_assert_eq(sy_json_validate(s, n, &off, &msg), 0, "invalid JSON at %zu (%s): %s", off, msg, s);
    }
    evbuffer_free(b);
    return s;
}

static void assert_body(const sy_creq_t *q, const char *want_path, const char *want)
{
    const char *path;
    sy_error_t err;
    char *got = encode(q, &path, &err);
    cr_assert_not_null(got, "encode failed: %s (param %s)", err.message, err.param);
    cr_assert_str_eq(path, want_path);
    cr_assert_str_eq(got, want);
    free(got);
}

static void assert_refused(const sy_creq_t *q, sy_err_t code, const char *param, const char *msg_part)
{
    const char *path;
    sy_error_t err;
    char *got = encode(q, &path, &err);
    cr_assert_null(got, "encoded: %s", got ? got : "");
    cr_assert_eq(err.code, code, "code %s", sy_err_name(err.code));
    cr_assert_str_eq(err.param, param);
    cr_assert(strstr(err.message, msg_part), "message: %s", err.message);
}

/* ---- encoding: the golden table ------------------------------------------ */

Test(openai_encode, minimal_chat)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    sy_msg_t msgs[] = {MSG(SY_ROLE_SYSTEM, "Be brief."), MSG(SY_ROLE_USER, "Hi \"you\"\n")};
    q.msgs = msgs;
    q.n_msgs = 2;
    assert_body(&q, "/chat/completions",
                "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                "{\"role\":\"user\",\"content\":\"Hi \\\"you\\\"\\n\"}]}");
}

Test(openai_encode, stream_asks_for_usage)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "Hi")};
    q.msgs = msgs;
    q.n_msgs = 1;
    q.stream = 1;
    assert_body(&q, "/chat/completions",
                "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                "\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
}

Test(openai_encode, every_field)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "Weather?")};
    sy_tool_t tools[] = {
        {S("get_weather"), S("Get the weather"), J("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}")},
        {S("noop"), SY_STR_NULL, {NULL, 0, SY_JNULL}},
    };
    sy_str_t stop[] = {S("END"), S("\n\n")};
    q.msgs = msgs;
    q.n_msgs = 1;
    q.tools = tools;
    q.n_tools = 2;
    q.tool_choice = SY_TOOLS_NAMED;
    q.tool_choice_name = S("get_weather");
    q.parallel_tool_calls = 0;
    q.temperature = J("0.7");
    q.top_p = J("1");
    q.top_k = J("40"); /* no OpenAI field: dropped */
    q.presence_penalty = J("-0.5");
    q.frequency_penalty = J("1e-1");
    q.max_tokens = 256;
    q.stop = stop;
    q.n_stop = 2;
    q.seed = -7;
    q.has_seed = 1;
    q.format = SY_FORMAT_SCHEMA;
    q.format_schema = J("{\"type\":\"object\"}");
    q.user = S("u-1");
    /* Ollama's own: dropped */
    q.num_ctx = 8192;
    q.keep_alive = J("\"5m\"");
    q.think = J("true");
    q.options = J("{\"mirostat\":1}");
    assert_body(&q, "/chat/completions",
                "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
                "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Get the "
                "weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}},"
                "{\"type\":\"function\",\"function\":{\"name\":\"noop\"}}],"
                "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
                "\"parallel_tool_calls\":false,\"temperature\":0.7,\"top_p\":1,\"presence_penalty\":-0.5,"
                "\"frequency_penalty\":1e-1,\"max_tokens\":256,\"stop\":[\"END\",\"\\n\\n\"],\"seed\":-7,"
                "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"response\","
                "\"schema\":{\"type\":\"object\"}}},\"user\":\"u-1\"}");
}

Test(openai_encode, tool_choice_words_and_json_formats)
{
    static const struct {
        sy_tool_choice_t choice;
        int parallel;
        sy_format_t format;
        const char *format_name;
        const char *tail;
    } rows[] = {
        {SY_TOOLS_DEFAULT, -1, SY_FORMAT_TEXT, NULL, "]}"},
        {SY_TOOLS_AUTO, 1, SY_FORMAT_JSON, NULL,
         "],\"tool_choice\":\"auto\",\"parallel_tool_calls\":true,\"response_format\":{\"type\":\"json_object\"}}"},
        {SY_TOOLS_NONE, -1, SY_FORMAT_SCHEMA, "person",
         "],\"tool_choice\":\"none\",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
         "\"person\",\"schema\":{}}}}"},
        {SY_TOOLS_REQUIRED, -1, SY_FORMAT_TEXT, NULL, "],\"tool_choice\":\"required\"}"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sy_creq_t q;
        sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
        sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "x")};
        sy_tool_t tools[] = {{S("t"), SY_STR_NULL, {NULL, 0, SY_JNULL}}};
        q.msgs = msgs;
        q.n_msgs = 1;
        q.tools = tools;
        q.n_tools = 1;
        q.tool_choice = rows[i].choice;
        q.parallel_tool_calls = rows[i].parallel;
        q.format = rows[i].format;
        if (rows[i].format == SY_FORMAT_SCHEMA)
            q.format_schema = J("{}");
        if (rows[i].format_name)
            q.format_name = S(rows[i].format_name);
        char want[1024];
        snprintf(want, sizeof(want),
                 "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"t\"}}%s",
                 rows[i].tail);
        assert_body(&q, "/chat/completions", want);
    }
}

Test(openai_encode, tool_choice_needs_tools)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "x")};
    q.msgs = msgs;
    q.n_msgs = 1;
    q.tool_choice = SY_TOOLS_REQUIRED;
    q.parallel_tool_calls = 0;
    assert_body(&q, "/chat/completions", "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
}

Test(openai_encode, images_as_parts)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    sy_part_t parts[] = {
        TEXT("What is in these?"),
        {.kind = SY_PART_IMAGE, .url = S("https://example.com/cat.png")},
        {.kind = SY_PART_IMAGE, .data = S("/9j/4AAQ"), .media_type = S("image/jpeg")},
        {.kind = SY_PART_IMAGE, .data = S("iVBORw0KGgoAAA")}, /* no media type: guessed */
        {.kind = SY_PART_IMAGE, .data = S("R0lGODlh")},
        TEXT(""),
    };
    sy_msg_t msgs[] = {{.role = SY_ROLE_USER, .parts = parts, .n_parts = 6}};
    q.msgs = msgs;
    q.n_msgs = 1;
    assert_body(&q, "/chat/completions",
                "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"user\",\"content\":["
                "{\"type\":\"text\",\"text\":\"What is in these?\"},"
                "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.png\"}},"
                "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/4AAQ\"}},"
                "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgoAAA\"}},"
                "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/gif;base64,R0lGODlh\"}}]}]}");
}

Test(openai_encode, text_parts_joined)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_part_t parts[] = {TEXT("one"), TEXT(""), TEXT("two")};
    sy_msg_t msgs[] = {{.role = SY_ROLE_USER, .parts = parts, .n_parts = 3}, {.role = SY_ROLE_ASSISTANT}};
    q.msgs = msgs;
    q.n_msgs = 2;
    assert_body(&q, "/chat/completions",
                "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"user\",\"content\":\"one\\n\\ntwo\"},"
                "{\"role\":\"assistant\",\"content\":\"\"}]}");
}

/* Ollama's history: calls without ids, results with only the tool's name.
 * Each result answers the first unanswered call to its tool; the ids made
 * for the calls are the ones the results carry. */
Test(openai_encode, tool_calls_and_results_paired)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    sy_tool_call_t calls[] = {
        {SY_STR_NULL, S("weather"), S("{\"city\":\"Paris\"}")},
        {SY_STR_NULL, S("time"), SY_STR_NULL},
        {SY_STR_NULL, S("weather"), S(" {\"city\":\"Oslo\"} ")},
    };
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "Paris and Oslo?"), MSG(SY_ROLE_ASSISTANT, NULL), MSG(SY_ROLE_TOOL, "12:00"),
                       MSG(SY_ROLE_TOOL, "sunny"), MSG(SY_ROLE_TOOL, "rain"), MSG(SY_ROLE_TOOL, "extra")};
    msgs[1].calls = calls;
    msgs[1].n_calls = 3;
    msgs[1].thinking = S("let me look"); /* not sent */
    msgs[2].tool_name = S("time");
    msgs[3].tool_name = S("weather");
    msgs[4].tool_name = S("weather");
    msgs[5].tool_name = S("weather"); /* no call left: the name stands in */
    q.msgs = msgs;
    q.n_msgs = 6;
    assert_body(&q, "/chat/completions",
                "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"user\",\"content\":\"Paris and Oslo?\"},"
                "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
                "{\"id\":\"call_1_0\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":"
                "\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
                "{\"id\":\"call_1_1\",\"type\":\"function\",\"function\":{\"name\":\"time\",\"arguments\":\"{}\"}},"
                "{\"id\":\"call_1_2\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":"
                "\" {\\\"city\\\":\\\"Oslo\\\"} \"}}]},"
                "{\"role\":\"tool\",\"content\":\"12:00\",\"tool_call_id\":\"call_1_1\"},"
                "{\"role\":\"tool\",\"content\":\"sunny\",\"tool_call_id\":\"call_1_0\"},"
                "{\"role\":\"tool\",\"content\":\"rain\",\"tool_call_id\":\"call_1_2\"},"
                "{\"role\":\"tool\",\"content\":\"extra\",\"tool_call_id\":\"weather\"}]}");
}

/* Results with ids are sent as they are; one without id and without name
 * takes the first call no other result answered. */
Test(openai_encode, tool_results_with_and_without_ids)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_tool_call_t calls[] = {{S("toolu_a"), S("f"), S("{}")}, {S("toolu_b"), S("g"), S("{\"x\":[1,2]}")}};
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "go"), MSG(SY_ROLE_ASSISTANT, "Calling."), MSG(SY_ROLE_TOOL, "A"),
                       MSG(SY_ROLE_TOOL, "B")};
    msgs[1].calls = calls;
    msgs[1].n_calls = 2;
    msgs[2].tool_call_id = S("toolu_a");
    msgs[3].is_error = 1;
    q.msgs = msgs;
    q.n_msgs = 4;
    assert_body(&q, "/chat/completions",
                "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
                "{\"role\":\"assistant\",\"content\":\"Calling.\",\"tool_calls\":["
                "{\"id\":\"toolu_a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},"
                "{\"id\":\"toolu_b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":"
                "\"{\\\"x\\\":[1,2]}\"}}]},"
                "{\"role\":\"tool\",\"content\":\"A\",\"tool_call_id\":\"toolu_a\"},"
                "{\"role\":\"tool\",\"content\":\"B\",\"tool_call_id\":\"toolu_b\"}]}");
}

/* An image a tool returned goes in a user message after the results. */
Test(openai_encode, tool_result_images_follow_in_a_user_message)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_tool_call_t calls[] = {{S("c1"), S("shot"), S("{}")}, {S("c2"), S("shot"), S("{}")}};
    sy_part_t r1[] = {TEXT("here"), {.kind = SY_PART_IMAGE, .data = S("iVBORw0KGgo"), .media_type = S("image/png")}};
    sy_part_t r2[] = {{.kind = SY_PART_IMAGE, .url = S("https://x/y.jpg")}};
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "go"), MSG(SY_ROLE_ASSISTANT, NULL),
                       {.role = SY_ROLE_TOOL, .parts = r1, .n_parts = 2, .tool_call_id = S("c1")},
                       {.role = SY_ROLE_TOOL, .parts = r2, .n_parts = 1, .tool_call_id = S("c2")},
                       MSG(SY_ROLE_USER, "and?")};
    msgs[1].calls = calls;
    msgs[1].n_calls = 2;
    q.msgs = msgs;
    q.n_msgs = 5;
    assert_body(&q, "/chat/completions",
                "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
                "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
                "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"shot\",\"arguments\":\"{}\"}},"
                "{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"shot\",\"arguments\":\"{}\"}}]},"
                "{\"role\":\"tool\",\"content\":\"here\",\"tool_call_id\":\"c1\"},"
                "{\"role\":\"tool\",\"content\":\"\",\"tool_call_id\":\"c2\"},"
                "{\"role\":\"user\",\"content\":["
                "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo\"}},"
                "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.jpg\"}}]},"
                "{\"role\":\"user\",\"content\":\"and?\"}]}");
}

Test(openai_encode, generate_goes_as_chat)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_GENERATE, SY_PROTO_OLLAMA);
    sy_msg_t msgs[] = {MSG(SY_ROLE_SYSTEM, "You are a poet."), MSG(SY_ROLE_USER, "Why is the sky blue?")};
    q.msgs = msgs;
    q.n_msgs = 2;
    q.raw = 1; /* Ollama's: dropped */
    q.max_tokens = 10;
    assert_body(&q, "/chat/completions",
                "{\"model\":\"gpt-up\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a poet.\"},"
                "{\"role\":\"user\",\"content\":\"Why is the sky blue?\"}],\"max_tokens\":10}");
}

Test(openai_encode, embeddings)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_EMBED, SY_PROTO_OLLAMA);
    sy_str_t in[] = {S("hello"), S("w\u00f6rld")};
    q.inputs = in;
    q.n_inputs = 2;
    assert_body(&q, "/embeddings",
                "{\"model\":\"gpt-up\",\"input\":[\"hello\",\"w\u00f6rld\"],\"encoding_format\":\"float\"}");
    q.dimensions = 256;
    q.truncate = 1; /* Ollama's: dropped */
    q.user = S("me");
    assert_body(&q, "/embeddings",
                "{\"model\":\"gpt-up\",\"input\":[\"hello\",\"w\u00f6rld\"],\"encoding_format\":\"float\","
                "\"dimensions\":256,\"user\":\"me\"}");
}

Test(openai_encode, refusals)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_tool_call_t calls[] = {{S("c"), S("f"), S("[1]")}};
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "x"), MSG(SY_ROLE_ASSISTANT, NULL)};
    msgs[1].calls = calls;
    msgs[1].n_calls = 1;
    q.msgs = msgs;
    q.n_msgs = 2;
    assert_refused(&q, SY_EBADREQ, "messages[1].tool_calls[0].function.arguments", "JSON object");
    calls[0].args = S("{\"a\":");
    assert_refused(&q, SY_EBADREQ, "messages[1].tool_calls[0].function.arguments", "JSON object");

    sy_part_t img[] = {{.kind = SY_PART_IMAGE, .data = S("iVBORw0KGgo")}};
    sy_msg_t with_img[] = {MSG(SY_ROLE_USER, "x"), {.role = SY_ROLE_ASSISTANT, .parts = img, .n_parts = 1}};
    q.msgs = with_img;
    assert_refused(&q, SY_EBADREQ, "messages[1].content", "only in user messages");
    with_img[1].role = SY_ROLE_SYSTEM;
    assert_refused(&q, SY_EBADREQ, "messages[1].content", "only in user messages");

    sy_creq_t g;
    sy_creq_init(&g, SY_OP_GENERATE, SY_PROTO_OPENAI);
    sy_msg_t u[] = {MSG(SY_ROLE_USER, "def f(")};
    g.msgs = u;
    g.n_msgs = 1;
    g.suffix = S("return 1");
    assert_refused(&g, SY_EBADREQ, "suffix", "suffix");
}

/* ---- parsing: recording events as text ------------------------------------ */

typedef struct rec {
    char *log;
    size_t len, cap;
    int stop_at; /* return 1 from the stop_at-th event (1-based); 0 = never */
    int n;
} rec_t;

static void rec_add(rec_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rec_add(rec_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert_geq(n, 0);
    if (r->len + (size_t)n + 1 > r->cap) {
        size_t nc = r->cap ? r->cap : 256;
        while (nc < r->len + (size_t)n + 1)
            nc *= 2;
        r->log = realloc(r->log, nc);
        cr_assert_not_null(r->log);
        r->cap = nc;
    }
    va_start(ap, fmt);
    vsnprintf(r->log + r->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->len += (size_t)n;
}

#define STR(s) (int)(s).len, (s).p ? (s).p : ""

/* One line per event, every field the event kind has. The parser reports
 * each upstream event whole, so however the bytes were cut the lines are
 * the same. */
static int record(void *ud, const sy_ev_t *ev)
{
    rec_t *r = ud;
    r->n++;
    switch (ev->kind) {
    case SY_EV_START:
        rec_add(r, "START %.*s\n", STR(ev->id));
        break;
    case SY_EV_TEXT:
        rec_add(r, "TEXT %.*s\n", STR(ev->text));
        break;
    case SY_EV_THINKING:
        rec_add(r, "THINK %.*s\n", STR(ev->text));
        break;
    case SY_EV_TOOL_CALL:
        rec_add(r, "CALL %d id=%.*s name=%.*s args=%.*s\n", ev->index, STR(ev->id), STR(ev->name), STR(ev->args));
        break;
    case SY_EV_FINISH:
        rec_add(r, "FINISH %s\n", sy_finish_to_openai(ev->finish));
        break;
    case SY_EV_USAGE:
        rec_add(r, "USAGE in=%lld out=%lld cached=%lld\n", (long long)ev->usage.input_tokens,
                (long long)ev->usage.output_tokens, (long long)ev->usage.cache_read_tokens);
        break;
    case SY_EV_ERROR:
        rec_add(r, "ERROR\n");
        break;
    }
    return r->stop_at && r->n == r->stop_at;
}

typedef struct result {
    char *log;
    int rc;
    sy_error_t err;
} result_t;

/* Feed body in pieces of `step` bytes (0: whole) and end; or, with cut,
 * in two pieces at cut. The events, the last return and the error. */
static result_t run_stream(const char *body, size_t step, size_t cut, int stop_at)
{
    sy_eparse_t p;
    rec_t r = {.stop_at = stop_at};
    result_t res;
    size_t n = strlen(body);
    int rc = 0;
    rec_add(&r, "%s", "");
    sy_eparse_init(&p, SY_PROVIDER_OPENAI, SY_OP_CHAT, 1, record, &r);
    if (cut != (size_t)-1) {
        rc = sy_eparse_feed(&p, body, cut);
        if (rc == 0)
            rc = sy_eparse_feed(&p, body + cut, n - cut);
    } else if (step == 0) {
        rc = sy_eparse_feed(&p, body, n);
    } else {
        for (size_t i = 0; i < n && rc == 0; i += step)
            rc = sy_eparse_feed(&p, body + i, n - i < step ? n - i : step);
    }
    if (rc == 0)
        rc = sy_eparse_end(&p);
    res.log = r.log;
    res.rc = rc;
    res.err = p.err;
    sy_eparse_release(&p);
    return res;
}

/* The stream fed whole, byte by byte and cut at every offset gives the
 * same events and the same ending; returns the whole run's result. */
static result_t parse_every_way(const char *body)
{
    result_t whole = run_stream(body, 0, (size_t)-1, 0);
    result_t bytes = run_stream(body, 1, (size_t)-1, 0);
    cr_assert_str_eq(bytes.log, whole.log, "byte by byte:\n%s\nwhole:\n%s", bytes.log, whole.log);
    cr_assert_eq(bytes.rc, whole.rc);
    cr_assert_eq(bytes.err.code, whole.err.code);
    free(bytes.log);
    for (size_t cut = 0; cut <= strlen(body); cut++) {
        result_t c = run_stream(body, 0, cut, 0);
        cr_assert_str_eq(c.log, whole.log, "cut at %zu:\n%s\nwhole:\n%s", cut, c.log, whole.log);
        cr_assert_eq(c.rc, whole.rc, "cut at %zu", cut);
        cr_assert_eq(c.err.code, whole.err.code, "cut at %zu", cut);
        cr_assert_str_eq(c.err.message, whole.err.message, "cut at %zu", cut);
        free(c.log);
    }
    return whole;
}

static void assert_stream(const char *body, const char *want)
{
    result_t r = parse_every_way(body);
    cr_assert_eq(r.rc, 0, "rc %d: %s", r.rc, r.err.message);
    cr_assert_str_eq(r.log, want, "got:\n%s\nwant:\n%s", r.log, want);
    free(r.log);
}

static void assert_stream_fails(const char *body, sy_err_t code, const char *msg_part, const char *want_events)
{
    result_t r = parse_every_way(body);
    cr_assert_eq(r.rc, -1, "rc %d", r.rc);
    cr_assert_eq(r.err.code, code, "code %s: %s", sy_err_name(r.err.code), r.err.message);
    cr_assert(strstr(r.err.message, msg_part), "message: %s", r.err.message);
    cr_assert_str_eq(r.log, want_events, "got:\n%s\nwant:\n%s", r.log, want_events);
    free(r.log);
}

static result_t run_whole(const char *body)
{
    sy_eparse_t p;
    rec_t r = {0};
    result_t res;
    rec_add(&r, "%s", "");
    sy_eparse_init(&p, SY_PROVIDER_OPENAI, SY_OP_CHAT, 0, record, &r);
    res.rc = sy_eparse_whole(&p, body, strlen(body));
    res.log = r.log;
    res.err = p.err;
    sy_eparse_release(&p);
    return res;
}

static void assert_whole(const char *body, const char *want)
{
    result_t r = run_whole(body);
    cr_assert_eq(r.rc, 0, "rc %d: %s", r.rc, r.err.message);
    cr_assert_str_eq(r.log, want, "got:\n%s\nwant:\n%s", r.log, want);
    free(r.log);
}

static void assert_whole_fails(const char *body, sy_err_t code, const char *msg_part)
{
    result_t r = run_whole(body);
    cr_assert_eq(r.rc, -1, "rc %d", r.rc);
    cr_assert_eq(r.err.code, code, "code %s: %s", sy_err_name(r.err.code), r.err.message);
    cr_assert(strstr(r.err.message, msg_part), "message: %s", r.err.message);
    free(r.log);
}

/* ---- parsing: streams ------------------------------------------------------ */

#define CHUNK(body) "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\"," body "}\n\n"

Test(openai_parse, text_then_finish_then_usage)
{
    assert_stream(CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                        "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null")
                  CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}],\"usage\":null")
                  CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\\n\"},\"finish_reason\":null}]")
                  CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null")
                  CHUNK("\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11,"
                        "\"prompt_tokens_details\":{\"cached_tokens\":4,\"audio_tokens\":0}}")
                  "data: [DONE]\n\n",
                  "START chatcmpl-1\n"
                  "TEXT Hel\n"
                  "TEXT lo \xc3\xa9\n\n"
                  "FINISH stop\n"
                  "USAGE in=9 out=2 cached=4\n");
}

Test(openai_parse, crlf_comments_and_a_last_event_without_its_blank_line)
{
    assert_stream(": keep-alive\r\n\r\n"
                  "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\n\r\n"
                  "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\r\n",
                  "START x\nTEXT a\nFINISH length\n");
}

Test(openai_parse, reasoning_content_and_reasoning)
{
    assert_stream(CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"Let me \"}}]")
                  CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"think.\"}}]")
                  CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"x\",\"reasoning\":\"x\"}}]")
                  CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"42\",\"reasoning_content\":null}}]")
                  CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]") "data: [DONE]\n\n",
                  "START chatcmpl-1\nTHINK Let me \nTHINK think.\nTHINK x\nTEXT 42\nFINISH stop\n");
}

/* OpenAI's parallel calls: a header piece (id, name, empty arguments) and
 * argument pieces under each call's index; the finish says tool_calls. */
Test(openai_parse, parallel_tool_calls_in_pieces)
{
    assert_stream(
        CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
              "\"id\":\"call_A\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},"
              "\"finish_reason\":null}]")
            CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                  "\"{\\\"ci\"}}]}}]")
                CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                      "\"ty\\\": \\\"Paris\\\"}\"}}]}}]")
                    CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_B\",\"type\":"
                          "\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"\"}}]}}]")
                        CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{"
                              "\"arguments\":\"{}\"}}]}}]")
                            CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]")
                                CHUNK("\"choices\":[],\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":30}")
                                    "data: [DONE]\n\n",
        "START chatcmpl-1\n"
        "CALL 0 id=call_A name=get_weather args=\n"
        "CALL 0 id= name= args={\"ci\n"
        "CALL 0 id= name= args=ty\": \"Paris\"}\n"
        "CALL 1 id=call_B name=get_time args=\n"
        "CALL 1 id= name= args={}\n"
        "FINISH tool_calls\n"
        "USAGE in=80 out=30 cached=-1\n");
}

/* Upstream indexes need not start at 0 nor be dense, pieces of two calls
 * may interleave, and a server that says "stop" after calls is read as
 * tool_calls. Pieces without an index continue the latest call. */
Test(openai_parse, upstream_indexes_mapped_to_ours)
{
    assert_stream("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":3,\"id\":\"a\",\"function\":{\"name\":\"f\"}},"
                  "{\"index\":7,\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":3,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":7,\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":7}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":\"h\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\"{\\\"y\\\":2}\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                  "data: [DONE]\n\n",
                  "START \n"
                  "CALL 0 id=a name=f args=\n"
                  "CALL 1 id=b name=g args={\"x\"\n"
                  "CALL 0 id= name= args={}\n"
                  "CALL 1 id= name= args=:1}\n"
                  "CALL 2 id=c name=h args=\n"
                  "CALL 2 id= name= args={\"y\":2}\n"
                  "FINISH tool_calls\n");
}

/* Ollama's /v1 and others send each call whole in one piece. */
Test(openai_parse, whole_calls_in_one_piece)
{
    assert_stream("data: {\"id\":\"chatcmpl-838\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                  "\"tool_calls\":[{\"id\":\"call_hk\",\"index\":0,\"type\":\"function\",\"function\":{\"name\":\"run\","
                  "\"arguments\":\"{\\\"command\\\":\\\"ls\\\"}\"}}]},\"finish_reason\":null}]}\n\n"
                  "data: {\"id\":\"chatcmpl-838\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                  "\"finish_reason\":\"tool_calls\"}]}\n\n"
                  "data: [DONE]\n\n",
                  "START chatcmpl-838\nCALL 0 id=call_hk name=run args={\"command\":\"ls\"}\nFINISH tool_calls\n");
}

/* Chunks for other choices than 0, a refusal, and usage in every chunk
 * (vLLM's continuous usage): later values are given again. */
Test(openai_parse, other_choices_refusal_and_repeated_usage)
{
    assert_stream("data: {\"id\":\"r\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"no\"}},{\"index\":0,\"delta\":"
                  "{\"refusal\":\"I can't.\"}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n"
                  "data: {\"id\":\"r\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"content_filter\"}],"
                  "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"prompt_cache_hit_tokens\":2}}\n\n",
                  "START r\nTEXT I can't.\nUSAGE in=5 out=1 cached=-1\nFINISH content_filter\nUSAGE in=5 out=3 cached=2\n");
}

/* Azure's first chunk has no choices and an empty id: START waits for the
 * chunk with the real id. */
Test(openai_parse, start_waits_for_an_id)
{
    assert_stream("data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
                  "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n"
                  "data: {\"id\":\"chatcmpl-az\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                  "data: {\"id\":\"chatcmpl-az\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                  "data: [DONE]\n\n",
                  "START chatcmpl-az\nTEXT Hi\nFINISH stop\n");
}

Test(openai_parse, finish_without_done_is_whole)
{
    assert_stream(CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]")
                  CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]"),
                  "START chatcmpl-1\nTEXT ok\nFINISH stop\n");
}

Test(openai_parse, done_without_finish_finishes_as_stop)
{
    assert_stream(CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]") "data: [DONE]\n\n",
                  "START chatcmpl-1\nTEXT ok\nFINISH stop\n");
    assert_stream("data: [DONE]\n\n", "START \nFINISH stop\n");
}

/* Nothing after [DONE] counts. */
Test(openai_parse, events_after_done_ignored)
{
    assert_stream(CHUNK("\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]") "data: [DONE]\n\n"
                  "data: {\"error\":{\"message\":\"late\"}}\n\ndata: not json\n\n",
                  "START chatcmpl-1\nFINISH stop\n");
}

/* After the finish reason only usage counts: text a server sends late is
 * passed over. */
Test(openai_parse, choices_after_finish_ignored)
{
    assert_stream(CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]")
                  CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\",\"tool_calls\":[{\"index\":0,"
                        "\"id\":\"x\",\"function\":{\"name\":\"f\"}}]},\"finish_reason\":\"length\"}],"
                        "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}")
                  "data: [DONE]\n\n",
                  "START chatcmpl-1\nTEXT a\nFINISH stop\nUSAGE in=1 out=1 cached=-1\n");
}

Test(openai_parse, truncated_stream)
{
    assert_stream_fails(CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]")
                        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"cut",
                        SY_EUPCLOSED, "upstream stream ended before its end", "START chatcmpl-1\nTEXT partial\n");
    assert_stream_fails("", SY_EUPCLOSED, "ended before its end", "");
}

/* {"error":...} inside a 2xx stream: the upstream's message; a numeric code
 * that is an HTTP status is kept. */
Test(openai_parse, error_events)
{
    assert_stream_fails(CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]")
                        "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\","
                        "\"param\":null,\"code\":null}}\n\n" CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]"),
                        SY_EUPSTATUS, "The server had an error", "START chatcmpl-1\nTEXT a\n");

    result_t r = parse_every_way("data: {\"object\":\"error\",\"message\":\"x\",\"error\":{\"message\":\"too many "
                                 "requests\",\"type\":\"BadRequestError\",\"code\":429}}\n\n");
    cr_assert_eq(r.rc, -1);
    cr_assert_eq(r.err.code, SY_EUPSTATUS);
    cr_assert_eq(r.err.status, 429);
    cr_assert_str_eq(r.err.message, "too many requests");
    free(r.log);

    assert_stream_fails("data: {\"error\":\"model not loaded\"}\n\n", SY_EUPSTATUS, "model not loaded", "");
    assert_stream_fails("event: error\ndata: {\"message\":\"overloaded\"}\n\n", SY_EUPSTATUS, "overloaded", "");
    assert_stream_fails("data: {\"error\":{}}\n\n", SY_EUPSTATUS, "the upstream reported an error", "");
}

Test(openai_parse, protocol_errors)
{
    assert_stream_fails("data: {\"id\":\"a\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {nope}\n\n",
                        SY_EUPPROTO, "not valid JSON", "START a\nTEXT x\n");
    assert_stream_fails("data: [1,2]\n\n", SY_EUPPROTO, "not a JSON object", "");
    assert_stream_fails("data: {\"choices\":{}}\n\n", SY_EUPPROTO, "choices is not an array", "");
    assert_stream_fails("data: {\"choices\":[{\"delta\":\"x\"}]}\n\n", SY_EUPPROTO, "delta is not an object", "");
    assert_stream_fails("data: {\"choices\":[{\"delta\":{\"tool_calls\":{}}}]}\n\n", SY_EUPPROTO,
                        "tool_calls is not an array", "");
    assert_stream_fails("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":[]}]}}]}\n\n",
                        SY_EUPPROTO, "function is not an object", "");
    assert_stream_fails("data: {\"choices\":[{\"delta\":{\"content\":\"x\",\"tool_calls\":[{\"index\":0,\"id\":5}]}}]}\n\n",
                        SY_EUPPROTO, "id is not a string", "START \nTEXT x\n");
}

Test(openai_parse, more_calls_than_the_bound)
{
    size_t cap = 200 * (SY_CRESP_MAX_CALLS + 2), n = 0;
    char *body = malloc(cap);
    cr_assert_not_null(body);
    for (int i = 0; i <= SY_CRESP_MAX_CALLS; i++)
        n += (size_t)snprintf(body + n, cap - n, "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":%d,\"id\":\"c%d\","
                                       "\"function\":{\"name\":\"f\"}}]}}]}\n\n",
                             i, i);
    result_t r = run_stream(body, 0, (size_t)-1, 0);
    cr_assert_eq(r.rc, -1);
    cr_assert_eq(r.err.code, SY_EUPPROTO);
    cr_assert(strstr(r.err.message, "more than 128 tool calls"), "%s", r.err.message);
    free(r.log);
    free(body);
}

Test(openai_parse, callback_stop)
{
    const char *body = CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]")
        CHUNK("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]");
    result_t r = run_stream(body, 0, (size_t)-1, 2);
    cr_assert_eq(r.rc, 1);
    cr_assert_str_eq(r.log, "START chatcmpl-1\nTEXT a\n");
    free(r.log);
}

/* ---- parsing: whole answers ------------------------------------------------ */

Test(openai_parse, whole_text)
{
    assert_whole("{\"id\":\"chatcmpl-B9\",\"object\":\"chat.completion\",\"created\":1741569952,\"model\":\"gpt-4.1\","
                 "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello! \\ud83d\\ude00\","
                 "\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                 "\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,\"total_tokens\":29,"
                 "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                 "\"completion_tokens_details\":{\"reasoning_tokens\":0}},\"service_tier\":\"default\"}",
                 "START chatcmpl-B9\nTEXT Hello! \xf0\x9f\x98\x80\nFINISH stop\nUSAGE in=19 out=10 cached=0\n");
}

Test(openai_parse, whole_tool_calls_and_reasoning)
{
    assert_whole("{\"id\":\"c\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
                 "\"reasoning_content\":\"Need weather.\",\"tool_calls\":["
                 "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{\\\"c\\\":1}\"}},"
                 "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"t\",\"arguments\":{\"o\":true}}}]},"
                 "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}",
                 "START c\nTHINK Need weather.\nCALL 0 id=call_1 name=w args={\"c\":1}\n"
                 "CALL 1 id=call_2 name=t args={\"o\":true}\nFINISH tool_calls\nUSAGE in=3 out=4 cached=-1\n");
}

/* A null finish_reason in a whole answer is a stop; content as parts. */
Test(openai_parse, whole_odd_but_valid)
{
    assert_whole("{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
                 "\"text\":\"b\"}]},\"finish_reason\":null}]}",
                 "START \nTEXT a\nTEXT b\nFINISH stop\n");
    assert_whole("{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
                 "\"finish_reason\":\"length\"}]}",
                 "START x\nFINISH length\n");
}

Test(openai_parse, whole_errors)
{
    assert_whole_fails("{\"id\":", SY_EUPPROTO, "not valid JSON");
    assert_whole_fails("[]", SY_EUPPROTO, "not a JSON object");
    assert_whole_fails("{\"id\":\"x\"}", SY_EUPPROTO, "without a choices array");
    assert_whole_fails("{\"choices\":[]}", SY_EUPPROTO, "without a choice");
    assert_whole_fails("{\"choices\":[{\"message\":3}]}", SY_EUPPROTO, "message is not an object");
    assert_whole_fails("{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"arguments\":\"{}\"}}]}}]}",
                       SY_EUPPROTO, "without a name");
    assert_whole_fails("{\"error\":{\"message\":\"Invalid model\",\"type\":\"invalid_request_error\"}}", SY_EUPSTATUS,
                       "Invalid model");
}

/* ---- embeddings ------------------------------------------------------------ */

static sy_err_t embed(const char *body, size_t n_inputs, sy_embed_t *out, sy_error_t *err)
{
    memset(err, 0, sizeof(*err));
    return sy_egress_parse_embed(SY_PROVIDER_OPENAI, body, strlen(body), n_inputs, &A, out, err);
}

Test(openai_embed, floats_in_index_order)
{
    sy_embed_t e;
    sy_error_t err;
    sy_err_t rc = embed("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,\"embedding\":[0.5,-2,1e-3]},"
                        "{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.25,3]}],\"model\":\"m\","
                        "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}",
                        2, &e, &err);
    cr_assert_eq(rc, SY_OK, "%s", err.message);
    cr_assert_eq(e.n_vecs, 2);
    cr_assert_eq(e.prompt_tokens, 8);
    cr_assert_eq(e.vecs[0].n, 2);
    cr_assert_float_eq(e.vecs[0].v[0], 0.25f, 0);
    cr_assert_float_eq(e.vecs[0].v[1], 3.0f, 0);
    cr_assert_eq(e.vecs[1].n, 3);
    cr_assert_float_eq(e.vecs[1].v[0], 0.5f, 0);
    cr_assert_float_eq(e.vecs[1].v[1], -2.0f, 0);
    cr_assert_float_eq(e.vecs[1].v[2], 1e-3f, 0);
}

/* base64 of little-endian float32 1.0, -2.5 (some servers answer it even
 * when floats were asked for); no usage means unknown. */
Test(openai_embed, base64_vectors)
{
    sy_embed_t e;
    sy_error_t err;
    sy_err_t rc = embed("{\"data\":[{\"index\":0,\"embedding\":\"AACAPwAAIMA=\"},{\"embedding\":\"\"}]}", 2, &e, &err);
    cr_assert_eq(rc, SY_OK, "%s", err.message);
    cr_assert_eq(e.prompt_tokens, -1);
    cr_assert_eq(e.vecs[0].n, 2);
    cr_assert_float_eq(e.vecs[0].v[0], 1.0f, 0);
    cr_assert_float_eq(e.vecs[0].v[1], -2.5f, 0);
    cr_assert_eq(e.vecs[1].n, 0);
}

Test(openai_embed, refusals)
{
    static const struct {
        const char *body;
        size_t n;
        sy_err_t code;
        const char *msg;
    } rows[] = {
        {"{\"data\":[", 1, SY_EUPPROTO, "not valid JSON"},
        {"[]", 1, SY_EUPPROTO, "not a JSON object"},
        {"{\"object\":\"list\"}", 1, SY_EUPPROTO, "without a data array"},
        {"{\"data\":[{\"embedding\":[1]}]}", 2, SY_EUPPROTO, "1 embeddings for 2 inputs"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1]},{\"index\":0,\"embedding\":[2]}]}", 2, SY_EUPPROTO,
         "two embeddings for input 0"},
        {"{\"data\":[{\"index\":2,\"embedding\":[1]}]}", 1, SY_EUPPROTO, "index is not an index"},
        {"{\"data\":[{\"index\":0}]}", 1, SY_EUPPROTO, "without an embedding"},
        {"{\"data\":[{\"embedding\":[1,\"x\"]}]}", 1, SY_EUPPROTO, "not a vector of floats"},
        {"{\"data\":[{\"embedding\":[1e999]}]}", 1, SY_EUPPROTO, "not a vector of floats"},
        {"{\"data\":[{\"embedding\":\"AAA*\"}]}", 1, SY_EUPPROTO, "not a vector of floats"},
        {"{\"data\":[{\"embedding\":\"AACAPwA=\"}]}", 1, SY_EUPPROTO, "not a vector of floats"},
        {"{\"data\":[3]}", 1, SY_EUPPROTO, "data[0] is not an object"},
        {"{\"error\":{\"message\":\"bad input\",\"code\":400}}", 1, SY_EUPSTATUS, "bad input"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sy_embed_t e;
        sy_error_t err;
        sy_err_t rc = embed(rows[i].body, rows[i].n, &e, &err);
        cr_assert_eq(rc, rows[i].code, "row %zu: %s", i, err.message);
        cr_assert_eq(err.code, rows[i].code, "row %zu", i);
        cr_assert(strstr(err.message, rows[i].msg), "row %zu: %s", i, err.message);
    }
}
