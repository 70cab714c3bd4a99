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

/* The re-authentication of a sensitive change: checks the caller's current
 * password (the request's current_password, of message type d whose rule
 * row bounds it), counted on the failed-login counters of the caller's
 * username and of client_ip as a login is, and fills *u with the caller's
 * row. A failure is answered on c and returned: INVALID_ARGUMENT naming
 * current_password, UNAUTHENTICATED for a wrong one, RESOURCE_EXHAUSTED
 * with a retry-after when throttled, or the store's error. */
core_status auth_current_password_check(core_call *c,
    const ProtobufCMessageDescriptor *d, const char *password,
    const char *client_ip, auth_user *u);

#endif
