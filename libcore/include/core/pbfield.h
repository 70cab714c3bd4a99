/* Field access in protobuf-c messages through their descriptors: where a
 * field's value lives, whether it is present, how a writer records that it
 * set one, and lookups by name. For code that handles any message type
 * (the JSON codec, rpcctl's printers, the edge's generic request building)
 * without the generated structs.
 *
 * How protobuf-c lays a message out (1.4): each field's value is a struct
 * member at f->offset; f->quantifier_offset names a second member that
 * carries presence: the n_ element count of a repeated field, the case of
 * a oneof (a uint32_t holding the field number of the member that is set,
 * 0 for none; all members of one oneof share it), or the has_ flag of a
 * proto2 optional scalar. Singular strings and messages are pointers and
 * carry their presence themselves; proto3 fields outside a oneof have
 * none (zero means absent).
 *
 * Nothing here allocates or frees; no global state, thread-safe. Functions
 * that take a message and a field descriptor require that the field be one
 * of that message's descriptor (an assertion of the caller, not checked). */
#ifndef CORE_PBFIELD_H
#define CORE_PBFIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* ---- Types -------------------------------------------------------------- */

/* The name of type t as a .proto file spells it ("int32", "string"; "enum"
 * and "message" for those kinds), or NULL for a value outside the enum. */
const char *core_pb_type_name(ProtobufCType t);

/* The size of one value of type t as protobuf-c stores it in a message
 * (a repeated field's element; a string is its char *, a message its
 * pointer); 0 for a value outside the enum. */
size_t core_pb_type_size(ProtobufCType t);

/* ---- Descriptors -------------------------------------------------------- */

/* Whether f is a map<K,V> field. protobuf-c 1.4 has no map flag: a map is
 * a repeated field of a generated "<Name>Entry" message whose two fields
 * are key = 1 and value = 2, and it is recognised by that shape. */
bool core_pb_is_map_field(const ProtobufCFieldDescriptor *f);

/* Whether a and b are members of the same oneof (they share its case
 * member). False when either is not in a oneof. Both must belong to the
 * same message descriptor. */
bool core_pb_same_oneof(
    const ProtobufCFieldDescriptor *a, const ProtobufCFieldDescriptor *b);

/* The field of desc called name, spelt as its proto name (snake_case,
 * "display_name") or as the lowerCamelCase JSON name protoc derives from
 * it ("displayName": each '_' dropped and the letter after it
 * upper-cased). NULL when desc has no such field. */
const ProtobufCFieldDescriptor *core_pb_field_find(
    const ProtobufCMessageDescriptor *desc, const char *name);

/* ---- Values ------------------------------------------------------------- */

/* The storage of field f in msg: the struct member at f->offset, which
 * holds the value (a repeated field: the pointer to its array). Cast it to
 * the field type's C type (core_pb_type_size() bytes). */
void *core_pb_field_ptr(
    ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);
const void *core_pb_field_cptr(
    const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);

/* The number of elements of repeated field f in msg (its n_ member). f
 * must be repeated. */
size_t core_pb_repeated_count(
    const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);

/* Hangs the array elements (n values of f's type, core_pb_type_size()
 * bytes each) into repeated field f of msg: stores its pointer and the
 * count. The array is the caller's, allocated the way msg will be freed
 * (protobuf_c_message_free_unpacked() frees it with msg); the array it
 * replaces is not freed. f must be repeated. */
void core_pb_repeated_set(ProtobufCMessage *msg,
    const ProtobufCFieldDescriptor *f, void *elements, size_t n);

/* The field number of the member of f's oneof that is set in msg (the
 * shared case member), 0 when none is. f must be a oneof member. */
uint32_t core_pb_oneof_case(
    const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);

/* Whether field f is present in msg by the rules protobuf_c_message_pack()
 * applies, i.e. whether the wire would carry it:
 *   - repeated: at least one element;
 *   - required: always;
 *   - oneof member: its case is set and, for a string or message, the
 *     pointer is neither NULL nor the field's default;
 *   - proto2 optional: the has_ flag; a string or message by its pointer
 *     (neither NULL nor the default);
 *   - proto3 (no label): not zero; -0.0 counts as zero, "" as unset, bytes
 *     by their length, a message by its pointer. */
bool core_pb_field_present(
    const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);

/* What a writer does after storing a value in f's storage
 * (core_pb_field_ptr) so that msg carries it: sets the oneof case to f's
 * number, or the has_ flag of a proto2 optional scalar. Nothing for other
 * fields (their value is their presence; a repeated field's writer sets
 * its count). Setting one oneof member replaces another one's case
 * without freeing that member's value; for a message that
 * protobuf_c_message_free_unpacked() will release, call this only once the
 * value is complete, since that function frees what the case names. */
void core_pb_field_mark_present(
    ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);

/* ---- By name, for singular fields ------------------------------------------
 *
 * For filling or reading a request of a type known only by descriptor,
 * e.g. the edge setting "user_agent" or a oneof "expected_version" from
 * HTTP headers. These find the field with core_pb_field_find() and only
 * accept a singular (not repeated) field of the type named; an unknown
 * name or a field of another type leaves msg untouched and returns -1 (or
 * NULL). A oneof member reads as its zero value unless its case is set;
 * setting one takes the case over from another member of its oneof, whose
 * value is then not freed (fine for messages in an arena). */

/* Sets the int64, sint64 or sfixed64 field name of msg to v and marks it
 * present (its oneof case or has_ flag). Returns 0, or -1 when msg has no
 * such field. */
int core_pb_field_set_int64(
    ProtobufCMessage *msg, const char *name, int64_t v);

/* Stores s (NUL-terminated) as the string field name of msg and marks it
 * present. The pointer itself is stored: s must live as long as msg (e.g.
 * in the arena msg lives in), and the value it replaces is not freed.
 * Returns 0, or -1 when msg has no such field or s is NULL. */
int core_pb_field_set_string(ProtobufCMessage *msg, const char *name, char *s);

/* The value of string field name of msg ("" when unset), or NULL when msg
 * has no such field. The string belongs to msg. */
const char *core_pb_field_get_string(
    const ProtobufCMessage *msg, const char *name);

/* Reads the signed integer field name of msg (int32, sint32, sfixed32,
 * int64, sint64 or sfixed64) into *out, widened; 0 when unset. Returns 0,
 * or -1 when msg has no such field (*out untouched). */
int core_pb_field_get_int64(
    const ProtobufCMessage *msg, const char *name, int64_t *out);

/* ---- Wire format -------------------------------------------------------- */

/* Decodes the base-128 varint at p[0..len) into *out. Returns the bytes it
 * used (1 to 10), or 0 when it is cut short by len or longer than ten
 * bytes (*out untouched). Bits past the 64th are dropped, as protobuf
 * does. */
size_t core_pb_varint_read(const uint8_t *p, size_t len, uint64_t *out);

#endif
