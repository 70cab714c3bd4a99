/* Deleting an account: DeleteAccount (the user, with their password;
 * CORE_RULE_USER) and AdminDeleteUser (an admin, CORE_RULE_ADMIN). Both
 * end the same way (docs/operations.md, "Deleting an account"): every
 * session, then the live access tokens (revoked_before), then the profile
 * (UserService.DeleteProfile over RPC, with the caller's token), then the
 * user row. A step that fails stops the deletion with UNAVAILABLE before
 * the row goes, so an account is never left without its row but with its
 * other parts: it is signed out at worst, and the same call done again
 * finishes it. */
#ifndef AUTH_ACCOUNT_H
#define AUTH_ACCOUNT_H

#include "core/rpc.h"
#include "users_repo.h"

/* Handlers for the method table (auth_service.c). */
core_status auth_delete_account(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_delete_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

/* The recent re-authentication of a sensitive change: checks the caller's
 * current password (its rule is the current_password row of d in
 * proto/rules.c), counted on the failed-login counters of the username
 * and of client_ip as a failed login is, so that guessing through such a
 * method is no cheaper than through Login; a match clears the username's
 * count. Fills u with the caller's row. Answers on c: INVALID_ARGUMENT
 * (naming current_password), UNAUTHENTICATED (wrong, or the user is gone;
 * logged as "<what>: wrong password"), RESOURCE_EXHAUSTED (throttled,
 * with a retry-after) or the storage's error. */
core_status auth_account_check_password(core_call *c,
    const ProtobufCMessageDescriptor *d, const char *current_password,
    const char *client_ip, const char *what, auth_user *u);

#endif
