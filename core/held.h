/* Held chunks: a set of chunk hashes with counts. The store holds every chunk
 * an open file or a background hashing result still uses, so gc never
 * deletes it (store_gc.c). A struct and its verbs, no I/O and no lock: the
 * caller serialises (the store under st->mu). Zeroed memory is an empty set. */
#ifndef CKPT_HELD_H
#define CKPT_HELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"

struct held_set {
	struct held_ent {
		uint8_t hash[CHUNK_HASH_LEN];
		uint32_t count; /* 0 = empty slot */
		bool tomb;
	} * tab;
	size_t cap, used; /* used counts live + tombstones */
};

void held_init(struct held_set *h);
/* Counts one more hold of hash: 0, -ENOMEM, -EOVERFLOW (count at UINT32_MAX). */
int held_add(struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN]);
/* Drops one hold (none held: nothing). */
void held_del(struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN]);
bool held_has(const struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN]);
uint32_t held_count(const struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN]);
/* Frees the table; the set is empty (and usable) again. */
void held_free(struct held_set *h);
/* One hold of each ref's chunk: all or none (on error nothing stays added). */
int held_add_list(struct held_set *h, const struct chunk_ref *refs, size_t n);
void held_del_list(struct held_set *h, const struct chunk_ref *refs, size_t n);

#endif
