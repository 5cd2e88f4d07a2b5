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

#include "chunk.h" /* struct chunk_ref */
#include "store.h" /* struct store_dirent */

/* A node row, with its version's checkpoint and state (versions.state:
 * VER_* of store_int.h). Sizes and times are the row's (an open file's
 * unflushed writes are the store's business). */
struct index_node {
	int64_t id, version, ckpt;
	int64_t parent; /* 0 for a version's root */
	uint32_t mode;
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	int64_t atime_ns; /* valid when has_atime */
	bool has_atime;   /* false: the row's atime is unset (follows mtime) */
	int vstate;
};

/* One node by id; -ENOENT when there is no such row. */
int index_node_get(struct index *ix, int64_t id, struct index_node *out);
/* The root of a version (parent 0); -ENOENT when it has none. */
int index_node_root(struct index *ix, int64_t version, struct index_node *out);
/* The entry name of directory parent; -ENOENT when there is none. */
int index_node_lookup(struct index *ix, int64_t parent, const char *name,
		      struct index_node *out);
/* Calls cb for each entry of directory dir in name order (e->name is valid
 * during the call only); a non-zero return stops and is returned. */
int index_node_children(struct index *ix, int64_t dir,
			int (*cb)(void *ctx, const struct store_dirent *e), void *ctx);
/* Whether directory id has an entry (*yes), 0 or negative errno. */
int index_node_has_children(struct index *ix, int64_t id, bool *yes);
/* A node's parent and entry name (*name malloc'd, the caller frees; "" for
 * a root); -ENOENT when there is no such row. */
int index_node_name(struct index *ix, int64_t id, int64_t *parent, char **name);
/* A node's mode and symlink target (*target malloc'd, NULL when the row has
 * none; the caller frees); -ENOENT when there is no such row. */
int index_node_target(struct index *ix, int64_t id, uint32_t *mode, char **target);
/* A node's chunk list (*refs malloc'd, NULL when empty; the caller frees)
 * and size (size may be NULL); -ENOENT when there is no such row, -EIO when
 * the list is damaged. */
int index_node_chunks(struct index *ix, int64_t id, struct chunk_ref **refs, size_t *n,
		      uint64_t *size);
/* The newest node of checkpoint ckpt copied from node origin (copy on
 * write); -ENOENT when there is none. */
int index_node_successor(struct index *ix, int64_t origin, int64_t ckpt, int64_t *next);

/* Changes (in a transaction). Uses n->version, parent, mode, size, mtime_ns
 * and ctime_ns; target may be NULL. -EEXIST when parent already has the
 * name. *id is the new row's. */
int index_node_insert(struct index *ix, const struct index_node *n, const char *name,
		      const char *target, int64_t *id);
/* Deletes the row (its chunk references are the caller's to drop first);
 * -ENOENT when there is no such row. */
int index_node_delete(struct index *ix, int64_t id);
/* Sets mtime and ctime (a directory whose entries changed). */
int index_node_touch(struct index *ix, int64_t id, int64_t now_ns);
/* Moves the node to parent/name, ctime now; -EEXIST when the name is
 * taken. */
int index_node_move(struct index *ix, int64_t id, int64_t parent, const char *name,
		    int64_t now_ns);
/* Attribute changes, each when its flag is set: mode's permission bits,
 * mtime, atime; ctime is now_ns. An mtime set without an atime pins the
 * atime the node showed (shown_atime_ns) when the row has none. */
struct index_node_attrs {
	bool set_mode, set_mtime, set_atime;
	uint32_t mode;
	int64_t mtime_ns, atime_ns, shown_atime_ns, now_ns;
};
int index_node_set_attrs(struct index *ix, int64_t id, const struct index_node_attrs *a);
/* Records a regular file's data: its chunk list, size and mtime. */
int index_node_set_chunks(struct index *ix, int64_t id, const struct chunk_ref *refs, size_t n,
			  uint64_t size, int64_t mtime_ns);
/* Every update above: -ENOENT when there is no such row. */

/* Checkpoint rows the tree changes touch (may move to their group). */
/* The checkpoint's state and the version its files live in now (staging if
 * any, else committed; 0 when none); -ENOENT when there is no such row. */
int index_ckpt_head_version(struct index *ix, int64_t ckpt, int *state, int64_t *version);
/* A committed checkpoint not yet withdrawn becomes withdrawn, its metrics
 * no longer eligible for "best" (*done); otherwise nothing changes. */
int index_ckpt_withdraw_if_committed(struct index *ix, int64_t ckpt, bool *done);
/* Adds bytes to the checkpoint's stored_bytes; -ENOENT when no such row. */
int index_ckpt_add_stored(struct index *ix, int64_t ckpt, uint64_t bytes);


/* ==== chunks and their references, damage ============================== */

/* ==== retention, gc, verify, recovery =================================== */

#endif
