#include <stdint.h>
#include <unistd.h>

#include "test/v1/test.pb-c.h"

#include "echo_service.h"

_Atomic int test_echo_runs;

/* Echoes data and seq, reports the metadata it saw; sleep_ms and fail_code
 * make it slow or failing on demand. */
static core_status
echo(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Test__V1__EchoRequest *req = (const Test__V1__EchoRequest *) in;
	Test__V1__EchoResponse *resp = (Test__V1__EchoResponse *) out;

	test_echo_runs++;
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
		return core_call_error(c, (core_status) req->fail_code,
		    "secret detail %d", 42);
	}
	resp->data = req->data; /* lives in the call's arena */
	resp->seq = req->seq;
	const char *v = core_call_metadata(c, CORE_MD_REQUEST_ID);
	resp->request_id = v ? core_arena_strdup(core_call_arena(c), v) : "";
	v = core_call_metadata(c, CORE_MD_AUTHORIZATION);
	resp->authorization = v ? (char *) (uintptr_t) v : "";
	int64_t left = core_call_remaining_ms(c);
	resp->deadline_remaining_ms = left == INT64_MAX ? -1 : left;
	return CORE_OK;
}

const core_rpc_handler test_echo_handlers[2] = {echo, NULL};
