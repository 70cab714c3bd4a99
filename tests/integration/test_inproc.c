/* Calls between the components of one process (microcore) over inproc://:
 * the caller is the identity its URL names (core/inproc.h), and the method
 * rules hold as over tls+tcp://: a callers list refuses the edge, client
 * facts are believed from the edge only. Other inproc:// URLs stay a plain
 * transport. A client says when it gets its first connection (on_connect).
 * No PostgreSQL or Redis. */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "test/v1/test.pb-c.h"
#include "core/inproc.h"
#include "core/log.h"
#include "core/rpc.h"
#include "echo_service.h"

#define ECHO "/test.v1.Echo/Echo"

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

/* A server of svc on svc-auth's in-process URLs for the edge and
 * svc-admin, and on a plain inproc:// URL. */
static core_rpc_server *
server(const core_rpc_service *svc)
{
	static char edge[CORE_INPROC_URL_MAX], admin[CORE_INPROC_URL_MAX];
	assert_int_equal(
	    core_inproc_url(edge, sizeof(edge), "svc-auth", "edge"), 0);
	assert_int_equal(
	    core_inproc_url(admin, sizeof(admin), "svc-auth", "svc-admin"), 0);
	const char *urls[] = {edge, admin, "inproc://plain-echo"};
	core_rpc_server_config cfg = {
	    .name = "inproc-test",
	    .listen_urls = urls,
	    .n_listen = 3,
	    .workers = 2,
	    .max_msg_bytes = 64 * 1024,
	    .drain_ms = 2000,
	};
	core_rpc_server *s = NULL;
	assert_int_equal(core_rpc_server_new(&cfg, svc, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), 0);
	return s;
}

/* One Echo call to url with forged client facts; the reply's fields in
 * resp (peer, believed_client_ip, user_agent; "" on an error). */
static core_status
call(const char *url, char peer[65], char ip[64], char ua[64])
{
	const char *urls[] = {url};
	core_rpc_client_config cc = {
	    .name = "echo", .urls = urls, .n_urls = 1, .conns_per_url = 1};
	core_rpc_client *c = NULL;
	assert_int_equal(core_rpc_client_new(&cc, &c), 0);
	core_arena *a = core_arena_new(0);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	req.client_ip = "203.0.113.9";
	req.user_agent = "forged/1.0";
	core_md md[] = {{CORE_MD_CLIENT_IP, "203.0.113.9"}};
	core_rpc_opts opts = {.timeout_ms = 3000, .md = md, .n_md = 1};
	core_rpc_reply reply;
	ProtobufCMessage *out = NULL;
	core_status st = core_rpc_call(c, ECHO, &req.base,
	    &test__v1__echo_response__descriptor, &out, &opts, a, &reply);
	const Test__V1__EchoResponse *r = (const Test__V1__EchoResponse *) out;
	snprintf(peer, 65, "%s", st == CORE_OK ? r->peer : "");
	snprintf(ip, 64, "%s", st == CORE_OK ? r->believed_client_ip : "");
	snprintf(ua, 64, "%s", st == CORE_OK ? r->user_agent : "");
	core_arena_free(a);
	core_rpc_client_free(c);
	return st;
}

static void
test_inproc_caller_list_refuses_the_edge(void **state)
{
	(void) state;
	char peer[65], ip[64], ua[64];
	core_rpc_server *s = server(listed());
	assert_int_equal(
	    call("inproc://svc-auth/from/svc-admin", peer, ip, ua), CORE_OK);
	assert_string_equal(peer, "svc-admin");
	assert_int_equal(call("inproc://svc-auth/from/edge", peer, ip, ua),
	    CORE_PERMISSION_DENIED);
	/* A plain inproc:// URL authenticates nobody: trusted as plain
	 * tcp:// is (not a URL microcore listens on). */
	assert_int_equal(call("inproc://plain-echo", peer, ip, ua), CORE_OK);
	assert_string_equal(peer, "");
	core_rpc_server_stop(s);
	core_rpc_server_free(s);
}

static void
test_inproc_client_facts_only_from_the_edge(void **state)
{
	(void) state;
	char peer[65], ip[64], ua[64];
	core_rpc_server *s = server(&test_echo_service);
	assert_int_equal(
	    call("inproc://svc-auth/from/edge", peer, ip, ua), CORE_OK);
	assert_string_equal(peer, "edge");
	assert_string_equal(ip, "203.0.113.9");
	assert_string_equal(ua, "forged/1.0");
	assert_int_equal(
	    call("inproc://svc-auth/from/svc-admin", peer, ip, ua), CORE_OK);
	assert_string_equal(ip, ""); /* no address in the process */
	assert_string_equal(ua, "");
	core_rpc_server_stop(s);
	core_rpc_server_free(s);
}

static void
test_inproc_urls_name_identities_only(void **state)
{
	(void) state;
	char url[CORE_INPROC_URL_MAX], who[65];
	char longname[80];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(core_inproc_url(url, sizeof(url), "Svc", "edge"), -1);
	assert_int_equal(core_inproc_url(url, sizeof(url), "svc", "a/b"), -1);
	assert_int_equal(core_inproc_url(url, sizeof(url), "svc", ""), -1);
	assert_int_equal(
	    core_inproc_url(url, sizeof(url), "svc", longname), -1);
	assert_int_equal(core_inproc_url(url, 10, "svc-auth", "edge"), -1);
	assert_int_equal(
	    core_inproc_caller("inproc://svc-auth/from/edge", who), 1);
	assert_string_equal(who, "edge");
	assert_int_equal(
	    core_inproc_caller("inproc://svc-auth/from/", who), 0);
	assert_int_equal(core_inproc_caller("inproc://svc-auth/edge", who), 0);
	assert_int_equal(
	    core_inproc_caller("inproc://svc-auth/from/edge/x", who), 0);
	assert_int_equal(
	    core_inproc_caller("tcp://svc-auth/from/edge", who), 0);
	assert_int_equal(core_inproc_caller("inproc:///from/edge", who), 0);
}

static atomic_int connects;

static void
count_connect(void *arg)
{
	(void) arg;
	atomic_fetch_add(&connects, 1);
}

/* A plain Echo server on url, started. */
static core_rpc_server *
late_server(const char *url)
{
	const char *urls[] = {url};
	core_rpc_server_config cfg = {
	    .name = "late-echo",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = 1,
	    .max_msg_bytes = 64 * 1024,
	    .drain_ms = 2000,
	};
	core_rpc_server *s = NULL;
	assert_int_equal(
	    core_rpc_server_new(&cfg, &test_echo_service, 1, &s), 0);
	assert_int_equal(core_rpc_server_start(s), 0);
	return s;
}

/* Waits up to 30 s for the client to have n connections (reconnects
 * back off up to 1 s, and a loaded machine runs them late). */
static void
wait_connections(core_rpc_client *c, int n)
{
	for (int i = 0; i < 3000 && core_rpc_client_connections(c) != n; i++) {
		usleep(10000);
	}
	assert_int_equal(core_rpc_client_connections(c), n);
}

/* Waits up to 30 s for on_connect to have run n times: the client counts
 * a connection before it calls on_connect, outside its lock, so the
 * count of connections can be ahead of it. */
static void
wait_connects(int n)
{
	for (int i = 0; i < 3000 && atomic_load(&connects) < n; i++) {
		usleep(10000);
	}
}

/* on_connect (what the edge's readiness probe asks again on) runs once
 * when the client goes from no connection to one: not while the server is
 * missing, once for its two connections, again after all were lost. */
static void
test_on_connect_at_the_first_connection(void **state)
{
	(void) state;
	const char *urls[] = {"inproc://late-echo"};
	core_rpc_client_config cc = {.name = "echo",
	    .urls = urls,
	    .n_urls = 1,
	    .conns_per_url = 2,
	    .on_connect = count_connect};
	core_rpc_client *c = NULL;
	atomic_store(&connects, 0);
	assert_int_equal(core_rpc_client_new(&cc, &c), 0);
	usleep(50000);
	assert_int_equal(atomic_load(&connects), 0);
	core_rpc_server *s = late_server(urls[0]);
	wait_connections(c, 2);
	wait_connects(1);
	assert_int_equal(atomic_load(&connects), 1);
	core_rpc_server_stop(s);
	core_rpc_server_free(s);
	wait_connections(c, 0);
	s = late_server(urls[0]);
	wait_connections(c, 2);
	wait_connects(2);
	assert_int_equal(atomic_load(&connects), 2);
	core_rpc_client_free(c);
	core_rpc_server_stop(s);
	core_rpc_server_free(s);
}

int
main(void)
{
	core_log_init("test_inproc", CORE_LOG_ERROR, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inproc_caller_list_refuses_the_edge),
	    cmocka_unit_test(test_inproc_client_facts_only_from_the_edge),
	    cmocka_unit_test(test_inproc_urls_name_identities_only),
	    cmocka_unit_test(test_on_connect_at_the_first_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
