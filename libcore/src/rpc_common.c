#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <sodium.h>

#include "core/rpc.h"
#include "rpc_internal.h"

int64_t
rpc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

core_status
rpc_status_from_nng(int rv)
{
	switch (rv) {
	case 0:
		return CORE_OK;
	case NNG_ETIMEDOUT:
		return CORE_DEADLINE_EXCEEDED;
	case NNG_ENOMEM:
		return CORE_RESOURCE_EXHAUSTED;
	case NNG_EMSGSIZE:
		return CORE_INVALID_ARGUMENT;
	default:
		/* Closed, cancelled, reset, refused: the peer is not there. */
		return CORE_UNAVAILABLE;
	}
}

void
core_rpc_new_request_id(char *buf)
{
	unsigned char raw[16];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(buf, 33, raw, sizeof(raw));
}

bool
core_rpc_request_id_valid(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		if (!ok || n >= 64) {
			return false;
		}
	}
	return n > 0;
}
