/* A chunk's name as text: the 64 hex digits of its hash (chunk.h). A leaf
 * that the chunk backends (chunk_dir.c names files by it) and chunk.c both
 * use, so no backend depends on chunk.c. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "chunk.h"

void chunk_hex(const uint8_t hash[CHUNK_HASH_LEN], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < CHUNK_HASH_LEN; i++) {
		out[2 * i] = digits[hash[i] >> 4];
		out[2 * i + 1] = digits[hash[i] & 15];
	}
	out[64] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int chunk_unhex(const char *hex, uint8_t out[CHUNK_HASH_LEN])
{
	uint8_t tmp[CHUNK_HASH_LEN];

	if (!hex)
		return -EINVAL;
	for (int i = 0; i < CHUNK_HASH_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex[64] != '\0')
		return -EINVAL;
	memcpy(out, tmp, CHUNK_HASH_LEN);
	return 0;
}
