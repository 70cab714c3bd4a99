/* Email verification: the mail written with a new user (Register, in
 * auth_service.c), VerifyEmail and ResendVerification. See docs/rpc.md. */
#ifndef AUTH_VERIFY_EMAIL_H
#define AUTH_VERIFY_EMAIL_H

#include "core/rpc.h"
#include "mail.h"
#include "users_repo.h"

/* The frontend page a verification link opens: <base>/#/verify-email
 * ?token=... (the web frontend routes by the fragment). */
#define AUTH_VERIFY_EMAIL_PATH "/verify-email"

/* A new verification token for username into t and its mail into m (freed
 * by auth_mail_msg_free), and mail pointing at both. Returns CORE_OK or
 * CORE_INTERNAL (answered on c). */
core_status auth_verify_mail_new(core_call *c, const char *username,
    auth_one_time_token *t, auth_mail_msg *m, auth_users_mail *mail);

/* VerifyEmail {token}: public (the link may be opened anywhere). */
core_status auth_verify_email(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

/* ResendVerification: the caller's own, throttled per user. */
core_status auth_resend_verification(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
