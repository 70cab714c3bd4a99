/* How long a token stays trusted, across every service that checks one:
 * two svc-auth replicas on one authdb, svc-user and svc-admin (each on a
 * database of its own) and the test Redis, with a short access-token life
 * (AUTH_ACCESS_TTL_S) and a short JWKS max age (AUTH_JWKS_MAX_AGE_S) so
 * that the bounds are seconds.
 *
 * - A token signed with a retired key (here forged with the private key
 *   unsealed from authdb with the test KEK, as someone who stole it would)
 *   is refused by the replica that retired it at once, and by every other
 *   service within the max age.
 * - A logged-out token stays refused while verifiers would accept it by
 *   its time claims: up to exp + leeway, here checked at exp + 1 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"
#include <libpq-fe.h>
#include <sodium.h>

#include "admin/v1/admin.pb-c.h"
#include "auth/v1/auth.pb-c.h"
#include "user/v1/user.pb-c.h"

#include "core/clock.h"
#include "core/jws.h"
#include "core/rpc.h"

#define KEK "dGVzdC1rZWstMzItYnl0ZXMtbG9uZy0xMjM0NTY3ODk="
#define PASSWORD "correct horse battery"
#define ISSUER "http://127.0.0.1:8080" /* the services' defaults */
#define AUDIENCE "microcore"
#define ACCESS_TTL_S 2
#define MAX_AGE_S 1
/* What the documented bound allows on top of the max age: a second (the
 * keys a replica serves may be that old), and two more for the poll
 * interval, the refetch and the check themselves, which on a loaded
 * machine under sanitizers can take a second of their own. Far below the
 * default max age (a minute): a service that ignores the configured one
 * still fails. */
#define SLACK_MS 3000

typedef struct proc {
	pid_t pid;
	char url[64];
	core_rpc_client *cli;
} proc;

/* Two svc-auth replicas on one database; svc-user and svc-admin dial the
 * first. */
static proc AUTH, AUTH2, USER, ADMIN;
static char dbs[3][64]; /* auth, user, admin */
static PGconn *maint;
static int rid_seq;

/* ---- Processes ---------------------------------------------------------- */

static void
create_db(int i, const char *tag)
{
	char q[160];
	snprintf(dbs[i], sizeof(dbs[i]), "%s_bounds_%d", tag, (int) getpid());
	snprintf(
	    q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbs[i]);
	pg_ok(maint, q);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", dbs[i]);
	pg_ok(maint, q);
}

static void
db_url(int i, char *buf, size_t len)
{
	snprintf(buf, len, "postgresql://postgres@127.0.0.1:%s/%s",
	    need("TEST_PG_PORT"), dbs[i]);
}

/* Starts binary on database db (an index of dbs). */
static void
start(proc *p, const char *binary, const char *listen_var, const char *db_var,
    int db, const char *tag)
{
	char url[200];
	db_url(db, url, sizeof(url));
	snprintf(p->url, sizeof(p->url), "tcp://127.0.0.1:%d", free_port());
	char listen[96], dburl[300], redis_url[256], auth_dial[96];
	snprintf(listen, sizeof(listen), "%s=%s", listen_var, p->url);
	snprintf(dburl, sizeof(dburl), "%s=%s", db_var, url);
	snprintf(redis_url, sizeof(redis_url), "REDIS_URL=%s",
	    need("TEST_REDIS_URL"));
	snprintf(auth_dial, sizeof(auth_dial), "AUTH_RPC_DIAL=%s", AUTH.url);
	char ttl[64], max_age[64];
	snprintf(ttl, sizeof(ttl), "AUTH_ACCESS_TTL_S=%d", ACCESS_TTL_S);
	snprintf(
	    max_age, sizeof(max_age), "AUTH_JWKS_MAX_AGE_S=%d", MAX_AGE_S);
	char *envp[] = {listen, dburl, redis_url, auth_dial, ttl, max_age,
	    "LOG_LEVEL=warn", "RPC_WORKERS=4", "AUTH_KEK=" KEK,
	    "AUTH_MIGRATE_WAIT_S=10", "AUTH_LOGIN_MAX_PER_IP=100000", NULL};
	char *argv[] = {(char *) (uintptr_t) binary, NULL};
	assert_int_equal(
	    posix_spawn(&p->pid, binary, NULL, NULL, argv, envp), 0);
	const char *urls[] = {p->url};
	core_rpc_client_config cfg = {.name = tag,
	    .urls = urls,
	    .n_urls = 1,
	    .connect_wait_ms = 500,
	    .default_timeout_ms = 5000};
	assert_int_equal(core_rpc_client_new(&cfg, &p->cli), 0);
	wait_serving(p->cli, 100);
}

static void
stop(proc *p)
{
	if (p->pid == 0) {
		return;
	}
	core_rpc_client_free(p->cli);
	int status = 0;
	kill(p->pid, SIGTERM);
	waitpid(p->pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	p->pid = 0;
}

static int
setup_all(void **state)
{
	(void) state;
	assert_true(sodium_init() >= 0);
	maint = PQconnectdb(need("TEST_PG_URL"));
	assert_int_equal(PQstatus(maint), CONNECTION_OK);
	create_db(0, "auth");
	create_db(1, "user");
	create_db(2, "admin");
	start(&AUTH, SVC_AUTH_PATH, "AUTH_RPC_LISTEN", "AUTH_DATABASE_URL", 0,
	    "auth");
	start(&AUTH2, SVC_AUTH_PATH, "AUTH_RPC_LISTEN", "AUTH_DATABASE_URL", 0,
	    "auth2");
	start(&USER, SVC_USER_PATH, "USER_RPC_LISTEN", "USER_DATABASE_URL", 1,
	    "user");
	start(&ADMIN, SVC_ADMIN_PATH, "ADMIN_RPC_LISTEN", "ADMIN_DATABASE_URL",
	    2, "admin");
	return 0;
}

static int
teardown_all(void **state)
{
	(void) state;
	stop(&ADMIN);
	stop(&USER);
	stop(&AUTH2);
	stop(&AUTH);
	for (int i = 0; i < 3; i++) {
		char q[256];
		snprintf(q, sizeof(q),
		    "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbs[i]);
		pg_ok(maint, q);
	}
	PQfinish(maint);
	return 0;
}

/* ---- Calls -------------------------------------------------------------- */

static core_status
call_rid(proc *p, const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
    const char *token, const char *rid, core_arena *a)
{
	char auth[2200];
	core_md md[2];
	core_rpc_opts opts = {.md = md};
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		md[opts.n_md++] = (core_md){CORE_MD_AUTHORIZATION, auth};
	}
	if (rid != NULL) {
		md[opts.n_md++] = (core_md){CORE_MD_REQUEST_ID, rid};
	}
	core_rpc_reply reply;
	return core_rpc_call(p->cli, method, in, od, out, &opts, a, &reply);
}

static core_status
call(proc *p, const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
    const char *token, core_arena *a)
{
	return call_rid(p, method, in, od, out, token, NULL, a);
}

/* Whether svc-admin ran the handler of call rid, i.e. its own check let
 * the token through: the handler's audit row names the caller. (Each
 * handler asks svc-auth about the caller again, so the answer alone does
 * not tell.) */
static bool
admin_trusted(const char *rid)
{
	char url[200];
	db_url(2, url, sizeof(url));
	PGconn *db = PQconnectdb(url);
	const char *params[] = {rid};
	PGresult *r = PQexecParams(db,
	    "SELECT count(*) FROM audit_log WHERE request_id = $1 AND "
	    "actor_id IS NOT NULL",
	    1, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	bool trusted = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
	PQclear(r);
	PQfinish(db);
	return trusted;
}

/* Registers username, makes it an admin when admin, and logs it in: its
 * access token into tok (2048 bytes). */
static void
user_token(const char *username, bool admin, char *tok)
{
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	char email[96];
	snprintf(email, sizeof(email), "%s@example.com", username);
	Auth__V1__RegisterRequest reg = AUTH__V1__REGISTER_REQUEST__INIT;
	reg.username = (char *) (uintptr_t) username;
	reg.email = email;
	reg.password = PASSWORD;
	assert_int_equal(
	    call(&AUTH, "/auth.v1.AuthService/Register", &reg.base,
	        &auth__v1__register_response__descriptor, &out, NULL, a),
	    CORE_OK);
	if (admin) {
		char url[200], q[300];
		db_url(0, url, sizeof(url));
		PGconn *db = PQconnectdb(url);
		snprintf(q, sizeof(q),
		    "UPDATE users SET role = 'admin' WHERE username = '%s'",
		    username);
		pg_ok(db, q);
		PQfinish(db);
	}
	Auth__V1__LoginRequest req = AUTH__V1__LOGIN_REQUEST__INIT;
	req.username = (char *) (uintptr_t) username;
	req.password = PASSWORD;
	assert_int_equal(
	    call(&AUTH, "/auth.v1.AuthService/Login", &req.base,
	        &auth__v1__token_response__descriptor, &out, NULL, a),
	    CORE_OK);
	snprintf(
	    tok, 2048, "%s", ((Auth__V1__TokenResponse *) out)->access_token);
	core_arena_free(a);
}

/* What p's own check of token answers, by a call that needs it:
 * svc-auth's CheckToken, svc-user's GetProfile, svc-admin's ListAudit (an
 * admin's call; CORE_OK when its handler ran, whatever svc-auth then
 * said). If claims is not NULL, CheckToken's claims are written there. */
static core_status
check(proc *p, const char *token, Auth__V1__Claims *claims)
{
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	core_status st;
	if (p == &USER) {
		User__V1__GetProfileRequest req =
		    USER__V1__GET_PROFILE_REQUEST__INIT;
		st = call(p, "/user.v1.UserService/GetProfile", &req.base,
		    &user__v1__get_profile_response__descriptor, &out, token,
		    a);
	} else if (p == &ADMIN) {
		Admin__V1__ListAuditRequest req =
		    ADMIN__V1__LIST_AUDIT_REQUEST__INIT;
		char rid[64];
		snprintf(rid, sizeof(rid), "bounds-%d-%d", (int) getpid(),
		    ++rid_seq);
		st = call_rid(p, "/admin.v1.AdminService/ListAudit", &req.base,
		    &admin__v1__list_audit_response__descriptor, &out, token,
		    rid, a);
		if (st != CORE_OK && admin_trusted(rid)) {
			st = CORE_OK;
		}
	} else {
		Auth__V1__CheckTokenRequest req =
		    AUTH__V1__CHECK_TOKEN_REQUEST__INIT;
		req.token = (char *) (uintptr_t) token;
		st = call(p, "/auth.v1.AuthService/CheckToken", &req.base,
		    &auth__v1__check_token_response__descriptor, &out, NULL,
		    a);
		if (st == CORE_OK && claims != NULL) {
			const Auth__V1__Claims *c =
			    ((Auth__V1__CheckTokenResponse *) out)->claims;
			claims->exp = c->exp;
			claims->iat = c->iat;
		}
	}
	core_arena_free(a);
	return st;
}

static proc *const everyone[] = {&AUTH, &AUTH2, &USER, &ADMIN};
static const char *const names[] = {
    "svc-auth", "svc-auth (2)", "svc-user", "svc-admin"};
#define N_SERVICES 4

/* ---- Forging a token with a stolen key ---------------------------------- */

/* The active private key of authdb, unsealed with the test KEK. */
static void
steal_active_key(uint8_t sk[64], char kid[44])
{
	char url[200];
	db_url(0, url, sizeof(url));
	PGconn *db = PQconnectdb(url);
	PGresult *r = PQexec(db, "SELECT kid, sealed_key, nonce "
	                         "FROM signing_keys WHERE active");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	uint8_t kek[32], sealed[64 + crypto_secretbox_MACBYTES];
	uint8_t nonce[crypto_secretbox_NONCEBYTES];
	size_t n = 0;
	assert_int_equal(sodium_base642bin(kek, sizeof(kek), KEK, strlen(KEK),
	                     NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL),
	    0);
	const char *hex = PQgetvalue(r, 0, 1) + 2; /* bytea: \x... */
	assert_int_equal(sodium_hex2bin(sealed, sizeof(sealed), hex,
	                     strlen(hex), NULL, &n, NULL),
	    0);
	assert_int_equal(n, sizeof(sealed));
	hex = PQgetvalue(r, 0, 2) + 2;
	assert_int_equal(sodium_hex2bin(nonce, sizeof(nonce), hex, strlen(hex),
	                     NULL, &n, NULL),
	    0);
	assert_int_equal(
	    crypto_secretbox_open_easy(sk, sealed, sizeof(sealed), nonce, kek),
	    0);
	snprintf(kid, 44, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(db);
}

/* A token for the user of genuine (an admin), valid for an hour, signed
 * with sk. */
static void
forge(const char *genuine, const uint8_t sk[64], const char *kid, char *out)
{
	core_jwt_claims c;
	memset(&c, 0, sizeof(c));
	/* The claims of the genuine token, which the test holds anyway. */
	const char *dot = strchr(genuine, '.');
	const char *dot2 = strchr(dot + 1, '.');
	uint8_t payload[1024];
	size_t n = 0;
	assert_int_equal(core_b64url_decode(dot + 1, (size_t) (dot2 - dot - 1),
	                     payload, sizeof(payload) - 1, &n),
	    0);
	payload[n] = '\0';
	const char *sub = strstr((const char *) payload, "\"sub\":\"");
	assert_non_null(sub);
	sub += strlen("\"sub\":\"");
	snprintf(c.sub, sizeof(c.sub), "%.*s", (int) strcspn(sub, "\""), sub);
	snprintf(c.iss, sizeof(c.iss), "%s", ISSUER);
	snprintf(c.aud, sizeof(c.aud), "%s", AUDIENCE);
	snprintf(c.jti, sizeof(c.jti), "forged-%d", (int) getpid());
	snprintf(c.sid, sizeof(c.sid), "forged");
	snprintf(c.username, sizeof(c.username), "mallory");
	snprintf(c.role, sizeof(c.role), "admin");
	c.iat = c.nbf = core_unix_ms() / 1000;
	c.exp = c.iat + 3600;
	assert_int_equal(core_jwt_sign(&c, kid, sk, out, 2048), 0);
}

static void
test_retired_key_is_refused_by_every_service_within_max_age(void **state)
{
	(void) state;
	char admin[2048], forged[2048], fresh[2048], kid[44];
	uint8_t *sk = sodium_malloc(64);
	user_token("keyholder", true, admin);
	steal_active_key(sk, kid);
	forge(admin, sk, kid, forged);
	sodium_free(sk);
	/* While the key is in use, the forgery passes everywhere (and sits
	 * in every verifier's memo of verified tokens). */
	for (int i = 0; i < N_SERVICES; i++) {
		assert_int_equal(check(everyone[i], forged, NULL), CORE_OK);
		assert_int_equal(check(everyone[i], forged, NULL), CORE_OK);
	}

	/* The leak is noticed: rotate, retiring the stolen key at once. */
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	Auth__V1__RotateKeysRequest rot = AUTH__V1__ROTATE_KEYS_REQUEST__INIT;
	rot.retire_previous = true;
	assert_int_equal(
	    call(&AUTH, "/auth.v1.AuthService/RotateKeys", &rot.base,
	        &auth__v1__rotate_keys_response__descriptor, &out, admin, a),
	    CORE_OK);
	int64_t t0 = core_monotonic_ms();
	core_arena_free(a);
	/* The replica that retired it refuses it at once... */
	assert_int_equal(check(&AUTH, forged, NULL), CORE_UNAUTHENTICATED);
	/* ...every other service within the max age. */
	int64_t bound = MAX_AGE_S * 1000 + SLACK_MS;
	int failed = 0;
	for (int i = 1; i < N_SERVICES; i++) {
		core_status st;
		while ((st = check(everyone[i], forged, NULL)) == CORE_OK &&
		       core_monotonic_ms() - t0 <= bound) {
			usleep(50000);
		}
		int64_t took = core_monotonic_ms() - t0;
		if (st != CORE_UNAUTHENTICATED) {
			print_error("%s still answers %s to a token of a key "
			            "retired %lld ms ago\n",
			    names[i], core_status_str(st), (long long) took);
			failed++;
		} else {
			print_message("%s refused the retired key after "
			              "%lld ms\n",
			    names[i], (long long) took);
		}
	}
	assert_int_equal(failed, 0);
	/* New tokens, signed with the new key, work everywhere. */
	user_token("afterleak", true, fresh);
	for (int i = 0; i < N_SERVICES; i++) {
		assert_int_equal(check(everyone[i], fresh, NULL), CORE_OK);
		assert_int_equal(
		    check(everyone[i], forged, NULL), CORE_UNAUTHENTICATED);
	}
}

/* ---- Logout ------------------------------------------------------------- */

static void
test_logged_out_token_stays_refused_past_its_expiry(void **state)
{
	(void) state;
	char tok[2048];
	user_token("leaving", true, tok);
	Auth__V1__Claims cl = AUTH__V1__CLAIMS__INIT;
	assert_int_equal(check(&AUTH, tok, &cl), CORE_OK);
	assert_int_equal(cl.exp - cl.iat, ACCESS_TTL_S);
	for (int i = 0; i < N_SERVICES; i++) {
		assert_int_equal(check(everyone[i], tok, NULL), CORE_OK);
	}
	core_arena *a = core_arena_new(0);
	ProtobufCMessage *out = NULL;
	Auth__V1__LogoutRequest req = AUTH__V1__LOGOUT_REQUEST__INIT;
	assert_int_equal(
	    call(&AUTH, "/auth.v1.AuthService/Logout", &req.base,
	        &auth__v1__logout_response__descriptor, &out, tok, a),
	    CORE_OK);
	core_arena_free(a);
	for (int i = 0; i < N_SERVICES; i++) {
		assert_int_equal(
		    check(everyone[i], tok, NULL), CORE_UNAUTHENTICATED);
	}
	/* Expired by a second: within the verifiers' leeway, so only the
	 * blacklist keeps it out. */
	int64_t at = (cl.exp + 1) * 1000;
	while (core_unix_ms() < at) {
		usleep(20000);
	}
	int failed = 0;
	for (int i = 0; i < N_SERVICES; i++) {
		core_status st = check(everyone[i], tok, NULL);
		if (st != CORE_UNAUTHENTICATED) {
			print_error("%s answers %s to a logged-out token 1 s "
			            "past its exp\n",
			    names[i], core_status_str(st));
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

int
main(void)
{
	if (getenv("TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        test_retired_key_is_refused_by_every_service_within_max_age),
	    cmocka_unit_test(
	        test_logged_out_token_stays_refused_past_its_expiry),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
