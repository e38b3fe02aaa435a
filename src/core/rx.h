/*
 * rx.h - a POSIX extended regular expression that many threads can run at
 * once.
 *
 * glibc's regexec takes a lock inside the compiled regex_t for the whole
 * match, so workers matching one routing rule's prompt regex would take
 * turns. An sy_rx_t keeps up to SY_RX_COPIES compiled copies of the same
 * pattern: a match takes a copy no other thread is using, and compiles one
 * more (once, under a mutex) only when every copy is taken - so copies
 * exist as far as threads really met, and a single-threaded user keeps
 * one. Past the limit a thread shares a copy (regexec stays correct, only
 * serialised on it).
 */
#ifndef SY_CORE_RX_H
#define SY_CORE_RX_H

#include <stddef.h>

#define SY_RX_COPIES 16

typedef struct sy_rx sy_rx_t;

/* Compile pattern (REG_EXTENDED | REG_NOSUB, plus REG_ICASE when icase).
 * NULL on failure, with regerror's text in err[errlen] ("out of memory"
 * when that was it). */
sy_rx_t *sy_rx_new(const char *pattern, int icase, char *err, size_t errlen);
void sy_rx_free(sy_rx_t *rx);

/* Whether the regex matches somewhere in s[0..n) (no NUL needed: the
 * match is bounded by n, REG_STARTEND - though ASan's regexec interceptor,
 * which ignores that flag, checks the bytes up to a NUL). Any thread. */
int sy_rx_match(sy_rx_t *rx, const char *s, size_t n);

/* Copies compiled so far (1..SY_RX_COPIES). */
int sy_rx_copies(sy_rx_t *rx);

#endif
