#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

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

int
core_config_load(const core_config_item *items, size_t n, char *err,
    size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const core_config_item *it = &items[i];
		const char *v = getenv(it->name);
		if (v == NULL || v[0] == '\0') {
			v = it->def;
		}
		switch (it->type) {
		case CORE_CONFIG_STR:
			*(const char **) it->dst = v;
			break;
		case CORE_CONFIG_INT: {
			long x;
			if (parse_long(v, &x) != 0 || x < it->min || x > it->max) {
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

/* Masks the password of a URL such as postgresql://user:pw@host/db, or the
 * whole value of a secret. */
static void
masked(const core_config_item *it, const char *v, char *buf, size_t len)
{
	if (it->secret) {
		snprintf(buf, len, "%s", v[0] ? "********" : "");
		return;
	}
	const char *scheme = strstr(v, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
	if (at != NULL && colon != NULL && colon < at) {
		snprintf(buf, len, "%.*s:********%s", (int) (colon - v), v, at);
		return;
	}
	snprintf(buf, len, "%s", v);
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
			snprintf(buf, sizeof(buf), "%ld",
			    *(const long *) it->dst);
			break;
		case CORE_CONFIG_BOOL:
			snprintf(buf, sizeof(buf), "%s",
			    *(const bool *) it->dst ? "true" : "false");
			break;
		}
		json_object_set_new(cfg, it->name, json_string(buf));
	}
	char *text = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text != NULL) {
		core_log_json(CORE_LOG_INFO, "configuration", "config", text);
	}
	free(text);
	json_decref(cfg);
}

int
core_config_split(const char *list, char *buf, size_t buflen,
    const char **out, int max)
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
