/*
 * jcanon_test.c - unit tests for src/core/jcanon.c: golden canonical forms
 * of numbers, strings and nested values, member sorting (escaped keys,
 * duplicates, past the on-stack index), permutation and whitespace
 * invariance, and the sink and buffer limits.
 */
#include "core/jcanon.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The canonical form of JSON text s (which must be valid) in a static buffer. */
static const char *canon(const char *s)
{
    static char out[1 << 16];
    size_t off;
    const char *msg;
    cr_assert_eq(sy_json_validate(s, strlen(s), &off, &msg), 0, "invalid test JSON %s: %s at %zu", s, msg, off);
    sy_jval_t v = sy_json_value(s, strlen(s));
    long n = sy_jcanon_to_buf(&v, out, sizeof(out));
    cr_assert_geq(n, 0, "%s", s);
    cr_assert_eq((size_t)n, strlen(out));
    return out;
}

Test(jcanon, numbers)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"0", "0"},
        {"-0", "0"},
        {"0.000", "0"},
        {"0e10", "0"},
        {"-0.0E-5", "0"},
        {"1", "1"},
        {"1.0", "1"},
        {"1e0", "1"},
        {"10", "1e1"},
        {"100", "1e2"},
        {"100.00", "1e2"},
        {"1e2", "1e2"},
        {"1E+2", "1e2"},
        {"0.01e4", "1e2"},
        {"0.7", "7e-1"},
        {"0.70", "7e-1"},
        {"7e-1", "7e-1"},
        {"70E-2", "7e-1"},
        {"0.07e1", "7e-1"},
        {"-0.7", "-7e-1"},
        {"1.5", "15e-1"},
        {"12.50", "125e-1"},
        {"1024", "1024"},
        {"102400", "1024e2"},
        {"0.001", "1e-3"},
        {"1e-0007", "1e-7"},
        {"123456789012345678901234567890", "12345678901234567890123456789e1"},
        {"3.14159265358979323846264338327950288", "314159265358979323846264338327950288e-35"},
        {"1e999999999999999999", "1e999999999999999999"},    /* 18 digits: still exact */
        {"1e9999999999999999999", "1e9999999999999999999"},  /* 19: written as it came */
        {"-2E-9999999999999999999", "-2E-9999999999999999999"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cr_assert_str_eq(canon(rows[i].in), rows[i].out, "%s", rows[i].in);
}

Test(jcanon, numbers_never_meet_when_different)
{
    /* values that a double would merge stay apart */
    static const char *const pairs[][2] = {
        {"9007199254740993", "9007199254740992"},
        {"0.1", "0.10000000000000001"},
        {"1e2", "1e3"},
        {"1", "-1"},
        {"15e-1", "15e-2"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char a[128];
        snprintf(a, sizeof a, "%s", canon(pairs[i][0]));
        cr_assert_str_neq(a, canon(pairs[i][1]), "%s vs %s", pairs[i][0], pairs[i][1]);
    }
}

Test(jcanon, strings)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"\"abc\"", "\"abc\""},
        {"\"\\u0041\\/\"", "\"A/\""},
        {"\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\""},
        {"\"\\n\\u000a\\u000A\"", "\"\\n\\n\\n\""},
        {"\"\\u0001\\u001F\\b\\f\\r\\t\"", "\"\\u0001\\u001f\\b\\f\\r\\t\""},
        {"\"\\u00e9\"", "\"\xc3\xa9\""},
        {"\"\xc3\xa9\"", "\"\xc3\xa9\""},
        {"\"\\u20AC\"", "\"\xe2\x82\xac\""},
        {"\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\""},
        {"\"\\uD800x\"", "\"\\ud800x\""},  /* a lone surrogate stays an escape */
        {"\"\\uDC00\"", "\"\\udc00\""},
        {"\"\\ufffd\"", "\"\xef\xbf\xbd\""}, /* ... and differs from U+FFFD */
        {"\"\x7f\"", "\"\x7f\""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cr_assert_str_eq(canon(rows[i].in), rows[i].out, "%s", rows[i].in);
}

/* A sink into a fixed buffer that can be told to stop after some calls. */
typedef struct sinkbuf {
    char buf[256];
    size_t n;
    int calls, stop_at; /* stop on call number stop_at (0: never) */
} sinkbuf_t;

static int into(void *ud, const char *p, size_t n)
{
    sinkbuf_t *s = ud;
    if (++s->calls == s->stop_at)
        return 1;
    cr_assert_lt(s->n + n, sizeof(s->buf));
    memcpy(s->buf + s->n, p, n);
    s->n += n;
    s->buf[s->n] = '\0';
    return 0;
}

Test(jcanon, decoded_bytes_as_a_string)
{
    static const char in[] = {'a', '\0', '"', '\n', '\\', (char)0xc3, (char)0xa9, 0x1b};
    sinkbuf_t s = {{0}, 0, 0, 0};
    cr_assert_eq(sy_jcanon_str(in, sizeof in, into, &s), SY_OK);
    cr_assert_str_eq(s.buf, "\"a\\u0000\\\"\\n\\\\\xc3\xa9\\u001b\"");
    sinkbuf_t e = {{0}, 0, 0, 0};
    cr_assert_eq(sy_jcanon_str(NULL, 0, into, &e), SY_OK);
    cr_assert_str_eq(e.buf, "\"\"");
}

Test(jcanon, decoded_and_raw_strings_agree)
{
    /* the same text, given decoded (sy_jcanon_str) or as JSON (escaped any
     * way), has one canonical form */
    static const char decoded[] = "tab\there \"q\" \xe2\x82\xac / \x01";
    sinkbuf_t s = {{0}, 0, 0, 0};
    cr_assert_eq(sy_jcanon_str(decoded, sizeof decoded - 1, into, &s), SY_OK);
    cr_assert_str_eq(canon("\"tab\\there \\\"q\\\" \\u20ac \\/ \\u0001\""), s.buf);
    cr_assert_str_eq(canon("\"\\u0074ab\\u0009here \\u0022q\\u0022 \xe2\x82\xac / \\u0001\""), s.buf);
}

Test(jcanon, values)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"null", "null"},
        {" true ", "true"},
        {"false", "false"},
        {"[]", "[]"},
        {"{}", "{}"},
        {"[ 1 , 2.0 , \"x\" , null ]", "[1,2,\"x\",null]"},
        {"{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}"},
        {"{ \"b\" : [ {\"d\":1, \"c\":2} ], \"a\" : { \"z\":true, \"y\":null } }",
         "{\"a\":{\"y\":null,\"z\":true},\"b\":[{\"c\":2,\"d\":1}]}"},
        /* shorter key first on a common prefix; bytes, not letters */
        {"{\"ab\":1,\"a\":2,\"B\":3,\"b\":4}", "{\"B\":3,\"a\":2,\"ab\":1,\"b\":4}"},
        /* keys sorted by their decoded bytes, written canonically */
        {"{\"\\u0062\":1,\"a\\u0000\":2,\"a\":3}", "{\"a\":3,\"a\\u0000\":2,\"b\":1}"},
        {"{\"\\u00e9\":1,\"z\":2}", "{\"z\":2,\"\xc3\xa9\":1}"},
        /* duplicates are all kept, in their order */
        {"{\"a\":2,\"b\":0,\"a\":1}", "{\"a\":2,\"a\":1,\"b\":0}"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cr_assert_str_eq(canon(rows[i].in), rows[i].out, "%s", rows[i].in);
}

Test(jcanon, many_members_are_sorted)
{
    /* more members than the on-stack index holds: the malloc'd path */
    char in[4096];
    size_t n = 0;
    n += (size_t)snprintf(in + n, sizeof in - n, "{");
    for (int i = 99; i >= 0; i--)
        n += (size_t)snprintf(in + n, sizeof in - n, "%s\"k%02d\":%d", i == 99 ? "" : ",", i, i);
    snprintf(in + n, sizeof in - n, "}");
    const char *out = canon(in);
    /* check the order of the keys only: k00, k01, ... */
    const char *p = out;
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "\"k%02d\"", i);
        const char *q = strstr(p, k);
        cr_assert_not_null(q, "key %s missing or out of order in %s", k, out);
        p = q + 1;
    }
}

/* Fisher-Yates with a fixed LCG: a reproducible shuffle. */
static void shuffle(int *a, int n, unsigned *seed)
{
    for (int i = n - 1; i > 0; i--) {
        *seed = *seed * 1103515245u + 12345u;
        int j = (int)((*seed >> 8) % (unsigned)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

Test(jcanon, member_order_and_whitespace_do_not_matter)
{
    static const char *const members[] = {
        "\"type\":\"object\"",
        "\"properties\":{\"city\":{\"type\":\"string\",\"description\":\"City\"},\"days\":{\"type\":\"integer\"}}",
        "\"required\":[\"city\"]",
        "\"additionalProperties\":false",
        "\"x-\\u00e9\":1.50",
        "\"minimum\":0.0",
        "\"enum\":[1,2,3]",
        "\"title\":\"Weather\"",
        "\"$schema\":null",
        "\"default\":{\"b\":1,\"a\":[{\"y\":2,\"x\":1}]}",
    };
    enum { N = sizeof members / sizeof members[0] };
    static const char *const ws[] = {"", " ", "\n\t ", "\r\n"};
    char first[2048] = "";
    unsigned seed = 42;
    for (int round = 0; round < 50; round++) {
        int order[N];
        for (int i = 0; i < N; i++)
            order[i] = i;
        shuffle(order, N, &seed);
        char in[2048];
        size_t n = 0;
        n += (size_t)snprintf(in + n, sizeof in - n, "%s{", ws[round % 4]);
        for (int i = 0; i < N; i++)
            n += (size_t)snprintf(in + n, sizeof in - n, "%s%s%s", i ? "," : "", ws[(round + i) % 4],
                                  members[order[i]]);
        snprintf(in + n, sizeof in - n, "%s}%s", ws[(round + 1) % 4], ws[(round + 2) % 4]);
        const char *out = canon(in);
        if (round == 0)
            snprintf(first, sizeof first, "%s", out);
        else
            cr_assert_str_eq(out, first, "round %d: %s", round, in);
    }
    cr_assert_str_eq(first, "{\"$schema\":null,\"additionalProperties\":false,"
                            "\"default\":{\"a\":[{\"x\":1,\"y\":2}],\"b\":1},\"enum\":[1,2,3],\"minimum\":0,"
                            "\"properties\":{\"city\":{\"description\":\"City\",\"type\":\"string\"},"
                            "\"days\":{\"type\":\"integer\"}},\"required\":[\"city\"],\"title\":\"Weather\","
                            "\"type\":\"object\",\"x-\xc3\xa9\":15e-1}");
}

Test(jcanon, except_without_a_filter_is_write)
{
    static const char txt[] = "{\"temperature\":0.5,\"mirostat\":2,\"top_k\":4}";
    sy_jval_t v = sy_json_value(txt, sizeof txt - 1);
    sinkbuf_t s = {{0}, 0, 0, 0};
    cr_assert_eq(sy_jcanon_write_except(&v, NULL, NULL, into, &s), SY_OK);
    cr_assert_str_eq(s.buf, "{\"mirostat\":2,\"temperature\":5e-1,\"top_k\":4}");
}

static int skip_named(void *sud, const sy_jval_t *k)
{
    return sy_json_key_is(k, (const char *)sud);
}

Test(jcanon, except_with_a_filter)
{
    static const char txt[] = "{\"temperature\":0.5,\"mirostat\":2,\"temp\\u0065rature\":1,\"top_k\":4}";
    sy_jval_t v = sy_json_value(txt, sizeof txt - 1);
    sinkbuf_t s = {{0}, 0, 0, 0};
    cr_assert_eq(sy_jcanon_write_except(&v, skip_named, (void *)"temperature", into, &s), SY_OK);
    cr_assert_str_eq(s.buf, "{\"mirostat\":2,\"top_k\":4}", "escaped spellings of the key are left out too");
    static const char arr[] = "[2, 1]";
    sy_jval_t a = sy_json_value(arr, sizeof arr - 1);
    sinkbuf_t t = {{0}, 0, 0, 0};
    cr_assert_eq(sy_jcanon_write_except(&a, skip_named, (void *)"x", into, &t), SY_OK);
    cr_assert_str_eq(t.buf, "[2,1]", "not an object: written whole");
}

Test(jcanon, absent_is_null)
{
    sy_jval_t v = {NULL, 0, SY_JNULL};
    char out[8];
    cr_assert_eq(sy_jcanon_to_buf(&v, out, sizeof out), 4);
    cr_assert_str_eq(out, "null");
}

Test(jcanon, sink_stop_and_small_buffer)
{
    static const char txt[] = "{\"b\":[1,2,{\"c\":\"d\"}],\"a\":\"x\"}";
    sy_jval_t v = sy_json_value(txt, sizeof txt - 1);
    /* stopping on any call gives SY_EINTERNAL, never a crash or a leak */
    for (int stop = 1; stop < 40; stop++) {
        sinkbuf_t s = {{0}, 0, 0, stop};
        sy_err_t rc = sy_jcanon_write(&v, into, &s);
        if (s.calls < stop)
            cr_assert_eq(rc, SY_OK);
        else
            cr_assert_eq(rc, SY_EINTERNAL, "stop at %d", stop);
    }
    char small[8];
    cr_assert_eq(sy_jcanon_to_buf(&v, small, sizeof small), -1);
    char exact[30];
    cr_assert_eq(sy_jcanon_to_buf(&v, exact, sizeof exact), 29);
    cr_assert_str_eq(exact, "{\"a\":\"x\",\"b\":[1,2,{\"c\":\"d\"}]}");
    cr_assert_eq(sy_jcanon_to_buf(&v, exact, 29), -1, "one byte short of the NUL");
}

Test(jcanon, deep_nesting)
{
    char in[2 * SY_JSON_MAX_DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i < SY_JSON_MAX_DEPTH - 1; i++)
        in[n++] = '[';
    for (int i = 0; i < SY_JSON_MAX_DEPTH - 1; i++)
        in[n++] = ']';
    in[n] = '\0';
    cr_assert_str_eq(canon(in), in);
}
