/* Helpers shared by the integration tests. Include after <cmocka.h>. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdlib.h>
#include <unistd.h>

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
	struct sockaddr_in a = {.sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
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
	Core__V1__HealthCheckRequest req = CORE__V1__HEALTH_CHECK_REQUEST__INIT;
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

#endif
