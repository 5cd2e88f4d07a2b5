/* Comparing two files by their chunk lists, then per tensor / zip entry
 * (`ckpt diff`). See store_diff.h. Reads only headers (format_items) and the
 * byte ranges the chunk lists cannot decide, through two DIFF_BUF buffers. */
#include "store_diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "index.h"
#include "store_int.h"

#define DIFF_BUF (1u << 20)

/* ---- chunk lists ----------------------------------------------------------- */

int diff_list_init(struct diff_list *l, const struct chunk_ref *refs, size_t n)
{
	l->refs = refs;
	l->n = n;
	l->offs = malloc((n + 1) * sizeof(*l->offs));
	if (!l->offs)
		return -ENOMEM;
	l->offs[0] = 0;
	for (size_t i = 0; i < n; i++)
		l->offs[i + 1] = l->offs[i] + refs[i].raw_len;
	return 0;
}

void diff_list_release(struct diff_list *l)
{
	free(l->offs);
	l->offs = NULL;
}

/* The chunk holding byte pos (< offs[n]): the last i with offs[i] <= pos and
 * a non-empty chunk. */
static size_t chunk_at(const struct diff_list *l, uint64_t pos)
{
	size_t lo = 0, hi = l->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->offs[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Verdict for the bytes where chunk ia of a and chunk ib of b overlap, in
 * ranges starting at oa / ob of length len. */
static int pair_verdict(const struct diff_list *a, size_t ia, uint64_t oa,
			const struct diff_list *b, size_t ib, uint64_t ob, uint64_t len)
{
	const struct chunk_ref *ra = &a->refs[ia], *rb = &b->refs[ib];
	bool placed = a->offs[ia] + ob == b->offs[ib] + oa && ra->raw_len == rb->raw_len;

	if (!placed)
		return DIFF_UNKNOWN;
	if (memcmp(ra->hash, rb->hash, CHUNK_HASH_LEN) == 0)
		return DIFF_SAME;
	/* Same place and length, other bytes: they differ inside the range
	 * only when the whole chunk is in it. */
	if (a->offs[ia] >= oa && a->offs[ia + 1] <= oa + len)
		return DIFF_CHANGED;
	return DIFF_UNKNOWN;
}

int diff_runs(const struct diff_list *a, uint64_t oa, const struct diff_list *b, uint64_t ob,
	      uint64_t len, diff_run_fn cb, void *ctx)
{
	uint64_t pos = 0, run_at = 0;
	int run = -1, r;
	size_t ia, ib;

	if (oa > a->offs[a->n] || len > a->offs[a->n] - oa || ob > b->offs[b->n] ||
	    len > b->offs[b->n] - ob)
		return -EINVAL;
	if (len == 0)
		return 0;
	ia = chunk_at(a, oa);
	ib = chunk_at(b, ob);
	while (pos < len) {
		uint64_t end = len;
		int v;

		while (a->offs[ia + 1] <= oa + pos)
			ia++;
		while (b->offs[ib + 1] <= ob + pos)
			ib++;
		if (a->offs[ia + 1] - oa < end)
			end = a->offs[ia + 1] - oa;
		if (b->offs[ib + 1] - ob < end)
			end = b->offs[ib + 1] - ob;
		v = pair_verdict(a, ia, oa, b, ib, ob, len);
		if (run >= 0 && run != v) {
			r = cb(ctx, run_at, pos - run_at, run);
			if (r)
				return r;
			run = -1;
		}
		if (run < 0) {
			run = v;
			run_at = pos;
		}
		pos = end;
	}
	return cb(ctx, run_at, len - run_at, run);
}

/* ---- files ----------------------------------------------------------------- */

const char *diff_status_name(int status)
{
	static const char *const names[] = { "same", "changed", "added", "removed" };

	return status >= 0 && status < 4 ? names[status] : "unknown";
}

void diff_file_release(struct diff_file *d)
{
	for (size_t i = 0; i < d->n_items; i++)
		free(d->items[i].name);
	free(d->items);
	memset(d, 0, sizeof(*d));
}

/* One side of a comparison: the node's chunk list, an open handle, items. */
struct diff_side {
	struct chunk_ref *refs;
	struct diff_list list;
	struct store_file *f;
	uint64_t size;
	struct item {
		char *name, *layout;
		uint64_t begin, end;
	} * items;
	size_t n_items, cap_items;
};

struct diff_run {
	struct diff_side *a, *b;
	uint64_t oa, ob;
	char *buf[2];
	struct diff_file *out;
	bool stop_at_change; /* items: the first difference decides */
};

static int side_open(struct store *st, int64_t id, struct diff_side *s)
{
	size_t n = 0;
	int r;

	store_mu_lock(st);
	r = index_node_chunks(st->ix, id, &s->refs, &n, &s->size);
	store_mu_unlock(st);
	if (r < 0)
		return r;
	r = diff_list_init(&s->list, s->refs, n);
	if (r < 0)
		return r;
	if (s->list.offs[n] != s->size)
		return -EIO; /* the index and the data disagree */
	return store_file_open(st, id, STORE_F_READ, &s->f);
}

static void side_release(struct diff_side *s)
{
	for (size_t i = 0; i < s->n_items; i++) {
		free(s->items[i].name);
		free(s->items[i].layout);
	}
	free(s->items);
	if (s->f)
		store_file_close(s->f);
	diff_list_release(&s->list);
	free(s->refs);
}

static int read_exact(struct store_file *f, void *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t got = store_file_read(f, buf, len, off);

		if (got < 0)
			return (int)got;
		if (got == 0)
			return -EIO; /* shorter than its index entry */
		buf = (char *)buf + got;
		len -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

/* 1 when bytes [oa, oa + len) of a and [ob, ob + len) of b differ, 0 when
 * not, or a negative errno. */
static int read_differs(struct diff_run *d, uint64_t oa, uint64_t ob, uint64_t len)
{
	while (len) {
		size_t n = len < DIFF_BUF ? (size_t)len : DIFF_BUF;
		int r = read_exact(d->a->f, d->buf[0], n, oa);

		if (r == 0)
			r = read_exact(d->b->f, d->buf[1], n, ob);
		if (r < 0)
			return r;
		d->out->bytes_read += 2 * (uint64_t)n;
		if (memcmp(d->buf[0], d->buf[1], n) != 0)
			return 1;
		oa += n, ob += n, len -= n;
	}
	return 0;
}

/* diff_runs callback: counts changed bytes; reads what the lists leave open.
 * For an item (stop_at_change) returns 1 at the first difference. */
static int run_cb(void *ctx, uint64_t off, uint64_t len, int verdict)
{
	struct diff_run *d = ctx;
	int r = verdict == DIFF_CHANGED;

	if (verdict == DIFF_UNKNOWN && (r = read_differs(d, d->oa + off, d->ob + off, len)) < 0)
		return r;
	if (r && !d->stop_at_change)
		d->out->changed_bytes += len;
	return d->stop_at_change ? r : 0;
}

static int item_cb(void *ctx, const struct format_item *it)
{
	struct diff_side *s = ctx;
	struct item *x;

	if (s->n_items == s->cap_items) {
		size_t cap = s->cap_items ? s->cap_items * 2 : 64;

		x = realloc(s->items, cap * sizeof(*x));
		if (!x)
			return -ENOMEM;
		s->items = x;
		s->cap_items = cap;
	}
	x = &s->items[s->n_items];
	*x = (struct item){ strdup(it->name), strdup(it->layout), it->begin, it->end };
	if (!x->name || !x->layout) {
		free(x->name);
		free(x->layout);
		return -ENOMEM;
	}
	s->n_items++;
	return 0;
}

static int item_name_cmp(const void *p, const void *q)
{
	const struct item *x = p, *y = q;
	int c = strcmp(x->name, y->name);

	return c ? c : x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int fmt_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return read_exact(ctx, buf, len, off);
}

/* Drops the one top directory every entry of a zip is under: torch.save
 * names it after the file ("epoch=3/data/0" in epoch=3.ckpt), so entries of
 * two checkpoints match by what follows. */
static void strip_zip_root(struct diff_side *s)
{
	const char *slash = s->n_items ? strchr(s->items[0].name, '/') : NULL;
	size_t len = slash ? (size_t)(slash - s->items[0].name) + 1 : 0;

	for (size_t i = 0; len && i < s->n_items; i++)
		if (strncmp(s->items[i].name, s->items[0].name, len) != 0 || !s->items[i].name[len])
			return;
	for (size_t i = 0; len && i < s->n_items; i++)
		memmove(s->items[i].name, s->items[i].name + len,
			strlen(s->items[i].name + len) + 1);
}

/* The side's items, sorted by name; FORMAT_* or a negative errno. A file
 * that fails its format check has no items (it is compared as bytes). */
static int side_items(struct diff_side *s, const char *path)
{
	int r = format_items(path, s->size, fmt_read, s->f, item_cb, s, NULL, 0);

	if (r == -EBADMSG)
		r = FORMAT_NONE;
	if (r == FORMAT_ZIP)
		strip_zip_root(s);
	if (r > FORMAT_NONE)
		qsort(s->items, s->n_items, sizeof(*s->items), item_name_cmp);
	return r;
}

static int add_item(struct diff_file *out, const char *name, int status)
{
	struct diff_item *x = realloc(out->items, (out->n_items + 1) * sizeof(*x));

	if (!x)
		return -ENOMEM;
	out->items = x;
	x[out->n_items].name = strdup(name);
	if (!x[out->n_items].name)
		return -ENOMEM;
	x[out->n_items++].status = status;
	return 0;
}

/* DIFF_ST_SAME or DIFF_ST_CHANGED for items x of a and y of b (same name). */
static int item_status(struct diff_run *d, const struct item *x, const struct item *y)
{
	int r;

	if (strcmp(x->layout, y->layout) != 0 || x->end - x->begin != y->end - y->begin)
		return DIFF_ST_CHANGED;
	d->oa = x->begin;
	d->ob = y->begin;
	d->stop_at_change = true;
	r = diff_runs(&d->a->list, x->begin, &d->b->list, y->begin, x->end - x->begin, run_cb, d);
	return r < 0 ? r : r ? DIFF_ST_CHANGED : DIFF_ST_SAME;
}

/* Merges the two sides' sorted items into out. */
static int compare_items(struct diff_run *d)
{
	struct diff_side *a = d->a, *b = d->b;
	size_t i = 0, j = 0;
	int r = 0;

	while (r >= 0 && (i < a->n_items || j < b->n_items)) {
		int c = i == a->n_items	  ? 1
			: j == b->n_items ? -1
					  : strcmp(a->items[i].name, b->items[j].name);

		if (c < 0) {
			r = add_item(d->out, a->items[i++].name, DIFF_ST_REMOVED);
		} else if (c > 0) {
			r = add_item(d->out, b->items[j++].name, DIFF_ST_ADDED);
		} else {
			r = item_status(d, &a->items[i], &b->items[j]);
			if (r == DIFF_ST_SAME)
				d->out->items_same++;
			else if (r > 0)
				r = add_item(d->out, a->items[i].name, r);
			i++, j++;
		}
	}
	return r < 0 ? r : 0;
}

int store_diff_file(struct store *st, int64_t a, const char *path_a, int64_t b, const char *path_b,
		    struct diff_file *out)
{
	struct diff_side sa = { 0 }, sb = { 0 };
	struct diff_run d = { .a = &sa, .b = &sb, .out = out };
	uint64_t common;
	int r, fa, fb;

	memset(out, 0, sizeof(*out));
	r = side_open(st, a, &sa);
	if (r == 0)
		r = side_open(st, b, &sb);
	d.buf[0] = r == 0 ? malloc(DIFF_BUF) : NULL;
	d.buf[1] = d.buf[0] ? malloc(DIFF_BUF) : NULL;
	if (r == 0 && !d.buf[1])
		r = -ENOMEM;
	if (r < 0)
		goto out_release;
	out->size_a = sa.size;
	out->size_b = sb.size;
	common = sa.size < sb.size ? sa.size : sb.size;
	r = diff_runs(&sa.list, 0, &sb.list, 0, common, run_cb, &d);
	if (r < 0)
		goto out_release;
	out->changed_bytes += (sa.size > sb.size ? sa.size : sb.size) - common;
	out->status = out->changed_bytes ? DIFF_ST_CHANGED : DIFF_ST_SAME;
	if (out->status == DIFF_ST_SAME)
		goto out_release;
	fa = side_items(&sa, path_a);
	fb = fa > FORMAT_NONE ? side_items(&sb, path_b) : FORMAT_NONE;
	r = fa < 0 ? fa : fb < 0 ? fb : 0;
	if (r == 0 && fa > FORMAT_NONE && fa == fb) {
		out->format = fa;
		r = compare_items(&d);
	}
out_release:
	free(d.buf[0]);
	free(d.buf[1]);
	side_release(&sa);
	side_release(&sb);
	if (r < 0)
		diff_file_release(out);
	return r;
}
