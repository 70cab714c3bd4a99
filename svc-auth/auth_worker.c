/* The per-worker state of AuthService; see auth_worker.h. */
#include <stdlib.h>

#include "auth_worker.h"

void *
auth_worker_init(void *arg)
{
	const auth_config *cfg = arg;
	auth_worker *w = core_store_worker_new(
	    sizeof(*w), cfg->database_url, cfg->redis_url);
	if (w != NULL) {
		w->cfg = cfg;
	}
	return w;
}
