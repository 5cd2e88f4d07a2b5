/* The PostgreSQL index: connection (timeouts, reconnect with backoff),
 * prepared statements, arguments and results, errors, transactions,
 * LISTEN/NOTIFY for changes made by other mounts, and the writer lock.
 * The verbs of each table group are in index_pg_<group>.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index_pg.h"
#include "util.h"

#define IXP_STMT_CACHE 1024	/* cap; the SQL texts are a fixed set */
#define IXP_BACKOFF_MIN_MS 100	/* first reconnect retry after a loss */
#define IXP_BACKOFF_MAX_MS 5000 /* and at most this far apart */

int64_t ixp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- arguments ---- */

static char *ixp_arg_slot(struct ixp_args *a, const void *v, int len, int fmt)
{
	if (a->n >= IXP_MAXP)
		abort(); /* a statement with more parameters than IXP_MAXP: a bug */
	a->v[a->n] = v;
	a->len[a->n] = len;
	a->fmt[a->n] = fmt;
	return a->num[a->n++];
}

void ixp_arg_i64(struct ixp_args *a, int64_t v)
{
	char *s = ixp_arg_slot(a, NULL, 0, 0);

	snprintf(s, sizeof(a->num[0]), "%lld", (long long)v);
	a->v[a->n - 1] = s;
}

void ixp_arg_f64(struct ixp_args *a, double v)
{
	char *s = ixp_arg_slot(a, NULL, 0, 0);

	snprintf(s, sizeof(a->num[0]), "%.17g", v);
	a->v[a->n - 1] = s;
}

void ixp_arg_bool(struct ixp_args *a, bool v)
{
	ixp_arg_slot(a, v ? "t" : "f", 0, 0);
}

void ixp_arg_text(struct ixp_args *a, const char *s)
{
	ixp_arg_slot(a, s, 0, 0);
}

void ixp_arg_blob(struct ixp_args *a, const void *p, size_t n)
{
	ixp_arg_slot(a, p ? p : "", (int)n, 1);
}

void ixp_arg_null(struct ixp_args *a)
{
	ixp_arg_slot(a, NULL, 0, 0);
}

/* ---- errors ---- */

/* SQLSTATE -> negative errno. */
static int ixp_sqlstate_errno(const char *st)
{
	if (!st)
		return -EIO;
	if (!strcmp(st, "23505"))
		return -EEXIST; /* unique_violation */
	if (!strncmp(st, "23", 2))
		return -EINVAL; /* another integrity constraint */
	if (!strcmp(st, "53100"))
		return -ENOSPC; /* disk_full */
	if (!strncmp(st, "53", 2))
		return -ENOMEM; /* insufficient resources */
	if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03"))
		return -EBUSY; /* serialization failure, deadlock, lock not available */
	if (!strcmp(st, "57014"))
		return -ETIMEDOUT; /* statement_timeout */
	if (!strncmp(st, "28", 2) || !strcmp(st, "42501"))
		return -EACCES;
	if (!strcmp(st, "25006"))
		return -EROFS; /* read_only_sql_transaction */
	return -EIO;
}

static void ixp_set_err(struct index_pg *x, int rc, const char *msg)
{
	size_t n;

	x->last_errno = rc;
	snprintf(x->last_msg, sizeof(x->last_msg), "%s", msg ? msg : strerror(-rc));
	n = strlen(x->last_msg);
	while (n && (x->last_msg[n - 1] == '\n' || x->last_msg[n - 1] == ' '))
		x->last_msg[--n] = 0;
	for (char *c = x->last_msg; *c; c++) /* libpq's are several lines: one */
		if (*c == '\n' || *c == '\t')
			*c = ' ';
}

/* Records a failed result (or a failed send: r NULL) and returns its errno;
 * a lost connection marks it broken for the next statement to reconnect. */
static int ixp_fail(struct index_pg *x, const PGresult *r)
{
	int rc;

	if (PQstatus(x->conn) != CONNECTION_OK) {
		x->broken = true;
		x->in_tx = false; /* the server rolled it back */
		ixp_set_err(x, -EIO, PQerrorMessage(x->conn));
		return -EIO;
	}
	rc = r ? ixp_sqlstate_errno(PQresultErrorField(r, PG_DIAG_SQLSTATE)) : -EIO;
	ixp_set_err(x, rc, r ? PQresultErrorMessage(r) : PQerrorMessage(x->conn));
	return rc;
}

int ixp_err(struct index *ix)
{
	return ixp_of(ix)->last_errno ? ixp_of(ix)->last_errno : -EIO;
}

int ixp_notify_fd(struct index *ix)
{
	return ixp_of(ix)->broken ? -1 : PQsocket(ixp_of(ix)->conn);
}

int ixp_last_errno(struct index *ix)
{
	return ixp_err(ix);
}

const char *ixp_last_error(struct index *ix)
{
	if (!ix)
		return "cannot connect to the PostgreSQL index";
	return ixp_of(ix)->last_msg[0] ? ixp_of(ix)->last_msg : "no error";
}

/* ---- connection ---- */

/* Session settings: no statement or lock wait longer than a mount can
 * stand, no transaction left idle by a stuck client holding locks, and
 * every commit durable (synchronous_commit on). A mount outlives a server
 * crash or restart: with asynchronous commits the server would forget its
 * last acknowledged transactions (a staging checkpoint, the node rows of a
 * closed file) while the mount goes on as if they were there, and a later
 * commit would miss them. So index_set_durable has nothing to change. */
static const char ixp_session_sql[] = "SET statement_timeout = '60s';"
				      "SET lock_timeout = '30s';"
				      "SET idle_in_transaction_session_timeout = '120s';"
				      "SET client_min_messages = warning;"
				      "SET synchronous_commit = on";

/* The server's notices (a shutdown's "terminating connection ...", once per
 * connection) would reach the daemon's log unformatted: errors come back in
 * results, and the mount logs a lost connection once (store_index_lost). */
static void ixp_notice_drop(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

PGconn *ixp_connect_raw(const char *conninfo, char *err, size_t err_len)
{
	/* ours first: the user's conninfo (expanded from dbname) overrides.
	 * Over TCP, keepalives find a silent server while idle and
	 * tcp_user_timeout (ms) while a request is unacknowledged, which
	 * keepalives do not cover and statement_timeout (the server's) cannot. */
	const char *keys[] = { "connect_timeout",  "application_name",
			       "keepalives_idle",  "keepalives_interval",
			       "keepalives_count", "tcp_user_timeout",
			       "dbname",	   NULL };
	const char *vals[] = { "10", "ckptfs", "10", "5", "3", "30000", conninfo, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	PGresult *r;

	if (!c) {
		util_seterr(err, err_len, "PostgreSQL: out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		util_seterr(err, err_len, "PostgreSQL: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, ixp_notice_drop, NULL);
	r = PQexec(c, ixp_session_sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		util_seterr(err, err_len, "PostgreSQL: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

/* After connecting: LISTEN for the other mounts' changes. */
static int ixp_session_start(struct index_pg *x)
{
	PGresult *r = PQexec(x->conn, "LISTEN " IXP_NOTIFY_CHANNEL);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : ixp_fail(x, r);

	PQclear(r);
	return rc;
}

/* A lost connection is replaced outside a transaction, at most once per
 * backoff period; inside one, the transaction is gone: -EIO. */
static int ixp_ensure(struct index_pg *x)
{
	char err[256];
	int64_t now;
	PGconn *c;

	if (!x->broken)
		return 0;
	if (x->in_tx)
		return -EIO;
	now = ixp_now_ms();
	if (now < x->retry_at_ms) {
		ixp_set_err(x, -EIO, "PostgreSQL connection lost; reconnecting");
		return -EIO;
	}
	c = ixp_connect_raw(x->conninfo, err, sizeof(err));
	if (!c) {
		x->backoff_ms = x->backoff_ms ? x->backoff_ms * 2 : IXP_BACKOFF_MIN_MS;
		if (x->backoff_ms > IXP_BACKOFF_MAX_MS)
			x->backoff_ms = IXP_BACKOFF_MAX_MS;
		x->retry_at_ms = now + x->backoff_ms;
		ixp_set_err(x, -EIO, err);
		return -EIO;
	}
	PQfinish(x->conn);
	x->conn = c;
	x->gen++;
	x->broken = false;
	x->backoff_ms = 0;
	x->reconnected = true; /* what changed meanwhile is unknown */
	x->reconnected_ms = now;
	return ixp_session_start(x);
}

/* The prepared statement name of sql on this connection, preparing it once. */
static int ixp_prepare(struct index_pg *x, const char *sql, char name[32])
{
	struct ixp_stmt *s = NULL;
	PGresult *r;
	size_t i;

	for (i = 0; i < x->n_stmts; i++)
		if (x->stmts[i].sql == sql) {
			s = &x->stmts[i];
			break;
		}
	if (!s) {
		if (x->n_stmts == x->cap_stmts) {
			size_t nc = x->cap_stmts ? x->cap_stmts * 2 : 64;
			struct ixp_stmt *ns;

			if (nc > IXP_STMT_CACHE)
				return -ENOMEM;
			ns = realloc(x->stmts, nc * sizeof(*ns));
			if (!ns)
				return -ENOMEM;
			x->stmts = ns;
			x->cap_stmts = nc;
		}
		i = x->n_stmts++;
		s = &x->stmts[i];
		s->sql = sql;
		s->gen = 0; /* never prepared */
	}
	snprintf(name, 32, "ck%zu", i);
	if (s->gen == x->gen)
		return 0;
	r = PQprepare(x->conn, name, sql, 0, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		int rc = ixp_fail(x, r);

		PQclear(r);
		return rc;
	}
	PQclear(r);
	s->gen = x->gen;
	return 0;
}

PGresult *ixp_run(struct index *ix, const char *sql, const struct ixp_args *a)
{
	struct index_pg *x = ixp_of(ix);
	char name[32];
	PGresult *r;
	int rc = ixp_ensure(x);

	if (rc == 0)
		rc = ixp_prepare(x, sql, name);
	if (rc < 0) {
		if (rc == -ENOMEM)
			ixp_set_err(x, rc, NULL);
		return NULL;
	}
	r = PQexecPrepared(x->conn, name, a ? a->n : 0, a ? a->v : NULL, a ? a->len : NULL,
			   a ? a->fmt : NULL, 0);
	switch (PQresultStatus(r)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		return r;
	default:
		ixp_fail(x, r);
		PQclear(r);
		return NULL;
	}
}

int ixp_do(struct index *ix, const char *sql, const struct ixp_args *a, int64_t *changed)
{
	PGresult *r = ixp_run(ix, sql, a);

	if (!r)
		return ixp_err(ix);
	if (changed)
		*changed = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

int ixp_do_changed(struct index *ix, const char *sql, const struct ixp_args *a, int none_errno)
{
	int64_t n = 0;
	int rc = ixp_do(ix, sql, a, &n);

	return rc == 0 && n == 0 ? -none_errno : rc;
}

int ixp_exec(struct index *ix, const char *sql)
{
	struct index_pg *x = ixp_of(ix);
	PGresult *r;
	int rc = ixp_ensure(x);

	if (rc < 0)
		return rc;
	r = PQexec(x->conn, sql);
	rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
		? 0
		: ixp_fail(x, r);
	PQclear(r);
	return rc;
}

int ixp_query_i64(struct index *ix, const char *sql, const struct ixp_args *a, int64_t *v)
{
	PGresult *r = ixp_run(ix, sql, a);
	int rc;

	*v = 0;
	if (!r)
		return ixp_err(ix);
	rc = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? 0 : -ENOENT;
	if (rc == 0)
		*v = ixp_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

int ixp_guard(struct index *ix)
{
	return ixp_of(ix)->in_tx ? ixp_exec(ix, "SAVEPOINT ixp_guard") : 0;
}

int ixp_unguard(struct index *ix, int rc)
{
	int end;

	if (!ixp_of(ix)->in_tx) /* none taken, or the connection was lost */
		return rc;
	end = ixp_exec(ix,
		       rc < 0 ? "ROLLBACK TO SAVEPOINT ixp_guard" : "RELEASE SAVEPOINT ixp_guard");
	return rc < 0 ? rc : end;
}

/* ---- results ---- */

int ixp_ids(struct index *ix, PGresult *r, int64_t **ids, size_t *n)
{
	int rows;

	*ids = NULL;
	*n = 0;
	if (!r)
		return ixp_err(ix);
	rows = PQntuples(r);
	if (rows > 0 && !(*ids = malloc((size_t)rows * sizeof(**ids)))) {
		PQclear(r);
		return -ENOMEM;
	}
	for (int i = 0; i < rows; i++)
		(*ids)[i] = ixp_i64(r, i, 0);
	*n = (size_t)rows;
	PQclear(r);
	return 0;
}

int64_t ixp_i64(const PGresult *r, int row, int col)
{
	const char *s = PQgetvalue(r, row, col);

	if (!s || !*s)
		return 0;
	if (*s == 't' || *s == 'f') /* a boolean column */
		return *s == 't';
	return strtoll(s, NULL, 10);
}

double ixp_f64(const PGresult *r, int row, int col)
{
	const char *s = PQgetvalue(r, row, col);

	return s && *s ? strtod(s, NULL) : 0;
}

bool ixp_isnull(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col);
}

const char *ixp_text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int ixp_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* bytea's text form is \x followed by hex (bytea_output = hex, the
 * default since 9.0): decoded into out (room for (len-2)/2 bytes). */
static int ixp_unhex(const char *s, size_t slen, uint8_t *out, size_t *n)
{
	size_t i;

	if (slen < 2 || s[0] != '\\' || s[1] != 'x' || (slen - 2) % 2)
		return -EIO;
	for (i = 0; i < (slen - 2) / 2; i++) {
		int hi = ixp_hexval(s[2 + 2 * i]), lo = ixp_hexval(s[3 + 2 * i]);

		if (hi < 0 || lo < 0)
			return -EIO;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*n = i;
	return 0;
}

int ixp_blob(const PGresult *r, int row, int col, uint8_t **out, size_t *len)
{
	size_t slen = (size_t)PQgetlength(r, row, col);
	int rc;

	*out = NULL;
	*len = 0;
	if (PQgetisnull(r, row, col) || slen <= 2)
		return 0;
	*out = malloc(slen / 2);
	if (!*out)
		return -ENOMEM;
	rc = ixp_unhex(PQgetvalue(r, row, col), slen, *out, len);
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int ixp_blob_fixed(const PGresult *r, int row, int col, uint8_t *out, size_t n)
{
	size_t slen = (size_t)PQgetlength(r, row, col), got;

	if (PQgetisnull(r, row, col) || slen != 2 + 2 * n)
		return -EIO;
	return ixp_unhex(PQgetvalue(r, row, col), slen, out, &got);
}

/* ---- transactions, durability, changes ---- */

/* Writers of one store serialise on a transaction-level advisory lock, as
 * SQLite's BEGIN IMMEDIATE does: a verb's read-then-write (commit_seq =
 * max + 1, the unique live name) sees no other writer in between. */
int ixp_tx_begin(struct index *ix)
{
	int rc = ixp_exec(ix, "BEGIN; SELECT pg_advisory_xact_lock(4242424242)");

	if (rc == 0)
		ixp_of(ix)->in_tx = true;
	else
		ixp_tx_rollback(ix);
	return rc;
}

void ixp_tx_rollback(struct index *ix)
{
	struct index_pg *x = ixp_of(ix);

	if (PQtransactionStatus(x->conn) != PQTRANS_IDLE && !x->broken)
		PQclear(PQexec(x->conn, "ROLLBACK"));
	x->in_tx = false;
}

int ixp_tx_commit(struct index *ix)
{
	int rc = ixp_exec(ix, "COMMIT");

	ixp_of(ix)->in_tx = false;
	if (rc < 0)
		ixp_tx_rollback(ix);
	return rc;
}

int ixp_set_durable(struct index *ix, bool durable)
{
	(void)ix; /* every commit is durable: ixp_session_sql */
	(void)durable;
	return 0;
}

/* Notifications from other sessions (triggers on the tables every mount
 * reads send them at commit); our own session's are skipped. A reconnect
 * counts as a change: what happened while it was down is unknown. A lost
 * connection (not yet replaced) is -ENOTCONN. */
int ixp_changed_externally(struct index *ix)
{
	struct index_pg *x = ixp_of(ix);
	int self, changed = 0, rc = ixp_ensure(x);
	PGnotify *n;

	if (rc < 0)
		return x->broken ? -ENOTCONN : rc;
	if (x->reconnected) {
		x->reconnected = false;
		changed = 1;
	}
	if (!PQconsumeInput(x->conn)) { /* the server closed it: the timer sees it idle */
		rc = ixp_fail(x, NULL);
		return x->broken ? -ENOTCONN : rc;
	}
	self = PQbackendPID(x->conn);
	while ((n = PQnotifies(x->conn))) {
		if (n->be_pid != self)
			changed = 1;
		PQfreemem(n);
	}
	return changed;
}

/* ---- open and close (the schema is index_pg_store.c's) ---- */

int ixp_connect(const struct index_ops *ops, const char *conninfo, struct index **out, char *err,
		size_t err_len)
{
	struct index_pg *x = calloc(1, sizeof(*x));
	int rc;

	*out = NULL;
	if (!x || !(x->conninfo = strdup(conninfo))) {
		free(x);
		return -ENOMEM;
	}
	x->base.ops = ops;
	x->gen = 1;
	x->conn = ixp_connect_raw(conninfo, err, err_len);
	if (!x->conn) {
		free(x->conninfo);
		free(x);
		return -EIO;
	}
	rc = ixp_session_start(x);
	if (rc < 0) {
		util_seterr(err, err_len, "PostgreSQL: %s", x->last_msg);
		ixp_close(&x->base, false);
		return rc;
	}
	*out = &x->base;
	return 0;
}

void ixp_close(struct index *ix, bool fold_wal)
{
	struct index_pg *x = ixp_of(ix);

	(void)fold_wal; /* PostgreSQL checkpoints its own WAL */
	if (!x)
		return;
	PQfinish(x->conn);
	free(x->stmts);
	free(x->conninfo);
	free(x);
}
