/* Device tokens: what is accepted, and that anything else — forged,
 * altered, expired, another user's, another key's, not a token — is not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/b64url.h"
#include "device.h"

#define UID "0b9f2c1e-5a4d-4c3b-9e8f-7a6b5c4d3e2f"
#define NOW 1800000000

static uint8_t key[AUTH_DEVICE_KEY_BYTES];

static int
setup(void **state)
{
	(void) state;
	uint8_t kek[32];
	memset(kek, 7, sizeof(kek));
	assert_true(sodium_init() >= 0);
	return auth_device_key_derive(kek, sizeof(kek), key);
}

static int
check(const char *token, const char *user, int64_t now)
{
	char dev[AUTH_DEVICE_ID_MAX], uid[37];
	return auth_device_token_check(key, token, user, now, dev, uid);
}

static void
test_device_token_roundtrip(void **state)
{
	(void) state;
	char t1[AUTH_DEVICE_TOKEN_MAX], t2[AUTH_DEVICE_TOKEN_MAX];
	char d1[AUTH_DEVICE_ID_MAX], d2[AUTH_DEVICE_ID_MAX], uid[37];
	assert_int_equal(auth_device_token_issue(
	                     key, UID, "ada", NOW, 3600, t1, sizeof(t1)),
	    0);
	assert_int_equal(auth_device_token_issue(
	                     key, UID, "ada", NOW, 3600, t2, sizeof(t2)),
	    0);
	assert_int_equal(
	    auth_device_token_check(key, t1, "ada", NOW, d1, uid), 0);
	assert_string_equal(uid, UID);
	assert_int_equal(strlen(d1), 22);
	assert_int_equal(
	    auth_device_token_check(key, t2, "ada", NOW, d2, uid), 0);
	assert_string_not_equal(d1, d2); /* a device id per token */
	/* Cookie-safe: base64url only. */
	assert_int_equal(
	    strspn(t1,
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	    strlen(t1));
	/* A 32-byte username fits. */
	const char *longest = "abcdefghijklmnopqrstuvwxyz012345";
	assert_int_equal(auth_device_token_issue(
	                     key, UID, longest, NOW, 60, t1, sizeof(t1)),
	    0);
	assert_int_equal(check(t1, longest, NOW), 0);
	assert_true(strlen(t1) < AUTH_DEVICE_TOKEN_MAX);
}

static void
test_device_token_refused(void **state)
{
	(void) state;
	char t[AUTH_DEVICE_TOKEN_MAX];
	assert_int_equal(
	    auth_device_token_issue(key, UID, "ada", NOW, 3600, t, sizeof(t)),
	    0);
	/* Another user's, expired, from the far future. */
	assert_int_equal(check(t, "bob", NOW), -1);
	assert_int_equal(check(t, "ad", NOW), -1);
	assert_int_equal(check(t, "adam", NOW), -1);
	assert_int_equal(check(t, "", NOW), -1);
	assert_int_equal(check(t, "ada", NOW + 3600), -1);
	assert_int_equal(check(t, "ada", NOW + 3599), 0);
	assert_int_equal(check(t, "ada", NOW - 301), -1);
	/* Every character changed, one at a time. */
	size_t n = strlen(t);
	for (size_t i = 0; i < n; i++) {
		char m[AUTH_DEVICE_TOKEN_MAX];
		memcpy(m, t, n + 1);
		m[i] = m[i] == 'A' ? 'B' : 'A';
		assert_int_equal(check(m, "ada", NOW), -1);
	}
	/* Cut short, lengthened, not base64url, empty, too long. */
	char m[2 * AUTH_DEVICE_TOKEN_MAX];
	for (size_t cut = 0; cut < n; cut += 7) {
		memcpy(m, t, cut);
		m[cut] = '\0';
		assert_int_equal(check(m, "ada", NOW), -1);
	}
	snprintf(m, sizeof(m), "%sAAAA", t);
	assert_int_equal(check(m, "ada", NOW), -1);
	snprintf(m, sizeof(m), "%s=", t);
	assert_int_equal(check(m, "ada", NOW), -1);
	snprintf(m, sizeof(m), "x.%s", t);
	assert_int_equal(check(m, "ada", NOW), -1);
	assert_int_equal(check("", "ada", NOW), -1);
	memset(m, 'A', sizeof(m) - 1);
	m[sizeof(m) - 1] = '\0';
	assert_int_equal(check(m, "ada", NOW), -1);
	/* Signed with another key (another KEK). */
	uint8_t kek2[32], key2[AUTH_DEVICE_KEY_BYTES];
	memset(kek2, 8, sizeof(kek2));
	assert_int_equal(auth_device_key_derive(kek2, sizeof(kek2), key2), 0);
	assert_memory_not_equal(key, key2, sizeof(key));
	assert_int_equal(
	    auth_device_token_issue(key2, UID, "ada", NOW, 3600, t, sizeof(t)),
	    0);
	assert_int_equal(check(t, "ada", NOW), -1);
	/* Another version, even with a right MAC. */
	uint8_t raw[200];
	size_t len;
	assert_int_equal(
	    auth_device_token_issue(key, UID, "ada", NOW, 3600, t, sizeof(t)),
	    0);
	assert_int_equal(
	    core_b64url_decode(t, strlen(t), raw, sizeof(raw), &len), 0);
	raw[0] = 2;
	crypto_auth_hmacsha256(raw + len - 32, raw, len - 32, key);
	assert_int_equal(core_b64url_encode(raw, len, t, sizeof(t)), 0);
	assert_int_equal(check(t, "ada", NOW), -1);
}

static void
test_device_token_bad_arguments(void **state)
{
	(void) state;
	char t[AUTH_DEVICE_TOKEN_MAX];
	assert_int_equal(auth_device_token_issue(
	                     key, "not-a-uuid", "ada", NOW, 60, t, sizeof(t)),
	    -1);
	assert_int_equal(
	    auth_device_token_issue(key, UID, "", NOW, 60, t, sizeof(t)), -1);
	assert_int_equal(
	    auth_device_token_issue(key, UID,
	        "abcdefghijklmnopqrstuvwxyz0123456", NOW, 60, t, sizeof(t)),
	    -1);
	assert_int_equal(
	    auth_device_token_issue(key, UID, "ada", NOW, 0, t, sizeof(t)),
	    -1);
	assert_int_equal(
	    auth_device_token_issue(key, UID, "ada", NOW, 60, t, 20), -1);
	uint8_t k[AUTH_DEVICE_KEY_BYTES];
	assert_int_equal(auth_device_key_derive(NULL, 32, k), -1);
	assert_int_equal(auth_device_key_derive(key, 16, k), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_device_token_roundtrip),
	    cmocka_unit_test(test_device_token_refused),
	    cmocka_unit_test(test_device_token_bad_arguments),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
