#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "core/clock.h"
#include "core/jwt.h"
#include "core/log.h"

/* Decoded header bytes accepted. Ours is about 90; the cap keeps a hostile
 * header from costing more than a small parse. */
#define HEADER_MAX 512
#define SIG_B64_LEN CORE_B64URL_ENCODED_LEN(crypto_sign_BYTES)

/* ---- libsodium --------------------------------------------------------- */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status = -1;

static void
sodium_setup(void)
{
	sodium_status = sodium_init() < 0 ? -1 : 0;
}

/* libsodium must be initialised before use; the services do it at start,
 * but this module is also used alone (tests, the CLI). */
static int
sodium_ready(void)
{
	pthread_once(&sodium_once, sodium_setup);
	return sodium_status;
}

/* ---- base64url --------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
core_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	if (cap > 0) {
		out[0] = '\0';
	}
	if (len > SIZE_MAX / 4 - 1 || CORE_B64URL_ENCODED_LEN(len) >= cap) {
		return -1;
	}
	size_t o = 0;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t) in[i] << 16 |
		             (uint32_t) in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t) in[i] << 16;
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1]
		                                          << 8;
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return 0;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '-') {
		return 62;
	}
	if (c == '_') {
		return 63;
	}
	return -1;
}

int
core_b64url_decode(
    const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	// One leftover character carries only 6 bits: never a whole byte.
	if (len % 4 == 1) {
		return -1;
	}
	size_t n = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
	if (n > cap) {
		return -1;
	}
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char) in[i]);
		if (v < 0) {
			return -1;
		}
		acc = ((acc << 6) | (uint32_t) v) & 0xffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t) (acc >> bits);
		}
	}
	/* Set unused bits would give a second spelling of the same bytes: a
	 * token that differs from the signed one but still verifies. */
	if ((acc & ((1u << bits) - 1)) != 0) {
		return -1;
	}
	*outlen = o;
	return 0;
}

/* ---- Keys -------------------------------------------------------------- */

typedef struct jwk {
	char kid[CORE_JWK_KID_MAX + 1];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
} jwk;

struct core_jwks {
	size_t n;
	jwk keys[CORE_JWKS_MAX_KEYS];
};

void
core_jwk_thumbprint(const uint8_t pk[32], char out[44])
{
	char x[CORE_B64URL_ENCODED_LEN(32) + 1];
	char canon[96];
	uint8_t hash[crypto_hash_sha256_BYTES];

	(void) sodium_ready();
	(void) core_b64url_encode(pk, 32, x, sizeof(x));
	// RFC 7638: the required members only, sorted, no whitespace.
	int n = snprintf(canon, sizeof(canon),
	    "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
	crypto_hash_sha256(hash, (const uint8_t *) canon, (size_t) n);
	(void) core_b64url_encode(hash, sizeof(hash), out, 44);
}

core_jwks *
core_jwks_new(void)
{
	return calloc(1, sizeof(core_jwks));
}

void
core_jwks_free(core_jwks *set)
{
	free(set);
}

size_t
core_jwks_count(const core_jwks *set)
{
	return set == NULL ? 0 : set->n;
}

static const uint8_t *
find_key(const core_jwks *set, const char *kid)
{
	if (set == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->keys[i].kid, kid) == 0) {
			return set->keys[i].pk;
		}
	}
	return NULL;
}

int
core_jwks_add(core_jwks *set, const char *kid, const uint8_t pk[32])
{
	char tp[CORE_JWK_THUMBPRINT_LEN + 1];

	if (kid == NULL) {
		core_jwk_thumbprint(pk, tp);
		kid = tp;
	}
	size_t len = strnlen(kid, CORE_JWK_KID_MAX + 1);
	if (set->n >= CORE_JWKS_MAX_KEYS || len == 0 ||
	    len > CORE_JWK_KID_MAX || find_key(set, kid) != NULL) {
		return -1;
	}
	// Printable ASCII only, so that every set renders as JSON.
	for (size_t i = 0; i < len; i++) {
		if (kid[i] < 0x21 || kid[i] > 0x7e) {
			return -1;
		}
	}
	jwk *k = &set->keys[set->n++];
	memcpy(k->kid, kid, len + 1);
	memcpy(k->pk, pk, sizeof(k->pk));
	return 0;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The string value of member name, NULL when absent or not a string. */
static const char *
str_member(const json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

static int
parse_key(core_jwks *set, const json_t *k, size_t i, char *err, size_t errlen)
{
	uint8_t x[crypto_sign_PUBLICKEYBYTES + 1];
	size_t xlen;
	char tp[CORE_JWK_THUMBPRINT_LEN + 1];
	const char *s;
	const json_t *m;

	if (!json_is_object(k)) {
		seterr(err, errlen, "keys[%zu] is not an object", i);
		return -1;
	}
	if ((s = str_member(k, "kty")) == NULL || strcmp(s, "OKP") != 0) {
		seterr(err, errlen, "keys[%zu]: kty is not \"OKP\"", i);
		return -1;
	}
	if ((s = str_member(k, "crv")) == NULL || strcmp(s, "Ed25519") != 0) {
		seterr(err, errlen, "keys[%zu]: crv is not \"Ed25519\"", i);
		return -1;
	}
	m = json_object_get(k, "use");
	if (m != NULL &&
	    (!json_is_string(m) || strcmp(json_string_value(m), "sig") != 0)) {
		seterr(err, errlen, "keys[%zu]: use is not \"sig\"", i);
		return -1;
	}
	m = json_object_get(k, "alg");
	if (m != NULL &&
	    (!json_is_string(m) ||
	        (strcmp(json_string_value(m), "EdDSA") != 0 &&
	            strcmp(json_string_value(m), "Ed25519") != 0))) {
		seterr(err, errlen, "keys[%zu]: alg is not \"EdDSA\"", i);
		return -1;
	}
	// A published private key is a leak to report, not a member to skip.
	if (json_object_get(k, "d") != NULL) {
		seterr(
		    err, errlen, "keys[%zu] holds a private key (\"d\")", i);
		return -1;
	}
	m = json_object_get(k, "x");
	if (!json_is_string(m) ||
	    core_b64url_decode(json_string_value(m), json_string_length(m), x,
	        sizeof(x), &xlen) != 0 ||
	    xlen != crypto_sign_PUBLICKEYBYTES) {
		seterr(err, errlen,
		    "keys[%zu]: x is not 32 bytes of strict base64url", i);
		return -1;
	}
	if ((s = str_member(k, "kid")) == NULL) {
		seterr(err, errlen, "keys[%zu]: kid missing", i);
		return -1;
	}
	/* A kid that is not the thumbprint could make two keys share a name,
	 * or a token name one key and be checked with another. */
	core_jwk_thumbprint(x, tp);
	if (strcmp(s, tp) != 0) {
		seterr(err, errlen,
		    "keys[%zu]: kid is not the key's thumbprint", i);
		return -1;
	}
	if (core_jwks_add(set, s, x) != 0) {
		seterr(err, errlen, "keys[%zu]: kid appears twice", i);
		return -1;
	}
	return 0;
}

int
core_jwks_parse(
    const char *json, size_t len, core_jwks **out, char *err, size_t errlen)
{
	json_t *root = NULL;
	core_jwks *set = NULL;
	json_error_t jerr;
	int rv = -1;

	seterr(err, errlen, "%s", "");
	if (json == NULL || len > CORE_JWKS_MAX_DOC) {
		seterr(err, errlen, "document missing or larger than %u bytes",
		    CORE_JWKS_MAX_DOC);
		goto done;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		seterr(err, errlen, "not JSON: %s (line %d)", jerr.text,
		    jerr.line);
		goto done;
	}
	const json_t *keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		seterr(err, errlen, "no \"keys\" array");
		goto done;
	}
	if (json_array_size(keys) > CORE_JWKS_MAX_KEYS) {
		seterr(err, errlen, "more than %d keys", CORE_JWKS_MAX_KEYS);
		goto done;
	}
	if ((set = core_jwks_new()) == NULL) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < json_array_size(keys); i++) {
		if (parse_key(set, json_array_get(keys, i), i, err, errlen) !=
		    0) {
			goto done;
		}
	}
	*out = set; // ownership passes to the caller
	set = NULL;
	rv = 0;
done:
	core_jwks_free(set);
	json_decref(root);
	return rv;
}

char *
core_jwks_to_json(const core_jwks *set)
{
	json_t *keys = json_array();
	char *text = NULL;
	char x[CORE_B64URL_ENCODED_LEN(32) + 1];

	if (keys == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < core_jwks_count(set); i++) {
		const jwk *k = &set->keys[i];
		(void) core_b64url_encode(k->pk, sizeof(k->pk), x, sizeof(x));
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty",
		    "OKP", "crv", "Ed25519", "x", x, "kid", k->kid, "use",
		    "sig", "alg", "EdDSA");
		if (json_array_append_new(keys, o) != 0) {
			goto done;
		}
	}
	json_t *root = json_pack("{s:o}", "keys", keys);
	keys = NULL; // json_pack's "o" took the reference, even on failure
	if (root != NULL) {
		text = json_dumps(root, JSON_COMPACT);
		json_decref(root);
	}
done:
	json_decref(keys);
	return text;
}

/* ---- Signing ----------------------------------------------------------- */

int
core_jws_sign(const char *header_json, const uint8_t *payload, size_t len,
    const uint8_t sk[64], char *out, size_t outlen)
{
	size_t hlen = strlen(header_json);

	if (outlen > 0) {
		out[0] = '\0';
	}
	if (sodium_ready() != 0 || hlen > SIZE_MAX / 8 || len > SIZE_MAX / 8) {
		return -1;
	}
	size_t h64 = CORE_B64URL_ENCODED_LEN(hlen);
	size_t p64 = CORE_B64URL_ENCODED_LEN(len);
	if (h64 + 1 + p64 + 1 + SIG_B64_LEN + 1 > outlen) {
		return -1;
	}
	// The signing input is built in out, so signing needs no copy.
	char *p = out;
	(void) core_b64url_encode(
	    (const uint8_t *) header_json, hlen, p, outlen);
	p += h64;
	*p++ = '.';
	(void) core_b64url_encode(
	    payload, len, p, outlen - (size_t) (p - out));
	p += p64;
	size_t input_len = (size_t) (p - out);
	*p++ = '.';
	uint8_t sig[crypto_sign_BYTES];
	crypto_sign_detached(sig, NULL, (const uint8_t *) out, input_len, sk);
	(void) core_b64url_encode(
	    sig, sizeof(sig), p, outlen - (size_t) (p - out));
	return 0;
}

/* Adds claim name = s (a buffer of cap bytes) to obj. An empty s is left out
 * unless required, which makes it an error. */
static int
add_str(
    json_t *obj, const char *name, const char *s, size_t cap, bool required)
{
	size_t len = strnlen(s, cap);
	if (len == cap || (len == 0 && required)) {
		return -1;
	}
	if (len == 0) {
		return 0;
	}
	// json_string checks UTF-8; set_new takes the reference even on error.
	return json_object_set_new(obj, name, json_string(s));
}

static int
add_int(json_t *obj, const char *name, int64_t v, bool required)
{
	if (v == 0 && !required) {
		return 0;
	}
	return json_object_set_new(obj, name, json_integer((json_int_t) v));
}

int
core_jwt_sign(const core_jwt_claims *c, const char *kid, const uint8_t sk[64],
    char *out, size_t outlen)
{
	json_t *hdr = NULL;
	json_t *body = NULL;
	char *htext = NULL;
	char *btext = NULL;
	int rv = -1;

	if (outlen > 0) {
		out[0] = '\0';
	}
	size_t klen = strnlen(kid, CORE_JWK_KID_MAX + 1);
	if (klen == 0 || klen > CORE_JWK_KID_MAX) {
		goto done;
	}
	hdr = json_pack(
	    "{s:s,s:s,s:s}", "alg", "EdDSA", "typ", "at+jwt", "kid", kid);
	body = json_object();
	if (hdr == NULL || body == NULL ||
	    add_str(body, "iss", c->iss, sizeof(c->iss), true) != 0 ||
	    add_str(body, "sub", c->sub, sizeof(c->sub), true) != 0 ||
	    add_str(body, "aud", c->aud, sizeof(c->aud), true) != 0 ||
	    add_int(body, "exp", c->exp, true) != 0 ||
	    add_int(body, "nbf", c->nbf, false) != 0 ||
	    add_int(body, "iat", c->iat, false) != 0 ||
	    add_str(body, "jti", c->jti, sizeof(c->jti), true) != 0 ||
	    add_str(body, "sid", c->sid, sizeof(c->sid), false) != 0 ||
	    add_str(body, "username", c->username, sizeof(c->username),
	        false) != 0 ||
	    add_str(body, "role", c->role, sizeof(c->role), false) != 0) {
		goto done;
	}
	htext = json_dumps(hdr, JSON_COMPACT);
	btext = json_dumps(body, JSON_COMPACT);
	if (htext == NULL || btext == NULL) {
		goto done;
	}
	rv = core_jws_sign(
	    htext, (const uint8_t *) btext, strlen(btext), sk, out, outlen);
done:
	free(htext);
	free(btext);
	json_decref(hdr);
	json_decref(body);
	return rv;
}

/* ---- Verification ------------------------------------------------------ */

typedef struct part {
	const char *s;
	size_t n;
} part;

/* Splits token into exactly three parts, bounded by max_len. */
static const char *
split_token(const char *token, size_t max_len, part parts[3])
{
	size_t len = strnlen(token, max_len + 1);
	if (len > max_len) {
		return "token too long";
	}
	const char *p = token;
	const char *end = token + len;
	for (int i = 0; i < 3; i++) {
		const char *dot = memchr(p, '.', (size_t) (end - p));
		if ((dot == NULL) != (i == 2)) {
			return "token does not have exactly three parts";
		}
		parts[i].s = p;
		parts[i].n = (size_t) ((dot != NULL ? dot : end) - p);
		p = dot + 1;
	}
	return NULL;
}

static bool
typ_ok(const char *t)
{
	// Media types are case-insensitive (RFC 9068 section 2.1).
	return strcasecmp(t, "at+jwt") == 0 ||
	       strcasecmp(t, "application/at+jwt") == 0;
}

/* Checks the protected header and finds its kid (which lives as long as
 * hdr). The algorithm is fixed here, before any key is looked at, so a
 * token cannot choose how it is verified (RFC 8725 section 3.1). */
static const char *
check_header(const json_t *hdr, const char **kid)
{
	const char *alg = str_member(hdr, "alg");
	if (alg == NULL) {
		return "alg missing or not a string";
	}
	if (strcmp(alg, "EdDSA") != 0 && strcmp(alg, "Ed25519") != 0) {
		return "alg is not EdDSA";
	}
	// We understand no extension, so any critical one is a rejection.
	if (json_object_get(hdr, "crit") != NULL) {
		return "crit present";
	}
	const json_t *typ = json_object_get(hdr, "typ");
	if (typ != NULL &&
	    (!json_is_string(typ) || !typ_ok(json_string_value(typ)))) {
		return "typ is not at+jwt";
	}
	const json_t *k = json_object_get(hdr, "kid");
	if (!json_is_string(k) || json_string_length(k) == 0 ||
	    json_string_length(k) > CORE_JWK_KID_MAX) {
		return "kid missing, not a string or too long";
	}
	*kid = json_string_value(k);
	return NULL;
}

typedef struct str_claim {
	const char *name;
	size_t off;
	size_t cap;
	bool required;
} str_claim;

#define CLAIM_CAP(f) sizeof(((core_jwt_claims *) 0)->f)
#define CLAIM_AT(f) offsetof(core_jwt_claims, f), CLAIM_CAP(f)

static const str_claim str_claims[] = {
    {"sub", CLAIM_AT(sub), true},
    {"jti", CLAIM_AT(jti), true},
    {"sid", CLAIM_AT(sid), false},
    {"username", CLAIM_AT(username), false},
    {"role", CLAIM_AT(role), false},
};

/* Copies the optional string claims into c: each must be a string that fits
 * its buffer; a required one must be there and not empty. */
static const char *
read_str_claims(const json_t *body, core_jwt_claims *c)
{
	for (size_t i = 0; i < sizeof(str_claims) / sizeof(str_claims[0]);
	     i++) {
		const str_claim *sc = &str_claims[i];
		const json_t *v = json_object_get(body, sc->name);
		if (v == NULL) {
			if (sc->required) {
				return "sub or jti missing";
			}
			continue;
		}
		if (!json_is_string(v)) {
			return "a string claim is not a string";
		}
		size_t len = json_string_length(v);
		if (len == 0 && sc->required) {
			return "sub or jti empty";
		}
		// >= : the buffer also holds the NUL.
		if (len >= sc->cap || strlen(json_string_value(v)) != len) {
			return "a string claim is too long for its buffer";
		}
		memcpy((char *) c + sc->off, json_string_value(v), len + 1);
	}
	return NULL;
}

/* Reads integer claim name into *v; *present says whether it was there.
 * Only JSON integers count: 1.5e9 or "1500000000" is an error. */
static const char *
read_int_claim(const json_t *body, const char *name, int64_t *v, bool *present)
{
	const json_t *j = json_object_get(body, name);
	*present = j != NULL;
	if (j == NULL) {
		return NULL;
	}
	if (!json_is_integer(j)) {
		return "a time claim is not an integer";
	}
	*v = (int64_t) json_integer_value(j);
	return NULL;
}

static bool
aud_matches(const json_t *aud, const char *want)
{
	if (json_is_string(aud)) {
		return strcmp(json_string_value(aud), want) == 0;
	}
	if (!json_is_array(aud)) {
		return false;
	}
	bool found = false;
	for (size_t i = 0; i < json_array_size(aud); i++) {
		const json_t *a = json_array_get(aud, i);
		if (!json_is_string(a)) {
			return false; // a malformed list is not a match
		}
		if (strcmp(json_string_value(a), want) == 0) {
			found = true;
		}
	}
	return found;
}

static const char *
check_claims(const json_t *body, const core_jwt_policy *pol, int64_t now,
    int64_t leeway, core_jwt_claims *c)
{
	const char *iss = str_member(body, "iss");
	if (iss == NULL || strcmp(iss, pol->issuer) != 0) {
		return "iss missing or not the expected issuer";
	}
	if (!aud_matches(json_object_get(body, "aud"), pol->audience)) {
		return "aud missing or not the expected audience";
	}
	if (strlen(pol->issuer) >= sizeof(c->iss) ||
	    strlen(pol->audience) >= sizeof(c->aud)) {
		return "iss or aud too long for its buffer";
	}
	memcpy(c->iss, pol->issuer, strlen(pol->issuer) + 1);
	memcpy(c->aud, pol->audience, strlen(pol->audience) + 1);

	bool has_exp, has_nbf, has_iat;
	const char *why;
	if ((why = read_int_claim(body, "exp", &c->exp, &has_exp)) != NULL ||
	    (why = read_int_claim(body, "nbf", &c->nbf, &has_nbf)) != NULL ||
	    (why = read_int_claim(body, "iat", &c->iat, &has_iat)) != NULL) {
		return why;
	}
	/* The comparisons move now, never the claims: now and leeway are
	 * sane, while exp + leeway could overflow for a huge exp. */
	if (!has_exp) {
		return "exp missing";
	}
	if (!(now - leeway < c->exp)) {
		return "expired";
	}
	if (has_nbf && !(now + leeway >= c->nbf)) {
		return "not yet valid (nbf)";
	}
	if (has_iat && !(c->iat <= now + leeway)) {
		return "issued in the future (iat)";
	}
	return read_str_claims(body, c);
}

static int64_t
policy_leeway(const core_jwt_policy *pol)
{
	if (pol->leeway_s == 0) {
		return CORE_JWT_DEFAULT_LEEWAY_S;
	}
	return pol->leeway_s < 0 ? 0 : pol->leeway_s;
}

core_jwt_result
core_jwt_verify(const core_jwks *keys, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason)
{
	core_jwt_result res = CORE_JWT_INVALID;
	const char *why = NULL;
	json_t *hdr = NULL;
	json_t *body = NULL;
	uint8_t *buf = NULL;
	part parts[3];
	uint8_t htext[HEADER_MAX];
	size_t hlen, plen, siglen;
	json_error_t jerr;
	const char *kid = NULL;
	core_jwt_claims c;

	if (token == NULL || pol == NULL || pol->issuer == NULL ||
	    pol->audience == NULL || sodium_ready() != 0) {
		why = "no token, or a policy without issuer or audience";
		goto done;
	}
	size_t max_len =
	    pol->max_len == 0 ? CORE_JWT_DEFAULT_MAX_LEN : pol->max_len;
	if ((why = split_token(token, max_len, parts)) != NULL) {
		goto done;
	}
	if (parts[0].n > CORE_B64URL_ENCODED_LEN(HEADER_MAX)) {
		why = "header too large";
		goto done;
	}
	// Payload and signature decode to less than their text: one buffer.
	if ((buf = malloc(parts[1].n + parts[2].n + 2)) == NULL) {
		why = "out of memory";
		goto done;
	}
	uint8_t *payload = buf;
	uint8_t *sig = buf + parts[1].n + 1;
	if (core_b64url_decode(
	        parts[0].s, parts[0].n, htext, sizeof(htext), &hlen) != 0 ||
	    core_b64url_decode(
	        parts[1].s, parts[1].n, payload, parts[1].n + 1, &plen) != 0 ||
	    core_b64url_decode(
	        parts[2].s, parts[2].n, sig, parts[2].n + 1, &siglen) != 0) {
		why = "a part is not strict base64url";
		goto done;
	}
	hdr = json_loadb(
	    (const char *) htext, hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(hdr)) {
		why = "header is not a JSON object without duplicate members";
		goto done;
	}
	if ((why = check_header(hdr, &kid)) != NULL) {
		goto done;
	}
	const uint8_t *pk = find_key(keys, kid);
	if (pk == NULL) {
		res = CORE_JWT_UNKNOWN_KID;
		why = "unknown kid";
		goto done;
	}
	if (siglen != crypto_sign_BYTES) {
		why = "signature is not 64 bytes";
		goto done;
	}
	// The signing input is the ASCII text of the first two parts.
	if (crypto_sign_verify_detached(sig, (const uint8_t *) token,
	        parts[0].n + 1 + parts[1].n, pk) != 0) {
		why = "bad signature";
		goto done;
	}
	body = json_loadb(
	    (const char *) payload, plen, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body)) {
		why = "payload is not a JSON object without duplicate members";
		goto done;
	}
	memset(&c, 0, sizeof(c));
	int64_t now = pol->now != 0 ? pol->now : (int64_t) time(NULL);
	if ((why = check_claims(body, pol, now, policy_leeway(pol), &c)) !=
	    NULL) {
		goto done;
	}
	*out = c;
	res = CORE_JWT_OK;
	why = "ok";
done:
	json_decref(hdr);
	json_decref(body);
	free(buf);
	if (reason != NULL) {
		*reason = why;
	}
	return res;
}

/* ---- JWKS cache -------------------------------------------------------- */

/* One fetched key set. Verifiers hold a reference while they use it, so a
 * refetch can replace it without waiting for them or locking them out. */
typedef struct snapshot {
	core_jwks *set;
	uint64_t gen;
	int refs; // under the cache's mutex
} snapshot;

/* Tokens already verified, so a token presented again (every request of a
 * session) costs a hash instead of an Ed25519 verification. Direct-mapped
 * by a keyed BLAKE2b of (token, issuer, audience); a collision just evicts.
 * Time claims are checked again on every hit; revocation is never cached. */
#define MEMO_SLOTS 4096
#define MEMO_LOCKS 64

typedef struct memo_slot {
	bool used;
	uint8_t key[16];
	core_jwt_claims claims;
} memo_slot;

struct core_jwks_cache {
	memo_slot *memo;
	pthread_mutex_t memo_mu[MEMO_LOCKS];
	pthread_mutex_t mu;
	pthread_cond_t fetched; // broadcast when a fetch ends
	snapshot *cur;          // NULL until the first good fetch
	uint64_t gen;           // of cur; 0 = none yet
	bool fetching;
	bool tried;            // a fetch has started at least once
	int64_t last_fetch_ms; // monotonic start of the last fetch
	uint64_t fetches;      // successful ones
	core_jwks_fetch_fn fetch;
	void *arg;
	int min_refetch_ms;
};

core_jwks_cache *
core_jwks_cache_new(core_jwks_fetch_fn fetch, void *arg, int min_refetch_ms)
{
	core_jwks_cache *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return NULL;
	}
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return NULL;
	}
	if (pthread_cond_init(&c->fetched, NULL) != 0) {
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	c->fetch = fetch;
	c->arg = arg;
	c->min_refetch_ms = min_refetch_ms < 0 ? 0 : min_refetch_ms;
	c->memo = calloc(MEMO_SLOTS, sizeof(*c->memo));
	if (c->memo == NULL) {
		pthread_cond_destroy(&c->fetched);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	for (int i = 0; i < MEMO_LOCKS; i++) {
		pthread_mutex_init(&c->memo_mu[i], NULL);
	}
	return c;
}

static void
snapshot_free(snapshot *s)
{
	if (s != NULL) {
		core_jwks_free(s->set);
		free(s);
	}
}

void
core_jwks_cache_free(core_jwks_cache *c)
{
	if (c == NULL) {
		return;
	}
	snapshot_free(c->cur);
	pthread_cond_destroy(&c->fetched);
	pthread_mutex_destroy(&c->mu);
	for (int i = 0; i < MEMO_LOCKS; i++) {
		pthread_mutex_destroy(&c->memo_mu[i]);
	}
	free(c->memo);
	free(c);
}

static snapshot *
acquire(core_jwks_cache *c)
{
	pthread_mutex_lock(&c->mu);
	snapshot *s = c->cur;
	if (s != NULL) {
		s->refs++;
	}
	pthread_mutex_unlock(&c->mu);
	return s;
}

static void
release(core_jwks_cache *c, snapshot *s)
{
	if (s == NULL) {
		return;
	}
	pthread_mutex_lock(&c->mu);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last) {
		snapshot_free(s);
	}
}

/* Calls fetch and parses its document; NULL (logged) on any failure. */
static core_jwks *
fetch_set(core_jwks_cache *c)
{
	char *json = NULL;
	size_t len = 0;
	core_jwks *set = NULL;
	char err[160];

	if (c->fetch(c->arg, &json, &len) != 0 || json == NULL) {
		core_log_warn("jwks: fetch failed; keeping the cached keys");
		free(json);
		return NULL;
	}
	if (core_jwks_parse(json, len, &set, err, sizeof(err)) != 0) {
		core_log_kv(CORE_LOG_WARN,
		    "jwks: invalid document; keeping the cached keys", "error",
		    err, NULL);
		set = NULL;
	}
	free(json);
	return set;
}

/* Makes sure the keys are at least as new as generation seen, fetching if
 * allowed. Returns true when a newer set than seen is in place (worth a
 * retry). Only one thread fetches; the others wait and use its result,
 * and within min_refetch_ms of the last fetch nobody fetches at all, so a
 * flood of tokens with made-up kids cannot flood svc-auth. */
static bool
refresh(core_jwks_cache *c, uint64_t seen)
{
	pthread_mutex_lock(&c->mu);
	while (c->fetching) {
		pthread_cond_wait(&c->fetched, &c->mu);
	}
	if (c->gen != seen) {
		pthread_mutex_unlock(&c->mu);
		return true;
	}
	int64_t now = core_monotonic_ms();
	if (c->tried && now - c->last_fetch_ms < c->min_refetch_ms) {
		pthread_mutex_unlock(&c->mu);
		return false;
	}
	c->fetching = true;
	c->tried = true;
	c->last_fetch_ms = now;
	pthread_mutex_unlock(&c->mu);

	// No lock is held while fetching: verifiers with known kids go on.
	core_jwks *set = fetch_set(c);
	snapshot *s = NULL;
	if (set != NULL && (s = calloc(1, sizeof(*s))) == NULL) {
		core_jwks_free(set);
	}
	snapshot *old = NULL;
	pthread_mutex_lock(&c->mu);
	if (s != NULL) {
		s->set = set;
		s->refs = 1; // the cache's own reference
		s->gen = ++c->gen;
		old = c->cur;
		c->cur = s;
		c->fetches++;
		if (old != NULL && --old->refs > 0) {
			old = NULL; // its last user frees it
		}
	}
	c->fetching = false;
	pthread_cond_broadcast(&c->fetched);
	pthread_mutex_unlock(&c->mu);
	snapshot_free(old);
	return s != NULL;
}

static core_jwt_result
verify_snapshot(core_jwks_cache *c, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason,
    uint64_t *gen)
{
	snapshot *s = acquire(c);
	*gen = s != NULL ? s->gen : 0;
	core_jwt_result r = core_jwt_verify(
	    s != NULL ? s->set : NULL, token, pol, out, reason);
	release(c, s);
	return r;
}

static void
memo_key(const char *token, const core_jwt_policy *pol, uint8_t key[16])
{
	crypto_generichash_state st;
	static const uint8_t zero = 0;
	crypto_generichash_init(&st, NULL, 0, 16);
	crypto_generichash_update(&st, (const uint8_t *) token, strlen(token));
	crypto_generichash_update(&st, &zero, 1);
	if (pol->issuer != NULL) {
		crypto_generichash_update(&st, (const uint8_t *) pol->issuer,
		    strlen(pol->issuer));
	}
	crypto_generichash_update(&st, &zero, 1);
	if (pol->audience != NULL) {
		crypto_generichash_update(&st, (const uint8_t *) pol->audience,
		    strlen(pol->audience));
	}
	crypto_generichash_final(&st, key, 16);
}

/* A hit whose time claims still hold under pol. */
static bool
memo_get(core_jwks_cache *c, const uint8_t key[16],
    const core_jwt_policy *pol, core_jwt_claims *out)
{
	size_t slot = (key[0] | (size_t) key[1] << 8) % MEMO_SLOTS;
	pthread_mutex_t *mu = &c->memo_mu[slot % MEMO_LOCKS];
	bool hit = false;
	pthread_mutex_lock(mu);
	const memo_slot *m = &c->memo[slot];
	if (m->used && memcmp(m->key, key, 16) == 0) {
		*out = m->claims;
		hit = true;
	}
	pthread_mutex_unlock(mu);
	if (!hit) {
		return false;
	}
	int64_t now = pol->now != 0 ? pol->now : (int64_t) time(NULL);
	int64_t leeway = policy_leeway(pol);
	return now - leeway < out->exp &&
	    (out->nbf == 0 || now + leeway >= out->nbf) &&
	    (out->iat == 0 || out->iat <= now + leeway);
}

static void
memo_put(core_jwks_cache *c, const uint8_t key[16], const core_jwt_claims *cl)
{
	size_t slot = (key[0] | (size_t) key[1] << 8) % MEMO_SLOTS;
	pthread_mutex_t *mu = &c->memo_mu[slot % MEMO_LOCKS];
	pthread_mutex_lock(mu);
	memo_slot *m = &c->memo[slot];
	m->used = true;
	memcpy(m->key, key, 16);
	m->claims = *cl;
	pthread_mutex_unlock(mu);
}

core_jwt_result
core_jwks_cache_verify(core_jwks_cache *c, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason)
{
	uint8_t key[16];
	core_jwt_claims cl;
	uint64_t gen;
	if (strlen(token) > (pol->max_len ? pol->max_len : 4096)) {
		*reason = "token too long";
		return CORE_JWT_INVALID;
	}
	memo_key(token, pol, key);
	if (memo_get(c, key, pol, &cl)) {
		*out = cl;
		*reason = "";
		return CORE_JWT_OK;
	}
	core_jwt_result r = verify_snapshot(c, token, pol, &cl, reason, &gen);
	if (r == CORE_JWT_UNKNOWN_KID && refresh(c, gen)) {
		// Once only: a kid still unknown after a refetch is the
		// token's fault.
		r = verify_snapshot(c, token, pol, &cl, reason, &gen);
	}
	if (r == CORE_JWT_OK) {
		memo_put(c, key, &cl);
		*out = cl;
	}
	return r;
}

uint64_t
core_jwks_cache_fetches(core_jwks_cache *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t n = c->fetches;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* ---- Revocation -------------------------------------------------------- */

/* Unix seconds as Redis holds them: 1 to 18 decimal digits, nothing else
 * (18 digits cannot overflow an int64). */
static int
parse_seconds(const char *s, size_t n, int64_t *out)
{
	if (n == 0 || n > 18) {
		return -1;
	}
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

core_status
core_jwt_check_revoked_with(core_redis *r, const core_jwt_claims *c,
    int n_extra, const int *extra_argcs,
    const char *const *const *extra_argvs, redisReply **extra_replies,
    bool *revoked)
{
	char bkey[sizeof("blacklist:") + sizeof(c->jti)];
	char rkey[sizeof("revoked_before:") + sizeof(c->sub)];
	enum { MAX_EXTRA = 8 };
	redisReply *rep[2 + MAX_EXTRA] = {NULL};
	const char *const *argvs[2 + MAX_EXTRA];
	int argcs[2 + MAX_EXTRA];
	core_status st;

	size_t jlen = strnlen(c->jti, sizeof(c->jti));
	size_t slen = strnlen(c->sub, sizeof(c->sub));
	if (jlen == 0 || jlen == sizeof(c->jti) || slen == 0 ||
	    slen == sizeof(c->sub) || n_extra < 0 || n_extra > MAX_EXTRA) {
		return CORE_INVALID_ARGUMENT;
	}
	snprintf(bkey, sizeof(bkey), "blacklist:%s", c->jti);
	snprintf(rkey, sizeof(rkey), "revoked_before:%s", c->sub);
	const char *exists[] = {"EXISTS", bkey};
	const char *get[] = {"GET", rkey};
	argvs[0] = exists;
	argvs[1] = get;
	argcs[0] = argcs[1] = 2;
	for (int i = 0; i < n_extra; i++) {
		argvs[2 + i] = extra_argvs[i];
		argcs[2 + i] = extra_argcs[i];
	}
	// One round trip for all: this runs on every authenticated call.
	st = core_redis_pipeline(r, 2 + n_extra, argcs, argvs, NULL, rep);
	if (st != CORE_OK) {
		return st;
	}
	if (rep[0]->type != REDIS_REPLY_INTEGER ||
	    (rep[1]->type != REDIS_REPLY_NIL &&
	        rep[1]->type != REDIS_REPLY_STRING)) {
		core_log_kv(CORE_LOG_ERROR,
		    "revocation check: unexpected reply", "error",
		    core_redis_error(r), NULL);
		st = CORE_INTERNAL;
		goto done;
	}
	bool out = rep[0]->integer != 0;
	if (rep[1]->type == REDIS_REPLY_STRING) {
		int64_t before;
		if (parse_seconds(rep[1]->str, rep[1]->len, &before) != 0) {
			// Fail closed: a bad value must not re-enable tokens.
			core_log_kv(CORE_LOG_WARN,
			    "revocation check: malformed value; token treated "
			    "as revoked",
			    "key", rkey, NULL);
			out = true;
		} else if (c->iat < before) {
			out = true;
		}
	}
	*revoked = out;
	for (int i = 0; i < n_extra; i++) {
		extra_replies[i] = rep[2 + i];
		rep[2 + i] = NULL;
	}
done:
	for (int i = 0; i < 2 + n_extra; i++) {
		freeReplyObject(rep[i]);
	}
	return st;
}

core_status
core_jwt_check_revoked(core_redis *r, const core_jwt_claims *c, bool *revoked)
{
	return core_jwt_check_revoked_with(r, c, 0, NULL, NULL, NULL, revoked);
}
