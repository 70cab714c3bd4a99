/* The RPC envelope (core.v1.Request, core.v1.Response of
 * proto/core/v1/core.proto) encoded and decoded by hand, on the path of
 * every call.
 *
 * The wire format is protobuf's, unchanged: encodings are byte for byte
 * what protobuf-c 1.4 writes (fields in number order, proto3 defaults
 * left out), and the decoders accept exactly what protobuf-c's unpack
 * accepts (unknown fields skipped by wire type, groups and wire types 6-7
 * refused, a known field of the wrong wire type refused, the last of a
 * repeated singular field wins, varints at most 10 bytes, tags and length
 * prefixes at most 5). One difference: a length prefix within 5 of 2^32,
 * which protobuf-c 1.4 adds to its prefix's length in 32 bits (wrapping
 * past the end of the data), is refused here as running past the end.
 * The results are the protobuf-c structs, so the code that reads them does
 * not change. tests/unit/test_envelope.c compares both with protobuf-c. */
#ifndef CORE_ENVELOPE_H
#define CORE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/v1/core.pb-c.h"

/* Decodes a core.v1.Request from p[0..len) into *req in one pass and
 * checks its strings as core_pb_check_strings would (method, metadata keys
 * and values: no NUL byte, valid UTF-8). The payload points into p (p
 * must outlive *req); the strings and the metadata entries are copied
 * into a (NUL-terminated). Duplicate metadata keys are all kept, in order
 * (the first is the one core_call_metadata finds), as protobuf-c does.
 * Returns 0, or -1 when protobuf-c would refuse the message, a string is
 * bad or a is out of memory (the caller runs the string check again to say
 * which string, only on this rare path). */
int rpc_env_request_decode(
    const uint8_t *p, size_t len, core_arena *a, Core__V1__Request *req);

/* The encoded size of req, and its encoding into out (which has that
 * many bytes); returns the bytes written. */
size_t rpc_env_request_size(const Core__V1__Request *req);
size_t rpc_env_request_pack(const Core__V1__Request *req, uint8_t *out);

/* The same for a core.v1.Response. */
size_t rpc_env_response_size(const Core__V1__Response *r);
size_t rpc_env_response_pack(const Core__V1__Response *r, uint8_t *out);

/* Decodes a core.v1.Response into *r; strings, the payload and the details
 * are copied into a (the message may be freed afterwards). No string
 * checks: the client takes what protobuf-c takes. Returns 0, or -1 when
 * protobuf-c would refuse the message or a is out of memory. */
int rpc_env_response_decode(
    const uint8_t *p, size_t len, core_arena *a, Core__V1__Response *r);

#endif
