/* ckptfs STORE MOUNTPOINT [-f] [-d] [-o OPTION[,OPTION...]]
 *
 * Policy options (policy.h keys) are stored in the store's policy; every
 * other -o option goes to FUSE. Errors before mounting (unusable store,
 * store already mounted, bad option) are one line on stderr and exit 1:
 * without -f the parent waits for the child to mount before exiting, so it
 * can report them. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
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

static const char *const fs_policy_keys[] = { "keep_last",    "keep_best",   "keep_every",
					      "metric",	      "compress",    "settle_ms",
					      "hide_virtual", "latest_name", "best_prefix",
					      "plain",	      "trash",	     "max_bytes",
					      "min_free" };

struct fs_args {
	const char *store, *mnt;
	bool foreground, debug;
	char *words[FS_MAX_WORDS]; /* policy words: point into opts copies */
	size_t n_words;
	char fuse_opts[8192];
	char store_opts[256]; /* ",index=...,chunks=...": appended to STORE's address */
	char opts_text[8192]; /* every -o list as given, comma-joined: the mount line's */
	bool quiet;	      /* -o quiet: no commit lines in the log */
	char *copies[FS_MAX_WORDS];
	size_t n_copies;
	struct fs_commit_opts copts;
};

static void fs_usage(FILE *f)
{
	fprintf(f,
		"usage: ckptfs STORE MOUNTPOINT [-f] [-d] [-o OPTION[,OPTION...]]\n"
		"       ckptfs -h|--help | -V|--version\n"
		"policy options: keep_last=N keep_best=K metric=NAME:min|max keep_every=N\n"
		"  compress=none|zlib|zstd|auto settle_ms=N hide_virtual latest_name=NAME\n"
		"  best_prefix=PREFIX plain=GLOB[:GLOB...] trash=DURATION max_bytes=SIZE\n"
		"  min_free=SIZE\n"
		"mount options: commit=close|rename commit_marker=GLOB commit_timeout_ms=N;\n"
		"store options: index=sqlite chunks=dir|mem (checked against the ones the\n"
		"  store recorded when it was made; also as STORE?index=sqlite,chunks=dir)\n"
		"  other options go to FUSE (allow_other brings default_permissions)\n");
}

static bool fs_is_policy_key(const char *word)
{
	size_t kl = strcspn(word, "=");
	for (size_t i = 0; i < sizeof(fs_policy_keys) / sizeof(fs_policy_keys[0]); i++)
		if (strlen(fs_policy_keys[i]) == kl && strncmp(fs_policy_keys[i], word, kl) == 0)
			return true;
	return false;
}

/* commit=close|rename, commit_marker=GLOB, commit_timeout_ms=N: 1 when
 * word is one of them (stored in o), 0 when not, -EINVAL (said on stderr)
 * when its value is bad. */
static int fs_take_commit_opt(struct fs_commit_opts *o, const char *word)
{
	const char *v = strchr(word, '=');
	size_t kl = v ? (size_t)(v - word) : strlen(word);
	char *end;
	if (!v)
		return 0;
	v++;
	if (kl == 6 && strncmp(word, "commit", 6) == 0) {
		if (strcmp(v, "close") != 0 && strcmp(v, "rename") != 0)
			goto out_bad;
		o->rename_only = strcmp(v, "rename") == 0;
	} else if (kl == 13 && strncmp(word, "commit_marker", 13) == 0) {
		if (!v[0] || strchr(v, '/') || strlen(v) >= sizeof(o->marker))
			goto out_bad;
		snprintf(o->marker, sizeof(o->marker), "%s", v);
	} else if (kl == 17 && strncmp(word, "commit_timeout_ms", 17) == 0) {
		errno = 0;
		long long ms = strtoll(v, &end, 10);
		if (errno || end == v || *end || ms < 0)
			goto out_bad;
		o->timeout_ms = ms;
	} else {
		return 0;
	}
	return 1;
out_bad:
	fprintf(stderr,
		"ckptfs: bad option: %s (commit=close|rename, commit_marker=GLOB without '/', "
		"commit_timeout_ms=N)\n",
		word);
	return -EINVAL;
}

static int fs_add_opts(struct fs_args *a, const char *list)
{
	if (a->n_copies >= FS_MAX_WORDS)
		return -E2BIG;
	size_t tl = strlen(a->opts_text);
	int tn = snprintf(a->opts_text + tl, sizeof(a->opts_text) - tl, "%s%s", tl ? "," : "",
			  list);
	if (tn < 0 || (size_t)tn >= sizeof(a->opts_text) - tl)
		return -E2BIG;
	char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	a->copies[a->n_copies++] = copy;
	char *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int taken = fs_take_commit_opt(&a->copts, w);
		if (taken < 0)
			return taken;
		if (taken)
			continue;
		if (strcmp(w, "quiet") == 0) {
			a->quiet = true;
			continue;
		}
		if (!strncmp(w, "index=", 6) || !strncmp(w, "chunks=", 7)) {
			size_t used = strlen(a->store_opts);
			int n = snprintf(a->store_opts + used, sizeof(a->store_opts) - used, ",%s",
					 w);
			if (n < 0 || (size_t)n >= sizeof(a->store_opts) - used)
				return -E2BIG;
			continue;
		}
		if (fs_is_policy_key(w)) {
			if (a->n_words >= FS_MAX_WORDS)
				return -E2BIG;
			a->words[a->n_words++] = w;
			continue;
		}
		size_t used = strlen(a->fuse_opts);
		int n = snprintf(a->fuse_opts + used, sizeof(a->fuse_opts) - used, ",%s", w);
		if (n < 0 || (size_t)n >= sizeof(a->fuse_opts) - used)
			return -E2BIG;
	}
	return 0;
}

/* true when the comma-separated list (with a leading comma) holds word. */
static bool fs_opts_have(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
		if (p > list && p[-1] == ',' && (p[wl] == ',' || p[wl] == '\0'))
			return true;
	return false;
}

/* allow_other without default_permissions would let every user do what
 * the mounting user may: the kernel checks the mode bits we report only
 * with default_permissions, so allow_other always brings it along. */
static int fs_secure_allow_other(struct fs_args *a)
{
	if (!fs_opts_have(a->fuse_opts, "allow_other") ||
	    fs_opts_have(a->fuse_opts, "default_permissions"))
		return 0;
	size_t used = strlen(a->fuse_opts);
	int n = snprintf(a->fuse_opts + used, sizeof(a->fuse_opts) - used, ",default_permissions");
	return n < 0 || (size_t)n >= sizeof(a->fuse_opts) - used ? -E2BIG : 0;
}

static int fs_parse_args(int argc, char **argv, struct fs_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "-f") == 0) {
			a->foreground = true;
		} else if (strcmp(s, "-d") == 0) {
			a->debug = a->foreground = true;
		} else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			fs_usage(stdout);
			exit(0);
		} else if (strcmp(s, "-V") == 0 || strcmp(s, "--version") == 0) {
			printf("ckptfs %s\n", CKPT_VERSION);
			exit(0);
		} else if (strcmp(s, "-o") == 0) {
			if (++i >= argc)
				return -EINVAL;
			int rc = fs_add_opts(a, argv[i]);
			if (rc < 0)
				return rc;
		} else if (strncmp(s, "-o", 2) == 0) {
			int rc = fs_add_opts(a, s + 2);
			if (rc < 0)
				return rc;
		} else if (s[0] == '-') {
			return -EINVAL;
		} else if (!a->store) {
			a->store = s;
		} else if (!a->mnt) {
			a->mnt = s;
		} else {
			return -EINVAL;
		}
	}
	if (fs_secure_allow_other(a) < 0)
		return -E2BIG;
	return a->store && a->mnt ? 0 : -EINVAL;
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

/* "/dev/fd/N": a /dev/fuse descriptor the caller opened and mounted (as
 * CSI drivers pass it); fuse_session_mount serves it as it is. */
static bool fs_is_devfd(const char *mnt)
{
	unsigned fd;
	int end = 0;
	return sscanf(mnt, "/dev/fd/%u%n", &fd, &end) == 1 && end > 0 && mnt[end] == '\0';
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

/* libfuse's own messages: kept (last one) while we set up, so an error
 * before mounting is one line; passed to stderr afterwards. */
static bool fs_log_capture = true;
static char fs_log_last[512];

static void fs_fuse_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if (!fs_log_capture) {
		fs_vlog((int)level, fmt, ap); /* fuse_log_level is syslog's order */
		return;
	}
	vsnprintf(fs_log_last, sizeof(fs_log_last), fmt, ap);
	fs_log_last[strcspn(fs_log_last, "\n")] = '\0';
}

static int fs_init_state(struct fs *fs, struct store *st)
{
	memset(fs, 0, sizeof(*fs));
	fs->st = st;
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

/* Parses the command line and resolves both paths (*store_path, *mnt:
 * malloc'd); one line said on failure. */
static int fs_load_args(int argc, char **argv, struct fs_args *a, char **store_path, char **mnt)
{
	if (fs_parse_args(argc, argv, a) < 0) {
		fs_usage(stderr);
		return -EINVAL;
	}
	char *path = fs_abspath(a->store);
	*mnt = fs_abspath(a->mnt);
	*store_path = NULL;
	/* -o index=,chunks= join STORE's own options (after its '?', if any) */
	const char *sopts = path ? store_spec_options(path) : NULL;
	if (path &&
	    asprintf(store_path, "%s%s%s", path,
		     !a->store_opts[0]	? ""
			     : !sopts	? "?"
			     : sopts[0] ? ","
					: "",
		     a->store_opts + (a->store_opts[0] != 0)) < 0)
		*store_path = NULL;
	free(path);
	if (!*store_path || !*mnt) {
		fprintf(stderr, "ckptfs: out of memory\n");
		return -ENOMEM;
	}
	struct stat mst;
	if (fs_is_devfd(*mnt))
		return 0;
	if (stat(*mnt, &mst) < 0 || !S_ISDIR(mst.st_mode)) {
		fprintf(stderr, "ckptfs: mountpoint %s: %s\n", a->mnt,
			stat(*mnt, &mst) < 0 ? strerror(errno) : "not a directory");
		return -ENOTDIR;
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

/* The FUSE session and the option vector it was made from. */
struct fs_session {
	char opts[sizeof(((struct fs_args *)0)->fuse_opts) + 2 * PATH_MAX + 128];
	char *argv[5];
	struct fuse_args args;
	struct fuse_session *se;
};

/* Clean shutdown: stop the threads (committing quiet complete work), then
 * unmount and free the session. */
static void fs_session_end(struct fs *fs, struct fs_session *s)
{
	fs_threads_stop(fs);
	fuse_session_unmount(s->se);
	fuse_remove_signal_handlers(s->se);
	fuse_session_destroy(s->se);
	fuse_opt_free_args(&s->args);
}

/* Creates the session, mounts it on mnt and starts the mount's threads.
 * 0, or negative with one line said and everything it did undone. */
static int fs_session_start(struct fs *fs, const struct fs_args *a, char *prog, const char *mnt,
			    struct fs_session *s)
{
	int argc = 0, rc;
	/* fsname is the store, as findmnt's SOURCE ("," and "\\" escaped for
	 * libfuse's option parser); the subtype makes the type fuse.ckptfs */
	char fsname[2 * PATH_MAX + 1], *o = fsname;
	for (const char *c = store_dir(fs->st); *c && o < fsname + sizeof(fsname) - 2; c++) {
		if (*c == ',' || *c == '\\')
			*o++ = '\\';
		*o++ = *c;
	}
	*o = 0;
	snprintf(s->opts, sizeof(s->opts), "fsname=%s,subtype=ckptfs,max_read=%u%s", fsname,
		 1u << 20, a->fuse_opts);
	s->argv[argc++] = prog;
	s->argv[argc++] = "-o";
	s->argv[argc++] = s->opts;
	if (a->debug)
		s->argv[argc++] = "-d";
	s->argv[argc] = NULL;
	s->args = (struct fuse_args)FUSE_ARGS_INIT(argc, s->argv);
	s->se = fuse_session_new(&s->args, &fs_ops, sizeof(fs_ops), fs);
	if (!s->se) {
		fprintf(stderr, "ckptfs: bad FUSE options: %s\n",
			fs_log_last[0]		  ? fs_log_last
				: a->fuse_opts[0] ? a->fuse_opts + 1
						  : "");
		goto out_free_args;
	}
	fs->se = s->se;
	/* A shell starts background jobs with SIGINT ignored, and libfuse
	 * only catches signals left at their default: SIGINT and SIGTERM
	 * always mean a clean shutdown here. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (fuse_set_signal_handlers(s->se) < 0) {
		fprintf(stderr, "ckptfs: cannot set signal handlers\n");
		goto out_destroy_session;
	}
	if (fuse_session_mount(s->se, mnt) < 0) {
		fprintf(stderr, "ckptfs: cannot mount on %s%s%s\n", a->mnt,
			fs_log_last[0] ? ": " : "", fs_log_last);
		goto out_remove_handlers;
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
out_remove_handlers:
	fuse_remove_signal_handlers(s->se);
out_destroy_session:
	fuse_session_destroy(s->se);
out_free_args:
	fuse_opt_free_args(&s->args);
	return -EIO;
}

/* Serves requests until unmounted or signalled; 0 or negative. */
static int fs_run_loop(struct fuse_session *se)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg)
		return fuse_session_loop(se);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	fuse_loop_cfg_set_max_threads(cfg, 32);
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
	struct fs_args a;
	struct store *st = NULL;
	char *store_path = NULL, *mnt = NULL;
	int status = 1, detach_fd = -1, rc;
	memset(&a, 0, sizeof(a));
	if (fs_load_args(argc, argv, &a, &store_path, &mnt) < 0)
		goto out_free_args;
	fuse_set_log_func(fs_fuse_log);
	fs_log_setup(!a.foreground, a.quiet);
	if (!a.foreground) {
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
	if (fs_session_start(&fs, &a, argv[0], mnt, &s) < 0)
		goto out_release_state;
	fs_detach_end(detach_fd, true);
	detach_fd = -1;
	fs_log_capture = a.foreground && !a.debug; /* a daemon's stderr is /dev/null anyway */
	fs_log(LOG_NOTICE, "mount store=%s mnt=%s options=%s", store_dir(st), mnt, a.opts_text);
	rc = fs_sd_ready_start(&ready, mnt); /* Type=notify: READY=1 once the mount answers */
	if (rc < 0)
		fprintf(stderr, "ckptfs: cannot start the readiness thread: %s\n", strerror(-rc));
	status = fs_run_loop(s.se) < 0 ? 1 : 0;
	fs_sd_notify("STOPPING=1");
	fs.initialised = false; /* no more notifications */
	fs_session_end(&fs, &s);
	fs_log(LOG_NOTICE, "unmount store=%s mnt=%s", store_dir(st), mnt);
	fs_sd_ready_join(&ready);
out_release_state:
	fs_state_end(&fs);
	store_close(st);
out_detach:
	fs_detach_end(detach_fd, false);
out_free_args:
	free(store_path);
	free(mnt);
	for (size_t i = 0; i < a.n_copies; i++)
		free(a.copies[i]);
	return status;
}
