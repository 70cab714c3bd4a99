#include <stdlib.h>
#include <string.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_link.h"
#include "core/config.h"
#include "core/log.h"

#define MAX_URLS 8
#define FETCH_TIMEOUT_MS 2000
#define MIN_REFETCH_MS 1000

/* Fetches the JWKS document and its max age from svc-auth (called by the
 * cache on a miss of a kid or when its keys are too old, from a worker
 * thread). */
static int
fetch_jwks(void *arg, char **json, size_t *len, int *max_age_ms)
{
	auth_link *l = arg;
	core_arena *a = core_arena_new(0);
	Auth__V1__GetJwksRequest req = AUTH__V1__GET_JWKS_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_rpc_opts opts = {.timeout_ms = FETCH_TIMEOUT_MS};
	int rv = -1;
	if (a != NULL &&
	    core_rpc_call(l->client, "/auth.v1.AuthService/GetJwks", &req.base,
	        &auth__v1__get_jwks_response__descriptor, &out, &opts, a,
	        &reply) == CORE_OK) {
		const Auth__V1__GetJwksResponse *r =
		    (const Auth__V1__GetJwksResponse *) out;
		if ((*json = strdup(r->json)) != NULL) {
			*len = strlen(r->json);
			/* 0 (an older svc-auth) leaves the cache's default;
			 * the cache caps it. */
			*max_age_ms = r->max_age_s > 0 && r->max_age_s <= 86400
			                  ? r->max_age_s * 1000
			                  : 0;
			rv = 0;
		}
	} else {
		core_log_warn("cannot fetch the JWKS from svc-auth: %s",
		    a ? reply.message : "out of memory");
	}
	core_arena_free(a);
	return rv;
}

void
auth_link_config(auth_link *l, const char *dial_use,
    core_config_item items[AUTH_LINK_N_CONFIG])
{
	const core_config_item v[AUTH_LINK_N_CONFIG] = {
	    {"AUTH_RPC_DIAL", "tcp://127.0.0.1:7101", CORE_CONFIG_STR, 0, 0,
	        false, dial_use, &l->dial},
	    {"AUTH_ISSUER", "http://127.0.0.1:8080", CORE_CONFIG_STR, 0, 0,
	        false, "expected iss of access tokens", &l->issuer},
	    {"AUTH_AUDIENCE", "microcore", CORE_CONFIG_STR, 0, 0, false,
	        "expected aud of access tokens", &l->audience},
	};
	memcpy(items, v, sizeof(v));
}

int
auth_link_open(auth_link *l, core_redis *(*redis)(void *state),
    core_status (*is_admin)(
        core_call *call, const core_jwt_claims *claims, bool *admin))
{
	char buf[1024];
	const char *urls[MAX_URLS];
	int n = core_config_split(l->dial, buf, sizeof(buf), urls, MAX_URLS);
	/* Over tls+tcp:// the keys come only from a server that proves it is
	 * svc-auth (the process's own credentials are the default). */
	core_rpc_client_config cc = {.name = "auth",
	    .urls = urls,
	    .n_urls = n > 0 ? (size_t) n : 0,
	    .peer_identity = "svc-auth"};
	l->client = NULL;
	l->jwks = NULL;
	if (n <= 0 || core_rpc_client_new(&cc, &l->client) != 0) {
		core_log_error("bad configuration: AUTH_RPC_DIAL");
		return -1;
	}
	l->jwks = core_jwks_cache_new(fetch_jwks, l, MIN_REFETCH_MS);
	if (l->jwks == NULL) {
		core_rpc_client_free(l->client);
		l->client = NULL;
		return -1;
	}
	l->call_auth = (core_call_auth){
	    .issuer = l->issuer,
	    .audience = l->audience,
	    .verify = core_call_auth_jwks_verify,
	    .verify_arg = l->jwks,
	    .redis = redis,
	    .is_admin = is_admin,
	};
	return 0;
}

void
auth_link_close(auth_link *l)
{
	core_jwks_cache_free(l->jwks);
	core_rpc_client_free(l->client);
	l->jwks = NULL;
	l->client = NULL;
}
