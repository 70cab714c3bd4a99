/* What the handlers of two-factor login (mfa.c, mfa_login.c) share: the
 * caller's row, the client of a call, the throttle of second factors, the
 * check of a second factor and the notice mail. Internal to svc-auth's
 * mfa*.c files. */
#ifndef AUTH_MFA_FACTOR_H
#define AUTH_MFA_FACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth_worker.h"
#include "core/rpc.h"
#include "mail.h"
#include "mfa_repo.h"
#include "totp.h"
#include "users_repo.h"

#define AUTH_MFA_BAD_CODE "invalid code"
#define AUTH_MFA_ONE_PROOF "give exactly one of code and recovery_code"
#define AUTH_MFA_OFF "two-factor login is not on for this account"

/* Unix seconds, from the clock login.c mints tokens with. */
int64_t auth_mfa_now_s(void);

/* u's current password hash into hash (hashlen bytes), read again;
 * CORE_NOT_FOUND when u is gone. Nothing is answered on c. */
core_status auth_mfa_current_hash(
    core_call *c, const auth_user *u, char *hash, size_t hashlen);

/* The client of a call, bounded as login.c bounds it ("unknown" for no
 * address). */
void auth_mfa_client(
    const char *client_ip, const char *user_agent, char ip[64], char ua[256]);

/* The counters an attempt at a second factor is counted on. */
typedef struct auth_mfa_keys {
	char user_key[96];
	char ip_key[128];
	bool device; /* counted on device_key alone */
	char device_key[64];
} auth_mfa_keys;

/* Counts an attempt at a second factor of user_id from ip, before it is
 * checked and atomically, into k's keys: on the user's and the address's
 * counters, or, with device_id (a valid device token's; NULL: none), on
 * that device's alone. RESOURCE_EXHAUSTED with a retry-after (answered on
 * c) when over a limit. */
core_status auth_mfa_throttle(core_call *c, const char *user_id,
    const char *ip, const char *device_id, auth_mfa_keys *k);

/* The factor was right: the user's count is forgotten and the address
 * gets its hit back (or the device's count is forgotten). Best effort. */
void auth_mfa_succeeded(auth_worker *w, const auth_mfa_keys *k);

/* Opens a sealed secret with the KEK; INTERNAL (answered, logged) when it
 * does not open. */
core_status auth_mfa_unseal(core_call *c,
    const uint8_t sealed[AUTH_TOTP_SEALED_BYTES],
    uint8_t secret[AUTH_TOTP_SECRET_BYTES]);

/* Checks the second factor of user_id: exactly one of code (a current
 * TOTP code, of a step after the last one used, which it becomes) and
 * recovery (an unused recovery code, used up by this). Throttled per user
 * and address (ip), or per device (device_id, as auth_mfa_throttle). INVALID_ARGUMENT (not exactly one), FAILED_PRECONDITION
 * (two-factor login is off), UNAUTHENTICATED (wrong), RESOURCE_EXHAUSTED,
 * or a storage error; answered on c. */
core_status auth_mfa_check_factor(core_call *c, const char *user_id,
    const char *code, const char *recovery, const char *ip,
    const char *device_id);

/* The notice of change (one sentence) for u into m, and the view of it
 * the repo takes. */
core_status auth_mfa_notice(core_call *c, const auth_user *u,
    const char *change, auth_mail_msg *m, auth_mfa_mail *view);

/* The caller's row (the token's user) into *u; UNAUTHENTICATED when it is
 * gone. */
core_status auth_mfa_caller(core_call *c, auth_user *u);

#endif
