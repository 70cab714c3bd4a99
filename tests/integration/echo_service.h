/* The test.v1.Echo service used by the RPC tests, in-process and in the
 * echo_server helper process. */
#ifndef TEST_ECHO_SERVICE_H
#define TEST_ECHO_SERVICE_H

#include "core/rpc.h"

/* Handlers in descriptor order: Echo, then Types (NULL: UNIMPLEMENTED). */
extern const core_rpc_handler test_echo_handlers[2];

/* Echo calls run so far in this process. */
extern _Atomic int test_echo_runs;

#endif
