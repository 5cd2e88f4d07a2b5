/* Unit tests of the index's node verbs (core/index.h, section "nodes"),
 * called directly on an open store's index: each verb's normal path and
 * its "no such row" (-ENOENT) and "name taken" (-EEXIST) edges. */
#include <sys/stat.h>

#include "index.h"
#include "store_int.h"
#include "store_test_util.h"

#define NO_ID 987654321

static char *dir;
static struct store *st;
static int64_t ck, root, version; /* a staging directory checkpoint */

static void setup(void)
{
	struct store_node r;

	dir = tu_tmpstore();
	st = tu_open(dir, 0);
	ck_assert_int_eq(store_ckpt_create(st, "s", CKPT_DIR, 0755, &ck, &root), 0);
	ck_assert_int_eq(store_node_get(st, root, &r), 0);
	version = r.version;
	pthread_mutex_lock(&st->mu); /* the verbs' caller holds it */
}

static void teardown(void)
{
	pthread_mutex_unlock(&st->mu);
	store_close(st);
	tu_rmrf(dir);
	free(dir);
}

/* A new node under parent, in its own transaction; returns its id. */
static int64_t add(int64_t parent, const char *name, uint32_t mode, const char *target)
{
	struct index_node n = { .version = version,
				.parent = parent,
				.mode = mode,
				.mtime_ns = 1000,
				.ctime_ns = 1000 };
	int64_t id = 0;

	n.size = target ? strlen(target) : 0;
	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_node_insert(st->ix, &n, name, target, &id), 0);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);
	ck_assert_int_gt(id, 0);
	return id;
}

START_TEST(test_get_root_lookup)
{
	struct index_node r, a;
	int64_t id = add(root, "a", S_IFREG | 0644, NULL);

	ck_assert_int_eq(index_node_root(st->ix, version, &r), 0);
	ck_assert_int_eq(r.id, root);
	ck_assert_int_eq(r.parent, 0);
	ck_assert_int_eq(r.version, version);
	ck_assert_int_eq(r.ckpt, ck);
	ck_assert(S_ISDIR(r.mode));
	ck_assert_int_eq(r.vstate, VER_STAGING);
	ck_assert_int_eq(index_node_lookup(st->ix, root, "a", &a), 0);
	ck_assert_int_eq(a.id, id);
	ck_assert_int_eq(a.parent, root);
	ck_assert_int_eq(a.mode, S_IFREG | 0644);
	ck_assert_int_eq(a.mtime_ns, 1000);
	ck_assert(!a.has_atime);
	ck_assert_int_eq(index_node_get(st->ix, id, &r), 0);
	ck_assert_int_eq(r.id, id);
	ck_assert_int_eq(r.ctime_ns, 1000);

	ck_assert_int_eq(index_node_get(st->ix, NO_ID, &r), -ENOENT);
	ck_assert_int_eq(index_node_root(st->ix, NO_ID, &r), -ENOENT);
	ck_assert_int_eq(index_node_lookup(st->ix, root, "b", &r), -ENOENT);
	ck_assert_int_eq(index_node_lookup(st->ix, id, "a", &r), -ENOENT);
}
END_TEST

START_TEST(test_insert_taken_name)
{
	struct index_node r, n = { .version = version, .parent = root, .mode = S_IFDIR | 0755 };
	int64_t id = 0;

	add(root, "a", S_IFREG | 0644, NULL);
	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_node_insert(st->ix, &n, "a", NULL, &id), -EEXIST);
	ck_assert_int_eq(id, 0);
	/* the transaction goes on after the clash, as after SQLite's statement rollback */
	ck_assert_int_eq(index_node_insert(st->ix, &n, "b", NULL, &id), 0);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);
	ck_assert_int_eq(index_node_lookup(st->ix, root, "b", &r), 0);
	ck_assert_int_eq(r.id, id);
}
END_TEST

struct seen {
	char names[8][8];
	int n, stop_at;
};

static int collect(void *ctx, const struct store_dirent *e)
{
	struct seen *s = ctx;

	ck_assert_int_lt(s->n, 8);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->name);
	s->n++;
	return s->n == s->stop_at ? 7 : 0;
}

START_TEST(test_children)
{
	struct seen s = { .stop_at = -1 };
	int64_t a;
	bool yes = true;

	add(root, "b", S_IFREG | 0644, NULL);
	a = add(root, "a", S_IFDIR | 0755, NULL);
	add(root, "c", S_IFREG | 0644, NULL);
	ck_assert_int_eq(index_node_children(st->ix, root, collect, &s), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.names[0], "a");
	ck_assert_str_eq(s.names[1], "b");
	ck_assert_str_eq(s.names[2], "c");

	memset(&s, 0, sizeof(s));
	s.stop_at = 1; /* a non-zero return stops and is returned */
	ck_assert_int_eq(index_node_children(st->ix, root, collect, &s), 7);
	ck_assert_int_eq(s.n, 1);

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(index_node_children(st->ix, a, collect, &s), 0);
	ck_assert_int_eq(s.n, 0);

	ck_assert_int_eq(index_node_has_children(st->ix, root, &yes), 0);
	ck_assert(yes);
	ck_assert_int_eq(index_node_has_children(st->ix, a, &yes), 0);
	ck_assert(!yes);
}
END_TEST

START_TEST(test_name_target)
{
	int64_t d = add(root, "d", S_IFDIR | 0755, NULL);
	int64_t l = add(d, "l", S_IFLNK | 0777, "../x");
	int64_t parent = -1;
	uint32_t mode = 0;
	char *s = NULL;

	ck_assert_int_eq(index_node_name(st->ix, l, &parent, &s), 0);
	ck_assert_int_eq(parent, d);
	ck_assert_str_eq(s, "l");
	free(s);
	ck_assert_int_eq(index_node_name(st->ix, root, &parent, &s), 0);
	ck_assert_int_eq(parent, 0);
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_int_eq(index_node_name(st->ix, NO_ID, &parent, &s), -ENOENT);
	ck_assert_ptr_null(s);

	ck_assert_int_eq(index_node_target(st->ix, l, &mode, &s), 0);
	ck_assert_int_eq(mode, S_IFLNK | 0777);
	ck_assert_str_eq(s, "../x");
	free(s);
	ck_assert_int_eq(index_node_target(st->ix, d, &mode, &s), 0);
	ck_assert(S_ISDIR(mode));
	ck_assert_ptr_null(s);
	ck_assert_int_eq(index_node_target(st->ix, NO_ID, &mode, &s), -ENOENT);
}
END_TEST

START_TEST(test_move_touch_delete)
{
	struct index_node r;
	int64_t a = add(root, "a", S_IFREG | 0644, NULL);
	int64_t d = add(root, "d", S_IFDIR | 0755, NULL);

	add(d, "taken", S_IFREG | 0644, NULL);
	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_node_move(st->ix, a, d, "z", 5000), 0);
	ck_assert_int_eq(index_node_lookup(st->ix, root, "a", &r), -ENOENT);
	ck_assert_int_eq(index_node_lookup(st->ix, d, "z", &r), 0);
	ck_assert_int_eq(r.id, a);
	ck_assert_int_eq(r.ctime_ns, 5000);
	ck_assert_int_eq(r.mtime_ns, 1000);
	ck_assert_int_eq(index_node_move(st->ix, a, d, "taken", 6000), -EEXIST);
	ck_assert_int_eq(index_node_move(st->ix, NO_ID, d, "y", 6000), -ENOENT);

	ck_assert_int_eq(index_node_touch(st->ix, d, 7000), 0);
	ck_assert_int_eq(index_node_get(st->ix, d, &r), 0);
	ck_assert_int_eq(r.mtime_ns, 7000);
	ck_assert_int_eq(r.ctime_ns, 7000);
	ck_assert_int_eq(index_node_touch(st->ix, NO_ID, 7000), -ENOENT);

	ck_assert_int_eq(index_node_delete(st->ix, a), 0);
	ck_assert_int_eq(index_node_get(st->ix, a, &r), -ENOENT);
	ck_assert_int_eq(index_node_delete(st->ix, a), -ENOENT);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);
}
END_TEST

START_TEST(test_set_attrs)
{
	struct index_node r;
	int64_t a = add(root, "a", S_IFREG | 0644, NULL);
	struct index_node_attrs m = { .set_mode = true, .mode = 0600 | S_IFDIR, .now_ns = 2000 };
	struct index_node_attrs t = {
		.set_mtime = true, .mtime_ns = 3000, .shown_atime_ns = 1500, .now_ns = 4000
	};
	struct index_node_attrs at = { .set_atime = true, .atime_ns = 9000, .now_ns = 5000 };

	ck_assert_int_eq(index_node_set_attrs(st->ix, a, &m), 0);
	ck_assert_int_eq(index_node_get(st->ix, a, &r), 0);
	ck_assert_int_eq(r.mode, S_IFREG | 0600); /* permission bits only */
	ck_assert_int_eq(r.ctime_ns, 2000);
	ck_assert_int_eq(r.mtime_ns, 1000);
	ck_assert(!r.has_atime);

	/* a new mtime alone pins the atime the node showed */
	ck_assert_int_eq(index_node_set_attrs(st->ix, a, &t), 0);
	ck_assert_int_eq(index_node_get(st->ix, a, &r), 0);
	ck_assert_int_eq(r.mtime_ns, 3000);
	ck_assert(r.has_atime);
	ck_assert_int_eq(r.atime_ns, 1500);
	t.shown_atime_ns = 1;
	ck_assert_int_eq(index_node_set_attrs(st->ix, a, &t), 0);
	ck_assert_int_eq(index_node_get(st->ix, a, &r), 0);
	ck_assert_int_eq(r.atime_ns, 1500); /* already set: kept */

	ck_assert_int_eq(index_node_set_attrs(st->ix, a, &at), 0);
	ck_assert_int_eq(index_node_get(st->ix, a, &r), 0);
	ck_assert_int_eq(r.atime_ns, 9000);
	ck_assert_int_eq(r.mtime_ns, 3000);
	ck_assert_int_eq(r.mode, S_IFREG | 0600);

	ck_assert_int_eq(index_node_set_attrs(st->ix, NO_ID, &m), -ENOENT);
}
END_TEST

START_TEST(test_chunks)
{
	struct chunk_ref in[2], *out = NULL;
	int64_t a = add(root, "a", S_IFREG | 0644, NULL);
	uint64_t size = 1;
	size_t n = 9;

	memset(in, 0, sizeof(in));
	in[0].hash[0] = 1;
	in[0].xxh = 11;
	in[0].raw_len = CHUNK_SIZE;
	in[1].hash[31] = 2;
	in[1].xxh = 22;
	in[1].raw_len = 5;
	ck_assert_int_eq(index_node_chunks(st->ix, a, &out, &n, &size), 0);
	ck_assert_int_eq(n, 0); /* a new file has none */
	ck_assert_int_eq(size, 0);
	ck_assert_ptr_null(out);

	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_node_set_chunks(st->ix, a, in, 2, CHUNK_SIZE + 5, 8000), 0);
	ck_assert_int_eq(index_node_set_chunks(st->ix, NO_ID, in, 2, 1, 1), -ENOENT);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);
	ck_assert_int_eq(index_node_chunks(st->ix, a, &out, &n, &size), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(size, CHUNK_SIZE + 5);
	ck_assert_int_eq(memcmp(out, in, sizeof(in)), 0);
	free(out);
	ck_assert_int_eq(index_node_chunks(st->ix, a, &out, &n, NULL), 0); /* size optional */
	ck_assert_int_eq(n, 2);
	free(out);

	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_node_set_chunks(st->ix, a, in, 0, 0, 8000), 0);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);
	ck_assert_int_eq(index_node_chunks(st->ix, a, &out, &n, &size), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(out);

	ck_assert_int_eq(index_node_chunks(st->ix, NO_ID, &out, &n, &size), -ENOENT);
}
END_TEST

/* Commits the fixture's checkpoint with file "f" and starts a new staging
 * version of it; the old node of "f" is *old. Returns the new version. */
static int64_t commit_and_restage(int64_t *old)
{
	int64_t v2 = 0;

	*old = add(root, "f", S_IFREG | 0644, NULL);
	pthread_mutex_unlock(&st->mu);
	ck_assert_int_eq(store_ckpt_commit(st, ck), 0);
	ck_assert_int_eq(store_ckpt_begin_version(st, ck, &v2), 0);
	pthread_mutex_lock(&st->mu);
	return v2;
}

START_TEST(test_successor_head_version)
{
	struct index_node r;
	int64_t old, next = 0, v = 0, v2;
	int state = -1;

	ck_assert_int_eq(index_ckpt_head_version(st->ix, ck, &state, &v), 0);
	ck_assert_int_eq(state, CKPT_STAGING);
	ck_assert_int_eq(v, version);
	ck_assert_int_eq(index_ckpt_head_version(st->ix, NO_ID, &state, &v), -ENOENT);

	v2 = commit_and_restage(&old);
	ck_assert_int_ne(v2, version);
	ck_assert_int_eq(index_ckpt_head_version(st->ix, ck, &state, &v), 0);
	ck_assert_int_eq(state, CKPT_COMMITTED);
	ck_assert_int_eq(v, v2); /* the staging version wins */

	ck_assert_int_eq(index_node_successor(st->ix, old, ck, &next), 0);
	ck_assert_int_ne(next, old);
	ck_assert_int_eq(index_node_get(st->ix, next, &r), 0);
	ck_assert_int_eq(r.version, v2);
	ck_assert_int_eq(r.vstate, VER_STAGING);
	ck_assert_int_eq(index_node_get(st->ix, old, &r), 0);
	ck_assert_int_eq(r.vstate, VER_COMMITTED);
	ck_assert_int_eq(index_node_successor(st->ix, next, ck, &next), -ENOENT);
	ck_assert_int_eq(index_node_successor(st->ix, old, NO_ID, &next), -ENOENT);
}
END_TEST

START_TEST(test_withdraw_stored)
{
	struct ckpt_info ci;
	uint64_t before;
	int64_t old;
	bool done = true;

	/* a staging checkpoint is not withdrawn */
	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_ckpt_withdraw_if_committed(st->ix, ck, &done), 0);
	ck_assert(!done);
	ck_assert_int_eq(index_ckpt_withdraw_if_committed(st->ix, NO_ID, &done), 0);
	ck_assert(!done);
	ck_assert_int_eq(index_ckpt_add_stored(st->ix, NO_ID, 10), -ENOENT);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);

	commit_and_restage(&old);
	pthread_mutex_unlock(&st->mu);
	ck_assert_int_eq(store_ckpt_get(st, ck, &ci), 0);
	ck_assert(!ci.withdrawn);
	before = ci.stored_bytes;
	ckpt_info_release(&ci);
	pthread_mutex_lock(&st->mu);

	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_ckpt_withdraw_if_committed(st->ix, ck, &done), 0);
	ck_assert(done);
	ck_assert_int_eq(index_ckpt_withdraw_if_committed(st->ix, ck, &done), 0);
	ck_assert(!done); /* once */
	ck_assert_int_eq(index_ckpt_add_stored(st->ix, ck, 1000), 0);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);

	pthread_mutex_unlock(&st->mu);
	ck_assert_int_eq(store_ckpt_get(st, ck, &ci), 0);
	ck_assert(ci.withdrawn);
	ck_assert_int_eq(ci.stored_bytes, before + 1000);
	ckpt_info_release(&ci);
	pthread_mutex_lock(&st->mu);
}
END_TEST

static Suite *index_node_suite(void)
{
	Suite *s = suite_create("index_node");
	TCase *tc = tcase_create("verbs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_get_root_lookup);
	tcase_add_test(tc, test_insert_taken_name);
	tcase_add_test(tc, test_children);
	tcase_add_test(tc, test_name_target);
	tcase_add_test(tc, test_move_touch_delete);
	tcase_add_test(tc, test_set_attrs);
	tcase_add_test(tc, test_chunks);
	tcase_add_test(tc, test_successor_head_version);
	tcase_add_test(tc, test_withdraw_stored);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(index_node_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
