/* protobuf <-> JSON codec, driven by protobuf-c descriptors (any message).
 *
 * Follows the proto3 JSON mapping:
 *   - int64/uint64/sint64/fixed64/sfixed64 are emitted as strings and accepted
 *     as strings or numbers (numbers only within the int64 range: larger
 *     literals are a syntax error); 32-bit integers are numbers (strings
 *     accepted);
 *   - float/double are numbers, or "NaN", "Infinity", "-Infinity";
 *   - bytes are base64 (standard alphabet, padded, on output; standard or
 *     URL-safe, padded or not, on input);
 *   - enums are emitted by name and accepted by name or number;
 *   - google.protobuf.Timestamp is an RFC 3339 string ("...Z" on output);
 *   - google.protobuf.Struct, Value and ListValue are a JSON object, any
 *     JSON value (null is the Value null, not "not set") and an array; a
 *     Value's number is finite (NaN or an infinity is written as null);
 *   - maps are JSON objects whose keys are strings;
 *   - null means "field not set".
 * Input keys may be snake_case (the proto name) or lowerCamelCase (the JSON
 * name); output uses snake_case. Fields at their default value are omitted
 * on output, except fields inside a set oneof.
 *
 * Rejected input, each with an error that names the field path
 * ("items[2].name"): unknown fields, duplicate keys (also the same field under
 * both spellings), wrong types, integers out of range, invalid base64,
 * invalid UTF-8 or NUL in strings, text larger than max_bytes, nesting deeper
 * than max_depth. */
#ifndef CORE_JSON_H
#define CORE_JSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#define CORE_JSON_DEFAULT_MAX_BYTES (1u << 20)
#define CORE_JSON_DEFAULT_MAX_DEPTH 32

typedef struct core_json_error {
	char field[192]; /* path of the offending field, "" for the document */
	char message[256]; /* what is wrong, fit to show to a client */
	int line, column;  /* position for syntax errors, else 0 */
	size_t position;   /* byte offset for syntax errors, else 0 */
} core_json_error;

/* max_depth counts nested objects and arrays; the top-level object is
 * level 1. */
typedef struct core_json_limits {
	size_t max_bytes; /* 0 = CORE_JSON_DEFAULT_MAX_BYTES */
	int max_depth;    /* 0 = CORE_JSON_DEFAULT_MAX_DEPTH */
	unsigned flags;   /* CORE_JSON_REST: read the REST style; any other
	                     bit: "invalid limits" */
} core_json_limits;

/* Output flags. */
#define CORE_JSON_PRETTY 0x1u /* indented, for humans */
/* The REST style of the edge (docs/api.md "JSON style"), in and out; the
 * default is the proto3 JSON mapping above (rpcctl, the RPC JSON). The
 * REST style differs in these points only, and this codec is the one
 * place that maps between the two:
 *   - enums are short lower-case names (core_json_enum_rest_name():
 *     ROLE_USER is "user"); the *_UNSPECIFIED zero value has none: it is
 *     never written (null stands for it, and for a number the enum does
 *     not name) and a request leaves the member out instead (given, it
 *     is refused with a message that says so; null, in a list or as a
 *     map value, reads as it); proto names and numbers are refused;
 *   - on output every field is present: scalars at their default ("", 0,
 *     false), repeated as [], maps as {}, an unset message field as null;
 *     only members of a oneof that is not set are left out;
 *   - on input only the proto (snake_case) names are accepted (a
 *     lowerCamelCase key is an unknown field);
 *   - google.protobuf.Struct, Value and ListValue are JSON objects, any
 *     JSON values and arrays (in both styles). */
#define CORE_JSON_REST 0x2u

/* Parses JSON text into a new message of type desc.
 *
 * The message and everything in it are allocated with alloc (NULL = the
 * protobuf-c default allocator); release it with
 * protobuf_c_message_free_unpacked(msg, alloc). Returns 0 and writes *out on
 * success; -1 with *err filled and *out untouched on failure. limits may be
 * NULL for the defaults. */
int core_json_to_pb(const ProtobufCMessageDescriptor *desc, const char *text,
    size_t len, const core_json_limits *limits, ProtobufCAllocator *alloc,
    ProtobufCMessage **out, core_json_error *err);

/* The same from an already parsed jansson value (which must be an object).
 * With desc google.protobuf.Struct the object is the Struct itself (how a
 * service turns stored JSON into a Struct field). */
int core_json_value_to_pb(const ProtobufCMessageDescriptor *desc,
    const json_t *value, const core_json_limits *limits,
    ProtobufCAllocator *alloc, ProtobufCMessage **out, core_json_error *err);

/* Renders msg as a new jansson object (caller json_decref()s it); a
 * google.protobuf.Struct as the object it stands for. NULL only when out
 * of memory. */
json_t *core_pb_to_json_value(const ProtobufCMessage *msg);

/* The same in the style flags ask for (CORE_JSON_REST or 0). */
json_t *core_pb_to_json_value_flags(
    const ProtobufCMessage *msg, unsigned flags);

/* The REST name of enum value v of d: the value's name without the
 * prefix the enum's name gives it (Role: "ROLE_", UserStatus:
 * "USER_STATUS_"), lower-cased: "user", "active". Writes it to out
 * (outlen bytes) and returns its length; returns 0 (out "") for the zero
 * value named *_UNSPECIFIED, which has no REST name, or when it does not
 * fit. */
size_t core_json_enum_rest_name(const ProtobufCEnumDescriptor *d,
    const ProtobufCEnumValue *v, char *out, size_t outlen);

/* Renders msg as JSON text, malloc'd and NUL-terminated (caller free()s it);
 * *len (if not NULL) receives its length. NULL only when out of memory. */
char *core_pb_to_json(
    const ProtobufCMessage *msg, unsigned flags, size_t *len);

#endif
