#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/text.h"
#include "browser.h"

static bool
host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' ||
	       c == '[' || c == ']';
}

/* The authority of an http(s) origin, or NULL. */
static const char *
origin_authority(const char *origin)
{
	const char *a;
	if (strncasecmp(origin, "http://", 7) == 0) {
		a = origin + 7;
	} else if (strncasecmp(origin, "https://", 8) == 0) {
		a = origin + 8;
	} else {
		return NULL;
	}
	if (*a == '\0' || *a == ':') {
		return NULL;
	}
	for (const char *p = a; *p != '\0'; p++) {
		if (!host_char(*p)) {
			return NULL;
		}
	}
	return a;
}

int
edge_origins_parse(edge_origins *o, const char *csv, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	if (strlen(csv) >= sizeof(o->buf)) {
		snprintf(err, errlen, "the origin list is too long");
		return -1;
	}
	memcpy(o->buf, csv, strlen(csv) + 1);
	char *save = NULL;
	for (char *tok = strtok_r(o->buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t') {
			tok++;
		}
		size_t n = strlen(tok);
		while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t')) {
			tok[--n] = '\0';
		}
		if (n == 0) {
			continue;
		}
		if (origin_authority(tok) == NULL) {
			snprintf(err, errlen,
			    "\"%s\" is not an origin (scheme://host[:port], "
			    "http or https, no path)",
			    tok);
			return -1;
		}
		if (o->n == EDGE_MAX_ORIGINS) {
			snprintf(err, errlen, "at most %d origins",
			    EDGE_MAX_ORIGINS);
			return -1;
		}
		o->list[o->n++] = tok;
	}
	return 0;
}

bool
edge_origin_listed(const edge_origins *o, const char *origin)
{
	for (size_t i = 0; i < o->n; i++) {
		if (strcasecmp(o->list[i], origin) == 0) {
			return true;
		}
	}
	return false;
}

bool
edge_origin_same_host(const char *origin, const char *host)
{
	const char *a = origin_authority(origin);
	return a != NULL && host != NULL && strcasecmp(a, host) == 0;
}

static bool
cookie_octet(unsigned char c)
{
	/* RFC 6265 cookie-octet. */
	return c == 0x21 || (c >= 0x23 && c <= 0x2B) ||
	       (c >= 0x2D && c <= 0x3A) || (c >= 0x3C && c <= 0x5B) ||
	       (c >= 0x5D && c <= 0x7E);
}

int
edge_cookie_format(char *buf, size_t len, const char *name, const char *value,
    long max_age, bool secure)
{
	return edge_cookie_format_path(
	    buf, len, name, value, "/", max_age, secure);
}

int
edge_cookie_format_path(char *buf, size_t len, const char *name,
    const char *value, const char *path, long max_age, bool secure)
{
	for (const char *p = value; *p != '\0'; p++) {
		if (!cookie_octet((unsigned char) *p)) {
			return -1;
		}
	}
	if (max_age < 0) {
		max_age = 0;
	}
	int n = snprintf(buf, len,
	    "%s=%s; Path=%s; Max-Age=%ld; HttpOnly;%s SameSite=Strict", name,
	    value, path, max_age, secure ? " Secure;" : "");
	return n < 0 || (size_t) n >= len ? -1 : 0;
}

bool
edge_is_json_type(const char *ct)
{
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
		return false;
	}
	ct += 16;
	while (*ct == ' ' || *ct == '\t') {
		ct++;
	}
	return *ct == '\0' || *ct == ';';
}

size_t
edge_unescape(char *s)
{
	char *w = s;
	for (const char *p = s; *p != '\0'; p++) {
		int hi, lo;
		if (*p == '%' && (hi = core_hex_value(p[1])) >= 0 &&
		    (lo = core_hex_value(p[2])) >= 0 && (hi | lo) != 0) {
			*w++ = (char) (hi * 16 + lo);
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return (size_t) (w - s);
}
