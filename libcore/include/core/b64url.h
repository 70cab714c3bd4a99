/* base64url (RFC 4648 section 5, no padding), strict: the encoding of JWS
 * parts and JWK coordinates. */
#ifndef CORE_B64URL_H
#define CORE_B64URL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Length of the base64url text for n bytes, without the NUL. */
#define CORE_B64URL_ENCODED_LEN(n) (((size_t) (n) *4 + 2) / 3)

/* Writes base64url(in[0..len)) and a NUL to out. Returns 0, or -1 when out
 * (cap bytes) is too small; out is then left empty if cap > 0. */
int core_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Decodes in[0..len) strictly: only A-Z a-z 0-9 - _, no padding, no
 * whitespace, len % 4 != 1, and the unused low bits of the last character
 * zero (so each byte string has exactly one accepted encoding). Returns 0
 * and writes *outlen bytes to out, or -1 for any of those errors or when out
 * (cap bytes) is too small (out may then be partly written). */
int core_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap,
    size_t *outlen) CORE_WARN_UNUSED;

#endif
