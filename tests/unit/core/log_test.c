/*
 * log_test.c - unit tests for src/core/log.c: sy_json_escape (quotes,
 * backslash, control characters, truncation that never splits an escape and
 * always NUL-terminates), and log lines built in their buffer and captured
 * from stderr: one line of strict JSON with ts, level, msg and the added
 * fields, whatever the values, the keys or the number of fields.
 */
#include "core/log.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

/* Parse s[0..n) as one strict JSON value, UTF-8 checked, nothing after it;
 * NULL when it is not. */
static json_object *parse_strict(const char *s, size_t n)
{
    json_tokener *tok = json_tokener_new_ex(256);
    cr_assert_not_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    if (o && json_tokener_get_parse_end(tok) != n) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

/* Whether s[0..n) is well-formed UTF-8. */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

/* Run sy_logline_end on l with fd 2 sent to a temporary file; return what
 * was written (caller frees) and its length. */
static char *end_captured(sy_logline_t *l, size_t *len)
{
    FILE *tmp = tmpfile();
    cr_assert_not_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    cr_assert_geq(saved, 0);
    cr_assert_geq(dup2(fileno(tmp), STDERR_FILENO), 0);
    sy_logline_end(l);
    cr_assert_geq(dup2(saved, STDERR_FILENO), 0);
    close(saved);
    cr_assert_eq(fseek(tmp, 0, SEEK_END), 0);
    long n = ftell(tmp);
    cr_assert_geq(n, 0);
    rewind(tmp);
    char *out = malloc((size_t)n + 1);
    cr_assert_not_null(out);
    cr_assert_eq(fread(out, 1, (size_t)n, tmp), (size_t)n);
    out[n] = '\0';
    fclose(tmp);
    *len = (size_t)n;
    return out;
}

/* The same for sy_log. */
static char *log_captured(int level, const char *msg, const char *detail, size_t *len)
{
    FILE *tmp = tmpfile();
    cr_assert_not_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    cr_assert_geq(dup2(fileno(tmp), STDERR_FILENO), 0);
    if (detail)
        sy_log(level, msg, "%s", detail);
    else
        sy_log(level, msg, NULL);
    cr_assert_geq(dup2(saved, STDERR_FILENO), 0);
    close(saved);
    cr_assert_eq(fseek(tmp, 0, SEEK_END), 0);
    long n = ftell(tmp);
    rewind(tmp);
    char *out = malloc((size_t)n + 1);
    cr_assert_not_null(out);
    cr_assert_eq(fread(out, 1, (size_t)n, tmp), (size_t)n);
    out[n] = '\0';
    fclose(tmp);
    *len = (size_t)n;
    return out;
}

/* End the line, check that the buffer and stderr hold the same single line
 * of strict JSON, and return it parsed (caller puts). */
static json_object *end_and_parse(sy_logline_t *l)
{
    size_t n;
    char *out = end_captured(l, &n);
    cr_assert_eq(n, l->len, "wrote %zu bytes, buffer holds %zu", n, l->len);
    cr_assert(memcmp(out, l->buf, n) == 0, "stderr differs from the buffer");
    cr_assert_leq(n, sizeof(l->buf));
    cr_assert_geq(n, 2);
    cr_assert_eq(out[n - 1], '\n', "line does not end in a newline");
    cr_assert_null(memchr(out, '\n', n - 1), "line holds a raw newline before its end");
    json_object *o = parse_strict(out, n - 1);
    cr_assert_not_null(o, "not JSON (%zu bytes): %.300s ... %.200s", n, out, n > 200 ? out + n - 200 : out);
    cr_assert(json_object_is_type(o, json_type_object));
    free(out);
    return o;
}

static const char *get_str(json_object *o, const char *key)
{
    json_object *v;
    cr_assert(json_object_object_get_ex(o, key, &v), "no \"%s\"", key);
    cr_assert(json_object_is_type(v, json_type_string), "\"%s\" is not a string", key);
    return json_object_get_string(v);
}

/* Escape s[0..n) into a big buffer. */
static size_t esc(const char *s, size_t n, char *out, size_t cap)
{
    return sy_json_escape(out, cap, s, n);
}

/* ---- sy_json_escape ----------------------------------------------------- */

Test(json_escape, plain_text_unchanged)
{
    char out[64];
    cr_assert_eq(esc("hello, world /x'", 16, out, sizeof(out)), 16);
    cr_assert_str_eq(out, "hello, world /x'");
    cr_assert_eq(esc("", 0, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "");
}

Test(json_escape, quotes_and_backslash)
{
    char out[64];
    size_t n = esc("a\"b\\c\"", 6, out, sizeof(out));
    cr_assert_str_eq(out, "a\\\"b\\\\c\\\"");
    cr_assert_eq(n, strlen(out));
}

Test(json_escape, named_control_characters)
{
    char out[64];
    esc("\n\r\t", 3, out, sizeof(out));
    cr_assert_str_eq(out, "\\n\\r\\t");
}

Test(json_escape, other_control_characters_as_u00xx)
{
    char out[16], want[16];
    for (int c = 0; c < 0x20; c++) {
        if (c == '\n' || c == '\r' || c == '\t')
            continue;
        char in[1] = {(char)c};
        size_t n = esc(in, 1, out, sizeof(out));
        snprintf(want, sizeof(want), "\\u%04x", c);
        cr_assert_str_eq(out, want, "char 0x%02x", c);
        cr_assert_eq(n, 6);
    }
    /* a NUL inside the input is escaped too, not an end */
    size_t n = esc("a\0b", 3, out, sizeof(out));
    cr_assert_eq(n, 8);
    cr_assert_str_eq(out, "a\\u0000b");
}

Test(json_escape, high_bytes_and_del_pass_through)
{
    char out[32];
    const char *s = "\x7f" "caf\xc3\xa9 \xe2\x82\xac";
    esc(s, strlen(s), out, sizeof(out));
    cr_assert_str_eq(out, s);
}

/* Every byte value round-trips through a JSON parser. */
Test(json_escape, every_byte_round_trips)
{
    char in[128], out[1024], doc[1100];
    for (int c = 1; c < 128; c++)
        in[c - 1] = (char)c;
    size_t n = esc(in, 127, out, sizeof(out));
    int m = snprintf(doc, sizeof(doc), "\"%s\"", out);
    cr_assert(m > 0 && (size_t)m < sizeof(doc));
    json_object *o = parse_strict(doc, (size_t)m);
    cr_assert_not_null(o, "escaped text does not parse: %s", doc);
    cr_assert_eq((size_t)json_object_get_string_len(o), 127);
    cr_assert(memcmp(json_object_get_string(o), in, 127) == 0);
    cr_assert_eq(n, strlen(out));
    json_object_put(o);
}

/* At every capacity the output is a prefix of the full escape that ends on
 * an escape boundary, is NUL-terminated, and nothing past cap is written. */
Test(json_escape, truncation_never_splits_an_escape)
{
    const char in[] = "ab\"c\\d\ne\x01" "f\x1fg\th\r";
    const size_t inlen = sizeof(in) - 1;
    char full[128];
    size_t fl = esc(in, inlen, full, sizeof(full));
    cr_assert_eq(fl, strlen("ab\\\"c\\\\d\\ne\\u0001f\\u001fg\\th\\r"));
    cr_assert_str_eq(full, "ab\\\"c\\\\d\\ne\\u0001f\\u001fg\\th\\r");

    /* the offsets where an escape may end: after each input byte's escape */
    size_t bounds[64], nb = 0;
    bounds[nb++] = 0;
    for (size_t i = 1; i <= inlen; i++) {
        char tmp[128];
        bounds[nb++] = esc(in, i, tmp, sizeof(tmp));
    }

    for (size_t cap = 1; cap <= fl + 2; cap++) {
        char out[160];
        memset(out, '#', sizeof(out));
        size_t n = sy_json_escape(out, cap, in, inlen);
        cr_assert_lt(n, cap, "cap %zu: wrote %zu", cap, n);
        cr_assert_eq(out[n], '\0', "cap %zu: not NUL-terminated", cap);
        cr_assert(memcmp(out, full, n) == 0, "cap %zu: not a prefix", cap);
        int on_bound = 0;
        for (size_t b = 0; b < nb; b++)
            on_bound |= bounds[b] == n;
        cr_assert(on_bound, "cap %zu: output of %zu bytes ends inside an escape: %s", cap, n, out);
        /* the longest boundary that fits is used */
        for (size_t b = 0; b < nb; b++)
            if (bounds[b] < cap)
                cr_assert_geq(n, bounds[b], "cap %zu: stopped at %zu, %zu would fit", cap, n, bounds[b]);
        for (size_t k = cap; k < sizeof(out); k++)
            cr_assert_eq(out[k], '#', "cap %zu: byte %zu written", cap, k);
    }
}

Test(json_escape, zero_capacity_writes_nothing)
{
    char out[4] = {'#', '#', '#', '#'};
    cr_assert_eq(sy_json_escape(out, 0, "abc", 3), 0);
    cr_assert_eq(out[0], '#');
    cr_assert_eq(sy_json_escape(out, 1, "abc", 3), 0);
    cr_assert_eq(out[0], '\0');
    cr_assert_eq(out[1], '#');
}

/* A cut escape is not the only way to break a truncated string: a cut
 * UTF-8 sequence makes the JSON invalid UTF-8 (RFC 8259 section 8.1), which
 * strict clients refuse. Truncation should stop before a partial character. */
Test(json_escape, truncation_never_splits_a_utf8_sequence)
{
    /* "é€😀" repeated: 2-, 3- and 4-byte sequences */
    const char unit[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    char in[9 * 8];
    for (size_t i = 0; i < 8; i++)
        memcpy(in + 9 * i, unit, 9);
    size_t bad = 0, first_bad = 0, first_n = 0;
    for (size_t cap = 1; cap <= sizeof(in) + 1; cap++) {
        char out[sizeof(in) + 2];
        size_t n = sy_json_escape(out, cap, in, sizeof(in));
        if (!valid_utf8((const unsigned char *)out, n) && !bad++)
            first_bad = cap, first_n = n;
    }
    cr_expect_eq(bad, 0, "%zu of %zu capacities cut a character (first: cap %zu gave %zu bytes)", bad,
                 sizeof(in) + 1, first_bad, first_n);
}

/* ---- log lines ---------------------------------------------------------- */

Test(logline, fields_and_shape)
{
    sy_logline_t l;
    sy_logline_begin(&l, SY_LOG_INFO, "request");
    sy_logline_str(&l, "request_id", "abc-123");
    sy_logline_str(&l, "model", NULL);
    sy_logline_int(&l, "status", 200);
    sy_logline_int(&l, "big", INT64_MAX);
    sy_logline_int(&l, "small", INT64_MIN);
    sy_logline_ms(&l, "duration_ms", 12.3456);
    sy_logline_ms(&l, "zero_ms", 0);
    cr_assert_eq(l.truncated, 0);
    json_object *o = end_and_parse(&l);

    /* key order: ts, level, msg first */
    const char *first = l.buf;
    cr_assert(strncmp(first, "{\"ts\":\"", 7) == 0, "line starts %.20s", first);
    cr_assert_not_null(strstr(l.buf, "\",\"level\":\"info\",\"msg\":\"request\","));

    const char *ts = get_str(o, "ts");
    cr_assert_eq(strlen(ts), 24, "ts \"%s\"", ts);
    for (int i = 0; i < 24; i++) {
        const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
        if (shape[i] == 'd')
            cr_assert(ts[i] >= '0' && ts[i] <= '9', "ts \"%s\"", ts);
        else
            cr_assert_eq(ts[i], shape[i], "ts \"%s\"", ts);
    }
    cr_assert_str_eq(get_str(o, "level"), "info");
    cr_assert_str_eq(get_str(o, "msg"), "request");
    cr_assert_str_eq(get_str(o, "request_id"), "abc-123");

    json_object *v;
    cr_assert(json_object_object_get_ex(o, "model", &v));
    cr_assert_null(v, "NULL value is not null");
    cr_assert(json_object_object_get_ex(o, "status", &v));
    cr_assert(json_object_is_type(v, json_type_int));
    cr_assert_eq(json_object_get_int64(v), 200);
    cr_assert(json_object_object_get_ex(o, "big", &v));
    cr_assert_eq(json_object_get_int64(v), INT64_MAX);
    cr_assert(json_object_object_get_ex(o, "small", &v));
    cr_assert_eq(json_object_get_int64(v), INT64_MIN);
    cr_assert(json_object_object_get_ex(o, "duration_ms", &v));
    cr_assert(json_object_is_type(v, json_type_double));
    cr_assert_float_eq(json_object_get_double(v), 12.346, 1e-9);
    cr_assert_not_null(strstr(l.buf, "\"duration_ms\":12.346"));
    cr_assert(json_object_object_get_ex(o, "zero_ms", &v));
    cr_assert_float_eq(json_object_get_double(v), 0.0, 1e-12);
    json_object_put(o);
}

Test(logline, level_names)
{
    static const struct {
        int level;
        const char *name;
    } cases[] = {
        {SY_LOG_DEBUG, "debug"}, {SY_LOG_INFO, "info"}, {SY_LOG_WARN, "warn"},
        {SY_LOG_ERROR, "error"}, {-3, "debug"},         {99, "error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sy_logline_t l;
        sy_logline_begin(&l, cases[i].level, "m");
        json_object *o = end_and_parse(&l);
        cr_assert_str_eq(get_str(o, "level"), cases[i].name, "level %d", cases[i].level);
        json_object_put(o);
    }
}

Test(logline, null_msg_is_null)
{
    sy_logline_t l;
    sy_logline_begin(&l, SY_LOG_WARN, NULL);
    json_object *o = end_and_parse(&l);
    json_object *v;
    cr_assert(json_object_object_get_ex(o, "msg", &v));
    cr_assert_null(v);
    json_object_put(o);
}

Test(logline, values_are_escaped)
{
    const char *nasty = "say \"hi\"\\ \n\r\t\x01\x1f end}\",\"level\":\"error";
    sy_logline_t l;
    sy_logline_begin(&l, SY_LOG_INFO, nasty);
    sy_logline_str(&l, "v", nasty);
    json_object *o = end_and_parse(&l);
    cr_assert_str_eq(get_str(o, "msg"), nasty);
    cr_assert_str_eq(get_str(o, "v"), nasty);
    cr_assert_str_eq(get_str(o, "level"), "info");
    json_object_put(o);
}

/* One huge value is cut short, the line stays JSON and the value is a
 * prefix of the original. */
Test(logline, huge_value_truncated_not_broken)
{
    static const char *const fills[] = {"x", "\"", "\\", "\n", "\x01"};
    for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
        char big[10000];
        memset(big, fills[f][0], sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        sy_logline_t l;
        sy_logline_begin(&l, SY_LOG_INFO, "huge");
        sy_logline_str(&l, "before", "b");
        sy_logline_str(&l, "v", big);
        sy_logline_int(&l, "after", 7);
        json_object *o = end_and_parse(&l);
        const char *v = get_str(o, "v");
        size_t vl = strlen(v);
        cr_assert_gt(vl, 0, "fill 0x%02x: value dropped entirely", (unsigned char)fills[f][0]);
        cr_assert_lt(vl, sizeof(big) - 1);
        cr_assert(memcmp(v, big, vl) == 0, "fill 0x%02x: value is not a prefix", (unsigned char)fills[f][0]);
        cr_assert_str_eq(get_str(o, "before"), "b");
        json_object *a;
        cr_assert(json_object_object_get_ex(o, "after", &a), "field after the huge value lost");
        cr_assert_eq(json_object_get_int64(a), 7);
        json_object_put(o);
    }
}

/* Past 4 KiB fields are dropped, never overflowed - and the line must stay
 * JSON wherever the limit falls: inside a key, an opening quote, a value, a
 * number. Each padding size moves the limit by one byte; whatever field is
 * kept must be whole. */
Test(logline, many_fields_stay_json_wherever_the_limit_falls)
{
    char chunk[1001];
    memset(chunk, 'c', sizeof(chunk) - 1);
    chunk[sizeof(chunk) - 1] = '\0';
    size_t broken = 0, first_bad_pad = 0, wrong = 0;
    char first_wrong[160] = "";
    for (size_t pad = 0; pad < 1100; pad++) {
        char padding[1100];
        memset(padding, 'p', pad);
        padding[pad] = '\0';
        sy_logline_t l;
        sy_logline_begin(&l, SY_LOG_INFO, "many");
        sy_logline_str(&l, "pad", padding);
        for (int i = 0; i < 3; i++) {
            char key[16];
            snprintf(key, sizeof(key), "f%d", i);
            sy_logline_str(&l, key, chunk);
        }
        for (int i = 0; i < 40; i++) {
            char key[32];
            snprintf(key, sizeof(key), "number_field_%02d", i);
            sy_logline_int(&l, key, 1234567890123LL + i);
            snprintf(key, sizeof(key), "s%02d", i);
            sy_logline_str(&l, key, "abc");
            snprintf(key, sizeof(key), "m%02d", i);
            sy_logline_ms(&l, key, 1.5);
        }
        cr_assert(l.truncated, "pad %zu: 4 KiB exceeded without the flag", pad);
        cr_assert_leq(l.len + 2, sizeof(l.buf));
        size_t n;
        char *out = end_captured(&l, &n);
        json_object *o = parse_strict(out, n - 1);
        if (!o) {
            if (!broken++) {
                first_bad_pad = pad;
                cr_log_error("pad %zu: line is not JSON, ends with: %s", pad, n > 80 ? out + n - 80 : out);
            }
        } else {
            /* a field that is kept must carry its own whole value */
            json_object_object_foreach(o, key, val)
            {
                int ok = 1;
                if (strncmp(key, "number_field_", 13) == 0)
                    ok = json_object_is_type(val, json_type_int) &&
                         json_object_get_int64(val) == 1234567890123LL + strtol(key + 13, NULL, 10);
                else if (key[0] == 's' && key[1] >= '0' && key[1] <= '9')
                    ok = json_object_is_type(val, json_type_string) && strcmp(json_object_get_string(val), "abc") == 0;
                else if (key[0] == 'f' && key[1] >= '0' && key[1] <= '9')
                    ok = json_object_is_type(val, json_type_string) && strcmp(json_object_get_string(val), chunk) == 0;
                if (!ok && !wrong++)
                    snprintf(first_wrong, sizeof(first_wrong), "pad %zu: \"%s\":%.60s", pad, key,
                             json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
            }
            json_object_put(o);
        }
        free(out);
    }
    cr_expect_eq(broken, 0, "%zu of 1100 padding sizes gave a line that is not JSON (first at pad %zu)", broken,
                 first_bad_pad);
    cr_expect_eq(wrong, 0, "%zu kept fields lost or swapped their value (first: %s)", wrong, first_wrong);
}

/* A key too long for the key buffer must not leave its value behind
 * without a key. */
Test(logline, overlong_key_does_not_break_json)
{
    char key[300];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    sy_logline_t l;
    sy_logline_begin(&l, SY_LOG_INFO, "longkey");
    sy_logline_str(&l, key, "value");
    sy_logline_int(&l, key, 5);
    sy_logline_str(&l, "after", "ok");
    size_t n;
    char *out = end_captured(&l, &n);
    json_object *o = parse_strict(out, n - 1);
    cr_expect_not_null(o, "line is not JSON: %s", out);
    free(out);
    if (o) {
        cr_expect_str_eq(get_str(o, "after"), "ok");
        json_object_put(o);
    }
}

/* Log lines are read by JSON tools: a non-finite duration must not print
 * "nan" or "inf", which are not JSON. */
Test(logline, non_finite_ms_stays_json)
{
    const double vals[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        sy_logline_t l;
        sy_logline_begin(&l, SY_LOG_INFO, "nf");
        sy_logline_ms(&l, "d", vals[i]);
        size_t n;
        char *out = end_captured(&l, &n);
        json_object *o = parse_strict(out, n - 1);
        cr_expect_not_null(o, "line is not JSON: %.*s", (int)(n - 1), out);
        json_object_put(o);
        free(out);
    }
}

Test(logline, begin_resets_the_line)
{
    sy_logline_t l;
    memset(&l, 0x41, sizeof(l));
    sy_logline_begin(&l, SY_LOG_INFO, "first");
    sy_logline_str(&l, "a", "1");
    sy_logline_begin(&l, SY_LOG_ERROR, "second");
    cr_assert_eq(l.truncated, 0);
    json_object *o = end_and_parse(&l);
    cr_assert_str_eq(get_str(o, "msg"), "second");
    cr_assert_str_eq(get_str(o, "level"), "error");
    json_object *v;
    cr_assert_not(json_object_object_get_ex(o, "a", &v));
    json_object_put(o);
}

/* ---- sy_log and levels -------------------------------------------------- */

Test(log, level_filter)
{
    sy_log_set_level(SY_LOG_WARN);
    cr_assert_not(sy_log_enabled(SY_LOG_DEBUG));
    cr_assert_not(sy_log_enabled(SY_LOG_INFO));
    cr_assert(sy_log_enabled(SY_LOG_WARN));
    cr_assert(sy_log_enabled(SY_LOG_ERROR));
    size_t n;
    char *out = log_captured(SY_LOG_INFO, "hidden", "x", &n);
    cr_assert_eq(n, 0, "a filtered level wrote: %s", out);
    free(out);
    sy_log_set_level(SY_LOG_DEBUG);
    cr_assert(sy_log_enabled(SY_LOG_DEBUG));
}

Test(log, default_level_is_info)
{
    cr_assert_not(sy_log_enabled(SY_LOG_DEBUG));
    cr_assert(sy_log_enabled(SY_LOG_INFO));
}

Test(log, line_with_detail)
{
    size_t n;
    char *out = log_captured(SY_LOG_ERROR, "boom", "code 5 \"quoted\"", &n);
    cr_assert_gt(n, 0);
    cr_assert_eq(out[n - 1], '\n');
    json_object *o = parse_strict(out, n - 1);
    cr_assert_not_null(o, "not JSON: %s", out);
    cr_assert_str_eq(get_str(o, "level"), "error");
    cr_assert_str_eq(get_str(o, "msg"), "boom");
    cr_assert_str_eq(get_str(o, "detail"), "code 5 \"quoted\"");
    json_object_put(o);
    free(out);
}

Test(log, line_without_detail)
{
    size_t n;
    char *out = log_captured(SY_LOG_WARN, "plain", NULL, &n);
    json_object *o = parse_strict(out, n - 1);
    cr_assert_not_null(o, "not JSON: %s", out);
    json_object *v;
    cr_assert_not(json_object_object_get_ex(o, "detail", &v));
    cr_assert_str_eq(get_str(o, "msg"), "plain");
    json_object_put(o);
    free(out);
}
