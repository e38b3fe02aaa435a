/*
 * server.c - listeners, worker threads and graceful drain (see server.h).
 *
 * Each worker binds its own SO_REUSEPORT socket (a bigger backlog than
 * evhttp's default 128) and hands it to its evhttp. TCP_NODELAY is set on
 * the listening socket, which accepted sockets inherit on Linux: without it
 * SSE chunks wait ~40 ms for the client's delayed ACK.
 *
 * evhttp answers some errors itself with an HTML page (a body over the size
 * limit, an unparsable request). Clients of an API expect JSON, so every
 * connection's output buffer carries a callback that notices evhttp's error
 * page the moment it is queued and replaces it with an OpenAI-style JSON
 * error before anything is written to the socket.
 */
#include "http/server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "http/request.h"
#include "upstream/upstream.h"

#define LISTEN_BACKLOG 4096

uint64_t sy_worker_rand(sy_worker_t *w)
{
    /* xorshift128+ */
    uint64_t s1 = w->rng[0];
    const uint64_t s0 = w->rng[1];
    w->rng[0] = s0;
    s1 ^= s1 << 23;
    w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return w->rng[1] + s0;
}

/* ---- evhttp's HTML error pages become JSON ----------------------------- */

static int rewrite_page(sy_worker_t *w, struct evbuffer *buf, const struct evbuffer_cb_info *info);

static void rewrite_error_page(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    sy_worker_t *w = arg;
    /* evhttp's page is one add of 70..160 bytes ("<HTML><HEAD>..." with the
     * status and its reason twice): most adds are ruled out by size alone */
    if (info->n_added < 70 || info->n_added > 160 || info->orig_size + info->n_added > evbuffer_get_length(buf))
        return;
    /* a socket bufferevent may keep its output's start frozen (only its
     * writer drains it): then thaw it for the rewrite and freeze it again */
    if (rewrite_page(w, buf, info) == -2) {
        evbuffer_unfreeze(buf, 1);
        rewrite_page(w, buf, info);
        evbuffer_freeze(buf, 1);
    }
}

/* Returns 0 when done or not an error page, -2 when the buffer's start is
 * frozen. */
static int rewrite_page(sy_worker_t *w, struct evbuffer *buf, const struct evbuffer_cb_info *info)
{
    static const char marker[] = "<HTML><HEAD>\n<TITLE>";
    char head[sizeof(marker) - 1];
    char tail[1024];
    struct evbuffer_ptr at;
    if (evbuffer_ptr_set(buf, &at, info->orig_size, EVBUFFER_PTR_SET) < 0)
        return 0;
    ev_ssize_t got = evbuffer_copyout_from(buf, &at, head, sizeof(head));
    if (got < 0)
        return -2;
    if (got != (ev_ssize_t)sizeof(head) || memcmp(head, marker, sizeof(head)) != 0)
        return 0;

    /* find where this response's status line starts */
    size_t from = info->orig_size > sizeof(tail) ? info->orig_size - sizeof(tail) : 0;
    size_t n = info->orig_size - from;
    struct evbuffer_ptr p;
    evbuffer_ptr_set(buf, &p, from, EVBUFFER_PTR_SET);
    if (evbuffer_copyout_from(buf, &p, tail, n) != (ev_ssize_t)n)
        return 0;
    long start = -1;
    for (long i = (long)n - 9; i >= 0; i--) {
        if (memcmp(tail + i, "HTTP/1.", 7) == 0 && (i == 0 || tail[i - 1] == '\n')) {
            start = i;
            break;
        }
    }
    if (start < 0 || (size_t)start + 12 > n)
        return 0;
    int status = (int)strtol(tail + start + 9, NULL, 10);
    sy_err_t code = status == 413 ? SY_ETOOLARGE : status == 405 || status == 501 ? SY_EMETHOD : SY_EBADREQ;
    const char *msg = status == 413 ? "request body too large" : sy_strerror(code);

    char body[512], out[1024], rid[40];
    snprintf(rid, sizeof(rid), "req_%016llx%016llx", (unsigned long long)sy_worker_rand(w),
             (unsigned long long)sy_worker_rand(w));
    int blen = snprintf(body, sizeof(body),
                        "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}",
                        msg, sy_err_openai_type(code), sy_err_openai_code(code));
    int olen = snprintf(out, sizeof(out),
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                        "x-request-id: %s\r\nConnection: close\r\n\r\n%s",
                        status, status == 413 ? "Payload Too Large" : status == 501 ? "Not Implemented" : "Bad Request", blen, rid,
                        body);
    if (blen < 0 || olen < 0 || (size_t)olen >= sizeof(out))
        return 0;
    struct evbuffer *keep = evbuffer_new();
    if (!keep)
        return 0;
    evbuffer_remove_buffer(buf, keep, from + (size_t)start);
    evbuffer_drain(buf, evbuffer_get_length(buf));
    evbuffer_add_buffer(buf, keep);
    evbuffer_add(buf, out, (size_t)olen);
    evbuffer_free(keep);

    /* these requests never reached a handler: count and log them here */
    char st[8];
    snprintf(st, sizeof(st), "%d", status);
    const char *lv[3] = {"-", "-", st};
    sy_metric_add(w->srv->m.requests, w->index, lv, 1);
    if (w->srv->cfg->log.requests && sy_log_enabled(SY_LOG_INFO)) {
        sy_logline_t l;
        sy_logline_begin(&l, SY_LOG_INFO, "request");
        sy_logline_str(&l, "request_id", rid);
        sy_logline_str(&l, "route", "-");
        sy_logline_int(&l, "status", status);
        sy_logline_str(&l, "error", sy_err_openai_code(code));
        sy_logline_end(&l);
    }
    return 0;
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev)
        evbuffer_add_cb(bufferevent_get_output(bev), rewrite_error_page, arg);
    return bev;
}

/* ---- requests ---------------------------------------------------------- */

static void on_request(struct evhttp_request *ev, void *arg)
{
    sy_worker_t *w = arg;
    sy_req_t *r = sy__req_new(w, ev);
    if (!r) {
        evhttp_send_error(ev, 500, "out of memory");
        return;
    }
    w->srv->handler(r);
}

/* ---- sockets ------------------------------------------------------------ */

static int bind_socket(const char *host, uint16_t port, sy_error_t *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    const char *h = (host && *host) ? host : "0.0.0.0";
    if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        sl = sizeof(*s6);
    } else if (strcmp(h, "localhost") == 0) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*s4);
    } else {
        sy_error_set(err, SY_ECONFIG, NULL, "server.listen: \"%s\" is not an IP address", h);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sy_error_set(err, SY_EIO, NULL, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        sy_error_set(err, SY_EIO, NULL, "cannot listen on %s:%u: %s", h, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- drain ------------------------------------------------------------- */

static void worker_wake(evutil_socket_t fd, short what, void *arg)
{
    sy_worker_t *w = arg;
    (void)fd, (void)what;
    if (atomic_load(&w->srv->stopping)) {
        event_base_loopbreak(w->base);
        return;
    }
    if (!w->draining) {
        w->draining = 1;
        /* close the listening socket: new connections are refused from now on */
        if (w->bound) {
            evhttp_del_accept_socket(w->http, w->bound);
            w->bound = NULL;
        }
    }
    if (w->inflight == 0) {
        /* replies still being written: give them up to ~2 s (a client that
         * vanished never completes its write, so do not wait for ever) */
        if (w->flushing && w->flush_waits++ < 100) {
            struct timeval tv = {0, 20000};
            evtimer_add(w->recheck, &tv);
            return;
        }
        event_base_loopbreak(w->base);
    }
}

static void *worker_main(void *arg)
{
    sy_worker_t *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void register_metrics(sy_server_t *srv)
{
    static const char *const l_rms[] = {"route", "model", "status"};
    static const char *const l_route[] = {"route"};
    static const char *const l_rm[] = {"route", "model"};
    static const char *const l_pk[] = {"provider", "kind"};
    static const char *const l_md[] = {"model", "direction"};
    sy_metrics_t *m = srv->metrics;
    srv->m.requests = sy_metrics_counter(m, "switchyard_requests_total",
                                         "Requests answered, by route, public model and HTTP status.", 3, l_rms);
    srv->m.duration = sy_metrics_histogram(m, "switchyard_request_duration_seconds",
                                           "Time from request received to response finished.", 1, l_route,
                                           sy_metrics_latency_bounds, sy_metrics_latency_nbounds);
    srv->m.ttft = sy_metrics_histogram(m, "switchyard_ttft_seconds",
                                       "Time from request received to the first response byte sent.", 2, l_rm,
                                       sy_metrics_latency_bounds, sy_metrics_latency_nbounds);
    srv->m.upstream_errors = sy_metrics_counter(m, "switchyard_upstream_errors_total",
                                                "Failed upstream attempts, by provider and kind of failure.", 2,
                                                l_pk);
    srv->m.tokens = sy_metrics_counter(m, "switchyard_tokens_total",
                                       "Tokens reported by upstreams, by public model and direction (prompt|completion).",
                                       2, l_md);
    srv->m.inflight = sy_metrics_gauge(m, "switchyard_requests_in_flight", "Requests being served.", 0, NULL);
    srv->m.client_gone = sy_metrics_counter(m, "switchyard_client_disconnects_total",
                                            "Requests whose client left before the response was finished.", 1,
                                            l_route);
}

sy_server_t *sy_server_new(const sy_config_t *cfg, sy_metrics_t *metrics, sy_handler_fn handler,
                           sy_error_t *err)
{
    sy_server_t *srv = calloc(1, sizeof(*srv));
    int fd = -1;
    if (!srv)
        goto nomem;
    srv->cfg = cfg;
    srv->metrics = metrics;
    srv->handler = handler;
    srv->started = (long)time(NULL);
    srv->nworkers = cfg->server.workers ? cfg->server.workers : 1;
    srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
    if (!srv->workers)
        goto nomem;
    register_metrics(srv);
    evthread_use_pthreads();

    uint16_t port = cfg->server.port;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        sy_worker_t *w = &srv->workers[i];
        w->srv = srv;
        w->index = i;
        if (getrandom(w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || (w->rng[0] | w->rng[1]) == 0)
            w->rng[0] = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)w, w->rng[1] = i + 1;
        /* batch each loop turn's interest changes into fewer epoll_ctl calls */
        struct event_config *ec = event_config_new();
        if (!ec)
            goto nomem;
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        w->base = event_base_new_with_config(ec);
        event_config_free(ec);
        if (!w->base)
            goto nomem;
        w->http = evhttp_new(w->base);
        w->upstream = sy_upstream_new(w->base, 256);
        w->wake = event_new(w->base, -1, 0, worker_wake, w);
        w->recheck = evtimer_new(w->base, worker_wake, w);
        if (!w->http || !w->upstream || !w->wake || !w->recheck)
            goto nomem;
        evhttp_set_gencb(w->http, on_request, w);
        evhttp_set_bevcb(w->http, make_bev, w);
        evhttp_set_max_body_size(w->http, (ev_ssize_t)cfg->server.max_body_bytes);
        /* read and discard a too-large body before answering 413, so the client
         * is not cut off with a reset while it is still sending */
        evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
        evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT | EVHTTP_REQ_OPTIONS |
                                                EVHTTP_REQ_PATCH);
        evhttp_set_default_content_type(w->http, "application/json");
        fd = bind_socket(cfg->server.host, port, err);
        if (fd < 0)
            goto fail;
        if (i == 0)
            port = srv->port = bound_port(fd);
        w->bound = evhttp_accept_socket_with_handle(w->http, fd);
        if (!w->bound) {
            sy_error_set(err, SY_EIO, NULL, "cannot accept on port %u", port);
            close(fd);
            goto fail;
        }
        fd = -1;
    }
    return srv;

nomem:
    sy_error_set(err, SY_ENOMEM, NULL, NULL);
fail:
    sy_server_free(srv);
    return NULL;
}

int sy_server_run(sy_server_t *srv)
{
    sigset_t set, old;
    int sig = 0, rc = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* workers inherit the mask: only this thread takes the signals */
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);

    unsigned started = 0;
    for (; started < srv->nworkers; started++) {
        if (pthread_create(&srv->workers[started].thread, NULL, worker_main, &srv->workers[started]) != 0)
            break;
    }
    if (started < srv->nworkers) {
        sy_log(SY_LOG_ERROR, "cannot start worker threads", NULL);
        atomic_store(&srv->stopping, 1);
        rc = 1;
        goto join;
    }
    /* the probes run on worker 0's loop; a failure only costs discovery */
    if (srv->discovery && srv->discovery_start(srv->discovery, &srv->workers[0]) != 0)
        sy_log(SY_LOG_ERROR, "cannot start model discovery", "out of memory");
    if (srv->cache && srv->cache_start(srv->cache, srv->workers[0].base) != 0)
        sy_log(SY_LOG_ERROR, "cannot start the cache's expiry sweep", "out of memory");
    if (srv->health && srv->health_start(srv->health, &srv->workers[0]) != 0)
        sy_log(SY_LOG_ERROR, "cannot start health probes", "out of memory");

    sy_logline_t l;
    char url[128];
    const char *h = srv->cfg->server.host && *srv->cfg->server.host ? srv->cfg->server.host : "0.0.0.0";
    snprintf(url, sizeof(url), strchr(h, ':') ? "http://[%s]:%u" : "http://%s:%u", h, srv->port);
    sy_logline_begin(&l, SY_LOG_INFO, "listening");
    sy_logline_str(&l, "url", url);
    sy_logline_int(&l, "workers", srv->nworkers);
    sy_logline_end(&l);

    sigwait(&set, &sig);
    sy_log(SY_LOG_INFO, "draining", "signal %d: finishing requests in flight, refusing new ones", sig);
    atomic_store(&srv->draining, 1);
    for (unsigned i = 0; i < srv->nworkers; i++)
        event_active(srv->workers[i].wake, 0, 0);

    /* wait for the workers, up to the drain timeout */
    {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        uint64_t ns = (uint64_t)dl.tv_nsec + (uint64_t)srv->cfg->server.drain_timeout_ms * 1000000ull;
        dl.tv_sec += (time_t)(ns / 1000000000ull);
        dl.tv_nsec = (long)(ns % 1000000000ull);
        for (unsigned i = 0; i < srv->nworkers; i++) {
            if (pthread_timedjoin_np(srv->workers[i].thread, NULL, &dl) == 0) {
                srv->workers[i].thread = 0;
                continue;
            }
            if (!atomic_load(&srv->stopping)) {
                sy_log(SY_LOG_WARN, "drain timeout", "%u ms passed: cutting remaining requests",
                       srv->cfg->server.drain_timeout_ms);
                atomic_store(&srv->stopping, 1);
                rc = 1;
                for (unsigned j = 0; j < srv->nworkers; j++)
                    event_active(srv->workers[j].wake, 0, 0);
            }
            pthread_join(srv->workers[i].thread, NULL);
            srv->workers[i].thread = 0;
        }
    }
    started = 0;
join:
    for (unsigned i = 0; i < started; i++)
        event_active(srv->workers[i].wake, 0, 0);
    for (unsigned i = 0; i < started; i++)
        pthread_join(srv->workers[i].thread, NULL);
    /* every loop has stopped: cancel a probe in flight and its timers while
     * worker 0's upstream client and event base still exist */
    if (srv->discovery)
        srv->discovery_stop(srv->discovery);
    if (srv->health)
        srv->health_stop(srv->health);
    if (srv->cache)
        srv->cache_stop(srv->cache);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sy_log(SY_LOG_INFO, "stopped", NULL);
    return rc;
}

void sy_server_free(sy_server_t *srv)
{
    if (!srv)
        return;
    if (srv->discovery) /* before the loops and clients it runs on go */
        srv->discovery_stop(srv->discovery);
    if (srv->health)
        srv->health_stop(srv->health);
    if (srv->cache)
        srv->cache_stop(srv->cache);
    for (unsigned i = 0; srv->workers && i < srv->nworkers; i++) {
        sy_worker_t *w = &srv->workers[i];
        /* connections first: their close callbacks cancel the upstream
         * transfers of requests still open and finish those requests */
        if (w->http)
            evhttp_free(w->http);
        sy_upstream_free(w->upstream);
        if (w->wake)
            event_free(w->wake);
        if (w->recheck)
            event_free(w->recheck);
        if (w->base)
            event_base_free(w->base);
    }
    free(srv->workers);
    free(srv);
}
