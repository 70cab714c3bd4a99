/* Two-factor login's pure logic: TOTP codes (RFC 6238 through liboath:
 * HMAC-SHA-1, 6 digits, 30 s steps), the sealed form of a secret, the
 * otpauth:// URI and its QR code as SVG, and recovery codes. No I/O; the
 * handlers are in mfa.c, the SQL in mfa_repo.c. */
#ifndef AUTH_TOTP_H
#define AUTH_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define AUTH_TOTP_SECRET_BYTES 20   /* 160 bits, RFC 4226's recommendation */
#define AUTH_TOTP_SECRET_B32_LEN 32 /* base32 of 20 bytes, no padding */
#define AUTH_TOTP_STEP_S 30
#define AUTH_TOTP_DIGITS 6
/* Steps accepted on either side of the current one (clock drift, and a
 * code typed just as it changed). */
#define AUTH_TOTP_WINDOW 1
/* nonce || crypto_secretbox(secret): what authdb stores. */
#define AUTH_TOTP_SEALED_BYTES (24 + AUTH_TOTP_SECRET_BYTES + 16)

#define AUTH_RECOVERY_CODES 10
/* "xxxxx-xxxxx": ten characters of Crockford's base32 (50 bits). */
#define AUTH_RECOVERY_CODE_LEN 11
/* Longest recovery code input taken (spaces, dashes, case are forgiven). */
#define AUTH_RECOVERY_CODE_INPUT_MAX 32

/* Initialises liboath; once, at start, before any other call here.
 * Returns 0 or -1. */
int auth_totp_init(void);

/* A new random secret into secret. */
void auth_totp_secret_new(uint8_t secret[AUTH_TOTP_SECRET_BYTES]);

/* The secret in base32 (RFC 4648, upper case, no padding) and a NUL. */
void auth_totp_secret_b32(
    const uint8_t secret[AUTH_TOTP_SECRET_BYTES], char out[33]);

/* Whether code has the shape of a code: exactly AUTH_TOTP_DIGITS digits. */
bool auth_totp_code_shape(const char *code);

/* The code of secret for time step step into out (digits and a NUL).
 * Returns 0, or -1 on liboath's failure. */
int auth_totp_code_at(const uint8_t secret[AUTH_TOTP_SECRET_BYTES],
    int64_t step, char out[AUTH_TOTP_DIGITS + 1]);

/* Matches code against secret at Unix time now: the steps from
 * now/30 - window to now/30 + window are tried (each compared in constant
 * time) and *step receives the one that matched. Returns 0, or -1 when
 * code is malformed or matches none. The caller still refuses a step it
 * has accepted before (replay). */
int auth_totp_match(const uint8_t secret[AUTH_TOTP_SECRET_BYTES],
    const char *code, int64_t now, int window, int64_t *step);

/* Seals secret with kek into out (a fresh random nonce, then the box). */
void auth_totp_seal(const uint8_t kek[AUTH_KEK_BYTES],
    const uint8_t secret[AUTH_TOTP_SECRET_BYTES],
    uint8_t out[AUTH_TOTP_SEALED_BYTES]);

/* Opens sealed (len bytes) with kek into secret. Returns 0, or -1 when it
 * is not AUTH_TOTP_SEALED_BYTES long or was not sealed with this kek. */
int auth_totp_unseal(const uint8_t kek[AUTH_KEK_BYTES], const uint8_t *sealed,
    size_t len, uint8_t secret[AUTH_TOTP_SECRET_BYTES]);

/* The Key URI authenticator apps read: otpauth://totp/ISSUER:ACCOUNT?
 * secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30, issuer and
 * account percent-encoded. Returns 0, or -1 when out (outlen bytes) is too
 * small. */
int auth_totp_uri(const char *issuer, const char *account,
    const char *secret_b32, char *out, size_t outlen);

/* text as a QR code (error correction M, 8-bit mode) drawn as an SVG
 * document: one module per user unit, a quiet zone of 4 modules, dark
 * modules as one path of horizontal runs. malloc'd, NUL-terminated; NULL
 * when text does not fit a QR code or out of memory. */
char *auth_totp_qr_svg(const char *text);

/* A new recovery code ("xxxxx-xxxxx") into out. */
void auth_recovery_code_new(char out[AUTH_RECOVERY_CODE_LEN + 1]);

/* The hash authdb keeps of recovery code code of user user_id, in hex:
 * SHA-256 over the user id, ':' and the normalised code (lower case, no
 * spaces or dashes; 'i' and 'l' read as '1', 'o' as '0', as Crockford's
 * base32 reads them). Returns 0, or -1 when code cannot be a recovery code
 * (the caller answers it as a wrong one). */
int auth_recovery_code_hash(
    const char *user_id, const char *code, char hash_hex[65]);

#endif
