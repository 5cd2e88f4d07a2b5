/* Store tests of resolution at scale: latest and best over 100k
 * checkpoints, and the per-file lookups of a staging checkpoint whose cost
 * does not grow with its size. The rows are written with SQL on either
 * backend; the lookup cost is counted in SQLite's VM steps. */
#include <sqlite3.h>
#include <time.h>

#include "index_sqlite.h" /* the SQLite backend's statement counters in test_lookup_independent_of_size */
#include "store_int.h"
#define TU_STORE_FIXTURE
#include "store_test_util.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Resolution is index-backed: 100k committed checkpoints built with SQL
 * both engines speak (a recursive series; the newest and 99999 withdrawn,
 * values non-monotone in [1, 2), 777 and 4242 tie at 0.125, 99999 the
 * smallest but withdrawn). */
#define SERIES "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000) "
#define WITHDRAWN "(CASE WHEN i IN (99999, 100000) THEN 1 ELSE 0 END)"

START_TEST(test_resolve_100k)
{
	const int n = 100000;
	int64_t id, ver, i;
	double t0, t1;
	int k;

	store_close(st);
	ck_assert_int_eq(
		tu_index_sql(dir,
			     SERIES
			     "INSERT INTO checkpoints(id, name, kind, state, step,"
			     " commit_seq, created_at, committed_at, version, committed_version,"
			     " withdrawn) SELECT i, 'step-' || i, 0, 1, (i * 31) % 1000003, i, 0,"
			     " 0, 1000000 + i, 1000000 + i, " WITHDRAWN " FROM s"),
		n);
	ck_assert_int_eq(
		tu_index_sql(dir,
			     SERIES
			     "INSERT INTO metrics(ckpt, name, value, source, eligible)"
			     " SELECT i, 'val_loss', CASE WHEN i IN (777, 4242) THEN 0.125"
			     " WHEN i = 99999 THEN 0.01 ELSE 1.0 + 1.0 * ((i * 7919) % 100000)"
			     " / 100000 END, 'name', 1 - " WITHDRAWN " FROM s"),
		n);
	if (tu_pg()) /* ids given explicitly: the next one after them */
		tu_index_sql(dir,
			     "SELECT setval(pg_get_serial_sequence('checkpoints', 'id'),"
			     " 100000)");
	st = tu_open(dir, 0);

	t0 = now_s();
	for (k = 0; k < 1000; k++)
		ck_assert_int_eq(store_resolve_latest(st, &id, &ver), 0);
	t1 = now_s();
	ck_assert_int_eq(id, n - 2); /* n and n-1 are withdrawn */
	ck_assert_int_eq(ver, 1000000 + n - 2);
	printf("100k checkpoints: resolve_latest %.1f us per call\n", (t1 - t0) * 1e3);
	t0 = now_s();
	for (k = 0; k < 1000; k++)
		ck_assert_int_eq(store_resolve_best(st, "val_loss", -1, &id, &ver), 0);
	t1 = now_s();
	/* 777 (step 24087) and 4242 (step 131502) tie: lower step wins */
	ck_assert_int_eq(id, 777);
	printf("100k checkpoints: resolve_best(min) %.1f us per call\n", (t1 - t0) * 1e3);
	t0 = now_s();
	for (k = 0; k < 1000; k++)
		ck_assert_int_eq(store_resolve_best(st, "val_loss", +1, &id, &ver), 0);
	t1 = now_s();
	/* max: (i*7919) % n == n-1 */
	{
		int64_t want = 0;

		for (i = 1; i <= n; i++)
			if ((i * 7919) % n == n - 1 && i != n && i != 99999)
				want = i;
		ck_assert_int_eq(id, want);
	}
	printf("100k checkpoints: resolve_best(max) %.1f us per call\n", (t1 - t0) * 1e3);
	/* a real commit on top: next commit_seq, and it becomes latest */
	{
		int64_t nid;

		t0 = now_s();
		nid = tu_ckpt1(st, "step-new", "f", "x", 1);
		t1 = now_s();
		ck_assert_int_eq(store_resolve_latest(st, &id, &ver), 0);
		ck_assert_int_eq(id, nid);
		printf("100k checkpoints: create+write+commit %.2f ms\n", (t1 - t0) * 1e3);
	}
}
END_TEST

/* Cost that must not grow with a checkpoint's size, checked without timing:
 * SQLite VM steps of the lookups the mount makes for every file it creates
 * in a staging checkpoint stay the same at 50 and at 3,000 files. */
/* VM steps run by all of the store's statements since the last call. */
static long long vm_steps(void)
{
	long long n = 0;

	for (sqlite3_stmt *q = sqlite3_next_stmt(ixs_of(st->ix)->db, NULL); q;
	     q = sqlite3_next_stmt(ixs_of(st->ix)->db, q))
		n += sqlite3_stmt_status(q, SQLITE_STMTSTATUS_VM_STEP, 1);
	return n;
}

/* Creates files named f<from>..f<to-1> of 1 byte each under root. */
static void add_files(int64_t root, int from, int to)
{
	char name[32];

	for (int i = from; i < to; i++) {
		struct store_node n;
		struct store_file *f;

		snprintf(name, sizeof(name), "f%d", i);
		ck_assert_int_eq(store_node_create(st, root, name, S_IFREG | 0644, &n), 0);
		ck_assert_int_eq(store_file_open(st, n.id, STORE_F_WRITE, &f), 0);
		ck_assert_int_eq(store_file_write(f, "x", 1, 0), 1);
		ck_assert_int_eq(store_file_close(f), 0);
	}
}

/* Steps of the per-file lookups: by name (lookup of the top-level entry)
 * and by id (getattr, open, the writer tracking). */
static long long lookup_steps(const char *name, int64_t id)
{
	struct ckpt_info ci;
	long long n;

	vm_steps();
	ck_assert_int_eq(store_ckpt_lookup(st, name, &ci), 0);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	ckpt_info_release(&ci);
	n = vm_steps();
	ck_assert_int_gt(n, 0);
	return n;
}

START_TEST(test_lookup_independent_of_size)
{
	int64_t id, root;

	TU_SQLITE_ONLY("counts SQLite VM steps (PostgreSQL: tools/bench)");
	ck_assert_int_eq(store_ckpt_create(st, "many", CKPT_DIR, S_IFDIR | 0755, &id, &root), 0);
	add_files(root, 0, 50);
	long long small = lookup_steps("many", id);
	add_files(root, 50, 3000);
	long long big = lookup_steps("many", id);
	/* A scan of the version's nodes would take thousands of steps more. */
	ck_assert_msg(big <= small + 50, "lookup steps grew from %lld at 50 files to %lld at 3000",
		      small, big);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_resolve");

	TU_TCASE(s, "resolve", 120, test_resolve_100k);
	TU_TCASE(s, "lookup", 120, test_lookup_independent_of_size);
	return tu_run(s);
}
