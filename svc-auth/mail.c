/* Mail templates, one-time tokens and rendering; see mail.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/b64url.h"
#include "mail.h"

static const char *const kind_names[AUTH_MAIL_KINDS] = {"verify_email",
    "change_email", "change_email_notice", "change_email_taken",
    "register_taken", "reset_password", "password_changed", "mfa_changed"};

typedef struct template
{
	char subject[200];
	char *text;
	char *html;
}
template;

static template templates[AUTH_MAIL_KINDS];

/* The whole file at path, NUL-terminated, at most AUTH_MAIL_TEMPLATE_MAX
 * bytes; NULL with the reason in err. */
static char *
read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "cannot open mail template %s", path);
		return NULL;
	}
	char *buf = malloc(AUTH_MAIL_TEMPLATE_MAX + 1);
	size_t n =
	    buf == NULL ? 0 : fread(buf, 1, AUTH_MAIL_TEMPLATE_MAX + 1, f);
	fclose(f);
	if (buf == NULL || n > AUTH_MAIL_TEMPLATE_MAX || memchr(buf, 0, n)) {
		snprintf(err, errlen,
		    "mail template %s is larger than %d bytes or not text",
		    path, AUTH_MAIL_TEMPLATE_MAX);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

int
auth_mail_templates_load(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	for (int k = 0; k < AUTH_MAIL_KINDS; k++) {
		template *t = &templates[k];
		snprintf(path, sizeof(path), "%s/%s.txt", dir, kind_names[k]);
		char *txt = read_file(path, err, errlen);
		if (txt == NULL) {
			goto fail;
		}
		/* The first line is the subject. */
		char *nl = strchr(txt, '\n');
		if (nl == NULL || nl == txt || (size_t) (nl - txt) >= 200) {
			snprintf(err, errlen,
			    "mail template %s: the first line must be the "
			    "subject (1..199 bytes)",
			    path);
			free(txt);
			goto fail;
		}
		snprintf(t->subject, sizeof(t->subject), "%.*s",
		    (int) (nl - txt), txt);
		t->text = malloc(strlen(nl + 1) + 1);
		if (t->text != NULL) {
			memcpy(t->text, nl + 1, strlen(nl + 1) + 1);
		}
		free(txt);
		snprintf(path, sizeof(path), "%s/%s.html", dir, kind_names[k]);
		if (t->text == NULL ||
		    (t->html = read_file(path, err, errlen)) == NULL) {
			goto fail;
		}
	}
	return 0;
fail:
	auth_mail_templates_free();
	return -1;
}

void
auth_mail_templates_free(void)
{
	for (int k = 0; k < AUTH_MAIL_KINDS; k++) {
		free(templates[k].text);
		free(templates[k].html);
		templates[k].text = templates[k].html = NULL;
	}
}

void
auth_token_new(auth_one_time_token *t)
{
	uint8_t raw[32];
	randombytes_buf(raw, sizeof(raw));
	(void) core_b64url_encode(raw, sizeof(raw), t->text, sizeof(t->text));
	sodium_memzero(raw, sizeof(raw));
	(void) auth_token_hash(t->text, t->hash_hex);
}

int
auth_token_hash(const char *text, char hash_hex[65])
{
	size_t n = strnlen(text, AUTH_TOKEN_TEXT_LEN + 1);
	if (n != AUTH_TOKEN_TEXT_LEN) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = text[i];
		bool ok = (ch >= 'A' && ch <= 'Z') ||
		          (ch >= 'a' && ch <= 'z') ||
		          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
		if (!ok) {
			return -1;
		}
	}
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const uint8_t *) text, n);
	sodium_bin2hex(hash_hex, 65, h, sizeof(h));
	return 0;
}

/* A size-capped growing string. */
typedef struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
} sbuf;

static void
sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->failed) {
		return;
	}
	if (b->len + n + 1 > AUTH_MAIL_BODY_MAX) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1) {
			cap *= 2;
		}
		char *q = realloc(b->p, cap);
		if (q == NULL) {
			b->failed = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Adds v, HTML-escaped when html. */
static void
sb_value(sbuf *b, const char *v, bool html)
{
	for (; html && *v; v++) {
		const char *e = *v == '&'    ? "&amp;"
		                : *v == '<'  ? "&lt;"
		                : *v == '>'  ? "&gt;"
		                : *v == '"'  ? "&quot;"
		                : *v == '\'' ? "&#39;"
		                             : NULL;
		if (e != NULL) {
			sb_add(b, e, strlen(e));
		} else {
			sb_add(b, v, 1);
		}
	}
	if (!html) {
		sb_add(b, v, strlen(v));
	}
}

/* tpl with each {{name}} replaced by its value; NULL on failure. An
 * unknown placeholder stays as it is. */
static char *
expand(const char *tpl, const char *const names[], const char *const values[],
    size_t n, bool html)
{
	sbuf b = {0};
	const char *p = tpl;
	while (*p) {
		const char *open = strstr(p, "{{");
		if (open == NULL) {
			sb_add(&b, p, strlen(p));
			break;
		}
		sb_add(&b, p, (size_t) (open - p));
		p = open + 2;
		size_t i = 0;
		for (; i < n; i++) {
			size_t l = strlen(names[i]);
			if (strncmp(p, names[i], l) == 0 &&
			    strncmp(p + l, "}}", 2) == 0) {
				sb_value(&b, values[i], html);
				p += l + 2;
				break;
			}
		}
		if (i == n) {
			sb_add(&b, "{{", 2);
		}
	}
	if (b.failed || b.p == NULL) {
		if (b.p != NULL) {
			sodium_memzero(b.p, b.cap);
		}
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* Fills m from kind's templates with names[i] -> values[i]. */
static int
render(auth_mail_kind kind, const char *const names[],
    const char *const values[], size_t n, auth_mail_msg *m)
{
	memset(m, 0, sizeof(*m));
	if (kind < 0 || kind >= AUTH_MAIL_KINDS ||
	    templates[kind].text == NULL) {
		return -1;
	}
	snprintf(
	    m->subject, sizeof(m->subject), "%s", templates[kind].subject);
	m->text = expand(templates[kind].text, names, values, n, false);
	m->html = expand(templates[kind].html, names, values, n, true);
	if (m->text == NULL || m->html == NULL) {
		auth_mail_msg_free(m);
		return -1;
	}
	return 0;
}

int
auth_mail_render(auth_mail_kind kind, const char *username,
    const char *base_url, const char *path, const char *token, int hours,
    auth_mail_msg *m)
{
	char link[2048], h[16];
	size_t bl = strlen(base_url);
	/* One slash between the base URL and the path. */
	while (bl > 0 && base_url[bl - 1] == '/') {
		bl--;
	}
	/* The frontend routes by the fragment (#/profile), so the page is
	 * #<path> and the token a parameter of it: browsers never send a
	 * fragment, so the token reaches no server log. */
	int w = snprintf(link, sizeof(link), "%.*s/#%s?token=%s", (int) bl,
	    base_url, path, token);
	memset(m, 0, sizeof(*m));
	if (w < 0 || (size_t) w >= sizeof(link)) {
		return -1;
	}
	snprintf(h, sizeof(h), "%d", hours);
	const char *names[] = {"username", "link", "hours"};
	const char *values[] = {username, link, h};
	int rc = render(kind, names, values, 3, m);
	sodium_memzero(link, sizeof(link));
	return rc;
}

int
auth_mail_render_notice(auth_mail_kind kind, const char *username,
    const char *address, const char *base_url, auth_mail_msg *m)
{
	char base[1024];
	size_t bl = strlen(base_url);
	while (bl > 0 && base_url[bl - 1] == '/') {
		bl--;
	}
	memset(m, 0, sizeof(*m));
	if (bl >= sizeof(base)) {
		return -1;
	}
	snprintf(base, sizeof(base), "%.*s", (int) bl, base_url);
	const char *names[] = {"username", "address", "base"};
	const char *values[] = {username, address, base};
	return render(kind, names, values, 3, m);
}

int
auth_mail_render_change(auth_mail_kind kind, const char *username,
    const char *base_url, const char *change, auth_mail_msg *m)
{
	char link[2048];
	size_t bl = strlen(base_url);
	while (bl > 0 && base_url[bl - 1] == '/') {
		bl--;
	}
	int w =
	    snprintf(link, sizeof(link), "%.*s/#/profile", (int) bl, base_url);
	if (w < 0 || (size_t) w >= sizeof(link)) {
		memset(m, 0, sizeof(*m));
		return -1;
	}
	const char *names[] = {"username", "change", "link"};
	const char *values[] = {username, change, link};
	return render(kind, names, values, 3, m);
}

void
auth_mail_msg_free(auth_mail_msg *m)
{
	if (m->text != NULL) {
		sodium_memzero(m->text, strlen(m->text));
	}
	if (m->html != NULL) {
		sodium_memzero(m->html, strlen(m->html));
	}
	free(m->text);
	free(m->html);
	m->text = m->html = NULL;
}

int
auth_mail_render_minutes(auth_mail_kind kind, const char *username,
    const char *base_url, const char *path, const char *token, int minutes,
    auth_mail_msg *m)
{
	char link[2048], mins[16];
	size_t bl = strlen(base_url);
	while (bl > 0 && base_url[bl - 1] == '/') {
		bl--;
	}
	/* As in auth_mail_render: the token goes in the fragment. */
	int w = snprintf(link, sizeof(link), "%.*s/#%s%s%s", (int) bl,
	    base_url, path, token != NULL ? "?token=" : "",
	    token != NULL ? token : "");
	memset(m, 0, sizeof(*m));
	if (w < 0 || (size_t) w >= sizeof(link) || kind < 0 ||
	    kind >= AUTH_MAIL_KINDS || templates[kind].text == NULL) {
		return -1;
	}
	snprintf(mins, sizeof(mins), "%d", minutes);
	const char *names[] = {"username", "link", "minutes"};
	const char *values[] = {username, link, mins};
	snprintf(
	    m->subject, sizeof(m->subject), "%s", templates[kind].subject);
	m->text = expand(templates[kind].text, names, values, 3, false);
	m->html = expand(templates[kind].html, names, values, 3, true);
	sodium_memzero(link, sizeof(link));
	if (m->text == NULL || m->html == NULL) {
		auth_mail_msg_free(m);
		return -1;
	}
	return 0;
}
