/* svc-auth as a process, on a database of its own on the test PostgreSQL
 * and on the test Redis (both started by scripts/test.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "auth/v1/auth.pb-c.h"
#include "core/v1/health.pb-c.h"

#include "core/jwt.h"
#include "core/log.h"
#include "core/rpc.h"

extern char **environ;

#define TEST_KEK "dGVzdC1rZWstMzItYnl0ZXMtbG9uZy0xMjM0NTY3ODk="

typedef struct env {
	char db[64];
	char db_url[256];
	char url[64];
	pid_t pid;
	PGconn *admin; /* superuser connection to the test server */
	core_rpc_client *cli;
} env;

static env E;

static const char *
need(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || v[0] == '\0') {
		fail_msg("%s is not set: run the tests with scripts/test.sh, "
		         "which starts PostgreSQL and Redis for them",
		    name);
	}
	return v;
}

static int
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	bind(fd, (struct sockaddr *) &a, sizeof(a));
	getsockname(fd, (struct sockaddr *) &a, &len);
	close(fd);
	return ntohs(a.sin_port);
}

static void
sql(const char *q)
{
	PGresult *r = PQexec(E.admin, q);
	ExecStatusType s = PQresultStatus(r);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		fail_msg("%s: %s", q, PQerrorMessage(E.admin));
	}
	PQclear(r);
}

static core_status
health(void)
{
	core_arena *a = core_arena_new(0);
	Core__V1__HealthCheckRequest req = CORE__V1__HEALTH_CHECK_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_rpc_opts opts = {.timeout_ms = 3000};
	core_status st = core_rpc_call(E.cli, "/core.v1.Health/Check",
	    &req.base, &core__v1__health_check_response__descriptor, &out,
	    &opts, a, &reply);
	if (st == CORE_OK &&
	    ((Core__V1__HealthCheckResponse *) out)->status !=
	        CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
		st = CORE_UNAVAILABLE;
	}
	core_arena_free(a);
	return st;
}

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
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", E.db);
	sql(q);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", E.db);
	sql(q);
	snprintf(E.db_url, sizeof(E.db_url),
	    "postgresql://postgres@127.0.0.1:%s/%s", pg_port, E.db);
	snprintf(E.url, sizeof(E.url), "tcp://127.0.0.1:%d", free_port());

	char listen[96], dburl[320], redis[320];
	snprintf(listen, sizeof(listen), "AUTH_RPC_LISTEN=%s", E.url);
	snprintf(dburl, sizeof(dburl), "AUTH_DATABASE_URL=%s", E.db_url);
	snprintf(redis, sizeof(redis), "REDIS_URL=%s", redis_url);
	char *envp[] = {listen, dburl, redis, "LOG_LEVEL=warn",
	    "RPC_WORKERS=4", "AUTH_MIGRATE_WAIT_S=10",
	    "AUTH_KEK=" TEST_KEK, NULL};
	char *argv[] = {SVC_AUTH_PATH, NULL};
	assert_int_equal(
	    posix_spawn(&E.pid, SVC_AUTH_PATH, NULL, NULL, argv, envp), 0);

	const char *urls[] = {E.url};
	core_rpc_client_config cfg = {.name = "auth",
	    .urls = urls,
	    .n_urls = 1,
	    .connect_wait_ms = 500,
	    .default_timeout_ms = 5000};
	assert_int_equal(core_rpc_client_new(&cfg, &E.cli), 0);
	core_status st = CORE_UNAVAILABLE;
	for (int i = 0; i < 100 && st != CORE_OK; i++) {
		st = health();
		if (st != CORE_OK) {
			usleep(100000);
		}
	}
	assert_int_equal(st, CORE_OK);
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
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", E.db);
	sql(q);
	PQfinish(E.admin);
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

static void
test_register_duplicates_are_already_exists_without_saying_which(
    void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply r1, r2;
	assert_int_equal(do_register("grace", "grace@example.com",
	                     "correct horse battery", a, &resp, &r1),
	    CORE_OK);
	/* The same username in other case; the same email in other case. */
	assert_int_equal(do_register("GRACE", "other@example.com",
	                     "correct horse battery", a, &resp, &r1),
	    CORE_ALREADY_EXISTS);
	assert_int_equal(do_register("grace2", "Grace@Example.com",
	                     "correct horse battery", a, &resp, &r2),
	    CORE_ALREADY_EXISTS);
	/* One answer for both: it does not reveal which one exists. */
	assert_string_equal(r1.message, r2.message);
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

	assert_int_equal(do_register("", "", "", a, &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(reply.n_details, 3);
	assert_int_equal(do_register("mallory", "mallory@example.com",
	                     "mallory", a, &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(reply.detail_fields[0], "password");
	assert_int_equal(do_register("mallory", "mallory@example.com",
	                     "bad\xff\xfeutf8!", a, &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(do_register("robert'); DROP TABLE users;--",
	                     "bobby@example.com", "correct horse battery", a,
	                     &resp, &reply),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(reply.detail_fields[0], "username");
	core_arena_free(a);
}

static void
test_register_sql_metacharacters_are_stored_as_data(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply reply;
	assert_int_equal(do_register("obrien", "o'brien+x@example.com",
	                     "it's a '); DROP TABLE users; -- pass", a, &resp,
	                     &reply),
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
	r->st = do_register("samename", email, "correct horse battery", a,
	    &resp, &reply);
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
		r[i] = (racer) {.id = i, .go = &go};
		pthread_create(&t[i], NULL, race_main, &r[i]);
	}
	int ok = 0, exists = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].st == CORE_OK;
		exists += r[i].st == CORE_ALREADY_EXISTS;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(ok, 1);
	assert_int_equal(exists, N - 1);
}

static void
test_database_down_is_unavailable_and_recovers(void **state)
{
	(void) state;
	core_arena *a = core_arena_new(0);
	Auth__V1__RegisterResponse *resp = NULL;
	core_rpc_reply reply;
	char q[256];
	/* Take this test's database away from the service: refuse new
	 * connections and cut the existing ones. */
	snprintf(q, sizeof(q), "ALTER DATABASE %s ALLOW_CONNECTIONS false",
	    E.db);
	sql(q);
	snprintf(q, sizeof(q),
	    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE datname = '%s'",
	    E.db);
	sql(q);
	assert_int_equal(health(), CORE_UNAVAILABLE);
	assert_int_equal(do_register("downtime", "down@example.com",
	                     "correct horse battery", a, &resp, &reply),
	    CORE_UNAVAILABLE);
	assert_null(strstr(reply.message, "postgres")); /* no internals */

	snprintf(q, sizeof(q), "ALTER DATABASE %s ALLOW_CONNECTIONS true",
	    E.db);
	sql(q);
	core_status st = CORE_UNAVAILABLE;
	for (int i = 0; i < 50 && st != CORE_OK; i++) {
		usleep(100000); /* reconnects are rate-limited */
		st = health();
	}
	assert_int_equal(st, CORE_OK);
	/* Each worker reconnects on its own; every call ends up served. */
	for (int i = 0; i < 50; i++) {
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
	assert_int_equal(
	    core_jwks_parse(resp->json, strlen(resp->json), &set, err,
	        sizeof(err)),
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
	snprintf(redis, sizeof(redis), "REDIS_URL=%s", getenv("TEST_REDIS_URL"));
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
	assert_int_equal(second_instance(
	                     "b3RoZXIta2VrLTMyLWJ5dGVzLWxvbmctMTIzNDU2Nzg=",
	                     kid),
	    1);
	assert_int_equal(second_instance("not-base64!", kid), 1);
	assert_int_equal(second_instance("", kid), 1);
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
	        test_register_duplicates_are_already_exists_without_saying_which),
	    cmocka_unit_test(test_register_names_every_invalid_field),
	    cmocka_unit_test(
	        test_register_sql_metacharacters_are_stored_as_data),
	    cmocka_unit_test(
	        test_50_concurrent_registrations_of_one_username_yield_one_success),
	    cmocka_unit_test(
	        test_first_start_creates_one_signing_key_published_in_the_jwks),
	    cmocka_unit_test(
	        test_restart_keeps_the_key_and_a_wrong_kek_refuses_to_start),
	    cmocka_unit_test(test_database_down_is_unavailable_and_recovers),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
