/*
 * jsonw_test.c - unit tests for src/core/jsonw.c: escaping (quotes,
 * backslashes, control bytes, NUL, UTF-8 kept), integers at the int64
 * edges, doubles that read back exactly, keys with commas.
 */
#include "core/jsonw.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"

static char *take(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

Test(jsonw, strings_are_escaped_and_valid)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"", 0, "\"\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"\n\r\t", 3, "\"\\n\\r\\t\""},
        {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
        {"nul\0here", 8, "\"nul\\u0000here\""},
        {"caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\""},
        {"</script>", 9, "\"</script>\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct evbuffer *b = evbuffer_new();
        sy_jw_str(b, cases[i].in, cases[i].n);
        char *s = take(b);
        cr_assert_str_eq(s, cases[i].out, "case %zu", i);
        cr_assert_eq(sy_json_validate(s, strlen(s), NULL, NULL), 0);
        /* and it decodes back to the input */
        char dec[64];
        sy_jval_t v = sy_json_value(s, strlen(s));
        cr_assert_eq(sy_json_string(&v, dec, sizeof dec), (long)cases[i].n);
        cr_assert_eq(memcmp(dec, cases[i].in, cases[i].n), 0);
        free(s);
        evbuffer_free(b);
    }
}

Test(jsonw, cstr_null_and_key_commas)
{
    struct evbuffer *b = evbuffer_new();
    int first = 1;
    SY_JW_LIT(b, "{");
    sy_jw_key(b, &first, "a");
    sy_jw_cstr(b, NULL);
    sy_jw_key(b, &first, "b\"");
    sy_jw_cstr(b, "x");
    SY_JW_LIT(b, "}");
    char *s = take(b);
    cr_assert_str_eq(s, "{\"a\":null,\"b\\\"\":\"x\"}");
    free(s);
    evbuffer_free(b);
}

Test(jsonw, integers)
{
    static const int64_t v[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN};
    static const char *const out[] = {"0", "1", "-1", "42", "9223372036854775807", "-9223372036854775808"};
    for (size_t i = 0; i < 6; i++) {
        struct evbuffer *b = evbuffer_new();
        sy_jw_int(b, v[i]);
        char *s = take(b);
        cr_assert_str_eq(s, out[i]);
        free(s);
        evbuffer_free(b);
    }
}

Test(jsonw, doubles_read_back_exactly)
{
    static const double v[] = {0.0, 0.7, 0.1 + 0.2, 1e21, -3.5e-7, 1.0 / 3.0, 123456789.125, 5e-324};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct evbuffer *b = evbuffer_new();
        sy_jw_double(b, v[i]);
        char *s = take(b);
        cr_assert_eq(sy_json_validate(s, strlen(s), NULL, NULL), 0, "%s", s);
        cr_assert_eq(strtod(s, NULL), v[i], "%s", s);
        free(s);
        evbuffer_free(b);
    }
    struct evbuffer *b = evbuffer_new();
    sy_jw_double(b, 0.7);
    char *s = take(b);
    cr_assert_str_eq(s, "0.7", "the shortest form");
    free(s);
    sy_jw_double(b, NAN);
    sy_jw_double(b, INFINITY);
    s = take(b);
    cr_assert_str_eq(s, "nullnull");
    free(s);
    evbuffer_free(b);
}
