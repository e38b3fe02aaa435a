/*
 * log.c - JSON log lines (see log.h).
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int min_level = SY_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sy_log_set_level(int level)
{
    min_level = level;
}

int sy_log_enabled(int level)
{
    return level >= min_level;
}

size_t sy_json_escape(char *dst, size_t cap, const char *s, size_t slen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < slen; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t n = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, n = 2;
        } else if (c == '\n') {
            esc[0] = '\\', esc[1] = 'n', n = 2;
        } else if (c == '\r') {
            esc[0] = '\\', esc[1] = 'r', n = 2;
        } else if (c == '\t') {
            esc[0] = '\\', esc[1] = 't', n = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15], n = 6;
        } else {
            esc[0] = (char)c, n = 1;
        }
        if (o + n >= cap)
            break;
        memcpy(dst + o, esc, n);
        o += n;
    }
    dst[o] = '\0';
    return o;
}

static void put(sy_logline_t *l, const char *s, size_t n)
{
    /* keep 2 bytes for "}\n" */
    if (l->len + n + 2 > sizeof(l->buf)) {
        l->truncated = 1;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_key(sy_logline_t *l, const char *key)
{
    char tmp[128];
    int n = snprintf(tmp, sizeof(tmp), ",\"%s\":", key);
    if (n > 0 && (size_t)n < sizeof(tmp))
        put(l, tmp, (size_t)n);
}

void sy_logline_begin(sy_logline_t *l, int level, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    char tmp[96];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    l->len = 0;
    l->truncated = 0;
    int n = snprintf(tmp, sizeof(tmp), "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level < 0 ? 0 : level > 3 ? 3 : level]);
    if (n > 0 && (size_t)n < sizeof(tmp))
        put(l, tmp, (size_t)n);
    sy_logline_str(l, "msg", msg);
}

void sy_logline_str(sy_logline_t *l, const char *key, const char *value)
{
    char esc[1024];
    put_key(l, key);
    if (!value) {
        put(l, "null", 4);
        return;
    }
    size_t n = sy_json_escape(esc, sizeof(esc), value, strlen(value));
    put(l, "\"", 1);
    put(l, esc, n);
    put(l, "\"", 1);
}

void sy_logline_int(sy_logline_t *l, const char *key, int64_t v)
{
    char tmp[32];
    put_key(l, key);
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    put(l, tmp, (size_t)n);
}

void sy_logline_ms(sy_logline_t *l, const char *key, double ms)
{
    char tmp[48];
    put_key(l, key);
    int n = snprintf(tmp, sizeof(tmp), "%.3f", ms);
    if (n > 0 && (size_t)n < sizeof(tmp))
        put(l, tmp, (size_t)n);
}

void sy_logline_end(sy_logline_t *l)
{
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    /* one write: lines from several threads never interleave */
    ssize_t w = write(STDERR_FILENO, l->buf, l->len);
    (void)w;
}

void sy_log(int level, const char *msg, const char *fmt, ...)
{
    sy_logline_t l;
    if (!sy_log_enabled(level))
        return;
    sy_logline_begin(&l, level, msg);
    if (fmt) {
        char detail[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        sy_logline_str(&l, "detail", detail);
    }
    sy_logline_end(&l);
}
