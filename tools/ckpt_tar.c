/* ckpt export STORE NAME DEST.tar | DEST.tar.zst | - : a checkpoint as a tar
 * archive (libarchive, POSIX pax format, plain ustar headers where they
 * suffice), zstd-compressed for .tar.zst, or to stdout for "-". A file
 * checkpoint is one entry NAME; a directory checkpoint is NAME/ and its tree,
 * depth first, directories before their contents. Modes, mtimes and
 * symlinks as stored; owner the exporting user, as a directory export.
 *
 * Streaming: one TAR_BUF buffer of file data at a time, every chunk read
 * through the store's verified reads. A failure (a damaged chunk, a full
 * disk) ends the archive without its end-of-archive blocks (libarchive's
 * archive_write_fail), so a reader of "-" sees a truncated archive, never a
 * short but complete-looking one; a DEST file is written under a temporary
 * name beside it, renamed at the end, and removed on failure. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_cli.h"

#define TAR_BUF (1u << 20)

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls > lx && strcmp(s + ls - lx, suffix) == 0;
}

bool export_is_tar(const char *dest)
{
	return strcmp(dest, "-") == 0 || ends_with(dest, ".tar") || ends_with(dest, ".tar.zst");
}

struct tar_ctx {
	struct cli *c;
	struct archive *a;
	struct archive_entry *e;
	char *buf;
	char failed[PATH_MAX]; /* the archive path where it failed */
	const char *why;       /* libarchive's message, when it was libarchive */
	uint64_t files, bytes;
};

static int tar_fail(struct tar_ctx *x, const char *path, int r)
{
	if (!x->failed[0])
		snprintf(x->failed, sizeof(x->failed), "%s", path);
	return r;
}

/* A libarchive failure: its message is the reason. */
static int tar_afail(struct tar_ctx *x, const char *path)
{
	x->why = archive_error_string(x->a);
	return tar_fail(x, path, -EIO);
}

/* The header of node n as path (and, for a symlink, its target). */
static int tar_header(struct tar_ctx *x, const struct store_node *n, const char *path)
{
	char target[PATH_MAX];
	int64_t s = n->mtime_ns / 1000000000LL, ns = n->mtime_ns % 1000000000LL;
	int r;

	if (ns < 0)
		s--, ns += 1000000000LL;
	archive_entry_clear(x->e);
	archive_entry_copy_pathname(x->e, path);
	archive_entry_set_mode(x->e, n->mode);
	archive_entry_set_mtime(x->e, (time_t)s, (long)ns);
	archive_entry_set_uid(x->e, getuid());
	archive_entry_set_gid(x->e, getgid());
	archive_entry_set_size(x->e, S_ISREG(n->mode) ? (la_int64_t)n->size : 0);
	if (S_ISLNK(n->mode)) {
		r = store_node_readlink(x->c->st, n->id, target, sizeof(target));
		if (r < 0)
			return tar_fail(x, path, r);
		archive_entry_copy_symlink(x->e, target);
	} else if (!S_ISREG(n->mode) && !S_ISDIR(n->mode)) {
		return tar_fail(x, path, -EOPNOTSUPP);
	}
	if (archive_write_header(x->a, x->e) != ARCHIVE_OK)
		return tar_afail(x, path);
	return 0;
}

/* Streams a regular file's data: exactly n->size verified bytes. */
static int tar_data(struct tar_ctx *x, const struct store_node *n, const char *path)
{
	struct store_file *f = NULL;
	uint64_t off = 0;
	int r = store_file_open(x->c->st, n->id, STORE_F_READ, &f);

	while (r == 0 && off < n->size) {
		size_t want = n->size - off < TAR_BUF ? (size_t)(n->size - off) : TAR_BUF;
		ssize_t got = store_file_read(f, x->buf, want, off);

		if (got <= 0) {
			r = got < 0 ? (int)got : -EIO; /* never a short entry */
			break;
		}
		for (ssize_t done = 0; done < got;) {
			la_ssize_t w = archive_write_data(x->a, x->buf + done,
							  (size_t)(got - done));

			if (w <= 0) {
				store_file_close(f);
				return tar_afail(x, path);
			}
			done += w;
		}
		off += (uint64_t)got;
	}
	if (f)
		store_file_close(f);
	if (r < 0)
		return tar_fail(x, path, r);
	x->files++;
	x->bytes += off;
	return 0;
}

static int tar_node(struct tar_ctx *x, const struct store_node *n, const char *path)
{
	int r = tar_header(x, n, path);

	return r == 0 && S_ISREG(n->mode) ? tar_data(x, n, path) : r;
}

/* One directory being written: its path, entries and the next one. */
struct tar_frame {
	char *path;
	struct store_dirent *ents;
	size_t n, next;
};

static int tar_push(struct tar_ctx *x, struct tar_frame **fr, size_t *depth, size_t *cap,
		    const struct store_node *n, char *path)
{
	struct tar_frame *f;
	int r;

	if (*depth >= STORE_DEPTH_MAX)
		return tar_fail(x, path, -ELOOP);
	if (*depth == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		f = realloc(*fr, ncap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		*fr = f;
		*cap = ncap;
	}
	f = &(*fr)[*depth];
	*f = (struct tar_frame){ .path = path };
	r = store_node_list(x->c->st, n->id, &f->ents, &f->n);
	if (r < 0)
		return tar_fail(x, path, r);
	++*depth;
	return 0;
}

/* The tree under directory top as top_path/..., depth first, without
 * recursion (as deep as the store keeps). */
static int tar_tree(struct tar_ctx *x, const struct store_node *top, const char *top_path)
{
	struct tar_frame *fr = NULL;
	size_t depth = 0, cap = 0;
	char *path = strdup(top_path);
	int r = path ? tar_node(x, top, path) : -ENOMEM;

	if (r == 0 && (r = tar_push(x, &fr, &depth, &cap, top, path)) == 0)
		path = NULL;
	while (r == 0 && depth > 0) {
		struct tar_frame *f = &fr[depth - 1];
		struct store_node child;
		const char *cn;

		if (f->next == f->n) {
			store_dirents_free(f->ents, f->n);
			free(f->path);
			depth--;
			continue;
		}
		cn = f->ents[f->next].name;
		/* Names come from the index: never let one step outside NAME/. */
		if (!cn || !cn[0] || strchr(cn, '/') || !strcmp(cn, ".") || !strcmp(cn, "..")) {
			r = tar_fail(x, f->path, -EINVAL);
			break;
		}
		if (asprintf(&path, "%s/%s", f->path, cn) < 0) {
			path = NULL;
			r = -ENOMEM;
			break;
		}
		r = store_node_get(x->c->st, f->ents[f->next++].id, &child);
		if (r == 0)
			r = tar_node(x, &child, path);
		else
			tar_fail(x, path, r);
		if (r == 0 && S_ISDIR(child.mode) &&
		    (r = tar_push(x, &fr, &depth, &cap, &child, path)) == 0)
			path = NULL; /* the frame owns it */
		free(path);
		path = NULL;
	}
	free(path);
	while (depth > 0) {
		depth--;
		store_dirents_free(fr[depth].ents, fr[depth].n);
		free(fr[depth].path);
	}
	free(fr);
	return r;
}

/* Writes the checkpoint (resolved, root node) into the open archive. */
static int tar_write(struct tar_ctx *x, const struct ckpt_info *ci, const struct store_node *root)
{
	int r;

	x->buf = malloc(TAR_BUF);
	x->e = archive_entry_new();
	if (!x->buf || !x->e)
		r = -ENOMEM;
	else if (S_ISDIR(root->mode))
		r = tar_tree(x, root, ci->name);
	else
		r = tar_node(x, root, ci->name);
	if (r == 0 && archive_write_close(x->a) != ARCHIVE_OK)
		r = tar_afail(x, "(end of archive)");
	archive_entry_free(x->e);
	free(x->buf);
	return r;
}

/* A new archive writing to fd: pax, zstd-filtered when zst. */
static struct archive *tar_open(int fd, bool zst)
{
	struct archive *a = archive_write_new();

	if (a && archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
	    (!zst || archive_write_add_filter_zstd(a) == ARCHIVE_OK) &&
	    archive_write_open_fd(a, fd) == ARCHIVE_OK)
		return a;
	if (a)
		archive_write_free(a);
	return NULL;
}

static int tar_report(struct cli *c, const struct ckpt_info *ci, const struct tar_ctx *x)
{
	const char *dest = c->args[1];

	if (strcmp(dest, "-") == 0)
		return CLI_OK; /* stdout is the archive */
	return export_report(c, ci, x->files, x->bytes,
			     ends_with(dest, ".zst") ? "tar.zst" : "tar");
}

/* Where the archive goes: stdout, or a temporary file tmp beside DEST
 * (in *dirfd; *base is DEST's name there, inside *dest). CLI_OK with *fd
 * set, else the exit code (said). */
static int tar_dest(struct cli *c, char **dest, char **base, int *dirfd, char *tmp, size_t tmp_len,
		    int *fd)
{
	const char *parent;
	int rc;

	if (strcmp(c->args[1], "-") == 0) {
		if (c->json) {
			cli_err(c, "-", "--json would mix the report into the archive on stdout");
			return CLI_USAGE;
		}
		if (isatty(STDOUT_FILENO)) {
			cli_err(c, "-", "refusing to write an archive to a terminal");
			return CLI_USAGE;
		}
		*fd = STDOUT_FILENO;
		return CLI_OK;
	}
	if ((rc = export_dest(c, dest, &parent, base)) != CLI_OK)
		return rc;
	*dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(tmp, tmp_len, ".%s.ckpt-export-%ld.tmp", *base, (long)getpid());
	*fd = *dirfd < 0
		? -1
		: openat(*dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (*fd < 0) {
		cli_err(c, c->args[1], "%s", strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cmd_export_tar(struct cli *c)
{
	const char *name = c->args[0];
	char *dest = NULL, tmp[NAME_MAX + 1] = "", *base = NULL;
	struct tar_ctx x = { .c = c };
	struct ckpt_info ci = { 0 };
	struct store_node root;
	int64_t version = 0;
	int rc, r, dirfd = -1, fd = -1;
	bool to_stdout = strcmp(c->args[1], "-") == 0;

	if ((rc = cli_open(c, OPEN_READ)) != CLI_OK)
		return rc;
	r = cli_resolve(c, name, RESOLVE_ABORTED, &ci, &version);
	if (r < 0)
		return resolve_fail(c, name, r);
	r = store_version_root(c->st, version, &root);
	if (r < 0) {
		cli_err(c, name, "reading checkpoint: %s", strerror(-r));
		rc = CLI_FAIL;
		goto out_release;
	}
	if ((rc = tar_dest(c, &dest, &base, &dirfd, tmp, sizeof(tmp), &fd)) != CLI_OK)
		goto out_close;
	x.a = tar_open(fd, ends_with(c->args[1], ".zst"));
	if (!x.a) {
		cli_err(c, c->args[1], "starting the archive: %s", strerror(ENOMEM));
		rc = CLI_FAIL;
		goto out_remove_tmp;
	}
	r = tar_write(&x, &ci, &root);
	if (r < 0) {
		archive_write_fail(x.a); /* no end-of-archive blocks */
		archive_write_free(x.a);
		cli_err(c, name, "exporting %s: %s", x.failed[0] ? x.failed : name,
			x.why ? x.why : strerror(-r));
		rc = CLI_FAIL;
		goto out_remove_tmp;
	}
	archive_write_free(x.a);
	if (!to_stdout) {
		if (fsync(fd) < 0 || close(fd) < 0) {
			fd = -1;
			cli_err(c, c->args[1], "writing: %s", strerror(errno));
			rc = CLI_FAIL;
			goto out_remove_tmp;
		}
		fd = -1;
		if ((rc = export_rename(c, dirfd, tmp, base)) != CLI_OK)
			goto out_remove_tmp;
		(void)fsync(dirfd);
	}
	rc = tar_report(c, &ci, &x);
	goto out_close;

out_remove_tmp:
	if (dirfd >= 0 && tmp[0])
		unlinkat(dirfd, tmp, 0);
out_close:
	if (fd >= 0 && !to_stdout)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	free(dest);
out_release:
	ckpt_info_release(&ci);
	return rc;
}
