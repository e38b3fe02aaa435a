/*
 * jsonw.h - writing JSON text into an evbuffer, piece by piece.
 *
 * The translating adapters write their requests and replies with literal
 * fragments and these few helpers - no object tree is built, the same way
 * the passthrough path reads JSON in place (jsonscan.h). The caller places
 * the commas and braces; these get the escaping and the numbers right.
 */
#ifndef SY_CORE_JSONW_H
#define SY_CORE_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* A string literal, without its NUL ("" lit: anything but a literal, a
 * pointer whose sizeof would be taken, does not compile). */
#define SY_JW_LIT(b, lit) sy_jw_raw((b), "" lit, sizeof(lit) - 1)

/* Append n bytes as they are. */
void sy_jw_raw(struct evbuffer *b, const char *s, size_t n);
/* Append s[0..n) as a quoted JSON string ("" for s NULL). Control bytes,
 * quotes and backslashes are escaped; bytes >= 0x80 are copied (the input
 * is UTF-8 that came out of validated JSON). */
void sy_jw_str(struct evbuffer *b, const char *s, size_t n);
/* The same for a NUL-terminated string (NULL writes null). */
void sy_jw_cstr(struct evbuffer *b, const char *s);
/* Only the escaped contents, without quotes (to build one string from
 * several pieces). */
void sy_jw_escaped(struct evbuffer *b, const char *s, size_t n);
/* An integer in decimal. */
void sy_jw_int(struct evbuffer *b, int64_t v);
/* A double in the shortest form that reads back the same ("%.17g" at most);
 * NaN and infinities, which JSON lacks, are written as null. */
void sy_jw_double(struct evbuffer *b, double v);
/* "key": - a key with its colon, preceded by a comma when *first is 0;
 * sets *first to 0. */
void sy_jw_key(struct evbuffer *b, int *first, const char *key);

#endif
