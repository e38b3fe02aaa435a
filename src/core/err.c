/*
 * err.c - the tables behind sy_err_t (see err.h).
 */
#include "core/err.h"
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct sy__err_row {
    sy_err_t code;
    const char *name;
    int status;
    const char *type;
    const char *ocode;
    const char *msg;
};

static const struct sy__err_row rows[] = {
#define SY__ERR_ROW(name, st, ty, code, msg) {SY_##name, #name, st, ty, code, msg},
    SY_ERR_MAP(SY__ERR_ROW)
#undef SY__ERR_ROW
};

static const struct sy__err_row *find(sy_err_t err)
{
    if (err > SY__ERR_FIRST && err < SY__ERR_LAST)
        return &rows[err - SY__ERR_FIRST - 1];
    return NULL;
}

const char *sy_strerror(sy_err_t err)
{
    const struct sy__err_row *r = find(err);
    return err == SY_OK ? "ok" : r ? r->msg : "unknown error";
}

const char *sy_err_name(sy_err_t err)
{
    const struct sy__err_row *r = find(err);
    return err == SY_OK ? "OK" : r ? r->name : "EUNKNOWN";
}

int sy_err_status(sy_err_t err)
{
    const struct sy__err_row *r = find(err);
    return err == SY_OK ? 200 : r ? r->status : 500;
}

const char *sy_err_openai_type(sy_err_t err)
{
    const struct sy__err_row *r = find(err);
    return r ? r->type : "server_error";
}

const char *sy_err_openai_code(sy_err_t err)
{
    const struct sy__err_row *r = find(err);
    return r ? r->ocode : "internal_error";
}

static void error_setv(sy_error_t *e, sy_err_t code, const char *param, const char *fmt, va_list ap)
{
    e->code = code;
    e->status = 0;
    snprintf(e->param, sizeof(e->param), "%s", param ? param : "");
    if (fmt) {
        int n = vsnprintf(e->message, sizeof(e->message), fmt, ap);
        if (n >= (int)sizeof(e->message)) /* cut: do not leave half a character */
            e->message[sy_utf8_trim(e->message, sizeof(e->message) - 1)] = '\0';
    } else {
        snprintf(e->message, sizeof(e->message), "%s", sy_strerror(code));
    }
}

void sy_error_set(sy_error_t *e, sy_err_t code, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_setv(e, code, param, fmt, ap);
    va_end(ap);
}

sy_err_t sy_error_fail(sy_error_t *e, sy_err_t code, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_setv(e, code, param, fmt, ap);
    va_end(ap);
    return code;
}

int sy_error_status(const sy_error_t *e)
{
    return e->status ? e->status : sy_err_status(e->code);
}
