/* Retention glue, gc, recovery at open, verify, and file listings. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"
#include "util.h"

/* ---- purging dead versions ---- */

static int unref_list_cb(void *ctx, const struct chunk_ref *refs, size_t n)
{
	struct store *st = ctx;
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++)
		rc = store_chunk_ref(st, &refs[i], -1, 0, 0);
	return rc;
}

/* Drops a dead version's chunk references, then its rows (st->mu held). */
static int purge_version(struct store *st, int64_t v)
{
	int rc;
	struct ofile *of;

	rc = index_tx_begin(st->ix);
	if (rc < 0)
		return rc;
	rc = index_version_chunk_refs(st->ix, v, unref_list_cb, st);
	if (rc < 0)
		goto out_rollback;
	store_crash_point(st, "gc:mid_purge");
	rc = index_version_purge(st->ix, v);
	if (rc < 0)
		goto out_rollback;
	rc = index_tx_commit(st->ix);
	if (rc == 0) {
		for (of = st->files; of; of = of->next)
			if (of->version == v)
				atomic_store(&of->unlinked, true);
	}
	return rc;
out_rollback:
	index_tx_rollback(st->ix);
	return rc;
}

/* The dead versions that are (not) pinned (st->mu held); *ids is allocated. */
static int dead_versions_locked(struct store *st, bool pinned, int64_t **ids, size_t *n)
{
	size_t i, k = 0;
	int rc = index_version_dead_ids(st->ix, ids, n);

	store_assert_mu_held(st);
	if (rc < 0)
		return rc;
	for (i = 0; i < *n; i++)
		if (store_version_pinned(st, (*ids)[i]) == pinned)
			(*ids)[k++] = (*ids)[i];
	*n = k;
	if (!k) {
		free(*ids);
		*ids = NULL;
	}
	return 0;
}

int store_versions_dead_pinned(struct store *st, int64_t **out, size_t *n, size_t *n_unpinned)
{
	int64_t *unpinned = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	*n_unpinned = 0;
	store_mu_lock(st);
	rc = dead_versions_locked(st, true, out, n);
	/* in the same look: a pin dropped after store_gc looked is gc's work */
	if (rc == 0 && store_writable(st))
		rc = dead_versions_locked(st, false, &unpinned, n_unpinned);
	store_mu_unlock(st);
	free(unpinned);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Runs fn(st, id, why) (delete or abort) for each id in one transaction,
 * and frees ids (st->mu held). */
static int ckpts_apply_locked(struct store *st, int64_t *ids, size_t n,
			      int (*fn)(struct store *st, int64_t id, const char *why),
			      const char *why)
{
	size_t i;
	int rc = 0;

	store_assert_mu_held(st);
	if (n) {
		rc = index_tx_begin(st->ix);
		for (i = 0; rc == 0 && i < n; i++)
			rc = fn(st, ids[i], why);
		rc = index_tx_end(st->ix, rc);
	}
	free(ids);
	return rc;
}

/* Purges every dead version nothing pins (st->mu held). */
int store_gc_locked_index(struct store *st, bool purge_aborted, uint64_t *n_purged)
{
	int64_t *ids = NULL;
	size_t n = 0, i;
	int rc = 0;

	store_assert_mu_held(st);
	*n_purged = 0;
	if (purge_aborted) {
		rc = index_ckpt_aborted_ids(st->ix, &ids, &n);
		if (rc == 0)
			rc = ckpts_apply_locked(st, ids, n, store_ckpt_delete_locked, "gc");
		if (rc < 0)
			return rc;
	}
	if (!store_writable(st))
		return 0; /* a mount may still bind dead versions: it purges */
	rc = dead_versions_locked(st, false, &ids, &n);
	for (i = 0; rc == 0 && i < n; i++) {
		rc = purge_version(st, ids[i]);
		if (rc == 0)
			(*n_purged)++;
	}
	free(ids);
	return rc;
}

struct unref_set {
	struct store *st;
	uint8_t (*hashes)[CHUNK_HASH_LEN];
	size_t n, cap;
};

static int unref_cb(void *ctx, const uint8_t *hash, int64_t refs)
{
	struct unref_set *u = ctx;
	int rc;

	(void)refs;
	if (held_has(&u->st->held, hash))
		return 0;
	rc = UTIL_GROW(u->hashes, u->cap, u->n, SIZE_MAX);
	if (rc == 0)
		memcpy(u->hashes[u->n++], hash, CHUNK_HASH_LEN);
	return rc;
}

/* Deletes the chunk files of u, adding their sizes to *freed. */
static int release_files(struct store *st, const struct unref_set *u, uint64_t *freed)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < u->n; i++) {
		int64_t sz = chunk_stored_size(st->cs, u->hashes[i]);
		int r = chunk_release(st->cs, u->hashes[i]);

		if (r == 0 && sz > 0)
			*freed += (uint64_t)sz;
		else if (r < 0 && r != -ENOENT && rc == 0)
			rc = r;
	}
	return rc;
}

/* Then their rows, if still unreferenced (st->mu held). */
static int forget_rows_locked(struct store *st, const struct unref_set *u)
{
	size_t i;
	int rc = index_tx_begin(st->ix);

	store_assert_mu_held(st);
	for (i = 0; rc == 0 && i < u->n; i++) {
		rc = index_chunk_forget_unreferenced(st->ix, u->hashes[i]);
		if (rc == -ENOENT)
			rc = 0; /* referenced again: its row stays */
	}
	rc = index_tx_end(st->ix, rc);
	return rc;
}

/* Several mounts: the one gc leader deletes each chunk nothing references
 * and no mount relied on for the grace period (store_gc_grace_ms): marked
 * dying first, so that a writer about to rely on it waits and stores it
 * again (store_chunk_hold), then its file, then its row. */
static int release_unreferenced_multi(struct store *st, uint64_t *freed)
{
	struct unref_set u = { .st = st };
	int64_t grace = store_gc_grace_ms();
	bool lead = false;
	size_t i;
	int rc, r;

	store_mu_lock(st);
	rc = index_gc_lead(st->ix, true, &lead);
	if (rc == 0 && lead)
		rc = index_chunks_unreferenced(st->ix, unref_cb, &u);
	store_mu_unlock(st);
	for (i = 0; rc == 0 && lead && i < u.n; i++) {
		const uint8_t *h = u.hashes[i];
		int64_t sz = chunk_stored_size(st->cs, h);

		store_mu_lock(st);
		/* held here since it was listed: a put of this mount relies on it */
		r = held_has(&st->held, h) ? -ENOENT : index_chunk_mark_dying(st->ix, h, grace);
		store_mu_unlock(st);
		if (r == -ENOENT)
			continue; /* referenced, held or relied on again, or still in its grace */
		if (r == 0)
			r = chunk_release(st->cs, h);
		if (r == 0 && sz > 0)
			*freed += (uint64_t)sz;
		store_crash_point(st, "gc:before_rows");
		if (r == 0 || r == -ENOENT) {
			store_mu_lock(st);
			r = index_chunk_forget_dying(st->ix, h);
			store_mu_unlock(st);
		}
		if (r < 0)
			rc = r;
	}
	store_mu_lock(st);
	if (lead && (r = index_gc_lead(st->ix, false, &lead)) < 0 && rc == 0)
		rc = r;
	store_mu_unlock(st);
	free(u.hashes);
	return rc;
}

/* Deletes chunk files and rows that nothing references and nothing holds.
 * Only the lock holder deletes chunk files. */
int store_release_unreferenced(struct store *st, uint64_t *freed)
{
	struct unref_set u = { .st = st };
	int rc, r;

	*freed = 0;
	if (!st->locked || !store_writable(st))
		return 0;
	if (store_multi(st))
		return release_unreferenced_multi(st, freed);
	pthread_rwlock_wrlock(&st->gc_rw); /* no chunk_put runs meanwhile */
	store_mu_lock(st);
	rc = index_chunks_unreferenced(st->ix, unref_cb, &u);
	store_mu_unlock(st);
	if (rc < 0)
		goto out_unlock_gc;
	/* files first: a crash between leaves rows with refs 0, removed next time */
	rc = release_files(st, &u, freed);
	store_crash_point(st, "gc:before_rows");
	if (u.n) {
		store_mu_lock(st);
		r = forget_rows_locked(st, &u);
		store_mu_unlock(st);
		if (r < 0 && rc == 0)
			rc = r;
	}
out_unlock_gc:
	pthread_rwlock_unlock(&st->gc_rw);
	free(u.hashes);
	return rc;
}

static int gc_once(struct store *st, bool purge_aborted, uint64_t *purged, uint64_t *bytes)
{
	uint64_t n = 0, b = 0;
	int rc;

	store_mu_lock(st);
	rc = store_gc_locked_index(st, purge_aborted, &n);
	store_mu_unlock(st);
	*purged += n;
	if (rc < 0)
		return rc;
	rc = store_release_unreferenced(st, &b);
	*bytes += b;
	return rc;
}

int store_gc(struct store *st, bool purge_aborted, uint64_t *freed)
{
	uint64_t purged = 0, bytes = 0;
	int rc;

	if (freed)
		*freed = 0;
	if (st->flags & STORE_RDONLY)
		return -EROFS;
	rc = gc_once(st, purge_aborted, &purged, &bytes);
	if (store_reserve_use(st, rc)) /* gc works on a full disk */
		rc = gc_once(st, purge_aborted, &purged, &bytes);
	if (bytes || rc == 0)
		store_reserve_fill(st);
	if (freed)
		*freed = bytes;
	if (purge_aborted || purged || bytes) {
		char rule[96];

		snprintf(rule, sizeof(rule), "purged %llu versions, freed %llu bytes",
			 (unsigned long long)purged, (unsigned long long)bytes);
		store_mu_lock(st);
		store_event_add(st, "gc", NULL, rule);
		store_mu_unlock(st);
	}
	return rc;
}

/* ---- recovery at a read-write open ---- */

struct orphan_ctx {
	struct store *st;
	uint8_t (*hashes)[CHUNK_HASH_LEN];
	size_t n, cap;
	int err;
};

static int orphan_cb(void *ctx, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct orphan_ctx *c = ctx;
	int row = store_chunk_has_row(c->st, hash);

	if (row != 0)
		return row < 0 ? row : 0;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 256;
		void *nh = realloc(c->hashes, nc * CHUNK_HASH_LEN);

		if (!nh)
			return -ENOMEM;
		c->hashes = nh;
		c->cap = nc;
	}
	memcpy(c->hashes[c->n++], hash, CHUNK_HASH_LEN);
	return 0;
}

static void clear_staging_dir(struct store *st)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/staging", st->dir);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* Several mounts: a chunk file with no row that is older than the gc grace
 * period (and newer than the index) was left by a writer that died:
 * claimed by a dying row (a writer meeting it waits), deleted, forgotten.
 * 1 when kept as older than the index, -ENOENT when kept as young (a live
 * mount's, maybe). st->mu held. */
static int orphan_release_multi_locked(struct store *st, const uint8_t *hash)
{
	int64_t mt;
	struct timespec now;
	int rc;

	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	if (chunk_mtime(st->cs, hash, &mt) < 0)
		return -ENOENT;
	if (mt < st->init_ns)
		return 1; /* older than the index: not its to judge (as one mount's) */
	if ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - mt < store_gc_grace_ms() * 1000000)
		return -ENOENT;
	rc = index_chunk_claim_orphan(st->ix, hash);
	if (rc == 0) {
		chunk_release(st->cs, hash);
		rc = index_chunk_forget_dying(st->ix, hash);
	}
	return rc;
}

int store_recover(struct store *st)
{
	static const char reason[] = "left staging at open (crash or unclean stop)";
	struct orphan_ctx oc = { .st = st };
	int64_t *ids;
	size_t n, i, kept = 0;
	uint64_t purged, freed;
	int rc;

	store_mu_lock(st);
	if (store_multi(st)) { /* the other mounts' work is theirs */
		rc = store_multi_recover_locked(st);
		if (rc == 0)
			rc = chunk_foreach(st->cs, orphan_cb, &oc);
		for (i = 0; rc == 0 && i < oc.n; i++) {
			/* the rest are young (a live mount's) or got a row */
			int r = orphan_release_multi_locked(st, oc.hashes[i]);

			kept += r == 1;
			if (r < 0 && r != -ENOENT && r != -EEXIST)
				rc = r;
		}
		goto out_unlock;
	}
	rc = index_ckpt_unfinished_ids(st->ix, &ids, &n);
	if (rc == 0)
		rc = ckpts_apply_locked(st, ids, n, store_ckpt_abort_locked, reason);
	if (rc < 0)
		goto out_unlock;
	/* Unflushed overlay data of the crashed run is discarded: only what
	 * reached chunks and the index is kept with the aborted version. */
	clear_staging_dir(st);
	rc = store_gc_locked_index(st, false, &purged);
	if (rc < 0)
		goto out_unlock;
	/* chunk files with no row at all: written by a crashed run, so after
	 * this index was initialised; older ones are not this index's to judge
	 * (an index restored from a backup): they are kept */
	rc = chunk_foreach(st->cs, orphan_cb, &oc);
	if (rc < 0)
		goto out_unlock;
	for (i = 0; i < oc.n; i++) {
		int64_t mt;

		if (chunk_mtime(st->cs, oc.hashes[i], &mt) == 0 && mt >= st->init_ns)
			chunk_release(st->cs, oc.hashes[i]);
		else
			kept++;
	}
out_unlock:
	store_mu_unlock(st);
	free(oc.hashes);
	if (kept)
		store_note(st,
			   "recovery: kept %zu chunk files without an index row that are older"
			   " than the index (see README, \"Choices\")",
			   kept);
	if (rc == 0)
		rc = store_release_unreferenced(st, &freed);
	return rc;
}

/* ---- retention ---- */

void retain_rows_free(struct retain_row *rows, size_t n)
{
	size_t i;

	for (i = 0; rows && i < n; i++)
		free(rows[i].name);
	free(rows);
}

/* Plans over committed checkpoints: retain_decide's answers joined with the
 * rows, in commit order. */
static int plan(struct store *st, const struct policy *p, struct retain_row **out, size_t *nout)
{
	struct index_committed *c;
	struct retain_item *items = NULL;
	struct retain_decision *dec = NULL;
	struct retain_row *rows = NULL;
	size_t n, i, j;
	int rc;

	*out = NULL;
	*nout = 0;
	store_mu_lock(st);
	rc = index_ckpt_committed(st->ix, &c, &n);
	store_mu_unlock(st);
	if (rc < 0)
		return rc;
	items = calloc(n ? n : 1, sizeof(*items));
	dec = calloc(n ? n : 1, sizeof(*dec));
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!items || !dec || !rows) {
		rc = -ENOMEM;
		goto out_free;
	}
	/* Withdrawn checkpoints (a part was removed by hand) are left to the
	 * user: retention neither counts nor deletes them, and they must not
	 * pass for "latest" in retain_decide. items[] holds the others. */
	for (i = 0, j = 0; i < n; i++) {
		if (c[i].withdrawn)
			continue;
		items[j++] = (struct retain_item){ .id = c[i].id,
						   .commit_seq = c[i].commit_seq,
						   .has_step = c[i].has_step,
						   .step = c[i].step,
						   .pinned = c[i].pinned,
						   .metrics = c[i].metrics,
						   .n_metrics = c[i].n_metrics };
	}
	rc = j ? retain_decide(p, items, j, dec) : 0;
	if (rc < 0)
		goto out_free;
	for (i = 0, j = 0; i < n; i++) {
		rows[i].id = c[i].id;
		rows[i].name = c[i].name;
		c[i].name = NULL;
		if (c[i].withdrawn) {
			rows[i].keep = true;
			snprintf(rows[i].rule, sizeof(rows[i].rule),
				 "withdrawn (not managed by retention)");
			continue;
		}
		rows[i].keep = dec[j].keep;
		snprintf(rows[i].rule, sizeof(rows[i].rule), "%s", dec[j].rule);
		j++;
	}
	*out = rows;
	*nout = n;
	rows = NULL;
out_free:
	free(rows);
	free(dec);
	free(items);
	index_committed_free(c, n);
	return rc;
}

int store_retain_plan(struct store *st, struct retain_row **out, size_t *n)
{
	struct policy p;
	int rc = store_policy_get(st, &p);

	if (rc < 0)
		return rc;
	return plan(st, &p, out, n);
}

static int retain_run_once(struct store *st, struct retain_row **deleted, size_t *n_deleted);

/* ---- the trash's grace period ---- */

struct expire_ctx {
	int64_t before; /* trashed at or before this: grace over */
	int64_t *ids;
	size_t n, cap;
};

static int expired_cb(void *ctx, struct ckpt_info *ci)
{
	struct expire_ctx *e = ctx;
	int rc = 0;

	if (ci->ended_at <= e->before) {
		rc = UTIL_GROW(e->ids, e->cap, e->n, SIZE_MAX);
		if (rc == 0)
			e->ids[e->n++] = ci->id;
	}
	ckpt_info_release(ci);
	return rc;
}

int store_trash_expire(struct store *st, size_t *n_purged)
{
	struct expire_ctx e = { 0 };
	struct policy p;
	int rc;

	*n_purged = 0;
	if (st->flags & STORE_RDONLY)
		return -EROFS;
	rc = store_policy_get(st, &p);
	if (rc < 0)
		return rc;
	/* trash=0 (off) purges what an earlier setting left there */
	e.before = store_now() - (int64_t)(p.trash_s > INT64_MAX / 2 ? INT64_MAX / 2 : p.trash_s);
	store_mu_lock(st);
	rc = index_ckpt_trashed(st->ix, expired_cb, &e);
	if (rc == 0) {
		*n_purged = e.n;
		rc = ckpts_apply_locked(st, e.ids, e.n, store_ckpt_purge_locked,
					"grace period ended");
	} else {
		free(e.ids);
	}
	store_mu_unlock(st);
	return rc;
}

int store_retain_run(struct store *st, struct retain_row **deleted, size_t *n_deleted)
{
	size_t purged = 0;
	int rc = store_trash_expire(st, &purged);

	if (rc == 0)
		rc = retain_run_once(st, deleted, n_deleted);
	if (rc == 0 && purged)
		store_gc(st, false, NULL);

	if (store_reserve_use(st, rc)) /* retention deletes on a full disk */
		rc = retain_run_once(st, deleted, n_deleted);
	return rc;
}

/* One retention run: the plan, what must never be deleted, what was. */
struct retain_run {
	struct retain_row *rows, *del;
	size_t n, nd;
	bool trash;	  /* deletions go to the trash (policy trash) */
	int64_t *protect; /* latest and best_<metric>: checked again here */
	size_t np;
	bool *refused; /* rows[i] planned for deletion but protected */
};

static void protect_resolved(struct store *st, const struct policy *p, struct retain_run *r)
{
	int64_t id;
	size_t i;

	if (store_resolve_latest(st, &id, NULL) == 0)
		r->protect[r->np++] = id;
	for (i = 0; i < p->n_metrics; i++)
		if (store_resolve_best(st, p->metrics[i].name, p->metrics[i].dir, &id, NULL) == 0)
			r->protect[r->np++] = id;
}

/* Whether rows[i] may go: planned for deletion, not protected, and still
 * committed and unpinned in the index (st->mu held). */
static int retain_safe_locked(struct store *st, const struct retain_run *r, size_t i, bool *safe)
{
	size_t j;
	int rc;

	store_assert_mu_held(st);
	*safe = !r->rows[i].keep;
	for (j = 0; *safe && j < r->np; j++)
		*safe = r->protect[j] != r->rows[i].id;
	if (!*safe)
		return 0;
	rc = index_ckpt_deletable(st->ix, r->rows[i].id, safe);
	return rc == -ENOENT ? 0 : rc;
}

/* Deletes the planned rows that are safe, in one transaction (st->mu held). */
static int retain_apply_locked(struct store *st, struct retain_run *r)
{
	size_t i;
	int rc = index_tx_begin(st->ix);

	store_assert_mu_held(st);
	for (i = 0; rc == 0 && i < r->n; i++) {
		char rule[RETAIN_RULE_MAX + 16];
		bool safe;

		rc = retain_safe_locked(st, r, i, &safe);
		if (rc < 0)
			break;
		if (!r->rows[i].keep && !safe)
			r->refused[i] = true; /* noted after unlocking: store_note takes st->mu */
		if (!safe)
			continue;
		snprintf(rule, sizeof(rule), "%s", r->rows[i].rule);
		rc = store_ckpt_remove_locked(st, r->rows[i].id, rule, r->trash);
		if (rc == 0) {
			r->del[r->nd] = r->rows[i];
			r->rows[i].name = NULL;
			r->nd++;
		}
	}
	rc = index_tx_end(st->ix, rc);
	return rc;
}

static int retain_run_once(struct store *st, struct retain_row **deleted, size_t *n_deleted)
{
	struct retain_run r = { 0 };
	struct policy p;
	size_t i;
	int rc;

	if (deleted)
		*deleted = NULL;
	if (n_deleted)
		*n_deleted = 0;
	if (st->flags & STORE_RDONLY)
		return -EROFS;
	rc = store_policy_get(st, &p);
	if (rc < 0)
		return rc;
	if (policy_retention_off(&p))
		return 0;
	r.trash = p.trash_s != 0;
	rc = plan(st, &p, &r.rows, &r.n);
	if (rc < 0)
		return rc;
	r.protect = calloc(p.n_metrics + 1, sizeof(*r.protect));
	r.del = calloc(r.n ? r.n : 1, sizeof(*r.del));
	r.refused = calloc(r.n ? r.n : 1, sizeof(*r.refused));
	if (!r.protect || !r.del || !r.refused) {
		rc = -ENOMEM;
		goto out_free;
	}
	protect_resolved(st, &p, &r);
	store_mu_lock(st);
	rc = retain_apply_locked(st, &r);
	store_mu_unlock(st);
	for (i = 0; i < r.n; i++)
		if (r.refused[i])
			store_note(st, "retention: refused to delete %s (%s): protected",
				   r.rows[i].name, r.rows[i].rule);
	if (rc < 0)
		goto out_free;
	if (r.nd)
		store_gc(st, false, NULL);
	if (deleted) {
		*deleted = r.del;
		*n_deleted = r.nd;
		r.del = NULL;
		r.nd = 0;
	}
out_free:
	retain_rows_free(r.del, r.nd);
	retain_rows_free(r.rows, r.n);
	free(r.protect);
	free(r.refused);
	return rc;
}

/* ---- inspection: files, verify ---- */

void store_file_entries_free(struct store_file_entry *e, size_t n)
{
	size_t i;

	for (i = 0; e && i < n; i++)
		free(e[i].path);
	free(e);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_file_entry *)a)->path,
		      ((const struct store_file_entry *)b)->path);
}

struct file_list {
	struct store_file_entry *arr;
	size_t n, cap;
};

/* Collects the non-directories; the node id goes in path's place until the
 * paths are built. */
static int file_node_cb(void *ctx, int64_t id, uint32_t mode, uint64_t size)
{
	struct file_list *l = ctx;
	int rc;

	if (S_ISDIR(mode))
		return 0;
	rc = UTIL_GROW(l->arr, l->cap, l->n, STORE_TREE_MAX);
	if (rc < 0)
		return rc;
	l->arr[l->n].path = (char *)(intptr_t)id;
	l->arr[l->n].mode = mode;
	l->arr[l->n].size = size;
	l->n++;
	return 0;
}

/* Replaces each entry's node id by its path (all of them, even after a
 * failure, so the list can be freed); a file checkpoint's one path is its
 * name (st->mu held). */
static int file_paths_locked(struct store *st, struct file_list *l, int rc, int kind,
			     const char *cname)
{
	size_t i;

	store_assert_mu_held(st);
	for (i = 0; i < l->n; i++) {
		int64_t id = (int64_t)(intptr_t)l->arr[i].path;
		int r;

		l->arr[i].path = NULL;
		if (rc < 0)
			continue;
		if (kind == CKPT_FILE) {
			l->arr[i].path = strdup(cname);
			r = l->arr[i].path ? 0 : -ENOMEM;
		} else {
			r = store_node_path_locked(st, id, &l->arr[i].path);
		}
		if (r < 0)
			rc = r;
	}
	return rc;
}

int store_ckpt_files(struct store *st, int64_t ckpt_id, struct store_file_entry **out, size_t *n)
{
	struct file_list l = { 0 };
	int64_t version = 0;
	int rc, kind = 0;
	char *cname = NULL;

	*out = NULL;
	*n = 0;
	store_mu_lock(st);
	rc = index_ckpt_version_kind(st->ix, ckpt_id, &version, &kind);
	if (rc == 0)
		rc = store_ckpt_name(st, ckpt_id, &cname);
	if (rc == 0)
		rc = index_version_nodes(st->ix, version, file_node_cb, &l);
	rc = file_paths_locked(st, &l, rc, kind, cname);
	store_mu_unlock(st);
	free(cname);
	if (rc < 0) {
		store_file_entries_free(l.arr, l.n);
		return rc;
	}
	if (l.n > 1)
		qsort(l.arr, l.n, sizeof(*l.arr), entry_cmp);
	*out = l.arr;
	*n = l.n;
	return 0;
}

struct verify_row {
	uint8_t hash[CHUNK_HASH_LEN];
	int64_t refs;
};

struct verify_ctx {
	struct store *st;
	struct held_set *rows;
	void (*report)(void *ctx, const char *problem);
	void *uctx;
	int problems;
	bool live_writer;   /* a mount holds the lock: it may be putting chunks */
	int64_t young;	    /* its files newer than this may be between file and row */
	uint64_t n_skipped; /* such files without a row, not reported */
};

static void problem(struct verify_ctx *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(struct verify_ctx *v, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	v->problems++;
	if (v->report)
		v->report(v->uctx, line);
}

/* A chunk file without a row in the rows read at the start. A writer may
 * have stored it since: the lock holder's own puts hold it until their row
 * is written; while another process (a mount) holds the lock, a file younger
 * than the grace period may be its put whose row is still to come. */
static int orphan_file_cb(void *ctx, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct verify_ctx *v = ctx;
	struct store *st = v->st;
	bool in_flight;
	int64_t mtime;
	int row;
	char hex[65];

	if (held_has(v->rows, hash))
		return 0;
	store_mu_lock(st);
	row = store_chunk_has_row(st, hash); /* a row written since */
	in_flight = held_has(&st->held, hash);
	store_mu_unlock(st);
	if (chunk_mtime(st->cs, hash, &mtime) < 0)
		return 0;	   /* gone */
	mtime /= 1000000000;	   /* seconds, as v->young */
	if (row == 1 || in_flight) /* recorded or in flight */
		return 0;
	if (v->live_writer && mtime >= v->young) {
		v->n_skipped++;
		return 0;
	}
	chunk_hex(hash, hex);
	problem(v, "orphan chunk file %s (no index row)", hex);
	return 0;
}

static int index_problem_cb(void *ctx, const char *text)
{
	problem(ctx, "index: %s", text);
	return 0;
}

/* A damaged chunk: one problem naming the checkpoints that use it; recorded
 * in the index (when the store may be written) so the next save of the same
 * bytes rewrites it and heals them. */
static void verify_damaged(struct verify_ctx *v, const uint8_t hash[CHUNK_HASH_LEN], int err,
			   uint32_t cnt)
{
	struct store *st = v->st;
	char users[160], hex[65];
	int mrc;

	chunk_hex(hash, hex);
	store_mu_lock(st);
	store_chunk_users_locked(st, hash, users, sizeof(users));
	mrc = store_damage_mark_locked(st, hash, "verify");
	store_mu_unlock(st);
	problem(v, "damaged chunk %s (%s, %u references; used by %s; %s)", hex, strerror(-err), cnt,
		users[0] ? users : "no checkpoint",
		mrc == 0 ? "marked: the next save of these bytes rewrites it"
			 : "not marked: the store is open read-only");
}

int store_verify(struct store *st, void (*report)(void *ctx, const char *problem),
		 void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx)
{
	struct store_verify_opts o = { .report = report, .progress = progress, .ctx = ctx };

	return store_verify_ex(st, &o);
}

struct verify_rows {
	struct verify_row *rows;
	size_t n, cap;
	struct held_set *set; /* their hashes */
};

static int recount_cb(void *ctx, const struct chunk_ref *refs, size_t n)
{
	return held_add_list(ctx, refs, n);
}

static int verify_row_cb(void *ctx, const uint8_t *hash, int64_t refs)
{
	struct verify_rows *r = ctx;
	int rc = UTIL_GROW(r->rows, r->cap, r->n, SIZE_MAX);

	if (rc < 0)
		return rc;
	memcpy(r->rows[r->n].hash, hash, CHUNK_HASH_LEN);
	r->rows[r->n].refs = refs;
	if (held_add(r->set, hash) < 0)
		return -ENOMEM;
	r->n++;
	return 0;
}

/* The index's own consistency, then the references recounted from every
 * node row of every unpurged version, and the chunk rows. */
static int verify_load(struct verify_ctx *v, struct held_set *recount, struct verify_rows *r)
{
	struct store *st = v->st;
	int rc;

	store_mu_lock(st);
	index_check_consistency(st->ix, index_problem_cb, v);
	rc = index_all_chunk_lists(st->ix, recount_cb, recount);
	if (rc == 0)
		rc = index_chunk_rows(st->ix, verify_row_cb, r);
	store_mu_unlock(st);
	return rc;
}

/* Each chunk row against the recount and its file. */
static void verify_chunk_rows(struct verify_ctx *v, const struct held_set *recount,
			      const struct verify_rows *r, const struct store_verify_opts *o)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct verify_row *row = &r->rows[i];
		uint32_t cnt = held_count(recount, row->hash);
		char hex[65];
		int e;

		chunk_hex(row->hash, hex);
		if ((int64_t)cnt != row->refs)
			problem(v, "chunk %s: index says %lld references, node rows have %u", hex,
				(long long)row->refs, cnt);
		e = chunk_verify(v->st->cs, row->hash, NULL, NULL);
		if (e == -ENOENT && cnt)
			problem(v, "missing chunk %s (referenced %u times)", hex, cnt);
		else if (e == -ENOENT && row->refs > 0)
			problem(v, "chunk %s has an index row but no file", hex);
		else if (e == -ETIMEDOUT) /* not read: not known damaged, not marked */
			problem(v, "chunk %s not checked: %s", hex, strerror(-e));
		else if (e < 0 && e != -ENOENT)
			verify_damaged(v, row->hash, e, cnt);
		if (o->progress)
			o->progress(o->ctx, i + 1, r->n);
	}
}

int store_verify_ex(struct store *st, const struct store_verify_opts *o)
{
	void *ctx = o->ctx;
	struct held_set recount = { 0 }, rowset = { 0 };
	struct verify_rows rows = { .set = &rowset };
	struct verify_ctx v = { .st = st,
				.rows = &rowset,
				.report = o->report,
				.uctx = ctx,
				.young = store_now() - STORE_ORPHAN_GRACE };
	size_t i;
	int rc;

	rc = verify_load(&v, &recount, &rows);
	if (rc < 0)
		goto out_free;
	verify_chunk_rows(&v, &recount, &rows, o);
	/* referenced by node rows but without a chunk row */
	for (i = 0; i < recount.cap; i++) {
		const struct held_ent *e = &recount.tab[i];
		char hex[65];

		if (e->count && !held_has(&rowset, e->hash)) {
			chunk_hex(e->hash, hex);
			problem(&v, "chunk %s referenced %u times has no index row%s", hex,
				e->count, chunk_has(st->cs, e->hash) == 1 ? "" : " and no file");
		}
	}
	/* several mounts: any other may be between a chunk file and its row */
	v.live_writer = store_multi(st) || store_lock_held_elsewhere(st);
	rc = chunk_foreach(st->cs, orphan_file_cb, &v);
	if (rc == 0 && v.n_skipped && o->note) {
		char line[256];

		snprintf(line, sizeof(line),
			 "skipped %llu chunk file(s) without an index row written in the last %d s:"
			 " a live mount may not have recorded them yet",
			 (unsigned long long)v.n_skipped, STORE_ORPHAN_GRACE);
		o->note(ctx, line);
	}
out_free:
	free(rows.rows);
	held_free(&recount);
	held_free(&rowset);
	if (rc < 0 && v.problems) { /* a damaged index stops the chunk checks: say so */
		problem(&v, "chunks not checked: %s", strerror(-rc));
		rc = 0;
	}
	return rc < 0 ? rc : v.problems;
}
