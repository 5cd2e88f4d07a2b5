/* What the lower layers tell the mount's threads: kernel invalidations,
 * queued here and sent only by the notifier thread (libfuse documents a
 * deadlock when a request handler sends them), and the reclaim kick, which
 * the timer (timer.c) reads. A leaf: calls nothing else in fs/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

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
				fuse_lowlevel_notify_inval_entry(fs->se, n.ino, n.name,
								 strlen(n.name));
			else
				fuse_lowlevel_notify_inval_inode(fs->se, n.ino, 0, 0);
		}
		pthread_mutex_lock(&fs->nq_lock);
	}
	pthread_mutex_unlock(&fs->nq_lock);
	return NULL;
}

int fs_notify_start(struct fs *fs)
{
	fs->nq = calloc(FS_NOTIFY_MAX, sizeof(*fs->nq));
	if (!fs->nq)
		return -ENOMEM;
	int rc = pthread_create(&fs->notifier, NULL, fs_notifier_main, fs);
	if (rc)
		return -rc;
	fs->notifier_started = true;
	return 0;
}

void fs_notify_stop(struct fs *fs)
{
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
}

void fs_reclaim_kick(struct fs *fs, bool always)
{
	if (always || __atomic_load_n(&fs->n_dead_pinned, __ATOMIC_ACQUIRE) > 0)
		__atomic_store_n(&fs->reclaim_due, true, __ATOMIC_RELEASE);
}
