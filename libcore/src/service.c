#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/service.h"
#include "core/tls.h"

#define MAX_LISTEN 8

/* The common settings of every service process. */
typedef struct service_opts {
	const char *log_level, *log_format, *listen;
	long workers, max_msg, drain_ms, tls_reload_s;
} service_opts;

/* Loads and logs the common settings and the service's own, and sets up
 * logging. Returns 0, or 2 (logged) for a bad configuration. */
static int
configure(const core_service_def *def, service_opts *o)
{
	const core_config_item common[] = {
	    {"LOG_LEVEL", "info", CORE_CONFIG_STR, 0, 0, false,
	        "debug, info, warn or error", &o->log_level},
	    {"LOG_FORMAT", "json", CORE_CONFIG_STR, 0, 0, false,
	        "json or text", &o->log_format},
	    {def->listen_env, def->listen_default, CORE_CONFIG_STR, 0, 0,
	        false, "URLs to listen on (comma-separated)", &o->listen},
	    {"RPC_WORKERS", "8", CORE_CONFIG_INT, 1, 1024, false,
	        "handler threads", &o->workers},
	    {"RPC_MAX_MSG_BYTES", "4194304", CORE_CONFIG_INT, 1024, 1L << 30,
	        false, "largest message accepted", &o->max_msg},
	    {"RPC_DRAIN_MS", "10000", CORE_CONFIG_INT, 1, 600000, false,
	        "how long a stop waits for calls in flight", &o->drain_ms},
	    {"RPC_TLS_RELOAD_S", "10", CORE_CONFIG_INT, 0, 86400, false,
	        "seconds between checks of the TLS files (0: SIGHUP only)",
	        &o->tls_reload_s},
	};
	size_t n_common = sizeof(common) / sizeof(common[0]);
	size_t n_all = n_common + def->n_config;
	core_config_item *all = calloc(n_all, sizeof(*all));
	char err[256];
	if (all == NULL) {
		core_log_error("out of memory");
		return 2;
	}
	memcpy(all, common, sizeof(common));
	if (def->n_config > 0) {
		memcpy(
		    all + n_common, def->config, def->n_config * sizeof(*all));
	}
	int rv = 2;
	core_log_level level;
	if (core_config_load(all, n_all, err, sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
	} else if (core_log_level_parse(o->log_level, &level) != 0 ||
	           (strcmp(o->log_format, "text") != 0 &&
	               strcmp(o->log_format, "json") != 0)) {
		core_log_error("bad configuration: LOG_LEVEL must be "
		               "debug|info|warn|error, LOG_FORMAT json|text");
	} else {
		core_log_init(
		    def->name, level, strcmp(o->log_format, "text") != 0);
		core_config_log(all, n_all);
		rv = 0;
	}
	free(all);
	return rv;
}

int
core_service_main(const core_service_def *def)
{
	service_opts o = {0};
	void *app = NULL;
	core_rpc_server *srv = NULL;
	int status = 1;

	/* Every thread inherits this mask, so signals reach only sigwait. */
	core_rpc_block_signals();
	core_log_init(def->name, CORE_LOG_INFO, true);
	if (configure(def, &o) != 0) {
		return 2;
	}
	char buf[1024];
	const char *urls[MAX_LISTEN];
	int n_urls =
	    core_config_split(o.listen, buf, sizeof(buf), urls, MAX_LISTEN);
	if (n_urls <= 0) {
		core_log_error("bad configuration: %s must list 1 to %d URLs",
		    def->listen_env, MAX_LISTEN);
		return 2;
	}
	/* The credentials of tls+tcp:// (RPC_TLS_*), before init: a client
	 * the service makes there uses them too. */
	core_tls *tls = NULL;
	char err[512];
	if (core_tls_from_env(&tls, err, sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
		return 2;
	}
	for (int i = 0; i < n_urls && tls == NULL; i++) {
		if (strncmp(urls[i], "tls+", 4) == 0) {
			core_log_error(
			    "bad configuration: %s has %s but no TLS "
			    "credentials: set RPC_TLS_CERT_FILE, "
			    "RPC_TLS_KEY_FILE and RPC_TLS_CA_FILE",
			    def->listen_env, urls[i]);
			return 2;
		}
	}
	core_tls_set_default(tls);
	if (def->init != NULL && def->init(&app) != 0) {
		core_log_error("initialisation failed");
		core_tls_set_default(NULL);
		core_tls_free(tls);
		return 1;
	}
	core_rpc_server_config cfg = {
	    .name = def->name,
	    .listen_urls = urls,
	    .n_listen = (size_t) n_urls,
	    .workers = (int) o.workers,
	    .max_msg_bytes = (size_t) o.max_msg,
	    .drain_ms = (int) o.drain_ms,
	    .worker_init = def->worker_init,
	    .worker_fini = def->worker_fini,
	    .app = app,
	    .health = def->health,
	    .auth = def->auth,
	};
	if (core_rpc_server_new(&cfg, def->services, def->n_services, &srv) !=
	    0) {
		core_log_error("cannot create the RPC server");
		goto done;
	}
	if (core_rpc_server_start(srv) != 0) {
		goto done;
	}
	core_log_info("ready");
	int sig = core_tls_wait_signal(tls, o.tls_reload_s);
	core_log_info("signal %d: draining calls in flight", sig);
	core_rpc_server_stop(srv);
	status = 0;
done:
	core_rpc_server_free(srv);
	if (def->fini != NULL) {
		def->fini(app);
	}
	core_tls_set_default(NULL);
	core_tls_free(tls);
	return status;
}
