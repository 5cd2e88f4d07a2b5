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
	int rc = ix_sqlerr(sqlite3_errcode(ixs_of(ix)->db));

	return rc ? rc : -EIO;
}

sqlite3_stmt *ix_stmt(struct index *ix, const char *sql)
{
	struct index_sqlite *x = ixs_of(ix);
	sqlite3_stmt *s = NULL;
	size_t i;

	for (i = 0; i < x->n_stmts; i++) {
		if (x->stmts[i].sql == sql) {
			s = x->stmts[i].stmt;
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return s;
		}
	}
	if (x->n_stmts == x->cap_stmts) {
		size_t nc = x->cap_stmts ? x->cap_stmts * 2 : 64;
		struct ix_stmt_ent *ns;

		if (nc > IX_STMT_CACHE)
			return NULL;
		ns = realloc(x->stmts, nc * sizeof(*ns));
		if (!ns)
			return NULL;
		x->stmts = ns;
		x->cap_stmts = nc;
	}
	if (sqlite3_prepare_v3(x->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		return NULL;
	x->stmts[x->n_stmts].sql = sql;
	x->stmts[x->n_stmts].stmt = s;
	x->n_stmts++;
	return s;
}

int ix_exec(struct index *ix, const char *sql)
{
	return ix_sqlerr(sqlite3_exec(ixs_of(ix)->db, sql, NULL, NULL, NULL));
}

int ix_step_done(struct index *ix, sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : ix_err(ix);
	sqlite3_reset(q);
	return rc;
}

int ix_connect(const struct index_ops *ops, const char *path, int oflags, struct index **out)
{
	struct index_sqlite *ixs = calloc(1, sizeof(*ixs));
	struct index *ix = &ixs->base;
	int rc;

	*out = NULL;
	if (!ixs)
		return -ENOMEM;
	ix->ops = ops; /* the backend's table, passed down by index_open */
	rc = sqlite3_open_v2(path, &ixs->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		/* the caller reads the message before ix_disconnect */
		*out = ix;
		return ix_sqlerr(rc) ?: -EIO;
	}
	sqlite3_busy_timeout(ixs->db, 10000);
	*out = ix;
	return 0;
}

void ix_disconnect(struct index *ix, bool wal_truncate)
{
	struct index_sqlite *ixs = ixs_of(ix);

	if (!ixs)
		return;
	while (ixs->n_stmts)
		sqlite3_finalize(ixs->stmts[--ixs->n_stmts].stmt);
	free(ixs->stmts);
	if (wal_truncate && ixs->db)
		sqlite3_exec(ixs->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(ixs->db);
	free(ixs);
}

/* ---- index.h: transactions ---- */

int ixs_tx_begin(struct index *ix)
{
	return ix_exec(ix, "BEGIN IMMEDIATE");
}

void ixs_tx_rollback(struct index *ix)
{
	if (!sqlite3_get_autocommit(ixs_of(ix)->db))
		sqlite3_exec(ixs_of(ix)->db, "ROLLBACK", NULL, NULL, NULL);
}

int ixs_tx_commit(struct index *ix)
{
	int rc = ix_exec(ix, "COMMIT");

	if (rc < 0)
		index_tx_rollback(ix);
	return rc;
}

int ixs_set_durable(struct index *ix, bool durable)
{
	return ix_exec(ix, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

int ixs_changed_externally(struct index *ix)
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
	changed = ixs_of(ix)->data_version != 0 && v != ixs_of(ix)->data_version;
	ixs_of(ix)->data_version = v;
	return changed;
}

int ixs_last_errno(struct index *ix)
{
	return ix_err(ix);
}

const char *ixs_last_error(struct index *ix)
{
	return ix && ixs_of(ix)->db ? sqlite3_errmsg(ixs_of(ix)->db) : "cannot open the index";
}
