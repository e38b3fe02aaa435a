/*
 * plan.c - attempts, retries and fallbacks for one request (see plan.h).
 */
#include "router/plan.h"

#include <string.h>
#include <strings.h>

#define WAIT_POLL_NS 20000000ull /* when_all_open: wait, every deployment full: look again this often */

static const char *const context_words[] = {
    "context length", "context_length", "maximum context", "context window", "context size",
    "prompt is too long", "too many tokens",
};

/* Whether s holds w, ignoring ASCII case. */
static int has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (; *s; s++)
        if (strncasecmp(s, w, n) == 0)
            return 1;
    return 0;
}

sy_fail_kind_t sy_plan_classify(const sy_error_t *e)
{
    switch (e->code) {
    case SY_EUPCONNECT:
    case SY_EUPTIMEOUT:
    case SY_EUPCLOSED:
    case SY_EUPPROTO:
        return SY_FAIL_RETRY;
    case SY_ECLIENTGONE:
        return SY_FAIL_CLIENT;
    case SY_EUPSTATUS:
        if (e->status == 429 || e->status == 408 || e->status >= 500)
            return SY_FAIL_RETRY;
        if (e->status == 400 || e->status == 413 || e->status == 422)
            for (size_t i = 0; i < sizeof(context_words) / sizeof(context_words[0]); i++)
                if (has_word(e->message, context_words[i]))
                    return SY_FAIL_CONTEXT;
        return SY_FAIL_FINAL;
    default:
        return SY_FAIL_FINAL;
    }
}

uint64_t sy_backoff_ns(unsigned k, uint32_t base_ms, uint32_t max_ms, uint64_t rnd)
{
    uint64_t cap = base_ms;
    for (unsigned i = 0; i < k && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    cap *= 1000000ull;
    return rnd % (cap + 1);
}

const sy_route_conf_t *sy_plan_conf(const sy_plan_t *p)
{
    return p->asked == SY_PLAN_DIRECT ? &p->cfg->router : &p->cfg->models[p->cur].route;
}

const sy_model_conf_t *sy_plan_model(const sy_plan_t *p)
{
    return p->asked == SY_PLAN_DIRECT ? NULL : &p->cfg->models[p->cur];
}

int sy_plan_openai_only(const sy_plan_t *p)
{
    if (p->asked == SY_PLAN_DIRECT)
        return p->route.provider && p->route.provider->type == SY_PROVIDER_OPENAI;
    return p->rs->models[p->asked].openai_only;
}

const char *sy_plan_fallback(const sy_plan_t *p)
{
    return p->asked != SY_PLAN_DIRECT && p->cur != p->asked ? p->cfg->models[p->cur].name : NULL;
}

/* Route r to deployment d of the current model. */
static void fill_route(sy_plan_t *p, sy_route_t *r, int d)
{
    const sy_model_conf_t *m = &p->cfg->models[p->cur];
    const sy_deployment_conf_t *dc = &m->deployments[d];
    memset(r, 0, sizeof(*r));
    r->model = m;
    r->provider = &p->cfg->providers[dc->provider_index];
    r->upstream_model = dc->model;
}

/* e, on deployment d of the current model, is the plan's last failure:
 * the answer when nothing is left to try. */
static void remember_failure(sy_plan_t *p, const sy_error_t *e, int retry_after_s, int d, uint64_t now)
{
    p->failed = 1;
    p->last = *e;
    p->last_retry_after = retry_after_s;
    p->last_at = now;
    p->last_dep = d;
    p->last_model = p->cur;
}

sy_err_t sy_plan_init(sy_plan_t *p, sy_rstate_t *rs, const sy_config_t *cfg, const sy_disc_snap_t *disc,
                      const char *name, uint64_t now, sy_error_t *err)
{
    memset(p, 0, sizeof(*p));
    p->rs = rs;
    p->cfg = cfg;
    p->dep = -1;
    p->last_dep = -1;
    p->prompt_tokens = -1;
    p->max_tokens = -1;
    p->last_retry_after = -1;
    const sy_model_conf_t *m = sy_config_find_model(cfg, name ? name : "");
    if (m) {
        size_t i = 0;
        while (i < m->n_deployments && !sy_router_usable(cfg, &m->deployments[i]))
            i++;
        if (i == m->n_deployments) {
            /* every deployment disabled or weighed 0: the resolver says which */
            sy_route_t r;
            sy_err_t rc = sy_router_resolve_with(cfg, NULL, name, 0, &r, err);
            if (rc != SY_OK)
                return rc;
        }
        p->asked = p->cur = (size_t)(m - cfg->models);
        p->deadline = now + (uint64_t)m->route.timeout_ms * 1000000ull;
        return SY_OK;
    }
    sy_err_t rc = sy_router_resolve_with(cfg, disc, name, 0, &p->route, err);
    if (rc != SY_OK)
        return rc;
    p->asked = p->cur = SY_PLAN_DIRECT;
    p->deadline = now + (uint64_t)cfg->router.timeout_ms * 1000000ull;
    return SY_OK;
}

/* Move to stage k of the chain in force; 0 when there is none. The
 * caller counts the move (count_fallbacks) once it is sure of it. */
static int to_stage(sy_plan_t *p, int k)
{
    const sy_model_conf_t *a = &p->cfg->models[p->asked];
    size_t n = p->context ? a->n_context_fallbacks : a->n_fallbacks;
    const size_t *list = p->context ? a->context_fallbacks : a->fallbacks;
    if (k < 1 || (size_t)k > n)
        return 0;
    p->stage = k;
    p->cur = list[k - 1];
    p->model_attempts = 0;
    memset(p->avoid, 0, sizeof(p->avoid));
    return 1;
}

static void count_fallbacks(sy_plan_t *p, unsigned n)
{
    if (n)
        atomic_fetch_add_explicit(&p->rs->models[p->asked].fallbacks, n, memory_order_relaxed);
}

/* to_stage after a failure: the move is sure, count it. */
static int move_to(sy_plan_t *p, int k)
{
    if (!to_stage(p, k))
        return 0;
    count_fallbacks(p, 1);
    return 1;
}

/* The wait before a re-try that must honour the last failure's
 * Retry-After: at least until it ends, counted from when the failure came
 * (time spent waiting for a cooldown meanwhile counts). */
static uint64_t after_retry_after(const sy_plan_t *p, uint64_t now, uint64_t wait)
{
    if (p->last_retry_after <= 0)
        return wait;
    uint64_t until = p->last_at + (uint64_t)p->last_retry_after * 1000000000ull;
    return until > now + wait ? until - now : wait;
}

static sy_plan_act_t fail_last(sy_plan_t *p, sy_error_t *err, int *retry_after_s)
{
    *err = p->last;
    *retry_after_s = p->last_retry_after;
    return SY_PLAN_FAIL;
}

static sy_plan_act_t next_direct(sy_plan_t *p, uint64_t now, uint64_t rnd, uint64_t *delay_ns, sy_error_t *err,
                                 int *retry_after_s)
{
    const sy_route_conf_t *rc = &p->cfg->router;
    uint64_t d = 0;
    if (p->attempts) {
        d = after_retry_after(p, now, sy_backoff_ns(p->backoffs++, rc->backoff_ms, rc->max_backoff_ms, rnd));
        /* a Retry-After longer than a backoff is the client's to wait */
        if ((p->last_retry_after > 0 && (uint64_t)p->last_retry_after * 1000 > rc->max_backoff_ms) || now + d >= p->deadline)
            return fail_last(p, err, retry_after_s);
    }
    p->route.upstream_model = p->route.direct_model; /* the plan may have been copied */
    p->attempts++;
    p->model_attempts++;
    p->held = 1;
    p->first_byte = 0;
    p->sent_at = now + d;
    *delay_ns = d;
    return SY_PLAN_GO;
}

sy_plan_act_t sy_plan_next(sy_plan_t *p, uint64_t now, uint64_t rnd, uint64_t *delay_ns, sy_error_t *err,
                           int *retry_after_s)
{
    *delay_ns = 0;
    *retry_after_s = -1;
    if (p->hedge.held) { /* the same for a hedge */
        sy_error_t gone;
        sy_error_set(&gone, SY_ECLIENTGONE, NULL, NULL);
        sy_plan_hedge_drop(p, &gone, -1, now);
    }
    if (p->held) { /* the caller did not end the attempt: it says nothing */
        p->held = 0;
        if (p->dep >= 0)
            sy_rstate_end(p->rs, p->cur, (size_t)p->dep, p->probe, SY_OUT_NEUTRAL, -1, -1, now);
    }
    if (p->asked == SY_PLAN_DIRECT)
        return next_direct(p, now, rnd, delay_ns, err, retry_after_s);

    /* a pass may move along the fallbacks; a wait comes back to here */
    int start_stage = p->stage;
    size_t start_cur = p->cur;
    unsigned start_attempts = p->model_attempts, moved = 0;
    uint8_t start_avoid[sizeof(p->avoid)];
    memcpy(start_avoid, p->avoid, sizeof(start_avoid));
    uint64_t soonest = 0;
    int saturated = 0;
    for (;;) {
        const sy_model_conf_t *m = &p->cfg->models[p->cur];
        sy_pick_in_t in = {.now = now, .rnd = rnd, .avoid = p->avoid, .prompt_tokens = p->prompt_tokens,
                           .max_tokens = p->max_tokens};
        sy_pick_out_t out;
        int d = sy_rstate_pick(p->rs, p->cur, &in, &out);
        if (d >= 0) {
            uint64_t wait = 0;
            int give_back = 0;
            if (out.tried) {
                /* a second call to a deployment that failed: back off */
                wait = sy_backoff_ns(p->backoffs++, m->route.backoff_ms, m->route.max_backoff_ms, rnd >> 7);
                if (p->last_model == p->cur && p->last_dep == d && p->last_retry_after > 0) {
                    /* it said when: a wait longer than a backoff is the client's */
                    if ((uint64_t)p->last_retry_after * 1000 > m->route.max_backoff_ms)
                        give_back = 1;
                    else
                        wait = after_retry_after(p, now, wait);
                }
            }
            count_fallbacks(p, moved);
            if (give_back || now + wait >= p->deadline) {
                sy_rstate_unpick(p->rs, p->cur, (size_t)d, out.probe, now);
                return fail_last(p, err, retry_after_s);
            }
            fill_route(p, &p->route, d);
            p->dep = d;
            p->probe = out.probe;
            p->held = 1;
            p->first_byte = 0;
            p->sent_at = now + wait;
            p->avoid[d / 8] |= (uint8_t)(1u << (d % 8));
            if (p->attempts)
                atomic_fetch_add_explicit(&p->rs->models[p->asked].retries, 1, memory_order_relaxed);
            if (!p->model_attempts && m->hedge.on)
                sy_rstate_hedge_earn(p->rs, p->cur);
            p->attempts++;
            p->model_attempts++;
            *delay_ns = wait;
            return SY_PLAN_GO;
        }
        if (out.wait_until && (!soonest || out.wait_until < soonest))
            soonest = out.wait_until;
        saturated |= out.saturated;
        if (!to_stage(p, p->stage + 1))
            break;
        moved++;
    }

    /* nothing may be called now */
    const sy_route_conf_t *rc = &p->cfg->models[p->asked].route;
    uint64_t wait = soonest > now ? soonest - now : 0;
    if (saturated && (!wait || wait > WAIT_POLL_NS))
        wait = WAIT_POLL_NS;
    int may_wait = wait && now + wait < p->deadline &&
                   (rc->when_all_open == SY_ALL_OPEN_WAIT ||
                    (p->failed && wait <= (uint64_t)rc->max_backoff_ms * 1000000ull)); /* a breaker of ours */
    if (may_wait) {
        /* look again from where this pass began */
        p->stage = start_stage;
        p->cur = start_cur;
        p->model_attempts = start_attempts;
        memcpy(p->avoid, start_avoid, sizeof(p->avoid));
        *delay_ns = wait;
        return SY_PLAN_WAIT;
    }
    count_fallbacks(p, moved);
    if (p->failed)
        return fail_last(p, err, retry_after_s);
    atomic_fetch_add_explicit(&p->rs->models[p->asked].unavailable, 1, memory_order_relaxed);
    uint64_t secs = wait ? (wait + 999999999ull) / 1000000000ull : 1;
    *retry_after_s = (int)(secs > 86400 ? 86400 : secs);
    sy_error_set(err, SY_EUNAVAIL, NULL,
                 saturated && !soonest
                     ? "every deployment of model \"%.200s\"%s is at its limit (max_inflight, rpm or tpm); try again shortly"
                     : "every deployment of model \"%.200s\"%s is unavailable (circuit breakers open); try again later",
                 p->cfg->models[p->asked].name,
                 p->cfg->models[p->asked].n_fallbacks ? " and of its fallbacks" : "");
    return SY_PLAN_FAIL;
}

void sy_plan_first_byte(sy_plan_t *p, uint64_t now)
{
    if (!p->held || p->first_byte)
        return;
    p->first_byte = 1;
    if (p->dep >= 0)
        sy_rstate_first_byte(p->rs, p->cur, (size_t)p->dep, now > p->sent_at ? now - p->sent_at : 0, now);
}

int sy_plan_end(sy_plan_t *p, const sy_error_t *e, int retry_after_s, int64_t tokens, uint64_t now)
{
    if (!p->held)
        return 0;
    p->held = 0;
    sy_fail_kind_t kind = e ? sy_plan_classify(e) : SY_FAIL_FINAL;
    sy_outcome_t out = !e ? SY_OUT_OK : kind == SY_FAIL_RETRY ? SY_OUT_FAILED : SY_OUT_NEUTRAL;
    /* a deployment that times out before its first byte was at least that
     * slow: without the sample the latency strategy would see a deployment
     * that never answers as one with no figure yet, the fastest */
    if (e && e->code == SY_EUPTIMEOUT && !p->first_byte && p->dep >= 0)
        sy_rstate_first_byte(p->rs, p->cur, (size_t)p->dep, now > p->sent_at ? now - p->sent_at : 0, now);
    if (p->dep >= 0)
        sy_rstate_end(p->rs, p->cur, (size_t)p->dep, p->probe, out, tokens,
                      kind == SY_FAIL_RETRY && e ? retry_after_s : -1, now);
    if (!e || kind == SY_FAIL_CLIENT)
        return 0;
    remember_failure(p, e, retry_after_s, p->dep, now);
    if (now >= p->deadline || kind == SY_FAIL_FINAL)
        return 0;
    const sy_route_conf_t *rc = sy_plan_conf(p);
    if (p->asked == SY_PLAN_DIRECT)
        return kind == SY_FAIL_RETRY && p->model_attempts < 1 + rc->retries;
    if (kind == SY_FAIL_CONTEXT) {
        if (p->context)
            return move_to(p, p->stage + 1);
        p->context = 1;
        return move_to(p, 1);
    }
    if (p->model_attempts < 1 + rc->retries)
        return 1;
    return move_to(p, p->stage + 1);
}

/* ---- hedging ---- */

#define HEDGE_MIN_SAMPLES 20

/* Whether the current attempt may be hedged at all. */
static int hedges(const sy_plan_t *p)
{
    if (p->asked == SY_PLAN_DIRECT || !p->held || p->dep < 0 || p->first_byte)
        return 0;
    const sy_hedge_conf_t *h = &p->cfg->models[p->cur].hedge;
    return h->on && h->max_fraction > 0.0 && p->cfg->models[p->cur].n_deployments >= 2;
}

uint64_t sy_plan_hedge_after(sy_plan_t *p, uint64_t now)
{
    if (!hedges(p))
        return 0;
    const sy_hedge_conf_t *h = &p->cfg->models[p->cur].hedge;
    uint64_t t = 0;
    if (h->percentile)
        t = sy_rstate_ttfb_pct(p->rs, p->cur, (size_t)p->dep, h->percentile, HEDGE_MIN_SAMPLES, now);
    if (!t)
        t = (uint64_t)h->after_ms * 1000000ull;
    return t;
}

int sy_plan_hedge(sy_plan_t *p, uint64_t now, uint64_t rnd)
{
    if (p->hedge.held || !hedges(p) || now >= p->deadline)
        return 0;
    /* only somewhere this request has not been, and that is not asking to
     * be left alone */
    sy_pick_in_t in = {.now = now, .rnd = rnd, .avoid = p->avoid, .prompt_tokens = p->prompt_tokens,
                       .max_tokens = p->max_tokens, .fresh_only = 1};
    sy_pick_out_t out;
    if (!sy_rstate_hedge_ready(p->rs, p->cur))
        return 0;
    int d = sy_rstate_pick(p->rs, p->cur, &in, &out);
    if (d < 0)
        return 0;
    if (!sy_rstate_hedge_take(p->rs, p->cur)) { /* another request spent it meanwhile */
        sy_rstate_unpick(p->rs, p->cur, (size_t)d, out.probe, now);
        return 0;
    }
    fill_route(p, &p->hedge.route, d);
    p->hedge.dep = d;
    p->hedge.probe = out.probe;
    p->hedge.held = 1;
    p->hedge.sent_at = now;
    p->avoid[d / 8] |= (uint8_t)(1u << (d % 8));
    p->attempts++; /* an attempt, not a re-try: the retries budget is untouched */
    return 1;
}

/* End a call on deployment d of the current model (-1: none, already
 * ended) that was sent at sent_at, as e says: NULL when it lost a race -
 * its wait so far is a latency sample (it was at least this slow) but no
 * failure - else its failure, which becomes the plan's last. */
static void end_call(sy_plan_t *p, int d, int probe, uint64_t sent_at, const sy_error_t *e, int retry_after_s,
                     uint64_t now)
{
    sy_fail_kind_t kind = e ? sy_plan_classify(e) : SY_FAIL_CLIENT;
    sy_outcome_t out = kind == SY_FAIL_RETRY ? SY_OUT_FAILED : SY_OUT_NEUTRAL;
    if (d >= 0) {
        if (!e)
            sy_rstate_first_byte(p->rs, p->cur, (size_t)d, now > sent_at ? now - sent_at : 0, now);
        sy_rstate_end(p->rs, p->cur, (size_t)d, probe, out, -1, kind == SY_FAIL_RETRY ? retry_after_s : -1, now);
    }
    if (e && kind != SY_FAIL_CLIENT)
        remember_failure(p, e, retry_after_s, d, now);
}

void sy_plan_hedge_drop(sy_plan_t *p, const sy_error_t *e, int retry_after_s, uint64_t now)
{
    if (!p->hedge.held)
        return;
    p->hedge.held = 0;
    end_call(p, p->hedge.dep, p->hedge.probe, p->hedge.sent_at, e, retry_after_s, now);
}

void sy_plan_hedge_promote(sy_plan_t *p, const sy_error_t *e, int retry_after_s, uint64_t now)
{
    if (!p->hedge.held)
        return;
    end_call(p, p->held ? p->dep : -1, p->probe, p->sent_at, e, retry_after_s, now);
    if (!e)
        atomic_fetch_add_explicit(&p->rs->models[p->cur].hedge_wins, 1, memory_order_relaxed);
    p->route = p->hedge.route;
    p->dep = p->hedge.dep;
    p->probe = p->hedge.probe;
    p->sent_at = p->hedge.sent_at;
    p->held = 1;
    p->first_byte = 0;
    p->hedge.held = 0;
}
