/* The operations table the session runs, and the connection's INIT and
 * DESTROY. Above the handlers (ops_dir.c, ops_file.c), which it names. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ops.h"

#define FS_READAHEAD (4u << 20)
#define FS_MAX_BACKGROUND 64

/* The kernel starts a FUSE mount's readahead at 128 KiB and the INIT reply
 * can only lower it (min with max_readahead), so a streaming reader gets one
 * request in flight at a time. Our mount's bdi is raised here, before the
 * reply, so readahead keeps several 1 MiB reads in flight for the worker
 * threads. Best effort (needs root; sysfs, not our mount, so no deadlock). */
static void fs_raise_readahead(struct fs *fs)
{
	if (fs->mnt_id <= 0)
		return;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	unsigned maj = 0, min = 0;
	bool found = false;
	while (!found && getline(&line, &cap, f) > 0) {
		int id;
		if (sscanf(line, "%d %*d %u:%u", &id, &maj, &min) == 3 && id == fs->mnt_id)
			found = true;
	}
	free(line);
	fclose(f);
	if (!found)
		return;
	char path[64];
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char kb[16];
	int n = snprintf(kb, sizeof(kb), "%u\n", FS_READAHEAD >> 10);
	if (write(fd, kb, (size_t)n) < 0) {
		/* best effort */
	}
	close(fd);
}

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;
	/* O_TRUNC arrives with open, so truncation starts a version in the
	 * same step instead of a separate SETATTR. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE; /* close() must see every byte */
	conn->max_write = 1u << 20;
	conn->max_read = 1u << 20;
	fs_raise_readahead(fs);
	conn->max_readahead = FS_READAHEAD;
	/* Readahead requests are background ones: the kernel's default of 12
	 * in flight for the whole mount serialises many readers (64 ranks
	 * each loading a shard); the daemon's threads block on chunk I/O, not
	 * CPU, so more in flight is cheap. */
	conn->max_background = FS_MAX_BACKGROUND;
	conn->congestion_threshold = FS_MAX_BACKGROUND * 3 / 4;
	fs->initialised = true;
}

static void fs_op_destroy(void *userdata)
{
	struct fs *fs = userdata;
	fs->initialised = false;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_op_init,
	.destroy = fs_op_destroy,
	.lookup = fs_op_lookup,
	.forget = fs_op_forget,
	.forget_multi = fs_op_forget_multi,
	.getattr = fs_op_getattr,
	.setattr = fs_op_setattr,
	.readlink = fs_op_readlink,
	.mknod = fs_op_mknod,
	.mkdir = fs_op_mkdir,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_rmdir,
	.symlink = fs_op_symlink,
	.rename = fs_op_rename,
	.link = fs_op_link,
	.open = fs_op_open,
	.read = fs_op_read,
	.write = fs_op_write,
	.flush = fs_op_flush,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.releasedir = fs_op_releasedir,
	.statfs = fs_op_statfs,
	.setxattr = fs_op_setxattr,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.removexattr = fs_op_removexattr,
	.create = fs_op_create,
};
