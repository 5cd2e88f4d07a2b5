/* Commit triggers and killed writers: the tracker of staging checkpoints,
 * the timer thread (directory settle, process exits, external changes) and
 * the notifier thread (the only sender of invalidations). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "procwatch.h"

int64_t fs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- notifier ------------------------------------------------------------ */

static void fs_notify_push(struct fs *fs, int what, fuse_ino_t ino, const char *name)
{
	pthread_mutex_lock(&fs->nq_lock);
	if (fs->nq && fs->nq_len < FS_NOTIFY_MAX && !fs->nq_stop) {
		struct fs_notify *n = &fs->nq[(fs->nq_head + fs->nq_len) % FS_NOTIFY_MAX];
		n->what = what;
		n->ino = ino;
		n->name[0] = '\0';
		if (name)
			snprintf(n->name, sizeof(n->name), "%s", name);
		fs->nq_len++;
		pthread_cond_signal(&fs->nq_cond);
	}
	pthread_mutex_unlock(&fs->nq_lock);
}

void fs_notify_entry(struct fs *fs, fuse_ino_t parent, const char *name)
{
	if (name && strlen(name) <= FS_NAME_MAX)
		fs_notify_push(fs, 0, parent, name);
}

void fs_notify_inode(struct fs *fs, fuse_ino_t ino)
{
	fs_notify_push(fs, 1, ino, NULL);
}

static void *fs_notifier_main(void *arg)
{
	struct fs *fs = arg;
	pthread_mutex_lock(&fs->nq_lock);
	for (;;) {
		while (!fs->nq_stop && fs->nq_len == 0)
			pthread_cond_wait(&fs->nq_cond, &fs->nq_lock);
		if (fs->nq_stop)
			break;
		struct fs_notify n = fs->nq[fs->nq_head];
		fs->nq_head = (fs->nq_head + 1) % FS_NOTIFY_MAX;
		fs->nq_len--;
		pthread_mutex_unlock(&fs->nq_lock);
		/* No lock held here: the kernel may wait on handlers. Errors
		 * (-ENOENT for an entry the kernel never had) are expected. */
		if (fs->initialised) {
			if (n.what == 0)
				fuse_lowlevel_notify_inval_entry(fs->se, n.ino, n.name, strlen(n.name));
			else
				fuse_lowlevel_notify_inval_inode(fs->se, n.ino, 0, 0);
		}
		pthread_mutex_lock(&fs->nq_lock);
	}
	pthread_mutex_unlock(&fs->nq_lock);
	return NULL;
}

/* ---- reclaiming deleted versions ------------------------------------------- */

void fs_reclaim_kick(struct fs *fs, bool always)
{
	if (always || __atomic_load_n(&fs->n_dead_pinned, __ATOMIC_ACQUIRE) > 0)
		__atomic_store_n(&fs->reclaim_due, true, __ATOMIC_RELEASE);
}

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
	int rc = store_gc(fs->st, false, NULL);
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

/* ---- tracker -------------------------------------------------------------- */

/* trk_lock held. */
static struct fs_track *fs_track_find(struct fs *fs, int64_t id)
{
	struct fs_track *t = fs->tracks;
	while (t && t->id != id)
		t = t->next;
	return t;
}

void fs_track_add(struct fs *fs, int64_t id, int kind, const char *name)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t) { /* untracked: commits at unmount or by rename only */
			pthread_mutex_unlock(&fs->trk_lock);
			return;
		}
		t->id = id;
		t->kind = kind;
		t->temp = name && policy_is_temp_name(name);
		t->seq = ++fs->track_seq;
		t->next = fs->tracks;
		fs->tracks = t;
	}
	t->last_change_ms = fs_now_ms();
	pthread_mutex_unlock(&fs->trk_lock);
}

/* A writer of checkpoint id that we cannot see: FUSE gave pid 0 (it is in
 * a PID namespace the daemon is not in) or its pid could not be watched.
 * Counted for .ckptfs/status; said once in the log; recorded once per
 * checkpoint as an event, which `ckpt ls` warns about. */
static void fs_note_invisible(struct fs *fs, int64_t id, pid_t pid, bool first_in_ckpt)
{
	if (__atomic_fetch_add(&fs->n_invisible, 1, __ATOMIC_RELAXED) == 0)
		fprintf(stderr, "ckptfs: this mount cannot see a writer process (pid %d%s): its exit is not "
			"detected, so a killed writer may commit; mount with -o commit=rename or "
			"-o commit_marker=GLOB where that matters\n", (int)pid,
			pid <= 0 ? ": FUSE reports 0, the daemon runs in another PID namespace" : ": no pidfd");
	struct ckpt_info ci;
	if (first_in_ckpt && store_ckpt_get(fs->st, id, &ci) == 0) {
		store_event_log(fs->st, "invisible", ci.name, "writer not visible to the mount");
		ckpt_info_release(&ci);
	}
}

void fs_track_writer(struct fs *fs, int64_t id, pid_t tid, bool open)
{
	pid_t tgid = tid > 0 ? procwatch_tgid(tid) : -1;
	if (tgid <= 0)
		tgid = tid;
	bool invisible = tgid <= 0 || (fs->pidw && pidwatch_add(fs->pidw, tgid) < 0);
	bool first = false;
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (t) {
		if (open)
			t->n_active++;
		t->last_change_ms = fs_now_ms();
		bool known = false;
		for (size_t i = 0; i < t->n_writers; i++)
			known |= t->writers[i] == tgid;
		if (!known && tgid > 0 && t->n_writers < FS_MAX_WRITERS)
			t->writers[t->n_writers++] = tgid;
		first = invisible && !t->invisible;
		t->invisible |= invisible;
	}
	pthread_mutex_unlock(&fs->trk_lock);
	if (invisible)
		fs_note_invisible(fs, id, tgid, first);
}

void fs_track_writer_done(struct fs *fs, int64_t id)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (t) {
		if (t->n_active > 0)
			t->n_active--;
		t->last_change_ms = fs_now_ms();
	}
	pthread_mutex_unlock(&fs->trk_lock);
}

void fs_track_touch(struct fs *fs, int64_t id)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (t)
		t->last_change_ms = fs_now_ms();
	pthread_mutex_unlock(&fs->trk_lock);
}

void fs_track_rename(struct fs *fs, int64_t id, const char *new_name)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (t) {
		t->temp = policy_is_temp_name(new_name);
		t->last_change_ms = fs_now_ms();
	}
	pthread_mutex_unlock(&fs->trk_lock);
}

void fs_track_drop(struct fs *fs, int64_t id)
{
	pthread_mutex_lock(&fs->trk_lock);
	for (struct fs_track **pp = &fs->tracks; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct fs_track *t = *pp;
			*pp = t->next;
			free(t);
			break;
		}
	}
	pthread_mutex_unlock(&fs->trk_lock);
}

int fs_track_active(struct fs *fs, int64_t id)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	int n = t ? t->n_active : -1;
	pthread_mutex_unlock(&fs->trk_lock);
	return n;
}

/* trk_lock held. Only a rename (temporary names, commit=rename) or a
 * marker (directories under commit_marker) commits t. */
static bool fs_track_awaits_trigger(const struct fs *fs, const struct fs_track *t)
{
	return t->temp || fs->copts.rename_only || (t->kind == CKPT_DIR && fs->copts.marker[0]);
}

void fs_track_mark(struct fs *fs, int64_t id)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (t)
		t->marked = true;
	pthread_mutex_unlock(&fs->trk_lock);
}

bool fs_track_commits_at_close(struct fs *fs, int64_t id, int kind)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	/* untracked: no writer ever opened it here (a path setattr) */
	bool now = t ? !t->doomed && !t->temp && t->n_active == 0 &&
			       (kind == CKPT_FILE ? !fs->copts.rename_only : t->marked)
		     : kind == CKPT_FILE && !fs->copts.rename_only;
	pthread_mutex_unlock(&fs->trk_lock);
	return now;
}

bool fs_track_is_doomed(struct fs *fs, int64_t id)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs->tracks ? fs_track_find(fs, id) : NULL;
	bool doomed = t && t->doomed;
	pthread_mutex_unlock(&fs->trk_lock);
	return doomed;
}

static void fs_track_doom(struct fs *fs, int64_t id, const char *reason)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (t) {
			t->id = id;
			t->seq = ++fs->track_seq;
			t->next = fs->tracks;
			fs->tracks = t;
		}
	}
	if (t && !t->doomed) {
		t->doomed = true;
		snprintf(t->reason, sizeof(t->reason), "%s", reason);
	}
	pthread_mutex_unlock(&fs->trk_lock);
}

/* ---- commit / abort / delete --------------------------------------------- */

void fs_policy_refresh(struct fs *fs)
{
	struct policy *p = malloc(sizeof(*p));
	if (!p)
		return;
	if (store_policy_get(fs->st, p) == 0) {
		pthread_mutex_lock(&fs->pol_lock);
		fs->pol = *p;
		pthread_mutex_unlock(&fs->pol_lock);
	}
	free(p);
}

void fs_after_commit(struct fs *fs)
{
	struct retain_row *del = NULL;
	size_t n = 0;
	fs_policy_refresh(fs); /* a `ckpt policy` change applies from the next commit */
	if (store_retain_run(fs->st, &del, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			fs_track_drop(fs, del[i].id);
			fs_notify_entry(fs, FUSE_ROOT_ID, del[i].name);
		}
		retain_rows_free(del, n);
	}
	store_gc(fs->st, false, NULL);
	fs_reclaim_kick(fs, true); /* what the kernel still caches */
}

/* commit_lock held. The checkpoint's state decides what is left to do. */
static int fs_commit_locked(struct fs *fs, int64_t id)
{
	struct ckpt_info ci;
	int rc = store_ckpt_get(fs->st, id, &ci);
	if (rc < 0) {
		fs_track_drop(fs, id);
		return rc;
	}
	bool staging = ci.state == CKPT_STAGING ||
		       (ci.state == CKPT_COMMITTED && ci.staging_version != 0);
	if (!staging) {
		ckpt_info_release(&ci);
		fs_track_drop(fs, id);
		return 0;
	}
	bool cow = ci.state == CKPT_COMMITTED;
	if (fs_track_is_doomed(fs, id)) {
		ckpt_info_release(&ci);
		return 0; /* an abort is pending (its error was reported): never commit */
	}
	rc = store_ckpt_commit(fs->st, id);
	fs_track_drop(fs, id);
	if (rc == 0) {
		if (cow)
			fs_inodes_rebind(fs, id, true);
		fs_after_commit(fs);
	} else {
		/* The store aborts on a failed format check or durability; make
		 * sure of it for any other failure (flushing open files can run
		 * out of space first): it leaves the listing now, a copy-on-write
		 * version falls back to the old one. */
		struct ckpt_info now;
		if (store_ckpt_get(fs->st, id, &now) == 0) {
			if (now.state == CKPT_STAGING || (now.state == CKPT_COMMITTED && now.staging_version)) {
				char reason[128];
				snprintf(reason, sizeof(reason), "commit failed: %s", strerror(-rc));
				if (store_ckpt_abort(fs->st, id, reason) < 0)
					fs_track_doom(fs, id, reason);
			}
			ckpt_info_release(&now);
		}
		fs_notify_entry(fs, FUSE_ROOT_ID, ci.name);
		if (cow)
			fs_inodes_rebind(fs, id, true);
		store_note(fs->st, "commit of %s failed: %s", ci.name, strerror(-rc));
	}
	ckpt_info_release(&ci);
	return rc;
}

int fs_commit(struct fs *fs, int64_t id)
{
	pthread_mutex_lock(&fs->commit_lock);
	int rc = fs_commit_locked(fs, id);
	pthread_mutex_unlock(&fs->commit_lock);
	return rc;
}

int fs_abort(struct fs *fs, int64_t id, const char *reason)
{
	pthread_mutex_lock(&fs->commit_lock);
	struct ckpt_info ci;
	int rc = store_ckpt_get(fs->st, id, &ci);
	if (rc < 0)
		goto out_drop;
	bool cow = ci.state == CKPT_COMMITTED && ci.staging_version != 0;
	if (ci.state == CKPT_STAGING || cow) {
		rc = store_ckpt_abort(fs->st, id, reason);
		if (rc == 0) {
			if (cow)
				fs_inodes_rebind(fs, id, true);
		} else {
			fs_track_doom(fs, id, reason);
		}
		if (!cow)
			fs_notify_entry(fs, FUSE_ROOT_ID, ci.name);
	}
	ckpt_info_release(&ci);
	if (rc < 0) {
		pthread_mutex_unlock(&fs->commit_lock);
		return rc;
	}
out_drop:
	fs_track_drop(fs, id);
	pthread_mutex_unlock(&fs->commit_lock);
	return rc;
}

int fs_delete(struct fs *fs, int64_t id)
{
	pthread_mutex_lock(&fs->commit_lock);
	int rc = store_ckpt_delete(fs->st, id, "user");
	if (rc == 0) {
		fs_track_drop(fs, id);
		store_gc(fs->st, false, NULL);
		fs_reclaim_kick(fs, true);
	}
	pthread_mutex_unlock(&fs->commit_lock);
	return rc;
}

struct fs_ready {
	int64_t id;
	int64_t last_change_ms;
	uint64_t seq;
};

static int fs_ready_cmp(const void *a, const void *b)
{
	const struct fs_ready *x = a, *y = b;
	if (x->last_change_ms != y->last_change_ms)
		return x->last_change_ms < y->last_change_ms ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* Ids of tracked checkpoints ready to commit: not temporary, no active
 * writer, quiet for settle_ms (settle_ms < 0: any quiet time). In the order
 * they went quiet (last change, then creation order), so the last one to
 * finish commits last and becomes `latest`; at most max of the oldest. */
static size_t fs_track_ready(struct fs *fs, int64_t settle_ms, int64_t *ids, size_t max)
{
	size_t n = 0, cap = 0;
	struct fs_ready *r = NULL;
	int64_t now = fs_now_ms();
	pthread_mutex_lock(&fs->trk_lock);
	for (struct fs_track *t = fs->tracks; t; t = t->next)
		cap++;
	if (cap)
		r = malloc(cap * sizeof(*r));
	for (struct fs_track *t = fs->tracks; t && r; t = t->next) {
		if (t->temp || t->n_active > 0 || t->doomed)
			continue;
		/* Waiting for a marker: only a marked one is ready, at once. */
		if (fs_track_awaits_trigger(fs, t) ? !t->marked
						   : settle_ms >= 0 && now - t->last_change_ms < settle_ms)
			continue;
		r[n].id = t->id;
		r[n].last_change_ms = t->last_change_ms;
		r[n].seq = t->seq;
		n++;
	}
	pthread_mutex_unlock(&fs->trk_lock);
	if (!r)
		return 0;
	qsort(r, n, sizeof(*r), fs_ready_cmp);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		ids[i] = r[i].id;
	free(r);
	return n;
}

void fs_commit_quiet(struct fs *fs)
{
	int64_t ids[256];
	size_t n;
	/* Each round commits (and untracks) what it found, so this ends. */
	while ((n = fs_track_ready(fs, -1, ids, 256)) > 0) {
		for (size_t i = 0; i < n; i++)
			fs_commit(fs, ids[i]);
	}
}

/* ---- process exits --------------------------------------------------------- */

static void fs_on_exit(void *ctx, pid_t tgid, int status)
{
	struct fs *fs = ctx;
	if (status == 0)
		return; /* a clean exit never aborts anything */
	pthread_mutex_lock(&fs->trk_lock);
	if (fs->n_exitq < FS_EXITQ_MAX) {
		bool ours = false;
		for (struct fs_track *t = fs->tracks; t && !ours; t = t->next)
			for (size_t i = 0; i < t->n_writers; i++)
				ours |= t->writers[i] == tgid;
		if (ours) {
			fs->exitq[fs->n_exitq] = tgid;
			fs->exitq_status[fs->n_exitq] = status;
			fs->n_exitq++;
		}
	}
	pthread_mutex_unlock(&fs->trk_lock);
	pthread_mutex_lock(&fs->timer_lock);
	pthread_cond_signal(&fs->timer_cond);
	pthread_mutex_unlock(&fs->timer_lock);
}

static void fs_exit_reason(pid_t pid, int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status) || (status & 0x7f))
		snprintf(buf, len, "writer pid %d killed by signal %d", (int)pid, status & 0x7f);
	else
		snprintf(buf, len, "writer pid %d exited with status %d", (int)pid, (status >> 8) & 0xff);
}

static void fs_process_exits(struct fs *fs)
{
	for (;;) {
		int64_t id = 0;
		char reason[128];
		pthread_mutex_lock(&fs->trk_lock);
		while (fs->n_exitq > 0 && id == 0) {
			pid_t pid = fs->exitq[fs->n_exitq - 1];
			int status = fs->exitq_status[fs->n_exitq - 1];
			for (struct fs_track *t = fs->tracks; t && !id; t = t->next)
				for (size_t i = 0; i < t->n_writers && !t->doomed; i++)
					if (t->writers[i] == pid)
						id = t->id;
			if (id)
				fs_exit_reason(pid, status, reason, sizeof(reason));
			else
				fs->n_exitq--; /* every checkpoint of that pid handled */
		}
		pthread_mutex_unlock(&fs->trk_lock);
		if (!id)
			return;
		fs_abort(fs, id, reason); /* drops the track, so the loop moves on */
	}
}

/* Retries aborts that could not be recorded (see fs_track.doomed). */
static void fs_retry_aborts(struct fs *fs)
{
	int64_t ids[64];
	char reasons[64][160];
	size_t n = 0;
	pthread_mutex_lock(&fs->trk_lock);
	for (struct fs_track *t = fs->tracks; t && n < 64; t = t->next) {
		if (t->doomed) {
			ids[n] = t->id;
			memcpy(reasons[n], t->reason, sizeof(reasons[n]));
			n++;
		}
	}
	pthread_mutex_unlock(&fs->trk_lock);
	for (size_t i = 0; i < n; i++)
		fs_abort(fs, ids[i], reasons[i]);
}

#define FS_ABORT_BATCH 64

/* Aborts checkpoints that only a rename or a marker can commit: at unmount
 * every such one with a final name (temporary names stay staging, aborted
 * at the next mount as before), else those with no writer and no change
 * for commit_timeout_ms. Returns how many it tried (at most a batch). */
static size_t fs_abort_untriggered(struct fs *fs, bool unmount)
{
	const struct fs_commit_opts *o = &fs->copts;
	int64_t ids[FS_ABORT_BATCH], now = fs_now_ms();
	char reasons[FS_ABORT_BATCH][160], when[48];
	size_t n = 0;
	if (!unmount && o->timeout_ms <= 0)
		return 0;
	if (unmount)
		snprintf(when, sizeof(when), "before unmount");
	else
		snprintf(when, sizeof(when), "within %lld ms", (long long)o->timeout_ms);
	pthread_mutex_lock(&fs->trk_lock);
	for (struct fs_track *t = fs->tracks; t && n < FS_ABORT_BATCH; t = t->next) {
		if (t->doomed || t->marked || !fs_track_awaits_trigger(fs, t))
			continue;
		if (unmount ? t->temp : (t->n_active > 0 || now - t->last_change_ms < o->timeout_ms))
			continue;
		ids[n] = t->id;
		if (t->kind == CKPT_DIR && o->marker[0] && !t->temp)
			snprintf(reasons[n], sizeof(reasons[n]), "no commit marker (%.80s) %s", o->marker, when);
		else
			snprintf(reasons[n], sizeof(reasons[n]), "not committed by a rename %s", when);
		n++;
	}
	pthread_mutex_unlock(&fs->trk_lock);
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

static void *fs_timer_main(void *arg)
{
	struct fs *fs = arg;
	for (;;) {
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
		if (stop)
			break;

		fs_process_exits(fs);
		fs_retry_aborts(fs);
		fs_abort_untriggered(fs, false);
		if (store_changed_externally(fs->st)) {
			fs_policy_refresh(fs);
			fs_inval_root_names(fs);
			fs_reclaim_kick(fs, true); /* `ckpt gc` deleted what only the mount may reclaim */
		}
		fs_reclaim(fs);
		pthread_mutex_lock(&fs->pol_lock);
		int64_t settle = fs->pol.settle_ms;
		pthread_mutex_unlock(&fs->pol_lock);
		int64_t ids[64];
		size_t n = fs_track_ready(fs, settle, ids, 64);
		for (size_t i = 0; i < n; i++)
			fs_commit(fs, ids[i]);
	}
	return NULL;
}

int fs_track_start(struct fs *fs)
{
	fs->nq = calloc(FS_NOTIFY_MAX, sizeof(*fs->nq));
	if (!fs->nq)
		return -ENOMEM;
	int rc = pthread_create(&fs->notifier, NULL, fs_notifier_main, fs);
	if (rc)
		return -rc;
	fs->notifier_started = true;
	rc = pthread_create(&fs->timer, NULL, fs_timer_main, fs);
	if (rc)
		return -rc;
	fs->timer_started = true;

	/* Writer exits: pidfds where the kernel gives exit statuses through
	 * them (any PID namespace, no privilege), else the process-events
	 * connector, else only what /proc shows when a dying writer closes. */
	rc = pidwatch_start(fs_on_exit, fs, &fs->pidw);
	if (rc == 0) {
		fs->writer_exit = "pidfd";
		snprintf(fs->pw_status, sizeof(fs->pw_status), "not used (writer_exit: pidfd)");
		return 0;
	}
	fs->pidw = NULL;
	rc = procwatch_start(fs_on_exit, fs, &fs->pw);
	if (rc == 0) {
		fs->writer_exit = "connector";
		snprintf(fs->pw_status, sizeof(fs->pw_status), "active");
	} else {
		int status;
		fs->pw = NULL;
		fs->writer_exit = procwatch_dying_badly(getpid(), &status) >= 0 ? "flush-only" : "unavailable";
		snprintf(fs->pw_status, sizeof(fs->pw_status),
			 "unavailable (%s): only writers dying while closing a file are seen",
			 strerror(-rc));
	}
	return 0;
}

void fs_track_stop(struct fs *fs)
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
	while (fs_abort_untriggered(fs, true) == FS_ABORT_BATCH)
		;
	if (fs->notifier_started) {
		pthread_mutex_lock(&fs->nq_lock);
		fs->nq_stop = true;
		pthread_cond_signal(&fs->nq_cond);
		pthread_mutex_unlock(&fs->nq_lock);
		pthread_join(fs->notifier, NULL);
		fs->notifier_started = false;
	}
	free(fs->nq);
	fs->nq = NULL;
	while (fs->tracks) {
		struct fs_track *t = fs->tracks;
		fs->tracks = t->next;
		free(t);
	}
}
