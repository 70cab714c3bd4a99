/* Integration tests for core/revocation.h (checks and writes) against the real Redis that
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

#include "core/revocation.h"
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
	assert_int_equal(
	    core_revocation_check(f->r, &f->c, NULL, &rv), CORE_OK);
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
	assert_int_equal(
	    core_revocation_check(f->r, &other, NULL, &rv), CORE_OK);
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
	    core_revocation_check(f->r, &c, NULL, &rv), CORE_INVALID_ARGUMENT);
	c = f->c;
	c.sub[0] = '\0';
	assert_int_equal(
	    core_revocation_check(f->r, &c, NULL, &rv), CORE_INVALID_ARGUMENT);
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
	    core_revocation_check(down, &f->c, NULL, &rv), CORE_UNAVAILABLE);
	// Once more, inside the reconnect back-off.
	assert_int_equal(
	    core_revocation_check(down, &f->c, NULL, &rv), CORE_UNAVAILABLE);
	core_redis_close(down);
}

static long long
ttl_of(fixture *f, const char *key)
{
	redisReply *rep;
	assert_int_equal(
	    core_redis_command(f->r, &rep, "TTL %s", key), CORE_OK);
	long long t = rep->integer;
	freeReplyObject(rep);
	return t;
}

static void
test_revoke_token_blacklists_it_while_verifiers_could_accept_it(void **state)
{
	fixture *f = *state;
	int64_t now = (int64_t) time(NULL);
	const long long leeway = CORE_JWT_DEFAULT_LEEWAY_S;
	const long long margin = CORE_REVOCATION_MARGIN_S;
	f->c.exp = now + 100;
	assert_int_equal(core_revoke_token(f->r, &f->c, now), CORE_OK);
	assert_true(revoked(f));
	/* Verifiers accept it until exp + leeway: the key outlives that. */
	long long t = ttl_of(f, f->bkey);
	assert_true(t > 100 + leeway && t <= 100 + leeway + margin);
	/* Idempotent; a token 5 s past exp is still inside the leeway. */
	f->c.exp = now - 5;
	assert_int_equal(core_revoke_token(f->r, &f->c, now), CORE_OK);
	t = ttl_of(f, f->bkey);
	assert_true(t > leeway - 5 && t <= leeway + margin);
	core_jwt_claims bad = f->c;
	bad.jti[0] = '\0';
	assert_int_equal(
	    core_revoke_token(f->r, &bad, now), CORE_INVALID_ARGUMENT);
}

static void
test_revoke_user_tokens_never_lowers_the_floor(void **state)
{
	fixture *f = *state;
	int64_t floor_s = -1;
	assert_int_equal(
	    core_revocation_floor(f->r, f->c.sub, &floor_s), CORE_OK);
	assert_int_equal(floor_s, 0);
	/* iat = 1700000000: revoked by a floor after it. */
	assert_int_equal(
	    core_revoke_user_tokens(f->r, f->c.sub, 1700000100, 60), CORE_OK);
	assert_int_equal(
	    core_revocation_floor(f->r, f->c.sub, &floor_s), CORE_OK);
	assert_int_equal(floor_s, 1700000101);
	assert_true(revoked(f));
	/* A replica with a slower clock cannot bring tokens back. */
	assert_int_equal(
	    core_revoke_user_tokens(f->r, f->c.sub, 1600000000, 60), CORE_OK);
	assert_int_equal(
	    core_revocation_floor(f->r, f->c.sub, &floor_s), CORE_OK);
	assert_int_equal(floor_s, 1700000101);
	/* Kept while a token of the longest life (60 s here) could still
	 * verify: its life, the leeway, a margin. */
	long long t = ttl_of(f, f->rkey);
	assert_true(
	    t > 60 + CORE_JWT_DEFAULT_LEEWAY_S &&
	    t <= 60 + CORE_JWT_DEFAULT_LEEWAY_S + CORE_REVOCATION_MARGIN_S);
	assert_int_equal(core_revoke_user_tokens(f->r, "", 1700000100, 60),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(core_revoke_user_tokens(f->r, f->c.sub, 0, 60),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(core_revoke_user_tokens(f->r, f->c.sub, 1, 0),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(
	    core_revoke_user_tokens(f->r, f->c.sub, 1, 400 * 86400),
	    CORE_INVALID_ARGUMENT);
}

static void
test_extra_reads_ride_in_the_same_round_trip(void **state)
{
	fixture *f = *state;
	set_key(f, f->bkey, "1");
	core_redis_extra x = {0};
	const char *get[] = {"GET", f->bkey};
	const char *ping[] = {"PING"};
	assert_int_equal(core_redis_extra_add(&x, 2, get), 0);
	assert_int_equal(core_redis_extra_add(&x, 1, ping), 1);
	bool rv = false;
	assert_int_equal(core_revocation_check(f->r, &f->c, &x, &rv), CORE_OK);
	assert_true(rv);
	assert_non_null(x.reply[0]);
	assert_string_equal(x.reply[0]->str, "1");
	assert_string_equal(x.reply[1]->str, "PONG");
	core_redis_extra_clear(&x);
	assert_int_equal(x.n, 0);
	/* Full: the ninth is refused. */
	for (int i = 0; i < CORE_REDIS_EXTRA_MAX; i++) {
		assert_int_equal(core_redis_extra_add(&x, 1, ping), i);
	}
	assert_int_equal(core_redis_extra_add(&x, 1, ping), -1);
	core_redis_extra_clear(&x);
}

static void
test_floor_with_extra_reads_in_one_round_trip(void **state)
{
	fixture *f = *state;
	set_key(f, f->rkey, "1700000101");
	set_key(f, f->bkey, "1");
	core_redis_extra x = {0};
	const char *get[] = {"GET", f->bkey};
	const char *exists[] = {"EXISTS", "no-such-key"};
	assert_int_equal(core_redis_extra_add(&x, 2, get), 0);
	assert_int_equal(core_redis_extra_add(&x, 2, exists), 1);
	int64_t floor_s = -1;
	assert_int_equal(
	    core_revocation_floor_with(f->r, f->c.sub, &x, &floor_s), CORE_OK);
	assert_int_equal(floor_s, 1700000101);
	assert_non_null(x.reply[0]);
	assert_string_equal(x.reply[0]->str, "1");
	assert_non_null(x.reply[1]);
	assert_int_equal(x.reply[1]->type, REDIS_REPLY_INTEGER);
	assert_int_equal(x.reply[1]->integer, 0);
	core_redis_extra_clear(&x);
	/* Without extras it is core_revocation_floor; a bad user id asks
	 * nothing. */
	assert_int_equal(
	    core_revocation_floor_with(f->r, f->c.sub, NULL, &floor_s),
	    CORE_OK);
	assert_int_equal(floor_s, 1700000101);
	assert_int_equal(core_redis_extra_add(&x, 2, get), 0);
	assert_int_equal(core_revocation_floor_with(f->r, "", &x, &floor_s),
	    CORE_INVALID_ARGUMENT);
	assert_null(x.reply[0]);
	core_redis_extra_clear(&x);
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
	    T(test_revoke_token_blacklists_it_while_verifiers_could_accept_it),
	    T(test_revoke_user_tokens_never_lowers_the_floor),
	    T(test_extra_reads_ride_in_the_same_round_trip),
	    T(test_floor_with_extra_reads_in_one_round_trip),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
