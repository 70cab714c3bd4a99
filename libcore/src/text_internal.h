/* What libcore's text helpers share with other libcore modules. */
#ifndef CORE_TEXT_INTERNAL_H
#define CORE_TEXT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes the base64 of in[0..len) in alphabet (standard or URL-safe), with
 * '=' padding when pad, and a NUL, to out: the caller has checked that out
 * holds it. */
void text_b64_encode(const uint8_t *in, size_t len, char *out,
    const char alphabet[64], bool pad);

#endif
