/* The index: where a store keeps its checkpoints and versions, the tree of
 * every version (nodes with their chunk lists), chunks and their reference
 * counts, metrics, events and policy. This header is the seam between the
 * store's protocol (core/store*.c: what happens at commit, abort, delete,
 * gc, recovery) and the engine that keeps the rows (core/index_sqlite*.c
 * today; a PostgreSQL backend next), in the spirit of git's ref_storage_be.
 *
 * Conventions, for every verb:
 * - returns 0 or a negative errno; -ENOENT means "no such row" and nothing
 *   else (an engine failure is never reported as a missing row); -EBUSY,
 *   -ENOSPC, -ENOMEM keep their meaning; damage is -EIO;
 * - the caller holds st->mu (an index connection is not thread-safe on its
 *   own); verbs that change rows run inside index_tx_begin/commit unless
 *   said otherwise;
 * - strings and arrays handed out are the caller's to free, as each verb
 *   says.
 *
 * No file outside core/index_sqlite*.c includes <sqlite3.h>.
 */
#ifndef CKPT_INDEX_H
#define CKPT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct index;

/* ==== connection and transactions (index_sqlite.c) ====================== */

/* One transaction at a time per connection; begin takes the write lock
 * (BEGIN IMMEDIATE), commit makes it durable as the current durability
 * mode says, and rolls back when it fails. */
int index_tx_begin(struct index *ix);
int index_tx_commit(struct index *ix);
void index_tx_rollback(struct index *ix);
/* Durable commits (synchronous=FULL) for the commit transaction; everything
 * else runs NORMAL: a crash may lose the newest non-commit changes, which
 * recovery redoes, never a commit. */
int index_set_durable(struct index *ix, bool durable);
/* Another connection changed the index since the last call (PRAGMA
 * data_version): 1 changed, 0 not, negative errno. */
int index_changed_externally(struct index *ix);
/* The errno and text of the connection's last failure, for messages. */
int index_last_errno(struct index *ix);
const char *index_last_error(struct index *ix);

/* ==== store: open, schema, info, policy, events, stats ================== */

/* ==== checkpoints and versions, metrics ================================= */

/* ==== nodes: the tree of a version and its chunk lists ================== */

/* ==== chunks and their references, damage ============================== */

/* ==== retention, gc, verify, recovery =================================== */

#endif
