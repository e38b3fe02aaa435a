/*
 * hash_test.c - unit tests for src/core/hash.h: FNV-1a 64 against the
 * published test vectors, continuing a hash over pieces, and splitmix64's
 * finaliser against the reference generator's first outputs.
 */
#include "core/hash.h"

#include <criterion/criterion.h>
#include <string.h>

Test(hash, fnv1a_published_vectors)
{
    cr_assert_eq(sy_fnv1a(SY_FNV_OFFSET, "", 0), 0xcbf29ce484222325ull);
    cr_assert_eq(sy_fnv1a(SY_FNV_OFFSET, "a", 1), 0xaf63dc4c8601ec8cull);
    cr_assert_eq(sy_fnv1a(SY_FNV_OFFSET, "foobar", 6), 0x85944171f73967e8ull);
}

Test(hash, fnv1a_continues_over_pieces)
{
    uint64_t h = sy_fnv1a(sy_fnv1a(SY_FNV_OFFSET, "foo", 3), "bar", 3);
    cr_assert_eq(h, sy_fnv1a(SY_FNV_OFFSET, "foobar", 6));
    cr_assert_neq(sy_fnv1a(SY_FNV_OFFSET, "ab\0c", 4), sy_fnv1a(SY_FNV_OFFSET, "abc", 3), "bytes, not a C string");
}

/* splitmix64 seeded with 0 outputs mix64(k * golden) for k = 1, 2, ... */
Test(hash, mix64_is_splitmix64)
{
    cr_assert_eq(sy_mix64(0x9e3779b97f4a7c15ull), 0xe220a8397b1dcdafull);
    cr_assert_eq(sy_mix64(0x9e3779b97f4a7c15ull * 2), 0x6e789e6aa1b965f4ull);
    cr_assert_eq(sy_mix64(0), 0, "a fixed point, as in the reference");
    /* one flipped input bit flips about half of the output bits */
    int flipped = __builtin_popcountll(sy_mix64(12345) ^ sy_mix64(12345 ^ 1));
    cr_assert(flipped > 16 && flipped < 48, "%d bits", flipped);
}
