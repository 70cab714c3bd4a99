/* The call context's method rules (core/call_auth.h) on a real server over
 * tcp:// loopback, with the real Redis of scripts/test.sh for revocation:
 * each test serves test.v1.Echo with one rule and calls it with tokens
 * signed by a key made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "test/v1/test.pb-c.h"

#include "core/call_auth.h"
#include "core/log.h"
#include "core/revocation.h"
#include "test_util.h"

#define ECHO "/test.v1.Echo/Echo"
#define ISS "https://issuer.test"
#define AUD "microcore-test"

static uint8_t pk[32], sk[64];
static char kid[44];
static core_jwks *keys;
static int seq;

/* What the last denied hook saw. */
static struct {
	int calls;
	core_status code;
	char reason[64];
	bool had_claims, trusted;
} denial;

typedef struct worker {
	core_redis *r;
} worker;

static void *
worker_init(void *app)
{
	worker *w = calloc(1, sizeof(*w));
	w->r = core_redis_open(app);
	return w;
}

static void
worker_fini(void *state)
{
	worker *w = state;
	core_redis_close(w->r);
	free(w);
}

static core_redis *
worker_redis(void *state)
{
	return ((worker *) state)->r;
}

static core_jwt_result
verify(void *arg, const char *token, const core_jwt_policy *pol,
    core_jwt_claims *out, const char **reason)
{
	return core_jwt_verify(arg, token, pol, out, reason);
}

static core_status
is_admin(core_call *c, const core_jwt_claims *cl, bool *admin)
{
	(void) c;
	*admin = strcmp(cl->role, "admin") == 0;
	return CORE_OK;
}

/* Answers the caller's sub as data and the first prefetched reply (if
 * any) as request_id. */
static core_status
echo_claims(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Test__V1__EchoResponse *resp = (Test__V1__EchoResponse *) out;
	const core_jwt_claims *cl = core_call_claims(c);
	const char *sub = cl ? cl->sub : "(public)";
	resp->data.data =
	    (uint8_t *) core_arena_strdup(core_call_arena(c), sub);
	resp->data.len = strlen(sub);
	const redisReply *r = core_call_prefetched(c, 0);
	resp->request_id = r && r->type == REDIS_REPLY_STRING
	                       ? core_arena_strdup(core_call_arena(c), r->str)
	                       : "";
	return CORE_OK;
}

static core_status
types(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) c;
	(void) in;
	(void) out;
	return CORE_OK;
}

static int
prefetch_greeting(core_call *c, const core_jwt_claims *cl, core_redis_extra *x)
{
	const char **argv =
	    core_arena_alloc(core_call_arena(c), 2 * sizeof(*argv));
	argv[0] = "GET";
	argv[1] =
	    core_arena_printf(core_call_arena(c), "greeting:%s", cl->sub);
	return core_redis_extra_add(x, 2, argv) < 0 ? -1 : 0;
}

static core_status
on_denied(core_call *c, const ProtobufCMessage *in, const core_call_denial *d)
{
	(void) c;
	(void) in;
	denial.calls++;
	denial.code = d->code;
	snprintf(denial.reason, sizeof(denial.reason), "%s", d->reason);
	denial.had_claims = d->claims != NULL;
	denial.trusted = d->trusted;
	return d->code;
}

typedef struct fixture {
	core_rpc_server *srv;
	core_rpc_client *cli;
	core_redis *r;
	core_rpc_method rows[2];
	core_rpc_service svc;
	char sub[64];
} fixture;

typedef int (*prefetch_fn)(
    core_call *, const core_jwt_claims *, core_redis_extra *);

/* Serves Echo with rule (and callers, prefetch) on a fresh port, its
 * workers using the Redis at redis_url. */
static void
serve_with(fixture *f, unsigned rule, const char *const *callers,
    prefetch_fn prefetch, const char *redis_url)
{
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
	f->rows[0] =
	    (core_rpc_method){ECHO, echo_claims, rule, 60, callers, prefetch};
	f->rows[1] =
	    (core_rpc_method){"/test.v1.Echo/Types", types, 0, 0, NULL, NULL};
	f->svc = (core_rpc_service){
	    &test__v1__echo__descriptor, f->rows, 2, on_denied};
	core_call_auth auth = {.issuer = ISS,
	    .audience = AUD,
	    .verify = verify,
	    .verify_arg = keys,
	    .redis = worker_redis,
	    .is_admin = is_admin};
	const char *urls[] = {url};
	core_rpc_server_config cfg = {.name = "auth-test",
	    .listen_urls = urls,
	    .n_listen = 1,
	    .workers = 2,
	    .worker_init = worker_init,
	    .worker_fini = worker_fini,
	    .app = (void *) (uintptr_t) redis_url,
	    .auth = &auth};
	assert_int_equal(core_rpc_server_new(&cfg, &f->svc, 1, &f->srv), 0);
	assert_int_equal(core_rpc_server_start(f->srv), 0);
	core_rpc_client_config cc = {.name = "echo",
	    .urls = urls,
	    .n_urls = 1,
	    .connect_wait_ms = 2000};
	assert_int_equal(core_rpc_client_new(&cc, &f->cli), 0);
	memset(&denial, 0, sizeof(denial));
}

static void
serve(fixture *f, unsigned rule, const char *const *callers,
    prefetch_fn prefetch)
{
	serve_with(f, rule, callers, prefetch, need("TEST_REDIS_URL"));
}

static void
stop(fixture *f)
{
	core_rpc_client_free(f->cli);
	core_rpc_server_stop(f->srv);
	core_rpc_server_free(f->srv);
	f->cli = NULL;
	f->srv = NULL;
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	f->r = core_redis_open(need("TEST_REDIS_URL"));
	snprintf(
	    f->sub, sizeof(f->sub), "callauth-%ld-%d", (long) getpid(), ++seq);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	core_rpc_client_free(f->cli);
	if (f->srv != NULL) {
		core_rpc_server_stop(f->srv);
	}
	core_rpc_server_free(f->srv);
	core_redis_close(f->r);
	free(f);
	return 0;
}

/* A token for f->sub with role, issued iat_ago seconds ago, authenticated
 * auth_ago seconds ago (-1: no auth_time). */
static char *
token(fixture *f, const char *role, int iat_ago, int auth_ago, char *jti)
{
	static char out[1024];
	core_jwt_claims c = {0};
	int64_t now = (int64_t) time(NULL);
	snprintf(c.iss, sizeof(c.iss), "%s", ISS);
	snprintf(c.aud, sizeof(c.aud), "%s", AUD);
	snprintf(c.sub, sizeof(c.sub), "%s", f->sub);
	snprintf(c.jti, sizeof(c.jti), "j%d-%.40s", ++seq, f->sub);
	snprintf(c.role, sizeof(c.role), "%s", role);
	c.iat = now - iat_ago;
	c.exp = now + 600;
	c.auth_time = auth_ago < 0 ? 0 : now - auth_ago;
	if (jti != NULL) {
		snprintf(jti, 64, "%s", c.jti);
	}
	assert_int_equal(core_jwt_sign(&c, kid, sk, out, sizeof(out)), 0);
	return out;
}

/* Calls Echo with "Bearer tok" (NULL: no authorization); the status, and
 * the reply's data / request_id into data and pre when given. */
static core_status
call(fixture *f, const char *tok, char *data, char *pre, char *msg)
{
	core_arena *a = core_arena_new(0);
	char hdr[1100];
	core_md md[1] = {{CORE_MD_AUTHORIZATION, hdr}};
	snprintf(hdr, sizeof(hdr), "Bearer %s", tok ? tok : "");
	core_rpc_opts opts = {.md = md, .n_md = tok ? 1 : 0};
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_status st = core_rpc_call(f->cli, ECHO, &req.base,
	    &test__v1__echo_response__descriptor, &out, &opts, a, &reply);
	if (st == CORE_OK && data != NULL) {
		Test__V1__EchoResponse *r = (Test__V1__EchoResponse *) out;
		snprintf(data, 128, "%.*s", (int) r->data.len, r->data.data);
		if (pre != NULL) {
			snprintf(pre, 128, "%s", r->request_id);
		}
	}
	if (msg != NULL) {
		snprintf(msg, 256, "%s", reply.message);
	}
	core_arena_free(a);
	return st;
}

static void
redis_set(fixture *f, const char *key, const char *value)
{
	redisReply *rep;
	assert_int_equal(
	    core_redis_command(f->r, &rep, "SET %s %s EX 60", key, value),
	    CORE_OK);
	freeReplyObject(rep);
}

static void
test_public_method_needs_no_token_and_sees_no_claims(void **state)
{
	fixture *f = *state;
	char data[128];
	serve(f, CORE_RULE_PUBLIC, NULL, NULL);
	assert_int_equal(call(f, NULL, data, NULL, NULL), CORE_OK);
	assert_string_equal(data, "(public)");
}

static void
test_user_rule_refuses_missing_and_forged_tokens(void **state)
{
	fixture *f = *state;
	char data[128], msg[256];
	serve(f, CORE_RULE_USER, NULL, NULL);
	assert_int_equal(call(f, NULL, NULL, NULL, msg), CORE_UNAUTHENTICATED);
	assert_string_equal(msg, "a bearer token is required");
	assert_int_equal(denial.calls, 1);
	assert_string_equal(denial.reason, "no bearer token");
	assert_false(denial.had_claims);

	char *t = token(f, "user", 0, 0, NULL);
	t[strlen(t) - 2] ^= 1; /* the signature no longer verifies */
	assert_int_equal(call(f, t, NULL, NULL, msg), CORE_UNAUTHENTICATED);
	assert_string_equal(msg, "invalid or expired token");
	assert_string_equal(denial.reason, "invalid token");

	assert_int_equal(
	    call(f, token(f, "user", 0, 0, NULL), data, NULL, NULL), CORE_OK);
	assert_string_equal(data, f->sub);
}

static void
test_revoked_tokens_are_refused_unless_the_rule_allows(void **state)
{
	fixture *f = *state;
	char jti[64], key[128], msg[256], data[128];
	serve(f, CORE_RULE_USER, NULL, NULL);
	char *t = token(f, "user", 0, 0, jti);
	snprintf(key, sizeof(key), "blacklist:%s", jti);
	redis_set(f, key, "1");
	assert_int_equal(call(f, t, NULL, NULL, msg), CORE_UNAUTHENTICATED);
	assert_string_equal(msg, "invalid or expired token");
	assert_string_equal(denial.reason, "revoked token");
	assert_true(denial.had_claims);
	assert_false(denial.trusted);
	stop(f);

	serve(f, CORE_RULE_USER | CORE_RULE_REVOKED_OK, NULL, NULL);
	assert_int_equal(call(f, t, data, NULL, NULL), CORE_OK);
	assert_string_equal(data, f->sub);
	/* revoked_before after iat revokes every older token of the user. */
	char *old = token(f, "user", 30, 30, NULL);
	assert_int_equal(core_revoke_user_tokens(
	                     f->r, f->sub, (int64_t) time(NULL) - 5, 60),
	    CORE_OK);
	stop(f);
	serve(f, CORE_RULE_USER, NULL, NULL);
	assert_int_equal(call(f, old, NULL, NULL, NULL), CORE_UNAUTHENTICATED);
}

static void
test_admin_rule_asks_the_service(void **state)
{
	fixture *f = *state;
	char msg[256], data[128];
	serve(f, CORE_RULE_ADMIN, NULL, NULL);
	assert_int_equal(
	    call(f, token(f, "user", 0, 0, NULL), NULL, NULL, msg),
	    CORE_PERMISSION_DENIED);
	assert_string_equal(msg, "this needs the admin role");
	assert_string_equal(denial.reason, "not an admin");
	assert_true(denial.trusted); /* the caller is known */
	assert_int_equal(
	    call(f, token(f, "admin", 0, 0, NULL), data, NULL, NULL), CORE_OK);
}

static void
test_recent_auth_rule_reads_auth_time(void **state)
{
	fixture *f = *state;
	serve(f, CORE_RULE_USER | CORE_RULE_RECENT_AUTH, NULL, NULL);
	/* The row allows 60 s. */
	assert_int_equal(
	    call(f, token(f, "user", 0, 10, NULL), NULL, NULL, NULL), CORE_OK);
	assert_int_equal(
	    call(f, token(f, "user", 0, 120, NULL), NULL, NULL, NULL),
	    CORE_PERMISSION_DENIED);
	assert_string_equal(denial.reason, "authentication too old");
	assert_int_equal(
	    call(f, token(f, "user", 0, -1, NULL), NULL, NULL, NULL),
	    CORE_PERMISSION_DENIED);
}

static void
test_caller_list_binds_only_tls_callers(void **state)
{
	fixture *f = *state;
	static const char *const only_admin[] = {"svc-admin", NULL};
	serve(f, CORE_RULE_PUBLIC, only_admin, NULL);
	/* Plain tcp:// authenticates no peer and is trusted as before (a
	 * local experiment); over tls+tcp:// the list refuses every other
	 * identity (test_tls). */
	assert_int_equal(call(f, NULL, NULL, NULL, NULL), CORE_OK);
}

static void
test_prefetched_reads_reach_the_handler(void **state)
{
	fixture *f = *state;
	char key[128], data[128], pre[128];
	snprintf(key, sizeof(key), "greeting:%s", f->sub);
	redis_set(f, key, "hello");
	serve(f, CORE_RULE_USER, NULL, prefetch_greeting);
	assert_int_equal(
	    call(f, token(f, "user", 0, 0, NULL), data, pre, NULL), CORE_OK);
	assert_string_equal(pre, "hello");
}

static void
test_redis_down_fails_closed(void **state)
{
	fixture *f = *state;
	char msg[256];
	/* A server whose workers' Redis is a closed port. */
	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", free_port());
	serve_with(f, CORE_RULE_USER, NULL, NULL, url);
	assert_int_equal(
	    call(f, token(f, "user", 0, 0, NULL), NULL, NULL, msg),
	    CORE_UNAVAILABLE);
	assert_string_equal(
	    msg, "the session store is unavailable; try again later");
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	core_log_init("test_call_auth", CORE_LOG_ERROR, false);
	assert_int_equal(sodium_init() < 0, 0);
	crypto_sign_keypair(pk, sk);
	core_jwk_thumbprint(pk, kid);
	keys = core_jwks_new();
	assert_int_equal(core_jwks_add(keys, NULL, pk), 0);
	if (getenv("TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	}
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_public_method_needs_no_token_and_sees_no_claims),
	    T(test_user_rule_refuses_missing_and_forged_tokens),
	    T(test_revoked_tokens_are_refused_unless_the_rule_allows),
	    T(test_admin_rule_asks_the_service),
	    T(test_recent_auth_rule_reads_auth_time),
	    T(test_caller_list_binds_only_tls_callers),
	    T(test_prefetched_reads_reach_the_handler),
	    T(test_redis_down_fails_closed),
	};
#undef T
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	core_jwks_free(keys);
	return rv;
}
