/* Helpers shared by the FUSE handlers (ops_*.c). Each handler does its work
 * in an fs_do_* helper that returns 0 or -errno and replies once. */
#ifndef CKPTFS_OPS_H
#define CKPTFS_OPS_H

#include "fs.h"

enum fs_htype { FS_H_STORE, FS_H_PLAIN, FS_H_CTL, FS_H_DIR };

struct fs_dent {
	char *name;
	uint32_t mode;
	uint64_t ino;
};

/* An open file or directory (fi->fh). Owned by the handle's open/release. */
struct fs_handle {
	int type;	      /* enum fs_htype */
	int refs;	      /* 1 for the open file, +1 per request using it
				   (atomic): the last put closes and frees */
	struct store_file *f; /* FS_H_STORE */
	int64_t ckpt;	      /* FS_H_STORE */
	int kind;	      /* the checkpoint's kind */
	bool writer;	      /* opened for writing */
	bool marker;	      /* a writer of a file named like commit_marker=GLOB
				   in a directory checkpoint: its close commits */
	bool append;	      /* O_APPEND: writes go to the file's end as the store
				   sees it (the kernel's size may show the committed
				   version while a file checkpoint is overwritten) */
	bool active;	      /* a writer that wrote (or opened) since its last flush:
				   counted in its track's n_active; changed only with
				   __atomic_exchange_n (writes and flushes run concurrently) */
	int fd;		      /* FS_H_PLAIN */
	char *buf;	      /* FS_H_CTL */
	size_t len;
	struct fs_dent *ents; /* FS_H_DIR */
	size_t n_ents;
};

static inline struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct fs_handle *fs_fh(struct fuse_file_info *fi)
{
	return fi ? (struct fs_handle *)(uintptr_t)fi->fh : NULL;
}

/* The node an inode shows now: direct view follows copy-on-write, bound
 * views read their own version. */
int fs_node_cur(struct fs *fs, struct fs_inode *in, struct store_node *out);
/* n is the root of the staging version of a committed single-file
 * checkpoint (an overwrite in progress): replaces *n with the committed
 * version's file, which readers of the name see until the commit. 1 when
 * replaced, else 0. */
int fs_node_committed(struct fs *fs, struct store_node *n);
/* The same, made writable: starts a version of a committed checkpoint
 * (direct view only; -EROFS for virtual views and control files). */
int fs_node_writable(struct fs *fs, struct fs_inode *in, struct store_node *out);
/* fs_node_writable for a writer about to create or open a file there: it
 * also joins the checkpoint (fs_track_join), so no commit takes the
 * checkpoint before the writer is registered; when a commit of it is under
 * way, it waits for it and resolves again (the writer then starts the
 * next version). *joined: the checkpoint to fs_track_unjoin once the
 * writer is registered or gave up (0: none), also on failure. */
int fs_node_join(struct fs *fs, struct fs_inode *in, struct store_node *out, int64_t *joined);
/* Ends a change made while joined (fs_node_join) with result rc: a
 * successful one marks checkpoint ckpt changed (its settle restarts), then
 * the join is dropped. Returns rc. */
int fs_node_leave(struct fs *fs, int64_t ckpt, int64_t joined, int rc);
void fs_fill_attr(struct fs *fs, struct fs_inode *in, const struct store_node *n, struct stat *st);
int fs_getattr_in(struct fs *fs, struct fs_inode *in, struct stat *st, double *timeout);
/* Builds the entry for a child inode (one lookup reference taken). */
int fs_entry_for_node(struct fs *fs, struct fs_inode *parent, uint32_t view,
		      const struct store_node *n, struct fuse_entry_param *e);
int fs_entry_plain(struct fs *fs, const char *name, struct fuse_entry_param *e);
int fs_entry_fixed(struct fs *fs, struct fs_inode *in, struct fuse_entry_param *e);
char *fs_plain_path(struct fs *fs, const char *name);

/* Top-level classification of a name. */
enum fs_top { FS_TOP_NONE, FS_TOP_CTL, FS_TOP_PLAIN, FS_TOP_CKPT, FS_TOP_LATEST, FS_TOP_BEST };
bool fs_is_plain_name(struct fs *fs, const char *name);
bool fs_is_latest_name(struct fs *fs, const char *name);
/* The metric of a best_ name, or NULL. */
const char *fs_best_metric(struct fs *fs, const char *name, char *buf, size_t len);

void fs_handle_free(struct fs_handle *h);
bool fs_write_error_aborts(int err);

/* ops_dir.c / ops_file.c handlers */
void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi);
void fs_op_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		  const char *newname, unsigned int flags);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_statfs(fuse_req_t req, fuse_ino_t ino);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

#endif
