/*
 * arena_test.c - unit tests for src/core/arena.c: alignment, growth across
 * chunks, oversized allocations, the maximum, reset and release.
 */
#include "core/arena.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

Test(arena, allocations_are_aligned_and_distinct)
{
    sy_arena_t a;
    sy_arena_init(&a, 0);
    char *prev = NULL;
    for (size_t n = 1; n < 200; n++) {
        char *p = sy_arena_alloc(&a, n);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % 16, 0, "allocation of %zu bytes is not 16-aligned", n);
        memset(p, (int)n, n); /* ASan reports any overlap or overrun */
        cr_assert_neq(p, prev);
        prev = p;
    }
    sy_arena_release(&a);
}

Test(arena, contents_survive_growth)
{
    sy_arena_t a;
    sy_arena_init(&a, 0);
    char *ptrs[1000];
    for (int i = 0; i < 1000; i++) {
        ptrs[i] = sy_arena_alloc(&a, 100);
        cr_assert_not_null(ptrs[i]);
        memset(ptrs[i], i & 0xff, 100);
    }
    for (int i = 0; i < 1000; i++)
        for (int j = 0; j < 100; j++)
            cr_assert_eq((unsigned char)ptrs[i][j], (unsigned)(i & 0xff));
    sy_arena_release(&a);
}

Test(arena, oversized_allocation_keeps_filling_the_current_chunk)
{
    sy_arena_t a;
    sy_arena_init(&a, 0);
    char *small1 = sy_arena_alloc(&a, 16);
    char *big = sy_arena_alloc(&a, 3u << 20);
    char *small2 = sy_arena_alloc(&a, 16);
    cr_assert(small1 && big && small2);
    memset(big, 1, 3u << 20);
    cr_assert_eq(small2, small1 + 16, "the small chunk should still be in use");
    sy_arena_release(&a);
}

Test(arena, maximum_is_enforced)
{
    sy_arena_t a;
    sy_arena_init(&a, 64 * 1024);
    size_t total = 0;
    while (sy_arena_alloc(&a, 1000))
        total += 1000;
    cr_assert_leq(total, 64 * 1024);
    cr_assert_geq(total, 32 * 1024, "only %zu bytes of a 64 KiB arena were usable", total);
    cr_assert_null(sy_arena_alloc(&a, 1u << 20));
    cr_assert_null(sy_arena_calloc(&a, SIZE_MAX / 2, 4), "count*size overflow must fail");
    sy_arena_release(&a);
}

Test(arena, reset_keeps_one_chunk_and_allows_reuse)
{
    sy_arena_t a;
    sy_arena_init(&a, 0);
    for (int i = 0; i < 100; i++)
        cr_assert_not_null(sy_arena_alloc(&a, 1000));
    sy_arena_reset(&a);
    cr_assert_not_null(a.head);
    cr_assert_leq(a.used, (1u << 20) + 64, "reset must free all chunks but one (used %zu)", a.used);
    char *p = sy_arena_alloc(&a, 10);
    cr_assert_not_null(p);
    sy_arena_release(&a);
    sy_arena_reset(&a); /* on an empty arena: nothing to do */
    cr_assert_null(a.head);
}

Test(arena, strndup_and_calloc)
{
    sy_arena_t a;
    sy_arena_init(&a, 0);
    char *s = sy_arena_strndup(&a, "hello\0world", 11);
    cr_assert_not_null(s);
    cr_assert_eq(memcmp(s, "hello\0world", 12), 0);
    int *z = sy_arena_calloc(&a, 64, sizeof(int));
    for (int i = 0; i < 64; i++)
        cr_assert_eq(z[i], 0);
    cr_assert_not_null(sy_arena_alloc(&a, 0));
    sy_arena_release(&a);
}
