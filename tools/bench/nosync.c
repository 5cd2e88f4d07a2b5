/* nosync.so: LD_PRELOAD shim that turns fsync-family calls into no-ops.
 * Used only while building metadata fixtures (mkmany), never for a measured
 * workload. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

int fsync(int fd)
{
	(void)fd;
	return 0;
}
int fdatasync(int fd)
{
	(void)fd;
	return 0;
}
int syncfs(int fd)
{
	(void)fd;
	return 0;
}
void sync(void)
{
}
int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	(void)fd;
	(void)off;
	(void)n;
	(void)flags;
	return 0;
}
