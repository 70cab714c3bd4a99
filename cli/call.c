/* rpcctl call, health and keys: the commands that talk to services. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/v1/auth.pb-c.h"
#include "core/v1/health.pb-c.h"

#include "core/config.h"
#include "core/json.h"
#include "core/text.h"

#include "rpcctl.h"
#include "suggest.h"
#include "text_format.h"

#define MAX_REQUEST_BYTES CORE_RPC_DEFAULT_MAX_MSG

/* One call with the command line's metadata, authorization and timeout. */
static core_status
call_raw(const rpcctl_options *o, core_rpc_client *c, const char *method,
    const uint8_t *payload, size_t len, core_arena *a, core_rpc_reply *reply)
{
	core_md md[RPCCTL_MAX_META + 1];
	size_t n = 0;
	for (int i = 0; i < o->n_meta; i++) {
		md[n++] = o->meta[i];
	}
	if (o->authorization != NULL) {
		md[n++] = (core_md){CORE_MD_AUTHORIZATION, o->authorization};
	}
	core_rpc_opts opts = {
	    .timeout_ms = (int) o->timeout_ms, .md = md, .n_md = n};
	return core_rpc_call_raw(c, method, payload, len, &opts, a, reply);
}

/* "STATUS: message" and the field details, on stderr. */
static void
print_status(const char *prefix, const core_rpc_reply *r)
{
	fprintf(stderr, "%s%s: %s\n", prefix, core_status_str(r->code),
	    r->message);
	for (size_t i = 0; i < r->n_details; i++) {
		fprintf(stderr, "  %s: %s\n", r->detail_fields[i],
		    r->detail_descriptions[i]);
	}
	if (r->retry_after_s > 0) {
		fprintf(stderr, "  retry after %u s\n", r->retry_after_s);
	}
}

/* Writes all of buf to stdout; a failed write (closed pipe, full disk)
 * is an error. */
static int
write_out(const void *buf, size_t len)
{
	if ((len > 0 && fwrite(buf, 1, len, stdout) != len) ||
	    fflush(stdout) != 0) {
		rpcctl_error("cannot write the output: %s", strerror(errno));
		return RPCCTL_EXIT_OTHER;
	}
	return RPCCTL_EXIT_OK;
}

/* Prints a message as JSON (pretty, one trailing newline) or text
 * format. */
static int
print_message(rpcctl_format fmt, const ProtobufCMessage *msg)
{
	size_t len = 0;
	char *s = fmt == RPCCTL_FORMAT_TEXT
	              ? rpcctl_text_format(msg, &len)
	              : core_pb_to_json(msg, CORE_JSON_PRETTY, &len);
	if (s == NULL) {
		rpcctl_error("cannot render the %s response (out of memory "
		             "or nested too deeply)",
		    msg->descriptor->name);
		return RPCCTL_EXIT_OTHER;
	}
	int rc = write_out(s, len);
	if (rc == RPCCTL_EXIT_OK && fmt != RPCCTL_FORMAT_TEXT) {
		rc = write_out("\n", 1);
	}
	free(s);
	return rc;
}

/* Decodes an OK reply's payload as desc into the arena. */
static ProtobufCMessage *
decode_payload(const core_rpc_reply *r, const ProtobufCMessageDescriptor *desc,
    core_arena *a)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(
	    desc, core_arena_allocator(a), r->payload_len, r->payload);
	if (m == NULL) {
		fprintf(stderr, "%s: malformed reply payload: not a %s\n",
		    core_status_str(CORE_INTERNAL), desc->name);
	}
	return m;
}

/* ---- call --------------------------------------------------------------- */

/* Reads @FILE, - (stdin) or the argument itself into a malloc'd buffer
 * (NUL-terminated, at most MAX_REQUEST_BYTES). Returns 0, or an exit
 * status after printing why. */
static int
read_input(const char *arg, bool binary, char **out, size_t *len)
{
	FILE *f = NULL;
	const char *what = "standard input";
	if (arg == NULL) {
		arg = binary ? "-" : "{}";
	}
	if (strcmp(arg, "-") == 0) {
		f = stdin;
	} else if (arg[0] == '@') {
		what = arg + 1;
		f = fopen(what, "rb");
		if (f == NULL) {
			rpcctl_error(
			    "cannot open %s: %s", what, strerror(errno));
			return RPCCTL_EXIT_INVALID;
		}
	} else if (binary) {
		return rpcctl_usage_error("--input binary reads @FILE or - "
		                          "(standard input), not \"%s\"",
		    arg);
	} else {
		*len = strlen(arg);
		*out = strdup(arg);
		if (*out == NULL) {
			rpcctl_error("out of memory");
			return RPCCTL_EXIT_OTHER;
		}
		return RPCCTL_EXIT_OK;
	}
	char *buf = malloc(MAX_REQUEST_BYTES + 1);
	size_t n = buf ? fread(buf, 1, MAX_REQUEST_BYTES + 1, f) : 0;
	bool failed = buf != NULL && ferror(f);
	if (f != stdin) {
		fclose(f);
	}
	int rc = RPCCTL_EXIT_OK;
	if (buf == NULL) {
		rpcctl_error("out of memory");
		rc = RPCCTL_EXIT_OTHER;
	} else if (failed) {
		rpcctl_error("cannot read %s", what);
		rc = RPCCTL_EXIT_INVALID;
	} else if (n > MAX_REQUEST_BYTES) {
		rpcctl_error("request in %s is larger than %u bytes", what,
		    MAX_REQUEST_BYTES);
		rc = RPCCTL_EXIT_INVALID;
	}
	if (rc != RPCCTL_EXIT_OK) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return RPCCTL_EXIT_OK;
}

/* Turns the request argument into the payload to send, checked against
 * the method's input type: JSON through the codec, binary by decoding it
 * (then sent as given, unknown fields included). */
static int
build_payload(const rpcctl_options *o, const ProtobufCMessageDescriptor *in,
    const char *arg, core_arena *a, const uint8_t **payload, size_t *plen)
{
	bool binary = o->input == RPCCTL_FORMAT_BINARY;
	char *text = NULL;
	size_t len = 0;
	int rc = read_input(arg, binary, &text, &len);
	if (rc != RPCCTL_EXIT_OK) {
		return rc;
	}
	ProtobufCMessage *msg = NULL;
	if (binary) {
		msg = protobuf_c_message_unpack(
		    in, core_arena_allocator(a), len, (const uint8_t *) text);
		if (msg == NULL) {
			rpcctl_error("the input is not a valid %s (protobuf "
			             "binary)",
			    in->name);
			free(text);
			return RPCCTL_EXIT_INVALID;
		}
		*payload = core_arena_memdup(a, text, len);
		*plen = len;
		free(text);
		if (*payload == NULL) {
			rpcctl_error("out of memory");
			return RPCCTL_EXIT_OTHER;
		}
		return RPCCTL_EXIT_OK;
	}
	core_json_error jerr;
	core_json_limits limits = {.max_bytes = MAX_REQUEST_BYTES};
	if (core_json_to_pb(in, text, len, &limits, core_arena_allocator(a),
	        &msg, &jerr) != 0) {
		if (jerr.line > 0) {
			rpcctl_error("invalid JSON at line %d, column %d: %s",
			    jerr.line, jerr.column, jerr.message);
		} else {
			rpcctl_error("%s%s%s", jerr.field,
			    jerr.field[0] ? ": " : "", jerr.message);
		}
		free(text);
		return RPCCTL_EXIT_INVALID;
	}
	free(text);
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = core_arena_alloc(a, n ? n : 1);
	if (buf == NULL) {
		rpcctl_error("out of memory");
		return RPCCTL_EXIT_OTHER;
	}
	protobuf_c_message_pack(msg, buf);
	*payload = buf;
	*plen = n;
	return RPCCTL_EXIT_OK;
}

/* Prints an OK reply in the format asked for; fmt DEFAULT means JSON. */
static int
print_reply(rpcctl_format fmt, const ProtobufCMessageDescriptor *out,
    const core_rpc_reply *r, core_arena *a)
{
	ProtobufCMessage *msg = decode_payload(r, out, a);
	if (msg == NULL) {
		return RPCCTL_EXIT_OTHER;
	}
	if (fmt == RPCCTL_FORMAT_BINARY) {
		return write_out(r->payload, r->payload_len);
	}
	return print_message(fmt == RPCCTL_FORMAT_TEXT ? RPCCTL_FORMAT_TEXT
	                                               : RPCCTL_FORMAT_JSON,
	    msg);
}

/* The target to dial for a method of svc: --service when given (one),
 * else the method's own service. NULL after printing why; *rc is the exit
 * status then. */
static const registry_service *
call_target(const rpcctl_options *o, const registry_service *svc, int *rc)
{
	if (o->n_targets > 1) {
		*rc = rpcctl_usage_error("call takes one --service");
		return NULL;
	}
	if (o->n_targets == 1) {
		const registry_service *t = rpcctl_find_target(o->targets[0]);
		*rc = RPCCTL_EXIT_INVALID;
		return t;
	}
	if (svc->target == NULL && o->n_urls == 0) {
		*rc = rpcctl_usage_error("%s is served by every service; name "
		                         "one with --service or --url",
		    svc->desc->name);
		return NULL;
	}
	return svc;
}

/* Makes one call of method (of service svc) at target and prints the
 * reply: with fmt DEFAULT through print_default (NULL: JSON). */
static int
run_call(const rpcctl_options *o, const registry_service *target,
    const registry_service *svc, const ProtobufCMethodDescriptor *m,
    const uint8_t *payload, size_t len, core_arena *a,
    int (*print_default)(const ProtobufCMessage *))
{
	core_rpc_client *c = rpcctl_client_for(o, target);
	if (c == NULL) {
		return RPCCTL_EXIT_INVALID;
	}
	char full[512];
	snprintf(full, sizeof(full), "/%s/%s", svc->desc->name, m->name);
	core_rpc_reply reply;
	core_status st = call_raw(o, c, full, payload, len, a, &reply);
	int rc;
	if (st != CORE_OK) {
		print_status("", &reply);
		rc = rpcctl_exit_for(st);
	} else if (o->output == RPCCTL_FORMAT_DEFAULT && print_default) {
		ProtobufCMessage *msg = decode_payload(&reply, m->output, a);
		rc = msg ? print_default(msg) : RPCCTL_EXIT_OTHER;
	} else {
		rc = print_reply(o->output, m->output, &reply, a);
	}
	core_rpc_client_free(c);
	return rc;
}

int
rpcctl_cmd_call(const rpcctl_options *o, int argc, const char *const *argv)
{
	const registry_service *svc = NULL;
	const ProtobufCMethodDescriptor *m = NULL;
	if (rpcctl_find_method(argv[0], &svc, &m) != 0) {
		return RPCCTL_EXIT_INVALID;
	}
	int rc = RPCCTL_EXIT_OK;
	const registry_service *target = call_target(o, svc, &rc);
	if (target == NULL) {
		return rc;
	}
	core_arena *a = core_arena_new(0);
	if (a == NULL) {
		rpcctl_error("out of memory");
		return RPCCTL_EXIT_OTHER;
	}
	const uint8_t *payload = NULL;
	size_t len = 0;
	rc = build_payload(
	    o, m->input, argc > 1 ? argv[1] : NULL, a, &payload, &len);
	if (rc == RPCCTL_EXIT_OK) {
		rc = run_call(o, target, svc, m, payload, len, a, NULL);
	}
	core_arena_free(a);
	return rc;
}

/* ---- health ------------------------------------------------------------- */

/* Checks one server: prints "<label> <STATUS>" on stdout when it answers,
 * the error on stderr when it does not. */
static int
health_one(const rpcctl_options *o, const registry_service *svc,
    const char *label, core_arena *a)
{
	core_rpc_client *c = rpcctl_client_for(o, svc);
	if (c == NULL) {
		return RPCCTL_EXIT_INVALID;
	}
	/* Naming the service lets a server that does not serve it say
	 * SERVICE_UNKNOWN (a dial variable pointing at the wrong process). */
	Core__V1__HealthCheckRequest req =
	    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
	req.service = svc->target ? (char *) (uintptr_t) svc->desc->name : "";
	size_t len = core__v1__health_check_request__get_packed_size(&req);
	uint8_t buf[512];
	if (len > sizeof(buf)) {
		core_rpc_client_free(c);
		return RPCCTL_EXIT_OTHER;
	}
	core__v1__health_check_request__pack(&req, buf);
	core_rpc_reply reply;
	core_status st =
	    call_raw(o, c, "/core.v1.Health/Check", buf, len, a, &reply);
	core_rpc_client_free(c);
	if (st != CORE_OK) {
		char prefix[128];
		snprintf(prefix, sizeof(prefix), "rpcctl: %s: ", label);
		print_status(prefix, &reply);
		return rpcctl_exit_for(st) == RPCCTL_EXIT_UNAVAILABLE
		           ? RPCCTL_EXIT_UNAVAILABLE
		           : RPCCTL_EXIT_OTHER;
	}
	Core__V1__HealthCheckResponse *h =
	    (Core__V1__HealthCheckResponse *) decode_payload(
	        &reply, &core__v1__health_check_response__descriptor, a);
	if (h == NULL) {
		return RPCCTL_EXIT_OTHER;
	}
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &core__v1__health_check_response__serving_status__descriptor,
	    (int) h->status);
	printf("%-6s %s\n", label, v ? v->name : "UNKNOWN");
	return h->status ==
	               CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
	           ? RPCCTL_EXIT_OK
	           : RPCCTL_EXIT_UNAVAILABLE;
}

int
rpcctl_cmd_health(const rpcctl_options *o, int argc, const char *const *argv)
{
	(void) argc;
	(void) argv;
	static const char *const all[] = {"auth", "user", "admin"};
	const char *const *targets = o->targets;
	int n = o->n_targets;
	core_arena *a = core_arena_new(0);
	if (a == NULL) {
		rpcctl_error("out of memory");
		return RPCCTL_EXIT_OTHER;
	}
	int rc = RPCCTL_EXIT_OK;
	if (n == 0 && o->n_urls > 0) {
		/* Whatever serves at --url: ask about the process. */
		size_t ns;
		const registry_service *svcs = registry_services(&ns);
		size_t k = 0;
		while (k < ns && svcs[k].target != NULL) {
			k++; /* core.v1.Health, the one without a target */
		}
		rc = k < ns ? health_one(o, &svcs[k], o->urls[0], a)
		            : RPCCTL_EXIT_OTHER;
		core_arena_free(a);
		return rc;
	}
	if (n == 0) {
		targets = all;
		n = 3;
	}
	const registry_service *svcs[RPCCTL_MAX_TARGETS];
	for (int i = 0; i < n; i++) {
		if ((svcs[i] = rpcctl_find_target(targets[i])) == NULL) {
			core_arena_free(a);
			return RPCCTL_EXIT_INVALID;
		}
	}
	for (int i = 0; i < n; i++) {
		int r = health_one(o, svcs[i], svcs[i]->target, a);
		if (rc == RPCCTL_EXIT_OK) {
			rc = r;
		}
		core_arena_reset(a);
	}
	fflush(stdout);
	core_arena_free(a);
	return rc;
}

/* ---- keys --------------------------------------------------------------- */

/* RFC 3339 in UTC to the second, or "-" for no time (or one RFC 3339
 * cannot write). */
static void
format_time(const Google__Protobuf__Timestamp *t, char *buf, size_t size)
{
	if (t == NULL || core_rfc3339_format(t->seconds, 0,
	                     CORE_RFC3339_FRAC_NONE, buf, size) != 0) {
		snprintf(buf, size, "-");
	}
}

static int
print_keys(const ProtobufCMessage *msg)
{
	const Auth__V1__ListKeysResponse *r =
	    (const Auth__V1__ListKeysResponse *) msg;
	int w = 3;
	for (size_t i = 0; i < r->n_keys; i++) {
		int n = (int) strlen(r->keys[i]->kid);
		w = n > w ? n : w;
	}
	printf("%-*s  %-6s  %-20s  %s\n", w, "KID", "ACTIVE", "CREATED",
	    "RETIRE AFTER");
	for (size_t i = 0; i < r->n_keys; i++) {
		const Auth__V1__SigningKey *k = r->keys[i];
		char created[32], retire[32];
		format_time(k->created_at, created, sizeof(created));
		format_time(k->retire_after, retire, sizeof(retire));
		printf("%-*s  %-6s  %-20s  %s\n", w, k->kid,
		    k->active ? "yes" : "no", created, retire);
	}
	return write_out(NULL, 0);
}

static int
print_rotated(const ProtobufCMessage *msg)
{
	const Auth__V1__RotateKeysResponse *r =
	    (const Auth__V1__RotateKeysResponse *) msg;
	if (r->key == NULL) {
		rpcctl_error("RotateKeys answered without a key");
		return RPCCTL_EXIT_OTHER;
	}
	char created[32];
	format_time(r->key->created_at, created, sizeof(created));
	printf(
	    "new active signing key: %s (created %s)\n", r->key->kid, created);
	return write_out(NULL, 0);
}

int
rpcctl_cmd_keys(const rpcctl_options *o, int argc, const char *const *argv)
{
	(void) argc;
	static const struct {
		const char *name, *method;
		int (*print)(const ProtobufCMessage *);
	} subs[] = {
	    {"list", "auth.ListKeys", print_keys},
	    {"rotate", "auth.RotateKeys", print_rotated},
	};
	size_t i = 0;
	while (i < sizeof(subs) / sizeof(subs[0]) &&
	       strcmp(subs[i].name, argv[0]) != 0) {
		i++;
	}
	if (i == sizeof(subs) / sizeof(subs[0])) {
		rpcctl_spelling sp[] = {{"list", 0}, {"rotate", 1}};
		size_t id;
		if (rpcctl_suggest(argv[0], sp, 2, &id, 1) == 1) {
			return rpcctl_usage_error(
			    "unknown keys command \"%s\"; "
			    "did you mean: %s",
			    argv[0], subs[id].name);
		}
		return rpcctl_usage_error(
		    "unknown keys command \"%s\" (list or "
		    "rotate)",
		    argv[0]);
	}
	const registry_service *svc = NULL;
	const ProtobufCMethodDescriptor *m = NULL;
	if (registry_find(subs[i].method, &svc, &m) != 0) {
		rpcctl_error("%s is not compiled in", subs[i].method);
		return RPCCTL_EXIT_OTHER;
	}
	if (o->n_targets > 1 ||
	    (o->n_targets == 1 && strcmp(o->targets[0], "auth") != 0)) {
		return rpcctl_usage_error(
		    "keys always calls the auth service");
	}
	core_arena *a = core_arena_new(0);
	if (a == NULL) {
		rpcctl_error("out of memory");
		return RPCCTL_EXIT_OTHER;
	}
	/* Both requests are empty messages: an empty payload. */
	int rc = run_call(
	    o, svc, svc, m, (const uint8_t *) "", 0, a, subs[i].print);
	core_arena_free(a);
	return rc;
}
