/* JSON-lines logger. Each line is formatted into a stack buffer and written
 * with a single write(2), so lines from different threads never interleave. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/text.h"
#include "core/trace.h"

#define LINE_MAX_BYTES 8192
#define RID_MAX 64

static char service_name[64] = "core";
static atomic_int min_level = CORE_LOG_INFO;
static atomic_bool json_format = true;
static _Thread_local char request_id[RID_MAX + 1];

struct core_log_component {
	char name[64];
	atomic_int level;
};
static core_log_component components[CORE_LOG_MAX_COMPONENTS];
static atomic_int n_components;
static _Thread_local const core_log_component *current;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

typedef struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
	bool truncated;     /* once set, nothing more is added */
	size_t field_start; /* where the field being written began */
} line;

/* Bytes kept free for the end of a cut line: ",\"truncated\":true}\n". */
#define LINE_RESERVE 32

static void
put_raw(line *l, const char *s, size_t n)
{
	if (l->truncated || n > sizeof(l->buf) - LINE_RESERVE - l->len) {
		l->truncated = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
put_str(line *l, const char *s)
{
	put_raw(l, s, strlen(s));
}

/* Writes s as a JSON string body (without quotes), escaping what JSON
 * requires; bytes >= 0x80 pass through (callers log UTF-8). */
static void
put_escaped(line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;
		char esc[7];
		switch (c) {
		case '"':
			put_raw(l, "\\\"", 2);
			break;
		case '\\':
			put_raw(l, "\\\\", 2);
			break;
		case '\n':
			put_raw(l, "\\n", 2);
			break;
		case '\r':
			put_raw(l, "\\r", 2);
			break;
		case '\t':
			put_raw(l, "\\t", 2);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				put_raw(l, esc, 6);
			} else {
				put_raw(l, (const char *) s, 1);
			}
		}
	}
}

static void
put_field(line *l, const char *key, const char *value)
{
	if (!l->truncated) {
		l->field_start = l->len;
	}
	put_str(l, ",\"");
	put_escaped(l, key);
	if (value == NULL) {
		put_str(l, "\":null");
		return;
	}
	put_str(l, "\":\"");
	put_escaped(l, value);
	put_str(l, "\"");
}

static void
begin(line *l, core_log_level level, const char *msg)
{
	struct timespec ts;
	char when[CORE_RFC3339_BUFSIZE];
	const core_trace *t = core_trace_current();

	clock_gettime(CLOCK_REALTIME, &ts);
	(void) core_rfc3339_format((int64_t) ts.tv_sec, (int32_t) ts.tv_nsec,
	    CORE_RFC3339_FRAC_MILLIS, when, sizeof(when));
	l->len = 0;
	l->truncated = false;
	l->field_start = 0;
	if (atomic_load(&json_format)) {
		put_str(l, "{\"time\":\"");
		put_str(l, when);
		put_str(l, "\",\"level\":\"");
		put_str(l, level_names[level]);
		put_str(l, "\"");
		put_field(l, "service", core_log_service());
		if (request_id[0] != '\0') {
			put_field(l, "request_id", request_id);
		}
		if (t != NULL) {
			put_field(l, "trace_id", t->trace_id);
			put_field(l, "span_id", t->span_id);
		}
		put_field(l, "msg", msg);
	} else {
		put_str(l, when);
		put_str(l, " ");
		put_str(l, level_names[level]);
		put_str(l, " ");
		put_str(l, core_log_service());
		if (request_id[0] != '\0') {
			put_str(l, " [");
			put_str(l, request_id);
			put_str(l, "]");
		}
		if (t != NULL) {
			put_str(l, " trace_id=");
			put_str(l, t->trace_id);
			put_str(l, " span_id=");
			put_str(l, t->span_id);
		}
		put_str(l, " ");
		put_str(l, msg);
	}
}

static void
finish(line *l)
{
	if (atomic_load(&json_format)) {
		/* Room for this was reserved by put_raw. */
		if (l->truncated) {
			/* Drop the field that did not fit, keep the line valid. */
			static const char tail[] = ",\"truncated\":true}";
			l->len = l->field_start;
			memcpy(l->buf + l->len, tail, sizeof(tail) - 1);
			l->len += sizeof(tail) - 1;
		} else {
			l->buf[l->len++] = '}';
		}
	}
	l->buf[l->len++] = '\n';
	const char *p = l->buf;
	size_t left = l->len;
	while (left > 0) {
		ssize_t n = write(STDERR_FILENO, p, left);
		if (n <= 0) {
			break; /* nowhere to report a failing stderr */
		}
		p += n;
		left -= (size_t) n;
	}
}

void
core_log_init(const char *service, core_log_level level, bool json)
{
	snprintf(service_name, sizeof(service_name), "%s", service);
	atomic_store(&min_level, (int) level);
	atomic_store(&json_format, json);
}

const char *
core_log_service(void)
{
	return current != NULL ? current->name : service_name;
}

const core_log_component *
core_log_component_add(const char *name, core_log_level level)
{
	/* Components may start at once (microcore starts them in threads of
	 * their own): each takes a slot of its own. */
	int i = atomic_fetch_add(&n_components, 1);
	if (i >= CORE_LOG_MAX_COMPONENTS) {
		atomic_fetch_sub(&n_components, 1);
		return NULL;
	}
	core_log_component *c = &components[i];
	snprintf(c->name, sizeof(c->name), "%s", name);
	atomic_store(&c->level, (int) level);
	return c;
}

void
core_log_enter(const core_log_component *c)
{
	current = c;
}

const core_log_component *
core_log_current(void)
{
	return current;
}

int
core_log_level_parse(const char *s, core_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (core_log_level) i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = CORE_LOG_WARN;
		return 0;
	}
	return -1;
}

bool
core_log_enabled(core_log_level level)
{
	const core_log_component *c = current;
	return (int) level >=
	       (c != NULL ? atomic_load(&c->level) : atomic_load(&min_level));
}

void
core_log_set_request_id(const char *rid)
{
	if (rid == NULL) {
		request_id[0] = '\0';
		return;
	}
	/* Once or twice per call: a bounded copy, not snprintf. */
	size_t n = strnlen(rid, RID_MAX);
	memcpy(request_id, rid, n);
	request_id[n] = '\0';
}

const char *
core_log_request_id(void)
{
	return request_id[0] ? request_id : NULL;
}

void
core_log(core_log_level level, const char *fmt, ...)
{
	if (!core_log_enabled(level)) {
		return;
	}
	char msg[LINE_MAX_BYTES / 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	line l;
	begin(&l, level, msg);
	finish(&l);
}

void
core_log_kv(core_log_level level, const char *msg, ...)
{
	if (!core_log_enabled(level)) {
		return;
	}
	line l;
	begin(&l, level, msg);
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (k == NULL) {
			break;
		}
		const char *v = va_arg(ap, const char *);
		if (atomic_load(&json_format)) {
			put_field(&l, k, v);
		} else {
			put_str(&l, " ");
			put_str(&l, k);
			put_str(&l, "=");
			put_str(&l, v ? v : "-");
		}
	}
	va_end(ap);
	finish(&l);
}

void
core_log_json(core_log_level level, const char *msg, const char *key,
    const char *json_text)
{
	if (!core_log_enabled(level)) {
		return;
	}
	line l;
	begin(&l, level, msg);
	if (!l.truncated) {
		l.field_start = l.len;
	}
	if (atomic_load(&json_format)) {
		put_str(&l, ",\"");
		put_escaped(&l, key);
		put_str(&l, "\":");
	} else {
		put_str(&l, " ");
		put_str(&l, key);
		put_str(&l, "=");
	}
	put_str(&l, json_text);
	finish(&l);
}
