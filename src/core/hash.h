/*
 * hash.h - the small non-cryptographic hashes: FNV-1a over bytes, and
 * splitmix64's finaliser, which carries every input bit to every output
 * bit (FNV's low bits are weak; a random number's low bits are taken by a
 * modulo and its high bits by another draw).
 *
 * Used where an attacker choosing the input gains nothing but a worse
 * spread: the metric label table, the experiments' buckets, the offline
 * embedding's features, the semantic index, discovery's listing identity,
 * the router's second draw. Anything keyed by a client's bytes where
 * collisions matter uses SHA-256 (cache/key.h).
 */
#ifndef SY_CORE_HASH_H
#define SY_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SY_FNV_OFFSET 0xcbf29ce484222325ull
#define SY_FNV_PRIME 0x100000001b3ull

/* FNV-1a of p[0..n) continuing from h (start with SY_FNV_OFFSET). */
static inline uint64_t sy_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= SY_FNV_PRIME;
    }
    return h;
}

/* splitmix64's finaliser: a bijection of 64-bit values. */
static inline uint64_t sy_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
