/* libFuzzer target for core/format.c: the input is one file, checked under
 * the names x.pt, x.npy and x.safetensors (only the extension matters, and
 * zip / npy are found by magic bytes). Checks that no read leaves the file
 * and that the result is 0 or -EBADMSG with a terminated reason. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

struct mem {
	const uint8_t *p;
	size_t n;
};

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	const struct mem *m = ctx;

	if (off > m->n || len > m->n - off)
		abort(); /* format_check must stay inside the file */
	memcpy(buf, m->p + off, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "x.pt", "x.npy", "x.safetensors" };
	struct mem m = { data, size };
	char why[128];

	/* the grid hint reads only the head it is given */
	if (format_data_start(data, size < 16 ? size : 16) > 8 + (uint64_t)(100u << 20))
		abort();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int rc;

		memset(why, 'X', sizeof(why));
		rc = format_check(names[i], size, mem_read, &m, why, sizeof(why));
		if (rc != 0 && rc != -EBADMSG && rc != -ENOMEM)
			abort();
		if (!memchr(why, '\0', sizeof(why)))
			abort();
		if (rc == -EBADMSG && strncmp(why, names[i], strlen(names[i])) != 0)
			abort();
	}
	return 0;
}
