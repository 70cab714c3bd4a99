/* Reloadable TLS credentials (core/tls.h).
 *
 * A core_tls keeps its source (file paths or inline PEM) and a pointer to
 * the current tls_creds. Loading parses everything into a new tls_creds
 * and checks it (key matches certificate, certificate verifies against the
 * CA and CRL, same identity) before swapping it in under the lock; the
 * old one is released and freed by whichever connection lets it go last. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <sodium.h>

#include "core/log.h"
#include "core/tls.h"
#include "tls_internal.h"

enum { F_CERT, F_KEY, F_CA, F_CRL, N_FILES };

static const char *const file_what[N_FILES] = {
    "certificate", "key", "CA bundle", "CRL"};

typedef struct file_stamp {
	bool known;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
} file_stamp;

struct core_tls {
	char *file[N_FILES]; /* NULL: inline or none */
	char *pem[N_FILES];  /* inline PEM (key bytes wiped at free) */
	file_stamp stamp[N_FILES];
	char identity[CORE_TLS_IDENTITY_MAX + 1];
	pthread_mutex_t mu;
	tls_creds *cur;
	atomic_uint gen;    /* counts the reloads that took effect */
	bool change_failed; /* the last changed files did not load */
};

/* Set at start, read by every server and client made later. */
static _Atomic(core_tls *) default_tls;

int
tls_rng(void *unused, unsigned char *buf, size_t len)
{
	(void) unused;
	randombytes_buf(buf, len);
	return 0;
}

int
tls_cert_cn(const mbedtls_x509_crt *crt, char *buf)
{
	for (const mbedtls_x509_name *n = &crt->subject; n != NULL;
	     n = n->next) {
		if (n->oid.p == NULL ||
		    MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) != 0) {
			continue;
		}
		if (n->val.len == 0 || n->val.len > CORE_TLS_IDENTITY_MAX) {
			return -1;
		}
		for (size_t i = 0; i < n->val.len; i++) {
			unsigned char c = n->val.p[i];
			if (!((c >= 'a' && c <= 'z') ||
			        (c >= '0' && c <= '9') || c == '-' ||
			        c == '.')) {
				return -1;
			}
		}
		memcpy(buf, n->val.p, n->val.len);
		buf[n->val.len] = '\0';
		return 0;
	}
	return -1;
}

/* ---- One set of credentials ------------------------------------------- */

static void
creds_free(tls_creds *c)
{
	if (c == NULL) {
		return;
	}
	mbedtls_ssl_config_free(&c->server);
	mbedtls_ssl_config_free(&c->client);
	mbedtls_x509_crt_free(&c->own);
	mbedtls_pk_free(&c->key);
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_x509_crl_free(&c->crl);
	free(c);
}

void
tls_creds_release(tls_creds *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1) {
		creds_free(c);
	}
}

tls_creds *
tls_creds_acquire(const core_tls *t)
{
	core_tls *m = (core_tls *) (uintptr_t) t;
	pthread_mutex_lock(&m->mu);
	tls_creds *c = m->cur;
	atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&m->mu);
	return c;
}

unsigned
tls_generation(const core_tls *t)
{
	return atomic_load(&t->gen);
}

bool
tls_revoked_now(const core_tls *t, const mbedtls_x509_crt *peer)
{
	tls_creds *c = tls_creds_acquire(t);
	bool revoked =
	    c->has_crl && mbedtls_x509_crt_is_revoked(peer, &c->crl) != 0;
	tls_creds_release(c);
	return revoked;
}

static int
setup_conf(tls_creds *c, mbedtls_ssl_config *conf, int endpoint)
{
	int rv = mbedtls_ssl_config_defaults(conf, endpoint,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rv != 0) {
		return rv;
	}
	mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_min_version(
	    conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_rng(conf, tls_rng, NULL);
	mbedtls_ssl_conf_ca_chain(conf, &c->ca, c->has_crl ? &c->crl : NULL);
	return mbedtls_ssl_conf_own_cert(conf, &c->own, &c->key);
}

/* The PEM of one input: the file's content (NUL-terminated, in memory
 * that is wiped when freed) or the inline text. *len counts the NUL, as
 * mbed TLS wants for PEM. */
static int
read_input(const core_tls *t, int i, unsigned char **out, size_t *len,
    char *err, size_t errlen)
{
	if (t->pem[i] != NULL) {
		*len = strlen(t->pem[i]) + 1;
		*out = sodium_malloc(*len);
		if (*out == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(*out, t->pem[i], *len);
		return 0;
	}
	FILE *f = fopen(t->file[i], "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s %s: %s", file_what[i], t->file[i],
		    strerror(errno));
		return -1;
	}
	unsigned char *buf = sodium_malloc(CORE_TLS_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, CORE_TLS_FILE_MAX + 1, f) : 0;
	bool bad = ferror(f) != 0;
	fclose(f);
	if (buf == NULL || bad || n == 0 || n > CORE_TLS_FILE_MAX) {
		snprintf(err, errlen, "%s %s: %s", file_what[i], t->file[i],
		    buf == NULL ? "out of memory"
		    : bad       ? "read error"
		    : n == 0    ? "empty"
		                : "larger than 1 MiB");
		sodium_free(buf);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n + 1;
	return 0;
}

static const char *
input_name(const core_tls *t, int i)
{
	return t->file[i] != NULL ? t->file[i] : "(inline)";
}

/* Parses input i into c. Returns 0, or -1 with err. */
static int
parse_input(const core_tls *t, tls_creds *c, int i, char *err, size_t errlen)
{
	unsigned char *pem = NULL;
	size_t len = 0;
	if (read_input(t, i, &pem, &len, err, errlen) != 0) {
		return -1;
	}
	int rv;
	switch (i) {
	case F_CERT:
		rv = mbedtls_x509_crt_parse(&c->own, pem, len);
		break;
	case F_KEY:
		rv = mbedtls_pk_parse_key(&c->key, pem, len, NULL, 0);
		break;
	case F_CA:
		rv = mbedtls_x509_crt_parse(&c->ca, pem, len);
		break;
	default:
		rv = mbedtls_x509_crl_parse(&c->crl, pem, len);
		c->has_crl = rv == 0;
		break;
	}
	sodium_free(pem);
	if (rv != 0) {
		char why[128];
		mbedtls_strerror(rv, why, sizeof(why));
		/* A positive value: that many certificates of a bundle did
		 * not parse. */
		snprintf(err, errlen, "%s %s: %s", file_what[i],
		    input_name(t, i),
		    rv > 0 ? "holds an unparsable certificate" : why);
		return -1;
	}
	return 0;
}

/* Checks that the parsed credentials belong together. */
static int
check_creds(const core_tls *t, tls_creds *c, char *err, size_t errlen)
{
	if (mbedtls_pk_check_pair(&c->own.pk, &c->key) != 0) {
		snprintf(err, errlen, "key %s does not match certificate %s",
		    input_name(t, F_KEY), input_name(t, F_CERT));
		return -1;
	}
	if (tls_cert_cn(&c->own, c->identity) != 0) {
		snprintf(err, errlen,
		    "certificate %s: its commonName is not an identity "
		    "(1-64 of a-z 0-9 . -)",
		    input_name(t, F_CERT));
		return -1;
	}
	uint32_t flags = 0;
	if (mbedtls_x509_crt_verify(&c->own, &c->ca,
	        c->has_crl ? &c->crl : NULL, NULL, &flags, NULL, NULL) != 0) {
		char why[200];
		mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
		why[strcspn(why, "\n")] = '\0';
		snprintf(err, errlen,
		    "certificate %s does not verify against %s: %s",
		    input_name(t, F_CERT), input_name(t, F_CA), why);
		return -1;
	}
	if (t->identity[0] != '\0' && strcmp(t->identity, c->identity) != 0) {
		snprintf(err, errlen,
		    "certificate %s names \"%s\", not \"%s\"",
		    input_name(t, F_CERT), c->identity, t->identity);
		return -1;
	}
	return 0;
}

/* Reads and checks every input into a new tls_creds (one reference). */
static tls_creds *
load_creds(const core_tls *t, char *err, size_t errlen)
{
	tls_creds *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&c->refs, 1);
	mbedtls_x509_crt_init(&c->own);
	mbedtls_pk_init(&c->key);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_x509_crl_init(&c->crl);
	mbedtls_ssl_config_init(&c->server);
	mbedtls_ssl_config_init(&c->client);
	for (int i = 0; i < N_FILES; i++) {
		bool given = t->file[i] != NULL || t->pem[i] != NULL;
		if (given && parse_input(t, c, i, err, errlen) != 0) {
			goto fail;
		}
	}
	if (check_creds(t, c, err, errlen) != 0) {
		goto fail;
	}
	if (setup_conf(c, &c->server, MBEDTLS_SSL_IS_SERVER) != 0 ||
	    setup_conf(c, &c->client, MBEDTLS_SSL_IS_CLIENT) != 0) {
		snprintf(err, errlen, "cannot set up the TLS configuration");
		goto fail;
	}
	return c;
fail:
	creds_free(c);
	return NULL;
}

/* ---- core_tls ---------------------------------------------------------- */

static void
stamp_files(core_tls *t, file_stamp *out)
{
	for (int i = 0; i < N_FILES; i++) {
		struct stat st;
		memset(&out[i], 0, sizeof(out[i]));
		if (t->file[i] != NULL && stat(t->file[i], &st) == 0) {
			out[i] = (file_stamp){true, st.st_dev, st.st_ino,
			    st.st_size, st.st_mtim, st.st_ctim};
		}
	}
}

static char *
dup_or_null(const char *s, bool *oom)
{
	if (s == NULL) {
		return NULL;
	}
	char *d = strdup(s);
	*oom = *oom || d == NULL;
	return d;
}

int
core_tls_new(
    const core_tls_source *src, core_tls **out, char *err, size_t errlen)
{
	const char *files[N_FILES] = {
	    src->cert_file, src->key_file, src->ca_file, src->crl_file};
	const char *pems[N_FILES] = {
	    src->cert_pem, src->key_pem, src->ca_pem, src->crl_pem};
	for (int i = 0; i < N_FILES; i++) {
		if (files[i] != NULL && pems[i] != NULL) {
			snprintf(err, errlen,
			    "%s given both as a file and inline",
			    file_what[i]);
			return -1;
		}
		if (i != F_CRL && files[i] == NULL && pems[i] == NULL) {
			snprintf(err, errlen, "no %s given", file_what[i]);
			return -1;
		}
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -1;
	}
	core_tls *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&t->mu, NULL);
	bool oom = false;
	for (int i = 0; i < N_FILES; i++) {
		t->file[i] = dup_or_null(files[i], &oom);
		t->pem[i] = dup_or_null(pems[i], &oom);
	}
	if (oom) {
		snprintf(err, errlen, "out of memory");
		core_tls_free(t);
		return -1;
	}
	stamp_files(t, t->stamp);
	t->cur = load_creds(t, err, errlen);
	if (t->cur == NULL) {
		core_tls_free(t);
		return -1;
	}
	memcpy(t->identity, t->cur->identity, sizeof(t->identity));
	*out = t;
	return 0;
}

const char *
core_tls_identity(const core_tls *t)
{
	return t->identity;
}

int
core_tls_reload(core_tls *t)
{
	char err[512];
	file_stamp stamp[N_FILES];
	stamp_files(t, stamp);
	tls_creds *c = load_creds(t, err, sizeof(err));
	pthread_mutex_lock(&t->mu);
	memcpy(t->stamp, stamp, sizeof(stamp));
	tls_creds *old = NULL;
	if (c != NULL) {
		old = t->cur;
		t->cur = c;
		atomic_fetch_add(&t->gen, 1);
	}
	t->change_failed = c == NULL;
	pthread_mutex_unlock(&t->mu);
	if (c == NULL) {
		core_log_kv(CORE_LOG_ERROR,
		    "TLS credentials not reloaded; the old ones stay in use",
		    "error", err, NULL);
		return -1;
	}
	tls_creds_release(old);
	core_log_kv(CORE_LOG_INFO, "TLS credentials reloaded", "identity",
	    t->identity, NULL);
	return 0;
}

static bool
stamp_equal(const file_stamp *a, const file_stamp *b)
{
	return a->known == b->known && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

int
core_tls_reload_if_changed(core_tls *t)
{
	file_stamp now[N_FILES];
	stamp_files(t, now);
	pthread_mutex_lock(&t->mu);
	bool changed = false;
	for (int i = 0; i < N_FILES; i++) {
		changed = changed || !stamp_equal(&now[i], &t->stamp[i]);
	}
	pthread_mutex_unlock(&t->mu);
	if (!changed) {
		return 0;
	}
	return core_tls_reload(t) == 0 ? 1 : -1;
}

void
core_tls_free(core_tls *t)
{
	if (t == NULL) {
		return;
	}
	core_tls *expected = t;
	atomic_compare_exchange_strong(&default_tls, &expected, NULL);
	tls_creds_release(t->cur);
	for (int i = 0; i < N_FILES; i++) {
		free(t->file[i]);
		if (t->pem[i] != NULL) {
			sodium_memzero(t->pem[i], strlen(t->pem[i]));
			free(t->pem[i]);
		}
	}
	pthread_mutex_destroy(&t->mu);
	free(t);
}

void
core_tls_set_default(core_tls *t)
{
	atomic_store(&default_tls, t);
}

/* The calling thread's own default (core_tls_set_thread_default). */
static _Thread_local core_tls *thread_default;

void
core_tls_set_thread_default(core_tls *t)
{
	thread_default = t;
}

core_tls *
core_tls_default(void)
{
	return thread_default != NULL ? thread_default
	                              : atomic_load(&default_tls);
}
