/* ckptfs STORE MOUNTPOINT [-f] [-d] [-s] [-o OPTION[,OPTION...]]
 *
 * The command line goes through libfuse's parser: fuse_opt_parse with
 * ckptfs's templates takes STORE and ckptfs's own options (policy options
 * are stored in the store's policy), fuse_parse_cmdline the mount point
 * and -f/-d/-s/-h/-V, and fuse_session_new every FUSE and mount option,
 * refusing (and naming) the ones nobody knows. Errors before mounting
 * (bad or unknown option, unusable store, store already mounted) are one
 * line on stderr and exit 1, and the session is made before the store is
 * opened, so a refused command line stores nothing: without -f the parent
 * waits for the child to mount before exiting, so it can report them. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "sdnotify.h"
#include <fuse_log.h>

#define FS_MAX_WORDS 256

struct fs_args {
	char *store;		      /* STORE as given (malloc'd) */
	const char *mnt_arg;	      /* MOUNTPOINT as given (in argv) */
	struct fuse_cmdline_opts cmd; /* fuse_parse_cmdline's: -f, -d, -s, mountpoint */
	char *words[FS_MAX_WORDS];    /* policy words (malloc'd) */
	size_t n_words;
	char store_opts[1024]; /* ",index=...,chunks=...": appended to STORE's address */
	char opts_text[8192];  /* every -o option as given, comma-joined: the mount line's */
	int quiet;	       /* -o quiet: no commit lines in the log */
	int allow_other, default_permissions;
	int clone_fd; /* FUSE loop: ckptfs's defaults, libfuse's names */
	unsigned max_threads, max_idle_threads;
	struct fs_commit_opts copts;
};

/* fs_opt_proc's keys for ckptfs's -o options. */
enum { FS_KEY_POLICY, FS_KEY_COMMIT, FS_KEY_STORE, FS_KEY_OWN, FS_KEY_FUSE };

#define FS_POLICY_OPT(k) FUSE_OPT_KEY(k, FS_KEY_POLICY), FUSE_OPT_KEY(k "=", FS_KEY_POLICY)
/* an option stored in struct fs_args, then noted by fs_opt_proc with key */
#define FS_ARG_OPT(t, field, v, key) { t, offsetof(struct fs_args, field), v }, FUSE_OPT_KEY(t, key)

static const struct fuse_opt fs_opt_spec[] = {
	FS_POLICY_OPT("keep_last"),
	FS_POLICY_OPT("keep_best"),
	FS_POLICY_OPT("keep_every"),
	FS_POLICY_OPT("metric"),
	FS_POLICY_OPT("compress"),
	FS_POLICY_OPT("settle_ms"),
	FS_POLICY_OPT("hide_virtual"),
	FS_POLICY_OPT("latest_name"),
	FS_POLICY_OPT("best_prefix"),
	FS_POLICY_OPT("plain"),
	FS_POLICY_OPT("trash"),
	FS_POLICY_OPT("max_bytes"),
	FS_POLICY_OPT("min_free"),
	FUSE_OPT_KEY("commit=", FS_KEY_COMMIT),
	FUSE_OPT_KEY("commit_marker=", FS_KEY_COMMIT),
	FUSE_OPT_KEY("commit_timeout_ms=", FS_KEY_COMMIT),
	FUSE_OPT_KEY("index=", FS_KEY_STORE),
	FUSE_OPT_KEY("chunks=", FS_KEY_STORE),
	/* the words of -o chunks=rados:pool=P,ns=N,conf=FILE,...; dir=DIR */
	FUSE_OPT_KEY("pool=", FS_KEY_STORE),
	FUSE_OPT_KEY("ns=", FS_KEY_STORE),
	FUSE_OPT_KEY("conf=", FS_KEY_STORE),
	FUSE_OPT_KEY("id=", FS_KEY_STORE),
	FUSE_OPT_KEY("keyring=", FS_KEY_STORE),
	FUSE_OPT_KEY("timeout=", FS_KEY_STORE),
	FUSE_OPT_KEY("inflight=", FS_KEY_STORE),
	FUSE_OPT_KEY("dir=", FS_KEY_STORE),
	FS_ARG_OPT("quiet", quiet, 1, FS_KEY_OWN),
	FS_ARG_OPT("clone_fd", clone_fd, 1, FS_KEY_OWN),
	FS_ARG_OPT("max_threads=%u", max_threads, 0, FS_KEY_OWN),
	FS_ARG_OPT("max_idle_threads=%u", max_idle_threads, 0, FS_KEY_OWN),
	/* noted, and left for libfuse */
	FS_ARG_OPT("allow_other", allow_other, 1, FS_KEY_FUSE),
	FS_ARG_OPT("default_permissions", default_permissions, 1, FS_KEY_FUSE),
	FUSE_OPT_END,
};

static void fs_usage(FILE *f)
{
	fprintf(f,
		"usage: ckptfs STORE MOUNTPOINT [-f] [-d] [-s] [-o OPTION[,OPTION...]]\n"
		"       ckptfs -h|--help | -V|--version\n"
		"policy options (stored in the store's policy):\n"
		"    -o keep_last=N  -o keep_best=K  -o keep_every=N  -o metric=NAME:min|max\n"
		"    -o compress=none|zlib|zstd|auto  -o settle_ms=N  -o hide_virtual[=false]\n"
		"    -o latest_name=NAME  -o best_prefix=PREFIX  -o plain=GLOB[:GLOB...]\n"
		"    -o trash=DURATION  -o max_bytes=SIZE  -o min_free=SIZE\n"
		"mount options:\n"
		"    -o commit=close|rename  -o commit_marker=GLOB  -o commit_timeout_ms=N\n"
		"    -o quiet               no commit lines in the log\n"
		"    -o index=sqlite -o chunks=dir  the store's backends (checked against the\n"
		"                           recorded ones; also as STORE?index=sqlite,chunks=dir)\n"
		"    STORE = postgresql:CONNINFO?chunks=DIR (or -o chunks=DIR): a store shared\n"
		"                           by several mounts and machines, index in PostgreSQL\n"
		"    -o chunks=rados:pool=P[,ns=N,conf=FILE,id=ID,keyring=FILE,timeout=S,inflight=N]\n"
		"                           chunks as objects in a Ceph RADOS pool (also in STORE's\n"
		"                           options); -o dir=DIR: the node-local directory (staging)\n"
		"                           of a postgresql: store, e.g. postgresql:CONNINFO?chunks=\n"
		"                           rados:pool=ckpt,conf=/etc/ceph/ceph.conf,dir=/var/lib/ckptfs\n"
		"    -o max_threads=N -o max_idle_threads=N  FUSE worker threads (32 and 8)\n"
		"    -o allow_other         brings -o default_permissions along\n");
}

/* "/dev/fd/N": a /dev/fuse descriptor the caller opened and mounted (as
 * CSI drivers pass it); fuse_session_mount serves it as it is. */
static bool fs_is_devfd(const char *mnt)
{
	unsigned fd;
	int end = 0;
	return sscanf(mnt, "/dev/fd/%u%n", &fd, &end) == 1 && end > 0 && mnt[end] == '\0';
}

/* libfuse's own messages: kept while we set up (the pieces of one message
 * joined), so an error before mounting is one line; passed to the log
 * afterwards. */
static bool fs_log_capture = true;
static char fs_log_last[512];
static bool fs_log_ended = true; /* fs_log_last ended with a newline */

static void fs_fuse_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if (!fs_log_capture) {
		fs_vlog((int)level, fmt, ap); /* fuse_log_level is syslog's order */
		return;
	}
	size_t used = fs_log_ended ? 0 : strlen(fs_log_last);
	vsnprintf(fs_log_last + used, sizeof(fs_log_last) - used, fmt, ap);
	used = strlen(fs_log_last);
	fs_log_ended = used && fs_log_last[used - 1] == '\n';
}

/* Forgets what libfuse said so far. */
static void fs_fuse_forget(void)
{
	fs_log_last[0] = '\0';
	fs_log_ended = true;
}

/* What libfuse said last, without "fuse: " and the newline; otherwise
 * when it said nothing. */
static const char *fs_fuse_said(const char *otherwise)
{
	fs_log_last[strcspn(fs_log_last, "\n")] = '\0';
	if (!fs_log_last[0])
		return otherwise;
	return strncmp(fs_log_last, "fuse: ", 6) == 0 ? fs_log_last + 6 : fs_log_last;
}

/* commit=close|rename, commit_marker=GLOB, commit_timeout_ms=N into o; 0,
 * or -EINVAL (said on stderr) when the value is bad. */
static int fs_take_commit_opt(struct fs_commit_opts *o, const char *word)
{
	const char *v = strchr(word, '=') + 1; /* the templates end with '=' */
	size_t kl = (size_t)(v - 1 - word);
	char *end;
	if (kl == 6) {
		if (strcmp(v, "close") != 0 && strcmp(v, "rename") != 0)
			goto out_bad;
		o->rename_only = strcmp(v, "rename") == 0;
	} else if (kl == 13) {
		if (!v[0] || strchr(v, '/') || strlen(v) >= sizeof(o->marker))
			goto out_bad;
		snprintf(o->marker, sizeof(o->marker), "%s", v);
	} else {
		errno = 0;
		long long ms = strtoll(v, &end, 10);
		if (errno || end == v || *end || ms < 0)
			goto out_bad;
		o->timeout_ms = ms;
	}
	return 0;
out_bad:
	fprintf(stderr,
		"ckptfs: bad option: %s (commit=close|rename, commit_marker=GLOB without '/', "
		"commit_timeout_ms=N)\n",
		word);
	return -EINVAL;
}

/* Appends ",text" to buf (of size cap); -1 (said) when it does not fit. */
static int fs_append(char *buf, size_t cap, const char *text)
{
	size_t used = strlen(buf);
	int n = snprintf(buf + used, cap - used, "%s%s", used ? "," : "", text);
	if (n >= 0 && (size_t)n < cap - used)
		return 0;
	buf[used] = '\0';
	fprintf(stderr, "ckptfs: too many options\n");
	return -1;
}

/* fuse_opt_parse's callback: 0 takes arg, 1 leaves it for libfuse
 * (fuse_parse_cmdline, then fuse_session_new), -1 refuses it (said). */
static int fs_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct fs_args *a = data;
	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT) {
		if (a->store) {
			a->mnt_arg = a->mnt_arg ? a->mnt_arg : arg;
			return 1; /* the mount point; a third one is refused there */
		}
		a->store = strdup(arg);
		return a->store ? 0 : -1;
	}
	if (arg[0] == '-') /* -f, -d, -s, -h, -V... */
		return 1;
	if (fs_append(a->opts_text, sizeof(a->opts_text), arg) < 0)
		return -1;
	switch (key) {
	case FS_KEY_POLICY:
		if (a->n_words >= FS_MAX_WORDS) {
			fprintf(stderr, "ckptfs: too many options\n");
			return -1;
		}
		a->words[a->n_words] = strdup(arg);
		return a->words[a->n_words++] ? 0 : -1;
	case FS_KEY_COMMIT:
		return fs_take_commit_opt(&a->copts, arg) < 0 ? -1 : 0;
	case FS_KEY_STORE:
		return fs_append(a->store_opts, sizeof(a->store_opts), arg);
	case FS_KEY_OWN:
		return 0;
	default:
		return 1;
	}
}

/* Parses the command line into a and args (what is left for
 * fuse_session_new); --help and --version answer and exit 0. -EINVAL with
 * one line said (the usage when STORE or MOUNTPOINT is missing). */
static int fs_parse_args(struct fuse_args *args, struct fs_args *a)
{
	struct stat mst;
	if (fuse_opt_parse(args, a, fs_opt_spec, fs_opt_proc) < 0)
		goto out_said;
	/* before the user's options, which may replace them; with a subtype
	 * fuse_parse_cmdline adds none of its own */
	if (fuse_opt_insert_arg(args, 1, "-osubtype=ckptfs,max_read=1048576") < 0 ||
	    (a->allow_other && !a->default_permissions &&
	     fuse_opt_add_arg(args, "-odefault_permissions") < 0)) {
		fprintf(stderr, "ckptfs: out of memory\n");
		return -ENOMEM;
	}
	if (a->mnt_arg && !fs_is_devfd(a->mnt_arg) &&
	    (stat(a->mnt_arg, &mst) < 0 || !S_ISDIR(mst.st_mode))) {
		fprintf(stderr, "ckptfs: mountpoint %s: %s\n", a->mnt_arg,
			stat(a->mnt_arg, &mst) < 0 ? strerror(errno) : "not a directory");
		return -ENOTDIR;
	}
	if (fuse_parse_cmdline(args, &a->cmd) < 0)
		goto out_said;
	if (a->cmd.show_help) {
		fs_usage(stdout);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		exit(0);
	}
	if (a->cmd.show_version) {
		printf("ckptfs %s\n", CKPT_VERSION);
		exit(0);
	}
	if (a->store && a->cmd.mountpoint)
		return 0;
	fs_usage(stderr);
	return -EINVAL;
out_said:
	if (fs_log_last[0])
		fprintf(stderr, "ckptfs: %s\n", fs_fuse_said(""));
	return -EINVAL;
}

static char *fs_abspath(const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	char *out = NULL;
	if (asprintf(&out, "%s/%s", cwd, p) < 0)
		return NULL;
	return out;
}

/* Without -f: fork now, the parent waits for the child's verdict. */
static int fs_detach_begin(void)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		char c = 1;
		ssize_t r;
		do
			r = read(p[0], &c, 1);
		while (r < 0 && errno == EINTR);
		_exit(r == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	return p[1];
}

static void fs_detach_end(int fd, bool ok)
{
	if (fd < 0)
		return;
	if (ok) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			if (nul > 2)
				close(nul);
		}
		if (chdir("/") < 0) { /* nothing relative is used after mount */
		}
	}
	char c = ok ? 0 : 1;
	ssize_t r = write(fd, &c, 1);
	(void)r;
	close(fd);
}

static int fs_init_state(struct fs *fs, struct store *st)
{
	memset(fs, 0, sizeof(*fs));
	fs->st = st;
	fs->room_base = UINT64_MAX; /* max_bytes: read at the first write that may cross it */
	fs->uid = getuid();
	fs->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &fs->mount_time);
	pthread_mutex_init(&fs->pol_lock, NULL);
	pthread_mutex_init(&fs->ino_lock, NULL);
	pthread_mutex_init(&fs->reg_lock, NULL);
	pthread_mutex_init(&fs->commit_lock, NULL);
	pthread_mutex_init(&fs->trk_lock, NULL);
	pthread_mutex_init(&fs->nq_lock, NULL);
	pthread_cond_init(&fs->nq_cond, NULL);
	pthread_mutex_init(&fs->timer_lock, NULL);
	pthread_cond_init(&fs->timer_cond, NULL);
	snprintf(fs->pw_status, sizeof(fs->pw_status), "not started");
	policy_init(&fs->pol);
	fs_policy_refresh(fs);
	if (asprintf(&fs->plain_dir, "%s/plain", store_dir(st)) < 0) {
		fs->plain_dir = NULL;
		return -ENOMEM;
	}
	/* Plain files (policy plain globs) are ordinary files kept here. */
	if (mkdir(fs->plain_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return fs_inodes_init(fs);
}

/* Applies the policy options over the stored policy and checks the result
 * (the stored options count too): contradictory ones are refused. */
static int fs_apply_policy(struct store *st, struct fs_args *a)
{
	struct policy *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	char why[256] = "", *before = NULL, *after = NULL;
	int rc = store_policy_get(st, p);
	if (rc == 0)
		rc = policy_to_text(p, &before);
	if (rc == 0)
		rc = policy_apply_words(p, a->words, a->n_words, why, sizeof(why));
	if (rc == 0)
		rc = policy_check_names(p, why, sizeof(why));
	if (rc < 0 && why[0]) {
		fprintf(stderr, "ckptfs: bad option: %s\n", why);
		free(before);
		free(p);
		return -EINVAL;
	}
	/* Unchanged options write nothing: a store on a full disk mounts
	 * (to delete checkpoints and make room). */
	if (rc == 0 && policy_to_text(p, &after) == 0 && strcmp(before, after) == 0)
		goto out_free;
	if (rc == 0)
		rc = store_policy_set(st, p);
	if (rc < 0)
		fprintf(stderr, "ckptfs: cannot store the policy: %s\n", strerror(-rc));
out_free:
	free(before);
	free(after);
	free(p);
	return rc;
}

/* Parses the command line (args: what is left for libfuse) and makes
 * *store_path, STORE's absolute address with -o index=,chunks= joined to
 * its own options (after its '?', if any); malloc'd. One line said on
 * failure. */
static int fs_load_args(struct fuse_args *args, struct fs_args *a, char **store_path)
{
	int rc = fs_parse_args(args, a);
	if (rc < 0)
		return rc;
	char *path = store_spec_is_pg(a->store) ? strdup(a->store) : fs_abspath(a->store);
	const char *sopts = path ? store_spec_options(path) : NULL;
	*store_path = NULL;
	if (path &&
	    asprintf(store_path, "%s%s%s", path,
		     !a->store_opts[0]	? ""
			     : !sopts	? "?"
			     : sopts[0] ? ","
					: "",
		     a->store_opts) < 0)
		*store_path = NULL;
	free(path);
	if (!*store_path) {
		fprintf(stderr, "ckptfs: out of memory\n");
		return -ENOMEM;
	}
	return 0;
}

/* Opens the store read-write and applies the policy options to it; NULL
 * (one line said) when either fails. */
static struct store *fs_open_store(struct fs_args *a, const char *store_path)
{
	struct store *st = NULL;
	char err[512] = "";
	/* CKPT_CHUNK_BARRIER=fsync|syncfs forces the chunk barrier's way */
	int rc = store_open(store_path,
			    STORE_DURABLE | store_barrier_flag(getenv("CKPT_CHUNK_BARRIER")), &st,
			    err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ckptfs: %s: %s\n", a->store, err[0] ? err : strerror(-rc));
		return NULL;
	}
	if (fs_apply_policy(st, a) < 0) {
		store_close(st);
		return NULL;
	}
	return st;
}

/* The FUSE session and the options it was made from. */
struct fs_session {
	struct fuse_args args;
	struct fuse_session *se;
};

/* Makes the session from the options left for libfuse, with the store's
 * directory as fsname (findmnt's SOURCE; "," and "\\" escaped for libfuse's
 * option parser), or a PostgreSQL store's whole address (its chunks=DIR
 * is part of what names it): every FUSE and mount option is checked here,
 * before anything is opened. -EINVAL with one line said, naming unknown
 * options. */
static int fs_session_new(struct fs *fs, const char *store_path, struct fs_session *s)
{
	static const char unknown[] = "unknown option(s): `";
	const char *sopts = store_spec_is_pg(store_path) ? NULL : store_spec_options(store_path);
	size_t dl = sopts ? (size_t)(sopts - 1 - store_path) : strlen(store_path);
	char opt[2 * PATH_MAX + 16] = "-ofsname=", *o = opt + strlen(opt);
	for (size_t i = 0; i < dl && o < opt + sizeof(opt) - 2; i++) {
		if (store_path[i] == ',' || store_path[i] == '\\')
			*o++ = '\\';
		*o++ = store_path[i];
	}
	*o = '\0';
	if (fuse_opt_insert_arg(&s->args, 1, opt) < 0) {
		fprintf(stderr, "ckptfs: out of memory\n");
		return -ENOMEM;
	}
	fs_fuse_forget();
	s->se = fuse_session_new(&s->args, &fs_ops, sizeof(fs_ops), fs);
	if (s->se)
		return 0;
	const char *said = fs_fuse_said("bad FUSE options");
	size_t n = strlen(said);
	if (strncmp(said, unknown, sizeof(unknown) - 1) != 0 || said[n - 1] != '\'') {
		fprintf(stderr, "ckptfs: %s\n", said);
		return -EINVAL;
	}
	/* libfuse lists what nobody took as "-o a,b" (and any -x): a's name */
	said += sizeof(unknown) - 1;
	n -= sizeof(unknown);
	if (strncmp(said, "-o ", 3) == 0) {
		said += 3;
		n -= 3;
	}
	fprintf(stderr, "ckptfs: unknown option%s '%.*s'\n", strpbrk(said, ", ") ? "s" : "", (int)n,
		said);
	return -EINVAL;
}

/* Clean shutdown: stop the threads (committing quiet complete work), then
 * unmount and free the session. */
static void fs_session_end(struct fs *fs, struct fs_session *s)
{
	fs_threads_stop(fs);
	fuse_session_unmount(s->se);
	fuse_remove_signal_handlers(s->se);
	fuse_session_destroy(s->se);
	s->se = NULL;
}

/* Mounts the session on a's mount point and starts the mount's threads.
 * 0, or negative with one line said and everything it did undone. */
static int fs_session_start(struct fs *fs, const struct fs_args *a, struct fs_session *s)
{
	const char *mnt = a->cmd.mountpoint;
	int rc;
	fs->se = s->se;
	/* A shell starts background jobs with SIGINT ignored, and libfuse
	 * only catches signals left at their default: SIGINT and SIGTERM
	 * always mean a clean shutdown here. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (fuse_set_signal_handlers(s->se) < 0) {
		fprintf(stderr, "ckptfs: cannot set signal handlers\n");
		return -EIO;
	}
	fs_fuse_forget();
	if (fuse_session_mount(s->se, mnt) < 0) {
		fprintf(stderr, "ckptfs: cannot mount on %s%s%s\n", a->mnt_arg,
			fs_log_last[0] ? ": " : "", fs_fuse_said(""));
		fuse_remove_signal_handlers(s->se);
		return -EIO;
	}
	if (fs_init_patch(s->se) <
	    0) /* without it, shared mmap of a checkpoint's own files is ENODEV */
		fprintf(stderr, "ckptfs: shared mmap of direct files unavailable\n");
	/* /dev/fd/N names no mount point: its id stays unknown (0) */
	fs->mnt_id = fs_is_devfd(mnt) ? 0 : fs_find_mnt_id(mnt);
	rc = fs_threads_start(fs);
	if (rc < 0) {
		fprintf(stderr, "ckptfs: cannot start threads: %s\n", strerror(-rc));
		fs_session_end(fs, s);
		return rc;
	}
	return 0;
}

/* Serves requests until unmounted or signalled, as -s, -o clone_fd,
 * max_threads and max_idle_threads say; 0 or negative. */
static int fs_run_loop(struct fuse_session *se, const struct fs_args *a)
{
	struct fuse_loop_config *cfg = a->cmd.singlethread ? NULL : fuse_loop_cfg_create();
	if (!cfg)
		return fuse_session_loop(se);
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned)a->clone_fd);
	fuse_loop_cfg_set_idle_threads(cfg, a->max_idle_threads);
	fuse_loop_cfg_set_max_threads(cfg, a->max_threads);
	int rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

/* Undoes fs_init_state, also after it failed half way. */
static void fs_state_end(struct fs *fs)
{
	fs_inodes_release(fs);
	/* Nothing is cached any more: deleted versions' data goes now, not
	 * at the next open (and the gc event says how much). */
	fs_gc(fs);
	free(fs->plain_dir);
}

int main(int argc, char **argv)
{
	static struct fs fs;	    /* large (policy, fixed inodes): not on the stack */
	static struct fs_session s; /* holds the FUSE option text */
	static struct fs_sd_ready ready;
	static struct fs_args a;
	struct store *st = NULL;
	char *store_path = NULL;
	int status = 1, detach_fd = -1, rc;
	s.args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	a.max_threads = 32;
	a.max_idle_threads = 8;
	fuse_set_log_func(fs_fuse_log);
	if (fs_load_args(&s.args, &a, &store_path) < 0 || fs_session_new(&fs, store_path, &s) < 0)
		goto out_free_args;
	const char *mnt = a.cmd.mountpoint;
	fs_log_setup(!a.cmd.foreground, a.quiet);
	if (!a.cmd.foreground) {
		detach_fd = fs_detach_begin();
		if (detach_fd < 0) {
			fprintf(stderr, "ckptfs: cannot daemonize: %s\n", strerror(errno));
			goto out_free_args;
		}
	}
	st = fs_open_store(&a, store_path);
	if (!st)
		goto out_detach;
	rc = fs_init_state(&fs, st);
	fs.copts = a.copts;
	if (rc < 0) {
		fprintf(stderr, "ckptfs: %s: %s\n", a.store, strerror(-rc));
		goto out_release_state;
	}
	if (fs_session_start(&fs, &a, &s) < 0)
		goto out_release_state;
	fs_detach_end(detach_fd, true);
	detach_fd = -1;
	fs_log_capture = a.cmd.foreground &&
		!a.cmd.debug; /* a daemon's stderr is /dev/null anyway */
	fs_log(LOG_NOTICE, "mount store=%s mnt=%s options=%s", store_address(st), mnt, a.opts_text);
	rc = fs_sd_ready_start(&ready, mnt); /* Type=notify: READY=1 once the mount answers */
	if (rc < 0)
		fprintf(stderr, "ckptfs: cannot start the readiness thread: %s\n", strerror(-rc));
	status = fs_run_loop(s.se, &a) < 0 ? 1 : 0;
	fs_sd_notify("STOPPING=1");
	fs.initialised = false; /* no more notifications */
	fs_session_end(&fs, &s);
	fs_log(LOG_NOTICE, "unmount store=%s mnt=%s", store_address(st), mnt);
	fs_sd_ready_join(&ready);
out_release_state:
	fs_state_end(&fs);
	store_close(st);
out_detach:
	fs_detach_end(detach_fd, false);
out_free_args:
	if (s.se)
		fuse_session_destroy(s.se);
	fuse_opt_free_args(&s.args);
	free(store_path);
	free(a.cmd.mountpoint);
	free(a.store);
	for (size_t i = 0; i < a.n_words; i++)
		free(a.words[i]);
	return status;
}
