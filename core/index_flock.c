/* The single-writer lock of a store kept in its directory: flock on
 * DIR/lock (index_backend.h). The SQLite backend's lock verbs; a crashed
 * holder's lock dies with its process. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "index_backend.h"
#include "util.h"

struct index_lock {
	int fd;
};

/* -EBUSY with the holder's pid (written into the file) when it has one. */
static int flock_busy(const char *dir, int fd, char *err, size_t err_len)
{
	char buf[32];
	long pid = 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n > 0) {
		buf[n] = 0;
		pid = strtol(buf, NULL, 10);
	}
	if (pid > 0)
		util_seterr(err, err_len, "%s: already mounted or in use by pid %ld", dir, pid);
	else
		util_seterr(err, err_len, "%s: already mounted or in use", dir);
	return -EBUSY;
}

int index_flock_take(const char *dir, struct index_lock **out, char *err, size_t err_len)
{
	char path[PATH_MAX], buf[32];
	struct index_lock *lk;
	int fd, n, rc;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		util_seterr(err, err_len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? flock_busy(dir, fd, err, err_len) : -errno;
		if (rc != -EBUSY)
			util_seterr(err, err_len, "%s: lock: %s", path, strerror(-rc));
		goto out_close;
	}
	lk = malloc(sizeof(*lk));
	if (!lk) {
		rc = -ENOMEM;
		util_seterr(err, err_len, "%s: lock: %s", path, strerror(-rc));
		goto out_close;
	}
	/* who holds it, for the next opener's message */
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		/* informational only */
	}
	lk->fd = fd;
	*out = lk;
	return 0;
out_close:
	close(fd);
	return rc;
}

void index_flock_release(struct index_lock *lk)
{
	if (!lk)
		return;
	close(lk->fd); /* releases the flock */
	free(lk);
}

bool index_flock_held_elsewhere(const char *dir)
{
	char path[PATH_MAX], line[256], want[64];
	struct stat sb;
	bool held = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/lock", dir);
	if (stat(path, &sb) < 0)
		return errno != ENOENT; /* never locked when absent; in doubt, held */
	/* /proc/locks names a flock by "major:minor:inode" (hex, hex, decimal):
	 * looking is not taking, so a mount starting meanwhile is not refused */
	snprintf(want, sizeof(want), " %02x:%02x:%llu ", major(sb.st_dev), minor(sb.st_dev),
		 (unsigned long long)sb.st_ino);
	f = fopen("/proc/locks", "re");
	if (!f)
		return true;
	while (!held && fgets(line, sizeof(line), f))
		held = strstr(line, "FLOCK") && strstr(line, want);
	fclose(f);
	return held;
}
