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

/* Verbs of core/index_sqlite_gc.c. Arrays handed out are malloc'd and the
 * caller frees them; iterations call cb per row, and a non-zero return of cb
 * stops the walk and is returned. */
struct chunk_ref;
struct metric;

/* A committed checkpoint as retention sees it (index_ckpt_committed). */
struct index_committed {
	int64_t id;
	char *name;
	int64_t commit_seq;
	bool has_step;
	int64_t step;
	bool pinned;
	bool withdrawn;          /* a part was removed by hand */
	struct metric *metrics;  /* without 'step' and 'epoch' */
	size_t n_metrics, cap_metrics;
};

/* Every committed checkpoint in commit order, with its metrics; free the
 * array with index_committed_free. */
int index_ckpt_committed(struct index *ix, struct index_committed **out, size_t *n);
void index_committed_free(struct index_committed *c, size_t n);
/* Ids (allocated array) of the aborted checkpoints. */
int index_ckpt_aborted_ids(struct index *ix, int64_t **ids, size_t *n);
/* Ids (allocated array) of checkpoints left staging: staging ones, and
 * committed ones with a staging version. */
int index_ckpt_unfinished_ids(struct index *ix, int64_t **ids, size_t *n);
/* Whether retention may delete the checkpoint: *ok is true when it is
 * committed and not pinned; -ENOENT when it has no row. */
int index_ckpt_deletable(struct index *ix, int64_t ckpt_id, bool *ok);
/* The checkpoint's current version and kind (CKPT_*); -ENOENT: no row. */
int index_ckpt_version_kind(struct index *ix, int64_t ckpt_id, int64_t *version, int *kind);

/* Ids (allocated array) of the dead versions (state 3). */
int index_version_dead_ids(struct index *ix, int64_t **ids, size_t *n);
/* Every node of a version, as (id, mode, size); any order. */
int index_version_nodes(struct index *ix, int64_t version,
			int (*cb)(void *ctx, int64_t id, uint32_t mode, uint64_t size), void *ctx);
/* The non-empty chunk lists of a version's nodes, decoded; -EIO when a list
 * is damaged. index_all_chunk_lists: those of every node row. The callback
 * may change other rows (e.g. chunk references). */
int index_version_chunk_lists(struct index *ix, int64_t version,
			      int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n),
			      void *ctx);
int index_all_chunk_lists(struct index *ix,
			  int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n), void *ctx);
/* Deletes a version's node rows and its row; later copies whose origin was
 * one of its nodes point to that node's origin instead. Chunk references
 * are the caller's (index_version_chunk_lists first). -ENOENT: no version
 * row (nothing changed). In a transaction. */
int index_version_purge(struct index *ix, int64_t version);

/* Every chunk row (hash, refs). */
int index_chunk_rows(struct index *ix,
		     int (*cb)(void *ctx, const uint8_t *hash, int64_t refs), void *ctx);
/* The chunk rows nothing references (refs <= 0), as index_chunk_rows. */
int index_chunks_unreferenced(struct index *ix,
			      int (*cb)(void *ctx, const uint8_t *hash, int64_t refs), void *ctx);
/* Deletes the chunk's row if still unreferenced; -ENOENT when there is no
 * such row (none, or referenced again). In a transaction. */
int index_chunk_forget_unreferenced(struct index *ix, const uint8_t *hash);

/* The engine's own integrity check, then the rows' consistency (committed
 * versions, versions, roots and nodes that point at missing rows): cb gets
 * one text per problem, and the engine's message when a check cannot run.
 * Returns 0 or cb's non-zero. */
int index_check_consistency(struct index *ix, int (*cb)(void *ctx, const char *problem),
			    void *ctx);

#endif
