/* The outbox's sender: a thread of svc-auth that claims due rows of the
 * outbox one at a time (several replicas share the work, and a row is
 * delivered by one live sender at most: outbox_repo.h) and delivers them
 * over SMTP with libcurl, retrying with exponential backoff until a row
 * goes dead after max_attempts. It never logs a recipient's mail body,
 * link or token. Design note: docs/operations.md "Mail". */
#ifndef AUTH_MAIL_SENDER_H
#define AUTH_MAIL_SENDER_H

#include <stdbool.h>

typedef struct auth_mail_sender_config {
	const char *database_url;
	const char *smtp_url; /* smtp://host:port or smtps://host:port */
	bool starttls;        /* smtp:// upgraded with STARTTLS (required) */
	const char *user;     /* "" = no authentication */
	const char *password;
	const char *from; /* envelope and From: address */
	int timeout_s;    /* one delivery at most */
	int max_attempts; /* then the row is dead */
	int retry_base_s; /* first retry delay; doubles each attempt */
	int poll_ms;      /* how often an idle sender looks for mail */
} auth_mail_sender_config;

/* Checks cfg: the URL's scheme is smtp or smtps, and a plain (no TLS)
 * smtp:// URL names a loopback host. Returns NULL, or what is wrong. */
const char *auth_mail_sender_check(const auth_mail_sender_config *cfg);

/* Starts the sender thread (cfg must outlive it). Returns 0 or -1
 * (logged). */
int auth_mail_sender_start(const auth_mail_sender_config *cfg);

/* Stops the thread after its current delivery and joins it. A no-op when
 * it was not started. */
void auth_mail_sender_stop(void);

#endif
