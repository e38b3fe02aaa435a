/*
 * entry_fuzz.c - libFuzzer driver for src/cache/entry.c, the reader of
 * cached answers: its bytes come back from outside the process (Redis, a
 * SQLite file), so it gets any bytes here. On every input:
 *   - sy_cache_entry_read returns 0, 1 or -1, within its bound;
 *   - an entry read with 0, written again and read again gives the same
 *     bytes on the second write as on the first (the format is a fixed
 *     point after one pass: nothing is lost or invented on the way);
 *   - no crash, no read outside the input, no leak, no undefined behaviour.
 */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/entry.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "entry_fuzz: invariant failed: %s (%s:%d)\n  ", #cond, __FILE__,      \
                    __LINE__);                                                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char *write_out(const sy_cresp_t *c, size_t *n)
{
    struct evbuffer *b = evbuffer_new();
    CHECK(b && sy_cache_entry_write(c, b) == 0, "write failed");
    *n = evbuffer_get_length(b);
    char *s = malloc(*n ? *n : 1);
    CHECK(s != NULL, "out of memory");
    evbuffer_remove(b, s, *n);
    evbuffer_free(b);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sy_cresp_t a;
    sy_cresp_init(&a, 1u << 20);
    int rc = sy_cache_entry_read((const char *)data, size, &a);
    CHECK(rc == 0 || rc == 1 || rc == -1, "read returned %d", rc);
    if (rc == 0) {
        size_t n1, n2;
        char *s1 = write_out(&a, &n1);
        sy_cresp_t b;
        sy_cresp_init(&b, 1u << 20);
        CHECK(sy_cache_entry_read(s1, n1, &b) == 0, "an entry we wrote does not read back: %.*s", (int)n1, s1);
        char *s2 = write_out(&b, &n2);
        CHECK(n1 == n2 && memcmp(s1, s2, n1) == 0, "write-read-write changed the entry:\n%.*s\n%.*s", (int)n1, s1,
              (int)n2, s2);
        free(s1);
        free(s2);
        sy_cresp_release(&b);
    }
    sy_cresp_release(&a);
    return 0;
}
