/* If-Match parsing: "*", or a list of entity-tags of which this API's are
 * strong "v<n>". */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "if_match.h"

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t') {
		p++;
	}
	return p;
}

/* RFC 9110 etagc: any visible character but '"', and obs-text. */
static bool
etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

/* Whether the opaque tag s[0..len) is this API's "v<n>", n in int64. */
static bool
api_version(const char *s, size_t len, long long *out)
{
	if (len < 2 || s[0] != 'v') {
		return false;
	}
	long long n = 0;
	for (size_t i = 1; i < len; i++) {
		int d = s[i] - '0';
		if (d < 0 || d > 9 || n > (LLONG_MAX - d) / 10) {
			return false;
		}
		n = n * 10 + d;
	}
	*out = n;
	return true;
}

/* One entity-tag at *pp ([W/]"etagc*"), which it moves past. Returns 1 for
 * a strong tag of this API (the version in *n), 0 for any other tag, -1
 * when there is none. */
static int
entity_tag(const char **pp, long long *n)
{
	const char *p = *pp;
	bool weak = strncmp(p, "W/", 2) == 0;
	p += weak ? 2 : 0;
	if (*p != '"') {
		return -1;
	}
	const char *tag = ++p;
	while (etagc((unsigned char) *p)) {
		p++;
	}
	if (*p != '"') {
		return -1;
	}
	*pp = p + 1;
	/* If-Match compares strongly: a weak tag never matches. */
	return !weak && api_version(tag, (size_t) (p - tag), n) ? 1 : 0;
}

int
edge_if_match_parse(const char *v, long long *out)
{
	const char *p = skip_ows(v);
	if (*p == '*') {
		return *skip_ows(p + 1) == '\0' ? EDGE_IF_MATCH_ANY
		                                : EDGE_IF_MATCH_BAD;
	}
	size_t tags = 0;
	bool found = false;
	long long version = 0;
	/* #entity-tag: tags separated by commas and optional spaces; empty
	 * elements are allowed. */
	while (*(p = skip_ows(p)) != '\0') {
		if (*p == ',') {
			p++;
			continue;
		}
		long long n;
		int kind = entity_tag(&p, &n);
		if (kind < 0 || (kind == 1 && found && n != version)) {
			return EDGE_IF_MATCH_BAD;
		}
		if (kind == 1) {
			found = true;
			version = n;
		}
		tags++;
		p = skip_ows(p);
		if (*p != ',' && *p != '\0') {
			return EDGE_IF_MATCH_BAD;
		}
	}
	if (tags == 0) {
		return EDGE_IF_MATCH_BAD;
	}
	if (!found) {
		return EDGE_IF_MATCH_NONE;
	}
	*out = version;
	return EDGE_IF_MATCH_VERSION;
}
