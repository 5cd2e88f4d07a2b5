/* sd_notify(3)'s datagram protocol, for Type=notify units (ckptfs@.service).
 * Below main.c only; calls nothing else of the driver. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sdnotify.h"

int fs_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path || !path[0])
		return 0;
	size_t len = strlen(path);
	/* '/' a path; '@' an abstract name (its leading NUL counts in the
	 * address length, a trailing one does not) */
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EAFNOSUPPORT;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				      (path[0] == '/'));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	int rc = n < 0 ? -errno : (size_t)n == strlen(state) ? 0 : -EMSGSIZE;
	close(fd);
	return rc;
}

static void *fs_sd_ready_main(void *arg)
{
	struct fs_sd_ready *r = arg;
	struct stat st;
	if (stat(r->mnt, &st) < 0) {
		fs_log(LOG_ERR, "mount %s does not answer (%s); READY=1 not sent", r->mnt,
		       strerror(errno));
		return NULL;
	}
	int rc = fs_sd_notify("READY=1");
	if (rc < 0)
		fs_log(LOG_ERR, "sd_notify READY=1: %s", strerror(-rc));
	return NULL;
}

int fs_sd_ready_start(struct fs_sd_ready *r, const char *mnt)
{
	r->started = false;
	r->mnt = mnt;
	const char *sock = getenv("NOTIFY_SOCKET");
	if (!sock || !sock[0])
		return 0;
	int rc = -pthread_create(&r->thread, NULL, fs_sd_ready_main, r);
	r->started = rc == 0;
	return rc;
}

void fs_sd_ready_join(struct fs_sd_ready *r)
{
	if (r->started)
		pthread_join(r->thread, NULL);
	r->started = false;
}
