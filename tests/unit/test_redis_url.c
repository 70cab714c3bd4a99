/* Unit tests for core_redis_parse_url (no server needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/redis.h"

static void
test_redis_url_defaults_port_and_db(void **state)
{
	(void) state;
	core_redis_url u;
	assert_int_equal(core_redis_parse_url("redis://localhost", &u), 0);
	assert_string_equal(u.host, "localhost");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);
	assert_string_equal(u.user, "");
	assert_string_equal(u.password, "");
	assert_int_equal(core_redis_parse_url("redis://10.0.0.1/", &u), 0);
	assert_string_equal(u.host, "10.0.0.1");
	assert_int_equal(u.db, 0);
}

static void
test_redis_url_reads_host_port_and_db(void **state)
{
	(void) state;
	core_redis_url u;
	assert_int_equal(
	    core_redis_parse_url("redis://127.0.0.1:56380/3", &u), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 56380);
	assert_int_equal(u.db, 3);
	assert_int_equal(core_redis_parse_url("redis://[::1]:7000/0", &u), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 7000);
	assert_int_equal(core_redis_parse_url("REDIS://h:1/15", &u), 0);
	assert_int_equal(u.port, 1);
	assert_int_equal(u.db, 15);
}

static void
test_redis_url_reads_password_with_and_without_user(void **state)
{
	(void) state;
	core_redis_url u;
	assert_int_equal(
	    core_redis_parse_url("redis://:s3cret@cache:6380/1", &u), 0);
	assert_string_equal(u.user, "");
	assert_string_equal(u.password, "s3cret");
	assert_string_equal(u.host, "cache");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 1);

	assert_int_equal(
	    core_redis_parse_url("redis://app:pa:ss@cache", &u), 0);
	assert_string_equal(u.user, "app");
	assert_string_equal(u.password, "pa:ss");
}

static void
test_redis_url_decodes_percent_escapes_in_password(void **state)
{
	(void) state;
	core_redis_url u;
	assert_int_equal(
	    core_redis_parse_url("redis://:p%40ss%2Fw%3ad@h:1", &u), 0);
	assert_string_equal(u.password, "p@ss/w:d");
	/* An unencoded '@' in the password: the last '@' ends it. */
	assert_int_equal(core_redis_parse_url("redis://:a@b@h", &u), 0);
	assert_string_equal(u.password, "a@b");
	assert_string_equal(u.host, "h");
	/* Broken escapes and an encoded NUL are refused. */
	assert_int_equal(core_redis_parse_url("redis://:p%4@h", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://:p%zz@h", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://:p%00x@h", &u), -1);
}

static void
test_redis_url_rejects_other_schemes(void **state)
{
	(void) state;
	core_redis_url u;
	assert_int_equal(core_redis_parse_url(NULL, &u), -1);
	assert_int_equal(core_redis_parse_url("", &u), -1);
	assert_int_equal(core_redis_parse_url("rediss://h:6379", &u), -1);
	assert_int_equal(core_redis_parse_url("http://h:6379", &u), -1);
	assert_int_equal(core_redis_parse_url("h:6379", &u), -1);
	assert_int_equal(core_redis_parse_url("redis:/h", &u), -1);
}

static void
test_redis_url_rejects_bad_ports(void **state)
{
	(void) state;
	core_redis_url u;
	assert_int_equal(core_redis_parse_url("redis://h:0", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h:65536", &u), -1);
	assert_int_equal(
	    core_redis_parse_url("redis://h:99999999999", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h:", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h:-1", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h:+80", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h:80x", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h: 80", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://[::1", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://[::1]x", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h:65535", &u), 0);
}

static void
test_redis_url_rejects_bad_db(void **state)
{
	(void) state;
	core_redis_url u;
	assert_int_equal(core_redis_parse_url("redis://h/x", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h/1x", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h/-1", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h/1/2", &u), -1);
	assert_int_equal(
	    core_redis_parse_url("redis://h/99999999999999999999", &u), -1);
	assert_int_equal(
	    core_redis_parse_url("redis://h/0?timeout=1", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h/0#x", &u), -1);
}

static void
test_redis_url_rejects_missing_or_odd_host_and_userinfo(void **state)
{
	(void) state;
	core_redis_url u;
	assert_int_equal(core_redis_parse_url("redis://", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://:6379", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://:pw@", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://:pw@/0", &u), -1);
	assert_int_equal(core_redis_parse_url("redis://h st:1", &u), -1);
	/* A user with no password is almost certainly a mistake. */
	assert_int_equal(core_redis_parse_url("redis://user@h", &u), -1);
}

static void
test_redis_url_rejects_overlong_fields(void **state)
{
	(void) state;
	core_redis_url u;
	char url[1024];
	char longs[300];
	memset(longs, 'a', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';

	snprintf(url, sizeof(url), "redis://%s:1", longs);
	assert_int_equal(core_redis_parse_url(url, &u), -1);
	snprintf(url, sizeof(url), "redis://:%s@h:1", longs);
	assert_int_equal(core_redis_parse_url(url, &u), -1);
	snprintf(url, sizeof(url), "redis://%s:pw@h:1", longs);
	assert_int_equal(core_redis_parse_url(url, &u), -1);

	/* 255 bytes still fit a 256-byte field. */
	longs[255] = '\0';
	snprintf(url, sizeof(url), "redis://:%s@%s:1", longs, longs);
	assert_int_equal(core_redis_parse_url(url, &u), 0);
	assert_int_equal(strlen(u.password), 255);
	assert_int_equal(strlen(u.host), 255);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redis_url_defaults_port_and_db),
	    cmocka_unit_test(test_redis_url_reads_host_port_and_db),
	    cmocka_unit_test(
	        test_redis_url_reads_password_with_and_without_user),
	    cmocka_unit_test(
	        test_redis_url_decodes_percent_escapes_in_password),
	    cmocka_unit_test(test_redis_url_rejects_other_schemes),
	    cmocka_unit_test(test_redis_url_rejects_bad_ports),
	    cmocka_unit_test(test_redis_url_rejects_bad_db),
	    cmocka_unit_test(
	        test_redis_url_rejects_missing_or_odd_host_and_userinfo),
	    cmocka_unit_test(test_redis_url_rejects_overlong_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
