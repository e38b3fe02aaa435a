/*
 * provider.h - egress: how a request is addressed to a provider.
 *
 * Given a provider's configuration and the path the operation has at that
 * provider, builds the URL and the header lines of the upstream request: the
 * provider's own key (never the client's Authorization), its extra headers,
 * the request id, and the client headers the provider's forward_headers
 * allows. Each kind authenticates its own way: OpenAI-compatible and Ollama
 * with "Authorization: Bearer" (Ollama only when a key is set - an auth
 * proxy in front of it), Anthropic with x-api-key and anthropic-version.
 */
#ifndef SY_PROVIDERS_PROVIDER_H
#define SY_PROVIDERS_PROVIDER_H

#include <stddef.h>

#include "config/config.h"
#include "core/err.h"
#include "http/request.h"

#define SY_EGRESS_MAX_HEADERS 48

typedef struct sy_egress {
    char url[2048];
    const char *headers[SY_EGRESS_MAX_HEADERS];
    size_t n_headers;
    char store[16384]; /* the header lines' bytes */
    size_t used;
} sy_egress_t;

/*
 * Fill out for a request of client request r to provider p at path suffix
 * (appended to base_url, e.g. "/chat/completions"). stream asks for an event
 * stream. Returns SY_OK, or an error in err (SY_EBADREQ if the forwarded
 * headers do not fit, SY_EINTERNAL for a URL or configured headers too large).
 */
sy_err_t sy_provider_prepare(const sy_provider_conf_t *p, const char *suffix, const sy_req_t *r,
                             int stream, sy_egress_t *out, sy_error_t *err);

/* The same for a request whose id is req_id and whose headers are client
 * (may be NULL: none forwarded) - a call that outlives its client. */
struct evkeyvalq;
sy_err_t sy_provider_prepare_for(const sy_provider_conf_t *p, const char *suffix, const char *req_id,
                                 const struct evkeyvalq *client, int stream, sy_egress_t *out, sy_error_t *err);

/* Whether client header `name` may be forwarded to p (allow-list match and
 * not a credential or hop-by-hop header). */
int sy_provider_forwards(const sy_provider_conf_t *p, const char *name);

/*
 * The header lines ("Name: value") of a GET the gateway itself sends to p -
 * a health probe, a model listing: Accept: application/json, p's key in
 * its protocol's header, p's own headers, and anthropic-version for an
 * Anthropic provider that sets none. A malloc'd array of *n malloc'd
 * strings (sy_provider_lines_free), or NULL when out of memory.
 */
char **sy_provider_get_lines(const sy_provider_conf_t *p, size_t *n);
/* p's base_url followed by path, malloc'd; NULL when out of memory. */
char *sy_provider_url(const sy_provider_conf_t *p, const char *path);
void sy_provider_lines_free(char **lines, size_t n);

#endif
