/* The SQLite index: connection, statement cache, transactions, errors.
 * The verbs of each table group are in index_sqlite_<group>.c. */
#include <errno.h>
#include <stdlib.h>

#include "index_sqlite.h"

int ix_sqlerr(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_TOOBIG:
		return -E2BIG;
	default:
		return -EIO;
	}
}

int ix_err(struct index *ix)
{
	int rc = ix_sqlerr(sqlite3_errcode(ix->db));

	return rc ? rc : -EIO;
}

sqlite3_stmt *ix_stmt(struct index *ix, const char *sql)
{
	sqlite3_stmt *s = NULL;
	size_t i;

	for (i = 0; i < ix->n_stmts; i++) {
		if (ix->stmts[i].sql == sql) {
			s = ix->stmts[i].stmt;
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return s;
		}
	}
	if (ix->n_stmts == ix->cap_stmts) {
		size_t nc = ix->cap_stmts ? ix->cap_stmts * 2 : 64;
		struct ix_stmt_ent *ns;

		if (nc > IX_STMT_CACHE)
			return NULL;
		ns = realloc(ix->stmts, nc * sizeof(*ns));
		if (!ns)
			return NULL;
		ix->stmts = ns;
		ix->cap_stmts = nc;
	}
	if (sqlite3_prepare_v3(ix->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		return NULL;
	ix->stmts[ix->n_stmts].sql = sql;
	ix->stmts[ix->n_stmts].stmt = s;
	ix->n_stmts++;
	return s;
}

int ix_exec(struct index *ix, const char *sql)
{
	return ix_sqlerr(sqlite3_exec(ix->db, sql, NULL, NULL, NULL));
}

int ix_step_done(struct index *ix, sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : ix_err(ix);
	sqlite3_reset(q);
	return rc;
}

int ix_connect(const char *path, int oflags, struct index **out)
{
	struct index *ix = calloc(1, sizeof(*ix));
	int rc;

	*out = NULL;
	if (!ix)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &ix->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		/* the caller reads the message before ix_disconnect */
		*out = ix;
		return ix_sqlerr(rc) ?: -EIO;
	}
	sqlite3_busy_timeout(ix->db, 10000);
	*out = ix;
	return 0;
}

void ix_disconnect(struct index *ix, bool wal_truncate)
{
	if (!ix)
		return;
	while (ix->n_stmts)
		sqlite3_finalize(ix->stmts[--ix->n_stmts].stmt);
	free(ix->stmts);
	if (wal_truncate && ix->db)
		sqlite3_exec(ix->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(ix->db);
	free(ix);
}

/* ---- index.h: transactions ---- */

int index_tx_begin(struct index *ix)
{
	return ix_exec(ix, "BEGIN IMMEDIATE");
}

void index_tx_rollback(struct index *ix)
{
	if (!sqlite3_get_autocommit(ix->db))
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
}

int index_tx_commit(struct index *ix)
{
	int rc = ix_exec(ix, "COMMIT");

	if (rc < 0)
		index_tx_rollback(ix);
	return rc;
}

int index_set_durable(struct index *ix, bool durable)
{
	return ix_exec(ix, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

int index_changed_externally(struct index *ix)
{
	sqlite3_stmt *q = ix_stmt(ix, "PRAGMA data_version");
	int64_t v;
	int changed;

	if (!q)
		return ix_err(ix);
	if (sqlite3_step(q) != SQLITE_ROW) {
		int rc = ix_err(ix);

		sqlite3_reset(q);
		return rc;
	}
	v = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	changed = ix->data_version != 0 && v != ix->data_version;
	ix->data_version = v;
	return changed;
}

int index_last_errno(struct index *ix)
{
	return ix_err(ix);
}

const char *index_last_error(struct index *ix)
{
	return ix && ix->db ? sqlite3_errmsg(ix->db) : "cannot open the index";
}
