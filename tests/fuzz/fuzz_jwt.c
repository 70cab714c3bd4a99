/* libFuzzer harness: access tokens and key sets (core/jws.h, b64url.h).
 *
 * Byte 0 picks the mode, the rest is its input:
 *   0 verify:   the rest as a token, verified against a fixed key set.
 *   1 jwks:     the rest as a JWKS document. What parses renders, and the
 *               rendering parses to the same set (the same rendering).
 *   2 signed:   "header\nclaims": both signed with the fixed key (the
 *               first "KID" in the header becomes the key's kid), so the
 *               checks past the signature (header, claims, times) are
 *               reached. A token that verifies is signed again from its
 *               claims, and that token must verify to the same claims.
 *   3 b64url:   the rest decoded strictly; what decodes encodes back to
 *               the very same text.
 * A failed property aborts (a finding). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/b64url.h"
#include "core/jws.h"
#include "core/log.h"
#include "fuzz_util.h"

#define NOW 1700000000
#define TOKMAX 8192

static uint8_t pk[32], sk[64];
static char kid[44];
static core_jwks *keys;
static const core_jwt_policy policy = {
    .issuer = "https://issuer.test",
    .audience = "microcore",
    .now = NOW,
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	core_log_init("fuzz", CORE_LOG_ERROR, false);
	uint8_t seed[32];
	FUZZ_CHECK(sodium_init() >= 0);
	for (size_t i = 0; i < sizeof(seed); i++) {
		seed[i] = (uint8_t) (i + 1);
	}
	crypto_sign_seed_keypair(pk, sk, seed);
	core_jwk_thumbprint(pk, kid);
	keys = core_jwks_new();
	FUZZ_CHECK(keys != NULL && core_jwks_add(keys, NULL, pk) == 0);
	return 0;
}

/* A NUL-terminated copy of p[0..n) (an embedded NUL ends it early). */
static char *
cstr(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static core_jwt_result
verify(const char *tok, core_jwt_claims *c)
{
	const char *why = NULL;
	core_jwt_result r = core_jwt_verify(keys, tok, &policy, c, &why);
	FUZZ_CHECK(why != NULL);
	FUZZ_CHECK(r == CORE_JWT_OK || r == CORE_JWT_UNKNOWN_KID ||
	           r == CORE_JWT_INVALID);
	return r;
}

static void
same_claims(const core_jwt_claims *a, const core_jwt_claims *b)
{
	FUZZ_CHECK(strcmp(a->iss, b->iss) == 0);
	FUZZ_CHECK(strcmp(a->sub, b->sub) == 0);
	FUZZ_CHECK(strcmp(a->aud, b->aud) == 0);
	FUZZ_CHECK(strcmp(a->jti, b->jti) == 0);
	FUZZ_CHECK(strcmp(a->sid, b->sid) == 0);
	FUZZ_CHECK(strcmp(a->username, b->username) == 0);
	FUZZ_CHECK(strcmp(a->role, b->role) == 0);
	FUZZ_CHECK(a->exp == b->exp && a->iat == b->iat && a->nbf == b->nbf &&
	           a->auth_time == b->auth_time);
}

/* What verified is signed again by the signer and verified again. */
static void
resign(const core_jwt_claims *c)
{
	static char tok[TOKMAX];
	core_jwt_claims again;
	FUZZ_CHECK(core_jwt_sign(c, kid, sk, tok, sizeof(tok)) == 0);
	FUZZ_CHECK(verify(tok, &again) == CORE_JWT_OK);
	same_claims(c, &again);
}

static void
mode_verify(const uint8_t *p, size_t n)
{
	char *tok = cstr(p, n);
	core_jwt_claims c;
	if (verify(tok, &c) == CORE_JWT_OK) {
		resign(&c);
	}
	free(tok);
}

static void
mode_jwks(const uint8_t *p, size_t n)
{
	core_jwks *set = NULL;
	char err[128];
	if (core_jwks_parse((const char *) p, n, &set, err, sizeof(err)) !=
	    0) {
		FUZZ_CHECK(set == NULL);
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
		return;
	}
	char *text = core_jwks_to_json(set);
	FUZZ_CHECK(text != NULL);
	core_jwks *again = NULL;
	FUZZ_CHECK(core_jwks_parse(
	               text, strlen(text), &again, err, sizeof(err)) == 0);
	FUZZ_CHECK(core_jwks_count(again) == core_jwks_count(set));
	char *text2 = core_jwks_to_json(again);
	FUZZ_CHECK(text2 != NULL && strcmp(text, text2) == 0);
	free(text2);
	free(text);
	core_jwks_free(again);
	core_jwks_free(set);
}

/* A NUL-terminated copy of the header p[0..n) whose first "KID" is the
 * fixed key's kid. */
static char *
with_kid(const uint8_t *p, size_t n)
{
	char *h = cstr(p, n);
	char *at = strstr(h, "KID");
	if (at == NULL) {
		return h;
	}
	size_t k = strlen(kid), rest = strlen(at + 3);
	char *out = malloc((size_t) (at - h) + k + rest + 1);
	FUZZ_CHECK(out != NULL);
	memcpy(out, h, (size_t) (at - h));
	memcpy(out + (at - h), kid, k);
	memcpy(out + (at - h) + k, at + 3, rest + 1);
	free(h);
	return out;
}

static void
mode_signed(const uint8_t *p, size_t n)
{
	static char tok[TOKMAX];
	const uint8_t *nl = memchr(p, '\n', n);
	if (nl == NULL) {
		return;
	}
	char *hdr = with_kid(p, (size_t) (nl - p));
	size_t plen = n - (size_t) (nl - p) - 1;
	if (core_jws_sign(hdr, nl + 1, plen, sk, tok, sizeof(tok)) == 0) {
		core_jwt_claims c;
		if (verify(tok, &c) == CORE_JWT_OK) {
			resign(&c);
		}
	}
	free(hdr);
}

static void
mode_b64url(const uint8_t *p, size_t n)
{
	uint8_t *out = malloc(n + 1);
	char *text = malloc(n + 2);
	size_t outlen = 0;
	FUZZ_CHECK(out != NULL && text != NULL);
	if (core_b64url_decode((const char *) p, n, out, n + 1, &outlen) ==
	    0) {
		FUZZ_CHECK(CORE_B64URL_ENCODED_LEN(outlen) == n);
		FUZZ_CHECK(core_b64url_encode(out, outlen, text, n + 2) == 0);
		FUZZ_CHECK(memcmp(text, p, n) == 0 && text[n] == '\0');
	}
	free(text);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	switch (data[0] % 4) {
	case 0:
		mode_verify(data + 1, size - 1);
		break;
	case 1:
		mode_jwks(data + 1, size - 1);
		break;
	case 2:
		mode_signed(data + 1, size - 1);
		break;
	default:
		mode_b64url(data + 1, size - 1);
		break;
	}
	return 0;
}
