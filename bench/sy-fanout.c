/*
 * sy-fanout - the dedup fan-out client of `make bench`.
 *
 *   build/sy-fanout --port PORT --model M [-n 1000] [--path P] [--nonce S]
 *                   [--timeout-ms 30000]
 *
 * Opens N connections to 127.0.0.1:PORT at once and sends the same streaming
 * OpenAI chat request on each (the user message carries --nonce, so a caller
 * makes a request no cache has seen yet). A gateway that merges identical
 * requests in flight serves all N from one upstream call; this client checks
 * that every waiter got the whole stream and measures how the waiters fared:
 *
 *   - a waiter is complete when it answered 200, chunked, with SSE events up
 *     to `data: [DONE]` and the terminating chunk, and no error event;
 *   - it counts each waiter's events, text chunks (a non-empty
 *     delta.content) and body bytes (decoded), and hashes the text, so the
 *     caller can check that every waiter got the same, whole answer
 *     (text_variants is the number of distinct texts among complete waiters);
 *   - it tallies the x-switchyard-dedup (leader/follower) and
 *     x-switchyard-cache response headers;
 *   - per waiter, from its request's last byte written: time to the first
 *     response byte (ttfb), to the first text chunk (ttft) and to the end of
 *     the stream (done); over all waiters: the time from the first connect
 *     to the last completion (wall), the spread of the completions (last -
 *     first), and how long it took to get all requests out (send_spread).
 *
 * One thread, one epoll set, non-blocking sockets; a receive time is taken
 * right after the read() that brought the bytes, before any parsing. Events
 * are scanned rather than parsed (see sy_fan_data), and the client reports
 * its own CPU time (cpu_us), since it shares the machine with the gateway.
 * The result is one JSON line on stdout; the exit status is 0 only if every
 * waiter completed. Needs N + a few file descriptors (the caller raises
 * `ulimit -n`). Not part of the gateway: a benchmark tool, single-threaded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SY_FAN_MAX_CONNS 20000
#define SY_FAN_HDR_MAX 8192
#define SY_FAN_EVENT_MAX (256 * 1024)
#define SY_FAN_REQ_MAX 4096

enum sy_fan_state { SY_FAN_CONNECTING, SY_FAN_SENDING, SY_FAN_READING, SY_FAN_DONE, SY_FAN_FAILED };
enum sy_fan_chunk { SY_FCH_SIZE, SY_FCH_DATA, SY_FCH_DATA_CRLF, SY_FCH_TRAILER, SY_FCH_END };

/* One waiter: its connection, its response being decoded, its timings. */
typedef struct sy_fan_conn {
    int fd;
    enum sy_fan_state state;
    size_t sent;
    /* headers */
    char hdr[SY_FAN_HDR_MAX];
    size_t hdr_len;
    bool hdr_done;
    int status;
    bool chunked;
    char dedup[16];
    char cache[16];
    /* chunked body */
    enum sy_fan_chunk cst;
    unsigned long long chunk_left;
    char line[64];
    size_t line_len;
    /* SSE events */
    char *ev;
    size_t ev_len;
    bool saw_done;
    bool saw_error;
    long events;
    long text_chunks;
    long long body_bytes;
    uint64_t text_hash;
    char err[160];
    /* timing, CLOCK_MONOTONIC ns */
    int64_t t_connect;
    int64_t t_sent;
    int64_t t_first_byte;
    int64_t t_first_text;
    int64_t t_done;
} sy_fan_conn_t;

static int64_t sy_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Ends a waiter as failed; msg (NULL: keep the error already recorded) says why. */
static void sy_fan_fail(sy_fan_conn_t *c, const char *msg)
{
    if (c->state == SY_FAN_DONE || c->state == SY_FAN_FAILED)
        return;
    if (msg && c->err[0] == '\0')
        snprintf(c->err, sizeof(c->err), "%s", msg);
    c->state = SY_FAN_FAILED;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static uint64_t sy_fnv1a(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Copies a header's value (case-insensitive name) into out, or "" if absent. */
static void sy_fan_hdr(const sy_fan_conn_t *c, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = c->hdr, *end = c->hdr + c->hdr_len;

    out[0] = '\0';
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;

        if ((size_t)(le - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1, *ve = le;

            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            snprintf(out, cap, "%.*s", (int)(ve - v), v);
            return;
        }
        p = le + 1;
    }
}

/*
 * One "data:" payload of an SSE event. Scanned, not parsed: 1000 waiters
 * times every event is a lot of JSON for a one-threaded client beside the
 * gateway on the same cores, so it only checks that the payload is an
 * object, looks for an "error" member, and takes the string value of the
 * first "content" member (the chunk's delta.content; the gateway writes
 * compact JSON) as the chunk's text, escapes and all.
 */
static void sy_fan_data(sy_fan_conn_t *c, const char *d, size_t n, int64_t now)
{
    static const char key[] = "\"content\":";
    const char *p, *end = d + n, *v;

    c->events++;
    if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
        c->saw_done = true;
        return;
    }
    if (c->saw_error)
        return;
    if (c->saw_done) {
        snprintf(c->err, sizeof(c->err), "data after data: [DONE]");
        c->saw_error = true;
        return;
    }
    while (end > d && (end[-1] == ' ' || end[-1] == '\r'))
        end--;
    if (n < 2 || d[0] != '{' || end[-1] != '}') {
        snprintf(c->err, sizeof(c->err), "SSE data is not a JSON object: %.80s", d);
        c->saw_error = true;
        return;
    }
    if (memmem(d, (size_t)(end - d), "\"error\":", 8)) {
        snprintf(c->err, sizeof(c->err), "error in stream: %.120s", d);
        c->saw_error = true;
        return;
    }
    p = memmem(d, (size_t)(end - d), key, sizeof(key) - 1);
    if (!p)
        return;
    p += sizeof(key) - 1;
    while (p < end && *p == ' ')
        p++;
    if (p >= end || *p != '"')
        return; /* null: no text */
    v = ++p;
    while (p < end && *p != '"')
        p += *p == '\\' ? 2 : 1;
    if (p >= end) {
        snprintf(c->err, sizeof(c->err), "unterminated content string");
        c->saw_error = true;
        return;
    }
    if (p > v) {
        c->text_chunks++;
        c->text_hash = sy_fnv1a(c->text_hash, v, (size_t)(p - v));
        if (c->t_first_text == 0)
            c->t_first_text = now;
    }
}

/* Splits complete SSE events off the event buffer and handles their data lines. */
static void sy_fan_events(sy_fan_conn_t *c, int64_t now)
{
    size_t start = 0;

    for (;;) {
        const char *base = c->ev + start;
        size_t avail = c->ev_len - start, i, evlen = 0, seplen = 0;

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
        for (const char *p = base; p < base + evlen;) {
            const char *eol = memchr(p, '\n', (size_t)(base + evlen - p));
            const char *le = eol ? eol : base + evlen, *lend = le;

            if (lend > p && lend[-1] == '\r')
                lend--;
            if ((size_t)(lend - p) >= 5 && memcmp(p, "data:", 5) == 0) {
                const char *d = p + 5;

                if (d < lend && *d == ' ')
                    d++;
                sy_fan_data(c, d, (size_t)(lend - d), now);
            }
            p = le + 1;
        }
        start += evlen + seplen;
    }
    if (start > 0) {
        memmove(c->ev, c->ev + start, c->ev_len - start);
        c->ev_len -= start;
    }
}

/* Decoded body bytes; -1 when an event outgrows the buffer. */
static int sy_fan_body(sy_fan_conn_t *c, const char *p, size_t n, int64_t now)
{
    c->body_bytes += (long long)n;
    if (c->status != 200) {
        if (c->err[0] == '\0')
            snprintf(c->err, sizeof(c->err), "HTTP %d: %.*s", c->status, (int)(n < 120 ? n : 120), p);
        return 0;
    }
    if (!c->ev) {
        c->ev = malloc(SY_FAN_EVENT_MAX);
        if (!c->ev)
            return -1;
    }
    if (n > SY_FAN_EVENT_MAX - c->ev_len)
        return -1;
    memcpy(c->ev + c->ev_len, p, n);
    c->ev_len += n;
    sy_fan_events(c, now);
    return 0;
}

/* The chunked-transfer decoder; -1 on a framing error. */
static int sy_fan_chunked(sy_fan_conn_t *c, const char *p, size_t n, int64_t now)
{
    while (n > 0 && c->cst != SY_FCH_END) {
        switch (c->cst) {
        case SY_FCH_SIZE:
        case SY_FCH_TRAILER: {
            char ch = *p++;

            n--;
            if (ch != '\n') {
                if (c->line_len + 1 >= sizeof(c->line))
                    return -1;
                c->line[c->line_len++] = ch;
                break;
            }
            if (c->line_len > 0 && c->line[c->line_len - 1] == '\r')
                c->line_len--;
            c->line[c->line_len] = '\0';
            if (c->cst == SY_FCH_SIZE) {
                char *end;

                c->chunk_left = strtoull(c->line, &end, 16);
                if (end == c->line)
                    return -1;
                c->cst = c->chunk_left == 0 ? SY_FCH_TRAILER : SY_FCH_DATA;
            } else if (c->line_len == 0) {
                c->cst = SY_FCH_END;
            }
            c->line_len = 0;
            break;
        }
        case SY_FCH_DATA: {
            size_t k = n < c->chunk_left ? n : (size_t)c->chunk_left;

            if (sy_fan_body(c, p, k, now) < 0)
                return -1;
            p += k;
            n -= k;
            c->chunk_left -= k;
            if (c->chunk_left == 0)
                c->cst = SY_FCH_DATA_CRLF;
            break;
        }
        case SY_FCH_DATA_CRLF:
            if (*p == '\n')
                c->cst = SY_FCH_SIZE;
            else if (*p != '\r')
                return -1;
            p++;
            n--;
            break;
        case SY_FCH_END:
            break;
        }
    }
    return 0;
}

/* Bytes read from the socket: headers first, then the chunked body. */
static void sy_fan_bytes(sy_fan_conn_t *c, const char *p, size_t n, int64_t now)
{
    if (c->t_first_byte == 0)
        c->t_first_byte = now;
    if (!c->hdr_done) {
        size_t k = n < SY_FAN_HDR_MAX - 1 - c->hdr_len ? n : SY_FAN_HDR_MAX - 1 - c->hdr_len;
        char *end;
        char te[32];

        memcpy(c->hdr + c->hdr_len, p, k);
        c->hdr_len += k;
        c->hdr[c->hdr_len] = '\0';
        end = strstr(c->hdr, "\r\n\r\n");
        if (!end) {
            if (c->hdr_len >= SY_FAN_HDR_MAX - 1)
                sy_fan_fail(c, "response headers too long");
            return;
        }
        size_t used = (size_t)(end + 4 - c->hdr) - (c->hdr_len - k);

        c->hdr_len = (size_t)(end + 4 - c->hdr);
        c->hdr_done = true;
        if (c->hdr_len < 12 || strncmp(c->hdr, "HTTP/1.", 7) != 0) {
            sy_fan_fail(c, "not an HTTP/1.x response");
            return;
        }
        c->status = (int)strtol(c->hdr + 9, NULL, 10);
        sy_fan_hdr(c, "transfer-encoding", te, sizeof(te));
        c->chunked = strcasecmp(te, "chunked") == 0;
        sy_fan_hdr(c, "x-switchyard-dedup", c->dedup, sizeof(c->dedup));
        sy_fan_hdr(c, "x-switchyard-cache", c->cache, sizeof(c->cache));
        if (!c->chunked) {
            snprintf(c->err, sizeof(c->err), "HTTP %d, not chunked", c->status);
            sy_fan_fail(c, NULL);
            return;
        }
        p += used;
        n -= used;
    }
    if (sy_fan_chunked(c, p, n, now) < 0) {
        sy_fan_fail(c, "bad chunked framing or an oversized event");
        return;
    }
    if (c->cst == SY_FCH_END) {
        c->t_done = now;
        if (c->status != 200)
            sy_fan_fail(c, c->err[0] ? NULL : "not 200");
        else if (c->saw_error)
            sy_fan_fail(c, NULL);
        else if (!c->saw_done)
            sy_fan_fail(c, "stream ended without data: [DONE]");
        else {
            c->state = SY_FAN_DONE;
            close(c->fd);
            c->fd = -1;
        }
    }
}

static int sy_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values, in microseconds. */
static double sy_pct_us(const int64_t *v, size_t n, double p)
{
    double rank = p / 100.0 * (double)n;
    size_t i = (size_t)rank;

    if (n == 0)
        return 0.0;
    if ((double)i < rank)
        i++;
    if (i == 0)
        i = 1;
    if (i > n)
        i = n;
    return (double)v[i - 1] / 1000.0;
}

static void sy_print_dist(const char *name, int64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), sy_cmp_i64);
    printf("\"%s\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"min\":%.1f,\"max\":%.1f,\"n\":%zu},", name,
           sy_pct_us(v, n, 50), sy_pct_us(v, n, 90), sy_pct_us(v, n, 99), n ? (double)v[0] / 1000.0 : 0.0,
           n ? (double)v[n - 1] / 1000.0 : 0.0, n);
}

static void sy_usage(FILE *f)
{
    fprintf(f, "usage: sy-fanout --port PORT --model MODEL [-n 1000] [--path /v1/chat/completions]\n"
               "                 [--nonce TEXT] [--timeout-ms 30000]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},  {"model", required_argument, NULL, 'm'},
        {"path", required_argument, NULL, 'P'},  {"nonce", required_argument, NULL, 'o'},
        {"timeout-ms", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    long port = 0, n = 1000, timeout_ms = 30000;
    const char *model = NULL, *path = "/v1/chat/completions", *nonce = "0";
    char body[1024], req[SY_FAN_REQ_MAX];
    int opt, blen, rlen, ep, rc = 1;
    sy_fan_conn_t *conns = NULL;
    struct sockaddr_in sa;
    int64_t t0, deadline;
    long open_conns = 0;

    while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
        char *end = NULL;

        switch (opt) {
        case 'p':
            port = strtol(optarg, &end, 10);
            break;
        case 'm':
            model = optarg;
            break;
        case 'P':
            path = optarg;
            break;
        case 'o':
            nonce = optarg;
            break;
        case 't':
            timeout_ms = strtol(optarg, &end, 10);
            break;
        case 'n':
            n = strtol(optarg, &end, 10);
            break;
        case 'h':
            sy_usage(stdout);
            return 0;
        default:
            sy_usage(stderr);
            return 2;
        }
        if (end && *end != '\0') {
            fprintf(stderr, "sy-fanout: bad number: %s\n", optarg);
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || !model || n < 1 || n > SY_FAN_MAX_CONNS || timeout_ms < 1 ||
        strlen(model) > 200 || strlen(nonce) > 200 || strlen(path) > 500) {
        sy_usage(stderr);
        return 2;
    }
    blen = snprintf(body, sizeof(body),
                    "{\"model\":\"%s\",\"stream\":true,\"temperature\":0,\"messages\":["
                    "{\"role\":\"system\",\"content\":\"You are a concise assistant.\"},"
                    "{\"role\":\"user\",\"content\":\"Fan-out run %s: summarise why identical "
                    "requests in flight should share one upstream call.\"}]}",
                    model, nonce);
    rlen = snprintf(req, sizeof(req),
                    "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%ld\r\nContent-Type: application/json\r\n"
                    "Accept: text/event-stream\r\nContent-Length: %d\r\n\r\n%s",
                    path, port, blen, body);
    if (blen <= 0 || (size_t)blen >= sizeof(body) || rlen <= 0 || (size_t)rlen >= sizeof(req))
        return 2;

    conns = calloc((size_t)n, sizeof(*conns));
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0) {
        fprintf(stderr, "sy-fanout: out of memory or no epoll\n");
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);

    /* every connection at once: the requests must overlap */
    t0 = sy_now_ns();
    for (long i = 0; i < n; i++) {
        sy_fan_conn_t *c = &conns[i];
        struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)i};
        int one = 1;

        c->text_hash = 0xcbf29ce484222325ULL;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            c->state = SY_FAN_FAILED;
            snprintf(c->err, sizeof(c->err), "socket: %s (raise ulimit -n)", strerror(errno));
            continue;
        }
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->t_connect = sy_now_ns();
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
            char m[120];

            snprintf(m, sizeof(m), "connect: %s", strerror(errno));
            sy_fan_fail(c, m);
            continue;
        }
        c->state = SY_FAN_CONNECTING;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            sy_fan_fail(c, "epoll_ctl");
            continue;
        }
        open_conns++;
    }

    deadline = t0 + timeout_ms * 1000000LL;
    while (open_conns > 0) {
        struct epoll_event evs[256];
        int64_t now = sy_now_ns();
        int k, wait_ms = (int)((deadline - now) / 1000000LL);

        if (now >= deadline)
            break;
        k = epoll_wait(ep, evs, 256, wait_ms < 1 ? 1 : wait_ms);
        if (k < 0 && errno != EINTR)
            break;
        for (int e = 0; e < k; e++) {
            sy_fan_conn_t *c = &conns[evs[e].data.u64];

            if (c->state == SY_FAN_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof(err);

                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) {
                    char m[120];

                    snprintf(m, sizeof(m), "connect: %s", strerror(err));
                    sy_fan_fail(c, m);
                    open_conns--;
                    continue;
                }
                c->state = SY_FAN_SENDING;
            }
            if (c->state == SY_FAN_SENDING) {
                ssize_t w = send(c->fd, req + c->sent, (size_t)rlen - c->sent, MSG_NOSIGNAL);

                if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    sy_fan_fail(c, "send failed");
                    open_conns--;
                    continue;
                }
                if (w > 0)
                    c->sent += (size_t)w;
                if (c->sent == (size_t)rlen) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = evs[e].data.u64};

                    c->t_sent = sy_now_ns();
                    c->state = SY_FAN_READING;
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                continue;
            }
            if (c->state == SY_FAN_READING) {
                char buf[65536];

                for (;;) {
                    ssize_t r = read(c->fd, buf, sizeof(buf));
                    int64_t t = sy_now_ns();

                    if (r > 0) {
                        sy_fan_bytes(c, buf, (size_t)r, t);
                        if (c->state != SY_FAN_READING)
                            break;
                        continue;
                    }
                    if (r < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                    sy_fan_fail(c, r == 0 ? "connection closed before the end of the stream"
                                          : "read failed");
                    break;
                }
                if (c->state != SY_FAN_READING)
                    open_conns--;
            }
        }
    }

    /* the report */
    {
        int64_t *ttfb = calloc((size_t)n, sizeof(int64_t)), *ttft = calloc((size_t)n, sizeof(int64_t));
        int64_t *done = calloc((size_t)n, sizeof(int64_t));
        uint64_t *hashes = calloc((size_t)n, sizeof(uint64_t));
        size_t nok = 0, nvar = 0;
        long leaders = 0, followers = 0, other = 0, hits = 0, errors = 0;
        long tc_min = -1, tc_max = -1, ev_min = -1, ev_max = -1;
        long long by_min = -1, by_max = -1;
        int64_t first_sent = 0, last_sent = 0, first_done = 0, last_done = 0;
        const char *first_error = "";

        if (!ttfb || !ttft || !done || !hashes) {
            fprintf(stderr, "sy-fanout: out of memory\n");
            return 1;
        }
        for (long i = 0; i < n; i++) {
            sy_fan_conn_t *c = &conns[i];

            if (c->state == SY_FAN_CONNECTING || c->state == SY_FAN_SENDING || c->state == SY_FAN_READING)
                sy_fan_fail(c, "timed out");
            if (strcmp(c->dedup, "leader") == 0)
                leaders++;
            else if (strcmp(c->dedup, "follower") == 0)
                followers++;
            else
                other++;
            if (strncmp(c->cache, "hit", 3) == 0)
                hits++;
            if (c->t_sent && (!first_sent || c->t_sent < first_sent))
                first_sent = c->t_sent;
            if (c->t_sent > last_sent)
                last_sent = c->t_sent;
            if (c->state != SY_FAN_DONE) {
                errors++;
                if (!first_error[0])
                    first_error = c->err;
                continue;
            }
            ttfb[nok] = c->t_first_byte - c->t_sent;
            ttft[nok] = (c->t_first_text ? c->t_first_text : c->t_done) - c->t_sent;
            done[nok] = c->t_done - c->t_sent;
            if (!first_done || c->t_done < first_done)
                first_done = c->t_done;
            if (c->t_done > last_done)
                last_done = c->t_done;
            if (tc_min < 0 || c->text_chunks < tc_min)
                tc_min = c->text_chunks;
            if (c->text_chunks > tc_max)
                tc_max = c->text_chunks;
            if (ev_min < 0 || c->events < ev_min)
                ev_min = c->events;
            if (c->events > ev_max)
                ev_max = c->events;
            if (by_min < 0 || c->body_bytes < by_min)
                by_min = c->body_bytes;
            if (c->body_bytes > by_max)
                by_max = c->body_bytes;
            {
                size_t j;

                for (j = 0; j < nvar && hashes[j] != c->text_hash; j++)
                    ;
                if (j == nvar)
                    hashes[nvar++] = c->text_hash;
            }
            nok++;
        }
        printf("{\"n\":%ld,\"completed\":%zu,\"errors\":%ld,\"leaders\":%ld,\"followers\":%ld,"
               "\"dedup_other\":%ld,\"cache_hits\":%ld,\"text_variants\":%zu,"
               "\"text_chunks_min\":%ld,\"text_chunks_max\":%ld,\"events_min\":%ld,\"events_max\":%ld,"
               "\"bytes_min\":%lld,\"bytes_max\":%lld,",
               n, nok, errors, leaders, followers, other, hits, nvar, tc_min, tc_max, ev_min, ev_max,
               by_min, by_max);
        sy_print_dist("ttfb_us", ttfb, nok);
        sy_print_dist("ttft_us", ttft, nok);
        sy_print_dist("done_us", done, nok);
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        printf("\"wall_us\":%.1f,\"spread_us\":%.1f,\"send_spread_us\":%.1f,\"cpu_us\":%.0f,"
               "\"first_error\":\"",
               nok ? (double)(last_done - t0) / 1000.0 : 0.0,
               nok ? (double)(last_done - first_done) / 1000.0 : 0.0,
               (double)(last_sent - first_sent) / 1000.0,
               (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec));
        for (const char *p = first_error; *p; p++)
            if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
                putchar(*p);
        printf("\"}\n");
        fflush(stdout);
        rc = errors == 0 ? 0 : 1;
        free(ttfb);
        free(ttft);
        free(done);
        free(hashes);
    }
    for (long i = 0; i < n; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
        free(conns[i].ev);
    }
    free(conns);
    close(ep);
    return rc;
}
