/* Unit tests for core/jws.h, core/jwks_cache.h and core/b64url.h (no servers): the RFC 8037 Appendix A vectors,
 * strict verification (RFC 8725), the JWKS format and the JWKS cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../metrics_scrape.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/jwks_cache.h"
#include "core/metrics.h"

#define NOW INT64_C(1700000000)
#define ISS "https://auth.test"
#define AUD "svc-user"
#define TOKMAX 8192

/* Two signing keys, A and B, from fixed seeds; secret halves in
 * sodium_malloc'd memory as the services keep them. */
static uint8_t *sk_a, *sk_b;
static uint8_t pk_a[32], pk_b[32];
static char kid_a[44], kid_b[44];
static core_jwks *keys_ab; /* A and B */

static const core_jwt_policy policy = {
    .issuer = ISS, .audience = AUD, .now = NOW};

/* ---- Helpers ----------------------------------------------------------- */

static void
hex2bin(const char *hex, uint8_t *out, size_t n)
{
	size_t len;
	assert_int_equal(
	    sodium_hex2bin(out, n, hex, strlen(hex), " \n", &len, NULL), 0);
	assert_int_equal(len, n);
}

static void
good_claims(core_jwt_claims *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->iss, sizeof(c->iss), "%s", ISS);
	snprintf(c->aud, sizeof(c->aud), "%s", AUD);
	snprintf(c->sub, sizeof(c->sub), "%s", "user-42");
	snprintf(c->jti, sizeof(c->jti), "%s", "jti-0001");
	snprintf(c->sid, sizeof(c->sid), "%s", "sid-7");
	snprintf(c->username, sizeof(c->username), "%s", "alice");
	snprintf(c->role, sizeof(c->role), "%s", "admin");
	c->iat = NOW;
	c->nbf = NOW;
	c->exp = NOW + 900;
}

/* A good token signed by A. */
static void
good_token(char *out)
{
	core_jwt_claims c;
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, out, TOKMAX), 0);
}

static void
std_header(char *out, size_t cap, const char *kid)
{
	snprintf(out, cap,
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid);
}

/* The standard claims as JSON, with extra members (may be "") inserted
 * before "exp" and exp itself given as text. */
static void
payload_json(char *out, size_t cap, const char *exp, const char *extra)
{
	snprintf(out, cap,
	    "{\"iss\":\"" ISS "\",\"sub\":\"user-42\",\"aud\":\"" AUD
	    "\",%s\"exp\":%s,\"iat\":%lld,\"jti\":\"j1\"}",
	    extra, exp, (long long) NOW);
}

/* Signs raw header and payload text with sk. */
static void
raw_token(const char *hdr, const char *payload, const uint8_t *sk, char *out)
{
	assert_int_equal(core_jws_sign(hdr, (const uint8_t *) payload,
	                     strlen(payload), sk, out, TOKMAX),
	    0);
}

/* A token with the standard header of A, payload text signed by A. */
static void
payload_token(const char *payload, char *out)
{
	char hdr[128];
	std_header(hdr, sizeof(hdr), kid_a);
	raw_token(hdr, payload, sk_a, out);
}

static core_jwt_result
verify_with(const char *tok, const core_jwt_policy *pol, core_jwt_claims *c,
    const char **why)
{
	core_jwt_claims scratch;
	return core_jwt_verify(keys_ab, tok, pol, c ? c : &scratch, why);
}

static void
expect_ok(const char *tok)
{
	const char *why = NULL;
	core_jwt_result r = verify_with(tok, &policy, NULL, &why);
	if (r != CORE_JWT_OK) {
		fail_msg("expected OK, got %d: %s", (int) r, why);
	}
}

/* Expects INVALID with a reason that contains want. */
static void
expect_invalid(const char *tok, const char *want)
{
	const char *why = NULL;
	core_jwt_result r = verify_with(tok, &policy, NULL, &why);
	if (r != CORE_JWT_INVALID || strstr(why, want) == NULL) {
		fail_msg(
		    "expected INVALID (%s), got %d: %s", want, (int) r, why);
	}
}

/* Pointer to part i of tok and its length. */
static char *
part_of(char *tok, int i, size_t *n)
{
	char *p = tok;
	for (int k = 0; k < i; k++) {
		p = strchr(p, '.');
		assert_non_null(p);
		p++;
	}
	char *end = strchr(p, '.');
	*n = end != NULL ? (size_t) (end - p) : strlen(p);
	return p;
}

/* Inserts text at position pos of tok (in place, TOKMAX buffer). */
static void
insert_at(char *tok, size_t pos, const char *text)
{
	size_t len = strlen(tok);
	size_t tl = strlen(text);
	assert_true(len + tl < TOKMAX);
	memmove(tok + pos + tl, tok + pos, len - pos + 1);
	memcpy(tok + pos, text, tl);
}

/* ---- Setup ------------------------------------------------------------- */

static int
group_setup(void **state)
{
	(void) state;
	if (sodium_init() < 0) {
		return -1;
	}
	uint8_t seed[32];
	sk_a = sodium_malloc(64);
	sk_b = sodium_malloc(64);
	if (sk_a == NULL || sk_b == NULL) {
		return -1;
	}
	memset(seed, 0xa1, sizeof(seed));
	crypto_sign_seed_keypair(pk_a, sk_a, seed);
	memset(seed, 0xb2, sizeof(seed));
	crypto_sign_seed_keypair(pk_b, sk_b, seed);
	sodium_memzero(seed, sizeof(seed));
	core_jwk_thumbprint(pk_a, kid_a);
	core_jwk_thumbprint(pk_b, kid_b);
	keys_ab = core_jwks_new();
	if (keys_ab == NULL || core_jwks_add(keys_ab, NULL, pk_a) != 0 ||
	    core_jwks_add(keys_ab, NULL, pk_b) != 0) {
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	sodium_free(sk_a); // wipes the key before freeing
	sodium_free(sk_b);
	core_jwks_free(keys_ab);
	return 0;
}

/* ---- RFC 8037 Appendix A ----------------------------------------------- */

#define A1_D "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define A1_X "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define A1_X_B64 "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define A1_D_B64 "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define A3_TP "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
#define A4_PAYLOAD "Example of Ed25519 signing"
#define A4_SIG_B64                                                            \
	"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVs" \
	"Pt9g7sVvpAr_MuM0KAg"
#define A4_SIG_HEX                                                            \
	"860c98d2297f3060a33f42739672d61b53cf3adefed3d3c672f320dc021b411e"    \
	"9d59b8628dc351e248b88b29468e0e41855b0fb7d83bb15be902bfccb8cd0a02"
#define A4_JWS                                                                \
	"eyJhbGciOiJFZERTQSJ9."                                               \
	"RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc." A4_SIG_B64
#define ED_SIG_HEX                                                            \
	"53184860b1c6837f4d5422e9400543fd471f3a69c6482ccb159a176242e221b1"    \
	"5c72639bfea39bb208f32cab1f270fb836571c520bd8ac41eb45b355d0771901"
#define ED_SIG_B64                                                            \
	"UxhIYLHGg39NVCLpQAVD_UcfOmnGSCzLFZoXYkLiIbFccmOb_qObsgjzLKsfJw-4Nlc" \
	"cUgvYrEHrRbNV0HcZAQ"

/* The RFC 8037 key pair, secret half in sodium_malloc'd memory. */
static uint8_t *
rfc_keypair(uint8_t pk[32])
{
	uint8_t seed[32];
	uint8_t *sk = sodium_malloc(64);
	assert_non_null(sk);
	hex2bin(A1_D, seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	return sk;
}

static void
test_rfc8037_a1_seed_gives_public_key_x(void **state)
{
	(void) state;
	uint8_t pk[32], want[32], d[32];
	size_t n;
	uint8_t *sk = rfc_keypair(pk);
	hex2bin(A1_X, want, sizeof(want));
	assert_memory_equal(pk, want, 32);
	// sk is d || x, and d, x are the JWK's base64url members.
	assert_int_equal(
	    core_b64url_decode(A1_D_B64, strlen(A1_D_B64), d, sizeof(d), &n),
	    0);
	assert_int_equal(n, 32);
	assert_memory_equal(sk, d, 32);
	assert_memory_equal(sk + 32, want, 32);
	char x[44];
	assert_int_equal(core_b64url_encode(pk, 32, x, sizeof(x)), 0);
	assert_string_equal(x, A1_X_B64);
	sodium_free(sk);
}

static void
test_rfc8037_a3_thumbprint_of_the_public_key(void **state)
{
	(void) state;
	uint8_t pk[32], h[32], want[32];
	char tp[44];
	hex2bin(A1_X, pk, sizeof(pk));
	const char *canon =
	    "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"" A1_X_B64 "\"}";
	assert_int_equal(strlen(canon), 79);
	crypto_hash_sha256(h, (const uint8_t *) canon, strlen(canon));
	hex2bin(
	    "90facafea9b1556698540f70c0117a22ea37bd5cf3ed3c47093c1707282b4b89",
	    want, sizeof(want));
	assert_memory_equal(h, want, 32);
	core_jwk_thumbprint(pk, tp);
	assert_string_equal(tp, A3_TP);
}

static void
test_rfc8037_a4_signature_and_compact_jws_are_exact(void **state)
{
	(void) state;
	uint8_t pk[32], sig[64], want[64];
	size_t n;
	char out[512];
	uint8_t *sk = rfc_keypair(pk);
	assert_int_equal(
	    core_jws_sign("{\"alg\":\"EdDSA\"}", (const uint8_t *) A4_PAYLOAD,
	        strlen(A4_PAYLOAD), sk, out, sizeof(out)),
	    0);
	assert_string_equal(out, A4_JWS);
	// The signature part decodes to the RFC's hex bytes.
	assert_int_equal(core_b64url_decode(A4_SIG_B64, strlen(A4_SIG_B64),
	                     sig, sizeof(sig), &n),
	    0);
	assert_int_equal(n, 64);
	hex2bin(A4_SIG_HEX, want, sizeof(want));
	assert_memory_equal(sig, want, 64);
	// The buffer must hold the whole JWS and its NUL.
	assert_int_equal(
	    core_jws_sign("{\"alg\":\"EdDSA\"}", (const uint8_t *) A4_PAYLOAD,
	        strlen(A4_PAYLOAD), sk, out, strlen(A4_JWS)),
	    -1);
	sodium_free(sk);
}

static void
test_rfc8037_a5_a4_jws_verifies_with_the_public_key(void **state)
{
	(void) state;
	uint8_t pk[32], sig[64];
	size_t n;
	hex2bin(A1_X, pk, sizeof(pk));
	const char *jws = A4_JWS;
	const char *dot2 = strrchr(jws, '.');
	assert_int_equal(core_b64url_decode(
	                     dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig), &n),
	    0);
	assert_int_equal(n, 64);
	assert_int_equal(crypto_sign_verify_detached(sig,
	                     (const uint8_t *) jws, (size_t) (dot2 - jws), pk),
	    0);
	// One flipped bit in the signing input and it no longer verifies.
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", jws);
	copy[25] ^= 1;
	assert_int_not_equal(
	    crypto_sign_verify_detached(
	        sig, (const uint8_t *) copy, (size_t) (dot2 - jws), pk),
	    0);
}

static void
test_rfc9864_ed25519_alg_signature_is_exact(void **state)
{
	(void) state;
	uint8_t pk[32], want[64];
	char out[512], expect[512];
	uint8_t *sk = rfc_keypair(pk);
	assert_int_equal(core_jws_sign("{\"alg\":\"Ed25519\"}",
	                     (const uint8_t *) A4_PAYLOAD, strlen(A4_PAYLOAD),
	                     sk, out, sizeof(out)),
	    0);
	snprintf(expect, sizeof(expect),
	    "eyJhbGciOiJFZDI1NTE5In0.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.%s",
	    ED_SIG_B64);
	assert_string_equal(out, expect);
	hex2bin(ED_SIG_HEX, want, sizeof(want));
	char b64[100];
	assert_int_equal(core_b64url_encode(want, 64, b64, sizeof(b64)), 0);
	assert_string_equal(b64, ED_SIG_B64);
	sodium_free(sk);
}

/* ---- base64url --------------------------------------------------------- */

static void
test_b64url_round_trips_every_length_and_matches_libsodium(void **state)
{
	(void) state;
	uint8_t in[64], back[64];
	char enc[100], ref[100];
	size_t n;
	for (size_t i = 0; i < sizeof(in); i++) {
		in[i] = (uint8_t) (i * 37 + 250);
	}
	for (size_t len = 0; len <= sizeof(in); len++) {
		assert_int_equal(
		    core_b64url_encode(in, len, enc, sizeof(enc)), 0);
		assert_int_equal(strlen(enc), CORE_B64URL_ENCODED_LEN(len));
		sodium_bin2base64(ref, sizeof(ref), in, len,
		    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		assert_string_equal(enc, ref);
		assert_int_equal(core_b64url_decode(
		                     enc, strlen(enc), back, sizeof(back), &n),
		    0);
		assert_int_equal(n, len);
		assert_memory_equal(back, in, len);
	}
	// Too small an output buffer is an error, never a truncation.
	assert_int_equal(core_b64url_encode(in, 3, enc, 4), -1);
	assert_string_equal(enc, "");
	assert_int_equal(core_b64url_decode("AAAA", 4, back, 2, &n), -1);
}

static void
test_b64url_decode_rejects_non_canonical_text(void **state)
{
	(void) state;
	uint8_t out[16];
	size_t n;
	static const char *const bad[] = {
	    "QQ==",  // padding
	    "QQ=",   // padding
	    "QUI=",  // padding
	    "Q+E",   // standard alphabet
	    "Q/E",   // standard alphabet
	    "QU I",  // whitespace
	    "Q",     // length 1 mod 4
	    "QUJDR", // length 1 mod 4
	    "QR",    // "A" with the unused trailing bits set (QQ is canonical)
	    "QUJ",   // "AB" with trailing bits set (QUI is canonical)
	    "QUI\n", // newline
	    "QU\x80I", // non-ASCII
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (core_b64url_decode(
		        bad[i], strlen(bad[i]), out, sizeof(out), &n) != -1) {
			fail_msg("accepted %s", bad[i]);
		}
	}
	assert_int_equal(core_b64url_decode("QQ", 2, out, sizeof(out), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'A');
	assert_int_equal(
	    core_b64url_decode("QUI", 3, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(core_b64url_decode("", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	// NUL inside the given length is not in the alphabet either.
	assert_int_equal(
	    core_b64url_decode("QQ\0A", 4, out, sizeof(out), &n), -1);
}

/* ---- Sign and verify --------------------------------------------------- */

static void
test_jwt_sign_verify_round_trip_returns_claims(void **state)
{
	(void) state;
	char tok[TOKMAX];
	core_jwt_claims in, out;
	const char *why = NULL;
	good_claims(&in);
	assert_int_equal(core_jwt_sign(&in, kid_a, sk_a, tok, sizeof(tok)), 0);
	memset(&out, 0x55, sizeof(out));
	assert_int_equal(verify_with(tok, &policy, &out, &why), CORE_JWT_OK);
	assert_string_equal(why, "ok");
	assert_string_equal(out.iss, ISS);
	assert_string_equal(out.aud, AUD);
	assert_string_equal(out.sub, "user-42");
	assert_string_equal(out.jti, "jti-0001");
	assert_string_equal(out.sid, "sid-7");
	assert_string_equal(out.username, "alice");
	assert_string_equal(out.role, "admin");
	assert_int_equal(out.exp, NOW + 900);
	assert_int_equal(out.iat, NOW);
	assert_int_equal(out.nbf, NOW);

	// The header is exactly the documented one.
	size_t n;
	char *h = part_of(tok, 0, &n);
	uint8_t hdr[256];
	size_t hl;
	char want[128];
	assert_int_equal(core_b64url_decode(h, n, hdr, sizeof(hdr), &hl), 0);
	std_header(want, sizeof(want), kid_a);
	assert_int_equal(hl, strlen(want));
	assert_memory_equal(hdr, want, hl);

	// Optional claims left empty are left out and come back empty.
	in.sid[0] = in.username[0] = in.role[0] = '\0';
	in.nbf = 0;
	assert_int_equal(core_jwt_sign(&in, kid_b, sk_b, tok, sizeof(tok)), 0);
	assert_int_equal(verify_with(tok, &policy, &out, &why), CORE_JWT_OK);
	assert_string_equal(out.sid, "");
	assert_string_equal(out.role, "");
	assert_int_equal(out.nbf, 0);
}

static void
test_jwt_sign_refuses_small_buffer_and_missing_claims(void **state)
{
	(void) state;
	char tok[TOKMAX];
	core_jwt_claims c;
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	size_t len = strlen(tok);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, len), -1);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, len + 1), 0);
	c.jti[0] = '\0';
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), -1);
	good_claims(&c);
	memset(c.role, 'r', sizeof(c.role)); // not NUL-terminated
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), -1);
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, "", sk_a, tok, sizeof(tok)), -1);
}

static void
test_jwt_verify_rejects_tampered_payload(void **state)
{
	(void) state;
	char tok[TOKMAX], forged[TOKMAX], payload[512];
	good_token(tok);
	// The same header and signature, claims that say admin for longer.
	payload_json(payload, sizeof(payload), "1900000000", "");
	payload_token(payload, forged);
	size_t n0, n2;
	part_of(tok, 0, &n0);
	char *sig = part_of(tok, 2, &n2);
	char *fsig = part_of(forged, 2, &n2);
	memcpy(fsig, sig, n2);
	expect_invalid(forged, "bad signature");
	// One flipped character in the payload part.
	good_token(tok);
	size_t n1;
	char *p = part_of(tok, 1, &n1);
	p[5] = p[5] == 'A' ? 'B' : 'A';
	expect_invalid(tok, "");
}

static void
test_jwt_verify_rejects_tampered_signature(void **state)
{
	(void) state;
	char tok[TOKMAX];
	size_t n;
	good_token(tok);
	char *sig = part_of(tok, 2, &n);
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	expect_invalid(tok, "bad signature");
	// A signature one byte short or long.
	good_token(tok);
	sig = part_of(tok, 2, &n);
	sig[n - 3] = '\0';
	expect_invalid(tok, "64 bytes");
	good_token(tok);
	insert_at(tok, strlen(tok), "AAAA");
	expect_invalid(tok, "64 bytes");
}

static void
test_jwt_verify_rejects_token_signed_by_another_known_key(void **state)
{
	(void) state;
	char tok[TOKMAX];
	core_jwt_claims c;
	good_claims(&c);
	// Signed by B, but names A, whose key is in the set too.
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_b, tok, sizeof(tok)), 0);
	expect_invalid(tok, "bad signature");
	assert_int_equal(core_jwt_sign(&c, kid_b, sk_b, tok, sizeof(tok)), 0);
	expect_ok(tok);
}

static void
test_jwt_verify_unknown_kid_is_unknown_kid(void **state)
{
	(void) state;
	char tok[TOKMAX];
	core_jwt_claims c;
	const char *why;
	good_claims(&c);
	assert_int_equal(
	    core_jwt_sign(&c, "not-a-known-kid", sk_a, tok, sizeof(tok)), 0);
	assert_int_equal(
	    verify_with(tok, &policy, NULL, &why), CORE_JWT_UNKNOWN_KID);
	assert_string_equal(why, "unknown kid");
	// A NULL or empty set knows no kid at all.
	assert_int_equal(core_jwt_verify(NULL, tok, &policy, &c, &why),
	    CORE_JWT_UNKNOWN_KID);
	// The set of B only does not know A.
	core_jwks *b = core_jwks_new();
	assert_int_equal(core_jwks_add(b, NULL, pk_b), 0);
	good_token(tok);
	assert_int_equal(
	    core_jwt_verify(b, tok, &policy, &c, &why), CORE_JWT_UNKNOWN_KID);
	core_jwks_free(b);
}

static void
test_jwt_verify_rejects_alg_none_with_empty_signature(void **state)
{
	(void) state;
	char tok[TOKMAX], hdr[128], payload[512], b64[1024];
	payload_json(payload, sizeof(payload), "1700000900", "");
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"kid\":\"%s\"}", kid_a);
	assert_int_equal(core_b64url_encode((const uint8_t *) hdr, strlen(hdr),
	                     b64, sizeof(b64)),
	    0);
	size_t o = (size_t) snprintf(tok, sizeof(tok), "%s.", b64);
	assert_int_equal(core_b64url_encode((const uint8_t *) payload,
	                     strlen(payload), b64, sizeof(b64)),
	    0);
	snprintf(tok + o, sizeof(tok) - o, "%s.", b64);
	expect_invalid(tok, "alg is not EdDSA");
	// "None", "NONE", "eddsa" are not EdDSA either.
	static const char *const algs[] = {
	    "None", "NONE", "eddsa", "EdDSA ", "ES256", "RS256"};
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\"}",
		    algs[i], kid_a);
		raw_token(hdr, payload, sk_a, tok);
		expect_invalid(tok, "alg is not EdDSA");
	}
}

static void
test_jwt_verify_rejects_hs256_keyed_with_the_public_key(void **state)
{
	(void) state;
	char tok[TOKMAX], hdr[128], payload[512], b64[1024];
	payload_json(payload, sizeof(payload), "1700000900", "");
	snprintf(hdr, sizeof(hdr),
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid_a);
	size_t o = 0;
	assert_int_equal(core_b64url_encode((const uint8_t *) hdr, strlen(hdr),
	                     b64, sizeof(b64)),
	    0);
	o += (size_t) snprintf(tok + o, sizeof(tok) - o, "%s.", b64);
	assert_int_equal(core_b64url_encode((const uint8_t *) payload,
	                     strlen(payload), b64, sizeof(b64)),
	    0);
	o += (size_t) snprintf(tok + o, sizeof(tok) - o, "%s", b64);
	// The classic confusion: HMAC keyed with the public key bytes.
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, pk_a, sizeof(pk_a));
	crypto_auth_hmacsha256_update(&st, (const uint8_t *) tok, o);
	crypto_auth_hmacsha256_final(&st, mac);
	assert_int_equal(
	    core_b64url_encode(mac, sizeof(mac), b64, sizeof(b64)), 0);
	snprintf(tok + o, sizeof(tok) - o, ".%s", b64);
	expect_invalid(tok, "alg is not EdDSA");
}

static void
test_jwt_verify_rejects_missing_or_non_string_alg(void **state)
{
	(void) state;
	char tok[TOKMAX], hdr[128], payload[512];
	payload_json(payload, sizeof(payload), "1700000900", "");
	static const char *const algs[] = {"", "\"alg\":null,", "\"alg\":1,",
	    "\"alg\":[\"EdDSA\"],", "\"ALG\":\"EdDSA\","};
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		snprintf(
		    hdr, sizeof(hdr), "{%s\"kid\":\"%s\"}", algs[i], kid_a);
		raw_token(hdr, payload, sk_a, tok);
		expect_invalid(tok, "alg missing");
	}
	// A header that is not an object.
	raw_token("[\"EdDSA\"]", payload, sk_a, tok);
	expect_invalid(tok, "header is not a JSON object");
	raw_token("{\"alg\":\"EdDSA\"", payload, sk_a, tok);
	expect_invalid(tok, "header is not a JSON object");
}

static void
test_jwt_verify_accepts_rfc9864_ed25519_alg(void **state)
{
	(void) state;
	char tok[TOKMAX], hdr[128], payload[512];
	payload_json(payload, sizeof(payload), "1700000900", "");
	snprintf(
	    hdr, sizeof(hdr), "{\"alg\":\"Ed25519\",\"kid\":\"%s\"}", kid_a);
	raw_token(hdr, payload, sk_a, tok);
	expect_ok(tok);
}

static void
test_jwt_verify_rejects_crit(void **state)
{
	(void) state;
	char tok[TOKMAX], hdr[160], payload[512];
	payload_json(payload, sizeof(payload), "1700000900", "");
	snprintf(hdr, sizeof(hdr),
	    "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"crit\":[\"exp\"],\"exp\":1}",
	    kid_a);
	raw_token(hdr, payload, sk_a, tok);
	expect_invalid(tok, "crit present");
	snprintf(hdr, sizeof(hdr),
	    "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"crit\":[]}", kid_a);
	raw_token(hdr, payload, sk_a, tok);
	expect_invalid(tok, "crit present");
}

static void
test_jwt_verify_typ_must_be_at_jwt(void **state)
{
	(void) state;
	char tok[TOKMAX], hdr[160], payload[512];
	payload_json(payload, sizeof(payload), "1700000900", "");
	static const char *const good[] = {"\"at+jwt\"", "\"AT+JWT\"",
	    "\"application/at+jwt\"", "\"Application/AT+JWT\""};
	static const char *const bad[] = {"\"JWT\"", "\"jwt\"", "\"\"",
	    "\"at+jwt \"", "\"application/jwt\"", "1", "null"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(hdr, sizeof(hdr),
		    "{\"alg\":\"EdDSA\",\"typ\":%s,\"kid\":\"%s\"}", good[i],
		    kid_a);
		raw_token(hdr, payload, sk_a, tok);
		expect_ok(tok);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(hdr, sizeof(hdr),
		    "{\"alg\":\"EdDSA\",\"typ\":%s,\"kid\":\"%s\"}", bad[i],
		    kid_a);
		raw_token(hdr, payload, sk_a, tok);
		expect_invalid(tok, "typ is not at+jwt");
	}
	// Absent typ is allowed.
	snprintf(
	    hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", kid_a);
	raw_token(hdr, payload, sk_a, tok);
	expect_ok(tok);
}

static void
test_jwt_verify_kid_must_be_a_short_string(void **state)
{
	(void) state;
	char tok[TOKMAX], hdr[256], payload[512];
	payload_json(payload, sizeof(payload), "1700000900", "");
	raw_token("{\"alg\":\"EdDSA\"}", payload, sk_a, tok);
	expect_invalid(tok, "kid missing");
	raw_token("{\"alg\":\"EdDSA\",\"kid\":7}", payload, sk_a, tok);
	expect_invalid(tok, "kid missing");
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"kid\":\"%065d\"}", 0);
	raw_token(hdr, payload, sk_a, tok);
	expect_invalid(tok, "too long");
}

/* exp is NOW + 900; the default leeway is 30 s. */
static void
test_jwt_verify_rejects_expired_beyond_leeway(void **state)
{
	(void) state;
	char tok[TOKMAX];
	const char *why;
	good_token(tok);
	core_jwt_policy p = policy;
	p.now = NOW + 900 + 30;
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_INVALID);
	assert_string_equal(why, "expired");
	p.now = NOW + 900 + 10000;
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_INVALID);
	// With no leeway, the second exp is reached is already too late.
	p.now = NOW + 900;
	p.leeway_s = -1;
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_INVALID);
	assert_string_equal(why, "expired");
}

static void
test_jwt_verify_accepts_just_expired_within_leeway(void **state)
{
	(void) state;
	char tok[TOKMAX];
	const char *why;
	good_token(tok);
	core_jwt_policy p = policy;
	p.now = NOW + 900 + 29;
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_OK);
	p.now = NOW + 900 + 50;
	p.leeway_s = 60;
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_OK);
	p.now = NOW + 899;
	p.leeway_s = -1;
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_OK);
}

static void
test_jwt_verify_rejects_nbf_in_the_future(void **state)
{
	(void) state;
	char tok[TOKMAX];
	core_jwt_claims c;
	const char *why;
	good_claims(&c);
	c.nbf = NOW + 31;
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	assert_int_equal(
	    verify_with(tok, &policy, NULL, &why), CORE_JWT_INVALID);
	assert_string_equal(why, "not yet valid (nbf)");
	c.nbf = NOW + 30; // within leeway
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	expect_ok(tok);
}

/* email_verified: in the token only when true, read back as it was; a
 * value that is not a boolean makes the token invalid. */
static void
test_jwt_email_verified_round_trips_and_must_be_boolean(void **state)
{
	(void) state;
	char tok[TOKMAX], payload[512];
	core_jwt_claims c, out;
	const char *why;
	good_claims(&c);
	c.email_verified = true;
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	assert_int_equal(verify_with(tok, &policy, &out, &why), CORE_JWT_OK);
	assert_true(out.email_verified);
	c.email_verified = false;
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	memset(&out, 0x55, sizeof(out));
	assert_int_equal(verify_with(tok, &policy, &out, &why), CORE_JWT_OK);
	assert_false(out.email_verified);
	payload_json(payload, sizeof(payload), "1900000000",
	    "\"email_verified\":\"yes\",");
	payload_token(payload, tok);
	expect_invalid(tok, "email_verified is not a boolean");
	payload_json(payload, sizeof(payload), "1900000000",
	    "\"email_verified\":false,");
	payload_token(payload, tok);
	expect_ok(tok);
}

/* amr (RFC 8176): in the token only when set, as the names of its bits;
 * read back as it was; unknown names are ignored; anything but an array
 * of at most 8 strings makes the token invalid. */
static void
test_jwt_amr_round_trips_and_must_be_a_short_string_array(void **state)
{
	(void) state;
	char tok[TOKMAX], payload[512];
	core_jwt_claims c, out;
	const char *why;
	good_claims(&c);
	c.amr = CORE_AMR_PWD | CORE_AMR_OTP;
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	assert_int_equal(verify_with(tok, &policy, &out, &why), CORE_JWT_OK);
	assert_int_equal(out.amr, CORE_AMR_PWD | CORE_AMR_OTP);
	c.amr = CORE_AMR_PWD;
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	assert_int_equal(verify_with(tok, &policy, &out, &why), CORE_JWT_OK);
	assert_int_equal(out.amr, CORE_AMR_PWD);
	c.amr = 0;
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	memset(&out, 0x55, sizeof(out));
	assert_int_equal(verify_with(tok, &policy, &out, &why), CORE_JWT_OK);
	assert_int_equal(out.amr, 0);
	payload_json(payload, sizeof(payload), "1900000000",
	    "\"amr\":[\"otp\",\"hwk\",\"pwd\"],");
	payload_token(payload, tok);
	assert_int_equal(verify_with(tok, &policy, &out, &why), CORE_JWT_OK);
	assert_int_equal(out.amr, CORE_AMR_PWD | CORE_AMR_OTP);
	payload_json(
	    payload, sizeof(payload), "1900000000", "\"amr\":\"pwd\",");
	payload_token(payload, tok);
	expect_invalid(tok, "amr is not an array of at most 8 strings");
	payload_json(payload, sizeof(payload), "1900000000", "\"amr\":[1],");
	payload_token(payload, tok);
	expect_invalid(tok, "amr is not an array of at most 8 strings");
	payload_json(payload, sizeof(payload), "1900000000",
	    "\"amr\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"],");
	payload_token(payload, tok);
	expect_invalid(tok, "amr is not an array of at most 8 strings");
}

static void
test_jwt_verify_rejects_iat_in_the_future(void **state)
{
	(void) state;
	char tok[TOKMAX];
	core_jwt_claims c;
	const char *why;
	good_claims(&c);
	c.iat = NOW + 31;
	c.nbf = 0;
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	assert_int_equal(
	    verify_with(tok, &policy, NULL, &why), CORE_JWT_INVALID);
	assert_string_equal(why, "issued in the future (iat)");
	c.iat = NOW + 30;
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	expect_ok(tok);
}

static void
test_jwt_verify_rejects_wrong_or_missing_iss(void **state)
{
	(void) state;
	char tok[TOKMAX], payload[512];
	core_jwt_claims c;
	good_claims(&c);
	snprintf(c.iss, sizeof(c.iss), "%s", "https://evil.test");
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	expect_invalid(tok, "iss");
	snprintf(c.iss, sizeof(c.iss), "%s", ISS "/");
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	expect_invalid(tok, "iss");
	snprintf(payload, sizeof(payload),
	    "{\"sub\":\"u\",\"aud\":\"" AUD "\",\"exp\":1700000900,"
	    "\"jti\":\"j\"}");
	payload_token(payload, tok);
	expect_invalid(tok, "iss");
	// A policy without an issuer accepts nothing.
	good_token(tok);
	core_jwt_policy p = policy;
	p.issuer = NULL;
	const char *why;
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_INVALID);
}

static void
test_jwt_verify_rejects_wrong_aud(void **state)
{
	(void) state;
	char tok[TOKMAX];
	core_jwt_claims c;
	good_claims(&c);
	snprintf(c.aud, sizeof(c.aud), "%s", "svc-admin");
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
	expect_invalid(tok, "aud");
}

static void
test_jwt_verify_aud_array_must_contain_the_audience(void **state)
{
	(void) state;
	char tok[TOKMAX], payload[512];
	core_jwt_claims c;
	const char *why;
	snprintf(payload, sizeof(payload),
	    "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":[\"svc-admin\",\"" AUD
	    "\"],\"exp\":1700000900,\"jti\":\"j\"}");
	payload_token(payload, tok);
	assert_int_equal(verify_with(tok, &policy, &c, &why), CORE_JWT_OK);
	assert_string_equal(c.aud, AUD);
	static const char *const bad[] = {"[\"svc-admin\"]", "[]",
	    "[\"" AUD "\",1]", "{\"a\":\"" AUD "\"}", "null", "\"svc-user2\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(payload, sizeof(payload),
		    "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":%s,"
		    "\"exp\":1700000900,\"jti\":\"j\"}",
		    bad[i]);
		payload_token(payload, tok);
		expect_invalid(tok, "aud");
	}
}

static void
test_jwt_verify_rejects_duplicate_keys_in_header(void **state)
{
	(void) state;
	char tok[TOKMAX], hdr[256], payload[512];
	payload_json(payload, sizeof(payload), "1700000900", "");
	// A lenient parser might take either alg.
	snprintf(hdr, sizeof(hdr),
	    "{\"alg\":\"none\",\"alg\":\"EdDSA\",\"kid\":\"%s\"}", kid_a);
	raw_token(hdr, payload, sk_a, tok);
	expect_invalid(tok, "duplicate");
	snprintf(hdr, sizeof(hdr),
	    "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"kid\":\"%s\"}", kid_b, kid_a);
	raw_token(hdr, payload, sk_a, tok);
	expect_invalid(tok, "duplicate");
}

static void
test_jwt_verify_rejects_duplicate_keys_in_payload(void **state)
{
	(void) state;
	char tok[TOKMAX], payload[512];
	payload_json(
	    payload, sizeof(payload), "1700000900", "\"sub\":\"admin\",");
	payload_token(payload, tok);
	expect_invalid(tok, "payload is not a JSON object");
	payload_json(payload, sizeof(payload), "1700000900",
	    "\"x\":{\"a\":1,\"a\":2},");
	payload_token(payload, tok);
	expect_invalid(tok, "payload is not a JSON object");
	// And a payload that is not an object at all.
	payload_token("[1,2]", tok);
	expect_invalid(tok, "payload is not a JSON object");
	payload_token("{\"iss\":\"" ISS "\"} x", tok);
	expect_invalid(tok, "payload is not a JSON object");
}

/* Changes part i of tok (in place) to a non-canonical spelling of the same
 * bytes: the unused low bits of its last character set. */
static void
set_trailing_bits(char *tok, int i)
{
	size_t n;
	char *p = part_of(tok, i, &n);
	assert_int_not_equal(n % 4, 0);
	char *last = p + n - 1;
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int v = (int) (strchr(alpha, *last) - alpha);
	assert_int_equal(v & (n % 4 == 2 ? 15 : 3), 0);
	*last = alpha[v | 1];
}

static void
test_jwt_verify_rejects_non_canonical_base64url_in_each_part(void **state)
{
	(void) state;
	char tok[TOKMAX], payload[512];
	const char *w = "not strict base64url";
	// A payload whose length leaves unused bits in its last character.
	payload_json(payload, sizeof(payload), "1700000900", "");
	if (strlen(payload) % 3 == 0) {
		payload_json(payload, sizeof(payload), "1700000900", " ");
	}
	for (int i = 0; i < 3; i++) {
		size_t n;
		payload_token(payload, tok);
		expect_ok(tok);
		// Padding.
		char *p = part_of(tok, i, &n);
		insert_at(tok, (size_t) (p - tok) + n, "=");
		expect_invalid(tok, w);
		// Trailing bits (the decoded bytes would be unchanged).
		payload_token(payload, tok);
		set_trailing_bits(tok, i);
		expect_invalid(tok, w);
		// The standard alphabet, and a character outside both.
		static const char subst[] = {'+', '/', '*', ' '};
		for (size_t k = 0; k < sizeof(subst); k++) {
			payload_token(payload, tok);
			p = part_of(tok, i, &n);
			p[1] = subst[k];
			expect_invalid(tok, w);
		}
	}
	/* The decisive case: a signature spelled with '+' or '/' where it has
	 * '-' or '_' decodes to the same bytes under a lenient decoder. Find
	 * a jti whose signature has both. */
	core_jwt_claims c;
	good_claims(&c);
	bool done = false;
	for (int j = 0; j < 200 && !done; j++) {
		size_t n;
		snprintf(c.jti, sizeof(c.jti), "jti-%d", j);
		assert_int_equal(
		    core_jwt_sign(&c, kid_a, sk_a, tok, sizeof(tok)), 0);
		char *sig = part_of(tok, 2, &n);
		char *minus = memchr(sig, '-', n);
		char *under = memchr(sig, '_', n);
		if (minus == NULL || under == NULL) {
			continue;
		}
		expect_ok(tok);
		*minus = '+';
		expect_invalid(tok, w);
		*minus = '-';
		*under = '/';
		expect_invalid(tok, w);
		done = true;
	}
	assert_true(done);
}

static void
test_jwt_verify_rejects_two_or_four_parts(void **state)
{
	(void) state;
	char tok[TOKMAX];
	size_t n;
	good_token(tok);
	char two[TOKMAX];
	snprintf(two, sizeof(two), "%s", tok);
	*strrchr(two, '.') = '\0';
	expect_invalid(two, "three parts");
	good_token(tok);
	insert_at(tok, strlen(tok), ".");
	expect_invalid(tok, "three parts");
	good_token(tok);
	insert_at(tok, strlen(tok), ".AAAA");
	expect_invalid(tok, "three parts");
	expect_invalid("", "three parts");
	expect_invalid("..", "");
	expect_invalid("abc", "three parts");
	// An empty part is not a part with content.
	good_token(tok);
	char *p = part_of(tok, 1, &n);
	memmove(p, p + n, strlen(p + n) + 1);
	expect_invalid(tok, "");
}

/* The last part runs to the end of the token: splitting it must not step
 * past a dot that is not there. Pointer arithmetic on NULL is undefined
 * behaviour that only clang's UBSan reports (the test command runs the unit
 * tests under it); every token takes this path. */
static void
test_jwt_verify_last_part_ends_the_token(void **state)
{
	(void) state;
	char tok[TOKMAX];
	good_token(tok);
	expect_ok(tok);
	expect_invalid("a.b.c", "");
	expect_invalid("a.b.", "");
}

static void
test_jwt_verify_rejects_oversized_token(void **state)
{
	(void) state;
	char *payload = malloc(6000);
	char *tok = malloc(TOKMAX * 2);
	char *pad = malloc(5000);
	assert_non_null(payload);
	assert_non_null(tok);
	assert_non_null(pad);
	memset(pad, 'x', 4000);
	memcpy(pad, "\"pad\":\"", 7);
	memcpy(pad + 3990, "\",", 3);
	payload_json(payload, 6000, "1700000900", pad);
	char hdr[128];
	std_header(hdr, sizeof(hdr), kid_a);
	assert_int_equal(core_jws_sign(hdr, (const uint8_t *) payload,
	                     strlen(payload), sk_a, tok, TOKMAX * 2),
	    0);
	assert_true(strlen(tok) > CORE_JWT_DEFAULT_MAX_LEN);
	expect_invalid(tok, "token too long");
	// A larger max_len lets it through.
	core_jwt_policy p = policy;
	p.max_len = 8192;
	const char *why;
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_OK);
	// And a small one turns away a normal token at one byte over.
	good_token(tok);
	p.max_len = strlen(tok) - 1;
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_INVALID);
	assert_string_equal(why, "token too long");
	p.max_len = strlen(tok);
	assert_int_equal(verify_with(tok, &p, NULL, &why), CORE_JWT_OK);
	// A huge header is refused before it is parsed.
	memset(pad, ' ', 4000);
	pad[0] = '{';
	snprintf(pad + 700, 100, "\"alg\":\"EdDSA\",\"kid\":\"%s\"}", kid_a);
	payload_json(payload, 6000, "1700000900", "");
	assert_int_equal(core_jws_sign(pad, (const uint8_t *) payload,
	                     strlen(payload), sk_a, tok, TOKMAX * 2),
	    0);
	expect_invalid(tok, "header too large");
	free(pad);
	free(tok);
	free(payload);
}

static void
test_jwt_verify_time_claims_must_be_integers(void **state)
{
	(void) state;
	char tok[TOKMAX], payload[512];
	static const char *const bad[] = {"\"1700000900\"", "1700000900.0",
	    "1.7000009e9", "true", "null", "[1700000900]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		payload_json(payload, sizeof(payload), bad[i], "");
		payload_token(payload, tok);
		expect_invalid(tok, "not an integer");
	}
	payload_json(payload, sizeof(payload), "1700000900", "\"nbf\":\"0\",");
	payload_token(payload, tok);
	expect_invalid(tok, "not an integer");
	// Too large for an int64: the JSON parser itself refuses it.
	payload_json(payload, sizeof(payload), "99999999999999999999", "");
	payload_token(payload, tok);
	expect_invalid(tok, "payload");
	// exp is required.
	snprintf(payload, sizeof(payload),
	    "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":\"" AUD
	    "\",\"jti\":\"j\"}");
	payload_token(payload, tok);
	expect_invalid(tok, "exp missing");
	// A huge exp is fine (and does not overflow).
	payload_json(payload, sizeof(payload), "9223372036854775807", "");
	payload_token(payload, tok);
	expect_ok(tok);
}

static void
test_jwt_verify_rejects_over_long_or_missing_string_claims(void **state)
{
	(void) state;
	char tok[TOKMAX], payload[512], extra[128];
	core_jwt_claims c;
	const char *why;
	// sub of 63 bytes fits sub[64]; 64 does not.
	snprintf(payload, sizeof(payload),
	    "{\"iss\":\"" ISS "\",\"sub\":\"%063d\",\"aud\":\"" AUD
	    "\",\"exp\":1700000900,\"jti\":\"j\"}",
	    7);
	payload_token(payload, tok);
	assert_int_equal(verify_with(tok, &policy, &c, &why), CORE_JWT_OK);
	assert_int_equal(strlen(c.sub), 63);
	snprintf(payload, sizeof(payload),
	    "{\"iss\":\"" ISS "\",\"sub\":\"%064d\",\"aud\":\"" AUD
	    "\",\"exp\":1700000900,\"jti\":\"j\"}",
	    7);
	payload_token(payload, tok);
	expect_invalid(tok, "too long");
	snprintf(extra, sizeof(extra), "\"role\":\"%016d\",", 1);
	payload_json(payload, sizeof(payload), "1700000900", extra);
	payload_token(payload, tok);
	expect_invalid(tok, "too long");
	payload_json(payload, sizeof(payload), "1700000900", "\"sid\":5,");
	payload_token(payload, tok);
	expect_invalid(tok, "not a string");
	// sub and jti are required and not empty.
	snprintf(payload, sizeof(payload),
	    "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
	    "\",\"exp\":1700000900,\"jti\":\"j\"}");
	payload_token(payload, tok);
	expect_invalid(tok, "sub or jti missing");
	snprintf(payload, sizeof(payload),
	    "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":\"" AUD
	    "\",\"exp\":1700000900,\"jti\":\"\"}");
	payload_token(payload, tok);
	expect_invalid(tok, "sub or jti empty");
}

static void
test_jwt_verify_leaves_claims_untouched_on_failure(void **state)
{
	(void) state;
	char tok[TOKMAX];
	core_jwt_claims c, before;
	const char *why;
	good_token(tok);
	core_jwt_policy p = policy;
	p.now = NOW + 5000;
	memset(&c, 0x5a, sizeof(c));
	before = c;
	assert_int_equal(verify_with(tok, &p, &c, &why), CORE_JWT_INVALID);
	assert_memory_equal(&c, &before, sizeof(c));
}

/* ---- JWKS -------------------------------------------------------------- */

/* A JWKS document with one key of members (text after "{"). */
static int
parse1(const char *members, char *err, size_t errlen)
{
	char doc[1024];
	core_jwks *set = NULL;
	snprintf(doc, sizeof(doc), "{\"keys\":[{%s}]}", members);
	int rv = core_jwks_parse(doc, strlen(doc), &set, err, errlen);
	core_jwks_free(set);
	return rv;
}

static void
test_jwks_parse_accepts_rfc_key_and_ignores_unknown_members(void **state)
{
	(void) state;
	char err[160];
	assert_int_equal(
	    parse1("\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" A1_X_B64
	           "\",\"kid\":\"" A3_TP "\"",
	        err, sizeof(err)),
	    0);
	assert_int_equal(
	    parse1("\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" A1_X_B64
	           "\",\"kid\":\"" A3_TP
	           "\",\"use\":\"sig\",\"alg\":\"Ed25519\","
	           "\"x5c\":[],\"extra\":{\"a\":1}",
	        err, sizeof(err)),
	    0);
	core_jwks *set = NULL;
	const char *doc = "{\"keys\":[],\"other\":1}";
	assert_int_equal(
	    core_jwks_parse(doc, strlen(doc), &set, err, sizeof(err)), 0);
	assert_int_equal(core_jwks_count(set), 0);
	core_jwks_free(set);
}

typedef struct jwk_case {
	const char *kty, *crv, *x, *kid; // kid NULL = left out
	const char *extra;               // more members, each with a ","
	const char *want;                // in the error message
} jwk_case;

static void
test_jwks_parse_rejects_bad_keys(void **state)
{
	(void) state;
	char err[160], m[512];
	char x31[64];
	uint8_t b31[31];
	memset(b31, 7, sizeof(b31));
	assert_int_equal(
	    core_b64url_encode(b31, sizeof(b31), x31, sizeof(x31)), 0);
	const char *x = A1_X_B64;
	const char *tp = A3_TP;
	const jwk_case bad[] = {
	    {"OKP", "Ed25519", x, kid_b, "", "thumbprint"},
	    {"EC", "Ed25519", x, tp, "", "kty"},
	    {"RSA", "Ed25519", x, tp, "", "kty"},
	    {"OKP", "X25519", x, tp, "", "crv"},
	    {"OKP", "Ed448", x, tp, "", "crv"},
	    {"OKP", "Ed25519", x31, tp, "", "32 bytes"},
	    {"OKP", "Ed25519", A1_X_B64 "=", tp, "", "32 bytes"},
	    {"OKP", "Ed25519", x, tp, ",\"use\":\"enc\"", "use"},
	    {"OKP", "Ed25519", x, tp, ",\"alg\":\"RS256\"", "alg"},
	    {"OKP", "Ed25519", x, NULL, "", "kid missing"},
	    {"OKP", "Ed25519", x, tp, ",\"d\":\"" A1_D_B64 "\"", "private"},
	    {"OKP", "Ed25519", x, tp, ",\"kty\":\"OKP\"", "not JSON"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const jwk_case *k = &bad[i];
		size_t o = (size_t) snprintf(m, sizeof(m),
		    "\"kty\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\"", k->kty,
		    k->crv, k->x);
		if (k->kid != NULL) {
			o += (size_t) snprintf(
			    m + o, sizeof(m) - o, ",\"kid\":\"%s\"", k->kid);
		}
		snprintf(m + o, sizeof(m) - o, "%s", k->extra);
		if (parse1(m, err, sizeof(err)) != -1 ||
		    strstr(err, k->want) == NULL) {
			fail_msg(
			    "accepted or wrong error (%s) for %s", err, m);
		}
	}
}

static void
test_jwks_parse_rejects_oversized_documents_and_sets(void **state)
{
	(void) state;
	char err[160];
	core_jwks *set = NULL;
	// 17 keys: more than CORE_JWKS_MAX_KEYS, whatever they are.
	char *doc = malloc(CORE_JWKS_MAX_DOC + 2);
	assert_non_null(doc);
	size_t o = (size_t) snprintf(doc, 64, "{\"keys\":[");
	for (int i = 0; i < 17; i++) {
		o += (size_t) snprintf(
		    doc + o, CORE_JWKS_MAX_DOC - o, "%s{}", i > 0 ? "," : "");
	}
	o += (size_t) snprintf(doc + o, CORE_JWKS_MAX_DOC - o, "]}");
	assert_int_equal(core_jwks_parse(doc, o, &set, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
	// 64 KiB + 1 of (valid) JSON.
	memset(doc, ' ', CORE_JWKS_MAX_DOC + 1);
	memcpy(doc, "{\"keys\":[]}", 11);
	assert_int_equal(core_jwks_parse(doc, CORE_JWKS_MAX_DOC + 1, &set, err,
	                     sizeof(err)),
	    -1);
	assert_int_equal(
	    core_jwks_parse(doc, CORE_JWKS_MAX_DOC, &set, err, sizeof(err)),
	    0);
	core_jwks_free(set);
	set = NULL;
	// The same kid twice.
	char *json;
	core_jwks *two = core_jwks_new();
	assert_int_equal(core_jwks_add(two, NULL, pk_a), 0);
	assert_int_equal(core_jwks_add(two, NULL, pk_a), -1);
	json = core_jwks_to_json(two);
	assert_non_null(json);
	// Splice the key in twice: [k] -> [k,k].
	char *open = strchr(json, '[');
	char *close = strrchr(json, ']');
	size_t klen = (size_t) (close - open - 1);
	o = (size_t) snprintf(doc, CORE_JWKS_MAX_DOC, "{\"keys\":[%.*s,%.*s]}",
	    (int) klen, open + 1, (int) klen, open + 1);
	assert_int_equal(core_jwks_parse(doc, o, &set, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "twice"));
	// Not a JWKS at all.
	assert_int_equal(core_jwks_parse("{}", 2, &set, err, sizeof(err)), -1);
	assert_int_equal(core_jwks_parse("[]", 2, &set, err, sizeof(err)), -1);
	assert_int_equal(
	    core_jwks_parse("{\"keys\":[1]}", 12, &set, NULL, 0), -1);
	assert_null(set);
	free(json);
	core_jwks_free(two);
	free(doc);
}

static void
test_jwks_json_round_trip_keeps_keys_and_kids(void **state)
{
	(void) state;
	char err[160], tok[TOKMAX];
	char *json = core_jwks_to_json(keys_ab);
	assert_non_null(json);
	char want[512];
	char xa[44];
	assert_int_equal(core_b64url_encode(pk_a, 32, xa, sizeof(xa)), 0);
	snprintf(want, sizeof(want),
	    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\","
	    "\"kid\":\"%s\",\"use\":\"sig\",\"alg\":\"EdDSA\"},",
	    xa, kid_a);
	assert_memory_equal(json, want, strlen(want));
	core_jwks *set = NULL;
	assert_int_equal(
	    core_jwks_parse(json, strlen(json), &set, err, sizeof(err)), 0);
	assert_int_equal(core_jwks_count(set), 2);
	char *again = core_jwks_to_json(set);
	assert_string_equal(again, json);
	// Tokens of both keys verify with the parsed set.
	core_jwt_claims c;
	const char *why;
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_b, sk_b, tok, sizeof(tok)), 0);
	assert_int_equal(
	    core_jwt_verify(set, tok, &policy, &c, &why), CORE_JWT_OK);
	free(again);
	free(json);
	core_jwks_free(set);
	// The empty set.
	core_jwks *none = core_jwks_new();
	json = core_jwks_to_json(none);
	assert_string_equal(json, "{\"keys\":[]}");
	free(json);
	core_jwks_free(none);
	core_jwks_free(NULL);
}

static void
test_jwks_add_bounds_the_set_and_kids(void **state)
{
	(void) state;
	core_jwks *set = core_jwks_new();
	uint8_t pk[32] = {0};
	char kid[80];
	for (int i = 0; i < CORE_JWKS_MAX_KEYS; i++) {
		snprintf(kid, sizeof(kid), "k%d", i);
		assert_int_equal(core_jwks_add(set, kid, pk), 0);
	}
	assert_int_equal(core_jwks_add(set, "one-too-many", pk), -1);
	core_jwks_free(set);
	set = core_jwks_new();
	memset(kid, 'k', sizeof(kid));
	kid[64] = '\0';
	assert_int_equal(core_jwks_add(set, kid, pk), 0);
	kid[64] = 'k';
	kid[65] = '\0';
	assert_int_equal(core_jwks_add(set, kid, pk), -1);
	assert_int_equal(core_jwks_add(set, "", pk), -1);
	assert_int_equal(core_jwks_add(set, "a b", pk), -1);
	assert_int_equal(core_jwks_add(set, "caf\xc3\xa9", pk), -1);
	core_jwks_free(set);
}

/* ---- JWKS cache -------------------------------------------------------- */

typedef struct fetcher {
	pthread_mutex_t mu;
	char *doc; // NULL = fetch fails
	int delay_ms;
	int max_age_ms; // what the fetch says; 0 = none
	atomic_int calls;
} fetcher;

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int
fetch_cb(void *arg, char **json, size_t *len, int *max_age_ms)
{
	fetcher *f = arg;
	atomic_fetch_add(&f->calls, 1);
	if (f->delay_ms > 0) {
		sleep_ms(f->delay_ms);
	}
	pthread_mutex_lock(&f->mu);
	int rv = -1;
	if (f->doc != NULL && (*json = strdup(f->doc)) != NULL) {
		*len = strlen(*json);
		*max_age_ms = f->max_age_ms;
		rv = 0;
	}
	pthread_mutex_unlock(&f->mu);
	return rv;
}

/* Serves raw, or else the JWKS of pk_a (with_a), pk_b (with_b) or both. */
static void
fetcher_serve_keys(fetcher *f, bool with_a, bool with_b, const char *raw)
{
	core_jwks *set = core_jwks_new();
	if (with_a) {
		assert_int_equal(core_jwks_add(set, NULL, pk_a), 0);
	}
	if (with_b) {
		assert_int_equal(core_jwks_add(set, NULL, pk_b), 0);
	}
	char *doc = raw != NULL ? strdup(raw) : core_jwks_to_json(set);
	core_jwks_free(set);
	pthread_mutex_lock(&f->mu);
	free(f->doc);
	f->doc = doc;
	pthread_mutex_unlock(&f->mu);
}

/* Serves the JWKS of pk_a, or of pk_a and pk_b. */
static void
fetcher_serve(fetcher *f, bool with_b, const char *raw)
{
	fetcher_serve_keys(f, true, with_b, raw);
}

static void
fetcher_fail(fetcher *f)
{
	pthread_mutex_lock(&f->mu);
	free(f->doc);
	f->doc = NULL;
	pthread_mutex_unlock(&f->mu);
}

static void
fetcher_init(fetcher *f, int delay_ms)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	atomic_init(&f->calls, 0);
	f->delay_ms = delay_ms;
	fetcher_serve(f, false, NULL);
}

static void
fetcher_fini(fetcher *f)
{
	free(f->doc);
	pthread_mutex_destroy(&f->mu);
}

typedef struct worker {
	core_jwks_cache *cache;
	pthread_barrier_t *start;
	const char *tok_a; // must verify
	const char *tok_b; // kid unknown to the cache
	int iterations;
	double until_ms; // run until then when not 0
	int bad;         // wrong answers seen
} worker;

static void *
worker_main(void *arg)
{
	worker *w = arg;
	core_jwt_claims c;
	const char *why;
	pthread_barrier_wait(w->start);
	for (int i = 0;
	     w->until_ms > 0 ? now_ms() < w->until_ms : i < w->iterations;
	     i++) {
		if (w->tok_a != NULL &&
		    core_jwks_cache_verify(w->cache, w->tok_a, &policy, &c,
		        &why) != CORE_JWT_OK) {
			w->bad++;
		}
		if (w->tok_b != NULL &&
		    core_jwks_cache_verify(w->cache, w->tok_b, &policy, &c,
		        &why) != CORE_JWT_UNKNOWN_KID) {
			w->bad++;
		}
	}
	return NULL;
}

#define NTHREADS 8

/* Runs NTHREADS workers like w at once; returns the wrong answers. */
static int
run_workers(const worker *w)
{
	pthread_t th[NTHREADS];
	worker ws[NTHREADS];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		ws[i] = *w;
		ws[i].start = &start;
		assert_int_equal(
		    pthread_create(&th[i], NULL, worker_main, &ws[i]), 0);
	}
	int bad = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		bad += ws[i].bad;
	}
	pthread_barrier_destroy(&start);
	return bad;
}

static void
test_jwks_cache_threads_share_one_fetch_for_unknown_kids(void **state)
{
	(void) state;
	char tok_a[TOKMAX], tok_b[TOKMAX];
	core_jwt_claims c;
	fetcher f;
	fetcher_init(&f, 20); // a slow fetch: the others must wait, not fetch
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok_a, TOKMAX), 0);
	assert_int_equal(core_jwt_sign(&c, kid_b, sk_b, tok_b, TOKMAX), 0);
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 60000);
	assert_non_null(cache);
	worker w = {
	    .cache = cache, .tok_a = tok_a, .tok_b = tok_b, .iterations = 200};
	assert_int_equal(run_workers(&w), 0);
	// 8 x 200 calls with an unknown kid, one fetch (the first, empty set).
	assert_int_equal(atomic_load(&f.calls), 1);
	assert_int_equal(core_jwks_cache_fetches(cache), 1);
	core_jwks_cache_free(cache);
	fetcher_fini(&f);
}

static void
test_jwks_cache_concurrent_first_use_fetches_once(void **state)
{
	(void) state;
	char tok_a[TOKMAX];
	fetcher f;
	fetcher_init(&f, 50);
	good_token(tok_a);
	// Even with no minimum interval, waiters use the fetch in flight.
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 0);
	worker w = {.cache = cache, .tok_a = tok_a, .iterations = 1};
	assert_int_equal(run_workers(&w), 0);
	assert_int_equal(atomic_load(&f.calls), 1);
	core_jwks_cache_free(cache);
	fetcher_fini(&f);
}

static void
test_jwks_cache_refetches_at_most_once_per_interval(void **state)
{
	(void) state;
	char tok_b[TOKMAX];
	core_jwt_claims c;
	fetcher f;
	fetcher_init(&f, 0);
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_b, sk_b, tok_b, TOKMAX), 0);
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 50);
	double t0 = now_ms();
	worker w = {.cache = cache, .tok_b = tok_b, .until_ms = t0 + 300};
	assert_int_equal(run_workers(&w), 0);
	double elapsed = now_ms() - t0;
	int calls = atomic_load(&f.calls);
	// Thousands of calls; one fetch per 50 ms (+1 for the first).
	assert_true(calls >= 2);
	if (calls > (int) (elapsed / 50) + 2) {
		fail_msg("%d fetches in %.0f ms", calls, elapsed);
	}
	core_jwks_cache_free(cache);
	fetcher_fini(&f);
}

static void
test_jwks_cache_picks_up_rotated_key_after_interval(void **state)
{
	(void) state;
	char tok_b[TOKMAX];
	core_jwt_claims c;
	const char *why;
	fetcher f;
	fetcher_init(&f, 0);
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_b, sk_b, tok_b, TOKMAX), 0);
	/* A second between fetches: the two calls below with no fetch
	 * between them fall within it even on a loaded machine. */
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 1000);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_UNKNOWN_KID);
	assert_int_equal(atomic_load(&f.calls), 1);
	fetcher_serve(&f, true, NULL); // svc-auth rotates in key B
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_UNKNOWN_KID);
	assert_int_equal(atomic_load(&f.calls), 1);
	sleep_ms(1100);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_int_equal(atomic_load(&f.calls), 2);
	// Invalid tokens never cause a fetch.
	sleep_ms(1100);
	assert_int_equal(
	    core_jwks_cache_verify(cache, "a.b.c", &policy, &c, &why),
	    CORE_JWT_INVALID);
	assert_int_equal(atomic_load(&f.calls), 2);
	core_jwks_cache_free(cache);
	fetcher_fini(&f);
}

static void
test_jwks_cache_fetch_failure_keeps_old_keys(void **state)
{
	(void) state;
	char tok_a[TOKMAX], tok_b[TOKMAX];
	core_jwt_claims c;
	const char *why;
	fetcher f;
	fetcher_init(&f, 0);
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok_a, TOKMAX), 0);
	assert_int_equal(core_jwt_sign(&c, kid_b, sk_b, tok_b, TOKMAX), 0);
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 0);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_a, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_int_equal(atomic_load(&f.calls), 1);
	// svc-auth goes down: the unknown kid fetches and fails...
	fetcher_fail(&f);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_UNKNOWN_KID);
	assert_int_equal(atomic_load(&f.calls), 2);
	// ...and tokens of the cached key still verify, without fetching.
	worker w = {.cache = cache, .tok_a = tok_a, .iterations = 50};
	assert_int_equal(run_workers(&w), 0);
	assert_int_equal(atomic_load(&f.calls), 2);
	// A garbled document also keeps the old keys.
	fetcher_serve(&f, true, "{\"keys\":[{\"kty\":\"RSA\"}]}");
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_UNKNOWN_KID);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_a, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_int_equal(core_jwks_cache_fetches(cache), 1);
	core_jwks_cache_free(cache);
	core_jwks_cache_free(NULL);
	fetcher_fini(&f);
}

/* The value of sample (name and labels, as rendered) in the registry's
 * text, 0 when it is not there. */
static double
scraped(const char *sample)
{
	return metrics_scraped(sample, 0);
}

#define REFETCHED_OK "jwks_refetches_total{component=\"core\",outcome=\"ok\"}"
#define REFETCH_FAILED                                                        \
	"jwks_refetches_total{component=\"core\",outcome=\"error\"}"

static void
test_jwks_cache_counts_fetches_by_outcome(void **state)
{
	(void) state;
	char tok_a[TOKMAX], tok_b[TOKMAX];
	core_jwt_claims c;
	const char *why;
	fetcher f;
	fetcher_init(&f, 0);
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok_a, TOKMAX), 0);
	assert_int_equal(core_jwt_sign(&c, kid_b, sk_b, tok_b, TOKMAX), 0);
	double ok0 = scraped(REFETCHED_OK), failed0 = scraped(REFETCH_FAILED);
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 0);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_a, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_true(scraped(REFETCHED_OK) == ok0 + 1);
	assert_true(scraped(REFETCH_FAILED) == failed0);
	// An unknown kid while svc-auth is down: a failed refetch.
	fetcher_fail(&f);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_UNKNOWN_KID);
	assert_true(scraped(REFETCH_FAILED) == failed0 + 1);
	// A document that is no JWKS counts as a failure too.
	fetcher_serve(&f, true, "{\"keys\":[{\"kty\":\"RSA\"}]}");
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_UNKNOWN_KID);
	assert_true(scraped(REFETCH_FAILED) == failed0 + 2);
	// Back: the unknown kid is fetched and known.
	fetcher_serve(&f, true, NULL);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_true(scraped(REFETCHED_OK) == ok0 + 2);
	assert_int_equal(atomic_load(&f.calls), 4);
	core_jwks_cache_free(cache);
	fetcher_fini(&f);
}

static void
test_jwks_cache_remembers_verified_tokens_but_rechecks_time(void **state)
{
	(void) state;
	char tok[TOKMAX];
	core_jwt_claims c, out;
	const char *why;
	fetcher f;
	fetcher_init(&f, 0);
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok, TOKMAX), 0);
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 0);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok, &policy, &out, &why),
	    CORE_JWT_OK);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok, &policy, &out, &why),
	    CORE_JWT_OK);
	assert_string_equal(out.sub, c.sub);
	// A remembered token is still checked against the clock.
	core_jwt_policy later = policy;
	later.now = c.exp + 3600;
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok, &later, &out, &why),
	    CORE_JWT_INVALID);
	// Another audience is another key: verified (and refused) afresh.
	core_jwt_policy other = policy;
	other.audience = "someone-else";
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok, &other, &out, &why),
	    CORE_JWT_INVALID);
	// Any change to the token misses the memo and fails verification.
	size_t n = strlen(tok);
	tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok, &policy, &out, &why),
	    CORE_JWT_INVALID);
	core_jwks_cache_free(cache);
	fetcher_fini(&f);
}

static void
test_jwks_cache_drops_keys_no_longer_published_after_max_age(void **state)
{
	(void) state;
	char tok_a[TOKMAX], tok_b[TOKMAX];
	core_jwt_claims c;
	const char *why;
	fetcher f;
	fetcher_init(&f, 0);
	f.max_age_ms = 100;
	fetcher_serve_keys(&f, true, true, NULL);
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok_a, TOKMAX), 0);
	assert_int_equal(core_jwt_sign(&c, kid_b, sk_b, tok_b, TOKMAX), 0);
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 50);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_a, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_int_equal(atomic_load(&f.calls), 1);
	// svc-auth retires key A: once the set is past its max age, the
	// next verification fetches it again and A is gone, remembered
	// tokens of A included.
	fetcher_serve_keys(&f, false, true, NULL);
	sleep_ms(120);
	assert_int_not_equal(
	    core_jwks_cache_verify(cache, tok_a, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_true(atomic_load(&f.calls) >= 2);
	assert_int_equal(core_jwks_cache_generation(cache), 2);
	core_jwks_cache_free(cache);
	fetcher_fini(&f);
}

static void
test_jwks_cache_new_generation_forgets_remembered_tokens(void **state)
{
	(void) state;
	char tok_a[TOKMAX], tok_b[TOKMAX];
	core_jwt_claims c;
	const char *why;
	fetcher f;
	fetcher_init(&f, 0); // key A, no max age: the default minute
	good_claims(&c);
	assert_int_equal(core_jwt_sign(&c, kid_a, sk_a, tok_a, TOKMAX), 0);
	assert_int_equal(core_jwt_sign(&c, kid_b, sk_b, tok_b, TOKMAX), 0);
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 0);
	for (int i = 0; i < 2; i++) { // verified, then remembered
		assert_int_equal(
		    core_jwks_cache_verify(cache, tok_a, &policy, &c, &why),
		    CORE_JWT_OK);
	}
	// A new set without A arrives (fetched for B's unknown kid): the
	// token remembered under the old set is verified again, and fails.
	fetcher_serve_keys(&f, false, true, NULL);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_b, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_int_equal(atomic_load(&f.calls), 2);
	assert_int_not_equal(
	    core_jwks_cache_verify(cache, tok_a, &policy, &c, &why),
	    CORE_JWT_OK);
	core_jwks_cache_free(cache);
	fetcher_fini(&f);
}

static void
test_jwks_cache_same_set_again_keeps_its_generation(void **state)
{
	(void) state;
	char tok_a[TOKMAX];
	core_jwt_claims c;
	const char *why;
	fetcher f;
	fetcher_init(&f, 0);
	f.max_age_ms = 50;
	good_token(tok_a);
	core_jwks_cache *cache = core_jwks_cache_new(fetch_cb, &f, 10);
	assert_int_equal(core_jwks_cache_generation(cache), 0);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_a, &policy, &c, &why),
	    CORE_JWT_OK);
	assert_int_equal(core_jwks_cache_generation(cache), 1);
	sleep_ms(70);
	assert_int_equal(
	    core_jwks_cache_verify(cache, tok_a, &policy, &c, &why),
	    CORE_JWT_OK);
	// Fetched again, found the same: same generation (and memo).
	assert_int_equal(atomic_load(&f.calls), 2);
	assert_int_equal(core_jwks_cache_fetches(cache), 2);
	assert_int_equal(core_jwks_cache_generation(cache), 1);
	// svc-auth down when the set is due: the old keys keep working,
	// and the callers do not queue behind the failing fetches.
	fetcher_fail(&f);
	sleep_ms(70);
	worker w = {.cache = cache, .tok_a = tok_a, .iterations = 20};
	assert_int_equal(run_workers(&w), 0);
	assert_true(atomic_load(&f.calls) >= 3);
	assert_int_equal(core_jwks_cache_fetches(cache), 2);
	core_jwks_cache_free(cache);
	fetcher_fini(&f);
}

int
main(void)
{
	if (getenv("TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc8037_a1_seed_gives_public_key_x),
	    cmocka_unit_test(test_rfc8037_a3_thumbprint_of_the_public_key),
	    cmocka_unit_test(
	        test_rfc8037_a4_signature_and_compact_jws_are_exact),
	    cmocka_unit_test(
	        test_rfc8037_a5_a4_jws_verifies_with_the_public_key),
	    cmocka_unit_test(test_rfc9864_ed25519_alg_signature_is_exact),
	    cmocka_unit_test(
	        test_b64url_round_trips_every_length_and_matches_libsodium),
	    cmocka_unit_test(test_b64url_decode_rejects_non_canonical_text),
	    cmocka_unit_test(test_jwt_sign_verify_round_trip_returns_claims),
	    cmocka_unit_test(
	        test_jwt_sign_refuses_small_buffer_and_missing_claims),
	    cmocka_unit_test(test_jwt_verify_rejects_tampered_payload),
	    cmocka_unit_test(test_jwt_verify_rejects_tampered_signature),
	    cmocka_unit_test(
	        test_jwt_verify_rejects_token_signed_by_another_known_key),
	    cmocka_unit_test(test_jwt_verify_unknown_kid_is_unknown_kid),
	    cmocka_unit_test(
	        test_jwt_verify_rejects_alg_none_with_empty_signature),
	    cmocka_unit_test(
	        test_jwt_verify_rejects_hs256_keyed_with_the_public_key),
	    cmocka_unit_test(
	        test_jwt_verify_rejects_missing_or_non_string_alg),
	    cmocka_unit_test(test_jwt_verify_accepts_rfc9864_ed25519_alg),
	    cmocka_unit_test(test_jwt_verify_rejects_crit),
	    cmocka_unit_test(test_jwt_verify_typ_must_be_at_jwt),
	    cmocka_unit_test(test_jwt_verify_kid_must_be_a_short_string),
	    cmocka_unit_test(test_jwt_verify_rejects_expired_beyond_leeway),
	    cmocka_unit_test(
	        test_jwt_verify_accepts_just_expired_within_leeway),
	    cmocka_unit_test(test_jwt_verify_rejects_nbf_in_the_future),
	    cmocka_unit_test(test_jwt_verify_rejects_iat_in_the_future),
	    cmocka_unit_test(
	        test_jwt_email_verified_round_trips_and_must_be_boolean),
	    cmocka_unit_test(
	        test_jwt_amr_round_trips_and_must_be_a_short_string_array),
	    cmocka_unit_test(test_jwt_verify_rejects_wrong_or_missing_iss),
	    cmocka_unit_test(test_jwt_verify_rejects_wrong_aud),
	    cmocka_unit_test(
	        test_jwt_verify_aud_array_must_contain_the_audience),
	    cmocka_unit_test(test_jwt_verify_rejects_duplicate_keys_in_header),
	    cmocka_unit_test(
	        test_jwt_verify_rejects_duplicate_keys_in_payload),
	    cmocka_unit_test(
	        test_jwt_verify_rejects_non_canonical_base64url_in_each_part),
	    cmocka_unit_test(test_jwt_verify_rejects_two_or_four_parts),
	    cmocka_unit_test(test_jwt_verify_last_part_ends_the_token),
	    cmocka_unit_test(test_jwt_verify_rejects_oversized_token),
	    cmocka_unit_test(test_jwt_verify_time_claims_must_be_integers),
	    cmocka_unit_test(
	        test_jwt_verify_rejects_over_long_or_missing_string_claims),
	    cmocka_unit_test(
	        test_jwt_verify_leaves_claims_untouched_on_failure),
	    cmocka_unit_test(
	        test_jwks_parse_accepts_rfc_key_and_ignores_unknown_members),
	    cmocka_unit_test(test_jwks_parse_rejects_bad_keys),
	    cmocka_unit_test(
	        test_jwks_parse_rejects_oversized_documents_and_sets),
	    cmocka_unit_test(test_jwks_json_round_trip_keeps_keys_and_kids),
	    cmocka_unit_test(test_jwks_add_bounds_the_set_and_kids),
	    cmocka_unit_test(
	        test_jwks_cache_threads_share_one_fetch_for_unknown_kids),
	    cmocka_unit_test(
	        test_jwks_cache_concurrent_first_use_fetches_once),
	    cmocka_unit_test(
	        test_jwks_cache_refetches_at_most_once_per_interval),
	    cmocka_unit_test(
	        test_jwks_cache_picks_up_rotated_key_after_interval),
	    cmocka_unit_test(
	        test_jwks_cache_drops_keys_no_longer_published_after_max_age),
	    cmocka_unit_test(
	        test_jwks_cache_new_generation_forgets_remembered_tokens),
	    cmocka_unit_test(
	        test_jwks_cache_same_set_again_keeps_its_generation),
	    cmocka_unit_test(test_jwks_cache_fetch_failure_keeps_old_keys),
	    cmocka_unit_test(test_jwks_cache_counts_fetches_by_outcome),
	    cmocka_unit_test(
	        test_jwks_cache_remembers_verified_tokens_but_rechecks_time),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
