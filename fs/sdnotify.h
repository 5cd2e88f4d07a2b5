/* The service manager's readiness protocol (sd_notify(3)), without
 * libsystemd: one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET. */
#ifndef CKPTFS_SDNOTIFY_H
#define CKPTFS_SDNOTIFY_H

#include <pthread.h>
#include <stdbool.h>

/* Sends state ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET: a path, or
 * an abstract name written with a leading '@'. 0 when sent or when no
 * service manager asked (NOTIFY_SOCKET unset), else a negative errno. */
int fs_sd_notify(const char *state);

/* READY=1 once the mount answers: a thread stat()s mnt, which the kernel
 * holds until the session has answered INIT (and then the root's
 * GETATTR), and notifies when it succeeds. mnt must outlive
 * fs_sd_ready_join. Without NOTIFY_SOCKET nothing is started. */
struct fs_sd_ready {
	pthread_t thread;
	bool started;
	const char *mnt;
};
int fs_sd_ready_start(struct fs_sd_ready *r, const char *mnt);
/* Waits for the thread; call after the session is unmounted (a stat still
 * waiting then fails and the thread ends without notifying). */
void fs_sd_ready_join(struct fs_sd_ready *r);

#endif
