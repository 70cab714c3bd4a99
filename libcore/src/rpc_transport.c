/* Listening and dialing for the RPC server and client: tls+tcp:// URLs get
 * libcore's TLS configuration, plain tcp:// ones a warning. Also the guard
 * that keeps a peer's hang-up from stopping a listener or dialer for good
 * (sendmsg below). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "core/log.h"
#include "rpc_internal.h"
#include "tls_internal.h"

/* nng 1.5.2 (Debian 12's libnng) turns EPIPE into NNG_ECLOSED, and a
 * connection whose SP negotiation fails with NNG_ECLOSED ends its
 * endpoint's work: the listener takes that as its own closing and never
 * accepts again, a dialer never redials (nng issue #1518, "Disconnect
 * during negotiation breaks listener", fixed in nng 1.6.0). EPIPE is what
 * the kernel returns to a write on a connection whose peer has sent FIN
 * and then RST: a client that hangs up in the middle of the TLS handshake
 * (a health check at its deadline, a port scanner, a stopped process), while
 * the server writes its next handshake record, is enough; one such
 * hang-up left a service listening, ready, and answering nobody.
 *
 * nng sends on TCP with sendmsg(MSG_NOSIGNAL) through its PLT, so this
 * definition, in every executable that links the RPC transport, is the one
 * libnng.so calls: the same system call, with EPIPE reported as
 * ECONNRESET, which nng maps to NNG_ECONNRESET, a peer's fault after which
 * a listener accepts again at once and a dialer redials. The only other
 * library here that sends with sendmsg, libmicrohttpd, closes the
 * connection on either error alike.
 * test_tls_hangup shows listeners and dialers surviving such hang-ups; the
 * ctest transport_guard_exported checks that each binary exports this. */
__attribute__((visibility("default"))) ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t n = (ssize_t) syscall(SYS_sendmsg, fd, msg, flags);
	if (n < 0 && errno == EPIPE) {
		errno = ECONNRESET;
	}
	return n;
}

static const char plain_risk[] =
    "plain tcp:// carries no authentication or encryption: anyone who "
    "reaches the port can call every method (admin ones too), read tokens "
    "on the wire and forge client-ip; use tls+tcp:// outside local "
    "experiments";

void
rpc_warn_plain(const char *what, const char *url)
{
	if (tls_url_plain_tcp(url)) {
		core_log_kv(
		    CORE_LOG_WARN, what, "url", url, "risk", plain_risk, NULL);
	}
}

static const core_tls *
creds_for(const char *url, const core_tls *tls, const char *role)
{
	const core_tls *t = tls != NULL ? tls : core_tls_default();
	if (t == NULL) {
		core_log_kv(CORE_LOG_ERROR,
		    "tls+tcp:// needs TLS credentials: set RPC_TLS_CERT_FILE, "
		    "RPC_TLS_KEY_FILE and RPC_TLS_CA_FILE",
		    role, url, NULL);
	}
	return t;
}

int
rpc_listen(nng_socket sock, const char *url, const core_tls *tls, int *port)
{
	nng_listener l;
	nng_tls_config *cfg = NULL;
	int rv;
	const char *step = "listen";

	if (tls_url(url) && (tls = creds_for(url, tls, "url")) == NULL) {
		return -1;
	}
	/* The TLS configuration first: it registers libcore's engine before
	 * the listener makes its default configuration. */
	if (tls_url(url) &&
	    (rv = tls_nng_config(tls, true, NULL, &cfg)) != 0) {
		step = "TLS configuration";
		goto fail;
	}
	if ((rv = nng_listener_create(&l, sock, url)) != 0) {
		goto fail;
	}
	if (cfg != NULL) {
		if ((rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) !=
		    0) {
			step = "TLS configuration";
			nng_listener_close(l);
			goto fail;
		}
		/* The listener holds its own reference now. */
		nng_tls_config_free(cfg);
		cfg = NULL;
	}
	if ((rv = nng_listener_start(l, 0)) != 0) {
		nng_listener_close(l);
		goto fail;
	}
	int p;
	if (*port < 0 && (tls_url_plain_tcp(url) || tls_url(url)) &&
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &p) == 0) {
		*port = p;
	}
	rpc_warn_plain("listening on plain tcp://", url);
	return 0;
fail:
	if (cfg != NULL) {
		nng_tls_config_free(cfg);
	}
	core_log_kv(CORE_LOG_ERROR, "cannot listen", "url", url, "step", step,
	    "error", nng_strerror(rv), NULL);
	return -1;
}

int
rpc_dial(nng_socket sock, const char *url, const core_tls *tls,
    const char *peer_identity)
{
	nng_dialer d;
	nng_tls_config *cfg = NULL;
	int rv;

	if (tls_url(url) && (tls = creds_for(url, tls, "url")) == NULL) {
		return -1;
	}
	/* The TLS configuration first: it registers libcore's engine before
	 * the dialer makes its default configuration. */
	if (tls_url(url) &&
	    (rv = tls_nng_config(tls, false, peer_identity, &cfg)) != 0) {
		goto fail;
	}
	if ((rv = nng_dialer_create(&d, sock, url)) != 0) {
		goto fail;
	}
	if (cfg != NULL &&
	    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
		nng_dialer_close(d);
		goto fail;
	}
	/* Non-blocking: connect in the background and keep retrying, so
	 * services may start in any order. */
	if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		nng_dialer_close(d);
		goto fail;
	}
	if (cfg != NULL) {
		nng_tls_config_free(cfg); /* the dialer holds its own */
	}
	return 0;
fail:
	if (cfg != NULL) {
		nng_tls_config_free(cfg);
	}
	core_log_kv(CORE_LOG_ERROR, "cannot dial", "url", url, "error",
	    nng_strerror(rv), NULL);
	return -1;
}
