/*
 * canon_test.c - unit tests for src/core/canon.c: the stop-reason and
 * role tables in every direction, usage merging, aggregating events into a
 * whole answer and replaying it, data: URLs, image signatures, estimates.
 */
#include "core/canon.h"

#include <criterion/criterion.h>
#include <string.h>

#define S(lit) ((sy_str_t){(lit), sizeof(lit) - 1})

/* ---- stop reasons: one golden row per canonical reason ------------------ */

Test(canon, finish_to_each_protocol)
{
    static const struct {
        sy_finish_t f;
        const char *openai, *anthropic, *ollama;
    } rows[] = {
        {SY_FINISH_NONE, "stop", "end_turn", "stop"},
        {SY_FINISH_STOP, "stop", "end_turn", "stop"},
        {SY_FINISH_LENGTH, "length", "max_tokens", "length"},
        {SY_FINISH_TOOL_CALLS, "tool_calls", "tool_use", "stop"},
        {SY_FINISH_FILTER, "content_filter", "refusal", "stop"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cr_assert_str_eq(sy_finish_to_openai(rows[i].f), rows[i].openai);
        cr_assert_str_eq(sy_finish_to_anthropic(rows[i].f), rows[i].anthropic);
        cr_assert_str_eq(sy_finish_to_ollama(rows[i].f), rows[i].ollama);
    }
    cr_assert_str_eq(sy_finish_to_openai((sy_finish_t)99), "stop", "unknown values still give a word");
}

Test(canon, finish_from_each_protocol)
{
    static const struct {
        const char *word;
        sy_finish_t f;
    } rows[] = {
        {"stop", SY_FINISH_STOP},
        {"length", SY_FINISH_LENGTH},
        {"tool_calls", SY_FINISH_TOOL_CALLS},
        {"function_call", SY_FINISH_TOOL_CALLS},
        {"content_filter", SY_FINISH_FILTER},
        {"end_turn", SY_FINISH_STOP},
        {"stop_sequence", SY_FINISH_STOP},
        {"max_tokens", SY_FINISH_LENGTH},
        {"tool_use", SY_FINISH_TOOL_CALLS},
        {"refusal", SY_FINISH_FILTER},
        {"pause_turn", SY_FINISH_STOP},
        {"load", SY_FINISH_STOP},
        {"something_new", SY_FINISH_STOP},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t n = strlen(rows[i].word);
        cr_assert_eq(sy_finish_from_openai(rows[i].word, n), rows[i].f, "%s", rows[i].word);
        cr_assert_eq(sy_finish_from_anthropic(rows[i].word, n), rows[i].f, "%s", rows[i].word);
        cr_assert_eq(sy_finish_from_ollama(rows[i].word, n), rows[i].f, "%s", rows[i].word);
    }
    cr_assert_eq(sy_finish_from_openai(NULL, 0), SY_FINISH_NONE);
    cr_assert_eq(sy_finish_from_anthropic("", 0), SY_FINISH_NONE);
    cr_assert_eq(sy_finish_from_openai("stopx", 4), SY_FINISH_STOP, "length-bounded");
}

Test(canon, finish_round_trips_through_every_protocol)
{
    for (sy_finish_t f = SY_FINISH_STOP; f <= SY_FINISH_FILTER; f++) {
        const char *o = sy_finish_to_openai(f), *a = sy_finish_to_anthropic(f);
        cr_assert_eq(sy_finish_from_openai(o, strlen(o)), f);
        cr_assert_eq(sy_finish_from_anthropic(a, strlen(a)), f);
    }
}

Test(canon, roles)
{
    cr_assert_eq(sy_role_from("system", 6), SY_ROLE_SYSTEM);
    cr_assert_eq(sy_role_from("developer", 9), SY_ROLE_SYSTEM);
    cr_assert_eq(sy_role_from("user", 4), SY_ROLE_USER);
    cr_assert_eq(sy_role_from("assistant", 9), SY_ROLE_ASSISTANT);
    cr_assert_eq(sy_role_from("tool", 4), SY_ROLE_TOOL);
    cr_assert_eq(sy_role_from("function", 8), -1);
    cr_assert_eq(sy_role_from("use", 3), -1);
    cr_assert_str_eq(sy_role_name(SY_ROLE_ASSISTANT), "assistant");
}

Test(canon, usage_merge_keeps_given_fields)
{
    sy_usage_t a, b;
    sy_usage_init(&a);
    sy_usage_init(&b);
    a.input_tokens = 10;
    b.output_tokens = 5;
    b.cache_read_tokens = 0;
    sy_usage_merge(&a, &b);
    cr_assert_eq(a.input_tokens, 10);
    cr_assert_eq(a.output_tokens, 5);
    cr_assert_eq(a.cache_read_tokens, 0);
    cr_assert_eq(a.eval_duration, -1);
    b.input_tokens = 12;
    sy_usage_merge(&a, &b);
    cr_assert_eq(a.input_tokens, 12, "later values win");
}

Test(canon, creq_init_marks_integers_unsaid)
{
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_GENERATE, SY_PROTO_OLLAMA);
    cr_assert_eq(q.op, SY_OP_GENERATE);
    cr_assert_eq(q.proto, SY_PROTO_OLLAMA);
    cr_assert_eq(q.max_tokens, -1);
    cr_assert_eq(q.num_ctx, -1);
    cr_assert_eq(q.dimensions, -1);
    cr_assert_eq(q.truncate, -1);
    cr_assert_eq(q.parallel_tool_calls, -1);
    cr_assert_null(q.temperature.p);
}

/* ---- aggregation and replay --------------------------------------------- */

static sy_ev_t ev(sy_ev_kind_t k)
{
    sy_ev_t e;
    memset(&e, 0, sizeof e);
    e.kind = k;
    sy_usage_init(&e.usage);
    return e;
}

typedef struct rec {
    sy_ev_kind_t kinds[32];
    char text[256];
    int n;
} rec_t;

static int record(void *ud, const sy_ev_t *e)
{
    rec_t *r = ud;
    r->kinds[r->n++] = e->kind;
    if (e->kind == SY_EV_TEXT || e->kind == SY_EV_THINKING)
        strncat(r->text, e->text.p, e->text.len);
    if (e->kind == SY_EV_TOOL_CALL) {
        strncat(r->text, e->name.p, e->name.len);
        strncat(r->text, e->args.p, e->args.len);
    }
    return 0;
}

Test(canon, cresp_aggregates_and_replays)
{
    sy_cresp_t c;
    sy_cresp_init(&c, 0);
    sy_ev_t e = ev(SY_EV_START);
    e.id = S("resp-1");
    cr_assert_eq(sy_cresp_add(&c, &e), 0);
    e = ev(SY_EV_THINKING);
    e.text = S("hmm ");
    sy_cresp_add(&c, &e);
    e = ev(SY_EV_TEXT);
    e.text = S("Hello");
    sy_cresp_add(&c, &e);
    e.text = S(", world");
    sy_cresp_add(&c, &e);
    /* two calls, pieces interleaved */
    e = ev(SY_EV_TOOL_CALL);
    e.index = 0, e.id = S("c0"), e.name = S("get"), e.args = S("{\"a\":");
    sy_cresp_add(&c, &e);
    e = ev(SY_EV_TOOL_CALL);
    e.index = 1, e.id = S("c1"), e.name = S("put"), e.args = S("{}");
    sy_cresp_add(&c, &e);
    e = ev(SY_EV_TOOL_CALL);
    e.index = 0, e.args = S("1}");
    sy_cresp_add(&c, &e);
    e = ev(SY_EV_FINISH);
    e.finish = SY_FINISH_TOOL_CALLS;
    sy_cresp_add(&c, &e);
    e = ev(SY_EV_USAGE);
    e.usage.input_tokens = 7;
    sy_cresp_add(&c, &e);
    e = ev(SY_EV_USAGE);
    e.usage.output_tokens = 3;
    sy_cresp_add(&c, &e);

    cr_assert_str_eq(c.id, "resp-1");
    cr_assert_str_eq(c.text, "Hello, world");
    cr_assert_str_eq(c.thinking, "hmm ");
    cr_assert_eq(c.n_calls, 2);
    cr_assert_str_eq(c.calls[0].id, "c0");
    cr_assert_str_eq(c.calls[0].name, "get");
    cr_assert_str_eq(c.calls[0].args, "{\"a\":1}");
    cr_assert_str_eq(c.calls[1].args, "{}");
    cr_assert_eq(c.finish, SY_FINISH_TOOL_CALLS);
    cr_assert_eq(c.usage.input_tokens, 7);
    cr_assert_eq(c.usage.output_tokens, 3);

    rec_t r;
    memset(&r, 0, sizeof r);
    cr_assert_eq(sy_cresp_replay(&c, 0, record, &r), 0);
    sy_ev_kind_t want[] = {SY_EV_START, SY_EV_THINKING, SY_EV_TEXT, SY_EV_TOOL_CALL, SY_EV_TOOL_CALL, SY_EV_FINISH,
                           SY_EV_USAGE};
    cr_assert_eq(r.n, 7);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(r.kinds[i], want[i], "event %d", i);
    cr_assert_str_eq(r.text, "hmm Hello, worldget{\"a\":1}put{}");
    sy_cresp_release(&c);
}

Test(canon, cresp_bounds)
{
    sy_cresp_t c;
    sy_cresp_init(&c, 10);
    sy_ev_t e = ev(SY_EV_TEXT);
    e.text = S("0123456789");
    cr_assert_eq(sy_cresp_add(&c, &e), 0);
    e.text = S("x");
    cr_assert_eq(sy_cresp_add(&c, &e), SY_ETOOLARGE);
    sy_cresp_release(&c);

    sy_cresp_init(&c, 0);
    e = ev(SY_EV_TOOL_CALL);
    e.index = SY_CRESP_MAX_CALLS;
    cr_assert_eq(sy_cresp_add(&c, &e), SY_ETOOLARGE);
    e.index = -1;
    cr_assert_eq(sy_cresp_add(&c, &e), SY_ETOOLARGE);
    sy_cresp_release(&c);
}

Test(canon, empty_answer_replays_a_stop)
{
    sy_cresp_t c;
    sy_cresp_init(&c, 0);
    rec_t r;
    memset(&r, 0, sizeof r);
    sy_cresp_replay(&c, 0, record, &r);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(r.kinds[1], SY_EV_FINISH);
    sy_cresp_release(&c);
}

/* Replay in pieces: every piece at most the size asked (plus the rest of a
 * UTF-8 character), no character cut, the text whole when joined. */
static int pieces(void *ud, const sy_ev_t *e)
{
    rec_t *r = ud;
    if (e->kind == SY_EV_TEXT) {
        cr_assert_leq(e->text.len, 5);
        cr_assert_neq((unsigned char)e->text.p[0] & 0xC0, 0x80, "a piece starts inside a character");
        strncat(r->text, e->text.p, e->text.len);
        r->n++;
    }
    return 0;
}

Test(canon, replay_in_pieces_keeps_characters_whole)
{
    sy_cresp_t c;
    sy_cresp_init(&c, 0);
    sy_ev_t e = ev(SY_EV_TEXT);
    e.text = S("abc\xc3\xa9\xc3\xa9xyz\xe2\x82\xac!"); /* abcééxyz€! */
    sy_cresp_add(&c, &e);
    rec_t r;
    memset(&r, 0, sizeof r);
    cr_assert_eq(sy_cresp_replay(&c, 4, pieces, &r), 0);
    cr_assert_str_eq(r.text, "abc\xc3\xa9\xc3\xa9xyz\xe2\x82\xac!");
    cr_assert_geq(r.n, 4);
    /* a callback's non-zero stops the replay and comes back */
    sy_cresp_release(&c);
}

Test(canon, events_pack_and_unpack)
{
    sy_ev_t e = ev(SY_EV_TOOL_CALL), back;
    e.index = 3, e.id = S("call_1"), e.name = S("get"), e.args = S("{\"a\":1}");
    e.usage.output_tokens = 42;
    size_t n = sy_ev_packed_len(&e);
    cr_assert_eq(n, SY_EV_PACK_HEAD + 6 + 3 + 7);
    unsigned char buf[256];
    sy_ev_pack(&e, buf);
    cr_assert_eq(sy_ev_unpack(buf, n, &back), n);
    cr_assert_eq(back.kind, SY_EV_TOOL_CALL);
    cr_assert_eq(back.index, 3);
    cr_assert_eq(back.id.len, 6);
    cr_assert(memcmp(back.id.p, "call_1", 6) == 0);
    cr_assert(memcmp(back.args.p, "{\"a\":1}", 7) == 0);
    cr_assert_eq(back.text.len, 0);
    cr_assert_eq(back.usage.output_tokens, 42);
    cr_assert_eq(back.usage.input_tokens, -1);
    /* cut anywhere: not a whole event */
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(sy_ev_unpack(buf, k, &back), 0, "cut at %zu", k);
    /* a kind out of range is refused */
    buf[0] = 200;
    cr_assert_eq(sy_ev_unpack(buf, n, &back), 0);
}

/* ---- helpers ------------------------------------------------------------ */

Test(canon, data_urls)
{
    sy_str_t media, data;
    cr_assert(sy_canon_data_url(S("data:image/png;base64,iVBORw0KGgo="), &media, &data));
    cr_assert_eq(media.len, 9);
    cr_assert_eq(memcmp(media.p, "image/png", 9), 0);
    cr_assert_eq(data.len, 12);
    cr_assert_eq(memcmp(data.p, "iVBORw0KGgo=", 12), 0);
    cr_assert_not(sy_canon_data_url(S("https://example.com/a.png"), &media, &data));
    cr_assert_not(sy_canon_data_url(S("data:image/png,rawbytes"), &media, &data), "only base64 data URLs");
    cr_assert_not(sy_canon_data_url(S("data:"), &media, &data));
}

Test(canon, image_signatures)
{
    cr_assert_str_eq(sy_canon_image_media(S("iVBORw0KGgoAAAANS")), "image/png");
    cr_assert_str_eq(sy_canon_image_media(S("/9j/4AAQSkZJRg")), "image/jpeg");
    cr_assert_str_eq(sy_canon_image_media(S("R0lGODlhAQAB")), "image/gif");
    cr_assert_str_eq(sy_canon_image_media(S("UklGRiQAAABXRUJQ")), "image/webp");
    cr_assert_str_eq(sy_canon_image_media(S("AAAA")), "image/png");
}

Test(canon, canon_str_decodes_into_the_arena)
{
    sy_arena_t a;
    sy_arena_init(&a, 0);
    const char *txt = "\"a\\u00e9\\n\\u0000z\"";
    sy_jval_t v = sy_json_value(txt, strlen(txt));
    sy_str_t out;
    cr_assert_eq(sy_canon_str(&a, &v, &out), 0);
    cr_assert_eq(out.len, 6);
    cr_assert_eq(memcmp(out.p, "a\xc3\xa9\n\0z", 6), 0);
    sy_jval_t num = sy_json_value("12", 2);
    cr_assert_eq(sy_canon_str(&a, &num, &out), -1);
    sy_arena_release(&a);
}

Test(canon, estimates)
{
    cr_assert_eq(sy_canon_estimate_tokens(0), 0);
    cr_assert_eq(sy_canon_estimate_tokens(1), 1);
    cr_assert_eq(sy_canon_estimate_tokens(8), 2);
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_ANTHROPIC);
    sy_part_t parts[2] = {{.kind = SY_PART_TEXT, .text = S("0123456789012345")}, {.kind = SY_PART_IMAGE}};
    sy_msg_t m = {.role = SY_ROLE_USER, .parts = parts, .n_parts = 2};
    q.msgs = &m;
    q.n_msgs = 1;
    cr_assert_eq(sy_creq_estimate_tokens(&q), 5 + 1000);
}

Test(canon, str_eq_and_blank)
{
    cr_assert(sy_str_eq(S("abc"), S("abc")));
    cr_assert_not(sy_str_eq(S("abc"), S("abd")));
    cr_assert_not(sy_str_eq(S("ab"), S("abc")));
    cr_assert(sy_str_eq(SY_STR_NULL, S("")), "empty strings are equal however they are held");
    cr_assert(sy_str_blank(SY_STR_NULL));
    cr_assert(sy_str_blank(S(" \t\r\n")));
    cr_assert_not(sy_str_blank(S("  x ")));
}

/* A clone owns every byte: the source's buffer can be overwritten. */
Test(canon, clone_is_deep)
{
    char buf[] = "model-a|hello|img|image/png|call_1|fn|{\"x\":1}|tool-a|desc|{\"type\":\"object\"}|STOP|0.5|"
                 "{\"type\":\"object\"}|in-1|5m|{\"num_gpu\":1}|user-7";
    /* the pieces, by offset */
    char *p[17];
    size_t n = 0;
    p[n++] = buf;
    for (char *c = buf; *c; c++)
        if (*c == '|') {
            *c = '\0';
            p[n++] = c + 1;
        }
    cr_assert_eq(n, 17);
#define STR(i) ((sy_str_t){p[i], strlen(p[i])})
#define JV(i, t) ((sy_jval_t){p[i], strlen(p[i]), (t)})
    sy_arena_t src, dst;
    sy_arena_init(&src, 1 << 20);
    sy_arena_init(&dst, 1 << 20);
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    q.model = STR(0);
    sy_part_t *parts = sy_arena_calloc(&src, 2, sizeof(*parts));
    parts[0].kind = SY_PART_TEXT;
    parts[0].text = STR(1);
    parts[1].kind = SY_PART_IMAGE;
    parts[1].data = STR(2);
    parts[1].media_type = STR(3);
    sy_tool_call_t *calls = sy_arena_calloc(&src, 1, sizeof(*calls));
    calls[0] = (sy_tool_call_t){STR(4), STR(5), STR(6)};
    sy_msg_t *msgs = sy_arena_calloc(&src, 2, sizeof(*msgs));
    msgs[0].role = SY_ROLE_USER;
    msgs[0].parts = parts;
    msgs[0].n_parts = 2;
    msgs[1].role = SY_ROLE_ASSISTANT;
    msgs[1].calls = calls;
    msgs[1].n_calls = 1;
    q.msgs = msgs;
    q.n_msgs = 2;
    sy_tool_t *tools = sy_arena_calloc(&src, 1, sizeof(*tools));
    tools[0] = (sy_tool_t){STR(7), STR(8), JV(9, SY_JOBJECT)};
    q.tools = tools;
    q.n_tools = 1;
    sy_str_t *stop = sy_arena_calloc(&src, 1, sizeof(*stop));
    stop[0] = STR(10);
    q.stop = stop;
    q.n_stop = 1;
    q.temperature = JV(11, SY_JDOUBLE);
    q.format = SY_FORMAT_SCHEMA;
    q.format_schema = JV(12, SY_JOBJECT);
    q.keep_alive = JV(14, SY_JSTRING);
    q.options = JV(15, SY_JOBJECT);
    q.user = STR(16);

    sy_creq_t *c = sy_creq_clone(&q, &dst);
    cr_assert_not_null(c);
    memset(buf, 'Z', sizeof(buf) - 1); /* the client's body is gone */
    sy_arena_release(&src);

    cr_assert_eq(c->model.len, 7);
    cr_assert(memcmp(c->model.p, "model-a", 7) == 0);
    cr_assert_eq(c->n_msgs, 2);
    cr_assert(memcmp(c->msgs[0].parts[0].text.p, "hello", 5) == 0);
    cr_assert(memcmp(c->msgs[0].parts[1].media_type.p, "image/png", 9) == 0);
    cr_assert(memcmp(c->msgs[1].calls[0].args.p, "{\"x\":1}", 7) == 0);
    cr_assert(memcmp(c->tools[0].parameters.p, "{\"type\":\"object\"}", 17) == 0);
    cr_assert_eq(c->tools[0].parameters.type, SY_JOBJECT);
    cr_assert(memcmp(c->stop[0].p, "STOP", 4) == 0);
    cr_assert(memcmp(c->temperature.p, "0.5", 3) == 0);
    cr_assert(memcmp(c->format_schema.p, "{\"type\":\"object\"}", 17) == 0);
    cr_assert(memcmp(c->keep_alive.p, "5m", 2) == 0);
    cr_assert(memcmp(c->options.p, "{\"num_gpu\":1}", 13) == 0);
    cr_assert(memcmp(c->user.p, "user-7", 6) == 0);
    cr_assert_null(c->top_p.p, "absent stays absent");
    cr_assert_eq(c->max_tokens, -1);
    sy_arena_release(&dst);
#undef STR
#undef JV
}

/* A clone that does not fit its arena fails whole. */
Test(canon, clone_out_of_arena)
{
    static char big[8192];
    memset(big, 'a', sizeof(big));
    sy_arena_t a;
    sy_arena_init(&a, 1024);
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_CHAT, SY_PROTO_OPENAI);
    q.model = (sy_str_t){big, sizeof(big)};
    cr_assert_null(sy_creq_clone(&q, &a));
    sy_arena_release(&a);
}
