/*
 * retry_after_fuzz.c - libFuzzer driver for src/upstream/retry_after.c,
 * which reads an upstream's Retry-After header (bytes nobody here
 * controls).
 *
 * Input layout: the first 8 bytes (little-endian, missing ones 0) are the
 * wall clock, taken modulo 2^34 seconds (about year 2514); the rest is the
 * header value, passed by length (no terminator). These must hold:
 *   - the answer is -1 or in [0, SY_RETRY_AFTER_MAX);
 *   - a value that is only ASCII digits between spaces and tabs reads as
 *     its number when that is below the maximum, else -1 - whatever the
 *     clock says;
 *   - a date is relative: the same value read one second later is one
 *     less, or stays 0 or -1, or (a date exactly a week away) goes from -1
 *     to the largest wait;
 *   - a value holding a NUL is refused (the header ends at its length, not
 *     at a terminator);
 *   - the value is never read past its length (ASan, on a copy allocated
 *     to exactly that length), and nothing crashes or leaks.
 * Any violation calls abort(), which libFuzzer reports as a crash.
 */
#include "upstream/retry_after.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "retry_after_fuzz: " __VA_ARGS__);                                     \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The number a digits-only value (spaces and tabs around) spells, capped at
 * the maximum; -2 when it is not digits only. */
static long long digits(const char *v, size_t n)
{
    size_t i = 0, e = n;
    while (i < e && (v[i] == ' ' || v[i] == '\t'))
        i++;
    while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    if (i == e)
        return -2;
    long long x = 0;
    for (size_t k = i; k < e; k++) {
        if (v[k] < '0' || v[k] > '9')
            return -2;
        if (x < SY_RETRY_AFTER_MAX)
            x = x * 10 + (v[k] - '0');
    }
    return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t clock = 0;
    size_t head = size < 8 ? size : 8;
    for (size_t i = 0; i < head; i++)
        clock |= (uint64_t)data[i] << (8 * i);
    time_t now = (time_t)(clock % (1ull << 34));
    size_t n = size - head;
    char *v = malloc(n ? n : 1);
    if (!v)
        return 0;
    memcpy(v, data + head, n);

    int a = sy_retry_after_parse(v, n, now);
    CHECK(a == -1 || (a >= 0 && a < SY_RETRY_AFTER_MAX), "answer %d out of range", a);
    long long d = digits(v, n);
    if (d >= 0)
        CHECK(a == (d < SY_RETRY_AFTER_MAX ? d : -1), "digits %lld read as %d", d, a);
    if (memchr(v, '\0', n))
        CHECK(a == -1, "a value with a NUL inside read as %d", a);
    int b = sy_retry_after_parse(v, n, now + 1);
    if (d >= 0)
        CHECK(b == a, "delta-seconds depend on the clock: %d then %d", a, b);
    else
        CHECK(b == a || b == a - 1 || (a == -1 && b == SY_RETRY_AFTER_MAX - 1),
              "a second later %d became %d", a, b);
    free(v);
    return 0;
}
