/* The test.v1.Echo service used by the RPC tests, in-process and in the
 * echo_server helper process. */
#ifndef TEST_ECHO_SERVICE_H
#define TEST_ECHO_SERVICE_H

#include "core/rpc.h"

/* Echo, public (on a worker: it sleeps on demand), and Types, which
 * answers UNIMPLEMENTED (inline); the service. */
extern const core_rpc_method test_echo_methods[2];
extern const core_rpc_service test_echo_service;

/* Echo calls run so far in this process. */
extern _Atomic int test_echo_runs;

/* When not -1, Echo writes one byte to this descriptor as a call that
 * sleeps starts, so a test can tell that call is in a handler (and not
 * still on its way) without guessing how long that takes. */
extern int test_echo_started_fd;

#endif
