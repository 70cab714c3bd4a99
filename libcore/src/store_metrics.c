/* The metrics of the PostgreSQL and Redis handles; see store_metrics.h. */
#include <time.h>

#include "store_metrics.h"

/* The families of one store, by store_kind. */
static const struct {
	const char *statements, *statements_help;
	const char *duration, *duration_help;
	const char *reconnects, *reconnects_help;
	const char *connections, *connections_help;
} families[] = {
    [STORE_PG] =
        {
            "pg_statements_total",
            "PostgreSQL statements by outcome (ok, error: the server "
            "refused it, unavailable: no connection or it broke).",
            "pg_statement_duration_seconds",
            "Time of a PostgreSQL statement, reconnecting included.",
            "pg_reconnects_total",
            "New PostgreSQL connections that replaced a lost one.",
            "pg_connections",
            "PostgreSQL connections open now.",
        },
    [STORE_REDIS] =
        {
            "redis_commands_total",
            "Redis commands by outcome (ok, error: an error reply, "
            "unavailable: no connection or it broke).",
            "redis_command_duration_seconds",
            "Time of a Redis round trip (one command or one pipeline), "
            "reconnecting included.",
            "redis_reconnects_total",
            "New Redis connections that replaced a lost one.",
            "redis_connections",
            "Redis connections open now.",
        },
};

static const char *const outcome_names[STORE_N_OUTCOMES] = {
    [STORE_OK] = "ok",
    [STORE_ERROR] = "error",
    [STORE_UNAVAILABLE] = "unavailable",
};

void
store_metrics_init(store_metrics *m, store_kind kind)
{
	static const char *const outcome_label[] = {"outcome", NULL};
	*m = (store_metrics){0};
	core_metric *f =
	    core_metric_family(CORE_METRIC_COUNTER, families[kind].statements,
	        families[kind].statements_help, outcome_label, NULL, 0);
	for (int i = 0; i < STORE_N_OUTCOMES; i++) {
		const char *v[] = {outcome_names[i]};
		m->outcome[i] = f ? core_metric_series_get(f, NULL, v) : NULL;
	}
	f = core_metric_family(CORE_METRIC_HISTOGRAM, families[kind].duration,
	    families[kind].duration_help, NULL, NULL, 0);
	m->duration = f ? core_metric_series_get(f, NULL, NULL) : NULL;
	f = core_metric_family(CORE_METRIC_COUNTER, families[kind].reconnects,
	    families[kind].reconnects_help, NULL, NULL, 0);
	m->reconnects = f ? core_metric_series_get(f, NULL, NULL) : NULL;
	f = core_metric_family(CORE_METRIC_GAUGE, families[kind].connections,
	    families[kind].connections_help, NULL, NULL, 0);
	m->connections = f ? core_metric_series_get(f, NULL, NULL) : NULL;
}

store_outcome
store_outcome_of(core_status st)
{
	return st == CORE_OK            ? STORE_OK
	       : st == CORE_UNAVAILABLE ? STORE_UNAVAILABLE
	                                : STORE_ERROR;
}

double
store_metrics_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

void
store_metrics_done(store_metrics *m, store_outcome o, unsigned n, double t0)
{
	core_metric_add(m->outcome[o], (double) n);
	if (t0 > 0) {
		core_metric_observe(m->duration, store_metrics_now() - t0);
	}
}

void
store_metrics_connected(store_metrics *m)
{
	if (m->connected_once) {
		core_metric_inc(m->reconnects);
	}
	m->connected_once = true;
	if (!m->up) {
		core_metric_inc(m->connections);
		m->up = true;
	}
}

void
store_metrics_disconnected(store_metrics *m)
{
	if (m->up) {
		core_metric_add(m->connections, -1);
		m->up = false;
	}
}
