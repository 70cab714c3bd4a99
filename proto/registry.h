/* Every RPC service compiled into this build, for tools that reach methods
 * by name (the ops CLI, the edge): the one place that names the services,
 * their dial variables, default URLs and identities, so that libcore knows
 * none. The table is static and read-only: thread-safe. */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct registry_service {
	const char
	    *target; /* "auth", "user", "admin"; NULL for core.v1.Health */
	const char *dial_env;     /* "AUTH_RPC_DIAL" */
	const char *dial_default; /* "tcp://127.0.0.1:7101" */
	/* The identity its certificate names over tls+tcp:// ("svc-auth"):
	 * what a client dialing it requires (core_rpc_client_config's
	 * peer_identity), whatever address the URL holds. */
	const char *identity;
	const ProtobufCServiceDescriptor *desc;
} registry_service;

/* The table of services (and its length). */
const registry_service *registry_services(size_t *n);

/* The target ("auth", ...) of that name, or NULL. */
const registry_service *registry_target(const char *target);

/* Finds a method by its full name ("/auth.v1.AuthService/Login") or a short
 * form: "auth.Login", "AuthService.Login", "auth.v1.AuthService.Login",
 * "core.v1.Health/Check". Returns 0 and writes the service and method, or
 * -1 when nothing matches. */
int registry_find(const char *name, const registry_service **svc,
    const ProtobufCMethodDescriptor **method);

/* Finds a message type by full name ("auth.v1.LoginRequest") among the
 * inputs and outputs of every method (and their nested fields). NULL when
 * unknown. */
const ProtobufCMessageDescriptor *registry_message(const char *name);

#endif
