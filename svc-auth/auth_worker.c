/* The per-worker state of AuthService; see auth_worker.h. */
#include <stdlib.h>

#include "auth_worker.h"

void *
auth_worker_init(void *arg)
{
	const auth_config *cfg = arg;
	auth_worker *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return NULL;
	}
	w->cfg = cfg;
	/* Connections come up lazily if the servers are down now. */
	if (core_store_open(&w->db, cfg->database_url, cfg->redis_url) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void
auth_worker_fini(void *arg)
{
	auth_worker *w = arg;
	if (w == NULL) {
		return;
	}
	core_store_close(&w->db);
	free(w);
}

bool
auth_health(void *arg)
{
	auth_worker *w = arg;
	return core_store_ping(&w->db);
}

core_redis *
auth_worker_redis(void *arg)
{
	return ((auth_worker *) arg)->db.redis;
}
