#include <stdio.h>
#include <string.h>

#include "rules.h"

/* One row per described field. Keep rows of a message together, in the
 * message's field order. */
static const field_rule rows[] = {
    {.message = "auth.v1.RegisterRequest",
        .description = "A new account."},
    {.message = "auth.v1.RegisterRequest",
        .field = "username",
        .flags = RULE_REQUIRED,
        .min_len = 3,
        .max_len = 32,
        .pattern = "^[A-Za-z0-9_.-]+$",
        .description = "Letters, digits, '_', '.' and '-'; stored "
                       "lower-cased."},
    {.message = "auth.v1.RegisterRequest",
        .field = "email",
        .flags = RULE_REQUIRED,
        .min_len = 3,
        .max_len = 254,
        .format = "email",
        .description = "Stored lower-cased."},
    {.message = "auth.v1.RegisterRequest",
        .field = "password",
        .flags = RULE_REQUIRED,
        .min_len = 8,
        .max_len = 128,
        .description = "Not the username, not one of the most common "
                       "passwords."},
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

const field_rule *
rules_all(size_t *n)
{
	*n = N_ROWS;
	return rows;
}

const field_rule *
rules_find(const ProtobufCMessageDescriptor *d, const char *field)
{
	for (size_t i = 0; i < N_ROWS; i++) {
		const field_rule *r = &rows[i];
		if (strcmp(r->message, d->name) != 0) {
			continue;
		}
		if (field == NULL ? r->field == NULL
		                  : r->field != NULL &&
		                        strcmp(r->field, field) == 0) {
			return r;
		}
	}
	return NULL;
}

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
		snprintf(buf, buflen, "must be at most %zu characters",
		    r->max_len);
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
