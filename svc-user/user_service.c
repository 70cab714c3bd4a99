#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "user/v1/user.pb-c.h"

#include "core/log.h"
#include "core/timestamp.h"
#include "profile_validate.h"
#include "profiles_repo.h"
#include "user_service.h"

#define BAD_TOKEN "invalid or expired token"

/* Caches only accept a profile at least this new: written by each update,
 * so a reader that fetched the row before the update cannot put the old
 * version back into the cache (read-your-writes under concurrency). */
static const char fill_script[] =
    "local min = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "if tonumber(ARGV[2]) < min then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) return 1";

void *
user_worker_init(void *arg)
{
	user_worker *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return NULL;
	}
	w->cfg = arg;
	if (core_store_open(&w->db, w->cfg->database_url,
	        w->cfg->redis_url) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void
user_worker_fini(void *arg)
{
	user_worker *w = arg;
	if (w == NULL) {
		return;
	}
	core_store_close(&w->db);
	free(w);
}

bool
user_health(void *arg)
{
	user_worker *w = arg;
	return core_store_ping(&w->db);
}

static core_status
unavailable(core_call *c, const char *what)
{
	return core_call_error(c, CORE_UNAVAILABLE,
	    "%s is unavailable; try again later", what);
}

/* Verifies the caller's token locally (cached JWKS). */
static core_status
authenticate(core_call *c, core_jwt_claims *cl)
{
	user_worker *w = core_call_state(c);
	const char *token = core_call_bearer(c);
	if (token == NULL) {
		return core_call_error(c, CORE_UNAUTHENTICATED,
		    "a bearer token is required");
	}
	core_jwt_policy pol = {
	    .issuer = w->cfg->issuer, .audience = w->cfg->audience};
	const char *reason = "";
	core_jwt_result r =
	    core_jwks_cache_verify(w->cfg->jwks, token, &pol, cl, &reason);
	if (r != CORE_JWT_OK) {
		core_log_kv(CORE_LOG_INFO, "token rejected", "reason",
		    r == CORE_JWT_UNKNOWN_KID ? "unknown kid" : reason, NULL);
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	return CORE_OK;
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
	if (core_redis_commandargv(w->db.redis, 8, argv, lens, &rep) != CORE_OK) {
		core_log_warn("profile not cached");
	}
	freeReplyObject(rep);
}

static core_status
get_profile(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	User__V1__GetProfileResponse *resp = (User__V1__GetProfileResponse *) out;
	user_worker *w = core_call_state(c);
	core_arena *a = core_call_arena(c);
	core_jwt_claims cl;
	core_status st = authenticate(c, &cl);
	if (st != CORE_OK) {
		return st;
	}
	/* Revocation and the cached profile in one round trip. */
	char key[96];
	snprintf(key, sizeof(key), "profile:%s", cl.sub);
	const char *get[] = {"GET", key};
	const char *const *argvs[] = {get};
	const int argcs[] = {2};
	redisReply *cached = NULL;
	bool revoked = true;
	st = core_jwt_check_revoked_with(w->db.redis, &cl, 1, argcs, argvs,
	    &cached, &revoked);
	if (st != CORE_OK) {
		/* Without Redis nobody knows if the token was revoked: fail
		 * closed (docs/architecture.md). */
		return unavailable(c, "the session store");
	}
	if (revoked) {
		freeReplyObject(cached);
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	if ((resp->role = core_arena_strdup(a, cl.role)) == NULL) {
		freeReplyObject(cached);
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	if (cached->type == REDIS_REPLY_STRING) {
		resp->profile = user__v1__profile__unpack(core_arena_allocator(a),
		    cached->len, (const uint8_t *) cached->str);
	}
	freeReplyObject(cached);
	if (resp->profile != NULL) {
		return CORE_OK; /* hit */
	}
	user_profile p;
	st = user_profiles_get_or_create(w->db.pg, cl.sub, cl.username, &p);
	if (st == CORE_UNAVAILABLE) {
		return unavailable(c, "the profile database");
	}
	if (st != CORE_OK) {
		return core_call_error(c, CORE_INTERNAL, "profiles: %s",
		    core_status_str(st));
	}
	if ((resp->profile = profile_message(a, &p)) == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	cache_fill(w, resp->profile);
	return CORE_OK;
}

static core_status
update_profile(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const User__V1__UpdateProfileRequest *req =
	    (const User__V1__UpdateProfileRequest *) in;
	User__V1__UpdateProfileResponse *resp =
	    (User__V1__UpdateProfileResponse *) out;
	user_worker *w = core_call_state(c);
	core_jwt_claims cl;
	core_status st = authenticate(c, &cl);
	if (st != CORE_OK) {
		return st;
	}
	user_profile_update u = {0};
	const char *e;
	bool bad = false;
	if (req->has_display_name_case) {
		u.display_name = req->display_name;
		if ((e = user_display_name_check(u.display_name)) != NULL) {
			core_call_field_error(c, "display_name", "%s", e);
			bad = true;
		}
	}
	if (req->has_bio_case) {
		u.bio = req->bio;
		if ((e = user_bio_check(u.bio)) != NULL) {
			core_call_field_error(c, "bio", "%s", e);
			bad = true;
		}
	}
	if (req->has_avatar_url_case) {
		u.avatar_url = req->avatar_url;
		if ((e = user_avatar_url_check(u.avatar_url)) != NULL) {
			core_call_field_error(c, "avatar_url", "%s", e);
			bad = true;
		}
	}
	if (req->has_locale_case) {
		u.locale = req->locale;
		if ((e = user_locale_check(u.locale)) != NULL) {
			core_call_field_error(c, "locale", "%s", e);
			bad = true;
		}
	}
	if (req->has_expected_version_case) {
		u.expected_version = &req->expected_version;
	}
	if (bad) {
		return CORE_INVALID_ARGUMENT;
	}
	/* Revocation first: a logged-out token must not write. */
	bool revoked = true;
	if ((st = core_jwt_check_revoked(w->db.redis, &cl, &revoked)) != CORE_OK) {
		return unavailable(c, "the session store");
	}
	if (revoked) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	/* One round trip when the profile exists (the usual case); the first
	 * update of a never-read profile creates it first. */
	user_profile p;
	st = user_profiles_update(w->db.pg, cl.sub, &u, &p);
	if (st == CORE_NOT_FOUND) {
		st = user_profiles_get_or_create(w->db.pg, cl.sub, cl.username, &p);
		if (st == CORE_OK) {
			st = user_profiles_update(w->db.pg, cl.sub, &u, &p);
		}
	}
	if (st == CORE_FAILED_PRECONDITION) {
		return core_call_error(c, CORE_FAILED_PRECONDITION,
		    "the profile has changed (version mismatch); reload it "
		    "and try again");
	}
	if (st == CORE_UNAVAILABLE) {
		return unavailable(c, "the profile database");
	}
	if (st != CORE_OK) {
		return core_call_error(c, CORE_INTERNAL, "profiles: %s",
		    core_status_str(st));
	}
	/* Raise the cache's floor to this version, then drop the entry. If
	 * Redis fails here the update stands; the entry expires by TTL. */
	char key[96], min_key[96], version[24], ttl[24];
	snprintf(key, sizeof(key), "profile:%s", cl.sub);
	snprintf(min_key, sizeof(min_key), "profile_min:%s", cl.sub);
	snprintf(version, sizeof(version), "%lld", (long long) p.version);
	snprintf(ttl, sizeof(ttl), "%d", w->cfg->cache_ttl_s * 2);
	const char *set_min[] = {"SET", min_key, version, "EX", ttl};
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
	if ((resp->profile = profile_message(core_call_arena(c), &p)) == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}

/* Descriptor order: GetProfile, UpdateProfile. */
const core_rpc_handler user_handlers[USER_N_METHODS] = {
    get_profile,
    update_profile,
};
