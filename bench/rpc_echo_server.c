/* The RPC core's echo server for benchmarks:
 *   rpc_echo_server URL [WORKERS]
 * Serves /test.v1.Echo/Echo until SIGINT/SIGTERM; a tls+tcp:// URL takes
 * its credentials from RPC_TLS_* (core/tls.h). Echo runs inline (on nng's
 * thread); with RPC_ECHO_ON_WORKERS=1 it runs on the workers instead, as a
 * method that blocks would. */
#include <stdio.h>
#include <stdlib.h>

#include "test/v1/test.pb-c.h"

#include "core/log.h"
#include "core/rpc.h"

#include "bench_tls.h"

static core_status
echo(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) c;
	const Test__V1__EchoRequest *req = (const Test__V1__EchoRequest *) in;
	Test__V1__EchoResponse *resp = (Test__V1__EchoResponse *) out;
	resp->data = req->data;
	resp->seq = req->seq;
	return CORE_OK;
}

static core_status
unimplemented(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	(void) out;
	return core_call_error(c, CORE_UNIMPLEMENTED, "not implemented");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s URL [WORKERS]\n", argv[0]);
		return 2;
	}
	core_rpc_block_signals();
	core_log_init("rpc_echo_server", CORE_LOG_WARN, false);
	core_tls *tls = NULL;
	if (bench_tls_from_env(&tls) != 0) {
		return 2;
	}
	static const core_rpc_method methods[] = {
	    /* Neither blocks: both run on nng's receiving thread. */
	    {"/test.v1.Echo/Echo", echo, CORE_METHOD_INLINE, 0, NULL, NULL},
	    {"/test.v1.Echo/Types", unimplemented, CORE_METHOD_INLINE, 0, NULL,
	        NULL},
	};
	static const core_rpc_method on_workers[] = {
	    {"/test.v1.Echo/Echo", echo, CORE_RULE_PUBLIC, 0, NULL, NULL},
	    {"/test.v1.Echo/Types", unimplemented, CORE_RULE_PUBLIC, 0, NULL,
	        NULL},
	};
	const char *w = getenv("RPC_ECHO_ON_WORKERS");
	const core_rpc_service svc = {&test__v1__echo__descriptor,
	    w != NULL && w[0] == '1' ? on_workers : methods, 2, NULL};
	const char *urls[] = {argv[1]};
	core_rpc_server_config cfg = {
	    .name = "echo",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = argc > 2 ? (int) strtol(argv[2], NULL, 10) : 2,
	};
	core_rpc_server *s = NULL;
	if (core_rpc_server_new(&cfg, &svc, 1, &s) != 0 ||
	    core_rpc_server_start(s) != 0) {
		return 1;
	}
	core_rpc_wait_signal();
	core_rpc_server_free(s);
	core_tls_set_default(NULL);
	core_tls_free(tls);
	return 0;
}
