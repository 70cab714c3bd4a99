/* What the token modules of libcore share; not part of the public API. */
#ifndef CORE_JOSE_INTERNAL_H
#define CORE_JOSE_INTERNAL_H

#include <stdint.h>

#include <jansson.h>

#include "core/jws.h"

/* Initialises libsodium once per process (the services do it at start, but
 * these modules are also used alone: tests, the CLI). 0, or -1 when
 * libsodium cannot be used. */
int jose_sodium_ready(void);

/* The public key of kid in set, or NULL (set may be NULL). */
const uint8_t *jose_find_key(const core_jwks *set, const char *kid);

/* The string value of member name of a JSON object, or NULL when it is
 * missing or not a string. */
const char *jose_str_member(const json_t *obj, const char *name);

#endif
