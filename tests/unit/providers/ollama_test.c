/*
 * ollama_test.c - unit tests for src/providers/ollama.c, the Ollama egress
 * adapter.
 *
 * Encoding: a golden table of canonical requests and the exact /api/chat,
 * /api/generate and /api/embed bodies they give (each also checked with
 * sy_json_validate) - "stream" always said, options built from the
 * canonical fields plus the client's own, images as bare base64, tool
 * arguments as objects - and the requests it refuses. Parsing: NDJSON
 * streams as Ollama writes them fed whole, one byte at a time and cut at
 * every offset, giving the same events every way; thinking, tool calls,
 * the done line's reason, counts and durations; error lines; truncated
 * streams; whole answers; embeddings.
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

TestSuite(ollama_encode, .init = setup, .fini = teardown);
TestSuite(ollama_parse, .init = setup, .fini = teardown);
TestSuite(ollama_embed, .init = setup, .fini = teardown);

/* ---- building requests ---------------------------------------------------- */

static sy_str_t S(const char *s)
{
    return (sy_str_t){s, strlen(s)};
}

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

static char *encode(const sy_creq_t *q, const char **path, sy_error_t *err)
{
    struct evbuffer *b = evbuffer_new();
    memset(err, 0, sizeof(*err));
    *path = NULL;
    sy_err_t rc = sy_egress_encode(SY_PROVIDER_OLLAMA, q, "llama3.2", 0, b, path, err);
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

/* ---- encoding: chat -------------------------------------------------------- */

Test(ollama_encode, minimal_chat_says_stream_false)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    sy_msg_t msgs[] = {MSG(SY_ROLE_SYSTEM, "Be brief."), MSG(SY_ROLE_USER, "Hi\n")};
    q.msgs = msgs;
    q.n_msgs = 2;
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                "{\"role\":\"user\",\"content\":\"Hi\\n\"}],\"stream\":false}");
    q.stream = 1;
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                "{\"role\":\"user\",\"content\":\"Hi\\n\"}],\"stream\":true}");
}

Test(ollama_encode, every_field)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "Weather?")};
    sy_tool_t tools[] = {
        {S("get_weather"), S("Get the weather"), J("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}")},
        {S("noop"), SY_STR_NULL, {NULL, 0, SY_JNULL}},
    };
    sy_str_t stop[] = {S("END")};
    q.msgs = msgs;
    q.n_msgs = 1;
    q.tools = tools;
    q.n_tools = 2;
    q.tool_choice = SY_TOOLS_AUTO;
    q.parallel_tool_calls = 0; /* no Ollama field */
    q.temperature = J("0.7");
    q.top_p = J("0.9");
    q.top_k = J("40");
    q.presence_penalty = J("0.5");
    q.frequency_penalty = J("-1");
    q.max_tokens = 100;
    q.stop = stop;
    q.n_stop = 1;
    q.seed = 42;
    q.has_seed = 1;
    q.num_ctx = 4096;
    q.format = SY_FORMAT_SCHEMA;
    q.format_schema = J("{\"type\":\"object\",\"required\":[\"a\"]}");
    q.format_name = S("thing"); /* no Ollama field */
    q.user = S("u");           /* no Ollama field */
    q.keep_alive = J("\"10m\"");
    q.think = J("\"high\"");
    q.stream = 1;
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
                "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Get the "
                "weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}},"
                "{\"type\":\"function\",\"function\":{\"name\":\"noop\",\"parameters\":{\"type\":\"object\","
                "\"properties\":{}}}}],"
                "\"format\":{\"type\":\"object\",\"required\":[\"a\"]},"
                "\"options\":{\"temperature\":0.7,\"top_p\":0.9,\"top_k\":40,\"num_predict\":100,\"stop\":[\"END\"],"
                "\"seed\":42,\"num_ctx\":4096,\"presence_penalty\":0.5,\"frequency_penalty\":-1},"
                "\"keep_alive\":\"10m\",\"think\":\"high\",\"stream\":true}");
}

/* The client's own options ride along after the mapped ones; members the
 * canonical fields already wrote are not written twice, those it left
 * unmapped (num_predict -1, a null) go as they were. */
Test(ollama_encode, client_options_merged)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "x")};
    sy_str_t stop[] = {S("<|end|>")};
    q.msgs = msgs;
    q.n_msgs = 1;
    q.options = J("{\"temperature\":0.2,\"mirostat\":2,\"num_predict\":-1,\"stop\":[\"<|end|>\"],\"top_p\":null,"
                  "\"repeat_penalty\":1.1,\"te\\u006dperature\":0.2}");
    q.temperature = J("0.2");
    q.stop = stop;
    q.n_stop = 1;
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                "\"options\":{\"temperature\":0.2,\"stop\":[\"<|end|>\"],\"mirostat\":2,\"num_predict\":-1,"
                "\"top_p\":null,\"repeat_penalty\":1.1},\"stream\":false}");
    /* only the client's */
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    q.msgs = msgs;
    q.n_msgs = 1;
    q.options = J("{\"num_gpu\":0}");
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                "\"options\":{\"num_gpu\":0},\"stream\":false}");
}

Test(ollama_encode, json_format_and_tool_choice)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "x")};
    sy_tool_t tools[] = {{S("a"), SY_STR_NULL, J("{}")}, {S("b"), SY_STR_NULL, J("{}")}};
    q.msgs = msgs;
    q.n_msgs = 1;
    q.tools = tools;
    q.n_tools = 2;
    q.format = SY_FORMAT_JSON;
    q.tool_choice = SY_TOOLS_NONE;
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"format\":\"json\","
                "\"stream\":false}");
    q.tool_choice = SY_TOOLS_NAMED;
    q.tool_choice_name = S("b");
    q.format = SY_FORMAT_SCHEMA; /* without its schema: any JSON */
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"b\",\"parameters\":{}}}],"
                "\"format\":\"json\",\"stream\":false}");
    q.tool_choice_name = S("c"); /* no such tool: all of them */
    q.format = SY_FORMAT_TEXT;
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{}}},"
                "{\"type\":\"function\",\"function\":{\"name\":\"b\",\"parameters\":{}}}],\"stream\":false}");
}

Test(ollama_encode, images_as_base64)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    sy_part_t parts[] = {
        TEXT("What is"),
        {.kind = SY_PART_IMAGE, .data = S("iVBORw0KGgo"), .media_type = S("image/png")},
        TEXT("in this?"),
        {.kind = SY_PART_IMAGE, .url = S("data:image/jpeg;base64,/9j/4AAQ")},
    };
    sy_msg_t msgs[] = {{.role = SY_ROLE_USER, .parts = parts, .n_parts = 4}};
    q.msgs = msgs;
    q.n_msgs = 1;
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"What is\\n\\nin this?\","
                "\"images\":[\"iVBORw0KGgo\",\"/9j/4AAQ\"]}],\"stream\":false}");
    parts[3].url = S("https://example.com/cat.png");
    assert_refused(&q, SY_EUNSUPPORTED, "messages[0].content", "Ollama accepts only inline base64 images");
}

/* An assistant turn with its reasoning and calls (ids when known, empty
 * arguments as {}), results named by their tool or by the call they
 * answer. */
Test(ollama_encode, tool_calls_and_results)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    sy_tool_call_t calls[] = {
        {S("call_1"), S("weather"), S("{\"city\": \"Paris\"}")},
        {SY_STR_NULL, S("time"), SY_STR_NULL},
    };
    sy_msg_t msgs[] = {MSG(SY_ROLE_USER, "Paris?"), MSG(SY_ROLE_ASSISTANT, "Checking."), MSG(SY_ROLE_TOOL, "sunny"),
                       MSG(SY_ROLE_TOOL, "12:00")};
    msgs[1].calls = calls;
    msgs[1].n_calls = 2;
    msgs[1].thinking = S("Two tools.");
    msgs[2].tool_call_id = S("call_1"); /* name looked up */
    msgs[3].tool_name = S("time");
    q.msgs = msgs;
    q.n_msgs = 4;
    assert_body(&q, "/api/chat",
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"Paris?\"},"
                "{\"role\":\"assistant\",\"content\":\"Checking.\",\"thinking\":\"Two tools.\",\"tool_calls\":["
                "{\"id\":\"call_1\",\"function\":{\"name\":\"weather\",\"arguments\":{\"city\": \"Paris\"}}},"
                "{\"function\":{\"name\":\"time\",\"arguments\":{}}}]},"
                "{\"role\":\"tool\",\"content\":\"sunny\",\"tool_name\":\"weather\",\"tool_call_id\":\"call_1\"},"
                "{\"role\":\"tool\",\"content\":\"12:00\",\"tool_name\":\"time\"}],\"stream\":false}");
    calls[1].args = S("\"str\"");
    assert_refused(&q, SY_EBADREQ, "messages[1].tool_calls[1].function.arguments", "must be a JSON object");
}

/* ---- encoding: generate and embed ------------------------------------------ */

Test(ollama_encode, generate)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_GENERATE, SY_PROTO_OPENAI);
    sy_part_t parts[] = {TEXT("def add(a, b):"), {.kind = SY_PART_IMAGE, .data = S("R0lGOD")}};
    sy_msg_t msgs[] = {MSG(SY_ROLE_SYSTEM, "You write Python."), {.role = SY_ROLE_USER, .parts = parts, .n_parts = 2}};
    q.msgs = msgs;
    q.n_msgs = 2;
    q.suffix = S("    return c");
    q.raw = 1;
    q.format = SY_FORMAT_JSON;
    q.temperature = J("0");
    q.keep_alive = J("0");
    q.think = J("false");
    q.stream = 1;
    assert_body(&q, "/api/generate",
                "{\"model\":\"llama3.2\",\"prompt\":\"def add(a, b):\",\"system\":\"You write Python.\","
                "\"suffix\":\"    return c\",\"raw\":true,\"images\":[\"R0lGOD\"],\"format\":\"json\","
                "\"options\":{\"temperature\":0},\"keep_alive\":0,\"think\":false,\"stream\":true}");
    /* no system, an empty prompt (Ollama loads the model) */
    sy_creq_init(&q, SY_OP_GENERATE, SY_PROTO_OLLAMA);
    sy_msg_t empty[] = {MSG(SY_ROLE_USER, "")};
    q.msgs = empty;
    q.n_msgs = 1;
    assert_body(&q, "/api/generate", "{\"model\":\"llama3.2\",\"prompt\":\"\",\"stream\":false}");
    parts[1] = (sy_part_t){.kind = SY_PART_IMAGE, .url = S("http://x/y.png")};
    q.msgs = msgs;
    q.n_msgs = 2;
    assert_refused(&q, SY_EUNSUPPORTED, "images", "Ollama accepts only inline base64 images");
}

Test(ollama_encode, embed)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_EMBED, SY_PROTO_OPENAI);
    sy_str_t in[] = {S("hello"), S("world")};
    q.inputs = in;
    q.n_inputs = 2;
    assert_body(&q, "/api/embed", "{\"model\":\"llama3.2\",\"input\":[\"hello\",\"world\"]}");
    q.truncate = 0;
    q.dimensions = 512;
    q.keep_alive = J("\"1h\"");
    q.user = S("ignored");
    assert_body(&q, "/api/embed",
                "{\"model\":\"llama3.2\",\"input\":[\"hello\",\"world\"],\"truncate\":false,\"dimensions\":512,"
                "\"keep_alive\":\"1h\"}");
    q.truncate = 1;
    assert_body(&q, "/api/embed",
                "{\"model\":\"llama3.2\",\"input\":[\"hello\",\"world\"],\"truncate\":true,\"dimensions\":512,"
                "\"keep_alive\":\"1h\"}");
}

/* ---- parsing: recording events as text ------------------------------------ */

typedef struct rec {
    char *log;
    size_t len, cap;
    int stop_at;
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

static int record(void *ud, const sy_ev_t *ev)
{
    rec_t *r = ud;
    const sy_usage_t *u = &ev->usage;
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
        rec_add(r, "USAGE in=%lld out=%lld total=%lld load=%lld prompt=%lld eval=%lld\n", (long long)u->input_tokens,
                (long long)u->output_tokens, (long long)u->total_duration, (long long)u->load_duration,
                (long long)u->prompt_eval_duration, (long long)u->eval_duration);
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

static result_t run_stream(sy_op_t op, const char *body, size_t step, size_t cut, int stop_at)
{
    sy_eparse_t p;
    rec_t r = {.stop_at = stop_at};
    result_t res;
    size_t n = strlen(body);
    int rc = 0;
    rec_add(&r, "%s", "");
    sy_eparse_init(&p, SY_PROVIDER_OLLAMA, op, 1, record, &r);
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

/* Whole, byte by byte and cut at every offset: the same events, the same
 * ending. */
static result_t parse_every_way(sy_op_t op, const char *body)
{
    result_t whole = run_stream(op, body, 0, (size_t)-1, 0);
    result_t bytes = run_stream(op, body, 1, (size_t)-1, 0);
    cr_assert_str_eq(bytes.log, whole.log, "byte by byte:\n%s\nwhole:\n%s", bytes.log, whole.log);
    cr_assert_eq(bytes.rc, whole.rc);
    cr_assert_eq(bytes.err.code, whole.err.code);
    free(bytes.log);
    for (size_t cut = 0; cut <= strlen(body); cut++) {
        result_t c = run_stream(op, body, 0, cut, 0);
        cr_assert_str_eq(c.log, whole.log, "cut at %zu:\n%s\nwhole:\n%s", cut, c.log, whole.log);
        cr_assert_eq(c.rc, whole.rc, "cut at %zu", cut);
        cr_assert_eq(c.err.code, whole.err.code, "cut at %zu", cut);
        cr_assert_str_eq(c.err.message, whole.err.message, "cut at %zu", cut);
        free(c.log);
    }
    return whole;
}

static void assert_stream(sy_op_t op, const char *body, const char *want)
{
    result_t r = parse_every_way(op, body);
    cr_assert_eq(r.rc, 0, "rc %d: %s", r.rc, r.err.message);
    cr_assert_str_eq(r.log, want, "got:\n%s\nwant:\n%s", r.log, want);
    free(r.log);
}

static void assert_stream_fails(const char *body, sy_err_t code, const char *msg_part, const char *want_events)
{
    result_t r = parse_every_way(SY_OP_CHAT, body);
    cr_assert_eq(r.rc, -1, "rc %d", r.rc);
    cr_assert_eq(r.err.code, code, "code %s: %s", sy_err_name(r.err.code), r.err.message);
    cr_assert(strstr(r.err.message, msg_part), "message: %s", r.err.message);
    cr_assert_str_eq(r.log, want_events, "got:\n%s\nwant:\n%s", r.log, want_events);
    free(r.log);
}

static result_t run_whole(sy_op_t op, const char *body)
{
    sy_eparse_t p;
    rec_t r = {0};
    result_t res;
    rec_add(&r, "%s", "");
    sy_eparse_init(&p, SY_PROVIDER_OLLAMA, op, 0, record, &r);
    res.rc = sy_eparse_whole(&p, body, strlen(body));
    res.log = r.log;
    res.err = p.err;
    sy_eparse_release(&p);
    return res;
}

static void assert_whole(sy_op_t op, const char *body, const char *want)
{
    result_t r = run_whole(op, body);
    cr_assert_eq(r.rc, 0, "rc %d: %s", r.rc, r.err.message);
    cr_assert_str_eq(r.log, want, "got:\n%s\nwant:\n%s", r.log, want);
    free(r.log);
}

static void assert_whole_fails(const char *body, sy_err_t code, const char *msg_part)
{
    result_t r = run_whole(SY_OP_CHAT, body);
    cr_assert_eq(r.rc, -1, "rc %d", r.rc);
    cr_assert_eq(r.err.code, code, "code %s: %s", sy_err_name(r.err.code), r.err.message);
    cr_assert(strstr(r.err.message, msg_part), "message: %s", r.err.message);
    free(r.log);
}

/* ---- parsing: streams ------------------------------------------------------ */

#define LINE(body) "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.1Z\"," body "}\n"
#define DONE_COUNTS                                                                                            \
    "\"total_duration\":4883583458,\"load_duration\":1334875,\"prompt_eval_count\":26,"                        \
    "\"prompt_eval_duration\":342546000,\"eval_count\":282,\"eval_duration\":4535599000"
#define USAGE_LINE "USAGE in=26 out=282 total=4883583458 load=1334875 prompt=342546000 eval=4535599000\n"

Test(ollama_parse, chat_stream)
{
    assert_stream(SY_OP_CHAT,
                  LINE("\"message\":{\"role\":\"assistant\",\"content\":\"The\"},\"done\":false")
                  LINE("\"message\":{\"role\":\"assistant\",\"content\":\" sky \\u00e9\"},\"done\":false")
                  LINE("\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":false")
                  LINE("\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\","
                       DONE_COUNTS),
                  "START \nTEXT The\nTEXT  sky \xc3\xa9\nFINISH stop\n" USAGE_LINE);
}

Test(ollama_parse, thinking_then_text_crlf_and_blank_lines)
{
    assert_stream(SY_OP_CHAT,
                  "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Hmm\"},\"done\":false}\r\n"
                  "\r\n"
                  "{\"message\":{\"role\":\"assistant\",\"content\":\"42\"},\"done\":false}\r\n"
                  "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"length\","
                  "\"prompt_eval_count\":3,\"eval_count\":1}\r\n",
                  "START \nTHINK Hmm\nTEXT 42\nFINISH length\nUSAGE in=3 out=1 total=-1 load=-1 prompt=-1 eval=-1\n");
}

/* Whole calls; Ollama says "stop" after them: tool_calls. Newer versions
 * give an id and an index, older ones neither. */
Test(ollama_parse, tool_calls)
{
    assert_stream(SY_OP_CHAT,
                  LINE("\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_x1\","
                       "\"function\":{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\","
                       "\"days\":[1,2]}}}]},\"done\":false")
                  LINE("\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{"
                       "\"name\":\"get_time\",\"arguments\":{}}},{\"function\":{\"name\":\"noargs\"}}]},\"done\":false")
                  LINE("\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\","
                       DONE_COUNTS),
                  "START \n"
                  "CALL 0 id=call_x1 name=get_weather args={\"city\":\"Paris\",\"days\":[1,2]}\n"
                  "CALL 1 id= name=get_time args={}\n"
                  "CALL 2 id= name=noargs args=\n"
                  "FINISH tool_calls\n" USAGE_LINE);
}

/* /api/generate lines: response and thinking at the top level; context
 * and other members passed over; a last line without its newline. */
Test(ollama_parse, generate_stream)
{
    assert_stream(SY_OP_GENERATE,
                  LINE("\"response\":\"\",\"thinking\":\"ok\",\"done\":false")
                  LINE("\"response\":\"def\",\"done\":false")
                  "{\"model\":\"m\",\"response\":\"\",\"done\":true,\"done_reason\":\"stop\",\"context\":[1,2,3],"
                  DONE_COUNTS "}",
                  "START \nTHINK ok\nTEXT def\nFINISH stop\n" USAGE_LINE);
}

/* A model loaded with an empty prompt: done at once, reason "load". */
Test(ollama_parse, load_only)
{
    assert_stream(SY_OP_CHAT,
                  LINE("\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"load\",\"done\":true"),
                  "START \nFINISH stop\n");
}

Test(ollama_parse, lines_after_done_ignored)
{
    assert_stream(SY_OP_CHAT,
                  LINE("\"message\":{\"content\":\"a\"},\"done\":true") "{\"error\":\"late\"}\nnot json\n",
                  "START \nTEXT a\nFINISH stop\n");
}

Test(ollama_parse, error_line)
{
    assert_stream_fails(LINE("\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false")
                        "{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n",
                        SY_EUPSTATUS, "an error was encountered while running the model: unexpected EOF",
                        "START \nTEXT Hel\n");
    assert_stream_fails("{\"error\":{\"message\":\"nested\"}}\n", SY_EUPSTATUS, "nested", "");
    assert_stream_fails("{\"error\":42}\n", SY_EUPSTATUS, "the upstream reported an error", "");
}

Test(ollama_parse, truncated)
{
    assert_stream_fails(LINE("\"message\":{\"content\":\"a\"},\"done\":false"), SY_EUPCLOSED,
                        "upstream stream ended before its end", "START \nTEXT a\n");
    assert_stream_fails(LINE("\"message\":{\"content\":\"a\"},\"done\":false") "{\"message\":{\"content\":\"b",
                        SY_EUPCLOSED, "upstream stream ended before its end", "START \nTEXT a\n");
    assert_stream_fails("", SY_EUPCLOSED, "ended before its end", "");
}

Test(ollama_parse, protocol_errors)
{
    assert_stream_fails("{\"message\":{\"content\":\"a\"}}\n{oops}\n", SY_EUPPROTO, "not valid JSON", "START \nTEXT a\n");
    assert_stream_fails("[1]\n", SY_EUPPROTO, "not a JSON object", "");
    assert_stream_fails("{\"message\":\"x\"}\n", SY_EUPPROTO, "message is not an object", "START \n");
    assert_stream_fails("{\"message\":{\"content\":5}}\n", SY_EUPPROTO, "content is not a string", "START \n");
    assert_stream_fails("{\"message\":{\"tool_calls\":{}}}\n", SY_EUPPROTO, "tool_calls is not an array", "START \n");
    assert_stream_fails("{\"message\":{\"tool_calls\":[{\"name\":\"f\"}]}}\n", SY_EUPPROTO, "without a function",
                        "START \n");
    assert_stream_fails("{\"message\":{\"tool_calls\":[{\"function\":{\"arguments\":{}}}]}}\n", SY_EUPPROTO,
                        "without a name", "START \n");
    assert_stream_fails("{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":[1]}}]}}\n",
                        SY_EUPPROTO, "arguments are not an object", "START \n");
}

Test(ollama_parse, callback_stop)
{
    result_t r = run_stream(SY_OP_CHAT, "{\"message\":{\"content\":\"a\"}}\n{\"message\":{\"content\":\"b\"}}\n", 0,
                            (size_t)-1, 2);
    cr_assert_eq(r.rc, 1);
    cr_assert_str_eq(r.log, "START \nTEXT a\n");
    free(r.log);
}

/* ---- parsing: whole answers ------------------------------------------------ */

Test(ollama_parse, whole_chat)
{
    assert_whole(SY_OP_CHAT,
                 "{\"model\":\"llama3.2\",\"created_at\":\"2023-12-12T14:13:43.416799Z\",\"message\":{\"role\":"
                 "\"assistant\",\"content\":\"Hello! How are you today?\",\"thinking\":\"Greet.\"},"
                 "\"done\":true,\"done_reason\":\"stop\"," DONE_COUNTS "}",
                 "START \nTHINK Greet.\nTEXT Hello! How are you today?\nFINISH stop\n" USAGE_LINE);
    assert_whole(SY_OP_CHAT,
                 "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
                 "\"arguments\":\"{\\\"a\\\":1}\"}}]},\"done\":true}",
                 "START \nCALL 0 id= name=f args={\"a\":1}\nFINISH tool_calls\n");
}

Test(ollama_parse, whole_generate)
{
    assert_whole(SY_OP_GENERATE,
                 "{\"model\":\"llama3.2\",\"response\":\"The sky is blue.\",\"done\":true,\"done_reason\":\"length\","
                 "\"context\":[1,2],\"prompt_eval_count\":5,\"eval_count\":10}",
                 "START \nTEXT The sky is blue.\nFINISH length\nUSAGE in=5 out=10 total=-1 load=-1 prompt=-1 eval=-1\n");
}

Test(ollama_parse, whole_errors)
{
    assert_whole_fails("{\"message\":", SY_EUPPROTO, "not valid JSON");
    assert_whole_fails("\"x\"", SY_EUPPROTO, "not a JSON object");
    assert_whole_fails("{\"message\":[]}", SY_EUPPROTO, "message is not an object");
    assert_whole_fails("{\"error\":\"model 'x' not found\"}", SY_EUPSTATUS, "model 'x' not found");
}

/* ---- embeddings ------------------------------------------------------------ */

static sy_err_t embed(const char *body, size_t n_inputs, sy_embed_t *out, sy_error_t *err)
{
    memset(err, 0, sizeof(*err));
    return sy_egress_parse_embed(SY_PROVIDER_OLLAMA, body, strlen(body), n_inputs, &A, out, err);
}

Test(ollama_embed, embeddings)
{
    sy_embed_t e;
    sy_error_t err;
    sy_err_t rc = embed("{\"model\":\"all-minilm\",\"embeddings\":[[0.010071029,-0.0017594862,0.05007221],"
                        "[-0.0098027075,0.06042469,2]],\"total_duration\":14143917,\"load_duration\":1019500,"
                        "\"prompt_eval_count\":8}",
                        2, &e, &err);
    cr_assert_eq(rc, SY_OK, "%s", err.message);
    cr_assert_eq(e.n_vecs, 2);
    cr_assert_eq(e.prompt_tokens, 8);
    cr_assert_eq(e.vecs[0].n, 3);
    cr_assert_float_eq(e.vecs[0].v[0], 0.010071029f, 0);
    cr_assert_float_eq(e.vecs[0].v[2], 0.05007221f, 0);
    cr_assert_eq(e.vecs[1].n, 3);
    cr_assert_float_eq(e.vecs[1].v[1], 0.06042469f, 0);
    cr_assert_float_eq(e.vecs[1].v[2], 2.0f, 0);
}

/* The older /api/embeddings shape, one vector, no count. */
Test(ollama_embed, single_embedding)
{
    sy_embed_t e;
    sy_error_t err;
    sy_err_t rc = embed("{\"embedding\":[0.5,-0.25]}", 1, &e, &err);
    cr_assert_eq(rc, SY_OK, "%s", err.message);
    cr_assert_eq(e.n_vecs, 1);
    cr_assert_eq(e.prompt_tokens, -1);
    cr_assert_eq(e.vecs[0].n, 2);
    cr_assert_float_eq(e.vecs[0].v[1], -0.25f, 0);
}

Test(ollama_embed, refusals)
{
    static const struct {
        const char *body;
        size_t n;
        sy_err_t code;
        const char *msg;
    } rows[] = {
        {"{\"embeddings\":[[1]", 1, SY_EUPPROTO, "not valid JSON"},
        {"[[1]]", 1, SY_EUPPROTO, "not a JSON object"},
        {"{\"model\":\"m\"}", 1, SY_EUPPROTO, "without an embeddings array"},
        {"{\"embeddings\":[[1],[2]]}", 1, SY_EUPPROTO, "2 embeddings for 1 inputs"},
        {"{\"embedding\":[1]}", 2, SY_EUPPROTO, "1 embeddings for 2 inputs"},
        {"{\"embeddings\":[[1,\"2\"]]}", 1, SY_EUPPROTO, "not a vector of floats"},
        {"{\"embeddings\":[{}]}", 1, SY_EUPPROTO, "not a vector of floats"},
        {"{\"embeddings\":[[1e40]]}", 1, SY_EUPPROTO, "not a vector of floats"},
        {"{\"error\":\"input length exceeds the context length\"}", 1, SY_EUPSTATUS, "input length exceeds"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sy_embed_t e;
        sy_error_t err;
        sy_err_t rc = embed(rows[i].body, rows[i].n, &e, &err);
        cr_assert_eq(rc, rows[i].code, "row %zu: %s", i, err.message);
        cr_assert(strstr(err.message, rows[i].msg), "row %zu: %s", i, err.message);
    }
}
