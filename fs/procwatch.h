/* Seeing writer processes die, so a checkpoint whose writer was killed (or
 * exited non-zero) is aborted instead of committed.
 *
 * Two ways, as the contract says: the kernel's process-events connector
 * (NETLINK_CONNECTOR, CN_IDX_PROC, PROC_EVENT_EXIT; needs CAP_NET_ADMIN),
 * which sees every exit even between files; and /proc/PID/stat of a process
 * closing a file (PF_EXITING in flags, exit_code field), which works
 * everywhere. No FUSE in here.
 */
#ifndef CKPTFS_PROCWATCH_H
#define CKPTFS_PROCWATCH_H

#include <sys/types.h>

struct procwatch;

/* Called from the watcher's own thread for every process (thread group)
 * exit: tgid and the wait status as the kernel reports it (signal number in
 * the low 7 bits, exit status << 8). Must not block for long. */
typedef void (*procwatch_exit_fn)(void *ctx, pid_t tgid, int status);

/* Subscribes to process exit events and starts a thread delivering them to
 * fn. -EPERM / -EACCES / -EPROTONOSUPPORT when the connector is refused (the
 * caller then relies on procwatch_dying_badly alone); any other negative
 * errno means the same for the caller. Before returning 0 it forks a child
 * that exits at once and waits (up to 1 s) to see that exit: -ETIMEDOUT when
 * it does not arrive, e.g. in a pid namespace other than the initial one,
 * where the kernel ignores the subscription or reports pids that are not
 * ours. Exits before procwatch_start returns are not reported. Linux >= 6.6
 * lets unprivileged processes listen too; older kernels need CAP_NET_ADMIN.
 * fn may run before procwatch_start returns; ctx must be ready. */
int procwatch_start(procwatch_exit_fn fn, void *ctx, struct procwatch **out);
/* Stops the thread and closes the socket. NULL is fine. */
void procwatch_stop(struct procwatch *pw);

/* For a process that is closing a file right now: 1 when /proc/PID/stat
 * shows it exiting (PF_EXITING) with a signal or a non-zero status (*status
 * receives the exit_code field), 0 when it is not exiting or exits with 0,
 * negative errno when it cannot be read (-ENOENT: already gone). pid may be
 * a thread id. */
int procwatch_dying_badly(pid_t pid, int *status);

/* ---- pidfds (Linux >= 6.15) ----
 *
 * One pidfd per writer process (pidfd_open), polled by a thread: it turns
 * readable when the process exits, in any PID namespace where the daemon
 * can see it, without privileges. The exit status comes from
 * ioctl(PIDFD_GET_INFO) with PIDFD_INFO_EXIT once the process is reaped,
 * and from the zombie's /proc/PID/stat until then. */
struct pidwatch;

/* Starts the thread. Before returning 0 it forks a child that exits with
 * status 3, reaps it and reads that status through its pidfd:
 * -EOPNOTSUPP when the kernel has no PIDFD_INFO_EXIT (then the caller uses
 * the connector), -ENOSYS without pidfd_open. fn is procwatch's callback
 * and may run before pidwatch_start returns. */
int pidwatch_start(procwatch_exit_fn fn, void *ctx, struct pidwatch **out);
/* Watches process tgid (a thread group leader in our PID namespace) until
 * it exits; fn then gets its status once. 0 (also when already watched),
 * -ESRCH when it is gone, -ENOSPC past PIDWATCH_MAX processes, or another
 * negative errno from pidfd_open. Thread-safe. */
int pidwatch_add(struct pidwatch *pw, pid_t tgid);
/* Stops the thread and closes every pidfd. NULL is fine. */
void pidwatch_stop(struct pidwatch *pw);

/* The thread group id of a thread id (from /proc/TID/status), or negative
 * errno. */
pid_t procwatch_tgid(pid_t tid);

#endif
