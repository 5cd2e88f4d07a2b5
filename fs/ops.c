/* What the FUSE handlers share: names, attributes, entries, handles. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "util.h"

int fs_check_name(const char *name)
{
	if (strlen(name) > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!util_utf8_valid(name))
		return -EILSEQ;
	return 0;
}

bool fs_write_error_aborts(int err)
{
	return err == -ENOSPC || err == -EIO || err == -EDQUOT;
}

char *fs_plain_path(struct fs *fs, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", fs->plain_dir, name) < 0)
		return NULL;
	return p;
}

bool fs_is_plain_name(struct fs *fs, const char *name)
{
	pthread_mutex_lock(&fs->pol_lock);
	bool r = policy_is_plain(&fs->pol, name);
	pthread_mutex_unlock(&fs->pol_lock);
	return r;
}

bool fs_is_latest_name(struct fs *fs, const char *name)
{
	pthread_mutex_lock(&fs->pol_lock);
	bool r = strcmp(fs->pol.latest_name, name) == 0;
	pthread_mutex_unlock(&fs->pol_lock);
	return r;
}

const char *fs_best_metric(struct fs *fs, const char *name, char *buf, size_t len)
{
	pthread_mutex_lock(&fs->pol_lock);
	size_t pl = strlen(fs->pol.best_prefix);
	bool match = pl > 0 && strncmp(name, fs->pol.best_prefix, pl) == 0;
	pthread_mutex_unlock(&fs->pol_lock);
	if (!match || strlen(name + pl) >= len)
		return NULL;
	snprintf(buf, len, "%s", name + pl);
	if (!meta_name_usable(buf))
		return NULL;
	return buf;
}

static void fs_ts(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000LL;
	}
}

void fs_fill_attr(struct fs *fs, struct fs_inode *in, const struct store_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->serial;
	st->st_mode = n->mode;
	st->st_nlink = n->parent == STORE_NODE_GONE ? 0 : S_ISDIR(n->mode) ? 2 : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)n->size;
	st->st_blksize = 65536;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	fs_ts(&st->st_mtim, n->mtime_ns);
	fs_ts(&st->st_ctim, n->ctime_ns);
	fs_ts(&st->st_atim, n->atime_ns);
}

int fs_node_cur(struct fs *fs, struct fs_inode *in, struct store_node *out)
{
	if (in->kind != FS_INO_NODE)
		return -EINVAL;
	if (in->view == FS_VIEW_DIRECT) {
		int rc = store_node_follow(fs->st, in->node, out);
		if (rc == 0)
			return 0;
		/* Deleted or aborted meanwhile: an open handle or working
		 * directory keeps seeing its pinned rows. */
	}
	return store_node_get(fs->st, in->node, out);
}

int fs_node_committed(struct fs *fs, struct store_node *n)
{
	if (!n->writable || n->parent != 0)
		return 0;
	struct ckpt_info ci;
	if (store_ckpt_get(fs->st, n->ckpt, &ci) < 0)
		return 0;
	int rc = 0;
	if (ci.kind == CKPT_FILE && ci.state == CKPT_COMMITTED && ci.committed_version != 0 &&
	    ci.staging_version == n->version) {
		struct store_node c;
		if (store_version_root(fs->st, ci.committed_version, &c) == 0 && S_ISREG(c.mode)) {
			*n = c;
			rc = 1;
		}
	}
	ckpt_info_release(&ci);
	return rc;
}

int fs_node_writable(struct fs *fs, struct fs_inode *in, struct store_node *out)
{
	if (in->kind != FS_INO_NODE || in->view != FS_VIEW_DIRECT)
		return -EROFS;
	int rc = store_node_follow(fs->st, in->node, out);
	if (rc < 0)
		return rc;
	if (out->writable)
		return 0;
	if (out->parent == STORE_NODE_GONE)
		return -ENOENT; /* removed from a committed version: nothing to copy */
	struct ckpt_info ci;
	rc = store_ckpt_get(fs->st, out->ckpt, &ci);
	if (rc < 0)
		return rc;
	if (ci.state != CKPT_COMMITTED) {
		ckpt_info_release(&ci);
		return -EROFS; /* aborted/deleted under us */
	}
	int64_t version;
	rc = store_ckpt_begin_version(fs->st, ci.id, &version);
	if (rc == 0) {
		fs_track_add(fs, ci.id, ci.kind, ci.name);
		fs_inodes_rebind(fs, ci.id, false);
	}
	ckpt_info_release(&ci);
	if (rc < 0)
		return rc;
	rc = store_node_follow(fs->st, in->node, out);
	if (rc == 0 && !out->writable)
		rc = -EROFS;
	return rc;
}

int fs_node_join(struct fs *fs, struct fs_inode *in, struct store_node *out, int64_t *joined)
{
	bool adopted = false;
	*joined = 0;
	for (int tries = 0;; tries++) {
		int rc = fs_node_writable(fs, in, out);
		if (rc < 0 || *joined)
			return rc; /* resolved again while joined: no commit ran since */
		rc = fs_track_join(fs, out->ckpt);
		if (rc == 1) {
			*joined = out->ckpt;
		} else if (rc == 0 && tries > 0) {
			if (adopted)
				return 0; /* not staging, or no memory: nothing to track */
			/* The commit that made us wait dropped the track our new version
			 * found (fs_track_add saw it still committing): track it now. */
			fs_track_adopt(fs, out->ckpt);
			adopted = true;
		} /* -EAGAIN: a commit of it ran meanwhile; resolve again */
	}
}

int fs_node_leave(struct fs *fs, int64_t ckpt, int64_t joined, int rc)
{
	if (rc == 0)
		fs_track_touch(fs, ckpt);
	fs_track_unjoin(fs, joined);
	return rc;
}

static void fs_fixed_attr(struct fs *fs, struct fs_inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->serial;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtim = st->st_ctim = st->st_atim = fs->mount_time;
	st->st_blksize = 4096;
	if (in->kind == FS_INO_ROOT) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (in->kind == FS_INO_CTLFILE) {
		/* Size 0 like procfs: the text is made at open, read with direct_io. */
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
	} else {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	}
}

int fs_getattr_in(struct fs *fs, struct fs_inode *in, struct stat *st, double *timeout)
{
	int rc = 0;
	switch (in->kind) {
	case FS_INO_NODE: {
		struct store_node n;
		rc = fs_node_cur(fs, in, &n);
		if (rc < 0)
			return rc;
		*timeout = in->view == FS_VIEW_DIRECT ? FS_TIMEOUT_LIVE : FS_TIMEOUT_IMMUTABLE;
		/* Being overwritten: the name shows the committed version;
		 * never cached, so readers' handles get asked (GETATTR with fh). */
		if (in->view == FS_VIEW_DIRECT && fs_node_committed(fs, &n) == 1)
			*timeout = 0;
		fs_fill_attr(fs, in, &n, st);
		return 0;
	}
	case FS_INO_PLAIN: {
		char *name = fs_reg_name(fs, (uint32_t)in->node);
		char *path = name ? fs_plain_path(fs, name) : NULL;
		if (!path) {
			rc = -ENOMEM;
		} else if (lstat(path, st) < 0) {
			rc = -errno;
		} else {
			st->st_ino = in->serial;
			*timeout = 0;
		}
		free(path);
		free(name);
		return rc;
	}
	default:
		fs_fixed_attr(fs, in, st);
		*timeout = in->kind == FS_INO_CTLFILE ? 0 : FS_TIMEOUT_LIVE;
		return 0;
	}
}

int fs_entry_fixed(struct fs *fs, struct fs_inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = fs_ino_id(fs, in);
	fs_fixed_attr(fs, in, &e->attr);
	e->attr_timeout = in->kind == FS_INO_CTLFILE ? 0 : FS_TIMEOUT_LIVE;
	e->entry_timeout = FS_TIMEOUT_LIVE;
	return 0;
}

int fs_entry_for_node(struct fs *fs, struct fs_inode *parent, uint32_t view,
		      const struct store_node *n, struct fuse_entry_param *e)
{
	struct fs_inode *in;
	int rc = fs_inode_get(fs, view, n->id, n->version, n->ckpt, FS_INO_NODE, &in);
	if (rc < 0)
		return rc;
	memset(e, 0, sizeof(*e));
	e->ino = fs_ino_id(fs, in);
	e->generation = 1;
	bool bound = view != FS_VIEW_DIRECT;
	e->attr_timeout = bound ? FS_TIMEOUT_IMMUTABLE : FS_TIMEOUT_LIVE;
	struct store_node shown = *n;
	if (!bound && fs_node_committed(fs, &shown) == 1)
		e->attr_timeout = 0; /* being overwritten: see fs_getattr_in */
	fs_fill_attr(fs, in, &shown, &e->attr);
	/* Top-level names change under us (commits, retention, aborts,
	 * other processes): never cached, so a lookup after a commit sees it. */
	if (parent->kind == FS_INO_ROOT || parent->kind == FS_INO_ABORTDIR ||
	    parent->kind == FS_INO_TRASHDIR)
		e->entry_timeout = 0;
	else
		e->entry_timeout = bound ? FS_TIMEOUT_IMMUTABLE : FS_TIMEOUT_LIVE;
	return 0;
}

int fs_entry_plain(struct fs *fs, const char *name, struct fuse_entry_param *e)
{
	char *path = fs_plain_path(fs, name);
	if (!path)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	int rc = lstat(path, &e->attr) < 0 ? -errno : 0;
	free(path);
	if (rc < 0)
		return rc;
	if (!S_ISREG(e->attr.st_mode))
		return -ENOENT;
	uint32_t id = fs_reg_id(fs, name);
	if (!id)
		return -ENOMEM;
	struct fs_inode *in;
	rc = fs_inode_get(fs, FS_VIEW_PLAIN, id, 0, 0, FS_INO_PLAIN, &in);
	if (rc < 0)
		return rc;
	e->ino = fs_ino_id(fs, in);
	e->generation = 1;
	e->attr.st_ino = in->serial;
	e->attr_timeout = 0;
	e->entry_timeout = 0;
	return 0;
}

void fs_handle_free(struct fs_handle *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_ents; i++)
		free(h->ents[i].name);
	free(h->ents);
	free(h->buf);
	free(h);
}
