/* Helpers shared by the integration tests. Include after <cmocka.h>. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#include <sodium.h>

#include "core/v1/health.pb-c.h"

#include "core/arena.h"
#include "core/rpc.h"

/* The value of an environment variable scripts/test.sh sets; fails the test
 * with a pointer to that script when it is missing. */
static inline const char *
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

/* A loopback TCP port that is free and reserved for this test, the way
 * scripts/ports.sh's free_port reserves one: a directory per port under
 * PORT_RESERVE_DIR (made with mkdir, which is atomic), so tests running in
 * parallel, shell or C, never get the same port. Ports come from
 * 20000-32767, below the kernel's ephemeral range, so an outgoing
 * connection cannot take the port before the test's server binds it. */
static inline int
free_port(void)
{
	char dir[256];
	const char *d = getenv("PORT_RESERVE_DIR");
	const char *tmp = getenv("TMPDIR");
	if (d != NULL && d[0] != '\0') {
		snprintf(dir, sizeof(dir), "%s", d);
	} else {
		snprintf(dir, sizeof(dir), "%s/microcore-ports",
		    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	}
	if (mkdir(dir, 0755) == 0) {
		(void) chmod(dir, 01777);
	}
	for (int tries = 0; tries < 1000; tries++) {
		unsigned p = 20000 + randombytes_uniform(12768);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		struct sockaddr_in a = {.sin_family = AF_INET,
		    .sin_port = htons((uint16_t) p),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		assert_true(fd >= 0);
		(void) setsockopt(
		    fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		int bound = bind(fd, (struct sockaddr *) &a, sizeof(a));
		close(fd);
		if (bound != 0) {
			continue;
		}
		char path[300];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%u", dir, p);
		if (mkdir(path, 0755) == 0) {
			return (int) p;
		}
		/* A reservation older than 10 minutes is taken over: its
		 * owner has bound the port (the bind above failed then) or
		 * never will. */
		if (stat(path, &st) == 0 && time(NULL) - st.st_mtime > 600 &&
		    utime(path, NULL) == 0) {
			return (int) p;
		}
	}
	fail_msg("no free TCP port found on 127.0.0.1");
	return -1;
}

/* core.v1.Health/Check of the server behind cli: CORE_OK only when it
 * answers SERVING; UNAVAILABLE for NOT_SERVING; else the call's status. */
static inline core_status
serving(core_rpc_client *cli)
{
	core_arena *a = core_arena_new(0);
	Core__V1__HealthCheckRequest req =
	    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_rpc_opts opts = {.timeout_ms = 3000};
	core_status st = core_rpc_call(cli, "/core.v1.Health/Check", &req.base,
	    &core__v1__health_check_response__descriptor, &out, &opts, a,
	    &reply);
	if (st == CORE_OK &&
	    ((Core__V1__HealthCheckResponse *) out)->status !=
	        CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
		st = CORE_UNAVAILABLE;
	}
	core_arena_free(a);
	return st;
}

/* Waits (polling every 100 ms, at most tries times) until the server
 * behind cli answers SERVING; fails the test otherwise. */
static inline void
wait_serving(core_rpc_client *cli, int tries)
{
	core_status st = CORE_UNAVAILABLE;
	for (int i = 0; i < tries && st != CORE_OK; i++) {
		if ((st = serving(cli)) != CORE_OK) {
			usleep(100000);
		}
	}
	assert_int_equal(st, CORE_OK);
}

/* Runs q on an administrative connection; fails the test on an error. */
static inline void
pg_ok(PGconn *server, const char *q)
{
	PGresult *r = PQexec(server, q);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fail_msg("%s: %s", q, PQerrorMessage(server));
	}
	PQclear(r);
}

/* Takes database db away from its service (new connections refused,
 * existing ones ended), or gives it back. */
static inline void
db_reachable(PGconn *server, const char *db, bool reachable)
{
	char q[256];
	snprintf(q, sizeof(q), "ALTER DATABASE %s ALLOW_CONNECTIONS %s", db,
	    reachable ? "true" : "false");
	pg_ok(server, q);
	if (!reachable) {
		snprintf(q, sizeof(q),
		    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		    "WHERE datname = '%s'",
		    db);
		pg_ok(server, q);
	}
}

/* Whether text holds a JWS in compact form: a JOSE header and a payload,
 * each base64url of a JSON object ("eyJ..."), joined by a dot. Only that
 * shape: a random id that happens to contain "eyJ" (a session id is 22
 * random base64url characters) is not a token. */
static inline bool
has_jws(const char *text)
{
	regex_t re;
	if (regcomp(&re, "eyJ[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]*",
	        REG_EXTENDED | REG_NOSUB) != 0) {
		return true; /* cannot tell: fail the check */
	}
	bool found = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	return found;
}

#endif
