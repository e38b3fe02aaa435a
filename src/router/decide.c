/*
 * decide.c - the pre-route decision and applying its parameters (see
 * decide.h).
 */
#include "router/decide.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"
#include "router/complexity.h"
#include "router/experiment.h"
#include "router/rules.h"

/* s into dst[cap], cut to fit (no printf on the hot path). */
static void copy(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Append " " (unless at the start) and s to the reason. */
static void say(sy_decision_t *out, const char *s)
{
    size_t n = strlen(out->reason);
    if (n && n + 1 < sizeof(out->reason))
        out->reason[n++] = ' ';
    copy(out->reason + n, sizeof(out->reason) - n, s);
}

/* q's parameters laid over p: a parameter q sets or caps replaces p's. */
static void params_over(sy_params_t *p, const sy_params_t *q)
{
    for (int k = 0; k < SY_PARAM__N; k++) {
        unsigned bit = 1u << k;
        if (q->set_mask & bit) {
            p->set[k] = q->set[k];
            p->set_mask |= bit;
            p->cap_mask &= ~bit;
        } else if (q->cap_mask & bit) {
            p->cap[k] = q->cap[k];
            p->cap_mask |= bit;
            p->set_mask &= ~bit;
        }
    }
}

/* The request's own end-user id: the decoded request's, else the OpenAI
 * body's "user". */
static const char *body_user(const sy_route_in_t *in, const sy_creq_t *q, size_t *len)
{
    if (q && q->user.len) {
        *len = q->user.len;
        return q->user.p;
    }
    sy_jval_t u = in->user;
    if (!in->scanned) {
        u.p = NULL;
        if (in->body && in->body_len) {
            sy_jval_t doc = sy_json_value(in->body, in->body_len);
            if (doc.type != SY_JOBJECT || !sy_json_get(&doc, "user", &u))
                u.p = NULL;
        }
    }
    if (u.p && u.type == SY_JSTRING && u.len > 2) {
        *len = u.len - 2; /* the raw text between the quotes: escapes stay, ids rarely have any */
        return u.p + 1;
    }
    *len = 0;
    return NULL;
}

/* Step 2: the experiment on out->model, if any. */
static void experiment(const sy_config_t *cfg, const sy_route_in_t *in, const sy_creq_t *q, sy_decision_t *out)
{
    int e = sy_exp_find(cfg, out->model);
    if (e < 0)
        return;
    const sy_exp_conf_t *ec = &cfg->experiments[e];
    size_t ulen, len;
    const char *user = body_user(in, q, &ulen);
    const char *hu = in->header ? in->header(in->hud, "x-switchyard-user") : NULL;
    const char *id = sy_exp_sticky_id(ec, hu, user, ulen, in->key, in->request_id ? in->request_id : "", &len);
    int arm = sy_exp_assign(ec, id, len);
    if (arm < 0)
        return;
    const sy_exp_arm_conf_t *a = &ec->arms[arm];
    out->exp = e;
    out->arm = arm;
    if (a->model_index >= 0)
        copy(out->model, sizeof(out->model), cfg->models[a->model_index].name);
    params_over(&out->params, &a->params);
    say(out, "experiment=");
    copy(out->reason + strlen(out->reason), sizeof(out->reason) - strlen(out->reason), ec->name);
    say(out, "arm=");
    copy(out->reason + strlen(out->reason), sizeof(out->reason) - strlen(out->reason), a->name);
}

/* Step 3: a complexity model's tier. */
static void complexity(const sy_config_t *cfg, const sy_creq_t *q, sy_decision_t *out)
{
    const sy_model_conf_t *m = sy_config_find_model(cfg, out->model);
    if (!m || !m->complexity)
        return;
    sy_cx_feat_t f;
    memset(&f, 0, sizeof(f));
    if (q)
        sy_cx_features(q, &f);
    unsigned score = sy_cx_score(&f, &m->cx_weights);
    int t = sy_cx_tier(m, score);
    if (t < 0)
        return;
    const char *tier = cfg->models[m->tiers[t].model_index].name;
    out->cx_score = (int)score;
    out->cx_tier = t;
    char why[256];
    sy_cx_reason(why, sizeof(why), score, tier, &f);
    say(out, why);
    copy(out->model, sizeof(out->model), tier);
}

int sy_decide(const sy_config_t *cfg, const sy_route_in_t *in, sy_decision_t *out)
{
    out->rule = -1;
    out->reject = 0;
    out->status = 0;
    out->message[0] = '\0';
    out->reason[0] = '\0';
    out->q = NULL;
    out->exp = out->arm = out->cx_score = out->cx_tier = -1;
    memset(&out->params, 0, sizeof(out->params));
    copy(out->model, sizeof(out->model), in->model ? in->model : "");
    if (!sy_decide_wanted(cfg))
        return -1;
    sy_rule_facts_t f;
    sy_rule_facts_init(&f);
    f.proto = in->proto;
    f.model = in->model ? in->model : "";
    f.header = in->header;
    f.hud = in->hud;
    f.key = in->key;
    f.team = in->team;
    f.q = in->q;
    f.decode = in->decode;
    f.dud = in->dud;
    f.body = in->body;
    f.body_len = in->body_len;
    f.meta_given = in->scanned;
    f.meta_in = in->metadata;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const sy_rule_conf_t *r = &cfg->rules[i];
        if (!sy_rule_match(r, &f))
            continue;
        out->rule = (int)i;
        memcpy(out->reason, "rule=", 5);
        copy(out->reason + 5, sizeof(out->reason) - 5, r->name);
        if (r->reject) {
            out->reject = 1;
            out->status = r->reject_status;
            snprintf(out->message, sizeof(out->message), "%s", r->reject_message ? r->reject_message : "rejected");
            if (!in->q)
                out->q = f.q;
            return out->rule;
        }
        if (r->route)
            copy(out->model, sizeof(out->model), r->route);
        out->params = r->params;
        break;
    }
    if (cfg->n_experiments)
        experiment(cfg, in, f.q, out);
    if (cfg->n_complexity) {
        const sy_model_conf_t *m = sy_config_find_model(cfg, out->model);
        if (m && m->complexity && !f.q && f.decode && !f.q_tried) {
            f.q_tried = 1;
            f.q = f.decode(f.dud);
        }
        complexity(cfg, f.q, out);
    }
    if (!in->q)
        out->q = f.q;
    return out->rule;
}

int sy_params_value(const sy_params_t *p, sy_param_t k, int has, double cur, double *out)
{
    unsigned bit = 1u << k;
    if (p->set_mask & bit) {
        *out = p->set[k];
        return !has || cur != *out;
    }
    if (!(p->cap_mask & bit))
        return 0;
    if (has && cur > p->cap[k]) {
        *out = p->cap[k];
        return 1;
    }
    if (!has && k == SY_PARAM_MAX_TOKENS) {
        *out = p->cap[k];
        return 1;
    }
    return 0;
}

size_t sy_params_format(sy_param_t k, double v, char *buf, size_t cap)
{
    int n;
    if (SY_PARAM_IS_INT(k) || (v == floor(v) && fabs(v) < 1e15)) {
        n = snprintf(buf, cap, "%lld", (long long)v);
    } else {
        n = snprintf(buf, cap, "%.15g", v);
        if (n > 0 && (size_t)n < cap && strtod(buf, NULL) != v)
            n = snprintf(buf, cap, "%.17g", v);
    }
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* A number value written into a as the raw JSON the encoders copy. */
static int set_jval(sy_jval_t *j, sy_param_t k, double v, sy_arena_t *a)
{
    char buf[40];
    size_t n = sy_params_format(k, v, buf, sizeof(buf));
    char *s = sy_arena_strndup(a, buf, n);
    if (!s)
        return -1;
    j->p = s;
    j->len = n;
    j->type = memchr(s, '.', n) || memchr(s, 'e', n) ? SY_JDOUBLE : SY_JINT;
    return 0;
}

static sy_jval_t *creq_jval(sy_creq_t *q, sy_param_t k)
{
    switch (k) {
    case SY_PARAM_TEMPERATURE:
        return &q->temperature;
    case SY_PARAM_TOP_P:
        return &q->top_p;
    case SY_PARAM_TOP_K:
        return &q->top_k;
    case SY_PARAM_PRESENCE_PENALTY:
        return &q->presence_penalty;
    case SY_PARAM_FREQUENCY_PENALTY:
        return &q->frequency_penalty;
    default:
        return NULL;
    }
}

int sy_params_apply(const sy_params_t *p, sy_creq_t *q, sy_arena_t *a)
{
    for (int k = 0; k < SY_PARAM__N; k++) {
        if (!((p->set_mask | p->cap_mask) & (1u << k)))
            continue;
        double cur = 0, v;
        int has;
        sy_jval_t *j = creq_jval(q, (sy_param_t)k);
        if (j)
            has = j->p && (j->type == SY_JINT || j->type == SY_JDOUBLE) && sy_json_double(j, &cur) == 0;
        else if (k == SY_PARAM_MAX_TOKENS)
            has = q->max_tokens >= 0, cur = (double)q->max_tokens;
        else
            has = q->has_seed, cur = (double)q->seed;
        if (!sy_params_value(p, (sy_param_t)k, has, cur, &v))
            continue;
        if (j) {
            if (set_jval(j, (sy_param_t)k, v, a) < 0)
                return -1;
        } else if (k == SY_PARAM_MAX_TOKENS) {
            q->max_tokens = (int64_t)v;
        } else {
            q->seed = (int64_t)v;
            q->has_seed = 1;
        }
    }
    return 0;
}

/* ---- the passthrough body ---- */

#define MAX_EDITS 32

typedef struct edit {
    size_t at, end; /* replace body[at..end) (at == end: insert) */
    int k;
    double v;
    const char *name; /* an insert's member name */
} edit_t;

/* Which parameter a top-level member names (-1 none). */
static int member_param(const sy_jval_t *key)
{
    for (int k = 0; k < SY_PARAM__N; k++)
        if (sy_json_key_is(key, sy_param_name((sy_param_t)k)))
            return k;
    if (sy_json_key_is(key, "max_completion_tokens"))
        return SY_PARAM_MAX_TOKENS;
    return -1;
}

const char *sy_params_patch_json(const sy_params_t *p, const char *body, size_t len, sy_arena_t *a,
                                 size_t *out_len)
{
    *out_len = len;
    if (!sy_params_any(p))
        return body;
    sy_jval_t doc = sy_json_value(body, len), key, val;
    if (doc.type != SY_JOBJECT)
        return body;
    /* what the body says of each parameter: its last number (the one a
     * parser keeps) */
    int has[SY_PARAM__N] = {0}, seen[SY_PARAM__N] = {0};
    double cur[SY_PARAM__N] = {0};
    size_t pos = 0;
    while (sy_json_next_member(&doc, &pos, &key, &val)) {
        int k = member_param(&key);
        if (k < 0)
            continue;
        seen[k] = 1;
        has[k] = (val.type == SY_JINT || val.type == SY_JDOUBLE) && sy_json_double(&val, &cur[k]) == 0;
    }
    double want[SY_PARAM__N];
    int change[SY_PARAM__N], any = 0;
    for (int k = 0; k < SY_PARAM__N; k++)
        any |= change[k] = sy_params_value(p, (sy_param_t)k, has[k], cur[k], &want[k]);
    if (!any)
        return body;

    edit_t ed[MAX_EDITS];
    size_t ne = 0;
    size_t open = (size_t)(doc.p - body) + 1; /* after '{' */
    for (int k = 0; k < SY_PARAM__N; k++)
        if (change[k] && !seen[k] && ne < MAX_EDITS)
            ed[ne++] = (edit_t){open, open, k, want[k], sy_param_name((sy_param_t)k)};
    pos = 0;
    while (sy_json_next_member(&doc, &pos, &key, &val)) {
        int k = member_param(&key);
        if (k < 0 || !change[k])
            continue;
        if (ne == MAX_EDITS)
            return NULL;
        size_t at = (size_t)(val.p - body);
        ed[ne++] = (edit_t){at, at + val.len, k, want[k], NULL};
    }
    /* an object with no member takes its inserts without a comma after the last */
    sy_jval_t probe;
    size_t ppos = 0;
    int empty = !sy_json_next_member(&doc, &ppos, &key, &probe);

    size_t cap = len + 1;
    for (size_t i = 0; i < ne; i++)
        cap += 64 + (ed[i].name ? strlen(ed[i].name) : 0);
    char *out = sy_arena_alloc(a, cap);
    if (!out)
        return NULL;
    size_t o = 0, from = 0, inserts = 0;
    for (size_t i = 0; i < ne; i++)
        inserts += ed[i].name != NULL;
    for (size_t i = 0; i < ne; i++) {
        const edit_t *e = &ed[i];
        memcpy(out + o, body + from, e->at - from);
        o += e->at - from;
        if (e->name) {
            o += (size_t)snprintf(out + o, cap - o, "\"%s\":", e->name);
            o += sy_params_format((sy_param_t)e->k, e->v, out + o, cap - o);
            if (!empty || --inserts > 0)
                out[o++] = ',';
        } else {
            o += sy_params_format((sy_param_t)e->k, e->v, out + o, cap - o);
        }
        from = e->end;
    }
    memcpy(out + o, body + from, len - from);
    o += len - from;
    out[o] = '\0';
    *out_len = o;
    return out;
}
