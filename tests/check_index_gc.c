/* Unit tests of the index verbs of retention, gc, verify and recovery
 * (core/index.h, section "retention, gc, verify, recovery"), driven through
 * the interface only: a real store gives the rows, the verbs are called on
 * st->ix directly. */
#define TU_STORE_FIXTURE
#include "store_test_util.h"
#include "store_int.h"

static struct ckpt_info info(int64_t id)
{
	struct ckpt_info ci;

	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	return ci;
}

static bool has_id(const int64_t *ids, size_t n, int64_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* A committed checkpoint whose version nobody reads any more but a pin
 * keeps: deleted, so its version is dead and gc leaves it. */
static int64_t dead_pinned_version(const char *name, const void *data, size_t len)
{
	int64_t id = tu_ckpt1(st, name, "w.bin", data, len);
	struct ckpt_info ci = info(id);
	int64_t v = ci.version;

	ckpt_info_release(&ci);
	store_version_pin(st, v);
	ck_assert_int_eq(store_ckpt_delete(st, id, "user"), 0);
	return v;
}

START_TEST(test_committed)
{
	int64_t a = tu_ckpt1(st, "a", "f", "x", 1), b, c, s, root;
	struct index_committed *cm;
	size_t n;

	b = tu_ckpt1(st, "b", "f", "y", 1);
	c = tu_ckpt1(st, "c", "f", "z", 1);
	ck_assert_int_eq(store_ckpt_set_metric(st, b, "step", 7), 0);
	ck_assert_int_eq(store_ckpt_set_metric(st, b, "loss", 0.25), 0);
	ck_assert_int_eq(store_ckpt_set_metric(st, b, "acc", 0.5), 0);
	ck_assert_int_eq(store_ckpt_set_pinned(st, a, true), 0);
	ck_assert_int_eq(store_ckpt_withdraw(st, c), 0);
	ck_assert_int_eq(store_ckpt_create(st, "staging", CKPT_DIR, 0755, &s, &root), 0);

	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_ckpt_committed(st->ix, &cm, &n), 0);
	pthread_mutex_unlock(&st->mu);
	ck_assert_uint_eq(n, 3); /* the staging one is not committed */
	ck_assert_int_eq(cm[0].id, a);
	ck_assert_int_eq(cm[1].id, b);
	ck_assert_int_eq(cm[2].id, c);
	ck_assert_str_eq(cm[1].name, "b");
	ck_assert(cm[0].commit_seq < cm[1].commit_seq && cm[1].commit_seq < cm[2].commit_seq);
	ck_assert(cm[0].pinned && !cm[1].pinned);
	ck_assert(cm[2].withdrawn && !cm[0].withdrawn);
	ck_assert(cm[1].has_step && cm[1].step == 7 && !cm[0].has_step);
	ck_assert_uint_eq(cm[1].n_metrics, 2); /* step is not a metric here */
	ck_assert(strcmp(cm[1].metrics[0].name, "step") != 0);
	ck_assert(strcmp(cm[1].metrics[1].name, "step") != 0);
	ck_assert_str_eq(cm[1].metrics[0].source, "xattr");
	ck_assert_uint_eq(cm[0].n_metrics, 0);
	index_committed_free(cm, n);
}
END_TEST

START_TEST(test_committed_empty)
{
	struct index_committed *cm = (void *)1;
	size_t n = 9;

	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_ckpt_committed(st->ix, &cm, &n), 0);
	pthread_mutex_unlock(&st->mu);
	ck_assert_uint_eq(n, 0);
	index_committed_free(cm, n);
}
END_TEST

START_TEST(test_aborted_unfinished)
{
	int64_t ab, sg, cm, cs, root, v, *ids;
	size_t n;

	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_ckpt_aborted_ids(st->ix, &ids, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(ids);
	ck_assert_int_eq(index_ckpt_unfinished_ids(st->ix, &ids, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(ids);
	pthread_mutex_unlock(&st->mu);

	ck_assert_int_eq(store_ckpt_create(st, "ab", CKPT_DIR, 0755, &ab, &root), 0);
	ck_assert_int_eq(store_ckpt_abort(st, ab, "test"), 0);
	ck_assert_int_eq(store_ckpt_create(st, "sg", CKPT_DIR, 0755, &sg, &root), 0);
	cm = tu_ckpt1(st, "cm", "f", "x", 1);
	cs = tu_ckpt1(st, "cs", "f", "x", 1);
	ck_assert_int_eq(store_ckpt_begin_version(st, cs, &v), 0);

	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_ckpt_aborted_ids(st->ix, &ids, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ids[0], ab);
	free(ids);
	ck_assert_int_eq(index_ckpt_unfinished_ids(st->ix, &ids, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(has_id(ids, n, sg) && has_id(ids, n, cs) && !has_id(ids, n, cm));
	free(ids);
	pthread_mutex_unlock(&st->mu);
}
END_TEST

START_TEST(test_deletable)
{
	int64_t a = tu_ckpt1(st, "a", "f", "x", 1), p = tu_ckpt1(st, "p", "f", "y", 1), s, root;
	bool ok;

	ck_assert_int_eq(store_ckpt_set_pinned(st, p, true), 0);
	ck_assert_int_eq(store_ckpt_create(st, "s", CKPT_DIR, 0755, &s, &root), 0);
	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_ckpt_deletable(st->ix, a, &ok), 0);
	ck_assert(ok);
	ck_assert_int_eq(index_ckpt_deletable(st->ix, p, &ok), 0);
	ck_assert(!ok);
	ck_assert_int_eq(index_ckpt_deletable(st->ix, s, &ok), 0);
	ck_assert(!ok);
	ok = true;
	ck_assert_int_eq(index_ckpt_deletable(st->ix, 987654, &ok), -ENOENT);
	ck_assert(!ok);
	pthread_mutex_unlock(&st->mu);
}
END_TEST

START_TEST(test_version_kind)
{
	int64_t d = tu_ckpt1(st, "d", "f", "x", 1), f, root, v = 0;
	struct ckpt_info ci = info(d);
	int kind = -1;

	ck_assert_int_eq(store_ckpt_create(st, "file.bin", CKPT_FILE, 0644, &f, &root), 0);
	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_ckpt_version_kind(st->ix, d, &v, &kind), 0);
	ck_assert_int_eq(v, ci.version);
	ck_assert_int_eq(kind, CKPT_DIR);
	ck_assert_int_eq(index_ckpt_version_kind(st->ix, f, &v, &kind), 0);
	ck_assert_int_eq(kind, CKPT_FILE);
	ck_assert_int_eq(index_ckpt_version_kind(st->ix, 987654, &v, &kind), -ENOENT);
	pthread_mutex_unlock(&st->mu);
	ckpt_info_release(&ci);
}
END_TEST

struct nodes_seen {
	int dirs, files, stop_after;
	uint64_t bytes;
};

static int nodes_cb(void *ctx, int64_t id, uint32_t mode, uint64_t size)
{
	struct nodes_seen *s = ctx;

	ck_assert(id > 0);
	if (S_ISDIR(mode)) {
		s->dirs++;
	} else {
		s->files++;
		s->bytes += size;
	}
	return s->stop_after && s->dirs + s->files == s->stop_after ? 42 : 0;
}

START_TEST(test_version_nodes)
{
	static const char *const names[] = { "a", "b" };
	const void *data[] = { "hello", "0123456789" };
	size_t lens[] = { 5, 10 };
	int64_t id = tu_ckpt(st, "t", names, data, lens, 2);
	struct ckpt_info ci = info(id);
	struct nodes_seen s = { 0 };

	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_version_nodes(st->ix, ci.version, nodes_cb, &s), 0);
	ck_assert_int_eq(s.dirs, 1);
	ck_assert_int_eq(s.files, 2);
	ck_assert_uint_eq(s.bytes, 15);
	memset(&s, 0, sizeof(s));
	s.stop_after = 1; /* the callback's non-zero stops and is returned */
	ck_assert_int_eq(index_version_nodes(st->ix, ci.version, nodes_cb, &s), 42);
	ck_assert_int_eq(s.dirs + s.files, 1);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(index_version_nodes(st->ix, 987654, nodes_cb, &s), 0);
	ck_assert_int_eq(s.dirs + s.files, 0);
	pthread_mutex_unlock(&st->mu);
	ckpt_info_release(&ci);
}
END_TEST

static int count_refs_cb(void *ctx, const struct chunk_ref *refs, size_t n)
{
	ck_assert(n > 0);
	ck_assert(refs[0].raw_len > 0);
	*(size_t *)ctx += n;
	return 0;
}

static int unref_cb(void *ctx, const struct chunk_ref *refs, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++)
		rc = store_chunk_ref(ctx, &refs[i], -1, 0, 0);
	return rc;
}

START_TEST(test_chunk_lists)
{
	size_t len = 3 * CHUNK_SIZE / 2, nv = 0, nall = 0, nnone = 0;
	uint8_t *data = malloc(len);
	int64_t id, e;
	struct ckpt_info ci, ce;

	ck_assert_ptr_nonnull(data);
	tu_fill(data, len, 3);
	id = tu_ckpt1(st, "big", "w.bin", data, len); /* two chunks */
	e = tu_ckpt1(st, "empty", "w.bin", "", 0);    /* no chunk list */
	ci = info(id);
	ce = info(e);
	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_version_chunk_refs(st->ix, ci.version, count_refs_cb, &nv), 0);
	ck_assert_uint_eq(nv, 2);
	ck_assert_int_eq(index_all_chunk_lists(st->ix, count_refs_cb, &nall), 0);
	ck_assert_uint_eq(nall, 2);
	ck_assert_int_eq(index_version_chunk_refs(st->ix, ce.version, count_refs_cb, &nnone), 0);
	ck_assert_int_eq(index_version_chunk_refs(st->ix, 987654, count_refs_cb, &nnone), 0);
	ck_assert_uint_eq(nnone, 0);
	pthread_mutex_unlock(&st->mu);
	ckpt_info_release(&ci);
	ckpt_info_release(&ce);
	free(data);
}
END_TEST

START_TEST(test_dead_and_purge)
{
	int64_t v = dead_pinned_version("gone", "abc", 3), *ids;
	int64_t live = tu_ckpt1(st, "live", "f", "x", 1);
	struct ckpt_info ci = info(live);
	size_t n, nrefs = 0;

	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_version_dead_ids(st->ix, &ids, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ids[0], v);
	ck_assert(!has_id(ids, n, ci.version));
	free(ids);
	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_version_chunk_refs(st->ix, v, unref_cb, st), 0);
	ck_assert_int_eq(index_version_purge(st->ix, v), 0);
	ck_assert_int_eq(index_version_purge(st->ix, v), -ENOENT);
	ck_assert_int_eq(index_version_purge(st->ix, 987654), -ENOENT);
	ck_assert_int_eq(index_tx_commit(st->ix), 0);
	ck_assert_int_eq(index_version_dead_ids(st->ix, &ids, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(ids);
	ck_assert_int_eq(index_version_chunk_refs(st->ix, v, count_refs_cb, &nrefs), 0);
	ck_assert_uint_eq(nrefs, 0); /* its node rows are gone */
	pthread_mutex_unlock(&st->mu);
	store_version_unpin(st, v);
	tu_expect(st, tu_lookup(st, "live", "f"), "x", 1); /* others untouched */
	ckpt_info_release(&ci);
}
END_TEST

struct hashes {
	uint8_t h[8][CHUNK_HASH_LEN];
	int64_t refs[8];
	int n;
};

static int rows_cb(void *ctx, const uint8_t *hash, int64_t refs)
{
	struct hashes *hs = ctx;

	ck_assert_int_lt(hs->n, 8);
	memcpy(hs->h[hs->n], hash, CHUNK_HASH_LEN);
	hs->refs[hs->n++] = refs;
	return 0;
}

START_TEST(test_chunk_rows_unreferenced)
{
	int64_t v = dead_pinned_version("gone", "only-here", 9);
	struct hashes all = { 0 }, un = { 0 };
	int i, gone = -1, kept = -1;

	tu_ckpt1(st, "live", "f", "kept", 4);
	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_chunks_unreferenced(st->ix, rows_cb, &un), 0);
	ck_assert_int_eq(un.n, 0);
	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_version_chunk_refs(st->ix, v, unref_cb, st), 0);
	ck_assert_int_eq(index_chunk_rows(st->ix, rows_cb, &all), 0);
	ck_assert_int_eq(all.n, 2);
	for (i = 0; i < all.n; i++) {
		if (all.refs[i] == 0)
			gone = i;
		else if (all.refs[i] == 1)
			kept = i;
	}
	ck_assert(gone >= 0 && kept >= 0);
	ck_assert_int_eq(index_chunks_unreferenced(st->ix, rows_cb, &un), 0);
	ck_assert_int_eq(un.n, 1);
	ck_assert_mem_eq(un.h[0], all.h[gone], CHUNK_HASH_LEN);
	ck_assert_int_eq(index_chunk_forget_unreferenced(st->ix, all.h[kept]), -ENOENT);
	ck_assert_int_eq(index_chunk_forget_unreferenced(st->ix, all.h[gone]), 0);
	ck_assert_int_eq(index_chunk_forget_unreferenced(st->ix, all.h[gone]), -ENOENT);
	index_tx_rollback(st->ix); /* the store stays as it was */
	memset(&all, 0, sizeof(all));
	ck_assert_int_eq(index_chunk_rows(st->ix, rows_cb, &all), 0);
	ck_assert_int_eq(all.n, 2);
	pthread_mutex_unlock(&st->mu);
	store_version_unpin(st, v);
}
END_TEST

struct problems {
	int n;
	char first[256];
};

static int problem_cb(void *ctx, const char *text)
{
	struct problems *p = ctx;

	if (!p->n++)
		snprintf(p->first, sizeof(p->first), "%s", text);
	return 0;
}

static int stop_cb(void *ctx, const char *text)
{
	(void)text;
	(*(int *)ctx)++;
	return 7;
}

START_TEST(test_consistency)
{
	int64_t id = tu_ckpt1(st, "a", "f", "x", 1);
	struct ckpt_info ci = info(id);
	struct problems p = { 0 };
	int calls = 0;

	pthread_mutex_lock(&st->mu);
	ck_assert_int_eq(index_check_consistency(st->ix, problem_cb, &p), 0);
	ck_assert_int_eq(p.n, 0);
	/* a committed version whose rows are gone: named, then undone */
	ck_assert_int_eq(index_tx_begin(st->ix), 0);
	ck_assert_int_eq(index_version_purge(st->ix, ci.version), 0);
	ck_assert_int_eq(index_check_consistency(st->ix, problem_cb, &p), 0);
	ck_assert_int_eq(p.n, 1);
	ck_assert_msg(strstr(p.first, "checkpoint a: committed version") != NULL, "%s", p.first);
	ck_assert_int_eq(index_check_consistency(st->ix, stop_cb, &calls), 7);
	ck_assert_int_eq(calls, 1);
	index_tx_rollback(st->ix);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(index_check_consistency(st->ix, problem_cb, &p), 0);
	ck_assert_int_eq(p.n, 0);
	pthread_mutex_unlock(&st->mu);
	ckpt_info_release(&ci);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("index_gc");
	TCase *tc = tcase_create("gc");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_committed);
	tcase_add_test(tc, test_committed_empty);
	tcase_add_test(tc, test_aborted_unfinished);
	tcase_add_test(tc, test_deletable);
	tcase_add_test(tc, test_version_kind);
	tcase_add_test(tc, test_version_nodes);
	tcase_add_test(tc, test_chunk_lists);
	tcase_add_test(tc, test_dead_and_purge);
	tcase_add_test(tc, test_chunk_rows_unreferenced);
	tcase_add_test(tc, test_consistency);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
