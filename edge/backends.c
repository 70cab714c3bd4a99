#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "registry.h"
#include "backends.h"
#include "ready.h"

/* URLs in one dial list at most. */
#define MAX_URLS 8

static edge_backend backends[EDGE_MAX_BACKENDS];
static unsigned n_backends;

int
edge_backends_init(void)
{
	size_t n;
	const registry_service *svcs = registry_services(&n);
	n_backends = 0;
	for (size_t i = 0; i < n; i++) {
		if (svcs[i].target == NULL) {
			continue; /* core.v1.Health: every service has it */
		}
		if (n_backends == EDGE_MAX_BACKENDS) {
			core_log_error("more than %d services in the registry",
			    EDGE_MAX_BACKENDS);
			return -1;
		}
		edge_backend *b = &backends[n_backends];
		*b = (edge_backend){.index = n_backends,
		    .name = svcs[i].target,
		    .dial_env = svcs[i].dial_env,
		    .dial_default = svcs[i].dial_default,
		    .identity = svcs[i].identity};
		snprintf(b->help, sizeof(b->help), "%s service URLs", b->name);
		n_backends++;
	}
	return 0;
}

unsigned
edge_backend_count(void)
{
	return n_backends;
}

edge_backend *
edge_backend_at(unsigned i)
{
	return &backends[i];
}

const char *
edge_backend_name(unsigned i)
{
	return i < n_backends ? backends[i].name : "";
}

const edge_backend *
edge_backend_find(const char *name)
{
	for (unsigned i = 0; i < n_backends; i++) {
		if (strcmp(backends[i].name, name) == 0) {
			return &backends[i];
		}
	}
	return NULL;
}

int
edge_backends_dial(int default_timeout_ms)
{
	for (unsigned i = 0; i < n_backends; i++) {
		edge_backend *b = &backends[i];
		char buf[1024];
		const char *urls[MAX_URLS];
		int n = core_config_split(
		    b->dial, buf, sizeof(buf), urls, MAX_URLS);
		core_rpc_client_config cfg = {
		    .name = b->name,
		    .urls = urls,
		    .n_urls = n > 0 ? (size_t) n : 0,
		    .default_timeout_ms = default_timeout_ms,
		    /* Over tls+tcp:// the server must prove it is this
		     * service, whatever the URL's host. */
		    .peer_identity = b->identity,
		    /* /readyz asks a backend as soon as it is reachable. */
		    .on_connect = edge_ready_kick,
		};
		if (n <= 0 || core_rpc_client_new(&cfg, &b->client) != 0) {
			core_log_error("bad configuration: cannot dial the %s "
			               "service at \"%s\"",
			    b->name, b->dial);
			return -1;
		}
	}
	return 0;
}

void
edge_backends_close(void)
{
	for (unsigned i = 0; i < n_backends; i++) {
		core_rpc_client_free(backends[i].client);
		backends[i].client = NULL;
	}
}
