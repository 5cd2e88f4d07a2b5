/* The index backend seam: the ops table behind core/index.h.
 *
 * index.h documents every verb; this header is how a verb reaches an
 * engine. Modelled on git's struct ref_storage_be (refs/refs-internal.h) and
 * on core/chunk_backend.h: an open index is a struct index whose first
 * member points at its backend's ops, and each public verb is a static
 * inline dispatcher (index_node_get(ix, ...) is ix->ops->node->node_get(ix,
 * ...)), so the store's modules call the verbs and never see the engine.
 * Backends:
 *   index_sqlite_ops  "sqlite": STORE/index.db (core/index_sqlite*.c)
 * A PostgreSQL backend maps tx_* to its transactions, set_durable to
 * synchronous_commit, changed_externally to LISTEN/NOTIFY (or a counter
 * row), lock to pg_advisory_lock held on a connection of its own, and the
 * "conflict -> -EEXIST" rule to SQLSTATE 23505.
 *
 * The verbs come in groups, one table each, as index.h's sections: store
 * (info, events, policy, stats), ckpt (checkpoints, versions, metrics), node
 * (the tree and chunk lists), chunk (chunk references, damage), gc
 * (retention, gc, verify, recovery). A backend may implement each group in
 * its own file and export the group's table; every member is required.
 * Member names are the verb's without "index_"; conventions (errno, who
 * frees, locking) are the verb's in index.h.
 */
#ifndef CKPT_INDEX_BACKEND_H
#define CKPT_INDEX_BACKEND_H

#include "index.h"

/* One open index. Backends embed it as their first member and cast. */
struct index {
	const struct index_ops *ops;
};

/* A held single-writer lock (the backend's own). */
struct index_lock;

struct index_store_ops {
	int (*info_get)(struct index *ix, const char *key, int64_t *value);
	int (*info_get_text)(struct index *ix, const char *key, char **value);
	int (*info_put_text)(struct index *ix, const char *key, const char *value);
	int (*event_add)(struct index *ix, int64_t time, const char *event, const char *name,
			 const char *rule);
	int (*events_newest)(struct index *ix, size_t max,
			     int (*cb)(void *ctx, const struct index_event *ev), void *ctx);
	int (*events_after)(struct index *ix, int64_t after_id, size_t max,
			    int (*cb)(void *ctx, const struct index_event *ev), void *ctx);
	int (*policy_foreach)(struct index *ix,
			      int (*cb)(void *ctx, const char *key, const char *value), void *ctx);
	int (*policy_clear)(struct index *ix);
	int (*policy_put)(struct index *ix, const char *key, const char *value);
	int (*stats_get)(struct index *ix, struct store_stats *out);
};

struct index_ckpt_ops {
	int (*ckpt_row)(struct index *ix, int64_t id, struct index_ckpt_row *out);
	int (*ckpt_get)(struct index *ix, int64_t id, struct ckpt_info *out);
	int (*ckpt_get_live)(struct index *ix, const char *name, struct ckpt_info *out);
	int (*ckpt_live_id)(struct index *ix, const char *name, int64_t *id);
	int (*ckpt_get_aborted)(struct index *ix, const char *name, int64_t rank,
				struct ckpt_info *out);
	int (*ckpt_aborted_rank)(struct index *ix, const char *name, int64_t ended_at, int64_t id,
				 int64_t *rank);
	int (*ckpt_name)(struct index *ix, int64_t id, char **out);
	int (*ckpt_foreach)(struct index *ix, bool all, index_ckpt_cb cb, void *ctx);
	int (*ckpt_latest)(struct index *ix, int64_t *id, int64_t *committed_version);
	int (*ckpt_best)(struct index *ix, const char *metric, int dir, int64_t *id,
			 int64_t *committed_version);
	int (*ckpt_insert)(struct index *ix, const char *name, int kind, int64_t now, int64_t *id);
	int (*ckpt_insert_aborted)(struct index *ix, const char *name, int kind, int64_t now,
				   const char *note, int64_t version, int64_t *id);
	int (*ckpt_set_versions)(struct index *ix, int64_t id, int64_t version, int64_t staging);
	int (*ckpt_set_aborted)(struct index *ix, int64_t id, int64_t now, const char *note,
				int64_t version);
	int (*ckpt_set_deleted)(struct index *ix, int64_t id, int64_t now, const char *rule);
	int (*ckpt_set_committed)(struct index *ix, int64_t id, const struct index_commit *c);
	int (*ckpt_rename)(struct index *ix, int64_t id, const char *name);
	int (*ckpt_set_withdrawn)(struct index *ix, int64_t id);
	int (*ckpt_set_step)(struct index *ix, int64_t id, int64_t step);
	int (*ckpt_set_epoch)(struct index *ix, int64_t id, double epoch);
	int (*ckpt_set_pinned)(struct index *ix, int64_t id, bool pinned);
	int (*ckpt_set_state)(struct index *ix, int64_t id, int state, int64_t now,
			      const char *rule);
	int (*ckpt_insert_copy)(struct index *ix, int64_t src, int64_t version, int state,
				int64_t now, const char *rule, int64_t *id);
	int (*ckpt_trashed)(struct index *ix, index_ckpt_cb cb, void *ctx);
	int (*version_insert)(struct index *ix, int64_t ckpt, int64_t now, int64_t *id);
	int (*version_create_root)(struct index *ix, int64_t version, uint32_t mode, int64_t now_ns,
				   int64_t *root);
	int (*version_set_state)(struct index *ix, int64_t version, int state);
	int (*version_move)(struct index *ix, int64_t version, int state, int64_t ckpt);
	int (*versions_of_ckpt_set_state)(struct index *ix, int64_t ckpt, int state);
	int (*version_copy_tree)(struct index *ix, int64_t src, int64_t dst);
	int (*version_chunk_lists)(struct index *ix, int64_t version, index_file_cb cb, void *ctx);
	int (*version_files)(struct index *ix, int64_t version, index_file_cb cb, void *ctx);
	int (*version_file_bytes)(struct index *ix, int64_t version, uint64_t *bytes);
	int (*metric_foreach)(struct index *ix, int64_t ckpt, index_metric_cb cb, void *ctx);
	int (*metric_foreach_xattr)(struct index *ix, int64_t ckpt, index_metric_cb cb, void *ctx);
	int (*metric_set_xattr)(struct index *ix, int64_t ckpt, const char *name, double value);
	int (*metric_remove_xattr)(struct index *ix, int64_t ckpt, const char *name);
	int (*metric_clear_derived)(struct index *ix, int64_t ckpt);
	int (*metric_add)(struct index *ix, int64_t ckpt, const struct metric *m);
	int (*metric_update_eligible)(struct index *ix, int64_t ckpt);
	int (*metric_names)(struct index *ix, index_name_cb cb, void *ctx);
};

struct index_node_ops {
	int (*node_get)(struct index *ix, int64_t id, struct index_node *out);
	int (*node_root)(struct index *ix, int64_t version, struct index_node *out);
	int (*node_lookup)(struct index *ix, int64_t parent, const char *name,
			   struct index_node *out);
	int (*node_children)(struct index *ix, int64_t dir,
			     int (*cb)(void *ctx, const struct store_dirent *e), void *ctx);
	int (*node_has_children)(struct index *ix, int64_t id, bool *yes);
	int (*node_name)(struct index *ix, int64_t id, int64_t *parent, char **name);
	int (*node_target)(struct index *ix, int64_t id, uint32_t *mode, char **target);
	int (*node_chunks)(struct index *ix, int64_t id, struct chunk_ref **refs, size_t *n,
			   uint64_t *size);
	int (*node_successor)(struct index *ix, int64_t origin, int64_t ckpt, int64_t *next);
	int (*node_insert)(struct index *ix, const struct index_node *n, const char *name,
			   const char *target, int64_t *id);
	int (*node_delete)(struct index *ix, int64_t id);
	int (*node_touch)(struct index *ix, int64_t id, int64_t now_ns);
	int (*node_move)(struct index *ix, int64_t id, int64_t parent, const char *name,
			 int64_t now_ns);
	int (*node_set_attrs)(struct index *ix, int64_t id, const struct index_node_attrs *a);
	int (*node_set_chunks)(struct index *ix, int64_t id, const struct chunk_ref *refs, size_t n,
			       uint64_t size, int64_t mtime_ns);
	int (*ckpt_head_version)(struct index *ix, int64_t ckpt, int *state, int64_t *version);
	int (*ckpt_withdraw_if_committed)(struct index *ix, int64_t ckpt, bool *done);
	int (*ckpt_add_stored)(struct index *ix, int64_t ckpt, uint64_t bytes);
};

struct index_chunk_ops {
	int (*chunk_ref)(struct index *ix, const struct chunk_ref *r, int delta, uint32_t stored,
			 int codec);
	int (*chunk_exists)(struct index *ix, const uint8_t *hash);
	int (*chunk_get)(struct index *ix, const uint8_t *hash, int64_t *refs, uint32_t *stored);
	int (*chunk_users)(struct index *ix, const uint8_t *hash,
			   int (*cb)(void *ctx, const char *ckpt_name), void *ctx);
	int (*damage_add)(struct index *ix, const uint8_t *hash, int64_t found_at, const char *how);
	int (*damage_exists)(struct index *ix, const uint8_t *hash);
	int (*damage_del)(struct index *ix, const uint8_t *hash);
};

struct index_gc_ops {
	int (*ckpt_committed)(struct index *ix, struct index_committed **out, size_t *n);
	int (*ckpt_aborted_ids)(struct index *ix, int64_t **ids, size_t *n);
	int (*ckpt_unfinished_ids)(struct index *ix, int64_t **ids, size_t *n);
	int (*ckpt_deletable)(struct index *ix, int64_t ckpt_id, bool *ok);
	int (*ckpt_version_kind)(struct index *ix, int64_t ckpt_id, int64_t *version, int *kind);
	int (*version_dead_ids)(struct index *ix, int64_t **ids, size_t *n);
	int (*version_nodes)(struct index *ix, int64_t version,
			     int (*cb)(void *ctx, int64_t id, uint32_t mode, uint64_t size),
			     void *ctx);
	int (*version_chunk_refs)(struct index *ix, int64_t version,
				  int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n),
				  void *ctx);
	int (*all_chunk_lists)(struct index *ix,
			       int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n),
			       void *ctx);
	int (*version_purge)(struct index *ix, int64_t version);
	int (*chunk_rows)(struct index *ix, int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
			  void *ctx);
	int (*chunks_unreferenced)(struct index *ix,
				   int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
				   void *ctx);
	int (*chunk_forget_unreferenced)(struct index *ix, const uint8_t *hash);
	int (*check_consistency)(struct index *ix, int (*cb)(void *ctx, const char *problem),
				 void *ctx);
};

/* Several mounts of one store: a backend whose lock is a lease that many
 * mounts hold at once (PostgreSQL). NULL for a single-writer backend. The
 * times are the index's own clock (ms), so nodes' clocks need not agree. */
struct index_multi_ops {
	/* This mount's lease id (its row in the index), and whether it was
	 * lost: reaped by another mount after missing its heartbeats. */
	int64_t (*lease_id)(struct index_lock *lk);
	bool (*lease_lost)(struct index_lock *lk);
	/* Removes the leases that expired; *dead (malloc'd) their ids. */
	int (*mounts_reap)(struct index *ix, int64_t **dead, size_t *n);
	/* Staging checkpoints mount took part in (created, wrote to). */
	int (*mount_ckpts)(struct index *ix, int64_t mount, int64_t **ids, size_t *n);
	/* Staging checkpoints no live mount takes part in (left by mounts
	 * that unmounted), seen in a transaction. */
	int (*ckpts_unowned)(struct index *ix, int64_t **ids, size_t *n);
	/* Forgets what mount registered (writer rows, chunk holds). */
	int (*mount_forget)(struct index *ix, int64_t mount);
	/* Writer registry: delta +1 at an open for writing, -1 at its last
	 * close, 0 for another change; stamps the row's last change. */
	int (*writer_add)(struct index *ix, int64_t ckpt, int64_t mount, int delta);
	/* Whether a mount other than self has a writer open on ckpt or
	 * changed it less than settle_ms ago (settle_ms < 0: open writers
	 * only; INT64_MAX / 4: took part in it at all). */
	int (*writers_busy)(struct index *ix, int64_t ckpt, int64_t self, int64_t settle_ms,
			    bool *busy);
	/* gc across mounts. A writer relies on the n chunks refs[] from now
	 * on (it just stored them, or found them stored): in one statement
	 * their rows are stamped as touched now, so gc leaves them alone for
	 * its grace period; a chunk without a row gets one (refs 0, stored[i]
	 * bytes, codec codecs[i]). state[i] (enum index_hold) says what the
	 * row was: there (stamped), made now (a file the writer found before
	 * may be one gc deleted meanwhile), or dying (gc is deleting it; not
	 * stamped: wait, then hold and store it again). A hash may appear
	 * more than once. */
	int (*chunks_hold)(struct index *ix, const struct chunk_ref *refs, const uint32_t *stored,
			   const uint8_t *codecs, size_t n, uint8_t *state);
	/* The one gc leader: take (true) sets *lead when this mount got it;
	 * take false gives it back. */
	int (*gc_lead)(struct index *ix, bool take, bool *lead);
	/* Marks chunk hash dying when nothing references it and nothing
	 * touched it for grace_ms (or an interrupted gc left it dying):
	 * -ENOENT when it is not to be deleted. Its file is then deleted, and
	 * chunk_forget_dying deletes the row. */
	int (*chunk_mark_dying)(struct index *ix, const uint8_t *hash, int64_t grace_ms);
	int (*chunk_forget_dying)(struct index *ix, const uint8_t *hash);
	/* A chunk file without a row, to be deleted: claimed by a dying row
	 * (then forgotten as above); -EEXIST when it has a row now. */
	int (*chunk_claim_orphan)(struct index *ix, const uint8_t *hash);
};

struct index_ops {
	const char *name; /* "sqlite": what a store address names */

	/* Opens the index at where (its meaning is the backend's: the store
	 * directory for sqlite); flags and results as index_open. */
	int (*open)(const struct index_ops *ops, const char *where, int flags, struct index **out,
		    enum index_none *none, char *err, size_t err_len);
	/* The single-writer lock of the store at where, as index_lock: taken
	 * before open by the one read-write opener; unlock releases it (NULL
	 * is fine); held_elsewhere looks without taking. */
	int (*lock)(const char *where, struct index_lock **out, char *err, size_t err_len);
	void (*unlock)(struct index_lock *lk);
	bool (*lock_held_elsewhere)(const char *where);

	/* connection and transactions, close */
	int (*tx_begin)(struct index *ix);
	int (*tx_commit)(struct index *ix);
	void (*tx_rollback)(struct index *ix);
	int (*set_durable)(struct index *ix, bool durable);
	/* 1 changed, 0 not, or negative errno: -ENOTCONN while the connection
	 * to an index server is lost (every verb then fails with -EIO until a
	 * later call reconnects). */
	int (*changed_externally)(struct index *ix);
	/* A descriptor that becomes readable when changed_externally may say
	 * yes (PostgreSQL: its LISTEN socket); NULL or -1: none (watch the
	 * store's files instead). */
	int (*notify_fd)(struct index *ix);
	int (*last_errno)(struct index *ix);
	const char *(*last_error)(struct index *ix);
	void (*close)(struct index *ix, bool fold_wal);

	const struct index_store_ops *store;
	const struct index_ckpt_ops *ckpt;
	const struct index_node_ops *node;
	const struct index_chunk_ops *chunk;
	const struct index_gc_ops *gc;
	const struct index_multi_ops *multi; /* NULL: one writer at a time */
};

extern const struct index_ops index_sqlite_ops;
extern const struct index_ops index_pg_ops;

/* The backend of that name, or NULL. */
const struct index_ops *index_backend_find(const char *name);

/* The flock on DIR/lock that a backend keeping its index in the store
 * directory uses for lock/unlock/lock_held_elsewhere (core/index_flock.c):
 * a crashed holder's lock dies with its process; the holder's pid is
 * written into the file for the next opener's message. */
int index_flock_take(const char *dir, struct index_lock **out, char *err, size_t err_len);
void index_flock_release(struct index_lock *lk);
bool index_flock_held_elsewhere(const char *dir);

/* ---- dispatchers (declared and documented in index.h) ---- */

static inline int index_open(const struct index_ops *ops, const char *where, int flags,
			     struct index **out, enum index_none *none, char *err, size_t err_len)
{
	return ops->open(ops, where, flags, out, none, err, err_len);
}

static inline int index_open_sqlite(const char *dir, int flags, struct index **out,
				    enum index_none *none, char *err, size_t err_len)
{
	return index_open(&index_sqlite_ops, dir, flags, out, none, err, err_len);
}

static inline int index_lock(const struct index_ops *ops, const char *where,
			     struct index_lock **out, char *err, size_t err_len)
{
	return ops->lock(where, out, err, err_len);
}

static inline void index_unlock(const struct index_ops *ops, struct index_lock *lk)
{
	ops->unlock(lk);
}

static inline bool index_lock_held_elsewhere(const struct index_ops *ops, const char *where)
{
	return ops->lock_held_elsewhere(where);
}

static inline int index_tx_begin(struct index *ix)
{
	return ix->ops->tx_begin(ix);
}

static inline int index_tx_commit(struct index *ix)
{
	return ix->ops->tx_commit(ix);
}

static inline void index_tx_rollback(struct index *ix)
{
	ix->ops->tx_rollback(ix);
}

static inline int index_tx_end(struct index *ix, int rc)
{
	if (rc != 0) {
		index_tx_rollback(ix);
		return rc;
	}
	return index_tx_commit(ix);
}

static inline int index_set_durable(struct index *ix, bool durable)
{
	return ix->ops->set_durable(ix, durable);
}

static inline int index_changed_externally(struct index *ix)
{
	return ix->ops->changed_externally(ix);
}

static inline int index_last_errno(struct index *ix)
{
	return ix->ops->last_errno(ix);
}

static inline const char *index_last_error(struct index *ix)
{
	return ix ? ix->ops->last_error(ix) : "cannot open the index";
}

static inline void index_close(struct index *ix, bool fold_wal)
{
	if (ix)
		ix->ops->close(ix, fold_wal);
}

static inline int index_info_get(struct index *ix, const char *key, int64_t *value)
{
	return ix->ops->store->info_get(ix, key, value);
}

static inline int index_info_get_text(struct index *ix, const char *key, char **value)
{
	return ix->ops->store->info_get_text(ix, key, value);
}

static inline int index_info_put_text(struct index *ix, const char *key, const char *value)
{
	return ix->ops->store->info_put_text(ix, key, value);
}

static inline int index_event_add(struct index *ix, int64_t time, const char *event,
				  const char *name, const char *rule)
{
	return ix->ops->store->event_add(ix, time, event, name, rule);
}

static inline int index_events_newest(struct index *ix, size_t max,
				      int (*cb)(void *ctx, const struct index_event *ev), void *ctx)
{
	return ix->ops->store->events_newest(ix, max, cb, ctx);
}

static inline int index_events_after(struct index *ix, int64_t after_id, size_t max,
				     int (*cb)(void *ctx, const struct index_event *ev), void *ctx)
{
	return ix->ops->store->events_after(ix, after_id, max, cb, ctx);
}

static inline int index_policy_foreach(struct index *ix,
				       int (*cb)(void *ctx, const char *key, const char *value),
				       void *ctx)
{
	return ix->ops->store->policy_foreach(ix, cb, ctx);
}

static inline int index_policy_clear(struct index *ix)
{
	return ix->ops->store->policy_clear(ix);
}

static inline int index_policy_put(struct index *ix, const char *key, const char *value)
{
	return ix->ops->store->policy_put(ix, key, value);
}

static inline int index_stats_get(struct index *ix, struct store_stats *out)
{
	return ix->ops->store->stats_get(ix, out);
}

static inline int index_ckpt_row(struct index *ix, int64_t id, struct index_ckpt_row *out)
{
	return ix->ops->ckpt->ckpt_row(ix, id, out);
}

static inline int index_ckpt_get(struct index *ix, int64_t id, struct ckpt_info *out)
{
	return ix->ops->ckpt->ckpt_get(ix, id, out);
}

static inline int index_ckpt_get_live(struct index *ix, const char *name, struct ckpt_info *out)
{
	return ix->ops->ckpt->ckpt_get_live(ix, name, out);
}

static inline int index_ckpt_live_id(struct index *ix, const char *name, int64_t *id)
{
	return ix->ops->ckpt->ckpt_live_id(ix, name, id);
}

static inline int index_ckpt_get_aborted(struct index *ix, const char *name, int64_t rank,
					 struct ckpt_info *out)
{
	return ix->ops->ckpt->ckpt_get_aborted(ix, name, rank, out);
}

static inline int index_ckpt_aborted_rank(struct index *ix, const char *name, int64_t ended_at,
					  int64_t id, int64_t *rank)
{
	return ix->ops->ckpt->ckpt_aborted_rank(ix, name, ended_at, id, rank);
}

static inline int index_ckpt_name(struct index *ix, int64_t id, char **out)
{
	return ix->ops->ckpt->ckpt_name(ix, id, out);
}

static inline int index_ckpt_foreach(struct index *ix, bool all, index_ckpt_cb cb, void *ctx)
{
	return ix->ops->ckpt->ckpt_foreach(ix, all, cb, ctx);
}

static inline int index_ckpt_latest(struct index *ix, int64_t *id, int64_t *committed_version)
{
	return ix->ops->ckpt->ckpt_latest(ix, id, committed_version);
}

static inline int index_ckpt_best(struct index *ix, const char *metric, int dir, int64_t *id,
				  int64_t *committed_version)
{
	return ix->ops->ckpt->ckpt_best(ix, metric, dir, id, committed_version);
}

static inline int index_ckpt_insert(struct index *ix, const char *name, int kind, int64_t now,
				    int64_t *id)
{
	return ix->ops->ckpt->ckpt_insert(ix, name, kind, now, id);
}

static inline int index_ckpt_insert_aborted(struct index *ix, const char *name, int kind,
					    int64_t now, const char *note, int64_t version,
					    int64_t *id)
{
	return ix->ops->ckpt->ckpt_insert_aborted(ix, name, kind, now, note, version, id);
}

static inline int index_ckpt_set_versions(struct index *ix, int64_t id, int64_t version,
					  int64_t staging)
{
	return ix->ops->ckpt->ckpt_set_versions(ix, id, version, staging);
}

static inline int index_ckpt_set_aborted(struct index *ix, int64_t id, int64_t now,
					 const char *note, int64_t version)
{
	return ix->ops->ckpt->ckpt_set_aborted(ix, id, now, note, version);
}

static inline int index_ckpt_set_deleted(struct index *ix, int64_t id, int64_t now,
					 const char *rule)
{
	return ix->ops->ckpt->ckpt_set_deleted(ix, id, now, rule);
}

static inline int index_ckpt_set_committed(struct index *ix, int64_t id,
					   const struct index_commit *c)
{
	return ix->ops->ckpt->ckpt_set_committed(ix, id, c);
}

static inline int index_ckpt_rename(struct index *ix, int64_t id, const char *name)
{
	return ix->ops->ckpt->ckpt_rename(ix, id, name);
}

static inline int index_ckpt_set_withdrawn(struct index *ix, int64_t id)
{
	return ix->ops->ckpt->ckpt_set_withdrawn(ix, id);
}

static inline int index_ckpt_set_step(struct index *ix, int64_t id, int64_t step)
{
	return ix->ops->ckpt->ckpt_set_step(ix, id, step);
}

static inline int index_ckpt_set_epoch(struct index *ix, int64_t id, double epoch)
{
	return ix->ops->ckpt->ckpt_set_epoch(ix, id, epoch);
}

static inline int index_ckpt_set_pinned(struct index *ix, int64_t id, bool pinned)
{
	return ix->ops->ckpt->ckpt_set_pinned(ix, id, pinned);
}

static inline int index_ckpt_set_state(struct index *ix, int64_t id, int state, int64_t now,
				       const char *rule)
{
	return ix->ops->ckpt->ckpt_set_state(ix, id, state, now, rule);
}

static inline int index_ckpt_insert_copy(struct index *ix, int64_t src, int64_t version, int state,
					 int64_t now, const char *rule, int64_t *id)
{
	return ix->ops->ckpt->ckpt_insert_copy(ix, src, version, state, now, rule, id);
}

static inline int index_ckpt_trashed(struct index *ix, index_ckpt_cb cb, void *ctx)
{
	return ix->ops->ckpt->ckpt_trashed(ix, cb, ctx);
}

static inline int index_version_insert(struct index *ix, int64_t ckpt, int64_t now, int64_t *id)
{
	return ix->ops->ckpt->version_insert(ix, ckpt, now, id);
}

static inline int index_version_create_root(struct index *ix, int64_t version, uint32_t mode,
					    int64_t now_ns, int64_t *root)
{
	return ix->ops->ckpt->version_create_root(ix, version, mode, now_ns, root);
}

static inline int index_version_set_state(struct index *ix, int64_t version, int state)
{
	return ix->ops->ckpt->version_set_state(ix, version, state);
}

static inline int index_version_move(struct index *ix, int64_t version, int state, int64_t ckpt)
{
	return ix->ops->ckpt->version_move(ix, version, state, ckpt);
}

static inline int index_versions_of_ckpt_set_state(struct index *ix, int64_t ckpt, int state)
{
	return ix->ops->ckpt->versions_of_ckpt_set_state(ix, ckpt, state);
}

static inline int index_version_copy_tree(struct index *ix, int64_t src, int64_t dst)
{
	return ix->ops->ckpt->version_copy_tree(ix, src, dst);
}

static inline int index_version_chunk_lists(struct index *ix, int64_t version, index_file_cb cb,
					    void *ctx)
{
	return ix->ops->ckpt->version_chunk_lists(ix, version, cb, ctx);
}

static inline int index_version_files(struct index *ix, int64_t version, index_file_cb cb,
				      void *ctx)
{
	return ix->ops->ckpt->version_files(ix, version, cb, ctx);
}

static inline int index_version_file_bytes(struct index *ix, int64_t version, uint64_t *bytes)
{
	return ix->ops->ckpt->version_file_bytes(ix, version, bytes);
}

static inline int index_metric_foreach(struct index *ix, int64_t ckpt, index_metric_cb cb,
				       void *ctx)
{
	return ix->ops->ckpt->metric_foreach(ix, ckpt, cb, ctx);
}

static inline int index_metric_foreach_xattr(struct index *ix, int64_t ckpt, index_metric_cb cb,
					     void *ctx)
{
	return ix->ops->ckpt->metric_foreach_xattr(ix, ckpt, cb, ctx);
}

static inline int index_metric_set_xattr(struct index *ix, int64_t ckpt, const char *name,
					 double value)
{
	return ix->ops->ckpt->metric_set_xattr(ix, ckpt, name, value);
}

static inline int index_metric_remove_xattr(struct index *ix, int64_t ckpt, const char *name)
{
	return ix->ops->ckpt->metric_remove_xattr(ix, ckpt, name);
}

static inline int index_metric_clear_derived(struct index *ix, int64_t ckpt)
{
	return ix->ops->ckpt->metric_clear_derived(ix, ckpt);
}

static inline int index_metric_add(struct index *ix, int64_t ckpt, const struct metric *m)
{
	return ix->ops->ckpt->metric_add(ix, ckpt, m);
}

static inline int index_metric_update_eligible(struct index *ix, int64_t ckpt)
{
	return ix->ops->ckpt->metric_update_eligible(ix, ckpt);
}

static inline int index_metric_names(struct index *ix, index_name_cb cb, void *ctx)
{
	return ix->ops->ckpt->metric_names(ix, cb, ctx);
}

static inline int index_node_get(struct index *ix, int64_t id, struct index_node *out)
{
	return ix->ops->node->node_get(ix, id, out);
}

static inline int index_node_root(struct index *ix, int64_t version, struct index_node *out)
{
	return ix->ops->node->node_root(ix, version, out);
}

static inline int index_node_lookup(struct index *ix, int64_t parent, const char *name,
				    struct index_node *out)
{
	return ix->ops->node->node_lookup(ix, parent, name, out);
}

static inline int index_node_children(struct index *ix, int64_t dir,
				      int (*cb)(void *ctx, const struct store_dirent *e), void *ctx)
{
	return ix->ops->node->node_children(ix, dir, cb, ctx);
}

static inline int index_node_has_children(struct index *ix, int64_t id, bool *yes)
{
	return ix->ops->node->node_has_children(ix, id, yes);
}

static inline int index_node_name(struct index *ix, int64_t id, int64_t *parent, char **name)
{
	return ix->ops->node->node_name(ix, id, parent, name);
}

static inline int index_node_target(struct index *ix, int64_t id, uint32_t *mode, char **target)
{
	return ix->ops->node->node_target(ix, id, mode, target);
}

static inline int index_node_chunks(struct index *ix, int64_t id, struct chunk_ref **refs,
				    size_t *n, uint64_t *size)
{
	return ix->ops->node->node_chunks(ix, id, refs, n, size);
}

static inline int index_node_successor(struct index *ix, int64_t origin, int64_t ckpt,
				       int64_t *next)
{
	return ix->ops->node->node_successor(ix, origin, ckpt, next);
}

static inline int index_node_insert(struct index *ix, const struct index_node *n, const char *name,
				    const char *target, int64_t *id)
{
	return ix->ops->node->node_insert(ix, n, name, target, id);
}

static inline int index_node_delete(struct index *ix, int64_t id)
{
	return ix->ops->node->node_delete(ix, id);
}

static inline int index_node_touch(struct index *ix, int64_t id, int64_t now_ns)
{
	return ix->ops->node->node_touch(ix, id, now_ns);
}

static inline int index_node_move(struct index *ix, int64_t id, int64_t parent, const char *name,
				  int64_t now_ns)
{
	return ix->ops->node->node_move(ix, id, parent, name, now_ns);
}

static inline int index_node_set_attrs(struct index *ix, int64_t id,
				       const struct index_node_attrs *a)
{
	return ix->ops->node->node_set_attrs(ix, id, a);
}

static inline int index_node_set_chunks(struct index *ix, int64_t id, const struct chunk_ref *refs,
					size_t n, uint64_t size, int64_t mtime_ns)
{
	return ix->ops->node->node_set_chunks(ix, id, refs, n, size, mtime_ns);
}

static inline int index_ckpt_head_version(struct index *ix, int64_t ckpt, int *state,
					  int64_t *version)
{
	return ix->ops->node->ckpt_head_version(ix, ckpt, state, version);
}

static inline int index_ckpt_withdraw_if_committed(struct index *ix, int64_t ckpt, bool *done)
{
	return ix->ops->node->ckpt_withdraw_if_committed(ix, ckpt, done);
}

static inline int index_ckpt_add_stored(struct index *ix, int64_t ckpt, uint64_t bytes)
{
	return ix->ops->node->ckpt_add_stored(ix, ckpt, bytes);
}

static inline int index_chunk_ref(struct index *ix, const struct chunk_ref *r, int delta,
				  uint32_t stored, int codec)
{
	return ix->ops->chunk->chunk_ref(ix, r, delta, stored, codec);
}

static inline int index_chunk_exists(struct index *ix, const uint8_t *hash)
{
	return ix->ops->chunk->chunk_exists(ix, hash);
}

static inline int index_chunk_get(struct index *ix, const uint8_t *hash, int64_t *refs,
				  uint32_t *stored)
{
	return ix->ops->chunk->chunk_get(ix, hash, refs, stored);
}

static inline int index_chunk_users(struct index *ix, const uint8_t *hash,
				    int (*cb)(void *ctx, const char *ckpt_name), void *ctx)
{
	return ix->ops->chunk->chunk_users(ix, hash, cb, ctx);
}

static inline int index_damage_add(struct index *ix, const uint8_t *hash, int64_t found_at,
				   const char *how)
{
	return ix->ops->chunk->damage_add(ix, hash, found_at, how);
}

static inline int index_damage_exists(struct index *ix, const uint8_t *hash)
{
	return ix->ops->chunk->damage_exists(ix, hash);
}

static inline int index_damage_del(struct index *ix, const uint8_t *hash)
{
	return ix->ops->chunk->damage_del(ix, hash);
}

static inline int index_ckpt_committed(struct index *ix, struct index_committed **out, size_t *n)
{
	return ix->ops->gc->ckpt_committed(ix, out, n);
}

static inline int index_ckpt_aborted_ids(struct index *ix, int64_t **ids, size_t *n)
{
	return ix->ops->gc->ckpt_aborted_ids(ix, ids, n);
}

static inline int index_ckpt_unfinished_ids(struct index *ix, int64_t **ids, size_t *n)
{
	return ix->ops->gc->ckpt_unfinished_ids(ix, ids, n);
}

static inline int index_ckpt_deletable(struct index *ix, int64_t ckpt_id, bool *ok)
{
	return ix->ops->gc->ckpt_deletable(ix, ckpt_id, ok);
}

static inline int index_ckpt_version_kind(struct index *ix, int64_t ckpt_id, int64_t *version,
					  int *kind)
{
	return ix->ops->gc->ckpt_version_kind(ix, ckpt_id, version, kind);
}

static inline int index_version_dead_ids(struct index *ix, int64_t **ids, size_t *n)
{
	return ix->ops->gc->version_dead_ids(ix, ids, n);
}

static inline int index_version_nodes(struct index *ix, int64_t version,
				      int (*cb)(void *ctx, int64_t id, uint32_t mode,
						uint64_t size),
				      void *ctx)
{
	return ix->ops->gc->version_nodes(ix, version, cb, ctx);
}

static inline int index_version_chunk_refs(struct index *ix, int64_t version,
					   int (*cb)(void *ctx, const struct chunk_ref *refs,
						     size_t n),
					   void *ctx)
{
	return ix->ops->gc->version_chunk_refs(ix, version, cb, ctx);
}

static inline int index_all_chunk_lists(
	struct index *ix, int (*cb)(void *ctx, const struct chunk_ref *refs, size_t n), void *ctx)
{
	return ix->ops->gc->all_chunk_lists(ix, cb, ctx);
}

static inline int index_version_purge(struct index *ix, int64_t version)
{
	return ix->ops->gc->version_purge(ix, version);
}

static inline int index_chunk_rows(struct index *ix,
				   int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
				   void *ctx)
{
	return ix->ops->gc->chunk_rows(ix, cb, ctx);
}

static inline int index_chunks_unreferenced(struct index *ix,
					    int (*cb)(void *ctx, const uint8_t *hash, int64_t refs),
					    void *ctx)
{
	return ix->ops->gc->chunks_unreferenced(ix, cb, ctx);
}

static inline int index_chunk_forget_unreferenced(struct index *ix, const uint8_t *hash)
{
	return ix->ops->gc->chunk_forget_unreferenced(ix, hash);
}

static inline int index_check_consistency(struct index *ix,
					  int (*cb)(void *ctx, const char *problem), void *ctx)
{
	return ix->ops->gc->check_consistency(ix, cb, ctx);
}

static inline int index_notify_fd(struct index *ix)
{
	return ix->ops->notify_fd ? ix->ops->notify_fd(ix) : -1;
}

static inline bool index_multi(const struct index_ops *ops)
{
	return ops->multi != NULL;
}

static inline int64_t index_lease_id(const struct index_ops *ops, struct index_lock *lk)
{
	return ops->multi->lease_id(lk);
}

static inline bool index_lease_lost(const struct index_ops *ops, struct index_lock *lk)
{
	return ops->multi->lease_lost(lk);
}

static inline int index_mounts_reap(struct index *ix, int64_t **dead, size_t *n)
{
	return ix->ops->multi->mounts_reap(ix, dead, n);
}

static inline int index_mount_ckpts(struct index *ix, int64_t mount, int64_t **ids, size_t *n)
{
	return ix->ops->multi->mount_ckpts(ix, mount, ids, n);
}

static inline int index_ckpts_unowned(struct index *ix, int64_t **ids, size_t *n)
{
	return ix->ops->multi->ckpts_unowned(ix, ids, n);
}

static inline int index_mount_forget(struct index *ix, int64_t mount)
{
	return ix->ops->multi->mount_forget(ix, mount);
}

static inline int index_writer_add(struct index *ix, int64_t ckpt, int64_t mount, int delta)
{
	return ix->ops->multi->writer_add(ix, ckpt, mount, delta);
}

static inline int index_writers_busy(struct index *ix, int64_t ckpt, int64_t self,
				     int64_t settle_ms, bool *busy)
{
	return ix->ops->multi->writers_busy(ix, ckpt, self, settle_ms, busy);
}

static inline int index_chunks_hold(struct index *ix, const struct chunk_ref *refs,
				    const uint32_t *stored, const uint8_t *codecs, size_t n,
				    uint8_t *state)
{
	return ix->ops->multi->chunks_hold(ix, refs, stored, codecs, n, state);
}

static inline int index_gc_lead(struct index *ix, bool take, bool *lead)
{
	return ix->ops->multi->gc_lead(ix, take, lead);
}

static inline int index_chunk_mark_dying(struct index *ix, const uint8_t *hash, int64_t grace_ms)
{
	return ix->ops->multi->chunk_mark_dying(ix, hash, grace_ms);
}

static inline int index_chunk_forget_dying(struct index *ix, const uint8_t *hash)
{
	return ix->ops->multi->chunk_forget_dying(ix, hash);
}

static inline int index_chunk_claim_orphan(struct index *ix, const uint8_t *hash)
{
	return ix->ops->multi->chunk_claim_orphan(ix, hash);
}

#endif
