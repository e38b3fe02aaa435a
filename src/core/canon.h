/*
 * canon.h - the canonical request and event stream every adapter meets in.
 *
 * Three ingress adapters (OpenAI, Ollama, Anthropic clients) decode their
 * request into one sy_creq_t; three egress adapters (OpenAI-compatible,
 * Ollama, Anthropic upstreams) encode it for their provider and parse the
 * provider's answer - a stream or a whole body - back into canonical events
 * (sy_ev_t). The ingress adapter encodes those events for its client. N+M
 * adapters so give N x M translations. The OpenAI-in, OpenAI-out passthrough
 * never comes here.
 *
 * Strings are sy_str_t: decoded UTF-8 bytes (they may hold NUL) with a
 * length, owned by the request's arena or, for a parser's events, valid
 * during the callback only. Raw JSON kept as it came (a tool's parameter
 * schema, a sampling number) is a sy_jval_t pointing into the client's body;
 * p == NULL means absent.
 *
 * The mappings between each protocol's words for the same thing (stop
 * reasons, roles) live here, once, as tables; usage field names live in the
 * egress parsers, error shapes in pipeline/error.c.
 */
#ifndef SY_CORE_CANON_H
#define SY_CORE_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/jsonscan.h"

typedef struct sy_str {
    const char *p;
    size_t len;
} sy_str_t;

#define SY_STR_NULL ((sy_str_t){NULL, 0})

/* Whether a and b hold the same bytes. */
int sy_str_eq(sy_str_t a, sy_str_t b);
/* Whether s is empty or only spaces, tabs and line breaks. */
int sy_str_blank(sy_str_t s);

/* The client's wire protocol (ingress), also the error shape it receives. */
typedef enum sy_proto {
    SY_PROTO_OPENAI = 0,
    SY_PROTO_OLLAMA,
    SY_PROTO_ANTHROPIC,
} sy_proto_t;

typedef enum sy_op {
    SY_OP_CHAT = 0, /* a conversation: chat/completions, /api/chat, /v1/messages */
    SY_OP_GENERATE, /* a bare prompt: /v1/completions, /api/generate */
    SY_OP_EMBED,    /* /v1/embeddings, /api/embed, /api/embeddings */
} sy_op_t;

typedef enum sy_role {
    SY_ROLE_SYSTEM = 0,
    SY_ROLE_USER,
    SY_ROLE_ASSISTANT,
    SY_ROLE_TOOL, /* a tool's result, answering tool_call_id */
} sy_role_t;

typedef enum sy_part_kind {
    SY_PART_TEXT = 0,
    SY_PART_IMAGE,
} sy_part_kind_t;

/* One piece of a message's content. An image is either a URL (url set) or
 * inline base64 bytes (data set, media_type like "image/png"; empty
 * media_type when the client did not say - Ollama's images). An OpenAI
 * "data:" URL is decoded into data + media_type by the ingress. */
typedef struct sy_part {
    sy_part_kind_t kind;
    sy_str_t text;
    sy_str_t url;
    sy_str_t data;
    sy_str_t media_type;
} sy_part_t;

/* A tool call the assistant made. args is the arguments' JSON text (an
 * object): OpenAI carries it inside a string, Ollama and Anthropic as an
 * object - the adapters convert. */
typedef struct sy_tool_call {
    sy_str_t id; /* empty when the protocol has none (Ollama): encoders make one */
    sy_str_t name;
    sy_str_t args;
} sy_tool_call_t;

typedef struct sy_msg {
    sy_role_t role;
    sy_part_t *parts; /* text and images, in order */
    size_t n_parts;
    sy_tool_call_t *calls; /* assistant tool calls */
    size_t n_calls;
    sy_str_t tool_call_id; /* SY_ROLE_TOOL: the call answered */
    sy_str_t tool_name;    /* SY_ROLE_TOOL: the tool's name, when known */
    int is_error;          /* SY_ROLE_TOOL: Anthropic's tool_result is_error */
    sy_str_t thinking;     /* assistant reasoning carried back (Ollama "thinking") */
} sy_msg_t;

typedef struct sy_tool {
    sy_str_t name;
    sy_str_t description;
    sy_jval_t parameters; /* raw JSON Schema object; p NULL = none */
} sy_tool_t;

typedef enum sy_tool_choice {
    SY_TOOLS_DEFAULT = 0, /* the client did not say */
    SY_TOOLS_AUTO,
    SY_TOOLS_NONE,
    SY_TOOLS_REQUIRED, /* some tool must be called (OpenAI required, Anthropic any) */
    SY_TOOLS_NAMED,    /* this one: tool_choice_name */
} sy_tool_choice_t;

typedef enum sy_format {
    SY_FORMAT_TEXT = 0,
    SY_FORMAT_JSON,   /* any JSON object */
    SY_FORMAT_SCHEMA, /* JSON matching format_schema */
} sy_format_t;

/* The canonical request. Zero-initialised means "nothing said": use
 * sy_creq_init, which also sets the integer fields' "absent" values (-1). */
typedef struct sy_creq {
    sy_op_t op;
    sy_proto_t proto; /* who asked (some defaults differ per protocol) */
    sy_str_t model;   /* the public model name the client gave */
    int stream;
    int include_usage; /* OpenAI stream_options.include_usage */

    sy_msg_t *msgs; /* GENERATE: a system message (optional) then one user message */
    size_t n_msgs;
    sy_tool_t *tools;
    size_t n_tools;
    sy_tool_choice_t tool_choice;
    sy_str_t tool_choice_name;
    int parallel_tool_calls; /* -1 unsaid, 0, 1 */

    /* sampling: numbers kept as the client wrote them (p NULL = unsaid) */
    sy_jval_t temperature, top_p, top_k, presence_penalty, frequency_penalty;
    int64_t max_tokens; /* -1 unsaid */
    int64_t seed;
    int has_seed;
    sy_str_t *stop;
    size_t n_stop;
    sy_format_t format;
    sy_jval_t format_schema; /* SY_FORMAT_SCHEMA: the schema object */
    sy_str_t format_name;    /* OpenAI json_schema.name (empty: "response") */
    sy_str_t user;           /* end-user id: OpenAI user, Anthropic metadata.user_id */

    /* Ollama's own, carried to Ollama upstreams (ignored by others) */
    int64_t num_ctx;       /* -1 unsaid */
    sy_jval_t keep_alive;  /* raw: "5m" or a number */
    sy_jval_t think;       /* raw: true/false or "high"... */
    sy_jval_t options;     /* the whole raw options object: members not mapped above ride along */

    /* GENERATE */
    sy_str_t suffix;
    int raw; /* Ollama raw: no template */

    /* EMBED */
    sy_str_t *inputs;
    size_t n_inputs;
    int64_t dimensions; /* -1 unsaid */
    int truncate;       /* -1 unsaid, 0, 1 (Ollama) */
} sy_creq_t;

void sy_creq_init(sy_creq_t *q, sy_op_t op, sy_proto_t proto);

/* A deep copy of q whose strings and raw JSON all live in a (the copy no
 * longer points into the client's body). NULL when a runs out. */
sy_creq_t *sy_creq_clone(const sy_creq_t *q, sy_arena_t *a);

/* ---- events ------------------------------------------------------------- */

typedef enum sy_finish {
    SY_FINISH_NONE = 0, /* not finished (yet) */
    SY_FINISH_STOP,     /* natural end or a stop sequence */
    SY_FINISH_LENGTH,   /* max tokens */
    SY_FINISH_TOOL_CALLS,
    SY_FINISH_FILTER, /* content filter / refusal */
} sy_finish_t;

typedef enum sy_ev_kind {
    SY_EV_START = 0, /* once, first: the upstream accepted (id, model may be set) */
    SY_EV_TEXT,      /* a piece of the answer's text */
    SY_EV_THINKING,  /* a piece of reasoning text (Ollama thinking, Anthropic thinking) */
    SY_EV_TOOL_CALL, /* a piece of tool call `index`: id and name on its first piece */
    SY_EV_FINISH,    /* once: why it ended */
    SY_EV_USAGE,     /* token counts; may come more than once, later values win per field */
    SY_EV_ERROR,     /* the upstream reported an error inside its stream (terminal) */
} sy_ev_kind_t;

/* Token counts; -1 = not given. input_tokens counts the whole prompt, cached
 * tokens included (OpenAI's prompt_tokens; an Anthropic upstream's
 * input_tokens + cache_read_input_tokens + cache_creation_input_tokens);
 * cache_read_tokens and cache_write_tokens say how much of it came from or
 * went to the provider's prompt cache. The Ollama durations (ns) are given
 * only by Ollama upstreams; the Ollama ingress measures its own when absent. */
typedef struct sy_usage {
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cache_read_tokens;
    int64_t cache_write_tokens;
    int64_t total_duration, load_duration, prompt_eval_duration, eval_duration;
} sy_usage_t;

void sy_usage_init(sy_usage_t *u);
/* Fields of from that are given (>= 0) overwrite into's. */
void sy_usage_merge(sy_usage_t *into, const sy_usage_t *from);

typedef struct sy_ev {
    sy_ev_kind_t kind;
    sy_str_t text;         /* TEXT, THINKING */
    int index;             /* TOOL_CALL: 0, 1, ... in order of the calls */
    sy_str_t id, name;     /* TOOL_CALL: set on a call's first piece; START: upstream id */
    sy_str_t args;         /* TOOL_CALL: a fragment of the arguments' JSON text */
    sy_finish_t finish;    /* FINISH */
    sy_str_t stop_sequence; /* FINISH: which stop sequence matched, when known */
    sy_usage_t usage;      /* USAGE */
    const sy_error_t *error; /* ERROR */
} sy_ev_t;

/* Receives events; return 0 to go on, non-zero to stop the producer. */
typedef int (*sy_ev_cb)(void *ud, const sy_ev_t *ev);

/* ---- a whole answer, aggregated from events ------------------------------ */

#define SY_CRESP_MAX_CALLS 128

typedef struct sy_cresp_call {
    char *id, *name; /* NUL-terminated, malloc'd */
    char *args;      /* accumulated */
    size_t args_len, args_cap;
} sy_cresp_call_t;

typedef struct sy_cresp {
    char *text; /* NUL-terminated, malloc'd (NULL while empty) */
    size_t text_len, text_cap;
    char *thinking;
    size_t thinking_len, thinking_cap;
    sy_cresp_call_t calls[SY_CRESP_MAX_CALLS];
    size_t n_calls;
    char id[128];   /* the upstream's response id, if any */
    sy_finish_t finish;
    char stop_sequence[256];
    sy_usage_t usage;
    size_t max_bytes; /* bound on text + thinking + arguments */
    size_t bytes;
} sy_cresp_t;

/* Initialise with a bound on the accumulated bytes (0 = 64 MiB). */
void sy_cresp_init(sy_cresp_t *c, size_t max_bytes);
void sy_cresp_release(sy_cresp_t *c);
/* Fold one event in. Returns 0, SY_ETOOLARGE past the bound or the call
 * limit, SY_ENOMEM. ERROR and START change nothing but the id. */
int sy_cresp_add(sy_cresp_t *c, const sy_ev_t *ev);
/* Replay c as the event sequence a stream would have given (START, the
 * thinking, the text, each tool call whole, FINISH, USAGE); stops when cb
 * returns non-zero and returns that value. piece > 0 cuts the thinking and
 * the text into pieces of about that many bytes (never inside a UTF-8
 * character), the way a real stream arrives; 0 gives each whole. */
int sy_cresp_replay(const sy_cresp_t *c, size_t piece, sy_ev_cb cb, void *ud);

/* ---- events as bytes ----------------------------------------------------- */

/*
 * One event as bytes, to hand it between threads (the dedup fan-out): a
 * fixed header (kind, finish, index, the five string lengths, the usage)
 * followed by the strings. ERROR events are not packed (a failed call's
 * error travels beside the stream). The bytes are for this process only:
 * host byte order, no version.
 */
#define SY_EV_PACK_HEAD 96
/* The packed size of ev. */
size_t sy_ev_packed_len(const sy_ev_t *ev);
/* Write ev into dst (sy_ev_packed_len(ev) bytes). */
void sy_ev_pack(const sy_ev_t *ev, unsigned char *dst);
/* Read one event from p[0..n): its strings point into p. Returns the bytes
 * it took, or 0 when p does not start with a whole packed event. */
size_t sy_ev_unpack(const unsigned char *p, size_t n, sy_ev_t *ev);

/* ---- embeddings --------------------------------------------------------- */

typedef struct sy_vec {
    float *v;
    size_t n;
} sy_vec_t;

typedef struct sy_embed {
    sy_vec_t *vecs; /* one per input, in order (arena) */
    size_t n_vecs;
    int64_t prompt_tokens; /* -1 unknown */
} sy_embed_t;

/* ---- the mapping tables -------------------------------------------------- */

/* Stop reason words: finish_reason (OpenAI), stop_reason (Anthropic),
 * done_reason (Ollama). _to_ never returns NULL (SY_FINISH_NONE gives the
 * protocol's "stop" word); _from_ maps unknown words to SY_FINISH_STOP and
 * NULL/empty to SY_FINISH_NONE. */
const char *sy_finish_to_openai(sy_finish_t f);
const char *sy_finish_to_anthropic(sy_finish_t f);
const char *sy_finish_to_ollama(sy_finish_t f);
sy_finish_t sy_finish_from_openai(const char *s, size_t n);
sy_finish_t sy_finish_from_anthropic(const char *s, size_t n);
sy_finish_t sy_finish_from_ollama(const char *s, size_t n);

/* Role words shared by the three protocols ("system", "user", "assistant",
 * "tool"); -1 for anything else. Anthropic has no "system"/"tool" roles: its
 * adapters place those themselves. */
int sy_role_from(const char *s, size_t n);
const char *sy_role_name(sy_role_t r);

/* ---- helpers the adapters share ----------------------------------------- */

/* Decode the JSON string value v into the arena. Returns 0, or -1 (out of
 * arena memory, or v not a string). */
int sy_canon_str(sy_arena_t *a, const sy_jval_t *v, sy_str_t *out);
/* A copy of raw bytes into the arena. */
int sy_canon_dup(sy_arena_t *a, const char *p, size_t n, sy_str_t *out);
/* Split an OpenAI-style "data:<media>;base64,<data>" URL. Returns 1 and sets
 * media and data (pointing into url), or 0 when url is not such a URL. */
int sy_canon_data_url(sy_str_t url, sy_str_t *media, sy_str_t *data);
/* The media type of base64 image bytes from their first bytes' signature
 * ("image/png", "image/jpeg", "image/gif", "image/webp"), for images that
 * came without one (Ollama's); "image/png" when unknown. */
const char *sy_canon_image_media(sy_str_t data);
/* A rough token estimate of a text (bytes / 4, rounded up, at least 1 for a
 * non-empty text), used where a count is needed and no tokenizer is. */
int64_t sy_canon_estimate_tokens(size_t bytes);
/* The estimate for a whole request: every text, tool schema and name. */
int64_t sy_creq_estimate_tokens(const sy_creq_t *q);

#endif
