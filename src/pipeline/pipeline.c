/*
 * pipeline.c - route, send, relay (see pipeline.h).
 *
 * A relay_t lives from the upstream attempt's start to the end of the
 * client's response. The upstream's callbacks drive it; the client's
 * departure (on_gone) cancels the attempt. Nothing is freed inside one of
 * the upstream's callbacks: a client that leaves while one runs is only
 * marked, and the callback tidies up on its way out.
 */
#include "pipeline/pipeline.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/jsonscan.h"
#include "core/log.h"
#include "pipeline/error.h"
#include "pipeline/internal.h"
#include "providers/discovery.h"
#include "providers/egress.h"
#include "providers/provider.h"
#include "router/decide.h"
#include "router/plan.h"
#include "router/router.h"
#include "upstream/sse.h"
#include "upstream/upstream.h"

#define MAX_RESPONSE_BYTES (64u << 20) /* a whole (non-stream) upstream answer */
#define MAX_SSE_EVENT (8u << 20)

typedef struct relay relay_t;

struct relay {
    sy_req_t *r;
    sy_upreq_t *up;
    const sy_provider_conf_t *provider; /* the current attempt's */
    int want_stream;
    int streaming; /* the client's event stream has started */
    int stream_ok; /* passthrough: the upstream's 2xx event stream, the client's not started yet */
    int got_byte;  /* the attempt's first byte of answer arrived */
    int status;    /* upstream's */
    int retry_after;
    int saw_done;
    int in_cb;     /* inside an upstream callback */
    int gone;      /* the client left during an upstream callback */
    int client_behind;
    struct evbuffer *body; /* a whole upstream answer */
    struct evbuffer *out;  /* events of one upstream read, written to the client at once */
    sy_sse_t sse;
    struct event *keepalive;
    uint64_t last_event_ns;

    /* a translated call (in != NULL): the upstream's answer is parsed into
     * canonical events and written in the client's protocol */
    const sy_ingress_t *in;
    const sy_creq_t *q;
    int parse_stream; /* the upstream streams: parse as it arrives */
    sy_enc_t enc;
    sy_eparse_t ep;
    int ep_live;
    unsigned enc_flags;

    /* the attempts, and the client's call for a passthrough */
    sy_attempts_t att;
    sy_call_t call;

    sy_race_t race; /* hedging: up is its lead's transfer */
};

static void relay_failed(relay_t *rl, const sy_error_t *e, int retry_after);

/* ---- helpers ------------------------------------------------------------ */

void sy_pipeline_take_usage(sy_req_t *r, const sy_jval_t *obj)
{
    sy_jval_t u, v;
    int64_t n;
    if (obj->type != SY_JOBJECT || !sy_json_get(obj, "usage", &u) || u.type != SY_JOBJECT)
        return;
    if (sy_json_get(&u, "prompt_tokens", &v) && sy_json_int(&v, &n) == 0)
        r->prompt_tokens = n;
    if (sy_json_get(&u, "completion_tokens", &v) && sy_json_int(&v, &n) == 0)
        r->completion_tokens = n;
}

void sy__pl_note_usage(sy_req_t *r, const sy_usage_t *u)
{
    if (u->input_tokens >= 0)
        r->prompt_tokens = u->input_tokens;
    if (u->output_tokens >= 0)
        r->completion_tokens = u->output_tokens;
}

int sy__pl_enc_init(sy_req_t *r, sy_enc_t *e, const sy_creq_t *q, unsigned flags)
{
    memset(e, 0, sizeof(*e));
    e->q = q;
    e->model = sy_arena_strndup(&r->arena, q->model.p, q->model.len);
    if (!e->model)
        return -1;
    e->id = r->id;
    e->created = (int64_t)time(NULL);
    e->start_ns = r->start_ns;
    e->flags = flags;
    e->open_block = -1;
    sy_usage_init(&e->usage);
    return 0;
}

static const char *error_kind(const sy_error_t *e)
{
    switch (e->code) {
    case SY_EUPCONNECT:
        return "connect";
    case SY_EUPTIMEOUT:
        return "timeout";
    case SY_EUPCLOSED:
        return "closed";
    case SY_EUPSTATUS:
        return e->status >= 500 ? "status_5xx" : e->status == 429 ? "status_429" : "status_4xx";
    default:
        return "protocol";
    }
}

/* Say which provider failed, for errors raised by the transport and by the
 * stream parsers (an error the upstream reported inside its stream comes
 * as SY_EUPSTATUS with the upstream's own message; translated says the
 * stream was parsed by us). */
void sy__pl_name_provider(const char *provider, int translated, sy_error_t *e)
{
    if (e->code == SY_EUPSTATUS && translated) {
        char tmp[sizeof(e->message)];
        snprintf(tmp, sizeof(tmp), "provider \"%.60s\" reported an error in its stream: %.400s", provider,
                 e->message);
        memcpy(e->message, tmp, sizeof(tmp));
    } else if (e->code == SY_EUPCONNECT || e->code == SY_EUPTIMEOUT || e->code == SY_EUPPROTO ||
               e->code == SY_EUPCLOSED) {
        char tmp[sizeof(e->message)];
        snprintf(tmp, sizeof(tmp), "provider \"%.60s\": %.400s", provider, e->message);
        memcpy(e->message, tmp, sizeof(tmp));
    }
}

static void name_provider(const relay_t *rl, sy_error_t *e)
{
    sy__pl_name_provider(rl->provider->name, rl->in != NULL, e);
}

void sy__pl_count_error(sy_worker_t *w, const char *provider, const sy_error_t *e)
{
    const char *v[2] = {provider, error_kind(e)};
    sy_metric_add(w->srv->m.upstream_errors, w->index, v, 1);
}

/* Count a failed attempt (the request's own error code is set by what
 * answers it: sy_respond_error, or an error event ending a stream). */
static void count_upstream_error(relay_t *rl, const sy_error_t *e)
{
    sy__pl_count_error(rl->r->w, rl->provider->name, e);
}

/* End a started stream the OpenAI way: one data event carrying the error
 * object (the SDKs raise it), and no [DONE]. */
static void send_error_event(relay_t *rl, const sy_error_t *e)
{
    char ev[1500];
    count_upstream_error(rl, e);
    rl->r->error_code = sy_err_openai_code(e->code);
    size_t m = sy_error_openai_json(e, ev + 6, sizeof(ev) - 8);
    memcpy(ev, "data: ", 6);
    memcpy(ev + 6 + m, "\n\n", 2);
    sy_req_stream_write(rl->r, ev, m + 8);
}

/* Tokens of the answer so far, for the deployment's tpm (-1 unknown). */
static int64_t req_tokens(const sy_req_t *r)
{
    if (r->prompt_tokens < 0 && r->completion_tokens < 0)
        return -1;
    return (r->prompt_tokens > 0 ? r->prompt_tokens : 0) + (r->completion_tokens > 0 ? r->completion_tokens : 0);
}

/* The attempt ended after the client got something (e NULL: well). */
static void attempt_end(relay_t *rl, const sy_error_t *e)
{
    sy__att_end(&rl->att, e, -1, e ? -1 : req_tokens(rl->r), 0);
}

static void relay_free(relay_t *rl)
{
    sy__race_release(&rl->race);
    sy__att_release(&rl->att);
    if (rl->ep_live)
        sy_eparse_release(&rl->ep);
    free(rl->enc.own); /* an encoder's state when the stream ended early */
    if (rl->keepalive)
        event_free(rl->keepalive);
    if (rl->body)
        evbuffer_free(rl->body);
    if (rl->out)
        evbuffer_free(rl->out);
    sy_sse_release(&rl->sse);
    free(rl);
}

/* The response is over: free the relay, then finish the request. */
static void relay_end_stream(relay_t *rl)
{
    sy_req_t *r = rl->r;
    r->ctx = NULL;
    relay_free(rl);
    sy_req_stream_end(r);
}

/* Called on the way out of every upstream callback: if the client left
 * meanwhile, cancel (deferred by the upstream module) and finish. Returns 1
 * when the relay is gone. */
static int left_during_cb(relay_t *rl)
{
    rl->in_cb = 0;
    if (!rl->gone)
        return 0;
    sy_req_t *r = rl->r;
    sy_upreq_cancel(rl->up);
    r->ctx = NULL;
    relay_free(rl);
    sy_req_abandon(r);
    return 1;
}

/* ---- client side -------------------------------------------------------- */

static void on_gone(sy_req_t *r)
{
    relay_t *rl = r->ctx;
    if (!rl) {
        sy_req_abandon(r);
        return;
    }
    if (rl->in_cb) {
        rl->gone = 1;
        return;
    }
    if (rl->up)
        sy_upreq_cancel(rl->up);
    r->ctx = NULL;
    relay_free(rl);
    sy_req_abandon(r);
}

static void on_drain(sy_req_t *r)
{
    relay_t *rl = r->ctx;
    if (!rl || !rl->client_behind)
        return;
    rl->client_behind = 0;
    if (rl->up)
        sy_upreq_resume(rl->up); /* may deliver body right here */
}

/* The keep-alive timer sleeps until the upstream has been silent for the
 * whole interval (re-armed lazily: events do not touch the timer). */
static void keepalive_arm(relay_t *rl, uint64_t wait_ns)
{
    struct timeval tv = {(time_t)(wait_ns / 1000000000ull), (suseconds_t)((wait_ns % 1000000000ull) / 1000)};
    event_add(rl->keepalive, &tv);
}

static void keepalive_tick(evutil_socket_t fd, short what, void *arg)
{
    relay_t *rl = arg;
    (void)fd, (void)what;
    uint64_t now = sy_now_ns();
    uint64_t every = (uint64_t)rl->r->w->srv->cfg->server.sse_keepalive_ms * 1000000ull;
    uint64_t due = rl->last_event_ns + every;
    if (now + 100000 >= due) {
        static const char ka[] = ": keep-alive\n\n";
        sy_req_stream_write(rl->r, ka, sizeof(ka) - 1);
        rl->last_event_ns = now;
        keepalive_arm(rl, every);
    } else {
        keepalive_arm(rl, due - now);
    }
}

/* ---- upstream side ------------------------------------------------------ */

static void start_client_stream(relay_t *rl)
{
    sy_req_t *r = rl->r;
    rl->streaming = 1;
    if (!rl->out)
        rl->out = evbuffer_new();
    sy_req_stream_start(r, 200, rl->in ? rl->in->stream_type : "text/event-stream");
    rl->last_event_ns = sy_now_ns();
    uint32_t ka = rl->in && !rl->in->keepalive ? 0 : r->w->srv->cfg->server.sse_keepalive_ms;
    if (ka) {
        rl->keepalive = evtimer_new(r->w->base, keepalive_tick, rl);
        if (rl->keepalive)
            keepalive_arm(rl, (uint64_t)ka * 1000000ull);
    }
}


/* ---- translated answers -------------------------------------------------- */

/* A canonical event from the upstream's stream: counted, then written for
 * the client. The client's stream starts with the first one. */
static int stream_event(void *ud, const sy_ev_t *ev)
{
    relay_t *rl = ud;
    if (ev->kind == SY_EV_USAGE)
        sy__pl_note_usage(rl->r, &ev->usage);
    if (!rl->streaming)
        start_client_stream(rl);
    rl->in->event(&rl->enc, ev, rl->out);
    return 0;
}

/* Write what the encoder produced; note a client that fell behind. */
static void flush_out(relay_t *rl)
{
    if (rl->streaming && evbuffer_get_length(rl->out)) {
        rl->last_event_ns = sy_now_ns();
        if (sy_req_stream_write_buf(rl->r, rl->out))
            rl->client_behind = 1;
    }
}

/* The translated stream failed: before the client's stream started this is
 * a plain error response; after, the protocol's error event ends it. Frees
 * the relay and finishes the request. */
static void translate_fail(relay_t *rl, const sy_error_t *e, int retry_after)
{
    count_upstream_error(rl, e);
    if (!rl->streaming) {
        relay_failed(rl, e, retry_after);
        return;
    }
    attempt_end(rl, e);
    rl->r->error_code = sy_err_openai_code(e->code);
    rl->in->error(&rl->enc, e, rl->out);
    flush_out(rl);
    relay_end_stream(rl);
}

/* A piece of a translated stream, inside the upstream's on_body: parse,
 * write, and end everything when the parser reports an error. */
static void translate_body(relay_t *rl, const char *data, size_t len)
{
    int rc = sy_eparse_feed(&rl->ep, data, len);
    flush_out(rl);
    if (left_during_cb(rl) || rc >= 0)
        return;
    sy_upreq_cancel(rl->up);
    rl->up = NULL;
    sy_error_t e = rl->ep.err;
    name_provider(rl, &e);
    translate_fail(rl, &e, -1);
}

static void translate_done(relay_t *rl, const sy_error_t *err)
{
    sy_error_t e;
    if (err) {
        e = *err;
        name_provider(rl, &e);
        translate_fail(rl, &e, -1);
        return;
    }
    if (sy_eparse_end(&rl->ep) < 0) {
        e = rl->ep.err;
        name_provider(rl, &e);
        translate_fail(rl, &e, -1);
        return;
    }
    if (!rl->streaming)
        start_client_stream(rl); /* an empty answer still gets its stream */
    attempt_end(rl, NULL);
    rl->in->end(&rl->enc, rl->out);
    flush_out(rl);
    relay_end_stream(rl);
}

/* Whether a tool call's arguments are not a JSON object: the Ollama and
 * Anthropic encoders must write them as an object, and no client should get
 * a call it cannot parse. Sets *e (a bad upstream answer). */
int sy__pl_bad_tool_args(const sy_cresp_t *c, sy_error_t *e)
{
    for (size_t i = 0; i < c->n_calls; i++) {
        const sy_cresp_call_t *k = &c->calls[i];
        if (k->args_len == 0)
            continue; /* no arguments: {} */
        if (sy_json_validate(k->args, k->args_len, NULL, NULL) == 0 &&
            sy_json_value(k->args, k->args_len).type == SY_JOBJECT)
            continue;
        sy_error_set(e, SY_EUPPROTO, NULL, "tool call %zu has arguments that are not a JSON object", i);
        return 1;
    }
    return 0;
}

static int whole_event(void *ud, const sy_ev_t *ev)
{
    sy_cresp_t *c = ud;
    return sy_cresp_add(c, ev) ? 1 : 0;
}

/* A whole translated answer: parse it into the canonical response (or the
 * embeddings), encode it for the client. Returns 0, or -1 with *e set. */
static int translate_whole(relay_t *rl, const char *s, size_t n, struct evbuffer *out, sy_error_t *e)
{
    sy_req_t *r = rl->r;
    if (rl->q->op == SY_OP_EMBED) {
        sy_embed_t m;
        if (sy_egress_parse_embed(rl->provider->type, s, n, rl->q->n_inputs, &r->arena, &m, e) != SY_OK)
            return -1;
        if (m.prompt_tokens >= 0)
            r->prompt_tokens = m.prompt_tokens;
        rl->in->embed(&rl->enc, &m, out);
        return 0;
    }
    sy_cresp_t *c = malloc(sizeof(*c));
    if (!c) {
        sy_error_set(e, SY_ENOMEM, NULL, NULL);
        return -1;
    }
    sy_cresp_init(c, MAX_RESPONSE_BYTES);
    if (rl->ep_live)
        sy_eparse_release(&rl->ep);
    sy_eparse_init(&rl->ep, rl->provider->type, rl->q->op, 0, whole_event, c);
    rl->ep_live = 1;
    int rc = sy_eparse_whole(&rl->ep, s, n);
    if (rc < 0) {
        *e = rl->ep.err;
    } else if (rc > 0) {
        sy_error_set(e, SY_EUPPROTO, NULL, "answer larger than %u bytes", MAX_RESPONSE_BYTES);
        rc = -1;
    } else if (sy__pl_bad_tool_args(c, e)) {
        rc = -1;
    } else {
        sy__pl_note_usage(r, &c->usage);
        rl->in->whole(&rl->enc, c, out);
    }
    sy_cresp_release(c);
    free(c);
    return rc < 0 ? -1 : 0;
}

static void up_head(void *ud, int status, const char *content_type)
{
    relay_t *rl = ud;
    rl->in_cb = 1;
    rl->status = status;
    rl->retry_after = sy_upreq_retry_after(rl->up);
    if (rl->in) {
        /* the client's stream starts with the first event parsed, so an
         * error the upstream reports before any still gets its own status */
        if (rl->want_stream && status >= 200 && status < 300) {
            rl->parse_stream = 1;
            if (!rl->out)
                rl->out = evbuffer_new();
        } else {
            rl->body = evbuffer_new();
        }
    } else if (rl->want_stream && status >= 200 && status < 300 &&
        strncmp(content_type, "text/event-stream", 17) == 0) {
        /* the client's stream starts with the first byte: until then a
         * failure can still go to another deployment */
        rl->stream_ok = 1;
        if (!rl->out)
            rl->out = evbuffer_new();
    } else {
        rl->body = evbuffer_new();
    }
    left_during_cb(rl);
}

static int sse_event(void *ud, const sy_sse_event_t *ev)
{
    relay_t *rl = ud;
    evbuffer_add(rl->out, ev->raw, ev->raw_len);
    if (!ev->data)
        return 0;
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        rl->saw_done = 1;
    } else if (memmem(ev->data, ev->data_len, "\"usage\"", 7) &&
               sy_json_validate(ev->data, ev->data_len, NULL, NULL) == 0) {
        sy_jval_t o = sy_json_value(ev->data, ev->data_len);
        sy_pipeline_take_usage(rl->r, &o);
    }
    return 0;
}

static int up_body(void *ud, const char *data, size_t len)
{
    relay_t *rl = ud;
    if (rl->client_behind)
        return SY_UPSTREAM_PAUSE; /* keep it upstream until the client catches up */
    rl->in_cb = 1;
    if (!rl->got_byte && len) {
        rl->got_byte = 1;
        if (rl->status >= 200 && rl->status < 300)
            sy_plan_first_byte(&rl->att.plan, sy_now_ns());
        if (rl->stream_ok && !rl->streaming)
            start_client_stream(rl);
    }
    if (rl->parse_stream) {
        translate_body(rl, data, len); /* may free rl */
        return 0;
    }
    if (rl->streaming && rl->out) {
        int rc = sy_sse_feed(&rl->sse, data, len, sse_event, rl);
        if (evbuffer_get_length(rl->out)) {
            rl->last_event_ns = sy_now_ns();
            if (sy_req_stream_write_buf(rl->r, rl->out))
                rl->client_behind = 1;
        }
        if (rc) { /* an event too large to relay: end the attempt */
            sy_upreq_cancel(rl->up);
            rl->up = NULL;
            sy_error_t e;
            sy_error_set(&e, SY_EUPPROTO, NULL, "upstream sent an event larger than %u bytes", MAX_SSE_EVENT);
            attempt_end(rl, &e);
            send_error_event(rl, &e);
            if (!left_during_cb(rl))
                relay_end_stream(rl);
            return 0;
        }
    } else if (rl->body) {
        if (evbuffer_get_length(rl->body) + len > MAX_RESPONSE_BYTES) {
            evbuffer_free(rl->body);
            rl->body = NULL; /* on_done reports it */
        } else {
            evbuffer_add(rl->body, data, len);
        }
    }
    left_during_cb(rl);
    return 0;
}

/* Turn an upstream's error answer (body may be NULL) into ours: its
 * status, its message, the provider named. */
void sy__pl_status_error(const char *provider, int status, struct evbuffer *body, sy_error_t *e)
{
    char msg[400] = "";
    size_t n = body ? evbuffer_get_length(body) : 0;
    const char *s = n ? (const char *)evbuffer_pullup(body, -1) : NULL;
    if (s && sy_json_validate(s, n, NULL, NULL) == 0) {
        /* {"error":{"message":..}}, {"error":"..."} (Ollama) or {"message":..} */
        sy_jval_t o = sy_json_value(s, n), err, m;
        if (sy_json_get(&o, "error", &err)) {
            if (err.type == SY_JSTRING)
                sy_json_string(&err, msg, sizeof(msg));
            else if (sy_json_get(&err, "message", &m) && m.type == SY_JSTRING)
                sy_json_string(&m, msg, sizeof(msg));
        } else if (sy_json_get(&o, "message", &m) && m.type == SY_JSTRING) {
            sy_json_string(&m, msg, sizeof(msg));
        }
    }
    if (msg[0])
        sy_error_set(e, SY_EUPSTATUS, NULL, "provider \"%.60s\" returned HTTP %d: %s", provider, status, msg);
    else
        sy_error_set(e, SY_EUPSTATUS, NULL, "provider \"%.60s\" returned HTTP %d", provider, status);
    e->status = status;
}

static void finish_whole(relay_t *rl, const sy_error_t *err)
{
    sy_req_t *r = rl->r;
    sy_error_t e;
    int retry_after = -1;

    if (err) {
        e = *err;
        name_provider(rl, &e);
        goto fail;
    }
    if (!rl->body) {
        sy_error_set(&e, SY_EUPPROTO, NULL, "provider \"%s\": response larger than %u bytes", rl->provider->name,
                     MAX_RESPONSE_BYTES);
        goto fail;
    }
    if (rl->status < 200 || rl->status >= 300) {
        sy__pl_status_error(rl->provider->name, rl->status, rl->body, &e);
        retry_after = rl->retry_after;
        goto fail;
    }
    size_t n = evbuffer_get_length(rl->body);
    const char *s = n ? (const char *)evbuffer_pullup(rl->body, -1) : "";
    if (rl->in) {
        struct evbuffer *out = evbuffer_new();
        if (!out) {
            sy_error_set(&e, SY_ENOMEM, NULL, NULL);
            goto fail;
        }
        if (translate_whole(rl, s, n, out, &e) < 0) {
            evbuffer_free(out);
            name_provider(rl, &e);
            goto fail;
        }
        attempt_end(rl, NULL);
        r->ctx = NULL;
        sy_req_reply_buf(r, 200, "application/json", out);
        evbuffer_free(out);
        relay_free(rl);
        return;
    }
    sy_jval_t o = {NULL, 0, SY_JNULL};
    if (s && sy_json_validate(s, n, NULL, NULL) == 0)
        o = sy_json_value(s, n);
    if (o.type != SY_JOBJECT) {
        sy_error_set(&e, SY_EUPPROTO, NULL, "provider \"%.60s\" sent a response that is not a JSON object",
                     rl->provider->name);
        goto fail;
    }
    sy_pipeline_take_usage(r, &o);
    attempt_end(rl, NULL);
    r->ctx = NULL;
    sy_req_reply_buf(r, rl->status, "application/json", rl->body);
    relay_free(rl);
    return;

fail:
    count_upstream_error(rl, &e);
    relay_failed(rl, &e, retry_after);
}

static void up_done(void *ud, const sy_error_t *err)
{
    relay_t *rl = ud;
    rl->up = NULL; /* gone after this callback */
    if (rl->parse_stream) {
        translate_done(rl, err);
        return;
    }
    if (rl->stream_ok && !rl->streaming) {
        /* the event stream ended before its first byte */
        if (err) {
            sy_error_t e = *err;
            name_provider(rl, &e);
            count_upstream_error(rl, &e);
            relay_failed(rl, &e, -1);
            return;
        }
        start_client_stream(rl);
    }
    if (!rl->streaming) {
        finish_whole(rl, err);
        return;
    }
    if (!err && rl->out && sy_sse_pending(&rl->sse) && !rl->saw_done) {
        /* the upstream ended without a blank line after its last event */
        static const char tail[] = "\n\n";
        sy_sse_feed(&rl->sse, tail, 2, sse_event, rl);
        if (evbuffer_get_length(rl->out))
            sy_req_stream_write_buf(rl->r, rl->out);
    }
    if (err) {
        /* whatever partial event the upstream left is dropped: the client
         * must see whole events only */
        sy_error_t e = *err;
        name_provider(rl, &e);
        attempt_end(rl, &e);
        send_error_event(rl, &e);
    } else {
        attempt_end(rl, NULL);
    }
    relay_end_stream(rl);
}


/* ---- attempts ------------------------------------------------------------ */

/* The client's body with the model value replaced by the deployment's model
 * name, every other byte kept. */
static char *rewrite_model(const sy_call_t *c, const char *model, size_t *len)
{
    char esc[600];
    size_t elen = sy_json_escape(esc, sizeof(esc), model, strlen(model));
    size_t vs = (size_t)(c->model_value.p - c->body), ve = vs + c->model_value.len;
    size_t n = vs + 2 + elen + (c->body_len - ve);
    char *b = malloc(n + 1);
    if (!b)
        return NULL;
    memcpy(b, c->body, vs);
    b[vs] = '"';
    memcpy(b + vs + 1, esc, elen);
    b[vs + 1 + elen] = '"';
    memcpy(b + vs + 2 + elen, c->body + ve, c->body_len - ve);
    b[n] = '\0';
    *len = n;
    return b;
}

sy_upreq_t *sy__pl_send(sy_worker_t *w, const sy_provider_conf_t *p, const sy_egress_t *eg, char *body,
                        size_t body_len, const sy_upreq_cbs_t *cbs, void *ud, uint64_t deadline, sy_error_t *err)
{
    sy_upreq_opts_t o = {
        .method = "POST",
        .url = eg->url,
        .headers = eg->headers,
        .n_headers = eg->n_headers,
        .body = body,
        .body_len = body_len,
        .timeouts = p->timeouts,
        .force_curl = p->transport == SY_TRANSPORT_CURL,
    };
    if (deadline) { /* no attempt outlives the request's deadline */
        uint64_t now = sy_now_ns();
        uint64_t left = deadline > now ? (deadline - now + 999999u) / 1000000u : 1;
        if (left > UINT32_MAX)
            left = UINT32_MAX;
        if (!o.timeouts.total_ms || o.timeouts.total_ms > left)
            o.timeouts.total_ms = (uint32_t)left;
    }
    return sy_upstream_start(w->upstream, &o, cbs, ud, err);
}

static void att_tick(evutil_socket_t fd, short what, void *arg)
{
    sy_attempts_t *a = arg;
    (void)fd, (void)what;
    if (a->waits)
        sy__att_next(a);
    else
        a->send(a->ud);
}

static int att_arm(sy_attempts_t *a, uint64_t ns, int waits)
{
    if (!a->timer && !(a->timer = evtimer_new(a->w->base, att_tick, a)))
        return -1;
    a->waits = waits;
    struct timeval tv = {(time_t)(ns / 1000000000ull), (suseconds_t)((ns % 1000000000ull) / 1000)};
    return evtimer_add(a->timer, &tv);
}

void sy__att_init(sy_attempts_t *a, const sy_plan_t *plan, sy_worker_t *w, void (*send)(void *ud),
                  void (*fail)(void *ud, const sy_error_t *e, int retry_after), void *ud)
{
    memset(a, 0, sizeof(*a));
    a->plan = *plan;
    a->w = w;
    a->send = send;
    a->fail = fail;
    a->ud = ud;
}

void sy__att_release(sy_attempts_t *a)
{
    sy_error_t gone;
    sy_error_set(&gone, SY_ECLIENTGONE, NULL, NULL);
    sy_plan_hedge_drop(&a->plan, &gone, -1, sy_now_ns());
    if (a->plan.held) {
        sy_plan_end(&a->plan, &gone, -1, -1, sy_now_ns());
    }
    if (a->timer) {
        event_free(a->timer);
        a->timer = NULL;
    }
}

void sy__att_next(sy_attempts_t *a)
{
    uint64_t delay;
    sy_error_t err;
    int ra;
    sy_plan_act_t act = sy_plan_next(&a->plan, sy_now_ns(), sy_worker_rand(a->w), &delay, &err, &ra);
    if (act == SY_PLAN_FAIL) {
        a->fail(a->ud, &err, ra);
        return;
    }
    if (!delay && act == SY_PLAN_GO) {
        a->send(a->ud);
        return;
    }
    if (att_arm(a, delay, act == SY_PLAN_WAIT) < 0) {
        sy_error_set(&err, SY_ENOMEM, NULL, NULL);
        a->fail(a->ud, &err, -1);
    }
}

int sy__att_end(sy_attempts_t *a, const sy_error_t *e, int retry_after, int64_t tokens, int may_retry)
{
    int again = sy_plan_end(&a->plan, e, retry_after, tokens, sy_now_ns());
    /* on the next turn of the loop: never inside the failed transfer's callback */
    return again && may_retry && att_arm(a, 0, 1) == 0;
}

void sy__pl_note_attempt(sy_req_t *r, const sy_plan_t *p)
{
    char n[16];
    snprintf(r->deployment, sizeof(r->deployment), "%s", p->route.upstream_model);
    snprintf(r->provider, sizeof(r->provider), "%s", p->route.provider->name);
    r->attempts = (int)p->attempts;
    r->fallback = sy_plan_fallback(p);
    snprintf(n, sizeof(n), "%u", p->attempts);
    sy_req_replace_header(r, "x-switchyard-provider", p->route.provider->name);
    sy_req_replace_header(r, "x-switchyard-model", p->route.upstream_model);
    sy_req_replace_header(r, "x-switchyard-attempts", n);
    sy_req_replace_header(r, "x-switchyard-fallback", r->fallback);
}

/* The relay's last word: err for the client (no byte of an answer went
 * out). Frees the relay and finishes the request. */
static void relay_answer_error(relay_t *rl, const sy_error_t *e, int retry_after)
{
    sy_req_t *r = rl->r;
    r->ctx = NULL;
    relay_free(rl);
    sy_respond_error(r, e, retry_after);
}

static void relay_fail_cb(void *ud, const sy_error_t *e, int retry_after)
{
    relay_answer_error(ud, e, retry_after);
}

/* Forget what the failed attempt left, for the next one. */
static void relay_reset(relay_t *rl)
{
    sy__race_stop(&rl->race);
    rl->status = 0;
    rl->retry_after = -1;
    rl->saw_done = rl->parse_stream = rl->stream_ok = rl->got_byte = rl->client_behind = 0;
    if (rl->body) {
        evbuffer_free(rl->body);
        rl->body = NULL;
    }
    if (rl->out)
        evbuffer_drain(rl->out, evbuffer_get_length(rl->out));
    sy_sse_release(&rl->sse);
    sy_sse_init(&rl->sse, MAX_SSE_EVENT);
    if (rl->ep_live) {
        sy_eparse_release(&rl->ep);
        rl->ep_live = 0;
    }
    free(rl->enc.own);
    rl->enc.own = NULL;
}

/* An attempt failed before the client received anything: the next one
 * when the plan has one, else the error. */
static void relay_failed(relay_t *rl, const sy_error_t *e, int retry_after)
{
    if (sy__att_end(&rl->att, e, retry_after, -1, !rl->r->client_gone))
        relay_reset(rl);
    else
        relay_answer_error(rl, e, retry_after);
}

/* The body of the current attempt: the client's bytes with the
 * deployment's model name, or the canonical request encoded for its
 * provider. NULL with *err set. */
static char *attempt_body(relay_t *rl, const sy_route_t *route, const char **path, int *stream, size_t *n,
                          sy_error_t *err)
{
    if (!rl->in) {
        *path = rl->call.upstream_path;
        *stream = rl->call.stream;
        char *b = rewrite_model(&rl->call, route->upstream_model, n);
        if (!b)
            sy_error_set(err, SY_ENOMEM, NULL, NULL);
        return b;
    }
    char *body = sy__pl_encode(route, rl->q, path, n, err);
    *stream = rl->q->op != SY_OP_EMBED && rl->q->stream;
    return body;
}

char *sy__pl_encode(const sy_route_t *route, const sy_creq_t *q, const char **path, size_t *n, sy_error_t *err)
{
    struct evbuffer *b = evbuffer_new();
    char *body = NULL;
    if (!b) {
        sy_error_set(err, SY_ENOMEM, NULL, NULL);
        return NULL;
    }
    if (sy_egress_encode(route->provider->type, q, route->upstream_model, route->provider->default_max_tokens, b,
                         path, err) == SY_OK) {
        *n = evbuffer_get_length(b);
        if ((body = malloc(*n + 1)) != NULL) {
            evbuffer_remove(b, body, *n);
            body[*n] = '\0';
        } else {
            sy_error_set(err, SY_ENOMEM, NULL, NULL);
        }
    }
    evbuffer_free(b);
    return body;
}

/* A translated stream's parser, for the provider now answering. */
static void parse_init(relay_t *rl)
{
    if (rl->in && rl->want_stream) {
        if (rl->ep_live)
            sy_eparse_release(&rl->ep);
        sy_eparse_init(&rl->ep, rl->provider->type, rl->q->op, 1, stream_event, rl);
        rl->ep_live = 1;
    }
}

/* Start a transfer of route for rl (cbs/ud: the relay's own, or a race
 * leg's; lead: the relay follows it, so a translated stream's parser is
 * set up for it). NULL with *err set; *upstream says the upstream itself
 * failed (the provider named), not the request's encoding. */
static sy_upreq_t *start_transfer(relay_t *rl, const sy_route_t *route, const sy_upreq_cbs_t *cbs, void *ud,
                                  int lead, sy_error_t *err, int *upstream)
{
    sy_req_t *r = rl->r;
    sy_egress_t eg; /* ~18 KiB: lives only until the transfer has copied it */
    const char *path = NULL;
    int stream = 0;
    size_t n = 0;

    *upstream = 0;
    char *body = attempt_body(rl, route, &path, &stream, &n, err);
    if (!body)
        return NULL;
    rl->want_stream = stream; /* the same for every attempt of the call */
    if (sy_provider_prepare(route->provider, path, r, stream, &eg, err) != SY_OK) {
        free(body);
        return NULL;
    }
    if (lead)
        parse_init(rl);
    sy_upreq_t *up = sy__pl_send(r->w, route->provider, &eg, body, n, cbs, ud, rl->att.plan.deadline, err);
    if (!up) {
        *upstream = 1;
        sy__pl_name_provider(route->provider->name, rl->in != NULL, err);
    }
    return up;
}

/* Send the plan's current attempt. */
static void relay_send(void *ud)
{
    relay_t *rl = ud;
    sy_req_t *r = rl->r;
    const sy_route_t *route = &rl->att.plan.route;
    const sy_upreq_cbs_t *cbs;
    void *cb_ud;
    sy_error_t err;
    int upstream;

    rl->provider = route->provider;
    sy__pl_note_attempt(r, &rl->att.plan);
    uint64_t hedge = sy__race_prepare(&rl->race, &cbs, &cb_ud);
    rl->up = start_transfer(rl, route, cbs, cb_ud, 1, &err, &upstream);
    if (!rl->up) {
        if (upstream)
            count_upstream_error(rl, &err);
        relay_failed(rl, &err, -1);
        return;
    }
    if (hedge)
        sy__race_started(&rl->race, rl->up, hedge);
}

/* ---- hedging (race.c) ---------------------------------------------------- */

static void race_take_over(void *ud, sy_upreq_t *up, const sy_provider_conf_t *p)
{
    relay_t *rl = ud;
    relay_reset(rl); /* forget the old lead's head */
    rl->up = up;
    rl->provider = p;
    sy__pl_note_attempt(rl->r, &rl->att.plan);
    parse_init(rl);
}

static sy_upreq_t *race_start(void *ud, const sy_route_t *route, const sy_upreq_cbs_t *cbs, void *cb_ud,
                              sy_error_t *err, int *upstream)
{
    return start_transfer(ud, route, cbs, cb_ud, 0, err, upstream);
}

static void race_event(void *ud, int what)
{
    relay_t *rl = ud;
    sy_req_t *r = rl->r;
    if (what == SY_RACE_HEDGED) {
        char n[16];
        snprintf(n, sizeof(n), "%u", rl->att.plan.attempts);
        r->attempts = (int)rl->att.plan.attempts;
        sy_req_replace_header(r, "x-switchyard-attempts", n);
    } else {
        sy_req_replace_header(r, "x-switchyard-hedge", what == SY_RACE_WON ? "won" : "lost");
    }
}

static const sy_race_ops_t relay_race = {
    {up_head, up_body, up_done}, race_take_over, race_start, race_event,
};

/* A relay for r following plan (copied). NULL when out of memory. */
static relay_t *relay_new(sy_req_t *r, const sy_plan_t *plan)
{
    relay_t *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->r = r;
    rl->retry_after = -1;
    sy__att_init(&rl->att, plan, r->w, relay_send, relay_fail_cb, rl);
    sy__race_init(&rl->race, &rl->att, &relay_race, rl, 0);
    sy_sse_init(&rl->sse, MAX_SSE_EVENT);
    return rl;
}

static void relay_start(relay_t *rl)
{
    sy_req_t *r = rl->r;
    r->ctx = rl;
    r->on_gone = on_gone;
    r->on_drain = on_drain;
    sy__att_next(&rl->att);
}

/* A translated relay of q for r's client through in. Always finishes r. */
static void relay_translated(sy_req_t *r, const sy_plan_t *plan, sy_creq_t *q, const sy_ingress_t *in,
                             unsigned flags)
{
    sy_error_t err;
    relay_t *rl = relay_new(r, plan);
    if (!rl || sy__pl_enc_init(r, &rl->enc, q, flags) < 0) {
        if (rl)
            relay_free(rl);
        sy_error_set(&err, SY_ENOMEM, NULL, NULL);
        sy_respond_error(r, &err, -1);
        return;
    }
    rl->in = in;
    rl->q = q;
    rl->enc_flags = flags;
    rl->race.translated = 1;
    relay_start(rl);
}

/* ---- entry -------------------------------------------------------------- */

sy_err_t sy__pl_plan(sy_req_t *r, const char *name, int64_t prompt_tokens, int64_t max_tokens, sy_plan_t *p,
                     sy_error_t *err)
{
    snprintf(r->model, sizeof(r->model), "%s", name);
    const sy_disc_snap_t *disc = sy_discovery_acquire(r->w->srv->discovery);
    sy_err_t rc = sy_plan_init(p, r->w->srv->rstate, r->w->srv->cfg, disc, name, sy_now_ns(), err);
    sy_disc_snap_release(disc); /* the plan keeps a copy of what it needs */
    p->prompt_tokens = prompt_tokens;
    p->max_tokens = max_tokens;
    return rc;
}

/* Decode c into a canonical request in r's arena. */
static sy_creq_t *decode_call(sy_req_t *r, const sy_call_t *c, unsigned *flags, sy_error_t *err)
{
    sy_creq_t *q = sy_arena_alloc(&r->arena, sizeof(*q));
    if (!q) {
        sy_error_set(err, SY_ENOMEM, NULL, NULL);
        return NULL;
    }
    *flags = 0;
    if (c->decode(c->body, c->body_len, c->op, &r->arena, q, flags, err) != SY_OK)
        return NULL;
    return q;
}

/* ---- the pre-route decision (router.rules) -------------------------------- */

static const char *rules_header(void *ud, const char *name)
{
    return sy_req_header(ud, name);
}

/* A passthrough call decoded only when a rule needs its prompt. */
typedef struct rules_decode {
    sy_req_t *r;
    const sy_call_t *c;
    unsigned flags;
    sy_creq_t *q;
} rules_decode_t;

static const sy_creq_t *rules_decode(void *ud)
{
    rules_decode_t *d = ud;
    sy_error_t err;
    if (d->c->decode)
        d->q = decode_call(d->r, d->c, &d->flags, &err); /* a body it refuses: the prompt is unknown */
    return d->q;
}

/* Run the pre-route decision (rules, experiments, complexity: decide.h)
 * on r (in filled but for the header lookup and the request id). Returns 0
 * to go on with dec, or -1 when a rule refused the request (answered). */
static int rules_decide(sy_req_t *r, sy_route_in_t *in, sy_decision_t *dec)
{
    in->header = rules_header;
    in->hud = r;
    in->request_id = r->id;
    sy_decide(r->w->srv->cfg, in, dec);
    if (dec->reason[0]) {
        sy_req_replace_header(r, "x-switchyard-route-reason", dec->reason);
        r->route_reason = sy_arena_strndup(&r->arena, dec->reason, strlen(dec->reason)); /* the log line's */
    }
    r->exp = dec->exp; /* its outcome is counted on the arm as r finishes */
    r->arm = dec->arm;
    if (!dec->reject)
        return 0;
    sy_error_t e;
    sy_error_set(&e, SY_EREJECTED, NULL, "%s", dec->message);
    e.status = dec->status;
    sy_respond_error(r, &e, -1);
    return -1;
}

/* The passthrough call c with dec's parameters written into its body (in
 * r's arena): *out is c itself when nothing changes. Returns -1 out of
 * memory. */
static int rules_patch_call(sy_req_t *r, const sy_call_t *c, const sy_decision_t *dec, sy_call_t *out)
{
    size_t n;
    *out = *c;
    const char *b = sy_params_patch_json(&dec->params, c->body, c->body_len, &r->arena, &n);
    if (!b)
        return -1;
    if (b == c->body)
        return 0;
    sy_jval_t doc = sy_json_value(b, n), mv;
    if (doc.type != SY_JOBJECT || !sy_json_get(&doc, "model", &mv))
        return -1;
    out->body = b;
    out->body_len = n;
    out->model_value = mv;
    return 0;
}

void sy_pipeline_forward(sy_req_t *r, sy_call_t *c)
{
    sy_error_t err;
    sy_plan_t plan;
    sy_share_t sh;
    unsigned flags = 0;
    sy_creq_t *q;
    const char *name = c->model;
    sy_creq_t *early = NULL; /* decoded for a rule */
    sy_decision_t dec;
    sy_call_t patched;

    r->route = c->route;
    if (sy_decide_wanted(r->w->srv->cfg)) {
        rules_decode_t rd = {.r = r, .c = c};
        sy_route_in_t in = {.proto = SY_PROTO_OPENAI, .model = c->model, .decode = rules_decode, .dud = &rd,
                            .body = c->body, .body_len = c->body_len, .scanned = c->scanned,
                            .metadata = c->metadata, .user = c->user};
        if (rules_decide(r, &in, &dec) < 0)
            return;
        name = dec.model;
        early = rd.q;
        flags = rd.flags;
        if (sy_params_any(&dec.params)) {
            if (rules_patch_call(r, c, &dec, &patched) < 0 ||
                (early && sy_params_apply(&dec.params, early, &r->arena) < 0)) {
                sy_error_set(&err, SY_ENOMEM, NULL, NULL);
                goto fail;
            }
            c = &patched;
        }
    }
    /* the cost strategy and tpm weigh the prompt: estimated from the
     * decoded request when a rule decoded it, else from the body's size */
    if (sy__pl_plan(r, name, early ? sy_creq_estimate_tokens(early) : sy_canon_estimate_tokens(c->body_len),
                    early ? early->max_tokens : -1, &plan, &err) != SY_OK)
        goto fail;
    const sy_model_conf_t *mc = sy_plan_model(&plan);
    if (!sy_plan_openai_only(&plan) && c->decode) {
        /* some deployment it may reach speaks another protocol: every
         * attempt is encoded from the canonical form */
        if (!(q = early) && !(q = decode_call(r, c, &flags, &err)))
            goto fail;
        if (q->op != SY_OP_EMBED && sy__share_policy(r, mc, sy__creq_deterministic(q), 1, &sh)) {
            sy__pipeline_shared(r, q, c->ingress, flags, &sh, &plan);
            return;
        }
        sy__share_bypass(r);
        relay_translated(r, &plan, q, c->ingress, flags);
        return;
    }
    /* the passthrough, unless the model caches or merges (the answer must
     * then be read into its canonical form). Legacy completions stay a
     * passthrough (the canonical form would send them as a chat), and so
     * does a body with a field the canonical form would drop */
    if (c->decode) {
        if (c->op == SY_OP_CHAT && c->covers && sy__share_policy(r, mc, 0, 0, &sh) &&
            c->covers(c->body, c->body_len, c->op)) {
            if (!(q = early) && !(q = decode_call(r, c, &flags, &err)))
                goto fail;
            sy__pipeline_shared(r, q, c->ingress, flags, &sh, &plan);
            return;
        }
        sy__share_bypass(r);
    }
    relay_t *rl = relay_new(r, &plan);
    if (!rl) {
        sy_error_set(&err, SY_ENOMEM, NULL, NULL);
        goto fail;
    }
    rl->call = *c;
    relay_start(rl);
    return;

fail:
    sy_respond_error(r, &err, -1);
}

void sy_pipeline_translate(sy_req_t *r, sy_creq_t *q, const sy_ingress_t *in, unsigned enc_flags)
{
    sy_error_t err;
    sy_plan_t plan;
    sy_share_t sh;
    char name[256];

    if (q->model.len >= sizeof(name) || memchr(q->model.p, '\0', q->model.len)) {
        sy_error_set(&err, SY_EBADREQ, "model", "'model' must be a string of at most %zu bytes without NUL",
                     sizeof(name) - 1);
        goto fail;
    }
    memcpy(name, q->model.p, q->model.len);
    name[q->model.len] = '\0';
    if (sy_decide_wanted(r->w->srv->cfg)) {
        sy_decision_t dec;
        sy_route_in_t rin = {.proto = (int)in->proto, .model = name, .q = q};
        struct evbuffer *b = sy_req_body(r);
        if ((r->w->srv->cfg->rules_need & SY_RULE_NEEDS_META) && b && evbuffer_get_length(b)) {
            rin.body = (const char *)evbuffer_pullup(b, -1); /* decoded already: valid JSON */
            rin.body_len = rin.body ? evbuffer_get_length(b) : 0;
        }
        if (rules_decide(r, &rin, &dec) < 0)
            return;
        if (dec.reason[0]) {
            snprintf(name, sizeof(name), "%s", dec.model);
            if (sy_params_apply(&dec.params, q, &r->arena) < 0) {
                sy_error_set(&err, SY_ENOMEM, NULL, NULL);
                goto fail;
            }
        }
    }
    if (sy__pl_plan(r, name, sy_creq_estimate_tokens(q), q->max_tokens, &plan, &err) != SY_OK)
        goto fail;
    if (q->op != SY_OP_EMBED && sy__share_policy(r, sy_plan_model(&plan), sy__creq_deterministic(q), 1, &sh)) {
        sy__pipeline_shared(r, q, in, enc_flags, &sh, &plan);
        return;
    }
    sy__share_bypass(r);
    relay_translated(r, &plan, q, in, enc_flags);
    return;

fail:
    sy_respond_error(r, &err, -1);
}
