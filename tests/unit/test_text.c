/* Unit tests for the text helpers: core/text.h (hex, base64, RFC 3339,
 * UUID) and core/utf8.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/text.h"
#include "core/utf8.h"

/* ---- hex ---------------------------------------------------------------- */

static void
test_hex_value_reads_both_cases_and_nothing_else(void **state)
{
	(void) state;
	const char *digits = "0123456789abcdef";
	for (int v = 0; v < 16; v++) {
		assert_int_equal(core_hex_value(digits[v]), v);
	}
	assert_int_equal(core_hex_value('A'), 10);
	assert_int_equal(core_hex_value('F'), 15);
	int n_hex = 0;
	for (int c = -128; c < 128; c++) {
		n_hex += core_hex_value((char) c) >= 0;
	}
	assert_int_equal(n_hex, 22);
	static const char not_hex[] = {'g', 'G', '`', '@', '/', ':', ' ', '\0',
	    (char) 0xc1, (char) 0xe1, 'x'};
	for (size_t i = 0; i < sizeof(not_hex); i++) {
		assert_int_equal(core_hex_value(not_hex[i]), -1);
	}
}

/* ---- base64 ------------------------------------------------------------- */

/* RFC 4648 section 10. */
static const char *const b64_vectors[][2] = {{"", ""}, {"f", "Zg=="},
    {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};

static void
test_b64_encode_writes_padded_standard_base64(void **state)
{
	(void) state;
	char out[16];
	for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]);
	     i++) {
		const char *in = b64_vectors[i][0];
		assert_int_equal(core_b64_encode((const uint8_t *) in,
		                     strlen(in), out, sizeof(out)),
		    0);
		assert_string_equal(out, b64_vectors[i][1]);
		assert_int_equal(
		    CORE_B64_ENCODED_LEN(strlen(in)), strlen(out));
	}
	static const uint8_t high[] = {0xfb, 0xff, 0xbf};
	assert_int_equal(core_b64_encode(high, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "+/+/");
	assert_int_equal(core_b64_encode(high, 2, out, sizeof(out)), 0);
	assert_string_equal(out, "+/8=");
}

static void
test_b64_encode_refuses_a_small_buffer_and_leaves_it_empty(void **state)
{
	(void) state;
	char out[8];
	/* "foobar" needs 8 characters and the NUL. */
	memset(out, 'x', sizeof(out));
	assert_int_equal(
	    core_b64_encode((const uint8_t *) "foobar", 6, out, 8), -1);
	assert_string_equal(out, "");
	assert_int_equal(
	    core_b64_encode((const uint8_t *) "fooba", 5, out, 9 - 1), -1);
	assert_int_equal(core_b64_encode((const uint8_t *) "foo", 3, out, 5),
	    0); /* exactly enough */
	assert_string_equal(out, "Zm9v");
	assert_int_equal(
	    core_b64_encode((const uint8_t *) "f", 1, out, 0), -1);
	assert_int_equal(core_b64_encode((const uint8_t *) "", 0, out, 1), 0);
	assert_int_equal(core_b64_encode((const uint8_t *) "f",
	                     CORE_B64_ENCODE_MAX + 1, out, sizeof(out)),
	    -1);
}

static int
decode(const char *in, uint8_t *out, size_t cap, size_t *n)
{
	return core_b64_decode(in, strlen(in), out, cap, n);
}

static void
test_b64_decode_takes_either_alphabet_padded_or_not(void **state)
{
	(void) state;
	uint8_t out[16];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]);
	     i++) {
		const char *text = b64_vectors[i][1];
		const char *plain = b64_vectors[i][0];
		assert_int_equal(decode(text, out, sizeof(out), &n), 0);
		assert_int_equal(n, strlen(plain));
		assert_memory_equal(out, plain, n);
		/* The same without its padding. */
		size_t len = strlen(text);
		while (len > 0 && text[len - 1] == '=') {
			len--;
		}
		assert_int_equal(
		    core_b64_decode(text, len, out, sizeof(out), &n), 0);
		assert_int_equal(n, strlen(plain));
		assert_memory_equal(out, plain, n);
	}
	assert_int_equal(decode("+/8=", out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0xfb);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(decode("-_8", out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0xfb);
	assert_int_equal(out[1], 0xff);
	/* Unused low bits are ignored: "Zh" is read as "Zg". */
	assert_int_equal(decode("Zh==", out, sizeof(out), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'f');
	/* Exactly enough room. */
	assert_int_equal(decode("Zm9v", out, 3, &n), 0);
	assert_int_equal(n, 3);
}

static void
test_b64_decode_refuses_bad_text_and_small_buffers(void **state)
{
	(void) state;
	uint8_t out[16];
	size_t n = 99;
	static const char *const bad[] = {
	    "A",         /* one character carries no whole byte */
	    "Zm9vY",     /* the same after whole groups */
	    "=",         /* padding alone */
	    "==",        /* ... */
	    "Zg=",       /* padded, but not to a multiple of 4 */
	    "Zg===",     /* ... */
	    "====",      /* padding in place of digits */
	    "Zg=v",      /* '=' inside */
	    "Zm9v YmFy", /* whitespace */
	    "Zm9v\n",    /* ... */
	    "Zm9*",      /* not a digit */
	    "+_8=",      /* both alphabets */
	    "-/8=",      /* ... */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(decode(bad[i], out, sizeof(out), &n), -1);
	}
	assert_int_equal(n, 99);
	assert_int_equal(decode("Zm9vYmFy", out, 5, &n), -1);
	assert_int_equal(n, 99);

	/* The length check alone, for sizing. */
	assert_int_equal(core_b64_decoded_len("Zm9vYg==", 8, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(core_b64_decoded_len("Zm9vYg", 6, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(core_b64_decoded_len("", 0, &n), 0);
	assert_int_equal(n, 0);
	n = 99;
	assert_int_equal(core_b64_decoded_len("Zm9vY", 5, &n), -1);
	assert_int_equal(core_b64_decoded_len("Zg=", 3, &n), -1);
	assert_int_equal(n, 99);
}

/* ---- RFC 3339 ----------------------------------------------------------- */

static int
parse(const char *s, int64_t *secs, int32_t *nanos)
{
	return core_rfc3339_parse(s, strlen(s), secs, nanos);
}

static void
test_rfc3339_parse_reads_zones_fractions_and_calendar_dates(void **state)
{
	(void) state;
	int64_t secs = 0;
	int32_t nanos = 0;
	assert_int_equal(parse("1970-01-01T00:00:00Z", &secs, &nanos), 0);
	assert_true(secs == 0 && nanos == 0);
	assert_int_equal(parse("2024-02-29t12:34:56.5z", &secs, &nanos), 0);
	assert_true(secs == 1709210096);
	assert_int_equal(nanos, 500000000);
	assert_int_equal(
	    parse("2024-02-29T14:34:56.000000001+02:00", &secs, &nanos), 0);
	assert_true(secs == 1709210096);
	assert_int_equal(nanos, 1);
	assert_int_equal(parse("1969-12-31T23:59:59-00:30", &secs, &nanos), 0);
	assert_true(secs == 1799);
	assert_int_equal(parse("0001-01-01T00:00:00Z", &secs, &nanos), 0);
	assert_true(secs == CORE_RFC3339_MIN_SECONDS);
	assert_int_equal(
	    parse("9999-12-31T23:59:59.999999999Z", &secs, &nanos), 0);
	assert_true(secs == CORE_RFC3339_MAX_SECONDS);
	assert_int_equal(nanos, 999999999);
	assert_int_equal(parse("2000-02-29T00:00:00Z", &secs, &nanos), 0);
}

static void
test_rfc3339_parse_refuses_malformed_and_out_of_range_text(void **state)
{
	(void) state;
	int64_t secs = 11;
	int32_t nanos = 22;
	static const char *const bad[] = {
	    "",
	    "2024-01-01",
	    "2024-01-01T00:00:00",   /* no zone */
	    "2024-01-01 00:00:00Z",  /* space for T */
	    "2024-1-01T00:00:00Z",   /* one-digit month */
	    "2024-01-01T00:00:00.Z", /* empty fraction */
	    "2024-01-01T00:00:00.1234567890Z",
	    "2024-01-01T00:00:00Zjunk",
	    "2024-01-01T00:00:00+0100",
	    "2024-01-01T00:00:00+24:00",
	    "2024-01-01T00:00:00+01:60",
	    "2024-01-01T24:00:00Z",
	    "2024-01-01T00:60:00Z",
	    "2024-01-01T00:00:60Z", /* no leap seconds */
	    "2023-02-29T00:00:00Z",
	    "1900-02-29T00:00:00Z",
	    "2024-04-31T00:00:00Z",
	    "2024-13-01T00:00:00Z",
	    "2024-00-01T00:00:00Z",
	    "2024-01-00T00:00:00Z",
	    "0000-01-01T00:00:00Z", /* year 0 */
	    "+2024-01-01T00:00:00Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &secs, &nanos), -1);
	}
	/* Well-formed, but outside 0001..9999 once in UTC. */
	assert_int_equal(
	    parse("0001-01-01T00:00:00+00:01", &secs, &nanos), -2);
	assert_int_equal(
	    parse("9999-12-31T23:59:59-00:01", &secs, &nanos), -2);
	assert_true(secs == 11 && nanos == 22);
	/* The length bounds the text: no reading past it. */
	assert_int_equal(
	    core_rfc3339_parse("1970-01-01T00:00:00Z", 19, &secs, &nanos), -1);
}

static void
test_rfc3339_format_writes_utc_with_the_fraction_asked_for(void **state)
{
	(void) state;
	char buf[CORE_RFC3339_BUFSIZE];
	static const struct {
		int64_t secs;
		int32_t nanos;
		core_rfc3339_frac frac;
		const char *text;
	} cases[] = {
	    {0, 0, CORE_RFC3339_FRAC_PROTOBUF, "1970-01-01T00:00:00Z"},
	    {-1, 0, CORE_RFC3339_FRAC_PROTOBUF, "1969-12-31T23:59:59Z"},
	    {1709210096, 500000000, CORE_RFC3339_FRAC_PROTOBUF,
	        "2024-02-29T12:34:56.500Z"},
	    {1709210096, 120000, CORE_RFC3339_FRAC_PROTOBUF,
	        "2024-02-29T12:34:56.000120Z"},
	    {1709210096, 1, CORE_RFC3339_FRAC_PROTOBUF,
	        "2024-02-29T12:34:56.000000001Z"},
	    {1709210096, 500000000, CORE_RFC3339_FRAC_NANOS,
	        "2024-02-29T12:34:56.500000000Z"},
	    {1709210096, 0, CORE_RFC3339_FRAC_NANOS, "2024-02-29T12:34:56Z"},
	    {1709210096, 999999999, CORE_RFC3339_FRAC_NONE,
	        "2024-02-29T12:34:56Z"},
	    {CORE_RFC3339_MIN_SECONDS, 0, CORE_RFC3339_FRAC_NONE,
	        "0001-01-01T00:00:00Z"},
	    {CORE_RFC3339_MAX_SECONDS, 999999999, CORE_RFC3339_FRAC_NANOS,
	        "9999-12-31T23:59:59.999999999Z"},
	    {1709210096, 0, CORE_RFC3339_FRAC_MILLIS,
	        "2024-02-29T12:34:56.000Z"},
	    {1709210096, 120000000, CORE_RFC3339_FRAC_MILLIS,
	        "2024-02-29T12:34:56.120Z"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    core_rfc3339_format(cases[i].secs, cases[i].nanos,
		        cases[i].frac, buf, sizeof(buf)),
		    0);
		assert_string_equal(buf, cases[i].text);
		/* What it writes reads back. */
		int64_t s;
		int32_t n;
		assert_int_equal(parse(buf, &s, &n), 0);
		assert_true(s == cases[i].secs);
		assert_int_equal(n, cases[i].frac == CORE_RFC3339_FRAC_NONE
		                        ? 0
		                        : cases[i].nanos);
	}
	/* Milliseconds are cut, not rounded. */
	assert_int_equal(core_rfc3339_format(0, 999999999,
	                     CORE_RFC3339_FRAC_MILLIS, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "1970-01-01T00:00:00.999Z");
}

static void
test_rfc3339_format_refuses_what_rfc3339_cannot_write(void **state)
{
	(void) state;
	char buf[CORE_RFC3339_BUFSIZE];
	static const struct {
		int64_t secs;
		int32_t nanos;
	} bad[] = {
	    {CORE_RFC3339_MIN_SECONDS - 1, 0},
	    {CORE_RFC3339_MAX_SECONDS + 1, 0},
	    {INT64_MIN, 0},
	    {INT64_MAX, 0},
	    {0, -1},
	    {0, 1000000000},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(buf, 'x', sizeof(buf));
		assert_int_equal(
		    core_rfc3339_format(bad[i].secs, bad[i].nanos,
		        CORE_RFC3339_FRAC_PROTOBUF, buf, sizeof(buf)),
		    -1);
		assert_string_equal(buf, "");
	}
	/* "1970-01-01T00:00:00Z" is 20 characters: 21 bytes fit it. */
	assert_int_equal(
	    core_rfc3339_format(0, 0, CORE_RFC3339_FRAC_NONE, buf, 20), -1);
	assert_string_equal(buf, "");
	assert_int_equal(
	    core_rfc3339_format(0, 0, CORE_RFC3339_FRAC_NONE, buf, 21), 0);
	assert_int_equal(
	    core_rfc3339_format(0, 0, CORE_RFC3339_FRAC_NONE, buf, 0), -1);
}

/* ---- UUID --------------------------------------------------------------- */

static void
test_uuid_valid_takes_only_the_8_4_4_4_12_hex_form(void **state)
{
	(void) state;
	assert_true(core_uuid_valid("123e4567-e89b-12d3-a456-426614174000"));
	assert_true(core_uuid_valid("123E4567-E89B-12D3-A456-426614174000"));
	assert_true(core_uuid_valid("00000000-0000-0000-0000-000000000000"));
	static const char *const bad[] = {
	    "",
	    "123e4567-e89b-12d3-a456-42661417400",   /* short */
	    "123e4567-e89b-12d3-a456-4266141740000", /* long */
	    "123e4567e89b12d3a456426614174000",      /* no dashes */
	    "123e456-7e89b-12d3-a456-426614174000",  /* dash moved */
	    "123e4567-e89b-12d3-a456-42661417400g",  /* not hex */
	    "{123e4567-e89b-12d3-a456-426614174000}",
	    " 123e4567-e89b-12d3-a456-426614174000",
	    "123e4567-e89b-12d3-a456+426614174000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(core_uuid_valid(bad[i]));
	}
}

/* ---- UTF-8 -------------------------------------------------------------- */

static void
test_utf8_seq_len_measures_well_formed_sequences_only(void **state)
{
	(void) state;
	static const struct {
		const char *s;
		size_t n, len;
	} cases[] = {
	    {"a", 1, 1}, {"\x7f", 1, 1}, {"\xc3\xa9", 2, 2}, /* e acute */
	    {"\xe2\x82\xac", 3, 3},                          /* euro sign */
	    {"\xf0\x9f\x98\x80", 4, 4},                      /* emoji */
	    {"\xf4\x8f\xbf\xbf", 4, 4},                      /* U+10FFFF */
	    {"\xc3\xa9xyz", 5, 2},      /* only the first character */
	    {"", 0, 0}, {"\x80", 1, 0}, /* a lone continuation byte */
	    {"\xc0\x80", 2, 0},         /* overlong NUL */
	    {"\xc1\xbf", 2, 0},         /* overlong */
	    {"\xe0\x80\x80", 3, 0},     /* overlong */
	    {"\xf0\x80\x80\x80", 4, 0}, /* overlong */
	    {"\xed\xa0\x80", 3, 0},     /* surrogate U+D800 */
	    {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
	    {"\xf5\x80\x80\x80", 4, 0}, {"\xff", 1, 0},
	    {"\xe2\x82", 2, 0},     /* truncated */
	    {"\xe2\x82\xac", 2, 0}, /* cut by n */
	    {"\xe2\x28\xa1", 3, 0}, /* bad continuation */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    core_utf8_seq_len(cases[i].s, cases[i].n), cases[i].len);
		assert_int_equal(
		    core_utf8_valid(cases[i].s, cases[i].len), true);
		if (cases[i].len == 0 && cases[i].n > 0) {
			assert_false(core_utf8_valid(cases[i].s, cases[i].n));
		}
	}
	assert_true(core_utf8_valid("a\0b", 3)); /* NUL is valid UTF-8 */
	assert_true(core_utf8_valid("caf\xc3\xa9 \xe2\x82\xac", 9));
	assert_false(core_utf8_valid("caf\xc3\xa9 \xe2\x82", 8));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hex_value_reads_both_cases_and_nothing_else),
	    cmocka_unit_test(test_b64_encode_writes_padded_standard_base64),
	    cmocka_unit_test(
	        test_b64_encode_refuses_a_small_buffer_and_leaves_it_empty),
	    cmocka_unit_test(
	        test_b64_decode_takes_either_alphabet_padded_or_not),
	    cmocka_unit_test(
	        test_b64_decode_refuses_bad_text_and_small_buffers),
	    cmocka_unit_test(
	        test_rfc3339_parse_reads_zones_fractions_and_calendar_dates),
	    cmocka_unit_test(
	        test_rfc3339_parse_refuses_malformed_and_out_of_range_text),
	    cmocka_unit_test(
	        test_rfc3339_format_writes_utc_with_the_fraction_asked_for),
	    cmocka_unit_test(
	        test_rfc3339_format_refuses_what_rfc3339_cannot_write),
	    cmocka_unit_test(
	        test_uuid_valid_takes_only_the_8_4_4_4_12_hex_form),
	    cmocka_unit_test(
	        test_utf8_seq_len_measures_well_formed_sequences_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
