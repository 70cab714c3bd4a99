/* Configuration from environment variables, table-driven (12-factor).
 *
 * A process declares one table of items; core_config_load() fills each
 * item's destination from the environment or its default, validating ranges,
 * and core_config_log() logs the effective values with secrets masked. */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum core_config_type {
	CORE_CONFIG_STR, /* dst is const char ** (points into environ or def) */
	CORE_CONFIG_INT, /* dst is long *; value in [min, max] */
	CORE_CONFIG_BOOL, /* dst is bool *; true/false/1/0/yes/no/on/off */
} core_config_type;

typedef struct core_config_item {
	const char *name; /* environment variable */
	const char *def;  /* default value as text */
	core_config_type type;
	long min, max; /* for CORE_CONFIG_INT */
	bool secret;   /* masked in logs */
	const char *help;
	void *dst;
} core_config_item;

/* Loads every item. Returns 0, or -1 with a message naming the variable in
 * err (which the caller should print before exiting with status 2). */
int core_config_load(const core_config_item *items, size_t n, char *err,
    size_t errlen);

/* Logs the effective configuration as one info line. */
void core_config_log(const core_config_item *items, size_t n);

/* Splits a comma- or space-separated list (e.g. a dial list of URLs) into at
 * most max entries copied into the caller's buffer. Returns the count, or -1
 * if there are more than max entries or they don't fit in buf. */
int core_config_split(const char *list, char *buf, size_t buflen,
    const char **out, int max);

#endif
