/* The tracker of staging checkpoints: commit triggers and killed writers.
 * It records what happens to each one (writers, changes, renames, markers,
 * process exits, failed aborts) and decides what is due (ready to commit,
 * to abort); timer.c and commit.c apply the decisions. Needs no FUSE
 * session and calls nothing above it (tests/check_track.c drives it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "fs.h"
#include "procwatch.h"

int64_t fs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* trk_lock held. */
static struct fs_track *fs_track_find(struct fs *fs, int64_t id)
{
	struct fs_track *t = fs->tracks;
	while (t && t->id != id)
		t = t->next;
	return t;
}

/* trk_lock held. A new track at the head of the list, or NULL. */
static struct fs_track *fs_track_new(struct fs *fs, int64_t id)
{
	struct fs_track *t = calloc(1, sizeof(*t));
	if (t) {
		t->id = id;
		t->seq = ++fs->track_seq;
		t->next = fs->tracks;
		fs->tracks = t;
	}
	return t;
}

/* Several mounts: this one takes part in checkpoint id (the registry the
 * reaper and the other mounts' settle read). */
static void fs_track_register(struct fs *fs, int64_t id, int delta)
{
	if (fs->st && store_multi(fs->st))
		store_writer_add(fs->st, id, delta);
}

void fs_track_add(struct fs *fs, int64_t id, int kind, const char *name)
{
	bool added = false;
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (!t) {
		t = fs_track_new(fs, id);
		if (!t) { /* untracked: commits at unmount or by rename only */
			pthread_mutex_unlock(&fs->trk_lock);
			return;
		}
		t->kind = kind;
		t->temp = name && policy_is_temp_name(name);
		added = true;
	}
	t->last_change_ms = fs_now_ms();
	pthread_mutex_unlock(&fs->trk_lock);
	if (added)
		fs_track_register(fs, id, 0);
}

void fs_track_adopt(struct fs *fs, int64_t id)
{
	struct ckpt_info ci;
	pthread_mutex_lock(&fs->trk_lock);
	bool known = fs_track_find(fs, id) != NULL;
	pthread_mutex_unlock(&fs->trk_lock);
	if (known || store_ckpt_get(fs->st, id, &ci) < 0)
		return;
	if (ci.state == CKPT_STAGING || (ci.state == CKPT_COMMITTED && ci.staging_version))
		fs_track_add(fs, id, ci.kind, ci.name);
	ckpt_info_release(&ci);
}

/* A writer of checkpoint id that we cannot see: FUSE gave pid 0 (it is in
 * a PID namespace the daemon is not in) or its pid could not be watched.
 * Counted for .ckptfs/status; said once in the log; recorded once per
 * checkpoint as an event, which `ckpt ls` warns about. */
static void fs_note_invisible(struct fs *fs, int64_t id, pid_t pid, bool first_in_ckpt)
{
	if (__atomic_fetch_add(&fs->n_invisible, 1, __ATOMIC_RELAXED) == 0)
		fs_log(LOG_WARNING,
		       "this mount cannot see a writer process (pid %d%s): its exit is not "
		       "detected, so a killed writer may commit; mount with -o commit=rename or "
		       "-o commit_marker=GLOB where that matters",
		       (int)pid,
		       pid <= 0 ? ": FUSE reports 0, the daemon runs in another PID namespace"
				: ": no pidfd");
	struct ckpt_info ci;
	if (first_in_ckpt && store_ckpt_get(fs->st, id, &ci) == 0) {
		store_event_log(fs->st, "invisible", ci.name, "writer not visible to the mount");
		fs_log(LOG_WARNING, "invisible name=%s pid=%d", ci.name, (int)pid);
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
	if (t && open)
		fs_track_register(fs, id, +1);
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
	if (t)
		fs_track_register(fs, id, -1);
}

int fs_track_join(struct fs *fs, int64_t id)
{
	bool waited = false;
	struct fs_track *t;
	pthread_mutex_lock(&fs->trk_lock);
	while ((t = fs_track_find(fs, id)) && t->committing) {
		/* a commit takes milliseconds; it drops the track when done */
		pthread_mutex_unlock(&fs->trk_lock);
		struct timespec ts = { 0, 2 * 1000000 };
		nanosleep(&ts, NULL);
		waited = true;
		pthread_mutex_lock(&fs->trk_lock);
	}
	if (t && !waited)
		t->n_joining++;
	pthread_mutex_unlock(&fs->trk_lock);
	return waited ? -EAGAIN : t ? 1 : 0;
}

void fs_track_unjoin(struct fs *fs, int64_t id)
{
	if (!id)
		return;
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (t && t->n_joining > 0)
		t->n_joining--;
	pthread_mutex_unlock(&fs->trk_lock);
}

bool fs_track_commit_begin(struct fs *fs, int64_t id)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	bool go = !t || (t->n_active == 0 && t->n_joining == 0);
	if (t && go)
		t->committing = true;
	pthread_mutex_unlock(&fs->trk_lock);
	return go;
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

void fs_track_doom(struct fs *fs, int64_t id, const char *reason)
{
	pthread_mutex_lock(&fs->trk_lock);
	struct fs_track *t = fs_track_find(fs, id);
	if (!t)
		t = fs_track_new(fs, id);
	if (t && !t->doomed) {
		t->doomed = true;
		snprintf(t->reason, sizeof(t->reason), "%s", reason);
	}
	pthread_mutex_unlock(&fs->trk_lock);
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

/* Unmount, several mounts: a checkpoint another mount takes part in is
 * theirs to finish (their writers, rename, marker or settle), so this
 * mount lets go of it (drops its track) and leaves it out of ids (and
 * reasons, when given). Returns how many stay. */
static size_t fs_track_leave_shared(struct fs *fs, int64_t *ids, char (*reasons)[FS_REASON_MAX],
				    size_t n)
{
	if (!fs->st || !store_multi(fs->st))
		return n;
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		bool busy = false;
		if (store_writers_busy(fs->st, ids[i], STORE_EVER, &busy) == 0 && busy) {
			fs_track_drop(fs, ids[i]);
			continue;
		}
		ids[kept] = ids[i];
		if (reasons && kept != i)
			memcpy(reasons[kept], reasons[i], FS_REASON_MAX);
		kept++;
	}
	return kept;
}

static size_t fs_track_ready_once(struct fs *fs, int64_t settle_ms, int64_t *ids, size_t max)
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
		if (t->temp || t->n_active > 0 || t->n_joining > 0 || t->doomed)
			continue;
		/* Waiting for a marker: only a marked one is ready, at once. */
		if (fs_track_awaits_trigger(fs, t)
			    ? !t->marked
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

size_t fs_track_ready(struct fs *fs, int64_t settle_ms, int64_t *ids, size_t max)
{
	for (;;) { /* a batch left wholly to other mounts: look again */
		size_t got = fs_track_ready_once(fs, settle_ms, ids, max);
		size_t n = settle_ms < 0 ? fs_track_leave_shared(fs, ids, NULL, got) : got;
		if (n > 0 || got == 0)
			return n;
	}
}

/* ---- process exits --------------------------------------------------------- */

bool fs_track_exit_seen(struct fs *fs, pid_t tgid, int status)
{
	if (status == 0)
		return false; /* a clean exit never aborts anything */
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
	return true;
}

static void fs_exit_reason(pid_t pid, int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status) || (status & 0x7f))
		snprintf(buf, len, "writer pid %d killed by signal %d", (int)pid, status & 0x7f);
	else
		snprintf(buf, len, "writer pid %d exited with status %d", (int)pid,
			 (status >> 8) & 0xff);
}

int64_t fs_track_exit_next(struct fs *fs, char *reason, size_t len)
{
	int64_t id = 0;
	pthread_mutex_lock(&fs->trk_lock);
	while (fs->n_exitq > 0 && id == 0) {
		pid_t pid = fs->exitq[fs->n_exitq - 1];
		int status = fs->exitq_status[fs->n_exitq - 1];
		for (struct fs_track *t = fs->tracks; t && !id; t = t->next)
			for (size_t i = 0; i < t->n_writers && !t->doomed; i++)
				if (t->writers[i] == pid)
					id = t->id;
		if (id)
			fs_exit_reason(pid, status, reason, len);
		else
			fs->n_exitq--; /* every checkpoint of that pid handled */
	}
	pthread_mutex_unlock(&fs->trk_lock);
	return id;
}

/* ---- aborts due ------------------------------------------------------------ */

size_t fs_track_doomed(struct fs *fs, int64_t *ids, char (*reasons)[FS_REASON_MAX], size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&fs->trk_lock);
	for (struct fs_track *t = fs->tracks; t && n < max; t = t->next) {
		if (t->doomed) {
			ids[n] = t->id;
			memcpy(reasons[n], t->reason, FS_REASON_MAX);
			n++;
		}
	}
	pthread_mutex_unlock(&fs->trk_lock);
	return n;
}

static size_t fs_track_untriggered_once(struct fs *fs, bool unmount, int64_t *ids,
					char (*reasons)[FS_REASON_MAX], size_t max)
{
	const struct fs_commit_opts *o = &fs->copts;
	int64_t now = fs_now_ms();
	char when[48];
	size_t n = 0;
	if (!unmount && o->timeout_ms <= 0)
		return 0;
	if (unmount)
		snprintf(when, sizeof(when), "before unmount");
	else
		snprintf(when, sizeof(when), "within %lld ms", (long long)o->timeout_ms);
	pthread_mutex_lock(&fs->trk_lock);
	for (struct fs_track *t = fs->tracks; t && n < max; t = t->next) {
		if (t->doomed || t->marked || !fs_track_awaits_trigger(fs, t))
			continue;
		if (unmount ? t->temp
			    : (t->n_active > 0 || t->n_joining > 0 ||
			       now - t->last_change_ms < o->timeout_ms))
			continue;
		ids[n] = t->id;
		if (t->kind == CKPT_DIR && o->marker[0] && !t->temp)
			snprintf(reasons[n], FS_REASON_MAX, "no commit marker (%.80s) %s",
				 o->marker, when);
		else
			snprintf(reasons[n], FS_REASON_MAX, "not committed by a rename %s", when);
		n++;
	}
	pthread_mutex_unlock(&fs->trk_lock);
	return n;
}

size_t fs_track_untriggered(struct fs *fs, bool unmount, int64_t *ids,
			    char (*reasons)[FS_REASON_MAX], size_t max)
{
	for (;;) { /* as fs_track_ready */
		size_t got = fs_track_untriggered_once(fs, unmount, ids, reasons, max);
		size_t n = unmount ? fs_track_leave_shared(fs, ids, reasons, got) : got;
		if (n > 0 || got == 0)
			return n;
	}
}

void fs_track_release_all(struct fs *fs)
{
	while (fs->tracks) {
		struct fs_track *t = fs->tracks;
		fs->tracks = t->next;
		free(t);
	}
}
