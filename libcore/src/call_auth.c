/* The method rules of a call, checked before its handler runs
 * (core/call_auth.h): token, revocation with the method's prefetched
 * reads, admin, recent authentication, calling service. */
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/jwks_cache.h"
#include "core/log.h"
#include "rpc_call.h"

#define NEED_TOKEN "a bearer token is required"
#define BAD_TOKEN "invalid or expired token"
#define STORE_DOWN "the session store is unavailable; try again later"
#define NEEDS_ADMIN "this needs the admin role"
#define NEEDS_RECENT                                                          \
	"this needs a recent sign-in: confirm your password and try again"
#define BAD_CALLER "this method does not accept calls from this service"

/* The outcome of the token steps, for the denied hook, and the read
 * between the two halves (rpc_call.h). */
typedef rpc_auth_step verdict;

core_jwt_result
core_call_auth_jwks_verify(void *cache, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason)
{
	return core_jwks_cache_verify(cache, token, pol, out, reason);
}

/* Refuses the call with code and msg for the client: one log line with
 * reason (static, also handed to the denied hook) and, when there is one,
 * detail (e.g. what was wrong with a token; for the log only). */
static core_status
refuse_why(core_call *c, verdict *v, const char *reason, const char *detail,
    core_status code, const char *msg)
{
	v->reason = reason;
	if (detail != NULL) {
		core_log_kv(CORE_LOG_INFO, "call refused", "method", c->method,
		    "reason", reason, "detail", detail, NULL);
	} else {
		core_log_kv(CORE_LOG_INFO, "call refused", "method", c->method,
		    "reason", reason, NULL);
	}
	return core_call_error(c, code, "%s", msg);
}

static core_status
refuse(core_call *c, verdict *v, const char *reason, core_status code,
    const char *msg)
{
	return refuse_why(c, v, reason, NULL, code, msg);
}

/* Signature and claims. */
static core_status
verify_token(core_call *c, const char *token, core_jwt_claims *cl, verdict *v)
{
	const core_call_auth *a = c->auth;
	if (token == NULL) {
		return refuse(
		    c, v, "no bearer token", CORE_UNAUTHENTICATED, NEED_TOKEN);
	}
	core_jwt_policy pol = {.issuer = a->issuer, .audience = a->audience};
	const char *why = "";
	core_jwt_result r = a->verify(a->verify_arg, token, &pol, cl, &why);
	if (r != CORE_JWT_OK) {
		/* What was wrong with it goes to the log only. */
		return refuse_why(c, v, "invalid token",
		    r == CORE_JWT_UNKNOWN_KID ? "unknown kid" : why,
		    CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	v->signed_ok = true;
	return CORE_OK;
}

/* Revocation, from the replies of v's read (read_st: how it went). */
static core_status
check_revoked(core_call *c, unsigned rule, const core_jwt_claims *cl,
    core_redis_extra *extra, verdict *v, core_status read_st, redisReply **rep)
{
	bool revoked = true;
	core_status st = !v->q_ok             ? CORE_INVALID_ARGUMENT
	                 : read_st != CORE_OK ? read_st
	                                      : core_revocation_eval(&v->q, cl,
	                                            rep, extra, &revoked);
	if (st != CORE_OK) {
		/* Fail closed: without an answer nobody knows (the detail of
		 * an unexpected reply is logged by the check). */
		return refuse(
		    c, v, "revocation unknown", CORE_UNAVAILABLE, STORE_DOWN);
	}
	if (revoked && (rule & CORE_RULE_REVOKED_OK) == 0) {
		return refuse(
		    c, v, "revoked token", CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	v->trusted = !revoked;
	return CORE_OK;
}

static core_status
check_admin(core_call *c, const core_jwt_claims *cl, verdict *v)
{
	bool admin = false;
	if (c->auth->is_admin == NULL) {
		return refuse(
		    c, v, "not an admin", CORE_PERMISSION_DENIED, NEEDS_ADMIN);
	}
	core_status st = c->auth->is_admin(c, cl, &admin);
	if (st != CORE_OK) {
		v->reason = "admin check failed";
		return st;
	}
	if (!admin) {
		return refuse(
		    c, v, "not an admin", CORE_PERMISSION_DENIED, NEEDS_ADMIN);
	}
	return CORE_OK;
}

static core_status
check_recent(
    core_call *c, const core_jwt_claims *cl, int max_age_s, verdict *v)
{
	int64_t now = core_unix_ms() / 1000;
	int64_t max = max_age_s > 0 ? max_age_s : CORE_RECENT_AUTH_DEFAULT_S;
	if (cl->auth_time <= 0 || now - cl->auth_time > max) {
		return refuse(c, v, "authentication too old",
		    CORE_PERMISSION_DENIED, NEEDS_RECENT);
	}
	return CORE_OK;
}

/* The method's list of calling services. Plain transports authenticate
 * nobody and are trusted as before (docs/rpc.md): the list binds calls
 * over tls+tcp://, where the identity is the verified certificate's. */
static core_status
check_caller(core_call *c, const char *const *callers, verdict *v)
{
	if (!core_call_tls(c)) {
		return CORE_OK;
	}
	const char *peer = core_call_peer(c);
	for (size_t i = 0; peer != NULL && callers[i] != NULL; i++) {
		if (strcmp(callers[i], peer) == 0) {
			return CORE_OK;
		}
	}
	/* A service calling what it may not is a misconfiguration or a
	 * compromised peer: a warning naming it and where it called from. */
	v->reason = "caller not allowed";
	core_log_kv(CORE_LOG_WARN, "call refused", "method", c->method,
	    "reason", v->reason, "caller",
	    peer != NULL ? peer : "(no identity)", "remote_ip", c->remote_ip,
	    NULL);
	return core_call_error(c, CORE_PERMISSION_DENIED, "%s", BAD_CALLER);
}

/* The steps of rule for token up to the revocation read, writing the
 * claims to *cl: the token verified, the prefetch commands added to
 * c->extra, the read built into v->q. */
static core_status
rule_start(core_call *c, const char *token,
    int (*prefetch)(
        core_call *, const core_jwt_claims *, struct core_redis_extra *),
    core_jwt_claims *cl, verdict *v)
{
	if (c->auth == NULL) {
		return refuse(c, v, "no token checking", CORE_INTERNAL,
		    "this server checks no tokens");
	}
	core_status st = verify_token(c, token, cl, v);
	if (st != CORE_OK) {
		return st;
	}
	core_redis_extra *x = NULL;
	if (prefetch != NULL) {
		x = &c->extra;
		if (prefetch(c, cl, x) != 0) {
			core_redis_extra_clear(x);
			v->reason = "prefetch failed";
			return core_call_error(c, CORE_INTERNAL,
			    "could not prepare the call's reads");
		}
	}
	/* A query that cannot be built is refused after the read would
	 * have been (rule_end), as the one-piece check did. */
	v->q_ok = core_revocation_query_build(&v->q, cl, x) == CORE_OK;
	v->pending = true;
	return CORE_OK;
}

/* The steps after the read (read_st and its replies rep, taken over):
 * revocation, admin, recent sign-in. */
static core_status
rule_end(core_call *c, unsigned rule, int max_age_s, bool prefetched,
    const core_jwt_claims *cl, verdict *v, core_status read_st,
    redisReply **rep)
{
	v->pending = false;
	core_status st = check_revoked(
	    c, rule, cl, prefetched ? &c->extra : NULL, v, read_st, rep);
	if (st != CORE_OK) {
		return st;
	}
	if ((rule & CORE_RULE_ADMIN) != 0 &&
	    (st = check_admin(c, cl, v)) != CORE_OK) {
		return st;
	}
	if ((rule & CORE_RULE_RECENT_AUTH) != 0) {
		st = check_recent(c, cl, max_age_s, v);
	}
	return st;
}

/* v's read on the calling worker's connection (one round trip). */
static core_status
read_sync(core_call *c, verdict *v, redisReply **rep)
{
	if (!v->q_ok) {
		return CORE_OK; /* rule_end refuses */
	}
	return core_redis_pipeline(
	    c->auth->redis(c->state), v->q.n, v->q.argc, v->q.argv, NULL, rep);
}

/* Every step of rule for token, writing the claims to *cl. */
static core_status
check_rule(core_call *c, const char *token, unsigned rule, int max_age_s,
    int (*prefetch)(
        core_call *, const core_jwt_claims *, struct core_redis_extra *),
    core_jwt_claims *cl, verdict *v)
{
	core_status st = rule_start(c, token, prefetch, cl, v);
	if (st != CORE_OK) {
		return st;
	}
	redisReply *rep[2 + CORE_REDIS_EXTRA_MAX] = {NULL};
	core_status read_st = read_sync(c, v, rep);
	return rule_end(
	    c, rule, max_age_s, prefetch != NULL, cl, v, read_st, rep);
}

/* The method's rule without the flags that are no rule. */
static unsigned
rule_of(const core_rpc_method *row)
{
	return row->rule & ~(unsigned) (CORE_METHOD_INLINE |
	                                CORE_METHOD_INLINE_ON_PREFETCH);
}

/* A refusal st with the verdict v: the service's denied hook decides. */
static core_status
denied(core_call *c, const core_rpc_service *svc, const ProtobufCMessage *in,
    core_status st, const verdict *v)
{
	if (st == CORE_OK || svc->denied == NULL) {
		return st;
	}
	core_call_denial d = {
	    .code = st,
	    .reason = v->reason ? v->reason : core_status_str(st),
	    .message = c->message,
	    .claims = v->signed_ok ? &c->claims : NULL,
	    .trusted = v->trusted,
	};
	return svc->denied(c, in, &d);
}

core_status
rpc_call_authorize_start(core_call *c, const core_rpc_service *svc,
    const core_rpc_method *row, const ProtobufCMessage *in, rpc_auth_step *a)
{
	*a = (rpc_auth_step){0};
	core_status st = CORE_OK;
	if (row->callers != NULL) {
		st = check_caller(c, row->callers, a);
	}
	if (st == CORE_OK && rule_of(row) != CORE_RULE_PUBLIC) {
		st = rule_start(
		    c, core_call_bearer(c), row->prefetch, &c->claims, a);
	}
	return denied(c, svc, in, st, a);
}

core_status
rpc_call_authorize_end(core_call *c, const core_rpc_service *svc,
    const core_rpc_method *row, const ProtobufCMessage *in, rpc_auth_step *a,
    core_status read_st, redisReply **rep)
{
	if (!a->pending) {
		return CORE_OK; /* public */
	}
	core_status st = rule_end(c, rule_of(row), row->max_auth_age_s,
	    row->prefetch != NULL, &c->claims, a, read_st, rep);
	c->has_claims = st == CORE_OK;
	return denied(c, svc, in, st, a);
}

core_status
rpc_call_authorize(core_call *c, const core_rpc_service *svc,
    const core_rpc_method *row, const ProtobufCMessage *in)
{
	rpc_auth_step a;
	core_status st = rpc_call_authorize_start(c, svc, row, in, &a);
	if (st != CORE_OK || !a.pending) {
		return st;
	}
	redisReply *rep[2 + CORE_REDIS_EXTRA_MAX] = {NULL};
	core_status read_st = read_sync(c, &a, rep);
	return rpc_call_authorize_end(c, svc, row, in, &a, read_st, rep);
}

void
rpc_call_release(core_call *c)
{
	core_redis_extra_clear(&c->extra);
}

core_status
core_call_check_token(
    core_call *c, const char *token, unsigned rule, core_jwt_claims *out)
{
	verdict v = {0};
	core_jwt_claims cl;
	core_status st =
	    check_rule(c, token, rule | CORE_RULE_USER, 0, NULL, &cl, &v);
	if (st == CORE_OK) {
		*out = cl;
	}
	return st;
}

core_status
core_call_is_admin(core_call *c, bool *admin)
{
	*admin = false;
	if (!c->has_claims || c->auth == NULL || c->auth->is_admin == NULL) {
		return CORE_OK;
	}
	return c->auth->is_admin(c, &c->claims, admin);
}

const redisReply *
core_call_prefetched(const core_call *c, int i)
{
	return i >= 0 && i < c->extra.n ? c->extra.reply[i] : NULL;
}
