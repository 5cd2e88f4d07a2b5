/* libFuzzer target for the core store API (core/store.h): the input is a
 * sequence of operations over three checkpoint names and a small fixed set
 * of paths inside them; every result is checked against an in-memory model.
 *
 * Modelled: checkpoints (create dir/file, commit, abort, delete, rename with
 * replace / NOREPLACE / COMMIT, begin_version copy-on-write, set_metric),
 * tree changes in a version (create, mkdir, unlink, rmdir, rename, truncate
 * by setattr), open handles (read / write / truncate / flush / close, up to
 * four, sharing the file state of a node), gc and a close + reopen of the
 * store (recovery aborts staging work). File contents are model buffers;
 * writes use offsets around k * 1 MiB (the chunk size) and lengths around
 * 1 MiB multiples, filled with a deterministic pattern from one seed byte,
 * so a short input covers chunk boundaries; a quarter of the writes at
 * offset 0 start like a safetensors header, which moves the chunk grid (no
 * file name ends in .safetensors, so it is never checked). Every read
 * (handle reads, full re-reads through fresh handles, directory listings, node
 * sizes) must match the model; after every operation latest must resolve to the
 * newest committed, not withdrawn live checkpoint of the model and best_loss /
 * best_acc (xattr metrics from set_metric) to the model's best; at the end,
 * with every handle closed and gc run, store_verify must find no problem. Any
 * mismatch abort()s (FUZZ_STORE_TRACE=1 prints every checked call). Data bytes
 * are kept below 0x40, so no file ever starts with the zip or .npy magic and
 * the commit format checks never refuse one: every commit the model expects to
 * succeed must succeed. A fresh store per input under /dev/shm (or $TMPDIR when
 * no /dev/shm), removed after the input (and on a mismatch, unless
 * FUZZ_STORE_KEEP is set). Caps: 64 operations, 8 MiB written, files up to 6
 * MiB.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define MIB (1u << 20)
#define MAX_OPS 64
#define MAX_WRITTEN (8u * MIB)
#define MAX_FILE (6u * MIB)
#define NCK 3
#define NPATH 12
#define NVER 160
#define NFO 1024
#define NH 4

enum { T_NONE = 0, T_FILE = 1, T_DIR = 2 };
/* V_UNLINKED: a staging version whose checkpoint was deleted (or replaced)
 * while files of it were open: their handles still take writes until the
 * last close, as after unlink(2); nothing new can be opened in it. */
enum { V_STAGING = 0, V_COMMITTED = 1, V_ABORTED = 2, V_DEAD = 3, V_UNLINKED = 4 };

static const char *const ck_names[NCK] = { "c0", "c1", "step-7" };
static const char *const leaf[4] = { "a", "b", "d", "e" };
static const char *const metric_names[2] = { "loss", "acc" }; /* min, max by default */

struct fobj {
	uint8_t *data;
	size_t size, cap;
	int ver;
};

struct ment {
	int type;
	int64_t node;
	int fo;
};

struct mver {
	int64_t vid;
	int state;
	int64_t root;
	int root_fo; /* file checkpoints: the root file */
	struct ment e[NPATH];
};

struct mck {
	bool live;
	int64_t id;
	int kind;
	int state;	/* CKPT_STAGING / CKPT_COMMITTED */
	int cver, sver; /* model versions, -1 none */
	int64_t seq;
	bool withdrawn;
	bool has_step; /* set by a commit under the name "step-7" */
	bool has_m[2]; /* xattr metrics loss, acc */
	double mval[2];
};

struct mh {
	struct store_file *f;
	int fo;
	int flags;
};

static struct {
	struct store *st;
	char dir[256];
	struct fobj fo[NFO];
	int n_fo;
	struct mver ver[NVER];
	int n_ver;
	struct mck ck[NCK];
	struct mh h[NH];
	int64_t seq;
	size_t written;
	size_t model_bytes;
	const uint8_t *in;
	size_t in_len, pos;
	int op_no;
} M;

static char base_dir[200];

static void rm_rf(const char *dir);

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_store: model mismatch at op %d: ", M.op_no);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* abort() skips atexit: drop the scratch stores unless asked to keep them */
	if (getenv("FUZZ_STORE_KEEP"))
		fprintf(stderr, "fuzz_store: store kept in %s\n", M.dir);
	else if (base_dir[0])
		rm_rf(base_dir);
	abort();
}

static bool trace; /* FUZZ_STORE_TRACE=1: one line per checked call */

static void expect(bool ok_expected, long rc, const char *what)
{
	if (trace)
		fprintf(stderr, "op %d: %s -> %ld\n", M.op_no, what, rc);
	if (ok_expected && rc < 0)
		fail("%s: expected success, got %ld (%s)", what, rc, strerror((int)-rc));
	if (!ok_expected && rc >= 0)
		fail("%s: expected failure, got %ld", what, rc);
}

static uint8_t u8(void)
{
	return M.pos < M.in_len ? M.in[M.pos++] : 0;
}

/* ---- model helpers ---- */

static int path_parent(int p)
{
	return p < 4 ? -1 : p < 8 ? 2 : 3;
}

static const char *path_leaf(int p)
{
	return leaf[p % 4];
}

static int path_child(int dir, int i)
{
	return dir == 2 ? 4 + i : 8 + i;
}

static bool dir_has_children(const struct mver *v, int p)
{
	if (p != 2 && p != 3)
		return false;
	for (int i = 0; i < 4; i++)
		if (v->e[path_child(p, i)].type != T_NONE)
			return true;
	return false;
}

/* the node id of path p's parent directory, 0 when it does not exist */
static int64_t parent_node(const struct mver *v, int p)
{
	int pp = path_parent(p);

	if (pp < 0)
		return v->root;
	return v->e[pp].type == T_DIR ? v->e[pp].node : 0;
}

static int fo_new(int ver, const struct fobj *copy)
{
	struct fobj *f;

	if (M.n_fo >= NFO)
		return -1;
	f = &M.fo[M.n_fo];
	memset(f, 0, sizeof(*f));
	f->ver = ver;
	if (copy && copy->size) {
		f->data = malloc(copy->size);
		if (!f->data)
			abort();
		memcpy(f->data, copy->data, copy->size);
		f->size = f->cap = copy->size;
		M.model_bytes += copy->size;
	}
	return M.n_fo++;
}

static void fo_resize(struct fobj *f, size_t size)
{
	if (size > f->cap) {
		size_t nc = f->cap ? f->cap : 4096;

		while (nc < size)
			nc *= 2;
		f->data = realloc(f->data, nc);
		if (!f->data)
			abort();
		M.model_bytes += nc - f->cap;
		f->cap = nc;
	}
	if (size > f->size)
		memset(f->data + f->size, 0, size - f->size);
	f->size = size;
}

static int ver_new(int64_t vid, int state, int64_t root)
{
	struct mver *v;

	if (M.n_ver >= NVER)
		abort(); /* cannot happen: at most one version per operation */
	v = &M.ver[M.n_ver];
	memset(v, 0, sizeof(*v));
	v->vid = vid;
	v->state = state;
	v->root = root;
	v->root_fo = -1;
	return M.n_ver++;
}

static int cur_ver(const struct mck *c)
{
	return c->sver >= 0 ? c->sver : c->cver;
}

static bool fo_writable(int fo)
{
	int st = M.ver[M.fo[fo].ver].state;

	return st == V_STAGING || st == V_UNLINKED;
}

static uint8_t pat(uint8_t seed, uint64_t i)
{
	if (!seed)
		return 0;
	return (uint8_t)((seed ^ (uint8_t)(i * 131u) ^ (uint8_t)((i >> 10) * 17u) ^
			  (uint8_t)(i >> 20)) &
			 0x3f);
}

/* ---- checks ---- */

static void check_content(struct store_file *f, const struct fobj *m, const char *what)
{
	size_t sz = m->size;
	uint8_t *buf;
	ssize_t n;

	if (store_file_size(f) != sz)
		fail("%s: size %llu, model %zu", what, (unsigned long long)store_file_size(f), sz);
	buf = malloc(sz + 17);
	if (!buf)
		abort();
	n = store_file_read(f, buf, sz + 17, 0);
	if (n < 0 || (size_t)n != sz)
		fail("%s: full read returned %zd, model size %zu", what, n, sz);
	if (sz && memcmp(buf, m->data, sz) != 0) {
		size_t i = 0;

		while (buf[i] == m->data[i])
			i++;
		fail("%s: content differs at offset %zu (0x%zx): got %02x, model %02x", what, i, i,
		     buf[i], m->data[i]);
	}
	free(buf);
}

static void check_file_node(int64_t node, int fo, const char *what)
{
	struct store_file *f;
	struct store_node n;
	int rc;

	rc = store_node_get(M.st, node, &n);
	if (rc < 0)
		fail("%s: node_get(%lld) = %d", what, (long long)node, rc);
	if (n.size != M.fo[fo].size)
		fail("%s: node size %llu, model %zu", what, (unsigned long long)n.size,
		     M.fo[fo].size);
	rc = store_file_open(M.st, node, STORE_F_READ, &f);
	if (rc < 0)
		fail("%s: open for read = %d", what, rc);
	check_content(f, &M.fo[fo], what);
	rc = store_file_close(f);
	if (rc < 0)
		fail("%s: close of reader = %d", what, rc);
}

static void check_dir(const struct mver *v, int64_t node, int p)
{
	struct store_dirent *d = NULL;
	size_t n = 0, want = 0;
	int rc;

	rc = store_node_list(M.st, node, &d, &n);
	if (rc < 0)
		fail("list of dir %s in version %lld = %d", p < 0 ? "/" : path_leaf(p),
		     (long long)v->vid, rc);
	for (int i = 0; i < 4; i++) {
		int c = p < 0 ? i : path_child(p, i);
		const struct ment *e = &v->e[c];
		bool found = false;

		if (p < 0 && i >= 4)
			break;
		if (e->type == T_NONE)
			continue;
		want++;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(d[k].name, leaf[i]) != 0)
				continue;
			found = true;
			if (d[k].id != e->node || S_ISDIR(d[k].mode) != (e->type == T_DIR))
				fail("entry %d of version %lld: id %lld/%lld, mode %o", c,
				     (long long)v->vid, (long long)d[k].id, (long long)e->node,
				     d[k].mode);
		}
		if (!found)
			fail("entry %d (%s) of version %lld missing in listing", c, leaf[i],
			     (long long)v->vid);
	}
	if (n != want)
		fail("dir %d of version %lld lists %zu entries, model %zu", p, (long long)v->vid, n,
		     want);
	store_dirents_free(d, n);
}

static void check_version(int vi)
{
	const struct mver *v = &M.ver[vi];
	char what[96];

	if (v->root_fo >= 0) {
		snprintf(what, sizeof(what), "root file of version %lld", (long long)v->vid);
		check_file_node(v->root, v->root_fo, what);
		return;
	}
	check_dir(v, v->root, -1);
	for (int p = 0; p < NPATH; p++) {
		const struct ment *e = &v->e[p];

		if (e->type == T_DIR && (p == 2 || p == 3))
			check_dir(v, e->node, p);
		if (e->type == T_FILE) {
			struct store_node n;
			int rc = store_node_lookup(M.st, parent_node(v, p), path_leaf(p), &n);

			if (rc < 0 || n.id != e->node)
				fail("lookup of path %d in version %lld: rc %d id %lld, model %lld",
				     p, (long long)v->vid, rc, (long long)(rc < 0 ? 0 : n.id),
				     (long long)e->node);
			snprintf(what, sizeof(what), "file %d (node %lld) of version %lld", p,
				 (long long)e->node, (long long)v->vid);
			check_file_node(e->node, e->fo, what);
		}
	}
}

static void check_latest(void)
{
	int64_t id = 0, ver = 0, best = -1;
	int bi = -1, rc;

	for (int i = 0; i < NCK; i++) {
		const struct mck *c = &M.ck[i];

		if (c->live && c->state == CKPT_COMMITTED && !c->withdrawn && c->seq > best) {
			best = c->seq;
			bi = i;
		}
	}
	rc = store_resolve_latest(M.st, &id, &ver);
	if (bi < 0) {
		if (rc != -ENOENT)
			fail("latest: model has none, store says rc %d id %lld", rc, (long long)id);
		return;
	}
	if (rc < 0)
		fail("latest: model says %s, store rc %d", ck_names[bi], rc);
	if (id != M.ck[bi].id || ver != M.ver[M.ck[bi].cver].vid)
		fail("latest: store id %lld version %lld, model %s id %lld version %lld",
		     (long long)id, (long long)ver, ck_names[bi], (long long)M.ck[bi].id,
		     (long long)M.ver[M.ck[bi].cver].vid);
}

/* best_<metric>: the value, then a step before none, lower step, earlier commit */
static void check_best(void)
{
	for (int m = 0; m < 2; m++) {
		int64_t id = 0, ver = 0;
		int bi = -1, rc;

		for (int i = 0; i < NCK; i++) {
			const struct mck *c = &M.ck[i], *b = bi >= 0 ? &M.ck[bi] : NULL;

			if (!c->live || c->state != CKPT_COMMITTED || c->withdrawn || !c->has_m[m])
				continue;
			if (b) {
				double dv = m == 0 ? c->mval[m] - b->mval[m]
						   : b->mval[m] - c->mval[m];

				if (dv > 0)
					continue;
				if (dv == 0) {
					/* equal steps only when both have one: the same 7 */
					if (b->has_step && !c->has_step)
						continue;
					if (b->has_step == c->has_step && b->seq < c->seq)
						continue;
				}
			}
			bi = i;
		}
		rc = store_resolve_best(M.st, metric_names[m], 0, &id, &ver);
		if (bi < 0) {
			if (rc != -ENOENT)
				fail("best_%s: model has none, store rc %d id %lld",
				     metric_names[m], rc, (long long)id);
			continue;
		}
		if (rc < 0 || id != M.ck[bi].id || ver != M.ver[M.ck[bi].cver].vid)
			fail("best_%s: store rc %d id %lld version %lld, model %s id %lld version %lld",
			     metric_names[m], rc, (long long)id, (long long)ver, ck_names[bi],
			     (long long)M.ck[bi].id, (long long)M.ver[M.ck[bi].cver].vid);
	}
}

static void check_info(int s)
{
	struct ckpt_info ci;
	const struct mck *c = &M.ck[s];
	int rc = store_ckpt_lookup(M.st, ck_names[s], &ci);

	if (!c->live) {
		if (rc != -ENOENT)
			fail("lookup %s: model has none, rc %d", ck_names[s], rc);
		if (rc == 0)
			ckpt_info_release(&ci);
		return;
	}
	if (rc < 0)
		fail("lookup %s: rc %d", ck_names[s], rc);
	if (ci.id != c->id || ci.state != c->state || ci.kind != c->kind ||
	    ci.withdrawn != c->withdrawn ||
	    (c->state == CKPT_COMMITTED && ci.has_step != c->has_step) ||
	    ci.committed_version != (c->cver >= 0 ? M.ver[c->cver].vid : 0) ||
	    ci.staging_version != (c->sver >= 0 ? M.ver[c->sver].vid : 0))
		fail("info %s: id %lld/%lld state %d/%d withdrawn %d/%d cv %lld sv %lld",
		     ck_names[s], (long long)ci.id, (long long)c->id, ci.state, c->state,
		     ci.withdrawn, c->withdrawn, (long long)ci.committed_version,
		     (long long)ci.staging_version);
	ckpt_info_release(&ci);
}

static void check_all(void)
{
	for (int s = 0; s < NCK; s++) {
		check_info(s);
		if (!M.ck[s].live)
			continue;
		if (M.ck[s].cver >= 0)
			check_version(M.ck[s].cver);
		if (M.ck[s].sver >= 0)
			check_version(M.ck[s].sver);
	}
	check_latest();
	check_best();
}

/* ---- checkpoint operations ---- */

static void ck_drop_versions(struct mck *c, int state)
{
	if (c->cver >= 0)
		M.ver[c->cver].state = state;
	if (c->sver >= 0)
		M.ver[c->sver].state = state == V_DEAD ? V_UNLINKED : state;
}

static void op_create(void)
{
	int s = u8() % NCK, kind = u8() & 1;
	struct mck *c = &M.ck[s];
	int64_t id = 0, root = 0;
	int rc = store_ckpt_create(M.st, ck_names[s], kind, kind ? 0644 : 0755, &id, &root);

	expect(!c->live, rc, "ckpt_create");
	if (rc < 0)
		return;
	memset(c, 0, sizeof(*c));
	c->live = true;
	c->id = id;
	c->kind = kind;
	c->state = CKPT_STAGING;
	c->cver = -1;
	c->sver = ver_new(0, V_STAGING, root);
	{
		struct store_node rn;

		rc = store_node_get(M.st, root, &rn);
		if (rc < 0)
			fail("root node of new checkpoint: %d", rc);
		M.ver[c->sver].vid = rn.version;
	}
	if (kind == CKPT_FILE) {
		M.ver[c->sver].root_fo = fo_new(c->sver, NULL);
		if (M.ver[c->sver].root_fo < 0)
			abort();
	}
}

static void model_commit(struct mck *c, const char *name)
{
	c->has_step = strcmp(name, "step-7") == 0;
	if (c->cver >= 0)
		M.ver[c->cver].state = V_DEAD;
	c->cver = c->sver;
	c->sver = -1;
	M.ver[c->cver].state = V_COMMITTED;
	c->state = CKPT_COMMITTED;
	c->seq = ++M.seq;
	c->withdrawn = false;
}

static void op_commit(void)
{
	int s = u8() % NCK;
	struct mck *c = &M.ck[s];
	int rc;

	if (!c->live)
		return;
	rc = store_ckpt_commit(M.st, c->id);
	expect(true, rc, "ckpt_commit");
	if (c->sver >= 0)
		model_commit(c, ck_names[s]);
	check_info(s);
}

static void op_abort(void)
{
	int s = u8() % NCK;
	struct mck *c = &M.ck[s];
	int rc;

	if (!c->live)
		return;
	rc = store_ckpt_abort(M.st, c->id, "fuzz");
	expect(c->sver >= 0, rc, "ckpt_abort");
	if (rc < 0)
		return;
	M.ver[c->sver].state = V_ABORTED;
	c->sver = -1;
	if (c->state == CKPT_STAGING)
		c->live = false;
	check_info(s);
}

static void op_delete(void)
{
	int s = u8() % NCK;
	struct mck *c = &M.ck[s];
	int rc;

	if (!c->live)
		return;
	rc = store_ckpt_delete(M.st, c->id, NULL);
	expect(true, rc, "ckpt_delete");
	ck_drop_versions(c, V_DEAD);
	c->live = false;
	check_info(s);
}

static void op_begin_version(void)
{
	int s = u8() % NCK;
	struct mck *c = &M.ck[s];
	struct mver *src, *dst;
	int64_t vid = 0;
	int rc, vi;

	if (!c->live)
		return;
	if (c->sver < 0 && M.model_bytes > 96u * MIB)
		return; /* keep the model's memory bounded */
	if (c->sver < 0 && M.n_fo + NPATH + 1 > NFO)
		return;
	rc = store_ckpt_begin_version(M.st, c->id, &vid);
	expect(true, rc, "begin_version");
	if (c->sver >= 0) {
		if (vid != M.ver[c->sver].vid)
			fail("begin_version returned %lld, existing staging %lld", (long long)vid,
			     (long long)M.ver[c->sver].vid);
		return;
	}
	{
		struct store_node rn;

		rc = store_version_root(M.st, vid, &rn);
		if (rc < 0)
			fail("root of new version %lld: %d", (long long)vid, rc);
		vi = ver_new(vid, V_STAGING, rn.id);
	}
	src = &M.ver[c->cver];
	dst = &M.ver[vi];
	if (src->root_fo >= 0) {
		dst->root_fo = fo_new(vi, &M.fo[src->root_fo]);
	} else {
		/* parents first: root level, then d/, e/ */
		for (int p = 0; p < NPATH; p++) {
			struct store_node n;

			if (src->e[p].type == T_NONE)
				continue;
			rc = store_node_lookup(M.st, parent_node(dst, p), path_leaf(p), &n);
			if (rc < 0)
				fail("copied version %lld lacks path %d: %d", (long long)vid, p,
				     rc);
			if (n.id == src->e[p].node)
				fail("copied version shares node id %lld", (long long)n.id);
			dst->e[p].type = src->e[p].type;
			dst->e[p].node = n.id;
			dst->e[p].fo = -1;
			if (src->e[p].type == T_FILE)
				dst->e[p].fo = fo_new(vi, &M.fo[src->e[p].fo]);
		}
	}
	c->sver = vi;
	check_info(s);
}

static void op_set_metric(void)
{
	int s = u8() % NCK, m = u8();
	struct mck *c = &M.ck[s];
	int rc;

	if (!c->live)
		return;
	rc = store_ckpt_set_metric(M.st, c->id, metric_names[m & 1], (double)((m >> 1) % 4) / 4.0);
	expect(true, rc, "set_metric");
	c->has_m[m & 1] = true;
	c->mval[m & 1] = (double)((m >> 1) % 4) / 4.0;
}

static void op_ck_rename(void)
{
	int a = u8() % NCK, b = u8() % NCK, fl = u8() % 4, rc;
	int flags = (fl & 1 ? STORE_RENAME_NOREPLACE : 0) | (fl & 2 ? STORE_RENAME_COMMIT : 0);
	struct mck *ca = &M.ck[a], *cb = &M.ck[b];
	bool commit, ok;

	if (!ca->live)
		return;
	commit = (flags & STORE_RENAME_COMMIT) && ca->sver >= 0;
	ok = a == b || !cb->live || !(flags & STORE_RENAME_NOREPLACE);
	rc = store_ckpt_rename(M.st, ca->id, ck_names[b], flags);
	expect(ok, rc, "ckpt_rename");
	if (rc < 0)
		return;
	if (commit)
		model_commit(ca, ck_names[b]);
	if (a != b) {
		if (cb->live)
			ck_drop_versions(cb, V_DEAD);
		*cb = *ca;
		ca->live = false;
	}
	check_info(a);
	check_info(b);
}

static void close_handle(int h)
{
	int rc;

	if (!M.h[h].f)
		return;
	rc = store_file_close(M.h[h].f);
	expect(true, rc, "file_close");
	M.h[h].f = NULL;
}

static void op_reopen(void)
{
	char err[256] = "";
	int rc;

	for (int h = 0; h < NH; h++)
		close_handle(h);
	store_close(M.st);
	M.st = NULL;
	rc = store_open(M.dir, 0, &M.st, err, sizeof(err));
	if (rc < 0)
		fail("reopen: %d %s", rc, err);
	for (int s = 0; s < NCK; s++) {
		struct mck *c = &M.ck[s];

		if (!c->live || c->sver < 0)
			continue;
		M.ver[c->sver].state = V_ABORTED;
		c->sver = -1;
		if (c->state == CKPT_STAGING)
			c->live = false;
	}
	check_all();
}

static void op_gc(void)
{
	uint64_t freed = 0;
	int rc = store_gc(M.st, u8() & 1, &freed);

	expect(true, rc, "gc");
}

/* ---- tree operations in a checkpoint's current version ---- */

static struct mver *pick_dir_version(struct mck **cp)
{
	int s = u8() % NCK;
	struct mck *c = &M.ck[s];

	*cp = c;
	if (!c->live || c->kind != CKPT_DIR)
		return NULL;
	return &M.ver[cur_ver(c)];
}

static void op_mknod(bool dir)
{
	struct mck *c;
	struct mver *v = pick_dir_version(&c);
	int p = u8() % NPATH, rc, vi;
	struct store_node n;
	int64_t parent;

	if (!v)
		return;
	parent = parent_node(v, p);
	if (!parent)
		return;
	if (!dir && M.n_fo >= NFO)
		return;
	vi = (int)(v - M.ver);
	if (dir)
		rc = store_node_mkdir(M.st, parent, path_leaf(p), 0755, &n);
	else
		rc = store_node_create(M.st, parent, path_leaf(p), 0644, &n);
	expect(v->state == V_STAGING && v->e[p].type == T_NONE, rc, dir ? "mkdir" : "create");
	if (rc < 0)
		return;
	v->e[p].type = dir ? T_DIR : T_FILE;
	v->e[p].node = n.id;
	v->e[p].fo = dir ? -1 : fo_new(vi, NULL);
}

static void op_remove(void)
{
	struct mck *c;
	struct mver *v = pick_dir_version(&c);
	int p = u8() % NPATH, rc;
	int64_t parent;
	bool ok;

	if (!v)
		return;
	parent = parent_node(v, p);
	if (!parent)
		return;
	if (v->e[p].type == T_DIR) {
		rc = store_node_rmdir(M.st, parent, path_leaf(p));
		ok = !dir_has_children(v, p);
	} else {
		rc = store_node_unlink(M.st, parent, path_leaf(p));
		ok = v->e[p].type == T_FILE;
	}
	expect(ok, rc, "unlink/rmdir");
	if (rc < 0)
		return;
	v->e[p].type = T_NONE;
	if (v->state == V_COMMITTED)
		c->withdrawn = true;
}

static void op_rename(void)
{
	struct mck *c;
	struct mver *v = pick_dir_version(&c);
	int p = u8() % NPATH, q = u8() % NPATH, rc;
	int64_t sp, dp;
	bool ok;

	if (!v)
		return;
	sp = parent_node(v, p);
	dp = parent_node(v, q);
	if (!sp || !dp)
		return;
	/* a directory with entries moves only to the root level (paths stay
	 * two levels deep): to "d" or "e" */
	if (v->e[p].type == T_DIR && dir_has_children(v, p) && p != q && q != 2 && q != 3 &&
	    path_parent(q) != p)
		return;
	ok = v->state == V_STAGING && v->e[p].type != T_NONE;
	if (ok && v->e[p].type == T_DIR && path_parent(q) == p)
		ok = false; /* below itself */
	if (ok && p != q && v->e[q].type != T_NONE) {
		if (v->e[q].type != v->e[p].type)
			ok = false;
		else if (v->e[q].type == T_DIR && dir_has_children(v, q))
			ok = false;
	}
	rc = store_node_rename(M.st, sp, path_leaf(p), dp, path_leaf(q), 0);
	expect(ok, rc, "rename");
	if (rc < 0 || p == q)
		return;
	v->e[q] = v->e[p];
	v->e[p].type = T_NONE;
	if (v->e[q].type == T_DIR && (p == 2 || p == 3)) {
		for (int i = 0; i < 4; i++) {
			int from = path_child(p, i);

			if (q == 2 || q == 3) {
				v->e[path_child(q, i)] = v->e[from];
				v->e[from].type = T_NONE;
			}
		}
	}
}

static void op_setattr_size(void)
{
	struct mck *c;
	struct mver *v = pick_dir_version(&c);
	int p = u8() % NPATH, rc;
	uint8_t a = u8(), b = u8();
	uint64_t size = (uint64_t)(a % 6) * MIB + (uint64_t)(int8_t)b;

	if (!v || v->e[p].type == T_NONE)
		return;
	if (size > MAX_FILE)
		size = b;
	rc = store_node_setattr(M.st, v->e[p].node, STORE_SET_SIZE, 0, size, 0, 0, NULL);
	expect(v->state == V_STAGING && v->e[p].type == T_FILE, rc, "setattr size");
	if (rc < 0)
		return;
	fo_resize(&M.fo[v->e[p].fo], size);
}

/* ---- handles ---- */

static void op_open(void)
{
	int h = u8() % NH, s = u8() % NCK, sel = u8(), fsel = u8() % 4, rc, vi, fo;
	static const int fl[4] = { STORE_F_READ, STORE_F_WRITE, STORE_F_READ | STORE_F_WRITE,
				   STORE_F_WRITE | STORE_F_TRUNC };
	struct mck *c = &M.ck[s];
	struct mver *v;
	int64_t node;
	bool write = fsel != 0;

	if (!c->live)
		return;
	close_handle(h);
	/* bit 7: the committed version even when a staging one exists */
	vi = (sel & 0x80) && c->cver >= 0 ? c->cver : cur_ver(c);
	v = &M.ver[vi];
	if (c->kind == CKPT_FILE) {
		node = v->root;
		fo = v->root_fo;
	} else {
		int p = sel % (NPATH + 1);

		if (p == NPATH) {
			node = v->root; /* a directory: refused */
			fo = -1;
		} else {
			if (v->e[p].type == T_NONE)
				return;
			node = v->e[p].node;
			fo = v->e[p].type == T_FILE ? v->e[p].fo : -1;
		}
	}
	rc = store_file_open(M.st, node, fl[fsel], &M.h[h].f);
	expect(fo >= 0 && (!write || v->state == V_STAGING), rc, "file_open");
	if (rc < 0) {
		M.h[h].f = NULL;
		return;
	}
	M.h[h].fo = fo;
	M.h[h].flags = fl[fsel];
	if (fl[fsel] & STORE_F_TRUNC)
		fo_resize(&M.fo[fo], 0);
}

static uint64_t pick_off(const struct fobj *f)
{
	uint8_t a = u8(), b = u8();
	uint64_t k = a % 6, small = b % 8;

	switch ((a >> 3) & 3) {
	case 0:
		return k * MIB + small;
	case 1:
		return k * MIB >= small ? k * MIB - small : 0;
	case 2:
		return f->size + small;
	default:
		return (uint64_t)b * 4099u;
	}
}

static size_t pick_len(void)
{
	static const size_t lens[] = { 1,   3,	     100,	  4096,	       65537,	MIB - 1,
				       MIB, MIB + 1, 2 * MIB - 1, 2 * MIB + 5, 3 * MIB, 17 };
	uint8_t a = u8();
	size_t l = lens[a % 12];

	if (l > 16 && (a & 0x80))
		l -= (a >> 4) & 7;
	return l;
}

static void op_write(void)
{
	int h = u8() % NH;
	struct mh *mh = &M.h[h];
	struct fobj *f;
	uint64_t off;
	size_t len;
	uint8_t seed;
	uint8_t *buf;
	ssize_t n;
	bool ok;

	if (!mh->f)
		return;
	f = &M.fo[mh->fo];
	off = pick_off(f);
	len = pick_len();
	seed = u8();
	if (off >= MAX_FILE)
		off %= MAX_FILE;
	if (off + len > MAX_FILE)
		len = MAX_FILE - off;
	if (M.written + len > MAX_WRITTEN)
		len = MAX_WRITTEN - M.written;
	if (!len)
		return;
	buf = malloc(len);
	if (!buf)
		abort();
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(seed, i);
	if (off == 0 && len >= 9 && (seed & 3) == 0) {
		/* a safetensors-like start: the store anchors its chunk grid at
		 * 8 + N, anywhere inside the first 1 MiB */
		uint64_t hn = 2 + (uint64_t)seed * 4111u % (1u << 20);

		for (int i = 0; i < 8; i++)
			buf[i] = (uint8_t)(hn >> (8 * i));
		buf[8] = '{';
	}
	n = store_file_write(mh->f, buf, len, off);
	ok = (mh->flags & STORE_F_WRITE) && fo_writable(mh->fo);
	expect(ok, n, "file_write");
	if (n >= 0) {
		if ((size_t)n != len)
			fail("write returned %zd of %zu", n, len);
		M.written += len;
		if (off + len > f->size)
			fo_resize(f, off + len);
		memcpy(f->data + off, buf, len);
	}
	free(buf);
}

static void op_read(void)
{
	int h = u8() % NH;
	struct mh *mh = &M.h[h];
	struct fobj *f;
	uint64_t off;
	size_t len, want;
	uint8_t *buf;
	ssize_t n;

	if (!mh->f)
		return;
	f = &M.fo[mh->fo];
	off = pick_off(f);
	len = pick_len();
	buf = malloc(len);
	if (!buf)
		abort();
	n = store_file_read(mh->f, buf, len, off);
	want = off >= f->size ? 0 : f->size - off < len ? f->size - off : len;
	if (n < 0 || (size_t)n != want)
		fail("read %zu at %llu: got %zd, model %zu (size %zu)", len,
		     (unsigned long long)off, n, want, f->size);
	if (want && memcmp(buf, f->data + off, want) != 0) {
		size_t i = 0;

		while (buf[i] == f->data[off + i])
			i++;
		fail("read %zu at %llu: differs at file offset %llu: got %02x, model %02x", len,
		     (unsigned long long)off, (unsigned long long)(off + i), buf[i],
		     f->data[off + i]);
	}
	free(buf);
}

static void op_truncate(void)
{
	int h = u8() % NH, rc;
	struct mh *mh = &M.h[h];
	uint8_t a = u8(), b = u8();
	uint64_t size;

	if (!mh->f)
		return;
	switch (a & 3) {
	case 0:
		size = (uint64_t)(a >> 2) % 6 * MIB + b % 8;
		break;
	case 1:
		size = (uint64_t)(a >> 2) % 6 * MIB - (b % 8 < (a >> 2) % 6 * MIB ? b % 8 : 0);
		break;
	case 2:
		size = M.fo[mh->fo].size / (b % 4 + 1);
		break;
	default:
		size = (uint64_t)b * 997u;
		break;
	}
	if (size > MAX_FILE)
		size = MAX_FILE;
	rc = store_file_truncate(mh->f, size);
	expect((mh->flags & STORE_F_WRITE) && fo_writable(mh->fo), rc, "file_truncate");
	if (rc == 0)
		fo_resize(&M.fo[mh->fo], size);
}

static void op_flush(void)
{
	int h = u8() % NH, rc;

	if (!M.h[h].f)
		return;
	rc = store_file_flush(M.h[h].f);
	expect(true, rc, "file_flush");
	if (store_file_size(M.h[h].f) != M.fo[M.h[h].fo].size)
		fail("size after flush %llu, model %zu",
		     (unsigned long long)store_file_size(M.h[h].f), M.fo[M.h[h].fo].size);
}

static void op_check_handle(void)
{
	int h = u8() % NH;

	if (!M.h[h].f)
		return;
	check_content(M.h[h].f, &M.fo[M.h[h].fo], "handle re-read");
}

static void op_check_ck(void)
{
	int s = u8() % NCK;

	check_info(s);
	if (!M.ck[s].live)
		return;
	if (M.ck[s].cver >= 0)
		check_version(M.ck[s].cver);
	if (M.ck[s].sver >= 0)
		check_version(M.ck[s].sver);
}

/* ---- driver ---- */

static void verify_report(void *ctx, const char *problem)
{
	(void)ctx;
	fprintf(stderr, "fuzz_store: verify: %s\n", problem);
}

static int rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup_base(void)
{
	if (base_dir[0])
		rm_rf(base_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("FUZZ_STORE_TMP");
	struct stat sb;

	(void)argc;
	(void)argv;
	trace = getenv("FUZZ_STORE_TRACE") != NULL;
	if (!tmp)
		tmp = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
	snprintf(base_dir, sizeof(base_dir), "%s/ckpt-fuzz-store.%d", tmp, (int)getpid());
	if (mkdir(base_dir, 0700) < 0 && errno != EEXIST) {
		perror(base_dir);
		exit(1);
	}
	atexit(cleanup_base);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256] = "";
	int rc;

	memset(&M, 0, sizeof(M));
	M.in = data;
	M.in_len = size;
	for (int i = 0; i < NCK; i++)
		M.ck[i].cver = M.ck[i].sver = -1;
	snprintf(M.dir, sizeof(M.dir), "%s/s", base_dir);
	rm_rf(M.dir);
	rc = store_open(M.dir, 0, &M.st, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "store_open %s: %d %s\n", M.dir, rc, err);
		abort();
	}
	for (M.op_no = 0; M.op_no < MAX_OPS && M.pos < M.in_len; M.op_no++) {
		switch (u8() % 24) {
		case 0:
		case 1:
			op_create();
			break;
		case 2:
			op_mknod(false);
			break;
		case 3:
			op_mknod(true);
			break;
		case 4:
			op_remove();
			break;
		case 5:
			op_rename();
			break;
		case 6:
		case 7:
			op_open();
			break;
		case 8:
		case 9:
		case 10:
			op_write();
			break;
		case 11:
			op_read();
			break;
		case 12:
			op_truncate();
			break;
		case 13:
			op_flush();
			break;
		case 14:
			close_handle(u8() % NH);
			break;
		case 15:
			op_commit();
			break;
		case 16:
			op_abort();
			break;
		case 17:
			op_delete();
			break;
		case 18:
			op_begin_version();
			break;
		case 19:
			op_set_metric();
			break;
		case 20:
			op_check_handle();
			break;
		case 21:
			op_ck_rename();
			break;
		case 22:
			op_setattr_size();
			break;
		default:
			switch (u8() % 4) {
			case 0:
				op_gc();
				break;
			case 1:
				op_reopen();
				break;
			default:
				op_check_ck();
				break;
			}
		}
		check_latest(); /* a few indexed queries: after every operation */
		check_best();
	}
	check_all();
	for (int h = 0; h < NH; h++)
		if (M.h[h].f)
			check_content(M.h[h].f, &M.fo[M.h[h].fo], "handle at end");
	for (int h = 0; h < NH; h++)
		close_handle(h);
	check_all();
	/* with no handle open and gc run, the index and the chunk files agree */
	rc = store_gc(M.st, false, NULL);
	expect(true, rc, "final gc");
	rc = store_verify(M.st, verify_report, NULL, NULL);
	if (rc != 0)
		fail("store_verify: %d (problems above)", rc);
	check_all();
	store_close(M.st);
	M.st = NULL;
	for (int i = 0; i < M.n_fo; i++)
		free(M.fo[i].data);
	rm_rf(M.dir);
	return 0;
}
