/* Prometheus metrics: a process-wide registry of families (counters, gauges,
 * histograms), each with a bounded set of series (one per label set), and
 * the text exposition format (0.0.4) of all of them.
 *
 * Registering a family or a series takes a lock; updating a series does not
 * (relaxed atomics), so hot paths look a series up once and keep the
 * pointer. Families and series live as long as the process.
 *
 * Every family has the label "component" first: the part of the process a
 * series belongs to (the service's name, "svc-auth"; in the single-process
 * mode each component's own). Process-wide series (RSS, open fds) have
 * none. */
#ifndef CORE_METRICS_H
#define CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum core_metric_type {
	CORE_METRIC_COUNTER,
	CORE_METRIC_GAUGE,
	CORE_METRIC_HISTOGRAM
} core_metric_type;
typedef struct core_metric core_metric;               /* a family */
typedef struct core_metric_series core_metric_series; /* one label set */

/* Buckets in seconds for latencies: 0.0001 0.00025 0.0005 0.001 0.0025 0.005
 * 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 */
extern const double core_metric_latency_buckets[];
extern const size_t core_metric_latency_buckets_n;

/* Bounds of the registry. */
#define CORE_METRIC_MAX_FAMILIES 256
#define CORE_METRIC_MAX_LABELS 4    /* a family's own, besides component */
#define CORE_METRIC_MAX_BUCKETS 32  /* a histogram's, besides +Inf */
#define CORE_METRIC_MAX_SERIES 1024 /* per family */
#define CORE_METRIC_MAX_VALUE 128   /* bytes of a label value (longer: cut) */
#define CORE_METRIC_MAX_COLLECTORS 32 /* core_metrics_on_collect */

/* Finds or registers a family (thread-safe, lives as long as the process).
 * labels: the family's own label names, NULL-terminated (NULL = none), at
 * most 4; every family also has the label "component" first (see above).
 * Histograms take buckets (NULL = latency buckets), strictly increasing,
 * at most CORE_METRIC_MAX_BUCKETS (+Inf is implied). The same name again
 * returns the same family; a different type or labels returns NULL and logs
 * an error. NULL too (logged) for an invalid name or label name (Prometheus'
 * [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]*, no "__" prefix, no
 * "component", no "le" in a histogram), bad buckets, or past
 * CORE_METRIC_MAX_FAMILIES. name and help are copied. */
core_metric *core_metric_family(core_metric_type type, const char *name,
    const char *help, const char *const *labels, const double *buckets,
    size_t n_buckets);

/* Finds or creates the series with these label values (as many as the
 * family's labels, copied; values longer than CORE_METRIC_MAX_VALUE bytes
 * are cut). component: NULL = the calling thread's core_log_service() — in
 * the split mode the process's name, in microcore the component the thread
 * works for; "" = no component label (process-wide metrics). Thread-safe (a
 * lock: cache the pointer on hot paths). Returns NULL when m is NULL, out
 * of memory or past the family's series bound (logged once); every update
 * below takes NULL as a no-op. */
core_metric_series *core_metric_series_get(
    core_metric *m, const char *component, const char *const *values);

/* Counter or gauge += 1. */
void core_metric_inc(core_metric_series *s);
/* Counter (v >= 0; a negative v is ignored) or gauge += v. */
void core_metric_add(core_metric_series *s, double v);
/* Gauge = v. A gauge is either set or moved (inc, dec, add): a set racing
 * with a move on the same series may lose the move. */
void core_metric_set(core_metric_series *s, double v);
/* Histogram: one observation (NaN is ignored). */
void core_metric_observe(core_metric_series *s, double v);

/* Gauge -= 1 (the other half of core_metric_inc for an in-flight gauge). */
void core_metric_dec(core_metric_series *s);

/* Sets a counter that is kept elsewhere (CPU seconds from /proc, a count a
 * library keeps) to v, its current value there. Only for a counter nothing
 * else adds to; v must not go down. */
void core_metric_counter_set(core_metric_series *s, double v);

/* The current value of a counter or gauge, or a histogram's count (tests;
 * NULL: 0). */
double core_metric_value(const core_metric_series *s);

/* A function run before each rendering (to set gauges read from elsewhere:
 * RSS, fds, connections up, outbox backlog). At most
 * CORE_METRIC_MAX_COLLECTORS (more are refused and logged). fn runs on
 * the rendering thread without the registry's lock held, so it may look
 * series up. */
void core_metrics_on_collect(void (*fn)(void *arg), void *arg);

/* The Prometheus text format (0.0.4) of every family, malloc'd (caller
 * frees), or NULL (out of memory). *len gets its length (len may be NULL).
 * A family without series renders its HELP/TYPE only. */
char *core_metrics_render(size_t *len);

/* ---- The metrics listener ------------------------------------------------ */

/* The content type of the text format. */
#define CORE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct core_metrics_listener core_metrics_listener;

/* Parses a METRICS_LISTEN value: "host:port" (host a name or an IPv4
 * address; "[v6]:port" for IPv6; port 1..65535). "" and "off" mean no
 * listener: returns 0 with *enabled false. Returns 0, or -1 with a message
 * in err (errlen bytes). */
int core_metrics_listen_check(
    const char *addr, int *enabled, char *err, size_t errlen);

/* Starts an HTTP server (libmicrohttpd, its own thread) on addr that
 * answers GET and HEAD /metrics with core_metrics_render(), 404 for any
 * other path and 405 for any other method. addr as for
 * core_metrics_listen_check ("" or "off": *out is NULL and 0 is
 * returned). Returns 0 with *out, or -1 (logged: bad address, port in
 * use). */
int core_metrics_listener_start(const char *addr, core_metrics_listener **out);

/* The process's listener from its METRICS_LISTEN value addr (the
 * variable of the process, never a component's prefixed one: one listener
 * per process). When the variable is set, the address must be served:
 * failing that is an error (-1, logged). When it is not, addr is the
 * process's default, and if another process holds that port already (two
 * instances on one host) this one runs without a listener, with a warning
 * (0, *out NULL). Otherwise as core_metrics_listener_start. */
int core_metrics_serve(const char *addr, core_metrics_listener **out);

/* Stops and frees it. NULL is a no-op. */
void core_metrics_listener_stop(core_metrics_listener *l);

/* Registers the process metrics (process_* from /proc/self, process-wide)
 * and microcore_build_info{version,mode} = 1 (mode "split" or "single"),
 * read at each rendering. Call once at start; later calls do nothing. */
void core_metrics_process_init(const char *mode);

#endif
