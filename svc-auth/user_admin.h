/* AuthService's user administration methods (AdminListUsers, AdminGetUser,
 * AdminUpdateUser, AdminRevokeSessions), and the admin check that every
 * method with CORE_RULE_ADMIN relies on.
 *
 * The server lets a call of these through only with a valid token whose
 * user is an active admin in authdb at the time of the call
 * (auth_is_admin), so a token minted before a demotion or a disabling
 * grants nothing. Each call, refused or not, is logged at info with the
 * actor, the method and the target. */
#ifndef AUTH_USER_ADMIN_H
#define AUTH_USER_ADMIN_H

#include <stdbool.h>

#include "core/jws.h"
#include "core/rpc.h"

/* Whether the user of cl is an active admin in authdb now (false when
 * there is no such user): the role claim is not enough, it may predate a
 * demotion. The is_admin of svc-auth's core_call_auth. Storage errors are
 * answered on c and returned. */
core_status auth_is_admin(
    core_call *c, const core_jwt_claims *cl, bool *admin);

/* The denied hook of AuthService: logs a refused call of an administration
 * method as its handler logs the others. Returns d->code. */
core_status auth_admin_denied(
    core_call *c, const ProtobufCMessage *in, const core_call_denial *d);

/* Handlers for the method table (auth_service.c); CORE_RULE_ADMIN. */
core_status auth_admin_list_users(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_get_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_update_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_revoke_sessions(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
