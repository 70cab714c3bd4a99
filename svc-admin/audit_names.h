/* The names of an audit page's targets, looked up in svc-auth as the page
 * is read: the audit log keeps ids only, so a deleted account's name is
 * gone with it and the entry says the account is deleted instead. */
#ifndef AUDIT_NAMES_H
#define AUDIT_NAMES_H

#include "admin/v1/admin.pb-c.h"

#include "admin_service.h"
#include "core/rpc.h"

/* Sets target_username (or target_deleted) of every entry of resp whose
 * target is a user id: one AdminGetUser per distinct id (a page holds at
 * most 200), with call c's token, request id and deadline, answers in c's
 * arena. A lookup that fails otherwise leaves the entry unnamed. */
void audit_name_targets(
    core_call *c, admin_worker *w, Admin__V1__ListAuditResponse *resp);

#endif
