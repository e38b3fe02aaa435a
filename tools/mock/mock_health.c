/*
 * mock_health.c - what sy-mock says of its load: the models Ollama's
 * GET /api/ps lists as loaded, and a llama.cpp server's GET /slots and
 * GET /metrics (POST and GET /__health).
 *
 * The gateway's health probes prefer an Ollama server that has the model
 * in memory and a llama.cpp server with an idle slot; a test sets what
 * each mock claims and watches where requests go. All workers share one
 * state behind one mutex (these endpoints are probed a few times a second
 * at most). A POST replaces the whole state; {} (and POST /__reset)
 * restores the defaults: /api/ps lists every model, four slots all idle,
 * both endpoints on, nothing deferred.
 */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <json-c/json.h>

struct sy_mock_health {
    pthread_mutex_t mu;
    sy_mock_health_state_t st;
};

static void defaults(sy_mock_health_state_t *st)
{
    memset(st, 0, sizeof(*st));
    st->slots_total = 4;
    st->slots_idle = 4;
    st->slots_on = 1;
    st->metrics_on = 1;
}

sy_mock_health_t *sy_mock_health_new(void)
{
    sy_mock_health_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h);
        return NULL;
    }
    defaults(&h->st);
    return h;
}

void sy_mock_health_free(sy_mock_health_t *h)
{
    if (h == NULL)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void sy_mock_health_reset(sy_mock_health_t *h)
{
    pthread_mutex_lock(&h->mu);
    defaults(&h->st);
    pthread_mutex_unlock(&h->mu);
}

void sy_mock_health_get(sy_mock_health_t *h, sy_mock_health_state_t *out)
{
    pthread_mutex_lock(&h->mu);
    *out = h->st;
    pthread_mutex_unlock(&h->mu);
}

static int int_in(json_object *v, long lo, long hi, long *out)
{
    if (!json_object_is_type(v, json_type_int))
        return -1;
    int64_t x = json_object_get_int64(v);
    if (x < lo || x > hi)
        return -1;
    *out = (long)x;
    return 0;
}

int sy_mock_health_set(sy_mock_health_t *h, json_object *body, char *err, size_t errlen)
{
    sy_mock_health_state_t st;
    defaults(&st);
    if (!json_object_is_type(body, json_type_object)) {
        snprintf(err, errlen, "mock: the health state must be a JSON object");
        return -1;
    }
    long n;
    json_object_object_foreach(body, key, v)
    {
        if (strcmp(key, "loaded") == 0) {
            if (json_object_is_type(v, json_type_null))
                continue;
            if (!json_object_is_type(v, json_type_array) ||
                json_object_array_length(v) > SY_MOCK_HEALTH_MAX_LOADED) {
                snprintf(err, errlen, "mock: \"loaded\" must be null or a list of at most %d model names",
                         SY_MOCK_HEALTH_MAX_LOADED);
                return -1;
            }
            st.loaded_set = 1;
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *s = json_object_array_get_idx(v, i);
                size_t l = s && json_object_is_type(s, json_type_string) ? (size_t)json_object_get_string_len(s) : 0;
                if (l == 0 || l > SY_MOCK_HEALTH_NAME_MAX) {
                    snprintf(err, errlen, "mock: \"loaded\"[%zu] must be a name of 1..%d bytes", i,
                             SY_MOCK_HEALTH_NAME_MAX);
                    return -1;
                }
                memcpy(st.loaded[st.n_loaded], json_object_get_string(s), l + 1);
                st.n_loaded++;
            }
        } else if (strcmp(key, "slots") == 0) {
            json_object *t = NULL, *i = NULL;
            long total = 4, idle;
            int ok = json_object_is_type(v, json_type_object);
            json_object_object_foreach(v, k2, v2)
            {
                (void)v2;
                ok = ok && (strcmp(k2, "total") == 0 || strcmp(k2, "idle") == 0);
            }
            if (ok && json_object_object_get_ex(v, "total", &t))
                ok = int_in(t, 0, SY_MOCK_HEALTH_MAX_SLOTS, &total) == 0;
            idle = total;
            if (ok && json_object_object_get_ex(v, "idle", &i))
                ok = int_in(i, 0, total, &idle) == 0;
            if (!ok) {
                snprintf(err, errlen, "mock: \"slots\" must be {\"total\": 0..%d, \"idle\": 0..total}",
                         SY_MOCK_HEALTH_MAX_SLOTS);
                return -1;
            }
            st.slots_total = (int)total;
            st.slots_idle = (int)idle;
        } else if (strcmp(key, "slots_endpoint") == 0 || strcmp(key, "metrics_endpoint") == 0 ||
                   strcmp(key, "legacy_slots") == 0) {
            if (!json_object_is_type(v, json_type_boolean)) {
                snprintf(err, errlen, "mock: \"%s\" must be true or false", key);
                return -1;
            }
            int b = json_object_get_boolean(v);
            if (key[0] == 's')
                st.slots_on = b;
            else if (key[0] == 'm')
                st.metrics_on = b;
            else
                st.legacy = b;
        } else if (strcmp(key, "deferred") == 0) {
            if (int_in(v, 0, 1000000, &n) != 0) {
                snprintf(err, errlen, "mock: \"deferred\" must be an integer 0..1000000");
                return -1;
            }
            st.deferred = (int)n;
        } else {
            snprintf(err, errlen, "mock: unknown field \"%.64s\" in the health state", key);
            return -1;
        }
    }
    pthread_mutex_lock(&h->mu);
    h->st = st;
    pthread_mutex_unlock(&h->mu);
    return 0;
}

void sy_mock_health_json(sy_mock_health_t *h, struct evbuffer *b)
{
    sy_mock_health_state_t st;
    sy_mock_health_get(h, &st);
    evbuffer_add_printf(b, "{\"loaded\":");
    if (!st.loaded_set) {
        evbuffer_add(b, "null", 4);
    } else {
        evbuffer_add(b, "[", 1);
        for (size_t i = 0; i < st.n_loaded; i++) {
            evbuffer_add(b, i ? ",\"" : "\"", i ? 2 : 1);
            sy_mock_json_escape(b, st.loaded[i], strlen(st.loaded[i]));
            evbuffer_add(b, "\"", 1);
        }
        evbuffer_add(b, "]", 1);
    }
    evbuffer_add_printf(b,
                        ",\"slots\":{\"total\":%d,\"idle\":%d},\"slots_endpoint\":%s,\"metrics_endpoint\":%s,"
                        "\"legacy_slots\":%s,\"deferred\":%d}",
                        st.slots_total, st.slots_idle, st.slots_on ? "true" : "false",
                        st.metrics_on ? "true" : "false", st.legacy ? "true" : "false", st.deferred);
}

void sy_mock_health_slots(const sy_mock_health_state_t *st, struct evbuffer *b)
{
    int busy = st->slots_total - st->slots_idle;
    evbuffer_add(b, "[", 1);
    for (int i = 0; i < st->slots_total; i++) {
        int processing = i < busy;
        if (st->legacy)
            evbuffer_add_printf(b, "%s{\"id\":%d,\"task_id\":%d,\"n_ctx\":8192,\"state\":%d}", i ? "," : "", i,
                                processing ? 100 + i : -1, processing);
        else
            evbuffer_add_printf(b,
                                "%s{\"id\":%d,\"id_task\":%d,\"n_ctx\":8192,\"speculative\":false,"
                                "\"is_processing\":%s}",
                                i ? "," : "", i, processing ? 100 + i : -1, processing ? "true" : "false");
    }
    evbuffer_add(b, "]", 1);
}

void sy_mock_health_metrics(const sy_mock_health_state_t *st, struct evbuffer *b)
{
    evbuffer_add_printf(b,
                        "# HELP llamacpp:requests_processing Number of requests processing.\n"
                        "# TYPE llamacpp:requests_processing gauge\n"
                        "llamacpp:requests_processing %d\n"
                        "# HELP llamacpp:requests_deferred Number of requests deferred.\n"
                        "# TYPE llamacpp:requests_deferred gauge\n"
                        "llamacpp:requests_deferred %d\n",
                        st->slots_total - st->slots_idle, st->deferred);
}
