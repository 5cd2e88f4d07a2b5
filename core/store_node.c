/* The tree of one version: node rows, lookups, paths, copy-on-write
 * following, and tree changes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_int.h"
#include "util.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

void store_dirents_free(struct store_dirent *d, size_t n)
{
	size_t i;

	for (i = 0; d && i < n; i++)
		free(d[i].name);
	free(d);
}

int store_node_get(struct store *st, int64_t id, struct store_node *out)
{
	int rc;

	store_mu_lock(st);
	rc = store_node_get_locked(st, id, out);
	store_mu_unlock(st);
	return rc;
}

int store_version_root(struct store *st, int64_t version, struct store_node *out)
{
	struct index_node r;
	int rc;

	store_mu_lock(st);
	rc = store_node_shown(st, index_node_root(st->ix, version, &r), &r, out);
	store_mu_unlock(st);
	return rc;
}

static int lookup_locked(struct store *st, int64_t parent, const char *name, struct store_node *out)
{
	struct index_node r;

	store_assert_mu_held(st);
	return store_node_shown(st, index_node_lookup(st->ix, parent, name, &r), &r, out);
}

int store_node_lookup(struct store *st, int64_t parent, const char *name, struct store_node *out)
{
	struct store_node p;
	int rc;

	if (parent <= 0 || !name || !*name)
		return -ENOENT;
	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	store_mu_lock(st);
	rc = store_node_get_locked(st, parent, &p);
	if (rc == 0 && !S_ISDIR(p.mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = lookup_locked(st, parent, name, out);
	store_mu_unlock(st);
	return rc;
}

struct dirents {
	struct store_dirent *arr;
	size_t cnt, cap;
};

static int dirent_add(void *ctx, const struct store_dirent *e)
{
	struct dirents *d = ctx;
	int rc = UTIL_GROW(d->arr, d->cap, d->cnt, STORE_TREE_MAX);

	if (rc < 0)
		return rc;
	d->arr[d->cnt] = *e;
	d->arr[d->cnt].name = strdup(e->name);
	if (!d->arr[d->cnt].name)
		return -ENOMEM;
	d->cnt++;
	return 0;
}

int store_node_list(struct store *st, int64_t dir, struct store_dirent **out, size_t *n)
{
	struct store_node p;
	struct dirents d = { 0 };
	int rc;

	*out = NULL;
	*n = 0;
	store_mu_lock(st);
	rc = store_node_get_locked(st, dir, &p);
	if (rc == 0 && !S_ISDIR(p.mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = index_node_children(st->ix, dir, dirent_add, &d);
	store_mu_unlock(st);
	if (rc < 0) {
		store_dirents_free(d.arr, d.cnt);
		return rc;
	}
	*out = d.arr;
	*n = d.cnt;
	return 0;
}

int store_node_path(struct store *st, int64_t id, char **out)
{
	int rc;

	store_mu_lock(st);
	rc = store_node_path_locked(st, id, out);
	store_mu_unlock(st);
	return rc;
}

int store_node_follow(struct store *st, int64_t id, struct store_node *out)
{
	struct store_node n;
	int64_t target = 0;
	int rc, hops, state = -1;

	store_mu_lock(st);
	rc = store_node_get_locked(st, id, &n);
	if (rc == 0 && n.parent == STORE_NODE_GONE) {
		*out = n; /* removed while open (its checkpoint deleted, maybe): its own */
		goto out_unlock;
	}
	if (rc == 0)
		rc = index_ckpt_head_version(st->ix, n.ckpt, &state, &target);
	if (rc < 0)
		goto out_unlock;
	if (state == CKPT_ABORTED) {
		*out = n; /* an aborted checkpoint has one version: its own */
		goto out_unlock;
	}
	if ((state != CKPT_STAGING && state != CKPT_COMMITTED) || !target) {
		rc = -ENOENT;
		goto out_unlock;
	}
	/* walk the origin links forward, staying inside this checkpoint */
	for (hops = 0; n.version != target; hops++) {
		int64_t next = 0;

		if (hops > 1000) {
			rc = -ELOOP;
			goto out_unlock;
		}
		rc = index_node_successor(st->ix, n.id, n.ckpt, &next);
		if (rc == 0)
			rc = store_node_get_locked(st, next, &n);
		if (rc < 0)
			goto out_unlock;
	}
	*out = n;
out_unlock:
	store_mu_unlock(st);
	return rc;
}

/* ---- changes ---- */

/* The directory parent, checked for a change: must be a directory in a
 * staging version (-EROFS otherwise, unless allow_committed). */
static int parent_for_change(struct store *st, int64_t parent, bool allow_committed,
			     struct store_node *p, int *vstate)
{
	int rc = store_node_state_locked(st, parent, p, vstate);

	if (rc < 0)
		return rc;
	if (!S_ISDIR(p->mode))
		return -ENOTDIR;
	if (*vstate == VER_STAGING)
		return 0;
	if (allow_committed && *vstate == VER_COMMITTED)
		return 0;
	return -EROFS;
}

static int touch_dir(struct store *st, int64_t dir)
{
	return index_node_touch(st->ix, dir, store_now_ns());
}

static int node_insert(struct store *st, int64_t parent, const char *name, uint32_t mode,
		       const char *target, struct store_node *out)
{
	struct store_node p;
	struct index_node r = { .parent = parent, .mode = mode };
	int64_t id = 0;
	int rc, vstate;

	rc = store_name_check(name);
	if (rc < 0)
		return rc;
	if (!store_writable(st))
		return -EROFS;
	r.size = target ? strlen(target) : 0;
	r.mtime_ns = r.ctime_ns = store_now_ns();
	store_mu_lock(st);
	rc = parent_for_change(st, parent, false, &p, &vstate);
	if (rc == 0)
		rc = index_tx_begin(st->ix);
	if (rc < 0)
		goto out_unlock;
	r.version = p.version;
	rc = index_node_insert(st->ix, &r, name, target, &id); /* a taken name is -EEXIST */
	if (rc == 0)
		rc = touch_dir(st, parent);
	rc = index_tx_end(st->ix, rc);
	if (rc == 0 && out)
		rc = store_node_get_locked(st, id, out);
out_unlock:
	store_mu_unlock(st);
	return rc;
}

int store_node_create(struct store *st, int64_t parent, const char *name, uint32_t mode,
		      struct store_node *out)
{
	return node_insert(st, parent, name, (mode & 07777) | S_IFREG, NULL, out);
}

int store_node_mkdir(struct store *st, int64_t parent, const char *name, uint32_t mode,
		     struct store_node *out)
{
	return node_insert(st, parent, name, (mode & 07777) | S_IFDIR, NULL, out);
}

int store_node_symlink(struct store *st, int64_t parent, const char *name, const char *target,
		       struct store_node *out)
{
	if (!target || !*target)
		return -EINVAL;
	if (strlen(target) >= 4096)
		return -ENAMETOOLONG;
	return node_insert(st, parent, name, 0777 | S_IFLNK, target, out);
}

int store_node_readlink(struct store *st, int64_t id, char *buf, size_t len)
{
	char *t = NULL;
	uint32_t mode = 0;
	int rc;

	if (!len)
		return -EINVAL;
	store_mu_lock(st);
	rc = index_node_target(st->ix, id, &mode, &t);
	store_mu_unlock(st);
	if (rc == 0 && !S_ISLNK(mode))
		rc = -EINVAL;
	if (rc == 0)
		snprintf(buf, len, "%s", t ? t : "");
	free(t);
	return rc;
}

/* Removes one node row and its chunk references (an open file keeps its
 * data, held in memory). In a tx. */
static int delete_node(struct store *st, int64_t id)
{
	struct chunk_ref *refs = NULL;
	struct ofile *of;
	size_t n = 0, i;
	int rc = index_node_chunks(st->ix, id, &refs, &n, NULL);

	for (i = 0; rc == 0 && i < n; i++)
		rc = store_chunk_ref(st, &refs[i], -1, 0, 0);
	free(refs);
	if (rc == 0)
		rc = index_node_delete(st->ix, id);
	if (rc == 0) {
		of = store_ofile_find(st, id);
		if (of)
			atomic_store(&of->unlinked, true);
	}
	return rc;
}

/* A change inside a committed checkpoint withdraws it (logged once). */
static int withdraw_in_tx(struct store *st, int64_t ckpt)
{
	char *name = NULL;
	bool done = false;
	int rc = index_ckpt_withdraw_if_committed(st->ix, ckpt, &done);

	if (rc == 0 && done)
		rc = store_ckpt_name(st, ckpt, &name);
	if (rc == 0 && done)
		rc = store_event_add(st, "withdraw", name, NULL);
	free(name);
	return rc;
}

static int remove_entry(struct store *st, int64_t parent, const char *name, bool dir, bool trash)
{
	struct store_node p, c;
	struct policy pol;
	int rc, vstate;
	bool kids = false;

	if (!name || !*name)
		return -ENOENT;
	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (st->flags & STORE_RDONLY)
		return -EROFS;
	rc = store_policy_get(st, &pol);
	if (rc < 0)
		return rc;
	store_mu_lock(st);
	rc = parent_for_change(st, parent, true, &p, &vstate);
	if (rc == 0)
		rc = lookup_locked(st, parent, name, &c);
	if (rc < 0)
		goto out_unlock;
	if (dir && !S_ISDIR(c.mode)) {
		rc = -ENOTDIR;
		goto out_unlock;
	}
	if (!dir && S_ISDIR(c.mode)) {
		rc = -EISDIR;
		goto out_unlock;
	}
	if (dir) {
		rc = index_node_has_children(st->ix, c.id, &kids);
		if (rc == 0 && kids)
			rc = -ENOTEMPTY;
		if (rc < 0)
			goto out_unlock;
	}
	rc = index_tx_begin(st->ix);
	if (rc < 0)
		goto out_unlock;
	if (vstate == VER_COMMITTED && pol.trash_s && trash) /* `rm -rf` stays undoable */
		rc = store_ckpt_trash_copy_locked(st, p.ckpt, "user");
	if (rc == 0)
		rc = delete_node(st, c.id);
	if (rc == 0)
		rc = touch_dir(st, parent);
	if (rc == 0 && vstate == VER_COMMITTED)
		rc = withdraw_in_tx(st, p.ckpt);
	rc = index_tx_end(st->ix, rc);
out_unlock:
	store_mu_unlock(st);
	return rc;
}

/* Removing works on a full disk: `rm -rf` of a checkpoint removes its
 * files first. */
static int remove_entry_reserve(struct store *st, int64_t parent, const char *name, bool dir)
{
	int rc = remove_entry(st, parent, name, dir, true);

	if (store_reserve_use(st, rc))
		rc = remove_entry(st, parent, name, dir, true);
	if (rc == -ENOSPC) { /* the trash copy's rows do not fit: remove anyway */
		rc = remove_entry(st, parent, name, dir, false);
		if (rc == 0)
			store_note(st, "removed %s without a trash copy: the disk is full", name);
	}
	return rc;
}

int store_node_unlink(struct store *st, int64_t parent, const char *name)
{
	return remove_entry_reserve(st, parent, name, false);
}

int store_node_rmdir(struct store *st, int64_t parent, const char *name)
{
	return remove_entry_reserve(st, parent, name, true);
}

/* A rename's source and the entry it replaces, if any. */
struct rename_plan {
	struct store_node src, dst;
	bool have_dst;
};

/* The entry dst may be replaced by src (st->mu held). */
static int rename_may_replace(struct store *st, const struct rename_plan *pl, unsigned int flags)
{
	bool kids = false;
	int rc;

	if (flags & RENAME_NOREPLACE)
		return -EEXIST;
	if (S_ISDIR(pl->dst.mode) && !S_ISDIR(pl->src.mode))
		return -EISDIR;
	if (!S_ISDIR(pl->dst.mode) && S_ISDIR(pl->src.mode))
		return -ENOTDIR;
	if (!S_ISDIR(pl->dst.mode))
		return 0;
	rc = index_node_has_children(st->ix, pl->dst.id, &kids);
	return rc == 0 && kids ? -ENOTEMPTY : rc;
}

/* A directory may not move below itself (st->mu held). */
static int rename_not_below(struct store *st, int64_t dir, int64_t new_parent)
{
	int64_t a = new_parent;
	int depth, rc = 0;

	for (depth = 0; a && depth < STORE_DEPTH_MAX; depth++) {
		struct store_node an;

		if (a == dir)
			return -EINVAL;
		rc = store_node_get_locked(st, a, &an);
		if (rc < 0)
			return rc;
		a = an.parent;
	}
	return rc;
}

/* Load and decide (st->mu held): 0 with *pl to apply, 1 when the two names
 * are the same entry (nothing to do), or a negative errno. */
static int rename_plan(struct store *st, int64_t parent, const char *name, int64_t new_parent,
		       const char *new_name, unsigned int flags, struct rename_plan *pl)
{
	struct store_node p, np;
	int rc, vstate;

	rc = parent_for_change(st, parent, false, &p, &vstate);
	if (rc == 0)
		rc = parent_for_change(st, new_parent, false, &np, &vstate);
	if (rc < 0)
		return rc;
	if (p.version != np.version)
		return -EXDEV;
	rc = lookup_locked(st, parent, name, &pl->src);
	if (rc < 0)
		return rc;
	rc = lookup_locked(st, new_parent, new_name, &pl->dst);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	pl->have_dst = rc == 0;
	if (pl->have_dst && pl->dst.id == pl->src.id)
		return 1;
	if (pl->have_dst) {
		rc = rename_may_replace(st, pl, flags);
		if (rc < 0)
			return rc;
	}
	return S_ISDIR(pl->src.mode) ? rename_not_below(st, pl->src.id, new_parent) : 0;
}

/* Apply, in one transaction (st->mu held). */
static int rename_apply(struct store *st, const struct rename_plan *pl, int64_t parent,
			int64_t new_parent, const char *new_name)
{
	int rc = index_tx_begin(st->ix);

	if (rc < 0)
		return rc;
	if (pl->have_dst)
		rc = delete_node(st, pl->dst.id);
	if (rc == 0)
		rc = index_node_move(st->ix, pl->src.id, new_parent, new_name, store_now_ns());
	if (rc == 0)
		rc = touch_dir(st, parent);
	if (rc == 0 && new_parent != parent)
		rc = touch_dir(st, new_parent);
	rc = index_tx_end(st->ix, rc);
	return rc;
}

int store_node_rename(struct store *st, int64_t parent, const char *name, int64_t new_parent,
		      const char *new_name, unsigned int flags)
{
	struct rename_plan pl;
	struct ofile *of;
	int rc;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	rc = store_name_check(new_name);
	if (rc < 0)
		return rc;
	if (!name || !*name)
		return -ENOENT;
	if (!store_writable(st))
		return -EROFS;
	store_mu_lock(st);
	rc = rename_plan(st, parent, name, new_parent, new_name, flags, &pl);
	if (rc == 0)
		rc = rename_apply(st, &pl, parent, new_parent, new_name);
	of = rc == 0 ? store_ofile_find(st, pl.src.id) : NULL;
	if (of) {
		char *np = NULL;

		/* keep the corrupt-event path current (best effort) */
		if (store_node_path_locked(st, pl.src.id, &np) == 0) {
			free(of->path);
			of->path = np;
		}
	}
	store_mu_unlock(st);
	return rc == 1 ? 0 : rc;
}

/* What a removed open file's handles show follows the row's changes; an
 * explicit mtime wins over the open file's write time. */
static void ofile_set_attrs(struct ofile *of, int mask, const struct index_node_attrs *a)
{
	if (mask & STORE_SET_MTIME)
		__atomic_store_n(&of->mtime_ns, a->mtime_ns, __ATOMIC_RELAXED);
	if (mask & STORE_SET_MODE)
		of->mode = (of->mode & ~07777u) | (a->mode & 07777);
	if (mask & STORE_SET_ATIME)
		of->atime_ns = a->atime_ns;
	else if ((mask & STORE_SET_MTIME) && !of->atime_ns)
		of->atime_ns = a->shown_atime_ns;
}

int store_node_setattr(struct store *st, int64_t id, int mask, uint32_t mode, uint64_t size,
		       int64_t mtime_ns, int64_t atime_ns, struct store_node *out)
{
	struct store_node n;
	int rc, vstate = -1;

	if (!store_writable(st))
		return -EROFS;
	store_mu_lock(st);
	rc = store_node_get_locked(st, id, &n);
	if (rc < 0)
		goto out_unlock;
	vstate = n.writable ? VER_STAGING : VER_COMMITTED;
	if (vstate != VER_STAGING) {
		rc = -EROFS;
		goto out_unlock;
	}
	if ((mask & STORE_SET_SIZE) && !S_ISREG(n.mode)) {
		rc = S_ISDIR(n.mode) ? -EISDIR : -EINVAL;
		goto out_unlock;
	}
	store_mu_unlock(st);

	if (mask & STORE_SET_SIZE) {
		struct store_file *f;

		/* through the shared open-file state, so open handles agree */
		rc = store_file_open(st, id, STORE_F_WRITE, &f);
		if (rc < 0)
			return rc;
		rc = store_file_truncate(f, size);
		{
			int crc = store_file_close(f);

			if (rc == 0)
				rc = crc;
		}
		if (rc < 0)
			return rc;
	}
	store_mu_lock(st);
	if (mask & (STORE_SET_MODE | STORE_SET_MTIME | STORE_SET_ATIME)) {
		struct ofile *of = store_ofile_find(st, id);
		struct index_node_attrs a = {
			.set_mode = mask & STORE_SET_MODE,
			.set_mtime = mask & STORE_SET_MTIME,
			.set_atime = mask & STORE_SET_ATIME,
			.mode = mode,
			.mtime_ns = mtime_ns,
			.atime_ns = atime_ns,
			.shown_atime_ns = n.atime_ns,
			.now_ns = store_now_ns(),
		};

		rc = index_node_set_attrs(st->ix, id, &a);
		if (rc == -ENOENT)
			rc = 0; /* removed while open: its handles keep the attributes */
		if (rc == 0 && of)
			ofile_set_attrs(of, mask, &a);
	}
	if (rc == 0 && out)
		rc = store_node_get_locked(st, id, out);
out_unlock:
	store_mu_unlock(st);
	return rc;
}
