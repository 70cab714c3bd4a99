/* libFuzzer harness: the RPC core's side of a call, in process (no
 * transport): the core.v1.Request envelope, the deadline and request-id
 * metadata, the method lookup in a method table of every service in the
 * registry, the string checks on the payload, its decoding, and the reply;
 * and the client's decoding of a core.v1.Response.
 *
 * Byte 0 picks the mode, the rest is the message:
 *   even: a Request, handled by an unstarted server whose handlers check
 *         that every string they are given is valid UTF-8 (what the string
 *         checks promise) and answer with an error that quotes one. The
 *         reply must decode as a Response whose message is valid UTF-8.
 *   odd:  a Response, decoded as the client decodes every answer.
 * In both modes the hand-written envelope decoder (envelope.h) must give
 * protobuf-c's verdict (for a Request: protobuf-c's unpack and the string
 * check), the same values, and what it accepts must encode back to
 * protobuf-c's bytes.
 * A failed property aborts (a finding). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/pbcheck.h"
#include "core/rpc.h"
#include "core/utf8.h"
#include "envelope.h"
#include "fuzz_util.h"
#include "registry.h"
#include "rpc_internal.h"

#define MAX_SERVICES 8
#define MAX_METHODS 64

static core_rpc_server *server;
static core_arena *arena;
static core_rpc_service services[MAX_SERVICES];
static core_rpc_method rows[MAX_SERVICES][MAX_METHODS];

/* Checks every string of m (nested messages too); the first non-empty one
 * is written to *first. */
static void
check_strings(const ProtobufCMessage *m, const char **first)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *) m + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			continue; /* walked by core_pb_check_strings alike */
		}
		if (!fuzz_field_present(m, f)) {
			continue; /* another member of its oneof is set */
		}
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			const char *s = *(char *const *) (const void *) base;
			if (s == NULL) {
				continue;
			}
			FUZZ_CHECK(core_utf8_valid(s, strlen(s)));
			if (*first == NULL && s[0] != '\0') {
				*first = s;
			}
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			const ProtobufCMessage *sub =
			    *(const ProtobufCMessage *const *) (const void *)
			        base;
			if (sub != NULL) {
				check_strings(sub, first);
			}
		}
	}
}

static core_status
handler(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) out;
	const char *first = NULL;
	check_strings(in, &first);
	if (first == NULL) {
		return CORE_OK;
	}
	return core_call_field_error(c, first, "got \"%s\"", first);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	core_log_init("fuzz", CORE_LOG_ERROR, false);
	size_t n, k = 0;
	const registry_service *s = registry_services(&n);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCServiceDescriptor *d = s[i].desc;
		if (s[i].target == NULL) {
			continue; /* core.v1.Health: every server has it */
		}
		FUZZ_CHECK(k < MAX_SERVICES && d->n_methods <= MAX_METHODS);
		for (unsigned m = 0; m < d->n_methods; m++) {
			char name[256];
			snprintf(name, sizeof(name), "/%s/%s", d->name,
			    d->methods[m].name);
			rows[k][m].name = strdup(name);
			rows[k][m].handler = handler;
			rows[k][m].rule = CORE_RULE_PUBLIC;
		}
		services[k].desc = d;
		services[k].methods = rows[k];
		services[k].n_methods = d->n_methods;
		k++;
	}
	const char *urls[] = {"inproc://fuzz-unused"};
	core_rpc_server_config cfg = {
	    .name = "fuzz",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = 1,
	    .max_msg_bytes = 64 * 1024,
	};
	FUZZ_CHECK(core_rpc_server_new(&cfg, services, k, &server) == 0);
	arena = core_arena_new(256 * 1024);
	FUZZ_CHECK(arena != NULL);
	return 0;
}

static nng_msg *
message(const uint8_t *p, size_t n)
{
	nng_msg *m;
	FUZZ_CHECK(nng_msg_alloc(&m, n) == 0);
	if (n > 0) {
		memcpy(nng_msg_body(m), p, n);
	}
	return m;
}

static void
check_reply(const core_rpc_reply *r)
{
	FUZZ_CHECK(r->message != NULL);
	FUZZ_CHECK(core_utf8_valid(r->message, strlen(r->message)));
	for (size_t i = 0; i < r->n_details; i++) {
		const char *f = r->detail_fields[i];
		const char *d = r->detail_descriptions[i];
		FUZZ_CHECK(core_utf8_valid(f, strlen(f)));
		FUZZ_CHECK(core_utf8_valid(d, strlen(d)));
	}
}

static bool
same_str(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static bool
same_bytes(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
	return a.len == b.len &&
	       (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* The hand decoder against the check + protobuf-c, and the encoders. */
static void
diff_request(const uint8_t *p, size_t n)
{
	ProtobufCAllocator *pa = core_arena_allocator(arena);
	char field[128];
	const char *why = "";
	Core__V1__Request *want = NULL;
	if (core_pb_check_strings(&core__v1__request__descriptor, p, n, field,
	        sizeof(field), &why) == 0) {
		want = core__v1__request__unpack(pa, n, p);
	}
	Core__V1__Request got;
	int rv = rpc_env_request_decode(p, n, arena, &got);
	FUZZ_CHECK((want != NULL) == (rv == 0));
	if (want == NULL) {
		return;
	}
	FUZZ_CHECK(same_str(want->method, got.method));
	FUZZ_CHECK(same_bytes(want->payload, got.payload));
	FUZZ_CHECK(want->n_metadata == got.n_metadata);
	for (size_t i = 0; i < got.n_metadata; i++) {
		FUZZ_CHECK(
		    same_str(want->metadata[i]->key, got.metadata[i]->key));
		FUZZ_CHECK(same_str(
		    want->metadata[i]->value, got.metadata[i]->value));
	}
	/* protobuf-c writes the unknown fields it kept; the envelope drops
	 * them (nothing reads them). */
	want->base.n_unknown_fields = 0;
	for (size_t i = 0; i < want->n_metadata; i++) {
		want->metadata[i]->base.n_unknown_fields = 0;
	}
	size_t size = rpc_env_request_size(&got);
	FUZZ_CHECK(size == core__v1__request__get_packed_size(want));
	uint8_t *a = core_arena_alloc(arena, size + 1);
	uint8_t *b = core_arena_alloc(arena, size + 1);
	FUZZ_CHECK(a != NULL && b != NULL);
	FUZZ_CHECK(rpc_env_request_pack(&got, a) == size);
	core__v1__request__pack(want, b);
	FUZZ_CHECK(size == 0 || memcmp(a, b, size) == 0);
}

static void
diff_response(const uint8_t *p, size_t n)
{
	Core__V1__Response *want =
	    core__v1__response__unpack(core_arena_allocator(arena), n, p);
	Core__V1__Response got;
	int rv = rpc_env_response_decode(p, n, arena, &got);
	FUZZ_CHECK((want != NULL) == (rv == 0));
	if (want == NULL) {
		return;
	}
	FUZZ_CHECK(want->code == got.code);
	FUZZ_CHECK(same_str(want->message, got.message));
	FUZZ_CHECK(same_bytes(want->payload, got.payload));
	FUZZ_CHECK(want->retry_after_s == got.retry_after_s);
	FUZZ_CHECK(want->n_details == got.n_details);
	for (size_t i = 0; i < got.n_details; i++) {
		FUZZ_CHECK(
		    same_str(want->details[i]->field, got.details[i]->field));
		FUZZ_CHECK(same_str(want->details[i]->description,
		    got.details[i]->description));
	}
	want->base.n_unknown_fields = 0;
	for (size_t i = 0; i < want->n_details; i++) {
		want->details[i]->base.n_unknown_fields = 0;
	}
	size_t size = rpc_env_response_size(&got);
	FUZZ_CHECK(size == core__v1__response__get_packed_size(want));
	uint8_t *a = core_arena_alloc(arena, size + 1);
	uint8_t *b = core_arena_alloc(arena, size + 1);
	FUZZ_CHECK(a != NULL && b != NULL);
	FUZZ_CHECK(rpc_env_response_pack(&got, a) == size);
	core__v1__response__pack(want, b);
	FUZZ_CHECK(size == 0 || memcmp(a, b, size) == 0);
}

static void
mode_request(const uint8_t *p, size_t n)
{
	diff_request(p, n);
	core_arena_reset(arena);
	nng_msg *reply = rpc_server_handle(server, message(p, n), NULL, arena);
	FUZZ_CHECK(reply != NULL);
	core_rpc_reply r;
	memset(&r, 0, sizeof(r));
	core_status st = rpc_client_decode_reply(reply, arena, &r);
	FUZZ_CHECK(st == r.code && st >= 0 && st <= CORE_STATUS_MAX);
	check_reply(&r);
	nng_msg_free(reply);
	core_arena_reset(arena);
}

static void
mode_response(const uint8_t *p, size_t n)
{
	diff_response(p, n);
	core_arena_reset(arena);
	nng_msg *m = message(p, n);
	core_rpc_reply r;
	memset(&r, 0, sizeof(r));
	core_status st = rpc_client_decode_reply(m, arena, &r);
	FUZZ_CHECK(st == r.code && st >= 0 && st <= CORE_STATUS_MAX);
	FUZZ_CHECK(r.message != NULL);
	nng_msg_free(m);
	core_arena_reset(arena);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	if (data[0] & 1) {
		mode_response(data + 1, size - 1);
	} else {
		mode_request(data + 1, size - 1);
	}
	return 0;
}
