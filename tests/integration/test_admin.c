/* svc-admin as a process, with svc-auth beside it (each on a database of
 * its own) and the test Redis: who may call AdminService, what reaches
 * svc-auth, the audit row of every call, the append-only audit_log, and
 * "no audit row, no action" when admindb fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"
#include <jansson.h>
#include <libpq-fe.h>

#include "admin/v1/admin.pb-c.h"
#include "auth/v1/auth.pb-c.h"

#include "core/json.h"
#include "core/log.h"
#include "core/rpc.h"

#define KEK "dGVzdC1rZWstMzItYnl0ZXMtbG9uZy0xMjM0NTY3ODk="
#define PASSWORD "correct horse battery"
#define ADMIN_SVC "/admin.v1.AdminService/"
#define AUTH_SVC "/auth.v1.AuthService/"

typedef struct proc {
	pid_t pid;
	char db[64];
	char dburl[256]; /* postgresql://... of its database */
	char url[64];    /* its RPC address */
	char log[256];   /* its stderr goes here when set */
	core_rpc_client *cli;
} proc;

static proc AUTH, ADMIN;
static PGconn *maint;         /* the maintenance database, as postgres */
static PGconn *authdb;        /* svc-auth's database, as postgres */
static PGconn *auditdb;       /* svc-admin's database, as postgres */
static char root_token[2048]; /* an admin's access token */
static char root_id[40];
static int rid_seq;

/* ---- Processes and databases -------------------------------------------- */

/* The single value of a query with up to two text parameters, or "" for
 * no row / NULL (into buf). */
static const char *
value_of(PGconn *db, const char *q, const char *p1, const char *p2, char *buf,
    size_t len)
{
	const char *params[] = {p1, p2};
	int n = p2 != NULL ? 2 : p1 != NULL ? 1 : 0;
	PGresult *r = PQexecParams(db, q, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fail_msg("%s: %s", q, PQerrorMessage(db));
	}
	snprintf(buf, len, "%s",
	    PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0)
	                                              : "");
	PQclear(r);
	return buf;
}

static long
count_of(PGconn *db, const char *q, const char *p1, const char *p2)
{
	char buf[32];
	return strtol(value_of(db, q, p1, p2, buf, sizeof(buf)), NULL, 10);
}

/* Starts binary on a fresh database; db_var names its URL variable. */
static void
start(proc *p, const char *binary, const char *listen_var, const char *db_var,
    const char *tag)
{
	char q[160];
	snprintf(p->db, sizeof(p->db), "%s_test_%d", tag, (int) getpid());
	snprintf(
	    q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", p->db);
	pg_ok(maint, q);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", p->db);
	pg_ok(maint, q);
	snprintf(p->dburl, sizeof(p->dburl),
	    "postgresql://postgres@127.0.0.1:%s/%s", need("TEST_PG_PORT"),
	    p->db);
	snprintf(p->url, sizeof(p->url), "tcp://127.0.0.1:%d", free_port());
	char listen[96], dburl[300], redis_url[256], auth_dial[96];
	snprintf(listen, sizeof(listen), "%s=%s", listen_var, p->url);
	snprintf(dburl, sizeof(dburl), "%s=%s", db_var, p->dburl);
	snprintf(redis_url, sizeof(redis_url), "REDIS_URL=%s",
	    need("TEST_REDIS_URL"));
	snprintf(auth_dial, sizeof(auth_dial), "AUTH_RPC_DIAL=%s", AUTH.url);
	char *envp[] = {listen, dburl, redis_url, auth_dial, "LOG_LEVEL=warn",
	    "RPC_WORKERS=4", "AUTH_KEK=" KEK, "AUTH_LOGIN_MAX_PER_IP=100000",
	    "AUTH_LOGIN_MAX_PER_USER=100000", NULL};
	char *argv[] = {(char *) (uintptr_t) binary, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (p->log[0] != '\0') {
		posix_spawn_file_actions_addopen(
		    &fa, 2, p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	}
	assert_int_equal(
	    posix_spawn(&p->pid, binary, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	const char *urls[] = {p->url};
	core_rpc_client_config cfg = {.name = tag,
	    .urls = urls,
	    .n_urls = 1,
	    .connect_wait_ms = 500,
	    .default_timeout_ms = 10000};
	assert_int_equal(core_rpc_client_new(&cfg, &p->cli), 0);
	wait_serving(p->cli, 100);
}

static void
stop(proc *p)
{
	if (p->pid == 0) {
		return;
	}
	core_rpc_client_free(p->cli);
	int status = 0;
	kill(p->pid, SIGTERM);
	waitpid(p->pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	p->pid = 0;
	char q[160];
	snprintf(
	    q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", p->db);
	pg_ok(maint, q);
}

static PGconn *
connect_db(const char *url)
{
	PGconn *db = PQconnectdb(url);
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	return db;
}

/* ---- Calls -------------------------------------------------------------- */

/* A fresh request id per call: the test finds the call's audit row by it. */
static void
new_rid(char *buf, size_t len)
{
	snprintf(buf, len, "test-admin-%d-%d", (int) getpid(), ++rid_seq);
}

static core_status
call_md(proc *p, const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
    const char *token, const char *rid, const char *client_ip, core_arena *a,
    core_rpc_reply *reply)
{
	char auth[2200];
	core_md md[3];
	core_rpc_opts opts = {.md = md};
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		md[opts.n_md++] = (core_md){CORE_MD_AUTHORIZATION, auth};
	}
	if (rid != NULL) {
		md[opts.n_md++] = (core_md){CORE_MD_REQUEST_ID, rid};
	}
	if (client_ip != NULL) {
		md[opts.n_md++] = (core_md){"client-ip", client_ip};
	}
	core_rpc_reply local;
	return core_rpc_call(p->cli, method, in, od, out, &opts, a,
	    reply != NULL ? reply : &local);
}

static core_status
call(proc *p, const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
    const char *token, const char *rid, core_arena *a)
{
	return call_md(p, method, in, od, out, token, rid, NULL, a, NULL);
}

static core_status
login(const char *username, char *tok, size_t len)
{
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	Auth__V1__LoginRequest req = AUTH__V1__LOGIN_REQUEST__INIT;
	req.username = (char *) (uintptr_t) username;
	req.password = PASSWORD;
	core_status st = call(&AUTH, AUTH_SVC "Login", &req.base,
	    &auth__v1__token_response__descriptor, &out, NULL, NULL, a);
	if (st == CORE_OK && tok != NULL) {
		snprintf(tok, len, "%s",
		    ((Auth__V1__TokenResponse *) out)->access_token);
	}
	core_arena_free(a);
	return st;
}

/* Registers username; writes its id to id (>= 40 bytes). */
static void
register_user(const char *username, char *id)
{
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	char email[96];
	snprintf(email, sizeof(email), "%s@example.com", username);
	Auth__V1__RegisterRequest req = AUTH__V1__REGISTER_REQUEST__INIT;
	req.username = (char *) (uintptr_t) username;
	req.email = email;
	req.password = PASSWORD;
	assert_int_equal(
	    call(&AUTH, AUTH_SVC "Register", &req.base,
	        &auth__v1__register_response__descriptor, &out, NULL, NULL, a),
	    CORE_OK);
	snprintf(id, 40, "%s", ((Auth__V1__RegisterResponse *) out)->user->id);
	core_arena_free(a);
}

/* svc-auth's own command line, as an operator makes the first admin. */
static void
promote_admin(const char *username)
{
	char dburl[300];
	snprintf(dburl, sizeof(dburl), "AUTH_DATABASE_URL=%s", AUTH.dburl);
	char *envp[] = {dburl, NULL};
	char *argv[] = {SVC_AUTH_PATH, "promote-admin",
	    (char *) (uintptr_t) username, NULL};
	pid_t pid;
	int status = 0;
	posix_spawn_file_actions_t fa; /* its one line of output: not ours */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	assert_int_equal(
	    posix_spawn(&pid, SVC_AUTH_PATH, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A registered, logged-in user: id and access token. */
static void
make_user(const char *username, char *id, char *tok, size_t len)
{
	register_user(username, id);
	assert_int_equal(login(username, tok, len), CORE_OK);
}

static void
make_admin(const char *username, char *id, char *tok, size_t len)
{
	register_user(username, id);
	promote_admin(username);
	assert_int_equal(login(username, tok, len), CORE_OK);
}

static core_status
update_user(const char *token, const char *rid, const char *id, int status,
    int role, core_arena *a, Auth__V1__User **user, core_rpc_reply *reply)
{
	Admin__V1__UpdateUserRequest req =
	    ADMIN__V1__UPDATE_USER_REQUEST__INIT;
	req.id = (char *) (uintptr_t) id;
	if (status >= 0) {
		req.has_status_case =
		    ADMIN__V1__UPDATE_USER_REQUEST__HAS_STATUS_STATUS;
		req.status = (Auth__V1__UserStatus) status;
	}
	if (role >= 0) {
		req.has_role_case =
		    ADMIN__V1__UPDATE_USER_REQUEST__HAS_ROLE_ROLE;
		req.role = (Auth__V1__Role) role;
	}
	ProtobufCMessage *out = NULL;
	core_status st = call_md(&ADMIN, ADMIN_SVC "UpdateUser", &req.base,
	    &admin__v1__update_user_response__descriptor, &out, token, rid,
	    NULL, a, reply);
	if (user != NULL) {
		*user = st == CORE_OK
		            ? ((Admin__V1__UpdateUserResponse *) out)->user
		            : NULL;
	}
	return st;
}

/* The user as svc-auth has it, asked directly with the admin's token. */
static Auth__V1__AdminGetUserResponse *
auth_get_user(const char *id, core_arena *a)
{
	Auth__V1__AdminGetUserRequest req =
	    AUTH__V1__ADMIN_GET_USER_REQUEST__INIT;
	req.id = (char *) (uintptr_t) id;
	ProtobufCMessage *out = NULL;
	assert_int_equal(call(&AUTH, AUTH_SVC "AdminGetUser", &req.base,
	                     &auth__v1__admin_get_user_response__descriptor,
	                     &out, root_token, NULL, a),
	    CORE_OK);
	return (Auth__V1__AdminGetUserResponse *) out;
}

/* ---- Audit rows ----------------------------------------------------------
 */

typedef struct row {
	char actor_id[40];
	char actor_username[64];
	char action[64];
	char target[160];
	char outcome[16];
	char client_ip[64];
	json_t *detail;
} row;

/* The one audit row of request id rid (fails unless there is exactly one). */
static void
audit_row(const char *rid, row *r)
{
	const char *params[] = {rid};
	PGresult *res = PQexecParams(auditdb,
	    "SELECT coalesce(actor_id::text, ''), actor_username, action, "
	    "target, outcome, client_ip, detail::text FROM audit_log "
	    "WHERE request_id = $1",
	    1, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	if (PQntuples(res) != 1) {
		fail_msg("%d audit rows for request %s, want 1",
		    PQntuples(res), rid);
	}
	snprintf(
	    r->actor_id, sizeof(r->actor_id), "%s", PQgetvalue(res, 0, 0));
	snprintf(r->actor_username, sizeof(r->actor_username), "%s",
	    PQgetvalue(res, 0, 1));
	snprintf(r->action, sizeof(r->action), "%s", PQgetvalue(res, 0, 2));
	snprintf(r->target, sizeof(r->target), "%s", PQgetvalue(res, 0, 3));
	snprintf(r->outcome, sizeof(r->outcome), "%s", PQgetvalue(res, 0, 4));
	snprintf(
	    r->client_ip, sizeof(r->client_ip), "%s", PQgetvalue(res, 0, 5));
	json_error_t err;
	r->detail = json_loads(PQgetvalue(res, 0, 6), 0, &err);
	assert_non_null(r->detail);
	PQclear(res);
}

static long
audit_rows_of(const char *rid)
{
	return count_of(auditdb,
	    "SELECT count(*) FROM audit_log WHERE request_id = $1", rid, NULL);
}

static const char *
dstr(const row *r, const char *path1, const char *path2)
{
	json_t *v = json_object_get(r->detail, path1);
	if (path2 != NULL) {
		v = json_object_get(v, path2);
	}
	return json_is_string(v) ? json_string_value(v) : "";
}

static long
dint(const row *r, const char *key)
{
	json_t *v = json_object_get(r->detail, key);
	assert_true(json_is_integer(v));
	return (long) json_integer_value(v);
}

static void
expect_row(const char *rid, const char *action, const char *actor_id,
    const char *actor_username, const char *target, const char *outcome,
    row *r)
{
	audit_row(rid, r);
	assert_string_equal(r->action, action);
	assert_string_equal(r->actor_id, actor_id);
	assert_string_equal(r->actor_username, actor_username);
	assert_string_equal(r->target, target);
	assert_string_equal(r->outcome, outcome);
}

/* ---- Set-up --------------------------------------------------------------
 */

static int
setup_all(void **state)
{
	(void) state;
	maint = connect_db(need("TEST_PG_URL"));
	start(&AUTH, SVC_AUTH_PATH, "AUTH_RPC_LISTEN", "AUTH_DATABASE_URL",
	    "adminauth");
	const char *tmp = getenv("TEST_TMPDIR");
	snprintf(ADMIN.log, sizeof(ADMIN.log), "%s/test_admin_%d.log",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", (int) getpid());
	start(&ADMIN, SVC_ADMIN_PATH, "ADMIN_RPC_LISTEN", "ADMIN_DATABASE_URL",
	    "admin");
	authdb = connect_db(AUTH.dburl);
	auditdb = connect_db(ADMIN.dburl);
	make_admin("root", root_id, root_token, sizeof(root_token));
	return 0;
}

static int
teardown_all(void **state)
{
	(void) state;
	PQfinish(auditdb);
	PQfinish(authdb);
	stop(&ADMIN);
	stop(&AUTH);
	PQfinish(maint);
	/* Its log, for the test output; some tests read it. */
	FILE *f = fopen(ADMIN.log, "r");
	if (f != NULL) {
		char line[4096];
		while (fgets(line, sizeof(line), f) != NULL) {
			fputs(line, stderr);
		}
		fclose(f);
		unlink(ADMIN.log);
	}
	return 0;
}

/* ---- Tests ---------------------------------------------------------------
 */

static void
test_non_admin_is_denied_on_every_method_and_each_call_is_audited(void **state)
{
	(void) state;
	char id[40], tok[2048], rid[64];
	make_user("plain", id, tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	row r;

	Admin__V1__ListUsersRequest lu = ADMIN__V1__LIST_USERS_REQUEST__INIT;
	new_rid(rid, sizeof(rid));
	assert_int_equal(call(&ADMIN, ADMIN_SVC "ListUsers", &lu.base,
	                     &admin__v1__list_users_response__descriptor, &out,
	                     tok, rid, a),
	    CORE_PERMISSION_DENIED);
	expect_row(rid, "users.list", id, "plain", "", "denied", &r);
	assert_string_equal(dstr(&r, "code", NULL), "PERMISSION_DENIED");
	json_decref(r.detail);

	Admin__V1__GetUserRequest gu = ADMIN__V1__GET_USER_REQUEST__INIT;
	gu.id = root_id;
	new_rid(rid, sizeof(rid));
	assert_int_equal(
	    call(&ADMIN, ADMIN_SVC "GetUser", &gu.base,
	        &admin__v1__get_user_response__descriptor, &out, tok, rid, a),
	    CORE_PERMISSION_DENIED);
	expect_row(rid, "users.get", id, "plain", root_id, "denied", &r);
	json_decref(r.detail);

	/* Making oneself an admin is the obvious attempt. */
	new_rid(rid, sizeof(rid));
	assert_int_equal(update_user(tok, rid, id, -1,
	                     AUTH__V1__ROLE__ROLE_ADMIN, a, NULL, NULL),
	    CORE_PERMISSION_DENIED);
	expect_row(rid, "users.update", id, "plain", id, "denied", &r);
	assert_string_equal(dstr(&r, "requested", "role"), "admin");
	json_decref(r.detail);

	Admin__V1__RevokeSessionsRequest rs =
	    ADMIN__V1__REVOKE_SESSIONS_REQUEST__INIT;
	rs.id = root_id;
	new_rid(rid, sizeof(rid));
	assert_int_equal(call(&ADMIN, ADMIN_SVC "RevokeSessions", &rs.base,
	                     &admin__v1__revoke_sessions_response__descriptor,
	                     &out, tok, rid, a),
	    CORE_PERMISSION_DENIED);
	expect_row(
	    rid, "users.revoke_sessions", id, "plain", root_id, "denied", &r);
	json_decref(r.detail);

	Admin__V1__ListAuditRequest la = ADMIN__V1__LIST_AUDIT_REQUEST__INIT;
	new_rid(rid, sizeof(rid));
	assert_int_equal(call(&ADMIN, ADMIN_SVC "ListAudit", &la.base,
	                     &admin__v1__list_audit_response__descriptor, &out,
	                     tok, rid, a),
	    CORE_PERMISSION_DENIED);
	expect_row(rid, "audit.list", id, "plain", "", "denied", &r);
	json_decref(r.detail);

	/* Nothing reached svc-auth: the user is still a plain user. */
	Auth__V1__AdminGetUserResponse *u = auth_get_user(id, a);
	assert_int_equal(u->user->role, AUTH__V1__ROLE__ROLE_USER);
	core_arena_free(a);
}

static bool admin_logged(const char *needle1, const char *needle2);

/* Calls any client can make without an account: answered, counted and
 * logged, but no audit row (the table is never cleaned, so rows for them
 * would let anyone fill it). */
static void
test_missing_or_bad_token_is_unauthenticated_and_not_audited(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	char rid[64];
	Admin__V1__ListUsersRequest lu = ADMIN__V1__LIST_USERS_REQUEST__INIT;
	long rows_before =
	    count_of(auditdb, "SELECT count(*) FROM audit_log", NULL, NULL);

	new_rid(rid, sizeof(rid));
	assert_int_equal(call_md(&ADMIN, ADMIN_SVC "ListUsers", &lu.base,
	                     &admin__v1__list_users_response__descriptor, &out,
	                     NULL, rid, "203.0.113.7", a, &reply),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(audit_rows_of(rid), 0);
	assert_true(admin_logged(rid, "refused without a verified token"));
	assert_true(admin_logged(rid, "\"client_ip\":\"203.0.113.7\""));

	/* A forged token: no row either, whoever it claims to be. */
	new_rid(rid, sizeof(rid));
	char forged[2100];
	snprintf(forged, sizeof(forged), "%s", root_token);
	char *dot = strrchr(forged, '.');
	dot[3] = dot[3] == 'A' ? 'B' : 'A';
	assert_int_equal(call_md(&ADMIN, ADMIN_SVC "ListUsers", &lu.base,
	                     &admin__v1__list_users_response__descriptor, &out,
	                     forged, rid, "2001:db8::1", a, &reply),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(audit_rows_of(rid), 0);
	assert_true(admin_logged(rid, "refused without a verified token"));

	/* What is not an address is not logged as one. */
	new_rid(rid, sizeof(rid));
	assert_int_equal(
	    call_md(&ADMIN, ADMIN_SVC "ListUsers", &lu.base,
	        &admin__v1__list_users_response__descriptor, &out, "garbage",
	        rid, "1.2.3.4'; DROP TABLE x", a, &reply),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(audit_rows_of(rid), 0);
	assert_true(admin_logged(rid, "\"client_ip\":\"\""));

	/* A flood of them leaves the table as it was. */
	for (int i = 0; i < 50; i++) {
		assert_int_equal(
		    call(&ADMIN, ADMIN_SVC "ListUsers", &lu.base,
		        &admin__v1__list_users_response__descriptor, &out,
		        i % 2 ? "garbage" : NULL, NULL, a),
		    CORE_UNAUTHENTICATED);
	}
	assert_int_equal(
	    count_of(auditdb, "SELECT count(*) FROM audit_log", NULL, NULL),
	    rows_before);
	core_arena_free(a);
}

/* Rows of callers with an account keep what the request held, bounded,
 * and get a request id when the call brought none. */
static void
test_refused_account_row_is_bounded_and_has_a_request_id(void **state)
{
	(void) state;
	char id[40], tok[2048], rid[64];
	make_user("bounded", id, tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	row r;

	/* Anyone with an account can send a megabyte; the row keeps 128
	 * bytes of it. */
	char *big = malloc(1 << 20);
	memset(big, 'q', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	Admin__V1__ListUsersRequest huge = ADMIN__V1__LIST_USERS_REQUEST__INIT;
	huge.query = big;
	new_rid(rid, sizeof(rid));
	assert_int_equal(call(&ADMIN, ADMIN_SVC "ListUsers", &huge.base,
	                     &admin__v1__list_users_response__descriptor, &out,
	                     tok, rid, a),
	    CORE_PERMISSION_DENIED);
	free(big);
	expect_row(rid, "users.list", id, "bounded", "", "denied", &r);
	assert_int_equal(strlen(dstr(&r, "query", NULL)), 128);
	json_decref(r.detail);

	/* A call without a request id still gets one in its row. */
	Admin__V1__ListUsersRequest lu = ADMIN__V1__LIST_USERS_REQUEST__INIT;
	long before = count_of(auditdb,
	    "SELECT count(*) FROM audit_log WHERE request_id ~ "
	    "'^[0-9a-f]{32}$'",
	    NULL, NULL);
	assert_int_equal(call(&ADMIN, ADMIN_SVC "ListUsers", &lu.base,
	                     &admin__v1__list_users_response__descriptor, &out,
	                     tok, NULL, a),
	    CORE_PERMISSION_DENIED);
	assert_int_equal(count_of(auditdb,
	                     "SELECT count(*) FROM audit_log "
	                     "WHERE request_id ~ '^[0-9a-f]{32}$'",
	                     NULL, NULL),
	    before + 1);
	core_arena_free(a);
}

static void
test_admin_lists_gets_updates_and_revokes_and_each_is_audited(void **state)
{
	(void) state;
	char id[40], tok[2048], tok2[2048], rid[64];
	make_user("alice", id, tok, sizeof(tok));
	assert_int_equal(login("alice", tok2, sizeof(tok2)), CORE_OK);
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	row r;

	Admin__V1__ListUsersRequest lu = ADMIN__V1__LIST_USERS_REQUEST__INIT;
	lu.query = "ALI";
	new_rid(rid, sizeof(rid));
	assert_int_equal(call_md(&ADMIN, ADMIN_SVC "ListUsers", &lu.base,
	                     &admin__v1__list_users_response__descriptor, &out,
	                     root_token, rid, "198.51.100.2", a, NULL),
	    CORE_OK);
	Admin__V1__ListUsersResponse *l = (Admin__V1__ListUsersResponse *) out;
	assert_int_equal(l->n_users, 1);
	assert_string_equal(l->users[0]->username, "alice");
	expect_row(rid, "users.list", root_id, "root", "", "ok", &r);
	assert_string_equal(dstr(&r, "query", NULL), "ALI");
	assert_string_equal(r.client_ip, "198.51.100.2");
	json_decref(r.detail);

	Admin__V1__GetUserRequest gu = ADMIN__V1__GET_USER_REQUEST__INIT;
	gu.id = id;
	new_rid(rid, sizeof(rid));
	assert_int_equal(call(&ADMIN, ADMIN_SVC "GetUser", &gu.base,
	                     &admin__v1__get_user_response__descriptor, &out,
	                     root_token, rid, a),
	    CORE_OK);
	Admin__V1__GetUserResponse *g = (Admin__V1__GetUserResponse *) out;
	assert_string_equal(g->user->username, "alice");
	assert_int_equal(g->n_sessions, 2);
	expect_row(rid, "users.get", root_id, "root", id, "ok", &r);
	assert_int_equal(dint(&r, "sessions"), 2);
	json_decref(r.detail);

	Auth__V1__User *after = NULL;
	new_rid(rid, sizeof(rid));
	assert_int_equal(update_user(root_token, rid, id, -1,
	                     AUTH__V1__ROLE__ROLE_ADMIN, a, &after, NULL),
	    CORE_OK);
	assert_int_equal(after->role, AUTH__V1__ROLE__ROLE_ADMIN);
	assert_int_equal(
	    after->status, AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE);
	expect_row(rid, "users.update", root_id, "root", id, "ok", &r);
	assert_string_equal(dstr(&r, "before", "role"), "user");
	assert_string_equal(dstr(&r, "before", "status"), "active");
	assert_string_equal(dstr(&r, "after", "role"), "admin");
	assert_string_equal(dstr(&r, "after", "status"), "active");
	assert_int_equal(dint(&r, "sessions_revoked"), 0);
	json_decref(r.detail);
	assert_int_equal(
	    auth_get_user(id, a)->user->role, AUTH__V1__ROLE__ROLE_ADMIN);

	new_rid(rid, sizeof(rid));
	assert_int_equal(update_user(root_token, rid, id, -1,
	                     AUTH__V1__ROLE__ROLE_USER, a, &after, NULL),
	    CORE_OK);
	assert_int_equal(after->role, AUTH__V1__ROLE__ROLE_USER);
	expect_row(rid, "users.update", root_id, "root", id, "ok", &r);
	assert_string_equal(dstr(&r, "before", "role"), "admin");
	assert_string_equal(dstr(&r, "after", "role"), "user");
	json_decref(r.detail);

	Admin__V1__RevokeSessionsRequest rs =
	    ADMIN__V1__REVOKE_SESSIONS_REQUEST__INIT;
	rs.id = id;
	new_rid(rid, sizeof(rid));
	assert_int_equal(call(&ADMIN, ADMIN_SVC "RevokeSessions", &rs.base,
	                     &admin__v1__revoke_sessions_response__descriptor,
	                     &out, root_token, rid, a),
	    CORE_OK);
	assert_int_equal(
	    ((Admin__V1__RevokeSessionsResponse *) out)->revoked, 2);
	expect_row(
	    rid, "users.revoke_sessions", root_id, "root", id, "ok", &r);
	assert_int_equal(dint(&r, "revoked"), 2);
	json_decref(r.detail);
	assert_int_equal(auth_get_user(id, a)->n_sessions, 0);
	core_arena_free(a);
}

static void
test_disabling_a_user_stops_their_token_at_once_and_their_login(void **state)
{
	(void) state;
	char id[40], tok[2048], rid[64];
	make_user("bob", id, tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	Auth__V1__CheckTokenRequest ct = AUTH__V1__CHECK_TOKEN_REQUEST__INIT;
	ct.token = tok;
	assert_int_equal(call(&AUTH, AUTH_SVC "CheckToken", &ct.base,
	                     &auth__v1__check_token_response__descriptor, &out,
	                     NULL, NULL, a),
	    CORE_OK);

	Auth__V1__User *after = NULL;
	new_rid(rid, sizeof(rid));
	assert_int_equal(update_user(root_token, rid, id,
	                     AUTH__V1__USER_STATUS__USER_STATUS_DISABLED, -1,
	                     a, &after, NULL),
	    CORE_OK);
	assert_int_equal(
	    after->status, AUTH__V1__USER_STATUS__USER_STATUS_DISABLED);
	row r;
	expect_row(rid, "users.update", root_id, "root", id, "ok", &r);
	assert_string_equal(dstr(&r, "before", "status"), "active");
	assert_string_equal(dstr(&r, "after", "status"), "disabled");
	assert_int_equal(dint(&r, "sessions_revoked"), 1);
	json_decref(r.detail);

	/* At once: no waiting for the access token to expire. */
	assert_int_equal(call(&AUTH, AUTH_SVC "CheckToken", &ct.base,
	                     &auth__v1__check_token_response__descriptor, &out,
	                     NULL, NULL, a),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(login("bob", NULL, 0), CORE_PERMISSION_DENIED);

	new_rid(rid, sizeof(rid));
	assert_int_equal(update_user(root_token, rid, id,
	                     AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE, -1, a,
	                     &after, NULL),
	    CORE_OK);
	char fresh[2048];
	assert_int_equal(login("bob", fresh, sizeof(fresh)), CORE_OK);
	/* The old token stays dead after re-enabling. */
	assert_int_equal(call(&AUTH, AUTH_SVC "CheckToken", &ct.base,
	                     &auth__v1__check_token_response__descriptor, &out,
	                     NULL, NULL, a),
	    CORE_UNAUTHENTICATED);
	core_arena_free(a);
}

static void
test_svc_auth_errors_pass_through_and_are_audited_as_failed(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	char rid[64];
	row r;
	const char *nobody = "00000000-0000-4000-8000-000000000000";

	Admin__V1__GetUserRequest gu = ADMIN__V1__GET_USER_REQUEST__INIT;
	gu.id = (char *) (uintptr_t) nobody;
	new_rid(rid, sizeof(rid));
	assert_int_equal(call(&ADMIN, ADMIN_SVC "GetUser", &gu.base,
	                     &admin__v1__get_user_response__descriptor, &out,
	                     root_token, rid, a),
	    CORE_NOT_FOUND);
	expect_row(rid, "users.get", root_id, "root", nobody, "failed", &r);
	assert_string_equal(dstr(&r, "code", NULL), "NOT_FOUND");
	json_decref(r.detail);

	/* A failed mutation leaves one row, the failure (the intended row
	 * is gone with its savepoint). */
	new_rid(rid, sizeof(rid));
	assert_int_equal(update_user(root_token, rid, nobody,
	                     AUTH__V1__USER_STATUS__USER_STATUS_DISABLED, -1,
	                     a, NULL, &reply),
	    CORE_NOT_FOUND);
	expect_row(rid, "users.update", root_id, "root", nobody, "failed", &r);
	assert_string_equal(dstr(&r, "code", NULL), "NOT_FOUND");
	assert_string_equal(dstr(&r, "requested", "status"), "disabled");
	json_decref(r.detail);

	/* svc-auth's field details come through unchanged. */
	new_rid(rid, sizeof(rid));
	assert_int_equal(update_user(root_token, rid, "not-a-uuid",
	                     AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE, -1, a,
	                     NULL, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(reply.n_details, 1);
	assert_string_equal(reply.detail_fields[0], "id");
	expect_row(
	    rid, "users.update", root_id, "root", "not-a-uuid", "failed", &r);
	assert_string_equal(dstr(&r, "code", NULL), "INVALID_ARGUMENT");
	json_decref(r.detail);

	/* The last admin cannot be demoted: FAILED_PRECONDITION. */
	new_rid(rid, sizeof(rid));
	core_status st = update_user(root_token, rid, root_id, -1,
	    AUTH__V1__ROLE__ROLE_USER, a, NULL, &reply);
	if (count_of(authdb,
	        "SELECT count(*) FROM users WHERE role = 'admin' "
	        "AND status = 'active'",
	        NULL, NULL) == 1) {
		assert_int_equal(st, CORE_FAILED_PRECONDITION);
		expect_row(rid, "users.update", root_id, "root", root_id,
		    "failed", &r);
		json_decref(r.detail);
	}

	/* Checked here before anything is written or called. */
	new_rid(rid, sizeof(rid));
	assert_int_equal(
	    update_user(root_token, rid, root_id, -1, -1, a, NULL, &reply),
	    CORE_INVALID_ARGUMENT);
	expect_row(
	    rid, "users.update", root_id, "root", root_id, "failed", &r);
	json_decref(r.detail);
	new_rid(rid, sizeof(rid));
	assert_int_equal(
	    update_user(root_token, rid, root_id, 7, 9, a, NULL, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(reply.n_details, 2);
	assert_string_equal(reply.detail_fields[0], "status");
	assert_string_equal(reply.detail_fields[1], "role");
	expect_row(
	    rid, "users.update", root_id, "root", root_id, "failed", &r);
	assert_true(json_array_size(json_object_get(r.detail, "fields")) == 2);
	json_decref(r.detail);
	core_arena_free(a);
}

static void
test_a_demoted_admin_token_is_refused_by_the_database_check(void **state)
{
	(void) state;
	char id[40], tok[2048], rid[64];
	make_admin("demoted", id, tok, sizeof(tok));
	/* Behind svc-auth's back, so the token still says admin. */
	pg_ok(authdb,
	    "UPDATE users SET role = 'user' WHERE username = 'demoted'");
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	row r;
	Admin__V1__ListUsersRequest lu = ADMIN__V1__LIST_USERS_REQUEST__INIT;
	new_rid(rid, sizeof(rid));
	assert_int_equal(call(&ADMIN, ADMIN_SVC "ListUsers", &lu.base,
	                     &admin__v1__list_users_response__descriptor, &out,
	                     tok, rid, a),
	    CORE_PERMISSION_DENIED);
	expect_row(rid, "users.list", id, "demoted", "", "denied", &r);
	json_decref(r.detail);
	Admin__V1__ListAuditRequest la = ADMIN__V1__LIST_AUDIT_REQUEST__INIT;
	new_rid(rid, sizeof(rid));
	assert_int_equal(call(&ADMIN, ADMIN_SVC "ListAudit", &la.base,
	                     &admin__v1__list_audit_response__descriptor, &out,
	                     tok, rid, a),
	    CORE_PERMISSION_DENIED);
	expect_row(rid, "audit.list", id, "demoted", "", "denied", &r);
	json_decref(r.detail);
	core_arena_free(a);
}

static core_status
list_audit(Admin__V1__ListAuditRequest *req, core_arena *a,
    Admin__V1__ListAuditResponse **resp, core_rpc_reply *reply)
{
	ProtobufCMessage *out = NULL;
	core_status st = call_md(&ADMIN, ADMIN_SVC "ListAudit", &req->base,
	    &admin__v1__list_audit_response__descriptor, &out, root_token,
	    NULL, NULL, a, reply);
	*resp = st == CORE_OK ? (Admin__V1__ListAuditResponse *) out : NULL;
	return st;
}

/* Pages through ListAudit with req's filters; returns the number of
 * entries, checking ids strictly decrease across pages. */
static size_t
page_through(Admin__V1__ListAuditRequest *req, core_arena *a, size_t *pages)
{
	size_t n = 0;
	int64_t last = INT64_MAX;
	*pages = 0;
	req->page_token = "";
	for (;;) {
		Admin__V1__ListAuditResponse *resp = NULL;
		assert_int_equal(list_audit(req, a, &resp, NULL), CORE_OK);
		(*pages)++;
		for (size_t i = 0; i < resp->n_entries; i++) {
			assert_true(resp->entries[i]->id < last);
			last = resp->entries[i]->id;
		}
		n += resp->n_entries;
		if (resp->next_page_token[0] == '\0') {
			return n;
		}
		req->page_token = resp->next_page_token;
	}
}

static void
test_list_audit_filters_and_pages_newest_first(void **state)
{
	(void) state;
	char carol[40], ctok[2048], dan[40], dtok[2048];
	make_user("carol", carol, ctok, sizeof(ctok));
	make_user("dan", dan, dtok, sizeof(dtok));
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	/* 3 refused calls by carol; 7 reads of dan by root. */
	Admin__V1__GetUserRequest gu = ADMIN__V1__GET_USER_REQUEST__INIT;
	gu.id = dan;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(call(&ADMIN, ADMIN_SVC "GetUser", &gu.base,
		                     &admin__v1__get_user_response__descriptor,
		                     &out, ctok, NULL, a),
		    CORE_PERMISSION_DENIED);
	}
	for (int i = 0; i < 7; i++) {
		assert_int_equal(call(&ADMIN, ADMIN_SVC "GetUser", &gu.base,
		                     &admin__v1__get_user_response__descriptor,
		                     &out, root_token, NULL, a),
		    CORE_OK);
	}
	size_t pages = 0;
	Admin__V1__ListAuditRequest req = ADMIN__V1__LIST_AUDIT_REQUEST__INIT;
	req.target = dan;
	req.page_size = 3;
	assert_int_equal(page_through(&req, a, &pages), 10);
	assert_int_equal(pages, 4);

	/* The newest first: root's reads came last. */
	Admin__V1__ListAuditResponse *resp = NULL;
	req.page_token = "";
	assert_int_equal(list_audit(&req, a, &resp, NULL), CORE_OK);
	assert_int_equal(resp->n_entries, 3);
	assert_string_equal(resp->entries[0]->actor_username, "root");
	assert_string_equal(resp->entries[0]->outcome, "ok");
	assert_string_equal(resp->entries[0]->action, "users.get");
	assert_string_equal(resp->entries[0]->target, dan);
	assert_true(resp->entries[0]->time != NULL);
	/* The detail is the stored object, as a Struct (not JSON text). */
	assert_non_null(resp->entries[0]->detail);
	json_t *d = core_pb_to_json_value(&resp->entries[0]->detail->base);
	row stored;
	audit_row(resp->entries[0]->request_id, &stored);
	assert_true(json_is_object(d));
	assert_true(json_object_size(d) > 0);
	assert_true(json_equal(d, stored.detail));
	json_decref(d);
	json_decref(stored.detail);

	/* actor by username (any case) or by id. */
	Admin__V1__ListAuditRequest by = ADMIN__V1__LIST_AUDIT_REQUEST__INIT;
	by.actor = "Carol";
	assert_int_equal(page_through(&by, a, &pages), 3);
	by.actor = carol;
	assert_int_equal(page_through(&by, a, &pages), 3);
	by.action = "users.get";
	assert_int_equal(page_through(&by, a, &pages), 3);
	by.action = "users.list";
	assert_int_equal(page_through(&by, a, &pages), 0);

	/* action and target together; since. */
	Admin__V1__ListAuditRequest act = ADMIN__V1__LIST_AUDIT_REQUEST__INIT;
	act.action = "users.get";
	act.target = dan;
	assert_int_equal(page_through(&act, a, &pages), 10);
	assert_int_equal(pages, 1);
	char since[32];
	value_of(auditdb,
	    "SELECT extract(epoch FROM time)::bigint + 3600 FROM audit_log "
	    "ORDER BY id DESC LIMIT 1",
	    NULL, NULL, since, sizeof(since));
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = strtoll(since, NULL, 10);
	act.since = &ts;
	assert_int_equal(page_through(&act, a, &pages), 0);
	/* since = the time of dan's 5th row: rows 5..10 (times of rows
	 * written in one microsecond could tie: at least 6). */
	value_of(auditdb,
	    "SELECT (extract(epoch FROM time) * 1000000)::bigint FROM "
	    "audit_log "
	    "WHERE target = $1 ORDER BY id LIMIT 1 OFFSET 4",
	    dan, NULL, since, sizeof(since));
	long long us = strtoll(since, NULL, 10);
	ts.seconds = us / 1000000;
	ts.nanos = (int32_t) (us % 1000000) * 1000;
	size_t n = page_through(&act, a, &pages);
	assert_true(n >= 6 && n <= 10);

	/* A token is bound to its filters; page_size has bounds. */
	core_rpc_reply reply;
	req.page_token = "";
	assert_int_equal(list_audit(&req, a, &resp, NULL), CORE_OK);
	Admin__V1__ListAuditRequest other =
	    ADMIN__V1__LIST_AUDIT_REQUEST__INIT;
	other.page_token = resp->next_page_token;
	other.page_size = 3;
	assert_int_equal(
	    list_audit(&other, a, &resp, &reply), CORE_INVALID_ARGUMENT);
	assert_string_equal(reply.detail_fields[0], "page_token");
	other.page_token = "AAAA";
	assert_int_equal(
	    list_audit(&other, a, &resp, &reply), CORE_INVALID_ARGUMENT);
	other.page_token = "";
	other.page_size = 201;
	assert_int_equal(
	    list_audit(&other, a, &resp, &reply), CORE_INVALID_ARGUMENT);
	assert_string_equal(reply.detail_fields[0], "page_size");
	other.page_size = -1;
	assert_int_equal(
	    list_audit(&other, a, &resp, &reply), CORE_INVALID_ARGUMENT);
	other.page_size = 0; /* 50 */
	long total =
	    count_of(auditdb, "SELECT count(*) FROM audit_log", NULL, NULL);
	assert_int_equal(list_audit(&other, a, &resp, &reply), CORE_OK);
	assert_int_equal(resp->n_entries, total < 50 ? total : 50);
	assert_int_equal(resp->next_page_token[0] != '\0', total > 50);
	other.page_size = 200;
	assert_int_equal(list_audit(&other, a, &resp, &reply), CORE_OK);

	/* Reading the log is audited too, with its filters. */
	long lists = count_of(auditdb,
	    "SELECT count(*) FROM audit_log WHERE action = 'audit.list' "
	    "AND actor_id = $1::uuid AND outcome = 'ok' "
	    "AND detail->>'target' = $2",
	    root_id, dan);
	assert_true(lists >= 4);
	core_arena_free(a);
}

static void
test_audit_log_refuses_update_delete_truncate_even_for_the_superuser(
    void **state)
{
	(void) state;
	static const char *const refused[] = {
	    "UPDATE audit_log SET outcome = 'ok'",
	    "UPDATE audit_log SET outcome = 'ok' WHERE false",
	    "DELETE FROM audit_log",
	    "DELETE FROM audit_log WHERE id = -1",
	    "TRUNCATE audit_log",
	};
	long rows =
	    count_of(auditdb, "SELECT count(*) FROM audit_log", NULL, NULL);
	assert_true(rows > 0);
	char buf[8];
	assert_string_equal(value_of(auditdb,
	                        "SELECT rolsuper::text FROM pg_roles WHERE "
	                        "rolname = current_user",
	                        NULL, NULL, buf, sizeof(buf)),
	    "true");
	for (int replica = 0; replica < 2; replica++) {
		/* replica: the setting that turns ordinary triggers off. */
		pg_ok(auditdb, replica
		                   ? "SET session_replication_role = replica"
		                   : "SET session_replication_role = origin");
		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]);
		     i++) {
			PGresult *r = PQexec(auditdb, refused[i]);
			if (PQresultStatus(r) != PGRES_FATAL_ERROR) {
				fail_msg("%s succeeded", refused[i]);
			}
			assert_non_null(
			    strstr(PQresultErrorMessage(r), "append-only"));
			PQclear(r);
		}
	}
	pg_ok(auditdb, "RESET session_replication_role");
	assert_int_equal(
	    count_of(auditdb, "SELECT count(*) FROM audit_log", NULL, NULL),
	    rows);
}

static void
test_the_app_role_may_only_read_and_append(void **state)
{
	(void) state;
	pg_ok(auditdb, "SET ROLE microcore_admin_app");
	static const char *const refused[] = {
	    "UPDATE audit_log SET outcome = 'ok'",
	    "DELETE FROM audit_log",
	    "TRUNCATE audit_log",
	    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
	    "DROP TABLE audit_log",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		PGresult *r = PQexec(auditdb, refused[i]);
		if (PQresultStatus(r) != PGRES_FATAL_ERROR) {
			fail_msg("%s succeeded as the app role", refused[i]);
		}
		/* 42501 insufficient_privilege (or must be owner) */
		const char *state_ = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		assert_string_equal(state_, "42501");
		PQclear(r);
	}
	pg_ok(auditdb, "SELECT count(*) FROM audit_log");
	pg_ok(auditdb, "RESET ROLE");
	/* That svc-admin's own sessions run as this role, although it
	 * connects as the superuser, is what the next-but-one test shows: a
	 * grant taken from the role stops its writes. */
}

static void
test_admindb_unreachable_update_is_unavailable_and_nothing_changes(
    void **state)
{
	(void) state;
	char id[40], tok[2048], rid[64];
	make_user("erin", id, tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	PQfinish(auditdb);
	auditdb = NULL;
	db_reachable(maint, ADMIN.db, false);
	assert_int_equal(serving(ADMIN.cli), CORE_UNAVAILABLE);

	new_rid(rid, sizeof(rid));
	assert_int_equal(update_user(root_token, rid, id,
	                     AUTH__V1__USER_STATUS__USER_STATUS_DISABLED, -1,
	                     a, NULL, &reply),
	    CORE_UNAVAILABLE);
	Admin__V1__RevokeSessionsRequest rs =
	    ADMIN__V1__REVOKE_SESSIONS_REQUEST__INIT;
	rs.id = id;
	assert_int_equal(call(&ADMIN, ADMIN_SVC "RevokeSessions", &rs.base,
	                     &admin__v1__revoke_sessions_response__descriptor,
	                     &out, root_token, NULL, a),
	    CORE_UNAVAILABLE);
	/* Reads give no data they cannot account for either. */
	Admin__V1__GetUserRequest gu = ADMIN__V1__GET_USER_REQUEST__INIT;
	gu.id = id;
	assert_int_equal(call(&ADMIN, ADMIN_SVC "GetUser", &gu.base,
	                     &admin__v1__get_user_response__descriptor, &out,
	                     root_token, NULL, a),
	    CORE_UNAVAILABLE);

	/* svc-auth was never asked: still active, session and token live. */
	Auth__V1__AdminGetUserResponse *u = auth_get_user(id, a);
	assert_int_equal(
	    u->user->status, AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE);
	assert_int_equal(u->n_sessions, 1);
	assert_int_equal(login("erin", NULL, 0), CORE_OK);

	db_reachable(maint, ADMIN.db, true);
	wait_serving(ADMIN.cli, 300); /* up to 30 s on a loaded machine */
	auditdb = connect_db(ADMIN.dburl);
	assert_int_equal(audit_rows_of(rid), 0);
	core_arena_free(a);
}

static void
test_audit_insert_refused_means_the_action_is_not_performed(void **state)
{
	(void) state;
	char id[40], tok[2048], rid[64];
	make_user("frank", id, tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	/* admindb answers, but will not take the row. */
	pg_ok(auditdb, "REVOKE INSERT ON audit_log FROM microcore_admin_app");
	new_rid(rid, sizeof(rid));
	core_status st = update_user(root_token, rid, id,
	    AUTH__V1__USER_STATUS__USER_STATUS_DISABLED, -1, a, NULL, &reply);
	pg_ok(auditdb, "GRANT INSERT ON audit_log TO microcore_admin_app");
	assert_int_equal(st, CORE_UNAVAILABLE);
	assert_non_null(strstr(reply.message, "nothing was changed"));
	assert_int_equal(audit_rows_of(rid), 0);
	assert_int_equal(auth_get_user(id, a)->user->status,
	    AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE);
	/* And with the grant back, the same call goes through. */
	new_rid(rid, sizeof(rid));
	assert_int_equal(update_user(root_token, rid, id,
	                     AUTH__V1__USER_STATUS__USER_STATUS_DISABLED, -1,
	                     a, NULL, &reply),
	    CORE_OK);
	assert_int_equal(audit_rows_of(rid), 1);
	core_arena_free(a);
}

/* Whether svc-admin's log has a line holding both needles. */
static bool
admin_logged(const char *needle1, const char *needle2)
{
	FILE *f = fopen(ADMIN.log, "r");
	assert_non_null(f);
	char line[8192];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		found = strstr(line, needle1) != NULL &&
		        strstr(line, needle2) != NULL;
	}
	fclose(f);
	return found;
}

/* The known gap, made to happen: svc-auth acts, then admindb refuses the
 * final row. The action stands, the call answers OK, and the whole row is
 * in svc-admin's log. */
static void
test_action_done_but_final_row_refused_is_logged_whole(void **state)
{
	(void) state;
	char id[40], tok[2048], rid[64];
	make_user("gina", id, tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	/* Refuses only the row of a done update (it has "before"), not the
	 * intended row written before the call. */
	pg_ok(auditdb,
	    "CREATE FUNCTION refuse_done() RETURNS trigger LANGUAGE plpgsql "
	    "AS $$ BEGIN IF NEW.detail ? 'before' THEN "
	    "RAISE EXCEPTION 'refused for the test'; END IF; "
	    "RETURN NEW; END $$");
	pg_ok(auditdb, "CREATE TRIGGER refuse_done BEFORE INSERT ON audit_log "
	               "FOR EACH ROW EXECUTE FUNCTION refuse_done()");
	new_rid(rid, sizeof(rid));
	Auth__V1__User *after = NULL;
	core_status st = update_user(root_token, rid, id,
	    AUTH__V1__USER_STATUS__USER_STATUS_DISABLED, -1, a, &after, NULL);
	pg_ok(auditdb, "DROP TRIGGER refuse_done ON audit_log");
	pg_ok(auditdb, "DROP FUNCTION refuse_done()");
	assert_int_equal(st, CORE_OK);
	assert_int_equal(
	    after->status, AUTH__V1__USER_STATUS__USER_STATUS_DISABLED);
	assert_int_equal(auth_get_user(id, a)->user->status,
	    AUTH__V1__USER_STATUS__USER_STATUS_DISABLED);
	assert_int_equal(audit_rows_of(rid), 0);
	/* The log line carries the request id and the row's detail. */
	assert_true(
	    admin_logged("admin action done but its audit row was lost", rid));
	assert_true(
	    admin_logged(rid, "\\\"after\\\":{\\\"status\\\":\\\"disabled"));
	core_arena_free(a);
}

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *) x, *(char *const *) y);
}

static void
test_list_users_pages_through_1000_users_each_exactly_once(void **state)
{
	(void) state;
	pg_ok(authdb, "INSERT INTO users (username, email, password_hash) "
	              "SELECT 'bulk' || lpad(g::text, 4, '0'), "
	              "'bulk' || g || '@example.com', "
	              "'$argon2id$v=19$m=19456,t=2,p=1$x$y' "
	              "FROM generate_series(1, 1000) g");
	enum { N = 1000 };
	static const int sizes[] = {37, 200, 0};
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		core_arena *a = core_arena_new(0);
		char **seen = calloc(N + 1, sizeof(*seen));
		size_t n = 0, pages = 0;
		Admin__V1__ListUsersRequest req =
		    ADMIN__V1__LIST_USERS_REQUEST__INIT;
		req.query = "bulk";
		req.page_size = sizes[s];
		for (;;) {
			ProtobufCMessage *out = NULL;
			assert_int_equal(
			    call(&ADMIN, ADMIN_SVC "ListUsers", &req.base,
			        &admin__v1__list_users_response__descriptor,
			        &out, root_token, NULL, a),
			    CORE_OK);
			Admin__V1__ListUsersResponse *l =
			    (Admin__V1__ListUsersResponse *) out;
			pages++;
			for (size_t i = 0; i < l->n_users; i++) {
				assert_true(n < N);
				seen[n++] = l->users[i]->username;
			}
			if (l->next_page_token[0] == '\0') {
				break;
			}
			req.page_token = l->next_page_token;
		}
		assert_int_equal(n, N);
		int size = sizes[s] ? sizes[s] : 50;
		assert_int_equal(pages, (N + size - 1) / size);
		qsort(seen, n, sizeof(*seen), cmp_str);
		for (size_t i = 0; i < n; i++) {
			char want[32];
			snprintf(want, sizeof(want), "bulk%04zu", i + 1);
			assert_string_equal(seen[i], want);
		}
		free(seen);
		core_arena_free(a);
	}
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	core_log_init("test_admin", CORE_LOG_WARN, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_non_admin_is_denied_on_every_method_and_each_call_is_audited),
	    cmocka_unit_test(
	        test_missing_or_bad_token_is_unauthenticated_and_not_audited),
	    cmocka_unit_test(
	        test_refused_account_row_is_bounded_and_has_a_request_id),
	    cmocka_unit_test(
	        test_admin_lists_gets_updates_and_revokes_and_each_is_audited),
	    cmocka_unit_test(
	        test_disabling_a_user_stops_their_token_at_once_and_their_login),
	    cmocka_unit_test(
	        test_svc_auth_errors_pass_through_and_are_audited_as_failed),
	    cmocka_unit_test(
	        test_a_demoted_admin_token_is_refused_by_the_database_check),
	    cmocka_unit_test(test_list_audit_filters_and_pages_newest_first),
	    cmocka_unit_test(
	        test_audit_log_refuses_update_delete_truncate_even_for_the_superuser),
	    cmocka_unit_test(test_the_app_role_may_only_read_and_append),
	    cmocka_unit_test(
	        test_audit_insert_refused_means_the_action_is_not_performed),
	    cmocka_unit_test(
	        test_list_users_pages_through_1000_users_each_exactly_once),
	    cmocka_unit_test(
	        test_action_done_but_final_row_refused_is_logged_whole),
	    /* Last: afterwards a worker may still hold a connection the
	     * outage broke, and its next call answers UNAVAILABLE once
	     * (docs/internals/store.md). */
	    cmocka_unit_test(
	        test_admindb_unreachable_update_is_unavailable_and_nothing_changes),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
