#include "core/timestamp.h"

Google__Protobuf__Timestamp *
core_timestamp_new(core_arena *a, int64_t us)
{
	Google__Protobuf__Timestamp *t = core_arena_alloc(a, sizeof(*t));
	if (t == NULL) {
		return NULL;
	}
	google__protobuf__timestamp__init(t);
	t->seconds = us / 1000000;
	t->nanos = (int32_t) (us % 1000000) * 1000;
	return t;
}
