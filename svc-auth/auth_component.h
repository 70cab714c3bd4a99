/* svc-auth as a component: its service definition (configuration table,
 * init, workers, method rules), run alone by main.c or beside the others
 * by microcore. */
#ifndef AUTH_COMPONENT_H
#define AUTH_COMPONENT_H

#include "core/service.h"

/* The definition; static, valid for the process. */
const core_service_def *auth_component(void);

/* "svc-auth promote-admin <username>" (argv as main's). Returns the exit
 * status. */
int auth_promote_admin_command(int argc, char **argv);

#endif
