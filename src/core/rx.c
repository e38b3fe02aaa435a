/*
 * rx.c - a regex with a copy per concurrent thread (see rx.h).
 */
#include "core/rx.h"

#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct copy {
    atomic_int busy; /* a thread is matching with it */
    regex_t re;
} copy_t;

struct sy_rx {
    char *pattern;
    int cflags;
    atomic_int n;      /* copies compiled: copy[0..n) may be used */
    atomic_uint turn;  /* past the limit: which copy to share next */
    pthread_mutex_t mu; /* compiling the next copy */
    copy_t copy[SY_RX_COPIES];
};

sy_rx_t *sy_rx_new(const char *pattern, int icase, char *err, size_t errlen)
{
    sy_rx_t *rx = calloc(1, sizeof(*rx));
    if (!rx || !(rx->pattern = strdup(pattern)) || pthread_mutex_init(&rx->mu, NULL) != 0) {
        if (rx)
            free(rx->pattern);
        free(rx);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rx->cflags = REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0);
    int rc = regcomp(&rx->copy[0].re, pattern, rx->cflags);
    if (rc != 0) {
        regerror(rc, &rx->copy[0].re, err, errlen);
        regfree(&rx->copy[0].re);
        pthread_mutex_destroy(&rx->mu);
        free(rx->pattern);
        free(rx);
        return NULL;
    }
    atomic_init(&rx->n, 1);
    return rx;
}

void sy_rx_free(sy_rx_t *rx)
{
    if (!rx)
        return;
    int n = atomic_load(&rx->n);
    for (int i = 0; i < n; i++)
        regfree(&rx->copy[i].re);
    pthread_mutex_destroy(&rx->mu);
    free(rx->pattern);
    free(rx);
}

int sy_rx_copies(sy_rx_t *rx)
{
    return atomic_load_explicit(&rx->n, memory_order_acquire);
}

/* A copy no thread uses, taken; or a new one compiled and taken; or NULL
 * when there may be no more (or compiling failed). */
static copy_t *take(sy_rx_t *rx)
{
    int n = atomic_load_explicit(&rx->n, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        int free_ = 0;
        if (!atomic_load_explicit(&rx->copy[i].busy, memory_order_relaxed) &&
            atomic_compare_exchange_strong(&rx->copy[i].busy, &free_, 1))
            return &rx->copy[i];
    }
    if (n >= SY_RX_COPIES)
        return NULL;
    copy_t *c = NULL;
    pthread_mutex_lock(&rx->mu);
    n = atomic_load_explicit(&rx->n, memory_order_relaxed);
    if (n < SY_RX_COPIES && regcomp(&rx->copy[n].re, rx->pattern, rx->cflags) == 0) {
        c = &rx->copy[n];
        atomic_store_explicit(&c->busy, 1, memory_order_relaxed);
        atomic_store_explicit(&rx->n, n + 1, memory_order_release); /* compiled before it is seen */
    }
    pthread_mutex_unlock(&rx->mu);
    return c;
}

int sy_rx_match(sy_rx_t *rx, const char *s, size_t n)
{
    regmatch_t m[1];
    m[0].rm_so = 0;
    m[0].rm_eo = (regoff_t)n;
    copy_t *c = take(rx);
    if (!c) { /* every copy busy: share one (regexec locks it) */
        unsigned k = atomic_fetch_add_explicit(&rx->turn, 1, memory_order_relaxed);
        int nc = atomic_load_explicit(&rx->n, memory_order_acquire);
        return regexec(&rx->copy[k % (unsigned)nc].re, s ? s : "", 1, m, REG_STARTEND) == 0;
    }
    int hit = regexec(&c->re, s ? s : "", 1, m, REG_STARTEND) == 0;
    atomic_store_explicit(&c->busy, 0, memory_order_release);
    return hit;
}
