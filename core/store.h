/* The checkpoint store: SQLite index + chunk store + staging data.
 *
 * STORE/
 *   index.db      SQLite, WAL; PRAGMA user_version = STORE_FORMAT_VERSION
 *   lock          flock()ed LOCK_EX by the one read-write opener (a crashed
 *                 holder's lock goes with its process)
 *   chunks/       the chunk store (chunk.h)
 *   staging/      overlay files of staging file data being written
 *   reserve       preallocated room for the index's writes on a full disk
 *                 (store_reserve.c): released to delete, refilled after gc
 *
 * Model. A checkpoint (a top-level entry of the mount) has versions. A
 * version is a tree of nodes (rows of the index: directories, regular files,
 * symlinks); node ids are unique over the whole store and stable for the life
 * of the row (renames inside a version keep the id), so the FUSE layer can
 * build inode numbers on them. The root node of a version has parent 0 and
 * name ""; for a single-file checkpoint the root node is the file.
 *
 * A checkpoint is staging (its only version is being written), committed
 * (its committed version is served; a second, staging version may exist when
 * something writes into it: copy-on-write), aborted, or deleted. Only
 * committed, not withdrawn checkpoints are ever the answer of latest/best.
 *
 * Conventions: functions return 0 or a negative errno. Every function is
 * thread-safe (one internal mutex guards the index and the in-memory tables;
 * chunk I/O, hashing and compression run outside it). Structures returned to
 * the caller are owned by the caller and freed with the matching _free /
 * _release function.
 */
#ifndef CKPT_STORE_H
#define CKPT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "chunk.h"
#include "chunk_win.h"
#include "meta.h"
#include "policy.h"
#include "retain.h"

#define STORE_FORMAT_VERSION 1

enum ckpt_kind { CKPT_DIR = 0, CKPT_FILE = 1 };
enum ckpt_state {
	CKPT_STAGING = 0,
	CKPT_COMMITTED = 1,
	CKPT_ABORTED = 2,
	CKPT_DELETED = 3,
	CKPT_TRASHED = 4 /* deleted with trash=DURATION set: restorable until purged */
};
/* "staging", "committed", "aborted", "deleted", "trashed" ("unknown" for anything else). */
const char *store_ckpt_state_name(int state);

struct store;

/* ---- open / close --------------------------------------------------------- */

enum {
	STORE_RDONLY = 1 << 0,	       /* no lock, no recovery, no writes: the CLI's
				  read-only commands, safe beside a mount */
	STORE_NOCREATE = 1 << 1,       /* fail with -ENOENT instead of creating */
	STORE_SHARED = 1 << 2,	       /* index changes without the lock, beside a live
				  mount that holds it (`ckpt pin/unpin/policy/
				  commit/gc`): no recovery, no file data writes,
				  no chunk file deletion (the mount reclaims) */
	STORE_BARRIER_FSYNC = 1 << 3,  /* chunk barrier: always fsync each new chunk */
	STORE_BARRIER_SYNCFS = 1 << 4, /* chunk barrier: always syncfs (neither: auto) */
	STORE_DURABLE = 1 << 5,	       /* refuse backends that keep nothing past the
				   process (chunks=mem, the core's unit tests):
				   what ckptfs and ckpt pass */
};

/* The STORE_BARRIER_* flag for a barrier mode named "fsync" or "syncfs"
 * (front ends pass CKPT_CHUNK_BARRIER through it; the core reads no
 * environment), 0 for anything else or NULL. */
static inline int store_barrier_flag(const char *mode)
{
	if (mode && !strcmp(mode, "fsync"))
		return STORE_BARRIER_FSYNC;
	if (mode && !strcmp(mode, "syncfs"))
		return STORE_BARRIER_SYNCFS;
	return 0;
}

/* Whether spec is a PostgreSQL store's address, postgresql:CONNINFO[?OPTIONS]
 * (also postgres:): no directory to resolve or stat, its chunks=DIR option
 * names the store directory. */
bool store_spec_is_pg(const char *spec);
/* The store's address: its directory, or for a PostgreSQL store
 * postgresql:CONNINFO?chunks=DIR (what .ckptfs/status and the log name, and
 * what ckpt opens from a mount point). */
const char *store_address(const struct store *st);
/* The store address: DIR[?OPTION[,OPTION...]], OPTION one of
 *   index=sqlite       the index backend (sqlite: DIR/index.db)
 *   chunks=dir|mem     the chunk backend (dir: DIR/chunks; mem: in memory,
 *                      for tests, gone at close)
 * or postgresql:CONNINFO?chunks=DIR[,OPTION...]: the index in PostgreSQL
 * (CONNINFO as libpq takes it, without '?'), DIR the store directory that
 * every mount of it shares (chunks, staging), relative to the caller's cwd.
 * A plain DIR is the store's recorded backends (sqlite + dir for a new one
 * or one created before backends were recorded). The options start at the
 * last '?' followed by NAME=; a directory whose name has such a part is
 * written with a trailing '?'. store_spec_options returns the text after
 * that '?' (possibly ""), or NULL when spec is a plain DIR. */
const char *store_spec_options(const char *spec);

/* Opens STORE dir (a store address, above), creating and initialising it
 * when missing or empty (unless STORE_NOCREATE or STORE_RDONLY, which also refuse an empty
 * index.db). A read-write open takes the
 * store lock and runs recovery: every staging checkpoint left from before is
 * aborted (event "abort", reason "left staging at open"), temporary and
 * unreferenced chunk files are removed.
 * Errors, with a one-line message in err (may be NULL):
 *   -EBUSY    another process holds the store open read-write ("already
 *             mounted or in use by pid N")
 *   -EPROTONOSUPPORT  the index has a newer format version, or the address
 *             names an unknown backend
 *   -EINVAL   a bad address option, or backends other than the ones the
 *             store recorded at creation
 *   -EUCLEAN  a read-write open found chunk data but index.db missing or
 *             empty, or the index damaged (quick_check): nothing is changed
 *   -ENOTDIR / -ENOENT / -EACCES / -EIO  as they come. */
int store_open(const char *dir, int flags, struct store **out, char *err, size_t err_len);

/* Closes cleanly: staging work stays staging (the caller commits what it
 * wants first), the WAL is checkpointed. NULL is fine. */
void store_close(struct store *st);

/* The store's directory, and whether it was opened read-only. */
const char *store_dir(const struct store *st);
/* What the store's chunk store did since the store was opened (chunk.h). */
void store_chunk_counters(const struct store *st, struct chunk_counters *out);
bool store_readonly(const struct store *st);

/* true when another process changed the index since the last call
 * (PRAGMA data_version): the mount uses it to drop caches after `ckpt`
 * commands such as gc, pin or commit. */
bool store_changed_externally(struct store *st);
/* Whether the connection to the index server (PostgreSQL) was lost, as the
 * last store_changed_externally found it (why: the server's message, may be
 * NULL). Meanwhile operations that need the index fail with EIO; the index
 * reconnects with backoff. Going down and coming back each add a note. */
bool store_index_lost(struct store *st, char *why, size_t len);
/* A descriptor that becomes readable when another process changed the
 * index (then store_changed_externally drains it), or -1 (watch
 * store_dir's files). */
int store_notify_fd(struct store *st);

/* ---- policy --------------------------------------------------------------- */

int store_policy_get(struct store *st, struct policy *out);
/* Replaces the stored policy (applies from the next commit). */
int store_policy_set(struct store *st, const struct policy *p);

/* ---- checkpoints ---------------------------------------------------------- */

struct ckpt_info {
	int64_t id;
	char *name; /* for aborted ones, the display name (NAME, NAME~2 ...) */
	int kind;   /* enum ckpt_kind */
	int state;  /* enum ckpt_state */
	bool has_step;
	int64_t step;
	bool has_epoch;
	double epoch;
	int64_t commit_seq;   /* 0 when never committed */
	int64_t created_at;   /* unix seconds */
	int64_t committed_at; /* 0 when never committed */
	int64_t ended_at;     /* aborted / deleted at; 0 otherwise */
	bool pinned;
	bool withdrawn;		   /* part of it was removed: never latest/best */
	int64_t version;	   /* the version its name shows: the staging
				 version if one exists, else the committed one */
	int64_t committed_version; /* 0 when none */
	int64_t staging_version;   /* 0 when none */
	uint64_t logical_bytes;	   /* sum of file sizes (of `version`); for staging
				   and aborted ones only with STORE_LIST_SIZES
				   or store_ckpt_logical_bytes, else 0 */
	uint64_t stored_bytes;	   /* bytes of chunks first stored by this checkpoint */
	char *note;		/* abort reason, metric problems, rule of deletion; may be NULL */
	char *deleted_rule;	/* "user", "policy: ...", "replaced"; NULL unless deleted */
	struct metric *metrics; /* with their sources */
	size_t n_metrics;
};

void ckpt_info_release(struct ckpt_info *ci);
void ckpt_info_free_array(struct ckpt_info *arr, size_t n);

enum {
	STORE_LIST_ALL = 1 << 0,	/* include aborted and deleted */
	STORE_LIST_NO_METRICS = 1 << 1, /* skip metrics (fast readdir) */
	STORE_LIST_SIZES = 1 << 2,	/* logical_bytes of staging/aborted ones too */
};

/* Fills ci->logical_bytes of a staging or aborted checkpoint (a scan of its
 * version's nodes; committed ones have it already). 0 or a negative errno. */
int store_ckpt_logical_bytes(struct store *st, struct ckpt_info *ci);

/* Checkpoints in commit order (staging ones last, by creation), as an
 * array the caller frees with ckpt_info_free_array. Default: staging and
 * committed only. */
int store_ckpt_list(struct store *st, int flags, struct ckpt_info **out, size_t *n);

/* The live (staging or committed) checkpoint called name: -ENOENT if none. */
int store_ckpt_lookup(struct store *st, const char *name, struct ckpt_info *out);
/* By id, any state. */
int store_ckpt_get(struct store *st, int64_t id, struct ckpt_info *out);
/* An aborted checkpoint by display name (NAME is the newest aborted one of
 * that name, NAME~2 the one before ...). */
int store_ckpt_lookup_aborted(struct store *st, const char *display_name, struct ckpt_info *out);

/* Creates a staging checkpoint with one staging version and its root node
 * (a directory, or an empty regular file for CKPT_FILE) with mode. -EEXIST
 * when a live checkpoint has that name, -ENAMETOOLONG, -EILSEQ (not UTF-8),
 * -EINVAL ("", ".", "..", contains '/'). *root receives the root node id. */
int store_ckpt_create(struct store *st, const char *name, int kind, uint32_t mode, int64_t *ckpt_id,
		      int64_t *root);

/* Starts (or returns the existing) staging version of a committed
 * checkpoint: a copy of the committed tree sharing all chunks (no data is
 * copied). *version receives it. Node ids in it are new; see
 * store_node_follow. */
int store_ckpt_begin_version(struct store *st, int64_t ckpt_id, int64_t *version);

/* Commits the staging version of ckpt_id: flushes open files' dirty data to
 * chunks, runs the format checks on every file, extracts step/epoch/metrics
 * (name, trainer_state.json, metadata.json, metrics.json, then stored
 * xattr metrics), makes all data durable (chunk barrier) and then, in one
 * transaction, marks the version committed, gives the checkpoint the next
 * commit_seq and records an event "commit". A previous committed version
 * becomes dead (readers that hold it keep reading it).
 * Returns 0 when committed; -EBADMSG when a format check failed (the version
 * is then aborted with the reason, as store_ckpt_abort); -ENOSPC / -EIO when
 * data could not be made durable (aborted too); -EBUSY is never returned:
 * whether writers are still open is the caller's business. Does not run
 * retention: call store_retain_run after. */
int store_ckpt_commit(struct store *st, int64_t ckpt_id);

/* Aborts the staging version of ckpt_id (reason is recorded in the event
 * and note). A staging checkpoint becomes aborted (its name is free at once;
 * its data stays readable until gc). For a committed checkpoint with a
 * staging version, that version moves to a new aborted checkpoint row of
 * the same name and the committed version stays as it is. */
int store_ckpt_abort(struct store *st, int64_t ckpt_id, const char *reason);

/* ---- several mounts of one store (a PostgreSQL index; store_multi.c) ----
 * A store whose index backend lets several mounts write at once: each
 * read-write opener holds a lease, writers are registered per checkpoint,
 * and a mount that stops renewing its lease is reaped by the others. */
bool store_multi(const struct store *st);
/* Whether this mount's lease was lost (it stalled past the lease and was
 * reaped): it must stop committing. */
bool store_lease_lost(struct store *st);
/* The writer registry: delta +1 at an open for writing of checkpoint
 * ckpt's files, -1 at its last close, 0 for any other change. A no-op for
 * a single-mount store. */
int store_writer_add(struct store *st, int64_t ckpt, int delta);
/* Whether another mount has a writer open on ckpt or changed it less than
 * settle_ms ago (settle_ms < 0: open writers only; STORE_EVER: took part in
 * it at all). false for a single-mount store. */
#define STORE_EVER (INT64_MAX / 4)
int store_writers_busy(struct store *st, int64_t ckpt, int64_t settle_ms, bool *busy);
/* The last close of a file written through one of several mounts: its data
 * into chunks and its node row into the index (store_file_flush), then the
 * chunks made durable, so a commit decided on another mount includes it.
 * Only store_file_flush for a single-mount store. */
struct store_file;
int store_file_publish(struct store *st, struct store_file *f);
/* A checkpoint aborted because the mount writing it died. */
struct store_reaped {
	int64_t id;
	char name[256];
	const char *why; /* static text */
};
/* Aborts the staging work of mounts whose lease expired and forgets them;
 * *out (malloc'd, may be NULL) the checkpoints aborted. 0 for a single-mount
 * store. */
int store_reap(struct store *st, struct store_reaped **out, size_t *n);

/* Promotes an aborted checkpoint as it is (`ckpt commit NAME`): no checks;
 * -EEXIST when a live checkpoint has its name. Event "commit" rule "manual". */
int store_ckpt_promote(struct store *st, int64_t ckpt_id);

/* Deletes a checkpoint (any state but deleted): state deleted, event
 * "delete" with rule ("user", "policy: ...", "gc"), chunk references
 * dropped; space is reclaimed by store_gc_chunks once nothing holds it.
 * With the policy's trash set, a committed, not withdrawn checkpoint goes
 * to the trash instead (state trashed, event "trash"; store_undelete). */
int store_ckpt_delete(struct store *st, int64_t ckpt_id, const char *rule);

/* Renames a live checkpoint. flags: STORE_RENAME_NOREPLACE (-EEXIST if
 * new_name is live), STORE_RENAME_COMMIT (the renamed staging checkpoint
 * is committed by the same call: rename + commit are one step, as for a
 * temporary name renamed to its final name). Without NOREPLACE an existing
 * live checkpoint new_name is replaced: deleted with rule "replaced" in the
 * same transaction that commits/renames this one. */
enum { STORE_RENAME_NOREPLACE = 1 << 0, STORE_RENAME_COMMIT = 1 << 1 };
int store_ckpt_rename(struct store *st, int64_t ckpt_id, const char *new_name, int flags);

/* Marks a committed checkpoint withdrawn (part of it was removed): event
 * "withdraw". Idempotent. */
int store_ckpt_withdraw(struct store *st, int64_t ckpt_id);

int store_ckpt_set_pinned(struct store *st, int64_t ckpt_id, bool pinned);

/* Sets metric name to value from source "xattr" on a checkpoint (any time;
 * it overrides the other sources and survives later versions). The names
 * "step" and "epoch" set the step / epoch. -EINVAL for unusable names. */
int store_ckpt_set_metric(struct store *st, int64_t ckpt_id, const char *name, double value);
/* Removes an xattr metric: -ENODATA when it has none of that name. */
int store_ckpt_remove_metric(struct store *st, int64_t ckpt_id, const char *name);

/* ---- resolution ----------------------------------------------------------- */

/* The newest committed, not withdrawn checkpoint (commit order): its id and
 * committed version. -ENOENT when there is none. Uses an index: O(log n). */
int store_resolve_latest(struct store *st, int64_t *ckpt_id, int64_t *version);

/* The best committed, not withdrawn checkpoint by metric in direction dir
 * (-1 min, +1 max; 0 = the policy's direction for it). Ties: lower step,
 * then earlier commit. -ENOENT when none has that metric. */
int store_resolve_best(struct store *st, const char *metric, int dir, int64_t *ckpt_id,
		       int64_t *version);

/* Names of all metrics that some committed, not withdrawn checkpoint has
 * (for listing best_* entries), sorted. Caller frees each and the array. */
int store_metric_names(struct store *st, char ***out, size_t *n);

/* ---- nodes (the tree of one version) -------------------------------------- */

struct store_node {
	int64_t id;
	int64_t version;
	int64_t ckpt;
	int64_t parent; /* 0 for a version's root; STORE_NODE_GONE for a file
			     removed while open (its handles keep it) */
	uint32_t mode;	/* S_IFDIR / S_IFREG / S_IFLNK | permission bits */
	uint64_t size;	/* current size, including unflushed writes of an open file */
	int64_t mtime_ns;
	int64_t ctime_ns;
	int64_t atime_ns; /* as last set (utimens); mtime_ns until then; reads never move it */
	bool writable;	  /* its version is staging */
};

#define STORE_NODE_GONE (-1)
/* Directory nesting the store follows (parent walks) and `ckpt export`
 * reproduces: nodes deeper than this have no path. */
#define STORE_DEPTH_MAX 4096

struct store_dirent {
	int64_t id;
	uint32_t mode;
	char *name;
};
void store_dirents_free(struct store_dirent *d, size_t n);

int store_version_root(struct store *st, int64_t version, struct store_node *out);
int store_node_get(struct store *st, int64_t id, struct store_node *out);
int store_node_lookup(struct store *st, int64_t parent, const char *name, struct store_node *out);
/* Entries of a directory node, sorted by name. */
int store_node_list(struct store *st, int64_t dir, struct store_dirent **out, size_t *n);
/* The node's path inside its checkpoint ("" for the root, "a/b.pt"). malloc'd. */
int store_node_path(struct store *st, int64_t id, char **out);

/* The node that id corresponds to in its checkpoint's current version (the
 * staging version when one exists, else the committed one), following
 * copy-on-write copies. Same id when id is already there; -ENOENT when the
 * entry no longer exists there or the checkpoint is gone. */
int store_node_follow(struct store *st, int64_t id, struct store_node *out);

/* Tree changes. Allowed in staging versions; in a committed version only
 * unlink/rmdir (removing part of it withdraws the checkpoint, which stays
 * readable under its name) — everything else there is -EROFS (the caller
 * starts a version first). -EEXIST, -ENOENT, -ENOTDIR, -EISDIR, -ENOTEMPTY,
 * -ENAMETOOLONG, -EILSEQ as POSIX would say. */
int store_node_create(struct store *st, int64_t parent, const char *name, uint32_t mode,
		      struct store_node *out);
int store_node_mkdir(struct store *st, int64_t parent, const char *name, uint32_t mode,
		     struct store_node *out);
int store_node_symlink(struct store *st, int64_t parent, const char *name, const char *target,
		       struct store_node *out);
int store_node_readlink(struct store *st, int64_t id, char *buf, size_t len);
int store_node_unlink(struct store *st, int64_t parent, const char *name);
int store_node_rmdir(struct store *st, int64_t parent, const char *name);
/* Within one version only (-EXDEV across). flags: RENAME_NOREPLACE,
 * RENAME_EXCHANGE (-EINVAL: unsupported). An existing target file (or empty
 * directory) is replaced atomically. */
int store_node_rename(struct store *st, int64_t parent, const char *name, int64_t new_parent,
		      const char *new_name, unsigned int flags);

enum { STORE_SET_MODE = 1, STORE_SET_SIZE = 2, STORE_SET_MTIME = 4, STORE_SET_ATIME = 8 };
/* Changes mode / size (truncate, through the open-file state if open) /
 * mtime / atime (kept as set; setting mtime alone leaves the shown atime). */
int store_node_setattr(struct store *st, int64_t id, int mask, uint32_t mode, uint64_t size,
		       int64_t mtime_ns, int64_t atime_ns, struct store_node *out);

/* ---- file data ------------------------------------------------------------ */

struct store_file;

enum { STORE_F_READ = 1, STORE_F_WRITE = 2, STORE_F_TRUNC = 4 };

/* Opens a regular-file node for I/O. Writing needs a staging version
 * (-EROFS otherwise). Every handle of one node shares one open-file state,
 * so a reader sees a writer's bytes at once. An open handle keeps its data
 * readable even if the node, version or checkpoint is deleted meanwhile. */
int store_file_open(struct store *st, int64_t id, int flags, struct store_file **out);
/* Short read only at EOF. Returns bytes read or negative errno (-EIO on a
 * checksum mismatch or a missing chunk, recorded as an event "corrupt";
 * -ETIMEDOUT when the chunk store did not answer in time: nothing is known
 * damaged, nothing recorded). */
ssize_t store_file_read(struct store_file *f, void *buf, size_t len, uint64_t off);

/* The same read served in place (zero copy): r->iov[0..r->n) points at the
 * verified bytes the file's read window holds and, for the rest (overlay
 * data, holes, no room in the window), at r's own buffer they were copied
 * to. len <= STORE_READ_MAX. Valid until store_read_done, which every
 * non-negative return needs (a negative one has released everything). */
#define STORE_READ_MAX (1u << 20)
#define STORE_READ_IOV 8
struct store_read {
	struct iovec iov[STORE_READ_IOV];
	int n;
	/* private */
	struct chunk_win *win;
	struct chunk_win_slot *hold[STORE_READ_IOV];
	size_t served[STORE_READ_IOV];
	int n_hold;
	uint8_t *buf; /* for copied pieces; NULL until one is */
};
ssize_t store_file_read_vec(struct store_file *f, size_t len, uint64_t off, struct store_read *r);
void store_read_done(struct store_read *r);
/* Writes at off (random writes and rewrites are fine; memory stays bounded:
 * data goes to an overlay file on disk and to chunks). Returns len or
 * negative errno (-ENOSPC, -EIO, -EROFS, -EFBIG past STORE_FILE_MAX). */
ssize_t store_file_write(struct store_file *f, const void *buf, size_t len, uint64_t off);
int store_file_truncate(struct store_file *f, uint64_t size);
uint64_t store_file_size(struct store_file *f);
int64_t store_file_node(struct store_file *f);
/* Turns dirty data into chunks and records the file's chunk list and size
 * in the index (not yet durable: commit makes it so). */
int store_file_flush(struct store_file *f);
/* Flushes (for a writer) and closes the handle. Returns the flush result. */
int store_file_close(struct store_file *f);

#define STORE_FILE_MAX ((uint64_t)1 << 44) /* 16 TiB */

/* ---- version pins (the FUSE layer's live inodes) --------------------------- */

/* A pinned version's rows are kept even when it is dead (deleted or
 * superseded), so a working directory or handle bound to it keeps seeing it.
 * Counted; unpin as many times as pinned. */
void store_version_pin(struct store *st, int64_t version);
void store_version_unpin(struct store *st, int64_t version);
/* Deleted or superseded versions that only pins keep (their data is
 * reclaimed by store_gc once unpinned): a malloc'd array the caller frees.
 * n_unpinned counts, in the same look, the dead versions nothing pins that
 * store_gc would purge: pins dropped while (or since) store_gc ran. */
int store_versions_dead_pinned(struct store *st, int64_t **out, size_t *n, size_t *n_unpinned);

/* ---- retention, gc -------------------------------------------------------- */

/* Plans retention over every committed checkpoint with the stored policy
 * (a dry run): out is an array of n decisions with names, in commit order. */
struct retain_row {
	int64_t id;
	char *name;
	bool keep;
	char rule[RETAIN_RULE_MAX];
};
void retain_rows_free(struct retain_row *rows, size_t n);
int store_retain_plan(struct store *st, struct retain_row **out, size_t *n);

/* Applies retention: deletes what the plan says to delete (event "delete"
 * with the rule). *deleted (may be NULL) receives the rows deleted (names
 * for the FUSE layer to invalidate). */
int store_retain_run(struct store *st, struct retain_row **deleted, size_t *n_deleted);

/* Purges trashed checkpoints whose grace period (policy trash) is over
 * (event "purge", rule "grace period ended"); trash=0 purges them all.
 * store_retain_run runs it first, so it happens at every commit and gc. */
int store_trash_expire(struct store *st, size_t *n_purged);

/* Physical reclamation: drops rows of dead versions that nothing pins and
 * removes chunks with no reference left that no open file holds. With
 * purge_aborted, aborted checkpoints are deleted first (`ckpt gc`). In a
 * read-only or not-lock-holding open, this does the index part only. *freed
 * (may be NULL) receives bytes freed on disk. Records an event "gc". */
int store_gc(struct store *st, bool purge_aborted, uint64_t *freed);

/* ---- lifecycle: trash, what deleting frees, admission (store_trash.c) ------ */

/* Trashed checkpoints, oldest trashed first, each named as shown under
 * .ckptfs/trash: NAME for the newest trashed one of a name, NAME~2, NAME~3
 * for older ones. ended_at is when it was trashed, deleted_rule why ("user",
 * the retention rule); it is purged at ended_at + the policy's trash. */
int store_trash_list(struct store *st, struct ckpt_info **out, size_t *n);
/* One by its shown name (with metrics, the stored name); -ENOENT. */
int store_trash_lookup(struct store *st, const char *display_name, struct ckpt_info *out);
/* Restores a trashed checkpoint as it was: committed, its commit order
 * (commit_seq), metrics and pin, so latest/best_* re-resolve as if it had
 * never been deleted. Event "undelete". -ENOENT when not in the trash,
 * -EEXIST when a live checkpoint has its name. *id (may be NULL). */
int store_undelete(struct store *st, const char *display_name, int64_t *id);
/* Deletes one trashed checkpoint now (event "purge" with why), then gc. */
int store_trash_purge(struct store *st, int64_t id, const char *why);

/* Stored bytes (chunk files, as gc counts what it frees) that only ci's
 * versions reference: what deleting it and purging frees. */
int store_ckpt_unique_bytes(struct store *st, const struct ckpt_info *ci, uint64_t *bytes);
/* What `ckpt gc` frees: retention's deletions (none with trash set: they go
 * to the trash), trash past its grace period, aborted checkpoints, dead
 * versions and unreferenced chunks. */
int store_gc_would_free(struct store *st, uint64_t *bytes);
/* What emptying the trash and gc would free: all trashed and aborted
 * checkpoints, dead versions, unreferenced chunks. */
int store_reclaimable(struct store *st, uint64_t *bytes);

/* Admission of a new checkpoint under the policy's max_bytes / min_free:
 * predicts its stored bytes from the newest committed checkpoint of the
 * same kind and name shape (digits runs alike, temporary marks dropped;
 * 0 when none), and while that exceeds the bytes available purges the
 * oldest trashed checkpoint, then runs retention once. -ENOSPC when it
 * still cannot fit (space held by versions a mount's open inodes pin comes
 * back only once the kernel lets them go: the caller may retry); 0
 * otherwise (also without limits). */
struct store_admit {
	uint64_t predicted, available;
	size_t purged; /* trashed checkpoints purged to make room */
};
int store_admit(struct store *st, const char *name, int kind, struct store_admit *out);
/* The same loop for need bytes about to be written (the mount's writes
 * under min_free): 0 when they fit, after purging if it had to; -ENOSPC. */
int store_make_room(struct store *st, uint64_t need, struct store_admit *out);
/* Records a refusal: a note for .ckptfs/status and a "refuse" event, both
 * with the predicted and available bytes. */
void store_admit_refused(struct store *st, const char *name, const struct store_admit *a);

/* ---- inspection ------------------------------------------------------------ */

struct store_stats {
	uint64_t checkpoints; /* committed */
	uint64_t staging, aborted, deleted, trashed;
	uint64_t logical_bytes; /* sum over committed checkpoints */
	uint64_t stored_bytes;	/* chunk bytes on disk */
	uint64_t raw_bytes;	/* uncompressed bytes of the stored chunks */
	uint64_t chunks;
	double dedup_ratio;	  /* logical / raw */
	double compression_ratio; /* raw / stored */
};
int store_stats(struct store *st, struct store_stats *out);

struct store_event {
	int64_t id; /* increasing in recording order */
	int64_t time;
	char *event; /* commit, abort, delete, withdraw, gc, corrupt, promote, rename */
	char *name;
	char *rule; /* or reason; may be NULL */
};
void store_events_free(struct store_event *ev, size_t n);
/* Records an event of the mount itself (e.g. "invisible": a writer of
 * checkpoint name that the mount cannot see), for `ckpt log` / `ckpt ls`. */
int store_event_log(struct store *st, const char *event, const char *name, const char *rule);
int store_events(struct store *st, struct store_event **out, size_t *n);
/* At most max events with id > after_id, oldest first (after_id 0: from the
 * first); a watcher's cheap "what is new" query. */
int store_events_after(struct store *st, int64_t after_id, size_t max, struct store_event **out,
		       size_t *n);

/* Files of a checkpoint's shown version: paths and sizes, sorted. */
struct store_file_entry {
	char *path;
	uint32_t mode;
	uint64_t size;
};
void store_file_entries_free(struct store_file_entry *e, size_t n);
int store_ckpt_files(struct store *st, int64_t ckpt_id, struct store_file_entry **out, size_t *n);

/* Re-reads every chunk referenced by the index and every chunk on disk,
 * checks SHA-256, reference counts and missing/orphan chunks. report is
 * called once per problem with a one-line text; note (may be NULL) with
 * lines that are information, not problems; progress (may be NULL) with
 * done/total. A damaged chunk is recorded in the index (unless the store is
 * open STORE_RDONLY), so the next save of the same bytes rewrites it, and
 * its line names the checkpoints that use it. A chunk file without an index
 * row is an orphan; while another process (a live mount) holds the store
 * lock, one newer than STORE_ORPHAN_GRACE seconds may be a chunk between its
 * file and its row, and is skipped with a note. Returns the number of problems (>= 0)
 * or negative errno. */
struct store_verify_opts {
	void (*report)(void *ctx, const char *problem);
	void (*note)(void *ctx, const char *line);
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};
#define STORE_ORPHAN_GRACE 600
int store_verify_ex(struct store *st, const struct store_verify_opts *o);
/* store_verify_ex without notes. */
int store_verify(struct store *st, void (*report)(void *ctx, const char *problem),
		 void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx);

/* A text note for .ckptfs/status (e.g. "creating `latest` refused: it is the
 * virtual latest entry"); kept in memory, newest last, bounded. */
void store_note(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The notes as one malloc'd string, one per line. */
char *store_notes(struct store *st);

#endif
