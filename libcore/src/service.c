#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/service.h"
#include "core/tls.h"

#define MAX_LISTEN 8

/* The common settings of every service process. */
typedef struct service_opts {
	const char *log_level, *log_format, *listen;
	const char *metrics_listen; /* alone in its process only */
	long workers, contexts, max_msg, drain_ms, tls_reload_s;
} service_opts;

struct core_service {
	const core_service_def *def;
	const core_service_host *host; /* NULL: alone in its process */
	const core_log_component *log; /* hosted only */
	service_opts o;
	char buf[1024]; /* the listen URLs point into it */
	const char *urls[MAX_LISTEN];
	size_t n_urls;
	core_tls *tls;
	void *app;
	bool inited; /* def->init succeeded: def->fini runs */
	core_rpc_server *srv;
	core_metrics_listener *metrics;
};

/* Sets up logging: the process's (alone), or the service's component in
 * the process (hosted: the format stays the process's). */
static int
start_log(core_service *s, core_log_level level)
{
	if (s->host == NULL) {
		core_log_init(
		    s->def->name, level, strcmp(s->o.log_format, "text") != 0);
		return 0;
	}
	s->log = core_log_component_add(s->def->name, level);
	if (s->log == NULL) {
		core_log_error("too many components in one process");
		return 2;
	}
	core_log_enter(s->log);
	return 0;
}

/* Loads and logs the common settings and the service's own, and sets up
 * logging. Returns 0, or 2 (logged) for a bad configuration. */
static int
configure(core_service *s)
{
	const core_service_def *def = s->def;
	service_opts *o = &s->o;
	const core_config_item common[] = {
	    {"LOG_LEVEL", "info", CORE_CONFIG_STR, 0, 0, false,
	        "debug, info, warn or error", &o->log_level},
	    {def->listen_env, def->listen_default, CORE_CONFIG_STR, 0, 0,
	        false, "URLs to listen on (comma-separated)", &o->listen},
	    {"RPC_WORKERS", "8", CORE_CONFIG_INT, 1, 1024, false,
	        "handler threads", &o->workers},
	    {"RPC_CONTEXTS", "64", CORE_CONFIG_INT, 1, CORE_RPC_MAX_CONTEXTS,
	        false, "calls received at once", &o->contexts},
	    {"RPC_MAX_MSG_BYTES", "4194304", CORE_CONFIG_INT, 1024, 1L << 30,
	        false, "largest message accepted", &o->max_msg},
	    {"RPC_DRAIN_MS", "10000", CORE_CONFIG_INT, 1, 600000, false,
	        "how long a stop waits for calls in flight", &o->drain_ms},
	    {"RPC_TLS_RELOAD_S", "10", CORE_CONFIG_INT, 0, 86400, false,
	        "seconds between checks of the TLS files (0: SIGHUP only)",
	        &o->tls_reload_s},
	    /* Last: a hosted service leaves them out (its process has one
	     * log format and one metrics listener). */
	    {"METRICS_LISTEN",
	        def->metrics_listen_default != NULL
	            ? def->metrics_listen_default
	            : "off",
	        CORE_CONFIG_STR, 0, 0, false,
	        "metrics listener, host:port (GET /metrics; off: none)",
	        &o->metrics_listen},
	    {"LOG_FORMAT", "json", CORE_CONFIG_STR, 0, 0, false,
	        "json or text", &o->log_format},
	};
	size_t n_common = sizeof(common) / sizeof(common[0]);
	if (s->host != NULL) {
		/* One stream, one format: the process's LOG_FORMAT; one
		 * metrics listener: the process's. */
		o->log_format = "json";
		o->metrics_listen = "off";
		n_common -= 2;
	}
	size_t n_all = n_common + def->n_config;
	core_config_item *all = calloc(n_all, sizeof(*all));
	char err[256];
	if (all == NULL) {
		core_log_error("out of memory");
		return 2;
	}
	memcpy(all, common, n_common * sizeof(*all));
	if (def->n_config > 0) {
		memcpy(
		    all + n_common, def->config, def->n_config * sizeof(*all));
	}
	int rv = 2, metrics_on;
	core_log_level level;
	if (core_config_load(all, n_all, err, sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
	} else if (core_metrics_listen_check(o->metrics_listen, &metrics_on,
	               err, sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
	} else if (core_log_level_parse(o->log_level, &level) != 0 ||
	           (strcmp(o->log_format, "text") != 0 &&
	               strcmp(o->log_format, "json") != 0)) {
		core_log_error("bad configuration: LOG_LEVEL must be "
		               "debug|info|warn|error, LOG_FORMAT json|text");
	} else if ((rv = start_log(s, level)) == 0) {
		core_config_log(all, n_all);
	}
	free(all);
	return rv;
}

/* A hosted service's workers log under its name. */
static void *
hosted_worker_init(void *arg)
{
	core_service *s = arg;
	core_log_enter(s->log);
	return s->def->worker_init(s->app);
}

/* The configured listen URLs, then the host's in-process ones. Returns 0,
 * or 2 (logged). */
static int
listen_urls(core_service *s)
{
	const core_service_def *def = s->def;
	int n = core_config_split(
	    s->o.listen, s->buf, sizeof(s->buf), s->urls, MAX_LISTEN);
	size_t extra = s->host != NULL ? s->host->n_inproc : 0;
	if (n <= 0 || (size_t) n + extra > MAX_LISTEN) {
		core_log_error("bad configuration: %s must list 1 to %zu URLs",
		    def->listen_env, MAX_LISTEN - extra);
		return 2;
	}
	s->n_urls = (size_t) n;
	for (size_t i = 0; i < extra; i++) {
		s->urls[s->n_urls++] = s->host->inproc_urls[i];
	}
	return 0;
}

/* The credentials of tls+tcp:// (RPC_TLS_*, or the host's prefixed
 * ones). Returns 0, or 2 (logged). */
static int
load_tls(core_service *s)
{
	char err[512];
	if (core_tls_from_env(&s->tls, err, sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
		return 2;
	}
	for (size_t i = 0; i < s->n_urls && s->tls == NULL; i++) {
		if (strncmp(s->urls[i], "tls+", 4) == 0) {
			core_log_error(
			    "bad configuration: %s has %s but no TLS "
			    "credentials: set RPC_TLS_CERT_FILE, "
			    "RPC_TLS_KEY_FILE and RPC_TLS_CA_FILE",
			    s->def->listen_env, s->urls[i]);
			return 2;
		}
	}
	return 0;
}

/* Runs def->init with the service's credentials as the default of the
 * clients it makes, and makes the server. Returns 0 or 1 (logged). */
static int
init_and_make(core_service *s)
{
	const core_service_def *def = s->def;
	/* Hosted: the thread's default only, so another component starting
	 * at the same time in another thread never takes ours. */
	void (*set_default)(core_tls *) = s->host != NULL
	                                      ? core_tls_set_thread_default
	                                      : core_tls_set_default;
	set_default(s->tls);
	if (def->init != NULL && def->init(&s->app) != 0) {
		core_log_error("initialisation failed");
		set_default(NULL);
		return 1;
	}
	s->inited = true;
	if (s->host != NULL) {
		/* Nothing after the init dials with our credentials. */
		core_tls_set_thread_default(NULL);
	}
	bool wrap = s->host != NULL && def->worker_init != NULL;
	core_rpc_server_config cfg = {
	    .name = def->name,
	    .listen_urls = s->urls,
	    .n_listen = s->n_urls,
	    .workers = (int) s->o.workers,
	    .contexts = (int) s->o.contexts,
	    .max_msg_bytes = (size_t) s->o.max_msg,
	    .drain_ms = (int) s->o.drain_ms,
	    .worker_init = wrap ? hosted_worker_init : def->worker_init,
	    .worker_fini = def->worker_fini,
	    .app = wrap ? (void *) s : s->app,
	    .health = def->health,
	    .auth = def->auth,
	    .tls = s->tls,
	};
	if (core_rpc_server_new(
	        &cfg, def->services, def->n_services, &s->srv) != 0) {
		core_log_error("cannot create the RPC server");
		return 1;
	}
	return 0;
}

int
core_service_new(const core_service_def *def, const core_service_host *host,
    core_service **out)
{
	core_service *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		core_log_error("out of memory");
		return 1;
	}
	s->def = def;
	s->host = host;
	if (host != NULL) {
		core_config_enter(host->scope);
	}
	int rc = configure(s);
	if (rc == 0) {
		rc = listen_urls(s);
	}
	if (rc == 0) {
		rc = load_tls(s);
	}
	if (rc == 0) {
		rc = init_and_make(s);
	}
	if (rc != 0) {
		core_service_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int
core_service_start(core_service *s)
{
	if (s->host != NULL) {
		core_log_enter(s->log);
	}
	if (s->host == NULL) {
		core_metrics_process_init("split");
		if (core_metrics_serve(s->o.metrics_listen, &s->metrics) !=
		    0) {
			return 1;
		}
	}
	if (core_rpc_server_start(s->srv) != 0) {
		return 1;
	}
	char age[24];
	snprintf(age, sizeof(age), "%lld", (long long) core_process_age_ms());
	core_log_kv(CORE_LOG_INFO, "ready", "since_start_ms", age, NULL);
	if (s->def->started != NULL) {
		s->def->started(s->app);
	}
	return 0;
}

void
core_service_stop(core_service *s)
{
	if (s->host != NULL) {
		core_log_enter(s->log);
	}
	core_rpc_server_stop(s->srv);
}

void
core_service_free(core_service *s)
{
	if (s == NULL) {
		return;
	}
	if (s->host != NULL) {
		core_log_enter(s->log);
	}
	core_metrics_listener_stop(s->metrics);
	core_rpc_server_free(s->srv);
	if (s->inited && s->def->fini != NULL) {
		s->def->fini(s->app);
	}
	if (s->host == NULL) {
		core_tls_set_default(NULL);
	}
	core_tls_free(s->tls);
	free(s);
}

core_tls *
core_service_tls(const core_service *s)
{
	return s->tls;
}

long
core_service_tls_reload_s(const core_service *s)
{
	return s->o.tls_reload_s;
}

int
core_service_main(const core_service_def *def)
{
	core_service *s = NULL;
	/* Every thread inherits this mask, so signals reach only sigwait. */
	core_rpc_block_signals();
	core_log_init(def->name, CORE_LOG_INFO, true);
	int rc = core_service_new(def, NULL, &s);
	if (rc != 0) {
		return rc;
	}
	int status = 1;
	if (core_service_start(s) == 0) {
		/* What the start freed goes back to the system now, not in
		 * the idle process's RSS. */
		malloc_trim(0);
		int sig = core_tls_wait_signal(s->tls, s->o.tls_reload_s);
		core_log_info("signal %d: draining calls in flight", sig);
		core_service_stop(s);
		status = 0;
	}
	core_service_free(s);
	return status;
}
