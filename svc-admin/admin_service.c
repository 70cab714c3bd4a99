/* AdminService: user management through svc-auth, and the audit log.
 *
 * The server checks every method's rule (CORE_RULE_ADMIN: a valid,
 * unrevoked token with the admin role) before its handler runs; a handler
 * reads its caller from core_call_claims and holds no token code. Every
 * call by a caller holding a token svc-auth signed writes one audit row
 * (audit_ctx.h), allowed or refused: a handler writes the row of what it
 * did, admin_denied the row of a refusal, both describing the call through
 * the same row of admin_actions.h. Refusals without such a token are only
 * counted and logged (admin_denied). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin/v1/admin.pb-c.h"
#include "auth/v1/auth.pb-c.h"
#include "google/protobuf/struct.pb-c.h"

#include "admin_actions.h"
#include "admin_service.h"
#include "admin_text.h"
#include "audit_ctx.h"
#include "audit_names.h"
#include "audit_page.h"
#include "audit_repo.h"
#include "core/json.h"
#include "core/log.h"
#include "core/text.h"
#include "core/timestamp.h"
#include "rules.h"

#define AUTH_METHOD(m) "/auth.v1.AuthService/" m

/* A page_size of 0; the range is the row's (proto/rules.c). */
#define PAGE_DEFAULT 50

/* ---- Worker state --------------------------------------------------------
 */

void *
admin_worker_init(void *arg)
{
	const admin_config *cfg = arg;
	admin_worker *w = core_store_worker_new(
	    sizeof(*w), cfg->database_url, cfg->redis_url);
	if (w == NULL) {
		return NULL;
	}
	w->cfg = cfg;
	audit_metrics_init(&w->audit);
	/* Each session, reconnects included, drops to the role that can only
	 * read and append: even a superuser URL cannot UPDATE or DELETE. */
	if (core_pg_set_session_sql(w->db.pg, "SET ROLE " ADMIN_DB_ROLE) !=
	    0) {
		core_store_worker_free(w);
		return NULL;
	}
	return w;
}

/* ---- One call ------------------------------------------------------------
 */

/* Starts the audit row of call c for caller (NULL: none) from its
 * method's row in admin_actions; returns the request's detail (taken by
 * the row's end). */
static json_t *
begin(audit_ctx *x, core_call *c, const ProtobufCMessage *in,
    const core_jwt_claims *caller)
{
	admin_worker *w = core_call_state(c);
	const admin_action *a = admin_action_of(core_call_method(c));
	const char *target = "";
	json_t *detail = a->describe(in, &target);
	audit_ctx_init(x, c, w->db.pg, &w->audit, a->action, target, caller);
	return detail;
}

/* Calls svc-auth with the caller's own token, request id and remaining
 * deadline; the output lands in the call's arena. svc-auth's error is
 * answered as it is (audit_ctx_pass_through). */
static core_status
ask_auth(audit_ctx *x, const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out)
{
	admin_worker *w = core_call_state(x->c);
	core_md md[3];
	core_rpc_opts opts;
	core_rpc_opts_from_call(x->c, &opts, md);
	size_t i = 0;
	while (i < opts.n_md && strcmp(md[i].key, CORE_MD_REQUEST_ID) != 0) {
		i++;
	}
	md[i] = (core_md){CORE_MD_REQUEST_ID, x->request_id};
	opts.n_md += i == opts.n_md;
	core_rpc_reply reply;
	core_status st = core_rpc_call(w->cfg->auth, method, in, out_desc, out,
	    &opts, core_call_arena(x->c), &reply);
	return st == CORE_OK ? CORE_OK : audit_ctx_pass_through(x, &reply);
}

/* Refusals of calls that carried no token svc-auth signed: anyone can
 * send those, so they are counted and logged, never written to the audit
 * table (which is never cleaned). */
static _Atomic uint64_t anonymous_refusals;

uint64_t
admin_anonymous_refusals(void)
{
	return atomic_load_explicit(&anonymous_refusals, memory_order_relaxed);
}

static core_status
refused_anonymous(core_call *c, const core_call_denial *d)
{
	uint64_t n = atomic_fetch_add_explicit(
	                 &anonymous_refusals, 1, memory_order_relaxed) +
	             1;
	char count[24];
	snprintf(count, sizeof(count), "%llu", (unsigned long long) n);
	const char *ip = core_call_metadata(c, CORE_MD_CLIENT_IP);
	if (ip == NULL || strlen(ip) > 45 || !admin_ip_valid(ip)) {
		ip = "";
	}
	core_log_kv(CORE_LOG_WARN,
	    "admin call refused without a verified token", "method",
	    core_call_method(c), "reason", d->reason, "client_ip", ip,
	    "anonymous_refusals", count, NULL);
	return d->code;
}

/* A call refused before its handler (core_rpc_service.denied): its one
 * row, as svc-admin has always written it for that refusal — when the
 * call carried a token svc-auth signed (even a revoked one: it names a
 * real account); anonymous refusals are only counted and logged. */
static core_status
admin_denied(
    core_call *c, const ProtobufCMessage *in, const core_call_denial *d)
{
	if (d->claims == NULL) {
		return refused_anonymous(c, d);
	}
	admin_refusal r = admin_refusal_of(d);
	audit_ctx x;
	json_t *detail = begin(&x, c, in, r.caller);
	/* A deletion's rows outlive the account: they name it by id only. */
	bool by_id_only = strcmp(x.action, "account.delete") == 0;
	for (size_t i = 0; i < r.n_notes; i++) {
		if (by_id_only && strcmp(r.notes[i].key, "token_sub") != 0 &&
		    strcmp(r.notes[i].key, "reason") != 0) {
			continue;
		}
		audit_ctx_note(&x, r.notes[i].key, r.notes[i].value);
	}
	if (by_id_only) {
		x.client_ip[0] = '\0';
	}
	return audit_ctx_finish(
	    &x, audit_ctx_fail(&x, d->code, "%s", r.message), detail);
}

/* ---- Handlers ------------------------------------------------------------
 */

static core_status
list_users(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__ListUsersRequest *req =
	    (const Admin__V1__ListUsersRequest *) in;
	Admin__V1__ListUsersResponse *resp =
	    (Admin__V1__ListUsersResponse *) out;
	audit_ctx x;
	json_t *detail = begin(&x, c, in, core_call_claims(c));
	Auth__V1__AdminListUsersRequest ar =
	    AUTH__V1__ADMIN_LIST_USERS_REQUEST__INIT;
	ar.query = req->query;
	ar.status = req->status;
	ar.role = req->role;
	ar.page_size = req->page_size;
	ar.page_token = req->page_token;
	ProtobufCMessage *o = NULL;
	core_status st = ask_auth(&x, AUTH_METHOD("AdminListUsers"), &ar.base,
	    &auth__v1__admin_list_users_response__descriptor, &o);
	if (st != CORE_OK) {
		return audit_ctx_finish(&x, st, detail);
	}
	Auth__V1__AdminListUsersResponse *lr =
	    (Auth__V1__AdminListUsersResponse *) o;
	/* Same message type, same arena: handed over as they are. */
	resp->n_users = lr->n_users;
	resp->users = lr->users;
	resp->next_page_token = lr->next_page_token;
	resp->total = lr->total;
	json_object_set_new(
	    detail, "returned", json_integer((json_int_t) lr->n_users));
	return audit_ctx_finish(&x, CORE_OK, detail);
}

static core_status
get_user(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__GetUserRequest *req =
	    (const Admin__V1__GetUserRequest *) in;
	Admin__V1__GetUserResponse *resp = (Admin__V1__GetUserResponse *) out;
	audit_ctx x;
	json_t *detail = begin(&x, c, in, core_call_claims(c));
	Auth__V1__AdminGetUserRequest gr =
	    AUTH__V1__ADMIN_GET_USER_REQUEST__INIT;
	gr.id = req->id;
	ProtobufCMessage *o = NULL;
	core_status st = ask_auth(&x, AUTH_METHOD("AdminGetUser"), &gr.base,
	    &auth__v1__admin_get_user_response__descriptor, &o);
	if (st != CORE_OK) {
		return audit_ctx_finish(&x, st, detail);
	}
	Auth__V1__AdminGetUserResponse *gu =
	    (Auth__V1__AdminGetUserResponse *) o;
	resp->user = gu->user;
	resp->n_sessions = gu->n_sessions;
	resp->sessions = gu->sessions;
	json_object_set_new(
	    detail, "sessions", json_integer((json_int_t) gu->n_sessions));
	return audit_ctx_finish(&x, CORE_OK, detail);
}

static bool
has_status(const Admin__V1__UpdateUserRequest *req)
{
	return req->has_status_case ==
	       ADMIN__V1__UPDATE_USER_REQUEST__HAS_STATUS_STATUS;
}

static bool
has_role(const Admin__V1__UpdateUserRequest *req)
{
	return req->has_role_case ==
	       ADMIN__V1__UPDATE_USER_REQUEST__HAS_ROLE_ROLE;
}

/* UpdateUser's own checks, before anything is written or called. */
static core_status
check_update(audit_ctx *x, const Admin__V1__UpdateUserRequest *req)
{
	if (!has_status(req) && !has_role(req)) {
		return audit_ctx_fail(x, CORE_INVALID_ARGUMENT,
		    "nothing to update: set status, role or both");
	}
	core_status st = CORE_OK;
	if (has_status(req) &&
	    req->status != AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE &&
	    req->status != AUTH__V1__USER_STATUS__USER_STATUS_DISABLED) {
		st = audit_ctx_field_fail(x, "status",
		    "must be USER_STATUS_ACTIVE or USER_STATUS_DISABLED");
	}
	if (has_role(req) && req->role != AUTH__V1__ROLE__ROLE_USER &&
	    req->role != AUTH__V1__ROLE__ROLE_ADMIN) {
		st = audit_ctx_field_fail(
		    x, "role", "must be ROLE_USER or ROLE_ADMIN");
	}
	return st;
}

static core_status
update_user(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__UpdateUserRequest *req =
	    (const Admin__V1__UpdateUserRequest *) in;
	Admin__V1__UpdateUserResponse *resp =
	    (Admin__V1__UpdateUserResponse *) out;
	audit_ctx x;
	json_t *detail = begin(&x, c, in, core_call_claims(c));
	core_status st = check_update(&x, req);
	if (st != CORE_OK) {
		return audit_ctx_finish(&x, st, detail);
	}
	if ((st = audit_ctx_gate_open(&x, detail)) != CORE_OK) {
		return st;
	}
	Auth__V1__AdminUpdateUserRequest ur =
	    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__INIT;
	ur.id = req->id;
	if (has_status(req)) {
		ur.has_status_case =
		    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__HAS_STATUS_STATUS;
		ur.status = req->status;
	}
	if (has_role(req)) {
		ur.has_role_case =
		    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__HAS_ROLE_ROLE;
		ur.role = req->role;
	}
	ProtobufCMessage *o = NULL;
	st = ask_auth(&x, AUTH_METHOD("AdminUpdateUser"), &ur.base,
	    &auth__v1__admin_update_user_response__descriptor, &o);
	if (st != CORE_OK) {
		return audit_ctx_gate_close(&x, st, detail);
	}
	Auth__V1__AdminUpdateUserResponse *u =
	    (Auth__V1__AdminUpdateUserResponse *) o;
	resp->user = u->after;
	json_decref(detail);
	detail = json_pack("{s:o, s:o, s:i}", "before",
	    admin_user_state(u->before), "after", admin_user_state(u->after),
	    "sessions_revoked", (int) u->sessions_revoked);
	core_log_kv(CORE_LOG_INFO, "user updated by an admin", "target",
	    x.target, "actor_id", x.actor_id, NULL);
	return audit_ctx_gate_close(&x, CORE_OK, detail);
}

static core_status
revoke_sessions(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__RevokeSessionsRequest *req =
	    (const Admin__V1__RevokeSessionsRequest *) in;
	Admin__V1__RevokeSessionsResponse *resp =
	    (Admin__V1__RevokeSessionsResponse *) out;
	audit_ctx x;
	json_t *detail = begin(&x, c, in, core_call_claims(c));
	core_status st = audit_ctx_gate_open(&x, detail);
	if (st != CORE_OK) {
		return st;
	}
	Auth__V1__AdminRevokeSessionsRequest rr =
	    AUTH__V1__ADMIN_REVOKE_SESSIONS_REQUEST__INIT;
	rr.id = req->id;
	ProtobufCMessage *o = NULL;
	st = ask_auth(&x, AUTH_METHOD("AdminRevokeSessions"), &rr.base,
	    &auth__v1__admin_revoke_sessions_response__descriptor, &o);
	if (st != CORE_OK) {
		return audit_ctx_gate_close(&x, st, detail);
	}
	resp->revoked = ((Auth__V1__AdminRevokeSessionsResponse *) o)->revoked;
	json_object_set_new(detail, "revoked", json_integer(resp->revoked));
	core_log_kv(CORE_LOG_INFO, "sessions revoked by an admin", "target",
	    x.target, "actor_id", x.actor_id, NULL);
	return audit_ctx_gate_close(&x, CORE_OK, detail);
}

/* Turns a user's two-factor login off (they lost their authenticator
 * and their recovery codes); svc-auth mails them. */
static core_status
reset_mfa(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__ResetMfaRequest *req =
	    (const Admin__V1__ResetMfaRequest *) in;
	Admin__V1__ResetMfaResponse *resp =
	    (Admin__V1__ResetMfaResponse *) out;
	audit_ctx x;
	json_t *detail = begin(&x, c, in, core_call_claims(c));
	core_status st = audit_ctx_gate_open(&x, detail);
	if (st != CORE_OK) {
		return st;
	}
	Auth__V1__AdminResetMfaRequest rr =
	    AUTH__V1__ADMIN_RESET_MFA_REQUEST__INIT;
	rr.id = req->id;
	ProtobufCMessage *o = NULL;
	st = ask_auth(&x, AUTH_METHOD("AdminResetMfa"), &rr.base,
	    &auth__v1__admin_reset_mfa_response__descriptor, &o);
	if (st != CORE_OK) {
		return audit_ctx_gate_close(&x, st, detail);
	}
	resp->was_enabled =
	    ((Auth__V1__AdminResetMfaResponse *) o)->was_enabled;
	json_object_set_new(
	    detail, "was_enabled", json_boolean(resp->was_enabled));
	core_log_kv(CORE_LOG_INFO, "two-factor login reset by an admin",
	    "target", x.target, "actor_id", x.actor_id, NULL);
	return audit_ctx_gate_close(&x, CORE_OK, detail);
}

static core_status
delete_user(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) out;
	const Admin__V1__DeleteUserRequest *req =
	    (const Admin__V1__DeleteUserRequest *) in;
	audit_ctx x;
	json_t *detail = begin(&x, c, in, core_call_claims(c));
	core_status st = audit_ctx_gate_open(&x, detail);
	if (st != CORE_OK) {
		return st;
	}
	Auth__V1__AdminDeleteUserRequest dr =
	    AUTH__V1__ADMIN_DELETE_USER_REQUEST__INIT;
	dr.id = req->id;
	ProtobufCMessage *o = NULL;
	st = ask_auth(&x, AUTH_METHOD("AdminDeleteUser"), &dr.base,
	    &auth__v1__admin_delete_user_response__descriptor, &o);
	if (st != CORE_OK) {
		return audit_ctx_gate_close(&x, st, detail);
	}
	Auth__V1__AdminDeleteUserResponse *d =
	    (Auth__V1__AdminDeleteUserResponse *) o;
	/* The state it had, never its username or email: the row outlives
	 * the account. */
	json_decref(detail);
	detail = json_pack("{s:o, s:i}", "before", admin_user_state(d->user),
	    "sessions_revoked", (int) d->sessions_revoked);
	core_log_kv(CORE_LOG_INFO, "user deleted by an admin", "target",
	    x.target, "actor_id", x.actor_id, NULL);
	return audit_ctx_gate_close(&x, CORE_OK, detail);
}

/* A user deletes their own account. The row names them by id only: no
 * username (the actor's is left out) and no address, since it outlives
 * the account; the password goes to svc-auth and nowhere else. */
static core_status
delete_account(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) out;
	const Admin__V1__DeleteAccountRequest *req =
	    (const Admin__V1__DeleteAccountRequest *) in;
	core_jwt_claims anonymous = *core_call_claims(c);
	anonymous.username[0] = '\0';
	audit_ctx x;
	json_t *detail = begin(&x, c, in, &anonymous);
	snprintf(x.target, sizeof(x.target), "%s", anonymous.sub);
	/* Given to svc-auth, which throttles wrong passwords on it. */
	char ip[sizeof(x.client_ip)];
	snprintf(ip, sizeof(ip), "%s", x.client_ip);
	x.client_ip[0] = '\0';
	core_status st = audit_ctx_gate_open(&x, detail);
	if (st != CORE_OK) {
		return st;
	}
	Auth__V1__DeleteAccountRequest dr =
	    AUTH__V1__DELETE_ACCOUNT_REQUEST__INIT;
	dr.current_password = req->current_password;
	dr.client_ip = ip;
	ProtobufCMessage *o = NULL;
	st = ask_auth(&x, AUTH_METHOD("DeleteAccount"), &dr.base,
	    &auth__v1__delete_account_response__descriptor, &o);
	if (st != CORE_OK) {
		return audit_ctx_gate_close(&x, st, detail);
	}
	json_object_set_new(detail, "sessions_revoked",
	    json_integer(
	        ((Auth__V1__DeleteAccountResponse *) o)->sessions_revoked));
	core_log_kv(CORE_LOG_INFO, "account deleted by its user", "target",
	    x.target, NULL);
	return audit_ctx_gate_close(&x, CORE_OK, detail);
}

/* svc-auth decides whether the caller is an admin *now* (a token minted
 * before a demotion still says admin): the same check its Admin* methods
 * make, so reading the log needs what managing users needs. */
static core_status
recheck_admin(audit_ctx *x)
{
	char sub[sizeof(x->caller->sub)];
	snprintf(sub, sizeof(sub), "%s", x->caller->sub);
	Auth__V1__AdminGetUserRequest gr =
	    AUTH__V1__ADMIN_GET_USER_REQUEST__INIT;
	gr.id = sub;
	ProtobufCMessage *o = NULL;
	return ask_auth(x, AUTH_METHOD("AdminGetUser"), &gr.base,
	    &auth__v1__admin_get_user_response__descriptor, &o);
}

/* Validates a ListAudit request into q; the page token must have been made
 * for the same filters. */
static core_status
audit_query(audit_ctx *x, const Admin__V1__ListAuditRequest *req,
    admin_audit_query *q, char *actor, audit_page_filters *pf, char *reads)
{
	core_status st = CORE_OK;
	const struct {
		const char *name, *value;
	} filters[] = {{"actor", req->actor}, {"target", req->target},
	    {"action", req->action}};
	const ProtobufCMessageDescriptor *d =
	    &admin__v1__list_audit_request__descriptor;
	char msg[RULES_MESSAGE_MAX];
	const char *e;
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if ((e = rules_check_text(rules_find(d, filters[i].name),
		         filters[i].value, msg, sizeof(msg))) != NULL) {
			st = audit_ctx_field_fail(x, filters[i].name, e);
		}
	}
	if ((e = rules_check_int(rules_find(d, "page_size"), req->page_size,
	         msg, sizeof(msg))) != NULL) {
		st = audit_ctx_field_fail(x, "page_size", e);
	}
	const Google__Protobuf__Timestamp *since = req->since;
	/* 0001-01-01 to 9999-12-31, as google.protobuf.Timestamp allows. */
	if (since != NULL &&
	    (since->seconds < -62135596800LL ||
	        since->seconds > 253402300799LL || since->nanos < 0 ||
	        since->nanos > 999999999)) {
		st = audit_ctx_field_fail(x, "since", "not a valid timestamp");
	}
	bool changes = strcmp(req->kind, "changes") == 0;
	bool only_reads = strcmp(req->kind, "reads") == 0;
	if (!changes && !only_reads && req->kind[0] != '\0' &&
	    strcmp(req->kind, "all") != 0) {
		st = audit_ctx_field_fail(
		    x, "kind", "must be changes, reads or all");
	}
	if (st != CORE_OK) {
		return st;
	}
	/* An actor is an id when it looks like one (a username cannot:
	 * usernames are at most 32 characters), else a username, which is
	 * stored lower-case. */
	snprintf(actor, ADMIN_FILTER_BYTES, "%s", req->actor);
	bool by_id = core_uuid_valid(actor);
	for (char *p = actor; !by_id && *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z') {
			*p = (char) (*p - 'A' + 'a');
		}
	}
	*q = (admin_audit_query){
	    .actor_id = actor[0] && by_id ? actor : NULL,
	    .actor_username = actor[0] && !by_id ? actor : NULL,
	    .target = req->target[0] ? req->target : NULL,
	    .action = req->action[0] ? req->action : NULL,
	    .reads = changes || only_reads ? reads : NULL,
	    .only_reads = only_reads,
	    .has_since = since != NULL,
	    /* Rounded up: time >= since at microsecond precision. */
	    .since_us = since != NULL ? since->seconds * 1000000 +
	                                    (since->nanos + 999) / 1000
	                              : 0,
	    .limit = req->page_size == 0 ? PAGE_DEFAULT : req->page_size,
	};
	*pf = (audit_page_filters){.actor = actor,
	    .target = req->target,
	    .action = req->action,
	    .kind = strcmp(req->kind, "all") == 0 ? "" : req->kind,
	    .has_since = q->has_since,
	    .since_us = q->since_us};
	if (req->page_token[0] != '\0' &&
	    audit_page_token_decode(req->page_token, pf, &q->before_id) != 0) {
		return audit_ctx_field_fail(
		    x, "page_token", "invalid, or made for other filters");
	}
	return CORE_OK;
}

/* The stored detail (JSON text, an object) as the entry's Struct, in the
 * arena, so that the REST answer and rpcctl show it as an object. A row
 * whose detail does not read as one (never written so) gets none, logged;
 * -1 only when out of memory. */
static int
detail_message(
    core_arena *a, const admin_audit_entry *e, Google__Protobuf__Struct **out)
{
	json_error_t jerr;
	core_json_error err;
	ProtobufCMessage *m = NULL;
	json_t *v = json_loads(e->detail_json, 0, &jerr);
	int rc = v != NULL ? core_json_value_to_pb(
	                         &google__protobuf__struct__descriptor, v,
	                         NULL, core_arena_allocator(a), &m, &err)
	                   : -1;
	json_decref(v);
	*out = (Google__Protobuf__Struct *) m;
	if (rc == 0) {
		return 0;
	}
	if (v != NULL && strcmp(err.message, "out of memory") == 0) {
		return -1;
	}
	core_log_warn("audit row %lld: detail is not a JSON object: %s",
	    (long long) e->id, v != NULL ? err.message : jerr.text);
	return 0;
}

static Admin__V1__AuditEntry *
entry_message(core_arena *a, const admin_audit_entry *e)
{
	Admin__V1__AuditEntry *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	admin__v1__audit_entry__init(m);
	m->id = e->id;
	m->time = core_timestamp_new(a, e->time_us);
	/* The entry's strings are already in this arena. */
	m->actor_id = e->actor_id;
	m->actor_username = e->actor_username;
	m->action = e->action;
	m->target = e->target;
	m->outcome = e->outcome;
	m->request_id = e->request_id;
	m->client_ip = e->client_ip;
	return m->time != NULL && detail_message(a, e, &m->detail) == 0 ? m
	                                                                : NULL;
}
/* Puts the page of rows (n read, one more than limit when a next page
 * exists) into resp, with the token that continues it under pf. */
static core_status
put_page(audit_ctx *x, Admin__V1__ListAuditResponse *resp,
    const admin_audit_entry *rows, size_t n, size_t limit,
    const audit_page_filters *pf)
{
	core_arena *a = core_call_arena(x->c);
	size_t shown = n > limit ? limit : n;
	resp->entries =
	    core_arena_calloc(a, shown ? shown : 1, sizeof(*resp->entries));
	if (resp->entries == NULL) {
		return audit_ctx_fail(x, CORE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < shown; i++) {
		if ((resp->entries[i] = entry_message(a, &rows[i])) == NULL) {
			return audit_ctx_fail(
			    x, CORE_INTERNAL, "out of memory");
		}
	}
	resp->n_entries = shown;
	if (n > shown) {
		char *token = core_arena_alloc(a, AUDIT_PAGE_TOKEN_MAX);
		if (token == NULL) {
			return audit_ctx_fail(
			    x, CORE_INTERNAL, "out of memory");
		}
		audit_page_token_encode(rows[shown - 1].id, pf, token);
		resp->next_page_token = token;
	}
	return CORE_OK;
}

static core_status
list_audit(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__ListAuditRequest *req =
	    (const Admin__V1__ListAuditRequest *) in;
	Admin__V1__ListAuditResponse *resp =
	    (Admin__V1__ListAuditResponse *) out;
	audit_ctx x;
	json_t *detail = begin(&x, c, in, core_call_claims(c));
	admin_audit_query q;
	audit_page_filters pf;
	char actor[ADMIN_FILTER_BYTES];
	char reads[ADMIN_READS_BYTES];
	admin_action_reads(reads);
	core_status st = recheck_admin(&x);
	if (st == CORE_OK) {
		st = audit_query(&x, req, &q, actor, &pf, reads);
	}
	if (st != CORE_OK) {
		return audit_ctx_finish(&x, st, detail);
	}
	size_t limit = (size_t) q.limit;
	q.limit++; /* one more tells whether a next page exists */
	admin_audit_entry *rows = NULL;
	size_t n = 0;
	st = admin_audit_list(x.pg, &q, core_call_arena(c), &rows, &n);
	if (st == CORE_UNAVAILABLE || st == CORE_DEADLINE_EXCEEDED) {
		st = audit_ctx_fail(&x, st, AUDIT_DOWN_READ);
	} else if (st != CORE_OK) {
		st = audit_ctx_fail(&x, CORE_INTERNAL, "audit_log: %s",
		    core_status_str((int) st));
	} else if ((st = put_page(&x, resp, rows, n, limit, &pf)) == CORE_OK) {
		audit_name_targets(x.c, core_call_state(c), resp);
		json_object_set_new(detail, "returned",
		    json_integer((json_int_t) resp->n_entries));
	}
	return audit_ctx_finish(&x, st, detail);
}

/* svc-admin is reached from the edge's /admin routes and the operators'
 * rpcctl only; no service calls it. Its methods act on every account with
 * an admin's token: a taken-over svc-auth or svc-user holding a stolen one
 * is refused here before anything is done. */
static const char *const callers[] = {"edge", "ops", NULL};

static const core_rpc_method methods[] = {
    {ADMIN_METHOD("ListUsers"), list_users, CORE_RULE_ADMIN, 0, callers, NULL},
    {ADMIN_METHOD("GetUser"), get_user, CORE_RULE_ADMIN, 0, callers, NULL},
    {ADMIN_METHOD("UpdateUser"), update_user, CORE_RULE_ADMIN, 0, callers,
        NULL},
    {ADMIN_METHOD("RevokeSessions"), revoke_sessions, CORE_RULE_ADMIN, 0,
        callers, NULL},
    {ADMIN_METHOD("ListAudit"), list_audit, CORE_RULE_ADMIN, 0, callers, NULL},
    {ADMIN_METHOD("DeleteUser"), delete_user, CORE_RULE_ADMIN, 0, callers,
        NULL},
    /* Any user, on their own account: svc-auth checks the password. */
    {ADMIN_METHOD("DeleteAccount"), delete_account, CORE_RULE_USER, 0, callers,
        NULL},
    {ADMIN_METHOD("ResetMfa"), reset_mfa, CORE_RULE_ADMIN, 0, callers, NULL},
};

const core_rpc_service admin_service = {
    .desc = &admin__v1__admin_service__descriptor,
    .methods = methods,
    .n_methods = sizeof(methods) / sizeof(methods[0]),
    .denied = admin_denied,
};
