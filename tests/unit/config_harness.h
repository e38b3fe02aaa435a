/*
 * config_harness.h - loading configs in unit tests.
 *
 * sy_test_load_ok loads a config from text (named "t.yaml") and fails the
 * test with the first diagnostic when it is refused.
 * sy_test_expect_diag checks that text is refused with, among its
 * diagnostics, exactly "line:col: message" (the others are logged when it
 * is missing); sy_test_expect_diags, with exactly the list given.
 *
 * Header-only (static inline), for Criterion tests.
 */
#ifndef SY_TEST_CONFIG_HARNESS_H
#define SY_TEST_CONFIG_HARNESS_H

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"

static inline sy_config_t *sy_test_load_ok(const char *text)
{
    sy_diags_t d = {0};
    sy_config_t *c = sy_config_load_string(text, strlen(text), "t.yaml", &d);
    if (!c)
        cr_assert_fail("config refused: %d:%d: %s", d.n ? d.items[0].line : 0, d.n ? d.items[0].col : 0,
                       d.n ? d.items[0].message : "?");
    sy_diags_release(&d);
    return c;
}

static inline void sy_test_expect_diag(const char *text, const char *want)
{
    sy_diags_t d = {0};
    sy_config_t *c = sy_config_load_string(text, strlen(text), "t.yaml", &d);
    cr_assert_null(c, "expected the config to be refused");
    char buf[1200];
    int found = 0;
    for (size_t i = 0; i < d.n && !found; i++) {
        snprintf(buf, sizeof(buf), "%d:%d: %s", d.items[i].line, d.items[i].col, d.items[i].message);
        found = strcmp(buf, want) == 0;
    }
    if (!found) {
        for (size_t i = 0; i < d.n; i++)
            cr_log_error("got %d:%d: %s", d.items[i].line, d.items[i].col, d.items[i].message);
        cr_assert_fail("no diagnostic \"%s\"", want);
    }
    sy_diags_release(&d);
}

/* Assert text is refused with exactly these diagnostics, in order, each
 * as "t.yaml:line:col: message" (the list NULL-terminated). */
static inline void sy_test_expect_diags(const char *text, ...)
{
    sy_diags_t d = {0};
    sy_config_t *c = sy_config_load_string(text, strlen(text), "t.yaml", &d);
    cr_assert_null(c, "expected the config to be refused");
    va_list ap;
    va_start(ap, text);
    size_t i = 0;
    const char *want;
    char buf[1200];
    while ((want = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(i, d.n, "missing diagnostic %zu: %s", i, want);
        snprintf(buf, sizeof(buf), "%s:%d:%d: %s", d.items[i].file, d.items[i].line, d.items[i].col,
                 d.items[i].message);
        cr_assert_str_eq(buf, want);
        i++;
    }
    va_end(ap);
    if (i != d.n)
        cr_assert_fail("unexpected extra diagnostic: %s:%d:%d: %s", d.items[i].file, d.items[i].line,
                       d.items[i].col, d.items[i].message);
    sy_diags_release(&d);
}

#endif
