/* auth.v1.AuthService: its methods with their rules. The handlers are
 * grouped by topic: login.c (Login, Refresh, Logout), session_methods.c,
 * key_methods.c, user_admin.c (the Admin* methods); Register and
 * CheckToken are in auth_service.c with the method table. They run with
 * the state of auth_worker.h. */
#ifndef AUTH_SERVICE_H
#define AUTH_SERVICE_H

#include "core/rpc.h"

/* AuthService: its descriptor, one row per method with its rule, and the
 * hook that logs refused administration calls. */
extern const core_rpc_service auth_rpc_service;

#endif
