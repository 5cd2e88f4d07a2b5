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

#define NODE_SQL                                                                       \
	"SELECT n.id, n.version, v.ckpt, n.parent, n.mode, n.size, n.mtime, n.ctime, v.state, n.atime" \
	" FROM nodes n JOIN versions v ON v.id = n.version"

void store_dirents_free(struct store_dirent *d, size_t n)
{
	size_t i;

	for (i = 0; d && i < n; i++)
		free(d[i].name);
	free(d);
}

static void node_from_row(struct store *st, sqlite3_stmt *q, struct store_node *out)
{
	struct ofile *of;

	out->id = sqlite3_column_int64(q, 0);
	out->version = sqlite3_column_int64(q, 1);
	out->ckpt = sqlite3_column_int64(q, 2);
	out->parent = sqlite3_column_int64(q, 3);
	out->mode = (uint32_t)sqlite3_column_int64(q, 4);
	out->size = (uint64_t)sqlite3_column_int64(q, 5);
	out->mtime_ns = sqlite3_column_int64(q, 6);
	out->ctime_ns = sqlite3_column_int64(q, 7);
	out->writable = sqlite3_column_int(q, 8) == VER_STAGING;
	/* an open file's size and mtime include unflushed writes */
	of = store_ofile_find(st, out->id);
	if (of) {
		int64_t mt = __atomic_load_n(&of->mtime_ns, __ATOMIC_RELAXED);

		out->size = __atomic_load_n(&of->size, __ATOMIC_RELAXED);
		if (mt > out->mtime_ns)
			out->mtime_ns = mt;
	}
	out->atime_ns = sqlite3_column_type(q, 9) == SQLITE_NULL ? out->mtime_ns : sqlite3_column_int64(q, 9);
}

/* A file removed while open has no row; its handles still stat it (st->mu
 * held). -ENOENT when no handle is open. */
static int node_from_ofile(struct store *st, int64_t id, struct store_node *out)
{
	struct ofile *of = store_ofile_find(st, id);

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

static int node_query1(struct store *st, sqlite3_stmt *q, struct store_node *out)
{
	int s = sqlite3_step(q), rc = 0;

	if (s == SQLITE_ROW)
		node_from_row(st, q, out);
	else
		rc = s == SQLITE_DONE ? -ENOENT : store_sqlerr(s);
	sqlite3_reset(q);
	return rc;
}

int store_node_get_locked(struct store *st, int64_t id, struct store_node *out)
{
	sqlite3_stmt *q = store_stmt(st, NODE_SQL " WHERE n.id=?");
	int rc;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, id);
	rc = node_query1(st, q, out);
	return rc == -ENOENT ? node_from_ofile(st, id, out) : rc;
}

int store_node_get(struct store *st, int64_t id, struct store_node *out)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = store_node_get_locked(st, id, out);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_version_root(struct store *st, int64_t version, struct store_node *out)
{
	sqlite3_stmt *q;
	int rc;

	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, NODE_SQL " WHERE n.version=? AND n.parent=0");
	if (!q) {
		rc = -EIO;
	} else {
		sqlite3_bind_int64(q, 1, version);
		rc = node_query1(st, q, out);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int lookup_locked(struct store *st, int64_t parent, const char *name, struct store_node *out)
{
	sqlite3_stmt *q = store_stmt(st, NODE_SQL " WHERE n.parent=? AND n.name=?");

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, parent);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	return node_query1(st, q, out);
}

int store_node_lookup(struct store *st, int64_t parent, const char *name, struct store_node *out)
{
	struct store_node p;
	int rc;

	if (parent <= 0 || !name || !*name)
		return -ENOENT;
	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&st->mu);
	rc = store_node_get_locked(st, parent, &p);
	if (rc == 0 && !S_ISDIR(p.mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = lookup_locked(st, parent, name, out);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_node_list(struct store *st, int64_t dir, struct store_dirent **out, size_t *n)
{
	struct store_node p;
	struct store_dirent *arr = NULL;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *q;
	int rc, s;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->mu);
	rc = store_node_get_locked(st, dir, &p);
	if (rc == 0 && !S_ISDIR(p.mode))
		rc = -ENOTDIR;
	if (rc < 0)
		goto out_unlock;
	q = store_stmt(st, "SELECT id, mode, name FROM nodes WHERE parent=? ORDER BY name");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	sqlite3_bind_int64(q, 1, dir);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		rc = UTIL_GROW(arr, cap, cnt, STORE_TREE_MAX);
		if (rc < 0)
			break;
		arr[cnt].id = sqlite3_column_int64(q, 0);
		arr[cnt].mode = (uint32_t)sqlite3_column_int64(q, 1);
		arr[cnt].name = strdup((const char *)sqlite3_column_text(q, 2));
		if (!arr[cnt].name) {
			rc = -ENOMEM;
			break;
		}
		cnt++;
	}
	if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	if (rc < 0) {
		store_dirents_free(arr, cnt);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

int store_node_path_locked(struct store *st, int64_t id, char **out)
{
	char *path = NULL;
	size_t len = 0;
	int depth, rc = 0;

	*out = NULL;
	for (depth = 0; depth < STORE_DEPTH_MAX; depth++) {
		sqlite3_stmt *q = store_stmt(st, "SELECT parent, name FROM nodes WHERE id=?");
		const char *nm;
		int64_t parent;
		size_t nl;
		char *np;

		if (!q) {
			rc = -EIO;
			break;
		}
		sqlite3_bind_int64(q, 1, id);
		if (sqlite3_step(q) != SQLITE_ROW) {
			sqlite3_reset(q);
			rc = -ENOENT;
			break;
		}
		parent = sqlite3_column_int64(q, 0);
		if (parent == 0) { /* the root's name is "" */
			sqlite3_reset(q);
			break;
		}
		nm = (const char *)sqlite3_column_text(q, 1);
		nl = strlen(nm);
		np = malloc(nl + 1 + len + 1);
		if (!np) {
			sqlite3_reset(q);
			rc = -ENOMEM;
			break;
		}
		memcpy(np, nm, nl);
		if (len) {
			np[nl] = '/';
			memcpy(np + nl + 1, path, len + 1);
			len = nl + 1 + len;
		} else {
			np[nl] = 0;
			len = nl;
		}
		sqlite3_reset(q);
		free(path);
		path = np;
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

int store_node_path(struct store *st, int64_t id, char **out)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = store_node_path_locked(st, id, out);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_node_follow(struct store *st, int64_t id, struct store_node *out)
{
	struct store_node n;
	sqlite3_stmt *q;
	int64_t target = 0;
	int rc, hops, state = -1;

	pthread_mutex_lock(&st->mu);
	rc = store_node_get_locked(st, id, &n);
	if (rc < 0)
		goto out_unlock;
	q = store_stmt(st, "SELECT state, CASE WHEN staging_version != 0 THEN staging_version"
			   " ELSE committed_version END FROM checkpoints WHERE id=?");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	sqlite3_bind_int64(q, 1, n.ckpt);
	if (sqlite3_step(q) == SQLITE_ROW) {
		state = sqlite3_column_int(q, 0);
		target = sqlite3_column_int64(q, 1);
	}
	sqlite3_reset(q);
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
		q = store_stmt(st, "SELECT n.id FROM nodes n JOIN versions v ON v.id = n.version"
				   " WHERE n.origin=? AND v.ckpt=? ORDER BY n.id DESC LIMIT 1");
		if (!q) {
			rc = -EIO;
			goto out_unlock;
		}
		sqlite3_bind_int64(q, 1, n.id);
		sqlite3_bind_int64(q, 2, n.ckpt);
		if (sqlite3_step(q) == SQLITE_ROW)
			next = sqlite3_column_int64(q, 0);
		sqlite3_reset(q);
		if (!next) {
			rc = -ENOENT;
			goto out_unlock;
		}
		rc = store_node_get_locked(st, next, &n);
		if (rc < 0)
			goto out_unlock;
	}
	*out = n;
out_unlock:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_node_chunks_locked(struct store *st, int64_t id, struct chunk_ref **refs, size_t *n,
			     uint64_t *size)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT size, chunks FROM nodes WHERE id=?");
	int rc = 0;

	*refs = NULL;
	*n = 0;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		*size = (uint64_t)sqlite3_column_int64(q, 0);
		if (sqlite3_column_bytes(q, 1) > 0)
			rc = chunk_refs_decode(sqlite3_column_blob(q, 1),
					       (size_t)sqlite3_column_bytes(q, 1), refs, n);
	} else {
		rc = -ENOENT;
	}
	sqlite3_reset(q);
	return rc;
}

/* ---- changes ---- */

/* The directory parent, checked for a change: must be a directory in a
 * staging version (-EROFS otherwise, unless allow_committed). */
static int parent_for_change(struct store *st, int64_t parent, bool allow_committed,
			     struct store_node *p, int *vstate)
{
	sqlite3_stmt *q;
	int rc = store_node_get_locked(st, parent, p);

	if (rc < 0)
		return rc;
	if (!S_ISDIR(p->mode))
		return -ENOTDIR;
	q = store_stmt(st, "SELECT state FROM versions WHERE id=?");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, p->version);
	*vstate = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
	sqlite3_reset(q);
	if (*vstate == VER_STAGING)
		return 0;
	if (allow_committed && *vstate == VER_COMMITTED)
		return 0;
	return -EROFS;
}

static int touch_dir(struct store *st, int64_t dir)
{
	sqlite3_stmt *q = store_stmt(st, "UPDATE nodes SET mtime=?1, ctime=?1 WHERE id=?2");
	int rc;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, store_now_ns());
	sqlite3_bind_int64(q, 2, dir);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	return rc;
}

static int node_insert(struct store *st, int64_t parent, const char *name, uint32_t mode,
		       const char *target, struct store_node *out)
{
	struct store_node p;
	sqlite3_stmt *q;
	int64_t now = store_now_ns();
	int rc, vstate;

	rc = store_name_check(name);
	if (rc < 0)
		return rc;
	if (!store_writable(st))
		return -EROFS;
	pthread_mutex_lock(&st->mu);
	rc = parent_for_change(st, parent, false, &p, &vstate);
	if (rc < 0)
		goto out_unlock;
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	q = store_stmt(st, "INSERT INTO nodes(version, parent, name, mode, size, mtime, ctime, target)"
			   " VALUES(?,?,?,?,?,?,?,?)");
	if (!q) {
		rc = -EIO;
		goto out_rollback;
	}
	sqlite3_bind_int64(q, 1, p.version);
	sqlite3_bind_int64(q, 2, parent);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, mode);
	sqlite3_bind_int64(q, 5, target ? (int64_t)strlen(target) : 0);
	sqlite3_bind_int64(q, 6, now);
	sqlite3_bind_int64(q, 7, now);
	if (target)
		sqlite3_bind_text(q, 8, target, -1, SQLITE_STATIC);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc < 0)
		goto out_rollback; /* a UNIQUE violation is -EEXIST */
	rc = touch_dir(st, parent);
	if (rc < 0)
		goto out_rollback;
	rc = store_commit_tx(st);
	if (rc == 0 && out)
		rc = store_node_get_locked(st, sqlite3_last_insert_rowid(st->db), out);
	goto out_unlock;
out_rollback:
	store_rollback(st);
out_unlock:
	pthread_mutex_unlock(&st->mu);
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
	sqlite3_stmt *q;
	int rc = 0;

	if (!len)
		return -EINVAL;
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT mode, target FROM nodes WHERE id=?");
	if (!q) {
		rc = -EIO;
	} else {
		sqlite3_bind_int64(q, 1, id);
		if (sqlite3_step(q) != SQLITE_ROW) {
			rc = -ENOENT;
		} else if (!S_ISLNK((uint32_t)sqlite3_column_int64(q, 0))) {
			rc = -EINVAL;
		} else {
			const char *t = (const char *)sqlite3_column_text(q, 1);

			snprintf(buf, len, "%s", t ? t : "");
		}
		sqlite3_reset(q);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* Drops the chunk references of a node row (before it is deleted). In a tx. */
static int node_unref_chunks(struct store *st, int64_t id)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT chunks FROM nodes WHERE id=?");
	void *blob = NULL;
	size_t len = 0;
	int rc = 0;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) > 0) {
		len = (size_t)sqlite3_column_bytes(q, 0);
		blob = malloc(len);
		if (blob)
			memcpy(blob, sqlite3_column_blob(q, 0), len);
		else
			rc = -ENOMEM;
	}
	sqlite3_reset(q);
	if (rc == 0)
		rc = store_chunks_unref_blob(st, blob, len);
	free(blob);
	return rc;
}

/* Removes one node row (an open file keeps its data, held in memory). */
static int delete_node(struct store *st, int64_t id)
{
	sqlite3_stmt *q;
	struct ofile *of;
	int rc = node_unref_chunks(st, id);

	if (rc < 0)
		return rc;
	q = store_stmt(st, "DELETE FROM nodes WHERE id=?");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, id);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc == 0) {
		of = store_ofile_find(st, id);
		if (of)
			atomic_store(&of->unlinked, true);
	}
	return rc;
}

static int withdraw_in_tx(struct store *st, int64_t ckpt)
{
	sqlite3_stmt *q = store_stmt(st, "UPDATE checkpoints SET withdrawn=1 WHERE id=? AND state=1"
					 " AND withdrawn=0");
	int rc;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, ckpt);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc == 0 && sqlite3_changes(st->db) > 0) {
		char *name = NULL;

		q = store_stmt(st, "UPDATE metrics SET eligible=0 WHERE ckpt=?");
		if (!q)
			return -EIO;
		sqlite3_bind_int64(q, 1, ckpt);
		rc = store_sqlerr(sqlite3_step(q));
		sqlite3_reset(q);
		if (rc == 0)
			rc = store_ckpt_name(st, ckpt, &name);
		if (rc == 0)
			rc = store_event_add(st, "withdraw", name, NULL);
		free(name);
	}
	return rc;
}

static int has_children(struct store *st, int64_t id, bool *yes)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT 1 FROM nodes WHERE parent=? LIMIT 1");
	int s;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, id);
	s = sqlite3_step(q);
	*yes = s == SQLITE_ROW;
	sqlite3_reset(q);
	return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : store_sqlerr(s);
}

static int remove_entry(struct store *st, int64_t parent, const char *name, bool dir)
{
	struct store_node p, c;
	int rc, vstate;
	bool kids = false;

	if (!name || !*name)
		return -ENOENT;
	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (st->flags & STORE_RDONLY)
		return -EROFS;
	pthread_mutex_lock(&st->mu);
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
		rc = has_children(st, c.id, &kids);
		if (rc == 0 && kids)
			rc = -ENOTEMPTY;
		if (rc < 0)
			goto out_unlock;
	}
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = delete_node(st, c.id);
	if (rc == 0)
		rc = touch_dir(st, parent);
	if (rc == 0 && vstate == VER_COMMITTED)
		rc = withdraw_in_tx(st, p.ckpt);
	if (rc == 0)
		rc = store_commit_tx(st);
	else
		store_rollback(st);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* Removing works on a full disk: `rm -rf` of a checkpoint removes its
 * files first. */
static int remove_entry_reserve(struct store *st, int64_t parent, const char *name, bool dir)
{
	int rc = remove_entry(st, parent, name, dir);

	if (store_reserve_use(st, rc))
		rc = remove_entry(st, parent, name, dir);
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

int store_node_rename(struct store *st, int64_t parent, const char *name, int64_t new_parent,
		      const char *new_name, unsigned int flags)
{
	struct store_node p, np, src, dst;
	sqlite3_stmt *q;
	int rc, vstate;
	bool have_dst = false;

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
	pthread_mutex_lock(&st->mu);
	rc = parent_for_change(st, parent, false, &p, &vstate);
	if (rc == 0)
		rc = parent_for_change(st, new_parent, false, &np, &vstate);
	if (rc < 0)
		goto out_unlock;
	if (p.version != np.version) {
		rc = -EXDEV;
		goto out_unlock;
	}
	rc = lookup_locked(st, parent, name, &src);
	if (rc < 0)
		goto out_unlock;
	rc = lookup_locked(st, new_parent, new_name, &dst);
	if (rc == 0) {
		have_dst = true;
	} else if (rc != -ENOENT) {
		goto out_unlock;
	}
	rc = 0;
	if (have_dst && dst.id == src.id)
		goto out_unlock; /* same entry: nothing to do */
	if (have_dst && (flags & RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out_unlock;
	}
	if (have_dst) {
		bool kids = false;

		if (S_ISDIR(dst.mode) && !S_ISDIR(src.mode)) {
			rc = -EISDIR;
			goto out_unlock;
		}
		if (!S_ISDIR(dst.mode) && S_ISDIR(src.mode)) {
			rc = -ENOTDIR;
			goto out_unlock;
		}
		if (S_ISDIR(dst.mode)) {
			rc = has_children(st, dst.id, &kids);
			if (rc == 0 && kids)
				rc = -ENOTEMPTY;
			if (rc < 0)
				goto out_unlock;
		}
	}
	if (S_ISDIR(src.mode)) {
		/* a directory may not move below itself */
		int64_t a = new_parent;
		int depth;

		for (depth = 0; a && depth < STORE_DEPTH_MAX; depth++) {
			struct store_node an;

			if (a == src.id) {
				rc = -EINVAL;
				goto out_unlock;
			}
			rc = store_node_get_locked(st, a, &an);
			if (rc < 0)
				goto out_unlock;
			a = an.parent;
		}
	}
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	if (have_dst)
		rc = delete_node(st, dst.id);
	if (rc == 0) {
		q = store_stmt(st, "UPDATE nodes SET parent=?, name=?, ctime=? WHERE id=?");
		if (!q) {
			rc = -EIO;
		} else {
			sqlite3_bind_int64(q, 1, new_parent);
			sqlite3_bind_text(q, 2, new_name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q, 3, store_now_ns());
			sqlite3_bind_int64(q, 4, src.id);
			rc = store_sqlerr(sqlite3_step(q));
			sqlite3_reset(q);
		}
	}
	if (rc == 0)
		rc = touch_dir(st, parent);
	if (rc == 0 && new_parent != parent)
		rc = touch_dir(st, new_parent);
	if (rc == 0)
		rc = store_commit_tx(st);
	else
		store_rollback(st);
	if (rc == 0) {
		struct ofile *of = store_ofile_find(st, src.id);

		/* keep the corrupt-event path current (best effort) */
		if (of) {
			char *np2 = NULL;

			if (store_node_path_locked(st, src.id, &np2) == 0) {
				free(of->path);
				of->path = np2;
			}
		}
	}
out_unlock:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_node_setattr(struct store *st, int64_t id, int mask, uint32_t mode, uint64_t size,
		       int64_t mtime_ns, int64_t atime_ns, struct store_node *out)
{
	struct store_node n;
	sqlite3_stmt *q;
	int rc, vstate = -1;

	if (!store_writable(st))
		return -EROFS;
	pthread_mutex_lock(&st->mu);
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
	pthread_mutex_unlock(&st->mu);

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
	pthread_mutex_lock(&st->mu);
	if (mask & (STORE_SET_MODE | STORE_SET_MTIME | STORE_SET_ATIME)) {
		struct ofile *of = store_ofile_find(st, id);

		/* atime NULL follows mtime: a new mtime alone pins the old one */
		q = store_stmt(st, "UPDATE nodes SET mode = CASE WHEN ?2 THEN (mode & ~4095) | ?3"
				   " ELSE mode END, mtime = CASE WHEN ?4 THEN ?5 ELSE mtime END, ctime=?6,"
				   " atime = CASE WHEN ?7 THEN ?8 WHEN ?4 THEN coalesce(atime, ?9) ELSE atime END"
				   " WHERE id=?1");
		if (!q) {
			rc = -EIO;
			goto out_unlock;
		}
		sqlite3_bind_int64(q, 1, id);
		sqlite3_bind_int(q, 2, (mask & STORE_SET_MODE) != 0);
		sqlite3_bind_int64(q, 3, mode & 07777);
		sqlite3_bind_int(q, 4, (mask & STORE_SET_MTIME) != 0);
		sqlite3_bind_int64(q, 5, mtime_ns);
		sqlite3_bind_int64(q, 6, store_now_ns());
		sqlite3_bind_int(q, 7, (mask & STORE_SET_ATIME) != 0);
		sqlite3_bind_int64(q, 8, atime_ns);
		sqlite3_bind_int64(q, 9, n.atime_ns);
		rc = store_sqlerr(sqlite3_step(q));
		sqlite3_reset(q);
		if (rc == 0 && of) {
			/* an explicit mtime wins over the open file's write time;
			 * the rest is what a removed open file's handles show */
			if (mask & STORE_SET_MTIME)
				__atomic_store_n(&of->mtime_ns, mtime_ns, __ATOMIC_RELAXED);
			if (mask & STORE_SET_MODE)
				of->mode = (of->mode & ~07777u) | (mode & 07777);
			if (mask & STORE_SET_ATIME)
				of->atime_ns = atime_ns;
			else if ((mask & STORE_SET_MTIME) && !of->atime_ns)
				of->atime_ns = n.atime_ns;
		}
	}
	if (rc == 0 && out)
		rc = store_node_get_locked(st, id, out);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	return rc;
}
