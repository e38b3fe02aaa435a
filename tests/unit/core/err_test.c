/*
 * err_test.c - unit tests for src/core/err.c: every code of the SY_ERR_MAP
 * table has its name, message, status and OpenAI type and code; the statuses
 * clients rely on; unknown codes; sy_error_set formatting and bounded
 * truncation; sy_error_status preferring the override.
 */
#include "core/err.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

typedef struct row {
    sy_err_t code;
    const char *name;
    int status;
    const char *type;
    const char *ocode;
    const char *msg;
} row_t;

static const row_t rows[] = {
#define ROW(name, st, ty, code, msg) {SY_##name, #name, st, ty, code, msg},
    SY_ERR_MAP(ROW)
#undef ROW
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

Test(err, every_code_matches_its_row)
{
    cr_assert_gt(NROWS, 10);
    for (size_t i = 0; i < NROWS; i++) {
        const row_t *r = &rows[i];
        cr_assert_lt(r->code, 0, "%s is not negative", r->name);
        cr_assert_str_eq(sy_err_name(r->code), r->name);
        cr_assert_str_eq(sy_strerror(r->code), r->msg, "%s", r->name);
        cr_assert_eq(sy_err_status(r->code), r->status, "%s", r->name);
        cr_assert_str_eq(sy_err_openai_type(r->code), r->type, "%s", r->name);
        cr_assert_str_eq(sy_err_openai_code(r->code), r->ocode, "%s", r->name);
    }
}

Test(err, every_code_is_complete_and_distinct)
{
    for (size_t i = 0; i < NROWS; i++) {
        const row_t *r = &rows[i];
        cr_assert_gt(strlen(r->msg), 0, "%s has no message", r->name);
        cr_assert_gt(strlen(r->type), 0, "%s has no type", r->name);
        cr_assert_gt(strlen(r->ocode), 0, "%s has no code", r->name);
        cr_assert(r->status >= 400 && r->status <= 599, "%s status %d", r->name, r->status);
        /* the strings land in JSON unescaped: keep them plain */
        for (const char *s = r->ocode; *s; s++)
            cr_assert((*s >= 'a' && *s <= 'z') || *s == '_', "%s code \"%s\"", r->name, r->ocode);
        for (const char *s = r->type; *s; s++)
            cr_assert((*s >= 'a' && *s <= 'z') || *s == '_', "%s type \"%s\"", r->name, r->type);
        for (size_t j = i + 1; j < NROWS; j++) {
            cr_assert_neq(r->code, rows[j].code);
            cr_assert_str_neq(r->name, rows[j].name);
            cr_assert_str_neq(r->ocode, rows[j].ocode, "%s and %s share a code", r->name, rows[j].name);
        }
    }
}

Test(err, statuses_clients_rely_on)
{
    cr_assert_eq(sy_err_status(SY_EBADJSON), 400);
    cr_assert_eq(sy_err_status(SY_EBADFIELD), 400);
    cr_assert_eq(sy_err_status(SY_EMISSING), 400);
    cr_assert_eq(sy_err_status(SY_ENOMODEL), 404);
    cr_assert_eq(sy_err_status(SY_ETOOLARGE), 413);
    cr_assert_eq(sy_err_status(SY_EUPCONNECT), 502);
    cr_assert_eq(sy_err_status(SY_EUPTIMEOUT), 504);
    cr_assert_eq(sy_err_status(SY_EDRAINING), 503);
    cr_assert_eq(sy_err_status(SY_ENOMEM), 500);
}

Test(err, openai_codes_clients_rely_on)
{
    cr_assert_str_eq(sy_err_openai_code(SY_EBADJSON), "invalid_json");
    cr_assert_str_eq(sy_err_openai_code(SY_EBADFIELD), "invalid_type");
    cr_assert_str_eq(sy_err_openai_code(SY_EMISSING), "missing_required_parameter");
    cr_assert_str_eq(sy_err_openai_code(SY_ENOMODEL), "model_not_found");
    cr_assert_str_eq(sy_err_openai_code(SY_ETOOLARGE), "request_too_large");
    cr_assert_str_eq(sy_err_openai_code(SY_EUPCONNECT), "upstream_connect_failed");
    cr_assert_str_eq(sy_err_openai_code(SY_EUPTIMEOUT), "upstream_timeout");
    cr_assert_str_eq(sy_err_openai_code(SY_EUPCLOSED), "upstream_closed");
    cr_assert_str_eq(sy_err_openai_type(SY_EBADJSON), "invalid_request_error");
    cr_assert_str_eq(sy_err_openai_type(SY_EUPCONNECT), "upstream_error");
}

Test(err, ok_and_unknown_codes)
{
    cr_assert_str_eq(sy_err_name(SY_OK), "OK");
    cr_assert_str_eq(sy_strerror(SY_OK), "ok");
    cr_assert_eq(sy_err_status(SY_OK), 200);
    const sy_err_t unknown[] = {SY__ERR_FIRST, SY__ERR_LAST, (sy_err_t)-1, (sy_err_t)-5000, (sy_err_t)1,
                                (sy_err_t)12345};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        sy_err_t e = unknown[i];
        cr_assert_str_eq(sy_err_name(e), "EUNKNOWN", "code %d", (int)e);
        cr_assert_str_eq(sy_strerror(e), "unknown error", "code %d", (int)e);
        cr_assert_eq(sy_err_status(e), 500, "code %d", (int)e);
        cr_assert_str_eq(sy_err_openai_type(e), "server_error");
        cr_assert_str_eq(sy_err_openai_code(e), "internal_error");
    }
    cr_assert_not_null(sy_err_openai_type(SY_OK));
    cr_assert_not_null(sy_err_openai_code(SY_OK));
}

Test(err, error_set_formats)
{
    sy_error_t e;
    memset(&e, 0x5a, sizeof(e));
    sy_error_set(&e, SY_EBADFIELD, "temperature", "field %s must be a %s, got %d", "temperature", "number", 7);
    cr_assert_eq(e.code, SY_EBADFIELD);
    cr_assert_eq(e.status, 0, "status not reset");
    cr_assert_str_eq(e.param, "temperature");
    cr_assert_str_eq(e.message, "field temperature must be a number, got 7");
}

Test(err, error_set_defaults)
{
    sy_error_t e;
    memset(&e, 0x5a, sizeof(e));
    sy_error_set(&e, SY_ENOMODEL, NULL, NULL);
    cr_assert_eq(e.code, SY_ENOMODEL);
    cr_assert_eq(e.status, 0);
    cr_assert_str_eq(e.param, "");
    cr_assert_str_eq(e.message, "model not found");
}

Test(err, error_set_resets_a_previous_override)
{
    sy_error_t e;
    sy_error_set(&e, SY_EUPSTATUS, NULL, "first");
    e.status = 429;
    sy_error_set(&e, SY_EBADJSON, "x", "second");
    cr_assert_eq(e.status, 0);
    cr_assert_eq(sy_error_status(&e), 400);
    cr_assert_str_eq(e.message, "second");
}

Test(err, error_set_truncates_safely)
{
    /* surround the struct with canaries to catch any overrun */
    struct {
        char before[64];
        sy_error_t e;
        char after[64];
    } box;
    memset(&box, 0x77, sizeof(box));

    char longmsg[2000];
    memset(longmsg, 'm', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    char longparam[300];
    memset(longparam, 'p', sizeof(longparam) - 1);
    longparam[sizeof(longparam) - 1] = '\0';

    sy_error_set(&box.e, SY_EBADREQ, longparam, "%s/%s", longmsg, "tail");
    cr_assert_eq(strlen(box.e.message), sizeof(box.e.message) - 1);
    cr_assert_eq(strlen(box.e.param), sizeof(box.e.param) - 1);
    cr_assert(strspn(box.e.message, "m") == sizeof(box.e.message) - 1);
    cr_assert(strspn(box.e.param, "p") == sizeof(box.e.param) - 1);
    for (size_t i = 0; i < sizeof(box.before); i++) {
        cr_assert_eq((unsigned char)box.before[i], 0x77);
        cr_assert_eq((unsigned char)box.after[i], 0x77);
    }

    /* exactly at the limit: nothing lost */
    char fits[sizeof(box.e.message)];
    memset(fits, 'f', sizeof(fits) - 1);
    fits[sizeof(fits) - 1] = '\0';
    sy_error_set(&box.e, SY_EBADREQ, NULL, "%s", fits);
    cr_assert_str_eq(box.e.message, fits);
}

/* "%%" renders one '%', and a '%' inside an argument is not interpreted. */
Test(err, error_set_percent)
{
    sy_error_t e;
    sy_error_set(&e, SY_EBADREQ, NULL, "100%% sure, %s", "50%");
    cr_assert_str_eq(e.message, "100% sure, 50%");
}

Test(err, error_status_prefers_override)
{
    sy_error_t e;
    sy_error_set(&e, SY_EUPSTATUS, NULL, "upstream said no");
    cr_assert_eq(sy_error_status(&e), 502);
    e.status = 429;
    cr_assert_eq(sy_error_status(&e), 429);
    e.status = 0;
    cr_assert_eq(sy_error_status(&e), 502);
    sy_error_set(&e, SY_ETOOLARGE, NULL, NULL);
    cr_assert_eq(sy_error_status(&e), 413);
    e.status = 400;
    cr_assert_eq(sy_error_status(&e), 400);
}
