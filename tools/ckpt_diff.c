/* ckpt diff STORE A B [--json]: what changed from checkpoint A to B, per file
 * (added, removed, same, changed with the bytes in changed chunks) and, for
 * safetensors, .npy and zip (torch.save) files, per tensor / zip entry. The
 * comparison itself is core/store_diff.c; this walks the two trees and
 * prints. Exit 0 when identical, 1 when different, 2 or more on trouble
 * (like diff(1)); 3 and 4 as for every command. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt_cli.h"
#include "format.h"
#include "store_diff.h"

#define DIFF_DIFFERENT 1 /* exit code: the checkpoints differ */
#define DIFF_TROUBLE 2	 /* exit code: the comparison failed (diff(1)'s; 1 is taken) */

/* A file or symlink of one side, its path inside the checkpoint ("." for a
 * single-file checkpoint). */
struct dent {
	char *path;
	int64_t id;
	uint32_t mode;
	uint64_t size;
};

struct side {
	struct ckpt_info ci;
	struct dent *e;
	size_t n, cap;
};

struct totals {
	size_t files[4], items[4]; /* by DIFF_ST_* */
	uint64_t changed_bytes, bytes_read;
};

static int side_add(struct side *s, char *path, const struct store_node *n)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct dent *e = realloc(s->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		s->e = e;
		s->cap = cap;
	}
	s->e[s->n++] = (struct dent){ path, n->id, n->mode, n->size };
	return 0;
}

static char *join(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s%s", dir, dir[0] ? "/" : "", name) < 0)
		return NULL;
	return p;
}

static int dent_cmp(const void *p, const void *q)
{
	return strcmp(((const struct dent *)p)->path, ((const struct dent *)q)->path);
}

/* Every node of version below its root, breadth first without recursion
 * (directories stay in the array for the walk), then sorted by path. */
static int side_load(struct cli *c, struct side *s, int64_t version)
{
	struct store_node n;
	int r = store_version_root(c->st, version, &n);

	if (r < 0)
		return r;
	if (!S_ISDIR(n.mode)) {
		char *dot = strdup(".");

		r = dot ? side_add(s, dot, &n) : -ENOMEM;
		if (r < 0)
			free(dot);
		return r;
	}
	char *top = strdup("");
	if (!top || (r = side_add(s, top, &n)) < 0) {
		free(top);
		return -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < s->n; i++) {
		struct store_dirent *d = NULL;
		size_t nd = 0;

		if (!S_ISDIR(s->e[i].mode))
			continue;
		r = store_node_list(c->st, s->e[i].id, &d, &nd);
		for (size_t k = 0; r == 0 && k < nd; k++) {
			char *p = join(s->e[i].path, d[k].name);

			r = p ? store_node_get(c->st, d[k].id, &n) : -ENOMEM;
			if (r == 0)
				r = side_add(s, p, &n);
			if (r < 0)
				free(p);
		}
		store_dirents_free(d, nd);
	}
	if (r == 0)
		qsort(s->e, s->n, sizeof(*s->e), dent_cmp);
	return r;
}

static void side_release(struct side *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].path);
	free(s->e);
	ckpt_info_release(&s->ci);
}

/* The path the format checks see: a single-file checkpoint's own name. */
static const char *format_path(const struct side *s, const struct dent *e)
{
	return strcmp(e->path, ".") == 0 ? s->ci.name : e->path;
}

/* Two symlinks: same target or not. */
static int links_differ(struct cli *c, const struct dent *a, const struct dent *b)
{
	char ta[PATH_MAX], tb[PATH_MAX];
	int r = store_node_readlink(c->st, a->id, ta, sizeof(ta));

	if (r == 0)
		r = store_node_readlink(c->st, b->id, tb, sizeof(tb));
	return r < 0 ? r : strcmp(ta, tb) != 0;
}

/* Compares a and b (both present) into df. */
static int compare_pair(struct cli *c, const struct side *sa, const struct dent *a,
			const struct side *sb, const struct dent *b, struct diff_file *df)
{
	int r;

	if (S_ISREG(a->mode) && S_ISREG(b->mode))
		return store_diff_file(c->st, a->id, format_path(sa, a), b->id, format_path(sb, b),
				       df);
	memset(df, 0, sizeof(*df));
	df->size_a = a->size;
	df->size_b = b->size;
	r = (a->mode & S_IFMT) != (b->mode & S_IFMT) ? 1 : links_differ(c, a, b);
	if (r < 0)
		return r;
	df->status = r ? DIFF_ST_CHANGED : DIFF_ST_SAME;
	df->changed_bytes = r ? (a->size > b->size ? a->size : b->size) : 0;
	return 0;
}

static const char *type_name(uint32_t mode)
{
	return S_ISLNK(mode) ? "symlink" : "file";
}

static json_t *file_json(const char *path, int status, const struct dent *a, const struct dent *b,
			 const struct diff_file *df)
{
	json_t *o = json_object(), *items = json_array();
	bool bad = !o || !items;

	for (size_t i = 0; !bad && i < df->n_items; i++) {
		json_t *it = json_object();

		bad = !it;
		if (it) {
			jset(it, "name", json_string(df->items[i].name), &bad);
			jset(it, "status", json_string(diff_status_name(df->items[i].status)),
			     &bad);
			if (json_array_append_new(items, it) != 0)
				bad = true;
		}
	}
	if (!bad) {
		const char *fmt = format_name(df->format);

		jset(o, "path", json_string(path), &bad);
		jset(o, "status", json_string(diff_status_name(status)), &bad);
		jset(o, "type", json_string(type_name((b ? b : a)->mode)), &bad);
		jset(o, "size_a", a ? json_integer((json_int_t)a->size) : json_null(), &bad);
		jset(o, "size_b", b ? json_integer((json_int_t)b->size) : json_null(), &bad);
		jset(o, "changed_bytes", json_integer((json_int_t)df->changed_bytes), &bad);
		jset(o, "format", fmt ? json_string(fmt) : json_null(), &bad);
		jset(o, "items", items, &bad);
		items = NULL;
		jset(o, "items_same", json_integer((json_int_t)df->items_same), &bad);
	}
	json_decref(items);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void file_line(const char *path, int status, const struct diff_file *df)
{
	char sz[32];

	if (status == DIFF_ST_SAME)
		return;
	printf("%-8s %s", diff_status_name(status), path);
	if (status == DIFF_ST_CHANGED) {
		fmt_size(df->changed_bytes, sz, sizeof(sz));
		printf("  (%s in changed chunks", sz);
		if (df->format)
			printf("; %s: %zu of %zu items differ", format_name(df->format),
			       df->n_items, df->n_items + df->items_same);
		printf(")");
	}
	printf("\n");
	for (size_t i = 0; i < df->n_items; i++)
		printf("  %-8s %s\n", diff_status_name(df->items[i].status), df->items[i].name);
}

/* Records one file's outcome: totals, then a JSON object or text lines. */
static int report(struct cli *c, json_t *files, struct totals *t, const char *path, int status,
		  const struct dent *a, const struct dent *b, const struct diff_file *df)
{
	t->files[status]++;
	t->changed_bytes += df->changed_bytes;
	t->bytes_read += df->bytes_read;
	t->items[DIFF_ST_SAME] += df->items_same;
	for (size_t i = 0; i < df->n_items; i++)
		t->items[df->items[i].status]++;
	if (!c->json) {
		file_line(path, status, df);
		return 0;
	}
	json_t *o = file_json(path, status, a, b, df);
	return o && json_array_append_new(files, o) == 0 ? 0 : -ENOMEM;
}

/* One added or removed entry (the other side is NULL). */
static int report_one(struct cli *c, json_t *files, struct totals *t, const struct dent *a,
		      const struct dent *b)
{
	const struct dent *e = a ? a : b;
	struct diff_file df = { .size_a = a ? a->size : 0, .size_b = b ? b->size : 0 };

	df.changed_bytes = S_ISREG(e->mode) ? e->size : 0;
	return report(c, files, t, e->path, a ? DIFF_ST_REMOVED : DIFF_ST_ADDED, a, b, &df);
}

/* Merges the sorted entries of both sides (directories skipped); says what
 * went wrong. */
static int diff_trees(struct cli *c, struct side *sa, struct side *sb, json_t *files,
		      struct totals *t)
{
	size_t i = 0, j = 0;
	int r = 0;

	while (r == 0 && (i < sa->n || j < sb->n)) {
		const struct dent *a = i < sa->n ? &sa->e[i] : NULL,
				  *b = j < sb->n ? &sb->e[j] : NULL;
		int cmp = !a ? 1 : !b ? -1 : strcmp(a->path, b->path);
		struct diff_file df;

		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			j++;
		if (cmp < 0 || cmp > 0) {
			const struct dent *e = cmp < 0 ? a : b;

			if (!S_ISDIR(e->mode))
				r = report_one(c, files, t, cmp < 0 ? a : NULL, cmp > 0 ? b : NULL);
			continue;
		}
		if (S_ISDIR(a->mode) && S_ISDIR(b->mode))
			continue;
		if (S_ISDIR(a->mode) || S_ISDIR(b->mode)) {
			/* a directory on one side, a file on the other */
			r = report_one(c, files, t, S_ISDIR(a->mode) ? NULL : a,
				       S_ISDIR(b->mode) ? NULL : b);
			continue;
		}
		r = compare_pair(c, sa, a, sb, b, &df);
		if (r < 0) {
			cli_err(c, a->path, "comparing: %s", strerror(-r));
			return r;
		}
		r = report(c, files, t, a->path, df.status, a, b, &df);
		diff_file_release(&df);
	}
	if (r < 0)
		cli_err(c, NULL, "%s", strerror(-r));
	return r;
}

static json_t *summary_json(const struct totals *t)
{
	static const char *const keys[4][2] = { { "files_same", "items_same" },
						{ "files_changed", "items_changed" },
						{ "files_added", "items_added" },
						{ "files_removed", "items_removed" } };
	json_t *o = json_object();
	bool bad = !o;

	for (int k = 0; !bad && k < 4; k++) {
		jset(o, keys[k][0], json_integer((json_int_t)t->files[k]), &bad);
		jset(o, keys[k][1], json_integer((json_int_t)t->items[k]), &bad);
	}
	if (o) {
		jset(o, "changed_bytes", json_integer((json_int_t)t->changed_bytes), &bad);
		jset(o, "bytes_read", json_integer((json_int_t)t->bytes_read), &bad);
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int print_result(struct cli *c, const struct side *sa, const struct side *sb, json_t *files,
			const struct totals *t, bool same)
{
	if (!c->json) {
		char sz[32];

		fmt_size(t->changed_bytes, sz, sizeof(sz));
		printf("files: %zu changed, %zu added, %zu removed, %zu same; "
		       "items: %zu changed, %zu added, %zu removed, %zu same; %s in changed chunks\n",
		       t->files[DIFF_ST_CHANGED], t->files[DIFF_ST_ADDED],
		       t->files[DIFF_ST_REMOVED], t->files[DIFF_ST_SAME], t->items[DIFF_ST_CHANGED],
		       t->items[DIFF_ST_ADDED], t->items[DIFF_ST_REMOVED], t->items[DIFF_ST_SAME],
		       sz);
		return CLI_OK;
	}
	json_t *o = json_object();
	bool bad = !o;

	json_incref(files);
	if (o) {
		jset(o, "a", json_string(sa->ci.name), &bad);
		jset(o, "b", json_string(sb->ci.name), &bad);
		jset(o, "identical", json_boolean(same), &bad);
		jset(o, "files", files, &bad);
		jset(o, "summary", summary_json(t), &bad);
	} else {
		json_decref(files);
	}
	if (bad) {
		json_decref(o);
		o = NULL;
	}
	return json_print(c, o);
}

int cmd_diff(struct cli *c)
{
	struct side s[2] = { 0 };
	struct totals t = { 0 };
	json_t *files = NULL;
	int rc, r;
	bool same;

	if ((rc = cli_open(c, OPEN_READ)) != CLI_OK)
		return rc;
	for (int k = 0; k < 2; k++) {
		int64_t version = 0;

		r = cli_resolve(c, c->args[k], RESOLVE_ABORTED | RESOLVE_DELETED, &s[k].ci,
				&version);
		if (r < 0) {
			rc = resolve_fail(c, c->args[k], r);
			rc = rc == CLI_FAIL ? DIFF_TROUBLE : rc;
			goto out_release;
		}
		r = side_load(c, &s[k], version);
		if (r < 0) {
			cli_err(c, c->args[k], "reading checkpoint: %s", strerror(-r));
			rc = DIFF_TROUBLE;
			goto out_release;
		}
	}
	files = json_array();
	if (!files) {
		cli_err(c, NULL, "%s", strerror(ENOMEM));
		rc = DIFF_TROUBLE;
		goto out_release;
	}
	if (diff_trees(c, &s[0], &s[1], files, &t) < 0) {
		rc = DIFF_TROUBLE;
		goto out_release;
	}
	same = !t.files[DIFF_ST_CHANGED] && !t.files[DIFF_ST_ADDED] && !t.files[DIFF_ST_REMOVED];
	rc = print_result(c, &s[0], &s[1], files, &t, same);
	rc = rc != CLI_OK ? DIFF_TROUBLE : same ? CLI_OK : DIFF_DIFFERENT;
out_release:
	json_decref(files);
	side_release(&s[0]);
	side_release(&s[1]);
	return rc;
}
