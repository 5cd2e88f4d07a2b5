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

struct store_stats;

/* index_open_sqlite flags */
#define INDEX_RDONLY 0x1 /* read-only connection: writes nothing, not even a
			    missing column (read through a temporary view) */
#define INDEX_CREATE 0x2 /* a missing or empty index is initialised (WAL, schema) */
#define INDEX_CHECK 0x4  /* the single writer's open: the b-trees are checked
			    (-EUCLEAN when damaged) and store_info's
			    initialised_at is recorded when absent */
/* What index_open_sqlite found where no index could be opened. */
enum index_none { INDEX_FOUND = 0, INDEX_NONE_MISSING, INDEX_NONE_EMPTY };

/* Opens the SQLite index DIR/index.db: checks its format (-EPROTONOSUPPORT
 * for a newer format or a database that is not a ckptfs index), adds columns
 * that came after format 1, and unless INDEX_RDONLY switches to WAL with
 * synchronous=NORMAL and makes sure the damaged_chunks table exists.
 * Without INDEX_CREATE, a missing index.db or an empty one is -ENODATA with
 * *none saying which (nothing is created or written), and a missing one that
 * cannot even be looked at is its -errno with *none INDEX_NONE_MISSING;
 * otherwise *none is INDEX_FOUND. On failure *out is NULL and err (may be
 * NULL) holds one line, except for -ENODATA, whose message is the caller's. */
int index_open_sqlite(const char *dir, int flags, struct index **out, enum index_none *none,
		      char *err, size_t err_len);
/* Closes; fold_wal (the writer's close) checkpoints the WAL into the
 * database first. NULL is a no-op. */
void index_close(struct index *ix, bool fold_wal);
/* store_info's integer value of key; -ENOENT when it has none. */
int index_info_get(struct index *ix, const char *key, int64_t *value);

/* The event log (`ckpt log`). Strings may be NULL except event. */
struct index_event {
	int64_t time;
	const char *event, *name, *rule; /* borrowed: valid during the callback */
};
int index_event_add(struct index *ix, int64_t time, const char *event, const char *name,
		    const char *rule);
/* Calls cb for the newest max events, oldest first; non-zero from cb stops
 * the walk and is returned. */
int index_events_newest(struct index *ix, size_t max,
			int (*cb)(void *ctx, const struct index_event *ev), void *ctx);

/* The policy as key=value rows. foreach walks them in key order (strings
 * borrowed during the callback; non-zero from cb stops and is returned);
 * clear deletes every row; put inserts or replaces one. */
int index_policy_foreach(struct index *ix, int (*cb)(void *ctx, const char *key, const char *value),
			 void *ctx);
int index_policy_clear(struct index *ix);
int index_policy_put(struct index *ix, const char *key, const char *value);

/* Counts and byte sums of store_stats (checkpoints by state, committed
 * logical bytes, chunk rows and their raw/stored bytes); the ratios are left
 * 0 for the caller. out is zeroed first. */
int index_stats_get(struct index *ix, struct store_stats *out);

/* ==== checkpoints and versions, metrics ================================= */

/* ==== nodes: the tree of a version and its chunk lists ================== */

/* ==== chunks and their references, damage ============================== */

/* hash arguments are CHUNK_HASH_LEN bytes (core/chunk.h). */
struct chunk_ref;

/* Adds delta to the chunk's reference count. delta >= 0 creates the row when
 * missing with r->raw_len, stored and codec (delta 0 only makes sure a row
 * exists, so gc can find the chunk); delta < 0 on a missing row changes
 * nothing and is 0. */
int index_chunk_ref(struct index *ix, const struct chunk_ref *r, int delta, uint32_t stored,
		    int codec);
/* 0 when the chunk has a row, -ENOENT when not. */
int index_chunk_exists(struct index *ix, const uint8_t *hash);
/* Calls cb with the name of each checkpoint (distinct, sorted) whose
 * unpurged versions list the chunk; non-zero from cb stops and is returned. */
int index_chunk_users(struct index *ix, const uint8_t *hash,
		      int (*cb)(void *ctx, const char *ckpt_name), void *ctx);

/* Damaged chunks (damaged_chunks). add records one, 0 also when it is
 * already recorded (the first finding stays); exists is 0 or -ENOENT; del
 * forgets one, -ENOENT when it was not recorded. */
int index_damage_add(struct index *ix, const uint8_t *hash, int64_t found_at, const char *how);
int index_damage_exists(struct index *ix, const uint8_t *hash);
int index_damage_del(struct index *ix, const uint8_t *hash);

/* ==== retention, gc, verify, recovery =================================== */

#endif
