/* Private to core/index_pg*.c: the PostgreSQL index connection and the
 * helpers its verbs share. Nothing else includes this file.
 *
 * Conventions for the verbs (index_pg_<group>.c), mirroring index_sqlite.h:
 *  - SQL is a string literal with $1..$n placeholders; ixp_run/ixp_do
 *    prepare it once per connection (cached by the literal's address) and
 *    execute it with the arguments of a struct ixp_args.
 *  - Every integer column is BIGINT, every real DOUBLE PRECISION, every
 *    blob BYTEA; parameters go as text (numbers) or binary (bytea), so cast
 *    a parameter whose type PostgreSQL cannot infer ($1::bigint).
 *  - Results come back in text format; read them with ixp_i64/ixp_f64/
 *    ixp_text/ixp_blob. A PGresult holds every row: a callback may call
 *    other verbs while a walk is under way. Free it with PQclear.
 *  - Failures: ixp_run returns NULL and ixp_do a negative errno; the
 *    connection remembers the errno and message (index_last_errno/_error).
 *    SQLSTATE 23505 (unique violation) is -EEXIST, 53100 (disk full)
 *    -ENOSPC, a lost connection -EIO (the next statement outside a
 *    transaction reconnects, with backoff).
 */
#ifndef CKPT_INDEX_PG_H
#define CKPT_INDEX_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "index_backend.h"

#define IXP_MAXP 12 /* parameters of one statement */
#define IXP_NOTIFY_CHANNEL "ckptfs"
/* The server's clock in ms: leases and writer changes are stamped with it,
 * so nodes' clocks need not agree. */
#define IXP_NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

/* The open PostgreSQL index; its struct index is the first member. */
struct index_pg {
	struct index base;
	PGconn *conn;
	char *conninfo;
	struct ixp_stmt {
		const char *sql; /* string literal: compared by address */
		unsigned gen;	 /* connection generation it was prepared on */
	} * stmts;
	size_t n_stmts, cap_stmts;
	unsigned gen;		/* bumped at every (re)connect */
	bool in_tx;		/* between tx_begin and tx_commit/rollback */
	bool broken;		/* the connection was lost; reconnect before use */
	bool reconnected;	/* changed_externally reports it once */
	int64_t retry_at_ms;	/* no reconnect attempt before (backoff) */
	int64_t reconnected_ms; /* when the last reconnect succeeded (0: never) */
	int64_t backoff_ms;
	int last_errno;
	char last_msg[512];
};

static inline struct index_pg *ixp_of(struct index *ix)
{
	return (struct index_pg *)ix;
}

/* Statement arguments, appended in placeholder order ($1 first). */
struct ixp_args {
	int n;
	const char *v[IXP_MAXP];
	int len[IXP_MAXP];
	int fmt[IXP_MAXP]; /* 0 text, 1 binary */
	char num[IXP_MAXP][32];
};
void ixp_arg_i64(struct ixp_args *a, int64_t v);
void ixp_arg_f64(struct ixp_args *a, double v);
void ixp_arg_bool(struct ixp_args *a, bool v);
/* s borrowed until the statement ran; NULL is SQL NULL. */
void ixp_arg_text(struct ixp_args *a, const char *s);
/* p borrowed until the statement ran (bytea, binary format). */
void ixp_arg_blob(struct ixp_args *a, const void *p, size_t n);
void ixp_arg_null(struct ixp_args *a);

/* Runs a statement returning rows (or a command): the result, or NULL with
 * the errno recorded (ixp_err). a may be NULL (no parameters). */
PGresult *ixp_run(struct index *ix, const char *sql, const struct ixp_args *a);
/* Runs a statement expecting no rows: 0 or negative errno; *changed (may
 * be NULL) gets the affected row count. */
int ixp_do(struct index *ix, const char *sql, const struct ixp_args *a, int64_t *changed);
/* ixp_do for a change that must touch a row: 0 when the statement changed
 * (inserted, updated, deleted) at least one row, -none_errno when it
 * changed none (none_errno 0: no row is no failure, 0), else the
 * statement's negative errno. none_errno is positive (ENOENT, ESTALE...). */
int ixp_do_changed(struct index *ix, const char *sql, const struct ixp_args *a, int none_errno);
/* Runs sql (no parameters, maybe several statements) unprepared. */
int ixp_exec(struct index *ix, const char *sql);
/* A statement that may fail with an expected errno inside a transaction
 * (a unique violation, -EEXIST): SQLite undoes just the failed statement
 * and its transaction goes on, but a failed statement aborts a whole
 * PostgreSQL transaction. So, inside one, bracket it:
 *	rc = ixp_guard(ix);
 *	if (rc == 0)
 *		rc = <the statement>;
 *	rc = ixp_unguard(ix, rc);
 * ixp_guard takes a savepoint (nothing outside a transaction); ixp_unguard
 * rolls back to it when rc < 0, else releases it, and returns rc (or the
 * release's errno). */
int ixp_guard(struct index *ix);
int ixp_unguard(struct index *ix, int rc);
/* The first column of the first row as an integer: 0 with *v set, -ENOENT
 * when there is no row (or the value is NULL), or negative errno. */
int ixp_query_i64(struct index *ix, const char *sql, const struct ixp_args *a, int64_t *v);
/* The last failure's negative errno, never 0. */
int ixp_err(struct index *ix);

/* The first column of every row of r (a statement's result, or NULL when it
 * failed: then its errno) as a malloc'd array, NULL when there is none;
 * r is cleared. */
int ixp_ids(struct index *ix, PGresult *r, int64_t **ids, size_t *n);
/* Columns of a text-format result. NULL reads as 0 / NULL. */
int64_t ixp_i64(const PGresult *r, int row, int col);
double ixp_f64(const PGresult *r, int row, int col);
bool ixp_isnull(const PGresult *r, int row, int col);
/* Borrowed from r (NULL for SQL NULL). */
const char *ixp_text(const PGresult *r, int row, int col);
/* A bytea column decoded into *out (malloc'd, the caller frees; NULL with
 * *len 0 for SQL NULL or an empty value). 0 or -ENOMEM / -EIO. */
int ixp_blob(const PGresult *r, int row, int col, uint8_t **out, size_t *len);
/* Same, into a caller's buffer of exactly n bytes: 0, or -EIO when the
 * value is NULL or not n bytes long. */
int ixp_blob_fixed(const PGresult *r, int row, int col, uint8_t *out, size_t n);

/* The backend's groups of verbs, one per file, gathered into
 * index_pg_ops in index_pg_ops.c. */
extern const struct index_store_ops ixp_store_ops;
extern const struct index_ckpt_ops ixp_ckpt_ops;
extern const struct index_node_ops ixp_node_ops;
extern const struct index_chunk_ops ixp_chunk_ops;
extern const struct index_gc_ops ixp_gc_ops;
extern const struct index_multi_ops ixp_multi_ops;
int ixp_open(const struct index_ops *ops, const char *conninfo, int flags, struct index **out,
	     enum index_none *none, char *err, size_t err_len);
void ixp_close(struct index *ix, bool fold_wal);
int ixp_tx_begin(struct index *ix);
void ixp_tx_rollback(struct index *ix);
int ixp_tx_commit(struct index *ix);
int ixp_set_durable(struct index *ix, bool durable);
int ixp_changed_externally(struct index *ix);
int ixp_notify_fd(struct index *ix);
int ixp_last_errno(struct index *ix);
const char *ixp_last_error(struct index *ix);
int ixp_lock_take(const char *conninfo, struct index_lock **out, char *err, size_t err_len);
void ixp_lock_release(struct index_lock *lk);
bool ixp_lock_held_elsewhere(const char *conninfo);

/* A monotonic clock in ms. */
int64_t ixp_now_ms(void);

/* Allocates the index and connects (ixp_open's first step): 0, or
 * negative errno with err set. */
int ixp_connect(const struct index_ops *ops, const char *conninfo, struct index **out, char *err,
		size_t err_len);
/* A new connection with the session settings every ckptfs connection has
 * (timeouts, application_name); NULL with err set on failure. */
PGconn *ixp_connect_raw(const char *conninfo, char *err, size_t err_len);

#endif
