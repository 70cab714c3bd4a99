/* The browser-facing rules of the edge, as pure functions: which origins
 * may make cross-origin (CORS) calls and cookie-authenticated writes, and
 * the token cookies' exact form. */
#ifndef EDGE_BROWSER_H
#define EDGE_BROWSER_H

#include <stdbool.h>
#include <stddef.h>

#define EDGE_MAX_ORIGINS 16

typedef struct edge_origins {
	char buf[2048];
	const char *list[EDGE_MAX_ORIGINS];
	size_t n;
} edge_origins;

/* Parses a comma-separated list of origins ("https://app.example.com,
 * http://localhost:5173"): each is http or https, a host, an optional port,
 * no path, no trailing slash. Returns 0, or -1 with a message in err. */
int edge_origins_parse(
    edge_origins *o, const char *csv, char *err, size_t errlen);

/* Whether origin is on the list (exact, case-insensitive). */
bool edge_origin_listed(const edge_origins *o, const char *origin);

/* Whether origin ("http://host:port") names the same authority as the
 * request's Host header, i.e. the request comes from a page this edge
 * served. "null" and anything not http(s) never match. */
bool edge_origin_same_host(const char *origin, const char *host);

/* Formats a Set-Cookie value: name=value; Path=/; Max-Age=max_age;
 * HttpOnly; [Secure;] SameSite=Strict. max_age 0 expires the cookie.
 * Returns 0, or -1 when value holds a character a cookie may not carry or
 * the result does not fit. */
int edge_cookie_format(char *buf, size_t len, const char *name,
    const char *value, long max_age, bool secure);

/* The same with Path=path (a literal path such as "/login"). */
int edge_cookie_format_path(char *buf, size_t len, const char *name,
    const char *value, const char *path, long max_age, bool secure);

/* Whether a Content-Type header value is JSON (application/json, with or
 * without parameters). */
bool edge_is_json_type(const char *content_type);

/* Decodes %XX escapes of a URL path or query value in place, except %00
 * which stays as the three characters (a NUL would cut the string short:
 * "/index.html%00.js" must not be "/index.html"). Returns the new length. */
size_t edge_unescape(char *s);

#endif
