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

/* Handlers for the method table (auth_service.c). */
core_status auth_delete_account(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_admin_delete_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
