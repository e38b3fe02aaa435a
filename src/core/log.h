/*
 * log.h - JSON log lines on stderr.
 *
 * Every line is one JSON object written with a single write(2), so lines from
 * several worker threads never interleave. A line is built on the stack with
 * sy_logline_t (bounded: fields past 4 KiB are dropped, never overflowed) and
 * never contains prompt or completion text: callers add identifiers and
 * numbers only.
 */
#ifndef SY_CORE_LOG_H
#define SY_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

enum { SY_LOG_DEBUG = 0, SY_LOG_INFO, SY_LOG_WARN, SY_LOG_ERROR };

/* Set the minimum level written (default SY_LOG_INFO). Call before threads start. */
void sy_log_set_level(int level);
int sy_log_enabled(int level);

typedef struct sy_logline {
    char buf[4096];
    size_t len;
    int truncated;
} sy_logline_t;

/* Start a line with ts, level and msg. */
void sy_logline_begin(sy_logline_t *l, int level, const char *msg);
/* Add "key":"value" (escaped; NULL value writes null). */
void sy_logline_str(sy_logline_t *l, const char *key, const char *value);
/* Add "key":n. */
void sy_logline_int(sy_logline_t *l, const char *key, int64_t n);
/* Add "key":x with 3 decimals. */
void sy_logline_ms(sy_logline_t *l, const char *key, double ms);
/* Close the object and write the line to stderr. */
void sy_logline_end(sy_logline_t *l);

/* Shorthand for a line with only a message and optional printf detail in "detail". */
void sy_log(int level, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The length of s[0..len) without an incomplete UTF-8 sequence at its end
 * (what a byte-bounded cut may leave). */
size_t sy_utf8_trim(const char *s, size_t len);

/* Escape s as the inside of a JSON string into dst (cap bytes, always
 * NUL-terminated when cap > 0; cut on a character boundary when it does not
 * fit). Returns the length written. */
size_t sy_json_escape(char *dst, size_t cap, const char *s, size_t slen);

#endif
