/* Unit tests of the protobuf <-> JSON codec (libcore/src/json.c).
 *
 * Every parse goes through a counting allocator and every test's teardown
 * asserts that nothing allocated through it is still live, so the error
 * paths are leak-checked even without AddressSanitizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

#include "admin/v1/admin.pb-c.h"
#include "auth/v1/auth.pb-c.h"
#include "core/v1/core.pb-c.h"
#include "core/v1/health.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "test/v1/test.pb-c.h"
#include "user/v1/user.pb-c.h"

#define ALL (&test__v1__all_types__descriptor)

/* --- counting allocator ------------------------------------------------- */

typedef struct counter {
	ProtobufCAllocator a;
	long live;    /* allocations not yet freed */
	long calls;   /* allocation attempts so far */
	long fail_at; /* attempt that fails (0-based), or -1 */
} counter;

static counter count;

static void *
count_alloc(void *data, size_t n)
{
	counter *c = data;

	if (c->calls++ == c->fail_at)
		return NULL;
	c->live++;
	return malloc(n);
}

static void
count_free(void *data, void *p)
{
	counter *c = data;

	if (p != NULL)
		c->live--;
	free(p);
}

static int
setup(void **state)
{
	(void) state;
	memset(&count, 0, sizeof(count));
	count.a.alloc = count_alloc;
	count.a.free = count_free;
	count.a.allocator_data = &count;
	count.fail_at = -1;
	return 0;
}

static int
teardown(void **state)
{
	(void) state;
	assert_int_equal(count.live, 0);
	return 0;
}

/* --- helpers ------------------------------------------------------------ */

static ProtobufCMessage *
parse_ok_n(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
    const core_json_limits *lim)
{
	ProtobufCMessage *m = NULL;
	core_json_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = core_json_to_pb(d, text, len, lim, &count.a, &m, &err);
	if (rc != 0)
		print_error(
		    "unexpected error at \"%s\": %s (line %d col %d)\n",
		    err.field, err.message, err.line, err.column);
	assert_int_equal(rc, 0);
	assert_non_null(m);
	assert_ptr_equal(m->descriptor, d);
	return m;
}

static ProtobufCMessage *
parse_ok(const ProtobufCMessageDescriptor *d, const char *text)
{
	return parse_ok_n(d, text, strlen(text), NULL);
}

static ProtobufCMessage *
parse_ok_lim(const char *text, const core_json_limits *lim)
{
	return parse_ok_n(ALL, text, strlen(text), lim);
}

static Test__V1__AllTypes *
parse_all(const char *text)
{
	return (Test__V1__AllTypes *) parse_ok(ALL, text);
}

static void
release(void *m)
{
	protobuf_c_message_free_unpacked(m, &count.a);
}

/* Asserts that text fails to parse, leaves *out alone, fills the whole
 * error (it starts as garbage), names field (unless NULL) and says
 * something containing what. */
static core_json_error
expect_error_n(const ProtobufCMessageDescriptor *d, const char *text,
    size_t len, const core_json_limits *lim, const char *field,
    const char *what)
{
	ProtobufCMessage *sentinel = (ProtobufCMessage *) &count;
	ProtobufCMessage *out = sentinel;
	core_json_error err;
	int rc;

	memset(&err, 0x5a, sizeof(err));
	rc = core_json_to_pb(d, text, len, lim, &count.a, &out, &err);
	assert_int_equal(rc, -1);
	assert_ptr_equal(out, sentinel);
	assert_non_null(memchr(err.field, '\0', sizeof(err.field)));
	assert_non_null(memchr(err.message, '\0', sizeof(err.message)));
	if (field != NULL)
		assert_string_equal(err.field, field);
	if (strstr(err.message, what) == NULL)
		print_error(
		    "message \"%s\" lacks \"%s\"\n", err.message, what);
	assert_non_null(strstr(err.message, what));
	assert_int_equal(count.live, 0);
	return err;
}

static void
expect_error_lim(
    const char *text, const core_json_limits *lim, const char *what)
{
	expect_error_n(ALL, text, strlen(text), lim, "", what);
}

static core_json_error
expect_error(const char *text, const char *field, const char *what)
{
	return expect_error_n(ALL, text, strlen(text), NULL, field, what);
}

/* The same for input that jansson itself refuses: a syntax error has a
 * position and no field. */
static core_json_error
expect_syntax_error_n(const char *text, size_t len)
{
	core_json_error err = expect_error_n(ALL, text, len, NULL, "", "");

	assert_true(err.line >= 1);
	assert_true(err.column >= 0);
	assert_true(err.message[0] != '\0');
	return err;
}

static core_json_error
expect_syntax_error(const char *text)
{
	return expect_syntax_error_n(text, strlen(text));
}

/* Compact JSON of m; the caller frees it. */
static char *
render(const void *m)
{
	size_t len = 0;
	char *s = core_pb_to_json(m, 0, &len);

	assert_non_null(s);
	assert_int_equal(len, strlen(s));
	return s;
}

static void
assert_renders(const void *m, const char *expected)
{
	char *s = render(m);

	assert_string_equal(s, expected);
	free(s);
}

/* Parses text and asserts it renders back as expected. */
static void
assert_normalises(const char *text, const char *expected)
{
	Test__V1__AllTypes *m = parse_all(text);

	assert_renders(m, expected);
	release(m);
}

static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(m, buf), *len);
	return buf;
}

/* pb -> JSON -> pb must give the same wire bytes, and the second rendering
 * must equal the first. */
static void
assert_round_trips(const ProtobufCMessage *m)
{
	char *json = render(m);
	ProtobufCMessage *back = parse_ok(m->descriptor, json);
	char *json2 = render(back);
	size_t la, lb;
	uint8_t *a = pack(m, &la);
	uint8_t *b = pack(back, &lb);

	if (la != lb || memcmp(a, b, la) != 0)
		print_error("%s does not round-trip via %s\n",
		    m->descriptor->name, json);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	assert_string_equal(json, json2);
	free(a);
	free(b);
	free(json);
	free(json2);
	release(back);
}

static char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

static Test__V1__AllTypes *
new_all(void)
{
	Test__V1__AllTypes *m = malloc(sizeof(*m));

	assert_non_null(m);
	test__v1__all_types__init(m);
	return m;
}

static Google__Protobuf__Timestamp *
new_ts(int64_t seconds, int32_t nanos)
{
	Google__Protobuf__Timestamp *t = malloc(sizeof(*t));

	assert_non_null(t);
	google__protobuf__timestamp__init(t);
	t->seconds = seconds;
	t->nanos = nanos;
	return t;
}

/* --- generic filler: every field of any message, non-default --------- */

typedef struct filler {
	unsigned seed;    /* advances per value, to vary what is chosen */
	unsigned variant; /* which member of each oneof is set */
} filler;

static bool
is_map(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n;

	if (f->label != PROTOBUF_C_LABEL_REPEATED ||
	    f->type != PROTOBUF_C_TYPE_MESSAGE || d->n_fields != 2)
		return false;
	n = strlen(d->short_name);
	return n > 5 && strcmp(d->short_name + n - 5, "Entry") == 0;
}

static size_t
elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static ProtobufCMessage *fill_message(
    filler *fl, const ProtobufCMessageDescriptor *d, int depth);

static void
fill_value(filler *fl, const ProtobufCFieldDescriptor *f, void *dst, int depth)
{
	static const int32_t i32[] = {INT32_MIN, INT32_MAX, -1, 123456};
	static const uint32_t u32[] = {UINT32_MAX, 1, 4000000000u};
	static const int64_t i64[] = {
	    INT64_MIN, INT64_MAX, -1, INT64_C(9007199254740993)};
	static const uint64_t u64[] = {
	    UINT64_MAX, 1, UINT64_C(9007199254740993)};
	static const float f32[] = {
	    1.5f, -3.25f, FLT_MAX, 1e-30f, 0.1f, -FLT_MIN};
	static const double f64[] = {
	    0.1, -1e300, DBL_MAX, 5e-324, 1.0 / 3, -DBL_MIN};
	unsigned s = fl->seed++;
	char buf[64];

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *) dst = i32[s % 4];
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *) dst = u32[s % 3];
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *) dst = i64[s % 4];
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *) dst = u64[s % 3];
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *) dst = f32[s % 6];
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *) dst = f64[s % 6];
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *) dst = 1;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		unsigned k = s % ed->n_values;

		if (ed->values[k].value == 0)
			k = (k + 1) % ed->n_values;
		*(int *) dst = ed->values[k].value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		snprintf(buf, sizeof(buf),
		    "s%u \"q\" \\ / \n\t \xc3\xa9 \xf0\x9f\x98\x80", s);
		*(char **) dst = xstrdup(buf);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *bd = dst;
		size_t i;

		bd->len = 1 + s % 5;
		bd->data = malloc(bd->len);
		assert_non_null(bd->data);
		for (i = 0; i < bd->len; i++)
			bd->data[i] = (uint8_t) (s * 37 + i * 101);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **) dst =
		    fill_message(fl, f->descriptor, depth + 1);
		break;
	}
}

static void
fill_map_key(const ProtobufCFieldDescriptor *kf, void *dst, size_t i)
{
	char buf[16];

	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING:
		snprintf(buf, sizeof(buf), "k%zu", i);
		*(char **) dst = xstrdup(buf);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *) dst = i % 2 == 0;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *) dst = i == 0 ? INT64_MIN : (int64_t) i;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *) dst = i == 0 ? UINT64_MAX : i;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *) dst = i == 0 ? UINT32_MAX : (uint32_t) i;
		break;
	default:
		*(int32_t *) dst = i == 0 ? INT32_MIN : (int32_t) i;
		break;
	}
}

/* Index of f among the members of its oneof, and the member count. */
static unsigned
oneof_position(const ProtobufCMessageDescriptor *d,
    const ProtobufCFieldDescriptor *f, unsigned *members)
{
	unsigned i, pos = 0;

	*members = 0;
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *g = &d->fields[i];

		if (!(g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
		    g->quantifier_offset != f->quantifier_offset)
			continue;
		if (g == f)
			pos = *members;
		(*members)++;
	}
	return pos;
}

static ProtobufCMessage *
fill_message(filler *fl, const ProtobufCMessageDescriptor *d, int depth)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);
	unsigned i;

	assert_non_null(m);
	d->message_init(m);
	if (strcmp(d->name, "google.protobuf.Timestamp") == 0) {
		static const int64_t secs[] = {0, -1, 1700000000,
		    INT64_C(-62135596800), INT64_C(253402300799)};
		static const int32_t nanos[] = {
		    0, 5000000, 123456000, 999999999, 1};
		Google__Protobuf__Timestamp *t =
		    (Google__Protobuf__Timestamp *) m;

		t->seconds = secs[fl->seed % 5];
		t->nanos = nanos[(fl->seed / 5) % 5];
		fl->seed++;
		return m;
	}
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *member = (char *) m + f->offset;
		char *q = (char *) m + f->quantifier_offset;
		size_t n, k;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= 3
			        ? 0
			        : 3;
			/* A bool-keyed map has only two distinct keys. */
			if (n > 0 && is_map(f) &&
			    ((const ProtobufCMessageDescriptor *)
			            f->descriptor)
			            ->fields[0]
			            .type == PROTOBUF_C_TYPE_BOOL)
				n = 2;
			*(size_t *) q = n;
			if (n == 0)
				continue;
			*(void **) member = calloc(n, elt_size(f->type));
			assert_non_null(*(void **) member);
			for (k = 0; k < n; k++) {
				char *e =
				    *(char **) member + k * elt_size(f->type);

				if (is_map(f)) {
					const ProtobufCMessageDescriptor *ed =
					    f->descriptor;
					ProtobufCMessage *entry =
					    malloc(ed->sizeof_message);

					assert_non_null(entry);
					ed->message_init(entry);
					fill_map_key(&ed->fields[0],
					    (char *) entry +
					        ed->fields[0].offset,
					    k);
					fill_value(fl, &ed->fields[1],
					    (char *) entry +
					        ed->fields[1].offset,
					    depth + 1);
					*(ProtobufCMessage **) e = entry;
				} else {
					fill_value(fl, f, e, depth);
				}
			}
			continue;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= 3)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			unsigned members, pos = oneof_position(d, f, &members);

			if (pos != fl->variant % members)
				continue;
			*(uint32_t *) q = f->id;
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
		           f->type != PROTOBUF_C_TYPE_STRING &&
		           f->type != PROTOBUF_C_TYPE_MESSAGE) {
			*(protobuf_c_boolean *) q = 1;
		}
		fill_value(fl, f, member, depth);
	}
	return m;
}

/* Every message of the system's protos (proto/ * /v1/ *.proto). */
static const ProtobufCMessageDescriptor *const system_messages[] = {
    &core__v1__request__descriptor,
    &core__v1__request__metadata_entry__descriptor,
    &core__v1__error_detail__descriptor,
    &core__v1__response__descriptor,
    &core__v1__health_check_request__descriptor,
    &core__v1__health_check_response__descriptor,
    &auth__v1__user__descriptor,
    &auth__v1__register_request__descriptor,
    &auth__v1__register_response__descriptor,
    &auth__v1__login_request__descriptor,
    &auth__v1__token_response__descriptor,
    &auth__v1__refresh_request__descriptor,
    &auth__v1__logout_request__descriptor,
    &auth__v1__logout_response__descriptor,
    &auth__v1__get_jwks_request__descriptor,
    &auth__v1__jwk__descriptor,
    &auth__v1__get_jwks_response__descriptor,
    &auth__v1__check_token_request__descriptor,
    &auth__v1__claims__descriptor,
    &auth__v1__check_token_response__descriptor,
    &auth__v1__session__descriptor,
    &auth__v1__list_sessions_request__descriptor,
    &auth__v1__list_sessions_response__descriptor,
    &auth__v1__revoke_session_request__descriptor,
    &auth__v1__revoke_session_response__descriptor,
    &auth__v1__get_current_session_request__descriptor,
    &auth__v1__get_current_session_response__descriptor,
    &auth__v1__rotate_keys_request__descriptor,
    &auth__v1__signing_key__descriptor,
    &auth__v1__rotate_keys_response__descriptor,
    &auth__v1__list_keys_request__descriptor,
    &auth__v1__list_keys_response__descriptor,
    &auth__v1__admin_list_users_request__descriptor,
    &auth__v1__admin_list_users_response__descriptor,
    &auth__v1__admin_get_user_request__descriptor,
    &auth__v1__admin_get_user_response__descriptor,
    &auth__v1__admin_update_user_request__descriptor,
    &auth__v1__admin_update_user_response__descriptor,
    &auth__v1__admin_revoke_sessions_request__descriptor,
    &auth__v1__admin_revoke_sessions_response__descriptor,
    &auth__v1__delete_account_request__descriptor,
    &auth__v1__delete_account_response__descriptor,
    &auth__v1__admin_delete_user_request__descriptor,
    &auth__v1__admin_delete_user_response__descriptor,
    &auth__v1__verify_email_request__descriptor,
    &auth__v1__verify_email_response__descriptor,
    &auth__v1__resend_verification_request__descriptor,
    &auth__v1__resend_verification_response__descriptor,
    &auth__v1__change_email_request__descriptor,
    &auth__v1__change_email_response__descriptor,
    &auth__v1__confirm_email_change_request__descriptor,
    &auth__v1__confirm_email_change_response__descriptor,
    &auth__v1__forgot_password_request__descriptor,
    &auth__v1__forgot_password_response__descriptor,
    &auth__v1__reset_password_request__descriptor,
    &auth__v1__reset_password_response__descriptor,
    &auth__v1__change_password_request__descriptor,
    &auth__v1__enroll_totp_request__descriptor,
    &auth__v1__enroll_totp_response__descriptor,
    &auth__v1__confirm_totp_request__descriptor,
    &auth__v1__confirm_totp_response__descriptor,
    &auth__v1__login_mfa_request__descriptor,
    &auth__v1__disable_totp_request__descriptor,
    &auth__v1__disable_totp_response__descriptor,
    &auth__v1__regenerate_recovery_codes_request__descriptor,
    &auth__v1__regenerate_recovery_codes_response__descriptor,
    &auth__v1__get_mfa_status_request__descriptor,
    &auth__v1__get_mfa_status_response__descriptor,
    &auth__v1__admin_reset_mfa_request__descriptor,
    &auth__v1__admin_reset_mfa_response__descriptor,
    &user__v1__profile__descriptor,
    &user__v1__get_profile_request__descriptor,
    &user__v1__get_profile_response__descriptor,
    &user__v1__update_profile_request__descriptor,
    &user__v1__update_profile_response__descriptor,
    &user__v1__delete_profile_request__descriptor,
    &user__v1__delete_profile_response__descriptor,
    &admin__v1__list_users_request__descriptor,
    &admin__v1__list_users_response__descriptor,
    &admin__v1__get_user_request__descriptor,
    &admin__v1__get_user_response__descriptor,
    &admin__v1__update_user_request__descriptor,
    &admin__v1__update_user_response__descriptor,
    &admin__v1__revoke_sessions_request__descriptor,
    &admin__v1__revoke_sessions_response__descriptor,
    &admin__v1__audit_entry__descriptor,
    &admin__v1__list_audit_request__descriptor,
    &admin__v1__list_audit_response__descriptor,
    &admin__v1__delete_user_request__descriptor,
    &admin__v1__delete_user_response__descriptor,
    &admin__v1__delete_account_request__descriptor,
    &admin__v1__delete_account_response__descriptor,
    &admin__v1__reset_mfa_request__descriptor,
    &admin__v1__reset_mfa_response__descriptor,
    &google__protobuf__struct__descriptor,
    &google__protobuf__struct__fields_entry__descriptor,
    &google__protobuf__value__descriptor,
    &google__protobuf__list_value__descriptor,
};

static const ProtobufCServiceDescriptor *const system_services[] = {
    &core__v1__health__descriptor,
    &auth__v1__auth_service__descriptor,
    &user__v1__user_service__descriptor,
    &admin__v1__admin_service__descriptor,
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static bool
is_listed(const ProtobufCMessageDescriptor *d)
{
	size_t i;

	for (i = 0; i < NELEM(system_messages); i++) {
		if (system_messages[i] == d)
			return true;
	}
	return false;
}

/* --- 32-bit integers ---------------------------------------------------- */

static void
test_int32_edges_round_trip_as_numbers(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_int32\":-2147483648,\"f_sint32\":2147483647,"
	              "\"f_sfixed32\":-2147483648,\"r_int32\":[2147483647,"
	              "-2147483648,0]}");
	assert_int_equal(m->f_int32, INT32_MIN);
	assert_int_equal(m->f_sint32, INT32_MAX);
	assert_int_equal(m->f_sfixed32, INT32_MIN);
	assert_int_equal(m->n_r_int32, 3);
	assert_int_equal(m->r_int32[0], INT32_MAX);
	assert_int_equal(m->r_int32[1], INT32_MIN);
	assert_renders(m,
	    "{\"f_int32\":-2147483648,\"f_sint32\":2147483647,"
	    "\"f_sfixed32\":-2147483648,\"r_int32\":[2147483647,-2147483648,"
	    "0]}");
	release(m);
}

static void
test_int32_out_of_range_by_one_is_rejected(void **state)
{
	(void) state;
	expect_error("{\"f_int32\":2147483648}", "f_int32",
	    "value out of range for int32");
	expect_error("{\"f_int32\":-2147483649}", "f_int32",
	    "value out of range for int32");
	expect_error("{\"f_sint32\":\"2147483648\"}", "f_sint32",
	    "value out of range for sint32");
	expect_error("{\"f_sfixed32\":\"-2147483649\"}", "f_sfixed32",
	    "value out of range for sfixed32");
	expect_error("{\"f_int32\":1e10}", "f_int32", "out of range");
}

static void
test_uint32_edges_and_out_of_range(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all(
	    "{\"f_uint32\":4294967295,\"f_fixed32\":\"4294967295\"}");
	assert_int_equal(m->f_uint32, UINT32_MAX);
	assert_int_equal(m->f_fixed32, UINT32_MAX);
	assert_renders(
	    m, "{\"f_uint32\":4294967295,\"f_fixed32\":4294967295}");
	release(m);
	expect_error("{\"f_uint32\":4294967296}", "f_uint32",
	    "value out of range for uint32");
	expect_error("{\"f_fixed32\":-1}", "f_fixed32",
	    "value out of range for fixed32");
	expect_error("{\"f_uint32\":\"-1\"}", "f_uint32", "out of range");
}

static void
test_int32_accepts_decimal_strings_and_integral_reals(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_int32\":\"-123\",\"f_sint32\":1e3,"
	              "\"f_sfixed32\":5.0,\"f_uint32\":\"007\","
	              "\"r_int32\":[-0.0,\"-0\",2.5e1]}");
	assert_int_equal(m->f_int32, -123);
	assert_int_equal(m->f_sint32, 1000);
	assert_int_equal(m->f_sfixed32, 5);
	assert_int_equal(m->f_uint32, 7);
	assert_int_equal(m->r_int32[0], 0);
	assert_int_equal(m->r_int32[1], 0);
	assert_int_equal(m->r_int32[2], 25);
	release(m);
}

static void
test_integers_reject_fractions_and_malformed_strings(void **state)
{
	static const char *const bad[] = {"1.5", "-0.5", "\"12abc\"",
	    "\" 12\"", "\"12 \"", "\"\"", "\"+-1\"", "\"+1\"", "\"1.0\"",
	    "\"0x10\"", "\"1e3\"", "\"-\"", "true", "[]", "{}"};
	char text[64];
	size_t i;

	(void) state;
	for (i = 0; i < NELEM(bad); i++) {
		snprintf(text, sizeof(text), "{\"f_int32\":%s}", bad[i]);
		expect_error(text, "f_int32", "expected an integer");
		snprintf(text, sizeof(text), "{\"f_uint64\":%s}", bad[i]);
		expect_error(text, "f_uint64", "expected an integer");
	}
}

/* --- 64-bit integers ---------------------------------------------------- */

static void
test_int64_is_emitted_as_string(void **state)
{
	Test__V1__AllTypes *m = new_all();

	(void) state;
	m->f_int64 = INT64_MIN;
	m->f_sint64 = INT64_MAX;
	m->f_sfixed64 = -1;
	m->f_uint64 = UINT64_MAX;
	m->f_fixed64 = 1;
	assert_renders(m,
	    "{\"f_int64\":\"-9223372036854775808\","
	    "\"f_uint64\":\"18446744073709551615\","
	    "\"f_sint64\":\"9223372036854775807\",\"f_fixed64\":\"1\","
	    "\"f_sfixed64\":\"-1\"}");
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void
test_int64_accepts_string_or_number_at_the_edges(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_int64\":-9223372036854775808,"
	              "\"f_sint64\":\"9223372036854775807\","
	              "\"f_sfixed64\":\"-9223372036854775808\","
	              "\"f_fixed64\":9223372036854775807,"
	              "\"r_int64\":[\"1\",-2,3e3]}");
	assert_true(m->f_int64 == INT64_MIN);
	assert_true(m->f_sint64 == INT64_MAX);
	assert_true(m->f_sfixed64 == INT64_MIN);
	assert_true(m->f_fixed64 == (uint64_t) INT64_MAX);
	assert_int_equal(m->n_r_int64, 3);
	assert_true(m->r_int64[1] == -2 && m->r_int64[2] == 3000);
	release(m);
	expect_error("{\"f_int64\":\"9223372036854775808\"}", "f_int64",
	    "value out of range for int64");
	expect_error("{\"f_sint64\":\"-9223372036854775809\"}", "f_sint64",
	    "value out of range for sint64");
	/* 2^63 as a real: exactly representable, one past the top. */
	expect_error(
	    "{\"f_int64\":9.2233720368547758e18}", "f_int64", "out of range");
}

static void
test_uint64_max_is_accepted_as_string(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_uint64\":\"18446744073709551615\","
	              "\"f_fixed64\":\"0\"}");
	assert_true(m->f_uint64 == UINT64_MAX);
	assert_renders(m, "{\"f_uint64\":\"18446744073709551615\"}");
	release(m);
	expect_error("{\"f_uint64\":\"18446744073709551616\"}", "f_uint64",
	    "value out of range for uint64");
	expect_error("{\"f_fixed64\":\"-1\"}", "f_fixed64",
	    "value out of range for fixed64");
	expect_error("{\"f_uint64\":1.8446744073709552e19}", "f_uint64",
	    "out of range");
	/* jansson parses integer literals into int64, so past INT64_MAX a
	 * uint64 has to be written as a string. */
	expect_syntax_error("{\"f_uint64\":18446744073709551615}");
}

/* --- floating point ----------------------------------------------------- */

static void
test_double_special_values_are_strings_both_ways(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all(
	    "{\"f_double\":\"NaN\",\"f_float\":\"-Infinity\","
	    "\"r_double\":[\"Infinity\",\"-Infinity\",\"NaN\",1.5]}");
	assert_true(isnan(m->f_double));
	assert_true(isinf(m->f_float) && m->f_float < 0);
	assert_true(isinf(m->r_double[0]) && m->r_double[0] > 0);
	assert_true(isinf(m->r_double[1]) && m->r_double[1] < 0);
	assert_true(isnan(m->r_double[2]));
	assert_renders(m,
	    "{\"f_float\":\"-Infinity\",\"f_double\":\"NaN\",\"r_double\":"
	    "[\"Infinity\",\"-Infinity\",\"NaN\",1.5]}");
	release(m);
	expect_error(
	    "{\"f_double\":\"nan\"}", "f_double", "expected a number");
	expect_error(
	    "{\"f_double\":\"inf\"}", "f_double", "expected a number");
}

static void
test_double_accepts_numeric_strings_strictly(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_double\":\"-2.5e3\",\"r_double\":[\"1\",\"0.25\","
	              "\"-0\"]}");
	assert_true(m->f_double == -2500.0);
	assert_true(m->r_double[0] == 1.0 && m->r_double[1] == 0.25);
	assert_true(m->r_double[2] == 0.0 && signbit(m->r_double[2]));
	release(m);
	expect_error(
	    "{\"f_double\":\"1.5x\"}", "f_double", "expected a number");
	expect_error("{\"f_double\":\" 1\"}", "f_double", "expected a number");
	expect_error(
	    "{\"f_double\":\"0x10\"}", "f_double", "expected a number");
	expect_error("{\"f_double\":\"\"}", "f_double", "expected a number");
	expect_error("{\"f_double\":true}", "f_double", "expected a number");
}

static void
test_negative_zero_keeps_its_sign_in_repeated_double(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"r_double\":[-0.0],\"f_double\":-0.0}");
	assert_true(m->r_double[0] == 0.0 && signbit(m->r_double[0]));
	/* A singular -0.0 is "zero" to protobuf-c and is not packed, so it
	 * is not emitted either. */
	assert_renders(m, "{\"r_double\":[-0.0]}");
	assert_round_trips(&m->base);
	release(m);
}

static void
test_float_out_of_range_is_rejected(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_float\":3.4028234663852886e38}");
	assert_true(m->f_float == FLT_MAX);
	assert_round_trips(&m->base);
	release(m);
	expect_error(
	    "{\"f_float\":3.5e38}", "f_float", "value out of range for float");
	expect_error(
	    "{\"f_float\":-1e39}", "f_float", "value out of range for float");
	expect_error("{\"f_float\":\"1e39\"}", "f_float",
	    "value out of range for float");
}

static void
test_float_renders_with_round_trip_precision(void **state)
{
	Test__V1__AllTypes *m = new_all();
	Test__V1__AllTypes *back;
	char *s;

	(void) state;
	m->f_float = 0.1f;
	s = render(m);
	back = parse_all(s);
	assert_true(back->f_float == 0.1f);
	free(s);
	release(back);
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void
test_huge_numbers_are_rejected(void **state)
{
	(void) state;
	expect_syntax_error("{\"f_double\":1e400}");
	expect_syntax_error("{\"f_int64\":99999999999999999999999}");
	expect_syntax_error("{\"f_double\":-99999999999999999999999}");
	expect_error("{\"f_int64\":\"99999999999999999999999\"}", "f_int64",
	    "out of range");
	expect_error("{\"f_uint64\":\"99999999999999999999999\"}", "f_uint64",
	    "out of range");
	expect_error("{\"f_double\":\"1e400\"}", "f_double", "out of range");
	expect_error("{\"f_int32\":1e300}", "f_int32", "out of range");
}

/* --- bool, string, bytes, enum ----------------------------------------- */

static void
test_bool_accepts_only_true_and_false(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_bool\":true,\"r_bool\":[false,true]}");
	assert_true(m->f_bool);
	assert_int_equal(m->n_r_bool, 2);
	assert_renders(m, "{\"f_bool\":true,\"r_bool\":[false,true]}");
	release(m);
	expect_error("{\"f_bool\":1}", "f_bool", "expected true or false");
	expect_error(
	    "{\"f_bool\":\"true\"}", "f_bool", "expected true or false");
	expect_error("{\"r_bool\":[true,0]}", "r_bool[1]", "expected true");
}

static void
test_string_round_trips_unicode_and_escapes(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_string\":\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\","
	              "\"r_string\":[\"\",\"x\"]}");
	assert_string_equal(m->f_string, "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
	assert_int_equal(m->n_r_string, 2);
	assert_string_equal(m->r_string[0], "");
	assert_round_trips(&m->base);
	release(m);
	expect_error("{\"f_string\":5}", "f_string", "expected a string");
}

static void
test_rejects_invalid_utf8_bytes_in_input(void **state)
{
	core_json_error err;

	(void) state;
	err = expect_syntax_error("{\"f_string\":\"a\xff\"}");
	assert_int_equal(err.line, 1);
	assert_true(err.column > 0);
	assert_non_null(strstr(err.message, "not valid UTF-8"));
	/* Overlong encoding of '/' and a lone surrogate. */
	expect_syntax_error("{\"f_string\":\"\xc0\xaf\"}");
	expect_syntax_error("{\"f_string\":\"\xed\xa0\x80\"}");
	expect_syntax_error("{\"f\xff\":1}");
}

static void
test_rejects_nul_escape_in_string(void **state)
{
	static const char text[] = "{\"f_string\":\"a\x00\"}";

	core_json_error err;

	(void) state;
	err = expect_syntax_error("{\"f_string\":\"a\\u0000b\"}");
	assert_non_null(strstr(err.message, "\\u0000 is not allowed"));
	expect_syntax_error("{\"a\\u0000b\":1}");
	/* A raw NUL byte in the text is no better. */
	expect_syntax_error_n(text, sizeof(text) - 1);
}

static void
test_value_to_pb_rejects_nul_and_bad_utf8_in_built_values(void **state)
{
	ProtobufCMessage *out = NULL;
	core_json_error err;
	json_t *v;

	(void) state;
	v = json_object();
	json_object_set_new(v, "f_string", json_stringn("a\0b", 3));
	assert_int_equal(
	    core_json_value_to_pb(ALL, v, NULL, &count.a, &out, &err), -1);
	assert_string_equal(err.field, "f_string");
	assert_non_null(strstr(err.message, "NUL"));
	json_decref(v);

	v = json_object();
	json_object_set_new(v, "r_string",
	    json_pack("[so]", "ok", json_string_nocheck("\xff")));
	assert_int_equal(
	    core_json_value_to_pb(ALL, v, NULL, &count.a, &out, &err), -1);
	assert_string_equal(err.field, "r_string[1]");
	assert_non_null(strstr(err.message, "UTF-8"));
	json_decref(v);

	/* A key with a NUL in it names no field. */
	v = json_object();
	json_object_setn_new(v, "f_int32\0x", 9, json_integer(1));
	assert_int_equal(
	    core_json_value_to_pb(ALL, v, NULL, &count.a, &out, &err), -1);
	assert_non_null(strstr(err.message, "unknown field"));
	json_decref(v);
	assert_null(out);
}

static void
test_invalid_utf8_from_protobuf_is_replaced_on_output(void **state)
{
	Test__V1__AllTypes *m = new_all();

	(void) state;
	m->f_string = xstrdup("a\xff"
	                      "b");
	assert_renders(m, "{\"f_string\":\"a\xef\xbf\xbd"
	                  "b\"}");
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void
test_bytes_are_emitted_as_padded_standard_base64(void **state)
{
	static const struct {
		const char *raw;
		size_t len;
		const char *b64;
	} cases[] = {
	    {"f", 1, "Zg=="},
	    {"fo", 2, "Zm8="},
	    {"foo", 3, "Zm9v"},
	    {"foob", 4, "Zm9vYg=="},
	    {"\xfb\xff", 2, "+/8="},
	    {"\x00\x00\x00", 3, "AAAA"},
	};
	char expected[64];
	size_t i;

	(void) state;
	for (i = 0; i < NELEM(cases); i++) {
		Test__V1__AllTypes *m = new_all();

		m->f_bytes.len = cases[i].len;
		m->f_bytes.data = malloc(cases[i].len);
		memcpy(m->f_bytes.data, cases[i].raw, cases[i].len);
		snprintf(expected, sizeof(expected), "{\"f_bytes\":\"%s\"}",
		    cases[i].b64);
		assert_renders(m, expected);
		assert_round_trips(&m->base);
		protobuf_c_message_free_unpacked(&m->base, NULL);
	}
}

static void
test_bytes_accept_standard_and_url_safe_with_or_without_padding(void **state)
{
	static const char *const inputs[] = {"+/8=", "+/8", "-_8=", "-_8"};
	char text[64];
	size_t i;
	Test__V1__AllTypes *m;

	(void) state;
	for (i = 0; i < NELEM(inputs); i++) {
		snprintf(
		    text, sizeof(text), "{\"f_bytes\":\"%s\"}", inputs[i]);
		m = parse_all(text);
		assert_int_equal(m->f_bytes.len, 2);
		assert_memory_equal(m->f_bytes.data, "\xfb\xff", 2);
		release(m);
	}
	m = parse_all(
	    "{\"f_bytes\":\"\",\"r_bytes\":[\"\",\"Zg\",\"Zm9vYg\"]}");
	assert_int_equal(m->f_bytes.len, 0);
	assert_null(m->f_bytes.data);
	assert_int_equal(m->n_r_bytes, 3);
	assert_int_equal(m->r_bytes[0].len, 0);
	assert_int_equal(m->r_bytes[1].len, 1);
	assert_memory_equal(m->r_bytes[2].data, "foob", 4);
	assert_renders(m, "{\"r_bytes\":[\"\",\"Zg==\",\"Zm9vYg==\"]}");
	release(m);
}

static void
test_bytes_reject_invalid_base64(void **state)
{
	static const char *const bad[] = {"Z", "Zg=", "Zg===", "Z===", "=",
	    "====", "Zm9v!", "+_8=", "Zg==Zg==", "Zm9 v", "Zm9v\\n", "Zm=v"};
	char text[64];
	size_t i;

	(void) state;
	for (i = 0; i < NELEM(bad); i++) {
		snprintf(text, sizeof(text), "{\"f_bytes\":\"%s\"}", bad[i]);
		expect_error(text, "f_bytes", "invalid base64");
	}
	expect_error(
	    "{\"r_bytes\":[\"Zg==\",\"*\"]}", "r_bytes[1]", "invalid base64");
	expect_error(
	    "{\"f_bytes\":[]}", "f_bytes", "expected a base64 string");
}

static void
test_enum_is_emitted_by_name_and_unknown_number_as_number(void **state)
{
	Test__V1__AllTypes *m = new_all();
	Test__V1__AllTypes *back;

	(void) state;
	m->f_enum = TEST__V1__COLOR__COLOR_BLUE;
	m->n_r_enum = 2;
	m->r_enum = malloc(2 * sizeof(*m->r_enum));
	m->r_enum[0] = TEST__V1__COLOR__COLOR_UNSPECIFIED;
	m->r_enum[1] = (Test__V1__Color) 7;
	assert_renders(m, "{\"f_enum\":\"COLOR_BLUE\",\"r_enum\":[\"COLOR_"
	                  "UNSPECIFIED\",7]}");
	assert_round_trips(&m->base);
	back = parse_all("{\"f_enum\":-3,\"r_enum\":[\"COLOR_RED\",2,"
	                 "-2147483648]}");
	assert_int_equal(back->f_enum, TEST__V1__COLOR__COLOR_BLUE);
	assert_int_equal(back->r_enum[0], TEST__V1__COLOR__COLOR_RED);
	assert_int_equal(back->r_enum[1], TEST__V1__COLOR__COLOR_GREEN);
	assert_int_equal(back->r_enum[2], INT32_MIN);
	release(back);
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void
test_rejects_unknown_enum_name_naming_the_field(void **state)
{
	(void) state;
	expect_error("{\"f_enum\":\"COLOR_PURPLE\"}", "f_enum",
	    "unknown value \"COLOR_PURPLE\" for enum test.v1.Color");
	expect_error("{\"r_enum\":[\"COLOR_RED\",\"color_red\"]}", "r_enum[1]",
	    "unknown value");
	expect_error("{\"m_uint32_enum\":{\"1\":\"RED\"}}",
	    "m_uint32_enum[\"1\"]", "unknown value \"RED\"");
	expect_error("{\"f_enum\":2147483648}", "f_enum", "out of range");
	expect_error("{\"f_enum\":1.5}", "f_enum", "expected an integer");
	expect_error("{\"f_enum\":true}", "f_enum", "expected an enum");
}

/* --- messages, repeated, null ------------------------------------------ */

static void
test_nested_messages_round_trip(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_message\":{\"name\":\"a\",\"value\":1,\"child\":"
	              "{\"name\":\"b\",\"child\":{}}}}");
	assert_string_equal(m->f_message->name, "a");
	assert_string_equal(m->f_message->child->name, "b");
	assert_non_null(m->f_message->child->child);
	assert_null(m->f_message->child->child->child);
	assert_renders(m, "{\"f_message\":{\"name\":\"a\",\"value\":1,"
	                  "\"child\":{\"name\":\"b\",\"child\":{}}}}");
	assert_round_trips(&m->base);
	release(m);
	expect_error("{\"f_message\":[]}", "f_message", "expected an object");
	expect_error("{\"f_message\":{\"child\":\"x\"}}", "f_message.child",
	    "expected an object");
}

static void
test_repeated_fields_round_trip(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"r_string\":[\"a\",\"b\"],\"r_message\":[{\"name\":"
	              "\"x\"},{}],\"r_int64\":[],\"r_double\":[0.5]}");
	assert_int_equal(m->n_r_string, 2);
	assert_int_equal(m->n_r_message, 2);
	assert_int_equal(m->n_r_int64, 0);
	assert_null(m->r_int64);
	assert_string_equal(m->r_message[0]->name, "x");
	assert_renders(m,
	    "{\"r_string\":[\"a\",\"b\"],\"r_message\":[{\"name\":"
	    "\"x\"},{}],\"r_double\":[0.5]}");
	release(m);
	expect_error("{\"r_string\":\"a\"}", "r_string", "expected an array");
}

static void
test_null_means_unset(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all(
	    "{\"f_int32\":null,\"f_string\":null,\"f_message\":null,"
	    "\"r_int32\":null,\"m_string_int32\":null,"
	    "\"f_timestamp\":null,\"o_int32\":null,\"c_string\":null,"
	    "\"c_int64\":\"5\",\"f_enum\":null,\"f_bytes\":null}");
	assert_null(m->f_message);
	assert_null(m->f_timestamp);
	assert_int_equal(m->n_r_int32, 0);
	assert_int_equal(
	    m->has_o_int32_case, TEST__V1__ALL_TYPES__HAS_O_INT32__NOT_SET);
	assert_int_equal(m->choice_case, TEST__V1__ALL_TYPES__CHOICE_C_INT64);
	assert_renders(m, "{\"c_int64\":\"5\"}");
	release(m);
}

static void
test_rejects_null_inside_array_naming_the_index(void **state)
{
	(void) state;
	expect_error("{\"r_int32\":[1,null]}", "r_int32[1]",
	    "null is not allowed in an array");
	expect_error("{\"r_message\":[null]}", "r_message[0]", "null");
}

static void
test_error_path_names_index_and_nested_field(void **state)
{
	(void) state;
	expect_error("{\"r_message\":[{},{},{\"name\":5}]}",
	    "r_message[2].name", "expected a string");
	expect_error(
	    "{\"f_message\":{\"child\":{\"child\":{\"value\":\"x\"}}}}",
	    "f_message.child.child.value", "expected an integer");
	expect_error(
	    "{\"m_bool_inner\":{\"true\":{\"child\":{\"value\":1.5}}}}",
	    "m_bool_inner[\"true\"].child.value", "expected an integer");
}

static void
test_default_values_are_omitted(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"f_int32\":0,\"f_int64\":\"0\",\"f_string\":\"\","
	              "\"f_bytes\":\"\",\"f_enum\":\"COLOR_UNSPECIFIED\","
	              "\"f_bool\":false,\"f_double\":0,\"r_int32\":[]}");
	assert_renders(m, "{}");
	release(m);
}

static void
test_output_keeps_descriptor_order_and_pretty_indents(void **state)
{
	Test__V1__AllTypes *m;
	char *s;
	size_t len;

	(void) state;
	m = parse_all("{\"f_timestamp\":\"2024-01-02T03:04:05Z\",\"f_bool\":"
	              "true,\"f_int32\":1}");
	assert_renders(m, "{\"f_int32\":1,\"f_bool\":true,"
	                  "\"f_timestamp\":\"2024-01-02T03:04:05Z\"}");
	s = core_pb_to_json(&m->base, CORE_JSON_PRETTY, &len);
	assert_non_null(s);
	assert_string_equal(s,
	    "{\n  \"f_int32\": 1,\n  \"f_bool\": true,\n"
	    "  \"f_timestamp\": \"2024-01-02T03:04:05Z\"\n}");
	assert_int_equal(len, strlen(s));
	free(s);
	s = core_pb_to_json(&m->base, 0, NULL);
	assert_non_null(s);
	free(s);
	release(m);
}

static void
test_pb_to_json_value_builds_an_object(void **state)
{
	Test__V1__AllTypes *m = parse_all("{\"f_int64\":\"5\",\"f_int32\":2}");
	json_t *v = core_pb_to_json_value(&m->base);

	(void) state;
	assert_non_null(v);
	assert_true(json_is_object(v));
	assert_int_equal(json_integer_value(json_object_get(v, "f_int32")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(v, "f_int64")), "5");
	json_decref(v);
	release(m);
}

/* --- maps --------------------------------------------------------------- */

static void
test_map_with_string_keys_round_trips(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"m_string_int32\":{\"a\":1,\"\":0,\"\\u00e9\":-1}}");
	assert_int_equal(m->n_m_string_int32, 3);
	assert_string_equal(m->m_string_int32[0]->key, "a");
	assert_int_equal(m->m_string_int32[1]->value, 0);
	/* Map values are emitted even at their default. */
	assert_renders(m, "{\"m_string_int32\":{\"a\":1,\"\":0,"
	                  "\"\xc3\xa9\":-1}}");
	assert_round_trips(&m->base);
	release(m);
}

static void
test_map_integer_keys_are_parsed_with_range_checks(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"m_int64_string\":{\"-9223372036854775808\":\"lo\","
	              "\"9223372036854775807\":\"hi\",\"0\":\"z\"},"
	              "\"m_uint32_enum\":{\"4294967295\":\"COLOR_RED\","
	              "\"0\":2}}");
	assert_true(m->m_int64_string[0]->key == INT64_MIN);
	assert_true(m->m_int64_string[1]->key == INT64_MAX);
	assert_int_equal(m->m_uint32_enum[0]->key, UINT32_MAX);
	assert_int_equal(
	    m->m_uint32_enum[1]->value, TEST__V1__COLOR__COLOR_GREEN);
	assert_renders(m, "{\"m_int64_string\":{\"-9223372036854775808\":"
	                  "\"lo\",\"9223372036854775807\":\"hi\",\"0\":\"z\"},"
	                  "\"m_uint32_enum\":{\"4294967295\":\"COLOR_RED\","
	                  "\"0\":\"COLOR_GREEN\"}}");
	assert_round_trips(&m->base);
	release(m);
	expect_error("{\"m_int64_string\":{\"9223372036854775808\":\"x\"}}",
	    "m_int64_string[\"9223372036854775808\"]",
	    "out of range for int64");
	expect_error("{\"m_uint32_enum\":{\"4294967296\":1}}",
	    "m_uint32_enum[\"4294967296\"]", "out of range for uint32");
	expect_error("{\"m_uint32_enum\":{\"-1\":1}}", "m_uint32_enum[\"-1\"]",
	    "out of range for uint32");
	expect_error("{\"m_int64_string\":{\"abc\":\"x\"}}",
	    "m_int64_string[\"abc\"]", "not a canonical int64");
	/* "01" and "1" would be one key under two spellings. */
	expect_error("{\"m_int64_string\":{\"01\":\"x\"}}",
	    "m_int64_string[\"01\"]", "not a canonical");
	expect_error("{\"m_int64_string\":{\"-0\":\"x\"}}",
	    "m_int64_string[\"-0\"]", "not a canonical");
	expect_error(
	    "{\"m_int64_string\":{\" 1\":\"x\"}}", NULL, "not a canonical");
}

static void
test_map_bool_keys_are_true_or_false(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"m_bool_inner\":{\"true\":{\"name\":\"t\"},"
	              "\"false\":{}}}");
	assert_int_equal(m->n_m_bool_inner, 2);
	assert_true(m->m_bool_inner[0]->key);
	assert_false(m->m_bool_inner[1]->key);
	assert_non_null(m->m_bool_inner[1]->value);
	assert_renders(m, "{\"m_bool_inner\":{\"true\":{\"name\":\"t\"},"
	                  "\"false\":{}}}");
	assert_round_trips(&m->base);
	release(m);
	expect_error("{\"m_bool_inner\":{\"yes\":{}}}",
	    "m_bool_inner[\"yes\"]", "\"true\" or \"false\"");
	expect_error(
	    "{\"m_bool_inner\":{\"True\":{}}}", NULL, "\"true\" or \"false\"");
}

static void
test_map_rejects_duplicate_keys_and_null_values(void **state)
{
	core_json_error err;

	(void) state;
	err = expect_syntax_error("{\"m_string_int32\":{\"k\":1,\"k\":2}}");
	assert_non_null(strstr(err.message, "duplicate"));
	expect_error("{\"m_string_int32\":{\"k\":null}}",
	    "m_string_int32[\"k\"]", "null");
	expect_error(
	    "{\"m_string_int32\":[]}", "m_string_int32", "expected an object");
}

static void
test_map_error_path_names_the_key(void **state)
{
	(void) state;
	expect_error("{\"m_string_int32\":{\"ok\":1,\"k\":\"x\"}}",
	    "m_string_int32[\"k\"]", "expected an integer for int32");
	/* Keys are echoed escaped and cut, never raw. */
	expect_error("{\"m_string_int32\":{\"a\\\"b\":true}}",
	    "m_string_int32[\"a\\\"b\"]", "expected an integer");
}

/* --- oneofs ------------------------------------------------------------- */

static void
test_oneof_member_is_emitted_even_at_its_default(void **state)
{
	(void) state;
	assert_normalises("{\"o_int32\":0,\"o_string\":\"\",\"c_inner\":{}}",
	    "{\"o_int32\":0,\"o_string\":\"\",\"c_inner\":{}}");
	assert_normalises("{\"c_int64\":\"0\"}", "{\"c_int64\":\"0\"}");
	assert_normalises("{\"c_string\":\"\"}", "{\"c_string\":\"\"}");
}

static void
test_oneof_presence_round_trips(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_all("{\"o_int32\":0,\"c_string\":\"x\"}");
	assert_int_equal(
	    m->has_o_int32_case, TEST__V1__ALL_TYPES__HAS_O_INT32_O_INT32);
	assert_int_equal(
	    m->has_o_string_case, TEST__V1__ALL_TYPES__HAS_O_STRING__NOT_SET);
	assert_int_equal(m->choice_case, TEST__V1__ALL_TYPES__CHOICE_C_STRING);
	assert_string_equal(m->c_string, "x");
	assert_round_trips(&m->base);
	release(m);
}

static void
test_oneof_with_two_members_is_rejected(void **state)
{
	(void) state;
	expect_error("{\"c_string\":\"x\",\"c_int64\":\"5\"}", "c_int64",
	    "oneof already set by field \"c_string\"");
	expect_error("{\"c_inner\":{\"name\":\"a\"},\"cString\":\"x\"}",
	    "c_string", "oneof already set");
	expect_error("{\"c_string\":\"x\",\"c_inner\":{\"name\":\"a\"}}",
	    "c_inner", "oneof already set");
}

/* --- field names --------------------------------------------------------- */

static void
test_accepts_camel_case_and_emits_snake_case(void **state)
{
	(void) state;
	assert_normalises(
	    "{\"fInt32\":1,\"fUint64\":\"2\",\"rMessage\":[{\"name\":\"a\"}],"
	    "\"mStringInt32\":{\"k\":1},\"fTimestamp\":\"1970-01-01T00:00:"
	    "01Z\","
	    "\"oInt32\":3,\"cInner\":{\"value\":4}}",
	    "{\"f_int32\":1,\"f_uint64\":\"2\",\"r_message\":[{\"name\":\"a\"}"
	    "],"
	    "\"m_string_int32\":{\"k\":1},\"o_int32\":3,\"c_inner\":{"
	    "\"value\":4},"
	    "\"f_timestamp\":\"1970-01-01T00:00:01Z\"}");
	/* Only protoc's spelling counts as the JSON name. */
	expect_error("{\"FInt32\":1}", "FInt32", "unknown field \"FInt32\"");
	expect_error("{\"fint32\":1}", "fint32", "unknown field");
	expect_error("{\"f_Int32\":1}", "f_Int32", "unknown field");
}

static void
test_rejects_unknown_field_naming_it(void **state)
{
	(void) state;
	expect_error(
	    "{\"f_int32\":1,\"foo\":2}", "foo", "unknown field \"foo\"");
	expect_error("{\"f_message\":{\"child\":{\"bogus\":1}}}",
	    "f_message.child.bogus", "unknown field \"bogus\"");
	expect_error("{\"r_message\":[{},{\"x\":1}]}", "r_message[1].x",
	    "unknown field \"x\"");
	expect_error("{\"a\\\"\\n\":1}", NULL, "unknown field \"a\\\"?\"");
}

static void
test_rejects_duplicate_key(void **state)
{
	core_json_error err;

	(void) state;
	err = expect_syntax_error("{\"f_int32\":1,\n\"f_int32\":2}");
	assert_non_null(strstr(err.message, "duplicate"));
	assert_int_equal(err.line, 2);
}

static void
test_rejects_snake_and_camel_spelling_of_one_field(void **state)
{
	(void) state;
	expect_error("{\"f_int32\":1,\"fInt32\":2}", "f_int32",
	    "duplicate field \"f_int32\"");
	expect_error("{\"rMessage\":[],\"r_message\":[]}", "r_message",
	    "duplicate field");
	/* null still counts as giving the field. */
	expect_error("{\"fMessage\":null,\"f_message\":{}}", "f_message",
	    "duplicate field");
	expect_error("{\"f_message\":{\"name\":\"a\",\"name\":\"b\"}}", "",
	    "duplicate");
}

/* --- document level ----------------------------------------------------- */

static void
test_malformed_json_reports_line_and_column(void **state)
{
	core_json_error err;

	(void) state;
	err = expect_syntax_error("{\n  \"f_int32\": 1,\n  \"f_int64\": }");
	assert_int_equal(err.line, 3);
	assert_true(err.column > 1);
	assert_true(err.position > 0);
	expect_syntax_error("{\"f_int32\":1");
	expect_syntax_error("{\"f_int32\":1}x");
	expect_syntax_error("{'f_int32':1}");
	expect_syntax_error("{\"f_int32\":01}");
	expect_syntax_error("");
}

static void
test_top_level_must_be_an_object(void **state)
{
	static const char *const bad[] = {
	    "[]", "1", "\"x\"", "null", "true", "[{}]"};
	size_t i;
	core_json_error err;
	ProtobufCMessage *out = NULL;
	json_t *v;

	(void) state;
	for (i = 0; i < NELEM(bad); i++) {
		err = expect_error_n(ALL, bad[i], strlen(bad[i]), NULL, "",
		    "expected a JSON object");
		assert_int_equal(err.line, 0);
	}
	v = json_array();
	assert_int_equal(
	    core_json_value_to_pb(ALL, v, NULL, NULL, &out, &err), -1);
	assert_non_null(strstr(err.message, "expected a JSON object"));
	assert_int_equal(
	    core_json_value_to_pb(ALL, NULL, NULL, NULL, &out, &err), -1);
	assert_null(out);
	json_decref(v);
}

/* "{"f_message":" + n-1 times "{"child":" + "{}" + closing braces. */
static char *
nested_inner_text(int objects)
{
	size_t cap = (size_t) objects * 12 + 32, len = 0;
	char *s = malloc(cap);
	int i;

	assert_non_null(s);
	len += (size_t) snprintf(s + len, cap - len, "{\"f_message\":");
	for (i = 2; i < objects; i++)
		len += (size_t) snprintf(s + len, cap - len, "{\"child\":");
	len += (size_t) snprintf(s + len, cap - len, "{}");
	for (i = 2; i < objects; i++)
		s[len++] = '}';
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

static void
test_nesting_up_to_max_depth_is_accepted_and_beyond_rejected(void **state)
{
	core_json_limits lim = {0, 3, 0};
	ProtobufCMessage *m;
	char *s;
	core_json_error err;

	(void) state;
	release(parse_ok_lim("{\"f_message\":{\"child\":{}}}", &lim));
	release(parse_ok_lim("{\"r_message\":[{}]}", &lim));
	release(parse_ok_lim("{\"m_bool_inner\":{\"true\":{}}}", &lim));
	expect_error_lim("{\"f_message\":{\"child\":{\"child\":{}}}}", &lim,
	    "nesting deeper than 3");
	expect_error_lim(
	    "{\"r_message\":[{\"child\":{}}]}", &lim, "nesting deeper than 3");
	expect_error_lim("{\"m_bool_inner\":{\"true\":{\"child\":{}}}}", &lim,
	    "nesting deeper than 3");
	/* Depth counts nesting, not the number of objects. */
	release(parse_ok_lim(
	    "{\"r_message\":[{},{},{}],\"f_message\":{},\"r_int32\":[1]}",
	    &lim));

	/* The default is 32. */
	s = nested_inner_text(32);
	m = parse_ok(ALL, s);
	release(m);
	free(s);
	s = nested_inner_text(33);
	err = expect_error_n(
	    ALL, s, strlen(s), NULL, "", "nesting deeper than 32");
	assert_int_equal(err.line, 1);
	assert_true(err.position > 0);
	free(s);
}

static void
test_depth_limit_applies_to_prebuilt_values(void **state)
{
	core_json_limits lim = {0, 4, 0};
	json_t *root = json_object(), *cur = root;
	ProtobufCMessage *out = NULL;
	core_json_error err;
	int i;

	(void) state;
	for (i = 0; i < 4; i++) {
		json_t *next = json_object();

		json_object_set_new(cur, i == 0 ? "f_message" : "child", next);
		cur = next;
	}
	assert_int_equal(
	    core_json_value_to_pb(ALL, root, &lim, &count.a, &out, &err), -1);
	assert_string_equal(err.field, "f_message.child.child.child");
	assert_non_null(strstr(err.message, "nesting deeper than 4"));
	assert_null(out);
	lim.max_depth = 5;
	assert_int_equal(
	    core_json_value_to_pb(ALL, root, &lim, &count.a, &out, &err), 0);
	release(out);
	json_decref(root);
}

static void
test_hundred_thousand_open_brackets_do_not_crash(void **state)
{
	size_t n = 100000;
	char *s = malloc(n * 2 + 1);
	core_json_limits big = {0, 1000000, 0};

	(void) state;
	assert_non_null(s);
	memset(s, '[', n);
	s[n] = '\0';
	expect_error_n(ALL, s, n, NULL, "", "nesting deeper than 32");
	/* With a silly limit jansson's own depth cap still holds. */
	expect_error_n(ALL, s, n, &big, "", "");
	memset(s + n, ']', n);
	s[2 * n] = '\0';
	expect_error_n(ALL, s, 2 * n, &big, "", "");
	free(s);
	/* Brackets inside strings are not nesting. */
	release(
	    parse_ok(ALL, "{\"f_string\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	                  "[[[[[[[[[[[[[[[[{{{{\\\"\"}"));
}

static void
test_input_larger_than_max_bytes_is_rejected_before_parsing(void **state)
{
	const char *text = "{\"f_int32\":1}"; /* 13 bytes */
	core_json_limits lim = {13, 0, 0};
	core_json_error err;

	(void) state;
	release(parse_ok_n(ALL, text, 13, &lim));
	lim.max_bytes = 12;
	err = expect_error_n(ALL, text, 13, &lim, "", "larger than 12 bytes");
	assert_int_equal(err.line, 0);
	/* Not even looked at: garbage gets the size error, too. */
	expect_error_n(ALL,
	    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 13, &lim,
	    "", "larger than");
}

/* --- timestamps --------------------------------------------------------- */

static void
test_timestamp_is_emitted_as_rfc3339_with_0_3_6_or_9_digits(void **state)
{
	static const struct {
		int64_t secs;
		int32_t nanos;
		const char *text;
	} cases[] = {
	    {0, 0, "1970-01-01T00:00:00Z"},
	    {0, 500000000, "1970-01-01T00:00:00.500Z"},
	    {0, 123456000, "1970-01-01T00:00:00.123456Z"},
	    {0, 1, "1970-01-01T00:00:00.000000001Z"},
	    {-1, 999999999, "1969-12-31T23:59:59.999999999Z"},
	    {951782400, 0, "2000-02-29T00:00:00Z"},
	    {INT64_C(-62135596800), 0, "0001-01-01T00:00:00Z"},
	    {INT64_C(253402300799), 0, "9999-12-31T23:59:59Z"},
	    {1700000000, 10000000, "2023-11-14T22:13:20.010Z"},
	};
	char expected[96];
	size_t i;

	(void) state;
	for (i = 0; i < NELEM(cases); i++) {
		Test__V1__AllTypes *m = new_all();

		m->f_timestamp = new_ts(cases[i].secs, cases[i].nanos);
		snprintf(expected, sizeof(expected),
		    "{\"f_timestamp\":\"%s\"}", cases[i].text);
		assert_renders(m, expected);
		assert_round_trips(&m->base);
		protobuf_c_message_free_unpacked(&m->base, NULL);
	}
}

static void
test_timestamp_accepts_offsets_and_fractions(void **state)
{
	static const struct {
		const char *text;
		int64_t secs;
		int32_t nanos;
	} cases[] = {
	    {"1970-01-01T01:00:00+01:00", 0, 0},
	    {"1969-12-31T19:00:00-05:00", 0, 0},
	    {"1970-01-01T00:00:00.5Z", 0, 500000000},
	    {"1970-01-01T00:00:00.123456789Z", 0, 123456789},
	    {"1970-01-01t00:00:00.000000001z", 0, 1},
	    {"2024-02-29T12:00:00Z", 1709208000, 0},
	    {"2000-03-01T05:30:00+05:30", 951868800, 0},
	    {"0001-01-01T00:00:00Z", INT64_C(-62135596800), 0},
	    {"9999-12-31T23:59:59.999999999Z", INT64_C(253402300799),
	        999999999},
	    {"0001-01-01T00:59:00+00:59", INT64_C(-62135596800), 0},
	};
	char text[96];
	size_t i;

	(void) state;
	for (i = 0; i < NELEM(cases); i++) {
		Test__V1__AllTypes *m;

		snprintf(text, sizeof(text), "{\"f_timestamp\":\"%s\"}",
		    cases[i].text);
		m = parse_all(text);
		assert_non_null(m->f_timestamp);
		if (m->f_timestamp->seconds != cases[i].secs)
			print_error("%s -> %" PRId64 "\n", cases[i].text,
			    m->f_timestamp->seconds);
		assert_true(m->f_timestamp->seconds == cases[i].secs);
		assert_int_equal(m->f_timestamp->nanos, cases[i].nanos);
		release(m);
	}
}

static void
test_timestamp_rejects_invalid_dates_and_forms(void **state)
{
	static const char *const bad[] = {
	    "2024-13-01T00:00:00Z",
	    "2024-00-01T00:00:00Z",
	    "2023-02-29T00:00:00Z",
	    "1900-02-29T00:00:00Z",
	    "2024-04-31T00:00:00Z",
	    "2024-01-00T00:00:00Z",
	    "2024-01-01T24:00:00Z",
	    "2024-01-01T00:60:00Z",
	    "2024-01-01T00:00:60Z",
	    "2024-01-01T00:00:00",
	    "2024-01-01",
	    "2024-01-01 00:00:00Z",
	    "2024-01-01T00:00:00.Z",
	    "2024-01-01T00:00:00.1234567890Z",
	    "2024-01-01T00:00:00+24:00",
	    "2024-01-01T00:00:00+01:60",
	    "2024-01-01T00:00:00+0100",
	    "2024-01-01T00:00:00Zx",
	    " 2024-01-01T00:00:00Z",
	    "0000-12-31T00:00:00Z",
	    "+2024-01-01T00:00:00Z",
	    "24-01-01T00:00:00Z",
	    "2024-1-01T00:00:00Z",
	    "",
	};
	char text[96];
	size_t i;

	(void) state;
	for (i = 0; i < NELEM(bad); i++) {
		snprintf(
		    text, sizeof(text), "{\"f_timestamp\":\"%s\"}", bad[i]);
		expect_error(
		    text, "f_timestamp", "invalid RFC 3339 timestamp");
	}
	expect_error("{\"f_timestamp\":\"9999-12-31T23:59:59-00:01\"}",
	    "f_timestamp", "timestamp out of range");
	expect_error("{\"f_timestamp\":\"0001-01-01T00:00:00+00:01\"}",
	    "f_timestamp", "timestamp out of range");
	expect_error("{\"f_timestamp\":0}", "f_timestamp",
	    "expected an RFC 3339 timestamp string");
	expect_error("{\"f_timestamp\":{\"seconds\":\"1\"}}", "f_timestamp",
	    "expected an RFC 3339");
}

static void
test_unrepresentable_timestamp_is_rendered_as_an_object(void **state)
{
	Test__V1__AllTypes *m = new_all();

	(void) state;
	m->f_timestamp = new_ts(INT64_C(253402300800), 0);
	assert_renders(m, "{\"f_timestamp\":{\"seconds\":\"253402300800\"}}");
	protobuf_c_message_free_unpacked(&m->base, NULL);
	m = new_all();
	m->f_timestamp = new_ts(0, -1);
	assert_renders(m, "{\"f_timestamp\":{\"nanos\":-1}}");
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void
test_top_level_timestamp_is_a_plain_object(void **state)
{
	Google__Protobuf__Timestamp *t = new_ts(5, 6);
	ProtobufCMessage *m;

	(void) state;
	assert_renders(t, "{\"seconds\":\"5\",\"nanos\":6}");
	m = parse_ok(&google__protobuf__timestamp__descriptor,
	    "{\"seconds\":\"5\",\"nanos\":6}");
	assert_true(((Google__Protobuf__Timestamp *) m)->seconds == 5);
	release(m);
	protobuf_c_message_free_unpacked(&t->base, NULL);
}

/* --- allocation --------------------------------------------------------- */

static const char big_doc[] =
    "{\"f_int32\":1,\"f_int64\":\"2\",\"f_string\":\"s\",\"f_bytes\":\"Zg==\","
    "\"f_message\":{\"name\":\"n\",\"child\":{\"name\":\"c\"}},"
    "\"r_string\":[\"a\",\"b\"],\"r_bytes\":[\"Zg\",\"Zm8\"],"
    "\"r_message\":[{\"name\":\"x\"},{\"child\":{}}],"
    "\"m_string_int32\":{\"a\":1,\"b\":2},\"m_int64_string\":{\"1\":\"x\"},"
    "\"m_bool_inner\":{\"true\":{\"name\":\"i\"}},\"m_uint32_enum\":{\"3\":1},"
    "\"o_string\":\"o\",\"c_inner\":{\"name\":\"ci\"},"
    "\"f_timestamp\":\"2020-01-01T00:00:00Z\"}";

static void
test_every_allocation_failure_is_reported_without_leaks(void **state)
{
	ProtobufCMessage *out;
	core_json_error err;
	long k, total;

	(void) state;
	/* Count the allocations of a successful parse, then fail each. */
	release(parse_ok(ALL, big_doc));
	total = count.calls;
	assert_true(total > 20);
	for (k = 0; k < total; k++) {
		count.calls = 0;
		count.fail_at = k;
		out = NULL;
		assert_int_equal(core_json_to_pb(ALL, big_doc, strlen(big_doc),
		                     NULL, &count.a, &out, &err),
		    -1);
		assert_null(out);
		assert_string_equal(err.message, "out of memory");
		assert_int_equal(count.live, 0);
	}
}

static void
test_failure_late_in_document_frees_everything_built(void **state)
{
	char text[sizeof(big_doc) + 64];
	size_t n = sizeof(big_doc) - 2; /* drop the closing brace */

	(void) state;
	memcpy(text, big_doc, n);
	snprintf(text + n, sizeof(text) - n, ",\"r_int64\":[1,\"x\"]}");
	expect_error(text, "r_int64[1]", "expected an integer");
	memcpy(text, big_doc, n);
	snprintf(text + n, sizeof(text) - n, ",\"c_string\":\"again\"}");
	expect_error(text, "c_string", "oneof already set");
	expect_error("{\"m_bool_inner\":{\"true\":{\"name\":\"a\"},"
	             "\"false\":{\"child\":{\"name\":2}}}}",
	    "m_bool_inner[\"false\"].child.name", "expected a string");
	expect_error("{\"r_message\":[{\"name\":\"a\",\"child\":{\"name\":"
	             "\"b\"}},{\"child\":{\"child\":{\"zz\":1}}}]}",
	    "r_message[1].child.child.zz", "unknown field");
}

static void
test_default_allocator_is_used_when_none_given(void **state)
{
	ProtobufCMessage *m = NULL;
	core_json_error err;

	(void) state;
	assert_int_equal(core_json_to_pb(ALL, big_doc, strlen(big_doc), NULL,
	                     NULL, &m, &err),
	    0);
	assert_round_trips(m);
	protobuf_c_message_free_unpacked(m, NULL);
	m = NULL;
	assert_int_equal(
	    core_json_to_pb(ALL, "{\"r_string\":[\"a\",1]}",
	        strlen("{\"r_string\":[\"a\",1]}"), NULL, NULL, &m, NULL),
	    -1);
	assert_null(m);
}

/* The codec keeps no global state: threads converting at once get the
 * same text as one thread alone. */
static void *
convert_many(void *arg)
{
	const char *expected = arg;
	int i;

	for (i = 0; i < 200; i++) {
		ProtobufCMessage *m = NULL;
		char *s;

		if (core_json_to_pb(ALL, big_doc, strlen(big_doc), NULL, NULL,
		        &m, NULL) != 0)
			return "parse failed";
		s = core_pb_to_json(m, 0, NULL);
		protobuf_c_message_free_unpacked(m, NULL);
		if (s == NULL || strcmp(s, expected) != 0) {
			free(s);
			return "different output";
		}
		free(s);
	}
	return NULL;
}

static void
test_concurrent_conversions_agree(void **state)
{
	ProtobufCMessage *m = parse_ok(ALL, big_doc);
	char *expected = render(m);
	pthread_t t[4];
	void *res;
	size_t i;

	(void) state;
	release(m);
	for (i = 0; i < NELEM(t); i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, convert_many, expected), 0);
	for (i = 0; i < NELEM(t); i++) {
		assert_int_equal(pthread_join(t[i], &res), 0);
		assert_null(res);
	}
	free(expected);
}

/* --- the REST style (CORE_JSON_REST) ------------------------------------ */

static const core_json_limits rest_lim = {.flags = CORE_JSON_REST};

static Test__V1__AllTypes *
parse_rest(const char *text)
{
	return (Test__V1__AllTypes *) parse_ok_lim(text, &rest_lim);
}

static void
expect_rest_error(const char *text, const char *field, const char *what)
{
	expect_error_n(ALL, text, strlen(text), &rest_lim, field, what);
}

/* Compact REST JSON of m; the caller frees it. */
static char *
render_rest(const void *m)
{
	size_t len = 0;
	char *s = core_pb_to_json(m, CORE_JSON_REST, &len);

	assert_non_null(s);
	assert_int_equal(len, strlen(s));
	return s;
}

static void
assert_renders_rest(const void *m, const char *expected)
{
	char *s = render_rest(m);

	if (strcmp(s, expected) != 0)
		print_error(
		    "REST rendering\n  %s\nwanted\n  %s\n", s, expected);
	assert_string_equal(s, expected);
	free(s);
}

/* The value of key in the REST rendering of m, as compact JSON text. */
static char *
rest_member(const void *m, const char *key)
{
	json_t *o = core_pb_to_json_value_flags(m, CORE_JSON_REST);
	json_t *v;
	char *s;

	assert_non_null(o);
	v = json_object_get(o, key);
	assert_non_null(v);
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(s);
	json_decref(o);
	return s;
}

static void
assert_rest_member(const void *m, const char *key, const char *expected)
{
	char *s = rest_member(m, key);

	assert_string_equal(s, expected);
	free(s);
}

static void
test_rest_enums_are_short_lower_case_names_both_ways(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	m = parse_rest("{\"f_enum\":\"red\",\"r_enum\":[\"green\",\"blue\"],"
	               "\"m_uint32_enum\":{\"7\":\"blue\"}}");
	assert_int_equal(m->f_enum, TEST__V1__COLOR__COLOR_RED);
	assert_int_equal(m->n_r_enum, 2);
	assert_int_equal(m->r_enum[0], TEST__V1__COLOR__COLOR_GREEN);
	assert_int_equal(m->r_enum[1], TEST__V1__COLOR__COLOR_BLUE);
	assert_rest_member(m, "f_enum", "\"red\"");
	assert_rest_member(m, "r_enum", "[\"green\",\"blue\"]");
	assert_rest_member(m, "m_uint32_enum", "{\"7\":\"blue\"}");
	/* The proto3 mapping keeps the proto names. */
	assert_renders(m,
	    "{\"f_enum\":\"COLOR_RED\",\"r_enum\":[\"COLOR_GREEN\","
	    "\"COLOR_BLUE\"],\"m_uint32_enum\":{\"7\":"
	    "\"COLOR_BLUE\"}}");
	release(m);
	/* Roles and statuses of the system. */
	{
		Admin__V1__ListUsersRequest *r =
		    (Admin__V1__ListUsersRequest *) parse_ok_n(
		        &admin__v1__list_users_request__descriptor,
		        "{\"status\":\"disabled\",\"role\":\"admin\"}",
		        strlen("{\"status\":\"disabled\",\"role\":\"admin\"}"),
		        &rest_lim);

		assert_int_equal(
		    r->status, AUTH__V1__USER_STATUS__USER_STATUS_DISABLED);
		assert_int_equal(r->role, AUTH__V1__ROLE__ROLE_ADMIN);
		release(r);
	}
}

static void
test_rest_enum_input_refuses_proto_names_numbers_and_unknown_names(
    void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	/* The names are listed in the order of their numbers. */
	expect_rest_error("{\"f_enum\":\"COLOR_RED\"}", "f_enum",
	    "unknown value \"COLOR_RED\" for Color: expected one of \"blue\", "
	    "\"red\", \"green\"");
	expect_rest_error(
	    "{\"f_enum\":\"RED\"}", "f_enum", "unknown value \"RED\"");
	expect_rest_error(
	    "{\"f_enum\":\"purple\"}", "f_enum", "unknown value \"purple\"");
	expect_rest_error("{\"f_enum\":1}", "f_enum",
	    "expected one of \"blue\", \"red\", \"green\"");
	expect_rest_error("{\"r_enum\":[\"red\",\"Red\"]}", "r_enum[1]",
	    "unknown value \"Red\"");
	/* The zero value has no name: "none" is said by leaving it out. */
	expect_rest_error(
	    "{\"f_enum\":\"unspecified\"}", "f_enum", "leave the member out");
	expect_rest_error(
	    "{\"f_enum\":\"\"}", "f_enum", "leave the member out");
	expect_rest_error("{\"f_enum\":\"COLOR_UNSPECIFIED\"}", "f_enum",
	    "unknown value \"COLOR_UNSPECIFIED\"");
	m = parse_rest("{\"f_enum\":null}");
	assert_int_equal(m->f_enum, 0);
	release(m);
	/* The proto3 mapping takes proto names and numbers, not REST
	 * names. */
	m = parse_all("{\"f_enum\":\"COLOR_GREEN\",\"r_enum\":[1]}");
	assert_int_equal(m->f_enum, TEST__V1__COLOR__COLOR_GREEN);
	release(m);
	expect_error("{\"f_enum\":\"green\"}", "f_enum", "unknown value");
}

static void
test_rest_enum_without_a_name_is_written_as_null(void **state)
{
	Test__V1__AllTypes m = TEST__V1__ALL_TYPES__INIT;
	int vals[] = {0, TEST__V1__COLOR__COLOR_RED, 99};

	(void) state;
	m.r_enum = (Test__V1__Color *) vals;
	m.n_r_enum = 3;
	/* The zero value and a number the enum does not name. */
	assert_rest_member(&m, "f_enum", "null");
	assert_rest_member(&m, "r_enum", "[null,\"red\",null]");
	m.f_enum = 42;
	assert_rest_member(&m, "f_enum", "null");
	assert_renders(&m, "{\"f_enum\":42,\"r_enum\":[\"COLOR_UNSPECIFIED\","
	                   "\"COLOR_RED\",99]}");
	/* Where a member cannot be left out, null reads back as the zero
	 * value it stands for; the proto3 mapping keeps refusing it. */
	{
		Test__V1__AllTypes *back = parse_rest(
		    "{\"r_enum\":[null,\"red\"],\"m_uint32_enum\":{\"3\":null}}");

		assert_int_equal(back->n_r_enum, 2);
		assert_int_equal(back->r_enum[0], 0);
		assert_int_equal(back->r_enum[1], TEST__V1__COLOR__COLOR_RED);
		assert_int_equal(back->n_m_uint32_enum, 1);
		assert_int_equal(back->m_uint32_enum[0]->value, 0);
		assert_rest_member(back, "r_enum", "[null,\"red\"]");
		release(back);
	}
	expect_error("{\"r_enum\":[null]}", "r_enum[0]",
	    "null is not allowed in an array");
	expect_rest_error("{\"r_int32\":[null]}", "r_int32[0]",
	    "null is not allowed in an array");
}

static void
test_rest_output_writes_every_member(void **state)
{
	Test__V1__AllTypes m = TEST__V1__ALL_TYPES__INIT;
	Test__V1__Inner in = TEST__V1__INNER__INIT;

	(void) state;
	/* Scalars at their default, [] and {}, null for an unset message
	 * field; the members of a oneof that is not set are left out. */
	assert_renders_rest(&m,
	    "{\"f_int32\":0,\"f_int64\":\"0\",\"f_uint32\":0,\"f_uint64\":\"0\","
	    "\"f_sint32\":0,\"f_sint64\":\"0\",\"f_fixed32\":0,\"f_fixed64\":"
	    "\"0\",\"f_sfixed32\":0,\"f_sfixed64\":\"0\",\"f_float\":0.0,"
	    "\"f_double\":0.0,\"f_bool\":false,\"f_string\":\"\",\"f_bytes\":"
	    "\"\",\"f_enum\":null,\"f_message\":null,\"r_int32\":[],\"r_int64\":"
	    "[],\"r_string\":[],\"r_bytes\":[],\"r_enum\":[],\"r_message\":[],"
	    "\"r_double\":[],\"r_bool\":[],\"m_string_int32\":{},"
	    "\"m_int64_string\":{},\"m_bool_inner\":{},\"m_uint32_enum\":{},"
	    "\"f_timestamp\":null,\"f_struct\":null,\"f_value\":null,"
	    "\"f_list\":null,\"r_value\":[]}");
	/* The proto3 mapping leaves all of them out. */
	assert_renders(&m, "{}");
	/* A set oneof member is written, also at its default; a nested
	 * message is written whole. */
	m.has_o_int32_case = TEST__V1__ALL_TYPES__HAS_O_INT32_O_INT32;
	m.choice_case = TEST__V1__ALL_TYPES__CHOICE_C_INNER;
	m.c_inner = &in;
	assert_rest_member(&m, "o_int32", "0");
	assert_rest_member(
	    &m, "c_inner", "{\"name\":\"\",\"value\":0,\"child\":null}");
	{
		json_t *o =
		    core_pb_to_json_value_flags(&m.base, CORE_JSON_REST);

		assert_null(json_object_get(o, "o_string"));
		assert_null(json_object_get(o, "c_string"));
		assert_null(json_object_get(o, "c_int64"));
		json_decref(o);
	}
	/* And the REST text reads back as the same message. */
	{
		char *s = render_rest(&m);
		Test__V1__AllTypes *back = parse_rest(s);
		char *again = render_rest(back);

		assert_string_equal(s, again);
		free(s);
		free(again);
		release(back);
	}
}

static void
test_rest_input_takes_only_proto_names(void **state)
{
	Test__V1__AllTypes *m;

	(void) state;
	expect_rest_error("{\"fInt32\":1}", "fInt32",
	    "unknown field \"fInt32\" (the name is \"f_int32\")");
	expect_rest_error("{\"f_message\":{\"child\":{\"Name\":\"x\"}}}",
	    "f_message.child.Name", "unknown field \"Name\"");
	expect_rest_error(
	    "{\"f_int32\":1,\"typo\":2}", "typo", "unknown field \"typo\"");
	m = parse_rest("{\"f_int32\":1,\"f_message\":{\"name\":\"x\"}}");
	assert_int_equal(m->f_int32, 1);
	release(m);
	/* The proto3 mapping takes both spellings. */
	m = parse_all("{\"fInt32\":1}");
	assert_int_equal(m->f_int32, 1);
	release(m);
}

/* A Struct, a Value and a ListValue are the JSON they stand for, in both
 * styles. */
static const char struct_doc[] =
    "{\"f_struct\":{\"n\":1,\"x\":2.5,\"s\":\"t\",\"b\":true,\"z\":null,"
    "\"l\":[1,\"a\",[],{}],\"o\":{\"deep\":{\"er\":[null]}}},"
    "\"f_value\":\"NaN\",\"f_list\":[false,{\"k\":\"v\"}],"
    "\"r_value\":[null,0,{}]}";

static void
test_struct_value_and_list_value_are_plain_json_in_both_styles(void **state)
{
	Test__V1__AllTypes *m;
	Google__Protobuf__Value *v;
	json_t *want, *got;
	json_error_t jerr;
	unsigned style;

	(void) state;
	want = json_loads(struct_doc, 0, &jerr);
	assert_non_null(want);
	for (style = 0; style < 2; style++) {
		core_json_limits lim = {0, 0, style ? CORE_JSON_REST : 0};
		char *s;

		m = (Test__V1__AllTypes *) parse_ok_lim(struct_doc, &lim);
		assert_non_null(m->f_struct);
		assert_int_equal(m->f_struct->n_fields, 7);
		assert_string_equal(m->f_struct->fields[0]->key, "n");
		v = m->f_struct->fields[0]->value;
		assert_int_equal(
		    v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
		assert_true(v->number_value == 1.0);
		v = m->f_struct->fields[4]->value;
		assert_int_equal(
		    v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
		/* "NaN" in a Value is a string, not a number. */
		assert_int_equal(m->f_value->kind_case,
		    GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
		assert_int_equal(m->f_list->n_values, 2);
		assert_int_equal(m->n_r_value, 3);
		assert_int_equal(m->r_value[0]->kind_case,
		    GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);

		s = core_pb_to_json(
		    &m->base, style ? CORE_JSON_REST : 0, NULL);
		assert_non_null(s);
		got = json_loads(s, 0, &jerr);
		assert_non_null(got);
		assert_true(json_equal(json_object_get(got, "f_struct"),
		    json_object_get(want, "f_struct")));
		assert_true(json_equal(json_object_get(got, "f_value"),
		    json_object_get(want, "f_value")));
		assert_true(json_equal(json_object_get(got, "f_list"),
		    json_object_get(want, "f_list")));
		assert_true(json_equal(json_object_get(got, "r_value"),
		    json_object_get(want, "r_value")));
		/* Integral numbers stay integers: 1, not 1.0. */
		assert_non_null(strstr(s, "\"n\":1,\"x\":2.5,"));
		json_decref(got);
		free(s);
		release(m);
	}
	json_decref(want);

	/* A Value set to null is a value, in both styles. */
	m = parse_all("{\"f_value\":null}");
	assert_non_null(m->f_value);
	assert_renders(m, "{\"f_value\":null}");
	release(m);
	/* Wrong shapes. */
	expect_error("{\"f_struct\":[1]}", "f_struct", "expected an object");
	expect_error("{\"f_list\":{}}", "f_list", "expected an array");
	expect_rest_error(
	    "{\"f_struct\":\"{}\"}", "f_struct", "expected an object");
}

static void
test_struct_at_the_top_is_the_object_itself(void **state)
{
	json_error_t jerr;
	json_t *in =
	    json_loads("{\"before\":{\"role\":\"user\"},\"revoked\":3,"
	               "\"list\":[1.5,null]}",
	        0, &jerr);
	ProtobufCMessage *m = NULL;
	core_json_error err;
	json_t *out;

	(void) state;
	assert_non_null(in);
	assert_int_equal(
	    core_json_value_to_pb(&google__protobuf__struct__descriptor, in,
	        NULL, &count.a, &m, &err),
	    0);
	out = core_pb_to_json_value(m);
	assert_true(json_equal(in, out));
	json_decref(out);
	out = core_pb_to_json_value_flags(m, CORE_JSON_REST);
	assert_true(json_equal(in, out));
	json_decref(out);
	release(m);
	json_decref(in);
}

static void
test_struct_nesting_is_bounded_by_max_depth(void **state)
{
	core_json_limits lim = {0, 4, 0};
	core_json_limits rlim = {0, 4, CORE_JSON_REST};
	json_t *root = json_object(), *cur, *next;
	ProtobufCMessage *out = NULL;
	core_json_error err;
	char *s;
	int i;

	(void) state;
	/* Top object, f_struct, two more levels: 4. */
	release(parse_ok_lim("{\"f_struct\":{\"a\":{\"b\":[]}}}", &lim));
	release(parse_ok_lim("{\"f_value\":[[[]]]}", &rlim));
	expect_error_lim("{\"f_struct\":{\"a\":{\"b\":[{}]}}}", &lim,
	    "nesting deeper than 4");
	expect_error_n(ALL, "{\"f_list\":[[[[1]]]]}", 19, &rlim, "",
	    "nesting deeper than 4");
	/* A prebuilt tree is checked while it is converted. */
	cur = json_object();
	json_object_set_new(root, "f_struct", cur);
	for (i = 0; i < 5; i++) {
		next = json_object();
		json_object_set_new(cur, "k", next);
		cur = next;
	}
	assert_int_equal(
	    core_json_value_to_pb(ALL, root, &lim, &count.a, &out, &err), -1);
	assert_string_equal(err.field, "f_struct[\"k\"][\"k\"][\"k\"]");
	assert_non_null(strstr(err.message, "nesting deeper than 4"));
	assert_null(out);
	json_decref(root);
	/* The default bound holds for a Struct too. */
	size_t cap = 40 * 6 + 64, n = 0;
	s = malloc(cap);
	assert_non_null(s);
	n += (size_t) snprintf(s + n, cap - n, "{\"f_struct\":");
	for (i = 0; i < 40; i++)
		n += (size_t) snprintf(s + n, cap - n, "{\"a\":");
	n += (size_t) snprintf(s + n, cap - n, "1");
	for (i = 0; i < 40; i++)
		n += (size_t) snprintf(s + n, cap - n, "}");
	n += (size_t) snprintf(s + n, cap - n, "}");
	assert_true(n < cap);
	expect_error_n(ALL, s, n, NULL, "", "nesting deeper than 32");
	free(s);
}

static void
test_value_refuses_nan_and_infinity(void **state)
{
	Test__V1__AllTypes m = TEST__V1__ALL_TYPES__INIT;
	Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;

	(void) state;
	/* JSON has no such literals, nor numbers past a double. */
	expect_syntax_error("{\"f_value\":NaN}");
	expect_syntax_error("{\"f_struct\":{\"x\":Infinity}}");
	expect_syntax_error("{\"f_list\":[-Infinity]}");
	expect_syntax_error("{\"f_value\":1e999}");
	expect_error_n(ALL, "{\"f_value\":-1e400}", 18, &rest_lim, "", "");
	/* A Value the service built with one is written as null: JSON
	 * cannot hold it. */
	v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
	v.number_value = NAN;
	m.f_value = &v;
	assert_renders(&m, "{\"f_value\":null}");
	v.number_value = -INFINITY;
	assert_rest_member(&m, "f_value", "null");
	v.number_value = -0.5;
	assert_rest_member(&m, "f_value", "-0.5");
}

static void
test_struct_allocation_failures_are_reported_without_leaks(void **state)
{
	ProtobufCMessage *out;
	core_json_error err;
	long k, total;

	(void) state;
	release(parse_ok_lim(struct_doc, &rest_lim));
	total = count.calls;
	assert_true(total > 20);
	for (k = 0; k < total; k++) {
		count.calls = 0;
		count.fail_at = k;
		out = NULL;
		assert_int_equal(
		    core_json_to_pb(ALL, struct_doc, strlen(struct_doc),
		        &rest_lim, &count.a, &out, &err),
		    -1);
		assert_null(out);
		assert_string_equal(err.message, "out of memory");
		assert_int_equal(count.live, 0);
	}
}

static void
test_rest_round_trips_filled_messages(void **state)
{
	size_t i;
	unsigned variant;

	(void) state;
	for (i = 0; i < NELEM(system_messages); i++) {
		for (variant = 0; variant < 2; variant++) {
			filler fl = {(unsigned) i + variant, variant};
			ProtobufCMessage *m =
			    fill_message(&fl, system_messages[i], 0);
			char *s = render_rest(m);
			ProtobufCMessage *back;
			char *again;
			size_t la, lb;
			uint8_t *a, *b;

			/* A top-level Value is no object. */
			if (system_messages[i] ==
			    &google__protobuf__value__descriptor) {
				free(s);
				protobuf_c_message_free_unpacked(m, NULL);
				continue;
			}
			back =
			    parse_ok_n(m->descriptor, s, strlen(s), &rest_lim);
			again = render_rest(back);
			a = pack(m, &la);
			b = pack(back, &lb);
			if (la != lb || memcmp(a, b, la) != 0)
				print_error("%s does not round-trip via %s\n",
				    m->descriptor->name, s);
			assert_int_equal(la, lb);
			assert_memory_equal(a, b, la);
			assert_string_equal(s, again);
			free(a);
			free(b);
			free(s);
			free(again);
			release(back);
			protobuf_c_message_free_unpacked(m, NULL);
		}
	}
}

static void
test_invalid_rest_flags_are_refused(void **state)
{
	core_json_limits lim = {0, 0, 0x80};

	(void) state;
	expect_error_n(ALL, "{}", 2, &lim, "", "invalid limits");
}

/* --- round trips of whole messages -------------------------------------- */

static void
test_all_types_filled_by_descriptor_round_trips(void **state)
{
	unsigned variant;

	(void) state;
	for (variant = 0; variant < 3; variant++) {
		filler fl = {variant * 7, variant};
		ProtobufCMessage *m = fill_message(&fl, ALL, 0);

		assert_round_trips(m);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

static void
test_every_system_message_round_trips(void **state)
{
	size_t i;
	unsigned variant;

	(void) state;
	for (i = 0; i < NELEM(system_messages); i++) {
		for (variant = 0; variant < 2; variant++) {
			filler fl = {(unsigned) i + variant, variant};
			ProtobufCMessage *m =
			    fill_message(&fl, system_messages[i], 0);

			assert_round_trips(m);
			protobuf_c_message_free_unpacked(m, NULL);
		}
	}
}

static void
test_system_message_list_covers_every_rpc_and_field_type(void **state)
{
	size_t i, j;
	unsigned k;

	(void) state;
	for (i = 0; i < NELEM(system_services); i++) {
		const ProtobufCServiceDescriptor *s = system_services[i];

		for (k = 0; k < s->n_methods; k++) {
			assert_true(is_listed(s->methods[k].input));
			assert_true(is_listed(s->methods[k].output));
		}
	}
	for (i = 0; i < NELEM(system_messages); i++) {
		const ProtobufCMessageDescriptor *d = system_messages[i];

		for (j = 0; j < d->n_fields; j++) {
			const ProtobufCFieldDescriptor *f = &d->fields[j];

			if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    f->descriptor !=
			        &google__protobuf__timestamp__descriptor)
				assert_true(is_listed(f->descriptor));
		}
	}
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_int32_edges_round_trip_as_numbers),
	    T(test_int32_out_of_range_by_one_is_rejected),
	    T(test_uint32_edges_and_out_of_range),
	    T(test_int32_accepts_decimal_strings_and_integral_reals),
	    T(test_integers_reject_fractions_and_malformed_strings),
	    T(test_int64_is_emitted_as_string),
	    T(test_int64_accepts_string_or_number_at_the_edges),
	    T(test_uint64_max_is_accepted_as_string),
	    T(test_double_special_values_are_strings_both_ways),
	    T(test_double_accepts_numeric_strings_strictly),
	    T(test_negative_zero_keeps_its_sign_in_repeated_double),
	    T(test_float_out_of_range_is_rejected),
	    T(test_float_renders_with_round_trip_precision),
	    T(test_huge_numbers_are_rejected),
	    T(test_bool_accepts_only_true_and_false),
	    T(test_string_round_trips_unicode_and_escapes),
	    T(test_rejects_invalid_utf8_bytes_in_input),
	    T(test_rejects_nul_escape_in_string),
	    T(test_value_to_pb_rejects_nul_and_bad_utf8_in_built_values),
	    T(test_invalid_utf8_from_protobuf_is_replaced_on_output),
	    T(test_bytes_are_emitted_as_padded_standard_base64),
	    T(test_bytes_accept_standard_and_url_safe_with_or_without_padding),
	    T(test_bytes_reject_invalid_base64),
	    T(test_enum_is_emitted_by_name_and_unknown_number_as_number),
	    T(test_rejects_unknown_enum_name_naming_the_field),
	    T(test_nested_messages_round_trip),
	    T(test_repeated_fields_round_trip),
	    T(test_null_means_unset),
	    T(test_rejects_null_inside_array_naming_the_index),
	    T(test_error_path_names_index_and_nested_field),
	    T(test_default_values_are_omitted),
	    T(test_output_keeps_descriptor_order_and_pretty_indents),
	    T(test_pb_to_json_value_builds_an_object),
	    T(test_map_with_string_keys_round_trips),
	    T(test_map_integer_keys_are_parsed_with_range_checks),
	    T(test_map_bool_keys_are_true_or_false),
	    T(test_map_rejects_duplicate_keys_and_null_values),
	    T(test_map_error_path_names_the_key),
	    T(test_oneof_member_is_emitted_even_at_its_default),
	    T(test_oneof_presence_round_trips),
	    T(test_oneof_with_two_members_is_rejected),
	    T(test_accepts_camel_case_and_emits_snake_case),
	    T(test_rejects_unknown_field_naming_it),
	    T(test_rejects_duplicate_key),
	    T(test_rejects_snake_and_camel_spelling_of_one_field),
	    T(test_malformed_json_reports_line_and_column),
	    T(test_top_level_must_be_an_object),
	    T(test_nesting_up_to_max_depth_is_accepted_and_beyond_rejected),
	    T(test_depth_limit_applies_to_prebuilt_values),
	    T(test_hundred_thousand_open_brackets_do_not_crash),
	    T(test_input_larger_than_max_bytes_is_rejected_before_parsing),
	    T(test_timestamp_is_emitted_as_rfc3339_with_0_3_6_or_9_digits),
	    T(test_timestamp_accepts_offsets_and_fractions),
	    T(test_timestamp_rejects_invalid_dates_and_forms),
	    T(test_unrepresentable_timestamp_is_rendered_as_an_object),
	    T(test_top_level_timestamp_is_a_plain_object),
	    T(test_every_allocation_failure_is_reported_without_leaks),
	    T(test_failure_late_in_document_frees_everything_built),
	    T(test_default_allocator_is_used_when_none_given),
	    T(test_concurrent_conversions_agree),
	    T(test_all_types_filled_by_descriptor_round_trips),
	    T(test_every_system_message_round_trips),
	    T(test_system_message_list_covers_every_rpc_and_field_type),
	    T(test_rest_enums_are_short_lower_case_names_both_ways),
	    T(test_rest_enum_input_refuses_proto_names_numbers_and_unknown_names),
	    T(test_rest_enum_without_a_name_is_written_as_null),
	    T(test_rest_output_writes_every_member),
	    T(test_rest_input_takes_only_proto_names),
	    T(test_struct_value_and_list_value_are_plain_json_in_both_styles),
	    T(test_struct_at_the_top_is_the_object_itself),
	    T(test_struct_nesting_is_bounded_by_max_depth),
	    T(test_value_refuses_nan_and_infinity),
	    T(test_struct_allocation_failures_are_reported_without_leaks),
	    T(test_rest_round_trips_filled_messages),
	    T(test_invalid_rest_flags_are_refused),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
