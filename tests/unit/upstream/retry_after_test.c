/*
 * retry_after_test.c - unit tests for src/upstream/retry_after.c: delta
 * seconds (bounds, whitespace, junk), the three HTTP-date forms against a
 * fixed clock, dates past and too far, and what is refused.
 */
#include "upstream/retry_after.h"

#include <criterion/criterion.h>
#include <string.h>

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define T 784111777

static int ra(const char *v, time_t now)
{
    return sy_retry_after_parse(v, strlen(v), now);
}

Test(retry_after, delta_seconds)
{
    cr_assert_eq(ra("0", T), 0);
    cr_assert_eq(ra("120", T), 120);
    cr_assert_eq(ra(" \t7 ", T), 7, "whitespace around it");
    cr_assert_eq(ra("007", T), 7);
    cr_assert_eq(ra("604799", T), SY_RETRY_AFTER_MAX - 1);
    cr_assert_eq(ra("604800", T), -1, "a week or more is not believed");
    cr_assert_eq(ra("99999999999999999999999", T), -1, "no overflow");
    cr_assert_eq(sy_retry_after_parse("12", 1, T), 1, "the length given, not the NUL");
}

Test(retry_after, refused)
{
    const char *bad[] = {"", "  ", "-1", "+5", "1.5", "12abc", "12 13", "abc", "soon",
                         "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 06 Nov 1994 08:49:37 GMT x",
                         "Sun, 06 Nov 1994 08:49 GMT", "Sun, 32 Nov 1994 08:49:37 GMT"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(ra(bad[i], T), -1, "\"%s\"", bad[i]);
    static const char nul_date[] = "Sun, 06 Nov 1994 08:49:37 GMT\0junk", nul_num[] = "12\0 3";
    cr_assert_eq(sy_retry_after_parse(nul_date, sizeof(nul_date) - 1, T - 5), -1, "a NUL inside a date");
    cr_assert_eq(sy_retry_after_parse(nul_num, sizeof(nul_num) - 1, T), -1, "a NUL inside a number");
}

Test(retry_after, http_dates)
{
    cr_assert_eq(ra("Sun, 06 Nov 1994 08:49:37 GMT", T - 30), 30, "IMF-fixdate");
    cr_assert_eq(ra("Sunday, 06-Nov-94 08:49:37 GMT", T - 30), 30, "RFC 850");
    cr_assert_eq(ra("Sun Nov  6 08:49:37 1994", T - 30), 30, "asctime");
    cr_assert_eq(ra(" Sun, 06 Nov 1994 08:49:37 GMT ", T - 1), 1);
    cr_assert_eq(ra("Sun, 06 Nov 1994 08:49:37 GMT", T), 0, "now");
    cr_assert_eq(ra("Sun, 06 Nov 1994 08:49:37 GMT", T + 3600), 0, "a date past: no wait");
    cr_assert_eq(ra("Sun, 06 Nov 1994 08:49:37 GMT", T - SY_RETRY_AFTER_MAX), -1, "a week away");
    cr_assert_eq(ra("Wed, 01 Jan 2031 00:00:00 GMT", 1924991990), 10, "a later year");
}
