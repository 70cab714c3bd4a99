/* AuthService's methods that start, renew and end a session's tokens:
 * Login and Refresh (public: they take a password or a refresh token) and
 * Logout (CORE_RULE_USER | CORE_RULE_REVOKED_OK: a second logout with the
 * same token succeeds). */
#ifndef AUTH_LOGIN_H
#define AUTH_LOGIN_H

#include "core/rpc.h"

/* Handlers for the method table (auth_service.c). */
core_status auth_login(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_refresh(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_logout(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
