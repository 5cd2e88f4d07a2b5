/* The SQLite index, nodes: the tree of a version and its chunk lists
 * (index.h, section "nodes"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index_sqlite.h"

#define NODE_SQL                                                                                       \
	"SELECT n.id, n.version, v.ckpt, n.parent, n.mode, n.size, n.mtime, n.ctime, v.state, n.atime" \
	" FROM nodes n JOIN versions v ON v.id = n.version"

/* Steps q expecting one row: 0 with a row (q not reset: the caller reads
 * it, then resets), -ENOENT without one, or the engine's error (q reset). */
static int step_row(struct index *ix, sqlite3_stmt *q)
{
	int s = sqlite3_step(q), rc;

	if (s == SQLITE_ROW)
		return 0;
	rc = s == SQLITE_DONE ? -ENOENT : ix_err(ix);
	sqlite3_reset(q);
	return rc;
}

/* Prepares sql (a literal), binds ?1..?n to keys and steps to its row: 0
 * with *qp on the row (the caller reads it, then resets), -ENOENT without
 * one, or the engine's error. */
static int row_at(struct index *ix, const char *sql, const int64_t *keys, int n, sqlite3_stmt **qp)
{
	sqlite3_stmt *q = ix_stmt(ix, sql);
	int i;

	if (!q)
		return ix_err(ix);
	for (i = 0; i < n; i++)
		sqlite3_bind_int64(q, i + 1, keys[i]);
	*qp = q;
	return step_row(ix, q);
}

/* An UPDATE or DELETE of one row: -ENOENT when it matched none. */
static int step_changed(struct index *ix, sqlite3_stmt *q)
{
	int rc = ix_step_done(ix, q);

	return rc == 0 && sqlite3_changes(ixs_of(ix)->db) == 0 ? -ENOENT : rc;
}

/* The row q is on (rc 0) as a node; resets q. */
static int node_read(int rc, sqlite3_stmt *q, struct index_node *out)
{
	if (rc < 0)
		return rc;
	out->id = sqlite3_column_int64(q, 0);
	out->version = sqlite3_column_int64(q, 1);
	out->ckpt = sqlite3_column_int64(q, 2);
	out->parent = sqlite3_column_int64(q, 3);
	out->mode = (uint32_t)sqlite3_column_int64(q, 4);
	out->size = (uint64_t)sqlite3_column_int64(q, 5);
	out->mtime_ns = sqlite3_column_int64(q, 6);
	out->ctime_ns = sqlite3_column_int64(q, 7);
	out->vstate = sqlite3_column_int(q, 8);
	out->has_atime = sqlite3_column_type(q, 9) != SQLITE_NULL;
	out->atime_ns = out->has_atime ? sqlite3_column_int64(q, 9) : 0;
	sqlite3_reset(q);
	return 0;
}

static int ixs_node_get(struct index *ix, int64_t id, struct index_node *out)
{
	sqlite3_stmt *q = NULL;
	int rc = row_at(ix, NODE_SQL " WHERE n.id=?", &id, 1, &q);

	return node_read(rc, q, out);
}

static int ixs_node_root(struct index *ix, int64_t version, struct index_node *out)
{
	sqlite3_stmt *q = NULL;
	int rc = row_at(ix, NODE_SQL " WHERE n.version=? AND n.parent=0", &version, 1, &q);

	return node_read(rc, q, out);
}

static int ixs_node_lookup(struct index *ix, int64_t parent, const char *name,
			   struct index_node *out)
{
	sqlite3_stmt *q = ix_stmt(ix, NODE_SQL " WHERE n.parent=? AND n.name=?");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, parent);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	return node_read(step_row(ix, q), q, out);
}

static int ixs_node_children(struct index *ix, int64_t dir,
			     int (*cb)(void *ctx, const struct store_dirent *e), void *ctx)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "SELECT id, mode, name FROM nodes WHERE parent=? ORDER BY name");
	int rc = 0, s;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, dir);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_dirent e = {
			.id = sqlite3_column_int64(q, 0),
			.mode = (uint32_t)sqlite3_column_int64(q, 1),
			.name = (char *)sqlite3_column_text(q, 2),
		};

		if (!e.name) {
			rc = ix_err(ix); /* NOT NULL column: only out of memory */
			break;
		}
		rc = cb(ctx, &e);
		if (rc)
			break;
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = ix_err(ix);
	sqlite3_reset(q);
	return rc;
}

static int ixs_node_has_children(struct index *ix, int64_t id, bool *yes)
{
	sqlite3_stmt *q = NULL;
	int rc = row_at(ix, "SELECT 1 FROM nodes WHERE parent=? LIMIT 1", &id, 1, &q);

	*yes = rc == 0;
	if (rc == 0)
		sqlite3_reset(q);
	return rc == -ENOENT ? 0 : rc;
}

/* A text column, malloc'd (NULL for NULL); -ENOMEM. */
static int column_dup(struct index *ix, sqlite3_stmt *q, int col, char **out)
{
	const char *t = (const char *)sqlite3_column_text(q, col);

	*out = NULL;
	if (!t)
		return sqlite3_column_type(q, col) == SQLITE_NULL ? 0 : ix_err(ix);
	*out = strdup(t);
	return *out ? 0 : -ENOMEM;
}

/* One row's integer and text columns for id (sql: a literal selecting
 * them by id); *text as column_dup's. */
static int int_text(struct index *ix, const char *sql, int64_t id, int64_t *num, char **text)
{
	sqlite3_stmt *q = NULL;
	int rc;

	*text = NULL;
	rc = row_at(ix, sql, &id, 1, &q);
	if (rc < 0)
		return rc;
	*num = sqlite3_column_int64(q, 0);
	rc = column_dup(ix, q, 1, text);
	sqlite3_reset(q);
	return rc;
}

static int ixs_node_name(struct index *ix, int64_t id, int64_t *parent, char **name)
{
	return int_text(ix, "SELECT parent, name FROM nodes WHERE id=?", id, parent, name);
}

static int ixs_node_target(struct index *ix, int64_t id, uint32_t *mode, char **target)
{
	int64_t m = 0;
	int rc = int_text(ix, "SELECT mode, target FROM nodes WHERE id=?", id, &m, target);

	*mode = (uint32_t)m;
	return rc;
}

static int ixs_node_chunks(struct index *ix, int64_t id, struct chunk_ref **refs, size_t *n,
			   uint64_t *size)
{
	sqlite3_stmt *q = NULL;
	int rc;

	*refs = NULL;
	*n = 0;
	rc = row_at(ix, "SELECT size, chunks FROM nodes WHERE id=?", &id, 1, &q);
	if (rc < 0)
		return rc;
	if (size)
		*size = (uint64_t)sqlite3_column_int64(q, 0);
	if (sqlite3_column_bytes(q, 1) > 0)
		rc = chunk_refs_decode(sqlite3_column_blob(q, 1),
				       (size_t)sqlite3_column_bytes(q, 1), refs, n);
	sqlite3_reset(q);
	return rc;
}

static int ixs_node_successor(struct index *ix, int64_t origin, int64_t ckpt, int64_t *next)
{
	const int64_t keys[2] = { origin, ckpt };
	sqlite3_stmt *q = NULL;
	int rc = row_at(ix,
			"SELECT n.id FROM nodes n JOIN versions v ON v.id = n.version"
			" WHERE n.origin=? AND v.ckpt=? ORDER BY n.id DESC LIMIT 1",
			keys, 2, &q);

	if (rc < 0)
		return rc;
	*next = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return 0;
}

/* ---- changes ---- */

static int ixs_node_insert(struct index *ix, const struct index_node *n, const char *name,
			   const char *target, int64_t *id)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "INSERT INTO nodes(version, parent, name, mode, size, mtime,"
				  " ctime, target) VALUES(?,?,?,?,?,?,?,?)");
	int rc;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, n->version);
	sqlite3_bind_int64(q, 2, n->parent);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, n->mode);
	sqlite3_bind_int64(q, 5, (int64_t)n->size);
	sqlite3_bind_int64(q, 6, n->mtime_ns);
	sqlite3_bind_int64(q, 7, n->ctime_ns);
	if (target)
		sqlite3_bind_text(q, 8, target, -1, SQLITE_STATIC);
	rc = ix_step_done(ix, q); /* a UNIQUE violation is -EEXIST */
	if (rc == 0)
		*id = sqlite3_last_insert_rowid(ixs_of(ix)->db);
	return rc;
}

/* Runs an UPDATE/DELETE whose ?1 is a row id (more bindings already set). */
static int change_id(struct index *ix, sqlite3_stmt *q, int64_t id)
{
	sqlite3_bind_int64(q, 1, id);
	return step_changed(ix, q);
}

static int ixs_node_delete(struct index *ix, int64_t id)
{
	sqlite3_stmt *q = ix_stmt(ix, "DELETE FROM nodes WHERE id=?1");

	return q ? change_id(ix, q, id) : ix_err(ix);
}

static int ixs_node_touch(struct index *ix, int64_t id, int64_t now_ns)
{
	sqlite3_stmt *q = ix_stmt(ix, "UPDATE nodes SET mtime=?2, ctime=?2 WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 2, now_ns);
	return change_id(ix, q, id);
}

static int ixs_node_move(struct index *ix, int64_t id, int64_t parent, const char *name,
			 int64_t now_ns)
{
	sqlite3_stmt *q = ix_stmt(ix, "UPDATE nodes SET parent=?2, name=?3, ctime=?4 WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 2, parent);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, now_ns);
	return change_id(ix, q, id);
}

static int ixs_node_set_attrs(struct index *ix, int64_t id, const struct index_node_attrs *a)
{
	/* atime NULL follows mtime: a new mtime alone pins the old one */
	sqlite3_stmt *q = ix_stmt(
		ix,
		"UPDATE nodes SET mode = CASE WHEN ?2 THEN (mode & ~4095) | ?3"
		" ELSE mode END, mtime = CASE WHEN ?4 THEN ?5 ELSE mtime END, ctime=?6,"
		" atime = CASE WHEN ?7 THEN ?8 WHEN ?4 THEN coalesce(atime, ?9) ELSE atime END"
		" WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int(q, 2, a->set_mode);
	sqlite3_bind_int64(q, 3, a->mode & 07777);
	sqlite3_bind_int(q, 4, a->set_mtime);
	sqlite3_bind_int64(q, 5, a->mtime_ns);
	sqlite3_bind_int64(q, 6, a->now_ns);
	sqlite3_bind_int(q, 7, a->set_atime);
	sqlite3_bind_int64(q, 8, a->atime_ns);
	sqlite3_bind_int64(q, 9, a->shown_atime_ns);
	return change_id(ix, q, id);
}

static int ixs_node_set_chunks(struct index *ix, int64_t id, const struct chunk_ref *refs, size_t n,
			       uint64_t size, int64_t mtime_ns)
{
	sqlite3_stmt *q = ix_stmt(ix, "UPDATE nodes SET size=?2, chunks=?3, mtime=?4 WHERE id=?1");
	uint8_t *blob;
	int rc;

	if (!q)
		return ix_err(ix);
	blob = malloc(n * CHUNK_REF_WIRE + 1); /* never NULL: an empty list is an empty blob */
	if (!blob)
		return -ENOMEM;
	chunk_refs_encode(refs, n, blob);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)size);
	sqlite3_bind_blob(q, 3, blob, (int)(n * CHUNK_REF_WIRE), SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, mtime_ns);
	rc = change_id(ix, q, id);
	free(blob);
	return rc;
}

/* ---- checkpoint rows the tree changes touch ---- */

static int ixs_ckpt_head_version(struct index *ix, int64_t ckpt, int *state, int64_t *version)
{
	sqlite3_stmt *q = NULL;
	int rc = row_at(ix,
			"SELECT state, CASE WHEN staging_version != 0 THEN staging_version"
			" ELSE committed_version END FROM checkpoints WHERE id=?",
			&ckpt, 1, &q);

	if (rc < 0)
		return rc;
	*state = sqlite3_column_int(q, 0);
	*version = sqlite3_column_int64(q, 1);
	sqlite3_reset(q);
	return 0;
}

static int ixs_ckpt_withdraw_if_committed(struct index *ix, int64_t ckpt, bool *done)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "UPDATE checkpoints SET withdrawn=1 WHERE id=?1 AND state=1"
				  " AND withdrawn=0");
	int rc;

	*done = false;
	if (!q)
		return ix_err(ix);
	rc = change_id(ix, q, ckpt);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	*done = true;
	/* eligible mirrors "committed and not withdrawn" (metrics_best) */
	q = ix_stmt(ix, "UPDATE metrics SET eligible=0 WHERE ckpt=?");
	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, ckpt);
	return ix_step_done(ix, q);
}

static int ixs_ckpt_add_stored(struct index *ix, int64_t ckpt, uint64_t bytes)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "UPDATE checkpoints SET stored_bytes = stored_bytes + ?2"
				  " WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)bytes);
	return change_id(ix, q, ckpt);
}

const struct index_node_ops ixs_node_ops = {
	.node_get = ixs_node_get,
	.node_root = ixs_node_root,
	.node_lookup = ixs_node_lookup,
	.node_children = ixs_node_children,
	.node_has_children = ixs_node_has_children,
	.node_name = ixs_node_name,
	.node_target = ixs_node_target,
	.node_chunks = ixs_node_chunks,
	.node_successor = ixs_node_successor,
	.node_insert = ixs_node_insert,
	.node_delete = ixs_node_delete,
	.node_touch = ixs_node_touch,
	.node_move = ixs_node_move,
	.node_set_attrs = ixs_node_set_attrs,
	.node_set_chunks = ixs_node_set_chunks,
	.ckpt_head_version = ixs_ckpt_head_version,
	.ckpt_withdraw_if_committed = ixs_ckpt_withdraw_if_committed,
	.ckpt_add_stored = ixs_ckpt_add_stored,
};
