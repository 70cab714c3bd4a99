/* The trace context across a real RPC (core/trace.h, over inproc://): a
 * call made in a context sends it as traceparent (its span the parent), an
 * explicit traceparent wins, a call made outside one sends none; the server
 * continues it in a span of its own; an asynchronous call's completion
 * runs in the caller's context and leaves nng's thread as it found it. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "test/v1/test.pb-c.h"
#include "core/log.h"
#include "core/rpc.h"
#include "core/trace.h"

#define ECHO "/test.v1.Echo/Echo"
#define URL "inproc://trace-echo"
#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* Echo answers with the traceparent metadata it got (request_id) and the
 * context it ran in (authorization: "<trace id> <span id>", "" for
 * none). */
static core_status
echo(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Test__V1__EchoResponse *r = (Test__V1__EchoResponse *) out;
	const char *tp = core_call_metadata(c, CORE_MD_TRACEPARENT);
	const core_trace *t = core_trace_current();
	r->request_id = core_arena_strdup(core_call_arena(c), tp ? tp : "");
	r->authorization = t == NULL ? ""
	                             : core_arena_printf(core_call_arena(c),
	                                   "%s %s", t->trace_id, t->span_id);
	return r->request_id != NULL && r->authorization != NULL
	           ? CORE_OK
	           : CORE_RESOURCE_EXHAUSTED;
}

static core_status
types(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	(void) out;
	return core_call_error(c, CORE_UNIMPLEMENTED, "no");
}

static const core_rpc_method methods[] = {
    {ECHO, echo, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {"/test.v1.Echo/Types", types, CORE_RULE_PUBLIC | CORE_METHOD_INLINE, 0,
        NULL, NULL},
};
static const core_rpc_service service = {
    &test__v1__echo__descriptor, methods, 2, NULL};

static core_rpc_server *srv;
static core_rpc_client *cli;

static int
setup(void **state)
{
	(void) state;
	core_log_init("test", CORE_LOG_ERROR, true);
	const char *urls[] = {URL};
	core_rpc_server_config cfg = {.name = "trace-test",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = 2};
	core_rpc_client_config cc = {
	    .name = "echo", .urls = urls, .n_urls = 1, .conns_per_url = 1};
	return core_rpc_server_new(&cfg, &service, 1, &srv) != 0 ||
	       core_rpc_server_start(srv) != 0 ||
	       core_rpc_client_new(&cc, &cli) != 0;
}

static int
teardown(void **state)
{
	(void) state;
	core_rpc_client_free(cli);
	core_rpc_server_stop(srv);
	core_rpc_server_free(srv);
	return 0;
}

/* One Echo call with md; the traceparent the server got and the context
 * it ran in, into sent and ran. */
static void
call(const core_md *md, size_t n_md, char sent[64], char ran[64])
{
	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	core_rpc_opts opts = {.timeout_ms = 3000, .md = md, .n_md = n_md};
	core_rpc_reply reply;
	ProtobufCMessage *out = NULL;
	assert_int_equal(
	    core_rpc_call(cli, ECHO, &req.base,
	        &test__v1__echo_response__descriptor, &out, &opts, a, &reply),
	    CORE_OK);
	const Test__V1__EchoResponse *r = (const Test__V1__EchoResponse *) out;
	snprintf(sent, 64, "%s", r->request_id);
	snprintf(ran, 64, "%s", r->authorization);
	core_arena_free(a);
}

static void
test_a_call_in_a_context_sends_it_and_the_server_continues_it(void **state)
{
	(void) state;
	core_trace t;
	char sent[64], ran[64], want[CORE_TRACEPARENT_LEN + 1];
	core_trace_new(&t);
	core_trace_set(&t);
	core_trace_format(&t, want);
	call(NULL, 0, sent, ran);
	assert_string_equal(sent, want); /* our span is the parent */
	assert_int_equal(strncmp(ran, t.trace_id, CORE_TRACE_ID_LEN), 0);
	assert_string_not_equal(ran + CORE_TRACE_ID_LEN + 1, t.span_id);
	/* The caller's own context is untouched. */
	assert_string_equal(core_trace_current()->span_id, t.span_id);
	core_trace_set(NULL);
}

static void
test_an_explicit_traceparent_wins(void **state)
{
	(void) state;
	core_trace t;
	char sent[64], ran[64];
	core_trace_new(&t);
	core_trace_set(&t);
	core_md md[] = {{CORE_MD_TRACEPARENT, TP}};
	call(md, 1, sent, ran);
	assert_string_equal(sent, TP);
	assert_int_equal(
	    strncmp(ran, "4bf92f3577b34da6a3ce929d0e0e4736 ", 33), 0);
	core_trace_set(NULL);
}

static void
test_a_call_outside_a_context_sends_none(void **state)
{
	(void) state;
	char sent[64], ran[64], ran2[64];
	core_trace_set(NULL);
	call(NULL, 0, sent, ran);
	assert_string_equal(sent, "");
	/* The server starts a trace per call all the same. */
	assert_int_equal(
	    strlen(ran), CORE_TRACE_ID_LEN + 1 + CORE_SPAN_ID_LEN);
	call(NULL, 0, sent, ran2);
	assert_int_not_equal(strncmp(ran, ran2, CORE_TRACE_ID_LEN), 0);
}

typedef struct async_result {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	core_status code;
	core_trace during; /* the completion's context */
	bool had;
	char sent[64];
} async_result;

static void
async_done(void *arg, const core_rpc_reply *reply)
{
	async_result *r = arg;
	const core_trace *t = core_trace_current();
	pthread_mutex_lock(&r->mu);
	r->code = reply->code;
	r->had = t != NULL;
	if (t != NULL) {
		r->during = *t;
	}
	Test__V1__EchoResponse *out = test__v1__echo_response__unpack(
	    NULL, reply->payload_len, reply->payload);
	snprintf(r->sent, sizeof(r->sent), "%s",
	    out != NULL ? out->request_id : "?");
	test__v1__echo_response__free_unpacked(out, NULL);
	r->done = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* An async Echo from this thread; waits for its completion. */
static void
call_async(async_result *r)
{
	*r = (async_result){
	    .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	uint8_t buf[16];
	size_t n = test__v1__echo_request__pack(&req, buf);
	core_rpc_opts opts = {.timeout_ms = 3000};
	assert_int_equal(
	    core_rpc_call_async(cli, ECHO, buf, n, &opts, async_done, r),
	    CORE_OK);
	pthread_mutex_lock(&r->mu);
	while (!r->done) {
		pthread_cond_wait(&r->cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
}

static void
test_an_async_completion_runs_in_the_callers_context(void **state)
{
	(void) state;
	core_trace t;
	char want[CORE_TRACEPARENT_LEN + 1];
	async_result r;
	core_trace_new(&t);
	core_trace_set(&t);
	core_trace_format(&t, want);
	call_async(&r);
	assert_int_equal(r.code, CORE_OK);
	assert_string_equal(r.sent, want);
	assert_true(r.had);
	assert_string_equal(r.during.trace_id, t.trace_id);
	assert_string_equal(r.during.span_id, t.span_id);
	/* Outside a context: none during the completion either, whatever
	 * ran on that thread before. */
	core_trace_set(NULL);
	for (int i = 0; i < 20; i++) {
		call_async(&r);
		assert_int_equal(r.code, CORE_OK);
		assert_string_equal(r.sent, "");
		assert_false(r.had);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_a_call_in_a_context_sends_it_and_the_server_continues_it),
	    cmocka_unit_test(test_an_explicit_traceparent_wins),
	    cmocka_unit_test(test_a_call_outside_a_context_sends_none),
	    cmocka_unit_test(
	        test_an_async_completion_runs_in_the_callers_context),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
