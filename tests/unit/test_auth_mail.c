/* Mail of svc-auth: the templates as loaded from the repository, the
 * rendering (HTML escaping, the link with its token in the fragment), the
 * one-time tokens and the hash a presented token is looked up by. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "mail.h"

#define TOKEN "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static int
setup(void **state)
{
	(void) state;
	char err[256];
	assert_true(sodium_init() >= 0);
	return auth_mail_templates_load(
	    AUTH_MAIL_TEMPLATES_DIR, err, sizeof(err));
}

static int
teardown(void **state)
{
	(void) state;
	auth_mail_templates_free();
	return 0;
}

static void
test_verify_mail_has_the_subject_and_the_link_with_the_token(void **state)
{
	(void) state;
	auth_mail_msg m;
	assert_int_equal(
	    auth_mail_render(AUTH_MAIL_VERIFY_EMAIL, "ada",
	        "https://app.example/", "/verify-email", TOKEN, 24, &m),
	    0);
	assert_string_equal(m.subject, "Confirm your email address");
	assert_non_null(strstr(m.text, "Hello ada,"));
	assert_non_null(strstr(
	    m.text, "https://app.example/#/verify-email?token=" TOKEN "\n"));
	assert_non_null(strstr(m.text, "for 24 hours"));
	assert_non_null(strstr(m.html,
	    "href=\"https://app.example/#/verify-email?token=" TOKEN "\""));
	assert_null(strstr(m.text, "{{"));
	assert_null(strstr(m.html, "{{"));
	auth_mail_msg_free(&m);
}

static void
test_values_are_html_escaped_in_the_html_body_only(void **state)
{
	(void) state;
	auth_mail_msg m;
	assert_int_equal(auth_mail_render(AUTH_MAIL_VERIFY_EMAIL, "a<b>&'\"",
	                     "https://x.example/?a=<b>&c", "/v", TOKEN, 1, &m),
	    0);
	assert_non_null(strstr(m.text, "Hello a<b>&'\","));
	assert_non_null(strstr(m.html, "Hello a&lt;b&gt;&amp;&#39;&quot;,"));
	assert_non_null(strstr(m.html, "?a=&lt;b&gt;&amp;c/#/v?token="));
	assert_null(strstr(m.html, "<b>"));
	auth_mail_msg_free(&m);
}

/* A notice carries no token: the change in its words and a link to the
 * profile page; values are escaped in the HTML body. */
static void
test_mfa_notice_says_the_change_and_links_the_profile(void **state)
{
	(void) state;
	auth_mail_msg m;
	assert_int_equal(auth_mail_render_change(AUTH_MAIL_MFA_CHANGED, "a<b",
	                     "https://app.example//", "It was <off>.", &m),
	    0);
	assert_string_equal(m.subject, "Your two-factor sign-in changed");
	assert_non_null(strstr(m.text, "Hello a<b,"));
	assert_non_null(strstr(m.text, "It was <off>.\n"));
	assert_non_null(strstr(m.text, "https://app.example/#/profile\n"));
	assert_non_null(strstr(m.html, "Hello a&lt;b,"));
	assert_non_null(strstr(m.html, "It was &lt;off&gt;."));
	assert_non_null(
	    strstr(m.html, "href=\"https://app.example/#/profile\""));
	assert_null(strstr(m.text, "{{"));
	assert_null(strstr(m.html, "{{"));
	assert_null(strstr(m.text, "token="));
	auth_mail_msg_free(&m);
	assert_int_equal(auth_mail_render_change(AUTH_MAIL_KINDS, "a",
	                     "https://app.example", "x", &m),
	    -1);
}

static void
test_a_link_longer_than_its_buffer_is_refused(void **state)
{
	(void) state;
	char *base = malloc(4000);
	assert_non_null(base);
	memset(base, 'a', 3999);
	base[3999] = '\0';
	auth_mail_msg m;
	assert_int_equal(auth_mail_render(AUTH_MAIL_VERIFY_EMAIL, "ada", base,
	                     "/v", TOKEN, 1, &m),
	    -1);
	assert_null(m.text);
	assert_null(m.html);
	free(base);
}

static void
test_tokens_are_43_base64url_chars_and_differ(void **state)
{
	(void) state;
	auth_one_time_token a, b;
	char h[65];
	auth_token_new(&a);
	auth_token_new(&b);
	assert_int_equal(strlen(a.text), AUTH_TOKEN_TEXT_LEN);
	assert_string_not_equal(a.text, b.text);
	assert_int_equal(auth_token_hash(a.text, h), 0);
	assert_string_equal(h, a.hash_hex);
	assert_int_equal(strlen(h), 64);
	assert_string_not_equal(a.hash_hex, b.hash_hex);
}

static void
test_hash_refuses_what_cannot_be_a_token(void **state)
{
	(void) state;
	char h[65];
	assert_int_equal(auth_token_hash(TOKEN, h), 0);
	/* SHA-256 of the text, as authdb's sha256(text) computes it. */
	uint8_t want[32];
	char hex[65];
	crypto_hash_sha256(want, (const uint8_t *) TOKEN, strlen(TOKEN));
	sodium_bin2hex(hex, sizeof(hex), want, sizeof(want));
	assert_string_equal(h, hex);
	assert_int_equal(auth_token_hash("", h), -1);
	assert_int_equal(auth_token_hash(TOKEN "A", h), -1);
	assert_int_equal(auth_token_hash("garbage", h), -1);
	char bad[] = TOKEN;
	bad[10] = '=';
	assert_int_equal(auth_token_hash(bad, h), -1);
	bad[10] = '%';
	assert_int_equal(auth_token_hash(bad, h), -1);
}

static void
test_loading_a_missing_template_dir_fails_naming_the_file(void **state)
{
	(void) state;
	char err[256] = "";
	auth_mail_templates_free();
	assert_int_equal(
	    auth_mail_templates_load("/nonexistent", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/verify_email.txt"));
	auth_mail_msg m;
	assert_int_equal(auth_mail_render(AUTH_MAIL_VERIFY_EMAIL, "ada",
	                     "https://x", "/v", TOKEN, 1, &m),
	    -1);
	assert_int_equal(auth_mail_templates_load(
	                     AUTH_MAIL_TEMPLATES_DIR, err, sizeof(err)),
	    0);
}

static void
test_a_template_without_a_subject_line_is_refused(void **state)
{
	(void) state;
	char dir[] = "/tmp/auth_mail_XXXXXX", path[64], err[256] = "";
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/verify_email.txt", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("\nno subject\n", f);
	fclose(f);
	auth_mail_templates_free();
	assert_int_equal(auth_mail_templates_load(dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "subject"));
	unlink(path);
	rmdir(dir);
	assert_int_equal(auth_mail_templates_load(
	                     AUTH_MAIL_TEMPLATES_DIR, err, sizeof(err)),
	    0);
}

/* Each mail of an email change and of a registration with a taken
 * address: its subject, the address it speaks of, links to the frontend
 * (the base without its trailing slash) and no placeholder left. */
static void
test_email_change_and_taken_address_mails_render(void **state)
{
	(void) state;
	static const struct {
		auth_mail_kind kind;
		const char *subject;
	} cases[] = {
	    {AUTH_MAIL_CHANGE_EMAIL_NOTICE,
	        "A change of your email address was requested"},
	    {AUTH_MAIL_CHANGE_EMAIL_TAKEN,
	        "This address already has an account"},
	    {AUTH_MAIL_REGISTER_TAKEN,
	        "Someone tried to register with your address"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		auth_mail_msg m;
		assert_int_equal(
		    auth_mail_render_notice(cases[i].kind, "ada",
		        "new<x>@example.com", "https://app.example//", &m),
		    0);
		assert_string_equal(m.subject, cases[i].subject);
		assert_non_null(strstr(m.text, "new<x>@example.com"));
		assert_non_null(strstr(m.html, "new&lt;x&gt;@example.com"));
		assert_non_null(strstr(m.text, "https://app.example/#/login"));
		assert_null(strstr(m.text, "{{"));
		assert_null(strstr(m.html, "{{"));
		assert_null(strstr(m.text, "token="));
		auth_mail_msg_free(&m);
	}
	auth_mail_msg m;
	assert_int_equal(
	    auth_mail_render(AUTH_MAIL_CHANGE_EMAIL, "ada",
	        "https://app.example", "/confirm-email", TOKEN, 1, &m),
	    0);
	assert_string_equal(m.subject, "Confirm your new email address");
	assert_non_null(strstr(
	    m.text, "https://app.example/#/confirm-email?token=" TOKEN "\n"));
	assert_non_null(strstr(m.text, "for 1 hours"));
	auth_mail_msg_free(&m);
}

/* ---- Passwords: the reset link and the notice (auth_mail_render_minutes). */

static void
test_reset_mail_links_the_reset_page_with_the_token_and_its_minutes(
    void **state)
{
	(void) state;
	auth_mail_msg m;
	assert_int_equal(
	    auth_mail_render_minutes(AUTH_MAIL_RESET_PASSWORD, "ada",
	        "https://app.example//", "/reset-password", TOKEN, 30, &m),
	    0);
	assert_string_equal(m.subject, "Reset your password");
	assert_non_null(strstr(m.text, "Hello ada,"));
	assert_non_null(strstr(
	    m.text, "https://app.example/#/reset-password?token=" TOKEN "\n"));
	assert_non_null(strstr(m.text, "for 30 minutes"));
	assert_non_null(strstr(m.html,
	    "href=\"https://app.example/#/reset-password?token=" TOKEN "\""));
	assert_null(strstr(m.text, "{{"));
	assert_null(strstr(m.html, "{{"));
	auth_mail_msg_free(&m);
}

static void
test_notice_links_a_page_without_a_token_and_says_what_to_do(void **state)
{
	(void) state;
	auth_mail_msg m;
	assert_int_equal(
	    auth_mail_render_minutes(AUTH_MAIL_PASSWORD_CHANGED, "a<b>",
	        "https://app.example", "/forgot-password", NULL, 0, &m),
	    0);
	assert_string_equal(m.subject, "Your password was changed");
	assert_non_null(
	    strstr(m.text, "https://app.example/#/forgot-password\n"));
	assert_null(strstr(m.text, "token="));
	assert_null(strstr(m.html, "token="));
	assert_non_null(strstr(m.text, "If it was not you"));
	assert_non_null(strstr(m.html, "Hello a&lt;b&gt;,"));
	assert_null(strstr(m.text, "{{"));
	assert_null(strstr(m.html, "{{"));
	auth_mail_msg_free(&m);
}

static void
test_minutes_render_refuses_an_unknown_kind_and_a_huge_link(void **state)
{
	(void) state;
	auth_mail_msg m;
	char base[2100];
	memset(base, 'a', sizeof(base) - 1);
	base[sizeof(base) - 1] = '\0';
	assert_int_equal(auth_mail_render_minutes(AUTH_MAIL_KINDS, "ada",
	                     "https://x", "/p", TOKEN, 1, &m),
	    -1);
	assert_int_equal(auth_mail_render_minutes(AUTH_MAIL_RESET_PASSWORD,
	                     "ada", base, "/p", TOKEN, 1, &m),
	    -1);
	assert_null(m.text);
	assert_null(m.html);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_verify_mail_has_the_subject_and_the_link_with_the_token),
	    cmocka_unit_test(
	        test_values_are_html_escaped_in_the_html_body_only),
	    cmocka_unit_test(
	        test_mfa_notice_says_the_change_and_links_the_profile),
	    cmocka_unit_test(test_a_link_longer_than_its_buffer_is_refused),
	    cmocka_unit_test(test_tokens_are_43_base64url_chars_and_differ),
	    cmocka_unit_test(test_hash_refuses_what_cannot_be_a_token),
	    cmocka_unit_test(
	        test_loading_a_missing_template_dir_fails_naming_the_file),
	    cmocka_unit_test(
	        test_a_template_without_a_subject_line_is_refused),
	    cmocka_unit_test(test_email_change_and_taken_address_mails_render),
	    cmocka_unit_test(
	        test_reset_mail_links_the_reset_page_with_the_token_and_its_minutes),
	    cmocka_unit_test(
	        test_notice_links_a_page_without_a_token_and_says_what_to_do),
	    cmocka_unit_test(
	        test_minutes_render_refuses_an_unknown_kind_and_a_huge_link),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
