/* The RPC server's handling of one call without a transport
 * (rpc_server_handle): the texts of every reply are valid UTF-8, whatever
 * the request's envelope holds and however long a handler's message is;
 * a handler already on a worker that asks for one is an internal error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/v1/core.pb-c.h"
#include "test/v1/test.pb-c.h"

#include "core/arena.h"
#include "core/log.h"
#include "core/rpc.h"
#include "core/utf8.h"
#include "rpc_internal.h"

#define E_ACUTE "\xc3\xa9" /* two bytes */

static core_status
long_message(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) out;
	const Test__V1__AllTypes *req = (const Test__V1__AllTypes *) in;
	if (strcmp(req->f_string, "to worker") == 0) {
		return core_call_to_worker(c); /* may block here: refused */
	}
	if (strcmp(req->f_string, "field") == 0) {
		char text[700] = "";
		for (size_t i = 0; i + 2 < sizeof(text); i += 2) {
			memcpy(text + i, E_ACUTE, 3);
		}
		return core_call_field_error(c, text, "%s", text);
	}
	char text[1200] = "x"; /* odd: every cut point differs */
	for (size_t i = 1; i + 2 < sizeof(text); i += 2) {
		memcpy(text + i, E_ACUTE, 3);
	}
	return core_call_error(c, CORE_INVALID_ARGUMENT, "%s", text);
}

static const core_rpc_method methods[] = {
    {"/test.v1.Echo/Echo", long_message, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {"/test.v1.Echo/Types", long_message, CORE_RULE_PUBLIC, 0, NULL, NULL},
};

static core_rpc_server *server;
static core_arena *arena;

static int
setup(void **state)
{
	(void) state;
	core_log_init("test", CORE_LOG_ERROR, false);
	static const core_rpc_service svc = {
	    &test__v1__echo__descriptor, methods, 2, NULL};
	const char *urls[] = {"inproc://unused"};
	core_rpc_server_config cfg = {
	    .name = "test", .listen_urls = urls, .n_listen = 1, .workers = 1};
	arena = core_arena_new(1 << 20);
	return core_rpc_server_new(&cfg, &svc, 1, &server) != 0 ||
	       arena == NULL;
}

static int
teardown(void **state)
{
	(void) state;
	core_rpc_server_free(server);
	core_arena_free(arena);
	return 0;
}

static bool
utf8(const char *s)
{
	return core_utf8_valid(s, strlen(s));
}

/* Sends a Request with that method and payload text; checks that every
 * text of the reply is UTF-8 and returns its code. */
static core_status
call(const char *method, const char *text)
{
	Test__V1__AllTypes in;
	test__v1__all_types__init(&in);
	in.f_string = (char *) (uintptr_t) text;
	uint8_t payload[256];
	assert_true(
	    test__v1__all_types__get_packed_size(&in) <= sizeof(payload));
	size_t plen = test__v1__all_types__pack(&in, payload);

	Core__V1__Request req;
	core__v1__request__init(&req);
	req.method = (char *) (uintptr_t) method;
	req.payload.data = payload;
	req.payload.len = plen;
	nng_msg *m;
	assert_int_equal(
	    nng_msg_alloc(&m, core__v1__request__get_packed_size(&req)), 0);
	core__v1__request__pack(&req, nng_msg_body(m));

	nng_msg *reply = rpc_server_handle(server, m, NULL, arena);
	assert_non_null(reply);
	core_rpc_reply r;
	memset(&r, 0, sizeof(r));
	core_status st = rpc_client_decode_reply(reply, arena, &r);
	assert_true(utf8(r.message));
	for (size_t i = 0; i < r.n_details; i++) {
		assert_true(utf8(r.detail_fields[i]));
		assert_true(utf8(r.detail_descriptions[i]));
	}
	nng_msg_free(reply);
	core_arena_reset(arena);
	return st;
}

static void
test_dispatch_refuses_an_envelope_whose_method_is_not_utf8(void **state)
{
	(void) state;
	assert_int_equal(
	    call("/test.v1.Ec\x98\xac/Types", "a"), CORE_INVALID_ARGUMENT);
	assert_int_equal(
	    call("/test.v1.Echo/Types\xc3", "a"), CORE_INVALID_ARGUMENT);
}

static void
test_dispatch_unknown_long_method_is_not_cut_inside_a_character(void **state)
{
	(void) state;
	char method[600] = "/";
	for (size_t i = 1; i + 2 < sizeof(method); i += 2) {
		memcpy(method + i, E_ACUTE, 3);
	}
	assert_int_equal(call(method, "a"), CORE_UNIMPLEMENTED);
}

static void
test_call_errors_cut_at_their_buffer_stay_utf8(void **state)
{
	(void) state;
	assert_int_equal(
	    call("/test.v1.Echo/Types", "plain"), CORE_INVALID_ARGUMENT);
	assert_int_equal(
	    call("/test.v1.Echo/Types", "field"), CORE_INVALID_ARGUMENT);
}

/* core_call_to_worker is for a handler that runs where it must not block
 * (CORE_METHOD_INLINE_ON_PREFETCH); on a worker it is a bug of the
 * handler's, answered as one, never a call left without a reply. */
static void
test_asking_for_a_worker_on_a_worker_is_an_internal_error(void **state)
{
	(void) state;
	assert_int_equal(
	    call("/test.v1.Echo/Types", "to worker"), CORE_INTERNAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_dispatch_refuses_an_envelope_whose_method_is_not_utf8),
	    cmocka_unit_test(
	        test_dispatch_unknown_long_method_is_not_cut_inside_a_character),
	    cmocka_unit_test(test_call_errors_cut_at_their_buffer_stay_utf8),
	    cmocka_unit_test(
	        test_asking_for_a_worker_on_a_worker_is_an_internal_error),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
