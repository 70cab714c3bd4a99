/* The Echo service as a process of its own, for tests that stop and
 * restart a server under load the way an operator would (SIGTERM):
 *   echo_server URL [WORKERS] [DRAIN_MS]
 * Exits 0 after a clean stop. */
#include <stdio.h>
#include <stdlib.h>

#include "test/v1/test.pb-c.h"

#include "core/log.h"
#include "core/rpc.h"
#include "echo_service.h"

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(
		    stderr, "usage: %s URL [WORKERS] [DRAIN_MS]\n", argv[0]);
		return 2;
	}
	core_rpc_block_signals();
	core_log_init("echo_server", CORE_LOG_WARN, false);
	const char *urls[] = {argv[1]};
	core_rpc_server_config cfg = {
	    .name = "echo",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = argc > 2 ? (int) strtol(argv[2], NULL, 10) : 4,
	    .drain_ms = argc > 3 ? (int) strtol(argv[3], NULL, 10) : 5000,
	    .max_msg_bytes = 64 * 1024,
	};
	core_rpc_server *s = NULL;
	if (core_rpc_server_new(&cfg, &test_echo_service, 1, &s) != 0 ||
	    core_rpc_server_start(s) != 0) {
		core_rpc_server_free(s);
		return 1;
	}
	core_rpc_wait_signal();
	core_rpc_server_free(s);
	return 0;
}
