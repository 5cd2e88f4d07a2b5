/* Lifecycle (issue #17): the trash (listing, undelete, purge), what
 * deleting frees (exact stored bytes), and space-aware admission of new
 * checkpoints (max_bytes, min_free). The top of the core's layers beside
 * store.c: it runs retention and gc (store_gc.c) and reads rows through the
 * index. Trashed checkpoints keep their committed version and its chunk
 * references, so nothing here copies data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "store_int.h"
#include "util.h"

/* ---- the trash ---- */

struct trash_list {
	struct ckpt_info *arr;
	size_t n, cap;
};

static int trash_add(void *ctx, struct ckpt_info *ci)
{
	struct trash_list *l = ctx;
	int rc = UTIL_GROW(l->arr, l->cap, l->n, SIZE_MAX);

	if (rc < 0) {
		ckpt_info_release(ci);
		return rc;
	}
	l->arr[l->n++] = *ci;
	return 0;
}

/* NAME for the newest trashed checkpoint of a name, NAME~2, NAME~3 for
 * older ones (arr is oldest first), as aborted ones are shown. */
static int trash_display_names(struct ckpt_info *arr, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		long long rank = 1;
		char *dn;

		for (j = i + 1; j < n; j++)
			rank += strcmp(arr[i].name, arr[j].name) == 0;
		if (rank == 1)
			continue;
		if (asprintf(&dn, "%s~%lld", arr[i].name, rank) < 0)
			return -ENOMEM;
		free(arr[i].name);
		arr[i].name = dn;
	}
	return 0;
}

int store_trash_list(struct store *st, struct ckpt_info **out, size_t *n)
{
	struct trash_list l = { 0 };
	int rc;

	store_mu_lock(st);
	rc = index_ckpt_trashed(st->ix, trash_add, &l);
	store_mu_unlock(st);
	if (rc == 0)
		rc = trash_display_names(l.arr, l.n);
	if (rc < 0) {
		ckpt_info_free_array(l.arr, l.n);
		return rc;
	}
	*out = l.arr;
	*n = l.n;
	return 0;
}

int store_trash_lookup(struct store *st, const char *display_name, struct ckpt_info *out)
{
	struct ckpt_info *arr;
	size_t n, i;
	int64_t id = 0;
	int rc = store_trash_list(st, &arr, &n);

	if (rc < 0)
		return rc;
	for (i = 0; i < n && !id; i++)
		if (strcmp(arr[i].name, display_name) == 0)
			id = arr[i].id;
	ckpt_info_free_array(arr, n);
	if (!id)
		return -ENOENT;
	rc = store_ckpt_get(st, id, out);
	if (rc == 0 && out->state != CKPT_TRASHED) { /* purged or restored meanwhile */
		ckpt_info_release(out);
		rc = -ENOENT;
	}
	return rc;
}

static int undelete_locked(struct store *st, int64_t id, const char *name)
{
	int64_t other;
	int rc = index_ckpt_live_id(st->ix, name, &other);

	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	rc = index_tx_begin(st->ix);
	if (rc < 0)
		return rc;
	rc = index_ckpt_set_state(st->ix, id, CKPT_COMMITTED, 0, NULL);
	if (rc == 0)
		rc = index_metric_update_eligible(st->ix, id);
	if (rc == 0)
		rc = store_event_add(st, "undelete", name, NULL);
	return index_tx_end(st->ix, rc);
}

int store_undelete(struct store *st, const char *display_name, int64_t *id)
{
	struct ckpt_info ci;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	rc = store_trash_lookup(st, display_name, &ci);
	if (rc < 0)
		return rc;
	store_mu_lock(st);
	rc = undelete_locked(st, ci.id, ci.name);
	store_mu_unlock(st);
	if (rc == 0 && id)
		*id = ci.id;
	ckpt_info_release(&ci);
	return rc;
}

int store_trash_purge(struct store *st, int64_t id, const char *why)
{
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	store_mu_lock(st);
	rc = index_tx_begin(st->ix);
	if (rc == 0)
		rc = index_tx_end(st->ix, store_ckpt_purge_locked(st, id, why));
	store_mu_unlock(st);
	if (rc == 0)
		store_gc(st, false, NULL);
	return rc;
}

/* ---- what deleting frees ---- */

static int count_refs_cb(void *ctx, const struct chunk_ref *refs, size_t n)
{
	return held_add_list(ctx, refs, n);
}

struct unref_bytes {
	struct store *st;
	uint64_t bytes;
};

static int unref_bytes_cb(void *ctx, const uint8_t *hash, int64_t refs)
{
	struct unref_bytes *u = ctx;
	int64_t r;
	uint32_t stored;
	int rc = index_chunk_get(u->st->ix, hash, &r, &stored);

	(void)refs;
	if (rc == 0)
		u->bytes += stored;
	return rc == -ENOENT ? 0 : rc;
}

/* The stored bytes of the chunks whose every reference is in versions vs
 * (distinct ids), plus with unref those no version references now: what gc
 * frees once those versions are purged (st->mu held). */
static int freed_by_locked(struct store *st, const int64_t *vs, size_t n, bool unref,
			   uint64_t *bytes)
{
	struct held_set counts = { 0 };
	struct unref_bytes u = { .st = st };
	size_t i;
	int rc = 0;

	store_assert_mu_held(st);
	for (i = 0; rc == 0 && i < n; i++)
		rc = index_version_chunk_refs(st->ix, vs[i], count_refs_cb, &counts);
	for (i = 0; rc == 0 && i < counts.cap; i++) {
		const struct held_ent *e = &counts.tab[i];
		int64_t refs;
		uint32_t stored;

		if (!e->count)
			continue;
		rc = index_chunk_get(st->ix, e->hash, &refs, &stored);
		if (rc == 0 && refs == (int64_t)e->count)
			u.bytes += stored;
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc == 0 && unref)
		rc = index_chunks_unreferenced(st->ix, unref_bytes_cb, &u);
	held_free(&counts);
	*bytes = u.bytes;
	return rc;
}

/* A growing list of distinct version ids. */
struct vlist {
	int64_t *v;
	size_t n, cap;
};

static int vlist_add(struct vlist *l, int64_t v)
{
	size_t i;

	if (!v)
		return 0;
	for (i = 0; i < l->n; i++)
		if (l->v[i] == v)
			return 0;
	if (UTIL_GROW(l->v, l->cap, l->n, SIZE_MAX) < 0)
		return -ENOMEM;
	l->v[l->n++] = v;
	return 0;
}

/* The versions a checkpoint's row holds (shown, committed, staging). */
static int vlist_add_ckpt(struct vlist *l, const struct ckpt_info *ci)
{
	int rc = vlist_add(l, ci->version);

	if (rc == 0)
		rc = vlist_add(l, ci->committed_version);
	if (rc == 0)
		rc = vlist_add(l, ci->staging_version);
	return rc;
}

static int freed_by(struct store *st, struct vlist *l, bool unref, uint64_t *bytes)
{
	int rc;

	store_mu_lock(st);
	rc = freed_by_locked(st, l->v, l->n, unref, bytes);
	store_mu_unlock(st);
	free(l->v);
	return rc;
}

int store_ckpt_unique_bytes(struct store *st, const struct ckpt_info *ci, uint64_t *bytes)
{
	struct vlist l = { 0 };
	int rc = vlist_add_ckpt(&l, ci);

	if (rc < 0) {
		free(l.v);
		return rc;
	}
	return freed_by(st, &l, false, bytes);
}

/* Adds the versions of every listed row that keep(ci, ctx) picks. */
static int vlist_add_rows(struct vlist *l, const struct ckpt_info *arr, size_t n,
			  bool (*keep)(const struct ckpt_info *ci, int64_t arg), int64_t arg)
{
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < n; i++)
		if (keep(&arr[i], arg))
			rc = vlist_add_ckpt(l, &arr[i]);
	return rc;
}

static bool is_aborted(const struct ckpt_info *ci, int64_t arg)
{
	(void)arg;
	return ci->state == CKPT_ABORTED;
}

static bool trashed_before(const struct ckpt_info *ci, int64_t before)
{
	return ci->state == CKPT_TRASHED && ci->ended_at <= before;
}

/* Dead versions, aborted checkpoints and the trashed ones trashed at or
 * before `before` (INT64_MAX: all). */
static int vlist_reclaim(struct store *st, struct vlist *l, int64_t before)
{
	struct ckpt_info *arr = NULL;
	int64_t *dead = NULL;
	size_t n = 0, i;
	int rc;

	store_mu_lock(st);
	rc = index_version_dead_ids(st->ix, &dead, &n);
	store_mu_unlock(st);
	for (i = 0; rc == 0 && i < n; i++)
		rc = vlist_add(l, dead[i]);
	free(dead);
	if (rc == 0)
		rc = store_ckpt_list(st, STORE_LIST_ALL | STORE_LIST_NO_METRICS, &arr, &n);
	if (rc == 0)
		rc = vlist_add_rows(l, arr, n, is_aborted, 0);
	if (rc == 0)
		rc = vlist_add_rows(l, arr, n, trashed_before, before);
	ckpt_info_free_array(arr, n);
	return rc;
}

int store_reclaimable(struct store *st, uint64_t *bytes)
{
	struct vlist l = { 0 };
	int rc = vlist_reclaim(st, &l, INT64_MAX);

	if (rc < 0) {
		free(l.v);
		return rc;
	}
	return freed_by(st, &l, true, bytes);
}

int store_gc_would_free(struct store *st, uint64_t *bytes)
{
	struct retain_row *rows = NULL;
	struct vlist l = { 0 };
	struct policy p;
	size_t n = 0, i;
	int rc = store_policy_get(st, &p);

	if (rc == 0)
		rc = vlist_reclaim(st, &l, store_now() - (int64_t)p.trash_s);
	if (rc == 0 && !p.trash_s && !policy_retention_off(&p))
		rc = store_retain_plan(st, &rows, &n);
	for (i = 0; rc == 0 && i < n; i++) {
		struct ckpt_info ci;

		if (rows[i].keep)
			continue;
		rc = store_ckpt_get(st, rows[i].id, &ci);
		if (rc == 0) {
			rc = vlist_add_ckpt(&l, &ci);
			ckpt_info_release(&ci);
		}
	}
	retain_rows_free(rows, n);
	if (rc < 0) {
		free(l.v);
		return rc;
	}
	return freed_by(st, &l, true, bytes);
}

/* ---- admission: max_bytes, min_free ---- */

/* The shape of a name: a temporary name's marks dropped (tmp-X, X.tmp ...
 * are X), every run of digits one '#': checkpoint-200 and checkpoint-300
 * have one shape, model.safetensors another. */
static void name_shape(const char *name, char *out, size_t len)
{
	static const char *const pre[] = { "tmp-", "tmp_", "." };
	static const char *const suf[] = { ".tmp", ".temp", ".partial" };
	size_t nl = strlen(name), i, o = 0;
	const char *orbax = strstr(name, ".orbax-checkpoint-tmp-");

	if (orbax)
		nl = (size_t)(orbax - name);
	for (i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (!strncmp(name, pre[i], strlen(pre[i])) && nl > strlen(pre[i])) {
			name += strlen(pre[i]);
			nl -= strlen(pre[i]);
			break;
		}
	for (i = 0; i < sizeof(suf) / sizeof(suf[0]); i++)
		if (nl > strlen(suf[i]) &&
		    !strncmp(name + nl - strlen(suf[i]), suf[i], strlen(suf[i])))
			nl -= strlen(suf[i]);
	for (i = 0; i < nl && o + 1 < len; i++) {
		bool digit = name[i] >= '0' && name[i] <= '9';

		if (digit && o && out[o - 1] == '#')
			continue;
		out[o++] = digit ? '#' : name[i];
	}
	out[o] = 0;
}

struct predict_ctx {
	char shape[STORE_NAME_MAX + 1];
	int kind;
	uint64_t bytes;
	bool found;
};

/* Rows come in commit order: the last match is the newest. */
static int predict_cb(void *ctx, struct ckpt_info *ci)
{
	struct predict_ctx *p = ctx;
	char shape[STORE_NAME_MAX + 1];

	if (ci->state == CKPT_COMMITTED && ci->kind == p->kind) {
		name_shape(ci->name, shape, sizeof(shape));
		if (strcmp(shape, p->shape) == 0) {
			p->bytes = ci->stored_bytes;
			p->found = true;
		}
	}
	ckpt_info_release(ci);
	return 0;
}

/* Bytes a write may still add: under max_bytes and above min_free. */
static int space_available(struct store *st, const struct policy *p, uint64_t *avail)
{
	struct store_stats s;
	struct statvfs vfs;
	int rc = 0;

	*avail = UINT64_MAX;
	if (p->max_bytes) {
		uint64_t used;
		struct ofile *of;

		store_mu_lock(st);
		rc = index_stats_get(st->ix, &s);
		/* and what open files hold in their overlays: stored at flush */
		used = s.stored_bytes;
		for (of = st->files; of; of = of->next)
			used += __atomic_load_n(&of->n_dirty, __ATOMIC_RELAXED) *
				CHUNK_SIZE; /* an estimate */
		store_mu_unlock(st);
		if (rc < 0)
			return rc;
		*avail = p->max_bytes > used ? p->max_bytes - used : 0;
	}
	if (p->min_free) {
		uint64_t fr;

		if (statvfs(st->dir, &vfs) < 0)
			return -errno;
		fr = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		fr = fr > p->min_free ? fr - p->min_free : 0;
		if (fr < *avail)
			*avail = fr;
	}
	return 0;
}

static int oldest_trashed_cb(void *ctx, struct ckpt_info *ci)
{
	*(int64_t *)ctx = ci->id;
	ckpt_info_release(ci);
	return 1; /* the first is the oldest */
}

/* One step of making room: purge the oldest trashed checkpoint, else (once)
 * run retention (whose deletions go to the trash, purged next), else (once)
 * purge aborted checkpoints (the partial data of saves that failed). 0 when
 * something was done, -ENOSPC when nothing is left to try. */
static int make_room(struct store *st, int *stage, struct store_admit *out)
{
	int64_t id = 0;
	int rc;

	store_mu_lock(st);
	rc = index_ckpt_trashed(st->ix, oldest_trashed_cb, &id);
	store_mu_unlock(st);
	if (rc < 0)
		return rc;
	if (id) {
		rc = store_trash_purge(st, id, "space");
		out->purged += rc == 0;
		return rc;
	}
	switch ((*stage)++) {
	case 0:
		rc = store_retain_run(st, NULL, NULL);
		store_gc(st, false, NULL);
		return rc;
	case 1:
		return store_gc(st, true, NULL);
	default:
		return -ENOSPC;
	}
}

/* Makes room for out->predicted bytes under policy p. */
static int make_room_for(struct store *st, const struct policy *p, struct store_admit *out)
{
	int stage = 0, rc = 0;

	while (rc == 0) {
		rc = space_available(st, p, &out->available);
		if (rc < 0 || out->predicted <= out->available)
			return rc;
		rc = make_room(st, &stage, out);
	}
	return rc;
}

int store_make_room(struct store *st, uint64_t need, struct store_admit *out)
{
	struct policy p;
	int rc = store_policy_get(st, &p);

	memset(out, 0, sizeof(*out));
	out->predicted = need;
	if (rc < 0 || (!p.max_bytes && !p.min_free))
		return rc;
	return make_room_for(st, &p, out);
}

int store_admit(struct store *st, const char *name, int kind, struct store_admit *out)
{
	struct predict_ctx pc = { .kind = kind };
	struct policy p;
	int rc = store_policy_get(st, &p);

	memset(out, 0, sizeof(*out));
	if (rc < 0 || (!p.max_bytes && !p.min_free))
		return rc;
	name_shape(name, pc.shape, sizeof(pc.shape));
	store_mu_lock(st);
	rc = index_ckpt_foreach(st->ix, false, predict_cb, &pc);
	store_mu_unlock(st);
	out->predicted = pc.bytes;
	return rc < 0 ? rc : make_room_for(st, &p, out);
}

void store_admit_refused(struct store *st, const char *name, const struct store_admit *a)
{
	char why[128];

	snprintf(why, sizeof(why), "predicted %llu bytes, available %llu bytes",
		 (unsigned long long)a->predicted, (unsigned long long)a->available);
	store_note(st, "refused %s: %s (max_bytes/min_free)", name, why);
	store_event_log(st, "refuse", name, why);
}
