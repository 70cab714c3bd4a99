/* Integration tests for svc-auth's sessions (refresh token rotation, reuse
 * detection, listing, revocation) and login throttling, against the real
 * Redis that scripts/test.sh starts (TEST_REDIS_URL). Each test uses user
 * ids and rate-limit keys made unique by the pid and a counter, and deletes
 * them afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/b64url.h"
#include "core/redis.h"
#include "ratelimit.h"
#include "sessions.h"

#define TTL_S 600
#define LONG_GRACE_MS 10000
#define TOKEN_LEN 66

static const char *redis_url;
static int fixture_seq;

typedef struct fixture {
	core_redis *r;
	char user[37];  // unique per test
	char user2[37]; // another user, for isolation checks
	char rl[64];    // rate-limit key prefix
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->r = core_redis_open(redis_url);
	assert_non_null(f->r);
	assert_true(core_redis_ping(f->r));
	++fixture_seq;
	snprintf(f->user, sizeof(f->user), "sesstest-%ld-%d-a",
	    (long) getpid(), fixture_seq);
	snprintf(f->user2, sizeof(f->user2), "sesstest-%ld-%d-b",
	    (long) getpid(), fixture_seq);
	snprintf(f->rl, sizeof(f->rl),
	    "ratelimit:sesstest:%ld:%d:", (long) getpid(), fixture_seq);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	(void) auth_session_revoke_all(f->r, f->user, NULL);
	(void) auth_session_revoke_all(f->r, f->user2, NULL);
	redisReply *keys = NULL;
	if (core_redis_command(f->r, &keys, "KEYS %s*", f->rl) == CORE_OK) {
		for (size_t i = 0; i < keys->elements; i++) {
			redisReply *d;
			if (core_redis_command(f->r, &d, "DEL %s",
			        keys->element[i]->str) == CORE_OK) {
				freeReplyObject(d);
			}
		}
		freeReplyObject(keys);
	}
	core_redis_close(f->r);
	free(f);
	return 0;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0) {
	}
}

static int
closed_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *) &a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(s, (struct sockaddr *) &a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

static core_redis *
open_down(void)
{
	char url[128];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", closed_port());
	core_redis *down = core_redis_open(url);
	assert_non_null(down);
	return down;
}

static void
create(fixture *f, const char *user, char token[AUTH_REFRESH_TOKEN_MAX],
    char sid[AUTH_SID_MAX])
{
	assert_int_equal(auth_session_create(f->r, user, "192.0.2.7",
	                     "test-agent/1.0", TTL_S, token, sid),
	    CORE_OK);
}

static auth_refresh_result
refresh(core_redis *r, const char *token, int64_t grace_ms,
    char out[AUTH_REFRESH_TOKEN_MAX])
{
	auth_session s;
	auth_refresh_result res = (auth_refresh_result) -1;
	char scratch[AUTH_REFRESH_TOKEN_MAX];
	assert_int_equal(auth_session_refresh(r, token, grace_ms, TTL_S,
	                     out != NULL ? out : scratch, &s, &res),
	    CORE_OK);
	return res;
}

static int
session_exists(fixture *f, const char *sid)
{
	int e = -1;
	assert_int_equal(auth_session_exists(f->r, sid, &e), CORE_OK);
	return e;
}

static long long
int_command(fixture *f, const char *fmt, const char *a, const char *b)
{
	redisReply *rep;
	assert_int_equal(core_redis_command(f->r, &rep, fmt, a, b), CORE_OK);
	assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
	long long v = rep->integer;
	freeReplyObject(rep);
	return v;
}

static long long
in_user_set(fixture *f, const char *user, const char *sid)
{
	return int_command(f, "SISMEMBER user_sessions:%s %s", user, sid);
}

/* Hex BLAKE2b-256 of a token's secret, as the service stores it. */
static void
secret_hash_hex(const char *token, char hex[65])
{
	uint8_t raw[32], h[32];
	size_t n = 0;
	assert_int_equal(
	    core_b64url_decode(token + 23, 43, raw, sizeof(raw), &n), 0);
	assert_int_equal(n, 32);
	crypto_generichash(h, sizeof(h), raw, sizeof(raw), NULL, 0);
	sodium_bin2hex(hex, 65, h, sizeof(h));
}

static void
get_field(
    fixture *f, const char *sid, const char *field, char *out, size_t cap)
{
	redisReply *rep;
	assert_int_equal(
	    core_redis_command(f->r, &rep, "HGET session:%s %s", sid, field),
	    CORE_OK);
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	snprintf(out, cap, "%s", rep->str);
	freeReplyObject(rep);
}

static bool
is_b64url(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			return false;
		}
	}
	return true;
}

/* ---- create ------------------------------------------------------------ */

static void
test_create_returns_well_formed_token_and_stores_no_secret(void **state)
{
	fixture *f = *state;
	char token[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	create(f, f->user, token, sid);

	assert_int_equal(strlen(token), TOKEN_LEN);
	assert_int_equal(token[22], '.');
	assert_true(is_b64url(token, 22));
	assert_true(is_b64url(token + 23, 43));
	assert_int_equal(strlen(sid), 22);
	assert_memory_equal(sid, token, 22);

	// Neither the secret text nor its raw bytes (as hex) are stored.
	const char *secret = token + 23;
	uint8_t raw[32];
	char raw_hex[65];
	size_t n;
	assert_int_equal(core_b64url_decode(secret, 43, raw, 32, &n), 0);
	sodium_bin2hex(raw_hex, sizeof(raw_hex), raw, sizeof(raw));
	redisReply *h;
	assert_int_equal(
	    core_redis_command(f->r, &h, "HGETALL session:%s", sid), CORE_OK);
	assert_int_equal(h->type, REDIS_REPLY_ARRAY);
	assert_true(h->elements >= 18);
	bool saw_user = false;
	for (size_t i = 0; i < h->elements; i++) {
		const char *v = h->element[i]->str;
		assert_null(strstr(v, secret));
		assert_null(strstr(v, raw_hex));
		if (i % 2 == 0 && strcmp(v, "user_id") == 0) {
			assert_string_equal(h->element[i + 1]->str, f->user);
			saw_user = true;
		}
	}
	freeReplyObject(h);
	assert_true(saw_user);
	char cur[80], expect[65];
	get_field(f, sid, "cur", cur, sizeof(cur));
	secret_hash_hex(token, expect);
	assert_string_equal(cur, expect);

	long long ttl = int_command(f, "TTL session:%s", sid, NULL);
	assert_true(ttl > 0 && ttl <= TTL_S);
	assert_int_equal(in_user_set(f, f->user, sid), 1);
	ttl = int_command(f, "TTL user_sessions:%s", f->user, NULL);
	assert_true(ttl > 0 && ttl <= TTL_S);
	assert_int_equal(session_exists(f, sid), 1);
}

static void
test_create_rejects_bad_arguments(void **state)
{
	fixture *f = *state;
	char token[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	assert_int_equal(
	    auth_session_create(f->r, "", NULL, NULL, TTL_S, token, sid),
	    CORE_INVALID_ARGUMENT);
	assert_int_equal(
	    auth_session_create(f->r, f->user, NULL, NULL, 0, token, sid),
	    CORE_INVALID_ARGUMENT);
	// NULL ip and user agent are stored as "".
	assert_int_equal(
	    auth_session_create(f->r, f->user, NULL, NULL, TTL_S, token, sid),
	    CORE_OK);
	char ip[8];
	get_field(f, sid, "ip", ip, sizeof(ip));
	assert_string_equal(ip, "");
}

/* ---- refresh ----------------------------------------------------------- */

static void
test_refresh_rotates_and_renews(void **state)
{
	fixture *f = *state;
	char t0[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char t1[AUTH_REFRESH_TOKEN_MAX], t2[AUTH_REFRESH_TOKEN_MAX];
	create(f, f->user, t0, sid);
	// Shorten the TTL to see refresh renew it.
	assert_int_equal(int_command(f, "EXPIRE session:%s %s", sid, "5"), 1);

	auth_session s;
	auth_refresh_result res;
	assert_int_equal(
	    auth_session_refresh(f->r, t0, LONG_GRACE_MS, TTL_S, t1, &s, &res),
	    CORE_OK);
	assert_int_equal(res, AUTH_REFRESH_OK);
	assert_int_equal(strlen(t1), TOKEN_LEN);
	assert_memory_equal(t1, sid, 22); // same session
	assert_string_not_equal(t1, t0);
	assert_string_equal(s.sid, sid);
	assert_string_equal(s.user_id, f->user);
	assert_string_equal(s.client_ip, "192.0.2.7");
	assert_string_equal(s.user_agent, "test-agent/1.0");
	assert_true(s.created_ms > 0 && s.last_used_ms >= s.created_ms);
	long long ttl = int_command(f, "TTL session:%s", sid, NULL);
	assert_true(ttl > 5 && ttl <= TTL_S);

	// The new token rotates in turn, and the stored hashes follow.
	assert_int_equal(
	    refresh(f->r, t1, LONG_GRACE_MS, t2), AUTH_REFRESH_OK);
	char cur[80], prev[80], h1[65], h2[65];
	secret_hash_hex(t1, h1);
	secret_hash_hex(t2, h2);
	get_field(f, sid, "cur", cur, sizeof(cur));
	get_field(f, sid, "prev", prev, sizeof(prev));
	assert_string_equal(cur, h2);
	assert_string_equal(prev, h1);
}

/* A session keeps how its login was proven (amr) for its refreshes; a
 * session stored without it (before amr was kept) was a password's. */
static void
test_refresh_keeps_the_amr_of_the_login(void **state)
{
	fixture *f = *state;
	char t0[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char t1[AUTH_REFRESH_TOKEN_MAX], t2[AUTH_REFRESH_TOKEN_MAX];
	auth_session s;
	auth_refresh_result res;
	assert_int_equal(
	    auth_session_create_amr(f->r, f->user, "192.0.2.7", "ua",
	        CORE_AMR_PWD | CORE_AMR_OTP, TTL_S, t0, sid),
	    CORE_OK);
	assert_int_equal(
	    auth_session_refresh(f->r, t0, LONG_GRACE_MS, TTL_S, t1, &s, &res),
	    CORE_OK);
	assert_int_equal(res, AUTH_REFRESH_OK);
	assert_int_equal(s.amr, CORE_AMR_PWD | CORE_AMR_OTP);
	assert_int_equal(
	    auth_session_refresh(f->r, t1, LONG_GRACE_MS, TTL_S, t2, &s, &res),
	    CORE_OK);
	assert_int_equal(s.amr, CORE_AMR_PWD | CORE_AMR_OTP);

	create(f, f->user, t0, sid);
	assert_int_equal(
	    auth_session_refresh(f->r, t0, LONG_GRACE_MS, TTL_S, t1, &s, &res),
	    CORE_OK);
	assert_int_equal(s.amr, CORE_AMR_PWD);
	assert_int_equal(int_command(f, "HDEL session:%s %s", sid, "amr"), 1);
	assert_int_equal(
	    auth_session_refresh(f->r, t1, LONG_GRACE_MS, TTL_S, t2, &s, &res),
	    CORE_OK);
	assert_int_equal(res, AUTH_REFRESH_OK);
	assert_int_equal(s.amr, CORE_AMR_PWD);
}

static void
test_previous_token_after_grace_window_is_reuse_and_revokes(void **state)
{
	fixture *f = *state;
	char t0[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char t1[AUTH_REFRESH_TOKEN_MAX];
	create(f, f->user, t0, sid);
	assert_int_equal(refresh(f->r, t0, 200, t1), AUTH_REFRESH_OK);
	sleep_ms(300);
	assert_int_equal(refresh(f->r, t0, 200, NULL), AUTH_REFRESH_REUSED);
	assert_int_equal(session_exists(f, sid), 0);
	assert_int_equal(in_user_set(f, f->user, sid), 0);
	// The thief or the victim: whoever holds the newest token is out too.
	assert_int_equal(refresh(f->r, t1, 200, NULL), AUTH_REFRESH_INVALID);
}

static void
test_reuse_reports_the_user(void **state)
{
	fixture *f = *state;
	char t0[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char t1[AUTH_REFRESH_TOKEN_MAX];
	create(f, f->user, t0, sid);
	assert_int_equal(refresh(f->r, t0, 0, t1), AUTH_REFRESH_OK);
	sleep_ms(5);
	auth_session s;
	auth_refresh_result res;
	assert_int_equal(
	    auth_session_refresh(f->r, t0, 0, TTL_S, t1, &s, &res), CORE_OK);
	assert_int_equal(res, AUTH_REFRESH_REUSED);
	assert_string_equal(s.user_id, f->user);
	assert_string_equal(s.sid, sid);
}

static void
test_older_secret_is_reuse(void **state)
{
	fixture *f = *state;
	char t0[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char t1[AUTH_REFRESH_TOKEN_MAX], t2[AUTH_REFRESH_TOKEN_MAX];
	create(f, f->user, t0, sid);
	assert_int_equal(
	    refresh(f->r, t0, LONG_GRACE_MS, t1), AUTH_REFRESH_OK);
	assert_int_equal(
	    refresh(f->r, t1, LONG_GRACE_MS, t2), AUTH_REFRESH_OK);
	// t0 is two rotations old: not the previous secret, still reuse.
	assert_int_equal(
	    refresh(f->r, t0, LONG_GRACE_MS, NULL), AUTH_REFRESH_REUSED);
	assert_int_equal(session_exists(f, sid), 0);
	assert_int_equal(
	    refresh(f->r, t2, LONG_GRACE_MS, NULL), AUTH_REFRESH_INVALID);
}

/* Two tabs refresh with the same token within the grace window: both get a
 * token, and both tokens are valid until one of them is used. */
static void
test_same_token_twice_within_grace_keeps_both_tokens_valid(void **state)
{
	fixture *f = *state;
	char t0[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char a[AUTH_REFRESH_TOKEN_MAX], b[AUTH_REFRESH_TOKEN_MAX];
	char c[AUTH_REFRESH_TOKEN_MAX];
	char cur[80], cur2[80], ha[65], hb[65];

	// Tab B's token is the one used next.
	create(f, f->user, t0, sid);
	assert_int_equal(refresh(f->r, t0, LONG_GRACE_MS, a), AUTH_REFRESH_OK);
	assert_int_equal(refresh(f->r, t0, LONG_GRACE_MS, b), AUTH_REFRESH_OK);
	assert_string_not_equal(a, b);
	secret_hash_hex(a, ha);
	secret_hash_hex(b, hb);
	get_field(f, sid, "cur", cur, sizeof(cur));
	get_field(f, sid, "cur2", cur2, sizeof(cur2));
	assert_string_equal(cur, ha);
	assert_string_equal(cur2, hb);
	assert_int_equal(refresh(f->r, b, LONG_GRACE_MS, c), AUTH_REFRESH_OK);
	assert_int_equal(
	    refresh(f->r, c, LONG_GRACE_MS, NULL), AUTH_REFRESH_OK);
	// Its sibling was superseded by that rotation: reuse, as documented.
	assert_int_equal(
	    refresh(f->r, a, LONG_GRACE_MS, NULL), AUTH_REFRESH_REUSED);

	// Tab A's token is the one used next.
	create(f, f->user, t0, sid);
	assert_int_equal(refresh(f->r, t0, LONG_GRACE_MS, a), AUTH_REFRESH_OK);
	assert_int_equal(refresh(f->r, t0, LONG_GRACE_MS, b), AUTH_REFRESH_OK);
	assert_int_equal(refresh(f->r, a, LONG_GRACE_MS, c), AUTH_REFRESH_OK);
	get_field(f, sid, "cur2", cur2, sizeof(cur2));
	assert_string_equal(cur2, "");
	assert_int_equal(
	    refresh(f->r, c, LONG_GRACE_MS, NULL), AUTH_REFRESH_OK);
	assert_int_equal(
	    refresh(f->r, b, LONG_GRACE_MS, NULL), AUTH_REFRESH_REUSED);
}

static void
test_third_use_of_previous_token_is_reuse(void **state)
{
	fixture *f = *state;
	char t0[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char a[AUTH_REFRESH_TOKEN_MAX], b[AUTH_REFRESH_TOKEN_MAX];
	create(f, f->user, t0, sid);
	assert_int_equal(refresh(f->r, t0, LONG_GRACE_MS, a), AUTH_REFRESH_OK);
	assert_int_equal(refresh(f->r, t0, LONG_GRACE_MS, b), AUTH_REFRESH_OK);
	assert_int_equal(
	    refresh(f->r, t0, LONG_GRACE_MS, NULL), AUTH_REFRESH_REUSED);
	assert_int_equal(session_exists(f, sid), 0);
	assert_int_equal(in_user_set(f, f->user, sid), 0);
	assert_int_equal(
	    refresh(f->r, a, LONG_GRACE_MS, NULL), AUTH_REFRESH_INVALID);
	assert_int_equal(
	    refresh(f->r, b, LONG_GRACE_MS, NULL), AUTH_REFRESH_INVALID);
}

typedef struct refresher {
	const char *token;
	pthread_barrier_t *go;
	core_status st;
	auth_refresh_result res;
	char out[AUTH_REFRESH_TOKEN_MAX];
} refresher;

static void *
refresh_thread(void *arg)
{
	refresher *t = arg;
	core_redis *r = core_redis_open(redis_url); // one handle per thread
	auth_session s;
	if (r == NULL || !core_redis_ping(r)) {
		t->st = CORE_UNAVAILABLE;
		(void) pthread_barrier_wait(t->go);
		core_redis_close(r);
		return NULL;
	}
	(void) pthread_barrier_wait(t->go);
	t->st = auth_session_refresh(
	    r, t->token, LONG_GRACE_MS, TTL_S, t->out, &s, &t->res);
	core_redis_close(r);
	return NULL;
}

static void
test_concurrent_refreshes_from_two_threads_both_succeed(void **state)
{
	fixture *f = *state;
	char t0[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	create(f, f->user, t0, sid);
	pthread_barrier_t go;
	assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
	refresher t[2];
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].token = t0;
		t[i].go = &go;
		assert_int_equal(
		    pthread_create(&th[i], NULL, refresh_thread, &t[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
	}
	pthread_barrier_destroy(&go);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(t[i].st, CORE_OK);
		assert_int_equal(t[i].res, AUTH_REFRESH_OK);
	}
	assert_string_not_equal(t[0].out, t[1].out);
	// Both new tokens are current: one as cur, the other as cur2.
	char cur[80], cur2[80], h0[65], h1[65];
	secret_hash_hex(t[0].out, h0);
	secret_hash_hex(t[1].out, h1);
	get_field(f, sid, "cur", cur, sizeof(cur));
	get_field(f, sid, "cur2", cur2, sizeof(cur2));
	assert_true((strcmp(cur, h0) == 0 && strcmp(cur2, h1) == 0) ||
	            (strcmp(cur, h1) == 0 && strcmp(cur2, h0) == 0));
	assert_int_equal(
	    refresh(f->r, t[1].out, LONG_GRACE_MS, NULL), AUTH_REFRESH_OK);
}

static void
test_malformed_tokens_are_invalid_without_touching_redis(void **state)
{
	fixture *f = *state;
	char token[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	create(f, f->user, token, sid);
	char base[TOKEN_LEN + 1];
	assert_int_equal(strlen(token), TOKEN_LEN);
	memcpy(base, token, sizeof(base));

	char bad[24][256];
	int n = 0;
	snprintf(bad[n++], 256, "%s", "");
	snprintf(bad[n++], 256, "%s", ".");
	snprintf(bad[n++], 256, "%s", "abc");
	// No dot.
	snprintf(bad[n++], 256, "%.22s%s", base, base + 23);
	snprintf(bad[n++], 256, "%.22sA%s", base, base + 23);
	// Two dots.
	snprintf(bad[n++], 256, "%s", base);
	bad[n - 1][40] = '.';
	snprintf(bad[n++], 256, "%s.", base);
	// Wrong lengths either side.
	snprintf(bad[n++], 256, "%.21s%s", base, base + 22);
	snprintf(bad[n++], 256, "%.22sA%s", base, base + 22);
	snprintf(bad[n++], 256, "%.65s", base);
	snprintf(bad[n++], 256, "%sA", base);
	// Characters outside base64url.
	const char swaps[] = {'+', '/', '=', ' ', '\n', '*'};
	for (size_t i = 0; i < sizeof(swaps); i++) {
		snprintf(bad[n++], 256, "%s", base);
		bad[n - 1][i % 2 == 0 ? 5 : 50] = swaps[i];
	}
	// Padding on the secret (44 chars with '=').
	snprintf(bad[n++], 256, "%.65s=", base);
	// Non-canonical last character of the sid: low bits set.
	snprintf(bad[n++], 256, "%s", base);
	bad[n - 1][21] = bad[n - 1][21] == 'B' ? 'C' : 'B';
	// 200 characters of garbage.
	memset(bad[n], 'x', 200);
	bad[n][200] = '\0';
	bad[n++][100] = '.';
	// Binary without NUL, 66 bytes with the dot in place.
	for (int i = 0; i < TOKEN_LEN; i++) {
		bad[n][i] = (char) (0x80 + i);
	}
	bad[n][22] = '.';
	bad[n++][TOKEN_LEN] = '\0';

	// A handle that is down proves Redis is never asked: asking it would
	// give CORE_UNAVAILABLE instead of an answer.
	core_redis *down = open_down();
	for (int i = 0; i < n; i++) {
		char out[AUTH_REFRESH_TOKEN_MAX];
		auth_session s;
		auth_refresh_result res = AUTH_REFRESH_OK;
		core_status st = auth_session_refresh(
		    down, bad[i], LONG_GRACE_MS, TTL_S, out, &s, &res);
		if (st != CORE_OK || res != AUTH_REFRESH_INVALID) {
			fail_msg("malformed token %d: status %s, result %d", i,
			    core_status_str((int) st), (int) res);
		}
	}
	core_redis_close(down);
	// None of that touched the real session: the token still works.
	assert_int_equal(
	    refresh(f->r, token, LONG_GRACE_MS, NULL), AUTH_REFRESH_OK);
}

static void
test_unknown_sid_or_secret_is_invalid(void **state)
{
	fixture *f = *state;
	char token[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char other[AUTH_REFRESH_TOKEN_MAX], osid[AUTH_SID_MAX];
	create(f, f->user, token, sid);
	// A well-formed token for a sid that does not exist.
	create(f, f->user2, other, osid);
	assert_int_equal(auth_session_revoke(f->r, osid, NULL, NULL), CORE_OK);
	assert_int_equal(
	    refresh(f->r, other, LONG_GRACE_MS, NULL), AUTH_REFRESH_INVALID);
	// A real sid with a secret never issued: invalid, and since the sid
	// alone is no proof of anything (it is in access tokens), the session
	// survives.
	char forged[AUTH_REFRESH_TOKEN_MAX];
	snprintf(forged, sizeof(forged), "%.23s%s", token, other + 23);
	assert_int_equal(
	    refresh(f->r, forged, LONG_GRACE_MS, NULL), AUTH_REFRESH_INVALID);
	assert_int_equal(session_exists(f, sid), 1);
	assert_int_equal(
	    refresh(f->r, token, LONG_GRACE_MS, NULL), AUTH_REFRESH_OK);
}

/* ---- revoke, list ------------------------------------------------------ */

static void
test_revoke_checks_the_owner(void **state)
{
	fixture *f = *state;
	char token[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	create(f, f->user, token, sid);
	int deleted = -1;
	assert_int_equal(
	    auth_session_revoke(f->r, sid, f->user2, &deleted), CORE_OK);
	assert_int_equal(deleted, 0);
	assert_int_equal(session_exists(f, sid), 1);
	assert_int_equal(
	    auth_session_revoke(f->r, sid, f->user, &deleted), CORE_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(session_exists(f, sid), 0);
	assert_int_equal(in_user_set(f, f->user, sid), 0);
	assert_int_equal(
	    refresh(f->r, token, LONG_GRACE_MS, NULL), AUTH_REFRESH_INVALID);
	assert_int_equal(
	    auth_session_revoke(f->r, sid, f->user, &deleted), CORE_OK);
	assert_int_equal(deleted, 0);
	// Without an owner check; and a malformed sid is simply not found.
	create(f, f->user, token, sid);
	assert_int_equal(
	    auth_session_revoke(f->r, sid, NULL, &deleted), CORE_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(
	    auth_session_revoke(f->r, "not a sid", NULL, &deleted), CORE_OK);
	assert_int_equal(deleted, 0);
}

static void
test_get_finds_only_a_live_session_of_its_user(void **state)
{
	fixture *f = *state;
	char token[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char out[AUTH_REFRESH_TOKEN_MAX];
	auth_session s, r;
	auth_refresh_result res;
	create(f, f->user, token, sid);
	assert_int_equal(auth_session_get(f->r, sid, f->user, &s), CORE_OK);
	assert_string_equal(s.sid, sid);
	assert_string_equal(s.user_id, f->user);
	assert_string_equal(s.client_ip, "192.0.2.7");
	assert_true(s.created_ms > 0 && s.last_used_ms == s.created_ms);
	// The refresh's answer and get agree on the session.
	assert_int_equal(auth_session_refresh(
	                     f->r, token, LONG_GRACE_MS, TTL_S, out, &r, &res),
	    CORE_OK);
	assert_int_equal(res, AUTH_REFRESH_OK);
	assert_int_equal(auth_session_get(f->r, sid, f->user, &s), CORE_OK);
	assert_int_equal(s.created_ms, r.created_ms);
	assert_int_equal(s.last_used_ms, r.last_used_ms);
	// Not another user's; not a malformed or an unknown sid.
	assert_int_equal(
	    auth_session_get(f->r, sid, f->user2, &s), CORE_NOT_FOUND);
	assert_int_equal(
	    auth_session_get(f->r, "not a sid", f->user, &s), CORE_NOT_FOUND);
	assert_int_equal(
	    auth_session_get(f->r, "AAAAAAAAAAAAAAAAAAAAAA", f->user, &s),
	    CORE_NOT_FOUND);
	assert_int_equal(auth_session_get(f->r, sid, "", &s), CORE_NOT_FOUND);
	// Ended.
	assert_int_equal(auth_session_revoke(f->r, sid, NULL, NULL), CORE_OK);
	assert_int_equal(
	    auth_session_get(f->r, sid, f->user, &s), CORE_NOT_FOUND);
}

/* Asks whether sid exists through a probe in another module's round
 * trip (the refresh path's). */
static int
probe_exists(fixture *f, const char *sid, int *commands)
{
	core_redis_extra x = {0};
	auth_session_probe p;
	int64_t floor_s = 0;
	int alive = -1;
	assert_int_equal(auth_session_probe_add(&p, sid, &x), CORE_OK);
	*commands = x.n;
	assert_int_equal(
	    core_revocation_floor_with(f->r, f->user, &x, &floor_s), CORE_OK);
	assert_int_equal(
	    auth_session_probe_result(&p, f->r, &x, &alive), CORE_OK);
	core_redis_extra_clear(&x);
	return alive;
}

static void
test_probe_answers_as_exists_in_a_shared_round_trip(void **state)
{
	fixture *f = *state;
	char token[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	int n = -1;
	create(f, f->user, token, sid);
	assert_int_equal(probe_exists(f, sid, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(auth_session_revoke(f->r, sid, NULL, NULL), CORE_OK);
	assert_int_equal(probe_exists(f, sid, &n), 0);
	// A malformed sid names no session and costs no command.
	assert_int_equal(probe_exists(f, "not a sid", &n), 0);
	assert_int_equal(n, 0);
	// A full extra is refused.
	core_redis_extra x = {0};
	auth_session_probe p;
	const char *ping[] = {"PING"};
	for (int i = 0; i < CORE_REDIS_EXTRA_MAX; i++) {
		assert_int_equal(core_redis_extra_add(&x, 1, ping), i);
	}
	assert_int_equal(
	    auth_session_probe_add(&p, sid, &x), CORE_INVALID_ARGUMENT);
}

static void
test_revoke_all_deletes_only_that_users_sessions(void **state)
{
	fixture *f = *state;
	char token[3][AUTH_REFRESH_TOKEN_MAX], sid[3][AUTH_SID_MAX];
	char otok[AUTH_REFRESH_TOKEN_MAX], osid[AUTH_SID_MAX];
	for (int i = 0; i < 3; i++) {
		create(f, f->user, token[i], sid[i]);
	}
	create(f, f->user2, otok, osid);
	int count = -1;
	assert_int_equal(
	    auth_session_revoke_all(f->r, f->user, &count), CORE_OK);
	assert_int_equal(count, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(session_exists(f, sid[i]), 0);
		assert_int_equal(refresh(f->r, token[i], LONG_GRACE_MS, NULL),
		    AUTH_REFRESH_INVALID);
	}
	assert_int_equal(
	    int_command(f, "EXISTS user_sessions:%s", f->user, NULL), 0);
	assert_int_equal(session_exists(f, osid), 1);
	assert_int_equal(
	    auth_session_revoke_all(f->r, f->user, &count), CORE_OK);
	assert_int_equal(count, 0);
}

static void
test_list_is_newest_first_and_prunes_stale_sids(void **state)
{
	fixture *f = *state;
	char token[3][AUTH_REFRESH_TOKEN_MAX], sid[3][AUTH_SID_MAX];
	for (int i = 0; i < 3; i++) {
		create(f, f->user, token[i], sid[i]);
		sleep_ms(5); // distinct created_ms
	}
	auth_session out[10];
	size_t n = 0;
	assert_int_equal(
	    auth_session_list(f->r, f->user, out, 10, &n), CORE_OK);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(out[i].sid, sid[2 - i]);
		assert_string_equal(out[i].user_id, f->user);
		assert_string_equal(out[i].client_ip, "192.0.2.7");
		assert_string_equal(out[i].user_agent, "test-agent/1.0");
		assert_true(out[i].created_ms > 0);
	}
	assert_true(out[0].created_ms > out[1].created_ms);
	assert_true(out[1].created_ms > out[2].created_ms);

	// Bounded by max: the newest ones.
	assert_int_equal(
	    auth_session_list(f->r, f->user, out, 2, &n), CORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].sid, sid[2]);
	assert_string_equal(out[1].sid, sid[1]);

	// A session key gone behind the set's back (as on expiry).
	assert_int_equal(int_command(f, "DEL session:%s", sid[1], NULL), 1);
	assert_int_equal(
	    auth_session_list(f->r, f->user, out, 10, &n), CORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].sid, sid[2]);
	assert_string_equal(out[1].sid, sid[0]);
	assert_int_equal(in_user_set(f, f->user, sid[1]), 0);

	// A user without sessions.
	assert_int_equal(
	    auth_session_list(f->r, f->user2, out, 10, &n), CORE_OK);
	assert_int_equal(n, 0);
}

/* ---- rate limiter ------------------------------------------------------ */

static bool
hit1(core_redis *r, const char *key, int limit, int window_s, int *retry)
{
	bool allowed = false;
	const char *keys[] = {key};
	assert_int_equal(
	    auth_ratelimit_hit(r, 1, keys, &limit, window_s, &allowed, retry),
	    CORE_OK);
	return allowed;
}

static void
test_ratelimit_refuses_after_limit_until_window_ends(void **state)
{
	fixture *f = *state;
	char key[128];
	snprintf(key, sizeof(key), "%suser:ada", f->rl);
	int retry = -1;
	for (int i = 0; i < 3; i++) {
		assert_true(hit1(f->r, key, 3, 10, &retry));
	}
	assert_false(hit1(f->r, key, 3, 10, &retry));
	assert_true(retry > 0 && retry <= 10);
	// Refused hits do not extend the window.
	long long ttl = int_command(f, "TTL %s", key, NULL);
	assert_true(ttl > 0 && ttl <= 10);
}

static void
test_ratelimit_any_key_over_its_limit_refuses(void **state)
{
	fixture *f = *state;
	char user[128], ip[128];
	snprintf(user, sizeof(user), "%suser:bob", f->rl);
	snprintf(ip, sizeof(ip), "%sip:192.0.2.1", f->rl);
	const char *keys[] = {user, ip};
	const int limits[] = {100, 2};
	bool allowed = false;
	int retry = -1;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(auth_ratelimit_hit(f->r, 2, keys, limits, 30,
		                     &allowed, &retry),
		    CORE_OK);
		assert_true(allowed);
	}
	assert_int_equal(
	    auth_ratelimit_hit(f->r, 2, keys, limits, 30, &allowed, &retry),
	    CORE_OK);
	assert_false(allowed);
	assert_true(retry > 0 && retry <= 30);
	// The user key alone is far from its limit.
	assert_true(hit1(f->r, user, 100, 30, &retry));
}

static void
test_ratelimit_decays_after_the_window(void **state)
{
	fixture *f = *state;
	char key[128];
	snprintf(key, sizeof(key), "%sdecay", f->rl);
	int retry = -1;
	assert_true(hit1(f->r, key, 1, 1, &retry));
	assert_false(hit1(f->r, key, 1, 1, &retry));
	assert_int_equal(retry, 1);
	sleep_ms(1100);
	assert_true(hit1(f->r, key, 1, 1, &retry));
}

static void
test_ratelimit_reset_forgets_attempts(void **state)
{
	fixture *f = *state;
	char key[128];
	snprintf(key, sizeof(key), "%sreset", f->rl);
	int retry;
	assert_true(hit1(f->r, key, 1, 60, &retry));
	assert_false(hit1(f->r, key, 1, 60, &retry));
	assert_int_equal(auth_ratelimit_reset(f->r, key), CORE_OK);
	assert_true(hit1(f->r, key, 1, 60, &retry));
}

#define HITTERS 20
#define HIT_LIMIT 5

typedef struct hitter {
	const char *key;
	pthread_barrier_t *go;
	core_status st;
	bool allowed;
} hitter;

static void *
hit_thread(void *arg)
{
	hitter *h = arg;
	core_redis *r = core_redis_open(redis_url);
	bool up = r != NULL && core_redis_ping(r);
	(void) pthread_barrier_wait(h->go);
	if (!up) {
		h->st = CORE_UNAVAILABLE;
	} else {
		const char *keys[] = {h->key};
		const int limit = HIT_LIMIT;
		int retry;
		h->st = auth_ratelimit_hit(
		    r, 1, keys, &limit, 60, &h->allowed, &retry);
	}
	core_redis_close(r);
	return NULL;
}

static void
test_ratelimit_concurrent_hits_allow_exactly_the_limit(void **state)
{
	fixture *f = *state;
	char key[128];
	snprintf(key, sizeof(key), "%sconcurrent", f->rl);
	pthread_barrier_t go;
	assert_int_equal(pthread_barrier_init(&go, NULL, HITTERS), 0);
	hitter h[HITTERS];
	pthread_t th[HITTERS];
	for (int i = 0; i < HITTERS; i++) {
		h[i] = (hitter){.key = key, .go = &go};
		assert_int_equal(
		    pthread_create(&th[i], NULL, hit_thread, &h[i]), 0);
	}
	int allowed = 0;
	for (int i = 0; i < HITTERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
	}
	pthread_barrier_destroy(&go);
	for (int i = 0; i < HITTERS; i++) {
		assert_int_equal(h[i].st, CORE_OK);
		allowed += h[i].allowed ? 1 : 0;
	}
	assert_int_equal(allowed, HIT_LIMIT);
}

/* ---- Redis down -------------------------------------------------------- */

static void
test_unreachable_redis_is_unavailable_everywhere(void **state)
{
	fixture *f = *state;
	core_redis *down = open_down();
	char token[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	char out[AUTH_REFRESH_TOKEN_MAX];
	auth_session s[2];
	auth_refresh_result res;
	int i;
	size_t n;
	bool allowed;
	const char *keys[] = {"ratelimit:sesstest:down"};
	const int limits[] = {5};

	// Twice each: the second call falls inside the reconnect back-off.
	for (int k = 0; k < 2; k++) {
		assert_int_equal(auth_session_create(down, f->user, NULL, NULL,
		                     TTL_S, token, sid),
		    CORE_UNAVAILABLE);
		create(f, f->user, token, sid); // a well-formed token
		assert_int_equal(auth_session_refresh(
		                     down, token, 0, TTL_S, out, &s[0], &res),
		    CORE_UNAVAILABLE);
		assert_int_equal(auth_session_revoke(down, sid, NULL, &i),
		    CORE_UNAVAILABLE);
		assert_int_equal(auth_session_revoke_all(down, f->user, &i),
		    CORE_UNAVAILABLE);
		assert_int_equal(auth_session_list(down, f->user, s, 2, &n),
		    CORE_UNAVAILABLE);
		assert_int_equal(
		    auth_session_exists(down, sid, &i), CORE_UNAVAILABLE);
		assert_int_equal(auth_session_get(down, sid, f->user, &s[0]),
		    CORE_UNAVAILABLE);
		assert_int_equal(auth_ratelimit_hit(
		                     down, 1, keys, limits, 10, &allowed, &i),
		    CORE_UNAVAILABLE);
		assert_int_equal(
		    auth_ratelimit_reset(down, keys[0]), CORE_UNAVAILABLE);
	}
	core_redis_close(down);
}

int
main(void)
{
	redis_url = getenv("TEST_REDIS_URL");
	if (redis_url == NULL || redis_url[0] == '\0') {
		fprintf(stderr, "test_sessions: TEST_REDIS_URL is not set.\n"
		                "These tests need a real Redis: run them with "
		                "scripts/test.sh (e.g. scripts/test.sh --only "
		                "sessions).\n");
		return 1;
	}
	/* As core_rpc_server_start does: hiredis writes with write(2), and a
	 * killed connection must give an error, not end the process. */
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fprintf(stderr, "test_sessions: sodium_init failed\n");
		return 1;
	}
	if (getenv("TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	}
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_create_returns_well_formed_token_and_stores_no_secret),
	    T(test_create_rejects_bad_arguments),
	    T(test_refresh_rotates_and_renews),
	    T(test_refresh_keeps_the_amr_of_the_login),
	    T(test_previous_token_after_grace_window_is_reuse_and_revokes),
	    T(test_reuse_reports_the_user),
	    T(test_older_secret_is_reuse),
	    T(test_same_token_twice_within_grace_keeps_both_tokens_valid),
	    T(test_third_use_of_previous_token_is_reuse),
	    T(test_concurrent_refreshes_from_two_threads_both_succeed),
	    T(test_malformed_tokens_are_invalid_without_touching_redis),
	    T(test_unknown_sid_or_secret_is_invalid),
	    T(test_revoke_checks_the_owner),
	    T(test_get_finds_only_a_live_session_of_its_user),
	    T(test_probe_answers_as_exists_in_a_shared_round_trip),
	    T(test_revoke_all_deletes_only_that_users_sessions),
	    T(test_list_is_newest_first_and_prunes_stale_sids),
	    T(test_ratelimit_refuses_after_limit_until_window_ends),
	    T(test_ratelimit_any_key_over_its_limit_refuses),
	    T(test_ratelimit_decays_after_the_window),
	    T(test_ratelimit_reset_forgets_attempts),
	    T(test_ratelimit_concurrent_hits_allow_exactly_the_limit),
	    T(test_unreachable_redis_is_unavailable_everywhere),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
