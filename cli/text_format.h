/* Protobuf text format, as `protoc --decode=TYPE` prints it, for any
 * protobuf-c message (driven by its descriptor).
 *
 * Byte for byte what protoc 3.x writes: fields in field-number order,
 * "name: value" lines and "name {" ... "}" blocks indented by two spaces,
 * proto3 fields only when present (non-default, or set in a oneof),
 * repeated fields once per element, map entries sorted by key (stably;
 * both key and value always shown), enums by name (by number when
 * unknown), strings and bytes C-escaped with three-digit octal for
 * non-printable bytes (UTF-8 included), floats in the shortest of %.6g /
 * %.9g (doubles %.15g / %.17g) that reads back exactly, and fields the
 * descriptor does not know by number after the known ones. */
#ifndef RPCCTL_TEXT_FORMAT_H
#define RPCCTL_TEXT_FORMAT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* Deepest nesting rendered (protoc's default recursion limit). */
#define RPCCTL_TEXT_MAX_DEPTH 100

/* Renders msg as text format into a new malloc'd, NUL-terminated string
 * (caller free()s it) and writes its length to *len (when not NULL).
 * Returns NULL when out of memory, when the text would exceed 256 MiB or
 * when messages nest deeper than RPCCTL_TEXT_MAX_DEPTH. */
char *rpcctl_text_format(const ProtobufCMessage *msg, size_t *len);

#endif
