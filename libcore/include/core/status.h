/* Canonical status codes: the one error vocabulary of the system.
 *
 * Numbers and names are gRPC's (and core.v1.Code's). The table below is the
 * single source for the enum and its names, so they cannot drift. */
#ifndef CORE_STATUS_H
#define CORE_STATUS_H

#define CORE_STATUS_TABLE(X)                                                  \
	X(OK, 0)                                                              \
	X(CANCELLED, 1)                                                       \
	X(UNKNOWN, 2)                                                         \
	X(INVALID_ARGUMENT, 3)                                                \
	X(DEADLINE_EXCEEDED, 4)                                               \
	X(NOT_FOUND, 5)                                                       \
	X(ALREADY_EXISTS, 6)                                                  \
	X(PERMISSION_DENIED, 7)                                               \
	X(RESOURCE_EXHAUSTED, 8)                                              \
	X(FAILED_PRECONDITION, 9)                                             \
	X(ABORTED, 10)                                                        \
	X(OUT_OF_RANGE, 11)                                                   \
	X(UNIMPLEMENTED, 12)                                                  \
	X(INTERNAL, 13)                                                       \
	X(UNAVAILABLE, 14)                                                    \
	X(DATA_LOSS, 15)                                                      \
	X(UNAUTHENTICATED, 16)

typedef enum core_status {
#define CORE_STATUS_ENUM(name, num) CORE_##name = num,
	CORE_STATUS_TABLE(CORE_STATUS_ENUM)
#undef CORE_STATUS_ENUM
} core_status;

#define CORE_STATUS_MAX 16

/* Marks a function whose result must be looked at (security checks,
 * decoders): ignoring it is a compile error with -Werror. */
#define CORE_WARN_UNUSED __attribute__((warn_unused_result))

/* Name of a status ("INVALID_ARGUMENT"); "UNKNOWN" for numbers outside the
 * table. Never NULL. */
const char *core_status_str(int status);

/* Parses a status name (case-insensitive). Returns 0 and writes *out on
 * success, -1 if the name is not a status. */
int core_status_parse(const char *name, core_status *out);

#endif
