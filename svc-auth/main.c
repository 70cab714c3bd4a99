/* svc-auth's own process (the split mode): AuthService until SIGTERM, or
 * the one-off command "svc-auth promote-admin <username>". The wiring is
 * auth_component.c. */
#include <stdio.h>
#include <string.h>

#include "auth_component.h"

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "promote-admin") == 0) {
		return auth_promote_admin_command(argc, argv);
	}
	if (argc != 1) {
		fprintf(stderr,
		    "usage: svc-auth                           serve "
		    "AuthService (configured by the environment)\n"
		    "       svc-auth promote-admin <username>  make a user an "
		    "active admin\n");
		return 2;
	}
	return core_service_main(auth_component());
}
