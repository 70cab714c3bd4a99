/* The RPC core on real nng sockets over tcp:// loopback: a test Echo
 * service, the client, and raw nng peers that misbehave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>

#include "core/v1/core.pb-c.h"
#include "core/v1/health.pb-c.h"
#include "test/v1/test.pb-c.h"

#include "core/call_auth.h"
#include "core/log.h"
#include "core/rpc.h"
#include "echo_service.h"

#define ECHO "/test.v1.Echo/Echo"

extern char **environ;

/* ---- The test service -------------------------------------------------- */

static _Atomic int worker_inits;
static _Atomic int healthy = 1;

/* The threads worker_init ran on (to tell workers from nng's threads). */
enum { MAX_WORKER_THREADS = 64 };
static pthread_t worker_threads[MAX_WORKER_THREADS];
static _Atomic int n_worker_threads;

static void *
worker_init(void *app)
{
	(void) app;
	worker_inits++;
	int i = n_worker_threads++;
	if (i < MAX_WORKER_THREADS) {
		worker_threads[i] = pthread_self();
	}
	return &worker_inits; /* any non-NULL state */
}

static bool
on_a_worker(pthread_t t)
{
	int n = n_worker_threads;
	for (int i = 0; i < n && i < MAX_WORKER_THREADS; i++) {
		if (pthread_equal(worker_threads[i], t)) {
			return true;
		}
	}
	return false;
}

static void *
worker_init_fails(void *app)
{
	(void) app;
	return NULL;
}

static bool
health(void *state)
{
	assert_ptr_equal(state, &worker_inits);
	return healthy != 0;
}

typedef struct fixture {
	core_rpc_server *srv;
	core_rpc_client *cli;
	char url[64];
	int port;
} fixture;

static core_rpc_server *
server_on(const char *url, int workers, int drain_ms)
{
	const char *urls[] = {url};
	core_rpc_server_config cfg = {
	    .name = "test",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = workers,
	    .max_msg_bytes = 64 * 1024,
	    .drain_ms = drain_ms,
	    .worker_init = worker_init,
	    .health = health,
	};
	core_rpc_server *s = NULL;
	assert_int_equal(
	    core_rpc_server_new(&cfg, &test_echo_service, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), 0);
	return s;
}

static core_rpc_client *
client_to(const char *url)
{
	const char *urls[] = {url};
	core_rpc_client_config cfg = {
	    .name = "echo",
	    .urls = urls,
	    .n_urls = 1,
	    .max_msg_bytes = 64 * 1024,
	    .connect_wait_ms = 2000,
	};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&cfg, &c), 0);
	return c;
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	healthy = 1;
	f->srv = server_on("tcp://127.0.0.1:0", 4, 2000);
	f->port = core_rpc_server_port(f->srv);
	assert_true(f->port > 0);
	snprintf(f->url, sizeof(f->url), "tcp://127.0.0.1:%d", f->port);
	f->cli = client_to(f->url);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	core_rpc_client_free(f->cli);
	core_rpc_server_free(f->srv);
	free(f);
	return 0;
}

static core_status
call_echo(core_rpc_client *cli, const Test__V1__EchoRequest *req,
    const core_rpc_opts *opts, core_arena *a, Test__V1__EchoResponse **resp,
    core_rpc_reply *reply)
{
	ProtobufCMessage *out = NULL;
	core_status st = core_rpc_call(cli, ECHO, &req->base,
	    &test__v1__echo_response__descriptor, &out, opts, a, reply);
	*resp = (Test__V1__EchoResponse *) out;
	return st;
}

/* ---- A server in its own process ----------------------------------------- */

/* Starts echo_server on url and waits until it accepts connections;
 * with started_fd not -1, it writes a byte there as each Echo call that
 * sleeps starts (test_echo_started_fd). */
static pid_t
spawn_server(const char *url, int port, int started_fd)
{
	char fd[16];
	snprintf(fd, sizeof(fd), "%d", started_fd);
	char *argv[] = {(char *) ECHO_SERVER_PATH, (char *) (uintptr_t) url,
	    "4", "5000", started_fd == -1 ? NULL : fd, NULL};
	pid_t pid;
	assert_int_equal(
	    posix_spawn(&pid, ECHO_SERVER_PATH, NULL, NULL, argv, environ), 0);
	/* Ready when it answers Health. (A bare TCP connect as a probe
	 * would do, but nng's listener pauses accepting for about 100 ms
	 * after a peer that hangs up during the handshake.) */
	(void) port;
	const char *urls[] = {url};
	core_rpc_client_config cfg = {
	    .name = "probe", .urls = urls, .n_urls = 1, .conns_per_url = 1};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&cfg, &c), 0);
	core_arena *a = core_arena_new(0);
	core_status st = CORE_UNAVAILABLE;
	for (int i = 0; i < 100 && st != CORE_OK; i++) {
		Core__V1__HealthCheckRequest req =
		    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
		ProtobufCMessage *out = NULL;
		core_rpc_reply reply;
		core_rpc_opts opts = {.timeout_ms = 200};
		st = core_rpc_call(c, "/core.v1.Health/Check", &req.base,
		    &core__v1__health_check_response__descriptor, &out, &opts,
		    a, &reply);
		core_arena_reset(a);
	}
	core_arena_free(a);
	core_rpc_client_free(c);
	if (st != CORE_OK) {
		fail_msg("echo_server did not start on %s", url);
	}
	return pid;
}

/* SIGTERM, then the exit status (-1 if it did not exit normally). */
static int
stop_server(pid_t pid)
{
	int status = 0;
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- Tests ------------------------------------------------------------- */

static void
test_round_trip_carries_payload_and_metadata(void **state)
{
	fixture *f = *state;
	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	req.data.data = (uint8_t *) "hello";
	req.data.len = 5;
	req.seq = 77;
	core_md md[] = {{CORE_MD_REQUEST_ID, "rid-123"},
	    {CORE_MD_AUTHORIZATION, "Bearer abc"}};
	/* A budget far larger than the trip takes even on a loaded machine
	 * under sanitizers, so what arrives is clearly the remaining one. */
	core_rpc_opts opts = {.timeout_ms = 60000, .md = md, .n_md = 2};
	Test__V1__EchoResponse *resp = NULL;
	core_rpc_reply reply;

	assert_int_equal(
	    call_echo(f->cli, &req, &opts, a, &resp, &reply), CORE_OK);
	assert_int_equal(resp->data.len, 5);
	assert_memory_equal(resp->data.data, "hello", 5);
	assert_int_equal(resp->seq, 77);
	assert_string_equal(resp->request_id, "rid-123");
	assert_string_equal(resp->authorization, "Bearer abc");
	/* The deadline travelled as a remaining budget. */
	assert_true(resp->deadline_remaining_ms > 30000);
	assert_true(resp->deadline_remaining_ms <= 60000);
	assert_true(worker_inits >= 4);
	core_arena_free(a);
}

static void
test_client_generates_a_request_id_when_none_is_given(void **state)
{
	fixture *f = *state;
	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	Test__V1__EchoResponse *resp = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    call_echo(f->cli, &req, NULL, a, &resp, &reply), CORE_OK);
	assert_int_equal(strlen(resp->request_id), 32);
	core_arena_free(a);
}

static void
test_health_reports_serving_and_not_serving(void **state)
{
	fixture *f = *state;
	core_arena *a = core_arena_new(0);
	Core__V1__HealthCheckRequest req =
	    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;

	assert_int_equal(
	    core_rpc_call(f->cli, "/core.v1.Health/Check", &req.base,
	        &core__v1__health_check_response__descriptor, &out, NULL, a,
	        &reply),
	    CORE_OK);
	assert_int_equal(((Core__V1__HealthCheckResponse *) out)->status,
	    CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);

	healthy = 0;
	assert_int_equal(
	    core_rpc_call(f->cli, "/core.v1.Health/Check", &req.base,
	        &core__v1__health_check_response__descriptor, &out, NULL, a,
	        &reply),
	    CORE_OK);
	assert_int_equal(((Core__V1__HealthCheckResponse *) out)->status,
	    CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
	healthy = 1;

	req.service = "test.v1.Echo";
	assert_int_equal(
	    core_rpc_call(f->cli, "/core.v1.Health/Check", &req.base,
	        &core__v1__health_check_response__descriptor, &out, NULL, a,
	        &reply),
	    CORE_OK);
	assert_int_equal(((Core__V1__HealthCheckResponse *) out)->status,
	    CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
	req.service = "nope.v1.Nothing";
	assert_int_equal(
	    core_rpc_call(f->cli, "/core.v1.Health/Check", &req.base,
	        &core__v1__health_check_response__descriptor, &out, NULL, a,
	        &reply),
	    CORE_OK);
	assert_int_equal(((Core__V1__HealthCheckResponse *) out)->status,
	    CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN);
	core_arena_free(a);
}

static void
test_unknown_and_unimplemented_methods_answer_unimplemented(void **state)
{
	fixture *f = *state;
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	assert_int_equal(core_rpc_call_raw(f->cli, "/test.v1.Echo/Nope", NULL,
	                     0, NULL, a, &reply),
	    CORE_UNIMPLEMENTED);
	assert_non_null(strstr(reply.message, "/test.v1.Echo/Nope"));
	assert_int_equal(core_rpc_call_raw(f->cli, "/test.v1.Echo/Types", NULL,
	                     0, NULL, a, &reply),
	    CORE_UNIMPLEMENTED);
	assert_int_equal(
	    core_rpc_call_raw(f->cli, "", NULL, 0, NULL, a, &reply),
	    CORE_UNIMPLEMENTED);
	core_arena_free(a);
}

static void
test_undecodable_payload_is_invalid_argument(void **state)
{
	fixture *f = *state;
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	/* Field 1, wire type 2, length 100, but only 2 bytes follow. */
	static const uint8_t bad[] = {0x0a, 100, 1, 2};
	assert_int_equal(
	    core_rpc_call_raw(f->cli, ECHO, bad, sizeof(bad), NULL, a, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_non_null(strstr(reply.message, "test.v1.EchoRequest"));
	core_arena_free(a);
}

static void
test_handler_errors_reach_the_client_without_internal_detail(void **state)
{
	fixture *f = *state;
	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	Test__V1__EchoResponse *resp = NULL;
	core_rpc_reply reply;

	req.fail_code = CORE_INTERNAL;
	assert_int_equal(
	    call_echo(f->cli, &req, NULL, a, &resp, &reply), CORE_INTERNAL);
	assert_string_equal(reply.message, "internal error");

	req.fail_code = CORE_NOT_FOUND;
	assert_int_equal(
	    call_echo(f->cli, &req, NULL, a, &resp, &reply), CORE_NOT_FOUND);
	assert_string_equal(reply.message, "secret detail 42");

	req.fail_code = CORE_RESOURCE_EXHAUSTED;
	assert_int_equal(call_echo(f->cli, &req, NULL, a, &resp, &reply),
	    CORE_RESOURCE_EXHAUSTED);
	assert_int_equal(reply.retry_after_s, 7);

	req.fail_code = CORE_INVALID_ARGUMENT;
	assert_int_equal(call_echo(f->cli, &req, NULL, a, &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(reply.message, "data: must not be odd");
	assert_int_equal(reply.n_details, 2);
	assert_string_equal(reply.detail_fields[0], "data");
	assert_string_equal(reply.detail_fields[1], "seq");
	assert_string_equal(reply.detail_descriptions[1], "too large");
	core_arena_free(a);
}

static void
test_deadline_exceeded_when_the_handler_is_slow(void **state)
{
	fixture *f = *state;
	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	Test__V1__EchoResponse *resp = NULL;
	core_rpc_reply reply;
	core_rpc_opts opts = {.timeout_ms = 100};

	/* A handler far slower than the budget (but done within the
	 * fixture's 2 s drain): returning well before it leaves no doubt,
	 * even on a loaded machine. */
	req.sleep_ms = 1800;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(call_echo(f->cli, &req, &opts, a, &resp, &reply),
	    CORE_DEADLINE_EXCEEDED);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	          (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms < 1500); /* it did not wait for the handler */

	/* The client and server stay usable after an abandoned call. */
	req.sleep_ms = 0;
	req.seq = 5;
	assert_int_equal(
	    call_echo(f->cli, &req, NULL, a, &resp, &reply), CORE_OK);
	assert_int_equal(resp->seq, 5);
	core_arena_free(a);
}

static void
test_expired_deadline_is_not_run_by_the_server(void **state)
{
	fixture *f = *state;
	/* A budget of 0 ms has run out when the call arrives: the server
	 * must answer without running the handler. */
	nng_socket raw;
	assert_int_equal(nng_req0_open(&raw), 0);
	nng_socket_set_ms(raw, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	assert_int_equal(nng_dial(raw, f->url, NULL, 0), 0);

	Core__V1__Request__MetadataEntry e =
	    CORE__V1__REQUEST__METADATA_ENTRY__INIT;
	Core__V1__Request__MetadataEntry *ep[] = {&e};
	Core__V1__Request r = CORE__V1__REQUEST__INIT;
	r.method = ECHO;
	r.n_metadata = 1;
	r.metadata = ep;
	e.key = CORE_MD_DEADLINE;
	e.value = "0";
	uint8_t buf[128];
	size_t n = core__v1__request__pack(&r, buf);
	int before = test_echo_runs;
	assert_int_equal(nng_send(raw, buf, n, 0), 0);
	void *rep = NULL;
	size_t rlen = 0;
	assert_int_equal(nng_recv(raw, &rep, &rlen, NNG_FLAG_ALLOC), 0);
	Core__V1__Response *resp = core__v1__response__unpack(NULL, rlen, rep);
	assert_non_null(resp);
	assert_int_equal(resp->code, CORE__V1__CODE__DEADLINE_EXCEEDED);
	assert_int_equal(test_echo_runs, before);
	core__v1__response__free_unpacked(resp, NULL);
	nng_free(rep, rlen);
	nng_close(raw);
}

static void
test_garbage_message_gets_an_error_and_server_keeps_serving(void **state)
{
	fixture *f = *state;
	nng_socket raw;
	assert_int_equal(nng_req0_open(&raw), 0);
	nng_socket_set_ms(raw, NNG_OPT_RECVTIMEO, 3000);
	assert_int_equal(nng_dial(raw, f->url, NULL, 0), 0);
	static const uint8_t garbage[] = {
	    0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x13, 0x37};
	assert_int_equal(
	    nng_send(raw, (void *) (uintptr_t) garbage, sizeof(garbage), 0),
	    0);
	void *rep = NULL;
	size_t rlen = 0;
	assert_int_equal(nng_recv(raw, &rep, &rlen, NNG_FLAG_ALLOC), 0);
	Core__V1__Response *resp = core__v1__response__unpack(NULL, rlen, rep);
	assert_non_null(resp);
	assert_int_equal(resp->code, CORE__V1__CODE__INVALID_ARGUMENT);
	core__v1__response__free_unpacked(resp, NULL);
	nng_free(rep, rlen);

	/* An empty message is a Request with no method. */
	assert_int_equal(nng_send(raw, (void *) (uintptr_t) garbage, 0, 0), 0);
	assert_int_equal(nng_recv(raw, &rep, &rlen, NNG_FLAG_ALLOC), 0);
	resp = core__v1__response__unpack(NULL, rlen, rep);
	assert_non_null(resp);
	assert_int_equal(resp->code, CORE__V1__CODE__UNIMPLEMENTED);
	core__v1__response__free_unpacked(resp, NULL);
	nng_free(rep, rlen);
	nng_close(raw);

	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	Test__V1__EchoResponse *out = NULL;
	core_rpc_reply reply;
	req.seq = 9;
	assert_int_equal(
	    call_echo(f->cli, &req, NULL, a, &out, &reply), CORE_OK);
	assert_int_equal(out->seq, 9);
	core_arena_free(a);
}

static void
test_random_bytes_never_break_the_server(void **state)
{
	fixture *f = *state;
	nng_socket raw;
	assert_int_equal(nng_req0_open(&raw), 0);
	nng_socket_set_ms(raw, NNG_OPT_RECVTIMEO, 3000);
	nng_socket_set_ms(raw, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	assert_int_equal(nng_dial(raw, f->url, NULL, 0), 0);
	/* Random envelopes, and valid envelopes around random payloads: each
	 * gets a well-formed Response, never a crash or a hang. */
	srand(12345);
	uint8_t buf[512];
	for (int i = 0; i < 2000; i++) {
		size_t n = (size_t) (rand() % (int) sizeof(buf));
		for (size_t k = 0; k < n; k++) {
			buf[k] = (uint8_t) rand();
		}
		uint8_t env[600];
		size_t len = n;
		const uint8_t *msg = buf;
		if (i % 2 == 1) {
			Core__V1__Request r = CORE__V1__REQUEST__INIT;
			r.method = i % 4 == 1 ? ECHO : "/test.v1.Echo/Types";
			r.payload.data = buf;
			r.payload.len = n;
			len = core__v1__request__pack(&r, env);
			msg = env;
		}
		assert_int_equal(
		    nng_send(raw, (void *) (uintptr_t) msg, len, 0), 0);
		void *rep = NULL;
		size_t rlen = 0;
		assert_int_equal(
		    nng_recv(raw, &rep, &rlen, NNG_FLAG_ALLOC), 0);
		Core__V1__Response *resp =
		    core__v1__response__unpack(NULL, rlen, rep);
		assert_non_null(resp);
		assert_true(resp->code == CORE__V1__CODE__OK ||
		            resp->code == CORE__V1__CODE__INVALID_ARGUMENT ||
		            resp->code == CORE__V1__CODE__UNIMPLEMENTED ||
		            resp->code == CORE__V1__CODE__DEADLINE_EXCEEDED);
		core__v1__response__free_unpacked(resp, NULL);
		nng_free(rep, rlen);
	}
	nng_close(raw);
}

static void
test_oversized_message_is_rejected(void **state)
{
	fixture *f = *state;
	core_arena *a = core_arena_new(0);
	size_t big = 100 * 1024; /* server and client limit is 64 KiB */
	uint8_t *data = calloc(1, big);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	Test__V1__EchoResponse *out = NULL;
	core_rpc_reply reply;
	req.data.data = data;
	req.data.len = big;

	/* The client refuses to send it. */
	assert_int_equal(call_echo(f->cli, &req, NULL, a, &out, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_non_null(strstr(reply.message, "maximum message size"));

	/* A peer that sends it anyway is cut off; the server goes on. */
	nng_socket raw;
	assert_int_equal(nng_req0_open(&raw), 0);
	nng_socket_set_ms(raw, NNG_OPT_RECVTIMEO, 500);
	nng_socket_set_ms(raw, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	assert_int_equal(nng_dial(raw, f->url, NULL, 0), 0);
	assert_int_equal(nng_send(raw, data, big, 0), 0);
	void *rep = NULL;
	size_t rlen = 0;
	assert_int_not_equal(nng_recv(raw, &rep, &rlen, NNG_FLAG_ALLOC), 0);
	nng_close(raw);

	req.data.len = 1000;
	req.seq = 3;
	assert_int_equal(
	    call_echo(f->cli, &req, NULL, a, &out, &reply), CORE_OK);
	assert_int_equal(out->data.len, 1000);
	free(data);
	core_arena_free(a);
}

typedef struct hammer {
	core_rpc_client *cli;
	int id;
	int calls;
	_Atomic int ok; /* read by the test while it runs */
	int mismatched;
	_Atomic int unavailable; /* read by the test while it runs */
	int other;
	_Atomic int *stop;
} hammer;

/* The sum of ok over n hammers, as they run. */
static int
hammers_ok(const hammer *h, int n)
{
	int sum = 0;
	for (int i = 0; i < n; i++) {
		sum += h[i].ok;
	}
	return sum;
}

/* Waits until each of n hammers has more than min[i] calls answered OK
 * (or UNAVAILABLE): at most 30 s, since when a thread gets the CPU is up
 * to the scheduler. Whether they all did. */
static bool
wait_each_hammer(const hammer *h, int n, const int *min, bool unavailable)
{
	for (int i = 0; i < n; i++) {
		for (int w = 0; w < 3000; w++) {
			if ((unavailable ? h[i].unavailable : h[i].ok) >
			    min[i]) {
				break;
			}
			usleep(10000);
		}
		if ((unavailable ? h[i].unavailable : h[i].ok) <= min[i]) {
			return false;
		}
	}
	return true;
}

static void *
hammer_main(void *arg)
{
	hammer *h = arg;
	core_arena *a = core_arena_new(0);
	char data[64];
	for (int i = 0; h->calls == 0 || i < h->calls; i++) {
		if (h->stop != NULL && *h->stop) {
			break;
		}
		int n = snprintf(data, sizeof(data), "t%d-c%d", h->id, i);
		Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
		req.data.data = (uint8_t *) data;
		req.data.len = (size_t) n;
		req.seq = ((uint64_t) h->id << 32) | (uint64_t) i;
		Test__V1__EchoResponse *resp = NULL;
		core_rpc_reply reply;
		core_rpc_opts opts = {.timeout_ms = 5000};
		core_status st =
		    call_echo(h->cli, &req, &opts, a, &resp, &reply);
		if (st == CORE_OK) {
			if (resp->seq != req.seq ||
			    resp->data.len != (size_t) n ||
			    memcmp(resp->data.data, data, (size_t) n) != 0) {
				h->mismatched++;
			} else {
				h->ok++;
			}
		} else if (st == CORE_UNAVAILABLE) {
			h->unavailable++;
			if (h->stop != NULL) {
				usleep(10000);
			}
		} else {
			h->other++;
		}
		core_arena_reset(a);
	}
	core_arena_free(a);
	return NULL;
}

static void
test_64_threads_1000_calls_each_all_replies_match(void **state)
{
	fixture *f = *state;
	enum { THREADS = 64, CALLS = 1000 };
	pthread_t t[THREADS];
	hammer h[THREADS];
	for (int i = 0; i < THREADS; i++) {
		h[i] = (hammer){.cli = f->cli, .id = i, .calls = CALLS};
		assert_int_equal(
		    pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
	}
	int ok = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(h[i].mismatched, 0);
		assert_int_equal(h[i].unavailable, 0);
		assert_int_equal(h[i].other, 0);
		ok += h[i].ok;
	}
	assert_int_equal(ok, THREADS * CALLS);
}

static void
test_no_server_answers_unavailable_quickly(void **state)
{
	(void) state;
	/* A port nothing listens on: bind one, note it, close it. */
	core_rpc_server *s = server_on("tcp://127.0.0.1:0", 1, 100);
	char url[64];
	snprintf(
	    url, sizeof(url), "tcp://127.0.0.1:%d", core_rpc_server_port(s));
	core_rpc_server_free(s);

	const char *urls[] = {url};
	core_rpc_client_config cfg = {
	    .name = "echo", .urls = urls, .n_urls = 1, .connect_wait_ms = 100};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&cfg, &c), 0);
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	/* It gives up after connect_wait_ms (100), long before the call's
	 * own deadline. */
	core_rpc_opts opts = {.timeout_ms = 30000};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(core_rpc_call_raw(c, ECHO, NULL, 0, &opts, a, &reply),
	    CORE_UNAVAILABLE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	          (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms < 10000);
	assert_non_null(strstr(reply.message, "unavailable"));
	core_arena_free(a);
	core_rpc_client_free(c);
}

static void
test_bad_urls_and_busy_ports_fail_to_start(void **state)
{
	fixture *f = *state;
	const char *bad[] = {"nonsense://x"};
	core_rpc_client_config cc = {.name = "x", .urls = bad, .n_urls = 1};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&cc, &c), -22 /* EINVAL */);

	core_rpc_server_config sc = {
	    .name = "x", .listen_urls = bad, .n_listen = 1, .workers = 1};
	core_rpc_server *s = NULL;
	assert_int_equal(
	    core_rpc_server_new(&sc, &test_echo_service, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), -1);
	core_rpc_server_free(s);

	const char *busy[] = {f->url};
	sc.listen_urls = busy;
	assert_int_equal(
	    core_rpc_server_new(&sc, &test_echo_service, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), -1);
	core_rpc_server_free(s);

	const char *any[] = {"tcp://127.0.0.1:0"};
	sc.listen_urls = any;
	sc.worker_init = worker_init_fails;
	assert_int_equal(
	    core_rpc_server_new(&sc, &test_echo_service, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), -1);
	core_rpc_server_free(s);

	assert_int_equal(
	    core_rpc_server_new(NULL, &test_echo_service, 1, &s), -22);
}

static core_status
noop(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) c;
	(void) in;
	(void) out;
	return CORE_OK;
}

/* Tries a server with these rows for test.v1.Echo; returns what
 * core_rpc_server_new says. */
static int
try_table(const core_rpc_method *rows, size_t n)
{
	const char *any[] = {"tcp://127.0.0.1:0"};
	core_rpc_server_config sc = {
	    .name = "x", .listen_urls = any, .n_listen = 1, .workers = 1};
	core_rpc_service svc = {&test__v1__echo__descriptor, rows, n, NULL};
	core_rpc_server *s = NULL;
	int rv = core_rpc_server_new(&sc, &svc, 1, &s);
	core_rpc_server_free(s);
	return rv;
}

static void
test_server_refuses_a_method_table_that_does_not_match(void **state)
{
	(void) state;
	const core_rpc_method ok[] = {
	    {"/test.v1.Echo/Types", noop, 0, 0, NULL, NULL},
	    {"/test.v1.Echo/Echo", noop, 0, 0, NULL, NULL},
	};
	assert_int_equal(try_table(ok, 2), 0); /* any order */
	/* A method without a row. */
	assert_int_equal(try_table(ok, 1), -22);
	/* A row without a handler. */
	const core_rpc_method no_handler[] = {
	    {"/test.v1.Echo/Echo", noop, 0, 0, NULL, NULL},
	    {"/test.v1.Echo/Types", NULL, 0, 0, NULL, NULL},
	};
	assert_int_equal(try_table(no_handler, 2), -22);
	/* A row naming no method (a short or misspelt name). */
	const core_rpc_method stray[] = {
	    {"/test.v1.Echo/Echo", noop, 0, 0, NULL, NULL},
	    {"/test.v1.Echo/Types", noop, 0, 0, NULL, NULL},
	    {"Echo", noop, 0, 0, NULL, NULL},
	};
	assert_int_equal(try_table(stray, 3), -22);
	/* The same method twice. */
	const core_rpc_method twice[] = {
	    {"/test.v1.Echo/Echo", noop, 0, 0, NULL, NULL},
	    {"/test.v1.Echo/Types", noop, 0, 0, NULL, NULL},
	    {"/test.v1.Echo/Echo", noop, 0, 0, NULL, NULL},
	};
	assert_int_equal(try_table(twice, 3), -22);
	/* A token rule on a server that checks no tokens. */
	const core_rpc_method ruled[] = {
	    {"/test.v1.Echo/Echo", noop, CORE_RULE_USER, 0, NULL, NULL},
	    {"/test.v1.Echo/Types", noop, 0, 0, NULL, NULL},
	};
	assert_int_equal(try_table(ruled, 2), -22);
}

static void
test_server_restart_client_sees_unavailable_then_recovers(void **state)
{
	(void) state;
	int port = free_port();
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	pid_t pid = spawn_server(url, port, -1);

	_Atomic int stop = 0;
	enum { THREADS = 4 };
	pthread_t t[THREADS];
	hammer h[THREADS];
	core_rpc_client *c = NULL;
	{
		const char *urls[] = {url};
		core_rpc_client_config cfg = {.name = "echo",
		    .urls = urls,
		    .n_urls = 1,
		    .connect_wait_ms = 50};
		assert_int_equal(core_rpc_client_new(&cfg, &c), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		h[i] = (hammer){.cli = c, .id = i, .stop = &stop};
		pthread_create(&t[i], NULL, hammer_main, &h[i]);
	}
	/* Under load: every thread has had calls answered. */
	int before[THREADS] = {0};
	assert_true(wait_each_hammer(h, THREADS, before, false));
	/* A clean stop under load: in-flight calls drain, exit status 0. */
	assert_int_equal(stop_server(pid), 0);
	/* Every thread finds it gone; from then on no call of theirs can
	 * succeed until it is back. */
	int unavailable_while_down = 0;
	for (int i = 0; i < THREADS; i++) {
		before[i] = h[i].unavailable;
	}
	assert_true(wait_each_hammer(h, THREADS, before, true));
	for (int i = 0; i < THREADS; i++) {
		unavailable_while_down += h[i].unavailable;
	}
	int ok_before = hammers_ok(h, THREADS);
	pid = spawn_server(url, port, -1);
	/* Recovered: calls succeed again (waited for, up to 30 s). */
	for (int w = 0; w < 3000 && hammers_ok(h, THREADS) <= ok_before; w++) {
		usleep(10000);
	}
	stop = 1;
	int ok_after = 0, mismatched = 0, other = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ok_after += h[i].ok;
		mismatched += h[i].mismatched;
		other += h[i].other;
	}
	assert_int_equal(stop_server(pid), 0);
	assert_true(ok_before > 0);
	assert_true(unavailable_while_down > 0);
	assert_true(ok_after > ok_before); /* recovered */
	assert_int_equal(mismatched, 0);
	assert_int_equal(other, 0);
	core_rpc_client_free(c);
}

typedef struct slow_call {
	core_rpc_client *cli;
	core_status st;
} slow_call;

static void *
slow_main(void *arg)
{
	slow_call *s = arg;
	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	Test__V1__EchoResponse *resp = NULL;
	core_rpc_reply reply;
	req.sleep_ms = 1000;
	s->st = call_echo(s->cli, &req, NULL, a, &resp, &reply);
	if (s->st != CORE_OK) {
		print_message("slow call: %s\n", reply.message);
	}
	core_arena_free(a);
	return NULL;
}

static void
test_clean_shutdown_under_load_finishes_calls_in_flight(void **state)
{
	(void) state;
	int port = free_port();
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	int started[2];
	assert_int_equal(pipe(started), 0);
	pid_t pid = spawn_server(url, port, started[1]);
	close(started[1]);
	core_rpc_client *c = client_to(url);

	_Atomic int stop = 0;
	enum { THREADS = 8 };
	pthread_t t[THREADS], ts;
	hammer h[THREADS];
	int nthreads = THREADS;
	for (int i = 0; i < nthreads; i++) {
		h[i] = (hammer){.cli = c, .id = i, .stop = &stop};
		pthread_create(&t[i], NULL, hammer_main, &h[i]);
	}
	/* Under load: every thread has had calls answered. */
	int none[THREADS] = {0};
	assert_true(wait_each_hammer(h, THREADS, none, false));
	slow_call slow = {.cli = c};
	pthread_create(&ts, NULL, slow_main, &slow);
	/* The slow call is running in a handler (not still on its way). */
	struct pollfd pfd = {.fd = started[0], .events = POLLIN};
	char byte;
	assert_int_equal(poll(&pfd, 1, 30000), 1);
	assert_int_equal(read(started[0], &byte, 1), 1);
	close(started[0]);
	assert_int_equal(stop_server(pid), 0);
	pthread_join(ts, NULL);
	/* It was in flight when the stop began: it completed. */
	assert_int_equal(slow.st, CORE_OK);
	stop = 1;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(h[i].mismatched, 0);
		/* Calls end OK or UNAVAILABLE, never with a stray status. */
		assert_int_equal(h[i].other, 0);
		assert_true(h[i].ok > 0);
	}
	core_rpc_client_free(c);
}

static void
test_in_process_stop_finishes_calls_in_flight(void **state)
{
	fixture *f = *state;
	slow_call slow = {.cli = f->cli};
	pthread_t ts;
	int before = test_echo_runs;
	pthread_create(&ts, NULL, slow_main, &slow);
	/* Stop once the slow call is in its handler (up to 30 s: when its
	 * thread runs is up to the scheduler). */
	for (int i = 0; i < 3000 && test_echo_runs == before; i++) {
		usleep(10000);
	}
	assert_int_equal(test_echo_runs, before + 1);
	core_rpc_server_stop(f->srv);
	pthread_join(ts, NULL);
	assert_int_equal(slow.st, CORE_OK);
}

typedef struct async_result {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	core_status code;
	uint64_t seq;
	char message[128];
} async_result;

static void
async_done(void *arg, const core_rpc_reply *reply)
{
	async_result *r = arg;
	pthread_mutex_lock(&r->mu);
	r->code = reply->code;
	snprintf(r->message, sizeof(r->message), "%s", reply->message);
	if (reply->code == CORE_OK) {
		Test__V1__EchoResponse *resp = test__v1__echo_response__unpack(
		    NULL, reply->payload_len, reply->payload);
		r->seq = resp ? resp->seq : 0;
		test__v1__echo_response__free_unpacked(resp, NULL);
	}
	r->done++;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static core_status
async_echo(core_rpc_client *cli, uint64_t seq, uint32_t sleep_ms,
    int timeout_ms, async_result *r)
{
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	req.seq = seq;
	req.sleep_ms = sleep_ms;
	uint8_t buf[64];
	size_t n = test__v1__echo_request__pack(&req, buf);
	core_rpc_opts opts = {.timeout_ms = timeout_ms};
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	core_status st =
	    core_rpc_call_async(cli, ECHO, buf, n, &opts, async_done, r);
	if (st != CORE_OK) {
		return st;
	}
	pthread_mutex_lock(&r->mu);
	while (r->done == 0) {
		pthread_cond_wait(&r->cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return r->code;
}

static void
wait_connected(core_rpc_client *c)
{
	/* Up to 30 s: a loaded machine may take long to connect. */
	for (int i = 0; i < 15000 && core_rpc_client_connections(c) == 0;
	     i++) {
		usleep(2000);
	}
}

static void
test_async_call_round_trips_and_times_out(void **state)
{
	fixture *f = *state;
	async_result r;
	/* Unlike the blocking call, an async call does not wait for the
	 * first connection. */
	wait_connected(f->cli);
	assert_int_equal(async_echo(f->cli, 42, 0, 10000, &r), CORE_OK);
	assert_int_equal(r.seq, 42);
	assert_int_equal(r.done, 1);
	assert_int_equal(
	    async_echo(f->cli, 1, 500, 50, &r), CORE_DEADLINE_EXCEEDED);
	assert_int_equal(r.done, 1);
	assert_int_equal(async_echo(f->cli, 43, 0, 10000, &r), CORE_OK);
	assert_int_equal(r.seq, 43);
}

static void
test_async_call_reports_lost_connection(void **state)
{
	(void) state;
	/* The server is a process of its own: stopping an in-process server
	 * under a live call can hang nng 1.5.2's close (docs/internals/rpc.md). */
	int port = free_port();
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	pid_t pid = spawn_server(url, port, -1);
	core_rpc_client *c = client_to(url);
	wait_connected(c);
	async_result r;
	/* A long call in flight when the server goes away for good. */
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	req.sleep_ms = 2000;
	uint8_t buf[64];
	size_t n = test__v1__echo_request__pack(&req, buf);
	core_rpc_opts opts = {.timeout_ms = 10000};
	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	assert_int_equal(
	    core_rpc_call_async(c, ECHO, buf, n, &opts, async_done, &r),
	    CORE_OK);
	usleep(100000);
	kill(pid, SIGKILL); /* no drain: the connection just drops */
	waitpid(pid, NULL, 0);
	pthread_mutex_lock(&r.mu);
	while (r.done == 0) {
		pthread_cond_wait(&r.cv, &r.mu);
	}
	pthread_mutex_unlock(&r.mu);
	assert_int_equal(r.code, CORE_UNAVAILABLE); /* at once, not at 10 s */
	/* With no server left, new async calls fail at once. */
	usleep(100000);
	assert_int_equal(async_echo(c, 1, 0, 1000, &r), CORE_UNAVAILABLE);
	core_rpc_client_free(c);
}

/* ---- Inline methods and workers ------------------------------------------- */

/* Where the handlers of the mixed table below last ran, and with what. */
static _Atomic int inline_started, inline_runs, worker_runs;
static void *_Atomic seen_inline_state, *_Atomic seen_worker_state;
static _Atomic bool inline_on_worker, worker_on_worker;

/* While held, echo_noting waits (at most 30 s) for hold_workers(false):
 * a worker busy for as long as the test needs, not for a guessed time. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static bool held;

static void
hold_workers(bool on)
{
	pthread_mutex_lock(&hold_mu);
	held = on;
	pthread_cond_broadcast(&hold_cv);
	pthread_mutex_unlock(&hold_mu);
}

/* Echo on a worker: notes its thread and state, waits while held, then
 * the shared echo (which sleeps on demand). */
static core_status
echo_noting(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	seen_worker_state = core_call_state(c);
	worker_on_worker = on_a_worker(pthread_self());
	worker_runs++;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&hold_mu);
	int w = 0;
	while (held && w == 0) {
		w = pthread_cond_timedwait(&hold_cv, &hold_mu, &until);
	}
	pthread_mutex_unlock(&hold_mu);
	return test_echo_methods[0].handler(c, in, out);
}

/* Types inline: notes its thread and state; f_int32 > 0 makes it sleep
 * that many ms (only to hold a call in flight for the drain test: a real
 * inline method never blocks). Echoes f_int64. */
static core_status
types_inline(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Test__V1__AllTypes *req = (const Test__V1__AllTypes *) in;
	Test__V1__AllTypes *resp = (Test__V1__AllTypes *) out;
	inline_started++;
	seen_inline_state = core_call_state(c);
	inline_on_worker = on_a_worker(pthread_self());
	if (req->f_int32 > 0 && req->f_int32 <= 2000) {
		usleep((useconds_t) req->f_int32 * 1000u);
	}
	resp->f_int64 = req->f_int64;
	inline_runs++;
	return CORE_OK;
}

static const core_rpc_method mixed_methods[] = {
    {ECHO, echo_noting, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {"/test.v1.Echo/Types", types_inline, CORE_METHOD_INLINE, 0, NULL, NULL},
};
static const core_rpc_service mixed_service = {
    &test__v1__echo__descriptor, mixed_methods, 2, NULL};

static core_rpc_server *
mixed_server(int workers, bool with_health, int *port)
{
	const char *urls[] = {"tcp://127.0.0.1:0"};
	core_rpc_server_config cfg = {
	    .name = "mixed",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = workers,
	    .drain_ms = 3000,
	    .worker_init = worker_init,
	    .health = with_health ? health : NULL,
	};
	core_rpc_server *s = NULL;
	assert_int_equal(core_rpc_server_new(&cfg, &mixed_service, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), 0);
	*port = core_rpc_server_port(s);
	return s;
}

/* Calls Types with f_int32 = sleep_ms, f_int64 = tag; returns the status
 * and checks the tag came back. */
static core_status
call_types(core_rpc_client *cli, int32_t sleep_ms, int64_t tag)
{
	Test__V1__AllTypes req = TEST__V1__ALL_TYPES__INIT;
	req.f_int32 = sleep_ms;
	req.f_int64 = tag;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_arena *a = core_arena_new(0);
	core_rpc_opts opts = {.timeout_ms = 5000};
	core_status st = core_rpc_call(cli, "/test.v1.Echo/Types", &req.base,
	    &test__v1__all_types__descriptor, &out, &opts, a, &reply);
	if (st == CORE_OK && ((Test__V1__AllTypes *) out)->f_int64 != tag) {
		st = CORE_INTERNAL;
	}
	core_arena_free(a);
	return st;
}

typedef struct slow_echo {
	core_rpc_client *cli;
	uint32_t sleep_ms;
	core_status st;
} slow_echo;

static void *
slow_echo_main(void *arg)
{
	slow_echo *e = arg;
	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	Test__V1__EchoResponse *resp = NULL;
	core_rpc_reply reply;
	core_rpc_opts opts = {.timeout_ms = 30000}; /* it may be held */
	req.sleep_ms = e->sleep_ms;
	e->st = call_echo(e->cli, &req, &opts, a, &resp, &reply);
	core_arena_free(a);
	return NULL;
}

typedef struct slow_types {
	core_rpc_client *cli;
	int32_t sleep_ms;
	core_status st;
} slow_types;

static void *
slow_types_main(void *arg)
{
	slow_types *t = arg;
	t->st = call_types(t->cli, t->sleep_ms, 99);
	return NULL;
}

static void
test_inline_method_answers_while_every_worker_is_blocked(void **state)
{
	(void) state;
	enum { WORKERS = 2 };
	int port;
	core_rpc_server *s = mixed_server(WORKERS, false, &port);
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	core_rpc_client *cli = client_to(url);

	/* Every worker held in its handler until released (and one more
	 * call queued). */
	int before = worker_runs;
	hold_workers(true);
	pthread_t t[WORKERS + 1];
	slow_echo e[WORKERS + 1];
	for (int i = 0; i < WORKERS + 1; i++) {
		e[i] = (slow_echo){.cli = cli};
		pthread_create(&t[i], NULL, slow_echo_main, &e[i]);
	}
	for (int i = 0; i < 15000 && worker_runs < before + WORKERS; i++) {
		usleep(2000);
	}
	assert_int_equal(worker_runs, before + WORKERS);

	/* No worker is free until the release below: these answer only
	 * if they need none. */
	assert_int_equal(call_types(cli, 0, 7), CORE_OK);
	/* Without a hook, Health runs inline too. */
	core_arena *a = core_arena_new(0);
	Core__V1__HealthCheckRequest hreq =
	    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    core_rpc_call(cli, "/core.v1.Health/Check", &hreq.base,
	        &core__v1__health_check_response__descriptor, &out, NULL, a,
	        &reply),
	    CORE_OK);
	core_arena_free(a);
	assert_int_equal(worker_runs, before + WORKERS); /* still held */
	assert_false(inline_on_worker);
	assert_null(seen_inline_state);
	hold_workers(false);

	for (int i = 0; i < WORKERS + 1; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(e[i].st, CORE_OK);
	}
	core_rpc_client_free(cli);
	core_rpc_server_free(s);
}

static void
test_blocking_method_runs_on_a_worker_with_its_state(void **state)
{
	(void) state;
	int port;
	core_rpc_server *s = mixed_server(2, true, &port);
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	core_rpc_client *cli = client_to(url);

	seen_worker_state = NULL;
	worker_on_worker = false;
	slow_echo e = {.cli = cli};
	slow_echo_main(&e);
	assert_int_equal(e.st, CORE_OK);
	assert_true(worker_on_worker);
	assert_ptr_equal(seen_worker_state, &worker_inits);
	/* Health with a hook needs a worker's state: health() asserts it. */
	core_arena *a = core_arena_new(0);
	Core__V1__HealthCheckRequest hreq =
	    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    core_rpc_call(cli, "/core.v1.Health/Check", &hreq.base,
	        &core__v1__health_check_response__descriptor, &out, NULL, a,
	        &reply),
	    CORE_OK);
	assert_int_equal(((Core__V1__HealthCheckResponse *) out)->status,
	    CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
	core_arena_free(a);
	/* And the inline one ran on none. */
	inline_on_worker = true;
	assert_int_equal(call_types(cli, 0, 5), CORE_OK);
	assert_false(inline_on_worker);
	core_rpc_client_free(cli);
	core_rpc_server_free(s);
}

static void
test_stop_drains_inline_and_worker_calls_in_flight(void **state)
{
	(void) state;
	int port;
	core_rpc_server *s = mixed_server(2, false, &port);
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	core_rpc_client *cli = client_to(url);
	wait_connected(cli);

	int inl = inline_runs, wrk = worker_runs, started = inline_started;
	slow_echo e = {.cli = cli, .sleep_ms = 500};
	slow_types t = {.cli = cli, .sleep_ms = 500};
	pthread_t te, tt;
	pthread_create(&te, NULL, slow_echo_main, &e);
	pthread_create(&tt, NULL, slow_types_main, &t);
	/* Stop once both run in their handlers (up to 30 s: when their
	 * threads run is up to the scheduler). */
	for (int i = 0;
	     i < 3000 && (worker_runs == wrk || inline_started == started);
	     i++) {
		usleep(10000);
	}
	assert_int_equal(worker_runs, wrk + 1);
	assert_int_equal(inline_started, started + 1);
	uint64_t calls = core_rpc_server_calls(s);
	core_rpc_server_stop(s);
	pthread_join(te, NULL);
	pthread_join(tt, NULL);
	assert_int_equal(e.st, CORE_OK);
	assert_int_equal(t.st, CORE_OK);
	assert_int_equal(inline_runs, inl + 1);
	assert_int_equal(worker_runs, wrk + 1);
	assert_int_equal(core_rpc_server_calls(s), calls + 2);
	core_rpc_client_free(cli);
	core_rpc_server_free(s);
}

static core_status
deny_all(core_call *c, const ProtobufCMessage *in, const core_call_denial *d)
{
	(void) c;
	(void) in;
	return d->code;
}

/* Tries rows for test.v1.Echo on a server that checks tokens. */
static int
try_table_with_auth(const core_rpc_method *rows, size_t n,
    core_status (*denied)(
        core_call *, const ProtobufCMessage *, const core_call_denial *))
{
	const char *any[] = {"tcp://127.0.0.1:0"};
	core_call_auth auth = {.issuer = "iss", .audience = "aud"};
	core_rpc_server_config sc = {.name = "x",
	    .listen_urls = any,
	    .n_listen = 1,
	    .workers = 1,
	    .auth = &auth};
	core_rpc_service svc = {&test__v1__echo__descriptor, rows, n, denied};
	core_rpc_server *s = NULL;
	int rv = core_rpc_server_new(&sc, &svc, 1, &s);
	core_rpc_server_free(s);
	return rv;
}

static void
test_server_refuses_inline_methods_whose_checks_block(void **state)
{
	(void) state;
	static const char *const only_edge[] = {"edge", NULL};
	const core_rpc_method ok[] = {
	    {ECHO, noop, CORE_METHOD_INLINE, 0, only_edge, NULL},
	    {"/test.v1.Echo/Types", noop, CORE_RULE_USER, 0, NULL, NULL},
	};
	assert_int_equal(try_table_with_auth(ok, 2, NULL), 0);
	/* A token rule asks Redis about revocation: it blocks. */
	const core_rpc_method ruled[] = {
	    {ECHO, noop, CORE_METHOD_INLINE | CORE_RULE_USER, 0, NULL, NULL},
	    {"/test.v1.Echo/Types", noop, 0, 0, NULL, NULL},
	};
	assert_int_equal(try_table_with_auth(ruled, 2, NULL), -22);
	/* A refused caller runs the service's denied hook (an audit
	 * record in svc-admin). */
	assert_int_equal(try_table_with_auth(ok, 2, deny_all), -22);
	const core_rpc_method anyone[] = {
	    {ECHO, noop, CORE_METHOD_INLINE, 0, NULL, NULL},
	    {"/test.v1.Echo/Types", noop, 0, 0, NULL, NULL},
	};
	assert_int_equal(try_table_with_auth(anyone, 2, deny_all), 0);
}

static int
one_prefetch(core_call *c, const core_jwt_claims *cl, core_redis_extra *x)
{
	(void) c;
	(void) cl;
	static const char *const get[] = {"GET", "k"};
	return core_redis_extra_add(x, 2, get) < 0 ? -1 : 0;
}

static void
test_server_refuses_inline_on_read_where_it_would_block(void **state)
{
	(void) state;
	enum { R = CORE_METHOD_INLINE_ON_PREFETCH };
	const core_rpc_method ok[] = {
	    {ECHO, noop, R | CORE_RULE_USER, 0, NULL, one_prefetch},
	    {"/test.v1.Echo/Types", noop, 0, 0, NULL, NULL},
	};
	assert_int_equal(try_table_with_auth(ok, 2, NULL), 0);
	/* Each of these would block, or has no read to finish on. */
	const unsigned rules[] = {
	    R | CORE_RULE_USER | CORE_RULE_ADMIN,       /* is_admin */
	    R | CORE_RULE_USER | CORE_METHOD_INLINE, R, /* public: no read */
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const core_rpc_method bad[] = {
		    {ECHO, noop, rules[i], 0, NULL, one_prefetch},
		    {"/test.v1.Echo/Types", noop, 0, 0, NULL, NULL},
		};
		assert_int_equal(try_table_with_auth(bad, 2, NULL), -22);
	}
	const core_rpc_method no_prefetch[] = {
	    {ECHO, noop, R | CORE_RULE_USER, 0, NULL, NULL},
	    {"/test.v1.Echo/Types", noop, 0, 0, NULL, NULL},
	};
	assert_int_equal(try_table_with_auth(no_prefetch, 2, NULL), -22);
	/* The denied hook may write an audit record. */
	assert_int_equal(try_table_with_auth(ok, 2, deny_all), -22);
}

int
main(void)
{
	core_log_init("test_rpc", CORE_LOG_WARN, false);
	if (getenv("TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_round_trip_carries_payload_and_metadata, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_client_generates_a_request_id_when_none_is_given, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_health_reports_serving_and_not_serving, setup, teardown),
	    cmocka_unit_test(
	        test_server_refuses_a_method_table_that_does_not_match),
	    cmocka_unit_test(
	        test_server_refuses_inline_on_read_where_it_would_block),
	    cmocka_unit_test_setup_teardown(
	        test_unknown_and_unimplemented_methods_answer_unimplemented,
	        setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_undecodable_payload_is_invalid_argument, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_handler_errors_reach_the_client_without_internal_detail,
	        setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_deadline_exceeded_when_the_handler_is_slow, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_expired_deadline_is_not_run_by_the_server, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_garbage_message_gets_an_error_and_server_keeps_serving,
	        setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_random_bytes_never_break_the_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_oversized_message_is_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_64_threads_1000_calls_each_all_replies_match, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_no_server_answers_unavailable_quickly, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_urls_and_busy_ports_fail_to_start, setup, teardown),
	    cmocka_unit_test(
	        test_server_restart_client_sees_unavailable_then_recovers),
	    cmocka_unit_test(
	        test_clean_shutdown_under_load_finishes_calls_in_flight),
	    cmocka_unit_test_setup_teardown(
	        test_in_process_stop_finishes_calls_in_flight, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_async_call_round_trips_and_times_out, setup, teardown),
	    cmocka_unit_test(test_async_call_reports_lost_connection),
	    cmocka_unit_test(
	        test_inline_method_answers_while_every_worker_is_blocked),
	    cmocka_unit_test(
	        test_blocking_method_runs_on_a_worker_with_its_state),
	    cmocka_unit_test(
	        test_stop_drains_inline_and_worker_calls_in_flight),
	    cmocka_unit_test(
	        test_server_refuses_inline_methods_whose_checks_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
