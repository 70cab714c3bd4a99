/* rpcctl: call any RPC of the system from a shell, JSON in and out; list
 * and describe the compiled-in services; check health; rotate keys.
 *
 *   rpcctl [OPTIONS] call METHOD [JSON | @FILE | -]
 *   rpcctl [OPTIONS] health
 *   rpcctl [OPTIONS] keys list|rotate
 *   rpcctl list [SERVICE]
 *   rpcctl describe NAME
 *
 * This file parses the command line (options anywhere, table-driven) and
 * dispatches; docs/rpcctl.md is the manual. Exit statuses: rpcctl.h. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

#include "rpcctl.h"
#include "suggest.h"

#define MAX_POSITIONAL 3
#define META_KEY_MAX 64

/* ---- help texts --------------------------------------------------------- */

static const char main_help[] =
    "usage: rpcctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Calls the services of microcore with JSON (or protobuf) in and out,\n"
    "using the descriptors compiled into it.\n"
    "\n"
    "Commands:\n"
    "  call METHOD [JSON|@FILE|-]  Call a method (default request: {})\n"
    "  health                      Health of each service (exit 0 only if all "
    "SERVING)\n"
    "  keys list|rotate            Signing keys of svc-auth (needs an admin "
    "token)\n"
    "  list [SERVICE]              Services and their methods\n"
    "  describe NAME               A service, method, message or enum\n"
    "  help [COMMAND]              This text, or a command's\n"
    "\n"
    "Options (anywhere on the line; 'rpcctl COMMAND --help' for details):\n"
    "  --service auth|user|admin   Service to dial (repeatable for health)\n"
    "  --url URL                   Dial URL instead (repeatable)\n"
    "  --token TOKEN               Bearer token for the authorization "
    "metadata\n"
    "  --meta KEY=VALUE            Extra metadata (repeatable)\n"
    "  --timeout MS                Deadline of each call (default 5000)\n"
    "  --output json|text|binary   Response format (call, keys)\n"
    "  --input json|binary         Request format (call)\n"
    "  -v, --verbose               Show the URLs dialed and the client's own "
    "log\n"
    "  -h, --help                  Help\n"
    "\n"
    "Environment:\n"
    "  AUTH_RPC_DIAL, USER_RPC_DIAL, ADMIN_RPC_DIAL  URLs of each service\n"
    "      (else AUTH_RPC_LISTEN, ... with wildcard hosts as 127.0.0.1;\n"
    "      else tcp://127.0.0.1:7101, 7102, 7103)\n"
    "  RPCCTL_TOKEN  default for --token\n"
    "\n"
    "Examples:\n"
    "  rpcctl health\n"
    "  rpcctl list auth\n"
    "  rpcctl describe auth.Login\n"
    "  rpcctl call auth.Login '{\"username\":\"ada\",\"password\":\"...\"}'\n"
    "  rpcctl --token \"$ADMIN_TOKEN\" keys list\n"
    "\n"
    "Exit status: 0 OK, 1 other error, 2 usage, 3 invalid argument (bad "
    "JSON,\n"
    "unknown method or field, INVALID_ARGUMENT), 4 UNAUTHENTICATED or\n"
    "PERMISSION_DENIED, 5 UNAVAILABLE or DEADLINE_EXCEEDED. Manual: "
    "docs/rpcctl.md\n";

static const char call_help[] =
    "usage: rpcctl call [OPTIONS] METHOD [JSON | @FILE | -]\n"
    "\n"
    "Calls METHOD with a request given as JSON -- the argument itself, the\n"
    "contents of @FILE, or standard input for - (default {}) -- and prints\n"
    "the response as indented JSON (proto3 JSON mapping, snake_case keys).\n"
    "Errors go to standard error only, as STATUS: message plus one line per\n"
    "offending field.\n"
    "\n"
    "METHOD is a full name (/auth.v1.AuthService/Login) or a short one\n"
    "(auth.Login, AuthService.Login, auth.v1.AuthService.Login); 'rpcctl "
    "list'\n"
    "shows them all. core.v1.Health/Check is served by every service, so it\n"
    "needs --service or --url.\n"
    "\n"
    "Options:\n"
    "  --service auth|user|admin  Dial that service's URLs instead of the\n"
    "                             method's own service\n"
    "  --url URL                  Dial URL (repeatable)\n"
    "  --token TOKEN              authorization: Bearer TOKEN (\"Bearer \" "
    "added\n"
    "                             when missing; default $RPCCTL_TOKEN)\n"
    "  --meta KEY=VALUE           Send metadata (repeatable, at most 15)\n"
    "  --timeout MS               Deadline of the call (default 5000)\n"
    "  --output json|text|binary  The response as JSON (default), protobuf "
    "text\n"
    "                             format (as protoc --decode prints it) or "
    "its\n"
    "                             raw protobuf bytes\n"
    "  --input json|binary        The request as JSON (default) or protobuf\n"
    "                             bytes (from @FILE or -, default -)\n"
    "\n"
    "Examples:\n"
    "  rpcctl call auth.GetJwks\n"
    "  rpcctl call /auth.v1.AuthService/Login "
    "'{\"username\":\"ada\",\"password\":\"...\"}'\n"
    "  rpcctl call auth.Register @ada.json\n"
    "  echo '{\"token\":\"...\"}' | rpcctl call auth.CheckToken -\n"
    "  rpcctl --token \"$TOKEN\" call user.GetProfile\n"
    "  rpcctl call core.v1.Health/Check --service user\n"
    "  rpcctl call auth.GetJwks --output binary |\n"
    "    protoc -I proto -I /usr/include --decode=auth.v1.GetJwksResponse "
    "auth/v1/auth.proto\n"
    "  printf 'username: \"ada\"\\npassword: \"...\"\\n' |\n"
    "    protoc -I proto -I /usr/include --encode=auth.v1.LoginRequest "
    "auth/v1/auth.proto |\n"
    "    rpcctl call auth.Login --input binary -\n";

static const char health_help[] =
    "usage: rpcctl health [--service auth|user|admin]... [--url URL]...\n"
    "\n"
    "Asks each service (default: auth, user and admin) for its health and\n"
    "prints one line per service that answered (auth   SERVING). A service\n"
    "that does not answer is reported on standard error. Exit 0 only when\n"
    "every service asked is SERVING; 5 when one is not or cannot be "
    "reached.\n"
    "\n"
    "With --url and no --service, asks whatever serves at the URL about its\n"
    "process as a whole.\n"
    "\n"
    "Options: --service (repeatable), --url, --timeout, --meta, --token.\n"
    "\n"
    "Examples:\n"
    "  rpcctl health\n"
    "  rpcctl health --service auth --service user\n"
    "  rpcctl health --url tcp://10.0.0.5:7101 --timeout 1000\n";

static const char keys_help[] =
    "usage: rpcctl [--token TOKEN] keys list|rotate [--output "
    "json|text|binary]\n"
    "\n"
    "The Ed25519 signing keys of svc-auth (AuthService.ListKeys and\n"
    "RotateKeys). Both need the access token of an admin (--token or\n"
    "$RPCCTL_TOKEN): without one UNAUTHENTICATED, with another role\n"
    "PERMISSION_DENIED (exit 4).\n"
    "\n"
    "  list    Every published key: its kid, whether it signs new tokens,\n"
    "          when it was made, and when it leaves the JWKS\n"
    "  rotate  Makes a new active key; the previous one stays published "
    "until\n"
    "          the tokens it signed have expired\n"
    "\n"
    "Options: --output json|text|binary (default: a table), --url, "
    "--timeout,\n"
    "--meta.\n"
    "\n"
    "Examples:\n"
    "  export RPCCTL_TOKEN=$(rpcctl call auth.Login "
    "'{\"username\":\"root\",\"password\":\"...\"}' |\n"
    "      jq -r .access_token)\n"
    "  rpcctl keys list\n"
    "  rpcctl keys rotate\n"
    "  rpcctl keys list --output json | jq -r '.keys[] | select(.active) | "
    ".kid'\n";

static const char list_help[] =
    "usage: rpcctl list [--names | --short-names] [SERVICE]\n"
    "\n"
    "Lists the services compiled into rpcctl (or one: auth, user, admin, or\n"
    "a full or short service name) with each method's request and response\n"
    "types.\n"
    "\n"
    "  --names        Only full method names, one per line\n"
    "  --short-names  Only short method names (auth.Login), one per line\n"
    "\n"
    "Examples:\n"
    "  rpcctl list\n"
    "  rpcctl list user\n"
    "  rpcctl list --names | grep -i session\n";

static const char describe_help[] =
    "usage: rpcctl describe NAME\n"
    "\n"
    "Shows a service (auth, auth.v1.AuthService), a method (auth.Login or\n"
    "/auth.v1.AuthService/Login: its request and response messages), a\n"
    "message (auth.v1.User, or User when that is unique) or an enum\n"
    "(auth.v1.Role) in .proto syntax: fields with their types, labels and\n"
    "numbers, oneofs, maps, and the values of the enums they use.\n"
    "Names of oneofs are not compiled in: a oneof shows as an unnamed\n"
    "block.\n"
    "\n"
    "Examples:\n"
    "  rpcctl describe auth\n"
    "  rpcctl describe user.UpdateProfile\n"
    "  rpcctl describe auth.v1.Session\n";

static const char help_help[] =
    "usage: rpcctl help [COMMAND]\n"
    "\n"
    "The overview, or the help of COMMAND (the same as rpcctl COMMAND "
    "--help).\n";

/* ---- messages ----------------------------------------------------------- */

/* The command being run, once known: usage errors point at its help. */
static const char *current_command;

int
rpcctl_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rpcctl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'rpcctl %s%s--help'.\n",
	    current_command ? current_command : "",
	    current_command ? " " : "");
	va_end(ap);
	return RPCCTL_EXIT_USAGE;
}

void
rpcctl_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rpcctl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

int
rpcctl_exit_for(core_status st)
{
	switch (st) {
	case CORE_OK:
		return RPCCTL_EXIT_OK;
	case CORE_INVALID_ARGUMENT:
	case CORE_OUT_OF_RANGE:
	case CORE_FAILED_PRECONDITION:
		return RPCCTL_EXIT_INVALID;
	case CORE_UNAUTHENTICATED:
	case CORE_PERMISSION_DENIED:
		return RPCCTL_EXIT_AUTH;
	case CORE_UNAVAILABLE:
	case CORE_DEADLINE_EXCEEDED:
		return RPCCTL_EXIT_UNAVAILABLE;
	default:
		return RPCCTL_EXIT_OTHER;
	}
}

/* ---- options ------------------------------------------------------------ */

/* Which commands take an option. */
enum {
	G_ALL = 0,       /* every command */
	G_CONN = 1 << 0, /* --service --url --token --meta --timeout */
	G_OUTPUT = 1 << 1,
	G_INPUT = 1 << 2,
	G_NAMES = 1 << 3,
};

typedef struct parse_state {
	rpcctl_options o;
	unsigned used;            /* groups of the options given */
	const char *used_name[4]; /* one option of each group, for errors */
	const char *token;        /* --token */
	char meta_keys[RPCCTL_MAX_META][META_KEY_MAX];
	char authorization[RPCCTL_MAX_TOKEN + 8];
} parse_state;

typedef int (*option_fn)(parse_state *p, const char *value);

static int
opt_service(parse_state *p, const char *v)
{
	if (p->o.n_targets == RPCCTL_MAX_TARGETS) {
		return rpcctl_usage_error(
		    "at most %d --service", RPCCTL_MAX_TARGETS);
	}
	p->o.targets[p->o.n_targets++] = v;
	return 0;
}

static int
opt_url(parse_state *p, const char *v)
{
	if (p->o.n_urls == RPCCTL_MAX_URLS) {
		return rpcctl_usage_error("at most %d --url", RPCCTL_MAX_URLS);
	}
	if (strstr(v, "://") == NULL) {
		return rpcctl_usage_error("--url wants a URL such as "
		                          "tcp://127.0.0.1:7101, got \"%s\"",
		    v);
	}
	p->o.urls[p->o.n_urls++] = v;
	return 0;
}

static int
opt_token(parse_state *p, const char *v)
{
	p->token = v;
	return 0;
}

/* KEY=VALUE; the key is lower-cased, as the wire format wants. */
static int
opt_meta(parse_state *p, const char *v)
{
	const char *eq = strchr(v, '=');
	size_t klen = eq ? (size_t) (eq - v) : 0;
	if (klen == 0 || klen >= META_KEY_MAX) {
		return rpcctl_usage_error(
		    "--meta wants KEY=VALUE, got \"%s\"", v);
	}
	if (p->o.n_meta == RPCCTL_MAX_META) {
		return rpcctl_usage_error(
		    "at most %d --meta", RPCCTL_MAX_META);
	}
	char *key = p->meta_keys[p->o.n_meta];
	for (size_t i = 0; i < klen; i++) {
		unsigned char c = (unsigned char) v[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.') {
			return rpcctl_usage_error(
			    "--meta key \"%.*s\" may only "
			    "hold letters, digits, - _ .",
			    (int) klen, v);
		}
		key[i] = (char) tolower(c);
	}
	key[klen] = '\0';
	if (strcmp(key, CORE_MD_DEADLINE) == 0) {
		return rpcctl_usage_error("set the deadline with --timeout");
	}
	for (int i = 0; i < p->o.n_meta; i++) {
		if (strcmp(p->o.meta[i].key, key) == 0) {
			return rpcctl_usage_error(
			    "--meta %s given twice", key);
		}
	}
	p->o.meta[p->o.n_meta++] = (core_md){key, eq + 1};
	return 0;
}

static int
opt_timeout(parse_state *p, const char *v)
{
	char *end;
	long ms = strtol(v, &end, 10);
	if (end == v || *end != '\0' || ms <= 0 || ms > 3600000) {
		return rpcctl_usage_error("--timeout wants milliseconds (1 to "
		                          "3600000), got \"%s\"",
		    v);
	}
	p->o.timeout_ms = ms;
	return 0;
}

static int
parse_format(const char *opt, const char *v, bool text_ok, rpcctl_format *out)
{
	if (strcmp(v, "json") == 0) {
		*out = RPCCTL_FORMAT_JSON;
	} else if (strcmp(v, "binary") == 0) {
		*out = RPCCTL_FORMAT_BINARY;
	} else if (text_ok && strcmp(v, "text") == 0) {
		*out = RPCCTL_FORMAT_TEXT;
	} else {
		return rpcctl_usage_error("%s wants %s, got \"%s\"", opt,
		    text_ok ? "json, text or binary" : "json or binary", v);
	}
	return 0;
}

static int
opt_output(parse_state *p, const char *v)
{
	return parse_format("--output", v, true, &p->o.output);
}

static int
opt_input(parse_state *p, const char *v)
{
	return parse_format("--input", v, false, &p->o.input);
}

static int
opt_names(parse_state *p, const char *v)
{
	(void) v;
	p->o.names = RPCCTL_NAMES_FULL;
	return 0;
}

static int
opt_short_names(parse_state *p, const char *v)
{
	(void) v;
	p->o.names = RPCCTL_NAMES_SHORT;
	return 0;
}

static int
opt_verbose(parse_state *p, const char *v)
{
	(void) v;
	p->o.verbose = true;
	return 0;
}

/* Handled before parsing, by wants_help(). */
static int
opt_help(parse_state *p, const char *v)
{
	(void) p;
	(void) v;
	return 0;
}

static const struct option_spec {
	const char *name, *alias;
	bool takes_value;
	unsigned group;
	option_fn set;
} options[] = {
    {"--service", NULL, true, G_CONN, opt_service},
    {"--url", NULL, true, G_CONN, opt_url},
    {"--token", NULL, true, G_CONN, opt_token},
    {"--meta", NULL, true, G_CONN, opt_meta},
    {"--timeout", NULL, true, G_CONN, opt_timeout},
    {"--output", "-o", true, G_OUTPUT, opt_output},
    {"--input", NULL, true, G_INPUT, opt_input},
    {"--names", NULL, false, G_NAMES, opt_names},
    {"--short-names", NULL, false, G_NAMES, opt_short_names},
    {"--verbose", "-v", false, G_ALL, opt_verbose},
    {"--help", "-h", false, G_ALL, opt_help},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* The option arg names (with "--name=value" split off into *value). */
static const struct option_spec *
find_option(const char *arg, const char **value)
{
	const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
	size_t n = eq ? (size_t) (eq - arg) : strlen(arg);
	*value = eq ? eq + 1 : NULL;
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct option_spec *s = &options[i];
		if ((strlen(s->name) == n && strncmp(s->name, arg, n) == 0) ||
		    (s->alias != NULL && eq == NULL &&
		        strcmp(s->alias, arg) == 0)) {
			return s;
		}
	}
	return NULL;
}

/* ---- commands ----------------------------------------------------------- */

static int cmd_help(
    const rpcctl_options *o, int argc, const char *const *argv);

static const struct command {
	const char *name;
	const char *synopsis; /* its arguments, for usage errors */
	int min_args, max_args;
	unsigned groups;
	rpcctl_command_fn run;
	const char *help;
} commands[] = {
    {"call", "METHOD [JSON | @FILE | -]", 1, 2, G_CONN | G_OUTPUT | G_INPUT,
        rpcctl_cmd_call, call_help},
    {"health", "(no arguments)", 0, 0, G_CONN, rpcctl_cmd_health, health_help},
    {"keys", "list | rotate", 1, 1, G_CONN | G_OUTPUT, rpcctl_cmd_keys,
        keys_help},
    {"list", "[SERVICE]", 0, 1, G_NAMES, rpcctl_cmd_list, list_help},
    {"describe", "NAME", 1, 1, 0, rpcctl_cmd_describe, describe_help},
    {"help", "[COMMAND]", 0, 1, 0, cmd_help, help_help},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0) {
			return &commands[i];
		}
	}
	return NULL;
}

static int
unknown_command(const char *name)
{
	rpcctl_spelling sp[N_COMMANDS];
	size_t ids[3];
	for (size_t i = 0; i < N_COMMANDS; i++) {
		sp[i] = (rpcctl_spelling){commands[i].name, i};
	}
	size_t n = rpcctl_suggest(name, sp, N_COMMANDS, ids, 3);
	if (n == 0) {
		return rpcctl_usage_error("unknown command \"%s\"", name);
	}
	return rpcctl_usage_error(
	    "unknown command \"%s\"; did you mean: %s%s%s", name,
	    commands[ids[0]].name, n > 1 ? ", " : "",
	    n > 1 ? commands[ids[1]].name : "");
}

static int
cmd_help(const rpcctl_options *o, int argc, const char *const *argv)
{
	(void) o;
	if (argc == 0) {
		fputs(main_help, stdout);
		return RPCCTL_EXIT_OK;
	}
	const struct command *c = find_command(argv[0]);
	if (c == NULL) {
		return unknown_command(argv[0]);
	}
	fputs(c->help, stdout);
	return RPCCTL_EXIT_OK;
}

/* Parses every option (anywhere on the line) and collects the positional
 * arguments. Returns 0 or an exit status. */
static int
parse_args(int argc, char **argv, parse_state *p, const char **pos, int *n_pos)
{
	bool options_done = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
			if (*n_pos == MAX_POSITIONAL) {
				return rpcctl_usage_error(
				    "unexpected argument "
				    "\"%s\"",
				    a);
			}
			pos[(*n_pos)++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			options_done = true;
			continue;
		}
		const char *value = NULL;
		const struct option_spec *s = find_option(a, &value);
		if (s == NULL) {
			return rpcctl_usage_error("unknown option \"%s\"", a);
		}
		if (s->takes_value && value == NULL) {
			if (i + 1 == argc) {
				return rpcctl_usage_error(
				    "%s needs a value", s->name);
			}
			value = argv[++i];
		} else if (!s->takes_value && value != NULL) {
			return rpcctl_usage_error(
			    "%s takes no value", s->name);
		}
		int rc = s->set(p, value);
		if (rc != 0) {
			return rc;
		}
		for (unsigned g = 0; g < 4; g++) {
			if (s->group == (1u << g)) {
				p->used |= s->group;
				p->used_name[g] = s->name;
			}
		}
	}
	return 0;
}

/* The authorization value: --token, else --meta authorization=..., else
 * $RPCCTL_TOKEN; "Bearer " is added to a bare token. */
static int
set_authorization(parse_state *p)
{
	const char *token = p->token;
	for (int i = 0; i < p->o.n_meta; i++) {
		if (strcmp(p->o.meta[i].key, CORE_MD_AUTHORIZATION) == 0) {
			if (token != NULL) {
				return rpcctl_usage_error(
				    "give either --token or "
				    "--meta authorization=...");
			}
			return 0;
		}
	}
	if (token == NULL) {
		token = getenv("RPCCTL_TOKEN");
	}
	if (token == NULL || token[0] == '\0') {
		return 0;
	}
	bool bearer = strncasecmp(token, "Bearer ", 7) == 0;
	if (strlen(token) > RPCCTL_MAX_TOKEN) {
		return rpcctl_usage_error(
		    "the token is longer than %d bytes", RPCCTL_MAX_TOKEN);
	}
	snprintf(p->authorization, sizeof(p->authorization), "%s%s",
	    bearer ? "" : "Bearer ", token);
	p->o.authorization = p->authorization;
	return 0;
}

/* Whether the line asks for help (-h or --help before any "--"), and for
 * which command: the first word that is neither an option nor an
 * option's value. */
static bool
wants_help(int argc, char **argv, const char **command)
{
	bool help = false;
	*command = NULL;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *value = NULL;
		const struct option_spec *s =
		    argv[i][0] == '-' ? find_option(argv[i], &value) : NULL;
		if (s != NULL && s->set == opt_help) {
			help = true;
		} else if (s != NULL && s->takes_value && value == NULL) {
			i++; /* its value */
		} else if (argv[i][0] != '-' && *command == NULL) {
			*command = argv[i];
		}
	}
	return help;
}

int
main(int argc, char **argv)
{
	static parse_state p;
	const char *pos[MAX_POSITIONAL];
	int n_pos = 0;
	p.o.timeout_ms = 5000;

	/* --help wins over any mistake elsewhere on the line. */
	const char *help_for;
	if (wants_help(argc, argv, &help_for)) {
		const struct command *c =
		    help_for ? find_command(help_for) : NULL;
		fputs(c ? c->help : main_help, stdout);
		return RPCCTL_EXIT_OK;
	}
	int rc = parse_args(argc, argv, &p, pos, &n_pos);
	if (rc != 0) {
		return rc;
	}
	core_log_init(
	    "rpcctl", p.o.verbose ? CORE_LOG_DEBUG : CORE_LOG_ERROR, false);
	if (n_pos == 0) {
		fputs(main_help, stderr);
		return RPCCTL_EXIT_USAGE;
	}
	const struct command *c = find_command(pos[0]);
	if (c == NULL) {
		return unknown_command(pos[0]);
	}
	current_command = c->name;
	int nargs = n_pos - 1;
	if (nargs < c->min_args || nargs > c->max_args) {
		return rpcctl_usage_error(
		    "usage: rpcctl %s %s", c->name, c->synopsis);
	}
	unsigned extra = p.used & ~c->groups & ~(unsigned) G_CONN;
	for (unsigned g = 0; g < 4; g++) {
		if (extra & (1u << g)) {
			return rpcctl_usage_error("%s does not apply to %s",
			    p.used_name[g], c->name);
		}
	}
	if ((rc = set_authorization(&p)) != 0) {
		return rc;
	}
	return c->run(&p.o, nargs, pos + 1);
}
