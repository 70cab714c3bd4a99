/* The Echo service as a process of its own, for tests that stop and
 * restart a server under load the way an operator would (SIGTERM):
 *   echo_server URL [WORKERS] [DRAIN_MS] [STARTED_FD]
 * With RPC_TLS_* set it serves tls+tcp:// with those credentials and
 * reloads them on SIGHUP and when a file changes (RPC_TLS_RELOAD_S,
 * default 10), as a service does. Exits 0 after a clean stop, 2 for bad
 * TLS settings. With STARTED_FD (an inherited descriptor) it writes a byte
 * there as each Echo call that sleeps starts (test_echo_started_fd). */
#include <stdio.h>
#include <stdlib.h>

#include "test/v1/test.pb-c.h"

#include "core/log.h"
#include "core/rpc.h"
#include "core/tls.h"
#include "echo_service.h"

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr,
		    "usage: %s URL [WORKERS] [DRAIN_MS] [STARTED_FD]\n",
		    argv[0]);
		return 2;
	}
	core_rpc_block_signals();
	core_log_init("echo_server",
	    getenv("RPC_TLS_CERT_FILE") ? CORE_LOG_INFO : CORE_LOG_WARN,
	    false);
	if (argc > 4) {
		test_echo_started_fd = (int) strtol(argv[4], NULL, 10);
	}
	const char *urls[] = {argv[1]};
	core_rpc_server_config cfg = {
	    .name = "echo",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = argc > 2 ? (int) strtol(argv[2], NULL, 10) : 4,
	    .drain_ms = argc > 3 ? (int) strtol(argv[3], NULL, 10) : 5000,
	    .max_msg_bytes = 64 * 1024,
	};
	core_tls *tls = NULL;
	char err[512];
	if (core_tls_from_env(&tls, err, sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
		return 2;
	}
	cfg.tls = tls;
	const char *reload = getenv("RPC_TLS_RELOAD_S");
	long reload_s = reload ? strtol(reload, NULL, 10) : 10;
	core_rpc_server *s = NULL;
	if (core_rpc_server_new(&cfg, &test_echo_service, 1, &s) != 0 ||
	    core_rpc_server_start(s) != 0) {
		core_rpc_server_free(s);
		core_tls_free(tls);
		return 1;
	}
	core_tls_wait_signal(tls, reload_s);
	core_rpc_server_free(s);
	core_tls_free(tls);
	return 0;
}
