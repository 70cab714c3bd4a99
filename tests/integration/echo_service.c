#include <stdint.h>
#include <unistd.h>

#include "test/v1/test.pb-c.h"

#include "core/call_auth.h"
#include "echo_service.h"

_Atomic int test_echo_runs;
int test_echo_started_fd = -1;

/* Echoes data and seq, reports the metadata it saw; sleep_ms and fail_code
 * make it slow or failing on demand. */
static core_status
echo(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Test__V1__EchoRequest *req = (const Test__V1__EchoRequest *) in;
	Test__V1__EchoResponse *resp = (Test__V1__EchoResponse *) out;

	test_echo_runs++;
	if (req->sleep_ms > 0 && test_echo_started_fd != -1) {
		ssize_t n = write(test_echo_started_fd, "s", 1);
		(void) n; /* if lost, the test waits in vain and says so */
	}
	if (req->sleep_ms > 0) {
		/* Capped: random payloads in the tests must not park a worker. */
		usleep((req->sleep_ms > 3000 ? 3000 : req->sleep_ms) * 1000u);
	}
	if (req->fail_code == CORE_INVALID_ARGUMENT) {
		core_call_field_error(c, "data", "must not be %s", "odd");
		return core_call_field_error(c, "seq", "too large");
	}
	if (req->fail_code == CORE_RESOURCE_EXHAUSTED) {
		core_call_set_retry_after(c, 7);
	}
	if (req->fail_code != 0) {
		return core_call_error(
		    c, (core_status) req->fail_code, "secret detail %d", 42);
	}
	resp->data = req->data; /* lives in the call's arena */
	resp->seq = req->seq;
	const char *v = core_call_metadata(c, CORE_MD_REQUEST_ID);
	resp->request_id = v ? core_arena_strdup(core_call_arena(c), v) : "";
	v = core_call_metadata(c, CORE_MD_AUTHORIZATION);
	resp->authorization = v ? (char *) (uintptr_t) v : "";
	resp->client_ip = req->client_ip;
	resp->user_agent = req->user_agent;
	v = core_call_metadata(c, CORE_MD_CLIENT_IP);
	resp->client_ip_metadata = v ? (char *) (uintptr_t) v : "";
	v = core_call_client_ip(c);
	resp->believed_client_ip = v ? (char *) (uintptr_t) v : "";
	v = core_call_peer(c);
	resp->peer = v ? (char *) (uintptr_t) v : "";
	int64_t left = core_call_remaining_ms(c);
	resp->deadline_remaining_ms = left == INT64_MAX ? -1 : left;
	return CORE_OK;
}

/* Types answers UNIMPLEMENTED itself: the server no longer serves a method
 * without a handler (it refuses to start). */
static core_status
types(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	(void) out;
	return core_call_error(c, CORE_UNIMPLEMENTED,
	    "method %s is not implemented", core_call_method(c));
}

const core_rpc_method test_echo_methods[2] = {
    {"/test.v1.Echo/Echo", echo, CORE_RULE_PUBLIC, 0, NULL, NULL},
    /* Never blocks: runs on the receiving nng thread. (Echo sleeps on
     * demand, so it runs on a worker.) */
    {"/test.v1.Echo/Types", types, CORE_METHOD_INLINE, 0, NULL, NULL},
};

const core_rpc_service test_echo_service = {
    &test__v1__echo__descriptor, test_echo_methods, 2, NULL};
