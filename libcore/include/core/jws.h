/* Access tokens: JWS compact, EdDSA (Ed25519), and the key sets that
 * verify them.
 *
 * A token is base64url(header) "." base64url(claims) "." base64url(sig) with
 * the header {"alg":"EdDSA","typ":"at+jwt","kid":"<RFC 7638 thumbprint>"}.
 * svc-auth signs (core_jwt_sign); the other services verify locally against
 * the JWKS it publishes (core/jwks_cache.h); revocation is a separate step
 * (core/revocation.h). Verification follows RFC 8725 and fails closed; the
 * order of its checks is in docs/internals/tokens.md. Nothing here touches
 * the network or Redis.
 *
 * Private keys are libsodium's 64-byte Ed25519 secret keys (seed || pk); the
 * caller keeps them in sodium_malloc'd memory. Nothing here logs a token, a
 * claim value or a key. */
#ifndef CORE_JWS_H
#define CORE_JWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/b64url.h"
#include "core/status.h"

/* ---- Keys -------------------------------------------------------------- */

#define CORE_JWK_THUMBPRINT_LEN 43 /* base64url of a SHA-256, no NUL */
#define CORE_JWK_KID_MAX 64        /* longest kid accepted, no NUL */
#define CORE_JWKS_MAX_KEYS 16
#define CORE_JWKS_MAX_DOC (64u * 1024) /* bytes of JWKS text */

/* Writes the RFC 7638 thumbprint of an Ed25519 public key, i.e.
 * base64url(SHA-256({"crv":"Ed25519","kty":"OKP","x":"<b64url pk>"})), and a
 * NUL to out. This is the kid of the key. */
void core_jwk_thumbprint(const uint8_t pk[32], char out[44]);

/* A set of up to CORE_JWKS_MAX_KEYS Ed25519 public keys, found by kid. A set
 * is not changed once it is shared: any number of threads may verify with it
 * at once, but core_jwks_add must not run concurrently with anything else. */
typedef struct core_jwks core_jwks;

/* A new empty set, or NULL when out of memory. */
core_jwks *core_jwks_new(void);

/* Frees the set. NULL is a no-op. */
void core_jwks_free(core_jwks *set);

/* Adds public key pk under kid (NULL = its thumbprint, the normal case; an
 * explicit kid is not checked against the key). Returns 0, or -1 when the
 * set is full, or kid is empty, longer than CORE_JWK_KID_MAX, holds other
 * than printable ASCII or is already in the set. */
int core_jwks_add(core_jwks *set, const char *kid, const uint8_t pk[32]);

/* Number of keys in the set (0 for NULL). */
size_t core_jwks_count(const core_jwks *set);

/* Whether a and b hold the same keys under the same kids, in any order
 * (NULL counts as empty). */
bool core_jwks_same(const core_jwks *a, const core_jwks *b);

/* Parses a JWKS document {"keys":[...]} of len bytes (at most
 * CORE_JWKS_MAX_DOC, at most CORE_JWKS_MAX_KEYS keys, no duplicate JSON
 * members). Every key must have kty "OKP", crv "Ed25519", an x that decodes
 * strictly to 32 bytes and a kid equal to the key's thumbprint; "use", if
 * present, must be "sig" and "alg" "EdDSA" or "Ed25519"; other members are
 * ignored. One bad key rejects the whole document: it comes from our own
 * svc-auth, so a foreign key means a misconfiguration worth an error, not a
 * set silently smaller than expected. Returns 0 and writes *out (the
 * caller's, freed with core_jwks_free), or -1 with a message for logs in err
 * (errlen bytes, may be 0) and *out untouched. */
int core_jwks_parse(const char *json, size_t len, core_jwks **out, char *err,
    size_t errlen) CORE_WARN_UNUSED;

/* Renders the set as compact JSON, {"keys":[{"kty":"OKP","crv":"Ed25519",
 * "x":..,"kid":..,"use":"sig","alg":"EdDSA"},...]}, malloc'd and
 * NUL-terminated (the caller free()s it). NULL only when out of memory. */
char *core_jwks_to_json(const core_jwks *set);

/* ---- Claims, signing --------------------------------------------------- */

/* The claims of an access token. Strings are NUL-terminated; a buffer's size
 * bounds the claim (a longer claim makes a token invalid). An optional claim
 * that is absent is "" or 0. */
typedef struct core_jwt_claims {
	char iss[256];
	char sub[64];  /* user id; required */
	char aud[256]; /* on verification: the audience that matched */
	char jti[64];  /* token id, the key of the blacklist; required */
	char sid[64];  /* session id of the refresh token */
	char username[64];
	char role[16];
	int64_t exp; /* Unix seconds; required */
	int64_t iat; /* Unix seconds; 0 = absent */
	int64_t nbf; /* Unix seconds; 0 = absent */
	/* When the user last proved who they are (password or second
	 * factor), Unix seconds (OpenID Connect's "auth_time"); 0 = absent.
	 * A refresh keeps the login's value: it proves nothing new. */
	int64_t auth_time;
	/* Whether the user's email address was proven when the token was
	 * made (OpenID Connect's "email_verified"); false when absent. */
	bool email_verified;
	/* How the user proved who they are (RFC 8176 "amr"): CORE_AMR_*
	 * bits; 0 when absent. A refresh keeps the login's value. */
	unsigned amr;
} core_jwt_claims;

/* The "amr" values a token can carry (RFC 8176 section 2); other values
 * in a token verified are ignored. */
#define CORE_AMR_PWD 0x1u /* "pwd": a password */
#define CORE_AMR_OTP 0x2u /* "otp": a one-time code (TOTP, recovery) */
/* An "amr" with more members than this makes a token invalid. */
#define CORE_AMR_MAX_MEMBERS 8

/* Signs payload with a given protected header (JSON text, used exactly as
 * given) and writes the compact JWS and a NUL to out. Low level: it is how
 * the RFC 8037 vectors are reproduced; tokens are made by core_jwt_sign.
 * Returns 0, or -1 when out (outlen bytes) is too small. */
int core_jws_sign(const char *header_json, const uint8_t *payload, size_t len,
    const uint8_t sk[64], char *out, size_t outlen);

/* Makes an access token: header {"alg":"EdDSA","typ":"at+jwt","kid":kid},
 * claims as compact JSON (iss, sub, aud, exp, jti always; iat, nbf and auth_time when
 * not 0; sid, username and role when not ""; email_verified when true;
 * amr, as an array of the names of its bits, when not 0). kid is normally
 * core_jwk_thumbprint of the public half of sk. Returns 0 and writes the
 * token and a NUL to out, or -1 when out is too small, iss, sub, aud or jti
 * is empty, a claim string is not NUL-terminated within its buffer or is not
 * UTF-8, kid is not 1..CORE_JWK_KID_MAX bytes, or out of memory. */
int core_jwt_sign(const core_jwt_claims *c, const char *kid,
    const uint8_t sk[64], char *out, size_t outlen) CORE_WARN_UNUSED;

/* ---- Verification ------------------------------------------------------ */

#define CORE_JWT_DEFAULT_MAX_LEN 4096
#define CORE_JWT_DEFAULT_LEEWAY_S 30

typedef enum core_jwt_result {
	CORE_JWT_OK = 0,
	/* Well-formed, but no key in the set has its kid: the caller may
	 * refetch the JWKS (after a key rotation) and try again. */
	CORE_JWT_UNKNOWN_KID = 1,
	/* Anything else: malformed, forged, expired, wrong issuer... */
	CORE_JWT_INVALID = 2,
} core_jwt_result;

/* What a verifier accepts. Zero-initialised fields take the defaults. */
typedef struct core_jwt_policy {
	const char *issuer;   /* required: "iss" must equal it */
	const char *audience; /* required: "aud" must be it or contain it */
	int64_t now;          /* Unix seconds; 0 = time(NULL) */
	/* Clock skew allowed on exp, nbf and iat, in seconds: 0 = the default
	 * CORE_JWT_DEFAULT_LEEWAY_S (so a zeroed policy is sane), negative =
	 * none at all. */
	int leeway_s;
	size_t max_len; /* longest token accepted; 0 = the default */
} core_jwt_policy;

/* The clock skew pol allows, in seconds (its leeway_s resolved). */
int64_t core_jwt_policy_leeway(const core_jwt_policy *pol);

/* Verifies token (NUL-terminated) with the keys and policy, strictly (see
 * docs/internals/tokens.md for the order of checks). Only alg "EdDSA" (or
 * RFC 9864's "Ed25519") is accepted, and decided before any key lookup; a
 * token with "crit", duplicate JSON members, non-canonical base64url or a
 * claim that does not fit its buffer is invalid. On CORE_JWT_OK *out holds
 * the claims; otherwise *out is untouched. *reason (if reason is not NULL)
 * always receives a static string saying why, for logs only: clients get a
 * plain "unauthenticated". keys may be NULL (every kid is then unknown). */
core_jwt_result core_jwt_verify(const core_jwks *keys, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out,
    const char **reason) CORE_WARN_UNUSED;

#endif
