/* Private to core/index_sqlite*.c: the SQLite index connection and the
 * helpers its verbs share. Nothing else includes this file. */
#ifndef CKPT_INDEX_SQLITE_H
#define CKPT_INDEX_SQLITE_H

#include <sqlite3.h>

#include "index_backend.h"

#define IX_STMT_CACHE 1024 /* cap; the SQL texts are a fixed set (~100) */

/* The open SQLite index; its struct index is the first member. */
struct index_sqlite {
	struct index base;
	sqlite3 *db;
	struct ix_stmt_ent {
		const char *sql; /* string literal: compared by address */
		sqlite3_stmt *stmt;
	} * stmts; /* grows; never evicts (a statement may be mid-step) */
	size_t n_stmts, cap_stmts;
	int64_t data_version;
};

static inline struct index_sqlite *ixs_of(struct index *ix)
{
	return (struct index_sqlite *)ix;
}

/* The backend's groups of verbs (index_backend.h), one per file, and its
 * open and close (index_sqlite_store.c), gathered into index_sqlite_ops in
 * index_sqlite_ops.c. */
extern const struct index_store_ops ixs_store_ops;
extern const struct index_ckpt_ops ixs_ckpt_ops;
extern const struct index_node_ops ixs_node_ops;
extern const struct index_chunk_ops ixs_chunk_ops;
extern const struct index_gc_ops ixs_gc_ops;
int ixs_open(const struct index_ops *ops, const char *dir, int flags, struct index **out,
	     enum index_none *none, char *err, size_t err_len);
void ixs_close(struct index *ix, bool fold_wal);
/* The connection verbs (index_sqlite.c). */
int ixs_tx_begin(struct index *ix);
void ixs_tx_rollback(struct index *ix);
int ixs_tx_commit(struct index *ix);
int ixs_set_durable(struct index *ix, bool durable);
int ixs_changed_externally(struct index *ix);
int ixs_last_errno(struct index *ix);
const char *ixs_last_error(struct index *ix);

/* SQLite result code -> 0 or negative errno (SQLITE_ROW/DONE are 0). */
int ix_sqlerr(int rc);
/* The connection's last error as a negative errno, never 0 (-EIO when
 * SQLite reports none): for paths that already know something failed. */
int ix_err(struct index *ix);
/* Cached prepared statement for a string literal, reset with bindings
 * cleared; NULL on failure (then ix_err says why). */
sqlite3_stmt *ix_stmt(struct index *ix, const char *sql);
int ix_exec(struct index *ix, const char *sql);
/* Steps q expecting no row (INSERT/UPDATE/DELETE), resets it, returns 0 or
 * negative errno. */
int ix_step_done(struct index *ix, sqlite3_stmt *q);

/* Opens the connection (flags as sqlite3_open_v2's), with the busy timeout
 * set; *out is NULL on failure. */
int ix_connect(const struct index_ops *ops, const char *path, int oflags, struct index **out);
/* Finalizes the statements and closes; checkpoints the WAL when asked. */
void ix_disconnect(struct index *ix, bool wal_truncate);

#endif
