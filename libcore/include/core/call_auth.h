/* The call context's authentication: how a server checks the method rules
 * of core/rpc.h, written once for every service.
 *
 * For a method whose rule is not public the server, before the handler:
 *   1. takes the token of the "authorization: Bearer" metadata
 *      (UNAUTHENTICATED "a bearer token is required" without one);
 *   2. verifies it with the service's keys (verify: a JWKS cache, or
 *      svc-auth's own key ring) against issuer and audience
 *      (UNAUTHENTICATED "invalid or expired token");
 *   3. asks Redis whether it was revoked, in one round trip with the
 *      method's prefetch reads (UNAVAILABLE when Redis cannot say: fail
 *      closed; UNAUTHENTICATED when revoked, unless CORE_RULE_REVOKED_OK);
 *   4. CORE_RULE_ADMIN: is_admin (PERMISSION_DENIED "this needs the admin
 *      role"); CORE_RULE_RECENT_AUTH: the auth_time claim (PERMISSION_DENIED
 *      "this needs a recent sign-in ..."); callers: the caller's identity
 *      (PERMISSION_DENIED).
 * The reason of a refusal is logged, never told to the client. */
#ifndef CORE_CALL_AUTH_H
#define CORE_CALL_AUTH_H

#include <stdbool.h>

#include "core/jws.h"
#include "core/redis.h"
#include "core/revocation.h"
#include "core/rpc.h"

/* Verifies a token's signature and claims (core_jwt_verify's contract);
 * thread-safe. */
typedef core_jwt_result (*core_token_verify_fn)(void *arg, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason);

typedef struct core_call_auth {
	const char *issuer;   /* expected "iss" */
	const char *audience; /* expected "aud" */
	core_token_verify_fn verify;
	void *verify_arg;
	/* The worker's Redis connection (from its state), for revocation. */
	core_redis *(*redis)(void *state);
	/* Redis for the server's pipelined connection, which carries the
	 * reads of CORE_METHOD_INLINE_ON_PREFETCH methods (one connection
	 * and one thread more per server); NULL = no pipe, those methods
	 * run on workers. */
	const char *redis_url;
	/* Whether the user of claims is an admin now (CORE_RULE_ADMIN).
	 * Returns CORE_OK with *admin set, or the status of a failure to
	 * find out, with the client's message set on call (UNAVAILABLE, ...).
	 * NULL = CORE_RULE_ADMIN is refused on every call. */
	core_status (*is_admin)(
	    core_call *call, const core_jwt_claims *claims, bool *admin);
} core_call_auth;

/* The verify function for a JWKS cache (arg: the core_jwks_cache). */
core_jwt_result core_call_auth_jwks_verify(void *cache, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason);

/* Checks token as a method with rule would (rule's token flags only:
 * CORE_RULE_USER, CORE_RULE_REVOKED_OK, CORE_RULE_ADMIN,
 * CORE_RULE_RECENT_AUTH with the default age) and writes its claims to
 * *out. For a handler that gets a token another way than the metadata
 * (AuthService.CheckToken takes one in its request). The error status and
 * message are set on c as a refusal by the server would. */
core_status core_call_check_token(core_call *c, const char *token,
    unsigned rule, core_jwt_claims *out) CORE_WARN_UNUSED;

/* Whether the caller (core_call_claims) is an admin now, by the service's
 * is_admin. For handlers whose rule depends on the request (a user may act
 * on their own sessions, an admin on anyone's). Errors as is_admin's. */
core_status core_call_is_admin(core_call *c, bool *admin) CORE_WARN_UNUSED;

/* Reply i of the method's prefetch reads (see core_rpc_method.prefetch),
 * owned by the call (freed after the handler); NULL when there is none. */
const redisReply *core_call_prefetched(const core_call *c, int i);

/* The identity of the calling service as the transport authenticated it
 * (the commonName of its verified certificate over tls+tcp://: "edge",
 * "svc-admin", ...; over inproc:// the caller its URL names, core/inproc.h),
 * or NULL when it is not known (plain tcp://, ipc://, other inproc://). */
const char *core_call_peer(const core_call *c);

/* Whether the transport authenticated the caller: tls+tcp://, or an
 * in-process caller URL (core/inproc.h). Then a method's callers list
 * applies; plain transports are trusted (docs/rpc.md). */
bool core_call_tls(const core_call *c);

/* The end user's IP address as far as this server may believe it: the
 * client-ip metadata from the edge (or from a plain transport), else the
 * address of the connection the call came on; NULL when neither is known.
 * A TLS caller other than the edge cannot set it (its client-ip is
 * replaced by its own address before the rule and the handler run). */
const char *core_call_client_ip(const core_call *c);

#endif
