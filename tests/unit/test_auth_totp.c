/* Two-factor login's pure logic (svc-auth/totp.c): TOTP codes against
 * RFC 6238's vectors, the window of steps a code is accepted in, the
 * base32 secret and its otpauth:// URI, sealed secrets, the QR code drawn
 * as SVG, and the recovery codes' format and hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <qrencode.h>
#include <sodium.h>

#include "totp.h"

/* RFC 6238 appendix B's SHA-1 secret: the ASCII of "1234567890" twice. */
static const uint8_t rfc_secret[AUTH_TOTP_SECRET_BYTES] =
    "12345678901234567890";

static int
setup(void **state)
{
	(void) state;
	assert_true(sodium_init() >= 0);
	return auth_totp_init();
}

static void
test_codes_are_rfc6238_vectors_cut_to_six_digits(void **state)
{
	(void) state;
	/* RFC 6238 appendix B, SHA-1: 94287082, 07081804, 14050471,
	 * 89005924; an app shows their last six digits. */
	static const struct {
		int64_t t;
		const char *code;
	} v[] = {{59, "287082"}, {1111111109, "081804"},
	    {1111111111, "050471"}, {1234567890, "005924"},
	    {2000000000, "279037"}, {20000000000LL, "353130"}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char code[AUTH_TOTP_DIGITS + 1];
		assert_int_equal(auth_totp_code_at(rfc_secret,
		                     v[i].t / AUTH_TOTP_STEP_S, code),
		    0);
		assert_string_equal(code, v[i].code);
		int64_t step = -1;
		assert_int_equal(auth_totp_match(rfc_secret, v[i].code, v[i].t,
		                     AUTH_TOTP_WINDOW, &step),
		    0);
		assert_int_equal(step, v[i].t / AUTH_TOTP_STEP_S);
	}
}

/* The steps just before and after now are accepted (and say which step
 * matched); two steps away is refused. */
static void
test_match_accepts_one_step_either_side_and_no_more(void **state)
{
	(void) state;
	const int64_t now = 1700000015; /* mid-step */
	const int64_t cur = now / AUTH_TOTP_STEP_S;
	for (int64_t d = -3; d <= 3; d++) {
		char code[AUTH_TOTP_DIGITS + 1];
		int64_t step = -1;
		assert_int_equal(
		    auth_totp_code_at(rfc_secret, cur + d, code), 0);
		int rv = auth_totp_match(
		    rfc_secret, code, now, AUTH_TOTP_WINDOW, &step);
		if (d >= -1 && d <= 1) {
			assert_int_equal(rv, 0);
			assert_int_equal(step, cur + d);
		} else {
			assert_int_equal(rv, -1);
		}
	}
	/* Window 0: only the current step. */
	char code[AUTH_TOTP_DIGITS + 1];
	int64_t step;
	assert_int_equal(auth_totp_code_at(rfc_secret, cur + 1, code), 0);
	assert_int_equal(auth_totp_match(rfc_secret, code, now, 0, &step), -1);
}

static void
test_match_refuses_what_is_not_six_digits(void **state)
{
	(void) state;
	int64_t step;
	const char *bad[] = {"", "28708", "2870820", "28708a", " 287082",
	    "287082 ", "-28708", "94287082"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(auth_totp_code_shape(bad[i]));
		assert_int_equal(
		    auth_totp_match(rfc_secret, bad[i], 59, 1, &step), -1);
	}
	assert_true(auth_totp_code_shape("000000"));
	/* A code of another secret does not match. */
	uint8_t other[AUTH_TOTP_SECRET_BYTES];
	memset(other, 7, sizeof(other));
	char code[AUTH_TOTP_DIGITS + 1];
	assert_int_equal(auth_totp_code_at(other, 1, code), 0);
	if (strcmp(code, "287082") != 0) {
		assert_int_equal(
		    auth_totp_match(rfc_secret, code, 59, 1, &step), -1);
	}
}

static void
test_secret_is_rfc4648_base32(void **state)
{
	(void) state;
	char b32[AUTH_TOTP_SECRET_B32_LEN + 1];
	auth_totp_secret_b32(rfc_secret, b32);
	assert_string_equal(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	uint8_t zero[AUTH_TOTP_SECRET_BYTES] = {0};
	auth_totp_secret_b32(zero, b32);
	assert_string_equal(b32, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	uint8_t ff[AUTH_TOTP_SECRET_BYTES];
	memset(ff, 0xff, sizeof(ff));
	auth_totp_secret_b32(ff, b32);
	assert_string_equal(b32, "77777777777777777777777777777777");
}

static void
test_uri_is_the_key_uri_format_with_encoded_label(void **state)
{
	(void) state;
	char uri[512];
	assert_int_equal(
	    auth_totp_uri("My App", "ada.l",
	        "GEZDGNBVGY3DOOJQGEZDGNBVGY3DOOJQ", uri, sizeof(uri)),
	    0);
	assert_string_equal(uri,
	    "otpauth://totp/My%20App:ada.l?secret="
	    "GEZDGNBVGY3DOOJQGEZDGNBVGY3DOOJQ&issuer=My%20App&algorithm=SHA1&"
	    "digits=6&period=30");
	assert_int_equal(
	    auth_totp_uri("a:b&c", "x", "S", uri, sizeof(uri)), 0);
	assert_string_equal(uri,
	    "otpauth://totp/a%3Ab%26c:x?secret=S&issuer=a%3Ab%26c&algorithm="
	    "SHA1&digits=6&period=30");
	/* Too small a buffer is an error, never a cut URI. */
	assert_int_equal(auth_totp_uri("My App", "ada", "S", uri, 30), -1);
}

static void
test_sealed_secret_opens_with_its_kek_only(void **state)
{
	(void) state;
	uint8_t kek[AUTH_KEK_BYTES], other[AUTH_KEK_BYTES];
	uint8_t secret[AUTH_TOTP_SECRET_BYTES], back[AUTH_TOTP_SECRET_BYTES];
	uint8_t sealed[AUTH_TOTP_SEALED_BYTES], again[AUTH_TOTP_SEALED_BYTES];
	randombytes_buf(kek, sizeof(kek));
	randombytes_buf(other, sizeof(other));
	auth_totp_secret_new(secret);
	auth_totp_seal(kek, secret, sealed);
	assert_int_equal(
	    auth_totp_unseal(kek, sealed, sizeof(sealed), back), 0);
	assert_memory_equal(back, secret, sizeof(secret));
	/* A fresh nonce each time. */
	auth_totp_seal(kek, secret, again);
	assert_memory_not_equal(again, sealed, sizeof(sealed));
	assert_int_equal(
	    auth_totp_unseal(other, sealed, sizeof(sealed), back), -1);
	assert_int_equal(
	    auth_totp_unseal(kek, sealed, sizeof(sealed) - 1, back), -1);
	sealed[30] ^= 1;
	assert_int_equal(
	    auth_totp_unseal(kek, sealed, sizeof(sealed), back), -1);
}

/* Reads the SVG's path back into a matrix of size x size modules. */
static void
svg_modules(const char *svg, int size, unsigned char *m)
{
	const char *d = strstr(svg, " d=\"");
	assert_non_null(d);
	d += 4;
	while (*d == 'M') {
		int x, y, run, back, n = 0;
		assert_int_equal(
		    sscanf(d, "M%d,%dh%dv1h-%dz%n", &x, &y, &run, &back, &n),
		    4);
		assert_int_equal(run, back);
		assert_true(x >= 0 && y >= 0 && x + run <= size && y < size);
		for (int i = 0; i < run; i++) {
			assert_int_equal(
			    m[y * size + x + i], 0); /* no overlap */
			m[y * size + x + i] = 1;
		}
		d += n;
	}
	assert_string_equal(d, "\"/></svg>");
}

static void
test_qr_svg_draws_exactly_the_modules_of_the_qr_code(void **state)
{
	(void) state;
	const char *uri =
	    "otpauth://totp/microcore:ada?secret="
	    "GEZDGNBVGY3DOOJQGEZDGNBVGY3DOOJQ&issuer=microcore&algorithm="
	    "SHA1&digits=6&period=30";
	char *svg = auth_totp_qr_svg(uri);
	assert_non_null(svg);
	QRcode *qr = QRcode_encodeString(uri, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	assert_non_null(qr);
	int w = qr->width, size = w + 8;
	char head[160];
	snprintf(head, sizeof(head),
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\"",
	    size, size);
	assert_true(strncmp(svg, head, strlen(head)) == 0);
	unsigned char *m = calloc((size_t) (size * size), 1);
	assert_non_null(m);
	svg_modules(svg, size, m);
	for (int y = 0; y < size; y++) {
		for (int x = 0; x < size; x++) {
			bool in = x >= 4 && y >= 4 && x < w + 4 && y < w + 4;
			int want =
			    in ? (qr->data[(y - 4) * w + (x - 4)] & 1) : 0;
			if (m[y * size + x] != want) {
				fail_msg("module %d,%d is %d, not %d", x, y,
				    m[y * size + x], want);
			}
		}
	}
	free(m);
	QRcode_free(qr);
	free(svg);
	/* More than a QR code holds (2953 bytes at level L) is NULL. */
	char *big = malloc(4001);
	assert_non_null(big);
	memset(big, 'a', 4000);
	big[4000] = '\0';
	assert_null(auth_totp_qr_svg(big));
	free(big);
}

static void
test_recovery_codes_are_two_groups_of_five_of_crockford_base32(void **state)
{
	(void) state;
	char codes[50][AUTH_RECOVERY_CODE_LEN + 1];
	for (int i = 0; i < 50; i++) {
		auth_recovery_code_new(codes[i]);
		assert_int_equal(strlen(codes[i]), AUTH_RECOVERY_CODE_LEN);
		for (int k = 0; k < AUTH_RECOVERY_CODE_LEN; k++) {
			char ch = codes[i][k];
			if (k == 5) {
				assert_int_equal(ch, '-');
				continue;
			}
			assert_non_null(
			    strchr("0123456789abcdefghjkmnpqrstvwxyz", ch));
		}
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(codes[i], codes[j]);
		}
		char hash[65];
		assert_int_equal(
		    auth_recovery_code_hash("u", codes[i], hash), 0);
	}
}

/* The hash is SHA-256 of "<user id>:<normal form>"; case, dashes and
 * spaces do not matter, i/l read as 1 and o as 0; another user's hash
 * differs; what cannot be a code is refused. */
static void
test_recovery_code_hash_normalises_and_binds_the_user(void **state)
{
	(void) state;
	const char *uid = "0b7c8a52-4c4e-4a55-9a0e-5a4a3c2b1d00";
	char want[65], h[65];
	uint8_t raw[crypto_hash_sha256_BYTES];
	char in[128];
	snprintf(in, sizeof(in), "%s:%s", uid, "ab1de0ghjk");
	crypto_hash_sha256(raw, (const uint8_t *) in, strlen(in));
	sodium_bin2hex(want, sizeof(want), raw, sizeof(raw));
	const char *same[] = {"ab1de-0ghjk", "ab1de0ghjk", "AB1DE-0GHJK",
	    " ab1de 0ghjk ", "abIde-OghJK", "abLde-oghjk",
	    "a-b-1-d-e-0-g-h-j-k"};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(auth_recovery_code_hash(uid, same[i], h), 0);
		assert_string_equal(h, want);
	}
	assert_int_equal(
	    auth_recovery_code_hash(
	        "1b7c8a52-4c4e-4a55-9a0e-5a4a3c2b1d00", "ab1de-0ghjk", h),
	    0);
	assert_string_not_equal(h, want);
	const char *bad[] = {"", "ab1de-0ghj", "ab1de-0ghjkk", "ab1de-0ghju",
	    "ab1de_0ghjk", "ab1de-0ghj\xc3\xa9",
	    "ab1de-0ghjk                                      "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(auth_recovery_code_hash(uid, bad[i], h), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codes_are_rfc6238_vectors_cut_to_six_digits),
	    cmocka_unit_test(
	        test_match_accepts_one_step_either_side_and_no_more),
	    cmocka_unit_test(test_match_refuses_what_is_not_six_digits),
	    cmocka_unit_test(test_secret_is_rfc4648_base32),
	    cmocka_unit_test(
	        test_uri_is_the_key_uri_format_with_encoded_label),
	    cmocka_unit_test(test_sealed_secret_opens_with_its_kek_only),
	    cmocka_unit_test(
	        test_qr_svg_draws_exactly_the_modules_of_the_qr_code),
	    cmocka_unit_test(
	        test_recovery_codes_are_two_groups_of_five_of_crockford_base32),
	    cmocka_unit_test(
	        test_recovery_code_hash_normalises_and_binds_the_user),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
