/* The metrics of core/pg.h and core/redis.h against the real servers that
 * scripts/test.sh starts (TEST_PG_URL, TEST_REDIS_URL): statements and
 * commands counted by outcome, their latency, connections open, and
 * reconnects after the server ended a connection. Read from the registry's
 * text, as Prometheus reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../metrics_scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/pg.h"
#include "core/redis.h"

/* The component of this test's series (its core_log_init name). */
#define COMPONENT "store-metrics-test"
#define L(labels) "{component=\"" COMPONENT "\"" labels "}"

static const char *pg_url;
static const char *redis_url;

/* The value of sample (name and labels, as rendered), or -1 when the
 * registry's text has no such sample. */
static double
scraped(const char *sample)
{
	return metrics_scraped(sample, -1);
}

/* Fails unless sample is rendered with value want. */
static void
expect(const char *sample, double want)
{
	double v = scraped(sample);
	if (v != want) {
		fail_msg("%s is %g, expected %g", sample, v, want);
	}
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
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

static void
exec_ok(core_pg *pg, const char *sql)
{
	PGresult *res = NULL;
	assert_int_equal(core_pg_exec(pg, sql, 0, NULL, &res), CORE_OK);
	PQclear(res);
}

/* ---- PostgreSQL -------------------------------------------------------- */

#define PG_OK "pg_statements_total" L(",outcome=\"ok\"")
#define PG_ERROR "pg_statements_total" L(",outcome=\"error\"")
#define PG_UNAVAILABLE "pg_statements_total" L(",outcome=\"unavailable\"")
#define PG_TIMED "pg_statement_duration_seconds_count" L("")
#define PG_CONNECTIONS "pg_connections" L("")
#define PG_RECONNECTS "pg_reconnects_total" L("")

static void
test_pg_statements_are_counted_by_outcome(void **state)
{
	(void) state;
	core_pg *pg = core_pg_open(pg_url);
	assert_non_null(pg);
	double ok = scraped(PG_OK), err = scraped(PG_ERROR);
	double down = scraped(PG_UNAVAILABLE), timed = scraped(PG_TIMED);
	double conns = scraped(PG_CONNECTIONS);
	assert_true(ok >= 0 && err >= 0 && down >= 0 && timed >= 0);
	assert_true(conns >= 1); /* this handle's */

	exec_ok(pg, "SELECT 1");
	exec_ok(pg, "SELECT 2");
	PGresult *res = NULL;
	/* The server says no: a syntax error, a division by zero. */
	assert_int_equal(
	    core_pg_exec(pg, "SELEC 1", 0, NULL, &res), CORE_INTERNAL);
	assert_int_equal(core_pg_exec(pg, "SELECT 1/0", 0, NULL, &res),
	    CORE_INVALID_ARGUMENT);
	expect(PG_OK, ok + 2);
	expect(PG_ERROR, err + 2);
	expect(PG_UNAVAILABLE, down);
	expect(PG_TIMED, timed + 4);

	/* No server at all: unavailable, and no latency (nothing was sent). */
	char url[128];
	snprintf(url, sizeof(url),
	    "postgresql://postgres@127.0.0.1:%d/postgres", closed_port());
	core_pg *none = core_pg_open(url);
	assert_non_null(none);
	assert_int_equal(
	    core_pg_exec(none, "SELECT 1", 0, NULL, &res), CORE_UNAVAILABLE);
	expect(PG_UNAVAILABLE, down + 1);
	expect(PG_TIMED, timed + 4);
	expect(PG_CONNECTIONS, conns);
	core_pg_close(none);

	core_pg_close(pg);
	expect(PG_CONNECTIONS, conns - 1);
}

static void
test_pg_reconnect_is_counted_after_the_server_ends_a_connection(void **state)
{
	(void) state;
	core_pg *pg = core_pg_open(pg_url);
	core_pg *admin = core_pg_open(pg_url);
	assert_non_null(pg);
	assert_non_null(admin);
	double re = scraped(PG_RECONNECTS), conns = scraped(PG_CONNECTIONS);
	assert_true(re >= 0);

	PGresult *res = NULL;
	assert_int_equal(
	    core_pg_exec(pg, "SELECT pg_backend_pid()::text", 0, NULL, &res),
	    CORE_OK);
	const char *params[] = {PQgetvalue(res, 0, 0)};
	bool found = false;
	assert_int_equal(core_pg_exec_found(admin,
	                     "SELECT 1 WHERE pg_terminate_backend($1::int)", 1,
	                     params, &found),
	    CORE_OK);
	assert_true(found);
	/* The backend is gone (up to 30 s: a signalled process ends when it
	 * next runs, late on a loaded machine), so the next call surely
	 * finds its connection closed. */
	bool alive = true;
	for (int i = 0; i < 3000 && alive; i++) {
		assert_int_equal(core_pg_exec_found(admin,
		                     "SELECT 1 FROM pg_stat_activity "
		                     "WHERE pid = $1::int",
		                     1, params, &alive),
		    CORE_OK);
		if (alive) {
			sleep_ms(10);
		}
	}
	assert_false(alive);
	PQclear(res);
	sleep_ms(100); /* the server's farewell reaches the socket */

	/* The handle finds its connection closed and makes a new one. */
	exec_ok(pg, "SELECT 1");
	expect(PG_RECONNECTS, re + 1);
	expect(PG_CONNECTIONS, conns);
	/* A handle's first connection is no reconnect. */
	core_pg *fresh = core_pg_open(pg_url);
	expect(PG_RECONNECTS, re + 1);
	expect(PG_CONNECTIONS, conns + 1);
	core_pg_close(fresh);
	core_pg_close(admin);
	core_pg_close(pg);
}

/* ---- Redis ------------------------------------------------------------- */

#define REDIS_OK_SAMPLE "redis_commands_total" L(",outcome=\"ok\"")
#define REDIS_ERROR_SAMPLE "redis_commands_total" L(",outcome=\"error\"")
#define REDIS_DOWN_SAMPLE "redis_commands_total" L(",outcome=\"unavailable\"")
#define REDIS_TIMED "redis_command_duration_seconds_count" L("")
#define REDIS_CONNECTIONS "redis_connections" L("")
#define REDIS_RECONNECTS "redis_reconnects_total" L("")

static void
test_redis_commands_are_counted_by_outcome(void **state)
{
	(void) state;
	core_redis *r = core_redis_open(redis_url);
	assert_non_null(r);
	double ok = scraped(REDIS_OK_SAMPLE),
	       err = scraped(REDIS_ERROR_SAMPLE);
	double down = scraped(REDIS_DOWN_SAMPLE), timed = scraped(REDIS_TIMED);
	double conns = scraped(REDIS_CONNECTIONS);
	assert_true(ok >= 0 && err >= 0 && down >= 0 && timed >= 0);
	assert_true(conns >= 1);

	redisReply *rep = NULL;
	assert_int_equal(core_redis_command(r, &rep, "PING"), CORE_OK);
	freeReplyObject(rep);
	/* An error reply: the server says no. */
	assert_int_equal(
	    core_redis_command(r, &rep, "NOSUCHCOMMAND"), CORE_INTERNAL);
	expect(REDIS_OK_SAMPLE, ok + 1);
	expect(REDIS_ERROR_SAMPLE, err + 1);
	expect(REDIS_TIMED, timed + 2);

	/* A pipeline: each command by its reply, one round trip. */
	const char *a0[] = {"PING"};
	const char *a1[] = {"INCR", "store-metrics-test:a", "extra"};
	const char *const *argvs[] = {a0, a1};
	const int argcs[] = {1, 3};
	redisReply *reps[2];
	assert_int_equal(
	    core_redis_pipeline(r, 2, argcs, argvs, NULL, reps), CORE_OK);
	assert_int_equal(reps[1]->type, REDIS_REPLY_ERROR);
	freeReplyObject(reps[0]);
	freeReplyObject(reps[1]);
	expect(REDIS_OK_SAMPLE, ok + 2);
	expect(REDIS_ERROR_SAMPLE, err + 2);
	expect(REDIS_TIMED, timed + 3);

	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", closed_port());
	core_redis *none = core_redis_open(url);
	assert_non_null(none);
	assert_int_equal(
	    core_redis_pipeline(none, 2, argcs, argvs, NULL, reps),
	    CORE_UNAVAILABLE);
	expect(REDIS_DOWN_SAMPLE, down + 2);
	expect(REDIS_TIMED, timed + 3);
	expect(REDIS_CONNECTIONS, conns);
	core_redis_close(none);

	core_redis_close(r);
	expect(REDIS_CONNECTIONS, conns - 1);
}

static void
test_redis_reconnect_is_counted_after_the_server_ends_a_connection(
    void **state)
{
	(void) state;
	core_redis *r = core_redis_open(redis_url);
	core_redis *admin = core_redis_open(redis_url);
	assert_non_null(r);
	assert_non_null(admin);
	double re = scraped(REDIS_RECONNECTS),
	       conns = scraped(REDIS_CONNECTIONS);
	assert_true(re >= 0);

	redisReply *rep = NULL;
	assert_int_equal(core_redis_command(r, &rep, "CLIENT ID"), CORE_OK);
	long long id = rep->integer;
	freeReplyObject(rep);
	assert_int_equal(
	    core_redis_command(admin, &rep, "CLIENT KILL ID %lld", id),
	    CORE_OK);
	freeReplyObject(rep);
	sleep_ms(50);

	assert_int_equal(core_redis_command(r, &rep, "PING"), CORE_OK);
	freeReplyObject(rep);
	expect(REDIS_RECONNECTS, re + 1);
	expect(REDIS_CONNECTIONS, conns);
	core_redis_close(admin);
	core_redis_close(r);
}

int
main(void)
{
	pg_url = getenv("TEST_PG_URL");
	redis_url = getenv("TEST_REDIS_URL");
	if (pg_url == NULL || redis_url == NULL) {
		fprintf(stderr, "TEST_PG_URL and TEST_REDIS_URL are not set: "
		                "run the tests with scripts/test.sh\n");
		return 1;
	}
	core_log_init(COMPONENT, CORE_LOG_ERROR, true);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pg_statements_are_counted_by_outcome),
	    cmocka_unit_test(
	        test_pg_reconnect_is_counted_after_the_server_ends_a_connection),
	    cmocka_unit_test(test_redis_commands_are_counted_by_outcome),
	    cmocka_unit_test(
	        test_redis_reconnect_is_counted_after_the_server_ends_a_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
