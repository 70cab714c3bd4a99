/* Field access through protobuf-c descriptors: see core/pbfield.h. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/pbfield.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const type_names[] = {
    [PROTOBUF_C_TYPE_INT32] = "int32",
    [PROTOBUF_C_TYPE_SINT32] = "sint32",
    [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32",
    [PROTOBUF_C_TYPE_INT64] = "int64",
    [PROTOBUF_C_TYPE_SINT64] = "sint64",
    [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
    [PROTOBUF_C_TYPE_UINT32] = "uint32",
    [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
    [PROTOBUF_C_TYPE_UINT64] = "uint64",
    [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
    [PROTOBUF_C_TYPE_FLOAT] = "float",
    [PROTOBUF_C_TYPE_DOUBLE] = "double",
    [PROTOBUF_C_TYPE_BOOL] = "bool",
    [PROTOBUF_C_TYPE_ENUM] = "enum",
    [PROTOBUF_C_TYPE_STRING] = "string",
    [PROTOBUF_C_TYPE_BYTES] = "bytes",
    [PROTOBUF_C_TYPE_MESSAGE] = "message",
};

const char *
core_pb_type_name(ProtobufCType t)
{
	if ((size_t) t >= COUNT(type_names)) {
		return NULL;
	}
	return type_names[t];
}

size_t
core_pb_type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return sizeof(int32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

bool
core_pb_is_map_field(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	if (f->label != PROTOBUF_C_LABEL_REPEATED ||
	    f->type != PROTOBUF_C_TYPE_MESSAGE || d == NULL ||
	    d->n_fields != 2 || d->fields[0].id != 1 || d->fields[1].id != 2) {
		return false;
	}
	size_t n = strlen(d->short_name);
	return n >= 5 && strcmp(d->short_name + n - 5, "Entry") == 0;
}

static bool
in_oneof(const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

bool
core_pb_same_oneof(
    const ProtobufCFieldDescriptor *a, const ProtobufCFieldDescriptor *b)
{
	return in_oneof(a) && in_oneof(b) &&
	       a->quantifier_offset == b->quantifier_offset;
}

/* Whether key is the lowerCamelCase JSON name protoc derives from name:
 * every '_' is dropped and the letter after it upper-cased. */
static bool
json_name_equals(const char *name, const char *key)
{
	bool up = false;
	for (; *name != '\0'; name++) {
		char ch = *name;
		if (ch == '_') {
			up = true;
			continue;
		}
		if (up && ch >= 'a' && ch <= 'z') {
			ch = (char) (ch - 'a' + 'A');
		}
		up = false;
		if (*key++ != ch) {
			return false;
		}
	}
	return *key == '\0';
}

const ProtobufCFieldDescriptor *
core_pb_field_find(const ProtobufCMessageDescriptor *desc, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(desc, name);
	if (f != NULL) {
		return f;
	}
	for (unsigned i = 0; i < desc->n_fields; i++) {
		if (json_name_equals(desc->fields[i].name, name)) {
			return &desc->fields[i];
		}
	}
	return NULL;
}

void *
core_pb_field_ptr(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	return (char *) msg + f->offset;
}

const void *
core_pb_field_cptr(
    const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	return (const char *) msg + f->offset;
}

/* The presence member (n_ count, oneof case or has_ flag). */
static const void *
quantifier(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	return (const char *) msg + f->quantifier_offset;
}

size_t
core_pb_repeated_count(
    const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	return *(const size_t *) quantifier(msg, f);
}

void
core_pb_repeated_set(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
    void *elements, size_t n)
{
	*(size_t *) ((char *) msg + f->quantifier_offset) = n;
	*(void **) core_pb_field_ptr(msg, f) = elements;
}

uint32_t
core_pb_oneof_case(
    const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	return *(const uint32_t *) quantifier(msg, f);
}

/* A proto3 value is present unless zero (protobuf-c's field_is_zeroish:
 * floating point compares by value, so -0.0 is zero). */
static bool
nonzero(const ProtobufCFieldDescriptor *f, const void *member)
{
	static const uint8_t zeros[sizeof(uint64_t)];

	switch (f->type) {
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *) member != 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *) member != 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *) member;
		return s != NULL && s[0] != '\0';
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *) member)->len != 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *) member != NULL;
	default: /* integers, bool and enum, zero in every byte */
		return memcmp(member, zeros, core_pb_type_size(f->type)) != 0;
	}
}

static bool
is_pointer_type(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_STRING ||
	       f->type == PROTOBUF_C_TYPE_MESSAGE;
}

bool
core_pb_field_present(
    const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const void *member = core_pb_field_cptr(msg, f);

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		return core_pb_repeated_count(msg, f) > 0;
	}
	if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
		return true;
	}
	if (in_oneof(f) && core_pb_oneof_case(msg, f) != f->id) {
		return false;
	}
	if (in_oneof(f) || f->label == PROTOBUF_C_LABEL_OPTIONAL) {
		if (is_pointer_type(f)) {
			const void *p = *(const void *const *) member;
			return p != NULL && p != f->default_value;
		}
		if (in_oneof(f)) {
			return true;
		}
		return *(const protobuf_c_boolean *) quantifier(msg, f) != 0;
	}
	return nonzero(f, member); /* LABEL_NONE: proto3 implicit presence */
}

void
core_pb_field_mark_present(
    ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	void *q = (char *) msg + f->quantifier_offset;

	if (in_oneof(f)) {
		*(uint32_t *) q = f->id;
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
	           !is_pointer_type(f)) {
		*(protobuf_c_boolean *) q = 1;
	}
}

/* The singular field name of desc when its type is one of types[0..n). */
static const ProtobufCFieldDescriptor *
singular(const ProtobufCMessageDescriptor *desc, const char *name,
    const ProtobufCType *types, size_t n)
{
	const ProtobufCFieldDescriptor *f = core_pb_field_find(desc, name);
	if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED) {
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (f->type == types[i]) {
			return f;
		}
	}
	return NULL;
}

/* Whether f holds its own value rather than (being a oneof member whose
 * case is elsewhere) a sibling's. */
static bool
holds_value(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	return !in_oneof(f) || core_pb_oneof_case(msg, f) == f->id;
}

static const ProtobufCType int64_types[] = {
    PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64};
static const ProtobufCType signed_types[] = {PROTOBUF_C_TYPE_INT64,
    PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64, PROTOBUF_C_TYPE_INT32,
    PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SFIXED32};
static const ProtobufCType string_type[] = {PROTOBUF_C_TYPE_STRING};

int
core_pb_field_set_int64(ProtobufCMessage *msg, const char *name, int64_t v)
{
	const ProtobufCFieldDescriptor *f =
	    singular(msg->descriptor, name, int64_types, COUNT(int64_types));
	if (f == NULL) {
		return -1;
	}
	*(int64_t *) core_pb_field_ptr(msg, f) = v;
	core_pb_field_mark_present(msg, f);
	return 0;
}

int
core_pb_field_set_string(ProtobufCMessage *msg, const char *name, char *s)
{
	const ProtobufCFieldDescriptor *f =
	    singular(msg->descriptor, name, string_type, COUNT(string_type));
	if (f == NULL || s == NULL) {
		return -1;
	}
	*(char **) core_pb_field_ptr(msg, f) = s;
	core_pb_field_mark_present(msg, f);
	return 0;
}

const char *
core_pb_field_get_string(const ProtobufCMessage *msg, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    singular(msg->descriptor, name, string_type, COUNT(string_type));
	if (f == NULL) {
		return NULL;
	}
	const char *s = *(char *const *) core_pb_field_cptr(msg, f);
	return holds_value(msg, f) && s != NULL ? s : "";
}

int
core_pb_field_get_int64(
    const ProtobufCMessage *msg, const char *name, int64_t *out)
{
	const ProtobufCFieldDescriptor *f =
	    singular(msg->descriptor, name, signed_types, COUNT(signed_types));
	if (f == NULL) {
		return -1;
	}
	const void *v = core_pb_field_cptr(msg, f);
	if (!holds_value(msg, f)) {
		*out = 0;
	} else if (core_pb_type_size(f->type) == sizeof(int64_t)) {
		*out = *(const int64_t *) v;
	} else {
		*out = *(const int32_t *) v;
	}
	return 0;
}

size_t
core_pb_varint_read(const uint8_t *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	for (size_t i = 0; i < len && i < 10; i++) {
		v |= (uint64_t) (p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			*out = v;
			return i + 1;
		}
	}
	return 0;
}
