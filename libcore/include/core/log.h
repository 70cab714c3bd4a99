/* Structured logging: one JSON object per line on stderr.
 *
 *   {"time":"2026-11-24T22:03:25.123Z","level":"info","service":"svc-auth",
 *    "request_id":"...","trace_id":"...","span_id":"...","msg":"...",
 *    ...extra fields}
 *
 * Thread-safe; each line is written with one write(2). The request id and
 * the trace context (core/trace.h; "trace_id" and "span_id", present while
 * one is set) are thread-local: the RPC server sets them for the duration
 * of a call, the edge for a request. Secrets
 * (passwords, tokens, keys) must never be passed to these functions. */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdbool.h>

typedef enum core_log_level {
	CORE_LOG_DEBUG = 0,
	CORE_LOG_INFO = 1,
	CORE_LOG_WARN = 2,
	CORE_LOG_ERROR = 3,
} core_log_level;

/* Sets the service name and minimum level. json=false writes plain text
 * lines for humans instead. Call once at start; defaults: "core", info, json. */
void core_log_init(const char *service, core_log_level level, bool json);

/* The name in the calling thread's lines: its component's (below), else
 * the one given to core_log_init ("core" before). */
const char *core_log_service(void);

/* Components: a process that runs several services (the single-process
 * mode, microcore) registers each with its name and level; a thread that
 * works for one enters it, and its lines then carry that name in
 * "service" and obey that level. Threads that entered none (nng's own, for
 * example) log with core_log_init's name and level. The format (json or
 * text) is the process's. */
typedef struct core_log_component core_log_component;

/* At most this many components in a process. */
#define CORE_LOG_MAX_COMPONENTS 8

/* Registers a component (name copied, at most 63 bytes kept). It lives as
 * long as the process. Returns NULL when CORE_LOG_MAX_COMPONENTS are
 * registered. Safe from several threads at once (components that start
 * concurrently). */
const core_log_component *core_log_component_add(
    const char *name, core_log_level level);

/* Makes the calling thread log as c (NULL: as the process). */
void core_log_enter(const core_log_component *c);

/* The calling thread's component, or NULL. A thread that starts another
 * thread for its component hands this over (the new thread enters it). */
const core_log_component *core_log_current(void);

/* Parses "debug", "info", "warn", "error". Returns 0 on success, -1 else. */
int core_log_level_parse(const char *s, core_log_level *out);

/* True when a line at this level would be written. */
bool core_log_enabled(core_log_level level);

/* The calling thread's current request id (NULL clears it). The string is
 * copied (at most 64 bytes). */
void core_log_set_request_id(const char *request_id);
const char *core_log_request_id(void);

/* Logs msg (printf-style) at level. */
void core_log(core_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Logs msg with extra string fields: key, value pairs ending with NULL.
 * A NULL value is written as JSON null. */
void core_log_kv(core_log_level level, const char *msg, ...)
    __attribute__((sentinel));

/* Logs msg with one extra field whose value is already JSON text (an object
 * or array), written as is. */
void core_log_json(core_log_level level, const char *msg, const char *key,
    const char *json_text);

#define core_log_debug(...) core_log(CORE_LOG_DEBUG, __VA_ARGS__)
#define core_log_info(...) core_log(CORE_LOG_INFO, __VA_ARGS__)
#define core_log_warn(...) core_log(CORE_LOG_WARN, __VA_ARGS__)
#define core_log_error(...) core_log(CORE_LOG_ERROR, __VA_ARGS__)

#endif
