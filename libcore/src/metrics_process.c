/* The process metrics (core_metrics_process_init): the names and meanings
 * of Prometheus' client libraries (process_*), read from /proc/self at
 * each scrape, process-wide (no component label), and the build. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"

#ifndef CORE_VERSION
#define CORE_VERSION "unknown"
#endif

enum { P_START, P_RSS, P_FDS, P_MAX_FDS, P_CPU, P_THREADS, P_N };

static const struct {
	core_metric_type type;
	const char *name, *help;
} defs[P_N] = {
    [P_START] = {CORE_METRIC_GAUGE, "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds."},
    [P_RSS] = {CORE_METRIC_GAUGE, "process_resident_memory_bytes",
        "Resident memory size, in bytes."},
    [P_FDS] = {CORE_METRIC_GAUGE, "process_open_fds",
        "Number of open file descriptors."},
    [P_MAX_FDS] = {CORE_METRIC_GAUGE, "process_max_fds",
        "Maximum number of open file descriptors (the soft limit)."},
    [P_CPU] = {CORE_METRIC_COUNTER, "process_cpu_seconds_total",
        "User and system CPU time spent, in seconds."},
    [P_THREADS] = {CORE_METRIC_GAUGE, "process_threads",
        "Number of threads of the process."},
};

static core_metric_series *series[P_N];

/* The fields of /proc/self/stat after the command (whose name may hold
 * spaces and parentheses: it ends at the last ')'). Field numbers as in
 * proc(5): utime 14, stime 15, num_threads 20, starttime 22, rss 24. */
typedef struct stat_fields {
	unsigned long long utime, stime, starttime;
	long threads, rss;
} stat_fields;

static int
read_stat(stat_fields *f)
{
	char buf[1024];
	FILE *fp = fopen("/proc/self/stat", "r");
	if (fp == NULL) {
		return -1;
	}
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	if (p == NULL) {
		return -1;
	}
	/* p + 2 is field 3 (state). */
	int got = sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
	    "%*d %*d %ld %*d %llu %*u %ld",
	    &f->utime, &f->stime, &f->threads, &f->starttime, &f->rss);
	return got == 5 ? 0 : -1;
}

/* The boot time (btime of /proc/stat), in seconds since the epoch. */
static long long
boot_time(void)
{
	char line[256];
	long long bt = -1;
	FILE *fp = fopen("/proc/stat", "r");
	if (fp == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "btime %lld", &bt) == 1) {
			break;
		}
	}
	fclose(fp);
	return bt;
}

static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;
	if (d == NULL) {
		return -1;
	}
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void
collect(void *arg)
{
	(void) arg;
	stat_fields f;
	double tick = (double) sysconf(_SC_CLK_TCK);
	if (tick > 0 && read_stat(&f) == 0) {
		core_metric_counter_set(
		    series[P_CPU], (double) (f.utime + f.stime) / tick);
		core_metric_set(series[P_THREADS], (double) f.threads);
		core_metric_set(series[P_RSS],
		    (double) f.rss * (double) sysconf(_SC_PAGESIZE));
		long long bt = boot_time();
		if (bt > 0) {
			core_metric_set(series[P_START],
			    (double) bt + (double) f.starttime / tick);
		}
	}
	long fds = open_fds();
	if (fds >= 0) {
		core_metric_set(series[P_FDS], (double) fds);
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		core_metric_set(series[P_MAX_FDS], rl.rlim_cur == RLIM_INFINITY
		                                       ? INFINITY
		                                       : (double) rl.rlim_cur);
	}
}

static void
init_once(const char *mode)
{
	for (int i = 0; i < P_N; i++) {
		series[i] = core_metric_series_get(
		    core_metric_family(defs[i].type, defs[i].name,
		        defs[i].help, NULL, NULL, 0),
		    "", NULL);
	}
	static const char *const labels[] = {"version", "mode", NULL};
	core_metric *info =
	    core_metric_family(CORE_METRIC_GAUGE, "microcore_build_info",
	        "Always 1: the version of the build and the deployment mode "
	        "(split: a process per service; single: microcore).",
	        labels, NULL, 0);
	const char *const values[] = {CORE_VERSION, mode};
	core_metric_set(core_metric_series_get(info, "", values), 1);
	core_metrics_on_collect(collect, NULL);
}

void
core_metrics_process_init(const char *mode)
{
	static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
	static bool done;
	pthread_mutex_lock(&once);
	if (!done) {
		done = true;
		init_once(mode != NULL ? mode : "split");
	}
	pthread_mutex_unlock(&once);
}
