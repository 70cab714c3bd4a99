/* The RPC_TLS_* settings and the signal loop that reloads credentials
 * (core/tls.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/config.h"
#include "core/log.h"
#include "core/tls.h"

typedef struct env_pair {
	const char *name; /* RPC_TLS_CERT; NAME_FILE is the file form */
	const char *value, *file;
} env_pair;

/* The value of name, as the calling thread's configuration scope resolves
 * it (core_config_var: a component's own PREFIX_RPC_TLS_* first). */
static const char *
env(const char *name)
{
	char own[64];
	const char *v = getenv(core_config_var(name, own, sizeof(own)));
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Overwrites an inline key in the environment once it has been parsed, so
 * /proc/PID/environ no longer shows it. Not unset: unsetenv rewrites the
 * environment other threads may be reading (core_config_wipe); the
 * variable now reads as empty, i.e. unset for env(). */
static void
wipe_env(const char *name)
{
	char own[64];
	name = core_config_var(name, own, sizeof(own));
	char *v = getenv(name);
	if (v != NULL) {
		sodium_memzero(v, strlen(v));
	}
}

int
core_tls_from_env(core_tls **out, char *err, size_t errlen)
{
	env_pair p[4] = {
	    {"RPC_TLS_CERT", NULL, NULL},
	    {"RPC_TLS_KEY", NULL, NULL},
	    {"RPC_TLS_CA", NULL, NULL},
	    {"RPC_TLS_CRL", NULL, NULL},
	};
	bool any = false;
	for (int i = 0; i < 4; i++) {
		char fname[32];
		snprintf(fname, sizeof(fname), "%s_FILE", p[i].name);
		p[i].value = env(p[i].name);
		p[i].file = env(fname);
		if (p[i].value != NULL && p[i].file != NULL) {
			snprintf(err, errlen,
			    "%s and %s are both set; give one", p[i].name,
			    fname);
			return -1;
		}
		any = any || p[i].value != NULL || p[i].file != NULL;
	}
	*out = NULL;
	if (!any) {
		return 0;
	}
	for (int i = 0; i < 3; i++) {
		if (p[i].value == NULL && p[i].file == NULL) {
			snprintf(err, errlen,
			    "%s_FILE (or %s) is required with the other "
			    "RPC_TLS_* settings",
			    p[i].name, p[i].name);
			return -1;
		}
	}
	core_tls_source src = {
	    .cert_file = p[0].file,
	    .key_file = p[1].file,
	    .ca_file = p[2].file,
	    .crl_file = p[3].file,
	    .cert_pem = p[0].value,
	    .key_pem = p[1].value,
	    .ca_pem = p[2].value,
	    .crl_pem = p[3].value,
	};
	char why[512];
	core_tls *t;
	int rv = core_tls_new(&src, &t, why, sizeof(why));
	wipe_env("RPC_TLS_KEY");
	if (rv != 0) {
		snprintf(err, errlen, "RPC_TLS_*: %s", why);
		return -1;
	}
	core_log_kv(CORE_LOG_INFO, "TLS credentials loaded", "identity",
	    core_tls_identity(t), "cert",
	    p[0].file ? p[0].file : "(RPC_TLS_CERT)", "ca",
	    p[2].file ? p[2].file : "(RPC_TLS_CA)", "crl",
	    p[3].file ? p[3].file : (p[3].value ? "(RPC_TLS_CRL)" : "none"),
	    NULL);
	*out = t;
	return 0;
}

int
core_tls_wait_signal(core_tls *t, long poll_s)
{
	return core_tls_wait_signal_all(&t, 1, poll_s);
}

/* Reloads each of t[0..n) whose files changed. */
static void
reload_changed(core_tls *const *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i] != NULL) {
			(void) core_tls_reload_if_changed(t[i]);
		}
	}
}

/* Whether any of t[0..n) is set. */
static bool
any_tls(core_tls *const *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i] != NULL) {
			return true;
		}
	}
	return false;
}

int
core_tls_wait_signal_all(core_tls *const *t, size_t n, long poll_s)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	bool some = any_tls(t, n);
	for (;;) {
		int sig;
		if (some && poll_s > 0) {
			struct timespec ts = {poll_s, 0};
			sig = sigtimedwait(&set, NULL, &ts);
			if (sig < 0) {
				if (errno == EAGAIN) {
					reload_changed(t, n);
				}
				continue;
			}
		} else if (sigwait(&set, &sig) != 0) {
			continue;
		}
		if (sig != SIGHUP) {
			return sig;
		}
		if (!some) {
			core_log_info("SIGHUP: no TLS credentials to reload");
		}
		for (size_t i = 0; i < n; i++) {
			if (t[i] != NULL) {
				(void) core_tls_reload(t[i]);
			}
		}
	}
}
