/* Mail of svc-auth: the templates (loaded once at start from
 * AUTH_MAIL_TEMPLATES_DIR), the one-time tokens the mail carries, and the
 * message rendered for the outbox. Pure logic, no I/O but the loading. */
#ifndef AUTH_MAIL_H
#define AUTH_MAIL_H

#include <stddef.h>

/* What a mail is about: one template pair each (NAME.txt, NAME.html). */
typedef enum auth_mail_kind {
	AUTH_MAIL_VERIFY_EMAIL, /* verify_email */
	/* Email change and registration with a taken address. */
	AUTH_MAIL_CHANGE_EMAIL, /* change_email: the link, to the new address */
	AUTH_MAIL_CHANGE_EMAIL_NOTICE, /* change_email_notice: to the old one */
	AUTH_MAIL_CHANGE_EMAIL_TAKEN,  /* change_email_taken: to a taken one */
	AUTH_MAIL_REGISTER_TAKEN,      /* register_taken: to the owner */
	/* Passwords (password.c). */
	AUTH_MAIL_RESET_PASSWORD,   /* reset_password */
	AUTH_MAIL_PASSWORD_CHANGED, /* password_changed */
	/* Two-factor login (mfa.c). */
	AUTH_MAIL_MFA_CHANGED, /* mfa_changed: a notice, no token */
	AUTH_MAIL_KINDS
} auth_mail_kind;

/* A template file is at most this large. */
#define AUTH_MAIL_TEMPLATE_MAX 16384
/* A rendered body is at most this large. */
#define AUTH_MAIL_BODY_MAX 32768

/* A one-time token: 32 random bytes as unpadded base64url (43 chars), and
 * its SHA-256 in hex, what authdb stores. */
#define AUTH_TOKEN_TEXT_LEN 43
typedef struct auth_one_time_token {
	char text[AUTH_TOKEN_TEXT_LEN + 1];
	char hash_hex[65];
} auth_one_time_token;

/* A message for the outbox (heap, auth_mail_msg_free). */
typedef struct auth_mail_msg {
	char subject[256];
	char *text;
	char *html;
} auth_mail_msg;

/* Loads every template from dir: NAME.txt whose first line is the subject
 * and the rest the plain-text body, and NAME.html. Returns 0, or -1 with
 * the reason in err. Call once at start, before any render. */
int auth_mail_templates_load(const char *dir, char *err, size_t errlen);

/* Frees what auth_mail_templates_load loaded. */
void auth_mail_templates_free(void);

/* A new random token. */
void auth_token_new(auth_one_time_token *t);

/* The hash of a token presented by a client into hash_hex (65 bytes).
 * Returns 0, or -1 when text cannot be a token (wrong length or
 * alphabet): the caller answers it as any other wrong token. */
int auth_token_hash(const char *text, char hash_hex[65]);

/* Renders kind for username with link (base_url + "/#" + path + "?token=" +
 * token) and hours (the token's life) into m. Placeholders: {{username}},
 * {{link}}, {{hours}}; in the HTML body their values are HTML-escaped.
 * Returns 0, or -1 (out of memory or a body over AUTH_MAIL_BODY_MAX). */
int auth_mail_render(auth_mail_kind kind, const char *username,
    const char *base_url, const char *path, const char *token, int hours,
    auth_mail_msg *m);

/* Renders kind, a mail without a link of its own, into m. Placeholders:
 * {{username}}, {{address}} (an email address the mail speaks of) and
 * {{base}} (base_url without a trailing slash: the frontend, for a link
 * such as {{base}}/#/login); HTML-escaped in the HTML body. Returns 0, or
 * -1 as auth_mail_render. */
int auth_mail_render_notice(auth_mail_kind kind, const char *username,
    const char *address, const char *base_url, auth_mail_msg *m);

/* Renders a notice (a mail that carries no token) of kind for username
 * into m. Placeholders: {{username}}, {{change}} (what happened, one
 * sentence) and {{link}} (base_url + "/#/profile"); HTML-escaped in the
 * HTML body. Returns 0, or -1 (out of memory or a body over
 * AUTH_MAIL_BODY_MAX). */
int auth_mail_render_change(auth_mail_kind kind, const char *username,
    const char *base_url, const char *change, auth_mail_msg *m);

/* Frees m's bodies (wiped: they hold a token). NULL members are fine. */
void auth_mail_msg_free(auth_mail_msg *m);

/* Renders kind for username like auth_mail_render, with the token's life
 * in minutes: placeholders {{username}}, {{link}} and {{minutes}}. The
 * link is base_url + "/#" + path, + "?token=" + token when token is not
 * NULL (a notice links a page, not a token). Returns 0 or -1 as
 * auth_mail_render. */
int auth_mail_render_minutes(auth_mail_kind kind, const char *username,
    const char *base_url, const char *path, const char *token, int minutes,
    auth_mail_msg *m);

#endif
