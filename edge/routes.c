#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "registry.h"
#include "core/status.h"
#include "routes.h"

/* Adding an endpoint is one row:
 * ROW(method, path, RPC method, field for {id}, service, flags, success). */
#define ROW(m, p, rpc, field, target, flags, ok)                             \
	{m, p, rpc, field, target, flags, ok, NULL, NULL, 0, ""}

static edge_route routes[] = {
    ROW("POST", "/register", "/auth.v1.AuthService/Register", NULL,
        EDGE_AUTH, ROUTE_BODY | ROUTE_LOCATION, 201),
    ROW("POST", "/login", "/auth.v1.AuthService/Login", NULL, EDGE_AUTH,
        ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_SET_COOKIES, 200),
    ROW("POST", "/refresh", "/auth.v1.AuthService/Refresh", NULL, EDGE_AUTH,
        ROUTE_BODY | ROUTE_CLIENT_INFO | ROUTE_REFRESH_COOKIE |
            ROUTE_SET_COOKIES,
        200),
    ROW("POST", "/logout", "/auth.v1.AuthService/Logout", NULL, EDGE_AUTH,
        ROUTE_AUTH | ROUTE_BODY | ROUTE_REFRESH_COOKIE | ROUTE_CLEAR_COOKIES,
        200),
    ROW("GET", "/profile", "/user.v1.UserService/GetProfile", NULL,
        EDGE_USER, ROUTE_AUTH | ROUTE_ETAG, 200),
    ROW("PUT", "/profile", "/user.v1.UserService/UpdateProfile", NULL,
        EDGE_USER, ROUTE_AUTH | ROUTE_BODY | ROUTE_ETAG | ROUTE_IF_MATCH,
        200),
    ROW("PATCH", "/profile", "/user.v1.UserService/UpdateProfile", NULL,
        EDGE_USER, ROUTE_AUTH | ROUTE_BODY | ROUTE_ETAG | ROUTE_IF_MATCH,
        200),
    ROW("GET", "/sessions", "/auth.v1.AuthService/ListSessions", NULL,
        EDGE_AUTH, ROUTE_AUTH, 200),
    ROW("DELETE", "/sessions/{id}", "/auth.v1.AuthService/RevokeSession",
        "session_id", EDGE_AUTH, ROUTE_AUTH, 200),
    ROW("GET", "/.well-known/jwks.json", "/auth.v1.AuthService/GetJwks",
        NULL, EDGE_AUTH, ROUTE_JWKS, 200),
    ROW("GET", "/admin/users", "/admin.v1.AdminService/ListUsers", NULL,
        EDGE_ADMIN, ROUTE_AUTH | ROUTE_QUERY, 200),
    ROW("GET", "/admin/users/{id}", "/admin.v1.AdminService/GetUser", "id",
        EDGE_ADMIN, ROUTE_AUTH, 200),
    ROW("PATCH", "/admin/users/{id}", "/admin.v1.AdminService/UpdateUser",
        "id", EDGE_ADMIN, ROUTE_AUTH | ROUTE_BODY, 200),
    ROW("POST", "/admin/users/{id}/revoke-sessions",
        "/admin.v1.AdminService/RevokeSessions", "id", EDGE_ADMIN,
        ROUTE_AUTH | ROUTE_BODY, 200),
    ROW("GET", "/admin/audit", "/admin.v1.AdminService/ListAudit", NULL,
        EDGE_ADMIN, ROUTE_AUTH | ROUTE_QUERY, 200),
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

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
		routes[i].in = m->input;
		routes[i].out = m->output;
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
		snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "",
		    routes[i].method);
		if (found == NULL && strcmp(routes[i].method, method) == 0) {
			found = &routes[i];
		}
	}
	return found;
}

unsigned
edge_http_status(int st)
{
	switch (st) {
	case CORE_OK:
		return 200;
	case CORE_INVALID_ARGUMENT:
	case CORE_OUT_OF_RANGE:
		return 400;
	case CORE_UNAUTHENTICATED:
		return 401;
	case CORE_PERMISSION_DENIED:
		return 403;
	case CORE_NOT_FOUND:
		return 404;
	case CORE_ALREADY_EXISTS:
	case CORE_ABORTED:
		return 409;
	case CORE_FAILED_PRECONDITION:
		/* On the If-Match routes (the profile version); the caller
		 * answers 400 elsewhere. */
		return 412;
	case CORE_RESOURCE_EXHAUSTED:
		return 429;
	case CORE_CANCELLED:
		return 499;
	case CORE_UNIMPLEMENTED:
		return 501;
	case CORE_UNAVAILABLE:
		return 503;
	case CORE_DEADLINE_EXCEEDED:
		return 504;
	default:
		return 500;
	}
}

const char *
edge_http_title(unsigned status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 499:
		return "Client Closed Request";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Internal Server Error";
	}
}
