/*
 * entry_test.c - unit tests for src/cache/entry.c: a canonical answer
 * written as an entry reads back the same (text, reasoning, tool calls,
 * finish, stop sequence, usage); the golden text of one entry; another
 * version is a miss; malformed or mistyped entries are refused; bounds.
 */
#include "cache/entry.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) ((sy_str_t){(lit), sizeof(lit) - 1})

static sy_ev_t ev(sy_ev_kind_t k)
{
    sy_ev_t e;
    memset(&e, 0, sizeof e);
    e.kind = k;
    sy_usage_init(&e.usage);
    return e;
}

static void sample(sy_cresp_t *c)
{
    sy_cresp_init(c, 0);
    sy_ev_t e = ev(SY_EV_START);
    e.id = S("resp-1");
    sy_cresp_add(c, &e);
    e = ev(SY_EV_THINKING);
    e.text = S("hmm");
    sy_cresp_add(c, &e);
    e = ev(SY_EV_TEXT);
    e.text = S("Hello \"world\"\n\xc3\xa9");
    sy_cresp_add(c, &e);
    e = ev(SY_EV_TOOL_CALL);
    e.index = 0, e.id = S("c0"), e.name = S("get"), e.args = S("{\"a\":1}");
    sy_cresp_add(c, &e);
    e = ev(SY_EV_TOOL_CALL);
    e.index = 1, e.name = S("put"), e.args = S("{}");
    sy_cresp_add(c, &e);
    e = ev(SY_EV_FINISH);
    e.finish = SY_FINISH_TOOL_CALLS;
    sy_cresp_add(c, &e);
    e = ev(SY_EV_USAGE);
    e.usage.input_tokens = 12, e.usage.output_tokens = 5, e.usage.cache_read_tokens = 4;
    sy_cresp_add(c, &e);
}

static char *written(const sy_cresp_t *c, size_t *n)
{
    struct evbuffer *b = evbuffer_new();
    cr_assert_eq(sy_cache_entry_write(c, b), 0);
    *n = evbuffer_get_length(b);
    char *s = malloc(*n + 1);
    evbuffer_remove(b, s, *n);
    s[*n] = '\0';
    evbuffer_free(b);
    return s;
}

Test(entry, golden_text)
{
    sy_cresp_t c;
    size_t n;
    sample(&c);
    char *s = written(&c, &n);
    cr_assert_str_eq(s, "{\"v\":1,\"id\":\"resp-1\",\"text\":\"Hello \\\"world\\\"\\n\xc3\xa9\",\"thinking\":\"hmm\","
                        "\"calls\":[{\"id\":\"c0\",\"name\":\"get\",\"args\":\"{\\\"a\\\":1}\"},"
                        "{\"id\":\"\",\"name\":\"put\",\"args\":\"{}\"}],\"finish\":\"tool_calls\","
                        "\"stop_sequence\":\"\",\"usage\":{\"input\":12,\"output\":5,\"cache_read\":4,"
                        "\"cache_write\":-1}}");
    free(s);
    sy_cresp_release(&c);
}

Test(entry, round_trip)
{
    sy_cresp_t a, b;
    size_t n;
    sample(&a);
    char *s = written(&a, &n);
    sy_cresp_init(&b, 0);
    cr_assert_eq(sy_cache_entry_read(s, n, &b), 0);
    cr_assert_str_eq(b.id, a.id);
    cr_assert_eq(b.text_len, a.text_len);
    cr_assert_eq(memcmp(b.text, a.text, a.text_len), 0);
    cr_assert_str_eq(b.thinking, "hmm");
    cr_assert_eq(b.n_calls, 2);
    cr_assert_str_eq(b.calls[0].id, "c0");
    cr_assert_str_eq(b.calls[0].name, "get");
    cr_assert_str_eq(b.calls[0].args, "{\"a\":1}");
    cr_assert_null(b.calls[1].id, "an empty id reads back as none");
    cr_assert_str_eq(b.calls[1].name, "put");
    cr_assert_eq(b.finish, SY_FINISH_TOOL_CALLS);
    cr_assert_eq(b.usage.input_tokens, 12);
    cr_assert_eq(b.usage.output_tokens, 5);
    cr_assert_eq(b.usage.cache_read_tokens, 4);
    cr_assert_eq(b.usage.cache_write_tokens, -1);
    /* and writing it again gives the same bytes */
    size_t n2;
    char *s2 = written(&b, &n2);
    cr_assert_eq(n2, n);
    cr_assert_eq(memcmp(s, s2, n), 0);
    free(s);
    free(s2);
    sy_cresp_release(&a);
    sy_cresp_release(&b);
}

Test(entry, empty_answer_and_stop_sequence)
{
    sy_cresp_t a, b;
    size_t n;
    sy_cresp_init(&a, 0);
    sy_ev_t e = ev(SY_EV_FINISH);
    e.finish = SY_FINISH_STOP;
    e.stop_sequence = S("END");
    sy_cresp_add(&a, &e);
    char *s = written(&a, &n);
    sy_cresp_init(&b, 0);
    cr_assert_eq(sy_cache_entry_read(s, n, &b), 0);
    cr_assert_eq(b.text_len, 0);
    cr_assert_eq(b.finish, SY_FINISH_STOP);
    cr_assert_str_eq(b.stop_sequence, "END");
    free(s);
    sy_cresp_release(&a);
    sy_cresp_release(&b);
}

Test(entry, other_version_is_a_miss)
{
    sy_cresp_t c;
    const char *s = "{\"v\":2,\"whatever\":true}";
    sy_cresp_init(&c, 0);
    cr_assert_eq(sy_cache_entry_read(s, strlen(s), &c), 1);
    sy_cresp_release(&c);
}

Test(entry, bad_entries_are_refused)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"v\":\"1\"}",
        "{\"v\":1}",
        "{\"v\":1,\"id\":\"\",\"text\":1,\"thinking\":\"\",\"calls\":[],\"finish\":\"stop\",\"stop_sequence\":\"\","
        "\"usage\":{\"input\":1,\"output\":1,\"cache_read\":-1,\"cache_write\":-1}}",
        "{\"v\":1,\"id\":\"\",\"text\":\"\",\"thinking\":\"\",\"calls\":{},\"finish\":\"stop\",\"stop_sequence\":\"\","
        "\"usage\":{\"input\":1,\"output\":1,\"cache_read\":-1,\"cache_write\":-1}}",
        "{\"v\":1,\"id\":\"\",\"text\":\"\",\"thinking\":\"\",\"calls\":[],\"finish\":\"done\",\"stop_sequence\":\"\","
        "\"usage\":{\"input\":1,\"output\":1,\"cache_read\":-1,\"cache_write\":-1}}",
        "{\"v\":1,\"id\":\"\",\"text\":\"\",\"thinking\":\"\",\"calls\":[],\"finish\":\"stop\",\"stop_sequence\":\"\","
        "\"usage\":{\"input\":-2,\"output\":1,\"cache_read\":-1,\"cache_write\":-1}}",
        "{\"v\":1,\"id\":\"\",\"text\":\"\",\"thinking\":\"\",\"calls\":[{\"id\":1}],\"finish\":\"stop\","
        "\"stop_sequence\":\"\",\"usage\":{\"input\":1,\"output\":1,\"cache_read\":-1,\"cache_write\":-1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sy_cresp_t c;
        sy_cresp_init(&c, 0);
        cr_assert_eq(sy_cache_entry_read(bad[i], strlen(bad[i]), &c), -1, "entry %zu", i);
        sy_cresp_release(&c);
    }
}

Test(entry, bound_is_enforced)
{
    sy_cresp_t a, b;
    size_t n;
    sample(&a);
    char *s = written(&a, &n);
    sy_cresp_init(&b, 8); /* smaller than the text */
    cr_assert_eq(sy_cache_entry_read(s, n, &b), -1);
    free(s);
    sy_cresp_release(&a);
    sy_cresp_release(&b);
}
