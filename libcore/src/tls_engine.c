/* libcore's TLS engine for nng, on mbed TLS 2.28.
 *
 * nng 1.5.2 lets an application read nothing of a tls+tcp:// pipe's peer
 * certificate: the only TLS pipe option is the bool "tls-verified". It does
 * let a process register its own engine (nng_tls_engine_register), and
 * that option is answered by the engine's verified() op, called
 * synchronously on the thread that asked (pipe getopt -> TLS stream getopt
 * -> verified). This engine records each connection's verified peer
 * identity at the end of its handshake and, whenever verified() runs, puts
 * it in a thread-local slot that tls_pipe_peer reads right after asking.
 *
 * Its configurations are bound to a core_tls (tls_nng_config sets a
 * thread-local binding around nng_tls_config_alloc, which runs the
 * config's init op on the calling thread) and take that core_tls's current
 * credentials at every new connection, which is what makes a reload apply
 * to new handshakes only. The strings of nng's own configuration API
 * (nng_tls_config_own_cert, ...) are not supported: nng allocates a
 * default client configuration with every tls+tcp:// dialer, so an
 * unbound configuration may exist, but a connection refuses to use one.
 * See docs/internals/tls.md. */
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/engine.h>

#include "core/clock.h"
#include "core/log.h"
#include "tls_internal.h"

#define ENGINE_NAME "libcore-mbedtls"

struct nng_tls_engine_config {
	nng_tls_mode mode;
	const core_tls *bound; /* NULL: a default nng made itself */
	char *server_name;
};

struct nng_tls_engine_conn {
	void *tls; /* nng's connection, for the send/recv callbacks */
	const core_tls *bound;
	tls_creds *creds;
	unsigned gen; /* bound's reload count when the peer was last checked */
	bool
	    revoked; /* a reload's CRL revoked the peer: the connection ends */
	mbedtls_ssl_context ctx;
	bool done;  /* handshake finished and the peer verified */
	int failed; /* the handshake's error, once it failed (logged) */
	char peer[CORE_TLS_IDENTITY_MAX + 1];
};

/* tls_nng_config's binding, read by config_init on the same thread. */
static _Thread_local const core_tls *binding;
/* What the last verified() on this thread saw: 0 none, 1 an identity
 * (peer_slot), -1 a TLS connection without one. */
static _Thread_local int peer_state;
static _Thread_local char peer_slot[CORE_TLS_IDENTITY_MAX + 1];

static int
nng_err(int rv)
{
	switch (rv) {
	case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
	case MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED:
	case MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED:
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
	case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
		return NNG_EPEERAUTH;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
		return NNG_ENOMEM;
	/* The peer went away. Never NNG_ECLOSED, which tells nng that our own
	 * object was closed: a peer that hangs up after the handshake, before
	 * the SP header, fails the listener's accept with it, and nng's
	 * listener then stops accepting for good (core/listener.c). */
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
	case MBEDTLS_ERR_SSL_CONN_EOF:
	case MBEDTLS_ERR_NET_SEND_FAILED:
	case MBEDTLS_ERR_NET_RECV_FAILED:
		return NNG_ECONNRESET;
	default:
		return NNG_ECRYPTO;
	}
}

/* Whether a handshake's error is the peer's doing: what it sent could not
 * be read as TLS (a plain tcp:// client, a scanner), broke the protocol, was
 * an alert (a client that distrusts our certificate), or carried a
 * certificate that does not parse. Local failures (the random generator,
 * our key, the configuration, mbed TLS's own limits) are not. */
static bool
peer_caused(int rv)
{
	int high = -(-rv & 0xFF80); /* mbed TLS's high-level part */
	if (high <= MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO &&
	    high >= MBEDTLS_ERR_SSL_BAD_HS_FINISHED) {
		return true; /* a BAD_HS_ (two more are in the switch) */
	}
	if (high <= MBEDTLS_ERR_X509_FEATURE_UNAVAILABLE &&
	    high >= MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT) {
		return true; /* the peer's certificate does not parse */
	}
	switch (high) {
	case MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE:
	case MBEDTLS_ERR_SSL_INVALID_MAC:
	case MBEDTLS_ERR_SSL_INVALID_RECORD:
	case MBEDTLS_ERR_SSL_UNKNOWN_CIPHER:
	case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
	case MBEDTLS_ERR_SSL_CERTIFICATE_TOO_LARGE:
	case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
	case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
	case MBEDTLS_ERR_SSL_BAD_HS_NEW_SESSION_TICKET:
	case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD:
	case MBEDTLS_ERR_SSL_INVALID_VERIFY_HASH:
		return true;
	default:
		return false;
	}
}

/* A failed handshake's nng error. The peer's failures are NNG_EPEERAUTH
 * rather than NNG_ECRYPTO: nng 1.5.2's listener takes the one as the
 * peer's and accepts again at once, the other as trouble of its own and
 * pauses 100 ms before its next accept, which a stream of such peers (a
 * tcp:// client dialling a tls+tcp:// port at every redial) would turn
 * into a delay for every new connection. Local failures keep the pause. */
static int
handshake_err(int rv)
{
	int e = nng_err(rv);
	return e == NNG_ECRYPTO && peer_caused(rv) ? NNG_EPEERAUTH : e;
}

static int
bio_send(void *tls, const unsigned char *buf, size_t len)
{
	size_t n = len;
	int rv = nng_tls_engine_send(tls, buf, &n);
	if (rv == 0) {
		return (int) n;
	}
	return rv == NNG_EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE
	                        : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int
bio_recv(void *tls, unsigned char *buf, size_t len)
{
	size_t n = len;
	int rv = nng_tls_engine_recv(tls, buf, &n);
	if (rv == 0) {
		return (int) n;
	}
	return rv == NNG_EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ
	                        : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* ---- Connections ------------------------------------------------------- */

static int
conn_init(nng_tls_engine_conn *ec, void *tls, nng_tls_engine_config *cfg)
{
	memset(ec, 0, sizeof(*ec));
	ec->tls = tls;
	mbedtls_ssl_init(&ec->ctx);
	if (cfg->bound == NULL) {
		core_log_error("tls+tcp:// connection without libcore "
		               "credentials (core_tls) refused");
		return NNG_ENOTSUP;
	}
	ec->bound = cfg->bound;
	ec->gen = tls_generation(cfg->bound);
	ec->creds = tls_creds_acquire(cfg->bound);
	const mbedtls_ssl_config *conf = cfg->mode == NNG_TLS_MODE_SERVER
	                                     ? &ec->creds->server
	                                     : &ec->creds->client;
	int rv = mbedtls_ssl_setup(&ec->ctx, conf);
	if (rv == 0 && cfg->server_name != NULL) {
		rv = mbedtls_ssl_set_hostname(&ec->ctx, cfg->server_name);
	}
	if (rv != 0) {
		return nng_err(rv);
	}
	mbedtls_ssl_set_bio(&ec->ctx, tls, bio_send, bio_recv, NULL);
	return 0;
}

static void
conn_fini(nng_tls_engine_conn *ec)
{
	mbedtls_ssl_free(&ec->ctx);
	if (ec->creds != NULL) {
		tls_creds_release(ec->creds);
		ec->creds = NULL;
	}
}

static void
conn_close(nng_tls_engine_conn *ec)
{
	/* Best effort; nng closes the TCP connection itself. */
	(void) mbedtls_ssl_close_notify(&ec->ctx);
}

/* Handshake failures logged per second, in the whole process: a scanner,
 * or a tcp:// client redialling a tls+tcp:// port, fails thousands. */
#define HANDSHAKE_LOGS_PER_S 5

/* Whether this failure is logged; if so, *left_out is how many were not
 * since the last one that was. */
static bool
handshake_log_allowed(unsigned long *left_out)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static int64_t second = -1;
	static unsigned in_second;
	static unsigned long skipped;
	int64_t now = core_monotonic_ms() / 1000;
	bool allowed;
	pthread_mutex_lock(&mu);
	if (now != second) {
		second = now;
		in_second = 0;
	}
	allowed = in_second < HANDSHAKE_LOGS_PER_S;
	if (allowed) {
		in_second++;
		*left_out = skipped;
		skipped = 0;
	} else {
		skipped++;
	}
	pthread_mutex_unlock(&mu);
	return allowed;
}

/* Logs why a handshake failed: the certificate check's reasons when it
 * was that, else mbed TLS's text for the error. At most
 * HANDSHAKE_LOGS_PER_S a second; a line after some were left out says how
 * many ("not_logged"). */
static void
log_handshake_failure(nng_tls_engine_conn *ec, int rv)
{
	unsigned long left_out = 0;
	if (!handshake_log_allowed(&left_out)) {
		return;
	}
	char why[256] = "", skipped[24] = "";
	uint32_t flags = mbedtls_ssl_get_verify_result(&ec->ctx);
	if (rv == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 &&
	    flags != (uint32_t) -1) {
		mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
		for (char *p = why; *p != '\0'; p++) {
			if (*p == '\n') {
				*p = (p[1] == '\0') ? '\0' : ';';
			}
		}
	} else {
		mbedtls_strerror(rv, why, sizeof(why));
	}
	const char *side = ec->ctx.conf->endpoint == MBEDTLS_SSL_IS_SERVER
	                       ? "server"
	                       : "client";
	/* The key list ends at the first NULL key: without a count, at
	 * "not_logged"'s place. */
	snprintf(skipped, sizeof(skipped), "%lu", left_out);
	core_log_kv(CORE_LOG_WARN, "TLS handshake failed", "side", side,
	    "own_identity", ec->creds->identity, "reason", why,
	    left_out > 0 ? "not_logged" : NULL, skipped, NULL);
}

static int
conn_handshake(nng_tls_engine_conn *ec)
{
	if (ec->failed != 0) {
		return ec->failed; /* nng may ask again; logged once */
	}
	int rv = mbedtls_ssl_handshake(&ec->ctx);
	if (rv == MBEDTLS_ERR_SSL_WANT_READ ||
	    rv == MBEDTLS_ERR_SSL_WANT_WRITE) {
		return NNG_EAGAIN;
	}
	if (rv != 0) {
		log_handshake_failure(ec, rv);
		ec->failed = handshake_err(rv);
		return ec->failed;
	}
	/* Verification is required on both sides, so the handshake only
	 * finishes with a peer certificate that chains to our CA (and is not
	 * revoked, expired, or, for a client, for another name). */
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&ec->ctx);
	if (peer == NULL || mbedtls_ssl_get_verify_result(&ec->ctx) != 0 ||
	    tls_cert_cn(peer, ec->peer) != 0) {
		core_log_warn("TLS handshake refused: the peer certificate "
		              "names no identity");
		return NNG_EPEERAUTH;
	}
	ec->done = true;
	return 0;
}

/* Whether the connection may go on: after a reload (rare, so one atomic
 * load per record otherwise), its peer is checked against the new CRL. A
 * revoked peer's connection fails its next read or write, nng closes it,
 * and the reconnect's handshake is refused: a revocation takes effect on
 * live connections too, not only on new ones. */
static bool
conn_live(nng_tls_engine_conn *ec)
{
	unsigned gen = tls_generation(ec->bound);
	if (ec->done && !ec->revoked && gen != ec->gen) {
		ec->gen = gen;
		const mbedtls_x509_crt *peer =
		    mbedtls_ssl_get_peer_cert(&ec->ctx);
		if (peer != NULL && tls_revoked_now(ec->bound, peer)) {
			ec->revoked = true;
			core_log_kv(CORE_LOG_WARN,
			    "TLS connection closed: the peer's certificate "
			    "is revoked",
			    "peer", ec->peer, "own_identity",
			    ec->creds->identity, NULL);
		}
	}
	return !ec->revoked;
}

/* An mbed TLS read's or write's result as nng wants it: the byte count in
 * *n, or NNG_EAGAIN when the lower stream must move first. */
static int
io_result(int rv, size_t *n)
{
	if (rv == MBEDTLS_ERR_SSL_WANT_READ ||
	    rv == MBEDTLS_ERR_SSL_WANT_WRITE) {
		return NNG_EAGAIN;
	}
	if (rv < 0) {
		return nng_err(rv);
	}
	*n = (size_t) rv;
	return 0;
}

static int
conn_recv(nng_tls_engine_conn *ec, uint8_t *buf, size_t *n)
{
	if (!conn_live(ec)) {
		return NNG_ECONNRESET;
	}
	return io_result(mbedtls_ssl_read(&ec->ctx, buf, *n), n);
}

static int
conn_send(nng_tls_engine_conn *ec, const uint8_t *buf, size_t *n)
{
	if (!conn_live(ec)) {
		return NNG_ECONNRESET;
	}
	return io_result(mbedtls_ssl_write(&ec->ctx, buf, *n), n);
}

/* Called by nng under the connection's lock, on the thread that asked for
 * NNG_OPT_TLS_VERIFIED: the identity goes to that thread's slot. */
static bool
conn_verified(nng_tls_engine_conn *ec)
{
	if (ec->done && ec->peer[0] != '\0') {
		memcpy(peer_slot, ec->peer, sizeof(peer_slot));
		peer_state = 1;
	} else {
		peer_state = -1;
	}
	return ec->done;
}

/* ---- Configurations ---------------------------------------------------- */

static int
config_init(nng_tls_engine_config *cfg, nng_tls_mode mode)
{
	cfg->mode = mode;
	cfg->bound = binding;
	cfg->server_name = NULL;
	return 0;
}

static void
config_fini(nng_tls_engine_config *cfg)
{
	free(cfg->server_name);
	cfg->server_name = NULL;
}

static int
config_server(nng_tls_engine_config *cfg, const char *name)
{
	char *dup = strdup(name);
	if (dup == NULL) {
		return NNG_ENOMEM;
	}
	free(cfg->server_name);
	cfg->server_name = dup;
	return 0;
}

static int
config_auth(nng_tls_engine_config *cfg, nng_tls_auth_mode mode)
{
	/* Peers are always verified; nothing weaker is accepted for our
	 * configurations. nng sets its own defaults (no client verification
	 * on a listener's) on the unbound ones it makes, which are never
	 * used for a connection. */
	return cfg->bound == NULL || mode == NNG_TLS_AUTH_MODE_REQUIRED
	           ? 0
	           : NNG_ENOTSUP;
}

static int
config_ca_chain(nng_tls_engine_config *cfg, const char *certs, const char *crl)
{
	(void) cfg, (void) certs, (void) crl;
	return NNG_ENOTSUP; /* credentials come from core_tls */
}

static int
config_own_cert(nng_tls_engine_config *cfg, const char *cert, const char *key,
    const char *pass)
{
	(void) cfg, (void) cert, (void) key, (void) pass;
	return NNG_ENOTSUP;
}

static int
config_version(
    nng_tls_engine_config *cfg, nng_tls_version lo, nng_tls_version hi)
{
	(void) cfg;
	/* TLS 1.2 is what mbed TLS 2.28 offers and our minimum. */
	return lo <= NNG_TLS_1_2 && hi >= NNG_TLS_1_2 ? 0 : NNG_ENOTSUP;
}

static nng_tls_engine_config_ops config_ops = {
    .size = sizeof(nng_tls_engine_config),
    .init = config_init,
    .fini = config_fini,
    .server = config_server,
    .auth = config_auth,
    .ca_chain = config_ca_chain,
    .own_cert = config_own_cert,
    .version = config_version,
};

static nng_tls_engine_conn_ops conn_ops = {
    .size = sizeof(nng_tls_engine_conn),
    .init = conn_init,
    .fini = conn_fini,
    .close = conn_close,
    .handshake = conn_handshake,
    .recv = conn_recv,
    .send = conn_send,
    .verified = conn_verified,
};

static const nng_tls_engine engine = {
    .version = NNG_TLS_ENGINE_VERSION,
    .config_ops = &config_ops,
    .conn_ops = &conn_ops,
    .name = ENGINE_NAME,
    .description = "libcore mutual TLS on mbed TLS 2.28",
    .fips_mode = false,
};

/* nng's initialisation registers its own engine, so ours goes in after
 * it: nng_tls_engine_name runs that initialisation first. Checked at every
 * configuration, so it holds after an nng_fini too. */
static int
ensure_registered(void)
{
	/* Components of one process may make their first configurations at
	 * the same time (microcore starts them in threads of their own). */
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int rv = 0;
	pthread_mutex_lock(&mu);
	if (strcmp(nng_tls_engine_name(), ENGINE_NAME) != 0) {
		rv = nng_tls_engine_register(&engine);
	}
	pthread_mutex_unlock(&mu);
	return rv;
}

int
tls_nng_config(const core_tls *t, bool server, const char *server_name,
    nng_tls_config **out)
{
	int rv = ensure_registered();
	if (rv != 0) {
		return rv;
	}
	nng_tls_config *cfg;
	binding = t;
	rv = nng_tls_config_alloc(
	    &cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	binding = NULL;
	if (rv != 0) {
		return rv;
	}
	if (server_name != NULL &&
	    (rv = nng_tls_config_server_name(cfg, server_name)) != 0) {
		nng_tls_config_free(cfg);
		return rv;
	}
	*out = cfg;
	return 0;
}

int
tls_pipe_peer(nng_pipe p, char *buf)
{
	bool verified = false;
	if (nng_pipe_id(p) < 0) {
		return 0;
	}
	peer_state = 0;
	if (nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified) != 0) {
		return 0; /* not a TLS pipe */
	}
	if (peer_state != 1 || !verified) {
		buf[0] = '\0';
		return -1;
	}
	memcpy(buf, peer_slot, CORE_TLS_IDENTITY_MAX + 1);
	return 1;
}

bool
tls_url(const char *url)
{
	return strncmp(url, "tls+", 4) == 0;
}

bool
tls_url_plain_tcp(const char *url)
{
	return strncmp(url, "tcp://", 6) == 0 ||
	       strncmp(url, "tcp4://", 7) == 0 ||
	       strncmp(url, "tcp6://", 7) == 0;
}
