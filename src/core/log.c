/*
 * log.c - JSON log lines (see log.h).
 */
#include "core/log.h"

#include <math.h>
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

size_t sy_utf8_trim(const char *s, size_t len)
{
    size_t k = 0; /* continuation bytes at the end */
    while (k < len && k < 3 && ((unsigned char)s[len - 1 - k] & 0xC0) == 0x80)
        k++;
    if (k == len)
        return len;
    unsigned char lead = (unsigned char)s[len - 1 - k];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return (lead >= 0xC0 && k + 1 < want) ? len - 1 - k : len;
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
        if (o + n >= cap) {
            o = sy_utf8_trim(dst, o); /* never end on half of a character */
            break;
        }
        memcpy(dst + o, esc, n);
        o += n;
    }
    dst[o] = '\0';
    return o;
}

/* Append one whole field (or nothing): a line past its bound loses fields,
 * never half of one, so it stays valid JSON. */
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

/* ,"key": into f; returns its length (0 if the key does not fit). */
static size_t field_key(char *f, size_t cap, const char *key)
{
    size_t o = 0;
    f[o++] = ',';
    f[o++] = '"';
    o += sy_json_escape(f + o, cap - o - 3, key, strlen(key));
    if (o + 3 > cap)
        return 0;
    f[o++] = '"';
    f[o++] = ':';
    return o;
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
    char f[1400];
    size_t o = field_key(f, sizeof(f) - 8, key);
    if (!o)
        return;
    if (!value) {
        memcpy(f + o, "null", 4);
        o += 4;
    } else {
        f[o++] = '"';
        o += sy_json_escape(f + o, sizeof(f) - o - 1, value, strlen(value));
        f[o++] = '"';
    }
    put(l, f, o);
}

void sy_logline_int(sy_logline_t *l, const char *key, int64_t v)
{
    char f[320];
    size_t o = field_key(f, sizeof(f) - 24, key);
    if (!o)
        return;
    o += (size_t)snprintf(f + o, sizeof(f) - o, "%lld", (long long)v);
    put(l, f, o);
}

void sy_logline_ms(sy_logline_t *l, const char *key, double ms)
{
    char f[360];
    size_t o = field_key(f, sizeof(f) - 64, key);
    if (!o)
        return;
    if (isfinite(ms) && ms < 1e15 && ms > -1e15)
        o += (size_t)snprintf(f + o, sizeof(f) - o, "%.3f", ms);
    else
        memcpy(f + o, "null", 4), o += 4; /* JSON has no NaN or infinity */
    put(l, f, o);
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
