/*
 * jsonscan.h - validate JSON text and walk it in place, without building
 * objects.
 *
 * The passthrough path must check a client's body (valid JSON, the known
 * fields of the right types), rewrite one field, and read usage numbers out
 * of the upstream's answer - and forward every other byte untouched. Doing
 * that on the text itself costs no allocation at all. Validation is strict
 * RFC 8259 (no comments, NaN or trailing commas), nesting is bounded, and
 * every walk after a successful validation cannot fail on bad syntax.
 */
#ifndef SY_CORE_JSONSCAN_H
#define SY_CORE_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#define SY_JSON_MAX_DEPTH 256

typedef enum sy_jtype {
    SY_JNULL = 0,
    SY_JBOOL,
    SY_JINT,    /* a number without fraction or exponent */
    SY_JDOUBLE, /* a number with one */
    SY_JSTRING,
    SY_JARRAY,
    SY_JOBJECT,
} sy_jtype_t;

/* "null", "boolean", "integer", "number", "string", "array", "object". */
const char *sy_jtype_name(sy_jtype_t t);

/* A value inside the text: its bytes (strings include their quotes). */
typedef struct sy_jval {
    const char *p;
    size_t len;
    sy_jtype_t type;
} sy_jval_t;

/*
 * Check that s[0..n) is exactly one JSON value, with optional whitespace
 * around it. Returns 0, or -1 with *err_off set to the byte offset of the
 * problem and *err_msg to a static description.
 */
int sy_json_validate(const char *s, size_t n, size_t *err_off, const char **err_msg);

/* The value at the start of s[0..n) (after whitespace); s must be valid. */
sy_jval_t sy_json_value(const char *s, size_t n);

/*
 * Walk an object's members: start with *pos = 0 on the object's text (as
 * given by sy_jval_t or a whole validated document). Each call sets *key
 * (the key's bytes without quotes, possibly with escapes) and *val, and
 * returns 1; returns 0 after the last member. The text must be valid.
 */
int sy_json_next_member(const sy_jval_t *obj, size_t *pos, sy_jval_t *key, sy_jval_t *val);
/* The same for an array's elements. */
int sy_json_next_element(const sy_jval_t *arr, size_t *pos, sy_jval_t *val);

/* Whether a member key (as returned above) spells name, escapes decoded. */
int sy_json_key_is(const sy_jval_t *key, const char *name);
/* Find member name in an object; returns 1 and sets *val, or 0. The last
 * occurrence wins. */
int sy_json_get(const sy_jval_t *obj, const char *name, sy_jval_t *val);

/* The members names[0..n) of object obj into vals, in one pass over obj
 * (the last occurrence wins, as in sy_json_get); a member that is absent
 * gets p == NULL, and so does one whose value is null when flags has
 * SY_JSON_NULL_ABSENT. */
#define SY_JSON_NULL_ABSENT 0x1
void sy_json_members(const sy_jval_t *obj, const char *const *names, sy_jval_t *vals, size_t n, unsigned flags);

/* Decode a string value (with quotes) into dst (NUL-terminated, UTF-8).
 * Returns the decoded length, or -1 if it does not fit in cap-1 bytes. */
long sy_json_string(const sy_jval_t *str, char *dst, size_t cap);
/* An SY_JINT value as int64; returns 0, or -1 when out of range. */
int sy_json_int(const sy_jval_t *v, int64_t *out);
/* A number value (SY_JINT or SY_JDOUBLE) as a double (nearest; huge
 * exponents give +-inf, which the caller bounds). Returns 0, or -1 for a
 * value that is not a number or whose text is over 127 bytes. */
int sy_json_double(const sy_jval_t *v, double *out);
/* true for the literal true. */
int sy_json_true(const sy_jval_t *v);

/* The value span of top-level member key (escapes in keys decoded; the last
 * occurrence wins) in an object text; validates the text first. Returns 0
 * and sets [*vstart, *vend), or -1. */
int sy_jsonscan_top(const char *s, size_t n, const char *key, size_t *vstart, size_t *vend);

#endif
