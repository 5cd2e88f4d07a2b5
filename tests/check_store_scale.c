/* Cost that must not grow with a checkpoint's size, checked without timing:
 * SQLite VM steps of the lookups the mount makes for every file it creates
 * in a staging checkpoint stay the same at 50 and at 3,000 files; and the
 * size a staging checkpoint reports stays exact through creates, writes,
 * truncates, renames and unlinks, and after commit. White-box: reads the
 * statement counters of the store's own connection (store_int.h). */
#include <sqlite3.h>
#include <sys/stat.h>

#include "store_int.h"
#include "store_test_util.h"

static char *dir;
static struct store *st;

static void setup(void)
{
	dir = tu_tmpstore();
	st = tu_open(dir, 0);
}

static void teardown(void)
{
	store_close(st);
	st = NULL;
	tu_rmrf(dir);
	free(dir);
}

/* VM steps run by all of the store's statements since the last call. */
static long long vm_steps(void)
{
	long long n = 0;

	for (sqlite3_stmt *q = sqlite3_next_stmt(st->db, NULL); q; q = sqlite3_next_stmt(st->db, q))
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

	ck_assert_int_eq(store_ckpt_create(st, "many", CKPT_DIR, S_IFDIR | 0755, &id, &root), 0);
	add_files(root, 0, 50);
	long long small = lookup_steps("many", id);
	add_files(root, 50, 3000);
	long long big = lookup_steps("many", id);
	/* A scan of the version's nodes would take thousands of steps more. */
	ck_assert_msg(big <= small + 50, "lookup steps grew from %lld at 50 files to %lld at 3000", small, big);
}
END_TEST

/* The reported size, by every way of asking, equals want. */
static void expect_size(int64_t id, const char *name, uint64_t want)
{
	struct ckpt_info ci, *arr = NULL;
	size_t n = 0, found = 0;

	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	ck_assert_int_eq(store_ckpt_logical_bytes(st, &ci), 0);
	ck_assert_uint_eq(ci.logical_bytes, want);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_list(st, STORE_LIST_ALL | STORE_LIST_SIZES, &arr, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (arr[i].id == id && strcmp(arr[i].name, name) == 0) {
			ck_assert_uint_eq(arr[i].logical_bytes, want);
			found++;
		}
	}
	ckpt_info_free_array(arr, n);
	ck_assert_uint_eq(found, 1);
}

START_TEST(test_staging_size_exact)
{
	enum { N = 200 };
	uint64_t sizes[N] = { 0 }, sum = 0;
	static char buf[70000];
	int64_t id, root, sub;
	struct store_node n;
	unsigned seed = 7;
	char name[32];

	memset(buf, 'z', sizeof(buf));
	ck_assert_int_eq(store_ckpt_create(st, "sized", CKPT_DIR, S_IFDIR | 0755, &id, &root), 0);
	ck_assert_int_eq(store_node_mkdir(st, root, "sub", S_IFDIR | 0755, &n), 0);
	sub = n.id;
	ck_assert_int_eq(store_node_symlink(st, root, "link", "sub/f0", &n), 0); /* not a file: no bytes */
	expect_size(id, "sized", 0);
	for (int step = 0; step < 2000; step++) {
		int i = (int)(rand_r(&seed) % N), op = (int)(rand_r(&seed) % 4);
		struct store_file *f;

		snprintf(name, sizeof(name), "f%d", i);
		if (store_node_lookup(st, sub, name, &n) == -ENOENT) {
			ck_assert_int_eq(store_node_create(st, sub, name, S_IFREG | 0644, &n), 0);
			sizes[i] = 0;
		}
		if (op == 3) { /* unlink, or rename over another file */
			int j = (int)(rand_r(&seed) % N);
			char other[32];

			snprintf(other, sizeof(other), "f%d", j);
			if (j != i && rand_r(&seed) % 2) {
				ck_assert_int_eq(store_node_rename(st, sub, name, sub, other, 0), 0);
				sizes[j] = sizes[i];
			} else {
				ck_assert_int_eq(store_node_unlink(st, sub, name), 0);
			}
			sizes[i] = 0;
		} else {
			uint64_t off = rand_r(&seed) % 50000, len = rand_r(&seed) % 20000;

			ck_assert_int_eq(store_file_open(st, n.id, STORE_F_WRITE, &f), 0);
			if (op == 2) {
				ck_assert_int_eq(store_file_truncate(f, off), 0);
				sizes[i] = off;
			} else {
				ck_assert_int_eq(store_file_write(f, buf, len, off), (ssize_t)len);
				if (len && off + len > sizes[i])
					sizes[i] = off + len;
			}
			ck_assert_int_eq(store_file_close(f), 0);
		}
		if (step % 250 == 0) {
			sum = 0;
			for (int k = 0; k < N; k++)
				sum += sizes[k];
			expect_size(id, "sized", sum);
		}
	}
	sum = 0;
	for (int k = 0; k < N; k++)
		sum += sizes[k];
	expect_size(id, "sized", sum);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	expect_size(id, "sized", sum);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("store_scale");
	TCase *tc = tcase_create("scale");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lookup_independent_of_size);
	tcase_add_test(tc, test_staging_size_exact);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
