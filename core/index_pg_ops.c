/* The PostgreSQL index's ops table: the top of the backend, gathering the
 * connection verbs (index_pg.c), the mount leases that stand for the
 * writer lock (index_pg_multi.c), the open path and each group's verbs
 * (index_pg_<group>.c). */
#include "index_pg.h"

const struct index_ops index_pg_ops = {
	.name = "postgresql",
	.open = ixp_open,
	.lock = ixp_lock_take,
	.unlock = ixp_lock_release,
	.lock_held_elsewhere = ixp_lock_held_elsewhere,
	.tx_begin = ixp_tx_begin,
	.tx_commit = ixp_tx_commit,
	.tx_rollback = ixp_tx_rollback,
	.set_durable = ixp_set_durable,
	.changed_externally = ixp_changed_externally,
	.notify_fd = ixp_notify_fd,
	.last_errno = ixp_last_errno,
	.last_error = ixp_last_error,
	.close = ixp_close,
	.store = &ixp_store_ops,
	.ckpt = &ixp_ckpt_ops,
	.node = &ixp_node_ops,
	.chunk = &ixp_chunk_ops,
	.gc = &ixp_gc_ops,
	.multi = &ixp_multi_ops,
};
