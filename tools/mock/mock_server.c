/*
 * mock_server.c - sy-mock's workers: one event loop and one evhttp each.
 *
 * Every worker owns an event base, an evhttp bound to its own SO_REUSEPORT
 * listening socket on the shared port, a JSON tokener and a scratch buffer,
 * so requests never cross threads; only the counters in mock_stats.c and
 * the fault plan in mock_faults.c are shared. A request that can be
 * answered at once is answered inside the evhttp callback with no
 * allocation beyond json-c's parse tree and the /__stats record. Anything
 * that must wait - a delayed reply, a fault, a stream - becomes a "call"
 * that owns a timer and is driven only from that timer's callback: evhttp's
 * chunk-written callback merely activates the timer, so the call is never
 * freed, nor its connection closed, while evhttp is on the stack. A call
 * learns that its peer left through the connection's close callback
 * (reading is enabled on the connection while a call waits, because evhttp
 * stops reading once a request is in); that callback is the one place a
 * call is freed from inside an evhttp callback, which is safe because
 * evhttp_connection_free never touches the callback's argument again.
 */
#include "mock.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <json-c/json.h>

#define MAX_BODY (64u * 1024 * 1024)
#define JSON_DEPTH 256

/* What the x-mock-* headers ask of one request, over the fault plan's
 * fields when the plan applies to it, over the flags. */
typedef struct opts {
    long latency_ms;
    long ttft_ms;
    long itl_ms;
    long tokens;
    int status;
    const char *retry_after;
    const char *message; /* the error's message, NULL: "mock error NNN" */
    sy_mock_fault_t fault;
    long fault_n;
    int timestamps;
} opts_t;

typedef enum phase {
    PH_REPLY,        /* send the held reply when the timer fires */
    PH_CLOSE,        /* close the connection when the timer fires */
    PH_STALL,        /* never answer */
    PH_STREAM_START, /* send the status line and preamble */
    PH_STREAM_TOKENS,
    PH_STREAM_CUT,   /* close once the output buffer is flushed */
    PH_STREAM_STALLED,
} phase_t;

typedef struct call call_t;

struct sy_mock_worker {
    int index;
    const sy_mock_config_t *cfg;
    sy_mock_stats_t *stats;
    sy_mock_faults_t *faults;
    sy_mock_health_t *health;
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *lev; /* owned by http once bound */
    pthread_t thread;
    int started;
    json_tokener *tok;
    struct evbuffer *out; /* scratch: every reply is built here, then moved */
    call_t *calls;        /* every live call, for shutdown */
    sy_mock_rec_t *spare; /* a /__stats record to fill next */
    uint64_t next_id;
};

struct call {
    sy_mock_worker_t *w;
    call_t *prev, *next;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event timer;
    phase_t phase;
    int waiting; /* for the connection's output to drain */
    /* a held reply */
    int status;
    struct evbuffer *body;
    /* a stream */
    int streaming; /* st is linked in the stats */
    sy_mock_stream_stat_t st;
    sy_mock_gen_t g;
    long ttft_ms;
    long itl_ms;
    long cut_after;   /* -1: none */
    long stall_after; /* -1: none */
    long total;
    long sent;
    char names[]; /* the stream's copies of the model and tool names */
};

/* ---- routing ------------------------------------------------------------ */

struct route {
    const char *path;
    enum evhttp_cmd_type method;
    sy_mock_kind_t kind;
};

static const struct route routes[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, SY_MOCK_K_OAI_CHAT},
    {"/v1/completions", EVHTTP_REQ_POST, SY_MOCK_K_OAI_COMPL},
    {"/v1/embeddings", EVHTTP_REQ_POST, SY_MOCK_K_OAI_EMBED},
    {"/v1/models", EVHTTP_REQ_GET, SY_MOCK_K_OAI_MODELS},
    {"/v1/messages", EVHTTP_REQ_POST, SY_MOCK_K_ANT_MESSAGES},
    {"/api/chat", EVHTTP_REQ_POST, SY_MOCK_K_OLL_CHAT},
    {"/api/generate", EVHTTP_REQ_POST, SY_MOCK_K_OLL_GEN},
    {"/api/embed", EVHTTP_REQ_POST, SY_MOCK_K_OLL_EMBED},
    {"/api/embeddings", EVHTTP_REQ_POST, SY_MOCK_K_OLL_EMBEDDINGS},
    {"/api/tags", EVHTTP_REQ_GET, SY_MOCK_K_OLL_TAGS},
    {"/api/show", EVHTTP_REQ_POST, SY_MOCK_K_OLL_SHOW},
    {"/api/ps", EVHTTP_REQ_GET, SY_MOCK_K_OLL_PS},
    {"/api/version", EVHTTP_REQ_GET, SY_MOCK_K_OLL_VERSION},
    {"/", EVHTTP_REQ_GET, SY_MOCK_K_OLL_ROOT},
    {"/__stats", EVHTTP_REQ_GET, SY_MOCK_K_STATS},
    {"/__reset", EVHTTP_REQ_POST, SY_MOCK_K_RESET},
    {"/__faults", EVHTTP_REQ_GET, SY_MOCK_K_FAULTS_GET},
    {"/__faults", EVHTTP_REQ_POST, SY_MOCK_K_FAULTS_SET},
    {"/slots", EVHTTP_REQ_GET, SY_MOCK_K_LCPP_SLOTS},
    {"/metrics", EVHTTP_REQ_GET, SY_MOCK_K_LCPP_METRICS},
    {"/__health", EVHTTP_REQ_GET, SY_MOCK_K_HEALTH_GET},
    {"/__health", EVHTTP_REQ_POST, SY_MOCK_K_HEALTH_SET},
};
#define ROUTES_N (sizeof routes / sizeof routes[0])
#define MODEL_PREFIX "/v1/models/"

/* The endpoint for method and path; *static_path receives the route's own
 * path (for stream stats), *model_id the id of GET /v1/models/{id}. */
static sy_mock_kind_t route_of(enum evhttp_cmd_type method, const char *path,
                               const char **static_path, const char **model_id)
{
    int path_known = 0;
    if (method == EVHTTP_REQ_HEAD)
        method = EVHTTP_REQ_GET;
    /* A path may have a route per method (/__faults). */
    for (size_t i = 0; i < ROUTES_N; i++) {
        if (strcmp(path, routes[i].path) != 0)
            continue;
        *static_path = routes[i].path;
        if (method == routes[i].method)
            return routes[i].kind;
        path_known = 1;
    }
    if (path_known)
        return SY_MOCK_K_BADMETHOD;
    if (strncmp(path, MODEL_PREFIX, sizeof MODEL_PREFIX - 1) == 0 && path[sizeof MODEL_PREFIX - 1]) {
        *static_path = MODEL_PREFIX;
        *model_id = path + sizeof MODEL_PREFIX - 1;
        return method == EVHTTP_REQ_GET ? SY_MOCK_K_OAI_MODEL : SY_MOCK_K_BADMETHOD;
    }
    *static_path = "";
    return SY_MOCK_K_NOTFOUND;
}

/* The protocol an error on path is written in, for paths with no route. */
static sy_mock_proto_t proto_of_path(const char *path)
{
    if (strncmp(path, "/api/", 5) == 0)
        return SY_MOCK_P_OLLAMA;
    if (strncmp(path, "/v1/messages", 12) == 0)
        return SY_MOCK_P_ANTHROPIC;
    return SY_MOCK_P_OPENAI;
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

/* ---- per-request options ------------------------------------------------ */

/* Reads the x-mock-* headers over the fault plan's fields (plan, when not
 * NULL) over the configured defaults. A header value that does not parse, or
 * is out of range, is ignored. o->retry_after may point into plan. */
static void read_opts(const sy_mock_config_t *cfg, const sy_mock_plan_t *plan,
                      const struct evkeyvalq *hdrs, opts_t *o)
{
    const struct evkeyval *kv;
    memset(o, 0, sizeof *o);
    o->latency_ms = cfg->latency_ms;
    o->ttft_ms = cfg->ttft_ms;
    o->itl_ms = cfg->itl_ms;
    o->tokens = cfg->tokens;
    if (plan) {
        if (plan->latency_ms >= 0)
            o->latency_ms = plan->latency_ms;
        if (plan->ttft_ms >= 0)
            o->ttft_ms = plan->ttft_ms;
        if (plan->itl_ms >= 0)
            o->itl_ms = plan->itl_ms;
        if (plan->tokens >= 0)
            o->tokens = plan->tokens;
        o->status = plan->status;
        if (plan->retry_after[0])
            o->retry_after = plan->retry_after;
        if (plan->message[0])
            o->message = plan->message;
        o->fault = plan->fault;
        o->fault_n = plan->fault_n;
    }
    for (kv = (hdrs)->tqh_first; kv; kv = kv->next.tqe_next) {
        const char *k = kv->key;
        long v;
        if (strncasecmp(k, "x-mock-", 7) != 0)
            continue;
        k += 7;
        if (strcasecmp(k, "latency-ms") == 0)
            sy_mock_parse_long(kv->value, 0, SY_MOCK_MAX_DELAY_MS, &o->latency_ms);
        else if (strcasecmp(k, "ttft-ms") == 0)
            sy_mock_parse_long(kv->value, 0, SY_MOCK_MAX_DELAY_MS, &o->ttft_ms);
        else if (strcasecmp(k, "itl-ms") == 0)
            sy_mock_parse_long(kv->value, 0, SY_MOCK_MAX_DELAY_MS, &o->itl_ms);
        else if (strcasecmp(k, "tokens") == 0)
            sy_mock_parse_long(kv->value, 0, SY_MOCK_MAX_TOKENS, &o->tokens);
        else if (strcasecmp(k, "status") == 0) {
            if (sy_mock_parse_long(kv->value, 400, 599, &v) == 0)
                o->status = (int)v;
        } else if (strcasecmp(k, "retry-after") == 0)
            o->retry_after = kv->value;
        else if (strcasecmp(k, "fault") == 0)
            sy_mock_parse_fault(kv->value, &o->fault, &o->fault_n);
        else if (strcasecmp(k, "timestamps") == 0)
            o->timestamps = strcmp(kv->value, "1") == 0 || strcasecmp(kv->value, "true") == 0;
    }
}

/* Reason phrases evhttp's own table lacks (it answers 429 "Client Error"). */
static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 529: return "Overloaded";
    default: return NULL; /* evhttp's phrase */
    }
}

/* ---- calls -------------------------------------------------------------- */

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_close(struct evhttp_connection *evcon, void *arg);

static call_t *call_new(sy_mock_worker_t *w, struct evhttp_request *req, size_t extra)
{
    call_t *c = calloc(1, sizeof *c + extra);
    if (c == NULL)
        return NULL;
    c->w = w;
    c->req = req;
    c->evcon = evhttp_request_get_connection(req);
    c->cut_after = -1;
    c->stall_after = -1;
    evtimer_assign(&c->timer, w->base, on_timer, c);
    c->next = w->calls;
    if (w->calls)
        w->calls->prev = c;
    w->calls = c;
    /* evhttp stopped reading once the request was in, so it would not see the
     * peer leave. Read again, with no read callback (evhttp's would abort on
     * bytes arriving mid-reply), keeping evhttp's event callback: EOF then
     * fails the connection and runs on_close. Once a reply starts evhttp
     * installs the same arrangement itself. */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    bufferevent_data_cb wcb = NULL;
    bufferevent_event_cb ecb = NULL;
    void *cbarg = NULL;
    bufferevent_getcb(bev, NULL, &wcb, &ecb, &cbarg);
    bufferevent_setcb(bev, NULL, wcb, ecb, cbarg);
    bufferevent_enable(bev, EV_READ);
    evhttp_connection_set_closecb(c->evcon, on_close, c);
    return c;
}

/* Unlinks and frees c. Its request is no longer c's concern: answered,
 * freed with its connection, or freed by the caller. */
static void call_free(call_t *c)
{
    sy_mock_worker_t *w = c->w;
    event_del(&c->timer);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->body)
        evbuffer_free(c->body);
    free(c);
}

static void arm(call_t *c, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&c->timer, &tv);
}

/* Runs c's next step from the loop rather than from the current callback. */
static void kick(call_t *c)
{
    event_active(&c->timer, EV_TIMEOUT, 1);
}

static size_t out_len(const call_t *c)
{
    return evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(c->evcon)));
}

/* The peer closed (or the connection failed). evhttp detached the pending
 * request from the dying connection, so it is ours to free. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    call_t *c = arg;
    (void)evcon;
    if (c->streaming)
        sy_mock_stats_stream_close(c->w->stats, &c->st, SY_MOCK_END_CANCELLED);
    if (evhttp_request_get_connection(c->req) == NULL)
        evhttp_request_free(c->req);
    call_free(c);
}

/* Drops the connection under c without a response (or mid-stream). */
static void close_abruptly(call_t *c)
{
    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    /* Frees the pending request with it; shuts the socket down after what
     * was already flushed, so the peer sees the stream end with no last
     * chunk. */
    evhttp_connection_free(c->evcon);
    call_free(c);
}

static void on_chunk_written(struct evhttp_connection *evcon, void *arg)
{
    call_t *c = arg;
    (void)evcon;
    if (c->waiting) {
        c->waiting = 0;
        kick(c);
    }
}

static void send_chunk(call_t *c)
{
    if (evbuffer_get_length(c->w->out))
        evhttp_send_reply_chunk_with_cb(c->req, c->w->out, on_chunk_written, c);
}

static int fault_due(const call_t *c)
{
    return (c->cut_after >= 0 && c->sent >= c->cut_after) ||
           (c->stall_after >= 0 && c->sent >= c->stall_after);
}

static void stream_finish(call_t *c)
{
    sy_mock_stream_tail(c->w->out, &c->g);
    evhttp_send_reply_chunk(c->req, c->w->out);
    /* Counted before the last bytes leave, so a client that has read the
     * whole stream finds it completed in /__stats. */
    sy_mock_stats_stream_close(c->w->stats, &c->st, SY_MOCK_END_COMPLETED);
    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    evhttp_send_reply_end(c->req);
    call_free(c);
}

static void stream_start(call_t *c)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(oh, "Content-Type", sy_mock_stream_content_type(c->g.kind));
    evhttp_add_header(oh, "Cache-Control", "no-cache");
    evhttp_send_reply_start(c->req, 200, "OK");
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux; set it
     * again where a delayed ACK would hurt most. */
    int one = 1;
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sy_mock_stream_head(c->w->out, &c->g);
    send_chunk(c);
}

/* Advances a stream as far as it can go now: until a delay, a full output
 * buffer, a stall, or its end. */
static void stream_step(call_t *c)
{
    for (;;) {
        switch (c->phase) {
        case PH_STREAM_START:
            stream_start(c);
            c->phase = PH_STREAM_TOKENS;
            if (c->ttft_ms > 0 && c->total > 0 && !fault_due(c)) {
                arm(c, c->ttft_ms);
                return;
            }
            break;
        case PH_STREAM_TOKENS:
            if (c->cut_after >= 0 && c->sent >= c->cut_after) {
                c->phase = PH_STREAM_CUT;
                break;
            }
            if (c->stall_after >= 0 && c->sent >= c->stall_after) {
                c->phase = PH_STREAM_STALLED;
                return;
            }
            if (c->sent >= c->total) {
                stream_finish(c);
                return;
            }
            if (out_len(c) >= SY_MOCK_HIGH_WATER) {
                c->waiting = 1;
                return;
            }
            if (c->sent == 0)
                c->g.t_first_ns = sy_mock_mono_ns();
            sy_mock_stream_token(c->w->out, &c->g, c->sent, c->total);
            send_chunk(c);
            c->sent++;
            atomic_store_explicit(&c->st.tokens_sent, c->sent, memory_order_relaxed);
            if (c->itl_ms > 0 && c->sent < c->total && !fault_due(c)) {
                arm(c, c->itl_ms);
                return;
            }
            break;
        case PH_STREAM_CUT:
            /* Let the N chunks reach the peer before the connection goes.
             * If nothing was sent since the status line, evhttp holds no
             * chunk callback of ours: poll as well. */
            if (out_len(c) > 0) {
                c->waiting = 1;
                arm(c, 5);
                return;
            }
            sy_mock_stats_stream_close(c->w->stats, &c->st, SY_MOCK_END_CUT);
            c->streaming = 0;
            close_abruptly(c);
            return;
        default: /* PH_STREAM_STALLED: silent until the peer leaves */
            return;
        }
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    call_t *c = arg;
    (void)fd;
    (void)what;
    switch (c->phase) {
    case PH_REPLY:
        evhttp_connection_set_closecb(c->evcon, NULL, NULL);
        evhttp_send_reply(c->req, c->status, reason_of(c->status), c->body);
        call_free(c);
        break;
    case PH_CLOSE:
        close_abruptly(c);
        break;
    case PH_STALL:
        break;
    default:
        stream_step(c);
        break;
    }
}

/* ---- replies ------------------------------------------------------------ */

/* Sends what w->out holds with status and content type, now or after
 * latency_ms. */
static void deliver(sy_mock_worker_t *w, struct evhttp_request *req, int status,
                    const char *ctype, long latency_ms)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    if (latency_ms <= 0) {
        evhttp_send_reply(req, status, reason_of(status), w->out);
        return;
    }
    call_t *c = call_new(w, req, 0);
    if (c == NULL || (c->body = evbuffer_new()) == NULL) {
        if (c)
            call_free(c);
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
        evhttp_send_reply(req, status, reason_of(status), w->out);
        return;
    }
    evbuffer_add_buffer(c->body, w->out);
    c->phase = PH_REPLY;
    c->status = status;
    arm(c, latency_ms);
}

static void deliver_error(sy_mock_worker_t *w, struct evhttp_request *req, sy_mock_proto_t proto,
                          int status, const char *msg, const char *code, long latency_ms)
{
    evbuffer_drain(w->out, evbuffer_get_length(w->out));
    sy_mock_error_body(w->out, proto, status, msg, code);
    deliver(w, req, status, "application/json", latency_ms);
}

/* Holds req for a fault that never answers: stall, or close after latency. */
static void hold(sy_mock_worker_t *w, struct evhttp_request *req, phase_t phase, long latency_ms)
{
    call_t *c = call_new(w, req, 0);
    if (c == NULL) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    c->phase = phase;
    if (phase == PH_CLOSE) {
        if (latency_ms > 0)
            arm(c, latency_ms);
        else
            kick(c);
    }
}

static void start_stream(sy_mock_worker_t *w, struct evhttp_request *req, const sy_mock_gen_t *g,
                         const opts_t *o, const char *path)
{
    call_t *c = call_new(w, req, g->model_len + g->tool_len + 2);
    if (c == NULL) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
        deliver_error(w, req, sy_mock_kind_proto(g->kind), 500, "mock: out of memory", NULL, 0);
        return;
    }
    c->g = *g;
    memcpy(c->names, g->model, g->model_len);
    c->names[g->model_len] = 0;
    c->g.model = c->names;
    if (g->tool) {
        char *t = c->names + g->model_len + 1;
        memcpy(t, g->tool, g->tool_len);
        t[g->tool_len] = 0;
        c->g.tool = t;
    }
    c->g.input = NULL;
    c->ttft_ms = o->ttft_ms;
    c->itl_ms = o->itl_ms;
    if (o->fault == SY_MOCK_FAULT_CUT)
        c->cut_after = o->fault_n;
    else if (o->fault == SY_MOCK_FAULT_STALL_AFTER)
        c->stall_after = o->fault_n;
    c->total = sy_mock_stream_total(&c->g);
    c->st.path = path;
    c->st.tokens_total = c->total;
    atomic_init(&c->st.tokens_sent, 0);
    sy_mock_stats_stream_open(w->stats, &c->st);
    c->streaming = 1;
    c->phase = PH_STREAM_START;
    if (o->latency_ms > 0)
        arm(c, o->latency_ms);
    else
        kick(c);
}

/* Parses the body into *root. Returns 0, or -1 with a message in err. */
static int parse_body(sy_mock_worker_t *w, const char *body, size_t len, json_object **root,
                      char *err, size_t errlen)
{
    json_tokener_reset(w->tok);
    *root = len ? json_tokener_parse_ex(w->tok, body, (int)len) : NULL;
    enum json_tokener_error jerr = json_tokener_get_error(w->tok);
    if (*root == NULL || jerr != json_tokener_success) {
        snprintf(err, errlen, "mock: invalid JSON body: %s",
                 len == 0 || jerr == json_tokener_continue ? "unexpected end of input"
                                                           : json_tokener_error_desc(jerr));
        json_object_put(*root);
        *root = NULL;
        return -1;
    }
    for (size_t i = json_tokener_get_parse_end(w->tok); i < len; i++) {
        char ch = body[i];
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
            snprintf(err, errlen, "mock: invalid JSON body: trailing data at byte %zu", i);
            json_object_put(*root);
            *root = NULL;
            return -1;
        }
    }
    return 0;
}

/* POST /__faults: replaces the fault plan, or answers 400 and keeps it. */
static void set_faults(sy_mock_worker_t *w, struct evhttp_request *req, const char *body,
                       size_t len)
{
    json_object *root = NULL;
    char err[256];
    if (parse_body(w, body, len, &root, err, sizeof err) < 0 ||
        sy_mock_faults_set(w->faults, root, err, sizeof err) < 0) {
        evbuffer_add(w->out, "{\"ok\":false,\"error\":\"", 21);
        sy_mock_json_escape(w->out, err, strlen(err));
        evbuffer_add(w->out, "\"}", 2);
        deliver(w, req, 400, "application/json", 0);
        goto out;
    }
    if (!w->cfg->quiet) {
        sy_mock_faults_json(w->faults, w->out);
        fprintf(stderr, "sy-mock: fault plan %.*s\n", (int)evbuffer_get_length(w->out),
                (const char *)evbuffer_pullup(w->out, -1));
        evbuffer_drain(w->out, evbuffer_get_length(w->out));
    }
    evbuffer_add(w->out, "{\"ok\":true}", 11);
    deliver(w, req, 200, "application/json", 0);
out:
    json_object_put(root);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    sy_mock_worker_t *w = arg;
    int64_t t0 = sy_mock_mono_ns();
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *static_path = "", *model_id = NULL;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    json_object *root = NULL;
    char err[256];
    opts_t o;

    if (path == NULL || *path == 0)
        path = "/";
    if (body == NULL) {
        body = "";
        len = 0;
    }
    evbuffer_drain(w->out, evbuffer_get_length(w->out));
    sy_mock_kind_t kind = route_of(cmd, path, &static_path, &model_id);

    if (kind == SY_MOCK_K_STATS) {
        sy_mock_stats_json(w->stats, w->out);
        deliver(w, req, 200, "application/json", 0);
        return;
    }
    if (kind == SY_MOCK_K_RESET) {
        sy_mock_stats_reset(w->stats);
        sy_mock_faults_clear(w->faults);
        sy_mock_health_reset(w->health);
        evbuffer_add(w->out, "{}", 2);
        deliver(w, req, 200, "application/json", 0);
        return;
    }
    if (kind == SY_MOCK_K_FAULTS_GET) {
        sy_mock_faults_json(w->faults, w->out);
        deliver(w, req, 200, "application/json", 0);
        return;
    }
    if (kind == SY_MOCK_K_FAULTS_SET) {
        set_faults(w, req, body, len);
        return;
    }
    if (kind == SY_MOCK_K_HEALTH_GET) {
        sy_mock_health_json(w->health, w->out);
        deliver(w, req, 200, "application/json", 0);
        return;
    }
    if (kind == SY_MOCK_K_HEALTH_SET) {
        if (parse_body(w, body, len, &root, err, sizeof err) < 0 ||
            sy_mock_health_set(w->health, root, err, sizeof err) < 0) {
            evbuffer_add(w->out, "{\"ok\":false,\"error\":\"", 21);
            sy_mock_json_escape(w->out, err, strlen(err));
            evbuffer_add(w->out, "\"}", 2);
            deliver(w, req, 400, "application/json", 0);
        } else {
            evbuffer_add(w->out, "{\"ok\":true}", 11);
            deliver(w, req, 200, "application/json", 0);
        }
        json_object_put(root);
        return;
    }

    const struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
    /* The control endpoints are never counted, whatever the method. */
    if (strncmp(path, "/__", 3) != 0) {
        sy_mock_rec_t *rec = sy_mock_rec_new(w->spare, method_name(cmd), path, hdrs, body, len);
        w->spare = sy_mock_stats_request(w->stats, path, rec);
    }
    if (!w->cfg->quiet)
        fprintf(stderr, "sy-mock: %s %s (%zu bytes)\n", method_name(cmd), path, len);

    sy_mock_proto_t proto =
        kind == SY_MOCK_K_NOTFOUND || kind == SY_MOCK_K_BADMETHOD ? proto_of_path(path) : sy_mock_kind_proto(kind);
    if (kind == SY_MOCK_K_NOTFOUND) {
        snprintf(err, sizeof err, "mock: no route for %s %.128s", method_name(cmd), path);
        deliver_error(w, req, proto, 404, err, "unknown_url", 0);
        return;
    }
    if (kind == SY_MOCK_K_BADMETHOD) {
        snprintf(err, sizeof err, "mock: method %s not allowed on %.128s", method_name(cmd), path);
        deliver_error(w, req, proto, 405, err, "method_not_allowed", 0);
        return;
    }

    /* The plan is taken only by requests it can affect: not by a 404 or a
     * 405 above, nor by the control endpoints. */
    sy_mock_plan_t plan;
    int planned = strncmp(path, "/__", 3) != 0 && sy_mock_faults_take(w->faults, path, &plan);
    read_opts(w->cfg, planned ? &plan : NULL, hdrs, &o);

    if (o.fault == SY_MOCK_FAULT_STALL) {
        hold(w, req, PH_STALL, 0);
        return;
    }
    if (o.fault == SY_MOCK_FAULT_CLOSE) {
        hold(w, req, PH_CLOSE, o.latency_ms);
        return;
    }
    if (o.status) {
        if (o.retry_after)
            evhttp_add_header(oh, "Retry-After", o.retry_after);
        if (o.message)
            snprintf(err, sizeof err, "%s", o.message);
        else
            snprintf(err, sizeof err, "mock error %d", o.status);
        deliver_error(w, req, proto, o.status, err, NULL, o.latency_ms);
        return;
    }

    sy_mock_gen_t g;
    memset(&g, 0, sizeof g);
    g.kind = kind;
    g.t_start_ns = t0;
    g.t_first_ns = 0;
    if (cmd == EVHTTP_REQ_POST) {
        if (parse_body(w, body, len, &root, err, sizeof err) < 0 ||
            sy_mock_decode(&g, kind, root, err, sizeof err) < 0) {
            deliver_error(w, req, proto, 400, err, "invalid_request", o.latency_ms);
            goto out;
        }
    }
    if (o.fault == SY_MOCK_FAULT_BAD_JSON) {
        int stream = sy_mock_kind_streams(kind) && g.stream;
        sy_mock_bad_json(w->out, kind, stream);
        deliver(w, req, 200, stream ? sy_mock_stream_content_type(kind) : "application/json",
                o.latency_ms);
        goto out;
    }

    switch (kind) {
    case SY_MOCK_K_OAI_MODEL:
        if (!sy_mock_model_known(model_id)) {
            snprintf(err, sizeof err, "The model '%.128s' does not exist", model_id);
            deliver_error(w, req, proto, 404, err, "model_not_found", o.latency_ms);
            goto out;
        }
        sy_mock_reply_models(w->out, kind, model_id);
        deliver(w, req, 200, "application/json", o.latency_ms);
        goto out;
    case SY_MOCK_K_OLL_PS:
    case SY_MOCK_K_LCPP_SLOTS:
    case SY_MOCK_K_LCPP_METRICS: {
        sy_mock_health_state_t hs;
        sy_mock_health_get(w->health, &hs);
        if (kind == SY_MOCK_K_OLL_PS && !hs.loaded_set)
            break; /* every model, below */
        if ((kind == SY_MOCK_K_LCPP_SLOTS && !hs.slots_on) || (kind == SY_MOCK_K_LCPP_METRICS && !hs.metrics_on)) {
            /* llama.cpp's answer for an endpoint it was started without */
            snprintf(err, sizeof err, "This server does not support %s endpoint.",
                     kind == SY_MOCK_K_LCPP_SLOTS ? "slots" : "metrics");
            deliver_error(w, req, proto, 501, err, "not_supported_error", o.latency_ms);
            goto out;
        }
        if (kind == SY_MOCK_K_OLL_PS)
            sy_mock_reply_ps(w->out, (const char(*)[SY_MOCK_HEALTH_NAME_MAX + 1])hs.loaded, hs.n_loaded);
        else if (kind == SY_MOCK_K_LCPP_SLOTS)
            sy_mock_health_slots(&hs, w->out);
        else
            sy_mock_health_metrics(&hs, w->out);
        deliver(w, req, 200, kind == SY_MOCK_K_LCPP_METRICS ? "text/plain; version=0.0.4" : "application/json",
                o.latency_ms);
        goto out;
    }
    default:
        break;
    }
    switch (kind) {
    case SY_MOCK_K_OAI_MODELS:
    case SY_MOCK_K_OLL_TAGS:
    case SY_MOCK_K_OLL_PS:
    case SY_MOCK_K_OLL_VERSION:
        sy_mock_reply_models(w->out, kind, NULL);
        deliver(w, req, 200, "application/json", o.latency_ms);
        goto out;
    case SY_MOCK_K_OLL_SHOW: {
        char name[SY_MOCK_NAME_MAX + 1];
        memcpy(name, g.model, g.model_len);
        name[g.model_len] = 0;
        sy_mock_reply_models(w->out, kind, name);
        deliver(w, req, 200, "application/json", o.latency_ms);
        goto out;
    }
    case SY_MOCK_K_OLL_ROOT:
        sy_mock_reply_models(w->out, kind, NULL);
        deliver(w, req, 200, "text/plain; charset=utf-8", o.latency_ms);
        goto out;
    case SY_MOCK_K_OAI_EMBED:
    case SY_MOCK_K_OLL_EMBED:
    case SY_MOCK_K_OLL_EMBEDDINGS:
        sy_mock_reply_embeddings(w->out, &g);
        deliver(w, req, 200, "application/json", o.latency_ms);
        goto out;
    default:
        break;
    }

    /* Generation endpoints. */
    g.tokens = o.tokens;
    g.timestamps = o.timestamps;
    g.created = (long long)time(NULL);
    snprintf(g.id, sizeof g.id, "mock%02x%012llx", (unsigned)w->index & 0xff,
             (unsigned long long)++w->next_id);
    if (g.stream) {
        start_stream(w, req, &g, &o, static_path);
        goto out;
    }
    sy_mock_reply(w->out, &g);
    deliver(w, req, 200, "application/json", o.latency_ms);
out:
    json_object_put(root);
}

/* ---- lifecycle ---------------------------------------------------------- */

/* Resolves host for a passive socket, preferring IPv4 so "localhost" binds
 * where clients dialling 127.0.0.1 will look. */
static struct addrinfo *resolve(const char *host, int port)
{
    struct addrinfo hints, *ai = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "sy-mock: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return NULL;
    }
    return ai;
}

/* Whether something already listens on ai's address. SO_REUSEPORT would
 * let this process silently share the port with another sy-mock of the same
 * user, splitting a test's traffic between the two: probe with a plain
 * socket first. */
static int port_taken(const struct addrinfo *ai)
{
    int one = 1, taken = 0;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EADDRINUSE)
        taken = 1;
    close(fd);
    return taken;
}

sy_mock_worker_t *sy_mock_worker_new(int index, const sy_mock_config_t *cfg, int *port,
                                     sy_mock_stats_t *stats, sy_mock_faults_t *faults, sy_mock_health_t *health)
{
    struct addrinfo *ai = NULL, *pick;
    sy_mock_worker_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        goto fail;
    w->index = index;
    w->cfg = cfg;
    w->stats = stats;
    w->faults = faults;
    w->health = health;
    /* evhttp turns read and write interest off and on several times per
     * request; the changelist folds those into one epoll_ctl per loop pass
     * (our sockets are never dup'ed, the case the flag warns about). */
    struct event_config *ecfg = event_config_new();
    if (ecfg == NULL)
        goto fail;
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    /* token timing is what the mock simulates: without this libevent uses a
     * coarse clock (4 ms steps here), and a 2 ms inter-token delay becomes 4 */
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    w->base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (w->base == NULL || (w->http = evhttp_new(w->base)) == NULL ||
        (w->tok = json_tokener_new_ex(JSON_DEPTH)) == NULL || (w->out = evbuffer_new()) == NULL) {
        fprintf(stderr, "sy-mock: out of memory\n");
        goto fail;
    }
    if ((ai = resolve(cfg->host, *port)) == NULL)
        goto fail;
    pick = ai;
    for (struct addrinfo *p = ai; p; p = p->ai_next)
        if (p->ai_family == AF_INET) {
            pick = p;
            break;
        }
    if (index == 0 && *port != 0 && port_taken(pick)) {
        fprintf(stderr, "sy-mock: cannot listen on %s:%d: %s\n", cfg->host, *port, strerror(EADDRINUSE));
        goto fail;
    }
    /* One socket per worker on the same port; the kernel spreads accepted
     * connections across them. The backlog is evhttp's 128 raised for bursts
     * of benchmark connections. */
    w->lev = evconnlistener_new_bind(w->base, NULL, NULL,
                                     LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                     1024, pick->ai_addr, (int)pick->ai_addrlen);
    if (w->lev == NULL) {
        fprintf(stderr, "sy-mock: cannot listen on %s:%d: %s\n", cfg->host, *port, strerror(errno));
        goto fail;
    }
    /* Linux copies TCP_NODELAY from a listener to the sockets it accepts;
     * evhttp's accept path offers no other hook. Without it SSE chunks wait
     * on the peer's delayed ACK. */
    int one = 1;
    setsockopt(evconnlistener_get_fd(w->lev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (evhttp_bind_listener(w->http, w->lev) == NULL) {
        evconnlistener_free(w->lev);
        w->lev = NULL;
        fprintf(stderr, "sy-mock: cannot bind the HTTP server\n");
        goto fail;
    }
    if (*port == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(evconnlistener_get_fd(w->lev), (struct sockaddr *)&ss, &sl) != 0)
            goto fail;
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    }
    evhttp_set_gencb(w->http, on_request, w);
    evhttp_set_max_body_size(w->http, MAX_BODY);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    freeaddrinfo(ai);
    return w;
fail:
    if (ai)
        freeaddrinfo(ai);
    sy_mock_worker_free(w);
    return NULL;
}

void sy_mock_worker_authority(const sy_mock_worker_t *w, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "127.0.0.1";
    int port = 0;
    if (getsockname(evconnlistener_get_fd(w->lev), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            port = ntohs(s6->sin6_port);
            if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
                snprintf(host, sizeof host, "::1");
            else
                inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
            snprintf(buf, len, "[%s]:%d", host, port);
            return;
        }
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        port = ntohs(s4->sin_port);
        if (s4->sin_addr.s_addr != htonl(INADDR_ANY))
            inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
    }
    snprintf(buf, len, "%s:%d", host, port);
}

static void *worker_main(void *arg)
{
    sy_mock_worker_t *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

int sy_mock_worker_start(sy_mock_worker_t *w)
{
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return -1;
    w->started = 1;
    return 0;
}

void sy_mock_worker_stop(sy_mock_worker_t *w)
{
    if (w == NULL || !w->started)
        return;
    event_base_loopexit(w->base, NULL);
    pthread_join(w->thread, NULL);
    w->started = 0;
}

void sy_mock_worker_free(sy_mock_worker_t *w)
{
    if (w == NULL)
        return;
    /* Calls still held: detach them from their connections, which evhttp_free
     * then closes along with their requests. */
    while (w->calls) {
        call_t *c = w->calls;
        if (c->streaming)
            sy_mock_stats_stream_close(w->stats, &c->st, SY_MOCK_END_SHUTDOWN);
        evhttp_connection_set_closecb(c->evcon, NULL, NULL);
        call_free(c);
    }
    if (w->http)
        evhttp_free(w->http);
    sy_mock_rec_free(w->spare);
    if (w->tok)
        json_tokener_free(w->tok);
    if (w->out)
        evbuffer_free(w->out);
    if (w->base)
        event_base_free(w->base);
    free(w);
}
