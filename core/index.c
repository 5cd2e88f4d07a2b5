/* The index backends by name (index_backend.h). */
#include <string.h>

#include "index_backend.h"

const struct index_ops *index_backend_find(const char *name)
{
	static const struct index_ops *const all[] = { &index_sqlite_ops, &index_pg_ops };

	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}
