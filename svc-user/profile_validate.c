#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "user/v1/user.pb-c.h"

#include "profile_validate.h"
#include "rules.h"

/* The length rule of an UpdateProfileRequest field (proto/rules.c): NULL,
 * or its message written to msg. */
static const char *
length_check(const char *field, const char *s, char msg[RULES_MESSAGE_MAX])
{
	return rules_check_text(
	    rules_find(&user__v1__update_profile_request__descriptor, field),
	    s, msg, RULES_MESSAGE_MAX);
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
	static _Thread_local char msg[RULES_MESSAGE_MAX];
	const char *e = length_check("display_name", s, msg);
	if (e != NULL) {
		return e;
	}
	if (has_control(s, false)) {
		return "must not contain control characters";
	}
	return NULL;
}

const char *
user_bio_check(const char *s)
{
	static _Thread_local char msg[RULES_MESSAGE_MAX];
	const char *e = length_check("bio", s, msg);
	if (e != NULL) {
		return e;
	}
	if (has_control(s, true)) {
		return "must not contain control characters";
	}
	return NULL;
}

const char *
user_avatar_url_check(const char *s)
{
	static _Thread_local char msg[RULES_MESSAGE_MAX];
	const char *e = length_check("avatar_url", s, msg);
	if (s[0] == '\0' || e != NULL) {
		return e;
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
	static _Thread_local char msg[RULES_MESSAGE_MAX];
	const char *e = length_check("locale", s, msg);
	if (s[0] == '\0' || e != NULL) {
		return e;
	}
	size_t n = strlen(s), i = 0, len = 0;
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
