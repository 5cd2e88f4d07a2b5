/* Damaged chunks. A chunk found damaged (a read's XXH3 check, a commit's
 * format check, or verify's SHA-256) is recorded in the index table
 * damaged_chunks. A put of the same bytes checks that table (one index probe
 * per chunk put; chunk files are never re-read on a put) and then rewrites
 * the chunk file atomically instead of deduplicating onto it, which heals
 * every checkpoint that shares the chunk; the rewrite is logged as a "heal"
 * event naming them. The table is created at every open that may write the
 * index, so stores made before it get it at their next mount. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* Appends checkpoint names to a "a, b" list, cut with ", ..." to fit. */
struct users_text {
	char *out;
	size_t len, used;
};

static int users_add(void *ctx, const char *name)
{
	struct users_text *u = ctx;
	int n = snprintf(u->out + u->used, u->len - u->used, "%s%s", u->used ? ", " : "",
			 name ? name : "?");

	if (n < 0 || (size_t)n >= u->len - u->used) {
		snprintf(u->out + (u->len > 8 ? u->len - 8 : 0), 8, ", ...");
		return 1;
	}
	u->used += (size_t)n;
	return 0;
}

void store_chunk_users_locked(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], char *out,
			      size_t len)
{
	struct users_text u = { out, len, 0 };

	store_assert_mu_held(st);
	assert(len > 8);
	out[0] = 0;
	index_chunk_users(st->ix, hash, users_add, &u); /* on failure: the names found so far */
}

int store_damage_mark_locked(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], const char *how)
{
	store_assert_mu_held(st);
	if (st->flags & STORE_RDONLY)
		return -EROFS;
	return index_damage_add(st->ix, hash, store_now(), how);
}

bool store_damage_known(struct store *st, const uint8_t hash[CHUNK_HASH_LEN])
{
	bool known;

	store_mu_lock(st);
	known = index_damage_exists(st->ix, hash) == 0;
	store_mu_unlock(st);
	return known;
}

void store_damage_healed(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], const char *by)
{
	char users[STORE_NOTE_LEN - 160], rule[STORE_NOTE_LEN], hex[65];
	bool was;

	chunk_hex(hash, hex);
	store_mu_lock(st);
	was = index_damage_del(st->ix, hash) == 0;
	if (was) { /* a concurrent put of the same bytes logs it once */
		store_chunk_users_locked(st, hash, users, sizeof(users));
		snprintf(rule, sizeof(rule), "rewrote damaged chunk %.16s; healed: %s", hex,
			 users[0] ? users : "(no checkpoint uses it now)");
		store_event_add(st, "heal", by, rule);
	}
	store_mu_unlock(st);
	if (was)
		store_note(st, "healed damaged chunk %.16s (saved again by %s)", hex,
			   by ? by : "?");
}

bool store_lock_held_elsewhere(struct store *st)
{
	return !st->locked && index_lock_held_elsewhere(st->ixops, st->ixwhere);
}
