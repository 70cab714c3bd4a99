/* Two-factor login with TOTP (RFC 6238) and recovery codes: AuthService's
 * EnrollTotp, ConfirmTotp, LoginMfa, DisableTotp, RegenerateRecoveryCodes,
 * GetMfaStatus and AdminResetMfa, and the ticket Login answers instead of
 * tokens for a user with two-factor login on. See docs/rpc.md and
 * docs/operations.md ("Two-factor login").
 *
 * The ticket: 32 random bytes (base64url) whose SHA-256 names a Redis hash
 * mfa_ticket:<hash> (user id, client address, user agent, a fingerprint
 * of the password hash) with a TTL of AUTH_MFA_TICKET_TTL_S. It is good
 * for one completed login (its key is deleted by the winner), for the
 * client it was issued to, and only while the password is the one that
 * earned it. Wrong codes are counted per user and per client address
 * (ratelimit:mfa:*), apart from failed passwords. */
#ifndef AUTH_MFA_H
#define AUTH_MFA_H

#include <stdbool.h>

#include "auth/v1/auth.pb-c.h"
#include "core/rpc.h"
#include "users_repo.h"

/* A pending enrolment must be confirmed within this many seconds. */
#define AUTH_MFA_ENROLL_TTL_S 600

/* For Login, after the password of u was found right: when u has
 * two-factor login on, a ticket goes into resp (mfa_required) and *ticket
 * is set, and no token may be issued. Errors are answered on c. */
core_status auth_mfa_login_ticket(core_call *c, const auth_user *u,
    const char *client_ip, const char *user_agent,
    Auth__V1__TokenResponse *resp, bool *ticket);

/* Handlers for the method table (auth_service.c). LoginMfa is public (the
 * ticket is the proof); AdminResetMfa needs CORE_RULE_ADMIN; the others
 * CORE_RULE_USER, and check their proof themselves: EnrollTotp the
 * current password (throttled as a login), DisableTotp and
 * RegenerateRecoveryCodes a current code or a recovery code (throttled
 * as second factors). */
core_status auth_enroll_totp(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_confirm_totp(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_login_mfa(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_disable_totp(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_regenerate_recovery_codes(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_get_mfa_status(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_reset_mfa(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
