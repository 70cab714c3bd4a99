/* Shared between the RPC server and client. */
#ifndef CORE_RPC_INTERNAL_H
#define CORE_RPC_INTERNAL_H

#include <stdint.h>

#include "core/status.h"

/* Monotonic clock in milliseconds. */
int64_t rpc_now_ms(void);

/* Translates an nng error into a status for the caller. */
core_status rpc_status_from_nng(int rv);

#endif
