/* The SQLite index: verbs of retention, gc, verify and recovery (index.h,
 * section "retention, gc, verify, recovery"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "index_sqlite.h"
#include "meta.h"
#include "util.h"

/* Steps q to its end: 0 at SQLITE_DONE, else the engine's errno. */
static int step_end(struct index *ix, sqlite3_stmt *q, int s)
{
	int rc = s == SQLITE_DONE ? 0 : ix_err(ix);

	sqlite3_reset(q);
	return rc;
}

/* The first column of every row of sql (one int64 bound when arg != 0). */
static int ids_query(struct index *ix, const char *sql, int64_t arg, int64_t **ids, size_t *n)
{
	sqlite3_stmt *q = ix_stmt(ix, sql);
	size_t cap = 0;
	int rc = 0, s;

	*ids = NULL;
	*n = 0;
	if (!q)
		return ix_err(ix);
	if (arg)
		sqlite3_bind_int64(q, 1, arg);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		rc = UTIL_GROW(*ids, cap, *n, SIZE_MAX);
		if (rc < 0)
			break;
		(*ids)[(*n)++] = sqlite3_column_int64(q, 0);
	}
	if (rc == 0)
		rc = step_end(ix, q, s);
	else
		sqlite3_reset(q);
	if (rc < 0) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return rc;
}

static int ixs_ckpt_aborted_ids(struct index *ix, int64_t **ids, size_t *n)
{
	return ids_query(ix, "SELECT id FROM checkpoints WHERE state=2", 0, ids, n);
}

static int ixs_ckpt_unfinished_ids(struct index *ix, int64_t **ids, size_t *n)
{
	return ids_query(
		ix,
		"SELECT id FROM checkpoints WHERE state=0 OR (state=1 AND staging_version != 0)", 0,
		ids, n);
}

static int ixs_version_dead_ids(struct index *ix, int64_t **ids, size_t *n)
{
	return ids_query(ix, "SELECT id FROM versions WHERE state=3", 0, ids, n);
}

/* ---- committed checkpoints with their metrics ---- */

void index_committed_free(struct index_committed *c, size_t n)
{
	size_t i;

	for (i = 0; c && i < n; i++) {
		free(c[i].name);
		free(c[i].metrics);
	}
	free(c);
}

static int committed_rows(struct index *ix, struct index_committed **out, size_t *n)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "SELECT id, name, commit_seq, step, pinned, withdrawn FROM"
				  " checkpoints WHERE state=1 ORDER BY commit_seq");
	size_t cap = 0;
	int rc = 0, s;

	if (!q)
		return ix_err(ix);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		struct index_committed *c;

		rc = UTIL_GROW(*out, cap, *n, SIZE_MAX);
		if (rc < 0)
			break;
		c = &(*out)[(*n)++];
		memset(c, 0, sizeof(*c));
		c->id = sqlite3_column_int64(q, 0);
		c->name = strdup((const char *)sqlite3_column_text(q, 1));
		c->commit_seq = sqlite3_column_int64(q, 2);
		c->has_step = sqlite3_column_type(q, 3) != SQLITE_NULL;
		c->step = sqlite3_column_int64(q, 3);
		c->pinned = sqlite3_column_int(q, 4) != 0;
		c->withdrawn = sqlite3_column_int(q, 5) != 0;
		if (!c->name) {
			rc = -ENOMEM;
			break;
		}
	}
	if (rc == 0)
		return step_end(ix, q, s);
	sqlite3_reset(q);
	return rc;
}

/* The metrics of the committed checkpoints c[] (in the same commit order). */
static int committed_metrics(struct index *ix, struct index_committed *c, size_t n)
{
	sqlite3_stmt *q = ix_stmt(
		ix,
		"SELECT m.ckpt, m.name, m.value, m.source FROM metrics m JOIN"
		" checkpoints c ON c.id = m.ckpt WHERE c.state=1 AND m.name NOT IN"
		" ('step','epoch') ORDER BY c.commit_seq");
	size_t j = 0;
	int rc = 0, s;

	if (!q)
		return ix_err(ix);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t cid = sqlite3_column_int64(q, 0);
		struct metric *m;

		while (j < n && c[j].id != cid)
			j++;
		if (j == n)
			break;
		rc = UTIL_GROW(c[j].metrics, c[j].cap_metrics, c[j].n_metrics, SIZE_MAX);
		if (rc < 0)
			break;
		m = &c[j].metrics[c[j].n_metrics++];
		memset(m, 0, sizeof(*m));
		snprintf(m->name, sizeof(m->name), "%s", (const char *)sqlite3_column_text(q, 1));
		m->value = sqlite3_column_double(q, 2);
		snprintf(m->source, sizeof(m->source), "%s",
			 (const char *)sqlite3_column_text(q, 3));
	}
	if (rc == 0 && s != SQLITE_ROW)
		return step_end(ix, q, s);
	sqlite3_reset(q);
	return rc;
}

static int ixs_ckpt_committed(struct index *ix, struct index_committed **out, size_t *n)
{
	int rc;

	*out = NULL;
	*n = 0;
	rc = committed_rows(ix, out, n);
	if (rc == 0)
		rc = committed_metrics(ix, *out, *n);
	if (rc < 0) {
		index_committed_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Steps sql (one id bound) to its row: 0 with the row in *q (reset it after
 * reading), -ENOENT when there is none, else the engine's errno. */
static int row_by_id(struct index *ix, const char *sql, int64_t id, sqlite3_stmt **q)
{
	int s;

	*q = ix_stmt(ix, sql);
	if (!*q)
		return ix_err(ix);
	sqlite3_bind_int64(*q, 1, id);
	s = sqlite3_step(*q);
	if (s == SQLITE_ROW)
		return 0;
	return step_end(ix, *q, s) ?: -ENOENT;
}

static int ixs_ckpt_deletable(struct index *ix, int64_t ckpt_id, bool *ok)
{
	sqlite3_stmt *q;
	int rc = row_by_id(ix, "SELECT state=1 AND pinned=0 FROM checkpoints WHERE id=?", ckpt_id,
			   &q);

	*ok = rc == 0 && sqlite3_column_int(q, 0) != 0;
	if (rc == 0)
		sqlite3_reset(q);
	return rc;
}

static int ixs_ckpt_version_kind(struct index *ix, int64_t ckpt_id, int64_t *version, int *kind)
{
	sqlite3_stmt *q;
	int rc = row_by_id(ix, "SELECT version, kind FROM checkpoints WHERE id=?", ckpt_id, &q);

	if (rc < 0)
		return rc;
	*version = sqlite3_column_int64(q, 0);
	*kind = sqlite3_column_int(q, 1);
	sqlite3_reset(q);
	return 0;
}

/* ---- versions and their nodes ---- */

static int ixs_version_nodes(struct index *ix, int64_t version,
			     int (*cb)(void *ctx, int64_t id, uint32_t mode, uint64_t size),
			     void *ctx)
{
	sqlite3_stmt *q = ix_stmt(ix, "SELECT id, mode, size FROM nodes WHERE version=?");
	int rc = 0, s;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, version);
	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW)
		rc = cb(ctx, sqlite3_column_int64(q, 0), (uint32_t)sqlite3_column_int64(q, 1),
			(uint64_t)sqlite3_column_int64(q, 2));
	if (rc == 0)
		return step_end(ix, q, s);
	sqlite3_reset(q);
	return rc;
}

static int chunk_lists(struct index *ix, sqlite3_stmt *q,
		       int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n), void *ctx)
{
	int rc = 0, s;

	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW) {
		const uint8_t *blob = sqlite3_column_blob(q, 0);
		size_t len = (size_t)sqlite3_column_bytes(q, 0), nr = 0;
		struct chunk_ref *refs = NULL;

		if (len == 0)
			continue;
		rc = chunk_refs_decode(blob, len, &refs, &nr);
		if (rc == 0)
			rc = cb(ctx, refs, nr);
		free(refs);
	}
	if (rc == 0)
		return step_end(ix, q, s);
	sqlite3_reset(q);
	return rc;
}

static int ixs_version_chunk_refs(struct index *ix, int64_t version,
				  int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n),
				  void *ctx)
{
	sqlite3_stmt *q = ix_stmt(
		ix, "SELECT chunks FROM nodes WHERE version=? AND chunks IS NOT NULL");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, version);
	return chunk_lists(ix, q, cb, ctx);
}

static int ixs_all_chunk_lists(struct index *ix,
			       int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n),
			       void *ctx)
{
	sqlite3_stmt *q = ix_stmt(ix, "SELECT chunks FROM nodes WHERE chunks IS NOT NULL");

	if (!q)
		return ix_err(ix);
	return chunk_lists(ix, q, cb, ctx);
}

static int exec_id(struct index *ix, const char *sql, int64_t id)
{
	sqlite3_stmt *q = ix_stmt(ix, sql);

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, id);
	return ix_step_done(ix, q);
}

static int ixs_version_purge(struct index *ix, int64_t version)
{
	int rc = exec_id(
		ix,
		"UPDATE nodes SET origin = (SELECT o.origin FROM nodes o WHERE"
		" o.id = nodes.origin) WHERE origin IN (SELECT id FROM nodes WHERE version=?)",
		version);

	if (rc == 0)
		rc = exec_id(ix, "DELETE FROM nodes WHERE version=?", version);
	if (rc == 0)
		rc = exec_id(ix, "DELETE FROM versions WHERE id=?", version);
	if (rc == 0 && sqlite3_changes(ixs_of(ix)->db) == 0)
		rc = -ENOENT;
	return rc;
}

/* ---- chunk rows ---- */

/* (hash, refs) of each row of sql; rows whose hash is not a hash are skipped. */
static int hash_rows(struct index *ix, const char *sql,
		     int (*cb)(void *ctx, const uint8_t *hash, int64_t refs), void *ctx)
{
	sqlite3_stmt *q = ix_stmt(ix, sql);
	int rc = 0, s;

	if (!q)
		return ix_err(ix);
	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(q, 0) == CHUNK_HASH_LEN)
			rc = cb(ctx, sqlite3_column_blob(q, 0), sqlite3_column_int64(q, 1));
	}
	if (rc == 0)
		return step_end(ix, q, s);
	sqlite3_reset(q);
	return rc;
}

static int ixs_chunk_rows(struct index *ix, int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
			  void *ctx)
{
	return hash_rows(ix, "SELECT hash, refs FROM chunks", cb, ctx);
}

static int ixs_chunks_unreferenced(struct index *ix,
				   int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
				   void *ctx)
{
	return hash_rows(ix, "SELECT hash, refs FROM chunks WHERE refs <= 0", cb, ctx);
}

static int ixs_chunk_forget_unreferenced(struct index *ix, const uint8_t *hash)
{
	sqlite3_stmt *q = ix_stmt(ix, "DELETE FROM chunks WHERE hash=? AND refs <= 0");
	int rc;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	rc = ix_step_done(ix, q);
	if (rc == 0 && sqlite3_changes(ixs_of(ix)->db) == 0)
		rc = -ENOENT;
	return rc;
}

/* ---- consistency ---- */

/* Rows that contradict each other: each query yields one problem text per
 * row (each statement reads one snapshot, so a live mount's commits between
 * them never look like damage). */
static const char *const consistency_checks[] = {
	"PRAGMA integrity_check(100)", /* b-trees, and every index against its table */
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

/* Prepared and finalized each time, not cached: a damaged index may fail to
 * prepare one and still answer the next. */
static int ixs_check_consistency(struct index *ix, int (*cb)(void *ctx, const char *problem),
				 void *ctx)
{
	size_t i;
	int rc = 0, s;

	for (i = 0; rc == 0 && i < sizeof(consistency_checks) / sizeof(consistency_checks[0]);
	     i++) {
		sqlite3_stmt *q = NULL;

		if (sqlite3_prepare_v2(ixs_of(ix)->db, consistency_checks[i], -1, &q, NULL) !=
		    SQLITE_OK) {
			rc = cb(ctx, sqlite3_errmsg(ixs_of(ix)->db));
			continue;
		}
		while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW) {
			const char *t = (const char *)sqlite3_column_text(q, 0);

			if (!i && t && strcmp(t, "ok") == 0)
				continue;
			rc = cb(ctx, t ? t : "?");
		}
		if (rc == 0 && s != SQLITE_DONE)
			rc = cb(ctx, sqlite3_errmsg(ixs_of(ix)->db));
		sqlite3_finalize(q);
	}
	return rc;
}

const struct index_gc_ops ixs_gc_ops = {
	.ckpt_aborted_ids = ixs_ckpt_aborted_ids,
	.ckpt_unfinished_ids = ixs_ckpt_unfinished_ids,
	.version_dead_ids = ixs_version_dead_ids,
	.ckpt_committed = ixs_ckpt_committed,
	.ckpt_deletable = ixs_ckpt_deletable,
	.ckpt_version_kind = ixs_ckpt_version_kind,
	.version_nodes = ixs_version_nodes,
	.version_chunk_refs = ixs_version_chunk_refs,
	.all_chunk_lists = ixs_all_chunk_lists,
	.version_purge = ixs_version_purge,
	.chunk_rows = ixs_chunk_rows,
	.chunks_unreferenced = ixs_chunks_unreferenced,
	.chunk_forget_unreferenced = ixs_chunk_forget_unreferenced,
	.check_consistency = ixs_check_consistency,
};
