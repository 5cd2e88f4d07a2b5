/* Shared mmap of direct_io files. Files reached by a checkpoint's own name
 * are opened with direct_io (copy-on-write must not let a writer's page
 * cache leak into a reader of the old version), and the kernel then
 * refuses MAP_SHARED (ENODEV) unless the INIT reply carries
 * FUSE_DIRECT_IO_ALLOW_MMAP (Linux >= 6.6). libfuse 3.14 has no way to ask
 * for it, so the session's I/O goes through these two functions, which set
 * the flag in the INIT reply; every other message passes unchanged.
 * safetensors and np.load(mmap_mode=...) need it. */
#include <errno.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"

#define FS_DIRECT_IO_ALLOW_MMAP_FLAGS2 (1u << (36 - 32)) /* FUSE_DIRECT_IO_ALLOW_MMAP */

static uint64_t fs_init_unique; /* the INIT request's unique; 0 once answered */

static ssize_t fs_io_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	ssize_t r = read(fd, buf, len);
	if (r >= (ssize_t)sizeof(struct fuse_in_header)) {
		const struct fuse_in_header *h = buf;
		if (h->opcode == FUSE_INIT)
			__atomic_store_n(&fs_init_unique, h->unique, __ATOMIC_RELEASE);
	}
	return r;
}

static ssize_t fs_io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	uint64_t u = __atomic_load_n(&fs_init_unique, __ATOMIC_ACQUIRE);
	if (u && count >= 2 && iov[0].iov_len >= sizeof(struct fuse_out_header)) {
		const struct fuse_out_header *oh = iov[0].iov_base;
		if (oh->unique == u && oh->error == 0 &&
		    iov[1].iov_len >= offsetof(struct fuse_init_out, flags2) + sizeof(uint32_t)) {
			struct fuse_init_out *o = iov[1].iov_base;
			o->flags |= FUSE_INIT_EXT;
			o->flags2 |= FS_DIRECT_IO_ALLOW_MMAP_FLAGS2;
			__atomic_store_n(&fs_init_unique, 0, __ATOMIC_RELEASE);
		}
	}
	return writev(fd, iov, count);
}

int fs_init_patch(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = fs_io_read,
		.writev = fs_io_writev,
	};
	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
