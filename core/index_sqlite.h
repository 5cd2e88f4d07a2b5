/* Private to core/index_sqlite*.c: the SQLite index connection and the
 * helpers its verbs share. Nothing else includes this file. */
#ifndef CKPT_INDEX_SQLITE_H
#define CKPT_INDEX_SQLITE_H

#include <sqlite3.h>

#include "index.h"

#define IX_STMT_CACHE 1024 /* cap; the SQL texts are a fixed set (~100) */

struct index {
	sqlite3 *db;
	struct ix_stmt_ent {
		const char *sql; /* string literal: compared by address */
		sqlite3_stmt *stmt;
	} *stmts; /* grows; never evicts (a statement may be mid-step) */
	size_t n_stmts, cap_stmts;
	int64_t data_version;
};

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
int ix_connect(const char *path, int oflags, struct index **out);
/* Finalizes the statements and closes; checkpoints the WAL when asked. */
void ix_disconnect(struct index *ix, bool wal_truncate);

#endif
