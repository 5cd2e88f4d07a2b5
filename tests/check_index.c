/* Unit tests of the index's own safety: a store whose index is missing,
 * empty or damaged is refused and loses nothing; recovery deletes only chunk
 * files written since the index was initialised; an index error at run time
 * is EIO plus a note, never "no such checkpoint"; verify reports damage. */
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "store_test_util.h"

static char *dir;

static void setup(void)
{
	dir = tu_tmpstore();
}

static void teardown(void)
{
	tu_rmrf(dir);
	free(dir);
}

/* STORE/rel; two live results at a time (rename's two arguments) */
static char *spath(const char *rel)
{
	static char p[2][1024];
	static int k;

	k ^= 1;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, rel);
	return p[k];
}

/* A store with two committed checkpoints (one 1.5 MiB file: two chunks). */
static void make_store(void)
{
	struct store *st = tu_open(dir, 0);
	size_t len = 3 * CHUNK_SIZE / 2;
	uint8_t *data = malloc(len);

	ck_assert_ptr_nonnull(data);
	tu_fill(data, len, 7);
	tu_ckpt1(st, "step-1", "w.bin", data, len);
	tu_ckpt1(st, "step-2", "w.bin", "small", 5);
	free(data);
	store_close(st);
}

static int count_cb(void *ctx, const uint8_t hash[CHUNK_HASH_LEN])
{
	(void)hash;
	(*(int *)ctx)++;
	return 0;
}

static int chunk_files(void)
{
	struct chunk_store *cs;
	int n = 0;

	ck_assert_int_eq(chunk_store_open(spath("chunks"), &cs), 0);
	ck_assert_int_eq(chunk_foreach(cs, count_cb, &n), 0);
	chunk_store_close(cs);
	return n;
}

static int open_err(int flags, char *err, size_t len)
{
	struct store *st = NULL;
	char *spec = tu_spec(dir);
	int rc = store_open(spec, flags, &st, err, len);

	free(spec);
	if (rc == 0)
		store_close(st);
	return rc;
}

/* The store's index back in place: everything there. */
static void expect_intact(void)
{
	struct store *st = tu_open(dir, 0);
	int64_t id, v;

	ck_assert_int_eq(store_resolve_latest(st, &id, &v), 0);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
	store_close(st);
}

/* PostgreSQL: the store's database renamed away (missing), then an empty
 * one in its place; the same refusals, and chunks/ untouched. */
static void missing_or_empty_database(int n)
{
	char err[512], db[128];

	tu_pg_dbname(dir, db, sizeof(db));
	tu_pg_admin("ALTER DATABASE \"%s\" RENAME TO \"%s_away\"", db);
	ck_assert_int_lt(open_err(0, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "does not exist") && !strchr(err, '\n'), "%s", err);
	ck_assert_int_eq(chunk_files(), n);
	tu_pg_admin("CREATE DATABASE \"%s\"", db);
	ck_assert_int_eq(open_err(0, err, sizeof(err)), -EUCLEAN);
	ck_assert_msg(strstr(err, "index database is empty") && !strchr(err, '\n'), "%s", err);
	ck_assert_int_eq(open_err(STORE_NOCREATE, err, sizeof(err)), -ENOENT);
	/* never initialised (the refused opener's lease may leave an empty mounts table) */
	ck_assert_int_eq(tu_pg_sql(db,
				   "SELECT count(*) FROM pg_catalog.pg_tables"
				   " WHERE tablename = 'store_info'"),
			 0);
	ck_assert_int_eq(chunk_files(), n);
	tu_pg_admin("DROP DATABASE \"%s\"", db);
	tu_pg_admin("ALTER DATABASE \"%s_away\" RENAME TO \"%s\"", db);
	expect_intact();
}

START_TEST(test_missing_or_empty_index_refused)
{
	char err[512];
	int n;

	make_store();
	n = chunk_files();
	ck_assert_int_ge(n, 3);
	if (tu_pg()) {
		missing_or_empty_database(n);
		return;
	}
	ck_assert_int_eq(rename(spath("index.db"), spath("index.db.away")), 0);
	ck_assert_int_eq(open_err(0, err, sizeof(err)), -EUCLEAN);
	ck_assert_msg(strstr(err, "index.db is missing") && !strchr(err, '\n'), "%s", err);
	ck_assert_int_eq(access(spath("index.db"), F_OK), -1);
	ck_assert_int_eq(chunk_files(), n);
	/* empty: refused, and never initialised by a no-create opener (ckpt) */
	close(open(spath("index.db"), O_CREAT | O_WRONLY, 0644));
	ck_assert_int_eq(open_err(0, err, sizeof(err)), -EUCLEAN);
	ck_assert_msg(strstr(err, "index.db is empty"), "%s", err);
	ck_assert_int_eq(open_err(STORE_NOCREATE, err, sizeof(err)), -ENOENT);
	{
		struct stat sb;

		ck_assert_int_eq(stat(spath("index.db"), &sb), 0);
		ck_assert_int_eq(sb.st_size, 0);
	}
	ck_assert_int_eq(chunk_files(), n);
	/* the index back: everything there */
	ck_assert_int_eq(rename(spath("index.db.away"), spath("index.db")), 0);
	expect_intact();
}
END_TEST

/* Plants a chunk file with no index row, stamped mtime (0: now). */
static void plant(const char *text, time_t mtime, uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_store *cs;
	struct chunk_ref ref;
	char hex[65], rel[128];

	ck_assert_int_eq(chunk_store_open(spath("chunks"), &cs), 0);
	ck_assert_int_eq(chunk_put(cs, text, strlen(text), CHUNK_CODEC_NONE, &ref, NULL, NULL), 1);
	chunk_store_close(cs);
	memcpy(hash, ref.hash, CHUNK_HASH_LEN);
	if (mtime) {
		struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };

		chunk_hex(hash, hex);
		snprintf(rel, sizeof(rel), "chunks/%.2s/%s", hex, hex);
		ck_assert_int_eq(utimensat(AT_FDCWD, spath(rel), ts, 0), 0);
	}
}

static int has_chunk(const uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_store *cs;
	int r;

	ck_assert_int_eq(chunk_store_open(spath("chunks"), &cs), 0);
	r = chunk_has(cs, hash);
	chunk_store_close(cs);
	return r;
}

START_TEST(test_recovery_keeps_chunks_older_than_index)
{
	uint8_t old[CHUNK_HASH_LEN], fresh[CHUNK_HASH_LEN];
	struct store *st;
	char *notes;

	make_store();
	/* one written before the index existed (a restored backup's era), one
	 * by a run that crashed before its row: only the latter goes */
	plant("written before this index existed", 946684800 /* 2000-01-01 */, old);
	plant("written by a crashed run of this index", 0, fresh);
	st = tu_open(dir, 0);
	ck_assert_int_eq(has_chunk(old), 1);
	ck_assert_int_eq(has_chunk(fresh), 0);
	notes = store_notes(st);
	ck_assert_msg(notes && strstr(notes, "kept 1 chunk files"), "%s", notes ? notes : "(null)");
	free(notes);
	store_close(st);
}
END_TEST

/* Overwrites the first page of index b-tree NAME with garbage. */
static void damage_btree(const char *name)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t page = 0, psize = 0;
	char junk[4096];
	int fd;

	ck_assert_int_eq(sqlite3_open_v2(spath("index.db"), &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(
		sqlite3_prepare_v2(db,
				   "SELECT rootpage, (SELECT page_size FROM pragma_page_size)"
				   " FROM sqlite_master WHERE name=?",
				   -1, &q, NULL),
		SQLITE_OK);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	page = sqlite3_column_int64(q, 0);
	psize = sqlite3_column_int64(q, 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	ck_assert_int_gt(page, 1);
	ck_assert_int_le(psize, (int64_t)sizeof(junk));
	memset(junk, 0xa5, sizeof(junk));
	fd = open(spath("index.db"), O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, junk, (size_t)psize, (page - 1) * psize), psize);
	close(fd);
}

static void count_problem(void *ctx, const char *problem)
{
	(void)problem;
	(*(int *)ctx)++;
}

START_TEST(test_damaged_index)
{
	struct store *st = NULL;
	char err[512], *notes;
	int64_t id, v;
	int n, reported = 0;

	TU_SQLITE_ONLY("damaged index.db pages; a PostgreSQL server checks its own storage");
	make_store();
	n = chunk_files();
	damage_btree("ckpt_latest");
	/* the read-write opener (a mount, ckpt gc) refuses and changes nothing */
	ck_assert_int_eq(open_err(0, err, sizeof(err)), -EUCLEAN);
	ck_assert_msg(strstr(err, "damaged") && !strchr(err, '\n'), "one line: %s", err);
	ck_assert_int_eq(chunk_files(), n);
	/* a reader gets EIO and a note, not "no latest" */
	ck_assert_int_eq(store_open(dir, STORE_RDONLY, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_resolve_latest(st, &id, &v), -EIO);
	notes = store_notes(st);
	ck_assert_msg(notes && strstr(notes, "index error"), "%s", notes ? notes : "(null)");
	free(notes);
	/* verify checks the index itself */
	ck_assert_int_gt(store_verify(st, count_problem, NULL, &reported), 0);
	ck_assert_int_gt(reported, 0);
	store_close(st);
}
END_TEST

static Suite *index_suite(void)
{
	Suite *s = suite_create("index");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_missing_or_empty_index_refused);
	tcase_add_test(tc, test_recovery_keeps_chunks_older_than_index);
	tcase_add_test(tc, test_damaged_index);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(index_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
