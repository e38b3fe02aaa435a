/*
 * upstream.c - libcurl multi-socket driven by a libevent loop (see upstream.h).
 *
 * curl tells us which sockets to watch (sock_cb) and when to wake it
 * (timer_cb); we turn those into events and call curl_multi_socket_action
 * when they fire, then drain curl_multi_info_read for finished transfers.
 * A socket's event is reassigned only when curl's interest changes.
 *
 * The first-byte and idle timeouts are ours (one evtimer per request, re-armed
 * lazily: a firing timer checks the real deadline and sleeps again if data
 * arrived meanwhile), because curl's own low-speed limits work in seconds.
 *
 * Handles are released at a safe point: never inside one of curl's callbacks.
 * A cancel that arrives inside a callback only marks the request; the reaper
 * event removes it on the next turn of the loop.
 */
#include "upstream/upstream.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "upstream/curl_dl.h"
#include "upstream/h1.h"
#include "upstream/retry_after.h"

/* libcurl is called through the table of curl_dl.c (loaded on demand);
 * curl.h's type-checking macros give way to it */
#undef curl_easy_getinfo
#undef curl_easy_setopt
#undef curl_multi_setopt
#define curl_easy_cleanup (sy_curl()->easy_cleanup)
#define curl_easy_getinfo (sy_curl()->easy_getinfo)
#define curl_easy_init (sy_curl()->easy_init)
#define curl_easy_pause (sy_curl()->easy_pause)
#define curl_easy_reset (sy_curl()->easy_reset)
#define curl_easy_setopt (sy_curl()->easy_setopt)
#define curl_easy_strerror (sy_curl()->easy_strerror)
#define curl_multi_add_handle (sy_curl()->multi_add_handle)
#define curl_multi_assign (sy_curl()->multi_assign)
#define curl_multi_cleanup (sy_curl()->multi_cleanup)
#define curl_multi_info_read (sy_curl()->multi_info_read)
#define curl_multi_init (sy_curl()->multi_init)
#define curl_multi_remove_handle (sy_curl()->multi_remove_handle)
#define curl_multi_setopt (sy_curl()->multi_setopt)
#define curl_multi_socket_action (sy_curl()->multi_socket_action)
#define curl_slist_append (sy_curl()->slist_append)
#define curl_slist_free_all (sy_curl()->slist_free_all)

#define EASY_POOL_MAX 64

struct sy_upreq {
    sy_upstream_t *up;
    CURL *easy;       /* libcurl transport, or */
    sy_h1req_t *h1;   /* the lean plain-HTTP one */
    struct curl_slist *headers;
    char *body;
    sy_upreq_cbs_t cbs;
    void *ud;
    struct event deadline; /* embedded: one allocation less per request */
    uint64_t start_ns, first_byte_ns, last_data_ns;
    uint32_t first_byte_ms, idle_ms, total_ms;
    int status;
    int retry_after;
    char content_type[128];
    unsigned head_done : 1, paused : 1, cancelled : 1, finished : 1;
    sy_upreq_t *next_reap;
    sy_upreq_t *prev, *next; /* the worker's list of live requests */
};

struct sy_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct event *reaper;
    sy_upreq_t *reap_list;
    sy_upreq_t *live;
    sy_h1_t *h1;
    int proxy_env; /* a proxy is configured in the environment: libcurl applies it */
    CURL *pool[EASY_POOL_MAX];
    unsigned npool;
    unsigned active;
    unsigned cb_depth; /* inside a request's callback (any request of this loop): a cancel waits for the next turn */
};

typedef struct sock_ctx {
    struct event ev;
    curl_socket_t fd;
    int what;
    sy_upstream_t *up;
} sock_ctx_t;

static void check_done(sy_upstream_t *up);
static void release(sy_upreq_t *rq);

/* ---- curl <-> libevent glue ------------------------------------------- */

static void sock_event(evutil_socket_t fd, short events, void *arg)
{
    sy_upstream_t *up = arg;
    int running, flags = 0;
    if (events & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (events & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(up->multi, fd, flags, &running);
    check_done(up);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    sy_upstream_t *up = userp;
    sock_ctx_t *sc = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            event_del(&sc->ev);
            free(sc);
            curl_multi_assign(up->multi, s, NULL);
        }
        return 0;
    }
    if (!sc) {
        sc = calloc(1, sizeof(*sc));
        if (!sc)
            return -1;
        sc->fd = s;
        sc->up = up;
        curl_multi_assign(up->multi, s, sc);
    } else if (sc->what == what) {
        return 0; /* interest unchanged: leave the event alone */
    } else {
        event_del(&sc->ev);
    }
    short kind = EV_PERSIST;
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    sc->what = what;
    event_assign(&sc->ev, up->base, s, kind, sock_event, up);
    event_add(&sc->ev, NULL);
    return 0;
}

static void timer_event(evutil_socket_t fd, short events, void *arg)
{
    sy_upstream_t *up = arg;
    int running;
    (void)fd, (void)events;
    curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(up);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    sy_upstream_t *up = userp;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(up->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(up->timer, &tv);
    }
    return 0;
}

/* ---- per-request callbacks ------------------------------------------- */

static sy_err_t map_curl(CURLcode rc, const sy_upreq_t *rq, sy_error_t *err)
{
    const char *what = curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        sy_error_set(err, SY_EUPCONNECT, NULL, "could not connect to the upstream: %s", what);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        sy_error_set(err, SY_EUPTIMEOUT, NULL, "upstream timed out: %s", what);
        break;
    case CURLE_GOT_NOTHING:
        sy_error_set(err, SY_EUPPROTO, NULL, "upstream closed the connection without a response");
        break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP2:
        if (rq->head_done)
            sy_error_set(err, SY_EUPCLOSED, NULL, "upstream closed the connection mid-response: %s",
                         what);
        else
            sy_error_set(err, SY_EUPPROTO, NULL, "upstream failed before responding: %s", what);
        break;
    default:
        sy_error_set(err, SY_EUPPROTO, NULL, "upstream transfer failed: %s", what);
        break;
    }
    return err->code;
}

/* Deliver on_done once and release. Called only outside curl callbacks. */
static void finish(sy_upreq_t *rq, const sy_error_t *err)
{
    rq->finished = 1;
    if (!rq->cancelled && rq->cbs.on_done)
        rq->cbs.on_done(rq->ud, err);
    release(rq);
}

static void check_done(sy_upstream_t *up)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(up->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        sy_upreq_t *rq = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&rq);
        if (!rq || rq->finished)
            continue;
        CURLcode rc = msg->data.result;
        if (rc == CURLE_OK && !rq->head_done) {
            /* a body-less response: report the head now */
            long st = 0;
            curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &st);
            rq->status = (int)st;
            rq->head_done = 1;
            if (!rq->cancelled && rq->cbs.on_head)
                rq->cbs.on_head(rq->ud, rq->status, rq->content_type);
        }
        if (rc == CURLE_OK) {
            finish(rq, NULL);
        } else {
            sy_error_t err;
            map_curl(rc, rq, &err);
            finish(rq, &err);
        }
    }
}

/* When the request is due to time out, or 0 for never. */
static uint64_t due_at(const sy_upreq_t *rq)
{
    uint64_t due = 0;
    if (!rq->first_byte_ns && rq->first_byte_ms)
        due = rq->start_ns + (uint64_t)rq->first_byte_ms * 1000000ull;
    else if (rq->first_byte_ns && rq->idle_ms)
        due = rq->last_data_ns + (uint64_t)rq->idle_ms * 1000000ull;
    if (rq->total_ms) {
        uint64_t t = rq->start_ns + (uint64_t)rq->total_ms * 1000000ull;
        if (!due || t < due)
            due = t;
    }
    return due;
}

static void arm_deadline(sy_upreq_t *rq, uint64_t now)
{
    uint64_t due = due_at(rq);
    if (!due)
        return;
    uint64_t wait = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000000ull), (suseconds_t)((wait % 1000000000ull) / 1000)};
    evtimer_add(&rq->deadline, &tv);
}

static void deadline_event(evutil_socket_t fd, short events, void *arg)
{
    sy_upreq_t *rq = arg;
    uint64_t now = sy_now_ns();
    (void)fd, (void)events;
    if (rq->finished)
        return;
    int total = rq->total_ms && now + 500000 >= rq->start_ns + (uint64_t)rq->total_ms * 1000000ull;
    if (rq->paused && !total) { /* the client is slow, not the upstream */
        rq->last_data_ns = now;
        arm_deadline(rq, now);
        return;
    }
    if (!total && now + 500000 < due_at(rq)) { /* data came meanwhile: sleep again */
        arm_deadline(rq, now);
        return;
    }
    sy_error_t err;
    if (total)
        sy_error_set(&err, SY_EUPTIMEOUT, NULL, "upstream transfer exceeded %u ms", rq->total_ms);
    else if (rq->first_byte_ns)
        sy_error_set(&err, SY_EUPTIMEOUT, NULL, "upstream sent nothing for %u ms mid-response",
                     rq->idle_ms);
    else
        sy_error_set(&err, SY_EUPTIMEOUT, NULL, "upstream sent no response within %u ms",
                     rq->first_byte_ms);
    finish(rq, &err);
}

static size_t header_cb(char *buf, size_t size, size_t n, void *arg)
{
    sy_upreq_t *rq = arg;
    size_t len = size * n;
    if (len >= 5 && strncasecmp(buf, "HTTP/", 5) == 0) {
        /* a new status line (after a 1xx, a redirect, or a proxy) starts afresh */
        rq->content_type[0] = '\0';
        rq->retry_after = -1;
        return len;
    }
    if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
        long st = 0;
        curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &st);
        if (st >= 200 && !rq->head_done) {
            rq->status = (int)st;
            rq->head_done = 1;
            if (!rq->first_byte_ns) {
                rq->first_byte_ns = rq->last_data_ns = sy_now_ns();
                arm_deadline(rq, rq->first_byte_ns); /* from first-byte to idle timing */
            }
            if (!rq->cancelled && rq->cbs.on_head) {
                rq->up->cb_depth++;
                rq->cbs.on_head(rq->ud, rq->status, rq->content_type);
                rq->up->cb_depth--;
            }
        }
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - buf);
    const char *v = colon + 1, *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vlen = (size_t)(end - v);
    if (nlen == 12 && strncasecmp(buf, "content-type", 12) == 0) {
        if (vlen >= sizeof(rq->content_type))
            vlen = sizeof(rq->content_type) - 1;
        memcpy(rq->content_type, v, vlen);
        rq->content_type[vlen] = '\0';
    } else if (nlen == 11 && strncasecmp(buf, "retry-after", 11) == 0) {
        int ra = sy_retry_after_parse(v, vlen, time(NULL));
        if (ra >= 0)
            rq->retry_after = ra;
    }
    return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
    sy_upreq_t *rq = arg;
    size_t len = size * n;
    if (rq->cancelled)
        return 0; /* makes curl stop this transfer */
    uint64_t now = sy_now_ns();
    rq->last_data_ns = now;
    if (!rq->first_byte_ns) {
        rq->first_byte_ns = now;
        arm_deadline(rq, now);
    }
    if (!rq->cbs.on_body || len == 0)
        return len;
    rq->up->cb_depth++;
    int r = rq->cbs.on_body(rq->ud, data, len);
    rq->up->cb_depth--;
    if (rq->cancelled)
        return 0;
    if (r == SY_UPSTREAM_PAUSE) {
        rq->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    return len;
}

/* ---- the lean plain-HTTP transport's callbacks --------------------------- */

static void h1_head(void *ud, int status, const char *content_type, int retry_after)
{
    sy_upreq_t *rq = ud;
    rq->status = status;
    rq->head_done = 1;
    rq->retry_after = retry_after;
    snprintf(rq->content_type, sizeof(rq->content_type), "%s", content_type);
    if (!rq->first_byte_ns) {
        rq->first_byte_ns = rq->last_data_ns = sy_now_ns();
        arm_deadline(rq, rq->first_byte_ns); /* from first-byte to idle timing */
    }
    if (!rq->cancelled && rq->cbs.on_head) {
        rq->up->cb_depth++;
        rq->cbs.on_head(rq->ud, status, rq->content_type);
        rq->up->cb_depth--;
    }
}

static int h1_body(void *ud, const char *data, size_t len)
{
    sy_upreq_t *rq = ud;
    if (rq->cancelled)
        return 1;
    rq->last_data_ns = sy_now_ns();
    if (!rq->cbs.on_body)
        return 0;
    rq->up->cb_depth++;
    int r = rq->cbs.on_body(rq->ud, data, len);
    rq->up->cb_depth--;
    if (rq->cancelled)
        return 1;
    if (r == SY_UPSTREAM_PAUSE) {
        rq->paused = 1;
        return 1;
    }
    return 0;
}

static void h1_done(void *ud, sy_err_t code, const char *detail)
{
    sy_upreq_t *rq = ud;
    rq->h1 = NULL; /* it frees itself after this */
    if (rq->finished)
        return;
    if (code == SY_OK) {
        finish(rq, NULL);
    } else {
        sy_error_t err;
        sy_error_set(&err, code, NULL, "%s", detail ? detail : sy_strerror(code));
        finish(rq, &err);
    }
}

static const sy_h1_cbs_t h1_cbs = {h1_head, h1_body, h1_done};

/* ---- lifecycle -------------------------------------------------------- */

static void reap_event(evutil_socket_t fd, short events, void *arg)
{
    sy_upstream_t *up = arg;
    (void)fd, (void)events;
    while (up->reap_list) {
        sy_upreq_t *rq = up->reap_list;
        up->reap_list = rq->next_reap;
        release(rq);
    }
}

static void release(sy_upreq_t *rq)
{
    sy_upstream_t *up = rq->up;
    if (rq->h1) {
        sy__h1_cancel(rq->h1);
        rq->h1 = NULL;
    }
    if (rq->easy) {
        curl_multi_remove_handle(up->multi, rq->easy);
        if (up->npool < EASY_POOL_MAX) {
            curl_easy_reset(rq->easy);
            up->pool[up->npool++] = rq->easy;
        } else {
            curl_easy_cleanup(rq->easy);
        }
    }
    if (event_initialized(&rq->deadline))
        event_del(&rq->deadline);
    if (rq->headers)
        curl_slist_free_all(rq->headers);
    free(rq->body);
    if (rq->prev)
        rq->prev->next = rq->next;
    else
        up->live = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    up->active--;
    free(rq);
}

sy_upstream_t *sy_upstream_new(struct event_base *base, unsigned max_connections)
{
    sy_upstream_t *up = calloc(1, sizeof(*up));
    if (!up)
        return NULL;
    up->base = base;
    up->timer = evtimer_new(base, timer_event, up);
    up->reaper = event_new(base, -1, 0, reap_event, up);
    up->h1 = sy__h1_new(base, max_connections);
    up->proxy_env = sy_upstream_proxy_env();
    if (!up->timer || !up->reaper || !up->h1) {
        sy_upstream_free(up);
        return NULL;
    }
    if (!sy_curl())
        return up; /* nothing configured needs libcurl: the lean transport only */
    up->multi = curl_multi_init();
    if (!up->multi) {
        sy_upstream_free(up);
        return NULL;
    }
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    /* the default connection cache is too small: new connections under load */
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, (long)(max_connections ? max_connections : 256));
    return up;
}

void sy_upstream_free(sy_upstream_t *up)
{
    if (!up)
        return;
    if (up->reaper)
        reap_event(-1, 0, up);
    while (up->live) {
        up->live->cancelled = 1;
        release(up->live);
    }
    sy__h1_free(up->h1);
    for (unsigned i = 0; i < up->npool; i++)
        curl_easy_cleanup(up->pool[i]);
    if (up->multi)
        curl_multi_cleanup(up->multi);
    if (up->timer)
        event_free(up->timer);
    if (up->reaper)
        event_free(up->reaper);
    free(up);
}

int sy_upstream_proxy_env(void)
{
    return getenv("http_proxy") || getenv("all_proxy") || getenv("ALL_PROXY");
}

int sy_upstream_needs_curl(const char *base_url, int force_curl)
{
    sy_h1_target_t t;
    return force_curl || sy_upstream_proxy_env() || sy__h1_target(base_url, &t) != 0;
}

unsigned sy_upstream_active(const sy_upstream_t *up)
{
    return up->active;
}

sy_upreq_t *sy_upstream_start(sy_upstream_t *up, sy_upreq_opts_t *o, const sy_upreq_cbs_t *cbs,
                              void *ud, sy_error_t *err)
{
    sy_upreq_t *rq = calloc(1, sizeof(*rq));
    if (!rq) {
        free(o->body);
        o->body = NULL;
        sy_error_set(err, SY_ENOMEM, NULL, NULL);
        return NULL;
    }
    up->active++;
    rq->up = up;
    rq->next = up->live;
    if (up->live)
        up->live->prev = rq;
    up->live = rq;
    rq->cbs = *cbs;
    rq->ud = ud;
    rq->retry_after = -1;
    rq->body = o->body;
    o->body = NULL;
    evtimer_assign(&rq->deadline, up->base, deadline_event, rq);
    rq->first_byte_ms = o->timeouts.first_byte_ms;
    rq->idle_ms = o->timeouts.idle_ms;
    rq->total_ms = o->timeouts.total_ms;

    sy_h1_target_t target;
    if (!o->force_curl && !up->proxy_env && sy__h1_target(o->url, &target) == 0) {
        rq->start_ns = sy_now_ns();
        rq->h1 = sy__h1_start(up->h1, &target, o->method ? o->method : "GET", o->headers, o->n_headers,
                              rq->body, o->body_len, o->timeouts.connect_ms, &h1_cbs, rq);
        if (!rq->h1)
            goto nomem;
        arm_deadline(rq, rq->start_ns);
        return rq;
    }

    if (!up->multi) { /* sy_upstream_needs_curl said no for every provider */
        sy_error_set(err, SY_EUNSUPPORTED, NULL, "%s needs libcurl, which is not loaded", o->url);
        rq->cancelled = 1;
        release(rq);
        return NULL;
    }
    rq->easy = up->npool ? up->pool[--up->npool] : curl_easy_init();
    if (!rq->easy)
        goto nomem;

    for (size_t i = 0; i < o->n_headers; i++) {
        struct curl_slist *h = curl_slist_append(rq->headers, o->headers[i]);
        if (!h)
            goto nomem;
        rq->headers = h;
    }
    /* curl waits for "100 Continue" on large bodies unless told not to */
    struct curl_slist *h = curl_slist_append(rq->headers, "Expect:");
    if (!h)
        goto nomem;
    rq->headers = h;

    CURL *e = rq->easy;
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, rq);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, rq);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, rq);
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (o->timeouts.connect_ms)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeouts.connect_ms);
    if (o->timeouts.total_ms)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeouts.total_ms);
    if (o->method && strcmp(o->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    rq->start_ns = sy_now_ns();
    arm_deadline(rq, rq->start_ns);

    if (curl_multi_add_handle(up->multi, e) != CURLM_OK) {
        sy_error_set(err, SY_EINTERNAL, NULL, "could not start the upstream transfer");
        rq->cancelled = 1;
        curl_easy_cleanup(rq->easy);
        rq->easy = NULL;
        release(rq);
        return NULL;
    }
    return rq;

nomem:
    sy_error_set(err, SY_ENOMEM, NULL, NULL);
    rq->cancelled = 1;
    if (rq->easy) {
        curl_easy_cleanup(rq->easy);
        rq->easy = NULL;
    }
    release(rq);
    return NULL;
}

void sy_upreq_resume(sy_upreq_t *rq)
{
    if (!rq->paused || rq->cancelled || rq->finished)
        return;
    rq->paused = 0;
    rq->last_data_ns = sy_now_ns();
    if (rq->h1)
        sy__h1_resume(rq->h1);
    else
        curl_easy_pause(rq->easy, CURLPAUSE_CONT);
}

void sy_upreq_cancel(sy_upreq_t *rq)
{
    if (rq->cancelled || rq->finished)
        return;
    rq->cancelled = 1;
    evtimer_del(&rq->deadline);
    if (rq->up->cb_depth) {
        /* inside one of curl's callbacks (this request's or another's, as
         * a hedge's loser is cancelled from the winner's): remove on the
         * next loop turn */
        rq->finished = 1;
        rq->next_reap = rq->up->reap_list;
        rq->up->reap_list = rq;
        event_active(rq->up->reaper, 0, 0);
        return;
    }
    rq->finished = 1;
    release(rq);
}

uint64_t sy_upreq_ttfb_ns(const sy_upreq_t *rq)
{
    return rq->first_byte_ns ? rq->first_byte_ns - rq->start_ns : 0;
}

int sy_upreq_retry_after(const sy_upreq_t *rq)
{
    return rq->retry_after;
}
