/* Clocks in milliseconds. */
#ifndef CORE_CLOCK_H
#define CORE_CLOCK_H

#include <stdint.h>

/* Monotonic time: for intervals, timeouts and rate limits in one process. */
int64_t core_monotonic_ms(void);

/* Unix time: for timestamps shared between processes (stored in Redis). */
int64_t core_unix_ms(void);

#endif
