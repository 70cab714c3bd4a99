/* rpcctl's credentials for tls+tcp:// (docs/rpcctl.md#tls). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "creds.h"

/* The local stack's operators' identity (scripts/stack.sh). */
#define STACK_PKI "./.run/pki/"

/* Loaded once, at the first tls+tcp:// URL, for every client. */
static core_tls *loaded;
static bool tried;
static int load_rc;

static const char *
env(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Where the credentials come from, in rpcctl's order. */
typedef struct creds_source {
	const char *what; /* "--cert, --key, --cacert", ... for messages */
	const char *cert, *key, *ca, *crl;
} creds_source;

/* Loads the three (four) files; an incomplete set is a usage error. */
static int
load_files(const creds_source *s, core_tls **out)
{
	if (s->cert == NULL || s->key == NULL || s->ca == NULL) {
		return rpcctl_usage_error(
		    "%s go together: give all three", s->what);
	}
	core_tls_source src = {.cert_file = s->cert,
	    .key_file = s->key,
	    .ca_file = s->ca,
	    .crl_file = s->crl};
	char err[512];
	if (core_tls_new(&src, out, err, sizeof(err)) != 0) {
		rpcctl_error("%s: %s", s->what, err);
		return RPCCTL_EXIT_OTHER;
	}
	return 0;
}

static int
load(const rpcctl_options *o, core_tls **out)
{
	*out = NULL;
	if (o->cert != NULL || o->key != NULL || o->cacert != NULL ||
	    o->crl != NULL) {
		creds_source s = {"--cert, --key and --cacert", o->cert,
		    o->key, o->cacert, o->crl};
		return load_files(&s, out);
	}
	if (env("RPCCTL_CERT") || env("RPCCTL_KEY") || env("RPCCTL_CACERT")) {
		creds_source s = {"RPCCTL_CERT, RPCCTL_KEY and RPCCTL_CACERT",
		    env("RPCCTL_CERT"), env("RPCCTL_KEY"),
		    env("RPCCTL_CACERT"), NULL};
		return load_files(&s, out);
	}
	/* Inside a service's container: that service's own identity. */
	if (env("RPC_TLS_CERT") || env("RPC_TLS_CERT_FILE")) {
		char err[512];
		if (core_tls_from_env(out, err, sizeof(err)) != 0) {
			rpcctl_error("RPC_TLS_*: %s", err);
			return RPCCTL_EXIT_OTHER;
		}
		return 0;
	}
	if (access(STACK_PKI "ops.crt", R_OK) == 0) {
		bool crl = access(STACK_PKI "crl.pem", R_OK) == 0;
		creds_source s = {STACK_PKI "ops.*", STACK_PKI "ops.crt",
		    STACK_PKI "ops.key", STACK_PKI "ca.crt",
		    crl ? STACK_PKI "crl.pem" : NULL};
		return load_files(&s, out);
	}
	return 0;
}

bool
rpcctl_creds_configured(const rpcctl_options *o)
{
	return o->cert != NULL || env("RPCCTL_CERT") != NULL ||
	       env("RPC_TLS_CERT") != NULL ||
	       env("RPC_TLS_CERT_FILE") != NULL ||
	       access(STACK_PKI "ops.crt", R_OK) == 0;
}

int
rpcctl_creds(const rpcctl_options *o, const char *url, core_tls **out)
{
	if (!tried) {
		tried = true;
		load_rc = load(o, &loaded);
		if (load_rc == 0 && loaded != NULL && o->verbose) {
			fprintf(stderr,
			    "rpcctl: speaking as \"%s\" over TLS\n",
			    core_tls_identity(loaded));
		}
	}
	if (load_rc != 0) {
		return load_rc; /* said why the first time */
	}
	if (loaded == NULL) {
		rpcctl_error("%s needs a certificate: --cert, --key and "
		             "--cacert (or RPCCTL_CERT, RPCCTL_KEY, "
		             "RPCCTL_CACERT)",
		    url);
		return RPCCTL_EXIT_USAGE;
	}
	*out = loaded;
	return 0;
}

void
rpcctl_creds_free(void)
{
	core_tls_free(loaded);
	loaded = NULL;
	tried = false;
}
