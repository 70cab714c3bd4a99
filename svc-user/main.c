/* svc-user: serves UserService (apidb). Wiring only: configuration, the RPC
 * server and its handlers. Until the service's methods are implemented it
 * answers core.v1.Health and UNIMPLEMENTED for every declared method. */
#include <stdlib.h>

#include "user/v1/user.pb-c.h"

#include "core/service.h"

static const core_rpc_service services[] = {
    {&user__v1__user_service__descriptor, NULL},
};

int
main(void)
{
	const core_service_def def = {
	    .name = "svc-user",
	    .listen_env = "USER_RPC_LISTEN",
	    .listen_default = "tcp://127.0.0.1:7102",
	    .services = services,
	    .n_services = sizeof(services) / sizeof(services[0]),
	};
	return core_service_main(&def);
}
