/* Several mounts of one store (store.h, "several mounts"): the lease each
 * read-write mount holds, the writer registry, and reaping the mounts that
 * died. Below the checkpoint layer: aborts go through store_rows.c. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"
#include "util.h"

bool store_multi(const struct store *st)
{
	return st->mount_id != 0;
}

bool store_lease_lost(struct store *st)
{
	return store_multi(st) && index_lease_lost(st->ixops, st->lock);
}

void store_staging_dir(const struct store *st, char *buf, size_t len)
{
	if (store_multi(st))
		snprintf(buf, len, "%s/staging/m%lld", st->dir, (long long)st->mount_id);
	else
		snprintf(buf, len, "%s/staging", st->dir);
}

int store_writer_add(struct store *st, int64_t ckpt, int delta)
{
	int rc;

	if (!store_multi(st))
		return 0;
	store_mu_lock(st);
	rc = index_writer_add(st->ix, ckpt, st->mount_id, delta);
	store_mu_unlock(st);
	return rc;
}

int store_writers_busy(struct store *st, int64_t ckpt, int64_t settle_ms, bool *busy)
{
	int rc;

	*busy = false;
	if (!store_multi(st))
		return 0;
	store_mu_lock(st);
	rc = index_writers_busy(st->ix, ckpt, st->mount_id, settle_ms, busy);
	store_mu_unlock(st);
	return rc;
}

#define STORE_GC_GRACE_MS (10 * 60 * 1000)
#define STORE_HOLD_WAIT_MS 30000 /* a gc deleting a chunk takes milliseconds */

int64_t store_gc_grace_ms(void)
{
	const char *e = getenv("CKPT_GC_GRACE_MS");
	char *end;
	long long v = e ? strtoll(e, &end, 10) : -1;

	return e && *e && !*end && v >= 0 ? v : STORE_GC_GRACE_MS;
}

static int chunks_hold(struct store *st, const struct chunk_ref *refs, const uint32_t *stored,
		       const uint8_t *codecs, size_t n, uint8_t *state)
{
	int rc;

	store_mu_lock(st);
	rc = index_chunks_hold(st->ix, refs, stored, codecs, n, state);
	store_mu_unlock(st);
	return rc;
}

static int ref_hash_cmp(const void *a, const void *b)
{
	const struct chunk_ref *x = *(const struct chunk_ref *const *)a;
	const struct chunk_ref *y = *(const struct chunk_ref *const *)b;
	return memcmp(x->hash, y->hash, CHUNK_HASH_LEN);
}

/* any[i]: some put of refs[i]'s hash in this batch made its chunk. A hash
 * repeated in one flush (the hole slots of a sparse file) is made by one put
 * and found by the others; the index holds it once, for all of them. */
static int made_by_hash(const struct chunk_ref *refs, const bool *made, size_t n, bool *any)
{
	const struct chunk_ref **p = malloc(n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		p[i] = &refs[i];
	qsort(p, n, sizeof(*p), ref_hash_cmp);
	for (size_t a = 0, b; a < n; a = b) {
		bool made_one = false;
		for (b = a; b < n && ref_hash_cmp(&p[a], &p[b]) == 0; b++)
			made_one |= made[p[b] - refs];
		for (size_t k = a; k < b; k++)
			any[p[k] - refs] = made_one;
	}
	free(p);
	return 0;
}

int store_chunks_hold(struct store *st, const struct chunk_ref *refs, const uint32_t *stored,
		      const uint8_t *codecs, const bool *made, size_t n, bool *again)
{
	uint8_t one, *state;
	int waited = 0, rc;

	memset(again, 0, n * sizeof(*again));
	if (!store_multi(st) || n == 0)
		return 0;
	state = n == 1 ? &one : malloc(n * (1 + sizeof(bool)));
	if (!state)
		return -ENOMEM;
	bool *merged = n == 1 ? NULL : (bool *)(state + n);
	const bool *any = merged ? merged : made;
	rc = merged ? made_by_hash(refs, made, n, merged) : 0;
	if (rc == 0)
		rc = chunks_hold(st, refs, stored, codecs, n, state);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		/* dying: wait until gc is done with it, then hold it anew */
		while (rc == 0 && state[i] == INDEX_HOLD_DYING) {
			if (waited >= STORE_HOLD_WAIT_MS) {
				rc = -EBUSY; /* a gc leader died mid-way: never rely on it */
				break;
			}
			usleep(20000);
			waited += 20;
			again[i] = true;
			rc = chunks_hold(st, &refs[i], &stored[i], &codecs[i], 1, &state[i]);
		}
		if (state[i] == INDEX_HOLD_MADE && !any[i])
			again[i] = true;
	}
	if (state != &one)
		free(state);
	return rc;
}

int store_file_publish(struct store *st, struct store_file *f)
{
	int rc = store_file_flush(f);

	if (rc == 0 && store_multi(st))
		rc = chunk_barrier(st->cs);
	return rc;
}

/* Removes a dead mount's staging directory (its unflushed overlays). */
static void remove_staging(const struct store *st, int64_t mount)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/staging/m%lld", st->dir, (long long)mount);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(path);
}

/* Appends (id, name) to the reaped list; ENOMEM only loses the report. */
static void reaped_add(struct store *st, int64_t id, const char *why, struct store_reaped **out,
		       size_t *n)
{
	struct store_reaped *nr = realloc(*out, (*n + 1) * sizeof(**out));
	char *name = NULL;

	if (!nr)
		return;
	*out = nr;
	nr[*n].id = id;
	nr[*n].why = why;
	if (store_ckpt_name(st, id, &name) == 0)
		snprintf(nr[*n].name, sizeof(nr[*n].name), "%s", name);
	else
		nr[*n].name[0] = 0;
	free(name);
	(*n)++;
}

/* One dead mount: its staging checkpoints aborted, then its rows
 * forgotten, in one transaction (another reaper meanwhile finds them gone
 * or aborted). st->mu held. */
static int reap_one_locked(struct store *st, int64_t mount, struct store_reaped **out, size_t *n)
{
	char why[96];
	int64_t *ids = NULL;
	size_t m = 0, i;
	int rc = index_tx_begin(st->ix);

	snprintf(why, sizeof(why), "its mount (lease %lld) stopped: lease expired",
		 (long long)mount);
	if (rc == 0)
		rc = index_mount_ckpts(st->ix, mount, &ids, &m);
	for (i = 0; rc == 0 && i < m; i++) {
		rc = store_ckpt_abort_locked(st, ids[i], why);
		if (rc == 0 && out)
			reaped_add(st, ids[i], "the mount writing it stopped (lease expired)", out,
				   n);
	}
	if (rc == 0)
		rc = index_mount_forget(st->ix, mount);
	rc = index_tx_end(st->ix, rc);
	free(ids);
	if (rc == 0)
		remove_staging(st, mount);
	return rc;
}

/* Staging checkpoints no live mount takes part in (their mounts unmounted
 * and left them to others that then went too): aborted. Decided in the
 * transaction, so a checkpoint being created (registered in its creating
 * transaction) is never taken. st->mu held. */
static int reap_unowned_locked(struct store *st, const char *why, struct store_reaped **out,
			       size_t *n)
{
	int64_t *ids = NULL;
	size_t m = 0, i;
	int rc = index_tx_begin(st->ix);

	if (rc == 0)
		rc = index_ckpts_unowned(st->ix, &ids, &m);
	for (i = 0; rc == 0 && i < m; i++) {
		rc = store_ckpt_abort_locked(st, ids[i], why);
		if (rc == 0 && out)
			reaped_add(st, ids[i], why, out, n);
	}
	rc = index_tx_end(st->ix, rc);
	free(ids);
	return rc;
}

static int reap_locked(struct store *st, const char *why, struct store_reaped **out, size_t *n)
{
	int64_t *dead = NULL;
	size_t nd = 0, i;
	int rc;

	store_assert_mu_held(st);
	rc = index_mounts_reap(st->ix, &dead, &nd);
	for (i = 0; rc == 0 && i < nd; i++)
		if (dead[i] != st->mount_id)
			rc = reap_one_locked(st, dead[i], out, n);
	free(dead);
	if (rc == 0)
		rc = reap_unowned_locked(st, why, out, n);
	return rc;
}

int store_reap(struct store *st, struct store_reaped **out, size_t *n)
{
	int rc;

	*out = NULL;
	*n = 0;
	if (!store_multi(st))
		return 0;
	store_mu_lock(st);
	rc = reap_locked(st, "no mount takes part in it any more", out, n);
	store_mu_unlock(st);
	return rc;
}

void store_multi_close(struct store *st)
{
	if (store_multi(st))
		remove_staging(st, st->mount_id);
}

int store_multi_recover_locked(struct store *st)
{
	char path[PATH_MAX];

	store_staging_dir(st, path, sizeof(path));
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return reap_locked(st, "left staging at open (crash or unclean stop)", NULL, NULL);
}
