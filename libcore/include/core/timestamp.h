/* google.protobuf.Timestamp values for replies. */
#ifndef CORE_TIMESTAMP_H
#define CORE_TIMESTAMP_H

#include <stdint.h>

#include "google/protobuf/timestamp.pb-c.h"

#include "core/arena.h"

/* A Timestamp for us microseconds of Unix time, allocated in a (NULL when
 * the arena is full). */
Google__Protobuf__Timestamp *core_timestamp_new(core_arena *a, int64_t us);

#endif
