/* rpcctl's dialing: where each service is (--url, the *_RPC_DIAL and
 * *_RPC_LISTEN variables, the registry's default) and the client for it,
 * with its TLS credentials (creds.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

#include "creds.h"
#include "rpcctl.h"

#define URL_MAX 512
/* How long a call waits for a first connection before UNAVAILABLE (less
 * when --timeout is shorter). */
#define CONNECT_WAIT_MS 1000

typedef struct dial_list {
	const char *urls[RPCCTL_MAX_URLS];
	char store[RPCCTL_MAX_URLS][URL_MAX];
	int n;
	const char *source; /* "--url", "AUTH_RPC_DIAL", ... */
} dial_list;

/* A listen URL made dialable: a wildcard host (empty, "*", 0.0.0.0, [::])
 * becomes the loopback address. Other URLs are copied as they are. */
static int
dialable(const char *url, char *out, size_t size)
{
	const char *host = strstr(url, "://");
	if (host == NULL || strncmp(url, "ipc", 3) == 0 ||
	    strncmp(url, "inproc", 6) == 0) {
		return snprintf(out, size, "%s", url) < (int) size ? 0 : -1;
	}
	host += 3;
	const char *colon = strrchr(host, ':');
	if (colon == NULL) {
		return snprintf(out, size, "%s", url) < (int) size ? 0 : -1;
	}
	size_t hlen = (size_t) (colon - host);
	const char *loop = NULL;
	if (hlen == 0 || (hlen == 1 && host[0] == '*') ||
	    (hlen == 7 && strncmp(host, "0.0.0.0", 7) == 0)) {
		loop = "127.0.0.1";
	} else if (hlen == 4 && strncmp(host, "[::]", 4) == 0) {
		loop = "[::1]";
	}
	int n = loop ? snprintf(out, size, "%.*s%s%s", (int) (host - url), url,
	                   loop, colon)
	             : snprintf(out, size, "%s", url);
	return n >= 0 && (size_t) n < size ? 0 : -1;
}

/* The listen variable beside a dial variable: AUTH_RPC_DIAL ->
 * AUTH_RPC_LISTEN (the services' naming). */
static const char *
listen_env(const char *dial_env, char *buf, size_t size)
{
	size_t n = strlen(dial_env);
	if (n < 5 || strcmp(dial_env + n - 5, "_DIAL") != 0) {
		return NULL;
	}
	snprintf(buf, size, "%.*s_LISTEN", (int) (n - 5), dial_env);
	return buf;
}

/* Where to dial svc: --url, else $<SVC>_RPC_DIAL, else the service's
 * $<SVC>_RPC_LISTEN (wildcards made loopback), else the default. */
static int
resolve_urls(
    const rpcctl_options *o, const registry_service *svc, dial_list *dl)
{
	char split[RPCCTL_MAX_URLS * URL_MAX];
	char lbuf[64];
	const char *list = NULL;
	bool from_listen = false;
	bool tls_default = false;

	if (o->n_urls > 0) {
		for (int i = 0; i < o->n_urls; i++) {
			dl->urls[i] = o->urls[i];
		}
		dl->n = o->n_urls;
		dl->source = "--url";
		return 0;
	}
	if (svc->dial_env == NULL) {
		rpcctl_error("%s has no URLs of its own: give --service or "
		             "--url",
		    svc->desc->name);
		return -1;
	}
	const char *lenv = listen_env(svc->dial_env, lbuf, sizeof(lbuf));
	const char *v = getenv(svc->dial_env);
	if (v != NULL && v[0] != '\0') {
		list = v;
		dl->source = svc->dial_env;
	} else if (lenv != NULL && (v = getenv(lenv)) != NULL &&
	           v[0] != '\0') {
		list = v;
		dl->source = lenv;
		from_listen = true;
	} else {
		/* The local stack (and any deployment) speaks tls+tcp://:
		 * with a certificate at hand, so does the default. */
		list = svc->dial_default;
		tls_default = rpcctl_creds_configured(o);
		dl->source =
		    tls_default ? "the default, over TLS" : "the default";
	}
	const char *parts[RPCCTL_MAX_URLS];
	int n = core_config_split(
	    list, split, sizeof(split), parts, RPCCTL_MAX_URLS);
	if (n <= 0) {
		rpcctl_error(
		    "%s must list 1 to %d URLs", dl->source, RPCCTL_MAX_URLS);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (from_listen
		        ? dialable(parts[i], dl->store[i], URL_MAX) != 0
		        : snprintf(dl->store[i], URL_MAX, "%s%s",
		              tls_default ? "tls+" : "",
		              parts[i]) >= URL_MAX) {
			rpcctl_error("URL too long in %s", dl->source);
			return -1;
		}
		dl->urls[i] = dl->store[i];
	}
	dl->n = n;
	return 0;
}

core_rpc_client *
rpcctl_client_for(const rpcctl_options *o, const registry_service *svc)
{
	dial_list dl = {.n = 0};
	if (resolve_urls(o, svc, &dl) != 0) {
		return NULL;
	}
	if (o->verbose) {
		for (int i = 0; i < dl.n; i++) {
			fprintf(stderr, "rpcctl: %s: dialing %s (from %s)\n",
			    svc->target ? svc->target : svc->desc->name,
			    dl.urls[i], dl.source);
		}
	}
	core_tls *tls = NULL;
	for (int i = 0; i < dl.n; i++) {
		if (strncmp(dl.urls[i], "tls+", 4) == 0 &&
		    rpcctl_creds(o, dl.urls[i], &tls) != 0) {
			return NULL;
		}
	}
	/* The server must prove it is the service meant (svc-auth for
	 * auth.*), whatever the URL's host; Health at a bare --url takes any
	 * certificate of the CA. */
	core_rpc_client_config cfg = {
	    .name = svc->target ? svc->target : svc->desc->name,
	    .urls = dl.urls,
	    .n_urls = (size_t) dl.n,
	    .conns_per_url = 1,
	    .connect_wait_ms = CONNECT_WAIT_MS,
	    .default_timeout_ms = (int) o->timeout_ms,
	    .tls = tls,
	    .peer_identity = svc->identity,
	};
	core_rpc_client *c = NULL;
	if (core_rpc_client_new(&cfg, &c) != 0) {
		rpcctl_error("cannot dial %s (from %s): not a valid URL",
		    dl.urls[0], dl.source);
		return NULL;
	}
	return c;
}
