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
