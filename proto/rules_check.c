/* Checking a value against its field's row of the rules table (rules.h);
 * the table itself is rules.c. */
#include <stdio.h>
#include <string.h>

#include "rules.h"

/* Characters (code points) of UTF-8 text s. */
static size_t
chars(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++) {
		n += ((unsigned char) *s & 0xc0) != 0x80;
	}
	return n;
}

const char *
rules_check_text(const field_rule *r, const char *s, char *buf, size_t buflen)
{
	if (r == NULL) {
		return NULL;
	}
	size_t n = chars(s);
	if (n == 0 && (r->flags & RULE_REQUIRED)) {
		snprintf(buf, buflen, "is required");
		return buf;
	}
	if (n == 0 || ((r->min_len == 0 || n >= r->min_len) &&
	                  (r->max_len == 0 || n <= r->max_len))) {
		return NULL;
	}
	if (r->min_len > 0 && r->max_len > 0) {
		snprintf(buf, buflen, "must be %zu to %zu characters",
		    r->min_len, r->max_len);
	} else if (r->max_len > 0) {
		snprintf(
		    buf, buflen, "must be at most %zu characters", r->max_len);
	} else {
		snprintf(buf, buflen, "must be at least %zu characters",
		    r->min_len);
	}
	return buf;
}

const char *
rules_check_int(const field_rule *r, long long v, char *buf, size_t buflen)
{
	if (r == NULL) {
		return NULL;
	}
	if (v == 0 && (r->flags & RULE_REQUIRED)) {
		snprintf(buf, buflen, "is required");
		return buf;
	}
	if ((r->flags & RULE_RANGE) && (v < r->min || v > r->max)) {
		snprintf(buf, buflen, "must be %lld to %lld", r->min, r->max);
		return buf;
	}
	return NULL;
}
