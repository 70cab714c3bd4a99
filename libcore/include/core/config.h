/* Configuration from environment variables, table-driven (12-factor).
 *
 * A process declares one table of items; core_config_load() fills each
 * item's destination from the environment or its default, validating ranges,
 * and core_config_log() logs the effective values with secrets masked.
 *
 * Every item NAME may instead be read from a file named by NAME_FILE (the
 * Docker and Kubernetes convention for secrets): when NAME is unset or empty
 * and NAME_FILE is set, the value is the file's content with trailing line
 * ends removed. */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum core_config_type {
	CORE_CONFIG_STR, /* dst is const char **: into environ, def, or a file's
	                    copy (NAME_FILE) */
	CORE_CONFIG_INT,  /* dst is long *; value in [min, max] */
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

/* Largest file a NAME_FILE variable may name, in bytes. */
#define CORE_CONFIG_FILE_MAX 65536

/* Loads every item. Returns 0, or -1 with a message naming the variable in
 * err (which the caller should print before exiting with status 2).
 * NAME_FILE errors: NAME and NAME_FILE both set; the file unreadable, not a
 * regular file, larger than CORE_CONFIG_FILE_MAX, empty (after trimming) or
 * holding a NUL byte. A value read from a file lives in locked memory left
 * out of core dumps until the process exits. Call at start, from one
 * thread. */
int core_config_load(
    const core_config_item *items, size_t n, char *err, size_t errlen);

/* Logs the effective configuration as one info line. For a value read from
 * a file the line also holds NAME_FILE with the file's path. */
void core_config_log(const core_config_item *items, size_t n);

/* Wipes the value of the string item called name once it has been used:
 * its bytes in the environment are overwritten with zeros (so
 * /proc/PID/environ no longer shows them and the variable reads as empty,
 * which core_config_load takes as unset; it is not unset, as unsetenv would
 * race with getenv in the other threads of the process), or the guarded copy
 * read from NAME_FILE is wiped and freed. The item's destination becomes "".
 * Call it after core_config_log, from the thread that loaded. */
void core_config_wipe(
    const core_config_item *items, size_t n, const char *name);

/* Writes v into buf (len bytes) with its passwords replaced by "********":
 * a URL's userinfo password (everything between the first ':' after the
 * scheme and the last '@', so a password holding '@', ':' or '/' is
 * masked whole; a URL with '@' later in its query loses more than the
 * password, never less) and every "password=" value (a libpq keyword
 * string or a URL query parameter). What core_config_log writes for a
 * setting that is not a secret. */
void core_config_mask(const char *v, char *buf, size_t len);

/* A scope for the settings of one component of a process that runs
 * several (the single-process mode, microcore): while a thread is in one,
 * core_config_load, core_config_log, core_config_wipe, core_config_var and
 * core_tls_from_env read each variable NAME as
 *   1. PREFIX_NAME (or PREFIX_NAME_FILE), when set: the component's own
 *      value (not for a NAME that already starts with "PREFIX_");
 *   2. else the scope's fixed value for NAME, when it has one (the program's
 *      choice, e.g. an inproc:// dial list);
 *   3. else NAME, as without a scope (a value the components share). */
typedef struct core_config_scope {
	const char *prefix; /* "AUTH" */
	/* name, value, name, value, ..., NULL (NULL: none). */
	const char *const *fixed;
} core_config_scope;

/* Puts the calling thread in scope s (not copied: it must outlive its
 * use), or out of any with NULL. */
void core_config_enter(const core_config_scope *s);

/* The variable that supplies name in the calling thread's scope: PREFIX_name
 * when that or PREFIX_name_FILE is set, else name. Written to buf (len
 * bytes; name itself when it does not fit) and returned. */
const char *core_config_var(const char *name, char *buf, size_t len);

/* Splits a comma- or space-separated list (e.g. a dial list of URLs) into at
 * most max entries copied into the caller's buffer. Returns the count, or -1
 * if there are more than max entries or they don't fit in buf. */
int core_config_split(
    const char *list, char *buf, size_t buflen, const char **out, int max);

#endif
