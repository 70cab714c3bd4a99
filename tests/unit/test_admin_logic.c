/* svc-admin's pure rules: UUIDs, clipping text for audit rows, client
 * addresses, and ListAudit's page tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "admin_text.h"
#include "audit_page.h"

static void
test_uuid_shape_is_exact(void **state)
{
	(void) state;
	assert_true(admin_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e"));
	assert_true(admin_uuid_valid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
	assert_false(admin_uuid_valid(""));
	assert_false(admin_uuid_valid("carol"));
	assert_false(admin_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));
	assert_false(
	    admin_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e0"));
	assert_false(admin_uuid_valid("0f8fad5bd-9cb-469f-a165-70867728950e"));
	assert_false(admin_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950g"));
	assert_false(
	    admin_uuid_valid("{f8fad5b-d9cb-469f-a165-70867728950e}"));
}

static void
test_clip_cuts_only_between_utf8_characters(void **state)
{
	(void) state;
	char out[6];
	assert_true(admin_utf8_clip("abc", out, sizeof(out)));
	assert_string_equal(out, "abc");
	assert_true(admin_utf8_clip("abcde", out, sizeof(out)));
	assert_false(admin_utf8_clip("abcdef", out, sizeof(out)));
	assert_string_equal(out, "abcde");
	/* "abc" + U+00E9 (2 bytes) + "x": 5 bytes fit exactly. */
	assert_false(admin_utf8_clip("abc\xc3\xa9xy", out, sizeof(out)));
	assert_string_equal(out, "abc\xc3\xa9");
	/* "abcd" + U+00E9: the second byte would not fit; the whole
	 * character goes. */
	assert_false(admin_utf8_clip("abcd\xc3\xa9", out, sizeof(out)));
	assert_string_equal(out, "abcd");
	/* A 4-byte character at the edge. */
	assert_false(admin_utf8_clip("ab\xf0\x9f\x98\x80", out, sizeof(out)));
	assert_string_equal(out, "ab");
	char one[1];
	assert_false(admin_utf8_clip("a", one, sizeof(one)));
	assert_string_equal(one, "");
}

static void
test_client_ip_is_an_address_or_nothing(void **state)
{
	(void) state;
	assert_true(admin_ip_valid("203.0.113.7"));
	assert_true(admin_ip_valid("2001:db8::1"));
	assert_true(admin_ip_valid("::ffff:192.0.2.1"));
	assert_false(admin_ip_valid(""));
	assert_false(admin_ip_valid("203.0.113.7:8080"));
	assert_false(admin_ip_valid("1.2.3.4'; DROP TABLE x"));
	assert_false(admin_ip_valid("example.com"));
	assert_false(admin_ip_valid("256.1.1.1"));
}

static void
test_page_token_round_trips_for_its_filters_only(void **state)
{
	(void) state;
	audit_page_filters f = {.actor = "root", .target = "", .action = NULL};
	char tok[AUDIT_PAGE_TOKEN_MAX];
	audit_page_token_encode(12345, &f, tok);
	assert_true(strlen(tok) < AUDIT_PAGE_TOKEN_MAX);
	int64_t id = 0;
	assert_int_equal(audit_page_token_decode(tok, &f, &id), 0);
	assert_int_equal(id, 12345);

	/* NULL and "" are the same filter. */
	audit_page_filters same = {
	    .actor = "root", .target = NULL, .action = ""};
	assert_int_equal(audit_page_token_decode(tok, &same, &id), 0);

	audit_page_filters other[] = {
	    {.actor = "roots"},
	    {.actor = "root", .target = "x"},
	    {.actor = "roo", .target = "t"},
	    {.actor = "root", .action = "users.get"},
	    {.actor = "root", .has_since = true, .since_us = 0},
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_int_equal(
		    audit_page_token_decode(tok, &other[i], &id), -1);
	}
	audit_page_filters later = f;
	later.has_since = true;
	later.since_us = 1700000000000000;
	audit_page_token_encode(7, &later, tok);
	assert_int_equal(audit_page_token_decode(tok, &later, &id), 0);
	assert_int_equal(id, 7);
	later.since_us++;
	assert_int_equal(audit_page_token_decode(tok, &later, &id), -1);
}

static void
test_malformed_page_tokens_are_refused(void **state)
{
	(void) state;
	audit_page_filters f = {0};
	int64_t id = 99;
	static const char *const bad[] = {"", "AAAA", "not base64!",
	    "AQAAAAAAAAAAAAAAAAAAAAA=", /* padded */
	    "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(audit_page_token_decode(bad[i], &f, &id), -1);
	}
	/* Last id 0 is never made, and refused. */
	char tok[AUDIT_PAGE_TOKEN_MAX];
	audit_page_token_encode(0, &f, tok);
	assert_int_equal(audit_page_token_decode(tok, &f, &id), -1);
	assert_int_equal(id, 99);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uuid_shape_is_exact),
	    cmocka_unit_test(test_clip_cuts_only_between_utf8_characters),
	    cmocka_unit_test(test_client_ip_is_an_address_or_nothing),
	    cmocka_unit_test(test_page_token_round_trips_for_its_filters_only),
	    cmocka_unit_test(test_malformed_page_tokens_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
