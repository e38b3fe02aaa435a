/*
 * rules.h - whether one routing rule (router.rules, config.h) holds for a
 * request.
 *
 * A rule's conditions are ANDed; a condition it does not give matches
 * anything. The cheap ones (ingress API, model glob, key and team globs,
 * header globs) are checked first; then metadata (a walk of the body's top
 * level), the token estimate and last the prompt regex. What costs is
 * computed once per request, when the first rule needs it, and kept in the
 * sy_rule_facts_t: the body's "metadata" object (or the ingress gives it,
 * having met it in its own walk of the body), the value of each header and
 * metadata key the rules name (one lookup per distinct name: the config
 * gives each a slot), the decoded request (for an OpenAI passthrough,
 * decoded only when a rule gets that far), the token estimate.
 *
 * The prompt a regex sees is the text of the user messages (the prompt of
 * a completion, the inputs of an embedding), newest first, each part
 * matched on its own, at most SY_RULE_PROMPT_SCAN bytes in all (the newest
 * ones). Neither system, assistant nor tool text is looked at. Globs are
 * fnmatch(3) patterns without flags ('*' also matches '/'), matched by our
 * own allocation-free matcher.
 *
 * Pure: no allocation, no clock, no globals; any thread. (A prompt regex
 * keeps a compiled copy per thread that matches at once: core/rx.h.)
 */
#ifndef SY_ROUTER_RULES_H
#define SY_ROUTER_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/canon.h"
#include "core/jsonscan.h"
#include "core/rx.h"

/* The bytes of user text a prompt regex scans, the newest kept. */
#define SY_RULE_PROMPT_SCAN (64u * 1024u)

/* The request header that carries metadata key K: "x-switchyard-metadata-K". */
#define SY_RULE_META_HEADER "x-switchyard-metadata-"

/* What rules are matched against. Fill the inputs (the rest zero, or use
 * sy_rule_facts_init); the lazily computed part belongs to rules.c. */
typedef struct sy_rule_facts {
    int proto;         /* sy_proto_t of the ingress */
    const char *model; /* the model asked for */
    const char *(*header)(void *ud, const char *name); /* a request header's value or NULL; may be NULL */
    void *hud;
    const char *key, *team;  /* NULL until auth */
    const sy_creq_t *q;      /* the decoded request, or NULL */
    /* called at most once, when q is NULL and a rule needs the prompt:
     * the decoded request, or NULL (prompt and tokens are then unknown) */
    const sy_creq_t *(*decode)(void *ud);
    void *dud;
    const char *body; /* the client's JSON (validated), for "metadata"; may be NULL */
    size_t body_len;
    /* the body's top-level "metadata" value when the caller already found
     * it (meta_given 1; p NULL: the body has none): body is not walked */
    int meta_given;
    sy_jval_t meta_in;

    /* computed on first use */
    int q_tried;
    int meta_state; /* 0 not looked, 1 found, -1 none */
    sy_jval_t meta;
    int64_t tokens; /* -2 not computed, -1 unknown */
    uint64_t slot_done; /* the slots (sy_rule_kv_t.slot) looked up, values in slot_val */
    size_t slot_used;   /* bytes of slot_buf taken by metadata values */
    /* not cleared by sy_rule_facts_init: read only where slot_done says */
    const char *slot_val[SY_RULE_SLOTS]; /* NULL: absent */
    char slot_buf[1024];
} sy_rule_facts_t;

void sy_rule_facts_init(sy_rule_facts_t *f);

/* Whether every condition of rule holds for f. */
int sy_rule_match(const sy_rule_conf_t *rule, sy_rule_facts_t *f);

/* The value of metadata key name for f into buf (NUL-terminated): the
 * header x-switchyard-metadata-<name> when present, else the string
 * member name of the body's top-level "metadata" object. Returns buf, or
 * NULL when there is none (or it is not a string, or longer than cap-1). */
const char *sy_rule_metadata(sy_rule_facts_t *f, const char *name, char *buf, size_t cap);

/* The decoded request for f (decoding it once if needed), or NULL. */
const sy_creq_t *sy_rule_request(sy_rule_facts_t *f);

/* Whether s matches glob pattern (fnmatch(3) without flags: '*' matches
 * '/' too). */
int sy_rule_glob(const char *pattern, const char *s);

/* Whether a prompt regex matches the user text of q, scanning at most
 * SY_RULE_PROMPT_SCAN bytes. */
int sy_rule_prompt_match(sy_rx_t *re, const sy_creq_t *q);

#endif
