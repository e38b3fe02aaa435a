/*
 * request.c - request context and response writer (see request.h).
 *
 * Finishing a request is the one place that writes its log line, records its
 * metrics, and frees it. Client departure is learnt from evhttp's close
 * callback; reading is re-enabled on the connection so that a client leaving
 * during a long non-streaming request is noticed at once (evhttp stops
 * reading once a request is complete).
 */
#include "http/request.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

static void on_close(struct evhttp_connection *conn, void *arg);

/* A response has left the process (evhttp wrote its last byte). Draining
 * waits for these too, or a worker could exit with a reply still queued. */
static void on_sent(struct evhttp_request *ev, void *arg)
{
    sy_worker_t *w = arg;
    (void)ev;
    w->flushing--;
    if (w->draining && w->inflight == 0 && w->flushing == 0)
        event_active(w->wake, 0, 0);
}

static int valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 63 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                         c == '-' || c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return n > 0;
}

sy_req_t *sy__req_new(sy_worker_t *w, struct evhttp_request *ev)
{
    sy_req_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->w = w;
    sy_arena_init(&r->arena, (size_t)w->srv->cfg->server.max_body_bytes * 4 + (1u << 20));
    r->ev = ev;
    r->start_ns = sy_now_ns();
    r->method = evhttp_request_get_command(ev);
    r->route = "-";
    r->exp = r->arm = -1;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    r->path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!r->path)
        r->path = "/";

    const char *rid = evhttp_find_header(evhttp_request_get_input_headers(ev), "x-request-id");
    if (rid && valid_request_id(rid)) {
        snprintf(r->id, sizeof(r->id), "%s", rid);
    } else {
        static const char hex[] = "0123456789abcdef";
        uint64_t a = sy_worker_rand(w), b = sy_worker_rand(w);
        memcpy(r->id, "req_", 4);
        for (int i = 0; i < 16; i++) {
            r->id[4 + i] = hex[(a >> (60 - 4 * i)) & 15];
            r->id[20 + i] = hex[(b >> (60 - 4 * i)) & 15];
        }
        r->id[36] = '\0';
    }
    evhttp_add_header(evhttp_request_get_output_headers(ev), "x-request-id", r->id);
    evhttp_request_set_on_complete_cb(ev, on_sent, w);

    struct evhttp_connection *conn = evhttp_request_get_connection(ev);
    evhttp_connection_set_closecb(conn, on_close, r);
    bufferevent_enable(evhttp_connection_get_bufferevent(conn), EV_READ);

    w->inflight++;
    sy_metric_add(w->srv->m.inflight, w->index, NULL, 1);
    if (w->draining)
        evhttp_add_header(evhttp_request_get_output_headers(ev), "Connection", "close");
    return r;
}

const char *sy_req_header(const sy_req_t *r, const char *name)
{
    return r->ev ? evhttp_find_header(evhttp_request_get_input_headers(r->ev), name) : NULL;
}

struct evbuffer *sy_req_body(const sy_req_t *r)
{
    return r->ev ? evhttp_request_get_input_buffer(r->ev) : NULL;
}

void sy_req_set_header(sy_req_t *r, const char *name, const char *value)
{
    if (r->ev && !r->client_gone)
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

void sy_req_replace_header(sy_req_t *r, const char *name, const char *value)
{
    if (!r->ev || r->client_gone)
        return;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    while (evhttp_remove_header(h, name) == 0)
        ;
    if (value)
        evhttp_add_header(h, name, value);
}

static void finish(sy_req_t *r)
{
    sy_worker_t *w = r->w;
    sy_server_metrics_t *m = &w->srv->m;
    uint64_t now = sy_now_ns();
    double dur = (double)(now - r->start_ns) / 1e9;
    double ttft = r->first_byte_ns ? (double)(r->first_byte_ns - r->start_ns) / 1e9 : -1;
    char status[8];
    const char *model = r->model[0] ? r->model : "-";

    if (r->ev && !r->client_gone) {
        struct evhttp_connection *conn = evhttp_request_get_connection(r->ev);
        if (conn)
            evhttp_connection_set_closecb(conn, NULL, NULL);
    }
    if (r->client_gone && r->orphan && r->ev)
        evhttp_request_free(r->ev); /* libevent left it to us */
    r->ev = NULL;
    r->finished = 1;

    snprintf(status, sizeof(status), "%d", r->client_gone && !r->status ? 499 : r->status);
    const char *lv[3] = {r->route, model, status};
    sy_metric_add(m->requests, w->index, lv, 1);
    sy_metric_observe(m->duration, w->index, &r->route, dur);
    if (ttft >= 0) {
        const char *tv[2] = {r->route, model};
        sy_metric_observe(m->ttft, w->index, tv, ttft);
    }
    if (r->prompt_tokens > 0 || r->completion_tokens > 0) {
        const char *pv[2] = {model, "prompt"}, *cv[2] = {model, "completion"};
        sy_metric_add(m->tokens, w->index, pv, (double)r->prompt_tokens);
        sy_metric_add(m->tokens, w->index, cv, (double)r->completion_tokens);
    }
    if (r->client_gone)
        sy_metric_add(m->client_gone, w->index, &r->route, 1);
    sy_metric_add(m->inflight, w->index, NULL, -1);

    if (w->srv->cfg->log.requests && sy_log_enabled(SY_LOG_INFO)) {
        static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE",
                                              "CONNECT", "PATCH"};
        int mi = 0;
        while (mi < 9 && !(r->method & (1 << mi)))
            mi++;
        sy_logline_t l;
        sy_logline_begin(&l, SY_LOG_INFO, "request");
        sy_logline_str(&l, "request_id", r->id);
        sy_logline_str(&l, "method", mi < 9 ? methods[mi] : "OTHER");
        sy_logline_str(&l, "route", r->route);
        sy_logline_str(&l, "model", r->model[0] ? r->model : NULL);
        sy_logline_str(&l, "deployment", r->deployment[0] ? r->deployment : NULL);
        sy_logline_str(&l, "provider", r->provider[0] ? r->provider : NULL);
        if (r->attempts > 1)
            sy_logline_int(&l, "attempts", r->attempts);
        if (r->fallback)
            sy_logline_str(&l, "fallback", r->fallback);
        if (r->route_reason)
            sy_logline_str(&l, "route_reason", r->route_reason);
        sy_logline_int(&l, "status", r->client_gone && !r->status ? 499 : r->status);
        if (r->error_code)
            sy_logline_str(&l, "error", r->error_code);
        if (r->client_gone)
            sy_logline_int(&l, "client_gone", 1);
        sy_logline_ms(&l, "duration_ms", dur * 1e3);
        if (ttft >= 0)
            sy_logline_ms(&l, "ttft_ms", ttft * 1e3);
        sy_logline_int(&l, "prompt_tokens", r->prompt_tokens);
        sy_logline_int(&l, "completion_tokens", r->completion_tokens);
        sy_logline_end(&l);
    }

    /* an A/B experiment's request: its outcome counts on its arm */
    if (r->exp >= 0 && w->srv->exp_done)
        w->srv->exp_done(r);

    sy_arena_release(&r->arena);
    free(r);
    w->inflight--;
    if (w->draining && w->inflight == 0 && w->flushing == 0)
        event_active(w->wake, 0, 0);
}

static void on_close(struct evhttp_connection *conn, void *arg)
{
    sy_req_t *r = arg;
    (void)conn;
    if (r->finished || r->client_gone)
        return;
    r->client_gone = 1;
    /* evhttp detaches a request it has not been told is done and leaves it
     * to its owner; one still queued on the connection is freed with it */
    r->orphan = r->ev && evhttp_request_get_connection(r->ev) == NULL;
    if (!r->orphan)
        r->ev = NULL;
    if (r->on_gone)
        r->on_gone(r);
    else
        finish(r);
}

/* Write what evhttp queued for the client now, instead of on the loop's
 * next turn when the socket reports writable: one epoll round less between
 * the upstream's answer and the client's. A socket bufferevent keeps its
 * output's start frozen for its own writer: thaw it for this write. Errors
 * are left for the bufferevent to meet on its own next write.
 *
 * When everything left: for a finished response (complete), run evhttp's
 * write callback now - it completes the response and stops watching for
 * EPOLLOUT in the same turn that started it, so no epoll_ctl is issued at
 * all; the connection may be freed inside (Connection: close), so nothing
 * may touch it afterwards. For a stream chunk, stop watching for EPOLLOUT. */
static void flush_now(struct evhttp_connection *conn, int complete)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    struct evbuffer *out = bufferevent_get_output(bev);
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0)
        return;
    if (evbuffer_get_length(out)) {
        evbuffer_unfreeze(out, 1);
        evbuffer_write(out, fd);
        evbuffer_freeze(out, 1);
    }
    if (evbuffer_get_length(out))
        return;
    if (complete)
        bufferevent_trigger(bev, EV_WRITE, 0);
    else
        bufferevent_disable(bev, EV_WRITE);
}

/* Hand the evhttp request back for good: stop hearing about its connection
 * closing and forget it. Returns the connection. */
static struct evhttp_connection *detach(sy_req_t *r, struct evhttp_request **ev)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(r->ev);
    if (conn)
        evhttp_connection_set_closecb(conn, NULL, NULL);
    *ev = r->ev;
    r->ev = NULL;
    return conn;
}

static int first_bytes(sy_req_t *r, int status)
{
    if (!r->first_byte_ns)
        r->first_byte_ns = sy_now_ns();
    r->status = status;
    return r->ev && !r->client_gone;
}

void sy_req_reply(sy_req_t *r, int status, const char *content_type, const char *body, size_t len)
{
    if (first_bytes(r, status)) {
        struct evbuffer *b = evbuffer_new();
        if (b && len)
            evbuffer_add(b, body, len);
        sy_req_reply_buf(r, status, content_type, b);
        evbuffer_free(b);
        return;
    }
    finish(r);
}

void sy_req_reply_buf(sy_req_t *r, int status, const char *content_type, struct evbuffer *body)
{
    if (first_bytes(r, status)) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
        if (content_type)
            evhttp_add_header(h, "Content-Type", content_type);
        struct evhttp_request *ev;
        struct evhttp_connection *conn = detach(r, &ev);
        r->w->flushing++;
        evhttp_send_reply(ev, status, NULL, body);
        if (conn)
            flush_now(conn, 1);
    }
    finish(r);
}

static void drained(struct evhttp_connection *conn, void *arg)
{
    sy_req_t *r = arg;
    (void)conn;
    if (r->finished || r->client_gone || !r->waiting_drain)
        return;
    r->waiting_drain = 0;
    if (r->on_drain)
        r->on_drain(r);
}

void sy_req_stream_start(sy_req_t *r, int status, const char *content_type)
{
    r->status = status;
    r->streaming = 1;
    if (!r->ev || r->client_gone)
        return;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_send_reply_start(r->ev, status, NULL);
}

int sy_req_stream_write_buf(sy_req_t *r, struct evbuffer *data)
{
    if (!r->ev || r->client_gone) {
        evbuffer_drain(data, evbuffer_get_length(data));
        return 0;
    }
    if (!r->first_byte_ns)
        r->first_byte_ns = sy_now_ns();
    struct evhttp_connection *conn = evhttp_request_get_connection(r->ev);
    struct evbuffer *out = bufferevent_get_output(evhttp_connection_get_bufferevent(conn));
    evhttp_send_reply_chunk_with_cb(r->ev, data, drained, r); /* moves data's bytes */
    flush_now(conn, 0);
    if (evbuffer_get_length(out) > r->w->srv->cfg->server.stream_high_water_bytes) {
        r->waiting_drain = 1;
        return 1;
    }
    return 0;
}

int sy_req_stream_write(sy_req_t *r, const char *data, size_t len)
{
    struct evbuffer *chunk = evbuffer_new();
    if (!chunk)
        return 0;
    evbuffer_add(chunk, data, len); /* a copy: data may live on the caller's stack */
    int rc = sy_req_stream_write_buf(r, chunk);
    evbuffer_free(chunk);
    return rc;
}

void sy_req_stream_end(sy_req_t *r)
{
    if (r->ev && !r->client_gone) {
        struct evhttp_request *ev;
        struct evhttp_connection *conn = detach(r, &ev);
        unsigned pending = ++r->w->flushing;
        /* without chunked framing (an HTTP/1.0 client) and nothing queued,
         * evhttp completes - and may free the connection - right here:
         * on_sent has then already counted it */
        evhttp_send_reply_end(ev);
        if (conn && r->w->flushing == pending)
            flush_now(conn, 1);
    }
    else if (r->ev && r->orphan) {
        evhttp_send_reply_end(r->ev); /* frees a detached request */
        r->ev = NULL;
    }
    finish(r);
}

void sy_req_abandon(sy_req_t *r)
{
    finish(r);
}
