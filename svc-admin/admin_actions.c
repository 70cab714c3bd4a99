#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin/v1/admin.pb-c.h"

#include "admin_actions.h"
#include "core/text.h"
#include "admin_text.h"

/* ---- Names of enum values in details ----------------------------------- */

static const char *
status_name(int v)
{
	switch (v) {
	case AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE:
		return "active";
	case AUTH__V1__USER_STATUS__USER_STATUS_DISABLED:
		return "disabled";
	case AUTH__V1__USER_STATUS__USER_STATUS_UNSPECIFIED:
		return "unspecified";
	default:
		return "unknown";
	}
}

static const char *
role_name(int v)
{
	switch (v) {
	case AUTH__V1__ROLE__ROLE_USER:
		return "user";
	case AUTH__V1__ROLE__ROLE_ADMIN:
		return "admin";
	case AUTH__V1__ROLE__ROLE_UNSPECIFIED:
		return "unspecified";
	default:
		return "unknown";
	}
}

json_t *
admin_user_state(const Auth__V1__User *u)
{
	if (u == NULL) {
		return json_object();
	}
	return json_pack("{s:s, s:s}", "status", status_name((int) u->status),
	    "role", role_name((int) u->role));
}

/* A request string for a detail, at most ADMIN_FILTER_MAX bytes. */
static json_t *
jclip(const char *s)
{
	char buf[ADMIN_FILTER_MAX + 1];
	(void) admin_utf8_clip(s, buf, sizeof(buf));
	return admin_json_str(buf);
}

/* ---- The request's part of each row ------------------------------------ */

static json_t *
describe_list_users(const ProtobufCMessage *in, const char **target)
{
	const Admin__V1__ListUsersRequest *r =
	    (const Admin__V1__ListUsersRequest *) in;
	*target = "";
	return json_pack("{s:o, s:s, s:s, s:i, s:b}", "query", jclip(r->query),
	    "status", r->status ? status_name((int) r->status) : "any", "role",
	    r->role ? role_name((int) r->role) : "any", "page_size",
	    (int) r->page_size, "continued", r->page_token[0] != '\0');
}

/* The user a call acts on: its request's "id" field. */
static const char *
user_id_of(const ProtobufCMessage *in)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(
	        in->descriptor, "id");
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING) {
		return "";
	}
	const char *const *id = (const void *) ((const char *) in + f->offset);
	return *id;
}

/* GetUser, RevokeSessions: the target, nothing more. */
static json_t *
describe_user(const ProtobufCMessage *in, const char **target)
{
	*target = user_id_of(in);
	return json_object();
}

static json_t *
describe_update_user(const ProtobufCMessage *in, const char **target)
{
	const Admin__V1__UpdateUserRequest *r =
	    (const Admin__V1__UpdateUserRequest *) in;
	*target = r->id;
	json_t *requested = json_object();
	if (r->has_status_case ==
	    ADMIN__V1__UPDATE_USER_REQUEST__HAS_STATUS_STATUS) {
		json_object_set_new(requested, "status",
		    json_string(status_name((int) r->status)));
	}
	if (r->has_role_case ==
	    ADMIN__V1__UPDATE_USER_REQUEST__HAS_ROLE_ROLE) {
		json_object_set_new(
		    requested, "role", json_string(role_name((int) r->role)));
	}
	return json_pack("{s:o}", "requested", requested);
}

static json_t *
describe_list_audit(const ProtobufCMessage *in, const char **target)
{
	const Admin__V1__ListAuditRequest *r =
	    (const Admin__V1__ListAuditRequest *) in;
	char since[48] = "";
	if (r->since != NULL) {
		(void) core_rfc3339_format(r->since->seconds, r->since->nanos,
		    CORE_RFC3339_FRAC_NANOS, since, sizeof(since));
	}
	*target = "";
	return json_pack("{s:o, s:o, s:o, s:o, s:s, s:i, s:b}", "actor",
	    jclip(r->actor), "target", jclip(r->target), "action",
	    jclip(r->action), "kind", jclip(r->kind), "since", since,
	    "page_size", (int) r->page_size, "continued",
	    r->page_token[0] != '\0');
}

static json_t *
describe_nothing(const ProtobufCMessage *in, const char **target)
{
	(void) in;
	*target = "";
	return json_object();
}

static const admin_action actions[] = {
    {ADMIN_METHOD("ListUsers"), "users.list", describe_list_users, true},
    {ADMIN_METHOD("GetUser"), "users.get", describe_user, true},
    {ADMIN_METHOD("UpdateUser"), "users.update", describe_update_user, false},
    {ADMIN_METHOD("RevokeSessions"), "users.revoke_sessions", describe_user,
        false},
    {ADMIN_METHOD("ListAudit"), "audit.list", describe_list_audit, true},
    {ADMIN_METHOD("DeleteUser"), "users.delete", describe_user, false},
    /* Nothing of the request (the password) goes into the row. */
    {ADMIN_METHOD("DeleteAccount"), "account.delete", describe_nothing, false},
    {ADMIN_METHOD("ResetMfa"), "users.reset_mfa", describe_user, false},
};

const admin_action *
admin_action_of(const char *method)
{
	static const admin_action unknown = {
	    "", "unknown", describe_nothing, false};
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(actions[i].method, method) == 0) {
			return &actions[i];
		}
	}
	return &unknown;
}

void
admin_action_reads(char *out)
{
	/* Action names are lower-case words with dots and underscores:
	 * nothing to quote in the literal. */
	size_t used = 0;
	out[used++] = '{';
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (!actions[i].read) {
			continue;
		}
		int w = snprintf(out + used, ADMIN_READS_BYTES - used, "%s%s",
		    used > 1 ? "," : "", actions[i].action);
		used += (size_t) w;
	}
	snprintf(out + used, ADMIN_READS_BYTES - used, "}");
}

const char *
admin_outcome_of(core_status st)
{
	switch (st) {
	case CORE_OK:
		return "ok";
	case CORE_PERMISSION_DENIED:
	case CORE_UNAUTHENTICATED:
		return "denied";
	default:
		return "failed";
	}
}

/* ---- Refusals ----------------------------------------------------------- */

/* Each refusal reason of core/call_auth.h a CORE_RULE_ADMIN method can
 * meet, with the reason note svc-admin has always written (none for a
 * caller without the role: the row's actor names them). */
static const struct {
	const char *reason;
	core_status code;
	const char *note;
} refusals[] = {
    {"no bearer token", CORE_UNAUTHENTICATED, "no bearer token"},
    {"invalid token", CORE_UNAUTHENTICATED, "invalid token"},
    {"revocation unknown", CORE_UNAVAILABLE, "revocation unknown"},
    {"revoked token", CORE_UNAUTHENTICATED, "revoked token"},
    {"not an admin", CORE_PERMISSION_DENIED, NULL},
};

static void
add_note(admin_refusal *r, const char *key, const char *value)
{
	r->notes[r->n_notes].key = key;
	r->notes[r->n_notes].value = value;
	r->n_notes++;
}

admin_refusal
admin_refusal_of(const core_call_denial *d)
{
	admin_refusal r = {
	    .caller = d->trusted ? d->claims : NULL,
	    .message = d->message,
	};
	if (d->claims != NULL && !d->trusted) {
		/* Signed by svc-auth, so who it names is known, but it does
		 * not stand for a caller: recorded as a note, not as actor. */
		add_note(&r, "token_sub", d->claims->sub);
		add_note(&r, "token_username", d->claims->username);
	}
	const char *note = d->reason;
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		if (refusals[i].code == d->code &&
		    strcmp(refusals[i].reason, d->reason) == 0) {
			note = refusals[i].note;
			break;
		}
	}
	if (note != NULL) {
		add_note(&r, "reason", note);
	}
	return r;
}

core_status
admin_role_is_admin(
    core_call *call, const core_jwt_claims *claims, bool *admin)
{
	(void) call;
	*admin = strcmp(claims->role, "admin") == 0;
	return CORE_OK;
}
