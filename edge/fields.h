/* Field access by name in any protobuf-c message, for the edge's generic
 * request building (the path's {id}, the client's address, If-Match) and
 * the few answers it reads (cookies, ETag, JWKS).
 *
 * Local stand-ins with the contracts of libcore's core/pbfield.h
 * (core_pb_field_*), which is on its way: when it lands these five go and
 * their callers call libcore instead. Only singular fields of the type
 * named are found; an unknown name or another type leaves the message
 * untouched. Nothing here allocates. */
#ifndef EDGE_FIELDS_H
#define EDGE_FIELDS_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Stores s as the string field name of m and marks it present (its oneof
 * case). The pointer itself is stored: s must live as long as m (the
 * request's arena). Returns 0, or -1 when m has no such field or s is
 * NULL. */
int edge_field_set_string(ProtobufCMessage *m, const char *name, char *s);

/* Sets the int64 field name of m to v and marks it present (its oneof
 * case). Returns 0, or -1 when m has no such field. */
int edge_field_set_int64(ProtobufCMessage *m, const char *name, int64_t v);

/* The value of string field name of m ("" when unset), or NULL when m has
 * no such field. The string belongs to m. */
const char *edge_field_get_string(const ProtobufCMessage *m,
    const char *name);

/* Reads the int32 or int64 field name of m into *out, widened (0 when
 * unset). Returns 0, or -1 when m has no such field (*out untouched). */
int edge_field_get_int64(const ProtobufCMessage *m, const char *name,
    int64_t *out);

/* The message field name of m, or NULL when m has none or it is unset.
 * It belongs to m. */
const ProtobufCMessage *edge_field_get_message(const ProtobufCMessage *m,
    const char *name);

#endif
