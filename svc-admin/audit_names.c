#include <stdbool.h>
#include <string.h>

#include "auth/v1/auth.pb-c.h"

#include "audit_names.h"
#include "core/text.h"

#define AUTH_METHOD(m) "/auth.v1.AuthService/" m

void
audit_name_targets(
    core_call *c, admin_worker *w, Admin__V1__ListAuditResponse *resp)
{
	for (size_t i = 0; i < resp->n_entries; i++) {
		Admin__V1__AuditEntry *e = resp->entries[i];
		size_t j = 0;
		while (j < i &&
		       strcmp(resp->entries[j]->target, e->target) != 0) {
			j++;
		}
		if (j < i) { /* looked up already */
			e->target_username = resp->entries[j]->target_username;
			e->target_deleted = resp->entries[j]->target_deleted;
			continue;
		}
		if (!core_uuid_valid(e->target)) {
			continue;
		}
		Auth__V1__AdminGetUserRequest gr =
		    AUTH__V1__ADMIN_GET_USER_REQUEST__INIT;
		gr.id = e->target;
		ProtobufCMessage *o = NULL;
		core_md md[3];
		core_rpc_opts opts;
		core_rpc_opts_from_call(c, &opts, md);
		core_rpc_reply reply;
		core_status st = core_rpc_call(w->cfg->auth,
		    AUTH_METHOD("AdminGetUser"), &gr.base,
		    &auth__v1__admin_get_user_response__descriptor, &o, &opts,
		    core_call_arena(c), &reply);
		Auth__V1__AdminGetUserResponse *u =
		    (Auth__V1__AdminGetUserResponse *) o;
		if (st == CORE_OK && u != NULL && u->user != NULL) {
			e->target_username = u->user->username;
		} else if (st == CORE_NOT_FOUND) {
			e->target_deleted = true;
		}
	}
}
