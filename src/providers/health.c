/*
 * health.c - active health probes and local-server load (see health.h).
 *
 * One prober per probed provider, all on one worker's loop. A prober runs
 * rounds: the main GET (probe path), then - when it answered and the
 * provider is a local server that says what it is busy with - one more GET
 * (/api/ps, /slots or /metrics); the next round is armed when this one
 * ends, never on a fixed clock, so a slow server is not asked again while
 * it still answers.
 *
 * Everything a prober touches belongs to the loop's thread, except what it
 * publishes: the state and counters (atomics), the per-deployment
 * preferences routing reads (one atomic per deployment of every model,
 * flat, indexed through dep_off), and the last error and loaded names that
 * the reports show (under the prober's mutex).
 */
#include "providers/health.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/jsonscan.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "telemetry/metrics.h"
#include "http/server.h"
#include "providers/provider.h"
#include "upstream/upstream.h"

#define ERR_MAX 256

enum { AUX_NONE = 0, AUX_PS, AUX_SLOTS };
enum { PH_IDLE = 0, PH_MAIN, PH_AUX };

typedef struct prober {
    sy_health_t *h;
    const sy_provider_conf_t *p;
    size_t index;
    int on;     /* probed at all */
    int aux;    /* AUX_*: what the second GET asks */
    int shared; /* the main probe also lists models for discovery */
    char *url, *aux_url, *metrics_url;
    char **hdr;
    size_t n_hdr;
    struct event *timer;
    sy_upreq_t *rq;
    int phase; /* PH_*: the request in flight, if any */
    int next;  /* PH_*: what the timer starts (PH_AUX right after a good main probe) */
    int status;
    int keep_body;
    char *body;
    size_t len, cap;
    uint64_t started;
    uint32_t ok_streak, fail_streak; /* loop thread only */
    atomic_int use_metrics;          /* /slots refused: /metrics instead */
    /* published */
    atomic_int state;
    atomic_ullong last_probe, latency_ns, probes, failures;
    atomic_int slots_total, slots_idle; /* -1 unknown */
    atomic_llong processing, deferred;  /* /metrics; -1 unknown */
    atomic_int n_loaded;                /* -1 unknown */
    pthread_mutex_t mu;
    char error[ERR_MAX]; /* "" none */
    char *loaded;        /* n_loaded names, each NUL-terminated, one after the other */
} prober_t;

struct sy_health {
    const sy_config_t *cfg;
    prober_t *pr; /* one per provider of cfg (on says whether probed) */
    size_t n;
    size_t *dep_off; /* model m's deployments start at pref[dep_off[m]] */
    atomic_schar *pref;
    sy_discovery_t *disc;
    sy_worker_t *w;
    struct event_base *base;
    sy_upstream_t *up;
    atomic_int stopped;
    uint32_t interval_ms;
};

int sy_health_probed(const sy_provider_conf_t *p)
{
    return p->health.enabled && !p->disabled && !p->demo;
}

int sy_health_wanted(const sy_config_t *cfg)
{
    for (size_t i = 0; cfg && i < cfg->n_providers; i++)
        if (sy_health_probed(&cfg->providers[i]))
            return 1;
    return 0;
}

static const char *default_path(const sy_provider_conf_t *p)
{
    return p->type == SY_PROVIDER_OLLAMA ? "/api/tags" : p->type == SY_PROVIDER_OPENAI ? "/models" : "/v1/models";
}

/* The server's root for llama.cpp's own endpoints: base_url without a
 * trailing "/v1" (they live beside the OpenAI API, not under it). */
static char *root_url(const char *base, const char *path)
{
    size_t n = strlen(base);
    if (n >= 3 && strcmp(base + n - 3, "/v1") == 0)
        n -= 3;
    size_t pl = strlen(path);
    char *s = malloc(n + pl + 1);
    if (s) {
        memcpy(s, base, n);
        memcpy(s + n, path, pl + 1);
    }
    return s;
}

/* The probes' header lines: what we accept, the provider's key in its
 * protocol's header, and the provider's extra headers. */
static int make_headers(prober_t *pr)
{
    pr->hdr = sy_provider_get_lines(pr->p, &pr->n_hdr);
    return pr->hdr ? 0 : -1;
}

static void body_reset(prober_t *pr)
{
    free(pr->body);
    pr->body = NULL;
    pr->len = pr->cap = 0;
}

void sy_health_free(sy_health_t *h)
{
    if (!h)
        return;
    sy_health_stop(h);
    for (size_t i = 0; h->pr && i < h->n; i++) {
        prober_t *pr = &h->pr[i];
        sy_provider_lines_free(pr->hdr, pr->n_hdr);
        free(pr->url);
        free(pr->aux_url);
        free(pr->metrics_url);
        free(pr->loaded);
        body_reset(pr);
        pthread_mutex_destroy(&pr->mu);
    }
    free(h->pr);
    free(h->dep_off);
    free(h->pref);
    free(h);
}

sy_health_t *sy_health_new(const sy_config_t *cfg, sy_discovery_t *disc)
{
    if (!sy_health_wanted(cfg))
        return NULL;
    sy_health_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->cfg = cfg;
    h->disc = disc;
    atomic_init(&h->stopped, 0);
    size_t deps = 0;
    h->dep_off = calloc(cfg->n_models + 1, sizeof(*h->dep_off));
    if (!h->dep_off)
        goto fail;
    for (size_t m = 0; m < cfg->n_models; m++) {
        h->dep_off[m] = deps;
        deps += cfg->models[m].n_deployments;
    }
    h->pref = calloc(deps + 1, sizeof(*h->pref));
    h->pr = calloc(cfg->n_providers, sizeof(*h->pr));
    if (!h->pref || !h->pr)
        goto fail;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        prober_t *pr = &h->pr[i];
        if (pthread_mutex_init(&pr->mu, NULL) != 0) {
            free(h->pr);
            h->pr = NULL; /* the mutexes made so far leak only on this failure path */
            goto fail;
        }
        h->n = i + 1;
        pr->h = h;
        pr->p = &cfg->providers[i];
        pr->index = i;
        atomic_init(&pr->slots_total, -1);
        atomic_init(&pr->slots_idle, -1);
        atomic_init(&pr->processing, -1);
        atomic_init(&pr->deferred, -1);
        atomic_init(&pr->n_loaded, -1);
        if (!sy_health_probed(pr->p))
            continue;
        const sy_health_conf_t *hc = &pr->p->health;
        pr->on = 1;
        pr->next = PH_MAIN;
        pr->url = sy_provider_url(pr->p, hc->path ? hc->path : default_path(pr->p));
        if (!pr->url || make_headers(pr) != 0)
            goto fail;
        if (pr->p->type == SY_PROVIDER_OLLAMA && hc->loaded) {
            pr->aux = AUX_PS;
            if (!(pr->aux_url = sy_provider_url(pr->p, "/api/ps")))
                goto fail;
        } else if (pr->p->type == SY_PROVIDER_OPENAI && hc->slots) {
            pr->aux = AUX_SLOTS;
            pr->aux_url = root_url(pr->p->base_url, "/slots");
            pr->metrics_url = root_url(pr->p->base_url, "/metrics");
            if (!pr->aux_url || !pr->metrics_url)
                goto fail;
        }
        /* one GET /api/tags serves both the probe and the listing */
        if (pr->p->type == SY_PROVIDER_OLLAMA && strcmp(pr->url + strlen(pr->p->base_url), "/api/tags") == 0 &&
            sy_discovery_share(disc, i) == 0)
            pr->shared = 1;
    }
    return h;
fail:
    sy_health_free(h);
    return NULL;
}

/* ---- state ---------------------------------------------------------------- */

static uint32_t interval_ms(const prober_t *pr)
{
    return pr->h->interval_ms ? pr->h->interval_ms : pr->p->health.interval_ms;
}

static void log_change(const prober_t *pr, int level, const char *msg, const char *detail)
{
    if (!sy_log_enabled(level))
        return;
    sy_logline_t l;
    sy_logline_begin(&l, level, msg);
    sy_logline_str(&l, "provider", pr->p->name);
    sy_logline_str(&l, "url", pr->url);
    if (detail)
        sy_logline_str(&l, "detail", detail);
    sy_logline_end(&l);
}

static void set_error(prober_t *pr, const char *why)
{
    pthread_mutex_lock(&pr->mu);
    snprintf(pr->error, sizeof(pr->error), "%s", why ? why : "");
    pthread_mutex_unlock(&pr->mu);
}

/* Every deployment on provider pi gets preference v (a value per
 * deployment: fn, when given, decides from the deployment's model). */
static void set_prefs(sy_health_t *h, size_t pi, int v, int (*fn)(const prober_t *, const char *))
{
    const sy_config_t *cfg = h->cfg;
    for (size_t m = 0; m < cfg->n_models; m++) {
        const sy_model_conf_t *mc = &cfg->models[m];
        for (size_t d = 0; d < mc->n_deployments; d++) {
            if (mc->deployments[d].provider_index != pi)
                continue;
            int x = fn ? fn(&h->pr[pi], mc->deployments[d].model) : v;
            atomic_store_explicit(&h->pref[h->dep_off[m] + d], (signed char)x, memory_order_relaxed);
        }
    }
}

/* What a deployment of model name is on an Ollama server with the loaded
 * models: 1 listed (as Ollama matches a name: "x" is "x:latest"), -1 not. */
static int loaded_pref(const prober_t *pr, const char *model)
{
    const char *s = pr->loaded;
    for (int i = 0; s && i < atomic_load(&pr->n_loaded); i++, s += strlen(s) + 1)
        if (sy_disc_name_match(s, model))
            return 1;
    return -1;
}

int sy__health_main_result(sy_health_t *h, size_t pi, const char *why, int status, const char *body, size_t len,
                           uint64_t now, uint64_t latency_ns)
{
    prober_t *pr = &h->pr[pi];
    char msg[ERR_MAX];
    int ok = !why && status >= 200 && status < 300;
    if (!why && !ok) {
        snprintf(msg, sizeof(msg), "GET %s answered HTTP %d", pr->url + strlen(pr->p->base_url), status);
        why = msg;
    }
    if (pr->shared)
        sy_discovery_feed(h->disc, pi, why == msg ? NULL : why, status, body, len);
    atomic_fetch_add_explicit(&pr->probes, 1, memory_order_relaxed);
    atomic_store_explicit(&pr->last_probe, now, memory_order_relaxed);
    atomic_store_explicit(&pr->latency_ns, latency_ns, memory_order_relaxed);
    int st = atomic_load(&pr->state);
    const sy_health_conf_t *hc = &pr->p->health;
    if (ok) {
        pr->fail_streak = 0;
        pr->ok_streak++;
        set_error(pr, NULL);
        if (st != SY_HEALTH_UP && pr->ok_streak >= hc->healthy_after) {
            atomic_store(&pr->state, SY_HEALTH_UP);
            log_change(pr, SY_LOG_INFO, "provider up", NULL);
            st = SY_HEALTH_UP;
        }
    } else {
        atomic_fetch_add_explicit(&pr->failures, 1, memory_order_relaxed);
        pr->ok_streak = 0;
        pr->fail_streak++;
        set_error(pr, why);
        if (st != SY_HEALTH_DOWN && pr->fail_streak >= hc->unhealthy_after) {
            atomic_store(&pr->state, SY_HEALTH_DOWN);
            log_change(pr, SY_LOG_WARN, "provider down", why);
            st = SY_HEALTH_DOWN;
        }
        /* what it was busy with is stale now */
        set_prefs(h, pi, 0, NULL);
    }
    return st;
}

/* Replace the loaded names (n of them at names, NUL-separated; NULL and -1
 * for unknown). Takes names. */
static void set_loaded(prober_t *pr, char *names, int n)
{
    pthread_mutex_lock(&pr->mu);
    char *old = pr->loaded;
    pr->loaded = names;
    atomic_store(&pr->n_loaded, n);
    pthread_mutex_unlock(&pr->mu);
    free(old);
}

static void aux_ps(sy_health_t *h, prober_t *pr, const char *body, size_t len)
{
    sy__disc_list_t list;
    sy_error_t e;
    if (sy__disc_parse_tags(body, len, pr->p->name, pr->index, &list, &e) != SY_OK) {
        sy__disc_list_release(&list);
        set_loaded(pr, NULL, -1);
        set_prefs(h, pr->index, 0, NULL);
        return;
    }
    size_t total = 1;
    for (size_t i = 0; i < list.n; i++)
        total += strlen(list.models[i].name) + 1 + strlen(list.models[i].model) + 1;
    char *names = malloc(total), *at = names;
    int n = 0;
    for (size_t i = 0; names && i < list.n; i++) {
        /* "name" and "model" both, when they differ: either may be what a
         * deployment calls it */
        const char *two[2] = {list.models[i].name, list.models[i].model};
        for (int k = 0; k < 2; k++) {
            if (k == 1 && strcmp(two[0], two[1]) == 0)
                break;
            size_t l = strlen(two[k]) + 1;
            memcpy(at, two[k], l);
            at += l;
            n++;
        }
    }
    sy__disc_list_release(&list);
    if (!names) {
        set_loaded(pr, NULL, -1);
        set_prefs(h, pr->index, 0, NULL);
        return;
    }
    /* routing reads the preferences, not the names: the names only need to
     * be in place (under the lock) before loaded_pref reads them, on this
     * thread */
    set_loaded(pr, names, n);
    set_prefs(h, pr->index, 0, loaded_pref);
}

void sy__health_aux_result(sy_health_t *h, size_t pi, const char *why, int status, const char *body, size_t len)
{
    prober_t *pr = &h->pr[pi];
    int metrics = atomic_load(&pr->use_metrics);
    if (why || status != 200) {
        if (pr->aux == AUX_SLOTS && !metrics && !why && (status == 404 || status == 501)) {
            /* /slots is off on this server: ask /metrics from now on */
            atomic_store(&pr->use_metrics, 1);
            log_change(pr, SY_LOG_INFO, "provider slots endpoint off", "asking GET /metrics for its load instead");
        }
        if (pr->aux == AUX_PS)
            set_loaded(pr, NULL, -1);
        atomic_store(&pr->slots_total, -1);
        atomic_store(&pr->slots_idle, -1);
        atomic_store(&pr->processing, -1);
        atomic_store(&pr->deferred, -1);
        set_prefs(h, pi, 0, NULL);
        return;
    }
    if (pr->aux == AUX_PS) {
        aux_ps(h, pr, body, len);
    } else if (pr->aux == AUX_SLOTS && !metrics) {
        int total, idle;
        sy_error_t e;
        if (sy__health_parse_slots(body, len, &total, &idle, &e) != SY_OK) {
            total = idle = -1;
        }
        atomic_store(&pr->slots_total, total);
        atomic_store(&pr->slots_idle, idle);
        set_prefs(h, pi, idle < 0 ? 0 : idle > 0 ? 1 : -1, NULL);
    } else if (pr->aux == AUX_SLOTS) {
        int64_t proc, def;
        if (sy__health_parse_metrics(body, len, &proc, &def) != 0)
            proc = def = -1;
        atomic_store(&pr->processing, proc);
        atomic_store(&pr->deferred, def);
        /* requests wait only when every slot is busy */
        set_prefs(h, pi, def < 0 ? 0 : def > 0 ? -1 : 1, NULL);
    }
}

int sy__health_uses_metrics(const sy_health_t *h, size_t pi)
{
    return h && pi < h->n && atomic_load(&h->pr[pi].use_metrics);
}

void sy__health_set_interval_ms(sy_health_t *h, uint32_t ms)
{
    if (h)
        h->interval_ms = ms;
}

/* ---- parsing -------------------------------------------------------------- */

sy_err_t sy__health_parse_slots(const char *body, size_t len, int *total, int *idle, sy_error_t *err)
{
    size_t off = 0;
    const char *msg = NULL;
    *total = *idle = 0;
    if (len == 0 || sy_json_validate(body, len, &off, &msg) != 0) {
        sy_error_set(err, SY_EUPPROTO, NULL, "the slots answer is not JSON (%s at byte %zu)", msg ? msg : "empty",
                     off);
        return SY_EUPPROTO;
    }
    sy_jval_t root = sy_json_value(body, len), el;
    if (root.type != SY_JARRAY) {
        sy_error_set(err, SY_EUPPROTO, NULL, "the slots answer is not a list");
        return SY_EUPPROTO;
    }
    size_t pos = 0;
    int known = 0;
    while (*total < SY_HEALTH_MAX_SLOTS && sy_json_next_element(&root, &pos, &el)) {
        sy_jval_t v;
        if (el.type != SY_JOBJECT)
            continue;
        int busy = -1;
        int64_t n;
        if (sy_json_get(&el, "is_processing", &v) && v.type == SY_JBOOL)
            busy = sy_json_true(&v);
        else if (sy_json_get(&el, "state", &v) && v.type == SY_JINT && sy_json_int(&v, &n) == 0)
            busy = n != 0;
        (*total)++;
        if (busy >= 0)
            known++;
        if (busy == 0)
            (*idle)++;
    }
    if (!known) {
        sy_error_set(err, SY_EUPPROTO, NULL, "no slot says whether it is processing");
        *total = *idle = 0;
        return SY_EUPPROTO;
    }
    return SY_OK;
}

/* The sample value of metric name on one line of the text format
 * ("name 3", "name{labels} 3", "name 3 1700000000"); -1 when the line is
 * another metric or the value is not a non-negative number. */
static int metric_line(const char *l, size_t n, const char *name, int64_t *out)
{
    size_t k = strlen(name);
    if (n <= k || memcmp(l, name, k) != 0 || (l[k] != ' ' && l[k] != '{' && l[k] != '\t'))
        return -1;
    size_t i = k;
    if (l[i] == '{') {
        while (i < n && l[i] != '}')
            i++;
        i++;
    }
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    char buf[32];
    size_t j = 0;
    while (i < n && j < sizeof(buf) - 1 && l[i] != ' ' && l[i] != '\t' && l[i] != '\r')
        buf[j++] = l[i++];
    buf[j] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (j == 0 || *end || !(v >= 0) || v > 1e15)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int sy__health_parse_metrics(const char *text, size_t len, int64_t *processing, int64_t *deferred)
{
    *processing = *deferred = -1;
    size_t i = 0;
    while (i < len) {
        const char *l = text + i;
        const char *nl = memchr(l, '\n', len - i);
        size_t n = nl ? (size_t)(nl - l) : len - i;
        i += n + 1;
        if (n == 0 || l[0] == '#')
            continue;
        int64_t v;
        if (metric_line(l, n, "llamacpp:requests_processing", &v) == 0)
            *processing = v;
        else if (metric_line(l, n, "llamacpp:requests_deferred", &v) == 0)
            *deferred = v;
    }
    return *processing >= 0 || *deferred >= 0 ? 0 : -1;
}

/* ---- the loop ------------------------------------------------------------- */

static void schedule(prober_t *pr, uint32_t ms)
{
    if (atomic_load(&pr->h->stopped) || !pr->timer)
        return;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(pr->timer, &tv);
}

static void on_head(void *ud, int status, const char *content_type)
{
    prober_t *pr = ud;
    (void)content_type;
    pr->status = status;
}

static int on_body(void *ud, const char *data, size_t len)
{
    prober_t *pr = ud;
    if (!pr->keep_body || pr->status != 200)
        return 0;
    if (sy__disc_append(&pr->body, &pr->len, &pr->cap, data, len) < 0) {
        pr->keep_body = 0; /* too large to read, or no memory: parsed as cut short */
        body_reset(pr);
        return 0;
    }
    return 0;
}

/* One GET ended (on_done, or a start that failed). */
static void finished(prober_t *pr, const char *why)
{
    sy_health_t *h = pr->h;
    int phase = pr->phase;
    pr->phase = PH_IDLE;
    pr->rq = NULL;
    uint64_t now = sy_now_ns();
    /* a body cut for its size is an answer we cannot read */
    const char *body = pr->body ? pr->body : "";
    size_t len = pr->body ? pr->len : 0;
    if (phase == PH_MAIN) {
        sy__health_main_result(h, pr->index, why, pr->status, body, len, now,
                               now > pr->started ? now - pr->started : 0);
        body_reset(pr);
        if (!why && pr->status >= 200 && pr->status < 300 && pr->aux) {
            /* from the timer, not from inside this request's callback */
            pr->next = PH_AUX;
            schedule(pr, 0);
            return;
        }
    } else if (phase == PH_AUX) {
        sy__health_aux_result(h, pr->index, why, pr->status, body, len);
        body_reset(pr);
    }
    schedule(pr, interval_ms(pr));
}

static void on_done(void *ud, const sy_error_t *err)
{
    prober_t *pr = ud;
    finished(pr, err ? (err->message[0] ? err->message : sy_strerror(err->code)) : NULL);
}

static void start_get(prober_t *pr, int phase, const char *url)
{
    sy_health_t *h = pr->h;
    static const sy_upreq_cbs_t cbs = {on_head, on_body, on_done};
    uint32_t t = pr->p->health.timeout_ms;
    sy_upreq_opts_t o = {
        .method = "GET",
        .url = url,
        .headers = (const char *const *)pr->hdr,
        .n_headers = pr->n_hdr,
        .timeouts = {t, t, t, t},
        .force_curl = pr->p->transport == SY_TRANSPORT_CURL,
    };
    pr->status = 0;
    body_reset(pr);
    pr->keep_body = phase == PH_AUX || pr->shared;
    pr->phase = phase;
    pr->started = sy_now_ns();
    sy_error_t err;
    sy_upreq_t *rq = sy_upstream_start(h->up, &o, &cbs, pr, &err);
    if (!rq) {
        finished(pr, err.message[0] ? err.message : sy_strerror(err.code));
        return;
    }
    if (pr->phase == phase) /* on_done has not come yet */
        pr->rq = rq;
}

static void fire(evutil_socket_t fd, short what, void *arg)
{
    prober_t *pr = arg;
    sy_health_t *h = pr->h;
    (void)fd, (void)what;
    if (atomic_load(&h->stopped) || pr->phase != PH_IDLE)
        return;
    /* a draining gateway asks nothing new of anyone */
    if (h->w && h->w->srv && atomic_load(&h->w->srv->draining))
        return;
    int phase = pr->next;
    pr->next = PH_MAIN;
    if (phase == PH_AUX)
        start_get(pr, PH_AUX, pr->aux == AUX_SLOTS && atomic_load(&pr->use_metrics) ? pr->metrics_url : pr->aux_url);
    else
        start_get(pr, PH_MAIN, pr->url);
}

int sy_health_start(sy_health_t *h, sy_worker_t *w)
{
    if (!h || !w)
        return -1;
    h->w = w;
    h->base = w->base;
    h->up = w->upstream;
    for (size_t i = 0; i < h->n; i++)
        if (h->pr[i].on && !(h->pr[i].timer = evtimer_new(h->base, fire, &h->pr[i])))
            return -1;
    for (size_t i = 0; i < h->n; i++)
        if (h->pr[i].on)
            schedule(&h->pr[i], 0);
    return 0;
}

void sy_health_stop(sy_health_t *h)
{
    if (!h)
        return;
    atomic_store(&h->stopped, 1);
    for (size_t i = 0; h->pr && i < h->n; i++) {
        prober_t *pr = &h->pr[i];
        if (pr->rq)
            sy_upreq_cancel(pr->rq);
        pr->rq = NULL;
        pr->phase = PH_IDLE;
        if (pr->timer)
            event_free(pr->timer);
        pr->timer = NULL;
        body_reset(pr);
    }
}

/* ---- reading -------------------------------------------------------------- */

int sy_health_state(const sy_health_t *h, size_t pi)
{
    if (!h || pi >= h->n)
        return SY_HEALTH_UNKNOWN;
    return atomic_load_explicit(&h->pr[pi].state, memory_order_relaxed);
}

int sy_health_pref(const sy_health_t *h, size_t m, size_t d)
{
    if (!h || m >= h->cfg->n_models || d >= h->cfg->models[m].n_deployments)
        return 0;
    return atomic_load_explicit(&h->pref[h->dep_off[m] + d], memory_order_relaxed);
}

int sy_health_any_up(sy_health_t *h)
{
    int any = 0;
    for (size_t i = 0; h && i < h->n; i++) {
        if (!h->pr[i].on)
            continue;
        if (atomic_load(&h->pr[i].state) == SY_HEALTH_UP)
            return 1;
        any = 1;
    }
    return !any;
}

static const char *state_name(int st)
{
    return st == SY_HEALTH_UP ? "up" : st == SY_HEALTH_DOWN ? "down" : "unknown";
}

void sy_health_json(sy_health_t *h, uint64_t now, struct evbuffer *b)
{
    int first = 1;
    evbuffer_add(b, "{", 1);
    for (size_t i = 0; h && i < h->n; i++) {
        prober_t *pr = &h->pr[i];
        if (!pr->on)
            continue;
        if (!first)
            evbuffer_add(b, ",", 1);
        first = 0;
        sy_jw_cstr(b, pr->p->name);
        uint64_t last = atomic_load(&pr->last_probe);
        evbuffer_add_printf(b, ":{\"status\":\"%s\",\"last_probe_ms_ago\":", state_name(atomic_load(&pr->state)));
        if (last)
            evbuffer_add_printf(b, "%llu", (unsigned long long)(now > last ? (now - last) / 1000000u : 0));
        else
            evbuffer_add(b, "null", 4);
        evbuffer_add_printf(b, ",\"latency_ms\":%.3f,\"probes\":%llu,\"failures\":%llu,\"error\":",
                            (double)atomic_load(&pr->latency_ns) / 1e6, (unsigned long long)atomic_load(&pr->probes),
                            (unsigned long long)atomic_load(&pr->failures));
        pthread_mutex_lock(&pr->mu);
        if (pr->error[0])
            sy_jw_cstr(b, pr->error);
        else
            evbuffer_add(b, "null", 4);
        if (pr->aux == AUX_PS) {
            int n = atomic_load(&pr->n_loaded);
            evbuffer_add(b, ",\"loaded\":", 10);
            if (n < 0) {
                evbuffer_add(b, "null", 4);
            } else {
                evbuffer_add(b, "[", 1);
                const char *s = pr->loaded;
                for (int k = 0; k < n; k++, s += strlen(s) + 1) {
                    if (k)
                        evbuffer_add(b, ",", 1);
                    sy_jw_cstr(b, s);
                }
                evbuffer_add(b, "]", 1);
            }
        }
        pthread_mutex_unlock(&pr->mu);
        if (pr->aux == AUX_SLOTS) {
            if (atomic_load(&pr->use_metrics)) {
                int64_t p = atomic_load(&pr->processing), d = atomic_load(&pr->deferred);
                evbuffer_add_printf(b, ",\"slots\":{\"source\":\"metrics\",\"processing\":");
                p < 0 ? evbuffer_add(b, "null", 4) : evbuffer_add_printf(b, "%lld", (long long)p);
                evbuffer_add(b, ",\"deferred\":", 12);
                d < 0 ? evbuffer_add(b, "null", 4) : evbuffer_add_printf(b, "%lld", (long long)d);
                evbuffer_add(b, "}", 1);
            } else {
                int t = atomic_load(&pr->slots_total), idle = atomic_load(&pr->slots_idle);
                evbuffer_add_printf(b, ",\"slots\":{\"source\":\"slots\",\"total\":");
                t < 0 ? evbuffer_add(b, "null", 4) : evbuffer_add_printf(b, "%d", t);
                evbuffer_add(b, ",\"idle\":", 8);
                idle < 0 ? evbuffer_add(b, "null", 4) : evbuffer_add_printf(b, "%d", idle);
                evbuffer_add(b, "}", 1);
            }
        }
        evbuffer_add(b, "}", 1);
    }
    evbuffer_add(b, "}", 1);
}

void sy_health_metrics(sy_health_t *h, struct evbuffer *b)
{
    static const struct {
        const char *name, *help, *type;
    } fam[] = {
        {"switchyard_provider_up", "Provider up by its health probes: 1 up, 0 down or not probed yet.", "gauge"},
        {"switchyard_provider_probe_latency_seconds", "Duration of the provider's last health probe.", "gauge"},
        {"switchyard_provider_probe_failures_total", "Health probes of the provider that failed.", "counter"},
        {"switchyard_provider_loaded_models", "Models an Ollama provider has in memory (GET /api/ps).", "gauge"},
        {"switchyard_provider_idle_slots", "Idle slots of a llama.cpp provider (GET /slots).", "gauge"},
    };
    if (!h)
        return;
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
        for (size_t i = 0; i < h->n; i++) {
            prober_t *pr = &h->pr[i];
            if (!pr->on)
                continue;
            long long v;
            if (f == 0) {
                v = atomic_load(&pr->state) == SY_HEALTH_UP;
            } else if (f == 1) {
                evbuffer_add_printf(b, "%s{provider=\"", fam[f].name);
                sy_metrics_label(b, pr->p->name);
                evbuffer_add_printf(b, "\"} %.6f\n", (double)atomic_load(&pr->latency_ns) / 1e9);
                continue;
            } else if (f == 2) {
                v = (long long)atomic_load(&pr->failures);
            } else if (f == 3) {
                if (pr->aux != AUX_PS || (v = atomic_load(&pr->n_loaded)) < 0)
                    continue;
            } else {
                if (pr->aux != AUX_SLOTS || (v = atomic_load(&pr->slots_idle)) < 0)
                    continue;
            }
            evbuffer_add_printf(b, "%s{provider=\"", fam[f].name);
            sy_metrics_label(b, pr->p->name);
            evbuffer_add_printf(b, "\"} %lld\n", v);
        }
    }
}
