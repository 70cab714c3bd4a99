#include <stdlib.h>
#include <string.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_link.h"
#include "core/config.h"
#include "core/log.h"

#define MAX_URLS 8
#define FETCH_TIMEOUT_MS 2000
#define MIN_REFETCH_MS 1000

/* Fetches the JWKS document from svc-auth (called by the cache on a miss of
 * a kid, from a worker thread). */
static int
fetch_jwks(void *arg, char **json, size_t *len)
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
		const char *doc = ((Auth__V1__GetJwksResponse *) out)->json;
		if ((*json = strdup(doc)) != NULL) {
			*len = strlen(doc);
			rv = 0;
		}
	} else {
		core_log_warn("cannot fetch the JWKS from svc-auth: %s",
		    a ? reply.message : "out of memory");
	}
	core_arena_free(a);
	return rv;
}

int
auth_link_open(auth_link *l, const char *dial_list)
{
	char buf[1024];
	const char *urls[MAX_URLS];
	memset(l, 0, sizeof(*l));
	int n = core_config_split(dial_list, buf, sizeof(buf), urls, MAX_URLS);
	core_rpc_client_config cc = {
	    .name = "auth", .urls = urls, .n_urls = n > 0 ? (size_t) n : 0};
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
	return 0;
}

void
auth_link_close(auth_link *l)
{
	core_jwks_cache_free(l->jwks);
	core_rpc_client_free(l->client);
	memset(l, 0, sizeof(*l));
}
