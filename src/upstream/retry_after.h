/*
 * retry_after.h - an upstream's Retry-After header (RFC 9110, 10.2.3) as
 * the seconds to wait: delta-seconds, or an HTTP-date - the IMF-fixdate
 * senders must use and the two obsolete forms recipients should still
 * read (RFC 850, asctime).
 *
 * Both transports (h1.c and libcurl's header callback) read it through
 * here. Pure: the wall clock is the caller's.
 */
#ifndef SY_UPSTREAM_RETRY_AFTER_H
#define SY_UPSTREAM_RETRY_AFTER_H

#include <stddef.h>
#include <time.h>

/* A wait this long or longer is not believed: the header is ignored. */
#define SY_RETRY_AFTER_MAX (7 * 86400)

/*
 * The header value v[0..len) (spaces and tabs around it allowed) as seconds
 * from now (now: seconds since the epoch): delta-seconds as given, a date
 * minus now (0 for a date already past). -1 when it is neither form, has
 * anything after it, or is SY_RETRY_AFTER_MAX or more away.
 */
int sy_retry_after_parse(const char *v, size_t len, time_t now);

#endif
