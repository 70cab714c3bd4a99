#include <string.h>
#include <strings.h>

#include "admin/v1/admin.pb-c.h"
#include "auth/v1/auth.pb-c.h"
#include "core/v1/health.pb-c.h"
#include "user/v1/user.pb-c.h"

#include "registry.h"

/* The default URLs are plain tcp:// on loopback, which needs no
 * certificate (and warns); the stack command, compose and Kubernetes set
 * tls+tcp:// URLs. A service's identity is its binary's name. */
static const registry_service services[] = {
    {"auth", "AUTH_RPC_DIAL", "tcp://127.0.0.1:7101", "svc-auth",
        &auth__v1__auth_service__descriptor},
    {"user", "USER_RPC_DIAL", "tcp://127.0.0.1:7102", "svc-user",
        &user__v1__user_service__descriptor},
    {"admin", "ADMIN_RPC_DIAL", "tcp://127.0.0.1:7103", "svc-admin",
        &admin__v1__admin_service__descriptor},
    {NULL, NULL, NULL, NULL, &core__v1__health__descriptor},
};

#define N_SERVICES (sizeof(services) / sizeof(services[0]))

const registry_service *
registry_services(size_t *n)
{
	*n = N_SERVICES;
	return services;
}

const registry_service *
registry_target(const char *target)
{
	for (size_t i = 0; i < N_SERVICES; i++) {
		if (services[i].target != NULL &&
		    strcmp(services[i].target, target) == 0) {
			return &services[i];
		}
	}
	return NULL;
}

/* Whether svc answers to prefix: its full name ("auth.v1.AuthService"),
 * its short name ("AuthService") or its target ("auth"). */
static int
service_matches(const registry_service *s, const char *prefix, size_t len)
{
	const char *full = s->desc->name;
	const char *dot = strrchr(full, '.');
	const char *shortname = dot ? dot + 1 : full;
	return (strlen(full) == len && strncmp(full, prefix, len) == 0) ||
	       (strlen(shortname) == len &&
	           strncmp(shortname, prefix, len) == 0) ||
	       (s->target != NULL && strlen(s->target) == len &&
	           strncmp(s->target, prefix, len) == 0);
}

int
registry_find(const char *name, const registry_service **svc,
    const ProtobufCMethodDescriptor **method)
{
	if (name[0] == '/') {
		name++;
	}
	/* The method is after the last '/' or '.'. */
	const char *sep = strrchr(name, '/');
	if (sep == NULL) {
		sep = strrchr(name, '.');
	}
	if (sep == NULL || sep == name || sep[1] == '\0') {
		return -1;
	}
	size_t plen = (size_t) (sep - name);
	const char *m = sep + 1;
	for (size_t i = 0; i < N_SERVICES; i++) {
		if (!service_matches(&services[i], name, plen)) {
			continue;
		}
		const ProtobufCServiceDescriptor *d = services[i].desc;
		for (unsigned k = 0; k < d->n_methods; k++) {
			if (strcasecmp(d->methods[k].name, m) == 0) {
				*svc = &services[i];
				*method = &d->methods[k];
				return 0;
			}
		}
	}
	return -1;
}

static const ProtobufCMessageDescriptor *
search(const ProtobufCMessageDescriptor *d, const char *name, int depth)
{
	if (strcmp(d->name, name) == 0) {
		return d;
	}
	if (depth > 16) {
		return NULL;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			const ProtobufCMessageDescriptor *r =
			    search(f->descriptor, name, depth + 1);
			if (r != NULL) {
				return r;
			}
		}
	}
	return NULL;
}

const ProtobufCMessageDescriptor *
registry_message(const char *name)
{
	for (size_t i = 0; i < N_SERVICES; i++) {
		const ProtobufCServiceDescriptor *d = services[i].desc;
		for (unsigned k = 0; k < d->n_methods; k++) {
			const ProtobufCMessageDescriptor *r =
			    search(d->methods[k].input, name, 0);
			if (r == NULL) {
				r = search(d->methods[k].output, name, 0);
			}
			if (r != NULL) {
				return r;
			}
		}
	}
	return NULL;
}
