/* The local directory chunk backend (chunk_backend.h): the default one.
 *
 * Layout: DIR/ab/<64-hex sha256> holds one object (two-hex fan-out dirs are
 * created on demand); DIR/tmp/ holds files being written. An object is
 * written in DIR/tmp and renamed into place, so a visible object file is
 * always complete (up to a crash before the barrier, which chunk.c detects on
 * get and repairs on put). Temp names are "<pid>-<seq>", so an open beside a
 * live writer (the CLI beside a mount) leaves its files be.
 *
 * Thread safety: every op but open/close may run concurrently. The only
 * shared mutable state is the pending list (see struct chunk_dir), guarded by
 * d->mu; barriers run one at a time (d->barrier_mu).
 */
#include "chunk_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Cap on chunks remembered between barriers for per-file fsync; beyond it
 * the barrier falls back to syncfs() (32 bytes each: 32 MiB at the cap). */
#define CHUNK_PENDING_MAX (1u << 20)

/* By default a barrier over at most this many new chunks fsyncs them;
 * over more, it calls syncfs(). */
#define CHUNK_AUTO_FSYNC_MAX 16

struct chunk_dir {
	struct chunk_backend base;
	int dirfd;
	int tmpfd;
	/* fixed at open: a barrier fsyncs each chunk put since the last one
	 * (and its dir and the top dir) when there are at most this many,
	 * else calls syncfs(); 0: always syncfs() */
	size_t fsync_max;
	atomic_uint_fast64_t tmp_seq;
	atomic_bool no_direct; /* the filesystem refused O_DIRECT: read through the page cache */

	pthread_mutex_t mu;
	/* protected by mu: hashes put since the last barrier (fsync_max > 0) */
	uint8_t (*pending)[CHUNK_HASH_LEN];
	size_t n_pending, cap_pending;
	int pending_overflow; /* protected by mu: list was capped, use syncfs */
	/* Held for a whole barrier. A barrier takes the pending list at its
	 * start, so a concurrent one could take chunks another caller put
	 * before its own barrier; waiting here until that barrier has synced
	 * them keeps "durable when the barrier returns" true for every put
	 * made before the call. */
	pthread_mutex_t barrier_mu;
};

static struct chunk_dir *dir_of(struct chunk_backend *be)
{
	return (struct chunk_dir *)be;
}

/* "ab/abcdef..." relative to dirfd; out holds 68 bytes. */
static void chunk_relpath(const uint8_t hash[CHUNK_HASH_LEN], char out[68])
{
	char hex[65];

	chunk_hex(hash, hex);
	out[0] = hex[0];
	out[1] = hex[1];
	out[2] = '/';
	memcpy(out + 3, hex, 65);
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int fsync_dirfd_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* ---- open / close / cleanup ---- */

/* True when a tmp name "<pid>-<seq>" belongs to another process that is
 * still alive: a writer beside us (the CLI opens the store beside a live
 * mount), whose file must not be pulled from under it. */
static int tmp_owner_alive(const char *name)
{
	char *end;
	long pid;

	errno = 0;
	pid = strtol(name, &end, 10);
	if (errno || end == name || *end != '-' || pid <= 0 || pid > INT_MAX)
		return 0;
	if ((pid_t)pid == getpid())
		return 0; /* not ours while open: left by an earlier holder of the pid */
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Removes the files in DIR/tmp left by writers that are gone: they were
 * never renamed into place, so no chunk list can refer to them. */
static int dir_cleanup(struct chunk_backend *be)
{
	int fd = dup(dir_of(be)->tmpfd);
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (tmp_owner_alive(e->d_name))
			continue;
		if (unlinkat(dir_of(be)->tmpfd, e->d_name, 0) < 0 && errno != ENOENT) {
			rc = -errno;
			break;
		}
	}
	closedir(d);
	return rc;
}

/* Barrier choice, by measurement on ext4. Many chunks (256 x 1 MiB puts):
 * syncfs 5-130 ms against 0.2-1.6 s for fsync of every chunk, dir and top
 * dir (one journal commit instead of one per file; the puts already started
 * writeback). But syncfs also writes back every unrelated dirty page of the
 * filesystem: a 64 KiB commit took 4.2 ms (p50) beside a writer of other
 * files, against 2.4 ms with fsync. So the default fsyncs up to
 * CHUNK_AUTO_FSYNC_MAX new chunks and calls syncfs beyond. */
static size_t fsync_max_of(enum chunk_barrier_mode mode)
{
	switch (mode) {
	case CHUNK_BARRIER_FSYNC:
		return CHUNK_PENDING_MAX;
	case CHUNK_BARRIER_SYNCFS:
		return 0;
	default:
		return CHUNK_AUTO_FSYNC_MAX;
	}
}

static int dir_open(const struct chunk_opts *opts, struct chunk_backend **out)
{
	const char *dir = opts->spec;
	struct chunk_dir *d;
	int rc;

	if (!dir || !*dir)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base.ops = &chunk_backend_dir;
	d->tmpfd = -1;
	atomic_init(&d->tmp_seq, 0);
	d->fsync_max = fsync_max_of(opts->barrier);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out_free_d;
	}
	d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0) {
		rc = -errno;
		goto out_free_d;
	}
	if (mkdirat(d->dirfd, "tmp", 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out_close_dirfd;
	}
	d->tmpfd = openat(d->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->tmpfd < 0) {
		rc = -errno;
		goto out_close_dirfd;
	}
	rc = pthread_mutex_init(&d->mu, NULL);
	if (rc != 0) {
		rc = -rc;
		goto out_close_tmpfd;
	}
	rc = pthread_mutex_init(&d->barrier_mu, NULL);
	if (rc != 0) {
		pthread_mutex_destroy(&d->mu);
		rc = -rc;
		goto out_close_tmpfd;
	}
	*out = &d->base;
	return 0;

out_close_tmpfd:
	close(d->tmpfd);
out_close_dirfd:
	close(d->dirfd);
out_free_d:
	free(d);
	return rc;
}

static void dir_close(struct chunk_backend *be)
{
	struct chunk_dir *d = dir_of(be);

	if (!d)
		return;
	pthread_mutex_destroy(&d->barrier_mu);
	pthread_mutex_destroy(&d->mu);
	free(d->pending);
	close(d->tmpfd);
	close(d->dirfd);
	free(d);
}

/* ---- put / replace ---- */

/* Remembers a chunk for the next barrier. Past fsync_max, or on allocation
 * failure, flags the barrier to use syncfs instead, so no put is ever left
 * out. */
static void dir_reuse(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_dir *d = dir_of(be);

	if (d->fsync_max == 0)
		return;
	pthread_mutex_lock(&d->mu);
	if (d->pending_overflow)
		goto out_unlock;
	if (d->n_pending >= d->fsync_max) {
		d->pending_overflow = 1;
		goto out_unlock;
	}
	if (d->n_pending == d->cap_pending) {
		size_t ncap = d->cap_pending ? d->cap_pending * 2 : CHUNK_AUTO_FSYNC_MAX;
		void *p;

		p = realloc(d->pending, ncap * CHUNK_HASH_LEN);
		if (!p) {
			d->pending_overflow = 1;
			goto out_unlock;
		}
		d->pending = p;
		d->cap_pending = ncap;
	}
	memcpy(d->pending[d->n_pending++], hash, CHUNK_HASH_LEN);
out_unlock:
	pthread_mutex_unlock(&d->mu);
}

/* Moves tmp into place. no_replace: another put may have won the race, and
 * then exactly one of them reports a new chunk. Returns 1 when placed, 0 when
 * an existing file was kept. */
static int place_chunk(struct chunk_dir *d, const char *tmpname, const char *rel, int no_replace)
{
	char fan[3] = { rel[0], rel[1], '\0' };
	int tried_mkdir = 0;

	for (;;) {
		int r;

		if (no_replace) {
			r = renameat2(d->tmpfd, tmpname, d->dirfd, rel, RENAME_NOREPLACE);
			if (r < 0 && errno == EINVAL) {
				/* filesystem without RENAME_NOREPLACE: link fails
				 * on an existing name just the same */
				r = linkat(d->tmpfd, tmpname, d->dirfd, rel, 0);
				if (r == 0)
					unlinkat(d->tmpfd, tmpname, 0);
			}
		} else {
			r = renameat(d->tmpfd, tmpname, d->dirfd, rel);
		}
		if (r == 0)
			return 1;
		if (errno == EEXIST) {
			unlinkat(d->tmpfd, tmpname, 0);
			return 0;
		}
		if (errno != ENOENT || tried_mkdir)
			break;
		tried_mkdir = 1;
		if (mkdirat(d->dirfd, fan, 0755) < 0 && errno != EEXIST)
			break;
	}
	{
		int err = -errno;

		unlinkat(d->tmpfd, tmpname, 0);
		return err;
	}
}

/* Writes the object to a temp file and moves it into place (see
 * place_chunk); the chunk is listed for the next barrier either way. */
static int dir_write(struct chunk_dir *d, const uint8_t hash[CHUNK_HASH_LEN],
		     const struct iovec *iov, int iovcnt, int no_replace)
{
	char rel[68], tmpname[64];
	int fd, rc = 0;

	chunk_relpath(hash, rel);
	snprintf(tmpname, sizeof(tmpname), "%ld-%llu", (long)getpid(),
		 (unsigned long long)atomic_fetch_add(&d->tmp_seq, 1));
	fd = openat(d->tmpfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	for (int i = 0; i < iovcnt && rc == 0; i++)
		rc = write_full(fd, iov[i].iov_base, iov[i].iov_len);
	if (rc == 0) {
		/* start writeback now so the barrier has less to wait for;
		 * a failure here only loses that head start */
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(d->tmpfd, tmpname, 0);
		return rc;
	}
	rc = place_chunk(d, tmpname, rel, no_replace);
	if (rc >= 0)
		dir_reuse(&d->base, hash);
	return rc;
}

static int dir_put(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		   const struct iovec *iov, int iovcnt)
{
	return dir_write(dir_of(be), hash, iov, iovcnt, 1);
}

static int dir_replace(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		       const struct iovec *iov, int iovcnt)
{
	int rc = dir_write(dir_of(be), hash, iov, iovcnt, 0);

	return rc < 0 ? rc : 0;
}

/* ---- get / stat / remove / prefetch ---- */

/* One buffer, page-aligned in place and size: an object read whole by a
 * reader that keeps it (chunk_get_whole). Read with O_DIRECT, so the data
 * crosses memory once and leaves no second copy in the page cache beside
 * the one FUSE keeps; -EINVAL when the filesystem refuses O_DIRECT (then
 * never tried again). The buffer is larger than any object chunk.c writes,
 * so a short read is the object's end. */
static int dir_get_direct(struct chunk_dir *d, const char *rel, const struct iovec *iov,
			  uint64_t *size)
{
	struct stat st;
	ssize_t got;
	int fd, rc = 0;

	fd = openat(d->dirfd, rel, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd < 0)
		return -errno;
	got = pread(fd, iov->iov_base, iov->iov_len, 0);
	if (got < 0)
		rc = -errno;
	else if ((size_t)got < iov->iov_len)
		*size = (uint64_t)got;
	else if (fstat(fd, &st) < 0)
		rc = -errno;
	else
		*size = (uint64_t)st.st_size;
	close(fd);
	if (rc == -EINVAL)
		atomic_store(&d->no_direct, true);
	return rc;
}

static bool direct_ok(struct chunk_dir *d, const struct iovec *iov, int iovcnt)
{
	return iovcnt == 1 && !atomic_load(&d->no_direct) &&
		((uintptr_t)iov->iov_base & 4095) == 0 && (iov->iov_len & 4095) == 0;
}

static int dir_get(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		   const struct iovec *iov, int iovcnt, uint64_t *size)
{
	/* the caller's iov plus one byte past it: a longer file shows without
	 * a stat on the common path (an object exactly the expected size) */
	struct iovec v[9];
	size_t want = 0;
	char rel[68], extra;
	ssize_t got;
	int fd, rc = 0;

	if (iovcnt < 0 || iovcnt > 8)
		return -EINVAL;
	chunk_relpath(hash, rel);
	if (direct_ok(dir_of(be), iov, iovcnt)) {
		rc = dir_get_direct(dir_of(be), rel, iov, size);
		if (rc != -EINVAL)
			return rc;
		rc = 0;
	}
	for (int i = 0; i < iovcnt; i++) {
		v[i] = iov[i];
		want += iov[i].iov_len;
	}
	v[iovcnt].iov_base = &extra;
	v[iovcnt].iov_len = 1;
	fd = openat(dir_of(be)->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* a regular file reads short only at its end */
	got = preadv(fd, v, iovcnt + 1, 0);
	if (got < 0) {
		rc = -errno;
	} else if ((size_t)got <= want) {
		*size = (uint64_t)got;
	} else {
		struct stat st;

		if (fstat(fd, &st) < 0)
			rc = -errno;
		else
			*size = (uint64_t)st.st_size;
	}
	close(fd);
	return rc;
}

static int dir_stat(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		    struct chunk_obj_stat *out)
{
	char rel[68];
	struct stat st;

	chunk_relpath(hash, rel);
	if (fstatat(dir_of(be)->dirfd, rel, &st, 0) < 0)
		return -errno;
	out->size = (uint64_t)st.st_size;
	out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

static int dir_remove(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN])
{
	char rel[68];

	chunk_relpath(hash, rel);
	if (unlinkat(dir_of(be)->dirfd, rel, 0) < 0)
		return -errno;
	return 0;
}

/* Starts reading a chunk file into the page cache without waiting: a
 * sequential reader asks for the chunks ahead, so the disk works on them
 * while the current one is decoded and replied (chunk files are separate
 * files, so the kernel's own readahead never crosses into the next one). */
static void dir_prefetch(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN])
{
	char rel[68];
	int fd;

	chunk_relpath(hash, rel);
	fd = openat(dir_of(be)->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	close(fd);
}

/* ---- barrier ---- */

static int barrier_syncfs(struct chunk_dir *d)
{
	if (syncfs(d->dirfd) < 0)
		return -errno;
	return 0;
}

static int barrier_fsync(struct chunk_dir *d)
{
	uint8_t(*list)[CHUNK_HASH_LEN];
	uint8_t fans[256] = { 0 };
	size_t n;
	int overflow, rc = 0;

	pthread_mutex_lock(&d->mu);
	list = d->pending;
	n = d->n_pending;
	overflow = d->pending_overflow;
	d->pending = NULL;
	d->n_pending = d->cap_pending = 0;
	d->pending_overflow = 0;
	pthread_mutex_unlock(&d->mu);

	if (overflow) {
		free(list);
		return barrier_syncfs(d);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char rel[68];
		int fd;

		chunk_relpath(list[i], rel);
		fans[list[i][0]] = 1;
		fd = openat(d->dirfd, rel, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue; /* removed since: nothing to keep */
			rc = -errno;
			break;
		}
		if (fsync(fd) < 0)
			rc = -errno;
		close(fd);
	}
	for (int i = 0; i < 256 && rc == 0; i++) {
		char fan[3];

		if (!fans[i])
			continue;
		snprintf(fan, sizeof(fan), "%02x", i);
		rc = fsync_dirfd_at(d->dirfd, fan);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc == 0 && fsync(d->dirfd) < 0)
		rc = -errno;
	free(list);
	if (rc < 0) {
		/* some puts may not be durable and are no longer listed: make
		 * the next barrier cover everything */
		pthread_mutex_lock(&d->mu);
		d->pending_overflow = 1;
		pthread_mutex_unlock(&d->mu);
	}
	return rc;
}

static int dir_barrier(struct chunk_backend *be)
{
	struct chunk_dir *d = dir_of(be);
	int rc;

	pthread_mutex_lock(&d->barrier_mu);
	rc = d->fsync_max ? barrier_fsync(d) : barrier_syncfs(d);
	pthread_mutex_unlock(&d->barrier_mu);
	return rc;
}

/* ---- foreach ---- */

/* Calls fn for every chunk file of fan-out dir i (0-255). */
static int foreach_fan(struct chunk_dir *d, int i, chunk_foreach_fn fn, void *ctx)
{
	char fan[3];
	struct dirent *e;
	DIR *dp;
	int fd, rc = 0;

	snprintf(fan, sizeof(fan), "%02x", i);
	fd = openat(d->dirfd, fan, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	dp = fdopendir(fd);
	if (!dp) {
		rc = -errno;
		close(fd);
		return rc;
	}
	errno = 0;
	while ((e = readdir(dp)) != NULL) {
		uint8_t h[CHUNK_HASH_LEN];

		/* skip anything that is not a chunk of this fan-out dir */
		if (strlen(e->d_name) != 64 || chunk_unhex(e->d_name, h) < 0 || h[0] != i)
			continue;
		rc = fn(ctx, h);
		if (rc != 0)
			break;
		errno = 0;
	}
	if (!e && errno != 0)
		rc = -errno;
	closedir(dp);
	return rc;
}

static int dir_foreach(struct chunk_backend *be, chunk_foreach_fn fn, void *ctx)
{
	for (int i = 0; i < 256; i++) {
		int rc = foreach_fan(dir_of(be), i, fn, ctx);

		if (rc != 0)
			return rc;
	}
	return 0;
}

const struct chunk_backend_ops chunk_backend_dir = {
	.name = "dir",
	.open = dir_open,
	.close = dir_close,
	.put = dir_put,
	.replace = dir_replace,
	.get = dir_get,
	.stat = dir_stat,
	.remove = dir_remove,
	.foreach = dir_foreach,
	.barrier = dir_barrier,
	.reuse = dir_reuse,
	.prefetch = dir_prefetch,
	.cleanup = dir_cleanup,
};
