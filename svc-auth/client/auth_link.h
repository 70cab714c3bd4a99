/* The link of a token-checking service to svc-auth: an RPC client on
 * AUTH_RPC_DIAL's list and a JWKS cache fed by AuthService.GetJwks over it,
 * so access tokens are verified locally and keys are refetched when a
 * token names an unknown kid (at most once a second). svc-user and
 * svc-admin each hold one for their whole life. */
#ifndef AUTH_LINK_H
#define AUTH_LINK_H

#include "core/jwks_cache.h"
#include "core/rpc.h"

typedef struct auth_link {
	core_rpc_client *client; /* for other calls to svc-auth too */
	core_jwks_cache *jwks;
} auth_link;

/* Dials dial_list (comma- or space-separated URLs, at most 8) and makes the
 * cache (empty until the first token). Returns 0, or -1 (logged as a
 * configuration error naming AUTH_RPC_DIAL) with nothing to free. */
int auth_link_open(auth_link *l, const char *dial_list);

/* Frees both; no call or verification may be running. */
void auth_link_close(auth_link *l);

#endif
