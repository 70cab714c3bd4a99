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
	assert_null(auth_username_normalize("Ada.Lovelace_1-x", out, sizeof(out)));
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
		assert_non_null(auth_username_normalize(bad[i], out, sizeof(out)));
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
		assert_non_null(auth_email_normalize(bad[i], out, sizeof(out)));
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
	assert_null(auth_password_check("\xc3\xa9t\xc3\xa9-\xe2\x82\xac-long", "ada"));
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_username_is_lower_cased_and_bounded),
	    cmocka_unit_test(
	        test_username_rejects_metacharacters_spaces_and_non_ascii),
	    cmocka_unit_test(test_email_is_lower_cased_and_checked),
	    cmocka_unit_test(test_password_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
