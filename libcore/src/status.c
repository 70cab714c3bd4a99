#include <stddef.h>
#include <strings.h>

#include "core/status.h"

static const char *const names[] = {
#define CORE_STATUS_NAME(name, num) [num] = #name,
    CORE_STATUS_TABLE(CORE_STATUS_NAME)
#undef CORE_STATUS_NAME
};

const char *
core_status_str(int status)
{
	if (status < 0 || status > CORE_STATUS_MAX) {
		return "UNKNOWN";
	}
	return names[status];
}

int
core_status_parse(const char *name, core_status *out)
{
	if (name == NULL) {
		return -1;
	}
	for (int i = 0; i <= CORE_STATUS_MAX; i++) {
		if (strcasecmp(name, names[i]) == 0) {
			*out = (core_status) i;
			return 0;
		}
	}
	return -1;
}
