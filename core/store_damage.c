/* Damaged chunks. A chunk found damaged (a read's XXH3 check, a commit's
 * format check, or verify's SHA-256) is recorded in the index table
 * damaged_chunks. A put of the same bytes checks that table (one index probe
 * per chunk put; chunk files are never re-read on a put) and then rewrites
 * the chunk file atomically instead of deduplicating onto it, which heals
 * every checkpoint that shares the chunk; the rewrite is logged as a "heal"
 * event naming them. The table is created at every open that may write the
 * index, so stores made before it get it at their next mount. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "store_int.h"

const char store_damaged_schema[] =
	"CREATE TABLE IF NOT EXISTS damaged_chunks("
	" hash BLOB PRIMARY KEY, found_at INTEGER NOT NULL, how TEXT) WITHOUT ROWID";

void store_chunk_users_locked(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], char *out,
			      size_t len)
{
	sqlite3_stmt *q;
	size_t used = 0;
	int s;

	assert(len > 8);
	out[0] = 0;
	/* a hash sits at a multiple of CHUNK_REF_WIRE in a chunk list; a match
	 * anywhere else in 44-byte records of random hashes does not happen */
	q = store_stmt(st, "SELECT DISTINCT c.name FROM nodes n JOIN versions v ON v.id = n.version"
			   " JOIN checkpoints c ON c.id = v.ckpt WHERE v.state != 3"
			   " AND n.chunks IS NOT NULL AND instr(n.chunks, ?) > 0 ORDER BY c.name");
	if (!q)
		return;
	sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);
		int n = snprintf(out + used, len - used, "%s%s", used ? ", " : "", name ? name : "?");

		if (n < 0 || (size_t)n >= len - used) {
			snprintf(out + (len > 8 ? len - 8 : 0), 8, ", ...");
			break;
		}
		used += (size_t)n;
	}
	sqlite3_reset(q);
}

int store_damage_mark_locked(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], const char *how)
{
	sqlite3_stmt *q;
	int rc;

	if (st->flags & STORE_RDONLY)
		return -EROFS;
	q = store_stmt(st, "INSERT OR IGNORE INTO damaged_chunks(hash, found_at, how) VALUES(?,?,?)");
	if (!q)
		return -EIO;
	sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, store_now());
	sqlite3_bind_text(q, 3, how, -1, SQLITE_STATIC);
	rc = store_sqlerr(sqlite3_step(q));
	sqlite3_reset(q);
	return rc;
}

bool store_damage_known(struct store *st, const uint8_t hash[CHUNK_HASH_LEN])
{
	sqlite3_stmt *q;
	bool known = false;

	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "SELECT 1 FROM damaged_chunks WHERE hash=?");
	if (q) {
		sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
		known = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_reset(q);
	}
	pthread_mutex_unlock(&st->mu);
	return known;
}

void store_damage_healed(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], const char *by)
{
	char users[STORE_NOTE_LEN - 160], rule[STORE_NOTE_LEN], hex[65];
	sqlite3_stmt *q;
	bool was = false;

	chunk_hex(hash, hex);
	pthread_mutex_lock(&st->mu);
	q = store_stmt(st, "DELETE FROM damaged_chunks WHERE hash=?");
	if (q) {
		sqlite3_bind_blob(q, 1, hash, CHUNK_HASH_LEN, SQLITE_STATIC);
		was = sqlite3_step(q) == SQLITE_DONE && sqlite3_changes(st->db) > 0;
		sqlite3_reset(q);
	}
	if (was) { /* a concurrent put of the same bytes logs it once */
		store_chunk_users_locked(st, hash, users, sizeof(users));
		snprintf(rule, sizeof(rule), "rewrote damaged chunk %.16s; healed: %s", hex,
			 users[0] ? users : "(no checkpoint uses it now)");
		store_event_add(st, "heal", by, rule);
	}
	pthread_mutex_unlock(&st->mu);
	if (was)
		store_note(st, "healed damaged chunk %.16s (saved again by %s)", hex, by ? by : "?");
}

bool store_lock_held_elsewhere(struct store *st)
{
	char path[PATH_MAX], line[256], want[64];
	struct stat sb;
	bool held = false;
	FILE *f;

	if (st->locked)
		return false;
	snprintf(path, sizeof(path), "%s/lock", st->dir);
	if (stat(path, &sb) < 0)
		return errno != ENOENT; /* never locked when absent; in doubt, held */
	/* /proc/locks names a flock by "major:minor:inode" (hex, hex, decimal):
	 * looking is not taking, so a mount starting meanwhile is not refused */
	snprintf(want, sizeof(want), " %02x:%02x:%llu ", major(sb.st_dev), minor(sb.st_dev),
		 (unsigned long long)sb.st_ino);
	f = fopen("/proc/locks", "re");
	if (!f)
		return true;
	while (!held && fgets(line, sizeof(line), f))
		held = strstr(line, "FLOCK") && strstr(line, want);
	fclose(f);
	return held;
}
