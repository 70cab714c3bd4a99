/* Helpers shared by the integration tests. Include after <cmocka.h>. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdlib.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

#endif
