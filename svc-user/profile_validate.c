#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "profile_validate.h"

/* Characters (code points) in valid UTF-8 text. */
static size_t
chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++) {
		n += ((unsigned char) *s & 0xc0) != 0x80;
	}
	return n;
}

static bool
has_control(const char *s, bool allow_newlines)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;
		if (allow_newlines && (c == '\n' || c == '\t' || c == '\r')) {
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			return true;
		}
		/* C1 controls, U+0080..U+009F, are 0xc2 0x80..0x9f. */
		if (c == 0xc2 && (unsigned char) s[1] >= 0x80 &&
		    (unsigned char) s[1] <= 0x9f) {
			return true;
		}
	}
	return false;
}

const char *
user_display_name_check(const char *s)
{
	if (chars(s) > USER_DISPLAY_NAME_MAX) {
		return "must be at most 64 characters";
	}
	if (has_control(s, false)) {
		return "must not contain control characters";
	}
	return NULL;
}

const char *
user_bio_check(const char *s)
{
	if (chars(s) > USER_BIO_MAX) {
		return "must be at most 500 characters";
	}
	if (has_control(s, true)) {
		return "must not contain control characters";
	}
	return NULL;
}

const char *
user_avatar_url_check(const char *s)
{
	size_t n = strlen(s);
	if (n == 0) {
		return NULL;
	}
	if (n > USER_AVATAR_URL_MAX) {
		return "must be at most 2048 bytes";
	}
	if (strncmp(s, "https://", 8) != 0) {
		return "must be an https:// URL";
	}
	const char *host = s + 8;
	size_t hlen = strcspn(host, "/?#");
	if (hlen == 0 || host[0] == '@' || host[0] == ':') {
		return "must name a host";
	}
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char) *p;
		if (c <= 0x20 || c == 0x7f || c == '"' || c == '<' ||
		    c == '>' || c == '\\' || c >= 0x80) {
			return "must not contain spaces, quotes or "
			       "non-ASCII characters (percent-encode them)";
		}
	}
	return NULL;
}

static bool
alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
alnum(char c)
{
	return alpha(c) || (c >= '0' && c <= '9');
}

const char *
user_locale_check(const char *s)
{
	size_t n = strlen(s);
	if (n == 0) {
		return NULL;
	}
	if (n > USER_LOCALE_MAX) {
		return "must be at most 35 characters";
	}
	size_t i = 0, len = 0;
	while (i < n && alpha(s[i])) {
		i++;
	}
	if (i < 2 || i > 3) {
		return "must start with a 2 or 3 letter language code (e.g. "
		       "en, pt-BR)";
	}
	while (i < n) {
		if (s[i] != '-') {
			return "must be a BCP 47 language tag (e.g. en, pt-BR)";
		}
		i++;
		len = 0;
		while (i < n && alnum(s[i])) {
			i++;
			len++;
		}
		if (len < 1 || len > 8) {
			return "must be a BCP 47 language tag (e.g. en, pt-BR)";
		}
	}
	return NULL;
}
