/* ckpt: the command-line tool over a ckptfs store, mounted or not.
 *
 *   ckpt COMMAND STORE [ARGS] [--json]
 *
 * Read commands (ls, show, policy, verify, stats, export, log) open the store
 * STORE_RDONLY: no lock, safe beside a live mount. Changing commands (policy
 * set, pin, unpin, gc, commit) open it read-write and, when a mount holds it
 * (-EBUSY), again with STORE_SHARED: index-only changes, the mount reclaims
 * space itself. The CLI never creates a store.
 *
 * Exit codes: 0 ok, 1 verification failure / operation failed, 2 usage
 * error, 3 store missing or unusable, 4 no such checkpoint. Errors are one
 * line on stderr: "ckpt: <command>: <what>: <reason>".
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "chunk.h"
#include "ckpt_cli.h"
#include "ckpt_trash.h"
#include "meta.h"
#include "policy.h"
#include "store.h"

#define CLI_MAX_ARGS 1024 /* positional words accepted on one line */
#define EXPORT_BUF (1u << 20)

/* ---- messages ------------------------------------------------------------- */

void cli_err(const struct cli *c, const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ckpt: %s: ", c->cmd ? c->cmd : "ckpt");
	if (what && *what)
		fprintf(stderr, "%s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- formatting helpers --------------------------------------------------- */

void fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)v;
	size_t u = 0;

	if (v < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)v);
		return;
	}
	d /= 1024.0;
	while (d >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", d, units[u]);
}

/* Local time, ISO 8601 without offset (tables), or with "+HH:MM" (JSON). */
static void fmt_time(int64_t t, bool with_offset, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char off[8];
	long o;

	if (t <= 0 || !localtime_r(&tt, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	if (strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "-");
		return;
	}
	if (!with_offset)
		return;
	o = labs(tm.tm_gmtoff / 60) % (24 * 60); /* real offsets are under a day */
	snprintf(off, sizeof(off), "%c%02d:%02d", tm.tm_gmtoff < 0 ? '-' : '+', (int)(o / 60),
		 (int)(o % 60));
	strncat(buf, off, len - strlen(buf) - 1);
}

const char *kind_name(int kind)
{
	return kind == CKPT_FILE ? "file" : "dir";
}

static const char *codec_name(int codec)
{
	switch (codec) {
	case CHUNK_CODEC_NONE:
		return "none";
	case CHUNK_CODEC_ZLIB:
		return "zlib";
	case CHUNK_CODEC_ZSTD:
		return "zstd";
	case CHUNK_CODEC_AUTO:
		return "auto";
	}
	return "unknown";
}

/* "name=value,name=value"; malloc'd, NULL on allocation failure. */
static char *metrics_text(const struct ckpt_info *ci, bool with_sources)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < ci->n_metrics; i++) {
		fprintf(f, "%s%s=%g", i ? (with_sources ? ", " : ",") : "", ci->metrics[i].name,
			ci->metrics[i].value);
		if (with_sources)
			fprintf(f, " (%s)", ci->metrics[i].source);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- aligned text tables --------------------------------------------------- */

struct table {
	size_t ncol;
	const char *align; /* per column: 'l' or 'r' */
	char **cells;	   /* row-major, malloc'd strings */
	size_t nrows, cap;
};

static int table_add(struct table *t, ...)
{
	va_list ap;
	int r = 0;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cells = realloc(t->cells, cap * t->ncol * sizeof(*cells));

		if (!cells)
			return -ENOMEM;
		t->cells = cells;
		t->cap = cap;
	}
	va_start(ap, t);
	for (size_t i = 0; i < t->ncol; i++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->nrows * t->ncol + i] = strdup(s ? s : "");
		if (!t->cells[t->nrows * t->ncol + i])
			r = -ENOMEM;
	}
	va_end(ap);
	t->nrows++; /* counted even on failure so table_release frees the row */
	return r;
}

static void table_print(const struct table *t, FILE *out)
{
	size_t width[16] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncol && c < 16; c++) {
			const char *s = t->cells[r * t->ncol + c];
			size_t l = s ? strlen(s) : 0;

			if (l > width[c])
				width[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncol; c++) {
			const char *s = t->cells[r * t->ncol + c];
			bool last = c + 1 == t->ncol;

			if (!s)
				s = "";
			if (t->align[c] == 'r')
				fprintf(out, "%*s", (int)width[c], s);
			else if (last)
				fputs(s, out);
			else
				fprintf(out, "%-*s", (int)width[c], s);
			if (!last)
				fputs("  ", out);
		}
		fputc('\n', out);
	}
}

static void table_release(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* ---- JSON helpers ---------------------------------------------------------- */

/* Sets key to v (stolen); records failure in *bad instead of returning it so
 * builders stay linear. */
void jset(json_t *o, const char *key, json_t *v, bool *bad)
{
	if (!v || json_object_set_new(o, key, v) != 0)
		*bad = true;
}

static json_t *jreal(double d)
{
	return isfinite(d) ? json_real(d) : json_null();
}

static json_t *jtime(int64_t t)
{
	char buf[64];

	if (t <= 0)
		return json_null();
	fmt_time(t, true, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

int json_print(const struct cli *c, json_t *root)
{
	if (!root) {
		cli_err(c, NULL, "building JSON: %s", strerror(ENOMEM));
		return CLI_FAIL;
	}
	/* The fewest significant digits that still give back every number
	 * exactly: 0.8, not 0.80000000000000004. */
	for (int prec = 15; prec <= 17; prec++) {
		char *text = json_dumps(
			root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(prec));
		json_t *back;
		bool exact;

		if (!text)
			break;
		back = prec < 17 ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
		exact = prec == 17 || (back && json_equal(root, back));
		json_decref(back);
		if (exact) {
			fputs(text, stdout);
			fputc('\n', stdout);
			free(text);
			json_decref(root);
			return CLI_OK;
		}
		free(text);
	}
	json_decref(root);
	cli_err(c, NULL, "writing JSON: %s", strerror(ENOMEM));
	return CLI_FAIL;
}

/* The `ls` object of the contract: name, kind, state, step, epoch,
 * committed_at, logical_bytes, stored_bytes, metrics, pinned (+ withdrawn). */
static json_t *ckpt_json_u(const struct ckpt_info *ci, uint64_t unique)
{
	json_t *o = json_object(), *m = json_object();
	bool bad = !o || !m;

	if (bad)
		goto out_fail;
	for (size_t i = 0; i < ci->n_metrics; i++)
		jset(m, ci->metrics[i].name, jreal(ci->metrics[i].value), &bad);
	jset(o, "name", json_string(ci->name ? ci->name : ""), &bad);
	jset(o, "kind", json_string(kind_name(ci->kind)), &bad);
	jset(o, "state", json_string(store_ckpt_state_name(ci->state)), &bad);
	jset(o, "step", ci->has_step ? json_integer(ci->step) : json_null(), &bad);
	jset(o, "epoch", ci->has_epoch ? jreal(ci->epoch) : json_null(), &bad);
	jset(o, "committed_at", jtime(ci->committed_at), &bad);
	jset(o, "logical_bytes", json_integer((json_int_t)ci->logical_bytes), &bad);
	jset(o, "stored_bytes", json_integer((json_int_t)ci->stored_bytes), &bad);
	jset(o, "unique_bytes", json_integer((json_int_t)unique), &bad);
	jset(o, "metrics", m, &bad);
	m = NULL;
	jset(o, "pinned", json_boolean(ci->pinned), &bad);
	jset(o, "withdrawn", json_boolean(ci->withdrawn), &bad);
	if (bad)
		goto out_fail;
	return o;

out_fail:
	json_decref(m);
	json_decref(o);
	return NULL;
}

/* The ls object with unique_bytes 0 (commands that show one row). */
static json_t *ckpt_json(const struct ckpt_info *ci)
{
	return ckpt_json_u(ci, 0);
}

/* ---- store opening and name resolution ------------------------------------- */

/* Opens c->store_path: read-only, or read-write with the STORE_SHARED retry
 * beside a mount. Returns a CLI exit code. Never creates a store. */
/* How a command opens the store: OPEN_* (ckpt_cli.h). */
int cli_open(struct cli *c, int mode)
{
	char err[512] = "", idx[PATH_MAX];
	struct stat sb;
	/* CKPT_CHUNK_BARRIER=fsync|syncfs forces the chunk barrier's way */
	int bf = store_barrier_flag(getenv("CKPT_CHUNK_BARRIER"));
	/* the directory part of a store address (DIR?OPTIONS) */
	const char *opts = store_spec_options(c->store_path);
	int dlen = opts ? (int)(opts - 1 - c->store_path) : (int)strlen(c->store_path);
	char dir[PATH_MAX];
	int r = -EINVAL; /* an unknown mode */

	if (store_spec_is_pg(c->store_path)) /* no directory to look at: the index says */
		goto open;
	if (snprintf(dir, sizeof(dir), "%.*s", dlen, c->store_path) >= (int)sizeof(dir)) {
		cli_err(c, c->store_path, "%s", strerror(ENAMETOOLONG));
		return CLI_NOSTORE;
	}
	if (stat(dir, &sb) < 0) {
		cli_err(c, c->store_path, "no such store: %s", strerror(errno));
		return CLI_NOSTORE;
	}
	if (!S_ISDIR(sb.st_mode)) {
		cli_err(c, c->store_path, "not a store: %s", strerror(ENOTDIR));
		return CLI_NOSTORE;
	}
	if (snprintf(idx, sizeof(idx), "%s/index.db", dir) >= (int)sizeof(idx)) {
		cli_err(c, c->store_path, "%s", strerror(ENAMETOOLONG));
		return CLI_NOSTORE;
	}
	if (access(idx, F_OK) < 0) {
		cli_err(c, c->store_path, "not a ckptfs store (no index.db): %s", strerror(errno));
		return CLI_NOSTORE;
	}
open:
	if (mode == OPEN_INDEX) {
		r = store_open(c->store_path, STORE_NOCREATE | STORE_SHARED | STORE_DURABLE | bf,
			       &c->st, err, sizeof(err));
		c->shared = r == 0;
		if (r < 0 && !c->repair)
			mode = OPEN_READ;
	}
	if (mode == OPEN_READ) {
		err[0] = '\0';
		r = store_open(c->store_path, STORE_RDONLY | STORE_NOCREATE | STORE_DURABLE | bf,
			       &c->st, err, sizeof(err));
	} else if (mode == OPEN_WRITE) {
		r = store_open(c->store_path, STORE_NOCREATE | STORE_DURABLE | bf, &c->st, err,
			       sizeof(err));
		if (r == -EBUSY) {
			/* A mount holds the lock: index-only changes beside it. */
			err[0] = '\0';
			r = store_open(c->store_path,
				       STORE_NOCREATE | STORE_SHARED | STORE_DURABLE | bf, &c->st,
				       err, sizeof(err));
			c->shared = r == 0;
		}
	}
	if (r < 0) {
		c->st = NULL;
		cli_err(c, c->store_path, "cannot open store: %s", err[0] ? err : strerror(-r));
		return CLI_NOSTORE;
	}
	return CLI_OK;
}

/* Resolves name as the mount does: a live checkpoint of that name (a real
 * name shadows a virtual one), then the policy's latest name and
 * best_<metric>, then (by flags) aborted and deleted ones. *version (may be
 * NULL) receives the version to read: the committed one when there is one,
 * the target version for latest/best. 0, -ENOENT, or another negative errno. */
static int cli_resolve_info(struct cli *c, const char *name, int flags, struct ckpt_info *out,
			    int64_t *version)
{
	struct policy pol;
	int64_t id = 0, ver = 0;
	size_t plen;
	int r;

	memset(out, 0, sizeof(*out));
	r = store_ckpt_lookup(c->st, name, out);
	if (r == 0) {
		if (version)
			*version = out->committed_version ? out->committed_version : out->version;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	r = store_policy_get(c->st, &pol);
	if (r < 0)
		return r;
	plen = strlen(pol.best_prefix);
	r = -ENOENT;
	if (pol.latest_name[0] && strcmp(name, pol.latest_name) == 0)
		r = store_resolve_latest(c->st, &id, &ver);
	else if (plen && strncmp(name, pol.best_prefix, plen) == 0 && meta_name_usable(name + plen))
		r = store_resolve_best(c->st, name + plen, 0, &id, &ver);
	if (r == 0) {
		r = store_ckpt_get(c->st, id, out);
		if (r == 0 && version)
			*version = ver;
		return r;
	}
	if (r != -ENOENT)
		return r;
	if (flags & RESOLVE_ABORTED) {
		r = store_ckpt_lookup_aborted(c->st, name, out);
		if (r == 0) {
			if (version)
				*version = out->version;
			return 0;
		}
		if (r != -ENOENT)
			return r;
	}
	if (flags & (RESOLVE_DELETED | RESOLVE_TRASHED)) {
		r = store_trash_lookup(c->st, name, out); /* NAME, NAME~2 in the trash */
		if (r != -ENOENT) {
			if (r == 0 && version)
				*version = out->committed_version;
			return r;
		}
	}
	if (flags & RESOLVE_DELETED) {
		struct ckpt_info *all = NULL;
		size_t n = 0;
		int64_t best_id = 0, best_end = -1;

		r = store_ckpt_list(c->st, STORE_LIST_ALL | STORE_LIST_NO_METRICS, &all, &n);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (all[i].state == CKPT_DELETED && all[i].name &&
			    strcmp(all[i].name, name) == 0 && all[i].ended_at >= best_end) {
				best_end = all[i].ended_at;
				best_id = all[i].id;
			}
		ckpt_info_free_array(all, n);
		if (best_id) {
			r = store_ckpt_get(c->st, best_id, out);
			if (r == 0 && version)
				*version = out->version;
			return r;
		}
	}
	return -ENOENT;
}

/* cli_resolve_info with logical_bytes filled for staging and aborted ones. */
int cli_resolve(struct cli *c, const char *name, int flags, struct ckpt_info *out, int64_t *version)
{
	int r = cli_resolve_info(c, name, flags, out, version);

	if (r == 0 && (r = store_ckpt_logical_bytes(c->st, out)) < 0)
		ckpt_info_release(out);
	return r;
}

/* Reports a resolution failure; returns the exit code. */
int resolve_fail(const struct cli *c, const char *name, int r)
{
	if (r == -ENOENT) {
		cli_err(c, name, "no such checkpoint");
		return CLI_NOCKPT;
	}
	cli_err(c, name, "%s", strerror(-r));
	return CLI_FAIL;
}

/* ---- ls -------------------------------------------------------------------- */

/* Listed checkpoints that a mount recorded as written by a process it could
 * not see (event "invisible": a daemon in another PID namespace) get one
 * warning on stderr: a killed writer among them went unnoticed. */
static void ls_warn_invisible(struct cli *c, const struct ckpt_info *list, size_t n)
{
	struct store_event *ev = NULL;
	size_t nev = 0, hit = 0;

	if (store_events(c->st, &ev, &nev) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (list[i].state != CKPT_STAGING && list[i].state != CKPT_COMMITTED)
			continue;
		for (size_t e = 0; e < nev; e++)
			if (strcmp(ev[e].event, "invisible") == 0 && ev[e].name &&
			    strcmp(ev[e].name, list[i].name) == 0 &&
			    ev[e].time >= list[i].created_at) {
				hit++;
				break;
			}
	}
	store_events_free(ev, nev);
	if (hit)
		fprintf(stderr,
			"ckpt: warning: %zu checkpoint(s) listed were written by processes not visible "
			"to the mount (FUSE pid 0: the daemon runs in another PID namespace, e.g. a sidecar); "
			"a killed writer among them is not detected: mount with -o commit=rename or "
			"-o commit_marker=GLOB\n",
			hit);
}

static int cmd_ls(struct cli *c)
{
	struct ckpt_info *list = NULL;
	uint64_t *uniq = NULL;
	size_t n = 0;
	int64_t latest = 0, lver;
	int rc = CLI_OK, r;

	if ((rc = cli_open(c, false)) != CLI_OK)
		return rc;
	r = store_ckpt_list(c->st, (c->all ? STORE_LIST_ALL : 0) | STORE_LIST_SIZES, &list, &n);
	if (r < 0) {
		cli_err(c, NULL, "listing checkpoints: %s", strerror(-r));
		return CLI_FAIL;
	}
	ls_warn_invisible(c, list, n);
	uniq = calloc(n ? n : 1, sizeof(*uniq));
	for (size_t i = 0; uniq && r == 0 && i < n; i++)
		r = store_ckpt_unique_bytes(c->st, &list[i], &uniq[i]);
	if (!uniq || r < 0) {
		cli_err(c, NULL, "unique bytes: %s", strerror(uniq ? -r : ENOMEM));
		rc = CLI_FAIL;
		goto out_free_list;
	}
	if (c->json) {
		json_t *arr = json_array();

		for (size_t i = 0; arr && i < n; i++)
			if (json_array_append_new(arr, ckpt_json_u(&list[i], uniq[i])) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		rc = json_print(c, arr);
		goto out_free_list;
	}
	if (store_resolve_latest(c->st, &latest, &lver) < 0)
		latest = 0;
	{
		struct table t = { .ncol = 9, .align = "lrrlrrrll" };

		r = table_add(&t, "NAME", "STEP", "EPOCH", "COMMITTED", "LOGICAL", "STORED",
			      "UNIQUE", "METRICS", "STATE");
		for (size_t i = 0; r == 0 && i < n; i++) {
			const struct ckpt_info *ci = &list[i];
			char step[32] = "-", epoch[32] = "-", when[64], lb[32], sb[32], ub[32];
			char state[64];
			char *metrics = metrics_text(ci, false);

			if (ci->has_step)
				snprintf(step, sizeof(step), "%lld", (long long)ci->step);
			if (ci->has_epoch)
				snprintf(epoch, sizeof(epoch), "%g", ci->epoch);
			fmt_time(ci->committed_at, false, when, sizeof(when));
			fmt_size(ci->logical_bytes, lb, sizeof(lb));
			fmt_size(ci->stored_bytes, sb, sizeof(sb));
			fmt_size(uniq[i], ub, sizeof(ub));
			snprintf(state, sizeof(state), "%s%s%s%s", store_ckpt_state_name(ci->state),
				 ci->pinned ? ",pinned" : "", ci->withdrawn ? ",withdrawn" : "",
				 ci->id == latest && ci->state == CKPT_COMMITTED ? ",latest" : "");
			r = metrics ? table_add(&t, ci->name, step, epoch, when, lb, sb, ub,
						metrics[0] ? metrics : "-", state)
				    : -ENOMEM;
			free(metrics);
		}
		if (r == 0) {
			table_print(&t, stdout);
		} else {
			cli_err(c, NULL, "%s", strerror(-r));
			rc = CLI_FAIL;
		}
		table_release(&t);
	}

out_free_list:
	free(uniq);
	ckpt_info_free_array(list, n);
	return rc;
}

/* ---- show ------------------------------------------------------------------ */

static int cmd_show(struct cli *c)
{
	struct ckpt_info ci;
	struct store_file_entry *files = NULL;
	size_t nf = 0;
	const char *name = c->args[0];
	int rc, r;

	if ((rc = cli_open(c, false)) != CLI_OK)
		return rc;
	r = cli_resolve(c, name, RESOLVE_ABORTED | RESOLVE_DELETED, &ci, NULL);
	if (r < 0)
		return resolve_fail(c, name, r);
	r = store_ckpt_files(c->st, ci.id, &files, &nf);
	if (r < 0) {
		/* A deleted checkpoint's tree may be gone already. */
		if (ci.state != CKPT_DELETED || r != -ENOENT) {
			cli_err(c, name, "listing files: %s", strerror(-r));
			rc = CLI_FAIL;
			goto out_release;
		}
		files = NULL;
		nf = 0;
	}
	if (c->json) {
		json_t *o = ckpt_json(&ci), *fa = json_array(), *src = json_object();
		bool bad = !o || !fa || !src;

		for (size_t i = 0; !bad && i < nf; i++) {
			json_t *f = json_object();

			if (!f) {
				bad = true;
				break;
			}
			jset(f, "path", json_string(files[i].path), &bad);
			jset(f, "size", json_integer((json_int_t)files[i].size), &bad);
			if (json_array_append_new(fa, f) != 0)
				bad = true;
		}
		for (size_t i = 0; !bad && i < ci.n_metrics; i++)
			jset(src, ci.metrics[i].name, json_string(ci.metrics[i].source), &bad);
		if (!bad) {
			jset(o, "files", fa, &bad);
			fa = NULL;
			jset(o, "metric_sources", src, &bad);
			src = NULL;
			jset(o, "note", jstr_or_null(ci.note), &bad);
			if (ci.state == CKPT_DELETED)
				jset(o, "deleted_rule", jstr_or_null(ci.deleted_rule), &bad);
		}
		json_decref(fa);
		json_decref(src);
		if (bad) {
			json_decref(o);
			o = NULL;
		}
		rc = json_print(c, o);
	} else {
		char when[64], lb[32], sb[32], step[32] = "-", epoch[32] = "-";
		char *metrics = metrics_text(&ci, true);

		if (ci.has_step)
			snprintf(step, sizeof(step), "%lld", (long long)ci.step);
		if (ci.has_epoch)
			snprintf(epoch, sizeof(epoch), "%g", ci.epoch);
		fmt_time(ci.committed_at, false, when, sizeof(when));
		fmt_size(ci.logical_bytes, lb, sizeof(lb));
		fmt_size(ci.stored_bytes, sb, sizeof(sb));
		printf("name:       %s\n", ci.name);
		if (strcmp(ci.name, name) != 0)
			printf("resolved:   %s -> %s\n", name, ci.name);
		printf("kind:       %s\n", kind_name(ci.kind));
		printf("state:      %s%s%s\n", store_ckpt_state_name(ci.state),
		       ci.pinned ? " (pinned)" : "",
		       ci.withdrawn ? " (withdrawn: never latest/best)" : "");
		printf("step:       %s\n", step);
		printf("epoch:      %s\n", epoch);
		printf("committed:  %s\n", when);
		printf("logical:    %s (%llu bytes)\n", lb, (unsigned long long)ci.logical_bytes);
		printf("stored:     %s (%llu bytes)\n", sb, (unsigned long long)ci.stored_bytes);
		printf("metrics:    %s\n", metrics && metrics[0] ? metrics : "-");
		if (ci.state == CKPT_DELETED && ci.deleted_rule)
			printf("deleted by: %s\n", ci.deleted_rule);
		if (ci.note && ci.note[0])
			printf("note:       %s\n", ci.note);
		printf("files:      %zu\n", nf);
		for (size_t i = 0; i < nf; i++)
			printf("  %12llu  %s\n", (unsigned long long)files[i].size, files[i].path);
		free(metrics);
	}
	store_file_entries_free(files, nf);
out_release:
	ckpt_info_release(&ci);
	return rc;
}

/* ---- policy ---------------------------------------------------------------- */

static json_t *policy_json(const struct policy *p)
{
	json_t *o = json_object(), *m = json_array();
	bool bad = !o || !m;

	for (size_t i = 0; !bad && i < p->n_metrics; i++) {
		char buf[META_NAME_MAX + 8];

		snprintf(buf, sizeof(buf), "%s:%s", p->metrics[i].name,
			 p->metrics[i].dir < 0 ? "min" : "max");
		if (json_array_append_new(m, json_string(buf)) != 0)
			bad = true;
	}
	if (bad)
		goto out_fail;
	jset(o, "keep_last", json_integer(p->keep_last), &bad);
	jset(o, "keep_best", json_integer(p->keep_best), &bad);
	jset(o, "keep_every", json_integer((json_int_t)p->keep_every), &bad);
	jset(o, "metric", m, &bad);
	m = NULL;
	jset(o, "compress", json_string(codec_name(p->compress)), &bad);
	jset(o, "settle_ms", json_integer(p->settle_ms), &bad);
	jset(o, "hide_virtual", json_boolean(p->hide_virtual), &bad);
	jset(o, "latest_name", json_string(p->latest_name), &bad);
	jset(o, "best_prefix", json_string(p->best_prefix), &bad);
	jset(o, "plain", json_string(p->plain), &bad);
	if (bad)
		goto out_fail;
	return o;

out_fail:
	json_decref(m);
	json_decref(o);
	return NULL;
}

static int policy_print(struct cli *c, const struct policy *p)
{
	char *text = NULL;
	int r;

	if (c->json)
		return json_print(c, policy_json(p));
	r = policy_to_text(p, &text);
	if (r < 0) {
		cli_err(c, NULL, "formatting policy: %s", strerror(-r));
		return CLI_FAIL;
	}
	fputs(text, stdout);
	if (text[0] && text[strlen(text) - 1] != '\n')
		fputc('\n', stdout);
	free(text);
	return CLI_OK;
}

/* Splits the option words on ',' (the mount's -o syntax) into words. */
static int policy_words(char **args, size_t n, char ***out, size_t *nw)
{
	char **w = NULL;
	size_t cnt = 0, cap = 0;

	for (size_t i = 0; i < n; i++) {
		char *save = NULL, *dup = strdup(args[i]), *tok;

		if (!dup)
			goto out_free;
		/* "metric=" alone must survive as one (empty-valued) word. */
		for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			/* A piece without '=' continues the previous value
			 * ("metric=loss:min,acc:max", as `ckpt policy` prints it)
			 * unless it is a flag word. */
			if (!strchr(tok, '=') && cnt > 0 && strcmp(tok, "hide_virtual") != 0) {
				size_t l = strlen(w[cnt - 1]);
				char *joined = realloc(w[cnt - 1], l + strlen(tok) + 2);

				if (!joined) {
					free(dup);
					goto out_free;
				}
				joined[l] = ',';
				strcpy(joined + l + 1, tok);
				w[cnt - 1] = joined;
				continue;
			}
			if (cnt == cap) {
				size_t nc = cap ? cap * 2 : 8;
				char **nw2 = cnt >= CLI_MAX_ARGS ? NULL
								 : realloc(w, nc * sizeof(*w));

				if (!nw2) {
					free(dup);
					goto out_free;
				}
				w = nw2;
				cap = nc;
			}
			w[cnt] = strdup(tok);
			if (!w[cnt]) {
				free(dup);
				goto out_free;
			}
			cnt++;
		}
		free(dup);
	}
	*out = w;
	*nw = cnt;
	return 0;

out_free:
	for (size_t i = 0; i < cnt; i++)
		free(w[i]);
	free(w);
	return -ENOMEM;
}

static void follow_mount(struct cli *c);

static int cmd_policy(struct cli *c)
{
	struct policy p;
	char **words = NULL, why[256] = "";
	size_t nw = 0;
	int rc, r;

	/* `ckpt policy set STORE OPTION...` and `ckpt policy STORE set OPTION...`
	 * both mean `ckpt policy STORE OPTION...`. */
	if (strcmp(c->store_path, "set") == 0 && c->n_args >= 1 && !strchr(c->args[0], '=')) {
		c->store_path = c->args[0];
		c->args++;
		c->n_args--;
		if (!c->mount_store)
			follow_mount(c); /* main followed "set" */
		if (c->n_args == 0) {
			cli_err(c, "set", "needs OPTION=VALUE... (see ckpt policy --help)");
			return CLI_USAGE;
		}
	} else if (c->n_args >= 1 && strcmp(c->args[0], "set") == 0) {
		c->args++;
		c->n_args--;
		if (c->n_args == 0) {
			cli_err(c, "set", "needs OPTION=VALUE... (see ckpt policy --help)");
			return CLI_USAGE;
		}
	}
	if ((rc = cli_open(c, c->n_args > 0)) != CLI_OK)
		return rc;
	r = store_policy_get(c->st, &p);
	if (r < 0) {
		cli_err(c, NULL, "reading policy: %s", strerror(-r));
		return CLI_FAIL;
	}
	if (c->n_args == 0)
		return policy_print(c, &p);

	if (policy_words(c->args, c->n_args, &words, &nw) < 0) {
		cli_err(c, NULL, "%s", strerror(ENOMEM));
		return CLI_FAIL;
	}
	r = policy_apply_words(&p, words, nw, why, sizeof(why));
	if (r == 0)
		r = policy_check_names(&p, why, sizeof(why));
	if (r == -ENOENT || r == -EINVAL) {
		cli_err(c, "option", "%s",
			why[0]		       ? why
				: r == -ENOENT ? "unknown option"
					       : "bad value");
		rc = CLI_USAGE;
		goto out_free_words;
	}
	if (r < 0) {
		cli_err(c, NULL, "applying options: %s", strerror(-r));
		rc = CLI_FAIL;
		goto out_free_words;
	}
	r = store_policy_set(c->st, &p);
	if (r < 0) {
		cli_err(c, NULL, "storing policy: %s", strerror(-r));
		rc = CLI_FAIL;
		goto out_free_words;
	}
	if (c->shared && !c->json)
		fprintf(stderr,
			"ckpt: policy: the running mount applies it from its next commit\n");
	rc = policy_print(c, &p);

out_free_words:
	for (size_t i = 0; i < nw; i++)
		free(words[i]);
	free(words);
	return rc;
}

/* ---- gc -------------------------------------------------------------------- */

static int gc_row(json_t *arr, struct table *t, const char *name, bool keep, const char *rule,
		  const char *state)
{
	if (arr) {
		json_t *o = json_object();
		bool bad = !o;

		if (o) {
			jset(o, "name", json_string(name), &bad);
			jset(o, "action", json_string(keep ? "keep" : "delete"), &bad);
			jset(o, "rule", json_string(rule), &bad);
			jset(o, "state", json_string(state), &bad);
		}
		if (bad || json_array_append_new(arr, o) != 0)
			return -ENOMEM;
		return 0;
	}
	return table_add(t, name, keep ? "keep" : "delete", state, rule);
}

#define GC_ABORTED_RULE "aborted: gc removes aborted checkpoints"

/* Dry run: the retention plan over every committed checkpoint, plus the
 * aborted checkpoints gc purges, so it lists exactly what gc deletes. */
/* What `ckpt gc` planned, did, and lists besides (aborted checkpoints). */
struct gc_run {
	struct retain_row *plan, *del;
	size_t np, nd, na;
	struct ckpt_info *all;
	uint64_t freed, would; /* would: the dry run's store_gc_would_free */
	int would_r;
};

/* A real run: retention, then gc; g->freed counts what left the disk. */
static int gc_apply(struct cli *c, struct gc_run *g)
{
	struct store_stats before, after;
	bool have_before = store_stats(c->st, &before) == 0;
	int r = store_retain_run(c->st, &g->del, &g->nd);

	if (r < 0) {
		cli_err(c, NULL, "applying retention: %s", strerror(-r));
		return CLI_FAIL;
	}
	r = store_gc(c->st, true, &g->freed);
	if (r < 0) {
		cli_err(c, NULL, "collecting garbage: %s", strerror(-r));
		return CLI_FAIL;
	}
	/* Retention may reclaim on its own: count what left the disk. */
	if (have_before && store_stats(c->st, &after) == 0 &&
	    before.stored_bytes > after.stored_bytes &&
	    before.stored_bytes - after.stored_bytes > g->freed)
		g->freed = before.stored_bytes - after.stored_bytes;
	return CLI_OK;
}

/* One row per planned checkpoint (a real run reports what it did), per
 * checkpoint the run deleted that the plan did not know, and per aborted
 * checkpoint. 0 or -errno. */
static int gc_rows(struct cli *c, const struct gc_run *g, json_t *arr, struct table *t)
{
	int r = c->json ? 0 : table_add(t, "NAME", "ACTION", "STATE", "RULE");

	for (size_t i = 0; r >= 0 && i < g->np; i++) {
		bool keep = g->plan[i].keep;
		const char *rule = g->plan[i].rule;

		/* A real run reports what it did: the run's own decisions win over
		 * the plan taken just before it. */
		if (!c->dry_run) {
			keep = true;
			for (size_t j = 0; j < g->nd; j++)
				if (g->del[j].id == g->plan[i].id) {
					keep = false;
					rule = g->del[j].rule;
				}
		}
		r = gc_row(arr, t, g->plan[i].name, keep, rule, "committed");
	}
	/* Deleted by the run but not in the plan (a mount committed meanwhile). */
	for (size_t j = 0; r >= 0 && j < g->nd; j++) {
		bool planned = false;

		for (size_t i = 0; i < g->np; i++)
			planned |= g->plan[i].id == g->del[j].id;
		if (!planned)
			r = gc_row(arr, t, g->del[j].name, false, g->del[j].rule, "committed");
	}
	for (size_t i = 0; r >= 0 && i < g->na; i++)
		if (g->all[i].state == CKPT_ABORTED)
			r = gc_row(arr, t, g->all[i].name, false, GC_ABORTED_RULE, "aborted");
	return r;
}

/* The text summary under the table. */
static void gc_summary(struct cli *c, const struct gc_run *g)
{
	size_t ndel = 0, nab = 0;
	char fb[32];

	for (size_t i = 0; i < g->na; i++)
		nab += g->all[i].state == CKPT_ABORTED;
	if (c->dry_run) {
		for (size_t i = 0; i < g->np; i++)
			ndel += !g->plan[i].keep;
		printf("dry run: gc would delete %zu committed and %zu aborted checkpoint(s)\n",
		       ndel, nab);
		if (g->would_r == 0) {
			fmt_size(g->would, fb, sizeof(fb));
			printf("dry run: gc would free %s (%llu bytes)\n", fb,
			       (unsigned long long)g->would);
		}
		return;
	}
	fmt_size(g->freed, fb, sizeof(fb));
	printf("deleted %zu committed and %zu aborted checkpoint(s); freed %s (%llu bytes)\n",
	       g->nd, nab, fb, (unsigned long long)g->freed);
	if (c->shared)
		printf("the store is mounted: space reclamation was left to the mount\n");
}

static int cmd_gc(struct cli *c)
{
	struct gc_run g = { 0 };
	struct table t = { .ncol = 4, .align = "llll" };
	json_t *arr = NULL;
	int rc, r;

	if ((rc = cli_open(c, !c->dry_run)) != CLI_OK)
		return rc;
	r = store_retain_plan(c->st, &g.plan, &g.np);
	if (r < 0) {
		cli_err(c, NULL, "planning retention: %s", strerror(-r));
		return CLI_FAIL;
	}
	r = store_ckpt_list(c->st, STORE_LIST_ALL | STORE_LIST_NO_METRICS, &g.all, &g.na);
	if (r < 0) {
		cli_err(c, NULL, "listing checkpoints: %s", strerror(-r));
		rc = CLI_FAIL;
		goto out_free;
	}
	if (c->dry_run)
		g.would_r = store_gc_would_free(c->st, &g.would);
	if (!c->dry_run && (rc = gc_apply(c, &g)) != CLI_OK)
		goto out_free;
	if (c->json && !(arr = json_array())) {
		rc = CLI_FAIL;
		cli_err(c, NULL, "%s", strerror(ENOMEM));
		goto out_free;
	}
	r = gc_rows(c, &g, arr, &t);
	if (r < 0) {
		cli_err(c, NULL, "%s", strerror(-r));
		rc = CLI_FAIL;
		goto out_free;
	}
	if (c->json) {
		rc = json_print(c, arr);
		arr = NULL;
	} else {
		table_print(&t, stdout);
		gc_summary(c, &g);
	}

out_free:
	json_decref(arr);
	table_release(&t);
	ckpt_info_free_array(g.all, g.na);
	retain_rows_free(g.plan, g.np);
	retain_rows_free(g.del, g.nd);
	return rc;
}

/* ---- verify ---------------------------------------------------------------- */

struct verify_ctx {
	json_t *problems; /* --json: collected */
	json_t *notes;
	bool tty;
	bool progress_shown;
	struct timespec last;
	size_t n;
};

static void verify_report(void *ctx, const char *problem)
{
	struct verify_ctx *v = ctx;

	v->n++;
	if (v->progress_shown) {
		fputs("\r\033[K", stderr); /* clear the progress line first */
		v->progress_shown = false;
	}
	if (v->problems) {
		json_array_append_new(v->problems, json_string(problem));
		return;
	}
	printf("%s\n", problem);
	fflush(stdout);
}

static void verify_note(void *ctx, const char *line)
{
	struct verify_ctx *v = ctx;

	if (v->notes)
		json_array_append_new(v->notes, json_string(line));
	else if (!v->problems)
		printf("note: %s\n", line);
}

static void verify_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct verify_ctx *v = ctx;
	struct timespec now;

	if (!v->tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (done < total &&
	    (now.tv_sec - v->last.tv_sec) * 1000000000L + (now.tv_nsec - v->last.tv_nsec) <
		    100000000L)
		return; /* at most ten updates a second */
	v->last = now;
	fprintf(stderr, "\rverify: %llu/%llu", (unsigned long long)done, (unsigned long long)total);
	v->progress_shown = true;
}

static int cmd_verify(struct cli *c)
{
	struct verify_ctx v = { 0 };
	struct store_verify_opts o = { verify_report, verify_note, verify_progress, &v };
	int rc, r;

	/* the index, when it may be written, records damaged chunks so the
	 * next save of their bytes heals them */
	if ((rc = cli_open(c, OPEN_INDEX)) != CLI_OK)
		return rc;
	v.tty = isatty(STDERR_FILENO);
	if (c->json && (!(v.problems = json_array()) || !(v.notes = json_array()))) {
		json_decref(v.problems);
		cli_err(c, NULL, "%s", strerror(ENOMEM));
		return CLI_FAIL;
	}
	r = store_verify_ex(c->st, &o);
	if (v.progress_shown)
		fputs("\r\033[K", stderr);
	if (r < 0) {
		json_decref(v.problems);
		json_decref(v.notes);
		cli_err(c, NULL, "verifying: %s", strerror(-r));
		return CLI_FAIL;
	}
	if (c->json) {
		json_t *o = json_object();
		bool bad = !o;

		if (o) {
			jset(o, "ok", json_boolean(r == 0), &bad);
			jset(o, "problems", v.problems, &bad);
			jset(o, "notes", v.notes, &bad);
			v.problems = v.notes = NULL;
		}
		json_decref(v.problems);
		json_decref(v.notes);
		if (bad) {
			json_decref(o);
			o = NULL;
		}
		rc = json_print(c, o);
		if (rc != CLI_OK)
			return rc;
	} else if (r == 0) {
		printf("ok: no problems found\n");
	} else {
		printf("%d problem(s) found\n", r);
		if (c->repair)
			printf("damaged chunks are marked: saving the same bytes again (copy the file into"
			       " the mount again) rewrites each one and heals every checkpoint named\n");
	}
	return r == 0 ? CLI_OK : CLI_FAIL;
}

/* ---- stats ----------------------------------------------------------------- */

static int cmd_stats(struct cli *c)
{
	struct store_stats s;
	uint64_t recl = 0, gcf = 0;
	int rc, r;

	if ((rc = cli_open(c, false)) != CLI_OK)
		return rc;
	r = store_stats(c->st, &s);
	if (r == 0)
		r = store_reclaimable(c->st, &recl);
	if (r == 0)
		r = store_gc_would_free(c->st, &gcf);
	if (r < 0) {
		cli_err(c, NULL, "reading stats: %s", strerror(-r));
		return CLI_FAIL;
	}
	if (c->json) {
		json_t *o = json_object();
		bool bad = !o;

		if (o) {
			jset(o, "checkpoints", json_integer((json_int_t)s.checkpoints), &bad);
			jset(o, "logical_bytes", json_integer((json_int_t)s.logical_bytes), &bad);
			jset(o, "stored_bytes", json_integer((json_int_t)s.stored_bytes), &bad);
			jset(o, "chunks", json_integer((json_int_t)s.chunks), &bad);
			jset(o, "dedup_ratio", jreal(s.dedup_ratio), &bad);
			jset(o, "compression_ratio", jreal(s.compression_ratio), &bad);
			jset(o, "raw_bytes", json_integer((json_int_t)s.raw_bytes), &bad);
			jset(o, "staging", json_integer((json_int_t)s.staging), &bad);
			jset(o, "aborted", json_integer((json_int_t)s.aborted), &bad);
			jset(o, "deleted", json_integer((json_int_t)s.deleted), &bad);
			jset(o, "trashed", json_integer((json_int_t)s.trashed), &bad);
			jset(o, "reclaimable_bytes", json_integer((json_int_t)recl), &bad);
			jset(o, "gc_would_free_bytes", json_integer((json_int_t)gcf), &bad);
		}
		if (bad) {
			json_decref(o);
			o = NULL;
		}
		return json_print(c, o);
	}
	{
		char lb[32], sb[32], rb[32];

		fmt_size(s.logical_bytes, lb, sizeof(lb));
		fmt_size(s.stored_bytes, sb, sizeof(sb));
		fmt_size(s.raw_bytes, rb, sizeof(rb));
		printf("checkpoints:       %llu committed, %llu staging, %llu aborted, %llu deleted\n",
		       (unsigned long long)s.checkpoints, (unsigned long long)s.staging,
		       (unsigned long long)s.aborted, (unsigned long long)s.deleted);
		printf("logical bytes:     %s (%llu)\n", lb, (unsigned long long)s.logical_bytes);
		printf("stored bytes:      %s (%llu)\n", sb, (unsigned long long)s.stored_bytes);
		printf("raw chunk bytes:   %s (%llu)\n", rb, (unsigned long long)s.raw_bytes);
		printf("chunks:            %llu\n", (unsigned long long)s.chunks);
		printf("dedup ratio:       %.2f\n", s.dedup_ratio);
		printf("compression ratio: %.2f\n", s.compression_ratio);
		fmt_size(recl, rb, sizeof(rb));
		printf("reclaimable bytes: %s (%llu; trash, aborted, unreferenced)\n", rb,
		       (unsigned long long)recl);
		printf("trashed:           %llu\n", (unsigned long long)s.trashed);
	}
	return CLI_OK;
}

/* ---- export ---------------------------------------------------------------- */

struct export_ctx {
	struct store *st;
	char *buf;
	char failed[PATH_MAX]; /* path inside the checkpoint where it failed */
	uint64_t files, bytes;
};

static void export_fail_at(struct export_ctx *x, int64_t node)
{
	char *p = NULL;

	if (x->failed[0])
		return;
	if (store_node_path(x->st, node, &p) == 0) {
		snprintf(x->failed, sizeof(x->failed), "%s", p[0] ? p : ".");
		free(p);
	} else {
		snprintf(x->failed, sizeof(x->failed), "node %lld", (long long)node);
	}
}

static void node_times(const struct store_node *n, struct timespec ts[2])
{
	ts[0].tv_sec = n->mtime_ns / 1000000000LL;
	ts[0].tv_nsec = n->mtime_ns % 1000000000LL;
	if (ts[0].tv_nsec < 0) {
		ts[0].tv_sec--;
		ts[0].tv_nsec += 1000000000LL;
	}
	ts[1] = ts[0];
}

static int export_file(struct export_ctx *x, const struct store_node *n, int dirfd,
		       const char *name)
{
	struct store_file *f = NULL;
	struct timespec ts[2];
	uint64_t off = 0;
	int fd, r = 0;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = store_file_open(x->st, n->id, STORE_F_READ, &f);
	if (r < 0)
		goto out_close_fd;
	for (;;) {
		ssize_t got = store_file_read(f, x->buf, EXPORT_BUF, off);

		if (got < 0) {
			r = (int)got;
			goto out_close_file;
		}
		if (got == 0)
			break;
		for (ssize_t done = 0; done < got;) {
			ssize_t w = write(fd, x->buf + done, (size_t)(got - done));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				r = -errno;
				goto out_close_file;
			}
			done += w;
		}
		off += (uint64_t)got;
	}
	if (off != n->size) {
		r = -EIO; /* the index and the data disagree: never a short copy */
		goto out_close_file;
	}
	node_times(n, ts);
	if (fchmod(fd, n->mode & 07777) < 0 || fsync(fd) < 0 || futimens(fd, ts) < 0)
		r = -errno;
	x->files++;
	x->bytes += off;
out_close_file:
	store_file_close(f);
out_close_fd:
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		export_fail_at(x, n->id);
	return r;
}

/* A file or a symlink (anything but a directory) as dirfd/name. */
static int export_leaf(struct export_ctx *x, const struct store_node *n, int dirfd,
		       const char *name)
{
	char target[PATH_MAX];
	struct timespec ts[2];
	int r;

	switch (n->mode & S_IFMT) {
	case S_IFREG:
		return export_file(x, n, dirfd, name);
	case S_IFLNK:
		memset(target, 0, sizeof(target));
		r = store_node_readlink(x->st, n->id, target, sizeof(target) - 1);
		if (r < 0) {
			export_fail_at(x, n->id);
			return r;
		}
		if (symlinkat(target, dirfd, name) < 0) {
			export_fail_at(x, n->id);
			return -errno;
		}
		node_times(n, ts);
		/* Some file systems refuse symlink times: the link itself is what counts. */
		(void)utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	export_fail_at(x, n->id);
	return -EOPNOTSUPP;
}

/* One directory of an export in progress: its node, entries, the next one. */
struct export_frame {
	struct store_node n;
	struct store_dirent *ents;
	size_t ne, next;
};

struct export_stack {
	struct export_frame *f; /* f[0] is the top directory */
	size_t depth, cap;
};

/* Makes dirfd/name for directory node n, opens it (*fd) and pushes its frame. */
static int export_push(struct export_ctx *x, struct export_stack *s, const struct store_node *n,
		       int dirfd, const char *name, int *fd)
{
	struct export_frame *f;
	int r;

	*fd = -1;
	if (s->depth >= STORE_DEPTH_MAX) {
		r = -ELOOP;
		goto out_fail;
	}
	if (s->depth == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;

		f = realloc(s->f, ncap * sizeof(*f));
		if (!f) {
			r = -ENOMEM;
			goto out_fail;
		}
		s->f = f;
		s->cap = ncap;
	}
	if (mkdirat(dirfd, name, 0700) < 0) {
		r = -errno;
		goto out_fail;
	}
	*fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0) {
		r = -errno;
		goto out_fail;
	}
	f = &s->f[s->depth];
	*f = (struct export_frame){ .n = *n };
	r = store_node_list(x->st, n->id, &f->ents, &f->ne);
	if (r < 0) {
		close(*fd);
		*fd = -1;
		goto out_fail;
	}
	s->depth++;
	return 0;
out_fail:
	export_fail_at(x, n->id);
	return r;
}

/* Finishes the top frame's directory (open as fd) and pops it; *fd becomes
 * its parent, reached through "..", or -1 for the top directory. Mode and
 * times last: a read-only mode must not block the children, and creating
 * them would change the mtime. */
static int export_pop(struct export_ctx *x, struct export_stack *s, int *fd)
{
	struct export_frame *f = &s->f[s->depth - 1];
	struct timespec ts[2];
	int up = -1, r = 0;

	if (s->depth > 1 && (up = openat(*fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = -errno;
	node_times(&f->n, ts);
	if (r == 0 &&
	    (fchmod(*fd, f->n.mode & 07777) < 0 || futimens(*fd, ts) < 0 || fsync(*fd) < 0))
		r = -errno;
	if (r < 0)
		export_fail_at(x, f->n.id);
	close(*fd);
	*fd = up;
	store_dirents_free(f->ents, f->ne);
	s->depth--;
	return r;
}

/* Exports directory node top as dirfd/name without recursion: one directory
 * open at a time (going back up through "..", inside the temporary tree this
 * process made), frames on the heap, so nesting as deep as the store keeps
 * (STORE_DEPTH_MAX) costs neither stack nor file descriptors. */
static int export_tree(struct export_ctx *x, const struct store_node *top, int dirfd,
		       const char *name)
{
	struct export_stack s = { 0 };
	int fd, r = export_push(x, &s, top, dirfd, name, &fd);

	while (r == 0 && s.depth > 0) {
		struct export_frame *f = &s.f[s.depth - 1];
		struct store_node child;
		const char *cn;
		int cfd;

		if (f->next == f->ne) {
			r = export_pop(x, &s, &fd);
			continue;
		}
		cn = f->ents[f->next].name;
		/* Names come from the index: never let one step outside DEST. */
		if (!cn || !cn[0] || strchr(cn, '/') || strcmp(cn, ".") == 0 ||
		    strcmp(cn, "..") == 0) {
			export_fail_at(x, f->n.id);
			r = -EINVAL;
			break;
		}
		r = store_node_get(x->st, f->ents[f->next++].id, &child);
		if (r < 0) {
			export_fail_at(x, f->ents[f->next - 1].id);
			break;
		}
		if (!S_ISDIR(child.mode)) {
			r = export_leaf(x, &child, fd, cn);
			continue;
		}
		r = export_push(x, &s, &child, fd, cn, &cfd);
		if (r == 0) {
			close(fd);
			fd = cfd;
		}
	}
	if (fd >= 0)
		close(fd);
	while (s.depth > 0) {
		s.depth--;
		store_dirents_free(s.f[s.depth].ents, s.f[s.depth].ne);
	}
	free(s.f);
	return r;
}

/* Opens directory dirfd/name for removal (made writable: an exported
 * read-only directory). */
static int remove_open(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		(void)fchmod(fd, 0700);
	return fd;
}

/* Unlinks every non-directory in fd; *sub receives the name of one
 * subdirectory (malloc'd), or NULL when there is none. */
static int remove_files(int fd, char **sub)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	struct stat sb;

	*sub = NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		bool dir = de->d_type == DT_DIR;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_UNKNOWN)
			dir = fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
				S_ISDIR(sb.st_mode);
		if (!dir)
			unlinkat(fd, de->d_name, 0);
		else if (!*sub)
			*sub = strdup(de->d_name);
	}
	closedir(d);
	return 0;
}

/* Removes what a failed export left under pfd/name (best effort), without
 * recursion: one directory open at a time, the names on the way down on the
 * heap; it stops at anything it cannot remove. */
static void remove_tree(int pfd, const char *name)
{
	char **names = NULL, *sub;
	size_t depth = 0;
	struct stat sb;
	int fd;

	if (fstatat(pfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlinkat(pfd, name, 0);
		return;
	}
	names = calloc(STORE_DEPTH_MAX, sizeof(*names));
	fd = names ? remove_open(pfd, name) : -1;
	while (fd >= 0 && remove_files(fd, &sub) == 0) {
		if (sub) {
			int nfd = depth < STORE_DEPTH_MAX ? remove_open(fd, sub) : -1;

			if (nfd < 0) {
				free(sub);
				break;
			}
			names[depth++] = sub;
			close(fd);
			fd = nfd;
			continue;
		}
		if (depth == 0) {
			close(fd);
			fd = -1;
			unlinkat(pfd, name, AT_REMOVEDIR);
			break;
		}
		int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		close(fd);
		fd = up;
		depth--;
		if (fd >= 0 && unlinkat(fd, names[depth], AT_REMOVEDIR) < 0)
			break; /* it would be found again: stop */
		free(names[depth]);
		names[depth] = NULL;
	}
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; names && i < STORE_DEPTH_MAX; i++)
		free(names[i]);
	free(names);
}

/* DEST without trailing slashes (*dest, malloc'd), split into the
 * directory it goes in (*parent) and its name there (*base, inside *dest).
 * Refuses an existing path and names that cannot carry the temporary
 * suffix. CLI_OK, else the exit code with the error said. */
int export_dest(struct cli *c, char **dest, const char **parent, char **base)
{
	char *d = strdup(c->args[1]), *slash;
	struct stat sb;
	size_t len;

	if (!d) {
		cli_err(c, NULL, "%s", strerror(ENOMEM));
		return CLI_FAIL;
	}
	*dest = d;
	len = strlen(d);
	while (len > 1 && d[len - 1] == '/')
		d[--len] = '\0';
	if (fstatat(AT_FDCWD, d, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		cli_err(c, c->args[1], "refusing to export over an existing path");
		return CLI_FAIL;
	}
	if (errno != ENOENT) {
		cli_err(c, c->args[1], "%s", strerror(errno));
		return CLI_FAIL;
	}
	slash = strrchr(d, '/');
	if (slash == d) {
		*parent = "/";
		*base = d + 1;
	} else if (slash) {
		*slash = '\0';
		*parent = d;
		*base = slash + 1;
	} else {
		*parent = ".";
		*base = d;
	}
	if (!(*base)[0] || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0 ||
	    strlen(*base) + 32 > NAME_MAX) {
		cli_err(c, c->args[1], "not a usable destination name");
		return CLI_USAGE;
	}
	return CLI_OK;
}

/* Renames the finished export tmp to base in dirfd, never over an existing
 * path. CLI_OK, else CLI_FAIL (said) with tmp left in place. */
int export_rename(struct cli *c, int dirfd, const char *tmp, const char *base)
{
	struct stat sb;
	int r = renameat2(dirfd, tmp, dirfd, base, RENAME_NOREPLACE);

	if (r < 0 && (errno == EINVAL || errno == ENOSYS)) {
		/* No RENAME_NOREPLACE here: check, then rename. */
		if (fstatat(dirfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			errno = EEXIST;
		else
			r = renameat(dirfd, tmp, dirfd, base);
	}
	if (r < 0) {
		cli_err(c, c->args[1], "%s",
			errno == EEXIST ? "refusing to export over an existing path"
					: strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

int export_report(struct cli *c, const struct ckpt_info *ci, uint64_t files, uint64_t bytes,
		  const char *archive)
{
	if (!c->json) {
		printf("exported %s to %s: %llu file(s), %llu bytes\n", ci->name, c->args[1],
		       (unsigned long long)files, (unsigned long long)bytes);
		return CLI_OK;
	}
	json_t *o = json_object();
	bool bad = !o;

	if (o) {
		jset(o, "name", json_string(ci->name), &bad);
		jset(o, "dest", json_string(c->args[1]), &bad);
		jset(o, "kind", json_string(kind_name(ci->kind)), &bad);
		if (archive)
			jset(o, "archive", json_string(archive), &bad);
		jset(o, "files", json_integer((json_int_t)files), &bad);
		jset(o, "bytes", json_integer((json_int_t)bytes), &bad);
	}
	if (bad) {
		json_decref(o);
		o = NULL;
	}
	return json_print(c, o);
}

static int cmd_export(struct cli *c)
{
	const char *name = c->args[0];
	char *dest = NULL, *base, tmp[NAME_MAX + 1];
	const char *parent;
	struct export_ctx x = { 0 };
	struct ckpt_info ci;
	struct store_node root;
	int64_t version = 0;
	int rc, r, dirfd = -1;

	if (export_is_tar(c->args[1]))
		return cmd_export_tar(c); /* tools/ckpt_tar.c */
	if ((rc = export_dest(c, &dest, &parent, &base)) != CLI_OK)
		goto out_free_dest;
	if ((rc = cli_open(c, false)) != CLI_OK)
		goto out_free_dest;
	r = cli_resolve(c, name, RESOLVE_ABORTED | RESOLVE_TRASHED, &ci, &version);
	if (r < 0) {
		rc = resolve_fail(c, name, r);
		goto out_free_dest;
	}
	r = store_version_root(c->st, version, &root);
	if (r < 0) {
		cli_err(c, name, "reading checkpoint: %s", strerror(-r));
		rc = CLI_FAIL;
		goto out_release;
	}
	dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		cli_err(c, c->args[1], "%s", strerror(errno));
		rc = CLI_FAIL;
		goto out_release;
	}
	x.st = c->st;
	x.buf = malloc(EXPORT_BUF);
	if (!x.buf) {
		cli_err(c, NULL, "%s", strerror(ENOMEM));
		rc = CLI_FAIL;
		goto out_close_dir;
	}
	/* Written beside DEST under a temporary name and renamed at the end, so
	 * a partial export never looks complete. */
	snprintf(tmp, sizeof(tmp), ".%s.ckpt-export-%ld.tmp", base, (long)getpid());
	r = S_ISDIR(root.mode) ? export_tree(&x, &root, dirfd, tmp)
			       : export_leaf(&x, &root, dirfd, tmp);
	if (r < 0) {
		cli_err(c, name, "exporting %s: %s", x.failed[0] ? x.failed : ".", strerror(-r));
		rc = CLI_FAIL;
		goto out_remove_tmp;
	}
	if ((rc = export_rename(c, dirfd, tmp, base)) != CLI_OK)
		goto out_remove_tmp;
	if (fsync(dirfd) < 0) {
		cli_err(c, c->args[1], "syncing: %s", strerror(errno));
		rc = CLI_FAIL;
		goto out_free_buf;
	}
	rc = export_report(c, &ci, x.files, x.bytes, NULL);
	goto out_free_buf;

out_remove_tmp:
	remove_tree(dirfd, tmp);
out_free_buf:
	free(x.buf);
out_close_dir:
	close(dirfd);
out_release:
	ckpt_info_release(&ci);
out_free_dest:
	free(dest);
	return rc;
}

/* ---- pin / unpin / commit -------------------------------------------------- */

static int print_ckpt(struct cli *c, int64_t id, const char *verb)
{
	struct ckpt_info ci;
	int r = store_ckpt_get(c->st, id, &ci), rc;

	if (r == 0 && (r = store_ckpt_logical_bytes(c->st, &ci)) < 0)
		ckpt_info_release(&ci);
	if (r < 0) {
		cli_err(c, NULL, "reading checkpoint: %s", strerror(-r));
		return CLI_FAIL;
	}
	if (c->json)
		rc = json_print(c, ckpt_json(&ci));
	else {
		printf("%s%s%s\n", verb ? verb : "", verb ? " " : "", ci.name);
		rc = CLI_OK;
	}
	ckpt_info_release(&ci);
	return rc;
}

static int cmd_pin_common(struct cli *c, bool pin)
{
	const char *name = c->args[0];
	struct ckpt_info ci;
	int64_t id;
	int rc, r;

	if ((rc = cli_open(c, true)) != CLI_OK)
		return rc;
	r = cli_resolve(c, name, 0, &ci, NULL);
	if (r < 0)
		return resolve_fail(c, name, r);
	id = ci.id;
	ckpt_info_release(&ci);
	r = store_ckpt_set_pinned(c->st, id, pin);
	if (r < 0) {
		cli_err(c, name, "%s", strerror(-r));
		return r == -ENOENT ? CLI_NOCKPT : CLI_FAIL;
	}
	return print_ckpt(c, id, pin ? "pinned" : "unpinned");
}

static int cmd_pin(struct cli *c)
{
	return cmd_pin_common(c, true);
}

static int cmd_unpin(struct cli *c)
{
	return cmd_pin_common(c, false);
}

/* Promotes an aborted checkpoint as it is, then runs retention as after any
 * commit. */
static int cmd_commit(struct cli *c)
{
	const char *name = c->args[0];
	struct retain_row *del = NULL;
	struct ckpt_info ci;
	size_t nd = 0;
	int64_t id;
	int rc, r;

	if ((rc = cli_open(c, true)) != CLI_OK)
		return rc;
	r = store_ckpt_lookup_aborted(c->st, name, &ci);
	if (r == -ENOENT) {
		struct ckpt_info live;

		if (store_ckpt_lookup(c->st, name, &live) == 0) {
			cli_err(c, name, "not aborted (it is %s)",
				store_ckpt_state_name(live.state));
			ckpt_info_release(&live);
			return CLI_FAIL;
		}
		cli_err(c, name, "no such aborted checkpoint");
		return CLI_NOCKPT;
	}
	if (r < 0)
		return resolve_fail(c, name, r);
	id = ci.id;
	ckpt_info_release(&ci);
	r = store_ckpt_promote(c->st, id);
	if (r == -EEXIST) {
		cli_err(c, name, "a live checkpoint has this name: %s", strerror(-r));
		return CLI_FAIL;
	}
	if (r < 0) {
		cli_err(c, name, "%s", strerror(-r));
		return CLI_FAIL;
	}
	r = store_retain_run(c->st, &del, &nd);
	if (r < 0)
		fprintf(stderr, "ckpt: commit: retention after the commit: %s\n", strerror(-r));
	if (!c->json)
		for (size_t i = 0; i < nd; i++)
			printf("retention deleted %s (%s)\n", del[i].name, del[i].rule);
	retain_rows_free(del, nd);
	return print_ckpt(c, id, "committed");
}

/* ---- log, wait: the event log and watching it -------------------------------- */

static json_t *event_json(const struct store_event *e)
{
	json_t *o = json_object();
	bool bad = !o;

	jset(o, "time", jtime(e->time), &bad);
	jset(o, "event", json_string(e->event ? e->event : ""), &bad);
	jset(o, "name", jstr_or_null(e->name), &bad);
	jset(o, "rule", jstr_or_null(e->rule), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* One event as one line: a compact JSON object (JSON Lines) or text. */
static int event_line(const struct cli *c, const struct store_event *e)
{
	char when[64];

	if (c->json) {
		json_t *o = event_json(e);
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

		json_decref(o);
		if (!text)
			return -ENOMEM;
		puts(text);
		free(text);
	} else {
		fmt_time(e->time, false, when, sizeof(when));
		printf("%-19s  %-9s %s  %s\n", when, e->event, e->name ? e->name : "-",
		       e->rule ? e->rule : "-");
	}
	return fflush(stdout) == 0 ? 0 : -EIO;
}

/* Wakes on changes of the store's index files (inotify on the store
 * directory: the index and its WAL are written there by whoever commits).
 * A one-second tick runs the same cheap query, for directories whose
 * writers inotify cannot see (a network filesystem). */
struct watch {
	int fd;
	int64_t deadline_ms; /* CLOCK_MONOTONIC; < 0: none */
	struct store *st;    /* its notify fd (a PostgreSQL index's LISTEN) too */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int watch_open(struct cli *c, struct watch *w)
{
	w->deadline_ms = c->timeout < 0 ? -1 : mono_ms() + (int64_t)(c->timeout * 1000.0);
	w->st = c->st;
	store_changed_externally(c->st); /* LISTEN starts now: a baseline */
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0 ||
	    inotify_add_watch(w->fd, store_dir(c->st),
			      IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) < 0) {
		cli_err(c, store_dir(c->st), "watching the index: %s", strerror(errno));
		if (w->fd >= 0)
			close(w->fd);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* Sleeps until the index may have changed: 0, or 1 at the deadline. */
static int watch_next(struct watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p[2] = { { .fd = w->fd, .events = POLLIN },
			       { .fd = store_notify_fd(w->st), .events = POLLIN } };
	int ms = 1000;

	if (w->deadline_ms >= 0) {
		int64_t left = w->deadline_ms - mono_ms();

		if (left <= 0)
			return 1;
		if (left < ms)
			ms = (int)left;
	}
	if (poll(p, p[1].fd >= 0 ? 2 : 1, ms) > 0) {
		while (read(w->fd, buf, sizeof(buf)) > 0)
			; /* drained: one query answers every change so far */
		if (p[1].revents)
			store_changed_externally(w->st); /* drains the notifications */
	}
	return 0;
}

/* Events with id > *after, at most 4096 per call; *after advances. */
static int events_next(struct cli *c, int64_t *after, struct store_event **ev, size_t *n)
{
	int r = store_events_after(c->st, *after, 4096, ev, n);

	if (r < 0) {
		cli_err(c, NULL, "reading events: %s", strerror(-r));
		return CLI_FAIL;
	}
	if (*n)
		*after = (*ev)[*n - 1].id;
	return CLI_OK;
}

/* The events `log` shows first: the newest ones, from --since, the last -n;
 * *first is the index of the first one shown. */
static void log_window(const struct cli *c, const struct store_event *ev, size_t n, size_t *first)
{
	size_t i = 0;

	while (c->since && i < n && ev[i].time < c->since)
		i++;
	if (c->last_n >= 0 && n - i > (size_t)c->last_n)
		i = n - (size_t)c->last_n;
	*first = i;
}

static int log_print(struct cli *c, const struct store_event *ev, size_t n)
{
	struct table t = { .ncol = 4, .align = "llll" };
	json_t *arr;
	int r;

	if (c->json) {
		arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			if (json_array_append_new(arr, event_json(&ev[i])) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		return json_print(c, arr);
	}
	r = table_add(&t, "TIME", "EVENT", "NAME", "RULE");
	for (size_t i = 0; r == 0 && i < n; i++) {
		char when[64];

		fmt_time(ev[i].time, false, when, sizeof(when));
		r = table_add(&t, when, ev[i].event, ev[i].name ? ev[i].name : "-",
			      ev[i].rule ? ev[i].rule : "-");
	}
	if (r == 0)
		table_print(&t, stdout);
	else
		cli_err(c, NULL, "%s", strerror(-r));
	table_release(&t);
	return r == 0 ? CLI_OK : CLI_FAIL;
}

/* --follow: the window as lines, then every new event as it is recorded,
 * until killed (or stdout closes). */
static int log_follow(struct cli *c, const struct store_event *ev, size_t n, int64_t after)
{
	struct store_event *more;
	struct watch w;
	size_t m;
	int rc, r = 0;

	for (size_t i = 0; r == 0 && i < n; i++)
		r = event_line(c, &ev[i]);
	if (r == 0 && (rc = watch_open(c, &w)) != CLI_OK)
		return rc;
	while (r == 0) {
		watch_next(&w);
		if ((rc = events_next(c, &after, &more, &m)) != CLI_OK)
			break;
		for (size_t i = 0; r == 0 && i < m; i++)
			r = event_line(c, &more[i]);
		store_events_free(more, m);
	}
	if (r < 0) {
		cli_err(c, NULL, "writing output: %s", strerror(-r));
		rc = CLI_FAIL;
	}
	close(w.fd);
	return rc;
}

static int cmd_log(struct cli *c)
{
	struct store_event *ev = NULL;
	size_t n = 0, first;
	int rc, r;

	if ((rc = cli_open(c, false)) != CLI_OK)
		return rc;
	r = store_events(c->st, &ev, &n);
	if (r < 0) {
		cli_err(c, NULL, "reading events: %s", strerror(-r));
		return CLI_FAIL;
	}
	log_window(c, ev, n, &first);
	if (c->follow)
		rc = log_follow(c, ev + first, n - first, n ? ev[n - 1].id : 0);
	else
		rc = log_print(c, ev + first, n - first);
	store_events_free(ev, n);
	return rc;
}

/* The id of the last "commit" event of name (0: none) and of the newest
 * event. One pass over the log, at start only. */
static int commit_event_of(struct cli *c, const char *name, int64_t *commit_id, int64_t *newest)
{
	struct store_event *ev;
	size_t n;
	int rc;

	*commit_id = 0;
	*newest = 0;
	do {
		if ((rc = events_next(c, newest, &ev, &n)) != CLI_OK)
			return rc;
		for (size_t i = 0; name && i < n; i++)
			if (strcmp(ev[i].event, "commit") == 0 && ev[i].name &&
			    strcmp(ev[i].name, name) == 0)
				*commit_id = ev[i].id;
		store_events_free(ev, n);
	} while (n);
	return CLI_OK;
}

/* The first committed checkpoint among the commit events in ev (one whose
 * name was deleted or renamed since is skipped): its id, or 0. */
static int64_t first_committed(struct cli *c, const struct store_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ckpt_info ci;
		int64_t id = 0;

		if (strcmp(ev[i].event, "commit") != 0 || !ev[i].name ||
		    store_ckpt_lookup(c->st, ev[i].name, &ci) < 0)
			continue;
		if (ci.state == CKPT_COMMITTED)
			id = ci.id;
		ckpt_info_release(&ci);
		if (id)
			return id;
	}
	return 0;
}

/* Blocks until a checkpoint commits after --after NAME (default: now, i.e.
 * after the current latest) and prints it; 124 at --timeout. */
static int cmd_wait(struct cli *c)
{
	const char *name = c->after;
	struct ckpt_info ci;
	struct store_event *ev;
	struct watch w;
	int64_t after = 0, newest = 0, id = 0;
	size_t n;
	int rc;

	if ((rc = cli_open(c, false)) != CLI_OK)
		return rc;
	if (name && cli_resolve_info(c, name, 0, &ci, NULL) == 0) {
		name = NULL; /* latest, best_<metric>: the checkpoint they name */
		rc = commit_event_of(c, ci.name, &after, &newest);
		ckpt_info_release(&ci);
	} else {
		rc = commit_event_of(c, name, &after, &newest);
	}
	if (rc != CLI_OK)
		return rc;
	if (!c->after)
		after = newest;
	else if (!after)
		return resolve_fail(c, c->after, -ENOENT);
	if ((rc = watch_open(c, &w)) != CLI_OK)
		return rc;
	for (;;) {
		if ((rc = events_next(c, &after, &ev, &n)) != CLI_OK)
			break;
		id = first_committed(c, ev, n);
		store_events_free(ev, n);
		if (id) {
			rc = print_ckpt(c, id, NULL);
			break;
		}
		if (n == 0 && watch_next(&w) == 1) {
			cli_err(c, NULL, "timed out after %g s", c->timeout);
			rc = CLI_TIMEOUT;
			break;
		}
	}
	close(w.fd);
	return rc;
}

/* ---- trash (tools/ckpt_trash.c) --------------------------------------------- */

static int cmd_undelete(struct cli *c)
{
	int rc = cli_open(c, OPEN_WRITE);

	return rc != CLI_OK ? rc : trash_cmd_undelete(c->st, c->args[0], c->json);
}

static int cmd_trash(struct cli *c)
{
	bool ls = strcmp(c->args[0], "ls") == 0;
	int rc;

	if ((!ls && strcmp(c->args[0], "empty") != 0) || (ls && c->n_args > 1)) {
		cli_err(c, NULL, "usage: ckpt trash STORE ls|empty [NAME]");
		return CLI_USAGE;
	}
	if ((rc = cli_open(c, ls ? OPEN_READ : OPEN_WRITE)) != CLI_OK)
		return rc;
	return ls ? trash_cmd_ls(c->st, c->json)
		  : trash_cmd_empty(c->st, c->n_args > 1 ? c->args[1] : NULL, c->json);
}

/* ---- command table and main ------------------------------------------------ */

enum { OPT_ALL = 1, OPT_DRY_RUN = 2, OPT_REPAIR = 4, OPT_LOG = 8, OPT_WAIT = 16 };

struct command {
	const char *name;
	int (*run)(struct cli *c);
	size_t min_args, max_args; /* words after STORE */
	int opts;
	const char *usage;
	const char *help;
};

static const struct command commands[] = {
	{ "ls", cmd_ls, 0, 0, OPT_ALL, "ls STORE [--all] [--json]",
	  "Lists staging and committed checkpoints in commit order (--all adds aborted,\n"
	  "trashed and deleted ones): NAME STEP EPOCH COMMITTED LOGICAL STORED UNIQUE\n"
	  "METRICS STATE; UNIQUE: stored bytes only it holds (what deleting it frees).\n"
	  "JSON: an array of {name, kind, state, step, epoch, committed_at, logical_bytes,\n"
	  "stored_bytes, unique_bytes, metrics, pinned, withdrawn}; step/epoch/committed_at are null when\n"
	  "absent, committed_at is local ISO 8601 time with offset.\n" },
	{ "show", cmd_show, 1, 1, 0, "show STORE NAME [--json]",
	  "Shows one checkpoint: NAME may be a checkpoint, the latest name, best_<metric>,\n"
	  "an aborted display name (NAME, NAME~2 ...) or a deleted one. JSON: the ls object\n"
	  "plus files [{path, size}], metric_sources {metric: source} and note.\n" },
	{ "policy", cmd_policy, 0, CLI_MAX_ARGS, 0,
	  "policy STORE [OPTION=VALUE...] [--json]\n"
	  "       ckpt policy set STORE OPTION=VALUE... | ckpt policy STORE set OPTION=VALUE...",
	  "Without options shows the stored policy; with options sets those given (the\n"
	  "mount option names: keep_last, keep_best, keep_every, metric=NAME:min|max,\n"
	  "compress, settle_ms, hide_virtual, latest_name, best_prefix, plain, trash,\n"
	  "max_bytes, min_free) and keeps the\n"
	  "others, then shows the result. A metric= list replaces the tracked metrics;\n"
	  "metric= alone clears them. Words may also be comma-separated as with -o.\n"
	  "JSON: {keep_last, keep_best, keep_every, metric: [\"NAME:min|max\"...],\n"
	  "compress, settle_ms, hide_virtual, latest_name, best_prefix, plain: \"GLOB:GLOB\"}.\n" },
	{ "gc", cmd_gc, 0, 0, OPT_DRY_RUN, "gc STORE [--dry-run] [--json]",
	  "Applies retention and removes aborted checkpoints, then reclaims space (left to\n"
	  "the mount when the store is mounted). --dry-run changes nothing and lists every\n"
	  "committed checkpoint with keep/delete and the rule, plus the aborted ones gc\n"
	  "would remove, and ends with the bytes gc would free (exact: the chunks only\n"
	  "those checkpoints hold). JSON: an array of {name, action, rule, state}.\n" },
	{ "verify", cmd_verify, 0, 0, OPT_REPAIR, "verify STORE [--repair] [--json]",
	  "Re-reads every chunk, checks checksums, references and counts; prints each\n"
	  "problem; exits 1 when any is found. A damaged chunk's line names the checkpoints\n"
	  "that use it, and the chunk is marked in the index (when the index can be\n"
	  "written) so the next save of the same bytes rewrites it and heals them all:\n"
	  "copying the file into the mount again is the repair (bytes cannot be invented).\n"
	  "--repair: the same, but fails (exit 3) when the index cannot be written. Chunk\n"
	  "files without an index row younger than 600 s are skipped beside a live mount\n"
	  "(a note says how many). JSON: {ok, problems: [text...], notes: [text...]}.\n" },
	{ "stats", cmd_stats, 0, 0, 0, "stats STORE [--json]",
	  "Store totals. JSON: {checkpoints, logical_bytes, stored_bytes, chunks,\n"
	  "dedup_ratio, compression_ratio, raw_bytes, staging, aborted, deleted, trashed,\n"
	  "reclaimable_bytes (trash, aborted, unreferenced), gc_would_free_bytes}.\n" },
	{ "export", cmd_export, 2, 2, 0, "export STORE NAME DEST|DEST.tar|DEST.tar.zst|- [--json]",
	  "Copies a checkpoint (NAME may be the latest name or best_<metric>) to DEST: a\n"
	  "directory for a directory checkpoint, a file for a single-file one; modes, mtimes\n"
	  "and symlinks kept. An existing DEST is refused. Written under a temporary name\n"
	  "beside DEST and renamed at the end. DEST ending in .tar (.tar.zst: zstd) or -\n"
	  "(stdout) is a tar archive: NAME for a file checkpoint, NAME/... for a directory\n"
	  "one, streamed one 1 MiB buffer at a time; a damaged chunk fails the export\n"
	  "(exit 1) and leaves no archive end, so a reader sees it truncated.\n" },
	{ "diff", cmd_diff, 2, 2, 0, "diff STORE A B [--json]",
	  "Compares checkpoint A with B (each a name, the latest name, best_<metric>, or\n"
	  "NAME~N) per file: added, removed, changed (with the bytes in changed chunks) or\n"
	  "same; for safetensors, .npy and zip (torch.save) files also per tensor / zip\n"
	  "entry. Chunk lists decide without reading data; only ranges that share a chunk\n"
	  "with changed bytes are read. Prints one line per changed file and item, then\n"
	  "counts. Exit 0 identical, 1 different, 2 trouble (or usage), 3, 4 as usual.\n"
	  "JSON: {a, b, identical, files: [{path, status, type, size_a, size_b,\n"
	  "changed_bytes, format, items: [{name, status}], items_same}], summary}.\n" },
	{ "pin", cmd_pin, 1, 1, 0, "pin STORE NAME [--json]",
	  "Pins a checkpoint: retention keeps it. JSON: its ls object.\n" },
	{ "unpin", cmd_unpin, 1, 1, 0, "unpin STORE NAME [--json]",
	  "Removes the pin. JSON: its ls object.\n" },
	{ "log", cmd_log, 0, 0, OPT_LOG, "log STORE [-n N] [--since TIME] [--follow] [--json]",
	  "The index's events (commit, abort, delete, withdraw, gc, corrupt, heal, promote,\n"
	  "rename) with their rule or reason. JSON: an array of {time, event, name, rule}.\n"
	  "-n N: only the last N. --since TIME: only those at or after TIME (local\n"
	  "YYYY-MM-DD[THH:MM[:SS]], @EPOCH_SECONDS, or Ns/Nm/Nh/Nd ago). --follow: then\n"
	  "every new event as it is recorded, until killed; with --json one object per\n"
	  "line (JSON Lines). Woken by inotify on the store's index files.\n" },
	{ "wait", cmd_wait, 0, 0, OPT_WAIT, "wait STORE [--after NAME] [--timeout S] [--json]",
	  "Blocks until a checkpoint newer than NAME (default: the current latest)\n"
	  "commits, and prints its name (JSON: its ls object). NAME may be a checkpoint,\n"
	  "one deleted since, the latest name or best_<metric>; when several newer ones\n"
	  "exist, the oldest still committed is printed, so `--after` of each answer\n"
	  "walks them all. Exit 124 when --timeout S seconds pass first.\n" },
	{ "undelete", cmd_undelete, 1, 1, 0, "undelete STORE NAME [--json]",
	  "Restores a checkpoint from the trash (mounted with trash=DURATION): NAME, or\n"
	  "NAME~2, NAME~3 for older trashed ones of the same name (see trash ls). It comes\n"
	  "back committed with its commit order and metrics, so latest and best_* resolve as\n"
	  "if it had never been deleted. Refused (exit 1) while a live checkpoint has its\n"
	  "name. JSON: {name, state, commit_seq}.\n" },
	{ "trash", cmd_trash, 1, 2, 0, "trash STORE ls|empty [NAME] [--json]",
	  "ls: the trash, oldest first: NAME DELETED PURGE_AT UNIQUE REASON (purged at the\n"
	  "first commit or gc after PURGE_AT, or sooner to make room under max_bytes /\n"
	  "min_free). empty [NAME]: purges NAME, or everything, now. JSON: ls an array of\n"
	  "{name, kind, step, deleted_at, purge_at, reason, logical_bytes, unique_bytes},\n"
	  "empty {purged}.\n" },
	{ "commit", cmd_commit, 1, 1, 0, "commit STORE NAME [--json]",
	  "Promotes an aborted checkpoint as it is (no checks re-run), then applies\n"
	  "retention as after any commit. JSON: its ls object.\n" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ckpt COMMAND STORE [ARGS] [--json]\n"
		"       ckpt -h|--help | -V|--version | help COMMAND\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  ckpt %s\n", commands[i].usage);
	fprintf(out,
		"\n--json (anywhere after the command) prints JSON; ckpt COMMAND --help for more.\n"
		"Exit codes: 0 ok, 1 verification failure or operation failed, 2 usage error,\n"
		"3 store missing or unusable, 4 no such checkpoint, 124 wait timed out;\n"
		"diff: 0 identical, 1 different, 2 trouble.\n"
		"STORE may also be a mount point: its .ckptfs/status names the store.\n"
		"Without STORE (one word short), $CKPT_STORE is used.\n"
		"STORE is a directory, or DIR?index=sqlite,chunks=dir|mem naming its backends\n"
		"(refused unless they are the ones the store recorded when it was made), or\n"
		"postgresql:CONNINFO?chunks=DIR, or with chunks in Ceph RADOS\n"
		"DIR?chunks=rados:pool=P[,ns=N,conf=FILE,id=ID,keyring=FILE,timeout=S,inflight=N]\n"
		"or postgresql:CONNINFO?chunks=rados:pool=P,...,dir=DIR (DIR: node-local).\n");
}

static void command_help(const struct command *cmd)
{
	printf("usage: ckpt %s\n\n%s", cmd->usage, cmd->help);
}

/* --since TIME: local YYYY-MM-DD[THH:MM[:SS]], @EPOCH, or N{s,m,h,d} ago. */
static int parse_since(const char *t, int64_t *out)
{
	static const char *const fmts[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
					    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d" };
	struct tm tm;
	char *end;
	long long v;

	if (t[0] == '@' || (t[0] >= '0' && t[0] <= '9' && !strchr(t, '-'))) {
		errno = 0;
		v = strtoll(t + (t[0] == '@'), &end, 10);
		if (errno || end == t + (t[0] == '@') || v < 0)
			return -EINVAL;
		if (t[0] == '@' && !*end)
			return (*out = v), 0;
		if (!end[0] || end[1])
			return -EINVAL;
		switch (*end) {
		case 'd':
			v *= 24;
			/* fall through */
		case 'h':
			v *= 60;
			/* fall through */
		case 'm':
			v *= 60;
			/* fall through */
		case 's':
			*out = (int64_t)time(NULL) - v;
			return 0;
		}
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(t, fmts[i], &tm);
		if (end && !*end) {
			tm.tm_isdst = -1;
			*out = (int64_t)mktime(&tm);
			return 0;
		}
	}
	return -EINVAL;
}

/* A value option (--after NAME, --timeout S, -n N, --since TIME) at argv[*i]:
 * 1 when it was one (its value consumed), 0 when not, -1 on a bad value. */
static int value_opt(struct cli *c, const struct command *cmd, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
	bool wait = cmd->opts & OPT_WAIT, log = cmd->opts & OPT_LOG;
	char *end = NULL;
	bool bad = false;

	if (!((wait && (!strcmp(a, "--after") || !strcmp(a, "--timeout"))) ||
	      (log && (!strcmp(a, "-n") || !strcmp(a, "--since")))))
		return 0;
	if (!v) {
		cli_err(c, a, "needs a value (see ckpt %s --help)", cmd->name);
		return -1;
	}
	++*i;
	errno = 0;
	if (!strcmp(a, "--after")) {
		c->after = v;
	} else if (!strcmp(a, "--timeout")) {
		c->timeout = strtod(v, &end);
		bad = !(c->timeout >= 0 && c->timeout <= 1e9);
	} else if (!strcmp(a, "-n")) {
		c->last_n = strtol(v, &end, 10);
		bad = c->last_n < 0;
	} else {
		bad = parse_since(v, &c->since) < 0;
	}
	if (bad || errno || (end && (end == v || *end))) {
		cli_err(c, v, "bad value for %s", a);
		return -1;
	}
	return 1;
}

/* A mount point given as STORE: its .ckptfs/status names the store. */
static void follow_mount(struct cli *c)
{
	char path[PATH_MAX], line[PATH_MAX + 16];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/.ckptfs/status", c->store_path) >= (int)sizeof(path))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "store: ", 7) == 0) {
			line[strcspn(line, "\n")] = '\0';
			c->mount_store = strdup(line + 7);
			if (c->mount_store)
				c->store_path = c->mount_store;
			break;
		}
	fclose(f);
}

int main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	struct cli c = { .timeout = -1, .last_n = -1 };
	char **pos;
	size_t npos = 0;
	bool help = false, dashdash = false;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (argc > 2 && strcmp(argv[1], "help") == 0)
			for (size_t i = 0; i < N_COMMANDS; i++)
				if (strcmp(argv[2], commands[i].name) == 0) {
					command_help(&commands[i]);
					return CLI_OK;
				}
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("ckpt %s\n", CKPT_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			cmd = &commands[i];
	c.cmd = argv[1];
	if (!cmd) {
		cli_err(&c, NULL, "unknown command (see ckpt --help)");
		return CLI_USAGE;
	}
	pos = calloc((size_t)argc, sizeof(*pos));
	if (!pos) {
		cli_err(&c, NULL, "%s", strerror(ENOMEM));
		return CLI_FAIL;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!dashdash && a[0] == '-' && a[1]) {
			int v = value_opt(&c, cmd, argc, argv, &i);

			if (v < 0) {
				free(pos);
				return CLI_USAGE;
			}
			if (v > 0)
				continue;
			if (strcmp(a, "--") == 0)
				dashdash = true;
			else if (strcmp(a, "--json") == 0)
				c.json = true;
			else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
				help = true;
			else if (strcmp(a, "--all") == 0 && (cmd->opts & OPT_ALL))
				c.all = true;
			else if (strcmp(a, "--dry-run") == 0 && (cmd->opts & OPT_DRY_RUN))
				c.dry_run = true;
			else if (strcmp(a, "--repair") == 0 && (cmd->opts & OPT_REPAIR))
				c.repair = true;
			else if (strcmp(a, "--follow") == 0 && (cmd->opts & OPT_LOG))
				c.follow = true;
			else {
				cli_err(&c, a, "unknown option (see ckpt %s --help)", cmd->name);
				free(pos);
				return CLI_USAGE;
			}
			continue;
		}
		pos[npos++] = argv[i];
	}
	if (help) {
		command_help(cmd);
		free(pos);
		return CLI_OK;
	}
	/* STORE omitted (one word short of the command's arity): $CKPT_STORE */
	char *env_store = getenv("CKPT_STORE");
	if (npos == cmd->min_args && env_store && env_store[0]) {
		memmove(pos + 1, pos, npos * sizeof(*pos));
		pos[0] = env_store;
		npos++;
	}
	if (npos < 1 || npos - 1 < cmd->min_args || npos - 1 > cmd->max_args) {
		cli_err(&c, NULL, "%s (usage: ckpt %s)",
			npos < 1 ? "missing STORE" : "wrong number of arguments", cmd->usage);
		free(pos);
		return CLI_USAGE;
	}
	c.store_path = pos[0];
	c.args = pos + 1;
	c.n_args = npos - 1;
	follow_mount(&c);
	rc = cmd->run(&c);
	store_close(c.st);
	free(c.mount_store);
	free(pos);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_err(&c, NULL, "writing output: %s", strerror(errno ? errno : EIO));
		if (rc == CLI_OK)
			rc = CLI_FAIL;
	}
	return rc;
}
