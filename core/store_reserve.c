/* The space reserve: STORE/reserve, a preallocated file that keeps room for
 * the index's own writes (the WAL frames of a deletion), as ZFS keeps slop
 * space. When the disk is full a deleting operation releases it (truncates
 * it to 0) and runs once more; the lock holder allocates it again, as far as
 * space allows, at open and after gc frees bytes. Any opener may release it
 * (the CLI beside a mount too); only the read-write opener fills it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store_int.h"

static void reserve_path(const char *dir, char *path, size_t len)
{
	snprintf(path, len, "%s/reserve", dir);
}

/* STORE_RESERVE_MAX, but at most 1/16 of the filesystem. */
static uint64_t reserve_target(const char *dir)
{
	struct statvfs sv;
	uint64_t total;

	if (statvfs(dir, &sv) < 0)
		return 0;
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	return total / 16 < STORE_RESERVE_MAX ? total / 16 : STORE_RESERVE_MAX;
}

static bool reserve_release(const char *dir)
{
	char path[PATH_MAX];
	struct stat sb;

	reserve_path(dir, path, sizeof(path));
	if (stat(path, &sb) < 0 || sb.st_blocks == 0)
		return false;
	return truncate(path, 0) == 0;
}

bool store_reserve_release_full(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) < 0 || (uint64_t)sv.f_bavail * sv.f_frsize >= (1u << 20))
		return false;
	return reserve_release(dir);
}

bool store_reserve_use(struct store *st, int rc)
{
	if (rc != -ENOSPC || (st->flags & STORE_RDONLY) || !reserve_release(st->dir))
		return false;
	store_note(st, "disk full: released the space reserve (%s/reserve) to delete", st->dir);
	return true;
}

void store_reserve_fill(struct store *st)
{
	char path[PATH_MAX];
	struct stat sb;
	uint64_t target;
	int fd;

	if (!st->locked || !store_writable(st))
		return;
	target = reserve_target(st->dir);
	reserve_path(st->dir, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	/* Allocated blocks, not the size: a sparse reserve reserves nothing. */
	if (target && fstat(fd, &sb) == 0 && (uint64_t)sb.st_blocks * 512 < target &&
	    posix_fallocate(fd, 0, (off_t)target) != 0)
		(void)ftruncate(fd, 0); /* no room now: next time */
	close(fd);
}
