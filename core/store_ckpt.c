/* Checkpoints: list/lookup, create, copy-on-write versions, commit, abort,
 * promote, delete, rename, withdraw, pins, xattr metrics, and resolution of
 * latest / best. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format.h"
#include "util.h"
#include "store_int.h"

#define CKPT_COLS                                                                              \
	"id, name, kind, state, step, epoch, commit_seq, created_at, committed_at, ended_at,"  \
	" pinned, withdrawn, version, committed_version, staging_version, logical_bytes,"      \
	" stored_bytes, note, deleted_rule"

static const char *const meta_files[] = { "trainer_state.json", "metadata.json", "metrics.json" };

void ckpt_info_release(struct ckpt_info *ci)
{
	if (!ci)
		return;
	free(ci->name);
	free(ci->note);
	free(ci->deleted_rule);
	free(ci->metrics);
	memset(ci, 0, sizeof(*ci));
}

void ckpt_info_free_array(struct ckpt_info *arr, size_t n)
{
	size_t i;

	for (i = 0; arr && i < n; i++)
		ckpt_info_release(&arr[i]);
	free(arr);
}

static int dup_col(sqlite3_stmt *q, int col, char **out)
{
	const char *t = (const char *)sqlite3_column_text(q, col);

	*out = NULL;
	if (!t)
		return 0;
	*out = strdup(t);
	return *out ? 0 : -ENOMEM;
}

/* Display name of an aborted row: NAME for the newest aborted of its name,
 * NAME~2, NAME~3 ... for older ones (by abort time, then id). */
static int aborted_rank(struct store *st, const char *name, int64_t ended, int64_t id, int64_t *rank)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT count(*) FROM checkpoints WHERE state=2 AND name=?"
					 " AND (ended_at > ? OR (ended_at = ? AND id > ?))");
	int rc = 0;

	if (!q)
		return -EIO;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, ended);
	sqlite3_bind_int64(q, 3, ended);
	sqlite3_bind_int64(q, 4, id);
	if (sqlite3_step(q) == SQLITE_ROW)
		*rank = sqlite3_column_int64(q, 0) + 1;
	else
		rc = store_sqlerr(sqlite3_errcode(st->db)) ?: -EIO;
	sqlite3_reset(q);
	return rc;
}

static int load_metrics(struct store *st, struct ckpt_info *ci)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT name, value, source FROM metrics WHERE ckpt=?"
					 " AND name NOT IN ('step','epoch') ORDER BY name");
	size_t cap = 0;
	int s, rc = 0;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, ci->id);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		struct metric *m;
		const char *nm = (const char *)sqlite3_column_text(q, 0);
		const char *src = (const char *)sqlite3_column_text(q, 2);

		int g = UTIL_GROW(ci->metrics, cap, ci->n_metrics, META_MAX_METRICS * 2);

		if (g < 0) {
			if (g == -ENOMEM)
				rc = g;
			break; /* -EFBIG: more than extraction ever stores */
		}
		m = &ci->metrics[ci->n_metrics++];
		memset(m, 0, sizeof(*m));
		snprintf(m->name, sizeof(m->name), "%s", nm ? nm : "");
		m->value = sqlite3_column_double(q, 1);
		snprintf(m->source, sizeof(m->source), "%s", src ? src : "");
	}
	if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
	return rc;
}

/* Fills ci from a row of CKPT_COLS (q stays on the row). */
static int info_from_row(sqlite3_stmt *q, struct ckpt_info *ci)
{
	int rc;

	memset(ci, 0, sizeof(*ci));
	ci->id = sqlite3_column_int64(q, 0);
	ci->kind = sqlite3_column_int(q, 2);
	ci->state = sqlite3_column_int(q, 3);
	ci->has_step = sqlite3_column_type(q, 4) != SQLITE_NULL;
	ci->step = sqlite3_column_int64(q, 4);
	ci->has_epoch = sqlite3_column_type(q, 5) != SQLITE_NULL;
	ci->epoch = sqlite3_column_double(q, 5);
	ci->commit_seq = sqlite3_column_int64(q, 6);
	ci->created_at = sqlite3_column_int64(q, 7);
	ci->committed_at = sqlite3_column_int64(q, 8);
	ci->ended_at = sqlite3_column_int64(q, 9);
	ci->pinned = sqlite3_column_int(q, 10) != 0;
	ci->withdrawn = sqlite3_column_int(q, 11) != 0;
	ci->version = sqlite3_column_int64(q, 12);
	ci->committed_version = sqlite3_column_int64(q, 13);
	ci->staging_version = sqlite3_column_int64(q, 14);
	ci->logical_bytes = (uint64_t)sqlite3_column_int64(q, 15);
	ci->stored_bytes = (uint64_t)sqlite3_column_int64(q, 16);
	rc = dup_col(q, 1, &ci->name);
	if (rc == 0)
		rc = dup_col(q, 17, &ci->note);
	if (rc == 0)
		rc = dup_col(q, 18, &ci->deleted_rule);
	if (rc < 0)
		ckpt_info_release(ci);
	return rc;
}

/* logical_bytes of a staging or aborted checkpoint: the current sum over its
 * version's files (committed ones carry the sum set at commit). A scan of the
 * version's nodes, so only callers that show sizes ask for it: a lookup on
 * every file created in a big staging checkpoint would make creating N files
 * cost O(N^2). */
static int info_logical_bytes(struct store *st, struct ckpt_info *ci)
{
	sqlite3_stmt *q;
	int s;

	if ((ci->state != CKPT_STAGING && ci->state != CKPT_ABORTED) || !ci->version)
		return 0;
	q = store_stmt(st, "SELECT total(size) FROM nodes WHERE version=? AND (mode & 61440) = 32768");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, ci->version);
	s = sqlite3_step(q);
	if (s == SQLITE_ROW)
		ci->logical_bytes = (uint64_t)sqlite3_column_double(q, 0);
	sqlite3_reset(q);
	return s == SQLITE_ROW ? 0 : store_sqlerr(s);
}

int store_ckpt_logical_bytes(struct store *st, struct ckpt_info *ci)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = info_logical_bytes(st, ci);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* Second half of info_from_row, after q was reset (it runs other queries). */
static int info_finish(struct store *st, struct ckpt_info *ci, bool metrics, bool sizes)
{
	int rc = 0;

	if (ci->state == CKPT_ABORTED) {
		int64_t rank = 1;

		rc = aborted_rank(st, ci->name, ci->ended_at, ci->id, &rank);
		if (rc == 0 && rank > 1) {
			size_t l = strlen(ci->name) + 24;
			char *dn = malloc(l);

			if (!dn) {
				rc = -ENOMEM;
			} else {
				snprintf(dn, l, "%s~%lld", ci->name, (long long)rank);
				free(ci->name);
				ci->name = dn;
			}
		}
	}
	if (rc == 0 && sizes)
		rc = info_logical_bytes(st, ci);
	if (rc == 0 && metrics)
		rc = load_metrics(st, ci);
	if (rc < 0)
		ckpt_info_release(ci);
	return rc;
}

static int info_query1(struct store *st, sqlite3_stmt *q, struct ckpt_info *out)
{
	int s = sqlite3_step(q), rc;

	if (s != SQLITE_ROW) {
		rc = s == SQLITE_DONE ? -ENOENT : store_sqlerr(s);
		sqlite3_reset(q);
		return rc;
	}
	rc = info_from_row(q, out);
	sqlite3_reset(q);
	if (rc == 0)
		rc = info_finish(st, out, true, false);
	return rc;
}

int store_ckpt_list(struct store *st, int flags, struct ckpt_info **out, size_t *n)
{
	const char *sql_live = "SELECT " CKPT_COLS " FROM checkpoints WHERE state IN (0,1)"
			       " ORDER BY (commit_seq = 0), commit_seq, created_at, id";
	const char *sql_all = "SELECT " CKPT_COLS " FROM checkpoints"
			      " ORDER BY (commit_seq = 0), commit_seq, created_at, id";
	sqlite3_stmt *q;
	struct ckpt_info *arr = NULL;
	size_t cnt = 0, cap = 0, i;
	int rc = 0, s;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, (flags & STORE_LIST_ALL) ? sql_all : sql_live);
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		rc = UTIL_GROW(arr, cap, cnt, SIZE_MAX);
		if (rc < 0)
			break;
		rc = info_from_row(q, &arr[cnt]);
		if (rc < 0)
			break;
		cnt++;
	}
	if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
	for (i = 0; rc == 0 && i < cnt; i++) {
		rc = info_finish(st, &arr[i], !(flags & STORE_LIST_NO_METRICS), flags & STORE_LIST_SIZES);
		if (rc < 0) {
			/* info_finish released arr[i]; keep the array consistent */
			memmove(&arr[i], &arr[i + 1], (cnt - i - 1) * sizeof(*arr));
			cnt--;
		}
	}
out_unlock:
	pthread_mutex_unlock(&st->mu);
	if (rc < 0) {
		ckpt_info_free_array(arr, cnt);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

int store_ckpt_lookup(struct store *st, const char *name, struct ckpt_info *out)
{
	sqlite3_stmt *q;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT " CKPT_COLS " FROM checkpoints WHERE name=? AND state IN (0,1)");
	if (!q) {
		rc = -EIO;
	} else {
		sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
		rc = info_query1(st, q, out);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_ckpt_get(struct store *st, int64_t id, struct ckpt_info *out)
{
	sqlite3_stmt *q;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT " CKPT_COLS " FROM checkpoints WHERE id=?");
	if (!q) {
		rc = -EIO;
	} else {
		sqlite3_bind_int64(q, 1, id);
		rc = info_query1(st, q, out);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int lookup_aborted_rank(struct store *st, const char *name, int64_t rank,
			       struct ckpt_info *out)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT " CKPT_COLS " FROM checkpoints WHERE state=2 AND name=?"
					 " ORDER BY ended_at DESC, id DESC LIMIT 1 OFFSET ?");

	if (!q)
		return -EIO;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, rank - 1);
	return info_query1(st, q, out);
}

int store_ckpt_lookup_aborted(struct store *st, const char *display_name, struct ckpt_info *out)
{
	const char *tilde;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->mu);
	rc = lookup_aborted_rank(st, display_name, 1, out);
	tilde = strrchr(display_name, '~');
	if (rc == -ENOENT && tilde && tilde > display_name && tilde[1]) {
		char *end;
		long long r = strtoll(tilde + 1, &end, 10);

		if (!*end && r >= 2 && tilde[1] != '0' && tilde[1] != '+' && tilde[1] != '-') {
			char *base = strndup(display_name, (size_t)(tilde - display_name));

			if (!base)
				rc = -ENOMEM;
			else
				rc = lookup_aborted_rank(st, base, r, out);
			free(base);
		}
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_ckpt_name(struct store *st, int64_t ckpt_id, char **out)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT name FROM checkpoints WHERE id=?");
	int rc;

	*out = NULL;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, ckpt_id);
	if (sqlite3_step(q) == SQLITE_ROW)
		rc = dup_col(q, 0, out);
	else
		rc = -ENOENT;
	sqlite3_reset(q);
	return rc;
}

/* state, committed_version, staging_version, kind of a checkpoint */
struct ckrow {
	int state, kind;
	int64_t committed, staging, version;
	bool withdrawn;
};

static int ckrow_get(struct store *st, int64_t id, struct ckrow *r)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT state, committed_version, staging_version, kind,"
					 " version, withdrawn FROM checkpoints WHERE id=?");
	int rc = 0;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		r->state = sqlite3_column_int(q, 0);
		r->committed = sqlite3_column_int64(q, 1);
		r->staging = sqlite3_column_int64(q, 2);
		r->kind = sqlite3_column_int(q, 3);
		r->version = sqlite3_column_int64(q, 4);
		r->withdrawn = sqlite3_column_int(q, 5) != 0;
	} else {
		rc = -ENOENT;
	}
	sqlite3_reset(q);
	return rc;
}

static int live_id(struct store *st, const char *name, int64_t *id)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT id FROM checkpoints WHERE name=? AND state IN (0,1)");
	int rc = -ENOENT;

	if (!q)
		return -EIO;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(q) == SQLITE_ROW) {
		*id = sqlite3_column_int64(q, 0);
		rc = 0;
	}
	sqlite3_reset(q);
	return rc;
}

static int exec_id(struct store *st, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *q = store_stmt(st, sql);
	int rc;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, a);
	if (sqlite3_bind_parameter_count(q) >= 2)
		sqlite3_bind_int64(q, 2, b);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	return rc;
}

static int set_eligible(struct store *st, int64_t ckpt_id)
{
	return exec_id(st, "UPDATE metrics SET eligible = (SELECT state=1 AND withdrawn=0 FROM"
			   " checkpoints WHERE id=?1) WHERE ckpt=?1", ckpt_id, 0);
}

int store_ckpt_create(struct store *st, const char *name, int kind, uint32_t mode,
		      int64_t *ckpt_id, int64_t *root)
{
	sqlite3_stmt *q;
	int64_t cid, vid, rid, now = store_now(), now_ns = store_now_ns();
	uint32_t type = kind == CKPT_FILE ? S_IFREG : S_IFDIR;
	int rc;

	if (kind != CKPT_DIR && kind != CKPT_FILE)
		return -EINVAL;
	rc = store_name_check(name);
	if (rc < 0)
		return rc;
	if (!store_writable(st))
		return -EROFS;
	pthread_mutex_lock(&st->mu);
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = live_id(st, name, &cid);
	if (rc == 0) {
		rc = -EEXIST;
		goto out_rollback;
	}
	q = store_stmt(st, "INSERT INTO checkpoints(name, kind, state, created_at) VALUES(?,?,0,?)");
	if (!q) {
		rc = -EIO;
		goto out_rollback;
	}
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 2, kind);
	sqlite3_bind_int64(q, 3, now);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc < 0)
		goto out_rollback;
	cid = sqlite3_last_insert_rowid(st->db);
	rc = exec_id(st, "INSERT INTO versions(ckpt, state, created_at) VALUES(?, 0, ?)", cid, now);
	if (rc < 0)
		goto out_rollback;
	vid = sqlite3_last_insert_rowid(st->db);
	q = store_stmt(st, "INSERT INTO nodes(version, parent, name, mode, size, mtime, ctime)"
			   " VALUES(?, 0, '', ?, 0, ?, ?)");
	if (!q) {
		rc = -EIO;
		goto out_rollback;
	}
	sqlite3_bind_int64(q, 1, vid);
	sqlite3_bind_int64(q, 2, (mode & 07777) | type);
	sqlite3_bind_int64(q, 3, now_ns);
	sqlite3_bind_int64(q, 4, now_ns);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc < 0)
		goto out_rollback;
	rid = sqlite3_last_insert_rowid(st->db);
	rc = exec_id(st, "UPDATE versions SET root=? WHERE id=?", rid, vid);
	if (rc == 0)
		rc = exec_id(st, "UPDATE checkpoints SET version=?1, staging_version=?1 WHERE id=?2",
			     vid, cid);
	if (rc < 0)
		goto out_rollback;
	rc = store_commit_tx(st);
	if (rc < 0)
		goto out_unlock;
	if (ckpt_id)
		*ckpt_id = cid;
	if (root)
		*root = rid;
	pthread_mutex_unlock(&st->mu);
	return 0;
out_rollback:
	store_rollback(st);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* Copies version src's tree into version dst (new ids, origin = old id) and
 * takes a reference on every chunk of every copied file. In a tx. */
static int copy_tree(struct store *st, int64_t src, int64_t dst)
{
	sqlite3_stmt *q;
	int rc, s;

	rc = exec_id(st, "INSERT INTO nodes(version, parent, name, mode, size, mtime, ctime, chunks,"
			 " target, origin, atime) SELECT ?2, parent, name, mode, size, mtime, ctime, chunks,"
			 " target, id, atime FROM nodes WHERE version=?1 ORDER BY id", src, dst);
	if (rc < 0)
		return rc;
	rc = exec_id(st, "UPDATE nodes SET parent = (SELECT n2.id FROM nodes n2 WHERE n2.version=?1"
			 " AND n2.origin = nodes.parent) WHERE version=?1 AND parent != 0", dst, 0);
	if (rc < 0)
		return rc;
	rc = exec_id(st, "UPDATE versions SET root = (SELECT id FROM nodes WHERE version=?1 AND"
			 " parent=0) WHERE id=?1", dst, 0);
	if (rc < 0)
		return rc;
	q = store_stmt(st, "SELECT chunks FROM nodes WHERE version=? AND chunks IS NOT NULL");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, dst);
	/* the refs update goes through other statements: copy the blob first */
	while (rc == 0 && (s = sqlite3_step(q)) == SQLITE_ROW)
		rc = store_chunks_ref_blob(st, sqlite3_column_blob(q, 0),
					   (size_t)sqlite3_column_bytes(q, 0));
	if (rc == 0 && s != SQLITE_DONE)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
	return rc;
}

int store_ckpt_begin_version(struct store *st, int64_t ckpt_id, int64_t *version)
{
	struct ckrow r;
	int64_t vid;
	int rc;

	if (!store_writable(st))
		return -EROFS;
	pthread_mutex_lock(&st->mu);
	rc = ckrow_get(st, ckpt_id, &r);
	if (rc < 0)
		goto out_unlock;
	if (r.staging) {
		*version = r.staging;
		goto out_unlock;
	}
	if (r.state != CKPT_COMMITTED || !r.committed) {
		rc = -EINVAL;
		goto out_unlock;
	}
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = exec_id(st, "INSERT INTO versions(ckpt, state, created_at) VALUES(?, 0, ?)", ckpt_id,
		     store_now());
	if (rc < 0)
		goto out_rollback;
	vid = sqlite3_last_insert_rowid(st->db);
	rc = copy_tree(st, r.committed, vid);
	if (rc == 0)
		rc = exec_id(st, "UPDATE checkpoints SET version=?1, staging_version=?1 WHERE id=?2",
			     vid, ckpt_id);
	if (rc < 0)
		goto out_rollback;
	rc = store_commit_tx(st);
	if (rc == 0)
		*version = vid;
	goto out_unlock;
out_rollback:
	store_rollback(st);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* ---- commit ---- */

struct commit_file {
	int64_t id;
	char *path;
	uint64_t size;
	struct chunk_ref *refs;
	size_t n;
};

struct commit_prep {
	struct meta_set ms;
	uint64_t logical;
	char why[512];
};

static void commit_files_free(struct commit_file *f, size_t n)
{
	size_t i;

	for (i = 0; f && i < n; i++) {
		free(f[i].path);
		free(f[i].refs);
	}
	free(f);
}

/* Regular files of version v with their paths and chunk lists. */
static int version_files(struct store *st, int64_t v, int kind, const char *ckname,
			 struct commit_file **out, size_t *n)
{
	sqlite3_stmt *q;
	struct commit_file *arr = NULL;
	size_t cnt = 0, cap = 0, i;
	int rc = 0, s;

	q = store_stmt(st, "SELECT id, size, chunks FROM nodes WHERE version=? AND (mode & 61440) = 32768");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, v);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		rc = UTIL_GROW(arr, cap, cnt, STORE_TREE_MAX);
		if (rc < 0)
			break;
		memset(&arr[cnt], 0, sizeof(arr[cnt]));
		arr[cnt].id = sqlite3_column_int64(q, 0);
		arr[cnt].size = (uint64_t)sqlite3_column_int64(q, 1);
		if (sqlite3_column_bytes(q, 2) > 0) {
			rc = chunk_refs_decode(sqlite3_column_blob(q, 2),
					       (size_t)sqlite3_column_bytes(q, 2), &arr[cnt].refs,
					       &arr[cnt].n);
		}
		cnt++;
		if (rc < 0)
			break;
	}
	if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
	for (i = 0; rc == 0 && i < cnt; i++) {
		if (kind == CKPT_FILE) {
			arr[i].path = strdup(ckname);
			if (!arr[i].path)
				rc = -ENOMEM;
		} else {
			rc = store_node_path_locked(st, arr[i].id, &arr[i].path);
		}
	}
	if (rc < 0) {
		commit_files_free(arr, cnt);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

/* Reads a whole small file through its chunk list (malloc'd, NUL ended). */
static int read_small(struct store *st, const struct commit_file *f, char **out)
{
	struct chunk_reader r;
	char *buf;
	int rc;

	buf = malloc(f->size + 1);
	if (!buf)
		return -ENOMEM;
	chunk_reader_init(&r, st, f->refs, f->n, f->size);
	rc = f->size ? chunk_reader_read(&r, buf, f->size, 0) : 0;
	chunk_reader_release(&r);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[f->size] = 0;
	*out = buf;
	return 0;
}

/* Everything of a commit that happens before its transaction: flush, format
 * checks, metrics, chunk barrier. Runs without st->mu except for index reads.
 * Returns -EBADMSG with prep->why when a check failed. */
static int commit_prepare(struct store *st, int64_t ckpt_id, int64_t v, int kind,
			  const char *name, bool checks, struct commit_prep *prep)
{
	struct commit_file *files = NULL;
	size_t n = 0, i, k;
	sqlite3_stmt *q;
	int rc, s;

	meta_init(&prep->ms);
	prep->logical = 0;
	prep->why[0] = 0;
	rc = store_flush_version(st, v);
	if (rc < 0) {
		snprintf(prep->why, sizeof(prep->why), "writing file data failed: %s", strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&st->mu);
	rc = version_files(st, v, kind, name, &files, &n);
	pthread_mutex_unlock(&st->mu);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++)
		prep->logical += files[i].size;

	if (checks) {
		for (i = 0; i < n; i++) {
			struct chunk_reader r;

			chunk_reader_init(&r, st, files[i].refs, files[i].n, files[i].size);
			rc = format_check(files[i].path, files[i].size, chunk_reader_read, &r,
					  prep->why, sizeof(prep->why));
			chunk_reader_release(&r);
			if (rc == -EBADMSG && !prep->why[0])
				snprintf(prep->why, sizeof(prep->why), "%s: format check failed",
					 files[i].path);
			if (rc < 0 && rc != -EBADMSG)
				snprintf(prep->why, sizeof(prep->why), "%s: reading for the format check: %s",
					 files[i].path, strerror(-rc));
			if (rc < 0)
				goto out_free;
		}
	}

	/* metrics, in the contract's order; each later source overrides */
	meta_from_name(&prep->ms, name);
	for (k = 0; kind == CKPT_DIR && k < sizeof(meta_files) / sizeof(meta_files[0]); k++) {
		for (i = 0; i < n; i++) {
			char *text = NULL;

			if (strcmp(files[i].path, meta_files[k]) != 0)
				continue;
			if (files[i].size > META_JSON_MAX) {
				meta_problem(&prep->ms, "%s: larger than %u bytes, ignored", meta_files[k],
					     META_JSON_MAX);
				break;
			}
			rc = read_small(st, &files[i], &text);
			if (rc < 0) {
				meta_problem(&prep->ms, "%s: unreadable: %s", meta_files[k], strerror(-rc));
				rc = 0;
				break;
			}
			if (k == 0)
				meta_from_trainer_state(&prep->ms, text, files[i].size);
			else
				meta_from_json(&prep->ms, text, files[i].size, meta_files[k]);
			free(text);
			break;
		}
	}
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT name, value FROM metrics WHERE ckpt=? AND source='xattr'");
	if (q) {
		sqlite3_bind_int64(q, 1, ckpt_id);
		/* values were validated when set; a refusal here is noted by meta */
		while ((s = sqlite3_step(q)) == SQLITE_ROW)
			meta_set_value(&prep->ms, (const char *)sqlite3_column_text(q, 0),
				       sqlite3_column_double(q, 1), "xattr");
		if (s != SQLITE_DONE)
			rc = store_sqlerr(s);
		sqlite3_reset(q);
	} else {
		rc = -EIO;
	}
	pthread_mutex_unlock(&st->mu);
	if (rc < 0) {
		snprintf(prep->why, sizeof(prep->why), "reading stored metrics failed: %s", strerror(-rc));
		goto out_free;
	}

	store_crash_point(st, "commit:before_barrier");
	rc = chunk_barrier(st->cs);
	if (rc < 0) {
		snprintf(prep->why, sizeof(prep->why), "making data durable failed: %s", strerror(-rc));
		goto out_free;
	}
	store_crash_point(st, "commit:after_barrier");
out_free:
	commit_files_free(files, n);
	return rc;
}

static int insert_metrics(struct store *st, int64_t ckpt_id, const struct meta_set *ms)
{
	size_t i;
	int rc = exec_id(st, "DELETE FROM metrics WHERE ckpt=? AND source != 'xattr'", ckpt_id, 0);

	for (i = 0; rc == 0 && i < ms->n_metrics; i++) {
		const struct metric *m = &ms->metrics[i];
		sqlite3_stmt *q;

		if (strcmp(m->source, "xattr") == 0)
			continue; /* its row is already there */
		q = store_stmt(st, "INSERT OR IGNORE INTO metrics(ckpt, name, value, source)"
				   " VALUES(?,?,?,?)");
		if (!q)
			return -EIO;
		sqlite3_bind_int64(q, 1, ckpt_id);
		sqlite3_bind_text(q, 2, m->name, -1, SQLITE_STATIC);
		sqlite3_bind_double(q, 3, m->value);
		sqlite3_bind_text(q, 4, m->source, -1, SQLITE_STATIC);
		rc = store_sqlerr(sqlite3_step(q));
		sqlite3_reset(q);
	}
	return rc;
}

/* The commit transaction body (caller holds st->mu, tx open). */
static int commit_tx(struct store *st, int64_t ckpt_id, const struct ckrow *r, int64_t v,
		     const char *new_name, const struct commit_prep *prep, const char *rule)
{
	sqlite3_stmt *q;
	int rc = 0;

	if (r->committed && r->committed != v)
		rc = exec_id(st, "UPDATE versions SET state=3 WHERE id=?", r->committed, 0);
	if (rc == 0)
		rc = exec_id(st, "UPDATE versions SET state=1, ckpt=?2 WHERE id=?1", v, ckpt_id);
	if (rc < 0)
		return rc;
	store_crash_point(st, "commit:mid_transaction");
	q = store_stmt(st, "UPDATE checkpoints SET state=1, withdrawn=0,"
			   " commit_seq=(SELECT coalesce(max(commit_seq),0)+1 FROM checkpoints),"
			   " committed_at=?2, version=?3, committed_version=?3, staging_version=0,"
			   " step=?4, epoch=?5, logical_bytes=?6, note=?7, name=coalesce(?8, name),"
			   " ended_at=0 WHERE id=?1");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, ckpt_id);
	sqlite3_bind_int64(q, 2, store_now());
	sqlite3_bind_int64(q, 3, v);
	if (prep->ms.has_step)
		sqlite3_bind_int64(q, 4, prep->ms.step);
	if (prep->ms.has_epoch)
		sqlite3_bind_double(q, 5, prep->ms.epoch);
	sqlite3_bind_int64(q, 6, (sqlite3_int64)prep->logical);
	if (prep->ms.problems)
		sqlite3_bind_text(q, 7, prep->ms.problems, -1, SQLITE_STATIC);
	if (new_name)
		sqlite3_bind_text(q, 8, new_name, -1, SQLITE_STATIC);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc == 0)
		rc = insert_metrics(st, ckpt_id, &prep->ms);
	if (rc == 0)
		rc = set_eligible(st, ckpt_id);
	if (rc == 0) {
		char *nm = NULL;

		rc = store_ckpt_name(st, ckpt_id, &nm);
		if (rc == 0)
			rc = store_event_add(st, "commit", nm, rule);
		free(nm);
	}
	return rc;
}

/* Runs body in a durable (synchronous=FULL) transaction. */
static int durable_begin(struct store *st)
{
	int rc = store_exec(st, "PRAGMA synchronous=FULL");

	if (rc == 0)
		rc = store_begin(st);
	if (rc < 0)
		store_exec(st, "PRAGMA synchronous=NORMAL");
	return rc;
}

static int durable_end(struct store *st, int rc)
{
	if (rc == 0)
		rc = store_commit_tx(st);
	else
		store_rollback(st);
	store_exec(st, "PRAGMA synchronous=NORMAL");
	return rc;
}

/* Commit (optionally renaming to new_name, replacing a live checkpoint of that
 * name unless noreplace). */
static int commit_common(struct store *st, int64_t ckpt_id, const char *new_name, bool noreplace,
			 bool promote)
{
	struct commit_prep prep;
	struct ckrow r;
	char *name = NULL;
	int64_t v, other = 0;
	int rc;

	if (!store_writable(st) && !(st->flags & STORE_SHARED))
		return -EROFS;
	pthread_mutex_lock(&st->mu);
	rc = ckrow_get(st, ckpt_id, &r);
	if (rc == 0)
		rc = store_ckpt_name(st, ckpt_id, &name);
	pthread_mutex_unlock(&st->mu);
	if (rc < 0)
		return rc;
	if (promote) {
		if (r.state != CKPT_ABORTED) {
			rc = -EINVAL;
			goto out_free;
		}
		v = r.version;
	} else {
		if (r.state != CKPT_STAGING && r.state != CKPT_COMMITTED) {
			rc = -ENOENT;
			goto out_free;
		}
		v = r.staging;
		if (!v) {
			/* nothing staged: a committed checkpoint is already done */
			rc = r.state == CKPT_COMMITTED ? 0 : -EINVAL;
			goto out_free;
		}
	}
	if ((st->flags & STORE_SHARED) && !promote) {
		/* file data lives in the mount's memory: only it commits writes */
		rc = -EROFS;
		goto out_free;
	}
	rc = commit_prepare(st, ckpt_id, v, r.kind, new_name ? new_name : name, !promote, &prep);
	if (rc < 0) {
		if (!promote) {
			int arc;

			pthread_mutex_lock(&st->mu);
			arc = store_begin(st);
			if (arc == 0) {
				arc = store_ckpt_abort_locked(st, ckpt_id,
							      prep.why[0] ? prep.why : strerror(-rc));
				if (arc == 0)
					arc = store_commit_tx(st);
				else
					store_rollback(st);
			}
			pthread_mutex_unlock(&st->mu);
		}
		meta_release(&prep.ms);
		goto out_free;
	}
	pthread_mutex_lock(&st->mu);
	rc = durable_begin(st);
	if (rc < 0)
		goto out_unlock;
	/* state may have moved while unlocked (an abort, a delete) */
	{
		struct ckrow r2;

		rc = ckrow_get(st, ckpt_id, &r2);
		if (rc == 0 && (r2.state != r.state || (!promote && r2.staging != v)))
			rc = -ESTALE;
		if (rc == 0)
			r = r2;
	}
	if (rc == 0 && (promote || (new_name && strcmp(new_name, name) != 0))) {
		rc = live_id(st, new_name ? new_name : name, &other);
		if (rc == 0 && other != ckpt_id) {
			if (noreplace || promote)
				rc = -EEXIST;
			else
				rc = store_ckpt_delete_locked(st, other, "replaced");
		} else if (rc == -ENOENT) {
			rc = 0;
		}
	}
	if (rc == 0)
		rc = commit_tx(st, ckpt_id, &r, v, new_name, &prep, promote ? "manual" : NULL);
	rc = durable_end(st, rc);
	if (rc == 0) {
		store_files_set_ro(st, v);
		store_crash_point(st, "commit:after_transaction");
	}
out_unlock:
	pthread_mutex_unlock(&st->mu);
	meta_release(&prep.ms);
out_free:
	free(name);
	return rc;
}

int store_ckpt_commit(struct store *st, int64_t ckpt_id)
{
	return commit_common(st, ckpt_id, NULL, false, false);
}

int store_ckpt_promote(struct store *st, int64_t ckpt_id)
{
	return commit_common(st, ckpt_id, NULL, true, true);
}

/* ---- abort, delete (tx-free bodies; caller holds st->mu in a tx) ---- */

int store_ckpt_abort_locked(struct store *st, int64_t ckpt_id, const char *reason)
{
	struct ckrow r;
	sqlite3_stmt *q;
	char *name = NULL;
	int64_t now = store_now();
	int rc;

	rc = ckrow_get(st, ckpt_id, &r);
	if (rc < 0)
		return rc;
	if (!r.staging)
		return r.state == CKPT_ABORTED ? 0 : -EINVAL;
	rc = store_ckpt_name(st, ckpt_id, &name);
	if (rc < 0)
		return rc;
	if (r.state == CKPT_STAGING) {
		rc = exec_id(st, "UPDATE versions SET state=2 WHERE id=?", r.staging, 0);
		if (rc < 0)
			goto out_free;
		q = store_stmt(st, "UPDATE checkpoints SET state=2, ended_at=?2, note=?3, version=?4,"
				   " staging_version=0 WHERE id=?1");
		if (!q) {
			rc = -EIO;
			goto out_free;
		}
		sqlite3_bind_int64(q, 1, ckpt_id);
		sqlite3_bind_int64(q, 2, now);
		sqlite3_bind_text(q, 3, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, r.staging);
		rc = store_sqlerr(sqlite3_step(q));
		sqlite3_reset(q);
	} else {
		int64_t nid;

		/* the committed checkpoint stays; the failed version becomes an
		 * aborted checkpoint of its own */
		q = store_stmt(st, "INSERT INTO checkpoints(name, kind, state, created_at, ended_at,"
				   " note, version) VALUES(?,?,2,?,?,?,?)");
		if (!q) {
			rc = -EIO;
			goto out_free;
		}
		sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 2, r.kind);
		sqlite3_bind_int64(q, 3, now);
		sqlite3_bind_int64(q, 4, now);
		sqlite3_bind_text(q, 5, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 6, r.staging);
		rc = store_sqlerr(sqlite3_step(q));
		sqlite3_reset(q);
		if (rc < 0)
			goto out_free;
		nid = sqlite3_last_insert_rowid(st->db);
		rc = exec_id(st, "UPDATE versions SET state=2, ckpt=?2 WHERE id=?1", r.staging, nid);
		if (rc == 0)
			rc = exec_id(st, "UPDATE checkpoints SET staging_version=0, version=?2 WHERE id=?1",
				     ckpt_id, r.committed);
		if (rc == 0) {
			struct ofile *of;

			for (of = st->files; of; of = of->next)
				if (of->version == r.staging)
					of->ckpt = nid;
		}
	}
	if (rc == 0)
		rc = store_event_add(st, "abort", name, reason);
	if (rc == 0)
		store_files_set_ro(st, r.staging);
out_free:
	free(name);
	return rc;
}

int store_ckpt_delete_locked(struct store *st, int64_t ckpt_id, const char *rule)
{
	struct ckrow r;
	sqlite3_stmt *q;
	char *name = NULL;
	int rc;

	rc = ckrow_get(st, ckpt_id, &r);
	if (rc < 0)
		return rc;
	if (r.state == CKPT_DELETED)
		return -ENOENT;
	rc = store_ckpt_name(st, ckpt_id, &name);
	if (rc < 0)
		return rc;
	rc = exec_id(st, "UPDATE versions SET state=3 WHERE ckpt=?", ckpt_id, 0);
	if (rc < 0)
		goto out_free;
	q = store_stmt(st, "UPDATE checkpoints SET state=3, ended_at=?2, deleted_rule=?3,"
			   " staging_version=0 WHERE id=?1");
	if (!q) {
		rc = -EIO;
		goto out_free;
	}
	sqlite3_bind_int64(q, 1, ckpt_id);
	sqlite3_bind_int64(q, 2, store_now());
	sqlite3_bind_text(q, 3, rule ? rule : "user", -1, SQLITE_STATIC);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc == 0)
		rc = set_eligible(st, ckpt_id);
	if (rc == 0)
		rc = store_event_add(st, "delete", name, rule ? rule : "user");
	if (rc == 0 && r.staging)
		store_files_set_ro(st, r.staging);
out_free:
	free(name);
	return rc;
}

int store_ckpt_abort(struct store *st, int64_t ckpt_id, const char *reason)
{
	int rc;

	if (!store_writable(st))
		return -EROFS;
	pthread_mutex_lock(&st->mu);
	rc = store_begin(st);
	if (rc == 0) {
		rc = store_ckpt_abort_locked(st, ckpt_id, reason ? reason : "aborted");
		if (rc == 0)
			rc = store_commit_tx(st);
		else
			store_rollback(st);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int ckpt_delete_once(struct store *st, int64_t ckpt_id, const char *rule)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = store_begin(st);
	if (rc == 0) {
		rc = store_ckpt_delete_locked(st, ckpt_id, rule);
		store_crash_point(st, "delete:mid_transaction");
		if (rc == 0)
			rc = store_commit_tx(st);
		else
			store_rollback(st);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_ckpt_delete(struct store *st, int64_t ckpt_id, const char *rule)
{
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	rc = ckpt_delete_once(st, ckpt_id, rule);
	if (store_reserve_use(st, rc)) /* deletion works on a full disk */
		rc = ckpt_delete_once(st, ckpt_id, rule);
	if (rc == 0)
		store_gc(st, false, NULL); /* reclaim now; failures leave it for later */
	return rc;
}

int store_ckpt_rename(struct store *st, int64_t ckpt_id, const char *new_name, int flags)
{
	struct ckrow r;
	char *name = NULL;
	int64_t other = 0;
	int rc;

	rc = store_name_check(new_name);
	if (rc < 0)
		return rc;
	if (st->flags & STORE_RDONLY)
		return -EROFS;
	pthread_mutex_lock(&st->mu);
	rc = ckrow_get(st, ckpt_id, &r);
	pthread_mutex_unlock(&st->mu);
	if (rc < 0)
		return rc;
	if (r.state != CKPT_STAGING && r.state != CKPT_COMMITTED)
		return -ENOENT;
	if ((flags & STORE_RENAME_COMMIT) && r.staging)
		return commit_common(st, ckpt_id, new_name, (flags & STORE_RENAME_NOREPLACE) != 0, false);

	pthread_mutex_lock(&st->mu);
	rc = store_ckpt_name(st, ckpt_id, &name);
	if (rc < 0 || strcmp(name, new_name) == 0)
		goto out_unlock;
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = live_id(st, new_name, &other);
	if (rc == 0) {
		rc = (flags & STORE_RENAME_NOREPLACE) ? -EEXIST
						      : store_ckpt_delete_locked(st, other, "replaced");
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	if (rc == 0) {
		sqlite3_stmt *q = store_stmt(st, "UPDATE checkpoints SET name=? WHERE id=?");

		if (!q) {
			rc = -EIO;
		} else {
			sqlite3_bind_text(q, 1, new_name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q, 2, ckpt_id);
			rc = store_sqlerr(sqlite3_step(q));
			sqlite3_reset(q);
		}
	}
	if (rc == 0)
		rc = store_event_add(st, "rename", new_name, name);
	if (rc == 0)
		rc = store_commit_tx(st);
	else
		store_rollback(st);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	free(name);
	if (rc == 0 && other)
		store_gc(st, false, NULL);
	return rc;
}

int store_ckpt_withdraw(struct store *st, int64_t ckpt_id)
{
	struct ckrow r;
	char *name = NULL;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	pthread_mutex_lock(&st->mu);
	rc = ckrow_get(st, ckpt_id, &r);
	if (rc < 0 || r.state != CKPT_COMMITTED || r.withdrawn)
		goto out_unlock;
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = exec_id(st, "UPDATE checkpoints SET withdrawn=1 WHERE id=?", ckpt_id, 0);
	if (rc == 0)
		rc = set_eligible(st, ckpt_id);
	if (rc == 0)
		rc = store_ckpt_name(st, ckpt_id, &name);
	if (rc == 0)
		rc = store_event_add(st, "withdraw", name, NULL);
	if (rc == 0)
		rc = store_commit_tx(st);
	else
		store_rollback(st);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	free(name);
	return rc;
}

int store_ckpt_set_pinned(struct store *st, int64_t ckpt_id, bool pinned)
{
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	pthread_mutex_lock(&st->mu);
	rc = exec_id(st, "UPDATE checkpoints SET pinned=? WHERE id=?", pinned ? 1 : 0, ckpt_id);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = -ENOENT;
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_ckpt_set_metric(struct store *st, int64_t ckpt_id, const char *name, double value)
{
	bool is_step = strcmp(name, "step") == 0 || strcmp(name, "global_step") == 0;
	bool is_epoch = strcmp(name, "epoch") == 0;
	sqlite3_stmt *q;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	if (!isfinite(value))
		return -EINVAL;
	if (is_step) {
		if (value != floor(value) || fabs(value) > 9.0e15)
			return -EINVAL;
		name = "step";
	} else if (!is_epoch && (!meta_name_usable(name) || strlen(name) >= META_NAME_MAX)) {
		return -EINVAL;
	}
	pthread_mutex_lock(&st->mu);
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	q = store_stmt(st, "INSERT OR REPLACE INTO metrics(ckpt, name, value, source, eligible)"
			   " SELECT id, ?2, ?3, 'xattr', state=1 AND withdrawn=0 FROM checkpoints WHERE id=?1");
	if (!q) {
		rc = -EIO;
		goto out_rollback;
	}
	sqlite3_bind_int64(q, 1, ckpt_id);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_double(q, 3, value);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = -ENOENT;
	if (rc == 0 && is_step)
		rc = exec_id(st, "UPDATE checkpoints SET step=?2 WHERE id=?1", ckpt_id, (int64_t)value);
	if (rc == 0 && is_epoch) {
		q = store_stmt(st, "UPDATE checkpoints SET epoch=? WHERE id=?");
		if (!q) {
			rc = -EIO;
		} else {
			sqlite3_bind_double(q, 1, value);
			sqlite3_bind_int64(q, 2, ckpt_id);
			rc = store_sqlerr(sqlite3_step(q));
			sqlite3_reset(q);
		}
	}
	if (rc == 0) {
		rc = store_commit_tx(st);
		goto out_unlock;
	}
out_rollback:
	store_rollback(st);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_ckpt_remove_metric(struct store *st, int64_t ckpt_id, const char *name)
{
	sqlite3_stmt *q;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	if (strcmp(name, "global_step") == 0)
		name = "step";
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "DELETE FROM metrics WHERE ckpt=? AND name=? AND source='xattr'");
	if (!q) {
		rc = -EIO;
	} else {
		sqlite3_bind_int64(q, 1, ckpt_id);
		sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
		rc = store_sqlerr(sqlite3_step(q));
		sqlite3_reset(q);
		if (rc == 0 && sqlite3_changes(st->db) == 0)
			rc = -ENODATA;
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* ---- resolution ---- */

/* Steps a resolution query (id, committed_version; at most one row) into the
 * caller's outputs (either may be NULL). 0, -ENOENT when no row, or the
 * index's error (noted: an unreadable index is not "no such checkpoint"). */
static int resolve_row(struct store *st, sqlite3_stmt *q, const char *what, int64_t *ckpt_id,
		       int64_t *version)
{
	int rc = -ENOENT, s;

	if (!q)
		return store_index_error(st, what);
	s = sqlite3_step(q);
	if (s == SQLITE_ROW) {
		if (ckpt_id)
			*ckpt_id = sqlite3_column_int64(q, 0);
		if (version)
			*version = sqlite3_column_int64(q, 1);
		rc = 0;
	} else if (s != SQLITE_DONE) {
		rc = store_index_error(st, what);
	}
	sqlite3_reset(q);
	return rc;
}

int store_resolve_latest(struct store *st, int64_t *ckpt_id, int64_t *version)
{
	sqlite3_stmt *q;
	int rc;

	pthread_mutex_lock(&st->mu);
	/* the partial index holds exactly the candidates; the planner would
	 * otherwise pick ckpt_state and sort */
	q = store_stmt(st, "SELECT id, committed_version FROM checkpoints INDEXED BY ckpt_latest"
			   " WHERE state=1 AND withdrawn=0 ORDER BY commit_seq DESC LIMIT 1");
	rc = resolve_row(st, q, "resolving latest", ckpt_id, version);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_resolve_best(struct store *st, const char *metric, int dir, int64_t *ckpt_id,
		       int64_t *version)
{
	/* ties: lower step (none last), then earlier commit — retain_cmp_best's order */
	static const char sql_min[] =
		"SELECT c.id, c.committed_version FROM metrics m JOIN checkpoints c ON c.id = m.ckpt"
		" WHERE m.name=? AND m.eligible=1 AND c.state=1 AND c.withdrawn=0"
		" ORDER BY m.value ASC, (c.step IS NULL), c.step, c.commit_seq LIMIT 1";
	static const char sql_max[] =
		"SELECT c.id, c.committed_version FROM metrics m JOIN checkpoints c ON c.id = m.ckpt"
		" WHERE m.name=? AND m.eligible=1 AND c.state=1 AND c.withdrawn=0"
		" ORDER BY m.value DESC, (c.step IS NULL), c.step, c.commit_seq LIMIT 1";
	sqlite3_stmt *q;
	int rc = -ENOENT;

	if (!metric || strcmp(metric, "step") == 0 || strcmp(metric, "epoch") == 0)
		return -ENOENT;
	if (dir == 0) {
		struct policy p;

		rc = store_policy_get(st, &p);
		if (rc < 0)
			return rc;
		dir = policy_direction(&p, metric, NULL);
		rc = -ENOENT;
	}
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, dir < 0 ? sql_min : sql_max);
	if (q)
		sqlite3_bind_text(q, 1, metric, -1, SQLITE_STATIC);
	rc = resolve_row(st, q, "resolving best", ckpt_id, version);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int store_metric_names(struct store *st, char ***out, size_t *n)
{
	sqlite3_stmt *q;
	char **arr = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0, s;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT DISTINCT name FROM metrics WHERE eligible=1"
			   " AND name NOT IN ('step','epoch') ORDER BY name");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		char *d;

		int g = UTIL_GROW(arr, cap, cnt, (size_t)1 << 20);

		if (g < 0) {
			if (g == -ENOMEM)
				rc = g;
			break; /* -EFBIG: far more than anyone lists */
		}
		d = strdup((const char *)sqlite3_column_text(q, 0));
		if (!d) {
			rc = -ENOMEM;
			break;
		}
		arr[cnt++] = d;
	}
	if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	if (rc < 0) {
		while (cnt)
			free(arr[--cnt]);
		free(arr);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}
