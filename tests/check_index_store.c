/* Unit tests of the index verbs of the store and chunk groups (core/index.h:
 * open, store_info, events, policy, stats; chunk rows, chunk users, damaged
 * chunks), called through the interface only. */
#include <sys/stat.h>

#include "store_int.h"
#define TU_STORE_FIXTURE
#include "store_test_util.h"

static void hash_of(const char *text, uint8_t hash[CHUNK_HASH_LEN])
{
	chunk_hash(text, strlen(text), hash);
}

START_TEST(test_open_missing_empty_create)
{
	char *d = tu_tmpstore(), path[1100], err[256] = "";
	struct index *ix = (struct index *)1;
	enum index_none none = INDEX_FOUND;
	struct stat sb;
	int64_t at = 0;

	ck_assert_int_eq(mkdir(d, 0755), 0);
	snprintf(path, sizeof(path), "%s/index.db", d);
	/* missing: reported, nothing created */
	ck_assert_int_eq(index_open_sqlite(d, 0, &ix, &none, err, sizeof(err)), -ENODATA);
	ck_assert_ptr_null(ix);
	ck_assert_int_eq(none, INDEX_NONE_MISSING);
	ck_assert_int_eq(access(path, F_OK), -1);
	/* empty: reported, left empty, also for a writer's check */
	close(open(path, O_CREAT | O_WRONLY, 0644));
	ck_assert_int_eq(index_open_sqlite(d, INDEX_CHECK, &ix, &none, err, sizeof(err)), -ENODATA);
	ck_assert_int_eq(none, INDEX_NONE_EMPTY);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_size, 0);
	/* created when asked; found afterwards, read-only too */
	ck_assert_int_eq(
		index_open_sqlite(d, INDEX_CREATE | INDEX_CHECK, &ix, &none, err, sizeof(err)), 0);
	ck_assert_int_eq(none, INDEX_FOUND);
	ck_assert_int_eq(index_info_get(ix, "initialised_at", &at), 0);
	ck_assert_int_gt(at, 0);
	ck_assert_int_eq(index_info_get(ix, "no such key", &at), -ENOENT);
	index_close(ix, true);
	ck_assert_int_eq(index_open_sqlite(d, INDEX_RDONLY, &ix, &none, err, sizeof(err)), 0);
	ck_assert_int_eq(none, INDEX_FOUND);
	ck_assert_int_eq(index_event_add(ix, 1, "x", NULL, NULL), -EROFS);
	index_close(ix, false);
	tu_rmrf(d);
	free(d);
}
END_TEST

static int event_cb(void *ctx, const struct index_event *ev)
{
	char *out = ctx;

	sprintf(out + strlen(out), "%lld:%s:%s:%s;", (long long)ev->time, ev->event,
		ev->name ? ev->name : "-", ev->rule ? ev->rule : "-");
	return 0;
}

static int stop_cb(void *ctx, const struct index_event *ev)
{
	(void)ev;
	++*(int *)ctx;
	return 7;
}

START_TEST(test_events)
{
	char out[256] = "";
	int calls = 0;

	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_event_add(st->ix, 10, "commit", "a", NULL), 0);
	ck_assert_int_eq(index_event_add(st->ix, 11, "delete", "b", "keep_last=1"), 0);
	ck_assert_int_eq(index_event_add(st->ix, 12, "gc", NULL, NULL), 0);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);
	/* the newest two, oldest first */
	ck_assert_int_eq(index_events_newest(st->ix, 2, event_cb, out), 0);
	ck_assert_str_eq(out, "11:delete:b:keep_last=1;12:gc:-:-;");
	ck_assert_int_eq(index_events_newest(st->ix, 100, stop_cb, &calls), 7);
	ck_assert_int_eq(calls, 1);
	/* a rolled-back event is gone */
	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_event_add(st->ix, 13, "abort", "c", NULL), 0);
	index_tx_rollback(st->ix);
	out[0] = 0;
	ck_assert_int_eq(index_events_newest(st->ix, 1, event_cb, out), 0);
	ck_assert_str_eq(out, "12:gc:-:-;");
}
END_TEST

static int id_cb(void *ctx, const struct index_event *ev)
{
	*(int64_t *)ctx = ev->id;
	return 0;
}

/* The watcher's query: events after an id, oldest first, at most max. */
START_TEST(test_events_after)
{
	char out[256] = "";
	int64_t first = 0, last = 0;

	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_event_add(st->ix, 10, "commit", "a", NULL), 0);
	ck_assert_int_eq(index_events_newest(st->ix, 1, id_cb, &first), 0);
	ck_assert_int_eq(index_event_add(st->ix, 11, "delete", "b", "keep_last=1"), 0);
	ck_assert_int_eq(index_event_add(st->ix, 12, "gc", NULL, NULL), 0);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);
	ck_assert_int_eq(index_events_after(st->ix, first, 100, event_cb, out), 0);
	ck_assert_str_eq(out, "11:delete:b:keep_last=1;12:gc:-:-;");
	out[0] = 0;
	ck_assert_int_eq(index_events_after(st->ix, first, 1, event_cb, out), 0);
	ck_assert_str_eq(out, "11:delete:b:keep_last=1;");
	ck_assert_int_eq(index_events_newest(st->ix, 1, id_cb, &last), 0);
	ck_assert_int_gt(last, first);
	out[0] = 0;
	ck_assert_int_eq(index_events_after(st->ix, last, 100, event_cb, out), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

static int kv_cb(void *ctx, const char *k, const char *v)
{
	char *out = ctx;

	sprintf(out + strlen(out), "%s=%s;", k, v);
	return 0;
}

START_TEST(test_policy)
{
	char out[256] = "";

	ck_assert_int_eq(index_policy_put(st->ix, "keep_last", "3"), 0);
	ck_assert_int_eq(index_policy_put(st->ix, "compress", "zstd"), 0);
	ck_assert_int_eq(index_policy_put(st->ix, "keep_last", "5"), 0); /* replaces */
	ck_assert_int_eq(index_policy_foreach(st->ix, kv_cb, out), 0);
	ck_assert_str_eq(out, "compress=zstd;keep_last=5;");
	ck_assert_int_eq(index_policy_clear(st->ix), 0);
	out[0] = 0;
	ck_assert_int_eq(index_policy_foreach(st->ix, kv_cb, out), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_stats_and_chunk_rows)
{
	struct chunk_ref r = { .raw_len = 1000 };
	struct store_stats s;

	hash_of("a chunk", r.hash);
	ck_assert_int_eq(index_stats_get(st->ix, &s), 0);
	ck_assert_uint_eq(s.chunks, 0);
	ck_assert_uint_eq(s.checkpoints, 0);
	ck_assert_int_eq(index_chunk_exists(st->ix, r.hash), -ENOENT);
	/* a decrement on a missing row changes nothing */
	ck_assert_int_eq(index_chunk_ref(st->ix, &r, -1, 0, 0), 0);
	ck_assert_int_eq(index_chunk_exists(st->ix, r.hash), -ENOENT);
	/* delta 0 makes the row; later increments keep its sizes */
	ck_assert_int_eq(index_chunk_ref(st->ix, &r, 0, 400, CHUNK_CODEC_NONE), 0);
	ck_assert_int_eq(index_chunk_exists(st->ix, r.hash), 0);
	ck_assert_int_eq(index_chunk_ref(st->ix, &r, 2, 999, CHUNK_CODEC_NONE), 0);
	ck_assert_int_eq(index_chunk_ref(st->ix, &r, -1, 0, 0), 0);
	{ /* chunk_get: the row's count and stored bytes; -ENOENT for no row */
		int64_t refs = 0;
		uint32_t stored = 0;
		uint8_t none[CHUNK_HASH_LEN];

		ck_assert_int_eq(index_chunk_get(st->ix, r.hash, &refs, &stored), 0);
		ck_assert_int_eq(refs, 1);
		ck_assert_uint_eq(stored, 400);
		hash_of("no chunk", none);
		ck_assert_int_eq(index_chunk_get(st->ix, none, &refs, &stored), -ENOENT);
	}
	ck_assert_int_eq(index_stats_get(st->ix, &s), 0);
	ck_assert_uint_eq(s.chunks, 1);
	ck_assert_uint_eq(s.raw_bytes, 1000);
	ck_assert_uint_eq(s.stored_bytes, 400);
	ck_assert(s.dedup_ratio == 0 && s.compression_ratio == 0); /* the caller's */
	/* checkpoints by state */
	tu_ckpt1(st, "one", "f", "stats bytes", 11);
	ck_assert_int_eq(
		store_ckpt_create(st, "two", CKPT_DIR, 0755, &(int64_t){ 0 }, &(int64_t){ 0 }), 0);
	ck_assert_int_eq(index_stats_get(st->ix, &s), 0);
	ck_assert_uint_eq(s.checkpoints, 1);
	ck_assert_uint_eq(s.staging, 1);
	ck_assert_uint_eq(s.logical_bytes, 11);
	ck_assert_uint_eq(s.chunks, 2);
}
END_TEST

static int name_cb(void *ctx, const char *name)
{
	char *out = ctx;

	sprintf(out + strlen(out), "%s;", name);
	return 0;
}

static int name_stop_cb(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return -ECANCELED;
}

START_TEST(test_chunk_users)
{
	const char *shared = "bytes two checkpoints share";
	uint8_t h[CHUNK_HASH_LEN], other[CHUNK_HASH_LEN];
	char out[256] = "";

	tu_ckpt1(st, "zeta", "w", shared, strlen(shared));
	tu_ckpt1(st, "alpha", "w", shared, strlen(shared));
	tu_ckpt1(st, "beta", "w", "something else", 14);
	hash_of(shared, h);
	ck_assert_int_eq(index_chunk_exists(st->ix, h), 0);
	ck_assert_int_eq(index_chunk_users(st->ix, h, name_cb, out), 0);
	ck_assert_str_eq(out, "alpha;zeta;");
	ck_assert_int_eq(index_chunk_users(st->ix, h, name_stop_cb, NULL), -ECANCELED);
	hash_of("no checkpoint has these", other);
	out[0] = 0;
	ck_assert_int_eq(index_chunk_users(st->ix, other, name_cb, out), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_damage)
{
	uint8_t h[CHUNK_HASH_LEN];

	hash_of("a damaged chunk", h);
	ck_assert_int_eq(index_damage_exists(st->ix, h), -ENOENT);
	ck_assert_int_eq(index_damage_del(st->ix, h), -ENOENT);
	ck_assert_int_eq(index_damage_add(st->ix, h, 5, "read"), 0);
	ck_assert_int_eq(index_damage_add(st->ix, h, 6, "verify"), 0); /* already recorded */
	ck_assert_int_eq(index_damage_exists(st->ix, h), 0);
	ck_assert_int_eq(index_damage_del(st->ix, h), 0);
	ck_assert_int_eq(index_damage_exists(st->ix, h), -ENOENT);
	ck_assert_int_eq(index_damage_del(st->ix, h), -ENOENT);
	/* inside a transaction that rolls back: not recorded */
	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_damage_add(st->ix, h, 7, "read"), 0);
	index_tx_rollback(st->ix);
	ck_assert_int_eq(index_damage_exists(st->ix, h), -ENOENT);
}
END_TEST

static Suite *index_store_suite(void)
{
	Suite *s = suite_create("index_store");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_missing_empty_create);
	tcase_add_test(tc, test_events);
	tcase_add_test(tc, test_events_after);
	tcase_add_test(tc, test_policy);
	tcase_add_test(tc, test_stats_and_chunk_rows);
	tcase_add_test(tc, test_chunk_users);
	tcase_add_test(tc, test_damage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(index_store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
