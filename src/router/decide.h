/*
 * decide.h - the pre-route decision: which model a request is planned for,
 * whether it is refused, and which sampling parameters are forced or
 * bounded on the way.
 *
 * The ingress knows the model asked for; before the plan is made
 * (router/plan.h), three steps in this order:
 *   1. the router.rules are tried in order and the first whose conditions
 *      all hold decides (rules.h): route to another model, set or cap
 *      parameters, or reject with a status and message;
 *   2. an A/B experiment on the model the rules left (experiment.h): the
 *      request's sticky id picks an arm, which may name another model and
 *      set or cap parameters (over the rule's);
 *   3. a `router: complexity` model (complexity.h): the request's score
 *      picks a tier, whose model is planned for.
 * Each step that changes something says so in the reason. Nothing matching
 * leaves the request as it came. With no rules, experiments or complexity
 * models configured the step costs nothing (the pipeline skips it:
 * sy_decide_wanted).
 *
 * sy_decide is pure and allocation-free: any thread, the config borrowed.
 * Applying the parameters (sy_params_apply, sy_params_patch_json) writes
 * into the request's arena. POST /admin/route/explain runs the same
 * sy_decide without sending anything.
 */
#ifndef SY_ROUTER_DECIDE_H
#define SY_ROUTER_DECIDE_H

#include <stddef.h>

#include "config/config.h"
#include "core/arena.h"
#include "core/canon.h"
#include "core/jsonscan.h"

typedef struct sy_route_in {
    int proto;                 /* sy_proto_t ingress */
    const char *model;         /* asked for */
    const sy_creq_t *q;        /* decoded request or NULL (prompt, tokens then need decode) */
    /* when q is NULL: decodes the request for a rule that needs the prompt
     * (called at most once; NULL or returning NULL: prompt and tokens unknown) */
    const sy_creq_t *(*decode)(void *ud);
    void *dud;
    const char *body;          /* raw client JSON, validated (for "metadata"); may be NULL */
    size_t body_len;
    /* the body's top-level "metadata" and "user" values, when the ingress
     * met them in its own walk of the body (scanned 1; p NULL: absent):
     * then body is not walked for them */
    int scanned;
    sy_jval_t metadata, user;
    const char *(*header)(void *ud, const char *name); /* request headers; may be NULL */
    void *hud;
    const char *key, *team;    /* NULL until auth */
    const char *request_id;    /* an experiment's sticky id of last resort; NULL: "" */
} sy_route_in_t;

typedef struct sy_decision {
    char model[256];     /* the model to plan for */
    int rule;            /* matched rule index, -1 none */
    int reject;          /* refuse with status and message */
    int status;
    char message[512];
    sy_params_t params;  /* to apply */
    /* for x-switchyard-route-reason, "" none: "rule=<name>", then
     * "experiment=<name> arm=<name>", then "complexity=42 tier=<model>
     * tokens=..." (complexity.h), space-separated */
    char reason[512];
    const sy_creq_t *q;  /* the decoded request when in->q was NULL and a step decoded it */
    int exp, arm;        /* the experiment and its arm, -1 none */
    int cx_score;        /* the complexity score, -1 when no complexity model routed */
    int cx_tier;         /* its tier, -1 none */
} sy_decision_t;

/* Whether cfg has anything for sy_decide to do. */
static inline int sy_decide_wanted(const sy_config_t *cfg)
{
    return cfg->n_rules || cfg->n_experiments || cfg->n_complexity;
}

/*
 * Decide for in under cfg's rules, experiments and complexity models into
 * *out. Returns the matched rule's index, or -1 when no rule matched (an
 * experiment or a complexity model may still have changed out->model;
 * out->reason says what did). A model name too long for out->model is kept
 * whole only when no step routes it (the caller plans for in->model then).
 */
int sy_decide(const sy_config_t *cfg, const sy_route_in_t *in, sy_decision_t *out);

/* Whether p forces or bounds anything. */
static inline int sy_params_any(const sy_params_t *p)
{
    return (p->set_mask | p->cap_mask) != 0;
}

/*
 * What parameter k becomes under p when the request has cur (has: 0 when it
 * said nothing): set wins; a cap lowers a higher value; an unsaid
 * max_tokens becomes its cap. Returns 1 and *out when the request must
 * carry *out, 0 when it stays as it is.
 */
int sy_params_value(const sy_params_t *p, sy_param_t k, int has, double cur, double *out);

/* The JSON text of parameter k's value v into buf (integers whole, other
 * numbers in the shortest form that reads back the same). Returns the length. */
size_t sy_params_format(sy_param_t k, double v, char *buf, size_t cap);

/* Apply p to q: its sampling fields, with number texts written in a.
 * Returns 0, or -1 when a runs out. */
int sy_params_apply(const sy_params_t *p, sy_creq_t *q, sy_arena_t *a);

/*
 * Apply p to a client's OpenAI JSON body (validated, one object, whitespace
 * around it allowed): each top-level member a parameter changes is
 * replaced (every occurrence), the others are inserted after the opening
 * brace. max_tokens patches "max_completion_tokens" and "max_tokens",
 * whichever the body has, or inserts "max_tokens". Every other byte is
 * kept. Returns the new body in a (NUL-terminated, *out_len bytes), the
 * body itself when nothing changes, or NULL when a runs out.
 */
const char *sy_params_patch_json(const sy_params_t *p, const char *body, size_t len, sy_arena_t *a,
                                 size_t *out_len);

#endif
