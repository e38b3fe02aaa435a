/*
 * experiment.h - A/B experiments: which arm a request belongs to, what
 * each arm's requests came to, and the outcomes clients report back.
 *
 * An experiment (router.experiments[] in config.h) splits one public
 * model's traffic between arms by percentage. Assignment is a pure
 * function of the experiment's name and a sticky id (the user, the API
 * key, or the request id): hash -> bucket in [0, 10000) -> the arm whose
 * cumulative weight (in hundredths of a percent) first exceeds the bucket.
 * The same id always lands on the same arm while the weights stay, and
 * different experiments split independently (the name salts the hash).
 *
 * The live side is one sy_exp_state_t per config, shared by every worker:
 * per arm, atomic counters of requests, errors, latency (sum and a
 * histogram for p50 / p95), tokens, cost and feedback; and a bounded table
 * of recent assignments (request id -> experiment, arm) that POST
 * /v1/feedback looks ids up in. The table is sharded, each shard a ring
 * with a hash chain and its own mutex: remembering an id evicts the
 * shard's oldest.
 */
#ifndef SY_ROUTER_EXPERIMENT_H
#define SY_ROUTER_EXPERIMENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct evbuffer;

/* ---- assignment (pure, any thread) ---- */

/* The experiment splitting model's traffic (index into cfg->experiments),
 * or -1. Linear in the experiments. */
int sy_exp_find(const sy_config_t *cfg, const char *model);

/* The bucket, in [0, 10000), of id[0..len) in experiment e:
 * splitmix64's finalizer over FNV-1a 64 of the name, a 0xff byte, and id. */
uint32_t sy_exp_bucket(const sy_exp_conf_t *e, const char *id, size_t len);

/* The arm (index into e->arms) for sticky_id[0..len): the first whose
 * cumulative weight exceeds the bucket. An arm of weight 0 is never
 * chosen. -1 only when e has no arm with a weight. */
int sy_exp_assign(const sy_exp_conf_t *e, const char *sticky_id, size_t len);

/*
 * The id that keeps a request on its arm, per e->sticky: user - the
 * x-switchyard-user header, else the body's user (OpenAI `user`, Anthropic
 * metadata.user_id), else the request id; key - the API key when there is
 * one (key may be NULL: there are no keys yet), else as user; none - the
 * request id. Empty strings count as absent. Sets *len; never NULL
 * (request_id must not be).
 */
const char *sy_exp_sticky_id(const sy_exp_conf_t *e, const char *header_user, const char *body_user,
                             size_t body_user_len, const char *key, const char *request_id, size_t *len);

/* What a request answered by deployment (provider, upstream_model) cost:
 * its price (config.h) times the tokens, in USD; -1 when no deployment of
 * that name has a known price. The deployment is looked up in model_hint
 * first (the fallback that answered, then the model asked: either may be
 * NULL), then in every model. Tokens below 0 count as 0. */
double sy_exp_cost(const sy_config_t *cfg, const char *fallback, const char *model, const char *provider,
                   const char *upstream_model, int64_t prompt_tokens, int64_t completion_tokens);

/* ---- live state ---- */

/* Latency histogram: upper bounds in milliseconds, the last bucket open. */
#define SY_EXP_LAT_BUCKETS 24
extern const double sy_exp_lat_bounds_ms[SY_EXP_LAT_BUCKETS - 1];

/* The default number of assignments remembered for feedback. */
#define SY_EXP_REMEMBER 65536
/* The longest request id remembered (request ids are at most 63 bytes). */
#define SY_EXP_ID_MAX 63

typedef struct sy_exp_arm_state {
    atomic_ullong requests, errors;
    atomic_ullong latency_us_sum, latency_us_max;
    atomic_ullong latency_hist[SY_EXP_LAT_BUCKETS];
    atomic_ullong ttft_us_sum, ttft_count;
    atomic_ullong prompt_tokens, completion_tokens;
    atomic_ullong cost_nusd; /* USD x 1e9, each request's cost rounded */
    atomic_ullong unpriced;  /* requests whose deployment has no price (no cost counted) */
    atomic_ullong feedback_count;
    atomic_ullong feedback_sum_bits; /* a double's bits, updated with compare-and-swap */
} __attribute__((aligned(64))) sy_exp_arm_state_t;

typedef struct sy_exp_state sy_exp_state_t;

/* The state for cfg's experiments (cfg must outlive it), remembering up to
 * remember assignments (0: SY_EXP_REMEMBER; at least 16 are kept). Without
 * experiments the state is a few bytes and remembers nothing. NULL when
 * out of memory. */
sy_exp_state_t *sy_exp_state_new(const sy_config_t *cfg, size_t remember);
void sy_exp_state_free(sy_exp_state_t *s);

/* The arm's counters (for tests and reports); NULL for indexes out of range. */
sy_exp_arm_state_t *sy_exp_arm(sy_exp_state_t *s, int exp, int arm);

/* How one request of an arm ended. */
typedef struct sy_exp_outcome {
    int error;                /* it failed: answered with a status >= 400 (499: client gone first) */
    uint64_t latency_ns;      /* from the request's start to its end */
    int64_t ttft_ns;          /* to its first byte; -1 none */
    int64_t prompt_tokens;    /* -1 or 0: unknown */
    int64_t completion_tokens;
    double cost_usd; /* < 0: unknown (no price) */
} sy_exp_outcome_t;

/* Count o on arm `arm` of experiment `exp` (out-of-range indexes are
 * ignored). Atomics only; any thread. */
void sy_exp_record(sy_exp_state_t *s, int exp, int arm, const sy_exp_outcome_t *o);

/* Remember that request_id went to (exp, arm), for its feedback; the
 * shard's oldest entry makes room. An id seen again points at its latest
 * request (clients may set x-request-id themselves). Returns 0, -1 when
 * the id is empty or too long, or there is no table (no experiments). Any
 * thread (a shard mutex). */
int sy_exp_remember(sy_exp_state_t *s, const char *request_id, int exp, int arm);

/* Where request_id went: 0 with *exp and *arm, -1 unknown or evicted. */
int sy_exp_lookup(sy_exp_state_t *s, const char *request_id, int *exp, int *arm);

/* Record a feedback score for request_id on its arm. A second score for
 * the same request replaces the first (the arm's sum changes, its count
 * does not); *replaced says so. Returns 0 with *exp and *arm, -1 when the
 * id is unknown or evicted. score must be finite. Any thread. */
int sy_exp_feedback(sy_exp_state_t *s, const char *request_id, double score, int *exp, int *arm, int *replaced);

/* The p-quantile (0 < p < 1) of an arm's latency in milliseconds,
 * interpolated in its histogram bucket; 0 without requests. */
double sy_exp_latency_quantile(const sy_exp_arm_state_t *a, double p);

/* ---- reporting ---- */

/* The "experiments" array of /api/stats (docs/routing.md lists the fields). */
void sy_exp_json(sy_exp_state_t *s, struct evbuffer *out);

/* The switchyard_experiment_* families, in the Prometheus text format. */
void sy_exp_metrics(sy_exp_state_t *s, struct evbuffer *out);

#endif
