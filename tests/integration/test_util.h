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

/* A loopback TCP port the kernel just handed out (free a moment ago). */
static inline int
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
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
