#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

static int64_t
ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
core_monotonic_ms(void)
{
	return ms(CLOCK_MONOTONIC);
}

int64_t
core_unix_ms(void)
{
	return ms(CLOCK_REALTIME);
}

int64_t
core_process_age_ms(void)
{
	/* Field 22 of /proc/self/stat, after the command in parentheses
	 * (which may hold spaces): the start in clock ticks since boot. */
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f != NULL) {
		fclose(f);
	}
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long long start;
	long hz = sysconf(_SC_CLK_TCK);
	if (p == NULL || hz <= 0 ||
	    sscanf(p + 1,
	        " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
	        "%*d %*d %*d %*d %*d %llu",
	        &start) != 1) {
		return -1;
	}
	return ms(CLOCK_BOOTTIME) -
	       (int64_t) (start * 1000 / (unsigned long long) hz);
}
