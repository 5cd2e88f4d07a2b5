/* The PostgreSQL index, node group: the tree of a version and its chunk
 * lists (index.h, section "nodes"), as index_sqlite_node.c. Names order
 * as SQLite's BINARY collation does, byte by byte (COLLATE "C"), whatever
 * the database's default collation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index_pg.h"

#define NODE_SQL                                                                                       \
	"SELECT n.id, n.version, v.ckpt, n.parent, n.mode, n.size, n.mtime, n.ctime, v.state, n.atime" \
	" FROM nodes n JOIN versions v ON v.id = n.version"

/* Runs sql expecting a row: 0 with *out the result (the caller clears it),
 * -ENOENT without a row, or the engine's error. */
static int ixp_row(struct index *ix, const char *sql, const struct ixp_args *a, PGresult **out)
{
	PGresult *r = ixp_run(ix, sql, a);

	*out = NULL;
	if (!r)
		return ixp_err(ix);
	if (PQntuples(r) == 0) {
		PQclear(r);
		return -ENOENT;
	}
	*out = r;
	return 0;
}

/* ixp_row of a statement whose only parameter $1 is a row id. */
static int ixp_row_id(struct index *ix, const char *sql, int64_t id, PGresult **out)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	return ixp_row(ix, sql, &a, out);
}

/* The first row of a NODE_SQL statement as a node. */
static int ixp_node_read(struct index *ix, const char *sql, const struct ixp_args *a,
			 struct index_node *out)
{
	PGresult *r;
	int rc = ixp_row(ix, sql, a, &r);

	if (rc < 0)
		return rc;
	out->id = ixp_i64(r, 0, 0);
	out->version = ixp_i64(r, 0, 1);
	out->ckpt = ixp_i64(r, 0, 2);
	out->parent = ixp_i64(r, 0, 3);
	out->mode = (uint32_t)ixp_i64(r, 0, 4);
	out->size = (uint64_t)ixp_i64(r, 0, 5);
	out->mtime_ns = ixp_i64(r, 0, 6);
	out->ctime_ns = ixp_i64(r, 0, 7);
	out->vstate = (int)ixp_i64(r, 0, 8);
	out->has_atime = !ixp_isnull(r, 0, 9);
	out->atime_ns = out->has_atime ? ixp_i64(r, 0, 9) : 0;
	PQclear(r);
	return 0;
}

/* The node a NODE_SQL statement with one key ($1) selects. */
static int ixp_node_by(struct index *ix, const char *sql, int64_t key, struct index_node *out)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, key);
	return ixp_node_read(ix, sql, &a, out);
}

static int ixp_node_get(struct index *ix, int64_t id, struct index_node *out)
{
	return ixp_node_by(ix, NODE_SQL " WHERE n.id=$1", id, out);
}

static int ixp_node_root(struct index *ix, int64_t version, struct index_node *out)
{
	return ixp_node_by(ix, NODE_SQL " WHERE n.version=$1 AND n.parent=0", version, out);
}

static int ixp_node_lookup(struct index *ix, int64_t parent, const char *name,
			   struct index_node *out)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, parent);
	ixp_arg_text(&a, name);
	return ixp_node_read(ix, NODE_SQL " WHERE n.parent=$1 AND n.name=$2", &a, out);
}

static int ixp_node_children(struct index *ix, int64_t dir,
			     int (*cb)(void *ctx, const struct store_dirent *e), void *ctx)
{
	struct ixp_args a = { 0 };
	PGresult *r;
	int rc = 0;

	ixp_arg_i64(&a, dir);
	r = ixp_run(ix,
		    "SELECT id, mode, name FROM nodes WHERE parent=$1 ORDER BY name COLLATE \"C\"",
		    &a);
	if (!r)
		return ixp_err(ix);
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct store_dirent e = {
			.id = ixp_i64(r, i, 0),
			.mode = (uint32_t)ixp_i64(r, i, 1),
			.name = (char *)ixp_text(r, i, 2),
		};

		rc = cb(ctx, &e);
	}
	PQclear(r);
	return rc;
}

static int ixp_node_has_children(struct index *ix, int64_t id, bool *yes)
{
	struct ixp_args a = { 0 };
	int64_t one;
	int rc;

	ixp_arg_i64(&a, id);
	rc = ixp_query_i64(ix, "SELECT 1 FROM nodes WHERE parent=$1 LIMIT 1", &a, &one);
	*yes = rc == 0;
	return rc == -ENOENT ? 0 : rc;
}

/* One row's integer and text columns for id (sql: a literal selecting
 * them by $1); *text malloc'd, NULL for NULL. */
static int ixp_int_text(struct index *ix, const char *sql, int64_t id, int64_t *num, char **text)
{
	PGresult *r;
	const char *t;
	int rc;

	*text = NULL;
	rc = ixp_row_id(ix, sql, id, &r);
	if (rc < 0)
		return rc;
	*num = ixp_i64(r, 0, 0);
	t = ixp_text(r, 0, 1);
	if (t && !(*text = strdup(t)))
		rc = -ENOMEM;
	PQclear(r);
	return rc;
}

static int ixp_node_name(struct index *ix, int64_t id, int64_t *parent, char **name)
{
	return ixp_int_text(ix, "SELECT parent, name FROM nodes WHERE id=$1", id, parent, name);
}

static int ixp_node_target(struct index *ix, int64_t id, uint32_t *mode, char **target)
{
	int64_t m = 0;
	int rc = ixp_int_text(ix, "SELECT mode, target FROM nodes WHERE id=$1", id, &m, target);

	*mode = (uint32_t)m;
	return rc;
}

static int ixp_node_chunks(struct index *ix, int64_t id, struct chunk_ref **refs, size_t *n,
			   uint64_t *size)
{
	PGresult *r;
	uint8_t *blob = NULL;
	size_t len = 0;
	int rc;

	*refs = NULL;
	*n = 0;
	rc = ixp_row_id(ix, "SELECT size, chunks FROM nodes WHERE id=$1", id, &r);
	if (rc < 0)
		return rc;
	if (size)
		*size = (uint64_t)ixp_i64(r, 0, 0);
	rc = ixp_blob(r, 0, 1, &blob, &len);
	PQclear(r);
	if (rc == 0 && len > 0)
		rc = chunk_refs_decode(blob, len, refs, n);
	free(blob);
	return rc;
}

static int ixp_node_successor(struct index *ix, int64_t origin, int64_t ckpt, int64_t *next)
{
	struct ixp_args a = { 0 };
	int64_t id;
	int rc;

	ixp_arg_i64(&a, origin);
	ixp_arg_i64(&a, ckpt);
	rc = ixp_query_i64(ix,
			   "SELECT n.id FROM nodes n JOIN versions v ON v.id = n.version"
			   " WHERE n.origin=$1 AND v.ckpt=$2 ORDER BY n.id DESC LIMIT 1",
			   &a, &id);
	if (rc == 0)
		*next = id;
	return rc;
}

/* ---- changes ---- */

static int ixp_node_insert(struct index *ix, const struct index_node *n, const char *name,
			   const char *target, int64_t *id)
{
	struct ixp_args a = { 0 };
	int64_t v;
	int rc;

	ixp_arg_i64(&a, n->version);
	ixp_arg_i64(&a, n->parent);
	ixp_arg_text(&a, name);
	ixp_arg_i64(&a, n->mode);
	ixp_arg_i64(&a, (int64_t)n->size);
	ixp_arg_i64(&a, n->mtime_ns);
	ixp_arg_i64(&a, n->ctime_ns);
	ixp_arg_text(&a, target); /* NULL is SQL NULL */
	/* a taken name returns no row: no failed statement to abort the
	 * transaction, no savepoint round trips on every create */
	rc = ixp_query_i64(
		ix,
		"INSERT INTO nodes(version, parent, name, mode, size, mtime, ctime, target)"
		" VALUES($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING RETURNING id",
		&a, &v);
	if (rc == 0)
		*id = v;
	return rc == -ENOENT ? -EEXIST : rc;
}

static int ixp_node_delete(struct index *ix, int64_t id)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	return ixp_do_changed(ix, "DELETE FROM nodes WHERE id=$1", &a, ENOENT);
}

static int ixp_node_touch(struct index *ix, int64_t id, int64_t now_ns)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	ixp_arg_i64(&a, now_ns);
	return ixp_do_changed(ix, "UPDATE nodes SET mtime=$2, ctime=$2 WHERE id=$1", &a, ENOENT);
}

static int ixp_node_move(struct index *ix, int64_t id, int64_t parent, const char *name,
			 int64_t now_ns)
{
	struct ixp_args a = { 0 };
	int rc;

	ixp_arg_i64(&a, id);
	ixp_arg_i64(&a, parent);
	ixp_arg_text(&a, name);
	ixp_arg_i64(&a, now_ns);
	rc = ixp_guard(ix); /* a taken name is -EEXIST */
	if (rc == 0)
		rc = ixp_do_changed(ix, "UPDATE nodes SET parent=$2, name=$3, ctime=$4 WHERE id=$1",
				    &a, ENOENT);
	return ixp_unguard(ix, rc);
}

static int ixp_node_set_attrs(struct index *ix, int64_t id, const struct index_node_attrs *at)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	ixp_arg_bool(&a, at->set_mode);
	ixp_arg_i64(&a, at->mode & 07777);
	ixp_arg_bool(&a, at->set_mtime);
	ixp_arg_i64(&a, at->mtime_ns);
	ixp_arg_i64(&a, at->now_ns);
	ixp_arg_bool(&a, at->set_atime);
	ixp_arg_i64(&a, at->atime_ns);
	ixp_arg_i64(&a, at->shown_atime_ns);
	/* atime NULL follows mtime: a new mtime alone pins the old one */
	return ixp_do_changed(
		ix,
		"UPDATE nodes SET mode = CASE WHEN $2::boolean THEN (mode & ~4095) | $3"
		" ELSE mode END, mtime = CASE WHEN $4::boolean THEN $5 ELSE mtime END,"
		" ctime=$6, atime = CASE WHEN $7::boolean THEN $8"
		" WHEN $4::boolean THEN COALESCE(atime, $9) ELSE atime END WHERE id=$1",
		&a, ENOENT);
}

static int ixp_node_set_chunks(struct index *ix, int64_t id, const struct chunk_ref *refs, size_t n,
			       uint64_t size, int64_t mtime_ns)
{
	struct ixp_args a = { 0 };
	uint8_t *blob = malloc(n * CHUNK_REF_WIRE + 1); /* an empty list is an empty bytea */
	int rc;

	if (!blob)
		return -ENOMEM;
	chunk_refs_encode(refs, n, blob);
	ixp_arg_i64(&a, id);
	ixp_arg_i64(&a, (int64_t)size);
	ixp_arg_blob(&a, blob, n * CHUNK_REF_WIRE);
	ixp_arg_i64(&a, mtime_ns);
	rc = ixp_do_changed(ix, "UPDATE nodes SET size=$2, chunks=$3, mtime=$4 WHERE id=$1", &a,
			    ENOENT);
	free(blob);
	return rc;
}

/* ---- checkpoint rows the tree changes touch ---- */

static int ixp_ckpt_head_version(struct index *ix, int64_t ckpt, int *state, int64_t *version)
{
	PGresult *r;
	int rc = ixp_row_id(ix,
			    "SELECT state, CASE WHEN staging_version != 0 THEN staging_version"
			    " ELSE committed_version END FROM checkpoints WHERE id=$1",
			    ckpt, &r);

	if (rc < 0)
		return rc;
	*state = (int)ixp_i64(r, 0, 0);
	*version = ixp_i64(r, 0, 1);
	PQclear(r);
	return 0;
}

static int ixp_ckpt_withdraw_if_committed(struct index *ix, int64_t ckpt, bool *done)
{
	struct ixp_args a = { 0 };
	int rc;

	*done = false;
	ixp_arg_i64(&a, ckpt);
	rc = ixp_do_changed(
		ix, "UPDATE checkpoints SET withdrawn=1 WHERE id=$1 AND state=1 AND withdrawn=0",
		&a, ENOENT);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	*done = true;
	/* eligible mirrors "committed and not withdrawn" (metrics_best) */
	return ixp_do(ix, "UPDATE metrics SET eligible=0 WHERE ckpt=$1", &a, NULL);
}

static int ixp_ckpt_add_stored(struct index *ix, int64_t ckpt, uint64_t bytes)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, ckpt);
	ixp_arg_i64(&a, (int64_t)bytes);
	return ixp_do_changed(ix,
			      "UPDATE checkpoints SET stored_bytes = stored_bytes + $2 WHERE id=$1",
			      &a, ENOENT);
}

const struct index_node_ops ixp_node_ops = {
	.node_get = ixp_node_get,
	.node_root = ixp_node_root,
	.node_lookup = ixp_node_lookup,
	.node_children = ixp_node_children,
	.node_has_children = ixp_node_has_children,
	.node_name = ixp_node_name,
	.node_target = ixp_node_target,
	.node_chunks = ixp_node_chunks,
	.node_successor = ixp_node_successor,
	.node_insert = ixp_node_insert,
	.node_delete = ixp_node_delete,
	.node_touch = ixp_node_touch,
	.node_move = ixp_node_move,
	.node_set_attrs = ixp_node_set_attrs,
	.node_set_chunks = ixp_node_set_chunks,
	.ckpt_head_version = ixp_ckpt_head_version,
	.ckpt_withdraw_if_committed = ixp_ckpt_withdraw_if_committed,
	.ckpt_add_stored = ixp_ckpt_add_stored,
};
