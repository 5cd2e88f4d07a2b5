/* Unit tests of the store address (store.h: DIR[?OPTION,...], store_spec.c)
 * and of the backends a store records at creation; and of the store lock,
 * now the index backend's lock verb. */
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk_backend.h"
#include "index_sqlite.h" /* test_legacy_store: a store from before, made by SQL */
#include "store_int.h"
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

/* store_open of dir + suffix: its result, err in err. */
static int open_as(const char *suffix, int flags, struct store **st, char *err, size_t len)
{
	char spec[1200];

	snprintf(spec, sizeof(spec), "%s%s", dir, suffix);
	err[0] = 0;
	return store_open(spec, flags, st, err, len);
}

static void expect_refused(const char *suffix, int flags, int want, const char *needle)
{
	struct store *st = (struct store *)1;
	char err[512];

	ck_assert_int_eq(open_as(suffix, flags, &st, err, sizeof(err)), want);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(err, needle) && !strchr(err, '\n'), "%s: message '%s'", suffix, err);
}

static void expect_recorded(struct store *st, const char *ix, const char *chunks)
{
	char *v;

	ck_assert_int_eq(index_info_get_text(st->ix, "index_backend", &v), 0);
	ck_assert_str_eq(v, ix);
	free(v);
	ck_assert_int_eq(index_info_get_text(st->ix, "chunk_backend", &v), 0);
	ck_assert_str_eq(v, chunks);
	free(v);
}

START_TEST(test_parse)
{
	struct store_spec s;
	char err[256];

	ck_assert_ptr_null(store_spec_options("/a/b"));
	ck_assert_ptr_null(store_spec_options("/a?b/c")); /* no NAME= after the '?' */
	ck_assert_str_eq(store_spec_options("/a?"), "");
	ck_assert_str_eq(store_spec_options("/a?x=1?chunks=dir"), "chunks=dir");

	ck_assert_int_eq(store_spec_parse("/a/b", &s, err, sizeof(err)), 0);
	ck_assert_str_eq(s.dir, "/a/b");
	ck_assert_ptr_null(s.index);
	ck_assert_ptr_null(s.chunks);
	store_spec_release(&s);

	ck_assert_int_eq(store_spec_parse("/a?b?index=sqlite,chunks=mem", &s, err, sizeof(err)), 0);
	ck_assert_str_eq(s.dir, "/a?b");
	ck_assert_ptr_eq(s.index, &index_sqlite_ops);
	ck_assert_ptr_eq(s.chunks, &chunk_backend_mem);
	store_spec_release(&s);

	ck_assert_int_eq(store_spec_parse("/a?index=x?", &s, err, sizeof(err)), 0);
	ck_assert_str_eq(s.dir, "/a?index=x"); /* a trailing '?': a plain DIR */
	store_spec_release(&s);

	ck_assert_int_eq(store_spec_parse("/a?chunks=dir,chunks=dir", &s, err, sizeof(err)), 0);
	store_spec_release(&s);
	ck_assert_int_eq(store_spec_parse("/a?chunks=dir,chunks=mem", &s, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(store_spec_parse("/a?chunks=dir,", &s, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(store_spec_parse("?chunks=dir", &s, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(store_spec_parse("/a?chunk=dir", &s, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(store_spec_parse("/a?chunks=s3", &s, err, sizeof(err)), -EPROTONOSUPPORT);
	/* chunks=rados:SPEC takes the rados words after it (the -o form splits
	 * them); dir=DIR is a PostgreSQL + RADOS store's node-local directory */
	ck_assert_int_eq(store_spec_parse("/a?chunks=rados:pool=p,ns=n,conf=/c,id=i,index=sqlite",
					  &s, err, sizeof(err)),
			 0);
	ck_assert_ptr_eq(s.chunks, &chunk_backend_rados);
	ck_assert_str_eq(s.chunk_spec, "pool=p,ns=n,conf=/c,id=i");
	ck_assert_str_eq(s.dir, "/a");
	store_spec_release(&s);
	ck_assert_int_eq(
		store_spec_parse("postgresql:dbname=x?chunks=rados:pool=p,timeout=3,dir=/d", &s,
				 err, sizeof(err)),
		0);
	ck_assert_str_eq(s.where, "dbname=x");
	ck_assert_str_eq(s.dir, "/d");
	ck_assert_str_eq(s.chunk_spec, "pool=p,timeout=3");
	store_spec_release(&s);
	ck_assert_int_eq(store_spec_parse("/a?pool=p", &s, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(store_spec_parse("/a?chunks=rados:pool=p,chunks=rados:pool=q", &s, err,
					  sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(
		store_spec_parse("postgresql:dbname=x?chunks=rados:pool=p", &s, err, sizeof(err)),
		-EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "dir=DIR"));
	ck_assert_int_eq(store_spec_parse("/a?index=mysql", &s, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	/* a PostgreSQL index is named by its postgresql:CONNINFO address */
	ck_assert_int_eq(store_spec_parse("/a?index=postgresql", &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "postgresql:CONNINFO"));
	ck_assert_int_eq(store_spec_parse("postgresql:dbname=x", &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "chunks=DIR"));
	ck_assert_int_eq(
		store_spec_parse("postgresql:dbname=x host=/s?chunks=/d", &s, err, sizeof(err)), 0);
	ck_assert_str_eq(s.dir, "/d");
	ck_assert_str_eq(s.where, "dbname=x host=/s");
	ck_assert_ptr_eq(s.index, &index_pg_ops);
	store_spec_release(&s);
	ck_assert_int_eq(store_spec_parse("postgresql:dbname=x?chunks=/d,index=sqlite", &s, err,
					  sizeof(err)),
			 -EINVAL);
}
END_TEST

/* A plain DIR makes today's store and records sqlite + dir; the explicit
 * default address opens it too. */
START_TEST(test_default_and_explicit)
{
	const char *data = "weights";
	struct store *st;
	char err[256], path[1100];
	struct stat sb;

	st = tu_open(dir, 0);
	expect_recorded(st, tu_pg() ? "postgresql" : "sqlite", "dir");
	tu_ckpt1(st, "c1", "w.bin", data, strlen(data));
	store_close(st);
	snprintf(path, sizeof(path), "%s/index.db", dir);
	ck_assert_int_eq(stat(path, &sb), tu_pg() ? -1 : 0);
	snprintf(path, sizeof(path), "%s/chunks", dir);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	if (tu_pg()) { /* the postgresql: address opens it again */
		st = tu_open(dir, 0);
		tu_expect(st, tu_lookup(st, "c1", "w.bin"), data, strlen(data));
		store_close(st);
		return;
	}

	ck_assert_int_eq(open_as("?index=sqlite,chunks=dir", 0, &st, err, sizeof(err)), 0);
	tu_expect(st, tu_lookup(st, "c1", "w.bin"), data, strlen(data));
	store_close(st);
	ck_assert_int_eq(open_as("?chunks=dir", STORE_RDONLY, &st, err, sizeof(err)), 0);
	tu_expect(st, tu_lookup(st, "c1", "w.bin"), data, strlen(data));
	store_close(st);
}
END_TEST

/* Unknown backends and options are refused before anything is made. */
START_TEST(test_unknown_refused)
{
	struct stat sb;

	expect_refused("?chunks=s3", 0, -EPROTONOSUPPORT, "unknown chunk backend 's3'");
	expect_refused("?index=mysql", 0, -EPROTONOSUPPORT, "unknown index backend 'mysql'");
	expect_refused("?colour=red", 0, -EINVAL, "unknown store option 'colour=red'");
	ck_assert_int_eq(stat(dir, &sb), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* Backends other than the recorded ones are refused, by every kind of
 * opener, and change nothing. */
START_TEST(test_mismatch_refused)
{
	const char *data = "kept";
	struct store *st = tu_open(dir, 0);

	tu_ckpt1(st, "c1", "w.bin", data, strlen(data));
	store_close(st);
	if (tu_pg()) { /* the DIR address (SQLite) of a PostgreSQL store: no new index over it */
		char path[1100];

		expect_refused("", 0, -EUCLEAN, "chunks/ holds checkpoint data");
		expect_refused("?chunks=mem", STORE_RDONLY, -ENOENT, "not a ckptfs store");
		snprintf(path, sizeof(path), "%s/index.db", dir);
		ck_assert_int_eq(access(path, F_OK), -1);
	} else {
		expect_refused("?chunks=mem", 0, -EINVAL,
			       "store was created with index=sqlite,chunks=dir, not chunks=mem");
		expect_refused("?chunks=mem", STORE_RDONLY | STORE_NOCREATE, -EINVAL,
			       "not chunks=mem");
		expect_refused("?index=sqlite,chunks=mem", STORE_SHARED, -EINVAL, "not chunks=mem");
	}
	st = tu_open(dir, 0);
	tu_expect(st, tu_lookup(st, "c1", "w.bin"), data, strlen(data));
	store_close(st);
}
END_TEST

/* A store created with chunks=mem records it: a plain DIR opens it so, an
 * explicit dir is refused. */
START_TEST(test_mem_recorded)
{
	struct store *st;
	char err[256];

	TU_SQLITE_ONLY("chunks=mem is an option of a DIR address");
	ck_assert_int_eq(open_as("?chunks=mem", 0, &st, err, sizeof(err)), 0);
	expect_recorded(st, "sqlite", "mem");
	tu_ckpt1(st, "c1", "w.bin", "x", 1);
	store_close(st);
	st = tu_open(dir, 0);
	ck_assert_ptr_eq(st->chunk_ops, &chunk_backend_mem);
	store_close(st);
	expect_refused("?chunks=dir", 0, -EINVAL,
		       "created with index=sqlite,chunks=mem, not chunks=dir");
}
END_TEST

/* A store from before backends were recorded (no store_info rows) is
 * sqlite + dir, and stays without rows. */
START_TEST(test_legacy_store)
{
	struct store *st;
	char path[1100], err[256], *v;
	sqlite3 *db;

	TU_SQLITE_ONLY("every store from before recorded backends is a SQLite one");
	st = tu_open(dir, 0);
	store_close(st);
	snprintf(path, sizeof(path), "%s/index.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
				      "DELETE FROM store_info WHERE key IN ('index_backend',"
				      " 'chunk_backend')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_changes(db), 2);
	sqlite3_close(db);

	ck_assert_int_eq(open_as("?index=sqlite,chunks=dir", 0, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(index_info_get_text(st->ix, "chunk_backend", &v), -ENOENT);
	store_close(st);
	st = tu_open(dir, 0);
	ck_assert_ptr_eq(st->chunk_ops, &chunk_backend_dir);
	store_close(st);
	expect_refused("?chunks=mem", 0, -EINVAL, "created with index=sqlite,chunks=dir");
}
END_TEST

/* The single-writer lock, through the index backend: a second read-write
 * opener is refused naming the holder (PostgreSQL: it shares the store with
 * a lease of its own); a reader sees it held. */
START_TEST(test_lock_busy)
{
	struct store *st = tu_open(dir, 0), *ro;
	char want[64];

	snprintf(want, sizeof(want), "already mounted or in use by pid %ld", (long)getpid());
	if (tu_pg())
		store_close(tu_open(dir, 0));
	else
		expect_refused("", 0, -EBUSY, want);
	ro = tu_open(dir, STORE_RDONLY);
	ck_assert(store_lock_held_elsewhere(ro));
	ck_assert(!store_lock_held_elsewhere(st));
	store_close(st);
	ck_assert(!store_lock_held_elsewhere(ro));
	store_close(ro);
}
END_TEST

static Suite *store_spec_suite(void)
{
	Suite *s = suite_create("store_spec");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_default_and_explicit);
	tcase_add_test(tc, test_unknown_refused);
	tcase_add_test(tc, test_mismatch_refused);
	tcase_add_test(tc, test_mem_recorded);
	tcase_add_test(tc, test_legacy_store);
	tcase_add_test(tc, test_lock_busy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_spec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
