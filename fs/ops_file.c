/* File handlers: create, open, read, write, flush (where file checkpoints
 * commit and dying writers abort), release, fsync, setattr. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops.h"
#include "procwatch.h"

static int fs_store_flags(int oflags)
{
	int acc = oflags & O_ACCMODE;
	int f = 0;
	if (acc == O_RDONLY || acc == O_RDWR)
		f |= STORE_F_READ;
	if (acc == O_WRONLY || acc == O_RDWR)
		f |= STORE_F_WRITE;
	if (oflags & O_TRUNC)
		f |= STORE_F_TRUNC | STORE_F_WRITE;
	return f;
}

static int fs_ckpt_kind(struct fs *fs, int64_t id)
{
	struct ckpt_info ci;
	if (store_ckpt_get(fs->st, id, &ci) < 0)
		return CKPT_DIR;
	int k = ci.kind;
	ckpt_info_release(&ci);
	return k;
}

/* true when node n's name matches commit_marker=GLOB. */
static bool fs_is_marker(struct fs *fs, const struct store_node *n)
{
	char *path = NULL;
	if (!fs->copts.marker[0] || store_node_path(fs->st, n->id, &path) < 0)
		return false;
	const char *base = strrchr(path, '/');
	bool match = fnmatch(fs->copts.marker, base ? base + 1 : path, 0) == 0;
	free(path);
	return match;
}

/* Opens node for I/O into a new handle; writers are recorded as writers of
 * the checkpoint (pid: the requesting thread). */
static int fs_open_node(struct fs *fs, const struct store_node *n, int sflags, pid_t pid,
			struct fs_handle **out)
{
	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (!S_ISREG(n->mode))
		return -EINVAL;
	struct fs_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	int rc = store_file_open(fs->st, n->id, sflags, &h->f);
	if (rc < 0) {
		free(h);
		return rc;
	}
	h->type = FS_H_STORE;
	h->refs = 1;
	h->ckpt = n->ckpt;
	h->fd = -1;
	h->writer = (sflags & STORE_F_WRITE) != 0;
	if (h->writer) {
		if (store_multi(fs->st)) /* a checkpoint another mount started */
			fs_track_adopt(fs, n->ckpt);
		h->kind = fs_ckpt_kind(fs, n->ckpt);
		h->marker = h->kind == CKPT_DIR && fs_is_marker(fs, n);
		h->active = true;
		fs_track_writer(fs, n->ckpt, pid, true);
	}
	*out = h;
	return 0;
}

static int fs_open_plain(struct fs *fs, const char *name, int oflags, mode_t mode,
			 struct fs_handle **out)
{
	char *path = fs_plain_path(fs, name);
	if (!path)
		return -ENOMEM;
	int fd = open(path, (oflags & ~O_NOCTTY) | O_CLOEXEC, mode);
	int rc = fd < 0 ? -errno : 0;
	free(path);
	if (rc < 0)
		return rc;
	struct fs_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->type = FS_H_PLAIN;
	h->refs = 1;
	h->fd = fd;
	*out = h;
	return 0;
}

/* Writing the virtual latest file itself (DeepSpeed writes its own
 * `latest` tag file): say why in .ckptfs/status. */
static void fs_note_virtual_write(struct fs *fs, struct fs_inode *in)
{
	char *view = fs_reg_name(fs, in->view);
	struct store_node n;
	if (view && strncmp(view, "latest:", 7) == 0 && store_node_get(fs->st, in->node, &n) == 0 &&
	    n.parent == 0)
		store_note(fs->st,
			   "writing `%s` refused: it is the virtual latest entry "
			   "(mount with -o latest_name=OTHER,plain=%s to keep such a file)",
			   view + 7, view + 7);
	free(view);
}

/* ---- create ---------------------------------------------------------------- */

static int fs_do_create(struct fs *fs, fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, struct fuse_file_info *fi, struct fuse_entry_param *e,
			struct fs_handle **out)
{
	struct fs_inode *p = fs_ino(fs, parent);
	pid_t pid = fuse_req_ctx(req)->pid;
	int rc = fs_check_name(name);
	if (rc < 0)
		return rc;
	int sflags = fs_store_flags(fi->flags) | STORE_F_WRITE;
	struct store_node n;
	int64_t joined = 0;
	if (p->kind == FS_INO_ROOT) {
		if (strcmp(name, ".ckptfs") == 0)
			return -EEXIST;
		if (fs_is_plain_name(fs, name)) {
			rc = fs_open_plain(fs, name, fi->flags | O_CREAT, mode & 07777, out);
			if (rc < 0)
				return rc;
			rc = fs_entry_plain(fs, name, e);
			if (rc < 0) {
				close((*out)->fd);
				fs_handle_free(*out);
			}
			return rc;
		}
		if (fs_is_latest_name(fs, name)) {
			store_note(fs->st,
				   "creating `%s` refused: it is the virtual latest entry "
				   "(mount with -o latest_name=OTHER,plain=%s to keep such a file)",
				   name, name);
			return -EEXIST;
		}
		int64_t id, root;
		rc = fs_admit(fs, name, CKPT_FILE);
		if (rc < 0)
			return rc;
		rc = store_ckpt_create(fs->st, name, CKPT_FILE, S_IFREG | (mode & 07777), &id,
				       &root);
		if (rc < 0)
			return rc;
		fs_track_add(fs, id, CKPT_FILE, name);
		rc = store_node_get(fs->st, root, &n);
	} else if (p->kind == FS_INO_NODE) {
		struct store_node cur;
		rc = fs_node_join(fs, p, &cur, &joined);
		if (rc == 0)
			rc = store_node_create(fs->st, cur.id, name, S_IFREG | (mode & 07777), &n);
		if (rc == 0)
			fs_track_touch(fs, cur.ckpt);
	} else {
		return -EROFS;
	}
	if (rc == 0)
		rc = fs_open_node(fs, &n, sflags, pid, out);
	fs_track_unjoin(fs, joined); /* registered as a writer by now */
	if (rc < 0)
		return rc;
	(*out)->append = (fi->flags & O_APPEND) != 0;
	rc = fs_entry_for_node(fs, p, FS_VIEW_DIRECT, &n, e);
	if (rc < 0) {
		store_file_close((*out)->f);
		fs_track_writer_done(fs, n.ckpt);
		fs_handle_free(*out);
	}
	return rc;
}

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct fs_handle *h = NULL;
	int rc = fs_do_create(fs, req, parent, name, mode, fi, &e, &h);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	/* Direct view data can change under the inode (copy-on-write): no
	 * page cache, so a reader of the old version keeps its bytes. */
	fi->direct_io = 1;
	fuse_reply_create(req, &e, fi);
}

/* ---- open -------------------------------------------------------------------- */

static int fs_do_open(struct fs *fs, fuse_req_t req, struct fs_inode *in, struct fuse_file_info *fi,
		      struct fs_handle **out)
{
	int sflags = fs_store_flags(fi->flags);
	bool write = (sflags & STORE_F_WRITE) != 0;
	switch (in->kind) {
	case FS_INO_CTLFILE: {
		if (write)
			return -EROFS;
		struct fs_handle *h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->type = FS_H_CTL;
		h->refs = 1;
		h->fd = -1;
		int rc = fs_ctl_generate(fs, in->ctl, &h->buf, &h->len);
		if (rc < 0) {
			free(h);
			return rc;
		}
		fi->direct_io = 1;
		*out = h;
		return 0;
	}
	case FS_INO_PLAIN: {
		char *name = fs_reg_name(fs, (uint32_t)in->node);
		if (!name)
			return -ENOMEM;
		int rc = fs_open_plain(fs, name, fi->flags & ~(O_CREAT | O_EXCL), 0, out);
		free(name);
		fi->direct_io = 1;
		return rc;
	}
	case FS_INO_NODE: {
		struct store_node n;
		int rc;
		if (in->view != FS_VIEW_DIRECT) {
			if (write) {
				fs_note_virtual_write(fs, in);
				return -EROFS;
			}
			rc = store_node_get(fs->st, in->node, &n);
			if (rc < 0)
				return rc;
			fi->keep_cache = 1; /* a bound version never changes */
		}
		int64_t joined = 0;
		if (in->view == FS_VIEW_DIRECT) {
			rc = write ? fs_node_join(fs, in, &n, &joined) : fs_node_cur(fs, in, &n);
			/* A reader of a file checkpoint being overwritten reads
			 * the committed version whole, never the staging one. */
			if (rc == 0 && !write)
				fs_node_committed(fs, &n);
			fi->direct_io = 1;
		}
		if (rc == 0)
			rc = fs_open_node(fs, &n, sflags, fuse_req_ctx(req)->pid, out);
		fs_track_unjoin(fs, joined);
		if (rc == 0)
			(*out)->append = write && (fi->flags & O_APPEND);
		return rc;
	}
	default:
		return -EISDIR;
	}
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = NULL;
	int rc = fs_do_open(fs, req, fs_ino(fs, ino), fi, &h);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fuse_reply_open(req, fi);
}

/* ---- handle references -------------------------------------------------------- */

/* A request holds its handle so a RELEASE racing with it (the kernel sends
 * one when an interrupted request's caller closed) cannot free it. */
static struct fs_handle *fs_hget(struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
	return h;
}

/* A write error (full disk, quota, EIO) aborts the writer's checkpoint;
 * when is "" or " at close|fsync". A full disk is said on its own line. */
static void fs_abort_write(struct fs *fs, struct fs_handle *h, const char *when, int err)
{
	char reason[96];
	snprintf(reason, sizeof(reason), "write failed%s: %s", when, strerror(-err));
	if (err == -ENOSPC || err == -EDQUOT)
		fs_log(LOG_ERR, "full disk store=%s: %s", store_dir(fs->st), reason);
	fs_abort(fs, h->ckpt, reason);
}

/* A failed read's log line: damaged data ("corrupt"), or a chunk store
 * that did not answer in time (the data is not known damaged). */
static void fs_log_read_failed(struct fs *fs, const struct fs_handle *h, fuse_ino_t ino, int err)
{
	struct ckpt_info ci;
	bool named = store_ckpt_get(fs->st, h->ckpt, &ci) == 0;
	if (err == -ETIMEDOUT)
		fs_log(LOG_ERR,
		       "name=%s ino=%llu: read failed: the chunk store did not answer in time",
		       named ? ci.name : "?", (unsigned long long)ino);
	else
		fs_log(LOG_ERR, "corrupt name=%s ino=%llu: read failed: %s", named ? ci.name : "?",
		       (unsigned long long)ino, strerror(-err));
	if (named)
		ckpt_info_release(&ci);
}

/* Drops a reference; the last one closes. Returns the close result. */
static int fs_hput(struct fs *fs, struct fs_handle *h)
{
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return 0;
	int rc = 0;
	if (h->type == FS_H_STORE) {
		rc = store_file_close(h->f);
		if (rc < 0)
			fs_log(LOG_ERR, "closing a file of checkpoint %lld: %s", (long long)h->ckpt,
			       strerror(-rc));
		if (h->writer && fs_write_error_aborts(rc))
			fs_abort_write(fs, h, " at close", rc);
	} else if (h->type == FS_H_PLAIN) {
		close(h->fd);
	}
	fs_handle_free(h);
	fs_reclaim_kick(fs, false); /* it may have been the last user of a deleted version */
	return rc;
}

/* ---- read / write -------------------------------------------------------------- */

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs *fs = fs_of(req);
	struct fs_handle *h = fs_hget(fi);
	if (h->type == FS_H_CTL) {
		size_t o = (size_t)off < h->len ? (size_t)off : h->len;
		size_t n = h->len - o < size ? h->len - o : size;
		fuse_reply_buf(req, h->buf + o, n);
		fs_hput(fs, h);
		return;
	}
	/* A store file's read is served in place (no copy into a reply
	 * buffer): the reply points at the verified chunks. */
	bool vec = h->type == FS_H_STORE && size <= STORE_READ_MAX;
	struct store_read rd;
	char *buf = vec ? NULL : malloc(size ? size : 1);
	if (!vec && !buf) {
		fuse_reply_err(req, ENOMEM);
		fs_hput(fs, h);
		return;
	}
	ssize_t r;
	if (vec) {
		r = store_file_read_vec(h->f, size, (uint64_t)off, &rd);
	} else if (h->type == FS_H_PLAIN) {
		r = pread(h->fd, buf, size, off);
		if (r < 0)
			r = -errno;
	} else
		r = store_file_read(h->f, buf, size, (uint64_t)off);
	if (r >= 0) {
		fs_count(&fs->m.reads, 1);
		fs_count(&fs->m.read_bytes, (uint64_t)r);
	} else if (r == -EIO || r == -EBADMSG || r == -ETIMEDOUT) {
		fs_count(&fs->m.read_failures, 1);
		if (h->type == FS_H_STORE)
			fs_log_read_failed(fs, h, ino, (int)r);
		if (r == -ETIMEDOUT)
			r = -EIO; /* what read(2) says for a store that is not there */
	}
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else if (vec)
		fuse_reply_iov(req, rd.iov, rd.n);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	if (vec && r >= 0)
		store_read_done(&rd);
	free(buf);
	fs_hput(fs, h);
}

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	(void)ino;
	struct fs *fs = fs_of(req);
	struct fs_handle *h = fs_hget(fi);
	ssize_t r;
	if (h->type == FS_H_PLAIN) {
		r = pwrite(h->fd, buf, size, off);
		if (r < 0)
			r = -errno;
	} else if (h->type != FS_H_STORE || !h->writer) {
		r = -EBADF;
	} else {
		if (h->append)
			off = (off_t)store_file_size(h->f);
		r = fs_write_room(fs, size);
		if (r == 0)
			r = store_file_write(h->f, buf, size, (uint64_t)off);
		if (r < 0 && fs_write_error_aborts((int)r)) {
			fs_abort_write(fs, h, "", (int)r);
		} else if (r >= 0) {
			fs_count(&fs->m.writes, 1);
			fs_count(&fs->m.write_bytes, (uint64_t)r);
			/* Written again after a flush (a dup'ed fd): active again. */
			if (!__atomic_exchange_n(&h->active, true, __ATOMIC_ACQ_REL))
				fs_track_writer(fs, h->ckpt, fuse_req_ctx(req)->pid, true);
			else
				fs_track_touch(fs, h->ckpt);
		}
	}
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
	fs_hput(fs, h);
}

/* ---- flush / release / fsync --------------------------------------------------- */

/* The last close of write handle h (its active flag just cleared): true
 * when its checkpoint commits now (see fs_track_commits_at_close). With
 * several mounts the file is published first (store_file_publish): a
 * commit on another mount must find it; if that fails the checkpoint is
 * aborted and *err says why. */
static bool fs_writer_closed(struct fs *fs, struct fs_handle *h, int *err)
{
	*err = store_multi(fs->st) ? store_file_publish(fs->st, h->f) : 0;
	if (*err < 0)
		fs_abort_write(fs, h, " at close", *err);
	fs_track_writer_done(fs, h->ckpt);
	if (h->marker)
		fs_track_mark(fs, h->ckpt);
	return *err == 0 && fs_track_commits_at_close(fs, h->ckpt, h->kind);
}

static int fs_do_flush(struct fs *fs, fuse_req_t req, fuse_ino_t ino, struct fs_handle *h)
{
	if (h->type != FS_H_STORE || !h->writer || !__atomic_load_n(&h->active, __ATOMIC_ACQUIRE))
		return 0;
	pid_t pid = fuse_req_ctx(req)->pid;
	/* pid 0: the closing process is in a PID namespace we cannot see, so
	 * neither its other descriptors (a shell's dup2) nor its exit can be
	 * checked. The release, the last close of the open file, decides. */
	if (pid <= 0)
		return 0;
	int status = 0;
	bool dying = procwatch_dying_badly(pid, &status) == 1;
	/* Not the last close of this file in that process (dup2, a shell's
	 * redirection): the writer goes on. */
	if (!dying && fs_pid_holds(fs, pid, fs_ino(fs, ino)->serial))
		return 0;
	if (!__atomic_exchange_n(&h->active, false, __ATOMIC_ACQ_REL))
		return 0;
	if (dying) {
		/* Keep what it wrote readable under .ckptfs/aborted/: into
		 * chunks first (the abort does not flush open files). */
		store_file_flush(h->f);
		/* The close comes from a process being killed (or exiting
		 * non-zero) with the file still open: never commit that. */
		char reason[96];
		if (status & 0x7f)
			snprintf(reason, sizeof(reason), "writer pid %d killed by signal %d",
				 (int)pid, status & 0x7f);
		else
			snprintf(reason, sizeof(reason), "writer pid %d exited with status %d",
				 (int)pid, (status >> 8) & 0xff);
		fs_abort(fs, h->ckpt, reason);
		return 0;
	}
	/* A single-file checkpoint commits at its last writer's close, so the
	 * commit is visible when close() returns; so does a directory at its
	 * marker's. */
	int err;
	bool commit = fs_writer_closed(fs, h, &err);
	return commit ? fs_commit(fs, h->ckpt) : err;
}

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = fs_hget(fi);
	int rc = fs_do_flush(fs, req, ino, h);
	fuse_reply_err(req, -rc);
	fs_hput(fs, h);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs *fs = fs_of(req);
	struct fs_handle *h = fs_fh(fi);
	bool commit = false;
	int64_t ckpt = h->ckpt;
	if (h->type == FS_H_STORE && h->writer &&
	    __atomic_exchange_n(&h->active, false, __ATOMIC_ACQ_REL)) {
		/* Released without a last flush that let go (the fd was held
		 * elsewhere, mmap, or a writer we cannot see): the last close. */
		int err;
		commit = fs_writer_closed(fs, h, &err);
	}
	int rc = fs_hput(fs, h); /* closes now unless a request still uses it */
	if (commit && !fs_write_error_aborts(rc))
		fs_commit(fs, ckpt);
	fuse_reply_err(req, 0);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs *fs = fs_of(req);
	struct fs_handle *h = fs_hget(fi);
	int rc = 0;
	if (h->type == FS_H_PLAIN) {
		rc = (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? -errno : 0;
	} else if (h->type == FS_H_STORE && h->writer) {
		/* Into chunks now; durability is the commit's job. */
		rc = store_file_flush(h->f);
		if (fs_write_error_aborts(rc))
			fs_abort_write(fs, h, " at fsync", rc);
	}
	fuse_reply_err(req, -rc);
	fs_hput(fs, h);
}

/* ---- setattr ------------------------------------------------------------------- */

static int fs_setattr_plain(struct fs *fs, struct fs_inode *in, struct stat *attr, int to_set,
			    struct fs_handle *h)
{
	char *name = fs_reg_name(fs, (uint32_t)in->node);
	char *path = name ? fs_plain_path(fs, name) : NULL;
	free(name);
	if (!path)
		return -ENOMEM;
	int rc = 0;
	if ((to_set & FUSE_SET_ATTR_MODE) && chmod(path, attr->st_mode & 07777) < 0)
		rc = -errno;
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		int r = h && h->type == FS_H_PLAIN ? ftruncate(h->fd, attr->st_size)
						   : truncate(path, attr->st_size);
		if (r < 0)
			rc = -errno;
	}
	if (rc == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
		if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = (to_set & FUSE_SET_ATTR_ATIME_NOW)
				? (struct timespec){ .tv_nsec = UTIME_NOW }
				: attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = (to_set & FUSE_SET_ATTR_MTIME_NOW)
				? (struct timespec){ .tv_nsec = UTIME_NOW }
				: attr->st_mtim;
		if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
			rc = -errno;
	}
	free(path);
	return rc;
}

/* A time to set in ns: now, or the one given. */
static int64_t fs_set_time(bool now, const struct timespec *given)
{
	struct timespec ts = *given;
	if (now)
		clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The attributes of node cur (writable, joined) as to_set says (mask: the
 * store's bits of it); its new attributes into out. A size change through
 * a writer's handle truncates its open file. */
static int fs_setattr_node(struct fs *fs, struct fs_inode *in, struct stat *attr, int to_set,
			   int mask, struct fs_handle *h, const struct store_node *cur,
			   struct stat *out)
{
	int rc;
	int64_t mtime = fs_set_time(to_set & FUSE_SET_ATTR_MTIME_NOW, &attr->st_mtim);
	int64_t atime = fs_set_time(to_set & FUSE_SET_ATTR_ATIME_NOW, &attr->st_atim);
	if ((mask & STORE_SET_SIZE) && h && h->type == FS_H_STORE && h->writer) {
		rc = store_file_truncate(h->f, (uint64_t)attr->st_size);
		if (rc < 0)
			return rc;
		mask &= ~STORE_SET_SIZE;
	}
	struct store_node n = *cur;
	if (mask) {
		rc = store_node_setattr(fs->st, cur->id, mask, attr->st_mode & 07777,
					(uint64_t)attr->st_size, mtime, atime, &n);
		if (rc < 0)
			return rc;
	} else {
		rc = store_node_get(fs->st, cur->id, &n);
		if (rc < 0)
			return rc;
	}
	fs_fill_attr(fs, in, &n, out);
	return 0;
}

static int fs_do_setattr(struct fs *fs, struct fs_inode *in, struct stat *attr, int to_set,
			 struct fs_handle *h, struct stat *out, double *timeout)
{
	int rc;
	if (in->kind == FS_INO_PLAIN) {
		rc = fs_setattr_plain(fs, in, attr, to_set, h);
		return rc < 0 ? rc : fs_getattr_in(fs, in, out, timeout);
	}
	if (in->kind == FS_INO_ROOT)
		return -EPERM;
	if (in->kind != FS_INO_NODE || in->view != FS_VIEW_DIRECT)
		return -EROFS;
	/* Owners are not stored (everything belongs to the mounting user):
	 * no new version for a chown. atime is kept as set (reads never
	 * move it, like noatime). */
	int mask = 0;
	if (to_set & FUSE_SET_ATTR_MODE)
		mask |= STORE_SET_MODE;
	if (to_set & FUSE_SET_ATTR_SIZE)
		mask |= STORE_SET_SIZE;
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
		mask |= STORE_SET_MTIME;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		mask |= STORE_SET_ATIME;
	if (mask == 0)
		return fs_getattr_in(fs, in, out, timeout);
	struct store_node cur;
	int64_t joined;
	rc = fs_node_join(fs, in, &cur, &joined); /* a commit under way: the next version */
	if (rc == 0)
		rc = fs_setattr_node(fs, in, attr, to_set, mask, h, &cur, out);
	rc = fs_node_leave(fs, cur.ckpt, joined, rc);
	if (rc < 0)
		return rc;
	/* A path setattr on a single-file checkpoint is a whole change, like
	 * an open-write-close: it commits now, so stat and read of the name
	 * (and latest) show it when the call returns. A writer holding the
	 * file open commits it at its own close. */
	if ((!h || !h->writer) && fs_ckpt_kind(fs, cur.ckpt) == CKPT_FILE &&
	    fs_track_commits_at_close(fs, cur.ckpt, CKPT_FILE)) {
		rc = fs_commit(fs, cur.ckpt);
		if (rc < 0)
			return rc;
	}
	*timeout = FS_TIMEOUT_LIVE;
	return 0;
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	double timeout = 0;
	struct fs_handle *h = fi && fi->fh ? fs_hget(fi) : NULL;
	int rc = fs_do_setattr(fs, fs_ino(fs, ino), attr, to_set, h, &st, &timeout);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
	if (h)
		fs_hput(fs, h);
}
