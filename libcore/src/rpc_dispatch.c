/* One call on the server: decoding, running and answering it, in two
 * halves so that the receiving thread can decode and a worker run
 * (rpc_call.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/log.h"
#include "core/pbcheck.h"
#include "core/utf8.h"
#include "envelope.h"
#include "rpc_call.h"
#include "rpc_internal.h"
#include "rpc_methods.h"

static int64_t
parse_deadline(const core_call *c, int64_t recv_ms)
{
	const char *v = core_call_metadata(c, CORE_MD_DEADLINE);
	if (v == NULL) {
		return INT64_MAX;
	}
	char *end;
	errno = 0;
	long long ms = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || ms < 0) {
		return INT64_MAX; /* a bad hint is ignored, not fatal */
	}
	if (ms > INT64_MAX / 2) {
		return INT64_MAX;
	}
	return recv_ms + ms;
}

void
rpc_call_init(core_call *c, core_rpc_server *s, const core_call_auth *auth,
    void *state, core_arena *arena)
{
	static const Core__V1__Request empty_req = CORE__V1__REQUEST__INIT;
	*c = (core_call){
	    .srv = s,
	    .auth = auth,
	    .state = state,
	    .arena = arena,
	    .method = "",
	    .req = &empty_req,
	    .deadline_ms = INT64_MAX,
	};
}

/* Makes the call's request id (when valid) and trace context the calling
 * thread's. */
void
rpc_call_log_id(const core_call *c)
{
	const char *rid = core_call_metadata(c, CORE_MD_REQUEST_ID);
	if (rid != NULL && core_rpc_request_id_valid(rid)) {
		core_log_set_request_id(rid);
	}
	core_trace_set(&c->trace);
}

void
rpc_call_log_clear(void)
{
	core_log_set_request_id(NULL);
	core_trace_set(NULL);
}

/* The first half of a call, on whatever thread received it: the caller as
 * the transport knows it, the envelope, the deadline, the method. Returns
 * CORE_OK with *m set, or the status to answer (message set). */
core_status
rpc_call_begin(core_call *c, const rpc_method_table *t, nng_msg *msg,
    int64_t recv_ms, const rpc_method **m)
{
	const uint8_t *body = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	char field[128];
	const char *why = "";

	rpc_peer_from_msg(c, msg);
	/* The envelope's strings (method, metadata) are checked like the
	 * payload's: they reach handlers, logs and error messages. One pass
	 * decodes and checks; only a refused envelope is walked again, to
	 * name the bad string if that is what it was. */
	Core__V1__Request *req = core_arena_alloc(c->arena, sizeof(*req));
	if (req == NULL ||
	    rpc_env_request_decode(body, len, c->arena, req) != 0) {
		if (core_pb_check_strings(&core__v1__request__descriptor, body,
		        len, field, sizeof(field), &why) != 0) {
			return core_call_error(c, CORE_INVALID_ARGUMENT,
			    "malformed request: %s %s", field, why);
		}
		return core_call_error(c, CORE_INVALID_ARGUMENT,
		    "malformed request: not a core.v1.Request message");
	}
	c->req = req;
	c->method = req->method;
	/* A span of the caller's trace, or a new trace: never an error. */
	(void) core_trace_start(
	    core_call_metadata(c, CORE_MD_TRACEPARENT), &c->trace);
	rpc_call_log_id(c);
	c->deadline_ms = parse_deadline(c, recv_ms);
	if (c->deadline_ms <= rpc_now_ms()) {
		return core_call_error(c, CORE_DEADLINE_EXCEEDED,
		    "deadline exceeded before the call started");
	}
	*m = rpc_methods_find(t, c->method);
	if (*m == NULL) {
		return core_call_error(c, CORE_UNIMPLEMENTED,
		    "unknown method \"%.*s\"",
		    (int) core_utf8_prefix(c->method, 200), c->method);
	}
	return CORE_OK;
}

core_status
rpc_call_input(core_call *c, const rpc_method *m, ProtobufCMessage **in,
    ProtobufCMessage **out)
{
	ProtobufCAllocator *pa = core_arena_allocator(c->arena);
	/* Cast: rpc_peer_facts rewrites client facts in the decoded
	 * envelope, which call_begin unpacked into this call's arena. */
	Core__V1__Request *req = (Core__V1__Request *) (uintptr_t) c->req;
	char field[128];
	const char *why = "";

	if (core_pb_check_strings(m->desc->input, req->payload.data,
	        req->payload.len, field, sizeof(field), &why) != 0) {
		return core_call_field_error(c, field, "%s", why);
	}
	*in = protobuf_c_message_unpack(
	    m->desc->input, pa, req->payload.len, req->payload.data);
	if (*in == NULL) {
		return core_call_error(c, CORE_INVALID_ARGUMENT,
		    "request payload is not a valid %s", m->desc->input->name);
	}
	*out = core_arena_alloc(c->arena, m->desc->output->sizeof_message);
	if (*out == NULL) {
		return core_call_error(
		    c, CORE_RESOURCE_EXHAUSTED, "out of memory");
	}
	m->desc->output->message_init(*out);
	return rpc_peer_facts(c, req, m->desc->input, *in);
}

core_status
rpc_call_handle(core_call *c, const rpc_method *m, ProtobufCMessage *in,
    ProtobufCMessage *out, Core__V1__Response *resp)
{
	core_status st = m->row->handler(c, in, out);
	if (st != CORE_OK || c->to_worker) {
		return st;
	}
	size_t n = protobuf_c_message_get_packed_size(out);
	uint8_t *buf = core_arena_alloc(c->arena, n);
	if (buf == NULL) {
		return core_call_error(
		    c, CORE_RESOURCE_EXHAUSTED, "response too large");
	}
	protobuf_c_message_pack(out, buf);
	resp->payload.data = buf;
	resp->payload.len = n;
	return CORE_OK;
}

/* The second half, where the method may run (inline or on a worker): the
 * payload, the client facts, the rule, the handler. Fills resp's payload
 * and returns the final status. */
core_status
rpc_call_run(core_call *c, const rpc_method *m, Core__V1__Response *resp)
{
	ProtobufCMessage *in = NULL, *out = NULL;
	core_status st = rpc_call_input(c, m, &in, &out);
	if (st == CORE_OK) {
		st = rpc_call_authorize(c, m->svc, m->row, in);
	}
	if (st == CORE_OK) {
		st = rpc_call_handle(c, m, in, out, resp);
	}
	return st;
}

/* Builds the reply for the call into msg (reusing the request's message).
 * Returns 0, or -1 if no reply could be made (out of memory). */
static int
make_reply(core_call *c, core_status st, Core__V1__Response *resp,
    nng_msg *msg, size_t max_msg)
{
	resp->code = (Core__V1__Code) st;
	if (st != CORE_OK) {
		resp->payload.data = NULL;
		resp->payload.len = 0;
		if (st == CORE_INTERNAL) {
			/* The detail is for operators, not for the caller. */
			core_log_kv(CORE_LOG_ERROR, "handler failed", "method",
			    c->method, "detail", c->message, NULL);
			snprintf(
			    c->message, sizeof(c->message), "internal error");
		} else if (c->message[0] == '\0') {
			snprintf(c->message, sizeof(c->message), "%s",
			    core_status_str(st));
		}
		resp->message = c->message;
		resp->n_details = c->n_details;
		resp->details = c->detail_ptrs;
		resp->retry_after_s = c->retry_after_s;
	}
	size_t n = rpc_env_response_size(resp);
	if (n > max_msg) {
		core_log_kv(CORE_LOG_ERROR,
		    "response exceeds the message limit", "method", c->method,
		    NULL);
		core__v1__response__init(resp);
		resp->code = CORE__V1__CODE__RESOURCE_EXHAUSTED;
		resp->message = "response exceeds the maximum message size";
		n = rpc_env_response_size(resp);
	}
	if (nng_msg_realloc(msg, n) != 0) {
		return -1;
	}
	rpc_env_response_pack(resp, nng_msg_body(msg));
	return 0;
}

/* Ends a call: builds the reply into msg (reusing the request's message),
 * counts it and releases the call's memory. Returns the reply, or NULL if
 * none could be built (msg is freed; the caller's deadline fires). */
nng_msg *
rpc_call_finish(core_call *c, core_status st, Core__V1__Response *resp,
    nng_msg *msg, int64_t recv_ms, size_t max_msg)
{
	/* Decoded into the arena by now; the request's bytes (passwords,
	 * tokens) must not stay in the buffer the reply reuses. */
	sodium_memzero(nng_msg_body(msg), nng_msg_len(msg));
	if (core_log_enabled(CORE_LOG_DEBUG)) {
		char ms[32];
		snprintf(ms, sizeof(ms), "%" PRId64, rpc_now_ms() - recv_ms);
		core_log_kv(CORE_LOG_DEBUG, "call", "method", c->method,
		    "code", core_status_str(st), "duration_ms", ms, NULL);
	}
	int rv = make_reply(c, st, resp, msg, max_msg);
	rpc_call_release(c);
	rpc_call_log_clear();
	core_arena_reset(c->arena);
	if (rv != 0) {
		/* No memory for a reply: drop the call and keep serving. */
		nng_msg_free(msg);
		core_log_error("out of memory building a reply; call dropped");
		return NULL;
	}
	return msg;
}
