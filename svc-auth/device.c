/* Device tokens; see device.h. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth_validate.h"
#include "core/b64url.h"
#include "device.h"

#define VERSION 1
#define HEAD_BYTES (1 + 8 + 8 + 16 + 16 + 1) /* before the username */
#define PAYLOAD_MAX (HEAD_BYTES + AUTH_USERNAME_MAX)
#define MAC_BYTES crypto_auth_hmacsha256_BYTES
#define RAW_MAX (PAYLOAD_MAX + MAC_BYTES)

_Static_assert(CORE_B64URL_ENCODED_LEN(RAW_MAX) < AUTH_DEVICE_TOKEN_MAX,
    "a token fits AUTH_DEVICE_TOKEN_MAX");
_Static_assert(crypto_kdf_KEYBYTES == 32, "a KEK is a crypto_kdf key");

int
auth_device_key_derive(
    const uint8_t *kek, size_t kek_len, uint8_t key[AUTH_DEVICE_KEY_BYTES])
{
	if (kek == NULL || kek_len != crypto_kdf_KEYBYTES) {
		return -1;
	}
	return crypto_kdf_derive_from_key(
	    key, AUTH_DEVICE_KEY_BYTES, 1, "devtoken", kek);
}

static void
put_be64(uint8_t *p, int64_t v)
{
	uint64_t u = (uint64_t) v;
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t) (u & 0xff);
		u >>= 8;
	}
}

static int64_t
get_be64(const uint8_t *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++) {
		u = (u << 8) | p[i];
	}
	return (int64_t) u;
}

/* A UUID's text to its 16 bytes. Returns 0, or -1. */
static int
uuid_bin(const char *text, uint8_t out[16])
{
	size_t n = 0;
	if (!auth_uuid_valid(text) ||
	    sodium_hex2bin(out, 16, text, strlen(text), "-", &n, NULL) != 0 ||
	    n != 16) {
		return -1;
	}
	return 0;
}

static void
uuid_text(const uint8_t b[16], char out[37])
{
	char hex[33];
	sodium_bin2hex(hex, sizeof(hex), b, 16);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
	    hex + 16, hex + 20);
}

int
auth_device_token_issue(const uint8_t key[AUTH_DEVICE_KEY_BYTES],
    const char *user_id, const char *username, int64_t now, int64_t ttl_s,
    char *out, size_t outlen)
{
	uint8_t raw[RAW_MAX];
	size_t ulen = strlen(username);
	if (ulen == 0 || ulen > AUTH_USERNAME_MAX || ttl_s <= 0 ||
	    uuid_bin(user_id, raw + 1 + 8 + 8 + 16) != 0) {
		return -1;
	}
	raw[0] = VERSION;
	put_be64(raw + 1, now);
	put_be64(raw + 9, now + ttl_s);
	randombytes_buf(raw + 17, 16);
	raw[HEAD_BYTES - 1] = (uint8_t) ulen;
	memcpy(raw + HEAD_BYTES, username, ulen);
	size_t plen = HEAD_BYTES + ulen;
	crypto_auth_hmacsha256(raw + plen, raw, plen, key);
	return core_b64url_encode(raw, plen + MAC_BYTES, out, outlen);
}

int
auth_device_token_check(const uint8_t key[AUTH_DEVICE_KEY_BYTES],
    const char *token, const char *username, int64_t now,
    char device_id[AUTH_DEVICE_ID_MAX], char user_id[37])
{
	uint8_t raw[RAW_MAX], mac[MAC_BYTES];
	size_t n = 0, tlen = strnlen(token, AUTH_DEVICE_TOKEN_MAX);
	if (tlen == 0 || tlen >= AUTH_DEVICE_TOKEN_MAX ||
	    core_b64url_decode(token, tlen, raw, sizeof(raw), &n) != 0 ||
	    n < HEAD_BYTES + 1 + MAC_BYTES) {
		return -1;
	}
	size_t plen = n - MAC_BYTES;
	crypto_auth_hmacsha256(mac, raw, plen, key);
	if (sodium_memcmp(mac, raw + plen, MAC_BYTES) != 0) {
		return -1;
	}
	/* Authentic from here on: what it says was said by this service. */
	size_t ulen = raw[HEAD_BYTES - 1];
	if (raw[0] != VERSION || HEAD_BYTES + ulen != plen ||
	    strlen(username) != ulen ||
	    memcmp(raw + HEAD_BYTES, username, ulen) != 0 ||
	    get_be64(raw + 9) <= now || get_be64(raw + 1) > now + 300) {
		return -1;
	}
	if (core_b64url_encode(raw + 17, 16, device_id, AUTH_DEVICE_ID_MAX) !=
	    0) {
		return -1;
	}
	uuid_text(raw + 33, user_id);
	return 0;
}
