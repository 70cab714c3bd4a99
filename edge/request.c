#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/log.h"
#include "request.h"

bool
edge_request_can_move(edge_request_state from, edge_request_state to)
{
	switch (from) {
	case REQ_NEW:
		return to == REQ_READING_BODY || to == REQ_RPC_PENDING ||
		       to == REQ_DONE;
	case REQ_READING_BODY:
		return to == REQ_RPC_PENDING || to == REQ_DONE;
	case REQ_RPC_PENDING:
		return to == REQ_REPLY_READY;
	case REQ_REPLY_READY:
		return to == REQ_DONE;
	default:
		return false;
	}
}

void
edge_request_move(edge_request *r, edge_request_state to)
{
	if (!edge_request_can_move(r->state, to)) {
		core_log_error("request %s: no move from %s to %s", r->rid,
		    edge_request_state_name(r->state),
		    edge_request_state_name(to));
		assert(!"request state moved against the arrows");
	}
	r->state = to;
}

const char *
edge_request_state_name(edge_request_state s)
{
	static const char *const names[] = {
#define EDGE_REQUEST_STATE_NAME(name, what) #name,
	    EDGE_REQUEST_STATES(EDGE_REQUEST_STATE_NAME)
#undef EDGE_REQUEST_STATE_NAME
	};
	return (unsigned) s < REQ_N_STATES ? names[s] : "?";
}

bool
edge_body_declared_too_large(const char *content_length, size_t max)
{
	const char *s = content_length;
	while (*s == ' ' || *s == '\t') {
		s++;
	}
	size_t n = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		size_t d = (size_t) (*s - '0');
		if (n > max / 10 || (n == max / 10 && d > max % 10)) {
			return true; /* past max, and maybe past SIZE_MAX */
		}
		n = n * 10 + d;
	}
	return false;
}

edge_request *
edge_request_new(void)
{
	edge_request *r = calloc(1, sizeof(*r));
	if (r != NULL) {
		r->state = REQ_NEW;
	}
	return r;
}

/* Wipes and frees the body's buffer (its length is left to the caller). */
static void
edge_request_body_drop_buffer(edge_request *r)
{
	if (r->body != NULL) {
		sodium_memzero(r->body, r->cap);
		free(r->body);
	}
	r->body = NULL;
	r->cap = 0;
}

bool
edge_request_body_append(edge_request *r, const char *data, size_t size)
{
	/* malloc, copy, wipe the old: realloc would free it unwiped. Grown
	 * geometrically, so a body that arrives in many pieces is copied
	 * O(log n) times. */
	if (r->body == NULL || r->len + size + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 256;
		while (cap < r->len + size + 1) {
			cap *= 2;
		}
		char *nb = malloc(cap);
		if (nb == NULL) {
			edge_request_body_drop(r);
			return false;
		}
		if (r->body != NULL) {
			memcpy(nb, r->body, r->len);
		}
		edge_request_body_drop_buffer(r);
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, size);
	r->len += size;
	r->body[r->len] = '\0';
	return true;
}

void
edge_request_body_drop(edge_request *r)
{
	edge_request_body_drop_buffer(r);
	r->len = 0;
}

void
edge_request_free(edge_request *r)
{
	if (r == NULL) {
		return;
	}
	core_arena_free(r->arena);
	edge_request_body_drop(r);
	free(r);
}

bool
edge_method_unsafe(const char *m)
{
	return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
	       strcmp(m, "OPTIONS") != 0;
}
