/* Device tokens (OWASP's "device cookies"): after a successful login,
 * svc-auth hands the client a token that says "this device has logged in
 * as this user before". A login attempt that carries a valid one for its
 * username is throttled on a counter of that device alone, so an attacker
 * who floods a username with wrong passwords slows down their own guesses
 * but does not lock the real user out.
 *
 * A token is base64url(payload || HMAC-SHA256(key, payload)), the payload
 * being: version (1), issued and expires (Unix seconds, 8 bytes each, big
 * endian), a random 128-bit device id, the user id (16 bytes) and the
 * username (a length byte, then its bytes). The key is the service's own
 * (auth_device_key_derive). Pure functions. */
#ifndef AUTH_DEVICE_H
#define AUTH_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define AUTH_DEVICE_KEY_BYTES 32
/* The longest token text, with its NUL. */
#define AUTH_DEVICE_TOKEN_MAX 160
/* The device id as text (base64url of 16 bytes), with its NUL. */
#define AUTH_DEVICE_ID_MAX 23

/* Derives the device-token key from the key-encryption key: libsodium's
 * crypto_kdf (BLAKE2b) with context "devtoken", subkey 1. Every replica
 * with the same KEK derives the same key. Returns 0, or -1. */
int auth_device_key_derive(const uint8_t *kek, size_t kek_len,
    uint8_t key[AUTH_DEVICE_KEY_BYTES]) CORE_WARN_UNUSED;

/* Writes a new token for user_id (a UUID) and username (stored form) with
 * a fresh device id, issued at now and valid for ttl_s, to out (at least
 * AUTH_DEVICE_TOKEN_MAX bytes). Returns 0, or -1 for arguments out of
 * shape. */
int auth_device_token_issue(const uint8_t key[AUTH_DEVICE_KEY_BYTES],
    const char *user_id, const char *username, int64_t now, int64_t ttl_s,
    char *out, size_t outlen) CORE_WARN_UNUSED;

/* Checks token for username at now: well-formed, its MAC right (compared
 * in constant time), unexpired, issued for username. Returns 0 and writes
 * the device id (AUTH_DEVICE_ID_MAX bytes) and the user id (37 bytes), or
 * -1: the attempt is then treated as one without a token. */
int auth_device_token_check(const uint8_t key[AUTH_DEVICE_KEY_BYTES],
    const char *token, const char *username, int64_t now,
    char device_id[AUTH_DEVICE_ID_MAX], char user_id[37]) CORE_WARN_UNUSED;

#endif
