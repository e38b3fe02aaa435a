/*
 * arena.c - chunked bump allocator with a maximum (see arena.h).
 *
 * Chunks start at 4 KiB and double up to 1 MiB; a request larger than a
 * chunk gets a chunk of its own. Nothing is freed before sy_arena_release.
 */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16u
#define FIRST_CHUNK 4096u
#define BIG_CHUNK (1u << 20)

struct sy_arena_chunk {
    sy_arena_chunk_t *next;
    size_t cap, off;
    _Alignas(16) unsigned char data[];
};

void sy_arena_init(sy_arena_t *a, size_t max)
{
    a->head = NULL;
    a->used = 0;
    a->max = max ? max : (64u << 20);
}

void sy_arena_release(sy_arena_t *a)
{
    sy_arena_chunk_t *c = a->head, *next;
    for (; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->used = 0;
}

void sy_arena_reset(sy_arena_t *a)
{
    sy_arena_chunk_t *c = a->head;
    if (!c)
        return;
    sy_arena_chunk_t *rest = c->next;
    c->next = NULL;
    c->off = 0;
    a->head = NULL;
    a->used = 0;
    sy_arena_release(&(sy_arena_t){rest, 0, 0});
    a->head = c;
    a->used = c->cap + sizeof(*c);
}

void *sy_arena_alloc(sy_arena_t *a, size_t n)
{
    sy_arena_chunk_t *c = a->head;
    if (n > a->max)
        return NULL;
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (!c || c->cap - c->off < n) {
        size_t cap = c ? c->cap * 2 : FIRST_CHUNK;
        if (cap > BIG_CHUNK)
            cap = BIG_CHUNK;
        if (cap < n)
            cap = n;
        if (a->used + cap + sizeof(*c) > a->max)
            return NULL;
        sy_arena_chunk_t *nc = malloc(sizeof(*nc) + cap);
        if (!nc)
            return NULL;
        nc->cap = cap;
        nc->off = 0;
        a->used += cap + sizeof(*nc);
        if (c && c->cap - c->off >= ALIGN && cap == n) {
            /* an oversized one-off: keep filling the current chunk afterwards */
            nc->next = c->next;
            c->next = nc;
            nc->off = n;
            return nc->data;
        }
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->off;
    c->off += n;
    return p;
}

void *sy_arena_calloc(sy_arena_t *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = sy_arena_alloc(a, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

char *sy_arena_strndup(sy_arena_t *a, const char *s, size_t n)
{
    char *p = sy_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
