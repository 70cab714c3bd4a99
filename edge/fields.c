#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fields.h"

/* The descriptor of singular field name of d when it has one of the types
 * t1, t2 (t2 may repeat t1), else NULL. */
static const ProtobufCFieldDescriptor *
find(const ProtobufCMessageDescriptor *d, const char *name, ProtobufCType t1,
    ProtobufCType t2)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(d, name);
	if (f == NULL || (f->type != t1 && f->type != t2) ||
	    f->label == PROTOBUF_C_LABEL_REPEATED) {
		return NULL;
	}
	return f;
}

static void *
slot(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (char *) (uintptr_t) m + f->offset;
}

/* A oneof member is present when the oneof's case names it. */
static void
mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		*(uint32_t *) (void *) ((char *) m + f->quantifier_offset) =
		    f->id;
	}
}

static bool
oneof_unset(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(const uint32_t *) (const void *) ((const char *) m +
	        f->quantifier_offset) != f->id;
}

int
edge_field_set_string(ProtobufCMessage *m, const char *name, char *s)
{
	const ProtobufCFieldDescriptor *f = find(m->descriptor, name,
	    PROTOBUF_C_TYPE_STRING, PROTOBUF_C_TYPE_STRING);
	if (f == NULL || s == NULL) {
		return -1;
	}
	*(char **) slot(m, f) = s;
	mark_present(m, f);
	return 0;
}

int
edge_field_set_int64(ProtobufCMessage *m, const char *name, int64_t v)
{
	const ProtobufCFieldDescriptor *f = find(m->descriptor, name,
	    PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_INT64);
	if (f == NULL) {
		return -1;
	}
	*(int64_t *) slot(m, f) = v;
	mark_present(m, f);
	return 0;
}

const char *
edge_field_get_string(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = find(m->descriptor, name,
	    PROTOBUF_C_TYPE_STRING, PROTOBUF_C_TYPE_STRING);
	if (f == NULL) {
		return NULL;
	}
	const char *s = *(const char **) slot(m, f);
	return s != NULL && !oneof_unset(m, f) ? s : "";
}

int
edge_field_get_int64(const ProtobufCMessage *m, const char *name,
    int64_t *out)
{
	const ProtobufCFieldDescriptor *f = find(m->descriptor, name,
	    PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_INT64);
	if (f == NULL) {
		return -1;
	}
	if (oneof_unset(m, f)) {
		*out = 0;
	} else if (f->type == PROTOBUF_C_TYPE_INT32) {
		*out = *(const int32_t *) slot(m, f);
	} else {
		*out = *(const int64_t *) slot(m, f);
	}
	return 0;
}

const ProtobufCMessage *
edge_field_get_message(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = find(m->descriptor, name,
	    PROTOBUF_C_TYPE_MESSAGE, PROTOBUF_C_TYPE_MESSAGE);
	if (f == NULL || oneof_unset(m, f)) {
		return NULL;
	}
	return *(const ProtobufCMessage **) slot(m, f);
}
