/* Unit tests for core/pbfield.h: field access through protobuf-c
 * descriptors, on the generated test.v1.AllTypes (proto3) and on a small
 * hand-written proto2-style descriptor (has_ flags, required fields,
 * defaults), which no .proto of the project has. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "test/v1/test.pb-c.h"

#include "core/pbfield.h"

static const ProtobufCMessageDescriptor *const all_desc =
    &test__v1__all_types__descriptor;

static const ProtobufCFieldDescriptor *
field(const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(all_desc, name);
	assert_non_null(f);
	return f;
}

/* ---- a proto2-style message, by hand ------------------------------------ */

typedef struct legacy {
	ProtobufCMessage base;
	protobuf_c_boolean has_count;
	int32_t count;
	char *label;  /* optional string: presence is the pointer */
	int64_t must; /* required */
	size_t n_tags;
	int32_t *tags;
} legacy;

static const char label_default[] = "none";

/* Fields sorted by number; the by-name index sorted by name. */
static const ProtobufCFieldDescriptor legacy_fields[] = {
    {"count", 1, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_INT32,
        offsetof(legacy, has_count), offsetof(legacy, count), NULL, NULL, 0, 0,
        NULL, NULL},
    {"label", 2, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_STRING, 0,
        offsetof(legacy, label), NULL, label_default, 0, 0, NULL, NULL},
    {"must", 3, PROTOBUF_C_LABEL_REQUIRED, PROTOBUF_C_TYPE_INT64, 0,
        offsetof(legacy, must), NULL, NULL, 0, 0, NULL, NULL},
    {"tags", 4, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_INT32,
        offsetof(legacy, n_tags), offsetof(legacy, tags), NULL, NULL, 0, 0,
        NULL, NULL},
};
static const unsigned legacy_by_name[] = {0, 1, 2, 3};
static const ProtobufCIntRange legacy_ranges[] = {{1, 0}, {0, 4}};

static void legacy_init(ProtobufCMessage *m);

static const ProtobufCMessageDescriptor legacy_desc = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "test.Legacy", "Legacy", "Legacy",
    "test", sizeof(legacy), 4, legacy_fields, legacy_by_name, 1, legacy_ranges,
    legacy_init, NULL, NULL, NULL};

static void
legacy_init(ProtobufCMessage *m)
{
	legacy *l = (legacy *) m;
	memset(l, 0, sizeof(*l));
	l->base.descriptor = &legacy_desc;
	l->label = (char *) (uintptr_t) label_default;
}

/* ---- types and descriptors ---------------------------------------------- */

static void
test_type_names_and_sizes_cover_every_type_and_refuse_others(void **state)
{
	(void) state;
	assert_string_equal(core_pb_type_name(PROTOBUF_C_TYPE_INT32), "int32");
	assert_string_equal(
	    core_pb_type_name(PROTOBUF_C_TYPE_SFIXED64), "sfixed64");
	assert_string_equal(core_pb_type_name(PROTOBUF_C_TYPE_ENUM), "enum");
	assert_string_equal(
	    core_pb_type_name(PROTOBUF_C_TYPE_MESSAGE), "message");
	for (int t = PROTOBUF_C_TYPE_INT32; t <= PROTOBUF_C_TYPE_MESSAGE;
	     t++) {
		assert_non_null(core_pb_type_name((ProtobufCType) t));
		assert_true(core_pb_type_size((ProtobufCType) t) > 0);
	}
	assert_null(core_pb_type_name((ProtobufCType) 99));
	assert_null(core_pb_type_name((ProtobufCType) -1));
	assert_int_equal(core_pb_type_size((ProtobufCType) 99), 0);

	assert_int_equal(core_pb_type_size(PROTOBUF_C_TYPE_SINT32), 4);
	assert_int_equal(core_pb_type_size(PROTOBUF_C_TYPE_UINT64), 8);
	assert_int_equal(core_pb_type_size(PROTOBUF_C_TYPE_BOOL),
	    sizeof(protobuf_c_boolean));
	assert_int_equal(core_pb_type_size(PROTOBUF_C_TYPE_BYTES),
	    sizeof(ProtobufCBinaryData));
	assert_int_equal(
	    core_pb_type_size(PROTOBUF_C_TYPE_STRING), sizeof(char *));
}

static void
test_map_fields_are_recognised_by_their_entry_shape(void **state)
{
	(void) state;
	assert_true(core_pb_is_map_field(field("m_string_int32")));
	assert_true(core_pb_is_map_field(field("m_bool_inner")));
	/* Repeated messages that are not "...Entry" with fields 1 and 2. */
	assert_false(core_pb_is_map_field(field("r_message")));
	assert_false(core_pb_is_map_field(field("r_int32")));
	assert_false(core_pb_is_map_field(field("f_message")));
	assert_false(core_pb_is_map_field(&legacy_fields[3]));
}

static void
test_same_oneof_groups_members_by_their_case(void **state)
{
	(void) state;
	assert_true(core_pb_same_oneof(field("c_string"), field("c_inner")));
	assert_true(core_pb_same_oneof(field("c_int64"), field("c_int64")));
	assert_false(core_pb_same_oneof(field("c_string"), field("o_string")));
	assert_false(core_pb_same_oneof(field("o_int32"), field("o_string")));
	/* Fields outside any oneof share nothing, not even with
	 * themselves. */
	assert_false(core_pb_same_oneof(field("f_int32"), field("f_int32")));
	assert_false(core_pb_same_oneof(field("f_int32"), field("c_string")));
}

static void
test_field_find_takes_proto_and_json_names_only(void **state)
{
	(void) state;
	assert_ptr_equal(
	    core_pb_field_find(all_desc, "f_int32"), field("f_int32"));
	assert_ptr_equal(
	    core_pb_field_find(all_desc, "fInt32"), field("f_int32"));
	assert_ptr_equal(core_pb_field_find(all_desc, "mStringInt32"),
	    field("m_string_int32"));
	assert_ptr_equal(
	    core_pb_field_find(all_desc, "cInner"), field("c_inner"));
	assert_ptr_equal(
	    core_pb_field_find(&legacy_desc, "label"), &legacy_fields[1]);

	static const char *const wrong[] = {"", "F_int32", "f_Int32", "fint32",
	    "f__int32", "FInt32", "fInt32x", "f_int3", "unknown",
	    "m_stringInt32x", "choice"};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		assert_null(core_pb_field_find(all_desc, wrong[i]));
	}
}

/* ---- storage and presence ----------------------------------------------- */

static void
test_field_ptr_is_the_generated_member(void **state)
{
	(void) state;
	Test__V1__AllTypes m = TEST__V1__ALL_TYPES__INIT;
	ProtobufCMessage *base = &m.base;
	assert_ptr_equal(
	    core_pb_field_ptr(base, field("f_double")), &m.f_double);
	assert_ptr_equal(
	    core_pb_field_cptr(base, field("c_inner")), &m.c_inner);
	assert_ptr_equal(
	    core_pb_field_cptr(base, field("r_string")), &m.r_string);

	int64_t arr[3] = {1, 2, 3};
	assert_int_equal(core_pb_repeated_count(base, field("r_int64")), 0);
	core_pb_repeated_set(base, field("r_int64"), arr, 3);
	assert_ptr_equal(m.r_int64, arr);
	assert_int_equal(m.n_r_int64, 3);
	assert_int_equal(core_pb_repeated_count(base, field("r_int64")), 3);
}

/* Whether pack writes anything for m, which has at most one field set. */
static bool
packs_something(const ProtobufCMessage *m)
{
	return protobuf_c_message_get_packed_size(m) > 0;
}

static void
test_proto3_presence_is_what_pack_writes(void **state)
{
	(void) state;
	Test__V1__AllTypes m = TEST__V1__ALL_TYPES__INIT;
	const ProtobufCMessage *base = &m.base;

	/* A fresh message: nothing present, nothing packed. */
	for (unsigned i = 0; i < all_desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &all_desc->fields[i];
		assert_false(core_pb_field_present(base, f));
	}
	assert_false(packs_something(base));

	m.f_float = -0.0f; /* zero by value, as protobuf-c packs it */
	assert_false(core_pb_field_present(base, field("f_float")));
	assert_false(packs_something(base));
	m.f_float = 0;
	m.f_double = 1e-300;
	assert_true(core_pb_field_present(base, field("f_double")));
	m.f_double = 0;
	m.f_uint64 = UINT64_C(1) << 63;
	assert_true(core_pb_field_present(base, field("f_uint64")));
	m.f_uint64 = 0;
	m.f_enum = TEST__V1__COLOR__COLOR_BLUE;
	assert_true(core_pb_field_present(base, field("f_enum")));
	m.f_enum = 0;
	m.f_string = "";
	assert_false(core_pb_field_present(base, field("f_string")));
	m.f_string = NULL;
	assert_false(core_pb_field_present(base, field("f_string")));
	m.f_string = "x";
	assert_true(core_pb_field_present(base, field("f_string")));
	m.f_string = (char *) (uintptr_t) protobuf_c_empty_string;
	uint8_t b[1] = {0};
	m.f_bytes.data = b; /* bytes count by length, not pointer */
	assert_false(core_pb_field_present(base, field("f_bytes")));
	m.f_bytes.len = 1;
	assert_true(core_pb_field_present(base, field("f_bytes")));
	m.f_bytes.len = 0;
	assert_false(packs_something(base));

	/* A oneof member counts when its case names it, even at zero... */
	m.has_o_int32_case = TEST__V1__ALL_TYPES__HAS_O_INT32_O_INT32;
	assert_true(core_pb_field_present(base, field("o_int32")));
	assert_true(packs_something(base));
	m.has_o_int32_case = TEST__V1__ALL_TYPES__HAS_O_INT32__NOT_SET;
	/* ...but a string or message member not with a NULL or default
	 * pointer (pack skips those). */
	m.has_o_string_case = TEST__V1__ALL_TYPES__HAS_O_STRING_O_STRING;
	m.o_string = NULL;
	assert_false(core_pb_field_present(base, field("o_string")));
	m.o_string = (char *) (uintptr_t) protobuf_c_empty_string;
	assert_false(core_pb_field_present(base, field("o_string")));
	assert_false(packs_something(base));
	m.o_string = "";
	assert_true(core_pb_field_present(base, field("o_string")));
	assert_true(packs_something(base));
	m.has_o_string_case = TEST__V1__ALL_TYPES__HAS_O_STRING__NOT_SET;

	/* Another member's case: absent whatever the union holds. */
	m.choice_case = TEST__V1__ALL_TYPES__CHOICE_C_INT64;
	m.c_int64 = 5;
	assert_true(core_pb_field_present(base, field("c_int64")));
	assert_false(core_pb_field_present(base, field("c_string")));
	assert_false(core_pb_field_present(base, field("c_inner")));
	assert_int_equal(core_pb_oneof_case(base, field("c_inner")), 52);
	assert_int_equal(core_pb_oneof_case(base, field("o_int32")), 0);
	m.choice_case = TEST__V1__ALL_TYPES__CHOICE__NOT_SET;
	m.c_int64 = 0;

	int32_t one = 1;
	m.n_r_int32 = 1;
	m.r_int32 = &one;
	assert_true(core_pb_field_present(base, field("r_int32")));
	assert_false(core_pb_field_present(base, field("r_int64")));
}

static void
test_proto2_presence_uses_has_flags_defaults_and_required(void **state)
{
	(void) state;
	legacy l;
	legacy_init(&l.base);
	assert_false(core_pb_field_present(&l.base, &legacy_fields[0]));
	l.count = 7; /* a value without its has_ flag is not sent */
	assert_false(core_pb_field_present(&l.base, &legacy_fields[0]));
	l.has_count = 1;
	l.count = 0; /* the flag alone is */
	assert_true(core_pb_field_present(&l.base, &legacy_fields[0]));

	assert_false(core_pb_field_present(&l.base, &legacy_fields[1]));
	l.label = NULL;
	assert_false(core_pb_field_present(&l.base, &legacy_fields[1]));
	l.label = "none"; /* equal text, but not the default's pointer */
	assert_true(core_pb_field_present(&l.base, &legacy_fields[1]));

	assert_true(core_pb_field_present(&l.base, &legacy_fields[2]));
	assert_false(core_pb_field_present(&l.base, &legacy_fields[3]));
}

static void
test_mark_present_sets_the_oneof_case_or_the_has_flag(void **state)
{
	(void) state;
	Test__V1__AllTypes m = TEST__V1__ALL_TYPES__INIT;
	m.c_int64 = 9;
	core_pb_field_mark_present(&m.base, field("c_int64"));
	assert_int_equal(m.choice_case, TEST__V1__ALL_TYPES__CHOICE_C_INT64);
	/* Another member takes the case over. */
	m.c_string = "s";
	core_pb_field_mark_present(&m.base, field("c_string"));
	assert_int_equal(m.choice_case, TEST__V1__ALL_TYPES__CHOICE_C_STRING);
	assert_int_equal(m.has_o_string_case, 0);

	/* Proto3 fields outside a oneof carry no presence of their own:
	 * nothing else in the message changes. */
	Test__V1__AllTypes before;
	memcpy(&before, &m, sizeof(m));
	core_pb_field_mark_present(&m.base, field("f_int32"));
	core_pb_field_mark_present(&m.base, field("f_string"));
	core_pb_field_mark_present(&m.base, field("r_int32"));
	assert_memory_equal(&m, &before, sizeof(m));

	legacy l;
	legacy_init(&l.base);
	core_pb_field_mark_present(&l.base, &legacy_fields[0]);
	assert_int_equal(l.has_count, 1);
	legacy lb;
	memcpy(&lb, &l, sizeof(l));
	/* An optional string and a required field: nothing to mark. */
	core_pb_field_mark_present(&l.base, &legacy_fields[1]);
	core_pb_field_mark_present(&l.base, &legacy_fields[2]);
	assert_memory_equal(&l, &lb, sizeof(l));
}

/* ---- by name ------------------------------------------------------------ */

static void
test_set_by_name_stores_and_marks_and_refuses_other_fields(void **state)
{
	(void) state;
	Test__V1__AllTypes m = TEST__V1__ALL_TYPES__INIT;
	assert_int_equal(core_pb_field_set_int64(&m.base, "f_int64", -5), 0);
	assert_int_equal(m.f_int64, -5);
	assert_int_equal(core_pb_field_set_int64(&m.base, "cInt64", 77), 0);
	assert_int_equal(m.c_int64, 77);
	assert_int_equal(m.choice_case, TEST__V1__ALL_TYPES__CHOICE_C_INT64);
	assert_int_equal(
	    core_pb_field_set_int64(&m.base, "f_sint64", INT64_MIN), 0);
	assert_true(m.f_sint64 == INT64_MIN);

	char text[] = "hello";
	assert_int_equal(
	    core_pb_field_set_string(&m.base, "o_string", text), 0);
	assert_ptr_equal(m.o_string, text); /* stored, not copied */
	assert_int_equal(
	    m.has_o_string_case, TEST__V1__ALL_TYPES__HAS_O_STRING_O_STRING);

	/* Wrong type, repeated, unknown, NULL: -1 and nothing written. */
	Test__V1__AllTypes before;
	memcpy(&before, &m, sizeof(m));
	assert_int_equal(core_pb_field_set_int64(&m.base, "f_int32", 1), -1);
	assert_int_equal(core_pb_field_set_int64(&m.base, "f_uint64", 1), -1);
	assert_int_equal(core_pb_field_set_int64(&m.base, "f_string", 1), -1);
	assert_int_equal(core_pb_field_set_int64(&m.base, "r_int64", 1), -1);
	assert_int_equal(core_pb_field_set_int64(&m.base, "nope", 1), -1);
	assert_int_equal(core_pb_field_set_int64(&m.base, "", 1), -1);
	assert_int_equal(
	    core_pb_field_set_string(&m.base, "f_bytes", text), -1);
	assert_int_equal(
	    core_pb_field_set_string(&m.base, "r_string", text), -1);
	assert_int_equal(
	    core_pb_field_set_string(&m.base, "c_int64", text), -1);
	assert_int_equal(
	    core_pb_field_set_string(&m.base, "f_string", NULL), -1);
	assert_memory_equal(&m, &before, sizeof(m));
}

static void
test_get_by_name_reads_set_values_and_defaults(void **state)
{
	(void) state;
	Test__V1__AllTypes m = TEST__V1__ALL_TYPES__INIT;
	int64_t v = 42;

	assert_string_equal(core_pb_field_get_string(&m.base, "f_string"), "");
	m.f_string = NULL;
	assert_string_equal(core_pb_field_get_string(&m.base, "f_string"), "");
	m.f_string = "ada";
	assert_string_equal(
	    core_pb_field_get_string(&m.base, "fString"), "ada");
	/* A oneof member whose case is elsewhere reads as unset. */
	m.choice_case = TEST__V1__ALL_TYPES__CHOICE_C_INT64;
	m.c_int64 = 0x1234;
	assert_string_equal(core_pb_field_get_string(&m.base, "c_string"), "");
	assert_null(core_pb_field_get_string(&m.base, "f_int32"));
	assert_null(core_pb_field_get_string(&m.base, "r_string"));
	assert_null(core_pb_field_get_string(&m.base, "nope"));

	assert_int_equal(core_pb_field_get_int64(&m.base, "c_int64", &v), 0);
	assert_int_equal(v, 0x1234);
	m.f_int32 = -7; /* 32-bit fields are widened with their sign */
	assert_int_equal(core_pb_field_get_int64(&m.base, "fInt32", &v), 0);
	assert_int_equal(v, -7);
	m.f_sfixed64 = INT64_MAX;
	assert_int_equal(
	    core_pb_field_get_int64(&m.base, "f_sfixed64", &v), 0);
	assert_true(v == INT64_MAX);
	m.has_o_int32_case = TEST__V1__ALL_TYPES__HAS_O_INT32__NOT_SET;
	m.o_int32 = 99;
	assert_int_equal(core_pb_field_get_int64(&m.base, "o_int32", &v), 0);
	assert_int_equal(v, 0);

	v = 42;
	assert_int_equal(core_pb_field_get_int64(&m.base, "f_uint32", &v), -1);
	assert_int_equal(core_pb_field_get_int64(&m.base, "f_double", &v), -1);
	assert_int_equal(core_pb_field_get_int64(&m.base, "r_int32", &v), -1);
	assert_int_equal(core_pb_field_get_int64(&m.base, "nope", &v), -1);
	assert_int_equal(v, 42);
}

/* ---- wire --------------------------------------------------------------- */

static void
test_varint_read_decodes_up_to_ten_bytes(void **state)
{
	(void) state;
	uint64_t v = 0;
	assert_int_equal(
	    core_pb_varint_read((const uint8_t *) "\x00", 1, &v), 1);
	assert_true(v == 0);
	assert_int_equal(
	    core_pb_varint_read((const uint8_t *) "\x96\x01rest", 6, &v), 2);
	assert_true(v == 150);
	static const uint8_t max[] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	assert_int_equal(core_pb_varint_read(max, sizeof(max), &v), 10);
	assert_true(v == UINT64_MAX);
	/* Bits beyond the 64th are dropped, as protobuf does. */
	static const uint8_t over[] = {
	    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f};
	assert_int_equal(core_pb_varint_read(over, sizeof(over), &v), 10);
	assert_true(v == UINT64_C(1) << 63);
}

static void
test_varint_read_refuses_truncated_and_overlong_input(void **state)
{
	(void) state;
	uint64_t v = 77;
	static const uint8_t eleven[] = {
	    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
	assert_int_equal(core_pb_varint_read(eleven, sizeof(eleven), &v), 0);
	assert_int_equal(
	    core_pb_varint_read((const uint8_t *) "\x80", 1, &v), 0);
	/* The length bounds the read even when more bytes follow. */
	assert_int_equal(
	    core_pb_varint_read((const uint8_t *) "\x96\x01", 1, &v), 0);
	assert_int_equal(core_pb_varint_read((const uint8_t *) "", 0, &v), 0);
	assert_true(v == 77);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_type_names_and_sizes_cover_every_type_and_refuse_others),
	    cmocka_unit_test(
	        test_map_fields_are_recognised_by_their_entry_shape),
	    cmocka_unit_test(test_same_oneof_groups_members_by_their_case),
	    cmocka_unit_test(test_field_find_takes_proto_and_json_names_only),
	    cmocka_unit_test(test_field_ptr_is_the_generated_member),
	    cmocka_unit_test(test_proto3_presence_is_what_pack_writes),
	    cmocka_unit_test(
	        test_proto2_presence_uses_has_flags_defaults_and_required),
	    cmocka_unit_test(
	        test_mark_present_sets_the_oneof_case_or_the_has_flag),
	    cmocka_unit_test(
	        test_set_by_name_stores_and_marks_and_refuses_other_fields),
	    cmocka_unit_test(test_get_by_name_reads_set_values_and_defaults),
	    cmocka_unit_test(test_varint_read_decodes_up_to_ten_bytes),
	    cmocka_unit_test(
	        test_varint_read_refuses_truncated_and_overlong_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
