/*
 * rules.c - matching one routing rule against a request (see rules.h).
 */
#include "router/rules.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/rx.h"

void sy_rule_facts_init(sy_rule_facts_t *f)
{
    memset(f, 0, offsetof(sy_rule_facts_t, slot_val));
    f->tokens = -2;
}

/* A bracket expression at p (just past its '[') against c: 1 match, 0 no
 * match, -1 not a bracket expression (no closing ']': '[' is literal).
 * *end is set past the ']'. */
static int glob_class(const char *p, unsigned char c, const char **end)
{
    int neg = 0, hit = 0;
    if (*p == '!' || *p == '^') {
        neg = 1;
        p++;
    }
    const char *start = p;
    while (*p && (*p != ']' || p == start)) {
        unsigned char lo = (unsigned char)*p, hi;
        if (lo == '\\' && p[1])
            lo = (unsigned char)*++p;
        p++;
        hi = lo;
        if (p[0] == '-' && p[1] && p[1] != ']') {
            hi = (unsigned char)p[1];
            if (hi == '\\' && p[2]) {
                hi = (unsigned char)p[2];
                p++;
            }
            p += 2;
        }
        if (c >= lo && c <= hi)
            hit = 1;
    }
    if (*p != ']')
        return -1;
    *end = p + 1;
    return hit != neg;
}

/* Past the pattern element at p when it matches c, else NULL. */
static const char *glob_one(const char *p, unsigned char c)
{
    const char *end;
    switch (*p) {
    case '\0':
        return NULL;
    case '?':
        return p + 1;
    case '[': {
        int m = glob_class(p + 1, c, &end);
        if (m >= 0)
            return m ? end : NULL;
        return c == '[' ? p + 1 : NULL;
    }
    case '\\':
        if (!p[1])
            return NULL; /* a trailing backslash matches nothing (as glibc's fnmatch) */
        p++;
        /* fall through */
    default:
        return (unsigned char)*p == c ? p + 1 : NULL;
    }
}

/* fnmatch(3) without flags: '*' (also across '/'), '?', bracket
 * expressions with ranges and '!' or '^', backslash escapes. Iterative:
 * linear in the text times the stars' backtracking, no allocation. */
static int glob(const char *p, const char *s)
{
    const char *star = NULL, *from = NULL;
    while (*s) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (!*p)
                return 1;
            star = p;
            from = s;
            continue;
        }
        const char *next = glob_one(p, (unsigned char)*s);
        if (next) {
            p = next;
            s++;
            continue;
        }
        if (!star)
            return 0;
        p = star;
        s = ++from;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

int sy_rule_glob(const char *pattern, const char *s)
{
    return glob(pattern, s);
}

const sy_creq_t *sy_rule_request(sy_rule_facts_t *f)
{
    if (!f->q && !f->q_tried && f->decode) {
        f->q_tried = 1;
        f->q = f->decode(f->dud);
    }
    return f->q;
}

const char *sy_rule_metadata(sy_rule_facts_t *f, const char *name, char *buf, size_t cap)
{
    char hname[sizeof(SY_RULE_META_HEADER) + 80];
    size_t nl = strlen(name);
    if (f->header && nl <= 80) {
        memcpy(hname, SY_RULE_META_HEADER, sizeof(SY_RULE_META_HEADER) - 1);
        memcpy(hname + sizeof(SY_RULE_META_HEADER) - 1, name, nl + 1);
        const char *v = f->header(f->hud, hname);
        if (v) {
            size_t n = strlen(v);
            if (n >= cap)
                return NULL;
            memcpy(buf, v, n + 1);
            return buf;
        }
    }
    if (f->meta_state == 0) {
        f->meta_state = -1;
        if (f->meta_given) {
            f->meta = f->meta_in;
            if (f->meta.p && f->meta.type == SY_JOBJECT)
                f->meta_state = 1;
        } else if (f->body && f->body_len) {
            sy_jval_t doc = sy_json_value(f->body, f->body_len);
            if (doc.type == SY_JOBJECT && sy_json_get(&doc, "metadata", &f->meta) && f->meta.type == SY_JOBJECT)
                f->meta_state = 1;
        }
    }
    sy_jval_t v;
    if (f->meta_state < 0 || !sy_json_get(&f->meta, name, &v) || v.type != SY_JSTRING)
        return NULL;
    return sy_json_string(&v, buf, cap) < 0 ? NULL : buf;
}

/* The newest part of text t that the budget still allows. */
static int scan(sy_rx_t *re, sy_str_t t, size_t *budget)
{
    if (!*budget || !t.len)
        return 0;
    size_t n = t.len < *budget ? t.len : *budget;
    *budget -= n;
    return sy_rx_match(re, t.p + (t.len - n), n);
}

int sy_rule_prompt_match(sy_rx_t *re, const sy_creq_t *q)
{
    size_t budget = SY_RULE_PROMPT_SCAN;
    for (size_t i = q->n_msgs; i-- > 0 && budget;) {
        const sy_msg_t *m = &q->msgs[i];
        if (m->role != SY_ROLE_USER)
            continue;
        for (size_t j = m->n_parts; j-- > 0 && budget;)
            if (m->parts[j].kind == SY_PART_TEXT && scan(re, m->parts[j].text, &budget))
                return 1;
    }
    for (size_t i = q->n_inputs; i-- > 0 && budget;)
        if (scan(re, q->inputs[i], &budget))
            return 1;
    return 0;
}

/* The value of header (meta 0) or metadata key (meta 1) kv for f, looked up
 * once per slot; buf[cap] holds it when it has no slot or slot_buf is full. */
static const char *kv_value(sy_rule_facts_t *f, const sy_rule_kv_t *kv, int meta, char *buf, size_t cap)
{
    uint64_t bit = kv->slot >= 0 ? 1ull << kv->slot : 0;
    if (f->slot_done & bit)
        return f->slot_val[kv->slot];
    const char *v;
    if (!meta) {
        v = f->header ? f->header(f->hud, kv->name) : NULL;
    } else {
        size_t left = sizeof(f->slot_buf) - f->slot_used;
        char *dst = bit && left > 1 ? f->slot_buf + f->slot_used : buf;
        size_t room = dst == buf || left > cap ? cap : left;
        v = sy_rule_metadata(f, kv->name, dst, room);
        if (!v && room < cap) /* maybe only too long for what slot_buf has left */
            v = sy_rule_metadata(f, kv->name, dst = buf, cap);
        if (v && dst == buf && bit)
            return v; /* in buf: not kept */
        if (v && dst != buf)
            f->slot_used += strlen(v) + 1;
    }
    if (bit) {
        f->slot_val[kv->slot] = v;
        f->slot_done |= bit;
    }
    return v;
}

static int kv_match(sy_rule_facts_t *f, const sy_rule_kv_t *kv, size_t n, int meta)
{
    char buf[512];
    for (size_t i = 0; i < n; i++) {
        const char *v = kv_value(f, &kv[i], meta, buf, sizeof(buf));
        if (!v || !glob(kv[i].glob, v))
            return 0;
    }
    return 1;
}

int sy_rule_match(const sy_rule_conf_t *r, sy_rule_facts_t *f)
{
    if (r->apis && !(f->proto >= 0 && f->proto < 32 && (r->apis >> f->proto) & 1u))
        return 0;
    if (r->n_models) {
        size_t i = 0;
        while (i < r->n_models && !glob(r->models[i], f->model ? f->model : ""))
            i++;
        if (i == r->n_models)
            return 0;
    }
    /* no key or team before auth: a rule that names one never matches */
    if (r->key && (!f->key || !glob(r->key, f->key)))
        return 0;
    if (r->team && (!f->team || !glob(r->team, f->team)))
        return 0;
    if (!kv_match(f, r->headers, r->n_headers, 0) || !kv_match(f, r->metadata, r->n_metadata, 1))
        return 0;
    if (r->tokens_min >= 0 || r->tokens_max >= 0) {
        if (f->tokens == -2) {
            const sy_creq_t *q = sy_rule_request(f);
            f->tokens = q ? sy_creq_estimate_tokens(q) : -1;
        }
        if (f->tokens < 0 || (r->tokens_min >= 0 && f->tokens < r->tokens_min) ||
            (r->tokens_max >= 0 && f->tokens > r->tokens_max))
            return 0;
    }
    if (r->prompt_re) {
        const sy_creq_t *q = sy_rule_request(f);
        if (!q || !sy_rule_prompt_match(r->prompt_re, q))
            return 0;
    }
    return 1;
}
