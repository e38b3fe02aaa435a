/*
 * clock.h - monotonic time. Modules that decide on time (timeouts, limiters,
 * caches) take `now` as a parameter; only the edges read the clock.
 */
#ifndef SY_CORE_CLOCK_H
#define SY_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds. */
static inline uint64_t sy_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall-clock milliseconds since the epoch: for expiries kept outside the
 * process (Redis, SQLite), which must survive a restart. */
static inline uint64_t sy_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
