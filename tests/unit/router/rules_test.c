/*
 * rules_test.c - unit tests for src/router/rules.c and the router.rules
 * keys of src/config/config.c: every condition of a rule (ingress API,
 * model globs, headers present / absent / globbed, metadata from the body
 * and from x-switchyard-metadata-* headers, key and team that never match
 * before auth, one lookup per distinct header or metadata name however many
 * rules name it (slots, and names past the last slot), metadata the
 * ingress already found, the prompt regex with and without icase and its
 * scan bound,
 * the token estimate's min and max), the lazy decode, and the config's
 * diagnostics (bad regex, unknown route target with did-you-mean, route
 * with reject, bad status, unknown keys).
 */
#include "config_harness.h"
#include "router/rules.h"

#include <criterion/criterion.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"

#define BASE                                                                                           \
    "providers:\n"                                                                                     \
    "  - { name: p, type: openai, base_url: \"https://p.example.invalid/v1\" }\n"                      \
    "models:\n"                                                                                        \
    "  - { name: small, deployments: [ { provider: p, model: s } ] }\n"                                \
    "  - { name: coder, deployments: [ { provider: p, model: c } ] }\n"

/* ---- a request to match ---- */

typedef struct hdrs {
    const char *kv[16]; /* name, value, ... NULL */
    int calls;
} hdrs_t;

static const char *hlookup(void *ud, const char *name)
{
    hdrs_t *h = ud;
    h->calls++;
    for (int i = 0; h->kv[i]; i += 2)
        if (strcasecmp(h->kv[i], name) == 0)
            return h->kv[i + 1];
    return NULL;
}

static sy_arena_t arena;
static sy_creq_t req;

/* A chat of one system message and the user messages given. */
static const sy_creq_t *chat(const char *system, const char *const *users, size_t n)
{
    sy_arena_release(&arena);
    sy_arena_init(&arena, 0);
    sy_creq_init(&req, SY_OP_CHAT, SY_PROTO_OPENAI);
    req.msgs = sy_arena_calloc(&arena, n + 1, sizeof(sy_msg_t));
    req.n_msgs = n + 1;
    req.msgs[0].role = SY_ROLE_SYSTEM;
    req.msgs[0].parts = sy_arena_calloc(&arena, 1, sizeof(sy_part_t));
    req.msgs[0].n_parts = 1;
    req.msgs[0].parts[0].text = (sy_str_t){system, strlen(system)};
    for (size_t i = 0; i < n; i++) {
        sy_msg_t *m = &req.msgs[i + 1];
        m->role = i % 2 ? SY_ROLE_ASSISTANT : SY_ROLE_USER;
        m->parts = sy_arena_calloc(&arena, 1, sizeof(sy_part_t));
        m->n_parts = 1;
        m->parts[0].text = (sy_str_t){users[i], strlen(users[i])};
    }
    return &req;
}

static void facts(sy_rule_facts_t *f, int proto, const char *model, hdrs_t *h)
{
    sy_rule_facts_init(f);
    f->proto = proto;
    f->model = model;
    f->header = h ? hlookup : NULL;
    f->hud = h;
}

static int matches(const sy_config_t *c, size_t rule, sy_rule_facts_t *f)
{
    return sy_rule_match(&c->rules[rule], f);
}

/* ---- conditions ---- */

Test(rules, no_conditions_match_anything)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n    - { name: all, action: { route: coder } }\n");
    sy_rule_facts_t f;
    facts(&f, SY_PROTO_OLLAMA, "whatever", NULL);
    cr_assert(matches(c, 0, &f));
    cr_assert_eq(c->rules[0].route_model, 1);
    cr_assert_eq(c->rules_need, 0);
    sy_config_free(c);
}

Test(rules, api_string_and_list)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: a, match: { api: ollama }, action: { route: coder } }\n"
                                  "    - { name: b, match: { api: [openai, anthropic] }, action: { route: coder } }\n");
    sy_rule_facts_t f;
    int want[3][2] = {{0, 1}, {1, 0}, {0, 1}};
    for (int p = 0; p < 3; p++) {
        facts(&f, p, "small", NULL);
        cr_assert_eq(matches(c, 0, &f), want[p][0], "proto %d rule a", p);
        cr_assert_eq(matches(c, 1, &f), want[p][1], "proto %d rule b", p);
    }
    sy_config_free(c);
}

Test(rules, model_globs)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: a, match: { model: \"gpt-4*\" }, action: { route: coder } }\n"
                                  "    - { name: b, match: { model: [\"x\", \"*/llama?\"] }, action: { route: coder } }\n");
    sy_rule_facts_t f;
    const struct {
        const char *model;
        int a, b;
    } cases[] = {{"gpt-4o", 1, 0}, {"gpt-4", 1, 0}, {"gpt-3.5", 0, 0}, {"x", 0, 1},
                 {"p/llama3", 0, 1}, {"p/llama31", 0, 0}, {"GPT-4o", 0, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        facts(&f, SY_PROTO_OPENAI, cases[i].model, NULL);
        cr_assert_eq(matches(c, 0, &f), cases[i].a, "%s a", cases[i].model);
        cr_assert_eq(matches(c, 1, &f), cases[i].b, "%s b", cases[i].model);
    }
    sy_config_free(c);
}

Test(rules, headers_present_absent_glob)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - name: a\n"
                                  "      match: { headers: { X-Team: \"search*\", x-env: \"*\" } }\n"
                                  "      action: { route: coder }\n");
    cr_assert_str_eq(c->rules[0].headers[0].name, "x-team", "header names are lower-cased");
    sy_rule_facts_t f;
    hdrs_t both = {{"x-team", "search-eu", "X-Env", "", NULL}, 0};
    hdrs_t other = {{"x-team", "ads", "x-env", "prod", NULL}, 0};
    hdrs_t absent = {{"x-team", "search", NULL}, 0};
    facts(&f, SY_PROTO_OPENAI, "small", &both);
    cr_assert(matches(c, 0, &f), "present and matching (an empty value matches *)");
    facts(&f, SY_PROTO_OPENAI, "small", &other);
    cr_assert_not(matches(c, 0, &f), "value does not match");
    facts(&f, SY_PROTO_OPENAI, "small", &absent);
    cr_assert_not(matches(c, 0, &f), "a header absent never matches, not even *");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    cr_assert_not(matches(c, 0, &f), "no header lookup at all");
    sy_config_free(c);
}

Test(rules, metadata_from_body_and_header)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: a, match: { metadata: { tier: \"gold*\" } }, action: { route: coder } }\n");
    cr_assert_eq(c->rules_need, SY_RULE_NEEDS_META);
    sy_rule_facts_t f;
    static const char body[] = " {\"model\":\"small\",\"metadata\":{\"tier\":\"gold-plus\",\"n\":1},\"x\":[]} ";
    static const char other[] = "{\"metadata\":{\"tier\":\"silver\"}}";
    static const char notstr[] = "{\"metadata\":{\"tier\":7}}";
    static const char esc[] = "{\"metadata\":{\"t\\u0069er\":\"gold\"}}";
    hdrs_t hgold = {{"x-switchyard-metadata-tier", "gold", NULL}, 0};
    hdrs_t hsilver = {{"x-switchyard-metadata-tier", "silver", NULL}, 0};

    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.body = body, f.body_len = strlen(body);
    cr_assert(matches(c, 0, &f), "body metadata");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.body = other, f.body_len = strlen(other);
    cr_assert_not(matches(c, 0, &f));
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.body = notstr, f.body_len = strlen(notstr);
    cr_assert_not(matches(c, 0, &f), "only string members count");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.body = esc, f.body_len = strlen(esc);
    cr_assert(matches(c, 0, &f), "keys are compared decoded");
    facts(&f, SY_PROTO_OLLAMA, "small", &hgold);
    cr_assert(matches(c, 0, &f), "the header form (Ollama clients)");
    facts(&f, SY_PROTO_OPENAI, "small", &hsilver);
    f.body = body, f.body_len = strlen(body);
    cr_assert_not(matches(c, 0, &f), "the header wins over the body");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    cr_assert_not(matches(c, 0, &f), "no metadata at all");
    sy_config_free(c);
}

/* Every rule naming a header or metadata key shares its slot: the request
 * looks each distinct name up once, however many rules ask. */
Test(rules, one_lookup_per_name_across_rules)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: a, match: { headers: { x-team: \"a*\" }, metadata: { tier: \"a\" } },"
                                  " action: { route: coder } }\n"
                                  "    - { name: b, match: { headers: { X-Team: \"b*\", tier: \"z*\" } }, action: { route: coder } }\n"
                                  "    - { name: c, match: { metadata: { tier: \"c*\" }, headers: { x-team: \"*\" } },"
                                  " action: { route: coder } }\n");
    int team = c->rules[0].headers[0].slot, tier = c->rules[0].metadata[0].slot;
    cr_assert_geq(team, 0);
    cr_assert_eq(c->rules[1].headers[0].slot, team, "the same header, however written");
    cr_assert_eq(c->rules[2].headers[0].slot, team);
    cr_assert_eq(c->rules[2].metadata[0].slot, tier, "the same metadata key");
    cr_assert_neq(c->rules[1].headers[1].slot, tier, "a header named like a metadata key is another name");
    cr_assert_neq(c->rules[1].headers[1].slot, team);

    hdrs_t h = {{"x-team", "b-1", "x-switchyard-metadata-tier", "c", "tier", "t", NULL}, 0};
    sy_rule_facts_t f;
    facts(&f, SY_PROTO_OPENAI, "small", &h);
    cr_assert_not(matches(c, 0, &f), "x-team looked up");
    cr_assert_not(matches(c, 1, &f), "x-team kept, tier looked up");
    cr_assert(matches(c, 2, &f), "x-team kept, the metadata header looked up");
    cr_assert_eq(h.calls, 3, "x-team, tier and the metadata header once each, not %d lookups", h.calls);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(matches(c, i, &f), i == 2, "again, from what was kept: rule %zu", i);
    cr_assert_eq(h.calls, 3);
    sy_config_free(c);
}

/* The ingress met "metadata" in its own walk: the body is not walked again. */
Test(rules, metadata_given_by_the_ingress)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: a, match: { metadata: { tier: \"gold\" } }, action: { route: coder } }\n");
    static const char body[] = "{\"metadata\":{\"tier\":\"gold\"}}";
    sy_rule_facts_t f;
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.meta_given = 1;
    f.meta_in = sy_json_value(body + 12, strlen(body) - 13);
    cr_assert_eq(f.meta_in.type, SY_JOBJECT);
    cr_assert(matches(c, 0, &f), "the span given");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.body = body, f.body_len = strlen(body);
    f.meta_given = 1; /* and found none */
    cr_assert_not(matches(c, 0, &f), "the ingress said there is none: the body is not looked at");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.meta_given = 1;
    f.meta_in = sy_json_value("\"gold\"", 6);
    cr_assert_not(matches(c, 0, &f), "metadata that is not an object has no keys");
    sy_config_free(c);
}

/* Values that overflow what the facts keep are still matched, each time. */
Test(rules, long_metadata_values_past_the_kept_bytes)
{
    char yaml[4096], body[8192], val[401];
    memset(val, 'v', 400);
    val[399] = 'x';
    val[400] = '\0';
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), BASE "router:\n  rules:\n");
    size_t b = (size_t)snprintf(body, sizeof(body), "{\"metadata\":{");
    for (int i = 0; i < 5; i++) {
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
                              "    - { name: r%d, match: { metadata: { k%d: \"v*x\" } }, action: { route: coder } }\n", i, i);
        b += (size_t)snprintf(body + b, sizeof(body) - b, "%s\"k%d\":\"%s\"", i ? "," : "", i, val);
    }
    snprintf(body + b, sizeof(body) - b, "}}");
    sy_config_t *c = sy_test_load_ok(yaml);
    sy_rule_facts_t f;
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.body = body, f.body_len = strlen(body);
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < 5; i++)
            cr_assert(matches(c, i, &f), "rule %zu, round %d", i, round);
    cr_assert_leq(f.slot_used, sizeof(f.slot_buf));
    sy_config_free(c);
}

Test(rules, key_and_team_never_match_before_auth)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: k, match: { key: \"*\" }, action: { route: coder } }\n"
                                  "    - { name: t, match: { team: \"ml-*\" }, action: { route: coder } }\n");
    sy_rule_facts_t f;
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    cr_assert_not(matches(c, 0, &f));
    cr_assert_not(matches(c, 1, &f));
    /* once auth fills them in, they are globs like the others */
    f.key = "sk-1";
    f.team = "ml-core";
    cr_assert(matches(c, 0, &f));
    cr_assert(matches(c, 1, &f));
    f.team = "ads";
    cr_assert_not(matches(c, 1, &f));
    sy_config_free(c);
}

Test(rules, prompt_regex_user_text_only)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - name: code\n"
                                  "      match: { prompt: \"(def|class) [a-z_]+\\\\(\" }\n"
                                  "      action: { route: coder }\n"
                                  "    - name: ci\n"
                                  "      match: { prompt: \"^hello\", prompt_icase: true }\n"
                                  "      action: { route: coder }\n");
    cr_assert_eq(c->rules_need, SY_RULE_NEEDS_PROMPT);
    sy_rule_facts_t f;
    const char *u1[] = {"please write def parse_it(x) for me"};
    const char *u2[] = {"no code here"};
    const char *u3[] = {"HELLO there"};
    const char *u4[] = {"say hello"};
    const char *asst[] = {"first", "def in_assistant(x)", "last"}; /* user, assistant, user */

    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = chat("sys", u1, 1);
    cr_assert(matches(c, 0, &f));
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = chat("def in_system(x)", u2, 1);
    cr_assert_not(matches(c, 0, &f), "system text is not looked at");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = chat("sys", asst, 3);
    cr_assert_not(matches(c, 0, &f), "assistant text is not looked at");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = chat("sys", u3, 1);
    cr_assert(matches(c, 1, &f), "icase");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = chat("sys", u4, 1);
    cr_assert_not(matches(c, 1, &f), "^ anchors at the start of a message");
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    cr_assert_not(matches(c, 0, &f), "no request and no decoder: the prompt is unknown");
    sy_config_free(c);
}

Test(rules, prompt_scan_is_bounded_to_the_newest_text)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: m, match: { prompt: \"MARKER\" }, action: { route: coder } }\n");
    size_t big = SY_RULE_PROMPT_SCAN + 100;
    char *old = malloc(big + 1), *recent = malloc(big + 1);
    memset(old, 'a', big);
    memcpy(old + big - 6, "MARKER", 6); /* at the end of an old message */
    old[big] = '\0';
    memset(recent, 'b', big);
    recent[big] = '\0';
    sy_rule_facts_t f;
    const char *two[] = {old, "ok", "fine"};
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = chat("s", two, 3);
    cr_assert(matches(c, 0, &f), "small messages leave budget for the older one, its tail first");

    const char *far[] = {old, "ok", recent};
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = chat("s", far, 3);
    cr_assert_not(matches(c, 0, &f), "past the bound: not scanned");

    memcpy(recent + big - 6, "MARKER", 6);
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = chat("s", far, 3);
    cr_assert(matches(c, 0, &f), "the newest bytes are the ones scanned");
    memcpy(recent + big - 6, "bbbbbb", 6);
    memcpy(recent, "MARKER", 6);
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = chat("s", far, 3);
    cr_assert_not(matches(c, 0, &f), "the head of a message over the bound is cut");
    free(old);
    free(recent);
    sy_config_free(c);
}

Test(rules, tokens_min_max)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: lo, match: { tokens: { min: 100 } }, action: { route: coder } }\n"
                                  "    - { name: hi, match: { tokens: { max: 10 } }, action: { route: coder } }\n"
                                  "    - { name: mid, match: { tokens: { min: 5, max: 50 } }, action: { route: coder } }\n");
    char longtext[1000];
    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    const char *shortm[] = {"hi"};
    const char *longm[] = {longtext};
    const char *midm[] = {"a sentence of some eighty bytes, about twenty tokens give or take a few ok"};
    sy_rule_facts_t f;
    struct {
        const char *const *m;
        int lo, hi, mid;
    } cases[] = {{shortm, 0, 1, 0}, {longm, 1, 0, 0}, {midm, 0, 0, 1}};
    for (int i = 0; i < 3; i++) {
        const sy_creq_t *q = chat("s", cases[i].m, 1);
        int64_t t = sy_creq_estimate_tokens(q);
        for (int r = 0; r < 3; r++) {
            facts(&f, SY_PROTO_OPENAI, "small", NULL);
            f.q = q;
            int want = r == 0 ? cases[i].lo : r == 1 ? cases[i].hi : cases[i].mid;
            cr_assert_eq(matches(c, (size_t)r, &f), want, "case %d (%lld tokens) rule %d", i, (long long)t, r);
        }
    }
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    cr_assert_not(matches(c, 1, &f), "unknown token count never matches");
    sy_config_free(c);
}

static int decodes;
static const sy_creq_t *decode_once(void *ud)
{
    decodes++;
    return ud;
}

Test(rules, cheap_conditions_first_and_one_decode)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: a, match: { model: other, prompt: x }, action: { route: coder } }\n"
                                  "    - { name: b, match: { prompt: zzz }, action: { route: coder } }\n"
                                  "    - { name: c, match: { tokens: { min: 1 } }, action: { route: coder } }\n");
    const char *u[] = {"x"};
    const sy_creq_t *q = chat("s", u, 1);
    sy_rule_facts_t f;
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.decode = decode_once;
    f.dud = (void *)q;
    decodes = 0;
    cr_assert_not(matches(c, 0, &f));
    cr_assert_eq(decodes, 0, "the model did not match: nothing decoded");
    cr_assert_not(matches(c, 1, &f));
    cr_assert(matches(c, 2, &f));
    cr_assert_eq(decodes, 1, "decoded once for every rule after");

    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.decode = decode_once;
    f.dud = NULL; /* the decoder refuses the body */
    decodes = 0;
    cr_assert_not(matches(c, 1, &f));
    cr_assert_not(matches(c, 2, &f));
    cr_assert_eq(decodes, 1, "a failed decode is not retried");
    sy_config_free(c);
}

Test(rules, embedding_inputs_are_the_prompt)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - { name: e, match: { prompt: \"secret\" }, action: { reject: {} } }\n");
    sy_creq_t q;
    sy_creq_init(&q, SY_OP_EMBED, SY_PROTO_OPENAI);
    sy_str_t in[2] = {{"plain", 5}, {"top secret", 10}};
    q.inputs = in;
    q.n_inputs = 2;
    sy_rule_facts_t f;
    facts(&f, SY_PROTO_OPENAI, "small", NULL);
    f.q = &q;
    cr_assert(matches(c, 0, &f));
    cr_assert_eq(c->rules[0].reject_status, 403);
    cr_assert_str_eq(c->rules[0].reject_message, "rejected by routing rule \"e\"");
    sy_config_free(c);
}

Test(rules, glob_agrees_with_fnmatch)
{
    static const char *const pats[] = {
        "*",       "gpt-4*",   "*/llama?", "a*b*c",    "[a-c]x",  "[!a-c]x", "[^a]*",   "[]]",   "[]a]x",
        "\\*x",    "a\\",      "[",        "*.*",     "a?c",     "**a**",   "[-a]b", "[a-]b",
        "x[\\]]y", "",         "?",        "*a",       "a*",      "[z-a]",   "ab[c",    "*[0-9]", "p/*-chat",
    };
    static const char *const strs[] = {
        "",       "a",     "abc",  "gpt-4",   "gpt-4o", "p/llama3", "p/q/llama3", "aXbYc", "bx",    "dx",
        "]",      "]x",    "ax",   "*x",      "a\\",    "[a-",      "[",          "a.b",   "ab",    "-b",
        "x]y",    "zzzaz", "a9",   "p/x-chat", "ab[c", "acb",      "\\",
    };
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
        for (size_t j = 0; j < sizeof(strs) / sizeof(strs[0]); j++)
            cr_assert_eq(sy_rule_glob(pats[i], strs[j]), fnmatch(pats[i], strs[j], 0) == 0, "pattern \"%s\" on \"%s\"",
                         pats[i], strs[j]);
}

/* ---- the config ---- */

Test(rules_config, actions_read_back)
{
    sy_config_t *c = sy_test_load_ok(BASE "router:\n  rules:\n"
                                  "    - name: r1\n"
                                  "      action:\n"
                                  "        route: p/raw-model\n"
                                  "        set: { temperature: 0, seed: -5, top_k: 40 }\n"
                                  "        cap: { max_tokens: 1024, temperature: 1.5, top_p: 0.9 }\n"
                                  "    - name: r2\n"
                                  "      action: { reject: { status: 429, message: \"slow down\" } }\n"
                                  "    - name: r3\n"
                                  "      action: { cap: { presence_penalty: -1, frequency_penalty: 2 } }\n");
    cr_assert_eq(c->n_rules, 3);
    const sy_rule_conf_t *r = &c->rules[0];
    cr_assert_str_eq(r->route, "p/raw-model");
    cr_assert_eq(r->route_model, SY_RULE_ROUTE_ADDRESS);
    cr_assert_eq(r->params.set_mask,
                 (1u << SY_PARAM_TEMPERATURE) | (1u << SY_PARAM_SEED) | (1u << SY_PARAM_TOP_K));
    cr_assert_eq(r->params.set[SY_PARAM_SEED], -5);
    cr_assert_eq(r->params.set[SY_PARAM_TOP_K], 40);
    cr_assert_eq(r->params.cap_mask,
                 (1u << SY_PARAM_MAX_TOKENS) | (1u << SY_PARAM_TEMPERATURE) | (1u << SY_PARAM_TOP_P));
    cr_assert_eq(r->params.cap[SY_PARAM_MAX_TOKENS], 1024);
    cr_assert_eq(r->params.cap[SY_PARAM_TOP_P], 0.9);
    cr_assert_not(r->reject);
    cr_assert(c->rules[1].reject);
    cr_assert_eq(c->rules[1].reject_status, 429);
    cr_assert_str_eq(c->rules[1].reject_message, "slow down");
    cr_assert_null(c->rules[2].route);
    cr_assert_eq(c->rules[2].params.cap[SY_PARAM_PRESENCE_PENALTY], -1);
    sy_config_free(c);
}

Test(rules_config, bad_regex_is_reported_at_its_value)
{
    sy_test_expect_diags(BASE "router:\n  rules:\n"
                      "    - name: r\n"
                      "      match: { prompt: \"(unclosed\" }\n"
                      "      action: { route: coder }\n",
                 "t.yaml:9:24: router.rules[0].match.prompt: not a valid POSIX extended regular expression: "
                 "Unmatched ( or \\(",
                 NULL);
}

Test(rules_config, unknown_route_target_did_you_mean)
{
    sy_test_expect_diags(BASE "router:\n  rules:\n"
                      "    - { name: a, action: { route: codr } }\n"
                      "    - { name: b, action: { route: q/model } }\n"
                      "    - { name: c, action: { route: zzzzzz } }\n",
                 "t.yaml:8:35: router.rules[0].action.route: unknown model \"codr\"; did you mean \"coder\"?",
                 "t.yaml:9:35: router.rules[1].action.route: \"q/model\" names no configured model, and \"q\" is not "
                 "a provider",
                 "t.yaml:10:35: router.rules[2].action.route: unknown model \"zzzzzz\"", NULL);
}

Test(rules_config, route_with_reject_and_empty_actions)
{
    sy_test_expect_diags(BASE "router:\n  rules:\n"
                      "    - { name: a, action: { route: coder, reject: {} } }\n"
                      "    - { name: b, action: { reject: { message: x }, cap: { max_tokens: 5 } } }\n"
                      "    - { name: c, action: {} }\n"
                      "    - { name: d, match: { model: x } }\n",
                 "t.yaml:8:18: router.rules[0].action: reject cannot be combined with route, set or cap",
                 "t.yaml:9:18: router.rules[1].action: reject cannot be combined with route, set or cap",
                 "t.yaml:10:18: router.rules[2].action: expected route, set, cap or reject",
                 "t.yaml:11:9: router.rules[3]: missing required key \"action\"", NULL);
}

Test(rules_config, bad_status_params_and_keys)
{
    sy_test_expect_diags(BASE "router:\n  rules:\n"
                      "    - name: a\n"
                      "      match: { modle: x, api: [openai, grpc], tokens: { min: 9, max: 3 } }\n"
                      "      action: { reject: { status: 500 } }\n"
                      "    - name: b\n"
                      "      action: { set: { temperature: 3, max_tokens: 1.5, topp: 1 }, cap: { seed: 1 } }\n"
                      "    - { name: b, action: { route: coder } }\n"
                      "    - { action: { route: coder } }\n",
                 "t.yaml:9:16: unknown key \"modle\" in router.rules[0].match; did you mean \"model\"?",
                 "t.yaml:9:40: router.rules[0].match.api[1]: expected one of openai, ollama, anthropic",
                 "t.yaml:9:47: router.rules[0].match.tokens: min (9) is above max (3)",
                 "t.yaml:10:35: router.rules[0].action.reject.status: expected a client error status, 400..499",
                 "t.yaml:12:37: router.rules[1].action.set.temperature: out of range (0..2)",
                 "t.yaml:12:52: router.rules[1].action.set.max_tokens: expected a whole number",
                 "t.yaml:12:57: unknown key \"topp\" in router.rules[1].action.set; did you mean \"top_p\"?",
                 "t.yaml:12:75: router.rules[1].action.cap.seed: a seed cannot be capped; use set",
                 "t.yaml:13:15: router.rules[2].name: duplicate rule name \"b\" (first defined at line 11)",
                 "t.yaml:14:9: router.rules[3]: missing required key \"name\"", NULL);
}

/* Past SY_RULE_SLOTS distinct names a name has no slot and is looked up
 * each time it is needed - and still matches. */
Test(rules_config, slots_are_bounded)
{
    char yaml[32768];
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), BASE "router:\n  rules:\n");
    for (int i = 0; i < SY_RULE_SLOTS + 6; i++)
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
                              "    - { name: r%d, match: { headers: { x-h%d: \"y\" } }, action: { route: coder } }\n", i, i);
    sy_config_t *c = sy_test_load_ok(yaml);
    for (int i = 0; i < SY_RULE_SLOTS + 6; i++)
        cr_assert_eq(c->rules[i].headers[0].slot, i < SY_RULE_SLOTS ? i : -1, "rule %d", i);
    hdrs_t h = {{"x-h69", "y", NULL}, 0};
    sy_rule_facts_t f;
    facts(&f, SY_PROTO_OPENAI, "small", &h);
    cr_assert(matches(c, SY_RULE_SLOTS + 5, &f));
    cr_assert(matches(c, SY_RULE_SLOTS + 5, &f));
    cr_assert_eq(h.calls, 2, "no slot: looked up each time");
    sy_config_free(c);
}

Test(rules_config, header_and_metadata_names)
{
    sy_test_expect_diags(BASE "router:\n  rules:\n"
                      "    - name: a\n"
                      "      match: { headers: { \"bad name\": x, x-a: y, X-A: z }, metadata: { \"k:v\": x } }\n"
                      "      action: { route: coder }\n",
                 "t.yaml:9:27: router.rules[0].match.headers: \"bad name\" is not a valid header name (letters, "
                 "digits and !#$%&'*+-.^_`|~, at most 256)",
                 "t.yaml:9:50: router.rules[0].match.headers: \"X-A\" is given twice",
                 "t.yaml:9:72: router.rules[0].match.metadata: \"k:v\" is not a valid metadata key (letters, digits "
                 "and !#$%&'*+-.^_`|~, at most 64)",
                 NULL);
}
