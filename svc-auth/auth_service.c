#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

#include "auth_service.h"
#include "auth_validate.h"
#include "core/log.h"
#include "users_repo.h"

void *
auth_worker_init(void *arg)
{
	const auth_config *cfg = arg;
	auth_worker *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return NULL;
	}
	w->cfg = cfg;
	/* Connections come up lazily if the servers are down now. */
	w->pg = core_pg_open(cfg->database_url);
	w->redis = core_redis_open(cfg->redis_url);
	if (w->pg == NULL || w->redis == NULL) {
		auth_worker_fini(w);
		return NULL;
	}
	return w;
}

void
auth_worker_fini(void *arg)
{
	auth_worker *w = arg;
	if (w == NULL) {
		return;
	}
	core_pg_close(w->pg);
	core_redis_close(w->redis);
	free(w);
}

bool
auth_health(void *arg)
{
	auth_worker *w = arg;
	return core_pg_ping(w->pg) && core_redis_ping(w->redis);
}

static Google__Protobuf__Timestamp *
timestamp(core_arena *a, int64_t us)
{
	Google__Protobuf__Timestamp *t = core_arena_alloc(a, sizeof(*t));
	if (t == NULL) {
		return NULL;
	}
	google__protobuf__timestamp__init(t);
	t->seconds = us / 1000000;
	t->nanos = (int32_t) (us % 1000000) * 1000;
	return t;
}

static Auth__V1__User *
user_message(core_arena *a, const auth_user *u)
{
	Auth__V1__User *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	auth__v1__user__init(m);
	m->id = core_arena_strdup(a, u->id);
	m->username = core_arena_strdup(a, u->username);
	m->email = core_arena_strdup(a, u->email);
	m->role = strcmp(u->role, "admin") == 0 ? AUTH__V1__ROLE__ROLE_ADMIN
	                                        : AUTH__V1__ROLE__ROLE_USER;
	m->status = strcmp(u->status, "disabled") == 0
	    ? AUTH__V1__USER_STATUS__USER_STATUS_DISABLED
	    : AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE;
	m->created_at = timestamp(a, u->created_us);
	m->updated_at = timestamp(a, u->updated_us);
	if (m->id == NULL || m->username == NULL || m->email == NULL ||
	    m->created_at == NULL || m->updated_at == NULL) {
		return NULL;
	}
	return m;
}

/* Maps a repository failure to the caller's status. */
static core_status
storage_error(core_call *c, core_status st)
{
	if (st == CORE_UNAVAILABLE) {
		return core_call_error(c, CORE_UNAVAILABLE,
		    "the account database is unavailable; try again later");
	}
	return core_call_error(c, CORE_INTERNAL, "users repository: %s",
	    core_status_str(st));
}

static core_status
register_user(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RegisterRequest *req =
	    (const Auth__V1__RegisterRequest *) in;
	Auth__V1__RegisterResponse *resp = (Auth__V1__RegisterResponse *) out;
	auth_worker *w = core_call_state(c);
	char username[AUTH_USERNAME_MAX + 1];
	char email[AUTH_EMAIL_MAX + 1];
	const char *e;
	bool bad = false;

	/* Every field is checked, so one answer names every problem. */
	if ((e = auth_username_normalize(req->username, username,
	         sizeof(username))) != NULL) {
		core_call_field_error(c, "username", "%s", e);
		bad = true;
	}
	if ((e = auth_email_normalize(req->email, email, sizeof(email))) !=
	    NULL) {
		core_call_field_error(c, "email", "%s", e);
		bad = true;
	}
	if ((e = auth_password_check(req->password, req->username)) != NULL) {
		core_call_field_error(c, "password", "%s", e);
		bad = true;
	}
	if (bad) {
		return CORE_INVALID_ARGUMENT;
	}

	char hash[crypto_pwhash_STRBYTES];
	if (crypto_pwhash_str_alg(hash, req->password, strlen(req->password),
	        w->cfg->argon2_opslimit, w->cfg->argon2_memlimit,
	        crypto_pwhash_ALG_ARGON2ID13) != 0) {
		/* Only fails when the memory for Argon2 is not there. */
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "the server is too busy to register now; try again");
	}
	auth_user u;
	core_status st = auth_users_insert(w->pg, username, email, hash, &u);
	sodium_memzero(hash, sizeof(hash));
	if (st == CORE_ALREADY_EXISTS) {
		/* Not saying which of the two is taken: see "Accounts" in
		 * docs/architecture.md. */
		return core_call_error(c, CORE_ALREADY_EXISTS,
		    "the username or the email is already registered");
	}
	if (st != CORE_OK) {
		return storage_error(c, st);
	}
	resp->user = user_message(core_call_arena(c), &u);
	if (resp->user == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	core_log_kv(CORE_LOG_INFO, "user registered", "user_id", u.id, NULL);
	return CORE_OK;
}

/* The published keys, as Jwk messages and as the JSON document the edge
 * serves. Any caller may ask: public keys are public. */
static core_status
get_jwks(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Auth__V1__GetJwksResponse *resp = (Auth__V1__GetJwksResponse *) out;
	auth_worker *w = core_call_state(c);
	auth_keyring *kr = w->cfg->keys;
	core_arena *a = core_call_arena(c);
	core_status st = CORE_OK;

	pthread_rwlock_rdlock(&kr->lock);
	resp->json = core_arena_strdup(a, kr->jwks_json ? kr->jwks_json : "");
	resp->keys = core_arena_calloc(a, kr->n_keys, sizeof(*resp->keys));
	for (size_t i = 0; resp->keys != NULL && i < kr->n_keys; i++) {
		Auth__V1__Jwk *k = core_arena_alloc(a, sizeof(*k));
		char x[CORE_B64URL_ENCODED_LEN(32) + 1];
		if (k == NULL ||
		    core_b64url_encode(kr->keys[i].pk, 32, x, sizeof(x)) != 0) {
			st = CORE_INTERNAL;
			break;
		}
		auth__v1__jwk__init(k);
		k->kty = "OKP";
		k->crv = "Ed25519";
		k->x = core_arena_strdup(a, x);
		k->kid = core_arena_strdup(a, kr->keys[i].kid);
		k->use = "sig";
		k->alg = "EdDSA";
		resp->keys[resp->n_keys++] = k;
	}
	pthread_rwlock_unlock(&kr->lock);
	if (st != CORE_OK || resp->json == NULL || resp->keys == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}

/* Descriptor order: Register, Login, Refresh, Logout, GetJwks, CheckToken,
 * ListSessions, RevokeSession, RotateKeys, ListKeys. */
const core_rpc_handler auth_handlers[AUTH_N_METHODS] = {
    register_user, NULL, NULL, NULL, get_jwks, NULL, NULL, NULL, NULL, NULL,
};
