/* The metrics of the PostgreSQL and Redis handles (pg.c, redis.c); not for
 * callers of core/pg.h or core/redis.h. A handle looks its series up once,
 * when it is opened, for the component of the thread that opens it (a
 * worker opens its own connections), so that a statement or command only
 * adds to counters it already holds: no lock, no lookup. */
#ifndef CORE_STORE_METRICS_H
#define CORE_STORE_METRICS_H

#include <stdbool.h>

#include "core/metrics.h"
#include "core/status.h"

/* Which store: the prefix of the families' names. */
typedef enum store_kind {
	STORE_PG,    /* pg_statements_total, ... */
	STORE_REDIS, /* redis_commands_total, ... */
} store_kind;

/* How a statement or command ended (the "outcome" label). */
typedef enum store_outcome {
	STORE_OK,          /* "ok" */
	STORE_ERROR,       /* "error": the server said no, or a bad request */
	STORE_UNAVAILABLE, /* "unavailable": not connected, connection lost */
	STORE_N_OUTCOMES,
} store_outcome;

/* A handle's series; all NULL (every update a no-op) when the registry
 * could not give them. */
typedef struct store_metrics {
	core_metric_series *outcome[STORE_N_OUTCOMES];
	core_metric_series *duration;    /* histogram, seconds */
	core_metric_series *reconnects;  /* counter */
	core_metric_series *connections; /* gauge: connections open now */
	bool connected_once; /* a later connection is a reconnect */
	bool up;             /* counted in connections now */
} store_metrics;

/* Looks up m's series for kind and the calling thread's component. */
void store_metrics_init(store_metrics *m, store_kind kind);

/* The outcome of a status of core_pg_exec or of a Redis exchange. */
store_outcome store_outcome_of(core_status st);

/* A monotonic time in seconds, for durations. */
double store_metrics_now(void);

/* Counts n statements or commands that ended with o; when t0 > 0, one
 * round trip that began at t0 (store_metrics_now) into the latency
 * histogram. */
void store_metrics_done(
    store_metrics *m, store_outcome o, unsigned n, double t0);

/* A new connection is up (a reconnect when the handle had one before). */
void store_metrics_connected(store_metrics *m);

/* The handle's connection is gone (closed, lost or dropped). A no-op
 * when none was counted. */
void store_metrics_disconnected(store_metrics *m);

#endif
