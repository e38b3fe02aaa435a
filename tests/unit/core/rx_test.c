/*
 * rx_test.c - unit tests for src/core/rx.c: matching within the length
 * given (no terminator needed), ICASE, a bad pattern's message, and
 * threads matching one regex at once - every answer right, copies compiled
 * only as threads meet, never past SY_RX_COPIES.
 */
#include "core/rx.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

Test(rx, matches_within_the_length_given)
{
    char err[128];
    sy_rx_t *rx = sy_rx_new("(def|class) [a-z_]+\\(", 0, err, sizeof(err));
    cr_assert_not_null(rx, "%s", err);
    cr_assert(sy_rx_match(rx, "please fix def parse_line(s)", 28));
    cr_assert_not(sy_rx_match(rx, "define the thing", 16));
    cr_assert_not(sy_rx_match(rx, "def parse_line(s)", 14), "the match would need byte 14");
    cr_assert(sy_rx_match(rx, "def parse_line(s)", 15));
    cr_assert_not(sy_rx_match(rx, NULL, 0));
    cr_assert_eq(sy_rx_copies(rx), 1, "one thread, one copy");
    sy_rx_free(rx);

    sy_rx_t *anchored = sy_rx_new("^ab$", 0, err, sizeof(err));
    cr_assert(sy_rx_match(anchored, "abc", 2), "^ and $ at the ends of the span");
    sy_rx_free(anchored);
}

Test(rx, icase)
{
    char err[128];
    sy_rx_t *rx = sy_rx_new("select .* from", 1, err, sizeof(err));
    cr_assert(sy_rx_match(rx, "SELECT a FROM t", 15));
    sy_rx_free(rx);
    rx = sy_rx_new("select .* from", 0, err, sizeof(err));
    cr_assert_not(sy_rx_match(rx, "SELECT a FROM t", 15));
    sy_rx_free(rx);
}

Test(rx, bad_pattern)
{
    char err[128] = "";
    cr_assert_null(sy_rx_new("a(b", 0, err, sizeof(err)));
    cr_assert_neq(err[0], '\0', "regerror's text");
    sy_rx_free(NULL);
}

#define THREADS 8

static sy_rx_t *shared;
static char *haystack; /* 64 KiB, the match at its end */
static size_t hay_len;
static atomic_int wrong, stop;

static void *hammer(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        if (!sy_rx_match(shared, haystack, hay_len))
            atomic_fetch_add(&wrong, 1);
        if (sy_rx_match(shared, haystack, hay_len - 8))
            atomic_fetch_add(&wrong, 1);
    }
    return NULL;
}

/* Threads that overlap get copies of their own; results never mix up. */
Test(rx, threads_at_once, .timeout = 30)
{
    char err[128];
    shared = sy_rx_new("x[0-9]+y$", 0, err, sizeof(err));
    cr_assert_not_null(shared);
    hay_len = 64 * 1024;
    /* terminated although the match is bounded by the length: ASan's
     * regexec interceptor reads up to a NUL whatever REG_STARTEND says */
    haystack = malloc(hay_len + 1);
    for (size_t i = 0; i < hay_len; i++)
        haystack[i] = "abcdefgh "[i % 9];
    memcpy(haystack + hay_len - 8, "x123456y", 8);
    haystack[hay_len] = '\0';
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
    /* eight threads on this machine's few cores overlap within moments */
    struct timespec ts = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 500 && sy_rx_copies(shared) < 2; i++)
        nanosleep(&ts, NULL);
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&wrong), 0);
    int copies = sy_rx_copies(shared);
    cr_assert(copies >= 2 && copies <= THREADS && copies <= SY_RX_COPIES, "%d copies", copies);
    sy_rx_free(shared);
    free(haystack);
}
