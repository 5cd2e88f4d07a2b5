/* The SQLite index's ops table: the top of the backend, gathering the
 * connection verbs (index_sqlite.c), the open path and each group's verbs
 * (index_sqlite_<group>.c), and the single-writer flock (index_flock.c).
 * Nothing in the backend refers back to it: open is handed the table. */
#include "index_sqlite.h"

const struct index_ops index_sqlite_ops = {
	.name = "sqlite",
	.open = ixs_open,
	.lock = index_flock_take,
	.unlock = index_flock_release,
	.lock_held_elsewhere = index_flock_held_elsewhere,
	.tx_begin = ixs_tx_begin,
	.tx_commit = ixs_tx_commit,
	.tx_rollback = ixs_tx_rollback,
	.set_durable = ixs_set_durable,
	.changed_externally = ixs_changed_externally,
	.last_errno = ixs_last_errno,
	.last_error = ixs_last_error,
	.close = ixs_close,
	.store = &ixs_store_ops,
	.ckpt = &ixs_ckpt_ops,
	.node = &ixs_node_ops,
	.chunk = &ixs_chunk_ops,
	.gc = &ixs_gc_ops,
};
