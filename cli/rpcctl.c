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
 * dispatches; help.c holds the help texts, docs/rpcctl.md is the manual.
 * Exit statuses: rpcctl.h. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

#include "creds.h"
#include "help.h"
#include "rpcctl.h"
#include "suggest.h"

#define MAX_POSITIONAL 3
#define META_KEY_MAX 64

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
	G_CONN = 1 << 0, /* --service --url --token --meta --timeout, TLS */
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

/* The TLS files (creds.c reads them, and says what is wrong with them). */
static int
opt_cert(parse_state *p, const char *v)
{
	p->o.cert = v;
	return 0;
}

static int
opt_key(parse_state *p, const char *v)
{
	p->o.key = v;
	return 0;
}

static int
opt_cacert(parse_state *p, const char *v)
{
	p->o.cacert = v;
	return 0;
}

static int
opt_crl(parse_state *p, const char *v)
{
	p->o.crl = v;
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
    {"--cert", NULL, true, G_CONN, opt_cert},
    {"--key", NULL, true, G_CONN, opt_key},
    {"--cacert", NULL, true, G_CONN, opt_cacert},
    {"--crl", NULL, true, G_CONN, opt_crl},
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
        rpcctl_cmd_call, rpcctl_call_help},
    {"health", "(no arguments)", 0, 0, G_CONN, rpcctl_cmd_health,
        rpcctl_health_help},
    {"keys", "list | rotate", 1, 1, G_CONN | G_OUTPUT, rpcctl_cmd_keys,
        rpcctl_keys_help},
    {"list", "[SERVICE]", 0, 1, G_NAMES, rpcctl_cmd_list, rpcctl_list_help},
    {"describe", "NAME", 1, 1, 0, rpcctl_cmd_describe, rpcctl_describe_help},
    {"help", "[COMMAND]", 0, 1, 0, cmd_help, rpcctl_help_help},
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
		fputs(rpcctl_main_help, stdout);
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

/* --cert, --key and --cacert name one identity's files: all three or none
 * (--crl only with them). */
static int
check_tls_options(const rpcctl_options *o)
{
	int n = (o->cert != NULL) + (o->key != NULL) + (o->cacert != NULL);
	if ((n != 0 && n != 3) || (o->crl != NULL && n == 0)) {
		return rpcctl_usage_error("--cert, --key and --cacert go "
		                          "together: give all three");
	}
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
		fputs(c ? c->help : rpcctl_main_help, stdout);
		return RPCCTL_EXIT_OK;
	}
	int rc = parse_args(argc, argv, &p, pos, &n_pos);
	if (rc != 0) {
		return rc;
	}
	core_log_init(
	    "rpcctl", p.o.verbose ? CORE_LOG_DEBUG : CORE_LOG_ERROR, false);
	if (n_pos == 0) {
		fputs(rpcctl_main_help, stderr);
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
	if ((rc = set_authorization(&p)) != 0 ||
	    (rc = check_tls_options(&p.o)) != 0) {
		return rc;
	}
	rc = c->run(&p.o, nargs, pos + 1);
	rpcctl_creds_free(); /* after the command freed its clients */
	return rc;
}
