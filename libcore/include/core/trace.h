/* W3C Trace Context (https://www.w3.org/TR/trace-context/): the
 * traceparent value and the calling thread's current context.
 *
 *   traceparent: 00-<trace-id, 32 hex>-<parent-id, 16 hex>-<flags, 2 hex>
 *
 * A context is a trace id (shared by every hop of one request), the span id
 * of the work this thread is doing for it (a new one per hop: the edge's
 * request, each RPC server's call), and the flags. Outgoing calls send the
 * trace id and the current span id as their parent-id. Every log line
 * written while a context is current carries "trace_id" and "span_id"
 * (core/log.h). The RPC server sets the context per call, the edge per
 * request; code that hands work to another thread carries it along with
 * core_trace_save/core_trace_swap.
 *
 * Ids are made without a system call per id (a keyed hash of a per-thread
 * counter, the key random per process): unique and unpredictable. */
#ifndef CORE_TRACE_H
#define CORE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define CORE_TRACE_ID_LEN 32    /* hex digits of a trace id */
#define CORE_SPAN_ID_LEN 16     /* hex digits of a span (parent) id */
#define CORE_TRACEPARENT_LEN 55 /* version 00, without the NUL */
/* The only flag of version 00: the caller may have recorded the trace. */
#define CORE_TRACE_SAMPLED 0x01

/* A context. trace_id "" is no context at all (see core_trace_swap). */
typedef struct core_trace {
	char trace_id[CORE_TRACE_ID_LEN + 1]; /* lowercase hex */
	char span_id[CORE_SPAN_ID_LEN + 1];   /* lowercase hex */
	uint8_t flags;
} core_trace;

/* Parses a traceparent value as the W3C rules say a receiver must: version
 * 00 is exactly 55 characters; a later version (not ff) is at least 55, and
 * its first four fields are read as version 00's when the 56th character
 * is the end or "-" (what follows is ignored). Every field is lowercase
 * hex of its exact length; a trace id or parent id of only zeros is
 * invalid. On success writes the trace id, the parent-id (as span_id) and
 * the flags (only CORE_TRACE_SAMPLED kept: the other bits are undefined in
 * version 00) to *out and returns 0; returns -1 otherwise (*out
 * untouched). s may be NULL (-1). Reads at most 56 bytes of s. */
int core_trace_parse(const char *s, core_trace *out)
    __attribute__((warn_unused_result));

/* A new trace: a new trace id and span id, flags CORE_TRACE_SAMPLED (the
 * logs record every trace). */
void core_trace_new(core_trace *out);

/* The context of a new span of parent's trace: parent's trace id and
 * flags, a new span id. out may be parent. */
void core_trace_child(const core_trace *parent, core_trace *out);

/* Where a request or call begins: a child of the context in traceparent
 * (the header or metadata value; NULL when absent) when that is valid,
 * else a new trace; an invalid value is never an error. Returns whether it
 * continued the caller's trace. */
bool core_trace_start(const char *traceparent, core_trace *out);

/* Writes t as a version-00 traceparent (its span id as the parent-id) and
 * a NUL into buf (CORE_TRACEPARENT_LEN + 1 bytes). */
void core_trace_format(const core_trace *t, char *buf);

/* ---- The calling thread's context ---------------------------------------- */

/* Makes a copy of t the calling thread's context; NULL (or an empty t)
 * clears it. */
void core_trace_set(const core_trace *t);

/* The calling thread's context, or NULL when it has none. Valid until the
 * thread's next core_trace_set or core_trace_swap. */
const core_trace *core_trace_current(void);

/* Copies the calling thread's context into *t (empty when none): for work
 * handed to another thread or completed on one. */
void core_trace_save(core_trace *t);

/* Exchanges the calling thread's context with *t: a callback run on
 * behalf of a saved context swaps it in, runs, and swaps back. */
void core_trace_swap(core_trace *t);

/* Writes the traceparent of the calling thread's context (its span id as
 * the parent-id of a call made now) into buf (CORE_TRACEPARENT_LEN + 1
 * bytes). Returns false, buf untouched, when the thread has none. */
bool core_trace_traceparent(char *buf);

#endif
