#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "core/config.h"
#include "core/log.h"

static int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int
parse_long(const char *s, long *out)
{
	char *end;
	/* strtol would skip leading blanks; a value with them is a typo. */
	if (!(s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) {
		return -1;
	}
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		return -1;
	}
	*out = v;
	return 0;
}

/* name + "_FILE" into buf. -1 when it does not fit. */
static int
file_var_name(const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s_FILE", name);
	return n < 0 || (size_t) n >= len ? -1 : 0;
}

static _Thread_local const core_config_scope *scope;

void
core_config_enter(const core_config_scope *s)
{
	scope = s;
}

static bool
is_set(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0';
}

const char *
core_config_var(const char *name, char *buf, size_t len)
{
	char file[160];
	size_t pl = scope != NULL ? strlen(scope->prefix) : 0;
	if (pl == 0 ||
	    (strncmp(name, scope->prefix, pl) == 0 && name[pl] == '_')) {
		return name;
	}
	int n = snprintf(buf, len, "%s_%s", scope->prefix, name);
	if (n < 0 || (size_t) n >= len ||
	    file_var_name(buf, file, sizeof(file)) != 0) {
		return name;
	}
	return is_set(buf) || is_set(file) ? buf : name;
}

/* The scope's fixed value for name, or NULL. */
static const char *
fixed_value(const char *name)
{
	if (scope == NULL || scope->fixed == NULL) {
		return NULL;
	}
	for (const char *const *f = scope->fixed; f[0] != NULL; f += 2) {
		if (strcmp(f[0], name) == 0) {
			return f[1];
		}
	}
	return NULL;
}

/* Reads at most CORE_CONFIG_FILE_MAX bytes of the regular file at path into
 * buf (which has room for one byte more, to detect a larger file). Returns
 * the length, or -1 with a reason in err. */
static ssize_t
read_bounded(
    const char *var, const char *path, char *buf, char *err, size_t errlen)
{
	/* O_NONBLOCK: opening a FIFO without a writer must not hang. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	size_t len = 0;
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot read %s: %s", var, path,
		    strerror(errno));
		return -1;
	}
	/* Not a FIFO or a device: reading one could block or never end. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(
		    err, errlen, "%s: %s is not a regular file", var, path);
		close(fd);
		return -1;
	}
	while (len <= CORE_CONFIG_FILE_MAX) {
		ssize_t r =
		    read(fd, buf + len, CORE_CONFIG_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot read %s: %s", var,
			    path, strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0) {
			break;
		}
		len += (size_t) r;
	}
	close(fd);
	if (len > CORE_CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: %s is larger than %d bytes", var,
		    path, CORE_CONFIG_FILE_MAX);
		return -1;
	}
	return (ssize_t) len;
}

/* The value of an item from the file named by var (NAME_FILE): the file's
 * content without trailing line ends, in guarded memory that stays for the
 * life of the process (libsodium's: locked, left out of core dumps, read
 * only). Returns it, or NULL with a reason in err. */
static const char *
read_value_file(const char *var, const char *path, char *err, size_t errlen)
{
	char *buf = malloc(CORE_CONFIG_FILE_MAX + 1);
	char *value = NULL;
	ssize_t n = -1;
	size_t len;
	if (buf == NULL || sodium_init() < 0) {
		snprintf(err, errlen, "%s: out of memory", var);
		goto done;
	}
	if ((n = read_bounded(var, path, buf, err, errlen)) < 0) {
		goto done;
	}
	len = (size_t) n;
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: %s contains a NUL byte", var, path);
		goto done;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
		len--;
	}
	if (len == 0) {
		snprintf(err, errlen, "%s: %s is empty", var, path);
		goto done;
	}
	if ((value = sodium_malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", var);
		goto done;
	}
	memcpy(value, buf, len);
	value[len] = '\0';
	sodium_mprotect_readonly(value);
done:
	if (buf != NULL) {
		sodium_memzero(buf, CORE_CONFIG_FILE_MAX + 1);
	}
	free(buf);
	return value;
}

/* The text of one item: NAME, else the file named by NAME_FILE, else the
 * default. Returns it, or NULL with a message in err. */
static const char *
item_text(const core_config_item *it, char *err, size_t errlen)
{
	char var[160], own[128];
	const char *name = core_config_var(it->name, own, sizeof(own));
	const char *fixed = name == it->name ? fixed_value(name) : NULL;
	if (fixed != NULL) {
		return fixed;
	}
	const char *v = getenv(name);
	bool have_v = v != NULL && v[0] != '\0';
	if (file_var_name(name, var, sizeof(var)) != 0) {
		snprintf(err, errlen, "%s: name too long", name);
		return NULL;
	}
	const char *path = getenv(var);
	if (path == NULL || path[0] == '\0') {
		return have_v ? v : it->def;
	}
	if (have_v) {
		snprintf(err, errlen, "%s and %s are both set; set only one",
		    name, var);
		return NULL;
	}
	return read_value_file(var, path, err, errlen);
}

int
core_config_load(
    const core_config_item *items, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const core_config_item *it = &items[i];
		const char *v = item_text(it, err, errlen);
		if (v == NULL) {
			return -1;
		}
		switch (it->type) {
		case CORE_CONFIG_STR:
			*(const char **) it->dst = v;
			break;
		case CORE_CONFIG_INT: {
			long x;
			if (parse_long(v, &x) != 0 || x < it->min ||
			    x > it->max) {
				snprintf(err, errlen,
				    "%s: expected an integer from %ld to %ld",
				    it->name, it->min, it->max);
				return -1;
			}
			*(long *) it->dst = x;
			break;
		}
		case CORE_CONFIG_BOOL:
			if (parse_bool(v, (bool *) it->dst) != 0) {
				snprintf(err, errlen,
				    "%s: expected true or false", it->name);
				return -1;
			}
			break;
		}
	}
	return 0;
}

void
core_config_wipe(const core_config_item *items, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		const core_config_item *it = &items[i];
		if (it->type != CORE_CONFIG_STR ||
		    strcmp(it->name, name) != 0) {
			continue;
		}
		const char **dst = (const char **) it->dst;
		const char *v = *dst;
		char own[128];
		const char *var = core_config_var(name, own, sizeof(own));
		const char *env = getenv(var);
		if (v != NULL && v == env) {
			/* The environment's own bytes: writable, and what
			 * /proc/PID/environ shows. Overwritten, not unset:
			 * unsetenv rewrites the environment that other threads
			 * (another component starting, libpq) may be reading
			 * with getenv; the variable now reads as empty, which
			 * core_config_load takes as unset. */
			sodium_memzero((char *) (uintptr_t) v, strlen(v));
		} else if (v != NULL && v != it->def && v[0] != '\0') {
			/* read_value_file's guarded copy. */
			sodium_free((void *) (uintptr_t) v);
		}
		*dst = "";
	}
}

/* Appends n bytes of s to buf (cap bytes, *used so far), cutting at the
 * end; buf stays NUL-terminated. */
static void
put_n(char *buf, size_t cap, size_t *used, const char *s, size_t n)
{
	if (*used + 1 >= cap) {
		return;
	}
	if (n > cap - 1 - *used) {
		n = cap - 1 - *used;
	}
	memcpy(buf + *used, s, n);
	*used += n;
	buf[*used] = '\0';
}

/* Where the value of a "password=" starting at or after p ends: at a
 * space, '&' or the end; a libpq value in single quotes ends at its
 * closing quote (backslash escapes one character). */
static const char *
password_value_end(const char *p)
{
	if (*p == '\'') {
		for (p++; *p != '\0' && *p != '\''; p++) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
			}
		}
		return *p == '\'' ? p + 1 : p;
	}
	while (*p != '\0' && *p != ' ' && *p != '&' && *p != '\t') {
		p++;
	}
	return p;
}

void
core_config_mask(const char *v, char *buf, size_t len)
{
	static const char stars[] = "********", key[] = "password=";
	size_t used = 0;
	if (len == 0) {
		return;
	}
	buf[0] = '\0';
	const char *scheme = strstr(v, "://");
	const char *at = scheme ? strrchr(scheme + 3, '@') : NULL;
	const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
	const char *p = v;
	if (at != NULL && colon != NULL && colon < at) {
		put_n(buf, len, &used, v, (size_t) (colon + 1 - v));
		put_n(buf, len, &used, stars, sizeof(stars) - 1);
		p = at;
	}
	for (const char *k; (k = strstr(p, key)) != NULL;) {
		k += sizeof(key) - 1;
		put_n(buf, len, &used, p, (size_t) (k - p));
		put_n(buf, len, &used, stars, sizeof(stars) - 1);
		p = password_value_end(k);
	}
	put_n(buf, len, &used, p, strlen(p));
}

/* The whole value of a secret masked, or the passwords of any other. */
static void
masked(const core_config_item *it, const char *v, char *buf, size_t len)
{
	if (it->secret) {
		snprintf(buf, len, "%s", v[0] ? "********" : "");
		return;
	}
	core_config_mask(v, buf, len);
}

/* For a value read from a file, adds NAME_FILE with the file's path (never
 * its content) to the logged configuration. */
static void
log_file_origin(json_t *cfg, const core_config_item *it)
{
	char var[160], own[128];
	const char *name = core_config_var(it->name, own, sizeof(own));
	const char *v = getenv(name);
	if ((v != NULL && v[0] != '\0') ||
	    (name == it->name && fixed_value(name) != NULL) ||
	    file_var_name(name, var, sizeof(var)) != 0) {
		return;
	}
	const char *path = getenv(var);
	if (path != NULL && path[0] != '\0') {
		json_object_set_new(cfg, var, json_string(path));
	}
}

void
core_config_log(const core_config_item *items, size_t n)
{
	/* Built as one JSON object so the whole configuration is one line. */
	json_t *cfg = json_object();
	if (cfg == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const core_config_item *it = &items[i];
		char buf[512];
		switch (it->type) {
		case CORE_CONFIG_STR:
			masked(it, *(const char *const *) it->dst, buf,
			    sizeof(buf));
			break;
		case CORE_CONFIG_INT:
			snprintf(
			    buf, sizeof(buf), "%ld", *(const long *) it->dst);
			break;
		case CORE_CONFIG_BOOL:
			snprintf(buf, sizeof(buf), "%s",
			    *(const bool *) it->dst ? "true" : "false");
			break;
		}
		/* Under the name that supplied it (a scope's PREFIX_NAME). */
		char own[128];
		json_object_set_new(cfg,
		    core_config_var(it->name, own, sizeof(own)),
		    json_string(buf));
		log_file_origin(cfg, it);
	}
	char *text = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text != NULL) {
		core_log_json(CORE_LOG_INFO, "configuration", "config", text);
	}
	free(text);
	json_decref(cfg);
}

int
core_config_split(
    const char *list, char *buf, size_t buflen, const char **out, int max)
{
	size_t len = strlen(list);
	if (len >= buflen) {
		return -1;
	}
	memcpy(buf, list, len + 1);
	int n = 0;
	char *p = buf;
	while (*p != '\0') {
		while (*p == ',' || *p == ' ') {
			*p++ = '\0';
		}
		if (*p == '\0') {
			break;
		}
		if (n == max) {
			return -1;
		}
		out[n++] = p;
		while (*p != '\0' && *p != ',' && *p != ' ') {
			p++;
		}
	}
	return n;
}
