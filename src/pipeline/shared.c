/*
 * shared.c - answers shared between requests: the exact cache and the
 * in-flight dedup (internal.h has the entry points; docs/cache.md and
 * docs/dedup.md the behaviour).
 *
 * A request on this path is answered one of three ways:
 *
 *   hit     the cache has the answer: it is replayed in the client's
 *           protocol, as a stream (cut into pieces like a real one) or
 *           whole; no upstream is asked.
 *   join    a call for the same key is in flight (any worker): the request
 *           becomes one more waiter of that call.
 *   lead    otherwise: a new call (a flight) that later requests may join.
 *
 * A flight lives on the worker that started it. It always asks its
 * upstream for a stream, parses it into canonical events, aggregates them
 * into the answer and appends each, packed, to a fan-out buffer
 * (dedup/fanout.h). Every client - the leader's included - is a waiter
 * that reads the buffer on its own worker at its own pace and writes the
 * events through its own ingress encoder, so one call serves OpenAI,
 * Ollama and Anthropic clients at once. A waiter woken from another thread
 * gets an event_active on its own loop.
 *
 * When the call ends well the flight writes the answer as a cache entry
 * (kept for waiters the buffer detached for lagging, and stored in the
 * cache after the waiters were told), then leaves the dedup table. When the
 * last waiter leaves early, the call is cancelled on the flight's own loop.
 *
 * Lifetimes: a flight is reference counted (its producer side, each
 * waiter, and a joiner between the table and its join); a waiter belongs
 * to its request.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache/cache.h"
#include "cache/embed.h"
#include "cache/entry.h"
#include "cache/key.h"
#include "cache/semantic.h"
#include "cache/sqlite.h"
#include "core/clock.h"
#include "core/log.h"
#include "dedup/fanout.h"
#include "dedup/table.h"
#include "pipeline/error.h"
#include "pipeline/internal.h"
#include "providers/discovery.h"
#include "providers/egress.h"
#include "providers/provider.h"
#include "store/redis.h"
#include "upstream/upstream.h"

#define MAX_ANSWER_BYTES (64u << 20) /* text + thinking + arguments of one answer */
#define MAX_ERROR_BODY (1u << 20)    /* an upstream's error answer kept to read its message */
#define FANOUT_BYTES (4u << 20)      /* a shared stream's buffer; laggards past it are detached */
#define REPLAY_PIECE 32              /* bytes of text per replayed stream event */

/* ---- policy ------------------------------------------------------------- */

/* Whether the Cache-Control value v has the directive tok. */
static int cc_has(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t k = strcspn(v, "=, \t");
        if (k > n)
            k = n;
        if (k == tl && strncasecmp(v, tok, tl) == 0)
            return 1;
        v += n;
    }
    return 0;
}

int sy__creq_deterministic(const sy_creq_t *q)
{
    double t;
    if (q->has_seed)
        return 1;
    return q->temperature.p && sy_json_double(&q->temperature, &t) == 0 && t == 0.0;
}

int sy__share_policy(sy_req_t *r, const sy_model_conf_t *mc, int deterministic, int translated, sy_share_t *sh)
{
    sy_server_t *srv = r->w->srv;
    memset(sh, 0, sizeof(*sh));
    sh->mc = mc;
    int caches = sh->mc && sh->mc->cache_mode != SY_CACHE_OFF && srv->cache;
    if (caches) {
        const char *cc = sy_req_header(r, "cache-control");
        sh->lookup = !(cc && cc_has(cc, "no-cache"));
        sh->store = !(cc && cc_has(cc, "no-store"));
        sh->ttl_ns = (uint64_t)sh->mc->cache_ttl_s * 1000000000ull;
    }
    sy_dedup_mode_t dm = sh->mc ? sh->mc->dedup : SY_DEDUP_AUTO;
    sh->dedup = srv->dedup &&
                (dm == SY_DEDUP_ON || (dm == SY_DEDUP_AUTO && (caches || (deterministic && translated))));
    return caches || sh->dedup;
}

void sy__share_bypass(sy_req_t *r)
{
    sy_cache_t *c = r->w->srv->cache;
    sy_req_set_header(r, "x-switchyard-cache", "bypass");
    if (c)
        atomic_fetch_add_explicit(&c->bypasses, 1, memory_order_relaxed);
}

/* ---- hits --------------------------------------------------------------- */

typedef struct replay {
    sy_req_t *r;
    const sy_ingress_t *in;
    sy_enc_t *enc;
    struct evbuffer *out;
} replay_t;

static int replay_event(void *ud, const sy_ev_t *ev)
{
    replay_t *p = ud;
    p->in->event(p->enc, ev, p->out);
    return 0;
}

/* Answer r from c (a cached answer): a stream cut into pieces, or whole. */
static void serve_answer(sy_req_t *r, const sy_creq_t *q, int stream, const sy_ingress_t *in, unsigned flags,
                         const sy_cresp_t *c)
{
    sy_enc_t enc;
    struct evbuffer *out = evbuffer_new();
    if (!out || sy__pl_enc_init(r, &enc, q, flags) < 0) {
        if (out)
            evbuffer_free(out);
        sy_respond_errorf(r, SY_ENOMEM, NULL, NULL);
        return;
    }
    sy__pl_note_usage(r, &c->usage);
    if (!stream) {
        in->whole(&enc, c, out);
        free(enc.own);
        sy_req_reply_buf(r, 200, "application/json", out);
        evbuffer_free(out);
        return;
    }
    replay_t p = {r, in, &enc, out};
    /* the counts are known before the first event (Anthropic's
     * message_start carries input_tokens) */
    sy_usage_merge(&enc.usage, &c->usage);
    sy_req_stream_start(r, 200, in->stream_type);
    sy_cresp_replay(c, REPLAY_PIECE, replay_event, &p);
    in->end(&enc, out);
    free(enc.own);
    sy_req_stream_write_buf(r, out);
    evbuffer_free(out);
    sy_req_stream_end(r);
}

/* Read an entry; 0 when it is a good one. */
static int read_entry(const char *data, size_t len, sy_cresp_t *c)
{
    sy_cresp_init(c, MAX_ANSWER_BYTES);
    if (sy_cache_entry_read(data, len, c) == 0)
        return 0;
    sy_cresp_release(c);
    return -1;
}

/* ---- flights ------------------------------------------------------------ */

typedef struct flight {
    atomic_int refs;
    unsigned char key[SY_CACHE_KEY_LEN];
    sy_worker_t *w; /* the producer's worker: everything below runs there */
    sy_dedup_t *table;
    int registered;
    sy_cache_t *cache;
    int store;
    uint64_t ttl_ns;
    sy_fanout_t *fo;
    struct event *cancel_ev; /* activated by the last waiter to leave (any thread) */
    int done;                /* the call is over (answered, failed or cancelled) */

    /* the attempts: the router's plan, the request (a copy: the leader may
     * leave) with what of its client goes upstream, and the timer that
     * waits before the next attempt */
    sy_attempts_t att;
    sy_arena_t arena;
    sy_creq_t *q;
    char req_id[64];
    struct evkeyvalq *hdrs; /* the leader's headers, when some provider forwards any */
    int appended; /* an event reached the buffer: no other attempt */
    int got_byte;
    sy_race_t race; /* hedging: up is its lead's transfer */

    /* the current attempt; read by waiters after the first event or the
     * end (the fan-out's lock orders them) */
    sy_upreq_t *up;
    const sy_provider_conf_t *provider;
    char provider_name[64];
    char deployment[128];
    unsigned attempts;
    const char *fallback;
    sy_op_t op;
    int status, retry_after;
    int parse_stream;
    struct evbuffer *resp; /* an error answer, or a whole one */
    sy_eparse_t ep;
    int ep_live;
    sy_cresp_t agg;
    unsigned char *pk; /* packing scratch */
    size_t pk_cap;

    /* across nodes (Redis): the lock this flight holds or waits on */
    int remote;              /* REMOTE_* */
    int lock_held;           /* this node leads the call for every node */
    char token[40];          /* the lock's value: ours */
    struct event *remote_ev; /* a "call done" message for this key (any thread) */
    atomic_int remote_msg;   /* 1 done well, 2 failed */
    struct event *lock_timer; /* leader: refresh the lock; follower: check on the leader */
    int lock_gone;           /* a follower found the leader's lock gone */
    int remote_only;         /* the answer came from another node: store it in memory only */
    int followed;            /* another node led the call (set before any event) */

    /* semantic mode: the request's vector, stored in the index with the answer */
    float *vec;
    size_t dims;
    sy_semfeat_t feat;
    unsigned char part[SY_CACHE_KEY_LEN];

    /* the outcome: written before sy_fanout_end, read by waiters after END */
    int failed;
    sy_error_t err;
    char *entry; /* the answer as a cache entry */
    size_t entry_len;
} flight_t;

static void flight_retain(void *p)
{
    atomic_fetch_add_explicit(&((flight_t *)p)->refs, 1, memory_order_relaxed);
}

static void flight_unref(flight_t *fl)
{
    if (atomic_fetch_sub_explicit(&fl->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (fl->remote_ev) /* may be activated by the subscriber until now */
        event_free(fl->remote_ev);
    sy_fanout_release(fl->fo);
    free(fl->entry);
    free(fl);
}

/* Let go of the producer's side (producer thread, once, after
 * sy_fanout_end: the last-leave callback can no longer touch cancel_ev).
 * The buffer itself goes with the flight's last reference, so a joiner
 * holding one can still join it. */
static void remote_end(flight_t *fl, int ok);

static void flight_close(flight_t *fl)
{
    if (fl->lock_held)
        remote_end(fl, !fl->failed && fl->entry != NULL);
    if (fl->lock_timer) {
        event_free(fl->lock_timer);
        fl->lock_timer = NULL;
    }
    sy__race_release(&fl->race);
    sy__att_release(&fl->att);
    if (fl->hdrs) {
        evhttp_clear_headers(fl->hdrs);
        free(fl->hdrs);
        fl->hdrs = NULL;
    }
    sy_arena_release(&fl->arena);
    if (fl->registered) {
        sy_dedup_remove(fl->table, fl->key, fl);
        fl->registered = 0;
    }
    if (fl->cancel_ev) {
        event_free(fl->cancel_ev);
        fl->cancel_ev = NULL;
    }
    if (fl->ep_live)
        sy_eparse_release(&fl->ep);
    if (fl->resp)
        evbuffer_free(fl->resp);
    sy_cresp_release(&fl->agg);
    free(fl->pk);
    free(fl->vec);
    fl->vec = NULL;
    flight_unref(fl);
}

/* The call failed: tell the waiters, close. */
static void flight_fail(flight_t *fl, const sy_error_t *e)
{
    fl->done = 1;
    fl->failed = 1;
    fl->err = *e; /* counted as an upstream error where it happened, if it was one */
    if (fl->cache)
        atomic_fetch_add_explicit(&fl->cache->not_cacheable, 1, memory_order_relaxed);
    sy_fanout_end(fl->fo, e->code ? e->code : SY_EINTERNAL);
    flight_close(fl);
}

/* The plan's last word (nothing left to try) for the waiters. */
static void flight_fail_cb(void *ud, const sy_error_t *e, int retry_after)
{
    flight_t *fl = ud;
    fl->retry_after = retry_after;
    flight_fail(fl, e);
}

static void flight_send(void *ud);

/* Write the answer to every tier (the waiters have it already), and its
 * vector to the semantic index. */
static void flight_store(flight_t *fl)
{
    sy_cache_t *c = fl->cache;
    uint64_t now = sy_now_ns();
    if (!fl->store) {
        atomic_fetch_add_explicit(&c->no_stores, 1, memory_order_relaxed);
        return;
    }
    if (c->mem)
        sy_memcache_put(c->mem, fl->key, fl->entry, fl->entry_len, fl->ttl_ns, now);
    if (!fl->remote_only)
        sy_cache_store_lower(c, fl->w->index, fl->w->base, fl->key, fl->entry, fl->entry_len, fl->ttl_ns);
    struct sy_semindex *x = fl->vec ? sy_cache_sem(c, fl->dims) : NULL;
    if (x) {
        sy_semindex_put(x, fl->part, fl->key, fl->vec, &fl->feat, fl->ttl_ns ? now + fl->ttl_ns : 0, now);
        if (c->sql)
            sy_sqlcache_put_vec(c->sql, fl->part, fl->key, fl->vec, fl->dims, &fl->feat, sizeof(fl->feat),
                                fl->ttl_ns ? sy_unix_ms() + fl->ttl_ns / 1000000u : 0);
    }
    atomic_fetch_add_explicit(&c->stores, 1, memory_order_relaxed);
}

/* The call ended well: the answer becomes an entry the detached waiters
 * can read, the waiters are told, then the entry is stored. */
static void flight_finish(flight_t *fl)
{
    sy_error_t e;
    if (sy__pl_bad_tool_args(&fl->agg, &e)) {
        sy__pl_name_provider(fl->provider_name, 1, &e);
        sy__pl_count_error(fl->w, fl->provider_name, &e);
        flight_fail(fl, &e);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b || sy_cache_entry_write(&fl->agg, b) < 0 ||
        (fl->entry = malloc(evbuffer_get_length(b) + 1)) == NULL) {
        if (b)
            evbuffer_free(b);
        sy_error_set(&e, SY_ENOMEM, NULL, NULL);
        flight_fail(fl, &e);
        return;
    }
    fl->entry_len = evbuffer_get_length(b);
    evbuffer_remove(b, fl->entry, fl->entry_len);
    evbuffer_free(b);
    const sy_usage_t *u = &fl->agg.usage;
    int64_t tokens = u->input_tokens < 0 && u->output_tokens < 0
                         ? -1
                         : (u->input_tokens > 0 ? u->input_tokens : 0) + (u->output_tokens > 0 ? u->output_tokens : 0);
    sy__att_end(&fl->att, NULL, -1, tokens, 0);
    fl->done = 1;
    sy_fanout_end(fl->fo, SY_OK);
    if (fl->cache)
        flight_store(fl);
    flight_close(fl);
}

/* Every waiter left before the end: cancel the call (its own loop). */
static void flight_cancel(evutil_socket_t fd, short what, void *arg)
{
    flight_t *fl = arg;
    (void)fd, (void)what;
    if (fl->done)
        return;
    fl->done = 1;
    if (fl->up) {
        sy_upreq_cancel(fl->up);
        fl->up = NULL;
    }
    sy__race_stop(&fl->race);
    sy_fanout_end(fl->fo, SY_ECLIENTGONE);
    flight_close(fl);
}

static void flight_last_leave(void *ud)
{
    flight_t *fl = ud;
    event_active(fl->cancel_ev, 0, 0); /* under the fan-out's lock: nothing else */
}

/* One canonical event of the answer: aggregate it, hand it to the waiters. */
static int flight_event(void *ud, const sy_ev_t *ev)
{
    flight_t *fl = ud;
    int rc = sy_cresp_add(&fl->agg, ev);
    if (rc)
        return rc; /* too large: the parser stops and reports it */
    size_t n = sy_ev_packed_len(ev);
    if (n > fl->pk_cap) {
        unsigned char *p = realloc(fl->pk, n);
        if (!p)
            return SY_ENOMEM;
        fl->pk = p;
        fl->pk_cap = n;
    }
    sy_ev_pack(ev, fl->pk);
    /* a failed append detaches waiters; they finish from the entry */
    sy_fanout_append(fl->fo, fl->pk, n);
    fl->appended = 1;
    return 0;
}

static void fl_head(void *ud, int status, const char *content_type)
{
    flight_t *fl = ud;
    (void)content_type;
    fl->status = status;
    fl->retry_after = sy_upreq_retry_after(fl->up);
    if (status >= 200 && status < 300) {
        fl->parse_stream = 1;
        sy_eparse_init(&fl->ep, fl->provider->type, fl->op, 1, flight_event, fl);
        fl->ep_live = 1;
    } else {
        fl->resp = evbuffer_new();
    }
}

/* Forget what an attempt's answer set up, for the next one. */
static void flight_forget(flight_t *fl)
{
    sy__race_stop(&fl->race);
    if (fl->ep_live) {
        sy_eparse_release(&fl->ep);
        fl->ep_live = 0;
    }
    if (fl->resp) {
        evbuffer_free(fl->resp);
        fl->resp = NULL;
    }
    sy_cresp_release(&fl->agg);
    sy_cresp_init(&fl->agg, MAX_ANSWER_BYTES);
    fl->parse_stream = fl->got_byte = fl->status = 0;
    fl->retry_after = -1;
}

/* The attempt failed (upstream: at the provider, counted against it; else
 * here, before anything was sent). Before any event reached the buffer the
 * plan may send another (on the next turn of the loop, never inside the
 * failed transfer's callback); otherwise the waiters get e. */
static void flight_attempt_failed(flight_t *fl, const sy_error_t *e, int retry_after, int upstream)
{
    if (upstream)
        sy__pl_count_error(fl->w, fl->provider_name, e);
    if (sy__att_end(&fl->att, e, retry_after, -1, !fl->appended && !fl->done)) {
        flight_forget(fl);
        return;
    }
    fl->retry_after = retry_after;
    flight_fail(fl, e);
}

/* The parser reported an error (the upstream's, a bad stream, too large). */
static void flight_parse_failed(flight_t *fl)
{
    sy_error_t e = fl->ep.err;
    if (e.code == SY_OK || e.code == SY_ETOOLARGE)
        sy_error_set(&e, SY_EUPPROTO, NULL, "answer larger than %u bytes", MAX_ANSWER_BYTES);
    sy__pl_name_provider(fl->provider_name, 1, &e);
    flight_attempt_failed(fl, &e, -1, 1);
}

static int fl_body(void *ud, const char *data, size_t len)
{
    flight_t *fl = ud;
    if (!fl->got_byte && len) {
        fl->got_byte = 1;
        if (fl->parse_stream)
            sy_plan_first_byte(&fl->att.plan, sy_now_ns());
    }
    if (fl->parse_stream) {
        if (sy_eparse_feed(&fl->ep, data, len) < 0) {
            sy_upreq_cancel(fl->up);
            fl->up = NULL;
            flight_parse_failed(fl);
        }
    } else if (fl->resp && evbuffer_get_length(fl->resp) + len <= MAX_ERROR_BODY) {
        evbuffer_add(fl->resp, data, len);
    }
    return 0;
}

static void fl_done(void *ud, const sy_error_t *err)
{
    flight_t *fl = ud;
    fl->up = NULL;
    if (err) {
        sy_error_t e = *err;
        sy__pl_name_provider(fl->provider_name, 1, &e);
        flight_attempt_failed(fl, &e, -1, 1);
        return;
    }
    if (!fl->parse_stream) {
        sy_error_t e;
        sy__pl_status_error(fl->provider_name, fl->status, fl->resp, &e);
        flight_attempt_failed(fl, &e, fl->retry_after, 1);
        return;
    }
    if (sy_eparse_end(&fl->ep) < 0) {
        flight_parse_failed(fl);
        return;
    }
    flight_finish(fl);
}

/* The plan's current attempt onto the flight, for its waiters. */
static void flight_note(flight_t *fl)
{
    const sy_route_t *route = &fl->att.plan.route;
    fl->provider = route->provider;
    snprintf(fl->provider_name, sizeof(fl->provider_name), "%s", route->provider->name);
    snprintf(fl->deployment, sizeof(fl->deployment), "%s", route->upstream_model);
    fl->attempts = fl->att.plan.attempts;
    fl->fallback = sy_plan_fallback(&fl->att.plan);
}

/* Start a transfer of route for the flight with cbs/ud. NULL with *err set;
 * *upstream says the upstream itself failed (the provider named). */
static sy_upreq_t *flight_transfer(flight_t *fl, const sy_route_t *route, const sy_upreq_cbs_t *cbs, void *ud,
                                   sy_error_t *err, int *upstream)
{
    sy_egress_t eg;
    const char *path = NULL;
    size_t n = 0;
    *upstream = 0;
    char *body = sy__pl_encode(route, fl->q, &path, &n, err);
    if (!body)
        return NULL;
    if (sy_provider_prepare_for(route->provider, path, fl->req_id, fl->hdrs, 1, &eg, err) != SY_OK) {
        free(body);
        return NULL;
    }
    sy_upreq_t *up = sy__pl_send(fl->w, route->provider, &eg, body, n, cbs, ud, fl->att.plan.deadline, err);
    if (!up) {
        *upstream = 1;
        sy__pl_name_provider(route->provider->name, 1, err);
    }
    return up;
}

/* ---- hedging (race.c) ---- */

static void race_take_over(void *ud, sy_upreq_t *up, const sy_provider_conf_t *p)
{
    flight_t *fl = ud;
    (void)p;
    flight_forget(fl);
    fl->up = up;
    flight_note(fl);
}

static sy_upreq_t *race_start(void *ud, const sy_route_t *route, const sy_upreq_cbs_t *cbs, void *cb_ud,
                              sy_error_t *err, int *upstream)
{
    return flight_transfer(ud, route, cbs, cb_ud, err, upstream);
}

static void race_event(void *ud, int what)
{
    flight_t *fl = ud;
    if (what == SY_RACE_HEDGED)
        fl->attempts = fl->att.plan.attempts;
}

static const sy_race_ops_t flight_race = {
    {fl_head, fl_body, fl_done}, race_take_over, race_start, race_event,
};

/* Whether any provider forwards client headers (a flight then keeps the
 * leader's for its attempts). */
static int forwards_any(const sy_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].n_forward_headers)
            return 1;
    return 0;
}

/* A copy of r's request headers. NULL when out of memory. */
static struct evkeyvalq *copy_headers(const sy_req_t *r)
{
    struct evkeyvalq *h = malloc(sizeof(*h));
    if (!h)
        return NULL;
    h->tqh_first = NULL;
    h->tqh_last = &h->tqh_first;
    const struct evkeyvalq *in = evhttp_request_get_input_headers(r->ev);
    for (const struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        if (evhttp_add_header(h, kv->key, kv->value) != 0) {
            evhttp_clear_headers(h);
            free(h);
            return NULL;
        }
    }
    return h;
}

/* A flight for q following plan (copied), not yet started. NULL with *err
 * set. */
static flight_t *flight_new(sy_req_t *r, sy_creq_t *q, const sy_share_t *sh, const sy_plan_t *plan,
                            const unsigned char *key, sy_error_t *err)
{
    flight_t *fl = calloc(1, sizeof(*fl));
    if (!fl)
        goto oom;
    atomic_init(&fl->refs, 1);
    memcpy(fl->key, key, SY_CACHE_KEY_LEN);
    fl->w = r->w;
    fl->table = r->w->srv->dedup;
    fl->cache = sh->mc && sh->mc->cache_mode != SY_CACHE_OFF ? r->w->srv->cache : NULL;
    fl->store = sh->store;
    fl->ttl_ns = sh->ttl_ns;
    sy__att_init(&fl->att, plan, r->w, flight_send, flight_fail_cb, fl);
    sy__race_init(&fl->race, &fl->att, &flight_race, fl, 1);
    fl->op = q->op;
    fl->retry_after = -1;
    snprintf(fl->req_id, sizeof(fl->req_id), "%s", r->id);
    sy_cresp_init(&fl->agg, MAX_ANSWER_BYTES);
    sy_arena_init(&fl->arena, (size_t)r->w->srv->cfg->server.max_body_bytes * 4 + (1u << 20));
    fl->q = sy_creq_clone(q, &fl->arena);
    fl->fo = sy_fanout_new(FANOUT_BYTES, 0, flight_last_leave, fl);
    fl->cancel_ev = event_new(r->w->base, -1, 0, flight_cancel, fl);
    int hdrs_ok = !(r->ev && forwards_any(r->w->srv->cfg)) || (fl->hdrs = copy_headers(r)) != NULL;
    if (!fl->q || !fl->fo || !fl->cancel_ev || !hdrs_ok) {
        sy_cresp_release(&fl->agg);
        sy_arena_release(&fl->arena);
        sy_fanout_release(fl->fo);
        if (fl->cancel_ev)
            event_free(fl->cancel_ev);
        if (fl->hdrs) {
            evhttp_clear_headers(fl->hdrs);
            free(fl->hdrs);
        }
        free(fl);
        goto oom;
    }
    /* the upstream always streams: waiters that stream get every piece as
     * it comes, whichever client led */
    fl->q->stream = 1;
    return fl;
oom:
    sy_error_set(err, SY_ENOMEM, NULL, NULL);
    return NULL;
}

/* A flight never started (it lost the race to lead). */
static void flight_discard(flight_t *fl)
{
    fl->done = 1;
    fl->failed = 1;
    sy_error_set(&fl->err, SY_ENOMEM, NULL, NULL);
    sy_fanout_end(fl->fo, SY_ENOMEM);
    flight_close(fl);
}

/* Send the plan's current attempt. */
static void flight_send(void *ud)
{
    flight_t *fl = ud;
    const sy_upreq_cbs_t *cbs;
    void *cb_ud;
    sy_error_t err;
    int upstream;
    flight_note(fl);
    uint64_t hedge = sy__race_prepare(&fl->race, &cbs, &cb_ud);
    fl->up = flight_transfer(fl, &fl->att.plan.route, cbs, cb_ud, &err, &upstream);
    if (!fl->up) {
        flight_attempt_failed(fl, &err, -1, upstream);
        return;
    }
    if (hedge)
        sy__race_started(&fl->race, fl->up, hedge);
}

/* ---- across nodes --------------------------------------------------------- */

/*
 * With Redis, a flight that leads on its node also asks to lead for every
 * node: SET switchyard:l:<key> <token> NX PX LOCK_MS.
 *   OK   it leads: the call goes upstream, the lock is refreshed every
 *        LOCK_REFRESH_MS, and at the end the answer is written under
 *        switchyard:r:<key> (RESULT_MS), "<hex>" (or "<hex>!" when the call
 *        failed) is published on SY_CACHE_DONE_CHANNEL, and the lock is
 *        released (compare-and-delete on the token).
 *   NIL  another node leads: the flight follows. It reads the result when
 *        the message comes, and also every LOCK_CHECK_MS it checks the lock;
 *        a lock gone without a result (a leader that died, a lost message)
 *        or a failed call makes it call upstream itself.
 *   ERR  Redis is down or slow: the call goes upstream from this node
 *        (per-node dedup only).
 * Followers get the whole answer at the end, replayed into the flight's
 * stream in pieces; their own node's waiters share it as usual. Every Redis
 * command in flight holds a reference to the flight and checks `done` when
 * it answers.
 */
#define LOCK_MS 10000
#define LOCK_REFRESH_MS 3000
#define LOCK_CHECK_MS 2000
#define RESULT_MS 60000

enum { REMOTE_NONE = 0, REMOTE_LOCKING, REMOTE_LEADER, REMOTE_FOLLOWER };

static struct sy_redis *flight_redis(flight_t *fl)
{
    sy_cache_t *c = fl->w->srv->cache;
    return c ? sy_cache_redis(c, fl->w->index, fl->w->base) : NULL;
}

static void arm(struct event *ev, unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(ev, &tv);
}

/* Go upstream from this node after all (the lock could not help). */
static void remote_launch(flight_t *fl)
{
    fl->remote = REMOTE_NONE;
    if (fl->lock_timer)
        event_del(fl->lock_timer);
    sy__att_next(&fl->att);
}

/* The leader's end: result, message, unlock (one connection, in order). */
static void remote_end(flight_t *fl, int ok)
{
    struct sy_redis *rc = flight_redis(fl);
    char k[SY_CACHE_REDIS_KEY_MAX], msg[2 * SY_CACHE_KEY_LEN + 2];
    fl->lock_held = 0;
    if (!rc)
        return;
    if (ok)
        sy_redis_set(rc, k, sy_cache_redis_key(fl->key, 'r', k), fl->entry, fl->entry_len, RESULT_MS, 0, NULL,
                     NULL);
    sy_cache_key_hex(fl->key, msg);
    if (!ok) {
        msg[2 * SY_CACHE_KEY_LEN] = '!';
        msg[2 * SY_CACHE_KEY_LEN + 1] = '\0';
    }
    sy_redis_publish(rc, SY_CACHE_DONE_CHANNEL, msg, strlen(msg));
    sy_redis_del_if(rc, k, sy_cache_redis_key(fl->key, 'l', k), fl->token, strlen(fl->token), NULL, NULL);
}

/* Another node's answer: replayed into this flight, which then ends as if
 * it had called upstream (stored in this node's memory tier only: the
 * leader filled the shared tiers). */
static void remote_finish(flight_t *fl, const char *data, size_t len)
{
    sy_cresp_t *c = malloc(sizeof(*c));
    if (!c || read_entry(data, len, c) < 0) {
        free(c);
        remote_launch(fl);
        return;
    }
    fl->remote = REMOTE_NONE;
    sy_cresp_replay(c, REPLAY_PIECE, flight_event, fl);
    sy_cresp_release(c);
    free(c);
    fl->remote_only = 1;
    flight_finish(fl);
}

static void result_answer(void *ud, sy_redis_status_t st, const char *data, size_t len, long long integer)
{
    flight_t *fl = ud;
    (void)integer;
    if (!fl->done && fl->remote == REMOTE_FOLLOWER) {
        if (st == SY_REDIS_OK)
            remote_finish(fl, data, len);
        else if (st == SY_REDIS_ERR || atomic_load(&fl->remote_msg) || fl->lock_gone)
            remote_launch(fl); /* no answer will come from the leader */
    }
    flight_unref(fl);
}

static void ask_result(flight_t *fl)
{
    struct sy_redis *rc = flight_redis(fl);
    char k[SY_CACHE_REDIS_KEY_MAX];
    flight_retain(fl);
    if (!rc || sy_redis_get(rc, k, sy_cache_redis_key(fl->key, 'r', k), result_answer, fl) != SY_OK) {
        flight_unref(fl);
        remote_launch(fl);
    }
}

/* The subscriber saw this key's call end on some node. */
static void remote_msg(evutil_socket_t fd, short what, void *arg)
{
    flight_t *fl = arg;
    (void)fd, (void)what;
    if (fl->done || fl->remote != REMOTE_FOLLOWER)
        return; /* while locking: the lock's answer reads the result */
    if (atomic_load(&fl->remote_msg) == 2)
        remote_launch(fl); /* the leader's call failed: try ours */
    else
        ask_result(fl);
}

static void lock_check_answer(void *ud, sy_redis_status_t st, const char *data, size_t len, long long integer)
{
    flight_t *fl = ud;
    (void)data, (void)len, (void)integer;
    if (!fl->done && fl->remote == REMOTE_FOLLOWER) {
        if (st == SY_REDIS_NIL) { /* the leader is gone: its result, or our own call */
            fl->lock_gone = 1;
            ask_result(fl);
        } else {
            arm(fl->lock_timer, LOCK_CHECK_MS);
        }
    }
    flight_unref(fl);
}

static void lock_tick(evutil_socket_t fd, short what, void *arg)
{
    flight_t *fl = arg;
    (void)fd, (void)what;
    struct sy_redis *rc = flight_redis(fl);
    char k[SY_CACHE_REDIS_KEY_MAX];
    size_t kl = sy_cache_redis_key(fl->key, 'l', k);
    if (fl->done || !rc)
        return;
    if (fl->lock_held) {
        sy_redis_pexpire(rc, k, kl, LOCK_MS, NULL, NULL);
        arm(fl->lock_timer, LOCK_REFRESH_MS);
        return;
    }
    flight_retain(fl);
    if (sy_redis_get(rc, k, kl, lock_check_answer, fl) != SY_OK) {
        flight_unref(fl);
        remote_launch(fl); /* Redis went away: go on alone */
    }
}

static void lock_answer(void *ud, sy_redis_status_t st, const char *data, size_t len, long long integer)
{
    flight_t *fl = ud;
    (void)data, (void)len, (void)integer;
    if (!fl->done && fl->remote == REMOTE_LOCKING) {
        if (st == SY_REDIS_OK) {
            fl->remote = REMOTE_LEADER;
            fl->lock_held = 1;
            arm(fl->lock_timer, LOCK_REFRESH_MS);
            sy__att_next(&fl->att);
        } else if (st == SY_REDIS_NIL) {
            fl->remote = REMOTE_FOLLOWER;
            fl->followed = 1;
            arm(fl->lock_timer, LOCK_CHECK_MS);
            ask_result(fl); /* it may have finished already */
        } else {
            remote_launch(fl);
        }
    }
    flight_unref(fl);
}

/* Start fl: through the cross-node lock when Redis is there, else at once. */
static void flight_start(flight_t *fl)
{
    struct sy_redis *rc = fl->registered && fl->cache ? flight_redis(fl) : NULL;
    if (!rc || !sy_redis_ready(rc)) {
        sy__att_next(&fl->att);
        return;
    }
    fl->lock_timer = event_new(fl->w->base, -1, 0, lock_tick, fl);
    fl->remote_ev = event_new(fl->w->base, -1, 0, remote_msg, fl);
    if (!fl->lock_timer || !fl->remote_ev) {
        sy__att_next(&fl->att);
        return;
    }
    uint64_t a = sy_worker_rand(fl->w), b = sy_worker_rand(fl->w);
    snprintf(fl->token, sizeof(fl->token), "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
    char k[SY_CACHE_REDIS_KEY_MAX];
    fl->remote = REMOTE_LOCKING;
    flight_retain(fl);
    if (sy_redis_set(rc, k, sy_cache_redis_key(fl->key, 'l', k), fl->token, strlen(fl->token), LOCK_MS, 1,
                     lock_answer, fl) != SY_OK) {
        flight_unref(fl);
        remote_launch(fl);
    }
}

void sy_pipeline_remote_done(void *srv_, const unsigned char key[32], int ok)
{
    sy_server_t *srv = srv_;
    flight_t *fl = srv->dedup ? sy_dedup_find(srv->dedup, key, flight_retain) : NULL;
    if (!fl)
        return;
    if (fl->remote_ev) {
        atomic_store(&fl->remote_msg, ok ? 1 : 2);
        event_active(fl->remote_ev, 0, 0);
    }
    flight_unref(fl);
}

/* ---- waiters ------------------------------------------------------------ */

typedef struct waiter {
    sy_req_t *r;
    flight_t *fl;
    sy_fanout_reader_t *rd;
    struct event *ev; /* on r's loop: the buffer has news */
    const sy_ingress_t *in;
    sy_enc_t enc;
    int stream;
    int streaming; /* the client's stream has started */
    int client_behind;
    int detached; /* the buffer let go of this waiter: finish from the entry */
    int in_pump;
    int gone;
    struct evbuffer *out;
    /* what the client got, to go on from the entry once detached */
    size_t sent_text, sent_thinking;
    size_t n_calls;
    size_t sent_args[SY_CRESP_MAX_CALLS];
    int sent_finish;
    int role; /* ROLE_*: what x-switchyard-dedup says */
} waiter_t;

enum { ROLE_NONE = 0, ROLE_LEADER, ROLE_FOLLOWER };

/* The headers that wait for the call's outcome: whether this request led
 * it (its node's leader may have followed another node's). Read after the
 * fan-out's first event or its end, which come after the flight set
 * `followed`. */
static void waiter_headers(waiter_t *wt)
{
    flight_t *fl = wt->fl;
    sy_req_t *r = wt->r;
    if (fl->attempts) { /* this node called upstream */
        char n[16];
        snprintf(n, sizeof(n), "%u", fl->attempts);
        sy_req_set_header(r, "x-switchyard-provider", fl->provider_name);
        sy_req_set_header(r, "x-switchyard-model", fl->deployment);
        sy_req_set_header(r, "x-switchyard-attempts", n);
        if (fl->fallback)
            sy_req_set_header(r, "x-switchyard-fallback", fl->fallback);
        if (fl->race.outcome)
            sy_req_set_header(r, "x-switchyard-hedge", fl->race.outcome == SY_RACE_WON ? "won" : "lost");
        snprintf(r->provider, sizeof(r->provider), "%s", fl->provider_name);
        snprintf(r->deployment, sizeof(r->deployment), "%s", fl->deployment);
        r->attempts = (int)fl->attempts;
        r->fallback = fl->fallback;
    }
    if (wt->role != ROLE_NONE)
        sy_req_set_header(wt->r, "x-switchyard-dedup",
                          wt->role == ROLE_LEADER && !wt->fl->followed ? "leader" : "follower");
}

static void waiter_free(waiter_t *wt)
{
    sy_fanout_leave(wt->rd); /* the last one out cancels the call */
    if (wt->ev)
        event_free(wt->ev);
    if (wt->out)
        evbuffer_free(wt->out);
    free(wt->enc.own);
    flight_unref(wt->fl);
    free(wt);
}

static void waiter_gone(sy_req_t *r)
{
    waiter_t *wt = r->ctx;
    if (wt && wt->in_pump) {
        wt->gone = 1;
        return;
    }
    r->ctx = NULL;
    if (wt)
        waiter_free(wt);
    sy_req_abandon(r);
}

static void waiter_pump(waiter_t *wt);

static void waiter_drain(sy_req_t *r)
{
    waiter_t *wt = r->ctx;
    if (!wt || !wt->client_behind)
        return;
    wt->client_behind = 0;
    waiter_pump(wt);
}

static void waiter_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    waiter_pump(arg);
}

static void waiter_notify(void *ud)
{
    waiter_t *wt = ud;
    event_active(wt->ev, 0, 0); /* under the fan-out's lock: nothing else */
}

/* One event for a streaming client: count what it got, encode it. */
static void waiter_event(waiter_t *wt, const sy_ev_t *ev)
{
    switch (ev->kind) {
    case SY_EV_TEXT:
        wt->sent_text += ev->text.len;
        break;
    case SY_EV_THINKING:
        wt->sent_thinking += ev->text.len;
        break;
    case SY_EV_TOOL_CALL:
        if (ev->index >= 0 && ev->index < SY_CRESP_MAX_CALLS) {
            if ((size_t)ev->index >= wt->n_calls)
                wt->n_calls = (size_t)ev->index + 1;
            wt->sent_args[ev->index] += ev->args.len;
        }
        break;
    case SY_EV_FINISH:
        wt->sent_finish = 1;
        break;
    default:
        break;
    }
    if (!wt->streaming) {
        wt->streaming = 1;
        waiter_headers(wt);
        sy_req_stream_start(wt->r, 200, wt->in->stream_type);
    }
    wt->in->event(&wt->enc, ev, wt->out);
}

/* Write what the encoder produced; note a client that fell behind. */
static void waiter_flush(waiter_t *wt)
{
    if (wt->streaming && evbuffer_get_length(wt->out) && sy_req_stream_write_buf(wt->r, wt->out))
        wt->client_behind = 1;
}

/* The rest of the answer for a streaming client the buffer detached: what
 * the entry has past what the client got. */
static void waiter_resume(waiter_t *wt, const sy_cresp_t *c)
{
    sy_ev_t ev;
    if (c->thinking_len > wt->sent_thinking) {
        memset(&ev, 0, sizeof(ev));
        ev.kind = SY_EV_THINKING;
        ev.text = (sy_str_t){c->thinking + wt->sent_thinking, c->thinking_len - wt->sent_thinking};
        waiter_event(wt, &ev);
    }
    if (c->text_len > wt->sent_text) {
        memset(&ev, 0, sizeof(ev));
        ev.kind = SY_EV_TEXT;
        ev.text = (sy_str_t){c->text + wt->sent_text, c->text_len - wt->sent_text};
        waiter_event(wt, &ev);
    }
    for (size_t i = 0; i < c->n_calls; i++) {
        const sy_cresp_call_t *k = &c->calls[i];
        size_t sent = i < wt->n_calls ? wt->sent_args[i] : 0;
        if (i < wt->n_calls && sent >= k->args_len)
            continue;
        memset(&ev, 0, sizeof(ev));
        ev.kind = SY_EV_TOOL_CALL;
        ev.index = (int)i;
        if (i >= wt->n_calls) { /* not begun: its id and name first */
            ev.id = (sy_str_t){k->id, k->id ? strlen(k->id) : 0};
            ev.name = (sy_str_t){k->name, k->name ? strlen(k->name) : 0};
        }
        ev.args = (sy_str_t){k->args + sent, k->args_len - sent};
        waiter_event(wt, &ev);
    }
    if (!wt->sent_finish) {
        memset(&ev, 0, sizeof(ev));
        ev.kind = SY_EV_FINISH;
        ev.finish = c->finish ? c->finish : SY_FINISH_STOP;
        ev.stop_sequence = (sy_str_t){c->stop_sequence, strlen(c->stop_sequence)};
        waiter_event(wt, &ev);
    }
    memset(&ev, 0, sizeof(ev));
    ev.kind = SY_EV_USAGE;
    ev.usage = c->usage;
    waiter_event(wt, &ev);
}

/* The call is over: finish the client's response. Frees wt. */
static void waiter_end(waiter_t *wt)
{
    sy_req_t *r = wt->r;
    flight_t *fl = wt->fl;
    r->ctx = NULL;
    if (fl->failed) {
        r->error_code = sy_err_openai_code(fl->err.code);
        if (!wt->streaming) {
            sy_error_t e = fl->err;
            int ra = fl->err.code == SY_EUPSTATUS || fl->err.code == SY_EUNAVAIL ? fl->retry_after : -1;
            waiter_headers(wt);
            waiter_free(wt);
            sy_respond_error(r, &e, ra);
            return;
        }
        wt->in->error(&wt->enc, &fl->err, wt->out);
        waiter_flush(wt);
        waiter_free(wt);
        sy_req_stream_end(r);
        return;
    }
    if (!wt->stream || wt->detached) {
        sy_cresp_t *c = malloc(sizeof(*c));
        if (!c || read_entry(fl->entry, fl->entry_len, c) < 0) {
            free(c);
            waiter_free(wt);
            if (r->streaming) { /* cannot happen with our own entry: end the stream */
                sy_req_stream_end(r);
                return;
            }
            sy_respond_errorf(r, SY_EINTERNAL, NULL, "the shared answer could not be read");
            return;
        }
        sy__pl_note_usage(r, &c->usage);
        if (!wt->stream) {
            wt->in->whole(&wt->enc, c, wt->out);
            waiter_headers(wt);
            sy_req_reply_buf(r, 200, "application/json", wt->out);
        } else {
            waiter_resume(wt, c);
        }
        sy_cresp_release(c);
        free(c);
        if (!wt->stream) {
            waiter_free(wt);
            return;
        }
    }
    if (!wt->streaming) { /* an empty answer still gets its stream */
        wt->streaming = 1;
        waiter_headers(wt);
        sy_req_stream_start(r, 200, wt->in->stream_type);
    }
    sy__pl_note_usage(r, &wt->enc.usage);
    wt->in->end(&wt->enc, wt->out);
    waiter_flush(wt);
    waiter_free(wt);
    sy_req_stream_end(r);
}

/* Read what the buffer has for this waiter, as far as its client takes. */
static void waiter_pump(waiter_t *wt)
{
    const char *p;
    size_t n;
    wt->in_pump = 1;
    for (;;) {
        if (wt->gone || wt->client_behind)
            break;
        int rc = sy_fanout_read(wt->rd, &p, &n);
        if (rc == SY_FANOUT_DATA) {
            if (wt->stream) {
                size_t at = 0;
                sy_ev_t ev;
                while (at < n) {
                    size_t k = sy_ev_unpack((const unsigned char *)p + at, n - at, &ev);
                    if (!k)
                        break; /* cannot happen: appends are whole events */
                    waiter_event(wt, &ev);
                    at += k;
                }
            }
            sy_fanout_consume(wt->rd, n);
            waiter_flush(wt);
            continue;
        }
        if (rc == SY_FANOUT_AGAIN)
            break;
        if (rc == SY_FANOUT_BEHIND) {
            wt->detached = 1;
            if (!sy_fanout_ended(wt->fl->fo, NULL))
                break; /* notified when it ends */
        }
        /* END, or detached from a stream that has ended */
        wt->in_pump = 0;
        if (wt->gone) {
            waiter_gone(wt->r);
            return;
        }
        waiter_end(wt);
        return;
    }
    wt->in_pump = 0;
    if (wt->gone)
        waiter_gone(wt->r);
}

/* Make r a waiter of fl (retained for it by the caller). Returns 0, or the
 * join's refusal (SY_FANOUT_LATE, _GONE, _FULL) or SY_ENOMEM with fl's
 * reference dropped. */
static int waiter_join(sy_req_t *r, flight_t *fl, const sy_creq_t *q, const sy_ingress_t *in, unsigned flags)
{
    waiter_t *wt = calloc(1, sizeof(*wt));
    int rc = SY_ENOMEM;
    if (!wt)
        goto fail;
    wt->r = r;
    wt->fl = fl;
    wt->in = in;
    wt->stream = q->stream;
    if (sy__pl_enc_init(r, &wt->enc, q, flags) < 0 || !(wt->out = evbuffer_new()) ||
        !(wt->ev = event_new(r->w->base, -1, 0, waiter_wake, wt)))
        goto fail;
    rc = sy_fanout_join(fl->fo, waiter_notify, wt, &wt->rd);
    if (rc != 0)
        goto fail;
    r->ctx = wt;
    r->on_gone = waiter_gone;
    r->on_drain = waiter_drain;
    event_active(wt->ev, 0, 0); /* read what is there already, from the loop */
    return 0;
fail:
    if (wt) {
        if (wt->ev)
            event_free(wt->ev);
        if (wt->out)
            evbuffer_free(wt->out);
        free(wt);
    }
    flight_unref(fl);
    return rc;
}

/* ---- lookups ------------------------------------------------------------ */

/*
 * A lookup walks the tiers in order - memory, Redis, SQLite - for the
 * exact key, then, for a semantic model, asks the index for a similar
 * request and walks the tiers again for that one's key. Redis answers on
 * this loop; SQLite on its reader thread, which hands the answer back with
 * event_active. While a tier is asked the lookup owns the request; a client
 * that leaves meanwhile only clears r, and the tier's answer frees the
 * lookup.
 */
typedef struct lookup {
    sy_req_t *r; /* NULL once the client left */
    sy_creq_t *q;
    const sy_ingress_t *in;
    unsigned flags;
    sy_share_t sh;
    sy_plan_t plan;
    sy_cache_t *cache;
    unsigned char key[SY_CACHE_KEY_LEN]; /* the request's own */
    unsigned char at[SY_CACHE_KEY_LEN];  /* the key being looked up */
    int semantic;                        /* looking up a similar request's answer */
    float sim;
    struct event *ev; /* the SQLite answer, back on this loop */
    const sy_cache_val_t *val;
    uint64_t expire_ms;
    int sem;    /* semantic mode: the index is asked after the exact tiers */
    float *vec; /* the request's embedding (handed to the flight) */
    size_t dims;
    int embedded; /* the embedding was tried (vec NULL: it failed) */
    sy_semfeat_t feat;
    unsigned char part[SY_CACHE_KEY_LEN];
    /* an embedding model's call */
    sy_upreq_t *up;
    const sy_provider_conf_t *emb_provider;
    int emb_status;
    struct evbuffer *emb_body;
} lookup_t;

static void lookup_free(lookup_t *lk)
{
    if (lk->ev)
        event_free(lk->ev);
    if (lk->emb_body)
        evbuffer_free(lk->emb_body);
    free(lk->vec);
    free(lk);
}

static void lookup_gone(sy_req_t *r)
{
    lookup_t *lk = r->ctx;
    r->ctx = NULL;
    if (lk && lk->up) { /* the embedding call: cancelled, nothing follows */
        sy_upreq_cancel(lk->up);
        lookup_free(lk);
    } else if (lk) {
        lk->r = NULL; /* the pending tier's answer frees it */
    }
    sy_req_abandon(r);
}

/* The request waits for a tier's answer. */
static void lookup_park(lookup_t *lk)
{
    lk->r->ctx = lk;
    lk->r->on_gone = lookup_gone;
    lk->r->on_drain = NULL;
}

static void lookup_resume(lookup_t *lk)
{
    lk->r->ctx = NULL;
    lk->r->on_gone = NULL;
}

static uint64_t ms_left(uint64_t expire_ms)
{
    uint64_t now = sy_unix_ms();
    if (!expire_ms)
        return 0;
    return expire_ms > now ? expire_ms - now : 1;
}

/* A tier had the bytes: answer the client from them (and copy them to the
 * tiers above). Returns 1 when answered (lk is freed), 0 for a bad entry. */
static int lookup_hit(lookup_t *lk, sy_cache_tier_t tier, const char *data, size_t len, uint64_t expire_ms)
{
    sy_cache_t *c = lk->cache;
    sy_cresp_t *cr = malloc(sizeof(*cr));
    if (!cr || read_entry(data, len, cr) < 0) {
        free(cr);
        atomic_fetch_add_explicit(&c->bad_entries, 1, memory_order_relaxed);
        if (tier == SY_TIER_MEMORY)
            sy_memcache_delete(c->mem, lk->at);
        return 0;
    }
    sy_req_t *r = lk->r;
    atomic_fetch_add_explicit(&c->hits[tier], 1, memory_order_relaxed);
    if (tier != SY_TIER_MEMORY) { /* promotion, with what is left of the TTL */
        uint64_t left_ns = ms_left(expire_ms) * 1000000ull;
        if (c->mem)
            sy_memcache_put(c->mem, lk->at, data, len, left_ns, sy_now_ns());
        if (tier == SY_TIER_SQLITE)
            sy_cache_store_redis(c, r->w->index, r->w->base, lk->at, data, len, left_ns);
    }
    if (lk->semantic) {
        char sim[16];
        atomic_fetch_add_explicit(&c->semantic_hits, 1, memory_order_relaxed);
        snprintf(sim, sizeof(sim), "%.4f", (double)lk->sim);
        sy_req_set_header(r, "x-switchyard-cache", "semantic-hit");
        sy_req_set_header(r, "x-switchyard-similarity", sim);
    } else {
        sy_req_set_header(r, "x-switchyard-cache", "hit");
    }
    serve_answer(r, lk->q, lk->q->stream, lk->in, lk->flags, cr);
    sy_cresp_release(cr);
    free(cr);
    lookup_free(lk);
    return 1;
}

static void lookup_tier(lookup_t *lk, sy_cache_tier_t tier);

static void redis_answer(void *ud, sy_redis_status_t st, const char *data, size_t len, long long integer)
{
    lookup_t *lk = ud;
    (void)integer;
    if (!lk->r) {
        lookup_free(lk);
        return;
    }
    lookup_resume(lk);
    if (st == SY_REDIS_OK && len > SY_CACHE_REDIS_HEAD) {
        uint64_t exp = 0;
        for (int i = 0; i < 8; i++)
            exp |= (uint64_t)(unsigned char)data[i] << (8 * i);
        if (lookup_hit(lk, SY_TIER_REDIS, data + SY_CACHE_REDIS_HEAD, len - SY_CACHE_REDIS_HEAD, exp))
            return;
    }
    atomic_fetch_add_explicit(&lk->cache->tier_misses[SY_TIER_REDIS], 1, memory_order_relaxed);
    lookup_tier(lk, SY_TIER_SQLITE);
}

/* SQLite's reader thread: hand the answer to the request's loop. */
static void sqlite_answer(void *ud, const sy_cache_val_t *v, uint64_t expire_ms)
{
    lookup_t *lk = ud;
    lk->val = v;
    lk->expire_ms = expire_ms;
    event_active(lk->ev, 0, 0);
}

static void sqlite_back(evutil_socket_t fd, short what, void *arg)
{
    lookup_t *lk = arg;
    (void)fd, (void)what;
    const sy_cache_val_t *v = lk->val;
    lk->val = NULL;
    if (!lk->r) {
        sy_cache_val_release(v);
        lookup_free(lk);
        return;
    }
    lookup_resume(lk);
    if (v) {
        int done = lookup_hit(lk, SY_TIER_SQLITE, (const char *)v->data, v->len, lk->expire_ms);
        if (done) {
            sy_cache_val_release(v);
            return;
        }
    }
    sy_cache_val_release(v);
    atomic_fetch_add_explicit(&lk->cache->tier_misses[SY_TIER_SQLITE], 1, memory_order_relaxed);
    lookup_tier(lk, SY_TIER_N);
}

static void go_upstream(lookup_t *lk);
static int embed(lookup_t *lk);

/* Every tier missed lk->at: try a similar request (once), else go upstream. */
static void lookup_missed(lookup_t *lk)
{
    sy_cache_t *c = lk->cache;
    struct sy_semindex *x;
    if (lk->sem && !lk->semantic && !embed(lk))
        return; /* the embedding model answers later: back here */
    if (lk->sem && !lk->semantic && lk->vec && (x = sy_cache_sem(c, lk->dims)) != NULL) {
        unsigned char found[SY_CACHE_KEY_LEN];
        float sim = -1;
        if (sy_semindex_search(x, lk->part, lk->vec, &lk->feat, (float)c->cfg->cache.threshold, sy_now_ns(), found,
                               &sim) &&
            memcmp(found, lk->key, SY_CACHE_KEY_LEN) != 0) {
            lk->semantic = 1;
            lk->sim = sim;
            memcpy(lk->at, found, SY_CACHE_KEY_LEN);
            lookup_tier(lk, SY_TIER_MEMORY);
            return;
        }
    }
    if (lk->semantic && (x = sy_cache_sem(c, 0)) != NULL) /* it named an answer no tier has any more */
        sy_semindex_delete(x, lk->part, lk->at);
    atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
    sy_req_set_header(lk->r, "x-switchyard-cache", "miss");
    go_upstream(lk);
}

/* Ask tier and the ones below it for lk->at. */
static void lookup_tier(lookup_t *lk, sy_cache_tier_t tier)
{
    sy_cache_t *c = lk->cache;
    sy_req_t *r = lk->r;
    if (tier == SY_TIER_MEMORY) {
        if (c->mem) {
            const sy_cache_val_t *v = sy_memcache_get(c->mem, lk->at, sy_now_ns());
            if (v) {
                int done = lookup_hit(lk, SY_TIER_MEMORY, (const char *)v->data, v->len, 0);
                sy_cache_val_release(v);
                if (done)
                    return;
            }
            atomic_fetch_add_explicit(&c->tier_misses[SY_TIER_MEMORY], 1, memory_order_relaxed);
        }
        tier = SY_TIER_REDIS;
    }
    if (tier == SY_TIER_REDIS) {
        struct sy_redis *rc = sy_cache_redis(c, r->w->index, r->w->base);
        char k[SY_CACHE_REDIS_KEY_MAX];
        if (rc && sy_redis_get(rc, k, sy_cache_redis_key(lk->at, 'c', k), redis_answer, lk) == SY_OK) {
            lookup_park(lk);
            return;
        }
        tier = SY_TIER_SQLITE;
    }
    if (tier == SY_TIER_SQLITE && c->sql) {
        if (!lk->ev)
            lk->ev = event_new(r->w->base, -1, 0, sqlite_back, lk);
        if (lk->ev && sy_sqlcache_get(c->sql, lk->at, sy_unix_ms(), sqlite_answer, lk) == SY_OK) {
            lookup_park(lk);
            return;
        }
    }
    lookup_missed(lk);
}

/* ---- the embedder ------------------------------------------------------- */

#define EMBED_TEXT_MAX 16384       /* bytes of conversation an embedding model is given */
#define EMBED_ANSWER_MAX (16u << 20) /* its answer */

static void emb_head(void *ud, int status, const char *content_type)
{
    lookup_t *lk = ud;
    (void)content_type;
    lk->emb_status = status;
}

static int emb_body(void *ud, const char *data, size_t len)
{
    lookup_t *lk = ud;
    if (evbuffer_get_length(lk->emb_body) + len <= EMBED_ANSWER_MAX)
        evbuffer_add(lk->emb_body, data, len);
    else
        lk->emb_status = -1;
    return 0;
}

/* The embedding model answered: the vector (unit length), or none. */
static void emb_done(void *ud, const sy_error_t *err)
{
    lookup_t *lk = ud;
    sy_req_t *r = lk->r;
    sy_error_t e;
    sy_embed_t m;
    lk->up = NULL;
    lookup_resume(lk);
    size_t n = evbuffer_get_length(lk->emb_body);
    const char *s = n ? (const char *)evbuffer_pullup(lk->emb_body, -1) : "";
    if (err) {
        e = *err;
    } else if (lk->emb_status < 200 || lk->emb_status >= 300) {
        sy__pl_status_error(lk->emb_provider->name, lk->emb_status, lk->emb_body, &e);
    } else if (sy_egress_parse_embed(lk->emb_provider->type, s, n, 1, &r->arena, &m, &e) == SY_OK &&
               m.n_vecs == 1 && m.vecs[0].n > 0 && m.vecs[0].n <= SY_EMBED_MAX_DIMS &&
               (lk->vec = malloc(m.vecs[0].n * sizeof(float))) != NULL) {
        double norm = 0;
        for (size_t i = 0; i < m.vecs[0].n; i++)
            norm += (double)m.vecs[0].v[i] * m.vecs[0].v[i];
        norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
        for (size_t i = 0; i < m.vecs[0].n; i++)
            lk->vec[i] = (float)(m.vecs[0].v[i] * norm);
        lk->dims = m.vecs[0].n;
        atomic_fetch_add_explicit(&lk->cache->embeds, 1, memory_order_relaxed);
        lookup_missed(lk);
        return;
    } else {
        sy_error_set(&e, SY_EUPPROTO, NULL, "the embedding model's answer has no usable vector");
    }
    /* no vector: the request goes on as an exact miss */
    atomic_fetch_add_explicit(&lk->cache->embed_errors, 1, memory_order_relaxed);
    sy__pl_count_error(r->w, lk->emb_provider->name, &e);
    sy_log(SY_LOG_WARN, "semantic cache: embedding failed", "%s", e.message);
    lookup_missed(lk);
}

static const sy_upreq_cbs_t embed_cbs = {emb_head, emb_body, emb_done};

/* Call the embedding model for lk's conversation. Returns 0 when started
 * (emb_done follows), -1 when it could not be. */
static int embed_call(lookup_t *lk)
{
    sy_req_t *r = lk->r;
    const sy_config_t *cfg = r->w->srv->cfg;
    sy_error_t err;
    sy_route_t route;
    sy_egress_t eg;
    sy_creq_t eq;
    const char *path = NULL;
    char *text = malloc(EMBED_TEXT_MAX);
    struct evbuffer *b = evbuffer_new();
    if (!text || !b)
        goto fail;
    const sy_disc_snap_t *disc = sy_discovery_acquire(r->w->srv->discovery);
    sy_err_t rc = sy_router_resolve_with(cfg, disc, cfg->cache.embedder, sy_worker_rand(r->w), &route, &err);
    sy_disc_snap_release(disc);
    if (rc != SY_OK)
        goto fail;
    sy_str_t in = {text, sy_embed_creq_text(lk->q, text, EMBED_TEXT_MAX)};
    sy_creq_init(&eq, SY_OP_EMBED, SY_PROTO_OPENAI);
    eq.model = (sy_str_t){cfg->cache.embedder, strlen(cfg->cache.embedder)};
    eq.inputs = &in;
    eq.n_inputs = 1;
    if (sy_egress_encode(route.provider->type, &eq, route.upstream_model, route.provider->default_max_tokens, b,
                         &path, &err) != SY_OK ||
        sy_provider_prepare(route.provider, path, r, 0, &eg, &err) != SY_OK)
        goto fail;
    size_t n = evbuffer_get_length(b);
    char *body = malloc(n + 1);
    if (!body || !(lk->emb_body = evbuffer_new())) {
        free(body);
        goto fail;
    }
    evbuffer_remove(b, body, n);
    body[n] = '\0';
    lk->emb_provider = route.provider;
    lk->up = sy__pl_send(r->w, route.provider, &eg, body, n, &embed_cbs, lk, 0, &err);
    if (!lk->up)
        goto fail;
    evbuffer_free(b);
    free(text);
    lookup_park(lk);
    return 0;
fail:
    if (b)
        evbuffer_free(b);
    free(text);
    atomic_fetch_add_explicit(&lk->cache->embed_errors, 1, memory_order_relaxed);
    return -1;
}

/* Embed lk's conversation (once). Returns 1 when done (lk->vec NULL if it
 * failed), 0 when the embedding model will answer later. */
static int embed(lookup_t *lk)
{
    if (lk->embedded)
        return 1;
    lk->embedded = 1;
    if (!lk->cache->sem_builtin)
        return embed_call(lk) == 0 ? 0 : 1;
    if ((lk->vec = malloc(SY_EMBED_DIMS * sizeof(float))) != NULL) {
        sy_embed_creq(lk->q, lk->vec, SY_EMBED_DIMS);
        lk->dims = SY_EMBED_DIMS;
    }
    return 1;
}

/* ---- entry -------------------------------------------------------------- */

/* No cached answer: join a call in flight or start one. Frees lk. */
static void go_upstream(lookup_t *lk)
{
    sy_req_t *r = lk->r;
    sy_server_t *srv = r->w->srv;
    sy_creq_t *q = lk->q;
    const sy_ingress_t *in = lk->in;
    unsigned flags = lk->flags;
    sy_error_t err;
    int dedup = lk->sh.dedup, alone = 0;
    if (dedup) {
        /* a call for this key in flight: wait for it, building nothing */
        flight_t *got = sy_dedup_follow(srv->dedup, lk->key, flight_retain);
        if (got) {
            if (waiter_join(r, got, q, in, flags) == 0) {
                ((waiter_t *)r->ctx)->role = ROLE_FOLLOWER;
                lookup_free(lk);
                return;
            }
            alone = 1; /* too late to join (its start is gone) or it is being
                        * cancelled: a call of our own, not in the table */
        }
    }
    if (lk->sem && lk->sh.store && !lk->embedded && lk->cache->sem_builtin)
        embed(lk); /* not looked up (no-cache): the index still learns it */
    flight_t *fl = flight_new(r, q, &lk->sh, &lk->plan, lk->key, &err);
    if (!fl)
        goto fail;
    if (lk->vec) { /* the index learns this request with its answer */
        fl->vec = lk->vec;
        fl->dims = lk->dims;
        lk->vec = NULL;
        fl->feat = lk->feat;
        memcpy(fl->part, lk->part, SY_CACHE_KEY_LEN);
    }
    if (dedup && !alone) {
        /* none a moment ago: lead, unless one started meanwhile */
        flight_t *got = sy_dedup_join(srv->dedup, lk->key, fl, flight_retain);
        if (!got) {
            fl->registered = 1;
        } else if (got != fl) {
            /* a call for this key is in flight: wait for it */
            if (waiter_join(r, got, q, in, flags) == 0) {
                ((waiter_t *)r->ctx)->role = ROLE_FOLLOWER;
                flight_discard(fl);
                lookup_free(lk);
                return;
            }
            /* too late to join (its start is gone) or it is being
             * cancelled: a call of our own, not in the table */
        }
    }
    lookup_free(lk);
    flight_retain(fl); /* the leader's waiter */
    if (waiter_join(r, fl, q, in, flags) != 0) {
        sy_error_set(&err, SY_ENOMEM, NULL, NULL);
        flight_discard(fl);
        sy_respond_error(r, &err, -1);
        return;
    }
    if (dedup)
        ((waiter_t *)r->ctx)->role = ROLE_LEADER;
    flight_start(fl);
    return;
fail:
    lookup_free(lk);
    sy_respond_error(r, &err, -1);
}

void sy__pipeline_shared(sy_req_t *r, sy_creq_t *q, const sy_ingress_t *in, unsigned flags, const sy_share_t *sh,
                         const sy_plan_t *plan)
{
    sy_server_t *srv = r->w->srv;
    sy_error_t err;
    lookup_t *lk = calloc(1, sizeof(*lk));
    if (!lk) {
        sy_error_set(&err, SY_ENOMEM, NULL, NULL);
        sy_respond_error(r, &err, -1);
        return;
    }
    lk->r = r;
    lk->q = q;
    lk->in = in;
    lk->flags = flags;
    lk->sh = *sh;
    lk->plan = *plan;
    lk->cache = srv->cache;
    /* r->model is the public name the request was routed by */
    const char *public_model = sh->mc ? sh->mc->name : r->model;
    if (sy_cache_key(q, "", public_model, lk->key) != SY_OK) {
        /* a request the key cannot take (an object too wide to sort) is
         * answered on its own */
        lk->sh.lookup = lk->sh.store = lk->sh.dedup = 0;
        memset(lk->key, 0, sizeof(lk->key));
    }
    memcpy(lk->at, lk->key, SY_CACHE_KEY_LEN);
    sy_cache_t *c = srv->cache;
    if (c && c->sem_max && sh->mc && sh->mc->cache_mode == SY_CACHE_SEMANTIC && (lk->sh.lookup || lk->sh.store) &&
        sy_cache_partition_key(q, "", public_model, lk->part) == SY_OK) {
        lk->sem = 1;
        sy_semfeat_creq(q, &lk->feat);
    }
    if (!lk->sh.lookup) {
        sy__share_bypass(r);
        go_upstream(lk);
        return;
    }
    atomic_fetch_add_explicit(&c->lookups, 1, memory_order_relaxed);
    lookup_tier(lk, SY_TIER_MEMORY);
}
