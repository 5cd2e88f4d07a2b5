/* Retention glue, gc, recovery at open, verify, and file listings. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"
#include "util.h"

/* ---- purging dead versions ---- */

static int purge_version(struct store *st, int64_t v)
{
	sqlite3_stmt *q;
	int rc, s;
	struct ofile *of;

	rc = store_begin(st);
	if (rc < 0)
		return rc;
	q = store_stmt(st, "SELECT chunks FROM nodes WHERE version=? AND chunks IS NOT NULL");
	if (!q) {
		rc = -EIO;
		goto out_rollback;
	}
	sqlite3_bind_int64(q, 1, v);
	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW)
		rc = store_chunks_unref_blob(st, sqlite3_column_blob(q, 0),
					     (size_t)sqlite3_column_bytes(q, 0));
	if (rc == 0 && s != SQLITE_DONE)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
	if (rc < 0)
		goto out_rollback;
	store_crash_point(st, "gc:mid_purge");
	/* later copies point past the purged one, so follow still works */
	q = store_stmt(st, "UPDATE nodes SET origin = (SELECT o.origin FROM nodes o WHERE"
			   " o.id = nodes.origin) WHERE origin IN (SELECT id FROM nodes WHERE version=?)");
	if (!q) {
		rc = -EIO;
		goto out_rollback;
	}
	sqlite3_bind_int64(q, 1, v);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc == 0) {
		q = store_stmt(st, "DELETE FROM nodes WHERE version=?");
		if (!q) {
			rc = -EIO;
		} else {
			sqlite3_bind_int64(q, 1, v);
			rc = store_sqlerr(sqlite3_step(q));
			sqlite3_reset(q);
		}
	}
	if (rc == 0) {
		q = store_stmt(st, "DELETE FROM versions WHERE id=?");
		if (!q) {
			rc = -EIO;
		} else {
			sqlite3_bind_int64(q, 1, v);
			rc = store_sqlerr(sqlite3_step(q));
			sqlite3_reset(q);
		}
	}
	if (rc < 0)
		goto out_rollback;
	rc = store_commit_tx(st);
	if (rc == 0) {
		for (of = st->files; of; of = of->next)
			if (of->version == v)
				atomic_store(&of->unlinked, true);
	}
	return rc;
out_rollback:
	store_rollback(st);
	return rc;
}

/* Appends the dead versions that are (not) pinned to ids (st->mu held). */
static int dead_versions_locked(struct store *st, bool pinned, int64_t **ids, size_t *cap, size_t *n)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT id FROM versions WHERE state=3");
	int rc = 0, s;

	if (!q)
		return -EIO;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(q, 0);

		if (store_version_pinned(st, v) != pinned)
			continue;
		rc = UTIL_GROW(*ids, *cap, *n, SIZE_MAX);
		if (rc < 0)
			break;
		(*ids)[(*n)++] = v;
	}
	if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
	return rc;
}

int store_versions_dead_pinned(struct store *st, int64_t **out, size_t *n, size_t *n_unpinned)
{
	int64_t *unpinned = NULL;
	size_t cap = 0, ucap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	*n_unpinned = 0;
	pthread_mutex_lock(&st->mu);
	rc = dead_versions_locked(st, true, out, &cap, n);
	/* in the same look: a pin dropped after store_gc looked is gc's work */
	if (rc == 0 && store_writable(st))
		rc = dead_versions_locked(st, false, &unpinned, &ucap, n_unpinned);
	pthread_mutex_unlock(&st->mu);
	free(unpinned);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Purges every dead version nothing pins (st->mu held). */
int store_gc_locked_index(struct store *st, bool purge_aborted, uint64_t *n_purged)
{
	sqlite3_stmt *q;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0, s;

	*n_purged = 0;
	if (purge_aborted) {
		q = store_stmt(st, "SELECT id FROM checkpoints WHERE state=2");
		if (!q)
			return -EIO;
		while ((s = sqlite3_step(q)) == SQLITE_ROW) {
			rc = UTIL_GROW(ids, cap, n, SIZE_MAX);
			if (rc < 0)
				break;
			ids[n++] = sqlite3_column_int64(q, 0);
		}
		sqlite3_reset(q);
		if (rc == 0 && n) {
			rc = store_begin(st);
			for (i = 0; rc == 0 && i < n; i++)
				rc = store_ckpt_delete_locked(st, ids[i], "gc");
			if (rc == 0)
				rc = store_commit_tx(st);
			else
				store_rollback(st);
		}
		if (rc < 0)
			goto out_free;
		n = 0;
	}
	if (!store_writable(st))
		goto out_free; /* a mount may still bind dead versions: it purges */
	rc = dead_versions_locked(st, false, &ids, &cap, &n);
	for (i = 0; rc == 0 && i < n; i++) {
		rc = purge_version(st, ids[i]);
		if (rc == 0)
			(*n_purged)++;
	}
out_free:
	free(ids);
	return rc;
}

/* Deletes chunk files and rows that nothing references and nothing holds.
 * Only the lock holder deletes chunk files. */
int store_release_unreferenced(struct store *st, uint64_t *freed)
{
	uint8_t (*hashes)[CHUNK_HASH_LEN] = NULL;
	size_t n = 0, cap = 0, i;
	sqlite3_stmt *q;
	int rc = 0, s;

	*freed = 0;
	if (!st->locked || !store_writable(st))
		return 0;
	pthread_rwlock_wrlock(&st->gc_rw); /* no chunk_put runs meanwhile */
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT hash FROM chunks WHERE refs <= 0");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(q, 0);

		if (sqlite3_column_bytes(q, 0) != CHUNK_HASH_LEN || held_has(&st->held, h))
			continue;
		rc = UTIL_GROW(hashes, cap, n, SIZE_MAX);
		if (rc < 0)
			break;
		memcpy(hashes[n++], h, CHUNK_HASH_LEN);
	}
	sqlite3_reset(q);
	pthread_mutex_unlock(&st->mu);
	if (rc < 0)
		goto out_unlock_gc;
	/* files first: a crash between leaves rows with refs 0, removed next time */
	for (i = 0; i < n; i++) {
		int64_t sz = chunk_stored_size(st->cs, hashes[i]);
		int r = chunk_release(st->cs, hashes[i]);

		if (r == 0 && sz > 0)
			*freed += (uint64_t)sz;
		else if (r < 0 && r != -ENOENT && rc == 0)
			rc = r;
	}
	store_crash_point(st, "gc:before_rows");
	pthread_mutex_lock(&st->mu);
	if (n) {
		int r = store_begin(st);

		for (i = 0; r == 0 && i < n; i++) {
			q = store_stmt(st, "DELETE FROM chunks WHERE hash=? AND refs <= 0");
			if (!q) {
				r = -EIO;
				break;
			}
			sqlite3_bind_blob(q, 1, hashes[i], CHUNK_HASH_LEN, SQLITE_STATIC);
			r = store_sqlerr(sqlite3_step(q));
			sqlite3_reset(q);
		}
		if (r == 0)
			r = store_commit_tx(st);
		else
			store_rollback(st);
		if (r < 0 && rc == 0)
			rc = r;
	}
out_unlock:
	pthread_mutex_unlock(&st->mu);
out_unlock_gc:
	pthread_rwlock_unlock(&st->gc_rw);
	free(hashes);
	return rc;
}

static int gc_once(struct store *st, bool purge_aborted, uint64_t *purged, uint64_t *bytes)
{
	uint64_t n = 0, b = 0;
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = store_gc_locked_index(st, purge_aborted, &n);
	pthread_mutex_unlock(&st->mu);
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
		pthread_mutex_lock(&st->mu);
		store_event_add(st, "gc", NULL, rule);
		pthread_mutex_unlock(&st->mu);
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

int store_recover(struct store *st)
{
	static const char reason[] = "left staging at open (crash or unclean stop)";
	struct orphan_ctx oc = { .st = st };
	sqlite3_stmt *q;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0, i, kept = 0;
	uint64_t purged, freed;
	int rc = 0, s;

	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT id FROM checkpoints WHERE state=0 OR (state=1 AND staging_version != 0)");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		rc = UTIL_GROW(ids, cap, n, SIZE_MAX);
		if (rc < 0)
			break;
		ids[n++] = sqlite3_column_int64(q, 0);
	}
	sqlite3_reset(q);
	if (rc == 0 && n) {
		rc = store_begin(st);
		for (i = 0; rc == 0 && i < n; i++)
			rc = store_ckpt_abort_locked(st, ids[i], reason);
		if (rc == 0)
			rc = store_commit_tx(st);
		else
			store_rollback(st);
	}
	free(ids);
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
	pthread_mutex_unlock(&st->mu);
	free(oc.hashes);
	if (kept)
		store_note(st, "recovery: kept %zu chunk files without an index row that are older"
			   " than the index (see README, \"Choices\")", kept);
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

struct plan_item {
	int64_t id;
	char *name;
	bool withdrawn;
	struct metric *metrics;
	size_t n_metrics, cap;
};

static void plan_items_free(struct plan_item *pi, size_t n)
{
	size_t i;

	for (i = 0; pi && i < n; i++) {
		free(pi[i].name);
		free(pi[i].metrics);
	}
	free(pi);
}

/* Plans over committed checkpoints: rows in commit order. */
static int plan(struct store *st, const struct policy *p, struct retain_row **out, size_t *nout)
{
	struct plan_item *pi = NULL;
	struct retain_item *items = NULL;
	struct retain_decision *dec = NULL;
	struct retain_row *rows = NULL;
	size_t n = 0, cap = 0, i, j;
	sqlite3_stmt *q;
	int rc = 0, s;

	*out = NULL;
	*nout = 0;
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT id, name, commit_seq, step, pinned, withdrawn FROM checkpoints"
			   " WHERE state=1 ORDER BY commit_seq");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			void *np = realloc(pi, nc * sizeof(*pi));
			void *ni;

			if (!np) {
				rc = -ENOMEM;
				break;
			}
			pi = np;
			ni = realloc(items, nc * sizeof(*items));
			if (!ni) {
				rc = -ENOMEM;
				break;
			}
			items = ni;
			cap = nc;
		}
		memset(&pi[n], 0, sizeof(pi[n]));
		memset(&items[n], 0, sizeof(items[n]));
		pi[n].id = items[n].id = sqlite3_column_int64(q, 0);
		pi[n].name = strdup((const char *)sqlite3_column_text(q, 1));
		items[n].commit_seq = sqlite3_column_int64(q, 2);
		items[n].has_step = sqlite3_column_type(q, 3) != SQLITE_NULL;
		items[n].step = sqlite3_column_int64(q, 3);
		items[n].pinned = sqlite3_column_int(q, 4) != 0;
		pi[n].withdrawn = sqlite3_column_int(q, 5) != 0;
		n++;
		if (!pi[n - 1].name) {
			rc = -ENOMEM;
			break;
		}
	}
	sqlite3_reset(q);
	if (rc < 0)
		goto out_unlock;
	/* metrics of those, in the same commit order */
	q = store_stmt(st, "SELECT m.ckpt, m.name, m.value, m.source FROM metrics m JOIN checkpoints c"
			   " ON c.id = m.ckpt WHERE c.state=1 AND m.name NOT IN ('step','epoch')"
			   " ORDER BY c.commit_seq");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	j = 0;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t cid = sqlite3_column_int64(q, 0);
		struct plan_item *it;
		struct metric *m;

		while (j < n && pi[j].id != cid)
			j++;
		if (j == n)
			break;
		it = &pi[j];
		if (it->n_metrics == it->cap) {
			size_t nc = it->cap ? it->cap * 2 : 4;
			struct metric *nm = realloc(it->metrics, nc * sizeof(*nm));

			if (!nm) {
				rc = -ENOMEM;
				break;
			}
			it->metrics = nm;
			it->cap = nc;
		}
		m = &it->metrics[it->n_metrics++];
		memset(m, 0, sizeof(*m));
		snprintf(m->name, sizeof(m->name), "%s", (const char *)sqlite3_column_text(q, 1));
		m->value = sqlite3_column_double(q, 2);
		snprintf(m->source, sizeof(m->source), "%s", (const char *)sqlite3_column_text(q, 3));
	}
	sqlite3_reset(q);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	if (rc < 0)
		goto out_free;
	/* Withdrawn checkpoints (a part was removed by hand) are left to the
	 * user: retention neither counts nor deletes them, and they must not
	 * pass for "latest" in retain_decide. items[] keeps the others. */
	for (i = 0, j = 0; i < n; i++) {
		if (pi[i].withdrawn)
			continue;
		items[j] = items[i];
		items[j].metrics = pi[i].metrics;
		items[j].n_metrics = pi[i].n_metrics;
		j++;
	}
	dec = calloc(n ? n : 1, sizeof(*dec));
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!dec || !rows) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = j ? retain_decide(p, items, j, dec) : 0;
	if (rc < 0)
		goto out_free;
	for (i = 0, j = 0; i < n; i++) {
		rows[i].id = pi[i].id;
		rows[i].name = pi[i].name;
		pi[i].name = NULL;
		if (pi[i].withdrawn) {
			rows[i].keep = true;
			snprintf(rows[i].rule, sizeof(rows[i].rule), "withdrawn (not managed by retention)");
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
	plan_items_free(pi, n);
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

int store_retain_run(struct store *st, struct retain_row **deleted, size_t *n_deleted)
{
	int rc = retain_run_once(st, deleted, n_deleted);

	if (store_reserve_use(st, rc)) /* retention deletes on a full disk */
		rc = retain_run_once(st, deleted, n_deleted);
	return rc;
}

static int retain_run_once(struct store *st, struct retain_row **deleted, size_t *n_deleted)
{
	struct retain_row *rows = NULL, *del = NULL;
	struct policy p;
	int64_t *protect = NULL;
	bool *refused = NULL;
	size_t n = 0, nd = 0, np = 0, i, j;
	int64_t latest = 0;
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
	rc = plan(st, &p, &rows, &n);
	if (rc < 0)
		return rc;
	/* what retention must never delete, checked again here */
	protect = calloc(p.n_metrics + 1, sizeof(*protect));
	del = calloc(n ? n : 1, sizeof(*del));
	refused = calloc(n ? n : 1, sizeof(*refused));
	if (!protect || !del || !refused) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (store_resolve_latest(st, &latest, NULL) == 0)
		protect[np++] = latest;
	for (i = 0; i < p.n_metrics; i++) {
		int64_t b;

		if (store_resolve_best(st, p.metrics[i].name, p.metrics[i].dir, &b, NULL) == 0)
			protect[np++] = b;
	}
	pthread_mutex_lock(&st->mu);
	rc = store_begin(st);
	for (i = 0; rc == 0 && i < n; i++) {
		sqlite3_stmt *q;
		bool safe = !rows[i].keep;
		char rule[RETAIN_RULE_MAX + 16];

		for (j = 0; safe && j < np; j++)
			safe = protect[j] != rows[i].id;
		if (!rows[i].keep && safe) {
			q = store_stmt(st, "SELECT state=1 AND pinned=0 FROM checkpoints WHERE id=?");
			if (!q) {
				rc = -EIO;
				break;
			}
			sqlite3_bind_int64(q, 1, rows[i].id);
			safe = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
			sqlite3_reset(q);
		}
		if (!rows[i].keep && !safe) {
			refused[i] = true; /* noted after unlocking: store_note takes st->mu */
			continue;
		}
		if (!safe)
			continue;
		snprintf(rule, sizeof(rule), "%s", rows[i].rule);
		rc = store_ckpt_delete_locked(st, rows[i].id, rule);
		if (rc == 0) {
			del[nd] = rows[i];
			rows[i].name = NULL;
			nd++;
		}
	}
	if (rc == 0)
		rc = store_commit_tx(st);
	else
		store_rollback(st);
	pthread_mutex_unlock(&st->mu);
	for (i = 0; i < n; i++)
		if (refused[i])
			store_note(st, "retention: refused to delete %s (%s): protected", rows[i].name,
				   rows[i].rule);
	if (rc < 0)
		goto out_free;
	if (nd)
		store_gc(st, false, NULL);
	if (deleted) {
		*deleted = del;
		*n_deleted = nd;
		del = NULL;
		nd = 0;
	}
out_free:
	retain_rows_free(del, nd);
	retain_rows_free(rows, n);
	free(protect);
	free(refused);
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

int store_ckpt_files(struct store *st, int64_t ckpt_id, struct store_file_entry **out, size_t *n)
{
	struct store_file_entry *arr = NULL;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *q;
	int64_t version = 0;
	int rc = 0, s, kind = 0;
	char *cname = NULL;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT version, kind FROM checkpoints WHERE id=?");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	sqlite3_bind_int64(q, 1, ckpt_id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		version = sqlite3_column_int64(q, 0);
		kind = sqlite3_column_int(q, 1);
	} else {
		rc = -ENOENT;
	}
	sqlite3_reset(q);
	if (rc == 0)
		rc = store_ckpt_name(st, ckpt_id, &cname);
	if (rc < 0)
		goto out_unlock;
	q = store_stmt(st, "SELECT id, mode, size, parent FROM nodes WHERE version=?");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	sqlite3_bind_int64(q, 1, version);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		uint32_t mode = (uint32_t)sqlite3_column_int64(q, 1);

		if (S_ISDIR(mode))
			continue;
		rc = UTIL_GROW(arr, cap, cnt, STORE_TREE_MAX);
		if (rc < 0)
			break;
		/* the id goes in path's place until the paths are built */
		arr[cnt].path = (char *)(intptr_t)sqlite3_column_int64(q, 0);
		arr[cnt].mode = mode;
		arr[cnt].size = (uint64_t)sqlite3_column_int64(q, 2);
		cnt++;
	}
	if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
	{
		size_t i;

		for (i = 0; i < cnt; i++) {
			int64_t id = (int64_t)(intptr_t)arr[i].path;
			int r;

			arr[i].path = NULL;
			if (rc < 0)
				continue;
			if (kind == CKPT_FILE) {
				arr[i].path = strdup(cname);
				r = arr[i].path ? 0 : -ENOMEM;
			} else {
				r = store_node_path_locked(st, id, &arr[i].path);
			}
			if (r < 0)
				rc = r;
		}
	}
out_unlock:
	pthread_mutex_unlock(&st->mu);
	free(cname);
	if (rc < 0) {
		store_file_entries_free(arr, cnt);
		return rc;
	}
	if (cnt > 1)
		qsort(arr, cnt, sizeof(*arr), entry_cmp);
	*out = arr;
	*n = cnt;
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
	int64_t young;      /* its files newer than this may be between file and row */
	uint64_t n_skipped; /* such files without a row, not reported */
};

static void problem(struct verify_ctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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
	pthread_mutex_lock(&st->mu);
	row = store_chunk_has_row(st, hash); /* a row written since */
	in_flight = held_has(&st->held, hash);
	pthread_mutex_unlock(&st->mu);
	if (chunk_mtime(st->cs, hash, &mtime) < 0)
		return 0; /* gone */
	mtime /= 1000000000; /* seconds, as v->young */
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

/* Rows that contradict each other: each query yields one problem text per
 * row (each statement reads one snapshot, so a live mount's commits between
 * them never look like damage). */
static const char *const index_checks[] = {
	"SELECT 'checkpoint ' || c.name || ': committed version ' || c.committed_version ||"
	" ' has no row' FROM checkpoints c WHERE c.state=1 AND NOT EXISTS"
	" (SELECT 1 FROM versions v WHERE v.id=c.committed_version AND v.ckpt=c.id)",
	"SELECT 'version ' || v.id || ' belongs to no checkpoint (' || v.ckpt || ')' FROM versions v"
	" WHERE NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.id=v.ckpt)",
	"SELECT 'version ' || v.id || ': root node ' || v.root || ' has no row' FROM versions v"
	" WHERE v.state=1 AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id=v.root)",
	"SELECT count(*) || ' node rows of version ' || n.version || ', which has no row'"
	" FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.id=n.version)"
	" GROUP BY n.version",
};

/* The index itself: SQLite's integrity_check (b-trees, and every index
 * against its table), then the rows' own consistency. */
static void verify_index(struct store *st, struct verify_ctx *v)
{
	sqlite3_stmt *q = NULL;
	size_t i;
	int s;

	for (i = 0; i <= sizeof(index_checks) / sizeof(index_checks[0]); i++) {
		const char *sql = i ? index_checks[i - 1] : "PRAGMA integrity_check(100)";

		if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
			problem(v, "index: %s", sqlite3_errmsg(st->db));
			continue;
		}
		while ((s = sqlite3_step(q)) == SQLITE_ROW) {
			const char *t = (const char *)sqlite3_column_text(q, 0);

			if (!i && t && strcmp(t, "ok") == 0)
				continue;
			problem(v, "index: %s", t ? t : "?");
		}
		if (s != SQLITE_DONE)
			problem(v, "index: %s", sqlite3_errmsg(st->db));
		sqlite3_finalize(q);
	}
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
	pthread_mutex_lock(&st->mu);
	store_chunk_users_locked(st, hash, users, sizeof(users));
	mrc = store_damage_mark_locked(st, hash, "verify");
	pthread_mutex_unlock(&st->mu);
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

int store_verify_ex(struct store *st, const struct store_verify_opts *o)
{
	void (*progress)(void *ctx, uint64_t done, uint64_t total) = o->progress;
	void *ctx = o->ctx;
	struct held_set recount = { 0 }, rowset = { 0 };
	struct verify_row *rows = NULL;
	struct verify_ctx v = { .st = st, .rows = &rowset, .report = o->report, .uctx = ctx,
				.young = store_now() - STORE_ORPHAN_GRACE };
	size_t n = 0, cap = 0, i;
	sqlite3_stmt *q;
	int rc = 0, s;

	pthread_mutex_lock(&st->mu);
	verify_index(st, &v);
	/* recount references from every node row of every unpurged version */
	q = store_stmt(st, "SELECT chunks FROM nodes WHERE chunks IS NOT NULL");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW) {
		struct chunk_ref *refs = NULL;
		size_t nr = 0;

		if (sqlite3_column_bytes(q, 0) == 0)
			continue;
		rc = chunk_refs_decode(sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0),
				       &refs, &nr);
		if (rc == 0)
			rc = held_add_list(&recount, refs, nr);
		free(refs);
	}
	sqlite3_reset(q);
	if (rc < 0)
		goto out_unlock;
	q = store_stmt(st, "SELECT hash, refs FROM chunks");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(q, 0) != CHUNK_HASH_LEN)
			continue;
		rc = UTIL_GROW(rows, cap, n, SIZE_MAX);
		if (rc < 0)
			break;
		memcpy(rows[n].hash, sqlite3_column_blob(q, 0), CHUNK_HASH_LEN);
		rows[n].refs = sqlite3_column_int64(q, 1);
		if (held_add(&rowset, rows[n].hash) < 0) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	sqlite3_reset(q);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	if (rc < 0)
		goto out_free;

	for (i = 0; i < n; i++) {
		uint32_t cnt = held_count(&recount, rows[i].hash);
		char hex[65];
		int r;

		chunk_hex(rows[i].hash, hex);
		if ((int64_t)cnt != rows[i].refs)
			problem(&v, "chunk %s: index says %lld references, node rows have %u", hex,
				(long long)rows[i].refs, cnt);
		r = chunk_verify(st->cs, rows[i].hash, NULL, NULL);
		if (r == -ENOENT && cnt)
			problem(&v, "missing chunk %s (referenced %u times)", hex, cnt);
		else if (r == -ENOENT && rows[i].refs > 0)
			problem(&v, "chunk %s has an index row but no file", hex);
		else if (r < 0 && r != -ENOENT)
			verify_damaged(&v, rows[i].hash, r, cnt);
		if (progress)
			progress(ctx, i + 1, n);
	}
	/* referenced by node rows but without a chunk row */
	for (i = 0; i < recount.cap; i++) {
		const struct held_ent *e = &recount.tab[i];
		char hex[65];

		if (e->count && !held_has(&rowset, e->hash)) {
			chunk_hex(e->hash, hex);
			problem(&v, "chunk %s referenced %u times has no index row%s", hex, e->count,
				chunk_has(st->cs, e->hash) == 1 ? "" : " and no file");
		}
	}
	v.live_writer = store_lock_held_elsewhere(st);
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
	free(rows);
	held_free(&recount);
	held_free(&rowset);
	if (rc < 0 && v.problems) { /* a damaged index stops the chunk checks: say so */
		problem(&v, "chunks not checked: %s", strerror(-rc));
		rc = 0;
	}
	return rc < 0 ? rc : v.problems;
}
