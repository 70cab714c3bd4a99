/* svc-auth: serves AuthService (authdb). Wiring only: configuration, the RPC
 * server and its handlers. Until the service's methods are implemented it
 * answers core.v1.Health and UNIMPLEMENTED for every declared method. */
#include <stdlib.h>

#include "auth/v1/auth.pb-c.h"

#include "core/service.h"

static const core_rpc_service services[] = {
    {&auth__v1__auth_service__descriptor, NULL},
};

int
main(void)
{
	const core_service_def def = {
	    .name = "svc-auth",
	    .listen_env = "AUTH_RPC_LISTEN",
	    .listen_default = "tcp://127.0.0.1:7101",
	    .services = services,
	    .n_services = sizeof(services) / sizeof(services[0]),
	};
	return core_service_main(&def);
}
