/* Clocks in milliseconds. */
#ifndef CORE_CLOCK_H
#define CORE_CLOCK_H

#include <stdint.h>

/* Monotonic time: for intervals, timeouts and rate limits in one process. */
int64_t core_monotonic_ms(void);

/* Unix time: for timestamps shared between processes (stored in Redis). */
int64_t core_unix_ms(void);

/* Milliseconds since this process was started (its creation, as the
 * kernel records it: what "time from exec to ready" is measured from), or
 * -1 when /proc cannot tell. */
int64_t core_process_age_ms(void);

#endif
