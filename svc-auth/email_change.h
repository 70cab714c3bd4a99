/* Email change (ChangeEmail, ConfirmEmailChange) and the mail a
 * registration with a taken address writes instead of a user. Neither says
 * whether an address has an account: the answer is the same, the mail to
 * the address says what happened. See docs/rpc.md and docs/operations.md
 * ("Changing the email address"). */
#ifndef AUTH_EMAIL_CHANGE_H
#define AUTH_EMAIL_CHANGE_H

#include "core/rpc.h"
#include "users_repo.h"

/* The frontend page a change's link opens: <base>/#/confirm-email
 * ?token=... (the web frontend routes by the fragment). */
#define AUTH_CONFIRM_EMAIL_PATH "/confirm-email"

/* ChangeEmail {new_email, current_password}: the caller's own
 * (CORE_RULE_USER); the password is the recent re-authentication, checked
 * and throttled as DeleteAccount's. */
core_status auth_change_email(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

/* ConfirmEmailChange {token}: public (the link may be opened anywhere;
 * the token is the proof). */
core_status auth_confirm_email_change(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

/* Registration with an address that has an account: queues the mail to
 * its owner ("someone tried to register with your address") and fills u
 * as a new user would be (a random id, now), so that the answer has the
 * shape and content of a success. Returns CORE_OK, or an error answered
 * on c. */
core_status auth_register_taken_email(
    core_call *c, const char *username, const char *email, auth_user *u);

#endif
