/* svc-user as a process, with svc-auth beside it (each on a database of its
 * own) and the test Redis: local token checks, revocation, cache-aside,
 * partial updates and optimistic concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "auth/v1/auth.pb-c.h"
#include "user/v1/user.pb-c.h"

#include "core/log.h"
#include "core/rpc.h"

#define KEK "dGVzdC1rZWstMzItYnl0ZXMtbG9uZy0xMjM0NTY3ODk="

typedef struct proc {
	pid_t pid;
	char db[64];
	char url[64];
	core_rpc_client *cli;
} proc;

static proc AUTH, USER;
static PGconn *admin;
static redisContext *redis;

/* Starts binary with a fresh database; env_db names its URL variable. */
static void
start(proc *p, const char *binary, const char *listen_var, const char *db_var,
    const char *tag)
{
	char q[160];
	snprintf(p->db, sizeof(p->db), "%s_test_%d", tag, (int) getpid());
	snprintf(
	    q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", p->db);
	pg_ok(admin, q);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", p->db);
	pg_ok(admin, q);
	snprintf(p->url, sizeof(p->url), "tcp://127.0.0.1:%d", free_port());
	char listen[96], dburl[256], redis_url[256], auth_dial[96];
	snprintf(listen, sizeof(listen), "%s=%s", listen_var, p->url);
	snprintf(dburl, sizeof(dburl),
	    "%s=postgresql://postgres@127.0.0.1:%s/%s", db_var,
	    need("TEST_PG_PORT"), p->db);
	snprintf(redis_url, sizeof(redis_url), "REDIS_URL=%s",
	    need("TEST_REDIS_URL"));
	snprintf(auth_dial, sizeof(auth_dial), "AUTH_RPC_DIAL=%s", AUTH.url);
	char *envp[] = {listen, dburl, redis_url, auth_dial, "LOG_LEVEL=warn",
	    "RPC_WORKERS=4", "AUTH_KEK=" KEK, "AUTH_LOGIN_MAX_PER_IP=100000",
	    NULL};
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
		return; /* already stopped by a test */
	}
	core_rpc_client_free(p->cli);
	int status = 0;
	kill(p->pid, SIGTERM);
	waitpid(p->pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	p->pid = 0;
	char q[160];
	snprintf(
	    q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", p->db);
	pg_ok(admin, q);
}

static int
setup_all(void **state)
{
	(void) state;
	admin = PQconnectdb(need("TEST_PG_URL"));
	assert_int_equal(PQstatus(admin), CONNECTION_OK);
	redis = redisConnect(
	    "127.0.0.1", (int) strtol(need("TEST_REDIS_PORT"), NULL, 10));
	assert_true(redis != NULL && redis->err == 0);
	start(&AUTH, SVC_AUTH_PATH, "AUTH_RPC_LISTEN", "AUTH_DATABASE_URL",
	    "auth");
	start(&USER, SVC_USER_PATH, "USER_RPC_LISTEN", "USER_DATABASE_URL",
	    "user");
	return 0;
}

static int
teardown_all(void **state)
{
	(void) state;
	stop(&USER);
	stop(&AUTH);
	redisFree(redis);
	PQfinish(admin);
	return 0;
}

static core_status
call(proc *p, const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
    const char *token, core_arena *a, core_rpc_reply *reply)
{
	char auth[2200];
	core_md md[1];
	core_rpc_opts opts = {0};
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		md[0] = (core_md){CORE_MD_AUTHORIZATION, auth};
		opts.md = md;
		opts.n_md = 1;
	}
	return core_rpc_call(p->cli, method, in, od, out, &opts, a, reply);
}

/* Registers username and returns a fresh access token in buf. */
static void
user_token(const char *username, char *buf, size_t len)
{
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	ProtobufCMessage *out = NULL;
	char email[96];
	snprintf(email, sizeof(email), "%s@example.com", username);
	Auth__V1__RegisterRequest reg = AUTH__V1__REGISTER_REQUEST__INIT;
	reg.username = (char *) (uintptr_t) username;
	reg.email = email;
	reg.password = "correct horse battery";
	core_status st = call(&AUTH, "/auth.v1.AuthService/Register",
	    &reg.base, &auth__v1__register_response__descriptor, &out, NULL, a,
	    &reply);
	assert_true(st == CORE_OK || st == CORE_ALREADY_EXISTS);
	Auth__V1__LoginRequest login = AUTH__V1__LOGIN_REQUEST__INIT;
	login.username = (char *) (uintptr_t) username;
	login.password = "correct horse battery";
	assert_int_equal(
	    call(&AUTH, "/auth.v1.AuthService/Login", &login.base,
	        &auth__v1__token_response__descriptor, &out, NULL, a, &reply),
	    CORE_OK);
	snprintf(
	    buf, len, "%s", ((Auth__V1__TokenResponse *) out)->access_token);
	core_arena_free(a);
}

static core_status
get(const char *token, core_arena *a, User__V1__Profile **p)
{
	User__V1__GetProfileRequest req = USER__V1__GET_PROFILE_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_status st = call(&USER, "/user.v1.UserService/GetProfile",
	    &req.base, &user__v1__get_profile_response__descriptor, &out,
	    token, a, &reply);
	*p = st == CORE_OK ? ((User__V1__GetProfileResponse *) out)->profile
	                   : NULL;
	return st;
}

static core_status
update(const char *token, User__V1__UpdateProfileRequest *req, core_arena *a,
    User__V1__Profile **p, core_rpc_reply *reply)
{
	ProtobufCMessage *out = NULL;
	core_status st = call(&USER, "/user.v1.UserService/UpdateProfile",
	    &req->base, &user__v1__update_profile_response__descriptor, &out,
	    token, a, reply);
	if (p != NULL) {
		*p = st == CORE_OK
		         ? ((User__V1__UpdateProfileResponse *) out)->profile
		         : NULL;
	}
	return st;
}

static bool
cached(const char *user_id)
{
	redisReply *r = redisCommand(redis, "EXISTS profile:%s", user_id);
	bool yes = r != NULL && r->integer == 1;
	freeReplyObject(r);
	return yes;
}

static void
test_first_get_creates_the_profile_and_caches_it(void **state)
{
	(void) state;
	char tok[2048];
	user_token("pamela", tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	User__V1__Profile *p = NULL;
	assert_int_equal(get(tok, a, &p), CORE_OK);
	assert_string_equal(p->username, "pamela");
	assert_int_equal(p->version, 1);
	assert_string_equal(p->display_name, "");
	assert_true(cached(p->user_id)); /* miss, then filled */
	User__V1__Profile *again = NULL;
	assert_int_equal(get(tok, a, &again), CORE_OK); /* hit */
	assert_string_equal(again->user_id, p->user_id);
	assert_int_equal(again->version, 1);
	core_arena_free(a);
}

static void
test_partial_update_keeps_other_fields_and_invalidates_the_cache(void **state)
{
	(void) state;
	char tok[2048];
	user_token("partial", tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	User__V1__Profile *p = NULL;
	core_rpc_reply reply;
	User__V1__UpdateProfileRequest req =
	    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
	req.has_display_name_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_DISPLAY_NAME_DISPLAY_NAME;
	req.display_name = "Ada \xe2\x9c\x93";
	req.has_bio_case = USER__V1__UPDATE_PROFILE_REQUEST__HAS_BIO_BIO;
	req.bio = "line one\nline two";
	assert_int_equal(update(tok, &req, a, &p, &reply), CORE_OK);
	assert_int_equal(p->version, 2);
	assert_false(cached(p->user_id));

	User__V1__UpdateProfileRequest only =
	    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
	only.has_locale_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_LOCALE_LOCALE;
	only.locale = "pt-BR";
	assert_int_equal(update(tok, &only, a, &p, &reply), CORE_OK);
	assert_int_equal(get(tok, a, &p), CORE_OK);
	assert_string_equal(p->display_name, "Ada \xe2\x9c\x93");
	assert_string_equal(p->bio, "line one\nline two");
	assert_string_equal(p->locale, "pt-BR");
	assert_int_equal(p->version, 3);
	core_arena_free(a);
}

/* An update that changes nothing (no field, or each field to what it is)
 * keeps the version, so another client's If-Match on it still holds, and
 * leaves the cached profile in place; a stale expected version is still
 * refused, whatever the update. */
static void
test_an_update_that_changes_nothing_keeps_the_version_and_the_cache(
    void **state)
{
	(void) state;
	char tok[2048];
	user_token("noop", tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	User__V1__Profile *p = NULL;
	core_rpc_reply reply;
	User__V1__UpdateProfileRequest set =
	    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
	set.has_bio_case = USER__V1__UPDATE_PROFILE_REQUEST__HAS_BIO_BIO;
	set.bio = "same";
	assert_int_equal(update(tok, &set, a, &p, &reply), CORE_OK);
	assert_int_equal(p->version, 2);
	assert_int_equal(get(tok, a, &p), CORE_OK);
	assert_true(cached(p->user_id));

	User__V1__UpdateProfileRequest none =
	    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
	assert_int_equal(update(tok, &none, a, &p, &reply), CORE_OK);
	assert_int_equal(p->version, 2);
	assert_string_equal(p->bio, "same");
	assert_int_equal(update(tok, &set, a, &p, &reply), CORE_OK);
	assert_int_equal(p->version, 2);
	set.has_expected_version_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_EXPECTED_VERSION_EXPECTED_VERSION;
	set.expected_version = 2;
	assert_int_equal(update(tok, &set, a, &p, &reply), CORE_OK);
	assert_int_equal(p->version, 2);
	assert_true(cached(p->user_id)); /* nothing to invalidate */

	set.expected_version = 1;
	assert_int_equal(
	    update(tok, &set, a, &p, &reply), CORE_FAILED_PRECONDITION);
	none.has_expected_version_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_EXPECTED_VERSION_EXPECTED_VERSION;
	none.expected_version = -1; /* what the edge sends for a weak ETag */
	assert_int_equal(
	    update(tok, &none, a, &p, &reply), CORE_FAILED_PRECONDITION);

	/* A real change still bumps it and drops the cached copy. */
	set.bio = "changed";
	set.expected_version = 2;
	assert_int_equal(update(tok, &set, a, &p, &reply), CORE_OK);
	assert_int_equal(p->version, 3);
	assert_false(cached(p->user_id));
	core_arena_free(a);
}

static void
test_every_field_rule_is_enforced_naming_the_field(void **state)
{
	(void) state;
	char tok[2048];
	user_token("rules", tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	char longname[80];
	memset(longname, 'x', 65);
	longname[65] = '\0';
	User__V1__UpdateProfileRequest req =
	    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
	req.has_display_name_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_DISPLAY_NAME_DISPLAY_NAME;
	req.display_name = longname;
	req.has_avatar_url_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_AVATAR_URL_AVATAR_URL;
	req.avatar_url = "javascript:alert(1)";
	req.has_locale_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_LOCALE_LOCALE;
	req.locale = "en_US";
	req.has_bio_case = USER__V1__UPDATE_PROFILE_REQUEST__HAS_BIO_BIO;
	req.bio = "bell \x07";
	assert_int_equal(
	    update(tok, &req, a, NULL, &reply), CORE_INVALID_ARGUMENT);
	assert_int_equal(reply.n_details, 4);
	assert_string_equal(reply.detail_fields[0], "display_name");
	assert_string_equal(reply.detail_fields[1], "bio");
	assert_string_equal(reply.detail_fields[2], "avatar_url");
	assert_string_equal(reply.detail_fields[3], "locale");

	static const char *const bad_urls[] = {"http://example.com/a.png",
	    "https://", "https:///x", "https://ex ample.com",
	    "https://example.com/\xc3\xa9", "ftp://example.com"};
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		User__V1__UpdateProfileRequest u =
		    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
		u.has_avatar_url_case =
		    USER__V1__UPDATE_PROFILE_REQUEST__HAS_AVATAR_URL_AVATAR_URL;
		u.avatar_url = (char *) (uintptr_t) bad_urls[i];
		assert_int_equal(
		    update(tok, &u, a, NULL, &reply), CORE_INVALID_ARGUMENT);
	}
	User__V1__UpdateProfileRequest ok =
	    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
	ok.has_avatar_url_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_AVATAR_URL_AVATAR_URL;
	ok.avatar_url = "https://cdn.example.com/a%20b.png?size=64";
	ok.has_locale_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_LOCALE_LOCALE;
	ok.locale = "zh-Hant-TW";
	assert_int_equal(update(tok, &ok, a, NULL, &reply), CORE_OK);
	core_arena_free(a);
}

typedef struct racer {
	const char *token;
	int64_t expected;
	core_status st;
	pthread_barrier_t *go;
} racer;

static void *
race_main(void *arg)
{
	racer *r = arg;
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	User__V1__UpdateProfileRequest req =
	    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
	req.has_bio_case = USER__V1__UPDATE_PROFILE_REQUEST__HAS_BIO_BIO;
	req.bio = "racing";
	req.has_expected_version_case =
	    USER__V1__UPDATE_PROFILE_REQUEST__HAS_EXPECTED_VERSION_EXPECTED_VERSION;
	req.expected_version = r->expected;
	pthread_barrier_wait(r->go);
	r->st = update(r->token, &req, a, NULL, &reply);
	core_arena_free(a);
	return NULL;
}

static void
test_concurrent_updates_with_one_expected_version_one_wins(void **state)
{
	(void) state;
	char tok[2048];
	user_token("racers", tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	User__V1__Profile *p = NULL;
	assert_int_equal(get(tok, a, &p), CORE_OK);
	enum { N = 10 };
	pthread_t t[N];
	racer r[N];
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, N);
	for (int i = 0; i < N; i++) {
		r[i] =
		    (racer){.token = tok, .expected = p->version, .go = &go};
		pthread_create(&t[i], NULL, race_main, &r[i]);
	}
	int ok = 0, conflict = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].st == CORE_OK;
		conflict += r[i].st == CORE_FAILED_PRECONDITION;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(ok, 1);
	assert_int_equal(conflict, N - 1);
	core_arena_free(a);
}

typedef struct reader {
	const char *token;
	_Atomic int *stop;
	int errors;
} reader;

static void *
reader_main(void *arg)
{
	reader *r = arg;
	core_arena *a = core_arena_new(0);
	while (!*r->stop) {
		User__V1__Profile *p = NULL;
		if (get(r->token, a, &p) != CORE_OK) {
			r->errors++;
		}
		core_arena_reset(a);
	}
	core_arena_free(a);
	return NULL;
}

static void
test_reads_after_an_update_see_it_under_concurrent_readers(void **state)
{
	(void) state;
	char tok[2048];
	user_token("ryw", tok, sizeof(tok));
	_Atomic int stop = 0;
	enum { READERS = 4 };
	pthread_t t[READERS];
	reader r[READERS];
	for (int i = 0; i < READERS; i++) {
		r[i] = (reader){.token = tok, .stop = &stop};
		pthread_create(&t[i], NULL, reader_main, &r[i]);
	}
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	for (int i = 0; i < 30; i++) {
		char bio[32];
		snprintf(bio, sizeof(bio), "revision %d", i);
		User__V1__UpdateProfileRequest req =
		    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
		req.has_bio_case =
		    USER__V1__UPDATE_PROFILE_REQUEST__HAS_BIO_BIO;
		req.bio = bio;
		User__V1__Profile *after = NULL, *p = NULL;
		assert_int_equal(
		    update(tok, &req, a, &after, &reply), CORE_OK);
		/* The readers race the cache refill; the next read must
		 * still see this write, never an older one. */
		assert_int_equal(get(tok, a, &p), CORE_OK);
		assert_true(p->version >= after->version);
		assert_string_equal(p->bio, bio);
		core_arena_reset(a);
	}
	stop = 1;
	for (int i = 0; i < READERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].errors, 0);
	}
	core_arena_free(a);
}

static void
test_revoked_and_bad_tokens_are_refused(void **state)
{
	(void) state;
	char tok[2048];
	user_token("revokee", tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	User__V1__Profile *p = NULL;
	core_rpc_reply reply;
	assert_int_equal(get(tok, a, &p), CORE_OK);
	assert_int_equal(get(NULL, a, &p), CORE_UNAUTHENTICATED);
	assert_int_equal(get("garbage", a, &p), CORE_UNAUTHENTICATED);
	char tampered[2048];
	snprintf(tampered, sizeof(tampered), "%s", tok);
	char *dot = strchr(tampered, '.');
	dot[5] = dot[5] == 'A' ? 'B' : 'A';
	assert_int_equal(get(tampered, a, &p), CORE_UNAUTHENTICATED);

	/* Admin-style revocation: every token issued before now. */
	char user_id[40];
	assert_int_equal(get(tok, a, &p), CORE_OK);
	snprintf(user_id, sizeof(user_id), "%s", p->user_id);
	redisReply *r = redisCommand(redis, "SET revoked_before:%s %lld",
	    user_id, (long long) time(NULL) + 1);
	freeReplyObject(r);
	assert_int_equal(get(tok, a, &p), CORE_UNAUTHENTICATED);
	User__V1__UpdateProfileRequest req =
	    USER__V1__UPDATE_PROFILE_REQUEST__INIT;
	assert_int_equal(
	    update(tok, &req, a, NULL, &reply), CORE_UNAUTHENTICATED);
	r = redisCommand(redis, "DEL revoked_before:%s", user_id);
	freeReplyObject(r);

	/* Logout on the auth side: the token fails here at once. */
	char fresh[2048];
	user_token("revokee", fresh, sizeof(fresh));
	assert_int_equal(get(fresh, a, &p), CORE_OK);
	Auth__V1__LogoutRequest lo = AUTH__V1__LOGOUT_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	assert_int_equal(call(&AUTH, "/auth.v1.AuthService/Logout", &lo.base,
	                     &auth__v1__logout_response__descriptor, &out,
	                     fresh, a, &reply),
	    CORE_OK);
	assert_int_equal(get(fresh, a, &p), CORE_UNAUTHENTICATED);
	core_arena_free(a);
}

static void
test_key_rotation_on_the_auth_side_is_picked_up(void **state)
{
	(void) state;
	char tok[2048];
	user_token("rotadmin", tok, sizeof(tok));
	char q[160];
	snprintf(q, sizeof(q),
	    "UPDATE users SET role = 'admin' "
	    "WHERE username = 'rotadmin'");
	PGconn *db;
	{
		char url[256];
		snprintf(url, sizeof(url),
		    "postgresql://postgres@127.0.0.1:%s/%s",
		    need("TEST_PG_PORT"), AUTH.db);
		db = PQconnectdb(url);
		PQclear(PQexec(db, q));
		PQfinish(db);
	}
	user_token("rotadmin", tok, sizeof(tok)); /* now with role admin */
	core_arena *a = core_arena_new(0);
	core_rpc_reply reply;
	User__V1__Profile *p = NULL;
	assert_int_equal(get(tok, a, &p), CORE_OK); /* old key cached */
	Auth__V1__RotateKeysRequest rot = AUTH__V1__ROTATE_KEYS_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	assert_int_equal(
	    call(&AUTH, "/auth.v1.AuthService/RotateKeys", &rot.base,
	        &auth__v1__rotate_keys_response__descriptor, &out, tok, a,
	        &reply),
	    CORE_OK);
	/* A token signed with the new key: svc-user fetches the new JWKS on
	 * the unknown kid (refetches are at most one a second, and this run
	 * is young); the old token keeps working. */
	usleep(1100000);
	char fresh[2048];
	user_token("rotadmin", fresh, sizeof(fresh));
	assert_int_equal(get(fresh, a, &p), CORE_OK);
	assert_int_equal(get(tok, a, &p), CORE_OK);
	core_arena_free(a);
}

static void
test_database_down_misses_are_unavailable_and_it_recovers(void **state)
{
	(void) state;
	char tok[2048];
	user_token("pgdown", tok, sizeof(tok)); /* never read: a cache miss */
	core_arena *a = core_arena_new(0);
	User__V1__Profile *p = NULL;
	db_reachable(admin, USER.db, false);
	assert_int_equal(serving(USER.cli), CORE_UNAVAILABLE);
	assert_int_equal(get(tok, a, &p), CORE_UNAVAILABLE);
	db_reachable(admin, USER.db, true);
	core_status st = CORE_UNAVAILABLE;
	/* Up to 30 s: reconnects are rate-limited, and late on a loaded
	 * machine. */
	for (int i = 0; i < 300 && st != CORE_OK; i++) {
		usleep(100000);
		st = get(tok, a, &p);
	}
	assert_int_equal(st, CORE_OK);
	assert_int_equal(serving(USER.cli), CORE_OK);
	core_arena_free(a);
}

/* One GetProfile from a thread of its own: token in, status and
 * username out (no cmocka asserts off the main thread). */
typedef struct getter {
	pthread_t t;
	const char *token;
	int timeout_ms;
	core_status st;
	char username[64];
} getter;

static void *
get_in_thread(void *arg)
{
	getter *g = arg;
	core_arena *a = core_arena_new(0);
	User__V1__GetProfileRequest req = USER__V1__GET_PROFILE_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	char auth[2200];
	snprintf(auth, sizeof(auth), "Bearer %s", g->token);
	core_md md[1] = {{CORE_MD_AUTHORIZATION, auth}};
	core_rpc_opts opts = {
	    .timeout_ms = g->timeout_ms, .md = md, .n_md = 1};
	g->st = core_rpc_call(USER.cli, "/user.v1.UserService/GetProfile",
	    &req.base, &user__v1__get_profile_response__descriptor, &out,
	    &opts, a, &reply);
	const User__V1__GetProfileResponse *r =
	    (const User__V1__GetProfileResponse *) out;
	if (g->st == CORE_OK && r->profile != NULL) {
		snprintf(g->username, sizeof(g->username), "%s",
		    r->profile->username);
	}
	core_arena_free(a);
	return NULL;
}

/* Cache hits share the server's pipelined Redis connection and are
 * answered on its completions, without a worker: with every worker held
 * by a miss that waits for a table lock, many concurrent hits still get
 * their own profiles at once; the misses finish once the lock goes. */
static void
test_cache_hits_need_no_worker(void **state)
{
	(void) state;
	enum { USERS = 8, HITS = 64, WORKERS = 4 };
	static char hit_tok[USERS][2048], miss_tok[WORKERS][2048];
	core_arena *a = core_arena_new(0);
	for (int i = 0; i < USERS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "hitter%d", i);
		user_token(name, hit_tok[i], sizeof(hit_tok[i]));
		User__V1__Profile *p = NULL;
		assert_int_equal(get(hit_tok[i], a, &p), CORE_OK); /* cached */
	}
	for (int i = 0; i < WORKERS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "waiter%d", i);
		user_token(name, miss_tok[i], sizeof(miss_tok[i]));
	}
	char conn[256];
	snprintf(conn, sizeof(conn), "postgresql://postgres@127.0.0.1:%s/%s",
	    need("TEST_PG_PORT"), USER.db);
	PGconn *lock = PQconnectdb(conn);
	assert_int_equal(PQstatus(lock), CONNECTION_OK);
	pg_ok(lock, "BEGIN");
	pg_ok(lock, "LOCK TABLE profiles IN ACCESS EXCLUSIVE MODE");

	/* First use of these profiles: each miss holds a worker. */
	getter miss[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		miss[i] = (getter){.token = miss_tok[i], .timeout_ms = 40000};
		assert_int_equal(
		    pthread_create(&miss[i].t, NULL, get_in_thread, &miss[i]),
		    0);
	}
	struct timespec settle = {0, 300 * 1000000L};
	nanosleep(&settle, NULL);

	/* A hit that needed a worker would wait for the lock, which goes
	 * only after every hit returned: it times out, however long its
	 * deadline. So a deadline that 64 calls at once meet on a loaded
	 * machine under sanitizers (the misses wait that long too). */
	static getter hit[HITS];
	for (int i = 0; i < HITS; i++) {
		hit[i] =
		    (getter){.token = hit_tok[i % USERS], .timeout_ms = 15000};
		assert_int_equal(
		    pthread_create(&hit[i].t, NULL, get_in_thread, &hit[i]),
		    0);
	}
	for (int i = 0; i < HITS; i++) {
		pthread_join(hit[i].t, NULL);
	}
	pg_ok(lock, "COMMIT");
	PQfinish(lock);
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(miss[i].t, NULL);
	}
	for (int i = 0; i < HITS; i++) {
		char want[32];
		snprintf(want, sizeof(want), "hitter%d", i % USERS);
		assert_int_equal(hit[i].st, CORE_OK);
		assert_string_equal(hit[i].username, want);
	}
	for (int i = 0; i < WORKERS; i++) {
		char want[32];
		snprintf(want, sizeof(want), "waiter%d", i);
		assert_int_equal(miss[i].st, CORE_OK);
		assert_string_equal(miss[i].username, want);
	}
	core_arena_free(a);
}

static void
test_redis_down_fails_closed(void **state)
{
	(void) state;
	char tok[2048];
	user_token("noredis", tok, sizeof(tok));
	/* A second svc-user on the same database, its Redis a closed port. */
	char url[64], listen[96], dburl[256], redis_url[96], auth_dial[96];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
	snprintf(listen, sizeof(listen), "USER_RPC_LISTEN=%s", url);
	snprintf(dburl, sizeof(dburl),
	    "USER_DATABASE_URL=postgresql://postgres@127.0.0.1:%s/%s",
	    need("TEST_PG_PORT"), USER.db);
	snprintf(redis_url, sizeof(redis_url),
	    "REDIS_URL=redis://127.0.0.1:%d/0", free_port());
	snprintf(auth_dial, sizeof(auth_dial), "AUTH_RPC_DIAL=%s", AUTH.url);
	char *envp[] = {listen, dburl, redis_url, auth_dial, "LOG_LEVEL=error",
	    "RPC_WORKERS=1", NULL};
	char *argv[] = {SVC_USER_PATH, NULL};
	proc other = {0};
	assert_int_equal(
	    posix_spawn(&other.pid, SVC_USER_PATH, NULL, NULL, argv, envp), 0);
	const char *urls[] = {url};
	core_rpc_client_config cfg = {.name = "user2",
	    .urls = urls,
	    .n_urls = 1,
	    .connect_wait_ms = 3000,
	    .default_timeout_ms = 5000};
	assert_int_equal(core_rpc_client_new(&cfg, &other.cli), 0);
	assert_int_equal(
	    serving(other.cli), CORE_UNAVAILABLE); /* NOT_SERVING */
	core_arena *a = core_arena_new(0);
	User__V1__GetProfileRequest req = USER__V1__GET_PROFILE_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	/* The token is valid, but whether it was revoked cannot be known. */
	assert_int_equal(
	    call(&other, "/user.v1.UserService/GetProfile", &req.base,
	        &user__v1__get_profile_response__descriptor, &out, tok, a,
	        &reply),
	    CORE_UNAVAILABLE);
	core_arena_free(a);
	core_rpc_client_free(other.cli);
	int status = 0;
	kill(other.pid, SIGTERM);
	assert_int_equal(waitpid(other.pid, &status, 0), other.pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Runs last: it stops svc-auth. */
static void
test_tokens_still_verify_with_cached_keys_when_auth_is_down(void **state)
{
	(void) state;
	char tok[2048];
	user_token("authdown", tok, sizeof(tok));
	core_arena *a = core_arena_new(0);
	User__V1__Profile *p = NULL;
	assert_int_equal(get(tok, a, &p), CORE_OK);
	stop(&AUTH);
	assert_int_equal(get(tok, a, &p), CORE_OK);
	assert_string_equal(p->username, "authdown");
	assert_int_equal(get("garbage", a, &p), CORE_UNAUTHENTICATED);
	core_arena_free(a);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	core_log_init("test_user", CORE_LOG_WARN, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_get_creates_the_profile_and_caches_it),
	    cmocka_unit_test(
	        test_partial_update_keeps_other_fields_and_invalidates_the_cache),
	    cmocka_unit_test(
	        test_an_update_that_changes_nothing_keeps_the_version_and_the_cache),
	    cmocka_unit_test(
	        test_every_field_rule_is_enforced_naming_the_field),
	    cmocka_unit_test(
	        test_concurrent_updates_with_one_expected_version_one_wins),
	    cmocka_unit_test(
	        test_reads_after_an_update_see_it_under_concurrent_readers),
	    cmocka_unit_test(test_revoked_and_bad_tokens_are_refused),
	    cmocka_unit_test(test_key_rotation_on_the_auth_side_is_picked_up),
	    cmocka_unit_test(
	        test_database_down_misses_are_unavailable_and_it_recovers),
	    cmocka_unit_test(test_cache_hits_need_no_worker),
	    cmocka_unit_test(test_redis_down_fails_closed),
	    cmocka_unit_test(
	        test_tokens_still_verify_with_cached_keys_when_auth_is_down),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
