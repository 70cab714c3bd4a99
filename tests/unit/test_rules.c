/* The field rules of proto/rules.c (no servers): every row fits the
 * message it names, every message of the REST API is described, the
 * checks write the messages rules.h promises, and the services' validators
 * enforce exactly the rows' limits. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admin/v1/admin.pb-c.h"
#include "auth/v1/auth.pb-c.h"
#include "user/v1/user.pb-c.h"

#include "admin_actions.h"
#include "auth_validate.h"
#include "profile_validate.h"
#include "registry.h"
#include "routes.h"
#include "users_repo.h"
#include "rules.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool
is_integer(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return true;
	default:
		return false;
	}
}

static void
row_fits_its_field(const field_rule *r, const ProtobufCFieldDescriptor *f)
{
	bool text = r->min_len || r->max_len || r->pattern || r->format;
	if (text) {
		assert_int_equal(f->type, PROTOBUF_C_TYPE_STRING);
	}
	if (r->flags & RULE_RANGE) {
		assert_true(is_integer(f->type));
		assert_true(r->min <= r->max);
	}
	if (r->flags & RULE_REQUIRED) {
		assert_true(
		    f->type == PROTOBUF_C_TYPE_STRING || is_integer(f->type));
	}
	if (r->flags & RULE_NULLABLE) {
		assert_int_equal(f->type, PROTOBUF_C_TYPE_MESSAGE);
		assert_int_not_equal(f->label, PROTOBUF_C_LABEL_REPEATED);
	}
	if (r->min_len && r->max_len) {
		assert_true(r->min_len <= r->max_len);
	}
	assert_int_equal(
	    r->flags & ~(RULE_REQUIRED | RULE_RANGE | RULE_NULLABLE), 0);
}

/* Every row of one table (rules_table) fits the message it names. */
static void
table_fits(const field_rule *rows, size_t n)
{
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		const field_rule *r = &rows[i];
		const ProtobufCMessageDescriptor *d =
		    registry_message(r->message);
		if (d == NULL) {
			fail_msg("row %zu: unknown message %s", i, r->message);
		}
		assert_non_null(r->description);
		assert_true(r->description[0] != '\0');
		/* rules_find gives this very row: no duplicates. */
		assert_ptr_equal(rules_find(d, r->field), r);
		if (r->field == NULL) {
			/* A message's own row only describes it. */
			assert_int_equal(r->flags, 0);
			assert_true(r->min_len == 0 && r->max_len == 0);
			assert_null(r->pattern);
			assert_null(r->format);
			/* ... and comes first of the message's rows. */
			assert_true(
			    i == 0 || strcmp(rows[i - 1].message, r->message));
			continue;
		}
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(
		        d, r->field);
		if (f == NULL) {
			fail_msg("row %zu: %s has no field %s", i, r->message,
			    r->field);
		}
		/* Rows of a message stay together, after its own. */
		assert_true(i > 0);
		assert_string_equal(rows[i - 1].message, r->message);
		row_fits_its_field(r, f);
	}
}

/* In every table: rules.c's (rules_all) and those features keep apart. */
static void
test_every_row_fits_the_message_it_names(void **state)
{
	(void) state;
	size_t n = 0, n0 = 0, tables = 0;
	const field_rule *t;
	assert_ptr_equal(rules_all(&n0), rules_table(0, &n));
	assert_int_equal(n, n0);
	for (size_t k = 0; (t = rules_table(k, &n)) != NULL; k++) {
		table_fits(t, n);
		tables++;
	}
	assert_true(tables >= 2);
}

/* Asserts that d and every message it holds (but the well-known types)
 * have a row for themselves and for each field. */
static void
described(const ProtobufCMessageDescriptor *d, int depth)
{
	assert_true(depth < 8);
	if (strncmp(d->name, "google.protobuf.", 16) == 0) {
		return;
	}
	if (rules_find(d, NULL) == NULL) {
		fail_msg("no row for message %s", d->name);
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (rules_find(d, f->name) == NULL) {
			fail_msg("no row for %s.%s", d->name, f->name);
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			described(f->descriptor, depth + 1);
		}
	}
}

/* Every message the REST routes take or return (edge/routes.c). */
static void
test_every_message_of_the_rest_api_is_described(void **state)
{
	(void) state;
	assert_true(edge_route_count() > 0);
	for (unsigned i = 0; i < edge_route_count(); i++) {
		const char *rpc = edge_route_at(i)->rpc;
		const registry_service *svc;
		const ProtobufCMethodDescriptor *m;
		if (rpc == NULL) {
			continue;
		}
		if (registry_find(rpc, &svc, &m) != 0) {
			fail_msg("route %u: unknown method %s", i, rpc);
		}
		described(m->input, 0);
		described(m->output, 0);
	}
}

static void
test_check_text_writes_the_promised_messages(void **state)
{
	(void) state;
	char buf[RULES_MESSAGE_MAX];
	const field_rule both = {.message = "x",
	    .field = "y",
	    .flags = RULE_REQUIRED,
	    .min_len = 3,
	    .max_len = 32};
	const field_rule most = {.message = "x", .field = "y", .max_len = 64};
	const field_rule least = {.message = "x", .field = "y", .min_len = 8};
	assert_string_equal(
	    rules_check_text(&both, "", buf, sizeof(buf)), "is required");
	assert_string_equal(rules_check_text(&both, "ab", buf, sizeof(buf)),
	    "must be 3 to 32 characters");
	/* Three characters of two bytes each. */
	assert_null(rules_check_text(
	    &both, "\xc3\xa9\xc3\xa9\xc3\xa9", buf, sizeof(buf)));
	char s[200];
	memset(s, 'a', 65);
	s[65] = '\0';
	assert_string_equal(rules_check_text(&most, s, buf, sizeof(buf)),
	    "must be at most 64 characters");
	s[64] = '\0';
	assert_null(rules_check_text(&most, s, buf, sizeof(buf)));
	assert_string_equal(
	    rules_check_text(&least, "1234567", buf, sizeof(buf)),
	    "must be at least 8 characters");
	/* Not required: empty passes every length rule. */
	assert_null(rules_check_text(&least, "", buf, sizeof(buf)));
	assert_null(rules_check_text(NULL, "", buf, sizeof(buf)));
}

static void
test_check_int_writes_the_promised_messages(void **state)
{
	(void) state;
	char buf[RULES_MESSAGE_MAX];
	const field_rule range = {
	    .message = "x", .field = "y", .flags = RULE_RANGE, .max = 200};
	const field_rule req = {
	    .message = "x", .field = "y", .flags = RULE_REQUIRED};
	assert_null(rules_check_int(&range, 0, buf, sizeof(buf)));
	assert_null(rules_check_int(&range, 200, buf, sizeof(buf)));
	assert_string_equal(rules_check_int(&range, 201, buf, sizeof(buf)),
	    "must be 0 to 200");
	assert_string_equal(
	    rules_check_int(&range, -1, buf, sizeof(buf)), "must be 0 to 200");
	assert_string_equal(
	    rules_check_int(&req, 0, buf, sizeof(buf)), "is required");
	assert_null(rules_check_int(&req, 7, buf, sizeof(buf)));
	assert_null(rules_check_int(NULL, -5, buf, sizeof(buf)));
}

static const field_rule *
row(const ProtobufCMessageDescriptor *d, const char *field)
{
	const field_rule *r = rules_find(d, field);
	if (r == NULL) {
		fail_msg("no row for %s.%s", d->name, field);
	}
	return r;
}

/* n copies of the UTF-8 character c into out (NUL-terminated). */
static char *
repeat(char *out, const char *c, size_t n)
{
	size_t len = strlen(c);
	for (size_t i = 0; i < n; i++) {
		memcpy(out + i * len, c, len);
	}
	out[n * len] = '\0';
	return out;
}

/* Appends t to the string in buf (an array: its size bounds it). */
#define APPEND(buf, t)                                                        \
	snprintf((buf) + strlen(buf), sizeof(buf) - strlen(buf), "%s", (t))

static void
test_buffer_defines_equal_the_rows(void **state)
{
	(void) state;
	const ProtobufCMessageDescriptor *reg =
	    &auth__v1__register_request__descriptor;
	assert_int_equal(row(reg, "username")->min_len, AUTH_USERNAME_MIN);
	assert_int_equal(row(reg, "username")->max_len, AUTH_USERNAME_MAX);
	assert_int_equal(row(reg, "email")->max_len, AUTH_EMAIL_MAX);
	assert_int_equal(
	    row(&auth__v1__admin_list_users_request__descriptor, "query")
	        ->max_len,
	    AUTH_QUERY_MAX);
	/* A page and the one row that tells whether another follows. */
	assert_true(
	    AUTH_USERS_LIST_MAX >=
	    row(&auth__v1__admin_list_users_request__descriptor, "page_size")
	            ->max +
	        1);
	const ProtobufCMessageDescriptor *up =
	    &user__v1__update_profile_request__descriptor;
	assert_int_equal(
	    row(up, "display_name")->max_len, USER_DISPLAY_NAME_MAX);
	assert_int_equal(row(up, "bio")->max_len, USER_BIO_MAX);
	assert_int_equal(row(up, "avatar_url")->max_len, USER_AVATAR_URL_MAX);
	assert_int_equal(row(up, "locale")->max_len, USER_LOCALE_MAX);
	const char *const filters[] = {"actor", "target", "action"};
	for (size_t i = 0; i < N(filters); i++) {
		assert_int_equal(
		    row(&admin__v1__list_audit_request__descriptor, filters[i])
		        ->max_len,
		    ADMIN_FILTER_MAX);
	}
}

/* svc-admin hands ListUsers to svc-auth's AdminListUsers, which checks
 * it: the document of the one must promise what the other enforces. */
static void
test_admin_list_users_rows_equal_svc_auths(void **state)
{
	(void) state;
	const char *const fields[] = {"query", "page_size"};
	for (size_t i = 0; i < N(fields); i++) {
		const field_rule *a =
		    row(&admin__v1__list_users_request__descriptor, fields[i]);
		const field_rule *b =
		    row(&auth__v1__admin_list_users_request__descriptor,
		        fields[i]);
		assert_int_equal(a->flags, b->flags);
		assert_int_equal(a->min_len, b->min_len);
		assert_int_equal(a->max_len, b->max_len);
		assert_true(a->min == b->min && a->max == b->max);
	}
}

static void
test_account_validators_enforce_the_rows(void **state)
{
	(void) state;
	const ProtobufCMessageDescriptor *reg =
	    &auth__v1__register_request__descriptor;
	char s[2048], out[AUTH_EMAIL_MAX + 1];
	size_t max = row(reg, "username")->max_len;
	size_t min = row(reg, "username")->min_len;
	assert_null(auth_username_normalize(
	    repeat(s, "a", max), out, AUTH_USERNAME_MAX + 1));
	assert_non_null(auth_username_normalize(
	    repeat(s, "a", max + 1), out, AUTH_USERNAME_MAX + 1));
	assert_null(auth_username_normalize(
	    repeat(s, "a", min), out, AUTH_USERNAME_MAX + 1));
	assert_non_null(auth_username_normalize(
	    repeat(s, "a", min - 1), out, AUTH_USERNAME_MAX + 1));
	assert_string_equal(
	    auth_username_normalize("", out, AUTH_USERNAME_MAX + 1),
	    "is required");
	/* Few enough characters, but not ASCII: the shape refuses it. */
	assert_string_equal(auth_username_normalize(repeat(s, "\xc3\xa9", 20),
	                        out, AUTH_USERNAME_MAX + 1),
	    "may contain only letters, digits, '_', '.' and '-'");

	/* An email of exactly max characters: 64 + '@' + labels. */
	max = row(reg, "email")->max_len;
	repeat(s, "a", 64);
	APPEND(s, "@");
	while (strlen(s) + 4 <= max - 4) {
		APPEND(s, "bbb.");
	}
	while (strlen(s) < max - 4) {
		APPEND(s, "c");
	}
	APPEND(s, ".com");
	assert_int_equal(strlen(s), max);
	assert_null(auth_email_normalize(s, out, sizeof(out)));
	/* One more character, before the top-level label. */
	char longer[300];
	snprintf(longer, sizeof(longer), "%.*sc%s", (int) (max - 4), s,
	    s + max - 4);
	assert_int_equal(strlen(longer), max + 1);
	assert_string_equal(auth_email_normalize(longer, out, sizeof(out)),
	    "must be 3 to 254 characters");
	assert_string_equal(
	    auth_email_normalize("", out, sizeof(out)), "is required");

	/* Characters, not bytes: 8 of two bytes pass, 7 do not; 128 of
	 * three bytes pass, 129 of one do not. */
	min = row(reg, "password")->min_len;
	max = row(reg, "password")->max_len;
	assert_null(auth_password_check(repeat(s, "\xc3\xa9", min), "ada"));
	assert_string_equal(
	    auth_password_check(repeat(s, "\xc3\xa9", min - 1), "ada"),
	    "must be 8 to 128 characters");
	assert_null(
	    auth_password_check(repeat(s, "\xe2\x82\xac", max), "ada"));
	assert_non_null(auth_password_check(repeat(s, "x", max + 1), "ada"));
	assert_string_equal(auth_password_check("", "ada"), "is required");

	char like[AUTH_LIKE_MAX];
	max = row(&auth__v1__admin_list_users_request__descriptor, "query")
	          ->max_len;
	assert_null(auth_like_substring(
	    repeat(s, "\xf0\x9f\x98\x80", max), like, sizeof(like)));
	assert_null(
	    auth_like_substring(repeat(s, "%", max), like, sizeof(like)));
	assert_string_equal(
	    auth_like_substring(repeat(s, "a", max + 1), like, sizeof(like)),
	    "must be at most 254 characters");
}

static void
test_profile_validators_enforce_the_rows(void **state)
{
	(void) state;
	const ProtobufCMessageDescriptor *up =
	    &user__v1__update_profile_request__descriptor;
	char s[3000];
	size_t max = row(up, "display_name")->max_len;
	assert_null(user_display_name_check(repeat(s, "\xc3\xa9", max)));
	assert_string_equal(user_display_name_check(repeat(s, "a", max + 1)),
	    "must be at most 64 characters");
	max = row(up, "bio")->max_len;
	assert_null(user_bio_check(repeat(s, "\xe2\x82\xac", max)));
	assert_non_null(user_bio_check(repeat(s, "a", max + 1)));

	max = row(up, "avatar_url")->max_len;
	snprintf(s, sizeof(s), "%s", "https://example.com/");
	size_t n = strlen(s);
	memset(s + n, 'p', max - n);
	s[max] = '\0';
	assert_null(user_avatar_url_check(s));
	s[max] = 'p';
	s[max + 1] = '\0';
	assert_string_equal(
	    user_avatar_url_check(s), "must be at most 2048 characters");

	/* "en" and subtags of 8, then one of 5: exactly max. */
	max = row(up, "locale")->max_len;
	snprintf(s, sizeof(s), "%s", "en");
	while (strlen(s) + 9 <= max) {
		APPEND(s, "-abcdefgh");
	}
	APPEND(s, "-");
	while (strlen(s) < max) {
		APPEND(s, "x");
	}
	assert_null(user_locale_check(s));
	APPEND(s, "x");
	assert_non_null(user_locale_check(s));
}

/* The POSIX extended form of ECMA-262 pattern e, for the subset the rows
 * use: escapes only of '[' and ']' inside a bracket expression, where
 * POSIX takes '\\' literally and a ']' only first (here a range that
 * starts with it moves to the front). */
static void
posix_of(const char *e, char *out, size_t outlen)
{
	size_t k = 0;
	while (*e != '\0') {
		assert_int_not_equal(*e, '\\');
		if (*e != '[') {
			assert_true(k + 1 < outlen);
			out[k++] = *e++;
			continue;
		}
		char front[8] = "", rest[64] = "";
		size_t f = 0, r = 0;
		for (e++; *e != ']'; e++) {
			assert_true(*e != '\0' && f + 3 < sizeof(front) &&
			            r + 1 < sizeof(rest));
			if (e[0] == '\\' && e[1] == ']') {
				front[f++] = ']';
				e++;
				if (e[1] == '-' && e[2] != ']') {
					front[f++] = *++e;
					front[f++] = *++e;
				}
			} else if (e[0] == '\\' && e[1] == '[') {
				rest[r++] = *++e;
			} else {
				assert_int_not_equal(*e, '\\');
				rest[r++] = *e;
			}
		}
		e++;
		front[f] = rest[r] = '\0';
		int n = snprintf(out + k, outlen - k, "[%s%s]", front, rest);
		assert_true(n > 0 && (size_t) n < outlen - k);
		k += (size_t) n;
	}
	out[k] = '\0';
}

/* Whether the row's pattern (ECMA-262) matches s. */
static bool
matches(const char *pattern, const char *s)
{
	char posix[256];
	posix_of(pattern, posix, sizeof(posix));
	regex_t re;
	assert_int_equal(regcomp(&re, posix, REG_EXTENDED | REG_NOSUB), 0);
	bool m = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return m;
}

/* The patterns the document shows say what the C checks do. */
static void
test_patterns_agree_with_the_checks(void **state)
{
	(void) state;
	const char *user =
	    row(&auth__v1__register_request__descriptor, "username")->pattern;
	const char *const names[] = {"ada", "Ada.L_1-x", "a b", "a@b", "a/b",
	    "\xc3\xa9t\xc3\xa9", "abc;", "abc\n"};
	char out[AUTH_USERNAME_MAX + 1];
	for (size_t i = 0; i < N(names); i++) {
		assert_int_equal(matches(user, names[i]),
		    auth_username_normalize(names[i], out, sizeof(out)) ==
		        NULL);
	}
	const char *locale =
	    row(&user__v1__update_profile_request__descriptor, "locale")
	        ->pattern;
	const char *const tags[] = {"en", "pt-BR", "zh-Hant-TW", "ast",
	    "es-419", "de-CH-1901", "e", "engl", "en_US", "en-", "-en",
	    "en--US", "en-123456789", "en US", "1e", "en-\xc3\xa9"};
	for (size_t i = 0; i < N(tags); i++) {
		assert_int_equal(matches(locale, tags[i]),
		    user_locale_check(tags[i]) == NULL);
	}
	const char *url =
	    row(&user__v1__update_profile_request__descriptor, "avatar_url")
	        ->pattern;
	const char *const urls[] = {"https://cdn.example.com/a.png",
	    "https://example.com", "https://[::1]/x", "https://a.b/?q=1#f",
	    "https://x/~a_b-c%20", "https://x/a]b", "http://example.com/a.png",
	    "HTTPS://example.com", "https://", "https:///path", "https://@x",
	    "https://:80", "javascript:alert(1)", "https://a b.com",
	    "https://example.com/\"><script>", "https://example.com/\xc3\xa9",
	    "//example.com/a.png", "https://x/a\\b", "https://x/<",
	    "https://x/\x7f"};
	for (size_t i = 0; i < N(urls); i++) {
		assert_int_equal(matches(url, urls[i]),
		    user_avatar_url_check(urls[i]) == NULL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_row_fits_the_message_it_names),
	    cmocka_unit_test(test_every_message_of_the_rest_api_is_described),
	    cmocka_unit_test(test_check_text_writes_the_promised_messages),
	    cmocka_unit_test(test_check_int_writes_the_promised_messages),
	    cmocka_unit_test(test_buffer_defines_equal_the_rows),
	    cmocka_unit_test(test_admin_list_users_rows_equal_svc_auths),
	    cmocka_unit_test(test_account_validators_enforce_the_rows),
	    cmocka_unit_test(test_profile_validators_enforce_the_rows),
	    cmocka_unit_test(test_patterns_agree_with_the_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
