/*
 * entry.c - cached answers as JSON (see entry.h).
 *
 * Reading goes through sy_cresp_add, the same fold the pipeline uses on a
 * live answer, so a replayed entry is built by the code that built it.
 */
#include "cache/entry.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"
#include "core/jsonw.h"

static const char *const finish_names[] = {"stop", "stop", "length", "tool_calls", "content_filter"};

static void cstr(struct evbuffer *o, const char *s, size_t n)
{
    sy_jw_str(o, s ? s : "", s ? n : 0);
}

int sy_cache_entry_write(const sy_cresp_t *c, struct evbuffer *out)
{
    struct evbuffer *o = evbuffer_new();
    if (!o)
        return -1;
    SY_JW_LIT(o, "{\"v\":");
    sy_jw_int(o, SY_CACHE_ENTRY_VERSION);
    SY_JW_LIT(o, ",\"id\":");
    cstr(o, c->id, strlen(c->id));
    SY_JW_LIT(o, ",\"text\":");
    cstr(o, c->text, c->text_len);
    SY_JW_LIT(o, ",\"thinking\":");
    cstr(o, c->thinking, c->thinking_len);
    SY_JW_LIT(o, ",\"calls\":[");
    for (size_t i = 0; i < c->n_calls; i++) {
        const sy_cresp_call_t *k = &c->calls[i];
        if (i)
            SY_JW_LIT(o, ",");
        SY_JW_LIT(o, "{\"id\":");
        cstr(o, k->id, k->id ? strlen(k->id) : 0);
        SY_JW_LIT(o, ",\"name\":");
        cstr(o, k->name, k->name ? strlen(k->name) : 0);
        SY_JW_LIT(o, ",\"args\":");
        cstr(o, k->args, k->args_len);
        SY_JW_LIT(o, "}");
    }
    SY_JW_LIT(o, "],\"finish\":");
    sy_jw_cstr(o, (unsigned)c->finish < 5 ? finish_names[c->finish] : "stop");
    SY_JW_LIT(o, ",\"stop_sequence\":");
    cstr(o, c->stop_sequence, strlen(c->stop_sequence));
    SY_JW_LIT(o, ",\"usage\":{\"input\":");
    sy_jw_int(o, c->usage.input_tokens);
    SY_JW_LIT(o, ",\"output\":");
    sy_jw_int(o, c->usage.output_tokens);
    SY_JW_LIT(o, ",\"cache_read\":");
    sy_jw_int(o, c->usage.cache_read_tokens);
    SY_JW_LIT(o, ",\"cache_write\":");
    sy_jw_int(o, c->usage.cache_write_tokens);
    SY_JW_LIT(o, "}}");
    int rc = evbuffer_add_buffer(out, o) == 0 ? 0 : -1;
    evbuffer_free(o);
    return rc;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct rd {
    sy_cresp_t *c;
    char *scratch; /* one decoded string at a time */
    size_t cap;
} rd_t;

/* Decode string value v into r->scratch; -1 when v is not a string. */
static int str(rd_t *r, const sy_jval_t *v, sy_str_t *out)
{
    if (!v->p || v->type != SY_JSTRING)
        return -1;
    if (v->len > r->cap) {
        char *n = realloc(r->scratch, v->len);
        if (!n)
            return -1;
        r->scratch = n;
        r->cap = v->len;
    }
    long n = sy_json_string(v, r->scratch, r->cap);
    if (n < 0)
        return -1;
    out->p = r->scratch;
    out->len = (size_t)n;
    return 0;
}

/* A string member folded in as one event of kind k into field f. */
static int add_text(rd_t *r, const sy_jval_t *v, sy_ev_kind_t k)
{
    sy_ev_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = k;
    if (str(r, v, &ev.text) < 0)
        return -1;
    if (ev.text.len == 0)
        return 0;
    return sy_cresp_add(r->c, &ev) ? -1 : 0;
}

static int add_calls(rd_t *r, const sy_jval_t *arr)
{
    static const char *const names[] = {"id", "name", "args"};
    size_t pos = 0;
    sy_jval_t el, f[3];
    int i = 0;
    if (!arr->p || arr->type != SY_JARRAY)
        return -1;
    while (sy_json_next_element(arr, &pos, &el)) {
        if (el.type != SY_JOBJECT || i >= SY_CRESP_MAX_CALLS)
            return -1;
        sy_json_members(&el, names, f, 3, 0);
        for (int j = 0; j < 3; j++) {
            /* one event per field: the scratch holds one string at a time */
            sy_ev_t ev;
            memset(&ev, 0, sizeof(ev));
            ev.kind = SY_EV_TOOL_CALL;
            ev.index = i;
            sy_str_t *dst = j == 0 ? &ev.id : j == 1 ? &ev.name : &ev.args;
            if (str(r, &f[j], dst) < 0 || sy_cresp_add(r->c, &ev))
                return -1;
        }
        i++;
    }
    return 0;
}

static int usage_of(const sy_jval_t *u, sy_usage_t *out)
{
    static const char *const names[] = {"input", "output", "cache_read", "cache_write"};
    sy_jval_t f[4];
    int64_t *to[] = {&out->input_tokens, &out->output_tokens, &out->cache_read_tokens, &out->cache_write_tokens};
    if (!u->p || u->type != SY_JOBJECT)
        return -1;
    sy_json_members(u, names, f, 4, 0);
    for (int i = 0; i < 4; i++) {
        int64_t n;
        if (!f[i].p || f[i].type != SY_JINT || sy_json_int(&f[i], &n) < 0 || n < -1)
            return -1;
        *to[i] = n;
    }
    return 0;
}

int sy_cache_entry_read(const char *data, size_t len, sy_cresp_t *c)
{
    static const char *const names[] = {"v",      "id",            "text", "thinking", "calls",
                                        "finish", "stop_sequence", "usage"};
    enum { V, ID, TEXT, THINKING, CALLS, FINISH, STOP, USAGE, N };
    sy_jval_t f[N];
    rd_t r = {c, NULL, 0};
    int rc = -1;
    int64_t v;

    if (!data || sy_json_validate(data, len, NULL, NULL) < 0)
        return -1;
    sy_jval_t doc = sy_json_value(data, len);
    if (doc.type != SY_JOBJECT)
        return -1;
    sy_json_members(&doc, names, f, N, 0);
    if (!f[V].p || f[V].type != SY_JINT || sy_json_int(&f[V], &v) < 0)
        return -1;
    if (v != SY_CACHE_ENTRY_VERSION)
        return 1;

    sy_ev_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_START;
    if (str(&r, &f[ID], &ev.id) < 0 || sy_cresp_add(c, &ev))
        goto out;
    if (add_text(&r, &f[THINKING], SY_EV_THINKING) < 0 || add_text(&r, &f[TEXT], SY_EV_TEXT) < 0 ||
        add_calls(&r, &f[CALLS]) < 0)
        goto out;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_FINISH;
    sy_str_t fin;
    if (str(&r, &f[FINISH], &fin) < 0)
        goto out;
    ev.finish = SY_FINISH_NONE;
    for (int i = 1; i < 5; i++)
        if (strlen(finish_names[i]) == fin.len && memcmp(finish_names[i], fin.p, fin.len) == 0)
            ev.finish = (sy_finish_t)i;
    if (ev.finish == SY_FINISH_NONE)
        goto out;
    if (str(&r, &f[STOP], &ev.stop_sequence) < 0 || sy_cresp_add(c, &ev))
        goto out;
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_USAGE;
    sy_usage_init(&ev.usage);
    if (usage_of(&f[USAGE], &ev.usage) < 0 || sy_cresp_add(c, &ev))
        goto out;
    rc = 0;
out:
    free(r.scratch);
    return rc;
}
