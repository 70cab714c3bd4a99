/* The link of a token-checking service to svc-auth: an RPC client on
 * AUTH_RPC_DIAL's list, a JWKS cache fed by AuthService.GetJwks over it (so
 * access tokens are verified locally; keys are refetched when a token
 * names an unknown kid, at most once a second, and when they are older
 * than the max age svc-auth sent with them), and the core_call_auth with
 * which the service's RPC server checks its method rules. svc-user and
 * svc-admin each hold one for their whole life. */
#ifndef AUTH_LINK_H
#define AUTH_LINK_H

#include "core/call_auth.h"
#include "core/config.h"
#include "core/jwks_cache.h"
#include "core/rpc.h"

typedef struct auth_link {
	core_rpc_client *client; /* for other calls to svc-auth too */
	core_jwks_cache *jwks;
	core_call_auth call_auth; /* for core_service_def.auth */
	/* Configuration: AUTH_RPC_DIAL, AUTH_ISSUER, AUTH_AUDIENCE. */
	const char *dial, *issuer, *audience;
} auth_link;

#define AUTH_LINK_N_CONFIG 3

/* Writes the link's configuration items (AUTH_RPC_DIAL, AUTH_ISSUER,
 * AUTH_AUDIENCE, bound to l's fields) to items, for the service's table;
 * dial_use says what the service calls svc-auth for (logged). */
void auth_link_config(auth_link *l, const char *dial_use,
    core_config_item items[AUTH_LINK_N_CONFIG]);

/* Once the configuration is loaded: dials l->dial (comma- or
 * space-separated URLs, at most 8), makes the cache (empty until the first
 * token) and fills l->call_auth with the cache, the issuer and audience,
 * and the service's redis and is_admin hooks (is_admin may be NULL).
 * Returns 0, or -1 (logged as a configuration error naming AUTH_RPC_DIAL)
 * with nothing to free. */
int auth_link_open(auth_link *l, core_redis *(*redis)(void *state),
    core_status (*is_admin)(
        core_call *call, const core_jwt_claims *claims, bool *admin));

/* Frees the client and the cache; no call or verification may be
 * running. */
void auth_link_close(auth_link *l);

#endif
