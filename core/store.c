/* Store: open (directory, lock, index, chunks, recovery), held chunks, pins,
 * policy, notes, stats, events; the rows behind them are index.h verbs
 * (index_sqlite_store.c). Checkpoint operations are in store_ckpt.c, the tree in
 * store_node.c, file data in store_file.c, retention/gc/verify/recovery in
 * store_gc.c. */
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

/* ---- small helpers ---- */

int64_t store_now(void)
{
	return (int64_t)time(NULL);
}

int64_t store_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writers (flush, gc) must not starve behind a steady stream of readers;
 * none of these locks is ever taken recursively, so writer preference is safe. */
int store_rwlock_init(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t a;
	int rc;

	if (pthread_rwlockattr_init(&a) != 0)
		return -ENOMEM;
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(l, &a);
	pthread_rwlockattr_destroy(&a);
	return rc ? -rc : 0;
}

void store_crash_point(struct store *st, const char *point)
{
	if (st->crash_at[0] && strcmp(st->crash_at, point) == 0)
		raise(SIGKILL);
}

bool store_writable(const struct store *st)
{
	return !(st->flags & (STORE_RDONLY | STORE_SHARED));
}

int store_name_check(const char *name)
{
	if (!name || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (strchr(name, '/'))
		return -EINVAL;
	if (!util_utf8_valid(name))
		return -EILSEQ;
	return 0;
}

int store_event_add(struct store *st, const char *event, const char *name, const char *rule)
{
	return index_event_add(st->ix, store_now(), event, name, rule);
}

int store_event_log(struct store *st, const char *event, const char *name, const char *rule)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = index_tx_begin(st->ix);
	if (rc < 0)
		goto out_unlock;
	rc = store_event_add(st, event, name, rule);
	if (rc == 0)
		rc = index_tx_commit(st->ix);
	else
		index_tx_rollback(st->ix);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* ---- held chunks: open-addressing set of hashes with counts ---- */

static size_t held_slot(const struct held_set *h, const uint8_t *hash)
{
	uint64_t x;

	memcpy(&x, hash, sizeof(x)); /* SHA-256 bytes are uniform */
	return (size_t)(x & (h->cap - 1));
}

static int held_grow(struct held_set *h)
{
	size_t ncap = h->cap ? h->cap * 2 : 1024, i;
	struct held_ent *old = h->tab, *nt;
	size_t ocap = h->cap;

	/* rehash at the same size when tombstones dominate */
	if (h->cap) {
		size_t live = 0;

		for (i = 0; i < h->cap; i++)
			live += h->tab[i].count ? 1 : 0;
		if (live * 4 < h->cap)
			ncap = h->cap;
	}
	nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	h->tab = nt;
	h->cap = ncap;
	h->used = 0;
	for (i = 0; i < ocap; i++) {
		if (old[i].count) {
			size_t j = held_slot(h, old[i].hash);

			while (nt[j].count)
				j = (j + 1) & (ncap - 1);
			nt[j] = old[i];
			nt[j].tomb = false;
			h->used++;
		}
	}
	free(old);
	return 0;
}

int held_add(struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN])
{
	size_t j, tomb = SIZE_MAX;

	if ((h->used + 1) * 4 >= h->cap * 3) {
		int rc = held_grow(h);

		if (rc < 0)
			return rc;
	}
	j = held_slot(h, hash);
	for (;;) {
		struct held_ent *e = &h->tab[j];

		if (e->count && memcmp(e->hash, hash, CHUNK_HASH_LEN) == 0) {
			if (e->count == UINT32_MAX)
				return -EOVERFLOW;
			e->count++;
			return 0;
		}
		if (!e->count) {
			if (e->tomb) {
				if (tomb == SIZE_MAX)
					tomb = j;
			} else {
				if (tomb != SIZE_MAX) {
					e = &h->tab[tomb];
				} else {
					h->used++;
				}
				memcpy(e->hash, hash, CHUNK_HASH_LEN);
				e->count = 1;
				e->tomb = false;
				return 0;
			}
		}
		j = (j + 1) & (h->cap - 1);
	}
}

static struct held_ent *held_find(const struct held_set *h, const uint8_t *hash)
{
	size_t j;

	if (!h->cap)
		return NULL;
	j = held_slot(h, hash);
	for (;;) {
		struct held_ent *e = &h->tab[j];

		if (e->count && memcmp(e->hash, hash, CHUNK_HASH_LEN) == 0)
			return e;
		if (!e->count && !e->tomb)
			return NULL;
		j = (j + 1) & (h->cap - 1);
	}
}

void held_del(struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct held_ent *e = held_find(h, hash);

	if (e && --e->count == 0)
		e->tomb = true;
}

bool held_has(const struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN])
{
	return held_find(h, hash) != NULL;
}

uint32_t held_count(const struct held_set *h, const uint8_t hash[CHUNK_HASH_LEN])
{
	const struct held_ent *e = held_find(h, hash);

	return e ? e->count : 0;
}

void held_free(struct held_set *h)
{
	free(h->tab);
	memset(h, 0, sizeof(*h));
}

int held_add_list(struct held_set *h, const struct chunk_ref *refs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int rc = held_add(h, refs[i].hash);

		if (rc < 0) {
			held_del_list(h, refs, i);
			return rc;
		}
	}
	return 0;
}

void held_del_list(struct held_set *h, const struct chunk_ref *refs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		held_del(h, refs[i].hash);
}

/* ---- chunk reference counts ---- */

int store_chunk_ref(struct store *st, const struct chunk_ref *r, int delta, uint32_t stored,
		    int codec)
{
	return index_chunk_ref(st->ix, r, delta, stored, codec);
}

int store_chunk_has_row(struct store *st, const uint8_t hash[CHUNK_HASH_LEN])
{
	int rc = index_chunk_exists(st->ix, hash);

	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

static int chunks_blob_delta(struct store *st, const void *blob, size_t len, int delta)
{
	struct chunk_ref *refs = NULL;
	size_t n = 0, i;
	int rc;

	if (!blob || !len)
		return 0;
	rc = chunk_refs_decode(blob, len, &refs, &n);
	if (rc < 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++)
		rc = store_chunk_ref(st, &refs[i], delta, 0, 0);
	free(refs);
	return rc;
}

int store_chunks_unref_blob(struct store *st, const void *blob, size_t len)
{
	return chunks_blob_delta(st, blob, len, -1);
}

/* Used for copy-on-write copies: every chunk already has a row. */
int store_chunks_ref_blob(struct store *st, const void *blob, size_t len)
{
	return chunks_blob_delta(st, blob, len, 1);
}

/* ---- pins ---- */

void store_version_pin(struct store *st, int64_t version)
{
	size_t i;

	pthread_mutex_lock(&st->mu);
	for (i = 0; i < st->n_pins; i++) {
		if (st->pins[i].version == version) {
			st->pins[i].count++;
			goto out_unlock;
		}
	}
	if (st->n_pins == st->cap_pins) {
		size_t nc = st->cap_pins ? st->cap_pins * 2 : 16;
		struct pin_ent *np = realloc(st->pins, nc * sizeof(*np));

		/* no way to report: an unrecorded pin only means its rows may be
		 * purged early; open files keep their data regardless */
		if (!np)
			goto out_unlock;
		st->pins = np;
		st->cap_pins = nc;
	}
	st->pins[st->n_pins].version = version;
	st->pins[st->n_pins].count = 1;
	st->n_pins++;
out_unlock:
	pthread_mutex_unlock(&st->mu);
}

void store_version_unpin(struct store *st, int64_t version)
{
	size_t i;

	pthread_mutex_lock(&st->mu);
	for (i = 0; i < st->n_pins; i++) {
		if (st->pins[i].version == version) {
			if (--st->pins[i].count == 0)
				st->pins[i] = st->pins[--st->n_pins];
			break;
		}
	}
	pthread_mutex_unlock(&st->mu);
}

bool store_version_pinned(struct store *st, int64_t version)
{
	size_t i;

	for (i = 0; i < st->n_pins; i++)
		if (st->pins[i].version == version)
			return true;
	return false;
}

/* ---- open / close ---- */

static int chunk_found_cb(void *ctx, const uint8_t hash[CHUNK_HASH_LEN])
{
	(void)ctx;
	(void)hash;
	return 1;
}

/* A new index over existing chunk data would hold none of it, and recovery
 * would then delete every chunk file as unreferenced: refuse (-EUCLEAN) when
 * STORE/chunks holds any. why says what is wrong with the index. */
static int refuse_new_index(const char *dir, const char *why, char *err, size_t err_len)
{
	char path[PATH_MAX];
	struct chunk_store *cs;
	int rc;

	snprintf(path, sizeof(path), "%s/chunks", dir);
	if (access(path, F_OK) < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = chunk_store_open(path, &cs);
	if (rc == 0) {
		rc = chunk_foreach(cs, chunk_found_cb, NULL);
		chunk_store_close(cs);
	}
	if (rc < 0)
		util_seterr(err, err_len, "%s: %s", path, strerror(-rc));
	if (rc <= 0)
		return rc;
	util_seterr(err, err_len,
	       "%s: %s but chunks/ holds checkpoint data; refusing to start a new index over it"
	       " (restore index.db from a backup, or move chunks/ away for a fresh store)",
	       dir, why);
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
static int store_alloc(const char *dir, int flags, struct store **out)
{
	struct store *st = calloc(1, sizeof(*st));
	const char *crash;

	*out = NULL;
	if (!st)
		return -ENOMEM;
	st->ixops = &index_sqlite_ops;
	st->flags = flags;
	st->dir = strdup(dir);
	if (!st->dir) {
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
		free(st);
		return -ENOMEM;
	}
	*out = st;
	return 0;
}

/* No index where one should be: refused for openers that may not create
 * one; a new index over existing chunk data is refused (refuse_new_index). */
static int store_index_none(struct store *st, enum index_none none, int rc, char *err,
			    size_t err_len)
{
	bool missing = none == INDEX_NONE_MISSING;

	if (st->flags & (STORE_RDONLY | STORE_SHARED | STORE_NOCREATE)) {
		if (missing)
			util_seterr(err, err_len, "%s: not a ckptfs store (no index.db)", st->dir);
		else
			util_seterr(err, err_len, "%s: store is not initialised (index.db is empty)",
				    st->dir);
		return rc == -ENODATA ? -ENOENT : rc;
	}
	if (rc == -ENODATA)
		return refuse_new_index(st->dir, missing ? "index.db is missing" : "index.db is empty",
					err, err_len);
	return 0; /* missing, but unreadable: the creating open says why */
}

/* Opens the index (st->ix): found, or new (*created) where nothing is lost
 * by making one; then, for the lock holder, when the index was initialised. */
static int store_index_open(struct store *st, bool *created, char *err, size_t err_len)
{
	int ixf = (st->flags & STORE_RDONLY ? INDEX_RDONLY : 0) | (store_writable(st) ? INDEX_CHECK : 0);
	enum index_none none;
	int rc = index_open(st->ixops, st->dir, ixf, &st->ix, &none, err, err_len);

	if (none != INDEX_FOUND) {
		rc = store_index_none(st, none, rc, err, err_len);
		if (rc == 0)
			rc = index_open(st->ixops, st->dir, ixf | INDEX_CREATE, &st->ix, &none, err,
					err_len);
		*created = rc == 0;
	}
	if (rc == 0 && store_writable(st)) {
		rc = index_info_get(st->ix, "initialised_at", &st->init_ns);
		if (rc < 0) {
			util_seterr(err, err_len, "%s/index.db: %s", st->dir, index_last_error(st->ix));
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
		rc = store_alloc(dir, flags, &st);
	if (rc < 0)
		return rc;
	if (sp->index)
		st->ixops = sp->index;
	if (!(flags & (STORE_RDONLY | STORE_SHARED))) {
		rc = index_lock(st->ixops, st->dir, &st->lock, err, err_len);
		if (rc < 0)
			goto out_free;
		st->locked = true;
	}
	rc = store_index_open(st, &created, err, err_len);
	if (rc < 0)
		goto out_unlock;
	rc = store_spec_settle(st, sp, created, err, err_len);
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
			.spec = path,
			.barrier = (flags & STORE_BARRIER_FSYNC)    ? CHUNK_BARRIER_FSYNC
				   : (flags & STORE_BARRIER_SYNCFS) ? CHUNK_BARRIER_SYNCFS
								    : CHUNK_BARRIER_AUTO,
		};

		rc = chunk_store_open_with(&copts, &st->cs);
	}
	if (rc < 0) {
		util_seterr(err, err_len, "%s: %s", path, strerror(-rc));
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
	index_close(st->ix, store_writable(st));
	chunk_store_close(st->cs);
	index_unlock(st->ixops, st->lock);
	held_free(&st->held);
	free(st->pins);
	pthread_rwlock_destroy(&st->gc_rw);
	pthread_mutex_destroy(&st->mu);
	free(st->dir);
	free(st);
}

const char *store_dir(const struct store *st)
{
	return st->dir;
}

bool store_readonly(const struct store *st)
{
	return (st->flags & STORE_RDONLY) != 0;
}

bool store_changed_externally(struct store *st)
{
	int changed;

	pthread_mutex_lock(&st->mu);
	changed = index_changed_externally(st->ix);
	pthread_mutex_unlock(&st->mu);
	return changed > 0;
}

/* ---- policy ---- */

/* The policy's rows as "key=value\n" lines, for policy_from_text. */
struct policy_text {
	char *text;
	size_t len, cap;
};

static int policy_line(void *ctx, const char *k, const char *v)
{
	struct policy_text *t = ctx;
	size_t need = strlen(k ? k : "") + strlen(v ? v : "") + 3;

	if (t->len + need > (1u << 20)) /* cap: a policy is small */
		return -E2BIG;
	if (t->len + need > t->cap) {
		size_t nc = (t->len + need) * 2;
		char *nt = realloc(t->text, nc);

		if (!nt)
			return -ENOMEM;
		t->text = nt;
		t->cap = nc;
	}
	t->len += (size_t)sprintf(t->text + t->len, "%s=%s\n", k ? k : "", v ? v : "");
	return 0;
}

int store_policy_get(struct store *st, struct policy *out)
{
	struct policy_text t = { 0 };
	int rc;

	policy_init(out);
	pthread_mutex_lock(&st->mu);
	rc = index_policy_foreach(st->ix, policy_line, &t);
	pthread_mutex_unlock(&st->mu);
	if (rc == 0 && t.text)
		rc = policy_from_text(out, t.text);
	free(t.text);
	return rc;
}

int store_policy_set(struct store *st, const struct policy *p)
{
	char *text = NULL, *line, *save = NULL;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	rc = policy_to_text(p, &text);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&st->mu);
	rc = index_tx_begin(st->ix);
	if (rc < 0)
		goto out_unlock;
	rc = index_policy_clear(st->ix);
	for (line = strtok_r(text, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = 0;
		rc = index_policy_put(st->ix, line, eq + 1);
	}
	if (rc == 0)
		rc = index_tx_commit(st->ix);
	else
		index_tx_rollback(st->ix);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	free(text);
	return rc;
}

/* ---- notes ---- */

static void note_locked(struct store *st, const char *fmt, va_list ap)
{
	size_t slot = (st->notes_head + st->n_notes) % STORE_NOTES_MAX;

	if (st->n_notes == STORE_NOTES_MAX)
		st->notes_head = (st->notes_head + 1) % STORE_NOTES_MAX;
	else
		st->n_notes++;
	vsnprintf(st->notes[slot], STORE_NOTE_LEN, fmt, ap);
	/* one line per note */
	for (char *c = st->notes[slot]; *c; c++)
		if (*c == '\n')
			*c = ' ';
}

static void note_locked_fmt(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_locked_fmt(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_locked(st, fmt, ap);
	va_end(ap);
}

void store_note(struct store *st, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&st->mu);
	va_start(ap, fmt);
	note_locked(st, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&st->mu);
}

int store_index_error(struct store *st, const char *what)
{
	char line[STORE_NOTE_LEN];
	int rc = index_last_errno(st->ix);

	snprintf(line, sizeof(line), "index error %s: %s (%s)", what, index_last_error(st->ix),
		 strerror(-rc));
	/* a damaged index fails every lookup alike: one note, not 64 */
	if (!st->n_notes ||
	    strcmp(st->notes[(st->notes_head + st->n_notes - 1) % STORE_NOTES_MAX], line) != 0)
		note_locked_fmt(st, "%s", line);
	return rc;
}

char *store_notes(struct store *st)
{
	char *out;
	size_t i, len = 0;

	pthread_mutex_lock(&st->mu);
	out = malloc(STORE_NOTES_MAX * (STORE_NOTE_LEN + 1) + 1);
	if (out) {
		for (i = 0; i < st->n_notes; i++) {
			const char *n = st->notes[(st->notes_head + i) % STORE_NOTES_MAX];

			len += (size_t)sprintf(out + len, "%s\n", n);
		}
		out[len] = 0;
	}
	pthread_mutex_unlock(&st->mu);
	return out;
}

/* ---- stats, events ---- */

int store_stats(struct store *st, struct store_stats *out)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = index_stats_get(st->ix, out);
	pthread_mutex_unlock(&st->mu);
	out->dedup_ratio = out->raw_bytes ? (double)out->logical_bytes / (double)out->raw_bytes : 1.0;
	out->compression_ratio =
		out->stored_bytes ? (double)out->raw_bytes / (double)out->stored_bytes : 1.0;
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
	e->time = row->time;
	e->event = strdup_null(row->event, &oom);
	e->name = strdup_null(row->name, &oom);
	e->rule = strdup_null(row->rule, &oom);
	return oom ? -ENOMEM : 0;
}

int store_events(struct store *st, struct store_event **out, size_t *n)
{
	struct event_list l = { 0 };
	int rc;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->mu);
	rc = index_events_newest(st->ix, STORE_EVENTS_MAX, event_copy, &l);
	pthread_mutex_unlock(&st->mu);
	if (rc < 0) {
		store_events_free(l.ev, l.n);
		return rc;
	}
	*out = l.ev;
	*n = l.n;
	return 0;
}
