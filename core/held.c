/* Held chunks: an open-addressing set of chunk hashes with counts (linear
 * probing, tombstones, power-of-two capacity). Not thread-safe: the store
 * keeps its set under st->mu. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "held.h"

void held_init(struct held_set *h)
{
	memset(h, 0, sizeof(*h));
}

static size_t held_slot(const struct held_set *h, const uint8_t *hash)
{
	uint64_t x;

	memcpy(&x, hash, sizeof(x)); /* SHA-256 bytes are uniform */
	return (size_t)(x & (h->cap - 1));
}

static int held_grow(struct held_set *h)
{
	size_t ncap = h->cap ? h->cap * 2 : 1024, i;
	struct held_ent *old = h->tab, *nt;
	size_t ocap = h->cap;

	/* rehash at the same size when tombstones dominate */
	if (h->cap) {
		size_t live = 0;

		for (i = 0; i < h->cap; i++)
			live += h->tab[i].count ? 1 : 0;
		if (live * 4 < h->cap)
			ncap = h->cap;
	}
	nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	h->tab = nt;
	h->cap = ncap;
	h->used = 0;
	for (i = 0; i < ocap; i++) {
		if (old[i].count) {
			size_t j = held_slot(h, old[i].hash);

			while (nt[j].count)
				j = (j + 1) & (ncap - 1);
			nt[j] = old[i];
			nt[j].tomb = false;
			h->used++;
		}
	}
	free(old);
	return 0;
}

int held_add(struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN])
{
	size_t j, tomb = SIZE_MAX;

	if ((h->used + 1) * 4 >= h->cap * 3) {
		int rc = held_grow(h);

		if (rc < 0)
			return rc;
	}
	j = held_slot(h, hash);
	for (;;) {
		struct held_ent *e = &h->tab[j];

		if (e->count && memcmp(e->hash, hash, CHUNK_HASH_LEN) == 0) {
			if (e->count == UINT32_MAX)
				return -EOVERFLOW;
			e->count++;
			return 0;
		}
		if (!e->count) {
			if (e->tomb) {
				if (tomb == SIZE_MAX)
					tomb = j;
			} else {
				if (tomb != SIZE_MAX) {
					e = &h->tab[tomb];
				} else {
					h->used++;
				}
				memcpy(e->hash, hash, CHUNK_HASH_LEN);
				e->count = 1;
				e->tomb = false;
				return 0;
			}
		}
		j = (j + 1) & (h->cap - 1);
	}
}

static struct held_ent *held_find(const struct held_set *h, const uint8_t *hash)
{
	size_t j;

	if (!h->cap)
		return NULL;
	j = held_slot(h, hash);
	for (;;) {
		struct held_ent *e = &h->tab[j];

		if (e->count && memcmp(e->hash, hash, CHUNK_HASH_LEN) == 0)
			return e;
		if (!e->count && !e->tomb)
			return NULL;
		j = (j + 1) & (h->cap - 1);
	}
}

void held_del(struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct held_ent *e = held_find(h, hash);

	if (e && --e->count == 0)
		e->tomb = true;
}

bool held_has(const struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN])
{
	return held_find(h, hash) != NULL;
}

uint32_t held_count(const struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN])
{
	const struct held_ent *e = held_find(h, hash);

	return e ? e->count : 0;
}

void held_free(struct held_set *h)
{
	free(h->tab);
	memset(h, 0, sizeof(*h));
}

int held_add_list(struct held_set *h, const struct chunk_ref *refs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int rc = held_add(h, refs[i].hash);

		if (rc < 0) {
			held_del_list(h, refs, i);
			return rc;
		}
	}
	return 0;
}

void held_del_list(struct held_set *h, const struct chunk_ref *refs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		held_del(h, refs[i].hash);
}
