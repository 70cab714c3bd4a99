/* svc-admin as a component: its service definition, run alone by main.c or
 * beside the others by microcore. */
#ifndef ADMIN_COMPONENT_H
#define ADMIN_COMPONENT_H

#include "core/service.h"

/* The definition; static, valid for the process. */
const core_service_def *admin_component(void);

#endif
