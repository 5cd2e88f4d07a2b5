/* The operator's log: one line per event (mount, commit, abort, deletion,
 * gc, corruption, invisible writers, full disk). To stderr in the
 * foreground, to syslog(3) (ident "ckptfs", LOG_DAEMON) once detached.
 * Below everything in fs/; calls nothing of the driver. */
#ifndef CKPTFS_LOG_H
#define CKPTFS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

/* Or'ed into a level: a commit line, which -o quiet drops. */
#define FS_LOG_COMMIT 0x100

/* Sends what follows to syslog (to_syslog) or stderr; quiet drops the
 * FS_LOG_COMMIT lines. Called once by main before the threads start. */
void fs_log_setup(bool to_syslog, bool quiet);
void fs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fs_vlog(int level, const char *fmt, va_list ap);

#endif
