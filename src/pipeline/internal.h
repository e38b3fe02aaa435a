/*
 * internal.h - what pipeline.c and shared.c (the cache and dedup path)
 * share: routing a request, and turning upstream failures into errors.
 * Worker thread only. Not for other layers.
 */
#ifndef SY_PIPELINE_INTERNAL_H
#define SY_PIPELINE_INTERNAL_H

#include "core/canon.h"
#include "core/err.h"
#include "http/request.h"
#include "http/server.h"
#include "pipeline/pipeline.h"
#include "providers/provider.h"
#include "router/plan.h"
#include "router/router.h"
#include "upstream/upstream.h"

struct evbuffer;

/* Start plan p for name on r's behalf (r->model notes the name for the
 * log line), for a prompt of about prompt_tokens and an answer capped at
 * max_tokens (-1: unknown, unsaid) - the cost strategy and tpm weigh them. */
sy_err_t sy__pl_plan(sy_req_t *r, const char *name, int64_t prompt_tokens, int64_t max_tokens, sy_plan_t *p,
                     sy_error_t *err);

/* The plan's current attempt onto r: its log line, and the headers
 * x-switchyard-provider, -model, -attempts and -fallback. */
void sy__pl_note_attempt(sy_req_t *r, const sy_plan_t *p);

/* POST body (malloc'd; the transfer owns it from here, even on failure) to
 * provider p as eg (sy_provider_prepare) says, on worker w's upstream
 * client, the transfer's total time cut to end by deadline (monotonic ns;
 * 0: the provider's own). Returns the transfer, or NULL with *err set. */
sy_upreq_t *sy__pl_send(sy_worker_t *w, const sy_provider_conf_t *p, const sy_egress_t *eg, char *body,
                        size_t body_len, const sy_upreq_cbs_t *cbs, void *ud, uint64_t deadline, sy_error_t *err);

/*
 * The attempts of one call (a relay's or a shared flight's): its routing
 * plan and the timer that waits before the next attempt. The owner sends
 * the plan's current attempt when told (send), and answers the plan's last
 * word when nothing is left (fail). Worker w's thread only.
 */
typedef struct sy_attempts {
    sy_plan_t plan;
    sy_worker_t *w;
    struct event *timer;
    int waits; /* the timer asks the plan again rather than sending */
    void (*send)(void *ud);
    void (*fail)(void *ud, const sy_error_t *e, int retry_after);
    void *ud;
} sy_attempts_t;

/* Set a up to follow plan (copied). */
void sy__att_init(sy_attempts_t *a, const sy_plan_t *plan, sy_worker_t *w, void (*send)(void *ud),
                  void (*fail)(void *ud, const sy_error_t *e, int retry_after), void *ud);
/* Free the timer; an attempt still held ends as saying nothing of its
 * deployment (its client left, or the call was cancelled). */
void sy__att_release(sy_attempts_t *a);
/* Ask the plan: send now, after its delay, or fail. */
void sy__att_next(sy_attempts_t *a);
/* The attempt ended (e NULL: well; tokens for tpm, -1 unknown). Returns
 * 1 when the next attempt is scheduled (the owner must forget the failed
 * one's state), 0 when e is the call's last word. Only with nothing sent
 * to any client yet (may_retry) is another attempt made. */
int sy__att_end(sy_attempts_t *a, const sy_error_t *e, int retry_after, int64_t tokens, int may_retry);

/*
 * Hedging (race.c): when the plan says the model hedges, the attempt's
 * transfer becomes the lead leg of a race, and after the model's wait
 * without a first byte a second leg goes to another deployment. The owner
 * (a relay or a shared flight) sees one transfer: its callbacks get the
 * lead's head, body and end as if it ran alone. When the lead changes
 * (the hedge answered first, or the lead failed while the hedge ran) the
 * owner is told to forget the old lead's head, then gets the new lead's.
 * The owner's on_head must not end it (on_body and on_done may). Worker
 * thread only.
 */
enum { SY_RACE_HEDGED = 1, SY_RACE_WON, SY_RACE_LOST };

typedef struct sy_race_ops {
    sy_upreq_cbs_t cbs; /* the owner's callbacks for the lead */
    /* the lead is now transfer up, on provider p (the plan's current
     * attempt): forget what the old lead's head set up */
    void (*take_over)(void *ud, sy_upreq_t *up, const sy_provider_conf_t *p);
    /* start a transfer of route with cbs and cb_ud (the hedge); NULL with
     * *err set, *upstream saying the upstream itself failed */
    sy_upreq_t *(*start)(void *ud, const sy_route_t *route, const sy_upreq_cbs_t *cbs, void *cb_ud,
                         sy_error_t *err, int *upstream);
    /* SY_RACE_HEDGED: a hedge was sent; WON / LOST: it answered first, or
     * the first attempt did */
    void (*event)(void *ud, int what);
} sy_race_ops_t;

typedef struct sy_race sy_race_t;

typedef struct sy_race_leg {
    sy_race_t *race;
    sy_upreq_t *up; /* NULL once it ended or was cancelled */
    const sy_provider_conf_t *provider;
    int status, retry_after;
    int headed, head_fwd, got_byte;
    char ctype[128];
    struct evbuffer *body; /* an error answer held during the race */
} sy_race_leg_t;

struct sy_race {
    sy_attempts_t *att;
    const sy_race_ops_t *ops;
    void *ud;
    int translated; /* errors are named as a translated call's */
    sy_race_leg_t legs[2];
    int lead;
    int racing; /* both legs run, neither has answered */
    int outcome; /* SY_RACE_WON / LOST once a race ended with an answer, else 0 */
    struct event *timer;
};

void sy__race_init(sy_race_t *rc, sy_attempts_t *att, const sy_race_ops_t *ops, void *ud, int translated);
/* Before sending the plan's current attempt: the callbacks and user data
 * to start it with, and the wait before a hedge (0: the model does not
 * hedge now, and cbs/ud are the owner's own). */
uint64_t sy__race_prepare(sy_race_t *rc, const sy_upreq_cbs_t **cbs, void **ud);
/* The attempt's transfer started: arm the hedge after `after` ns. */
void sy__race_started(sy_race_t *rc, sy_upreq_t *up, uint64_t after);
/* Cancel the leg that is not the lead, and the timer (the attempt ended, or
 * the owner is going). */
void sy__race_stop(sy_race_t *rc);
/* sy__race_stop, and free what the race holds. */
void sy__race_release(sy_race_t *rc);

/* q encoded for route's provider: a malloc'd body (*n bytes) and the
 * operation's path there. NULL with *err set. */
char *sy__pl_encode(const sy_route_t *route, const sy_creq_t *q, const char **path, size_t *n, sy_error_t *err);

/* Prefix a transport or parser error with the provider's name; translated
 * says an in-stream upstream error came through our parser. */
void sy__pl_name_provider(const char *provider, int translated, sy_error_t *e);

/* An upstream's non-2xx answer (body may be NULL) as our error. */
void sy__pl_status_error(const char *provider, int status, struct evbuffer *body, sy_error_t *e);

/* Count an upstream failure in the metrics of worker w. */
void sy__pl_count_error(sy_worker_t *w, const char *provider, const sy_error_t *e);

/* Set up e to write q's answer for r's client (enc_flags from the
 * decoder). Returns 0, or -1 out of arena memory. */
int sy__pl_enc_init(sy_req_t *r, sy_enc_t *e, const sy_creq_t *q, unsigned enc_flags);

/* The token counts of u that are given, onto r's log line and metrics. */
void sy__pl_note_usage(sy_req_t *r, const sy_usage_t *u);

/* Whether a tool call of c has arguments that are not a JSON object (*e set). */
int sy__pl_bad_tool_args(const sy_cresp_t *c, sy_error_t *e);

/*
 * The shared path (shared.c): requests of a model that caches, or that
 * dedup merges, are answered from the cache, from a call already in flight
 * for the same key, or by a new call other requests may join. The caller
 * has routed the request and decided to take this path (sy__share_policy);
 * q lives in r's arena. Always finishes r.
 */
typedef struct sy_share {
    const sy_model_conf_t *mc; /* the model's config (NULL: none) */
    int lookup;                /* look the cache up */
    int store;                 /* fill the cache with the answer */
    int dedup;                 /* merge with identical calls in flight */
    uint64_t ttl_ns;
} sy_share_t;

/* What the shared path should do for request r of model mc (the route's;
 * NULL for a direct or discovered address: no cache, dedup auto), given
 * whether the request is deterministic (temperature 0 or a seed) and
 * whether it would be translated anyway. Returns 1 when the shared path is
 * wanted (which says "bypass" itself when it does not look up). */
int sy__share_policy(sy_req_t *r, const sy_model_conf_t *mc, int deterministic, int translated, sy_share_t *sh);

/* Say x-switchyard-cache: bypass on r, and count it. */
void sy__share_bypass(sy_req_t *r);

/* Whether q samples deterministically: temperature 0 or a seed. */
int sy__creq_deterministic(const sy_creq_t *q);

void sy__pipeline_shared(sy_req_t *r, sy_creq_t *q, const sy_ingress_t *in, unsigned enc_flags,
                         const sy_share_t *sh, const sy_plan_t *plan);

#endif
