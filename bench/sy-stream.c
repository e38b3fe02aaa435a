/*
 * sy-stream - the project's streaming load client, used by `make bench`.
 *
 * It sends the same streaming OpenAI chat request N times to HOST:PORT/PATH
 * (over a few keep-alive connections, one thread each, one request at a time
 * per connection), asks sy-mock through x-mock-* headers to stamp every SSE
 * chunk with "mock_ts_ns" (CLOCK_MONOTONIC at the moment the mock wrote it),
 * and decodes the chunked SSE reply incrementally. Because the mock and this
 * client run on the same machine and read the same clock, "now at receipt -
 * mock_ts_ns" is the one-way latency of a chunk through whatever sits in
 * between (nothing, nginx, switchyard). TTFT is the time from the request's
 * first byte sent to the receipt of the first chunk that carries text;
 * "net" TTFT takes out the mock's deliberate wait between its first (role)
 * chunk and its first text chunk, as both are stamped by the mock's clock.
 *
 * The receive time of a chunk is taken right after the recv() that completed
 * it, before any parsing, so the client's own JSON work is not counted. The
 * result is one JSON line on stdout:
 *   {"ttft_us":{"p50","p99",...},"ttft_net_us":{...},"chunk_latency_us":{...},
 *    "chunks":N,"events":N,"text_chunks":N,"requests":N,"errors":N,
 *    "first_error":"..."}
 * and the exit status is 0 only if every request succeeded.
 *
 * --proto picks the client's protocol, for the gateway's translated paths:
 * "openai" (the default: POST an OpenAI chat request, read SSE chunks up to
 * data: [DONE]), "ollama" (an Ollama /api/chat request, NDJSON lines up to
 * the one with "done":true) or "anthropic" (a Messages request, SSE events up
 * to message_stop). A translating gateway does not carry the mock's stamps
 * over, so those paths give TTFT but no chunk latency; what they are run for
 * is the count of events and of text pieces, which says each stream arrived
 * whole, while the caller measures the gateway's CPU around the run.
 *
 * Plain blocking sockets with TCP_NODELAY (without it the delayed ACK of the
 * client adds tens of milliseconds to small SSE writes) and a receive timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SY_STREAM_MAX_CONC 64
#define SY_STREAM_MAX_REQUESTS 1000000L
#define SY_STREAM_HDR_MAX (16 * 1024)
#define SY_STREAM_EVENT_MAX (1024 * 1024)
#define SY_STREAM_LINE_MAX 256
#define SY_STREAM_REQ_MAX (16 * 1024)
#define SY_STREAM_SAMPLES_MAX (64L * 1024 * 1024)

/* The client protocols --proto accepts. */
enum sy_proto { SY_PROTO_OPENAI, SY_PROTO_OLLAMA, SY_PROTO_ANTHROPIC };
static const char *const sy_proto_names[] = {"openai", "ollama", "anthropic"};

typedef struct sy_stream_opts {
    const char *host;
    const char *port;
    const char *path;
    const char *model;
    enum sy_proto proto;
    long requests;
    long warmup;
    long concurrency;
    long tokens;
    long ttft_ms;
    long itl_ms;
    long timeout_ms;
    bool new_conn;
    const char *raw_path;
    char req[SY_STREAM_REQ_MAX];
    size_t req_len;
} sy_stream_opts_t;

/* A growable array of nanosecond samples with a hard upper bound. */
typedef struct sy_samples {
    int64_t *v;
    size_t n;
    size_t cap;
} sy_samples_t;

typedef struct sy_stream_worker {
    const sy_stream_opts_t *o;
    long todo;   /* measured requests this worker sends */
    long warmup; /* unmeasured requests sent first */
    sy_samples_t ttft;
    sy_samples_t ttft_net;
    sy_samples_t chunk;
    long requests;
    long errors;
    long chunks_without_ts;
    long events;      /* data payloads (SSE) or lines (NDJSON) of measured requests */
    long text_chunks; /* of those, the ones that carried text */
    char first_error[256];
    pthread_t tid;
} sy_stream_worker_t;

/* The chunked-transfer decoder's states. */
enum sy_chunk_state { SY_CH_SIZE, SY_CH_DATA, SY_CH_DATA_CRLF, SY_CH_TRAILER, SY_CH_DONE };

/* Everything one response needs while it is being read. */
typedef struct sy_resp {
    /* headers */
    char hdr[SY_STREAM_HDR_MAX];
    size_t hdr_len;
    bool hdr_done;
    int status;
    bool chunked;
    long long content_length; /* -1: until close */
    bool conn_close;
    /* body framing */
    enum sy_chunk_state cst;
    unsigned long long chunk_left;
    char line[SY_STREAM_LINE_MAX];
    size_t line_len;
    long long body_read;
    bool body_done;
    /* SSE */
    char *ev;
    size_t ev_len;
    bool saw_done;
    bool saw_error;
    bool saw_content;
    bool have_ts_first;
    int64_t ts_first; /* mock_ts_ns of the stream's first chunk */
    long events;
    long text_chunks;
    char err[200];
    /* timing */
    int64_t t_sent;
    int64_t t_recv;
    bool measure;
} sy_resp_t;

static volatile sig_atomic_t g_stop;

static int64_t sy_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Appends one sample; returns -1 when the bound is reached or memory runs out. */
static int sy_samples_add(sy_samples_t *s, int64_t v)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        int64_t *nv;

        if (ncap > (size_t)SY_STREAM_SAMPLES_MAX)
            return -1;
        nv = realloc(s->v, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = v;
    return 0;
}

static int sy_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double sy_pct_us(const sy_samples_t *s, double p)
{
    size_t idx;
    double rank;

    if (s->n == 0)
        return 0.0;
    rank = p / 100.0 * (double)s->n;
    idx = (size_t)rank;
    if ((double)idx < rank)
        idx++;
    if (idx == 0)
        idx = 1;
    if (idx > s->n)
        idx = s->n;
    return (double)s->v[idx - 1] / 1000.0;
}

static void sy_worker_fail(sy_stream_worker_t *w, const char *msg)
{
    size_t n = strlen(msg);

    w->errors++;
    if (w->first_error[0] == '\0') {
        /* truncation is fine: it is a hint for the report */
        if (n >= sizeof(w->first_error))
            n = sizeof(w->first_error) - 1;
        memcpy(w->first_error, msg, n);
        w->first_error[n] = '\0';
    }
}

/* Connects to the target; returns a socket or -1 with errno set. */
static int sy_connect(const sy_stream_opts_t *o)
{
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, one = 1;
    struct timeval tv;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(o->host, o->port, &hints, &res) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tv.tv_sec = o->timeout_ms / 1000;
    tv.tv_usec = (o->timeout_ms % 1000) * 1000;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static int sy_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Case-insensitive search of a header value in the raw header block. */
static const char *sy_hdr_find(const char *hdr, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = hdr, *end = hdr + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;

        if ((size_t)(le - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            const char *ve = le;

            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = le + 1;
    }
    return NULL;
}

/* Parses the status line and the framing headers once "\r\n\r\n" arrived. */
static int sy_parse_headers(sy_resp_t *r)
{
    const char *v;
    size_t vlen;
    char num[32];
    char *end;

    if (r->hdr_len < 12 || strncmp(r->hdr, "HTTP/1.", 7) != 0)
        return -1;
    r->status = (int)strtol(r->hdr + 9, &end, 10);
    r->content_length = -1;
    v = sy_hdr_find(r->hdr, r->hdr_len, "transfer-encoding", &vlen);
    if (v && vlen >= 7 && strncasecmp(v + vlen - 7, "chunked", 7) == 0)
        r->chunked = true;
    v = sy_hdr_find(r->hdr, r->hdr_len, "content-length", &vlen);
    if (v && !r->chunked && vlen < sizeof(num)) {
        memcpy(num, v, vlen);
        num[vlen] = '\0';
        r->content_length = strtoll(num, &end, 10);
    }
    v = sy_hdr_find(r->hdr, r->hdr_len, "connection", &vlen);
    if (v && vlen == 5 && strncasecmp(v, "close", 5) == 0)
        r->conn_close = true;
    if (strncmp(r->hdr, "HTTP/1.0", 8) == 0 && !(v && vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0))
        r->conn_close = true;
    if (!r->chunked && r->content_length < 0)
        r->conn_close = true;
    return 0;
}

/* Reads the text a chunk carries: chat delta.content or completions text. */
static bool sy_chunk_has_text(struct json_object *obj)
{
    struct json_object *choices, *c0, *delta, *content;

    if (!json_object_object_get_ex(obj, "choices", &choices) ||
        !json_object_is_type(choices, json_type_array) || json_object_array_length(choices) == 0)
        return false;
    c0 = json_object_array_get_idx(choices, 0);
    if (!json_object_is_type(c0, json_type_object))
        return false;
    if (json_object_object_get_ex(c0, "delta", &delta) &&
        json_object_is_type(delta, json_type_object) &&
        json_object_object_get_ex(delta, "content", &content) &&
        json_object_is_type(content, json_type_string) && json_object_get_string_len(content) > 0)
        return true;
    if (json_object_object_get_ex(c0, "text", &content) &&
        json_object_is_type(content, json_type_string) && json_object_get_string_len(content) > 0)
        return true;
    return false;
}

/* A string member of obj with at least one byte. */
static bool sy_nonempty_str(struct json_object *obj, const char *key)
{
    struct json_object *v;

    return json_object_is_type(obj, json_type_object) && json_object_object_get_ex(obj, key, &v) &&
           json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0;
}

/* A string member of obj equal to want. */
static bool sy_str_is(struct json_object *obj, const char *key, const char *want)
{
    struct json_object *v;

    return json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), want) == 0;
}

/* Anthropic: a content_block_delta whose delta carries text. */
static bool sy_anthropic_has_text(struct json_object *obj)
{
    struct json_object *delta;

    return sy_str_is(obj, "type", "content_block_delta") &&
           json_object_object_get_ex(obj, "delta", &delta) && sy_nonempty_str(delta, "text");
}

/* Ollama: a line whose message carries content. */
static bool sy_ollama_has_text(struct json_object *obj)
{
    struct json_object *msg;

    return json_object_object_get_ex(obj, "message", &msg) && sy_nonempty_str(msg, "content");
}

/*
 * Whether obj ends the stream in its protocol: Anthropic's message_stop
 * event, Ollama's line with "done": true. (OpenAI's end is data: [DONE],
 * which is not JSON and is seen before parsing.)
 */
static bool sy_is_last(enum sy_proto proto, struct json_object *obj)
{
    struct json_object *v;

    if (proto == SY_PROTO_ANTHROPIC)
        return sy_str_is(obj, "type", "message_stop");
    if (proto == SY_PROTO_OLLAMA)
        return json_object_object_get_ex(obj, "done", &v) && json_object_is_type(v, json_type_boolean) &&
               json_object_get_boolean(v);
    return false;
}

/* Handles one "data:" payload of one SSE event, or one NDJSON line. */
static void sy_handle_data(sy_stream_worker_t *w, sy_resp_t *r, const char *d, size_t n)
{
    struct json_tokener *tok;
    struct json_object *obj, *ts, *err;
    enum sy_proto proto = w->o->proto;
    int64_t stamp = 0;
    bool has_stamp = false, has_text;

    r->events++;
    if (proto == SY_PROTO_OPENAI && n == 6 && memcmp(d, "[DONE]", 6) == 0) {
        r->saw_done = true;
        return;
    }
    if (r->saw_done && !r->saw_error) {
        snprintf(r->err, sizeof(r->err), "data after the stream's last event");
        r->saw_error = true;
    }
    tok = json_tokener_new_ex(256);
    if (!tok)
        return;
    obj = json_tokener_parse_ex(tok, d, (int)n);
    json_tokener_free(tok);
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        if (!r->saw_error)
            snprintf(r->err, sizeof(r->err), "SSE data is not a JSON object");
        r->saw_error = true;
        json_object_put(obj);
        return;
    }
    if (json_object_object_get_ex(obj, "error", &err)) {
        if (!r->saw_error)
            snprintf(r->err, sizeof(r->err), "error in stream: %.150s",
                     json_object_to_json_string_ext(err, JSON_C_TO_STRING_PLAIN));
        r->saw_error = true;
    }
    if (json_object_object_get_ex(obj, "mock_ts_ns", &ts) &&
        json_object_is_type(ts, json_type_int)) {
        stamp = json_object_get_int64(ts);
        has_stamp = true;
        if (!r->have_ts_first) {
            r->have_ts_first = true;
            r->ts_first = stamp;
        }
        if (r->measure)
            sy_samples_add(&w->chunk, r->t_recv - stamp);
    } else if (r->measure) {
        w->chunks_without_ts++;
    }
    has_text = proto == SY_PROTO_ANTHROPIC ? sy_anthropic_has_text(obj)
               : proto == SY_PROTO_OLLAMA  ? sy_ollama_has_text(obj)
                                           : sy_chunk_has_text(obj);
    if (has_text)
        r->text_chunks++;
    if (sy_is_last(proto, obj))
        r->saw_done = true;
    if (!r->saw_content && has_text) {
        r->saw_content = true;
        if (r->measure)
            sy_samples_add(&w->ttft, r->t_recv - r->t_sent);
        /*
         * The mock writes its first (role) chunk as soon as it has the
         * request and the first text chunk after its TTFT wait, stamping
         * both with its clock. Taking that wait out leaves what the path
         * itself costs: request to the mock, plus the text chunk back. The
         * wait's own jitter (the mock's timer) is noise no proxy causes.
         */
        if (r->measure && has_stamp && r->have_ts_first)
            sy_samples_add(&w->ttft_net, r->t_recv - r->t_sent - (stamp - r->ts_first));
    }
    json_object_put(obj);
}

/* Splits complete NDJSON lines off the event buffer; blank lines are skipped. */
static void sy_drain_lines(sy_stream_worker_t *w, sy_resp_t *r)
{
    size_t start = 0;

    for (;;) {
        const char *base = r->ev + start;
        const char *eol = memchr(base, '\n', r->ev_len - start);
        size_t len;

        if (!eol)
            break;
        len = (size_t)(eol - base);
        if (len > 0 && base[len - 1] == '\r')
            len--;
        if (len > 0)
            sy_handle_data(w, r, base, len);
        start += (size_t)(eol - base) + 1;
    }
    if (start > 0) {
        memmove(r->ev, r->ev + start, r->ev_len - start);
        r->ev_len -= start;
    }
}

/* Splits complete SSE events ("\n\n" or "\r\n\r\n") off the event buffer. */
static void sy_drain_events(sy_stream_worker_t *w, sy_resp_t *r)
{
    size_t start = 0;

    if (w->o->proto == SY_PROTO_OLLAMA) {
        sy_drain_lines(w, r);
        return;
    }
    for (;;) {
        const char *base = r->ev + start;
        size_t avail = r->ev_len - start;
        size_t i, evlen = 0, seplen = 0;
        const char *p;

        for (i = 0; i + 1 < avail; i++) {
            if (base[i] == '\n' && base[i + 1] == '\n') {
                evlen = i;
                seplen = 2;
                break;
            }
            if (base[i] == '\n' && base[i + 1] == '\r' && i + 2 < avail && base[i + 2] == '\n') {
                evlen = i;
                seplen = 3;
                break;
            }
        }
        if (seplen == 0)
            break;
        /* each line of the event; only data: lines matter, comments are keep-alives */
        p = base;
        while (p < base + evlen) {
            const char *eol = memchr(p, '\n', (size_t)(base + evlen - p));
            const char *le = eol ? eol : base + evlen;
            const char *lend = le;

            if (lend > p && lend[-1] == '\r')
                lend--;
            if ((size_t)(lend - p) >= 5 && memcmp(p, "data:", 5) == 0) {
                const char *d = p + 5;

                if (d < lend && *d == ' ')
                    d++;
                sy_handle_data(w, r, d, (size_t)(lend - d));
            }
            p = le + 1;
        }
        start += evlen + seplen;
    }
    if (start > 0) {
        memmove(r->ev, r->ev + start, r->ev_len - start);
        r->ev_len -= start;
    }
}

/* Feeds decoded body bytes to the SSE splitter; -1 if an event outgrows the buffer. */
static int sy_body_bytes(sy_stream_worker_t *w, sy_resp_t *r, const char *p, size_t n)
{
    if (r->status != 200) {
        /* keep the start of an error body for the message */
        if (r->err[0] == '\0') {
            size_t k = n < 150 ? n : 150;

            snprintf(r->err, sizeof(r->err), "HTTP %d: %.*s", r->status, (int)k, p);
        }
        return 0;
    }
    if (n > SY_STREAM_EVENT_MAX - r->ev_len)
        return -1;
    memcpy(r->ev + r->ev_len, p, n);
    r->ev_len += n;
    sy_drain_events(w, r);
    return 0;
}

/* Runs the chunked decoder over newly received bytes. */
static int sy_chunked_bytes(sy_stream_worker_t *w, sy_resp_t *r, const char *p, size_t n)
{
    while (n > 0 && r->cst != SY_CH_DONE) {
        switch (r->cst) {
        case SY_CH_SIZE:
        case SY_CH_TRAILER: {
            char c = *p++;

            n--;
            if (c != '\n') {
                if (r->line_len + 1 >= sizeof(r->line))
                    return -1;
                r->line[r->line_len++] = c;
                break;
            }
            if (r->line_len > 0 && r->line[r->line_len - 1] == '\r')
                r->line_len--;
            r->line[r->line_len] = '\0';
            if (r->cst == SY_CH_SIZE) {
                char *end;

                r->chunk_left = strtoull(r->line, &end, 16);
                if (end == r->line)
                    return -1;
                r->cst = r->chunk_left == 0 ? SY_CH_TRAILER : SY_CH_DATA;
            } else if (r->line_len == 0) {
                r->cst = SY_CH_DONE;
                r->body_done = true;
            }
            r->line_len = 0;
            break;
        }
        case SY_CH_DATA: {
            size_t k = n < r->chunk_left ? n : (size_t)r->chunk_left;

            if (sy_body_bytes(w, r, p, k) < 0)
                return -1;
            p += k;
            n -= k;
            r->chunk_left -= k;
            if (r->chunk_left == 0)
                r->cst = SY_CH_DATA_CRLF;
            break;
        }
        case SY_CH_DATA_CRLF:
            /* the CRLF after a chunk's data */
            if (*p == '\n')
                r->cst = SY_CH_SIZE;
            else if (*p != '\r')
                return -1;
            p++;
            n--;
            break;
        case SY_CH_DONE:
            break;
        }
    }
    return 0;
}

/*
 * Sends one request on *fd (connecting first if needed) and reads the whole
 * reply. Returns 0 on success; -1 after recording the failure. Leaves *fd open
 * for reuse when the reply allows it, else closes it and sets it to -1.
 */
static int sy_one_request(sy_stream_worker_t *w, int *fd, bool measure)
{
    const sy_stream_opts_t *o = w->o;
    sy_resp_t *r = NULL;
    char buf[16384];
    char msg[300];
    bool reused;
    int rc = -1;

    r = calloc(1, sizeof(*r));
    if (!r) {
        sy_worker_fail(w, "out of memory");
        return -1;
    }
    r->ev = malloc(SY_STREAM_EVENT_MAX);
    if (!r->ev) {
        sy_worker_fail(w, "out of memory");
        goto out;
    }
    r->measure = measure;
    reused = *fd >= 0;
    if (*fd < 0) {
        *fd = sy_connect(o);
        if (*fd < 0) {
            snprintf(msg, sizeof(msg), "connect: %s", strerror(errno));
            sy_worker_fail(w, msg);
            goto out;
        }
    }
    r->t_sent = sy_now_ns();
    if (sy_send_all(*fd, o->req, o->req_len) < 0) {
        if (!reused) {
            snprintf(msg, sizeof(msg), "send: %s", strerror(errno));
            sy_worker_fail(w, msg);
            goto out;
        }
        /* a kept-alive connection the server closed meanwhile: retry once on a fresh one */
        close(*fd);
        *fd = sy_connect(o);
        if (*fd < 0) {
            snprintf(msg, sizeof(msg), "connect: %s", strerror(errno));
            sy_worker_fail(w, msg);
            goto out;
        }
        r->t_sent = sy_now_ns();
        if (sy_send_all(*fd, o->req, o->req_len) < 0) {
            snprintf(msg, sizeof(msg), "send: %s", strerror(errno));
            sy_worker_fail(w, msg);
            goto out;
        }
        reused = false;
    }

    while (!r->body_done) {
        ssize_t got = recv(*fd, buf, sizeof(buf), 0);
        size_t off = 0;

        r->t_recv = sy_now_ns();
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(msg, sizeof(msg), "recv: %s", errno == EAGAIN ? "timeout" : strerror(errno));
            sy_worker_fail(w, msg);
            goto out;
        }
        if (got == 0) {
            if (r->hdr_done && !r->chunked && r->content_length < 0) {
                r->body_done = true;
                break;
            }
            if (!r->hdr_done && reused && r->hdr_len == 0) {
                /* closed before answering a reused connection: retry on a new one */
                close(*fd);
                *fd = -1;
                free(r->ev);
                free(r);
                return sy_one_request(w, fd, measure);
            }
            sy_worker_fail(w, r->hdr_done ? "connection closed mid-body" : "connection closed before headers");
            goto out;
        }
        if (!r->hdr_done) {
            size_t k = (size_t)got;
            char *end;

            if (k > sizeof(r->hdr) - 1 - r->hdr_len) {
                sy_worker_fail(w, "response headers too large");
                goto out;
            }
            memcpy(r->hdr + r->hdr_len, buf, k);
            r->hdr_len += k;
            r->hdr[r->hdr_len] = '\0';
            end = strstr(r->hdr, "\r\n\r\n");
            if (!end)
                continue;
            off = (size_t)got - (r->hdr_len - (size_t)(end + 4 - r->hdr));
            r->hdr_len = (size_t)(end + 4 - r->hdr);
            r->hdr_done = true;
            if (sy_parse_headers(r) < 0) {
                sy_worker_fail(w, "bad status line");
                goto out;
            }
            if (!r->chunked && r->content_length == 0)
                r->body_done = true;
        }
        if (off < (size_t)got) {
            const char *p = buf + off;
            size_t n = (size_t)got - off;

            if (r->chunked) {
                if (sy_chunked_bytes(w, r, p, n) < 0) {
                    sy_worker_fail(w, "bad chunked encoding or oversized SSE event");
                    goto out;
                }
            } else {
                if (r->content_length >= 0 && (long long)n > r->content_length - r->body_read)
                    n = (size_t)(r->content_length - r->body_read);
                if (sy_body_bytes(w, r, p, n) < 0) {
                    sy_worker_fail(w, "oversized SSE event");
                    goto out;
                }
                r->body_read += (long long)n;
                if (r->content_length >= 0 && r->body_read >= r->content_length)
                    r->body_done = true;
            }
        }
    }

    if (r->status != 200) {
        sy_worker_fail(w, r->err[0] ? r->err : "non-200 status");
        goto out;
    }
    if (r->saw_error) {
        sy_worker_fail(w, r->err);
        goto out;
    }
    if (!r->saw_done || !r->saw_content) {
        static const char *const no_end[] = {"stream ended without [DONE]",
                                              "stream ended without a line with \"done\":true",
                                              "stream ended without message_stop"};

        sy_worker_fail(w, !r->saw_done ? no_end[o->proto] : "stream carried no text");
        goto out;
    }
    if (measure)
        w->requests++;
    rc = 0;
out:
    if (measure && r) {
        /* counted for failed streams too: the gateway relayed them all the same */
        w->events += r->events;
        w->text_chunks += r->text_chunks;
    }
    if (rc != 0 || (r && (r->conn_close || !r->body_done)) || o->new_conn) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
    }
    if (r)
        free(r->ev);
    free(r);
    return rc;
}

static void *sy_worker_main(void *arg)
{
    sy_stream_worker_t *w = arg;
    int fd = -1;
    long i;

    for (i = 0; i < w->warmup && !g_stop; i++)
        sy_one_request(w, &fd, false);
    /* warm-up failures are not measured, but still say something is wrong */
    w->errors = 0;
    w->first_error[0] = '\0';
    for (i = 0; i < w->todo && !g_stop; i++)
        sy_one_request(w, &fd, true);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* A realistic chat request, ~1.2 KB, the same shape as the wrk load. */
static int sy_build_request(sy_stream_opts_t *o)
{
    static const char sys_prompt[] =
        "You are a careful assistant for an engineering team that runs a fleet of "
        "services. Answer concisely, cite the configuration keys you rely on, and say "
        "so plainly when you are unsure. Prefer short code samples over long prose. "
        "When a question is about production incidents, list the checks to run first, "
        "in order, and the signal each one gives. Never invent command-line flags.";
    static const char user_msg[] =
        "Our gateway started returning 502 errors for about two percent of streaming "
        "chat requests after we moved the upstream pool behind a new load balancer. "
        "Non-streaming requests look fine. The balancer has an idle timeout of sixty "
        "seconds and our clients keep connections open between requests. What would "
        "you check first, and which timeouts should line up with each other so that "
        "long streams and idle keep-alive connections both behave?";
    char body[4096];
    int blen, hlen;

    /* the same texts in each protocol's shape, so the upstream does the same work */
    if (o->proto == SY_PROTO_ANTHROPIC)
        blen = snprintf(body, sizeof(body),
                        "{\"model\":\"%s\",\"stream\":true,\"max_tokens\":%ld,\"temperature\":0.2,"
                        "\"system\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                        o->model, o->tokens + 64, sys_prompt, user_msg);
    else if (o->proto == SY_PROTO_OLLAMA)
        blen = snprintf(body, sizeof(body),
                        "{\"model\":\"%s\",\"stream\":true,\"options\":{\"temperature\":0.2},"
                        "\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
                        "{\"role\":\"user\",\"content\":\"%s\"}]}",
                        o->model, sys_prompt, user_msg);
    else
        blen = snprintf(body, sizeof(body),
                        "{\"model\":\"%s\",\"stream\":true,\"temperature\":0.2,"
                        "\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
                        "{\"role\":\"user\",\"content\":\"%s\"}]}",
                        o->model, sys_prompt, user_msg);
    if (blen < 0 || (size_t)blen >= sizeof(body))
        return -1;
    hlen = snprintf(o->req, sizeof(o->req),
                    "POST %s HTTP/1.1\r\n"
                    "Host: %s:%s\r\n"
                    "Content-Type: application/json\r\n"
                    "Accept: %s\r\n"
                    "Authorization: Bearer sk-bench\r\n"
                    "%s"
                    "x-mock-timestamps: 1\r\n"
                    "x-mock-tokens: %ld\r\n"
                    "x-mock-ttft-ms: %ld\r\n"
                    "x-mock-itl-ms: %ld\r\n"
                    "Content-Length: %d\r\n"
                    "\r\n"
                    "%s",
                    o->path, o->host, o->port,
                    o->proto == SY_PROTO_OLLAMA ? "application/x-ndjson" : "text/event-stream",
                    o->proto == SY_PROTO_ANTHROPIC ? "anthropic-version: 2023-06-01\r\n" : "",
                    o->tokens, o->ttft_ms, o->itl_ms, blen, body);
    if (hlen < 0 || (size_t)hlen >= sizeof(o->req))
        return -1;
    o->req_len = (size_t)hlen;
    return 0;
}

static void sy_usage(FILE *f)
{
    fprintf(f,
            "usage: sy-stream --port PORT [options]\n"
            "  --host HOST          target host (127.0.0.1)\n"
            "  --port PORT          target port (required)\n"
            "  --path PATH          request path (/v1/chat/completions)\n"
            "  --model NAME         model in the request body (bench)\n"
            "  --proto P            client protocol: openai, ollama (/api/chat NDJSON) or\n"
            "                       anthropic (/v1/messages SSE) (openai)\n"
            "  -n, --requests N     measured requests (200)\n"
            "  --warmup N           unmeasured requests first, per connection (2)\n"
            "  -c, --concurrency N  connections, one request at a time each (1, max %d)\n"
            "  --tokens N           x-mock-tokens (64)\n"
            "  --ttft-ms N          x-mock-ttft-ms (5)\n"
            "  --itl-ms N           x-mock-itl-ms (2)\n"
            "  --timeout-ms N       per-read timeout (10000)\n"
            "  --new-conn           a new connection per request instead of keep-alive\n"
            "  --raw FILE           also write every sample, one per line: \"ttft|ttft_net|chunk NS\"\n"
            "prints one JSON line; exit 0 only if every measured request succeeded\n",
            SY_STREAM_MAX_CONC);
}

static int sy_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void sy_print_pcts(const char *name, const sy_samples_t *s)
{
    if (s->n == 0) {
        printf("\"%s\":{\"p50\":null,\"p90\":null,\"p99\":null,\"max\":null,\"n\":0}", name);
        return;
    }
    printf("\"%s\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"n\":%zu}", name,
           sy_pct_us(s, 50), sy_pct_us(s, 90), sy_pct_us(s, 99), sy_pct_us(s, 100), s->n);
}

/*
 * Writes every sample to path, one "<kind> <nanoseconds>" line each, so that
 * several runs can be pooled before percentiles are taken. Returns 0 or -1
 * with errno set.
 */
static int sy_write_raw(const char *path, const sy_samples_t *ttft, const sy_samples_t *ttft_net,
                        const sy_samples_t *chunk)
{
    const struct {
        const char *kind;
        const sy_samples_t *s;
    } sets[] = {{"ttft", ttft}, {"ttft_net", ttft_net}, {"chunk", chunk}};
    FILE *f = fopen(path, "w");
    size_t i, k;
    int rc = 0;

    if (!f)
        return -1;
    for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        for (k = 0; k < sets[i].s->n; k++)
            if (fprintf(f, "%s %lld\n", sets[i].kind, (long long)sets[i].s->v[k]) < 0)
                rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* Writes s as a JSON string body (no quotes), escaping what JSON requires. */
static void sy_print_json_str(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},     {"port", required_argument, NULL, 'p'},
        {"path", required_argument, NULL, 'P'},     {"model", required_argument, NULL, 'm'},
        {"requests", required_argument, NULL, 'n'}, {"warmup", required_argument, NULL, 'w'},
        {"concurrency", required_argument, NULL, 'c'}, {"tokens", required_argument, NULL, 't'},
        {"ttft-ms", required_argument, NULL, 'T'},  {"itl-ms", required_argument, NULL, 'I'},
        {"timeout-ms", required_argument, NULL, 'o'}, {"new-conn", no_argument, NULL, 'N'},
        {"raw", required_argument, NULL, 'r'},      {"proto", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    static sy_stream_opts_t o;
    sy_stream_worker_t *workers = NULL;
    sy_samples_t ttft = {0}, ttft_net = {0}, chunk = {0};
    long requests = 0, errors = 0, no_ts = 0, events = 0, text_chunks = 0, i;
    const char *first_error = "";
    int opt, status = 1;
    int64_t t0, t1;

    o.host = "127.0.0.1";
    o.path = "/v1/chat/completions";
    o.model = "bench";
    o.requests = 200;
    o.warmup = 2;
    o.concurrency = 1;
    o.tokens = 64;
    o.ttft_ms = 5;
    o.itl_ms = 2;
    o.timeout_ms = 10000;

    while ((opt = getopt_long(argc, argv, "n:c:h", longopts, NULL)) != -1) {
        int bad = 0;

        switch (opt) {
        case 'H': o.host = optarg; break;
        case 'p': o.port = optarg; break;
        case 'P': o.path = optarg; break;
        case 'm': o.model = optarg; break;
        case 'n': bad = sy_parse_long(optarg, 1, SY_STREAM_MAX_REQUESTS, &o.requests); break;
        case 'w': bad = sy_parse_long(optarg, 0, 1000, &o.warmup); break;
        case 'c': bad = sy_parse_long(optarg, 1, SY_STREAM_MAX_CONC, &o.concurrency); break;
        case 't': bad = sy_parse_long(optarg, 1, 100000, &o.tokens); break;
        case 'T': bad = sy_parse_long(optarg, 0, 600000, &o.ttft_ms); break;
        case 'I': bad = sy_parse_long(optarg, 0, 600000, &o.itl_ms); break;
        case 'o': bad = sy_parse_long(optarg, 1, 3600000, &o.timeout_ms); break;
        case 'N': o.new_conn = true; break;
        case 'r': o.raw_path = optarg; break;
        case 'x':
            bad = 1;
            for (i = 0; i < (long)(sizeof(sy_proto_names) / sizeof(sy_proto_names[0])); i++)
                if (strcmp(optarg, sy_proto_names[i]) == 0) {
                    o.proto = (enum sy_proto)i;
                    bad = 0;
                }
            break;
        case 'h': sy_usage(stdout); return 0;
        default: sy_usage(stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "sy-stream: bad value for --%s: %s\n",
                    opt == 'n'   ? "requests"
                    : opt == 'c' ? "concurrency"
                    : opt == 'x' ? "proto"
                                 : "option",
                    optarg);
            return 2;
        }
    }
    if (optind != argc || !o.port) {
        sy_usage(stderr);
        return 2;
    }
    if (strlen(o.model) > 128 || strlen(o.path) > 1024 || strlen(o.host) > 255 ||
        strchr(o.model, '"') || strchr(o.model, '\\') || sy_build_request(&o) < 0) {
        fprintf(stderr, "sy-stream: host, path or model too long or not plain text\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (o.concurrency > o.requests)
        o.concurrency = o.requests;

    workers = calloc((size_t)o.concurrency, sizeof(*workers));
    if (!workers) {
        fprintf(stderr, "sy-stream: out of memory\n");
        goto out;
    }
    t0 = sy_now_ns();
    for (i = 0; i < o.concurrency; i++) {
        workers[i].o = &o;
        workers[i].todo = o.requests / o.concurrency + (i < o.requests % o.concurrency ? 1 : 0);
        workers[i].warmup = o.warmup;
        if (pthread_create(&workers[i].tid, NULL, sy_worker_main, &workers[i]) != 0) {
            fprintf(stderr, "sy-stream: pthread_create failed\n");
            o.concurrency = i;
            g_stop = 1;
            break;
        }
    }
    for (i = 0; i < o.concurrency; i++)
        pthread_join(workers[i].tid, NULL);
    t1 = sy_now_ns();

    for (i = 0; i < o.concurrency; i++) {
        sy_stream_worker_t *w = &workers[i];
        size_t k;

        for (k = 0; k < w->ttft.n; k++)
            sy_samples_add(&ttft, w->ttft.v[k]);
        for (k = 0; k < w->ttft_net.n; k++)
            sy_samples_add(&ttft_net, w->ttft_net.v[k]);
        for (k = 0; k < w->chunk.n; k++)
            sy_samples_add(&chunk, w->chunk.v[k]);
        requests += w->requests;
        errors += w->errors;
        no_ts += w->chunks_without_ts;
        events += w->events;
        text_chunks += w->text_chunks;
        if (!first_error[0] && w->first_error[0])
            first_error = w->first_error;
    }
    if (o.raw_path && sy_write_raw(o.raw_path, &ttft, &ttft_net, &chunk) < 0) {
        fprintf(stderr, "sy-stream: cannot write %s: %s\n", o.raw_path, strerror(errno));
        errors++;
        if (!first_error[0])
            first_error = "cannot write the --raw file";
    }
    if (ttft.n)
        qsort(ttft.v, ttft.n, sizeof(*ttft.v), sy_cmp_i64);
    if (ttft_net.n)
        qsort(ttft_net.v, ttft_net.n, sizeof(*ttft_net.v), sy_cmp_i64);
    if (chunk.n)
        qsort(chunk.v, chunk.n, sizeof(*chunk.v), sy_cmp_i64);

    printf("{");
    sy_print_pcts("ttft_us", &ttft);
    printf(",");
    sy_print_pcts("ttft_net_us", &ttft_net);
    printf(",");
    sy_print_pcts("chunk_latency_us", &chunk);
    printf(",\"chunks\":%zu,\"chunks_without_ts\":%ld,\"events\":%ld,\"text_chunks\":%ld,"
           "\"requests\":%ld,\"errors\":%ld,\"proto\":\"%s\","
           "\"concurrency\":%ld,\"tokens\":%ld,\"ttft_ms\":%ld,\"itl_ms\":%ld,\"elapsed_s\":%.2f,"
           "\"first_error\":\"",
           chunk.n, no_ts, events, text_chunks, requests, errors, sy_proto_names[o.proto],
           o.concurrency, o.tokens, o.ttft_ms, o.itl_ms, (double)(t1 - t0) / 1e9);
    sy_print_json_str(first_error);
    printf("\"}\n");
    fflush(stdout);
    status = (errors == 0 && requests == o.requests) ? 0 : 1;
out:
    if (workers) {
        for (i = 0; i < o.concurrency; i++) {
            free(workers[i].ttft.v);
            free(workers[i].ttft_net.v);
            free(workers[i].chunk.v);
        }
    }
    free(workers);
    free(ttft.v);
    free(ttft_net.v);
    free(chunk.v);
    return status;
}
