/* svc-auth: serves auth.v1.AuthService on authdb and Redis. Wiring only:
 * configuration, migrations, the RPC server and its handlers (for its own
 * process, main.c, and for microcore); and the one-off command
 * "svc-auth promote-admin <username>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth_component.h"
#include "auth_metrics.h"
#include "auth_service.h"
#include "auth_worker.h"
#include "core/call_auth.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pg.h"
#include "core/service.h"
#include "device.h"
#include "keys.h"
#include "mail.h"
#include "mail_sender.h"
#include "promote_admin.h"
#include "ref_hash.h"
#include "totp.h"
#include "user_admin.h"

#ifndef AUTH_DEFAULT_MIGRATIONS_DIR
#define AUTH_DEFAULT_MIGRATIONS_DIR "svc-auth/migrations"
#endif
#ifndef AUTH_DEFAULT_MAIL_TEMPLATES_DIR
#define AUTH_DEFAULT_MAIL_TEMPLATES_DIR "svc-auth/mail"
#endif
#define AUTH_DEFAULT_DATABASE_URL                                             \
	"postgresql://postgres@127.0.0.1:55432/authdb"

static auth_config cfg;
static auth_keyring keyring;
static auth_ref_hash ref_hash;
static core_call_auth call_auth;
static const char *migrations_dir, *kek_text, *user_dial;
static long migrate_wait_s, argon2_t, argon2_m_kib;
static long access_ttl, refresh_ttl, grace_ms, max_user, max_ip, window_s;
static long jwks_max_age_s;
static long max_device, device_ttl;
static long reg_max_ip, reg_window_s, hash_slots, hash_queue;
static long verify_ttl, resend_max, resend_window_s;
static long email_change_ttl;
static long reset_ttl, forgot_max_email, forgot_max_ip, forgot_window_s;
static long forgot_min_ms;
static long smtp_timeout_s, mail_max_attempts, mail_retry_base_s, mail_poll_ms;
static const char *mail_templates_dir;
static long mfa_ticket_ttl, mfa_max_user, mfa_max_ip, mfa_window_s;
static auth_mail_sender_config mail_cfg;

/* Loads the mail templates and checks the SMTP settings: before anything
 * slow, so a mistake stops the start at once. */
static int
init_mail(void)
{
	char err[512];
	if (auth_mail_templates_load(mail_templates_dir, err, sizeof(err)) !=
	    0) {
		core_log_error("%s (AUTH_MAIL_TEMPLATES_DIR)", err);
		return -1;
	}
	const char *why = mail_cfg.smtp_url[0] == '\0'
	                      ? NULL
	                      : auth_mail_sender_check(&mail_cfg);
	if (why != NULL) {
		core_log_error("%s", why);
		auth_mail_templates_free();
		return -1;
	}
	return 0;
}

/* When AUTH_SMTP_URL is set, starts the outbox's sender (without one, mail
 * waits in the outbox for a replica that has one). */
static int
start_mail_sender(void)
{
	if (mail_cfg.smtp_url[0] == '\0') {
		core_log_warn(
		    "AUTH_SMTP_URL is not set: this process sends no "
		    "mail; it waits in the outbox");
		return 0;
	}
	mail_cfg.database_url = cfg.database_url;
	mail_cfg.timeout_s = (int) smtp_timeout_s;
	mail_cfg.max_attempts = (int) mail_max_attempts;
	mail_cfg.retry_base_s = (int) mail_retry_base_s;
	mail_cfg.poll_ms = (int) mail_poll_ms;
	return auth_mail_sender_start(&mail_cfg);
}

/* The device-token key, derived from the KEK (device.h), in read-only
 * memory for the life of the process. Returns 0, or -1 (logged). */
static int
init_device_key(const uint8_t *kek)
{
	uint8_t *key = sodium_malloc(AUTH_DEVICE_KEY_BYTES);
	if (key == NULL ||
	    auth_device_key_derive(kek, AUTH_KEK_BYTES, key) != 0) {
		core_log_error("cannot derive the device-token key");
		sodium_free(key);
		return -1;
	}
	sodium_mprotect_readonly(key);
	cfg.device_key = key;
	return 0;
}

/* Makes sure a signing key exists and loads the keyring, which keeps the
 * connection and the KEK for its reloads (unreadable between them); the
 * KEK's text is wiped from the environment or its file's copy. */
static int
init_keys(void)
{
	uint8_t *kek = sodium_malloc(AUTH_KEK_BYTES);
	core_pg *pg = core_pg_open(cfg.database_url);
	int rv = -1;
	if (kek == NULL || pg == NULL || auth_keyring_init(&keyring) != 0) {
		core_log_error("out of memory");
		goto done;
	}
	int parsed = auth_kek_parse(kek_text, kek);
	/* Its text is of no further use: out of the environment (and of
	 * /proc/PID/environ), or the file's copy wiped. */
	const core_config_item kek_item = {
	    "AUTH_KEK", "", CORE_CONFIG_STR, 0, 0, true, "", &kek_text};
	core_config_wipe(&kek_item, 1, "AUTH_KEK");
	if (parsed != 0) {
		core_log_error("AUTH_KEK must be 32 random bytes in base64 "
		               "(generate one with: head -c 32 /dev/urandom | "
		               "base64)");
		goto done;
	}
	if (init_device_key(kek) != 0) {
		goto done;
	}
	core_status st = auth_keys_ensure(pg, kek);
	if (st == CORE_OK) {
		st = auth_keys_load(pg, kek, &keyring);
	}
	if (st != CORE_OK || keyring.active_sk == NULL) {
		core_log_error(
		    "signing keys not ready: %s", core_status_str(st));
		goto done;
	}
	core_log_kv(CORE_LOG_INFO, "signing keys loaded", "active_kid",
	    keyring.active_kid, NULL);
	keyring.max_age_s = (int) jwks_max_age_s;
	keyring.pg = pg; /* the keyring's now, closed by fini */
	auth_keyring_take_kek(&keyring, kek);
	pg = NULL;
	kek = NULL;
	cfg.keys = &keyring;
	rv = 0;
done:
	sodium_free(kek);
	core_pg_close(pg);
	return rv;
}

/* The RPC worker count, as the service core reads it (the same variable
 * and default), or -1 when it is not valid (the core refuses to start). */
static long
rpc_workers(void)
{
	long n = 0;
	char err[128];
	const core_config_item item = {"RPC_WORKERS", "8", CORE_CONFIG_INT, 1,
	    1024, false, "handler threads", &n};
	return core_config_load(&item, 1, err, sizeof(err)) == 0 ? n : -1;
}

/* The password-hash gate. Workers that hash or wait for a hash are not
 * serving other calls (Refresh, CheckToken...), so slots plus queue are
 * kept below RPC_WORKERS: at least one worker is always free for them. */
static int
init_hash_gate(void)
{
	long workers = rpc_workers();
	long slots =
	    hash_slots > 0 ? hash_slots : sysconf(_SC_NPROCESSORS_ONLN);
	long queue = hash_queue;
	if (workers < 1) {
		return -1;
	}
	if (slots < 1) {
		slots = 1;
	}
	if (workers > 1 && slots > workers - 1) {
		core_log_warn("AUTH_HASH_CONCURRENCY %ld leaves no RPC worker "
		              "for other calls; using %ld (raise RPC_WORKERS)",
		    slots, workers - 1);
		slots = workers - 1;
	}
	long room = workers - slots - 1 > 0 ? workers - slots - 1 : 0;
	if (queue > room) {
		core_log_warn("AUTH_HASH_QUEUE %ld leaves no RPC worker for "
		              "other calls; using %ld (raise RPC_WORKERS)",
		    queue, room);
		queue = room;
	}
	cfg.hash_gate = auth_hash_gate_new((int) slots, (int) queue);
	if (cfg.hash_gate == NULL) {
		core_log_error("out of memory");
		return -1;
	}
	char s[24], q[24], free_w[24];
	snprintf(s, sizeof(s), "%ld", slots);
	snprintf(q, sizeof(q), "%ld", queue);
	snprintf(free_w, sizeof(free_w), "%ld", workers - slots - queue);
	core_log_kv(CORE_LOG_INFO, "password hashes bounded", "concurrent", s,
	    "queue", q, "workers_kept_free", free_w, NULL);
	return 0;
}

/* The client to svc-user (account deletion deletes the profile). */
static int
init_user_rpc(void)
{
	char buf[1024];
	const char *urls[8];
	int n = core_config_split(user_dial, buf, sizeof(buf), urls, 8);
	/* Over tls+tcp:// only a server that proves it is svc-user. */
	core_rpc_client_config cc = {.name = "user",
	    .urls = urls,
	    .n_urls = n > 0 ? (size_t) n : 0,
	    .peer_identity = "svc-user"};
	if (n <= 0 || core_rpc_client_new(&cc, &cfg.user_rpc) != 0) {
		core_log_error("bad configuration: USER_RPC_DIAL");
		return -1;
	}
	return 0;
}

/* Applies the migrations, retrying while the database is not reachable
 * (it may still be starting), for at most migrate_wait_s; loads the keys;
 * says how the method rules check tokens. */
static int
init_steps(void **app)
{
	cfg.access_ttl_s = (int) access_ttl;
	cfg.refresh_ttl_s = (int) refresh_ttl;
	cfg.refresh_grace_ms = (int) grace_ms;
	cfg.login_max_per_user = (int) max_user;
	cfg.login_max_per_ip = (int) max_ip;
	cfg.login_window_s = (int) window_s;
	cfg.login_max_per_device = (int) max_device;
	cfg.device_ttl_s = (int) device_ttl;
	cfg.register_max_per_ip = (int) reg_max_ip;
	cfg.register_window_s = (int) reg_window_s;
	cfg.verify_ttl_s = (int) verify_ttl;
	cfg.email_change_ttl_s = (int) email_change_ttl;
	cfg.verify_resend_max = (int) resend_max;
	cfg.verify_resend_window_s = (int) resend_window_s;
	cfg.reset_ttl_s = (int) reset_ttl;
	cfg.forgot_max_per_email = (int) forgot_max_email;
	cfg.forgot_max_per_ip = (int) forgot_max_ip;
	cfg.forgot_window_s = (int) forgot_window_s;
	cfg.forgot_min_ms = (int) forgot_min_ms;
	cfg.mfa_ticket_ttl_s = (int) mfa_ticket_ttl;
	cfg.mfa_max_per_user = (int) mfa_max_user;
	cfg.mfa_max_per_ip = (int) mfa_max_ip;
	cfg.mfa_window_s = (int) mfa_window_s;
	auth_metrics_init();
	if (sodium_init() < 0) {
		core_log_error("libsodium failed to initialise");
		return -1;
	}
	if (auth_totp_init() != 0) {
		core_log_error("liboath failed to initialise");
		return -1;
	}
	if (init_mail() != 0) {
		return -1;
	}
	if (core_pg_migrate_wait(
	        cfg.database_url, migrations_dir, migrate_wait_s) < 0) {
		return -1;
	}
	/* The gate last: nothing after it can fail. */
	if (init_user_rpc() != 0 || init_keys() != 0 ||
	    start_mail_sender() != 0 || init_hash_gate() != 0) {
		return -1;
	}
	/* Tokens are checked with the keyring, admins by authdb. */
	call_auth = (core_call_auth){
	    .issuer = cfg.issuer,
	    .audience = cfg.audience,
	    .verify = auth_keyring_verify,
	    .verify_arg = &keyring,
	    .redis = core_store_worker_redis,
	    .is_admin = auth_is_admin,
	};
	*app = &cfg;
	return 0;
}

/* The reference hash (ref_hash.h): its parameters are checked here, it is
 * computed once the server listens (started): not on the way to ready. */
static int
init(void **app)
{
	cfg.argon2_opslimit = (unsigned long long) argon2_t;
	cfg.argon2_memlimit = (size_t) argon2_m_kib * 1024;
	if (auth_ref_hash_init(
	        &ref_hash, cfg.argon2_opslimit, cfg.argon2_memlimit) != 0) {
		core_log_error("cannot compute an Argon2id hash with "
		               "AUTH_ARGON2_T/AUTH_ARGON2_M_KIB");
		return -1;
	}
	cfg.ref_hash = &ref_hash;
	int rc = init_steps(app);
	if (rc != 0) {
		auth_ref_hash_stop(&ref_hash);
	}
	return rc;
}

static void
started(void *app)
{
	(void) app;
	auth_ref_hash_compute(&ref_hash);
}

static void
fini(void *app)
{
	if (app != NULL) {
		auth_ref_hash_stop(&ref_hash);
		core_pg_close(keyring.pg);
		auth_keyring_fini(&keyring);
		sodium_free((void *) (uintptr_t) cfg.device_key);
		auth_hash_gate_free(cfg.hash_gate);
		core_rpc_client_free(cfg.user_rpc);
	}
	auth_mail_sender_stop();
	auth_mail_templates_free();
}

/* The value of the environment variable name, or def when it is unset or
 * empty (as core_config_load reads it). */
static const char *
env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : def;
}

/* Everything svc-auth reads from the environment (README.md has the
 * table). */
static const core_config_item config[] = {
    {"AUTH_DATABASE_URL", AUTH_DEFAULT_DATABASE_URL, CORE_CONFIG_STR, 0, 0,
        false, "authdb connection URL", &cfg.database_url},
    {"REDIS_URL", "redis://127.0.0.1:56379/0", CORE_CONFIG_STR, 0, 0, false,
        "Redis URL (sessions, blacklist, rate limits)", &cfg.redis_url},
    {"AUTH_MIGRATIONS_DIR", AUTH_DEFAULT_MIGRATIONS_DIR, CORE_CONFIG_STR, 0, 0,
        false, "directory of NNN_name.sql", &migrations_dir},
    {"AUTH_MIGRATE_WAIT_S", "30", CORE_CONFIG_INT, 0, 3600, false,
        "how long start-up waits for the database", &migrate_wait_s},
    {"AUTH_KEK", "", CORE_CONFIG_STR, 0, 0, true,
        "key-encryption key for the signing keys (32 bytes, base64)",
        &kek_text},
    {"AUTH_ISSUER", "http://127.0.0.1:8080", CORE_CONFIG_STR, 0, 0, false,
        "iss of access tokens", &cfg.issuer},
    {"AUTH_AUDIENCE", "microcore", CORE_CONFIG_STR, 0, 0, false,
        "aud of access tokens", &cfg.audience},
    {"AUTH_ACCESS_TTL_S", "900", CORE_CONFIG_INT, 1, 86400, false,
        "access token lifetime", &access_ttl},
    {"AUTH_JWKS_MAX_AGE_S", "60", CORE_CONFIG_INT, 1, 3600, false,
        "how long verifiers keep the public keys (a retired key is "
        "refused everywhere within it + 1 s)",
        &jwks_max_age_s},
    {"AUTH_REFRESH_TTL_S", "2592000", CORE_CONFIG_INT, 60, 31536000, false,
        "refresh token (session) lifetime", &refresh_ttl},
    {"AUTH_REFRESH_GRACE_MS", "10000", CORE_CONFIG_INT, 0, 600000, false,
        "window in which the previous refresh token still works", &grace_ms},
    {"AUTH_LOGIN_MAX_PER_USER", "10", CORE_CONFIG_INT, 1, 100000, false,
        "login attempts per username per window", &max_user},
    {"AUTH_LOGIN_MAX_PER_IP", "100", CORE_CONFIG_INT, 1, 1000000, false,
        "failed login attempts per client IP per window", &max_ip},
    {"AUTH_LOGIN_MAX_PER_DEVICE", "5", CORE_CONFIG_INT, 1, 100000, false,
        "failed login attempts per device token per window (such "
        "attempts skip the username and IP counters)",
        &max_device},
    {"AUTH_DEVICE_TOKEN_TTL_S", "7776000", CORE_CONFIG_INT, 60, 63072000,
        false, "device token lifetime", &device_ttl},
    {"AUTH_LOGIN_WINDOW_S", "300", CORE_CONFIG_INT, 1, 86400, false,
        "login throttling window", &window_s},
    {"AUTH_REGISTER_MAX_PER_IP", "20", CORE_CONFIG_INT, 1, 1000000, false,
        "registrations per client IP per window", &reg_max_ip},
    {"AUTH_REGISTER_WINDOW_S", "3600", CORE_CONFIG_INT, 1, 86400, false,
        "registration throttling window", &reg_window_s},
    {"AUTH_HASH_CONCURRENCY", "0", CORE_CONFIG_INT, 0, 1024, false,
        "Argon2id computations at once (0: online CPUs)", &hash_slots},
    {"AUTH_HASH_QUEUE", "4", CORE_CONFIG_INT, 0, 1024, false,
        "calls that may wait for an Argon2id slot", &hash_queue},
    {"AUTH_ARGON2_T", "2", CORE_CONFIG_INT, 1, 10, false,
        "Argon2id iterations", &argon2_t},
    {"AUTH_ARGON2_M_KIB", "19456", CORE_CONFIG_INT, 8192, 1048576, false,
        "Argon2id memory (KiB)", &argon2_m_kib},
    {"USER_RPC_DIAL", "tcp://127.0.0.1:7102", CORE_CONFIG_STR, 0, 0, false,
        "svc-user URLs (a deleted account's profile)", &user_dial},
    {"AUTH_PUBLIC_BASE_URL", "http://127.0.0.1:8080", CORE_CONFIG_STR, 0, 0,
        false, "where the links in mail point (the frontend's origin)",
        &cfg.public_base_url},
    {"AUTH_MAIL_TEMPLATES_DIR", AUTH_DEFAULT_MAIL_TEMPLATES_DIR,
        CORE_CONFIG_STR, 0, 0, false, "directory of the mail templates",
        &mail_templates_dir},
    {"AUTH_MAIL_FROM", "no-reply@localhost", CORE_CONFIG_STR, 0, 0, false,
        "sender address of the mail", &mail_cfg.from},
    {"AUTH_SMTP_URL", "", CORE_CONFIG_STR, 0, 0, false,
        "SMTP server: smtp://host:port or smtps://host:port (empty: this "
        "process sends no mail)",
        &mail_cfg.smtp_url},
    {"AUTH_SMTP_STARTTLS", "false", CORE_CONFIG_BOOL, 0, 0, false,
        "require STARTTLS on an smtp:// URL (plain SMTP only to loopback)",
        &mail_cfg.starttls},
    {"AUTH_SMTP_USER", "", CORE_CONFIG_STR, 0, 0, false,
        "SMTP user name (empty: no authentication)", &mail_cfg.user},
    {"AUTH_SMTP_PASSWORD", "", CORE_CONFIG_STR, 0, 0, true, "SMTP password",
        &mail_cfg.password},
    {"AUTH_SMTP_TIMEOUT_S", "30", CORE_CONFIG_INT, 1, 600, false,
        "longest delivery of one mail", &smtp_timeout_s},
    {"AUTH_MAIL_MAX_ATTEMPTS", "8", CORE_CONFIG_INT, 1, 100, false,
        "delivery attempts before a mail is dead", &mail_max_attempts},
    {"AUTH_MAIL_RETRY_BASE_S", "30", CORE_CONFIG_INT, 1, 3600, false,
        "first retry delay (doubles each attempt, at most 1 h)",
        &mail_retry_base_s},
    {"AUTH_MAIL_POLL_MS", "1000", CORE_CONFIG_INT, 50, 60000, false,
        "how often an idle sender looks into the outbox", &mail_poll_ms},
    {"AUTH_VERIFY_TOKEN_TTL_S", "86400", CORE_CONFIG_INT, 60, 86400, false,
        "life of an email verification link", &verify_ttl},
    {"AUTH_REQUIRE_VERIFIED_EMAIL", "false", CORE_CONFIG_BOOL, 0, 0, false,
        "refuse login (403) until the email address is verified",
        &cfg.require_verified_email},
    {"AUTH_VERIFY_RESEND_MAX", "3", CORE_CONFIG_INT, 1, 1000, false,
        "verification mails a user may ask for per window", &resend_max},
    {"AUTH_VERIFY_RESEND_WINDOW_S", "3600", CORE_CONFIG_INT, 1, 86400, false,
        "verification resend throttling window", &resend_window_s},
    {"AUTH_EMAIL_CHANGE_TTL_S", "3600", CORE_CONFIG_INT, 60, 86400, false,
        "life of an email change's confirmation link", &email_change_ttl},
    {"AUTH_RESET_TTL_S", "1800", CORE_CONFIG_INT, 1, 1800, false,
        "life of a password reset link", &reset_ttl},
    {"AUTH_FORGOT_MAX_PER_EMAIL", "3", CORE_CONFIG_INT, 1, 1000, false,
        "password reset requests per address per window", &forgot_max_email},
    {"AUTH_FORGOT_MAX_PER_IP", "20", CORE_CONFIG_INT, 1, 1000000, false,
        "password reset requests per client IP per window", &forgot_max_ip},
    {"AUTH_FORGOT_WINDOW_S", "3600", CORE_CONFIG_INT, 1, 86400, false,
        "password reset request throttling window", &forgot_window_s},
    {"AUTH_FORGOT_MIN_MS", "200", CORE_CONFIG_INT, 0, 5000, false,
        "least time a password reset request takes, so that a known and "
        "an unknown address answer alike",
        &forgot_min_ms},
    {"AUTH_MFA_TICKET_TTL_S", "300", CORE_CONFIG_INT, 1, 300, false,
        "life of the ticket between a password and its second factor",
        &mfa_ticket_ttl},
    {"AUTH_MFA_MAX_PER_USER", "5", CORE_CONFIG_INT, 1, 100000, false,
        "wrong second-factor codes per user per window", &mfa_max_user},
    {"AUTH_MFA_MAX_PER_IP", "20", CORE_CONFIG_INT, 1, 1000000, false,
        "wrong second-factor codes per client IP per window", &mfa_max_ip},
    {"AUTH_MFA_WINDOW_S", "300", CORE_CONFIG_INT, 1, 86400, false,
        "second-factor throttling window", &mfa_window_s},
    {"AUTH_TOTP_ISSUER", "microcore", CORE_CONFIG_STR, 0, 0, false,
        "issuer name authenticator apps show for the account",
        &cfg.totp_issuer},
};

int
auth_promote_admin_command(int argc, char **argv)
{
	const char *url =
	    env_or("AUTH_DATABASE_URL", AUTH_DEFAULT_DATABASE_URL);
	const char *dir =
	    env_or("AUTH_MIGRATIONS_DIR", AUTH_DEFAULT_MIGRATIONS_DIR);
	return auth_promote_admin_main(argc, argv, url, dir);
}

const core_service_def *
auth_component(void)
{
	static const core_service_def def = {
	    .name = "svc-auth",
	    .listen_env = "AUTH_RPC_LISTEN",
	    .listen_default = "tcp://127.0.0.1:7101",
	    .metrics_listen_default = "127.0.0.1:9101",
	    .services = &auth_rpc_service,
	    .n_services = 1,
	    .config = config,
	    .n_config = sizeof(config) / sizeof(config[0]),
	    .init = init,
	    .started = started,
	    .fini = fini,
	    .worker_init = auth_worker_init,
	    .worker_fini = core_store_worker_free,
	    .health = core_store_worker_ping,
	    .auth = &call_auth,
	};
	return &def;
}
