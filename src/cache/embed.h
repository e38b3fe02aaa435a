/*
 * embed.h - the semantic cache's built-in embedder and its guards.
 *
 * The built-in embedder needs no model: it hashes features of the text into
 * a fixed number of dimensions (signed feature hashing) - character 3- to
 * 5-grams of every content word, the words themselves and pairs of adjacent
 * words - takes a sublinear weight of each dimension and normalises the
 * vector to unit length, so the cosine similarity of two texts is the dot
 * product of their vectors. It is deterministic (the same bytes give the
 * same vector on every machine and run) and takes a few microseconds per
 * kilobyte. A conversation (sy_creq_t) is embedded whole: system prompt,
 * every turn with its role, tool calls and tool results, with the last user
 * turn counted twice.
 *
 * A similarity cannot tell "what is 2+2" from "what is 2+3", "is X safe"
 * from "is X not safe" or "capital of France" from "capital of Spain": the
 * guards can. sy_semfeat_* extracts, next to the vector, a few compact
 * features of the text (the numbers and operators in order, the count of
 * negations, the capitalised names, words from closed classes where one
 * member cannot stand for another - programming languages, units,
 * currencies, times of day, opposites such as ascending/descending) and
 * sy_semfeat_veto says whether two texts differ in any of them; a cache hit
 * needs the similarity at or above the threshold and no veto. See
 * docs/semantic-cache.md for the design and the measured precision and
 * recall on tests/data/semantic-pairs.tsv.
 *
 * Everything here is pure: no allocation (callers pass the buffers), no
 * global mutable state, so any thread may call any function at once.
 */
#ifndef SY_CACHE_EMBED_H
#define SY_CACHE_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "core/canon.h"

/* The default dimension and the bound on any caller's. */
#define SY_EMBED_DIMS 512
#define SY_EMBED_MAX_DIMS 4096
/* The default similarity threshold of the semantic cache (with guards). */
#define SY_EMBED_THRESHOLD 0.92f

/* Embed the UTF-8 text s[0..n) (need not be NUL-terminated) into out[0..dims),
 * a unit vector (all zeros when the text has no word at all). Text is
 * lowercased (ASCII only; other bytes are kept as they are), runs of
 * whitespace and punctuation separate words, digits and the operators
 * + - * / = % ^ $ # < > & | are kept.
 * Returns 0, or SY_EBADFIELD when dims is 0 or above SY_EMBED_MAX_DIMS (out is
 * then untouched). Any thread. */
int sy_embed_text(const char *s, size_t n, float *out, size_t dims);

/* Embed a whole conversation: q's messages in order (each message's role,
 * its text parts, the assistant's tool calls by name and arguments, a tool
 * result's text), with the last user message weighted twice; a GENERATE
 * request's prompt and suffix; an EMBED request's inputs. Images count
 * only by their URL. Same return and threads as sy_embed_text. */
int sy_embed_creq(const sy_creq_t *q, float *out, size_t dims);

/* The conversation as the text an embedding model is given (a semantic
 * cache whose embedder is a model): one line per message, "role: text",
 * with the same parts sy_embed_creq reads. When it is longer than cap - 1
 * bytes, its first quarter and its last three quarters (the latest turns)
 * are kept, joined by "\n...\n". Writes a NUL-terminated text into
 * out[0..cap) (cap >= 16) and returns its length. Any thread. */
size_t sy_embed_creq_text(const sy_creq_t *q, char *out, size_t cap);

/* The dot product of two vectors of dims floats: the cosine similarity of
 * two vectors from the functions above, in [-1, 1]. Any thread. */
float sy_embed_dot(const float *a, const float *b, size_t dims);

/* ---- guards ------------------------------------------------------------- */

#define SY_SEMFEAT_MAX_ENTS 8

/* What the guards compare, 88 bytes per cache entry: store it with the
 * vector. Plain data: copy, compare and persist it as bytes (the hashes are
 * the same on every machine). */
typedef struct sy_semfeat {
    uint64_t numbers;  /* hash of the numbers and operators, in order ("2+2") */
    uint64_t contrast; /* hash of the sorted closed-class words (languages, units...) */
    uint64_t words[4]; /* 256-bit Bloom filter of every lowercased word */
    uint32_t ents[SY_SEMFEAT_MAX_ENTS]; /* hashes of lowercased names, sorted, unique */
    uint8_t n_ents;
    uint8_t negations; /* not, no, never, n't... (saturates at 255) */
    uint8_t pad[6];
} sy_semfeat_t;

/* Why two texts must not share an answer (0: they may). */
typedef enum sy_semveto {
    SY_SEMVETO_NONE = 0,
    SY_SEMVETO_NUMBERS,  /* other numbers or operators, or another order */
    SY_SEMVETO_NEGATION, /* a different count of negations */
    SY_SEMVETO_ENTITY,   /* a name in one that the other does not contain */
    SY_SEMVETO_CONTRAST, /* another language, unit, time, or the opposite word */
} sy_semveto_t;

/* Extract the guard features of a text / of a whole conversation (the same
 * parts sy_embed_creq reads). f is overwritten. Any thread. */
void sy_semfeat_text(const char *s, size_t n, sy_semfeat_t *f);
void sy_semfeat_creq(const sy_creq_t *q, sy_semfeat_t *f);

/* Compare two texts' features: SY_SEMVETO_NONE when nothing tells them
 * apart, else the first reason found (in the enum's order). A name counts
 * as present in the other text when the other contains the word in any
 * case, so "france" matches "France"; the Bloom filter lets a rare name
 * pass (about 1 in 100 for a short text), never blocks a present one. */
sy_semveto_t sy_semfeat_veto(const sy_semfeat_t *a, const sy_semfeat_t *b);
/* The veto's name ("none", "numbers", "negation", "entity", "contrast"). */
const char *sy_semveto_name(sy_semveto_t v);

/* The whole decision for two texts, for callers without stored features:
 * 1 when similarity >= threshold and the guards find no difference, else 0. */
int sy_semantic_match(const char *a, size_t an, const char *b, size_t bn, float similarity,
                      float threshold);

/* ---- the labelled evaluation set ---------------------------------------- */

/* One scored pair of tests/data/semantic-pairs.tsv. */
typedef struct sy_embed_pair {
    int label;          /* 1 same question, 0 different */
    float sim;          /* cosine similarity of the two sides */
    sy_semveto_t veto;  /* the guards' verdict */
    size_t line;        /* 1-based line in the file */
} sy_embed_pair_t;

typedef struct sy_embed_counts {
    size_t tp, fp, fn, tn;
} sy_embed_counts_t;

/* Parse the pairs file's text tsv[0..n) (format in the file's header:
 * label TAB a TAB b, turns separated by " || " with optional role prefixes)
 * and score each pair at dims through sy_embed_creq and sy_semfeat_creq.
 * Writes up to max pairs to out. Returns the number of pairs (which may
 * exceed max: only max are written), or -1 on a malformed line, whose
 * number goes to *bad_line. Any thread. */
long sy_embed_pairs_score(const char *tsv, size_t n, size_t dims, sy_embed_pair_t *out,
                          size_t max, size_t *bad_line);

/* Count the outcomes at a threshold, with the guards (guards != 0) or on
 * the similarity alone. A pair predicted "same" is a tp when labelled 1,
 * a fp when labelled 0. */
void sy_embed_pairs_count(const sy_embed_pair_t *p, size_t n, float threshold, int guards,
                          sy_embed_counts_t *c);

/* For the unit test: 0 when the built-in lexicon is sorted by hash and
 * every hash is right, else -1. */
int sy__embed_lexicon_check(void);

#endif
