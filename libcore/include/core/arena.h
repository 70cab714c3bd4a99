/* Request-scoped memory: a bump allocator with a hard cap.
 *
 * Everything one RPC call allocates (decoded messages, strings, the reply)
 * comes from one arena and is released at once by core_arena_reset(), so a
 * handler cannot leak. Allocation beyond the cap fails (returns NULL) instead
 * of growing without bound. Not thread-safe: one arena per thread or call. */
#ifndef CORE_ARENA_H
#define CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct core_arena core_arena;

/* Creates an arena that may hold at most cap bytes in all (0 = 64 MiB).
 * Returns NULL when out of memory. */
core_arena *core_arena_new(size_t cap);

/* Frees the arena and everything allocated from it, wiped first (arenas
 * hold passwords and tokens). NULL is a no-op. */
void core_arena_free(core_arena *a);

/* Releases every allocation, wiped; keeps the first block for reuse. */
void core_arena_reset(core_arena *a);

/* 16-byte aligned memory, not zeroed; NULL when the cap would be exceeded. */
void *core_arena_alloc(core_arena *a, size_t n);

/* Zeroed memory; NULL when the cap would be exceeded or n*size overflows. */
void *core_arena_calloc(core_arena *a, size_t n, size_t size);

/* Copies of strings and byte ranges (always NUL-terminated). */
char *core_arena_strdup(core_arena *a, const char *s);
char *core_arena_strndup(core_arena *a, const char *s, size_t n);
void *core_arena_memdup(core_arena *a, const void *p, size_t n);

/* printf into the arena. */
char *core_arena_printf(core_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *core_arena_vprintf(core_arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Bytes currently allocated (for tests and metrics). */
size_t core_arena_used(const core_arena *a);

/* A protobuf-c allocator backed by this arena: protobuf_c_message_unpack()
 * with it allocates from the arena, and its free is a no-op. The pointer
 * stays valid as long as the arena. */
ProtobufCAllocator *core_arena_allocator(core_arena *a);

#endif
