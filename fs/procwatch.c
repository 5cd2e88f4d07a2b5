/* Seeing writer processes die: the process-events connector and
 * /proc/PID/stat. See procwatch.h. */
#include "procwatch_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* PF_EXITING from the kernel's sched.h: set once do_exit() starts, before
 * the task's files are closed, and never cleared. */
#define PROCWATCH_PF_EXITING 0x00000004u
/* How long procwatch_start waits to see its probe child's exit. */
#define PROCWATCH_PROBE_MS 1000
/* /proc/PID/stat is ~350 bytes plus a comm of at most 64; /proc/PID/status
 * is a few KB. Anything longer is truncated, which the parsers reject. */
#define PROCWATCH_STAT_MAX 4096
#define PROCWATCH_STATUS_MAX 16384

/* Sends one PROC_CN_MCAST_* request to the connector. */
static int procwatch_send_op(int sock, enum proc_cn_mcast_op op)
{
	union {
		struct nlmsghdr nl;
		char buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op))];
	} msg;
	struct cn_msg *cn;

	memset(&msg, 0, sizeof(msg));
	msg.nl.nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(op));
	msg.nl.nlmsg_type = NLMSG_DONE;
	msg.nl.nlmsg_pid = 0;
	cn = NLMSG_DATA(&msg.nl);
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	cn->len = sizeof(op);
	memcpy(cn->data, &op, sizeof(op));
	if (send(sock, &msg, msg.nl.nlmsg_len, 0) < 0)
		return -errno;
	return 0;
}

/* Handles one exit event. Only the thread-group leader's exit is reported:
 * every thread's exit produces an event (thread pools come and go all the
 * time), the files a writer opened belong to the whole group, and for a
 * group exit (exit(), a fatal signal) the leader carries the group's exit
 * status, so one callback per process is both enough and correct. */
static void procwatch_on_exit(struct procwatch *pw, pid_t pid, pid_t tgid, int status)
{
	pid_t probe;
	int armed;

	if (pid != tgid)
		return;
	pthread_mutex_lock(&pw->lock);
	probe = pw->probe_pid;
	if (!pw->armed && probe > 0 && tgid == probe) {
		pw->armed = 1;
		pthread_cond_broadcast(&pw->armed_cond);
	}
	armed = pw->armed;
	pthread_mutex_unlock(&pw->lock);
	/* Until the probe is seen, pids may not be ours (another pid
	 * namespace); nothing is delivered then. */
	if (armed && tgid != probe)
		pw->fn(pw->ctx, tgid, status);
}

/* Walks one datagram of netlink messages. */
static void procwatch_parse(struct procwatch *pw, const char *buf, size_t len)
{
	const struct nlmsghdr *nl = (const struct nlmsghdr *)buf;
	size_t left = len;

	for (; NLMSG_OK(nl, left); nl = NLMSG_NEXT(nl, left)) {
		const struct cn_msg *cn;
		struct proc_event ev;
		size_t need = NLMSG_LENGTH(sizeof(*cn));
		size_t exit_end = offsetof(struct proc_event, event_data) +
			sizeof(ev.event_data.exit);

		if (nl->nlmsg_type == NLMSG_NOOP || nl->nlmsg_type == NLMSG_ERROR)
			continue;
		if (nl->nlmsg_len < need)
			continue;
		cn = NLMSG_DATA(nl);
		if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC)
			continue;
		/* The exit part of the event must be there in full. */
		if (cn->len < exit_end || nl->nlmsg_len < need + cn->len)
			continue;
		/* The event sits at offset 36 of the message: copied out, as
		 * its 64-bit timestamp makes it need 8-byte alignment. */
		memset(&ev, 0, sizeof(ev));
		memcpy(&ev, cn->data, cn->len < sizeof(ev) ? cn->len : sizeof(ev));
		if (ev.what != PROC_EVENT_EXIT)
			continue;
		procwatch_on_exit(pw, (pid_t)ev.event_data.exit.process_pid,
				  (pid_t)ev.event_data.exit.process_tgid,
				  (int)ev.event_data.exit.exit_code);
	}
}

static void *procwatch_thread(void *arg)
{
	struct procwatch *pw = arg;
	/* Aligned for struct nlmsghdr. */
	union {
		struct nlmsghdr nl;
		char buf[16384];
	} msg;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = pw->sock, .events = POLLIN },
			{ .fd = pw->wake_fd, .events = POLLIN },
		};
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents || (pfd[0].revents & POLLNVAL))
			break;
		/* A pending ENOBUFS shows as POLLERR: recv collects it. */
		if (!(pfd[0].revents & (POLLIN | POLLERR)))
			continue;
		n = recvfrom(pw->sock, msg.buf, sizeof(msg.buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			/* ENOBUFS: events were lost while the buffer was
			 * full; the ones after still count. */
			if (errno == ENOBUFS) {
				pw->lost++;
				continue;
			}
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		/* Only the kernel (port 0) speaks for the connector; anything
		 * else on the group is not to be believed. */
		if (fromlen < sizeof(from) || from.nl_pid != 0)
			continue;
		procwatch_parse(pw, msg.buf, (size_t)n);
	}
	return NULL;
}

/* Forks a child that exits at once, so the thread can see one exit whose
 * pid we know: proof that events arrive and that their pids are in our pid
 * namespace (the connector reports pids of the initial namespace, and in
 * another namespace it ignores the subscription silently). */
static int procwatch_probe(struct procwatch *pw)
{
	struct timespec deadline;
	pid_t child;
	int ret = 0;

	pthread_mutex_lock(&pw->lock);
	child = fork();
	if (child < 0) {
		ret = -errno;
		pthread_mutex_unlock(&pw->lock);
		return ret;
	}
	if (child == 0)
		_exit(0);
	pw->probe_pid = child;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += PROCWATCH_PROBE_MS / 1000;
	deadline.tv_nsec += (long)(PROCWATCH_PROBE_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (!pw->armed && ret == 0) {
		int rc = pthread_cond_timedwait(&pw->armed_cond, &pw->lock, &deadline);
		if (rc == ETIMEDOUT && !pw->armed)
			ret = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&pw->lock);
	/* Reap it; ECHILD when the caller ignores SIGCHLD is fine. */
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	return ret;
}

int procwatch_start(procwatch_exit_fn fn, void *ctx, struct procwatch **out)
{
	struct sockaddr_nl addr;
	struct procwatch *pw;
	pthread_condattr_t cattr;
	int rcvbuf = PROCWATCH_RCVBUF;
	int ret;

	if (!fn || !out)
		return -EINVAL;
	*out = NULL;
	pw = calloc(1, sizeof(*pw));
	if (!pw)
		return -ENOMEM;
	pw->fn = fn;
	pw->ctx = ctx;

	pw->sock = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
	if (pw->sock < 0) {
		ret = -errno;
		goto out_free;
	}
	/* Best effort: FORCE works with CAP_NET_ADMIN past rmem_max. */
	if (setsockopt(pw->sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(pw->sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

	memset(&addr, 0, sizeof(addr));
	addr.nl_family = AF_NETLINK;
	addr.nl_pid = 0; /* the kernel picks a unique port */
	addr.nl_groups = CN_IDX_PROC;
	if (bind(pw->sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno; /* EPERM without CAP_NET_ADMIN */
		goto out_close_sock;
	}
	ret = procwatch_send_op(pw->sock, PROC_CN_MCAST_LISTEN);
	if (ret < 0)
		goto out_close_sock;

	pw->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pw->wake_fd < 0) {
		ret = -errno;
		goto out_ignore;
	}
	ret = -pthread_condattr_init(&cattr);
	if (ret < 0)
		goto out_close_wake;
	ret = -pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	if (ret == 0)
		ret = -pthread_cond_init(&pw->armed_cond, &cattr);
	pthread_condattr_destroy(&cattr);
	if (ret < 0)
		goto out_close_wake;
	ret = -pthread_mutex_init(&pw->lock, NULL);
	if (ret < 0)
		goto out_destroy_cond;
	ret = -pthread_create(&pw->thread, NULL, procwatch_thread, pw);
	if (ret < 0)
		goto out_destroy_lock;

	ret = procwatch_probe(pw);
	if (ret < 0)
		goto out_stop_thread;
	*out = pw;
	return 0;

out_stop_thread : {
	uint64_t one = 1;
	if (write(pw->wake_fd, &one, sizeof(one)) < 0) {
		/* An eventfd write only fails on overflow; the
			 * counter is far from that. */
	}
	pthread_join(pw->thread, NULL);
}
out_destroy_lock:
	pthread_mutex_destroy(&pw->lock);
out_destroy_cond:
	pthread_cond_destroy(&pw->armed_cond);
out_close_wake:
	close(pw->wake_fd);
out_ignore:
	(void)procwatch_send_op(pw->sock, PROC_CN_MCAST_IGNORE);
out_close_sock:
	close(pw->sock);
out_free:
	free(pw);
	return ret;
}

void procwatch_stop(struct procwatch *pw)
{
	uint64_t one = 1;

	if (!pw)
		return;
	if (write(pw->wake_fd, &one, sizeof(one)) < 0) {
		/* Only fails on counter overflow, which cannot happen here. */
	}
	pthread_join(pw->thread, NULL);
	/* Tell the kernel one listener fewer, so it stops building events
	 * nobody reads (older kernels only count LISTEN/IGNORE). */
	(void)procwatch_send_op(pw->sock, PROC_CN_MCAST_IGNORE);
	close(pw->sock);
	close(pw->wake_fd);
	pthread_cond_destroy(&pw->armed_cond);
	pthread_mutex_destroy(&pw->lock);
	free(pw);
}

/* Reads a small /proc file whole into buf (NUL-terminated). -EOVERFLOW when
 * it does not fit. */
static int procwatch_read_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	for (;;) {
		ssize_t n;

		if (len + 1 >= size) {
			ret = -EOVERFLOW;
			break;
		}
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ESRCH: the task went away between open and read. */
			ret = errno == ESRCH ? -ENOENT : -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return ret;
}

/* Parses the text of /proc/PID/stat: *flags gets field 9 and *exit_code
 * field 52. comm (field 2) may hold spaces and ')', so fields are counted
 * from the last ')'. -EINVAL when the text is not a stat line; -ENODATA when
 * the kernel is too old to show exit_code (before 3.5). */
int procwatch_parse_stat(const char *text, unsigned long *flags, int *exit_code)
{
	const char *p = strrchr(text, ')');
	int field;

	if (!p || !strchr(text, '('))
		return -EINVAL;
	p++;
	/* After ')' come fields 3.. separated by single spaces. */
	for (field = 3; field <= 52; field++) {
		const char *start;
		char *end;

		if (*p != ' ')
			return field > 9 ? -ENODATA : -EINVAL;
		p++;
		start = p;
		while (*p && *p != ' ' && *p != '\n')
			p++;
		if (p == start)
			return field > 9 ? -ENODATA : -EINVAL;
		if (field == 9) {
			unsigned long long v;

			errno = 0;
			v = strtoull(start, &end, 10);
			if (errno || end != p || *start == '-')
				return -EINVAL;
			*flags = (unsigned long)v;
		} else if (field == 52) {
			long v;

			errno = 0;
			v = strtol(start, &end, 10);
			if (errno || end != p || v < 0 || v > 0xffff)
				return -EINVAL;
			*exit_code = (int)v;
		}
	}
	return 0;
}

/* The decision on parsed fields, shared by the live call and the tests. */
int procwatch_judge(unsigned long flags, int exit_code, int *status)
{
	if (status)
		*status = exit_code;
	/* exit_code alone means nothing: a stopped or traced task holds its
	 * stop signal there. Only with PF_EXITING is it the exit status. */
	if (!(flags & PROCWATCH_PF_EXITING))
		return 0;
	return exit_code != 0;
}

/* Reads and parses /proc/PID/stat. */
static int procwatch_read_stat(pid_t pid, unsigned long *flags, int *exit_code)
{
	char path[64];
	char buf[PROCWATCH_STAT_MAX];
	int ret;

	if (pid <= 0)
		return -EINVAL;
	/* /proc/TID/stat works for any thread id, listed or not. The
	 * exit_code field reads 0 unless we may ptrace the task (root, or the
	 * same user): the daemon runs as the mounting user. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	ret = procwatch_read_file(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	return procwatch_parse_stat(buf, flags, exit_code);
}

int procwatch_dying_badly(pid_t pid, int *status)
{
	unsigned long flags = 0;
	int exit_code = 0;
	int ret = procwatch_read_stat(pid, &flags, &exit_code);

	if (ret < 0)
		return ret;
	return procwatch_judge(flags, exit_code, status);
}

/* Parses the Tgid: line out of the text of /proc/TID/status. */
pid_t procwatch_parse_tgid(const char *text)
{
	const char *p = text;
	char *end;
	long v;

	for (;;) {
		if (strncmp(p, "Tgid:", 5) == 0)
			break;
		p = strchr(p, '\n');
		if (!p)
			return -EINVAL;
		p++;
	}
	p += 5;
	while (*p == ' ' || *p == '\t')
		p++;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno || end == p || (*end != '\n' && *end != '\0') || v <= 0 || v > INT32_MAX)
		return -EINVAL;
	return (pid_t)v;
}

pid_t procwatch_tgid(pid_t tid)
{
	char path[64];
	char buf[PROCWATCH_STATUS_MAX];
	int ret;

	if (tid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	ret = procwatch_read_file(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	return procwatch_parse_tgid(buf);
}

/* ---- pidfds ------------------------------------------------------------------ */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
/* Processes watched at once; past it pidwatch_add says -ENOSPC. */
#define PIDWATCH_MAX 4096
#define PIDWATCH_BATCH 64
/* epoll data of the wake eventfd: no pidfd has this. */
#define PIDWATCH_WAKE UINT64_MAX
#define PIDWATCH_PROBE_STATUS 0x300 /* exit(3) */

/* struct pidfd_info of include/uapi/linux/pidfd.h, its first published
 * size (PIDFD_INFO_SIZE_VER0, 64 bytes), whose last field became exit_code
 * in Linux 6.15. Debian 12's headers predate both, so it is defined here;
 * the kernel fills what fits the size the ioctl number carries. */
struct pidwatch_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
_Static_assert(sizeof(struct pidwatch_info) == 64, "PIDFD_INFO_SIZE_VER0");
#define PIDWATCH_INFO_EXIT (1ULL << 3)				/* PIDFD_INFO_EXIT */
#define PIDWATCH_GET_INFO _IOWR(0xFF, 11, struct pidwatch_info) /* PIDFD_GET_INFO */

struct pidwatch {
	int ep;	     /* epoll over the pidfds and wake_fd */
	int wake_fd; /* eventfd: pidwatch_stop wakes the thread */
	procwatch_exit_fn fn;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t lock; /* guards pids, fds, n */
	pid_t pids[PIDWATCH_MAX];
	int fds[PIDWATCH_MAX];
	size_t n;
};

int pidwatch_open(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : (int)fd;
}

/* 1 with *status set when the kernel has the exit status (after reaping). */
int pidwatch_info_exit(int pidfd, int *status)
{
	struct pidwatch_info info;

	memset(&info, 0, sizeof(info));
	info.mask = PIDWATCH_INFO_EXIT;
	if (ioctl(pidfd, PIDWATCH_GET_INFO, &info) < 0 || !(info.mask & PIDWATCH_INFO_EXIT))
		return 0;
	*status = info.exit_code;
	return 1;
}

/* The wait status of an exited process: from the pidfd once reaped, from
 * the zombie's /proc/PID/stat before. The pidfd is asked again after the
 * stat read: if the process was reaped in between, the pid may name another
 * process by then. -ENODATA when neither knows. */
int pidwatch_status(int pidfd, pid_t pid, int *status)
{
	unsigned long flags = 0;
	int code = 0, ret;

	if (pidwatch_info_exit(pidfd, status))
		return 0;
	ret = procwatch_read_stat(pid, &flags, &code);
	if (pidwatch_info_exit(pidfd, status))
		return 0;
	if (ret < 0 || !(flags & PROCWATCH_PF_EXITING))
		return -ENODATA;
	*status = code;
	return 0;
}

/* Forgets the pidfd fd (lock held). */
static void pidwatch_forget_locked(struct pidwatch *pw, int fd)
{
	for (size_t i = 0; i < pw->n; i++) {
		if (pw->fds[i] == fd) {
			pw->n--;
			pw->fds[i] = pw->fds[pw->n];
			pw->pids[i] = pw->pids[pw->n];
			return;
		}
	}
}

static void *pidwatch_thread(void *arg)
{
	struct pidwatch *pw = arg;
	struct epoll_event ev[PIDWATCH_BATCH];

	for (;;) {
		int n = epoll_wait(pw->ep, ev, PIDWATCH_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t d = ev[i].data.u64;
			pid_t pid = (pid_t)(d >> 32);
			int fd = (int)(uint32_t)d, status = 0;

			if (d == PIDWATCH_WAKE)
				return NULL;
			(void)epoll_ctl(pw->ep, EPOLL_CTL_DEL, fd, NULL);
			bool known = pidwatch_status(fd, pid, &status) == 0;
			pthread_mutex_lock(&pw->lock);
			pidwatch_forget_locked(pw, fd);
			pthread_mutex_unlock(&pw->lock);
			close(fd);
			if (known)
				pw->fn(pw->ctx, pid, status);
		}
	}
	return NULL;
}

/* A child that exits 3, reaped, must read back as 0x300 through its pidfd,
 * after the pidfd turned readable. */
int pidwatch_probe(void)
{
	struct pollfd pfd = { .events = POLLIN };
	int status = 0, ret = 0;
	pid_t child = fork();

	if (child < 0)
		return -errno;
	if (child == 0)
		_exit(3);
	pfd.fd = pidwatch_open(child);
	if (pfd.fd < 0)
		ret = pfd.fd;
	else if (poll(&pfd, 1, PROCWATCH_PROBE_MS) != 1 || !(pfd.revents & POLLIN))
		ret = -ETIMEDOUT;
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	if (ret == 0 && (!pidwatch_info_exit(pfd.fd, &status) || status != PIDWATCH_PROBE_STATUS))
		ret = -EOPNOTSUPP;
	if (pfd.fd >= 0)
		close(pfd.fd);
	return ret;
}

int pidwatch_start(procwatch_exit_fn fn, void *ctx, struct pidwatch **out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = PIDWATCH_WAKE };
	struct pidwatch *pw;
	int ret;

	if (!fn || !out)
		return -EINVAL;
	*out = NULL;
	ret = pidwatch_probe();
	if (ret < 0)
		return ret;
	pw = calloc(1, sizeof(*pw));
	if (!pw)
		return -ENOMEM;
	pw->fn = fn;
	pw->ctx = ctx;
	pw->ep = epoll_create1(EPOLL_CLOEXEC);
	if (pw->ep < 0) {
		ret = -errno;
		goto out_free;
	}
	pw->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pw->wake_fd < 0) {
		ret = -errno;
		goto out_close_ep;
	}
	if (epoll_ctl(pw->ep, EPOLL_CTL_ADD, pw->wake_fd, &ev) < 0) {
		ret = -errno;
		goto out_close_wake;
	}
	ret = -pthread_mutex_init(&pw->lock, NULL);
	if (ret < 0)
		goto out_close_wake;
	ret = -pthread_create(&pw->thread, NULL, pidwatch_thread, pw);
	if (ret < 0)
		goto out_destroy_lock;
	*out = pw;
	return 0;

out_destroy_lock:
	pthread_mutex_destroy(&pw->lock);
out_close_wake:
	close(pw->wake_fd);
out_close_ep:
	close(pw->ep);
out_free:
	free(pw);
	return ret;
}

int pidwatch_add(struct pidwatch *pw, pid_t tgid)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ret = 0, fd;

	if (!pw || tgid <= 0)
		return -EINVAL;
	pthread_mutex_lock(&pw->lock);
	for (size_t i = 0; i < pw->n; i++)
		if (pw->pids[i] == tgid)
			goto out_unlock;
	if (pw->n >= PIDWATCH_MAX) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	fd = pidwatch_open(tgid);
	if (fd < 0) {
		ret = fd;
		goto out_unlock;
	}
	ev.data.u64 = ((uint64_t)(uint32_t)tgid << 32) | (uint32_t)fd;
	if (epoll_ctl(pw->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = -errno;
		close(fd);
		goto out_unlock;
	}
	pw->pids[pw->n] = tgid;
	pw->fds[pw->n] = fd;
	pw->n++;
out_unlock:
	pthread_mutex_unlock(&pw->lock);
	return ret;
}

void pidwatch_stop(struct pidwatch *pw)
{
	uint64_t one = 1;

	if (!pw)
		return;
	if (write(pw->wake_fd, &one, sizeof(one)) < 0) {
		/* Only fails on counter overflow, which cannot happen here. */
	}
	pthread_join(pw->thread, NULL);
	for (size_t i = 0; i < pw->n; i++)
		close(pw->fds[i]);
	close(pw->wake_fd);
	close(pw->ep);
	pthread_mutex_destroy(&pw->lock);
	free(pw);
}
