/* Clients that hang up in the middle of the TLS handshake must not stop a
 * tls+tcp:// listener: nng 1.5.2 turns the server's EPIPE on such a
 * connection into the error it takes for its own closing, and its
 * listener then never accepts again (libcore/src/rpc_transport.c, sendmsg).
 * Each round here hangs up a batch of handshakes at one delay after the
 * ClientHello (the server is then writing its certificate flight into a
 * connection that is gone), and a new client's call must still be served.
 * Servers that hang up mid-handshake must likewise not stop a client's
 * dialer (the same error ends a dialer's redials). And a peer that fails
 * the handshake (not TLS at all, or distrusting us) is reported to nng as
 * the peer's fault, after which its listener does not pause. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cmocka.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "test/v1/test.pb-c.h"

#include "core/arena.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/rpc.h"
#include "core/tls.h"
#include "echo_service.h"
#include "tls_internal.h"

#define ECHO "/test.v1.Echo/Echo"
#define HANG_UPS_PER_ROUND 25
#define ROUNDS 3 /* of every delay */

static char dir[64];

static int
group_setup(void **state)
{
	(void) state;
	char cmd[256];
	snprintf(dir, sizeof(dir), "/tmp/test_tls_hangup.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "%s init %s/pki >/dev/null", CERTS_SH, dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static core_tls *
creds(const char *name)
{
	char cert[128], key[128], ca[128], err[512];
	snprintf(cert, sizeof(cert), "%s/pki/%s.crt", dir, name);
	snprintf(key, sizeof(key), "%s/pki/%s.key", dir, name);
	snprintf(ca, sizeof(ca), "%s/pki/ca.crt", dir);
	core_tls_source src = {
	    .cert_file = cert, .key_file = key, .ca_file = ca};
	core_tls *t = NULL;
	if (core_tls_new(&src, &t, err, sizeof(err)) != 0) {
		fail_msg("core_tls_new %s: %s", name, err);
	}
	return t;
}

/* The randomness of the test's own TLS ends (the hanging-up client, the
 * fake server): neither ever finishes a handshake. */
static int
weak_rng(void *arg, unsigned char *out, size_t n)
{
	(void) arg;
	for (size_t i = 0; i < n; i++) {
		out[i] = (unsigned char) rand();
	}
	return 0;
}

/* Connects to 127.0.0.1:port, sends a ClientHello, waits us microseconds
 * and closes the socket without reading what the server sent. */
static void
hang_up_mid_handshake(int port, useconds_t us)
{
	mbedtls_net_context net;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	mbedtls_net_init(&net);
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);
	assert_int_equal(
	    mbedtls_net_connect(&net, "127.0.0.1", p, MBEDTLS_NET_PROTO_TCP),
	    0);
	assert_int_equal(
	    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
	        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT),
	    0);
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
	mbedtls_ssl_conf_rng(&conf, weak_rng, NULL);
	assert_int_equal(mbedtls_ssl_setup(&ssl, &conf), 0);
	assert_int_equal(mbedtls_net_set_nonblock(&net), 0);
	mbedtls_ssl_set_bio(
	    &ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
	/* Step by step up to the ClientHello sent (a whole handshake call
	 * would go on to read the server's answer when it is there). */
	while (ssl.state != MBEDTLS_SSL_SERVER_HELLO) {
		int rv = mbedtls_ssl_handshake_step(&ssl);
		assert_true(rv == 0 || rv == MBEDTLS_ERR_SSL_WANT_WRITE);
	}
	if (us > 0) {
		usleep(us);
	}
	mbedtls_net_free(&net);
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
}

/* A client of url with credentials t, which waits up to connect_wait_ms
 * for its first connection. */
static core_rpc_client *
new_client(const char *url, core_tls *t, int connect_wait_ms)
{
	const char *urls[] = {url};
	core_rpc_client_config cfg = {
	    .name = "echo",
	    .urls = urls,
	    .n_urls = 1,
	    .conns_per_url = 1,
	    .max_msg_bytes = 64 * 1024,
	    .connect_wait_ms = connect_wait_ms,
	    .tls = t,
	};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&cfg, &c), 0);
	return c;
}

static core_status
echo_once(core_rpc_client *c, int timeout_ms)
{
	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	req.seq = 42;
	core_rpc_opts opts = {.timeout_ms = timeout_ms};
	core_rpc_reply reply;
	ProtobufCMessage *out = NULL;
	core_status st = core_rpc_call(c, ECHO, &req.base,
	    &test__v1__echo_response__descriptor, &out, &opts, a, &reply);
	core_arena_free(a);
	return st;
}

/* One Echo call from a new client (its own connection) to url. */
static core_status
call_new_client(const char *url, core_tls *t)
{
	core_rpc_client *c = new_client(url, t, 3000);
	core_status st = echo_once(c, 5000);
	core_rpc_client_free(c);
	return st;
}

/* The Echo server on listen_url (port 0: any), as svc-user. */
static core_rpc_server *
start_echo_server(const char *listen_url, core_tls *t)
{
	const char *urls[] = {listen_url};
	core_rpc_server_config cfg = {
	    .name = "hangup-test",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = 2,
	    .max_msg_bytes = 64 * 1024,
	    .drain_ms = 2000,
	    .tls = t,
	};
	core_rpc_server *s = NULL;
	assert_int_equal(
	    core_rpc_server_new(&cfg, &test_echo_service, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), 0);
	return s;
}

static void
test_tls_listener_survives_hang_ups_mid_handshake(void **state)
{
	(void) state;
	core_tls *srv_t = creds("svc-user");
	core_tls *ops = creds("ops");
	core_rpc_server *s = start_echo_server("tls+tcp://127.0.0.1:0", srv_t);
	int port = core_rpc_server_port(s);
	char url[64];
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
	assert_int_equal(call_new_client(url, ops), CORE_OK);

	static const useconds_t delays[] = {0, 200, 500, 1000, 2000, 5000};
	size_t n_delays = sizeof(delays) / sizeof(delays[0]);
	for (size_t r = 0; r < ROUNDS * n_delays; r++) {
		size_t d = r % n_delays;
		for (int i = 0; i < HANG_UPS_PER_ROUND; i++) {
			hang_up_mid_handshake(port, delays[d]);
		}
		core_status st = call_new_client(url, ops);
		if (st != CORE_OK) {
			fail_msg(
			    "after %d hang-ups %u us after the ClientHello "
			    "the server answers a new client %s",
			    HANG_UPS_PER_ROUND, (unsigned) delays[d],
			    core_status_str(st));
		}
	}
	core_rpc_server_free(s);
	core_tls_free(ops);
	core_tls_free(srv_t);
}

/* ---- The dialer's side ----------------------------------------------------
 * A server that answers each ClientHello with its whole flight (as
 * svc-user, whose certificate the clients accept) and hangs up a moment
 * later, while the client is computing and writing its own flight. Every
 * client's dialer must go on redialing until the real server is there. */

#define FAKE_CLIENTS 16
#define FAKE_ACCEPTS 96
/* No connection for this long: every dialer has stopped (the longest
 * back-off between two attempts is 1 s). */
#define FAKE_QUIET_MS 5000

/* Set up on the test's thread (cmocka's asserts must not run on another);
 * the server's thread only records what went wrong, in error. */
typedef struct fake_server {
	mbedtls_net_context listen;
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	mbedtls_ssl_config conf;
	int accepted;
	int error; /* the mbed TLS error that stopped the server, or 0 */
} fake_server;

static int
fake_answer_and_hang_up(
    fake_server *f, mbedtls_net_context *conn, useconds_t us)
{
	mbedtls_ssl_context ssl;
	mbedtls_ssl_init(&ssl);
	int rv = mbedtls_ssl_setup(&ssl, &f->conf);
	mbedtls_ssl_set_bio(
	    &ssl, conn, mbedtls_net_send, mbedtls_net_recv, NULL);
	/* Up to ServerHelloDone written: the client's turn. A client that
	 * goes first ends the exchange as well. */
	while (rv == 0 && ssl.state != MBEDTLS_SSL_CLIENT_CERTIFICATE) {
		int step = mbedtls_ssl_handshake_step(&ssl);
		if (step != 0 && step != MBEDTLS_ERR_SSL_WANT_READ &&
		    step != MBEDTLS_ERR_SSL_WANT_WRITE) {
			break;
		}
	}
	if (rv == 0 && us > 0) {
		usleep(us);
	}
	mbedtls_net_free(conn);
	mbedtls_ssl_free(&ssl);
	return rv;
}

static void
fake_server_init(fake_server *f)
{
	char cert[128], key[128];
	memset(f, 0, sizeof(*f));
	mbedtls_net_init(&f->listen);
	mbedtls_x509_crt_init(&f->crt);
	mbedtls_pk_init(&f->pk);
	mbedtls_ssl_config_init(&f->conf);
	snprintf(cert, sizeof(cert), "%s/pki/svc-user.crt", dir);
	snprintf(key, sizeof(key), "%s/pki/svc-user.key", dir);
	assert_int_equal(mbedtls_x509_crt_parse_file(&f->crt, cert), 0);
	assert_int_equal(mbedtls_pk_parse_keyfile(&f->pk, key, NULL), 0);
	assert_int_equal(
	    mbedtls_ssl_config_defaults(&f->conf, MBEDTLS_SSL_IS_SERVER,
	        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT),
	    0);
	mbedtls_ssl_conf_rng(&f->conf, weak_rng, NULL);
	/* Asks for the client's certificate, as our servers do. */
	mbedtls_ssl_conf_authmode(&f->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_ca_chain(&f->conf, &f->crt, NULL);
	assert_int_equal(
	    mbedtls_ssl_conf_own_cert(&f->conf, &f->crt, &f->pk), 0);
	assert_int_equal(mbedtls_net_bind(&f->listen, "127.0.0.1", "0",
	                     MBEDTLS_NET_PROTO_TCP),
	    0);
}

static void
fake_server_free(fake_server *f)
{
	mbedtls_net_free(&f->listen);
	mbedtls_ssl_config_free(&f->conf);
	mbedtls_pk_free(&f->pk);
	mbedtls_x509_crt_free(&f->crt);
}

static void *
fake_server_main(void *arg)
{
	fake_server *f = arg;
	static const useconds_t delays[] = {0, 100, 300, 600, 1000, 2000};
	size_t n_delays = sizeof(delays) / sizeof(delays[0]);
	for (; f->accepted < FAKE_ACCEPTS && f->error == 0; f->accepted++) {
		struct pollfd p = {.fd = f->listen.fd, .events = POLLIN};
		if (poll(&p, 1, FAKE_QUIET_MS) != 1) {
			break;
		}
		mbedtls_net_context conn;
		mbedtls_net_init(&conn);
		f->error =
		    mbedtls_net_accept(&f->listen, &conn, NULL, 0, NULL);
		if (f->error == 0) {
			f->error = fake_answer_and_hang_up(
			    f, &conn, delays[f->accepted % n_delays]);
		}
	}
	/* The port is free for the real server from here on. */
	mbedtls_net_free(&f->listen);
	return NULL;
}

static void
test_tls_dialers_redial_after_servers_hang_up_mid_handshake(void **state)
{
	(void) state;
	fake_server f;
	fake_server_init(&f);
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	assert_int_equal(
	    getsockname(f.listen.fd, (struct sockaddr *) &sa, &len), 0);
	char url[64];
	snprintf(
	    url, sizeof(url), "tls+tcp://127.0.0.1:%d", ntohs(sa.sin_port));
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, fake_server_main, &f), 0);

	core_tls *ops = creds("ops");
	core_rpc_client *c[FAKE_CLIENTS];
	for (int i = 0; i < FAKE_CLIENTS; i++) {
		c[i] = new_client(url, ops, 5000); /* back-off: at most 1 s */
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	/* The fake server may have ended early (quiet for FAKE_QUIET_MS on a
	 * very busy machine): what counts is that each client's call below
	 * reaches the real server, which a stopped dialer never does. */
	assert_true(f.accepted > 0);
	assert_int_equal(f.error, 0);
	fake_server_free(&f);

	/* The real server, on the same port. */
	core_tls *srv_t = creds("svc-user");
	core_rpc_server *s = start_echo_server(url, srv_t);
	for (int i = 0; i < FAKE_CLIENTS; i++) {
		core_status st = echo_once(c[i], 10000);
		if (st != CORE_OK) {
			fail_msg("client %d never reached the real server "
			         "after the hang-ups: %s",
			    i, core_status_str(st));
		}
		core_rpc_client_free(c[i]);
	}
	core_rpc_server_free(s);
	core_tls_free(srv_t);
	core_tls_free(ops);
}

/* The mechanism itself, without timing: a send to a peer that is gone
 * reports ECONNRESET, never the EPIPE nng would take for its own close. */
static void
test_sendmsg_reports_a_gone_peer_as_a_reset(void **state)
{
	(void) state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	char b = 'x';
	struct iovec iov = {.iov_base = &b, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	errno = 0;
	assert_int_equal(sendmsg(sv[0], &m, MSG_NOSIGNAL), -1);
	assert_int_equal(errno, ECONNRESET);
	/* Other results pass through untouched. */
	int sv2[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv2), 0);
	assert_int_equal(sendmsg(sv2[0], &m, MSG_NOSIGNAL), 1);
	assert_int_equal(sendmsg(-1, &m, MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EBADF);
	close(sv2[0]);
	close(sv2[1]);
	close(sv[0]);
}

/* A server-side stream of libcore's engine on 127.0.0.1 (any port). */
typedef struct {
	nng_tls_config *cfg;
	nng_stream_listener *l;
	nng_aio *aio;
	int port;
} bad_peer_server;

static void
bad_peer_server_start(bad_peer_server *b, core_tls *t)
{
	memset(b, 0, sizeof(*b));
	assert_int_equal(tls_nng_config(t, true, NULL, &b->cfg), 0);
	assert_int_equal(
	    nng_stream_listener_alloc(&b->l, "tls+tcp://127.0.0.1:0"), 0);
	assert_int_equal(
	    nng_stream_listener_set_ptr(b->l, NNG_OPT_TLS_CONFIG, b->cfg), 0);
	assert_int_equal(nng_stream_listener_listen(b->l), 0);
	assert_int_equal(nng_stream_listener_get_int(
	                     b->l, NNG_OPT_TCP_BOUND_PORT, &b->port),
	    0);
	assert_int_equal(nng_aio_alloc(&b->aio, NULL, NULL), 0);
	nng_aio_set_timeout(b->aio, 10000);
}

static void
bad_peer_server_stop(bad_peer_server *b)
{
	nng_aio_free(b->aio);
	nng_stream_listener_free(b->l);
	nng_tls_config_free(b->cfg);
}

/* Accepts the connection the caller just made, starts a read on it (the
 * server's side of the handshake) and returns the stream. */
static nng_stream *
bad_peer_accept(bad_peer_server *b, uint8_t *buf, size_t len)
{
	nng_stream_listener_accept(b->l, b->aio);
	nng_aio_wait(b->aio);
	assert_int_equal(nng_aio_result(b->aio), 0);
	nng_stream *s = nng_aio_get_output(b->aio, 0);
	nng_iov iov = {.iov_buf = buf, .iov_len = len};
	assert_int_equal(nng_aio_set_iov(b->aio, 1, &iov), 0);
	nng_stream_recv(s, b->aio);
	return s;
}

/* The error the server's read ended with. */
static int
bad_peer_result(bad_peer_server *b, nng_stream *s)
{
	nng_aio_wait(b->aio);
	int rv = nng_aio_result(b->aio);
	nng_stream_free(s);
	return rv;
}

/* A peer on b that sends n bytes (not TLS) and waits for the server to
 * fail its handshake: the server's error. */
static int
plain_peer(bad_peer_server *b, const char *bytes, size_t n)
{
	uint8_t buf[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t) b->port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	nng_stream *s = bad_peer_accept(b, buf, sizeof(buf));
	assert_int_equal(write(fd, bytes, n), (ssize_t) n);
	int rv = bad_peer_result(b, s);
	close(fd); /* only now: the server read what was sent */
	return rv;
}

/* A tcp:// client's SP header (REQ): what a misconfigured client sends. */
#define SP_HEADER "\0SP\0\0\x30\0\0"

/* One peer that is not TLS at all, on b: its handshake fails. */
static void
one_bad_peer(bad_peer_server *b)
{
	assert_int_equal(
	    plain_peer(b, SP_HEADER, sizeof(SP_HEADER) - 1), NNG_EPEERAUTH);
}

/* What a failed handshake reports to nng decides what nng 1.5.2's listener
 * does next: after NNG_EPEERAUTH (the peer's fault) it accepts again at
 * once, after NNG_ECRYPTO it pauses 100 ms. Peers that do not speak TLS,
 * or distrust our certificate, must get the first. */
static void
test_tls_bad_peers_are_the_peers_fault(void **state)
{
	(void) state;
	core_tls *t = creds("svc-user");
	bad_peer_server b;
	bad_peer_server_start(&b, t);
#define BYTES(s) s, sizeof(s) - 1
	static const struct {
		const char *what;
		const char *bytes;
		size_t n;
	} plain[] = {
	    {"a tcp:// client's SP header", BYTES(SP_HEADER)},
	    {"an HTTP request", BYTES("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	};
#undef BYTES
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		int rv = plain_peer(&b, plain[i].bytes, plain[i].n);
		if (rv != NNG_EPEERAUTH) {
			fail_msg("%s: %s, not the peer's fault", plain[i].what,
			    nng_strerror(rv));
		}
	}

	/* A TLS client that does not trust our certificate: its alert. */
	uint8_t buf[64];
	mbedtls_net_context net;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	mbedtls_x509_crt not_our_ca;
	char p[16], cert[128];
	snprintf(p, sizeof(p), "%d", b.port);
	snprintf(cert, sizeof(cert), "%s/pki/ops.crt", dir);
	mbedtls_net_init(&net);
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);
	mbedtls_x509_crt_init(&not_our_ca);
	assert_int_equal(mbedtls_x509_crt_parse_file(&not_our_ca, cert), 0);
	assert_int_equal(
	    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
	        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT),
	    0);
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&conf, &not_our_ca, NULL);
	mbedtls_ssl_conf_rng(&conf, weak_rng, NULL);
	assert_int_equal(mbedtls_ssl_setup(&ssl, &conf), 0);
	assert_int_equal(
	    mbedtls_net_connect(&net, "127.0.0.1", p, MBEDTLS_NET_PROTO_TCP),
	    0);
	mbedtls_ssl_conf_read_timeout(&conf, 10000);
	mbedtls_ssl_set_bio(
	    &ssl, &net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
	nng_stream *s = bad_peer_accept(&b, buf, sizeof(buf));
	assert_int_equal(
	    mbedtls_ssl_handshake(&ssl), MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	int rv = bad_peer_result(&b, s);
	mbedtls_net_free(&net);
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	mbedtls_x509_crt_free(&not_our_ca);
	if (rv != NNG_EPEERAUTH) {
		fail_msg("a client's alert: %s, not the peer's fault",
		    nng_strerror(rv));
	}
	bad_peer_server_stop(&b);
	core_tls_free(t);
}

/* The "TLS handshake failed" lines of the log file at path from byte
 * offset on: how many, and the sum of their "not_logged" counts. */
static void
handshake_lines(const char *path, long offset, int *lines, long *not_logged)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, offset, SEEK_SET), 0);
	char line[1024];
	*lines = 0;
	*not_logged = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "\"msg\":\"TLS handshake failed\"") == NULL) {
			continue;
		}
		(*lines)++;
		const char *n = strstr(line, "\"not_logged\":\"");
		if (n != NULL) {
			*not_logged +=
			    strtol(n + strlen("\"not_logged\":\""), NULL, 10);
		}
	}
	fclose(f);
}

static long
file_size(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	fclose(f);
	return n;
}

/* A flood of failing handshakes logs a few lines a second, and every
 * failure is accounted for: logged, or counted in the next line's
 * "not_logged". */
static void
test_tls_handshake_failures_are_logged_a_few_a_second(void **state)
{
	(void) state;
	enum { FLOOD = 60 };
	char path[128];
	snprintf(path, sizeof(path), "%s/stderr.log", dir);
	int log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(log_fd >= 0);
	int saved = dup(STDERR_FILENO);
	assert_int_equal(dup2(log_fd, STDERR_FILENO), STDERR_FILENO);
	core_log_init("test_tls_hangup", CORE_LOG_WARN, true);

	core_tls *t = creds("svc-user");
	bad_peer_server b;
	bad_peer_server_start(&b, t);
	/* A first failure in a second of its own takes up the count of the
	 * earlier tests' failures; what follows is this test's. */
	usleep(1100 * 1000);
	one_bad_peer(&b);
	long from = file_size(path);
	int64_t t0 = core_monotonic_ms();
	for (int i = 0; i < FLOOD; i++) {
		one_bad_peer(&b);
	}
	int64_t flood_ms = core_monotonic_ms() - t0;
	usleep(1100 * 1000); /* the next one is logged, with the count */
	one_bad_peer(&b);
	bad_peer_server_stop(&b);
	core_tls_free(t);

	core_log_init("test_tls_hangup", CORE_LOG_ERROR, false);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(log_fd);
	int lines;
	long not_logged;
	handshake_lines(path, from, &lines, &not_logged);
	print_message("%d failures in %lld ms, then one: %d lines, %ld "
	              "counted as not logged\n",
	    FLOOD, (long long) flood_ms, lines, not_logged);
	assert_int_equal(lines + not_logged, FLOOD + 1);
	/* At most 5 lines in each second the flood touched, and the last. */
	assert_true(lines <= 5 * (int) (flood_ms / 1000 + 2) + 1);
	if (flood_ms < 5000) {
		assert_true(not_logged > 0);
	}
}

int
main(void)
{
	core_log_init("test_tls_hangup", CORE_LOG_ERROR, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sendmsg_reports_a_gone_peer_as_a_reset),
	    cmocka_unit_test(
	        test_tls_listener_survives_hang_ups_mid_handshake),
	    cmocka_unit_test(
	        test_tls_dialers_redial_after_servers_hang_up_mid_handshake),
	    cmocka_unit_test(test_tls_bad_peers_are_the_peers_fault),
	    cmocka_unit_test(
	        test_tls_handshake_failures_are_logged_a_few_a_second),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
