#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/pbfield.h"
#include "registry.h"
#include "filters.h"
#include "routes.h"

/* Adding an endpoint is one row: method and path, the RPC method (whose
 * service answers), the request field that gets {id}, the flags, the
 * status of a success, and what the OpenAPI document says of it (its
 * operationId, summary, description and the errors its RPC answers
 * here). */
static edge_route routes[] = {
    {.method = "POST",
        .path = "/register",
        .rpc = "/auth.v1.AuthService/Register",
        .flags = ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_LOCATION,
        .success = 201,
        .op = "register",
        .summary = "Create an account",
        .about = "Creates a user with role user and sends a verification "
                 "mail. It does not log in: call POST /login next. An "
                 "email that already has an account is answered exactly "
                 "as a new one (a random id); no account is made and the "
                 "address's owner gets a mail saying someone tried.",
        .errors = "400 a member is missing or invalid (errors[] names "
                  "it); 409 the username is taken; 429 too many "
                  "registrations from this address, or the password "
                  "hasher is busy (Retry-After)"},
    {.method = "POST",
        .path = "/login",
        .rpc = "/auth.v1.AuthService/Login",
        .flags = ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_DEVICE_COOKIE |
                 ROUTE_SET_COOKIES,
        .success = 200,
        .op = "login",
        .summary = "Log in with a username and password",
        .about = "Answers an access token and a refresh token, in the "
                 "body and as cookies (with Token-Delivery: cookie only "
                 "as cookies), and a device token that exempts this "
                 "device from the throttle of failed logins of others. "
                 "For a user with two-factor login on: mfa_required and "
                 "an mfa_ticket instead, and no token or cookie (see POST "
                 "/login/mfa).",
        .errors = "400 a member is missing or invalid; 401 the username "
                  "or the password is wrong; 403 the account is "
                  "disabled, or (AUTH_REQUIRE_VERIFIED_EMAIL) its email "
                  "address is not verified yet; 429 too many failed "
                  "logins for this username, address or device "
                  "(Retry-After)"},
    {.method = "POST",
        .path = "/refresh",
        .rpc = "/auth.v1.AuthService/Refresh",
        .flags = ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_REFRESH_COOKIE |
                 ROUTE_SET_COOKIES,
        .success = 200,
        .op = "refresh",
        .summary = "New tokens for a refresh token",
        .about = "The refresh token comes from the body or, when the body "
                 "has none, from its cookie. Each refresh token works "
                 "once: the answer carries its successor, and using a "
                 "spent one ends the session.",
        .errors = "400 no refresh token; 401 the refresh token is "
                  "invalid, expired, spent or its session ended; 403 "
                  "the account is disabled"},
    {.method = "POST",
        .path = "/logout",
        .rpc = "/auth.v1.AuthService/Logout",
        .flags = ROUTE_AUTH | ROUTE_BODY | ROUTE_REFRESH_COOKIE |
                 ROUTE_CLEAR_COOKIES,
        .success = 200,
        .op = "logout",
        .summary = "Log out",
        .about = "Revokes the access token at once and ends its session; "
                 "expires the token cookies.",
        .errors = NULL},
    {.method = "GET",
        .path = "/profile",
        .rpc = "/user.v1.UserService/GetProfile",
        .flags = ROUTE_AUTH | ROUTE_ETAG,
        .success = 200,
        .op = "getProfile",
        .summary = "The caller's profile",
        .about = "Created on first access from the token. The ETag names "
                 "its version, for If-Match on updates.",
        .errors = NULL},
    {.method = "PUT",
        .path = "/profile",
        .rpc = "/user.v1.UserService/UpdateProfile",
        .flags = ROUTE_AUTH | ROUTE_BODY | ROUTE_ETAG | ROUTE_IF_MATCH,
        .success = 200,
        .op = "putProfile",
        .summary = "Change the caller's profile",
        .about = "Only the members sent change; the others keep their "
                 "value (PUT and PATCH behave the same). With If-Match, "
                 "only if the profile is still that version.",
        .errors = "400 a member is invalid (errors[] names it); 409 "
                  "other updates of this profile kept this one from "
                  "applying: try again"},
    {.method = "PATCH",
        .path = "/profile",
        .rpc = "/user.v1.UserService/UpdateProfile",
        .flags = ROUTE_AUTH | ROUTE_BODY | ROUTE_ETAG | ROUTE_IF_MATCH,
        .success = 200,
        .op = "patchProfile",
        .summary = "Change some of the caller's profile",
        .about = "Only the members sent change; the others keep their "
                 "value. With If-Match, only if the profile is still "
                 "that version.",
        .errors = "400 a member is invalid (errors[] names it); 409 "
                  "other updates of this profile kept this one from "
                  "applying: try again"},
    {.method = "POST",
        .path = "/email/verify",
        .rpc = "/auth.v1.AuthService/VerifyEmail",
        .flags = ROUTE_BODY,
        .success = 200,
        .op = "verifyEmail",
        .summary = "Prove the email address with the token of its mail",
        .about =
            "The token comes from the link of the verification mail "
            "(in its fragment, #/verify-email?token=...). It works once and for at "
            "most 24 hours; a newer mail voids it. New access tokens "
            "carry email_verified.",
        .errors = "400 the token is invalid, used or expired (the same "
                  "answer for each)"},
    {.method = "POST",
        .path = "/email/verify/resend",
        .rpc = "/auth.v1.AuthService/ResendVerification",
        .flags = ROUTE_AUTH,
        .success = 200,
        .op = "resendVerification",
        .summary = "Send the verification mail again",
        .about = "A new link goes to the caller's address; the links of "
                 "earlier mails stop working.",
        .errors = "400 the address is already verified; 429 too many "
                  "verification mails for this user (Retry-After)"},
    {.method = "GET",
        .path = "/sessions",
        .rpc = "/auth.v1.AuthService/ListSessions",
        .flags = ROUTE_AUTH,
        .success = 200,
        .op = "listSessions",
        .summary = "The caller's sessions",
        .about = "Every logged-in device or browser of the caller, newest "
                 "first; current marks the caller's own.",
        .errors = NULL},
    {.method = "GET",
        .path = "/sessions/current",
        .rpc = "/auth.v1.AuthService/GetCurrentSession",
        .flags = ROUTE_AUTH,
        .success = 200,
        .op = "getCurrentSession",
        .summary = "The session of the caller's token",
        .about = NULL,
        .errors = "404 the session has ended"},
    {.method = "DELETE",
        .path = "/sessions/{id}",
        .path_field = "session_id",
        .rpc = "/auth.v1.AuthService/RevokeSession",
        .flags = ROUTE_AUTH,
        .success = 200,
        .op = "revokeSession",
        .summary = "End one of the caller's sessions",
        .about = "Its refresh token stops working and its access tokens "
                 "are refused from now on.",
        .errors = "404 the caller has no such session"},
    {.method = "POST",
        .path = "/account/delete",
        .rpc = "/admin.v1.AdminService/DeleteAccount",
        .flags = ROUTE_AUTH | ROUTE_BODY | ROUTE_CLEAR_COOKIES,
        .success = 200,
        .op = "deleteAccount",
        .summary = "Delete the caller's account",
        .about = "Needs the current password. The profile, every session "
                 "and the user go; every access and refresh token of the "
                 "account is refused from now on; the token cookies "
                 "expire. The username and email may be registered "
                 "again (a new account, with a new id). The audit log "
                 "keeps the user id and the time only.",
        .errors = "400 current_password is missing or too long, or the "
                  "caller is the last active admin; 401 the password is "
                  "wrong (counted as a failed login); 429 too many "
                  "failed logins for this username or address, or the "
                  "password hasher is busy (Retry-After)"},
    {.method = "GET",
        .path = "/.well-known/jwks.json",
        .rpc = "/auth.v1.AuthService/GetJwks",
        .flags = ROUTE_JWKS,
        .success = 200,
        .op = "getJwks",
        .summary = "The public keys that verify access tokens",
        .about = "A JWK set (RFC 7517) of Ed25519 keys (RFC 8037); cache "
                 "it for as long as Cache-Control says.",
        .errors = NULL},
    {.method = "GET",
        .path = "/admin/users",
        .rpc = "/admin.v1.AdminService/ListUsers",
        .flags = ROUTE_AUTH | ROUTE_QUERY,
        .success = 200,
        .op = "adminListUsers",
        .summary = "List users (admin)",
        .about = "Ordered by username, a page at a time: pass "
                 "next_page_token as page_token for the next page.",
        .errors = "400 a parameter is invalid (errors[] names it); 403 "
                  "the caller is not an admin"},
    {.method = "GET",
        .path = "/admin/users/{id}",
        .path_field = "id",
        .rpc = "/admin.v1.AdminService/GetUser",
        .flags = ROUTE_AUTH,
        .success = 200,
        .op = "adminGetUser",
        .summary = "One user and their sessions (admin)",
        .about = NULL,
        .errors = "400 the id is not a user id; 403 the caller is not an "
                  "admin; 404 no such user"},
    {.method = "PATCH",
        .path = "/admin/users/{id}",
        .path_field = "id",
        .rpc = "/admin.v1.AdminService/UpdateUser",
        .flags = ROUTE_AUTH | ROUTE_BODY,
        .success = 200,
        .op = "adminUpdateUser",
        .summary = "Change a user's status or role (admin)",
        .about = "Disabling a user ends every session of theirs. Audited.",
        .errors = "400 a member is invalid, or the change would leave no "
                  "active admin; 403 the caller is not an admin; 404 no "
                  "such user"},
    {.method = "POST",
        .path = "/admin/users/{id}/revoke-sessions",
        .path_field = "id",
        .rpc = "/admin.v1.AdminService/RevokeSessions",
        .flags = ROUTE_AUTH | ROUTE_BODY,
        .success = 200,
        .op = "adminRevokeSessions",
        .summary = "End every session of a user (admin)",
        .about = "Audited.",
        .errors = "400 the id is not a user id; 403 the caller is not an "
                  "admin; 404 no such user"},
    {.method = "DELETE",
        .path = "/admin/users/{id}",
        .path_field = "id",
        .rpc = "/admin.v1.AdminService/DeleteUser",
        .flags = ROUTE_AUTH,
        .success = 200,
        .op = "adminDeleteUser",
        .summary = "Delete a user (admin)",
        .about = "As the user's own deletion, without their password: "
                 "profile, sessions and user go, their tokens stop "
                 "working at once. Audited.",
        .errors = "400 the id is not a user id, or the user is the last "
                  "active admin; 403 the caller is not an admin; 404 no "
                  "such user"},
    {.method = "GET",
        .path = "/admin/audit",
        .rpc = "/admin.v1.AdminService/ListAudit",
        .flags = ROUTE_AUTH | ROUTE_QUERY,
        .success = 200,
        .op = "adminListAudit",
        .summary = "The audit trail (admin)",
        .about = "Newest first, a page at a time; filter by actor, "
                 "target, action, kind (changes or reads) and time.",
        .errors = "400 a parameter is invalid (errors[] names it); 403 "
                  "the caller is not an admin"},
    {.method = "POST",
        .path = "/email",
        .rpc = "/auth.v1.AuthService/ChangeEmail",
        .flags = ROUTE_AUTH | ROUTE_BODY | ROUTE_CLIENT_INFO,
        .success = 200,
        .op = "changeEmail",
        .summary = "Move the caller's account to another email address",
        .about = "Needs the current password. A confirmation link goes "
                 "to the new address (#/confirm-email?token=..., valid "
                 "AUTH_EMAIL_CHANGE_TTL_S, 1 hour by default) and a "
                 "notice to the current one; the address changes only "
                 "when the link is used. When the new address has an "
                 "account the answer is the same, and the mail there "
                 "says so instead of carrying a link. A new request "
                 "voids the link of the previous one.",
        .errors = "400 a member is missing or invalid, or new_email is "
                  "the current address (errors[] names it); 401 the "
                  "password is wrong (counted as a failed login); 429 "
                  "too many failed logins for this username or address, "
                  "too many email changes, or the password hasher is "
                  "busy (Retry-After)"},
    {.method = "POST",
        .path = "/email/confirm",
        .rpc = "/auth.v1.AuthService/ConfirmEmailChange",
        .flags = ROUTE_BODY,
        .success = 200,
        .op = "confirmEmailChange",
        .summary = "Use an email change's link: the account gets the new "
                   "address",
        .about = "The token comes from the link of the mail sent to the "
                 "new address. It works once; the new address is then "
                 "verified, and the account's other mailed links (to the "
                 "old address) stop working. Access tokens issued before "
                 "keep their email_verified claim until a refresh.",
        .errors = "400 the token is invalid, used, voided or expired (the "
                  "same answer for each); 409 another account registered "
                  "the address after the change was asked for (nothing "
                  "changes; the link is spent)"},
    /* Passwords. */
    {.method = "POST",
        .path = "/password/forgot",
        .rpc = "/auth.v1.AuthService/ForgotPassword",
        .flags = ROUTE_BODY | ROUTE_CLIENT_INFO,
        .success = 202,
        .op = "forgotPassword",
        .summary = "Ask for a password reset link by mail",
        .about = "Answered alike, in status, body and time, whether an "
                 "account has the address or not; only an active "
                 "account's address gets a mail, whose link "
                 "(#/reset-password?token=...) works once, for at most "
                 "30 minutes, and is voided by a newer one.",
        .errors = "400 email is missing or not an address (errors[] "
                  "names it); 429 too many requests for this address or "
                  "from this client address (Retry-After)"},
    {.method = "POST",
        .path = "/password/reset",
        .rpc = "/auth.v1.AuthService/ResetPassword",
        .flags = ROUTE_BODY,
        .success = 200,
        .op = "resetPassword",
        .summary = "Set a new password with the token of a reset mail",
        .about = "Every session of the account ends and its access "
                 "tokens are refused from now on; a notice goes to the "
                 "account's address. It does not log in: call POST "
                 "/login next.",
        .errors = "400 the token is invalid, used, voided or expired "
                  "(the same answer for each), or new_password breaks a "
                  "rule (errors[] names it); 429 the password hasher is "
                  "busy (Retry-After)"},
    {.method = "POST",
        .path = "/password",
        .rpc = "/auth.v1.AuthService/ChangePassword",
        .flags =
            ROUTE_AUTH | ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_SET_COOKIES,
        .success = 200,
        .op = "changePassword",
        .summary = "Change the caller's password",
        .about = "Needs the current password. Every session ends and "
                 "every access token issued before is refused from now "
                 "on; the caller goes on in a new session whose tokens "
                 "are the answer (as a login's: in the body and as "
                 "cookies, with Token-Delivery: cookie only as cookies). "
                 "A notice goes to the account's address.",
        .errors = "400 a member is missing or invalid, or new_password "
                  "breaks a rule or is the current one (errors[] names "
                  "it); 401 the current password is wrong (counted as a "
                  "failed login); 403 the account is disabled; 429 too "
                  "many failed logins for this username or address, or "
                  "the password hasher is busy (Retry-After)"},
    /* ---- Two-factor login ---- */
    {.method = "POST",
        .path = "/login/mfa",
        .rpc = "/auth.v1.AuthService/LoginMfa",
        .flags = ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_DEVICE_COOKIE |
                 ROUTE_SET_COOKIES,
        .success = 200,
        .op = "loginMfa",
        .summary = "Complete a login with its second factor",
        .about = "For a user with two-factor login on, POST /login with "
                 "the right password answers mfa_required and an "
                 "mfa_ticket instead of tokens. This call takes the "
                 "ticket and either a current code of the authenticator "
                 "app or an unused recovery code, and answers as a "
                 "login does (tokens in the body and as cookies, and a "
                 "device token that exempts this device from the "
                 "throttle of wrong codes sent by others). The "
                 "ticket works once, for at most 5 minutes, only from "
                 "the client it was issued to, and not after a "
                 "password change. A code works once.",
        .errors = "400 the ticket is missing, or not exactly one of code "
                  "and recovery_code is given; 401 the ticket is "
                  "invalid, expired, used or another client's, or the "
                  "code is wrong or used; 403 the account is disabled; "
                  "429 too many wrong codes for this user, address or "
                  "device (Retry-After)"},
    {.method = "GET",
        .path = "/mfa",
        .rpc = "/auth.v1.AuthService/GetMfaStatus",
        .flags = ROUTE_AUTH,
        .success = 200,
        .op = "getMfaStatus",
        .summary = "Whether the caller's two-factor login is on",
        .about = "And how many unused recovery codes are left.",
        .errors = NULL},
    {.method = "POST",
        .path = "/mfa/totp",
        .rpc = "/auth.v1.AuthService/EnrollTotp",
        .flags = ROUTE_AUTH | ROUTE_BODY | ROUTE_CLIENT_INFO,
        .success = 200,
        .op = "enrollTotp",
        .summary = "Start turning two-factor login on",
        .about = "Needs the current password. Answers a new TOTP secret, "
                 "its otpauth:// URI and the URI as a QR code (SVG) for "
                 "an authenticator app. Nothing changes for logins until "
                 "POST /mfa/totp/confirm proves the app has the secret, "
                 "within 10 minutes; a new enrolment replaces a pending "
                 "one.",
        .errors = "400 current_password is missing or too long, or "
                  "two-factor login is on already; 401 the password is "
                  "wrong (counted as a failed login); 429 too many failed "
                  "logins for this username or address, or the password "
                  "hasher is busy (Retry-After)"},
    {.method = "POST",
        .path = "/mfa/totp/confirm",
        .rpc = "/auth.v1.AuthService/ConfirmTotp",
        .flags = ROUTE_AUTH | ROUTE_BODY | ROUTE_CLIENT_INFO,
        .success = 200,
        .op = "confirmTotp",
        .summary = "Turn two-factor login on with a first code",
        .about = "A current code of the app proves it has the secret of "
                 "the pending enrolment. Answers ten recovery codes, "
                 "shown this once: each works once in place of a code. "
                 "A notice goes to the account's address.",
        .errors = "400 the code is missing, or no enrolment is pending "
                  "(or it expired); 401 the code is wrong; 429 too many "
                  "wrong codes (Retry-After)"},
    {.method = "DELETE",
        .path = "/mfa/totp",
        .rpc = "/auth.v1.AuthService/DisableTotp",
        .flags = ROUTE_AUTH | ROUTE_BODY | ROUTE_CLIENT_INFO,
        .success = 200,
        .op = "disableTotp",
        .summary = "Turn two-factor login off",
        .about = "Proven by a current code or an unused recovery code "
                 "(which is then used up). The secret and the recovery "
                 "codes are deleted; a notice goes to the account's "
                 "address.",
        .errors = "400 not exactly one of code and recovery_code is "
                  "given, or two-factor login is not on; 401 the code is "
                  "wrong or used; 429 too many wrong codes "
                  "(Retry-After)"},
    {.method = "POST",
        .path = "/mfa/recovery-codes",
        .rpc = "/auth.v1.AuthService/RegenerateRecoveryCodes",
        .flags = ROUTE_AUTH | ROUTE_BODY | ROUTE_CLIENT_INFO,
        .success = 200,
        .op = "regenerateRecoveryCodes",
        .summary = "New recovery codes",
        .about = "Proven by a current code or an unused recovery code. "
                 "Answers ten new codes, shown this once; the earlier "
                 "ones stop working. A notice goes to the account's "
                 "address.",
        .errors = "400 not exactly one of code and recovery_code is "
                  "given, or two-factor login is not on; 401 the code is "
                  "wrong or used; 429 too many wrong codes "
                  "(Retry-After)"},
    {.method = "DELETE",
        .path = "/admin/users/{id}/mfa",
        .path_field = "id",
        .rpc = "/admin.v1.AdminService/ResetMfa",
        .flags = ROUTE_AUTH,
        .success = 200,
        .op = "adminResetMfa",
        .summary = "Turn a user's two-factor login off (admin)",
        .about = "For a user who lost their authenticator and their "
                 "recovery codes: their secret and codes are deleted, "
                 "and they are told by mail. was_enabled says whether it "
                 "was on. Audited.",
        .errors = "400 the id is not a user id; 403 the caller is not an "
                  "admin; 404 no such user"},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Whether the route's messages have the fields it writes: {id}'s field (a
 * string) and those its flags' filters use. Logged when not. */
static int
route_fields_check(const edge_route *rt)
{
	char buf[256];
	const char *why = edge_filters_check_route(rt, buf, sizeof(buf));
	const ProtobufCFieldDescriptor *f =
	    rt->path_field != NULL ? core_pb_field_find(rt->in, rt->path_field)
	                           : NULL;
	if (why == NULL && rt->path_field != NULL &&
	    (f == NULL || f->type != PROTOBUF_C_TYPE_STRING ||
	        f->label == PROTOBUF_C_LABEL_REPEATED)) {
		why = "{id} names no string field of the request";
	}
	if (why != NULL) {
		core_log_error("route %s %s: %s", rt->method, rt->path, why);
		return -1;
	}
	return 0;
}

int
edge_routes_init(void)
{
	for (size_t i = 0; i < N_ROUTES; i++) {
		const registry_service *svc;
		const ProtobufCMethodDescriptor *m;
		if (registry_find(routes[i].rpc, &svc, &m) != 0) {
			core_log_error("route %s %s: unknown method %s",
			    routes[i].method, routes[i].path, routes[i].rpc);
			return -1;
		}
		routes[i].backend = svc->target != NULL
		                        ? edge_backend_find(svc->target)
		                        : NULL;
		if (routes[i].backend == NULL) {
			core_log_error(
			    "route %s %s: %s is not a service of the "
			    "edge",
			    routes[i].method, routes[i].path, routes[i].rpc);
			return -1;
		}
		routes[i].in = m->input;
		routes[i].out = m->output;
		if (route_fields_check(&routes[i]) != 0) {
			return -1;
		}
		routes[i].index = (unsigned) i;
		snprintf(routes[i].name, sizeof(routes[i].name), "%s %s",
		    routes[i].method, routes[i].path);
	}
	return 0;
}

unsigned
edge_route_count(void)
{
	return (unsigned) N_ROUTES;
}

const char *
edge_route_name(unsigned i)
{
	return i < N_ROUTES ? routes[i].name : "";
}

const edge_route *
edge_route_at(unsigned i)
{
	return &routes[i];
}

/* Whether path matches pattern; one "{id}" segment in the pattern matches
 * one non-empty path segment of [A-Za-z0-9_-], copied to id. */
static bool
path_match(const char *pattern, const char *path, char *id, size_t idlen)
{
	const char *brace = strstr(pattern, "{id}");
	if (brace == NULL) {
		return strcmp(pattern, path) == 0;
	}
	size_t prefix = (size_t) (brace - pattern);
	if (strncmp(pattern, path, prefix) != 0) {
		return false;
	}
	const char *seg = path + prefix;
	size_t n = 0;
	while (seg[n] != '\0' && seg[n] != '/') {
		char c = seg[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '_';
		if (!ok) {
			return false;
		}
		n++;
	}
	if (n == 0 || n >= idlen || strcmp(brace + 4, seg + n) != 0) {
		return false;
	}
	memcpy(id, seg, n);
	id[n] = '\0';
	return true;
}

const edge_route *
edge_route_find(const char *method, const char *path, char *id, size_t idlen,
    bool *path_known, char *allow, size_t allowlen)
{
	*path_known = false;
	allow[0] = '\0';
	if (strcmp(method, "HEAD") == 0) {
		method = "GET";
	}
	const edge_route *found = NULL;
	for (size_t i = 0; i < N_ROUTES; i++) {
		if (!path_match(routes[i].path, path, id, idlen)) {
			continue;
		}
		*path_known = true;
		size_t used = strlen(allow);
		snprintf(allow + used, allowlen - used, "%s%s",
		    used ? ", " : "", routes[i].method);
		if (found == NULL && strcmp(routes[i].method, method) == 0) {
			found = &routes[i];
		}
	}
	return found;
}
