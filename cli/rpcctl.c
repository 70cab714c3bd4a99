/* rpcctl: call any RPC of the system from a shell, JSON in and out.
 *
 *   rpcctl health [--service auth|user|admin]... [--url URL]
 *   rpcctl call [--service S | --url URL] METHOD [JSON | @file | -]
 *   rpcctl list [SERVICE]
 *   rpcctl describe METHOD|MESSAGE
 *
 * Exit status: 0 OK, 2 usage error, 3 invalid argument, 4 unauthenticated
 * or permission denied, 5 unavailable or deadline exceeded, 1 any other
 * failure. Errors go to stderr only, so `rpcctl call ... | jq` fails
 * cleanly. See docs/rpcctl.md. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/v1/health.pb-c.h"

#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/rpc.h"

enum {
	EXIT_OK = 0,
	EXIT_OTHER = 1,
	EXIT_USAGE = 2,
	EXIT_INVALID = 3,
	EXIT_AUTH = 4,
	EXIT_UNAVAILABLE = 5,
};

#define MAX_URLS 8
#define MAX_META 16
#define MAX_REQUEST_BYTES (4u << 20)

typedef struct options {
	const char *targets[8];
	int n_targets;
	const char *urls[MAX_URLS];
	int n_urls;
	core_md meta[MAX_META];
	int n_meta;
	const char *token;
	long timeout_ms;
	bool verbose;
} options;

static const char usage_text[] =
    "usage: rpcctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  health                     Health of every service (exit 0 only if all SERVING)\n"
    "  call METHOD [JSON|@FILE|-] Call a method with a JSON request (default {})\n"
    "  list [SERVICE]             List services and their methods\n"
    "  describe NAME              Show a method's or message's fields\n"
    "\n"
    "Options:\n"
    "  --service auth|user|admin  Target service (repeatable for health)\n"
    "  --url URL                  Dial URL instead of the service's default (repeatable)\n"
    "  --token TOKEN              Bearer token for the authorization metadata\n"
    "                             (default: $RPCCTL_TOKEN)\n"
    "  --meta KEY=VALUE           Extra metadata (repeatable)\n"
    "  --timeout MS               Deadline of the call (default 5000)\n"
    "  -v, --verbose              Log the client's own messages\n"
    "  -h, --help                 This text\n"
    "\n"
    "Service URLs default to $AUTH_RPC_DIAL, $USER_RPC_DIAL and $ADMIN_RPC_DIAL\n"
    "(tcp://127.0.0.1:7101, 7102, 7103).\n"
    "\n"
    "Examples:\n"
    "  rpcctl health\n"
    "  rpcctl list auth\n"
    "  rpcctl call auth.GetJwks\n"
    "  rpcctl call /auth.v1.AuthService/Login '{\"username\":\"ada\",\"password\":\"...\"}'\n"
    "  rpcctl call core.v1.Health/Check --service user '{}'\n"
    "\n"
    "Exit status: 0 OK, 1 other error, 2 usage, 3 invalid argument,\n"
    "4 unauthenticated/permission denied, 5 unavailable/deadline exceeded.\n";

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rpcctl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'rpcctl --help'.\n");
	va_end(ap);
	return EXIT_USAGE;
}

static int
exit_for(core_status st)
{
	switch (st) {
	case CORE_OK:
		return EXIT_OK;
	case CORE_INVALID_ARGUMENT:
	case CORE_OUT_OF_RANGE:
	case CORE_FAILED_PRECONDITION:
		return EXIT_INVALID;
	case CORE_UNAUTHENTICATED:
	case CORE_PERMISSION_DENIED:
		return EXIT_AUTH;
	case CORE_UNAVAILABLE:
	case CORE_DEADLINE_EXCEEDED:
		return EXIT_UNAVAILABLE;
	default:
		return EXIT_OTHER;
	}
}

/* Makes a client for target (or the --url list). */
static core_rpc_client *
client_for(const options *o, const core_service_info *svc)
{
	const char *urls[MAX_URLS];
	char buf[1024];
	int n = o->n_urls;
	if (n > 0) {
		memcpy(urls, o->urls, sizeof(urls[0]) * (size_t) n);
	} else {
		const char *list = getenv(svc->dial_env);
		if (list == NULL || list[0] == '\0') {
			list = svc->dial_default;
		}
		n = core_config_split(list, buf, sizeof(buf), urls,
		    MAX_URLS);
		if (n <= 0) {
			fprintf(stderr, "rpcctl: %s must list 1 to %d URLs\n",
			    svc->dial_env, MAX_URLS);
			return NULL;
		}
	}
	core_rpc_client_config cfg = {
	    .name = svc->target ? svc->target : "rpc",
	    .urls = urls,
	    .n_urls = (size_t) n,
	    .conns_per_url = 1,
	    .connect_wait_ms = 1000,
	    .default_timeout_ms = (int) o->timeout_ms,
	};
	core_rpc_client *c = NULL;
	if (core_rpc_client_new(&cfg, &c) != 0) {
		fprintf(stderr, "rpcctl: cannot dial %s\n", urls[0]);
		return NULL;
	}
	return c;
}

/* One call with the command line's metadata, token and timeout. */
static core_status
call(const options *o, core_rpc_client *c, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
    ProtobufCMessage **out, core_arena *a, core_rpc_reply *reply)
{
	core_md md[MAX_META + 1];
	char auth[8192];
	size_t n = 0;
	for (int i = 0; i < o->n_meta; i++) {
		md[n++] = o->meta[i];
	}
	if (o->token != NULL && o->token[0] != '\0') {
		snprintf(auth, sizeof(auth), "Bearer %s", o->token);
		md[n++] = (core_md) {CORE_MD_AUTHORIZATION, auth};
	}
	core_rpc_opts opts = {
	    .timeout_ms = (int) o->timeout_ms, .md = md, .n_md = n};
	return core_rpc_call(c, method, in, out_desc, out, &opts, a, reply);
}

static void
print_error(const core_rpc_reply *r)
{
	fprintf(stderr, "%s: %s\n", core_status_str(r->code), r->message);
	for (size_t i = 0; i < r->n_details; i++) {
		fprintf(stderr, "  %s: %s\n", r->detail_fields[i],
		    r->detail_descriptions[i]);
	}
	if (r->retry_after_s > 0) {
		fprintf(stderr, "  retry after %u s\n", r->retry_after_s);
	}
}

/* ---- health ------------------------------------------------------------ */

static int
cmd_health(const options *o)
{
	const char *all[] = {"auth", "user", "admin"};
	const char *const *targets = o->n_targets ? o->targets : all;
	int n = o->n_targets ? o->n_targets : 3;
	int rc = EXIT_OK;
	core_arena *a = core_arena_new(0);

	for (int i = 0; i < n; i++) {
		const core_service_info *svc = core_registry_target(targets[i]);
		if (svc == NULL) {
			core_arena_free(a);
			return usage_error("unknown service \"%s\"", targets[i]);
		}
		core_rpc_client *c = client_for(o, svc);
		if (c == NULL) {
			rc = EXIT_UNAVAILABLE;
			continue;
		}
		Core__V1__HealthCheckRequest req =
		    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
		ProtobufCMessage *out = NULL;
		core_rpc_reply reply;
		core_status st = call(o, c, "/core.v1.Health/Check", &req.base,
		    &core__v1__health_check_response__descriptor, &out, a,
		    &reply);
		if (st != CORE_OK) {
			printf("%-6s %s\n", svc->target, core_status_str(st));
			fprintf(stderr, "rpcctl: %s: %s\n", svc->target,
			    reply.message);
			rc = EXIT_UNAVAILABLE;
		} else {
			const Core__V1__HealthCheckResponse *h =
			    (const Core__V1__HealthCheckResponse *) out;
			const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
			    &core__v1__health_check_response__serving_status__descriptor,
			    (int) h->status);
			printf("%-6s %s\n", svc->target, v ? v->name : "UNKNOWN");
			if (h->status !=
			    CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
				rc = EXIT_UNAVAILABLE;
			}
		}
		core_rpc_client_free(c);
		core_arena_reset(a);
	}
	core_arena_free(a);
	return rc;
}

/* ---- call -------------------------------------------------------------- */

/* Reads the request text: inline JSON, @file, or - for stdin. Returns a
 * malloc'd NUL-terminated buffer or NULL (message printed). */
static char *
read_input(const char *arg, size_t *len)
{
	FILE *f = NULL;
	if (arg == NULL) {
		arg = "{}";
	}
	if (strcmp(arg, "-") == 0) {
		f = stdin;
	} else if (arg[0] == '@') {
		f = fopen(arg + 1, "rb");
		if (f == NULL) {
			fprintf(stderr, "rpcctl: cannot open %s\n", arg + 1);
			return NULL;
		}
	} else {
		*len = strlen(arg);
		return strdup(arg);
	}
	char *buf = malloc(MAX_REQUEST_BYTES + 1);
	size_t n = buf ? fread(buf, 1, MAX_REQUEST_BYTES + 1, f) : 0;
	if (f != stdin) {
		fclose(f);
	}
	if (buf == NULL || n > MAX_REQUEST_BYTES) {
		fprintf(stderr, "rpcctl: request larger than %u bytes\n",
		    MAX_REQUEST_BYTES);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
cmd_call(const options *o, const char *method, const char *input)
{
	const core_service_info *svc = NULL;
	const ProtobufCMethodDescriptor *m = NULL;
	if (core_registry_find(method, &svc, &m) != 0) {
		fprintf(stderr, "rpcctl: unknown method \"%s\" (see 'rpcctl "
		                "list')\n",
		    method);
		return EXIT_USAGE;
	}
	if (svc->target == NULL) {
		/* Health is served by every service: which one? */
		if (o->n_targets != 1 && o->n_urls == 0) {
			fprintf(stderr, "rpcctl: %s is served by every service; "
			                "name one with --service\n",
			    svc->desc->name);
			return EXIT_USAGE;
		}
	}
	const core_service_info *target = svc;
	if (o->n_targets == 1) {
		target = core_registry_target(o->targets[0]);
		if (target == NULL) {
			return usage_error("unknown service \"%s\"",
			    o->targets[0]);
		}
	}
	size_t len = 0;
	char *text = read_input(input, &len);
	if (text == NULL) {
		return EXIT_USAGE;
	}
	ProtobufCMessage *in = NULL;
	core_json_error jerr;
	core_arena *a = core_arena_new(0);
	if (core_json_to_pb(m->input, text, len, NULL,
	        core_arena_allocator(a), &in, &jerr) != 0) {
		if (jerr.line > 0) {
			fprintf(stderr,
			    "rpcctl: invalid JSON at line %d, column %d: %s\n",
			    jerr.line, jerr.column, jerr.message);
		} else {
			fprintf(stderr, "rpcctl: %s%s%s\n", jerr.field,
			    jerr.field[0] ? ": " : "", jerr.message);
		}
		free(text);
		core_arena_free(a);
		return EXIT_INVALID;
	}
	free(text);

	core_rpc_client *c = client_for(o, target);
	if (c == NULL) {
		core_arena_free(a);
		return EXIT_UNAVAILABLE;
	}
	char full[256];
	snprintf(full, sizeof(full), "/%s/%s", svc->desc->name, m->name);
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_status st = call(o, c, full, in, m->output, &out, a, &reply);
	int rc = exit_for(st);
	if (st != CORE_OK) {
		print_error(&reply);
	} else {
		char *json = core_pb_to_json(out, CORE_JSON_PRETTY, NULL);
		if (json == NULL) {
			fprintf(stderr, "rpcctl: out of memory\n");
			rc = EXIT_OTHER;
		} else {
			printf("%s\n", json);
			free(json);
		}
	}
	core_rpc_client_free(c);
	core_arena_free(a);
	return rc;
}

/* ---- list and describe ------------------------------------------------- */

static int
cmd_list(const char *filter)
{
	size_t n;
	const core_service_info *s = core_registry_services(&n);
	int shown = 0;
	for (size_t i = 0; i < n; i++) {
		const ProtobufCServiceDescriptor *d = s[i].desc;
		if (filter != NULL &&
		    !(s[i].target && strcmp(filter, s[i].target) == 0) &&
		    strcmp(filter, d->name) != 0 &&
		    strcmp(filter, d->short_name) != 0) {
			continue;
		}
		shown++;
		printf("%s%s%s%s\n", d->name, s[i].target ? " (" : "",
		    s[i].target ? s[i].target : "", s[i].target ? ")" : "");
		for (unsigned k = 0; k < d->n_methods; k++) {
			printf("  /%s/%s(%s) returns (%s)\n", d->name,
			    d->methods[k].name, d->methods[k].input->name,
			    d->methods[k].output->name);
		}
	}
	if (shown == 0) {
		return usage_error("unknown service \"%s\"", filter);
	}
	return EXIT_OK;
}

static const char *
type_name(const ProtobufCFieldDescriptor *f)
{
	static const char *const names[] = {
	    [PROTOBUF_C_TYPE_INT32] = "int32",
	    [PROTOBUF_C_TYPE_SINT32] = "sint32",
	    [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32",
	    [PROTOBUF_C_TYPE_INT64] = "int64",
	    [PROTOBUF_C_TYPE_SINT64] = "sint64",
	    [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
	    [PROTOBUF_C_TYPE_UINT32] = "uint32",
	    [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
	    [PROTOBUF_C_TYPE_UINT64] = "uint64",
	    [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
	    [PROTOBUF_C_TYPE_FLOAT] = "float",
	    [PROTOBUF_C_TYPE_DOUBLE] = "double",
	    [PROTOBUF_C_TYPE_BOOL] = "bool",
	    [PROTOBUF_C_TYPE_ENUM] = "enum",
	    [PROTOBUF_C_TYPE_STRING] = "string",
	    [PROTOBUF_C_TYPE_BYTES] = "bytes",
	    [PROTOBUF_C_TYPE_MESSAGE] = "message",
	};
	if (f->type == PROTOBUF_C_TYPE_ENUM) {
		return ((const ProtobufCEnumDescriptor *) f->descriptor)->name;
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		return ((const ProtobufCMessageDescriptor *) f->descriptor)->name;
	}
	return names[f->type];
}

static void
describe_message(const ProtobufCMessageDescriptor *d)
{
	printf("message %s {\n", d->name);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *label =
		    f->label == PROTOBUF_C_LABEL_REPEATED ? "repeated " : "";
		printf("  %s%s %s = %u;", label, type_name(f), f->name, f->id);
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			printf("  // optional (oneof)");
		}
		printf("\n");
		if (f->type == PROTOBUF_C_TYPE_ENUM) {
			const ProtobufCEnumDescriptor *e = f->descriptor;
			printf("    // %s values:", e->name);
			for (unsigned k = 0; k < e->n_values; k++) {
				printf(" %s", e->values[k].name);
			}
			printf("\n");
		}
	}
	printf("}\n");
}

static int
cmd_describe(const char *name)
{
	const core_service_info *svc = NULL;
	const ProtobufCMethodDescriptor *m = NULL;
	if (core_registry_find(name, &svc, &m) == 0) {
		printf("rpc /%s/%s(%s) returns (%s)\n\n", svc->desc->name,
		    m->name, m->input->name, m->output->name);
		describe_message(m->input);
		printf("\n");
		describe_message(m->output);
		return EXIT_OK;
	}
	const ProtobufCMessageDescriptor *d = core_registry_message(name);
	if (d == NULL) {
		fprintf(stderr, "rpcctl: no method or message named \"%s\"\n",
		    name);
		return EXIT_USAGE;
	}
	describe_message(d);
	return EXIT_OK;
}

/* ---- main -------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	options o = {.timeout_ms = 5000, .token = getenv("RPCCTL_TOKEN")};
	const char *pos[3];
	int n_pos = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return EXIT_OK;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o.verbose = true;
		} else if (strcmp(a, "--service") == 0 && next) {
			if (o.n_targets == 8) {
				return usage_error("too many %s", "--service");
			}
			o.targets[o.n_targets++] = next;
			i++;
		} else if (strcmp(a, "--url") == 0 && next) {
			if (o.n_urls == MAX_URLS) {
				return usage_error("too many %s", "--url");
			}
			o.urls[o.n_urls++] = next;
			i++;
		} else if (strcmp(a, "--token") == 0 && next) {
			o.token = next;
			i++;
		} else if (strcmp(a, "--meta") == 0 && next) {
			char *eq = strchr(next, '=');
			if (eq == NULL || eq == next || o.n_meta == MAX_META) {
				return usage_error("--meta wants KEY=VALUE, got "
				                   "\"%s\"",
				    next);
			}
			*eq = '\0';
			o.meta[o.n_meta++] = (core_md) {next, eq + 1};
			i++;
		} else if (strcmp(a, "--timeout") == 0 && next) {
			char *end;
			o.timeout_ms = strtol(next, &end, 10);
			if (*end != '\0' || o.timeout_ms <= 0 ||
			    o.timeout_ms > 3600000) {
				return usage_error("--timeout wants milliseconds "
				                   "(1 to 3600000), got \"%s\"",
				    next);
			}
			i++;
		} else if (a[0] == '-' && a[1] != '\0') {
			return usage_error("unknown or incomplete option \"%s\"",
			    a);
		} else if (n_pos == 3) {
			return usage_error("unexpected argument \"%s\"", a);
		} else {
			pos[n_pos++] = a;
		}
	}
	core_log_init("rpcctl", o.verbose ? CORE_LOG_DEBUG : CORE_LOG_ERROR,
	    false);
	if (n_pos == 0) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = pos[0];
	if (strcmp(cmd, "health") == 0 && n_pos == 1) {
		return cmd_health(&o);
	}
	if (strcmp(cmd, "call") == 0 && (n_pos == 2 || n_pos == 3)) {
		return cmd_call(&o, pos[1], n_pos == 3 ? pos[2] : NULL);
	}
	if (strcmp(cmd, "list") == 0 && n_pos <= 2) {
		return cmd_list(n_pos == 2 ? pos[1] : NULL);
	}
	if (strcmp(cmd, "describe") == 0 && n_pos == 2) {
		return cmd_describe(pos[1]);
	}
	return usage_error("unknown command or wrong arguments: \"%s\"", cmd);
}
