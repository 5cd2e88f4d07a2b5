/* Checkpoints: list/lookup, create, copy-on-write versions, commit, abort,
 * promote, delete, rename, withdraw, pins, xattr metrics, and resolution of
 * latest / best. The protocol only: the rows change through the index's
 * verbs (core/index.h, "checkpoints and versions, metrics"). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format.h"
#include "util.h"
#include "store_int.h"

static const char *const meta_files[] = { "trainer_state.json", "metadata.json", "metrics.json" };

/* Display name of an aborted row: NAME for the newest aborted of its name,
 * NAME~2, NAME~3 ... for older ones (by abort time, then id). */
static int aborted_display_name(struct store *st, struct ckpt_info *ci)
{
	int64_t rank = 1;
	size_t l;
	char *dn;
	int rc;

	rc = index_ckpt_aborted_rank(st->ix, ci->name, ci->ended_at, ci->id, &rank);
	if (rc < 0 || rank <= 1)
		return rc;
	l = strlen(ci->name) + 24;
	dn = malloc(l);
	if (!dn)
		return -ENOMEM;
	snprintf(dn, l, "%s~%lld", ci->name, (long long)rank);
	free(ci->name);
	ci->name = dn;
	return 0;
}

struct metric_list {
	struct ckpt_info *ci;
	size_t cap;
};

static int metric_keep(void *ctx, const struct metric *m)
{
	struct metric_list *l = ctx;
	struct ckpt_info *ci = l->ci;
	int g = UTIL_GROW(ci->metrics, l->cap, ci->n_metrics, META_MAX_METRICS * 2);

	if (g < 0)
		return g == -ENOMEM ? g : 1; /* -EFBIG: more than extraction ever stores */
	ci->metrics[ci->n_metrics++] = *m;
	return 0;
}

static int load_metrics(struct store *st, struct ckpt_info *ci)
{
	struct metric_list l = { .ci = ci };
	int rc = index_metric_foreach(st->ix, ci->id, metric_keep, &l);

	return rc > 0 ? 0 : rc;
}

/* logical_bytes of a staging or aborted checkpoint: the current sum over its
 * version's files (committed ones carry the sum set at commit). A scan of the
 * version's nodes, so only callers that show sizes ask for it: a lookup on
 * every file created in a big staging checkpoint would make creating N files
 * cost O(N^2). */
static int info_logical_bytes(struct store *st, struct ckpt_info *ci)
{
	if ((ci->state != CKPT_STAGING && ci->state != CKPT_ABORTED) || !ci->version)
		return 0;
	return index_version_file_bytes(st->ix, ci->version, &ci->logical_bytes);
}

int store_ckpt_logical_bytes(struct store *st, struct ckpt_info *ci)
{
	int rc;

	store_mu_lock(st);
	rc = info_logical_bytes(st, ci);
	store_mu_unlock(st);
	return rc;
}

/* Completes a row the index handed out: display name, sizes, metrics. */
static int info_finish(struct store *st, struct ckpt_info *ci, bool metrics, bool sizes)
{
	int rc = 0;

	if (ci->state == CKPT_ABORTED)
		rc = aborted_display_name(st, ci);
	if (rc == 0 && sizes)
		rc = info_logical_bytes(st, ci);
	if (rc == 0 && metrics)
		rc = load_metrics(st, ci);
	if (rc < 0)
		ckpt_info_release(ci);
	return rc;
}

/* rc of a lookup that filled out; then finishes it with its metrics. */
static int info_found(struct store *st, int rc, struct ckpt_info *out)
{
	return rc < 0 ? rc : info_finish(st, out, true, false);
}

struct ckpt_list {
	struct ckpt_info *arr;
	size_t cnt, cap;
};

static int ckpt_list_add(void *ctx, struct ckpt_info *ci)
{
	struct ckpt_list *l = ctx;
	int rc = UTIL_GROW(l->arr, l->cap, l->cnt, SIZE_MAX);

	if (rc < 0) {
		ckpt_info_release(ci);
		return rc;
	}
	l->arr[l->cnt++] = *ci;
	return 0;
}

int store_ckpt_list(struct store *st, int flags, struct ckpt_info **out, size_t *n)
{
	struct ckpt_list l = { 0 };
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	store_mu_lock(st);
	rc = index_ckpt_foreach(st->ix, flags & STORE_LIST_ALL, ckpt_list_add, &l);
	for (i = 0; rc == 0 && i < l.cnt; i++) {
		rc = info_finish(st, &l.arr[i], !(flags & STORE_LIST_NO_METRICS),
				 flags & STORE_LIST_SIZES);
		if (rc < 0) {
			/* info_finish released arr[i]; keep the array consistent */
			memmove(&l.arr[i], &l.arr[i + 1], (l.cnt - i - 1) * sizeof(*l.arr));
			l.cnt--;
		}
	}
	store_mu_unlock(st);
	if (rc < 0) {
		ckpt_info_free_array(l.arr, l.cnt);
		return rc;
	}
	*out = l.arr;
	*n = l.cnt;
	return 0;
}

int store_ckpt_lookup(struct store *st, const char *name, struct ckpt_info *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	store_mu_lock(st);
	rc = info_found(st, index_ckpt_get_live(st->ix, name, out), out);
	store_mu_unlock(st);
	return rc;
}

int store_ckpt_get(struct store *st, int64_t id, struct ckpt_info *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	store_mu_lock(st);
	rc = info_found(st, index_ckpt_get(st->ix, id, out), out);
	store_mu_unlock(st);
	return rc;
}

static int lookup_aborted_rank(struct store *st, const char *name, int64_t rank,
			       struct ckpt_info *out)
{
	return info_found(st, index_ckpt_get_aborted(st->ix, name, rank, out), out);
}

int store_ckpt_lookup_aborted(struct store *st, const char *display_name, struct ckpt_info *out)
{
	const char *tilde;
	int rc;

	memset(out, 0, sizeof(*out));
	store_mu_lock(st);
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
	store_mu_unlock(st);
	return rc;
}

/* 0 when no live checkpoint is called name, -EEXIST with *id when one is. */
static int live_free(struct store *st, const char *name, int64_t *id)
{
	int rc = index_ckpt_live_id(st->ix, name, id);

	if (rc == 0)
		return -EEXIST;
	return rc == -ENOENT ? 0 : rc;
}

int store_ckpt_create(struct store *st, const char *name, int kind, uint32_t mode, int64_t *ckpt_id,
		      int64_t *root)
{
	struct index *ix = st->ix;
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
	store_mu_lock(st);
	rc = index_tx_begin(ix);
	if (rc < 0)
		goto out_unlock;
	rc = live_free(st, name, &cid);
	if (rc == 0)
		rc = index_ckpt_insert(ix, name, kind, now, &cid);
	if (rc == 0)
		rc = index_version_insert(ix, cid, now, &vid);
	if (rc == 0)
		rc = index_version_create_root(ix, vid, (mode & 07777) | type, now_ns, &rid);
	if (rc == 0)
		rc = index_ckpt_set_versions(ix, cid, vid, vid);
	if (rc == 0 && store_multi(st)) /* ours from the start: no reaper takes it */
		rc = index_writer_add(ix, cid, st->mount_id, 0);
	rc = index_tx_end(ix, rc);
	if (rc == 0 && ckpt_id)
		*ckpt_id = cid;
	if (rc == 0 && root)
		*root = rid;
out_unlock:
	store_mu_unlock(st);
	return rc;
}

int store_ckpt_begin_version(struct store *st, int64_t ckpt_id, int64_t *version)
{
	struct index *ix = st->ix;
	struct index_ckpt_row r;
	int64_t vid;
	int rc;

	if (!store_writable(st))
		return -EROFS;
	store_mu_lock(st);
	rc = index_ckpt_row(ix, ckpt_id, &r);
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
	rc = index_tx_begin(ix);
	if (rc < 0)
		goto out_unlock;
	rc = index_version_insert(ix, ckpt_id, store_now(), &vid);
	if (rc == 0)
		rc = store_version_copy_locked(st, r.committed, vid);
	if (rc == 0)
		rc = index_ckpt_set_versions(ix, ckpt_id, vid, vid);
	if (rc == 0 && store_multi(st))
		rc = index_writer_add(ix, ckpt_id, st->mount_id, 0);
	rc = index_tx_end(ix, rc);
	if (rc == 0)
		*version = vid;
out_unlock:
	store_mu_unlock(st);
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

struct file_list {
	struct commit_file *arr;
	size_t cnt, cap;
};

static int file_list_add(void *ctx, struct index_file_row *row)
{
	struct file_list *l = ctx;
	struct commit_file *f;
	int rc = UTIL_GROW(l->arr, l->cap, l->cnt, STORE_TREE_MAX);

	if (rc < 0)
		return rc;
	f = &l->arr[l->cnt++];
	memset(f, 0, sizeof(*f));
	f->id = row->id;
	f->size = row->size;
	f->refs = row->refs; /* taken */
	f->n = row->n;
	row->refs = NULL;
	return 0;
}

/* Regular files of version v with their paths and chunk lists. */
static int version_files(struct store *st, int64_t v, int kind, const char *ckname,
			 struct commit_file **out, size_t *n)
{
	struct file_list l = { 0 };
	size_t i;
	int rc;

	rc = index_version_files(st->ix, v, file_list_add, &l);
	for (i = 0; rc == 0 && i < l.cnt; i++) {
		if (kind == CKPT_FILE) {
			l.arr[i].path = strdup(ckname);
			if (!l.arr[i].path)
				rc = -ENOMEM;
		} else {
			rc = store_node_path_locked(st, l.arr[i].id, &l.arr[i].path);
		}
	}
	if (rc < 0) {
		commit_files_free(l.arr, l.cnt);
		return rc;
	}
	*out = l.arr;
	*n = l.cnt;
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

/* Format checks of every file; -EBADMSG with prep->why when one fails. */
static int check_formats(struct store *st, const struct commit_file *files, size_t n,
			 struct commit_prep *prep)
{
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < n; i++) {
		struct chunk_reader r;

		chunk_reader_init(&r, st, files[i].refs, files[i].n, files[i].size);
		rc = format_check(files[i].path, files[i].size, chunk_reader_read, &r, prep->why,
				  sizeof(prep->why));
		chunk_reader_release(&r);
		if (rc == -EBADMSG && !prep->why[0])
			snprintf(prep->why, sizeof(prep->why), "%s: format check failed",
				 files[i].path);
		if (rc < 0 && rc != -EBADMSG)
			snprintf(prep->why, sizeof(prep->why),
				 "%s: reading for the format check: %s", files[i].path,
				 strerror(-rc));
	}
	return rc;
}

/* Metrics from the name and the metadata files, in the contract's order;
 * each later source overrides. Problems are noted in prep->ms, never fatal. */
static void read_metadata(struct store *st, int kind, const char *name,
			  const struct commit_file *files, size_t n, struct commit_prep *prep)
{
	size_t i, k;
	int rc;

	meta_from_name(&prep->ms, name);
	for (k = 0; kind == CKPT_DIR && k < sizeof(meta_files) / sizeof(meta_files[0]); k++) {
		for (i = 0; i < n; i++) {
			char *text = NULL;

			if (strcmp(files[i].path, meta_files[k]) != 0)
				continue;
			if (files[i].size > META_JSON_MAX) {
				meta_problem(&prep->ms, "%s: larger than %u bytes, ignored",
					     meta_files[k], META_JSON_MAX);
				break;
			}
			rc = read_small(st, &files[i], &text);
			if (rc < 0) {
				meta_problem(&prep->ms, "%s: unreadable: %s", meta_files[k],
					     strerror(-rc));
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
}

static int xattr_metric_keep(void *ctx, const struct metric *m)
{
	/* values were validated when set; a refusal here is noted by meta */
	meta_set_value(ctx, m->name, m->value, m->source);
	return 0;
}

/* Everything of a commit that happens before its transaction: flush, format
 * checks, metrics, chunk barrier. Runs without st->mu except for index reads.
 * Returns -EBADMSG with prep->why when a check failed. */
static int commit_prepare(struct store *st, int64_t ckpt_id, int64_t v, int kind, const char *name,
			  bool checks, struct commit_prep *prep)
{
	struct commit_file *files = NULL;
	size_t n = 0, i;
	int rc;

	meta_init(&prep->ms);
	prep->logical = 0;
	prep->why[0] = 0;
	rc = store_flush_version(st, v);
	if (rc < 0) {
		snprintf(prep->why, sizeof(prep->why), "writing file data failed: %s",
			 strerror(-rc));
		return rc;
	}
	store_mu_lock(st);
	rc = version_files(st, v, kind, name, &files, &n);
	store_mu_unlock(st);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++)
		prep->logical += files[i].size;
	if (checks) {
		rc = check_formats(st, files, n, prep);
		if (rc < 0)
			goto out_free;
	}
	read_metadata(st, kind, name, files, n, prep);
	store_mu_lock(st);
	rc = index_metric_foreach_xattr(st->ix, ckpt_id, xattr_metric_keep, &prep->ms);
	store_mu_unlock(st);
	if (rc < 0) {
		snprintf(prep->why, sizeof(prep->why), "reading stored metrics failed: %s",
			 strerror(-rc));
		goto out_free;
	}

	store_crash_point(st, "commit:before_barrier");
	rc = chunk_barrier(st->cs);
	if (rc < 0) {
		snprintf(prep->why, sizeof(prep->why), "making data durable failed: %s",
			 strerror(-rc));
		goto out_free;
	}
	store_crash_point(st, "commit:after_barrier");
out_free:
	commit_files_free(files, n);
	return rc;
}

/* The derived metrics of ckpt become ms's; xattr rows stay as they are. */
static int insert_metrics(struct store *st, int64_t ckpt_id, const struct meta_set *ms)
{
	size_t i;
	int rc = index_metric_clear_derived(st->ix, ckpt_id);

	for (i = 0; rc == 0 && i < ms->n_metrics; i++) {
		if (strcmp(ms->metrics[i].source, "xattr") == 0)
			continue; /* its row is already there */
		rc = index_metric_add(st->ix, ckpt_id, &ms->metrics[i]);
	}
	return rc;
}

/* The commit transaction body (caller holds st->mu, tx open). */
static int commit_tx(struct store *st, int64_t ckpt_id, const struct index_ckpt_row *r, int64_t v,
		     const char *new_name, const struct commit_prep *prep, const char *rule)
{
	struct index *ix = st->ix;
	struct index_commit c = {
		.version = v,
		.has_step = prep->ms.has_step,
		.step = prep->ms.step,
		.has_epoch = prep->ms.has_epoch,
		.epoch = prep->ms.epoch,
		.logical = prep->logical,
		.note = prep->ms.problems,
		.new_name = new_name,
	};
	int rc = 0;

	if (r->committed && r->committed != v)
		rc = index_version_set_state(ix, r->committed, VER_DEAD);
	if (rc == 0)
		rc = index_version_move(ix, v, VER_COMMITTED, ckpt_id);
	if (rc < 0)
		return rc;
	store_crash_point(st, "commit:mid_transaction");
	c.now = store_now();
	rc = index_ckpt_set_committed(ix, ckpt_id, &c);
	if (rc == 0)
		rc = insert_metrics(st, ckpt_id, &prep->ms);
	if (rc == 0)
		rc = index_metric_update_eligible(ix, ckpt_id);
	if (rc == 0) {
		char *nm = NULL;

		rc = store_ckpt_name(st, ckpt_id, &nm);
		if (rc == 0)
			rc = store_event_add(st, "commit", nm, rule);
		free(nm);
	}
	return rc;
}

/* Opens a durable transaction: the commit's. */
static int durable_begin(struct store *st)
{
	int rc = index_set_durable(st->ix, true);

	if (rc == 0)
		rc = index_tx_begin(st->ix);
	if (rc < 0)
		index_set_durable(st->ix, false);
	return rc;
}

static int durable_end(struct store *st, int rc)
{
	rc = index_tx_end(st->ix, rc);
	index_set_durable(st->ix, false);
	return rc;
}

/* Load: the row and name of the checkpoint, and the version a commit
 * (staging) or a promote (aborted) turns committed. 1 when there is
 * nothing to commit (a committed checkpoint with nothing staged). */
static int commit_load(struct store *st, int64_t ckpt_id, bool promote, struct index_ckpt_row *r,
		       char **name, int64_t *v)
{
	int rc;

	store_mu_lock(st);
	rc = index_ckpt_row(st->ix, ckpt_id, r);
	if (rc == 0)
		rc = store_ckpt_name(st, ckpt_id, name);
	store_mu_unlock(st);
	if (rc < 0)
		return rc;
	if (promote) {
		*v = r->version;
		return r->state == CKPT_ABORTED ? 0 : -EINVAL;
	}
	if (r->state != CKPT_STAGING && r->state != CKPT_COMMITTED)
		return -ENOENT;
	*v = r->staging;
	if (*v)
		return 0;
	/* nothing staged: a committed checkpoint is already done */
	return r->state == CKPT_COMMITTED ? 1 : -EINVAL;
}

/* Decide, in the commit transaction: the row must not have moved while
 * unlocked (an abort, a delete), and the name it commits under must be free
 * or given up by the live checkpoint that holds it ("replaced"). */
static int commit_check(struct store *st, int64_t ckpt_id, struct index_ckpt_row *r, int64_t v,
			const char *name, const char *new_name, bool noreplace, bool promote)
{
	struct index_ckpt_row r2;
	int64_t other = 0;
	int rc;

	rc = index_ckpt_row(st->ix, ckpt_id, &r2);
	if (rc == 0 && (r2.state != r->state || (!promote && r2.staging != v)))
		rc = -ESTALE;
	if (rc < 0)
		return rc;
	*r = r2;
	if (!promote && !(new_name && strcmp(new_name, name) != 0))
		return 0;
	rc = live_free(st, new_name ? new_name : name, &other);
	if (rc != -EEXIST || other == ckpt_id)
		return rc == -EEXIST ? 0 : rc;
	if (noreplace || promote)
		return -EEXIST;
	return store_ckpt_delete_locked(st, other, "replaced");
}

/* Commit (optionally renaming to new_name, replacing a live checkpoint of that
 * name unless noreplace). */
static int commit_common(struct store *st, int64_t ckpt_id, const char *new_name, bool noreplace,
			 bool promote)
{
	struct commit_prep prep;
	struct index_ckpt_row r;
	char *name = NULL;
	int64_t v = 0;
	int rc;

	if (!store_writable(st) && !(st->flags & STORE_SHARED))
		return -EROFS;
	if (store_lease_lost(st)) /* reaped: its staging work was aborted */
		return -ENOLCK;
	rc = commit_load(st, ckpt_id, promote, &r, &name, &v);
	if (rc != 0) {
		rc = rc > 0 ? 0 : rc;
		goto out_free;
	}
	if ((st->flags & STORE_SHARED) && !promote) {
		/* file data lives in the mount's memory: only it commits writes */
		rc = -EROFS;
		goto out_free;
	}
	rc = commit_prepare(st, ckpt_id, v, r.kind, new_name ? new_name : name, !promote, &prep);
	if (rc < 0) {
		/* a failed commit aborts the staging version, with the reason */
		if (!promote)
			store_ckpt_abort(st, ckpt_id, prep.why[0] ? prep.why : strerror(-rc));
		goto out_release;
	}
	store_mu_lock(st);
	rc = durable_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = commit_check(st, ckpt_id, &r, v, name, new_name, noreplace, promote);
	if (rc == 0)
		rc = commit_tx(st, ckpt_id, &r, v, new_name, &prep, promote ? "manual" : NULL);
	if (rc == -EIO) /* the index's own words, for .ckptfs/status */
		store_index_error(st, "at commit");
	rc = durable_end(st, rc);
	if (rc == 0) {
		store_files_set_ro(st, v);
		store_crash_point(st, "commit:after_transaction");
	}
out_unlock:
	store_mu_unlock(st);
	if (rc == 0) /* committed, store unlocked, the caller not told yet */
		store_crash_point(st, "commit:returning");
out_release:
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

/* Runs body in a transaction of its own (st->mu taken here): committed when
 * it returns 0, rolled back otherwise. */
static int in_tx(struct store *st, int (*body)(struct store *st, int64_t id, const char *arg),
		 int64_t id, const char *arg)
{
	int rc;

	store_mu_lock(st);
	rc = index_tx_begin(st->ix);
	if (rc == 0)
		rc = index_tx_end(st->ix, body(st, id, arg));
	store_mu_unlock(st);
	return rc;
}

int store_ckpt_abort(struct store *st, int64_t ckpt_id, const char *reason)
{
	if (!store_writable(st))
		return -EROFS;
	return in_tx(st, store_ckpt_abort_locked, ckpt_id, reason ? reason : "aborted");
}

static int delete_body(struct store *st, int64_t ckpt_id, const char *rule)
{
	int rc = store_ckpt_delete_locked(st, ckpt_id, rule);

	store_crash_point(st, "delete:mid_transaction");
	return rc;
}

static int trash_body(struct store *st, int64_t ckpt_id, const char *rule)
{
	return store_ckpt_remove_locked(st, ckpt_id, rule, true);
}

int store_ckpt_delete(struct store *st, int64_t ckpt_id, const char *rule)
{
	int (*body)(struct store * st, int64_t id, const char *arg) = delete_body;
	struct policy p;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	if (store_policy_get(st, &p) == 0 && p.trash_s)
		body = trash_body;
	rc = in_tx(st, body, ckpt_id, rule);
	if (store_reserve_use(st, rc)) /* deletion works on a full disk */
		rc = in_tx(st, body, ckpt_id, rule);
	if (rc == -ENOSPC && body == trash_body) /* even trashing cannot write: delete */
		rc = in_tx(st, delete_body, ckpt_id, rule);
	if (rc == 0)
		store_gc(st, false, NULL); /* reclaim now; failures leave it for later */
	return rc;
}

int store_ckpt_rename(struct store *st, int64_t ckpt_id, const char *new_name, int flags)
{
	struct index_ckpt_row r;
	char *name = NULL;
	int64_t other = 0;
	int rc;

	rc = store_name_check(new_name);
	if (rc < 0)
		return rc;
	if (st->flags & STORE_RDONLY)
		return -EROFS;
	store_mu_lock(st);
	rc = index_ckpt_row(st->ix, ckpt_id, &r);
	store_mu_unlock(st);
	if (rc < 0)
		return rc;
	if (r.state != CKPT_STAGING && r.state != CKPT_COMMITTED)
		return -ENOENT;
	if ((flags & STORE_RENAME_COMMIT) && r.staging)
		return commit_common(st, ckpt_id, new_name, (flags & STORE_RENAME_NOREPLACE) != 0,
				     false);

	store_mu_lock(st);
	rc = store_ckpt_name(st, ckpt_id, &name);
	if (rc < 0 || strcmp(name, new_name) == 0)
		goto out_unlock;
	rc = index_tx_begin(st->ix);
	if (rc < 0)
		goto out_unlock;
	rc = live_free(st, new_name, &other);
	if (rc == -EEXIST && !(flags & STORE_RENAME_NOREPLACE))
		rc = store_ckpt_delete_locked(st, other, "replaced");
	if (rc == 0)
		rc = index_ckpt_rename(st->ix, ckpt_id, new_name);
	if (rc == 0)
		rc = store_event_add(st, "rename", new_name, name);
	rc = index_tx_end(st->ix, rc);
out_unlock:
	store_mu_unlock(st);
	free(name);
	if (rc == 0 && other)
		store_gc(st, false, NULL);
	return rc;
}

int store_ckpt_withdraw(struct store *st, int64_t ckpt_id)
{
	struct index_ckpt_row r;
	char *name = NULL;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	store_mu_lock(st);
	rc = index_ckpt_row(st->ix, ckpt_id, &r);
	if (rc < 0 || r.state != CKPT_COMMITTED || r.withdrawn)
		goto out_unlock;
	rc = index_tx_begin(st->ix);
	if (rc < 0)
		goto out_unlock;
	rc = index_ckpt_set_withdrawn(st->ix, ckpt_id);
	if (rc == 0)
		rc = index_metric_update_eligible(st->ix, ckpt_id);
	if (rc == 0)
		rc = store_ckpt_name(st, ckpt_id, &name);
	if (rc == 0)
		rc = store_event_add(st, "withdraw", name, NULL);
	rc = index_tx_end(st->ix, rc);
out_unlock:
	store_mu_unlock(st);
	free(name);
	return rc;
}

int store_ckpt_set_pinned(struct store *st, int64_t ckpt_id, bool pinned)
{
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	store_mu_lock(st);
	rc = index_ckpt_set_pinned(st->ix, ckpt_id, pinned);
	store_mu_unlock(st);
	return rc;
}

int store_ckpt_set_metric(struct store *st, int64_t ckpt_id, const char *name, double value)
{
	bool is_step = strcmp(name, "step") == 0 || strcmp(name, "global_step") == 0;
	bool is_epoch = strcmp(name, "epoch") == 0;
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
	store_mu_lock(st);
	rc = index_tx_begin(st->ix);
	if (rc < 0)
		goto out_unlock;
	rc = index_metric_set_xattr(st->ix, ckpt_id, name, value);
	if (rc == 0 && is_step)
		rc = index_ckpt_set_step(st->ix, ckpt_id, (int64_t)value);
	if (rc == 0 && is_epoch)
		rc = index_ckpt_set_epoch(st->ix, ckpt_id, value);
	rc = index_tx_end(st->ix, rc);
out_unlock:
	store_mu_unlock(st);
	return rc;
}

int store_ckpt_remove_metric(struct store *st, int64_t ckpt_id, const char *name)
{
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	if (strcmp(name, "global_step") == 0)
		name = "step";
	store_mu_lock(st);
	rc = index_metric_remove_xattr(st->ix, ckpt_id, name);
	store_mu_unlock(st);
	return rc == -ENOENT ? -ENODATA : rc;
}

struct name_list {
	char **arr;
	size_t cnt, cap;
};

static int name_list_add(void *ctx, const char *name)
{
	struct name_list *l = ctx;
	int g = UTIL_GROW(l->arr, l->cap, l->cnt, (size_t)1 << 20);

	if (g < 0)
		return g == -ENOMEM ? g : 1; /* -EFBIG: far more than anyone lists */
	l->arr[l->cnt] = strdup(name);
	if (!l->arr[l->cnt])
		return -ENOMEM;
	l->cnt++;
	return 0;
}

int store_metric_names(struct store *st, char ***out, size_t *n)
{
	struct name_list l = { 0 };
	int rc;

	*out = NULL;
	*n = 0;
	store_mu_lock(st);
	rc = index_metric_names(st->ix, name_list_add, &l);
	store_mu_unlock(st);
	if (rc < 0) {
		while (l.cnt)
			free(l.arr[--l.cnt]);
		free(l.arr);
		return rc;
	}
	*out = l.arr;
	*n = l.cnt;
	return 0;
}
