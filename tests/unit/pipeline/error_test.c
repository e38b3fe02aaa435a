/*
 * error_test.c - unit tests for sy_error_openai_json in
 * src/pipeline/error.c (the parts that need no server): the OpenAI error
 * shape with message, type, param and code for every error; param null when
 * empty; escaping; the longest and the nastiest messages; and every buffer
 * capacity giving either valid JSON or nothing.
 */
#include "pipeline/error.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse s[0..n) as one strict JSON value, UTF-8 checked, nothing after it. */
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

/* The fields of a rendered error; param is NULL when JSON null. */
typedef struct parsed {
    json_object *root;
    const char *message, *type, *param, *code;
} parsed_t;

static parsed_t render(const sy_error_t *e, size_t cap)
{
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    size_t n = sy_error_openai_json(e, buf, cap);
    cr_assert_lt(n, cap);
    cr_assert_eq(strlen(buf), n, "returned %zu, buffer holds %zu bytes", n, strlen(buf));
    parsed_t p = {0};
    p.root = parse_strict(buf, n);
    cr_assert_not_null(p.root, "not JSON: %s", buf);
    json_object *err, *v;
    cr_assert(json_object_object_get_ex(p.root, "error", &err));
    cr_assert(json_object_is_type(err, json_type_object));
    cr_assert_eq(json_object_object_length(err), 4, "error has %d members", json_object_object_length(err));
    cr_assert(json_object_object_get_ex(err, "message", &v) && json_object_is_type(v, json_type_string));
    p.message = json_object_get_string(v);
    cr_assert(json_object_object_get_ex(err, "type", &v) && json_object_is_type(v, json_type_string));
    p.type = json_object_get_string(v);
    cr_assert(json_object_object_get_ex(err, "code", &v) && json_object_is_type(v, json_type_string));
    p.code = json_object_get_string(v);
    cr_assert(json_object_object_get_ex(err, "param", &v));
    cr_assert(v == NULL || json_object_is_type(v, json_type_string));
    p.param = v ? json_object_get_string(v) : NULL;
    cr_assert_eq(json_object_object_length(p.root), 1);
    free(buf);
    return p;
}

Test(error_json, shape_and_fields)
{
    sy_error_t e;
    sy_error_set(&e, SY_EBADFIELD, "temperature", "temperature must be a number");
    parsed_t p = render(&e, 1400);
    cr_assert_str_eq(p.message, "temperature must be a number");
    cr_assert_str_eq(p.type, "invalid_request_error");
    cr_assert_not_null(p.param);
    cr_assert_str_eq(p.param, "temperature");
    cr_assert_str_eq(p.code, "invalid_type");
    json_object_put(p.root);
}

Test(error_json, exact_bytes)
{
    sy_error_t e;
    char buf[512];
    sy_error_set(&e, SY_ENOMODEL, "model", "The model `x` does not exist");
    size_t n = sy_error_openai_json(&e, buf, sizeof(buf));
    const char *want = "{\"error\":{\"message\":\"The model `x` does not exist\",\"type\":\"invalid_request_error\","
                       "\"param\":\"model\",\"code\":\"model_not_found\"}}";
    cr_assert_str_eq(buf, want);
    cr_assert_eq(n, strlen(want));
}

Test(error_json, param_null_when_empty)
{
    sy_error_t e;
    sy_error_set(&e, SY_EUPCONNECT, NULL, NULL);
    parsed_t p = render(&e, 1400);
    cr_assert_null(p.param);
    cr_assert_str_eq(p.message, "could not connect to the upstream");
    cr_assert_str_eq(p.type, "upstream_error");
    cr_assert_str_eq(p.code, "upstream_connect_failed");
    json_object_put(p.root);

    sy_error_set(&e, SY_EBADJSON, "", "bad");
    p = render(&e, 1400);
    cr_assert_null(p.param);
    json_object_put(p.root);
}

/* Every error of the table renders its own type and code. */
Test(error_json, every_code)
{
#define CHECK(name, st, ty, oc, msg)                                     \
    do {                                                                 \
        sy_error_t e;                                                    \
        sy_error_set(&e, SY_##name, NULL, NULL);                         \
        parsed_t p = render(&e, 1400);                                   \
        cr_assert_str_eq(p.type, ty, "%s", #name);                       \
        cr_assert_str_eq(p.code, oc, "%s", #name);                       \
        cr_assert_str_eq(p.message, msg, "%s", #name);                   \
        json_object_put(p.root);                                         \
    } while (0);
    SY_ERR_MAP(CHECK)
#undef CHECK
}

Test(error_json, message_and_param_escaping)
{
    const char *msg = "bad \"value\" at C:\\path\n\tline 2 \x01\x1f </script> caf\xc3\xa9";
    const char *param = "we\"ird\\param\n";
    sy_error_t e;
    sy_error_set(&e, SY_EBADREQ, param, "%s", msg);
    parsed_t p = render(&e, 1400);
    cr_assert_str_eq(p.message, msg);
    cr_assert_not_null(p.param);
    cr_assert_str_eq(p.param, param);
    json_object_put(p.root);
}

/* The longest message sy_error_t holds, made of the characters that grow
 * most when escaped, with the longest param, still renders valid JSON in
 * the buffer the responders use; the message kept is a prefix. */
Test(error_json, overlong_message_still_valid_json)
{
    static const char fills[] = {'x', '"', '\\', '\n', '\x01'};
    for (size_t f = 0; f < sizeof(fills); f++) {
        sy_error_t e;
        char msg[2000], param[200];
        memset(msg, fills[f], sizeof(msg) - 1);
        msg[sizeof(msg) - 1] = '\0';
        memset(param, fills[f], sizeof(param) - 1);
        param[sizeof(param) - 1] = '\0';
        sy_error_set(&e, SY_EUPSTATUS, param, "%s", msg);
        parsed_t p = render(&e, 1400);
        size_t ml = strlen(p.message);
        cr_assert_gt(ml, 0, "fill 0x%02x: message dropped", (unsigned char)fills[f]);
        cr_assert(memcmp(p.message, e.message, ml) == 0, "fill 0x%02x: message is not a prefix",
                  (unsigned char)fills[f]);
        cr_assert_str_eq(p.type, "upstream_error");
        cr_assert_str_eq(p.code, "upstream_error");
        json_object_put(p.root);
    }
}

/* At every capacity the buffer holds either valid JSON of the right shape
 * or nothing, is NUL-terminated, and the return value is its length. */
Test(error_json, every_capacity_valid_json_or_empty)
{
    sy_error_t e;
    sy_error_set(&e, SY_ENOMODEL, "model", "The model `%s` does not exist", "gpt-\"5\"\n");
    char full[1400];
    size_t fl = sy_error_openai_json(&e, full, sizeof(full));
    cr_assert_gt(fl, 0);
    size_t mismatch = 0, first_cap = 0;
    char first_buf[200] = "";
    for (size_t cap = 1; cap <= fl + 1; cap++) {
        char buf[1400];
        memset(buf, '#', sizeof(buf));
        size_t n = sy_error_openai_json(&e, buf, cap);
        cr_assert_lt(n, cap, "cap %zu: returned %zu", cap, n);
        cr_assert_not_null(memchr(buf, '\0', cap), "cap %zu: not NUL-terminated", cap);
        for (size_t k = cap; k < sizeof(buf); k++)
            cr_assert_eq(buf[k], '#', "cap %zu: byte %zu written", cap, k);
        if (n) {
            json_object *o = parse_strict(buf, n);
            cr_assert_not_null(o, "cap %zu: not JSON: %s", cap, buf);
            json_object_put(o);
        }
        if (strlen(buf) != n && !mismatch++) {
            first_cap = cap;
            snprintf(first_buf, sizeof(first_buf), "%.150s", buf);
        }
    }
    cr_expect_eq(mismatch, 0,
                 "%zu capacities returned a length other than what the buffer holds "
                 "(first: cap %zu left \"%s\")",
                 mismatch, first_cap, first_buf);
}

/* The header: "truncated JSON never: the message is shortened to fit". A
 * buffer a little too small for the full error must give the same error
 * with its message shortened - same type, code and param - not a different
 * message. */
/* When the whole does not fit, the table's default message stands in (with
 * a null param): still valid JSON, still the right code. */
Test(error_json, short_buffer_falls_back_to_default_message)
{
    sy_error_t e;
    sy_error_set(&e, SY_EBADFIELD, "max_tokens", "max_tokens must be an integer, got a string of 40 bytes");
    char full[1400];
    size_t fl = sy_error_openai_json(&e, full, sizeof(full));
    char buf[1400];
    size_t n = sy_error_openai_json(&e, buf, fl); /* one byte short */
    cr_assert_gt(n, 0, "nothing rendered");
    json_object *o = parse_strict(buf, n);
    cr_assert_not_null(o, "not JSON: %s", buf);
    json_object_put(o);
    parsed_t p = render(&e, fl);
    cr_expect_str_eq(p.code, "invalid_type");
    cr_expect_null(p.param);
    cr_expect_str_eq(p.message, sy_strerror(SY_EBADFIELD));
    json_object_put(p.root);
}

/* A message cut by sy_error_set's 512-byte bound (an upstream's message
 * carried through) must not end the JSON string in the middle of a UTF-8
 * character: strict JSON readers reject invalid UTF-8. */
Test(error_json, long_utf8_message_stays_valid_utf8)
{
    char msg[1200];
    size_t n = 0;
    while (n + 2 < sizeof(msg)) {
        msg[n++] = '\xc3'; /* é */
        msg[n++] = '\xa9';
    }
    msg[n] = '\0';
    sy_error_t e;
    /* 255 two-byte characters fill 510 bytes: the 511th is half of one */
    sy_error_set(&e, SY_EUPSTATUS, NULL, "%s", msg);
    char buf[1400];
    size_t len = sy_error_openai_json(&e, buf, sizeof(buf));
    json_object *o = parse_strict(buf, len);
    cr_expect_not_null(o, "not valid JSON/UTF-8 (message of %zu bytes ends with 0x%02x)", strlen(e.message),
                       (unsigned char)e.message[strlen(e.message) - 1]);
    json_object_put(o);
}
