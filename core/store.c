/* Store: open/lock/schema, index helpers, held chunks, pins, policy, notes,
 * stats, events. Checkpoint operations are in store_ckpt.c, the tree in
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
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index_sqlite.h" /* until the SQL below moves into index_sqlite*.c */
#include "store_int.h"
#include "util.h"

static const char store_schema[] =
	"CREATE TABLE checkpoints("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, kind INTEGER NOT NULL,"
	" state INTEGER NOT NULL, step INTEGER, epoch REAL, commit_seq INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL, committed_at INTEGER NOT NULL DEFAULT 0,"
	" ended_at INTEGER NOT NULL DEFAULT 0, pinned INTEGER NOT NULL DEFAULT 0,"
	" withdrawn INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0,"
	" committed_version INTEGER NOT NULL DEFAULT 0, staging_version INTEGER NOT NULL DEFAULT 0,"
	" logical_bytes INTEGER NOT NULL DEFAULT 0, stored_bytes INTEGER NOT NULL DEFAULT 0,"
	" note TEXT, deleted_rule TEXT);"
	/* live names are unique; aborted and deleted rows may repeat a name */
	"CREATE UNIQUE INDEX ckpt_live ON checkpoints(name) WHERE state IN (0,1);"
	"CREATE INDEX ckpt_latest ON checkpoints(commit_seq) WHERE state=1 AND withdrawn=0;"
	"CREATE INDEX ckpt_state ON checkpoints(state, name);"
	"CREATE INDEX ckpt_seq ON checkpoints(commit_seq);" /* max()+1 at every commit */
	"CREATE TABLE versions("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, ckpt INTEGER NOT NULL, state INTEGER NOT NULL,"
	" root INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
	"CREATE INDEX versions_ckpt ON versions(ckpt);"
	"CREATE INDEX versions_state ON versions(state);"
	"CREATE TABLE nodes("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, version INTEGER NOT NULL, parent INTEGER NOT NULL,"
	" name TEXT NOT NULL, mode INTEGER NOT NULL, size INTEGER NOT NULL DEFAULT 0,"
	" mtime INTEGER NOT NULL, ctime INTEGER NOT NULL, chunks BLOB, target TEXT, origin INTEGER,"
	" atime INTEGER," /* set by utimens only (NULL: follows mtime); reads never move it */
	" UNIQUE(version, parent, name));"
	"CREATE INDEX nodes_parent ON nodes(parent, name);"
	"CREATE INDEX nodes_origin ON nodes(origin) WHERE origin IS NOT NULL;"
	"CREATE TABLE chunks("
	" hash BLOB PRIMARY KEY, raw INTEGER NOT NULL, stored INTEGER NOT NULL,"
	" codec INTEGER NOT NULL, refs INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	"CREATE INDEX chunks_unref ON chunks(refs) WHERE refs <= 0;"
	/* eligible = the checkpoint is committed and not withdrawn: kept in the
	 * row so best resolution is one index range scan */
	"CREATE TABLE metrics("
	" ckpt INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, source TEXT NOT NULL,"
	" eligible INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(ckpt, name));"
	"CREATE INDEX metrics_best ON metrics(name, value) WHERE eligible=1;"
	"CREATE TABLE events("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, event TEXT NOT NULL,"
	" name TEXT, rule TEXT);"
	"CREATE TABLE policy(key TEXT PRIMARY KEY, value TEXT NOT NULL);";

/* ---- small helpers ---- */

/* Transition wrappers: the SQL still outside core/index_sqlite*.c calls
 * these until it has moved behind index.h verbs. */
int store_sqlerr(int rc)
{
	return ix_sqlerr(rc);
}

sqlite3_stmt *store_stmt(struct store *st, const char *sql)
{
	return ix_stmt(st->ix, sql);
}

int store_exec(struct store *st, const char *sql)
{
	return ix_exec(st->ix, sql);
}

int store_begin(struct store *st)
{
	return index_tx_begin(st->ix);
}

int store_commit_tx(struct store *st)
{
	return index_tx_commit(st->ix);
}

void store_rollback(struct store *st)
{
	index_tx_rollback(st->ix);
}

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
	sqlite3_stmt *q = store_stmt(st, "INSERT INTO events(time, event, name, rule) VALUES(?,?,?,?)");
	int rc;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, store_now());
	sqlite3_bind_text(q, 2, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, rule, -1, SQLITE_STATIC);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	return rc;
}

int store_event_log(struct store *st, const char *event, const char *name, const char *rule)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = store_event_add(st, event, name, rule);
	if (rc == 0)
		rc = store_commit_tx(st);
	else
		store_rollback(st);
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
	sqlite3_stmt *q;
	int rc;

	if (delta >= 0) { /* 0: make sure a row exists, so gc can find it */
		q = store_stmt(st, "INSERT INTO chunks(hash, raw, stored, codec, refs) VALUES(?,?,?,?,?)"
				   " ON CONFLICT(hash) DO UPDATE SET refs = refs + excluded.refs");
		if (!q)
			return -EIO;
		sqlite3_bind_blob(q, 1, r->hash, CHUNK_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, r->raw_len);
		sqlite3_bind_int64(q, 3, stored);
		sqlite3_bind_int(q, 4, codec);
		sqlite3_bind_int(q, 5, delta);
	} else {
		q = store_stmt(st, "UPDATE chunks SET refs = refs + ? WHERE hash = ?");
		if (!q)
			return -EIO;
		sqlite3_bind_int(q, 1, delta);
		sqlite3_bind_blob(q, 2, r->hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	}
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	return rc;
}

int store_chunk_has_row(struct store *st, const uint8_t hash[CHUNK_HASH_LEN])
{
	sqlite3_stmt *q = store_stmt(st, "SELECT 1 FROM chunks WHERE hash=?");
	int s;

	if (!q)
		return -EIO;
	sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	s = sqlite3_step(q);
	sqlite3_reset(q);
	if (s == SQLITE_ROW)
		return 1;
	return s == SQLITE_DONE ? 0 : store_sqlerr(s);
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

static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	for (char *c = err; *c; c++) /* one line, whatever SQLite says */
		if (*c == '\n')
			*c = ' ';
}

static int store_lock(struct store *st, char *err, size_t err_len)
{
	char path[PATH_MAX], buf[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/lock", st->dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;

		seterr(err, err_len, "%s: %s", path, strerror(e));
		return -e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		long pid = 0;

		if (e == EWOULDBLOCK) {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			if (n > 0) {
				buf[n] = 0;
				pid = strtol(buf, NULL, 10);
			}
			if (pid > 0)
				seterr(err, err_len, "%s: already mounted or in use by pid %ld",
				       st->dir, pid);
			else
				seterr(err, err_len, "%s: already mounted or in use", st->dir);
			close(fd);
			return -EBUSY;
		}
		seterr(err, err_len, "%s: lock: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	/* who holds it, for the next opener's message */
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		/* informational only */
	}
	st->lock_fd = fd;
	st->locked = true;
	return 0;
}

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
		seterr(err, err_len, "%s: %s", path, strerror(-rc));
	if (rc <= 0)
		return rc;
	seterr(err, err_len,
	       "%s: %s but chunks/ holds checkpoint data; refusing to start a new index over it"
	       " (restore index.db from a backup, or move chunks/ away for a fresh store)",
	       dir, why);
	return -EUCLEAN;
}

/* The evidence recovery needs before it deletes a chunk file without an
 * index row: when this index was initialised (recorded at the first
 * read-write open of a store made before the row existed, so older chunk
 * files are kept, never deleted). CLOCK_REALTIME_COARSE is the clock file
 * timestamps come from, so no file written later is stamped earlier. */
static int store_info_init(struct store *st)
{
	struct timespec ts;
	sqlite3_stmt *q;
	int rc;

	rc = store_exec(st, "CREATE TABLE IF NOT EXISTS store_info("
			    " key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID");
	if (rc < 0)
		return rc;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	q = store_stmt(st, "INSERT OR IGNORE INTO store_info(key, value) VALUES('initialised_at', ?)");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	if (rc < 0)
		return rc;
	q = store_stmt(st, "SELECT value FROM store_info WHERE key='initialised_at'");
	if (!q)
		return -EIO;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		st->init_ns = sqlite3_column_int64(q, 0);
	rc = rc == SQLITE_ROW ? 0 : store_sqlerr(rc) ?: -EIO;
	sqlite3_reset(q);
	return rc;
}

/* A damaged index must not drive recovery (which deletes what it does not
 * reference): the read-write opener checks the b-trees first. */
static int store_quick_check(struct store *st, char *err, size_t err_len)
{
	sqlite3_stmt *q = NULL;
	const char *what;
	bool ok;
	int s;

	if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check(1)", -1, &q, NULL) != SQLITE_OK)
		q = NULL;
	s = q ? sqlite3_step(q) : SQLITE_ERROR;
	what = s == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : sqlite3_errmsg(st->db);
	ok = s == SQLITE_ROW && what && strcmp(what, "ok") == 0;
	if (!ok)
		seterr(err, err_len, "%s/index.db: the index is damaged (%s); nothing was changed:"
		       " restore index.db from a backup (`ckpt verify` lists the damage)", st->dir,
		       what ? what : "?");
	sqlite3_finalize(q);
	return ok ? 0 : -EUCLEAN;
}

/* nodes.atime came after format version 1 (older binaries never name it,
 * so the version stays): added at a locking or shared read-write open; a
 * read-only connection to an index without it reads through a temporary
 * view in which atime follows mtime. */
static int store_atime_column(struct store *st)
{
	sqlite3_stmt *q = NULL;
	bool has = false;

	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM pragma_table_info('nodes') WHERE name='atime'", -1, &q,
			       NULL) != SQLITE_OK)
		return -EIO;
	has = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	if (has)
		return 0;
	if (st->flags & STORE_RDONLY)
		return store_exec(st, "CREATE TEMP VIEW nodes AS SELECT *, NULL AS atime FROM main.nodes");
	return store_exec(st, "ALTER TABLE nodes ADD COLUMN atime INTEGER");
}

static int store_schema_init(struct store *st, char *err, size_t err_len)
{
	sqlite3_stmt *q = NULL;
	int64_t uv = 0, tables = 0;
	int rc;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
		goto out_sql;
	if (sqlite3_step(q) == SQLITE_ROW)
		uv = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (uv > STORE_FORMAT_VERSION) {
		seterr(err, err_len,
		       "%s: store format version %lld is newer than this ckptfs supports (%d)",
		       st->dir, (long long)uv, STORE_FORMAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (uv == STORE_FORMAT_VERSION) {
		if (store_atime_column(st) == 0)
			return 0;
		goto out_sql;
	}
	if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL) != SQLITE_OK)
		goto out_sql;
	if (sqlite3_step(q) == SQLITE_ROW)
		tables = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (tables) {
		seterr(err, err_len, "%s: index.db is not a ckptfs index (user_version 0)", st->dir);
		return -EPROTONOSUPPORT;
	}
	if (st->flags & (STORE_RDONLY | STORE_SHARED | STORE_NOCREATE)) {
		seterr(err, err_len, "%s: store is not initialised (index.db is empty)", st->dir);
		return -ENOENT;
	}
	rc = refuse_new_index(st->dir, "index.db is empty", err, err_len);
	if (rc < 0)
		return rc;
	rc = store_exec(st, "PRAGMA journal_mode=WAL"); /* before the schema is written */
	if (rc == 0)
		rc = store_begin(st);
	if (rc < 0)
		goto out_sql;
	if (sqlite3_exec(st->db, store_schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(st->db, "PRAGMA user_version = 1", NULL, NULL, NULL) != SQLITE_OK) {
		store_rollback(st);
		goto out_sql;
	}
	_Static_assert(STORE_FORMAT_VERSION == 1, "update the user_version pragma");
	rc = store_commit_tx(st);
	if (rc < 0)
		goto out_sql;
	return 0;
out_sql:
	seterr(err, err_len, "%s/index.db: %s", st->dir, sqlite3_errmsg(st->db));
	return store_sqlerr(sqlite3_errcode(st->db)) ?: -EIO;
}

static int store_open_once(const char *dir, int flags, struct store **out, char *err, size_t err_len)
{
	struct store *st;
	char path[PATH_MAX];
	struct stat sb;
	const char *crash;
	int rc, oflags;

	*out = NULL;
	if (err && err_len)
		err[0] = 0;
	if (stat(dir, &sb) < 0) {
		rc = -errno;
		if (rc != -ENOENT || (flags & (STORE_NOCREATE | STORE_RDONLY | STORE_SHARED))) {
			seterr(err, err_len, "%s: %s", dir, strerror(-rc));
			return rc;
		}
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			seterr(err, err_len, "%s: %s", dir, strerror(-rc));
			return rc;
		}
	} else if (!S_ISDIR(sb.st_mode)) {
		seterr(err, err_len, "%s: not a directory", dir);
		return -ENOTDIR;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->lock_fd = -1;
	st->flags = flags;
	st->dir = strdup(dir);
	if (!st->dir) {
		rc = -ENOMEM;
		goto out_free;
	}
	crash = getenv("CKPT_CRASH_AT");
	if (crash)
		snprintf(st->crash_at, sizeof(st->crash_at), "%s", crash);
	pthread_mutex_init(&st->mu, NULL);
	store_ph_init(st);
	if (store_rwlock_init(&st->gc_rw) < 0) {
		pthread_mutex_destroy(&st->mu);
		rc = -ENOMEM;
		goto out_free;
	}

	if (!(flags & (STORE_RDONLY | STORE_SHARED))) {
		rc = store_lock(st, err, err_len);
		if (rc < 0)
			goto out_free;
	}
	snprintf(path, sizeof(path), "%s/index.db", dir);
	if ((flags & (STORE_RDONLY | STORE_SHARED | STORE_NOCREATE)) && access(path, F_OK) < 0) {
		rc = -errno;
		seterr(err, err_len, "%s: not a ckptfs store (no index.db)", dir);
		goto out_unlock;
	}
	if (!(flags & (STORE_RDONLY | STORE_SHARED)) && access(path, F_OK) < 0 && errno == ENOENT) {
		rc = refuse_new_index(dir, "index.db is missing", err, err_len);
		if (rc < 0)
			goto out_unlock;
	}
	oflags = (flags & STORE_RDONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = ix_connect(path, oflags, &st->ix);
	if (rc < 0) {
		seterr(err, err_len, "%s: %s", path, index_last_error(st->ix));
		goto out_close_db;
	}
	st->db = st->ix->db;
	/* before anything writes: an empty index.db is refused untouched; a new
	 * one is in WAL mode before its schema is written */
	rc = store_schema_init(st, err, err_len);
	if (rc < 0)
		goto out_close_db;
	if (!(flags & STORE_RDONLY)) {
		rc = store_exec(st, "PRAGMA journal_mode=WAL");
		if (rc == 0)
			rc = store_exec(st, "PRAGMA synchronous=NORMAL");
		if (rc == 0 && store_writable(st)) {
			rc = store_quick_check(st, err, err_len);
			if (rc == 0)
				rc = store_info_init(st);
		}
		if (rc == 0)
			rc = store_exec(st, store_damaged_schema);
		if (rc < 0) {
			if (rc != -EUCLEAN)
				seterr(err, err_len, "%s: %s", path, sqlite3_errmsg(st->db));
			goto out_close_db;
		}
	}

	snprintf(path, sizeof(path), "%s/chunks", dir);
	if ((flags & (STORE_RDONLY | STORE_SHARED)) && access(path, F_OK) < 0) {
		/* an initialised store whose chunk directory is gone */
		rc = -errno;
		seterr(err, err_len, "%s: %s", path, strerror(-rc));
		goto out_close_db;
	}
	{
		struct chunk_opts copts = {
			.spec = path,
			.barrier = (flags & STORE_BARRIER_FSYNC)    ? CHUNK_BARRIER_FSYNC
				   : (flags & STORE_BARRIER_SYNCFS) ? CHUNK_BARRIER_SYNCFS
								    : CHUNK_BARRIER_AUTO,
		};

		rc = chunk_store_open_with(&copts, &st->cs);
	}
	if (rc < 0) {
		seterr(err, err_len, "%s: %s", path, strerror(-rc));
		goto out_close_db;
	}
	if (store_writable(st)) {
		snprintf(path, sizeof(path), "%s/staging", dir);
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			rc = -errno;
			seterr(err, err_len, "%s: %s", path, strerror(-rc));
			goto out_close_chunks;
		}
		rc = store_recover(st);
		if (store_reserve_use(st, rc)) /* a full disk: recovery mostly deletes */
			rc = store_recover(st);
		if (rc == 0)
			store_reserve_fill(st);
		if (rc < 0) {
			seterr(err, err_len, "%s: recovery failed: %s", dir, strerror(-rc));
			goto out_close_chunks;
		}
	}
	store_changed_externally(st); /* baseline */
	*out = st;
	return 0;

out_close_chunks:
	chunk_store_close(st->cs);
out_close_db:
	ix_disconnect(st->ix, false);
out_unlock:
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	pthread_rwlock_destroy(&st->gc_rw);
	pthread_mutex_destroy(&st->mu);
out_free:
	free(st->dir);
	free(st);
	return rc;
}

int store_open(const char *dir, int flags, struct store **out, char *err, size_t err_len)
{
	int rc = store_open_once(dir, flags, out, err, err_len);

	/* A full disk refuses even SQLite's WAL and shared-memory files (an
	 * I/O error): with the reserve released, the store opens, and the
	 * deletions that make room work. */
	if ((rc == -ENOSPC || rc == -EIO) && store_reserve_release_full(dir))
		rc = store_open_once(dir, flags, out, err, err_len);
	return rc;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	store_ph_stop(st);
	/* handles left open by the caller: their overlays go with them */
	store_files_close_all(st);
	ix_disconnect(st->ix, store_writable(st));
	chunk_store_close(st->cs);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
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

int store_policy_get(struct store *st, struct policy *out)
{
	sqlite3_stmt *q;
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc = 0, s;

	policy_init(out);
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT key, value FROM policy ORDER BY key");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(q, 0);
		const char *v = (const char *)sqlite3_column_text(q, 1);
		size_t need = strlen(k ? k : "") + strlen(v ? v : "") + 3;

		if (len + need > (1u << 20)) { /* cap: a policy is small */
			rc = -E2BIG;
			break;
		}
		if (len + need > cap) {
			size_t nc = (len + need) * 2;
			char *nt = realloc(text, nc);

			if (!nt) {
				rc = -ENOMEM;
				break;
			}
			text = nt;
			cap = nc;
		}
		len += (size_t)sprintf(text + len, "%s=%s\n", k ? k : "", v ? v : "");
	}
	if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	if (rc == 0 && text)
		rc = policy_from_text(out, text);
	free(text);
	return rc;
}

int store_policy_set(struct store *st, const struct policy *p)
{
	char *text = NULL, *line, *save = NULL;
	sqlite3_stmt *q;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	rc = policy_to_text(p, &text);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&st->mu);
	rc = store_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = store_exec(st, "DELETE FROM policy");
	for (line = strtok_r(text, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = 0;
		q = store_stmt(st, "INSERT OR REPLACE INTO policy(key, value) VALUES(?, ?)");
		if (!q) {
			rc = -EIO;
			break;
		}
		sqlite3_bind_text(q, 1, line, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, eq + 1, -1, SQLITE_STATIC);
		rc = store_sqlerr(sqlite3_step(q));
		sqlite3_reset(q);
	}
	if (rc == 0)
		rc = store_commit_tx(st);
	else
		store_rollback(st);
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
	int rc = store_sqlerr(sqlite3_errcode(st->db)) ?: -EIO;

	snprintf(line, sizeof(line), "index error %s: %s (%s)", what, sqlite3_errmsg(st->db),
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
	sqlite3_stmt *q;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT state, count(*), sum(logical_bytes) FROM checkpoints GROUP BY state");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	while (sqlite3_step(q) == SQLITE_ROW) {
		uint64_t c = (uint64_t)sqlite3_column_int64(q, 1);

		switch (sqlite3_column_int(q, 0)) {
		case CKPT_STAGING:
			out->staging = c;
			break;
		case CKPT_COMMITTED:
			out->checkpoints = c;
			out->logical_bytes = (uint64_t)sqlite3_column_int64(q, 2);
			break;
		case CKPT_ABORTED:
			out->aborted = c;
			break;
		default:
			out->deleted = c;
		}
	}
	sqlite3_reset(q);
	q = store_stmt(st, "SELECT count(*), total(raw), total(stored) FROM chunks");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	if (sqlite3_step(q) == SQLITE_ROW) {
		out->chunks = (uint64_t)sqlite3_column_int64(q, 0);
		out->raw_bytes = (uint64_t)sqlite3_column_double(q, 1);
		out->stored_bytes = (uint64_t)sqlite3_column_double(q, 2);
	}
	sqlite3_reset(q);
	out->dedup_ratio = out->raw_bytes ? (double)out->logical_bytes / (double)out->raw_bytes : 1.0;
	out->compression_ratio =
		out->stored_bytes ? (double)out->raw_bytes / (double)out->stored_bytes : 1.0;
out_unlock:
	pthread_mutex_unlock(&st->mu);
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

static char *col_strdup(sqlite3_stmt *q, int col, bool *oom)
{
	const char *t = (const char *)sqlite3_column_text(q, col);
	char *d;

	if (!t)
		return NULL;
	d = strdup(t);
	if (!d)
		*oom = true;
	return d;
}

int store_events(struct store *st, struct store_event **out, size_t *n)
{
	sqlite3_stmt *q;
	struct store_event *ev = NULL;
	size_t cnt = 0, cap = 0;
	bool oom = false;
	int rc = 0, s;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT time, event, name, rule FROM (SELECT * FROM events ORDER BY id DESC"
			   " LIMIT ?) ORDER BY id");
	if (!q) {
		rc = -EIO;
		goto out_unlock;
	}
	sqlite3_bind_int(q, 1, STORE_EVENTS_MAX);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (UTIL_GROW(ev, cap, cnt, SIZE_MAX) < 0) {
			oom = true;
			break;
		}
		ev[cnt].time = sqlite3_column_int64(q, 0);
		ev[cnt].event = col_strdup(q, 1, &oom);
		ev[cnt].name = col_strdup(q, 2, &oom);
		ev[cnt].rule = col_strdup(q, 3, &oom);
		cnt++;
		if (oom)
			break;
	}
	if (!oom && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = store_sqlerr(s);
	sqlite3_reset(q);
out_unlock:
	pthread_mutex_unlock(&st->mu);
	if (oom)
		rc = -ENOMEM;
	if (rc < 0) {
		store_events_free(ev, cnt);
		return rc;
	}
	*out = ev;
	*n = cnt;
	return 0;
}
