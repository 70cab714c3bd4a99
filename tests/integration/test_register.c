/* Registration's abuse limits against a real svc-auth (on a database of its
 * own on the test PostgreSQL, and the test Redis): a taken name is refused
 * without an Argon2id hash, registrations are throttled per client IP, and
 * the password-hash gate (one slot, one waiter here) refuses with
 * RESOURCE_EXHAUSTED when its queue is full, a login taking the place of a
 * waiting registration. What svc-auth hashed is read from its debug log:
 * every hash logs "password hash" with the call's request id. */
#include <setjmp.h>
#include <stdarg.h>
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
#define REGISTER_MAX_PER_IP 3

/* A stored hash whose verification takes seconds (Argon2id t=1500 over
 * 8 MiB): a login of this user holds the only hash slot meanwhile. */
#define SLOW_HASH                                                             \
	"$argon2id$v=19$m=8192,t=1500,p=1$c2FsdHNhbHRzYWx0c2FsdA$"            \
	"aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

static struct {
	char db[64];
	char db_url[256];
	char url[64];
	char log_path[256];
	char ip[64]; /* this run's client address */
	pid_t pid;
	PGconn *admin;
	core_rpc_client *cli;
} E;

static int
setup_all(void **state)
{
	(void) state;
	E.admin = PQconnectdb(need("TEST_PG_URL"));
	assert_int_equal(PQstatus(E.admin), CONNECTION_OK);
	snprintf(E.db, sizeof(E.db), "register_test_%d", (int) getpid());
	char q[256];
	snprintf(
	    q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", E.db);
	pg_ok(E.admin, q);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", E.db);
	pg_ok(E.admin, q);
	snprintf(E.db_url, sizeof(E.db_url),
	    "postgresql://postgres@127.0.0.1:%s/%s", need("TEST_PG_PORT"),
	    E.db);
	snprintf(E.url, sizeof(E.url), "tcp://127.0.0.1:%d", free_port());
	/* An address of its own: the Redis counters are shared. */
	snprintf(E.ip, sizeof(E.ip), "2001:db8::%x:%x", (unsigned) getpid(),
	    (unsigned) time(NULL) & 0xffff);

	char listen[96], dburl[320], redis[320];
	snprintf(listen, sizeof(listen), "AUTH_RPC_LISTEN=%s", E.url);
	snprintf(dburl, sizeof(dburl), "AUTH_DATABASE_URL=%s", E.db_url);
	snprintf(redis, sizeof(redis), "REDIS_URL=%s", need("TEST_REDIS_URL"));
	char *envp[] = {listen, dburl, redis, "LOG_LEVEL=debug",
	    "RPC_WORKERS=6", "AUTH_MIGRATE_WAIT_S=10", "AUTH_KEK=" TEST_KEK,
	    "AUTH_HASH_CONCURRENCY=1", "AUTH_HASH_QUEUE=1",
	    "AUTH_REGISTER_MAX_PER_IP=3", "AUTH_REGISTER_WINDOW_S=60",
	    "AUTH_LOGIN_MAX_PER_IP=1000", NULL};
	char *argv[] = {SVC_AUTH_PATH, NULL};
	const char *tmp =
	    getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
	snprintf(E.log_path, sizeof(E.log_path), "%s/svc-auth-reg-%d.log", tmp,
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
	    .default_timeout_ms = 30000};
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

/* One call: Register (email != NULL) or Login, with request id rid. */
typedef struct call {
	const char *username, *email, *client_ip, *rid;
	core_status st;
	uint32_t retry_after_s;
	pthread_t thread;
} call;

#define CALL(u, e, ip, id)                                                    \
	{                                                                     \
		.username = (u), .email = (e), .client_ip = (ip), .rid = (id) \
	}

static void *
run_call(void *arg)
{
	call *k = arg;
	core_arena *a = core_arena_new(0);
	core_md md[] = {{"request-id", k->rid}};
	core_rpc_opts opts = {.timeout_ms = 30000, .md = md, .n_md = 1};
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	if (k->email != NULL) {
		Auth__V1__RegisterRequest req =
		    AUTH__V1__REGISTER_REQUEST__INIT;
		req.username = (char *) (uintptr_t) k->username;
		req.email = (char *) (uintptr_t) k->email;
		req.password = PASSWORD;
		req.client_ip =
		    (char *) (uintptr_t) (k->client_ip ? k->client_ip : "");
		k->st = core_rpc_call(E.cli, "/auth.v1.AuthService/Register",
		    &req.base, &auth__v1__register_response__descriptor, &out,
		    &opts, a, &reply);
	} else {
		Auth__V1__LoginRequest req = AUTH__V1__LOGIN_REQUEST__INIT;
		req.username = (char *) (uintptr_t) k->username;
		req.password = PASSWORD;
		req.client_ip = E.ip;
		k->st = core_rpc_call(E.cli, "/auth.v1.AuthService/Login",
		    &req.base, &auth__v1__token_response__descriptor, &out,
		    &opts, a, &reply);
	}
	k->retry_after_s = reply.retry_after_s;
	core_arena_free(a);
	return NULL;
}

static core_status
run(call *k)
{
	run_call(k);
	return k->st;
}

static void
start(call *k)
{
	assert_int_equal(pthread_create(&k->thread, NULL, run_call, k), 0);
}

static core_status
finish(call *k)
{
	pthread_join(k->thread, NULL);
	return k->st;
}

/* Whether svc-auth logged msg (exactly) for the call with request id
 * rid. */
static bool
logged(const char *rid, const char *msg)
{
	char want_rid[128], want_msg[128], line[4096];
	snprintf(want_rid, sizeof(want_rid), "\"request_id\":\"%s\"", rid);
	snprintf(want_msg, sizeof(want_msg), "\"msg\":\"%s\"", msg);
	FILE *f = fopen(E.log_path, "r");
	assert_non_null(f);
	bool found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		found = strstr(line, want_rid) && strstr(line, want_msg);
	}
	fclose(f);
	return found;
}

/* Waits (at most 20 s) until svc-auth has logged msg for rid. */
static void
wait_logged(const char *rid, const char *msg)
{
	for (int i = 0; i < 2000 && !logged(rid, msg); i++) {
		usleep(10000);
	}
	assert_true(logged(rid, msg));
}

/* A taken username is refused before any hash; a taken email is not
 * refused at all, and costs the hash a new one costs (no timing
 * shortcut: the answer must not tell a taken address from a free one). */
static void
test_taken_name_is_refused_without_a_hash_taken_email_hashes(void **state)
{
	(void) state;
	call fresh = CALL("taken1", "taken1@example.com", NULL, "reg-fresh");
	call name =
	    CALL("TAKEN1", "other1@example.com", NULL, "reg-taken-name");
	call mail =
	    CALL("other1", "Taken1@Example.com", NULL, "reg-taken-mail");
	assert_int_equal(run(&fresh), CORE_OK);
	/* A registration that hashes says so in the log... */
	assert_true(logged("reg-fresh", "password hash"));
	assert_int_equal(run(&name), CORE_ALREADY_EXISTS);
	assert_int_equal(run(&mail), CORE_OK);
	/* ...the refused one did not, the taken email did. */
	assert_false(logged("reg-taken-name", "password hash"));
	assert_false(logged("reg-taken-name", "password hash started"));
	assert_true(logged("reg-taken-mail", "password hash"));
}

static void
test_registrations_are_throttled_per_client_ip(void **state)
{
	(void) state;
	char name[32], mail[64], other_ip[80];
	for (int i = 0; i < REGISTER_MAX_PER_IP; i++) {
		snprintf(name, sizeof(name), "throttled%d", i);
		snprintf(mail, sizeof(mail), "throttled%d@example.com", i);
		call k = CALL(name, mail, E.ip, "reg-ip");
		assert_int_equal(run(&k), CORE_OK);
	}
	call over =
	    CALL("throttled9", "throttled9@example.com", E.ip, "reg-over");
	assert_int_equal(run(&over), CORE_RESOURCE_EXHAUSTED);
	assert_in_range(over.retry_after_s, 1, 60);
	assert_false(logged("reg-over", "password hash"));
	/* A taken name costs the same budget: probing names is throttled. */
	call taken = CALL("throttled0", "x0@example.com", E.ip, "reg-over2");
	assert_int_equal(run(&taken), CORE_RESOURCE_EXHAUSTED);
	/* Another address, and a call from inside (no client_ip), pass. */
	snprintf(other_ip, sizeof(other_ip), "%s1", E.ip);
	call other =
	    CALL("throttled8", "throttled8@example.com", other_ip, "reg-o");
	assert_int_equal(run(&other), CORE_OK);
	call inside =
	    CALL("throttled7", "throttled7@example.com", NULL, "reg-i");
	assert_int_equal(run(&inside), CORE_OK);
}

static void
test_full_hash_queue_is_resource_exhausted_and_logins_come_first(void **state)
{
	(void) state;
	call real = CALL("realuser", "realuser@example.com", NULL, "reg-real");
	assert_int_equal(run(&real), CORE_OK);
	PGconn *db = PQconnectdb(E.db_url);
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	pg_ok(db, "INSERT INTO users (username, email, password_hash) "
	          "VALUES ('slowhash', 'slow@example.com', '" SLOW_HASH "')");
	PQfinish(db);

	/* The only slot: a verification that takes seconds. */
	call slow = CALL("slowhash", NULL, NULL, "login-slow");
	start(&slow);
	wait_logged("login-slow", "password hash started");
	/* The only place in the queue: a registration. */
	call queued =
	    CALL("queued1", "queued1@example.com", NULL, "reg-queued");
	start(&queued);
	wait_logged("reg-queued", "password hash queued");
	/* A second registration finds the queue full. */
	call full = CALL("full1", "full1@example.com", NULL, "reg-full");
	assert_int_equal(run(&full), CORE_RESOURCE_EXHAUSTED);
	assert_true(full.retry_after_s >= 1);
	/* A login takes the waiting registration's place... */
	call login = CALL("realuser", NULL, NULL, "login-real");
	start(&login);
	assert_int_equal(finish(&queued), CORE_RESOURCE_EXHAUSTED);
	assert_true(queued.retry_after_s >= 1);
	wait_logged("login-real", "password hash queued");
	/* ...and a queue full of logins refuses another one. */
	call second = CALL("realuser", NULL, NULL, "login-second");
	assert_int_equal(run(&second), CORE_RESOURCE_EXHAUSTED);
	assert_int_equal(finish(&slow), CORE_UNAUTHENTICATED);
	assert_int_equal(finish(&login), CORE_OK);
	assert_false(logged("reg-full", "password hash"));
	assert_false(logged("reg-queued", "password hash"));
}

/* Two registrations of one name that both pass the check before the hash:
 * the unique index decides, and the loser answers ALREADY_EXISTS. The
 * other registration is an INSERT made while this one waits for a slot. */
static void
test_registration_that_loses_a_race_is_already_exists(void **state)
{
	(void) state;
	call slow = CALL("slowhash", NULL, NULL, "login-slow-race");
	start(&slow);
	wait_logged("login-slow-race", "password hash started");
	call racer = CALL("racer1", "racer1@example.com", NULL, "reg-race");
	start(&racer);
	wait_logged("reg-race", "password hash queued");
	PGconn *db = PQconnectdb(E.db_url);
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	pg_ok(db, "INSERT INTO users (username, email, password_hash) "
	          "VALUES ('racer1', 'winner@example.com', 'x')");
	PQfinish(db);
	assert_int_equal(finish(&slow), CORE_UNAUTHENTICATED);
	assert_int_equal(finish(&racer), CORE_ALREADY_EXISTS);
	assert_true(logged("reg-race", "password hash"));
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	core_log_init("test_register", CORE_LOG_WARN, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_taken_name_is_refused_without_a_hash_taken_email_hashes),
	    cmocka_unit_test(test_registrations_are_throttled_per_client_ip),
	    cmocka_unit_test(
	        test_full_hash_queue_is_resource_exhausted_and_logins_come_first),
	    cmocka_unit_test(
	        test_registration_that_loses_a_race_is_already_exists),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
