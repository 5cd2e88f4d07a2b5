/* bench-peerfs: a minimal passthrough FUSE filesystem, written for the
 * benchmark only (tools/bench/run.sh --peer). It mirrors SRC at MNT the way
 * libfuse's example/passthrough_hp.cc (3.14) does, so the bench can show
 * what the FUSE transport itself costs beside native and ckptfs:
 *   - low-level API, multi-threaded session (fuse_session_loop_mt; libfuse's
 *     defaults of 10 threads, idle threads kept, or -o max_threads=N,
 *     max_idle_threads=N);
 *   - reads answered by splice from the backing file (fuse_reply_data with a
 *     FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK buffer), writes through write_buf +
 *     fuse_buf_copy, spliced where libfuse receives the request in a pipe:
 *     only when a pipe can hold a whole request, so not with 1 MiB writes
 *     and the default fs.pipe-max-size of 1 MiB (passthrough_hp alike);
 *   - INIT as passthrough_hp: splice read/write/move asked for, max_pages
 *     and max_write left at libfuse's 1 MiB, readahead at the kernel's
 *     default, writeback cache off (as ckptfs: close() sees every byte);
 *     entry/attr timeouts of a day and keep_cache on open, passthrough_hp's
 *     defaults without --nocache.
 * -o ra_kb=N also raises the mount's readahead to N KiB (the bdi's
 * read_ahead_kb, root only, and max_readahead in INIT), as ckptfs does.
 * Inodes are passthrough_ll's: an O_PATH fd per looked-up (st_dev, st_ino),
 * the node's address as the FUSE inode number. Not installed, not a test. */
#define FUSE_USE_VERSION 312

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uintptr_t), "a node's address must fit a fuse_ino_t");

#define PF_TIMEOUT 86400.0 /* passthrough_hp without --nocache */

struct pf_inode {
	struct pf_inode *next, *prev; /* the ring of known nodes; protected by pf.mutex */
	int fd;			      /* O_PATH; owned */
	ino_t ino;
	dev_t dev;
	uint64_t nlookup; /* the kernel's references; protected by pf.mutex */
};

static struct pf {
	pthread_mutex_t mutex;
	struct pf_inode root; /* never forgotten */
	const char *source;
	unsigned ra_kb; /* 0: the kernel's readahead */
} pf = { .mutex = PTHREAD_MUTEX_INITIALIZER };

static struct pf_inode *pf_inode(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &pf.root : (struct pf_inode *)(uintptr_t)ino;
}

static int pf_fd(fuse_ino_t ino)
{
	return pf_inode(ino)->fd;
}

/* "/proc/self/fd/N": reopens an O_PATH fd with real access. */
static void pf_procname(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static void pf_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	unsigned splice = FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want |= conn->capable & splice;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (pf.ra_kb)
		conn->max_readahead = pf.ra_kb << 10;
}

/* Finds or adds the node of st, one more lookup on it; takes newfd
 * (closed if the node was known). NULL when out of memory. */
static struct pf_inode *pf_ref(int newfd, const struct stat *st)
{
	struct pf_inode *n;
	pthread_mutex_lock(&pf.mutex);
	for (n = pf.root.next; n != &pf.root; n = n->next)
		if (n->ino == st->st_ino && n->dev == st->st_dev)
			break;
	if (n != &pf.root) {
		n->nlookup++;
		close(newfd);
	} else if ((n = calloc(1, sizeof(*n))) != NULL) {
		n->fd = newfd;
		n->ino = st->st_ino;
		n->dev = st->st_dev;
		n->nlookup = 1;
		n->prev = &pf.root;
		n->next = pf.root.next;
		pf.root.next->prev = n;
		pf.root.next = n;
	}
	pthread_mutex_unlock(&pf.mutex);
	return n;
}

/* 0 or an errno; on 0, e holds the entry and one lookup is counted. */
static int pf_do_lookup(fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->attr_timeout = e->entry_timeout = PF_TIMEOUT;
	int fd = openat(pf_fd(parent), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = errno;
		close(fd);
		return err;
	}
	struct pf_inode *n = pf_ref(fd, &e->attr);
	if (!n) {
		close(fd);
		return ENOMEM;
	}
	e->ino = (uintptr_t)n;
	return 0;
}

static void pf_reply_entry(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = pf_do_lookup(parent, name, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void pf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	pf_reply_entry(req, parent, name);
}

static void pf_forget_one(fuse_ino_t ino, uint64_t nlookup)
{
	struct pf_inode *n = pf_inode(ino);
	if (n == &pf.root)
		return;
	pthread_mutex_lock(&pf.mutex);
	n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup;
	bool gone = n->nlookup == 0;
	if (gone) {
		n->prev->next = n->next;
		n->next->prev = n->prev;
	}
	pthread_mutex_unlock(&pf.mutex);
	if (gone) {
		close(n->fd);
		free(n);
	}
}

static void pf_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	pf_forget_one(ino, nlookup);
	fuse_reply_none(req);
}

static void pf_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		pf_forget_one(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void pf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct stat st;
	if (fstatat(pf_fd(ino), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, PF_TIMEOUT);
}

/* One of utimensat's times: t, now or left as it is, as valid says. */
static struct timespec pf_time(int valid, int set, int now, struct timespec t)
{
	if (!(valid & set))
		return (struct timespec){ .tv_nsec = UTIME_OMIT };
	return (valid & now) ? (struct timespec){ .tv_nsec = UTIME_NOW } : t;
}

/* chmod, truncate and utimens (what cp, truncate and touch send); 0 or -1. */
static int pf_do_setattr(fuse_ino_t ino, const struct stat *attr, int valid,
			 struct fuse_file_info *fi)
{
	char proc[64];
	pf_procname(proc, sizeof(proc), pf_fd(ino));
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if ((valid & FUSE_SET_ATTR_MODE) &&
	    (fi ? fchmod((int)fi->fh, attr->st_mode) : chmod(proc, attr->st_mode)) < 0)
		return -1;
	if ((valid & FUSE_SET_ATTR_SIZE) &&
	    (fi ? ftruncate((int)fi->fh, attr->st_size) : truncate(proc, attr->st_size)) < 0)
		return -1;
	struct timespec tv[2] = {
		pf_time(valid, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, attr->st_atim),
		pf_time(valid, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, attr->st_mtim),
	};
	if ((valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) &&
	    (fi ? futimens((int)fi->fh, tv) : utimensat(AT_FDCWD, proc, tv, 0)) < 0)
		return -1;
	return 0;
}

static void pf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		       struct fuse_file_info *fi)
{
	if (pf_do_setattr(ino, attr, valid, fi) < 0)
		fuse_reply_err(req, errno);
	else
		pf_getattr(req, ino, fi);
}

static void pf_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	if (mkdirat(pf_fd(parent), name, mode) < 0)
		fuse_reply_err(req, errno);
	else
		pf_reply_entry(req, parent, name);
}

static void pf_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, unlinkat(pf_fd(parent), name, 0) < 0 ? errno : 0);
}

static void pf_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, unlinkat(pf_fd(parent), name, AT_REMOVEDIR) < 0 ? errno : 0);
}

static void pf_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	int r = renameat2(pf_fd(parent), name, pf_fd(newparent), newname, flags);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

/* An open directory: its stream and the offset the next entry is at. */
struct pf_dir {
	DIR *dp;
	off_t offset;
};

static void pf_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pf_dir *d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int fd = openat(pf_fd(ino), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void pf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	struct pf_dir *d = (struct pf_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->offset = off;
	}
	size_t used = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d->dp);
		if (!de)
			break;
		struct stat st = { .st_ino = de->d_ino, .st_mode = (mode_t)DTTOIF(de->d_type) };
		off_t next = telldir(d->dp);
		size_t n = fuse_add_direntry(req, buf + used, size - used, de->d_name, &st, next);
		if (n > size - used) {
			seekdir(d->dp, d->offset); /* this entry goes in the next reply */
			break;
		}
		used += n;
		d->offset = next;
	}
	if (errno && !used)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void pf_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct pf_dir *d = (struct pf_dir *)(uintptr_t)fi->fh;
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

/* passthrough_hp's open flags with its default cache: keep the kernel's
 * pages of a file across opens (timeouts of a day, no --nocache). */
static void pf_open_flags(struct fuse_file_info *fi, int fd)
{
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
}

static void pf_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	int fd = openat(pf_fd(parent), name, (fi->flags | O_CREAT | O_CLOEXEC) & ~O_NOFOLLOW, mode);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	struct fuse_entry_param e;
	int err = pf_do_lookup(parent, name, &e);
	if (err) {
		close(fd);
		fuse_reply_err(req, err);
		return;
	}
	pf_open_flags(fi, fd);
	fuse_reply_create(req, &e, fi);
}

static void pf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char proc[64];
	pf_procname(proc, sizeof(proc), pf_fd(ino));
	int fd = open(proc, (fi->flags | O_CLOEXEC) & ~O_NOFOLLOW);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	pf_open_flags(fi, fd);
	fuse_reply_open(req, fi);
}

static void pf_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void pf_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	/* close() of a dup: what a close on the backing file reports */
	int fd = dup((int)fi->fh);
	fuse_reply_err(req, fd < 0 || close(fd) < 0 ? errno : 0);
}

static void pf_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	int r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

/* The reply is spliced from the backing file: no copy through the daemon. */
static void pf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/* The request's data is spliced into the backing file where libfuse got it
 * in a pipe (FUSE_CAP_SPLICE_READ), copied from memory otherwise. */
static void pf_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	(void)ino;
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = (int)fi->fh;
	out.buf[0].pos = off;
	ssize_t r = fuse_buf_copy(&out, in, FUSE_BUF_SPLICE_MOVE);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void pf_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	if (fstatvfs(pf_fd(ino), &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops pf_ops = {
	.init = pf_init,
	.lookup = pf_lookup,
	.forget = pf_forget,
	.forget_multi = pf_forget_multi,
	.getattr = pf_getattr,
	.setattr = pf_setattr,
	.mkdir = pf_mkdir,
	.unlink = pf_unlink,
	.rmdir = pf_rmdir,
	.rename = pf_rename,
	.opendir = pf_opendir,
	.readdir = pf_readdir,
	.releasedir = pf_releasedir,
	.create = pf_create,
	.open = pf_open,
	.release = pf_release,
	.flush = pf_flush,
	.fsync = pf_fsync,
	.read = pf_read,
	.write_buf = pf_write_buf,
	.statfs = pf_statfs,
};

/* Writes the mount's read_ahead_kb (its bdi, found by mount point in
 * /proc/self/mountinfo) before INIT is answered, as ckptfs does; 0 or -errno. */
static int pf_raise_readahead(const char *mnt, unsigned kb)
{
	char real[PATH_MAX], *line = NULL, point[PATH_MAX + 1];
	size_t cap = 0;
	unsigned maj = 0, min = 0, m1, m2;
	if (!realpath(mnt, real))
		return -errno;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) /* the last mount there is ours */
		if (sscanf(line, "%*d %*d %u:%u %*s %4096s", &m1, &m2, point) == 3 &&
		    !strcmp(point, real))
			maj = m1, min = m2;
	free(line);
	fclose(f);
	if (!maj && !min)
		return -ENOENT;
	char path[64];
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	int r = fprintf(f, "%u\n", kb) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static const struct fuse_opt pf_opts[] = {
	{ "ra_kb=%u", offsetof(struct pf, ra_kb), 0 },
	FUSE_OPT_END,
};

/* The first non-option is SRC (taken out); the rest is libfuse's. */
static int pf_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !pf.source) {
		pf.source = arg;
		return 0;
	}
	return 1;
}

static int pf_run(struct fuse_session *se, const struct fuse_cmdline_opts *o)
{
	if (o->singlethread)
		return fuse_session_loop(se);
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned)o->clone_fd);
	fuse_loop_cfg_set_max_threads(cfg, o->max_threads);
	if (o->max_idle_threads != UINT_MAX) /* the default: idle threads are kept */
		fuse_loop_cfg_set_idle_threads(cfg, o->max_idle_threads);
	int r = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o = { 0 };
	struct fuse_session *se = NULL;
	int ret = 1;
	pf.root.next = pf.root.prev = &pf.root;
	pf.root.fd = -1;
	if (fuse_opt_parse(&args, &pf, pf_opts, pf_opt_proc) != 0 ||
	    fuse_parse_cmdline(&args, &o) != 0)
		goto out_free_args;
	if (o.show_help || !pf.source || !o.mountpoint) {
		printf("usage: %s SRC MNT [-f] [-s] [-d] [-o max_threads=N,max_idle_threads=N,ra_kb=N]\n",
		       argv[0]);
		ret = o.show_help ? 0 : 2;
		goto out_free_args;
	}
	pf.root.fd = open(pf.source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pf.root.fd < 0) {
		fprintf(stderr, "bench-peerfs: %s: %s\n", pf.source, strerror(errno));
		goto out_free_args;
	}
	if (fuse_opt_add_arg(&args, "-odefault_permissions,fsname=bench-peerfs") != 0)
		goto out_close_root;
	umask(0); /* modes exactly as the kernel sends them */
	se = fuse_session_new(&args, &pf_ops, sizeof(pf_ops), NULL);
	if (!se)
		goto out_close_root;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, o.mountpoint) != 0)
		goto out_remove_handlers;
	int r = pf.ra_kb ? pf_raise_readahead(o.mountpoint, pf.ra_kb) : 0;
	if (r < 0)
		fprintf(stderr, "bench-peerfs: read_ahead_kb not set: %s\n", strerror(-r));
	if (fuse_daemonize(o.foreground) == 0)
		ret = pf_run(se, &o) != 0;
	fuse_session_unmount(se);
out_remove_handlers:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out_close_root:
	close(pf.root.fd);
out_free_args:
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
