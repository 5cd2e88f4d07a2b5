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
 * No file outside core/index_sqlite*.c includes <sqlite3.h>. Every verb is a
 * static inline dispatcher through the open index's ops table
 * (core/index_backend.h, included at the end).
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
static inline int index_tx_begin(struct index *ix);
static inline int index_tx_commit(struct index *ix);
static inline void index_tx_rollback(struct index *ix);
/* Ends the transaction by the caller's outcome: commits when rc is 0 and
 * returns the commit's result, else rolls back and returns rc. */
static inline int index_tx_end(struct index *ix, int rc);
/* Durable commits (synchronous=FULL) for the commit transaction; everything
 * else runs NORMAL: a crash may lose the newest non-commit changes, which
 * recovery redoes, never a commit. */
static inline int index_set_durable(struct index *ix, bool durable);
/* Another connection changed the index since the last call (PRAGMA
 * data_version): 1 changed, 0 not, negative errno. */
static inline int index_changed_externally(struct index *ix);
/* The errno and text of the connection's last failure, for messages. */
static inline int index_last_errno(struct index *ix);
static inline const char *index_last_error(struct index *ix);

/* ==== store: open, schema, info, policy, events, stats ================== */

struct store_stats;

/* index_open flags */
#define INDEX_RDONLY \
	0x1		 /* read-only connection: writes nothing, not even a
			    missing column (read through a temporary view) */
#define INDEX_CREATE 0x2 /* a missing or empty index is initialised (WAL, schema) */
#define INDEX_CHECK \
	0x4 /* the single writer's open: the b-trees are checked
			    (-EUCLEAN when damaged) and store_info's
			    initialised_at is recorded when absent */
/* What index_open found where no index could be opened. */
enum index_none { INDEX_FOUND = 0, INDEX_NONE_MISSING, INDEX_NONE_EMPTY };

/* Opens the index of backend ops at where (sqlite: the store directory;
 * index_open_sqlite is that backend). The SQLite index DIR/index.db:
 * checks its format (-EPROTONOSUPPORT for a newer format or a database that is not a ckptfs index), adds columns
 * that came after format 1, and unless INDEX_RDONLY switches to WAL with
 * synchronous=NORMAL and makes sure the damaged_chunks table exists.
 * Without INDEX_CREATE, a missing index.db or an empty one is -ENODATA with
 * *none saying which (nothing is created or written), and a missing one that
 * cannot even be looked at is its -errno with *none INDEX_NONE_MISSING;
 * otherwise *none is INDEX_FOUND. On failure *out is NULL and err (may be
 * NULL) holds one line, except for -ENODATA, whose message is the caller's. */
struct index_ops;
static inline int index_open(const struct index_ops *ops, const char *where, int flags,
			     struct index **out, enum index_none *none, char *err, size_t err_len);
static inline int index_open_sqlite(const char *dir, int flags, struct index **out,
				    enum index_none *none, char *err, size_t err_len);
/* The single-writer lock (lease) of the store at where, taken by the one
 * read-write opener before it opens the index (sqlite: flock on DIR/lock;
 * a PostgreSQL backend: an advisory lock). -EBUSY with "DIR: already
 * mounted or in use by pid N" (or without the pid) when another holds it;
 * a crashed holder's lock goes with it. unlock releases (NULL is fine).
 * held_elsewhere: whether another opener holds it now, looking without
 * taking (true when in doubt). */
struct index_lock;
static inline int index_lock(const struct index_ops *ops, const char *where,
			     struct index_lock **out, char *err, size_t err_len);
static inline void index_unlock(const struct index_ops *ops, struct index_lock *lk);
static inline bool index_lock_held_elsewhere(const struct index_ops *ops, const char *where);
/* Closes; fold_wal (the writer's close) checkpoints the WAL into the
 * database first. NULL is a no-op. */
static inline void index_close(struct index *ix, bool fold_wal);
/* store_info's integer value of key; -ENOENT when it has none. */
static inline int index_info_get(struct index *ix, const char *key, int64_t *value);
/* store_info's text value of key (*value malloc'd, the caller frees);
 * -ENOENT when it has none. put inserts or replaces it (outside a
 * transaction is fine). */
static inline int index_info_get_text(struct index *ix, const char *key, char **value);
static inline int index_info_put_text(struct index *ix, const char *key, const char *value);

/* The event log (`ckpt log`). Strings may be NULL except event. */
struct index_event {
	int64_t id; /* increasing in the order events were recorded */
	int64_t time;
	const char *event, *name, *rule; /* borrowed: valid during the callback */
};
static inline int index_event_add(struct index *ix, int64_t time, const char *event,
				  const char *name, const char *rule);
/* Calls cb for the newest max events, oldest first; non-zero from cb stops
 * the walk and is returned. */
static inline int index_events_newest(struct index *ix, size_t max,
				      int (*cb)(void *ctx, const struct index_event *ev),
				      void *ctx);
/* Calls cb for at most max events with id > after_id, oldest first (one
 * range scan of the primary key: cheap enough to run at every wake-up of a
 * watcher); non-zero from cb stops the walk and is returned. */
static inline int index_events_after(struct index *ix, int64_t after_id, size_t max,
				     int (*cb)(void *ctx, const struct index_event *ev), void *ctx);

/* The policy as key=value rows. foreach walks them in key order (strings
 * borrowed during the callback; non-zero from cb stops and is returned);
 * clear deletes every row; put inserts or replaces one. */
static inline int index_policy_foreach(struct index *ix,
				       int (*cb)(void *ctx, const char *key, const char *value),
				       void *ctx);
static inline int index_policy_clear(struct index *ix);
static inline int index_policy_put(struct index *ix, const char *key, const char *value);

/* Counts and byte sums of store_stats (checkpoints by state, committed
 * logical bytes, chunk rows and their raw/stored bytes); the ratios are left
 * 0 for the caller. out is zeroed first. */
static inline int index_stats_get(struct index *ix, struct store_stats *out);

/* ==== checkpoints and versions, metrics ================================= */

/* Checkpoint rows (table checkpoints), their versions (table versions) and
 * their metrics (table metrics). States are enum ckpt_state (store.h) for
 * checkpoints and VER_* (store_int.h: 0 staging, 1 committed, 2 aborted,
 * 3 dead) for versions. Records handed out as struct ckpt_info carry the
 * row only: the stored name (not an aborted one's display name), no
 * metrics, logical_bytes as stored; ckpt_info_release frees them. */
struct ckpt_info;
struct metric;
struct chunk_ref;

/* The columns of a checkpoint the protocol decides on. */
struct index_ckpt_row {
	int state, kind;
	int64_t version;   /* the version its name shows */
	int64_t committed; /* committed_version, 0 when none */
	int64_t staging;   /* staging_version, 0 when none */
	bool withdrawn;
};

/* What a commit writes into its checkpoint's row. */
struct index_commit {
	int64_t now, version;
	bool has_step, has_epoch;
	int64_t step;
	double epoch;
	uint64_t logical;
	const char *note;     /* metric problems, or NULL */
	const char *new_name; /* NULL keeps the name */
};

/* A regular file of a version and its chunk list. refs is the verb's: the
 * callback may take it (then sets row->refs NULL), else it is freed after
 * the callback returns. */
struct index_file_row {
	int64_t id;
	uint64_t size;
	struct chunk_ref *refs;
	size_t n;
};

/* Callbacks: non-zero stops the iteration and is what the verb returns. */
/* ci's strings are the callback's (to keep, or ckpt_info_release). */
typedef int (*index_ckpt_cb)(void *ctx, struct ckpt_info *ci);
typedef int (*index_file_cb)(void *ctx, struct index_file_row *row);
typedef int (*index_metric_cb)(void *ctx, const struct metric *m);
typedef int (*index_name_cb)(void *ctx, const char *name);

/* Lookups. */
static inline int index_ckpt_row(struct index *ix, int64_t id, struct index_ckpt_row *out);
static inline int index_ckpt_get(struct index *ix, int64_t id, struct ckpt_info *out);
/* The staging or committed checkpoint named name. */
static inline int index_ckpt_get_live(struct index *ix, const char *name, struct ckpt_info *out);
static inline int index_ckpt_live_id(struct index *ix, const char *name, int64_t *id);
/* The rank-th newest (1 = newest; by ended_at, then id) aborted checkpoint
 * of name, and the rank of one (*rank = 1 + how many are newer). */
static inline int index_ckpt_get_aborted(struct index *ix, const char *name, int64_t rank,
					 struct ckpt_info *out);
static inline int index_ckpt_aborted_rank(struct index *ix, const char *name, int64_t ended_at,
					  int64_t id, int64_t *rank);
static inline int index_ckpt_name(struct index *ix, int64_t id,
				  char **out); /* *out: caller frees */
/* Every checkpoint (all) or the live ones, by commit order (uncommitted
 * last, by creation); each row is handed to cb. */
static inline int index_ckpt_foreach(struct index *ix, bool all, index_ckpt_cb cb, void *ctx);
/* The newest committed, not withdrawn checkpoint; -ENOENT when none. */
static inline int index_ckpt_latest(struct index *ix, int64_t *id, int64_t *committed_version);
/* The committed, not withdrawn checkpoint with the lowest (dir < 0) or
 * highest eligible value of metric; ties: lower step (none last), then
 * earlier commit. -ENOENT when none. */
static inline int index_ckpt_best(struct index *ix, const char *metric, int dir, int64_t *id,
				  int64_t *committed_version);

/* Row changes (in a transaction unless said otherwise). A change of one
 * row by its id returns -ENOENT when there is no such row; changes of a set
 * (versions_of_ckpt, metric_update_eligible, metric_clear_derived) succeed
 * on an empty set. */
/* A new staging checkpoint without versions yet; -EEXIST on a conflict. */
static inline int index_ckpt_insert(struct index *ix, const char *name, int kind, int64_t now,
				    int64_t *id);
/* A new aborted checkpoint holding version (a committed one's failed
 * update). */
static inline int index_ckpt_insert_aborted(struct index *ix, const char *name, int kind,
					    int64_t now, const char *note, int64_t version,
					    int64_t *id);
static inline int index_ckpt_set_versions(struct index *ix, int64_t id, int64_t version,
					  int64_t staging);
static inline int index_ckpt_set_aborted(struct index *ix, int64_t id, int64_t now,
					 const char *note, int64_t version);
static inline int index_ckpt_set_deleted(struct index *ix, int64_t id, int64_t now,
					 const char *rule);
/* State committed with the next commit_seq, the row's fields from c. */
static inline int index_ckpt_set_committed(struct index *ix, int64_t id,
					   const struct index_commit *c);
static inline int index_ckpt_rename(struct index *ix, int64_t id, const char *name);
static inline int index_ckpt_set_withdrawn(struct index *ix, int64_t id);
static inline int index_ckpt_set_step(struct index *ix, int64_t id, int64_t step);
static inline int index_ckpt_set_epoch(struct index *ix, int64_t id, double epoch);
/* Outside a transaction is fine. */
static inline int index_ckpt_set_pinned(struct index *ix, int64_t id, bool pinned);

/* Trash (lifecycle): state is CKPT_COMMITTED or CKPT_TRASHED (store.h).
 * set_state sets the state, ended_at = now and deleted_rule = rule (NULL
 * clears it), drops the staging version and shows the committed one
 * (version = committed_version). */
static inline int index_ckpt_set_state(struct index *ix, int64_t id, int state, int64_t now,
				       const char *rule);
/* A new row copying src's name, kind, step, epoch, commit_seq, times,
 * sizes and metrics (not eligible), with state, ended_at = now,
 * deleted_rule = rule and version = committed_version = version (no
 * staging); -ENOENT when src has no row. */
static inline int index_ckpt_insert_copy(struct index *ix, int64_t src, int64_t version, int state,
					 int64_t now, const char *rule, int64_t *id);
/* Every trashed checkpoint, oldest trashed first (ended_at, then id). */
static inline int index_ckpt_trashed(struct index *ix, index_ckpt_cb cb, void *ctx);

/* Versions. */
static inline int index_version_insert(struct index *ix, int64_t ckpt, int64_t now,
				       int64_t *id); /* staging */
/* The root directory node of a new, empty version (mode includes the type). */
static inline int index_version_create_root(struct index *ix, int64_t version, uint32_t mode,
					    int64_t now_ns, int64_t *root);
static inline int index_version_set_state(struct index *ix, int64_t version, int state);
/* Sets the state and moves the version to checkpoint ckpt. */
static inline int index_version_move(struct index *ix, int64_t version, int state, int64_t ckpt);
static inline int index_versions_of_ckpt_set_state(struct index *ix, int64_t ckpt, int state);
/* Copies the tree of version src into dst (new node ids, origin = the
 * copied id, parents and root relinked). Chunk references are not taken. */
static inline int index_version_copy_tree(struct index *ix, int64_t src, int64_t dst);
/* Every node of version with a chunk list, to cb. */
static inline int index_version_chunk_lists(struct index *ix, int64_t version, index_file_cb cb,
					    void *ctx);
/* Every regular file of version, to cb. */
static inline int index_version_files(struct index *ix, int64_t version, index_file_cb cb,
				      void *ctx);
/* Sum of the sizes of the regular files of version. */
static inline int index_version_file_bytes(struct index *ix, int64_t version, uint64_t *bytes);

/* Metrics. "xattr" rows are the ones set by hand; the others are derived
 * at commit. */
/* The metrics of ckpt but step and epoch, by name, to cb. */
static inline int index_metric_foreach(struct index *ix, int64_t ckpt, index_metric_cb cb,
				       void *ctx);
/* The xattr metrics of ckpt (step and epoch included), to cb. */
static inline int index_metric_foreach_xattr(struct index *ix, int64_t ckpt, index_metric_cb cb,
					     void *ctx);
/* Sets (or replaces) an xattr metric, eligible as its checkpoint is;
 * -ENOENT when no such checkpoint. */
static inline int index_metric_set_xattr(struct index *ix, int64_t ckpt, const char *name,
					 double value);
/* Outside a transaction is fine; -ENOENT when no such xattr metric. */
static inline int index_metric_remove_xattr(struct index *ix, int64_t ckpt, const char *name);
static inline int index_metric_clear_derived(struct index *ix, int64_t ckpt);
/* Adds a derived metric; a row of that name already there is kept. */
static inline int index_metric_add(struct index *ix, int64_t ckpt, const struct metric *m);
/* Metrics are eligible for best exactly when their checkpoint is committed
 * and not withdrawn: recomputes that for ckpt's rows. */
static inline int index_metric_update_eligible(struct index *ix, int64_t ckpt);
/* The distinct names of eligible metrics but step and epoch, sorted. */
static inline int index_metric_names(struct index *ix, index_name_cb cb, void *ctx);

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
	bool has_atime;	  /* false: the row's atime is unset (follows mtime) */
	int vstate;
};

/* One node by id; -ENOENT when there is no such row. */
static inline int index_node_get(struct index *ix, int64_t id, struct index_node *out);
/* The root of a version (parent 0); -ENOENT when it has none. */
static inline int index_node_root(struct index *ix, int64_t version, struct index_node *out);
/* The entry name of directory parent; -ENOENT when there is none. */
static inline int index_node_lookup(struct index *ix, int64_t parent, const char *name,
				    struct index_node *out);
/* Calls cb for each entry of directory dir in name order (e->name is valid
 * during the call only); a non-zero return stops and is returned. */
static inline int index_node_children(struct index *ix, int64_t dir,
				      int (*cb)(void *ctx, const struct store_dirent *e),
				      void *ctx);
/* Whether directory id has an entry (*yes), 0 or negative errno. */
static inline int index_node_has_children(struct index *ix, int64_t id, bool *yes);
/* A node's parent and entry name (*name malloc'd, the caller frees; "" for
 * a root); -ENOENT when there is no such row. */
static inline int index_node_name(struct index *ix, int64_t id, int64_t *parent, char **name);
/* A node's mode and symlink target (*target malloc'd, NULL when the row has
 * none; the caller frees); -ENOENT when there is no such row. */
static inline int index_node_target(struct index *ix, int64_t id, uint32_t *mode, char **target);
/* A node's chunk list (*refs malloc'd, NULL when empty; the caller frees)
 * and size (size may be NULL); -ENOENT when there is no such row, -EIO when
 * the list is damaged. */
static inline int index_node_chunks(struct index *ix, int64_t id, struct chunk_ref **refs,
				    size_t *n, uint64_t *size);
/* The newest node of checkpoint ckpt copied from node origin (copy on
 * write); -ENOENT when there is none. */
static inline int index_node_successor(struct index *ix, int64_t origin, int64_t ckpt,
				       int64_t *next);

/* Changes (in a transaction). Uses n->version, parent, mode, size, mtime_ns
 * and ctime_ns; target may be NULL. -EEXIST when parent already has the
 * name. *id is the new row's. */
static inline int index_node_insert(struct index *ix, const struct index_node *n, const char *name,
				    const char *target, int64_t *id);
/* Deletes the row (its chunk references are the caller's to drop first);
 * -ENOENT when there is no such row. */
static inline int index_node_delete(struct index *ix, int64_t id);
/* Sets mtime and ctime (a directory whose entries changed). */
static inline int index_node_touch(struct index *ix, int64_t id, int64_t now_ns);
/* Moves the node to parent/name, ctime now; -EEXIST when the name is
 * taken. */
static inline int index_node_move(struct index *ix, int64_t id, int64_t parent, const char *name,
				  int64_t now_ns);
/* Attribute changes, each when its flag is set: mode's permission bits,
 * mtime, atime; ctime is now_ns. An mtime set without an atime pins the
 * atime the node showed (shown_atime_ns) when the row has none. */
struct index_node_attrs {
	bool set_mode, set_mtime, set_atime;
	uint32_t mode;
	int64_t mtime_ns, atime_ns, shown_atime_ns, now_ns;
};
static inline int index_node_set_attrs(struct index *ix, int64_t id,
				       const struct index_node_attrs *a);
/* Records a regular file's data: its chunk list, size and mtime. */
static inline int index_node_set_chunks(struct index *ix, int64_t id, const struct chunk_ref *refs,
					size_t n, uint64_t size, int64_t mtime_ns);
/* Every update above: -ENOENT when there is no such row. */

/* Checkpoint rows the tree changes touch (may move to their group). */
/* The checkpoint's state and the version its files live in now (staging if
 * any, else committed; 0 when none); -ENOENT when there is no such row. */
static inline int index_ckpt_head_version(struct index *ix, int64_t ckpt, int *state,
					  int64_t *version);
/* A committed checkpoint not yet withdrawn becomes withdrawn, its metrics
 * no longer eligible for "best" (*done); otherwise nothing changes. */
static inline int index_ckpt_withdraw_if_committed(struct index *ix, int64_t ckpt, bool *done);
/* Adds bytes to the checkpoint's stored_bytes; -ENOENT when no such row. */
static inline int index_ckpt_add_stored(struct index *ix, int64_t ckpt, uint64_t bytes);

/* ==== chunks and their references, damage ============================== */

/* hash arguments are CHUNK_HASH_LEN bytes (core/chunk.h). */
struct chunk_ref;

/* Adds delta to the chunk's reference count. delta >= 0 creates the row when
 * missing with r->raw_len, stored and codec (delta 0 only makes sure a row
 * exists, so gc can find the chunk); delta < 0 on a missing row changes
 * nothing and is 0. */
static inline int index_chunk_ref(struct index *ix, const struct chunk_ref *r, int delta,
				  uint32_t stored, int codec);
/* 0 when the chunk has a row, -ENOENT when not. */
static inline int index_chunk_exists(struct index *ix, const uint8_t *hash);
/* A chunk row's reference count and stored bytes; -ENOENT when no row. */
static inline int index_chunk_get(struct index *ix, const uint8_t *hash, int64_t *refs,
				  uint32_t *stored);
/* Calls cb with the name of each checkpoint (distinct, sorted) whose
 * unpurged versions list the chunk; non-zero from cb stops and is returned. */
static inline int index_chunk_users(struct index *ix, const uint8_t *hash,
				    int (*cb)(void *ctx, const char *ckpt_name), void *ctx);

/* Damaged chunks (damaged_chunks). add records one, 0 also when it is
 * already recorded (the first finding stays); exists is 0 or -ENOENT; del
 * forgets one, -ENOENT when it was not recorded. */
static inline int index_damage_add(struct index *ix, const uint8_t *hash, int64_t found_at,
				   const char *how);
static inline int index_damage_exists(struct index *ix, const uint8_t *hash);
static inline int index_damage_del(struct index *ix, const uint8_t *hash);

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
	bool withdrawn;		/* a part was removed by hand */
	struct metric *metrics; /* without 'step' and 'epoch' */
	size_t n_metrics, cap_metrics;
};

/* Every committed checkpoint in commit order, with its metrics; free the
 * array with index_committed_free. */
static inline int index_ckpt_committed(struct index *ix, struct index_committed **out, size_t *n);
void index_committed_free(struct index_committed *c, size_t n);
/* Ids (allocated array) of the aborted checkpoints. */
static inline int index_ckpt_aborted_ids(struct index *ix, int64_t **ids, size_t *n);
/* Ids (allocated array) of checkpoints left staging: staging ones, and
 * committed ones with a staging version. */
static inline int index_ckpt_unfinished_ids(struct index *ix, int64_t **ids, size_t *n);
/* Whether retention may delete the checkpoint: *ok is true when it is
 * committed and not pinned; -ENOENT when it has no row. */
static inline int index_ckpt_deletable(struct index *ix, int64_t ckpt_id, bool *ok);
/* The checkpoint's current version and kind (CKPT_*); -ENOENT: no row. */
static inline int index_ckpt_version_kind(struct index *ix, int64_t ckpt_id, int64_t *version,
					  int *kind);

/* Ids (allocated array) of the dead versions (state 3). */
static inline int index_version_dead_ids(struct index *ix, int64_t **ids, size_t *n);
/* Every node of a version, as (id, mode, size); any order. */
static inline int index_version_nodes(struct index *ix, int64_t version,
				      int (*cb)(void *ctx, int64_t id, uint32_t mode,
						uint64_t size),
				      void *ctx);
/* The non-empty chunk lists of a version's nodes, decoded; -EIO when a list
 * is damaged. index_all_chunk_lists: those of every node row. The callback
 * may change other rows (e.g. chunk references). */
static inline int index_version_chunk_refs(struct index *ix, int64_t version,
					   int (*cb)(void *ctx, const struct chunk_ref *refs,
						     size_t n),
					   void *ctx);
static inline int index_all_chunk_lists(
	struct index *ix, int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n), void *ctx);
/* Deletes a version's node rows and its row; later copies whose origin was
 * one of its nodes point to that node's origin instead. Chunk references
 * are the caller's (index_version_chunk_refs first). -ENOENT: no version
 * row (nothing changed). In a transaction. */
static inline int index_version_purge(struct index *ix, int64_t version);

/* Every chunk row (hash, refs). */
static inline int index_chunk_rows(struct index *ix,
				   int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
				   void *ctx);
/* The chunk rows nothing references (refs <= 0), as index_chunk_rows. */
static inline int index_chunks_unreferenced(struct index *ix,
					    int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
					    void *ctx);
/* Deletes the chunk's row if still unreferenced; -ENOENT when there is no
 * such row (none, or referenced again). In a transaction. */
static inline int index_chunk_forget_unreferenced(struct index *ix, const uint8_t *hash);

/* The engine's own integrity check, then the rows' consistency (committed
 * versions, versions, roots and nodes that point at missing rows): cb gets
 * one text per problem, and the engine's message when a check cannot run.
 * Returns 0 or cb's non-zero. */
static inline int index_check_consistency(struct index *ix,
					  int (*cb)(void *ctx, const char *problem), void *ctx);

/* ==== several mounts of one store (index_multi_ops in index_backend.h) ====
 * Only a backend whose lock is a shared lease has them: index_multi is
 * false for the others (SQLite), and the verbs below must not be called. */
static inline bool index_multi(const struct index_ops *ops);
/* A descriptor to poll for changes by others, or -1 (index_backend.h). */
static inline int index_notify_fd(struct index *ix);
static inline int64_t index_lease_id(const struct index_ops *ops, struct index_lock *lk);
static inline bool index_lease_lost(const struct index_ops *ops, struct index_lock *lk);
static inline int index_mounts_reap(struct index *ix, int64_t **dead, size_t *n);
static inline int index_mount_ckpts(struct index *ix, int64_t mount, int64_t **ids, size_t *n);
static inline int index_ckpts_unowned(struct index *ix, int64_t **ids, size_t *n);
static inline int index_mount_forget(struct index *ix, int64_t mount);
static inline int index_writer_add(struct index *ix, int64_t ckpt, int64_t mount, int delta);
static inline int index_writers_busy(struct index *ix, int64_t ckpt, int64_t self,
				     int64_t settle_ms, bool *busy);
/* What index_chunks_hold found of each chunk's row. */
enum index_hold { INDEX_HOLD_KEPT, INDEX_HOLD_MADE, INDEX_HOLD_DYING };
static inline int index_chunks_hold(struct index *ix, const struct chunk_ref *refs,
				    const uint32_t *stored, const uint8_t *codecs, size_t n,
				    uint8_t *state);
static inline int index_gc_lead(struct index *ix, bool take, bool *lead);
static inline int index_chunk_mark_dying(struct index *ix, const uint8_t *hash, int64_t grace_ms);
static inline int index_chunk_forget_dying(struct index *ix, const uint8_t *hash);
static inline int index_chunk_claim_orphan(struct index *ix, const uint8_t *hash);

#include "index_backend.h"

#endif
