/*
 * arena.h - request-scoped memory: many small allocations, one free.
 *
 * A translated request decodes the client's JSON into a canonical form made
 * of many small strings and arrays; they all die with the request. An arena
 * hands them out from chunks and frees the chunks at once. Every arena has a
 * maximum: past it an allocation fails (NULL) instead of growing without
 * bound. Not thread-safe: one arena belongs to one request on one worker.
 */
#ifndef SY_CORE_ARENA_H
#define SY_CORE_ARENA_H

#include <stddef.h>

typedef struct sy_arena_chunk sy_arena_chunk_t;

typedef struct sy_arena {
    sy_arena_chunk_t *head; /* newest chunk first */
    size_t used;            /* bytes handed out plus chunk overhead */
    size_t max;             /* upper bound on used */
} sy_arena_t;

/* Initialise with a maximum in bytes (0 = 64 MiB). Allocates nothing yet. */
void sy_arena_init(sy_arena_t *a, size_t max);
/* Free every chunk; the arena may be used again afterwards. */
void sy_arena_release(sy_arena_t *a);

/* Forget every allocation but keep the newest chunk for reuse (a parser's
 * per-event scratch). */
void sy_arena_reset(sy_arena_t *a);

/* n bytes aligned for any type, or NULL when the maximum would be passed or
 * memory is short. n == 0 returns a valid non-NULL pointer. */
void *sy_arena_alloc(sy_arena_t *a, size_t n);
/* The same, zeroed. */
void *sy_arena_calloc(sy_arena_t *a, size_t count, size_t size);
/* A NUL-terminated copy of s[0..n), or NULL. */
char *sy_arena_strndup(sy_arena_t *a, const char *s, size_t n);

#endif
