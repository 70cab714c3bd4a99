/* Checks on encoded protobuf messages that protobuf-c does not make.
 *
 * protobuf-c 1.4 unpacks a string field byte for byte and hands it out as a
 * C string: an embedded NUL silently cuts the value short ("ada\0x" becomes
 * "ada"), and invalid UTF-8 goes through unnoticed. The RPC server runs this
 * check on every request payload before unpacking it, so handlers only ever
 * see strings that are exactly what was sent and valid UTF-8. */
#ifndef CORE_PBCHECK_H
#define CORE_PBCHECK_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Walks the encoded message data (of type desc, nested messages included,
 * at most 32 levels) and checks every string field: no NUL byte, valid
 * UTF-8. Returns 0 when all are fine or the encoding is not understood
 * (unpacking reports that), or -1 with the offending field's path written
 * to field ("user.name") and a short reason to *why. */
int core_pb_check_strings(const ProtobufCMessageDescriptor *desc,
    const uint8_t *data, size_t len, char *field, size_t fieldlen,
    const char **why);

#endif
