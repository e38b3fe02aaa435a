/*
 * race.c - a hedged attempt's two transfers racing for the answer (see
 * internal.h).
 *
 * Until a hedge is sent the lead's callbacks go straight to the owner.
 * While two legs run, neither says anything to the owner: each keeps its
 * head, and an error answer's body, to itself. The first 2xx body byte (or
 * a 2xx answer that ends empty) wins; the loser is cancelled. A leg that
 * fails while the other runs is dropped - its failure counted against its
 * deployment - and the other goes on alone. Either way, when the lead
 * changes the owner is told to forget the old lead's head (take_over),
 * and whatever the new lead said so far is replayed to it.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "pipeline/internal.h"

#define MAX_HELD_BODY 65536 /* a racing leg's error answer */

static int ok_status(int status)
{
    return status >= 200 && status < 300;
}

static sy_race_leg_t *lead_leg(sy_race_t *rc)
{
    return &rc->legs[rc->lead];
}

static sy_race_leg_t *other_leg(sy_race_t *rc)
{
    return &rc->legs[!rc->lead];
}

static void leg_forget(sy_race_leg_t *g)
{
    if (g->up) {
        sy_upreq_cancel(g->up);
        g->up = NULL;
    }
    if (g->body) {
        evbuffer_free(g->body);
        g->body = NULL;
    }
}

void sy__race_stop(sy_race_t *rc)
{
    rc->racing = 0;
    leg_forget(other_leg(rc));
    if (rc->timer)
        evtimer_del(rc->timer);
}

void sy__race_release(sy_race_t *rc)
{
    sy__race_stop(rc);
    if (lead_leg(rc)->body) {
        evbuffer_free(lead_leg(rc)->body);
        lead_leg(rc)->body = NULL;
    }
    if (rc->timer) {
        event_free(rc->timer);
        rc->timer = NULL;
    }
}

/* Make leg g the lead: the owner forgets the old one. */
static void take_over(sy_race_t *rc, sy_race_leg_t *g)
{
    rc->lead = (int)(g - rc->legs);
    rc->ops->take_over(rc->ud, g->up, g->provider);
}

/* Tell the owner what the lead said before it was followed: its head, and
 * an error answer's body. The owner's on_body may end it: nothing of rc is
 * touched after it. */
static int replay(sy_race_t *rc)
{
    sy_race_leg_t *g = lead_leg(rc);
    if (!g->headed || g->head_fwd)
        return 0;
    g->head_fwd = 1;
    rc->ops->cbs.on_head(rc->ud, g->status, g->ctype);
    struct evbuffer *held = g->body;
    g->body = NULL;
    int rv = 0;
    if (held && evbuffer_get_length(held))
        rv = rc->ops->cbs.on_body(rc->ud, (const char *)evbuffer_pullup(held, -1), evbuffer_get_length(held));
    if (held)
        evbuffer_free(held);
    return rv;
}

/* Leg g answered first. */
static void won(sy_race_t *rc, sy_race_leg_t *g)
{
    uint64_t now = sy_now_ns();
    int hedge_won = g != lead_leg(rc);
    rc->racing = 0;
    if (rc->timer)
        evtimer_del(rc->timer);
    if (hedge_won) {
        sy_plan_hedge_promote(&rc->att->plan, NULL, -1, now);
        leg_forget(lead_leg(rc));
        take_over(rc, g);
    } else {
        sy_plan_hedge_drop(&rc->att->plan, NULL, -1, now);
        leg_forget(other_leg(rc));
    }
    rc->outcome = hedge_won ? SY_RACE_WON : SY_RACE_LOST;
    rc->ops->event(rc->ud, rc->outcome);
}

/* Leg g failed while the other runs: the other goes on alone. */
static int lost(sy_race_t *rc, sy_race_leg_t *g, const sy_error_t *err)
{
    sy_error_t e;
    int ra = -1;
    if (err) {
        e = *err;
        sy__pl_name_provider(g->provider->name, rc->translated, &e);
    } else {
        sy__pl_status_error(g->provider->name, g->status, g->body, &e);
        ra = g->retry_after;
    }
    sy__pl_count_error(rc->att->w, g->provider->name, &e);
    g->up = NULL; /* it ended */
    if (g->body) {
        evbuffer_free(g->body);
        g->body = NULL;
    }
    rc->racing = 0;
    if (rc->timer)
        evtimer_del(rc->timer);
    uint64_t now = sy_now_ns();
    if (g != lead_leg(rc)) {
        sy_plan_hedge_drop(&rc->att->plan, &e, ra, now);
    } else {
        sy_plan_hedge_promote(&rc->att->plan, &e, ra, now);
        take_over(rc, other_leg(rc));
    }
    return replay(rc);
}

static void leg_head(void *ud, int status, const char *content_type)
{
    sy_race_leg_t *g = ud;
    sy_race_t *rc = g->race;
    g->status = status;
    g->retry_after = sy_upreq_retry_after(g->up);
    g->headed = 1;
    snprintf(g->ctype, sizeof(g->ctype), "%s", content_type ? content_type : "");
    if (!rc->racing && g == lead_leg(rc)) {
        g->head_fwd = 1;
        rc->ops->cbs.on_head(rc->ud, status, content_type);
    }
}

static int leg_body(void *ud, const char *data, size_t len)
{
    sy_race_leg_t *g = ud;
    sy_race_t *rc = g->race;
    if (rc->racing && len) {
        if (!ok_status(g->status)) { /* an error answer: kept for when it ends */
            if (!g->body)
                g->body = evbuffer_new();
            if (g->body && evbuffer_get_length(g->body) + len <= MAX_HELD_BODY)
                evbuffer_add(g->body, data, len);
            return 0;
        }
        won(rc, g);
    }
    if (g != lead_leg(rc))
        return 0; /* not reached: a leg that is not the lead is cancelled */
    if (len)
        g->got_byte = 1;
    if (!g->head_fwd) {
        g->head_fwd = 1;
        rc->ops->cbs.on_head(rc->ud, g->status, g->ctype);
    }
    return rc->ops->cbs.on_body(rc->ud, data, len);
}

static void leg_done(void *ud, const sy_error_t *err)
{
    sy_race_leg_t *g = ud;
    sy_race_t *rc = g->race;
    if (rc->racing) {
        if (err || !ok_status(g->status)) {
            lost(rc, g, err);
            return;
        }
        won(rc, g); /* a 2xx answer without a body: the owner takes g->up, alive until this returns */
    }
    g->up = NULL;
    if (g != lead_leg(rc))
        return;
    if (g->headed && !g->head_fwd) {
        g->head_fwd = 1;
        rc->ops->cbs.on_head(rc->ud, g->status, g->ctype);
    }
    rc->ops->cbs.on_done(rc->ud, err);
}

static const sy_upreq_cbs_t race_cbs = {leg_head, leg_body, leg_done};

/* No first byte within the model's wait: a second leg. */
static void hedge_tick(evutil_socket_t fd, short what, void *arg)
{
    sy_race_t *rc = arg;
    sy_plan_t *p = &rc->att->plan;
    sy_race_leg_t *g = lead_leg(rc);
    (void)fd, (void)what;
    if (!g->up || g->got_byte || rc->racing || (g->headed && !ok_status(g->status)))
        return;
    if (!sy_plan_hedge(p, sy_now_ns(), sy_worker_rand(rc->att->w)))
        return;
    sy_race_leg_t *o = other_leg(rc);
    sy_error_t err;
    int upstream = 0;
    memset(o, 0, sizeof(*o));
    o->race = rc;
    o->provider = p->hedge.route.provider;
    o->up = rc->ops->start(rc->ud, &p->hedge.route, &race_cbs, o, &err, &upstream);
    if (!o->up) {
        if (upstream)
            sy__pl_count_error(rc->att->w, o->provider->name, &err);
        sy_plan_hedge_drop(p, &err, -1, sy_now_ns());
        return;
    }
    rc->racing = 1;
    rc->ops->event(rc->ud, SY_RACE_HEDGED);
}

void sy__race_init(sy_race_t *rc, sy_attempts_t *att, const sy_race_ops_t *ops, void *ud, int translated)
{
    memset(rc, 0, sizeof(*rc));
    rc->att = att;
    rc->ops = ops;
    rc->ud = ud;
    rc->translated = translated;
}

uint64_t sy__race_prepare(sy_race_t *rc, const sy_upreq_cbs_t **cbs, void **ud)
{
    sy__race_stop(rc);
    /* a new attempt: the last one's legs are over (the lead's transfer
     * ended, or its owner cancelled it: never cancelled from here) */
    for (int i = 0; i < 2; i++) {
        if (rc->legs[i].body)
            evbuffer_free(rc->legs[i].body);
        memset(&rc->legs[i], 0, sizeof(rc->legs[i]));
    }
    rc->lead = 0;
    rc->outcome = 0;
    uint64_t after = sy_plan_hedge_after(&rc->att->plan, sy_now_ns());
    if (!after) {
        *cbs = &rc->ops->cbs;
        *ud = rc->ud;
        return 0;
    }
    sy_race_leg_t *g = lead_leg(rc);
    g->race = rc;
    g->provider = rc->att->plan.route.provider;
    *cbs = &race_cbs;
    *ud = g;
    return after;
}

void sy__race_started(sy_race_t *rc, sy_upreq_t *up, uint64_t after)
{
    lead_leg(rc)->up = up;
    if (!rc->timer && !(rc->timer = evtimer_new(rc->att->w->base, hedge_tick, rc)))
        return; /* no hedge: the attempt goes on alone */
    struct timeval tv = {(time_t)(after / 1000000000ull), (suseconds_t)((after % 1000000000ull) / 1000)};
    evtimer_add(rc->timer, &tv);
}
