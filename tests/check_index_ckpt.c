/* Unit tests of the index verbs for checkpoints, versions and metrics
 * (core/index.h, "checkpoints and versions, metrics"), through the
 * interface only: a store is opened for its index, then the verbs are
 * called directly. Each verb's normal path and its -ENOENT / -EEXIST edges. */
#include "store_test_util.h"
#include "meta.h"
#include "store_int.h"

static char *dir;
static struct store *st;
static struct index *ix;

static void setup(void)
{
	dir = tu_tmpstore();
	st = tu_open(dir, 0);
	ix = st->ix;
	pthread_mutex_lock(&st->mu); /* the verbs' callers hold it */
}

static void teardown(void)
{
	pthread_mutex_unlock(&st->mu);
	store_close(st);
	tu_rmrf(dir);
	free(dir);
}

/* A staging checkpoint as store_ckpt_create makes it, by the verbs. */
static int64_t make_staging(const char *name, int64_t now, int64_t *version)
{
	int64_t id, v, root;

	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_ckpt_insert(ix, name, CKPT_DIR, now, &id), 0);
	ck_assert_int_eq(index_version_insert(ix, id, now, &v), 0);
	ck_assert_int_eq(index_version_create_root(ix, v, S_IFDIR | 0755, now * 1000000000, &root),
			 0);
	ck_assert_int_gt(root, 0);
	ck_assert_int_eq(index_ckpt_set_versions(ix, id, v, v), 0);
	ck_assert_int_eq(index_tx_commit(ix), 0);
	if (version)
		*version = v;
	return id;
}

/* Commits id's staging version v as commit_tx does (no metrics). */
static void commit_row(int64_t id, int64_t v, int64_t step, const char *new_name)
{
	struct index_commit c = { .now = 1000 + step,
				  .version = v,
				  .has_step = true,
				  .step = step,
				  .logical = 42,
				  .new_name = new_name };

	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_version_move(ix, v, VER_COMMITTED, id), 0);
	ck_assert_int_eq(index_ckpt_set_committed(ix, id, &c), 0);
	ck_assert_int_eq(index_metric_update_eligible(ix, id), 0);
	ck_assert_int_eq(index_tx_commit(ix), 0);
}

START_TEST(test_insert_lookup)
{
	struct index_ckpt_row r;
	struct ckpt_info ci;
	int64_t v, id = make_staging("a", 100, &v), got = 0;
	uint64_t bytes = 7;
	char *name = NULL;

	ck_assert_int_eq(index_ckpt_get(ix, id, &ci), 0);
	ck_assert_str_eq(ci.name, "a");
	ck_assert_int_eq(ci.state, CKPT_STAGING);
	ck_assert_int_eq(ci.kind, CKPT_DIR);
	ck_assert_int_eq(ci.created_at, 100);
	ck_assert_int_eq(ci.version, v);
	ck_assert_int_eq(ci.staging_version, v);
	ck_assert_int_eq(ci.committed_version, 0);
	ck_assert(!ci.has_step);
	ckpt_info_release(&ci);

	ck_assert_int_eq(index_ckpt_row(ix, id, &r), 0);
	ck_assert_int_eq(r.state, CKPT_STAGING);
	ck_assert_int_eq(r.staging, v);
	ck_assert_int_eq(r.committed, 0);
	ck_assert(!r.withdrawn);

	ck_assert_int_eq(index_ckpt_get_live(ix, "a", &ci), 0);
	ck_assert_int_eq(ci.id, id);
	ckpt_info_release(&ci);
	ck_assert_int_eq(index_ckpt_live_id(ix, "a", &got), 0);
	ck_assert_int_eq(got, id);
	ck_assert_int_eq(index_ckpt_name(ix, id, &name), 0);
	ck_assert_str_eq(name, "a");
	free(name);
	ck_assert_int_eq(index_version_file_bytes(ix, v, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);

	/* edges: no such row is -ENOENT, a second live name is -EEXIST */
	ck_assert_int_eq(index_ckpt_get(ix, id + 100, &ci), -ENOENT);
	ck_assert_int_eq(index_ckpt_row(ix, id + 100, &r), -ENOENT);
	ck_assert_int_eq(index_ckpt_get_live(ix, "b", &ci), -ENOENT);
	ck_assert_int_eq(index_ckpt_live_id(ix, "b", &got), -ENOENT);
	ck_assert_int_eq(index_ckpt_name(ix, id + 100, &name), -ENOENT);
	ck_assert_ptr_null(name);
	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_ckpt_insert(ix, "a", CKPT_DIR, 101, &got), -EEXIST);
	ck_assert_int_eq(index_ckpt_set_versions(ix, id + 100, 1, 1), -ENOENT);
	ck_assert_int_eq(index_version_set_state(ix, v + 100, VER_DEAD), -ENOENT);
	ck_assert_int_eq(index_version_move(ix, v + 100, VER_DEAD, id), -ENOENT);
	ck_assert_int_eq(index_version_create_root(ix, v + 100, S_IFDIR, 1, &got), -ENOENT);
	index_tx_rollback(ix);
}
END_TEST

START_TEST(test_commit_latest_list)
{
	int64_t va, vb, a = make_staging("a", 100, &va), b = make_staging("b", 101, &vb);
	int64_t id = 0, ver = 0;
	struct ckpt_info ci;

	ck_assert_int_eq(index_ckpt_latest(ix, &id, &ver), -ENOENT);
	commit_row(a, va, 10, NULL);
	commit_row(b, vb, 20, "b2");
	ck_assert_int_eq(index_ckpt_latest(ix, &id, &ver), 0);
	ck_assert_int_eq(id, b);
	ck_assert_int_eq(ver, vb);
	ck_assert_int_eq(index_ckpt_get(ix, b, &ci), 0);
	ck_assert_str_eq(ci.name, "b2");
	ck_assert_int_eq(ci.state, CKPT_COMMITTED);
	ck_assert_int_eq(ci.commit_seq, 2);
	ck_assert_int_eq(ci.committed_version, vb);
	ck_assert_int_eq(ci.staging_version, 0);
	ck_assert(ci.has_step);
	ck_assert_int_eq(ci.step, 20);
	ck_assert_uint_eq(ci.logical_bytes, 42);
	ckpt_info_release(&ci);

	/* withdrawn: no longer latest; step and epoch set by hand; rename */
	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_ckpt_set_withdrawn(ix, b), 0);
	ck_assert_int_eq(index_ckpt_set_step(ix, a, 11), 0);
	ck_assert_int_eq(index_ckpt_set_epoch(ix, a, 1.5), 0);
	ck_assert_int_eq(index_ckpt_rename(ix, a, "a2"), 0);
	ck_assert_int_eq(index_ckpt_rename(ix, b, "a2"), -EEXIST);
	ck_assert_int_eq(index_ckpt_set_withdrawn(ix, b + 100), -ENOENT);
	ck_assert_int_eq(index_ckpt_set_step(ix, b + 100, 1), -ENOENT);
	ck_assert_int_eq(index_ckpt_set_epoch(ix, b + 100, 1), -ENOENT);
	ck_assert_int_eq(index_ckpt_rename(ix, b + 100, "x"), -ENOENT);
	ck_assert_int_eq(index_tx_commit(ix), 0);
	ck_assert_int_eq(index_ckpt_latest(ix, &id, NULL), 0);
	ck_assert_int_eq(id, a);
	ck_assert_int_eq(index_ckpt_get(ix, a, &ci), 0);
	ck_assert_str_eq(ci.name, "a2");
	ck_assert_int_eq(ci.step, 11);
	ck_assert(ci.has_epoch && ci.epoch == 1.5);
	ckpt_info_release(&ci);

	ck_assert_int_eq(index_ckpt_set_pinned(ix, a, true), 0);
	ck_assert_int_eq(index_ckpt_get(ix, a, &ci), 0);
	ck_assert(ci.pinned);
	ckpt_info_release(&ci);
	ck_assert_int_eq(index_ckpt_set_pinned(ix, a + 100, true), -ENOENT);
}
END_TEST

static int count_ckpt(void *ctx, struct ckpt_info *ci)
{
	int64_t *ids = ctx;

	ids[ids[0]++ + 1] = ci->id;
	ckpt_info_release(ci);
	return ids[0] == 3 ? 7 : 0; /* stops after three, with 7 */
}

START_TEST(test_abort_delete_foreach)
{
	int64_t va, vb, vc, a = make_staging("a", 100, &va), b = make_staging("b", 100, &vb);
	int64_t c = make_staging("c", 100, &vc), d, rank = 0, ids[8] = { 0 };
	struct ckpt_info ci;

	ck_assert_int_eq(index_tx_begin(ix), 0);
	/* a: aborted while staging, at time 200 */
	ck_assert_int_eq(index_version_set_state(ix, va, VER_ABORTED), 0);
	ck_assert_int_eq(index_ckpt_set_aborted(ix, a, 200, "why", va), 0);
	/* a second aborted "a", older (ended 150), holding b's version */
	ck_assert_int_eq(index_ckpt_insert_aborted(ix, "a", CKPT_DIR, 150, "old", vb, &d), 0);
	ck_assert_int_eq(index_version_move(ix, vb, VER_ABORTED, d), 0);
	ck_assert_int_eq(index_ckpt_set_versions(ix, b, 0, 0), 0);
	/* c: deleted */
	ck_assert_int_eq(index_versions_of_ckpt_set_state(ix, c, VER_DEAD), 0);
	ck_assert_int_eq(index_ckpt_set_deleted(ix, c, 300, "user"), 0);
	ck_assert_int_eq(index_ckpt_set_deleted(ix, c + 100, 300, "user"), -ENOENT);
	ck_assert_int_eq(index_ckpt_set_aborted(ix, c + 100, 300, "x", 1), -ENOENT);
	ck_assert_int_eq(index_versions_of_ckpt_set_state(ix, c + 100, VER_DEAD), 0); /* a set */
	ck_assert_int_eq(index_tx_commit(ix), 0);

	ck_assert_int_eq(index_ckpt_get_aborted(ix, "a", 1, &ci), 0);
	ck_assert_int_eq(ci.id, a);
	ck_assert_str_eq(ci.note, "why");
	ck_assert_int_eq(ci.ended_at, 200);
	ck_assert_int_eq(index_ckpt_aborted_rank(ix, "a", ci.ended_at, ci.id, &rank), 0);
	ck_assert_int_eq(rank, 1);
	ckpt_info_release(&ci);
	ck_assert_int_eq(index_ckpt_get_aborted(ix, "a", 2, &ci), 0);
	ck_assert_int_eq(ci.id, d);
	ck_assert_int_eq(ci.version, vb);
	ck_assert_int_eq(index_ckpt_aborted_rank(ix, "a", ci.ended_at, ci.id, &rank), 0);
	ck_assert_int_eq(rank, 2);
	ckpt_info_release(&ci);
	ck_assert_int_eq(index_ckpt_get_aborted(ix, "a", 3, &ci), -ENOENT);
	ck_assert_int_eq(index_ckpt_get_live(ix, "a", &ci), -ENOENT);
	ck_assert_int_eq(index_ckpt_get(ix, c, &ci), 0);
	ck_assert_int_eq(ci.state, CKPT_DELETED);
	ck_assert_str_eq(ci.deleted_rule, "user");
	ckpt_info_release(&ci);

	/* live ones: only b (staging, no version now); all: four rows, and a
	 * non-zero callback value stops the walk and is returned */
	ck_assert_int_eq(index_ckpt_foreach(ix, false, count_ckpt, ids), 0);
	ck_assert_int_eq(ids[0], 1);
	ck_assert_int_eq(ids[1], b);
	memset(ids, 0, sizeof(ids));
	ck_assert_int_eq(index_ckpt_foreach(ix, true, count_ckpt, ids), 7);
	ck_assert_int_eq(ids[0], 3);
}
END_TEST

/* ---- versions: files, copy, chunk lists ---- */

struct files_seen {
	int n;
	int64_t id;
	uint64_t size, chunks;
};

static int see_file(void *ctx, struct index_file_row *row)
{
	struct files_seen *f = ctx;

	f->n++;
	f->id = row->id;
	f->size = row->size;
	f->chunks += row->n;
	return 0;
}

START_TEST(test_version_files_copy)
{
	size_t len = 3 * CHUNK_SIZE / 2;
	uint8_t *data = malloc(len);
	struct files_seen a = { 0 }, b = { 0 }, c = { 0 };
	struct index_ckpt_row r;
	int64_t id, v;
	uint64_t bytes = 0;

	ck_assert_ptr_nonnull(data);
	tu_fill(data, len, 3);
	pthread_mutex_unlock(&st->mu); /* the store's API takes it */
	id = tu_ckpt1(st, "w", "w.bin", data, len);
	pthread_mutex_lock(&st->mu);
	free(data);
	ck_assert_int_eq(index_ckpt_row(ix, id, &r), 0);
	ck_assert_int_eq(r.state, CKPT_COMMITTED);
	ck_assert_int_eq(index_version_files(ix, r.committed, see_file, &a), 0);
	ck_assert_int_eq(a.n, 1);
	ck_assert_uint_eq(a.size, len);
	ck_assert_uint_eq(a.chunks, 2);
	ck_assert_int_eq(index_version_file_bytes(ix, r.committed, &bytes), 0);
	ck_assert_uint_eq(bytes, len);

	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_version_insert(ix, id, 500, &v), 0);
	ck_assert_int_eq(index_version_copy_tree(ix, r.committed, v), 0);
	ck_assert_int_eq(index_version_files(ix, v, see_file, &b), 0);
	ck_assert_int_eq(index_version_chunk_lists(ix, v, see_file, &c), 0);
	index_tx_rollback(ix); /* the copy took no chunk references */
	ck_assert_int_eq(b.n, 1);
	ck_assert_int_ne(b.id, a.id);
	ck_assert_uint_eq(b.size, len);
	ck_assert_uint_eq(b.chunks, 2);
	ck_assert_int_eq(c.n, 1);
	ck_assert_uint_eq(c.chunks, 2);
	ck_assert_int_eq(index_version_files(ix, v + 100, see_file, &c), 0); /* empty */
	ck_assert_int_eq(c.n, 1);
}
END_TEST

/* ---- metrics ---- */

struct metrics_seen {
	int n;
	char names[8][META_NAME_MAX];
	char sources[8][META_SOURCE_MAX];
	double values[8];
};

static int see_metric(void *ctx, const struct metric *m)
{
	struct metrics_seen *s = ctx;

	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", m->name);
	snprintf(s->sources[s->n], sizeof(s->sources[0]), "%s", m->source);
	s->values[s->n++] = m->value;
	return 0;
}

static int see_name(void *ctx, const char *name)
{
	struct metrics_seen *s = ctx;

	snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", name);
	return 0;
}

START_TEST(test_metrics)
{
	int64_t va, vb, a = make_staging("a", 100, &va), b = make_staging("b", 100, &vb), id = 0;
	struct metric loss_a = { .name = "loss", .value = 0.5, .source = "metrics.json" };
	struct metric loss_b = { .name = "loss", .value = 0.2, .source = "metrics.json" };
	struct metric step = { .name = "step", .value = 3, .source = "name" };
	struct metrics_seen s = { 0 }, x = { 0 }, nm = { 0 };

	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_metric_set_xattr(ix, a, "acc", 0.9), 0);
	ck_assert_int_eq(index_metric_set_xattr(ix, a, "step", 7), 0);
	ck_assert_int_eq(index_metric_set_xattr(ix, a + 100, "acc", 1), -ENOENT);
	ck_assert_int_eq(index_metric_add(ix, a, &loss_a), 0);
	ck_assert_int_eq(index_metric_add(ix, a, &step), 0);
	ck_assert_int_eq(index_metric_add(ix, b, &loss_b), 0);
	ck_assert_int_eq(index_tx_commit(ix), 0);

	/* staging: nothing is eligible, so no best and no names */
	ck_assert_int_eq(index_ckpt_best(ix, "loss", -1, &id, NULL), -ENOENT);
	ck_assert_int_eq(index_metric_names(ix, see_name, &nm), 0);
	ck_assert_int_eq(nm.n, 0);

	ck_assert_int_eq(index_metric_foreach(ix, a, see_metric, &s), 0);
	ck_assert_int_eq(s.n, 2); /* by name, step left out */
	ck_assert_str_eq(s.names[0], "acc");
	ck_assert_str_eq(s.sources[0], "xattr");
	ck_assert_str_eq(s.names[1], "loss");
	ck_assert_str_eq(s.sources[1], "metrics.json");
	ck_assert_int_eq(index_metric_foreach_xattr(ix, a, see_metric, &x), 0);
	ck_assert_int_eq(x.n, 2); /* acc and step */

	commit_row(a, va, 1, NULL);
	commit_row(b, vb, 2, NULL);
	ck_assert_int_eq(index_ckpt_best(ix, "loss", -1, &id, NULL), 0);
	ck_assert_int_eq(id, b);
	ck_assert_int_eq(index_ckpt_best(ix, "loss", 1, &id, NULL), 0);
	ck_assert_int_eq(id, a);
	ck_assert_int_eq(index_ckpt_best(ix, "nope", 1, &id, NULL), -ENOENT);
	ck_assert_int_eq(index_metric_names(ix, see_name, &nm), 0);
	ck_assert_int_eq(nm.n, 2);
	ck_assert_str_eq(nm.names[0], "acc");
	ck_assert_str_eq(nm.names[1], "loss");

	/* derived rows go, xattr rows stay; removing an xattr twice */
	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_metric_clear_derived(ix, a), 0);
	ck_assert_int_eq(index_ckpt_set_withdrawn(ix, b), 0);
	ck_assert_int_eq(index_metric_update_eligible(ix, b), 0);
	ck_assert_int_eq(index_tx_commit(ix), 0);
	ck_assert_int_eq(index_ckpt_best(ix, "loss", -1, &id, NULL), -ENOENT);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(index_metric_foreach(ix, a, see_metric, &s), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.names[0], "acc");
	ck_assert_int_eq(index_metric_remove_xattr(ix, a, "acc"), 0);
	ck_assert_int_eq(index_metric_remove_xattr(ix, a, "acc"), -ENOENT);
	ck_assert_int_eq(index_metric_remove_xattr(ix, a, "loss"), -ENOENT);
}
END_TEST

static int see_trashed(void *ctx, struct ckpt_info *ci)
{
	int64_t *ids = ctx;

	ids[ids[0] + 1] = ci->id;
	ids[0]++;
	ckpt_info_release(ci);
	return ids[0] == 2; /* a non-zero return stops the walk and is returned */
}

/* Trash verbs: set_state both ways, insert_copy with its metrics, the
 * trashed rows oldest first, and their -ENOENT edges. */
START_TEST(test_trash_verbs)
{
	struct metric m = { .value = 0.5 };
	int64_t va, vb, vc, a = make_staging("a", 100, &va), b = make_staging("b", 101, &vb);
	int64_t copy, ids[4] = { 0 }, id;
	struct ckpt_info ci;

	snprintf(m.name, sizeof(m.name), "loss");
	snprintf(m.source, sizeof(m.source), "name");
	commit_row(a, va, 1, NULL);
	commit_row(b, vb, 2, NULL);
	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_metric_add(ix, a, &m), 0);
	ck_assert_int_eq(index_metric_update_eligible(ix, a), 0);
	ck_assert_int_eq(index_ckpt_set_state(ix, b, CKPT_TRASHED, 500, "user"), 0);
	ck_assert_int_eq(index_metric_update_eligible(ix, b), 0);
	ck_assert_int_eq(index_ckpt_set_state(ix, 9999, CKPT_TRASHED, 500, "user"), -ENOENT);
	ck_assert_int_eq(index_tx_commit(ix), 0);
	ck_assert_int_eq(index_ckpt_latest(ix, &id, NULL), 0);
	ck_assert_int_eq(id, a);
	ck_assert_int_eq(index_ckpt_get(ix, b, &ci), 0);
	ck_assert_int_eq(ci.state, CKPT_TRASHED);
	ck_assert_int_eq(ci.ended_at, 500);
	ck_assert_str_eq(ci.deleted_rule, "user");
	ck_assert_int_eq(ci.version, vb);
	ckpt_info_release(&ci);
	/* the name is free while trashed */
	ck_assert_int_eq(index_ckpt_live_id(ix, "b", &id), -ENOENT);
	/* a trashed copy of a, holding a new version, with a's metrics */
	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_version_insert(ix, a, 600, &vc), 0);
	ck_assert_int_eq(index_ckpt_insert_copy(ix, a, vc, CKPT_TRASHED, 600, "user", &copy), 0);
	ck_assert_int_eq(index_ckpt_insert_copy(ix, 9999, vc, CKPT_TRASHED, 600, "x", &id),
			 -ENOENT);
	ck_assert_int_eq(index_tx_commit(ix), 0);
	ck_assert_int_eq(index_ckpt_get(ix, copy, &ci), 0);
	ck_assert_str_eq(ci.name, "a");
	ck_assert_int_eq(ci.state, CKPT_TRASHED);
	ck_assert_int_eq(ci.committed_version, vc);
	ck_assert_int_eq(ci.step, 1);
	ck_assert_int_eq(ci.ended_at, 600);
	ckpt_info_release(&ci);
	ck_assert_int_eq(index_ckpt_trashed(ix, see_trashed, ids), 1);
	ck_assert_int_eq(ids[0], 2);
	ck_assert_int_eq(ids[1], b); /* oldest trashed first */
	ck_assert_int_eq(ids[2], copy);
	/* back: committed, eligible, latest again by its commit order */
	ck_assert_int_eq(index_tx_begin(ix), 0);
	ck_assert_int_eq(index_ckpt_set_state(ix, b, CKPT_COMMITTED, 0, NULL), 0);
	ck_assert_int_eq(index_metric_update_eligible(ix, b), 0);
	ck_assert_int_eq(index_tx_commit(ix), 0);
	ck_assert_int_eq(index_ckpt_latest(ix, &id, NULL), 0);
	ck_assert_int_eq(id, b);
	ck_assert_int_eq(index_ckpt_get(ix, b, &ci), 0);
	ck_assert_ptr_null(ci.deleted_rule);
	ckpt_info_release(&ci);
}
END_TEST

static Suite *index_ckpt_suite(void)
{
	Suite *s = suite_create("index_ckpt");
	TCase *tc = tcase_create("verbs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_insert_lookup);
	tcase_add_test(tc, test_commit_latest_list);
	tcase_add_test(tc, test_abort_delete_foreach);
	tcase_add_test(tc, test_version_files_copy);
	tcase_add_test(tc, test_metrics);
	tcase_add_test(tc, test_trash_verbs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(index_ckpt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
