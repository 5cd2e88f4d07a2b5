/* The SQLite index: checkpoints, versions, metrics (index.h, section
 * "checkpoints and versions, metrics"). Row mechanics only; what to do when
 * is decided in store_ckpt.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "chunk.h"
#include "index_sqlite.h"
#include "meta.h"
#include "store.h"

#define CKPT_COLS                                                                             \
	"id, name, kind, state, step, epoch, commit_seq, created_at, committed_at, ended_at," \
	" pinned, withdrawn, version, committed_version, staging_version, logical_bytes,"     \
	" stored_bytes, note, deleted_rule"

/* Steps q expecting at most one row: 0 on a row (q stays on it), -ENOENT
 * when none, else the engine's error (q reset). */
static int step_one(struct index *ix, sqlite3_stmt *q)
{
	int s = sqlite3_step(q);

	if (s == SQLITE_ROW)
		return 0;
	s = s == SQLITE_DONE ? -ENOENT : ix_err(ix);
	sqlite3_reset(q);
	return s;
}

/* step_one for an aggregate, which always has its row. */
static int step_aggregate(struct index *ix, sqlite3_stmt *q)
{
	int rc = step_one(ix, q);

	return rc == -ENOENT ? -EIO : rc;
}

/* The end of an iteration over q: the callback's stop value, else 0 when q
 * ran to its end, else the engine's error. Resets q. */
static int step_end(struct index *ix, sqlite3_stmt *q, int s, int cbrc)
{
	int rc = cbrc ? cbrc : s == SQLITE_DONE ? 0 : ix_err(ix);

	sqlite3_reset(q);
	return rc;
}

/* Statement sql with its first parameter bound to id; NULL on failure
 * (then ix_err says why). */
static sqlite3_stmt *stmt_id(struct index *ix, const char *sql, int64_t id)
{
	sqlite3_stmt *q = ix_stmt(ix, sql);

	if (q)
		sqlite3_bind_int64(q, 1, id);
	return q;
}

/* Steps sql with ?1 = id to its row: 0 with *q on it (the caller resets
 * it), -ENOENT when none, else the engine's error. */
static int row_id(struct index *ix, const char *sql, int64_t id, sqlite3_stmt **q)
{
	*q = stmt_id(ix, sql, id);
	return *q ? step_one(ix, *q) : ix_err(ix);
}

/* Binds a (and b when the statement has a second parameter) and runs it. */
static int exec_ids(struct index *ix, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *q = ix_stmt(ix, sql);

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, a);
	if (sqlite3_bind_parameter_count(q) >= 2)
		sqlite3_bind_int64(q, 2, b);
	return ix_step_done(ix, q);
}

/* Runs an INSERT and hands out the new row's id. */
static int insert_id(struct index *ix, sqlite3_stmt *q, int64_t *id)
{
	int rc = ix_step_done(ix, q);

	if (rc == 0 && id)
		*id = sqlite3_last_insert_rowid(ixs_of(ix)->db);
	return rc;
}

/* 0 when the last statement changed a row, else -ENOENT. */
static int changed(struct index *ix, int rc)
{
	return rc == 0 && sqlite3_changes(ixs_of(ix)->db) == 0 ? -ENOENT : rc;
}

static int dup_col(sqlite3_stmt *q, int col, char **out)
{
	const char *t = (const char *)sqlite3_column_text(q, col);

	*out = NULL;
	if (!t)
		return 0;
	*out = strdup(t);
	return *out ? 0 : -ENOMEM;
}

/* ---- checkpoints: lookups ---- */

/* Fills ci from a row of CKPT_COLS (q stays on the row). */
static int info_from_row(sqlite3_stmt *q, struct ckpt_info *ci)
{
	int rc;

	memset(ci, 0, sizeof(*ci));
	ci->id = sqlite3_column_int64(q, 0);
	ci->kind = sqlite3_column_int(q, 2);
	ci->state = sqlite3_column_int(q, 3);
	ci->has_step = sqlite3_column_type(q, 4) != SQLITE_NULL;
	ci->step = sqlite3_column_int64(q, 4);
	ci->has_epoch = sqlite3_column_type(q, 5) != SQLITE_NULL;
	ci->epoch = sqlite3_column_double(q, 5);
	ci->commit_seq = sqlite3_column_int64(q, 6);
	ci->created_at = sqlite3_column_int64(q, 7);
	ci->committed_at = sqlite3_column_int64(q, 8);
	ci->ended_at = sqlite3_column_int64(q, 9);
	ci->pinned = sqlite3_column_int(q, 10) != 0;
	ci->withdrawn = sqlite3_column_int(q, 11) != 0;
	ci->version = sqlite3_column_int64(q, 12);
	ci->committed_version = sqlite3_column_int64(q, 13);
	ci->staging_version = sqlite3_column_int64(q, 14);
	ci->logical_bytes = (uint64_t)sqlite3_column_int64(q, 15);
	ci->stored_bytes = (uint64_t)sqlite3_column_int64(q, 16);
	rc = dup_col(q, 1, &ci->name);
	if (rc == 0)
		rc = dup_col(q, 17, &ci->note);
	if (rc == 0)
		rc = dup_col(q, 18, &ci->deleted_rule);
	if (rc < 0)
		ckpt_info_release(ci);
	return rc;
}

static int info_one(struct index *ix, sqlite3_stmt *q, struct ckpt_info *out)
{
	int rc = step_one(ix, q);

	if (rc < 0)
		return rc;
	rc = info_from_row(q, out);
	sqlite3_reset(q);
	return rc;
}

static int ixs_ckpt_get(struct index *ix, int64_t id, struct ckpt_info *out)
{
	sqlite3_stmt *q = ix_stmt(ix, "SELECT " CKPT_COLS " FROM checkpoints WHERE id=?");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, id);
	return info_one(ix, q, out);
}

static int ixs_ckpt_get_live(struct index *ix, const char *name, struct ckpt_info *out)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "SELECT " CKPT_COLS " FROM checkpoints WHERE name=? AND"
				  " state IN (0,1)");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	return info_one(ix, q, out);
}

static int ixs_ckpt_get_aborted(struct index *ix, const char *name, int64_t rank,
				struct ckpt_info *out)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "SELECT " CKPT_COLS " FROM checkpoints WHERE state=2 AND name=?"
				  " ORDER BY ended_at DESC, id DESC LIMIT 1 OFFSET ?");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, rank - 1);
	return info_one(ix, q, out);
}

static int ixs_ckpt_aborted_rank(struct index *ix, const char *name, int64_t ended_at, int64_t id,
				 int64_t *rank)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "SELECT count(*) FROM checkpoints WHERE state=2 AND name=?"
				  " AND (ended_at > ? OR (ended_at = ? AND id > ?))");
	int rc;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, ended_at);
	sqlite3_bind_int64(q, 3, ended_at);
	sqlite3_bind_int64(q, 4, id);
	rc = step_aggregate(ix, q);
	if (rc < 0)
		return rc;
	*rank = sqlite3_column_int64(q, 0) + 1;
	sqlite3_reset(q);
	return 0;
}

static int ixs_ckpt_row(struct index *ix, int64_t id, struct index_ckpt_row *r)
{
	sqlite3_stmt *q;
	int rc = row_id(ix,
			"SELECT state, committed_version, staging_version, kind, version,"
			" withdrawn FROM checkpoints WHERE id=?",
			id, &q);

	if (rc < 0)
		return rc;
	r->state = sqlite3_column_int(q, 0);
	r->committed = sqlite3_column_int64(q, 1);
	r->staging = sqlite3_column_int64(q, 2);
	r->kind = sqlite3_column_int(q, 3);
	r->version = sqlite3_column_int64(q, 4);
	r->withdrawn = sqlite3_column_int(q, 5) != 0;
	sqlite3_reset(q);
	return 0;
}

static int ixs_ckpt_live_id(struct index *ix, const char *name, int64_t *id)
{
	sqlite3_stmt *q = ix_stmt(ix, "SELECT id FROM checkpoints WHERE name=? AND state IN (0,1)");
	int rc;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	rc = step_one(ix, q);
	if (rc < 0)
		return rc;
	*id = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return 0;
}

static int ixs_ckpt_name(struct index *ix, int64_t id, char **out)
{
	sqlite3_stmt *q;
	int rc;

	*out = NULL;
	rc = row_id(ix, "SELECT name FROM checkpoints WHERE id=?", id, &q);
	if (rc < 0)
		return rc;
	rc = dup_col(q, 0, out);
	sqlite3_reset(q);
	return rc;
}

/* Hands each row of q (CKPT_COLS) to cb. */
static int ckpt_rows(struct index *ix, sqlite3_stmt *q, index_ckpt_cb cb, void *ctx)
{
	int s = SQLITE_DONE, rc = 0;

	if (!q)
		return ix_err(ix);
	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW) {
		struct ckpt_info ci;

		rc = info_from_row(q, &ci);
		if (rc == 0)
			rc = cb(ctx, &ci);
	}
	return step_end(ix, q, s, rc);
}

static int ixs_ckpt_foreach(struct index *ix, bool all, index_ckpt_cb cb, void *ctx)
{
	static const char sql_live[] = "SELECT " CKPT_COLS " FROM checkpoints WHERE state IN (0,1)"
				       " ORDER BY (commit_seq = 0), commit_seq, created_at, id";
	static const char sql_all[] = "SELECT " CKPT_COLS " FROM checkpoints"
				      " ORDER BY (commit_seq = 0), commit_seq, created_at, id";
	return ckpt_rows(ix, ix_stmt(ix, all ? sql_all : sql_live), cb, ctx);
}

/* Steps a resolution query (id, committed_version; at most one row). */
static int resolve_row(struct index *ix, sqlite3_stmt *q, int64_t *id, int64_t *version)
{
	int rc = step_one(ix, q);

	if (rc < 0)
		return rc;
	if (id)
		*id = sqlite3_column_int64(q, 0);
	if (version)
		*version = sqlite3_column_int64(q, 1);
	sqlite3_reset(q);
	return 0;
}

static int ixs_ckpt_latest(struct index *ix, int64_t *id, int64_t *committed_version)
{
	/* the partial index holds exactly the candidates; the planner would
	 * otherwise pick ckpt_state and sort */
	sqlite3_stmt *q = ix_stmt(ix,
				  "SELECT id, committed_version FROM checkpoints INDEXED BY"
				  " ckpt_latest WHERE state=1 AND withdrawn=0"
				  " ORDER BY commit_seq DESC LIMIT 1");

	if (!q)
		return ix_err(ix);
	return resolve_row(ix, q, id, committed_version);
}

static int ixs_ckpt_best(struct index *ix, const char *metric, int dir, int64_t *id,
			 int64_t *committed_version)
{
	/* ties: lower step (none last), then earlier commit — retain_cmp_best's order */
	static const char sql_min[] =
		"SELECT c.id, c.committed_version FROM metrics m JOIN checkpoints c ON c.id = m.ckpt"
		" WHERE m.name=? AND m.eligible=1 AND c.state=1 AND c.withdrawn=0"
		" ORDER BY m.value ASC, (c.step IS NULL), c.step, c.commit_seq LIMIT 1";
	static const char sql_max[] =
		"SELECT c.id, c.committed_version FROM metrics m JOIN checkpoints c ON c.id = m.ckpt"
		" WHERE m.name=? AND m.eligible=1 AND c.state=1 AND c.withdrawn=0"
		" ORDER BY m.value DESC, (c.step IS NULL), c.step, c.commit_seq LIMIT 1";
	sqlite3_stmt *q = ix_stmt(ix, dir < 0 ? sql_min : sql_max);

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, metric, -1, SQLITE_STATIC);
	return resolve_row(ix, q, id, committed_version);
}

/* ---- checkpoints: row changes ---- */

static int ixs_ckpt_insert(struct index *ix, const char *name, int kind, int64_t now, int64_t *id)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "INSERT INTO checkpoints(name, kind, state, created_at)"
				  " VALUES(?,?,0,?)");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 2, kind);
	sqlite3_bind_int64(q, 3, now);
	return insert_id(ix, q, id);
}

static int ixs_ckpt_insert_aborted(struct index *ix, const char *name, int kind, int64_t now,
				   const char *note, int64_t version, int64_t *id)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "INSERT INTO checkpoints(name, kind, state, created_at,"
				  " ended_at, note, version) VALUES(?,?,2,?,?,?,?)");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, kind);
	sqlite3_bind_int64(q, 3, now);
	sqlite3_bind_int64(q, 4, now);
	sqlite3_bind_text(q, 5, note, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, version);
	return insert_id(ix, q, id);
}

static int ixs_ckpt_set_versions(struct index *ix, int64_t id, int64_t version, int64_t staging)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "UPDATE checkpoints SET version=?2, staging_version=?3"
				  " WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, version);
	sqlite3_bind_int64(q, 3, staging);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_ckpt_set_aborted(struct index *ix, int64_t id, int64_t now, const char *note,
				int64_t version)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "UPDATE checkpoints SET state=2, ended_at=?2, note=?3,"
				  " version=?4, staging_version=0 WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_text(q, 3, note, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, version);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_ckpt_set_deleted(struct index *ix, int64_t id, int64_t now, const char *rule)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "UPDATE checkpoints SET state=3, ended_at=?2, deleted_rule=?3,"
				  " staging_version=0 WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_text(q, 3, rule, -1, SQLITE_STATIC);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_ckpt_set_state(struct index *ix, int64_t id, int state, int64_t now,
			      const char *rule)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "UPDATE checkpoints SET state=?2, ended_at=?3, deleted_rule=?4,"
				  " staging_version=0, version=committed_version WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int(q, 2, state);
	sqlite3_bind_int64(q, 3, now);
	sqlite3_bind_text(q, 4, rule, -1, SQLITE_STATIC);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_ckpt_insert_copy(struct index *ix, int64_t src, int64_t version, int state,
				int64_t now, const char *rule, int64_t *id)
{
	sqlite3_stmt *q = ix_stmt(
		ix,
		"INSERT INTO checkpoints(name, kind, state, step, epoch, commit_seq, created_at,"
		" committed_at, ended_at, pinned, version, committed_version, logical_bytes,"
		" stored_bytes, note, deleted_rule) SELECT name, kind, ?3, step, epoch, commit_seq,"
		" created_at, committed_at, ?4, pinned, ?2, ?2, logical_bytes, stored_bytes, note, ?5"
		" FROM checkpoints WHERE id=?1");
	int rc;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, src);
	sqlite3_bind_int64(q, 2, version);
	sqlite3_bind_int(q, 3, state);
	sqlite3_bind_int64(q, 4, now);
	sqlite3_bind_text(q, 5, rule, -1, SQLITE_STATIC);
	rc = changed(ix, insert_id(ix, q, id));
	if (rc == 0)
		rc = exec_ids(ix,
			      "INSERT INTO metrics(ckpt, name, value, source, eligible)"
			      " SELECT ?2, name, value, source, 0 FROM metrics WHERE ckpt=?1",
			      src, *id);
	return rc;
}

static int ixs_ckpt_trashed(struct index *ix, index_ckpt_cb cb, void *ctx)
{
	return ckpt_rows(ix,
			 ix_stmt(ix,
				 "SELECT " CKPT_COLS " FROM checkpoints WHERE state=4"
				 " ORDER BY ended_at, id"),
			 cb, ctx);
}

static int ixs_ckpt_set_committed(struct index *ix, int64_t id, const struct index_commit *c)
{
	sqlite3_stmt *q = ix_stmt(
		ix,
		"UPDATE checkpoints SET state=1, withdrawn=0,"
		" commit_seq=(SELECT coalesce(max(commit_seq),0)+1 FROM checkpoints),"
		" committed_at=?2, version=?3, committed_version=?3,"
		" staging_version=0, step=?4, epoch=?5, logical_bytes=?6, note=?7,"
		" name=coalesce(?8, name), ended_at=0 WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, c->now);
	sqlite3_bind_int64(q, 3, c->version);
	if (c->has_step)
		sqlite3_bind_int64(q, 4, c->step);
	if (c->has_epoch)
		sqlite3_bind_double(q, 5, c->epoch);
	sqlite3_bind_int64(q, 6, (sqlite3_int64)c->logical);
	if (c->note)
		sqlite3_bind_text(q, 7, c->note, -1, SQLITE_STATIC);
	if (c->new_name)
		sqlite3_bind_text(q, 8, c->new_name, -1, SQLITE_STATIC);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_ckpt_rename(struct index *ix, int64_t id, const char *name)
{
	sqlite3_stmt *q = ix_stmt(ix, "UPDATE checkpoints SET name=? WHERE id=?");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, id);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_ckpt_set_withdrawn(struct index *ix, int64_t id)
{
	return changed(ix, exec_ids(ix, "UPDATE checkpoints SET withdrawn=1 WHERE id=?", id, 0));
}

static int ixs_ckpt_set_step(struct index *ix, int64_t id, int64_t step)
{
	return changed(ix, exec_ids(ix, "UPDATE checkpoints SET step=?2 WHERE id=?1", id, step));
}

static int ixs_ckpt_set_epoch(struct index *ix, int64_t id, double epoch)
{
	sqlite3_stmt *q = ix_stmt(ix, "UPDATE checkpoints SET epoch=? WHERE id=?");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_double(q, 1, epoch);
	sqlite3_bind_int64(q, 2, id);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_ckpt_set_pinned(struct index *ix, int64_t id, bool pinned)
{
	return changed(
		ix, exec_ids(ix, "UPDATE checkpoints SET pinned=? WHERE id=?", pinned ? 1 : 0, id));
}

/* ---- versions ---- */

static int ixs_version_insert(struct index *ix, int64_t ckpt, int64_t now, int64_t *id)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "INSERT INTO versions(ckpt, state, created_at) VALUES(?, 0, ?)");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, ckpt);
	sqlite3_bind_int64(q, 2, now);
	return insert_id(ix, q, id);
}

static int ixs_version_create_root(struct index *ix, int64_t version, uint32_t mode, int64_t now_ns,
				   int64_t *root)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "INSERT INTO nodes(version, parent, name, mode, size, mtime,"
				  " ctime) VALUES(?, 0, '', ?, 0, ?, ?)");
	int64_t rid;
	int rc;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, version);
	sqlite3_bind_int64(q, 2, mode);
	sqlite3_bind_int64(q, 3, now_ns);
	sqlite3_bind_int64(q, 4, now_ns);
	rc = insert_id(ix, q, &rid);
	if (rc == 0)
		rc = changed(ix,
			     exec_ids(ix, "UPDATE versions SET root=? WHERE id=?", rid, version));
	if (rc == 0 && root)
		*root = rid;
	return rc;
}

static int ixs_version_set_state(struct index *ix, int64_t version, int state)
{
	return changed(ix,
		       exec_ids(ix, "UPDATE versions SET state=?2 WHERE id=?1", version, state));
}

static int ixs_version_move(struct index *ix, int64_t version, int state, int64_t ckpt)
{
	sqlite3_stmt *q = ix_stmt(ix, "UPDATE versions SET state=?2, ckpt=?3 WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, version);
	sqlite3_bind_int(q, 2, state);
	sqlite3_bind_int64(q, 3, ckpt);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_versions_of_ckpt_set_state(struct index *ix, int64_t ckpt, int state)
{
	return exec_ids(ix, "UPDATE versions SET state=?2 WHERE ckpt=?1", ckpt, state);
}

static int ixs_version_copy_tree(struct index *ix, int64_t src, int64_t dst)
{
	int rc;

	rc = exec_ids(ix,
		      "INSERT INTO nodes(version, parent, name, mode, size, mtime, ctime, chunks,"
		      " target, origin, atime) SELECT ?2, parent, name, mode, size, mtime, ctime,"
		      " chunks, target, id, atime FROM nodes WHERE version=?1 ORDER BY id",
		      src, dst);
	if (rc == 0)
		rc = exec_ids(ix,
			      "UPDATE nodes SET parent = (SELECT n2.id FROM nodes n2 WHERE"
			      " n2.version=?1 AND n2.origin = nodes.parent) WHERE version=?1 AND"
			      " parent != 0",
			      dst, 0);
	if (rc == 0)
		rc = exec_ids(ix,
			      "UPDATE versions SET root = (SELECT id FROM nodes WHERE version=?1"
			      " AND parent=0) WHERE id=?1",
			      dst, 0);
	return rc;
}

/* Rows of (id, size, chunks) of q, bound to a version, to cb. */
static int files_foreach(struct index *ix, sqlite3_stmt *q, index_file_cb cb, void *ctx)
{
	int s = SQLITE_DONE, rc = 0;

	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW) {
		struct index_file_row row = { .id = sqlite3_column_int64(q, 0),
					      .size = (uint64_t)sqlite3_column_int64(q, 1) };

		if (sqlite3_column_bytes(q, 2) > 0)
			rc = chunk_refs_decode(sqlite3_column_blob(q, 2),
					       (size_t)sqlite3_column_bytes(q, 2), &row.refs,
					       &row.n);
		if (rc == 0)
			rc = cb(ctx, &row);
		free(row.refs);
	}
	return step_end(ix, q, s, rc);
}

static int ixs_version_chunk_lists(struct index *ix, int64_t version, index_file_cb cb, void *ctx)
{
	sqlite3_stmt *q = stmt_id(ix,
				  "SELECT id, size, chunks FROM nodes WHERE version=? AND"
				  " chunks IS NOT NULL",
				  version);

	return q ? files_foreach(ix, q, cb, ctx) : ix_err(ix);
}

static int ixs_version_files(struct index *ix, int64_t version, index_file_cb cb, void *ctx)
{
	sqlite3_stmt *q = stmt_id(ix,
				  "SELECT id, size, chunks FROM nodes WHERE version=? AND"
				  " (mode & 61440) = 32768",
				  version);

	return q ? files_foreach(ix, q, cb, ctx) : ix_err(ix);
}

static int ixs_version_file_bytes(struct index *ix, int64_t version, uint64_t *bytes)
{
	sqlite3_stmt *q;
	int rc = row_id(ix,
			"SELECT total(size) FROM nodes WHERE version=? AND"
			" (mode & 61440) = 32768",
			version, &q);

	if (rc < 0)
		return rc == -ENOENT ? -EIO : rc; /* an aggregate always has its row */
	*bytes = (uint64_t)sqlite3_column_double(q, 0);
	sqlite3_reset(q);
	return 0;
}

/* ---- metrics ---- */

/* Rows of (name, value[, source]) of q to cb; source defaults to dflt. */
static int metrics_foreach(struct index *ix, sqlite3_stmt *q, const char *dflt, index_metric_cb cb,
			   void *ctx)
{
	int s = SQLITE_DONE, rc = 0;

	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW) {
		const char *nm = (const char *)sqlite3_column_text(q, 0);
		const char *src = dflt ? dflt : (const char *)sqlite3_column_text(q, 2);
		struct metric m;

		memset(&m, 0, sizeof(m));
		snprintf(m.name, sizeof(m.name), "%s", nm ? nm : "");
		m.value = sqlite3_column_double(q, 1);
		snprintf(m.source, sizeof(m.source), "%s", src ? src : "");
		rc = cb(ctx, &m);
	}
	return step_end(ix, q, s, rc);
}

static int ixs_metric_foreach(struct index *ix, int64_t ckpt, index_metric_cb cb, void *ctx)
{
	sqlite3_stmt *q = stmt_id(ix,
				  "SELECT name, value, source FROM metrics WHERE ckpt=?"
				  " AND name NOT IN ('step','epoch') ORDER BY name",
				  ckpt);

	return q ? metrics_foreach(ix, q, NULL, cb, ctx) : ix_err(ix);
}

static int ixs_metric_foreach_xattr(struct index *ix, int64_t ckpt, index_metric_cb cb, void *ctx)
{
	sqlite3_stmt *q = stmt_id(ix,
				  "SELECT name, value FROM metrics WHERE ckpt=? AND"
				  " source='xattr'",
				  ckpt);

	return q ? metrics_foreach(ix, q, "xattr", cb, ctx) : ix_err(ix);
}

static int ixs_metric_set_xattr(struct index *ix, int64_t ckpt, const char *name, double value)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "INSERT OR REPLACE INTO metrics(ckpt, name, value, source,"
				  " eligible) SELECT id, ?2, ?3, 'xattr', state=1 AND withdrawn=0"
				  " FROM checkpoints WHERE id=?1");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, ckpt);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_double(q, 3, value);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_metric_remove_xattr(struct index *ix, int64_t ckpt, const char *name)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "DELETE FROM metrics WHERE ckpt=? AND name=? AND source='xattr'");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, ckpt);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	return changed(ix, ix_step_done(ix, q));
}

static int ixs_metric_clear_derived(struct index *ix, int64_t ckpt)
{
	return exec_ids(ix, "DELETE FROM metrics WHERE ckpt=? AND source != 'xattr'", ckpt, 0);
}

static int ixs_metric_add(struct index *ix, int64_t ckpt, const struct metric *m)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "INSERT OR IGNORE INTO metrics(ckpt, name, value, source)"
				  " VALUES(?,?,?,?)");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, ckpt);
	sqlite3_bind_text(q, 2, m->name, -1, SQLITE_STATIC);
	sqlite3_bind_double(q, 3, m->value);
	sqlite3_bind_text(q, 4, m->source, -1, SQLITE_STATIC);
	return ix_step_done(ix, q);
}

static int ixs_metric_update_eligible(struct index *ix, int64_t ckpt)
{
	return exec_ids(ix,
			"UPDATE metrics SET eligible = (SELECT state=1 AND withdrawn=0 FROM"
			" checkpoints WHERE id=?1) WHERE ckpt=?1",
			ckpt, 0);
}

static int ixs_metric_names(struct index *ix, index_name_cb cb, void *ctx)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "SELECT DISTINCT name FROM metrics WHERE eligible=1"
				  " AND name NOT IN ('step','epoch') ORDER BY name");
	int s = SQLITE_DONE, rc = 0;

	if (!q)
		return ix_err(ix);
	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW)
		rc = cb(ctx, (const char *)sqlite3_column_text(q, 0));
	return step_end(ix, q, s, rc);
}

const struct index_ckpt_ops ixs_ckpt_ops = {
	.ckpt_get = ixs_ckpt_get,
	.ckpt_get_live = ixs_ckpt_get_live,
	.ckpt_get_aborted = ixs_ckpt_get_aborted,
	.ckpt_aborted_rank = ixs_ckpt_aborted_rank,
	.ckpt_row = ixs_ckpt_row,
	.ckpt_live_id = ixs_ckpt_live_id,
	.ckpt_name = ixs_ckpt_name,
	.ckpt_foreach = ixs_ckpt_foreach,
	.ckpt_latest = ixs_ckpt_latest,
	.ckpt_best = ixs_ckpt_best,
	.ckpt_insert = ixs_ckpt_insert,
	.ckpt_insert_aborted = ixs_ckpt_insert_aborted,
	.ckpt_set_versions = ixs_ckpt_set_versions,
	.ckpt_set_aborted = ixs_ckpt_set_aborted,
	.ckpt_set_deleted = ixs_ckpt_set_deleted,
	.ckpt_set_committed = ixs_ckpt_set_committed,
	.ckpt_rename = ixs_ckpt_rename,
	.ckpt_set_withdrawn = ixs_ckpt_set_withdrawn,
	.ckpt_set_step = ixs_ckpt_set_step,
	.ckpt_set_epoch = ixs_ckpt_set_epoch,
	.ckpt_set_pinned = ixs_ckpt_set_pinned,
	.ckpt_set_state = ixs_ckpt_set_state,
	.ckpt_insert_copy = ixs_ckpt_insert_copy,
	.ckpt_trashed = ixs_ckpt_trashed,
	.version_insert = ixs_version_insert,
	.version_create_root = ixs_version_create_root,
	.version_set_state = ixs_version_set_state,
	.version_move = ixs_version_move,
	.versions_of_ckpt_set_state = ixs_versions_of_ckpt_set_state,
	.version_copy_tree = ixs_version_copy_tree,
	.version_chunk_lists = ixs_version_chunk_lists,
	.version_files = ixs_version_files,
	.version_file_bytes = ixs_version_file_bytes,
	.metric_foreach = ixs_metric_foreach,
	.metric_foreach_xattr = ixs_metric_foreach_xattr,
	.metric_set_xattr = ixs_metric_set_xattr,
	.metric_remove_xattr = ixs_metric_remove_xattr,
	.metric_clear_derived = ixs_metric_clear_derived,
	.metric_add = ixs_metric_add,
	.metric_update_eligible = ixs_metric_update_eligible,
	.metric_names = ixs_metric_names,
};
