/* Store tests of integrity and space: damaged and missing chunks, verify
 * (orphan chunk files, wrong reference counts), gc reclaiming space,
 * retention, and a full disk. Chunks in the store's directory, or in Ceph
 * RADOS under CKPT_TEST_CHUNKS=rados (check_store_gc_rados; the chunk
 * objects are reached through tu_obj_*, whichever backend keeps them). */

#define TU_STORE_FIXTURE
#include "store_test_util.h"

START_TEST(test_corrupt_and_verify)
{
	size_t sz = 3 * CHUNK_SIZE;
	uint8_t *a = malloc(sz), *buf = malloc(sz);
	struct store_event *ev;
	struct store_file *f;
	size_t nev, i;
	uint8_t h[CHUNK_HASH_LEN];
	int problems = 0;
	bool found = false;

	ck_assert_ptr_nonnull(a);
	tu_fill(a, sz, 5);
	tu_ckpt1(st, "ck", "data.bin", a, sz);
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 0);
	ck_assert_int_eq(problems, 0);
	/* flip one byte in the middle of a chunk object */
	tu_obj_first(dir, 1024, h);
	tu_obj_flip(dir, h);
	ck_assert_int_eq(store_file_open(st, tu_lookup(st, "ck", "data.bin"), STORE_F_READ, &f), 0);
	{
		ssize_t r = 0;
		uint64_t off;
		int eio = 0;

		/* one of the three chunks is damaged: its range reads -EIO, never wrong bytes */
		for (off = 0; off < sz; off += CHUNK_SIZE) {
			r = store_file_read(f, buf, CHUNK_SIZE, off);
			if (r == -EIO)
				eio++;
			else
				ck_assert(r == CHUNK_SIZE && memcmp(buf, a + off, CHUNK_SIZE) == 0);
		}
		ck_assert_int_eq(eio, 1);
	}
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_events(st, &ev, &nev), 0);
	for (i = 0; i < nev; i++)
		if (strcmp(ev[i].event, "corrupt") == 0 && ev[i].name &&
		    strcmp(ev[i].name, "ck/data.bin") == 0)
			found = true;
	store_events_free(ev, nev);
	ck_assert(found);
	problems = 0;
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 1);
	ck_assert_int_eq(problems, 1);
	/* and a missing chunk */
	tu_obj_remove(dir, h);
	tu_obj_first(dir, 1024, h);
	tu_obj_remove(dir, h);
	problems = 0;
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 2);
	free(a);
	free(buf);
}
END_TEST

/* verify: an orphan chunk file and a reference count that disagrees with
 * the node rows are each one problem. */
START_TEST(test_verify_orphan_and_counts)
{
	uint8_t h[CHUNK_HASH_LEN], fake[CHUNK_HASH_LEN] = { 0 };
	int problems = 0;

	tu_ckpt1(st, "ck", "f", "some bytes", 10);
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 0);
	/* a well-named chunk object the index does not know, an hour old */
	tu_obj_first(dir, -1, h);
	fake[CHUNK_HASH_LEN - 1] = 7;
	tu_obj_copy_old(dir, h, dir, fake);
	problems = 0;
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 1);
	tu_obj_remove(dir, fake);
	/* a count off by one (another connection: the store stays open) */
	ck_assert_int_gt(tu_index_sql(dir, "UPDATE chunks SET refs = refs + 1"), 0);
	problems = 0;
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 1);
}
END_TEST

/* A new store over chunk objects of another (a chunks/ directory, a RADOS
 * namespace that holds some) is refused: its recovery would delete them all
 * as unreferenced. Nothing is deleted, and the message says why. */
START_TEST(test_new_store_over_objects)
{
	char *other = tu_tmpstore(), *spec, err[512] = "";
	struct store *o = NULL;
	uint8_t h[CHUNK_HASH_LEN];
	long n;

	tu_ckpt1(st, "ck", "f", "some bytes", 10);
	tu_obj_first(dir, -1, h);
	ck_assert_int_eq(mkdir(other, 0755), 0);
	tu_obj_copy_old(dir, h, other, h); /* the other store's chunks hold one object */
	n = tu_obj_count(other);
	ck_assert_int_eq(n, 1);
	spec = tu_spec(other);
	ck_assert_int_eq(store_open(spec, 0, &o, err, sizeof(err)), -EUCLEAN);
	printf("refused: %s\n", err);
	ck_assert_ptr_nonnull(strstr(err, "holds checkpoint data"));
	ck_assert_int_eq(tu_obj_count(other), n);
	/* emptied, the same address makes a store */
	tu_obj_remove(other, h);
	ck_assert_int_eq(store_open(spec, 0, &o, err, sizeof(err)), 0);
	store_close(o);
	free(spec);
	tu_rmrf(other);
	free(other);
}
END_TEST

START_TEST(test_gc_reclaims)
{
	size_t sz = 6 * CHUNK_SIZE;
	uint8_t *a = malloc(sz);
	struct store_stats s0, s1;
	int64_t ids[3];
	uint64_t du0, du1, freed = 0; /* bytes of chunk objects */
	int i;

	ck_assert_ptr_nonnull(a);
	for (i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "step-%d", i);
		tu_fill(a, sz, 100 + (uint64_t)i);
		ids[i] = tu_ckpt1(st, name, "w", a, sz);
	}
	ck_assert_int_eq(store_stats(st, &s0), 0);
	du0 = tu_obj_bytes(dir);
	ck_assert_int_eq(store_ckpt_delete(st, ids[0], "user"), 0);
	ck_assert_int_eq(store_ckpt_delete(st, ids[1], "user"), 0);
	ck_assert_int_eq(store_gc(st, false, &freed), 0);
	ck_assert_int_eq(store_stats(st, &s1), 0);
	du1 = tu_obj_bytes(dir);
	printf("gc: stored %llu -> %llu, objects %llu -> %llu\n",
	       (unsigned long long)s0.stored_bytes, (unsigned long long)s1.stored_bytes,
	       (unsigned long long)du0, (unsigned long long)du1);
	ck_assert_uint_le(s1.stored_bytes, s0.stored_bytes / 3 + 4096);
	ck_assert_uint_lt(du1 + 2 * sz - CHUNK_SIZE, du0);
	ck_assert_uint_eq(s1.checkpoints, 1);
	ck_assert_uint_eq(s1.deleted, 2);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
	free(a);
}
END_TEST

/* A deletion frees its chunks at once when no grace period applies
 * (CKPT_GC_GRACE_MS=0 on PostgreSQL, as with one SQLite mount), even in
 * the millisecond its last reference went: repeated, so that some
 * deletion's gc falls in that millisecond. */
START_TEST(test_gc_same_millisecond)
{
	uint8_t a[4096];
	long base = tu_obj_count(dir);
	int i;

	for (i = 0; i < 30; i++) {
		char name[32];
		int64_t id;

		snprintf(name, sizeof(name), "ms-%d", i);
		tu_fill(a, sizeof(a), 700 + (uint64_t)i);
		id = tu_ckpt1(st, name, "w", a, sizeof(a));
		ck_assert_int_eq(tu_obj_count(dir), base + 1);
		ck_assert_int_eq(store_ckpt_delete(st, id, "user"), 0); /* runs gc itself */
		ck_assert_msg(tu_obj_count(dir) == base, "deletion %d left its chunk", i);
	}
}
END_TEST

START_TEST(test_retention)
{
	/* val_loss by step: 100:0.9 200:0.3 300:0.5 400:0.2 500:0.8 600:0.7 */
	const double vals[] = { 0.9, 0.3, 0.5, 0.2, 0.8, 0.7 };
	struct retain_row *plan, *del;
	size_t np, nd, i, j;
	struct policy p;
	int64_t ids[6], best, latest;
	char *words[] = { "keep_last=2", "metric=val_loss:min", "keep_best=1" };

	for (i = 0; i < 6; i++) {
		char name[32];

		snprintf(name, sizeof(name), "checkpoint-%zu", (i + 1) * 100);
		ids[i] = tu_ckpt1(st, name, "f", name, strlen(name));
		ck_assert_int_eq(store_ckpt_set_metric(st, ids[i], "val_loss", vals[i]), 0);
	}
	/* no policy: nothing deleted */
	ck_assert_int_eq(store_retain_run(st, &del, &nd), 0);
	ck_assert_uint_eq(nd, 0);
	retain_rows_free(del, nd);
	ck_assert_int_eq(store_ckpt_set_pinned(st, ids[0], true), 0);
	ck_assert_int_eq(store_policy_get(st, &p), 0);
	ck_assert_int_eq(policy_apply_words(&p, words, 3, NULL, 0), 0);
	ck_assert_int_eq(store_policy_set(st, &p), 0);
	ck_assert_int_eq(store_retain_plan(st, &plan, &np), 0);
	ck_assert_uint_eq(np, 6);
	for (i = 0; i < np; i++)
		printf("plan: %s %s %s\n", plan[i].name, plan[i].keep ? "keep" : "delete",
		       plan[i].rule);
	/* kept: 100 pinned, 400 best, 500 and 600 newest */
	ck_assert(plan[0].keep);
	ck_assert(!plan[1].keep);
	ck_assert(!plan[2].keep);
	ck_assert(plan[3].keep);
	ck_assert(plan[4].keep);
	ck_assert(plan[5].keep);
	ck_assert_ptr_nonnull(strstr(plan[1].rule, "policy"));
	ck_assert_int_eq(store_retain_run(st, &del, &nd), 0);
	ck_assert_uint_eq(nd, 2);
	for (i = 0; i < nd; i++) {
		bool in_plan = false;

		for (j = 0; j < np; j++)
			in_plan |= plan[j].id == del[i].id && !plan[j].keep;
		ck_assert(in_plan);
	}
	retain_rows_free(del, nd);
	retain_rows_free(plan, np);
	{
		struct ckpt_info ci;

		ck_assert_int_eq(store_ckpt_get(st, ids[1], &ci), 0);
		ck_assert_int_eq(ci.state, CKPT_DELETED);
		ck_assert_ptr_nonnull(strstr(ci.deleted_rule, "policy"));
		ck_assert_uint_ge(ci.n_metrics, 1); /* metrics stay for ls --all */
		ckpt_info_release(&ci);
	}
	ck_assert_int_eq(store_resolve_best(st, "val_loss", 0, &best, NULL), 0);
	ck_assert_int_eq(best, ids[3]);
	ck_assert_int_eq(store_resolve_latest(st, &latest, NULL), 0);
	ck_assert_int_eq(latest, ids[5]);
	/* a withdrawn newest checkpoint is neither kept as "latest" nor deleted */
	{
		struct store_node root;
		struct ckpt_info ci;
		int64_t w;

		w = tu_ckpt1(st, "checkpoint-700", "f", "x", 1);
		ck_assert_int_eq(store_ckpt_get(st, w, &ci), 0);
		ck_assert_int_eq(store_version_root(st, ci.version, &root), 0);
		ckpt_info_release(&ci);
		ck_assert_int_eq(store_node_unlink(st, root.id, "f"), 0); /* withdraws it */
		ck_assert_int_eq(store_retain_plan(st, &plan, &np), 0);
		ck_assert_uint_eq(np, 5);
		ck_assert_int_eq(plan[4].id, w);
		ck_assert(plan[4].keep);
		ck_assert_ptr_nonnull(strstr(plan[4].rule, "withdrawn"));
		ck_assert(plan[3].keep); /* checkpoint-600: the real latest */
		ck_assert_str_eq(plan[3].rule, "latest");
		ck_assert(plan[2].keep); /* 500: keep_last=2 with 600 */
		retain_rows_free(plan, np);
	}
	/* a second run deletes nothing more */
	ck_assert_int_eq(store_retain_run(st, &del, &nd), 0);
	ck_assert_uint_eq(nd, 0);
	retain_rows_free(del, nd);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
}
END_TEST

/* A full disk: writes fail with -ENOSPC as they are, the committed data
 * stays intact, the failed checkpoint aborts, and space comes back with gc.
 * Runs in a child with its own mount namespace and a small tmpfs (the
 * mount goes away with the child); skipped without the privilege. */
static int enospc_child(const char *base)
{
	char sdir[600];
	struct store *s;
	struct store_file *f;
	struct store_node n;
	struct store_stats stt;
	uint8_t *buf = malloc(CHUNK_SIZE), *got;
	int64_t id, root, good;
	ssize_t w = 0;
	uint64_t off;
	size_t len;
	int rc;

	if (!buf)
		return 2;
	snprintf(sdir, sizeof(sdir), "%s/store", base);
	if (store_open(sdir, 0, &s, NULL, 0) != 0)
		return 3;
	tu_fill(buf, CHUNK_SIZE, 1);
	if (store_ckpt_create(s, "good", CKPT_DIR, 0755, &good, &root) != 0 ||
	    store_node_create(s, root, "f", 0644, &n) != 0 ||
	    store_file_open(s, n.id, STORE_F_WRITE, &f) != 0 ||
	    store_file_write(f, buf, CHUNK_SIZE, 0) != CHUNK_SIZE || store_file_close(f) != 0 ||
	    store_ckpt_commit(s, good) != 0)
		return 4;
	if (store_ckpt_create(s, "big", CKPT_DIR, 0755, &id, &root) != 0 ||
	    store_node_create(s, root, "f", 0644, &n) != 0 ||
	    store_file_open(s, n.id, STORE_F_WRITE, &f) != 0)
		return 5;
	for (off = 0; off < 64ull * CHUNK_SIZE; off += CHUNK_SIZE) {
		tu_fill(buf, CHUNK_SIZE, off + 7);
		w = store_file_write(f, buf, CHUNK_SIZE, off);
		if (w < 0)
			break;
	}
	if (w != -ENOSPC)
		return 6; /* returned as it is */
	rc = store_file_close(f);
	if (rc != 0 && rc != -ENOSPC)
		return 7;
	if (store_ckpt_abort(s, id, "disk full") != 0)
		return 8;
	if (store_gc(s, true, NULL) != 0 || store_verify(s, NULL, NULL, NULL) != 0)
		return 9;
	got = tu_read(s, tu_lookup(s, "good", "f"), &len);
	tu_fill(buf, CHUNK_SIZE, 1);
	if (len != CHUNK_SIZE || memcmp(got, buf, len) != 0)
		return 10;
	free(got);
	/* space is back: a new checkpoint commits */
	if (store_ckpt_create(s, "after", CKPT_DIR, 0755, &id, &root) != 0 ||
	    store_node_create(s, root, "f", 0644, &n) != 0 ||
	    store_file_open(s, n.id, STORE_F_WRITE, &f) != 0 ||
	    store_file_write(f, buf, CHUNK_SIZE, 0) != CHUNK_SIZE || store_file_close(f) != 0 ||
	    store_ckpt_commit(s, id) != 0 || store_stats(s, &stt) != 0 || stt.checkpoints != 2)
		return 11;
	store_close(s);
	free(buf);
	return 0;
}

START_TEST(test_enospc)
{
	if (tu_rados()) {
		printf("skip (local chunks only): a full RADOS pool is faults_test_rados_full\n");
		return;
	}
	tu_in_tmpfs(dir, "12m", enospc_child);
}
END_TEST

/* ---- lifecycle: trash, undelete, what deleting frees, admission ---- */

static void set_policy(struct store *st, const char *word)
{
	struct policy p;
	char *w = (char *)word;

	ck_assert_int_eq(store_policy_get(st, &p), 0);
	ck_assert_int_eq(policy_apply_words(&p, &w, 1, NULL, 0), 0);
	ck_assert_int_eq(store_policy_set(st, &p), 0);
}

static int64_t ckpt_state(struct store *st, int64_t id)
{
	struct ckpt_info ci;
	int state;

	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	state = ci.state;
	ckpt_info_release(&ci);
	return state;
}

static bool has_event(struct store *st, const char *event, const char *name)
{
	struct store_event *ev;
	size_t n, i;
	bool found = false;

	ck_assert_int_eq(store_events(st, &ev, &n), 0);
	for (i = 0; i < n; i++)
		found |= !strcmp(ev[i].event, event) && ev[i].name && !strcmp(ev[i].name, name);
	store_events_free(ev, n);
	return found;
}

/* rm of the newest and of the best, then undelete: latest, best_* and the
 * commit order come back as if nothing had been deleted. */
START_TEST(test_trash_undelete)
{
	const double loss[] = { 0.5, 0.2, 0.4 };
	int64_t ids[3], latest, best, id;
	struct ckpt_info ci, *arr;
	size_t n, i;

	set_policy(st, "trash=1h");
	for (i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "step-%zu", i + 1);
		ids[i] = tu_ckpt1(st, name, "w", name, strlen(name));
		ck_assert_int_eq(store_ckpt_set_metric(st, ids[i], "loss", loss[i]), 0);
	}
	ck_assert_int_eq(store_ckpt_get(st, ids[2], &ci), 0);
	int64_t seq = ci.commit_seq;
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_delete(st, ids[2], "user"), 0);
	ck_assert_int_eq(store_ckpt_delete(st, ids[1], "user"), 0);
	ck_assert_int_eq(ckpt_state(st, ids[2]), CKPT_TRASHED);
	ck_assert(has_event(st, "trash", "step-3"));
	ck_assert_int_eq(store_resolve_latest(st, &latest, NULL), 0);
	ck_assert_int_eq(latest, ids[0]);
	ck_assert_int_eq(store_resolve_best(st, "loss", -1, &best, NULL), 0);
	ck_assert_int_eq(best, ids[0]);
	/* the name is free: a new step-3 can be saved, and the trashed one is
	 * then step-3~2 */
	int64_t again = tu_ckpt1(st, "step-3", "w", "new", 3);
	ck_assert_int_eq(store_ckpt_delete(st, again, "user"), 0);
	ck_assert_int_eq(store_trash_list(st, &arr, &n), 0);
	ck_assert_uint_eq(n, 3);
	/* oldest trashed first; within one second by id */
	ck_assert_str_eq(arr[0].name, "step-2");
	ck_assert_str_eq(arr[1].name, "step-3~2");
	ck_assert_str_eq(arr[2].name, "step-3");
	ckpt_info_free_array(arr, n);
	ck_assert_int_eq(store_undelete(st, "step-3~2", &id), 0);
	ck_assert_int_eq(id, ids[2]);
	ck_assert_int_eq(store_undelete(st, "step-3", NULL), -EEXIST);
	ck_assert_int_eq(store_undelete(st, "nothing", NULL), -ENOENT);
	ck_assert_int_eq(store_undelete(st, "step-2", NULL), 0);
	ck_assert(has_event(st, "undelete", "step-2"));
	ck_assert_int_eq(store_resolve_latest(st, &latest, NULL), 0);
	ck_assert_int_eq(latest, ids[2]);
	ck_assert_int_eq(store_resolve_best(st, "loss", -1, &best, NULL), 0);
	ck_assert_int_eq(best, ids[1]);
	ck_assert_int_eq(store_ckpt_get(st, ids[2], &ci), 0);
	ck_assert_int_eq(ci.commit_seq, seq);
	ck_assert_int_eq(ci.state, CKPT_COMMITTED);
	ckpt_info_release(&ci);
	tu_expect(st, tu_lookup(st, "step-3", "w"), "step-3", 6);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
}
END_TEST

/* rm -rf removes the files first (each withdraws the checkpoint in place):
 * the trash still holds the whole checkpoint. */
START_TEST(test_trash_rm_rf)
{
	const char *files[] = { "a", "b" };
	const void *data[] = { "alpha", "beta" };
	const size_t lens[] = { 5, 4 };
	struct store_node root;
	struct ckpt_info ci;
	int64_t id, latest;

	set_policy(st, "trash=1h");
	tu_ckpt1(st, "old", "x", "x", 1);
	id = tu_ckpt(st, "run", files, data, lens, 2);
	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	ck_assert_int_eq(store_version_root(st, ci.version, &root), 0);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_node_unlink(st, root.id, "a"), 0);
	ck_assert_int_eq(store_node_unlink(st, root.id, "b"), 0);
	ck_assert_int_eq(store_ckpt_delete(st, id, "user"), 0);
	ck_assert_int_eq(ckpt_state(st, id), CKPT_DELETED); /* the withdrawn remains */
	ck_assert_int_eq(store_gc(st, false, NULL), 0);
	ck_assert_int_eq(store_undelete(st, "run", &id), 0);
	ck_assert_int_eq(store_resolve_latest(st, &latest, NULL), 0);
	ck_assert_int_eq(latest, id);
	tu_expect(st, tu_lookup(st, "run", "a"), "alpha", 5);
	tu_expect(st, tu_lookup(st, "run", "b"), "beta", 4);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
}
END_TEST

/* Retention moves to the trash and never counts what is there; the grace
 * period's end purges (event "purge") and frees the bytes. */
START_TEST(test_trash_retention_expire)
{
	struct retain_row *del;
	size_t nd, purged;
	uint64_t freed = 0;
	int64_t ids[4];
	int i;
	uint8_t *a = malloc(2 * CHUNK_SIZE);

	ck_assert_ptr_nonnull(a);
	set_policy(st, "trash=2s");
	set_policy(st, "keep_last=2");
	for (i = 0; i < 4; i++) {
		char name[32];

		snprintf(name, sizeof(name), "step-%d", i);
		tu_fill(a, 2 * CHUNK_SIZE, 7 + (uint64_t)i);
		ids[i] = tu_ckpt1(st, name, "w", a, 2 * CHUNK_SIZE);
	}
	ck_assert_int_eq(store_retain_run(st, &del, &nd), 0);
	ck_assert_uint_eq(nd, 2);
	retain_rows_free(del, nd);
	ck_assert_int_eq(ckpt_state(st, ids[0]), CKPT_TRASHED);
	ck_assert_int_eq(ckpt_state(st, ids[1]), CKPT_TRASHED);
	/* trashed ones are not kept: a second run deletes nothing more */
	ck_assert_int_eq(store_retain_run(st, &del, &nd), 0);
	ck_assert_uint_eq(nd, 0);
	retain_rows_free(del, nd);
	ck_assert_int_eq(ckpt_state(st, ids[2]), CKPT_COMMITTED);
	ck_assert_int_eq(store_trash_expire(st, &purged), 0);
	ck_assert_uint_eq(purged, 0);
	sleep(3);
	uint64_t would = 0;
	ck_assert_int_eq(store_gc_would_free(st, &would), 0);
	ck_assert_int_eq(store_trash_expire(st, &purged), 0);
	ck_assert_uint_eq(purged, 2);
	ck_assert_int_eq(ckpt_state(st, ids[0]), CKPT_DELETED);
	ck_assert(has_event(st, "purge", "step-0"));
	ck_assert_int_eq(store_gc(st, false, &freed), 0);
	ck_assert_uint_eq(freed, would);
	ck_assert_uint_ge(freed, 4 * CHUNK_SIZE);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
	free(a);
}
END_TEST

/* unique bytes equal what deleting frees, with chunks shared between
 * checkpoints and compressed ones; the dry run and reclaimable agree. */
START_TEST(test_unique_bytes_exact)
{
	size_t sz = 5 * CHUNK_SIZE;
	uint8_t *a = malloc(sz), *b = malloc(sz);
	struct ckpt_info ci;
	struct store_stats s0, s1;
	uint64_t ua, ub, freed, would, recl;
	int64_t ia, ib;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	tu_set_compress(st, "zstd");
	tu_fill(a, sz, 11);
	memcpy(b, a, sz);
	tu_fill(b + 2 * CHUNK_SIZE, CHUNK_SIZE, 12); /* one chunk differs */
	memset(b + 4 * CHUNK_SIZE, 0, CHUNK_SIZE);   /* one compressible */
	ia = tu_ckpt1(st, "a", "w", a, sz);
	ib = tu_ckpt1(st, "b", "w", b, sz);
	tu_ckpt1(st, "c", "w", b, CHUNK_SIZE); /* shares b's first chunk */
	ck_assert_int_eq(store_ckpt_get(st, ia, &ci), 0);
	ck_assert_int_eq(store_ckpt_unique_bytes(st, &ci, &ua), 0);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_get(st, ib, &ci), 0);
	ck_assert_int_eq(store_ckpt_unique_bytes(st, &ci, &ub), 0);
	ckpt_info_release(&ci);
	printf("unique: a %llu b %llu\n", (unsigned long long)ua, (unsigned long long)ub);
	ck_assert_uint_gt(ua, 0);
	ck_assert_uint_lt(ua, sz); /* 4 of a's 5 chunks are b's too */
	ck_assert_uint_gt(ub, 0);
	ck_assert_int_eq(store_stats(st, &s0), 0);
	ck_assert_int_eq(store_ckpt_delete(st, ia, "user"), 0); /* runs gc itself */
	ck_assert_int_eq(store_stats(st, &s1), 0);
	ck_assert_uint_eq(s0.stored_bytes - s1.stored_bytes, ua);
	/* b: what it alone holds now that a is gone, and the dry run of a gc
	 * after deleting it with trash, then of emptying the trash */
	ck_assert_int_eq(store_ckpt_get(st, ib, &ci), 0);
	ck_assert_int_eq(store_ckpt_unique_bytes(st, &ci, &ub), 0);
	ckpt_info_release(&ci);
	set_policy(st, "trash=1h");
	ck_assert_int_eq(store_ckpt_delete(st, ib, "user"), 0);
	ck_assert_int_eq(store_gc_would_free(st, &would), 0);
	ck_assert_uint_eq(would, 0); /* within its grace period */
	ck_assert_int_eq(store_reclaimable(st, &recl), 0);
	ck_assert_uint_eq(recl, ub);
	set_policy(st, "trash=0");
	ck_assert_int_eq(store_gc_would_free(st, &would), 0);
	ck_assert_uint_eq(would, ub);
	ck_assert_int_eq(store_stats(st, &s0), 0);
	ck_assert_int_eq(store_retain_run(st, NULL, NULL), 0); /* expires the trash */
	ck_assert_int_eq(store_gc(st, false, &freed), 0);
	ck_assert_int_eq(store_stats(st, &s1), 0);
	ck_assert_uint_eq(s0.stored_bytes - s1.stored_bytes, ub);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
	free(a);
	free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_gc");

	TU_TCASE(s, "verify", 120, test_corrupt_and_verify, test_verify_orphan_and_counts,
		 test_new_store_over_objects);
	TU_TCASE(s, "gc", 120, test_gc_reclaims, test_gc_same_millisecond);
	TU_TCASE(s, "retention", 120, test_retention);
	TU_TCASE(s, "enospc", 120, test_enospc);
	TU_TCASE(s, "trash", 120, test_trash_undelete, test_trash_rm_rf,
		 test_trash_retention_expire, test_unique_bytes_exact);
	return tu_run(s);
}
