/* What the ckpt commands kept in their own files (ckpt_diff.c, ckpt_tar.c)
 * share with tools/ckpt.c: the command line state, exit codes, messages,
 * opening the store, name resolution, JSON and export helpers. */
#ifndef CKPT_CLI_H
#define CKPT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

enum {
	CLI_OK = 0,
	CLI_FAIL = 1,	   /* verification failure / operation failed */
	CLI_USAGE = 2,	   /* usage error */
	CLI_NOSTORE = 3,   /* store missing or unusable */
	CLI_NOCKPT = 4,	   /* no such checkpoint */
	CLI_TIMEOUT = 124, /* wait: nothing committed in time (timeout(1)'s code) */
};

struct cli {
	const char *cmd;
	const char *store_path;
	bool json, all, dry_run, repair, follow;
	const char *after; /* wait --after NAME */
	double timeout;	   /* wait --timeout S (< 0: none) */
	long last_n;	   /* log -n N (< 0: all) */
	int64_t since;	   /* log --since TIME (0: all) */
	char *mount_store; /* the store a mount point names (owned) */
	char **args;	   /* positional words after STORE (not owned) */
	size_t n_args;
	struct store *st;
	bool shared; /* opened STORE_SHARED beside a live mount */
};

/* "ckpt: <command>: <what>: <message>" on stderr. */
void cli_err(const struct cli *c, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fmt_size(uint64_t v, char *buf, size_t len);
const char *kind_name(int kind);

/* Sets key to v (stolen); records failure in *bad. */
void jset(json_t *o, const char *key, json_t *v, bool *bad);
/* Prints root (stolen; NULL: out of memory) to stdout; an exit code. */
int json_print(const struct cli *c, json_t *root);

/* How a command opens the store: read-only; read-write (the lock, or the
 * index only beside a mount); or the index only, never the lock (no
 * recovery runs), falling back to read-only unless --repair needs it. */
enum { OPEN_READ = 0, OPEN_WRITE = 1, OPEN_INDEX = 2 };
int cli_open(struct cli *c, int mode);

enum {
	RESOLVE_ABORTED = 1 << 0, /* also aborted display names */
	RESOLVE_DELETED = 1 << 1, /* also trashed display names, then the newest deleted
				     checkpoint of the name */
	RESOLVE_TRASHED = 1 << 2, /* also trashed display names */
};
/* Resolves name as the mount does (see ckpt.c); *version (may be NULL) is
 * the version to read. 0, -ENOENT, or another negative errno. */
int cli_resolve(struct cli *c, const char *name, int flags, struct ckpt_info *out,
		int64_t *version);
/* Reports a resolution failure; returns the exit code. */
int resolve_fail(const struct cli *c, const char *name, int r);

/* export DEST (c->args[1]) checks and the final rename (ckpt.c). */
int export_dest(struct cli *c, char **dest, const char **parent, char **base);
int export_rename(struct cli *c, int dirfd, const char *tmp, const char *base);
/* "exported NAME to DEST: ..." or its JSON ({name, dest, kind, [archive,]
 * files, bytes}; archive "tar" / "tar.zst", NULL for a plain copy). */
int export_report(struct cli *c, const struct ckpt_info *ci, uint64_t files, uint64_t bytes,
		  const char *archive);

/* Commands in their own files. */
int cmd_diff(struct cli *c);
/* ckpt export to a tar archive: DEST "-" or ending in .tar / .tar.zst. */
bool export_is_tar(const char *dest);
int cmd_export_tar(struct cli *c);

#endif
