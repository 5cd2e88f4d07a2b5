/* The FUSE driver's shared state: the inode table, the staging-checkpoint
 * tracker (commit triggers, killed writers), the invalidation notifier and
 * the .ckptfs control files. Handlers live in ops_*.c; everything below
 * ops.c is FUSE-request-free so it can run from the timer thread too.
 *
 * Layers (a file calls only files below it; tools/cycles.sh checks it):
 *   main.c                      arguments, store, session, loop, teardown
 *   ops_table.c                 the fuse_lowlevel_ops table, INIT/DESTROY
 *   ops_dir.c, ops_file.c       the handlers (one reply each)
 *   ops.c                       what the handlers share (attrs, entries, names)
 *   timer.c                     timer thread, writer-exit watchers, start/stop
 *   commit.c                    commit / abort / delete glue, retention, gc
 *   track.c, inode.c, ctl.c,    the tracker (decides what is due), the inode
 *   holders.c, initpatch.c      table, control files, descriptor holders, the
 *                               INIT reply patch: none calls another
 *   notify.c, procwatch.c       leaves: the notifier queue and thread, the
 *                               reclaim kick; writer-exit watchers
 *   core store API (store.h, policy.h), libfuse
 * track.c and inode.c do not know each other: commit.c (above both) untracks
 * a checkpoint and rebinds its inodes.
 *
 * Lock order (take left before right, never the other way round):
 *   commit_lock -> trk_lock -> ino_lock -> reg_lock -> pol_lock -> store locks
 * commit_lock (commit.c) serialises commit/abort/delete/retention; trk_lock
 * (track.c) guards the track list and exit queue; ino_lock (inode.c) the
 * inode hash and lookup counts; reg_lock the name registry; pol_lock the
 * cached policy. nq_lock (notify.c) and timer_lock (timer.c) are leaves:
 * held only to queue or signal, nothing is called under them. procwatch.c's
 * own locks are leaves too, and its exit callback runs without them. fs
 * locks are taken before the store's (st->mu and the ones core/store_int.h
 * orders below it; inode.c pins versions under ino_lock, commit.c runs
 * store transitions under commit_lock), never after: the store has no
 * callbacks and never calls back into fs/. Invalidation notifications are
 * only ever sent by the notifier thread, which holds none of these locks
 * (libfuse documents a deadlock otherwise).
 */
#ifndef CKPTFS_FS_H
#define CKPTFS_FS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "log.h"
#include "policy.h"
#include "store.h"

struct procwatch;
struct pidwatch;

#define FS_NAME_MAX 255
#define FS_MAX_WRITERS 64     /* writer tgids remembered per checkpoint */
#define FS_REG_MAX (1u << 20) /* view / plain-name registry entries */
#define FS_NOTIFY_MAX 4096    /* queued invalidations (extra ones dropped) */
#define FS_EXITQ_MAX 1024     /* queued bad process exits */
#define FS_REASON_MAX 160     /* an abort reason, with its NUL */
#define FS_TICK_MS 50	      /* timer thread period */
#define FS_REAP_MS 1000	      /* several mounts: dead mounts are looked for this often */
#define FS_TIMEOUT_IMMUTABLE 3600.0
#define FS_TIMEOUT_LIVE 1.0
#define FS_SWEEP_MS 1000 /* re-invalidation of still pinned dead versions */

/* Reserved inode kinds: everything but NODE and PLAIN is a fixed inode. */
enum fs_ino_kind {
	FS_INO_ROOT,
	FS_INO_CTLDIR,	 /* .ckptfs */
	FS_INO_CTLFILE,	 /* .ckptfs/<file> */
	FS_INO_ABORTDIR, /* .ckptfs/aborted */
	FS_INO_TRASHDIR, /* .ckptfs/trash */
	FS_INO_NODE,	 /* a store node reached through a view */
	FS_INO_PLAIN,	 /* STORE/plain/NAME */
};

enum fs_ctl {
	FS_CTL_STATUS,
	FS_CTL_LATEST,
	FS_CTL_RETENTION,
	FS_CTL_TSV,
	FS_CTL_METRICS,
	FS_CTL_TRASH, /* trash.tsv */
	FS_CTL_N
};

#define FS_VIEW_DIRECT 0u
#define FS_VIEW_PLAIN UINT32_MAX

struct fs_inode {
	struct fs_inode *hnext; /* hash chain; protected by ino_lock */
	int kind;		/* enum fs_ino_kind */
	int ctl;		/* enum fs_ctl for FS_INO_CTLFILE */
	uint32_t view;		/* FS_VIEW_DIRECT, a virtual view id, or FS_VIEW_PLAIN */
	int64_t node;		/* store node (direct view: rebound on new versions);
				   for PLAIN the registry id of the name */
	int64_t version;	/* pinned version (0: none) */
	int64_t ckpt;
	uint64_t nlookup; /* protected by ino_lock */
	uint64_t serial;  /* st_ino shown to users */
};

struct fs_notify {
	int what; /* 0 inval_entry (parent, name), 1 inval_inode (ino) */
	fuse_ino_t ino;
	char name[FS_NAME_MAX + 1];
};

/* A staging checkpoint (or a committed one with a staging version) that
 * this mount must commit or abort. Protected by trk_lock. */
struct fs_track {
	struct fs_track *next;
	int64_t id;
	int kind;
	bool temp;		/* temporary name: commits only by rename */
	int n_active;		/* write handles open and written since their last flush */
	int n_joining;		/* writers between resolving and opening (fs_track_join) */
	bool committing;	/* fs_commit is committing it: joiners wait */
	int64_t last_change_ms; /* monotonic */
	uint64_t seq;		/* creation order (ties of last_change_ms) */
	pid_t writers[FS_MAX_WRITERS];
	size_t n_writers;
	/* The abort could not be recorded yet (a full disk refuses even the
	 * index write while the open data holds the space): hidden from the
	 * mount now, the timer retries the abort. */
	bool doomed;
	char reason[FS_REASON_MAX];
	bool marked;	/* a commit marker (commit_marker=GLOB) was closed in it */
	bool invisible; /* a writer the mount cannot see wrote into it */
};

/* How checkpoints commit (mount options, not policy: a property of the
 * deployment, not of the store). */
struct fs_commit_opts {
	bool rename_only;   /* commit=rename: only temporary-name renames and
				 markers commit */
	char marker[256];   /* commit_marker=GLOB ("": none): a directory
				 checkpoint commits when a file whose name matches
				 is closed in it, never by settle */
	int64_t timeout_ms; /* commit_timeout_ms=N: a checkpoint waiting for a
				 rename or marker, with no writer and no change
				 for N ms, is aborted (0: only at unmount) */
};

/* Commit latency histogram bounds in seconds (.ckptfs/metrics); +Inf last. */
#define FS_COMMIT_BUCKETS 12
extern const double fs_commit_bounds[FS_COMMIT_BUCKETS - 1]; /* ctl.c */

/* What this daemon did since it mounted (.ckptfs/metrics): every field is
 * changed with __atomic builtins only, by any thread, lock-free. */
struct fs_metrics {
	uint64_t commits, aborts, deletions;
	uint64_t reads, read_bytes, writes, write_bytes;
	uint64_t read_failures;			   /* EIO / EBADMSG: data found damaged */
	uint64_t commit_bucket[FS_COMMIT_BUCKETS]; /* per bucket, not cumulative */
	uint64_t commit_ns;			   /* sum of commit latencies */
};

struct fs {
	struct store *st;
	struct fuse_session *se;
	char *plain_dir; /* STORE/plain */
	uid_t uid;
	gid_t gid;
	struct timespec mount_time;

	pthread_mutex_t pol_lock;
	struct policy pol; /* cached stored policy; refreshed after commits/external changes */

	pthread_mutex_t ino_lock;
	struct fs_inode **htab; /* hash of NODE/PLAIN inodes by (view, node) */
	size_t hcap, hcount;
	uint64_t next_serial;
	struct fs_inode root, ctldir, abortdir, trashdir, ctlfile[FS_CTL_N];

	pthread_mutex_t reg_lock; /* name registry: view names, plain names */
	char **reg;
	size_t n_reg, reg_cap;

	pthread_mutex_t commit_lock; /* serialises commit/abort/delete/retention */
	pthread_mutex_t trk_lock;
	struct fs_track *tracks;
	uint64_t track_seq;
	pid_t exitq[FS_EXITQ_MAX];
	int exitq_status[FS_EXITQ_MAX];
	size_t n_exitq;

	pthread_mutex_t nq_lock;
	pthread_cond_t nq_cond;
	struct fs_notify *nq;
	size_t nq_head, nq_len;
	bool nq_stop;
	pthread_t notifier;
	bool notifier_started;

	pthread_mutex_t timer_lock;
	pthread_cond_t timer_cond;
	bool timer_stop;
	pthread_t timer;
	bool timer_started;

	/* Reclaiming deleted versions that the kernel merely caches (timer.c):
	 * written with __atomic builtins, next_sweep_ms by the timer only. */
	bool reclaim_due;     /* gc + invalidation sweep at the next tick */
	size_t n_dead_pinned; /* dead versions still pinned after the last sweep, +1 when gc failed */
	/* max_bytes between checks (commit.c fs_write_room): the store's stored
	 * bytes when last read (UINT64_MAX: not yet) plus what was written since,
	 * an upper bound (dedup and compression only shrink it); __atomic */
	uint64_t room_base, room_written;
	int64_t next_sweep_ms;
	int64_t next_reap_ms; /* timer only: when to look for dead mounts next */
	bool lease_lost_said; /* timer only: the lost lease was logged */
	bool index_lost_said; /* timer only: the lost index connection was logged */

	int mnt_id; /* our mount's id in /proc/PID/fdinfo (0: unknown) */
	struct procwatch *pw;
	char pw_status[160];
	struct pidwatch *pidw;
	const char *writer_exit;     /* pidfd, connector, flush-only or unavailable */
	uint64_t n_invisible;	     /* write opens by processes we cannot see (atomic) */
	struct fs_commit_opts copts; /* set before fs_threads_start, then read-only */
	bool initialised;	     /* INIT done: notifications may be sent */
	struct fs_metrics m;
};

/* Adds n to a counter of fs->m. */
static inline void fs_count(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/* ---- inode.c ---- */
int fs_inodes_init(struct fs *fs);
void fs_inodes_release(struct fs *fs);
struct fs_inode *fs_ino(struct fs *fs, fuse_ino_t ino);
fuse_ino_t fs_ino_id(struct fs *fs, struct fs_inode *in);
/* Finds or creates the inode for (view, node) and takes one lookup
 * reference. Pins version on creation. */
int fs_inode_get(struct fs *fs, uint32_t view, int64_t node, int64_t version, int64_t ckpt,
		 int kind, struct fs_inode **out);
void fs_inode_forget(struct fs *fs, struct fs_inode *in, uint64_t n);
/* Re-points every direct-view inode of ckpt at the same path in the
 * checkpoint's current version; queues inval_inode for those when inval. */
void fs_inodes_rebind(struct fs *fs, int64_t ckpt, bool inval);
/* A name was removed in place from directory node parent_node of a
 * committed version: drop the kernel's cached entries of it in the virtual
 * views (latest, best_*) that show that directory. */
void fs_inodes_inval_child(struct fs *fs, int64_t parent_node, const char *name);
/* Queues inval_entry for every name through which the kernel may hold an
 * inode on one of the (dead) versions v[0..n): once nothing uses them
 * (open file, working directory) the kernel forgets them and the versions
 * are unpinned. */
void fs_inodes_inval_versions(struct fs *fs, const int64_t *v, size_t n);
/* Registry of strings to small ids (>= 1); 0 on failure. */
uint32_t fs_reg_id(struct fs *fs, const char *s);
/* A copy of the registered string (malloc'd) or NULL. */
char *fs_reg_name(struct fs *fs, uint32_t id);

/* ---- notify.c ---- */
/* Queue an invalidation for the notifier thread (dropped when the queue is
 * full or stopped; never blocks on the kernel). */
void fs_notify_entry(struct fs *fs, fuse_ino_t parent, const char *name);
void fs_notify_inode(struct fs *fs, fuse_ino_t ino);
int fs_notify_start(struct fs *fs);
/* Stops the notifier (what is still queued is dropped) and frees the queue. */
void fs_notify_stop(struct fs *fs);
/* Deleted versions' space: always (something was deleted) or only while
 * dead versions are still pinned (a handle closed, an inode forgotten),
 * the timer runs gc and invalidates what pins them at its next tick. */
void fs_reclaim_kick(struct fs *fs, bool always);

/* ---- track.c ---- */
int64_t fs_now_ms(void);
void fs_track_add(struct fs *fs, int64_t id, int kind, const char *name);
/* Several mounts: tracks a staging checkpoint another mount created, at the
 * first open for writing of one of its files here. */
void fs_track_adopt(struct fs *fs, int64_t id);
void fs_track_writer(struct fs *fs, int64_t id, pid_t tid, bool open);
void fs_track_writer_done(struct fs *fs, int64_t id);
void fs_track_touch(struct fs *fs, int64_t id);
void fs_track_rename(struct fs *fs, int64_t id, const char *new_name);
void fs_track_drop(struct fs *fs, int64_t id);
/* n_active of a tracked checkpoint, -1 when not tracked. */
int fs_track_active(struct fs *fs, int64_t id);
/* A commit marker was closed in checkpoint id. */
void fs_track_mark(struct fs *fs, int64_t id);
/* true when a last close lets checkpoint id (of kind) commit right now: no
 * writer left, not temporary, and a file checkpoint without commit=rename
 * or a directory whose marker was closed. An untracked checkpoint (a path
 * setattr, no writer ever opened it) is a file that commits unless
 * commit=rename. */
bool fs_track_commits_at_close(struct fs *fs, int64_t id, int kind);
/* true when the checkpoint is being aborted (hidden from the mount). */
bool fs_track_is_doomed(struct fs *fs, int64_t id);
/* Its abort could not be recorded: hide it and retry (fs_track_doomed).
 * The first reason stays. Tracks id if it was not. */
void fs_track_doom(struct fs *fs, int64_t id, const char *reason);
/* A writer about to create or open a file of checkpoint id joins it: no
 * commit of it starts until fs_track_unjoin (the writer is registered by
 * then, or gave up). 1 joined; 0 not tracked (nothing to join); -EAGAIN
 * after waiting for a commit of it that was under way (resolve the node
 * again: the writer starts the next version). */
int fs_track_join(struct fs *fs, int64_t id);
/* Ends a join (id 0: none). */
void fs_track_unjoin(struct fs *fs, int64_t id);
/* fs_commit is about to commit id: false when a writer joined it or has
 * a file of it open (the commit waits for them), else it is marked
 * committing until its track is dropped. */
bool fs_track_commit_begin(struct fs *fs, int64_t id);
/* Ids of tracked checkpoints ready to commit: not temporary, no active
 * or joining writer, not doomed, and quiet for settle_ms (settle_ms < 0: any quiet
 * time) or, when only a rename or marker commits it, marked. In the order
 * they went quiet (last change, then creation order), so the last one to
 * finish commits last and becomes `latest`; at most max of the oldest.
 * settle_ms < 0 is the unmount's round: with several mounts, a checkpoint
 * another mount takes part in is theirs to finish; its track is dropped
 * and it is not returned (as fs_track_untriggered at unmount). */
size_t fs_track_ready(struct fs *fs, int64_t settle_ms, int64_t *ids, size_t max);
/* Up to max doomed checkpoints and their reasons (to retry the abort). */
size_t fs_track_doomed(struct fs *fs, int64_t *ids, char (*reasons)[FS_REASON_MAX], size_t max);
/* Up to max checkpoints that only a rename or marker can commit and that
 * must be aborted now, with the reason: at unmount every such one with a
 * final name (temporary names stay staging, aborted at the next mount)
 * that no other mount takes part in (those are dropped: the other mounts'
 * trigger may come), else (commit_timeout_ms > 0) those with no writer
 * and no change for commit_timeout_ms. */
size_t fs_track_untriggered(struct fs *fs, bool unmount, int64_t *ids,
			    char (*reasons)[FS_REASON_MAX], size_t max);
/* A watched process exited: queued when it wrote into a tracked checkpoint
 * and failed (signal or non-zero status). true when the timer should look
 * (status != 0). */
bool fs_track_exit_seen(struct fs *fs, pid_t tgid, int status);
/* The next checkpoint a queued exit aborts (0: none left) and why. */
int64_t fs_track_exit_next(struct fs *fs, char *reason, size_t len);
/* Frees every track (at unmount, with no thread left). */
void fs_track_release_all(struct fs *fs);

/* ---- commit.c ---- */
/* Commits ckpt id (its staging version), then runs retention and gc. */
int fs_commit(struct fs *fs, int64_t id);
int fs_abort(struct fs *fs, int64_t id, const char *reason);
int fs_delete(struct fs *fs, int64_t id);
/* Retention + gc + invalidation of deleted names (commit_lock held). */
void fs_after_commit(struct fs *fs);
/* Space-aware admission of a new top-level checkpoint (store_admit):
 * logs what it purged and a refusal; -ENOSPC refuses the create. */
int fs_admit(struct fs *fs, const char *name, int kind);
/* A write of len bytes under min_free: 0 when the store's filesystem keeps
 * min_free free after it (purging trash, then retention, when needed),
 * else -ENOSPC. Cheap when it fits (one statvfs). */
int fs_write_room(struct fs *fs, size_t len);
/* store_gc without purging aborted ones; logs the bytes it freed. */
int fs_gc(struct fs *fs);
/* Commits every quiet, complete staging checkpoint (clean unmount). */
void fs_commit_quiet(struct fs *fs);
void fs_policy_refresh(struct fs *fs);

/* ---- timer.c ---- */
/* Starts the notifier, the timer and a writer-exit watcher. */
int fs_threads_start(struct fs *fs);
/* Stops them; handles exits seen so far, commits quiet complete work and
 * aborts what waits for a rename or marker (clean unmount). */
void fs_threads_stop(struct fs *fs);

/* ---- ctl.c ---- */
/* Generates a control file's text (malloc'd). */
int fs_ctl_generate(struct fs *fs, int ctl, char **out, size_t *len);
extern const char *const fs_ctl_names[FS_CTL_N];

/* ---- holders.c ---- */
/* Our mount's id from /proc/self/mountinfo (after mounting), or 0. */
int fs_find_mnt_id(const char *mnt);
/* true when process pid still has a descriptor open for writing on our inode with
 * st_ino serial (another fd of a file being closed: dup2, shell redirection). */
bool fs_pid_holds(struct fs *fs, pid_t pid, uint64_t serial);

/* ---- initpatch.c ---- */
/* After fuse_session_mount: routes the session's I/O so the INIT reply
 * allows shared mmap of direct_io files. 0 or negative. */
int fs_init_patch(struct fuse_session *se);

/* ---- ops_table.c, ops.c ---- */
extern const struct fuse_lowlevel_ops fs_ops;
int fs_check_name(const char *name);

#endif
