/*
 * embed_test.c - unit tests for src/cache/embed.c: the embedder's
 * determinism, unit length and normalisation, conversations embedded whole,
 * each guard on small cases, and the labelled pairs file: it parses, has at
 * least 300 pairs of both labels, and the default threshold with guards
 * keeps precision >= 0.99 on it (so a change that breaks that fails here).
 */
#include "cache/embed.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D SY_EMBED_DIMS

static float sim(const char *a, const char *b)
{
    static float va[D], vb[D];
    cr_assert_eq(sy_embed_text(a, strlen(a), va, D), 0);
    cr_assert_eq(sy_embed_text(b, strlen(b), vb, D), 0);
    return sy_embed_dot(va, vb, D);
}

static sy_semveto_t veto(const char *a, const char *b)
{
    sy_semfeat_t fa, fb;
    sy_semfeat_text(a, strlen(a), &fa);
    sy_semfeat_text(b, strlen(b), &fb);
    return sy_semfeat_veto(&fa, &fb);
}

Test(embed, lexicon_is_sorted_by_hash)
{
    cr_assert_eq(sy__embed_lexicon_check(), 0);
}

Test(embed, deterministic_and_unit_length)
{
    const char *t = "How do I reverse a list in Python? I tried list.reverse() already.";
    float a[D], b[D];
    cr_assert_eq(sy_embed_text(t, strlen(t), a, D), 0);
    cr_assert_eq(sy_embed_text(t, strlen(t), b, D), 0);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    double n = 0;
    for (size_t i = 0; i < D; i++)
        n += (double)a[i] * a[i];
    cr_assert_float_eq(n, 1.0, 1e-5);
    cr_assert_float_eq(sy_embed_dot(a, a, D), 1.0f, 1e-5f);
}

Test(embed, odd_dims_and_bounds)
{
    float v[SY_EMBED_MAX_DIMS];
    cr_assert_eq(sy_embed_text("abc def", 7, v, 0), SY_EBADFIELD);
    cr_assert_eq(sy_embed_text("abc def", 7, v, SY_EMBED_MAX_DIMS + 1), SY_EBADFIELD);
    cr_assert_eq(sy_embed_text("abc def", 7, v, 100), 0);
    cr_assert_float_eq(sy_embed_dot(v, v, 100), 1.0f, 1e-5f);
    cr_assert_eq(sy_embed_text("", 0, v, 64), 0);
    for (size_t i = 0; i < 64; i++)
        cr_assert_eq(v[i], 0.0f);
}

Test(embed, case_and_whitespace_do_not_matter)
{
    cr_assert_float_eq(sim("What is the capital of France?", "  what IS the   capital\nof france"),
                       1.0f, 1e-5f);
    /* other UTF-8 bytes are kept as they are */
    cr_assert_float_eq(sim("Qu'est-ce que la crème brûlée", "qu'est-ce que la crème brûlée"), 1.0f,
                       1e-5f);
    cr_assert_lt(sim("crème brûlée", "CRÈME BRÛLÉE"), 0.99f);
}

Test(embed, paraphrase_scores_above_unrelated)
{
    const char *q = "How do I reset my password?";
    float para = sim(q, "how can i reset my password");
    float other = sim(q, "What is the capital of Australia?");
    cr_assert_gt(para, 0.9f, "paraphrase %.3f", para);
    cr_assert_lt(other, 0.3f, "unrelated %.3f", other);
    /* word order: pairs of words keep "dog bites man" apart */
    cr_assert_lt(sim("the dog bites the man", "the man bites the dog"), 0.9f);
}

Test(embed, guard_numbers)
{
    cr_assert_eq(veto("what is 2+2", "what is 2+3"), SY_SEMVETO_NUMBERS);
    cr_assert_eq(veto("what is 2+2", "What's 2 + 2?"), SY_SEMVETO_NONE);
    cr_assert_eq(veto("what is 10 - 3", "what is 3 - 10"), SY_SEMVETO_NUMBERS);
    cr_assert_eq(veto("what is 12 times 12", "what is twelve * 12"), SY_SEMVETO_NONE);
    cr_assert_eq(veto("a loan of $10,000", "a loan of $10000"), SY_SEMVETO_NONE);
    cr_assert_eq(veto("3.50 euros", "3.5 euros"), SY_SEMVETO_NONE);
    cr_assert_eq(veto("20% of 80", "20 percent of 80"), SY_SEMVETO_NONE);
    cr_assert_eq(veto("20% of 80", "20 of 80"), SY_SEMVETO_NUMBERS);
}

Test(embed, guard_negation)
{
    cr_assert_eq(veto("Is ibuprofen safe?", "Is ibuprofen not safe?"), SY_SEMVETO_NEGATION);
    cr_assert_eq(veto("Why doesn't it compile?", "why does it not compile"), SY_SEMVETO_NONE);
    cr_assert_eq(veto("I can't log in", "I cannot log in"), SY_SEMVETO_NONE);
    cr_assert_eq(veto("I can\xe2\x80\x99t log in", "I can not log in"), SY_SEMVETO_NONE);
    cr_assert_eq(veto("tea with sugar", "tea without sugar"), SY_SEMVETO_NEGATION);
}

Test(embed, guard_entities)
{
    cr_assert_eq(veto("What is the capital of France?", "What is the capital of Spain?"),
                 SY_SEMVETO_ENTITY);
    cr_assert_eq(veto("What is the capital of France?", "what's france's capital"),
                 SY_SEMVETO_NONE);
    cr_assert_eq(veto("Is Tesla stock a good buy?", "Is Apple stock a good buy?"),
                 SY_SEMVETO_ENTITY);
    /* a sentence's first word is not a name; "I" is not one either */
    cr_assert_eq(veto("Where is my order? I paid.", "where is my order, i paid"), SY_SEMVETO_NONE);
    cr_assert_eq(veto("Price in USD", "Price in EUR"), SY_SEMVETO_ENTITY);
}

Test(embed, guard_closed_classes)
{
    cr_assert_eq(veto("reverse a list in python", "reverse a list in rust"), SY_SEMVETO_CONTRAST);
    cr_assert_eq(veto("30 degrees celsius", "30 degrees fahrenheit"), SY_SEMVETO_CONTRAST);
    cr_assert_eq(veto("sort ascending", "sort descending"), SY_SEMVETO_CONTRAST);
    cr_assert_eq(veto("the weather today", "the weather tomorrow"), SY_SEMVETO_CONTRAST);
    cr_assert_eq(veto("how far in miles", "how far in kilometers"), SY_SEMVETO_CONTRAST);
    cr_assert_eq(veto("the largest ocean", "the biggest ocean"), SY_SEMVETO_NONE);
    cr_assert_str_eq(sy_semveto_name(SY_SEMVETO_CONTRAST), "contrast");
}

Test(embed, semantic_match_needs_both)
{
    const char *a = "What is 2+2?", *b = "What is 2+3?";
    cr_assert_eq(sy_semantic_match(a, strlen(a), b, strlen(b), 0.99f, 0.92f), 0);
    cr_assert_eq(sy_semantic_match(a, strlen(a), a, strlen(a), 0.91f, 0.92f), 0);
    cr_assert_eq(sy_semantic_match(a, strlen(a), a, strlen(a), 1.0f, 0.92f), 1);
}

static void conv(sy_creq_t *q, sy_msg_t *m, sy_part_t *p, const char **turns, size_t n)
{
    sy_creq_init(q, SY_OP_CHAT, SY_PROTO_OPENAI);
    memset(m, 0, n * sizeof *m);
    memset(p, 0, n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        p[i].kind = SY_PART_TEXT;
        p[i].text = (sy_str_t){turns[i], strlen(turns[i])};
        m[i].role = i % 2 ? SY_ROLE_ASSISTANT : SY_ROLE_USER;
        m[i].parts = &p[i];
        m[i].n_parts = 1;
    }
    q->msgs = m;
    q->n_msgs = n;
}

Test(embed, conversation_is_embedded_whole)
{
    const char *t1[] = {"What is the capital of France?", "Paris.", "What is its population?"};
    const char *t2[] = {"What is the capital of Italy?", "Rome.", "What is its population?"};
    sy_creq_t q1, q2;
    sy_msg_t m1[3], m2[3];
    sy_part_t p1[3], p2[3];
    conv(&q1, m1, p1, t1, 3);
    conv(&q2, m2, p2, t2, 3);
    float a[D], b[D];
    cr_assert_eq(sy_embed_creq(&q1, a, D), 0);
    cr_assert_eq(sy_embed_creq(&q2, b, D), 0);
    cr_assert_float_eq(sy_embed_dot(a, a, D), 1.0f, 1e-5f);
    cr_assert_lt(sy_embed_dot(a, b, D), 0.92f, "the same last turn is not the same conversation");
    sy_semfeat_t f1, f2;
    sy_semfeat_creq(&q1, &f1);
    sy_semfeat_creq(&q2, &f2);
    cr_assert_eq(sy_semfeat_veto(&f1, &f2), SY_SEMVETO_ENTITY);
    /* the role counts: the same words said by the other side differ */
    m2[0].role = SY_ROLE_SYSTEM;
    conv(&q2, m2, p2, t1, 3);
    m2[1].role = SY_ROLE_USER;
    cr_assert_eq(sy_embed_creq(&q2, b, D), 0);
    cr_assert_lt(sy_embed_dot(a, b, D), 0.9999f);
}

/* ---- the labelled pairs ------------------------------------------------- */

static char *read_pairs(size_t *n)
{
    /* from the repository root (make unit), or next to this file */
    static const char rel[] = "tests/data/semantic-pairs.tsv";
    char path[1024];
    FILE *f = fopen(rel, "rb");
    if (!f) {
        const char *me = __FILE__, *cut = strstr(me, "tests/unit/");
        if (cut) {
            snprintf(path, sizeof path, "%.*s%s", (int)(cut - me), me, rel);
            f = fopen(path, "rb");
        }
    }
    cr_assert_not_null(f, "cannot open %s", rel);
    char *buf = malloc(1 << 20);
    cr_assert_not_null(buf);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    cr_assert_lt(*n, (size_t)1 << 20);
    return buf;
}

Test(embed, pairs_file_parses_and_meets_the_bar)
{
    size_t n, bad = 0;
    char *tsv = read_pairs(&n);
    static sy_embed_pair_t p[2000];
    long np = sy_embed_pairs_score(tsv, n, D, p, 2000, &bad);
    cr_assert_geq(np, 300, "pairs: %ld (bad line %zu)", np, bad);
    cr_assert_leq(np, 2000);
    size_t pos = 0;
    for (long i = 0; i < np; i++)
        pos += (size_t)p[i].label;
    cr_assert_gt(pos, (size_t)np / 3, "too few paraphrases: %zu", pos);
    cr_assert_gt((size_t)np - pos, (size_t)np / 3, "too few non-paraphrases");
    sy_embed_counts_t c;
    sy_embed_pairs_count(p, (size_t)np, SY_EMBED_THRESHOLD, 1, &c);
    double precision = c.tp + c.fp ? (double)c.tp / (double)(c.tp + c.fp) : 1.0;
    double recall = (double)c.tp / (double)(c.tp + c.fn);
    cr_assert_geq(precision, 0.99, "precision %.3f (tp %zu fp %zu)", precision, c.tp, c.fp);
    /* a floor, so "never hit" cannot pass: the measured value is in the docs */
    cr_assert_geq(recall, 0.35, "recall %.3f", recall);
    free(tsv);
}

Test(embed, pairs_file_errors)
{
    static const char bad1[] = "# c\n1\tonly one side\n";
    static const char bad2[] = "1\ta\tb\n2\ta\tb\n";
    static const char good[] = "# c\n\n1\ta || b || c\tx\r\n0\tsystem: s || q\tq\n";
    sy_embed_pair_t p[4];
    size_t bad = 0;
    cr_assert_eq(sy_embed_pairs_score(bad1, sizeof bad1 - 1, D, p, 4, &bad), -1);
    cr_assert_eq(bad, 2);
    cr_assert_eq(sy_embed_pairs_score(bad2, sizeof bad2 - 1, D, p, 4, &bad), -1);
    cr_assert_eq(bad, 2);
    cr_assert_eq(sy_embed_pairs_score(good, sizeof good - 1, D, p, 4, &bad), 2);
    cr_assert_eq(p[0].label, 1);
    cr_assert_eq(p[0].line, 3);
    cr_assert_eq(p[1].label, 0);
    cr_assert_lt(p[1].sim, 1.0f);
    /* more pairs than room: counted, not written */
    cr_assert_eq(sy_embed_pairs_score(good, sizeof good - 1, D, p, 1, &bad), 2);
}

Test(embed, conversation_as_text_for_an_embedding_model)
{
    const char *t[] = {"What is the capital of France?", "Paris.", "And its population?"};
    sy_creq_t q;
    sy_msg_t m[3];
    sy_part_t p[3];
    char out[256];
    conv(&q, m, p, t, 3);
    size_t n = sy_embed_creq_text(&q, out, sizeof(out));
    cr_assert_str_eq(out, "user: What is the capital of France? \nassistant: Paris. \nuser: And its population? ");
    cr_assert_eq(n, strlen(out));
    /* too long: the start and the latest turn's end are kept, cap honoured */
    char small[40];
    n = sy_embed_creq_text(&q, small, sizeof(small));
    cr_assert_eq(n, sizeof(small) - 1);
    cr_assert_eq(strlen(small), n);
    cr_assert(strncmp(small, "user: W", 7) == 0, "got %s", small);
    cr_assert_not_null(strstr(small, "\n...\n"));
    cr_assert(strcmp(small + n - 12, "population? ") == 0, "got %s", small);
}
