#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_validate.h"
#include "core/b64url.h"
#include "core/utf8.h"
#include "rules.h"

#define PAGE_TOKEN_VERSION 1

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static char
to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

#define USERNAME_CHARSET "may contain only letters, digits, '_', '.' and '-'"

/* The row of a RegisterRequest field: where the account rules are. */
static const field_rule *
register_rule(const char *field)
{
	return rules_find(&auth__v1__register_request__descriptor, field);
}

const char *
auth_username_normalize(const char *in, char *out, size_t outlen)
{
	static _Thread_local char msg[RULES_MESSAGE_MAX];
	const char *e =
	    rules_check_text(register_rule("username"), in, msg, sizeof(msg));
	if (e != NULL) {
		return e;
	}
	size_t n = strlen(in);
	if (outlen < n + 1) {
		/* More bytes than characters: not ASCII. */
		return USERNAME_CHARSET;
	}
	for (size_t i = 0; i < n; i++) {
		char c = to_lower(in[i]);
		if (!is_lower_alnum(c) && c != '_' && c != '.' && c != '-') {
			return USERNAME_CHARSET;
		}
		out[i] = c;
	}
	out[n] = '\0';
	return NULL;
}

/* RFC 5322 atext, without the characters that cause trouble downstream
 * (quotes, backslash, backtick are not atext anyway). */
static bool
is_atext(char c)
{
	return is_lower_alnum(c) ||
	       (c != '\0' && strchr("!#$%&'*+/=?^_{|}~-", c));
}

static const char *
check_local(const char *s, size_t n)
{
	if (n == 0 || n > 64) {
		return "the part before '@' must be 1 to 64 characters";
	}
	if (s[0] == '.' || s[n - 1] == '.') {
		return "the part before '@' must not start or end with '.'";
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.') {
				return "the part before '@' must not contain "
				       "'..'";
			}
		} else if (!is_atext(s[i])) {
			return "the part before '@' contains a character "
			       "that is not allowed";
		}
	}
	return NULL;
}

static const char *
check_domain(const char *s, size_t n)
{
	size_t labels = 0, start = 0;
	bool last_alpha = true;
	if (n == 0 || n > 253) {
		return "the domain must be 1 to 253 characters";
	}
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!is_lower_alnum(s[i]) && s[i] != '-') {
				return "the domain contains a character that "
				       "is not allowed";
			}
			continue;
		}
		size_t len = i - start;
		if (len == 0 || len > 63) {
			return "each part of the domain must be 1 to 63 "
			       "characters";
		}
		if (s[start] == '-' || s[i - 1] == '-') {
			return "a part of the domain must not start or end "
			       "with '-'";
		}
		last_alpha = len >= 2;
		for (size_t k = start; k < i; k++) {
			if (!(s[k] >= 'a' && s[k] <= 'z')) {
				last_alpha = false;
			}
		}
		labels++;
		start = i + 1;
	}
	if (labels < 2) {
		return "the domain needs a dot (e.g. example.com)";
	}
	if (!last_alpha) {
		return "the domain must end in a name of letters";
	}
	return NULL;
}

const char *
auth_email_normalize(const char *in, char *out, size_t outlen)
{
	static _Thread_local char msg[RULES_MESSAGE_MAX];
	const char *e =
	    rules_check_text(register_rule("email"), in, msg, sizeof(msg));
	if (e != NULL) {
		return e;
	}
	size_t n = strlen(in);
	if (outlen < n + 1) {
		/* More bytes than characters: not ASCII, as neither part may
		 * be. */
		return "may contain only ASCII characters";
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = to_lower(in[i]);
	}
	out[n] = '\0';
	const char *at = strchr(out, '@');
	if (at == NULL || strchr(at + 1, '@') != NULL) {
		return "must contain exactly one '@'";
	}
	e = check_local(out, (size_t) (at - out));
	if (e == NULL) {
		e = check_domain(at + 1, n - (size_t) (at - out) - 1);
	}
	return e;
}

bool
auth_utf8_valid(const char *s, size_t n)
{
	return core_utf8_valid(s, n);
}

void
auth_clip(char *out, size_t len, const char *in)
{
	snprintf(out, len, "%s", in);
	if (!auth_utf8_valid(out, strlen(out))) {
		snprintf(out, len, "%s", "-");
	}
}

/* A short list of the most used passwords of 8+ characters (from public
 * breach statistics); a full breached-password check would be a service of
 * its own. */
static const char *const common_passwords[] = {
    "12345678",
    "123456789",
    "1234567890",
    "password",
    "password1",
    "password123",
    "qwertyuiop",
    "qwerty123",
    "11111111",
    "00000000",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "welcome123",
    "abc12345",
    "abcd1234",
    "1q2w3e4r",
    "1qaz2wsx",
    "qwerty12",
    "letmein1",
    "trustno1",
    "superman",
    "passw0rd",
    "p@ssw0rd",
    "changeme",
    "admin123",
    "administrator",
    "87654321",
    "12341234",
    "asdfghjkl",
    "zaq12wsx",
    "q1w2e3r4",
};

const char *
auth_password_check(const char *pw, const char *username)
{
	static _Thread_local char msg[RULES_MESSAGE_MAX];
	size_t n = strlen(pw);
	/* First: the length rule counts characters, which needs UTF-8. */
	if (!auth_utf8_valid(pw, n)) {
		return "must be valid UTF-8";
	}
	const char *e =
	    rules_check_text(register_rule("password"), pw, msg, sizeof(msg));
	if (e != NULL) {
		return e;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) pw[i];
		if (c < 0x20 || c == 0x7f) {
			return "must not contain control characters";
		}
	}
	if (username != NULL && strcasecmp(pw, username) == 0) {
		return "must not be the username";
	}
	for (size_t i = 0;
	     i < sizeof(common_passwords) / sizeof(common_passwords[0]); i++) {
		if (strcasecmp(pw, common_passwords[i]) == 0) {
			return "is one of the most common passwords";
		}
	}
	return NULL;
}

bool
auth_uuid_valid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		char c = s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		           (c >= 'A' && c <= 'F');
		if (dash ? c != '-' : !hex) {
			return false; /* also stops at a NUL */
		}
	}
	return s[36] == '\0';
}

static bool
like_special(char c)
{
	return c == '%' || c == '_' || c == '\\';
}

const char *
auth_like_substring(const char *query, char *out, size_t outlen)
{
	static _Thread_local char msg[RULES_MESSAGE_MAX];
	const char *e = rules_check_text(
	    rules_find(
	        &auth__v1__admin_list_users_request__descriptor, "query"),
	    query, msg, sizeof(msg));
	if (e != NULL) {
		return e;
	}
	size_t n = strlen(query), need = n + 3, k = 0;
	for (size_t i = 0; i < n; i++) {
		need += like_special(query[i]);
	}
	if (outlen < need) {
		return "too long";
	}
	out[k++] = '%';
	for (size_t i = 0; i < n; i++) {
		char c = query[i];
		if (like_special(c)) {
			out[k++] = '\\';
		}
		out[k++] = to_lower(c);
	}
	out[k++] = '%';
	out[k] = '\0';
	return NULL;
}

/* Whether s is a username exactly as stored (already lower-case). */
static bool
stored_username(const char *s)
{
	char norm[AUTH_USERNAME_MAX + 1];
	return auth_username_normalize(s, norm, sizeof(norm)) == NULL &&
	       strcmp(norm, s) == 0;
}

int
auth_page_token_encode(const char *username, char *out, size_t outlen)
{
	uint8_t raw[1 + AUTH_USERNAME_MAX];
	size_t n = strnlen(username, AUTH_USERNAME_MAX + 1);
	if (n < AUTH_USERNAME_MIN || n > AUTH_USERNAME_MAX) {
		return -1;
	}
	raw[0] = PAGE_TOKEN_VERSION;
	memcpy(raw + 1, username, n);
	return core_b64url_encode(raw, n + 1, out, outlen);
}

int
auth_page_token_decode(const char *token, char *out, size_t outlen)
{
	uint8_t raw[1 + AUTH_USERNAME_MAX];
	size_t len = strnlen(token, AUTH_PAGE_TOKEN_MAX), n = 0;
	if (len == 0 || len >= AUTH_PAGE_TOKEN_MAX ||
	    outlen < AUTH_USERNAME_MAX + 1 ||
	    core_b64url_decode(token, len, raw, sizeof(raw), &n) != 0 ||
	    n < 1 + AUTH_USERNAME_MIN || raw[0] != PAGE_TOKEN_VERSION) {
		return -1;
	}
	memcpy(out, raw + 1, n - 1);
	out[n - 1] = '\0';
	/* Also refuses an embedded NUL: the shape check sees a short name. */
	if (strlen(out) != n - 1 || !stored_username(out)) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}
