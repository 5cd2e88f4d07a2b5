/* The SQLite index, store group: opening (format check, schema, upgrades,
 * the writer's quick_check), store_info, events, policy, stats; and the
 * chunk group: chunk rows with their reference counts, damaged chunks. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "index_sqlite.h"
#include "store.h"
#include "util.h"

static const char ix_schema[] =
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

/* Tables added after format version 1 (older binaries never name them, so
 * the version stays); created at every open that may write the index. */
static const char ix_damaged_schema[] =
	"CREATE TABLE IF NOT EXISTS damaged_chunks("
	" hash BLOB PRIMARY KEY, found_at INTEGER NOT NULL, how TEXT) WITHOUT ROWID";
static const char ix_info_schema[] = "CREATE TABLE IF NOT EXISTS store_info("
				     " key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID";

/* Steps q expecting at most one row: 0 with the row (*row true) or none,
 * else the engine's errno; q stays on its row for the caller's columns. */
static int ix_step_row(struct index *ix, sqlite3_stmt *q, bool *row)
{
	int s = sqlite3_step(q);

	*row = s == SQLITE_ROW;
	return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : ix_err(ix);
}

/* The first column of sql's first row (0 when there is no row). */
static int ix_query_int64(struct index *ix, const char *sql, int64_t *v)
{
	sqlite3_stmt *q = ix_stmt(ix, sql);
	bool row;
	int rc;

	*v = 0;
	if (!q)
		return ix_err(ix);
	rc = ix_step_row(ix, q, &row);
	if (row)
		*v = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return rc;
}

/* ---- open ---- */

/* nodes.atime came after format version 1: added at an open that may write;
 * a read-only connection to an index without it reads through a temporary
 * view in which atime follows mtime. */
static int ix_atime_column(struct index *ix, bool rdonly)
{
	int64_t has;
	int rc = ix_query_int64(ix, "SELECT 1 FROM pragma_table_info('nodes') WHERE name='atime'",
				&has);

	if (rc < 0 || has)
		return rc;
	if (rdonly)
		return ix_exec(ix,
			       "CREATE TEMP VIEW nodes AS SELECT *, NULL AS atime FROM main.nodes");
	return ix_exec(ix, "ALTER TABLE nodes ADD COLUMN atime INTEGER");
}

/* A new index: in WAL mode before its schema is written. */
static int ix_schema_create(struct index *ix)
{
	int rc = ix_exec(ix, "PRAGMA journal_mode=WAL");

	if (rc == 0)
		rc = index_tx_begin(ix);
	if (rc < 0)
		return rc;
	rc = ix_exec(ix, ix_schema);
	if (rc == 0)
		rc = ix_exec(ix, "PRAGMA user_version = 1");
	_Static_assert(STORE_FORMAT_VERSION == 1, "update the user_version pragma");
	if (rc < 0) {
		index_tx_rollback(ix);
		return rc;
	}
	return index_tx_commit(ix);
}

/* The format check, before anything writes: -ENODATA for an empty index
 * without INDEX_CREATE (untouched), -EPROTONOSUPPORT for one that is not
 * ours; 1 when a message was set, else the engine's errno for the caller's
 * "DIR/index.db: message". */
static int ix_format(struct index *ix, const char *dir, int flags, enum index_none *none, char *err,
		     size_t err_len)
{
	int64_t uv, tables;
	int rc = ix_query_int64(ix, "PRAGMA user_version", &uv);

	if (rc < 0)
		return rc;
	if (uv > STORE_FORMAT_VERSION) {
		util_seterr(err, err_len,
			    "%s: store format version %lld is newer than this ckptfs supports (%d)",
			    dir, (long long)uv, STORE_FORMAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (uv == STORE_FORMAT_VERSION)
		return ix_atime_column(ix, flags & INDEX_RDONLY);
	rc = ix_query_int64(ix, "SELECT count(*) FROM sqlite_master", &tables);
	if (rc < 0)
		return rc;
	if (tables) {
		util_seterr(err, err_len, "%s: index.db is not a ckptfs index (user_version 0)",
			    dir);
		return -EPROTONOSUPPORT;
	}
	if (!(flags & INDEX_CREATE)) {
		*none = INDEX_NONE_EMPTY;
		return -ENODATA;
	}
	return ix_schema_create(ix);
}

/* A damaged index must not drive recovery (which deletes what it does not
 * reference): the writer checks the b-trees first. */
static int ix_quick_check(struct index *ix, const char *dir, char *err, size_t err_len)
{
	sqlite3_stmt *q = ix_stmt(ix, "PRAGMA quick_check(1)");
	int s = q ? sqlite3_step(q) : SQLITE_ERROR;
	const char *what = s == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0)
					   : sqlite3_errmsg(ixs_of(ix)->db);
	bool ok = s == SQLITE_ROW && what && strcmp(what, "ok") == 0;

	if (!ok)
		util_seterr(err, err_len,
			    "%s/index.db: the index is damaged (%s); nothing was changed:"
			    " restore index.db from a backup (`ckpt verify` lists the damage)",
			    dir, what ? what : "?");
	if (q)
		sqlite3_reset(q);
	return ok ? 0 : -EUCLEAN;
}

/* The evidence recovery needs before it deletes a chunk file without an
 * index row: when this index was initialised (recorded at the first writer's
 * open of a store made before the row existed, so older chunk files are
 * kept). CLOCK_REALTIME_COARSE is the clock file timestamps come from, so no
 * file written later is stamped earlier. */
static int ix_info_init(struct index *ix)
{
	struct timespec ts;
	sqlite3_stmt *q;
	int rc = ix_exec(ix, ix_info_schema);

	if (rc < 0)
		return rc;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	q = ix_stmt(ix, "INSERT OR IGNORE INTO store_info(key, value) VALUES('initialised_at', ?)");
	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	return ix_step_done(ix, q);
}

/* What an open that may write does after the format check. */
static int ix_prepare_writes(struct index *ix, const char *dir, int flags, char *err,
			     size_t err_len)
{
	int rc = ix_exec(ix, "PRAGMA journal_mode=WAL");

	if (rc == 0)
		rc = index_set_durable(ix, false);
	if (rc == 0 && (flags & INDEX_CHECK)) {
		rc = ix_quick_check(ix, dir, err, err_len);
		if (rc == 0)
			rc = ix_info_init(ix);
	}
	if (rc == 0)
		rc = ix_exec(ix, ix_damaged_schema);
	return rc;
}

int ixs_open(const struct index_ops *ops, const char *dir, int flags, struct index **out,
	     enum index_none *none, char *err, size_t err_len)
{
	char path[PATH_MAX];
	struct index *ix;
	int rc, oflags;

	*out = NULL;
	*none = INDEX_FOUND;
	snprintf(path, sizeof(path), "%s/index.db", dir);
	if (!(flags & INDEX_CREATE) && access(path, F_OK) < 0) {
		*none = INDEX_NONE_MISSING;
		return errno == ENOENT ? -ENODATA : -errno;
	}
	oflags = (flags & INDEX_RDONLY) ? SQLITE_OPEN_READONLY
					: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = ix_connect(ops, path, oflags, &ix);
	if (rc < 0) {
		util_seterr(err, err_len, "%s: %s", path, index_last_error(ix));
		goto out_close;
	}
	rc = ix_format(ix, dir, flags, none, err, err_len);
	if (rc == 0 && !(flags & INDEX_RDONLY))
		rc = ix_prepare_writes(ix, dir, flags, err, err_len);
	if (rc < 0) {
		if (rc != -ENODATA && rc != -EPROTONOSUPPORT && rc != -EUCLEAN)
			util_seterr(err, err_len, "%s: %s", path, sqlite3_errmsg(ixs_of(ix)->db));
		goto out_close;
	}
	*out = ix;
	return 0;
out_close:
	ix_disconnect(ix, false);
	return rc;
}

void ixs_close(struct index *ix, bool fold_wal)
{
	ix_disconnect(ix, fold_wal);
}

/* store_info's value of key, as an integer (value) or a copy of its text
 * (text); -ENOENT when it has none. */
static int ix_info_value(struct index *ix, const char *key, int64_t *value, char **text)
{
	sqlite3_stmt *q = ix_stmt(ix, "SELECT value FROM store_info WHERE key=?");
	bool row;
	int rc;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	rc = ix_step_row(ix, q, &row);
	if (row && value)
		*value = sqlite3_column_int64(q, 0);
	if (row && text && !(*text = strdup((const char *)sqlite3_column_text(q, 0) ?: "")))
		rc = -ENOMEM;
	sqlite3_reset(q);
	return rc < 0 ? rc : row ? 0 : -ENOENT;
}

static int ixs_info_get(struct index *ix, const char *key, int64_t *value)
{
	return ix_info_value(ix, key, value, NULL);
}

static int ixs_info_get_text(struct index *ix, const char *key, char **value)
{
	*value = NULL;
	return ix_info_value(ix, key, NULL, value);
}

static int ixs_info_put_text(struct index *ix, const char *key, const char *value)
{
	sqlite3_stmt *q = ix_stmt(ix, "INSERT OR REPLACE INTO store_info(key, value) VALUES(?, ?)");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
	return ix_step_done(ix, q);
}

/* ---- events ---- */

static int ixs_event_add(struct index *ix, int64_t time, const char *event, const char *name,
			 const char *rule)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "INSERT INTO events(time, event, name, rule) VALUES(?,?,?,?)");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, time);
	sqlite3_bind_text(q, 2, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, rule, -1, SQLITE_STATIC);
	return ix_step_done(ix, q);
}

/* Steps q to its end, calling row(q) for each row: the callback's non-zero
 * stops the walk and is returned, an engine failure is its errno. */
static int ix_walk(struct index *ix, sqlite3_stmt *q, int (*row)(sqlite3_stmt *q, void *ctx),
		   void *ctx)
{
	int rc = 0, s;

	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		rc = row(q, ctx);
		if (rc)
			break;
	}
	if (!rc && s != SQLITE_DONE)
		rc = ix_err(ix);
	sqlite3_reset(q);
	return rc;
}

/* A verb's callback and its context, for the row functions of ix_walk. */
struct ix_cb {
	union {
		int (*event)(void *ctx, const struct index_event *ev);
		int (*kv)(void *ctx, const char *key, const char *value);
		int (*name)(void *ctx, const char *name);
	} fn;
	void *ctx;
};

static int event_row(sqlite3_stmt *q, void *ctx)
{
	struct ix_cb *c = ctx;
	struct index_event ev = {
		.id = sqlite3_column_int64(q, 4),
		.time = sqlite3_column_int64(q, 0),
		.event = (const char *)sqlite3_column_text(q, 1),
		.name = (const char *)sqlite3_column_text(q, 2),
		.rule = (const char *)sqlite3_column_text(q, 3),
	};

	return c->fn.event(c->ctx, &ev);
}

static int ixs_events_newest(struct index *ix, size_t max,
			     int (*cb)(void *ctx, const struct index_event *ev), void *ctx)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "SELECT time, event, name, rule, id FROM (SELECT * FROM events"
				  " ORDER BY id DESC LIMIT ?) ORDER BY id");
	struct ix_cb c = { .fn.event = cb, .ctx = ctx };

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	return ix_walk(ix, q, event_row, &c);
}

static int ixs_events_after(struct index *ix, int64_t after_id, size_t max,
			    int (*cb)(void *ctx, const struct index_event *ev), void *ctx)
{
	sqlite3_stmt *q = ix_stmt(ix,
				  "SELECT time, event, name, rule, id FROM events"
				  " WHERE id > ? ORDER BY id LIMIT ?");
	struct ix_cb c = { .fn.event = cb, .ctx = ctx };

	if (!q)
		return ix_err(ix);
	sqlite3_bind_int64(q, 1, after_id);
	sqlite3_bind_int64(q, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	return ix_walk(ix, q, event_row, &c);
}

/* ---- policy ---- */

static int kv_row(sqlite3_stmt *q, void *ctx)
{
	struct ix_cb *c = ctx;

	return c->fn.kv(c->ctx, (const char *)sqlite3_column_text(q, 0),
			(const char *)sqlite3_column_text(q, 1));
}

static int name_row(sqlite3_stmt *q, void *ctx)
{
	struct ix_cb *c = ctx;

	return c->fn.name(c->ctx, (const char *)sqlite3_column_text(q, 0));
}

static int ixs_policy_foreach(struct index *ix,
			      int (*cb)(void *ctx, const char *key, const char *value), void *ctx)
{
	sqlite3_stmt *q = ix_stmt(ix, "SELECT key, value FROM policy ORDER BY key");
	struct ix_cb c = { .fn.kv = cb, .ctx = ctx };

	if (!q)
		return ix_err(ix);
	return ix_walk(ix, q, kv_row, &c);
}

static int ixs_policy_clear(struct index *ix)
{
	return ix_exec(ix, "DELETE FROM policy");
}

static int ixs_policy_put(struct index *ix, const char *key, const char *value)
{
	sqlite3_stmt *q = ix_stmt(ix, "INSERT OR REPLACE INTO policy(key, value) VALUES(?, ?)");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
	return ix_step_done(ix, q);
}

/* ---- stats ---- */

static int stats_state_row(sqlite3_stmt *q, void *ctx)
{
	struct store_stats *out = ctx;
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
	case CKPT_TRASHED:
		out->trashed = c;
		break;
	default:
		out->deleted = c;
	}
	return 0;
}

static int stats_chunk_row(sqlite3_stmt *q, void *ctx)
{
	struct store_stats *out = ctx;

	out->chunks = (uint64_t)sqlite3_column_int64(q, 0);
	out->raw_bytes = (uint64_t)sqlite3_column_double(q, 1);
	out->stored_bytes = (uint64_t)sqlite3_column_double(q, 2);
	return 0;
}

static int ixs_stats_get(struct index *ix, struct store_stats *out)
{
	sqlite3_stmt *q;
	int rc;

	memset(out, 0, sizeof(*out));
	q = ix_stmt(ix,
		    "SELECT state, count(*), sum(logical_bytes) FROM checkpoints GROUP BY state");
	if (!q)
		return ix_err(ix);
	rc = ix_walk(ix, q, stats_state_row, out);
	if (rc < 0)
		return rc;
	q = ix_stmt(ix, "SELECT count(*), total(raw), total(stored) FROM chunks");
	if (!q)
		return ix_err(ix);
	return ix_walk(ix, q, stats_chunk_row, out);
}

/* ==== chunks and their references, damage ==== */

static int ixs_chunk_ref(struct index *ix, const struct chunk_ref *r, int delta, uint32_t stored,
			 int codec)
{
	sqlite3_stmt *q;

	if (delta >= 0) {
		q = ix_stmt(ix,
			    "INSERT INTO chunks(hash, raw, stored, codec, refs) VALUES(?,?,?,?,?)"
			    " ON CONFLICT(hash) DO UPDATE SET refs = refs + excluded.refs");
		if (!q)
			return ix_err(ix);
		sqlite3_bind_blob(q, 1, r->hash, CHUNK_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, r->raw_len);
		sqlite3_bind_int64(q, 3, stored);
		sqlite3_bind_int(q, 4, codec);
		sqlite3_bind_int(q, 5, delta);
	} else {
		q = ix_stmt(ix, "UPDATE chunks SET refs = refs + ? WHERE hash = ?");
		if (!q)
			return ix_err(ix);
		sqlite3_bind_int(q, 1, delta);
		sqlite3_bind_blob(q, 2, r->hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	}
	return ix_step_done(ix, q);
}

/* 0 when the one-hash query finds a row (its first two columns in a and b,
 * each may be NULL), -ENOENT when not. */
static int ix_hash_row(struct index *ix, const char *sql, const uint8_t *hash, int64_t *a,
		       int64_t *b)
{
	sqlite3_stmt *q = ix_stmt(ix, sql);
	bool row;
	int rc;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	rc = ix_step_row(ix, q, &row);
	if (row && a)
		*a = sqlite3_column_int64(q, 0);
	if (row && b)
		*b = sqlite3_column_int64(q, 1);
	sqlite3_reset(q);
	return rc < 0 ? rc : row ? 0 : -ENOENT;
}

static int ix_hash_exists(struct index *ix, const char *sql, const uint8_t *hash)
{
	return ix_hash_row(ix, sql, hash, NULL, NULL);
}

static int ixs_chunk_exists(struct index *ix, const uint8_t *hash)
{
	return ix_hash_exists(ix, "SELECT 1 FROM chunks WHERE hash=?", hash);
}

static int ixs_chunk_get(struct index *ix, const uint8_t *hash, int64_t *refs, uint32_t *stored)
{
	int64_t s = 0;
	int rc = ix_hash_row(ix, "SELECT refs, stored FROM chunks WHERE hash=?", hash, refs, &s);

	*stored = (uint32_t)s;
	return rc;
}

static int ixs_chunk_users(struct index *ix, const uint8_t *hash,
			   int (*cb)(void *ctx, const char *ckpt_name), void *ctx)
{
	/* a hash sits at a multiple of CHUNK_REF_WIRE in a chunk list; a match
	 * anywhere else in 44-byte records of random hashes does not happen */
	sqlite3_stmt *q = ix_stmt(
		ix,
		"SELECT DISTINCT c.name FROM nodes n JOIN versions v ON v.id = n.version"
		" JOIN checkpoints c ON c.id = v.ckpt WHERE v.state != 3"
		" AND n.chunks IS NOT NULL AND instr(n.chunks, ?) > 0 ORDER BY c.name");
	struct ix_cb c = { .fn.name = cb, .ctx = ctx };

	if (!q)
		return ix_err(ix);
	sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	return ix_walk(ix, q, name_row, &c);
}

static int ixs_damage_add(struct index *ix, const uint8_t *hash, int64_t found_at, const char *how)
{
	sqlite3_stmt *q = ix_stmt(
		ix, "INSERT OR IGNORE INTO damaged_chunks(hash, found_at, how) VALUES(?,?,?)");

	if (!q)
		return ix_err(ix);
	sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, found_at);
	sqlite3_bind_text(q, 3, how, -1, SQLITE_STATIC);
	return ix_step_done(ix, q);
}

static int ixs_damage_exists(struct index *ix, const uint8_t *hash)
{
	return ix_hash_exists(ix, "SELECT 1 FROM damaged_chunks WHERE hash=?", hash);
}

static int ixs_damage_del(struct index *ix, const uint8_t *hash)
{
	sqlite3_stmt *q = ix_stmt(ix, "DELETE FROM damaged_chunks WHERE hash=?");
	int rc;

	if (!q)
		return ix_err(ix);
	sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	rc = ix_step_done(ix, q);
	return rc < 0 ? rc : sqlite3_changes(ixs_of(ix)->db) > 0 ? 0 : -ENOENT;
}

const struct index_store_ops ixs_store_ops = {
	.info_get = ixs_info_get,
	.info_get_text = ixs_info_get_text,
	.info_put_text = ixs_info_put_text,
	.event_add = ixs_event_add,
	.events_newest = ixs_events_newest,
	.events_after = ixs_events_after,
	.policy_foreach = ixs_policy_foreach,
	.policy_clear = ixs_policy_clear,
	.policy_put = ixs_policy_put,
	.stats_get = ixs_stats_get,
};

const struct index_chunk_ops ixs_chunk_ops = {
	.chunk_ref = ixs_chunk_ref,
	.chunk_exists = ixs_chunk_exists,
	.chunk_get = ixs_chunk_get,
	.chunk_users = ixs_chunk_users,
	.damage_add = ixs_damage_add,
	.damage_exists = ixs_damage_exists,
	.damage_del = ixs_damage_del,
};
