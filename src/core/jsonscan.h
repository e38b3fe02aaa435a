/*
 * jsonscan.h - find a top-level member's value in JSON text without parsing
 * it into objects, so a passthrough can rewrite one field and forward every
 * other byte exactly as the client sent it.
 */
#ifndef SY_CORE_JSONSCAN_H
#define SY_CORE_JSONSCAN_H

#include <stddef.h>

/*
 * In the JSON object text s[0..n), find the value of the top-level member
 * whose key is spelt exactly `key` (no escapes). On success sets
 * [*vstart, *vend) to the value's bytes and returns 0; returns -1 when the
 * text is not an object, the key is absent, or the text is malformed. The
 * last occurrence wins, as in json-c.
 */
int sy_jsonscan_top(const char *s, size_t n, const char *key, size_t *vstart, size_t *vend);

#endif
