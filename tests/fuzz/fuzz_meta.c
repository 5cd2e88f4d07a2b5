/* libFuzzer target for core/meta.c: feeds a checkpoint name,
 * trainer_state.json and metadata.json through the meta_* functions.
 *
 * Input: up to three parts separated by NUL bytes: NAME \0 TRAINER_STATE \0
 * METADATA. With fewer parts, the whole input is used for the missing ones,
 * so a plain JSON seed exercises every parser. Checks the promises of
 * meta.h after each call (caps, finite values, terminated strings). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

static void check_set(const struct meta_set *ms)
{
	if (ms->n_metrics > META_MAX_METRICS || ms->n_metrics > ms->cap)
		abort();
	for (size_t i = 0; i < ms->n_metrics; i++) {
		const struct metric *m = &ms->metrics[i];

		if (!memchr(m->name, '\0', META_NAME_MAX) || !m->name[0])
			abort();
		if (!memchr(m->source, '\0', META_SOURCE_MAX) || !isfinite(m->value))
			abort();
		if (!strcmp(m->name, "step") || !strcmp(m->name, "epoch") ||
		    !strcmp(m->name, "global_step"))
			abort();
		(void)meta_name_usable(m->name);
		(void)meta_default_direction(m->name);
	}
	if (ms->has_step && ms->step < 0)
		abort();
	if (ms->has_epoch && !isfinite(ms->epoch))
		abort();
	if (ms->problems && strlen(ms->problems) > 8192)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part[3] = { data, data, data };
	size_t len[3] = { size, size, size };
	const uint8_t *p = data, *end = data + size;
	struct meta_set ms;
	char *name;
	double v;
	int rc;

	for (int i = 0; i < 3 && p <= end; i++) {
		const uint8_t *z = memchr(p, 0, (size_t)(end - p));

		part[i] = p;
		len[i] = z ? (size_t)(z - p) : (size_t)(end - p);
		if (!z)
			break;
		p = z + 1;
	}
	name = malloc(len[0] + 1);
	if (!name)
		return 0;
	memcpy(name, part[0], len[0]);
	name[len[0]] = '\0';

	meta_init(&ms);
	if (meta_from_name(&ms, name) != 0)
		abort(); /* names never fail */
	check_set(&ms);
	rc = meta_from_trainer_state(&ms, (const char *)part[1], len[1]);
	if (rc != 0 && rc != -EINVAL && rc != -EFBIG && rc != -ENOMEM)
		abort();
	check_set(&ms);
	rc = meta_from_json(&ms, (const char *)part[2], len[2], "metadata.json");
	if (rc != 0 && rc != -EINVAL && rc != -EFBIG && rc != -ENOMEM)
		abort();
	check_set(&ms);
	if (meta_parse_number((const char *)data, size, &v) == 0) {
		if (!isfinite(v))
			abort();
		meta_set_value(&ms, "xattr_metric", v, "xattr");
	}
	check_set(&ms);
	(void)meta_name_usable(name);
	(void)meta_default_direction(name);
	meta_release(&ms);
	free(name);
	return 0;
}
