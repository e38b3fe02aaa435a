/*
 * discovery.c - Ollama model discovery (see discovery.h).
 *
 * One probe per discovering provider. A probe is a timer on the chosen
 * worker's loop and at most one GET /api/tags in flight through that
 * worker's upstream client; everything a probe touches belongs to that loop's
 * thread, except the published snapshot pointer, which readers on every
 * worker take under the mutex. Only the probing thread ever replaces the
 * pointer, so it may read d->cur without the lock; it locks only to swap.
 *
 * The next probe is armed when the previous one ends, never on a fixed
 * clock: a slow server is not asked again while it is still answering.
 *
 * A snapshot is one allocation: the header, the model array, then every
 * string, so releasing it is one free().
 */
#include "providers/discovery.h"
#include "providers/provider.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/jsonscan.h"
#include "core/log.h"
#include "http/server.h"
#include "upstream/upstream.h"

/* Longest value kept for a field other than the name (digest, dates, details). */
#define FIELD_MAX 256
/* A listing is small: a probe gets at most this long, whatever the
 * provider's total_ms (which is sized for generations). */
#define PROBE_TOTAL_MAX_MS 60000u

/* ---- snapshots ---------------------------------------------------------- */

static size_t sz(const char *s)
{
    return s ? strlen(s) + 1 : 1;
}

/* Copy s (NULL = "") to *at and advance it. */
static const char *put(char **at, const char *s)
{
    char *d = *at;
    size_t n = s ? strlen(s) : 0;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    *at += n + 1;
    return d;
}

sy_disc_snap_t *sy_disc_snap_new(const sy_disc_model_t *models, size_t n)
{
    size_t strings = 0;
    for (size_t i = 0; i < n; i++) {
        const sy_disc_model_t *m = &models[i];
        strings += sz(m->provider) + sz(m->name) + sz(m->model) + sz(m->digest) + sz(m->modified_at) +
                   sz(m->family) + sz(m->parameter_size) + sz(m->quantization_level) + sz(m->format);
    }
    sy_disc_snap_t *s = malloc(sizeof(*s) + n * sizeof(sy_disc_model_t) + strings);
    if (!s)
        return NULL;
    sy_disc_model_t *out = (sy_disc_model_t *)(s + 1);
    char *at = (char *)(out + n);
    for (size_t i = 0; i < n; i++) {
        const sy_disc_model_t *m = &models[i];
        sy_disc_model_t *o = &out[i];
        o->provider_index = m->provider_index;
        o->size = m->size;
        o->provider = put(&at, m->provider);
        o->name = put(&at, m->name);
        o->model = put(&at, m->model);
        o->digest = put(&at, m->digest);
        o->modified_at = put(&at, m->modified_at);
        o->family = put(&at, m->family);
        o->parameter_size = put(&at, m->parameter_size);
        o->quantization_level = put(&at, m->quantization_level);
        o->format = put(&at, m->format);
    }
    s->models = out;
    s->n_models = n;
    atomic_init(&s->refs, 1);
    return s;
}

const sy_disc_snap_t *sy_disc_snap_retain(const sy_disc_snap_t *s)
{
    if (s)
        atomic_fetch_add(&((sy_disc_snap_t *)s)->refs, 1);
    return s;
}

void sy_disc_snap_release(const sy_disc_snap_t *s)
{
    /* the reference count is the one mutable part of a snapshot */
    if (s && atomic_fetch_sub(&((sy_disc_snap_t *)s)->refs, 1) == 1)
        free((void *)s);
}

/* Whether the listed name answers to asked: the same, or asked has no tag
 * and listed is asked + ":latest" (Ollama's own rule for a bare name). */
int sy_disc_name_match(const char *listed, const char *asked)
{
    if (strcmp(listed, asked) == 0)
        return 2;
    const char *slash = strrchr(asked, '/');
    if (strchr(slash ? slash + 1 : asked, ':'))
        return 0;
    size_t n = strlen(asked);
    return n && strncmp(listed, asked, n) == 0 && strcmp(listed + n, ":latest") == 0;
}

/* Exact names win over the ":latest" rule across the whole search, so
 * "x" finds a model listed as "x" even when another provider lists
 * "x:latest" first. */
static const sy_disc_model_t *find(const sy_disc_snap_t *s, const char *provider, const char *name)
{
    if (!s || !name)
        return NULL;
    const sy_disc_model_t *tagged = NULL;
    for (size_t i = 0; i < s->n_models; i++) {
        const sy_disc_model_t *m = &s->models[i];
        if (provider && strcmp(m->provider, provider) != 0)
            continue;
        if (strcmp(m->name, name) == 0)
            return m;
        if (!tagged && sy_disc_name_match(m->name, name))
            tagged = m;
    }
    return tagged;
}

const sy_disc_model_t *sy_disc_snap_find(const sy_disc_snap_t *s, const char *provider, const char *name)
{
    return provider ? find(s, provider, name) : NULL;
}

const sy_disc_model_t *sy_disc_snap_find_bare(const sy_disc_snap_t *s, const char *name)
{
    return find(s, NULL, name);
}

sy_disc_snap_t *sy__disc_snap_replace(const sy_disc_snap_t *old, size_t provider_index,
                                      const sy_disc_model_t *models, size_t n)
{
    size_t keep = 0;
    for (size_t i = 0; old && i < old->n_models; i++)
        keep += old->models[i].provider_index != provider_index;
    sy_disc_model_t *all = malloc((keep + n + 1) * sizeof(*all));
    if (!all)
        return NULL;
    size_t k = 0, i = 0;
    size_t on = old ? old->n_models : 0;
    for (; i < on && old->models[i].provider_index < provider_index; i++)
        all[k++] = old->models[i];
    for (size_t j = 0; j < n; j++)
        all[k++] = models[j];
    for (; i < on; i++)
        if (old->models[i].provider_index != provider_index)
            all[k++] = old->models[i];
    sy_disc_snap_t *s = sy_disc_snap_new(all, k);
    free(all);
    return s;
}

/* ---- parsing a listing -------------------------------------------------- */

void sy__disc_list_release(sy__disc_list_t *l)
{
    if (!l)
        return;
    free(l->models);
    free(l->pool);
    memset(l, 0, sizeof(*l));
}

typedef struct pool {
    char *p;
    size_t used, cap;
} pool_t;

/* Decode string v into the pool when it fits in max bytes; NULL otherwise
 * (too long, or not a string). A decoded string is never longer than its
 * quoted text, so a pool the size of the body never runs out. */
static const char *take(pool_t *pl, const sy_jval_t *v, size_t max, size_t *len)
{
    if (v->type != SY_JSTRING)
        return NULL;
    size_t room = pl->cap - pl->used;
    size_t cap = max + 1 < room ? max + 1 : room;
    long n = sy_json_string(v, pl->p + pl->used, cap);
    if (n < 0)
        return NULL;
    const char *s = pl->p + pl->used;
    pl->used += (size_t)n + 1;
    if (len)
        *len = (size_t)n;
    return s;
}

static void parse_details(pool_t *pl, const sy_jval_t *obj, sy_disc_model_t *m)
{
    size_t pos = 0;
    sy_jval_t k, v;
    while (sy_json_next_member(obj, &pos, &k, &v)) {
        const char **slot = sy_json_key_is(&k, "family")               ? &m->family
                            : sy_json_key_is(&k, "parameter_size")     ? &m->parameter_size
                            : sy_json_key_is(&k, "quantization_level") ? &m->quantization_level
                            : sy_json_key_is(&k, "format")             ? &m->format
                                                                       : NULL;
        const char *s;
        if (slot && (s = take(pl, &v, FIELD_MAX, NULL)) != NULL)
            *slot = s;
    }
}

/* One element of "models": 1 when it gave a usable model. A name must be a
 * string of 1..SY_DISC_MAX_NAME bytes without control characters ("model"
 * stands in for a missing "name"). */
static int parse_model(pool_t *pl, const sy_jval_t *obj, sy_disc_model_t *m)
{
    const char *name = NULL, *model = NULL;
    size_t name_len = 0, model_len = 0;
    int bad_name = 0;
    size_t pos = 0;
    sy_jval_t k, v;
    if (obj->type != SY_JOBJECT)
        return 0;
    while (sy_json_next_member(obj, &pos, &k, &v)) {
        if (sy_json_key_is(&k, "name")) {
            name = take(pl, &v, SY_DISC_MAX_NAME, &name_len);
            bad_name = !name;
        } else if (sy_json_key_is(&k, "model")) {
            model = take(pl, &v, SY_DISC_MAX_NAME, &model_len);
        } else if (sy_json_key_is(&k, "size")) {
            int64_t n;
            if (v.type == SY_JINT && sy_json_int(&v, &n) == 0 && n >= 0)
                m->size = n;
        } else if (sy_json_key_is(&k, "digest")) {
            const char *s = take(pl, &v, FIELD_MAX, NULL);
            if (s)
                m->digest = s;
        } else if (sy_json_key_is(&k, "modified_at")) {
            const char *s = take(pl, &v, FIELD_MAX, NULL);
            if (s)
                m->modified_at = s;
        } else if (sy_json_key_is(&k, "details") && v.type == SY_JOBJECT) {
            parse_details(pl, &v, m);
        }
    }
    if (bad_name)
        return 0;
    if (!name) {
        name = model;
        name_len = model_len;
    }
    if (!name || name_len == 0 || strlen(name) != name_len)
        return 0; /* none, empty, or with a NUL inside */
    for (size_t i = 0; i < name_len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 0;
    m->name = name;
    m->model = model && strlen(model) == model_len ? model : name;
    return 1;
}

sy_err_t sy__disc_parse_tags(const char *body, size_t len, const char *provider, size_t provider_index,
                             sy__disc_list_t *out, sy_error_t *err)
{
    memset(out, 0, sizeof(*out));
    size_t off = 0;
    const char *msg = NULL;
    if (len == 0 || sy_json_validate(body, len, &off, &msg) != 0) {
        sy_error_set(err, SY_EUPPROTO, NULL, "the model listing is not JSON (%s at byte %zu)",
                     msg ? msg : "empty", off);
        return SY_EUPPROTO;
    }
    sy_jval_t root = sy_json_value(body, len), arr;
    if (root.type != SY_JOBJECT || !sy_json_get(&root, "models", &arr) || arr.type != SY_JARRAY) {
        sy_error_set(err, SY_EUPPROTO, NULL, "the model listing has no \"models\" list");
        return SY_EUPPROTO;
    }
    size_t count = 0, pos = 0;
    sy_jval_t el;
    while (sy_json_next_element(&arr, &pos, &el))
        count++;
    size_t keep = count < SY_DISC_MAX_MODELS ? count : SY_DISC_MAX_MODELS;
    size_t plen = strlen(provider);
    pool_t pl = {.cap = len + plen + 1};
    pl.p = malloc(pl.cap);
    out->models = calloc(keep ? keep : 1, sizeof(*out->models));
    if (!pl.p || !out->models) {
        free(pl.p);
        sy__disc_list_release(out);
        sy_error_set(err, SY_ENOMEM, NULL, NULL);
        return SY_ENOMEM;
    }
    out->pool = pl.p;
    memcpy(pl.p, provider, plen + 1);
    pl.used = plen + 1;
    const char *pname = pl.p;

    pos = 0;
    size_t seen = 0;
    while (sy_json_next_element(&arr, &pos, &el)) {
        if (seen++ >= keep) {
            out->truncated++;
            continue;
        }
        sy_disc_model_t *m = &out->models[out->n];
        memset(m, 0, sizeof(*m));
        m->size = -1;
        m->provider = pname;
        m->provider_index = provider_index;
        size_t mark = pl.used;
        if (parse_model(&pl, &el, m)) {
            out->n++;
        } else {
            pl.used = mark; /* give back what the skipped entry took */
            out->skipped++;
        }
    }
    return SY_OK;
}

/* ---- probing ------------------------------------------------------------ */

enum { ST_UNKNOWN = 0, ST_UP, ST_DOWN };

typedef struct probe {
    sy_discovery_t *d;
    const sy_provider_conf_t *p;
    size_t index; /* into cfg->providers */
    char *url;
    char **hdr; /* "Name: value" lines */
    size_t n_hdr;
    struct event *timer;
    sy_upreq_t *rq;
    int running; /* a request started whose on_done has not come */
    int status;
    char *body;
    size_t len, cap;
    int state;
    size_t n_models;
    uint64_t names_hash; /* of the last good listing, to log changes */
    uint64_t listing_hash; /* of every field of the one published */
    int published;         /* a listing of it is in d->cur */
    int warned_truncated;
    int warned_skipped;
    int shared; /* listed by another prober's request (sy_discovery_share): no timer of its own */
} probe_t;

struct sy_discovery {
    const sy_config_t *cfg;
    pthread_mutex_t mu;
    sy_disc_snap_t *cur; /* under mu for readers; written only by the probing thread */
    probe_t *probes;
    size_t n;
    sy_worker_t *w;
    struct event_base *base;
    sy_upstream_t *up;
    atomic_int stopped;
    uint32_t interval_ms; /* tests: overrides every provider's interval when non-zero */
};

static int discovers(const sy_provider_conf_t *p)
{
    return p->type == SY_PROVIDER_OLLAMA && p->discover && !p->disabled;
}

int sy_discovery_wanted(const sy_config_t *cfg)
{
    for (size_t i = 0; cfg && i < cfg->n_providers; i++)
        if (discovers(&cfg->providers[i]))
            return 1;
    return 0;
}

/* The request's header lines: what we accept, the provider's key (Ollama
 * has no authentication of its own; a key means a proxy in front of it) and
 * the provider's extra headers. */
static int make_headers(probe_t *pr)
{
    pr->hdr = sy_provider_get_lines(pr->p, &pr->n_hdr);
    return pr->hdr ? 0 : -1;
}

static void probe_release(probe_t *pr)
{
    sy_provider_lines_free(pr->hdr, pr->n_hdr);
    free(pr->url);
    free(pr->body);
}

sy_discovery_t *sy_discovery_new(const sy_config_t *cfg)
{
    if (!sy_discovery_wanted(cfg))
        return NULL;
    sy_discovery_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = cfg;
    atomic_init(&d->stopped, 0);
    if (pthread_mutex_init(&d->mu, NULL) != 0) {
        free(d);
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_providers; i++)
        n += discovers(&cfg->providers[i]) != 0;
    d->probes = calloc(n, sizeof(*d->probes));
    if (!d->probes)
        goto fail;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        if (!discovers(&cfg->providers[i]))
            continue;
        probe_t *pr = &d->probes[d->n++];
        pr->d = d;
        pr->p = &cfg->providers[i];
        pr->index = i;
        pr->url = sy_provider_url(pr->p, "/api/tags");
        if (!pr->url || make_headers(pr) != 0)
            goto fail;
    }
    return d;
fail:
    sy_discovery_free(d);
    return NULL;
}

static uint32_t interval_ms(const probe_t *pr)
{
    if (pr->d->interval_ms)
        return pr->d->interval_ms;
    return (pr->p->discover_interval_s ? pr->p->discover_interval_s : 60) * 1000u;
}

static void schedule(probe_t *pr, uint32_t ms)
{
    if (atomic_load(&pr->d->stopped) || !pr->timer)
        return;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(pr->timer, &tv);
}

/* FNV-1a over the names, each with its terminator: a listing's identity. */
static uint64_t hash_names(const sy_disc_model_t *m, size_t n)
{
    uint64_t h = SY_FNV_OFFSET;
    for (size_t i = 0; i < n; i++)
        h = sy_fnv1a(h, m[i].name, strlen(m[i].name) + 1);
    return h;
}

static void log_state(const probe_t *pr, int level, const char *msg, const char *detail)
{
    if (!sy_log_enabled(level))
        return;
    sy_logline_t l;
    sy_logline_begin(&l, level, msg);
    sy_logline_str(&l, "provider", pr->p->name);
    sy_logline_str(&l, "url", pr->url);
    sy_logline_int(&l, "models", (int64_t)pr->n_models);
    if (detail)
        sy_logline_str(&l, "detail", detail);
    sy_logline_end(&l);
}

/* A probe failed: keep the provider's models, say so on the first failure
 * after a success (or at start), try again at the interval. */
static void probe_failed(probe_t *pr, const char *why)
{
    if (pr->state != ST_DOWN) {
        char detail[640];
        snprintf(detail, sizeof(detail), "%s; %s, retrying every %u s", why,
                 pr->state == ST_UP ? "keeping the models of the last listing" : "no models discovered yet",
                 (unsigned)((interval_ms(pr) + 999) / 1000));
        log_state(pr, SY_LOG_WARN, "provider unreachable", detail);
    }
    pr->state = ST_DOWN;
}

/* FNV-1a over a string and its terminator; NULL hashes as one 0xff byte
 * (never inside UTF-8 text). */
static uint64_t hash_str(uint64_t h, const char *s)
{
    return s ? sy_fnv1a(h, s, strlen(s) + 1) : sy_fnv1a(h, "\xff", 1);
}

/* Every field of a listing: whether there is anything new to publish. */
static uint64_t hash_listing(const sy_disc_model_t *m, size_t n)
{
    uint64_t h = SY_FNV_OFFSET;
    for (size_t i = 0; i < n; i++) {
        const char *f[] = {m[i].name, m[i].model, m[i].digest, m[i].modified_at, m[i].family,
                           m[i].parameter_size, m[i].quantization_level, m[i].format};
        for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
            h = hash_str(h, f[k]);
        h = sy_fnv1a(h, &m[i].size, sizeof(m[i].size));
    }
    return h;
}

/* A good listing: publish a snapshot with it in place of the provider's
 * previous models - unless it is the one already published (a provider
 * probed for health as well as listed answers the same most of the time). */
static void probe_listed(probe_t *pr, sy__disc_list_t *list)
{
    sy_discovery_t *d = pr->d;
    uint64_t full = hash_listing(list->models, list->n);
    if (!pr->published || full != pr->listing_hash) {
        sy_disc_snap_t *old = d->cur; /* only this thread writes d->cur */
        sy_disc_snap_t *s = sy__disc_snap_replace(old, pr->index, list->models, list->n);
        if (!s) {
            probe_failed(pr, "out of memory");
            return;
        }
        pthread_mutex_lock(&d->mu);
        d->cur = s;
        pthread_mutex_unlock(&d->mu);
        sy_disc_snap_release(old);
        pr->published = 1;
        pr->listing_hash = full;
    }

    uint64_t h = hash_names(list->models, list->n);
    int was = pr->state;
    size_t before = pr->n_models;
    pr->n_models = list->n;
    pr->state = ST_UP;
    if (was != ST_UP) {
        log_state(pr, SY_LOG_INFO, "provider reachable", "models discovered");
    } else if (h != pr->names_hash) {
        char detail[64];
        snprintf(detail, sizeof(detail), "the listing changed (%zu models before)", before);
        log_state(pr, SY_LOG_INFO, "provider models changed", detail);
    }
    pr->names_hash = h;
    if (list->truncated && !pr->warned_truncated) {
        char detail[128];
        snprintf(detail, sizeof(detail), "%zu models past the first %d ignored", list->truncated, SY_DISC_MAX_MODELS);
        log_state(pr, SY_LOG_WARN, "provider lists too many models", detail);
        pr->warned_truncated = 1;
    }
    if (list->skipped && !pr->warned_skipped) {
        char detail[128];
        snprintf(detail, sizeof(detail), "%zu entries without a usable name (1..%d bytes) skipped", list->skipped,
                 SY_DISC_MAX_NAME);
        log_state(pr, SY_LOG_WARN, "provider lists unusable models", detail);
        pr->warned_skipped = 1;
    }
}

static void probe_reset_body(probe_t *pr)
{
    free(pr->body);
    pr->body = NULL;
    pr->len = pr->cap = 0;
}

static void on_head(void *ud, int status, const char *content_type)
{
    probe_t *pr = ud;
    (void)content_type;
    pr->status = status;
}

/* Give up on the answer: cancel the transfer (no on_done follows) and
 * count it as a failed probe. */
static void probe_abort(probe_t *pr, const char *why)
{
    if (pr->rq)
        sy_upreq_cancel(pr->rq);
    pr->rq = NULL;
    pr->running = 0;
    probe_reset_body(pr);
    probe_failed(pr, why);
    schedule(pr, interval_ms(pr));
}

int sy__disc_append(char **body, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (n > SY_DISC_MAX_BODY - *len)
        return -1;
    if (*len + n > *cap) {
        size_t ncap = *cap ? *cap : 16384;
        while (ncap < *len + n)
            ncap *= 2;
        if (ncap > SY_DISC_MAX_BODY)
            ncap = SY_DISC_MAX_BODY;
        char *b = realloc(*body, ncap);
        if (!b)
            return -2;
        *body = b;
        *cap = ncap;
    }
    memcpy(*body + *len, data, n);
    *len += n;
    return 0;
}

static int on_body(void *ud, const char *data, size_t len)
{
    probe_t *pr = ud;
    if (pr->status != 200)
        return 0; /* an error page: its status says enough */
    int rc = sy__disc_append(&pr->body, &pr->len, &pr->cap, data, len);
    if (rc < 0) {
        probe_abort(pr, rc == -1 ? "the model listing is larger than 16 MiB" : "out of memory");
        return 0;
    }
    return 0;
}

/* What a GET /api/tags came to: a transport error (why), or an answer
 * with its status and body. */
static void probe_result(probe_t *pr, const char *why, int status, const char *body, size_t len)
{
    if (why) {
        probe_failed(pr, why);
    } else if (status != 200) {
        char msg[64];
        snprintf(msg, sizeof(msg), "GET /api/tags answered HTTP %d", status);
        probe_failed(pr, msg);
    } else {
        sy__disc_list_t list;
        sy_error_t e;
        if (sy__disc_parse_tags(body, len, pr->p->name, pr->index, &list, &e) == SY_OK)
            probe_listed(pr, &list);
        else
            probe_failed(pr, e.message);
        sy__disc_list_release(&list);
    }
}

static void on_done(void *ud, const sy_error_t *err)
{
    probe_t *pr = ud;
    pr->rq = NULL;
    pr->running = 0;
    probe_result(pr, err ? (err->message[0] ? err->message : sy_strerror(err->code)) : NULL, pr->status, pr->body,
                 pr->len);
    probe_reset_body(pr);
    schedule(pr, interval_ms(pr));
}

static probe_t *probe_of(sy_discovery_t *d, size_t provider_index)
{
    for (size_t i = 0; d && i < d->n; i++)
        if (d->probes[i].index == provider_index)
            return &d->probes[i];
    return NULL;
}

int sy_discovery_share(sy_discovery_t *d, size_t provider_index)
{
    probe_t *pr = probe_of(d, provider_index);
    if (!pr || d->base)
        return -1;
    pr->shared = 1;
    return 0;
}

void sy_discovery_feed(sy_discovery_t *d, size_t provider_index, const char *why, int status, const char *body,
                       size_t len)
{
    probe_t *pr = probe_of(d, provider_index);
    if (!pr || !pr->shared || atomic_load(&d->stopped))
        return;
    probe_result(pr, why, status, body ? body : "", body ? len : 0);
}

static void probe_fire(evutil_socket_t fd, short what, void *arg)
{
    probe_t *pr = arg;
    sy_discovery_t *d = pr->d;
    (void)fd, (void)what;
    if (atomic_load(&d->stopped) || pr->running)
        return;
    /* a draining gateway asks nothing new of anyone */
    if (d->w && d->w->srv && atomic_load(&d->w->srv->draining))
        return;
    static const sy_upreq_cbs_t cbs = {on_head, on_body, on_done};
    sy_upreq_opts_t o = {
        .method = "GET",
        .url = pr->url,
        .headers = (const char *const *)pr->hdr,
        .n_headers = pr->n_hdr,
        .timeouts = pr->p->timeouts,
        .force_curl = pr->p->transport == SY_TRANSPORT_CURL,
    };
    if (o.timeouts.total_ms == 0 || o.timeouts.total_ms > PROBE_TOTAL_MAX_MS)
        o.timeouts.total_ms = PROBE_TOTAL_MAX_MS;
    pr->status = 0;
    probe_reset_body(pr);
    pr->running = 1;
    sy_error_t err;
    sy_upreq_t *rq = sy_upstream_start(d->up, &o, &cbs, pr, &err);
    if (!rq) {
        pr->running = 0;
        probe_failed(pr, err.message[0] ? err.message : sy_strerror(err.code));
        schedule(pr, interval_ms(pr));
        return;
    }
    if (pr->running) /* on_done has not come yet */
        pr->rq = rq;
}

int sy_discovery_start(sy_discovery_t *d, sy_worker_t *w)
{
    if (!d || !w)
        return -1;
    d->w = w;
    d->base = w->base;
    d->up = w->upstream;
    for (size_t i = 0; i < d->n; i++) {
        d->probes[i].timer = evtimer_new(d->base, probe_fire, &d->probes[i]);
        if (!d->probes[i].timer)
            return -1;
    }
    for (size_t i = 0; i < d->n; i++)
        if (!d->probes[i].shared)
            schedule(&d->probes[i], 0);
    return 0;
}

void sy_discovery_stop(sy_discovery_t *d)
{
    if (!d)
        return;
    atomic_store(&d->stopped, 1);
    for (size_t i = 0; i < d->n; i++) {
        probe_t *pr = &d->probes[i];
        if (pr->rq)
            sy_upreq_cancel(pr->rq);
        pr->rq = NULL;
        pr->running = 0;
        if (pr->timer)
            event_free(pr->timer);
        pr->timer = NULL;
        probe_reset_body(pr);
    }
}

void sy_discovery_free(sy_discovery_t *d)
{
    if (!d)
        return;
    sy_discovery_stop(d);
    for (size_t i = 0; i < d->n; i++)
        probe_release(&d->probes[i]);
    free(d->probes);
    sy_disc_snap_release(d->cur);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

const sy_disc_snap_t *sy_discovery_acquire(sy_discovery_t *d)
{
    if (!d)
        return NULL;
    pthread_mutex_lock(&d->mu);
    const sy_disc_snap_t *s = sy_disc_snap_retain(d->cur);
    pthread_mutex_unlock(&d->mu);
    return s;
}

void sy__discovery_set_interval_ms(sy_discovery_t *d, uint32_t ms)
{
    if (d)
        d->interval_ms = ms;
}
