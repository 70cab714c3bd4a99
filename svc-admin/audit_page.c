#include <string.h>

#include "core/b64url.h"

#include "audit_page.h"

#define TOKEN_VERSION 1
#define TOKEN_BYTES 17 /* version, last id, fingerprint */

static uint64_t
fnv1a(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Each string is hashed with its terminating NUL, so ("ab","") and
 * ("a","b") differ. Not a secret: a forged token only selects rows the
 * admin may list anyway. */
static uint64_t
fingerprint(const audit_page_filters *f)
{
	const char *parts[] = {f->actor, f->target, f->action, f->kind};
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		const char *s = parts[i] != NULL ? parts[i] : "";
		h = fnv1a(h, s, strlen(s) + 1);
	}
	unsigned char since[9] = {f->has_since};
	for (int i = 0; i < 8; i++) {
		since[1 + i] =
		    (unsigned char) ((uint64_t) f->since_us >> (56 - 8 * i));
	}
	return fnv1a(h, since, sizeof(since));
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (unsigned char) (v >> (56 - 8 * i));
	}
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) {
		v = v << 8 | p[i];
	}
	return v;
}

void
audit_page_token_encode(
    int64_t last_id, const audit_page_filters *f, char *out)
{
	unsigned char raw[TOKEN_BYTES];
	raw[0] = TOKEN_VERSION;
	put64(raw + 1, (uint64_t) last_id);
	put64(raw + 9, fingerprint(f));
	/* 17 bytes are 23 characters: always fits. */
	(void) core_b64url_encode(raw, sizeof(raw), out, AUDIT_PAGE_TOKEN_MAX);
}

int
audit_page_token_decode(
    const char *token, const audit_page_filters *f, int64_t *last_id)
{
	unsigned char raw[TOKEN_BYTES + 1];
	size_t n = 0;
	size_t len = strnlen(token, AUDIT_PAGE_TOKEN_MAX);
	if (len >= AUDIT_PAGE_TOKEN_MAX ||
	    core_b64url_decode(token, len, raw, sizeof(raw), &n) != 0 ||
	    n != TOKEN_BYTES || raw[0] != TOKEN_VERSION ||
	    get64(raw + 9) != fingerprint(f)) {
		return -1;
	}
	uint64_t id = get64(raw + 1);
	if (id == 0 || id > (uint64_t) INT64_MAX) {
		return -1;
	}
	*last_id = (int64_t) id;
	return 0;
}
