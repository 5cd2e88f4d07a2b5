/* Namespace handlers: lookup, readdir, mkdir, unlink, rmdir, rename,
 * symlinks, xattrs, statfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ops.h"

#define FS_DIR_MAX_ENTRIES (1u << 22) /* a snapshot larger than this is refused */
#define FS_XATTR_PREFIX "user.ckpt."

/* ---- lookup ------------------------------------------------------------- */

static int fs_view_id(struct fs *fs, const char *prefix, const char *name, uint32_t *view)
{
	char buf[FS_NAME_MAX + 32];
	snprintf(buf, sizeof(buf), "%s%s", prefix, name);
	*view = fs_reg_id(fs, buf);
	return *view ? 0 : -ENOMEM;
}

/* A virtual entry bound to version: its root in its own view. */
static int fs_entry_bound(struct fs *fs, struct fs_inode *parent, const char *view_name,
			  int64_t version, struct fuse_entry_param *e)
{
	uint32_t view;
	int rc = fs_view_id(fs, "", view_name, &view);
	if (rc < 0)
		return rc;
	struct store_node root;
	rc = store_version_root(fs->st, version, &root);
	if (rc < 0)
		return rc;
	return fs_entry_for_node(fs, parent, view, &root, e);
}

static int fs_lookup_latest(struct fs *fs, const char *name, struct fuse_entry_param *e)
{
	int rc = -ENOENT;
	/* Retention may delete the target between resolving and pinning:
	 * resolve again then. */
	for (int tries = 0; tries < 3; tries++) {
		int64_t id, version;
		rc = store_resolve_latest(fs->st, &id, &version);
		if (rc < 0)
			return rc;
		char vname[FS_NAME_MAX + 16];
		snprintf(vname, sizeof(vname), "latest:%s", name);
		rc = fs_entry_bound(fs, &fs->root, vname, version, e);
		if (rc != -ENOENT)
			return rc;
	}
	return rc;
}

static int fs_lookup_best(struct fs *fs, const char *name, const char *metric,
			  struct fuse_entry_param *e)
{
	int rc = -ENOENT;
	for (int tries = 0; tries < 3; tries++) {
		int64_t id, version;
		rc = store_resolve_best(fs->st, metric, 0, &id, &version);
		if (rc < 0)
			return rc == -EINVAL ? -ENOENT : rc;
		char vname[FS_NAME_MAX + 16];
		snprintf(vname, sizeof(vname), "best:%s", name);
		rc = fs_entry_bound(fs, &fs->root, vname, version, e);
		if (rc != -ENOENT)
			return rc;
	}
	return rc;
}

static int fs_lookup_root(struct fs *fs, const char *name, struct fuse_entry_param *e)
{
	if (strcmp(name, ".ckptfs") == 0)
		return fs_entry_fixed(fs, &fs->ctldir, e);
	if (fs_is_plain_name(fs, name)) {
		int rc = fs_entry_plain(fs, name, e);
		if (rc != -ENOENT)
			return rc;
	}
	struct ckpt_info ci;
	int rc = store_ckpt_lookup(fs->st, name, &ci);
	if (rc == 0 && fs_track_is_doomed(fs, ci.id)) {
		ckpt_info_release(&ci);
		return -ENOENT; /* being aborted: gone from the mount already */
	}
	if (rc == 0) {
		struct store_node root;
		rc = store_version_root(fs->st, ci.version, &root);
		ckpt_info_release(&ci);
		if (rc < 0)
			return rc;
		return fs_entry_for_node(fs, &fs->root, FS_VIEW_DIRECT, &root, e);
	}
	if (rc != -ENOENT)
		return rc;
	if (fs_is_latest_name(fs, name))
		return fs_lookup_latest(fs, name, e);
	char mbuf[FS_NAME_MAX + 1];
	const char *metric = fs_best_metric(fs, name, mbuf, sizeof(mbuf));
	if (metric && strcmp(metric, "step") != 0 && strcmp(metric, "epoch") != 0)
		return fs_lookup_best(fs, name, metric, e);
	return -ENOENT;
}

static int fs_do_lookup(struct fs *fs, fuse_ino_t parent, const char *name,
			struct fuse_entry_param *e)
{
	int rc = fs_check_name(name);
	if (rc < 0)
		return rc;
	struct fs_inode *p = fs_ino(fs, parent);
	switch (p->kind) {
	case FS_INO_ROOT:
		return fs_lookup_root(fs, name, e);
	case FS_INO_CTLDIR:
		if (strcmp(name, "aborted") == 0)
			return fs_entry_fixed(fs, &fs->abortdir, e);
		if (strcmp(name, "trash") == 0)
			return fs_entry_fixed(fs, &fs->trashdir, e);
		for (int i = 0; i < FS_CTL_N; i++)
			if (strcmp(name, fs_ctl_names[i]) == 0)
				return fs_entry_fixed(fs, &fs->ctlfile[i], e);
		return -ENOENT;
	case FS_INO_ABORTDIR:
	case FS_INO_TRASHDIR: {
		struct ckpt_info ci;
		bool trash = p->kind == FS_INO_TRASHDIR;
		rc = trash ? store_trash_lookup(fs->st, name, &ci)
			   : store_ckpt_lookup_aborted(fs->st, name, &ci);
		if (rc < 0)
			return rc;
		char vname[FS_NAME_MAX + 16];
		snprintf(vname, sizeof(vname), "%s:%s", trash ? "trash" : "aborted", name);
		rc = fs_entry_bound(fs, p, vname, ci.version, e);
		ckpt_info_release(&ci);
		return rc;
	}
	case FS_INO_NODE: {
		struct store_node cur, child;
		rc = fs_node_cur(fs, p, &cur);
		if (rc < 0)
			return rc;
		if (!S_ISDIR(cur.mode))
			return -ENOTDIR;
		rc = store_node_lookup(fs->st, cur.id, name, &child);
		if (rc < 0)
			return rc;
		return fs_entry_for_node(fs, p, p->view, &child, e);
	}
	default:
		return -ENOTDIR;
	}
}

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int rc = fs_do_lookup(fs_of(req), parent, name, &e);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fs_of(req);
	fs_inode_forget(fs, fs_ino(fs, ino), nlookup);
	fuse_reply_none(req);
}

void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);
	for (size_t i = 0; i < count; i++)
		fs_inode_forget(fs, fs_ino(fs, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

/* GETATTR with a file handle (fstat, lseek SEEK_END): the node that
 * handle reads or writes, which is not the one the name shows while a file
 * checkpoint is overwritten (the writer's staging file, or a reader's
 * committed one). */
static void fs_getattr_fh(struct fs *fs, struct fs_inode *in, struct fuse_file_info *fi,
			  struct stat *st, double *timeout)
{
	struct fs_handle *h = fs_fh(fi);
	if (!h || h->type != FS_H_STORE || !h->f || in->kind != FS_INO_NODE ||
	    in->view != FS_VIEW_DIRECT)
		return;
	struct store_node hn;
	if (store_node_get(fs->st, store_file_node(h->f), &hn) < 0)
		return;
	struct stat hst;
	fs_fill_attr(fs, in, &hn, &hst);
	hst.st_size = (off_t)store_file_size(h->f);
	hst.st_blocks = (blkcnt_t)((store_file_size(h->f) + 511) / 512);
	if (hst.st_size != st->st_size || hst.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	    hst.st_mtim.tv_nsec != st->st_mtim.tv_nsec || hst.st_mode != st->st_mode) {
		*st = hst;
		*timeout = 0; /* the name shows another version */
	}
}

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	double timeout = 0;
	struct fs_inode *in = fs_ino(fs, ino);
	int rc = fs_getattr_in(fs, in, &st, &timeout);
	if (rc == 0 && fi && fi->fh)
		fs_getattr_fh(fs, in, fi, &st, &timeout);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *in = fs_ino(fs, ino);
	char buf[PATH_MAX + 1];
	struct store_node cur;
	int rc = fs_node_cur(fs, in, &cur);
	if (rc == 0)
		rc = store_node_readlink(fs->st, cur.id, buf, sizeof(buf));
	if (rc < 0) {
		fuse_reply_err(req, rc == -EINVAL && in->kind != FS_INO_NODE ? EINVAL : -rc);
		return;
	}
	buf[sizeof(buf) - 1] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ---- creating names ---------------------------------------------------------- */

/* Refuses top-level names that are virtual or reserved. */
static int fs_top_create_check(struct fs *fs, const char *name, const char *what)
{
	int rc = fs_check_name(name);
	if (rc < 0)
		return rc;
	if (strcmp(name, ".ckptfs") == 0)
		return -EEXIST;
	if (fs_is_latest_name(fs, name)) {
		store_note(fs->st,
			   "%s `%s` refused: it is the virtual latest entry "
			   "(mount with -o latest_name=OTHER,plain=%s to keep such a file)",
			   what, name, name);
		return -EEXIST;
	}
	return 0;
}

static int fs_do_mkdir(struct fs *fs, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_entry_param *e)
{
	struct fs_inode *p = fs_ino(fs, parent);
	int rc;
	if (p->kind == FS_INO_ROOT) {
		rc = fs_top_create_check(fs, name, "mkdir");
		if (rc < 0)
			return rc;
		int64_t id, rootid;
		rc = fs_admit(fs, name, CKPT_DIR);
		if (rc < 0)
			return rc;
		rc = store_ckpt_create(fs->st, name, CKPT_DIR, S_IFDIR | (mode & 07777), &id,
				       &rootid);
		if (rc < 0)
			return rc;
		fs_track_add(fs, id, CKPT_DIR, name);
		struct store_node root;
		rc = store_node_get(fs->st, rootid, &root);
		if (rc < 0)
			return rc;
		return fs_entry_for_node(fs, p, FS_VIEW_DIRECT, &root, e);
	}
	if (p->kind != FS_INO_NODE)
		return -EROFS;
	rc = fs_check_name(name);
	if (rc < 0)
		return rc;
	struct store_node cur, child;
	int64_t joined;
	/* joined, as a writer is: a commit under way is waited for, and the
	 * directory lands in the next version (never EROFS) */
	rc = fs_node_join(fs, p, &cur, &joined);
	if (rc == 0)
		rc = store_node_mkdir(fs->st, cur.id, name, S_IFDIR | (mode & 07777), &child);
	rc = fs_node_leave(fs, cur.ckpt, joined, rc);
	return rc < 0 ? rc : fs_entry_for_node(fs, p, FS_VIEW_DIRECT, &child, e);
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;
	int rc = fs_do_mkdir(fs_of(req), parent, name, mode, &e);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	/* Regular files arrive through create; devices, fifos and sockets
	 * have no place in a checkpoint. */
	fuse_reply_err(req, EPERM);
}

static int fs_do_symlink(struct fs *fs, const char *link, fuse_ino_t parent, const char *name,
			 struct fuse_entry_param *e)
{
	struct fs_inode *p = fs_ino(fs, parent);
	if (p->kind == FS_INO_ROOT)
		return -EPERM; /* frameworks fall back to a copy, which dedup makes free */
	if (p->kind != FS_INO_NODE)
		return -EROFS;
	int rc = fs_check_name(name);
	if (rc < 0)
		return rc;
	struct store_node cur, child;
	int64_t joined;
	rc = fs_node_join(fs, p, &cur, &joined); /* as mkdir */
	if (rc == 0)
		rc = store_node_symlink(fs->st, cur.id, name, link, &child);
	rc = fs_node_leave(fs, cur.ckpt, joined, rc);
	return rc < 0 ? rc : fs_entry_for_node(fs, p, FS_VIEW_DIRECT, &child, e);
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int rc = fs_do_symlink(fs_of(req), link, parent, name, &e);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, EPERM);
}

/* ---- removing names ---------------------------------------------------------- */

static int fs_root_remove(struct fs *fs, const char *name, bool dir)
{
	if (strcmp(name, ".ckptfs") == 0)
		return -EPERM;
	if (!dir && fs_is_plain_name(fs, name)) {
		char *path = fs_plain_path(fs, name);
		if (!path)
			return -ENOMEM;
		int rc = unlink(path) < 0 ? -errno : 0;
		free(path);
		if (rc != -ENOENT)
			return rc;
	}
	struct ckpt_info ci;
	int rc = store_ckpt_lookup(fs->st, name, &ci);
	if (rc == -ENOENT) {
		char mbuf[FS_NAME_MAX + 1];
		if (fs_is_latest_name(fs, name) || fs_best_metric(fs, name, mbuf, sizeof(mbuf)))
			return -EPERM; /* a view: deleting through it is refused */
		return rc;
	}
	if (rc < 0)
		return rc;
	int64_t id = ci.id;
	int kind = ci.kind;
	int64_t version = ci.version;
	ckpt_info_release(&ci);
	if (dir && kind != CKPT_DIR)
		return -ENOTDIR;
	if (!dir && kind == CKPT_DIR)
		return -EISDIR;
	if (dir) {
		struct store_node root;
		struct store_dirent *d = NULL;
		size_t n = 0;
		rc = store_version_root(fs->st, version, &root);
		if (rc == 0)
			rc = store_node_list(fs->st, root.id, &d, &n);
		if (rc < 0)
			return rc;
		store_dirents_free(d, n);
		if (n > 0)
			return -ENOTEMPTY;
	}
	return fs_delete(fs, id);
}

static int fs_do_remove(struct fs *fs, fuse_ino_t parent, const char *name, bool dir)
{
	struct fs_inode *p = fs_ino(fs, parent);
	if (p->kind == FS_INO_ROOT)
		return fs_root_remove(fs, name, dir);
	if (p->kind != FS_INO_NODE || p->view != FS_VIEW_DIRECT)
		return -EROFS;
	struct store_node cur;
	/* No new version: removing part of a committed checkpoint is done
	 * in place and withdraws it from latest/best_* (store.h). */
	int rc = fs_node_cur(fs, p, &cur);
	if (rc < 0)
		return rc;
	rc = dir ? store_node_rmdir(fs->st, cur.id, name) : store_node_unlink(fs->st, cur.id, name);
	if (rc == 0 && cur.writable)
		fs_track_touch(fs, cur.ckpt);
	else if (rc == 0)
		fs_inodes_inval_child(fs, cur.id, name); /* latest/best_* views of this version */
	return rc;
}

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -fs_do_remove(fs_of(req), parent, name, false));
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -fs_do_remove(fs_of(req), parent, name, true));
}

/* ---- rename ------------------------------------------------------------------- */

static int fs_rename_top(struct fs *fs, const char *name, const char *newname, unsigned int flags)
{
	int rc = fs_check_name(newname);
	if (rc < 0)
		return rc;
	if (strcmp(name, ".ckptfs") == 0 || strcmp(newname, ".ckptfs") == 0)
		return -EPERM;
	bool src_plain = fs_is_plain_name(fs, name), dst_plain = fs_is_plain_name(fs, newname);
	if (src_plain || dst_plain) {
		char *a = fs_plain_path(fs, name), *b = fs_plain_path(fs, newname);
		rc = -ENOMEM;
		if (a && b) {
			struct stat st;
			if (src_plain && lstat(a, &st) == 0)
				rc = dst_plain
					? (renameat2(AT_FDCWD, a, AT_FDCWD, b, flags) < 0 ? -errno
											  : 0)
					: -EXDEV;
			else
				rc = src_plain && !dst_plain ? -ENOENT : -EXDEV;
		}
		free(a);
		free(b);
		if (!(src_plain && rc == -ENOENT))
			return rc;
	}
	if (fs_is_latest_name(fs, newname)) {
		store_note(fs->st, "rename to `%s` refused: it is the virtual latest entry",
			   newname);
		return -EPERM;
	}
	struct ckpt_info ci;
	rc = store_ckpt_lookup(fs->st, name, &ci);
	if (rc == -ENOENT) {
		char mbuf[FS_NAME_MAX + 1];
		if (fs_is_latest_name(fs, name) || fs_best_metric(fs, name, mbuf, sizeof(mbuf)))
			return -EPERM;
		return rc;
	}
	if (rc < 0)
		return rc;
	int64_t id = ci.id;
	int kind = ci.kind, state = ci.state;
	ckpt_info_release(&ci);

	struct ckpt_info dst;
	rc = store_ckpt_lookup(fs->st, newname, &dst);
	if (rc == 0) {
		int dkind = dst.kind;
		int64_t did = dst.id;
		ckpt_info_release(&dst);
		if (did == id)
			return 0;
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (dkind == CKPT_DIR && kind != CKPT_DIR)
			return -EISDIR;
		if (dkind != CKPT_DIR && kind == CKPT_DIR)
			return -ENOTDIR;
	} else if (rc != -ENOENT) {
		return rc;
	}

	int sflags = (flags & RENAME_NOREPLACE) ? STORE_RENAME_NOREPLACE : 0;
	bool commit = state == CKPT_STAGING && policy_is_temp_name(name) &&
		!policy_is_temp_name(newname);
	if (commit)
		sflags |= STORE_RENAME_COMMIT;
	pthread_mutex_lock(&fs->commit_lock);
	rc = store_ckpt_rename(fs->st, id, newname, sflags);
	if (rc == 0 && commit) {
		fs_track_drop(fs, id);
		fs_after_commit(fs);
	} else if (rc == 0) {
		fs_track_rename(fs, id, newname);
	} else if (commit && rc != -EEXIST && rc != -ENOENT && rc != -EINVAL) {
		/* The commit part failed (format check, space): it was aborted. */
		fs_track_drop(fs, id);
		fs_notify_entry(fs, FUSE_ROOT_ID, name);
	}
	pthread_mutex_unlock(&fs->commit_lock);
	return rc;
}

static int fs_do_rename(struct fs *fs, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
			const char *newname, unsigned int flags)
{
	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	if (flags & ~(unsigned int)RENAME_NOREPLACE)
		return -EINVAL;
	struct fs_inode *p = fs_ino(fs, parent), *np = fs_ino(fs, newparent);
	if (p->kind == FS_INO_ROOT && np->kind == FS_INO_ROOT)
		return fs_rename_top(fs, name, newname, flags);
	if (p->kind == FS_INO_ROOT || np->kind == FS_INO_ROOT) {
		if (p->kind == FS_INO_ROOT && strcmp(name, ".ckptfs") == 0)
			return -EPERM;
		return (p->kind == FS_INO_NODE || np->kind == FS_INO_NODE) &&
				(p->kind == FS_INO_NODE ? p : np)->view == FS_VIEW_DIRECT
			? -EXDEV
			: -EROFS;
	}
	if (p->kind != FS_INO_NODE || np->kind != FS_INO_NODE || p->view != FS_VIEW_DIRECT ||
	    np->view != FS_VIEW_DIRECT)
		return -EROFS;
	int rc = fs_check_name(newname);
	if (rc < 0)
		return rc;
	struct store_node a, b;
	rc = fs_node_cur(fs, p, &a);
	if (rc == 0)
		rc = fs_node_cur(fs, np, &b);
	if (rc < 0)
		return rc;
	if (a.ckpt != b.ckpt)
		return -EXDEV;
	int64_t joined;
	rc = fs_node_join(fs, p, &a, &joined); /* as mkdir; np is of the same checkpoint */
	if (rc == 0)
		rc = fs_node_writable(fs, np, &b);
	if (rc == 0)
		rc = store_node_rename(fs->st, a.id, name, b.id, newname, flags);
	return fs_node_leave(fs, a.ckpt, joined, rc);
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		  const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -fs_do_rename(fs_of(req), parent, name, newparent, newname, flags));
}

/* ---- readdir ------------------------------------------------------------------ */

struct fs_dents {
	struct fs_dent *v;
	size_t n, cap;
	int err;
};

static void fs_dents_add(struct fs_dents *d, const char *name, uint32_t mode, uint64_t ino)
{
	if (d->err)
		return;
	if (d->n >= FS_DIR_MAX_ENTRIES) {
		d->err = -EFBIG;
		return;
	}
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 32;
		struct fs_dent *nv = realloc(d->v, ncap * sizeof(*nv));
		if (!nv) {
			d->err = -ENOMEM;
			return;
		}
		d->v = nv;
		d->cap = ncap;
	}
	char *copy = strdup(name);
	if (!copy) {
		d->err = -ENOMEM;
		return;
	}
	d->v[d->n++] = (struct fs_dent){ copy, mode, ino ? ino : 1 };
}

static bool fs_dents_has(const struct fs_dents *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, name) == 0)
			return true;
	return false;
}

static uint32_t fs_ckpt_type(struct fs *fs, int64_t id)
{
	struct ckpt_info ci;
	if (store_ckpt_get(fs->st, id, &ci) < 0)
		return S_IFDIR;
	uint32_t t = ci.kind == CKPT_FILE ? S_IFREG : S_IFDIR;
	ckpt_info_release(&ci);
	return t;
}

static void fs_list_root(struct fs *fs, struct fs_dents *d)
{
	fs_dents_add(d, ".ckptfs", S_IFDIR, 2);
	DIR *dir = opendir(fs->plain_dir);
	if (dir) {
		struct dirent *de;
		while ((de = readdir(dir)) != NULL)
			if (de->d_type == DT_REG && fs_is_plain_name(fs, de->d_name))
				fs_dents_add(d, de->d_name, S_IFREG, de->d_ino);
		closedir(dir);
	}
	struct ckpt_info *arr = NULL;
	size_t n = 0;
	int rc = store_ckpt_list(fs->st, STORE_LIST_NO_METRICS, &arr, &n);
	if (rc < 0) {
		d->err = rc;
		return;
	}
	size_t first_ckpt = d->n;
	for (size_t i = 0; i < n; i++)
		if (!fs_track_is_doomed(fs, arr[i].id))
			fs_dents_add(d, arr[i].name, arr[i].kind == CKPT_FILE ? S_IFREG : S_IFDIR,
				     1000 + (uint64_t)arr[i].id);
	ckpt_info_free_array(arr, n);
	(void)first_ckpt;

	pthread_mutex_lock(&fs->pol_lock);
	bool hide = fs->pol.hide_virtual;
	char latest[POLICY_TEXT_MAX], prefix[POLICY_TEXT_MAX];
	snprintf(latest, sizeof(latest), "%s", fs->pol.latest_name);
	snprintf(prefix, sizeof(prefix), "%s", fs->pol.best_prefix);
	pthread_mutex_unlock(&fs->pol_lock);
	if (hide)
		return;
	int64_t id, version;
	rc = fs_dents_has(d, latest) ? -ENOENT : store_resolve_latest(fs->st, &id, &version);
	if (rc == 0)
		fs_dents_add(d, latest, fs_ckpt_type(fs, id), 3);
	else if (rc != -ENOENT)
		fs_dents_add(d, latest, 0, 3); /* listed, so its lookup shows the error */
	char **names = NULL;
	size_t nn = 0;
	if (store_metric_names(fs->st, &names, &nn) < 0)
		return;
	for (size_t i = 0; i < nn; i++) {
		char full[2 * POLICY_TEXT_MAX + 8];
		const char *m = names[i];
		if (strcmp(m, "step") != 0 && strcmp(m, "epoch") != 0 && meta_name_usable(m) &&
		    strlen(prefix) + strlen(m) <= FS_NAME_MAX) {
			snprintf(full, sizeof(full), "%s%s", prefix, m);
			if (!fs_dents_has(d, full) &&
			    store_resolve_best(fs->st, m, 0, &id, &version) == 0)
				fs_dents_add(d, full, fs_ckpt_type(fs, id), 3);
		}
		free(names[i]);
	}
	free(names);
}

static int fs_do_opendir(struct fs *fs, struct fs_inode *in, struct fs_handle **out)
{
	struct fs_dents d = { 0 };
	fs_dents_add(&d, ".", S_IFDIR, in->serial);
	fs_dents_add(&d, "..", S_IFDIR, 1);
	switch (in->kind) {
	case FS_INO_ROOT:
		fs_list_root(fs, &d);
		break;
	case FS_INO_CTLDIR:
		for (int i = 0; i < FS_CTL_N; i++)
			fs_dents_add(&d, fs_ctl_names[i], S_IFREG, fs->ctlfile[i].serial);
		fs_dents_add(&d, "aborted", S_IFDIR, fs->abortdir.serial);
		fs_dents_add(&d, "trash", S_IFDIR, fs->trashdir.serial);
		break;
	case FS_INO_TRASHDIR: {
		struct ckpt_info *arr = NULL;
		size_t n = 0;
		d.err = store_trash_list(fs->st, &arr, &n);
		for (size_t i = 0; i < n; i++)
			fs_dents_add(&d, arr[i].name, arr[i].kind == CKPT_FILE ? S_IFREG : S_IFDIR,
				     1000 + (uint64_t)arr[i].id);
		ckpt_info_free_array(arr, n);
		break;
	}
	case FS_INO_ABORTDIR: {
		struct ckpt_info *arr = NULL;
		size_t n = 0;
		int rc = store_ckpt_list(fs->st, STORE_LIST_ALL | STORE_LIST_NO_METRICS, &arr, &n);
		if (rc < 0) {
			d.err = rc;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (arr[i].state == CKPT_ABORTED)
				fs_dents_add(&d, arr[i].name,
					     arr[i].kind == CKPT_FILE ? S_IFREG : S_IFDIR,
					     1000 + (uint64_t)arr[i].id);
		ckpt_info_free_array(arr, n);
		break;
	}
	case FS_INO_NODE: {
		struct store_node cur;
		struct store_dirent *ents = NULL;
		size_t n = 0;
		int rc = fs_node_cur(fs, in, &cur);
		if (rc == 0 && !S_ISDIR(cur.mode))
			rc = -ENOTDIR;
		if (rc == 0)
			rc = store_node_list(fs->st, cur.id, &ents, &n);
		if (rc < 0) {
			d.err = rc;
			break;
		}
		for (size_t i = 0; i < n; i++)
			fs_dents_add(&d, ents[i].name, ents[i].mode, (uint64_t)ents[i].id);
		store_dirents_free(ents, n);
		break;
	}
	default:
		d.err = -ENOTDIR;
	}
	struct fs_handle *h = calloc(1, sizeof(*h));
	if (!h && !d.err)
		d.err = -ENOMEM;
	if (d.err) {
		for (size_t i = 0; i < d.n; i++)
			free(d.v[i].name);
		free(d.v);
		free(h);
		return d.err;
	}
	h->type = FS_H_DIR;
	h->refs = 1;
	h->ents = d.v;
	h->n_ents = d.n;
	*out = h;
	return 0;
}

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = NULL;
	int rc = fs_do_opendir(fs, fs_ino(fs, ino), &h);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_handle_free(h); /* the opener was interrupted */
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_handle *h = fs_fh(fi);
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (size_t i = off > 0 ? (size_t)off : 0; i < h->n_ents; i++) {
		struct stat st = { .st_ino = h->ents[i].ino, .st_mode = h->ents[i].mode & S_IFMT };
		size_t len = fuse_add_direntry(req, buf + used, size - used, h->ents[i].name, &st,
					       (off_t)(i + 1));
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_handle *h = fs_fh(fi);
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0) /* setattr may hold it */
		fs_handle_free(h);
	fs_reclaim_kick(fs_of(req), false);
	fuse_reply_err(req, 0);
}

/* The room admission gives, as df shows it: max_bytes is the size and the
 * store's stored bytes are used of it; min_free is held back from what is
 * available. Staging data not yet in chunks is not counted. */
static void fs_statfs_limits(struct fs *fs, struct statvfs *sv)
{
	pthread_mutex_lock(&fs->pol_lock);
	uint64_t min_free = fs->pol.min_free, max_bytes = fs->pol.max_bytes;
	pthread_mutex_unlock(&fs->pol_lock);
	uint64_t bs = sv->f_frsize ? sv->f_frsize : sv->f_bsize;
	uint64_t avail = (uint64_t)sv->f_bavail * bs;
	struct store_stats s;
	if (!bs || (!min_free && !max_bytes))
		return;
	avail = avail > min_free ? avail - min_free : 0;
	if (max_bytes && store_stats(fs->st, &s) == 0) {
		uint64_t left = s.stored_bytes < max_bytes ? max_bytes - s.stored_bytes : 0;
		if (left < avail)
			avail = left;
		sv->f_blocks = max_bytes / bs;
		sv->f_bfree = left / bs;
	}
	sv->f_bavail = avail / bs;
	if (sv->f_bfree < sv->f_bavail)
		sv->f_bfree = sv->f_bavail;
}

void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct fs *fs = fs_of(req);
	struct statvfs sv;
	if (statvfs(store_dir(fs->st), &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fs_statfs_limits(fs, &sv);
	sv.f_namemax = FS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* ---- xattrs --------------------------------------------------------------------- */

/* The checkpoint root an xattr request is about: 0 with *ckpt set, or -errno.
 * Non-roots and control files have no ckpt attributes. */
static int fs_xattr_target(struct fs *fs, fuse_ino_t ino, bool write, int64_t *ckpt)
{
	struct fs_inode *in = fs_ino(fs, ino);
	if (in->kind != FS_INO_NODE)
		return write ? (in->kind == FS_INO_PLAIN ? -ENOTSUP : -EROFS) : -ENODATA;
	if (write && in->view != FS_VIEW_DIRECT)
		return -EROFS;
	struct store_node cur;
	int rc = fs_node_cur(fs, in, &cur);
	if (rc < 0)
		return rc;
	if (cur.parent != 0)
		return write ? -ENOTSUP : -ENODATA;
	*ckpt = cur.ckpt;
	return 0;
}

static void fs_fmt_number(double v, char *buf, size_t len)
{
	snprintf(buf, len, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, len, "%.17g", v);
}

/* All attribute names and values of a checkpoint as NUL-separated
 * name\0value\0 pairs. */
static int fs_xattr_all(struct fs *fs, int64_t ckpt, char **out, size_t *len)
{
	struct ckpt_info ci;
	int rc = store_ckpt_get(fs->st, ckpt, &ci);
	if (rc < 0)
		return rc;
	size_t cap = 64 + ci.n_metrics * (META_NAME_MAX + 48) + 2 * 80;
	char *buf = malloc(cap);
	if (!buf) {
		ckpt_info_release(&ci);
		return -ENOMEM;
	}
	size_t n = 0;
	char num[48];
#define FS_XPUT(name, value)                                                     \
	n += (size_t)snprintf(buf + n, cap - n, FS_XATTR_PREFIX "%s", name) + 1; \
	n += (size_t)snprintf(buf + n, cap - n, "%s", value) + 1
	FS_XPUT("pinned", ci.pinned ? "1" : "0");
	if (ci.has_step) {
		snprintf(num, sizeof(num), "%lld", (long long)ci.step);
		FS_XPUT("step", num);
	}
	if (ci.has_epoch) {
		fs_fmt_number(ci.epoch, num, sizeof(num));
		FS_XPUT("epoch", num);
	}
	for (size_t i = 0; i < ci.n_metrics; i++) {
		fs_fmt_number(ci.metrics[i].value, num, sizeof(num));
		FS_XPUT(ci.metrics[i].name, num);
	}
#undef FS_XPUT
	ckpt_info_release(&ci);
	*out = buf;
	*len = n;
	return 0;
}

static void fs_reply_xattr_value(fuse_req_t req, const char *value, size_t vlen, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, vlen);
	else if (size < vlen)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, vlen);
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fs_of(req);
	int64_t ckpt;
	int rc = fs_xattr_target(fs, ino, false, &ckpt);
	if (rc == 0 && strncmp(name, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX)) != 0)
		rc = -ENODATA;
	char *all = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = fs_xattr_all(fs, ckpt, &all, &len);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	for (size_t i = 0; i < len;) {
		const char *k = all + i, *v = k + strlen(k) + 1;
		if (strcmp(k, name) == 0) {
			fs_reply_xattr_value(req, v, strlen(v), size);
			free(all);
			return;
		}
		i = (size_t)(v - all) + strlen(v) + 1;
	}
	free(all);
	fuse_reply_err(req, ENODATA);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	int64_t ckpt;
	int rc = fs_xattr_target(fs, ino, false, &ckpt);
	if (rc == -ENODATA) {
		fs_reply_xattr_value(req, "", 0, size);
		return;
	}
	char *all = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = fs_xattr_all(fs, ckpt, &all, &len);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* Keep the names, drop the values, in place. */
	size_t w = 0;
	for (size_t i = 0; i < len;) {
		const char *k = all + i;
		size_t kl = strlen(k) + 1;
		const char *v = k + kl;
		memmove(all + w, k, kl);
		w += kl;
		i += kl + strlen(v) + 1;
	}
	fs_reply_xattr_value(req, all, w, size);
	free(all);
}

static int fs_do_setxattr(struct fs *fs, fuse_ino_t ino, const char *name, const char *value,
			  size_t size)
{
	int64_t ckpt;
	int rc = fs_xattr_target(fs, ino, true, &ckpt);
	if (rc < 0)
		return rc;
	if (strncmp(name, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX)) != 0)
		return -ENOTSUP;
	const char *metric = name + strlen(FS_XATTR_PREFIX);
	double v;
	if (meta_parse_number(value, size, &v) < 0)
		return -EINVAL;
	if (strcmp(metric, "pinned") == 0) {
		if (v != 0 && v != 1)
			return -EINVAL;
		return store_ckpt_set_pinned(fs->st, ckpt, v == 1);
	}
	return store_ckpt_set_metric(fs->st, ckpt, metric, v);
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags)
{
	(void)flags;
	fuse_reply_err(req, -fs_do_setxattr(fs_of(req), ino, name, value, size));
}

static int fs_do_removexattr(struct fs *fs, fuse_ino_t ino, const char *name)
{
	int64_t ckpt;
	int rc = fs_xattr_target(fs, ino, true, &ckpt);
	if (rc < 0)
		return rc;
	if (strncmp(name, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX)) != 0)
		return -ENODATA;
	const char *metric = name + strlen(FS_XATTR_PREFIX);
	if (strcmp(metric, "pinned") == 0)
		return store_ckpt_set_pinned(fs->st, ckpt, false);
	return store_ckpt_remove_metric(fs->st, ckpt, metric);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -fs_do_removexattr(fs_of(req), ino, name));
}
