/* Unit tests for core/retain.c: the contract's "Deletion and retention"
 * section (union of keep_last, keep_best per tracked metric, keep_every and
 * pins; never latest or a tracked best_* target; no policy deletes nothing)
 * and the promises in retain.h, checked on tables and by a property test. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "retain.h"

/* A row of a test table: up to two metrics, NAN meaning "absent". */
struct row {
	int64_t seq;
	int64_t step; /* -1: no step */
	bool pinned;
	double val_loss, acc;
};

#define ABSENT (-INFINITY) /* a value the tables never use as a metric */

struct table {
	struct retain_item *items;
	struct metric *metrics;
	struct retain_decision *out;
	size_t n;
};

static void table_build(struct table *t, const struct row *rows, size_t n)
{
	t->n = n;
	t->items = calloc(n ? n : 1, sizeof(*t->items));
	t->metrics = calloc(2 * (n ? n : 1), sizeof(*t->metrics));
	t->out = calloc(n ? n : 1, sizeof(*t->out));
	ck_assert(t->items && t->metrics && t->out);
	for (size_t i = 0; i < n; i++) {
		struct retain_item *it = &t->items[i];
		struct metric *m = &t->metrics[2 * i];

		it->id = 100 + (int64_t)i;
		it->commit_seq = rows[i].seq;
		it->has_step = rows[i].step >= 0;
		it->step = it->has_step ? rows[i].step : 0;
		it->pinned = rows[i].pinned;
		it->metrics = m;
		if (rows[i].val_loss != ABSENT) {
			snprintf(m[it->n_metrics].name, META_NAME_MAX, "val_loss");
			m[it->n_metrics++].value = rows[i].val_loss;
		}
		if (rows[i].acc != ABSENT) {
			snprintf(m[it->n_metrics].name, META_NAME_MAX, "acc");
			m[it->n_metrics++].value = rows[i].acc;
		}
	}
}

static void table_free(struct table *t)
{
	free(t->items);
	free(t->metrics);
	free(t->out);
}

static void decide(struct table *t, const struct policy *p)
{
	ck_assert_int_eq(retain_decide(p, t->items, t->n, t->out), 0);
	for (size_t i = 0; i < t->n; i++)
		ck_assert_int_eq(t->out[i].id, t->items[i].id);
}

static struct policy make_policy(char *const *words, size_t n)
{
	struct policy p;
	char why[256] = "";

	policy_init(&p);
	ck_assert_msg(policy_apply_words(&p, words, n, why, sizeof(why)) == 0, "%s", why);
	return p;
}
#define POLICY(...) \
	make_policy((char *[]){ __VA_ARGS__ }, sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *))

/* Asserts decision i: keep (1) / delete (0) and the rule text. */
#define ck_assert_decision(t, i, k, r)                                                          \
	do {                                                                                    \
		ck_assert_msg((t)->out[(i)].keep == (k), "row %d: keep=%d rule '%s'", (int)(i), \
			      (t)->out[(i)].keep, (t)->out[(i)].rule);                          \
		ck_assert_str_eq((t)->out[(i)].rule, (r));                                      \
	} while (0)

START_TEST(test_cmp_best)
{
	/* Value by direction. */
	ck_assert_int_lt(retain_cmp_best(0.1, true, 5, 1, 0.2, true, 1, 2, -1), 0);
	ck_assert_int_gt(retain_cmp_best(0.1, true, 5, 1, 0.2, true, 1, 2, 1), 0);
	ck_assert_int_gt(retain_cmp_best(0.3, true, 1, 1, 0.2, true, 1, 2, -1), 0);
	ck_assert_int_lt(retain_cmp_best(0.3, true, 1, 1, 0.2, true, 1, 2, 1), 0);
	/* Equal value: lower step wins, in either direction. */
	ck_assert_int_lt(retain_cmp_best(0.5, true, 10, 9, 0.5, true, 20, 1, -1), 0);
	ck_assert_int_lt(retain_cmp_best(0.5, true, 10, 9, 0.5, true, 20, 1, 1), 0);
	ck_assert_int_gt(retain_cmp_best(0.5, true, 30, 1, 0.5, true, 20, 9, 1), 0);
	/* No step sorts after a step. */
	ck_assert_int_lt(retain_cmp_best(0.5, true, 1000, 9, 0.5, false, 0, 1, -1), 0);
	ck_assert_int_gt(retain_cmp_best(0.5, false, 0, 1, 0.5, true, 1000, 9, -1), 0);
	/* Then the earlier commit. */
	ck_assert_int_lt(retain_cmp_best(0.5, true, 7, 3, 0.5, true, 7, 4, -1), 0);
	ck_assert_int_gt(retain_cmp_best(0.5, true, 7, 4, 0.5, true, 7, 3, 1), 0);
	ck_assert_int_lt(retain_cmp_best(0.5, false, 0, 3, 0.5, false, 99, 4, 1), 0);
	ck_assert_int_eq(retain_cmp_best(0.5, true, 7, 4, 0.5, true, 7, 4, 1), 0);
	/* NaN is never better than a number, whatever the direction. */
	ck_assert_int_gt(retain_cmp_best(NAN, true, 1, 1, 1e300, true, 2, 2, -1), 0);
	ck_assert_int_gt(retain_cmp_best(NAN, true, 1, 1, -1e300, true, 2, 2, 1), 0);
	ck_assert_int_lt(retain_cmp_best(-1e300, true, 2, 2, NAN, true, 1, 1, 1), 0);
	/* Antisymmetric. */
	ck_assert_int_gt(retain_cmp_best(0.2, true, 1, 2, 0.1, true, 5, 1, -1), 0);
}
END_TEST

START_TEST(test_no_policy_keeps_all)
{
	static const struct row rows[] = {
		{ 3, 300, false, 0.3, ABSENT }, { 1, 100, false, 0.1, ABSENT },
		{ 2, 200, true, 0.2, ABSENT },	{ 5, -1, false, ABSENT, ABSENT },
		{ 4, 400, false, NAN, 0.9 },
	};
	struct table t;
	struct policy p;

	table_build(&t, rows, 5);
	policy_init(&p);
	decide(&t, &p);
	ck_assert_decision(&t, 0, 1, "no policy");
	ck_assert_decision(&t, 1, 1, "no policy");
	ck_assert_decision(&t, 2, 1, "pinned");
	ck_assert_decision(&t, 3, 1, "latest");
	ck_assert_decision(&t, 4, 1, "no policy");

	/* Tracked metrics alone and keep_best without metrics delete nothing. */
	p = POLICY("metric=val_loss:min", "keep_best=0");
	decide(&t, &p);
	for (size_t i = 0; i < t.n; i++)
		ck_assert(t.out[i].keep);
	ck_assert_decision(&t, 1, 1, "best_val_loss");
	ck_assert_decision(&t, 0, 1, "no policy");
	p = POLICY("keep_best=3");
	decide(&t, &p);
	for (size_t i = 0; i < t.n; i++)
		ck_assert(t.out[i].keep);
	table_free(&t);
}
END_TEST

START_TEST(test_empty_and_args)
{
	struct policy p;
	struct retain_item it = { .id = 1, .commit_seq = 1 };
	struct retain_decision d;

	policy_init(&p);
	ck_assert_int_eq(retain_decide(&p, NULL, 0, NULL), 0);
	ck_assert_int_eq(retain_decide(NULL, &it, 1, &d), -EINVAL);
	ck_assert_int_eq(retain_decide(&p, NULL, 1, &d), -EINVAL);
	ck_assert_int_eq(retain_decide(&p, &it, 1, NULL), -EINVAL);
	/* A single checkpoint is the latest: never deleted. */
	p = POLICY("keep_last=1", "keep_every=7");
	it.has_step = true;
	it.step = 3;
	ck_assert_int_eq(retain_decide(&p, &it, 1, &d), 0);
	ck_assert(d.keep);
	ck_assert_int_eq(d.id, 1);
	ck_assert_str_eq(d.rule, "latest");
}
END_TEST

START_TEST(test_keep_last_commit_order)
{
	/* "Newest" is commit order, not step and not table order. */
	static const struct row rows[] = {
		{ 10, 5000, false, ABSENT, ABSENT }, { 60, 100, false, ABSENT, ABSENT },
		{ 30, 3000, false, ABSENT, ABSENT }, { 50, 200, false, ABSENT, ABSENT },
		{ 20, 9000, false, ABSENT, ABSENT }, { 40, 4000, false, ABSENT, ABSENT },
	};
	struct table t;
	struct policy p = POLICY("keep_last=3");

	table_build(&t, rows, 6);
	decide(&t, &p);
	ck_assert_decision(&t, 1, 1, "latest");
	ck_assert_decision(&t, 3, 1, "keep_last=3");
	ck_assert_decision(&t, 5, 1, "keep_last=3");
	ck_assert_decision(&t, 0, 0, "policy: not kept by keep_last=3");
	ck_assert_decision(&t, 2, 0, "policy: not kept by keep_last=3");
	ck_assert_decision(&t, 4, 0, "policy: not kept by keep_last=3");

	/* keep_last larger than the table keeps everything. */
	p = POLICY("keep_last=100");
	decide(&t, &p);
	for (size_t i = 0; i < t.n; i++)
		ck_assert(t.out[i].keep);
	table_free(&t);
}
END_TEST

START_TEST(test_keep_best_min_max)
{
	static const struct row rows[] = {
		/* seq step pin val_loss acc */
		{ 1, 100, false, 0.90, 0.50 }, { 2, 200, false, 0.40, 0.70 },
		{ 3, 300, false, 0.20, 0.65 }, { 4, 400, false, 0.30, 0.90 },
		{ 5, 500, false, 0.60, 0.60 }, { 6, 600, false, 0.70, 0.55 },
	};
	struct table t;
	struct policy p;

	table_build(&t, rows, 6);
	/* min: the two lowest losses. */
	p = POLICY("keep_best=2", "metric=val_loss:min");
	decide(&t, &p);
	ck_assert_decision(&t, 2, 1, "best_val_loss");
	ck_assert_decision(&t, 3, 1, "keep_best=2:val_loss");
	ck_assert_decision(&t, 5, 1, "latest");
	ck_assert_decision(&t, 0, 0, "policy: not kept by keep_best=2 (val_loss:min)");
	ck_assert_decision(&t, 1, 0, "policy: not kept by keep_best=2 (val_loss:min)");
	ck_assert_decision(&t, 4, 0, "policy: not kept by keep_best=2 (val_loss:min)");
	/* max on the same column keeps the other end. */
	p = POLICY("keep_best=2", "metric=val_loss:max");
	decide(&t, &p);
	ck_assert_decision(&t, 0, 1, "best_val_loss");
	ck_assert_decision(&t, 5, 1, "latest");
	ck_assert_decision(&t, 4, 0, "policy: not kept by keep_best=2 (val_loss:max)");
	ck_assert(!t.out[1].keep && !t.out[2].keep && !t.out[3].keep);
	p = POLICY("keep_best=3", "metric=val_loss:max");
	decide(&t, &p);
	ck_assert_decision(&t, 4, 1, "keep_best=3:val_loss");
	ck_assert(!t.out[1].keep);
	/* A max metric. */
	p = POLICY("keep_best=2", "metric=acc:max");
	decide(&t, &p);
	ck_assert_decision(&t, 3, 1, "best_acc");
	ck_assert_decision(&t, 1, 1, "keep_best=2:acc");
	ck_assert_decision(&t, 5, 1, "latest");
	ck_assert(!t.out[0].keep && !t.out[2].keep && !t.out[4].keep);
	/* Two metrics: the union of both top-K sets. */
	p = POLICY("keep_best=1", "metric=val_loss:min", "metric=acc:max");
	decide(&t, &p);
	ck_assert_decision(&t, 2, 1, "best_val_loss");
	ck_assert_decision(&t, 3, 1, "best_acc");
	ck_assert_decision(&t, 0, 0, "policy: not kept by keep_best=1 (val_loss:min, acc:max)");
	ck_assert(!t.out[1].keep && !t.out[4].keep);
	table_free(&t);
}
END_TEST

START_TEST(test_non_monotone)
{
	/* Loss falls, then overfits: the best are in the middle, not the last. */
	static const struct row rows[] = {
		{ 1, 1000, false, 1.0, ABSENT },  { 2, 2000, false, 0.5, ABSENT },
		{ 3, 3000, false, 0.3, ABSENT },  { 4, 4000, false, 0.35, ABSENT },
		{ 5, 5000, false, 0.6, ABSENT },  { 6, 6000, false, 0.8, ABSENT },
		{ 7, 7000, false, 0.31, ABSENT }, { 8, 8000, false, 0.9, ABSENT },
	};
	struct table t;
	struct policy p = POLICY("keep_best=3", "metric=val_loss:min");

	table_build(&t, rows, 8);
	decide(&t, &p);
	ck_assert_decision(&t, 2, 1, "best_val_loss");
	ck_assert_decision(&t, 6, 1, "keep_best=3:val_loss");
	ck_assert_decision(&t, 3, 1, "keep_best=3:val_loss");
	ck_assert_decision(&t, 7, 1, "latest");
	for (size_t i = 0; i < 8; i++)
		if (i != 2 && i != 3 && i != 6 && i != 7)
			ck_assert_msg(!t.out[i].keep, "row %zu kept: %s", i, t.out[i].rule);
	table_free(&t);
}
END_TEST

START_TEST(test_ties)
{
	static const struct row rows[] = {
		{ 1, 300, false, 0.2, ABSENT }, /* tie, higher step */
		{ 2, 100, false, 0.2, ABSENT }, /* tie, lowest step: best */
		{ 3, -1, false, 0.2, ABSENT },	/* tie, no step: after any step */
		{ 4, 200, false, 0.2, ABSENT }, /* tie, middle step */
		{ 5, 200, false, 0.2, ABSENT }, /* same step as seq 4, later commit */
		{ 6, 900, false, 0.9, ABSENT }, /* latest */
		{ 7, -1, false, 0.2, ABSENT },	/* tie, no step, later commit */
		{ 8, 950, false, 1.0, ABSENT }, /* the real latest */
	};
	struct table t;
	struct policy p;

	table_build(&t, rows, 8);
	p = POLICY("keep_best=1", "metric=val_loss:min");
	decide(&t, &p);
	ck_assert_decision(&t, 1, 1, "best_val_loss");
	ck_assert_decision(&t, 7, 1, "latest");
	for (size_t i = 0; i < 8; i++)
		if (i != 1 && i != 7)
			ck_assert_msg(!t.out[i].keep, "row %zu kept: %s", i, t.out[i].rule);
	/* Order: step 100, 200 (seq 4), 200 (seq 5), 300, no step (seq 3), (seq 7). */
	p = POLICY("keep_best=3", "metric=val_loss:max");
	decide(&t, &p);
	ck_assert_decision(&t, 7, 1, "latest"); /* also the max: "latest" comes first */
	ck_assert_decision(&t, 5, 1, "keep_best=3:val_loss");
	ck_assert_decision(&t, 1, 1, "keep_best=3:val_loss");
	ck_assert(!t.out[3].keep);
	p = POLICY("keep_best=4", "metric=val_loss:min");
	decide(&t, &p);
	ck_assert_decision(&t, 1, 1, "best_val_loss");
	ck_assert_decision(&t, 3, 1, "keep_best=4:val_loss");
	ck_assert_decision(&t, 4, 1, "keep_best=4:val_loss");
	ck_assert_decision(&t, 0, 1, "keep_best=4:val_loss");
	ck_assert(!t.out[2].keep && !t.out[6].keep && !t.out[5].keep);
	p = POLICY("keep_best=5", "metric=val_loss:min");
	decide(&t, &p);
	ck_assert_decision(&t, 2, 1, "keep_best=5:val_loss");
	ck_assert(!t.out[6].keep);
	table_free(&t);
}
END_TEST

START_TEST(test_lacking_metric_and_nan)
{
	static const struct row rows[] = {
		{ 1, 100, false, ABSENT, 0.1 }, { 2, 200, false, 0.5, ABSENT },
		{ 3, 300, false, NAN, ABSENT }, { 4, 400, false, ABSENT, ABSENT },
		{ 5, 500, false, 0.7, ABSENT }, { 6, 600, false, ABSENT, 0.3 },
	};
	struct table t;
	struct policy p = POLICY("keep_best=10", "metric=val_loss:min");

	table_build(&t, rows, 6);
	decide(&t, &p);
	/* Only checkpoints with a (non-NaN) value count; K beyond them keeps no more. */
	ck_assert_decision(&t, 1, 1, "best_val_loss");
	ck_assert_decision(&t, 4, 1, "keep_best=10:val_loss");
	ck_assert_decision(&t, 5, 1, "latest");
	ck_assert_decision(&t, 0, 0, "policy: not kept by keep_best=10 (val_loss:min)");
	ck_assert_decision(&t, 2, 0, "policy: not kept by keep_best=10 (val_loss:min)");
	ck_assert_decision(&t, 3, 0, "policy: not kept by keep_best=10 (val_loss:min)");
	/* A metric nobody has: nothing kept by it. */
	p = POLICY("keep_best=2", "metric=bleu:max");
	decide(&t, &p);
	for (size_t i = 0; i < 5; i++)
		ck_assert(!t.out[i].keep);
	ck_assert_decision(&t, 5, 1, "latest");
	table_free(&t);
}
END_TEST

START_TEST(test_nan_only)
{
	static const struct row rows[] = {
		{ 1, 100, false, NAN, ABSENT },
		{ 2, 200, false, NAN, ABSENT },
		{ 3, 300, false, ABSENT, ABSENT },
	};
	struct table t;
	struct policy p = POLICY("keep_best=1", "metric=val_loss:max", "keep_last=1");

	table_build(&t, rows, 3);
	decide(&t, &p);
	ck_assert_decision(&t, 0, 0, "policy: not kept by keep_last=1, keep_best=1 (val_loss:max)");
	ck_assert(!t.out[1].keep);
	ck_assert_decision(&t, 2, 1, "latest");
	table_free(&t);
}
END_TEST

START_TEST(test_keep_every)
{
	static const struct row rows[] = {
		{ 1, 0, false, ABSENT, ABSENT },    { 2, 500, false, ABSENT, ABSENT },
		{ 3, 1000, false, ABSENT, ABSENT }, { 4, 1500, false, ABSENT, ABSENT },
		{ 5, -1, false, ABSENT, ABSENT },   { 6, 2000, false, ABSENT, ABSENT },
		{ 7, 2001, false, ABSENT, ABSENT }, { 8, 3000000, false, ABSENT, ABSENT },
		{ 9, 2500, false, ABSENT, ABSENT },
	};
	struct table t;
	struct policy p = POLICY("keep_every=1000");

	table_build(&t, rows, 9);
	decide(&t, &p);
	ck_assert_decision(&t, 0, 1, "keep_every=1000"); /* 0 is a multiple */
	ck_assert_decision(&t, 2, 1, "keep_every=1000");
	ck_assert_decision(&t, 5, 1, "keep_every=1000");
	ck_assert_decision(&t, 7, 1, "keep_every=1000");
	ck_assert_decision(&t, 8, 1, "latest");
	ck_assert_decision(&t, 1, 0, "policy: not kept by keep_every=1000");
	ck_assert_decision(&t, 3, 0, "policy: not kept by keep_every=1000");
	ck_assert_decision(&t, 4, 0, "policy: not kept by keep_every=1000"); /* no step */
	ck_assert_decision(&t, 6, 0, "policy: not kept by keep_every=1000");
	/* The largest keep_every: only step 0. */
	p = POLICY("keep_every=2147483648");
	decide(&t, &p);
	ck_assert_decision(&t, 0, 1, "keep_every=2147483648");
	ck_assert(!t.out[7].keep && !t.out[2].keep);
	table_free(&t);
}
END_TEST

START_TEST(test_union_and_rule_order)
{
	static const struct row rows[] = {
		/* seq step pin val_loss */
		{ 1, 1000, false, 0.9, ABSENT },    /* keep_every */
		{ 2, 1100, false, 0.1, ABSENT },    /* best */
		{ 3, 1200, false, 0.3, ABSENT },    /* keep_best=2 */
		{ 4, 1300, true, 0.8, ABSENT },	    /* pinned */
		{ 5, 1400, false, 0.7, ABSENT },    /* deleted */
		{ 6, 2000, false, 0.6, ABSENT },    /* keep_every */
		{ 7, 1700, false, 0.5, ABSENT },    /* keep_last */
		{ 8, 1800, false, 0.4, ABSENT },    /* keep_last (0.4 is third best) */
		{ 9, 1900, false, ABSENT, ABSENT }, /* latest */
	};
	struct table t;
	struct policy p = POLICY("keep_last=3", "keep_best=2", "metric=val_loss:min",
				 "keep_every=1000");

	table_build(&t, rows, 9);
	decide(&t, &p);
	ck_assert_decision(&t, 8, 1, "latest");
	ck_assert_decision(&t, 7, 1, "keep_last=3");
	ck_assert_decision(&t, 6, 1, "keep_last=3");
	ck_assert_decision(&t, 5, 1, "keep_every=1000");
	ck_assert_decision(
		&t, 4, 0,
		"policy: not kept by keep_last=3, keep_best=2 (val_loss:min), keep_every=1000");
	ck_assert_decision(&t, 3, 1, "pinned");
	ck_assert_decision(&t, 2, 1, "keep_best=2:val_loss");
	ck_assert_decision(&t, 1, 1, "best_val_loss");
	ck_assert_decision(&t, 0, 1, "keep_every=1000");

	/* Precedence when several rules keep one checkpoint. */
	p = POLICY("keep_last=9", "keep_best=9", "metric=val_loss:min", "keep_every=100");
	decide(&t, &p);
	ck_assert_decision(&t, 1, 1, "best_val_loss"); /* best before keep_last */
	ck_assert_decision(&t, 3, 1, "pinned");	       /* pinned before keep_last */
	ck_assert_decision(&t, 0, 1, "keep_last=9");   /* keep_last before keep_best */
	p = POLICY("keep_best=9", "metric=val_loss:min", "keep_every=100");
	decide(&t, &p);
	ck_assert_decision(&t, 0, 1, "keep_best=9:val_loss"); /* keep_best before keep_every */
	table_free(&t);
}
END_TEST

START_TEST(test_latest_pinned_best_invariants)
{
	/* The latest is the worst by the metric, pinned ones are old and bad,
	 * the best is old: the tightest policy deletes none of them. */
	static const struct row rows[] = {
		{ 1, 100, true, 9.0, 0.0 },  { 2, 200, false, 0.1, 0.2 },
		{ 3, 300, false, 5.0, 0.9 }, { 4, 400, true, 8.0, 0.1 },
		{ 5, 500, false, 4.0, 0.3 }, { 6, 600, false, 99.0, 0.0 },
	};
	struct table t;
	struct policy p = POLICY("keep_last=1", "metric=val_loss:min", "metric=acc:max");

	table_build(&t, rows, 6);
	decide(&t, &p);
	ck_assert_decision(&t, 5, 1, "latest");
	ck_assert_decision(&t, 0, 1, "pinned");
	ck_assert_decision(&t, 3, 1, "pinned");
	ck_assert_decision(&t, 1, 1, "best_val_loss");
	ck_assert_decision(&t, 2, 1, "best_acc");
	ck_assert_decision(&t, 4, 0, "policy: not kept by keep_last=1");
	/* Untracked metrics have a best_* entry but retention does not protect it. */
	p = POLICY("keep_last=1", "metric=acc:max");
	decide(&t, &p);
	ck_assert(!t.out[1].keep);
	ck_assert_decision(&t, 2, 1, "best_acc");
	table_free(&t);
}
END_TEST

START_TEST(test_delete_rule_cut)
{
	static const struct row rows[] = {
		{ 1, 1, false, 0.5, ABSENT },
		{ 2, 2, false, 0.1, ABSENT },
		{ 3, 3, false, 0.9, ABSENT },
	};
	struct table t;
	struct policy p;
	char why[256], v[200];

	policy_init(&p);
	ck_assert_int_eq(policy_set(&p, "keep_best", "1", why, sizeof(why)), 0);
	ck_assert_int_eq(policy_set(&p, "keep_last", "1", why, sizeof(why)), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(v, sizeof(v), "a_rather_long_metric_name_number_%d:max", i);
		ck_assert_int_eq(policy_set(&p, "metric", v, why, sizeof(why)), 0);
	}
	ck_assert_int_eq(policy_set(&p, "metric", "val_loss:min", why, sizeof(why)), 0);
	table_build(&t, rows, 3);
	decide(&t, &p);
	ck_assert_decision(&t, 1, 1, "best_val_loss");
	ck_assert(!t.out[0].keep);
	ck_assert_uint_lt(strlen(t.out[0].rule), RETAIN_RULE_MAX);
	ck_assert_uint_gt(strlen(t.out[0].rule), RETAIN_RULE_MAX - 10);
	ck_assert(strncmp(t.out[0].rule, "policy: not kept by keep_last=1, keep_best=1 (", 46) ==
		  0);
	ck_assert_str_eq(t.out[0].rule + strlen(t.out[0].rule) - 3, "...");
	table_free(&t);
}
END_TEST

/* ---- property test: random tables, random policies ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	/* xorshift64*: reproducible from the printed seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 32) % n;
}

static bool item_value(const struct retain_item *it, const char *name, double *v)
{
	for (size_t i = 0; i < it->n_metrics; i++)
		if (!strcmp(it->metrics[i].name, name)) {
			*v = it->metrics[i].value;
			return true;
		}
	return false;
}

/* Rank of item i by metric j (0 = best), or -1 when it does not compete.
 * Brute force: the number of competitors strictly better. */
static long best_rank(const struct policy *p, size_t j, const struct retain_item *items, size_t n,
		      size_t i)
{
	double vi, vk;
	long r = 0;

	if (!item_value(&items[i], p->metrics[j].name, &vi) || isnan(vi))
		return -1;
	for (size_t k = 0; k < n; k++) {
		if (k == i || !item_value(&items[k], p->metrics[j].name, &vk) || isnan(vk))
			continue;
		if (retain_cmp_best(vk, items[k].has_step, items[k].step, items[k].commit_seq, vi,
				    items[i].has_step, items[i].step, items[i].commit_seq,
				    p->metrics[j].dir) < 0)
			r++;
	}
	return r;
}

static void check_invariants(const struct policy *p, const struct retain_item *items, size_t n,
			     const struct retain_decision *out, uint64_t seed)
{
	bool off = policy_retention_off(p);

	for (size_t i = 0; i < n; i++) {
		const struct retain_item *it = &items[i];
		char want[RETAIN_RULE_MAX] = "";
		long newer = 0;
		bool latest, in_last, in_every;
		long best_j = -1, kbest_j = -1;

		for (size_t k = 0; k < n; k++)
			if (items[k].commit_seq > it->commit_seq)
				newer++;
		latest = newer == 0;
		in_last = p->keep_last && newer < (long)p->keep_last;
		in_every = p->keep_every && it->has_step && it->step % (int64_t)p->keep_every == 0;
		for (size_t j = 0; j < p->n_metrics; j++) {
			long r = best_rank(p, j, items, n, i);

			if (r == 0 && best_j < 0)
				best_j = (long)j;
			if (r >= 0 && r < (long)p->keep_best && kbest_j < 0)
				kbest_j = (long)j;
		}
		ck_assert_int_eq(out[i].id, it->id);
		/* Invariants: never latest, pinned, or a tracked best. */
		if (latest || it->pinned || best_j >= 0)
			ck_assert_msg(out[i].keep, "seed %llu row %zu: protected one deleted (%s)",
				      (unsigned long long)seed, i, out[i].rule);
		/* A delete is outside every active rule's set; a keep is inside one. */
		if (in_last || kbest_j >= 0 || in_every || off)
			ck_assert_msg(out[i].keep,
				      "seed %llu row %zu: kept by a rule, deleted (%s)",
				      (unsigned long long)seed, i, out[i].rule);
		if (!out[i].keep)
			ck_assert_msg(strncmp(out[i].rule, "policy: not kept by ", 20) == 0,
				      "seed %llu row %zu: %s", (unsigned long long)seed, i,
				      out[i].rule);
		/* The rule is the first that keeps, in retain.h's order. */
		if (latest)
			snprintf(want, sizeof(want), "latest");
		else if (it->pinned)
			snprintf(want, sizeof(want), "pinned");
		else if (best_j >= 0)
			snprintf(want, sizeof(want), "best_%s", p->metrics[best_j].name);
		else if (in_last)
			snprintf(want, sizeof(want), "keep_last=%u", (unsigned)p->keep_last);
		else if (kbest_j >= 0)
			snprintf(want, sizeof(want), "keep_best=%u:%s", (unsigned)p->keep_best,
				 p->metrics[kbest_j].name);
		else if (in_every)
			snprintf(want, sizeof(want), "keep_every=%llu",
				 (unsigned long long)p->keep_every);
		else if (off)
			snprintf(want, sizeof(want), "no policy");
		if (want[0]) {
			ck_assert_msg(out[i].keep, "seed %llu row %zu", (unsigned long long)seed,
				      i);
			ck_assert_msg(!strcmp(out[i].rule, want), "seed %llu row %zu: '%s' != '%s'",
				      (unsigned long long)seed, i, out[i].rule, want);
		} else {
			ck_assert_msg(!out[i].keep, "seed %llu row %zu: kept by no rule (%s)",
				      (unsigned long long)seed, i, out[i].rule);
		}
	}
}

START_TEST(test_property_random)
{
	static const char *const names[] = { "val_loss", "acc", "bleu" };
	enum { N_MAX = 64, ROUNDS = 3000 };
	struct retain_item items[N_MAX];
	struct metric metrics[N_MAX][3];
	struct retain_decision out[N_MAX];
	int64_t seqs[N_MAX];
	const char *env = getenv("CKPT_TEST_SEED"); /* to replay a failure */
	uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);

	printf("retain property test seed %llu\n", (unsigned long long)seed);
	rng_state = seed * 2 + 1;
	for (int round = 0; round < ROUNDS; round++) {
		struct policy p;
		size_t n = 1 + rnd(N_MAX), i, j;

		/* Unique commit_seqs in shuffled order, as the index gives them. */
		for (i = 0; i < n; i++)
			seqs[i] = (i ? seqs[i - 1] : 0) + 1 + (int64_t)rnd(3);
		for (i = n - 1; i > 0; i--) {
			size_t k = rnd((uint32_t)i + 1);
			int64_t s = seqs[i];

			seqs[i] = seqs[k], seqs[k] = s;
		}
		for (i = 0; i < n; i++) {
			struct retain_item *it = &items[i];

			memset(it, 0, sizeof(*it));
			it->id = (int64_t)i * 7 + 3;
			it->commit_seq = seqs[i];
			it->has_step = rnd(5) != 0;
			/* Few distinct values and steps: plenty of ties. */
			it->step = it->has_step ? (int64_t)rnd(8) * 50 : 0;
			it->pinned = rnd(10) == 0;
			it->metrics = metrics[i];
			for (j = 0; j < 3; j++) {
				if (rnd(4) == 0)
					continue;
				snprintf(metrics[i][it->n_metrics].name, META_NAME_MAX, "%s",
					 names[j]);
				metrics[i][it->n_metrics++].value = rnd(12) == 0
					? NAN
					: (double)rnd(6) / 4.0;
			}
		}
		policy_init(&p);
		p.keep_last = rnd(3) ? 0 : rnd(6);
		p.keep_best = rnd(3) ? rnd(4) : 0;
		p.keep_every = rnd(3) ? 0 : (uint64_t)(1 + rnd(4)) * 50;
		p.n_metrics = rnd(4);
		for (j = 0; j < p.n_metrics; j++) {
			/* Random order of the names, and sometimes one nobody has. */
			snprintf(p.metrics[j].name, META_NAME_MAX, "%s",
				 rnd(8) ? names[(j + round) % 3] : "absent");
			p.metrics[j].dir = rnd(2) ? 1 : -1;
		}
		ck_assert_int_eq(retain_decide(&p, items, n, out), 0);
		check_invariants(&p, items, n, out, seed);
	}
}
END_TEST

START_TEST(test_large_table)
{
	enum { N = 100000 };
	struct retain_item *items = calloc(N, sizeof(*items));
	struct metric *metrics = calloc(2 * (size_t)N, sizeof(*metrics));
	struct retain_decision *out = calloc(N, sizeof(*out));
	struct policy p = POLICY("keep_last=10", "keep_best=5", "metric=val_loss:min",
				 "metric=acc:max", "keep_every=10000");
	struct timespec t0, t1;
	size_t kept = 0;

	ck_assert(items && metrics && out);
	for (size_t i = 0; i < N; i++) {
		/* Table in reverse commit order; metrics pseudo-random, all distinct. */
		items[i].id = (int64_t)i;
		items[i].commit_seq = (int64_t)(N - i);
		items[i].has_step = true;
		items[i].step = (int64_t)(N - i) * 10;
		items[i].metrics = &metrics[2 * i];
		items[i].n_metrics = 2;
		snprintf(metrics[2 * i].name, META_NAME_MAX, "val_loss");
		metrics[2 * i].value = (double)((i * 7919) % N) / N;
		snprintf(metrics[2 * i + 1].name, META_NAME_MAX, "acc");
		metrics[2 * i + 1].value = (double)((i * 104729) % N) / N;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(retain_decide(&p, items, N, out), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("retain_decide: %d items, 2 tracked metrics: %.1f ms\n", N,
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	/* Oracle: value ranks are known by construction (both columns are
	 * permutations of k/N), so the kept set is exact. */
	for (size_t i = 0; i < N; i++) {
		size_t val_rank = (i * 7919) % N, acc_rank = N - 1 - (i * 104729) % N;
		bool want = i < 10 || (N - i) % 1000 == 0 || val_rank < 5 || acc_rank < 5;

		ck_assert_msg(out[i].keep == want, "item %zu: %s", i, out[i].rule);
		kept += out[i].keep;
		if (acc_rank == 0)
			ck_assert_str_eq(out[i].rule, "best_acc");
	}
	printf("retain_decide: kept %zu of %d\n", kept, N);
	ck_assert_uint_ge(kept, 10 + 99);
	ck_assert_uint_le(kept, 10 + 99 + 9);
	ck_assert_str_eq(out[0].rule, "latest"); /* also val_loss's best */
	ck_assert_str_eq(out[9].rule, "keep_last=10");
	ck_assert_str_eq(out[N - 1000].rule, "keep_every=10000");
	ck_assert_str_eq(out[10].rule,
			 "policy: not kept by keep_last=10, keep_best=5 (val_loss:min, acc:max), "
			 "keep_every=10000");
	free(items);
	free(metrics);
	free(out);
}
END_TEST

static Suite *retain_suite(void)
{
	Suite *s = suite_create("retain");
	TCase *tc;

	tc = tcase_create("rules");
	tcase_add_test(tc, test_cmp_best);
	tcase_add_test(tc, test_no_policy_keeps_all);
	tcase_add_test(tc, test_empty_and_args);
	tcase_add_test(tc, test_keep_last_commit_order);
	tcase_add_test(tc, test_keep_best_min_max);
	tcase_add_test(tc, test_non_monotone);
	tcase_add_test(tc, test_ties);
	tcase_add_test(tc, test_lacking_metric_and_nan);
	tcase_add_test(tc, test_nan_only);
	tcase_add_test(tc, test_keep_every);
	tcase_add_test(tc, test_union_and_rule_order);
	tcase_add_test(tc, test_latest_pinned_best_invariants);
	tcase_add_test(tc, test_delete_rule_cut);
	suite_add_tcase(s, tc);

	tc = tcase_create("property");
	tcase_add_test(tc, test_property_random);
	tcase_add_test(tc, test_large_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(retain_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
