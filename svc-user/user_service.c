#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "auth/v1/auth.pb-c.h"
#include "user/v1/user.pb-c.h"

#include "core/call_auth.h"
#include "core/log.h"
#include "core/revocation.h"
#include "core/text.h"
#include "core/timestamp.h"
#include "profile_validate.h"
#include "profiles_repo.h"
#include "user_service.h"

/* Caches only accept a profile at least this new: written by each update,
 * so a reader that fetched the row before the update cannot put the old
 * version back into the cache (read-your-writes under concurrency). */
static const char fill_script[] =
    "local min = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "if tonumber(ARGV[2]) < min then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) return 1";

/* The series of user_profile_cache_total for the calling thread's
 * component, into cache[]. */
static void
cache_metrics_init(core_metric_series **cache)
{
	static const char *const labels[] = {"result", NULL};
	static const char *const results[USER_CACHE_N_RESULTS] = {
	    [USER_CACHE_HIT] = "hit",
	    [USER_CACHE_MISS] = "miss",
	    [USER_CACHE_ERROR] = "error",
	};
	core_metric *f = core_metric_family(CORE_METRIC_COUNTER,
	    "user_profile_cache_total",
	    "GetProfile's reads of the profile cache by result (a miss or an "
	    "error reads the database).",
	    labels, NULL, 0);
	for (int i = 0; i < USER_CACHE_N_RESULTS; i++) {
		const char *v[] = {results[i]};
		cache[i] = core_metric_series_get(f, NULL, v);
	}
}

void *
user_worker_init(void *arg)
{
	const user_config *cfg = arg;
	user_worker *w = core_store_worker_new(
	    sizeof(*w), cfg->database_url, cfg->redis_url);
	if (w != NULL) {
		w->cfg = cfg;
		cache_metrics_init(w->cache);
	}
	return w;
}

static core_status
unavailable(core_call *c, const char *what)
{
	return core_call_error(
	    c, CORE_UNAVAILABLE, "%s is unavailable; try again later", what);
}

static User__V1__Profile *
profile_message(core_arena *a, const user_profile *p)
{
	User__V1__Profile *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	user__v1__profile__init(m);
	m->user_id = core_arena_strdup(a, p->user_id);
	m->username = core_arena_strdup(a, p->username);
	m->display_name = core_arena_strdup(a, p->display_name);
	m->bio = core_arena_strdup(a, p->bio);
	m->avatar_url = core_arena_strdup(a, p->avatar_url);
	m->locale = core_arena_strdup(a, p->locale);
	m->version = p->version;
	m->created_at = core_timestamp_new(a, p->created_us);
	m->updated_at = core_timestamp_new(a, p->updated_us);
	bool ok = m->user_id && m->username && m->display_name && m->bio &&
	          m->avatar_url && m->locale && m->created_at && m->updated_at;
	return ok ? m : NULL;
}

/* Puts the profile into the cache, unless an update made it stale. A
 * failure only costs a later miss. */
static void
cache_fill(user_worker *w, const User__V1__Profile *m)
{
	size_t n = user__v1__profile__get_packed_size(m);
	uint8_t buf[8192];
	if (n > sizeof(buf)) {
		return;
	}
	user__v1__profile__pack(m, buf);
	char key[64], min_key[64], version[24], ttl[24];
	snprintf(key, sizeof(key), "profile:%s", m->user_id);
	snprintf(min_key, sizeof(min_key), "profile_min:%s", m->user_id);
	snprintf(version, sizeof(version), "%lld", (long long) m->version);
	/* Jitter spreads the expiries of profiles cached together. */
	int ttl_s = w->cfg->cache_ttl_s;
	ttl_s += (int) randombytes_uniform((uint32_t) (ttl_s / 10 + 1));
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	const char *argv[] = {"EVAL", fill_script, "2", key, min_key,
	    (const char *) buf, version, ttl};
	const size_t lens[] = {4, strlen(fill_script), 1, strlen(key),
	    strlen(min_key), n, strlen(version), strlen(ttl)};
	redisReply *rep = NULL;
	if (core_redis_commandargv(w->db.redis, 8, argv, lens, &rep) !=
	    CORE_OK) {
		core_log_warn("profile not cached");
	}
	freeReplyObject(rep);
}

/* GetProfile's cache read rides with the revocation check: one round trip
 * to Redis on a hit. */
static int
prefetch_profile(core_call *c, const core_jwt_claims *cl, core_redis_extra *x)
{
	char *key =
	    core_arena_printf(core_call_arena(c), "profile:%s", cl->sub);
	const char **get =
	    core_arena_alloc(core_call_arena(c), 2 * sizeof(*get));
	if (key == NULL || get == NULL) {
		return -1;
	}
	get[0] = "GET";
	get[1] = key;
	return core_redis_extra_add(x, 2, get) < 0 ? -1 : 0;
}

/* The token's role claim ("user", "admin": the REST names of auth.v1.Role
 * values, which svc-auth writes) as the enum; ROLE_UNSPECIFIED for a claim
 * that names none. */
static Auth__V1__Role
role_of_claim(const char *claim)
{
	if (strcmp(claim, "admin") == 0) {
		return AUTH__V1__ROLE__ROLE_ADMIN;
	}
	if (strcmp(claim, "user") == 0) {
		return AUTH__V1__ROLE__ROLE_USER;
	}
	return AUTH__V1__ROLE__ROLE_UNSPECIFIED;
}

/* The caller's profile, made on first access. A profile made now is
 * taken back unless the caller's token is still unrevoked: the token was
 * checked before the deletion of the account began (which revokes every
 * token first, then deletes the profile), so a first access racing the
 * deletion would otherwise leave a profile of a user who no longer
 * exists. If this insert came after the profile's deletion, the
 * revocation that preceded it is visible now; if it came before, the
 * deletion removes it. Errors are answered here. */
static core_status
profile_of_caller(core_call *c, user_profile *p)
{
	user_worker *w = core_call_state(c);
	const core_jwt_claims *cl = core_call_claims(c);
	bool created = false;
	core_status st = user_profiles_get_or_create(
	    w->db.pg, cl->sub, cl->username, p, &created);
	if (st == CORE_UNAVAILABLE) {
		return unavailable(c, "the profile database");
	}
	if (st != CORE_OK) {
		return core_call_error(
		    c, CORE_INTERNAL, "profiles: %s", core_status_str(st));
	}
	if (!created) {
		return CORE_OK;
	}
	bool revoked = true;
	st = core_revocation_check(w->db.redis, cl, NULL, &revoked);
	if (st == CORE_OK && !revoked) {
		return CORE_OK;
	}
	if (user_profiles_uncreate(w->db.pg, cl->sub, p->version) != CORE_OK) {
		core_log_kv(CORE_LOG_WARN,
		    "a profile made for a revoked token was not taken back",
		    "user_id", cl->sub, NULL);
	}
	if (st != CORE_OK) {
		return unavailable(c, "the revocation store");
	}
	return core_call_error(
	    c, CORE_UNAUTHENTICATED, "the token is revoked");
}

/* The cache series of a thread with no worker state (the server's Redis
 * pipe, which runs GetProfile on a hit): looked up on its first call,
 * the thread working for one component all its life. */
static core_metric_series **
thread_cache_metrics(void)
{
	static _Thread_local core_metric_series *cache[USER_CACHE_N_RESULTS];
	static _Thread_local bool ready;
	if (!ready) {
		cache_metrics_init(cache);
		ready = true;
	}
	return cache;
}

/* Inline on its read (CORE_METHOD_INLINE_ON_PREFETCH): a hit answers on
 * the read's completion; a miss or an error goes to a worker (the
 * database), which runs this again with the same replies, so a read is
 * counted once: where it is answered. */
static core_status
get_profile(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	User__V1__GetProfileResponse *resp =
	    (User__V1__GetProfileResponse *) out;
	user_worker *w = core_call_state(c);
	core_arena *a = core_call_arena(c);
	const core_jwt_claims *cl = core_call_claims(c);
	const redisReply *cached = core_call_prefetched(c, 0);
	User__V1__Profile *hit = NULL;
	if (cached != NULL && cached->type == REDIS_REPLY_STRING) {
		hit = user__v1__profile__unpack(core_arena_allocator(a),
		    cached->len, (const uint8_t *) cached->str);
	}
	if (hit == NULL && !core_call_may_block(c)) {
		return core_call_to_worker(c);
	}
	core_metric_series **cache =
	    w != NULL ? w->cache : thread_cache_metrics();
	core_metric_inc(
	    cache[hit != NULL ? USER_CACHE_HIT
	          : cached != NULL && cached->type == REDIS_REPLY_NIL
	              ? USER_CACHE_MISS
	              : USER_CACHE_ERROR]);
	resp->role = role_of_claim(cl->role);
	resp->email_verified = cl->email_verified;
	if ((resp->profile = hit) != NULL) {
		return CORE_OK; /* hit */
	}
	user_profile p;
	core_status st = profile_of_caller(c, &p);
	if (st != CORE_OK) {
		return st;
	}
	if ((resp->profile = profile_message(a, &p)) == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	cache_fill(w, resp->profile);
	return CORE_OK;
}

/* Reads the fields an update sets into u, checking each; every bad field
 * is reported. */
static core_status
read_update(core_call *c, const User__V1__UpdateProfileRequest *req,
    user_profile_update *u)
{
	static const struct {
		const char *name;
		const char *(*check)(const char *);
	} rules[] = {
	    {"display_name", user_display_name_check},
	    {"bio", user_bio_check},
	    {"avatar_url", user_avatar_url_check},
	    {"locale", user_locale_check},
	};
	const char *values[] = {
	    req->has_display_name_case ? req->display_name : NULL,
	    req->has_bio_case ? req->bio : NULL,
	    req->has_avatar_url_case ? req->avatar_url : NULL,
	    req->has_locale_case ? req->locale : NULL,
	};
	bool bad = false;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const char *e;
		if (values[i] != NULL &&
		    (e = rules[i].check(values[i])) != NULL) {
			core_call_field_error(c, rules[i].name, "%s", e);
			bad = true;
		}
	}
	u->display_name = values[0];
	u->bio = values[1];
	u->avatar_url = values[2];
	u->locale = values[3];
	if (req->has_expected_version_case) {
		u->expected_version = &req->expected_version;
	}
	return bad ? CORE_INVALID_ARGUMENT : CORE_OK;
}

/* Raises the cache's floor to this version, then drops the entry. If Redis
 * fails here the update stands; the entry expires by TTL. */
static void
cache_invalidate(user_worker *w, const char *user_id, int64_t version)
{
	char key[96], min_key[96], ver[24], ttl[24];
	snprintf(key, sizeof(key), "profile:%s", user_id);
	snprintf(min_key, sizeof(min_key), "profile_min:%s", user_id);
	snprintf(ver, sizeof(ver), "%lld", (long long) version);
	snprintf(ttl, sizeof(ttl), "%d", w->cfg->cache_ttl_s * 2);
	const char *set_min[] = {"SET", min_key, ver, "EX", ttl};
	const char *del[] = {"DEL", key};
	const char *const *argvs[] = {set_min, del};
	const int argcs[] = {5, 2};
	redisReply *reps[2] = {NULL, NULL};
	if (core_redis_pipeline(w->db.redis, 2, argcs, argvs, NULL, reps) !=
	    CORE_OK) {
		core_log_error("profile cache not invalidated after update");
	}
	freeReplyObject(reps[0]);
	freeReplyObject(reps[1]);
}

static core_status
update_profile(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const User__V1__UpdateProfileRequest *req =
	    (const User__V1__UpdateProfileRequest *) in;
	User__V1__UpdateProfileResponse *resp =
	    (User__V1__UpdateProfileResponse *) out;
	user_worker *w = core_call_state(c);
	const core_jwt_claims *cl = core_call_claims(c);
	user_profile_update u = {0};
	core_status st = read_update(c, req, &u);
	if (st != CORE_OK) {
		return st;
	}
	/* One round trip when the profile exists (the usual case); the first
	 * update of a never-read profile creates it first. */
	user_profile p;
	bool changed = false;
	st = user_profiles_update(w->db.pg, cl->sub, &u, &p, &changed);
	if (st == CORE_NOT_FOUND) {
		if ((st = profile_of_caller(c, &p)) != CORE_OK) {
			return st;
		}
		st = user_profiles_update(w->db.pg, cl->sub, &u, &p, &changed);
	}
	if (st == CORE_FAILED_PRECONDITION) {
		return core_call_error(c, CORE_FAILED_PRECONDITION,
		    "the profile has changed (version mismatch); reload it "
		    "and try again");
	}
	if (st == CORE_ABORTED) {
		return core_call_error(c, CORE_ABORTED,
		    "the profile is being changed by other requests; try "
		    "again");
	}
	if (st == CORE_UNAVAILABLE) {
		return unavailable(c, "the profile database");
	}
	if (st != CORE_OK) {
		return core_call_error(
		    c, CORE_INTERNAL, "profiles: %s", core_status_str(st));
	}
	if (changed) {
		/* Nothing changed, nothing cached went stale. */
		cache_invalidate(w, cl->sub, p.version);
	}
	if ((resp->profile = profile_message(core_call_arena(c), &p)) ==
	    NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}

/* Whether the caller may delete user_id's profile: their own with any
 * token of theirs that verifies (svc-auth calls this after the deletion
 * has revoked it), another user's only with a token that is not revoked
 * and carries the admin role (a change of role revokes the tokens that
 * carry the old one, so an unrevoked token's role is the user's role). */
static core_status
may_delete(core_call *c, const char *user_id)
{
	const core_jwt_claims *cl = core_call_claims(c);
	if (strcmp(user_id, cl->sub) == 0) {
		return CORE_OK;
	}
	const char *token = core_call_bearer(c);
	core_jwt_claims now;
	core_status st = core_call_check_token(
	    c, token != NULL ? token : "", CORE_RULE_USER, &now);
	if (st != CORE_OK) {
		return st;
	}
	if (strcmp(now.role, "admin") != 0) {
		return core_call_error(
		    c, CORE_PERMISSION_DENIED, "this needs the admin role");
	}
	return CORE_OK;
}

/* Drops the cached profile and raises the cache's floor past any version,
 * so that a reader that fetched the row before the deletion cannot put it
 * back into the cache. */
static core_status
cache_forget(user_worker *w, const char *user_id)
{
	char key[96], min_key[96], ttl[24];
	snprintf(key, sizeof(key), "profile:%s", user_id);
	snprintf(min_key, sizeof(min_key), "profile_min:%s", user_id);
	snprintf(ttl, sizeof(ttl), "%d", w->cfg->cache_ttl_s * 2);
	const char *set_min[] = {
	    "SET", min_key, "9223372036854775807", "EX", ttl};
	const char *del[] = {"DEL", key};
	const char *const *argvs[] = {set_min, del};
	const int argcs[] = {5, 2};
	redisReply *reps[2] = {NULL, NULL};
	core_status st =
	    core_redis_pipeline(w->db.redis, 2, argcs, argvs, NULL, reps);
	freeReplyObject(reps[0]);
	freeReplyObject(reps[1]);
	return st;
}

static core_status
delete_profile(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const User__V1__DeleteProfileRequest *req =
	    (const User__V1__DeleteProfileRequest *) in;
	User__V1__DeleteProfileResponse *resp =
	    (User__V1__DeleteProfileResponse *) out;
	user_worker *w = core_call_state(c);
	const char *id =
	    req->user_id[0] != '\0' ? req->user_id : core_call_claims(c)->sub;
	if (!core_uuid_valid(id)) {
		return core_call_field_error(
		    c, "user_id", "must be a user id (a UUID)");
	}
	core_status st = may_delete(c, id);
	if (st != CORE_OK) {
		return st;
	}
	bool deleted = false;
	st = user_profiles_delete(w->db.pg, id, &deleted);
	if (st == CORE_UNAVAILABLE) {
		return unavailable(c, "the profile database");
	}
	if (st != CORE_OK) {
		return core_call_error(
		    c, CORE_INTERNAL, "profiles: %s", core_status_str(st));
	}
	/* The row is gone; a cache entry left behind would show it again. */
	if (cache_forget(w, id) != CORE_OK) {
		return unavailable(c, "the profile cache");
	}
	resp->deleted = deleted;
	core_log_kv(CORE_LOG_INFO, "profile deleted", "user_id", id, "by",
	    core_call_claims(c)->sub, NULL);
	return CORE_OK;
}

/* DeleteProfile takes a revoked token (the user's own, revoked by the
 * account deletion that calls it), so it is for svc-auth, which makes that
 * call, and the operators only: from anyone else a logged-out user's token
 * would still delete their profile. No route of the edge reaches it. */
static const char *const delete_callers[] = {"svc-auth", "ops", NULL};

const core_rpc_method user_methods[USER_N_METHODS] = {
    {"/user.v1.UserService/GetProfile", get_profile,
        CORE_RULE_USER | CORE_METHOD_INLINE_ON_PREFETCH, 0, NULL,
        prefetch_profile},
    {"/user.v1.UserService/UpdateProfile", update_profile, CORE_RULE_USER, 0,
        NULL, NULL},
    {"/user.v1.UserService/DeleteProfile", delete_profile,
        CORE_RULE_USER | CORE_RULE_REVOKED_OK, 0, delete_callers, NULL},
};
