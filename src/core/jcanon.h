/*
 * jcanon.h - one canonical spelling for a JSON value, written to a sink.
 *
 * Two JSON texts that mean the same thing - members in another order, other
 * whitespace, "0.7" or "0.70" or "7e-1", "\u0041" or "A" - must hash to the
 * same cache key (src/cache/key.c), and two that mean different things must
 * never. The canonical form is:
 *
 *   - no whitespace;
 *   - object members sorted by their key's bytes after unescaping (UTF-8,
 *     shorter first on a common prefix); members with equal keys keep their
 *     order and are all kept (a duplicate key is not resolved here: readers
 *     disagree on which one wins, so dropping one could merge two requests
 *     an upstream tells apart);
 *   - strings unescaped then escaped one way: \" \\ \b \f \n \r \t, other
 *     bytes below 0x20 as \u00xx (lowercase hex), every other byte as is; a
 *     lone surrogate escape (\ud800 alone) stays an escape, lowercase, so
 *     it is not merged with U+FFFD;
 *   - numbers exact, by decimal value: digits without leading or trailing
 *     zeros and a power of ten, "<digits>e<exp>" ("e0" left out), "0" for
 *     every zero: 0.7, 0.70, 7e-1 and 70E-2 all give "7e-1"; 100, 100.0 and
 *     1e2 give "1e2"; 1.5 gives "15e-1". No conversion to double, so two
 *     different numbers never meet. An exponent too large for int64 (more
 *     than 18 digits) is written as it came;
 *   - true, false, null as they are.
 *
 * The output is valid JSON when the input's strings are valid UTF-8, and
 * the mapping from values to outputs is one-to-one in any case.
 *
 * Memory: nothing is copied. Sorting an object takes one index entry
 * (56 bytes) per member, malloc'd and freed before the call returns; an
 * object with more than SY_JCANON_MAX_MEMBERS members fails with
 * SY_ETOOLARGE. Recursion is bounded by the validator's SY_JSON_MAX_DEPTH.
 * Everything here is pure and may be called from any thread.
 */
#ifndef SY_CORE_JCANON_H
#define SY_CORE_JCANON_H

#include <stddef.h>

#include "core/err.h"
#include "core/jsonscan.h"

#define SY_JCANON_MAX_MEMBERS 1000000

/* Receives the output piece by piece; return 0 to go on, non-zero to stop
 * (the writer then returns SY_EINTERNAL). */
typedef int (*sy_jcanon_sink)(void *ud, const char *p, size_t n);

/*
 * Write the canonical form of v, which must come from validated JSON text
 * (sy_json_value, sy_json_next_member...), to sink. Returns SY_OK,
 * SY_ETOOLARGE (an object past SY_JCANON_MAX_MEMBERS), SY_ENOMEM, or
 * SY_EINTERNAL when the sink stopped. v->p == NULL writes null.
 */
sy_err_t sy_jcanon_write(const sy_jval_t *v, sy_jcanon_sink sink, void *ud);

/* The same for an object, leaving out the members for which skip(sud, key)
 * returns non-zero (key: the member's key bytes without quotes, escapes as
 * they came - sy_json_key_is reads them). skip NULL leaves out nothing. A
 * value that is not an object is written whole. */
typedef int (*sy_jcanon_skip)(void *sud, const sy_jval_t *key);
sy_err_t sy_jcanon_write_except(const sy_jval_t *v, sy_jcanon_skip skip, void *sud, sy_jcanon_sink sink, void *ud);

/* The canonical form of the number text s[0..n) (a valid JSON number) into
 * sink. Returns as sy_jcanon_write. */
sy_err_t sy_jcanon_number(const char *s, size_t n, sy_jcanon_sink sink, void *ud);

/* Decoded bytes s[0..n) as a canonical JSON string, quotes included (s may
 * be NULL when n is 0). Returns as sy_jcanon_write. */
sy_err_t sy_jcanon_str(const char *s, size_t n, sy_jcanon_sink sink, void *ud);

/*
 * The canonical form of v into buf (NUL-terminated), for tests and logs.
 * Returns the length, or -1 when it does not fit in cap-1 bytes or fails.
 */
long sy_jcanon_to_buf(const sy_jval_t *v, char *buf, size_t cap);

#endif
