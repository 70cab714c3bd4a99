/* svc-user as a component: its service definition, run alone by main.c or
 * beside the others by microcore. */
#ifndef USER_COMPONENT_H
#define USER_COMPONENT_H

#include "core/service.h"

/* The definition; static, valid for the process. */
const core_service_def *user_component(void);

#endif
