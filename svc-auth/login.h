/* AuthService's methods that start, renew and end a session's tokens:
 * Login and Refresh (public: they take a password or a refresh token) and
 * Logout (CORE_RULE_USER | CORE_RULE_REVOKED_OK: a second logout with the
 * same token succeeds). */
#ifndef AUTH_LOGIN_H
#define AUTH_LOGIN_H

#include <stdint.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_metrics.h"
#include "core/rpc.h"
#include "users_repo.h"

/* Handlers for the method table (auth_service.c). */
core_status auth_login(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_refresh(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_logout(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

/* The outcome a login that ended with st (answered on its call) counts
 * as: OK success, UNAUTHENTICATED bad_credentials, PERMISSION_DENIED
 * disabled, anything else error. */
auth_login_outcome auth_login_outcome_of(core_status st);

/* A new session for u, whose password the caller has just proven, and its
 * tokens into resp, as Login answers them (without a device token): for a
 * method that proves the password itself (ChangePassword). t0 is when u
 * was read (Unix seconds); a revocation after it makes this wait for the
 * next second and read u again (see token_iat in login.c). client_ip and
 * user_agent (clipped) describe the session. Failures are answered on c
 * and returned. */
core_status auth_session_start(core_call *c, auth_user *u, int64_t t0,
    const char *client_ip, const char *user_agent,
    Auth__V1__TokenResponse *resp);

/* Ends a login whose proofs are done (amr: CORE_AMR_* bits): a session
 * for u from client_ip and user_agent, and its tokens and a device token
 * into resp. t0 is when u was read (Unix seconds; u is read again when a
 * revocation came after it). Errors are answered on c. Login and LoginMfa
 * (mfa.c) end with it. */
core_status auth_login_complete(core_call *c, auth_user *u, int64_t t0,
    const char *client_ip, const char *user_agent, unsigned amr,
    Auth__V1__TokenResponse *resp);

#endif
