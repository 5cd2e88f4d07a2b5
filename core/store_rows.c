/* Row primitives shared by the store's protocol modules, below them all
 * (see the layers in store_int.h): the open-file table's lookups, node reads
 * as the store shows them, a checkpoint's abort and delete (tx-free bodies:
 * store_ckpt.c runs them for the user, store_gc.c for retention and
 * recovery), and the resolution of latest / best. They call only
 * store_base.c and the index, never store_ckpt.c, store_gc.c, store_node.c or
 * store_file.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- the open-file table (st->mu held) ---- */

struct ofile *store_ofile_find(struct store *st, int64_t node)
{
	struct ofile *of;

	store_assert_mu_held(st);
	for (of = st->files; of; of = of->next)
		if (of->node == node)
			return of;
	return NULL;
}

void store_files_set_ro(struct store *st, int64_t version)
{
	struct ofile *of;

	store_assert_mu_held(st);
	for (of = st->files; of; of = of->next)
		if (of->version == version)
			atomic_store(&of->ro, true);
}

void store_files_set_unlinked(struct store *st, int64_t version)
{
	struct ofile *of;

	store_assert_mu_held(st);
	for (of = st->files; of; of = of->next)
		if (of->version == version)
			atomic_store(&of->unlinked, true);
}

/* ---- node reads ---- */

/* A file removed while open has no row; its handles (of, its open file,
 * NULL when none) still stat it (st->mu held). -ENOENT when none is open. */
static int node_from_ofile(const struct ofile *of, int64_t id, struct store_node *out)
{
	if (!of || !atomic_load(&of->unlinked))
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->version = of->version;
	out->ckpt = of->ckpt;
	out->parent = STORE_NODE_GONE;
	out->mode = of->mode;
	out->size = __atomic_load_n(&of->size, __ATOMIC_RELAXED);
	out->mtime_ns = __atomic_load_n(&of->mtime_ns, __ATOMIC_RELAXED);
	out->ctime_ns = of->ctime_ns;
	out->atime_ns = of->atime_ns ? of->atime_ns : out->mtime_ns;
	out->writable = !atomic_load(&of->ro);
	return 0;
}

/* The store's view of a node row: an open file's size and mtime include
 * its unflushed writes; a file of a deleted checkpoint still open is shown
 * as removed while open (st->mu held). */
static void node_from_row(struct store *st, const struct index_node *r, struct store_node *out)
{
	struct ofile *of = store_ofile_find(st, r->id);

	if (r->vstate == VER_DEAD && node_from_ofile(of, r->id, out) == 0)
		return;
	out->id = r->id;
	out->version = r->version;
	out->ckpt = r->ckpt;
	out->parent = r->parent;
	out->mode = r->mode;
	out->size = r->size;
	out->mtime_ns = r->mtime_ns;
	out->ctime_ns = r->ctime_ns;
	out->writable = r->vstate == VER_STAGING;
	if (of) {
		int64_t mt = __atomic_load_n(&of->mtime_ns, __ATOMIC_RELAXED);

		out->size = __atomic_load_n(&of->size, __ATOMIC_RELAXED);
		if (mt > out->mtime_ns)
			out->mtime_ns = mt;
	}
	out->atime_ns = r->has_atime ? r->atime_ns : out->mtime_ns;
}

/* A row an index verb read (rc 0) as the store shows it. */
int store_node_shown(struct store *st, int rc, const struct index_node *r, struct store_node *out)
{
	if (rc == 0)
		node_from_row(st, r, out);
	return rc;
}

/* The node and its version's state (-1 for a file removed while open). */
int store_node_state_locked(struct store *st, int64_t id, struct store_node *out, int *vstate)
{
	struct index_node r;
	int rc = index_node_get(st->ix, id, &r);

	store_assert_mu_held(st);
	*vstate = rc == 0 ? r.vstate : -1;
	rc = store_node_shown(st, rc, &r, out);
	return rc == -ENOENT ? node_from_ofile(store_ofile_find(st, id), id, out) : rc;
}

int store_node_get_locked(struct store *st, int64_t id, struct store_node *out)
{
	int vstate;

	return store_node_state_locked(st, id, out, &vstate);
}

/* *path = name + "/" + *path ("" is empty); -ENOMEM. */
static int path_prepend(char **path, size_t *len, const char *name)
{
	size_t nl = strlen(name);
	char *np = malloc(nl + 1 + *len + 1);

	if (!np)
		return -ENOMEM;
	memcpy(np, name, nl);
	if (*len) {
		np[nl] = '/';
		memcpy(np + nl + 1, *path, *len + 1);
		*len = nl + 1 + *len;
	} else {
		np[nl] = 0;
		*len = nl;
	}
	free(*path);
	*path = np;
	return 0;
}

int store_node_path_locked(struct store *st, int64_t id, char **out)
{
	char *path = NULL;
	size_t len = 0;
	int depth, rc = 0;

	store_assert_mu_held(st);
	*out = NULL;
	for (depth = 0; depth < STORE_DEPTH_MAX; depth++) {
		int64_t parent = 0;
		char *nm = NULL;

		rc = index_node_name(st->ix, id, &parent, &nm);
		if (rc == 0 && parent != 0) /* the root's name is "" */
			rc = path_prepend(&path, &len, nm);
		free(nm);
		if (rc < 0 || parent == 0)
			break;
		id = parent;
	}
	if (rc == 0 && depth == STORE_DEPTH_MAX)
		rc = -ELOOP;
	if (rc == 0 && !path) {
		path = strdup("");
		if (!path)
			rc = -ENOMEM;
	}
	if (rc < 0) {
		free(path);
		return rc;
	}
	*out = path;
	return 0;
}

int store_node_chunks_locked(struct store *st, int64_t id, struct chunk_ref **refs, size_t *n,
			     uint64_t *size)
{
	store_assert_mu_held(st);
	return index_node_chunks(st->ix, id, refs, n, size);
}

/* ---- abort, delete (tx-free bodies; caller holds st->mu in a tx) ---- */

/* A committed checkpoint's failed update: the committed checkpoint stays,
 * the staging version becomes an aborted checkpoint of its own. */
static int abort_update(struct store *st, int64_t ckpt_id, const struct index_ckpt_row *r,
			const char *name, const char *reason)
{
	int64_t nid, now = store_now();
	struct ofile *of;
	int rc;

	rc = index_ckpt_insert_aborted(st->ix, name, r->kind, now, reason, r->staging, &nid);
	if (rc == 0)
		rc = index_version_move(st->ix, r->staging, VER_ABORTED, nid);
	if (rc == 0)
		rc = index_ckpt_set_versions(st->ix, ckpt_id, r->committed, 0);
	if (rc < 0)
		return rc;
	for (of = st->files; of; of = of->next)
		if (of->version == r->staging)
			of->ckpt = nid;
	return 0;
}

int store_ckpt_abort_locked(struct store *st, int64_t ckpt_id, const char *reason)
{
	struct index_ckpt_row r;
	char *name = NULL;
	int rc;

	store_assert_mu_held(st);
	rc = index_ckpt_row(st->ix, ckpt_id, &r);
	if (rc < 0)
		return rc;
	if (!r.staging)
		return r.state == CKPT_ABORTED ? 0 : -EINVAL;
	rc = store_ckpt_name(st, ckpt_id, &name);
	if (rc < 0)
		return rc;
	if (r.state == CKPT_STAGING) {
		rc = index_version_set_state(st->ix, r.staging, VER_ABORTED);
		if (rc == 0)
			rc = index_ckpt_set_aborted(st->ix, ckpt_id, store_now(), reason,
						    r.staging);
	} else {
		rc = abort_update(st, ckpt_id, &r, name, reason);
	}
	if (rc == 0)
		rc = store_event_add(st, "abort", name, reason);
	if (rc == 0)
		store_files_set_ro(st, r.staging);
	free(name);
	return rc;
}

static int ref_file_chunks(void *ctx, struct index_file_row *row)
{
	struct store *st = ctx;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < row->n; i++)
		rc = store_chunk_ref(st, &row->refs[i], 1, 0, 0);
	return rc;
}

int store_version_copy_locked(struct store *st, int64_t src, int64_t dst)
{
	int rc = index_version_copy_tree(st->ix, src, dst);

	store_assert_mu_held(st);
	if (rc == 0)
		rc = index_version_chunk_lists(st->ix, dst, ref_file_chunks, st);
	return rc;
}

/* The delete body; event is "delete", or "purge" for a trashed one. */
static int delete_as_locked(struct store *st, int64_t ckpt_id, const char *rule, const char *event)
{
	struct index_ckpt_row r;
	char *name = NULL;
	int rc;

	store_assert_mu_held(st);
	rc = index_ckpt_row(st->ix, ckpt_id, &r);
	if (rc < 0)
		return rc;
	if (r.state == CKPT_DELETED)
		return -ENOENT;
	rc = store_ckpt_name(st, ckpt_id, &name);
	if (rc < 0)
		return rc;
	rc = index_versions_of_ckpt_set_state(st->ix, ckpt_id, VER_DEAD);
	if (rc == 0)
		rc = index_ckpt_set_deleted(st->ix, ckpt_id, store_now(), rule);
	if (rc == 0)
		rc = index_metric_update_eligible(st->ix, ckpt_id);
	if (rc == 0)
		rc = store_event_add(st, event, name, rule);
	if (rc == 0 && r.staging)
		store_files_set_unlinked(st, r.staging);
	free(name);
	return rc;
}

int store_ckpt_delete_locked(struct store *st, int64_t ckpt_id, const char *rule)
{
	return delete_as_locked(st, ckpt_id, rule ? rule : "user", "delete");
}

int store_ckpt_purge_locked(struct store *st, int64_t ckpt_id, const char *why)
{
	struct index_ckpt_row r;
	int rc = index_ckpt_row(st->ix, ckpt_id, &r);

	if (rc == 0 && r.state != CKPT_TRASHED)
		rc = -ENOENT;
	return rc < 0 ? rc : delete_as_locked(st, ckpt_id, why, "purge");
}

/* A committed checkpoint into the trash: its committed version stays (with
 * its chunk references), a staging version dies, metrics leave best. */
static int trash_locked(struct store *st, int64_t ckpt_id, const struct index_ckpt_row *r,
			const char *rule)
{
	char *name = NULL;
	int rc = store_ckpt_name(st, ckpt_id, &name);

	if (rc == 0 && r->staging)
		rc = index_version_set_state(st->ix, r->staging, VER_DEAD);
	if (rc == 0)
		rc = index_ckpt_set_state(st->ix, ckpt_id, CKPT_TRASHED, store_now(), rule);
	if (rc == 0)
		rc = index_metric_update_eligible(st->ix, ckpt_id);
	if (rc == 0)
		rc = store_event_add(st, "trash", name, rule);
	if (rc == 0 && r->staging)
		store_files_set_unlinked(st, r->staging);
	free(name);
	return rc;
}

int store_ckpt_remove_locked(struct store *st, int64_t ckpt_id, const char *rule, bool trash)
{
	struct index_ckpt_row r;
	int rc;

	store_assert_mu_held(st);
	rc = index_ckpt_row(st->ix, ckpt_id, &r);
	if (rc < 0)
		return rc;
	if (trash && r.state == CKPT_COMMITTED && !r.withdrawn && r.committed)
		return trash_locked(st, ckpt_id, &r, rule ? rule : "user");
	return store_ckpt_delete_locked(st, ckpt_id, rule);
}

int store_ckpt_trash_copy_locked(struct store *st, int64_t ckpt_id, const char *rule)
{
	struct index_ckpt_row r;
	int64_t v, id, now = store_now();
	char *name = NULL;
	int rc;

	store_assert_mu_held(st);
	rc = index_ckpt_row(st->ix, ckpt_id, &r);
	if (rc < 0 || r.state != CKPT_COMMITTED || r.withdrawn || !r.committed)
		return rc;
	rc = index_version_insert(st->ix, ckpt_id, now, &v);
	if (rc == 0)
		rc = index_ckpt_insert_copy(st->ix, ckpt_id, v, CKPT_TRASHED, now, rule, &id);
	if (rc == 0)
		rc = index_version_move(st->ix, v, VER_COMMITTED, id);
	if (rc == 0)
		rc = store_version_copy_locked(st, r.committed, v);
	if (rc == 0)
		rc = store_ckpt_name(st, ckpt_id, &name);
	if (rc == 0)
		rc = store_event_add(st, "trash", name, rule);
	free(name);
	return rc;
}

/* ---- resolution ---- */

/* rc of a resolution: an unreadable index is noted, and is never "no such
 * checkpoint". */
static int resolved(struct store *st, int rc, const char *what)
{
	return rc < 0 && rc != -ENOENT ? store_index_error(st, what) : rc;
}

int store_resolve_latest(struct store *st, int64_t *ckpt_id, int64_t *version)
{
	int rc;

	store_mu_lock(st);
	rc = resolved(st, index_ckpt_latest(st->ix, ckpt_id, version), "resolving latest");
	store_mu_unlock(st);
	return rc;
}

int store_resolve_best(struct store *st, const char *metric, int dir, int64_t *ckpt_id,
		       int64_t *version)
{
	int rc;

	if (!metric || strcmp(metric, "step") == 0 || strcmp(metric, "epoch") == 0)
		return -ENOENT;
	if (dir == 0) {
		struct policy p;

		rc = store_policy_get(st, &p);
		if (rc < 0)
			return rc;
		dir = policy_direction(&p, metric, NULL);
	}
	store_mu_lock(st);
	rc = resolved(st, index_ckpt_best(st->ix, metric, dir, ckpt_id, version), "resolving best");
	store_mu_unlock(st);
	return rc;
}
