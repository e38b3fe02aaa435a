/*
 * complexity.c - complexity features, score and tier (see complexity.h).
 *
 * The scan is one pass over each text, line by line, with a small state
 * machine: a fence line (``` or ~~~ after up to three spaces) opens or
 * closes a code block; lines indented by four spaces or a tab after a
 * blank line open an indented block once a second such line follows.
 * Outside code, each word is compared (lower-cased, a plural 's' dropped)
 * against two short lists, a backslash command against the LaTeX ones,
 * and an operator between digits counts as arithmetic. Nothing allocates;
 * the longest thing kept is a 24-byte word.
 */
#include "router/complexity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CAP 1000

static const char *const math_words[] = {"prove",      "proof",      "theorem",   "lemma",    "integral",
                                         "derivative", "equation",   "matrix",    "matrices", "eigenvalue",
                                         "polynomial", "logarithm",  "probability", "calculus", "factorial"};
static const char *const step_words[] = {"step", "first", "then", "next", "finally"};
static const char *const latex_cmds[] = {"frac", "int",  "sum",   "sqrt", "lim",  "prod", "partial", "infty",
                                         "alpha", "beta", "theta", "pi",  "cdot", "times", "leq",    "geq",
                                         "neq",  "begin"};

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int in_list(const char *w, size_t n, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == n && memcmp(list[i], w, n) == 0)
            return 1;
    return 0;
}

static void bump(int *c)
{
    if (*c < CAP)
        (*c)++;
}

typedef struct scan {
    sy_cx_feat_t *f;
    int fence;      /* inside a fenced block */
    int prev_blank; /* the previous line was blank (or there was none) */
    int indented;   /* consecutive indented lines after a blank one */
} scan_t;

/* Nearest non-space byte before i (or 0), and after j (or 0). */
static unsigned char left_of(const char *s, size_t i)
{
    while (i > 0 && s[i - 1] == ' ')
        i--;
    return i > 0 ? (unsigned char)s[i - 1] : 0;
}

static unsigned char right_of(const char *s, size_t n, size_t j)
{
    while (j < n && s[j] == ' ')
        j++;
    return j < n ? (unsigned char)s[j] : 0;
}

static int operand(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '(' || c == ')';
}

/* Math and step signals of one line outside code. */
static void scan_prose(scan_t *st, const char *s, size_t n)
{
    sy_cx_feat_t *f = st->f;
    /* "1. ", "12) ": a numbered list item */
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t d = i;
    while (d < n && d - i < 3 && is_digit((unsigned char)s[d]))
        d++;
    if (d > i && d + 1 < n && (s[d] == '.' || s[d] == ')') && s[d + 1] == ' ')
        bump(&f->steps);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_alpha(c) && (i == 0 || !is_alpha((unsigned char)s[i - 1]))) {
            char w[24];
            size_t k = 0, j = i;
            while (j < n && is_alpha((unsigned char)s[j])) {
                if (k < sizeof(w))
                    w[k++] = (char)(s[j] | 0x20);
                j++;
            }
            if (j - i <= sizeof(w)) {
                int bs = i > 0 && s[i - 1] == '\\';
                if (bs) {
                    if (in_list(w, k, latex_cmds, sizeof(latex_cmds) / sizeof(latex_cmds[0])))
                        bump(&f->math);
                } else {
                    size_t k2 = k > 1 && w[k - 1] == 's' ? k - 1 : k;
                    if (in_list(w, k, math_words, sizeof(math_words) / sizeof(math_words[0])) ||
                        in_list(w, k2, math_words, sizeof(math_words) / sizeof(math_words[0])))
                        bump(&f->math);
                    else if (in_list(w, k, step_words, sizeof(step_words) / sizeof(step_words[0])) ||
                             (k2 == 4 && memcmp(w, "step", 4) == 0))
                        bump(&f->steps);
                }
            }
            i = j - 1;
            continue;
        }
        if (c == '$' && i + 1 < n && s[i + 1] == '$') {
            bump(&f->math);
            i++;
            continue;
        }
        if (c == '\\' && i + 1 < n && (s[i + 1] == '(' || s[i + 1] == '[')) {
            bump(&f->math);
            i++;
            continue;
        }
        /* U+2200..U+22FF, the Mathematical Operators block: E2 88..8B xx */
        if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] >= 0x88 && (unsigned char)s[i + 1] <= 0x8b) {
            bump(&f->math);
            i += 2;
            continue;
        }
        if (c && strchr("+*^=-/", (int)c)) {
            unsigned char l = left_of(s, i), r = right_of(s, n, i + 1);
            int strict = c == '-' || c == '/';
            if (operand(l) && operand(r) &&
                (strict ? is_digit(l) && is_digit(r) : is_digit(l) || is_digit(r)))
                bump(&f->math);
        }
    }
}

static int is_fence(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && i < 3 && s[i] == ' ')
        i++;
    return n - i >= 3 && (memcmp(s + i, "```", 3) == 0 || memcmp(s + i, "~~~", 3) == 0);
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

static void scan_line(scan_t *st, const char *s, size_t n)
{
    if (is_fence(s, n)) {
        if (!st->fence)
            bump(&st->f->code_blocks);
        st->fence = !st->fence;
        st->prev_blank = 0;
        st->indented = 0;
        return;
    }
    if (st->fence)
        return;
    if (is_blank(s, n)) {
        st->prev_blank = 1;
        st->indented = 0;
        return;
    }
    int ind = (n >= 4 && memcmp(s, "    ", 4) == 0) || (n >= 1 && s[0] == '\t');
    if (ind && (st->indented > 0 || st->prev_blank)) {
        if (++st->indented == 2)
            bump(&st->f->code_blocks);
        st->prev_blank = 0;
        return;
    }
    st->indented = 0;
    st->prev_blank = 0;
    scan_prose(st, s, n);
}

/* Scan s[0..n); returns the bytes read (at most budget). */
static size_t scan_text(sy_cx_feat_t *f, const char *s, size_t n, size_t budget)
{
    scan_t st = {.f = f, .prev_blank = 1};
    if (n > budget)
        n = budget;
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n;
        scan_line(&st, s + i, e - i);
        i = e + 1;
    }
    return n;
}

void sy_cx_features(const sy_creq_t *q, sy_cx_feat_t *f)
{
    memset(f, 0, sizeof(*f));
    f->tokens = sy_creq_estimate_tokens(q);
    f->tools = q->n_tools > CAP ? CAP : (int)q->n_tools;
    f->max_tokens = q->max_tokens > 0 ? q->max_tokens : 0;
    size_t budget = SY_CX_SCAN_MAX;
    for (size_t i = q->n_msgs; i-- > 0;) {
        const sy_msg_t *m = &q->msgs[i];
        if (m->role != SY_ROLE_SYSTEM)
            bump(&f->depth);
        for (size_t j = 0; j < m->n_parts && budget > 0; j++) {
            const sy_part_t *p = &m->parts[j];
            if (p->kind == SY_PART_TEXT && p->text.p)
                budget -= scan_text(f, p->text.p, p->text.len, budget);
        }
    }
}

/* x clamped to [0, 1]. */
static double unit(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

static double sat(int64_t v, int64_t cap)
{
    return (double)(v < cap ? v : cap) / (double)cap;
}

/* log2(v / lo) / log2(hi / lo), in [0, 1]: lo and below 0, hi and above 1. */
static double logsat(int64_t v, double lo, double hi)
{
    if (v <= lo)
        return 0;
    return unit(log2((double)v / lo) / log2(hi / lo));
}

unsigned sy_cx_score(const sy_cx_feat_t *f, const sy_cx_weights_t *w)
{
    if (!w)
        w = &sy_cx_default_weights;
    double depth = f->depth > 1 ? f->depth - 1 : 0;
    double s = w->tokens * logsat(f->tokens, 64, 8192) + w->code * sat(f->code_blocks, 3) +
               w->math * sat(f->math, 5) + w->steps * sat(f->steps, 5) + w->depth * unit(depth / 8.0) +
               w->tools * sat(f->tools, 4) + w->max_tokens * logsat(f->max_tokens, 256, 16384);
    double r = floor(s + 0.5);
    return r >= 100 ? 100u : r <= 0 ? 0u : (unsigned)r;
}

int sy_cx_tier(const sy_model_conf_t *m, unsigned score)
{
    if (!m || m->n_tiers == 0)
        return -1;
    for (size_t i = 0; i < m->n_tiers; i++)
        if (m->tiers[i].below == 0 || score < m->tiers[i].below)
            return (int)i;
    return (int)m->n_tiers - 1;
}

size_t sy_cx_reason(char *buf, size_t n, unsigned score, const char *tier_model, const sy_cx_feat_t *f)
{
    if (n == 0)
        return 0;
    int w = snprintf(buf, n, "complexity=%u%s%s tokens=%lld code=%d math=%d steps=%d depth=%d tools=%d max_tokens=%lld",
                     score, tier_model ? " tier=" : "", tier_model ? tier_model : "", (long long)f->tokens,
                     f->code_blocks, f->math, f->steps, f->depth, f->tools, (long long)f->max_tokens);
    if (w < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)w < n ? (size_t)w : n - 1;
}
