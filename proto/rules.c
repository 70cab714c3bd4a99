#include <stdio.h>
#include <string.h>

#include "rules.h"
#include "rules_shared.h"

/* The limits several rows share: a value that crosses services (svc-admin
 * hands ListUsers to svc-auth's AdminListUsers) is one number. */
enum {
	USERNAME_MIN = 3,
	USERNAME_MAX = 32,
	EMAIL_MIN = 3,
	EMAIL_MAX = 254, /* RFC 5321's path limit */
	PASSWORD_MIN = 8,
	PASSWORD_MAX = RULES_PASSWORD_MAX,
	QUERY_MAX = 254, /* the longest email */
	PAGE_SIZE_MAX = 200,
	AUDIT_FILTER_MAX = 128,
	DISPLAY_NAME_MAX = 64,
	BIO_MAX = 500,
	AVATAR_URL_MAX = 2048,
	LOCALE_MAX =
	    35, /* what RFC 5646 (4.4.1) asks every tag store to hold */
};

#define USERNAME_PATTERN "^[A-Za-z0-9_.-]+$"
/* A language of 2-3 letters, then subtags of 1-8 letters or digits. */
#define LOCALE_PATTERN "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
/* https://, a host that starts with neither '@' nor ':', and only
 * printable ASCII but '"', '<', '>' and '\' (user_avatar_url_check). */
#define AVATAR_URL_PATTERN "^https://[!$-.0-9;=A-\\[\\]-~][!#-;=?-\\[\\]-~]*$"

#define PAGE_SIZE_DESC "Entries per page, 1 to 200; 0 or absent: 50."
#define USER_STATUS_FILTER_DESC "Only users with this status; absent: any."
#define ROLE_FILTER_DESC "Only users with this role; absent: any."
#define QUERY_DESC                                                            \
	"Only users whose username or email contains this text (ignoring "    \
	"case; '%' and '_' match only themselves)."
#define PAGE_TOKEN_DESC                                                       \
	"Opaque: the next_page_token of the previous page, to continue "      \
	"after it; absent for the first page."
#define NEXT_PAGE_TOKEN_DESC                                                  \
	"Pass as page_token to get the next page; empty on the last page."

/* One row per described field. Keep rows of a message together, in the
 * message's field order, its own row first. */
static const field_rule rows[] = {
    /* ---- auth.v1 ------------------------------------------------------ */
    {.message = "auth.v1.User", .description = "A user account."},
    {.message = "auth.v1.User",
        .field = "id",
        .format = "uuid",
        .description = "The user's id, assigned at registration; never "
                       "changes."},
    {.message = "auth.v1.User",
        .field = "username",
        .description = "The login name, lower-cased as stored."},
    {.message = "auth.v1.User",
        .field = "email",
        .format = "email",
        .description = "The email address, lower-cased as stored."},
    {.message = "auth.v1.User",
        .field = "role",
        .description = "What the user may do: \"user\", or \"admin\" for "
                       "the admin API as well."},
    {.message = "auth.v1.User",
        .field = "status",
        .description = "\"active\", or \"disabled\": a disabled user "
                       "cannot log in or refresh."},
    {.message = "auth.v1.User",
        .field = "created_at",
        .description = "When the account was registered."},
    {.message = "auth.v1.User",
        .field = "updated_at",
        .description = "When the account (its role or status) last "
                       "changed."},
    {.message = "auth.v1.User",
        .field = "email_verified",
        .description = "Whether the user proved the email address (the "
                       "link of the verification mail)."},

    {.message = "auth.v1.RegisterRequest",
        .description = "A new account: the username must not be "
                       "registered yet. An email that has an account is "
                       "answered as a new one (its owner gets a mail "
                       "instead; no account is made)."},
    {.message = "auth.v1.RegisterRequest",
        .field = "username",
        .flags = RULE_REQUIRED,
        .min_len = USERNAME_MIN,
        .max_len = USERNAME_MAX,
        .pattern = USERNAME_PATTERN,
        .description = "The login name: letters, digits, '_', '.' and '-'; "
                       "stored lower-cased."},
    {.message = "auth.v1.RegisterRequest",
        .field = "email",
        .flags = RULE_REQUIRED,
        .min_len = EMAIL_MIN,
        .max_len = EMAIL_MAX,
        .format = "email",
        .description = "An email address (ASCII, no quoted parts or IP "
                       "literals); stored lower-cased."},
    {.message = "auth.v1.RegisterRequest",
        .field = "password",
        .flags = RULE_REQUIRED,
        .min_len = PASSWORD_MIN,
        .max_len = PASSWORD_MAX,
        .description = "No control characters; not the username (ignoring "
                       "case), not one of the most common passwords."},
    {.message = "auth.v1.RegisterRequest",
        .field = "client_ip",
        .description = CLIENT_IP_DESC},
    {.message = "auth.v1.RegisterRequest",
        .field = "user_agent",
        .description = USER_AGENT_DESC},

    {.message = "auth.v1.RegisterResponse",
        .description = "The account just created."},
    {.message = "auth.v1.RegisterResponse",
        .field = "user",
        .description = "The new user: role \"user\", status \"active\"."},

    {.message = "auth.v1.LoginRequest",
        .description = "A username and password, exchanged for tokens."},
    {.message = "auth.v1.LoginRequest",
        .field = "username",
        .flags = RULE_REQUIRED,
        .description = "The username given at registration, in any case."},
    {.message = "auth.v1.LoginRequest",
        .field = "password",
        .flags = RULE_REQUIRED,
        .max_len = PASSWORD_MAX,
        .description = "The account's password."},
    {.message = "auth.v1.LoginRequest",
        .field = "client_ip",
        .description = CLIENT_IP_DESC},
    {.message = "auth.v1.LoginRequest",
        .field = "user_agent",
        .description = USER_AGENT_DESC},
    {.message = "auth.v1.LoginRequest",
        .field = "device_token",
        .description = "Optional: the device_token an earlier login of "
                       "this user returned on this device (browsers: the "
                       "edge takes it from its cookie). With it, failed "
                       "guesses by others at this username do not lock "
                       "this device out."},

    {.message = "auth.v1.TokenResponse",
        .description = "Tokens, in the OAuth 2.0 token response shape "
                       "(RFC 6749 section 5.1). Browsers also get them "
                       "as HttpOnly cookies."},
    {.message = "auth.v1.TokenResponse",
        .field = "access_token",
        .description = "A JWT (EdDSA) to send as 'Authorization: Bearer "
                       "<token>'."},
    {.message = "auth.v1.TokenResponse",
        .field = "refresh_token",
        .description = "Opaque; exchanged once at POST /refresh for new "
                       "tokens. Using it a second time ends the session."},
    {.message = "auth.v1.TokenResponse",
        .field = "token_type",
        .description = "\"Bearer\" (empty while mfa_required)."},
    {.message = "auth.v1.TokenResponse",
        .field = "expires_in",
        .description = "Seconds until access_token expires."},
    {.message = "auth.v1.TokenResponse",
        .field = "refresh_expires_in",
        .description = "Seconds until refresh_token expires."},
    {.message = "auth.v1.TokenResponse",
        .field = "device_token",
        .description = "Login only (empty on refresh): proof of this "
                       "device for this user's later logins (send it as "
                       "device_token)."},
    {.message = "auth.v1.TokenResponse",
        .field = "device_token_expires_in",
        .description = "Login only: seconds until device_token "
                       "expires."},
    {.message = "auth.v1.TokenResponse",
        .field = "mfa_required",
        .description = "Login only: true when the password was right and "
                       "the account has two-factor login on. No token "
                       "is issued yet: complete the login at POST "
                       "/login/mfa with mfa_ticket and a code."},
    {.message = "auth.v1.TokenResponse",
        .field = "mfa_ticket",
        .description = "With mfa_required: the ticket for POST /login/mfa. "
                       "It works once, from this client only, until "
                       "mfa_ticket_expires_in."},
    {.message = "auth.v1.TokenResponse",
        .field = "mfa_ticket_expires_in",
        .description = "With mfa_required: seconds until mfa_ticket "
                       "expires."},

    {.message = "auth.v1.RefreshRequest",
        .description = "A refresh token, exchanged for new tokens; it is "
                       "used up."},
    {.message = "auth.v1.RefreshRequest",
        .field = "refresh_token",
        .description = "The refresh_token of the last login or refresh. "
                       "Browsers leave it out: the edge takes it from the "
                       "refresh cookie. Required otherwise."},
    {.message = "auth.v1.RefreshRequest",
        .field = "client_ip",
        .description = CLIENT_IP_DESC},
    {.message = "auth.v1.RefreshRequest",
        .field = "user_agent",
        .description = USER_AGENT_DESC},

    {.message = "auth.v1.LogoutRequest",
        .description = "Ends the caller's access token (from the "
                       "Authorization header or cookie)."},
    {.message = "auth.v1.LogoutRequest",
        .field = "refresh_token",
        .description = "Optional: also end the session of this refresh "
                       "token (browsers: the edge takes it from the "
                       "refresh cookie)."},
    {.message = "auth.v1.LogoutResponse", .description = "Logged out."},

    {.message = "auth.v1.GetJwksRequest", .description = "No fields."},
    {.message = "auth.v1.Jwk",
        .description = "One Ed25519 public key that verifies access "
                       "tokens (RFC 8037)."},
    {.message = "auth.v1.Jwk",
        .field = "kty",
        .description = "Key type: always \"OKP\"."},
    {.message = "auth.v1.Jwk",
        .field = "crv",
        .description = "Curve: always \"Ed25519\"."},
    {.message = "auth.v1.Jwk",
        .field = "x",
        .description = "The public key, base64url without padding."},
    {.message = "auth.v1.Jwk",
        .field = "kid",
        .description = "Key id (RFC 7638 thumbprint): the kid in the "
                       "header of the tokens it signed."},
    {.message = "auth.v1.Jwk",
        .field = "use",
        .description = "Always \"sig\"."},
    {.message = "auth.v1.Jwk",
        .field = "alg",
        .description = "Always \"EdDSA\"."},
    {.message = "auth.v1.GetJwksResponse",
        .description = "The public keys that verify access tokens."},
    {.message = "auth.v1.GetJwksResponse",
        .field = "keys",
        .description = "Every key whose tokens may still be valid."},
    {.message = "auth.v1.GetJwksResponse",
        .field = "json",
        .description = "The same set as a JWKS JSON document."},
    {.message = "auth.v1.GetJwksResponse",
        .field = "max_age_s",
        .description = "Seconds a verifier may use this set before asking "
                       "again."},

    {.message = "auth.v1.Session",
        .description = "A login: one refresh token chain, from login "
                       "until logout, expiry or revocation."},
    {.message = "auth.v1.Session",
        .field = "id",
        .description = "The session's id: what DELETE /sessions/{id} "
                       "takes."},
    {.message = "auth.v1.Session",
        .field = "user_id",
        .format = "uuid",
        .description = "The user the session belongs to."},
    {.message = "auth.v1.Session",
        .field = "created_at",
        .description = "When the session's login happened."},
    {.message = "auth.v1.Session",
        .field = "last_used_at",
        .description = "When its refresh token was last used (the login, "
                       "if never)."},
    {.message = "auth.v1.Session",
        .field = "client_ip",
        .description = "The client's address at the login or the last "
                       "refresh."},
    {.message = "auth.v1.Session",
        .field = "user_agent",
        .description = "The client's User-Agent at the login or the last "
                       "refresh."},
    {.message = "auth.v1.Session",
        .field = "current",
        .description = "True for the session of the caller's own access "
                       "token."},

    {.message = "auth.v1.ListSessionsRequest",
        .description = "Which user's sessions to list."},
    {.message = "auth.v1.ListSessionsRequest",
        .field = "user_id",
        .description = "Empty: the caller's own sessions. Another user's "
                       "id needs role admin."},
    {.message = "auth.v1.ListSessionsResponse",
        .description = "The user's live sessions."},
    {.message = "auth.v1.ListSessionsResponse",
        .field = "sessions",
        .description = "Every session that has not ended."},

    {.message = "auth.v1.RevokeSessionRequest",
        .description = "The session to end."},
    {.message = "auth.v1.RevokeSessionRequest",
        .field = "session_id",
        .flags = RULE_REQUIRED,
        .description = "A Session.id of the caller (an admin: of anyone). "
                       "Its refresh token stops working at once."},
    {.message = "auth.v1.RevokeSessionResponse",
        .description = "The session has ended."},

    {.message = "auth.v1.VerifyEmailRequest",
        .description = "The token of a verification mail's link (its "
                       "token= parameter)."},
    {.message = "auth.v1.VerifyEmailRequest",
        .field = "token",
        .description = "The one-time token. A wrong, used, expired or "
                       "other token is answered alike, without saying "
                       "which."},
    {.message = "auth.v1.VerifyEmailResponse",
        .description = "No fields: the caller's address is verified."},
    {.message = "auth.v1.ResendVerificationRequest",
        .description = "No fields: the mail goes to the caller's address."},
    {.message = "auth.v1.ResendVerificationResponse",
        .description = "No fields: a new verification mail is on its way; "
                       "the links of earlier ones no longer work."},
    {.message = "auth.v1.GetCurrentSessionRequest",
        .description = "No fields: the session is the caller's token's."},
    {.message = "auth.v1.GetCurrentSessionResponse",
        .description = "The session of the caller's access token."},
    {.message = "auth.v1.GetCurrentSessionResponse",
        .field = "session",
        .description = "The session (current is true). Not found when it "
                       "has ended while the access token is still "
                       "valid."},

    /* svc-admin's ListUsers hands its fields to this method unchanged:
     * the rows of admin.v1.ListUsersRequest must say the same. */
    {.message = "auth.v1.AdminListUsersRequest",
        .description = "A page of users, ordered by username."},
    {.message = "auth.v1.AdminListUsersRequest",
        .field = "query",
        .max_len = QUERY_MAX,
        .description = QUERY_DESC},
    {.message = "auth.v1.AdminListUsersRequest",
        .field = "status",
        .description = USER_STATUS_FILTER_DESC},
    {.message = "auth.v1.AdminListUsersRequest",
        .field = "role",
        .description = ROLE_FILTER_DESC},
    {.message = "auth.v1.AdminListUsersRequest",
        .field = "page_size",
        .flags = RULE_RANGE,
        .min = 0,
        .max = PAGE_SIZE_MAX,
        .description = PAGE_SIZE_DESC},
    {.message = "auth.v1.AdminListUsersRequest",
        .field = "page_token",
        .description = PAGE_TOKEN_DESC},

    /* admin.v1.DeleteAccount hands its password to this method. */
    {.message = "auth.v1.DeleteAccountRequest",
        .description = "The caller's password, to delete their account."},
    {.message = "auth.v1.DeleteAccountRequest",
        .field = "current_password",
        .flags = RULE_REQUIRED,
        .max_len = PASSWORD_MAX,
        .description = CURRENT_PASSWORD_DESC},

/* Email change (svc-auth/email_change.c): rows of their own file. */
#include "rules_email.inc"
/* Passwords (svc-auth/password.c): rows of their own file. */
#include "rules_password.inc"

    /* ---- user.v1 ------------------------------------------------------ */
    {.message = "user.v1.Profile",
        .description = "The caller's public profile."},
    {.message = "user.v1.Profile",
        .field = "user_id",
        .format = "uuid",
        .description = "The user's id (auth.v1.User.id)."},
    {.message = "user.v1.Profile",
        .field = "username",
        .description = "The login name, as it was at the profile's first "
                       "read; not editable here."},
    {.message = "user.v1.Profile",
        .field = "display_name",
        .description = "The name to show; empty until the user sets "
                       "one."},
    {.message = "user.v1.Profile",
        .field = "bio",
        .description = "Free text about the user; may contain line "
                       "breaks."},
    {.message = "user.v1.Profile",
        .field = "avatar_url",
        .description = "An https:// URL of the user's picture, or "
                       "empty."},
    {.message = "user.v1.Profile",
        .field = "locale",
        .description = "The preferred language, a BCP 47 tag (\"en\", "
                       "\"pt-BR\"), or empty."},
    {.message = "user.v1.Profile",
        .field = "version",
        .description = "Grows by one with every change: send it as "
                       "expected_version (or the ETag as If-Match) to "
                       "update only what you have seen."},
    {.message = "user.v1.Profile",
        .field = "created_at",
        .description = "When the profile was first read."},
    {.message = "user.v1.Profile",
        .field = "updated_at",
        .description = "When the profile last changed."},

    {.message = "user.v1.GetProfileRequest",
        .description = "No fields: the profile is the caller's."},
    {.message = "user.v1.GetProfileResponse",
        .description = "The caller's profile and role."},
    {.message = "user.v1.GetProfileResponse",
        .field = "profile",
        .description = "The profile; created with empty fields on the "
                       "first read."},
    {.message = "user.v1.GetProfileResponse",
        .field = "role",
        .description =
            "The caller's role (\"user\" or \"admin\") as "
            "their access token states it, so a frontend can decide what to offer; every "
            "admin method checks the role itself."},
    {.message = "user.v1.GetProfileResponse",
        .field = "email_verified",
        .description =
            "Whether the caller's email address was proven, as their access "
            "token states it: a token made before the address was verified "
            "says false until it is refreshed."},

    {.message = "user.v1.UpdateProfileRequest",
        .description = "The fields to change; absent fields keep their "
                       "value, an empty string clears one."},
    {.message = "user.v1.UpdateProfileRequest",
        .field = "display_name",
        .max_len = DISPLAY_NAME_MAX,
        .description = "The name to show; no control characters."},
    {.message = "user.v1.UpdateProfileRequest",
        .field = "bio",
        .max_len = BIO_MAX,
        .description = "Free text; line breaks and tabs allowed, other "
                       "control characters not."},
    {.message = "user.v1.UpdateProfileRequest",
        .field = "avatar_url",
        .max_len = AVATAR_URL_MAX,
        .pattern = AVATAR_URL_PATTERN,
        .format = "uri",
        .description = "An https:// URL with a host, printable ASCII "
                       "(percent-encode the rest), or empty."},
    {.message = "user.v1.UpdateProfileRequest",
        .field = "locale",
        .max_len = LOCALE_MAX,
        .pattern = LOCALE_PATTERN,
        .description = "A BCP 47 language tag (\"en\", \"pt-BR\", "
                       "\"zh-Hant-TW\"), or empty."},
    {.message = "user.v1.UpdateProfileRequest",
        .field = "expected_version",
        .description = "Optional: apply only if the stored version equals "
                       "this (else 412 / FAILED_PRECONDITION)."},
    {.message = "user.v1.UpdateProfileResponse",
        .description = "The profile after the update."},
    {.message = "user.v1.UpdateProfileResponse",
        .field = "profile",
        .description = "The updated profile (version grown by one if "
                       "anything changed)."},

    /* ---- admin.v1 ----------------------------------------------------- */
    {.message = "admin.v1.ListUsersRequest",
        .description = "A page of users, ordered by username."},
    {.message = "admin.v1.ListUsersRequest",
        .field = "query",
        .max_len = QUERY_MAX,
        .description = QUERY_DESC},
    {.message = "admin.v1.ListUsersRequest",
        .field = "status",
        .description = USER_STATUS_FILTER_DESC},
    {.message = "admin.v1.ListUsersRequest",
        .field = "role",
        .description = ROLE_FILTER_DESC},
    {.message = "admin.v1.ListUsersRequest",
        .field = "page_size",
        .flags = RULE_RANGE,
        .min = 0,
        .max = PAGE_SIZE_MAX,
        .description = PAGE_SIZE_DESC},
    {.message = "admin.v1.ListUsersRequest",
        .field = "page_token",
        .description = PAGE_TOKEN_DESC},
    {.message = "admin.v1.ListUsersResponse",
        .description = "One page of users."},
    {.message = "admin.v1.ListUsersResponse",
        .field = "users",
        .description = "The users of this page, ordered by username."},
    {.message = "admin.v1.ListUsersResponse",
        .field = "next_page_token",
        .description = NEXT_PAGE_TOKEN_DESC},
    {.message = "admin.v1.ListUsersResponse",
        .field = "total",
        .description = "How many users match the filters, all pages "
                       "together (the same on every page)."},

    {.message = "admin.v1.GetUserRequest", .description = "The user to show."},
    {.message = "admin.v1.GetUserRequest",
        .field = "id",
        .flags = RULE_REQUIRED,
        .format = "uuid",
        .description = "The user's id."},
    {.message = "admin.v1.GetUserResponse",
        .description = "A user and their live sessions."},
    {.message = "admin.v1.GetUserResponse",
        .field = "user",
        .description = "The user."},
    {.message = "admin.v1.GetUserResponse",
        .field = "sessions",
        .description = "Every session of the user that has not ended."},

    {.message = "admin.v1.UpdateUserRequest",
        .description = "A change of a user's status, role or both."},
    {.message = "admin.v1.UpdateUserRequest",
        .field = "id",
        .flags = RULE_REQUIRED,
        .format = "uuid",
        .description = "The user's id."},
    {.message = "admin.v1.UpdateUserRequest",
        .field = "status",
        .description = "\"active\" or \"disabled\"; disabling ends every "
                       "session of the user at once."},
    {.message = "admin.v1.UpdateUserRequest",
        .field = "role",
        .description = "\"user\" or \"admin\"; the user's access "
                       "tokens stop working, their refresh tokens get "
                       "tokens with the new role."},
    {.message = "admin.v1.UpdateUserResponse",
        .description = "The user after the change."},
    {.message = "admin.v1.UpdateUserResponse",
        .field = "user",
        .description = "The user as now stored."},

    {.message = "admin.v1.RevokeSessionsRequest",
        .description = "The user whose sessions all end."},
    {.message = "admin.v1.RevokeSessionsRequest",
        .field = "id",
        .flags = RULE_REQUIRED,
        .format = "uuid",
        .description = "The user's id. Their refresh tokens and access "
                       "tokens stop working at once."},
    {.message = "admin.v1.RevokeSessionsResponse",
        .description = "How many sessions ended."},
    {.message = "admin.v1.RevokeSessionsResponse",
        .field = "revoked",
        .description = "The number of sessions that ended."},

    {.message = "admin.v1.AuditEntry",
        .description = "One admin API call, allowed or refused, as the "
                       "audit log recorded it."},
    {.message = "admin.v1.AuditEntry",
        .field = "id",
        .description = "The entry's number; later entries have larger "
                       "ones."},
    {.message = "admin.v1.AuditEntry",
        .field = "time",
        .description = "When the call was made."},
    {.message = "admin.v1.AuditEntry",
        .field = "actor_id",
        .description = "The caller's user id (a UUID), or empty when the "
                       "caller's token could not be trusted."},
    {.message = "admin.v1.AuditEntry",
        .field = "actor_username",
        .description = "The caller's username, as their token stated it."},
    {.message = "admin.v1.AuditEntry",
        .field = "action",
        .description = "What was called, e.g. \"users.update\"."},
    {.message = "admin.v1.AuditEntry",
        .field = "target",
        .description = "The id of the user the call acted on, or empty."},
    {.message = "admin.v1.AuditEntry",
        .field = "outcome",
        .description = "\"ok\", \"denied\" (not allowed) or \"failed\"."},
    {.message = "admin.v1.AuditEntry",
        .field = "request_id",
        .description = "The X-Request-Id of the call: find it in the "
                       "logs."},
    {.message = "admin.v1.AuditEntry",
        .field = "client_ip",
        .description = "The caller's address."},
    {.message = "admin.v1.AuditEntry",
        .field = "detail",
        .description = "What the action changed, as an object."},
    {.message = "admin.v1.AuditEntry",
        .field = "target_username",
        .description = "The target's username now, looked up as the "
                       "page is read; absent for a deleted account."},
    {.message = "admin.v1.AuditEntry",
        .field = "target_deleted",
        .description = "The target account no longer exists."},

#include "rules_audit.inc"

    {.message = "admin.v1.DeleteUserRequest",
        .description = "The user to delete."},
    {.message = "admin.v1.DeleteUserRequest",
        .field = "id",
        .flags = RULE_REQUIRED,
        .format = "uuid",
        .description = "The user's id."},
    {.message = "admin.v1.DeleteUserResponse",
        .description = "The user is deleted."},

    {.message = "admin.v1.DeleteAccountRequest",
        .description = "Deleting an account needs its password."},
    {.message = "admin.v1.DeleteAccountRequest",
        .field = "current_password",
        .flags = RULE_REQUIRED,
        .max_len = PASSWORD_MAX,
        .description = CURRENT_PASSWORD_DESC},
    {.message = "admin.v1.DeleteAccountResponse",
        .description = "The account is deleted."},
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

/* The tables: this file's, then those of features that keep their rows
 * apart (rules_mfa.c). */
static const field_rule *
table(size_t i, size_t *n)
{
	switch (i) {
	case 0:
		*n = N_ROWS;
		return rows;
	case 1:
		*n = rules_mfa_n_rows;
		return rules_mfa_rows;
	default:
		*n = 0;
		return NULL;
	}
}

const field_rule *
rules_all(size_t *n)
{
	return table(0, n);
}

const field_rule *
rules_table(size_t i, size_t *n)
{
	return table(i, n);
}

const field_rule *
rules_find(const ProtobufCMessageDescriptor *d, const char *field)
{
	size_t n = 0;
	const field_rule *t;
	for (size_t k = 0; (t = table(k, &n)) != NULL; k++) {
		for (size_t i = 0; i < n; i++) {
			const field_rule *r = &t[i];
			if (strcmp(r->message, d->name) != 0) {
				continue;
			}
			if (field == NULL ? r->field == NULL
			                  : r->field != NULL &&
			                        strcmp(r->field, field) == 0) {
				return r;
			}
		}
	}
	return NULL;
}
