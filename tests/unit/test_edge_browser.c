/* The edge's browser rules: origins, cookies, content types, unescaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/utf8.h"
#include "browser.h"
#include "static.h"

static void
test_origin_list(void **state)
{
	(void) state;
	edge_origins o;
	char err[256];
	assert_int_equal(
	    edge_origins_parse(&o,
	        " https://app.example.com, http://localhost:5173,,", err,
	        sizeof(err)),
	    0);
	assert_int_equal(o.n, 2);
	assert_true(edge_origin_listed(&o, "https://app.example.com"));
	assert_true(edge_origin_listed(&o, "HTTPS://APP.example.com"));
	assert_true(edge_origin_listed(&o, "http://localhost:5173"));
	assert_false(edge_origin_listed(&o, "https://app.example.com.evil"));
	assert_false(edge_origin_listed(&o, "http://app.example.com"));
	assert_false(edge_origin_listed(&o, "null"));

	assert_int_equal(edge_origins_parse(&o, "", err, sizeof(err)), 0);
	assert_int_equal(o.n, 0);
	assert_false(edge_origin_listed(&o, ""));

	const char *bad[] = {"app.example.com", "https://app.example.com/",
	    "https://app.example.com/x", "ftp://a", "https://", "https://:80",
	    "*", "null", "https://a b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
		    edge_origins_parse(&o, bad[i], err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
	}
	char many[2000] = "";
	for (int i = 0; i < 17; i++) {
		size_t n = strlen(many);
		snprintf(
		    many + n, sizeof(many) - n, "https://h%d.example,", i);
	}
	assert_int_equal(edge_origins_parse(&o, many, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most"));
}

static void
test_same_host(void **state)
{
	(void) state;
	assert_true(
	    edge_origin_same_host("http://127.0.0.1:8080", "127.0.0.1:8080"));
	assert_true(
	    edge_origin_same_host("https://Example.com", "example.com"));
	assert_false(
	    edge_origin_same_host("http://127.0.0.1:8081", "127.0.0.1:8080"));
	assert_false(
	    edge_origin_same_host("http://evil.example", "127.0.0.1:8080"));
	assert_false(edge_origin_same_host("null", "null"));
	assert_false(edge_origin_same_host("file://x", "x"));
	assert_false(edge_origin_same_host("http://x", NULL));
	assert_false(edge_origin_same_host("http://x/", "x/"));
}

static void
test_cookie_format(void **state)
{
	(void) state;
	char c[256];
	assert_int_equal(edge_cookie_format(c, sizeof(c), "__Host-access",
	                     "eyJ.a-b_c", 900, true),
	    0);
	assert_string_equal(c, "__Host-access=eyJ.a-b_c; Path=/; Max-Age=900; "
	                       "HttpOnly; Secure; SameSite=Strict");
	assert_int_equal(
	    edge_cookie_format(c, sizeof(c), "access", "", 0, false), 0);
	assert_string_equal(
	    c, "access=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
	assert_int_equal(
	    edge_cookie_format(c, sizeof(c), "a", "x", -5, false), 0);
	assert_non_null(strstr(c, "Max-Age=0;"));
	/* Characters that would end or split the cookie. */
	const char *bad[] = {"a;b", "a b", "a,b", "a\"b", "a\\b", "a\r\nX: y",
	    "\x7f", "\xc3\xa9"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    edge_cookie_format(c, sizeof(c), "a", bad[i], 1, true),
		    -1);
	}
	char small[16];
	assert_int_equal(edge_cookie_format(small, sizeof(small), "access",
	                     "0123456789", 1, true),
	    -1);
}

static void
test_json_type(void **state)
{
	(void) state;
	assert_true(edge_is_json_type("application/json"));
	assert_true(edge_is_json_type("Application/JSON; charset=utf-8"));
	assert_true(edge_is_json_type("application/json ;charset=utf-8"));
	assert_false(edge_is_json_type(NULL));
	assert_false(edge_is_json_type(""));
	assert_false(edge_is_json_type("text/plain"));
	assert_false(edge_is_json_type("application/jsonp"));
	assert_false(edge_is_json_type("application/x-www-form-urlencoded"));
	assert_false(edge_is_json_type("multipart/form-data; boundary=x"));
}

static void
test_unescape(void **state)
{
	(void) state;
	char a[] = "/a%2e%2E/%41%zz%4";
	assert_int_equal(edge_unescape(a), strlen("/a../A%zz%4"));
	assert_string_equal(a, "/a../A%zz%4");
	char b[] = "/index.html%00.js";
	edge_unescape(b);
	assert_string_equal(b, "/index.html%00.js");
	char c[] = "%ff%";
	assert_int_equal(edge_unescape(c), 2);
	assert_memory_equal(c, "\xff%", 3);
}

static void
test_etag_match(void **state)
{
	(void) state;
	const char *t = "\"0123456789abcdef\"";
	assert_true(edge_static_etag_match(t, t));
	assert_true(edge_static_etag_match("W/\"0123456789abcdef\"", t));
	assert_true(edge_static_etag_match("\"x\", \"0123456789abcdef\"", t));
	assert_true(edge_static_etag_match("*", t));
	assert_false(edge_static_etag_match("\"0123456789abcde\"", t));
	assert_false(edge_static_etag_match("\"0123456789abcdef0\"", t));
	assert_false(edge_static_etag_match("", t));
}

/* Text from a client (a User-Agent, a name for an error detail) made fit
 * for a string field or a JSON document: valid UTF-8, cut between
 * characters, invalid bytes as U+FFFD. */
static void
test_utf8_clip(void **state)
{
	(void) state;
	char out[16];
	assert_int_equal(core_utf8_clean(out, sizeof(out), "plain"), 5);
	assert_string_equal(out, "plain");
	/* "é" is two bytes: 15 bytes of room hold 7 of them, never half. */
	assert_int_equal(core_utf8_clean(out, sizeof(out),
	                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
	                     "\xa9\xc3\xa9\xc3\xa9"),
	    14);
	assert_string_equal(
	    out, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	/* Latin-1 "Café": the lone 0xE9 becomes U+FFFD. */
	assert_int_equal(core_utf8_clean(out, sizeof(out), "Caf\xe9!"), 7);
	assert_string_equal(out, "Caf\xef\xbf\xbd!");
	/* Each invalid byte is one U+FFFD: a truncated sequence, a stray
	 * continuation byte, an overlong form, a surrogate. */
	char big[64];
	core_utf8_clean(big, sizeof(big), "\xe2\x82x\x80\xc0\xaf\xed\xa0\x80");
	assert_string_equal(big,
	    "\xef\xbf\xbd\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	/* A replacement that does not fit is left out whole too. */
	char four[5];
	assert_int_equal(core_utf8_clean(four, sizeof(four), "ab\xff"), 2);
	assert_string_equal(four, "ab");
	assert_int_equal(
	    core_utf8_clean(four, sizeof(four), "\xf0\x9f\x98\x80"),
	    4); /* U+1F600 fits exactly */
	assert_int_equal(core_utf8_clean(four, 4, "\xf0\x9f\x98\x80"), 0);
	assert_string_equal(four, "");
	char one[1];
	assert_int_equal(core_utf8_clean(one, 1, "x"), 0);
	assert_string_equal(one, "");
	assert_int_equal(core_utf8_clean(out, sizeof(out), ""), 0);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_origin_list),
	    cmocka_unit_test(test_same_host),
	    cmocka_unit_test(test_cookie_format),
	    cmocka_unit_test(test_json_type),
	    cmocka_unit_test(test_unescape),
	    cmocka_unit_test(test_etag_match),
	    cmocka_unit_test(test_utf8_clip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
