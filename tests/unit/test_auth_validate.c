/* Account input rules of svc-auth (no servers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth_validate.h"

static void
test_username_is_lower_cased_and_bounded(void **state)
{
	(void) state;
	char out[AUTH_USERNAME_MAX + 1];
	assert_null(
	    auth_username_normalize("Ada.Lovelace_1-x", out, sizeof(out)));
	assert_string_equal(out, "ada.lovelace_1-x");
	assert_null(auth_username_normalize("abc", out, sizeof(out)));
	assert_non_null(auth_username_normalize("ab", out, sizeof(out)));
	assert_null(auth_username_normalize(
	    "abcdefghijabcdefghijabcdefghij12", out, sizeof(out)));
	assert_non_null(auth_username_normalize(
	    "abcdefghijabcdefghijabcdefghij123", out, sizeof(out)));
	assert_non_null(auth_username_normalize("", out, sizeof(out)));
}

static void
test_username_rejects_metacharacters_spaces_and_non_ascii(void **state)
{
	(void) state;
	char out[AUTH_USERNAME_MAX + 1];
	static const char *const bad[] = {"a b", "rob'ert", "x;drop", "a\"b",
	    "a/b", "a\\b", "a\tb", "\xc3\xa9t\xc3\xa9", "a%b", "a@b", "a\nbc"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(
		    auth_username_normalize(bad[i], out, sizeof(out)));
	}
}

static void
test_email_is_lower_cased_and_checked(void **state)
{
	(void) state;
	char out[AUTH_EMAIL_MAX + 1];
	assert_null(auth_email_normalize("Ada@Example.COM", out, sizeof(out)));
	assert_string_equal(out, "ada@example.com");
	static const char *const good[] = {"o'brien@example.com",
	    "a.b+tag@mail.example.org", "x@a-b.co", "1@2.io"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_null(auth_email_normalize(good[i], out, sizeof(out)));
	}
	static const char *const bad[] = {"", "nope", "a@b", "@example.com",
	    "a@", "a@@b.com", "a@b@c.com", ".a@b.com", "a.@b.com",
	    "a..b@c.com", "a b@c.com", "a@-b.com", "a@b-.com", "a@b..com",
	    "a@b.c", "a@b.123", "\"a\"@b.com", "a@[127.0.0.1]", "a@b.com ",
	    "a\x01@b.com", "\xc3\xa9@b.com", "a@b_c.com"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(
		    auth_email_normalize(bad[i], out, sizeof(out)));
	}
	char longest[300];
	memset(longest, 'a', 64);
	longest[64] = '@';
	memset(longest + 65, 'b', 60);
	memcpy(longest + 125, ".com", 5);
	assert_null(auth_email_normalize(longest, out, sizeof(out)));
	longest[0] = 'x';
	memset(longest, 'a', 65); /* local part of 65 */
	longest[65] = '@';
	memcpy(longest + 66, "b.com", 6);
	assert_non_null(auth_email_normalize(longest, out, sizeof(out)));
}

static void
test_password_rules(void **state)
{
	(void) state;
	assert_null(auth_password_check("correct horse battery", "ada"));
	assert_null(
	    auth_password_check("\xc3\xa9t\xc3\xa9-\xe2\x82\xac-long", "ada"));
	assert_non_null(auth_password_check("short", "ada"));
	assert_non_null(auth_password_check("AdaLovelace", "adalovelace"));
	assert_non_null(auth_password_check("Password1", "ada"));
	assert_non_null(auth_password_check("12345678", "ada"));
	assert_non_null(auth_password_check("tab\there-long", "ada"));
	assert_non_null(auth_password_check("bad\xff\xfe utf8", "ada"));
	assert_non_null(auth_password_check("\xc0\xafoverlong-x", "ada"));
	assert_non_null(auth_password_check("\xed\xa0\x80surrogate", "ada"));
	char pw[200];
	memset(pw, 'x', 128);
	pw[128] = '\0';
	assert_null(auth_password_check(pw, "ada"));
	pw[128] = 'y';
	pw[129] = '\0';
	assert_non_null(auth_password_check(pw, "ada"));
}

static void
test_uuid_is_the_8_4_4_4_12_hex_form(void **state)
{
	(void) state;
	assert_true(auth_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e"));
	assert_true(auth_uuid_valid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
	assert_false(auth_uuid_valid(""));
	assert_false(auth_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));
	assert_false(auth_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e0"));
	assert_false(auth_uuid_valid("0f8fad5bd9cb-469f-a165-70867728950e0"));
	assert_false(auth_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950g"));
	assert_false(auth_uuid_valid("{f8fad5b-d9cb-469f-a165-70867728950e}"));
}

static void
test_like_substring_escapes_metacharacters_and_lowers_case(void **state)
{
	(void) state;
	char out[AUTH_LIKE_MAX];
	assert_null(auth_like_substring("Ada", out, sizeof(out)));
	assert_string_equal(out, "%ada%");
	assert_null(auth_like_substring("", out, sizeof(out)));
	assert_string_equal(out, "%%");
	assert_null(auth_like_substring("a_b%c\\d", out, sizeof(out)));
	assert_string_equal(out, "%a\\_b\\%c\\\\d%");
	assert_null(auth_like_substring("%%", out, sizeof(out)));
	assert_string_equal(out, "%\\%\\%%");
	/* Every byte a metacharacter: the pattern still fits. */
	char q[AUTH_QUERY_MAX + 2];
	memset(q, '%', AUTH_QUERY_MAX);
	q[AUTH_QUERY_MAX] = '\0';
	assert_null(auth_like_substring(q, out, sizeof(out)));
	assert_int_equal(strlen(out), 2 * AUTH_QUERY_MAX + 2);
	q[AUTH_QUERY_MAX] = 'x';
	q[AUTH_QUERY_MAX + 1] = '\0';
	assert_non_null(auth_like_substring(q, out, sizeof(out)));
	assert_non_null(auth_like_substring("abc", out, 5));
}

static void
test_page_token_round_trips_and_rejects_anything_else(void **state)
{
	(void) state;
	char tok[AUTH_PAGE_TOKEN_MAX], name[AUTH_USERNAME_MAX + 1];
	const char *names[] = {
	    "ada", "a.b-c_d", "abcdefghijklmnopqrstuvwxyz012345"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(
		    auth_page_token_encode(names[i], tok, sizeof(tok)), 0);
		assert_int_equal(
		    auth_page_token_decode(tok, name, sizeof(name)), 0);
		assert_string_equal(name, names[i]);
	}
	assert_int_equal(auth_page_token_encode("ab", tok, sizeof(tok)), -1);
	const char *too_long = "abcdefghijklmnopqrstuvwxyz0123456";
	assert_int_equal(
	    auth_page_token_encode(too_long, tok, sizeof(tok)), -1);
	/* Version 2; "PTOK" (never stored: upper case); "ab" (too short);
	 * a NUL inside; padding; not base64url; empty; one character. */
	const char *bad[] = {"AnB0b2swMDUw", "AVBUT0s", "AWFi", "AXB0b2sAMDAw",
	    "AWFkYQ==", "AWFk+2E", "", "A", "AWFkYQ.x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    auth_page_token_decode(bad[i], name, sizeof(name)), -1);
	}
	assert_int_equal(
	    auth_page_token_decode("AWFkYQ", name, sizeof(name)), 0);
	assert_string_equal(name, "ada");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_username_is_lower_cased_and_bounded),
	    cmocka_unit_test(
	        test_username_rejects_metacharacters_spaces_and_non_ascii),
	    cmocka_unit_test(test_email_is_lower_cased_and_checked),
	    cmocka_unit_test(test_password_rules),
	    cmocka_unit_test(test_uuid_is_the_8_4_4_4_12_hex_form),
	    cmocka_unit_test(
	        test_like_substring_escapes_metacharacters_and_lowers_case),
	    cmocka_unit_test(
	        test_page_token_round_trips_and_rejects_anything_else),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
