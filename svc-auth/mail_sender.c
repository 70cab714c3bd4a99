/* The outbox's sender; see mail_sender.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "auth_metrics.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/trace.h"
#include "mail_sender.h"
#include "outbox_repo.h"

/* Longest wait before a retry. */
#define RETRY_MAX_S 3600
/* How often the sender looks at the outbox's states to log them (only
 * when they changed). */
#define REPORT_EVERY_MS 60000

static pthread_t thread;
static bool started;
static const core_log_component *owner; /* the starting thread's */
static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv = PTHREAD_COND_INITIALIZER;
static bool stopping;

/* What this process's sender did since it started (also in each log
 * line the sender writes). */
static atomic_long n_sent, n_failed, n_dead;

/* Whether the host of an smtp:// URL (h: after the scheme) is loopback:
 * an IPv4 literal 127.x.y.z, localhost or [::1], then the end, a port or a
 * path. */
static bool
loopback_host(const char *h)
{
	size_t n = strcspn(h, ":/?#");
	if (h[0] == '[') {
		return strncmp(h, "[::1]", 5) == 0 &&
		       strchr(":/", h[5]) != NULL;
	}
	if (n == 9 && strncmp(h, "localhost", 9) == 0) {
		return true;
	}
	if (n < 7 || strncmp(h, "127.", 4) != 0) {
		return false;
	}
	int dots = 0;
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '.') {
			dots++;
		} else if (h[i] < '0' || h[i] > '9') {
			return false;
		}
	}
	return dots == 3;
}

const char *
auth_mail_sender_check(const auth_mail_sender_config *cfg)
{
	const char *u = cfg->smtp_url;
	bool tls = strncmp(u, "smtps://", 8) == 0;
	if (!tls && strncmp(u, "smtp://", 7) != 0) {
		return "AUTH_SMTP_URL must start with smtp:// or smtps://";
	}
	/* Plain SMTP only to this machine: credentials and tokens never
	 * cross a network in the clear. */
	if (tls || cfg->starttls || loopback_host(u + 7)) {
		return NULL;
	}
	return "AUTH_SMTP_URL: plain smtp:// without AUTH_SMTP_STARTTLS is "
	       "allowed only to a loopback address (127.x.y.z, localhost, "
	       "[::1])";
}

/* The message as it goes over SMTP: headers and a multipart/alternative
 * body, CRLF line ends. */
typedef struct payload {
	char *buf;
	size_t len, off;
} payload;

static size_t
read_cb(char *out, size_t size, size_t nmemb, void *arg)
{
	payload *p = arg;
	size_t room = size * nmemb;
	size_t n = p->len - p->off < room ? p->len - p->off : room;
	memcpy(out, p->buf + p->off, n);
	p->off += n;
	return n;
}

/* Appends s with every line end as CRLF. */
static void
add_crlf(FILE *f, const char *s)
{
	char prev = '\0';
	for (; *s; prev = *s, s++) {
		if (*s == '\n' && prev != '\r') {
			fputc('\r', f);
		}
		fputc(*s, f);
	}
}

/* Builds the message for row into p (heap). Returns 0 or -1. */
static int
build(
    const auth_mail_sender_config *cfg, const auth_outbox_row *row, payload *p)
{
	char date[64], boundary[40], mid[80];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	uint8_t rnd[12];
	randombytes_buf(rnd, sizeof(rnd));
	char hex[25];
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	snprintf(boundary, sizeof(boundary), "=_%s", hex);
	const char *at = strchr(cfg->from, '@');
	snprintf(mid, sizeof(mid), "<%lld.%s@%s>", (long long) row->id, hex,
	    at != NULL ? at + 1 : "localhost");
	FILE *f = open_memstream(&p->buf, &p->len);
	if (f == NULL) {
		return -1;
	}
	fprintf(f,
	    "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
	    "Message-ID: %s\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
	    "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n",
	    date, cfg->from, row->recipient, row->subject, mid, boundary,
	    boundary);
	add_crlf(f, row->text);
	fprintf(f,
	    "\r\n--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n",
	    boundary);
	add_crlf(f, row->html);
	fprintf(f, "\r\n--%s--\r\n", boundary);
	if (fclose(f) != 0) {
		free(p->buf);
		p->buf = NULL;
		return -1;
	}
	p->off = 0;
	return 0;
}

/* Delivers row. Returns CURLE_OK, or libcurl's error with a message (no
 * secret in it: libcurl's texts name the server and the SMTP reply) in
 * err. */
static CURLcode
deliver(const auth_mail_sender_config *cfg, const auth_outbox_row *row,
    char *err, size_t errlen)
{
	payload p = {0};
	CURL *h = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	char from[320], to[320], ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	snprintf(from, sizeof(from), "<%s>", cfg->from);
	snprintf(to, sizeof(to), "<%s>", row->recipient);
	if (h == NULL || (rcpt = curl_slist_append(NULL, to)) == NULL ||
	    build(cfg, row, &p) != 0) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	curl_easy_setopt(h, CURLOPT_URL, cfg->smtp_url);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &p);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long) cfg->timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long) cfg->timeout_s);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	if (cfg->starttls) {
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long) CURLUSESSL_ALL);
	}
	if (cfg->user[0] != '\0') {
		curl_easy_setopt(h, CURLOPT_USERNAME, cfg->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->password);
	}
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s",
		    ebuf[0] ? ebuf : curl_easy_strerror(rc));
	}
done:
	if (p.buf != NULL) {
		sodium_memzero(p.buf, p.len);
		free(p.buf);
	}
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	return rc;
}

/* The delay before attempt n + 1 after n failed: base * 2^(n-1), capped. */
static int
backoff_s(const auth_mail_sender_config *cfg, int attempts)
{
	long d = cfg->retry_base_s;
	for (int i = 1; i < attempts && d < RETRY_MAX_S; i++) {
		d *= 2;
	}
	return (int) (d < RETRY_MAX_S ? d : RETRY_MAX_S);
}

static void
log_counts(core_log_level lvl, const char *msg, int64_t id, int attempts,
    const char *error)
{
	char ids[24], att[16], s[24], f[24], d[24];
	snprintf(ids, sizeof(ids), "%lld", (long long) id);
	snprintf(att, sizeof(att), "%d", attempts);
	snprintf(s, sizeof(s), "%ld", atomic_load(&n_sent));
	snprintf(f, sizeof(f), "%ld", atomic_load(&n_failed));
	snprintf(d, sizeof(d), "%ld", atomic_load(&n_dead));
	core_log_kv(lvl, msg, "outbox_id", ids, "attempts", att, "sent_total",
	    s, "failed_total", f, "dead_total", d, "error",
	    error != NULL ? error : "", NULL);
}

/* Claims and delivers one row. Returns true when there was one. */
static bool
send_one(const auth_mail_sender_config *cfg, core_pg *pg)
{
	auth_outbox_row row;
	bool found = false;
	/* The lease outlasts the longest delivery (connect + transfer). */
	int lease = 2 * cfg->timeout_s + 30;
	if (auth_outbox_claim(pg, lease, &row, &found) != CORE_OK || !found) {
		return false;
	}
	/* The delivery's lines belong to the trace of the call that queued
	 * the mail, in a span of their own. */
	core_trace t;
	if (core_trace_parse(row.traceparent, &t) == 0) {
		core_trace_child(&t, &t);
		core_trace_set(&t);
	}
	char err[CURL_ERROR_SIZE + 32] = "";
	CURLcode rc = deliver(cfg, &row, err, sizeof(err));
	core_status st;
	if (rc == CURLE_OK) {
		atomic_fetch_add(&n_sent, 1);
		auth_metrics_mail(AUTH_MAIL_SENT, 1);
		st = auth_outbox_sent(pg, row.id);
		log_counts(
		    CORE_LOG_INFO, "mail sent", row.id, row.attempts, NULL);
	} else {
		bool dead = row.attempts >= cfg->max_attempts;
		atomic_fetch_add(dead ? &n_dead : &n_failed, 1);
		auth_metrics_mail(AUTH_MAIL_FAILED, 1);
		st = auth_outbox_failed(
		    pg, row.id, backoff_s(cfg, row.attempts), dead, err);
		log_counts(dead ? CORE_LOG_ERROR : CORE_LOG_WARN,
		    dead ? "mail dead: no more attempts"
		         : "mail not sent; will retry",
		    row.id, row.attempts, err);
	}
	if (st != CORE_OK) {
		/* The lease runs out and the row is tried again. */
		core_log_warn("outbox row %lld: cannot record the outcome: %s",
		    (long long) row.id, core_status_str(st));
	}
	auth_outbox_row_free(&row);
	core_trace_set(NULL);
	return true;
}

/* Logs the rows of the outbox per state when they changed since last. */
static void
report(core_pg *pg, int64_t last[AUTH_OUTBOX_N_STATES])
{
	int64_t n[AUTH_OUTBOX_N_STATES];
	if (auth_outbox_counts(pg, n) != CORE_OK ||
	    memcmp(n, last, sizeof(n)) == 0) {
		return;
	}
	memcpy(last, n, sizeof(n));
	char v[AUTH_OUTBOX_N_STATES][24];
	for (int k = 0; k < AUTH_OUTBOX_N_STATES; k++) {
		snprintf(v[k], sizeof(v[k]), "%lld", (long long) n[k]);
	}
	core_log_kv(CORE_LOG_INFO, "outbox", "queued", v[0], "sending", v[1],
	    "sent", v[2], "dead", v[3], NULL);
}

/* The outbox's backlog into its gauges, once per poll_ms at most (at
 * *next, monotonic ms), also while a backlog is drained. Here, in the
 * sender's loop, and not at each scrape: a scrape must never wait for the
 * database. */
static void
gauge_backlog(const auth_mail_sender_config *cfg, core_pg *pg, int64_t *next)
{
	int64_t now = core_monotonic_ms();
	int64_t n = 0, oldest_ms = 0;
	if (now < *next) {
		return;
	}
	*next = now + cfg->poll_ms;
	if (auth_outbox_backlog(pg, &n, &oldest_ms) == CORE_OK) {
		auth_metrics_outbox(n, (double) oldest_ms / 1000.0);
	}
}

/* Waits ms or until stopped. Returns true when stopped. */
static bool
wait_stop(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&stop_mu);
	while (!stopping &&
	       pthread_cond_timedwait(&stop_cv, &stop_mu, &ts) == 0) {
	}
	bool s = stopping;
	pthread_mutex_unlock(&stop_mu);
	return s;
}

static void *
run(void *arg)
{
	const auth_mail_sender_config *cfg = arg;
	core_log_enter(owner); /* svc-auth's lines, in microcore too */
	core_pg *pg = core_pg_open(cfg->database_url);
	if (pg == NULL) {
		core_log_error("mail sender: out of memory");
		return NULL;
	}
	int64_t last[AUTH_OUTBOX_N_STATES] = {-1, -1, -1, -1};
	int64_t next_report = 0, next_gauge = 0;
	for (;;) {
		/* Drain what is due, then sleep. */
		while (send_one(cfg, pg)) {
			if (wait_stop(0)) {
				goto done;
			}
			gauge_backlog(cfg, pg, &next_gauge);
		}
		next_gauge = 0; /* drained: the gauge says so now */
		gauge_backlog(cfg, pg, &next_gauge);
		if (core_unix_ms() >= next_report) {
			report(pg, last);
			next_report = core_unix_ms() + REPORT_EVERY_MS;
		}
		if (wait_stop(cfg->poll_ms)) {
			break;
		}
	}
done:
	core_pg_close(pg);
	return NULL;
}

int
auth_mail_sender_start(const auth_mail_sender_config *cfg)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		core_log_error("mail sender: libcurl failed to initialise");
		return -1;
	}
	stopping = false;
	owner = core_log_current();
	if (pthread_create(&thread, NULL, run, (void *) (uintptr_t) cfg) !=
	    0) {
		core_log_error("mail sender: cannot start its thread");
		curl_global_cleanup();
		return -1;
	}
	started = true;
	return 0;
}

void
auth_mail_sender_stop(void)
{
	if (!started) {
		return;
	}
	pthread_mutex_lock(&stop_mu);
	stopping = true;
	pthread_cond_broadcast(&stop_cv);
	pthread_mutex_unlock(&stop_mu);
	pthread_join(thread, NULL);
	curl_global_cleanup();
	started = false;
}
