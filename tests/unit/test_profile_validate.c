/* Profile field rules of svc-user (no servers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "profile_validate.h"

static void
test_display_name_counts_characters_not_bytes(void **state)
{
	(void) state;
	char s[300];
	size_t n = 0;
	for (int i = 0; i < 64; i++) { /* é: 2 bytes, 1 character */
		s[n++] = '\xc3';
		s[n++] = '\xa9';
	}
	s[n] = '\0';
	assert_null(user_display_name_check(s));
	s[n++] = 'x';
	s[n] = '\0';
	assert_non_null(user_display_name_check(s));
	assert_null(user_display_name_check(""));
	assert_non_null(user_display_name_check("tab\there"));
	assert_non_null(user_display_name_check("line\nbreak"));
	assert_non_null(user_display_name_check("c1 \xc2\x85 control"));
}

static void
test_bio_allows_newlines_but_not_other_controls(void **state)
{
	(void) state;
	assert_null(user_bio_check("one\ntwo\r\n\tthree"));
	assert_non_null(user_bio_check("bell\x07"));
	assert_non_null(user_bio_check("esc\x1b[31m"));
	char s[600];
	memset(s, 'b', 500);
	s[500] = '\0';
	assert_null(user_bio_check(s));
	s[500] = 'b';
	s[501] = '\0';
	assert_non_null(user_bio_check(s));
}

static void
test_avatar_url_must_be_https_with_a_host(void **state)
{
	(void) state;
	assert_null(user_avatar_url_check(""));
	assert_null(user_avatar_url_check("https://cdn.example.com/a.png"));
	assert_null(user_avatar_url_check("https://example.com"));
	static const char *const bad[] = {"http://example.com/a.png",
	    "HTTPS://example.com", "https://", "https:///path", "https://@x",
	    "javascript:alert(1)", "data:image/png;base64,AAAA",
	    "https://a b.com", "https://example.com/\"><script>",
	    "https://example.com/\xc3\xa9", "//example.com/a.png"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(user_avatar_url_check(bad[i]));
	}
}

static void
test_locale_has_the_bcp47_shape(void **state)
{
	(void) state;
	static const char *const good[] = {
	    "", "en", "pt-BR", "zh-Hant-TW", "ast", "es-419", "de-CH-1901"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_null(user_locale_check(good[i]));
	}
	static const char *const bad[] = {"e", "engl", "en_US", "en-", "-en",
	    "en--US", "en-123456789", "en US", "1e", "en-\xc3\xa9",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(user_locale_check(bad[i]));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_display_name_counts_characters_not_bytes),
	    cmocka_unit_test(test_bio_allows_newlines_but_not_other_controls),
	    cmocka_unit_test(test_avatar_url_must_be_https_with_a_host),
	    cmocka_unit_test(test_locale_has_the_bcp47_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
