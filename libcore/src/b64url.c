/* base64url, strict (core/b64url.h). */
#include <stdint.h>
#include <string.h>

#include "core/b64url.h"
#include "text_internal.h"

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
	text_b64_encode(in, len, out, b64_alphabet, false);
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
