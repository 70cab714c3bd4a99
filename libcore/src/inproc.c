/* The in-process caller URLs (core/inproc.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/inproc.h"
#include "core/tls.h"

static const char scheme[] = "inproc://", from[] = "/from/";

/* Whether s[0..n) is an identity: 1 to CORE_TLS_IDENTITY_MAX of
 * [a-z0-9.-], as certificates' commonNames are (tls_cert_cn). */
static bool
identity(const char *s, size_t n)
{
	if (n == 0 || n > CORE_TLS_IDENTITY_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '.' || c == '-')) {
			return false;
		}
	}
	return true;
}

int
core_inproc_url(char *buf, size_t len, const char *service, const char *caller)
{
	if (!identity(service, strlen(service)) ||
	    !identity(caller, strlen(caller))) {
		return -1;
	}
	int n = snprintf(buf, len, "%s%s%s%s", scheme, service, from, caller);
	return n < 0 || (size_t) n >= len || n >= CORE_INPROC_URL_MAX ? -1 : 0;
}

int
core_inproc_caller(const char *url, char *buf)
{
	size_t sl = sizeof(scheme) - 1, fl = sizeof(from) - 1;
	if (strncmp(url, scheme, sl) != 0) {
		return 0;
	}
	const char *svc = url + sl;
	const char *f = strstr(svc, from);
	if (f == NULL || !identity(svc, (size_t) (f - svc))) {
		return 0;
	}
	const char *caller = f + fl;
	size_t n = strlen(caller);
	if (!identity(caller, n)) {
		return 0;
	}
	memcpy(buf, caller, n + 1);
	return 1;
}
