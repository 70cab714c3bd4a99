/* microcore: the single-process mode. The edge and the three services in
 * one process, each with its own settings (core_config_scope: AUTH_X before
 * X for svc-auth, ...), workers, connections, TLS credentials and log name,
 * calling each other over inproc:// (one URL per caller, core/inproc.h:
 * the method rules see the same identities as over tls+tcp://). The
 * services also listen on their configured URLs for callers outside the
 * process (rpcctl, probes).
 *
 *   microcore [--run edge,auth,user,admin]
 *
 * A component left out of --run is reached at its configured dial list
 * (AUTH_RPC_DIAL, ...), as in the split mode. See docs/operations.md. */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_component.h"
#include "auth_component.h"
#include "component.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/inproc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/rpc.h"
#include "core/service.h"
#include "core/tls.h"
#include "user_component.h"

/* One row per component, services first (they start before the edge). */
typedef struct component {
	const char *name;     /* in --run: "auth" */
	const char *identity; /* its log name and caller identity */
	const char *prefix;   /* of its own variables: AUTH_RPC_WORKERS */
	const char *dial_env; /* how the others name its URLs; NULL: edge */
	const core_service_def *(*def)(void); /* NULL: the edge */
} component;

static const component all[] = {
    {"auth", "svc-auth", "AUTH", "AUTH_RPC_DIAL", auth_component},
    {"user", "svc-user", "USER", "USER_RPC_DIAL", user_component},
    {"admin", "svc-admin", "ADMIN", "ADMIN_RPC_DIAL", admin_component},
    {"edge", "edge", "EDGE", NULL, NULL},
};
#define N_ALL (sizeof(all) / sizeof(all[0]))

/* What one component of this run holds. */
typedef struct slot {
	bool run;
	char inproc[N_ALL]
	           [CORE_INPROC_URL_MAX]; /* its listeners, per caller */
	const char *inproc_urls[N_ALL];
	char dial[N_ALL][CORE_INPROC_URL_MAX]; /* to the others */
	const char *fixed[2 * N_ALL + 1];
	core_config_scope scope;
	core_service_host host;
	core_service *svc;
	bool made;    /* edge: edge_component_new ran */
	bool started; /* its start succeeded */
	int rc;       /* of its start: 0, or its exit status */
	pthread_t thread;
	bool threaded; /* started in thread: join it */
} slot;

static slot slots[N_ALL];

/* The process's one metrics listener: every component's series, each
 * with its component label. */
static const char *metrics_listen;
static core_metrics_listener *metrics;

static int
usage(void)
{
	fprintf(stderr, "usage: microcore [--run edge,auth,user,admin]\n"
	                "  runs the listed components in one process "
	                "(default: all of them)\n");
	return 2;
}

/* Marks the components listed in spec. Returns 0, or -1 (printed). */
static int
parse_run(const char *spec)
{
	char buf[128];
	const char *names[N_ALL + 1];
	int n = core_config_split(spec, buf, sizeof(buf), names, N_ALL + 1);
	if (n <= 0) {
		fprintf(
		    stderr, "microcore: --run needs a list of components\n");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		size_t k = 0;
		while (k < N_ALL && strcmp(all[k].name, names[i]) != 0) {
			k++;
		}
		if (k == N_ALL || slots[k].run) {
			fprintf(stderr,
			    "microcore: --run: \"%s\" is %s (components: "
			    "edge, auth, user, admin)\n",
			    names[i], k == N_ALL ? "unknown" : "listed twice");
			return -1;
		}
		slots[k].run = true;
	}
	return 0;
}

/* Component i's scope (its prefix; each service of the run as an inproc://
 * dial list naming i as the caller) and, for a service, its in-process
 * listeners (one per other component of the run). */
static int
plan(size_t i)
{
	slot *s = &slots[i];
	size_t nf = 0, nl = 0;
	for (size_t k = 0; k < N_ALL; k++) {
		if (k == i || !slots[k].run) {
			continue;
		}
		if (all[k].dial_env != NULL) {
			if (core_inproc_url(s->dial[k], sizeof(s->dial[k]),
			        all[k].identity, all[i].identity) != 0) {
				return -1;
			}
			s->fixed[nf++] = all[k].dial_env;
			s->fixed[nf++] = s->dial[k];
		}
		if (all[i].def != NULL) {
			if (core_inproc_url(s->inproc[nl],
			        sizeof(s->inproc[nl]), all[i].identity,
			        all[k].identity) != 0) {
				return -1;
			}
			s->inproc_urls[nl] = s->inproc[nl];
			nl++;
		}
	}
	s->fixed[nf] = NULL;
	s->scope = (core_config_scope){all[i].prefix, s->fixed};
	s->host = (core_service_host){&s->scope, s->inproc_urls, nl};
	return 0;
}

/* The services of the run still starting: the edge dials them only once
 * they have all finished (listening, or failed), so its connections are
 * made at once and its readiness follows the last of them closely, instead
 * of waiting for its dialers' next attempts (nng backs off up to a
 * second). */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;
} services = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void
service_finished(void)
{
	pthread_mutex_lock(&services.mu);
	services.pending--;
	pthread_cond_broadcast(&services.cv);
	pthread_mutex_unlock(&services.mu);
}

static void
wait_services(void)
{
	pthread_mutex_lock(&services.mu);
	while (services.pending > 0) {
		pthread_cond_wait(&services.cv, &services.mu);
	}
	pthread_mutex_unlock(&services.mu);
}

/* Configures, initialises and starts component i (in a thread of its own);
 * its status in rc. */
static void *
start_one(void *arg)
{
	slot *s = arg;
	size_t i = (size_t) (s - slots);
	if (all[i].def != NULL) {
		s->rc = core_service_new(all[i].def(), &s->host, &s->svc);
		if (s->rc == 0) {
			s->rc = core_service_start(s->svc);
		}
		service_finished();
	} else {
		s->made = true;
		s->rc = edge_component_new(&s->scope, true);
		if (s->rc == 0) {
			wait_services();
			s->rc = edge_component_dial();
		}
		if (s->rc == 0) {
			s->rc = edge_component_start();
		}
	}
	s->started = s->rc == 0;
	core_config_enter(NULL);
	core_log_enter(NULL);
	return NULL;
}

/* Configures, initialises and starts every component of the run at once,
 * each in a thread of its own, and waits for all of them: the process is
 * ready after the slowest, not after the sum. What would make them
 * interfere is per thread or made safe (core_config_enter and
 * core_log_enter are per thread, a service's or the edge's credentials are
 * its thread's default only while it dials, core_log_component_add takes a
 * slot atomically, secrets are wiped from the environment without
 * unsetenv). A service that dials another before that one listens finds
 * it at its dialer's next attempt; the edge dials once the services
 * listen (wait_services). Returns
 * 0, or the exit status of the first component in the table's order that
 * failed (the others that started are stopped by stop_all). */
static int
start_all(void)
{
	for (size_t i = 0; i < N_ALL; i++) {
		if (slots[i].run && plan(i) != 0) {
			core_log_error("cannot name the inproc:// URLs");
			return 1;
		}
		services.pending += slots[i].run && all[i].def != NULL;
	}
	for (size_t i = 0; i < N_ALL; i++) {
		slot *s = &slots[i];
		if (!s->run) {
			continue;
		}
		s->threaded =
		    pthread_create(&s->thread, NULL, start_one, s) == 0;
		if (!s->threaded) {
			start_one(s); /* in this thread, then */
		}
	}
	for (size_t i = 0; i < N_ALL; i++) {
		if (slots[i].threaded) {
			pthread_join(slots[i].thread, NULL);
		}
	}
	for (size_t i = 0; i < N_ALL; i++) {
		if (slots[i].rc != 0) {
			return slots[i].rc;
		}
	}
	return 0;
}

/* Waits for SIGINT/SIGTERM, reloading every component's credentials on
 * SIGHUP and, at the shortest RPC_TLS_RELOAD_S of them, when changed. */
static int
wait_signal(void)
{
	core_tls *tls[N_ALL] = {NULL};
	long poll_s = 0;
	for (size_t i = 0; i < N_ALL; i++) {
		long p = 0;
		if (slots[i].svc != NULL) {
			tls[i] = core_service_tls(slots[i].svc);
			p = core_service_tls_reload_s(slots[i].svc);
		} else if (slots[i].made) {
			tls[i] = edge_component_tls();
			p = edge_component_tls_reload_s();
		}
		if (tls[i] != NULL && p > 0 && (poll_s == 0 || p < poll_s)) {
			poll_s = p;
		}
	}
	return core_tls_wait_signal_all(tls, N_ALL, poll_s);
}

/* The edge first (no new requests), then the services; each drains what
 * is in flight. After a failed start, those that did start. */
static void
stop_all(void)
{
	for (size_t i = N_ALL; i-- > 0;) {
		slot *s = &slots[i];
		if (s->svc != NULL && s->started) {
			core_service_stop(s->svc);
		} else if (s->made && s->started) {
			edge_component_stop();
		}
	}
	for (size_t i = N_ALL; i-- > 0;) {
		if (slots[i].made) {
			edge_component_free();
		}
		core_service_free(slots[i].svc);
	}
}

/* The process's own settings: its log level and the format of the one
 * stream (a component's PREFIX_LOG_LEVEL overrides the level for it), and
 * its metrics listener. */
static int
configure_log(void)
{
	const char *level_s, *format;
	const core_config_item items[] = {
	    {"LOG_LEVEL", "info", CORE_CONFIG_STR, 0, 0, false,
	        "debug, info, warn or error", &level_s},
	    {"LOG_FORMAT", "json", CORE_CONFIG_STR, 0, 0, false,
	        "json or text", &format},
	    {"METRICS_LISTEN", "127.0.0.1:9100", CORE_CONFIG_STR, 0, 0, false,
	        "metrics listener of every component, host:port (GET "
	        "/metrics; off: none)",
	        &metrics_listen},
	};
	size_t n = sizeof(items) / sizeof(items[0]);
	char err[256];
	core_log_level level;
	int on;
	if (core_config_load(items, n, err, sizeof(err)) != 0 ||
	    core_log_level_parse(level_s, &level) != 0 ||
	    (strcmp(format, "json") != 0 && strcmp(format, "text") != 0)) {
		core_log_error("bad configuration: LOG_LEVEL must be "
		               "debug|info|warn|error, LOG_FORMAT json|text");
		return -1;
	}
	if (core_metrics_listen_check(metrics_listen, &on, err, sizeof(err)) !=
	    0) {
		core_log_error("bad configuration: %s", err);
		return -1;
	}
	core_log_init("microcore", level, strcmp(format, "text") != 0);
	core_config_log(items, n);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *spec = "edge,auth,user,admin";
	if (argc == 3 && strcmp(argv[1], "--run") == 0) {
		spec = argv[2];
	} else if (argc != 1) {
		return usage();
	}
	if (parse_run(spec) != 0) {
		return usage();
	}
	/* Every thread inherits this mask, so signals reach only sigwait. */
	core_rpc_block_signals();
	core_log_init("microcore", CORE_LOG_INFO, true);
	if (configure_log() != 0) {
		return 2;
	}
	core_metrics_process_init("single");
	/* Before the components' threads: it sets jansson's allocator. */
	edge_component_process_init();
	int status = core_metrics_serve(metrics_listen, &metrics) != 0 ? 1 : 0;
	if (status == 0) {
		status = start_all();
	}
	if (status == 0) {
		char age[24];
		snprintf(age, sizeof(age), "%lld",
		    (long long) core_process_age_ms());
		core_log_kv(CORE_LOG_INFO, "every component is ready",
		    "since_start_ms", age, NULL);
		/* The start threads allocated in malloc arenas of their own;
		 * what they freed goes back to the system now instead of
		 * staying in the idle process's RSS. */
		malloc_trim(0);
		int sig = wait_signal();
		core_log_info("signal %d: stopping", sig);
	}
	stop_all();
	core_metrics_listener_stop(metrics);
	core_log_enter(NULL);
	core_log_info("stopped");
	return status;
}
