/*
 * mock.h - the internals of sy-mock, the simulated upstream.
 *
 * sy-mock answers the OpenAI, Ollama and Anthropic HTTP APIs with replies
 * that are deterministic functions of the request, so the gateway's tests and
 * benchmarks have an upstream whose every byte they can predict, whose timing
 * (latency, time to first token, inter-token gap) they set per request, and
 * whose failures (status codes, cut or stalled streams, dropped connections,
 * broken JSON) they can provoke on demand. It is a tool, not part of libsy:
 * its modules are
 *   mock.c        CLI, worker threads, signals;
 *   mock_server.c one evhttp per worker, routing, delays, faults, streams;
 *   mock_proto.c  request decoding and the three protocols' reply shapes;
 *   mock_gen.c    the deterministic content (hash, PRNG, words, embeddings);
 *   mock_stats.c  the counters behind GET /__stats, shared by all workers;
 *   mock_faults.c the instance-wide fault plan of /__faults, shared likewise;
 *   mock_health.c what /api/ps, /slots and /metrics claim (/__health), likewise.
 * The user documentation is docs/sy-mock.md.
 */
#ifndef SY_MOCK_MOCK_H
#define SY_MOCK_MOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct evkeyvalq;
struct json_object;

/* Bytes of the last user text echoed in token 0 and in tool-call arguments. */
#define SY_MOCK_ECHO_MAX 64
/* Room for {"echo":"..."} with the echo escaped at worst 6 bytes per byte. */
#define SY_MOCK_ARGS_MAX (16 + 6 * SY_MOCK_ECHO_MAX)
/* Bounds on what a flag or header may ask for. */
#define SY_MOCK_MAX_TOKENS 1000000L
#define SY_MOCK_MAX_DELAY_MS 3600000L
#define SY_MOCK_MAX_DIMS 16384L
/* Longest model or tool name kept for a reply; longer ones are cut. */
#define SY_MOCK_NAME_MAX 1024
/* A stream writes its next token only while its connection holds less. */
#define SY_MOCK_HIGH_WATER (64 * 1024)
/* /__stats keeps this many requests and this much of each body. */
#define SY_MOCK_LAST_REQUESTS 32
#define SY_MOCK_BODY_KEEP (64 * 1024)
/* Distinct paths counted in by_path; further new paths are not counted. */
#define SY_MOCK_MAX_PATHS 1024
/* A fault plan's limits: path prefixes, bytes of one, of its Retry-After. */
#define SY_MOCK_PLAN_PATHS 16
#define SY_MOCK_PLAN_PATH_MAX 256
#define SY_MOCK_RETRY_AFTER_MAX 64

/* ---- configuration (mock.c) -------------------------------------------- */

typedef struct sy_mock_config {
    char host[256];
    int port;
    int workers;
    long latency_ms;
    long ttft_ms;
    long itl_ms;
    long tokens;
    int quiet;
} sy_mock_config_t;

/* ---- endpoints --------------------------------------------------------- */

typedef enum sy_mock_proto {
    SY_MOCK_P_OPENAI,
    SY_MOCK_P_OLLAMA,
    SY_MOCK_P_ANTHROPIC,
} sy_mock_proto_t;

typedef enum sy_mock_kind {
    SY_MOCK_K_NOTFOUND,
    SY_MOCK_K_BADMETHOD,
    SY_MOCK_K_STATS,
    SY_MOCK_K_RESET,
    SY_MOCK_K_FAULTS_GET,
    SY_MOCK_K_FAULTS_SET,
    SY_MOCK_K_OAI_CHAT,
    SY_MOCK_K_OAI_COMPL,
    SY_MOCK_K_OAI_EMBED,
    SY_MOCK_K_OAI_MODELS,
    SY_MOCK_K_OAI_MODEL,
    SY_MOCK_K_OLL_CHAT,
    SY_MOCK_K_OLL_GEN,
    SY_MOCK_K_OLL_EMBED,
    SY_MOCK_K_OLL_EMBEDDINGS,
    SY_MOCK_K_OLL_TAGS,
    SY_MOCK_K_OLL_SHOW,
    SY_MOCK_K_OLL_PS,
    SY_MOCK_K_OLL_VERSION,
    SY_MOCK_K_OLL_ROOT,
    SY_MOCK_K_ANT_MESSAGES,
    SY_MOCK_K_LCPP_SLOTS,   /* GET /slots (llama.cpp server) */
    SY_MOCK_K_LCPP_METRICS, /* GET /metrics (llama.cpp server) */
    SY_MOCK_K_HEALTH_GET,   /* GET /__health */
    SY_MOCK_K_HEALTH_SET,   /* POST /__health */
} sy_mock_kind_t;

/* ---- deterministic content (mock_gen.c) -------------------------------- */

#define SY_MOCK_FNV_OFFSET 0xcbf29ce484222325ULL

/* FNV-1a 64 of n bytes at p, continuing from h (start with SY_MOCK_FNV_OFFSET). */
uint64_t sy_mock_fnv1a(uint64_t h, const void *p, size_t n);
/* The next value of a splitmix64 sequence whose state is *state. */
uint64_t sy_mock_prng_next(uint64_t *state);
/* The vocabulary word picked by the PRNG value r; *len receives its length. */
const char *sy_mock_word(uint64_t r, size_t *len);
/* Whitespace-separated words in n bytes at s. */
long sy_mock_count_words(const char *s, size_t n);
/* The longest prefix of s (n bytes) that is at most max bytes and does not
 * end inside a UTF-8 sequence. s must hold max + 1 bytes when n > max. */
size_t sy_mock_utf8_prefix(const char *s, size_t n, size_t max);
/* Appends s (n bytes) to b escaped as the inside of a JSON string. */
void sy_mock_json_escape(struct evbuffer *b, const char *s, size_t n);
/* Writes s (n bytes) escaped as the inside of a JSON string into dst (cap
 * bytes, NUL-terminated). Returns the length written, or (size_t)-1 when it
 * does not fit. */
size_t sy_mock_json_escape_buf(char *dst, size_t cap, const char *s, size_t n);
/* Fills v[0..dims) with the unit vector derived from the hash h. */
void sy_mock_embedding(uint64_t h, float *v, long dims);
/* Appends the base64 of n bytes at p to b. */
void sy_mock_base64(struct evbuffer *b, const unsigned char *p, size_t n);

/* Collects the texts of a request: hash, word count, last user text. */
typedef struct sy_mock_text {
    uint64_t hash;
    long words;
    int in_user;
    size_t user_len;                    /* bytes kept in user[] */
    char user[SY_MOCK_ECHO_MAX + 1];    /* one byte past the echo, to cut on UTF-8 */
} sy_mock_text_t;

void sy_mock_text_init(sy_mock_text_t *t);
/* Starts a new message; is_user says whether its text is a user text. */
void sy_mock_text_message(sy_mock_text_t *t, int is_user);
/* Adds n bytes of text of the current message. */
void sy_mock_text_add(sy_mock_text_t *t, const char *s, size_t n);

/* ---- a request as the reply builders see it (mock_proto.c) -------------- */

typedef struct sy_mock_gen {
    sy_mock_kind_t kind;
    const char *model; /* echoed back; not NUL-terminated */
    size_t model_len;
    const char *tool; /* the tool called, NULL for a text reply */
    size_t tool_len;
    char echo[SY_MOCK_ECHO_MAX + 1];
    size_t echo_len;
    char args[SY_MOCK_ARGS_MAX]; /* tool-call arguments, a JSON text */
    size_t args_len;
    uint64_t seed;
    uint64_t prng;               /* advanced once per word token */
    long prompt_tokens;
    long tokens;                 /* completion tokens */
    int stream;
    int include_usage;
    int timestamps;
    char id[48];
    long long created;           /* unix seconds */
    int64_t t_start_ns;          /* CLOCK_MONOTONIC at arrival */
    int64_t t_first_ns;          /* at the first token (streams) */
    /* embeddings */
    struct json_object *input;   /* borrowed from the parsed body */
    long dims;
    int base64;
} sy_mock_gen_t;

/* Fills g from the parsed JSON body of an endpoint of kind. Returns 0, or -1
 * with a message in err (errlen bytes) for a body the endpoint cannot use. */
int sy_mock_decode(sy_mock_gen_t *g, sy_mock_kind_t kind, struct json_object *body, char *err,
                   size_t errlen);
/* The protocol a kind of endpoint speaks (for its error bodies). */
sy_mock_proto_t sy_mock_kind_proto(sy_mock_kind_t kind);
/* Whether a kind of endpoint streams when asked to. */
int sy_mock_kind_streams(sy_mock_kind_t kind);

/* Non-stream reply bodies. */
void sy_mock_reply(struct evbuffer *b, sy_mock_gen_t *g);
void sy_mock_reply_embeddings(struct evbuffer *b, sy_mock_gen_t *g);
void sy_mock_reply_models(struct evbuffer *b, sy_mock_kind_t kind, const char *id);
/* Whether id names one of the models sy-mock lists. */
int sy_mock_model_known(const char *id);
/* An error body in proto's shape; code (OpenAI's "code", may be NULL) must
 * need no escaping. */
void sy_mock_error_body(struct evbuffer *b, sy_mock_proto_t proto, int status, const char *msg,
                        const char *code);

/* Streams: content type, number of token chunks, and the chunks before the
 * first token, for token i, and after the last. */
const char *sy_mock_stream_content_type(sy_mock_kind_t kind);
long sy_mock_stream_total(const sy_mock_gen_t *g);
void sy_mock_stream_head(struct evbuffer *b, sy_mock_gen_t *g);
void sy_mock_stream_token(struct evbuffer *b, sy_mock_gen_t *g, long i, long total);
void sy_mock_stream_tail(struct evbuffer *b, sy_mock_gen_t *g);
/* The body a bad-json fault sends, for a stream or not. */
void sy_mock_bad_json(struct evbuffer *b, sy_mock_kind_t kind, int stream);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds. */
int64_t sy_mock_mono_ns(void);
int64_t sy_mock_real_ns(void);

/* ---- shared counters (mock_stats.c) ------------------------------------ */

/* One open stream, as /__stats lists it. Linked while the stream is open. */
typedef struct sy_mock_stream_stat {
    struct sy_mock_stream_stat *prev, *next;
    const char *path; /* a static route path */
    long tokens_total;
    atomic_long tokens_sent;
} sy_mock_stream_stat_t;

typedef struct sy_mock_stats sy_mock_stats_t;

/* How a stream left the open list. */
typedef enum sy_mock_stream_end {
    SY_MOCK_END_COMPLETED,
    SY_MOCK_END_CANCELLED,
    SY_MOCK_END_CUT,
    SY_MOCK_END_SHUTDOWN,
} sy_mock_stream_end_t;

/* A recorded request; built outside the lock, handed to the stats. */
typedef struct sy_mock_rec sy_mock_rec_t;

sy_mock_stats_t *sy_mock_stats_new(void);
void sy_mock_stats_free(sy_mock_stats_t *s);
/* Builds a record of a request: method (a static string), path, headers
 * (the evhttp header list; names are lower-cased) and the first
 * SY_MOCK_BODY_KEEP body bytes. reuse (may be NULL) is an old record whose
 * memory is used again when large enough, else freed. Returns NULL when out
 * of memory. Any thread. */
sy_mock_rec_t *sy_mock_rec_new(sy_mock_rec_t *reuse, const char *method, const char *path,
                               const struct evkeyvalq *headers, const char *body,
                               size_t body_len);
void sy_mock_rec_free(sy_mock_rec_t *r);
/* Counts a request on path and keeps rec (ownership passes; rec may be
 * NULL). Returns the record that fell out of the ring, now the caller's
 * (to reuse or free), or NULL. */
sy_mock_rec_t *sy_mock_stats_request(sy_mock_stats_t *s, const char *path, sy_mock_rec_t *rec);
void sy_mock_stats_stream_open(sy_mock_stats_t *s, sy_mock_stream_stat_t *st);
void sy_mock_stats_stream_close(sy_mock_stats_t *s, sy_mock_stream_stat_t *st,
                                sy_mock_stream_end_t how);
void sy_mock_stats_reset(sy_mock_stats_t *s);
/* Appends the /__stats JSON document to b. */
void sy_mock_stats_json(sy_mock_stats_t *s, struct evbuffer *b);

/* ---- the instance-wide fault plan (mock_faults.c) ----------------------- */

/* The faults x-mock-fault and a plan's "fault" name. */
typedef enum sy_mock_fault {
    SY_MOCK_FAULT_NONE,
    SY_MOCK_FAULT_CUT,         /* cut-after=N */
    SY_MOCK_FAULT_STALL_AFTER, /* stall-after=N */
    SY_MOCK_FAULT_STALL,
    SY_MOCK_FAULT_CLOSE,
    SY_MOCK_FAULT_BAD_JSON,
} sy_mock_fault_t;

/* Parses a whole decimal value within [lo, hi] (trailing blanks allowed).
 * Returns 0, or -1 leaving *out. */
int sy_mock_parse_long(const char *v, long lo, long hi, long *out);
/* Parses a fault name ("close", "cut-after=3", ...; any case) into *fault
 * and, for the two with a count, *n. Returns 0, or -1 leaving both. */
int sy_mock_parse_fault(const char *v, sy_mock_fault_t *fault, long *n);

/* What a plan does to one request: each field overrides the matching flag
 * and is in turn overridden by the request's own x-mock-* header. */
typedef struct sy_mock_plan {
    int status;                /* 400-599; 0: not set */
    sy_mock_fault_t fault;     /* SY_MOCK_FAULT_NONE: not set */
    long fault_n;
    long latency_ms;           /* this and the three below: -1 when not set */
    long ttft_ms;
    long itl_ms;
    long tokens;
    char retry_after[SY_MOCK_RETRY_AFTER_MAX + 1]; /* "": not set */
    char message[257];         /* with status: the error's message; "": "mock error NNN" */
} sy_mock_plan_t;

typedef struct sy_mock_faults sy_mock_faults_t;

/* The shared plan holder, with no plan set. Returns NULL when out of memory. */
sy_mock_faults_t *sy_mock_faults_new(void);
/* Frees f (NULL is a no-op). No worker may be running. */
void sy_mock_faults_free(sy_mock_faults_t *f);
/* Replaces the plan with the one body describes (the JSON object POSTed to
 * /__faults; {} clears it) and restarts its counts. Returns 0, or -1 with a
 * message in err (errlen bytes), the previous plan left in force. Any thread. */
int sy_mock_faults_set(sy_mock_faults_t *f, struct json_object *body, char *err, size_t errlen);
/* Removes the plan (POST /__reset). Any thread. */
void sy_mock_faults_clear(sy_mock_faults_t *f);
/* Whether the plan applies to a request for path; when it does the request
 * uses up one of the plan's count and *out receives the plan's effects.
 * Returns 1 or 0. Any thread; costs one atomic load when no plan is armed. */
int sy_mock_faults_take(sy_mock_faults_t *f, const char *path, sy_mock_plan_t *out);
/* Appends the GET /__faults document ({"plan", "remaining", "applied"}) to b. */
void sy_mock_faults_json(sy_mock_faults_t *f, struct evbuffer *b);

/* ---- what the load endpoints claim (mock_health.c) ---------------------- */

#define SY_MOCK_HEALTH_MAX_LOADED 16
#define SY_MOCK_HEALTH_NAME_MAX 255
#define SY_MOCK_HEALTH_MAX_SLOTS 1024

typedef struct sy_mock_health_state {
    int loaded_set; /* 0: /api/ps lists every model (the default) */
    size_t n_loaded;
    char loaded[SY_MOCK_HEALTH_MAX_LOADED][SY_MOCK_HEALTH_NAME_MAX + 1];
    int slots_total, slots_idle; /* default 4 and 4 */
    int slots_on, metrics_on;    /* off: the endpoint answers 501 as llama.cpp's does */
    int legacy;                  /* /slots in the older shape: "state" 0/1 instead of "is_processing" */
    int deferred;                /* llamacpp:requests_deferred */
} sy_mock_health_state_t;

typedef struct sy_mock_health sy_mock_health_t;

/* The shared state, at its defaults. NULL when out of memory. */
sy_mock_health_t *sy_mock_health_new(void);
void sy_mock_health_free(sy_mock_health_t *h);
/* Back to the defaults (POST /__reset). Any thread. */
void sy_mock_health_reset(sy_mock_health_t *h);
/* Replace the state with the one body describes (POST /__health; {} is the
 * defaults). Returns 0, or -1 with a message in err, the state unchanged. */
int sy_mock_health_set(sy_mock_health_t *h, struct json_object *body, char *err, size_t errlen);
/* A copy of the state. Any thread. */
void sy_mock_health_get(sy_mock_health_t *h, sy_mock_health_state_t *out);
/* The GET /__health document. */
void sy_mock_health_json(sy_mock_health_t *h, struct evbuffer *b);
/* The bodies of GET /slots (a JSON array) and GET /metrics (Prometheus text). */
void sy_mock_health_slots(const sy_mock_health_state_t *st, struct evbuffer *b);
void sy_mock_health_metrics(const sy_mock_health_state_t *st, struct evbuffer *b);
/* GET /api/ps listing names[0..n) as loaded (mock_proto.c). */
void sy_mock_reply_ps(struct evbuffer *b, const char (*names)[SY_MOCK_HEALTH_NAME_MAX + 1], size_t n);

/* ---- workers (mock_server.c) ------------------------------------------- */

typedef struct sy_mock_worker sy_mock_worker_t;

/* Creates worker index with its own event base and evhttp listening on
 * cfg->host:*port with SO_REUSEPORT. When *port is 0 the chosen port is
 * written back. stats, faults and health are shared by all workers and
 * outlive them. Returns NULL (with a message on stderr) on failure. */
sy_mock_worker_t *sy_mock_worker_new(int index, const sy_mock_config_t *cfg, int *port,
                                     sy_mock_stats_t *stats, sy_mock_faults_t *faults, sy_mock_health_t *health);
/* Writes the address worker w listens on as a URL authority ("127.0.0.1:PORT",
 * a wildcard shown as loopback, IPv6 in brackets) into buf (len bytes). */
void sy_mock_worker_authority(const sy_mock_worker_t *w, char *buf, size_t len);
/* Runs the worker's loop on a new thread. Returns 0 or -1. */
int sy_mock_worker_start(sy_mock_worker_t *w);
/* Asks the worker's loop to exit (any thread) and joins its thread. */
void sy_mock_worker_stop(sy_mock_worker_t *w);
/* Frees a stopped (or never started) worker and every request it held. */
void sy_mock_worker_free(sy_mock_worker_t *w);

#endif
