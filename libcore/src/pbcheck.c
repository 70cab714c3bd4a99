#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/pbcheck.h"
#include "core/pbfield.h"
#include "core/utf8.h"

#define MAX_DEPTH 32

/* The walk's state. The path of the field being looked at is kept as
 * names, and written out only when a bad string is found: building it for
 * every submessage on the way cost more than the check itself. */
typedef struct walker {
	const char *path[MAX_DEPTH + 1];
	char *field;
	size_t fieldlen;
	const char **why;
} walker;

static void
path_add(char *field, size_t fieldlen, const char *name)
{
	size_t used = strlen(field);
	if (used < fieldlen) {
		snprintf(field + used, fieldlen - used, "%s%s",
		    used ? "." : "", name);
	}
}

/* 1: bad string found (path in w->field), 0: fine or not understood. */
static int
walk(walker *w, const ProtobufCMessageDescriptor *d, const uint8_t *p,
    size_t len, int depth)
{
	size_t at = 0;
	if (depth > MAX_DEPTH) {
		return 0;
	}
	while (at < len) {
		uint64_t key, n;
		size_t used = core_pb_varint_read(p + at, len - at, &key);
		if (used == 0) {
			return 0;
		}
		at += used;
		unsigned wire = (unsigned) (key & 7);
		uint32_t id = (uint32_t) (key >> 3);
		switch (wire) {
		case 0: /* varint */
			used = core_pb_varint_read(p + at, len - at, &n);
			if (used == 0) {
				return 0;
			}
			at += used;
			continue;
		case 1: /* 64-bit */
			at += 8;
			continue;
		case 5: /* 32-bit */
			at += 4;
			continue;
		case 2: /* length-delimited */
			break;
		default: /* groups: not in proto3 */
			return 0;
		}
		if ((used = core_pb_varint_read(p + at, len - at, &n)) == 0 ||
		    n > len - at - used) {
			return 0;
		}
		at += used;
		const uint8_t *v = p + at;
		at += (size_t) n;
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field(d, id);
		if (f == NULL) {
			continue;
		}
		w->path[depth] = f->name;
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			const char *reason = memchr(v, 0, (size_t) n) != NULL
			                         ? "contains a NUL byte"
			                     : !core_utf8_valid(v, (size_t) n)
			                         ? "is not valid UTF-8"
			                         : NULL;
			if (reason != NULL) {
				for (int i = 0; i <= depth; i++) {
					path_add(
					    w->field, w->fieldlen, w->path[i]);
				}
				*w->why = reason;
				return 1;
			}
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
		           walk(w, f->descriptor, v, (size_t) n, depth + 1)) {
			return 1;
		}
	}
	return 0;
}

int
core_pb_check_strings(const ProtobufCMessageDescriptor *desc,
    const uint8_t *data, size_t len, char *field, size_t fieldlen,
    const char **why)
{
	if (fieldlen == 0) {
		return 0;
	}
	field[0] = '\0';
	walker w = {.field = field, .fieldlen = fieldlen, .why = why};
	return walk(&w, desc, data, len, 0) ? -1 : 0;
}
