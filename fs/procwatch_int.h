/* procwatch.c's inside, for procwatch.c and its unit test
 * (tests/check_procwatch.c) only: the connector watcher's state and the
 * parsers and probes the test drives directly. Everything else uses
 * procwatch.h. */
#ifndef CKPTFS_PROCWATCH_INT_H
#define CKPTFS_PROCWATCH_INT_H

#include <pthread.h>

#include "procwatch.h"

/* Big enough for a burst of exits (each event is ~80 bytes); the kernel
 * drops events (ENOBUFS) when this fills. */
#define PROCWATCH_RCVBUF (4 * 1024 * 1024)

struct procwatch {
	int sock;
	int wake_fd; /* eventfd: procwatch_stop wakes the thread */
	procwatch_exit_fn fn;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t lock; /* guards probe_pid and armed */
	pthread_cond_t armed_cond;
	pid_t probe_pid;    /* 0 until the probe child exists */
	int armed;	    /* 1 once the probe's exit was seen */
	unsigned long lost; /* ENOBUFS count; only the thread touches it */
};

/* /proc/PID/stat text -> flags and exit_code (0, -EINVAL, -ENODATA). */
int procwatch_parse_stat(const char *text, unsigned long *flags, int *exit_code);
/* The verdict on parsed stat fields (procwatch_dying_badly's). */
int procwatch_judge(unsigned long flags, int exit_code, int *status);
/* The Tgid: line of /proc/TID/status text, or -EINVAL. */
pid_t procwatch_parse_tgid(const char *text);
/* 0 when pidfds give exit statuses (PIDFD_INFO_EXIT), else negative. */
int pidwatch_probe(void);
/* A pidfd for pid, or negative errno. */
int pidwatch_open(pid_t pid);
/* 1 with *status set when the kernel has the exit status (after reaping). */
int pidwatch_info_exit(int pidfd, int *status);
/* The exit status of pid through its pidfd or its zombie's stat;
 * -ENODATA when neither knows. */
int pidwatch_status(int pidfd, pid_t pid, int *status);

#endif
