/* The administration side of AuthService (AdminListUsers, AdminGetUser,
 * AdminUpdateUser, AdminRevokeSessions) and "svc-auth promote-admin", with
 * svc-auth as a process on a database of its own on the test PostgreSQL and
 * on the test Redis (both started by scripts/test.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"
#include <libpq-fe.h>

#include "auth/v1/auth.pb-c.h"

#include "core/log.h"
#include "core/rpc.h"

#define TEST_KEK "dGVzdC1rZWstMzItYnl0ZXMtbG9uZy0xMjM0NTY3ODk="
#define PASSWORD "correct horse battery"
#define UNSET (-1)

typedef struct env {
	char db_name[64];
	char db_url[256];
	char url[64];
	char log_path[256];
	char tmp[200];
	pid_t pid;
	PGconn *server; /* superuser connection to the test server */
	PGconn *db;     /* the test's database */
	core_rpc_client *cli;
} env;

static env E;

/* ---- Database -------------------------------------------------------- */

/* Runs a statement (printf-style) on the test database. */
static void dbexec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
dbexec(const char *fmt, ...)
{
	char q[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	pg_ok(E.db, q);
}

/* The integer a one-value query answers. */
static long
db_long(const char *q)
{
	PGresult *r = PQexec(E.db, q);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

static long
active_admins(void)
{
	return db_long("SELECT count(*) FROM users "
	               "WHERE role = 'admin' AND status = 'active'");
}

/* ---- The service ----------------------------------------------------- */

static int
setup_all(void **state)
{
	(void) state;
	const char *pg_port = need("TEST_PG_PORT");
	const char *redis_url = need("TEST_REDIS_URL");
	E.server = PQconnectdb(need("TEST_PG_URL"));
	assert_int_equal(PQstatus(E.server), CONNECTION_OK);
	snprintf(E.db_name, sizeof(E.db_name), "auth_admin_test_%d",
	    (int) getpid());
	char q[256];
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	    E.db_name);
	pg_ok(E.server, q);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", E.db_name);
	pg_ok(E.server, q);
	snprintf(E.db_url, sizeof(E.db_url),
	    "postgresql://postgres@127.0.0.1:%s/%s", pg_port, E.db_name);
	snprintf(E.url, sizeof(E.url), "tcp://127.0.0.1:%d", free_port());
	snprintf(E.tmp, sizeof(E.tmp), "%s",
	    getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");

	char listen[96], dburl[320], redis[320];
	snprintf(listen, sizeof(listen), "AUTH_RPC_LISTEN=%s", E.url);
	snprintf(dburl, sizeof(dburl), "AUTH_DATABASE_URL=%s", E.db_url);
	snprintf(redis, sizeof(redis), "REDIS_URL=%s", redis_url);
	/* Cheap hashes and no throttling in the way: this test logs in
	 * often, always from the same address. */
	char *envp[] = {listen, dburl, redis, "LOG_LEVEL=info",
	    "RPC_WORKERS=4", "AUTH_MIGRATE_WAIT_S=10", "AUTH_KEK=" TEST_KEK,
	    "AUTH_LOGIN_MAX_PER_USER=100000", "AUTH_LOGIN_MAX_PER_IP=100000",
	    "AUTH_ARGON2_T=1", "AUTH_ARGON2_M_KIB=8192", NULL};
	char *argv[] = {SVC_AUTH_PATH, NULL};
	/* Its log goes to a file, read by the last test. */
	snprintf(E.log_path, sizeof(E.log_path), "%s/svc-auth-admin-%d.log",
	    E.tmp, (int) getpid());
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(
	    &fa, 2, E.log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(
	    posix_spawn(&E.pid, SVC_AUTH_PATH, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);

	const char *urls[] = {E.url};
	core_rpc_client_config cfg = {.name = "auth",
	    .urls = urls,
	    .n_urls = 1,
	    .connect_wait_ms = 500,
	    .default_timeout_ms = 10000};
	assert_int_equal(core_rpc_client_new(&cfg, &E.cli), 0);
	wait_serving(E.cli, 150);
	/* The schema exists now: the service applied the migrations. */
	E.db = PQconnectdb(E.db_url);
	assert_int_equal(PQstatus(E.db), CONNECTION_OK);
	return 0;
}

static int
teardown_all(void **state)
{
	(void) state;
	core_rpc_client_free(E.cli);
	PQfinish(E.db);
	if (E.pid > 0) {
		int status = 0;
		kill(E.pid, SIGTERM);
		waitpid(E.pid, &status, 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	char q[256];
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	    E.db_name);
	pg_ok(E.server, q);
	PQfinish(E.server);
	unlink(E.log_path);
	return 0;
}

/* ---- Calls ----------------------------------------------------------- */

static core_status
call(const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out,
    const char *bearer_token, core_arena *a, core_rpc_reply *reply)
{
	char auth[2200];
	core_md md[1];
	core_rpc_opts opts = {0};
	core_rpc_reply local;
	if (bearer_token != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", bearer_token);
		md[0] = (core_md){CORE_MD_AUTHORIZATION, auth};
		opts.md = md;
		opts.n_md = 1;
	}
	return core_rpc_call(E.cli, method, in, out_desc, out, &opts, a,
	    reply != NULL ? reply : &local);
}

/* Registers username (email <username>@example.com) and writes its id. */
static void
registered(const char *username, char id[37])
{
	core_arena *a = core_arena_new(0);
	char email[96];
	snprintf(email, sizeof(email), "%s@example.com", username);
	Auth__V1__RegisterRequest req = AUTH__V1__REGISTER_REQUEST__INIT;
	req.username = (char *) (uintptr_t) username;
	req.email = email;
	req.password = PASSWORD;
	ProtobufCMessage *out = NULL;
	assert_int_equal(
	    call("/auth.v1.AuthService/Register", &req.base,
	        &auth__v1__register_response__descriptor, &out, NULL, a, NULL),
	    CORE_OK);
	if (id != NULL) {
		snprintf(id, 37, "%s",
		    ((Auth__V1__RegisterResponse *) out)->user->id);
	}
	core_arena_free(a);
}

static core_status
login(const char *username, core_arena *a, Auth__V1__TokenResponse **tok)
{
	Auth__V1__LoginRequest req = AUTH__V1__LOGIN_REQUEST__INIT;
	req.username = (char *) (uintptr_t) username;
	req.password = PASSWORD;
	req.client_ip = "192.0.2.20";
	req.user_agent = "test_auth_admin";
	ProtobufCMessage *out = NULL;
	core_status st = call("/auth.v1.AuthService/Login", &req.base,
	    &auth__v1__token_response__descriptor, &out, NULL, a, NULL);
	*tok = st == CORE_OK ? (Auth__V1__TokenResponse *) out : NULL;
	return st;
}

static Auth__V1__TokenResponse *
logged_in(const char *username, core_arena *a)
{
	Auth__V1__TokenResponse *tok = NULL;
	assert_int_equal(login(username, a, &tok), CORE_OK);
	return tok;
}

static core_status
refresh(const char *token, core_arena *a, Auth__V1__TokenResponse **tok)
{
	Auth__V1__RefreshRequest req = AUTH__V1__REFRESH_REQUEST__INIT;
	req.refresh_token = (char *) (uintptr_t) token;
	ProtobufCMessage *out = NULL;
	core_status st = call("/auth.v1.AuthService/Refresh", &req.base,
	    &auth__v1__token_response__descriptor, &out, NULL, a, NULL);
	*tok = st == CORE_OK ? (Auth__V1__TokenResponse *) out : NULL;
	return st;
}

/* CheckToken; the role claim goes to role (16 bytes) when not NULL. */
static core_status
check(const char *token, core_arena *a, char *role)
{
	Auth__V1__CheckTokenRequest req = AUTH__V1__CHECK_TOKEN_REQUEST__INIT;
	req.token = (char *) (uintptr_t) token;
	ProtobufCMessage *out = NULL;
	core_status st = call("/auth.v1.AuthService/CheckToken", &req.base,
	    &auth__v1__check_token_response__descriptor, &out, NULL, a, NULL);
	if (st == CORE_OK && role != NULL) {
		snprintf(role, 16, "%s",
		    ((Auth__V1__CheckTokenResponse *) out)->claims->role);
	}
	return st;
}

static core_status
list_users(const char *token, const char *query, int status, int role,
    int page_size, const char *page_token, core_arena *a,
    Auth__V1__AdminListUsersResponse **resp, core_rpc_reply *reply)
{
	Auth__V1__AdminListUsersRequest req =
	    AUTH__V1__ADMIN_LIST_USERS_REQUEST__INIT;
	req.query = (char *) (uintptr_t) (query ? query : "");
	req.status = (Auth__V1__UserStatus) status;
	req.role = (Auth__V1__Role) role;
	req.page_size = page_size;
	req.page_token = (char *) (uintptr_t) (page_token ? page_token : "");
	ProtobufCMessage *out = NULL;
	core_status st = call("/auth.v1.AuthService/AdminListUsers", &req.base,
	    &auth__v1__admin_list_users_response__descriptor, &out, token, a,
	    reply);
	if (resp != NULL) {
		*resp = (Auth__V1__AdminListUsersResponse *) out;
	}
	return st;
}

static core_status
get_user(const char *token, const char *id, core_arena *a,
    Auth__V1__AdminGetUserResponse **resp, core_rpc_reply *reply)
{
	Auth__V1__AdminGetUserRequest req =
	    AUTH__V1__ADMIN_GET_USER_REQUEST__INIT;
	req.id = (char *) (uintptr_t) id;
	ProtobufCMessage *out = NULL;
	core_status st = call("/auth.v1.AuthService/AdminGetUser", &req.base,
	    &auth__v1__admin_get_user_response__descriptor, &out, token, a,
	    reply);
	if (resp != NULL) {
		*resp = (Auth__V1__AdminGetUserResponse *) out;
	}
	return st;
}

/* status and role: a value to set, or UNSET. */
static core_status
update_user(const char *token, const char *id, int status, int role,
    core_arena *a, Auth__V1__AdminUpdateUserResponse **resp,
    core_rpc_reply *reply)
{
	Auth__V1__AdminUpdateUserRequest req =
	    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__INIT;
	req.id = (char *) (uintptr_t) id;
	if (status != UNSET) {
		req.has_status_case =
		    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__HAS_STATUS_STATUS;
		req.status = (Auth__V1__UserStatus) status;
	}
	if (role != UNSET) {
		req.has_role_case =
		    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__HAS_ROLE_ROLE;
		req.role = (Auth__V1__Role) role;
	}
	ProtobufCMessage *out = NULL;
	core_status st = call("/auth.v1.AuthService/AdminUpdateUser",
	    &req.base, &auth__v1__admin_update_user_response__descriptor, &out,
	    token, a, reply);
	if (resp != NULL) {
		*resp = (Auth__V1__AdminUpdateUserResponse *) out;
	}
	return st;
}

static core_status
revoke_sessions(const char *token, const char *id, core_arena *a,
    Auth__V1__AdminRevokeSessionsResponse **resp, core_rpc_reply *reply)
{
	Auth__V1__AdminRevokeSessionsRequest req =
	    AUTH__V1__ADMIN_REVOKE_SESSIONS_REQUEST__INIT;
	req.id = (char *) (uintptr_t) id;
	ProtobufCMessage *out = NULL;
	core_status st = call("/auth.v1.AuthService/AdminRevokeSessions",
	    &req.base, &auth__v1__admin_revoke_sessions_response__descriptor,
	    &out, token, a, reply);
	if (resp != NULL) {
		*resp = (Auth__V1__AdminRevokeSessionsResponse *) out;
	}
	return st;
}

#define ACTIVE AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE
#define DISABLED AUTH__V1__USER_STATUS__USER_STATUS_DISABLED
#define ROLE_USER AUTH__V1__ROLE__ROLE_USER
#define ROLE_ADMIN AUTH__V1__ROLE__ROLE_ADMIN

/* Registers username, makes it an active admin straight in the database,
 * logs in and returns the token. */
static Auth__V1__TokenResponse *
new_admin(const char *username, char id[37], core_arena *a)
{
	registered(username, id);
	dbexec(
	    "UPDATE users SET role = 'admin' WHERE username = '%s'", username);
	return logged_in(username, a);
}

/* Runs "svc-auth <args...>" on the test database; returns its exit status
 * and what it wrote (out and err, 512 bytes each). */
static int
run_command(char *const args[], char out[512], char err[512])
{
	char dburl[320], out_path[300], err_path[300];
	snprintf(dburl, sizeof(dburl), "AUTH_DATABASE_URL=%s", E.db_url);
	snprintf(out_path, sizeof(out_path), "%s/promote-%d.out", E.tmp,
	    (int) getpid());
	snprintf(err_path, sizeof(err_path), "%s/promote-%d.err", E.tmp,
	    (int) getpid());
	char *envp[] = {dburl, NULL};
	char *argv[8] = {SVC_AUTH_PATH};
	for (int i = 0; args[i] != NULL && i < 6; i++) {
		argv[i + 1] = args[i];
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(
	    &fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(
	    &fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	pid_t pid;
	assert_int_equal(
	    posix_spawn(&pid, SVC_AUTH_PATH, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	const char *paths[] = {out_path, err_path};
	char *bufs[] = {out, err};
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(paths[i], "r");
		assert_non_null(f);
		size_t n = fread(bufs[i], 1, 511, f);
		bufs[i][n] = '\0';
		fclose(f);
		unlink(paths[i]);
	}
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* ---- Tests ----------------------------------------------------------- */

static void
test_promote_admin_command_makes_a_user_an_active_admin(void **state)
{
	(void) state;
	char id[37], out[512], err[512];
	registered("rootadmin", id);
	dbexec("UPDATE users SET status = 'disabled' "
	       "WHERE username = 'rootadmin'");

	/* Any case: usernames are stored lower-case. */
	char *promote[] = {"promote-admin", "RootAdmin", NULL};
	assert_int_equal(run_command(promote, out, err), 0);
	assert_non_null(strstr(out, "rootadmin"));
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, "is now an active admin"));
	assert_int_equal(db_long("SELECT count(*) FROM users WHERE "
	                         "username = 'rootadmin' AND role = 'admin' "
	                         "AND status = 'active'"),
	    1);
	/* Again: nothing to do, still a success. */
	assert_int_equal(run_command(promote, out, err), 0);
	assert_non_null(strstr(out, "was already an active admin"));

	/* The new admin can administer. */
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = logged_in("rootadmin", a);
	assert_int_equal(list_users(tok->access_token, "rootadmin", 0, 0, 0,
	                     NULL, a, NULL, NULL),
	    CORE_OK);
	core_arena_free(a);

	char *unknown[] = {"promote-admin", "nosuchuser", NULL};
	assert_int_equal(run_command(unknown, out, err), 1);
	assert_non_null(strstr(err, "no user named nosuchuser"));
	assert_string_equal(out, "");

	char *none[] = {"promote-admin", NULL};
	char *two[] = {"promote-admin", "a1b", "c2d", NULL};
	char *bad[] = {"promote-admin", "not a name!", NULL};
	char *other[] = {"frobnicate", NULL};
	char *const *usage[] = {none, two, bad, other};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(run_command(usage[i], out, err), 2);
		assert_non_null(strstr(err, "usage: svc-auth"));
		assert_string_equal(out, "");
	}
}

static void
test_admin_methods_need_an_active_admin_and_a_valid_token(void **state)
{
	(void) state;
	char id[37];
	registered("plainuser", id);
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = logged_in("plainuser", a);
	const char *tokens[] = {tok->access_token, NULL, "not.a.token"};
	const core_status want[] = {CORE_PERMISSION_DENIED,
	    CORE_UNAUTHENTICATED, CORE_UNAUTHENTICATED};
	for (size_t i = 0; i < 3; i++) {
		core_rpc_reply r;
		assert_int_equal(
		    list_users(tokens[i], "", 0, 0, 0, NULL, a, NULL, &r),
		    want[i]);
		if (want[i] == CORE_PERMISSION_DENIED) {
			assert_string_equal(
			    r.message, "this needs the admin role");
		}
		/* Authorization comes before the arguments are looked at. */
		assert_int_equal(
		    get_user(tokens[i], id, a, NULL, NULL), want[i]);
		assert_int_equal(
		    get_user(tokens[i], "bad", a, NULL, NULL), want[i]);
		assert_int_equal(
		    update_user(tokens[i], id, DISABLED, UNSET, a, NULL, NULL),
		    want[i]);
		assert_int_equal(
		    revoke_sessions(tokens[i], id, a, NULL, NULL), want[i]);
	}
	/* Nothing happened to the user. */
	assert_int_equal(check(tok->access_token, a, NULL), CORE_OK);

	/* A disabled admin is no admin: the role claim does not count,
	 * the row now does. */
	char aid[37];
	Auth__V1__TokenResponse *adm = new_admin("offadmin", aid, a);
	assert_int_equal(
	    list_users(adm->access_token, "", 0, 0, 0, NULL, a, NULL, NULL),
	    CORE_OK);
	dbexec("UPDATE users SET status = 'disabled' WHERE username = "
	       "'offadmin'");
	assert_int_equal(check(adm->access_token, a, NULL), CORE_OK);
	assert_int_equal(
	    list_users(adm->access_token, "", 0, 0, 0, NULL, a, NULL, NULL),
	    CORE_PERMISSION_DENIED);
	core_arena_free(a);
}

static void
test_a_demoted_admins_token_is_refused_at_once(void **state)
{
	(void) state;
	char boss[37], gone[37];
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *bt = new_admin("demoboss", boss, a);
	Auth__V1__TokenResponse *gt = new_admin("demogone", gone, a);
	assert_int_equal(
	    get_user(gt->access_token, boss, a, NULL, NULL), CORE_OK);

	Auth__V1__AdminUpdateUserResponse *up = NULL;
	assert_int_equal(update_user(bt->access_token, gone, UNSET, ROLE_USER,
	                     a, &up, NULL),
	    CORE_OK);
	assert_int_equal(up->before->role, ROLE_ADMIN);
	assert_int_equal(up->after->role, ROLE_USER);
	assert_int_equal(up->sessions_revoked, 0);
	/* The token still carries role admin and has not expired: refused
	 * at once, for everything. */
	assert_int_equal(get_user(gt->access_token, boss, a, NULL, NULL),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(
	    check(gt->access_token, a, NULL), CORE_UNAUTHENTICATED);
	/* The session stays: a refresh, in the same second, mints the new
	 * role, which works for what a user may do and no more. */
	Auth__V1__TokenResponse *nt = NULL;
	assert_int_equal(refresh(gt->refresh_token, a, &nt), CORE_OK);
	char role[16];
	assert_int_equal(check(nt->access_token, a, role), CORE_OK);
	assert_string_equal(role, "user");
	assert_int_equal(get_user(nt->access_token, boss, a, NULL, NULL),
	    CORE_PERMISSION_DENIED);

	/* Promoted back: the user-role token dies, a refresh carries admin. */
	assert_int_equal(update_user(bt->access_token, gone, UNSET, ROLE_ADMIN,
	                     a, NULL, NULL),
	    CORE_OK);
	assert_int_equal(
	    check(nt->access_token, a, NULL), CORE_UNAUTHENTICATED);
	Auth__V1__TokenResponse *at = NULL;
	assert_int_equal(refresh(nt->refresh_token, a, &at), CORE_OK);
	assert_int_equal(check(at->access_token, a, role), CORE_OK);
	assert_string_equal(role, "admin");
	assert_int_equal(
	    get_user(at->access_token, boss, a, NULL, NULL), CORE_OK);

	/* Demoted behind the service's back (no revocation): the token
	 * verifies, but the row decides. */
	dbexec("UPDATE users SET role = 'user' WHERE id = '%s'", gone);
	assert_int_equal(check(at->access_token, a, NULL), CORE_OK);
	assert_int_equal(get_user(at->access_token, boss, a, NULL, NULL),
	    CORE_PERMISSION_DENIED);
	/* ... for every admin-only method, not only the Admin* ones. */
	Auth__V1__ListKeysRequest lk = AUTH__V1__LIST_KEYS_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	assert_int_equal(call("/auth.v1.AuthService/ListKeys", &lk.base,
	                     &auth__v1__list_keys_response__descriptor, &out,
	                     at->access_token, a, NULL),
	    CORE_PERMISSION_DENIED);
	Auth__V1__RotateKeysRequest rk = AUTH__V1__ROTATE_KEYS_REQUEST__INIT;
	assert_int_equal(call("/auth.v1.AuthService/RotateKeys", &rk.base,
	                     &auth__v1__rotate_keys_response__descriptor, &out,
	                     at->access_token, a, NULL),
	    CORE_PERMISSION_DENIED);
	Auth__V1__ListSessionsRequest ls =
	    AUTH__V1__LIST_SESSIONS_REQUEST__INIT;
	ls.user_id = boss;
	assert_int_equal(call("/auth.v1.AuthService/ListSessions", &ls.base,
	                     &auth__v1__list_sessions_response__descriptor,
	                     &out, at->access_token, a, NULL),
	    CORE_PERMISSION_DENIED);
	/* The real admin still can. */
	assert_int_equal(call("/auth.v1.AuthService/ListKeys", &lk.base,
	                     &auth__v1__list_keys_response__descriptor, &out,
	                     bt->access_token, a, NULL),
	    CORE_OK);
	assert_int_equal(call("/auth.v1.AuthService/ListSessions", &ls.base,
	                     &auth__v1__list_sessions_response__descriptor,
	                     &out, bt->access_token, a, NULL),
	    CORE_OK);
	core_arena_free(a);
}

/* The usernames of a page, for messages. */
static void
expect_usernames(const Auth__V1__AdminListUsersResponse *resp,
    const char *const *want, size_t n)
{
	for (size_t i = 0; i < resp->n_users && i < n; i++) {
		assert_string_equal(resp->users[i]->username, want[i]);
	}
	assert_int_equal(resp->n_users, n);
}

static void
test_list_users_filters_by_substring_status_and_role(void **state)
{
	(void) state;
	char aid[37], lfa2[37], lfb1[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("filtadmin", aid, a)->access_token;
	registered("lfa1", NULL);
	registered("lfa2", lfa2);
	registered("lfb1", lfb1);
	/* Matches by email only. */
	Auth__V1__RegisterRequest req = AUTH__V1__REGISTER_REQUEST__INIT;
	req.username = "zfilter";
	req.email = "LFA-mail@example.com";
	req.password = PASSWORD;
	ProtobufCMessage *out = NULL;
	assert_int_equal(
	    call("/auth.v1.AuthService/Register", &req.base,
	        &auth__v1__register_response__descriptor, &out, NULL, a, NULL),
	    CORE_OK);

	Auth__V1__AdminListUsersResponse *resp = NULL;
	/* A part of username or email, in any case, with the total. */
	assert_int_equal(
	    list_users(t, "LFA", 0, 0, 0, NULL, a, &resp, NULL), CORE_OK);
	const char *lfa[] = {"lfa1", "lfa2", "zfilter"};
	expect_usernames(resp, lfa, 3);
	assert_int_equal(resp->total, 3);
	assert_string_equal(resp->next_page_token, "");
	assert_string_equal(resp->users[2]->email, "lfa-mail@example.com");
	assert_int_equal(resp->users[0]->status, ACTIVE);
	assert_int_equal(resp->users[0]->role, ROLE_USER);
	assert_non_null(resp->users[0]->created_at);
	/* Any part, not only the start; the total counts every page. */
	assert_int_equal(
	    list_users(t, "fa1", 0, 0, 0, NULL, a, &resp, NULL), CORE_OK);
	const char *fa1[] = {"lfa1"};
	expect_usernames(resp, fa1, 1);
	assert_int_equal(resp->total, 1);
	assert_int_equal(
	    list_users(t, "A-MAIL@", 0, 0, 0, NULL, a, &resp, NULL), CORE_OK);
	const char *mail[] = {"zfilter"};
	expect_usernames(resp, mail, 1);
	assert_int_equal(
	    list_users(t, "lfa", 0, 0, 1, NULL, a, &resp, NULL), CORE_OK);
	assert_int_equal(resp->n_users, 1);
	assert_int_equal(resp->total, 3);

	assert_int_equal(
	    update_user(t, lfa2, DISABLED, UNSET, a, NULL, NULL), CORE_OK);
	assert_int_equal(
	    update_user(t, lfb1, UNSET, ROLE_ADMIN, a, NULL, NULL), CORE_OK);
	assert_int_equal(
	    list_users(t, "lf", DISABLED, 0, 0, NULL, a, &resp, NULL),
	    CORE_OK);
	const char *disabled[] = {"lfa2"};
	expect_usernames(resp, disabled, 1);
	assert_int_equal(resp->users[0]->status, DISABLED);
	assert_int_equal(
	    list_users(t, "lf", ACTIVE, 0, 0, NULL, a, &resp, NULL), CORE_OK);
	const char *active[] = {"lfa1", "lfb1", "zfilter"};
	expect_usernames(resp, active, 3);
	assert_int_equal(
	    list_users(t, "lf", 0, ROLE_ADMIN, 0, NULL, a, &resp, NULL),
	    CORE_OK);
	const char *admins[] = {"lfb1"};
	expect_usernames(resp, admins, 1);
	assert_int_equal(resp->users[0]->role, ROLE_ADMIN);
	assert_int_equal(
	    list_users(t, "lf", ACTIVE, ROLE_USER, 0, NULL, a, &resp, NULL),
	    CORE_OK);
	const char *users[] = {"lfa1", "zfilter"};
	expect_usernames(resp, users, 2);
	assert_int_equal(
	    list_users(t, "lf", DISABLED, ROLE_ADMIN, 0, NULL, a, &resp, NULL),
	    CORE_OK);
	assert_int_equal(resp->n_users, 0);

	/* Unknown enum values are not "any". */
	core_rpc_reply r;
	assert_int_equal(list_users(t, "lf", 9, 7, 0, NULL, a, &resp, &r),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(r.n_details, 2);
	assert_string_equal(r.detail_fields[0], "status");
	assert_string_equal(r.detail_fields[1], "role");
	char longq[300];
	memset(longq, 'a', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	assert_int_equal(list_users(t, longq, 0, 0, 0, NULL, a, &resp, &r),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(r.detail_fields[0], "query");
	core_arena_free(a);
}

static void
test_list_users_like_metacharacters_are_literal(void **state)
{
	(void) state;
	char aid[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("mcadmin", aid, a)->access_token;
	registered("mc_one", NULL);
	registered("mcxone", NULL);
	/* '%' is allowed in an email's local part. */
	const char *names[] = {"mcpct", "mcany"};
	const char *emails[] = {"pc%one@example.com", "pcxone@example.com"};
	for (int i = 0; i < 2; i++) {
		Auth__V1__RegisterRequest req =
		    AUTH__V1__REGISTER_REQUEST__INIT;
		req.username = (char *) (uintptr_t) names[i];
		req.email = (char *) (uintptr_t) emails[i];
		req.password = PASSWORD;
		ProtobufCMessage *out = NULL;
		assert_int_equal(
		    call("/auth.v1.AuthService/Register", &req.base,
		        &auth__v1__register_response__descriptor, &out, NULL,
		        a, NULL),
		    CORE_OK);
	}
	Auth__V1__AdminListUsersResponse *resp = NULL;
	assert_int_equal(
	    list_users(t, "mc_", 0, 0, 0, NULL, a, &resp, NULL), CORE_OK);
	const char *underscore[] = {"mc_one"};
	expect_usernames(resp, underscore, 1);
	assert_int_equal(
	    list_users(t, "PC%", 0, 0, 0, NULL, a, &resp, NULL), CORE_OK);
	const char *percent[] = {"mcpct"};
	expect_usernames(resp, percent, 1);
	const char *nothing[] = {"%%", "\\", "pc\\", "pc\\%", "mc\\_"};
	for (size_t i = 0; i < sizeof(nothing) / sizeof(nothing[0]); i++) {
		assert_int_equal(
		    list_users(t, nothing[i], 0, 0, 0, NULL, a, &resp, NULL),
		    CORE_OK);
		assert_int_equal(resp->n_users, 0);
	}
	/* '_' and '%' alone: only names that hold them. */
	const char *one[] = {"_", "%"};
	for (size_t k = 0; k < 2; k++) {
		assert_int_equal(
		    list_users(t, one[k], 0, 0, 200, NULL, a, &resp, NULL),
		    CORE_OK);
		assert_true(resp->n_users > 0);
		for (size_t i = 0; i < resp->n_users; i++) {
			assert_true(
			    strchr(resp->users[i]->username, one[k][0]) ||
			    strchr(resp->users[i]->email, one[k][0]));
		}
	}
	core_arena_free(a);
}

enum { MAX_LISTED = 4096 };

typedef struct listing {
	char names[MAX_LISTED][33];
	size_t n;
	int pages;
} listing;

/* Lists every user whose username or email starts with prefix, page_size
 * at a time, running between(arg) before each page after the first. */
static void
list_all(const char *token, const char *prefix, int page_size, listing *l,
    void (*between)(void *), void *arg)
{
	char next[128] = "";
	l->n = 0;
	l->pages = 0;
	core_arena *a = core_arena_new(0);
	do {
		if (l->pages > 0 && between != NULL) {
			between(arg);
		}
		Auth__V1__AdminListUsersResponse *resp = NULL;
		assert_int_equal(list_users(token, prefix, 0, 0, page_size,
		                     next[0] ? next : NULL, a, &resp, NULL),
		    CORE_OK);
		l->pages++;
		assert_true(resp->n_users <= (size_t) page_size);
		for (size_t i = 0; i < resp->n_users; i++) {
			assert_true(l->n < MAX_LISTED);
			snprintf(l->names[l->n++], 33, "%s",
			    resp->users[i]->username);
		}
		/* Only the last page may be short. */
		if (resp->next_page_token[0] != '\0') {
			assert_int_equal(resp->n_users, page_size);
		}
		snprintf(next, sizeof(next), "%s", resp->next_page_token);
		core_arena_reset(a);
	} while (next[0] != '\0');
	core_arena_free(a);
	/* In username order, nobody twice. */
	for (size_t i = 1; i < l->n; i++) {
		assert_true(strcmp(l->names[i - 1], l->names[i]) < 0);
	}
}

/* How often name is in the listing. */
static int
times_listed(const listing *l, const char *name)
{
	int k = 0;
	for (size_t i = 0; i < l->n; i++) {
		k += strcmp(l->names[i], name) == 0;
	}
	return k;
}

static void
bulk_users(const char *prefix, int n)
{
	/* Straight into the table: these users never log in. */
	dbexec("INSERT INTO users (username, email, password_hash) "
	       "SELECT '%s' || lpad(i::text, 4, '0'), "
	       "'%s' || lpad(i::text, 4, '0') || '@bulk.example.com', 'x' "
	       "FROM generate_series(0, %d) AS i",
	    prefix, prefix, n - 1);
}

static void
test_list_users_pages_through_1000_users_each_exactly_once(void **state)
{
	(void) state;
	char aid[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("pgadmin", aid, a)->access_token;
	bulk_users("bulk", 1000);
	static listing l;
	list_all(t, "bulk", 37, &l, NULL, NULL);
	assert_int_equal(l.n, 1000);
	assert_int_equal(l.pages, (1000 + 36) / 37);
	char name[33];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "bulk%04d", i);
		assert_string_equal(l.names[i], name);
	}
	/* A page size that divides the total: the last full page knows it
	 * is the last (no empty page after it). */
	list_all(t, "bulk", 200, &l, NULL, NULL);
	assert_int_equal(l.n, 1000);
	assert_int_equal(l.pages, 5);
	core_arena_free(a);
}

typedef struct inserter {
	PGconn *db;
	int page;
	int added_between;          /* by the listing thread */
	atomic_int added_meanwhile; /* by the inserting thread */
	atomic_bool stop;
} inserter;

/* Between pages: new users ahead of and behind the cursor. */
static void
insert_between_pages(void *arg)
{
	inserter *ins = arg;
	ins->page++;
	dbexec("INSERT INTO users (username, email, password_hash) "
	       "SELECT 'conc' || lpad((random() * 999)::int::text, 4, '0') || "
	       "'p%d' || i, 'concp%d.' || i || '@bulk.example.com', 'x' "
	       "FROM generate_series(1, 5) AS i",
	    ins->page, ins->page);
	ins->added_between += 5;
	/* And the other connection has inserted since the last page: the
	 * thread may not be scheduled at all while a short listing runs
	 * on a loaded machine, and then nothing would be concurrent. */
	int seen = atomic_load(&ins->added_meanwhile);
	for (int waited = 0; atomic_load(&ins->added_meanwhile) == seen;
	     waited++) {
		assert_true(waited < 10000); /* 10 s */
		usleep(1000);
	}
}

/* Meanwhile, all the time: one user at a time from another connection. */
static void *
insert_main(void *arg)
{
	inserter *ins = arg;
	char q[512];
	for (int i = 0; !atomic_load(&ins->stop); i++) {
		snprintf(q, sizeof(q),
		    "INSERT INTO users (username, email, password_hash) "
		    "VALUES ('conc' || lpad((random() * 999)::int::text, 4, "
		    "'0') || 't%d', 'conct%d@bulk.example.com', 'x')",
		    i, i);
		pg_ok(ins->db, q);
		atomic_fetch_add(&ins->added_meanwhile, 1);
		usleep(2000);
	}
	return NULL;
}

static void
test_list_users_pages_are_stable_under_concurrent_inserts(void **state)
{
	(void) state;
	char aid[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("ccadmin", aid, a)->access_token;
	bulk_users("conc", 1000);
	inserter ins = {.db = PQconnectdb(E.db_url)};
	assert_int_equal(PQstatus(ins.db), CONNECTION_OK);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, insert_main, &ins), 0);
	static listing l;
	list_all(t, "conc", 37, &l, insert_between_pages, &ins);
	atomic_store(&ins.stop, true);
	pthread_join(th, NULL);
	PQfinish(ins.db);
	assert_int_equal(ins.added_between, 5 * (l.pages - 1));
	assert_true(atomic_load(&ins.added_meanwhile) >= l.pages - 1);
	/* Every user that existed all along: exactly once. Others at most
	 * once (list_all checked the order, hence no repeats). */
	char name[33];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "conc%04d", i);
		assert_int_equal(times_listed(&l, name), 1);
	}
	assert_true(l.n >= 1000);
	core_arena_free(a);
}

static void
test_list_users_rejects_bad_page_tokens_and_sizes(void **state)
{
	(void) state;
	char aid[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("ptadmin", aid, a)->access_token;
	bulk_users("ptok", 300);
	core_rpc_reply r;
	Auth__V1__AdminListUsersResponse *resp = NULL;

	/* 0 means 50; 200 is the most. */
	assert_int_equal(
	    list_users(t, "ptok", 0, 0, 0, NULL, a, &resp, NULL), CORE_OK);
	assert_int_equal(resp->n_users, 50);
	assert_string_not_equal(resp->next_page_token, "");
	char good[128];
	snprintf(good, sizeof(good), "%s", resp->next_page_token);
	assert_int_equal(
	    list_users(t, "ptok", 0, 0, 200, NULL, a, &resp, NULL), CORE_OK);
	assert_int_equal(resp->n_users, 200);
	const int bad_sizes[] = {201, -1, 100000};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(list_users(t, "ptok", 0, 0, bad_sizes[i],
		                     NULL, a, &resp, &r),
		    CORE_INVALID_ARGUMENT);
		assert_int_equal(r.n_details, 1);
		assert_string_equal(r.detail_fields[0], "page_size");
	}

	/* A token goes on after the last name of its page. */
	assert_int_equal(
	    list_users(t, "ptok", 0, 0, 10, good, a, &resp, NULL), CORE_OK);
	assert_string_equal(resp->users[0]->username, "ptok0050");

	/* base64url of: version 2 + "ptok0050"; version 1 + "PTOK" (not a
	 * stored name); version 1 + "ab" (too short); a NUL inside. */
	const char *bad[] = {"garbage!", "AnB0b2swMDUw", "AVBUT0s", "AWFi",
	    "AXB0b2sAMDAw", good + 1, "====", "A"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    list_users(t, "ptok", 0, 0, 10, bad[i], a, &resp, &r),
		    CORE_INVALID_ARGUMENT);
		assert_int_equal(r.n_details, 1);
		assert_string_equal(r.detail_fields[0], "page_token");
	}
	char longtok[300];
	memset(longtok, 'A', sizeof(longtok) - 1);
	longtok[sizeof(longtok) - 1] = '\0';
	assert_int_equal(
	    list_users(t, "ptok", 0, 0, 10, longtok, a, &resp, &r),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(r.detail_fields[0], "page_token");
	core_arena_free(a);
}

static void
test_get_user_returns_the_user_and_their_sessions(void **state)
{
	(void) state;
	char aid[37], id[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("gtadmin", aid, a)->access_token;
	registered("gettable", id);
	logged_in("gettable", a);
	logged_in("gettable", a);
	Auth__V1__AdminGetUserResponse *resp = NULL;
	assert_int_equal(get_user(t, id, a, &resp, NULL), CORE_OK);
	assert_string_equal(resp->user->id, id);
	assert_string_equal(resp->user->username, "gettable");
	assert_string_equal(resp->user->email, "gettable@example.com");
	assert_int_equal(resp->user->role, ROLE_USER);
	assert_int_equal(resp->user->status, ACTIVE);
	assert_int_equal(resp->n_sessions, 2);
	for (size_t i = 0; i < resp->n_sessions; i++) {
		assert_string_equal(resp->sessions[i]->user_id, id);
		assert_string_equal(
		    resp->sessions[i]->client_ip, "192.0.2.20");
		assert_string_equal(
		    resp->sessions[i]->user_agent, "test_auth_admin");
		assert_false(resp->sessions[i]->current);
	}
	/* Upper-case hex is the same UUID. */
	char upper[37];
	for (int i = 0; i < 37; i++) {
		upper[i] =
		    (char) (id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
	}
	assert_int_equal(get_user(t, upper, a, &resp, NULL), CORE_OK);
	assert_string_equal(resp->user->id, id);

	core_rpc_reply r;
	const char *bad[] = {"", "not-a-uuid", "0123",
	    "'; DROP TABLE users;--", "00000000-0000-0000-0000-00000000000g"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    get_user(t, bad[i], a, NULL, &r), CORE_INVALID_ARGUMENT);
		assert_string_equal(r.detail_fields[0], "id");
	}
	assert_int_equal(
	    get_user(t, "00000000-0000-4000-8000-000000000000", a, NULL, &r),
	    CORE_NOT_FOUND);
	core_arena_free(a);
}

static void
test_disabling_a_user_stops_token_login_and_refresh_at_once(void **state)
{
	(void) state;
	char aid[37], id[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("dsadmin", aid, a)->access_token;
	registered("disabled1", id);
	Auth__V1__TokenResponse *u1 = logged_in("disabled1", a);
	Auth__V1__TokenResponse *u2 = logged_in("disabled1", a);
	assert_int_equal(check(u1->access_token, a, NULL), CORE_OK);

	/* Setting what is already there changes nothing. */
	long updated = db_long("SELECT (extract(epoch FROM updated_at) * "
	                       "1000000)::bigint FROM users WHERE username = "
	                       "'disabled1'");
	Auth__V1__AdminUpdateUserResponse *up = NULL;
	assert_int_equal(
	    update_user(t, id, ACTIVE, ROLE_USER, a, &up, NULL), CORE_OK);
	assert_int_equal(up->sessions_revoked, 0);
	assert_int_equal(up->after->status, ACTIVE);
	assert_int_equal(
	    up->before->updated_at->seconds, up->after->updated_at->seconds);
	assert_int_equal(
	    up->before->updated_at->nanos, up->after->updated_at->nanos);
	assert_int_equal(
	    db_long("SELECT (extract(epoch FROM updated_at) * "
	            "1000000)::bigint FROM users WHERE username = "
	            "'disabled1'"),
	    updated);
	assert_int_equal(check(u1->access_token, a, NULL), CORE_OK);

	assert_int_equal(
	    update_user(t, id, DISABLED, UNSET, a, &up, NULL), CORE_OK);
	assert_int_equal(up->before->status, ACTIVE);
	assert_int_equal(up->after->status, DISABLED);
	assert_int_equal(up->after->role, ROLE_USER);
	assert_int_equal(up->sessions_revoked, 2);
	assert_true(up->after->updated_at->seconds * 1000000L +
	                up->after->updated_at->nanos / 1000 >
	            updated);
	/* At once: no waiting for the token to expire. */
	assert_int_equal(
	    check(u1->access_token, a, NULL), CORE_UNAUTHENTICATED);
	assert_int_equal(
	    check(u2->access_token, a, NULL), CORE_UNAUTHENTICATED);
	Auth__V1__TokenResponse *tok = NULL;
	assert_int_equal(login("disabled1", a, &tok), CORE_PERMISSION_DENIED);
	assert_int_equal(
	    refresh(u1->refresh_token, a, &tok), CORE_UNAUTHENTICATED);
	assert_int_equal(
	    refresh(u2->refresh_token, a, &tok), CORE_UNAUTHENTICATED);
	Auth__V1__AdminGetUserResponse *g = NULL;
	assert_int_equal(get_user(t, id, a, &g, NULL), CORE_OK);
	assert_int_equal(g->user->status, DISABLED);
	assert_int_equal(g->n_sessions, 0);

	/* Enabled again: logging in works, in the same second too. */
	assert_int_equal(
	    update_user(t, id, ACTIVE, UNSET, a, &up, NULL), CORE_OK);
	assert_int_equal(up->before->status, DISABLED);
	assert_int_equal(up->sessions_revoked, 0);
	Auth__V1__TokenResponse *back = logged_in("disabled1", a);
	assert_int_equal(check(back->access_token, a, NULL), CORE_OK);
	/* The old tokens stay dead. */
	assert_int_equal(
	    check(u1->access_token, a, NULL), CORE_UNAUTHENTICATED);

	/* Disabled behind the service's back, with the session left in
	 * place: refreshing still fails. */
	dbexec("UPDATE users SET status = 'disabled' WHERE id = '%s'", id);
	assert_int_equal(
	    refresh(back->refresh_token, a, &tok), CORE_UNAUTHENTICATED);
	dbexec("UPDATE users SET status = 'active' WHERE id = '%s'", id);
	core_arena_free(a);
}

static void
test_update_user_validates_its_arguments(void **state)
{
	(void) state;
	char aid[37], id[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("vladmin", aid, a)->access_token;
	registered("validated", id);
	core_rpc_reply r;
	assert_int_equal(update_user(t, id, UNSET, UNSET, a, NULL, &r),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(
	    update_user(t, id, 0, UNSET, a, NULL, &r), CORE_INVALID_ARGUMENT);
	assert_string_equal(r.detail_fields[0], "status");
	assert_int_equal(
	    update_user(t, id, UNSET, 0, a, NULL, &r), CORE_INVALID_ARGUMENT);
	assert_string_equal(r.detail_fields[0], "role");
	assert_int_equal(
	    update_user(t, id, 5, 9, a, NULL, &r), CORE_INVALID_ARGUMENT);
	assert_int_equal(r.n_details, 2);
	assert_int_equal(update_user(t, "nope", DISABLED, UNSET, a, NULL, &r),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(r.detail_fields[0], "id");
	assert_int_equal(update_user(t, "00000000-0000-4000-8000-000000000000",
	                     DISABLED, UNSET, a, NULL, &r),
	    CORE_NOT_FOUND);
	/* Nothing was changed by any of them. */
	assert_int_equal(
	    db_long("SELECT count(*) FROM users WHERE username = "
	            "'validated' AND status = 'active' AND role = "
	            "'user'"),
	    1);
	core_arena_free(a);
}

static void
test_the_last_active_admin_cannot_be_demoted_or_disabled(void **state)
{
	(void) state;
	char sole[37], second[37];
	core_arena *a = core_arena_new(0);
	dbexec("UPDATE users SET role = 'user' WHERE role = 'admin'");
	Auth__V1__TokenResponse *st = new_admin("soleadmin", sole, a);
	registered("secondadm", second);
	assert_int_equal(active_admins(), 1);

	core_rpc_reply r;
	assert_int_equal(
	    update_user(st->access_token, sole, UNSET, ROLE_USER, a, NULL, &r),
	    CORE_FAILED_PRECONDITION);
	assert_string_equal(
	    r.message, "the last active admin cannot be demoted or disabled");
	assert_int_equal(
	    update_user(st->access_token, sole, DISABLED, UNSET, a, NULL, &r),
	    CORE_FAILED_PRECONDITION);
	assert_int_equal(update_user(st->access_token, sole, DISABLED,
	                     ROLE_USER, a, NULL, &r),
	    CORE_FAILED_PRECONDITION);
	/* Refused means untouched: the token still works. */
	assert_int_equal(check(st->access_token, a, NULL), CORE_OK);
	assert_int_equal(active_admins(), 1);
	/* What keeps the admin an admin is fine. */
	assert_int_equal(update_user(st->access_token, sole, ACTIVE,
	                     ROLE_ADMIN, a, NULL, NULL),
	    CORE_OK);

	/* With two, one may demote the other, then not themselves. */
	assert_int_equal(update_user(st->access_token, second, UNSET,
	                     ROLE_ADMIN, a, NULL, NULL),
	    CORE_OK);
	assert_int_equal(active_admins(), 2);
	assert_int_equal(update_user(st->access_token, second, UNSET,
	                     ROLE_USER, a, NULL, NULL),
	    CORE_OK);
	assert_int_equal(
	    update_user(st->access_token, sole, UNSET, ROLE_USER, a, NULL, &r),
	    CORE_FAILED_PRECONDITION);

	/* Two again: the second disables the first, and a disabled admin is
	 * not an active one. */
	assert_int_equal(update_user(st->access_token, second, UNSET,
	                     ROLE_ADMIN, a, NULL, NULL),
	    CORE_OK);
	Auth__V1__TokenResponse *nd = logged_in("secondadm", a);
	assert_int_equal(update_user(nd->access_token, sole, DISABLED, UNSET,
	                     a, NULL, NULL),
	    CORE_OK);
	assert_int_equal(update_user(nd->access_token, second, DISABLED, UNSET,
	                     a, NULL, &r),
	    CORE_FAILED_PRECONDITION);
	assert_int_equal(active_admins(), 1);
	/* Demoting the disabled admin takes nobody's rights away. */
	assert_int_equal(update_user(nd->access_token, sole, UNSET, ROLE_USER,
	                     a, NULL, NULL),
	    CORE_OK);
	dbexec("UPDATE users SET status = 'active' WHERE id = '%s'", sole);
	core_arena_free(a);
}

typedef struct demoter {
	const char *token;
	const char *target;
	core_status st;
	pthread_barrier_t *go;
} demoter;

static void *
demote_main(void *arg)
{
	demoter *d = arg;
	core_arena *a = core_arena_new(0);
	pthread_barrier_wait(d->go);
	d->st =
	    update_user(d->token, d->target, UNSET, ROLE_USER, a, NULL, NULL);
	core_arena_free(a);
	return NULL;
}

static void
test_two_admins_demoting_each_other_at_once_leave_one(void **state)
{
	(void) state;
	char p[37], q[37];
	registered("duelp", p);
	registered("duelq", q);
	for (int round = 0; round < 8; round++) {
		core_arena *a = core_arena_new(0);
		dbexec("UPDATE users SET role = 'user' WHERE role = 'admin'");
		dbexec("UPDATE users SET role = 'admin', status = 'active' "
		       "WHERE username IN ('duelp', 'duelq')");
		assert_int_equal(active_admins(), 2);
		pthread_barrier_t go;
		pthread_barrier_init(&go, NULL, 2);
		demoter d[2] = {
		    {logged_in("duelp", a)->access_token, q, CORE_UNKNOWN,
		        &go},
		    {logged_in("duelq", a)->access_token, p, CORE_UNKNOWN,
		        &go},
		};
		pthread_t th[2];
		for (int i = 0; i < 2; i++) {
			assert_int_equal(
			    pthread_create(&th[i], NULL, demote_main, &d[i]),
			    0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
		}
		pthread_barrier_destroy(&go);
		int ok = (d[0].st == CORE_OK) + (d[1].st == CORE_OK);
		assert_int_equal(ok, 1);
		for (int i = 0; i < 2; i++) {
			/* The loser was demoted first: its token is revoked,
			 * or its row no longer says admin, or it would have
			 * been the last admin. */
			assert_true(d[i].st == CORE_OK ||
			            d[i].st == CORE_UNAUTHENTICATED ||
			            d[i].st == CORE_PERMISSION_DENIED ||
			            d[i].st == CORE_FAILED_PRECONDITION);
		}
		assert_int_equal(active_admins(), 1);
		core_arena_free(a);
	}
}

static void
test_revoke_sessions_ends_every_session_and_token(void **state)
{
	(void) state;
	char aid[37], id[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("rvadmin", aid, a)->access_token;
	registered("revoked3", id);
	Auth__V1__TokenResponse *s[3];
	for (int i = 0; i < 3; i++) {
		s[i] = logged_in("revoked3", a);
	}
	Auth__V1__AdminRevokeSessionsResponse *resp = NULL;
	assert_int_equal(revoke_sessions(t, id, a, &resp, NULL), CORE_OK);
	assert_int_equal(resp->revoked, 3);
	Auth__V1__TokenResponse *tok = NULL;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    check(s[i]->access_token, a, NULL), CORE_UNAUTHENTICATED);
		assert_int_equal(refresh(s[i]->refresh_token, a, &tok),
		    CORE_UNAUTHENTICATED);
	}
	Auth__V1__AdminGetUserResponse *g = NULL;
	assert_int_equal(get_user(t, id, a, &g, NULL), CORE_OK);
	assert_int_equal(g->n_sessions, 0);
	assert_int_equal(g->user->status, ACTIVE);
	/* The account itself is fine: log in again, at once. */
	Auth__V1__TokenResponse *again = logged_in("revoked3", a);
	assert_int_equal(check(again->access_token, a, NULL), CORE_OK);
	assert_int_equal(revoke_sessions(t, id, a, &resp, NULL), CORE_OK);
	assert_int_equal(resp->revoked, 1);
	assert_int_equal(revoke_sessions(t, id, a, &resp, NULL), CORE_OK);
	assert_int_equal(resp->revoked, 0);

	core_rpc_reply r;
	assert_int_equal(revoke_sessions(t,
	                     "00000000-0000-4000-8000-"
	                     "000000000000",
	                     a, NULL, &r),
	    CORE_NOT_FOUND);
	assert_int_equal(
	    revoke_sessions(t, "x", a, NULL, &r), CORE_INVALID_ARGUMENT);
	assert_string_equal(r.detail_fields[0], "id");
	/* The admin's own token was never touched. */
	assert_int_equal(check(t, a, NULL), CORE_OK);
	core_arena_free(a);
}

/* Runs last: what the service logged while the other tests ran. */
static void
test_admin_calls_are_logged_with_actor_method_and_target(void **state)
{
	(void) state;
	char aid[37], id[37];
	core_arena *a = core_arena_new(0);
	const char *t = new_admin("logadmin", aid, a)->access_token;
	registered("logtarget", id);
	assert_int_equal(
	    update_user(t, id, DISABLED, UNSET, a, NULL, NULL), CORE_OK);
	core_arena_free(a);

	FILE *f = fopen(E.log_path, "r");
	assert_non_null(f);
	static char buf[8 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char want[256];
	snprintf(want, sizeof(want),
	    "\"msg\":\"admin call\",\"method\":\"AdminUpdateUser\","
	    "\"actor\":\"%s\",\"target\":\"%s\",\"code\":\"OK\"",
	    aid, id);
	assert_non_null(strstr(buf, want));
	assert_non_null(strstr(buf, "\"method\":\"AdminListUsers\""));
	assert_non_null(strstr(buf, "\"method\":\"AdminGetUser\""));
	assert_non_null(strstr(buf, "\"method\":\"AdminRevokeSessions\""));
	assert_non_null(strstr(buf, "\"code\":\"PERMISSION_DENIED\""));
	assert_non_null(strstr(buf, "\"msg\":\"user access changed\""));
	/* No password, no token. */
	assert_null(strstr(buf, PASSWORD));
	assert_false(has_jws(buf));
	assert_null(strstr(buf, TEST_KEK));
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	core_log_init("test_auth_admin", CORE_LOG_WARN, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_promote_admin_command_makes_a_user_an_active_admin),
	    cmocka_unit_test(
	        test_admin_methods_need_an_active_admin_and_a_valid_token),
	    cmocka_unit_test(test_a_demoted_admins_token_is_refused_at_once),
	    cmocka_unit_test(
	        test_list_users_filters_by_substring_status_and_role),
	    cmocka_unit_test(test_list_users_like_metacharacters_are_literal),
	    cmocka_unit_test(
	        test_list_users_pages_through_1000_users_each_exactly_once),
	    cmocka_unit_test(
	        test_list_users_pages_are_stable_under_concurrent_inserts),
	    cmocka_unit_test(
	        test_list_users_rejects_bad_page_tokens_and_sizes),
	    cmocka_unit_test(
	        test_get_user_returns_the_user_and_their_sessions),
	    cmocka_unit_test(
	        test_disabling_a_user_stops_token_login_and_refresh_at_once),
	    cmocka_unit_test(test_update_user_validates_its_arguments),
	    cmocka_unit_test(
	        test_the_last_active_admin_cannot_be_demoted_or_disabled),
	    cmocka_unit_test(
	        test_two_admins_demoting_each_other_at_once_leave_one),
	    cmocka_unit_test(
	        test_revoke_sessions_ends_every_session_and_token),
	    cmocka_unit_test(
	        test_admin_calls_are_logged_with_actor_method_and_target),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
