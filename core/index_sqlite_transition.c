/* Transition only: the SQL helpers that core/store*.c files not yet moved
 * behind index.h verbs still call. Removed with struct store's db field
 * when every group has moved. */
#include "index_sqlite.h"
#include "store_int.h"

int store_sqlerr(int rc)
{
	return ix_sqlerr(rc);
}

sqlite3_stmt *store_stmt(struct store *st, const char *sql)
{
	return ix_stmt(st->ix, sql);
}

int store_exec(struct store *st, const char *sql)
{
	return ix_exec(st->ix, sql);
}

int store_begin(struct store *st)
{
	return index_tx_begin(st->ix);
}

int store_commit_tx(struct store *st)
{
	return index_tx_commit(st->ix);
}

void store_rollback(struct store *st)
{
	index_tx_rollback(st->ix);
}

void store_db_attach(struct store *st)
{
	st->db = st->ix->db;
}
