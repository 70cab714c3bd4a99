/* AuthService's methods on a user's own sessions: ListSessions,
 * RevokeSession (an admin's on anyone's) and GetCurrentSession. The server
 * has checked the caller's token (CORE_RULE_USER) before they run. */
#ifndef AUTH_SESSION_METHODS_H
#define AUTH_SESSION_METHODS_H

#include "core/rpc.h"

/* Handlers for the method table (auth_service.c). */
core_status auth_list_sessions(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_revoke_session(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_get_current_session(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
