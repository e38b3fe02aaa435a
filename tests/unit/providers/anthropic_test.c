/*
 * anthropic_test.c - unit tests for src/providers/anthropic.c, the
 * Anthropic egress adapter.
 *
 * Encoding is checked against golden JSON text, one canonical request per
 * row: system messages hoisted to "system", max_tokens defaulted, sampling
 * and stop sequences, a tool round trip (ids made and sanitised, results
 * matched by id, by order and by name, merged into one user turn), images,
 * merged roles, the response-format instruction, every tool_choice, and the
 * requests refused with the field named. Every output is also checked to be
 * valid JSON.
 *
 * Parsing is checked by the trace of canonical events a parser gives: a
 * recorded-looking stream fed whole, split at every byte boundary and byte
 * by byte must give the same trace; tool_use input streamed as
 * input_json_delta; usage from message_start and message_delta; error
 * events and their statuses; truncated streams; whole message objects; and
 * bad JSON.
 */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"
#include "providers/egress.h"

#define S(lit) ((sy_str_t){(lit), sizeof(lit) - 1})
#define JV(lit) ((sy_jval_t){(lit), sizeof(lit) - 1, SY_JINT})
#define N(arr) (sizeof(arr) / sizeof((arr)[0]))

/* ---- encoding helpers ----------------------------------------------------- */

static sy_part_t text_part(sy_str_t t)
{
    return (sy_part_t){.kind = SY_PART_TEXT, .text = t};
}

static sy_msg_t msg(sy_role_t role, sy_part_t *parts, size_t n)
{
    return (sy_msg_t){.role = role, .parts = parts, .n_parts = n};
}

/* Encode q for model "claude-x" with a default of 1024 tokens; returns the
 * body (malloc'd, NUL-terminated) or NULL with *rc and err set. */
static char *encode(const sy_creq_t *q, int64_t default_max, sy_err_t *rc, sy_error_t *err)
{
    struct evbuffer *b = evbuffer_new();
    const char *path = NULL;
    memset(err, 0, sizeof(*err));
    *rc = sy__anthropic_encode(q, "claude-x", default_max, b, &path, err);
    char *s = NULL;
    if (*rc == SY_OK) {
        cr_assert_str_eq(path, "/v1/messages");
        size_t n = evbuffer_get_length(b);
        s = malloc(n + 1);
        evbuffer_remove(b, s, n);
        s[n] = '\0';
        size_t off;
        const char *m;
        cr_assert_eq(sy_json_validate(s, n, &off, &m), 0, "invalid JSON at %zu (%s): %s", off, m, s);
    }
    evbuffer_free(b);
    return s;
}

static void encode_is(const sy_creq_t *q, int64_t default_max, const char *want)
{
    sy_err_t rc;
    sy_error_t err;
    char *got = encode(q, default_max, &rc, &err);
    cr_assert_eq(rc, SY_OK, "encode failed: %s", err.message);
    cr_assert_str_eq(got, want, "\n got: %s\nwant: %s", got, want);
    free(got);
}

static void encode_fails(const sy_creq_t *q, sy_err_t code, const char *param)
{
    sy_err_t rc;
    sy_error_t err;
    char *got = encode(q, 1024, &rc, &err);
    cr_assert_null(got, "encoded: %s", got);
    cr_assert_eq(rc, code, "rc %d (%s)", rc, err.message);
    cr_assert_eq(err.code, code);
    if (param)
        cr_assert_str_eq(err.param, param, "param %s (%s)", err.param, err.message);
}

/* ---- encoding: golden rows ------------------------------------------------- */

Test(anthropic_encode, system_hoisted_and_max_tokens_defaulted)
{
    sy_part_t sys1[] = {text_part(S("Be brief."))};
    sy_part_t sys2[] = {text_part(S("Use French.")), text_part(S("")), text_part(S("Be polite."))};
    sy_part_t hi[] = {text_part(S("Hi"))};
    sy_msg_t msgs[] = {msg(SY_ROLE_SYSTEM, sys1, 1), msg(SY_ROLE_USER, hi, 1), msg(SY_ROLE_SYSTEM, sys2, 3)};
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    q.msgs = msgs;
    q.n_msgs = N(msgs);
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"system\":\"Be brief.\\n\\nUse French.\\n\\nBe polite.\","
              "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}]}");
    /* no provider default either: 4096 */
    encode_is(&q, 0,
              "{\"model\":\"claude-x\",\"max_tokens\":4096,\"system\":\"Be brief.\\n\\nUse French.\\n\\nBe polite.\","
              "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}]}");
    /* the client's own max_tokens wins; no system message, no "system" */
    q.max_tokens = 77;
    q.msgs = msgs + 1;
    q.n_msgs = 1;
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":77,"
              "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}]}");
}

Test(anthropic_encode, sampling_stop_user_stream)
{
    sy_part_t hi[] = {text_part(S("Say \"hi\"\n"))};
    sy_msg_t msgs[] = {msg(SY_ROLE_USER, hi, 1)};
    sy_str_t stop[] = {S("END"), S("\n\n")};
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    q.msgs = msgs;
    q.n_msgs = 1;
    q.stream = 1;
    q.max_tokens = 100;
    q.temperature = JV("0.5");
    q.top_p = JV("0.9");
    q.top_k = JV("40");
    q.presence_penalty = JV("1"); /* no Anthropic field */
    q.seed = 7, q.has_seed = 1;
    q.stop = stop;
    q.n_stop = 2;
    q.user = S("user-1");
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":"
              "[{\"type\":\"text\",\"text\":\"Say \\\"hi\\\"\\n\"}]}],\"stop_sequences\":[\"END\",\"\\n\\n\"],"
              "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"metadata\":{\"user_id\":\"user-1\"},"
              "\"stream\":true}");
}

/* A whole tool round trip: the assistant's text and two calls (one without
 * an id, Ollama style), a result naming its call, a result without an id
 * matched by its tool's name, and the user's next words - the results and
 * the words merged into one user turn, results first. */
Test(anthropic_encode, tool_round_trip)
{
    static const char params[] = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}";
    sy_tool_t tools[] = {
        {.name = S("get_weather"), .description = S("Weather now"), .parameters = {params, sizeof(params) - 1, SY_JOBJECT}},
        {.name = S("time")},
    };
    sy_part_t ask[] = {text_part(S("Weather and time?"))};
    sy_part_t check[] = {text_part(S("Let me check."))};
    sy_tool_call_t calls[] = {
        {.id = S("call_1"), .name = S("get_weather"), .args = S("{\"city\":\"Paris\"}")},
        {.name = S("time"), .args = S("")},
    };
    sy_part_t r1[] = {text_part(S("18C"))};
    sy_part_t r2[] = {text_part(S("clock broken"))};
    sy_part_t thanks[] = {text_part(S("thanks"))};
    sy_msg_t msgs[] = {
        msg(SY_ROLE_USER, ask, 1),
        {.role = SY_ROLE_ASSISTANT, .parts = check, .n_parts = 1, .calls = calls, .n_calls = 2,
         .thinking = S("dropped")},
        {.role = SY_ROLE_TOOL, .parts = r2, .n_parts = 1, .tool_name = S("time"), .is_error = 1},
        {.role = SY_ROLE_TOOL, .parts = r1, .n_parts = 1, .tool_call_id = S("call_1")},
        msg(SY_ROLE_USER, thanks, 1),
    };
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    q.msgs = msgs;
    q.n_msgs = N(msgs);
    q.tools = tools;
    q.n_tools = 2;
    q.tool_choice = SY_TOOLS_AUTO;
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"messages\":["
              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather and time?\"}]},"
              "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Let me check.\"},"
              "{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}},"
              "{\"type\":\"tool_use\",\"id\":\"toolu_1_1\",\"name\":\"time\",\"input\":{}}]},"
              "{\"role\":\"user\",\"content\":["
              "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1_1\",\"content\":\"clock broken\",\"is_error\":true},"
              "{\"type\":\"tool_result\",\"tool_use_id\":\"call_1\",\"content\":\"18C\"},"
              "{\"type\":\"text\",\"text\":\"thanks\"}]}],"
              "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Weather now\",\"input_schema\":"
              "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}},"
              "{\"name\":\"time\",\"input_schema\":{\"type\":\"object\"}}],"
              "\"tool_choice\":{\"type\":\"auto\"}}");
}

/* Results without an id and without a name answer the calls in order; a
 * result with an image gets block content; an empty result no content. */
Test(anthropic_encode, tool_results_by_order)
{
    sy_tool_call_t calls[] = {
        {.name = S("a"), .args = S(" {} ")},
        {.name = S("b"), .args = S("{\"x\":[1,2]}")},
    };
    sy_part_t r1[] = {text_part(S("one")), {.kind = SY_PART_IMAGE, .data = S("R0lGODlh"), .media_type = S("")}};
    sy_msg_t msgs[] = {
        {.role = SY_ROLE_ASSISTANT, .calls = calls, .n_calls = 2},
        {.role = SY_ROLE_TOOL, .parts = r1, .n_parts = 2},
        {.role = SY_ROLE_TOOL},
    };
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    q.msgs = msgs;
    q.n_msgs = N(msgs);
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"messages\":["
              "{\"role\":\"assistant\",\"content\":["
              "{\"type\":\"tool_use\",\"id\":\"toolu_0_0\",\"name\":\"a\",\"input\": {} },"
              "{\"type\":\"tool_use\",\"id\":\"toolu_0_1\",\"name\":\"b\",\"input\":{\"x\":[1,2]}}]},"
              "{\"role\":\"user\",\"content\":["
              "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_0_0\",\"content\":[{\"type\":\"text\",\"text\":\"one\"},"
              "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/gif\",\"data\":\"R0lGODlh\"}}]},"
              "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_0_1\"}]}]}");
}

/* Ids outside [A-Za-z0-9_-] are rewritten the same way on both sides. */
Test(anthropic_encode, tool_ids_sanitised)
{
    sy_tool_call_t calls[] = {{.id = S("call.1:x"), .name = S("f"), .args = S("{}")}};
    sy_part_t r[] = {text_part(S("ok"))};
    sy_msg_t msgs[] = {
        {.role = SY_ROLE_ASSISTANT, .calls = calls, .n_calls = 1},
        {.role = SY_ROLE_TOOL, .parts = r, .n_parts = 1, .tool_call_id = S("call.1:x")},
    };
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    q.msgs = msgs;
    q.n_msgs = N(msgs);
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"messages\":["
              "{\"role\":\"assistant\",\"content\":["
              "{\"type\":\"tool_use\",\"id\":\"call_1_x_ba4f435e\",\"name\":\"f\",\"input\":{}}]},"
              "{\"role\":\"user\",\"content\":["
              "{\"type\":\"tool_result\",\"tool_use_id\":\"call_1_x_ba4f435e\",\"content\":\"ok\"}]}]}");
}

Test(anthropic_encode, images)
{
    sy_part_t parts[] = {
        text_part(S("What is in these?")),
        {.kind = SY_PART_IMAGE, .data = S("iVBORw0KGgoAAAA"), .media_type = S("")},
        {.kind = SY_PART_IMAGE, .data = S("/9j/4AAQ"), .media_type = S("")},
        {.kind = SY_PART_IMAGE, .data = S("AAAA"), .media_type = S("image/webp")},
        {.kind = SY_PART_IMAGE, .url = S("https://example.com/cat.png")},
        {.kind = SY_PART_IMAGE, .url = S("data:image/gif;base64,R0lGOD")},
    };
    sy_msg_t msgs[] = {msg(SY_ROLE_USER, parts, N(parts))};
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    q.msgs = msgs;
    q.n_msgs = 1;
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\",\"content\":["
              "{\"type\":\"text\",\"text\":\"What is in these?\"},"
              "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"iVBORw0KGgoAAAA\"}},"
              "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/jpeg\",\"data\":\"/9j/4AAQ\"}},"
              "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/webp\",\"data\":\"AAAA\"}},"
              "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://example.com/cat.png\"}},"
              "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/gif\",\"data\":\"R0lGOD\"}}"
              "]}]}");
}

/* Same-role neighbours merge; a system message between two user messages
 * and a message with nothing to say do not split a turn; empty text is
 * left out. */
Test(anthropic_encode, merged_roles)
{
    sy_part_t a[] = {text_part(S("one"))}, b[] = {text_part(S("")), text_part(S("two"))};
    sy_part_t c[] = {text_part(S("three"))}, d[] = {text_part(S("four"))};
    sy_part_t empty[] = {text_part(S(""))}, sys[] = {text_part(S("S"))}, e[] = {text_part(S("five"))};
    sy_msg_t msgs[] = {
        msg(SY_ROLE_USER, a, 1),      msg(SY_ROLE_SYSTEM, sys, 1),  msg(SY_ROLE_USER, b, 2),
        msg(SY_ROLE_ASSISTANT, c, 1), msg(SY_ROLE_USER, empty, 1),  msg(SY_ROLE_ASSISTANT, d, 1),
        msg(SY_ROLE_ASSISTANT, empty, 1), msg(SY_ROLE_USER, e, 1),
    };
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OLLAMA);
    q.msgs = msgs;
    q.n_msgs = N(msgs);
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"system\":\"S\",\"messages\":["
              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"one\"},{\"type\":\"text\",\"text\":\"two\"}]},"
              "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"three\"},"
              "{\"type\":\"text\",\"text\":\"four\"}]},"
              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"five\"}]}]}");
}

Test(anthropic_encode, response_format_instruction)
{
    static const char schema[] = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}";
    sy_part_t sys[] = {text_part(S("You count."))}, hi[] = {text_part(S("How many?"))};
    sy_msg_t msgs[] = {msg(SY_ROLE_SYSTEM, sys, 1), msg(SY_ROLE_USER, hi, 1)};
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    q.msgs = msgs + 1;
    q.n_msgs = 1;
    q.format = SY_FORMAT_JSON;
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"system\":\"Respond with only a JSON object.\","
              "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"How many?\"}]}]}");
    q.msgs = msgs;
    q.n_msgs = 2;
    q.format = SY_FORMAT_SCHEMA;
    q.format_schema = (sy_jval_t){schema, sizeof(schema) - 1, SY_JOBJECT};
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"system\":\"You count.\\n\\nRespond with only a JSON "
              "object matching this JSON Schema: {\\\"type\\\":\\\"object\\\",\\\"properties\\\":{\\\"n\\\":"
              "{\\\"type\\\":\\\"integer\\\"}}}\","
              "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"How many?\"}]}]}");
}

Test(anthropic_encode, tool_choice_table)
{
    static const struct {
        sy_tool_choice_t choice;
        int parallel;
        const char *want; /* after "tools":[...] */
    } rows[] = {
        {SY_TOOLS_DEFAULT, -1, ""},
        {SY_TOOLS_DEFAULT, 1, ""},
        {SY_TOOLS_DEFAULT, 0, ",\"tool_choice\":{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"},
        {SY_TOOLS_AUTO, -1, ",\"tool_choice\":{\"type\":\"auto\"}"},
        {SY_TOOLS_AUTO, 0, ",\"tool_choice\":{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"},
        {SY_TOOLS_NONE, -1, ",\"tool_choice\":{\"type\":\"none\"}"},
        {SY_TOOLS_NONE, 0, ",\"tool_choice\":{\"type\":\"none\"}"},
        {SY_TOOLS_REQUIRED, 1, ",\"tool_choice\":{\"type\":\"any\"}"},
        {SY_TOOLS_REQUIRED, 0, ",\"tool_choice\":{\"type\":\"any\",\"disable_parallel_tool_use\":true}"},
        {SY_TOOLS_NAMED, -1, ",\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\"}"},
        {SY_TOOLS_NAMED, 0, ",\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\",\"disable_parallel_tool_use\":true}"},
    };
    sy_tool_t tools[] = {{.name = S("f")}};
    sy_part_t hi[] = {text_part(S("go"))};
    sy_msg_t msgs[] = {msg(SY_ROLE_USER, hi, 1)};
    for (size_t i = 0; i < N(rows); i++) {
        sy_creq_t q;
        sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
        q.msgs = msgs;
        q.n_msgs = 1;
        q.tools = tools;
        q.n_tools = 1;
        q.tool_choice = rows[i].choice;
        q.tool_choice_name = S("f");
        q.parallel_tool_calls = rows[i].parallel;
        char want[1024];
        snprintf(want, sizeof(want),
                 "{\"model\":\"claude-x\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\",\"content\":"
                 "[{\"type\":\"text\",\"text\":\"go\"}]}],\"tools\":[{\"name\":\"f\",\"input_schema\":"
                 "{\"type\":\"object\"}}]%s}",
                 rows[i].want);
        encode_is(&q, 1024, want);
    }
    /* no tools: no tool_choice either */
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    q.msgs = msgs;
    q.n_msgs = 1;
    q.tool_choice = SY_TOOLS_REQUIRED;
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\",\"content\":"
              "[{\"type\":\"text\",\"text\":\"go\"}]}]}");
}

Test(anthropic_encode, generate_is_one_user_turn)
{
    sy_part_t sys[] = {text_part(S("Complete it."))}, prompt[] = {text_part(S("Once upon"))};
    sy_msg_t msgs[] = {msg(SY_ROLE_SYSTEM, sys, 1), msg(SY_ROLE_USER, prompt, 1)};
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_GENERATE, SY_PROTO_OLLAMA);
    q.msgs = msgs;
    q.n_msgs = 2;
    q.stream = 1;
    q.raw = 1; /* no template anywhere at Anthropic */
    encode_is(&q, 1024,
              "{\"model\":\"claude-x\",\"max_tokens\":1024,\"system\":\"Complete it.\",\"messages\":"
              "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Once upon\"}]}],\"stream\":true}");
}

Test(anthropic_encode, refusals_name_the_field)
{
    sy_part_t hi[] = {text_part(S("hi"))};
    sy_tool_call_t bad_args[] = {{.id = S("c1"), .name = S("f"), .args = S("[1,2]")}};
    sy_tool_call_t bad_json[] = {{.id = S("c1"), .name = S("f"), .args = S("{\"a\":")}};
    sy_msg_t m1[] = {msg(SY_ROLE_USER, hi, 1), {.role = SY_ROLE_ASSISTANT, .calls = bad_args, .n_calls = 1}};
    sy_msg_t m2[] = {msg(SY_ROLE_USER, hi, 1), {.role = SY_ROLE_ASSISTANT, .calls = bad_json, .n_calls = 1}};
    sy_tool_call_t one[] = {{.id = S("c1"), .name = S("f"), .args = S("{}")}};
    /* two results without ids for one call; then a result naming another tool */
    sy_msg_t m3[] = {{.role = SY_ROLE_ASSISTANT, .calls = one, .n_calls = 1}, {.role = SY_ROLE_TOOL},
                     {.role = SY_ROLE_TOOL}};
    sy_msg_t m4[] = {{.role = SY_ROLE_ASSISTANT, .calls = one, .n_calls = 1},
                     {.role = SY_ROLE_TOOL, .tool_name = S("g")}};
    /* a result without id and no call before it */
    sy_msg_t m5[] = {msg(SY_ROLE_USER, hi, 1), {.role = SY_ROLE_TOOL}};
    sy_part_t empty[] = {text_part(S(""))};
    sy_msg_t m6[] = {msg(SY_ROLE_SYSTEM, hi, 1), msg(SY_ROLE_USER, empty, 1)};
    const struct {
        sy_msg_t *m;
        size_t n;
        sy_err_t code;
        const char *param;
    } rows[] = {
        {m1, 2, SY_EBADREQ, "messages[1].tool_calls[0].arguments"},
        {m2, 2, SY_EBADREQ, "messages[1].tool_calls[0].arguments"},
        {m3, 3, SY_EBADREQ, "messages[2].tool_call_id"},
        {m4, 2, SY_EBADREQ, "messages[1].tool_call_id"},
        {m5, 2, SY_EBADREQ, "messages[1].tool_call_id"},
        {m6, 2, SY_EBADREQ, "messages"},
    };
    for (size_t i = 0; i < N(rows); i++) {
        sy_creq_t q;
        sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
        q.msgs = rows[i].m;
        q.n_msgs = rows[i].n;
        encode_fails(&q, rows[i].code, rows[i].param);
    }
    sy_msg_t ok[] = {msg(SY_ROLE_USER, hi, 1)};
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_GENERATE, SY_PROTO_OLLAMA);
    q.msgs = ok;
    q.n_msgs = 1;
    q.suffix = S("The end.");
    encode_fails(&q, SY_EBADREQ, "suffix");
    sy_str_t inputs[] = {S("x")};
    sy_creq_init(&q, SY_OP_EMBED, SY_PROTO_OPENAI);
    q.inputs = inputs;
    q.n_inputs = 1;
    encode_fails(&q, SY_EUNSUPPORTED, NULL);
}

/* ---- parsing helpers ------------------------------------------------------- */

/* The events a parser gave, one line each, and whether to stop at one. */
typedef struct trace {
    char buf[16384];
    size_t len;
    int stop_at; /* event number whose callback returns 1; -1 never */
    int n;
} trace_t;

static void put(trace_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(trace_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof(t->buf) - t->len, "trace full");
    t->len += (size_t)n;
}

#define STR(s) (int)(s).len, (s).p ? (s).p : ""

static int record(void *ud, const sy_ev_t *ev)
{
    trace_t *t = ud;
    switch (ev->kind) {
    case SY_EV_START:
        put(t, "START %.*s\n", STR(ev->id));
        break;
    case SY_EV_TEXT:
        put(t, "TEXT %.*s\n", STR(ev->text));
        break;
    case SY_EV_THINKING:
        put(t, "THINKING %.*s\n", STR(ev->text));
        break;
    case SY_EV_TOOL_CALL:
        put(t, "CALL %d id=%.*s name=%.*s args=%.*s\n", ev->index, STR(ev->id), STR(ev->name), STR(ev->args));
        break;
    case SY_EV_FINISH:
        put(t, "FINISH %d %.*s\n", (int)ev->finish, STR(ev->stop_sequence));
        break;
    case SY_EV_USAGE:
        put(t, "USAGE in=%lld out=%lld cr=%lld cw=%lld\n", (long long)ev->usage.input_tokens,
            (long long)ev->usage.output_tokens, (long long)ev->usage.cache_read_tokens,
            (long long)ev->usage.cache_write_tokens);
        break;
    case SY_EV_ERROR:
        put(t, "ERROR\n");
        break;
    }
    return t->n++ == t->stop_at;
}

/* Feed s in two pieces split at cut (SIZE_MAX: byte by byte), then end.
 * Returns the last non-zero return of feed or end (0 when all went well);
 * the trace and the parser's error land in t and *err. */
static int run_stream(const char *s, size_t len, size_t cut, trace_t *t, sy_error_t *err)
{
    sy_eparse_t p;
    memset(t, 0, sizeof(*t));
    t->stop_at = -1;
    sy_eparse_init(&p, SY_PROVIDER_ANTHROPIC, SY_OP_CHAT, 1, record, t);
    int rc = 0;
    if (cut == SIZE_MAX) {
        for (size_t i = 0; i < len && !rc; i++)
            rc = sy_eparse_feed(&p, s + i, 1);
    } else {
        rc = sy_eparse_feed(&p, s, cut);
        if (!rc)
            rc = sy_eparse_feed(&p, s + cut, len - cut);
    }
    if (!rc)
        rc = sy_eparse_end(&p);
    *err = p.err;
    sy_eparse_release(&p);
    return rc;
}

/* s fed whole, split at every byte boundary and byte by byte gives rc and
 * the trace want every time. */
static void stream_is(const char *s, int want_rc, const char *want)
{
    size_t len = strlen(s);
    trace_t *t = malloc(sizeof(*t));
    sy_error_t err;
    for (size_t cut = 0; cut <= len + 1; cut++) {
        size_t c = cut == len + 1 ? SIZE_MAX : cut;
        int rc = run_stream(s, len, c, t, &err);
        cr_assert_eq(rc, want_rc, "cut %zu: rc %d (%s)", cut, rc, err.message);
        t->buf[t->len] = '\0';
        cr_assert_str_eq(t->buf, want, "cut %zu:\n got:\n%s\nwant:\n%s", cut, t->buf, want);
    }
    free(t);
}

/* ---- parsing: streams ------------------------------------------------------ */

/* What the API sends for a plain answer, with a ping and CRLF line ends in
 * one event. */
static const char text_stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XYZ\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
    "\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\r\n\r\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\", w\\u00f6rld\\n\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},"
    "\"usage\":{\"output_tokens\":12}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

Test(anthropic_parse, text_stream_any_split)
{
    stream_is(text_stream, 0,
              "START msg_01XYZ\n"
              "USAGE in=25 out=1 cr=0 cw=0\n"
              "TEXT Hello\n"
              "TEXT , w\xc3\xb6rld\n\n"
              "FINISH 1 END\n"
              "USAGE in=-1 out=12 cr=-1 cw=-1\n");
}

/* Thinking, then text, then two tools whose input arrives in pieces; a
 * server tool's block and its input are passed over; the signature is
 * ignored. */
static const char tool_stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_T\",\"type\":\"message\",\"role\":\"assistant\","
    "\"content\":[],\"usage\":{\"input_tokens\":100,\"output_tokens\":0}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Need weather.\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"Checking.\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\","
    "\"name\":\"web_search\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_A\","
    "\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \"}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":4,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_B\","
    "\"name\":\"time\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":3}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":4}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":58}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

Test(anthropic_parse, tool_use_stream_any_split)
{
    stream_is(tool_stream, 0,
              "START msg_T\n"
              "USAGE in=100 out=0 cr=-1 cw=-1\n"
              "THINKING Need weather.\n"
              "TEXT Checking.\n"
              "CALL 0 id=toolu_A name=get_weather args=\n"
              "CALL 0 id= name= args={\"city\": \n"
              "CALL 1 id=toolu_B name=time args=\n"
              "CALL 0 id= name= args=\"Paris\"}\n"
              "FINISH 3 \n"
              "USAGE in=-1 out=58 cr=-1 cw=-1\n");
}

/* Usage from message_start (input and cache counts) and message_delta
 * (output, and input when a server tool changed it) merge into p->usage. */
Test(anthropic_parse, usage_across_start_and_delta)
{
    static const char s[] =
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_U\",\"usage\":{\"input_tokens\":5,"
        "\"cache_read_input_tokens\":2000,\"cache_creation_input_tokens\":300,\"output_tokens\":1}}}\n\n"
        "event: message_delta\n"
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},"
        "\"usage\":{\"input_tokens\":7,\"output_tokens\":64,\"cache_read_input_tokens\":null}}\n\n"
        "event: message_stop\n"
        "data: {\"type\":\"message_stop\"}\n\n";
    trace_t *t = malloc(sizeof(*t));
    sy_eparse_t p;
    memset(t, 0, sizeof(*t));
    t->stop_at = -1;
    sy_eparse_init(&p, SY_PROVIDER_ANTHROPIC, SY_OP_CHAT, 1, record, t);
    cr_assert_eq(sy_eparse_feed(&p, s, sizeof(s) - 1), 0, "%s", p.err.message);
    cr_assert_eq(sy_eparse_end(&p), 0, "%s", p.err.message);
    t->buf[t->len] = '\0';
    cr_assert_str_eq(t->buf,
                     "START msg_U\n"
                     "USAGE in=2305 out=1 cr=2000 cw=300\n"
                     "FINISH 2 \n"
                     "USAGE in=7 out=64 cr=-1 cw=-1\n");
    cr_assert_eq(p.usage.input_tokens, 7);
    cr_assert_eq(p.usage.output_tokens, 64);
    cr_assert_eq(p.usage.cache_read_tokens, 2000);
    cr_assert_eq(p.usage.cache_write_tokens, 300);
    sy_eparse_release(&p);
    free(t);
}

static void error_case(const char *type, const char *message, int status, const char *want_msg)
{
    char s[1024];
    snprintf(s, sizeof(s),
             "event: message_start\n"
             "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_E\",\"usage\":{\"input_tokens\":3}}}\n\n"
             "event: content_block_start\n"
             "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"Hi\"}}\n\n"
             "event: error\n"
             "data: {\"type\":\"error\",\"error\":{\"type\":\"%s\"%s%s%s}}\n\n"
             "event: message_stop\n"
             "data: {\"type\":\"message_stop\"}\n\n",
             type, message ? ",\"message\":\"" : "", message ? message : "", message ? "\"" : "");
    size_t len = strlen(s);
    trace_t *t = malloc(sizeof(*t));
    sy_error_t err;
    for (size_t cut = 0; cut <= len + 1; cut++) {
        int rc = run_stream(s, len, cut == len + 1 ? SIZE_MAX : cut, t, &err);
        cr_assert_eq(rc, -1, "%s cut %zu: rc %d", type, cut, rc);
        cr_assert_eq(err.code, SY_EUPSTATUS);
        cr_assert_eq(sy_error_status(&err), status, "%s: status %d", type, sy_error_status(&err));
        cr_assert_str_eq(err.message, want_msg);
        t->buf[t->len] = '\0';
        cr_assert_str_eq(t->buf, "START msg_E\nUSAGE in=3 out=-1 cr=-1 cw=-1\nTEXT Hi\n", "%s", t->buf);
    }
    free(t);
}

Test(anthropic_parse, error_event)
{
    error_case("overloaded_error", "Overloaded", 529, "Overloaded");
    error_case("rate_limit_error", "Slow down", 429, "Slow down");
    error_case("api_error", "Internal server error", 500, "Internal server error");
    error_case("invalid_request_error", "bad \\\"thing\\\"", 400, "bad \"thing\"");
    error_case("something_new", "Odd", 502, "Odd");
    error_case("overloaded_error", NULL, 529, "overloaded_error");
}

/* An error event before anything else: no START, just the error. */
Test(anthropic_parse, error_event_first)
{
    static const char s[] = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                            "\"message\":\"Overloaded\"}}\n\n";
    trace_t t;
    sy_error_t err;
    cr_assert_eq(run_stream(s, sizeof(s) - 1, 10, &t, &err), -1);
    cr_assert_eq(t.len, 0);
    cr_assert_eq(err.status, 529);
}

Test(anthropic_parse, truncated_stream)
{
    size_t full = strlen(text_stream);
    const char *stop = strstr(text_stream, "event: message_stop");
    cr_assert_not_null(stop);
    trace_t *t = malloc(sizeof(*t));
    sy_error_t err;
    /* cut anywhere before message_stop is whole: always EUPCLOSED */
    for (size_t len = 0; len < (size_t)(stop - text_stream) + 20; len++) {
        int rc = run_stream(text_stream, len, len / 2, t, &err);
        cr_assert_eq(rc, -1, "len %zu: rc %d", len, rc);
        cr_assert_eq(err.code, SY_EUPCLOSED, "len %zu: %s", len, err.message);
    }
    /* the end marker without its blank line still counts */
    cr_assert_eq(run_stream(text_stream, full - 2, 7, t, &err), 0, "%s", err.message);
    cr_assert_eq(run_stream(text_stream, full - 1, 7, t, &err), 0, "%s", err.message);
    free(t);
}

/* message_stop without any stop reason: a FINISH is still given. */
Test(anthropic_parse, stop_without_reason_finishes)
{
    static const char s[] = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n"
                            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                            "\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n"
                            "data: {\"type\":\"message_stop\"}\n\n";
    stream_is(s, 0, "START m\nTEXT x\nFINISH 1 \n");
}

Test(anthropic_parse, bad_stream_data)
{
    static const struct {
        const char *s;
        sy_err_t code;
    } rows[] = {
        {"event: message_start\ndata: {\"type\": this is not JSON\n\n", SY_EUPPROTO},
        {"event: message_start\ndata: [1,2]\n\n", SY_EUPPROTO},
        {"event: message_start\ndata: {\"type\":\"message_start\"}\n\n", SY_EUPPROTO},
        {"event: content_block_start\ndata: {\"index\":256,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
         SY_EUPPROTO},
        {"event: content_block_start\ndata: {\"index\":-1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
         SY_EUPPROTO},
        {"event: content_block_start\ndata: {\"index\":\"0\",\"content_block\":{}}\n\n", SY_EUPPROTO},
        {"event: content_block_start\ndata: {\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"x\"}}\n\n",
         SY_EUPPROTO},
        {"event: content_block_delta\ndata: {\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":5}}\n\n",
         SY_EUPPROTO},
        {"event: content_block_delta\ndata: {\"index\":0,\"delta\":\"x\"}\n\n", SY_EUPPROTO},
    };
    for (size_t i = 0; i < N(rows); i++) {
        trace_t t;
        sy_error_t err;
        int rc = run_stream(rows[i].s, strlen(rows[i].s), 3, &t, &err);
        cr_assert_eq(rc, -1, "row %zu: rc %d", i, rc);
        cr_assert_eq(err.code, rows[i].code, "row %zu: %s", i, err.message);
    }
}

/* A callback that asks to stop stops the feed with 1. */
Test(anthropic_parse, callback_stop)
{
    trace_t *t = malloc(sizeof(*t));
    sy_eparse_t p;
    memset(t, 0, sizeof(*t));
    t->stop_at = 2; /* START, USAGE, then the first TEXT stops */
    sy_eparse_init(&p, SY_PROVIDER_ANTHROPIC, SY_OP_CHAT, 1, record, t);
    cr_assert_eq(sy_eparse_feed(&p, text_stream, strlen(text_stream)), 1);
    t->buf[t->len] = '\0';
    cr_assert_str_eq(t->buf, "START msg_01XYZ\nUSAGE in=25 out=1 cr=0 cw=0\nTEXT Hello\n");
    sy_eparse_release(&p);
    free(t);
}

/* ---- parsing: whole answers ---------------------------------------------- */

static int run_whole(const char *s, trace_t *t, sy_error_t *err)
{
    sy_eparse_t p;
    memset(t, 0, sizeof(*t));
    t->stop_at = -1;
    sy_eparse_init(&p, SY_PROVIDER_ANTHROPIC, SY_OP_CHAT, 0, record, t);
    int rc = sy_eparse_whole(&p, s, strlen(s));
    *err = p.err;
    sy_eparse_release(&p);
    t->buf[t->len] = '\0';
    return rc;
}

Test(anthropic_parse, whole_text_and_tool_use)
{
    static const char s[] =
        "{\"id\":\"msg_W\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":["
        "{\"type\":\"thinking\",\"thinking\":\"Hmm.\",\"signature\":\"sig\"},"
        "{\"type\":\"redacted_thinking\",\"data\":\"xx\"},"
        "{\"type\":\"text\",\"text\":\"Let me look.\"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{\"city\": \"Paris\", \"n\":[1]}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"time\",\"input\":{}}],"
        "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":20,\"output_tokens\":30,\"cache_read_input_tokens\":4}}";
    trace_t t;
    sy_error_t err;
    cr_assert_eq(run_whole(s, &t, &err), 0, "%s", err.message);
    cr_assert_str_eq(t.buf,
                     "START msg_W\n"
                     "THINKING Hmm.\n"
                     "TEXT Let me look.\n"
                     "CALL 0 id=toolu_1 name=get_weather args={\"city\": \"Paris\", \"n\":[1]}\n"
                     "CALL 1 id=toolu_2 name=time args={}\n"
                     "FINISH 3 \n"
                     "USAGE in=24 out=30 cr=4 cw=-1\n");
}

/* The mock's shape: text only, stop_sequence given. */
Test(anthropic_parse, whole_text_stop_sequence)
{
    trace_t t;
    sy_error_t err;
    cr_assert_eq(run_whole("{\"id\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"a\\tb\"}],"
                           "\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"##\",\"usage\":{}}",
                           &t, &err),
                 0, "%s", err.message);
    cr_assert_str_eq(t.buf, "START m\nTEXT a\tb\nFINISH 1 ##\n");
    /* no stop reason at all: still one FINISH */
    cr_assert_eq(run_whole("{\"content\":[]}", &t, &err), 0);
    cr_assert_str_eq(t.buf, "START \nFINISH 1 \n");
}

Test(anthropic_parse, whole_bad)
{
    static const char *const rows[] = {
        "{\"id\": this is not JSON",
        "",
        "[]",
        "\"message\"",
        "{\"id\":\"m\"}",
        "{\"content\":{}}",
        "{\"content\":[1]}",
        "{\"content\":[{\"type\":\"text\"}]}",
        "{\"content\":[{\"type\":\"text\",\"text\":null}]}",
        "{\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":\"{}\"}]}",
        "{\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"input\":{}}]}",
    };
    for (size_t i = 0; i < N(rows); i++) {
        trace_t t;
        sy_error_t err;
        cr_assert_eq(run_whole(rows[i], &t, &err), -1, "row %zu", i);
        cr_assert_eq(err.code, SY_EUPPROTO, "row %zu: %s", i, err.message);
    }
}

/* An error object as a whole body is the upstream's error. */
Test(anthropic_parse, whole_error_object)
{
    trace_t t;
    sy_error_t err;
    cr_assert_eq(run_whole("{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
                           &t, &err),
                 -1);
    cr_assert_eq(err.code, SY_EUPSTATUS);
    cr_assert_eq(sy_error_status(&err), 529);
    cr_assert_str_eq(err.message, "Overloaded");
    cr_assert_eq(t.len, 0);
}

/* A stream and the same answer whole aggregate to the same response. */
static int agg(void *ud, const sy_ev_t *ev)
{
    return sy_cresp_add(ud, ev) ? 1 : 0;
}

Test(anthropic_parse, stream_and_whole_agree)
{
    static const char whole[] =
        "{\"id\":\"msg_T\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"Need weather.\"},"
        "{\"type\":\"text\",\"text\":\"Checking.\"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_A\",\"name\":\"get_weather\",\"input\":{\"city\": \"Paris\"}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_B\",\"name\":\"time\",\"input\":{}}],"
        "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":100,\"output_tokens\":58}}";
    sy_cresp_t a, b;
    sy_eparse_t p;
    sy_cresp_init(&a, 0);
    sy_cresp_init(&b, 0);
    sy_eparse_init(&p, SY_PROVIDER_ANTHROPIC, SY_OP_CHAT, 1, agg, &a);
    cr_assert_eq(sy_eparse_feed(&p, tool_stream, strlen(tool_stream)), 0);
    cr_assert_eq(sy_eparse_end(&p), 0);
    sy_eparse_release(&p);
    sy_eparse_init(&p, SY_PROVIDER_ANTHROPIC, SY_OP_CHAT, 0, agg, &b);
    cr_assert_eq(sy_eparse_whole(&p, whole, strlen(whole)), 0);
    sy_eparse_release(&p);
    cr_assert_str_eq(a.id, b.id);
    cr_assert_str_eq(a.text, b.text);
    cr_assert_str_eq(a.thinking, b.thinking);
    cr_assert_eq(a.n_calls, 2);
    cr_assert_eq(b.n_calls, 2);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_str_eq(a.calls[i].id, b.calls[i].id);
        cr_assert_str_eq(a.calls[i].name, b.calls[i].name);
        /* the stream's empty input of "time" means {} */
        cr_assert_str_eq(a.calls[i].args, i == 0 ? "{\"city\": \"Paris\"}" : "");
    }
    cr_assert_str_eq(b.calls[1].args, "{}");
    cr_assert_eq(a.finish, SY_FINISH_TOOL_CALLS);
    cr_assert_eq(b.finish, SY_FINISH_TOOL_CALLS);
    cr_assert_eq(a.usage.input_tokens, 100);
    cr_assert_eq(b.usage.output_tokens, 58);
    sy_cresp_release(&a);
    sy_cresp_release(&b);
}
