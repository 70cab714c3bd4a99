/* svc-auth as a process, on a database of its own on the test PostgreSQL
 * and on the test Redis (both started by scripts/test.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "auth/v1/auth.pb-c.h"
#include "core/v1/health.pb-c.h"

#include "core/jws.h"
#include "core/log.h"
#include "core/rpc.h"

extern char **environ;

#define TEST_KEK "dGVzdC1rZWstMzItYnl0ZXMtbG9uZy0xMjM0NTY3ODk="
/* svc-auth's refresh grace window here (AUTH_REFRESH_GRACE_MS): the tests
 * that must be past it wait it out, the one within it refreshes twice in
 * a row, which takes a loaded machine under sanitizers far less. */
#define GRACE_MS 3000
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct env {
	char db[64];
	char db_url[256];
	char url[64];
	char log_path[256];
	pid_t pid;
	PGconn *admin; /* superuser connection to the test server */
	core_rpc_client *cli;
} env;

static env E;

static int
setup_all(void **state)
{
	(void) state;
	const char *pg_port = need("TEST_PG_PORT");
	const char *redis_url = need("TEST_REDIS_URL");
	E.admin = PQconnectdb(need("TEST_PG_URL"));
	assert_int_equal(PQstatus(E.admin), CONNECTION_OK);
	snprintf(E.db, sizeof(E.db), "auth_test_%d", (int) getpid());
	char q[256];
	snprintf(
	    q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", E.db);
	pg_ok(E.admin, q);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", E.db);
	pg_ok(E.admin, q);
	snprintf(E.db_url, sizeof(E.db_url),
	    "postgresql://postgres@127.0.0.1:%s/%s", pg_port, E.db);
	snprintf(E.url, sizeof(E.url), "tcp://127.0.0.1:%d", free_port());

	char listen[96], dburl[320], redis[320];
	snprintf(listen, sizeof(listen), "AUTH_RPC_LISTEN=%s", E.url);
	snprintf(dburl, sizeof(dburl), "AUTH_DATABASE_URL=%s", E.db_url);
	snprintf(redis, sizeof(redis), "REDIS_URL=%s", redis_url);
	char *envp[] = {listen, dburl, redis, "LOG_LEVEL=debug",
	    "RPC_WORKERS=4", "AUTH_MIGRATE_WAIT_S=10", "AUTH_KEK=" TEST_KEK,
	    "AUTH_LOGIN_MAX_PER_USER=5",
	    "AUTH_REFRESH_GRACE_MS=" STR(GRACE_MS), NULL};
	char *argv[] = {SVC_AUTH_PATH, NULL};
	/* Its log goes to a file, read by the last test. */
	const char *tmp =
	    getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
	snprintf(E.log_path, sizeof(E.log_path), "%s/svc-auth-%d.log", tmp,
	    (int) getpid());
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
	    .default_timeout_ms = 5000};
	assert_int_equal(core_rpc_client_new(&cfg, &E.cli), 0);
	wait_serving(E.cli, 100);
	return 0;
}

static int
teardown_all(void **state)
{
	(void) state;
	core_rpc_client_free(E.cli);
	if (E.pid > 0) {
		int status = 0;
		kill(E.pid, SIGTERM);
		waitpid(E.pid, &status, 0);
		/* A clean stop is part of the contract. */
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	char q[256];
	snprintf(
	    q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", E.db);
	pg_ok(E.admin, q);
	PQfinish(E.admin);
	unlink(E.log_path);
	return 0;
}

static core_status
do_register(const char *username, const char *email, const char *password,
    core_arena *a, Auth__V1__RegisterResponse **resp, core_rpc_reply *reply)
{
	Auth__V1__RegisterRequest req = AUTH__V1__REGISTER_REQUEST__INIT;
	req.username = (char *) (uintptr_t) username;
	req.email = (char *) (uintptr_t) email;
	req.password = (char *) (uintptr_t) password;
	ProtobufCMessage *out = NULL;
	core_status st = core_rpc_call(E.cli, "/auth.v1.AuthService/Register",
	    &req.base, &auth__v1__register_response__descriptor, &out, NULL, a,
	    reply);
	*resp = (Auth__V1__RegisterResponse *) out;
	return st;
}

/* The stored row for username, or NULL (caller PQclear()s). */
static PGresult *
stored_user(const char *username)
{
	PGconn *db = PQconnectdb(E.db_url);
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	const char *params[] = {username};
	PGresult *r = PQexecParams(db,
	    "SELECT username, email, password_hash, role, status FROM users "
	    "WHERE username = $1",
	    1, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	PQfinish(db);
	return r;
}

static void
test_register_creates_an_active_user_with_normalised_names(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply reply;
	assert_int_equal(do_register("Ada.Lovelace", "Ada@Example.COM",
	                     "correct horse battery", a, &resp, &reply),
	    CORE_OK);
	assert_non_null(resp->user);
	assert_int_equal(strlen(resp->user->id), 36);
	assert_string_equal(resp->user->username, "ada.lovelace");
	assert_string_equal(resp->user->email, "ada@example.com");
	assert_int_equal(resp->user->role, AUTH__V1__ROLE__ROLE_USER);
	assert_int_equal(
	    resp->user->status, AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE);
	assert_non_null(resp->user->created_at);
	assert_true(resp->user->created_at->seconds > 1700000000);
	core_arena_free(a);
}

static void
test_register_stores_an_argon2id_hash_not_the_password(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply reply;
	assert_int_equal(do_register("hashcheck", "hash@example.com",
	                     "a long secret phrase", a, &resp, &reply),
	    CORE_OK);
	PGresult *r = stored_user("hashcheck");
	assert_int_equal(PQntuples(r), 1);
	const char *hash = PQgetvalue(r, 0, 2);
	assert_memory_equal(hash, "$argon2id$", 10);
	assert_null(strstr(hash, "a long secret phrase"));
	assert_non_null(strstr(hash, "m=19456,t=2"));
	PQclear(r);
	core_arena_free(a);
}

/* A taken username is ALREADY_EXISTS; a taken email is answered as a new
 * one (a user of the same shape with a random id) and makes no account. */
static void
test_register_taken_name_is_already_exists_taken_email_looks_new(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *first = NULL, *resp = NULL;
	core_rpc_reply r1, r2;
	assert_int_equal(do_register("grace", "grace@example.com",
	                     "correct horse battery", a, &first, &r1),
	    CORE_OK);
	/* The same username in other case. */
	assert_int_equal(do_register("GRACE", "other@example.com",
	                     "correct horse battery", a, &resp, &r1),
	    CORE_ALREADY_EXISTS);
	assert_string_equal(r1.message, "the username is already registered");
	/* The same email in other case. */
	assert_int_equal(do_register("grace2", "Grace@Example.com",
	                     "correct horse battery", a, &resp, &r2),
	    CORE_OK);
	assert_non_null(resp->user);
	assert_string_equal(resp->user->username, "grace2");
	assert_string_equal(resp->user->email, "grace@example.com");
	assert_int_equal(resp->user->role, first->user->role);
	assert_int_equal(resp->user->status, first->user->status);
	assert_false(resp->user->email_verified);
	assert_non_null(resp->user->created_at);
	assert_int_equal(strlen(resp->user->id), 36);
	assert_string_not_equal(resp->user->id, first->user->id);
	PGresult *row = stored_user("grace2");
	assert_int_equal(PQntuples(row), 0);
	PQclear(row);
	core_arena_free(a);
}

static void
test_register_names_every_invalid_field(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    do_register("a b", "not-an-email", "short", a, &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(reply.n_details, 3);
	assert_string_equal(reply.detail_fields[0], "username");
	assert_string_equal(reply.detail_fields[1], "email");
	assert_string_equal(reply.detail_fields[2], "password");
	/* The password itself never comes back in a message. */
	assert_null(strstr(reply.detail_descriptions[2], "short"));

	assert_int_equal(
	    do_register("", "", "", a, &resp, &reply), CORE_INVALID_ARGUMENT);
	assert_int_equal(reply.n_details, 3);
	assert_int_equal(do_register("mallory", "mallory@example.com",
	                     "mallory", a, &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(reply.detail_fields[0], "password");
	assert_int_equal(do_register("mallory", "mallory@example.com",
	                     "bad\xff\xfeutf8!", a, &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(
	    do_register("robert'); DROP TABLE users;--", "bobby@example.com",
	        "correct horse battery", a, &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(reply.detail_fields[0], "username");
	core_arena_free(a);
}

static void
test_register_rejects_nul_bytes_and_bad_utf8_naming_the_field(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	/* Hand-encoded: protobuf-c itself cannot pack a NUL into a string. */
	static const uint8_t nul[] = {0x0a, 8, 'a', 'd', 'a', 0, 'e', 'v', 'i',
	    'l', 0x12, 15, 'a', 'd', 'a', '@', 'e', 'x', 'a', 'm', 'p', 'l',
	    'e', '.', 'c', 'o', 'm', 0x1a, 9, 'l', 'o', 'n', 'g', 'e', 'n',
	    'o', 'u', 'g'};
	assert_int_equal(
	    core_rpc_call_raw(E.cli, "/auth.v1.AuthService/Register", nul,
	        sizeof(nul), NULL, a, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(reply.n_details, 1);
	assert_string_equal(reply.detail_fields[0], "username");
	static const uint8_t utf8[] = {0x1a, 3, 'x', 0xc3, 0x28};
	assert_int_equal(
	    core_rpc_call_raw(E.cli, "/auth.v1.AuthService/Register", utf8,
	        sizeof(utf8), NULL, a, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(reply.detail_fields[0], "password");
	core_arena_free(a);
}

static void
test_register_sql_metacharacters_are_stored_as_data(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    do_register("obrien", "o'brien+x@example.com",
	        "it's a '); DROP TABLE users; -- pass", a, &resp, &reply),
	    CORE_OK);
	PGresult *r = stored_user("obrien");
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 1), "o'brien+x@example.com");
	PQclear(r);
	core_arena_free(a);
}

typedef struct racer {
	int id;
	core_status st;
	pthread_barrier_t *go;
} racer;

static void *
race_main(void *arg)
{
	racer *r = arg;
	core_arena *a = core_arena_new(0);
	char email[64];
	snprintf(email, sizeof(email), "racer%d@example.com", r->id);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply reply;
	pthread_barrier_wait(r->go);
	r->st = do_register(
	    "samename", email, "correct horse battery", a, &resp, &reply);
	core_arena_free(a);
	return NULL;
}

static void
test_50_concurrent_registrations_of_one_username_yield_one_success(
    void **state)
{
	(void) state;
	enum { N = 50 };
	pthread_t t[N];
	racer r[N];
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, N);
	for (int i = 0; i < N; i++) {
		r[i] = (racer){.id = i, .go = &go};
		pthread_create(&t[i], NULL, race_main, &r[i]);
	}
	int ok = 0, exists = 0, busy = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].st == CORE_OK;
		exists += r[i].st == CORE_ALREADY_EXISTS;
		/* More calls at once than the password-hash gate takes: the
		 * rest are told to come back. */
		busy += r[i].st == CORE_RESOURCE_EXHAUSTED;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(ok, 1);
	assert_int_equal(exists + busy, N - 1);
	assert_true(exists >= 1);
	PGresult *rows = stored_user("samename");
	assert_int_equal(PQntuples(rows), 1);
	PQclear(rows);
}

static void
test_database_down_is_unavailable_and_recovers(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply reply;
	/* Take this test's database away from the service: refuse new
	 * connections and cut the existing ones. */
	db_reachable(E.admin, E.db, false);
	assert_int_equal(serving(E.cli), CORE_UNAVAILABLE);
	assert_int_equal(do_register("downtime", "down@example.com",
	                     "correct horse battery", a, &resp, &reply),
	    CORE_UNAVAILABLE);
	assert_null(strstr(reply.message, "postgres")); /* no internals */

	db_reachable(E.admin, E.db, true);
	/* Reconnects are rate-limited, and late on a loaded machine: up to
	 * 30 s. */
	wait_serving(E.cli, 300);
	core_status st;
	/* Each worker reconnects on its own; every call ends up served. */
	for (int i = 0; i < 300; i++) {
		st = do_register("afterdown", "after@example.com",
		    "correct horse battery", a, &resp, &reply);
		if (st == CORE_OK) {
			break;
		}
		assert_int_equal(st, CORE_UNAVAILABLE);
		usleep(100000);
	}
	assert_int_equal(st, CORE_OK);
	core_arena_free(a);
}

static core_status
get_jwks(core_rpc_client *cli, core_arena *a, Auth__V1__GetJwksResponse **resp)
{
	Auth__V1__GetJwksRequest req = AUTH__V1__GET_JWKS_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_status st = core_rpc_call(cli, "/auth.v1.AuthService/GetJwks",
	    &req.base, &auth__v1__get_jwks_response__descriptor, &out, NULL, a,
	    &reply);
	*resp = (Auth__V1__GetJwksResponse *) out;
	return st;
}

static void
test_first_start_creates_one_signing_key_published_in_the_jwks(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__GetJwksResponse *resp = NULL;
	assert_int_equal(get_jwks(E.cli, a, &resp), CORE_OK);
	assert_int_equal(resp->n_keys, 1);
	Auth__V1__Jwk *k = resp->keys[0];
	assert_string_equal(k->kty, "OKP");
	assert_string_equal(k->crv, "Ed25519");
	assert_string_equal(k->use, "sig");
	assert_string_equal(k->alg, "EdDSA");
	/* The kid is the key's RFC 7638 thumbprint, and the JSON document is
	 * a JWKS our own verifier accepts. */
	uint8_t pk[32];
	size_t n = 0;
	assert_int_equal(
	    core_b64url_decode(k->x, strlen(k->x), pk, sizeof(pk), &n), 0);
	assert_int_equal(n, 32);
	char kid[44];
	core_jwk_thumbprint(pk, kid);
	assert_string_equal(kid, k->kid);
	core_jwks *set = NULL;
	char err[128];
	assert_int_equal(core_jwks_parse(resp->json, strlen(resp->json), &set,
	                     err, sizeof(err)),
	    0);
	assert_int_equal(core_jwks_count(set), 1);
	core_jwks_free(set);

	/* Stored sealed: the row holds the public key and 80 sealed bytes. */
	PGconn *db = PQconnectdb(E.db_url);
	PGresult *r = PQexec(db, "SELECT kid, length(sealed_key), active "
	                         "FROM signing_keys");
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), kid);
	assert_string_equal(PQgetvalue(r, 0, 1), "80");
	assert_string_equal(PQgetvalue(r, 0, 2), "t");
	PQclear(r);
	PQfinish(db);
	core_arena_free(a);
}

/* Runs a second svc-auth on the same database with kek; returns its exit
 * status if it stopped by itself within 10 s, or 0 after checking it
 * serves the same kid (then it is stopped). */
static int
second_instance(const char *kek, const char *expect_kid)
{
	char url[64], listen[96], dburl[320], redis[320], kekenv[128];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
	snprintf(listen, sizeof(listen), "AUTH_RPC_LISTEN=%s", url);
	snprintf(dburl, sizeof(dburl), "AUTH_DATABASE_URL=%s", E.db_url);
	snprintf(
	    redis, sizeof(redis), "REDIS_URL=%s", getenv("TEST_REDIS_URL"));
	snprintf(kekenv, sizeof(kekenv), "AUTH_KEK=%s", kek);
	char *envp[] = {listen, dburl, redis, "LOG_LEVEL=error",
	    "RPC_WORKERS=1", kekenv, NULL};
	char *argv[] = {SVC_AUTH_PATH, NULL};
	pid_t pid;
	assert_int_equal(
	    posix_spawn(&pid, SVC_AUTH_PATH, NULL, NULL, argv, envp), 0);
	const char *urls[] = {url};
	core_rpc_client_config cfg = {.name = "auth2",
	    .urls = urls,
	    .n_urls = 1,
	    .connect_wait_ms = 200,
	    .default_timeout_ms = 2000};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&cfg, &c), 0);
	core_arena *a = core_arena_new(0);
	int status = 0;
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			core_arena_free(a);
			core_rpc_client_free(c);
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		Auth__V1__GetJwksResponse *resp = NULL;
		if (get_jwks(c, a, &resp) == CORE_OK) {
			assert_int_equal(resp->n_keys, 1);
			assert_string_equal(resp->keys[0]->kid, expect_kid);
			break;
		}
		core_arena_reset(a);
		usleep(100000);
	}
	core_arena_free(a);
	core_rpc_client_free(c);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}

static void
test_restart_keeps_the_key_and_a_wrong_kek_refuses_to_start(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__GetJwksResponse *resp = NULL;
	assert_int_equal(get_jwks(E.cli, a, &resp), CORE_OK);
	char kid[64];
	snprintf(kid, sizeof(kid), "%s", resp->keys[0]->kid);
	core_arena_free(a);

	assert_int_equal(second_instance(TEST_KEK, kid), 0);
	/* Another 32-byte key cannot unseal it: exit 1, no new key made. */
	assert_int_equal(
	    second_instance(
	        "b3RoZXIta2VrLTMyLWJ5dGVzLWxvbmctMTIzNDU2Nzg=", kid),
	    1);
	assert_int_equal(second_instance("not-base64!", kid), 1);
	assert_int_equal(second_instance("", kid), 1);
}

static core_status
call(const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out,
    const char *bearer_token, core_arena *a, core_rpc_reply *reply)
{
	char auth[2200];
	core_md md[1];
	core_rpc_opts opts = {0};
	if (bearer_token != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", bearer_token);
		md[0] = (core_md){CORE_MD_AUTHORIZATION, auth};
		opts.md = md;
		opts.n_md = 1;
	}
	return core_rpc_call(
	    E.cli, method, in, out_desc, out, &opts, a, reply);
}

static core_status
login(const char *username, const char *password, core_arena *a,
    Auth__V1__TokenResponse **tok, core_rpc_reply *reply)
{
	Auth__V1__LoginRequest req = AUTH__V1__LOGIN_REQUEST__INIT;
	req.username = (char *) (uintptr_t) username;
	req.password = (char *) (uintptr_t) password;
	req.client_ip = "192.0.2.10";
	req.user_agent = "test_auth";
	ProtobufCMessage *out = NULL;
	core_status st = call("/auth.v1.AuthService/Login", &req.base,
	    &auth__v1__token_response__descriptor, &out, NULL, a, reply);
	*tok = (Auth__V1__TokenResponse *) out;
	return st;
}

static core_status
refresh(const char *token, core_arena *a, Auth__V1__TokenResponse **tok,
    core_rpc_reply *reply)
{
	Auth__V1__RefreshRequest req = AUTH__V1__REFRESH_REQUEST__INIT;
	req.refresh_token = (char *) (uintptr_t) token;
	ProtobufCMessage *out = NULL;
	core_status st = call("/auth.v1.AuthService/Refresh", &req.base,
	    &auth__v1__token_response__descriptor, &out, NULL, a, reply);
	*tok = (Auth__V1__TokenResponse *) out;
	return st;
}

static core_status
check(const char *token, core_arena *a, Auth__V1__Claims **claims)
{
	Auth__V1__CheckTokenRequest req = AUTH__V1__CHECK_TOKEN_REQUEST__INIT;
	req.token = (char *) (uintptr_t) token;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_status st = call("/auth.v1.AuthService/CheckToken", &req.base,
	    &auth__v1__check_token_response__descriptor, &out, NULL, a,
	    &reply);
	if (claims != NULL) {
		*claims = st == CORE_OK
		              ? ((Auth__V1__CheckTokenResponse *) out)->claims
		              : NULL;
	}
	return st;
}

static core_status
logout(const char *access, core_arena *a)
{
	Auth__V1__LogoutRequest req = AUTH__V1__LOGOUT_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	return call("/auth.v1.AuthService/Logout", &req.base,
	    &auth__v1__logout_response__descriptor, &out, access, a, &reply);
}

static void
registered(const char *username)
{
	core_arena *a = core_arena_new(0);
	char email[96];
	snprintf(email, sizeof(email), "%s@example.com", username);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply reply;
	assert_int_equal(do_register(username, email, "correct horse battery",
	                     a, &resp, &reply),
	    CORE_OK);
	core_arena_free(a);
}

static void
test_login_tokens_verify_with_the_published_jwks(void **state)
{
	(void) state;
	registered("lin");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("LIN", "correct horse battery", a, &tok, &reply), CORE_OK);
	assert_string_equal(tok->token_type, "Bearer");
	assert_int_equal(tok->expires_in, 900);
	assert_non_null(strchr(tok->refresh_token, '.'));

	/* An independent check: our verifier with only the JWKS document. */
	Auth__V1__GetJwksResponse *jwks = NULL;
	assert_int_equal(get_jwks(E.cli, a, &jwks), CORE_OK);
	core_jwks *set = NULL;
	char err[128];
	assert_int_equal(core_jwks_parse(jwks->json, strlen(jwks->json), &set,
	                     err, sizeof(err)),
	    0);
	core_jwt_policy pol = {
	    .issuer = "http://127.0.0.1:8080", .audience = "microcore"};
	core_jwt_claims cl;
	const char *reason = "";
	assert_int_equal(
	    core_jwt_verify(set, tok->access_token, &pol, &cl, &reason),
	    CORE_JWT_OK);
	core_jwks_free(set);
	assert_string_equal(cl.username, "lin");
	assert_string_equal(cl.role, "user");
	assert_int_equal(cl.exp - cl.iat, 900);
	assert_true(cl.sid[0] != '\0' && cl.jti[0] != '\0');
	assert_int_equal(strlen(cl.sub), 36);

	Auth__V1__Claims *claims = NULL;
	assert_int_equal(check(tok->access_token, a, &claims), CORE_OK);
	assert_non_null(claims);
	assert_string_equal(claims ? claims->sub : "", cl.sub);
	core_arena_free(a);
}

/* n euro signs (3 bytes, 1 character each) into out. */
static char *
euros(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memcpy(out + 3 * i, "\xe2\x82\xac", 3);
	}
	out[3 * n] = '\0';
	return out;
}

static void
test_password_length_counts_characters_at_register_and_login(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *resp = NULL;
	Auth__V1__TokenResponse *tok = NULL;
	core_rpc_reply reply;
	char pw[3 * 129 + 1];
	/* 128 characters, 384 bytes: the longest password there is. */
	assert_int_equal(do_register("euros", "euros@example.com",
	                     euros(pw, 128), a, &resp, &reply),
	    CORE_OK);
	assert_int_equal(login("euros", pw, a, &tok, &reply), CORE_OK);
	assert_int_equal(login("euros", euros(pw, 129), a, &tok, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(reply.detail_fields[0], "password");
	assert_string_equal(
	    reply.detail_descriptions[0], "must be at most 128 characters");
	/* 7 characters, 21 bytes: too short. */
	assert_int_equal(do_register("euros7", "euros7@example.com",
	                     euros(pw, 7), a, &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(
	    reply.detail_descriptions[0], "must be 8 to 128 characters");
	core_arena_free(a);
}

static void
test_unknown_user_and_wrong_password_get_the_same_answer(void **state)
{
	(void) state;
	registered("wrongpw");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = NULL;
	core_rpc_reply r1, r2, r3;
	assert_int_equal(login("wrongpw", "not the password", a, &tok, &r1),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(login("nosuchuser", "not the password", a, &tok, &r2),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(
	    login("no such user!", "not the password", a, &tok, &r3),
	    CORE_UNAUTHENTICATED);
	assert_string_equal(r1.message, r2.message);
	assert_string_equal(r1.message, r3.message);
	core_arena_free(a);
}

static void
test_login_is_throttled_per_username_with_retry_after(void **state)
{
	(void) state;
	registered("throttled");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = NULL;
	core_rpc_reply reply;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(
		    login("throttled", "wrong password!", a, &tok, &reply),
		    CORE_UNAUTHENTICATED);
	}
	/* Over the limit even the right password waits. */
	assert_int_equal(
	    login("throttled", "correct horse battery", a, &tok, &reply),
	    CORE_RESOURCE_EXHAUSTED);
	assert_true(reply.retry_after_s > 0 && reply.retry_after_s <= 300);
	/* Another account from the same address is not locked out. */
	registered("neighbour");
	assert_int_equal(
	    login("neighbour", "correct horse battery", a, &tok, &reply),
	    CORE_OK);
	core_arena_free(a);
}

static void
test_refresh_rotates_and_reuse_ends_the_session(void **state)
{
	(void) state;
	registered("rotor");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *t1 = NULL, *t2 = NULL, *t3 = NULL, *t = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("rotor", "correct horse battery", a, &t1, &reply), CORE_OK);
	assert_int_equal(refresh(t1->refresh_token, a, &t2, &reply), CORE_OK);
	assert_string_not_equal(t2->refresh_token, t1->refresh_token);
	assert_int_equal(check(t2->access_token, a, NULL), CORE_OK);
	assert_int_equal(refresh(t2->refresh_token, a, &t3, &reply), CORE_OK);
	usleep((GRACE_MS + 300) * 1000); /* past the grace window */
	/* An old secret again: reuse, the whole session ends. */
	assert_int_equal(
	    refresh(t1->refresh_token, a, &t, &reply), CORE_UNAUTHENTICATED);
	assert_int_equal(
	    refresh(t3->refresh_token, a, &t, &reply), CORE_UNAUTHENTICATED);
	assert_int_equal(
	    refresh("garbage", a, &t, &reply), CORE_UNAUTHENTICATED);
	assert_int_equal(refresh("", a, &t, &reply), CORE_INVALID_ARGUMENT);
	core_arena_free(a);
}

static void
test_refresh_accepts_the_previous_token_within_the_grace_window(void **state)
{
	(void) state;
	registered("twotabs");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *t1 = NULL, *ta = NULL, *tb = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("twotabs", "correct horse battery", a, &t1, &reply),
	    CORE_OK);
	/* Two tabs refresh with the same token at the same moment. */
	assert_int_equal(refresh(t1->refresh_token, a, &ta, &reply), CORE_OK);
	assert_int_equal(refresh(t1->refresh_token, a, &tb, &reply), CORE_OK);
	assert_int_equal(check(ta->access_token, a, NULL), CORE_OK);
	assert_int_equal(check(tb->access_token, a, NULL), CORE_OK);
	core_arena_free(a);
}

static void
test_login_sets_auth_time_and_refresh_keeps_it(void **state)
{
	(void) state;
	registered("authtime");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *t1 = NULL, *t2 = NULL;
	Auth__V1__Claims *c1 = NULL, *c2 = NULL;
	core_rpc_reply reply;
	int64_t before = (int64_t) time(NULL);
	assert_int_equal(
	    login("authtime", "correct horse battery", a, &t1, &reply),
	    CORE_OK);
	int64_t after = (int64_t) time(NULL);
	assert_int_equal(check(t1->access_token, a, &c1), CORE_OK);
	/* The password was proven now (a clock tick of slack each side). */
	assert_true(c1->auth_time >= before - 1 && c1->auth_time <= after + 1);

	/* A refresh in a later second proves nothing new: the login's time
	 * stays, the new token's iat moves on. */
	usleep(1100000);
	assert_int_equal(refresh(t1->refresh_token, a, &t2, &reply), CORE_OK);
	assert_int_equal(check(t2->access_token, a, &c2), CORE_OK);
	assert_int_equal(c2->auth_time, c1->auth_time);
	assert_true(c2->iat > c2->auth_time);
	core_arena_free(a);
}

/* A refresh in the second of a revocation of the user's tokens (what a
 * password change or an admin's revoke-all stores) waits for the next
 * second: its token carries an iat at or after revoked_before, so it
 * verifies, while the older token stays revoked. */
static void
test_refresh_in_the_second_of_a_revocation_mints_a_valid_token(void **state)
{
	(void) state;
	registered("floorrefresh");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *t1 = NULL, *t2 = NULL;
	Auth__V1__Claims *c1 = NULL, *c2 = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("floorrefresh", "correct horse battery", a, &t1, &reply),
	    CORE_OK);
	assert_int_equal(check(t1->access_token, a, &c1), CORE_OK);
	long long floor_s = (long long) time(NULL) + 1;
	redisContext *r = redisConnect(
	    "127.0.0.1", (int) strtol(need("TEST_REDIS_PORT"), NULL, 10));
	assert_non_null(r);
	assert_int_equal(r->err, 0);
	redisReply *set = redisCommand(
	    r, "SET revoked_before:%s %lld EX 120", c1->sub, floor_s);
	assert_non_null(set);
	assert_int_equal(set->type, REDIS_REPLY_STATUS);
	freeReplyObject(set);
	redisFree(r);
	assert_int_equal(
	    check(t1->access_token, a, NULL), CORE_UNAUTHENTICATED);
	assert_int_equal(refresh(t1->refresh_token, a, &t2, &reply), CORE_OK);
	assert_int_equal(check(t2->access_token, a, &c2), CORE_OK);
	assert_true(c2->iat >= floor_s);
	core_arena_free(a);
}

static void
test_logout_revokes_the_token_and_the_session_idempotently(void **state)
{
	(void) state;
	registered("leaver");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = NULL, *t = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("leaver", "correct horse battery", a, &tok, &reply),
	    CORE_OK);
	assert_int_equal(check(tok->access_token, a, NULL), CORE_OK);
	assert_int_equal(logout(tok->access_token, a), CORE_OK);
	assert_int_equal(
	    check(tok->access_token, a, NULL), CORE_UNAUTHENTICATED);
	assert_int_equal(
	    refresh(tok->refresh_token, a, &t, &reply), CORE_UNAUTHENTICATED);
	assert_int_equal(logout(tok->access_token, a), CORE_OK);
	assert_int_equal(logout(NULL, a), CORE_UNAUTHENTICATED);
	assert_int_equal(logout("not.a.token", a), CORE_UNAUTHENTICATED);
	core_arena_free(a);
}

static void
test_check_token_rejects_tampering(void **state)
{
	(void) state;
	registered("tamper");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("tamper", "correct horse battery", a, &tok, &reply),
	    CORE_OK);
	char bad[2048];
	snprintf(bad, sizeof(bad), "%s", tok->access_token);
	char *dot = strchr(bad, '.');
	dot[3] = dot[3] == 'A' ? 'B' : 'A'; /* payload */
	assert_int_equal(check(bad, a, NULL), CORE_UNAUTHENTICATED);
	snprintf(bad, sizeof(bad), "%s", tok->access_token);
	size_t n = strlen(bad);
	bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A'; /* signature */
	assert_int_equal(check(bad, a, NULL), CORE_UNAUTHENTICATED);
	assert_int_equal(check("", a, NULL), CORE_UNAUTHENTICATED);
	assert_int_equal(
	    check("eyJhbGciOiJub25lIn0.e30.", a, NULL), CORE_UNAUTHENTICATED);
	core_arena_free(a);
}

static void
test_disabled_user_cannot_log_in_or_refresh(void **state)
{
	(void) state;
	registered("shutout");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = NULL, *t = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("shutout", "correct horse battery", a, &tok, &reply),
	    CORE_OK);
	PGconn *db = PQconnectdb(E.db_url);
	PQclear(PQexec(db, "UPDATE users SET status = 'disabled' "
	                   "WHERE username = 'shutout'"));
	PQfinish(db);
	assert_int_equal(
	    login("shutout", "correct horse battery", a, &t, &reply),
	    CORE_PERMISSION_DENIED);
	assert_int_equal(
	    refresh(tok->refresh_token, a, &t, &reply), CORE_UNAUTHENTICATED);
	core_arena_free(a);
}

static core_status
list_sessions(const char *access, const char *user_id, core_arena *a,
    Auth__V1__ListSessionsResponse **resp)
{
	Auth__V1__ListSessionsRequest req =
	    AUTH__V1__LIST_SESSIONS_REQUEST__INIT;
	req.user_id = (char *) (uintptr_t) (user_id ? user_id : "");
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_status st = call("/auth.v1.AuthService/ListSessions", &req.base,
	    &auth__v1__list_sessions_response__descriptor, &out, access, a,
	    &reply);
	*resp = (Auth__V1__ListSessionsResponse *) out;
	return st;
}

static core_status
revoke_session(const char *access, const char *sid, core_arena *a)
{
	Auth__V1__RevokeSessionRequest req =
	    AUTH__V1__REVOKE_SESSION_REQUEST__INIT;
	req.session_id = (char *) (uintptr_t) sid;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	return call("/auth.v1.AuthService/RevokeSession", &req.base,
	    &auth__v1__revoke_session_response__descriptor, &out, access, a,
	    &reply);
}

static void
test_users_list_and_end_their_own_sessions_only(void **state)
{
	(void) state;
	registered("twodevices");
	registered("stranger");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *phone = NULL, *laptop = NULL, *other = NULL,
	                        *t = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("twodevices", "correct horse battery", a, &phone, &reply),
	    CORE_OK);
	assert_int_equal(
	    login("twodevices", "correct horse battery", a, &laptop, &reply),
	    CORE_OK);
	assert_int_equal(
	    login("stranger", "correct horse battery", a, &other, &reply),
	    CORE_OK);
	Auth__V1__ListSessionsResponse *ls = NULL;
	assert_int_equal(
	    list_sessions(laptop->access_token, NULL, a, &ls), CORE_OK);
	assert_int_equal(ls->n_sessions, 2);
	/* Newest first: the laptop's, marked current. */
	assert_true(ls->sessions[0]->current);
	assert_false(ls->sessions[1]->current);
	assert_string_equal(ls->sessions[0]->client_ip, "192.0.2.10");
	assert_string_equal(ls->sessions[0]->user_agent, "test_auth");
	char phone_sid[64];
	snprintf(phone_sid, sizeof(phone_sid), "%s", ls->sessions[1]->id);

	/* Not another user's sessions, not even by id. */
	assert_int_equal(list_sessions(other->access_token,
	                     ls->sessions[0]->user_id, a, &ls),
	    CORE_PERMISSION_DENIED);
	assert_int_equal(
	    revoke_session(other->access_token, phone_sid, a), CORE_NOT_FOUND);
	assert_int_equal(
	    revoke_session(NULL, phone_sid, a), CORE_UNAUTHENTICATED);

	/* The laptop ends the phone's session: its refresh token dies. */
	assert_int_equal(
	    revoke_session(laptop->access_token, phone_sid, a), CORE_OK);
	assert_int_equal(refresh(phone->refresh_token, a, &t, &reply),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(revoke_session(laptop->access_token, phone_sid, a),
	    CORE_NOT_FOUND);
	assert_int_equal(
	    list_sessions(laptop->access_token, NULL, a, &ls), CORE_OK);
	assert_int_equal(ls->n_sessions, 1);

	/* An admin may list anyone's. */
	PGconn *db = PQconnectdb(E.db_url);
	PQclear(PQexec(db, "UPDATE users SET role = 'admin' "
	                   "WHERE username = 'stranger'"));
	PQfinish(db);
	Auth__V1__TokenResponse *admin = NULL;
	assert_int_equal(
	    login("stranger", "correct horse battery", a, &admin, &reply),
	    CORE_OK);
	Auth__V1__ListSessionsResponse *mine = NULL;
	assert_int_equal(
	    list_sessions(laptop->access_token, NULL, a, &mine), CORE_OK);
	assert_int_equal(list_sessions(admin->access_token,
	                     mine->sessions[0]->user_id, a, &ls),
	    CORE_OK);
	assert_int_equal(ls->n_sessions, 1);
	core_arena_free(a);
}

static core_status
current_session(const char *access, core_arena *a, Auth__V1__Session **out,
    core_rpc_reply *reply)
{
	Auth__V1__GetCurrentSessionRequest req =
	    AUTH__V1__GET_CURRENT_SESSION_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	core_status st = call("/auth.v1.AuthService/GetCurrentSession",
	    &req.base, &auth__v1__get_current_session_response__descriptor,
	    &resp, access, a, reply);
	*out = st == CORE_OK
	           ? ((Auth__V1__GetCurrentSessionResponse *) resp)->session
	           : NULL;
	return st;
}

static void
test_current_session_is_the_one_of_the_callers_token(void **state)
{
	(void) state;
	registered("whereami");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *phone = NULL, *laptop = NULL, *later = NULL;
	Auth__V1__Claims *cl = NULL;
	Auth__V1__Session *s = NULL, *again = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("whereami", "correct horse battery", a, &phone, &reply),
	    CORE_OK);
	assert_int_equal(
	    login("whereami", "correct horse battery", a, &laptop, &reply),
	    CORE_OK);
	assert_int_equal(check(laptop->access_token, a, &cl), CORE_OK);
	assert_int_equal(
	    current_session(laptop->access_token, a, &s, &reply), CORE_OK);
	assert_non_null(s);
	/* The laptop's own session, as ListSessions shows it. */
	assert_string_equal(s->id, cl->sid);
	assert_string_equal(s->user_id, cl->sub);
	assert_true(s->current);
	assert_string_equal(s->client_ip, "192.0.2.10");
	assert_string_equal(s->user_agent, "test_auth");
	assert_non_null(s->created_at);
	assert_non_null(s->last_used_at);
	Auth__V1__ListSessionsResponse *ls = NULL;
	assert_int_equal(
	    list_sessions(laptop->access_token, NULL, a, &ls), CORE_OK);
	assert_int_equal(ls->n_sessions, 2);
	assert_string_equal(ls->sessions[0]->id, s->id);
	assert_string_not_equal(ls->sessions[1]->id, s->id);

	/* A refresh keeps the session: the new token names the same one. */
	assert_int_equal(
	    refresh(laptop->refresh_token, a, &later, &reply), CORE_OK);
	assert_int_equal(
	    current_session(later->access_token, a, &again, &reply), CORE_OK);
	assert_string_equal(again->id, s->id);
	assert_true(again->current);
	core_arena_free(a);
}

static void
test_current_session_needs_a_valid_unrevoked_token(void **state)
{
	(void) state;
	registered("nocurrent");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = NULL;
	Auth__V1__Session *s = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    current_session(NULL, a, &s, &reply), CORE_UNAUTHENTICATED);
	assert_string_equal(reply.message, "a bearer token is required");
	assert_int_equal(current_session("not.a.token", a, &s, &reply),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(
	    login("nocurrent", "correct horse battery", a, &tok, &reply),
	    CORE_OK);
	/* Logged out: the token is revoked, whatever its session. */
	assert_int_equal(logout(tok->access_token, a), CORE_OK);
	assert_int_equal(current_session(tok->access_token, a, &s, &reply),
	    CORE_UNAUTHENTICATED);
	assert_string_equal(reply.message, "invalid or expired token");
	core_arena_free(a);
}

static void
test_current_session_that_has_ended_is_not_found(void **state)
{
	(void) state;
	registered("ended");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *phone = NULL, *laptop = NULL, *t2 = NULL,
	                        *t = NULL;
	Auth__V1__Session *s = NULL, *ps = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("ended", "correct horse battery", a, &phone, &reply),
	    CORE_OK);
	assert_int_equal(
	    login("ended", "correct horse battery", a, &laptop, &reply),
	    CORE_OK);

	/* Ended from another device: the phone's access token still
	 * verifies, but its session is gone. */
	assert_int_equal(
	    current_session(phone->access_token, a, &ps, &reply), CORE_OK);
	assert_int_equal(
	    revoke_session(laptop->access_token, ps->id, a), CORE_OK);
	assert_int_equal(current_session(phone->access_token, a, &s, &reply),
	    CORE_NOT_FOUND);
	assert_string_equal(reply.message, "no such session");

	/* Ended by a refresh-token reuse: every access token of the session
	 * outlives it. */
	assert_int_equal(
	    refresh(laptop->refresh_token, a, &t2, &reply), CORE_OK);
	usleep((GRACE_MS + 300) * 1000); /* past the grace window */
	assert_int_equal(refresh(laptop->refresh_token, a, &t, &reply),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(
	    current_session(t2->access_token, a, &s, &reply), CORE_NOT_FOUND);
	assert_int_equal(current_session(laptop->access_token, a, &s, &reply),
	    CORE_NOT_FOUND);
	core_arena_free(a);
}

static void
test_redis_down_login_is_unavailable_and_health_not_serving(void **state)
{
	(void) state;
	registered("noredis");
	/* A second instance whose Redis is a port nobody listens on. */
	char url[64], listen[96], dburl[320], redis[96];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
	snprintf(listen, sizeof(listen), "AUTH_RPC_LISTEN=%s", url);
	snprintf(dburl, sizeof(dburl), "AUTH_DATABASE_URL=%s", E.db_url);
	snprintf(redis, sizeof(redis), "REDIS_URL=redis://127.0.0.1:%d/0",
	    free_port());
	char *envp[] = {listen, dburl, redis, "LOG_LEVEL=error",
	    "RPC_WORKERS=1", "AUTH_KEK=" TEST_KEK, NULL};
	char *argv[] = {SVC_AUTH_PATH, NULL};
	pid_t pid;
	assert_int_equal(
	    posix_spawn(&pid, SVC_AUTH_PATH, NULL, NULL, argv, envp), 0);
	const char *urls[] = {url};
	core_rpc_client_config cfg = {.name = "auth3",
	    .urls = urls,
	    .n_urls = 1,
	    .connect_wait_ms = 3000,
	    .default_timeout_ms = 5000};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&cfg, &c), 0);
	core_arena *a = core_arena_new(0);
	Core__V1__HealthCheckRequest hreq =
	    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	assert_int_equal(core_rpc_call(c, "/core.v1.Health/Check", &hreq.base,
	                     &core__v1__health_check_response__descriptor,
	                     &out, NULL, a, &reply),
	    CORE_OK);
	assert_int_equal(((Core__V1__HealthCheckResponse *) out)->status,
	    CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
	Auth__V1__LoginRequest lreq = AUTH__V1__LOGIN_REQUEST__INIT;
	lreq.username = "noredis";
	lreq.password = "correct horse battery";
	/* Never a login without its session written. */
	assert_int_equal(
	    core_rpc_call(c, "/auth.v1.AuthService/Login", &lreq.base,
	        &auth__v1__token_response__descriptor, &out, NULL, a, &reply),
	    CORE_UNAVAILABLE);
	core_arena_free(a);
	core_rpc_client_free(c);
	int status = 0;
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_admin_rotates_keys_and_old_tokens_keep_verifying(void **state)
{
	(void) state;
	registered("keyuser");
	registered("keyadmin");
	PGconn *db = PQconnectdb(E.db_url);
	PQclear(PQexec(db, "UPDATE users SET role = 'admin' "
	                   "WHERE username = 'keyadmin'"));
	PQfinish(db);
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *user = NULL, *admin = NULL, *after = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("keyuser", "correct horse battery", a, &user, &reply),
	    CORE_OK);
	assert_int_equal(
	    login("keyadmin", "correct horse battery", a, &admin, &reply),
	    CORE_OK);
	Auth__V1__GetJwksResponse *before = NULL;
	assert_int_equal(get_jwks(E.cli, a, &before), CORE_OK);
	char old_kid[64];
	snprintf(old_kid, sizeof(old_kid), "%s", before->keys[0]->kid);

	Auth__V1__RotateKeysRequest req = AUTH__V1__ROTATE_KEYS_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	assert_int_equal(call("/auth.v1.AuthService/RotateKeys", &req.base,
	                     &auth__v1__rotate_keys_response__descriptor, &out,
	                     user->access_token, a, &reply),
	    CORE_PERMISSION_DENIED);
	assert_int_equal(call("/auth.v1.AuthService/RotateKeys", &req.base,
	                     &auth__v1__rotate_keys_response__descriptor, &out,
	                     NULL, a, &reply),
	    CORE_UNAUTHENTICATED);
	assert_int_equal(call("/auth.v1.AuthService/RotateKeys", &req.base,
	                     &auth__v1__rotate_keys_response__descriptor, &out,
	                     admin->access_token, a, &reply),
	    CORE_OK);
	Auth__V1__RotateKeysResponse *rot =
	    (Auth__V1__RotateKeysResponse *) out;
	assert_non_null(rot->key);
	assert_true(rot->key->active);
	assert_string_not_equal(rot->key->kid, old_kid);

	/* Both keys are published; the old one is retiring. */
	Auth__V1__GetJwksResponse *jwks = NULL;
	assert_int_equal(get_jwks(E.cli, a, &jwks), CORE_OK);
	assert_int_equal(jwks->n_keys, 2);
	Auth__V1__ListKeysRequest lreq = AUTH__V1__LIST_KEYS_REQUEST__INIT;
	assert_int_equal(call("/auth.v1.AuthService/ListKeys", &lreq.base,
	                     &auth__v1__list_keys_response__descriptor, &out,
	                     admin->access_token, a, &reply),
	    CORE_OK);
	Auth__V1__ListKeysResponse *lk = (Auth__V1__ListKeysResponse *) out;
	assert_int_equal(lk->n_keys, 2);
	int active = 0, retiring = 0;
	for (size_t i = 0; i < lk->n_keys; i++) {
		active += lk->keys[i]->active;
		retiring += lk->keys[i]->retire_after != NULL;
	}
	assert_int_equal(active, 1);
	assert_int_equal(retiring, 1);

	/* A token from before the rotation still verifies; new ones carry
	 * the new kid and verify too. */
	assert_int_equal(check(user->access_token, a, NULL), CORE_OK);
	assert_int_equal(
	    login("keyuser", "correct horse battery", a, &after, &reply),
	    CORE_OK);
	assert_int_equal(check(after->access_token, a, NULL), CORE_OK);
	core_jwks *set = NULL;
	char err[128];
	assert_int_equal(core_jwks_parse(jwks->json, strlen(jwks->json), &set,
	                     err, sizeof(err)),
	    0);
	core_jwks *only_old = core_jwks_new();
	uint8_t pk[32];
	size_t n = 0;
	for (size_t i = 0; i < jwks->n_keys; i++) {
		if (strcmp(jwks->keys[i]->kid, old_kid) == 0) {
			assert_int_equal(
			    core_b64url_decode(jwks->keys[i]->x,
			        strlen(jwks->keys[i]->x), pk, sizeof(pk), &n),
			    0);
			assert_int_equal(core_jwks_add(only_old, NULL, pk), 0);
		}
	}
	core_jwt_policy pol = {
	    .issuer = "http://127.0.0.1:8080", .audience = "microcore"};
	core_jwt_claims cl;
	const char *reason = "";
	assert_int_equal(
	    core_jwt_verify(set, after->access_token, &pol, &cl, &reason),
	    CORE_JWT_OK);
	/* Signed with the new key: unknown to a set with only the old one. */
	assert_int_equal(
	    core_jwt_verify(only_old, after->access_token, &pol, &cl, &reason),
	    CORE_JWT_UNKNOWN_KID);
	core_jwks_free(set);
	core_jwks_free(only_old);
	core_arena_free(a);
}

/* Closes every Redis connection of the svc-auth under test (named
 * "svc-auth-<pid>"; other tests' instances run beside it), as a Redis
 * restart would. Returns how many were closed. */
static int
drop_redis_connections(void)
{
	redisContext *r = redisConnect(
	    "127.0.0.1", (int) strtol(need("TEST_REDIS_PORT"), NULL, 10));
	assert_non_null(r);
	assert_int_equal(r->err, 0);
	redisReply *list = redisCommand(r, "CLIENT LIST");
	assert_non_null(list);
	int killed = 0;
	char *save = NULL;
	char mine[48];
	snprintf(mine, sizeof(mine), " name=svc-auth-%d ", (int) E.pid);
	for (char *line = strtok_r(list->str, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, mine) == NULL) {
			continue;
		}
		char id[32];
		if (sscanf(line, "id=%31s", id) == 1) {
			redisReply *k =
			    redisCommand(r, "CLIENT KILL ID %s", id);
			killed += k != NULL &&
			          k->type == REDIS_REPLY_INTEGER &&
			          k->integer == 1;
			freeReplyObject(k);
		}
	}
	freeReplyObject(list);
	redisFree(r);
	return killed;
}

static void
test_service_survives_redis_dropping_its_connections(void **state)
{
	(void) state;
	registered("redisdrop");
	core_arena *a = core_arena_new(0);
	Auth__V1__TokenResponse *tok = NULL;
	core_rpc_reply reply;
	assert_int_equal(
	    login("redisdrop", "correct horse battery", a, &tok, &reply),
	    CORE_OK);
	assert_true(drop_redis_connections() > 0);
	/* Each worker's next Redis call fails once (never retried: it may
	 * have run), then it reconnects. Which worker takes a call is nng's
	 * choice, so the failures may come after successes: count them all
	 * until 8 logins in a row succeed. */
	int unavailable = 0, ok_in_a_row = 0;
	for (int i = 0; i < 40 && ok_in_a_row < 8; i++) {
		core_status st = login(
		    "redisdrop", "correct horse battery", a, &tok, &reply);
		if (st == CORE_OK) {
			ok_in_a_row++;
			continue;
		}
		assert_int_equal(st, CORE_UNAVAILABLE);
		unavailable++;
		ok_in_a_row = 0;
	}
	assert_int_equal(ok_in_a_row, 8);
	assert_true(unavailable <= 4); /* at most once per worker */
	core_arena_free(a);
}

/* Runs last: everything the service logged while the other tests sent it
 * passwords and tokens (LOG_LEVEL=debug). */
static void
test_no_password_or_token_reaches_the_logs(void **state)
{
	(void) state;
	FILE *f = fopen(E.log_path, "r");
	assert_non_null(f);
	static char buf[4 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\"msg\":\"login\""));
	/* Every password the tests used, and the start of any JWS. */
	assert_null(strstr(buf, "correct horse battery"));
	assert_null(strstr(buf, "a long secret phrase"));
	assert_null(strstr(buf, "not the password"));
	assert_false(has_jws(buf));
	assert_null(strstr(buf, TEST_KEK));
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	core_log_init("test_auth", CORE_LOG_WARN, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_register_creates_an_active_user_with_normalised_names),
	    cmocka_unit_test(
	        test_register_stores_an_argon2id_hash_not_the_password),
	    cmocka_unit_test(
	        test_register_taken_name_is_already_exists_taken_email_looks_new),
	    cmocka_unit_test(test_register_names_every_invalid_field),
	    cmocka_unit_test(
	        test_register_rejects_nul_bytes_and_bad_utf8_naming_the_field),
	    cmocka_unit_test(
	        test_register_sql_metacharacters_are_stored_as_data),
	    cmocka_unit_test(
	        test_50_concurrent_registrations_of_one_username_yield_one_success),
	    cmocka_unit_test(
	        test_first_start_creates_one_signing_key_published_in_the_jwks),
	    cmocka_unit_test(
	        test_restart_keeps_the_key_and_a_wrong_kek_refuses_to_start),
	    cmocka_unit_test(test_login_tokens_verify_with_the_published_jwks),
	    cmocka_unit_test(
	        test_unknown_user_and_wrong_password_get_the_same_answer),
	    cmocka_unit_test(
	        test_password_length_counts_characters_at_register_and_login),
	    cmocka_unit_test(
	        test_login_is_throttled_per_username_with_retry_after),
	    cmocka_unit_test(test_refresh_rotates_and_reuse_ends_the_session),
	    cmocka_unit_test(
	        test_refresh_accepts_the_previous_token_within_the_grace_window),
	    cmocka_unit_test(test_login_sets_auth_time_and_refresh_keeps_it),
	    cmocka_unit_test(
	        test_logout_revokes_the_token_and_the_session_idempotently),
	    cmocka_unit_test(
	        test_refresh_in_the_second_of_a_revocation_mints_a_valid_token),
	    cmocka_unit_test(test_check_token_rejects_tampering),
	    cmocka_unit_test(test_disabled_user_cannot_log_in_or_refresh),
	    cmocka_unit_test(test_users_list_and_end_their_own_sessions_only),
	    cmocka_unit_test(
	        test_current_session_is_the_one_of_the_callers_token),
	    cmocka_unit_test(
	        test_current_session_needs_a_valid_unrevoked_token),
	    cmocka_unit_test(test_current_session_that_has_ended_is_not_found),
	    cmocka_unit_test(
	        test_redis_down_login_is_unavailable_and_health_not_serving),
	    cmocka_unit_test(
	        test_admin_rotates_keys_and_old_tokens_keep_verifying),
	    cmocka_unit_test(test_database_down_is_unavailable_and_recovers),
	    cmocka_unit_test(
	        test_service_survives_redis_dropping_its_connections),
	    cmocka_unit_test(test_no_password_or_token_reaches_the_logs),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
