/*
 * jsonscan_test.c - unit tests for src/core/jsonscan.c: the exact byte span
 * of a top-level member's value for every kind of JSON value, nested keys
 * ignored, strings holding quotes and brackets, whitespace anywhere, the
 * last duplicate winning, keys spelt with escapes not matched, and -1 for
 * text that is not an object, lacks the key or is malformed.
 */
#include "core/jsonscan.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* Scan s for key; on success copy the value's bytes into out. */
static int scan(const char *s, const char *key, char *out, size_t cap)
{
    size_t vs = (size_t)-1, ve = (size_t)-1;
    size_t n = strlen(s);
    int rc = sy_jsonscan_top(s, n, key, &vs, &ve);
    out[0] = '\0';
    if (rc == 0) {
        cr_assert_leq(vs, ve, "span [%zu,%zu) reversed in %s", vs, ve, s);
        cr_assert_leq(ve, n, "span end %zu past the text (%zu) in %s", ve, n, s);
        cr_assert_lt(ve - vs, cap);
        memcpy(out, s + vs, ve - vs);
        out[ve - vs] = '\0';
    }
    return rc;
}

static void expect_value(const char *s, const char *key, const char *want)
{
    char got[512];
    int rc = scan(s, key, got, sizeof(got));
    cr_assert_eq(rc, 0, "key \"%s\" not found in %s", key, s);
    cr_assert_str_eq(got, want, "in %s", s);
}

static void expect_none(const char *s, const char *key)
{
    char got[512];
    int rc = scan(s, key, got, sizeof(got));
    cr_expect_eq(rc, -1, "expected -1 for %s, got %d with value [%s]", s, rc, got);
}

Test(jsonscan, string_value)
{
    expect_value("{\"model\":\"gpt-4o\"}", "model", "\"gpt-4o\"");
    expect_value("{\"model\":\"\"}", "model", "\"\"");
    expect_value("{\"messages\":[],\"model\":\"llama3.2:1b\",\"stream\":true}", "model", "\"llama3.2:1b\"");
}

Test(jsonscan, number_values)
{
    expect_value("{\"model\":42}", "model", "42");
    expect_value("{\"model\":-1.5e+3,\"x\":1}", "model", "-1.5e+3");
    expect_value("{\"model\":0 }", "model", "0");
    expect_value("{\"a\":1,\"model\":3.25\n}", "model", "3.25");
}

Test(jsonscan, object_and_array_values)
{
    expect_value("{\"model\":{\"a\":[1,{\"b\":2}],\"c\":{}}}", "model", "{\"a\":[1,{\"b\":2}],\"c\":{}}");
    expect_value("{\"model\":[1,[2,[3]],{\"k\":\"]\"}],\"z\":0}", "model", "[1,[2,[3]],{\"k\":\"]\"}]");
    expect_value("{\"model\":{}}", "model", "{}");
    expect_value("{\"model\":[]}", "model", "[]");
}

Test(jsonscan, literal_values)
{
    expect_value("{\"model\":true}", "model", "true");
    expect_value("{\"model\":false,\"a\":1}", "model", "false");
    expect_value("{\"model\":null}", "model", "null");
    expect_value("{\"model\":null\t,\"a\":1}", "model", "null");
}

Test(jsonscan, other_keys_found_too)
{
    const char *s = "{\"model\":\"m\",\"stream\":true,\"n\":2,\"messages\":[{\"role\":\"user\"}]}";
    expect_value(s, "stream", "true");
    expect_value(s, "n", "2");
    expect_value(s, "messages", "[{\"role\":\"user\"}]");
}

Test(jsonscan, nested_model_key_ignored)
{
    expect_none("{\"a\":{\"model\":\"x\"}}", "model");
    expect_none("{\"a\":[{\"model\":\"x\"}],\"b\":{\"c\":{\"model\":1}}}", "model");
    expect_value("{\"a\":{\"model\":\"inner\"},\"model\":\"outer\"}", "model", "\"outer\"");
    expect_value("{\"model\":\"outer\",\"a\":{\"model\":\"inner\"}}", "model", "\"outer\"");
    /* a string value that looks like a member */
    expect_none("{\"a\":\"\\\"model\\\":\\\"x\\\"\"}", "model");
    expect_none("{\"a\":\"model\"}", "model");
}

Test(jsonscan, escaped_quotes_and_brackets_inside_strings)
{
    expect_value("{\"a\":\"he said \\\"}{][\\\" \",\"model\":\"m\"}", "model", "\"m\"");
    expect_value("{\"a\":{\"s\":\"}}}]]]\\\"{{\"},\"model\":\"m\"}", "model", "\"m\"");
    expect_value("{\"a\":[\"[\",\"\\\\\"],\"model\":\"m\"}", "model", "\"m\"");
    expect_value("{\"model\":\"a\\\"b\\\\\"}", "model", "\"a\\\"b\\\\\"");
    expect_value("{\"model\":\"\\\\\"}", "model", "\"\\\\\"");
    expect_value("{\"model\":\"x\\u0022y\"}", "model", "\"x\\u0022y\"");
    /* a key ending in an escaped backslash */
    expect_value("{\"k\\\\\":1,\"model\":\"m\"}", "model", "\"m\"");
}

Test(jsonscan, whitespace_everywhere)
{
    expect_value(" \n\t{ \r\n \"a\" : 1 ,\n\t\"model\"\t:\r\n \"m\" \n , \"b\" : [ 1 , 2 ] } \n", "model", "\"m\"");
    expect_value("{ \"model\" : 12 }", "model", "12");
    expect_value("{\"model\" :\n{ \"x\" : 1 } }", "model", "{ \"x\" : 1 }");
}

Test(jsonscan, last_duplicate_wins)
{
    expect_value("{\"model\":\"a\",\"model\":\"b\"}", "model", "\"b\"");
    expect_value("{\"model\":\"a\",\"x\":1,\"model\":{\"y\":2},\"z\":3}", "model", "{\"y\":2}");
}

/* Keys are compared decoded, as every JSON reader does: an escaped
 * spelling is the same key, and the last occurrence wins. */
Test(jsonscan, key_spelt_with_escapes_matched_decoded)
{
    expect_value("{\"mod\\u0065l\":\"x\"}", "model", "\"x\"");
    expect_none("{\"m\\odel\":\"x\"}", "model"); /* \o is no escape: invalid text */
    expect_value("{\"model\":\"a\",\"mod\\u0065l\":\"b\"}", "model", "\"b\"");
}

Test(jsonscan, similar_keys_not_matched)
{
    expect_none("{\"models\":\"x\"}", "model");
    expect_none("{\"mode\":\"x\"}", "model");
    expect_none("{\"Model\":\"x\"}", "model");
    expect_none("{\" model\":\"x\"}", "model");
    expect_none("{\"\":\"x\"}", "model");
    expect_value("{\"\":\"x\"}", "", "\"x\"");
}

Test(jsonscan, not_an_object)
{
    expect_none("", "model");
    expect_none("   ", "model");
    expect_none("[{\"model\":\"x\"}]", "model");
    expect_none("\"model\"", "model");
    expect_none("42", "model");
    expect_none("null", "model");
}

Test(jsonscan, absent)
{
    expect_none("{}", "model");
    expect_none(" { } ", "model");
    expect_none("{\"a\":1,\"b\":[\"model\"]}", "model");
}

Test(jsonscan, truncated_text)
{
    const char *full = "{\"a\":[1,{\"b\":\"x\\\"y\"}],\"model\":\"m\"}";
    size_t n = strlen(full);
    /* every strict prefix is malformed; the scanner never reads past n */
    for (size_t cut = 0; cut < n; cut++) {
        size_t vs, ve;
        char buf[64];
        memcpy(buf, full, cut);
        int rc = sy_jsonscan_top(buf, cut, "model", &vs, &ve);
        cr_expect_eq(rc, -1, "prefix of %zu bytes gave %d", cut, rc);
    }
    expect_value(full, "model", "\"m\"");
}

Test(jsonscan, malformed_structure)
{
    expect_none("{\"model\" \"x\"}", "model");       /* no colon */
    expect_none("{\"model\":\"x\" \"a\":1}", "model"); /* no comma */
    expect_none("{\"model\":\"x\",}", "model");      /* trailing comma */
    expect_none("{,\"model\":\"x\"}", "model");
    expect_none("{model:\"x\"}", "model");           /* unquoted key */
    expect_none("{\"model\":\"x", "model");          /* unterminated string */
    expect_none("{\"model\":{\"a\":1}", "model");    /* unclosed object */
    expect_none("{\"model\":\"x\"", "model");        /* no closing brace */
    expect_none("{\"model\":\"x\\", "model");        /* escape at the end */
}

/* A member without a value, a value whose brackets do not pair, and bytes
 * after the object are malformed text: the header promises -1. */
Test(jsonscan, malformed_value_rejected)
{
    expect_none("{\"model\":}", "model");
    expect_none("{\"model\":,\"a\":1}", "model");
    expect_none("{\"model\":[1,2}}", "model");
    expect_none("{\"model\":{\"a\":1]}", "model");
    expect_none("{\"model\":\"x\"} trailing", "model");
}

/* The span is relative to the start of the text even with leading
 * whitespace, so a caller can splice a new value in. */
Test(jsonscan, span_offsets_allow_splicing)
{
    const char *s = "  {\"stream\":true, \"model\" : \"public\" ,\"x\":1}";
    size_t vs, ve;
    cr_assert_eq(sy_jsonscan_top(s, strlen(s), "model", &vs, &ve), 0);
    char out[128];
    int n = snprintf(out, sizeof(out), "%.*s\"private\"%s", (int)vs, s, s + ve);
    cr_assert(n > 0);
    cr_assert_str_eq(out, "  {\"stream\":true, \"model\" : \"private\" ,\"x\":1}");
}

/* Deep nesting is skipped without recursion limits. */
/* Nesting is bounded (SY_JSON_MAX_DEPTH): deeper text is refused, text at
 * the bound is walked. */
static size_t nested(char *s, size_t cap, int depth)
{
    size_t n = (size_t)snprintf(s, cap, "{\"a\":");
    for (int i = 0; i < depth; i++)
        s[n++] = '[';
    for (int i = 0; i < depth; i++)
        s[n++] = ']';
    n += (size_t)snprintf(s + n, cap - n, ",\"model\":\"deep\"}");
    return n;
}

Test(jsonscan, deep_nesting)
{
    static char s[2 * 10000 + 64];
    size_t vs, ve, off;
    const char *msg;
    size_t n = nested(s, sizeof(s), 10000);
    cr_assert_eq(sy_jsonscan_top(s, n, "model", &vs, &ve), -1);
    cr_assert_eq(sy_json_validate(s, n, &off, &msg), -1);
    cr_assert_str_eq(msg, "nesting too deep");
    n = nested(s, sizeof(s), SY_JSON_MAX_DEPTH - 1);
    cr_assert_eq(sy_jsonscan_top(s, n, "model", &vs, &ve), 0);
    cr_assert_eq(ve - vs, 6);
    cr_assert(memcmp(s + vs, "\"deep\"", 6) == 0);
}

/* The text need not be NUL-terminated: only s[0..n) is read. */
Test(jsonscan, reads_only_n_bytes)
{
    const char s[] = "{\"model\":\"a\"}{\"model\":\"b\"}";
    size_t vs, ve;
    cr_assert_eq(sy_jsonscan_top(s, 13, "model", &vs, &ve), 0);
    cr_assert_eq(vs, 9);
    cr_assert_eq(ve, 12);
}

/* ---- validation and walking ------------------------------------------------ */

static void expect_invalid(const char *s, size_t want_off, const char *want_msg)
{
    size_t off = 0;
    const char *msg = NULL;
    cr_assert_eq(sy_json_validate(s, strlen(s), &off, &msg), -1, "accepted: %s", s);
    cr_expect_eq(off, want_off, "%s: offset %zu, want %zu", s, off, want_off);
    cr_expect_str_eq(msg, want_msg, "%s", s);
}

Test(jsonscan, validate_rejects_with_offset)
{
    expect_invalid("{\"model\":", 9, "unexpected end of input");
    expect_invalid("{\"a\":1,}", 7, "expected a string key");
    expect_invalid("{\"a\" 1}", 5, "expected ':' after a key");
    expect_invalid("[1 2]", 3, "expected ',' or ']' in an array");
    expect_invalid("{\"a\":NaN}", 5, "unexpected character");
    expect_invalid("{\"a\":01}", 6, "expected ',' or '}' in an object");
    expect_invalid("{\"a\":1.}", 7, "invalid number");
    expect_invalid("{\"a\":\"x\\q\"}", 8, "invalid escape in a string");
    expect_invalid("{\"a\":\"\\u12g4\"}", 10, "invalid \\u escape");
    expect_invalid("{\"a\":\"a\tb\"}", 7, "control character in a string");
    expect_invalid("{\"a\":tru}", 8, "invalid literal");
    expect_invalid("{} {}", 3, "unexpected data after the value");
    expect_invalid("", 0, "unexpected end of input");
}

Test(jsonscan, validate_accepts_rfc8259)
{
    const char *ok[] = {"0", "-0", "1e5", "-1.25E-3", "\"\\u00e9\\n\"", "true", " null ", "[]", "{}",
                        "{\"a\":[1,{\"b\":null}],\"c\":\"\\\"}\"}", "\"\xc3\xa9\""};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_expect_eq(sy_json_validate(ok[i], strlen(ok[i]), NULL, NULL), 0, "rejected: %s", ok[i]);
}

Test(jsonscan, walk_members_types_and_values)
{
    const char *s = " {\"model\":\"m\\u00e9\",\"n\":2,\"t\":0.5,\"s\":true,\"x\":null,\"a\":[1,[2]],\"o\":{\"k\":\"}\"}} ";
    cr_assert_eq(sy_json_validate(s, strlen(s), NULL, NULL), 0);
    sy_jval_t doc = sy_json_value(s, strlen(s)), k, v;
    cr_assert_eq(doc.type, SY_JOBJECT);
    const sy_jtype_t want[] = {SY_JSTRING, SY_JINT, SY_JDOUBLE, SY_JBOOL, SY_JNULL, SY_JARRAY, SY_JOBJECT};
    size_t pos = 0, i = 0;
    while (sy_json_next_member(&doc, &pos, &k, &v)) {
        cr_assert_lt(i, 7);
        cr_expect_eq(v.type, want[i], "member %zu", i);
        i++;
    }
    cr_assert_eq(i, 7);
    char buf[16];
    cr_assert(sy_json_get(&doc, "model", &v));
    cr_assert_eq(sy_json_string(&v, buf, sizeof(buf)), 3);
    cr_assert_str_eq(buf, "m\xc3\xa9");
    cr_assert_eq(sy_json_string(&v, buf, 3), -1, "does not fit in 2 bytes + NUL");
    int64_t n;
    cr_assert(sy_json_get(&doc, "n", &v));
    cr_assert_eq(sy_json_int(&v, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert(sy_json_get(&doc, "s", &v) && sy_json_true(&v));
    cr_assert(sy_json_get(&doc, "a", &v));
    size_t ep = 0, ne = 0;
    sy_jval_t e;
    while (sy_json_next_element(&v, &ep, &e))
        ne++;
    cr_assert_eq(ne, 2);
    cr_assert_not(sy_json_get(&doc, "absent", &v));
}

Test(jsonscan, escaped_key_matches_decoded_name)
{
    const char *s = "{\"mod\\u0065l\":\"x\",\"model\":\"y\"}";
    sy_jval_t doc = sy_json_value(s, strlen(s)), k, v;
    size_t pos = 0;
    cr_assert(sy_json_next_member(&doc, &pos, &k, &v));
    cr_assert(sy_json_key_is(&k, "model"));
    cr_assert_not(sy_json_key_is(&k, "mode"));
    cr_assert(sy_json_get(&doc, "model", &v));
    cr_assert_eq(v.len, 3);
    cr_assert(memcmp(v.p, "\"y\"", 3) == 0, "the last occurrence wins");
}

Test(jsonscan, surrogate_pairs_decode_to_utf8)
{
    const char *s = "\"\\ud83d\\ude00|\\ud800\"";
    sy_jval_t v = sy_json_value(s, strlen(s));
    char buf[16];
    long n = sy_json_string(&v, buf, sizeof(buf));
    cr_assert_eq(n, 8);
    cr_assert(memcmp(buf, "\xf0\x9f\x98\x80|\xef\xbf\xbd", 8) == 0, "a pair, then a lone surrogate as U+FFFD");
}

Test(jsonscan, int_out_of_range_refused)
{
    const char *s = "99999999999999999999";
    sy_jval_t v = sy_json_value(s, strlen(s));
    int64_t n;
    cr_assert_eq(v.type, SY_JINT);
    cr_assert_eq(sy_json_int(&v, &n), -1);
}

Test(jsonscan, double_of_numbers)
{
    static const struct {
        const char *text;
        double want;
    } ok[] = {{"0", 0.0}, {"-12", -12.0}, {"0.5", 0.5}, {"7e-1", 0.7}, {"1E3", 1000.0}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        /* a number inside a document: its text is not NUL-terminated */
        char doc[64];
        snprintf(doc, sizeof doc, "[%s,9]", ok[i].text);
        sy_jval_t arr = sy_json_value(doc, strlen(doc)), v;
        size_t pos = 0;
        cr_assert(sy_json_next_element(&arr, &pos, &v));
        double d;
        cr_assert_eq(sy_json_double(&v, &d), 0, "%s", ok[i].text);
        cr_assert_eq(d, ok[i].want, "%s", ok[i].text);
    }
    double d;
    sy_jval_t s = sy_json_value("\"1\"", 3);
    cr_assert_eq(sy_json_double(&s, &d), -1, "a string is not a number");
    char big[200];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sy_jval_t b = sy_json_value(big, strlen(big));
    cr_assert_eq(sy_json_double(&b, &d), -1, "text over 127 bytes");
}

/* Runs without escapes are copied whole: the bound on dst still holds at
 * every length, and escapes between runs decode as before. */
Test(jsonscan, string_runs_and_the_bound)
{
    const char *text = "\"abc\\ndef\\u00e9gh\\\"\"";
    sy_jval_t v = sy_json_value(text, strlen(text));
    const char *want = "abc\ndef\xc3\xa9gh\"";
    size_t wl = strlen(want);
    char out[64];
    for (size_t cap = 1; cap <= wl; cap++)
        cr_assert_eq(sy_json_string(&v, out, cap), -1, "cap %zu leaves no room for the NUL", cap);
    cr_assert_eq(sy_json_string(&v, out, wl + 1), (long)wl);
    cr_assert_str_eq(out, want);
    const char *plain = "\"no escapes at all\"";
    sy_jval_t p = sy_json_value(plain, strlen(plain));
    cr_assert_eq(sy_json_string(&p, out, 17), -1);
    cr_assert_eq(sy_json_string(&p, out, 18), 17);
    cr_assert_str_eq(out, "no escapes at all");
}
