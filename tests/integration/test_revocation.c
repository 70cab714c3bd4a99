/* Integration tests for core_jwt_check_revoked against the real Redis that
 * scripts/test.sh starts (TEST_REDIS_URL). Keys are the production ones
 * (blacklist:<jti>, revoked_before:<sub>); each test makes its jti and sub
 * unique with the pid and a counter, and deletes its keys afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/jwt.h"
#include "core/redis.h"

static const char *redis_url;
static int fixture_seq;

typedef struct fixture {
	core_redis *r;
	core_jwt_claims c; // a verified token's claims, iat = 1700000000
	char bkey[128];    // its blacklist key
	char rkey[128];    // its user's revoked_before key
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->r = core_redis_open(redis_url);
	assert_non_null(f->r);
	assert_true(core_redis_ping(f->r));
	snprintf(f->c.jti, sizeof(f->c.jti), "revtest-jti-%ld-%d",
	    (long) getpid(), ++fixture_seq);
	snprintf(f->c.sub, sizeof(f->c.sub), "revtest-user-%ld-%d",
	    (long) getpid(), fixture_seq);
	f->c.iat = 1700000000;
	f->c.exp = f->c.iat + 900;
	snprintf(f->bkey, sizeof(f->bkey), "blacklist:%s", f->c.jti);
	snprintf(f->rkey, sizeof(f->rkey), "revoked_before:%s", f->c.sub);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	redisReply *rep;
	if (core_redis_command(f->r, &rep, "DEL %s %s", f->bkey, f->rkey) ==
	    CORE_OK) {
		freeReplyObject(rep);
	}
	core_redis_close(f->r);
	free(f);
	return 0;
}

static void
set_key(fixture *f, const char *key, const char *value)
{
	redisReply *rep;
	assert_int_equal(
	    core_redis_command(f->r, &rep, "SET %s %s EX 60", key, value),
	    CORE_OK);
	freeReplyObject(rep);
}

static bool
revoked(fixture *f)
{
	bool rv = false;
	assert_int_equal(core_jwt_check_revoked(f->r, &f->c, &rv), CORE_OK);
	return rv;
}

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
test_token_without_revocation_keys_is_not_revoked(void **state)
{
	fixture *f = *state;
	assert_false(revoked(f));
}

static void
test_blacklisted_jti_is_revoked(void **state)
{
	fixture *f = *state;
	set_key(f, f->bkey, "1");
	assert_true(revoked(f));
	// Another token of the same user is not affected.
	core_jwt_claims other = f->c;
	snprintf(other.jti, sizeof(other.jti), "revtest-other-%ld-%d",
	    (long) getpid(), fixture_seq);
	bool rv = true;
	assert_int_equal(core_jwt_check_revoked(f->r, &other, &rv), CORE_OK);
	assert_false(rv);
}

static void
test_revoked_before_after_iat_revokes(void **state)
{
	fixture *f = *state;
	set_key(f, f->rkey, "1700000001");
	assert_true(revoked(f));
	set_key(f, f->rkey, "1800000000");
	assert_true(revoked(f));
}

static void
test_revoked_before_at_or_before_iat_does_not_revoke(void **state)
{
	fixture *f = *state;
	set_key(f, f->rkey, "1700000000");
	assert_false(revoked(f));
	set_key(f, f->rkey, "1600000000");
	assert_false(revoked(f));
	set_key(f, f->rkey, "0");
	assert_false(revoked(f));
}

static void
test_malformed_revoked_before_counts_as_revoked(void **state)
{
	fixture *f = *state;
	static const char *const bad[] = {"", "abc", "17e8", "-1",
	    " 1600000000", "1600000000 ", "1.5", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_key(f, f->rkey, bad[i]);
		if (!revoked(f)) {
			fail_msg("\"%s\" did not revoke", bad[i]);
		}
	}
}

static void
test_empty_jti_or_sub_is_invalid_argument(void **state)
{
	fixture *f = *state;
	core_jwt_claims c = f->c;
	bool rv;
	c.jti[0] = '\0';
	assert_int_equal(
	    core_jwt_check_revoked(f->r, &c, &rv), CORE_INVALID_ARGUMENT);
	c = f->c;
	c.sub[0] = '\0';
	assert_int_equal(
	    core_jwt_check_revoked(f->r, &c, &rv), CORE_INVALID_ARGUMENT);
}

static void
test_unreachable_redis_is_unavailable(void **state)
{
	fixture *f = *state;
	char url[128];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", closed_port());
	core_redis *down = core_redis_open(url);
	assert_non_null(down);
	bool rv = false;
	assert_int_equal(
	    core_jwt_check_revoked(down, &f->c, &rv), CORE_UNAVAILABLE);
	// Once more, inside the reconnect back-off.
	assert_int_equal(
	    core_jwt_check_revoked(down, &f->c, &rv), CORE_UNAVAILABLE);
	core_redis_close(down);
}

int
main(void)
{
	redis_url = getenv("TEST_REDIS_URL");
	if (redis_url == NULL || redis_url[0] == '\0') {
		fprintf(stderr, "test_revocation: TEST_REDIS_URL is not set.\n"
		                "These tests need a real Redis: run them with "
		                "scripts/test.sh (e.g. scripts/test.sh --only "
		                "revocation).\n");
		return 1;
	}
	/* As core_rpc_server_start does: hiredis writes with write(2), and a
	 * killed connection must give an error, not end the process. */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	}
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_token_without_revocation_keys_is_not_revoked),
	    T(test_blacklisted_jti_is_revoked),
	    T(test_revoked_before_after_iat_revokes),
	    T(test_revoked_before_at_or_before_iat_does_not_revoke),
	    T(test_malformed_revoked_before_counts_as_revoked),
	    T(test_empty_jti_or_sub_is_invalid_argument),
	    T(test_unreachable_redis_is_unavailable),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
