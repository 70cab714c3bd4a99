/* The rows of proto/rules.c (see rules.h) for two-factor login: its own
 * table, found by rules_find as the rows of rules.c are. */
#include "rules.h"
#include "rules_shared.h"

#define PASSWORD_MAX RULES_PASSWORD_MAX
#define TOTP_CODE_DESC                                                        \
	"The 6-digit code the authenticator app shows now. Each code works "  \
	"once."
#define RECOVERY_CODE_DESC                                                    \
	"One of the account's unused recovery codes (xxxxx-xxxxx; case, "     \
	"spaces and dashes do not matter). It is used up."
#define RECOVERY_CODES_DESC                                                   \
	"Ten recovery codes, shown only this once: each works once in place " \
	"of a code (keep them somewhere safe)."

/* One row per described field; rows of a message together, in the
 * message's field order, its own row first. */
const field_rule rules_mfa_rows[] = {
    {.message = "auth.v1.EnrollTotpRequest",
        .description = "The caller's password, to start turning two-factor "
                       "login on."},
    {.message = "auth.v1.EnrollTotpRequest",
        .field = "current_password",
        .flags = RULE_REQUIRED,
        .max_len = PASSWORD_MAX,
        .description = CURRENT_PASSWORD_DESC},
    {.message = "auth.v1.EnrollTotpRequest",
        .field = "client_ip",
        .description = CLIENT_IP_DESC},
    {.message = "auth.v1.EnrollTotpRequest",
        .field = "user_agent",
        .description = USER_AGENT_DESC},
    {.message = "auth.v1.EnrollTotpResponse",
        .description = "A new TOTP secret (RFC 6238: SHA-1, 6 digits, 30 "
                       "s), for an authenticator app."},
    {.message = "auth.v1.EnrollTotpResponse",
        .field = "secret",
        .min_len = 32,
        .max_len = 32,
        .pattern = "^[A-Z2-7]{32}$",
        .description = "The secret in base32, to type into an app that "
                       "cannot scan the QR code."},
    {.message = "auth.v1.EnrollTotpResponse",
        .field = "otpauth_uri",
        .format = "uri",
        .description = "The otpauth://totp/ URI of the secret (issuer, "
                       "username, algorithm, digits, period)."},
    {.message = "auth.v1.EnrollTotpResponse",
        .field = "qr_svg",
        .description = "otpauth_uri as a QR code: an SVG document."},
    {.message = "auth.v1.EnrollTotpResponse",
        .field = "expires_in",
        .description = "Seconds left to confirm the enrolment with a "
                       "first code."},

    {.message = "auth.v1.ConfirmTotpRequest",
        .description = "A first code of the app, proving it has the "
                       "secret."},
    {.message = "auth.v1.ConfirmTotpRequest",
        .field = "code",
        .flags = RULE_REQUIRED,
        .max_len = 16,
        .description = TOTP_CODE_DESC},
    {.message = "auth.v1.ConfirmTotpRequest",
        .field = "client_ip",
        .description = CLIENT_IP_DESC},
    {.message = "auth.v1.ConfirmTotpRequest",
        .field = "user_agent",
        .description = USER_AGENT_DESC},
    {.message = "auth.v1.ConfirmTotpResponse",
        .description = "Two-factor login is on."},
    {.message = "auth.v1.ConfirmTotpResponse",
        .field = "recovery_codes",
        .description = RECOVERY_CODES_DESC},

    {.message = "auth.v1.LoginMfaRequest",
        .description = "The ticket of a login that answered mfa_required, "
                       "and its second factor: exactly one of code and "
                       "recovery_code."},
    {.message = "auth.v1.LoginMfaRequest",
        .field = "mfa_ticket",
        .flags = RULE_REQUIRED,
        .max_len = 64,
        .description = "The mfa_ticket of the login's answer."},
    {.message = "auth.v1.LoginMfaRequest",
        .field = "code",
        .max_len = 16,
        .description = TOTP_CODE_DESC},
    {.message = "auth.v1.LoginMfaRequest",
        .field = "recovery_code",
        .max_len = 32,
        .description = RECOVERY_CODE_DESC},
    {.message = "auth.v1.LoginMfaRequest",
        .field = "client_ip",
        .description = CLIENT_IP_DESC},
    {.message = "auth.v1.LoginMfaRequest",
        .field = "user_agent",
        .description = USER_AGENT_DESC},
    {.message = "auth.v1.LoginMfaRequest",
        .field = "device_token",
        .description = "Optional: the device_token an earlier login of "
                       "this user returned on this device (browsers: the "
                       "edge takes it from its cookie). With it, wrong "
                       "codes sent by others for this user do not lock "
                       "this device out."},

    {.message = "auth.v1.DisableTotpRequest",
        .description = "Proof of the second factor: exactly one of code "
                       "and recovery_code."},
    {.message = "auth.v1.DisableTotpRequest",
        .field = "code",
        .max_len = 16,
        .description = TOTP_CODE_DESC},
    {.message = "auth.v1.DisableTotpRequest",
        .field = "recovery_code",
        .max_len = 32,
        .description = RECOVERY_CODE_DESC},
    {.message = "auth.v1.DisableTotpRequest",
        .field = "client_ip",
        .description = CLIENT_IP_DESC},
    {.message = "auth.v1.DisableTotpRequest",
        .field = "user_agent",
        .description = USER_AGENT_DESC},
    {.message = "auth.v1.DisableTotpResponse",
        .description = "Two-factor login is off."},

    {.message = "auth.v1.RegenerateRecoveryCodesRequest",
        .description = "Proof of the second factor: exactly one of code "
                       "and recovery_code."},
    {.message = "auth.v1.RegenerateRecoveryCodesRequest",
        .field = "code",
        .max_len = 16,
        .description = TOTP_CODE_DESC},
    {.message = "auth.v1.RegenerateRecoveryCodesRequest",
        .field = "recovery_code",
        .max_len = 32,
        .description = RECOVERY_CODE_DESC},
    {.message = "auth.v1.RegenerateRecoveryCodesRequest",
        .field = "client_ip",
        .description = CLIENT_IP_DESC},
    {.message = "auth.v1.RegenerateRecoveryCodesRequest",
        .field = "user_agent",
        .description = USER_AGENT_DESC},
    {.message = "auth.v1.RegenerateRecoveryCodesResponse",
        .description = "The new recovery codes; the earlier ones no longer "
                       "work."},
    {.message = "auth.v1.RegenerateRecoveryCodesResponse",
        .field = "recovery_codes",
        .description = RECOVERY_CODES_DESC},

    {.message = "auth.v1.GetMfaStatusRequest",
        .description = "Nothing: the caller's own account."},
    {.message = "auth.v1.GetMfaStatusResponse",
        .description = "The caller's two-factor login."},
    {.message = "auth.v1.GetMfaStatusResponse",
        .field = "totp_enabled",
        .description = "Whether a login needs a code after the "
                       "password."},
    {.message = "auth.v1.GetMfaStatusResponse",
        .field = "recovery_codes_left",
        .description = "Unused recovery codes (0 when two-factor login is "
                       "off)."},

    {.message = "admin.v1.ResetMfaRequest",
        .description = "The user whose two-factor login to turn off."},
    {.message = "admin.v1.ResetMfaRequest",
        .field = "id",
        .flags = RULE_REQUIRED,
        .format = "uuid",
        .description = "The user's id."},
    {.message = "admin.v1.ResetMfaResponse",
        .description = "The user's two-factor login is off."},
    {.message = "admin.v1.ResetMfaResponse",
        .field = "was_enabled",
        .description = "Whether it was on (false: it was off, or an "
                       "enrolment was only pending)."},
};

const size_t rules_mfa_n_rows =
    sizeof(rules_mfa_rows) / sizeof(rules_mfa_rows[0]);
