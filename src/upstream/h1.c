/*
 * h1.c - lean HTTP/1.1 client for plain-HTTP upstreams (see h1.h).
 *
 * A connection (conn_t) belongs to one worker's pool. It is either idle
 * (on the pool's list for its host:port, reading only to notice the peer
 * closing) or carries exactly one request. The response is parsed in place
 * from the bufferevent's input: status line, headers, then the body by
 * Content-Length, chunked framing or until EOF. Body bytes are handed to
 * on_body straight from the input buffer's segments and drained only once
 * consumed, so a paused request keeps them where they are and stops reading
 * (TCP flow control then slows the upstream).
 *
 * A reused connection can turn out to have been closed by the peer just as
 * a request was written to it; a request that got no byte back on a reused
 * connection is sent once more on a new one (what browsers and curl do).
 *
 * Callbacks run inside bufferevent callbacks: a request is never freed while
 * one of its own callbacks runs (cancel only marks it; process() frees it on
 * the way out).
 */
#include "upstream/h1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "upstream/retry_after.h"

#define MAX_HEAD_BYTES (64u << 10)
#define MAX_LINE 8192

typedef struct conn conn_t;

enum state {
    ST_STATUS,
    ST_HEADERS,
    ST_BODY_LEN,
    ST_CHUNK_SIZE,
    ST_CHUNK_DATA,
    ST_CHUNK_CRLF,
    ST_TRAILERS,
    ST_BODY_EOF,
};

struct sy_h1req {
    sy_h1_t *h;
    conn_t *c;
    sy_h1_cbs_t cbs;
    void *ud;
    sy_h1_target_t target;
    uint32_t connect_ms;
    char *wire; /* the serialized request (kept for one resend) */
    size_t wire_len;
    enum state st;
    int status;
    int interim; /* skipping a 1xx response */
    int64_t remaining;
    int chunked, close_delimited, keepalive;
    size_t head_bytes;
    int got_bytes;
    int resent;
    char ctype[128];
    int retry_after;
    unsigned paused : 1, in_cb : 1, cancelled : 1, finished : 1, eof_seen : 1;
};

struct conn {
    sy_h1_t *h;
    struct bufferevent *bev;
    struct event *connect_timer;
    char key[80];
    sy_h1req_t *rq; /* NULL while idle */
    int connected;
    int reused;
    conn_t *prev, *next; /* idle list */
};

struct sy_h1 {
    struct event_base *base;
    conn_t *idle; /* all idle connections, any host */
    unsigned nidle, max_idle;
    unsigned nconns;
};

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);
static int send_on_new_conn(sy_h1req_t *rq);

/* ---- URL -------------------------------------------------------------- */

int sy__h1_target(const char *url, sy_h1_target_t *t)
{
    char host[64];
    const char *p, *hs, *he, *ps;
    long port = 80;
    memset(t, 0, sizeof(*t));
    if (strncasecmp(url, "http://", 7) != 0)
        return -1;
    hs = url + 7;
    if (memchr(hs, '@', strcspn(hs, "/?#")))
        return -1; /* credentials in the URL: libcurl's business */
    if (*hs == '[') {
        he = strchr(hs, ']');
        if (!he)
            return -1;
        ps = he + 1;
        hs++;
    } else {
        he = hs + strcspn(hs, ":/?#");
        ps = he;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof(host))
        return -1;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    if (*ps == ':') {
        char *end;
        port = strtol(ps + 1, &end, 10);
        if (end == ps + 1 || port <= 0 || port > 65535)
            return -1;
        p = end;
    } else {
        p = ps;
    }
    if (*p != '/' && *p != '\0' && *p != '?')
        return -1;
    t->path = *p == '/' ? p : "/";

    struct sockaddr_in *s4 = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->addr;
    if (strcasecmp(host, "localhost") == 0) {
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s4->sin_port = htons((uint16_t)port);
        t->addrlen = sizeof(*s4);
    } else if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        t->addrlen = sizeof(*s4);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        t->addrlen = sizeof(*s6);
    } else {
        return -1; /* a name: libcurl resolves it without blocking */
    }
    int n = snprintf(t->hostport, sizeof(t->hostport), s6->sin6_family == AF_INET6 ? "[%s]:%ld" : "%s:%ld",
                     host, port);
    return n > 0 && (size_t)n < sizeof(t->hostport) ? 0 : -1;
}

/* ---- pool --------------------------------------------------------------- */

sy_h1_t *sy__h1_new(struct event_base *base, unsigned max_idle)
{
    sy_h1_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->base = base;
    h->max_idle = max_idle ? max_idle : 256;
    return h;
}

static void idle_remove(conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (c->h->idle == c)
        c->h->idle = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->h->nidle--;
}

static void conn_free(conn_t *c)
{
    if (c->connect_timer)
        event_free(c->connect_timer);
    if (c->bev)
        bufferevent_free(c->bev); /* closes the socket: the peer sees us leave */
    c->h->nconns--;
    free(c);
}

static void req_free(sy_h1req_t *rq)
{
    free(rq->wire);
    free(rq);
}

void sy__h1_free(sy_h1_t *h)
{
    if (!h)
        return;
    while (h->idle) {
        conn_t *c = h->idle;
        idle_remove(c);
        conn_free(c);
    }
    /* connections carrying requests are freed with their requests by the
     * upstream module (it cancels every live request first) */
    free(h);
}

/* Park a connection whose response ended cleanly, or close it. */
static void conn_release(conn_t *c, int reusable)
{
    sy_h1_t *h = c->h;
    c->rq = NULL;
    /* bytes still queued either way mean the exchange did not end cleanly
     * (and output may still reference the finished request's bytes) */
    if (!reusable || h->nidle >= h->max_idle || evbuffer_get_length(bufferevent_get_input(c->bev)) ||
        evbuffer_get_length(bufferevent_get_output(c->bev))) {
        conn_free(c);
        return;
    }
    c->reused = 1;
    c->next = h->idle;
    if (h->idle)
        h->idle->prev = c;
    h->idle = c;
    h->nidle++;
    bufferevent_enable(c->bev, EV_READ); /* to notice the peer closing it */
}

/* ---- ending a request --------------------------------------------------- */

/* Tell the owner and free the request. Returns after which the request and
 * (unless parked) its connection are gone. */
static void finish(sy_h1req_t *rq, sy_err_t code, const char *detail)
{
    conn_t *c = rq->c;
    rq->finished = 1;
    if (c) {
        rq->c = NULL;
        if (code == SY_OK)
            conn_release(c, rq->keepalive);
        else
            conn_free(c);
    }
    if (!rq->cancelled && rq->cbs.on_done) {
        rq->in_cb = 1;
        rq->cbs.on_done(rq->ud, code, detail);
        rq->in_cb = 0;
    }
    req_free(rq);
}

static void fail_errno(sy_h1req_t *rq, int err)
{
    char detail[160];
    conn_t *c = rq->c;
    if (!c->connected) {
        snprintf(detail, sizeof(detail), "could not connect to the upstream: %s",
                 err ? strerror(err) : "connection failed");
        finish(rq, SY_EUPCONNECT, detail);
        return;
    }
    if (!rq->got_bytes && c->reused && !rq->resent) {
        /* the pooled connection was dead: send once more on a new one */
        rq->c = NULL;
        conn_free(c);
        rq->resent = 1;
        if (send_on_new_conn(rq) < 0)
            finish(rq, SY_EUPCONNECT, "could not open a connection to the upstream");
        return;
    }
    if (rq->st == ST_BODY_EOF) {
        rq->keepalive = 0;
        finish(rq, SY_OK, NULL);
        return;
    }
    if (rq->st == ST_STATUS || rq->st == ST_HEADERS)
        snprintf(detail, sizeof(detail), "upstream closed the connection without a response%s%s",
                 err ? ": " : "", err ? strerror(err) : "");
    else
        snprintf(detail, sizeof(detail), "upstream closed the connection mid-response%s%s", err ? ": " : "",
                 err ? strerror(err) : "");
    finish(rq, rq->st == ST_STATUS || rq->st == ST_HEADERS ? SY_EUPPROTO : SY_EUPCLOSED, detail);
}

/* ---- parsing ------------------------------------------------------------ */

/* Peek one CRLF- or LF-terminated line of the input into buf (NUL-ended,
 * without the terminator). Returns its length and sets *used to the bytes to
 * drain; -1 when incomplete; -2 when longer than cap. */
static long peek_line(struct evbuffer *in, char *buf, size_t cap, size_t *used)
{
    size_t eol_len = 0;
    struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
    if (p.pos < 0)
        return evbuffer_get_length(in) >= cap ? -2 : -1;
    if ((size_t)p.pos >= cap)
        return -2;
    evbuffer_copyout(in, buf, (size_t)p.pos);
    buf[p.pos] = '\0';
    *used = (size_t)p.pos + eol_len;
    return (long)p.pos;
}

static void header_line(sy_h1req_t *rq, char *line, size_t len)
{
    char *colon = memchr(line, ':', len);
    if (!colon)
        return;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        v[--vl] = '\0';
    if (strcasecmp(line, "content-length") == 0) {
        char *end;
        long long n = strtoll(v, &end, 10);
        rq->remaining = (end != v && n >= 0) ? n : -2; /* -2: invalid */
    } else if (strcasecmp(line, "transfer-encoding") == 0) {
        if (strcasestr(v, "chunked"))
            rq->chunked = 1;
    } else if (strcasecmp(line, "connection") == 0) {
        if (strcasestr(v, "close"))
            rq->keepalive = 0;
    } else if (strcasecmp(line, "content-type") == 0) {
        snprintf(rq->ctype, sizeof(rq->ctype), "%s", v);
    } else if (strcasecmp(line, "retry-after") == 0) {
        int ra = sy_retry_after_parse(v, strlen(v), time(NULL));
        if (ra >= 0)
            rq->retry_after = ra;
    }
}

/* The blank line after the headers: decide the body framing, report the head. */
static int end_of_head(sy_h1req_t *rq)
{
    if (rq->interim) { /* a 1xx: the real response follows */
        rq->interim = 0;
        rq->st = ST_STATUS;
        return 0;
    }
    if (rq->remaining == -2)
        return -1;
    if (rq->chunked) {
        rq->st = ST_CHUNK_SIZE;
    } else if (rq->remaining >= 0) {
        rq->st = ST_BODY_LEN;
    } else if (rq->status == 204 || rq->status == 304) {
        rq->remaining = 0;
        rq->st = ST_BODY_LEN;
    } else {
        rq->st = ST_BODY_EOF;
        rq->keepalive = 0;
    }
    if (rq->cbs.on_head) {
        rq->in_cb = 1;
        rq->cbs.on_head(rq->ud, rq->status, rq->ctype, rq->retry_after);
        rq->in_cb = 0;
    }
    return 0;
}

/* Hand up to max body bytes from the front of the input to on_body, a
 * segment at a time. Returns bytes consumed; sets *paused when the owner
 * asked to stop. */
static size_t deliver(sy_h1req_t *rq, struct evbuffer *in, size_t max, int *paused)
{
    size_t done = 0;
    while (done < max && !rq->cancelled) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        size_t n = v.iov_len < max - done ? v.iov_len : max - done;
        rq->in_cb = 1;
        int r = rq->cbs.on_body ? rq->cbs.on_body(rq->ud, v.iov_base, n) : 0;
        rq->in_cb = 0;
        if (r) {
            *paused = 1;
            break;
        }
        evbuffer_drain(in, n);
        done += n;
    }
    return done;
}

/* Parse what the input holds. Runs until it needs more bytes, the request
 * ends (freed), pauses, or is cancelled (freed). */
static void process(sy_h1req_t *rq)
{
    conn_t *c = rq->c;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    char line[MAX_LINE];
    size_t used;

    while (!rq->cancelled && !rq->paused) {
        size_t avail = evbuffer_get_length(in);
        switch (rq->st) {
        case ST_STATUS:
        case ST_HEADERS:
        case ST_CHUNK_SIZE:
        case ST_CHUNK_CRLF:
        case ST_TRAILERS: {
            long n = peek_line(in, line, sizeof(line), &used);
            if (n == -1) {
                if (rq->eof_seen)
                    fail_errno(rq, 0);
                return;
            }
            if (n == -2) {
                finish(rq, SY_EUPPROTO, "upstream sent an over-long line");
                return;
            }
            evbuffer_drain(in, used);
            if (rq->st == ST_STATUS || rq->st == ST_HEADERS) {
                rq->head_bytes += used;
                if (rq->head_bytes > MAX_HEAD_BYTES) {
                    finish(rq, SY_EUPPROTO, "upstream response headers too large");
                    return;
                }
            }
            if (rq->st == ST_STATUS) {
                if (n == 0)
                    continue; /* tolerate a stray blank line */
                if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' || line[9] < '1' ||
                    line[9] > '9' || line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9' ||
                    (n > 12 && line[12] != ' ')) {
                    finish(rq, SY_EUPPROTO, "upstream sent an invalid HTTP status line");
                    return;
                }
                rq->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
                rq->keepalive = line[7] >= '1';
                rq->interim = rq->status < 200;
                rq->remaining = -1;
                rq->chunked = 0;
                rq->ctype[0] = '\0';
                rq->retry_after = -1;
                rq->st = ST_HEADERS;
            } else if (rq->st == ST_HEADERS) {
                if (n == 0) {
                    if (end_of_head(rq) < 0) {
                        finish(rq, SY_EUPPROTO, "upstream sent an invalid Content-Length");
                        return;
                    }
                } else {
                    header_line(rq, line, (size_t)n);
                }
            } else if (rq->st == ST_CHUNK_SIZE) {
                char *end;
                errno = 0;
                long long sz = strtoll(line, &end, 16);
                if (end == line || sz < 0 || errno) {
                    finish(rq, SY_EUPPROTO, "upstream sent invalid chunked framing");
                    return;
                }
                rq->remaining = sz;
                rq->st = sz ? ST_CHUNK_DATA : ST_TRAILERS;
            } else if (rq->st == ST_CHUNK_CRLF) {
                if (n != 0) {
                    finish(rq, SY_EUPPROTO, "upstream sent invalid chunked framing");
                    return;
                }
                rq->st = ST_CHUNK_SIZE;
            } else if (n == 0) { /* end of trailers */
                finish(rq, SY_OK, NULL);
                return;
            }
            break;
        }
        case ST_BODY_LEN:
        case ST_CHUNK_DATA: {
            if (rq->remaining == 0) {
                if (rq->st == ST_BODY_LEN) {
                    finish(rq, SY_OK, NULL);
                    return;
                }
                rq->st = ST_CHUNK_CRLF;
                break;
            }
            if (avail == 0) {
                if (rq->eof_seen)
                    fail_errno(rq, 0);
                return;
            }
            int paused = 0;
            size_t want = (uint64_t)rq->remaining < avail ? (size_t)rq->remaining : avail;
            rq->remaining -= (int64_t)deliver(rq, in, want, &paused);
            if (paused) {
                rq->paused = 1;
                bufferevent_disable(c->bev, EV_READ);
            }
            break;
        }
        case ST_BODY_EOF: {
            if (avail == 0) {
                if (rq->eof_seen)
                    fail_errno(rq, 0);
                return;
            }
            int paused = 0;
            deliver(rq, in, avail, &paused);
            if (paused) {
                rq->paused = 1;
                bufferevent_disable(c->bev, EV_READ);
            }
            break;
        }
        }
    }
    if (rq->cancelled && !rq->finished)
        finish(rq, SY_ECLIENTGONE, NULL);
}

/* ---- events ------------------------------------------------------------- */

static void conn_read(struct bufferevent *bev, void *arg)
{
    conn_t *c = arg;
    (void)bev;
    if (!c->rq) { /* an idle connection has nothing to say: drop it */
        idle_remove(c);
        conn_free(c);
        return;
    }
    c->rq->got_bytes = 1;
    process(c->rq);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
    conn_t *c = arg;
    int err = EVUTIL_SOCKET_ERROR();
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        c->connected = 1;
        if (c->connect_timer)
            evtimer_del(c->connect_timer);
        setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return;
    }
    if (!c->rq) {
        idle_remove(c);
        conn_free(c);
        return;
    }
    sy_h1req_t *rq = c->rq;
    if ((what & BEV_EVENT_EOF) && c->connected) {
        /* the last bytes may have come with the close: let the parser decide
         * (now, or when a paused request resumes) whether it was complete */
        rq->eof_seen = 1;
        if (!rq->paused)
            process(rq);
        return;
    }
    fail_errno(rq, (what & BEV_EVENT_ERROR) ? err : 0);
}

static void connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    char detail[96];
    (void)fd, (void)what;
    if (!c->rq)
        return;
    snprintf(detail, sizeof(detail), "connect to the upstream timed out after %u ms", c->rq->connect_ms);
    finish(c->rq, SY_EUPTIMEOUT, detail);
}

/* ---- starting ------------------------------------------------------------ */

static int attach(sy_h1req_t *rq, conn_t *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t sent = 0;
    rq->c = c;
    c->rq = rq;
    rq->st = ST_STATUS;
    rq->got_bytes = 0;
    rq->head_bytes = 0;
    if (c->connected && evbuffer_get_length(out) == 0) {
        /* a pooled connection: write now, without a round through the loop
         * (and the two epoll_ctl calls of arming and disarming EPOLLOUT) */
        ssize_t w = send(bufferevent_getfd(c->bev), rq->wire, rq->wire_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            sent = (size_t)w;
        if (sent == rq->wire_len) {
            bufferevent_enable(c->bev, EV_READ);
            return 0;
        }
        /* the rest (or an error, which the bufferevent reports) goes the usual way */
    }
    if (evbuffer_add_reference(out, rq->wire + sent, rq->wire_len - sent, NULL, NULL) < 0)
        return -1;
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    return 0;
}

static int send_on_new_conn(sy_h1req_t *rq)
{
    sy_h1_t *h = rq->h;
    conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->h = h;
    h->nconns++;
    snprintf(c->key, sizeof(c->key), "%s", rq->target.hostport);
    c->bev = bufferevent_socket_new(h->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        conn_free(c);
        return -1;
    }
    bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
    if (rq->connect_ms) {
        c->connect_timer = evtimer_new(h->base, connect_timeout, c);
        struct timeval tv = {rq->connect_ms / 1000, (rq->connect_ms % 1000) * 1000};
        if (c->connect_timer)
            evtimer_add(c->connect_timer, &tv);
    }
    if (attach(rq, c) < 0) {
        rq->c = NULL;
        conn_free(c);
        return -1;
    }
    /* failures (refused, unreachable) arrive through conn_event, never here
     * synchronously with a freed request: libevent defers them */
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&rq->target.addr, (int)rq->target.addrlen) < 0) {
        rq->c = NULL;
        c->rq = NULL;
        conn_free(c);
        return -1;
    }
    return 0;
}

sy_h1req_t *sy__h1_start(sy_h1_t *h, const sy_h1_target_t *t, const char *method, const char *const *headers,
                         size_t n_headers, const char *body, size_t body_len, uint32_t connect_ms,
                         const sy_h1_cbs_t *cbs, void *ud)
{
    sy_h1req_t *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return NULL;
    rq->h = h;
    rq->cbs = *cbs;
    rq->ud = ud;
    rq->target = *t;
    rq->connect_ms = connect_ms;
    rq->retry_after = -1;

    /* serialize once: request line, headers, body */
    size_t need = strlen(method) + strlen(t->path) + strlen(t->hostport) + 64 + body_len;
    for (size_t i = 0; i < n_headers; i++)
        need += strlen(headers[i]) + 2;
    rq->wire = malloc(need);
    if (!rq->wire) {
        free(rq);
        return NULL;
    }
    size_t o = 0;
#define PUT(str, len) (memcpy(rq->wire + o, (str), (len)), o += (len))
    PUT(method, strlen(method));
    PUT(" ", 1);
    PUT(t->path, strlen(t->path));
    PUT(" HTTP/1.1\r\nHost: ", 17);
    PUT(t->hostport, strlen(t->hostport));
    PUT("\r\nContent-Length: ", 18);
    {
        char num[24];
        int k = (int)sizeof(num);
        size_t v = body_len;
        do
            num[--k] = (char)('0' + v % 10);
        while ((v /= 10) && k > 0);
        PUT(num + k, sizeof(num) - (size_t)k);
    }
    PUT("\r\n", 2);
#undef PUT
    for (size_t i = 0; i < n_headers; i++) {
        size_t l = strlen(headers[i]);
        if (l && headers[i][l - 1] == ':')
            continue; /* "Name:" with no value means "do not send" in curl's convention */
        memcpy(rq->wire + o, headers[i], l);
        o += l;
        rq->wire[o++] = '\r';
        rq->wire[o++] = '\n';
    }
    rq->wire[o++] = '\r';
    rq->wire[o++] = '\n';
    if (body_len)
        memcpy(rq->wire + o, body, body_len);
    rq->wire_len = o + body_len;

    /* a pooled connection to the same host:port, newest first */
    for (conn_t *c = h->idle; c; c = c->next) {
        if (strcmp(c->key, t->hostport) == 0) {
            idle_remove(c);
            if (attach(rq, c) == 0)
                return rq;
            conn_free(c);
            break;
        }
    }
    if (send_on_new_conn(rq) < 0) {
        req_free(rq);
        return NULL;
    }
    return rq;
}

void sy__h1_resume(sy_h1req_t *rq)
{
    if (!rq->paused || rq->cancelled || rq->finished)
        return;
    rq->paused = 0;
    bufferevent_enable(rq->c->bev, EV_READ);
    process(rq); /* bytes already buffered go now */
}

void sy__h1_cancel(sy_h1req_t *rq)
{
    if (rq->cancelled || rq->finished)
        return;
    rq->cancelled = 1;
    if (rq->in_cb)
        return; /* process() or finish() frees it on the way out */
    conn_t *c = rq->c;
    rq->c = NULL;
    if (c) {
        c->rq = NULL;
        conn_free(c);
    }
    req_free(rq);
}
