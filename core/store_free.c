/* Releases the store API's result structs (store.h). A leaf: no store state,
 * no calls, so the index backend, which fills a ckpt_info, can release one on
 * error without depending on a store module. */
#include <stdlib.h>
#include <string.h>

#include "store.h"

void ckpt_info_release(struct ckpt_info *ci)
{
	if (!ci)
		return;
	free(ci->name);
	free(ci->note);
	free(ci->deleted_rule);
	free(ci->metrics);
	memset(ci, 0, sizeof(*ci));
}

void ckpt_info_free_array(struct ckpt_info *arr, size_t n)
{
	size_t i;

	for (i = 0; arr && i < n; i++)
		ckpt_info_release(&arr[i]);
	free(arr);
}
