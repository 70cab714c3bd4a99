#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/pbfield.h"
#include "registry.h"
#include "filters.h"
#include "routes.h"

/* Adding an endpoint is one row:
 * ROW(method, path, RPC method, field for {id}, flags, success).
 * The service is the RPC method's. */
#define ROW(m, p, rpc, field, flags, ok)                                      \
	{                                                                     \
		m, p, rpc, field, flags, ok, NULL, NULL, NULL, 0, ""          \
	}

static edge_route routes[] = {
    ROW("POST", "/register", "/auth.v1.AuthService/Register", NULL,
        ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_LOCATION, 201),
    ROW("POST", "/login", "/auth.v1.AuthService/Login", NULL,
        ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_DEVICE_COOKIE |
            ROUTE_SET_COOKIES,
        200),
    ROW("POST", "/refresh", "/auth.v1.AuthService/Refresh", NULL,
        ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_REFRESH_COOKIE |
            ROUTE_SET_COOKIES,
        200),
    ROW("POST", "/logout", "/auth.v1.AuthService/Logout", NULL,
        ROUTE_AUTH | ROUTE_BODY | ROUTE_REFRESH_COOKIE | ROUTE_CLEAR_COOKIES,
        200),
    ROW("GET", "/profile", "/user.v1.UserService/GetProfile", NULL,
        ROUTE_AUTH | ROUTE_ETAG, 200),
    ROW("PUT", "/profile", "/user.v1.UserService/UpdateProfile", NULL,
        ROUTE_AUTH | ROUTE_BODY | ROUTE_ETAG | ROUTE_IF_MATCH, 200),
    ROW("PATCH", "/profile", "/user.v1.UserService/UpdateProfile", NULL,
        ROUTE_AUTH | ROUTE_BODY | ROUTE_ETAG | ROUTE_IF_MATCH, 200),
    ROW("GET", "/sessions", "/auth.v1.AuthService/ListSessions", NULL,
        ROUTE_AUTH, 200),
    ROW("GET", "/sessions/current", "/auth.v1.AuthService/GetCurrentSession",
        NULL, ROUTE_AUTH, 200),
    ROW("DELETE", "/sessions/{id}", "/auth.v1.AuthService/RevokeSession",
        "session_id", ROUTE_AUTH, 200),
    ROW("GET", "/.well-known/jwks.json", "/auth.v1.AuthService/GetJwks", NULL,
        ROUTE_JWKS, 200),
    ROW("GET", "/admin/users", "/admin.v1.AdminService/ListUsers", NULL,
        ROUTE_AUTH | ROUTE_QUERY, 200),
    ROW("GET", "/admin/users/{id}", "/admin.v1.AdminService/GetUser", "id",
        ROUTE_AUTH, 200),
    ROW("PATCH", "/admin/users/{id}", "/admin.v1.AdminService/UpdateUser",
        "id", ROUTE_AUTH | ROUTE_BODY, 200),
    ROW("POST", "/admin/users/{id}/revoke-sessions",
        "/admin.v1.AdminService/RevokeSessions", "id", ROUTE_AUTH | ROUTE_BODY,
        200),
    ROW("GET", "/admin/audit", "/admin.v1.AdminService/ListAudit", NULL,
        ROUTE_AUTH | ROUTE_QUERY, 200),
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Whether the route's messages have the fields it writes: {id}'s field (a
 * string) and those its flags' filters use. Logged when not. */
static int
route_fields_check(const edge_route *rt)
{
	char buf[256];
	const char *why = edge_filters_check_route(rt, buf, sizeof(buf));
	const ProtobufCFieldDescriptor *f =
	    rt->path_field != NULL ? core_pb_field_find(rt->in, rt->path_field)
	                           : NULL;
	if (why == NULL && rt->path_field != NULL &&
	    (f == NULL || f->type != PROTOBUF_C_TYPE_STRING ||
	        f->label == PROTOBUF_C_LABEL_REPEATED)) {
		why = "{id} names no string field of the request";
	}
	if (why != NULL) {
		core_log_error("route %s %s: %s", rt->method, rt->path, why);
		return -1;
	}
	return 0;
}

int
edge_routes_init(void)
{
	for (size_t i = 0; i < N_ROUTES; i++) {
		const registry_service *svc;
		const ProtobufCMethodDescriptor *m;
		if (registry_find(routes[i].rpc, &svc, &m) != 0) {
			core_log_error("route %s %s: unknown method %s",
			    routes[i].method, routes[i].path, routes[i].rpc);
			return -1;
		}
		routes[i].backend = svc->target != NULL
		                        ? edge_backend_find(svc->target)
		                        : NULL;
		if (routes[i].backend == NULL) {
			core_log_error(
			    "route %s %s: %s is not a service of the "
			    "edge",
			    routes[i].method, routes[i].path, routes[i].rpc);
			return -1;
		}
		routes[i].in = m->input;
		routes[i].out = m->output;
		if (route_fields_check(&routes[i]) != 0) {
			return -1;
		}
		routes[i].index = (unsigned) i;
		snprintf(routes[i].name, sizeof(routes[i].name), "%s %s",
		    routes[i].method, routes[i].path);
	}
	return 0;
}

unsigned
edge_route_count(void)
{
	return (unsigned) N_ROUTES;
}

const char *
edge_route_name(unsigned i)
{
	return i < N_ROUTES ? routes[i].name : "";
}

const edge_route *
edge_route_at(unsigned i)
{
	return &routes[i];
}

/* Whether path matches pattern; one "{id}" segment in the pattern matches
 * one non-empty path segment of [A-Za-z0-9_-], copied to id. */
static bool
path_match(const char *pattern, const char *path, char *id, size_t idlen)
{
	const char *brace = strstr(pattern, "{id}");
	if (brace == NULL) {
		return strcmp(pattern, path) == 0;
	}
	size_t prefix = (size_t) (brace - pattern);
	if (strncmp(pattern, path, prefix) != 0) {
		return false;
	}
	const char *seg = path + prefix;
	size_t n = 0;
	while (seg[n] != '\0' && seg[n] != '/') {
		char c = seg[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '_';
		if (!ok) {
			return false;
		}
		n++;
	}
	if (n == 0 || n >= idlen || strcmp(brace + 4, seg + n) != 0) {
		return false;
	}
	memcpy(id, seg, n);
	id[n] = '\0';
	return true;
}

const edge_route *
edge_route_find(const char *method, const char *path, char *id, size_t idlen,
    bool *path_known, char *allow, size_t allowlen)
{
	*path_known = false;
	allow[0] = '\0';
	if (strcmp(method, "HEAD") == 0) {
		method = "GET";
	}
	const edge_route *found = NULL;
	for (size_t i = 0; i < N_ROUTES; i++) {
		if (!path_match(routes[i].path, path, id, idlen)) {
			continue;
		}
		*path_known = true;
		size_t used = strlen(allow);
		snprintf(allow + used, allowlen - used, "%s%s",
		    used ? ", " : "", routes[i].method);
		if (found == NULL && strcmp(routes[i].method, method) == 0) {
			found = &routes[i];
		}
	}
	return found;
}
