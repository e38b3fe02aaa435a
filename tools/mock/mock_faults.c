/*
 * mock_faults.c - sy-mock's instance-wide fault plan (POST and GET /__faults).
 *
 * The x-mock-* headers make one request fail, but only a client that sends
 * them can ask; a test that puts two mocks behind one gateway and wants one
 * of them to fail has no such client. A plan is the same controls set once
 * for the whole instance: a status, a fault, delays or a token count, for
 * the next `count` requests or until changed, on every path or on some path
 * prefixes. All workers share one plan behind one mutex. A request takes a
 * copy of the plan's effects and one unit of its count in a single
 * lock/unlock, so `count` is exact across workers and spent in the order the
 * requests take the lock; with no plan armed a request skips the lock on one
 * atomic load, which keeps the benchmarks' path as it was. The plan is a
 * fixed-size value: setting, using and clearing it allocate nothing.
 */
#include "mock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <json-c/json.h>

/* A whole plan as POSTed: its effects and which requests it applies to. */
struct plan_def {
    sy_mock_plan_t plan;
    int64_t count; /* -1: every request until changed */
    size_t npaths; /* 0: every path */
    char paths[SY_MOCK_PLAN_PATHS][SY_MOCK_PLAN_PATH_MAX + 1];
};

struct sy_mock_faults {
    pthread_mutex_t mu;
    /* 1 while a plan is set and has requests left to affect. Written under
     * mu; read without it only to skip the lock when 0. */
    atomic_int armed;
    int set; /* a plan is set (shown by GET even once used up) */
    struct plan_def def;
    int64_t remaining; /* -1: unbounded */
    int64_t applied;
};

int sy_mock_parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == v || *end || errno || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

int sy_mock_parse_fault(const char *v, sy_mock_fault_t *fault, long *n)
{
    if (strncasecmp(v, "cut-after=", 10) == 0) {
        if (sy_mock_parse_long(v + 10, 0, SY_MOCK_MAX_TOKENS, n) < 0)
            return -1;
        *fault = SY_MOCK_FAULT_CUT;
    } else if (strncasecmp(v, "stall-after=", 12) == 0) {
        if (sy_mock_parse_long(v + 12, 0, SY_MOCK_MAX_TOKENS, n) < 0)
            return -1;
        *fault = SY_MOCK_FAULT_STALL_AFTER;
    } else if (strcasecmp(v, "stall") == 0) {
        *fault = SY_MOCK_FAULT_STALL;
    } else if (strcasecmp(v, "close") == 0) {
        *fault = SY_MOCK_FAULT_CLOSE;
    } else if (strcasecmp(v, "bad-json") == 0) {
        *fault = SY_MOCK_FAULT_BAD_JSON;
    } else {
        return -1;
    }
    return 0;
}

sy_mock_faults_t *sy_mock_faults_new(void)
{
    sy_mock_faults_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    if (pthread_mutex_init(&f->mu, NULL) != 0) {
        free(f);
        return NULL;
    }
    atomic_init(&f->armed, 0);
    return f;
}

void sy_mock_faults_free(sy_mock_faults_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* Reads v as an integer within [lo, hi] into *out. Returns 0, or -1 with a
 * message naming field in err. JSON numbers with a fraction or an exponent
 * are not integers here, nor are strings. */
static int get_int(json_object *v, const char *field, int64_t lo, int64_t hi, int64_t *out,
                   char *err, size_t errlen)
{
    int64_t x;
    if (!json_object_is_type(v, json_type_int)) {
        snprintf(err, errlen, "mock: fault plan field \"%s\" must be an integer", field);
        return -1;
    }
    x = json_object_get_int64(v);
    if (x < lo || x > hi) {
        snprintf(err, errlen, "mock: fault plan field \"%s\" must be from %lld to %lld", field,
                 (long long)lo, (long long)hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* The string v when it is a JSON string of 1 to max bytes with no NUL,
 * else NULL with a message naming field in err. */
static const char *get_str(json_object *v, const char *field, size_t max, char *err, size_t errlen)
{
    if (!json_object_is_type(v, json_type_string)) {
        snprintf(err, errlen, "mock: fault plan field \"%s\" must be a string", field);
        return NULL;
    }
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (len == 0 || len > max || strlen(s) != len) {
        snprintf(err, errlen, "mock: fault plan field \"%s\" must be 1 to %zu bytes, without NUL",
                 field, max);
        return NULL;
    }
    return s;
}

/* Fills d from body. Returns 0, or -1 with a message in err. */
static int parse_plan(json_object *body, struct plan_def *d, char *err, size_t errlen)
{
    int effects = 0;
    int64_t x;

    memset(d, 0, sizeof *d);
    d->plan.latency_ms = d->plan.ttft_ms = d->plan.itl_ms = d->plan.tokens = -1;
    d->count = -1;
    if (!json_object_is_type(body, json_type_object)) {
        snprintf(err, errlen, "mock: a fault plan is a JSON object");
        return -1;
    }
    json_object_object_foreach(body, key, v) {
        if (strcmp(key, "status") == 0) {
            if (get_int(v, key, 400, 599, &x, err, errlen) < 0)
                return -1;
            d->plan.status = (int)x;
            effects++;
        } else if (strcmp(key, "retry_after") == 0) {
            const char *s = get_str(v, key, SY_MOCK_RETRY_AFTER_MAX, err, errlen);
            if (s == NULL)
                return -1;
            /* It becomes a header value: printable ASCII only. */
            for (const char *p = s; *p; p++) {
                if (*p < 0x20 || *p > 0x7e) {
                    snprintf(err, errlen,
                             "mock: fault plan field \"retry_after\" must be printable ASCII");
                    return -1;
                }
            }
            memcpy(d->plan.retry_after, s, strlen(s) + 1);
            effects++;
        } else if (strcmp(key, "message") == 0) {
            const char *s = get_str(v, key, sizeof d->plan.message - 1, err, errlen);
            if (s == NULL)
                return -1;
            memcpy(d->plan.message, s, strlen(s) + 1);
        } else if (strcmp(key, "fault") == 0) {
            const char *s = get_str(v, key, 64, err, errlen);
            if (s == NULL)
                return -1;
            if (sy_mock_parse_fault(s, &d->plan.fault, &d->plan.fault_n) < 0) {
                snprintf(err, errlen,
                         "mock: fault plan field \"fault\" must be close, stall, bad-json, "
                         "cut-after=N or stall-after=N (N from 0 to %ld), not \"%.64s\"",
                         SY_MOCK_MAX_TOKENS, s);
                return -1;
            }
            effects++;
        } else if (strcmp(key, "latency_ms") == 0 || strcmp(key, "ttft_ms") == 0 ||
                   strcmp(key, "itl_ms") == 0) {
            if (get_int(v, key, 0, SY_MOCK_MAX_DELAY_MS, &x, err, errlen) < 0)
                return -1;
            if (key[0] == 'l')
                d->plan.latency_ms = (long)x;
            else if (key[0] == 't')
                d->plan.ttft_ms = (long)x;
            else
                d->plan.itl_ms = (long)x;
            effects++;
        } else if (strcmp(key, "tokens") == 0) {
            if (get_int(v, key, 0, SY_MOCK_MAX_TOKENS, &x, err, errlen) < 0)
                return -1;
            d->plan.tokens = (long)x;
            effects++;
        } else if (strcmp(key, "count") == 0) {
            if (get_int(v, key, 1, INT64_MAX, &d->count, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "paths") == 0) {
            size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
            if (n == 0 || n > SY_MOCK_PLAN_PATHS) {
                snprintf(err, errlen,
                         "mock: fault plan field \"paths\" must be an array of 1 to %d path prefixes",
                         SY_MOCK_PLAN_PATHS);
                return -1;
            }
            for (size_t i = 0; i < n; i++) {
                const char *s = get_str(json_object_array_get_idx(v, i), key, SY_MOCK_PLAN_PATH_MAX,
                                        err, errlen);
                if (s == NULL)
                    return -1;
                if (s[0] != '/') {
                    snprintf(err, errlen, "mock: fault plan path prefix \"%.64s\" must start with /", s);
                    return -1;
                }
                memcpy(d->paths[i], s, strlen(s) + 1);
            }
            d->npaths = n;
        } else {
            snprintf(err, errlen, "mock: unknown fault plan field \"%.64s\"", key);
            return -1;
        }
    }
    /* {} clears; a count or paths alone would count requests and change
     * nothing, which is more likely a mistake than a wish. */
    if (effects == 0 && json_object_object_length(body) > 0) {
        snprintf(err, errlen,
                 "mock: a fault plan sets status, retry_after, fault, latency_ms, ttft_ms, itl_ms "
                 "or tokens ({} clears it)");
        return -1;
    }
    return 0;
}

int sy_mock_faults_set(sy_mock_faults_t *f, json_object *body, char *err, size_t errlen)
{
    /* Parsed outside the lock into a candidate, so a bad body leaves the
     * plan in force untouched. */
    struct plan_def *d = malloc(sizeof *d);
    if (d == NULL) {
        snprintf(err, errlen, "mock: out of memory");
        return -1;
    }
    if (parse_plan(body, d, err, errlen) < 0) {
        free(d);
        return -1;
    }
    int set = json_object_object_length(body) > 0;
    pthread_mutex_lock(&f->mu);
    f->set = set;
    f->def = *d;
    f->remaining = set ? d->count : -1;
    f->applied = 0;
    atomic_store_explicit(&f->armed, set, memory_order_release);
    pthread_mutex_unlock(&f->mu);
    free(d);
    return 0;
}

void sy_mock_faults_clear(sy_mock_faults_t *f)
{
    pthread_mutex_lock(&f->mu);
    f->set = 0;
    f->remaining = -1;
    f->applied = 0;
    atomic_store_explicit(&f->armed, 0, memory_order_release);
    pthread_mutex_unlock(&f->mu);
}

static int path_matches(const struct plan_def *d, const char *path)
{
    if (d->npaths == 0)
        return 1;
    for (size_t i = 0; i < d->npaths; i++)
        if (strncmp(path, d->paths[i], strlen(d->paths[i])) == 0)
            return 1;
    return 0;
}

int sy_mock_faults_take(sy_mock_faults_t *f, const char *path, sy_mock_plan_t *out)
{
    int hit = 0;
    if (!atomic_load_explicit(&f->armed, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&f->mu);
    if (f->set && f->remaining != 0 && path_matches(&f->def, path)) {
        if (f->remaining > 0 && --f->remaining == 0)
            atomic_store_explicit(&f->armed, 0, memory_order_release);
        f->applied++;
        *out = f->def.plan;
        hit = 1;
    }
    pthread_mutex_unlock(&f->mu);
    return hit;
}

/* Opens member key of the object being written; *n counts the members so far. */
static void member(struct evbuffer *b, int *n, const char *key)
{
    evbuffer_add_printf(b, "%s\"%s\":", (*n)++ ? "," : "", key);
}

static void add_str(struct evbuffer *b, int *n, const char *key, const char *s)
{
    member(b, n, key);
    evbuffer_add(b, "\"", 1);
    sy_mock_json_escape(b, s, strlen(s));
    evbuffer_add(b, "\"", 1);
}

static void add_long(struct evbuffer *b, int *n, const char *key, long v)
{
    if (v < 0)
        return;
    member(b, n, key);
    evbuffer_add_printf(b, "%ld", v);
}

/* The plan as POSTed, normalised: only the fields it sets, in a fixed order. */
static void plan_json(struct evbuffer *b, const struct plan_def *d)
{
    const sy_mock_plan_t *p = &d->plan;
    char fault[48];
    int n = 0;

    evbuffer_add(b, "{", 1);
    if (p->status) {
        member(b, &n, "status");
        evbuffer_add_printf(b, "%d", p->status);
    }
    if (p->retry_after[0])
        add_str(b, &n, "retry_after", p->retry_after);
    if (p->message[0])
        add_str(b, &n, "message", p->message);
    fault[0] = 0;
    switch (p->fault) {
    case SY_MOCK_FAULT_CUT: snprintf(fault, sizeof fault, "cut-after=%ld", p->fault_n); break;
    case SY_MOCK_FAULT_STALL_AFTER: snprintf(fault, sizeof fault, "stall-after=%ld", p->fault_n); break;
    case SY_MOCK_FAULT_STALL: snprintf(fault, sizeof fault, "stall"); break;
    case SY_MOCK_FAULT_CLOSE: snprintf(fault, sizeof fault, "close"); break;
    case SY_MOCK_FAULT_BAD_JSON: snprintf(fault, sizeof fault, "bad-json"); break;
    case SY_MOCK_FAULT_NONE: break;
    }
    if (fault[0])
        add_str(b, &n, "fault", fault);
    add_long(b, &n, "latency_ms", p->latency_ms);
    add_long(b, &n, "ttft_ms", p->ttft_ms);
    add_long(b, &n, "itl_ms", p->itl_ms);
    add_long(b, &n, "tokens", p->tokens);
    if (d->count > 0) {
        member(b, &n, "count");
        evbuffer_add_printf(b, "%lld", (long long)d->count);
    }
    if (d->npaths) {
        member(b, &n, "paths");
        for (size_t i = 0; i < d->npaths; i++) {
            evbuffer_add(b, i ? ",\"" : "[\"", 2);
            sy_mock_json_escape(b, d->paths[i], strlen(d->paths[i]));
            evbuffer_add(b, "\"", 1);
        }
        evbuffer_add(b, "]", 1);
    }
    evbuffer_add(b, "}", 1);
}

void sy_mock_faults_json(sy_mock_faults_t *f, struct evbuffer *b)
{
    pthread_mutex_lock(&f->mu);
    evbuffer_add(b, "{\"plan\":", 8);
    if (f->set)
        plan_json(b, &f->def);
    else
        evbuffer_add(b, "null", 4);
    if (f->set && f->remaining >= 0)
        evbuffer_add_printf(b, ",\"remaining\":%lld", (long long)f->remaining);
    else
        evbuffer_add(b, ",\"remaining\":null", 17);
    evbuffer_add_printf(b, ",\"applied\":%lld}", (long long)f->applied);
    pthread_mutex_unlock(&f->mu);
}
