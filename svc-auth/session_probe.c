/* auth_session_exists as a command of another module's round trip; see
 * sessions.h. The key is sessions.c's session:<sid>. */
#include <stdio.h>

#include "sessions.h"

core_status
auth_session_probe_add(
    auth_session_probe *p, const char *sid, core_redis_extra *x)
{
	p->at = -1;
	if (!auth_session_sid_valid(sid)) {
		return CORE_OK;
	}
	snprintf(p->key, sizeof(p->key), "session:%s", sid);
	p->argv[0] = "EXISTS";
	p->argv[1] = p->key;
	p->at = core_redis_extra_add(x, 2, p->argv);
	return p->at < 0 ? CORE_INVALID_ARGUMENT : CORE_OK;
}

core_status
auth_session_probe_result(const auth_session_probe *p, core_redis *r,
    const core_redis_extra *x, int *exists)
{
	*exists = 0;
	if (p->at < 0) {
		return CORE_OK;
	}
	const redisReply *rep = x->reply[p->at];
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
		return core_redis_unexpected(r, "exists");
	}
	*exists = rep->integer != 0;
	return CORE_OK;
}
