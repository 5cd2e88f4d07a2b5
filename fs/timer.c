/* The mount's background work: the timer thread (directory settle,
 * process exits, retried aborts, commit timeouts, external changes,
 * reclaiming deleted versions) and the writer-exit watchers. The tracker
 * (track.c) decides what is due; this file applies it through commit.c.
 * fs_threads_start/stop also start and stop the notifier (notify.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "procwatch.h"

/* ---- reclaiming deleted versions ------------------------------------------- */

/* Timer thread. The kernel keeps dentries of names nobody uses (a reader
 * of latest/m.bin whose version retention deleted) and with them inodes
 * that pin their versions; nothing would make it forget them but memory
 * pressure. So: gc what is unpinned, then invalidate the names of what is
 * still pinned; the kernel forgets the unused ones, the forgets kick the
 * next round. While some stay pinned (an open file, a working directory,
 * or an entry looked up again meanwhile) the sweep repeats every second. */
static void fs_reclaim(struct fs *fs)
{
	int64_t now = fs_now_ms();
	bool due = __atomic_exchange_n(&fs->reclaim_due, false, __ATOMIC_ACQ_REL);
	size_t pinned = __atomic_load_n(&fs->n_dead_pinned, __ATOMIC_ACQUIRE);
	if (!due && !(pinned > 0 && now >= fs->next_sweep_ms))
		return;
	int rc = fs_gc(fs);
	int64_t *dead = NULL;
	size_t n = 0, unpinned = 0;
	/* again on busy, full disk, or a pin dropped while gc ran: its forget's
	 * kick saw no pinned version, so nothing else would run gc for it */
	bool again = store_versions_dead_pinned(fs->st, &dead, &n, &unpinned) < 0 || rc < 0 ||
		unpinned > 0;
	__atomic_store_n(&fs->n_dead_pinned, n + again, __ATOMIC_RELEASE);
	fs->next_sweep_ms = now + FS_SWEEP_MS;
	if (dead && n)
		fs_inodes_inval_versions(fs, dead, n);
	free(dead);
}

/* ---- aborts the tracker found due ------------------------------------------ */

/* A watcher saw process tgid exit (any thread). */
static void fs_on_exit(void *ctx, pid_t tgid, int status)
{
	struct fs *fs = ctx;
	if (!fs_track_exit_seen(fs, tgid, status))
		return;
	pthread_mutex_lock(&fs->timer_lock);
	pthread_cond_signal(&fs->timer_cond);
	pthread_mutex_unlock(&fs->timer_lock);
}

static void fs_process_exits(struct fs *fs)
{
	int64_t id;
	char reason[FS_REASON_MAX];
	while ((id = fs_track_exit_next(fs, reason, sizeof(reason))) != 0)
		fs_abort(fs, id, reason); /* drops the track, so the loop moves on */
}

#define FS_ABORT_BATCH 64

/* Retries aborts that could not be recorded (see fs_track.doomed). */
static void fs_retry_aborts(struct fs *fs)
{
	int64_t ids[FS_ABORT_BATCH];
	char reasons[FS_ABORT_BATCH][FS_REASON_MAX];
	size_t n = fs_track_doomed(fs, ids, reasons, FS_ABORT_BATCH);
	for (size_t i = 0; i < n; i++)
		fs_abort(fs, ids[i], reasons[i]);
}

/* Aborts what only a rename or a marker could commit and got neither (see
 * fs_track_untriggered). Returns how many it tried (at most a batch). */
static size_t fs_abort_untriggered(struct fs *fs, bool unmount)
{
	int64_t ids[FS_ABORT_BATCH];
	char reasons[FS_ABORT_BATCH][FS_REASON_MAX];
	size_t n = fs_track_untriggered(fs, unmount, ids, reasons, FS_ABORT_BATCH);
	for (size_t i = 0; i < n; i++)
		fs_abort(fs, ids[i], reasons[i]);
	return n;
}

/* ---- timer ----------------------------------------------------------------- */

static void fs_inval_root_names(struct fs *fs)
{
	struct ckpt_info *arr = NULL;
	size_t n = 0;
	/* Deleted and aborted ones are the names the kernel may still hold. */
	if (store_ckpt_list(fs->st, STORE_LIST_ALL | STORE_LIST_NO_METRICS, &arr, &n) < 0)
		return;
	size_t first = n > FS_NOTIFY_MAX / 2 ? n - FS_NOTIFY_MAX / 2 : 0;
	for (size_t i = first; i < n; i++)
		if (arr[i].state != CKPT_COMMITTED && arr[i].state != CKPT_STAGING)
			fs_notify_entry(fs, FUSE_ROOT_ID, arr[i].name);
	ckpt_info_free_array(arr, n);
}

/* Several mounts: once a second, the staging work of mounts that died
 * (their lease expired) is aborted here, as a killed writer's would be. */
static void fs_reap(struct fs *fs)
{
	int64_t now = fs_now_ms();
	if (!store_multi(fs->st) || now < fs->next_reap_ms)
		return;
	fs->next_reap_ms = now + FS_REAP_MS;
	struct store_reaped *r = NULL;
	size_t n = 0;
	if (store_reap(fs->st, &r, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		fs_log(LOG_WARNING, "abort name=%s reason=%s", r[i].name, r[i].why);
		fs_count(&fs->m.aborts, 1);
		fs_track_drop(fs, r[i].id);
		fs_notify_entry(fs, FUSE_ROOT_ID, r[i].name);
	}
	free(r);
	if (store_lease_lost(fs->st) && !fs->lease_lost_said) {
		fs->lease_lost_said = true;
		store_note(fs->st,
			   "this mount's lease expired (it stalled); it commits nothing more");
		fs_log(LOG_ERR, "lease lost: this mount stalled past its lease and was reaped");
	}
}

/* A lost index connection (PostgreSQL) is logged once when it goes and
 * once when it is back, not once per failing operation. */
static void fs_index_watch(struct fs *fs)
{
	char why[256];
	bool lost = store_index_lost(fs->st, why, sizeof(why));
	if (lost == fs->index_lost_said)
		return;
	fs->index_lost_said = lost;
	if (lost)
		fs_log(LOG_ERR,
		       "index connection lost: %s; operations that need the index fail with EIO,"
		       " reconnecting",
		       why);
	else
		fs_log(LOG_NOTICE, "index connection restored");
}

/* Several mounts: a checkpoint settles when no mount has a writer open on
 * it and none changed it for settle_ms; another mount's activity defers it
 * (counted as a change here, so it is asked again a settle period later). */
static bool fs_settled_everywhere(struct fs *fs, int64_t id, int64_t settle_ms)
{
	bool busy = false;
	if (!store_multi(fs->st) || store_writers_busy(fs->st, id, settle_ms, &busy) < 0 || !busy)
		return true;
	fs_track_touch(fs, id);
	return false;
}

/* Waits one tick (or a signal); false once stopped. */
static bool fs_timer_wait(struct fs *fs)
{
	pthread_mutex_lock(&fs->timer_lock);
	if (!fs->timer_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += FS_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&fs->timer_cond, &fs->timer_lock, &ts);
	}
	bool stop = fs->timer_stop;
	pthread_mutex_unlock(&fs->timer_lock);
	return !stop;
}

static void *fs_timer_main(void *arg)
{
	struct fs *fs = arg;
	while (fs_timer_wait(fs)) {
		fs_process_exits(fs);
		fs_retry_aborts(fs);
		fs_abort_untriggered(fs, false);
		if (store_changed_externally(fs->st)) {
			fs_policy_refresh(fs);
			fs_inval_root_names(fs);
			fs_reclaim_kick(
				fs, true); /* `ckpt gc` deleted what only the mount may reclaim */
		}
		fs_index_watch(fs);
		fs_reclaim(fs);
		fs_reap(fs);
		pthread_mutex_lock(&fs->pol_lock);
		int64_t settle = fs->pol.settle_ms;
		pthread_mutex_unlock(&fs->pol_lock);
		int64_t ids[64];
		size_t n = fs_track_ready(fs, settle, ids, 64);
		for (size_t i = 0; i < n; i++)
			if (fs_settled_everywhere(fs, ids[i], settle))
				fs_commit(fs, ids[i]);
	}
	return NULL;
}

/* Writer exits: pidfds where the kernel gives exit statuses through them
 * (any PID namespace, no privilege), else the process-events connector,
 * else only what /proc shows when a dying writer closes. */
static void fs_exit_watch_start(struct fs *fs)
{
	int rc = pidwatch_start(fs_on_exit, fs, &fs->pidw);
	if (rc == 0) {
		fs->writer_exit = "pidfd";
		snprintf(fs->pw_status, sizeof(fs->pw_status), "not used (writer_exit: pidfd)");
		return;
	}
	fs->pidw = NULL;
	rc = procwatch_start(fs_on_exit, fs, &fs->pw);
	if (rc == 0) {
		fs->writer_exit = "connector";
		snprintf(fs->pw_status, sizeof(fs->pw_status), "active");
	} else {
		int status;
		fs->pw = NULL;
		fs->writer_exit = procwatch_dying_badly(getpid(), &status) >= 0 ? "flush-only"
										: "unavailable";
		snprintf(fs->pw_status, sizeof(fs->pw_status),
			 "unavailable (%s): only writers dying while closing a file are seen",
			 strerror(-rc));
	}
}

int fs_threads_start(struct fs *fs)
{
	int rc = fs_notify_start(fs);
	if (rc < 0)
		return rc;
	rc = pthread_create(&fs->timer, NULL, fs_timer_main, fs);
	if (rc)
		return -rc;
	fs->timer_started = true;
	fs_exit_watch_start(fs);
	return 0;
}

void fs_threads_stop(struct fs *fs)
{
	pidwatch_stop(fs->pidw);
	fs->pidw = NULL;
	procwatch_stop(fs->pw);
	fs->pw = NULL;
	if (fs->timer_started) {
		pthread_mutex_lock(&fs->timer_lock);
		fs->timer_stop = true;
		pthread_cond_signal(&fs->timer_cond);
		pthread_mutex_unlock(&fs->timer_lock);
		pthread_join(fs->timer, NULL);
		fs->timer_started = false;
	}
	/* Process exits seen before the stop still abort their checkpoints;
	 * then quiet, complete work is committed (clean unmount). */
	fs_process_exits(fs);
	fs_retry_aborts(fs);
	fs_commit_quiet(fs);
	while (fs_abort_untriggered(fs, true) > 0) /* each one leaves: aborted or doomed */
		;
	fs_notify_stop(fs);
	fs_track_release_all(fs);
}
