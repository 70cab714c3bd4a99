/* AdminService: user management through svc-auth, and the audit log.
 *
 * Every call writes one audit row, allowed or refused. Mutations write it
 * before they act (docs/architecture.md, "Admin"):
 *
 *   BEGIN; SAVEPOINT; INSERT the intended action   -- fails: UNAVAILABLE,
 *                                                    -- svc-auth is not called
 *   call svc-auth
 *   ROLLBACK TO SAVEPOINT; INSERT what happened; COMMIT
 *
 * The first INSERT proves, inside the transaction that will hold the final
 * row, that the log takes writes; the final row then carries what svc-auth
 * reports (before/after, sessions revoked), which only exists after the
 * call. Reads write their row after the call and return no data when it
 * cannot be written. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "admin/v1/admin.pb-c.h"
#include "auth/v1/auth.pb-c.h"

#include "admin_service.h"
#include "admin_text.h"
#include "audit_page.h"
#include "audit_repo.h"
#include "core/log.h"
#include "core/timestamp.h"

#define BAD_TOKEN "invalid or expired token"
#define AUDIT_DOWN_READ "the audit log is unavailable; try again later"
#define AUDIT_DOWN_WRITE                                                      \
	"the audit log is unavailable; nothing was changed, try again later"

#define FILTER_MAX 128 /* bytes of a ListAudit filter */
#define PAGE_DEFAULT 50
#define PAGE_MAX 200

/* ---- Worker state --------------------------------------------------------
 */

void *
admin_worker_init(void *arg)
{
	admin_worker *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return NULL;
	}
	w->cfg = arg;
	if (core_store_open(&w->db, w->cfg->database_url, w->cfg->redis_url) !=
	    0) {
		free(w);
		return NULL;
	}
	/* Each session, reconnects included, drops to the role that can only
	 * read and append: even a superuser URL cannot UPDATE or DELETE. */
	if (core_pg_set_session_sql(w->db.pg, "SET ROLE " ADMIN_DB_ROLE) !=
	    0) {
		core_store_close(&w->db);
		free(w);
		return NULL;
	}
	return w;
}

void
admin_worker_fini(void *arg)
{
	admin_worker *w = arg;
	if (w == NULL) {
		return;
	}
	core_store_close(&w->db);
	free(w);
}

bool
admin_health(void *arg)
{
	admin_worker *w = arg;
	return core_store_ping(&w->db);
}

/* ---- One call's audit context ----------------------------------------- */

typedef struct admin_ctx {
	core_call *c;
	admin_worker *w;
	const char *action; /* "users.update" */
	char target[129];
	/* The caller, once the token verified and is not revoked. */
	bool verified;
	core_jwt_claims cl;
	char actor_id[37]; /* "" unless verified and a UUID */
	char request_id[65];
	char client_ip[64];
	/* The error answered (set by fail()), for the audit row. */
	core_status code;
	char message[256];
	json_t
	    *fields;  /* [{field, description}] of INVALID_ARGUMENT, or NULL */
	json_t *note; /* more about a refusal, e.g. why the token failed */
} admin_ctx;

static void
ctx_init(admin_ctx *x, core_call *c, const char *action, const char *target)
{
	memset(x, 0, sizeof(*x));
	x->c = c;
	x->w = core_call_state(c);
	x->action = action;
	(void) admin_utf8_clip(target, x->target, sizeof(x->target));
	/* A call without a usable request id gets one here, so that this
	 * service's log, svc-auth's log and the audit row share it. */
	const char *rid = core_call_metadata(c, CORE_MD_REQUEST_ID);
	if (rid != NULL && core_rpc_request_id_valid(rid)) {
		snprintf(x->request_id, sizeof(x->request_id), "%s", rid);
	} else {
		core_rpc_new_request_id(x->request_id);
		core_log_set_request_id(x->request_id);
	}
	const char *ip = core_call_metadata(c, CORE_MD_CLIENT_IP);
	if (ip != NULL && strlen(ip) < sizeof(x->client_ip) &&
	    admin_ip_valid(ip)) {
		snprintf(x->client_ip, sizeof(x->client_ip), "%s", ip);
	}
}

static void
ctx_fini(admin_ctx *x)
{
	json_decref(x->fields);
	json_decref(x->note);
}

/* A JSON string; jansson refuses invalid UTF-8, which request strings
 * cannot hold (the RPC server checks them), so this is only a guard. */
static json_t *
jstr(const char *s)
{
	json_t *v = json_string(s != NULL ? s : "");
	return v != NULL ? v : json_string("\xef\xbf\xbd");
}

/* A request string for a detail, at most FILTER_MAX bytes: anyone may send
 * a megabyte, and a refused call is recorded too. */
static json_t *
jclip(const char *s)
{
	char buf[FILTER_MAX + 1];
	(void) admin_utf8_clip(s, buf, sizeof(buf));
	return jstr(buf);
}

static void
note(admin_ctx *x, const char *key, const char *value)
{
	if (x->note == NULL) {
		x->note = json_object();
	}
	json_object_set_new(x->note, key, jstr(value));
}

/* Sets the status the client gets and remembers it for the audit row. */
static core_status fail(admin_ctx *x, core_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static core_status
fail(admin_ctx *x, core_status code, const char *fmt, ...)
{
	/* Clipped between characters: the row's JSON needs valid UTF-8. A
	 * longer message was cut by vsnprintf past the part kept. */
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void) admin_utf8_clip(text, x->message, sizeof(x->message));
	x->code = code;
	return core_call_error(x->c, code, "%s", x->message);
}

/* INVALID_ARGUMENT naming a field (may be called for several fields). */
static core_status
field_fail(admin_ctx *x, const char *field, const char *text)
{
	if (x->fields == NULL) {
		char msg[1024];
		x->fields = json_array();
		snprintf(msg, sizeof(msg), "%s: %s", field, text);
		(void) admin_utf8_clip(msg, x->message, sizeof(x->message));
	}
	json_array_append_new(
	    x->fields, json_pack("{s:o, s:o}", "field", jstr(field),
	                   "description", jstr(text)));
	x->code = CORE_INVALID_ARGUMENT;
	return core_call_field_error(x->c, field, "%s", text);
}

/* Answers svc-auth's error unchanged: code, message and field details. */
static core_status
pass_through(admin_ctx *x, const core_rpc_reply *reply)
{
	for (size_t i = 0; i < reply->n_details; i++) {
		(void) field_fail(
		    x, reply->detail_fields[i], reply->detail_descriptions[i]);
	}
	if (reply->retry_after_s > 0) {
		core_call_set_retry_after(x->c, reply->retry_after_s);
	}
	return fail(x, reply->code, "%s", reply->message);
}

static const char *
outcome_of(core_status st)
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

/* Adds {code, message, fields, and the notes} of the error answered to
 * detail (a JSON object). */
static void
add_error(admin_ctx *x, json_t *detail)
{
	json_object_set_new(
	    detail, "code", jstr(core_status_str((int) x->code)));
	json_object_set_new(detail, "message", jstr(x->message));
	if (x->fields != NULL) {
		json_object_set(detail, "fields", x->fields);
	}
	if (x->note != NULL) {
		json_object_update(detail, x->note);
	}
}

/* Logs a row the table did not take, whole, so that it can be re-entered.
 * msg says what it means for the action. */
static void
log_row(admin_ctx *x, const char *msg, const char *outcome,
    const json_t *detail, core_status st)
{
	char *text = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
	core_log_kv(CORE_LOG_ERROR, msg, "action", x->action, "target",
	    x->target, "outcome", outcome, "actor_id",
	    x->actor_id[0] ? x->actor_id : NULL, "actor_username",
	    x->verified ? x->cl.username : "", "client_ip", x->client_ip,
	    "detail", text, "status", core_status_str((int) st), NULL);
	free(text);
}

/* INSERTs the call's row with outcome and detail (borrowed). */
static core_status
write_row(admin_ctx *x, const char *outcome, const json_t *detail)
{
	char *text = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
	admin_audit_record r = {
	    .actor_id = x->actor_id[0] ? x->actor_id : NULL,
	    .actor_username = x->verified ? x->cl.username : "",
	    .action = x->action,
	    .target = x->target,
	    .outcome = outcome,
	    .request_id = x->request_id,
	    .client_ip = x->client_ip,
	    .detail_json = text != NULL ? text : "{}",
	};
	core_status st = admin_audit_insert(x->w->db.pg, &r);
	free(text);
	return st;
}

/* Ends a call that changes nothing (reads and refusals): writes its row
 * with st's outcome and answers st; a success whose row cannot be written
 * answers UNAVAILABLE instead, without its data. Takes detail (a JSON
 * object, NULL for {}). */
static core_status
finish(admin_ctx *x, core_status st, json_t *detail)
{
	if (detail == NULL) {
		detail = json_object();
	}
	if (st != CORE_OK) {
		add_error(x, detail);
	}
	core_status wst = write_row(x, outcome_of(st), detail);
	if (wst != CORE_OK) {
		log_row(
		    x, "audit row not written", outcome_of(st), detail, wst);
	}
	json_decref(detail);
	ctx_fini(x);
	if (wst != CORE_OK && st == CORE_OK) {
		return fail(x, CORE_UNAVAILABLE, AUDIT_DOWN_READ);
	}
	return st;
}

/* ---- The caller -------------------------------------------------------- */

/* Verifies the bearer token locally (cached JWKS), checks revocation in
 * Redis and requires role admin. Sets x->verified when the token is good,
 * whatever the role. */
static core_status
authorize(admin_ctx *x)
{
	const admin_config *cfg = x->w->cfg;
	const char *token = core_call_bearer(x->c);
	if (token == NULL) {
		note(x, "reason", "no bearer token");
		return fail(
		    x, CORE_UNAUTHENTICATED, "a bearer token is required");
	}
	core_jwt_policy pol = {
	    .issuer = cfg->issuer, .audience = cfg->audience};
	const char *reason = "";
	core_jwt_claims cl;
	core_jwt_result r =
	    core_jwks_cache_verify(cfg->jwks, token, &pol, &cl, &reason);
	if (r != CORE_JWT_OK) {
		reason = r == CORE_JWT_UNKNOWN_KID ? "unknown kid" : reason;
		core_log_kv(
		    CORE_LOG_INFO, "token rejected", "reason", reason, NULL);
		note(x, "reason", "invalid token");
		return fail(x, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	bool revoked = true;
	core_status st = core_jwt_check_revoked(x->w->db.redis, &cl, &revoked);
	if (st != CORE_OK || revoked) {
		/* Signed by svc-auth, so who it names is known, but it does
		 * not stand for a caller: recorded as a note, not as actor. */
		note(x, "token_sub", cl.sub);
		note(x, "token_username", cl.username);
	}
	if (st != CORE_OK) {
		/* Fail closed: without Redis nobody knows if it was revoked.
		 */
		note(x, "reason", "revocation unknown");
		return fail(x, CORE_UNAVAILABLE,
		    "the session store is unavailable; try again later");
	}
	if (revoked) {
		note(x, "reason", "revoked token");
		return fail(x, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	x->cl = cl;
	x->verified = true;
	if (admin_uuid_valid(cl.sub)) {
		memcpy(
		    x->actor_id, cl.sub, sizeof(x->actor_id)); /* 36 + NUL */
	}
	if (strcmp(cl.role, "admin") != 0) {
		return fail(
		    x, CORE_PERMISSION_DENIED, "this needs the admin role");
	}
	return CORE_OK;
}

/* Calls svc-auth with the caller's own token, request id and remaining
 * deadline; the output lands in the call's arena. */
static core_status
call_auth(admin_ctx *x, const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out,
    core_rpc_reply *reply)
{
	core_md md[3];
	core_rpc_opts opts;
	core_rpc_opts_from_call(x->c, &opts, md);
	size_t i = 0;
	while (i < opts.n_md && strcmp(md[i].key, CORE_MD_REQUEST_ID) != 0) {
		i++;
	}
	md[i] = (core_md){CORE_MD_REQUEST_ID, x->request_id};
	opts.n_md += i == opts.n_md;
	return core_rpc_call(x->w->cfg->auth, method, in, out_desc, out, &opts,
	    core_call_arena(x->c), reply);
}

/* ---- JSON of the details ----------------------------------------------- */

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

/* {"status":..., "role":...} of a user (or {} for none). */
static json_t *
user_state(const Auth__V1__User *u)
{
	if (u == NULL) {
		return json_object();
	}
	return json_pack("{s:s, s:s}", "status", status_name((int) u->status),
	    "role", role_name((int) u->role));
}

/* RFC 3339 UTC text of a Timestamp, "" when out of range. */
static void
rfc3339(const Google__Protobuf__Timestamp *t, char *buf, size_t len)
{
	struct tm tm;
	time_t s = (time_t) t->seconds;
	buf[0] = '\0';
	if (gmtime_r(&s, &tm) == NULL) {
		return;
	}
	char date[32];
	if (strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		return;
	}
	if (t->nanos != 0) {
		snprintf(buf, len, "%s.%09dZ", date, (int) t->nanos);
	} else {
		snprintf(buf, len, "%sZ", date);
	}
}

/* ---- Handlers ---------------------------------------------------------- */

static core_status
list_users(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__ListUsersRequest *req =
	    (const Admin__V1__ListUsersRequest *) in;
	Admin__V1__ListUsersResponse *resp =
	    (Admin__V1__ListUsersResponse *) out;
	admin_ctx x;
	ctx_init(&x, c, "users.list", "");
	json_t *detail = json_pack("{s:o, s:s, s:s, s:i, s:b}", "query",
	    jclip(req->query), "status",
	    req->status ? status_name((int) req->status) : "any", "role",
	    req->role ? role_name((int) req->role) : "any", "page_size",
	    (int) req->page_size, "continued", req->page_token[0] != '\0');
	core_status st = authorize(&x);
	if (st != CORE_OK) {
		return finish(&x, st, detail);
	}
	Auth__V1__AdminListUsersRequest ar =
	    AUTH__V1__ADMIN_LIST_USERS_REQUEST__INIT;
	ar.query = req->query;
	ar.status = req->status;
	ar.role = req->role;
	ar.page_size = req->page_size;
	ar.page_token = req->page_token;
	ProtobufCMessage *o = NULL;
	core_rpc_reply reply;
	st = call_auth(&x, "/auth.v1.AuthService/AdminListUsers", &ar.base,
	    &auth__v1__admin_list_users_response__descriptor, &o, &reply);
	if (st != CORE_OK) {
		return finish(&x, pass_through(&x, &reply), detail);
	}
	Auth__V1__AdminListUsersResponse *lr =
	    (Auth__V1__AdminListUsersResponse *) o;
	/* Same message type, same arena: handed over as they are. */
	resp->n_users = lr->n_users;
	resp->users = lr->users;
	resp->next_page_token = lr->next_page_token;
	json_object_set_new(
	    detail, "returned", json_integer((json_int_t) lr->n_users));
	return finish(&x, CORE_OK, detail);
}

static core_status
get_user(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__GetUserRequest *req =
	    (const Admin__V1__GetUserRequest *) in;
	Admin__V1__GetUserResponse *resp = (Admin__V1__GetUserResponse *) out;
	admin_ctx x;
	ctx_init(&x, c, "users.get", req->id);
	core_status st = authorize(&x);
	if (st != CORE_OK) {
		return finish(&x, st, NULL);
	}
	Auth__V1__AdminGetUserRequest gr =
	    AUTH__V1__ADMIN_GET_USER_REQUEST__INIT;
	gr.id = req->id;
	ProtobufCMessage *o = NULL;
	core_rpc_reply reply;
	st = call_auth(&x, "/auth.v1.AuthService/AdminGetUser", &gr.base,
	    &auth__v1__admin_get_user_response__descriptor, &o, &reply);
	if (st != CORE_OK) {
		return finish(&x, pass_through(&x, &reply), NULL);
	}
	Auth__V1__AdminGetUserResponse *gu =
	    (Auth__V1__AdminGetUserResponse *) o;
	resp->user = gu->user;
	resp->n_sessions = gu->n_sessions;
	resp->sessions = gu->sessions;
	return finish(
	    &x, CORE_OK, json_pack("{s:i}", "sessions", (int) gu->n_sessions));
}

/* Opens the write-before-act transaction: BEGIN, SAVEPOINT, INSERT the
 * intended action (detail borrowed). Nothing is left open on failure. */
static core_status
gate_open(admin_ctx *x, const json_t *intent)
{
	core_pg *pg = x->w->db.pg;
	core_status st = admin_audit_begin(pg);
	if (st == CORE_OK) {
		st = admin_audit_savepoint(pg);
	}
	if (st == CORE_OK) {
		st = write_row(x, "ok", intent);
	}
	if (st != CORE_OK) {
		admin_audit_rollback(pg);
		log_row(x, "audit log unavailable; admin action not performed",
		    "not performed", intent, st);
	}
	return st;
}

/* Closes it: replaces the intended row by what happened (st, detail, which
 * is taken) and commits. A failure here comes after the action; it is
 * logged with the whole row, and st stands. */
static core_status
gate_close(admin_ctx *x, core_status st, json_t *detail)
{
	core_pg *pg = x->w->db.pg;
	if (st != CORE_OK) {
		add_error(x, detail);
		if (st == CORE_UNAVAILABLE || st == CORE_DEADLINE_EXCEEDED) {
			/* The request may have reached svc-auth and run. */
			json_object_set_new(
			    detail, "applied", json_string("unknown"));
		}
	}
	core_status wst = admin_audit_rollback_to_savepoint(pg);
	if (wst == CORE_OK) {
		wst = write_row(x, outcome_of(st), detail);
	}
	if (wst == CORE_OK) {
		wst = admin_audit_commit(pg);
	} else {
		admin_audit_rollback(pg);
	}
	if (wst != CORE_OK) {
		log_row(x,
		    st == CORE_OK
		        ? "admin action done but its audit row was lost"
		        : "audit row of a failed admin action lost",
		    outcome_of(st), detail, wst);
	}
	json_decref(detail);
	ctx_fini(x);
	return st;
}

static core_status
update_user(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__UpdateUserRequest *req =
	    (const Admin__V1__UpdateUserRequest *) in;
	Admin__V1__UpdateUserResponse *resp =
	    (Admin__V1__UpdateUserResponse *) out;
	bool has_status = req->has_status_case ==
	                  ADMIN__V1__UPDATE_USER_REQUEST__HAS_STATUS_STATUS;
	bool has_role = req->has_role_case ==
	                ADMIN__V1__UPDATE_USER_REQUEST__HAS_ROLE_ROLE;
	admin_ctx x;
	ctx_init(&x, c, "users.update", req->id);
	json_t *requested = json_object();
	if (has_status) {
		json_object_set_new(requested, "status",
		    json_string(status_name((int) req->status)));
	}
	if (has_role) {
		json_object_set_new(requested, "role",
		    json_string(role_name((int) req->role)));
	}
	json_t *detail = json_pack("{s:o}", "requested", requested);
	core_status st = authorize(&x);
	if (st != CORE_OK) {
		return finish(&x, st, detail);
	}
	if (!has_status && !has_role) {
		return finish(&x,
		    fail(&x, CORE_INVALID_ARGUMENT,
		        "nothing to update: set status, role or both"),
		    detail);
	}
	if (has_status &&
	    req->status != AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE &&
	    req->status != AUTH__V1__USER_STATUS__USER_STATUS_DISABLED) {
		st = field_fail(&x, "status",
		    "must be USER_STATUS_ACTIVE or USER_STATUS_DISABLED");
	}
	if (has_role && req->role != AUTH__V1__ROLE__ROLE_USER &&
	    req->role != AUTH__V1__ROLE__ROLE_ADMIN) {
		st = field_fail(&x, "role", "must be ROLE_USER or ROLE_ADMIN");
	}
	if (st != CORE_OK) {
		return finish(&x, st, detail);
	}
	if (gate_open(&x, detail) != CORE_OK) {
		json_decref(detail);
		ctx_fini(&x);
		return fail(&x, CORE_UNAVAILABLE, AUDIT_DOWN_WRITE);
	}
	Auth__V1__AdminUpdateUserRequest ur =
	    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__INIT;
	ur.id = req->id;
	if (has_status) {
		ur.has_status_case =
		    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__HAS_STATUS_STATUS;
		ur.status = req->status;
	}
	if (has_role) {
		ur.has_role_case =
		    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__HAS_ROLE_ROLE;
		ur.role = req->role;
	}
	ProtobufCMessage *o = NULL;
	core_rpc_reply reply;
	st = call_auth(&x, "/auth.v1.AuthService/AdminUpdateUser", &ur.base,
	    &auth__v1__admin_update_user_response__descriptor, &o, &reply);
	if (st != CORE_OK) {
		return gate_close(&x, pass_through(&x, &reply), detail);
	}
	Auth__V1__AdminUpdateUserResponse *u =
	    (Auth__V1__AdminUpdateUserResponse *) o;
	resp->user = u->after;
	json_decref(detail);
	detail = json_pack("{s:o, s:o, s:i}", "before", user_state(u->before),
	    "after", user_state(u->after), "sessions_revoked",
	    (int) u->sessions_revoked);
	core_log_kv(CORE_LOG_INFO, "user updated by an admin", "target",
	    x.target, "actor_id", x.actor_id, NULL);
	return gate_close(&x, CORE_OK, detail);
}

static core_status
revoke_sessions(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__RevokeSessionsRequest *req =
	    (const Admin__V1__RevokeSessionsRequest *) in;
	Admin__V1__RevokeSessionsResponse *resp =
	    (Admin__V1__RevokeSessionsResponse *) out;
	admin_ctx x;
	ctx_init(&x, c, "users.revoke_sessions", req->id);
	json_t *detail = json_object();
	core_status st = authorize(&x);
	if (st != CORE_OK) {
		return finish(&x, st, detail);
	}
	if (gate_open(&x, detail) != CORE_OK) {
		json_decref(detail);
		ctx_fini(&x);
		return fail(&x, CORE_UNAVAILABLE, AUDIT_DOWN_WRITE);
	}
	Auth__V1__AdminRevokeSessionsRequest rr =
	    AUTH__V1__ADMIN_REVOKE_SESSIONS_REQUEST__INIT;
	rr.id = req->id;
	ProtobufCMessage *o = NULL;
	core_rpc_reply reply;
	st = call_auth(&x, "/auth.v1.AuthService/AdminRevokeSessions",
	    &rr.base, &auth__v1__admin_revoke_sessions_response__descriptor,
	    &o, &reply);
	if (st != CORE_OK) {
		return gate_close(&x, pass_through(&x, &reply), detail);
	}
	resp->revoked = ((Auth__V1__AdminRevokeSessionsResponse *) o)->revoked;
	json_object_set_new(detail, "revoked", json_integer(resp->revoked));
	core_log_kv(CORE_LOG_INFO, "sessions revoked by an admin", "target",
	    x.target, "actor_id", x.actor_id, NULL);
	return gate_close(&x, CORE_OK, detail);
}

/* svc-auth decides whether the caller is an admin *now* (a token minted
 * before a demotion still says admin): the same check its Admin* methods
 * make, so reading the log needs what managing users needs. */
static core_status
recheck_admin(admin_ctx *x)
{
	Auth__V1__AdminGetUserRequest gr =
	    AUTH__V1__ADMIN_GET_USER_REQUEST__INIT;
	gr.id = x->cl.sub;
	ProtobufCMessage *o = NULL;
	core_rpc_reply reply;
	core_status st =
	    call_auth(x, "/auth.v1.AuthService/AdminGetUser", &gr.base,
	        &auth__v1__admin_get_user_response__descriptor, &o, &reply);
	return st == CORE_OK ? CORE_OK : pass_through(x, &reply);
}

/* Validates a ListAudit request into q; the page token must have been made
 * for the same filters. */
static core_status
audit_query(admin_ctx *x, const Admin__V1__ListAuditRequest *req,
    admin_audit_query *q, char *actor, audit_page_filters *pf)
{
	core_status st = CORE_OK;
	const struct {
		const char *name, *value;
	} filters[] = {{"actor", req->actor}, {"target", req->target},
	    {"action", req->action}};
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (strlen(filters[i].value) > FILTER_MAX) {
			st = field_fail(
			    x, filters[i].name, "at most 128 bytes");
		}
	}
	if (req->page_size < 0 || req->page_size > PAGE_MAX) {
		st = field_fail(x, "page_size", "must be 0 (50) to 200");
	}
	const Google__Protobuf__Timestamp *since = req->since;
	/* 0001-01-01 to 9999-12-31, as google.protobuf.Timestamp allows. */
	if (since != NULL &&
	    (since->seconds < -62135596800LL ||
	        since->seconds > 253402300799LL || since->nanos < 0 ||
	        since->nanos > 999999999)) {
		st = field_fail(x, "since", "not a valid timestamp");
	}
	if (st != CORE_OK) {
		return st;
	}
	/* An actor is an id when it looks like one (a username cannot:
	 * usernames are at most 32 characters), else a username, which is
	 * stored lower-case. */
	snprintf(actor, FILTER_MAX + 1, "%s", req->actor);
	bool by_id = admin_uuid_valid(actor);
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
	    .has_since = q->has_since,
	    .since_us = q->since_us};
	if (req->page_token[0] != '\0' &&
	    audit_page_token_decode(req->page_token, pf, &q->before_id) != 0) {
		return field_fail(
		    x, "page_token", "invalid, or made for other filters");
	}
	return CORE_OK;
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
	m->detail_json = e->detail_json;
	return m->time != NULL ? m : NULL;
}

static core_status
list_audit(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Admin__V1__ListAuditRequest *req =
	    (const Admin__V1__ListAuditRequest *) in;
	Admin__V1__ListAuditResponse *resp =
	    (Admin__V1__ListAuditResponse *) out;
	core_arena *a = core_call_arena(c);
	admin_ctx x;
	ctx_init(&x, c, "audit.list", "");
	char since[48] = "";
	if (req->since != NULL) {
		rfc3339(req->since, since, sizeof(since));
	}
	json_t *detail = json_pack("{s:o, s:o, s:o, s:s, s:i, s:b}", "actor",
	    jclip(req->actor), "target", jclip(req->target), "action",
	    jclip(req->action), "since", since, "page_size",
	    (int) req->page_size, "continued", req->page_token[0] != '\0');
	core_status st = authorize(&x);
	if (st == CORE_OK) {
		st = recheck_admin(&x);
	}
	admin_audit_query q;
	audit_page_filters pf;
	char actor[FILTER_MAX + 1];
	if (st == CORE_OK) {
		st = audit_query(&x, req, &q, actor, &pf);
	}
	if (st != CORE_OK) {
		return finish(&x, st, detail);
	}
	int limit = q.limit;
	q.limit = limit + 1; /* one more tells whether a next page exists */
	admin_audit_entry *rows = NULL;
	size_t n = 0;
	st = admin_audit_list(x.w->db.pg, &q, a, &rows, &n);
	if (st == CORE_UNAVAILABLE || st == CORE_DEADLINE_EXCEEDED) {
		return finish(&x, fail(&x, st, AUDIT_DOWN_READ), detail);
	}
	if (st != CORE_OK) {
		return finish(&x,
		    fail(&x, CORE_INTERNAL, "audit_log: %s",
		        core_status_str((int) st)),
		    detail);
	}
	size_t shown = n > (size_t) limit ? (size_t) limit : n;
	resp->entries =
	    core_arena_calloc(a, shown ? shown : 1, sizeof(*resp->entries));
	if (resp->entries == NULL) {
		return finish(
		    &x, fail(&x, CORE_INTERNAL, "out of memory"), detail);
	}
	for (size_t i = 0; i < shown; i++) {
		if ((resp->entries[i] = entry_message(a, &rows[i])) == NULL) {
			return finish(&x,
			    fail(&x, CORE_INTERNAL, "out of memory"), detail);
		}
	}
	resp->n_entries = shown;
	if (n > shown) {
		char *token = core_arena_alloc(a, AUDIT_PAGE_TOKEN_MAX);
		if (token == NULL) {
			return finish(&x,
			    fail(&x, CORE_INTERNAL, "out of memory"), detail);
		}
		audit_page_token_encode(rows[shown - 1].id, &pf, token);
		resp->next_page_token = token;
	}
	json_object_set_new(
	    detail, "returned", json_integer((json_int_t) shown));
	return finish(&x, CORE_OK, detail);
}

/* Descriptor order: ListUsers, GetUser, UpdateUser, RevokeSessions,
 * ListAudit. */
const core_rpc_handler admin_handlers[ADMIN_N_METHODS] = {
    list_users,
    get_user,
    update_user,
    revoke_sessions,
    list_audit,
};
