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

#include "core/rpc.h"

/* Handlers for the auth_handlers table (auth_service.c). */
core_status auth_admin_list_users(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_get_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_update_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_revoke_sessions(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
