/* The PostgreSQL index: verbs of retention, gc, verify and recovery
 * (index.h, section "retention, gc, verify, recovery"), ported from
 * index_sqlite_gc.c with the same results in the same order (where the
 * SQLite statement's order came from an index, the ORDER BY names it;
 * names sort as SQLite's BINARY collation does, COLLATE "C"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "index_pg.h"
#include "meta.h"
#include "util.h"

static int ixp_ckpt_aborted_ids(struct index *ix, int64_t **ids, size_t *n)
{
	return ixp_ids(ix,
		       ixp_run(ix,
			       "SELECT id FROM checkpoints WHERE state=2"
			       " ORDER BY name COLLATE \"C\", id",
			       NULL),
		       ids, n);
}

static int ixp_ckpt_unfinished_ids(struct index *ix, int64_t **ids, size_t *n)
{
	return ixp_ids(ix,
		       ixp_run(ix,
			       "SELECT id FROM checkpoints WHERE state=0"
			       " OR (state=1 AND staging_version != 0)"
			       " ORDER BY state, name COLLATE \"C\", id",
			       NULL),
		       ids, n);
}

static int ixp_version_dead_ids(struct index *ix, int64_t **ids, size_t *n)
{
	return ixp_ids(ix, ixp_run(ix, "SELECT id FROM versions WHERE state=3 ORDER BY id", NULL),
		       ids, n);
}

/* ---- committed checkpoints with their metrics ---- */

static int ixp_committed_rows(struct index *ix, struct index_committed **out, size_t *n)
{
	PGresult *r = ixp_run(
		ix,
		"SELECT id, name, commit_seq, step, pinned, withdrawn FROM checkpoints"
		" WHERE state=1 ORDER BY commit_seq, id",
		NULL);
	int rows, rc = 0;

	if (!r)
		return ixp_err(ix);
	rows = PQntuples(r);
	if (rows > 0 && !(*out = calloc((size_t)rows, sizeof(**out))))
		rc = -ENOMEM;
	for (int i = 0; i < rows && !rc; i++) {
		struct index_committed *c = &(*out)[(*n)++];

		c->id = ixp_i64(r, i, 0);
		c->name = strdup(ixp_text(r, i, 1) ?: "");
		c->commit_seq = ixp_i64(r, i, 2);
		c->has_step = !ixp_isnull(r, i, 3);
		c->step = ixp_i64(r, i, 3);
		c->pinned = ixp_i64(r, i, 4) != 0;
		c->withdrawn = ixp_i64(r, i, 5) != 0;
		if (!c->name)
			rc = -ENOMEM;
	}
	PQclear(r);
	return rc;
}

/* The metrics of the committed checkpoints c[] (in the same commit order;
 * a checkpoint's own by name, as SQLite's primary key gives them). */
static int ixp_committed_metrics(struct index *ix, struct index_committed *c, size_t n)
{
	PGresult *r = ixp_run(ix,
			      "SELECT m.ckpt, m.name, m.value, m.source FROM metrics m JOIN"
			      " checkpoints c ON c.id = m.ckpt WHERE c.state=1 AND m.name NOT IN"
			      " ('step','epoch') ORDER BY c.commit_seq, c.id, m.name COLLATE \"C\"",
			      NULL);
	size_t j = 0;
	int rc = 0;

	if (!r)
		return ixp_err(ix);
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		int64_t cid = ixp_i64(r, i, 0);
		struct metric *m;

		while (j < n && c[j].id != cid)
			j++;
		if (j == n)
			break; /* committed after the first statement: not listed */
		rc = UTIL_GROW(c[j].metrics, c[j].cap_metrics, c[j].n_metrics, SIZE_MAX);
		if (rc < 0)
			break;
		m = &c[j].metrics[c[j].n_metrics++];
		memset(m, 0, sizeof(*m));
		snprintf(m->name, sizeof(m->name), "%s", ixp_text(r, i, 1) ?: "");
		m->value = ixp_f64(r, i, 2);
		snprintf(m->source, sizeof(m->source), "%s", ixp_text(r, i, 3) ?: "");
	}
	PQclear(r);
	return rc;
}

static int ixp_ckpt_committed(struct index *ix, struct index_committed **out, size_t *n)
{
	int rc;

	*out = NULL;
	*n = 0;
	rc = ixp_committed_rows(ix, out, n);
	if (rc == 0)
		rc = ixp_committed_metrics(ix, *out, *n);
	if (rc < 0) {
		index_committed_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Runs sql with one id bound: 0 with its rows in *r (at least one; the
 * caller clears it), -ENOENT when there is none, else the errno. */
static int ixp_row_by_id(struct index *ix, const char *sql, int64_t id, PGresult **r)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	*r = ixp_run(ix, sql, &a);
	if (!*r)
		return ixp_err(ix);
	if (PQntuples(*r) > 0)
		return 0;
	PQclear(*r);
	*r = NULL;
	return -ENOENT;
}

static int ixp_ckpt_deletable(struct index *ix, int64_t ckpt_id, bool *ok)
{
	PGresult *r;
	int rc = ixp_row_by_id(ix, "SELECT state=1 AND pinned=0 FROM checkpoints WHERE id=$1",
			       ckpt_id, &r);

	*ok = rc == 0 && ixp_i64(r, 0, 0) != 0;
	PQclear(r);
	return rc;
}

static int ixp_ckpt_version_kind(struct index *ix, int64_t ckpt_id, int64_t *version, int *kind)
{
	PGresult *r;
	int rc = ixp_row_by_id(ix, "SELECT version, kind FROM checkpoints WHERE id=$1", ckpt_id,
			       &r);

	if (rc < 0)
		return rc;
	*version = ixp_i64(r, 0, 0);
	*kind = (int)ixp_i64(r, 0, 1);
	PQclear(r);
	return 0;
}

/* ---- versions and their nodes ---- */

static int ixp_version_nodes(struct index *ix, int64_t version,
			     int (*cb)(void *ctx, int64_t id, uint32_t mode, uint64_t size),
			     void *ctx)
{
	PGresult *r;
	struct ixp_args a = { 0 };
	int rc = 0;

	ixp_arg_i64(&a, version);
	r = ixp_run(
		ix,
		"SELECT id, mode, size FROM nodes WHERE version=$1 ORDER BY parent, name COLLATE \"C\"",
		&a);
	if (!r)
		return ixp_err(ix);
	for (int i = 0; i < PQntuples(r) && !rc; i++)
		rc = cb(ctx, ixp_i64(r, i, 0), (uint32_t)ixp_i64(r, i, 1),
			(uint64_t)ixp_i64(r, i, 2));
	PQclear(r);
	return rc;
}

/* Decodes the chunk list in column 0 of each row of sql (a NULL a: no
 * parameter) and hands it to cb; empty lists are skipped. */
static int ixp_chunk_lists(struct index *ix, const char *sql, const struct ixp_args *a,
			   int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n), void *ctx)
{
	PGresult *r = ixp_run(ix, sql, a);
	int rc = 0;

	if (!r)
		return ixp_err(ix);
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct chunk_ref *refs = NULL;
		uint8_t *blob;
		size_t len, nr = 0;

		rc = ixp_blob(r, i, 0, &blob, &len);
		if (rc == 0 && len > 0) {
			rc = chunk_refs_decode(blob, len, &refs, &nr);
			if (rc == 0)
				rc = cb(ctx, refs, nr);
		}
		free(refs);
		free(blob);
	}
	PQclear(r);
	return rc;
}

static int ixp_version_chunk_refs(struct index *ix, int64_t version,
				  int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n),
				  void *ctx)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, version);
	return ixp_chunk_lists(ix,
			       "SELECT chunks FROM nodes WHERE version=$1 AND chunks IS NOT NULL"
			       " ORDER BY parent, name COLLATE \"C\"",
			       &a, cb, ctx);
}

static int ixp_all_chunk_lists(struct index *ix,
			       int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n),
			       void *ctx)
{
	return ixp_chunk_lists(ix, "SELECT chunks FROM nodes WHERE chunks IS NOT NULL ORDER BY id",
			       NULL, cb, ctx);
}

/* Runs sql with one id bound: 0 or the errno. */
static int ixp_do_id(struct index *ix, const char *sql, int64_t id)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	return ixp_do(ix, sql, &a, NULL);
}

/* Origins always point to an older version's node (a new version copies
 * its nodes from the current one), so no node of the version is rewritten
 * here and the statement's snapshot sees what SQLite's row order saw. */
static int ixp_version_purge(struct index *ix, int64_t version)
{
	struct ixp_args a = { 0 };
	int rc = ixp_do_id(
		ix,
		"UPDATE nodes SET origin = (SELECT o.origin FROM nodes o WHERE"
		" o.id = nodes.origin) WHERE origin IN (SELECT id FROM nodes WHERE version=$1)",
		version);

	if (rc == 0)
		rc = ixp_do_id(ix, "DELETE FROM nodes WHERE version=$1", version);
	if (rc < 0)
		return rc;
	ixp_arg_i64(&a, version);
	return ixp_do_changed(ix, "DELETE FROM versions WHERE id=$1", &a, ENOENT);
}

/* ---- chunk rows ---- */

/* (hash, refs) of each row of sql; rows whose hash is not a hash are skipped. */
static int ixp_hash_rows(struct index *ix, const char *sql,
			 int (*cb)(void *ctx, const uint8_t *hash, int64_t refs), void *ctx)
{
	PGresult *r = ixp_run(ix, sql, NULL);
	int rc = 0;

	if (!r)
		return ixp_err(ix);
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		uint8_t hash[CHUNK_HASH_LEN];

		if (ixp_blob_fixed(r, i, 0, hash, sizeof(hash)) == 0)
			rc = cb(ctx, hash, ixp_i64(r, i, 1));
	}
	PQclear(r);
	return rc;
}

static int ixp_chunk_rows(struct index *ix, int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
			  void *ctx)
{
	return ixp_hash_rows(ix, "SELECT hash, refs FROM chunks ORDER BY hash", cb, ctx);
}

static int ixp_chunks_unreferenced(struct index *ix,
				   int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
				   void *ctx)
{
	return ixp_hash_rows(
		ix, "SELECT hash, refs FROM chunks WHERE refs <= 0 ORDER BY refs, hash", cb, ctx);
}

static int ixp_chunk_forget_unreferenced(struct index *ix, const uint8_t *hash)
{
	struct ixp_args a = { 0 };

	ixp_arg_blob(&a, hash, CHUNK_HASH_LEN);
	return ixp_do_changed(ix, "DELETE FROM chunks WHERE hash=$1 AND refs <= 0", &a, ENOENT);
}

/* ---- consistency ---- */

/* Rows that contradict each other: each query yields one problem text per
 * row (each statement reads one snapshot, so a live mount's commits between
 * them never look like damage). PostgreSQL has no integrity_check of its
 * own to run first: its pages carry checksums verified on every read (when
 * the cluster has them) and a failing read fails the statement, which is
 * reported like any check that cannot run. */
static const char *const ixp_consistency_checks[] = {
	"SELECT 'checkpoint ' || c.name || ': committed version ' || c.committed_version ||"
	" ' has no row' FROM checkpoints c WHERE c.state=1 AND NOT EXISTS"
	" (SELECT 1 FROM versions v WHERE v.id=c.committed_version AND v.ckpt=c.id)"
	" ORDER BY c.id",
	"SELECT 'version ' || v.id || ' belongs to no checkpoint (' || v.ckpt || ')' FROM versions v"
	" WHERE NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.id=v.ckpt) ORDER BY v.id",
	"SELECT 'version ' || v.id || ': root node ' || v.root || ' has no row' FROM versions v"
	" WHERE v.state=1 AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id=v.root) ORDER BY v.id",
	"SELECT count(*) || ' node rows of version ' || n.version || ', which has no row'"
	" FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.id=n.version)"
	" GROUP BY n.version ORDER BY n.version",
};

static int ixp_check_consistency(struct index *ix, int (*cb)(void *ctx, const char *problem),
				 void *ctx)
{
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < sizeof(ixp_consistency_checks) / sizeof(*ixp_consistency_checks);
	     i++) {
		PGresult *r = ixp_run(ix, ixp_consistency_checks[i], NULL);

		if (!r) {
			rc = cb(ctx, index_last_error(ix));
			continue;
		}
		for (int j = 0; j < PQntuples(r) && !rc; j++)
			rc = cb(ctx, ixp_text(r, j, 0) ?: "?");
		PQclear(r);
	}
	return rc;
}

const struct index_gc_ops ixp_gc_ops = {
	.ckpt_aborted_ids = ixp_ckpt_aborted_ids,
	.ckpt_unfinished_ids = ixp_ckpt_unfinished_ids,
	.version_dead_ids = ixp_version_dead_ids,
	.ckpt_committed = ixp_ckpt_committed,
	.ckpt_deletable = ixp_ckpt_deletable,
	.ckpt_version_kind = ixp_ckpt_version_kind,
	.version_nodes = ixp_version_nodes,
	.version_chunk_refs = ixp_version_chunk_refs,
	.all_chunk_lists = ixp_all_chunk_lists,
	.version_purge = ixp_version_purge,
	.chunk_rows = ixp_chunk_rows,
	.chunks_unreferenced = ixp_chunks_unreferenced,
	.chunk_forget_unreferenced = ixp_chunk_forget_unreferenced,
	.check_consistency = ixp_check_consistency,
};
