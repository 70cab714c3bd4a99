/* Passwords: ForgotPassword and ResetPassword (public: a reset mail's
 * token is the proof) and ChangePassword (CORE_RULE_USER; the current
 * password is the re-authentication). See docs/rpc.md and
 * docs/operations.md ("Passwords"). */
#ifndef AUTH_PASSWORD_H
#define AUTH_PASSWORD_H

#include "core/rpc.h"

/* The frontend pages the mails link: <base>/#/reset-password?token=...
 * and <base>/#/forgot-password (the web frontend routes by the
 * fragment). */
#define AUTH_RESET_PASSWORD_PATH "/reset-password"
#define AUTH_FORGOT_PASSWORD_PATH "/forgot-password"

/* ForgotPassword {email}: a reset mail to the address when an active
 * account has it, nothing otherwise; the same answer, in at least
 * AUTH_FORGOT_MIN_MS, either way. Throttled per address and client IP. */
core_status auth_forgot_password(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

/* ResetPassword {token, new_password}: sets the password, ends every
 * session, revokes every access token, queues the notice mail. Every bad
 * token gets the same INVALID_ARGUMENT. */
core_status auth_reset_password(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

/* ChangePassword {current_password, new_password}: as a reset, and then a
 * new session for the caller whose tokens are the answer. */
core_status auth_change_password(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
