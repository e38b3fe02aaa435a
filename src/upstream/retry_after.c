/*
 * retry_after.c - reading Retry-After (see retry_after.h).
 */
#include "upstream/retry_after.h"

#include <string.h>

/* The three date forms, newest first. strptime's names are the C locale's
 * (the process never calls setlocale), which are HTTP's. */
static const char *const date_forms[] = {
    "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    "%a %b %d %H:%M:%S %Y",      /* asctime: Sun Nov  6 08:49:37 1994 */
};

int sy_retry_after_parse(const char *v, size_t len, time_t now)
{
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (!len)
        return -1;
    if (v[0] >= '0' && v[0] <= '9') {
        long long s = 0;
        for (size_t i = 0; i < len; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -1;
            s = s * 10 + (v[i] - '0');
            if (s >= SY_RETRY_AFTER_MAX)
                return -1;
        }
        return (int)s;
    }
    char buf[64];
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    for (size_t f = 0; f < sizeof(date_forms) / sizeof(date_forms[0]); f++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(buf, date_forms[f], &tm);
        if (end != buf + len) /* short (a NUL inside stops it) or not all of it */
            continue;
        time_t at = timegm(&tm);
        if (at == (time_t)-1)
            return -1;
        if (at <= now)
            return 0;
        return at - now >= SY_RETRY_AFTER_MAX ? -1 : (int)(at - now);
    }
    return -1;
}
