/* The PostgreSQL index, ckpt group: checkpoints, versions, metrics
 * (index.h, section "checkpoints and versions, metrics"), the port of
 * index_sqlite_ckpt.c with the same semantics. Row mechanics only; what to
 * do when is decided in store_ckpt.c. Names sort as SQLite's BINARY
 * collation does (COLLATE "C"), whatever the database's collation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "index_pg.h"
#include "meta.h"
#include "store.h"

#define CKPT_COLS                                                                             \
	"id, name, kind, state, step, epoch, commit_seq, created_at, committed_at, ended_at," \
	" pinned, withdrawn, version, committed_version, staging_version, logical_bytes,"     \
	" stored_bytes, note, deleted_rule"

/* Runs sql expecting at most one row: 0 with *r holding it (the caller
 * PQclears it), -ENOENT when none, else negative errno. */
static int run_one(struct index *ix, const char *sql, const struct ixp_args *a, PGresult **r)
{
	*r = ixp_run(ix, sql, a);
	if (!*r)
		return ixp_err(ix);
	if (PQntuples(*r) > 0)
		return 0;
	PQclear(*r);
	*r = NULL;
	return -ENOENT;
}

/* run_one with $1 = id. */
static int run_id(struct index *ix, const char *sql, int64_t id, PGresult **r)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	return run_one(ix, sql, &a, r);
}

/* Runs an INSERT ... RETURNING id and hands out the new row's id (id may
 * be NULL). */
static int insert_id(struct index *ix, const char *sql, const struct ixp_args *a, int64_t *id)
{
	int64_t v;
	int rc = ixp_query_i64(ix, sql, a, &v);

	if (rc == -ENOENT)
		rc = -EIO; /* RETURNING always has its row */
	if (rc == 0 && id)
		*id = v;
	return rc;
}

/* ixp_do_changed (id NULL) or insert_id for a statement that may break the
 * unique live name, under ixp_guard. */
static int do_unique(struct index *ix, const char *sql, const struct ixp_args *a, int64_t *id)
{
	int rc = ixp_guard(ix);

	if (rc == 0)
		rc = id ? insert_id(ix, sql, a, id) : ixp_do_changed(ix, sql, a, ENOENT);
	return ixp_unguard(ix, rc);
}

/* ixp_do_changed with $1 = x and, when the statement has a $2, $2 = y. */
static int do_ids(struct index *ix, const char *sql, int64_t x, int64_t y, bool must_change)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, x);
	if (strstr(sql, "$2"))
		ixp_arg_i64(&a, y);
	return ixp_do_changed(ix, sql, &a, must_change ? ENOENT : 0);
}

/* An aggregate's value (its one row always exists). */
static int aggregate(struct index *ix, const char *sql, const struct ixp_args *a, int64_t *v)
{
	int rc = ixp_query_i64(ix, sql, a, v);

	return rc == -ENOENT ? -EIO : rc;
}

static int dup_col(const PGresult *r, int row, int col, char **out)
{
	const char *t = ixp_text(r, row, col);

	*out = NULL;
	if (!t)
		return 0;
	*out = strdup(t);
	return *out ? 0 : -ENOMEM;
}

/* ---- checkpoints: lookups ---- */

/* Fills ci from row i of a CKPT_COLS result. */
static int info_from_row(const PGresult *r, int i, struct ckpt_info *ci)
{
	int rc;

	memset(ci, 0, sizeof(*ci));
	ci->id = ixp_i64(r, i, 0);
	ci->kind = (int)ixp_i64(r, i, 2);
	ci->state = (int)ixp_i64(r, i, 3);
	ci->has_step = !ixp_isnull(r, i, 4);
	ci->step = ixp_i64(r, i, 4);
	ci->has_epoch = !ixp_isnull(r, i, 5);
	ci->epoch = ixp_f64(r, i, 5);
	ci->commit_seq = ixp_i64(r, i, 6);
	ci->created_at = ixp_i64(r, i, 7);
	ci->committed_at = ixp_i64(r, i, 8);
	ci->ended_at = ixp_i64(r, i, 9);
	ci->pinned = ixp_i64(r, i, 10) != 0;
	ci->withdrawn = ixp_i64(r, i, 11) != 0;
	ci->version = ixp_i64(r, i, 12);
	ci->committed_version = ixp_i64(r, i, 13);
	ci->staging_version = ixp_i64(r, i, 14);
	ci->logical_bytes = (uint64_t)ixp_i64(r, i, 15);
	ci->stored_bytes = (uint64_t)ixp_i64(r, i, 16);
	rc = dup_col(r, i, 1, &ci->name);
	if (rc == 0)
		rc = dup_col(r, i, 17, &ci->note);
	if (rc == 0)
		rc = dup_col(r, i, 18, &ci->deleted_rule);
	if (rc < 0)
		ckpt_info_release(ci);
	return rc;
}

/* The one CKPT_COLS row of sql into out. */
static int info_one(struct index *ix, const char *sql, const struct ixp_args *a,
		    struct ckpt_info *out)
{
	PGresult *r;
	int rc = run_one(ix, sql, a, &r);

	if (rc < 0)
		return rc;
	rc = info_from_row(r, 0, out);
	PQclear(r);
	return rc;
}

static int ixp_ckpt_get(struct index *ix, int64_t id, struct ckpt_info *out)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	return info_one(ix, "SELECT " CKPT_COLS " FROM checkpoints WHERE id=$1", &a, out);
}

static int ixp_ckpt_get_live(struct index *ix, const char *name, struct ckpt_info *out)
{
	struct ixp_args a = { 0 };

	ixp_arg_text(&a, name);
	return info_one(ix,
			"SELECT " CKPT_COLS " FROM checkpoints WHERE name=$1 AND state IN (0,1)",
			&a, out);
}

static int ixp_ckpt_get_aborted(struct index *ix, const char *name, int64_t rank,
				struct ckpt_info *out)
{
	struct ixp_args a = { 0 };

	ixp_arg_text(&a, name);
	ixp_arg_i64(&a, rank - 1);
	/* a negative OFFSET is 0 in SQLite, an error in PostgreSQL */
	return info_one(ix,
			"SELECT " CKPT_COLS " FROM checkpoints WHERE state=2 AND name=$1"
			" ORDER BY ended_at DESC, id DESC LIMIT 1 OFFSET GREATEST($2::bigint, 0)",
			&a, out);
}

static int ixp_ckpt_aborted_rank(struct index *ix, const char *name, int64_t ended_at, int64_t id,
				 int64_t *rank)
{
	struct ixp_args a = { 0 };
	int64_t n;
	int rc;

	ixp_arg_text(&a, name);
	ixp_arg_i64(&a, ended_at);
	ixp_arg_i64(&a, id);
	rc = aggregate(ix,
		       "SELECT count(*) FROM checkpoints WHERE state=2 AND name=$1"
		       " AND (ended_at > $2 OR (ended_at = $2 AND id > $3))",
		       &a, &n);
	if (rc == 0)
		*rank = n + 1;
	return rc;
}

static int ixp_ckpt_row(struct index *ix, int64_t id, struct index_ckpt_row *row)
{
	PGresult *r;
	int rc = run_id(ix,
			"SELECT state, committed_version, staging_version, kind, version,"
			" withdrawn FROM checkpoints WHERE id=$1",
			id, &r);

	if (rc < 0)
		return rc;
	row->state = (int)ixp_i64(r, 0, 0);
	row->committed = ixp_i64(r, 0, 1);
	row->staging = ixp_i64(r, 0, 2);
	row->kind = (int)ixp_i64(r, 0, 3);
	row->version = ixp_i64(r, 0, 4);
	row->withdrawn = ixp_i64(r, 0, 5) != 0;
	PQclear(r);
	return 0;
}

static int ixp_ckpt_live_id(struct index *ix, const char *name, int64_t *id)
{
	struct ixp_args a = { 0 };
	int64_t v;
	int rc;

	ixp_arg_text(&a, name);
	rc = ixp_query_i64(ix, "SELECT id FROM checkpoints WHERE name=$1 AND state IN (0,1)", &a,
			   &v);
	if (rc == 0)
		*id = v;
	return rc;
}

static int ixp_ckpt_name(struct index *ix, int64_t id, char **out)
{
	PGresult *r;
	int rc;

	*out = NULL;
	rc = run_id(ix, "SELECT name FROM checkpoints WHERE id=$1", id, &r);
	if (rc < 0)
		return rc;
	rc = dup_col(r, 0, 0, out);
	PQclear(r);
	return rc;
}

/* Hands each row of sql (CKPT_COLS, no parameters) to cb. */
static int ckpt_rows(struct index *ix, const char *sql, index_ckpt_cb cb, void *ctx)
{
	PGresult *r = ixp_run(ix, sql, NULL);
	int rc = 0;

	if (!r)
		return ixp_err(ix);
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct ckpt_info ci;

		rc = info_from_row(r, i, &ci);
		if (rc == 0)
			rc = cb(ctx, &ci);
	}
	PQclear(r);
	return rc;
}

static int ixp_ckpt_foreach(struct index *ix, bool all, index_ckpt_cb cb, void *ctx)
{
	static const char sql_live[] = "SELECT " CKPT_COLS " FROM checkpoints WHERE state IN (0,1)"
				       " ORDER BY (commit_seq = 0), commit_seq, created_at, id";
	static const char sql_all[] = "SELECT " CKPT_COLS " FROM checkpoints"
				      " ORDER BY (commit_seq = 0), commit_seq, created_at, id";

	return ckpt_rows(ix, all ? sql_all : sql_live, cb, ctx);
}

static int ixp_ckpt_set_state(struct index *ix, int64_t id, int state, int64_t now,
			      const char *rule)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	ixp_arg_i64(&a, state);
	ixp_arg_i64(&a, now);
	ixp_arg_text(&a, rule);
	return ixp_do_changed(ix,
			      "UPDATE checkpoints SET state=$2, ended_at=$3, deleted_rule=$4,"
			      " staging_version=0, version=committed_version WHERE id=$1",
			      &a, ENOENT);
}

static int ixp_ckpt_insert_copy(struct index *ix, int64_t src, int64_t version, int state,
				int64_t now, const char *rule, int64_t *id)
{
	struct ixp_args a = { 0 };
	int rc;

	ixp_arg_i64(&a, src);
	ixp_arg_i64(&a, version);
	ixp_arg_i64(&a, state);
	ixp_arg_i64(&a, now);
	ixp_arg_text(&a, rule);
	rc = ixp_query_i64(
		ix,
		"INSERT INTO checkpoints(name, kind, state, step, epoch, commit_seq, created_at,"
		" committed_at, ended_at, pinned, version, committed_version, logical_bytes,"
		" stored_bytes, note, deleted_rule) SELECT name, kind, $3, step, epoch, commit_seq,"
		" created_at, committed_at, $4, pinned, $2, $2, logical_bytes, stored_bytes, note,"
		" $5::text FROM checkpoints WHERE id=$1 RETURNING id",
		&a, id);
	if (rc == 0)
		rc = do_ids(ix,
			    "INSERT INTO metrics(ckpt, name, value, source, eligible)"
			    " SELECT $2, name, value, source, 0 FROM metrics WHERE ckpt=$1",
			    src, *id, false);
	return rc;
}

static int ixp_ckpt_trashed(struct index *ix, index_ckpt_cb cb, void *ctx)
{
	return ckpt_rows(
		ix, "SELECT " CKPT_COLS " FROM checkpoints WHERE state=4 ORDER BY ended_at, id", cb,
		ctx);
}

/* Runs a resolution query (id, committed_version; at most one row). */
static int resolve_row(struct index *ix, const char *sql, const struct ixp_args *a, int64_t *id,
		       int64_t *version)
{
	PGresult *r;
	int rc = run_one(ix, sql, a, &r);

	if (rc < 0)
		return rc;
	if (id)
		*id = ixp_i64(r, 0, 0);
	if (version)
		*version = ixp_i64(r, 0, 1);
	PQclear(r);
	return 0;
}

static int ixp_ckpt_latest(struct index *ix, int64_t *id, int64_t *committed_version)
{
	return resolve_row(ix,
			   "SELECT id, committed_version FROM checkpoints WHERE state=1 AND"
			   " withdrawn=0 ORDER BY commit_seq DESC LIMIT 1",
			   NULL, id, committed_version);
}

static int ixp_ckpt_best(struct index *ix, const char *metric, int dir, int64_t *id,
			 int64_t *committed_version)
{
	/* ties: lower step (none last), then earlier commit — retain_cmp_best's order */
	static const char sql_min[] =
		"SELECT c.id, c.committed_version FROM metrics m JOIN checkpoints c ON c.id = m.ckpt"
		" WHERE m.name=$1 AND m.eligible=1 AND c.state=1 AND c.withdrawn=0"
		" ORDER BY m.value ASC, (c.step IS NULL), c.step, c.commit_seq LIMIT 1";
	static const char sql_max[] =
		"SELECT c.id, c.committed_version FROM metrics m JOIN checkpoints c ON c.id = m.ckpt"
		" WHERE m.name=$1 AND m.eligible=1 AND c.state=1 AND c.withdrawn=0"
		" ORDER BY m.value DESC, (c.step IS NULL), c.step, c.commit_seq LIMIT 1";
	struct ixp_args a = { 0 };

	ixp_arg_text(&a, metric);
	return resolve_row(ix, dir < 0 ? sql_min : sql_max, &a, id, committed_version);
}

/* ---- checkpoints: row changes ---- */

static int ixp_ckpt_insert(struct index *ix, const char *name, int kind, int64_t now, int64_t *id)
{
	struct ixp_args a = { 0 };
	int64_t v = 0;
	int rc;

	ixp_arg_text(&a, name);
	ixp_arg_i64(&a, kind);
	ixp_arg_i64(&a, now);
	rc = do_unique(ix,
		       "INSERT INTO checkpoints(name, kind, state, created_at)"
		       " VALUES($1,$2,0,$3) RETURNING id",
		       &a, &v);
	if (rc == 0 && id)
		*id = v;
	return rc;
}

static int ixp_ckpt_insert_aborted(struct index *ix, const char *name, int kind, int64_t now,
				   const char *note, int64_t version, int64_t *id)
{
	struct ixp_args a = { 0 };

	ixp_arg_text(&a, name);
	ixp_arg_i64(&a, kind);
	ixp_arg_i64(&a, now);
	ixp_arg_text(&a, note);
	ixp_arg_i64(&a, version);
	return insert_id(ix,
			 "INSERT INTO checkpoints(name, kind, state, created_at, ended_at, note,"
			 " version) VALUES($1,$2,2,$3,$3,$4,$5) RETURNING id",
			 &a, id);
}

static int ixp_ckpt_set_versions(struct index *ix, int64_t id, int64_t version, int64_t staging)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	ixp_arg_i64(&a, version);
	ixp_arg_i64(&a, staging);
	return ixp_do_changed(ix,
			      "UPDATE checkpoints SET version=$2, staging_version=$3 WHERE id=$1",
			      &a, ENOENT);
}

static int ixp_ckpt_set_aborted(struct index *ix, int64_t id, int64_t now, const char *note,
				int64_t version)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	ixp_arg_i64(&a, now);
	ixp_arg_text(&a, note);
	ixp_arg_i64(&a, version);
	return ixp_do_changed(ix,
			      "UPDATE checkpoints SET state=2, ended_at=$2, note=$3,"
			      " version=$4, staging_version=0 WHERE id=$1",
			      &a, ENOENT);
}

static int ixp_ckpt_set_deleted(struct index *ix, int64_t id, int64_t now, const char *rule)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	ixp_arg_i64(&a, now);
	ixp_arg_text(&a, rule);
	return ixp_do_changed(ix,
			      "UPDATE checkpoints SET state=3, ended_at=$2, deleted_rule=$3,"
			      " staging_version=0 WHERE id=$1",
			      &a, ENOENT);
}

static int ixp_ckpt_set_committed(struct index *ix, int64_t id, const struct index_commit *c)
{
	static const char sql[] =
		"UPDATE checkpoints SET state=1, withdrawn=0,"
		" commit_seq=(SELECT COALESCE(max(commit_seq), 0) + 1 FROM checkpoints),"
		" committed_at=$2, version=$3, committed_version=$3,"
		" staging_version=0, step=$4, epoch=$5, logical_bytes=$6, note=$7,"
		" name=COALESCE($8, name), ended_at=0 WHERE id=$1";
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	ixp_arg_i64(&a, c->now);
	ixp_arg_i64(&a, c->version);
	if (c->has_step)
		ixp_arg_i64(&a, c->step);
	else
		ixp_arg_null(&a);
	if (c->has_epoch)
		ixp_arg_f64(&a, c->epoch);
	else
		ixp_arg_null(&a);
	ixp_arg_i64(&a, (int64_t)c->logical);
	ixp_arg_text(&a, c->note);
	ixp_arg_text(&a, c->new_name);
	/* only a new name can meet another live one */
	return c->new_name ? do_unique(ix, sql, &a, NULL) : ixp_do_changed(ix, sql, &a, ENOENT);
}

static int ixp_ckpt_rename(struct index *ix, int64_t id, const char *name)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	ixp_arg_text(&a, name);
	return do_unique(ix, "UPDATE checkpoints SET name=$2 WHERE id=$1", &a, NULL);
}

static int ixp_ckpt_set_withdrawn(struct index *ix, int64_t id)
{
	return do_ids(ix, "UPDATE checkpoints SET withdrawn=1 WHERE id=$1", id, 0, true);
}

static int ixp_ckpt_set_step(struct index *ix, int64_t id, int64_t step)
{
	return do_ids(ix, "UPDATE checkpoints SET step=$2 WHERE id=$1", id, step, true);
}

static int ixp_ckpt_set_epoch(struct index *ix, int64_t id, double epoch)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, id);
	ixp_arg_f64(&a, epoch);
	return ixp_do_changed(ix, "UPDATE checkpoints SET epoch=$2 WHERE id=$1", &a, ENOENT);
}

static int ixp_ckpt_set_pinned(struct index *ix, int64_t id, bool pinned)
{
	return do_ids(ix, "UPDATE checkpoints SET pinned=$2 WHERE id=$1", id, pinned ? 1 : 0, true);
}

/* ---- versions ---- */

static int ixp_version_insert(struct index *ix, int64_t ckpt, int64_t now, int64_t *id)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, ckpt);
	ixp_arg_i64(&a, now);
	return insert_id(ix,
			 "INSERT INTO versions(ckpt, state, created_at) VALUES($1, 0, $2)"
			 " RETURNING id",
			 &a, id);
}

static int ixp_version_create_root(struct index *ix, int64_t version, uint32_t mode, int64_t now_ns,
				   int64_t *root)
{
	struct ixp_args a = { 0 };
	int64_t rid;
	int rc;

	ixp_arg_i64(&a, version);
	ixp_arg_i64(&a, mode);
	ixp_arg_i64(&a, now_ns);
	rc = insert_id(ix,
		       "INSERT INTO nodes(version, parent, name, mode, size, mtime, ctime)"
		       " VALUES($1, 0, '', $2, 0, $3, $3) RETURNING id",
		       &a, &rid);
	if (rc == 0)
		rc = do_ids(ix, "UPDATE versions SET root=$2 WHERE id=$1", version, rid, true);
	if (rc == 0 && root)
		*root = rid;
	return rc;
}

static int ixp_version_set_state(struct index *ix, int64_t version, int state)
{
	return do_ids(ix, "UPDATE versions SET state=$2 WHERE id=$1", version, state, true);
}

static int ixp_version_move(struct index *ix, int64_t version, int state, int64_t ckpt)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, version);
	ixp_arg_i64(&a, state);
	ixp_arg_i64(&a, ckpt);
	return ixp_do_changed(ix, "UPDATE versions SET state=$2, ckpt=$3 WHERE id=$1", &a, ENOENT);
}

static int ixp_versions_of_ckpt_set_state(struct index *ix, int64_t ckpt, int state)
{
	return do_ids(ix, "UPDATE versions SET state=$2 WHERE ckpt=$1", ckpt, state, false);
}

static int ixp_version_copy_tree(struct index *ix, int64_t src, int64_t dst)
{
	/* new ids in the order of the old ones; while parents are relinked an
	 * old parent id (of src) never equals a new one, so (version, parent,
	 * name) stays unique row by row */
	int rc = do_ids(
		ix,
		"INSERT INTO nodes(version, parent, name, mode, size, mtime, ctime, chunks,"
		" target, origin, atime) SELECT $2::bigint, parent, name, mode, size, mtime,"
		" ctime, chunks, target, id, atime FROM nodes WHERE version=$1 ORDER BY id",
		src, dst, false);

	if (rc == 0)
		rc = do_ids(ix,
			    "UPDATE nodes SET parent = (SELECT n2.id FROM nodes n2 WHERE"
			    " n2.version=$1 AND n2.origin = nodes.parent) WHERE version=$1 AND"
			    " parent != 0",
			    dst, 0, false);
	if (rc == 0)
		rc = do_ids(ix,
			    "UPDATE versions SET root = (SELECT id FROM nodes WHERE version=$1"
			    " AND parent=0) WHERE id=$1",
			    dst, 0, false);
	return rc;
}

/* Rows of (id, size, chunks) of sql with $1 = version, to cb. */
static int files_foreach(struct index *ix, const char *sql, int64_t version, index_file_cb cb,
			 void *ctx)
{
	struct ixp_args a = { 0 };
	PGresult *r;
	int rc = 0;

	ixp_arg_i64(&a, version);
	r = ixp_run(ix, sql, &a);
	if (!r)
		return ixp_err(ix);
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct index_file_row row = { .id = ixp_i64(r, i, 0),
					      .size = (uint64_t)ixp_i64(r, i, 1) };
		uint8_t *blob;
		size_t len;

		rc = ixp_blob(r, i, 2, &blob, &len);
		if (rc == 0 && len > 0)
			rc = chunk_refs_decode(blob, len, &row.refs, &row.n);
		free(blob);
		if (rc == 0)
			rc = cb(ctx, &row);
		free(row.refs);
	}
	PQclear(r);
	return rc;
}

/* SQLite walks its (version, parent, name) key: by parent, then name */
static int ixp_version_chunk_lists(struct index *ix, int64_t version, index_file_cb cb, void *ctx)
{
	return files_foreach(ix,
			     "SELECT id, size, chunks FROM nodes WHERE version=$1 AND"
			     " chunks IS NOT NULL ORDER BY parent, name COLLATE \"C\"",
			     version, cb, ctx);
}

static int ixp_version_files(struct index *ix, int64_t version, index_file_cb cb, void *ctx)
{
	return files_foreach(ix,
			     "SELECT id, size, chunks FROM nodes WHERE version=$1 AND"
			     " (mode & 61440) = 32768 ORDER BY parent, name COLLATE \"C\"",
			     version, cb, ctx);
}

static int ixp_version_file_bytes(struct index *ix, int64_t version, uint64_t *bytes)
{
	struct ixp_args a = { 0 };
	int64_t v;
	int rc;

	ixp_arg_i64(&a, version);
	rc = aggregate(ix,
		       "SELECT COALESCE(sum(size), 0) FROM nodes WHERE version=$1 AND"
		       " (mode & 61440) = 32768",
		       &a, &v);
	if (rc == 0)
		*bytes = (uint64_t)v;
	return rc;
}

/* ---- metrics ---- */

/* Rows of (name, value[, source]) of sql with $1 = ckpt to cb; source
 * defaults to dflt. */
static int metrics_foreach(struct index *ix, const char *sql, int64_t ckpt, const char *dflt,
			   index_metric_cb cb, void *ctx)
{
	struct ixp_args a = { 0 };
	PGresult *r;
	int rc = 0;

	ixp_arg_i64(&a, ckpt);
	r = ixp_run(ix, sql, &a);
	if (!r)
		return ixp_err(ix);
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		const char *nm = ixp_text(r, i, 0);
		const char *src = dflt ? dflt : ixp_text(r, i, 2);
		struct metric m;

		memset(&m, 0, sizeof(m));
		snprintf(m.name, sizeof(m.name), "%s", nm ? nm : "");
		m.value = ixp_f64(r, i, 1);
		snprintf(m.source, sizeof(m.source), "%s", src ? src : "");
		rc = cb(ctx, &m);
	}
	PQclear(r);
	return rc;
}

static int ixp_metric_foreach(struct index *ix, int64_t ckpt, index_metric_cb cb, void *ctx)
{
	return metrics_foreach(ix,
			       "SELECT name, value, source FROM metrics WHERE ckpt=$1"
			       " AND name NOT IN ('step','epoch') ORDER BY name COLLATE \"C\"",
			       ckpt, NULL, cb, ctx);
}

static int ixp_metric_foreach_xattr(struct index *ix, int64_t ckpt, index_metric_cb cb, void *ctx)
{
	/* SQLite walks its (ckpt, name) key: by name */
	return metrics_foreach(ix,
			       "SELECT name, value FROM metrics WHERE ckpt=$1 AND"
			       " source='xattr' ORDER BY name COLLATE \"C\"",
			       ckpt, "xattr", cb, ctx);
}

static int ixp_metric_set_xattr(struct index *ix, int64_t ckpt, const char *name, double value)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, ckpt);
	ixp_arg_text(&a, name);
	ixp_arg_f64(&a, value);
	return ixp_do_changed(ix,
			      "INSERT INTO metrics(ckpt, name, value, source, eligible)"
			      " SELECT id, $2::text, $3::double precision, 'xattr',"
			      " (state=1 AND withdrawn=0)::int FROM checkpoints WHERE id=$1"
			      " ON CONFLICT(ckpt, name) DO UPDATE SET value = excluded.value,"
			      " source = excluded.source, eligible = excluded.eligible",
			      &a, ENOENT);
}

static int ixp_metric_remove_xattr(struct index *ix, int64_t ckpt, const char *name)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, ckpt);
	ixp_arg_text(&a, name);
	return ixp_do_changed(
		ix, "DELETE FROM metrics WHERE ckpt=$1 AND name=$2 AND source='xattr'", &a, ENOENT);
}

static int ixp_metric_clear_derived(struct index *ix, int64_t ckpt)
{
	return do_ids(ix, "DELETE FROM metrics WHERE ckpt=$1 AND source != 'xattr'", ckpt, 0,
		      false);
}

static int ixp_metric_add(struct index *ix, int64_t ckpt, const struct metric *m)
{
	struct ixp_args a = { 0 };

	ixp_arg_i64(&a, ckpt);
	ixp_arg_text(&a, m->name);
	ixp_arg_f64(&a, m->value);
	ixp_arg_text(&a, m->source);
	return ixp_do(ix,
		      "INSERT INTO metrics(ckpt, name, value, source) VALUES($1,$2,$3,$4)"
		      " ON CONFLICT(ckpt, name) DO NOTHING",
		      &a, NULL);
}

static int ixp_metric_update_eligible(struct index *ix, int64_t ckpt)
{
	return do_ids(ix,
		      "UPDATE metrics SET eligible = (SELECT (state=1 AND withdrawn=0)::int FROM"
		      " checkpoints WHERE id=$1) WHERE ckpt=$1",
		      ckpt, 0, false);
}

static int ixp_metric_names(struct index *ix, index_name_cb cb, void *ctx)
{
	PGresult *r = ixp_run(ix,
			      "SELECT name FROM metrics WHERE eligible=1"
			      " AND name NOT IN ('step','epoch') GROUP BY name"
			      " ORDER BY name COLLATE \"C\"",
			      NULL);
	int rc = 0;

	if (!r)
		return ixp_err(ix);
	for (int i = 0; i < PQntuples(r) && !rc; i++)
		rc = cb(ctx, ixp_text(r, i, 0));
	PQclear(r);
	return rc;
}

const struct index_ckpt_ops ixp_ckpt_ops = {
	.ckpt_get = ixp_ckpt_get,
	.ckpt_get_live = ixp_ckpt_get_live,
	.ckpt_get_aborted = ixp_ckpt_get_aborted,
	.ckpt_aborted_rank = ixp_ckpt_aborted_rank,
	.ckpt_row = ixp_ckpt_row,
	.ckpt_live_id = ixp_ckpt_live_id,
	.ckpt_name = ixp_ckpt_name,
	.ckpt_foreach = ixp_ckpt_foreach,
	.ckpt_set_state = ixp_ckpt_set_state,
	.ckpt_insert_copy = ixp_ckpt_insert_copy,
	.ckpt_trashed = ixp_ckpt_trashed,
	.ckpt_latest = ixp_ckpt_latest,
	.ckpt_best = ixp_ckpt_best,
	.ckpt_insert = ixp_ckpt_insert,
	.ckpt_insert_aborted = ixp_ckpt_insert_aborted,
	.ckpt_set_versions = ixp_ckpt_set_versions,
	.ckpt_set_aborted = ixp_ckpt_set_aborted,
	.ckpt_set_deleted = ixp_ckpt_set_deleted,
	.ckpt_set_committed = ixp_ckpt_set_committed,
	.ckpt_rename = ixp_ckpt_rename,
	.ckpt_set_withdrawn = ixp_ckpt_set_withdrawn,
	.ckpt_set_step = ixp_ckpt_set_step,
	.ckpt_set_epoch = ixp_ckpt_set_epoch,
	.ckpt_set_pinned = ixp_ckpt_set_pinned,
	.version_insert = ixp_version_insert,
	.version_create_root = ixp_version_create_root,
	.version_set_state = ixp_version_set_state,
	.version_move = ixp_version_move,
	.versions_of_ckpt_set_state = ixp_versions_of_ckpt_set_state,
	.version_copy_tree = ixp_version_copy_tree,
	.version_chunk_lists = ixp_version_chunk_lists,
	.version_files = ixp_version_files,
	.version_file_bytes = ixp_version_file_bytes,
	.metric_foreach = ixp_metric_foreach,
	.metric_foreach_xattr = ixp_metric_foreach_xattr,
	.metric_set_xattr = ixp_metric_set_xattr,
	.metric_remove_xattr = ixp_metric_remove_xattr,
	.metric_clear_derived = ixp_metric_clear_derived,
	.metric_add = ixp_metric_add,
	.metric_update_eligible = ixp_metric_update_eligible,
	.metric_names = ixp_metric_names,
};
