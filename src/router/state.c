/*
 * state.c - deployments' live state and the strategies (see state.h).
 *
 * A pick is two passes over the model's deployments: the first sorts each
 * into ready, cooling, open or full and keeps the ready ones (untried
 * first); the second applies the strategy to that short list. Ties (equal
 * in-flight counts, prices, headroom) are broken by a weighted draw so that
 * equal deployments share the load in proportion to their weights.
 */
#include "router/state.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"
#include "core/log.h"
#include "telemetry/metrics.h"
#include "providers/health.h"
#include "router/router.h"

#define MINUTE_NS 60000000000ull
#define DEFAULT_ANSWER_TOKENS 512 /* the cost strategy's guess when max_tokens is unsaid */
#define HEDGE_UNIT 1000000ll      /* one hedge in hedge_credit */

static void dstate_release(sy_dstate_t *d)
{
    sy_breaker_release(&d->cb);
    pthread_mutex_destroy(&d->mu);
}

void sy_rstate_free(sy_rstate_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->models && i < s->cfg->n_models; i++) {
        sy_mstate_t *ms = &s->models[i];
        for (size_t j = 0; ms->deps && j < s->cfg->models[i].n_deployments; j++)
            dstate_release(&ms->deps[j]);
        free(ms->deps);
        free(ms->ttfb);
        free(ms->cum);
    }
    free(s->models);
    free(s);
}

static int deps_openai(const sy_config_t *cfg, const sy_model_conf_t *m)
{
    for (size_t j = 0; j < m->n_deployments; j++) {
        size_t pi = m->deployments[j].provider_index;
        if (pi >= cfg->n_providers || cfg->providers[pi].type != SY_PROVIDER_OPENAI)
            return 0;
    }
    return 1;
}

/* Whether every deployment m and its fallbacks may send to speaks OpenAI
 * (the client's bytes can then be passed through whichever answers). */
static int openai_only(const sy_config_t *cfg, const sy_model_conf_t *m)
{
    int ok = deps_openai(cfg, m);
    for (size_t k = 0; ok && k < m->n_fallbacks; k++)
        ok = deps_openai(cfg, &cfg->models[m->fallbacks[k]]);
    for (size_t k = 0; ok && k < m->n_context_fallbacks; k++)
        ok = deps_openai(cfg, &cfg->models[m->context_fallbacks[k]]);
    return ok;
}

sy_rstate_t *sy_rstate_new(const sy_config_t *cfg)
{
    sy_rstate_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = cfg;
    if (cfg->n_models && !(s->models = calloc(cfg->n_models, sizeof(*s->models)))) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_models; i++) {
        const sy_model_conf_t *m = &cfg->models[i];
        const sy_route_conf_t *rc = &m->route;
        sy_mstate_t *ms = &s->models[i];
        ms->openai_only = openai_only(cfg, m);
        for (size_t j = 0; j < m->n_deployments; j++) {
            size_t pi = m->deployments[j].provider_index;
            ms->probed |= pi < cfg->n_providers && sy_health_probed(&cfg->providers[pi]);
        }
        atomic_init(&ms->hedge_credit, HEDGE_UNIT);
        if (!m->n_deployments)
            continue;
        if (!(ms->ttfb = calloc(m->n_deployments * 2 * SY_TTFB_BUCKETS, sizeof(*ms->ttfb))) ||
            !(ms->cum = calloc(m->n_deployments, sizeof(*ms->cum))))
            goto fail;
        uint64_t sum = 0;
        for (size_t j = 0; j < m->n_deployments && j < SY_ROUTER_MAX_CAND; j++) {
            if (sy_router_usable(cfg, &m->deployments[j]))
                sum += m->deployments[j].weight;
            ms->cum[j] = sum;
        }
        ms->deps = aligned_alloc(64, m->n_deployments * sizeof(*ms->deps));
        if (!ms->deps)
            goto fail;
        memset(ms->deps, 0, m->n_deployments * sizeof(*ms->deps));
        for (size_t j = 0; j < m->n_deployments; j++) {
            sy_dstate_t *d = &ms->deps[j];
            d->enabled = sy_router_usable(cfg, &m->deployments[j]);
            d->ttfb_cur = ms->ttfb + j * 2 * SY_TTFB_BUCKETS;
            d->ttfb_prev = d->ttfb_cur + SY_TTFB_BUCKETS;
            if (sy_breaker_init(&d->cb, rc->cb_failures, (uint64_t)rc->cb_window_s * 1000000000ull,
                                (uint64_t)rc->cb_cooldown_s * 1000000000ull) < 0)
                goto fail_dep;
            if (pthread_mutex_init(&d->mu, NULL) != 0) {
                sy_breaker_release(&d->cb);
                goto fail_dep;
            }
            continue;
        fail_dep:
            while (j-- > 0)
                dstate_release(&ms->deps[j]);
            free(ms->deps);
            ms->deps = NULL;
            goto fail;
        }
    }
    return s;
fail:
    sy_rstate_free(s);
    return NULL;
}

sy_dstate_t *sy_rstate_dep(sy_rstate_t *s, size_t m, size_t d)
{
    return &s->models[m].deps[d];
}

/* ---- the minute window ---- */

/* Requests (or tokens) of the last sixty seconds at now: the current
 * minute's plus the part of the previous one still inside the window. */
static uint64_t window_used(const sy_dstate_t *d, const atomic_ullong *cur, const atomic_ullong *prev,
                            uint64_t now)
{
    uint64_t start = atomic_load_explicit(&d->win_start, memory_order_relaxed);
    uint64_t c = atomic_load_explicit(cur, memory_order_relaxed);
    uint64_t p = atomic_load_explicit(prev, memory_order_relaxed);
    uint64_t age = now > start ? now - start : 0;
    if (age >= 2 * MINUTE_NS)
        return 0;
    if (age >= MINUTE_NS) /* the current minute is the previous one now */
        return (uint64_t)((double)c * (1.0 - (double)(age - MINUTE_NS) / (double)MINUTE_NS));
    return c + (uint64_t)((double)p * (1.0 - (double)age / (double)MINUTE_NS));
}

static void window_roll(sy_dstate_t *d, uint64_t now)
{
    if (now < atomic_load_explicit(&d->win_start, memory_order_relaxed) + MINUTE_NS)
        return;
    pthread_mutex_lock(&d->mu);
    uint64_t start = atomic_load(&d->win_start);
    if (now >= start + MINUTE_NS) {
        int one = now < start + 2 * MINUTE_NS;
        /* exchanged: a count added meanwhile (without the mutex) is kept */
        uint64_t req = atomic_exchange(&d->req_cur, 0), tok = atomic_exchange(&d->tok_cur, 0);
        atomic_store(&d->req_prev, one ? req : 0);
        atomic_store(&d->tok_prev, one ? tok : 0);
        atomic_store(&d->win_start, one ? start + MINUTE_NS : now);
    }
    pthread_mutex_unlock(&d->mu);
}

/* ---- picking ---- */

enum { READY, COOLING, OPEN, FULL, NEVER };

/* What deployment d may do now; *until is when a cooling or open one may
 * be called. */
static int dep_status(sy_rstate_t *s, const sy_deployment_conf_t *dc, sy_dstate_t *d, const sy_pick_in_t *in,
                      uint64_t *until)
{
    if (!d->enabled)
        return NEVER;
    if (!sy_breaker_allows(&d->cb, in->now)) {
        *until = sy_breaker_reopens_at(&d->cb); /* 0: half-open with its probe out */
        return OPEN;
    }
    if (dc->max_inflight && (uint32_t)atomic_load_explicit(&d->inflight, memory_order_relaxed) >= dc->max_inflight)
        return FULL;
    if (dc->rpm && window_used(d, &d->req_cur, &d->req_prev, in->now) + 1 > dc->rpm)
        return FULL;
    if (dc->tpm) {
        uint64_t want = in->prompt_tokens > 0 ? (uint64_t)in->prompt_tokens : 0;
        uint64_t used = window_used(d, &d->tok_cur, &d->tok_prev, in->now);
        if (used + want > dc->tpm || used >= dc->tpm)
            return FULL;
    }
    /* cooling only after the limits: a full deployment is never chosen,
     * not even as the last resort a cooling one is */
    uint64_t cool = atomic_load_explicit(&d->cool_until, memory_order_relaxed);
    if (cool > in->now) {
        *until = cool;
        return COOLING;
    }
    return READY;
}

/* A weighted draw among cand[0..n). */
static int draw(const sy_model_conf_t *m, const int *cand, int n, uint64_t rnd)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += m->deployments[cand[i]].weight;
    if (total == 0)
        return cand[rnd % (uint64_t)n];
    uint64_t x = rnd % total;
    for (int i = 0; i < n; i++) {
        uint32_t w = m->deployments[cand[i]].weight;
        if (x < w)
            return cand[i];
        x -= w;
    }
    return cand[n - 1];
}

/* Keep in cand the entries with the lowest score (ties kept), then draw. */
static int lowest(const sy_model_conf_t *m, int *cand, int n, const double *score, uint64_t rnd)
{
    double best = INFINITY;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (score[i] < best)
            best = score[i];
    for (int i = 0; i < n; i++)
        if (score[i] == best)
            cand[k++] = cand[i];
    return draw(m, cand, k ? k : n, rnd);
}

static double headroom(const sy_deployment_conf_t *dc, sy_dstate_t *d, const sy_pick_in_t *in)
{
    double h = 1.0;
    if (dc->rpm) {
        double u = (double)(window_used(d, &d->req_cur, &d->req_prev, in->now) + 1) / (double)dc->rpm;
        h = fmin(h, 1.0 - u);
    }
    if (dc->tpm) {
        uint64_t want = in->prompt_tokens > 0 ? (uint64_t)in->prompt_tokens : 0;
        double u = (double)(window_used(d, &d->tok_cur, &d->tok_prev, in->now) + want) / (double)dc->tpm;
        h = fmin(h, 1.0 - u);
    }
    return h;
}

/* The strategy among the ready deployments cand[0..n) (n >= 1). */
static int choose(sy_rstate_t *s, size_t mi, int *cand, int n, const sy_pick_in_t *in)
{
    const sy_model_conf_t *m = &s->cfg->models[mi];
    sy_mstate_t *ms = &s->models[mi];
    double score[SY_ROUTER_MAX_CAND];
    if (n == 1)
        return cand[0];
    switch (m->route.strategy) {
    case SY_STRATEGY_ROUND_ROBIN:
        return cand[atomic_fetch_add_explicit(&ms->rr, 1, memory_order_relaxed) % (uint64_t)n];
    case SY_STRATEGY_LEAST_INFLIGHT:
        for (int i = 0; i < n; i++)
            score[i] = atomic_load_explicit(&ms->deps[cand[i]].inflight, memory_order_relaxed);
        return lowest(m, cand, n, score, in->rnd);
    case SY_STRATEGY_LATENCY: {
        /* power of two choices on peak-EWMA x (in flight + 1) */
        int a = cand[in->rnd % (uint64_t)n];
        int bi = (int)((in->rnd >> 32) % (uint64_t)(n - 1));
        int b = cand[bi >= (int)(in->rnd % (uint64_t)n) ? bi + 1 : bi];
        sy_dstate_t *da = &ms->deps[a], *db = &ms->deps[b];
        double ca = (double)atomic_load_explicit(&da->ewma_ns, memory_order_relaxed) *
                    (atomic_load_explicit(&da->inflight, memory_order_relaxed) + 1);
        double cb = (double)atomic_load_explicit(&db->ewma_ns, memory_order_relaxed) *
                    (atomic_load_explicit(&db->inflight, memory_order_relaxed) + 1);
        return cb < ca ? b : a;
    }
    case SY_STRATEGY_COST: {
        double p = in->prompt_tokens > 0 ? (double)in->prompt_tokens : 1.0;
        double o = in->max_tokens > 0 ? (double)in->max_tokens : DEFAULT_ANSWER_TOKENS;
        for (int i = 0; i < n; i++) {
            const sy_deployment_conf_t *dc = &m->deployments[cand[i]];
            score[i] = dc->priced ? dc->price_in * p + dc->price_out * o : INFINITY;
        }
        return lowest(m, cand, n, score, in->rnd);
    }
    case SY_STRATEGY_USAGE:
        for (int i = 0; i < n; i++)
            score[i] = -headroom(&m->deployments[cand[i]], &ms->deps[cand[i]], in);
        return lowest(m, cand, n, score, in->rnd);
    default:
        return draw(m, cand, n, in->rnd);
    }
}

/* ---- health (providers/health.h), layered on the strategy ----
 *
 * Called between sorting the deployments and choosing. First, a deployment
 * whose provider's probes say down leaves every list while some candidate
 * in any list is not down (when all are, all stay: a probe can be wrong,
 * and refusing on its word alone would turn its mistake into an outage).
 * Then, in each list, when some deployment is preferred (model loaded,
 * idle slot) those known not to be are dropped; deployments without data
 * (cloud, no probe yet) stay, so a loaded local server is preferred to an
 * unloaded one, not to the cloud. Atomic loads only. */
static void health_filter(sy_rstate_t *s, size_t mi, int *lists[3], int *counts[3])
{
    const sy_health_t *h = s->health;
    const sy_model_conf_t *m = &s->cfg->models[mi];
    int up = 0, down = 0;
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < *counts[l]; i++) {
            if (sy_health_state(h, m->deployments[lists[l][i]].provider_index) == SY_HEALTH_DOWN)
                down++;
            else
                up++;
        }
    for (int l = 0; l < 3; l++) {
        int *c = lists[l], n = *counts[l], k = 0, best = -1;
        for (int i = 0; i < n; i++) {
            if (down && up && sy_health_state(h, m->deployments[c[i]].provider_index) == SY_HEALTH_DOWN)
                continue;
            c[k++] = c[i];
            int p = sy_health_pref(h, mi, (size_t)c[i]);
            if (p > best)
                best = p;
        }
        n = k;
        if (best > 0) {
            k = 0;
            for (int i = 0; i < n; i++)
                if (sy_health_pref(h, mi, (size_t)c[i]) >= 0)
                    c[k++] = c[i];
            n = k;
        }
        *counts[l] = n;
    }
}

/* Take d: in flight, this minute's request and, half-open, the probe.
 * Returns the probe flag, or -1 when d is full (max_inflight, 0: no
 * bound) or its breaker refused. The in-flight slot is taken with a
 * compare-and-swap: two workers that both saw one free slot cannot both
 * take it (the loser's pick looks again). */
static int enter(sy_dstate_t *d, uint32_t max_inflight, uint64_t now)
{
    int cur = atomic_load_explicit(&d->inflight, memory_order_relaxed);
    do {
        if (max_inflight && (uint32_t)cur >= max_inflight)
            return -1;
    } while (!atomic_compare_exchange_weak_explicit(&d->inflight, &cur, cur + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    int probe = sy_breaker_enter(&d->cb, now);
    if (probe < 0) {
        atomic_fetch_sub_explicit(&d->inflight, 1, memory_order_relaxed);
        return -1;
    }
    atomic_fetch_add_explicit(&d->calls, 1, memory_order_relaxed);
    window_roll(d, now);
    atomic_fetch_add_explicit(&d->req_cur, 1, memory_order_relaxed);
    return probe;
}

int sy_rstate_enter(sy_rstate_t *s, size_t m, size_t d, uint64_t now)
{
    return enter(&s->models[m].deps[d], s->cfg->models[m].deployments[d].max_inflight, now);
}

/* The deployments of model mi that may be called, by status: untried
 * (fresh), tried by this request (used), cooling; health preferences
 * applied. deps (may be NULL) gets each one's status. out (may be NULL)
 * says when an open breaker lets a probe through and whether one was only
 * full. */
typedef struct cands {
    int fresh[SY_ROUTER_MAX_CAND], used[SY_ROUTER_MAX_CAND], cool[SY_ROUTER_MAX_CAND];
    int nf, nu, nc;
} cands_t;

static void sort_cands(sy_rstate_t *s, size_t mi, const sy_pick_in_t *in, cands_t *c, sy_pick_out_t *out,
                       int *status)
{
    const sy_model_conf_t *m = &s->cfg->models[mi];
    sy_mstate_t *ms = &s->models[mi];
    size_t n = m->n_deployments < SY_ROUTER_MAX_CAND ? m->n_deployments : SY_ROUTER_MAX_CAND;
    c->nf = c->nu = c->nc = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t until = 0;
        int st = dep_status(s, &m->deployments[i], &ms->deps[i], in, &until);
        if (status)
            status[i] = st;
        if (st == READY) {
            if (in->avoid && (in->avoid[i / 8] >> (i % 8)) & 1)
                c->used[c->nu++] = (int)i;
            else
                c->fresh[c->nf++] = (int)i;
        } else if (st == COOLING) {
            c->cool[c->nc++] = (int)i;
        } else if (st == OPEN && out) {
            if (until && (!out->wait_until || until < out->wait_until))
                out->wait_until = until;
        } else if (st == FULL && out) {
            out->saturated = 1;
        }
    }
    if (s->health && ms->probed && (c->nf || c->nu || c->nc))
        health_filter(s, mi, (int *[3]){c->fresh, c->used, c->cool}, (int *[3]){&c->nf, &c->nu, &c->nc});
}

/*
 * The weighted strategy's shortcut, which most picks take: draw among every
 * enabled deployment by weight (a binary search of the sums) and take the
 * one drawn when it is ready and untried - without looking at the others.
 * When it is not, the full walk draws again among those that are, on
 * rnd / total, which the first draw (rnd % total) says nothing of: the
 * first draw is then rejection sampling, and the chance of each ready
 * deployment stays its share of their weights. With every deployment ready
 * the pick is the full walk's (the same draw of rnd over the same order).
 * Health preferences need the others: no shortcut for a model with a
 * deployment on a probed provider.
 * Returns the entered deployment, or -1 with *total the weights drawn
 * among (0: no draw was made).
 */
static int pick_drawn(sy_rstate_t *s, size_t mi, const sy_pick_in_t *in, sy_pick_out_t *out, uint64_t *total)
{
    const sy_model_conf_t *m = &s->cfg->models[mi];
    sy_mstate_t *ms = &s->models[mi];
    size_t n = m->n_deployments < SY_ROUTER_MAX_CAND ? m->n_deployments : SY_ROUTER_MAX_CAND;
    *total = n ? ms->cum[n - 1] : 0;
    if (!*total)
        return -1;
    uint64_t x = in->rnd % *total;
    size_t lo = 0, hi = n - 1; /* the first with cum > x */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ms->cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    int d = (int)lo;
    uint64_t until = 0;
    if ((in->avoid && (in->avoid[d / 8] >> (d % 8)) & 1) ||
        dep_status(s, &m->deployments[d], &ms->deps[d], in, &until) != READY)
        return -1;
    int probe = enter(&ms->deps[d], m->deployments[d].max_inflight, in->now);
    if (probe < 0)
        return -1;
    out->dep = d;
    out->probe = probe;
    return d;
}

int sy_rstate_pick(sy_rstate_t *s, size_t mi, const sy_pick_in_t *in, sy_pick_out_t *out)
{
    sy_mstate_t *ms = &s->models[mi];
    cands_t c;
    sy_pick_in_t again;
    memset(out, 0, sizeof(*out));
    out->dep = -1;
    uint64_t total;
    if (s->cfg->models[mi].route.strategy == SY_STRATEGY_WEIGHTED && !(s->health && ms->probed)) {
        if (pick_drawn(s, mi, in, out, &total) >= 0)
            return out->dep;
        if (total) {
            again = *in;
            again.rnd = in->rnd / total;
            in = &again;
        }
    }
    for (int attempt = 0; attempt < 4; attempt++) {
        out->wait_until = 0;
        out->saturated = 0;
        sort_cands(s, mi, in, &c, out, NULL);
        if (in->fresh_only)
            c.nu = c.nc = 0;
        if (!c.nf && !c.nu && !c.nc)
            return -1;
        /* a cooling deployment is only avoided, never refused: it is
         * chosen when nothing else may be called */
        int d = c.nf   ? choose(s, mi, c.fresh, c.nf, in)
                : c.nu ? choose(s, mi, c.used, c.nu, in)
                       : choose(s, mi, c.cool, c.nc, in);
        int probe = enter(&ms->deps[d], s->cfg->models[mi].deployments[d].max_inflight, in->now);
        if (probe < 0)
            continue; /* another request took the probe or the last slot between the two looks: again */
        out->dep = d;
        out->saturated = 0;
        out->tried = in->avoid && (in->avoid[d / 8] >> (d % 8)) & 1;
        out->probe = probe;
        out->cooling = !c.nf && !c.nu;
        return d;
    }
    return -1;
}

void sy_rstate_unpick(sy_rstate_t *s, size_t m, size_t di, int probe, uint64_t now)
{
    sy_dstate_t *d = &s->models[m].deps[di];
    atomic_fetch_sub_explicit(&d->inflight, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&d->calls, 1, memory_order_relaxed);
    uint64_t cur = atomic_load_explicit(&d->req_cur, memory_order_relaxed);
    while (cur && !atomic_compare_exchange_weak(&d->req_cur, &cur, cur - 1))
        ; /* a minute that turned meanwhile already forgot it */
    if (probe)
        sy_breaker_end(&d->cb, probe, 0, 0, now);
}

/* ---- outcomes ---- */

/* The histogram bucket of a time to first byte: the first i with
 * ttfb < 1 ms * 1.2^i. */
static int ttfb_bucket(uint64_t ttfb)
{
    if (ttfb < 1000000u)
        return 0;
    int i = 1 + (int)(log((double)ttfb / 1e6) / log(1.2));
    return i >= SY_TTFB_BUCKETS ? SY_TTFB_BUCKETS - 1 : i;
}

/* Bucket i's upper bound, in nanoseconds. */
static uint64_t ttfb_bound(int i)
{
    return (uint64_t)(1e6 * pow(1.2, i));
}

/* Start a new minute of the histogram when the current one is over (under
 * d->mu). */
static void ttfb_roll(sy_dstate_t *d, uint64_t now)
{
    uint64_t start = atomic_load_explicit(&d->ttfb_start, memory_order_relaxed);
    if (now < start + MINUTE_NS)
        return;
    int one = now < start + 2 * MINUTE_NS;
    for (int i = 0; i < SY_TTFB_BUCKETS; i++) {
        unsigned c = atomic_exchange_explicit(&d->ttfb_cur[i], 0, memory_order_relaxed);
        atomic_store_explicit(&d->ttfb_prev[i], one ? c : 0, memory_order_relaxed);
    }
    atomic_store_explicit(&d->ttfb_start, one ? start + MINUTE_NS : now, memory_order_relaxed);
}

void sy_rstate_first_byte(sy_rstate_t *s, size_t m, size_t di, uint64_t ttfb, uint64_t now)
{
    sy_dstate_t *d = &s->models[m].deps[di];
    atomic_fetch_add_explicit(&d->first_bytes, 1, memory_order_relaxed);
    pthread_mutex_lock(&d->mu);
    uint64_t cur = atomic_load_explicit(&d->ewma_ns, memory_order_relaxed);
    uint64_t next;
    if (cur == 0 || ttfb > cur) {
        next = ttfb ? ttfb : 1; /* peak: a slower sample counts at once */
    } else {
        double w = exp(-(double)(now > d->ewma_at ? now - d->ewma_at : 0) / (double)SY_EWMA_TAU_NS);
        next = (uint64_t)((double)cur * w + (double)ttfb * (1.0 - w));
        if (!next)
            next = 1;
    }
    d->ewma_at = now;
    atomic_store_explicit(&d->ewma_ns, next, memory_order_relaxed);
    ttfb_roll(d, now);
    atomic_fetch_add_explicit(&d->ttfb_cur[ttfb_bucket(ttfb)], 1, memory_order_relaxed);
    pthread_mutex_unlock(&d->mu);
}

uint64_t sy_rstate_ttfb_pct(sy_rstate_t *s, size_t m, size_t di, unsigned pct, unsigned min_samples, uint64_t now)
{
    sy_dstate_t *d = &s->models[m].deps[di];
    uint32_t n[SY_TTFB_BUCKETS];
    uint64_t total = 0;
    /* unlocked: a sample landing meanwhile moves the answer by one bucket at most */
    uint64_t start = atomic_load_explicit(&d->ttfb_start, memory_order_relaxed);
    int stale = now >= start + 2 * MINUTE_NS, one = !stale && now >= start + MINUTE_NS;
    for (int i = 0; i < SY_TTFB_BUCKETS; i++) {
        n[i] = stale ? 0 : atomic_load_explicit(&d->ttfb_cur[i], memory_order_relaxed);
        if (!stale && !one)
            n[i] += atomic_load_explicit(&d->ttfb_prev[i], memory_order_relaxed);
        total += n[i];
    }
    if (!total || total < min_samples)
        return 0;
    uint64_t want = (total * pct + 99) / 100, seen = 0;
    for (int i = 0; i < SY_TTFB_BUCKETS; i++)
        if ((seen += n[i]) >= want)
            return ttfb_bound(i);
    return ttfb_bound(SY_TTFB_BUCKETS - 1);
}

void sy_rstate_hedge_earn(sy_rstate_t *s, size_t m)
{
    sy_mstate_t *ms = &s->models[m];
    long long add = (long long)(s->cfg->models[m].hedge.max_fraction * (double)HEDGE_UNIT);
    long long c = atomic_load_explicit(&ms->hedge_credit, memory_order_relaxed);
    while (c < HEDGE_UNIT &&
           !atomic_compare_exchange_weak_explicit(&ms->hedge_credit, &c, c + add > HEDGE_UNIT ? HEDGE_UNIT : c + add,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

int sy_rstate_hedge_ready(sy_rstate_t *s, size_t m)
{
    return atomic_load_explicit(&s->models[m].hedge_credit, memory_order_relaxed) >= HEDGE_UNIT;
}

int sy_rstate_hedge_take(sy_rstate_t *s, size_t m)
{
    sy_mstate_t *ms = &s->models[m];
    long long c = atomic_load_explicit(&ms->hedge_credit, memory_order_relaxed);
    do {
        if (c < HEDGE_UNIT)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&ms->hedge_credit, &c, c - HEDGE_UNIT, memory_order_relaxed,
                                                    memory_order_relaxed));
    atomic_fetch_add_explicit(&ms->hedges, 1, memory_order_relaxed);
    return 1;
}

static void log_change(sy_rstate_t *s, size_t m, size_t di, int st, uint64_t now)
{
    const sy_model_conf_t *mc = &s->cfg->models[m];
    const sy_deployment_conf_t *dc = &mc->deployments[di];
    int level = st == SY_CB_CLOSED ? SY_LOG_INFO : SY_LOG_WARN;
    if (!sy_log_enabled(level))
        return;
    sy_logline_t l;
    sy_logline_begin(&l, level,
                     st == SY_CB_OPEN ? "circuit open" : st == SY_CB_CLOSED ? "circuit closed" : "circuit half-open");
    sy_logline_str(&l, "model", mc->name);
    sy_logline_str(&l, "provider", dc->provider);
    sy_logline_str(&l, "deployment", dc->model);
    if (st == SY_CB_OPEN) {
        uint64_t until = sy_breaker_reopens_at(&s->models[m].deps[di].cb);
        sy_logline_int(&l, "failures", mc->route.cb_failures);
        sy_logline_int(&l, "window_s", mc->route.cb_window_s);
        sy_logline_ms(&l, "cooldown_ms", until > now ? (double)(until - now) / 1e6 : 0);
    }
    sy_logline_end(&l);
}

void sy_rstate_end(sy_rstate_t *s, size_t m, size_t di, int probe, sy_outcome_t out, int64_t tokens,
                   int retry_after_s, uint64_t now)
{
    sy_dstate_t *d = &s->models[m].deps[di];
    atomic_fetch_sub_explicit(&d->inflight, 1, memory_order_relaxed);
    if (out == SY_OUT_FAILED)
        atomic_fetch_add_explicit(&d->failures, 1, memory_order_relaxed);
    if (tokens > 0) {
        window_roll(d, now);
        atomic_fetch_add_explicit(&d->tok_cur, (uint64_t)tokens, memory_order_relaxed);
    }
    if (retry_after_s > 0) {
        uint64_t until = now + (uint64_t)retry_after_s * 1000000000ull;
        uint64_t cur = atomic_load_explicit(&d->cool_until, memory_order_relaxed);
        while (until > cur && !atomic_compare_exchange_weak(&d->cool_until, &cur, until))
            ;
    }
    int st = sy_breaker_end(&d->cb, probe, out == SY_OUT_OK, out == SY_OUT_FAILED, now);
    if (st >= 0)
        log_change(s, m, di, st, now);
}

/* ---- reporting ---- */

void sy_rstate_json(sy_rstate_t *s, uint64_t now, struct evbuffer *b)
{
    const sy_config_t *cfg = s->cfg;
    evbuffer_add(b, "{\"models\":[", 11);
    for (size_t i = 0; i < cfg->n_models; i++) {
        const sy_model_conf_t *m = &cfg->models[i];
        sy_mstate_t *ms = &s->models[i];
        evbuffer_add(b, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
        sy_jw_cstr(b, m->name);
        evbuffer_add_printf(b, ",\"strategy\":\"%s\",\"retries\":%llu,\"fallbacks\":%llu,\"unavailable\":%llu,"
                               "\"hedges\":%llu,\"hedge_wins\":%llu,\"deployments\":[",
                            sy_strategy_name(m->route.strategy), (unsigned long long)atomic_load(&ms->retries),
                            (unsigned long long)atomic_load(&ms->fallbacks),
                            (unsigned long long)atomic_load(&ms->unavailable),
                            (unsigned long long)atomic_load(&ms->hedges),
                            (unsigned long long)atomic_load(&ms->hedge_wins));
        for (size_t j = 0; j < m->n_deployments; j++) {
            const sy_deployment_conf_t *dc = &m->deployments[j];
            sy_dstate_t *d = &ms->deps[j];
            uint64_t reopen = sy_breaker_reopens_at(&d->cb);
            uint64_t cool = atomic_load(&d->cool_until);
            evbuffer_add(b, j ? ",{\"provider\":" : "{\"provider\":", j ? 13 : 12);
            sy_jw_cstr(b, dc->provider);
            evbuffer_add(b, ",\"model\":", 9);
            sy_jw_cstr(b, dc->model);
            evbuffer_add_printf(
                b,
                ",\"weight\":%u,\"circuit\":\"%s\",\"circuit_opens\":%llu,\"reopens_in_ms\":%llu,\"cooldown_ms\":%llu,"
                "\"inflight\":%d,\"calls\":%llu,\"failures\":%llu,\"ttfb_ewma_ms\":%.3f,\"rpm_used\":%llu,"
                "\"tpm_used\":%llu,\"ttfb_p50_ms\":%.3f,\"ttfb_p95_ms\":%.3f}",
                dc->weight, sy_cb_state_name(sy_breaker_state(&d->cb, now)), (unsigned long long)atomic_load(&d->cb.opens),
                (unsigned long long)(reopen > now ? (reopen - now) / 1000000u : 0),
                (unsigned long long)(cool > now ? (cool - now) / 1000000u : 0), atomic_load(&d->inflight),
                (unsigned long long)atomic_load(&d->calls), (unsigned long long)atomic_load(&d->failures),
                (double)atomic_load(&d->ewma_ns) / 1e6,
                (unsigned long long)window_used(d, &d->req_cur, &d->req_prev, now),
                (unsigned long long)window_used(d, &d->tok_cur, &d->tok_prev, now),
                (double)sy_rstate_ttfb_pct(s, i, j, 50, 1, now) / 1e6,
                (double)sy_rstate_ttfb_pct(s, i, j, 95, 1, now) / 1e6);
        }
        evbuffer_add(b, "]}", 2);
    }
    evbuffer_add(b, "]}", 2);
}

static void dep_labels(struct evbuffer *b, const sy_model_conf_t *m, const sy_deployment_conf_t *dc)
{
    evbuffer_add(b, "{model=\"", 8);
    sy_metrics_label(b, m->name);
    evbuffer_add(b, "\",provider=\"", 12);
    sy_metrics_label(b, dc->provider);
    evbuffer_add(b, "\",deployment=\"", 14);
    sy_metrics_label(b, dc->model);
    evbuffer_add(b, "\"}", 2);
}

void sy_rstate_metrics(sy_rstate_t *s, uint64_t now, struct evbuffer *b)
{
    const sy_config_t *cfg = s->cfg;
    static const struct {
        const char *name, *help, *type;
    } fam[] = {
        {"switchyard_circuit_state", "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open.", "gauge"},
        {"switchyard_deployment_inflight", "Calls in flight per deployment.", "gauge"},
        {"switchyard_deployment_ttfb_ewma_seconds", "Peak-EWMA of the time to first byte per deployment.", "gauge"},
        {"switchyard_circuit_opens_total", "Times a deployment's circuit breaker opened.", "counter"},
    };
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
        for (size_t i = 0; i < cfg->n_models; i++) {
            const sy_model_conf_t *m = &cfg->models[i];
            for (size_t j = 0; j < m->n_deployments; j++) {
                sy_dstate_t *d = &s->models[i].deps[j];
                evbuffer_add(b, fam[f].name, strlen(fam[f].name));
                dep_labels(b, m, &m->deployments[j]);
                if (f == 0)
                    evbuffer_add_printf(b, " %d\n", (int)sy_breaker_state(&d->cb, now));
                else if (f == 1)
                    evbuffer_add_printf(b, " %d\n", atomic_load(&d->inflight));
                else if (f == 2)
                    evbuffer_add_printf(b, " %.6f\n", (double)atomic_load(&d->ewma_ns) / 1e9);
                else
                    evbuffer_add_printf(b, " %llu\n", (unsigned long long)atomic_load(&d->cb.opens));
            }
        }
    }
    static const struct {
        const char *name, *help;
    } mfam[] = {
        {"switchyard_router_retries_total", "Attempts after a model's first, per model."},
        {"switchyard_router_fallbacks_total", "Requests that moved to a fallback model, per model asked for."},
        {"switchyard_router_unavailable_total", "Requests refused because no deployment could be called."},
        {"switchyard_router_hedges_total", "Second attempts sent because the first was slow, per model."},
        {"switchyard_router_hedge_wins_total", "Hedges that answered first, per model."},
    };
    for (size_t f = 0; f < sizeof(mfam) / sizeof(mfam[0]); f++) {
        evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n", mfam[f].name, mfam[f].help, mfam[f].name);
        for (size_t i = 0; i < cfg->n_models; i++) {
            sy_mstate_t *ms = &s->models[i];
            atomic_ullong *c = f == 0   ? &ms->retries
                               : f == 1 ? &ms->fallbacks
                               : f == 2 ? &ms->unavailable
                               : f == 3 ? &ms->hedges
                                        : &ms->hedge_wins;
            evbuffer_add_printf(b, "%s{model=\"", mfam[f].name);
            sy_metrics_label(b, cfg->models[i].name);
            evbuffer_add_printf(b, "\"} %llu\n", (unsigned long long)atomic_load(c));
        }
    }
}

/* ---- a dry look ---- */

/* Why deployment dc is not READY, in words (st from dep_status). */
static const char *peek_why(sy_rstate_t *s, const sy_deployment_conf_t *dc, sy_dstate_t *d, const sy_pick_in_t *in,
                            int st)
{
    switch (st) {
    case NEVER:
        if (dc->provider_index >= s->cfg->n_providers || s->cfg->providers[dc->provider_index].disabled)
            return "provider disabled (its key variable is unset)";
        return dc->weight == 0 ? "weight 0" : "not eligible";
    case OPEN:
        return sy_breaker_state(&d->cb, in->now) == SY_CB_OPEN ? "circuit open" : "half-open probe already out";
    case COOLING:
        return "cooling down (Retry-After)";
    case FULL:
        if (dc->max_inflight &&
            (uint32_t)atomic_load_explicit(&d->inflight, memory_order_relaxed) >= dc->max_inflight)
            return "at max_inflight";
        if (dc->rpm && window_used(d, &d->req_cur, &d->req_prev, in->now) + 1 > dc->rpm)
            return "at its rpm";
        return "at its tpm";
    default:
        return NULL;
    }
}

int sy_rstate_peek(sy_rstate_t *s, size_t mi, const sy_pick_in_t *in, sy_peek_dep_t *deps)
{
    const sy_model_conf_t *m = &s->cfg->models[mi];
    sy_mstate_t *ms = &s->models[mi];
    int status[SY_ROUTER_MAX_CAND];
    cands_t c;
    sort_cands(s, mi, in, &c, NULL, status);
    size_t n = m->n_deployments < SY_ROUTER_MAX_CAND ? m->n_deployments : SY_ROUTER_MAX_CAND;
    for (size_t i = 0; deps && i < n; i++) {
        sy_dstate_t *d = &ms->deps[i];
        uint64_t cl = atomic_load_explicit(&d->cool_until, memory_order_relaxed);
        deps[i] = (sy_peek_dep_t){
            .eligible = status[i] == READY || status[i] == COOLING,
            .why = peek_why(s, &m->deployments[i], d, in, status[i]),
            .circuit = sy_breaker_state(&d->cb, in->now),
            .inflight = atomic_load_explicit(&d->inflight, memory_order_relaxed),
            .max_inflight = m->deployments[i].max_inflight,
            .cooling_ms = cl > in->now ? (cl - in->now) / 1000000u : 0,
        };
    }
    int *cand = c.nf ? c.fresh : c.nu ? c.used : c.cool;
    int k = c.nf ? c.nf : c.nu ? c.nu : c.nc;
    if (!k)
        return -1;
    if (m->route.strategy == SY_STRATEGY_ROUND_ROBIN) /* the next turn, not taken */
        return cand[atomic_load_explicit(&ms->rr, memory_order_relaxed) % (uint64_t)k];
    return choose(s, mi, cand, k, in);
}
