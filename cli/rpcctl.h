/* rpcctl's command line, shared by its command files (rpcctl.c parses the
 * options and dispatches; call.c runs the commands that make calls;
 * describe.c those that read the compiled-in descriptors). */
#ifndef RPCCTL_H
#define RPCCTL_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

#include "registry.h"
#include "core/rpc.h"
#include "core/status.h"

/* Exit statuses, one per class of failure (docs/rpcctl.md). */
enum {
	RPCCTL_EXIT_OK = 0,
	RPCCTL_EXIT_OTHER = 1,   /* any other error */
	RPCCTL_EXIT_USAGE = 2,   /* the command line's shape */
	RPCCTL_EXIT_INVALID = 3, /* a name, the request, INVALID_ARGUMENT */
	RPCCTL_EXIT_AUTH = 4,    /* UNAUTHENTICATED, PERMISSION_DENIED */
	RPCCTL_EXIT_UNAVAILABLE = 5, /* UNAVAILABLE, DEADLINE_EXCEEDED */
};

typedef enum rpcctl_format {
	RPCCTL_FORMAT_DEFAULT = 0, /* the command's own: JSON for call */
	RPCCTL_FORMAT_JSON,
	RPCCTL_FORMAT_BINARY,
	RPCCTL_FORMAT_TEXT,
} rpcctl_format;

typedef enum rpcctl_names {
	RPCCTL_NAMES_NONE = 0,
	RPCCTL_NAMES_FULL,  /* list --names: /auth.v1.AuthService/Login */
	RPCCTL_NAMES_SHORT, /* list --short-names: auth.Login */
} rpcctl_names;

#define RPCCTL_MAX_TARGETS 8
#define RPCCTL_MAX_URLS 8
/* The client sends at most 16 metadata entries besides its own
 * request-id and deadline-ms: 15 from --meta plus authorization. */
#define RPCCTL_MAX_META 15
#define RPCCTL_MAX_TOKEN 8192

typedef struct rpcctl_options {
	const char *targets[RPCCTL_MAX_TARGETS]; /* --service */
	int n_targets;
	const char *urls[RPCCTL_MAX_URLS]; /* --url */
	int n_urls;
	core_md meta[RPCCTL_MAX_META]; /* --meta, keys lower-cased */
	int n_meta;
	/* The authorization value to send ("Bearer ..."), or NULL. */
	const char *authorization;
	/* --cert, --key, --cacert, --crl: files for tls+tcp:// (creds.h). */
	const char *cert, *key, *cacert, *crl;
	long timeout_ms;
	rpcctl_format output, input;
	rpcctl_names names;
	bool verbose;
} rpcctl_options;

/* A command gets the options and its positional arguments (after its own
 * name) and returns the exit status. */
typedef int (*rpcctl_command_fn)(
    const rpcctl_options *o, int argc, const char *const *argv);

/* Prints "rpcctl: <message>" and a pointer to --help on stderr; returns
 * RPCCTL_EXIT_USAGE. */
int rpcctl_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Prints "rpcctl: <message>" on stderr. */
void rpcctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The exit status for an RPC status. */
int rpcctl_exit_for(core_status st);

/* A client for svc (its name labels the client's own log lines): dialing
 * --url, else $<SVC>_RPC_DIAL, else $<SVC>_RPC_LISTEN (wildcards made
 * loopback), else the registry's default, over tls+tcp:// when rpcctl has a
 * certificate (creds.h). NULL after printing why. */
core_rpc_client *rpcctl_client_for(
    const rpcctl_options *o, const registry_service *svc);

/* Finds a method by full or short name (registry_find). When nothing
 * matches, prints "unknown method NAME; did you mean: a, b, c" (or "see
 * 'rpcctl list'") on stderr and returns -1. */
int rpcctl_find_method(const char *name, const registry_service **svc,
    const ProtobufCMethodDescriptor **method);

/* The service of a target name ("auth"), or NULL after printing "unknown
 * service NAME; did you mean: ..." on stderr. */
const registry_service *rpcctl_find_target(const char *name);

/* The short name of a method ("auth.Login"; "Health.Check" for the health
 * service, which has no target) into buf. */
void rpcctl_short_name(const registry_service *svc,
    const ProtobufCMethodDescriptor *m, char *buf, size_t size);

/* call.c */
int rpcctl_cmd_call(
    const rpcctl_options *o, int argc, const char *const *argv);
int rpcctl_cmd_health(
    const rpcctl_options *o, int argc, const char *const *argv);
int rpcctl_cmd_keys(
    const rpcctl_options *o, int argc, const char *const *argv);

/* describe.c */
int rpcctl_cmd_list(
    const rpcctl_options *o, int argc, const char *const *argv);
int rpcctl_cmd_describe(
    const rpcctl_options *o, int argc, const char *const *argv);

#endif
