/*
 * config_harness.h - loading configs in unit tests.
 *
 * sy_test_load_ok loads a config from text (named "t.yaml") and fails the
 * test with the first diagnostic when it is refused.
 * sy_test_expect_diag checks that text is refused with, among its
 * diagnostics, exactly "line:col: message" (the others are logged when it
 * is missing).
 *
 * Header-only (static inline), for Criterion tests.
 */
#ifndef SY_TEST_CONFIG_HARNESS_H
#define SY_TEST_CONFIG_HARNESS_H

#include <criterion/criterion.h>
#include <criterion/logging.h>
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

#endif
