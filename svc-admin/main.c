/* svc-admin: serves AdminService (admindb). Wiring only: configuration, the RPC
 * server and its handlers. Until the service's methods are implemented it
 * answers core.v1.Health and UNIMPLEMENTED for every declared method. */
#include <stdlib.h>

#include "admin/v1/admin.pb-c.h"

#include "core/service.h"

static const core_rpc_service services[] = {
    {&admin__v1__admin_service__descriptor, NULL},
};

int
main(void)
{
	const core_service_def def = {
	    .name = "svc-admin",
	    .listen_env = "ADMIN_RPC_LISTEN",
	    .listen_default = "tcp://127.0.0.1:7103",
	    .services = services,
	    .n_services = sizeof(services) / sizeof(services[0]),
	};
	return core_service_main(&def);
}
