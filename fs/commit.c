/* The commit / abort / delete glue: the store's transition, then what the
 * mount must do about it (untrack, rebind copy-on-write inodes, invalidate
 * names, retention, gc). Above the tracker (track.c) and the inode table
 * (inode.c), which do not call each other; called by the handlers and the
 * timer. Commit, abort and delete serialise on commit_lock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "fs.h"

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

int fs_gc(struct fs *fs)
{
	uint64_t freed = 0;
	int rc = store_gc(fs->st, false, &freed);
	if (freed)
		fs_log(LOG_INFO, "gc freed=%llu", (unsigned long long)freed);
	return rc;
}

/* "delete" or, when it went to the trash, "trash". */
static const char *fs_removal_word(struct fs *fs, int64_t id)
{
	struct ckpt_info ci;
	if (store_ckpt_get(fs->st, id, &ci) < 0)
		return "delete";
	bool trashed = ci.state == CKPT_TRASHED;
	ckpt_info_release(&ci);
	return trashed ? "trash" : "delete";
}

int fs_admit(struct fs *fs, const char *name, int kind)
{
	struct store_admit a;
	size_t purged = 0;
	int rc = store_admit(fs->st, name, kind, &a);
	/* What it purged may still be pinned by the kernel's inodes (names
	 * just written or read): let the reclaim sweep drop them, for up to
	 * 3 s, before refusing. */
	for (int tries = 0; rc == -ENOSPC && (purged += a.purged) && tries < 15; tries++) {
		fs_reclaim_kick(fs, true);
		struct timespec ts = { 0, 200 * 1000000 };
		nanosleep(&ts, NULL);
		rc = store_admit(fs->st, name, kind, &a);
	}
	purged += rc == 0 ? a.purged : 0;
	if (purged)
		fs_log(LOG_INFO, "purge count=%zu reason=space for %s", purged, name);
	if (rc == -ENOSPC) {
		store_admit_refused(fs->st, name, &a);
		fs_log(LOG_WARNING, "refuse name=%s predicted=%llu available=%llu", name,
		       (unsigned long long)a.predicted, (unsigned long long)a.available);
	}
	if (purged)
		fs_reclaim_kick(fs, true);
	return rc;
}

/* max_bytes: whether a write of len may cross it, by the cheap upper bound
 * (no index query until it might). */
static bool fs_max_bytes_near(struct fs *fs, uint64_t max_bytes, size_t len)
{
	uint64_t base = __atomic_load_n(&fs->room_base, __ATOMIC_ACQUIRE);
	if (base == UINT64_MAX)
		return true; /* not read yet */
	uint64_t w = __atomic_add_fetch(&fs->room_written, len, __ATOMIC_ACQ_REL);
	return base + w > max_bytes;
}

int fs_write_room(struct fs *fs, size_t len)
{
	pthread_mutex_lock(&fs->pol_lock);
	uint64_t min_free = fs->pol.min_free, max_bytes = fs->pol.max_bytes;
	pthread_mutex_unlock(&fs->pol_lock);
	struct statvfs v;
	bool low = min_free && statvfs(store_dir(fs->st), &v) == 0 &&
		(uint64_t)v.f_bavail * v.f_frsize < min_free + len;
	if (!low && !(max_bytes && fs_max_bytes_near(fs, max_bytes, len)))
		return 0;
	struct store_admit a;
	int rc = store_make_room(fs->st, len, &a);
	if (a.purged) {
		fs_log(LOG_INFO, "purge count=%zu reason=space for a write", a.purged);
		fs_reclaim_kick(fs, true);
	}
	struct store_stats s;
	if (max_bytes && store_stats(fs->st, &s) == 0) { /* the bound starts again */
		__atomic_store_n(&fs->room_written, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&fs->room_base, s.stored_bytes, __ATOMIC_RELEASE);
	}
	return rc;
}

void fs_after_commit(struct fs *fs)
{
	struct retain_row *del = NULL;
	size_t n = 0;
	fs_policy_refresh(fs); /* a `ckpt policy` change applies from the next commit */
	if (store_retain_run(fs->st, &del, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			fs_track_drop(fs, del[i].id);
			fs_log(LOG_INFO, "%s name=%s rule=%s", fs_removal_word(fs, del[i].id),
			       del[i].name, del[i].rule);
			fs_notify_entry(fs, FUSE_ROOT_ID, del[i].name);
		}
		fs_count(&fs->m.deletions, n);
		retain_rows_free(del, n);
	}
	fs_gc(fs);
	fs_reclaim_kick(fs, true); /* what the kernel still caches */
}

static int64_t fs_ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The commit line: as committed (step and size are known from now). */
static void fs_log_commit(struct fs *fs, int64_t id, const struct timespec *t0)
{
	struct ckpt_info ci;
	if (store_ckpt_get(fs->st, id, &ci) < 0)
		return;
	char step[24] = "-";
	if (ci.has_step)
		snprintf(step, sizeof(step), "%lld", (long long)ci.step);
	fs_log(LOG_INFO | FS_LOG_COMMIT, "commit name=%s step=%s bytes=%llu ms=%lld", ci.name, step,
	       (unsigned long long)ci.logical_bytes, (long long)fs_ms_since(t0));
	ckpt_info_release(&ci);
}

/* commit_lock held. The checkpoint's state decides what is left to do:
 * 1 when it committed now, 0 when nothing was to be done, or -errno. */
static int fs_commit_locked(struct fs *fs, int64_t id, const struct timespec *t0)
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
	if (!fs_track_commit_begin(fs, id)) {
		ckpt_info_release(&ci);
		return 0; /* a writer joined it: its close (or settle) commits it */
	}
	rc = store_ckpt_commit(fs->st, id);
	fs_track_drop(fs, id); /* ends committing: joiners resolve again */
	if (rc == 0) {
		if (cow)
			fs_inodes_rebind(fs, id, true);
		fs_log_commit(fs, id, t0);
		fs_after_commit(fs);
		rc = 1;
	} else {
		/* The store aborts on a failed format check or durability; make
		 * sure of it for any other failure (flushing open files can run
		 * out of space first): it leaves the listing now, a copy-on-write
		 * version falls back to the old one. */
		struct ckpt_info now;
		if (store_ckpt_get(fs->st, id, &now) == 0) {
			if (now.state == CKPT_STAGING ||
			    (now.state == CKPT_COMMITTED && now.staging_version)) {
				char reason[128];
				snprintf(reason, sizeof(reason), "commit failed: %s",
					 strerror(-rc));
				if (store_ckpt_abort(fs->st, id, reason) < 0)
					fs_track_doom(fs, id, reason);
				else
					fs_count(&fs->m.aborts, 1);
			}
			ckpt_info_release(&now);
		}
		fs_notify_entry(fs, FUSE_ROOT_ID, ci.name);
		if (cow)
			fs_inodes_rebind(fs, id, true);
		store_note(fs->st, "commit of %s failed: %s", ci.name, strerror(-rc));
		fs_log(LOG_WARNING, "abort name=%s reason=commit failed: %s", ci.name,
		       strerror(-rc));
	}
	ckpt_info_release(&ci);
	return rc;
}

/* A commit's latency into the histogram (the commit lock's wait included:
 * what the writer's close or rename waited for). */
static void fs_commit_observe(struct fs *fs, const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t ns = (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000000 + (t1.tv_nsec - t0->tv_nsec);
	size_t b = 0;
	while (b < FS_COMMIT_BUCKETS - 1 && (double)ns / 1e9 > fs_commit_bounds[b])
		b++;
	fs_count(&fs->m.commit_bucket[b], 1);
	fs_count(&fs->m.commit_ns, ns > 0 ? (uint64_t)ns : 0);
	fs_count(&fs->m.commits, 1);
}

int fs_commit(struct fs *fs, int64_t id)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&fs->commit_lock);
	int rc = fs_commit_locked(fs, id, &t0);
	pthread_mutex_unlock(&fs->commit_lock);
	if (rc == 1)
		fs_commit_observe(fs, &t0);
	return rc < 0 ? rc : 0;
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
		fs_log(LOG_WARNING, "abort name=%s reason=%s%s", ci.name, reason,
		       rc == 0 ? "" : " (pending: the index cannot be written)");
		if (rc == 0) {
			fs_count(&fs->m.aborts, 1);
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
	struct ckpt_info ci;
	bool named = store_ckpt_get(fs->st, id, &ci) == 0;
	int rc = store_ckpt_delete(fs->st, id, "user");
	if (rc == 0) {
		fs_log(LOG_INFO, "%s name=%s rule=user", fs_removal_word(fs, id),
		       named ? ci.name : "?");
		fs_count(&fs->m.deletions, 1);
		fs_track_drop(fs, id);
		fs_gc(fs);
		fs_reclaim_kick(fs, true);
	}
	if (named)
		ckpt_info_release(&ci);
	pthread_mutex_unlock(&fs->commit_lock);
	return rc;
}

void fs_commit_quiet(struct fs *fs)
{
	int64_t ids[256];
	size_t n;
	/* Each round commits (and untracks) what it found, so this ends; the
	 * tracker leaves out what other mounts write too (theirs to finish). */
	while ((n = fs_track_ready(fs, -1, ids, 256)) > 0)
		for (size_t i = 0; i < n; i++)
			fs_commit(fs, ids[i]);
}
