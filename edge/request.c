#include <assert.h>
#include <stdlib.h>

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

void
edge_request_free(edge_request *r)
{
	if (r == NULL) {
		return;
	}
	core_arena_free(r->arena);
	free(r->body);
	free(r);
}
