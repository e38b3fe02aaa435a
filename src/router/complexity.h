/*
 * complexity.h - a request's complexity score, and the tier of a
 * `router: complexity` model that serves it.
 *
 * A score from 0 to 100 is computed from cheap features of the canonical
 * request: its estimated prompt tokens, code blocks, math, multi-step
 * instructions, conversation depth, tools declared and the answer's
 * requested max tokens. Each feature saturates, is scaled to [0, 1] and
 * weighed (models[].complexity.weights); the weighed sum, rounded and
 * capped at 100, is the score. The model's tiers (config.h) map the score
 * to a model: the first tier whose `below` exceeds the score, else the
 * last one. docs/routing.md gives the exact formula so a user can predict
 * the tier.
 *
 * Everything here is pure: no allocation, no clock, no globals; any thread.
 * The scan of the request's text is bounded (SY_CX_SCAN_MAX bytes), so a
 * huge prompt costs no more than a 64 KiB one.
 */
#ifndef SY_ROUTER_COMPLEXITY_H
#define SY_ROUTER_COMPLEXITY_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/canon.h"

/* The most bytes of text the feature scan reads: the newest messages first. */
#define SY_CX_SCAN_MAX 65536

/* The features of one request (counts, before saturation). */
typedef struct sy_cx_feat {
    int64_t tokens;     /* sy_creq_estimate_tokens: every text, tool schema and image */
    int code_blocks;    /* ``` or ~~~ fenced blocks, and indented blocks of 2+ lines */
    int math;           /* LaTeX, math symbols, arithmetic, words like "prove", "integral" */
    int steps;          /* numbered list items, and the words step(s), first, then, next, finally */
    int depth;          /* turns: messages other than system ones */
    int tools;          /* tools declared */
    int64_t max_tokens; /* the answer's requested cap; 0 when unsaid */
} sy_cx_feat_t;

/* Fill *f from q. Reads at most SY_CX_SCAN_MAX bytes of text, walking the
 * messages from the newest to the oldest; text inside fenced code counts
 * towards code only. Counts are capped at 1000. */
void sy_cx_features(const sy_creq_t *q, sy_cx_feat_t *f);

/* The score, 0..100, of f under weights w (NULL: sy_cx_default_weights). */
unsigned sy_cx_score(const sy_cx_feat_t *f, const sy_cx_weights_t *w);

/* The index of the tier of m that takes score: the first whose below is
 * above it, else the catch-all last one. -1 when m has no tiers. */
int sy_cx_tier(const sy_model_conf_t *m, unsigned score);

/* Write "complexity=42 tier=medium tokens=812 code=1 math=0 steps=2 depth=1
 * tools=0 max_tokens=0" into buf[n] (NUL-terminated, cut to fit; tier_model
 * NULL leaves out tier=). Returns the length written. */
size_t sy_cx_reason(char *buf, size_t n, unsigned score, const char *tier_model, const sy_cx_feat_t *f);

#endif
