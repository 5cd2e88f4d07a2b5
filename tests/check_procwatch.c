/* Unit tests for fs/procwatch.c: the process-events connector, the
 * /proc/PID/stat parser and the tgid lookup. */
#include <check.h>
#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procwatch_int.h"

/* ---- what the callback saw ---- */

#define SEEN_MAX 4096

struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int n;
	int dropped;
	pid_t tgid[SEEN_MAX];
	int status[SEEN_MAX];
};

static struct seen seen = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, { 0 }, { 0 }
};

static void record_exit(void *ctx, pid_t tgid, int status)
{
	struct seen *s = ctx;

	pthread_mutex_lock(&s->lock);
	if (s->n < SEEN_MAX) {
		s->tgid[s->n] = tgid;
		s->status[s->n] = status;
		s->n++;
	} else {
		s->dropped++;
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* How many callbacks named tgid; *status gets the first one's status. */
static int seen_count_locked(pid_t tgid, int *status)
{
	int i, count = 0;

	for (i = 0; i < seen.n; i++) {
		if (seen.tgid[i] == tgid) {
			if (count == 0 && status)
				*status = seen.status[i];
			count++;
		}
	}
	return count;
}

/* Waits up to ms for a callback naming tgid; returns how many there were. */
static int wait_for_exit(pid_t tgid, int ms, int *status)
{
	struct timespec deadline;
	int count;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&seen.lock);
	while ((count = seen_count_locked(tgid, status)) == 0) {
		if (pthread_cond_timedwait(&seen.cond, &seen.lock, &deadline) == ETIMEDOUT) {
			count = seen_count_locked(tgid, status);
			break;
		}
	}
	pthread_mutex_unlock(&seen.lock);
	return count;
}

static int count_now(pid_t tgid)
{
	int count;

	pthread_mutex_lock(&seen.lock);
	count = seen_count_locked(tgid, NULL);
	pthread_mutex_unlock(&seen.lock);
	return count;
}

/* Starts the watcher; returns NULL (and says why) when the connector is not
 * available here, so the caller skips. */
static struct procwatch *start_or_skip(const char *test)
{
	struct procwatch *pw = NULL;
	int ret = procwatch_start(record_exit, &seen, &pw);

	if (ret == -EPERM || ret == -EACCES || ret == -EPROTONOSUPPORT || ret == -ETIMEDOUT) {
		fprintf(stderr,
			"%s: SKIP: process-events connector unavailable (%s; needs "
			"CAP_NET_ADMIN in the initial pid namespace)\n",
			test, strerror(-ret));
		return NULL;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert_ptr_nonnull(pw);
	return pw;
}

/* Reaps child, asserts the callback reported it within 1 s with the status
 * waitpid saw, and that this status is the expected one. */
static void expect_exit(pid_t child, int want_status)
{
	int wstatus = -1, got = -1;

	ck_assert_int_eq(waitpid(child, &wstatus, 0), child);
	ck_assert_int_eq(wstatus, want_status);
	ck_assert_int_eq(wait_for_exit(child, 1000, &got), 1);
	ck_assert_int_eq(got, want_status);
}

/* Forks a child that waits in pause() with SIGTERM at its default action;
 * returns once it is ready to be signalled. (The test process inherits
 * Check's SIGTERM handler, which would signal our whole group.) */
static pid_t fork_sleeper(void)
{
	int fds[2];
	char c = 0;
	pid_t child;

	ck_assert_int_eq(pipe(fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		signal(SIGTERM, SIG_DFL);
		if (write(fds[1], "r", 1) != 1)
			_exit(120);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return child;
}

static void *block_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void *return_at_once(void *arg)
{
	return arg;
}

/* ---- pidfds ---- */

static struct pidwatch *pidwatch_or_skip(const char *test)
{
	struct pidwatch *pw = NULL;
	int ret = pidwatch_start(record_exit, &seen, &pw);

	if (ret == -ENOSYS || ret == -EOPNOTSUPP) {
		fprintf(stderr, "%s: SKIP: no pidfd exit status here (%s; needs Linux >= 6.15)\n",
			test, strerror(-ret));
		return NULL;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert_ptr_nonnull(pw);
	return pw;
}

/* Seen while the child is still a zombie (nobody reaped it yet): the status
 * comes from /proc/PID/stat; then reaped. */
static void expect_pidwatch_exit(struct pidwatch *pw, pid_t child, int want_status)
{
	int got = -1, wstatus = -1;

	ck_assert_int_eq(wait_for_exit(child, 2000, &got), 1);
	ck_assert_int_eq(got, want_status);
	ck_assert_int_eq(waitpid(child, &wstatus, 0), child);
	ck_assert_int_eq(wstatus, want_status);
	(void)pw;
}

START_TEST(test_pidwatch_statuses)
{
	struct pidwatch *pw = pidwatch_or_skip("test_pidwatch_statuses");
	pid_t child;

	if (!pw)
		return;
	child = fork_sleeper();
	ck_assert_int_eq(pidwatch_add(pw, child), 0);
	ck_assert_int_eq(pidwatch_add(pw, child), 0); /* once is enough */
	ck_assert_int_eq(kill(child, SIGKILL), 0);
	expect_pidwatch_exit(pw, child, SIGKILL);
	ck_assert_int_eq(count_now(child), 1);

	child = fork_sleeper();
	ck_assert_int_eq(pidwatch_add(pw, child), 0);
	ck_assert_int_eq(kill(child, SIGTERM), 0);
	expect_pidwatch_exit(pw, child, SIGTERM);

	/* A child that exits 3 once told to: watched before it exits. */
	int fds[2];
	char c = 'x';
	ck_assert_int_eq(pipe(fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(fds[1]);
		_exit(read(fds[0], &c, 1) == 1 ? 3 : 120);
	}
	close(fds[0]);
	ck_assert_int_eq(pidwatch_add(pw, child), 0);
	ck_assert_int_eq(write(fds[1], &c, 1), 1);
	close(fds[1]);
	expect_pidwatch_exit(pw, child, 3 << 8);

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	ck_assert_int_eq(pidwatch_add(pw, child), -ESRCH); /* gone: nothing to watch */
	pidwatch_stop(pw);
}
END_TEST

/* The status after reaping comes from PIDFD_INFO_EXIT; before, from the
 * zombie's /proc/PID/stat. */
START_TEST(test_pidwatch_status_sources)
{
	int status = -1;
	pid_t child;
	int fd;

	if (pidwatch_probe() < 0) {
		fprintf(stderr, "test_pidwatch_status_sources: SKIP: no PIDFD_INFO_EXIT\n");
		return;
	}
	child = fork_sleeper();
	fd = pidwatch_open(child);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pidwatch_status(fd, child, &status), -ENODATA); /* alive */
	ck_assert_int_eq(kill(child, SIGKILL), 0);
	{
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
	}
	ck_assert_int_eq(pidwatch_info_exit(fd, &status), 0); /* a zombie: not yet */
	ck_assert_int_eq(pidwatch_status(fd, child, &status), 0);
	ck_assert_int_eq(status, SIGKILL);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	status = -1;
	ck_assert_int_eq(pidwatch_info_exit(fd, &status), 1);
	ck_assert_int_eq(status, SIGKILL);
	status = -1;
	ck_assert_int_eq(pidwatch_status(fd, child, &status), 0);
	ck_assert_int_eq(status, SIGKILL);
	close(fd);
}
END_TEST

/* ---- connector ---- */

START_TEST(test_exit_statuses)
{
	struct procwatch *pw = start_or_skip("test_exit_statuses");
	pid_t child;

	if (!pw)
		return;

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	expect_exit(child, 0);

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(3);
	expect_exit(child, 3 << 8);

	child = fork_sleeper();
	ck_assert_int_eq(kill(child, SIGKILL), 0);
	expect_exit(child, SIGKILL);

	child = fork_sleeper();
	ck_assert_int_eq(kill(child, SIGTERM), 0);
	expect_exit(child, SIGTERM);

	ck_assert_int_eq(seen.dropped, 0);
	procwatch_stop(pw);
}
END_TEST

START_TEST(test_multithreaded_one_callback)
{
	struct procwatch *pw = start_or_skip("test_multithreaded_one_callback");
	pid_t child, first;
	int i;

	if (!pw)
		return;

	/* Threads that end before the process (their own exit events) and
	 * threads still running at exit(5): one callback, status 5 << 8. */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pthread_t t;

		for (i = 0; i < 4; i++) {
			if (pthread_create(&t, NULL, return_at_once, NULL) != 0 ||
			    pthread_join(t, NULL) != 0)
				_exit(100);
		}
		for (i = 0; i < 4; i++) {
			if (pthread_create(&t, NULL, block_forever, NULL) != 0)
				_exit(101);
		}
		usleep(50 * 1000);
		_exit(5);
	}
	expect_exit(child, 5 << 8);
	first = child;

	/* A multi-threaded process killed by a signal. */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pthread_t t;

		for (i = 0; i < 4; i++) {
			if (pthread_create(&t, NULL, block_forever, NULL) != 0)
				_exit(101);
		}
		for (;;)
			pause();
	}
	usleep(100 * 1000);
	ck_assert_int_eq(kill(child, SIGKILL), 0);
	expect_exit(child, SIGKILL);

	/* No second callback for either group arrives late. */
	usleep(300 * 1000);
	ck_assert_int_eq(count_now(first), 1);
	ck_assert_int_eq(count_now(child), 1);
	procwatch_stop(pw);
}
END_TEST

START_TEST(test_many_exits)
{
	struct procwatch *pw = start_or_skip("test_many_exits");
	pid_t kids[64];
	int i;

	if (!pw)
		return;
	for (i = 0; i < 64; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0)
			_exit(i % 7);
	}
	for (i = 0; i < 64; i++)
		expect_exit(kids[i], (i % 7) << 8);
	procwatch_stop(pw);
}
END_TEST

START_TEST(test_stop_and_restart)
{
	struct procwatch *pw;
	pid_t child;

	procwatch_stop(NULL);
	pw = start_or_skip("test_stop_and_restart");
	if (!pw)
		return;
	procwatch_stop(pw);

	/* After stop, nothing more is delivered (the thread is gone). */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(4);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	usleep(200 * 1000);
	ck_assert_int_eq(count_now(child), 0);

	/* Two watchers at once both see an exit. */
	{
		struct procwatch *a = start_or_skip("test_stop_and_restart"), *b;

		ck_assert_ptr_nonnull(a);
		b = start_or_skip("test_stop_and_restart");
		ck_assert_ptr_nonnull(b);
		child = fork();
		ck_assert_int_ge(child, 0);
		if (child == 0)
			_exit(6);
		ck_assert_int_eq(waitpid(child, NULL, 0), child);
		ck_assert_int_ge(wait_for_exit(child, 1000, NULL), 1);
		usleep(200 * 1000);
		ck_assert_int_eq(count_now(child), 2);
		procwatch_stop(a);
		procwatch_stop(b);
	}
}
END_TEST

/* A callback that can be held, to let the socket overflow. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int hold;    /* 1: the next callback waits until it is 0 */
	int held;    /* 1 while a callback is waiting */
	pid_t watch; /* record pw->lost when this tgid is reported */
	unsigned long lost_seen;
	struct procwatch *pw;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, NULL };

static void gated_record(void *ctx, pid_t tgid, int status)
{
	pthread_mutex_lock(&gate.lock);
	if (gate.hold) {
		gate.held = 1;
		pthread_cond_broadcast(&gate.cond);
		while (gate.hold)
			pthread_cond_wait(&gate.cond, &gate.lock);
		gate.held = 0;
	}
	/* Read on the watcher's own thread: no race with it. */
	if (tgid == gate.watch)
		gate.lost_seen = gate.pw->lost;
	pthread_mutex_unlock(&gate.lock);
	record_exit(ctx, tgid, status);
}

START_TEST(test_overflow_keeps_going)
{
	struct procwatch *pw = NULL;
	int small = 1, big = PROCWATCH_RCVBUF, ret, i, got = -1;
	pid_t child;

	ret = procwatch_start(gated_record, &seen, &pw);
	if (ret < 0) {
		fprintf(stderr, "test_overflow_keeps_going: SKIP: connector unavailable (%s)\n",
			strerror(-ret));
		return;
	}
	gate.pw = pw;
	/* The smallest buffer the kernel allows: a few events fill it. */
	ck_assert_int_eq(setsockopt(pw->sock, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);

	/* Hold the thread inside a callback... */
	pthread_mutex_lock(&gate.lock);
	gate.hold = 1;
	pthread_mutex_unlock(&gate.lock);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	pthread_mutex_lock(&gate.lock);
	while (!gate.held)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);

	/* ...while exits overflow the socket (the kernel drops events). */
	for (i = 0; i < 200; i++) {
		child = fork();
		ck_assert_int_ge(child, 0);
		if (child == 0)
			_exit(0);
		ck_assert_int_eq(waitpid(child, NULL, 0), child);
	}
	/* Room again before letting go, so other processes' exits on a busy
	 * machine do not overflow it once more and drop the probe below. */
	ck_assert_int_eq(setsockopt(pw->sock, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)), 0);
	pthread_mutex_lock(&gate.lock);
	gate.hold = 0;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);

	/* The watcher saw ENOBUFS, counted it, and reports exits again. The
	 * kernel keeps dropping events until the backlog is read, so on a busy
	 * machine the first few after the release may be lost: retry. */
	for (i = 0; i < 20; i++) {
		child = fork_sleeper();
		pthread_mutex_lock(&gate.lock);
		gate.watch = child;
		pthread_mutex_unlock(&gate.lock);
		ck_assert_int_eq(kill(child, SIGKILL), 0);
		ck_assert_int_eq(waitpid(child, NULL, 0), child);
		if (wait_for_exit(child, 500, &got) == 1)
			break;
	}
	ck_assert_int_lt(i, 20);
	ck_assert_int_eq(got, SIGKILL);
	pthread_mutex_lock(&gate.lock);
	ck_assert_uint_gt(gate.lost_seen, 0);
	pthread_mutex_unlock(&gate.lock);
	procwatch_stop(pw);
}
END_TEST

START_TEST(test_start_args)
{
	struct procwatch *pw = (struct procwatch *)&seen;

	ck_assert_int_eq(procwatch_start(NULL, NULL, &pw), -EINVAL);
	ck_assert_int_eq(procwatch_start(record_exit, NULL, NULL), -EINVAL);
}
END_TEST

/* Without CAP_NET_ADMIN: refused with EPERM on kernels that require it,
 * or (Linux >= 6.6 lets unprivileged listeners in) a watcher that really
 * reports exits -- never a silent watcher that reports nothing. */
static int start_without_net_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	struct procwatch *pw = NULL;
	pid_t kid;
	int ret, got = -1;

	if (geteuid() == 0) {
		if (syscall(SYS_capget, &hdr, data) != 0)
			return 10;
		data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
		if (syscall(SYS_capset, &hdr, data) != 0)
			return 11;
	}
	ret = procwatch_start(record_exit, &seen, &pw);
	if (ret < 0)
		return ret == -EPERM || ret == -EACCES || ret == -EPROTONOSUPPORT ||
				ret == -ETIMEDOUT
			? 0
			: 12;
	kid = fork();
	if (kid < 0)
		return 13;
	if (kid == 0)
		_exit(2);
	if (waitpid(kid, NULL, 0) != kid)
		return 14;
	ret = wait_for_exit(kid, 1000, &got) == 1 && got == (2 << 8) ? 0 : 15;
	procwatch_stop(pw);
	return ret;
}

START_TEST(test_without_net_admin)
{
	pid_t child;
	int wstatus;

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(start_without_net_admin());
	ck_assert_int_eq(waitpid(child, &wstatus, 0), child);
	ck_assert(WIFEXITED(wstatus));
	ck_assert_int_eq(WEXITSTATUS(wstatus), 0);
}
END_TEST

/* In a pid namespace other than the initial one the connector's pids are
 * not ours: procwatch_start must refuse rather than report wrong pids. */
static int start_in_new_pidns(void)
{
	pid_t init;
	int wstatus;

	if (unshare(CLONE_NEWPID) != 0)
		return 77;
	init = fork();
	if (init < 0)
		return 30;
	if (init == 0) {
		struct procwatch *pw = NULL;
		int ret = procwatch_start(record_exit, &seen, &pw);

		if (ret == 0) {
			procwatch_stop(pw);
			_exit(31);
		}
		_exit(ret == -ETIMEDOUT || ret == -EPERM || ret == -EPROTONOSUPPORT ? 0 : 32);
	}
	if (waitpid(init, &wstatus, 0) != init || !WIFEXITED(wstatus))
		return 33;
	return WEXITSTATUS(wstatus);
}

START_TEST(test_foreign_pidns_refused)
{
	pid_t child;
	int wstatus;

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(start_in_new_pidns());
	ck_assert_int_eq(waitpid(child, &wstatus, 0), child);
	ck_assert(WIFEXITED(wstatus));
	if (WEXITSTATUS(wstatus) == 77) {
		fprintf(stderr,
			"test_foreign_pidns_refused: SKIP: cannot unshare a pid namespace here\n");
		return;
	}
	ck_assert_int_eq(WEXITSTATUS(wstatus), 0);
}
END_TEST

/* ---- /proc/PID/stat ---- */

/* A stat line with the given comm, flags (field 9) and exit_code (52). */
static void make_stat(char *buf, size_t size, const char *comm, unsigned long flags, int exit_code)
{
	int i, n;

	n = snprintf(buf, size, "4242 (%s) Z 1 4242 4242 0 -1 %lu", comm, flags);
	/* Fields 10..51 are filler; 52 is exit_code. */
	for (i = 10; i <= 51; i++)
		n += snprintf(buf + n, size - (size_t)n, " %d", i);
	snprintf(buf + n, size - (size_t)n, " %d\n", exit_code);
}

static int judge_text(const char *text, int *status)
{
	unsigned long flags = 0;
	int code = -1, ret;

	ret = procwatch_parse_stat(text, &flags, &code);
	if (ret < 0)
		return ret;
	return procwatch_judge(flags, code, status);
}

START_TEST(test_parse_stat)
{
	char buf[2048];
	unsigned long flags = 0;
	int code = -1, status = -1;

	/* The SIGKILLed writer seen on a real close. */
	make_stat(buf, sizeof(buf), "python3", 0x40040c, 9);
	ck_assert_int_eq(procwatch_parse_stat(buf, &flags, &code), 0);
	ck_assert_uint_eq(flags, 0x40040c);
	ck_assert_int_eq(code, 9);
	ck_assert_int_eq(judge_text(buf, &status), 1);
	ck_assert_int_eq(status, 9);

	/* comm with spaces, ') (' and a fake state: fields count from the
	 * last ')'. */
	make_stat(buf, sizeof(buf), "a) R 1 2 3 4 5 6 (b c", 0x40040c, 15);
	ck_assert_int_eq(judge_text(buf, &status), 1);
	ck_assert_int_eq(status, 15);
	make_stat(buf, sizeof(buf), ") (", 0x400100, 0);
	ck_assert_int_eq(judge_text(buf, &status), 0);
	ck_assert_int_eq(status, 0);
	make_stat(buf, sizeof(buf), "", 0x40044c, 768);
	ck_assert_int_eq(judge_text(buf, &status), 1);
	ck_assert_int_eq(status, 768);

	/* Exiting with 0 is a clean exit. */
	make_stat(buf, sizeof(buf), "train", 0x40040c, 0);
	ck_assert_int_eq(judge_text(buf, &status), 0);
	ck_assert_int_eq(status, 0);

	/* Not exiting: a stopped task holds its stop signal in exit_code. */
	make_stat(buf, sizeof(buf), "train", 0x400100, SIGSTOP);
	ck_assert_int_eq(judge_text(buf, &status), 0);
	ck_assert_int_eq(status, SIGSTOP);

	/* Malformed. */
	ck_assert_int_eq(judge_text("", &status), -EINVAL);
	ck_assert_int_eq(judge_text("4242 train S 1", &status), -EINVAL);
	ck_assert_int_eq(judge_text("4242 (train) S 1 2", &status), -EINVAL);
	ck_assert_int_eq(judge_text("4242 (train)", &status), -EINVAL);
	ck_assert_int_eq(judge_text("4242 (train) S 1 2 3 4 5 x", &status), -EINVAL);
	ck_assert_int_eq(judge_text("4242 (train) S 1 2 3 4 5 -4", &status), -EINVAL);
	/* A kernel without field 52 (before 3.5). */
	ck_assert_int_eq(judge_text("4242 (train) S 1 2 3 4 5 4 6 7 8\n", &status), -ENODATA);
	make_stat(buf, sizeof(buf), "train", 0x4, -1);
	ck_assert_int_eq(judge_text(buf, &status), -EINVAL);
	make_stat(buf, sizeof(buf), "train", 0x4, 70000);
	ck_assert_int_eq(judge_text(buf, &status), -EINVAL);
}
END_TEST

START_TEST(test_dying_badly_live)
{
	int status = -1;
	pid_t child;

	/* Ourselves: running, not exiting. */
	ck_assert_int_eq(procwatch_dying_badly(getpid(), &status), 0);
	ck_assert_int_eq(procwatch_dying_badly(getpid(), NULL), 0);
	ck_assert_int_eq(procwatch_dying_badly(0, &status), -EINVAL);
	ck_assert_int_eq(procwatch_dying_badly(-1, &status), -EINVAL);

	/* A reaped child: gone. */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	ck_assert_int_eq(procwatch_dying_badly(child, &status), -ENOENT);
}
END_TEST

/* A zombie keeps PF_EXITING and its exit_code: the one live state of an
 * exited process a test can hold still. */
static void check_zombie(int how, int want_ret, int want_status)
{
	siginfo_t si;
	pid_t child;
	int status = -1;

	if (how >= 0) {
		child = fork();
		ck_assert_int_ge(child, 0);
		if (child == 0)
			_exit(how);
	} else {
		child = fork_sleeper();
		ck_assert_int_eq(kill(child, -how), 0);
	}
	/* Wait for the exit but leave the zombie. */
	memset(&si, 0, sizeof(si));
	ck_assert_int_eq(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT), 0);
	ck_assert_int_eq(procwatch_dying_badly(child, &status), want_ret);
	ck_assert_int_eq(status, want_status);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
}

START_TEST(test_dying_badly_zombie)
{
	check_zombie(0, 0, 0);
	check_zombie(3, 1, 768);
	check_zombie(-SIGKILL, 1, SIGKILL);
	check_zombie(-SIGTERM, 1, SIGTERM);
}
END_TEST

/* ---- tgid ---- */

struct tid_result {
	pid_t tid;
	pid_t tgid;
};

static void *report_tgid(void *arg)
{
	struct tid_result *r = arg;

	r->tid = (pid_t)syscall(SYS_gettid);
	r->tgid = procwatch_tgid(r->tid);
	return NULL;
}

START_TEST(test_tgid)
{
	struct tid_result r = { 0, 0 };
	pthread_t t;
	pid_t child;

	ck_assert_int_eq(procwatch_tgid(getpid()), getpid());
	ck_assert_int_eq(pthread_create(&t, NULL, report_tgid, &r), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_ne(r.tid, getpid());
	ck_assert_int_eq(r.tgid, getpid());
	ck_assert_int_eq(procwatch_tgid(0), -EINVAL);

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	ck_assert_int_eq(procwatch_tgid(child), -ENOENT);

	ck_assert_int_eq(procwatch_parse_tgid("Name:\tx\nUmask:\t0022\nTgid:\t812\nNgid:\t0\n"),
			 812);
	ck_assert_int_eq(procwatch_parse_tgid("Tgid:\t7"), 7);
	/* "NSTgid:" must not be taken for "Tgid:". */
	ck_assert_int_eq(procwatch_parse_tgid("NSTgid:\t9\n"), -EINVAL);
	ck_assert_int_eq(procwatch_parse_tgid("Name:\tTgid: 5\n"), -EINVAL);
	ck_assert_int_eq(procwatch_parse_tgid("Tgid:\tx\n"), -EINVAL);
	ck_assert_int_eq(procwatch_parse_tgid("Tgid:\t0\n"), -EINVAL);
	ck_assert_int_eq(procwatch_parse_tgid(""), -EINVAL);
}
END_TEST

static Suite *procwatch_suite(void)
{
	Suite *s = suite_create("procwatch");
	TCase *tc = tcase_create("connector");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_exit_statuses);
	tcase_add_test(tc, test_multithreaded_one_callback);
	tcase_add_test(tc, test_many_exits);
	tcase_add_test(tc, test_stop_and_restart);
	tcase_add_test(tc, test_overflow_keeps_going);
	tcase_add_test(tc, test_start_args);
	tcase_add_test(tc, test_without_net_admin);
	tcase_add_test(tc, test_foreign_pidns_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("pidfd");
	tcase_add_test(tc, test_pidwatch_statuses);
	tcase_add_test(tc, test_pidwatch_status_sources);
	suite_add_tcase(s, tc);

	tc = tcase_create("proc");
	tcase_add_test(tc, test_parse_stat);
	tcase_add_test(tc, test_dying_badly_live);
	tcase_add_test(tc, test_dying_badly_zombie);
	tcase_add_test(tc, test_tgid);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(procwatch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
