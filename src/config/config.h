/*
 * config.h - Switchyard's configuration: load a YAML file into an immutable
 * sy_config_t, or explain why not with one file:line:col diagnostic per problem.
 *
 * The shape is the contract in DESIGN.md (server, providers[], models[]);
 * unknown keys are errors with a "did you mean" suggestion. A loaded config is
 * never modified; later hot reload swaps whole snapshots (reference counted).
 * Every string is owned by the config and freed by sy_config_free().
 */
#ifndef SY_CONFIG_CONFIG_H
#define SY_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/rx.h"

typedef enum sy_provider_type {
    SY_PROVIDER_OPENAI = 0,
    SY_PROVIDER_OLLAMA,
    SY_PROVIDER_ANTHROPIC,
} sy_provider_type_t;

/* "openai", "ollama", "anthropic". */
const char *sy_provider_type_name(sy_provider_type_t t);

typedef struct sy_header_kv {
    char *name;
    char *value;
} sy_header_kv_t;

/* Upstream timeouts in milliseconds; 0 means "no limit" for that phase. */
typedef struct sy_timeouts {
    uint32_t connect_ms;    /* TCP (+TLS) connect.               default 5000   */
    uint32_t first_byte_ms; /* request sent -> first body byte.  default 120000 */
    uint32_t idle_ms;       /* longest silence mid-response.     default 60000  */
    uint32_t total_ms;      /* whole transfer.                   default 600000 */
} sy_timeouts_t;

/* providers[].health: active probes of the provider (providers/health.h).
 * Off unless the provider has a health key (true, or a mapping). */
typedef struct sy_health_conf {
    int enabled;              /* health: true | false | {...}; default 0 */
    char *path;               /* appended to base_url; NULL = the type's default (ollama /api/tags,
                               * openai /models, anthropic /v1/models) */
    uint32_t interval_ms;     /* interval_s (fractions allowed, 0.05..86400); default 10 s */
    uint32_t timeout_ms;      /* one probe's bound, 1..600000; default 2000 */
    uint32_t unhealthy_after; /* consecutive failed probes that mark it down, 1..100; default 2 */
    uint32_t healthy_after;   /* consecutive good probes that mark it up, 1..100; default 1 */
    int loaded;               /* ollama: GET /api/ps, prefer deployments whose model is loaded; default 1 */
    int slots;                /* openai (llama.cpp server): GET /slots (or /metrics), prefer idle slots; default 0 */
} sy_health_conf_t;

typedef struct sy_provider_conf {
    char *name;
    sy_provider_type_t type;
    char *base_url;    /* as written, trailing '/' removed */
    char *api_key_env; /* NULL when not set */
    char *api_key;     /* getenv(api_key_env) at load time; NULL when unset or empty */
    sy_timeouts_t timeouts;
    sy_header_kv_t *headers; /* extra headers sent on every upstream request */
    size_t n_headers;
    char **forward_headers; /* client headers passed upstream: lower-case names, a trailing '*' matches a prefix */
    size_t n_forward_headers; /* default none: nothing of the client's is forwarded */
    int transport;            /* SY_TRANSPORT_AUTO (default) or SY_TRANSPORT_CURL */
    int64_t default_max_tokens; /* Anthropic: max_tokens sent when the client gave none; default 4096 */
    int discover;                 /* ollama only: list the server's models (GET /api/tags); default 0 */
    uint32_t discover_interval_s; /* seconds between two listings, 1..86400; default 60 */
    int optional;                 /* a missing key disables the provider instead of sending no key */
    int disabled;                 /* resolved at load: optional, api_key_env set, the variable unset or
                                   * empty. A disabled provider stays in the config (its deployments
                                   * keep their indexes) but is never chosen nor probed. */
    int demo;                     /* demo: true, or a name starting with "demo-": answers are simulated */
    sy_health_conf_t health;      /* health: active probes; see sy_health_conf_t */
} sy_provider_conf_t;

/* auto: the lean HTTP/1.1 client for plain http:// to an IP or localhost,
 * libcurl otherwise; curl: always libcurl. */
enum { SY_TRANSPORT_AUTO = 0, SY_TRANSPORT_CURL = 1 };

typedef struct sy_deployment_conf {
    char *provider;        /* provider name as written */
    size_t provider_index; /* index into sy_config_t.providers (resolved at load) */
    char *model;           /* the model name the provider knows */
    uint32_t weight;       /* default 1; 0 = never chosen */
    uint32_t max_inflight; /* calls at once; 0 (default) = no limit */
    uint32_t rpm;          /* the deployment's own requests per minute; 0 = none */
    uint64_t tpm;          /* its tokens (prompt + completion) per minute; 0 = none */
    int priced;            /* price known: given, or 0 for a local provider */
    double price_in;       /* price: { input_per_mtok }: per million prompt tokens */
    double price_out;      /* price: { output_per_mtok } */
} sy_deployment_conf_t;

/* How a model's deployments are chosen (models[].strategy). */
typedef enum sy_strategy {
    SY_STRATEGY_WEIGHTED = 0, /* default: random in proportion to the weights */
    SY_STRATEGY_ROUND_ROBIN,
    SY_STRATEGY_LEAST_INFLIGHT,
    SY_STRATEGY_LATENCY, /* peak-EWMA of the time to first byte, power of two choices */
    SY_STRATEGY_COST,    /* lowest price */
    SY_STRATEGY_USAGE,   /* most headroom against the deployment's rpm / tpm */
} sy_strategy_t;

/* "weighted", "round_robin", ... */
const char *sy_strategy_name(sy_strategy_t s);

/* What happens when no deployment of a model or its fallbacks may be
 * called (breakers open, all at max_inflight or their rpm / tpm). */
enum { SY_ALL_OPEN_FAIL = 0, SY_ALL_OPEN_WAIT = 1 };

/* router.defaults, and each model's own copy with its overrides. */
typedef struct sy_route_conf {
    sy_strategy_t strategy;
    uint32_t retries;        /* retries: { max }: attempts after the first, per model; default 2 */
    uint32_t backoff_ms;     /* retries: { backoff_ms }: the first backoff's cap; default 50 */
    uint32_t max_backoff_ms; /* retries: { max_backoff_ms }; default 2000 */
    uint32_t cb_failures;    /* circuit_breaker: { failures }: to open; default 5; 0 = never opens */
    uint32_t cb_window_s;    /* circuit_breaker: { window_s }: within this; default 30 */
    uint32_t cb_cooldown_s;  /* circuit_breaker: { cooldown_s }: open this long; default 30 */
    int when_all_open;       /* SY_ALL_OPEN_*; default fail */
    uint32_t timeout_ms;     /* the request's deadline over every attempt; default 600000 */
} sy_route_conf_t;

/* models[].hedge: a second attempt when the first is slow to answer */
typedef struct sy_hedge_conf {
    int on;              /* the model hedges (hedge: given) */
    uint32_t after_ms;   /* hedge: { after_ms }: fixed wait for a first byte; 0 = unset */
    uint32_t percentile; /* hedge: { percentile }: the deployment's own pN time to first byte; 0 = unset */
    double max_fraction; /* hedge: { max_fraction }: at most this share of requests hedge; default 0.1 */
} sy_hedge_conf_t;

/* models[].cache.mode */
typedef enum sy_cache_mode {
    SY_CACHE_OFF = 0, /* default */
    SY_CACHE_EXACT,
    SY_CACHE_SEMANTIC,
} sy_cache_mode_t;

/* models[].dedup */
typedef enum sy_dedup_mode {
    SY_DEDUP_AUTO = 0, /* default: merge requests whose answer is deterministic */
    SY_DEDUP_ON,
    SY_DEDUP_OFF,
} sy_dedup_mode_t;

/* ---- complexity routing and A/B experiments (docs/routing.md) ---- */

/* models[].complexity.weights: the points each feature adds to the score
 * (0..100) once it saturates. Defaults: tokens 25, code 20, math 15,
 * steps 15, depth 10, tools 10, max_tokens 5 (they add up to 100). */
typedef struct sy_cx_weights {
    double tokens, code, math, steps, depth, tools, max_tokens;
} sy_cx_weights_t;

/* The built-in weights, a model's unless it sets its own: tokens 25,
 * code 20, math 15, steps 15, depth 10, tools 10, max_tokens 5. */
extern const sy_cx_weights_t sy_cx_default_weights;

/* One of a `router: complexity` model's tiers, in ascending order. */
typedef struct sy_cx_tier_conf {
    uint32_t below;     /* takes the scores under this (1..100); 0 = the last tier, the catch-all */
    char *model;        /* the model it routes to, as written */
    size_t model_index; /* that model's index into sy_config_t.models (resolved at load) */
} sy_cx_tier_conf_t;

/* The sampling parameters a rule or an experiment's arm may force
 * (`set:`) or bound (`cap:`). */
typedef enum sy_param {
    SY_PARAM_TEMPERATURE = 0,
    SY_PARAM_TOP_P,
    SY_PARAM_TOP_K,      /* integer */
    SY_PARAM_MAX_TOKENS, /* integer */
    SY_PARAM_SEED,       /* integer; set only, never capped */
    SY_PARAM_PRESENCE_PENALTY,
    SY_PARAM_FREQUENCY_PENALTY,
    SY_PARAM__N
} sy_param_t;

/* "temperature", "top_p", "top_k", "max_tokens", "seed",
 * "presence_penalty", "frequency_penalty". */
const char *sy_param_name(sy_param_t p);

/* Whether p only takes whole numbers. */
#define SY_PARAM_IS_INT(p) ((p) == SY_PARAM_TOP_K || (p) == SY_PARAM_MAX_TOKENS || (p) == SY_PARAM_SEED)

/* Parameters to force and to bound: bit (1u << p) of set_mask says set[p]
 * is given, of cap_mask that cap[p] is. A value above its cap is lowered
 * to it; an unsaid max_tokens becomes its cap; other unsaid parameters stay
 * unsaid. set wins over cap for the same parameter. */
typedef struct sy_params {
    unsigned set_mask, cap_mask;
    double set[SY_PARAM__N], cap[SY_PARAM__N];
} sy_params_t;

/* router.experiments[].sticky: what keeps a client on its arm. */
enum { SY_EXP_STICKY_USER = 0, SY_EXP_STICKY_KEY = 1, SY_EXP_STICKY_NONE = 2 };

typedef struct sy_exp_arm_conf {
    char *name;
    uint32_t weight_bp; /* weight in hundredths of a percent; an experiment's add up to 10000 */
    char *model;        /* the model this arm sends to; NULL: the asked model, unchanged */
    int model_index;    /* its index into sy_config_t.models, -1 when model is NULL */
    sy_params_t params; /* set: / cap: on the arm's requests (a parameter-set variant) */
} sy_exp_arm_conf_t;

/* router.experiments[]: one model's traffic split between arms. */
typedef struct sy_exp_conf {
    char *name;
    char *model;        /* the public model name whose traffic is split */
    size_t model_index; /* into sy_config_t.models */
    int sticky;         /* SY_EXP_STICKY_*; default user */
    sy_exp_arm_conf_t *arms;
    size_t n_arms;
} sy_exp_conf_t;

typedef struct sy_model_conf {
    char *name; /* public name clients ask for */
    sy_deployment_conf_t *deployments;
    size_t n_deployments;
    sy_cache_mode_t cache_mode; /* cache: { mode: off | exact | semantic } */
    uint32_t cache_ttl_s;       /* cache: { ttl_s: N }; default 600 */
    sy_dedup_mode_t dedup;      /* dedup: auto | on | off */
    sy_route_conf_t route;      /* router.defaults with the model's own keys over them */
    size_t *fallbacks;          /* indexes into sy_config_t.models, in order */
    size_t n_fallbacks;
    size_t *context_fallbacks;  /* the same, for a prompt too long for the model */
    size_t n_context_fallbacks;
    sy_hedge_conf_t hedge;
    /* router: complexity - tiers instead of deployments (n_deployments is 0) */
    int complexity;
    sy_cx_tier_conf_t *tiers;
    size_t n_tiers;
    sy_cx_weights_t cx_weights; /* complexity: { weights }: the defaults with the model's overrides */
} sy_model_conf_t;

/* The top-level cache section: its tiers and the semantic cache. Every
 * tier is optional; a model uses them only when its cache.mode says so. */
typedef struct sy_cache_conf {
    uint64_t memory_max_bytes; /* memory: { max_bytes }; default 268435456 (256 MiB); 0 = no memory tier */
    char *redis_url;           /* redis: { url }: redis:// or unix:// ; NULL = no Redis tier */
    uint32_t redis_connect_timeout_ms; /* redis: { connect_timeout_ms }; 0 = the client's default (200) */
    uint32_t redis_command_timeout_ms; /* redis: { command_timeout_ms }; 0 = the client's default (100) */
    char *sqlite_path;         /* sqlite: { path }; NULL = no SQLite tier */
    uint64_t sqlite_max_bytes; /* sqlite: { max_bytes }; default 4294967296 (4 GiB) */
    char *embedder;            /* semantic: { embedder }: "builtin" (default) or an embedding model's name */
    double threshold;          /* semantic: { threshold }: cosine similarity for a hit, 0..1; default 0.92 */
} sy_cache_conf_t;

typedef struct sy_server_conf {
    char *listen;                     /* "host:port" as written; default "127.0.0.1:11435" */
    char *host;                       /* parsed host ("127.0.0.1", "::1", "0.0.0.0") */
    uint16_t port;                    /* parsed port */
    unsigned workers;                 /* resolved: "auto" = number of online CPUs */
    size_t max_body_bytes;            /* default 33554432 (32 MiB) */
    uint32_t drain_timeout_ms;        /* graceful shutdown bound; default 10000 */
    size_t stream_high_water_bytes;   /* per-stream client buffer before pausing upstream; default 262144 */
    uint32_t sse_keepalive_ms;        /* SSE ": keep-alive" comment after this much silence; default 15000 */
    int ready_requires_providers;     /* /health/ready answers 503 while no probed provider is up; default 0 */
} sy_server_conf_t;

typedef struct sy_log_conf {
    int level;    /* 0 debug, 1 info, 2 warn, 3 error; default info ("debug|info|warn|error") */
    int requests; /* one JSON line per request; default 1 (true) */
} sy_log_conf_t;

/* ---- routing rules (router.rules) -------------------------------------- */


/* The distinct header names and metadata keys of all rules together that
 * get a slot: a request looks each one up once however many rules name it
 * (router/rules.h). Names past the last slot are looked up every time. */
#define SY_RULE_SLOTS 64

/* A name -> glob pair of a rule's headers or metadata condition. */
typedef struct sy_rule_kv {
    char *name; /* headers: lower-cased */
    char *glob;
    int slot;   /* 0..SY_RULE_SLOTS-1, shared by every rule naming it; -1 none */
} sy_rule_kv_t;

/* What a rule needs of the request beyond the cheap conditions (api, model,
 * headers, key, team): the decoded prompt, or the body's metadata. */
#define SY_RULE_NEEDS_PROMPT 0x1u /* prompt regex or tokens */
#define SY_RULE_NEEDS_META 0x2u

/* A rule's route target that is "provider/model", not a configured model. */
#define SY_RULE_ROUTE_ADDRESS ((size_t)-1)

/* One of router.rules, in order: the first whose every condition holds
 * decides (router/rules.h). Absent conditions match anything. */
typedef struct sy_rule_conf {
    char *name;
    /* match */
    unsigned apis;           /* bit (1u << sy_proto_t): openai 0, ollama 1, anthropic 2; 0 = any */
    char **models;           /* fnmatch globs on the model asked for, any of them; none = any */
    size_t n_models;
    sy_rule_kv_t *headers;   /* each header present and its value matching the glob */
    size_t n_headers;
    sy_rule_kv_t *metadata;  /* each metadata key present and its value matching */
    size_t n_metadata;
    char *key, *team;        /* globs; NULL = any. Until auth there is no key or team:
                              * a rule that names them never matches */
    char *prompt;            /* POSIX extended regex as written; NULL = any */
    int prompt_icase;
    sy_rx_t *prompt_re;      /* compiled */
    int64_t tokens_min, tokens_max; /* estimated prompt tokens; -1 = no bound */
    unsigned needs;          /* SY_RULE_NEEDS_* */
    /* action */
    char *route;             /* model to plan for, NULL = the one asked for */
    size_t route_model;      /* its index in models[], or SY_RULE_ROUTE_ADDRESS */
    sy_params_t params;
    int reject;              /* refuse the request */
    int reject_status;       /* 400..499; default 403 */
    char *reject_message;    /* default "rejected by routing rule <name>" */
} sy_rule_conf_t;

typedef struct sy_config {
    char *path; /* file it came from ("<string>" for sy_config_load_string) */
    sy_server_conf_t server;
    sy_log_conf_t log;
    sy_provider_conf_t *providers;
    size_t n_providers;
    sy_model_conf_t *models;
    size_t n_models;
    sy_cache_conf_t cache;
    sy_route_conf_t router; /* router.defaults */
    sy_exp_conf_t *experiments; /* router.experiments, in config order */
    size_t n_experiments;
    sy_rule_conf_t *rules;      /* router.rules, in order */
    size_t n_rules;
    unsigned rules_need;        /* SY_RULE_NEEDS_* of every rule together */
    size_t n_complexity;        /* models with router: complexity */
    /* name -> index + 1 of models[] and providers[] (open addressing, mask + 1
     * slots, 0 empty), for sy_config_find_*; NULL: they scan */
    uint32_t *model_slots, *provider_slots;
    size_t model_mask, provider_mask;
} sy_config_t;

/* One problem found while loading: file:line:col: message (line and col 1-based). */
typedef struct sy_diag {
    char *file;
    int line;
    int col;
    char *message;
} sy_diag_t;

typedef struct sy_diags {
    sy_diag_t *items;
    size_t n;
} sy_diags_t;

/*
 * Load and validate the YAML file at path. On success returns a new config
 * and leaves diags empty. On any problem returns NULL and appends one
 * diagnostic per problem to diags (all problems, not just the first).
 * diags may be NULL. Reads the environment for api_key_env. Any thread.
 */
sy_config_t *sy_config_load(const char *path, sy_diags_t *diags);

/* The same from a string in memory; name is used as the file in diagnostics. */
sy_config_t *sy_config_load_string(const char *text, size_t len, const char *name,
                                   sy_diags_t *diags);

/* Free a config; NULL is a no-op. */
void sy_config_free(sy_config_t *cfg);

/* Lookups (linear; configs are small). NULL when absent. */
const sy_model_conf_t *sy_config_find_model(const sy_config_t *cfg, const char *name);
const sy_provider_conf_t *sy_config_find_provider(const sy_config_t *cfg, const char *name);

/*
 * Parse a listen address: "host:port", "[v6]:port" or ":port" (host
 * "0.0.0.0"). The host (brackets removed) is written NUL-terminated to
 * host[host_size], the port to *port (0..65535; 0 = pick a free port).
 * Returns 0, -1 for a malformed address, -2 for a port above 65535. Any thread.
 */
int sy_config_parse_listen(const char *s, char *host, size_t host_size, uint16_t *port);

/*
 * Replace server.listen (and host, port) with addr, as the command line's
 * --listen does. Returns 0, -1 for a malformed address (the config is left
 * unchanged), -2 for a port above 65535, -3 out of memory. Call before the
 * config is shared with other threads.
 */
int sy_config_set_listen(sy_config_t *cfg, const char *addr);

/* Print every diagnostic as "file:line:col: message\n". */
void sy_diags_print(FILE *out, const sy_diags_t *diags);
/* Release the diagnostics' memory and empty the set. */
void sy_diags_release(sy_diags_t *diags);

#endif
