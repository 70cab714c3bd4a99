/* Bump allocator over a list of blocks. The first block is kept across
 * resets, so a worker that handles small calls never touches malloc. What
 * was handed out is wiped on reset and free: arenas hold decoded requests
 * (passwords, tokens), which must not linger in freed or reused memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/arena.h"

#define ALIGN 16u
#define FIRST_BLOCK (16u * 1024u)
#define MAX_BLOCK ((size_t) 1 << 20)
#define DEFAULT_CAP ((size_t) 64 << 20)

typedef struct block {
	struct block *next;
	size_t size; /* usable bytes in data */
	size_t used;
	_Alignas(16) unsigned char data[];
} block;

struct core_arena {
	block *head; /* current block; older ones follow */
	size_t cap;
	size_t total; /* bytes of all blocks' data */
	size_t used;  /* bytes handed out */
	ProtobufCAllocator pba;
};

static void *
pb_alloc(void *ctx, size_t n)
{
	return core_arena_alloc(ctx, n);
}

static void
pb_free(void *ctx, void *p)
{
	(void) ctx;
	(void) p;
}

static block *
block_new(size_t size)
{
	block *b = malloc(sizeof(*b) + size);
	if (b == NULL) {
		return NULL;
	}
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

core_arena *
core_arena_new(size_t cap)
{
	core_arena *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return NULL;
	}
	a->cap = cap ? cap : DEFAULT_CAP;
	a->head = block_new(FIRST_BLOCK);
	if (a->head == NULL) {
		free(a);
		return NULL;
	}
	a->total = FIRST_BLOCK;
	a->pba.alloc = pb_alloc;
	a->pba.free = pb_free;
	a->pba.allocator_data = a;
	return a;
}

void
core_arena_free(core_arena *a)
{
	if (a == NULL) {
		return;
	}
	block *b = a->head;
	while (b != NULL) {
		block *next = b->next;
		sodium_memzero(b->data, b->used);
		free(b);
		b = next;
	}
	free(a);
}

void
core_arena_reset(core_arena *a)
{
	/* Keep only the oldest block (the first one allocated, FIRST_BLOCK
	 * bytes) so memory from one large call is not held forever. */
	block *b = a->head;
	while (b->next != NULL) {
		block *next = b->next;
		sodium_memzero(b->data, b->used);
		free(b);
		b = next;
	}
	sodium_memzero(b->data, b->used);
	b->used = 0;
	a->head = b;
	a->total = b->size;
	a->used = 0;
}

void *
core_arena_alloc(core_arena *a, size_t n)
{
	if (n == 0) {
		n = 1;
	}
	if (n > SIZE_MAX - ALIGN) {
		return NULL;
	}
	n = (n + ALIGN - 1) & ~(size_t) (ALIGN - 1);
	if (n > a->cap - a->used) {
		return NULL;
	}
	block *b = a->head;
	if (b->size - b->used < n) {
		/* Blocks double up to MAX_BLOCK; a larger request gets a block of
		 * its own size. */
		size_t size = b->size * 2;
		if (size > MAX_BLOCK) {
			size = MAX_BLOCK;
		}
		if (size < n) {
			size = n;
		}
		block *nb = block_new(size);
		if (nb == NULL) {
			return NULL;
		}
		nb->next = b;
		a->head = nb;
		a->total += size;
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += n;
	a->used += n;
	return p;
}

void *
core_arena_calloc(core_arena *a, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		return NULL;
	}
	void *p = core_arena_alloc(a, n * size);
	if (p != NULL) {
		memset(p, 0, n * size);
	}
	return p;
}

void *
core_arena_memdup(core_arena *a, const void *p, size_t n)
{
	void *q = core_arena_alloc(a, n);
	if (q != NULL && n > 0) {
		memcpy(q, p, n);
	}
	return q;
}

char *
core_arena_strndup(core_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX) {
		return NULL;
	}
	char *q = core_arena_alloc(a, n + 1);
	if (q != NULL) {
		memcpy(q, s, n);
		q[n] = '\0';
	}
	return q;
}

char *
core_arena_strdup(core_arena *a, const char *s)
{
	return core_arena_strndup(a, s, strlen(s));
}

char *
core_arena_vprintf(core_arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		return NULL;
	}
	char *q = core_arena_alloc(a, (size_t) n + 1);
	if (q != NULL) {
		vsnprintf(q, (size_t) n + 1, fmt, ap);
	}
	return q;
}

char *
core_arena_printf(core_arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *q = core_arena_vprintf(a, fmt, ap);
	va_end(ap);
	return q;
}

size_t
core_arena_used(const core_arena *a)
{
	return a->used;
}

ProtobufCAllocator *
core_arena_allocator(core_arena *a)
{
	return &a->pba;
}
