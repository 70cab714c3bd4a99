/* The accessors a handler uses on its call (core/rpc.h "Inside a
 * handler"). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "rpc_call.h"
#include "rpc_internal.h"

const char *
core_call_metadata(const core_call *c, const char *key)
{
	for (size_t i = 0; i < c->req->n_metadata; i++) {
		if (strcmp(c->req->metadata[i]->key, key) == 0) {
			return c->req->metadata[i]->value;
		}
	}
	return NULL;
}

const char *
core_call_bearer(const core_call *c)
{
	const char *v = core_call_metadata(c, CORE_MD_AUTHORIZATION);
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0) {
		return NULL;
	}
	v += 7;
	while (*v == ' ') {
		v++;
	}
	return *v ? v : NULL;
}

const char *
core_call_method(const core_call *c)
{
	return c->method;
}

void *
core_call_state(const core_call *c)
{
	return c->state;
}

bool
core_call_may_block(const core_call *c)
{
	return !c->no_block;
}

core_status
core_call_to_worker(core_call *c)
{
	if (!c->no_block) {
		return core_call_error(c, CORE_INTERNAL,
		    "core_call_to_worker where the handler may block");
	}
	c->to_worker = true;
	return CORE_OK;
}

core_arena *
core_call_arena(core_call *c)
{
	return c->arena;
}

int64_t
core_call_remaining_ms(const core_call *c)
{
	if (c->deadline_ms == INT64_MAX) {
		return INT64_MAX;
	}
	return c->deadline_ms - rpc_now_ms();
}

/* Cuts s to its longest valid UTF-8 prefix (core_utf8_prefix). */
static void
fit(char *s)
{
	s[core_utf8_prefix(s, strlen(s))] = '\0';
}

core_status
core_call_error(core_call *c, core_status code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
	fit(c->message);
	return code;
}

core_status
core_call_field_error(core_call *c, const char *field, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fit(text);
	if (c->n_details == 0) {
		snprintf(
		    c->message, sizeof(c->message), "%s: %s", field, text);
		fit(c->message);
	}
	if (c->n_details < RPC_MAX_DETAILS) {
		Core__V1__ErrorDetail *d = &c->details[c->n_details];
		core__v1__error_detail__init(d);
		d->field = core_arena_strndup(
		    c->arena, field, core_utf8_prefix(field, strlen(field)));
		d->description = core_arena_strdup(c->arena, text);
		if (d->field != NULL && d->description != NULL) {
			c->detail_ptrs[c->n_details++] = d;
		}
	}
	return CORE_INVALID_ARGUMENT;
}

void
core_call_set_retry_after(core_call *c, uint32_t seconds)
{
	c->retry_after_s = seconds;
}

const core_jwt_claims *
core_call_claims(const core_call *c)
{
	return c->has_claims ? &c->claims : NULL;
}
