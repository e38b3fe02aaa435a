/*
 * provider.c - upstream addressing and headers (see provider.h).
 *
 * Each provider kind authenticates its own way (a Bearer key, Anthropic's
 * x-api-key with its API version) and streams in its own format (SSE or
 * NDJSON, which the Accept header asks for); everything else - the request
 * id, the configured extra headers, the allowed client headers - is the
 * same for all kinds.
 */
#include "providers/provider.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Client headers that never travel upstream, whatever forward_headers says:
 * credentials (the provider's own key is sent instead) and hop-by-hop headers. */
static const char *const never_forward[] = {
    "authorization", "x-api-key", "api-key", "proxy-authorization", "cookie", "host", "content-length",
    "content-type", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade",
    "expect", "accept-encoding", "x-request-id",
};

int sy_provider_forwards(const sy_provider_conf_t *p, const char *name)
{
    for (size_t i = 0; i < sizeof(never_forward) / sizeof(never_forward[0]); i++)
        if (strcasecmp(name, never_forward[i]) == 0)
            return 0;
    for (size_t i = 0; i < p->n_forward_headers; i++) {
        const char *pat = p->forward_headers[i];
        size_t pl = strlen(pat);
        if (pl && pat[pl - 1] == '*') {
            if (strncasecmp(name, pat, pl - 1) == 0)
                return 1;
        } else if (strcasecmp(name, pat) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Add the header line "name: value" (value may be split in two parts,
 * joined). Fails when the store is full or a part holds a line break: a
 * header value must not smuggle another header upstream. */
static int add2(sy_egress_t *o, const char *name, const char *v1, const char *v2)
{
    size_t nl = strlen(name), l1 = strlen(v1), l2 = v2 ? strlen(v2) : 0;
    size_t need = nl + 2 + l1 + l2 + 1;
    if (o->n_headers >= SY_EGRESS_MAX_HEADERS || need > sizeof(o->store) - o->used)
        return -1;
    if (strpbrk(name, "\r\n:") || strpbrk(v1, "\r\n") || (v2 && strpbrk(v2, "\r\n")))
        return -1;
    char *d = o->store + o->used;
    memcpy(d, name, nl);
    memcpy(d + nl, ": ", 2);
    memcpy(d + nl + 2, v1, l1);
    if (l2)
        memcpy(d + nl + 2 + l1, v2, l2);
    d[need - 1] = '\0';
    o->headers[o->n_headers++] = d;
    o->used += need;
    return 0;
}

static int add(sy_egress_t *o, const char *name, const char *value)
{
    return add2(o, name, value, NULL);
}

/* The version of the Messages API whose shapes anthropic.c reads and writes. */
#define ANTHROPIC_VERSION "2023-06-01"

/* Whether one of p's configured extra headers is named name (any case). */
static int configured(const sy_provider_conf_t *p, const char *name)
{
    for (size_t i = 0; i < p->n_headers; i++)
        if (strcasecmp(p->headers[i].name, name) == 0)
            return 1;
    return 0;
}

/*
 * The header lines every upstream request carries, then the kind's own:
 *   OpenAI-compatible: Authorization: Bearer <key> when a key is set.
 *   Ollama: the same Bearer key when one is set (Ollama itself has no
 *     authentication; a key means it sits behind an authenticating proxy),
 *     and a stream accepts application/x-ndjson, what Ollama streams.
 *   Anthropic: x-api-key: <key> and anthropic-version, never
 *     Authorization. The version fixes the shapes anthropic.c parses, so a
 *     client's anthropic-version is not forwarded; a provider may still
 *     configure its own in its extra headers, which then replaces ours.
 * Then the provider's extra headers and the forwarded client headers.
 */
sy_err_t sy_provider_prepare(const sy_provider_conf_t *p, const char *suffix, const sy_req_t *r,
                             int stream, sy_egress_t *out, sy_error_t *err)
{
    return sy_provider_prepare_for(p, suffix, r->id, r->ev ? evhttp_request_get_input_headers(r->ev) : NULL, stream,
                                   out, err);
}

sy_err_t sy_provider_prepare_for(const sy_provider_conf_t *p, const char *suffix, const char *req_id,
                                 const struct evkeyvalq *client, int stream, sy_egress_t *out, sy_error_t *err)
{
    out->n_headers = 0;
    out->used = 0;
    size_t bl = strlen(p->base_url), sl = strlen(suffix);
    if (bl + sl >= sizeof(out->url)) {
        sy_error_set(err, SY_EINTERNAL, NULL, "upstream URL too long");
        return SY_EINTERNAL;
    }
    memcpy(out->url, p->base_url, bl);
    memcpy(out->url + bl, suffix, sl + 1);
    const char *accept = !stream                        ? "application/json"
                         : p->type == SY_PROVIDER_OLLAMA ? "application/x-ndjson"
                                                         : "text/event-stream";
    int bad = add(out, "Content-Type", "application/json");
    bad |= add(out, "Accept", accept);
    bad |= add(out, "x-request-id", req_id);
    if (p->type == SY_PROVIDER_ANTHROPIC) {
        if (p->api_key)
            bad |= add(out, "x-api-key", p->api_key);
        if (!configured(p, "anthropic-version"))
            bad |= add(out, "anthropic-version", ANTHROPIC_VERSION);
    } else if (p->api_key) {
        bad |= add2(out, "Authorization", "Bearer ", p->api_key);
    }
    for (size_t i = 0; i < p->n_headers; i++)
        bad |= add(out, p->headers[i].name, p->headers[i].value);
    if (bad) {
        sy_error_set(err, SY_EINTERNAL, NULL, "provider \"%s\": configured headers do not fit", p->name);
        return SY_EINTERNAL;
    }
    if (p->n_forward_headers && client) {
        for (const struct evkeyval *h = client->tqh_first; h; h = h->next.tqe_next) {
            if (!sy_provider_forwards(p, h->key))
                continue;
            if (p->type == SY_PROVIDER_ANTHROPIC && strcasecmp(h->key, "anthropic-version") == 0)
                continue;
            if (add(out, h->key, h->value)) {
                sy_error_set(err, SY_EBADREQ, NULL, "too many or too large headers to forward upstream");
                return SY_EBADREQ;
            }
        }
    }
    return SY_OK;
}

/* "a" + "b" + "c" in a new string. */
static char *cat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb);
        memcpy(s + la + lb, c, lc + 1);
    }
    return s;
}

char *sy_provider_url(const sy_provider_conf_t *p, const char *path)
{
    return cat3(p->base_url, path, "");
}

char **sy_provider_get_lines(const sy_provider_conf_t *p, size_t *n)
{
    char **h = calloc(3 + p->n_headers, sizeof(*h));
    size_t k = 0;
    int has_version = 0;
    if (!h)
        return NULL;
    if (!(h[k++] = cat3("Accept: application/json", "", "")))
        goto oom;
    if (p->api_key && !(h[k++] = p->type == SY_PROVIDER_ANTHROPIC ? cat3("x-api-key: ", p->api_key, "")
                                                                   : cat3("Authorization: Bearer ", p->api_key, "")))
        goto oom;
    for (size_t i = 0; i < p->n_headers; i++) {
        has_version |= strcasecmp(p->headers[i].name, "anthropic-version") == 0;
        if (!(h[k++] = cat3(p->headers[i].name, ": ", p->headers[i].value)))
            goto oom;
    }
    if (p->type == SY_PROVIDER_ANTHROPIC && !has_version &&
        !(h[k++] = cat3("anthropic-version: ", ANTHROPIC_VERSION, "")))
        goto oom;
    *n = k;
    return h;
oom:
    sy_provider_lines_free(h, k);
    return NULL;
}

void sy_provider_lines_free(char **lines, size_t n)
{
    for (size_t i = 0; lines && i < n; i++)
        free(lines[i]);
    free(lines);
}
