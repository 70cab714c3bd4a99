/* JWS compact signing and strict verification of access tokens
 * (core/jws.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "core/jws.h"
#include "jose_internal.h"

/* Decoded header bytes accepted. Ours is about 90; the cap keeps a hostile
 * header from costing more than a small parse. */
#define HEADER_MAX 512
#define SIG_B64_LEN CORE_B64URL_ENCODED_LEN(crypto_sign_BYTES)

/* ---- Signing ----------------------------------------------------------- */

int
core_jws_sign(const char *header_json, const uint8_t *payload, size_t len,
    const uint8_t sk[64], char *out, size_t outlen)
{
	size_t hlen = strlen(header_json);

	if (outlen > 0) {
		out[0] = '\0';
	}
	if (jose_sodium_ready() != 0 || hlen > SIZE_MAX / 8 ||
	    len > SIZE_MAX / 8) {
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

/* The names of the CORE_AMR_* bits, in bit order. */
static const char *const amr_names[] = {"pwd", "otp"};
#define N_AMR (sizeof(amr_names) / sizeof(amr_names[0]))

/* "amr" as an array of the names of amr's bits, unless amr is 0. */
static int
add_amr(json_t *obj, unsigned amr)
{
	if (amr == 0) {
		return 0;
	}
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < N_AMR; i++) {
		if ((amr & (1u << i)) != 0 &&
		    json_array_append_new(a, json_string(amr_names[i])) != 0) {
			json_decref(a);
			return -1;
		}
	}
	return a != NULL ? json_object_set_new(obj, "amr", a) : -1;
}

/* Reads "amr" (absent: 0): an array of at most CORE_AMR_MAX_MEMBERS
 * strings, of which the known names set their bits. */
static const char *
read_amr(const json_t *body, unsigned *amr)
{
	const json_t *a = json_object_get(body, "amr");
	*amr = 0;
	if (a == NULL) {
		return NULL;
	}
	if (!json_is_array(a) || json_array_size(a) > CORE_AMR_MAX_MEMBERS) {
		return "amr is not an array of at most 8 strings";
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *v = json_array_get(a, i);
		if (!json_is_string(v)) {
			return "amr is not an array of at most 8 strings";
		}
		for (size_t k = 0; k < N_AMR; k++) {
			if (strcmp(json_string_value(v), amr_names[k]) == 0) {
				*amr |= 1u << k;
			}
		}
	}
	return NULL;
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
	    add_int(body, "auth_time", c->auth_time, false) != 0 ||
	    add_str(body, "jti", c->jti, sizeof(c->jti), true) != 0 ||
	    add_str(body, "sid", c->sid, sizeof(c->sid), false) != 0 ||
	    add_str(body, "username", c->username, sizeof(c->username),
	        false) != 0 ||
	    add_str(body, "role", c->role, sizeof(c->role), false) != 0 ||
	    (c->email_verified && json_object_set_new(body, "email_verified",
	                              json_true()) != 0) ||
	    add_amr(body, c->amr) != 0) {
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
		const char *stop = dot != NULL ? dot : end;
		parts[i].s = p;
		parts[i].n = (size_t) (stop - p);
		// Past the dot; the last part has none, and NULL + 1 would be
		// undefined behaviour.
		p = dot != NULL ? dot + 1 : end;
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
	const char *alg = jose_str_member(hdr, "alg");
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
	const char *iss = jose_str_member(body, "iss");
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

	bool has_exp, has_nbf, has_iat, has_auth;
	const char *why;
	if ((why = read_int_claim(body, "exp", &c->exp, &has_exp)) != NULL ||
	    (why = read_int_claim(body, "nbf", &c->nbf, &has_nbf)) != NULL ||
	    (why = read_int_claim(body, "iat", &c->iat, &has_iat)) != NULL ||
	    (why = read_int_claim(
	         body, "auth_time", &c->auth_time, &has_auth)) != NULL) {
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
	if (has_auth && !(c->auth_time <= now + leeway)) {
		return "authenticated in the future (auth_time)";
	}
	const json_t *ev = json_object_get(body, "email_verified");
	if (ev != NULL && !json_is_boolean(ev)) {
		return "email_verified is not a boolean";
	}
	c->email_verified = ev != NULL && json_is_true(ev);
	if ((why = read_amr(body, &c->amr)) != NULL) {
		return why;
	}
	return read_str_claims(body, c);
}

int64_t
core_jwt_policy_leeway(const core_jwt_policy *pol)
{
	if (pol->leeway_s == 0) {
		return CORE_JWT_DEFAULT_LEEWAY_S;
	}
	return pol->leeway_s < 0 ? 0 : pol->leeway_s;
}

/* The three parts of a token, decoded. */
typedef struct decoded {
	uint8_t htext[HEADER_MAX];
	size_t hlen, plen, siglen;
	uint8_t *buf; /* holds payload, then sig */
	uint8_t *payload, *sig;
} decoded;

/* Decodes the parts strictly into d (d->buf is the caller's to free).
 * Returns NULL, or why the token is invalid. */
static const char *
decode_parts(const part parts[3], decoded *d)
{
	if (parts[0].n > CORE_B64URL_ENCODED_LEN(HEADER_MAX)) {
		return "header too large";
	}
	// Payload and signature decode to less than their text: one buffer.
	if ((d->buf = malloc(parts[1].n + parts[2].n + 2)) == NULL) {
		return "out of memory";
	}
	d->payload = d->buf;
	d->sig = d->buf + parts[1].n + 1;
	if (core_b64url_decode(parts[0].s, parts[0].n, d->htext,
	        sizeof(d->htext), &d->hlen) != 0 ||
	    core_b64url_decode(parts[1].s, parts[1].n, d->payload,
	        parts[1].n + 1, &d->plen) != 0 ||
	    core_b64url_decode(parts[2].s, parts[2].n, d->sig, parts[2].n + 1,
	        &d->siglen) != 0) {
		return "a part is not strict base64url";
	}
	return NULL;
}

core_jwt_result
core_jwt_verify(const core_jwks *keys, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason)
{
	core_jwt_result res = CORE_JWT_INVALID;
	const char *why = NULL;
	json_t *hdr = NULL;
	json_t *body = NULL;
	part parts[3];
	decoded d = {.buf = NULL};
	json_error_t jerr;
	const char *kid = NULL;
	core_jwt_claims c;

	if (token == NULL || pol == NULL || pol->issuer == NULL ||
	    pol->audience == NULL || jose_sodium_ready() != 0) {
		why = "no token, or a policy without issuer or audience";
		goto done;
	}
	size_t max_len =
	    pol->max_len == 0 ? CORE_JWT_DEFAULT_MAX_LEN : pol->max_len;
	if ((why = split_token(token, max_len, parts)) != NULL) {
		goto done;
	}
	if ((why = decode_parts(parts, &d)) != NULL) {
		goto done;
	}
	hdr = json_loadb(
	    (const char *) d.htext, d.hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(hdr)) {
		why = "header is not a JSON object without duplicate members";
		goto done;
	}
	if ((why = check_header(hdr, &kid)) != NULL) {
		goto done;
	}
	const uint8_t *pk = jose_find_key(keys, kid);
	if (pk == NULL) {
		res = CORE_JWT_UNKNOWN_KID;
		why = "unknown kid";
		goto done;
	}
	if (d.siglen != crypto_sign_BYTES) {
		why = "signature is not 64 bytes";
		goto done;
	}
	// The signing input is the ASCII text of the first two parts.
	if (crypto_sign_verify_detached(d.sig, (const uint8_t *) token,
	        parts[0].n + 1 + parts[1].n, pk) != 0) {
		why = "bad signature";
		goto done;
	}
	body = json_loadb(
	    (const char *) d.payload, d.plen, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body)) {
		why = "payload is not a JSON object without duplicate members";
		goto done;
	}
	memset(&c, 0, sizeof(c));
	int64_t now = pol->now != 0 ? pol->now : (int64_t) time(NULL);
	if ((why = check_claims(
	         body, pol, now, core_jwt_policy_leeway(pol), &c)) != NULL) {
		goto done;
	}
	*out = c;
	res = CORE_JWT_OK;
	why = "ok";
done:
	json_decref(hdr);
	json_decref(body);
	free(d.buf);
	if (reason != NULL) {
		*reason = why;
	}
	return res;
}
