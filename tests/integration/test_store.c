/* Integration tests for core/pg.h and core/redis.h against the real servers
 * that scripts/test.sh starts (TEST_PG_URL, TEST_REDIS_URL). Each test has
 * its own database and its own Redis key prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/pg.h"
#include "core/redis.h"
#include "pg_internal.h"

static const char *pg_admin_url;
static const char *redis_url;
static int fixture_seq;

typedef struct fixture {
	char db[64];
	char url[512];   /* TEST_PG_URL pointing at db */
	char prefix[64]; /* Redis key prefix */
	char dir[256];   /* migrations directory */
	core_pg *admin;  /* on the maintenance database */
} fixture;

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Runs sql (no parameters) on pg and expects success. */
static void
exec_ok(core_pg *pg, const char *sql)
{
	PGresult *res;
	core_status st = core_pg_exec(pg, sql, 0, NULL, &res);
	if (st != CORE_OK) {
		fail_msg("%s: %s (%s)", sql, core_status_str((int) st),
		    core_pg_error(pg));
	}
	PQclear(res);
}

/* The single value of a one-row, one-column query. */
static long
query_long(core_pg *pg, const char *sql)
{
	PGresult *res;
	assert_int_equal(core_pg_exec(pg, sql, 0, NULL, &res), CORE_OK);
	assert_int_equal(PQntuples(res), 1);
	long v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->db, sizeof(f->db), "store_test_%ld_%d", (long) getpid(),
	    ++fixture_seq);
	/* The test URL ends in /postgres and has no query: swap the name. */
	const char *slash = strrchr(pg_admin_url, '/');
	assert_non_null(slash);
	snprintf(f->url, sizeof(f->url), "%.*s/%s",
	    (int) (slash - pg_admin_url), pg_admin_url, f->db);
	snprintf(f->prefix, sizeof(f->prefix),
	    "store_test:%ld:%d:", (long) getpid(), fixture_seq);
	const char *tmp = getenv("TEST_TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/store_mig_XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));

	f->admin = core_pg_open(pg_admin_url);
	assert_non_null(f->admin);
	char sql[128];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
	exec_ok(f->admin, sql);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	char sql[128];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	    f->db);
	exec_ok(f->admin, sql);
	core_pg_close(f->admin);

	core_redis *r = core_redis_open(redis_url);
	redisReply *keys = NULL;
	if (core_redis_command(r, &keys, "KEYS %s*", f->prefix) == CORE_OK) {
		for (size_t i = 0; i < keys->elements; i++) {
			redisReply *d;
			if (core_redis_command(r, &d, "DEL %s",
			        keys->element[i]->str) == CORE_OK) {
				freeReplyObject(d);
			}
		}
		freeReplyObject(keys);
	}
	core_redis_close(r);

	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
write_file(const fixture *f, const char *name, const char *body)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(body, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* A TCP port on 127.0.0.1 where nothing listens (bound, then closed). */
static int
closed_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *) &a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(s, (struct sockaddr *) &a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

/* ---- PostgreSQL -------------------------------------------------------- */

static void
test_pg_exec_round_trips_parameters_unchanged(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	assert_true(core_pg_ping(pg));
	exec_ok(pg, "CREATE TABLE t (id serial PRIMARY KEY, s text)");

	static const char *const values[] = {
	    "Robert'); DROP TABLE t; -- \\ $1 %s \" ;",
	    "h\xc3\xa9llo \xe2\x80\x93 \xe6\x97\xa5\xe6\x9c\xac "
	    "\xf0\x9f\x8e\x89",
	};
	for (size_t i = 0; i < 2; i++) {
		PGresult *res;
		const char *params[] = {values[i]};
		assert_int_equal(
		    core_pg_exec(pg,
		        "INSERT INTO t (s) VALUES ($1) RETURNING id", 1,
		        params, &res),
		    CORE_OK);
		const char *id[] = {PQgetvalue(res, 0, 0)};
		PGresult *got;
		assert_int_equal(
		    core_pg_exec(
		        pg, "SELECT s FROM t WHERE id = $1", 1, id, &got),
		    CORE_OK);
		assert_int_equal(PQntuples(got), 1);
		assert_string_equal(PQgetvalue(got, 0, 0), values[i]);
		PQclear(got);
		PQclear(res);
	}
	assert_int_equal(query_long(pg, "SELECT count(*) FROM t"), 2);
	core_pg_close(pg);
}

static void
test_pg_unique_violation_is_already_exists(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	exec_ok(pg, "CREATE TABLE u (email text UNIQUE)");
	const char *params[] = {"a@example.com"};
	PGresult *res;
	assert_int_equal(
	    core_pg_exec(pg, "INSERT INTO u VALUES ($1)", 1, params, &res),
	    CORE_OK);
	PQclear(res);
	res = (PGresult *) 1;
	assert_int_equal(
	    core_pg_exec(pg, "INSERT INTO u VALUES ($1)", 1, params, &res),
	    CORE_ALREADY_EXISTS);
	assert_null(res);
	assert_string_equal(core_pg_sqlstate(pg), "23505");
	assert_true(strlen(core_pg_error(pg)) > 0);
	/* The handle stays usable. */
	assert_true(core_pg_ping(pg));
	core_pg_close(pg);
}

static void
test_pg_constraint_and_data_errors_are_invalid_argument(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	exec_ok(pg, "CREATE TABLE c (n int CHECK (n > 0))");
	PGresult *res;
	const char *neg[] = {"-1"};
	assert_int_equal(
	    core_pg_exec(pg, "INSERT INTO c VALUES ($1)", 1, neg, &res),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(core_pg_sqlstate(pg), "23514");
	const char *text[] = {"not a number"};
	assert_int_equal(
	    core_pg_exec(pg, "INSERT INTO c VALUES ($1)", 1, text, &res),
	    CORE_INVALID_ARGUMENT);
	assert_string_equal(core_pg_sqlstate(pg), "22P02");
	core_pg_close(pg);
}

static void
test_pg_syntax_error_is_internal(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	PGresult *res;
	assert_int_equal(
	    core_pg_exec(pg, "SELEC 1", 0, NULL, &res), CORE_INTERNAL);
	assert_null(res);
	assert_string_equal(core_pg_sqlstate(pg), "42601");
	assert_true(core_pg_ping(pg));
	core_pg_close(pg);
}

static void
test_pg_statement_timeout_is_deadline_exceeded(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	exec_ok(pg, "SET statement_timeout = 50");
	PGresult *res;
	assert_int_equal(core_pg_exec(pg, "SELECT pg_sleep(2)", 0, NULL, &res),
	    CORE_DEADLINE_EXCEEDED);
	assert_string_equal(core_pg_sqlstate(pg), "57014");
	core_pg_close(pg);
}

/* Terminates the backend pid from the admin connection and waits until it
 * is gone, so the next call surely meets a closed connection. */
static void
terminate_backend(fixture *f, long pid)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%ld)", pid);
	exec_ok(f->admin, sql);
	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM pg_stat_activity WHERE pid = %ld", pid);
	double t0 = now_s();
	while (query_long(f->admin, sql) != 0) {
		assert_true(now_s() - t0 < 10);
		usleep(10000);
	}
}

/* A connection the server closed while it sat idle (a restart, an
 * administrator) is found before use and replaced: the call succeeds. */
static void
test_pg_replaces_a_connection_closed_while_idle(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	long pid = query_long(pg, "SELECT pg_backend_pid()");
	terminate_backend(f, pid);
	long pid2 = query_long(pg, "SELECT pg_backend_pid()");
	assert_true(pid2 != pid);
	core_pg_close(pg);
}

typedef struct killer {
	fixture *f;
	char match[64]; /* a query text to find the backend by */
} killer;

/* Terminates the backend running k->match once it is seen. */
static void *
kill_when_running(void *arg)
{
	killer *k = arg;
	char sql[256];
	snprintf(sql, sizeof(sql),
	    "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE query "
	    "LIKE '%%%s%%' AND pid <> pg_backend_pid()",
	    k->match);
	long pid = 0;
	double t0 = now_s();
	while (
	    (pid = query_long(k->f->admin, sql)) == 0 && now_s() - t0 < 30) {
		usleep(5000);
	}
	if (pid != 0) {
		char q[96];
		snprintf(
		    q, sizeof(q), "SELECT pg_terminate_backend(%ld)", pid);
		exec_ok(k->f->admin, q);
	}
	return NULL;
}

/* A statement ended by 57P01 outside a transaction block never committed
 * (it commits at Sync, after its CommandComplete): it runs once more on a
 * new connection, and its row is there exactly once. */
static void
test_pg_statement_ended_by_admin_shutdown_runs_once_more(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	exec_ok(pg, "CREATE TABLE t (n int)");
	long pid = query_long(pg, "SELECT pg_backend_pid()");
	killer k = {.f = f};
	snprintf(k.match, sizeof(k.match), "killme_%ld", pid);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, kill_when_running, &k), 0);
	char sql[256];
	/* It runs until killed on its first connection (however late the
	 * killer gets to it on a loaded machine), at once on the next. */
	snprintf(sql, sizeof(sql),
	    "INSERT INTO t SELECT 1 FROM pg_sleep(CASE WHEN pg_backend_pid() "
	    "= %ld THEN 60 ELSE 0 END) /* %s */",
	    pid, k.match);
	PGresult *res;
	assert_int_equal(core_pg_exec(pg, sql, 0, NULL, &res), CORE_OK);
	PQclear(res);
	pthread_join(th, NULL);
	assert_true(query_long(pg, "SELECT pg_backend_pid()") != pid);
	assert_int_equal(query_long(pg, "SELECT count(*) FROM t"), 1);
	core_pg_close(pg);
}

/* A connection lost inside a transaction is never swapped under it: the
 * next statement of the transaction fails; the ROLLBACK after it runs on a
 * new connection, and nothing of the transaction was committed. */
static void
test_pg_connection_lost_in_a_transaction_fails_its_next_statement(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	exec_ok(pg, "CREATE TABLE t (n int)");
	exec_ok(pg, "BEGIN");
	exec_ok(pg, "INSERT INTO t VALUES (1)");
	terminate_backend(f, query_long(pg, "SELECT pg_backend_pid()"));
	PGresult *res;
	assert_int_equal(
	    core_pg_exec(pg, "INSERT INTO t VALUES (2)", 0, NULL, &res),
	    CORE_UNAVAILABLE);
	assert_null(res);
	exec_ok(pg, "ROLLBACK");
	assert_int_equal(query_long(pg, "SELECT count(*) FROM t"), 0);
	core_pg_close(pg);
}

/* How many statements with this text are prepared on pg's connection. */
static long
prepared_count(core_pg *pg, const char *text)
{
	const char *params[] = {text};
	PGresult *res;
	assert_int_equal(core_pg_exec(pg,
	                     "SELECT count(*) FROM pg_prepared_statements "
	                     "WHERE statement = $1",
	                     1, params, &res),
	    CORE_OK);
	long v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* Each statement is prepared on its first use on a connection and runs by
 * name after that: once per connection, again on a new one. One that
 * fails to prepare is not kept. */
static void
test_pg_statements_are_prepared_once_per_connection(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	const char *sql = "SELECT $1::int + 1";
	for (int i = 0; i < 5; i++) {
		char in[16];
		snprintf(in, sizeof(in), "%d", i);
		const char *params[] = {in};
		PGresult *res;
		assert_int_equal(
		    core_pg_exec(pg, sql, 1, params, &res), CORE_OK);
		assert_int_equal(
		    strtol(PQgetvalue(res, 0, 0), NULL, 10), i + 1);
		PQclear(res);
		assert_int_equal(prepared_count(pg, sql), 1);
	}
	PGresult *res;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    core_pg_exec(pg, "SELEC 1", 0, NULL, &res), CORE_INTERNAL);
		assert_string_equal(core_pg_sqlstate(pg), "42601");
	}
	assert_int_equal(prepared_count(pg, "SELEC 1"), 0);

	terminate_backend(f, query_long(pg, "SELECT pg_backend_pid()"));
	assert_int_equal(prepared_count(pg, sql), 0); /* a new connection */
	const char *params[] = {"41"};
	assert_int_equal(core_pg_exec(pg, sql, 1, params, &res), CORE_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "42");
	PQclear(res);
	assert_int_equal(prepared_count(pg, sql), 1);
	core_pg_close(pg);
}

/* More distinct statements than a connection keeps prepared: the rest run
 * unnamed, each with its right answer. */
static void
test_pg_statements_beyond_the_cache_run_unnamed(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 200; i++) {
			char sql[64];
			snprintf(
			    sql, sizeof(sql), "SELECT %d /* distinct */", i);
			assert_int_equal(query_long(pg, sql), i);
		}
	}
	assert_int_equal(query_long(pg, "SELECT count(*) FROM "
	                                "pg_prepared_statements"),
	    128);
	core_pg_close(pg);
}

/* A prepared SELECT * whose table gained a column (a migration by another
 * process) cannot be planned again with its old result type (0A000).
 * Outside a transaction it runs once more on a new connection and
 * succeeds; inside one it fails that transaction as ABORTED (to be run
 * again), and the statement is prepared afresh after it. */
static void
test_pg_a_column_added_meanwhile_does_not_break_a_prepared_statement(
    void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	core_pg *other = core_pg_open(f->url);
	exec_ok(pg, "CREATE TABLE t (a int)");
	exec_ok(pg, "INSERT INTO t VALUES (1)");
	PGresult *res;
	assert_int_equal(
	    core_pg_exec(pg, "SELECT * FROM t", 0, NULL, &res), CORE_OK);
	assert_int_equal(PQnfields(res), 1);
	PQclear(res);

	exec_ok(other, "ALTER TABLE t ADD COLUMN b int DEFAULT 7");
	assert_int_equal(
	    core_pg_exec(pg, "SELECT * FROM t", 0, NULL, &res), CORE_OK);
	assert_int_equal(PQnfields(res), 2);
	assert_string_equal(PQgetvalue(res, 0, 1), "7");
	PQclear(res);

	exec_ok(other, "ALTER TABLE t ADD COLUMN c int DEFAULT 8");
	exec_ok(pg, "BEGIN");
	assert_int_equal(
	    core_pg_exec(pg, "SELECT * FROM t", 0, NULL, &res), CORE_ABORTED);
	assert_string_equal(core_pg_sqlstate(pg), "0A000");
	exec_ok(pg, "ROLLBACK");
	assert_int_equal(
	    core_pg_exec(pg, "SELECT * FROM t", 0, NULL, &res), CORE_OK);
	assert_int_equal(PQnfields(res), 3);
	assert_string_equal(PQgetvalue(res, 0, 2), "8");
	PQclear(res);
	core_pg_close(other);
	core_pg_close(pg);
}

/* The value of a connection option the handle's connection was made with. */
static const char *
conn_option(core_pg *pg, const char *key)
{
	static char val[64];
	PQconninfoOption *o0 = PQconninfo(pg_connection(pg));
	assert_non_null(o0);
	val[0] = '\0';
	for (PQconninfoOption *o = o0; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, key) == 0 && o->val != NULL) {
			snprintf(val, sizeof(val), "%s", o->val);
		}
	}
	PQconninfoFree(o0);
	return val;
}

/* GSSAPI encryption is off unless the url or PGGSSENCMODE asks for it. */
static void
test_pg_gss_encryption_is_off_unless_asked_for(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	assert_true(core_pg_ping(pg));
	assert_string_equal(conn_option(pg, "gssencmode"), "disable");
	assert_string_equal(conn_option(pg, "connect_timeout"), "3");
	core_pg_close(pg);

	char url[600];
	snprintf(url, sizeof(url), "%s?gssencmode=prefer", f->url);
	pg = core_pg_open(url);
	assert_true(core_pg_ping(pg));
	assert_string_equal(conn_option(pg, "gssencmode"), "prefer");
	core_pg_close(pg);

	/* libpq reads PGGSSENCMODE at each connect; the handle then adds no
	 * value of its own. */
	assert_int_equal(setenv("PGGSSENCMODE", "prefer", 1), 0);
	pg = core_pg_open(f->url);
	assert_true(core_pg_ping(pg));
	assert_string_equal(conn_option(pg, "gssencmode"), "prefer");
	core_pg_close(pg);

	/* A value libpq does not know, from either place: the handle stays
	 * down and says why; nothing connects in some other mode. */
	assert_int_equal(setenv("PGGSSENCMODE", "sometimes", 1), 0);
	pg = core_pg_open(f->url);
	assert_false(core_pg_ping(pg));
	assert_non_null(strstr(core_pg_error(pg), "gssencmode"));
	core_pg_close(pg);
	assert_int_equal(unsetenv("PGGSSENCMODE"), 0);
	snprintf(url, sizeof(url), "%s?gssencmode=sometimes", f->url);
	pg = core_pg_open(url);
	assert_false(core_pg_ping(pg));
	assert_non_null(strstr(core_pg_error(pg), "gssencmode"));
	core_pg_close(pg);
}

static void
test_pg_unreachable_is_unavailable_quickly(void **state)
{
	(void) state;
	char url[128];
	snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/x",
	    closed_port());
	double t0 = now_s();
	core_pg *pg = core_pg_open(url);
	assert_non_null(pg);
	assert_false(core_pg_ping(pg));
	PGresult *res;
	assert_int_equal(
	    core_pg_exec(pg, "SELECT 1", 0, NULL, &res), CORE_UNAVAILABLE);
	assert_null(res);
	/* Past the rate limit a new attempt is made, and fails as fast. */
	usleep(600000);
	assert_int_equal(
	    core_pg_exec(pg, "SELECT 1", 0, NULL, &res), CORE_UNAVAILABLE);
	assert_true(now_s() - t0 < 4.0);
	core_pg_close(pg);

	/* A malformed url gives a handle that is always down. */
	pg = core_pg_open("postgresql://[bad");
	assert_non_null(pg);
	assert_false(core_pg_ping(pg));
	core_pg_close(pg);
	core_pg_close(NULL);
}

/* The session SQL runs on the connection open when it is set and again on
 * every reconnect; when it fails, no statement runs without it. */
static void
test_pg_session_sql_runs_on_every_connection(void **state)
{
	fixture *f = *state;
	core_pg *pg = core_pg_open(f->url);
	assert_int_equal(
	    core_pg_set_session_sql(pg, "SET application_name = 'hooked'"), 0);
	PGresult *res;
	const char *q = "SELECT current_setting('application_name')";
	assert_int_equal(core_pg_exec(pg, q, 0, NULL, &res), CORE_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "hooked");
	PQclear(res);

	long pid = query_long(pg, "SELECT pg_backend_pid()");
	terminate_backend(f, pid);
	assert_int_equal(core_pg_exec(pg, q, 0, NULL, &res), CORE_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "hooked");
	PQclear(res);
	assert_true(query_long(pg, "SELECT pg_backend_pid()") != pid);

	/* A session that cannot be set up is not used. */
	assert_int_equal(
	    core_pg_set_session_sql(pg, "SET ROLE no_such_role_here"), 0);
	assert_int_equal(core_pg_exec(pg, q, 0, NULL, &res), CORE_UNAVAILABLE);
	assert_null(res);
	assert_false(core_pg_ping(pg));
	assert_int_equal(core_pg_set_session_sql(pg, NULL), 0);
	usleep(600000); /* past the reconnect rate limit */
	assert_true(core_pg_ping(pg));
	core_pg_close(pg);
}

/* ---- Migrations -------------------------------------------------------- */

static void
test_migrations_apply_in_order_and_are_recorded(void **state)
{
	fixture *f = *state;
	write_file(f, "001_create.sql",
	    "CREATE TABLE steps (id serial PRIMARY KEY, name text);\n"
	    "INSERT INTO steps (name) VALUES ('001');\n");
	write_file(
	    f, "002_second.sql", "INSERT INTO steps (name) VALUES ('002');");
	write_file(f, "010_tenth.sql",
	    "-- several statements in one file\n"
	    "ALTER TABLE steps ADD COLUMN extra int;\n"
	    "INSERT INTO steps (name) VALUES ('010');");
	char err[512];
	assert_int_equal(core_pg_migrate(f->url, f->dir, err, sizeof(err)), 3);

	core_pg *pg = core_pg_open(f->url);
	PGresult *res;
	assert_int_equal(core_pg_exec(pg,
	                     "SELECT string_agg(name, ',' ORDER BY id) "
	                     "FROM steps",
	                     0, NULL, &res),
	    CORE_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "001,002,010");
	PQclear(res);
	assert_int_equal(
	    core_pg_exec(pg,
	        "SELECT string_agg(version, ',' ORDER BY version),"
	        " bool_and(applied_at IS NOT NULL) "
	        "FROM schema_migrations",
	        0, NULL, &res),
	    CORE_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "001,002,010");
	assert_string_equal(PQgetvalue(res, 0, 1), "t");
	PQclear(res);
	core_pg_close(pg);
}

static void
test_migrations_rerun_applies_nothing(void **state)
{
	fixture *f = *state;
	write_file(f, "001_create.sql", "CREATE TABLE r (n int);");
	write_file(f, "002_row.sql", "INSERT INTO r VALUES (1);");
	char err[512];
	assert_int_equal(core_pg_migrate(f->url, f->dir, err, sizeof(err)), 2);
	assert_int_equal(core_pg_migrate(f->url, f->dir, err, sizeof(err)), 0);
	/* A new file later is the only one applied. */
	write_file(f, "003_row.sql", "INSERT INTO r VALUES (3);");
	assert_int_equal(core_pg_migrate(f->url, f->dir, err, sizeof(err)), 1);
	core_pg *pg = core_pg_open(f->url);
	assert_int_equal(query_long(pg, "SELECT count(*) FROM r"), 2);
	assert_int_equal(
	    query_long(pg, "SELECT count(*) FROM schema_migrations"), 3);
	core_pg_close(pg);
}

typedef struct migrate_job {
	const fixture *f;
	int rv;
	char err[512];
} migrate_job;

static void *
migrate_thread(void *arg)
{
	migrate_job *j = arg;
	j->rv = core_pg_migrate(j->f->url, j->f->dir, j->err, sizeof(j->err));
	return NULL;
}

static void
test_migrations_apply_once_under_concurrent_starts(void **state)
{
	fixture *f = *state;
	write_file(f, "001_create.sql",
	    "CREATE TABLE once (n int);\n"
	    "SELECT pg_sleep(0.2);\n");
	write_file(f, "002_insert.sql",
	    "INSERT INTO once VALUES (1);\n"
	    "SELECT pg_sleep(0.2);\n");
	migrate_job jobs[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (migrate_job){.f = f};
		assert_int_equal(
		    pthread_create(&th[i], NULL, migrate_thread, &jobs[i]), 0);
	}
	int total = 0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (jobs[i].rv < 0) {
			fail_msg("migration failed: %s", jobs[i].err);
		}
		total += jobs[i].rv;
	}
	assert_int_equal(total, 2);
	core_pg *pg = core_pg_open(f->url);
	assert_int_equal(query_long(pg, "SELECT count(*) FROM once"), 1);
	assert_int_equal(
	    query_long(pg, "SELECT count(*) FROM schema_migrations"), 2);
	core_pg_close(pg);
}

static void
test_migration_failure_rolls_back_and_names_the_file(void **state)
{
	fixture *f = *state;
	write_file(f, "001_ok.sql", "CREATE TABLE a (n int);");
	write_file(f, "002_broken.sql",
	    "CREATE TABLE b (n int);\n"
	    "INSERT INTO a VALUES (1);\n"
	    "INSERT INTO nonexistent VALUES (1);\n");
	write_file(f, "003_later.sql", "CREATE TABLE c (n int);");
	char err[512];
	assert_int_equal(
	    core_pg_migrate(f->url, f->dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "002_broken.sql"));
	assert_non_null(strstr(err, "nonexistent"));

	core_pg *pg = core_pg_open(f->url);
	/* 002 left nothing behind, 003 never ran, only 001 is recorded. */
	assert_int_equal(query_long(pg, "SELECT count(*) FROM a"), 0);
	assert_int_equal(query_long(pg, "SELECT count(*) FROM pg_tables "
	                                "WHERE tablename IN ('b', 'c')"),
	    0);
	PGresult *res;
	assert_int_equal(core_pg_exec(pg,
	                     "SELECT string_agg(version, ',') "
	                     "FROM schema_migrations",
	                     0, NULL, &res),
	    CORE_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "001");
	PQclear(res);
	core_pg_close(pg);
}

static void
test_migrations_ignore_non_matching_names(void **state)
{
	fixture *f = *state;
	write_file(f, "01_short.sql", "CREATE TABLE short (n int);");
	write_file(f, "abc.sql", "CREATE TABLE abc (n int);");
	write_file(f, "001_x.txt", "CREATE TABLE txt (n int);");
	write_file(f, "001_bad name.sql", "CREATE TABLE space (n int);");
	write_file(f, "001_.sql", "CREATE TABLE empty (n int);");
	write_file(f, "README", "not sql");
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/002_dir.sql", f->dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	write_file(f, "003_ok.sql", "CREATE TABLE ok (n int);");
	char err[512];
	assert_int_equal(core_pg_migrate(f->url, f->dir, err, sizeof(err)), 1);
	core_pg *pg = core_pg_open(f->url);
	assert_int_equal(
	    query_long(pg, "SELECT count(*) FROM pg_tables WHERE schemaname "
	                   "= 'public' AND tablename <> 'schema_migrations'"),
	    1);
	assert_int_equal(query_long(pg, "SELECT count(*) FROM pg_tables "
	                                "WHERE tablename = 'ok'"),
	    1);
	core_pg_close(pg);
}

static void
test_migrations_refuse_two_files_with_one_version(void **state)
{
	fixture *f = *state;
	write_file(f, "001_a.sql", "CREATE TABLE a (n int);");
	write_file(f, "001_b.sql", "CREATE TABLE b (n int);");
	char err[512];
	assert_int_equal(
	    core_pg_migrate(f->url, f->dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "001_b.sql"));
	assert_non_null(strstr(err, "001_a.sql"));
}

static void
test_migrations_report_missing_dir_and_unreachable_server(void **state)
{
	fixture *f = *state;
	char err[512];
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/missing", f->dir);
	assert_int_equal(core_pg_migrate(f->url, dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing"));
	char url[128];
	snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/x",
	    closed_port());
	assert_int_equal(core_pg_migrate(url, f->dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot connect"));
}

/* ---- Redis ------------------------------------------------------------- */

static void
test_redis_set_get_round_trip(void **state)
{
	fixture *f = *state;
	core_redis *r = core_redis_open(redis_url);
	assert_true(core_redis_ping(r));
	char key[128];
	snprintf(key, sizeof(key), "%sgreeting", f->prefix);
	redisReply *rep;
	assert_int_equal(
	    core_redis_command(r, &rep, "SET %s %s", key, "h\xc3\xa9llo"),
	    CORE_OK);
	assert_int_equal(rep->type, REDIS_REPLY_STATUS);
	freeReplyObject(rep);
	assert_int_equal(core_redis_command(r, &rep, "GET %s", key), CORE_OK);
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	assert_string_equal(rep->str, "h\xc3\xa9llo");
	freeReplyObject(rep);
	core_redis_close(r);
	core_redis_close(NULL);
}

static void
test_redis_argv_is_binary_safe(void **state)
{
	fixture *f = *state;
	core_redis *r = core_redis_open(redis_url);
	char key[128];
	snprintf(key, sizeof(key), "%sbin\n key", f->prefix);
	static const char value[] = {'a', '\0', 'b', '\r', '\n', '\0', 'c'};
	const char *set[] = {"SET", key, value};
	const size_t setlen[] = {3, strlen(key), sizeof(value)};
	redisReply *rep;
	assert_int_equal(
	    core_redis_commandargv(r, 3, set, setlen, &rep), CORE_OK);
	freeReplyObject(rep);
	/* %b is binary-safe in the printf-style call too. */
	assert_int_equal(
	    core_redis_command(r, &rep, "GET %b", key, strlen(key)), CORE_OK);
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	assert_int_equal(rep->len, sizeof(value));
	assert_memory_equal(rep->str, value, sizeof(value));
	freeReplyObject(rep);
	core_redis_close(r);
}

static void
test_redis_pipeline_runs_three_commands_in_one_round_trip(void **state)
{
	fixture *f = *state;
	core_redis *r = core_redis_open(redis_url);
	char key[128];
	snprintf(key, sizeof(key), "%scounter", f->prefix);
	const char *c0[] = {"SET", key, "41"};
	const char *c1[] = {"INCR", key};
	const char *c2[] = {"GET", key};
	const int argcs[] = {3, 2, 2};
	const char *const *argvs[] = {c0, c1, c2};
	redisReply *replies[3];
	assert_int_equal(
	    core_redis_pipeline(r, 3, argcs, argvs, NULL, replies), CORE_OK);
	assert_int_equal(replies[0]->type, REDIS_REPLY_STATUS);
	assert_int_equal(replies[1]->type, REDIS_REPLY_INTEGER);
	assert_int_equal(replies[1]->integer, 42);
	assert_int_equal(replies[2]->type, REDIS_REPLY_STRING);
	assert_string_equal(replies[2]->str, "42");
	for (int i = 0; i < 3; i++) {
		freeReplyObject(replies[i]);
	}
	/* An error reply stays in its slot; the others are unaffected. */
	const char *bad[] = {"HGET", key, "field"};
	const char *const *argvs2[] = {c1, bad, c2};
	const int argcs2[] = {2, 3, 2};
	assert_int_equal(
	    core_redis_pipeline(r, 3, argcs2, argvs2, NULL, replies), CORE_OK);
	assert_int_equal(replies[0]->integer, 43);
	assert_int_equal(replies[1]->type, REDIS_REPLY_ERROR);
	assert_string_equal(replies[2]->str, "43");
	for (int i = 0; i < 3; i++) {
		freeReplyObject(replies[i]);
	}
	assert_int_equal(
	    core_redis_pipeline(r, 0, argcs, argvs, NULL, replies),
	    CORE_INVALID_ARGUMENT);
	core_redis_close(r);
}

static void
test_redis_error_reply_is_internal(void **state)
{
	fixture *f = *state;
	core_redis *r = core_redis_open(redis_url);
	char key[128];
	snprintf(key, sizeof(key), "%snotanumber", f->prefix);
	redisReply *rep;
	assert_int_equal(
	    core_redis_command(r, &rep, "SET %s abc", key), CORE_OK);
	freeReplyObject(rep);
	rep = (redisReply *) 1;
	assert_int_equal(
	    core_redis_command(r, &rep, "INCR %s", key), CORE_INTERNAL);
	assert_null(rep);
	assert_non_null(strstr(core_redis_error(r), "ERR"));
	/* An error reply leaves the connection usable. */
	assert_true(core_redis_ping(r));
	core_redis_close(r);
}

/* As for PostgreSQL: a connection the server closed while idle is found
 * before use and replaced, so the command succeeds.
 * CLIENT KILL ID, not TYPE normal: tests of other suites may run at the same
 * time against the same server, and their connections must survive. */
static void
test_redis_replaces_a_connection_closed_while_idle(void **state)
{
	(void) state;
	core_redis *r = core_redis_open(redis_url);
	core_redis *admin = core_redis_open(redis_url);
	redisReply *rep;
	assert_int_equal(core_redis_command(r, &rep, "CLIENT ID"), CORE_OK);
	long long id = rep->integer;
	freeReplyObject(rep);
	assert_int_equal(
	    core_redis_command(admin, &rep, "CLIENT KILL ID %lld", id),
	    CORE_OK);
	assert_int_equal(rep->integer, 1);
	freeReplyObject(rep);

	assert_int_equal(core_redis_command(r, &rep, "CLIENT ID"), CORE_OK);
	assert_true(rep->integer != id);
	freeReplyObject(rep);
	assert_true(core_redis_ping(r));
	core_redis_close(admin);
	core_redis_close(r);
}

/* A fake Redis: answers +OK to the first command of each connection (the
 * handle's CLIENT SETNAME), counts the INCRs it reads, and closes the first
 * connection after its INCR without a reply. */
typedef struct fake_redis {
	int lfd;
	int incrs;
} fake_redis;

static void *
fake_redis_run(void *arg)
{
	fake_redis *fr = arg;
	for (int conn = 0; conn < 2; conn++) {
		struct timeval tv = {2, 0};
		setsockopt(fr->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		int c = accept(fr->lfd, NULL, NULL);
		if (c < 0) {
			return NULL; // no reconnect: the command was not resent
		}
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char buf[512];
		for (int cmd = 0;; cmd++) {
			ssize_t n = read(c, buf, sizeof(buf) - 1);
			if (n <= 0) {
				break;
			}
			buf[n] = '\0';
			if (strstr(buf, "INCR") == NULL) {
				(void) !write(c, "+OK\r\n", 5);
				continue;
			}
			fr->incrs++;
			if (conn == 0) {
				break; // the server "dies" after running it
			}
			(void) !write(c, ":1\r\n", 4);
		}
		close(c);
	}
	return NULL;
}

/* A command whose bytes reached the server may have run: when the reply
 * never comes it answers UNAVAILABLE and is not sent again (an INCR must
 * not count twice). */
static void
test_redis_command_that_reached_the_server_is_not_resent(void **state)
{
	(void) state;
	fake_redis fr = {.lfd = socket(AF_INET, SOCK_STREAM, 0)};
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fr.lfd, (struct sockaddr *) &a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(fr.lfd, (struct sockaddr *) &a, &len), 0);
	assert_int_equal(listen(fr.lfd, 4), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, fake_redis_run, &fr), 0);
	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(a.sin_port));
	core_redis *r = core_redis_open(url);
	redisReply *rep;
	assert_int_equal(
	    core_redis_command(r, &rep, "INCR counter"), CORE_UNAVAILABLE);
	assert_null(rep);
	pthread_join(th, NULL);
	assert_int_equal(fr.incrs, 1);
	core_redis_close(r);
	close(fr.lfd);
}

static void
test_redis_unreachable_is_unavailable_and_ping_false(void **state)
{
	(void) state;
	char url[128];
	snprintf(
	    url, sizeof(url), "redis://:secret@127.0.0.1:%d/0", closed_port());
	double t0 = now_s();
	core_redis *r = core_redis_open(url);
	assert_non_null(r);
	assert_false(core_redis_ping(r));
	redisReply *rep;
	assert_int_equal(
	    core_redis_command(r, &rep, "PING"), CORE_UNAVAILABLE);
	assert_null(rep);
	const char *argv[] = {"PING"};
	assert_int_equal(
	    core_redis_commandargv(r, 1, argv, NULL, &rep), CORE_UNAVAILABLE);
	const int argcs[] = {1};
	const char *const *argvs[] = {argv};
	redisReply *replies[1];
	assert_int_equal(
	    core_redis_pipeline(r, 1, argcs, argvs, NULL, replies),
	    CORE_UNAVAILABLE);
	assert_null(replies[0]);
	assert_true(now_s() - t0 < 4.0);
	core_redis_close(r);

	r = core_redis_open("http://127.0.0.1:1");
	assert_non_null(r);
	assert_false(core_redis_ping(r));
	core_redis_close(r);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	pg_admin_url = getenv("TEST_PG_URL");
	redis_url = getenv("TEST_REDIS_URL");
	if (pg_admin_url == NULL || pg_admin_url[0] == '\0' ||
	    redis_url == NULL || redis_url[0] == '\0') {
		fprintf(stderr,
		    "test_store: TEST_PG_URL and TEST_REDIS_URL are not set.\n"
		    "These tests need real servers: run them with "
		    "scripts/test.sh (e.g. scripts/test.sh --only store).\n");
		return 1;
	}
	/* As core_rpc_server_start does: hiredis writes with write(2), and a
	 * killed connection must give an error, not end the process. */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	}
	const struct CMUnitTest tests[] = {
	    T(test_pg_exec_round_trips_parameters_unchanged),
	    T(test_pg_unique_violation_is_already_exists),
	    T(test_pg_constraint_and_data_errors_are_invalid_argument),
	    T(test_pg_syntax_error_is_internal),
	    T(test_pg_statement_timeout_is_deadline_exceeded),
	    T(test_pg_replaces_a_connection_closed_while_idle),
	    T(test_pg_statement_ended_by_admin_shutdown_runs_once_more),
	    T(test_pg_connection_lost_in_a_transaction_fails_its_next_statement),
	    T(test_pg_statements_are_prepared_once_per_connection),
	    T(test_pg_statements_beyond_the_cache_run_unnamed),
	    T(test_pg_a_column_added_meanwhile_does_not_break_a_prepared_statement),
	    T(test_pg_gss_encryption_is_off_unless_asked_for),
	    T(test_pg_unreachable_is_unavailable_quickly),
	    T(test_pg_session_sql_runs_on_every_connection),
	    T(test_migrations_apply_in_order_and_are_recorded),
	    T(test_migrations_rerun_applies_nothing),
	    T(test_migrations_apply_once_under_concurrent_starts),
	    T(test_migration_failure_rolls_back_and_names_the_file),
	    T(test_migrations_ignore_non_matching_names),
	    T(test_migrations_refuse_two_files_with_one_version),
	    T(test_migrations_report_missing_dir_and_unreachable_server),
	    T(test_redis_set_get_round_trip),
	    T(test_redis_argv_is_binary_safe),
	    T(test_redis_pipeline_runs_three_commands_in_one_round_trip),
	    T(test_redis_error_reply_is_internal),
	    T(test_redis_replaces_a_connection_closed_while_idle),
	    T(test_redis_command_that_reached_the_server_is_not_resent),
	    T(test_redis_unreachable_is_unavailable_and_ping_false),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
