/* Who still holds a file open: FUSE sends FLUSH at every close(), also of
 * one of several descriptors of one open file (a shell's `>` redirection
 * opens, dup2()s and closes the original). A single-file checkpoint must
 * commit at the last close only, so the flush handler asks whether the
 * closing process still has a descriptor open for writing on the same
 * inode (its read-only descriptors do not hold the commit back). At FLUSH time
 * the closed descriptor has already left the process's table. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

#define FS_HOLDERS_MAX_FDS 65536 /* descriptors examined per process */

/* Decodes mountinfo's octal escapes (\040 for a space) in place. */
static void fs_unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

int fs_find_mnt_id(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (getline(&line, &cap, f) > 0) {
		int id;
		char point[4096];
		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%d %*d %*s %*s %4095s", &id, point) != 2)
			continue;
		fs_unescape(point);
		if (strcmp(point, mnt) == 0)
			found = id; /* the last one wins: ours is mounted on top */
	}
	free(line);
	fclose(f);
	return found;
}

/* fd (a name in /proc/PID/fdinfo) is open for writing on our inode serial. */
static bool fs_fdinfo_matches(int dirfd, const char *fd, int mnt_id, uint64_t serial)
{
	char path[64];
	snprintf(path, sizeof(path), "%s", fd);
	int f = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return false;
	char buf[1024];
	ssize_t n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *m = strstr(buf, "mnt_id:"), *i = strstr(buf, "\nino:"),
		   *fl = strstr(buf, "flags:");
	if (!m || !i || !fl)
		return false;
	/* A descriptor open only for reading (the writer's own reader of the
	 * old version, or of `latest`) never writes again: not a holder. */
	if ((strtoul(fl + 6, NULL, 8) & O_ACCMODE) == O_RDONLY)
		return false;
	return atoi(m + 7) == mnt_id && strtoull(i + 5, NULL, 10) == serial;
}

bool fs_pid_holds(struct fs *fs, pid_t pid, uint64_t serial)
{
	if (fs->mnt_id <= 0 || pid <= 0)
		return false;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return false;
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return false;
	}
	bool held = false;
	size_t seen = 0;
	struct dirent *de;
	while (!held && seen < FS_HOLDERS_MAX_FDS && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		seen++;
		held = fs_fdinfo_matches(dirfd, de->d_name, fs->mnt_id, serial);
	}
	closedir(d);
	return held;
}
