/* Mutual TLS on the RPC transport (tls+tcp://), with certificates made by
 * scripts/certs.sh: who is refused at the handshake, what identity a call
 * carries, the method's list of callers, the client facts only the edge may
 * assert, and credentials rotated under load without a failed call. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"

#include "test/v1/test.pb-c.h"

#include "core/log.h"
#include "core/rpc.h"
#include "core/tls.h"
#include "echo_service.h"

#define ECHO "/test.v1.Echo/Echo"

extern char **environ;

static char dir[64]; /* the test's scratch directory */

/* ---- Certificates -------------------------------------------------------- */

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fail_msg("command failed: %s", cmd);
	}
}

static const char *
path(const char *rel)
{
	static _Thread_local char buf[4][256];
	static _Thread_local int i;
	char *p = buf[i++ % 4];
	snprintf(p, 256, "%s/%s", dir, rel);
	return p;
}

/* Two CAs (pki/ and other/), a revoked certificate of the first, and a
 * bundle trusting both. (An expired client certificate cannot be loaded
 * by core_tls_new at all; the server's refusal of one is shown with
 * nngcat in interop_nngcat.sh.) */
static int
group_setup(void **state)
{
	(void) state;
	snprintf(dir, sizeof(dir), "/tmp/test_tls.XXXXXX");
	assert_non_null(mkdtemp(dir));
	run("%s init %s/pki >/dev/null", CERTS_SH, dir);
	run("%s init %s/other >/dev/null", CERTS_SH, dir);
	run("%s issue %s/pki revoked >/dev/null", CERTS_SH, dir);
	run("%s revoke %s/pki revoked >/dev/null", CERTS_SH, dir);
	run("cat %s/pki/ca.crt %s/other/ca.crt >%s/both.crt", dir, dir, dir);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	run("rm -rf %s", dir);
	return 0;
}

/* Credentials of identity name from CA directory ca_dir, trusting ca (a
 * file under dir), with pki's CRL when crl. */
static core_tls *
creds(const char *ca_dir, const char *name, const char *ca, bool crl)
{
	char cert[256], key[256], err[512];
	snprintf(cert, sizeof(cert), "%s/%s/%s.crt", dir, ca_dir, name);
	snprintf(key, sizeof(key), "%s/%s/%s.key", dir, ca_dir, name);
	core_tls_source src = {
	    .cert_file = cert,
	    .key_file = key,
	    .ca_file = path(ca),
	    .crl_file = crl ? path("pki/crl.pem") : NULL,
	};
	core_tls *t = NULL;
	if (core_tls_new(&src, &t, err, sizeof(err)) != 0) {
		fail_msg("core_tls_new %s/%s: %s", ca_dir, name, err);
	}
	return t;
}

/* ---- Servers and clients --------------------------------------------------- */

static const char *const admin_callers[] = {"svc-admin", "ops", NULL};
static core_rpc_method listed_methods[2];
static core_rpc_service listed_service;

/* Echo with the caller list of svc-auth's admin methods. */
static const core_rpc_service *
listed(void)
{
	memcpy(listed_methods, test_echo_methods, sizeof(listed_methods));
	listed_methods[0].callers = admin_callers;
	listed_service = test_echo_service;
	listed_service.methods = listed_methods;
	return &listed_service;
}

static core_rpc_server *
server(const char *scheme, core_tls *t, const core_rpc_service *svc, char *url,
    size_t len)
{
	char listen[64];
	snprintf(listen, sizeof(listen), "%s://127.0.0.1:0", scheme);
	const char *urls[] = {listen};
	core_rpc_server_config cfg = {
	    .name = "tls-test",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = 2,
	    .max_msg_bytes = 64 * 1024,
	    .drain_ms = 2000,
	    .tls = t,
	};
	core_rpc_server *s = NULL;
	assert_int_equal(core_rpc_server_new(&cfg, svc, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), 0);
	snprintf(
	    url, len, "%s://127.0.0.1:%d", scheme, core_rpc_server_port(s));
	return s;
}

static core_rpc_client *
client(const char *url, core_tls *t, const char *peer_identity)
{
	const char *urls[] = {url};
	core_rpc_client_config cfg = {
	    .name = "echo",
	    .urls = urls,
	    .n_urls = 1,
	    .conns_per_url = 1,
	    .max_msg_bytes = 64 * 1024,
	    .connect_wait_ms = 1500,
	    .tls = t,
	    .peer_identity = peer_identity,
	};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&cfg, &c), 0);
	return c;
}

/* One Echo call with forged client facts; *resp in a. */
static core_status
echo(core_rpc_client *cli, core_arena *a, Test__V1__EchoResponse **resp)
{
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	req.client_ip = "203.0.113.9";
	req.user_agent = "forged/1.0";
	core_md md[] = {{CORE_MD_CLIENT_IP, "203.0.113.9"}};
	core_rpc_opts opts = {.timeout_ms = 3000, .md = md, .n_md = 1};
	core_rpc_reply reply;
	ProtobufCMessage *out = NULL;
	core_status st = core_rpc_call(cli, ECHO, &req.base,
	    &test__v1__echo_response__descriptor, &out, &opts, a, &reply);
	*resp = (Test__V1__EchoResponse *) out;
	return st;
}

/* The status of one Echo call from a client with credentials t (NULL
 * peer_identity: any) to url; the identity the server saw in peer. */
static core_status
call_as(const char *url, core_tls *t, const char *peer_identity, char *peer)
{
	core_rpc_client *c = client(url, t, peer_identity);
	core_arena *a = core_arena_new(0);
	Test__V1__EchoResponse *resp = NULL;
	core_status st = echo(c, a, &resp);
	if (peer != NULL) {
		snprintf(peer, 65, "%s", st == CORE_OK ? resp->peer : "");
	}
	core_arena_free(a);
	core_rpc_client_free(c);
	return st;
}

/* Runs fn with this process's stderr (where core_log writes) in a file,
 * and returns the file's content (malloc'd). */
static char *
capture_log(void (*fn)(void *), void *arg)
{
	const char *file = path("log.txt");
	fflush(stderr);
	int saved = dup(2);
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	FILE *f = fopen(file, "r");
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- Handshakes ---------------------------------------------------------- */

static void
test_tls_call_carries_the_verified_identity(void **state)
{
	(void) state;
	char url[64], peer[65];
	core_tls *srv_t = creds("pki", "svc-auth", "pki/ca.crt", false);
	core_tls *ops = creds("pki", "ops", "pki/ca.crt", false);
	assert_string_equal(core_tls_identity(ops), "ops");
	core_rpc_server *s =
	    server("tls+tcp", srv_t, &test_echo_service, url, sizeof(url));
	assert_int_equal(call_as(url, ops, "svc-auth", peer), CORE_OK);
	assert_string_equal(peer, "ops");
	core_rpc_server_free(s);
	core_tls_free(ops);
	core_tls_free(srv_t);
}

static void
test_tls_refuses_a_client_of_another_ca(void **state)
{
	(void) state;
	char url[64];
	core_tls *srv_t = creds("pki", "svc-auth", "pki/ca.crt", false);
	/* It trusts the server; the server does not trust its CA. */
	core_tls *stranger = creds("other", "ops", "both.crt", false);
	core_rpc_server *s =
	    server("tls+tcp", srv_t, &test_echo_service, url, sizeof(url));
	assert_int_equal(
	    call_as(url, stranger, "svc-auth", NULL), CORE_UNAVAILABLE);
	core_rpc_server_free(s);
	core_tls_free(stranger);
	core_tls_free(srv_t);
}

static void
test_tls_refuses_a_revoked_client(void **state)
{
	(void) state;
	char url[64];
	core_tls *srv_t = creds("pki", "svc-auth", "pki/ca.crt", true);
	core_tls *revoked = creds("pki", "revoked", "pki/ca.crt", false);
	core_tls *ops = creds("pki", "ops", "pki/ca.crt", false);
	core_rpc_server *s =
	    server("tls+tcp", srv_t, &test_echo_service, url, sizeof(url));
	assert_int_equal(
	    call_as(url, revoked, "svc-auth", NULL), CORE_UNAVAILABLE);
	assert_int_equal(call_as(url, ops, "svc-auth", NULL), CORE_OK);
	core_rpc_server_free(s);
	core_tls_free(ops);
	core_tls_free(revoked);
	core_tls_free(srv_t);
}

/* A revocation ends live connections too: a client connected before its
 * certificate was revoked fails its next call once the server reloads the
 * CRL, and cannot connect again. */
static void
test_tls_revocation_ends_live_connections(void **state)
{
	(void) state;
	char url[64], crl[256], srv_cert[256], srv_key[256], err[512];
	run("%s issue %s/pki victim >/dev/null", CERTS_SH, dir);
	run("cp %s/pki/crl.pem %s/live-crl.pem", dir, dir);
	snprintf(crl, sizeof(crl), "%s/live-crl.pem", dir);
	snprintf(srv_cert, sizeof(srv_cert), "%s/pki/svc-auth.crt", dir);
	snprintf(srv_key, sizeof(srv_key), "%s/pki/svc-auth.key", dir);
	core_tls_source src = {.cert_file = srv_cert,
	    .key_file = srv_key,
	    .ca_file = path("pki/ca.crt"),
	    .crl_file = crl};
	core_tls *srv_t = NULL;
	assert_int_equal(core_tls_new(&src, &srv_t, err, sizeof(err)), 0);
	core_tls *victim = creds("pki", "victim", "pki/ca.crt", false);
	core_tls *ops = creds("pki", "ops", "pki/ca.crt", false);
	core_rpc_server *s =
	    server("tls+tcp", srv_t, &test_echo_service, url, sizeof(url));
	core_rpc_client *vc = client(url, victim, "svc-auth");
	core_rpc_client *oc = client(url, ops, "svc-auth");
	core_arena *a = core_arena_new(0);
	Test__V1__EchoResponse *resp = NULL;
	assert_int_equal(echo(vc, a, &resp), CORE_OK);
	assert_int_equal(echo(oc, a, &resp), CORE_OK);

	run("%s revoke %s/pki victim >/dev/null", CERTS_SH, dir);
	run("cp %s/pki/crl.pem %s.new && mv %s.new %s", dir, crl, crl, crl);
	assert_int_equal(core_tls_reload(srv_t), 0);
	assert_int_equal(echo(vc, a, &resp), CORE_UNAVAILABLE);
	assert_int_equal(echo(vc, a, &resp), CORE_UNAVAILABLE);
	/* Others' live connections stay up. */
	assert_int_equal(echo(oc, a, &resp), CORE_OK);
	assert_int_equal(call_as(url, ops, "svc-auth", NULL), CORE_OK);

	core_arena_free(a);
	core_rpc_client_free(oc);
	core_rpc_client_free(vc);
	core_rpc_server_free(s);
	core_tls_free(ops);
	core_tls_free(victim);
	core_tls_free(srv_t);
}

static void
test_tls_client_refuses_a_server_of_another_identity(void **state)
{
	(void) state;
	char url[64];
	core_tls *srv_t = creds("pki", "svc-user", "pki/ca.crt", false);
	core_tls *ops = creds("pki", "ops", "pki/ca.crt", false);
	core_rpc_server *s =
	    server("tls+tcp", srv_t, &test_echo_service, url, sizeof(url));
	assert_int_equal(
	    call_as(url, ops, "svc-auth", NULL), CORE_UNAVAILABLE);
	assert_int_equal(call_as(url, ops, "svc-user", NULL), CORE_OK);
	core_rpc_server_free(s);
	core_tls_free(ops);
	core_tls_free(srv_t);
}

static void
test_tls_url_without_credentials_is_an_error(void **state)
{
	(void) state;
	const char *urls[] = {"tls+tcp://127.0.0.1:9"};
	core_rpc_client_config ccfg = {.name = "x", .urls = urls, .n_urls = 1};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&ccfg, &c), -EINVAL);
	core_rpc_server_config scfg = {
	    .name = "x", .listen_urls = urls, .n_listen = 1, .workers = 1};
	core_rpc_server *s = NULL;
	assert_int_equal(
	    core_rpc_server_new(&scfg, &test_echo_service, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), -1);
	core_rpc_server_free(s);
}

static void
test_tls_bad_credentials_are_refused_at_load(void **state)
{
	(void) state;
	char err[512];
	core_tls *t = NULL;
	core_tls_source mismatched = {
	    .cert_file = path("pki/ops.crt"),
	    .key_file = path("pki/edge.key"),
	    .ca_file = path("pki/ca.crt"),
	};
	assert_int_equal(core_tls_new(&mismatched, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not match"));
	core_tls_source foreign = {
	    .cert_file = path("other/ops.crt"),
	    .key_file = path("other/ops.key"),
	    .ca_file = path("pki/ca.crt"),
	};
	assert_int_equal(core_tls_new(&foreign, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not verify"));
	core_tls_source garbage = {
	    .cert_pem = "not a certificate",
	    .key_file = path("pki/ops.key"),
	    .ca_file = path("pki/ca.crt"),
	};
	assert_int_equal(core_tls_new(&garbage, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "certificate"));
	core_tls_source missing = {
	    .cert_file = path("pki/nope.crt"),
	    .key_file = path("pki/ops.key"),
	    .ca_file = path("pki/ca.crt"),
	};
	assert_int_equal(core_tls_new(&missing, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nope.crt"));
}

/* ---- Caller lists and client facts --------------------------------------- */

typedef struct refusal {
	const char *url;
	core_tls *t;
	core_status st;
} refusal;

static void
call_refused(void *arg)
{
	refusal *r = arg;
	r->st = call_as(r->url, r->t, "svc-auth", NULL);
}

static void
test_tls_caller_list_refuses_other_identities(void **state)
{
	(void) state;
	char url[64], peer[65];
	core_tls *srv_t = creds("pki", "svc-auth", "pki/ca.crt", false);
	core_tls *user = creds("pki", "svc-user", "pki/ca.crt", false);
	core_tls *ops = creds("pki", "ops", "pki/ca.crt", false);
	core_rpc_server *s =
	    server("tls+tcp", srv_t, listed(), url, sizeof(url));

	refusal r = {url, user, CORE_OK};
	char *log = capture_log(call_refused, &r);
	assert_int_equal(r.st, CORE_PERMISSION_DENIED);
	assert_non_null(strstr(log, "caller not allowed"));
	assert_non_null(strstr(log, "svc-user"));
	assert_non_null(strstr(log, ECHO));
	free(log);
	assert_int_equal(call_as(url, ops, "svc-auth", peer), CORE_OK);
	assert_string_equal(peer, "ops");
	core_rpc_server_free(s);
	core_tls_free(ops);
	core_tls_free(user);
	core_tls_free(srv_t);
}

static void
test_plain_tcp_is_trusted_as_before(void **state)
{
	(void) state;
	char url[64], peer[65];
	core_rpc_server *s = server("tcp", NULL, listed(), url, sizeof(url));
	assert_int_equal(call_as(url, NULL, NULL, peer), CORE_OK);
	assert_string_equal(peer, "");
	core_rpc_server_free(s);
}

/* The facts as the handler saw them, from a client of identity name (NULL:
 * over plain tcp://). */
static void
facts_from(const char *name, char *buf)
{
	char url[64];
	core_tls *srv_t = creds("pki", "svc-auth", "pki/ca.crt", false);
	core_tls *t = name ? creds("pki", name, "pki/ca.crt", false) : NULL;
	core_rpc_server *s = server(name ? "tls+tcp" : "tcp", srv_t,
	    &test_echo_service, url, sizeof(url));
	core_rpc_client *c = client(url, t, "svc-auth");
	core_arena *a = core_arena_new(0);
	Test__V1__EchoResponse *resp = NULL;
	assert_int_equal(echo(c, a, &resp), CORE_OK);
	/* Copied out: the arena goes. */
	snprintf(buf, 512, "%s|%s|%s|%s", resp->client_ip, resp->user_agent,
	    resp->client_ip_metadata, resp->believed_client_ip);
	core_arena_free(a);
	core_rpc_client_free(c);
	core_rpc_server_free(s);
	core_tls_free(t);
	core_tls_free(srv_t);
}

static void
test_tls_client_facts_believed_only_from_the_edge(void **state)
{
	(void) state;
	char buf[512];
	/* Another service: its facts are replaced by its own address. */
	facts_from("svc-user", buf);
	assert_string_equal(buf, "127.0.0.1||127.0.0.1|127.0.0.1");
	facts_from("ops", buf);
	assert_string_equal(buf, "127.0.0.1||127.0.0.1|127.0.0.1");
	/* The edge speaks for the end user. */
	facts_from("edge", buf);
	assert_string_equal(
	    buf, "203.0.113.9|forged/1.0|203.0.113.9|203.0.113.9");
	/* Plain transports are trusted as before. */
	facts_from(NULL, buf);
	assert_string_equal(
	    buf, "203.0.113.9|forged/1.0|203.0.113.9|203.0.113.9");
}

/* ---- Rotation under load, with the server in its own process ------------- */

static pid_t
spawn_echo_server(const char *url, const char *reload_s, const char *key)
{
	char *env[64];
	int n = 0;
	for (char **e = environ; *e != NULL && n < 50; e++) {
		if (strncmp(*e, "RPC_TLS_", 8) != 0) {
			env[n++] = *e;
		}
	}
	static char v[5][300];
	snprintf(v[0], 300, "RPC_TLS_CERT_FILE=%s", path("rot/srv.crt"));
	snprintf(v[1], 300, "RPC_TLS_KEY_FILE=%s", path(key));
	snprintf(v[2], 300, "RPC_TLS_CA_FILE=%s", path("both.crt"));
	snprintf(v[3], 300, "RPC_TLS_RELOAD_S=%s", reload_s);
	for (int i = 0; i < 4; i++) {
		env[n++] = v[i];
	}
	env[n] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, path("rot/server.log"),
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char *argv[] = {(char *) ECHO_SERVER_PATH, (char *) (uintptr_t) url,
	    "4", "5000", NULL};
	pid_t pid;
	assert_int_equal(
	    posix_spawn(&pid, ECHO_SERVER_PATH, &fa, NULL, argv, env), 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* How many times needle is in the server's log. */
static int
log_count(const char *needle)
{
	FILE *f = fopen(path("rot/server.log"), "r");
	if (f == NULL) {
		return 0;
	}
	char *buf = calloc(1, 1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	int count = 0;
	for (const char *p = strstr(buf, needle); p != NULL;
	     p = strstr(p + 1, needle)) {
		count++;
	}
	free(buf);
	return count;
}

static bool
log_has(const char *needle)
{
	return log_count(needle) > 0;
}

/* Waits up to 10 s for one more needle in the server's log than before. */
static void
wait_log(const char *needle, int before)
{
	for (int i = 0; i < 200 && log_count(needle) <= before; i++) {
		usleep(50 * 1000);
	}
	if (log_count(needle) <= before) {
		fail_msg("the server never logged \"%s\"", needle);
	}
}

typedef struct load {
	const char *url;
	core_rpc_client *cli;
	core_tls *t;
	_Atomic bool stop;
	_Atomic int calls, failed;
} load;

/* Calls back to back on the shared client (connections made before the
 * rotation). */
static void *
load_calls(void *arg)
{
	load *l = arg;
	core_arena *a = core_arena_new(0);
	while (!l->stop) {
		Test__V1__EchoResponse *resp;
		core_status st = echo(l->cli, a, &resp);
		l->calls++;
		if (st != CORE_OK) {
			l->failed++;
		}
		core_arena_reset(a);
	}
	core_arena_free(a);
	return NULL;
}

/* A new connection (a new handshake) for each call, across the rotation. */
static void *
load_handshakes(void *arg)
{
	load *l = arg;
	while (!l->stop) {
		core_status st = call_as(l->url, l->t, "svc-auth", NULL);
		l->calls++;
		if (st != CORE_OK) {
			l->failed++;
		}
	}
	return NULL;
}

/* Waits (at most 30 s) until the load has made n calls. */
static void
wait_calls(load *l, int n)
{
	for (int i = 0; i < 600 && l->calls < n; i++) {
		usleep(50 * 1000);
	}
	if (l->calls < n) {
		fail_msg("only %d calls of %d under load", (int) l->calls, n);
	}
}

/* Replaces the server's key then certificate by rename, as certs.sh does. */
static void
install(const char *from_dir)
{
	run("cp %s/%s/svc-auth.key %s/rot/srv.key.new && mv %s/rot/srv.key.new "
	    "%s/rot/srv.key",
	    dir, from_dir, dir, dir, dir);
	run("cp %s/%s/svc-auth.crt %s/rot/srv.crt.new && mv %s/rot/srv.crt.new "
	    "%s/rot/srv.crt",
	    dir, from_dir, dir, dir, dir);
}

static void
rotate_under_load(bool by_signal)
{
	run("rm -rf %s/rot && mkdir -m 700 %s/rot", dir, dir);
	install("pki");
	char url[64];
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", free_port());
	pid_t pid =
	    spawn_echo_server(url, by_signal ? "0" : "1", "rot/srv.key");
	core_tls *both = creds("pki", "ops", "both.crt", false);
	core_tls *old_only = creds("pki", "ops", "pki/ca.crt", false);
	core_tls *new_only = creds("other", "ops", "other/ca.crt", false);
	load l = {.url = url, .t = both};
	l.cli = client(url, both, "svc-auth");
	bool up = false;
	for (int i = 0; i < 100 && !up; i++) {
		up = serving(l.cli) == CORE_OK;
	}
	assert_true(up);
	/* Before: only the old CA's clients reach it. */
	assert_int_equal(
	    call_as(url, new_only, "svc-auth", NULL), CORE_UNAVAILABLE);

	pthread_t th[4];
	for (int i = 0; i < 3; i++) {
		pthread_create(&th[i], NULL, load_calls, &l);
	}
	pthread_create(&th[3], NULL, load_handshakes, &l);
	/* Calls before and after the rotation: waited for (up to 30 s
	 * each), since how many fit in a given time depends on the load. */
	wait_calls(&l, 11);
	int reloads = log_count("TLS credentials reloaded");
	install("other");
	if (by_signal) {
		kill(pid, SIGHUP);
	}
	wait_log("TLS credentials reloaded", reloads);
	wait_calls(&l, l.calls + 11);
	l.stop = true;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
	}
	assert_int_equal(l.failed, 0);
	assert_true(l.calls > 20);

	/* New handshakes use the new certificate. */
	assert_int_equal(call_as(url, new_only, "svc-auth", NULL), CORE_OK);
	assert_int_equal(
	    call_as(url, old_only, "svc-auth", NULL), CORE_UNAVAILABLE);

	/* A bad file keeps the credentials in use, and says so. */
	int failures = log_count("TLS credentials not reloaded");
	run("echo garbage >%s/rot/srv.crt.new && mv %s/rot/srv.crt.new "
	    "%s/rot/srv.crt",
	    dir, dir, dir);
	if (by_signal) {
		kill(pid, SIGHUP);
	}
	wait_log("TLS credentials not reloaded", failures);
	assert_int_equal(call_as(url, new_only, "svc-auth", NULL), CORE_OK);

	core_rpc_client_free(l.cli);
	int status = 0;
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	core_tls_free(new_only);
	core_tls_free(old_only);
	core_tls_free(both);
}

static void
test_tls_rotation_on_sighup_fails_no_call(void **state)
{
	(void) state;
	rotate_under_load(true);
}

static void
test_tls_rotation_on_file_change_fails_no_call(void **state)
{
	(void) state;
	rotate_under_load(false);
}

static void
test_tls_mismatched_key_at_start_exits_2(void **state)
{
	(void) state;
	run("rm -rf %s/rot && mkdir -m 700 %s/rot", dir, dir);
	install("pki");
	char url[64];
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", free_port());
	pid_t pid = spawn_echo_server(url, "0", "pki/edge.key");
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
	assert_true(log_has("does not match"));
}

int
main(void)
{
	core_rpc_block_signals();
	core_log_init("test_tls", CORE_LOG_INFO, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls_call_carries_the_verified_identity),
	    cmocka_unit_test(test_tls_refuses_a_client_of_another_ca),
	    cmocka_unit_test(test_tls_refuses_a_revoked_client),
	    cmocka_unit_test(test_tls_revocation_ends_live_connections),
	    cmocka_unit_test(
	        test_tls_client_refuses_a_server_of_another_identity),
	    cmocka_unit_test(test_tls_url_without_credentials_is_an_error),
	    cmocka_unit_test(test_tls_bad_credentials_are_refused_at_load),
	    cmocka_unit_test(test_tls_caller_list_refuses_other_identities),
	    cmocka_unit_test(test_plain_tcp_is_trusted_as_before),
	    cmocka_unit_test(
	        test_tls_client_facts_believed_only_from_the_edge),
	    cmocka_unit_test(test_tls_rotation_on_sighup_fails_no_call),
	    cmocka_unit_test(test_tls_rotation_on_file_change_fails_no_call),
	    cmocka_unit_test(test_tls_mismatched_key_at_start_exits_2),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
