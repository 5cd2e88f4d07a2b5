/* Private to core/store*.c: the store's in-memory state and helpers shared
 * by its files.
 *
 * Layers (top to bottom; a file calls only files below it, checked by
 * tools/cycles.sh):
 *   store.c        open, close, the event log, policy writes, stats, events
 *   store_ckpt.c   checkpoints: create, versions, commit, abort, delete ...
 *   store_node.c   the tree          store_gc.c  retention, gc, verify, recovery
 *   store_file.c   file data, background hashing
 *   store_rows.c   open-file table, node reads, abort/delete bodies, latest/best
 *   store_damage.c, store_reserve.c
 *   store_base.c   helpers, chunk refcounts, pins, notes, the policy read
 *   held.c, store_free.c; the index (index.h), chunks (chunk.h), util, policy,
 *   retain, meta, format
 *
 * Locks. st->mu guards the index handle and every in-memory table (open
 * files list, held chunks, pins, notes); it is taken through store_mu_lock()
 * / store_mu_unlock(), and a *_locked helper that needs it asserts so at
 * entry (store_assert_mu_held, debug builds). Chunk I/O, hashing and
 * compression never run under it, except chunk_release (gc, a forgotten put)
 * and the checks that decide it. Each open file has its own rwlock (of->rw)
 * over its data state. st->gc_rw orders chunk writers (read side: put + hold)
 * against chunk deletion by gc (write side), so gc never deletes a chunk
 * that a writer has just deduplicated against.
 *
 * Lock order (a thread holding a lock takes only locks to its right):
 *   fs/ locks (fs/fs.h) -> any store lock; the store never calls back into fs/
 *   of->rw -> of->ph_mu -> st->phq_mu          (flush, truncate, queueing a job)
 *   of->rw -> st->gc_rw -> st->mu              (flush's put_held; gc: gc_rw -> mu)
 *   st->mu -> chunk store locks                (chunk_release under put_forget)
 *   sf->cache_mu -> chunk store locks          (chunk_get into a handle's cache)
 *   chunk_dir: barrier_mu -> mu; chunk_mem: mu only
 * st->mu is never held while taking of->rw, gc_rw, ph_mu, phq_mu or
 * cache_mu; of->ph_mu and st->phq_mu are never held while taking st->mu; the
 * background worker takes no of->rw. Nothing is taken recursively.
 */
#ifndef CKPT_STORE_INT_H
#define CKPT_STORE_INT_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>

#include "chunk.h"
#include "chunk_win.h"
#include "held.h"
#include "index.h"
#include "store.h"

/* versions.state */
enum { VER_STAGING = 0, VER_COMMITTED = 1, VER_ABORTED = 2, VER_DEAD = 3 };

#define STORE_NOTES_MAX 64
#define STORE_NOTE_LEN 512
#define STORE_NAME_MAX 255
#define STORE_TREE_MAX (1u << 22) /* nodes of one version: cap for walks */
#define STORE_EVENTS_MAX 100000	  /* newest events returned by store_events */
/* An open file with this many dirty slots is flushed by the next write, so a
 * sequential writer's overlay (and page cache) stays small. */
#define STORE_DIRTY_FLUSH 64

/* One slot's background-hashing state (store_file.c, "background hashing"). */
struct ph_slot {
	struct chunk_ref ref; /* the result, when valid */
	uint32_t seq;	      /* odd while a write changes the slot's bytes */
	uint32_t res_seq;     /* seq the result was read at */
	uint32_t stored;      /* bytes on disk of the result's chunk */
	uint8_t codec;
	bool valid; /* a result, its chunk held in st->held */
	bool isnew; /* chunk_put wrote a new chunk file */
};

/* The one shared state of an open regular file (all handles of a node). */
struct ofile {
	struct store *st;
	int64_t node, version, ckpt;
	int refs;	      /* handles; protected by st->mu */
	struct ofile *next;   /* st->files list; protected by st->mu */
	atomic_bool ro;	      /* version no longer staging: writes refused */
	atomic_bool unlinked; /* node row gone, or its checkpoint deleted: writes go on,
			       * flush keeps data, skips the row */

	pthread_rwlock_t rw;	/* guards everything below */
	struct chunk_ref *base; /* the node row's chunk list (held in st->held) */
	size_t n_base_row;	/* entries of base */
	size_t n_base;		/* leading entries still valid (a truncate cuts) */
	uint64_t size;
	bool meta_dirty;  /* size changed without dirty slots */
	int fd;		  /* overlay STORE/staging/<node>, -1 until written */
	uint8_t *dirty;	  /* bitmap of slots whose bytes live in the overlay */
	size_t dirty_cap; /* slots the bitmap covers */
	uint64_t n_dirty;
	int codec;	/* chunk codec for new chunks; -1 undecided (auto) */
	bool codec_set; /* the first writer's policy chose it */
	int64_t mtime_ns;
	/* The node row's attributes, for a file removed while open (stat
	 * through its handles); protected by st->mu. */
	uint32_t mode;
	int64_t ctime_ns, atime_ns;
	char *path;	  /* "ckpt/path" for corrupt events */
	uint8_t *scratch; /* CHUNK_SIZE, for base copies on write */
	uint32_t grid;	  /* chunk 0's length: the grid (see store_file.c) */
	/* verified chunks its readers share (chunk_win.h); made at the first
	 * read, freed with the ofile; set once (atomic), no lock */
	_Atomic(struct chunk_win *) win;
	_Atomic uint64_t ra_next; /* the slot after the furthest one read */
	bool grid_fixed;	  /* grid chosen at the first write, not at flush */

	pthread_mutex_t ph_mu; /* guards the three below; only phq_mu nests inside */
	pthread_cond_t ph_cv;  /* signalled when ph_jobs drops */
	unsigned ph_jobs;      /* queued or running background jobs */
	struct ph_slot *ph;    /* per slot */
	size_t ph_cap;
};

struct store_file {
	struct ofile *of;
	int flags;
	pthread_mutex_t cache_mu; /* guards the decoded-chunk cache */
	uint8_t *cache;
	uint8_t cache_hash[CHUNK_HASH_LEN];
	uint32_t cache_len;
	bool cache_valid;
};

struct pin_ent {
	int64_t version;
	uint32_t count;
};

struct ph_job {
	struct ofile *of; /* holds a reference */
	uint64_t k, start;
	size_t len;
	int codec;
	struct ph_job *next;
};

struct store {
	char *dir;
	int flags;
	bool locked;		       /* holds STORE/lock: may delete chunk files */
	int64_t init_ns;	       /* when this index was initialised (store_info), read-write
			    opens only: recovery deletes no chunk file older */
	const struct index_ops *ixops; /* the index backend */
	char *ixwhere;		       /* its location: dir, or a PostgreSQL conninfo */
	char *address;		       /* store_address: NULL for dir */
	const struct chunk_backend_ops *chunk_ops; /* the chunk backend */
	char *chunk_where;	 /* its spec when not DIR/chunks (rados: pool=P,...) */
	struct index_lock *lock; /* the backend's single-writer lock, when locked */
	int64_t mount_id;	 /* several mounts (index_multi): this one's lease, else 0 */
	struct index *ix;	 /* the index (core/index.h) */
	struct chunk_store *cs;
	pthread_mutex_t mu;	     /* through store_mu_lock / store_mu_unlock */
	_Atomic(pthread_t) mu_owner; /* debug builds: who holds mu, when mu_owned */
	atomic_bool mu_owned;
	pthread_rwlock_t gc_rw;
	struct ofile *files;
	struct held_set held; /* held chunks; protected by st->mu */
	struct pin_ent *pins;
	size_t n_pins, cap_pins;
	char notes[STORE_NOTES_MAX][STORE_NOTE_LEN];
	size_t notes_head, n_notes;
	char crash_at[64]; /* CKPT_CRASH_AT, read at open */
	bool ix_lost;	   /* the index connection is lost; protected by st->mu */
	char ix_lost_why[256];

	/* the background hashing worker (store_file.c) */
	pthread_mutex_t phq_mu;
	pthread_cond_t phq_cv;
	struct ph_job *phq_head, *phq_tail;
	pthread_t ph_thread;
	bool ph_started, ph_stop;
};

/* ---- st->mu: lock, unlock, and the precondition of a *_locked helper ----
 * Debug builds (NDEBUG unset: the Debug/ASan build) record the owner thread,
 * so store_assert_mu_held() checks that the caller holds st->mu; release
 * builds compile the bookkeeping and the checks out. */
static inline bool store_mu_held(struct store *st)
{
	return atomic_load_explicit(&st->mu_owned, memory_order_relaxed) &&
		pthread_equal(atomic_load_explicit(&st->mu_owner, memory_order_relaxed),
			      pthread_self());
}

static inline void store_mu_lock(struct store *st)
{
	pthread_mutex_lock(&st->mu);
#ifndef NDEBUG
	atomic_store_explicit(&st->mu_owner, pthread_self(), memory_order_relaxed);
	atomic_store_explicit(&st->mu_owned, true, memory_order_relaxed);
#endif
}

static inline void store_mu_unlock(struct store *st)
{
#ifndef NDEBUG
	assert(store_mu_held(st));
	atomic_store_explicit(&st->mu_owned, false, memory_order_relaxed);
#endif
	pthread_mutex_unlock(&st->mu);
}

#define store_assert_mu_held(st) assert(store_mu_held(st))

/* ---- store_base.c: helpers (the bottom layer) ---- */
int store_name_check(const char *name);
int store_rwlock_init(pthread_rwlock_t *l); /* writer-preferring */
int64_t store_now(void);
int64_t store_now_ns(void);
/* CKPT_CRASH_AT=POINT: SIGKILL the process there (crash tests); POINT+MS:
 * sleep MS there instead (race tests). */
void store_crash_point(struct store *st, const char *point);
int store_event_add(struct store *st, const char *event, const char *name, const char *rule);
/* The errno of the index's last error (-EIO for damage), noted once for
 * .ckptfs/status as "index error WHAT: ..." (caller holds st->mu). For
 * lookups whose "not found" answer must never stand in for a failure. */
int store_index_error(struct store *st, const char *what);
bool store_writable(const struct store *st); /* not RDONLY, not SHARED */

/* 1 when the chunk has a row in the index, 0 when not, negative errno
 * (caller holds st->mu). */
int store_chunk_has_row(struct store *st, const uint8_t hash[CHUNK_HASH_LEN]);
/* Chunk reference counting in the index (caller holds st->mu, in a tx). */
int store_chunk_ref(struct store *st, const struct chunk_ref *r, int delta, uint32_t stored,
		    int codec);
int store_chunks_unref_blob(struct store *st, const void *blob, size_t len);
int store_chunks_ref_blob(struct store *st, const void *blob, size_t len);

bool store_version_pinned(struct store *st, int64_t version);
int store_ckpt_name(struct store *st, int64_t ckpt_id, char **out);

/* ---- store_reserve.c: room for the index's writes on a full disk ---- */
#define STORE_RESERVE_MAX (8u << 20)
/* true when rc is -ENOSPC and the reserve had space, now released: the
 * caller runs its (deleting) operation once more. */
bool store_reserve_use(struct store *st, int rc);
/* Releases the reserve of the store in dir when its filesystem is full
 * (less than 1 MiB available); true when it did. */
bool store_reserve_release_full(const char *dir);
/* Allocates the reserve again as far as space allows (lock holder only). */
void store_reserve_fill(struct store *st);

/* ---- store_rows.c: row primitives under the protocol modules ---- */
struct ofile *store_ofile_find(struct store *st, int64_t node); /* under st->mu */
/* Marks open files of version read-only (commit / abort). Under st->mu. */
void store_files_set_ro(struct store *st, int64_t version);
/* The open files of a version whose checkpoint was deleted: removed while
 * open, they take writes until their last close, as after an unlink. */
void store_files_set_unlinked(struct store *st, int64_t version);
/* Node reads (st->mu held). */
int store_node_get_locked(struct store *st, int64_t id, struct store_node *out);
/* The node and its version's state (-1 for a file removed while open). */
int store_node_state_locked(struct store *st, int64_t id, struct store_node *out, int *vstate);
/* A row an index verb read (rc 0) as the store shows it; rc. */
int store_node_shown(struct store *st, int rc, const struct index_node *r, struct store_node *out);
int store_node_path_locked(struct store *st, int64_t id, char **out);
/* Reads a regular node's chunk list and size from the index. */
int store_node_chunks_locked(struct store *st, int64_t id, struct chunk_ref **refs, size_t *n,
			     uint64_t *size);
/* A checkpoint's abort / delete: row changes, an event and open files made
 * read-only (st->mu held, in a transaction). */
int store_ckpt_abort_locked(struct store *st, int64_t ckpt_id, const char *reason);
int store_ckpt_delete_locked(struct store *st, int64_t ckpt_id, const char *rule);
/* A deletion by the user or retention: into the trash when trash is set and
 * the checkpoint is committed and not withdrawn, else deleted. */
int store_ckpt_remove_locked(struct store *st, int64_t ckpt_id, const char *rule, bool trash);
/* Deletes a trashed checkpoint (event "purge" with why); -ENOENT when
 * ckpt_id is not in the trash. */
int store_ckpt_purge_locked(struct store *st, int64_t ckpt_id, const char *why);
/* Before the first removal inside a committed checkpoint (trash set): a
 * trashed copy of it (row, metrics, a copy of its committed tree holding
 * its own chunk references), so `rm -rf` can be undone; the checkpoint
 * itself is then changed in place and withdrawn as before. No-op unless
 * committed and not withdrawn. */
int store_ckpt_trash_copy_locked(struct store *st, int64_t ckpt_id, const char *rule);
/* Copies version src's tree into dst and takes a reference on each chunk. */
int store_version_copy_locked(struct store *st, int64_t src, int64_t dst);

/* ---- store_file.c ---- */
/* Flushes every open file of version (none locked by the caller). */
int store_flush_version(struct store *st, int64_t version);
/* Drops every open-file state (store_close; handles left open are invalid). */
void store_files_close_all(struct store *st);
/* The background hashing worker: init at open; stop (finishing or dropping
 * queued jobs, joining the thread) before store_files_close_all. */
void store_ph_init(struct store *st);
void store_ph_stop(struct store *st);
/* Reads from a chunk list (committed data) with a one-chunk cache. */
struct chunk_reader {
	struct store *st;
	const struct chunk_ref *refs;
	size_t n;
	uint64_t size;
	uint32_t grid; /* chunk 0's length (store_file.c) */
	uint8_t *buf;  /* CHUNK_SIZE, lazily allocated */
	size_t cur;    /* index of the chunk in buf, SIZE_MAX when none */
};
void chunk_reader_init(struct chunk_reader *r, struct store *st, const struct chunk_ref *refs,
		       size_t n, uint64_t size);
void chunk_reader_release(struct chunk_reader *r);
int chunk_reader_read(void *ctx, void *buf, size_t len, uint64_t off); /* format_read_fn */

/* ---- store_damage.c: chunks found damaged, healed by the next put ---- */
/* Records a damaged chunk (caller holds st->mu); -EROFS when STORE_RDONLY. */
int store_damage_mark_locked(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], const char *how);
/* Whether a put of these bytes must rewrite the chunk file (takes st->mu). */
bool store_damage_known(struct store *st, const uint8_t hash[CHUNK_HASH_LEN]);
/* After a rewrite: forgets the damage and logs a "heal" event by the file
 * "ckpt/path" by, naming the checkpoints healed (takes st->mu). */
void store_damage_healed(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], const char *by);
/* "a, b" = names of the checkpoints whose unpurged versions use the chunk,
 * cut with ", ..." to fit len (caller holds st->mu). */
void store_chunk_users_locked(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], char *out,
			      size_t len);
/* Whether another process (a mount) holds STORE/lock now; true in doubt. */
/* A parsed store address (store_spec.c): the directory, and the backends
 * it names (NULL: not named). */
struct store_spec {
	char *dir;   /* the store directory (a PostgreSQL store: its chunks=DIR) */
	char *where; /* the index's location when not dir (a PostgreSQL conninfo) */
	const struct index_ops *index;
	const struct chunk_backend_ops *chunks;
	char *chunk_spec; /* chunks=rados:SPEC: SPEC (with the words that followed it) */
};
/* -EINVAL (bad or unknown option, a backend named twice) or
 * -EPROTONOSUPPORT (unknown backend), with one line in err. */
int store_spec_parse(const char *spec, struct store_spec *out, char *err, size_t err_len);
/* -EPROTONOSUPPORT (one line in err) when flags has STORE_DURABLE and
 * chunks is a backend that keeps nothing past the process (mem). */
int store_spec_durable(const char *dir, const struct chunk_backend_ops *chunks, int flags,
		       char *err, size_t err_len);
void store_spec_release(struct store_spec *s);
/* With st->ix open: a new store (created) records st->ixops and the chunk
 * backend asked for (default dir); an existing one is checked against the
 * ones it recorded (none recorded: sqlite + dir), -EINVAL on a mismatch,
 * -EPROTONOSUPPORT for a recorded backend this build lacks. Sets
 * st->chunk_ops. */
int store_spec_settle(struct store *st, const struct store_spec *s, bool created, char *err,
		      size_t err_len);
bool store_lock_held_elsewhere(struct store *st);

/* ---- store_multi.c ---- */
/* Recovery at open of one of several mounts: reaps expired mounts (their
 * staging work aborted) and makes this mount's staging directory; other
 * mounts' staging checkpoints and chunk files are left alone. st->mu held. */
int store_multi_recover_locked(struct store *st);
/* How long a chunk nothing references stays before the gc of several
 * mounts deletes it: 10 minutes, or CKPT_GC_GRACE_MS. */
int64_t store_gc_grace_ms(void);
/* Several mounts: records, in one statement, that this mount relies on
 * the n chunks refs[] (each just stored, or found stored; made[i]: its
 * file was made by this put) before a reference to them is recorded.
 * again[i] is set for each chunk the caller must store again
 * (CHUNK_PUT_REWRITE) before relying on it: gc was deleting it (this
 * waited until it was gone and held it anew), or its row was gone though
 * its file was found, not made (gc finished deleting it since). 0, or
 * negative errno (-EBUSY: still dying after 30 s, a gc leader died
 * mid-way). Nothing to do (all false) for a single mount. */
int store_chunks_hold(struct store *st, const struct chunk_ref *refs, const uint32_t *stored,
		      const uint8_t *codecs, const bool *made, size_t n, bool *again);
/* At close: this mount's staging directory goes (its files are closed). */
void store_multi_close(struct store *st);
/* DIR/staging/m<mount> for several mounts, DIR/staging for one. */
void store_staging_dir(const struct store *st, char *buf, size_t len);

/* ---- store_gc.c ---- */
int store_gc_locked_index(struct store *st, bool purge_aborted, uint64_t *n_purged);
int store_release_unreferenced(struct store *st, uint64_t *freed);
int store_recover(struct store *st);

#endif
