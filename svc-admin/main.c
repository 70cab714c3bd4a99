/* svc-admin's own process (the split mode): AdminService until SIGTERM.
 * The wiring is admin_component.c. */
#include "admin_component.h"

int
main(void)
{
	return core_service_main(admin_component());
}
