/* AuthService's methods on the signing keys: GetJwks (public), RotateKeys
 * and ListKeys (CORE_RULE_ADMIN, checked by the server). The keys
 * themselves are in keys.h. */
#ifndef AUTH_KEY_METHODS_H
#define AUTH_KEY_METHODS_H

#include "core/rpc.h"

/* Handlers for the method table (auth_service.c). */
core_status auth_get_jwks(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_rotate_keys(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);
core_status auth_list_keys(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out);

#endif
