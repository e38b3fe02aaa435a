/*
 * plan.h - one request's way through the router: which deployment each
 * attempt goes to, whether a failure is tried again, when, and where.
 *
 * A plan starts from the name the client gave. A configured model is tried
 * first on its own deployments - chosen by its strategy, each untried one
 * before any is tried twice - up to 1 + retries.max attempts; then each of
 * its fallbacks in order, with their own deployments and retries. A
 * prompt too long for a model (a context-length error) moves to the
 * model's context_fallbacks instead. A model with no deployment that may be
 * called now (breakers open, or full: max_inflight, rpm, tpm) is
 * passed over; one cooling down after a Retry-After is only avoided. A
 * direct or discovered address has one target, retried on
 * router.defaults.
 *
 * Only some failures are tried again: connect errors, timeouts, a
 * connection closed, a bad answer, 429 and 5xx. A re-try of a deployment
 * this request has already tried waits a backoff with full jitter - a
 * uniform draw in [0, min(max_backoff, backoff * 2^k)] - and at least the
 * Retry-After that deployment sent; an untried deployment is called at
 * once. Nothing waits past the request's deadline (timeout_ms).
 *
 * The caller (pipeline) owns the I/O: it asks sy_plan_next for an attempt,
 * sends it, reports its first byte and its end, and asks again while
 * sy_plan_end says it may and the client has received nothing. Clock and
 * randomness are the caller's. One request, one thread.
 */
#ifndef SY_ROUTER_PLAN_H
#define SY_ROUTER_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "providers/discovery.h"
#include "router/router.h"
#include "router/state.h"

#define SY_PLAN_DIRECT ((size_t)-1)

typedef struct sy_plan {
    sy_rstate_t *rs;
    const sy_config_t *cfg;
    size_t asked;      /* the configured model asked for, SY_PLAN_DIRECT for an address */
    size_t cur;        /* the model tried now */
    int stage;         /* 0: the model asked for; k: its k-th (context) fallback */
    int context;       /* following context_fallbacks */
    uint8_t avoid[SY_ROUTER_MAX_CAND / 8]; /* deployments of cur this request tried */
    unsigned attempts;       /* sent, over every model */
    unsigned model_attempts; /* sent to cur */
    unsigned backoffs;       /* waits before a re-try so far (the backoff's exponent) */
    uint64_t deadline;
    int64_t prompt_tokens; /* estimate, -1 unknown (cost, tpm) */
    int64_t max_tokens;    /* -1 unsaid */

    /* the current attempt */
    sy_route_t route;
    int dep;      /* its deployment in cur; -1 for an address */
    int probe;    /* its breaker's half-open probe */
    int held;     /* entered, not yet ended */
    uint64_t sent_at;
    int first_byte;

    /* a hedge: a second attempt racing the current one, on another
     * deployment of the same model */
    struct {
        sy_route_t route;
        int dep, probe, held;
        uint64_t sent_at;
    } hedge;

    /* the last failure: the answer when nothing is left to try */
    int failed;
    sy_error_t last;
    int last_retry_after;
    uint64_t last_at; /* when it ended: its Retry-After runs from there */
    int last_dep;
    size_t last_model;
} sy_plan_t;

/*
 * Start p for name at now: a configured model, "provider/model", or a name
 * disc lists (see router.h; disc need not outlive the call). Returns SY_OK,
 * or SY_ENOMODEL / SY_ENOKEY with err set. rs must live as long as p.
 */
sy_err_t sy_plan_init(sy_plan_t *p, sy_rstate_t *rs, const sy_config_t *cfg, const sy_disc_snap_t *disc,
                      const char *name, uint64_t now, sy_error_t *err);

typedef enum sy_plan_act {
    SY_PLAN_GO,   /* p->route is chosen and entered: send it after *delay_ns */
    SY_PLAN_WAIT, /* nothing may be called yet (when_all_open: wait): ask again after *delay_ns */
    SY_PLAN_FAIL, /* nothing left: answer err, with Retry-After *retry_after_s when > 0 */
} sy_plan_act_t;

/* The next attempt. */
sy_plan_act_t sy_plan_next(sy_plan_t *p, uint64_t now, uint64_t rnd, uint64_t *delay_ns, sy_error_t *err,
                           int *retry_after_s);

/* The attempt's first byte of answer arrived (a latency sample). */
void sy_plan_first_byte(sy_plan_t *p, uint64_t now);

/*
 * The attempt ended: e NULL for success, else its failure (ECLIENTGONE when
 * the client left); retry_after_s is the upstream's Retry-After (-1 none);
 * tokens counted against tpm (-1 unknown). Returns 1 when another attempt
 * may follow - which the caller makes only if its client has received
 * nothing yet - else 0. Ending an attempt twice does nothing.
 */
int sy_plan_end(sy_plan_t *p, const sy_error_t *e, int retry_after_s, int64_t tokens, uint64_t now);

/* ---- hedging ----
 * A model with `hedge` races a second attempt against a first one that is
 * slow to answer: the caller waits sy_plan_hedge_after for the first
 * byte, then asks sy_plan_hedge for the second attempt (p->hedge). The
 * first of the two to answer is kept; the other is dropped
 * (sy_plan_hedge_drop, or sy_plan_hedge_promote when the hedge is the one
 * kept). Either way the plan has one attempt again, the current one, and
 * goes on as before (sy_plan_first_byte, sy_plan_end). */

/* How long the current attempt may go without a first byte before a hedge
 * is sent, in nanoseconds: the model's percentile of the deployment's
 * times to first byte (once it has 20 samples), else its after_ms; 0 when
 * the model does not hedge (or an address, or no figure yet). */
uint64_t sy_plan_hedge_after(sy_plan_t *p, uint64_t now);

/* Start a hedge: a deployment of the current model this request has not
 * tried, that may be called now, within the model's hedging budget
 * (max_fraction). Returns 1 with p->hedge entered and counted as an
 * attempt (not as a re-try: retries.max is not spent), else 0 (nothing
 * changes). */
int sy_plan_hedge(sy_plan_t *p, uint64_t now, uint64_t rnd);

/* The hedge is dropped: e NULL when it lost the race (its wait so far is
 * a latency sample: it was at least that slow), SY_ECLIENTGONE when the
 * call was abandoned (nothing said of it), else its failure (counted like
 * any, and remembered as the plan's last). */
void sy_plan_hedge_drop(sy_plan_t *p, const sy_error_t *e, int retry_after_s, uint64_t now);

/* The hedge becomes the current attempt; the current one is dropped: e
 * NULL when the hedge answered first (a win; the loser's wait is a latency
 * sample), else the current attempt's failure. */
void sy_plan_hedge_promote(sy_plan_t *p, const sy_error_t *e, int retry_after_s, uint64_t now);

/* How a failure bears on the plan. */
typedef enum sy_fail_kind {
    SY_FAIL_RETRY = 0, /* the deployment failed: try again, count it against its breaker */
    SY_FAIL_CONTEXT,   /* the prompt is too long for the model: its context_fallbacks */
    SY_FAIL_FINAL,     /* the request itself is at fault, or a local error: answer it */
    SY_FAIL_CLIENT,    /* the client left */
} sy_fail_kind_t;

sy_fail_kind_t sy_plan_classify(const sy_error_t *e);

/* Full jitter: uniform in [0, min(max_ms, base_ms * 2^k)] milliseconds, in
 * nanoseconds, drawn from rnd. */
uint64_t sy_backoff_ns(unsigned k, uint32_t base_ms, uint32_t max_ms, uint64_t rnd);

/* The model whose deployment answers now (the asked one or a fallback);
 * NULL for an address. */
const sy_model_conf_t *sy_plan_model(const sy_plan_t *p);

/* Whether every deployment the plan may reach speaks OpenAI. */
int sy_plan_openai_only(const sy_plan_t *p);

/* The fallback in use, or NULL when the model asked for is answering. */
const char *sy_plan_fallback(const sy_plan_t *p);

/* The route settings in force for the current model (router.defaults for
 * an address). */
const sy_route_conf_t *sy_plan_conf(const sy_plan_t *p);

#endif
