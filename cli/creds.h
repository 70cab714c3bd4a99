/* rpcctl's own certificate for tls+tcp://: from --cert/--key/--cacert
 * (--crl), else RPCCTL_CERT/RPCCTL_KEY/RPCCTL_CACERT, else the RPC_TLS_*
 * variables of its environment (a service's container: that service's
 * identity), else ./.run/pki/ops.* (the local stack's operators). */
#ifndef RPCCTL_CREDS_H
#define RPCCTL_CREDS_H

#include "core/tls.h"

#include "rpcctl.h"

/* The credentials for dialing url, a tls+tcp:// URL: *out, loaded at the
 * first call and the same for every later one. Returns 0, or an exit
 * status after printing why: an incomplete or unreadable set, or none. */
int rpcctl_creds(const rpcctl_options *o, const char *url, core_tls **out);

/* Whether rpcctl has credentials from any of those sources (without
 * loading them): then its default URLs are tls+tcp://. */
bool rpcctl_creds_configured(const rpcctl_options *o);

/* Frees them, after every client that used them. */
void rpcctl_creds_free(void);

#endif
