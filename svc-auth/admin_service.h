/* AuthService's administration methods (AdminListUsers, AdminGetUser,
 * AdminUpdateUser, AdminRevokeSessions).
 *
 * Every one needs the bearer token of a user who is an active admin in
 * authdb at the time of the call: the token is verified as every other
 * token-taking method does (auth_caller), then the caller's row is read, so
 * a token minted before a demotion or a disabling grants nothing. Each call
 * is logged at info with the actor, the method and the target. */
#ifndef AUTH_ADMIN_SERVICE_H
#define AUTH_ADMIN_SERVICE_H

#include <stdbool.h>

#include "core/jwt.h"
#include "core/rpc.h"

/* Handlers for the auth_handlers table (auth_service.c). */
/* Verifies the bearer token (into *cl), then that its user is an active
 * admin in authdb now: the role claim is not enough, it may predate a
 * demotion. PERMISSION_DENIED otherwise. */
core_status auth_require_admin(core_call *c, core_jwt_claims *cl);

/* Whether user id is an active admin in authdb now (false when there is no
 * such user). Storage errors are answered on c and returned. */
core_status auth_user_is_admin(core_call *c, const char *id, bool *admin);

core_status auth_admin_list_users(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_get_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_update_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_revoke_sessions(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
