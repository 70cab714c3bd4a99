/* TOTP, sealed secrets, the otpauth:// URI, its QR code and recovery
 * codes; see totp.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <liboath/oath.h>
#include <qrencode.h>
#include <sodium.h>

#include "totp.h"

/* A QR code of the largest version is 177 modules wide. */
#define QR_QUIET 4
#define QR_MAX_WIDTH 177

int
auth_totp_init(void)
{
	return oath_init() == OATH_OK ? 0 : -1;
}

void
auth_totp_secret_new(uint8_t secret[AUTH_TOTP_SECRET_BYTES])
{
	randombytes_buf(secret, AUTH_TOTP_SECRET_BYTES);
}

void
auth_totp_secret_b32(
    const uint8_t secret[AUTH_TOTP_SECRET_BYTES], char out[33])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	/* 20 bytes are exactly 32 groups of 5 bits: no padding. */
	size_t o = 0;
	for (size_t i = 0; i < AUTH_TOTP_SECRET_BYTES; i += 5) {
		uint64_t v = 0;
		for (size_t j = 0; j < 5; j++) {
			v = (v << 8) | secret[i + j];
		}
		for (int k = 7; k >= 0; k--) {
			out[o++] = alphabet[(v >> (5 * k)) & 31u];
		}
	}
	out[o] = '\0';
}

bool
auth_totp_code_shape(const char *code)
{
	size_t n = strnlen(code, AUTH_TOTP_DIGITS + 1);
	if (n != AUTH_TOTP_DIGITS) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (code[i] < '0' || code[i] > '9') {
			return false;
		}
	}
	return true;
}

int
auth_totp_code_at(const uint8_t secret[AUTH_TOTP_SECRET_BYTES], int64_t step,
    char out[AUTH_TOTP_DIGITS + 1])
{
	if (step < 0) {
		return -1;
	}
	/* liboath counts steps from a time: the start of this one. */
	time_t t = (time_t) (step * AUTH_TOTP_STEP_S);
	int rc =
	    oath_totp_generate2((const char *) secret, AUTH_TOTP_SECRET_BYTES,
	        t, AUTH_TOTP_STEP_S, 0, AUTH_TOTP_DIGITS, 0, out);
	return rc == OATH_OK ? 0 : -1;
}

int
auth_totp_match(const uint8_t secret[AUTH_TOTP_SECRET_BYTES], const char *code,
    int64_t now, int window, int64_t *step)
{
	if (!auth_totp_code_shape(code) || now < 0 || window < 0) {
		return -1;
	}
	int64_t cur = now / AUTH_TOTP_STEP_S;
	int found = -1;
	/* Every step of the window is computed and compared, matched or
	 * not: the time taken says nothing about which one matched. */
	for (int64_t s = cur - window; s <= cur + window; s++) {
		char want[AUTH_TOTP_DIGITS + 1];
		if (auth_totp_code_at(secret, s, want) != 0) {
			continue;
		}
		if (sodium_memcmp(want, code, AUTH_TOTP_DIGITS) == 0 &&
		    found < 0) {
			*step = s;
			found = 0;
		}
		sodium_memzero(want, sizeof(want));
	}
	return found;
}

void
auth_totp_seal(const uint8_t kek[AUTH_KEK_BYTES],
    const uint8_t secret[AUTH_TOTP_SECRET_BYTES],
    uint8_t out[AUTH_TOTP_SEALED_BYTES])
{
	randombytes_buf(out, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, secret,
	    AUTH_TOTP_SECRET_BYTES, out, kek);
}

int
auth_totp_unseal(const uint8_t kek[AUTH_KEK_BYTES], const uint8_t *sealed,
    size_t len, uint8_t secret[AUTH_TOTP_SECRET_BYTES])
{
	if (len != AUTH_TOTP_SEALED_BYTES) {
		return -1;
	}
	return crypto_secretbox_open_easy(secret,
	           sealed + crypto_secretbox_NONCEBYTES,
	           len - crypto_secretbox_NONCEBYTES, sealed, kek) == 0
	           ? 0
	           : -1;
}

/* Appends s percent-encoded (all but RFC 3986's unreserved characters) at
 * out + *o; false when it does not fit. */
static bool
put_encoded(char *out, size_t outlen, size_t *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char) *s;
		bool plain = (ch >= 'A' && ch <= 'Z') ||
		             (ch >= 'a' && ch <= 'z') ||
		             (ch >= '0' && ch <= '9') || ch == '-' ||
		             ch == '.' || ch == '_' || ch == '~';
		size_t need = plain ? 1 : 3;
		if (*o + need >= outlen) {
			return false;
		}
		if (plain) {
			out[(*o)++] = (char) ch;
		} else {
			out[(*o)++] = '%';
			out[(*o)++] = hex[ch >> 4];
			out[(*o)++] = hex[ch & 15u];
		}
	}
	out[*o] = '\0';
	return true;
}

/* Appends s as it is; false when it does not fit. */
static bool
put_plain(char *out, size_t outlen, size_t *o, const char *s)
{
	size_t n = strlen(s);
	if (*o + n >= outlen) {
		return false;
	}
	memcpy(out + *o, s, n + 1);
	*o += n;
	return true;
}

int
auth_totp_uri(const char *issuer, const char *account, const char *secret_b32,
    char *out, size_t outlen)
{
	size_t o = 0;
	char tail[96];
	snprintf(tail, sizeof(tail), "&algorithm=SHA1&digits=%d&period=%d",
	    AUTH_TOTP_DIGITS, AUTH_TOTP_STEP_S);
	if (outlen == 0) {
		return -1;
	}
	out[0] = '\0';
	/* The label's ':' between issuer and account is literal (Google's
	 * Key Uri Format); a ':' inside either is encoded. */
	bool ok = put_plain(out, outlen, &o, "otpauth://totp/") &&
	          put_encoded(out, outlen, &o, issuer) &&
	          put_plain(out, outlen, &o, ":") &&
	          put_encoded(out, outlen, &o, account) &&
	          put_plain(out, outlen, &o, "?secret=") &&
	          put_plain(out, outlen, &o, secret_b32) &&
	          put_plain(out, outlen, &o, "&issuer=") &&
	          put_encoded(out, outlen, &o, issuer) &&
	          put_plain(out, outlen, &o, tail);
	return ok ? 0 : -1;
}

char *
auth_totp_qr_svg(const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (qr == NULL) {
		return NULL;
	}
	int w = qr->width;
	if (w <= 0 || w > QR_MAX_WIDTH) {
		QRcode_free(qr);
		return NULL;
	}
	int size = w + 2 * QR_QUIET;
	/* At most w/2 + 1 runs per row, each "M%d,%dh%dv1h-%dz" of at most
	 * 26 bytes; the rest is under 300 bytes. */
	size_t cap = (size_t) w * ((size_t) w / 2 + 1) * 26 + 512;
	char *svg = malloc(cap);
	if (svg == NULL) {
		QRcode_free(qr);
		return NULL;
	}
	size_t o = (size_t) snprintf(svg, cap,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
	    "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
	    "fill=\"#fff\"/><path fill=\"#000\" d=\"",
	    size, size, size, size);
	for (int y = 0; y < w; y++) {
		int x = 0;
		while (x < w) {
			if ((qr->data[y * w + x] & 1u) == 0) {
				x++;
				continue;
			}
			int run = 1;
			while (
			    x + run < w && (qr->data[y * w + x + run] & 1u)) {
				run++;
			}
			o += (size_t) snprintf(svg + o, cap - o,
			    "M%d,%dh%dv1h-%dz", x + QR_QUIET, y + QR_QUIET,
			    run, run);
			x += run;
		}
	}
	snprintf(svg + o, cap - o, "\"/></svg>");
	QRcode_free(qr);
	return svg;
}

/* Crockford's base32, lower case: no i, l, o, u. */
static const char recovery_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

void
auth_recovery_code_new(char out[AUTH_RECOVERY_CODE_LEN + 1])
{
	size_t o = 0;
	for (int i = 0; i < 10; i++) {
		if (i == 5) {
			out[o++] = '-';
		}
		out[o++] = recovery_alphabet[randombytes_uniform(32)];
	}
	out[o] = '\0';
}

/* code in its normal form (10 characters of the alphabet) into norm; -1
 * when it cannot be a recovery code. */
static int
recovery_normalize(const char *code, char norm[11])
{
	size_t n = 0;
	size_t len = strnlen(code, AUTH_RECOVERY_CODE_INPUT_MAX + 1);
	if (len > AUTH_RECOVERY_CODE_INPUT_MAX) {
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char ch = code[i];
		if (ch == '-' || ch == ' ') {
			continue;
		}
		if (ch >= 'A' && ch <= 'Z') {
			ch = (char) (ch - 'A' + 'a');
		}
		if (ch == 'i' || ch == 'l') {
			ch = '1';
		} else if (ch == 'o') {
			ch = '0';
		}
		if (ch == '\0' || strchr(recovery_alphabet, ch) == NULL ||
		    n == 10) {
			return -1;
		}
		norm[n++] = ch;
	}
	norm[n] = '\0';
	return n == 10 ? 0 : -1;
}

int
auth_recovery_code_hash(
    const char *user_id, const char *code, char hash_hex[65])
{
	char norm[11];
	if (recovery_normalize(code, norm) != 0) {
		return -1;
	}
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(
	    &st, (const uint8_t *) user_id, strlen(user_id));
	crypto_hash_sha256_update(&st, (const uint8_t *) ":", 1);
	crypto_hash_sha256_update(&st, (const uint8_t *) norm, 10);
	crypto_hash_sha256_final(&st, h);
	sodium_memzero(norm, sizeof(norm));
	sodium_bin2hex(hash_hex, 65, h, sizeof(h));
	return 0;
}
