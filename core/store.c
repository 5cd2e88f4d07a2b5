/* Store: open (directory, lock, index, chunks, recovery), close, the event
 * log, policy writes, stats, events; the rows behind them are index.h verbs
 * (index_sqlite_store.c). The top of the store's layers (store_int.h): it
 * calls down into store_file.c (background hashing, open files) and
 * store_gc.c (recovery), and nothing calls up into it. Helpers, pins, notes
 * and the policy read are in store_base.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunk_backend.h"
#include "store_int.h"
#include "util.h"

int store_event_log(struct store *st, const char *event, const char *name, const char *rule)
{
	int rc;

	store_mu_lock(st);
	rc = index_tx_begin(st->ix);
	if (rc < 0)
		goto out_unlock;
	rc = store_event_add(st, event, name, rule);
	rc = index_tx_end(st->ix, rc);
out_unlock:
	store_mu_unlock(st);
	return rc;
}

/* ---- open / close ---- */

static int chunk_found_cb(void *ctx, const uint8_t hash[CHUNK_HASH_LEN])
{
	(void)ctx;
	(void)hash;
	return 1;
}

/* What messages call st's index: SQLite's file, or a PostgreSQL database. */
static const char *store_index_what(const struct store *st)
{
	return st->ixops == &index_sqlite_ops ? "index.db" : "the index database";
}

/* A new index over existing chunk data would hold none of it, and recovery
 * would then delete every chunk object as unreferenced: refuse (-EUCLEAN)
 * when the chunks the address names (STORE/chunks, or a RADOS pool and
 * namespace) hold any. why says what is wrong with the index (what). */
static int refuse_new_index(const char *dir, const struct store_spec *sp, const char *what,
			    const char *why, char *err, size_t err_len)
{
	bool rados = sp->chunks == &chunk_backend_rados && sp->chunk_spec;
	char path[PATH_MAX], place[PATH_MAX + 32];
	struct chunk_opts o = { .backend = rados ? sp->chunks : NULL,
				.spec = rados ? sp->chunk_spec : path };
	struct chunk_store *cs;
	int rc;

	snprintf(path, sizeof(path), "%s/chunks", dir);
	snprintf(place, sizeof(place), rados ? "rados %s" : "%s", rados ? sp->chunk_spec : path);
	if (!rados && access(path, F_OK) < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = chunk_store_open_with(&o, &cs);
	if (rc == 0) {
		rc = chunk_foreach(cs, chunk_found_cb, NULL);
		chunk_store_close(cs);
	}
	if (rc < 0)
		util_seterr(err, err_len, "%s: %s", place, strerror(-rc));
	if (rc <= 0)
		return rc;
	util_seterr(err, err_len,
		    "%s: %s %s but %s holds checkpoint data; refusing to start a new index over it"
		    " (restore %s from a backup, or %s for a fresh store)",
		    dir, what, why, rados ? place : "chunks/", what,
		    rados ? "give an empty pool or namespace ns=" : "move chunks/ away");
	return -EUCLEAN;
}

/* The store directory, created for an opener that may create a store. */
static int store_dir_prepare(const char *dir, int flags, char *err, size_t err_len)
{
	struct stat sb;
	int rc;

	if (stat(dir, &sb) < 0) {
		rc = -errno;
		if (rc != -ENOENT || (flags & (STORE_NOCREATE | STORE_RDONLY | STORE_SHARED))) {
			util_seterr(err, err_len, "%s: %s", dir, strerror(-rc));
			return rc;
		}
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			util_seterr(err, err_len, "%s: %s", dir, strerror(-rc));
			return rc;
		}
	} else if (!S_ISDIR(sb.st_mode)) {
		util_seterr(err, err_len, "%s: not a directory", dir);
		return -ENOTDIR;
	}
	return 0;
}

/* The in-memory store with its locks, before anything is opened. */
static int store_alloc(const char *dir, const char *where, int flags, struct store **out)
{
	struct store *st = calloc(1, sizeof(*st));
	const char *crash;

	*out = NULL;
	if (!st)
		return -ENOMEM;
	st->ixops = &index_sqlite_ops;
	st->flags = flags;
	st->dir = strdup(dir);
	st->ixwhere = strdup(where ? where : dir);
	if (!st->dir || !st->ixwhere) {
		free(st->dir);
		free(st->ixwhere);
		free(st);
		return -ENOMEM;
	}
	crash = getenv("CKPT_CRASH_AT");
	if (crash)
		snprintf(st->crash_at, sizeof(st->crash_at), "%s", crash);
	pthread_mutex_init(&st->mu, NULL);
	store_ph_init(st);
	if (store_rwlock_init(&st->gc_rw) < 0) {
		pthread_mutex_destroy(&st->mu);
		free(st->dir);
		free(st->ixwhere);
		free(st);
		return -ENOMEM;
	}
	*out = st;
	return 0;
}

/* No index where one should be: refused for openers that may not create
 * one; a new index over existing chunk data is refused (refuse_new_index). */
static int store_index_none(struct store *st, const struct store_spec *sp, enum index_none none,
			    int rc, char *err, size_t err_len)
{
	bool missing = none == INDEX_NONE_MISSING;
	const char *what = store_index_what(st);

	if (st->flags & (STORE_RDONLY | STORE_SHARED | STORE_NOCREATE)) {
		if (missing)
			util_seterr(err, err_len, "%s: not a ckptfs store (no %s)", st->dir, what);
		else
			util_seterr(err, err_len, "%s: store is not initialised (%s is empty)",
				    st->dir, what);
		return rc == -ENODATA ? -ENOENT : rc;
	}
	if (rc == -ENODATA)
		return refuse_new_index(st->dir, sp, what, missing ? "is missing" : "is empty", err,
					err_len);
	return 0; /* missing, but unreadable: the creating open says why */
}

/* Opens the index (st->ix): found, or new (*created) where nothing is lost
 * by making one; then, for the lock holder, when the index was initialised. */
static int store_index_open(struct store *st, const struct store_spec *sp, bool *created, char *err,
			    size_t err_len)
{
	int ixf = (st->flags & STORE_RDONLY ? INDEX_RDONLY : 0) |
		(store_writable(st) ? INDEX_CHECK : 0);
	enum index_none none;
	int rc = index_open(st->ixops, st->ixwhere, ixf, &st->ix, &none, err, err_len);

	if (none != INDEX_FOUND) {
		rc = store_index_none(st, sp, none, rc, err, err_len);
		if (rc == 0)
			rc = index_open(st->ixops, st->ixwhere, ixf | INDEX_CREATE, &st->ix, &none,
					err, err_len);
		*created = rc == 0;
	}
	if (rc == 0 && store_writable(st)) {
		rc = index_info_get(st->ix, "initialised_at", &st->init_ns);
		if (rc < 0) {
			util_seterr(err, err_len, "%s/index.db: %s", st->dir,
				    index_last_error(st->ix));
			index_close(st->ix, false);
			st->ix = NULL;
		}
	}
	return rc;
}

/* The lock holder's staging directory and recovery. */
static int store_recover_open(struct store *st, char *err, size_t err_len)
{
	char path[PATH_MAX];
	int rc;

	snprintf(path, sizeof(path), "%s/staging", st->dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		util_seterr(err, err_len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = store_recover(st);
	if (store_reserve_use(st, rc)) /* a full disk: recovery mostly deletes */
		rc = store_recover(st);
	if (rc == 0)
		store_reserve_fill(st);
	if (rc < 0)
		util_seterr(err, err_len, "%s: recovery failed: %s", st->dir, strerror(-rc));
	return rc;
}

static int store_open_once(const struct store_spec *sp, int flags, struct store **out, char *err,
			   size_t err_len)
{
	const char *dir = sp->dir;
	struct store *st = NULL;
	char path[PATH_MAX];
	bool created = false;
	int rc;

	*out = NULL;
	if (err && err_len)
		err[0] = 0;
	rc = store_dir_prepare(dir, flags, err, err_len);
	if (rc == 0)
		rc = store_alloc(dir, sp->where, flags, &st);
	if (rc < 0)
		return rc;
	if (sp->index)
		st->ixops = sp->index;
	if (sp->where && asprintf(&st->address, "postgresql:%s?chunks=%s", sp->where, dir) < 0) {
		st->address = NULL;
		rc = -ENOMEM;
		goto out_free;
	}
	if (!(flags & (STORE_RDONLY | STORE_SHARED))) {
		rc = index_lock(st->ixops, st->ixwhere, &st->lock, err, err_len);
		if (rc < 0)
			goto out_free;
		st->locked = true;
		if (index_multi(st->ixops)) /* a lease among several mounts */
			st->mount_id = index_lease_id(st->ixops, st->lock);
	}
	rc = store_index_open(st, sp, &created, err, err_len);
	if (rc < 0)
		goto out_unlock;
	rc = store_spec_settle(st, sp, created, err, err_len);
	if (rc == 0) /* a plain DIR of a store recorded as mem */
		rc = store_spec_durable(st->dir, st->chunk_ops, flags, err, err_len);
	if (rc == 0 && sp->where && st->chunk_where) { /* the address names the pool */
		free(st->address);
		if (asprintf(&st->address, "postgresql:%s?chunks=rados:%s,dir=%s", sp->where,
			     st->chunk_where, dir) < 0) {
			st->address = NULL;
			rc = -ENOMEM;
		}
	}
	if (rc < 0)
		goto out_close_index;

	snprintf(path, sizeof(path), "%s/chunks", dir);
	if ((flags & (STORE_RDONLY | STORE_SHARED)) && st->chunk_ops == &chunk_backend_dir &&
	    access(path, F_OK) < 0) {
		/* an initialised store whose chunk directory is gone */
		rc = -errno;
		util_seterr(err, err_len, "%s: %s", path, strerror(-rc));
		goto out_close_index;
	}
	{
		struct chunk_opts copts = {
			.backend = st->chunk_ops,
			.spec = st->chunk_where ? st->chunk_where : path,
			.barrier = (flags & STORE_BARRIER_FSYNC) ? CHUNK_BARRIER_FSYNC
				: (flags & STORE_BARRIER_SYNCFS) ? CHUNK_BARRIER_SYNCFS
								 : CHUNK_BARRIER_AUTO,
		};

		rc = chunk_store_open_with(&copts, &st->cs);
	}
	if (rc < 0) {
		util_seterr(err, err_len, "%s: %s", st->chunk_where ? st->chunk_where : path,
			    strerror(-rc));
		goto out_close_index;
	}
	if (store_writable(st)) {
		rc = store_recover_open(st, err, err_len);
		if (rc < 0)
			goto out_close_chunks;
	}
	store_changed_externally(st); /* baseline */
	*out = st;
	return 0;

out_close_chunks:
	chunk_store_close(st->cs);
out_close_index:
	index_close(st->ix, false);
out_unlock:
	index_unlock(st->ixops, st->lock);
	pthread_rwlock_destroy(&st->gc_rw);
	pthread_mutex_destroy(&st->mu);
out_free:
	free(st->dir);
	free(st->ixwhere);
	free(st->address);
	free(st->chunk_where);
	free(st);
	return rc;
}

int store_open(const char *spec, int flags, struct store **out, char *err, size_t err_len)
{
	struct store_spec sp;
	int rc;

	*out = NULL;
	rc = store_spec_parse(spec, &sp, err, err_len);
	if (rc < 0)
		return rc;
	rc = store_spec_durable(sp.dir, sp.chunks, flags, err, err_len); /* before creating */
	if (rc < 0) {
		store_spec_release(&sp);
		return rc;
	}
	rc = store_open_once(&sp, flags, out, err, err_len);
	/* A full disk refuses even SQLite's WAL and shared-memory files (an
	 * I/O error): with the reserve released, the store opens, and the
	 * deletions that make room work. */
	if ((rc == -ENOSPC || rc == -EIO) && store_reserve_release_full(sp.dir))
		rc = store_open_once(&sp, flags, out, err, err_len);
	store_spec_release(&sp);
	return rc;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	store_ph_stop(st);
	/* handles left open by the caller: their overlays go with them */
	store_files_close_all(st);
	store_multi_close(st);
	index_close(st->ix, store_writable(st));
	chunk_store_close(st->cs);
	index_unlock(st->ixops, st->lock);
	held_free(&st->held);
	free(st->pins);
	pthread_rwlock_destroy(&st->gc_rw);
	pthread_mutex_destroy(&st->mu);
	free(st->dir);
	free(st->ixwhere);
	free(st->address);
	free(st->chunk_where);
	free(st);
}

void store_chunk_counters(const struct store *st, struct chunk_counters *out)
{
	chunk_store_counters(st->cs, out);
}

const char *store_dir(const struct store *st)
{
	return st->dir;
}

const char *store_address(const struct store *st)
{
	return st->address ? st->address : st->dir;
}

bool store_readonly(const struct store *st)
{
	return (st->flags & STORE_RDONLY) != 0;
}

int store_notify_fd(struct store *st)
{
	int fd;

	store_mu_lock(st);
	fd = index_notify_fd(st->ix);
	store_mu_unlock(st);
	return fd;
}

bool store_changed_externally(struct store *st)
{
	char why[sizeof(st->ix_lost_why)];
	bool was;
	int changed;

	store_mu_lock(st);
	changed = index_changed_externally(st->ix);
	was = st->ix_lost;
	if (changed == -ENOTCONN && !was) {
		snprintf(why, sizeof(why), "%s", index_last_error(st->ix));
		memcpy(st->ix_lost_why, why, sizeof(why));
	}
	if (changed == -ENOTCONN || changed >= 0) /* other errors tell nothing */
		st->ix_lost = changed == -ENOTCONN;
	store_mu_unlock(st);
	if (changed == -ENOTCONN && !was)
		store_note(st,
			   "index connection lost (%s): operations that need the index fail with"
			   " EIO until it is back; reconnecting",
			   why);
	else if (was && changed >= 0)
		store_note(st, "index connection restored");
	return changed > 0;
}

bool store_index_lost(struct store *st, char *why, size_t len)
{
	bool lost;

	store_mu_lock(st);
	lost = st->ix_lost;
	if (why)
		snprintf(why, len, "%s", lost ? st->ix_lost_why : "");
	store_mu_unlock(st);
	return lost;
}

/* ---- policy ---- */

int store_policy_set(struct store *st, const struct policy *p)
{
	char *text = NULL, *line, *save = NULL;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	rc = policy_to_text(p, &text);
	if (rc < 0)
		return rc;
	store_mu_lock(st);
	rc = index_tx_begin(st->ix);
	if (rc < 0)
		goto out_unlock;
	rc = index_policy_clear(st->ix);
	for (line = strtok_r(text, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = 0;
		rc = index_policy_put(st->ix, line, eq + 1);
	}
	rc = index_tx_end(st->ix, rc);
out_unlock:
	store_mu_unlock(st);
	free(text);
	return rc;
}

/* ---- stats, events ---- */

int store_stats(struct store *st, struct store_stats *out)
{
	int rc;

	store_mu_lock(st);
	rc = index_stats_get(st->ix, out);
	store_mu_unlock(st);
	out->dedup_ratio = out->raw_bytes ? (double)out->logical_bytes / (double)out->raw_bytes
					  : 1.0;
	out->compression_ratio = out->stored_bytes
		? (double)out->raw_bytes / (double)out->stored_bytes
		: 1.0;
	return rc;
}

void store_events_free(struct store_event *ev, size_t n)
{
	size_t i;

	for (i = 0; ev && i < n; i++) {
		free(ev[i].event);
		free(ev[i].name);
		free(ev[i].rule);
	}
	free(ev);
}

/* The events copied out of the index, oldest first. */
struct event_list {
	struct store_event *ev;
	size_t n, cap;
};

static char *strdup_null(const char *t, bool *oom)
{
	char *d = t ? strdup(t) : NULL;

	if (t && !d)
		*oom = true;
	return d;
}

static int event_copy(void *ctx, const struct index_event *row)
{
	struct event_list *l = ctx;
	struct store_event *e;
	bool oom = false;

	if (UTIL_GROW(l->ev, l->cap, l->n, SIZE_MAX) < 0)
		return -ENOMEM;
	e = &l->ev[l->n++];
	e->id = row->id;
	e->time = row->time;
	e->event = strdup_null(row->event, &oom);
	e->name = strdup_null(row->name, &oom);
	e->rule = strdup_null(row->rule, &oom);
	return oom ? -ENOMEM : 0;
}

/* after_id < 0: the newest STORE_EVENTS_MAX; else those after it. */
static int events_copy(struct store *st, int64_t after_id, size_t max, struct store_event **out,
		       size_t *n)
{
	struct event_list l = { 0 };
	int rc;

	*out = NULL;
	*n = 0;
	store_mu_lock(st);
	rc = after_id < 0 ? index_events_newest(st->ix, max, event_copy, &l)
			  : index_events_after(st->ix, after_id, max, event_copy, &l);
	store_mu_unlock(st);
	if (rc < 0) {
		store_events_free(l.ev, l.n);
		return rc;
	}
	*out = l.ev;
	*n = l.n;
	return 0;
}

int store_events(struct store *st, struct store_event **out, size_t *n)
{
	return events_copy(st, -1, STORE_EVENTS_MAX, out, n);
}

int store_events_after(struct store *st, int64_t after_id, size_t max, struct store_event **out,
		       size_t *n)
{
	return events_copy(st, after_id < 0 ? 0 : after_id, max, out, n);
}
