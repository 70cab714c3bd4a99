/* Login sessions and refresh tokens in Redis; the contract and the storage
 * layout are in sessions.h, the design note in docs/architecture.md.
 *
 * Only hashes of secrets reach Redis (BLAKE2b-256, hex), so a dump of Redis
 * cannot be replayed as tokens. Secrets are wiped from the stack once the
 * token has been written out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/b64url.h"
#include "core/log.h"
#include "sessions.h"

#define SID_BYTES 16
#define SECRET_BYTES 32
#define SID_LEN 22    /* CORE_B64URL_ENCODED_LEN(SID_BYTES) */
#define SECRET_LEN 43 /* CORE_B64URL_ENCODED_LEN(SECRET_BYTES) */
#define TOKEN_LEN (SID_LEN + 1 + SECRET_LEN)
#define HASH_BYTES 32
#define HASH_HEX (2 * HASH_BYTES)
#define USER_ID_MAX 36 /* bytes, the size of auth_session.user_id - 1 */
#define KEY_MAX 64     /* "user_sessions:" + 36 bytes + NUL fits */

/* A user's set is read whole by list; past this many sids the rest are
 * ignored (and logged) rather than holding an unbounded array. */
#define LIST_SCAN_MAX 4096
/* Sessions read per pipelined round trip by list. */
#define LIST_CHUNK 128

/* The refresh: KEYS[1] = session:<sid>; ARGV = presented hash, new hash,
 * now_ms, grace_ms, ttl_s, sid. Returns {0, user_id, created_ms, ip, ua,
 * amr}
 * (rotated), {1} (invalid) or {2, user_id} (reuse: session deleted).
 *
 * Fields: cur is the current secret's hash; cur2 a second current one,
 * issued by a grace hit; prev the secret the last normal rotation replaced,
 * rotated_ms when, prev_used whether its one grace use is spent; old the
 * hashes of up to OLD_MAX older secrets, newest first, space-separated, so
 * that they count as reuse rather than as unknown.
 *
 * The grace rule keeps both tabs logged in: two refreshes with the same
 * secret S. The first rotates normally (prev = S, cur = A). The second finds
 * S == prev within grace_ms, unused: it issues B as cur2 and marks prev used,
 * leaving cur alone, so A and B are both valid. Whichever of A and B comes
 * back first rotates normally; the other one then joins old (it is a
 * superseded secret like any other). A third use of S, or S after the
 * window, is reuse.
 *
 * The user's set user_sessions:<uid> is not in KEYS: its name is only known
 * once the hash is read. That is fine on a standalone Redis (which is what
 * we run); a cluster would need a hash tag shared by both keys. */
static const char refresh_lua[] =
    "local h = redis.call('HMGET', KEYS[1], 'user_id', 'cur', 'cur2',\n"
    "    'prev', 'rotated_ms', 'prev_used', 'created_ms', 'ip', 'ua',\n"
    "    'old', 'amr')\n"
    "local uid = h[1]\n"
    "if not uid then return {1} end\n"
    "local p, new, now, ttl, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[5],\n"
    "    ARGV[6]\n"
    "local cur, cur2, prev = h[2] or '', h[3] or '', h[4] or ''\n"
    "local old = h[10] or ''\n"
    "local ukey = 'user_sessions:' .. uid\n"
    "local function push(x)\n"
    "  if x == '' then return end\n"
    "  if old == '' then old = x else old = x .. ' ' .. old end\n"
    "  local cap = 16 * 65 - 1\n"
    "  if #old > cap then old = string.sub(old, 1, cap) end\n"
    "end\n"
    "local function keep()\n"
    "  redis.call('EXPIRE', KEYS[1], ttl)\n"
    "  redis.call('SADD', ukey, sid)\n"
    "  redis.call('EXPIRE', ukey, ttl, 'NX')\n"
    "  redis.call('EXPIRE', ukey, ttl, 'GT')\n"
    "  return {0, uid, h[7] or '0', h[8] or '', h[9] or '', h[11] or ''}\n"
    "end\n"
    "local function revoke()\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  redis.call('SREM', ukey, sid)\n"
    "  return {2, uid}\n"
    "end\n"
    "if p == cur or (cur2 ~= '' and p == cur2) then\n"
    "  push(prev)\n"
    "  if p == cur then push(cur2) else push(cur) end\n"
    "  redis.call('HSET', KEYS[1], 'cur', new, 'cur2', '', 'prev', p,\n"
    "      'rotated_ms', now, 'prev_used', '0', 'last_used_ms', now,\n"
    "      'old', old)\n"
    "  return keep()\n"
    "end\n"
    "if prev ~= '' and p == prev then\n"
    "  local age = tonumber(now) - (tonumber(h[5]) or 0)\n"
    "  if h[6] == '0' and cur2 == '' and age <= tonumber(ARGV[4]) then\n"
    "    redis.call('HSET', KEYS[1], 'cur2', new, 'prev_used', '1',\n"
    "        'last_used_ms', now)\n"
    "    return keep()\n"
    "  end\n"
    "  return revoke()\n"
    "end\n"
    "if old ~= '' and string.find(old, p, 1, true) then\n"
    "  return revoke()\n"
    "end\n"
    "return {1}\n";

/* KEYS[1] = session:<sid>; ARGV = sid, "1" to check the owner or "0",
 * owner. Returns 1 when deleted. */
static const char revoke_lua[] =
    "local uid = redis.call('HGET', KEYS[1], 'user_id')\n"
    "if not uid then return 0 end\n"
    "if ARGV[2] == '1' and uid ~= ARGV[3] then return 0 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('SREM', 'user_sessions:' .. uid, ARGV[1])\n"
    "return 1\n";

/* KEYS[1] = user_sessions:<uid>. A script so that a session created while
 * we delete cannot slip between reading the set and deleting it. Returns
 * the number of live sessions deleted. */
static const char revoke_all_lua[] =
    "local n = 0\n"
    "for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  n = n + redis.call('DEL', 'session:' .. sid)\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return n\n";

static bool
valid_user_id(const char *user_id)
{
	if (user_id == NULL) {
		return false;
	}
	size_t n = strnlen(user_id, USER_ID_MAX + 1);
	return n >= 1 && n <= USER_ID_MAX;
}

/* A sid is exactly the canonical base64url of SID_BYTES bytes. */
static bool
valid_sid(const char *sid, size_t len)
{
	uint8_t raw[SID_BYTES];
	size_t n;
	if (len != SID_LEN || memchr(sid, '\0', len) != NULL) {
		return false;
	}
	return core_b64url_decode(sid, len, raw, sizeof(raw), &n) == 0 &&
	       n == SID_BYTES;
}

/* Splits "<sid>.<secret>" strictly. 0, or -1 for anything else. */
static int
parse_token(
    const char *token, char sid[AUTH_SID_MAX], uint8_t secret[SECRET_BYTES])
{
	size_t n;
	if (token == NULL || strnlen(token, TOKEN_LEN + 1) != TOKEN_LEN ||
	    token[SID_LEN] != '.' || !valid_sid(token, SID_LEN)) {
		return -1;
	}
	// The decoder rejects a second '.' and anything outside base64url.
	if (core_b64url_decode(token + SID_LEN + 1, SECRET_LEN, secret,
	        SECRET_BYTES, &n) != 0 ||
	    n != SECRET_BYTES) {
		sodium_memzero(secret, SECRET_BYTES);
		return -1;
	}
	memcpy(sid, token, SID_LEN);
	sid[SID_LEN] = '\0';
	return 0;
}

static void
hash_secret(const uint8_t secret[SECRET_BYTES], char hex[HASH_HEX + 1])
{
	uint8_t h[HASH_BYTES];
	crypto_generichash(h, sizeof(h), secret, SECRET_BYTES, NULL, 0);
	sodium_bin2hex(hex, HASH_HEX + 1, h, sizeof(h));
}

/* A fresh secret as base64url text and the hex hash stored for it. */
static void
new_secret(char text[SECRET_LEN + 1], char hex[HASH_HEX + 1])
{
	uint8_t raw[SECRET_BYTES];
	randombytes_buf(raw, sizeof(raw));
	// Cannot fail: text has room for exactly this encoding.
	(void) core_b64url_encode(raw, sizeof(raw), text, SECRET_LEN + 1);
	hash_secret(raw, hex);
	sodium_memzero(raw, sizeof(raw));
}

/* Copies src (NULL = "") into dst, cut to fit without splitting a UTF-8
 * sequence. */
static void
copy_cstr(char *dst, size_t cap, const char *src)
{
	size_t len = src != NULL ? strnlen(src, cap) : 0;
	size_t n = len < cap - 1 ? len : cap - 1;
	if (n < len) {
		while (n > 0 && ((unsigned char) src[n] & 0xC0) == 0x80) {
			n--;
		}
	}
	if (n > 0) {
		memcpy(dst, src, n);
	}
	dst[n] = '\0';
}

static int
parse_i64(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		return -1;
	}
	*out = (int64_t) v;
	return 0;
}

static bool
is_str(const redisReply *e)
{
	return e != NULL && e->type == REDIS_REPLY_STRING && e->str != NULL;
}

/* The string of a reply, or NULL when it is none. */
static const char *
str_of(const redisReply *e)
{
	return is_str(e) ? e->str : NULL;
}

/* The number a reply holds, or 0 when it holds none. */
static int64_t
i64_of(const redisReply *e)
{
	int64_t v = 0;
	return is_str(e) && parse_i64(e->str, &v) == 0 ? v : 0;
}

/* Fills s; strings are cut to fit (NULL = ""). */
static void
session_set(auth_session *s, const char *sid, const char *user_id,
    int64_t created_ms, int64_t last_used_ms, const char *ip, const char *ua)
{
	memset(s, 0, sizeof(*s));
	copy_cstr(s->sid, sizeof(s->sid), sid);
	copy_cstr(s->user_id, sizeof(s->user_id), user_id);
	s->created_ms = created_ms;
	s->last_used_ms = last_used_ms;
	copy_cstr(s->client_ip, sizeof(s->client_ip), ip);
	copy_cstr(s->user_agent, sizeof(s->user_agent), ua);
}

core_status
auth_session_create(core_redis *r, const char *user_id, const char *client_ip,
    const char *user_agent, int ttl_s, char token[AUTH_REFRESH_TOKEN_MAX],
    char sid[AUTH_SID_MAX])
{
	return auth_session_create_amr(r, user_id, client_ip, user_agent,
	    CORE_AMR_PWD, ttl_s, token, sid);
}

core_status
auth_session_create_amr(core_redis *r, const char *user_id,
    const char *client_ip, const char *user_agent, unsigned amr, int ttl_s,
    char token[AUTH_REFRESH_TOKEN_MAX], char sid[AUTH_SID_MAX])
{
	uint8_t raw[SID_BYTES];
	char id[AUTH_SID_MAX], secret[SECRET_LEN + 1], hash[HASH_HEX + 1];
	char skey[KEY_MAX], ukey[KEY_MAX], now[24], ttl[16], ip[64], ua[256];
	char amr_text[16];
	redisReply *rep[7] = {NULL};

	if (!valid_user_id(user_id) || ttl_s <= 0) {
		return CORE_INVALID_ARGUMENT;
	}
	// 128 random bits: a collision with a live sid is not a concern.
	randombytes_buf(raw, sizeof(raw));
	(void) core_b64url_encode(raw, sizeof(raw), id, sizeof(id));
	new_secret(secret, hash);
	copy_cstr(ip, sizeof(ip), client_ip);
	copy_cstr(ua, sizeof(ua), user_agent);
	snprintf(skey, sizeof(skey), "session:%s", id);
	snprintf(ukey, sizeof(ukey), "user_sessions:%s", user_id);
	snprintf(now, sizeof(now), "%lld", (long long) core_unix_ms());
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	snprintf(amr_text, sizeof(amr_text), "%u", amr);

	const char *multi[] = {"MULTI"};
	const char *hset[] = {"HSET", skey, "user_id", user_id, "cur", hash,
	    "cur2", "", "prev", "", "old", "", "rotated_ms", now, "prev_used",
	    "0", "created_ms", now, "last_used_ms", now, "ip", ip, "ua", ua,
	    "amr", amr_text};
	const char *expire[] = {"EXPIRE", skey, ttl};
	const char *sadd[] = {"SADD", ukey, id};
	// The set lives at least as long as its longest-lived session: NX
	// gives a new set a TTL, GT only ever lengthens it.
	const char *expire_nx[] = {"EXPIRE", ukey, ttl, "NX"};
	const char *expire_gt[] = {"EXPIRE", ukey, ttl, "GT"};
	const char *exec[] = {"EXEC"};
	const char *const *argvs[] = {
	    multi, hset, expire, sadd, expire_nx, expire_gt, exec};
	const int argcs[] = {1, 26, 3, 3, 4, 4, 1};

	// MULTI/EXEC: a connection lost before EXEC stores nothing.
	core_status st = core_redis_pipeline(r, 7, argcs, argvs, NULL, rep);
	if (st != CORE_OK) {
		goto done;
	}
	const redisReply *ex = rep[6];
	if (ex->type != REDIS_REPLY_ARRAY || ex->elements != 5) {
		st = core_redis_unexpected(r, "sessions.create");
		goto done;
	}
	for (size_t i = 0; i < ex->elements; i++) {
		if (ex->element[i]->type == REDIS_REPLY_ERROR) {
			st = core_redis_unexpected(r, "sessions.create");
			goto done;
		}
	}
	snprintf(token, AUTH_REFRESH_TOKEN_MAX, "%s.%s", id, secret);
	memcpy(sid, id, SID_LEN + 1);
done:
	for (size_t i = 0; i < 7; i++) {
		freeReplyObject(rep[i]);
	}
	sodium_memzero(secret, sizeof(secret));
	return st;
}

/* Reads the script's answer into *result and, on success, s. */
static core_status
refresh_reply(core_redis *r, const redisReply *rep, const char *sid,
    int64_t now, auth_session *s, auth_refresh_result *result)
{
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER) {
		return core_redis_unexpected(r, "sessions.refresh");
	}
	long long code = rep->element[0]->integer;
	if (code == 1) {
		*result = AUTH_REFRESH_INVALID;
		return CORE_OK;
	}
	if (code == 2 && rep->elements == 2 && is_str(rep->element[1])) {
		// The caller may want to audit whose session was revoked.
		if (s != NULL) {
			session_set(
			    s, sid, rep->element[1]->str, 0, 0, NULL, NULL);
		}
		*result = AUTH_REFRESH_REUSED;
		return CORE_OK;
	}
	int64_t created, amr = 0;
	if (code != 0 || rep->elements != 6 || !is_str(rep->element[1]) ||
	    !is_str(rep->element[2]) || !is_str(rep->element[3]) ||
	    !is_str(rep->element[4]) || !is_str(rep->element[5]) ||
	    parse_i64(rep->element[2]->str, &created) != 0) {
		return core_redis_unexpected(r, "sessions.refresh");
	}
	if (s != NULL) {
		session_set(s, sid, rep->element[1]->str, created, now,
		    rep->element[3]->str, rep->element[4]->str);
		/* A session from before amr was kept was a password's. */
		s->amr = rep->element[5]->str[0] != '\0' &&
		                 parse_i64(rep->element[5]->str, &amr) == 0 &&
		                 amr > 0
		             ? (unsigned) amr
		             : CORE_AMR_PWD;
	}
	*result = AUTH_REFRESH_OK;
	return CORE_OK;
}

core_status
auth_session_refresh(core_redis *r, const char *token, int64_t grace_ms,
    int ttl_s, char new_token[AUTH_REFRESH_TOKEN_MAX], auth_session *s,
    auth_refresh_result *result)
{
	char sid[AUTH_SID_MAX], skey[KEY_MAX];
	uint8_t secret[SECRET_BYTES];
	char presented[HASH_HEX + 1], fresh[SECRET_LEN + 1];
	char fresh_hash[HASH_HEX + 1], now[24], grace[24], ttl[16];
	redisReply *rep = NULL;

	if (ttl_s <= 0) {
		return CORE_INVALID_ARGUMENT;
	}
	// A malformed token never reaches Redis.
	if (parse_token(token, sid, secret) != 0) {
		*result = AUTH_REFRESH_INVALID;
		return CORE_OK;
	}
	hash_secret(secret, presented);
	sodium_memzero(secret, sizeof(secret));
	new_secret(fresh, fresh_hash);
	int64_t t = core_unix_ms();
	snprintf(skey, sizeof(skey), "session:%s", sid);
	snprintf(now, sizeof(now), "%lld", (long long) t);
	snprintf(grace, sizeof(grace), "%lld",
	    (long long) (grace_ms > 0 ? grace_ms : 0));
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);

	const char *argv[] = {"EVAL", refresh_lua, "1", skey, presented,
	    fresh_hash, now, grace, ttl, sid};
	// Plain EVAL: the script is small and Redis caches its compilation;
	// EVALSHA would add a NOSCRIPT fallback path for no real gain.
	core_status st = core_redis_commandargv(r, 10, argv, NULL, &rep);
	if (st == CORE_OK) {
		st = refresh_reply(r, rep, sid, t, s, result);
	}
	if (st == CORE_OK && *result == AUTH_REFRESH_OK) {
		snprintf(
		    new_token, AUTH_REFRESH_TOKEN_MAX, "%s.%s", sid, fresh);
	}
	freeReplyObject(rep);
	sodium_memzero(fresh, sizeof(fresh));
	return st;
}

/* Runs a command whose answer is an integer, into *out (may be NULL). */
static core_status
command_int(core_redis *r, const char *what, int argc, const char **argv,
    long long *out)
{
	redisReply *rep;
	core_status st = core_redis_commandargv(r, argc, argv, NULL, &rep);
	if (st != CORE_OK) {
		return st;
	}
	if (rep->type != REDIS_REPLY_INTEGER) {
		st = core_redis_unexpected(r, what);
	} else if (out != NULL) {
		*out = rep->integer;
	}
	freeReplyObject(rep);
	return st;
}

bool
auth_session_sid_valid(const char *sid)
{
	return sid != NULL && valid_sid(sid, strnlen(sid, SID_LEN + 1));
}

/* Runs a command on session:<sid> (put at argv[key_at]) whose answer is
 * an integer, into *n. A malformed sid names no session: *n = 0 without a
 * Redis call. */
static core_status
session_int(core_redis *r, const char *sid, const char *what, int argc,
    const char **argv, int key_at, long long *n)
{
	char skey[KEY_MAX];
	*n = 0;
	if (!auth_session_sid_valid(sid)) {
		return CORE_OK;
	}
	snprintf(skey, sizeof(skey), "session:%s", sid);
	argv[key_at] = skey;
	return command_int(r, what, argc, argv, n);
}

core_status
auth_session_revoke(
    core_redis *r, const char *sid, const char *user_id, int *deleted)
{
	long long n;
	const char *argv[] = {"EVAL", revoke_lua, "1", NULL, sid,
	    user_id != NULL ? "1" : "0", user_id != NULL ? user_id : ""};
	core_status st = session_int(r, sid, "revoke", 7, argv, 3, &n);
	if (st == CORE_OK && deleted != NULL) {
		*deleted = n != 0;
	}
	return st;
}

core_status
auth_session_revoke_all(core_redis *r, const char *user_id, int *count)
{
	char ukey[KEY_MAX];
	long long n = 0;

	if (!valid_user_id(user_id)) {
		return CORE_INVALID_ARGUMENT;
	}
	snprintf(ukey, sizeof(ukey), "user_sessions:%s", user_id);
	const char *argv[] = {"EVAL", revoke_all_lua, "1", ukey};
	core_status st = command_int(r, "sessions.revoke_all", 4, argv, &n);
	if (st == CORE_OK && count != NULL) {
		*count = (int) n;
	}
	return st;
}

core_status
auth_session_exists(core_redis *r, const char *sid, int *exists)
{
	long long n;
	const char *argv[] = {"EXISTS", NULL};
	core_status st = session_int(r, sid, "exists", 2, argv, 1, &n);
	if (st == CORE_OK) {
		*exists = n != 0;
	}
	return st;
}

/* Newest first; ties broken by sid so the order is stable. */
static int
by_created_desc(const void *a, const void *b)
{
	const auth_session *x = a;
	const auth_session *y = b;
	if (x->created_ms != y->created_ms) {
		return x->created_ms > y->created_ms ? -1 : 1;
	}
	return strcmp(x->sid, y->sid);
}

/* Fills one list entry from HMGET user_id created_ms last_used_ms ip ua.
 * 0, or -1 when the session is gone or not the user's (a stale sid). */
static int
list_entry(
    const redisReply *h, const char *user_id, const char *sid, auth_session *s)
{
	if (h->type != REDIS_REPLY_ARRAY || h->elements != 5 ||
	    !is_str(h->element[0]) ||
	    strcmp(h->element[0]->str, user_id) != 0) {
		return -1;
	}
	session_set(s, sid, user_id, i64_of(h->element[1]),
	    i64_of(h->element[2]), str_of(h->element[3]),
	    str_of(h->element[4]));
	return 0;
}

/* Reads sids[0..n) (n <= LIST_CHUNK) in one round trip, appending live
 * sessions to live[*nlive] and stale sids to stale[*nstale]. */
static core_status
list_chunk(core_redis *r, const char *user_id, const char **sids, int n,
    auth_session *live, size_t *nlive, const char **stale, size_t *nstale)
{
	char keys[LIST_CHUNK][KEY_MAX];
	const char *argv[LIST_CHUNK][7];
	const char *const *argvs[LIST_CHUNK];
	int argcs[LIST_CHUNK];
	redisReply *rep[LIST_CHUNK];

	for (int i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "session:%s", sids[i]);
		argv[i][0] = "HMGET";
		argv[i][1] = keys[i];
		argv[i][2] = "user_id";
		argv[i][3] = "created_ms";
		argv[i][4] = "last_used_ms";
		argv[i][5] = "ip";
		argv[i][6] = "ua";
		argvs[i] = argv[i];
		argcs[i] = 7;
	}
	core_status st = core_redis_pipeline(r, n, argcs, argvs, NULL, rep);
	if (st != CORE_OK) {
		return st;
	}
	for (int i = 0; i < n; i++) {
		if (rep[i]->type == REDIS_REPLY_ERROR) {
			st = core_redis_unexpected(r, "sessions.list");
		} else if (list_entry(
		               rep[i], user_id, sids[i], &live[*nlive]) == 0) {
			(*nlive)++;
		} else {
			stale[(*nstale)++] = sids[i];
		}
		freeReplyObject(rep[i]);
	}
	return st;
}

/* Best effort: a failed prune is retried by the next list. stale[0..1]
 * hold "SREM" and the set's key, then n - 2 members. */
static void
prune(core_redis *r, const char *user_id, const char **stale, size_t n)
{
	redisReply *rep = NULL;
	if (n > 2 &&
	    core_redis_commandargv(r, (int) n, stale, NULL, &rep) != CORE_OK) {
		core_log_kv(CORE_LOG_WARN,
		    "sessions: pruning stale sids failed", "user_id", user_id,
		    NULL);
	}
	freeReplyObject(rep);
}

/* Reads the sessions of the first total members of the user's set (ukey)
 * and writes the newest max of them to out[0..*n); prunes the members that
 * name no live session of the user. */
static core_status
list_members(core_redis *r, const char *user_id, const char *ukey,
    const redisReply *members, size_t total, auth_session *out, size_t max,
    size_t *n)
{
	// stale has room for the SREM command's two leading arguments.
	const char **sids = calloc(total + 1, sizeof(*sids));
	const char **stale = calloc(total + 2, sizeof(*stale));
	auth_session *live = calloc(total + 1, sizeof(*live));
	size_t nsids = 0, nstale = 2, nlive = 0;
	core_status st = CORE_RESOURCE_EXHAUSTED;
	if (sids == NULL || stale == NULL || live == NULL) {
		goto done;
	}
	stale[0] = "SREM";
	stale[1] = ukey;
	for (size_t i = 0; i < total; i++) {
		const redisReply *m = members->element[i];
		if (m->type == REDIS_REPLY_STRING &&
		    valid_sid(m->str, m->len)) {
			sids[nsids++] = m->str;
		} else if (m->type == REDIS_REPLY_STRING) {
			stale[nstale++] = m->str; // never one of ours
		}
	}
	st = CORE_OK;
	for (size_t i = 0; st == CORE_OK && i < nsids; i += LIST_CHUNK) {
		size_t k = nsids - i < LIST_CHUNK ? nsids - i : LIST_CHUNK;
		st = list_chunk(r, user_id, sids + i, (int) k, live, &nlive,
		    stale, &nstale);
	}
	if (st == CORE_OK) {
		prune(r, user_id, stale, nstale);
		qsort(live, nlive, sizeof(*live), by_created_desc);
		*n = nlive < max ? nlive : max;
		if (*n > 0) {
			memcpy(out, live, *n * sizeof(*live));
		}
	}
done:
	free(sids);
	free(stale);
	free(live);
	return st;
}

core_status
auth_session_list(core_redis *r, const char *user_id, auth_session *out,
    size_t max, size_t *n)
{
	char ukey[KEY_MAX];
	redisReply *members = NULL;

	if (!valid_user_id(user_id) || (out == NULL && max > 0)) {
		return CORE_INVALID_ARGUMENT;
	}
	snprintf(ukey, sizeof(ukey), "user_sessions:%s", user_id);
	const char *argv[] = {"SMEMBERS", ukey};
	core_status st = core_redis_commandargv(r, 2, argv, NULL, &members);
	if (st != CORE_OK) {
		return st;
	}
	size_t total = members->elements;
	if (members->type != REDIS_REPLY_ARRAY) {
		st = core_redis_unexpected(r, "sessions.list");
	} else if (total > LIST_SCAN_MAX) {
		core_log_kv(CORE_LOG_WARN,
		    "sessions: too many sessions, listing only some",
		    "user_id", user_id, NULL);
		total = LIST_SCAN_MAX;
	}
	if (st == CORE_OK) {
		st = list_members(
		    r, user_id, ukey, members, total, out, max, n);
	}
	freeReplyObject(members);
	return st;
}

core_status
auth_session_get(
    core_redis *r, const char *sid, const char *user_id, auth_session *s)
{
	const char *stale[1];
	size_t nlive = 0, nstale = 0;
	if (!auth_session_sid_valid(sid) || !valid_user_id(user_id)) {
		return CORE_NOT_FOUND;
	}
	core_status st =
	    list_chunk(r, user_id, &sid, 1, s, &nlive, stale, &nstale);
	return st == CORE_OK && nlive == 0 ? CORE_NOT_FOUND : st;
}
