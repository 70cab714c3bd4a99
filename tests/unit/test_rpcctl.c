/* rpcctl's pure parts (no servers): the protobuf text format printer
 * against what protoc --decode prints, and the "did you mean" ranking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test/v1/test.pb-c.h"

#include "suggest.h"
#include "text_format.h"

/* Wire bytes made by `protoc --encode=test.v1.AllTypes test/v1/test.proto`
 * from this text (every field kind, maps with repeated and absent keys,
 * floats that need the longer precision, proto3 zeros set in oneofs):
 *
 *   f_int32: -7  f_int64: -5  f_uint64: 18446744073709551615  f_sint32: -3
 *   f_fixed32: 4294967295  f_sfixed64: -1  f_float: 3.4028235e38
 *   f_double: -0  f_bool: true
 *   f_string: "a\"b\'c\\d\n\t\r\001\177\303\251 ~"
 *   f_bytes: "\000\377ab\200?"  f_enum: COLOR_BLUE  f_message { }
 *   r_int32: 0  r_int32: -1  r_string: ""  r_string: "q"  r_bytes: ""
 *   r_enum: 7  r_enum: COLOR_GREEN
 *   r_double: 0.1 1e300 inf -inf nan 123456789012345678 1e-7 100000 1e16
 *             0.30000000000000004 (one r_double each)
 *   r_bool: true  r_bool: false
 *   m_string_int32 { key: "b" value: 1 }
 *   m_string_int32 { key: "a" value: 2 }
 *   m_string_int32 { key: "b" value: 3 }  m_string_int32 { }
 *   m_int64_string { key: 10 value: "x" }
 *   m_int64_string { key: -2 value: "y" }
 *   m_bool_inner { key: true value { name: "t" } }
 *   m_bool_inner { key: false }
 *   m_uint32_enum { key: 3 value: COLOR_RED }  m_uint32_enum { key: 0 }
 *   o_int32: 0  o_string: ""
 *   c_inner { name: "z" child { child { value: -1 } } }
 *   f_timestamp { seconds: 1 nanos: 2 }
 *
 * and the text is what `protoc --decode=test.v1.AllTypes` (3.21) prints for
 * them. */
static const char all_bin[] =
    "\x08\xf9\xff\xff\xff\xff\xff\xff\xff\xff\x01\x10\xfb\xff\xff\xff"
    "\xff\xff\xff\xff\xff\x01\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    "\x01\x28\x05\x3d\xff\xff\xff\xff\x51\xff\xff\xff\xff\xff\xff\xff"
    "\xff\x5d\xff\xff\x7f\x7f\x61\x00\x00\x00\x00\x00\x00\x00\x80\x68"
    "\x01\x72\x10\x61\x22\x62\x27\x63\x5c\x64\x0a\x09\x0d\x01\x7f\xc3"
    "\xa9\x20\x7e\x7a\x06\x00\xff\x61\x62\x80\x3f\x80\x01\xfd\xff\xff"
    "\xff\xff\xff\xff\xff\xff\x01\x8a\x01\x00\xaa\x01\x0b\x00\xff\xff"
    "\xff\xff\xff\xff\xff\xff\xff\x01\xba\x01\x00\xba\x01\x01\x71\xc2"
    "\x01\x00\xca\x01\x02\x07\x02\xda\x01\x50\x9a\x99\x99\x99\x99\x99"
    "\xb9\x3f\x9c\x75\x00\x88\x3c\xe4\x37\x7e\x00\x00\x00\x00\x00\x00"
    "\xf0\x7f\x00\x00\x00\x00\x00\x00\xf0\xff\x00\x00\x00\x00\x00\x00"
    "\xf8\x7f\x35\x0f\x63\xba\xb4\x69\x7b\x43\x48\xaf\xbc\x9a\xf2\xd7"
    "\x7a\x3e\x00\x00\x00\x00\x00\x6a\xf8\x40\x00\x80\xe0\x37\x79\xc3"
    "\x41\x43\x34\x33\x33\x33\x33\x33\xd3\x3f\xe2\x01\x02\x01\x00\xfa"
    "\x01\x05\x0a\x01\x62\x10\x01\xfa\x01\x05\x0a\x01\x61\x10\x02\xfa"
    "\x01\x05\x0a\x01\x62\x10\x03\xfa\x01\x04\x0a\x00\x10\x00\x82\x02"
    "\x05\x08\x0a\x12\x01\x78\x82\x02\x0e\x08\xfe\xff\xff\xff\xff\xff"
    "\xff\xff\xff\x01\x12\x01\x79\x8a\x02\x07\x08\x01\x12\x03\x0a\x01"
    "\x74\x8a\x02\x04\x08\x00\x12\x00\x92\x02\x04\x08\x03\x10\x01\x92"
    "\x02\x04\x08\x00\x10\x00\xc8\x02\x00\xd2\x02\x00\xaa\x03\x12\x0a"
    "\x01\x7a\x1a\x0d\x1a\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    "\x01\xea\x03\x04\x08\x01\x10\x02";

static const char all_text[] =
    "f_int32: -7\n"
    "f_int64: -5\n"
    "f_uint64: 18446744073709551615\n"
    "f_sint32: -3\n"
    "f_fixed32: 4294967295\n"
    "f_sfixed64: -1\n"
    "f_float: 3.40282347e+38\n"
    "f_double: -0\n"
    "f_bool: true\n"
    "f_string: \"a\\\"b\\'c\\\\d\\n\\t\\r\\001\\177\\303\\251 ~\"\n"
    "f_bytes: \"\\000\\377ab\\200?\"\n"
    "f_enum: COLOR_BLUE\n"
    "f_message {\n"
    "}\n"
    "r_int32: 0\n"
    "r_int32: -1\n"
    "r_string: \"\"\n"
    "r_string: \"q\"\n"
    "r_bytes: \"\"\n"
    "r_enum: 7\n"
    "r_enum: COLOR_GREEN\n"
    "r_double: 0.1\n"
    "r_double: 1e+300\n"
    "r_double: inf\n"
    "r_double: -inf\n"
    "r_double: nan\n"
    "r_double: 1.2345678901234568e+17\n"
    "r_double: 1e-07\n"
    "r_double: 100000\n"
    "r_double: 1e+16\n"
    "r_double: 0.30000000000000004\n"
    "r_bool: true\n"
    "r_bool: false\n"
    "m_string_int32 {\n"
    "  key: \"\"\n"
    "  value: 0\n"
    "}\n"
    "m_string_int32 {\n"
    "  key: \"a\"\n"
    "  value: 2\n"
    "}\n"
    "m_string_int32 {\n"
    "  key: \"b\"\n"
    "  value: 1\n"
    "}\n"
    "m_string_int32 {\n"
    "  key: \"b\"\n"
    "  value: 3\n"
    "}\n"
    "m_int64_string {\n"
    "  key: -2\n"
    "  value: \"y\"\n"
    "}\n"
    "m_int64_string {\n"
    "  key: 10\n"
    "  value: \"x\"\n"
    "}\n"
    "m_bool_inner {\n"
    "  key: false\n"
    "  value {\n"
    "  }\n"
    "}\n"
    "m_bool_inner {\n"
    "  key: true\n"
    "  value {\n"
    "    name: \"t\"\n"
    "  }\n"
    "}\n"
    "m_uint32_enum {\n"
    "  key: 0\n"
    "  value: COLOR_UNSPECIFIED\n"
    "}\n"
    "m_uint32_enum {\n"
    "  key: 3\n"
    "  value: COLOR_RED\n"
    "}\n"
    "o_int32: 0\n"
    "o_string: \"\"\n"
    "c_inner {\n"
    "  name: \"z\"\n"
    "  child {\n"
    "    child {\n"
    "      value: -1\n"
    "    }\n"
    "  }\n"
    "}\n"
    "f_timestamp {\n"
    "  seconds: 1\n"
    "  nanos: 2\n"
    "}\n";

/* test.v1.Inner {name: "n"} followed by fields Inner does not declare:
 * varints (one of them -1 as ten bytes), fixed32, fixed64, and
 * length-delimited values that protoc shows as strings or, when they parse
 * as fields, as nested blocks (a group inside one; "hi" happens to parse);
 * the text is protoc's --decode=test.v1.Inner output. */
static const char u_bin[] =
    "\x0a\x01\x6e\xa0\x06\x05\xa0\x06\xff\xff\xff\xff\xff\xff\xff\xff"
    "\xff\x01\xad\x06\x01\x02\x03\x04\xb1\x06\x01\x00\x00\x00\x00\x00"
    "\x00\x80\xba\x06\x03\x61\x62\x63\xba\x06\x02\x08\x07\xba\x06\x00"
    "\xc2\x06\x04\x08\x01\x12\x00\xca\x06\x04\x4b\x08\x02\x4c\xd2\x06"
    "\x01\x08\xda\x06\x02\x68\x69\xe2\x06\x02\x4c\x00\xea\x06\x03\x0a"
    "\x01\x0a";

static const char u_text[] = "name: \"n\"\n"
                             "100: 5\n"
                             "100: 18446744073709551615\n"
                             "101: 0x04030201\n"
                             "102: 0x8000000000000001\n"
                             "103: \"abc\"\n"
                             "103 {\n"
                             "  1: 7\n"
                             "}\n"
                             "103: \"\"\n"
                             "104 {\n"
                             "  1: 1\n"
                             "  2: \"\"\n"
                             "}\n"
                             "105 {\n"
                             "  9 {\n"
                             "    1: 2\n"
                             "  }\n"
                             "}\n"
                             "106: \"\\010\"\n"
                             "107 {\n"
                             "  13: 105\n"
                             "}\n"
                             "108: \"L\\000\"\n"
                             "109 {\n"
                             "  1: \"\\n\"\n"
                             "}\n";

/* Decodes bin as desc with protobuf-c and renders it. */
static char *
render(const ProtobufCMessageDescriptor *desc, const char *bin, size_t len)
{
	ProtobufCMessage *m =
	    protobuf_c_message_unpack(desc, NULL, len, (const uint8_t *) bin);
	assert_non_null(m);
	size_t n = 0;
	char *text = rpcctl_text_format(m, &n);
	protobuf_c_message_free_unpacked(m, NULL);
	assert_non_null(text);
	assert_int_equal(n, strlen(text));
	return text;
}

static void
test_text_format_matches_protoc_decode_for_every_field_kind(void **state)
{
	(void) state;
	char *text = render(
	    &test__v1__all_types__descriptor, all_bin, sizeof(all_bin) - 1);
	assert_string_equal(text, all_text);
	free(text);
}

static void
test_text_format_prints_unknown_fields_like_protoc(void **state)
{
	(void) state;
	char *text =
	    render(&test__v1__inner__descriptor, u_bin, sizeof(u_bin) - 1);
	assert_string_equal(text, u_text);
	free(text);
}

static void
test_text_format_omits_proto3_defaults_unless_set_in_a_oneof(void **state)
{
	(void) state;
	Test__V1__AllTypes m = TEST__V1__ALL_TYPES__INIT;
	char *text = rpcctl_text_format(&m.base, NULL);
	assert_string_equal(text, ""); /* protoc prints nothing either */
	free(text);

	m.has_o_string_case = TEST__V1__ALL_TYPES__HAS_O_STRING_O_STRING;
	m.o_string = "";
	m.choice_case = TEST__V1__ALL_TYPES__CHOICE_C_INT64;
	m.c_int64 = 0;
	m.f_int64 = 0;
	m.f_string = "";
	text = rpcctl_text_format(&m.base, NULL);
	assert_string_equal(text, "o_string: \"\"\nc_int64: 0\n");
	free(text);
}

static void
test_text_format_refuses_nesting_deeper_than_the_limit(void **state)
{
	(void) state;
	enum { N = RPCCTL_TEXT_MAX_DEPTH + 2 };
	Test__V1__Inner *chain = calloc(N, sizeof(*chain));
	assert_non_null(chain);
	for (int i = 0; i < N; i++) {
		test__v1__inner__init(&chain[i]);
		chain[i].child = i + 1 < N ? &chain[i + 1] : NULL;
	}
	assert_null(rpcctl_text_format(&chain[0].base, NULL));
	/* One level less is still printed. */
	chain[N - 2].child = NULL;
	char *text = rpcctl_text_format(&chain[0].base, NULL);
	assert_non_null(text);
	free(text);
	free(chain);
}

static void
test_edit_distance_counts_edits_ignoring_case(void **state)
{
	(void) state;
	assert_int_equal(rpcctl_edit_distance("", ""), 0);
	assert_int_equal(rpcctl_edit_distance("abc", ""), 3);
	assert_int_equal(rpcctl_edit_distance("", "abc"), 3);
	assert_int_equal(rpcctl_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(rpcctl_edit_distance("auth.Logn", "auth.Login"), 1);
	assert_int_equal(rpcctl_edit_distance("AUTH.login", "auth.Login"), 0);
	assert_int_equal(rpcctl_edit_distance("GetJwks", "GetJkws"), 1);
	/* Optimal string alignment: no edit of an already swapped pair. */
	assert_int_equal(rpcctl_edit_distance("ca", "abc"), 3);
}

static void
test_edit_distance_gives_up_on_very_long_strings(void **state)
{
	(void) state;
	char *s = malloc(RPCCTL_SUGGEST_MAX_LEN + 2);
	assert_non_null(s);
	memset(s, 'a', RPCCTL_SUGGEST_MAX_LEN + 1);
	s[RPCCTL_SUGGEST_MAX_LEN + 1] = '\0';
	assert_int_equal(rpcctl_edit_distance(s, "a"), SIZE_MAX);
	s[RPCCTL_SUGGEST_MAX_LEN] = '\0';
	assert_int_equal(
	    rpcctl_edit_distance(s, "a"), RPCCTL_SUGGEST_MAX_LEN - 1);
	free(s);
}

static void
test_suggest_threshold_grows_with_length_within_bounds(void **state)
{
	(void) state;
	assert_int_equal(rpcctl_suggest_threshold(0), 1);
	assert_int_equal(rpcctl_suggest_threshold(4), 1);
	assert_int_equal(rpcctl_suggest_threshold(9), 3);
	assert_int_equal(rpcctl_suggest_threshold(40), 4);
}

static const rpcctl_spelling methods[] = {
    {"auth.Register", 0},
    {"Register", 0},
    {"auth.Login", 1},
    {"Login", 1},
    {"auth.Logout", 2},
    {"Logout", 2},
    {"auth.GetJwks", 3},
    {"GetJwks", 3},
    {"user.GetProfile", 4},
    {"GetProfile", 4},
};

#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

static void
test_suggest_ranks_closest_first(void **state)
{
	(void) state;
	size_t ids[3];
	size_t n = rpcctl_suggest("auth.Logn", methods, N_METHODS, ids, 3);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 1); /* auth.Login: 1 */
	assert_int_equal(ids[1], 2); /* auth.Logout: 3 */
	n = rpcctl_suggest("auth.Logoot", methods, N_METHODS, ids, 3);
	assert_true(n >= 1);
	assert_int_equal(ids[0], 2);
}

static void
test_suggest_ranks_a_candidate_by_its_closest_spelling(void **state)
{
	(void) state;
	size_t ids[3];
	/* "Logni" is 2 from "Login" and 3 from "Logout" (each through its
	 * bare spelling), far from every "auth." one. */
	size_t n = rpcctl_suggest("logni", methods, N_METHODS, ids, 3);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 1);
	n = rpcctl_suggest("GETPROFILE", methods, N_METHODS, ids, 3);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 4);
}

static void
test_suggest_caps_the_count_and_finds_nothing_far_away(void **state)
{
	(void) state;
	static const rpcctl_spelling near[] = {
	    {"abcd", 0}, {"abce", 1}, {"abcf", 2}, {"abcg", 3}, {"abch", 4}};
	size_t ids[3];
	size_t n = rpcctl_suggest("abcx", near, 5, ids, 3);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ids[1], 1);
	assert_int_equal(ids[2], 2);
	n = rpcctl_suggest("abch", near, 5, ids, 1);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 4); /* exact beats earlier near-misses */
	assert_int_equal(
	    rpcctl_suggest("shutdown", methods, N_METHODS, ids, 3), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_text_format_matches_protoc_decode_for_every_field_kind),
	    cmocka_unit_test(
	        test_text_format_prints_unknown_fields_like_protoc),
	    cmocka_unit_test(
	        test_text_format_omits_proto3_defaults_unless_set_in_a_oneof),
	    cmocka_unit_test(
	        test_text_format_refuses_nesting_deeper_than_the_limit),
	    cmocka_unit_test(test_edit_distance_counts_edits_ignoring_case),
	    cmocka_unit_test(test_edit_distance_gives_up_on_very_long_strings),
	    cmocka_unit_test(
	        test_suggest_threshold_grows_with_length_within_bounds),
	    cmocka_unit_test(test_suggest_ranks_closest_first),
	    cmocka_unit_test(
	        test_suggest_ranks_a_candidate_by_its_closest_spelling),
	    cmocka_unit_test(
	        test_suggest_caps_the_count_and_finds_nothing_far_away),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
