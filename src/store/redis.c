/*
 * redis.c - the Redis client: hiredis 0.14 async on libevent, with connect
 * and command timeouts, reconnect backoff and a shared health state.
 *
 * Each command is a struct req handed to hiredis as the callback's privdata.
 * hiredis calls every registered callback exactly once: with the reply, or
 * with NULL while it frees the context (an I/O error, a refused connect, or
 * our own redisAsyncFree). The req is freed in that call, never before, so a
 * req outlives everything hiredis may do with it. The client keeps its
 * pending reqs in a FIFO list (replies come back in order, so the head has
 * the earliest deadline) and one timer armed for the head's deadline: when
 * it fires and the head is late, the connection is dropped, and the NULL
 * callbacks that follow answer every pending command SY_REDIS_ERR.
 *
 * Lifetimes (hiredis's rules, and redis's own "free at a safe point"):
 * - The first sign that a context is dying (a NULL reply, a failed connect,
 *   the disconnect callback, or our decision to drop it) detaches it:
 *   rc->ac = NULL and ac->data = NULL. A detached context is never touched
 *   again; its remaining callbacks find no client (ac->data) or compare
 *   their context with rc->ac and only answer their command.
 * - redisAsyncFree is called only on an attached context: from a timer (it
 *   frees at once) or from one of its reply callbacks (hiredis defers the
 *   free until the callback returns).
 * - User callbacks may free the client. Every entry from the loop (hiredis
 *   callbacks, timers) and sy_redis_free itself hold rc->busy; a free inside
 *   answers and orphans every pending req (req->rc = NULL, so its hiredis
 *   callback only frees it), detaches the context, and the memory is released
 *   by the outermost leave().
 */
#include "store/redis.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <async.h>
#include <hiredis.h>
#include <adapters/libevent.h>

#include "core/clock.h"
#include "core/log.h"

struct sy_redis_shared {
    sy_redis_url_t url;
    char addr[INET6_ADDRSTRLEN]; /* the host, resolved once */
    char name[400];              /* the URL without credentials */
    uint64_t connect_ns, command_ns;
    atomic_int state;
    atomic_uint_fast64_t ups, downs, commands, errors, timeouts, refused, failures;
};

enum { ST_IDLE, ST_CONNECTING, ST_READY, ST_BACKOFF };
enum { Q_USER, Q_HANDSHAKE, Q_SUB };

struct req {
    struct req *prev, *next;
    struct sy_redis *rc; /* NULL: orphaned, hiredis still owes its callback */
    sy_redis_cb cb;
    void *ud;
    uint64_t deadline_ns;
    int kind;
    int last;         /* Q_HANDSHAKE: the last step (PING) */
    const char *what; /* Q_HANDSHAKE: the command, for the reason */
};

struct sy_redis {
    struct event_base *base;
    sy_redis_shared_t *s;
    redisAsyncContext *ac; /* attached context, or NULL */
    int state;
    uint64_t connect_deadline_ns;
    uint32_t backoff_ms;
    uint64_t rng;
    struct event *tmo;   /* the deadline of the connect or of the head command */
    struct event *retry; /* reconnect after backoff */
    struct req *head, *tail;
    size_t npending;
    int busy, freeing;
    char reason[192]; /* why the last connection was lost */
    /* subscriber only */
    int is_sub;
    char *channel;
    sy_redis_msg_cb on_msg;
    void *ud;
    struct req *subq;
    int sub_ready;
    uint64_t sub_deadline_ns;
};

struct sy_redis_sub {
    struct sy_redis c; /* first member: freed as one block */
};

static const char DEL_IF_SCRIPT[] = "if redis.call('get', KEYS[1]) == ARGV[1] then "
                                    "return redis.call('del', KEYS[1]) else return 0 end";

/* ---- URL ---- */

static sy_err_t url_fail(sy_error_t *err, const char *why)
{
    if (err)
        sy_error_set(err, SY_ECONFIG, "cache.redis.url", "redis URL: %s", why);
    return SY_ECONFIG;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* %-decode s[0..n) into dst (cap bytes with the NUL). 0, or -1 on bad
 * encoding, an encoded NUL or overflow. */
static int pct_decode(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
                return -1;
            c = h * 16 + l;
            if (c == 0)
                return -1;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return 0;
}

/* Parse s[0..n) as decimal digits into *v within [lo, hi]. 0 or -1. */
static int parse_num(const char *s, size_t n, long lo, long hi, long *v)
{
    long x = 0;
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    if (x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

sy_err_t sy_redis_url_parse(const char *url, sy_redis_url_t *out, sy_error_t *err)
{
    const char *p;
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (!url || !*url)
        return url_fail(err, "empty");
    if (!strncmp(url, "rediss://", 9))
        return url_fail(err,
                        "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; use redis:// "
                        "on a trusted network or a TLS tunnel");
    if (!strncmp(url, "redis://", 8)) {
        p = url + 8;
    } else if (!strncmp(url, "unix://", 7)) {
        p = url + 7;
        out->is_unix = 1;
    } else {
        return url_fail(err, "unknown scheme (want redis://host:port/db or unix:///path)");
    }

    /* user-info: up to the last '@' before the first '/' or '?' */
    size_t auth_end = strcspn(p, "/?");
    const char *at = NULL;
    for (const char *q = p; q < p + auth_end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if (colon && pct_decode(out->user, sizeof(out->user), p, (size_t)(colon - p)) < 0)
            return url_fail(err, "bad or overlong user");
        if (pct_decode(out->password, sizeof(out->password), pw, (size_t)(at - pw)) < 0)
            return url_fail(err, "bad or overlong password");
        out->has_password = 1;
        p = at + 1;
        auth_end = strcspn(p, "/?");
    }

    if (out->is_unix) {
        if (auth_end != 0 || *p != '/')
            return url_fail(err, "unix:// wants an absolute socket path (unix:///path)");
        size_t plen = strcspn(p, "?");
        if (plen >= sizeof(out->path))
            return url_fail(err, "socket path too long");
        memcpy(out->path, p, plen);
        out->path[plen] = '\0';
        p += plen;
        if (*p) {
            if (strncmp(p, "?db=", 4) || parse_num(p + 4, strlen(p + 4), 0, 2147483647, &out->db))
                return url_fail(err, "unix:// takes only ?db=N after the path");
        }
        return SY_OK;
    }

    /* host[:port] */
    const char *hp = p, *hend = p + auth_end, *port = NULL;
    size_t hlen;
    if (*hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(hend - hp));
        if (!rb)
            return url_fail(err, "unclosed [ in IPv6 host");
        hlen = (size_t)(rb - hp - 1);
        hp++;
        if (rb + 1 < hend) {
            if (rb[1] != ':')
                return url_fail(err, "text after ] in host");
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(hp, ':', (size_t)(hend - hp));
        hlen = colon ? (size_t)(colon - hp) : (size_t)(hend - hp);
        if (colon) {
            port = colon + 1;
            if (memchr(port, ':', (size_t)(hend - port)))
                return url_fail(err, "an IPv6 host needs brackets ([::1]:6379)");
        }
    }
    if (hlen == 0)
        return url_fail(err, "empty host");
    if (hlen >= sizeof(out->host))
        return url_fail(err, "host too long");
    memcpy(out->host, hp, hlen);
    out->host[hlen] = '\0';
    if (port) {
        long v;
        if (parse_num(port, (size_t)(hend - port), 1, 65535, &v))
            return url_fail(err, "bad port (want 1-65535)");
        out->port = (int)v;
    }
    p = hend;
    if (*p == '/') {
        p++;
        if (*p && parse_num(p, strlen(p), 0, 2147483647, &out->db))
            return url_fail(err, "bad db number after /");
        p += strlen(p);
    }
    if (*p)
        return url_fail(err, "unexpected text after the host (options are not supported)");
    return SY_OK;
}

/* ---- shared state ---- */

sy_redis_shared_t *sy_redis_shared_new(const char *url, uint32_t connect_timeout_ms,
                                       uint32_t command_timeout_ms, sy_error_t *err)
{
    sy_redis_shared_t *s = calloc(1, sizeof(*s));
    if (!s) {
        if (err)
            sy_error_set(err, SY_ENOMEM, NULL, NULL);
        return NULL;
    }
    if (sy_redis_url_parse(url, &s->url, err) != SY_OK) {
        free(s);
        return NULL;
    }
    const sy_redis_url_t *u = &s->url;
    if (u->is_unix) {
        if (u->db)
            snprintf(s->name, sizeof(s->name), "unix://%s?db=%ld", u->path, u->db);
        else
            snprintf(s->name, sizeof(s->name), "unix://%s", u->path);
    } else {
        int v6 = strchr(u->host, ':') != NULL;
        snprintf(s->name, sizeof(s->name), "redis://%s%s%s:%d/%ld", v6 ? "[" : "", u->host,
                 v6 ? "]" : "", u->port, u->db);
        /* resolve now, off any loop: hiredis would call getaddrinfo on it */
        unsigned char bin[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, u->host, bin) == 1) {
            inet_ntop(AF_INET, bin, s->addr, sizeof(s->addr));
        } else if (inet_pton(AF_INET6, u->host, bin) == 1) {
            inet_ntop(AF_INET6, bin, s->addr, sizeof(s->addr));
        } else {
            struct addrinfo hints = {0}, *res = NULL;
            hints.ai_socktype = SOCK_STREAM;
            int gai = getaddrinfo(u->host, NULL, &hints, &res);
            if (gai != 0 || !res) {
                if (err)
                    sy_error_set(err, SY_ECONFIG, "cache.redis.url",
                                 "redis URL: cannot resolve host \"%s\": %s", u->host,
                                 gai_strerror(gai));
                free(s);
                return NULL;
            }
            /* prefer IPv4, as hiredis does */
            struct addrinfo *pick = res;
            for (struct addrinfo *a = res; a; a = a->ai_next)
                if (a->ai_family == AF_INET) {
                    pick = a;
                    break;
                }
            const void *src;
            if (pick->ai_family == AF_INET)
                src = &((struct sockaddr_in *)pick->ai_addr)->sin_addr;
            else
                src = &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
            inet_ntop(pick->ai_family, src, s->addr, sizeof(s->addr));
            freeaddrinfo(res);
        }
    }
    s->connect_ns =
        (uint64_t)(connect_timeout_ms ? connect_timeout_ms : SY_REDIS_DEFAULT_CONNECT_TIMEOUT_MS) *
        1000000ull;
    s->command_ns =
        (uint64_t)(command_timeout_ms ? command_timeout_ms : SY_REDIS_DEFAULT_COMMAND_TIMEOUT_MS) *
        1000000ull;
    atomic_init(&s->state, SY_REDIS_STATE_UNKNOWN);
    return s;
}

void sy_redis_shared_free(sy_redis_shared_t *s)
{
    free(s);
}

int sy_redis_shared_up(const sy_redis_shared_t *s)
{
    return atomic_load(&((sy_redis_shared_t *)s)->state) == SY_REDIS_STATE_UP;
}

const char *sy_redis_shared_name(const sy_redis_shared_t *s)
{
    return s->name;
}

void sy_redis_shared_stats(const sy_redis_shared_t *cs, sy_redis_stats_t *st)
{
    sy_redis_shared_t *s = (sy_redis_shared_t *)cs; /* atomics: loads only */
    st->state = atomic_load(&s->state);
    st->ups = atomic_load(&s->ups);
    st->downs = atomic_load(&s->downs);
    st->commands = atomic_load(&s->commands);
    st->errors = atomic_load(&s->errors);
    st->timeouts = atomic_load(&s->timeouts);
    st->refused = atomic_load(&s->refused);
    st->failures = atomic_load(&s->failures);
}

/* Move the process-wide state to `state`; the one thread that makes the
 * change counts and logs it, so each change is logged once. */
static void shared_set(sy_redis_shared_t *s, int state, const char *reason)
{
    int old = atomic_exchange(&s->state, state);
    if (old == state)
        return;
    int up = state == SY_REDIS_STATE_UP;
    atomic_fetch_add(up ? &s->ups : &s->downs, 1);
    int level = up ? SY_LOG_INFO : SY_LOG_WARN;
    if (!sy_log_enabled(level))
        return;
    sy_logline_t l;
    sy_logline_begin(&l, level, up ? "redis up" : "redis down");
    sy_logline_str(&l, "redis", s->name);
    if (!up && reason)
        sy_logline_str(&l, "reason", reason);
    sy_logline_end(&l);
}

/* ---- client plumbing ---- */

static void enter(struct sy_redis *rc)
{
    rc->busy++;
}

static void destroy(struct sy_redis *rc)
{
    if (rc->tmo)
        event_free(rc->tmo);
    if (rc->retry)
        event_free(rc->retry);
    free(rc->channel);
    free(rc);
}

/* End an entry; the outermost one frees a client freed meanwhile. Touch
 * nothing of rc after it. */
static void leave(struct sy_redis *rc)
{
    if (--rc->busy == 0 && rc->freeing)
        destroy(rc);
}

static void arm_ns(struct event *ev, uint64_t ns)
{
    struct timeval tv = {(time_t)(ns / 1000000000ull), (suseconds_t)(ns % 1000000000ull / 1000)};
    evtimer_add(ev, &tv);
}

/* Arm the deadline timer for the earliest deadline that matters now. */
static void arm_tmo(struct sy_redis *rc, uint64_t now)
{
    uint64_t d = UINT64_MAX;
    if (rc->state == ST_CONNECTING) {
        d = rc->connect_deadline_ns;
    } else if (rc->state == ST_READY) {
        if (rc->head)
            d = rc->head->deadline_ns;
        if (rc->is_sub && !rc->sub_ready && rc->sub_deadline_ns < d)
            d = rc->sub_deadline_ns;
    }
    if (d == UINT64_MAX)
        return;
    /* at least 1 ms: libevent's coarse clock may wake us a little early */
    uint64_t wait = d > now ? d - now : 0;
    arm_ns(rc->tmo, wait < 1000000ull ? 1000000ull : wait);
}

static void link_req(struct sy_redis *rc, struct req *q)
{
    q->prev = rc->tail;
    q->next = NULL;
    if (rc->tail)
        rc->tail->next = q;
    else
        rc->head = q;
    rc->tail = q;
    rc->npending++;
}

static void unlink_req(struct sy_redis *rc, struct req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        rc->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        rc->tail = q->prev;
    q->prev = q->next = NULL;
    rc->npending--;
}

/* Answer a user command SY_REDIS_ERR with reason (copied: the callback may
 * free the client that holds it). */
static void answer_err(struct sy_redis *rc, struct req *q, const char *reason)
{
    char why[sizeof(rc->reason)];
    atomic_fetch_add(&rc->s->errors, 1);
    sy_redis_cb cb = q->cb;
    q->cb = NULL;
    if (!cb)
        return;
    snprintf(why, sizeof(why), "%s", reason);
    cb(q->ud, SY_REDIS_ERR, why, strlen(why), 0);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg);
static void tmo_cb(evutil_socket_t fd, short what, void *arg);

/* Enter BACKOFF: refuse commands and retry after the current backoff. */
static void go_backoff(struct sy_redis *rc)
{
    rc->state = ST_BACKOFF;
    rc->sub_ready = 0;
    if (rc->freeing)
        return;
    /* xorshift64 jitter of +-25% so workers and nodes do not retry in step */
    rc->rng ^= rc->rng << 13;
    rc->rng ^= rc->rng >> 7;
    rc->rng ^= rc->rng << 17;
    uint64_t ms = rc->backoff_ms;
    ms = ms * 3 / 4 + rc->rng % (ms / 2 + 1);
    arm_ns(rc->retry, ms * 1000000ull);
    rc->backoff_ms =
        rc->backoff_ms * 2 > SY_REDIS_BACKOFF_MAX_MS ? SY_REDIS_BACKOFF_MAX_MS : rc->backoff_ms * 2;
}

/* A connection attempt or a connection failed: count, go DOWN, back off. */
static void mark_down(struct sy_redis *rc, const char *reason)
{
    snprintf(rc->reason, sizeof(rc->reason), "%s", reason);
    atomic_fetch_add(&rc->s->failures, 1);
    shared_set(rc->s, SY_REDIS_STATE_DOWN, rc->reason);
    go_backoff(rc);
}

/* The attached context is dying or must die: detach it (it is never touched
 * again through rc) and go down. Returns the context, for the caller that
 * must free it itself. */
static redisAsyncContext *detach(struct sy_redis *rc, const char *reason)
{
    redisAsyncContext *ac = rc->ac;
    if (!ac)
        return NULL;
    rc->ac = NULL;
    ac->data = NULL;
    mark_down(rc, reason);
    return ac;
}

/* Drop the connection ourselves. From a timer the context is freed at once
 * (its NULL callbacks answer the pending commands now); from one of its reply
 * callbacks hiredis frees it when that callback returns. */
static void drop(struct sy_redis *rc, const char *reason)
{
    redisAsyncContext *ac = detach(rc, reason);
    if (ac)
        redisAsyncFree(ac);
}

static void reply_cb(redisAsyncContext *ac, void *r, void *priv);

/* Queue a command on the attached context. The req is linked (except the
 * subscription) and owned by hiredis's callback from here on. */
static sy_err_t submit(struct sy_redis *rc, struct req *q, int argc, const char **argv,
                       const size_t *lens)
{
    q->rc = rc;
    if (redisAsyncCommandArgv(rc->ac, reply_cb, q, argc, argv, lens) != REDIS_OK) {
        free(q);
        return SY_ENOMEM;
    }
    if (q->kind == Q_SUB)
        rc->subq = q;
    else
        link_req(rc, q);
    return SY_OK;
}

static sy_err_t handshake_step(struct sy_redis *rc, const char *what, int last, int argc,
                               const char **argv, const size_t *lens)
{
    struct req *q = calloc(1, sizeof(*q));
    if (!q)
        return SY_ENOMEM;
    q->kind = Q_HANDSHAKE;
    q->what = what;
    q->last = last;
    q->deadline_ns = rc->connect_deadline_ns;
    return submit(rc, q, argc, argv, lens);
}

static void on_connect(const redisAsyncContext *cac, int status);
static void on_disconnect(const redisAsyncContext *cac, int status);

/* Open a connection and queue its handshake (AUTH, SELECT, PING). Returns
 * SY_OK (CONNECTING) or an error (BACKOFF, retry timer armed). No user
 * callback runs from here. */
static sy_err_t start_connect(struct sy_redis *rc)
{
    const sy_redis_url_t *u = &rc->s->url;
    char reason[sizeof(rc->reason)];
    evtimer_del(rc->retry);
    redisAsyncContext *ac = u->is_unix ? redisAsyncConnectUnix(u->path)
                                       : redisAsyncConnect(rc->s->addr, u->port);
    if (!ac) {
        mark_down(rc, "connect: out of memory");
        return SY_ENOMEM;
    }
    if (ac->err) {
        snprintf(reason, sizeof(reason), "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        mark_down(rc, reason);
        return SY_EUPCONNECT;
    }
    if (redisLibeventAttach(ac, rc->base) != REDIS_OK) {
        redisAsyncFree(ac);
        mark_down(rc, "connect: cannot attach to the event loop");
        return SY_ENOMEM;
    }
    ac->data = rc;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rc->ac = ac;
    rc->state = ST_CONNECTING;
    rc->sub_ready = 0;
    uint64_t now = sy_now_ns();
    rc->connect_deadline_ns = now + rc->s->connect_ns;

    sy_err_t err = SY_OK;
    if (u->has_password) {
        const char *argv[3] = {"AUTH", u->user, u->password};
        size_t lens[3] = {4, strlen(u->user), strlen(u->password)};
        if (u->user[0])
            err = handshake_step(rc, "AUTH", 0, 3, argv, lens);
        else {
            argv[1] = u->password;
            lens[1] = lens[2];
            err = handshake_step(rc, "AUTH", 0, 2, argv, lens);
        }
    }
    if (err == SY_OK && u->db && !rc->is_sub) {
        char db[24];
        int n = snprintf(db, sizeof(db), "%ld", u->db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, (size_t)n};
        err = handshake_step(rc, "SELECT", 0, 2, argv, lens);
    }
    if (err == SY_OK) {
        const char *argv[1] = {"PING"};
        size_t lens[1] = {4};
        err = handshake_step(rc, "PING", 1, 1, argv, lens);
    }
    if (err != SY_OK) {
        drop(rc, "connect: out of memory");
        return err;
    }
    arm_tmo(rc, now);
    return SY_OK;
}

static void subscribe_now(struct sy_redis *rc, uint64_t now)
{
    struct req *q = calloc(1, sizeof(*q));
    const char *argv[2] = {"SUBSCRIBE", rc->channel};
    size_t lens[2] = {9, strlen(rc->channel)};
    if (q)
        q->kind = Q_SUB;
    if (!q || submit(rc, q, 2, argv, lens) != SY_OK) { /* submit frees q */
        drop(rc, "subscribe: out of memory");
        return;
    }
    rc->sub_deadline_ns = now + rc->s->command_ns;
}

/* The handshake was answered: the connection is up. */
static void ready(struct sy_redis *rc)
{
    uint64_t now = sy_now_ns();
    rc->state = ST_READY;
    rc->backoff_ms = SY_REDIS_BACKOFF_MIN_MS;
    shared_set(rc->s, SY_REDIS_STATE_UP, NULL);
    if (rc->is_sub)
        subscribe_now(rc, now);
    if (rc->ac)
        arm_tmo(rc, now);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct sy_redis *rc = cac->data;
    if (!rc)
        return;
    enter(rc);
    if (status != REDIS_OK) {
        /* hiredis frees the context after this; its NULL callbacks follow */
        char reason[sizeof(rc->reason)];
        snprintf(reason, sizeof(reason), "connect: %s", cac->errstr ? cac->errstr : "failed");
        detach(rc, reason);
    } else if (!rc->s->url.is_unix) {
        /* TCP only: on a unix socket it fails and leaves an error set on
         * the context. Lets an idle subscriber notice a vanished peer. */
        redisEnableKeepAlive((redisContext *)&cac->c);
    }
    leave(rc);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    struct sy_redis *rc = cac->data;
    if (!rc)
        return;
    enter(rc);
    char reason[sizeof(rc->reason)];
    snprintf(reason, sizeof(reason), "connection lost: %s",
             status == REDIS_OK || !cac->errstr || !cac->errstr[0] ? "closed" : cac->errstr);
    detach(rc, reason);
    leave(rc);
}

/* Answer a user command from its reply. */
static void answer(struct sy_redis *rc, struct req *q, const redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ERROR) {
        answer_err(rc, q, reply->str ? reply->str : "error reply");
        return;
    }
    sy_redis_cb cb = q->cb;
    q->cb = NULL;
    if (!cb)
        return;
    switch (reply->type) {
    case REDIS_REPLY_NIL:
        cb(q->ud, SY_REDIS_NIL, NULL, 0, 0);
        break;
    case REDIS_REPLY_INTEGER:
        cb(q->ud, SY_REDIS_OK, NULL, 0, reply->integer);
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        cb(q->ud, SY_REDIS_OK, reply->str, reply->len, 0);
        break;
    default:
        cb(q->ud, SY_REDIS_OK, NULL, 0, 0);
        break;
    }
}

static void handshake_reply(struct sy_redis *rc, redisAsyncContext *ac, struct req *q,
                            const redisReply *reply)
{
    if (rc->ac != ac)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char reason[sizeof(rc->reason)];
        snprintf(reason, sizeof(reason), "%s: %s", q->what, reply->str ? reply->str : "error");
        drop(rc, reason);
        return;
    }
    if (q->last)
        ready(rc);
}

static void sub_reply(struct sy_redis *rc, redisAsyncContext *ac, const redisReply *reply)
{
    if (rc->ac != ac || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    const redisReply *kind = reply->element[0], *payload = reply->element[2];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (!strcmp(kind->str, "subscribe")) {
        rc->sub_ready = 1;
    } else if (!strcmp(kind->str, "message") && payload->type == REDIS_REPLY_STRING) {
        if (rc->on_msg)
            rc->on_msg(rc->ud, payload->str, payload->len);
    }
}

static void reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct req *q = priv;
    const redisReply *reply = r;
    struct sy_redis *rc = q->rc;
    if (!rc) { /* orphaned by a free: only hiredis's last call is left */
        if (!reply || q->kind != Q_SUB)
            free(q);
        return;
    }
    enter(rc);
    if (!reply) {
        /* the context is being freed: by hiredis after an error, or by us */
        if (rc->ac == ac) {
            char reason[sizeof(rc->reason)];
            snprintf(reason, sizeof(reason), "connection lost: %s",
                     ac->errstr && ac->errstr[0] ? ac->errstr : "closed");
            detach(rc, reason);
        }
        if (q->kind == Q_SUB)
            rc->subq = NULL;
        else
            unlink_req(rc, q);
        if (q->kind == Q_USER)
            answer_err(rc, q, rc->reason);
        free(q);
    } else if (q->kind == Q_USER) {
        unlink_req(rc, q);
        answer(rc, q, reply);
        free(q);
    } else if (q->kind == Q_HANDSHAKE) {
        unlink_req(rc, q);
        handshake_reply(rc, ac, q, reply);
        free(q);
    } else {
        sub_reply(rc, ac, reply);
    }
    leave(rc);
}

static void tmo_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sy_redis *rc = arg;
    uint64_t now = sy_now_ns();
    enter(rc);
    if (rc->state == ST_CONNECTING && now >= rc->connect_deadline_ns) {
        atomic_fetch_add(&rc->s->timeouts, 1);
        drop(rc, "connect timeout");
    } else if (rc->state == ST_READY && rc->head && now >= rc->head->deadline_ns) {
        atomic_fetch_add(&rc->s->timeouts, 1);
        drop(rc, "command timeout");
    } else if (rc->state == ST_READY && rc->is_sub && !rc->sub_ready &&
               now >= rc->sub_deadline_ns) {
        atomic_fetch_add(&rc->s->timeouts, 1);
        drop(rc, "subscribe timeout");
    } else {
        arm_tmo(rc, now);
    }
    leave(rc);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sy_redis *rc = arg;
    enter(rc);
    if (rc->state == ST_BACKOFF && !rc->freeing)
        (void)start_connect(rc);
    leave(rc);
}

static int init_client(struct sy_redis *rc, struct event_base *base, sy_redis_shared_t *s)
{
    rc->base = base;
    rc->s = s;
    rc->state = ST_IDLE;
    rc->backoff_ms = SY_REDIS_BACKOFF_MIN_MS;
    rc->rng = ((uint64_t)(uintptr_t)rc ^ sy_now_ns()) | 1;
    rc->tmo = evtimer_new(base, tmo_cb, rc);
    rc->retry = evtimer_new(base, retry_cb, rc);
    return rc->tmo && rc->retry ? 0 : -1;
}

/* Answer and orphan everything pending, detach and free the context, and
 * free rc once no entry is running. */
static void close_client(struct sy_redis *rc)
{
    if (!rc || rc->freeing)
        return;
    enter(rc);
    rc->freeing = 1;
    evtimer_del(rc->tmo);
    evtimer_del(rc->retry);
    struct req *q;
    while ((q = rc->head)) {
        unlink_req(rc, q);
        q->rc = NULL; /* hiredis's callback frees it */
        if (q->kind == Q_USER)
            answer_err(rc, q, "client freed");
    }
    if (rc->subq) {
        rc->subq->rc = NULL;
        rc->subq = NULL;
    }
    redisAsyncContext *ac = rc->ac;
    if (ac) {
        rc->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    rc->state = ST_IDLE;
    leave(rc);
}

/* ---- public client ---- */

sy_redis_t *sy_redis_new(struct event_base *base, sy_redis_shared_t *s)
{
    struct sy_redis *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return NULL;
    if (init_client(rc, base, s) < 0) {
        destroy(rc);
        return NULL;
    }
    return rc;
}

sy_err_t sy_redis_connect(sy_redis_t *rc)
{
    if (rc->freeing)
        return SY_EUPCONNECT;
    if (rc->state == ST_IDLE)
        return start_connect(rc);
    return rc->state == ST_BACKOFF ? SY_EUPCONNECT : SY_OK;
}

int sy_redis_ready(const sy_redis_t *rc)
{
    return rc->state == ST_READY;
}

void sy_redis_free(sy_redis_t *rc)
{
    close_client(rc);
}

/* Send a user command, connecting first when the client has no connection
 * (or is backing off while another connection already saw Redis come back).
 * Accepted when up, or while connecting unless Redis is known to be down. */
static sy_err_t command(struct sy_redis *rc, sy_redis_cb cb, void *ud, int argc, const char **argv,
                        const size_t *lens)
{
    sy_redis_shared_t *s = rc->s;
    if (rc->freeing)
        return SY_EUPCONNECT;
    int shared = atomic_load(&s->state);
    if (rc->state == ST_IDLE || (rc->state == ST_BACKOFF && shared == SY_REDIS_STATE_UP)) {
        (void)start_connect(rc);
        shared = atomic_load(&s->state);
    }
    if (!(rc->state == ST_READY ||
          (rc->state == ST_CONNECTING && shared != SY_REDIS_STATE_DOWN))) {
        atomic_fetch_add(&s->refused, 1);
        return SY_EUPCONNECT;
    }
    if (rc->npending >= SY_REDIS_MAX_PENDING)
        return SY_ENOMEM;
    struct req *q = calloc(1, sizeof(*q));
    if (!q)
        return SY_ENOMEM;
    uint64_t now = sy_now_ns();
    int was_empty = rc->head == NULL;
    q->kind = Q_USER;
    q->cb = cb;
    q->ud = ud;
    q->deadline_ns =
        (rc->state == ST_CONNECTING ? rc->connect_deadline_ns : now) + s->command_ns;
    sy_err_t err = submit(rc, q, argc, argv, lens);
    if (err != SY_OK)
        return err;
    atomic_fetch_add(&s->commands, 1);
    if (was_empty && rc->state == ST_READY)
        arm_tmo(rc, now);
    return SY_OK;
}

sy_err_t sy_redis_get(sy_redis_t *rc, const void *key, size_t klen, sy_redis_cb cb, void *ud)
{
    const char *argv[2] = {"GET", key};
    size_t lens[2] = {3, klen};
    if (!key)
        return SY_EBADREQ;
    return command(rc, cb, ud, 2, argv, lens);
}

sy_err_t sy_redis_set(sy_redis_t *rc, const void *key, size_t klen, const void *val, size_t vlen,
                      uint64_t ttl_ms, int nx, sy_redis_cb cb, void *ud)
{
    char ttl[24];
    const char *argv[6] = {"SET", key, val ? val : "", "PX", ttl, "NX"};
    size_t lens[6] = {3, klen, vlen, 2, 0, 2};
    int argc = 3;
    if (!key || (!val && vlen))
        return SY_EBADREQ;
    if (ttl_ms) {
        lens[4] = (size_t)snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)ttl_ms);
        argc = 5;
    }
    if (nx) {
        argv[argc] = "NX";
        lens[argc] = 2;
        argc++;
    }
    return command(rc, cb, ud, argc, argv, lens);
}

sy_err_t sy_redis_del_if(sy_redis_t *rc, const void *key, size_t klen, const void *val, size_t vlen,
                         sy_redis_cb cb, void *ud)
{
    const char *argv[5] = {"EVAL", DEL_IF_SCRIPT, "1", key, val ? val : ""};
    size_t lens[5] = {4, sizeof(DEL_IF_SCRIPT) - 1, 1, klen, vlen};
    if (!key || (!val && vlen))
        return SY_EBADREQ;
    return command(rc, cb, ud, 5, argv, lens);
}

sy_err_t sy_redis_pexpire(sy_redis_t *rc, const void *key, size_t klen, uint64_t ttl_ms,
                          sy_redis_cb cb, void *ud)
{
    char ttl[24];
    const char *argv[3] = {"PEXPIRE", key, ttl};
    size_t lens[3] = {7, klen, 0};
    if (!key || !ttl_ms)
        return SY_EBADREQ;
    lens[2] = (size_t)snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)ttl_ms);
    return command(rc, cb, ud, 3, argv, lens);
}

sy_err_t sy_redis_publish(sy_redis_t *rc, const char *channel, const void *msg, size_t len)
{
    const char *argv[3] = {"PUBLISH", channel, msg ? msg : ""};
    size_t lens[3] = {7, channel ? strlen(channel) : 0, len};
    if (!channel || !*channel || (!msg && len))
        return SY_EBADREQ;
    return command(rc, NULL, NULL, 3, argv, lens);
}

/* ---- subscriber ---- */

sy_redis_sub_t *sy_redis_subscribe(struct event_base *base, sy_redis_shared_t *s,
                                   const char *channel, sy_redis_msg_cb on_msg, void *ud)
{
    if (!channel || !*channel)
        return NULL;
    struct sy_redis_sub *sub = calloc(1, sizeof(*sub));
    if (!sub)
        return NULL;
    struct sy_redis *rc = &sub->c;
    rc->is_sub = 1;
    rc->on_msg = on_msg;
    rc->ud = ud;
    rc->channel = strdup(channel);
    if (!rc->channel || init_client(rc, base, s) < 0) {
        destroy(rc);
        return NULL;
    }
    (void)start_connect(rc); /* on failure the retry timer runs */
    return sub;
}

int sy_redis_sub_ready(const sy_redis_sub_t *sub)
{
    return sub->c.state == ST_READY && sub->c.sub_ready;
}

void sy_redis_sub_free(sy_redis_sub_t *sub)
{
    if (sub)
        close_client(&sub->c);
}
