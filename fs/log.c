/* The operator's log (log.h). */
#include <stdio.h>
#include <string.h>

#include "log.h"

static bool fs_log_syslog, fs_log_quiet;

void fs_log_setup(bool to_syslog, bool quiet)
{
	fs_log_quiet = quiet;
	if (to_syslog && !fs_log_syslog)
		openlog("ckptfs", LOG_PID, LOG_DAEMON);
	fs_log_syslog = to_syslog;
}

void fs_vlog(int level, const char *fmt, va_list ap)
{
	if ((level & FS_LOG_COMMIT) && fs_log_quiet)
		return;
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0'; /* one line per event */
	if (fs_log_syslog)
		syslog(level & LOG_PRIMASK, "%s", line);
	else
		fprintf(stderr, "ckptfs: %s\n", line);
}

void fs_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fs_vlog(level, fmt, ap);
	va_end(ap);
}
