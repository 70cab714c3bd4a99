/* Calls between the components of one process (the single-process mode,
 * microcore) go over nng's inproc:// transport, which carries no
 * certificate. The caller's identity is the URL it dials instead: a
 * service takes in-process calls on one URL per caller,
 *
 *   inproc://<service>/from/<caller>      "inproc://svc-auth/from/edge"
 *
 * and a call that arrives through such a listener is from <caller>, with
 * the same method rules (callers lists, client facts) as over tls+tcp://.
 * Only code inside the process can dial an inproc:// URL, and every
 * component dials the URLs that name itself; so within the process the
 * URL is as good as a certificate is between processes (a component whose
 * code is compromised has the process's memory anyway). Other inproc://
 * URLs stay what they were: a plain transport, not authenticated. See
 * docs/rpc.md "Identities". */
#ifndef CORE_INPROC_H
#define CORE_INPROC_H

#include <stddef.h>

/* Longest URL (nng's NNG_MAXADDRLEN, which inproc:// addresses obey). */
#define CORE_INPROC_URL_MAX 128

/* Writes the URL on which service takes calls from caller into buf (len
 * bytes). Returns 0, or -1 when a name is not an identity (1 to 64 of
 * [a-z0-9.-]) or the URL does not fit. */
int core_inproc_url(
    char *buf, size_t len, const char *service, const char *caller);

/* The caller such a URL names: returns 1 with it in buf (at least
 * CORE_TLS_IDENTITY_MAX + 1 bytes), or 0 when url is not one. */
int core_inproc_caller(const char *url, char *buf);

#endif
