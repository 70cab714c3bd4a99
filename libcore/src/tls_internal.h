/* Between the credentials (tls.c), the nng TLS engine (tls_engine.c) and
 * the RPC server and client. Not part of the public API. */
#ifndef CORE_TLS_INTERNAL_H
#define CORE_TLS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "core/tls.h"

/* One set of parsed credentials, immutable once made and shared by every
 * connection whose handshake started while it was current: each holds a
 * reference until it closes, so a reload never frees what a live
 * connection's mbed TLS context points to. */
typedef struct tls_creds {
	atomic_int refs;
	mbedtls_x509_crt own; /* certificate (and any chain after it) */
	mbedtls_pk_context key;
	mbedtls_x509_crt ca;
	mbedtls_x509_crl crl;
	bool has_crl;
	mbedtls_ssl_config server, client; /* both verify the peer */
	char identity[CORE_TLS_IDENTITY_MAX + 1];
} tls_creds;

/* The current credentials of t with a reference taken (never NULL). */
tls_creds *tls_creds_acquire(const core_tls *t);
void tls_creds_release(tls_creds *c);

/* How many reloads of t took effect (changes when new credentials do). */
unsigned tls_generation(const core_tls *t);

/* Whether the current credentials' CRL revokes peer. For connections made
 * before a reload: a revocation also ends those (tls_engine.c). */
bool tls_revoked_now(const core_tls *t, const mbedtls_x509_crt *peer);

/* Writes the subject commonName of crt into buf (CORE_TLS_IDENTITY_MAX +
 * 1 bytes). Returns 0, or -1 when it has none, it is too long or it holds
 * a character outside [a-z0-9.-] (such a name would not be an identity). */
int tls_cert_cn(const mbedtls_x509_crt *crt, char *buf);

/* The random source of every mbed TLS context (libsodium's). */
int tls_rng(void *unused, unsigned char *buf, size_t len);

/* Makes an nng TLS configuration backed by t (server or client side),
 * registering libcore's TLS engine with nng first. server_name (client
 * side; may be NULL) is the identity the server's certificate must name.
 * Returns 0, or an nng error. */
int tls_nng_config(const core_tls *t, bool server, const char *server_name,
    nng_tls_config **out);

/* The identity of a pipe's verified peer. Returns 1 with the identity in
 * buf (CORE_TLS_IDENTITY_MAX + 1 bytes) for a tls+tcp:// pipe, 0 for a
 * pipe of a plain transport (or no pipe), -1 for a TLS pipe whose peer
 * has no identity (cannot happen with a certificate required). */
int tls_pipe_peer(nng_pipe p, char *buf);

/* Whether url uses TLS ("tls+tcp://..."). */
bool tls_url(const char *url);
/* Whether url is plain TCP ("tcp://", "tcp4://", "tcp6://"). */
bool tls_url_plain_tcp(const char *url);

#endif
