/*
 * config.c - load Switchyard's YAML configuration into an immutable
 * sy_config_t (see config.h for the contract and docs/configuration.md for
 * the user's reference).
 *
 * Loading is two steps. libfyaml parses the text into a document; its own
 * diagnostics are captured through a private fy_diag (collected, never
 * printed) and re-emitted in our single "file:line:col: message" format.
 * Then one walker per section checks the document against the schema and
 * fills the config. The walker never stops at the first problem: every
 * unknown key, wrong type, bad value and missing field becomes one
 * diagnostic, positioned at the offending key or value, and the load fails
 * only at the end. Diagnostics of one load are sorted by position so users
 * read them top to bottom.
 *
 * libfyaml 0.7 has no public start mark for mappings and sequences, so a
 * collection is located by the key that holds it, or, for a sequence item,
 * by the first key inside it.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/hash.h"

/* Bounds: a config is small; anything past these is a mistake, not a use. */
#define SY_CONF_MAX_FILE (16u * 1024u * 1024u)
#define SY_CONF_MAX_PROBLEMS 100
#define SY_CONF_MAX_PROVIDERS 1024
#define SY_CONF_MAX_MODELS 4096
#define SY_CONF_MAX_DEPLOYMENTS 256
#define SY_CONF_MAX_HEADERS 64
#define SY_CONF_MAX_NAME 256
#define SY_CONF_MAX_STRING 8192
#define SY_CONF_MAX_WORKERS 1024
#define SY_CONF_MAX_WEIGHT 1000000
#define SY_CONF_MAX_DISCOVER_INTERVAL 86400
#define SY_CONF_MAX_DEFAULT_MAX_TOKENS 10000000

typedef struct pos {
    int line; /* 1-based */
    int col;  /* 1-based */
} pos_t;

/* The state of one load: where diagnostics go and how many were found. */
typedef struct loader {
    const char *file;
    sy_diags_t *diags;
    size_t first_diag; /* diags->n when this load began (only those are sorted) */
    size_t problems;   /* every problem found, reported or not */
    bool oom;
    sy_config_t *cfg;
    pos_t embedder_pos; /* where cache.semantic.embedder was given */
    struct model_ref *refs; /* fallbacks named, resolved once every model is known */
    size_t n_refs, cap_refs;
    /* complexity tiers and router.experiments name models: read once every
     * model is known (their nodes live as long as the document) */
    struct cx_defer *cx;
    size_t n_cx, cap_cx;
    struct fy_node *exp_node;
    pos_t exp_pos;
    pos_t *rule_route_pos; /* where each rule's action.route was given */
} loader_t;

/* A model's fallback to resolve after the models are parsed. */
typedef struct model_ref {
    size_t model;  /* the model that names it */
    int context;   /* in context_fallbacks */
    size_t index;  /* its place in the list */
    char *name;
    pos_t pos;
} model_ref_t;

static const char *const top_keys[] = {"server", "log", "providers", "models", "cache", "router"};
static const char *const router_keys[] = {"defaults", "experiments", "rules"};
/* router.defaults, also allowed on each model (model_keys lists them in
 * this order from ROUTE_KEY0) */
static const char *const route_keys[] = {"strategy", "retries", "circuit_breaker", "when_all_open", "timeout_ms"};
static const char *const retry_keys[] = {"max", "backoff_ms", "max_backoff_ms"};
static const char *const breaker_keys[] = {"failures", "window_s", "cooldown_s"};
static const char *const strategy_names[] = {"weighted", "round_robin", "least_inflight",
                                             "latency",  "cost",        "usage"};
static const char *const all_open_names[] = {"fail", "wait"};
static const char *const hedge_keys[] = {"after_ms", "percentile", "max_fraction"};
static const char *const price_keys[] = {"input_per_mtok", "output_per_mtok"};
static const char *const cache_keys[] = {"memory", "redis", "sqlite", "semantic"};
static const char *const cache_memory_keys[] = {"max_bytes"};
static const char *const cache_redis_keys[] = {"url", "connect_timeout_ms", "command_timeout_ms"};
static const char *const cache_sqlite_keys[] = {"path", "max_bytes"};
static const char *const cache_semantic_keys[] = {"embedder", "threshold"};
static const char *const model_cache_keys[] = {"mode", "ttl_s"};
static const char *const cache_mode_names[] = {"off", "exact", "semantic"};
static const char *const dedup_names[] = {"auto", "on", "off"};
static const char *const server_keys[] = {"listen",
                                          "workers",
                                          "max_body_bytes",
                                          "drain_timeout_ms",
                                          "stream_high_water_bytes",
                                          "sse_keepalive_ms",
                                          "ready_requires_providers"};
static const char *const log_keys[] = {"level", "requests"};
static const char *const provider_keys[] = {"name",
                                            "type",
                                            "base_url",
                                            "api_key_env",
                                            "timeouts",
                                            "headers",
                                            "forward_headers",
                                            "transport",
                                            "discover",
                                            "discover_interval_s",
                                            "optional",
                                            "default_max_tokens",
                                            "demo",
                                            "health"};
static const char *const health_keys[] = {"path",           "interval_s",    "timeout_ms", "unhealthy_after",
                                          "healthy_after", "loaded",        "slots"};
static const char *const timeout_keys[] = {"connect_ms", "first_byte_ms", "idle_ms", "total_ms"};
static const char *const model_keys[] = {"name",          "deployments",     "cache",
                                         "dedup",         "strategy",        "retries",
                                         "circuit_breaker", "when_all_open", "timeout_ms",
                                         "fallbacks",     "context_fallbacks", "router",
                                         "tiers",         "complexity",      "hedge"};
#define MODEL_REQUIRED_KEYS 2 /* name, deployments */
#define ROUTE_KEY0 4          /* model_keys[4..8] are route_keys[0..4] */
#define MODEL_CX_KEY0 11      /* model_keys[11..13]: router, tiers, complexity */
#define HEDGE_KEY 14
static const char *const deployment_keys[] = {"provider", "model", "weight", "max_inflight", "price", "rpm", "tpm"};
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const type_names[] = {"openai", "ollama", "anthropic"};
static const char *const transport_names[] = {"auto", "curl"};
/* Headers the HTTP client owns: overriding them would break the framing. */
static const char *const reserved_headers[] = {"host", "content-length", "transfer-encoding",
                                               "connection"};

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

const char *sy_provider_type_name(sy_provider_type_t t)
{
    if ((unsigned)t < NKEYS(type_names))
        return type_names[t];
    return "unknown";
}

const char *sy_strategy_name(sy_strategy_t s)
{
    if ((unsigned)s < NKEYS(strategy_names))
        return strategy_names[s];
    return "unknown";
}

/* ---------------------------------------------------------------- diagnostics */

static char *dup_mem(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static char *dup_str(const char *s)
{
    return dup_mem(s, strlen(s));
}

/* Append one diagnostic; false on allocation failure. */
static bool diag_push(sy_diags_t *d, const char *file, int line, int col, const char *msg)
{
    sy_diag_t *items = realloc(d->items, (d->n + 1) * sizeof(*items));
    if (!items)
        return false;
    d->items = items;
    sy_diag_t *it = &items[d->n];
    it->file = dup_str(file);
    it->message = dup_str(msg);
    it->line = line;
    it->col = col;
    if (!it->file || !it->message) {
        free(it->file);
        free(it->message);
        return false;
    }
    d->n++;
    return true;
}

static void report(loader_t *ld, pos_t p, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record one problem at p. Past SY_CONF_MAX_PROBLEMS problems are only counted. */
static void report(loader_t *ld, pos_t p, const char *fmt, ...)
{
    ld->problems++;
    if (!ld->diags || ld->problems > SY_CONF_MAX_PROBLEMS)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!diag_push(ld->diags, ld->file, p.line > 0 ? p.line : 1, p.col > 0 ? p.col : 1, msg))
        ld->oom = true;
}

/* Stable insertion sort of this load's diagnostics by line, then column. */
static void sort_diags(loader_t *ld)
{
    if (!ld->diags)
        return;
    sy_diag_t *v = ld->diags->items;
    for (size_t i = ld->first_diag + 1; i < ld->diags->n; i++) {
        sy_diag_t x = v[i];
        size_t j = i;
        while (j > ld->first_diag &&
               (v[j - 1].line > x.line || (v[j - 1].line == x.line && v[j - 1].col > x.col))) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

void sy_diags_print(FILE *out, const sy_diags_t *diags)
{
    if (!diags)
        return;
    for (size_t i = 0; i < diags->n; i++) {
        const sy_diag_t *d = &diags->items[i];
        fprintf(out, "%s:%d:%d: %s\n", d->file, d->line, d->col, d->message);
    }
}

void sy_diags_release(sy_diags_t *diags)
{
    if (!diags)
        return;
    for (size_t i = 0; i < diags->n; i++) {
        free(diags->items[i].file);
        free(diags->items[i].message);
    }
    free(diags->items);
    diags->items = NULL;
    diags->n = 0;
}

/* ---------------------------------------------------------------- did you mean */

/* Levenshtein distance of two short strings; SIZE_MAX when either is too long. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    enum { MAXLEN = 64 };
    size_t row[MAXLEN + 1];
    if (la > MAXLEN || lb > MAXLEN)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/*
 * The candidate closest to word: the smallest edit distance up to 2 (and
 * smaller than the word, so "a" suggests nothing), else a prefix match of
 * at least 3 characters either way. NULL when nothing is close.
 */
static const char *suggest(const char *word, size_t wlen, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        size_t d = edit_distance(word, wlen, cands[i], strlen(cands[i]));
        if (d < best_d && d < wlen) {
            best = cands[i];
            best_d = d;
        }
    }
    if (best)
        return best;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        size_t cl = strlen(cands[i]);
        if (wlen >= 3 && wlen < cl && strncasecmp(cands[i], word, wlen) == 0)
            return cands[i];
        if (cl >= 3 && cl < wlen && strncasecmp(cands[i], word, cl) == 0)
            return cands[i];
    }
    return NULL;
}

/* ---------------------------------------------------------------- node helpers */

/* A printable, bounded rendering of untrusted text for a message (size >= 8). */
static const char *show(char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    size_t i = 0;
    for (; i < len && o + 4 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static pos_t token_pos(struct fy_token *t, pos_t fallback)
{
    const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
    if (!m)
        return fallback;
    pos_t p = {m->line + 1, m->column + 1};
    /* A quoted scalar's mark is past its opening quote; point at the quote. */
    if (fy_token_get_type(t) == FYTT_SCALAR && p.col > 1) {
        enum fy_scalar_style st = fy_token_scalar_style(t);
        if (st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED)
            p.col--;
    }
    return p;
}

/* Where a value is: a scalar's own token; a collection (or an empty value) at its key. */
static pos_t value_pos(struct fy_node *n, pos_t key)
{
    if (n && fy_node_get_type(n) == FYNT_SCALAR)
        return token_pos(fy_node_get_scalar_token(n), key);
    return key;
}

/* Where a sequence item is: a scalar's token, a mapping's first key, else fallback. */
static pos_t item_pos(struct fy_node *n, pos_t fallback)
{
    if (!n)
        return fallback;
    switch (fy_node_get_type(n)) {
    case FYNT_SCALAR:
        return value_pos(n, fallback);
    case FYNT_MAPPING: {
        void *it = NULL;
        struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
        return p ? item_pos(fy_node_pair_key(p), fallback) : fallback;
    }
    case FYNT_SEQUENCE: {
        void *it = NULL;
        return item_pos(fy_node_sequence_iterate(n, &it), fallback);
    }
    }
    return fallback;
}

/* A YAML null: no node, or a plain empty/~/null scalar. */
static bool is_null(struct fy_node *n)
{
    if (!n)
        return true;
    if (fy_node_get_type(n) != FYNT_SCALAR || fy_node_get_style(n) != FYNS_PLAIN)
        return false;
    size_t len = 0;
    const char *s = fy_node_get_scalar(n, &len);
    if (!s || len == 0)
        return true;
    return (len == 1 && s[0] == '~') ||
           (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* The text of a non-null scalar, or NULL. */
static const char *scalar_text(struct fy_node *n, size_t *len)
{
    *len = 0;
    if (!n || fy_node_get_type(n) != FYNT_SCALAR || is_null(n))
        return NULL;
    const char *s = fy_node_get_scalar(n, len);
    if (!s)
        *len = 0;
    return s;
}

static bool has_control(const char *s, size_t len, bool allow_tab)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && !(allow_tab && c == '\t')) || c == 0x7f)
            return true;
    }
    return false;
}

/*
 * Read a string value into *out (owned by the caller). Rejects collections,
 * nulls, control characters, empty strings (unless allow_empty) and strings
 * longer than max. Returns true when *out was set.
 */
static bool get_string(loader_t *ld, struct fy_node *n, pos_t key, const char *path,
                       bool allow_empty, size_t max, char **out)
{
    pos_t p = value_pos(n, key);
    size_t len;
    const char *s = scalar_text(n, &len);
    if (!s) {
        report(ld, p, "%s: expected a string", path);
        return false;
    }
    if (len == 0 && !allow_empty) {
        report(ld, p, "%s: must not be empty", path);
        return false;
    }
    if (len > max) {
        report(ld, p, "%s: too long (max %zu bytes)", path, max);
        return false;
    }
    /* Only free-form values (header values, the one place allow_empty is set) may hold a tab. */
    if (has_control(s, len, allow_empty)) {
        report(ld, p, "%s: must not contain control characters", path);
        return false;
    }
    char *d = dup_mem(s, len);
    if (!d) {
        ld->oom = true;
        return false;
    }
    free(*out);
    *out = d;
    return true;
}

/*
 * Read a plain decimal integer in [min, max]. Negative numbers, fractions,
 * quoted strings and overflow are all rejected with a message naming path.
 */
/* Leading decimal digits of s[0..len) (the text is not NUL-terminated). */
#define MAX_EXPANDED_NODES 100000

/* Nodes under n with every alias expanded; stops counting past limit, so
 * the walk costs at most ~limit steps whatever the aliases do. */
static size_t expanded_nodes(struct fy_node *n, int depth, size_t limit)
{
    if (!n)
        return 0;
    if (depth > 256)
        return limit + 1;
    if (fy_node_is_alias(n)) {
        struct fy_node *t = fy_node_resolve_alias(n);
        return t ? expanded_nodes(t, depth + 1, limit) : 1;
    }
    size_t total = 1;
    void *it = NULL;
    if (fy_node_is_sequence(n)) {
        struct fy_node *item;
        while (total <= limit && (item = fy_node_sequence_iterate(n, &it)) != NULL)
            total += expanded_nodes(item, depth + 1, limit - total + 1);
    } else if (fy_node_is_mapping(n)) {
        struct fy_node_pair *pr;
        while (total <= limit && (pr = fy_node_mapping_iterate(n, &it)) != NULL) {
            total += expanded_nodes(fy_node_pair_key(pr), depth + 1, limit - total + 1);
            if (total <= limit)
                total += expanded_nodes(fy_node_pair_value(pr), depth + 1, limit - total + 1);
        }
    }
    return total;
}

static size_t count_digits(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

static bool get_uint(loader_t *ld, struct fy_node *n, pos_t key, const char *path, uint64_t min,
                     uint64_t max, uint64_t *out)
{
    pos_t p = value_pos(n, key);
    const char *what = min >= 1 ? "a positive integer" : "a non-negative integer";
    size_t len;
    const char *s = scalar_text(n, &len);
    bool digits = s && fy_node_get_style(n) == FYNS_PLAIN && len > 0 && len <= 20;
    for (size_t i = 0; digits && i < len; i++)
        digits = s[i] >= '0' && s[i] <= '9';
    if (!digits) {
        if (s && len > 0 && len < 64 && s[0] == '-' && fy_node_get_style(n) == FYNS_PLAIN)
            report(ld, p, "%s: expected %s, not a negative number", path, what);
        else if (s && fy_node_get_style(n) == FYNS_PLAIN && len > 20 && count_digits(s, len) == len)
            report(ld, p, "%s: out of range (%llu..%llu)", path, (unsigned long long)min,
                   (unsigned long long)max);
        else
            report(ld, p, "%s: expected %s", path, what);
        return false;
    }
    char buf[24];
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, 10);
    if (errno == ERANGE || v > max) {
        report(ld, p, "%s: out of range (%llu..%llu)", path, (unsigned long long)min,
               (unsigned long long)max);
        return false;
    }
    if (v < min) {
        report(ld, p, "%s: expected %s", path, what);
        return false;
    }
    *out = v;
    return true;
}

static bool get_bool(loader_t *ld, struct fy_node *n, pos_t key, const char *path, int *out)
{
    size_t len;
    const char *s = scalar_text(n, &len);
    if (s && fy_node_get_style(n) == FYNS_PLAIN) {
        if ((len == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4)))) {
            *out = 1;
            return true;
        }
        if ((len == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5)))) {
            *out = 0;
            return true;
        }
    }
    report(ld, value_pos(n, key), "%s: expected true or false", path);
    return false;
}

/* One of names[] (exact match); reports "expected one of ..." otherwise. */
static bool get_enum(loader_t *ld, struct fy_node *n, pos_t key, const char *path,
                     const char *const *names, size_t count, int *out)
{
    size_t len;
    const char *s = scalar_text(n, &len);
    for (size_t i = 0; s && i < count; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
            *out = (int)i;
            return true;
        }
    }
    char list[256] = "";
    size_t o = 0;
    for (size_t i = 0; i < count && o < sizeof(list); i++) {
        int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    report(ld, value_pos(n, key), "%s: expected one of %s", path, list);
    return false;
}

static bool expect_mapping(loader_t *ld, struct fy_node *n, pos_t key, const char *path)
{
    if (n && fy_node_get_type(n) == FYNT_MAPPING)
        return true;
    report(ld, value_pos(n, key), "%s: expected a mapping", path);
    return false;
}

static bool expect_sequence(loader_t *ld, struct fy_node *n, pos_t key, const char *path,
                            size_t max)
{
    if (!n || fy_node_get_type(n) != FYNT_SEQUENCE) {
        report(ld, value_pos(n, key), "%s: expected a list", path);
        return false;
    }
    if ((size_t)fy_node_sequence_item_count(n) > max) {
        report(ld, key, "%s: too many entries (max %zu)", path, max);
        return false;
    }
    return true;
}

/*
 * Check one key of a mapping against the allowed ones. Returns its index in
 * keys[], or -1 after reporting an unknown (or non-string) key. where names
 * the mapping in the message ("server", "providers[0]"); NULL is the top level.
 */
static int match_key(loader_t *ld, struct fy_node *k, const char *where,
                     const char *const *keys, size_t nkeys, pos_t *kpos, pos_t fallback)
{
    *kpos = item_pos(k, fallback);
    size_t len;
    const char *s = scalar_text(k, &len);
    if (!s || fy_node_get_type(k) != FYNT_SCALAR) {
        report(ld, *kpos, "%s: keys must be strings", where ? where : "top level");
        return -1;
    }
    for (size_t i = 0; i < nkeys; i++)
        if (strlen(keys[i]) == len && memcmp(keys[i], s, len) == 0)
            return (int)i;

    char name[80];
    char in[96];
    show(name, sizeof(name), s, len);
    if (where)
        snprintf(in, sizeof(in), "in %s", where);
    else
        snprintf(in, sizeof(in), "at the top level");
    const char *hint = suggest(s, len, keys, nkeys);
    if (hint) {
        report(ld, *kpos, "unknown key \"%s\" %s; did you mean \"%s\"?", name, in, hint);
    } else {
        char list[256] = "";
        size_t o = 0;
        for (size_t i = 0; i < nkeys && o < sizeof(list); i++) {
            int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", keys[i]);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        report(ld, *kpos, "unknown key \"%s\" %s; expected one of %s", name, in, list);
    }
    return -1;
}

/* ---------------------------------------------------------------- listen */

int sy_config_parse_listen(const char *s, char *host, size_t host_size, uint16_t *port)
{
    const char *h = s;
    size_t hlen;
    const char *colon;
    bool v6 = false;

    if (!s || host_size == 0)
        return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
        v6 = true;
    } else {
        colon = strchr(s, ':');
        if (!colon || strchr(colon + 1, ':'))
            return -1; /* no port, or an IPv6 address without brackets */
        hlen = (size_t)(colon - s);
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen)
        return -1;
    unsigned long pv = strtoul(p, NULL, 10);
    if (pv > 65535)
        return -2;

    char tmp[256];
    if (hlen == 0) {
        if (v6)
            return -1;
        h = "0.0.0.0";
        hlen = 7;
    }
    if (hlen >= sizeof(tmp) || hlen >= host_size)
        return -1;
    memcpy(tmp, h, hlen);
    tmp[hlen] = '\0';
    if (v6) {
        unsigned char addr[16];
        if (inet_pton(AF_INET6, tmp, addr) != 1)
            return -1;
    } else {
        for (size_t i = 0; i < hlen; i++) {
            unsigned char c = (unsigned char)tmp[i];
            if (!isalnum(c) && c != '.' && c != '-' && c != '_')
                return -1;
        }
    }
    memcpy(host, tmp, hlen + 1);
    *port = (uint16_t)pv;
    return 0;
}

int sy_config_set_listen(sy_config_t *cfg, const char *addr)
{
    char host[256];
    uint16_t port;
    int rc = sy_config_parse_listen(addr, host, sizeof(host), &port);
    if (rc < 0)
        return rc;
    char *l = dup_str(addr);
    char *h = dup_str(host);
    if (!l || !h) {
        free(l);
        free(h);
        return -3;
    }
    free(cfg->server.listen);
    free(cfg->server.host);
    cfg->server.listen = l;
    cfg->server.host = h;
    cfg->server.port = port;
    return 0;
}

/* ---------------------------------------------------------------- sections */

static void parse_server(loader_t *ld, struct fy_node *map, pos_t mpos)
{
    sy_server_conf_t *sv = &ld->cfg->server;
    if (!expect_mapping(ld, map, mpos, "server"))
        return;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        pos_t kp;
        struct fy_node *v = fy_node_pair_value(pr);
        int k = match_key(ld, fy_node_pair_key(pr), "server", server_keys, NKEYS(server_keys),
                          &kp, mpos);
        uint64_t u;
        char path[64];
        if (k < 0)
            continue;
        snprintf(path, sizeof(path), "server.%s", server_keys[k]);
        switch (k) {
        case 0: { /* listen */
            char *addr = NULL;
            if (!get_string(ld, v, kp, path, false, 512, &addr))
                break;
            char host[256];
            uint16_t port;
            int rc = sy_config_parse_listen(addr, host, sizeof(host), &port);
            char *hd = NULL;
            if (rc == -2) {
                report(ld, value_pos(v, kp), "%s: port out of range (0..65535)", path);
            } else if (rc < 0) {
                report(ld, value_pos(v, kp),
                       "%s: expected \"host:port\", \"[v6]:port\" or \":port\"", path);
            } else if ((hd = dup_str(host)) == NULL) {
                ld->oom = true;
            } else {
                free(sv->listen);
                free(sv->host);
                sv->listen = addr;
                sv->host = hd;
                sv->port = port;
                addr = NULL;
            }
            free(addr);
            break;
        }
        case 1: { /* workers */
            size_t len;
            const char *s = scalar_text(v, &len);
            if (s && len == 4 && memcmp(s, "auto", 4) == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                sv->workers = n < 1 ? 1u : n > SY_CONF_MAX_WORKERS ? SY_CONF_MAX_WORKERS : (unsigned)n;
                break;
            }
            /* libfyaml's scalar text is not NUL-terminated: count within len */
            size_t nd = s ? count_digits(s, len) : 0, nz = 0;
            while (s && nz < len && s[nz] == '0')
                nz++;
            bool digits = s && len > 0 && fy_node_get_style(v) == FYNS_PLAIN && nd == len;
            if (digits && nz != len) {
                if (get_uint(ld, v, kp, path, 1, SY_CONF_MAX_WORKERS, &u))
                    sv->workers = (unsigned)u;
                break;
            }
            report(ld, value_pos(v, kp), "%s: expected a positive integer or \"auto\"", path);
            break;
        }
        case 2:
            if (get_uint(ld, v, kp, path, 1, UINT32_MAX, &u))
                sv->max_body_bytes = (size_t)u;
            break;
        case 3:
            if (get_uint(ld, v, kp, path, 0, UINT32_MAX, &u))
                sv->drain_timeout_ms = (uint32_t)u;
            break;
        case 4:
            if (get_uint(ld, v, kp, path, 1, UINT32_MAX, &u))
                sv->stream_high_water_bytes = (size_t)u;
            break;
        case 5:
            if (get_uint(ld, v, kp, path, 0, UINT32_MAX, &u))
                sv->sse_keepalive_ms = (uint32_t)u;
            break;
        case 6:
            get_bool(ld, v, kp, path, &sv->ready_requires_providers);
            break;
        }
    }
}

static void parse_log(loader_t *ld, struct fy_node *map, pos_t mpos)
{
    if (!expect_mapping(ld, map, mpos, "log"))
        return;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        pos_t kp;
        struct fy_node *v = fy_node_pair_value(pr);
        int k = match_key(ld, fy_node_pair_key(pr), "log", log_keys, NKEYS(log_keys), &kp, mpos);
        if (k == 0) {
            int lv;
            if (get_enum(ld, v, kp, "log.level", level_names, NKEYS(level_names), &lv))
                ld->cfg->log.level = lv;
        } else if (k == 1) {
            get_bool(ld, v, kp, "log.requests", &ld->cfg->log.requests);
        }
    }
}

static void parse_timeouts(loader_t *ld, struct fy_node *map, pos_t mpos, const char *where,
                           sy_timeouts_t *t)
{
    if (!expect_mapping(ld, map, mpos, where))
        return;
    uint32_t *slots[] = {&t->connect_ms, &t->first_byte_ms, &t->idle_ms, &t->total_ms};
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        pos_t kp;
        char path[160];
        uint64_t u;
        int k = match_key(ld, fy_node_pair_key(pr), where, timeout_keys, NKEYS(timeout_keys), &kp,
                          mpos);
        if (k < 0)
            continue;
        snprintf(path, sizeof(path), "%s.%s", where, timeout_keys[k]);
        if (get_uint(ld, fy_node_pair_value(pr), kp, path, 0, UINT32_MAX, &u))
            *slots[k] = (uint32_t)u;
    }
}

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void parse_headers(loader_t *ld, struct fy_node *map, pos_t mpos, const char *where,
                          sy_provider_conf_t *pv)
{
    if (!expect_mapping(ld, map, mpos, where))
        return;
    int count = fy_node_mapping_item_count(map);
    if (count > SY_CONF_MAX_HEADERS) {
        report(ld, mpos, "%s: too many headers (max %d)", where, SY_CONF_MAX_HEADERS);
        return;
    }
    if (count <= 0)
        return;
    pv->headers = calloc((size_t)count, sizeof(*pv->headers));
    if (!pv->headers) {
        ld->oom = true;
        return;
    }
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        struct fy_node *k = fy_node_pair_key(pr);
        pos_t kp = item_pos(k, mpos);
        size_t len;
        const char *s = scalar_text(k, &len);
        char shown[80];
        char path[256];
        bool ok = s && len > 0 && len <= SY_CONF_MAX_NAME;
        for (size_t i = 0; ok && i < len; i++)
            ok = is_tchar((unsigned char)s[i]);
        if (!ok) {
            report(ld, kp, "%s: \"%s\" is not a valid header name", where,
                   s ? show(shown, sizeof(shown), s, len) : "");
            continue;
        }
        show(shown, sizeof(shown), s, len);
        snprintf(path, sizeof(path), "%s.%s", where, shown);
        bool reserved = false;
        for (size_t i = 0; i < NKEYS(reserved_headers); i++)
            if (strlen(reserved_headers[i]) == len && !strncasecmp(reserved_headers[i], s, len))
                reserved = true;
        if (reserved) {
            report(ld, kp, "%s: \"%s\" is set by switchyard and cannot be configured", where,
                   shown);
            continue;
        }
        bool dup = false;
        for (size_t i = 0; i < pv->n_headers; i++)
            if (strlen(pv->headers[i].name) == len && !strncasecmp(pv->headers[i].name, s, len))
                dup = true;
        if (dup) {
            report(ld, kp, "%s: duplicate header \"%s\"", where, shown);
            continue;
        }
        char *value = NULL;
        if (!get_string(ld, fy_node_pair_value(pr), kp, path, true, SY_CONF_MAX_STRING, &value))
            continue;
        char *name = dup_mem(s, len);
        if (!name) {
            free(value);
            ld->oom = true;
            return;
        }
        pv->headers[pv->n_headers].name = name;
        pv->headers[pv->n_headers].value = value;
        pv->n_headers++;
    }
}

/* forward_headers: a list of client header names to pass upstream, each a
 * name or a prefix ending in '*' ("x-mock-*"); stored lower-cased. */
static void parse_forward_headers(loader_t *ld, struct fy_node *seq, pos_t kpos, const char *where,
                                  sy_provider_conf_t *pv)
{
    if (!expect_sequence(ld, seq, kpos, where, SY_CONF_MAX_HEADERS))
        return;
    size_t n = (size_t)fy_node_sequence_item_count(seq);
    if (n == 0)
        return;
    pv->forward_headers = calloc(n, sizeof(*pv->forward_headers));
    if (!pv->forward_headers) {
        ld->oom = true;
        return;
    }
    void *it = NULL;
    struct fy_node *item;
    size_t i = 0;
    while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
        char path[128];
        char *name = NULL;
        snprintf(path, sizeof(path), "%s[%zu]", where, i++);
        if (!get_string(ld, item, item_pos(item, kpos), path, false, SY_CONF_MAX_NAME, &name))
            continue;
        size_t len = strlen(name);
        bool ok = len > 0;
        for (size_t j = 0; ok && j < len; j++) {
            ok = is_tchar((unsigned char)name[j]) && (name[j] != '*' || j == len - 1);
            name[j] = (char)tolower((unsigned char)name[j]);
        }
        if (!ok) {
            report(ld, item_pos(item, kpos),
                   "%s: expected a header name, or a prefix ending in '*' (\"x-trace-*\")", path);
            free(name);
            continue;
        }
        pv->forward_headers[pv->n_forward_headers++] = name;
    }
}

static bool valid_env_name(const char *s)
{
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; s[i]; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* Validate base_url in place: scheme, host, no spaces; trailing '/' removed. */
static bool check_base_url(loader_t *ld, char *url, pos_t p, const char *path)
{
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else {
        report(ld, p, "%s: must start with http:// or https://", path);
        return false;
    }
    for (const char *c = url; *c; c++) {
        if (*c == ' ') {
            report(ld, p, "%s: must not contain spaces", path);
            return false;
        }
    }
    size_t len = strlen(url);
    while (len > skip && url[len - 1] == '/')
        url[--len] = '\0';
    if (len == skip || url[skip] == '/' || url[skip] == '?' || url[skip] == '#') {
        report(ld, p, "%s: missing host after the scheme", path);
        return false;
    }
    return true;
}

/* Report item idx of a list (providers, models) when an earlier item has
 * its name. items is the array, stride its element size, name_off where the
 * name pointer sits in an element. */
static void report_duplicate(loader_t *ld, const char *kind, const char *path, const void *items, size_t stride,
                             size_t name_off, size_t idx, const pos_t *name_pos)
{
    const char *name, *other;
    memcpy(&name, (const char *)items + idx * stride + name_off, sizeof(name));
    for (size_t j = 0; name && j < idx; j++) {
        memcpy(&other, (const char *)items + j * stride + name_off, sizeof(other));
        if (other && strcmp(other, name) == 0) {
            char shown[80];
            report(ld, name_pos[idx], "%s: duplicate %s name \"%s\" (first defined at line %d)", path, kind,
                   show(shown, sizeof(shown), name, strlen(name)), name_pos[j].line);
            return;
        }
    }
}

/* ---------------------------------------------------------------- providers[].health
 * Active probes (providers/health.h). `health: true` takes every default,
 * a mapping sets some keys, `health: false` (or no key) turns probing off. */

static void health_defaults(sy_health_conf_t *h)
{
    h->interval_ms = 10000;
    h->timeout_ms = 2000;
    h->unhealthy_after = 2;
    h->healthy_after = 1;
    h->loaded = -1; /* unsaid: on for ollama */
}

static bool get_double(loader_t *ld, struct fy_node *n, pos_t key, const char *path, double min, double max,
                       double *out);

static void parse_health(loader_t *ld, struct fy_node *v, pos_t kp, const char *where, sy_provider_conf_t *pv)
{
    sy_health_conf_t *h = &pv->health;
    if (v && fy_node_get_type(v) == FYNT_SCALAR) {
        get_bool(ld, v, kp, where, &h->enabled);
        return;
    }
    if (!v || fy_node_get_type(v) != FYNT_MAPPING) {
        report(ld, value_pos(v, kp), "%s: expected true, false or a mapping", where);
        return;
    }
    h->enabled = 1;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(v, &it)) != NULL) {
        pos_t hp;
        char path[128];
        uint64_t u;
        double d;
        struct fy_node *hv = fy_node_pair_value(pr);
        int k = match_key(ld, fy_node_pair_key(pr), where, health_keys, NKEYS(health_keys), &hp, kp);
        if (k < 0)
            continue;
        snprintf(path, sizeof(path), "%s.%s", where, health_keys[k]);
        switch (k) {
        case 0: /* path */
            if (get_string(ld, hv, hp, path, false, 512, &h->path) && h->path[0] != '/') {
                report(ld, value_pos(hv, hp), "%s: must start with \"/\" (it is appended to base_url)", path);
                free(h->path);
                h->path = NULL;
            }
            break;
        case 1: /* interval_s */
            if (get_double(ld, hv, hp, path, 0.05, 86400, &d))
                h->interval_ms = (uint32_t)(d * 1000.0 + 0.5);
            break;
        case 2:
            if (get_uint(ld, hv, hp, path, 1, 600000, &u))
                h->timeout_ms = (uint32_t)u;
            break;
        case 3:
            if (get_uint(ld, hv, hp, path, 1, 100, &u))
                h->unhealthy_after = (uint32_t)u;
            break;
        case 4:
            if (get_uint(ld, hv, hp, path, 1, 100, &u))
                h->healthy_after = (uint32_t)u;
            break;
        case 5:
            get_bool(ld, hv, hp, path, &h->loaded);
            break;
        case 6:
            get_bool(ld, hv, hp, path, &h->slots);
            break;
        }
    }
}

/* What only one type can probe: /api/ps is Ollama's, /slots is llama.cpp's
 * server (an OpenAI-compatible provider). */
static void check_health(loader_t *ld, sy_provider_conf_t *pv, pos_t p, const char *where)
{
    sy_health_conf_t *h = &pv->health;
    if (h->loaded == 1 && pv->type != SY_PROVIDER_OLLAMA)
        report(ld, p, "%s.health.loaded: only a provider of type ollama lists its loaded models (GET /api/ps)",
               where);
    if (h->slots && pv->type != SY_PROVIDER_OPENAI)
        report(ld, p, "%s.health.slots: only a provider of type openai (a llama.cpp server) has slots", where);
    if (h->loaded < 0)
        h->loaded = pv->type == SY_PROVIDER_OLLAMA;
}

static void parse_provider(loader_t *ld, struct fy_node *map, size_t idx, pos_t ipos,
                           pos_t *name_pos)
{
    sy_provider_conf_t *pv = &ld->cfg->providers[idx];
    char where[48];
    snprintf(where, sizeof(where), "providers[%zu]", idx);
    pv->timeouts.connect_ms = 5000;
    pv->default_max_tokens = 4096;
    pv->timeouts.first_byte_ms = 120000;
    pv->timeouts.idle_ms = 60000;
    pv->timeouts.total_ms = 600000;
    pv->discover_interval_s = 60;
    if (!expect_mapping(ld, map, ipos, where))
        return;

    bool seen[NKEYS(provider_keys)] = {false};
    bool type_ok = false;
    int demo = -1; /* not written: follows the name */
    pos_t discover_pos = ipos;
    pos_t health_pos = ipos;
    health_defaults(&pv->health);
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        pos_t kp;
        char path[96];
        struct fy_node *v = fy_node_pair_value(pr);
        int k = match_key(ld, fy_node_pair_key(pr), where, provider_keys, NKEYS(provider_keys),
                          &kp, ipos);
        if (k < 0)
            continue;
        seen[k] = true;
        snprintf(path, sizeof(path), "%s.%s", where, provider_keys[k]);
        switch (k) {
        case 0: /* name */
            if (!get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &pv->name))
                break;
            name_pos[idx] = value_pos(v, kp);
            report_duplicate(ld, "provider", path, ld->cfg->providers, sizeof(*pv),
                             offsetof(sy_provider_conf_t, name), idx, name_pos);
            break;
        case 1: { /* type */
            int t;
            if (get_enum(ld, v, kp, path, type_names, NKEYS(type_names), &t)) {
                pv->type = (sy_provider_type_t)t;
                type_ok = true;
            }
            break;
        }
        case 2: /* base_url */
            if (get_string(ld, v, kp, path, false, 2048, &pv->base_url) &&
                !check_base_url(ld, pv->base_url, value_pos(v, kp), path)) {
                free(pv->base_url);
                pv->base_url = NULL;
            }
            break;
        case 3: /* api_key_env */
            if (!get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &pv->api_key_env))
                break;
            if (!valid_env_name(pv->api_key_env)) {
                report(ld, value_pos(v, kp),
                       "%s: expected an environment variable name (letters, digits, '_')", path);
                break;
            }
            free(pv->api_key);
            pv->api_key = NULL;
            const char *key = getenv(pv->api_key_env);
            if (key && key[0]) {
                pv->api_key = dup_str(key);
                if (!pv->api_key)
                    ld->oom = true;
            }
            break;
        case 4:
            parse_timeouts(ld, v, kp, path, &pv->timeouts);
            break;
        case 5:
            parse_headers(ld, v, kp, path, pv);
            break;
        case 6:
            parse_forward_headers(ld, v, kp, path, pv);
            break;
        case 7: {
            int t;
            if (get_enum(ld, v, kp, path, transport_names, NKEYS(transport_names), &t))
                pv->transport = t;
            break;
        }
        case 8: /* discover */
            discover_pos = kp;
            get_bool(ld, v, kp, path, &pv->discover);
            break;
        case 9: {
            uint64_t u;
            if (get_uint(ld, v, kp, path, 1, SY_CONF_MAX_DISCOVER_INTERVAL, &u))
                pv->discover_interval_s = (uint32_t)u;
            break;
        }
        case 10:
            get_bool(ld, v, kp, path, &pv->optional);
            break;
        case 11: {
            uint64_t u;
            if (get_uint(ld, v, kp, path, 1, SY_CONF_MAX_DEFAULT_MAX_TOKENS, &u))
                pv->default_max_tokens = (int64_t)u;
            break;
        }
        case 12:
            get_bool(ld, v, kp, path, &demo);
            break;
        case 13:
            health_pos = kp;
            parse_health(ld, v, kp, path, pv);
            break;
        }
    }
    for (size_t i = 0; i < 3; i++)
        if (!seen[i])
            report(ld, ipos, "%s: missing required key \"%s\"", where, provider_keys[i]);
    /* Only Ollama has a model listing to discover from (GET /api/tags). */
    if (pv->discover && type_ok && pv->type != SY_PROVIDER_OLLAMA)
        report(ld, discover_pos, "%s.discover: only a provider of type ollama can discover its models", where);
    /* optional: a key that is not there turns the provider off instead of
     * sending its requests without one (which the cloud would refuse). */
    pv->disabled = pv->optional && pv->api_key_env && !pv->api_key;
    pv->demo = demo >= 0 ? demo : pv->name && strncmp(pv->name, "demo-", 5) == 0;
    if (type_ok)
        check_health(ld, pv, health_pos, where);
}

typedef void (*parse_item_fn)(loader_t *ld, struct fy_node *map, size_t idx, pos_t ipos, pos_t *name_pos);

/* A top-level list (providers, models): allocate an array for every item,
 * store it in the config field at field (a pointer to the field's pointer;
 * written with memcpy, as the field is not a void *), then parse each item
 * with fn. name_pos lets fn point duplicate names at the first. */
static void parse_list(loader_t *ld, struct fy_node *seq, pos_t kpos, const char *what, int max, size_t elem,
                       void *field, size_t *count, parse_item_fn fn)
{
    if (!expect_sequence(ld, seq, kpos, what, max))
        return;
    size_t n = (size_t)fy_node_sequence_item_count(seq);
    if (n == 0)
        return;
    pos_t *name_pos = calloc(n, sizeof(*name_pos));
    void *arr = calloc(n, elem);
    if (!name_pos || !arr) {
        free(name_pos);
        free(arr);
        ld->oom = true;
        return;
    }
    memcpy(field, &arr, sizeof(arr));
    *count = n;
    void *it = NULL;
    struct fy_node *item;
    size_t i = 0;
    while ((item = fy_node_sequence_iterate(seq, &it)) != NULL && i < n) {
        fn(ld, item, i, item_pos(item, kpos), name_pos);
        i++;
    }
    free(name_pos);
}

typedef void (*member_fn)(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud);
static void parse_members(loader_t *ld, struct fy_node *map, pos_t mpos, const char *where,
                          const char *const *keys, size_t nkeys, member_fn fn, void *ud);

/* Whether p serves models on this machine or its network: an Ollama
 * server, a demo, or a base URL on a loopback or private address. */
static bool local_provider(const sy_provider_conf_t *p)
{
    if (p->type == SY_PROVIDER_OLLAMA || p->demo)
        return true;
    const char *u = p->base_url ? strstr(p->base_url, "://") : NULL;
    if (!u)
        return false;
    u += 3;
    char host[64];
    size_t n = strcspn(u, "/");
    if (*u == '[') { /* [v6]:port */
        const char *e = memchr(u, ']', n);
        if (!e)
            return false;
        n = (size_t)(e - u - 1);
        u++;
    } else {
        const char *c = memchr(u, ':', n);
        if (c)
            n = (size_t)(c - u);
    }
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, u, n);
    host[n] = '\0';
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return true;
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1)
        return false;
    uint32_t h = ntohl(a.s_addr);
    return (h >> 24) == 127 || (h >> 24) == 10 || (h >> 20) == 0xac1 || (h >> 16) == 0xc0a8;
}

static void price_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    sy_deployment_conf_t *dp = ud;
    get_double(ld, v, kp, path, 0.0, 1e6, k == 0 ? &dp->price_in : &dp->price_out);
}

/* deployments[i].price: { input_per_mtok, output_per_mtok } (a price left
 * out is 0) */
static void parse_price(loader_t *ld, struct fy_node *v, pos_t kp, const char *path, sy_deployment_conf_t *dp)
{
    dp->priced = 1;
    parse_members(ld, v, kp, path, price_keys, NKEYS(price_keys), price_member, dp);
}

static void parse_deployment(loader_t *ld, struct fy_node *map, const char *where, pos_t ipos,
                             sy_deployment_conf_t *dp)
{
    dp->weight = 1;
    if (!expect_mapping(ld, map, ipos, where))
        return;
    bool seen[NKEYS(deployment_keys)] = {false};
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        pos_t kp;
        char path[160];
        uint64_t u;
        struct fy_node *v = fy_node_pair_value(pr);
        int k = match_key(ld, fy_node_pair_key(pr), where, deployment_keys,
                          NKEYS(deployment_keys), &kp, ipos);
        if (k < 0)
            continue;
        seen[k] = true;
        snprintf(path, sizeof(path), "%s.%s", where, deployment_keys[k]);
        if (k == 0) {
            if (!get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &dp->provider))
                continue;
            /* Resolve against the providers parsed in the first pass. */
            const sy_config_t *cfg = ld->cfg;
            bool found = false;
            for (size_t j = 0; j < cfg->n_providers; j++) {
                if (cfg->providers[j].name && !strcmp(cfg->providers[j].name, dp->provider)) {
                    dp->provider_index = j;
                    found = true;
                    break;
                }
            }
            if (found)
                continue;
            char shown[80];
            show(shown, sizeof(shown), dp->provider, strlen(dp->provider));
            const char *cands[SY_CONF_MAX_PROVIDERS];
            for (size_t j = 0; j < cfg->n_providers; j++)
                cands[j] = cfg->providers[j].name;
            const char *hint = suggest(dp->provider, strlen(dp->provider), cands, cfg->n_providers);
            if (hint)
                report(ld, value_pos(v, kp), "%s: unknown provider \"%s\"; did you mean \"%s\"?",
                       path, shown, hint);
            else
                report(ld, value_pos(v, kp), "%s: unknown provider \"%s\"", path, shown);
        } else if (k == 1) {
            get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &dp->model);
        } else if (k == 2) {
            if (get_uint(ld, v, kp, path, 0, SY_CONF_MAX_WEIGHT, &u))
                dp->weight = (uint32_t)u;
        } else if (k == 3) {
            if (get_uint(ld, v, kp, path, 0, 1000000, &u))
                dp->max_inflight = (uint32_t)u;
        } else if (k == 4) {
            parse_price(ld, v, kp, path, dp);
        } else if (k == 5) {
            if (get_uint(ld, v, kp, path, 0, 100000000, &u))
                dp->rpm = (uint32_t)u;
        } else if (get_uint(ld, v, kp, path, 0, UINT64_MAX / 2, &u)) {
            dp->tpm = u;
        }
    }
    for (size_t i = 0; i < 2; i++)
        if (!seen[i])
            report(ld, ipos, "%s: missing required key \"%s\"", where, deployment_keys[i]);
    /* a model on the user's own machine or network costs nothing per token */
    if (!seen[4] && seen[0] && dp->provider_index < ld->cfg->n_providers &&
        local_provider(&ld->cfg->providers[dp->provider_index]))
        dp->priced = 1;
}

/* A number in [min, max] (a plain YAML int or float). */
static bool get_double(loader_t *ld, struct fy_node *n, pos_t key, const char *path, double min, double max,
                       double *out)
{
    size_t len;
    const char *s = scalar_text(n, &len);
    char buf[64], *end = NULL;
    if (s && fy_node_get_style(n) == FYNS_PLAIN && len > 0 && len < sizeof(buf)) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        errno = 0;
        double d = strtod(buf, &end);
        if (errno == 0 && end == buf + len && d == d) {
            if (d < min || d > max) {
                report(ld, value_pos(n, key), "%s: out of range (%g..%g)", path, min, max);
                return false;
            }
            *out = d;
            return true;
        }
    }
    report(ld, value_pos(n, key), "%s: expected a number", path);
    return false;
}

/* A mapping whose keys are all in keys[]; calls fn(k, value, key pos, path)
 * for each known one. */

static void parse_members(loader_t *ld, struct fy_node *map, pos_t mpos, const char *where,
                          const char *const *keys, size_t nkeys, member_fn fn, void *ud)
{
    if (!expect_mapping(ld, map, mpos, where))
        return;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        pos_t kp;
        char path[128];
        struct fy_node *v = fy_node_pair_value(pr);
        int k = match_key(ld, fy_node_pair_key(pr), where, keys, nkeys, &kp, mpos);
        if (k < 0)
            continue;
        snprintf(path, sizeof(path), "%s.%s", where, keys[k]);
        fn(ld, k, v, kp, path, ud);
    }
}

static void cache_memory_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    (void)k, (void)ud;
    get_uint(ld, v, kp, path, 0, UINT64_MAX / 2, &ld->cfg->cache.memory_max_bytes);
}

static void cache_redis_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    char *url = NULL;
    uint64_t ms;
    (void)ud;
    if (k == 1 || k == 2) {
        if (get_uint(ld, v, kp, path, 1, 60000, &ms))
            *(k == 1 ? &ld->cfg->cache.redis_connect_timeout_ms : &ld->cfg->cache.redis_command_timeout_ms) =
                (uint32_t)ms;
        return;
    }
    if (!get_string(ld, v, kp, path, false, 2048, &url))
        return;
    if (strncmp(url, "rediss://", 9) == 0) {
        report(ld, value_pos(v, kp), "%s: TLS to Redis (rediss://) is not supported; use redis:// on a trusted network or unix://", path);
        free(url);
        return;
    }
    if (strncmp(url, "redis://", 8) != 0 && strncmp(url, "unix://", 7) != 0) {
        report(ld, value_pos(v, kp), "%s: expected a redis:// or unix:// URL", path);
        free(url);
        return;
    }
    free(ld->cfg->cache.redis_url);
    ld->cfg->cache.redis_url = url;
}

static void cache_sqlite_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    (void)ud;
    if (k == 0) {
        char *p = NULL;
        if (get_string(ld, v, kp, path, false, 4096, &p)) {
            free(ld->cfg->cache.sqlite_path);
            ld->cfg->cache.sqlite_path = p;
        }
    } else {
        get_uint(ld, v, kp, path, 1048576, UINT64_MAX / 2, &ld->cfg->cache.sqlite_max_bytes);
    }
}

static void cache_semantic_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    (void)ud;
    if (k == 0) {
        char *e = NULL;
        if (get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &e)) {
            free(ld->cfg->cache.embedder);
            ld->cfg->cache.embedder = e;
            ld->embedder_pos = value_pos(v, kp);
        }
    } else {
        get_double(ld, v, kp, path, 0.0, 1.0, &ld->cfg->cache.threshold);
    }
}

static void cache_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    (void)ud;
    switch (k) {
    case 0:
        parse_members(ld, v, kp, path, cache_memory_keys, NKEYS(cache_memory_keys), cache_memory_member, NULL);
        break;
    case 1:
        parse_members(ld, v, kp, path, cache_redis_keys, NKEYS(cache_redis_keys), cache_redis_member, NULL);
        break;
    case 2:
        parse_members(ld, v, kp, path, cache_sqlite_keys, NKEYS(cache_sqlite_keys), cache_sqlite_member, NULL);
        break;
    case 3:
        parse_members(ld, v, kp, path, cache_semantic_keys, NKEYS(cache_semantic_keys), cache_semantic_member,
                      NULL);
        break;
    }
}

static void model_cache_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    sy_model_conf_t *m = ud;
    uint64_t u;
    int mode;
    if (k == 0) {
        if (get_enum(ld, v, kp, path, cache_mode_names, NKEYS(cache_mode_names), &mode))
            m->cache_mode = (sy_cache_mode_t)mode;
    } else if (get_uint(ld, v, kp, path, 1, 31536000, &u)) { /* a year */
        m->cache_ttl_s = (uint32_t)u;
    }
}

/* models[i].cache: { mode, ttl_s } */
static void parse_model_cache(loader_t *ld, struct fy_node *v, pos_t kp, const char *path, sy_model_conf_t *m)
{
    parse_members(ld, v, kp, path, model_cache_keys, NKEYS(model_cache_keys), model_cache_member, m);
}

/* ---- routing ---- */

static void retry_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    sy_route_conf_t *rc = ud;
    uint64_t u;
    static const uint64_t max[] = {10, 60000, 600000};
    if (!get_uint(ld, v, kp, path, 0, max[k], &u))
        return;
    *(k == 0 ? &rc->retries : k == 1 ? &rc->backoff_ms : &rc->max_backoff_ms) = (uint32_t)u;
}

static void breaker_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    sy_route_conf_t *rc = ud;
    uint64_t u;
    if (!get_uint(ld, v, kp, path, k == 0 ? 0 : 1, k == 0 ? 1000 : 86400, &u))
        return;
    *(k == 0 ? &rc->cb_failures : k == 1 ? &rc->cb_window_s : &rc->cb_cooldown_s) = (uint32_t)u;
}

/* One key of router.defaults (or of a model, which overrides them). */
static void route_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    sy_route_conf_t *rc = ud;
    int e;
    uint64_t u;
    switch (k) {
    case 0:
        if (get_enum(ld, v, kp, path, strategy_names, NKEYS(strategy_names), &e))
            rc->strategy = (sy_strategy_t)e;
        break;
    case 1:
        parse_members(ld, v, kp, path, retry_keys, NKEYS(retry_keys), retry_member, rc);
        break;
    case 2:
        parse_members(ld, v, kp, path, breaker_keys, NKEYS(breaker_keys), breaker_member, rc);
        break;
    case 3:
        if (get_enum(ld, v, kp, path, all_open_names, NKEYS(all_open_names), &e))
            rc->when_all_open = e;
        break;
    default:
        if (get_uint(ld, v, kp, path, 1, 86400000, &u))
            rc->timeout_ms = (uint32_t)u;
        break;
    }
}

/* ---- routing rules (router.rules) ---- */

static const char *const param_names[] = {"temperature",      "top_p",
                                          "top_k",            "max_tokens",
                                          "seed",             "presence_penalty",
                                          "frequency_penalty"};
/* each parameter's range (integers are checked whole) */
static const double param_min[] = {0, 0, 1, 1, -9007199254740991.0, -2, -2};
static const double param_max[] = {2, 1, 1000000, 100000000, 9007199254740991.0, 2, 2};
static const char *const rule_keys[] = {"name", "match", "action"};
static const char *const match_keys[] = {"api",  "model", "headers", "metadata",     "key",
                                         "team", "prompt", "prompt_icase", "tokens"};
static const char *const action_keys[] = {"route", "set", "cap", "reject"};
static const char *const reject_keys[] = {"status", "message"};
static const char *const tokens_keys[] = {"min", "max"};

#define SY_CONF_MAX_RULES 1024
#define SY_CONF_MAX_GLOBS 64
#define SY_CONF_MAX_RULE_KV 32
#define SY_CONF_MAX_META_KEY 64

const char *sy_param_name(sy_param_t p)
{
    return (unsigned)p < SY_PARAM__N ? param_names[p] : "?";
}

typedef struct params_ud {
    sy_params_t *p;
    int cap;
} params_ud_t;

static void param_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    params_ud_t *pu = ud;
    double d;
    if (pu->cap && k == SY_PARAM_SEED) {
        report(ld, kp, "%s: a seed cannot be capped; use set", path);
        return;
    }
    if (!get_double(ld, v, kp, path, param_min[k], param_max[k], &d))
        return;
    if (SY_PARAM_IS_INT(k) && d != (double)(int64_t)d) {
        report(ld, value_pos(v, kp), "%s: expected a whole number", path);
        return;
    }
    (pu->cap ? pu->p->cap : pu->p->set)[k] = d;
    *(pu->cap ? &pu->p->cap_mask : &pu->p->set_mask) |= 1u << k;
}

/* A `set:` (cap 0) or `cap:` (cap 1) mapping of sampling parameters into
 * p: temperature 0..2, top_p 0..1, top_k 1..1000000, max_tokens
 * 1..100000000, seed (set only), presence_penalty and frequency_penalty
 * -2..2. Usable by any section that forces or bounds parameters. */
static void parse_params(loader_t *ld, struct fy_node *v, pos_t kp, const char *path, sy_params_t *p, int cap)
{
    params_ud_t pu = {p, cap};
    parse_members(ld, v, kp, path, param_names, NKEYS(param_names), param_member, &pu);
}

/* A glob string, or a list of them (kept in *out, *n). */
static void parse_globs(loader_t *ld, struct fy_node *v, pos_t kp, const char *path, char ***out, size_t *n)
{
    size_t count = 1;
    bool list = v && fy_node_get_type(v) == FYNT_SEQUENCE;
    if (list) {
        if (!expect_sequence(ld, v, kp, path, SY_CONF_MAX_GLOBS))
            return;
        count = (size_t)fy_node_sequence_item_count(v);
        if (count == 0) {
            report(ld, kp, "%s: expected at least one pattern", path);
            return;
        }
    }
    char **g = calloc(count, sizeof(*g));
    if (!g) {
        ld->oom = true;
        return;
    }
    *out = g;
    if (!list) {
        if (get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &g[0]))
            *n = 1;
        return;
    }
    void *it = NULL;
    struct fy_node *item;
    for (size_t i = 0; (item = fy_node_sequence_iterate(v, &it)) != NULL && i < count; i++) {
        char ipath[160];
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (get_string(ld, item, item_pos(item, kp), ipath, false, SY_CONF_MAX_NAME, &g[*n]))
            (*n)++;
    }
}

/* api: one protocol or a list of them, as bits. */
static void parse_apis(loader_t *ld, struct fy_node *v, pos_t kp, const char *path, unsigned *apis)
{
    int e;
    if (!v || fy_node_get_type(v) != FYNT_SEQUENCE) {
        if (get_enum(ld, v, kp, path, type_names, NKEYS(type_names), &e))
            *apis |= 1u << e;
        return;
    }
    if (!expect_sequence(ld, v, kp, path, 8))
        return;
    void *it = NULL;
    struct fy_node *item;
    for (size_t i = 0; (item = fy_node_sequence_iterate(v, &it)) != NULL; i++) {
        char ipath[160];
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (get_enum(ld, item, item_pos(item, kp), ipath, type_names, NKEYS(type_names), &e))
            *apis |= 1u << e;
    }
}

/* headers / metadata: a mapping of names (header tokens, lower-cased for
 * headers) to globs on their values. */
static void parse_rule_kvs(loader_t *ld, struct fy_node *map, pos_t mpos, const char *where, int headers,
                           sy_rule_kv_t **out, size_t *n)
{
    if (!expect_mapping(ld, map, mpos, where))
        return;
    int count = fy_node_mapping_item_count(map);
    if (count > SY_CONF_MAX_RULE_KV) {
        report(ld, mpos, "%s: too many entries (max %d)", where, SY_CONF_MAX_RULE_KV);
        return;
    }
    if (count <= 0)
        return;
    sy_rule_kv_t *kv = calloc((size_t)count, sizeof(*kv));
    if (!kv) {
        ld->oom = true;
        return;
    }
    *out = kv;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        struct fy_node *k = fy_node_pair_key(pr);
        pos_t kp = item_pos(k, mpos);
        size_t len;
        const char *s = scalar_text(k, &len);
        char shown[80], path[256];
        bool ok = s && len > 0 && len <= (headers ? SY_CONF_MAX_NAME : SY_CONF_MAX_META_KEY);
        for (size_t i = 0; ok && i < len; i++)
            ok = is_tchar((unsigned char)s[i]);
        if (!ok) {
            report(ld, kp, "%s: \"%s\" is not a valid %s (letters, digits and !#$%%&'*+-.^_`|~, at most %d)",
                   where, s ? show(shown, sizeof(shown), s, len) : "", headers ? "header name" : "metadata key",
                   headers ? SY_CONF_MAX_NAME : SY_CONF_MAX_META_KEY);
            continue;
        }
        show(shown, sizeof(shown), s, len);
        snprintf(path, sizeof(path), "%s.%s", where, shown);
        bool dup = false;
        for (size_t i = 0; i < *n; i++)
            if (strlen(kv[i].name) == len && !(headers ? strncasecmp : strncmp)(kv[i].name, s, len))
                dup = true;
        if (dup) {
            report(ld, kp, "%s: \"%s\" is given twice", where, shown);
            continue;
        }
        char *glob = NULL;
        if (!get_string(ld, fy_node_pair_value(pr), kp, path, false, SY_CONF_MAX_STRING, &glob))
            continue;
        char *name = dup_mem(s, len);
        if (!name) {
            free(glob);
            ld->oom = true;
            return;
        }
        for (size_t i = 0; headers && i < len; i++)
            name[i] = (char)tolower((unsigned char)name[i]);
        kv[*n].name = name;
        kv[*n].glob = glob;
        (*n)++;
    }
}

typedef struct rule_ud {
    sy_rule_conf_t *rule;
    pos_t prompt_pos; /* where the regex was given (0: not given) */
    pos_t route_pos;
    bool have_reject;
} rule_ud_t;

static void tokens_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    sy_rule_conf_t *rc = ud;
    uint64_t u;
    if (get_uint(ld, v, kp, path, 0, 100000000, &u))
        *(k == 0 ? &rc->tokens_min : &rc->tokens_max) = (int64_t)u;
}

static void match_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    rule_ud_t *ru = ud;
    sy_rule_conf_t *rc = ru->rule;
    switch (k) {
    case 0:
        parse_apis(ld, v, kp, path, &rc->apis);
        break;
    case 1:
        parse_globs(ld, v, kp, path, &rc->models, &rc->n_models);
        break;
    case 2:
        parse_rule_kvs(ld, v, kp, path, 1, &rc->headers, &rc->n_headers);
        break;
    case 3:
        parse_rule_kvs(ld, v, kp, path, 0, &rc->metadata, &rc->n_metadata);
        rc->needs |= SY_RULE_NEEDS_META;
        break;
    case 4:
    case 5:
        get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, k == 4 ? &rc->key : &rc->team);
        break;
    case 6:
        if (get_string(ld, v, kp, path, false, SY_CONF_MAX_STRING, &rc->prompt))
            ru->prompt_pos = value_pos(v, kp);
        break;
    case 7:
        get_bool(ld, v, kp, path, &rc->prompt_icase);
        break;
    default:
        parse_members(ld, v, kp, path, tokens_keys, NKEYS(tokens_keys), tokens_member, rc);
        if (rc->tokens_min >= 0 && rc->tokens_max >= 0 && rc->tokens_min > rc->tokens_max)
            report(ld, kp, "%s: min (%lld) is above max (%lld)", path, (long long)rc->tokens_min,
                   (long long)rc->tokens_max);
        rc->needs |= SY_RULE_NEEDS_PROMPT;
        break;
    }
}

static void reject_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    sy_rule_conf_t *rc = ud;
    uint64_t u;
    if (k == 0) {
        if (!get_uint(ld, v, kp, path, 0, 999, &u))
            return;
        if (u < 400 || u > 499)
            report(ld, value_pos(v, kp), "%s: expected a client error status, 400..499", path);
        else
            rc->reject_status = (int)u;
    } else {
        get_string(ld, v, kp, path, false, 400, &rc->reject_message);
    }
}

static void action_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    rule_ud_t *ru = ud;
    sy_rule_conf_t *rc = ru->rule;
    switch (k) {
    case 0:
        if (get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &rc->route))
            ru->route_pos = value_pos(v, kp);
        break;
    case 1:
    case 2:
        parse_params(ld, v, kp, path, &rc->params, k == 2);
        break;
    default:
        rc->reject = 1;
        ru->have_reject = true;
        if (v && fy_node_get_type(v) == FYNT_MAPPING)
            parse_members(ld, v, kp, path, reject_keys, NKEYS(reject_keys), reject_member, rc);
        else if (!is_null(v))
            report(ld, value_pos(v, kp), "%s: expected a mapping ({status, message}) or nothing", path);
        break;
    }
}

/* Compile a rule's prompt regex; a bad one is reported at its value. */
static void compile_prompt(loader_t *ld, sy_rule_conf_t *rc, pos_t p, const char *where)
{
    char msg[160];
    rc->prompt_re = sy_rx_new(rc->prompt, rc->prompt_icase, msg, sizeof(msg));
    if (rc->prompt_re)
        return;
    if (strcmp(msg, "out of memory") == 0)
        ld->oom = true;
    else
        report(ld, p, "%s.match.prompt: not a valid POSIX extended regular expression: %s", where, msg);
}

static void parse_rule(loader_t *ld, struct fy_node *map, size_t idx, pos_t ipos, pos_t *name_pos)
{
    sy_rule_conf_t *rc = &ld->cfg->rules[idx];
    rule_ud_t ru = {.rule = rc};
    char where[48];
    rc->tokens_min = rc->tokens_max = -1;
    rc->reject_status = 403;
    rc->route_model = SY_RULE_ROUTE_ADDRESS;
    snprintf(where, sizeof(where), "router.rules[%zu]", idx);
    if (!expect_mapping(ld, map, ipos, where))
        return;
    bool seen[NKEYS(rule_keys)] = {false};
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        pos_t kp;
        char path[96];
        struct fy_node *v = fy_node_pair_value(pr);
        int k = match_key(ld, fy_node_pair_key(pr), where, rule_keys, NKEYS(rule_keys), &kp, ipos);
        if (k < 0)
            continue;
        seen[k] = true;
        snprintf(path, sizeof(path), "%s.%s", where, rule_keys[k]);
        if (k == 0) {
            if (!get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &rc->name))
                continue;
            name_pos[idx] = value_pos(v, kp);
            report_duplicate(ld, "rule", path, ld->cfg->rules, sizeof(*rc), offsetof(sy_rule_conf_t, name), idx,
                             name_pos);
        } else if (k == 1) {
            if (!is_null(v))
                parse_members(ld, v, kp, path, match_keys, NKEYS(match_keys), match_member, &ru);
        } else {
            parse_members(ld, v, kp, path, action_keys, NKEYS(action_keys), action_member, &ru);
            if (ru.have_reject && (rc->route || rc->params.set_mask || rc->params.cap_mask))
                report(ld, kp, "%s: reject cannot be combined with route, set or cap", path);
            else if (!ru.have_reject && !rc->route && !rc->params.set_mask && !rc->params.cap_mask &&
                     fy_node_get_type(v) == FYNT_MAPPING && fy_node_mapping_item_count(v) == 0)
                report(ld, kp, "%s: expected route, set, cap or reject", path);
        }
    }
    if (!seen[0])
        report(ld, ipos, "%s: missing required key \"name\"", where);
    if (!seen[2])
        report(ld, ipos, "%s: missing required key \"action\"", where);
    if (rc->prompt) {
        rc->needs |= SY_RULE_NEEDS_PROMPT;
        compile_prompt(ld, rc, ru.prompt_pos, where);
    }
    if (rc->reject && !rc->reject_message && rc->name) {
        char msg[400];
        snprintf(msg, sizeof(msg), "rejected by routing rule \"%.300s\"", rc->name);
        if (!(rc->reject_message = dup_str(msg)))
            ld->oom = true;
    }
    ld->rule_route_pos[idx] = ru.route_pos;
}

/* One slot per distinct header name and per distinct metadata key of all
 * the rules, the first SY_RULE_SLOTS of them (sy_rule_kv_t.slot). */
static void slot_rule_kvs(sy_config_t *cfg)
{
    const char *names[SY_RULE_SLOTS];
    int kinds[SY_RULE_SLOTS], n = 0;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        for (int kind = 0; kind < 2; kind++) {
            sy_rule_conf_t *rc = &cfg->rules[i];
            sy_rule_kv_t *kv = kind ? rc->metadata : rc->headers;
            size_t nkv = kind ? rc->n_metadata : rc->n_headers;
            for (size_t j = 0; j < nkv; j++) {
                int s = 0;
                while (s < n && (kinds[s] != kind || strcmp(names[s], kv[j].name) != 0))
                    s++;
                if (s == n && n < SY_RULE_SLOTS) {
                    names[n] = kv[j].name;
                    kinds[n++] = kind;
                }
                kv[j].slot = s < n ? s : -1;
            }
        }
    }
}

/* router.rules: the list, each rule checked as it is read; route targets
 * are resolved once the models are known (resolve_rules). */
static void parse_rules(loader_t *ld, struct fy_node *v, pos_t kp, const char *path)
{
    if (!expect_sequence(ld, v, kp, path, SY_CONF_MAX_RULES))
        return;
    size_t n = (size_t)fy_node_sequence_item_count(v);
    if (n == 0 || ld->cfg->rules)
        return;
    free(ld->rule_route_pos);
    ld->rule_route_pos = calloc(n, sizeof(*ld->rule_route_pos));
    if (!ld->rule_route_pos) {
        ld->oom = true;
        return;
    }
    parse_list(ld, v, kp, path, SY_CONF_MAX_RULES, sizeof(*ld->cfg->rules), &ld->cfg->rules, &ld->cfg->n_rules,
               parse_rule);
    for (size_t i = 0; i < ld->cfg->n_rules; i++)
        ld->cfg->rules_need |= ld->cfg->rules[i].needs;
    slot_rule_kvs(ld->cfg);
}

/* The model named name, or -1 after reporting it unknown at p (with a
 * did-you-mean among the config's models). */
static int model_ref_index(loader_t *ld, pos_t p, const char *path, const char *name)
{
    const sy_config_t *cfg = ld->cfg;
    const sy_model_conf_t *to = sy_config_find_model(cfg, name);
    if (to)
        return (int)(to - cfg->models);
    const char *cands[64];
    size_t nc = 0;
    for (size_t j = 0; j < cfg->n_models && nc < 64; j++)
        if (cfg->models[j].name)
            cands[nc++] = cfg->models[j].name;
    const char *hint = suggest(name, strlen(name), cands, nc);
    char shown[80];
    show(shown, sizeof(shown), name, strlen(name));
    report(ld, p, "%s: unknown model \"%s\"%s%s%s", path, shown, hint ? "; did you mean \"" : "", hint ? hint : "",
           hint ? "\"?" : "");
    return -1;
}

/* Point each rule's route at its model: a configured model, or
 * "provider/model" with a configured provider. */
static void resolve_rules(loader_t *ld)
{
    sy_config_t *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        sy_rule_conf_t *rc = &cfg->rules[i];
        if (!rc->route)
            continue;
        const sy_model_conf_t *m = sy_config_find_model(cfg, rc->route);
        if (m) {
            rc->route_model = (size_t)(m - cfg->models);
            continue;
        }
        const char *slash = strchr(rc->route, '/');
        char shown[80];
        show(shown, sizeof(shown), rc->route, strlen(rc->route));
        if (slash && slash > rc->route && slash[1]) {
            size_t pl = (size_t)(slash - rc->route);
            for (size_t j = 0; j < cfg->n_providers; j++)
                if (cfg->providers[j].name && strlen(cfg->providers[j].name) == pl &&
                    !memcmp(cfg->providers[j].name, rc->route, pl))
                    goto next; /* an address */
            const char *cands[SY_CONF_MAX_PROVIDERS];
            for (size_t j = 0; j < cfg->n_providers; j++)
                cands[j] = cfg->providers[j].name;
            const char *hint = suggest(rc->route, pl, cands, cfg->n_providers);
            report(ld, ld->rule_route_pos[i],
                   "router.rules[%zu].action.route: \"%s\" names no configured model, and \"%.*s\" is not a provider%s%s%s",
                   i, shown, (int)(pl > 60 ? 60 : pl), rc->route, hint ? "; did you mean \"" : "", hint ? hint : "",
                   hint ? "\"?" : "");
            continue;
        }
        char path[64];
        snprintf(path, sizeof(path), "router.rules[%zu].action.route", i);
        model_ref_index(ld, ld->rule_route_pos[i], path, rc->route); /* reports it */
    next:;
    }
}

static void free_rule(sy_rule_conf_t *rc)
{
    free(rc->name);
    for (size_t i = 0; i < rc->n_models; i++)
        free(rc->models[i]);
    free(rc->models);
    for (size_t i = 0; i < rc->n_headers; i++) {
        free(rc->headers[i].name);
        free(rc->headers[i].glob);
    }
    free(rc->headers);
    for (size_t i = 0; i < rc->n_metadata; i++) {
        free(rc->metadata[i].name);
        free(rc->metadata[i].glob);
    }
    free(rc->metadata);
    free(rc->key);
    free(rc->team);
    free(rc->prompt);
    sy_rx_free(rc->prompt_re);
    free(rc->route);
    free(rc->reject_message);
}

static void router_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    (void)ud;
    if (k == 1) { /* experiments: read once the models are known (parse_experiments) */
        ld->exp_node = v;
        ld->exp_pos = kp;
        return;
    }
    if (k == 2) {
        parse_rules(ld, v, kp, path);
        return;
    }
    parse_members(ld, v, kp, path, route_keys, NKEYS(route_keys), route_member, &ld->cfg->router);
}

static void hedge_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    sy_hedge_conf_t *h = ud;
    uint64_t u;
    if (k == 0 && get_uint(ld, v, kp, path, 1, 600000, &u))
        h->after_ms = (uint32_t)u;
    else if (k == 1 && get_uint(ld, v, kp, path, 50, 99, &u))
        h->percentile = (uint32_t)u;
    else if (k == 2)
        get_double(ld, v, kp, path, 0.0, 1.0, &h->max_fraction);
}

/* models[i].hedge: { after_ms, percentile, max_fraction } - at least one
 * of the first two says when. */
static void parse_hedge(loader_t *ld, struct fy_node *v, pos_t kp, const char *path, sy_hedge_conf_t *h)
{
    h->on = 1;
    h->max_fraction = 0.1;
    parse_members(ld, v, kp, path, hedge_keys, NKEYS(hedge_keys), hedge_member, h);
    if (fy_node_get_type(v) == FYNT_MAPPING && !h->after_ms && !h->percentile)
        report(ld, kp, "%s: say when to hedge: after_ms (a fixed wait) and/or percentile (the deployment's own)",
               path);
}

/* models[i].fallbacks / context_fallbacks: names kept to resolve once
 * every model is known (parse_root). */
static void parse_fallbacks(loader_t *ld, struct fy_node *v, pos_t kp, const char *path, size_t model,
                            int context)
{
    sy_model_conf_t *m = &ld->cfg->models[model];
    if (!expect_sequence(ld, v, kp, path, 16))
        return;
    size_t n = (size_t)fy_node_sequence_item_count(v);
    size_t *idx = n ? calloc(n, sizeof(*idx)) : NULL;
    if (n && !idx) {
        ld->oom = true;
        return;
    }
    if (context) {
        free(m->context_fallbacks);
        m->context_fallbacks = idx;
        m->n_context_fallbacks = n;
    } else {
        free(m->fallbacks);
        m->fallbacks = idx;
        m->n_fallbacks = n;
    }
    void *it = NULL;
    struct fy_node *item;
    for (size_t i = 0; (item = fy_node_sequence_iterate(v, &it)) != NULL && i < n; i++) {
        char ipath[160];
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        model_ref_t ref = {.model = model, .context = context, .index = i, .pos = value_pos(item, kp)};
        if (!get_string(ld, item, kp, ipath, false, SY_CONF_MAX_NAME, &ref.name))
            continue;
        if (ld->n_refs == ld->cap_refs) {
            size_t cap = ld->cap_refs ? ld->cap_refs * 2 : 16;
            model_ref_t *r = realloc(ld->refs, cap * sizeof(*r));
            if (!r) {
                free(ref.name);
                ld->oom = true;
                return;
            }
            ld->refs = r;
            ld->cap_refs = cap;
        }
        ld->refs[ld->n_refs++] = ref;
    }
}

/* Point every fallback at its model; report unknown names, a model that
 * falls back to itself and a name given twice. */
static void resolve_fallbacks(loader_t *ld)
{
    sy_config_t *cfg = ld->cfg;
    for (size_t i = 0; i < ld->n_refs; i++) {
        model_ref_t *f = &ld->refs[i];
        sy_model_conf_t *m = &cfg->models[f->model];
        const char *list = f->context ? "context_fallbacks" : "fallbacks";
        char path[96], shown[80];
        snprintf(path, sizeof(path), "models[%zu].%s[%zu]", f->model, list, f->index);
        int ti = model_ref_index(ld, f->pos, path, f->name);
        if (ti < 0)
            continue;
        const sy_model_conf_t *to = &cfg->models[ti];
        show(shown, sizeof(shown), f->name, strlen(f->name));
        if (to == m) {
            report(ld, f->pos, "models[%zu].%s[%zu]: a model cannot fall back to itself", f->model, list,
                   f->index);
            continue;
        }
        size_t *idx = f->context ? m->context_fallbacks : m->fallbacks;
        for (size_t j = 0; j < i; j++) {
            model_ref_t *g = &ld->refs[j];
            if (g->model == f->model && g->context == f->context && !strcmp(g->name, f->name)) {
                report(ld, f->pos, "models[%zu].%s[%zu]: \"%s\" is listed twice", f->model, list, f->index, shown);
                break;
            }
        }
        idx[f->index] = (size_t)(to - cfg->models);
    }
}

/* ---- complexity routing and A/B experiments ----
 *
 * A model with `router: complexity` has tiers instead of deployments; its
 * tiers and router.experiments name other models, so both are read once
 * every model is (parse_root). docs/routing.md explains the keys. */

#define SY_CONF_MAX_TIERS 16
#define SY_CONF_MAX_EXPERIMENTS 64
#define SY_CONF_MAX_ARMS 16
#define SY_CONF_MAX_LABEL 64

static const char *const model_router_names[] = {"deployments", "complexity"};
static const char *const cx_keys[] = {"weights"};
static const char *const cx_weight_keys[] = {"tokens", "code", "math", "steps", "depth", "tools", "max_tokens"};
static const char *const tier_keys[] = {"below", "model"};
static const char *const exp_keys[] = {"name", "model", "sticky", "arms"};
static const char *const arm_keys[] = {"name", "weight", "model", "set", "cap"};
static const char *const sticky_names[] = {"user", "key", "none"};

const sy_cx_weights_t sy_cx_default_weights = {
    .tokens = 25, .code = 20, .math = 15, .steps = 15, .depth = 10, .tools = 10, .max_tokens = 5};

/* A model's tiers node, read by parse_tiers_deferred. */
typedef struct cx_defer {
    size_t model;
    struct fy_node *node;
    pos_t pos;
} cx_defer_t;

/* A name that is also a label in /metrics: letters, digits, - _ . : */
static bool get_label(loader_t *ld, struct fy_node *v, pos_t kp, const char *path, char **out)
{
    if (!get_string(ld, v, kp, path, false, SY_CONF_MAX_LABEL, out))
        return false;
    for (const char *c = *out; *c; c++) {
        if (!isalnum((unsigned char)*c) && !strchr("-_.:", *c)) {
            report(ld, value_pos(v, kp), "%s: use letters, digits and - _ . : only", path);
            free(*out);
            *out = NULL;
            return false;
        }
    }
    return true;
}

static void cx_weight_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    sy_cx_weights_t *w = ud;
    double *slot[] = {&w->tokens, &w->code, &w->math, &w->steps, &w->depth, &w->tools, &w->max_tokens};
    get_double(ld, v, kp, path, 0.0, 100.0, slot[k]);
}

static void cx_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, void *ud)
{
    (void)k;
    parse_members(ld, v, kp, path, cx_weight_keys, NKEYS(cx_weight_keys), cx_weight_member, ud);
}

/* models[idx].router, .tiers, .complexity (k = 0, 1, 2). */
static void model_cx_member(loader_t *ld, int k, struct fy_node *v, pos_t kp, const char *path, size_t idx)
{
    sy_model_conf_t *m = &ld->cfg->models[idx];
    if (k == 0) {
        int e;
        if (get_enum(ld, v, kp, path, model_router_names, NKEYS(model_router_names), &e)) {
            m->complexity = e == 1;
            ld->cfg->n_complexity += (size_t)m->complexity;
        }
        return;
    }
    if (k == 2) {
        parse_members(ld, v, kp, path, cx_keys, NKEYS(cx_keys), cx_member, &m->cx_weights);
        return;
    }
    if (ld->n_cx == ld->cap_cx) {
        size_t cap = ld->cap_cx ? ld->cap_cx * 2 : 8;
        cx_defer_t *c = realloc(ld->cx, cap * sizeof(*c));
        if (!c) {
            ld->oom = true;
            return;
        }
        ld->cx = c;
        ld->cap_cx = cap;
    }
    ld->cx[ld->n_cx++] = (cx_defer_t){.model = idx, .node = v, .pos = kp};
}

/* A complexity model routes to its tiers' models, which bring their own
 * deployments and settings: it takes only name, router, tiers, complexity. */
static void model_cx_check(loader_t *ld, const char *where, pos_t ipos, const bool *seen, const pos_t *kpos)
{
    for (int k = 1; k < (int)NKEYS(model_keys); k++) {
        if (!seen[k] || (k >= MODEL_CX_KEY0 && k < HEDGE_KEY))
            continue;
        if (k == 1)
            report(ld, kpos[k], "%s.deployments: a model with \"router: complexity\" has no deployments; its tiers name the models that serve it",
                   where);
        else
            report(ld, kpos[k], "%s.%s: not allowed on a model with \"router: complexity\"; set it on its tiers' models",
                   where, model_keys[k]);
    }
    if (!seen[MODEL_CX_KEY0 + 1])
        report(ld, ipos, "%s: missing required key \"tiers\" (a model with \"router: complexity\" routes by them)", where);
}

/* models[idx].tiers: ascending `below`, the last tier a catch-all, every
 * model known and not itself a complexity model. */
static void parse_tiers(loader_t *ld, size_t idx, struct fy_node *v, pos_t kp)
{
    sy_model_conf_t *m = &ld->cfg->models[idx];
    char path[64];
    snprintf(path, sizeof(path), "models[%zu].tiers", idx);
    if (!expect_sequence(ld, v, kp, path, SY_CONF_MAX_TIERS))
        return;
    size_t n = (size_t)fy_node_sequence_item_count(v);
    if (n == 0) {
        report(ld, kp, "%s: expected at least one tier", path);
        return;
    }
    m->tiers = calloc(n, sizeof(*m->tiers));
    if (!m->tiers) {
        ld->oom = true;
        return;
    }
    m->n_tiers = n;
    uint32_t prev = 0;
    void *it = NULL;
    struct fy_node *item;
    for (size_t i = 0; (item = fy_node_sequence_iterate(v, &it)) != NULL && i < n; i++) {
        sy_cx_tier_conf_t *t = &m->tiers[i];
        char where[96];
        snprintf(where, sizeof(where), "%s[%zu]", path, i);
        pos_t ipos = item_pos(item, kp);
        if (!expect_mapping(ld, item, ipos, where))
            continue;
        bool seen[2] = {false, false}, below_ok = false;
        pos_t below_pos = ipos;
        void *mit = NULL;
        struct fy_node_pair *pr;
        while ((pr = fy_node_mapping_iterate(item, &mit)) != NULL) {
            pos_t tkp;
            char tpath[128];
            struct fy_node *tv = fy_node_pair_value(pr);
            int k = match_key(ld, fy_node_pair_key(pr), where, tier_keys, NKEYS(tier_keys), &tkp, ipos);
            if (k < 0)
                continue;
            seen[k] = true;
            snprintf(tpath, sizeof(tpath), "%s.%s", where, tier_keys[k]);
            if (k == 0) {
                uint64_t u;
                below_pos = value_pos(tv, tkp);
                if ((below_ok = get_uint(ld, tv, tkp, tpath, 1, 100, &u)))
                    t->below = (uint32_t)u;
                continue;
            }
            if (!get_string(ld, tv, tkp, tpath, false, SY_CONF_MAX_NAME, &t->model))
                continue;
            int to = model_ref_index(ld, value_pos(tv, tkp), tpath, t->model);
            if (to < 0)
                continue;
            if ((size_t)to == idx)
                report(ld, value_pos(tv, tkp), "%s: a complexity model cannot route to itself", tpath);
            else if (ld->cfg->models[to].complexity)
                report(ld, value_pos(tv, tkp), "%s: \"%s\" is itself a complexity model; a tier names a model with deployments",
                       tpath, t->model);
            t->model_index = (size_t)to;
        }
        if (!seen[1])
            report(ld, ipos, "%s: missing required key \"model\"", where);
        if (i + 1 == n) {
            if (seen[0]) {
                report(ld, below_pos, "%s.below: the last tier is the catch-all and takes every score left; remove its \"below\"",
                       where);
                t->below = 0;
            }
        } else if (!seen[0]) {
            report(ld, ipos, "%s: missing required key \"below\" (only the last tier, the catch-all, has none)", where);
        } else if (below_ok) {
            if (t->below <= prev)
                report(ld, below_pos, "%s.below: must be above the previous tier's (%u): tiers are in ascending order",
                       where, prev);
            prev = t->below;
        }
    }
}

static void parse_tiers_deferred(loader_t *ld)
{
    for (size_t i = 0; i < ld->n_cx; i++)
        if (ld->cfg->models[ld->cx[i].model].complexity) /* else reported in parse_model */
            parse_tiers(ld, ld->cx[i].model, ld->cx[i].node, ld->cx[i].pos);
    /* a fallback is tried with its own deployments: a complexity model has none */
    for (size_t i = 0; i < ld->n_refs; i++) {
        const sy_model_conf_t *to = sy_config_find_model(ld->cfg, ld->refs[i].name);
        if (to && to->complexity)
            report(ld, ld->refs[i].pos, "models[%zu].%s[%zu]: \"%s\" is a complexity model; a fallback names a model with deployments",
                   ld->refs[i].model, ld->refs[i].context ? "context_fallbacks" : "fallbacks", ld->refs[i].index,
                   to->name);
    }
}

/* router.experiments[e].arms: at least two, unique names, weights in
 * hundredths of a percent adding up to 100. */
static void parse_arms(loader_t *ld, struct fy_node *v, pos_t kp, const char *path, sy_exp_conf_t *e)
{
    if (!expect_sequence(ld, v, kp, path, SY_CONF_MAX_ARMS))
        return;
    size_t n = (size_t)fy_node_sequence_item_count(v);
    if (n < 2) {
        report(ld, kp, "%s: an experiment needs at least two arms", path);
        return;
    }
    e->arms = calloc(n, sizeof(*e->arms));
    if (!e->arms) {
        ld->oom = true;
        return;
    }
    e->n_arms = n;
    uint64_t sum = 0;
    bool all = true;
    void *it = NULL;
    struct fy_node *item;
    for (size_t i = 0; (item = fy_node_sequence_iterate(v, &it)) != NULL && i < n; i++) {
        sy_exp_arm_conf_t *a = &e->arms[i];
        a->model_index = -1;
        char where[128];
        snprintf(where, sizeof(where), "%s[%zu]", path, i);
        pos_t ipos = item_pos(item, kp);
        if (!expect_mapping(ld, item, ipos, where)) {
            all = false;
            continue;
        }
        bool seen[NKEYS(arm_keys)] = {false}, weight_ok = false;
        void *mit = NULL;
        struct fy_node_pair *pr;
        while ((pr = fy_node_mapping_iterate(item, &mit)) != NULL) {
            pos_t akp;
            char apath[160];
            struct fy_node *av = fy_node_pair_value(pr);
            int k = match_key(ld, fy_node_pair_key(pr), where, arm_keys, NKEYS(arm_keys), &akp, ipos);
            if (k < 0)
                continue;
            seen[k] = true;
            snprintf(apath, sizeof(apath), "%s.%s", where, arm_keys[k]);
            if (k == 0) {
                if (!get_label(ld, av, akp, apath, &a->name))
                    continue;
                for (size_t j = 0; j < i; j++)
                    if (e->arms[j].name && !strcmp(e->arms[j].name, a->name)) {
                        report(ld, value_pos(av, akp), "%s: duplicate arm name \"%s\"", apath, a->name);
                        break;
                    }
            } else if (k == 1) {
                double w;
                if (!get_double(ld, av, akp, apath, 0.0, 100.0, &w))
                    continue;
                double bp = round(w * 100.0);
                if (fabs(w * 100.0 - bp) > 1e-6) {
                    report(ld, value_pos(av, akp), "%s: a percentage with at most two decimals", apath);
                    continue;
                }
                a->weight_bp = (uint32_t)bp;
                weight_ok = true;
            } else if (k == 2) {
                if (get_string(ld, av, akp, apath, false, SY_CONF_MAX_NAME, &a->model))
                    a->model_index = model_ref_index(ld, value_pos(av, akp), apath, a->model);
            } else {
                parse_params(ld, av, akp, apath, &a->params, k == 4);
            }
        }
        for (size_t k = 0; k < 2; k++)
            if (!seen[k])
                report(ld, ipos, "%s: missing required key \"%s\"", where, arm_keys[k]);
        if (weight_ok)
            sum += e->arms[i].weight_bp;
        else
            all = false;
    }
    if (all && sum != 10000)
        report(ld, kp, "%s: the arms' weights add up to %g; they are percentages and must add up to 100", path,
               (double)sum / 100.0);
}

static void parse_experiment(loader_t *ld, struct fy_node *map, size_t idx, pos_t ipos, pos_t *name_pos)
{
    sy_config_t *cfg = ld->cfg;
    sy_exp_conf_t *e = &cfg->experiments[idx];
    e->sticky = SY_EXP_STICKY_USER;
    char where[64];
    snprintf(where, sizeof(where), "router.experiments[%zu]", idx);
    if (!expect_mapping(ld, map, ipos, where))
        return;
    bool seen[NKEYS(exp_keys)] = {false};
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        pos_t kp;
        char path[96];
        struct fy_node *v = fy_node_pair_value(pr);
        int k = match_key(ld, fy_node_pair_key(pr), where, exp_keys, NKEYS(exp_keys), &kp, ipos);
        if (k < 0)
            continue;
        seen[k] = true;
        snprintf(path, sizeof(path), "%s.%s", where, exp_keys[k]);
        switch (k) {
        case 0:
            if (!get_label(ld, v, kp, path, &e->name))
                break;
            name_pos[idx] = value_pos(v, kp);
            report_duplicate(ld, "experiment", path, cfg->experiments, sizeof(*e), offsetof(sy_exp_conf_t, name), idx,
                             name_pos);
            break;
        case 1: {
            if (!get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &e->model))
                break;
            int mi = model_ref_index(ld, value_pos(v, kp), path, e->model);
            if (mi < 0)
                break;
            e->model_index = (size_t)mi;
            for (size_t j = 0; j < idx; j++)
                if (cfg->experiments[j].model && !strcmp(cfg->experiments[j].model, e->model)) {
                    report(ld, value_pos(v, kp),
                           "%s: model \"%s\" is already split by experiment \"%s\"; a model has one experiment at a time",
                           path, e->model, cfg->experiments[j].name ? cfg->experiments[j].name : "?");
                    break;
                }
            break;
        }
        case 2:
            get_enum(ld, v, kp, path, sticky_names, NKEYS(sticky_names), &e->sticky);
            break;
        default:
            parse_arms(ld, v, kp, path, e);
            break;
        }
    }
    static const int required[] = {0, 1, 3};
    for (size_t i = 0; i < NKEYS(required); i++)
        if (!seen[required[i]])
            report(ld, ipos, "%s: missing required key \"%s\"", where, exp_keys[required[i]]);
}

static void parse_experiments(loader_t *ld, struct fy_node *v, pos_t kp)
{
    parse_list(ld, v, kp, "router.experiments", SY_CONF_MAX_EXPERIMENTS, sizeof(*ld->cfg->experiments),
               &ld->cfg->experiments, &ld->cfg->n_experiments, parse_experiment);
}

static void parse_model(loader_t *ld, struct fy_node *map, size_t idx, pos_t ipos,
                        pos_t *name_pos)
{
    sy_model_conf_t *m = &ld->cfg->models[idx];
    m->cache_ttl_s = 600;
    m->route = ld->cfg->router;
    m->cx_weights = sy_cx_default_weights;
    char where[48];
    snprintf(where, sizeof(where), "models[%zu]", idx);
    if (!expect_mapping(ld, map, ipos, where))
        return;
    bool seen[NKEYS(model_keys)] = {false};
    pos_t kpos[NKEYS(model_keys)];
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(map, &it)) != NULL) {
        pos_t kp;
        char path[96];
        struct fy_node *v = fy_node_pair_value(pr);
        int k = match_key(ld, fy_node_pair_key(pr), where, model_keys, NKEYS(model_keys), &kp,
                          ipos);
        if (k < 0)
            continue;
        seen[k] = true;
        kpos[k] = kp;
        snprintf(path, sizeof(path), "%s.%s", where, model_keys[k]);
        if (k >= MODEL_CX_KEY0 && k < HEDGE_KEY) {
            model_cx_member(ld, k - MODEL_CX_KEY0, v, kp, path, idx);
            continue;
        }
        if (k == 0) {
            if (!get_string(ld, v, kp, path, false, SY_CONF_MAX_NAME, &m->name))
                continue;
            name_pos[idx] = value_pos(v, kp);
            report_duplicate(ld, "model", path, ld->cfg->models, sizeof(*m), offsetof(sy_model_conf_t, name), idx,
                             name_pos);
            continue;
        }
        if (k == 2) {
            parse_model_cache(ld, v, kp, path, m);
            continue;
        }
        if (k == 3) {
            int dm;
            if (get_enum(ld, v, kp, path, dedup_names, NKEYS(dedup_names), &dm))
                m->dedup = (sy_dedup_mode_t)dm;
            continue;
        }
        if (k >= ROUTE_KEY0 && k < ROUTE_KEY0 + (int)NKEYS(route_keys)) {
            route_member(ld, k - ROUTE_KEY0, v, kp, path, &m->route);
            continue;
        }
        if (k == HEDGE_KEY) {
            parse_hedge(ld, v, kp, path, &m->hedge);
            continue;
        }
        if (k >= ROUTE_KEY0 + (int)NKEYS(route_keys)) {
            parse_fallbacks(ld, v, kp, path, idx, k == ROUTE_KEY0 + (int)NKEYS(route_keys) + 1);
            continue;
        }
        if (!expect_sequence(ld, v, kp, path, SY_CONF_MAX_DEPLOYMENTS))
            continue;
        size_t n = (size_t)fy_node_sequence_item_count(v);
        if (n == 0) {
            report(ld, kp, "%s: expected at least one deployment", path);
            continue;
        }
        m->deployments = calloc(n, sizeof(*m->deployments));
        if (!m->deployments) {
            ld->oom = true;
            return;
        }
        m->n_deployments = n;
        void *dit = NULL;
        struct fy_node *item;
        size_t i = 0;
        while ((item = fy_node_sequence_iterate(v, &dit)) != NULL && i < n) {
            char dwhere[128];
            snprintf(dwhere, sizeof(dwhere), "%s[%zu]", path, i);
            parse_deployment(ld, item, dwhere, item_pos(item, kp), &m->deployments[i]);
            i++;
        }
    }
    if (m->complexity) {
        model_cx_check(ld, where, ipos, seen, kpos);
        seen[1] = true; /* deployments: refused above */
    } else if (seen[MODEL_CX_KEY0 + 1] || seen[MODEL_CX_KEY0 + 2]) {
        int k = seen[MODEL_CX_KEY0 + 1] ? MODEL_CX_KEY0 + 1 : MODEL_CX_KEY0 + 2;
        report(ld, kpos[k], "%s.%s: only a model with \"router: complexity\" has %s", where, model_keys[k],
               model_keys[k]);
    }
    for (size_t i = 0; i < MODEL_REQUIRED_KEYS; i++)
        if (!seen[i])
            report(ld, ipos, "%s: missing required key \"%s\"", where, model_keys[i]);
}


/* The name of entry i of an array of structs whose first member is the name. */
#define NAME_AT(base, stride, i) (*(char *const *)((const char *)(base) + (i) * (stride)))

/* An index of n names (entries of base, stride apart, NULL names skipped)
 * into *slots: the first of equal names kept, as a scan finds it. Slots
 * stay NULL out of memory (lookups then scan). */
static void index_names(const void *base, size_t stride, size_t n, uint32_t **slots, size_t *mask)
{
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *t = calloc(cap, sizeof(*t));
    if (!t)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *name = NAME_AT(base, stride, i);
        if (!name)
            continue;
        size_t h = (size_t)sy_fnv1a(SY_FNV_OFFSET, name, strlen(name)) & (cap - 1);
        while (t[h] && strcmp(NAME_AT(base, stride, t[h] - 1), name) != 0)
            h = (h + 1) & (cap - 1);
        if (!t[h])
            t[h] = (uint32_t)i + 1;
    }
    free(*slots);
    *slots = t;
    *mask = cap - 1;
}

/* Index + 1 of name among n names at base (stride apart), 0 none. */
static size_t find_name(const void *base, size_t stride, size_t n, const uint32_t *slots, size_t mask,
                        const char *name)
{
    if (slots) {
        for (size_t h = (size_t)sy_fnv1a(SY_FNV_OFFSET, name, strlen(name)) & mask; slots[h]; h = (h + 1) & mask)
            if (!strcmp(NAME_AT(base, stride, slots[h] - 1), name))
                return slots[h];
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = NAME_AT(base, stride, i);
        if (s && !strcmp(s, name))
            return i + 1;
    }
    return 0;
}

/*
 * Walk the top level. Providers are read before models whatever the file's
 * order, so deployments can be checked against every provider name.
 */
static void parse_root(loader_t *ld, struct fy_node *root)
{
    pos_t origin = {1, 1};
    for (int pass = 0; pass < 2; pass++) {
        void *it = NULL;
        struct fy_node_pair *pr;
        if (pass == 1) /* the providers are all read */
            index_names(ld->cfg->providers, sizeof(*ld->cfg->providers), ld->cfg->n_providers,
                        &ld->cfg->provider_slots, &ld->cfg->provider_mask);
        while ((pr = fy_node_mapping_iterate(root, &it)) != NULL) {
            pos_t kp;
            struct fy_node *k = fy_node_pair_key(pr);
            struct fy_node *v = fy_node_pair_value(pr);
            if (pass == 1) {
                size_t len;
                const char *s = scalar_text(k, &len);
                if (s && len == 6 && !memcmp(s, "models", 6))
                    parse_list(ld, v, item_pos(k, origin), "models", SY_CONF_MAX_MODELS,
                               sizeof(*ld->cfg->models), &ld->cfg->models, &ld->cfg->n_models, parse_model);
                continue;
            }
            switch (match_key(ld, k, NULL, top_keys, NKEYS(top_keys), &kp, origin)) {
            case 0:
                parse_server(ld, v, kp);
                break;
            case 1:
                parse_log(ld, v, kp);
                break;
            case 2:
                parse_list(ld, v, kp, "providers", SY_CONF_MAX_PROVIDERS, sizeof(*ld->cfg->providers),
                           &ld->cfg->providers, &ld->cfg->n_providers, parse_provider);
                break;
            case 4:
                parse_members(ld, v, kp, "cache", cache_keys, NKEYS(cache_keys), cache_member, NULL);
                break;
            case 5:
                parse_members(ld, v, kp, "router", router_keys, NKEYS(router_keys), router_member, NULL);
                break;
            default: /* models (second pass) or unknown (reported) */
                break;
            }
        }
    }
    index_names(ld->cfg->models, sizeof(*ld->cfg->models), ld->cfg->n_models, &ld->cfg->model_slots,
                &ld->cfg->model_mask);
    resolve_fallbacks(ld);
    parse_tiers_deferred(ld);
    if (ld->exp_node)
        parse_experiments(ld, ld->exp_node, ld->exp_pos);
    resolve_rules(ld);
    /* an embedder other than the built-in one is a model of this config */
    const char *e = ld->cfg->cache.embedder;
    if (e && strcmp(e, "builtin") != 0) {
        if (!sy_config_find_model(ld->cfg, e))
            report(ld, ld->embedder_pos, "cache.semantic.embedder: \"%s\" is neither \"builtin\" nor a model of this config",
                   e);
    }
}

/* ---------------------------------------------------------------- parsing */

/* libfyaml's own output (everything is also collected): kept off stderr. */
static void fy_output_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

/*
 * The position of the first byte that is not valid UTF-8 (or a NUL), so a
 * binary or mis-encoded file gets a precise message instead of libfyaml's
 * silent failure. Returns false when the text is clean.
 */
static bool find_bad_utf8(const char *text, size_t len, pos_t *p)
{
    const unsigned char *s = (const unsigned char *)text;
    int line = 1, col = 1;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                                : (c & 0xf8) == 0xf0 ? 4 : 0;
        bool ok = n > 0 && c != 0 && i + n <= len && !(n == 2 && c < 0xc2) && !(n == 4 && c > 0xf4);
        for (size_t j = 1; ok && j < n; j++)
            ok = (s[i + j] & 0xc0) == 0x80;
        if (ok && n == 3) {
            unsigned cp = ((c & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6);
            ok = cp >= 0x800 && !(cp >= 0xd800 && cp <= 0xdfff);
        }
        if (ok && n == 4) {
            unsigned cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3fu) << 12);
            ok = cp >= 0x10000 && cp <= 0x10ffff;
        }
        if (!ok) {
            p->line = line;
            p->col = col;
            return true;
        }
        if (c == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
        i += n;
    }
    return false;
}

/* True when text holds no YAML content: whitespace, comments, markers. */
static bool is_blank_yaml(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        size_t b = i;
        while (b < e && (text[b] == ' ' || text[b] == '\t' || text[b] == '\r'))
            b++;
        if (b < e && text[b] != '#' && !(e - b >= 3 && (!memcmp(text + b, "---", 3) ||
                                                        !memcmp(text + b, "...", 3))))
            return false;
        i = e + 1;
    }
    return true;
}

/* Turn libfyaml's collected errors into diagnostics; returns how many. */
static size_t report_yaml_errors(loader_t *ld, struct fy_diag *diag)
{
    size_t n = 0;
    void *it = NULL;
    struct fy_diag_error *e;
    while ((e = fy_diag_errors_iterate(diag, &it)) != NULL) {
        if (e->type < FYET_ERROR)
            continue;
        pos_t p = {e->line, e->column};
        report(ld, p, "%s", e->msg ? e->msg : "invalid YAML");
        n++;
    }
    return n;
}

static void free_provider(sy_provider_conf_t *p)
{
    free(p->name);
    free(p->base_url);
    free(p->api_key_env);
    free(p->api_key);
    for (size_t i = 0; i < p->n_headers; i++) {
        free(p->headers[i].name);
        free(p->headers[i].value);
    }
    free(p->headers);
    for (size_t i = 0; i < p->n_forward_headers; i++)
        free(p->forward_headers[i]);
    free(p->forward_headers);
    free(p->health.path);
}

static void free_model(sy_model_conf_t *m)
{
    free(m->name);
    for (size_t i = 0; i < m->n_deployments; i++) {
        free(m->deployments[i].provider);
        free(m->deployments[i].model);
    }
    free(m->deployments);
    free(m->fallbacks);
    free(m->context_fallbacks);
    for (size_t i = 0; i < m->n_tiers; i++)
        free(m->tiers[i].model);
    free(m->tiers);
}

static void free_experiment(sy_exp_conf_t *e)
{
    free(e->name);
    free(e->model);
    for (size_t i = 0; i < e->n_arms; i++) {
        free(e->arms[i].name);
        free(e->arms[i].model);
    }
    free(e->arms);
}

void sy_config_free(sy_config_t *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->server.listen);
    free(cfg->server.host);
    for (size_t i = 0; i < cfg->n_providers; i++)
        free_provider(&cfg->providers[i]);
    free(cfg->providers);
    for (size_t i = 0; i < cfg->n_models; i++)
        free_model(&cfg->models[i]);
    free(cfg->models);
    for (size_t i = 0; i < cfg->n_rules; i++)
        free_rule(&cfg->rules[i]);
    free(cfg->rules);
    free(cfg->cache.redis_url);
    free(cfg->cache.sqlite_path);
    free(cfg->cache.embedder);
    for (size_t i = 0; i < cfg->n_experiments; i++)
        free_experiment(&cfg->experiments[i]);
    free(cfg->experiments);
    free(cfg->model_slots);
    free(cfg->provider_slots);
    free(cfg);
}

static sy_config_t *config_defaults(const char *path)
{
    sy_config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->path = dup_str(path);
    cfg->server.listen = dup_str("127.0.0.1:11435");
    cfg->server.host = dup_str("127.0.0.1");
    cfg->server.port = 11435;
    cfg->server.workers = ncpu < 1 ? 1u : ncpu > SY_CONF_MAX_WORKERS ? SY_CONF_MAX_WORKERS
                                                                      : (unsigned)ncpu;
    cfg->server.max_body_bytes = 33554432;
    cfg->server.drain_timeout_ms = 10000;
    cfg->server.stream_high_water_bytes = 262144;
    cfg->server.sse_keepalive_ms = 15000;
    cfg->log.level = 1;
    cfg->log.requests = 1;
    cfg->cache.memory_max_bytes = 268435456;
    cfg->cache.sqlite_max_bytes = 4294967296ull;
    cfg->cache.embedder = dup_str("builtin");
    cfg->cache.threshold = 0.92;
    cfg->router.retries = 2;
    cfg->router.backoff_ms = 50;
    cfg->router.max_backoff_ms = 2000;
    cfg->router.cb_failures = 5;
    cfg->router.cb_window_s = 30;
    cfg->router.cb_cooldown_s = 30;
    cfg->router.timeout_ms = 600000;
    if (!cfg->path || !cfg->server.listen || !cfg->server.host || !cfg->cache.embedder) {
        sy_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* The shared body of both loaders: text is the whole file, file names it in diagnostics. */
static sy_config_t *load_text(const char *text, size_t len, const char *file, const char *cfg_path,
                              sy_diags_t *diags)
{
    loader_t ld = {.file = file, .diags = diags, .first_diag = diags ? diags->n : 0};
    struct fy_diag *diag = NULL;
    struct fy_parser *fyp = NULL;
    struct fy_document *doc = NULL;
    struct fy_document *extra = NULL;
    sy_config_t *ret = NULL;
    pos_t origin = {1, 1};

    ld.cfg = config_defaults(cfg_path);
    if (!ld.cfg) {
        ld.oom = true;
        goto out;
    }
    pos_t bad;
    if (find_bad_utf8(text, len, &bad)) {
        report(&ld, bad, "invalid UTF-8 or NUL byte; the configuration must be UTF-8 text");
        goto out;
    }

    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = fy_output_discard;
    dcfg.user = NULL;
    dcfg.level = FYET_ERROR;
    dcfg.colorize = false;
    diag = fy_diag_create(&dcfg);
    if (!diag) {
        ld.oom = true;
        goto out;
    }
    fy_diag_set_collect_errors(diag, true);

    struct fy_parse_cfg pcfg = {
        /* aliases are resolved below, after their expansion is bounded */
        .flags = FYPCF_QUIET,
        .diag = diag,
    };
    fyp = fy_parser_create(&pcfg);
    if (!fyp || fy_parser_set_string(fyp, text, len) != 0) {
        ld.oom = true;
        goto out;
    }
    doc = fy_parse_load_document(fyp);
    if (!doc) {
        if (report_yaml_errors(&ld, diag) == 0) {
            if (is_blank_yaml(text, len))
                report(&ld, origin, "the configuration is empty");
            else
                report(&ld, origin, "invalid YAML");
        }
        goto out;
    }
    /* A few nested aliases expand exponentially (a "billion laughs"):
     * count the expanded nodes first, stopping at the bound, then resolve. */
    if (expanded_nodes(fy_document_root(doc), 0, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES) {
        report(&ld, origin, "the configuration expands to more than %d nodes through aliases",
               MAX_EXPANDED_NODES);
        goto out;
    }
    if (fy_document_resolve(doc) != 0) {
        if (report_yaml_errors(&ld, diag) == 0)
            report(&ld, origin, "cannot resolve the configuration's anchors and aliases");
        goto out;
    }
    extra = fy_parse_load_document(fyp);
    if (extra) {
        const struct fy_mark *m =
            fy_document_state_start_mark(fy_document_get_document_state(extra));
        pos_t p = origin;
        if (m) {
            p.line = m->line + 1;
            p.col = m->column + 1;
        }
        report(&ld, p, "only one YAML document is allowed");
        goto out;
    }
    if (report_yaml_errors(&ld, diag) > 0)
        goto out;

    struct fy_node *root = fy_document_root(doc);
    if (is_null(root)) {
        report(&ld, origin, "the configuration is empty");
        goto out;
    }
    if (fy_node_get_type(root) != FYNT_MAPPING) {
        report(&ld, value_pos(root, origin),
               "expected a mapping at the top level (server, log, providers, models, cache, router)");
        goto out;
    }
    parse_root(&ld, root);

out:
    if (extra)
        fy_parse_document_destroy(fyp, extra);
    if (doc)
        fy_parse_document_destroy(fyp, doc);
    fy_parser_destroy(fyp);
    if (diag)
        fy_diag_destroy(diag);
    if (ld.oom && diags)
        diag_push(diags, file, 1, 1, "out of memory while loading the configuration");
    sort_diags(&ld);
    if (ld.problems > SY_CONF_MAX_PROBLEMS && diags) {
        char msg[96];
        snprintf(msg, sizeof(msg), "too many problems; %zu more not shown",
                 ld.problems - SY_CONF_MAX_PROBLEMS);
        diag_push(diags, file, 1, 1, msg);
    }
    if (ld.problems == 0 && !ld.oom) {
        ret = ld.cfg;
        ld.cfg = NULL;
    }
    sy_config_free(ld.cfg);
    for (size_t i = 0; i < ld.n_refs; i++)
        free(ld.refs[i].name);
    free(ld.refs);
    free(ld.cx);
    free(ld.rule_route_pos);
    return ret;
}

sy_config_t *sy_config_load_string(const char *text, size_t len, const char *name,
                                   sy_diags_t *diags)
{
    return load_text(text ? text : "", text ? len : 0, name ? name : "<string>", "<string>",
                     diags);
}

sy_config_t *sy_config_load(const char *path, sy_diags_t *diags)
{
    sy_config_t *cfg = NULL;
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;
    int err = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        err = errno;
        goto out;
    }
    /* Grow by doubling up to one byte past the limit, so "too large" is detectable. */
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > SY_CONF_MAX_FILE + 1)
                ncap = SY_CONF_MAX_FILE + 1;
            if (ncap == cap)
                break;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                err = ENOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        err = errno ? errno : EIO;
        goto out;
    }
    if (len > SY_CONF_MAX_FILE) {
        if (diags) {
            char msg[96];
            snprintf(msg, sizeof(msg), "file too large (max %u bytes)", SY_CONF_MAX_FILE);
            diag_push(diags, path, 1, 1, msg);
        }
        goto out;
    }
    cfg = load_text(buf ? buf : "", len, path, path, diags);
out:
    if (err && diags) {
        char msg[512];
        snprintf(msg, sizeof(msg), "cannot read: %s", strerror(err));
        diag_push(diags, path, 1, 1, msg);
    }
    free(buf);
    if (f)
        fclose(f);
    return cfg;
}

/* ---------------------------------------------------------------- lookups */

_Static_assert(offsetof(sy_model_conf_t, name) == 0, "NAME_AT: a model's name comes first");
_Static_assert(offsetof(sy_provider_conf_t, name) == 0, "NAME_AT: a provider's name comes first");

const sy_model_conf_t *sy_config_find_model(const sy_config_t *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    size_t i = find_name(cfg->models, sizeof(*cfg->models), cfg->n_models, cfg->model_slots, cfg->model_mask, name);
    return i ? &cfg->models[i - 1] : NULL;
}

const sy_provider_conf_t *sy_config_find_provider(const sy_config_t *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    size_t i = find_name(cfg->providers, sizeof(*cfg->providers), cfg->n_providers, cfg->provider_slots,
                         cfg->provider_mask, name);
    return i ? &cfg->providers[i - 1] : NULL;
}
