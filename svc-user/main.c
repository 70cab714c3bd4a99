/* svc-user's own process (the split mode): UserService until SIGTERM. The
 * wiring is user_component.c. */
#include "user_component.h"

int
main(void)
{
	return core_service_main(user_component());
}
