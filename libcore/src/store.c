#include <stdlib.h>

#include "core/store.h"

int
core_store_open(core_store *s, const char *pg_url, const char *redis_url)
{
	s->pg = core_pg_open(pg_url);
	s->redis = core_redis_open(redis_url);
	if (s->pg == NULL || s->redis == NULL) {
		core_store_close(s);
		return -1;
	}
	return 0;
}

void
core_store_close(core_store *s)
{
	core_pg_close(s->pg);
	core_redis_close(s->redis);
	s->pg = NULL;
	s->redis = NULL;
}

bool
core_store_ping(core_store *s)
{
	return core_pg_ping(s->pg) && core_redis_ping(s->redis);
}

void *
core_store_worker_new(size_t size, const char *pg_url, const char *redis_url)
{
	core_store *w = calloc(1, size);
	if (w == NULL) {
		return NULL;
	}
	/* Connections come up lazily if the servers are down now. */
	if (core_store_open(w, pg_url, redis_url) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void
core_store_worker_free(void *worker)
{
	if (worker == NULL) {
		return;
	}
	core_store_close(worker);
	free(worker);
}

bool
core_store_worker_ping(void *worker)
{
	return core_store_ping(worker);
}

core_redis *
core_store_worker_redis(void *worker)
{
	return ((core_store *) worker)->redis;
}
