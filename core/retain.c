/* Retention decisions: which committed checkpoints a policy keeps, and why.
 * A pure function over a table; O(n log n) per tracked metric. See retain.h. */
#include "retain.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tables come from the index; this bounds the allocations below. */
#define RETAIN_MAX_ITEMS ((size_t)1 << 28)

int retain_cmp_best(double va, bool a_has_step, int64_t a_step, int64_t a_seq, double vb,
		    bool b_has_step, int64_t b_step, int64_t b_seq, int dir)
{
	bool a_nan = isnan(va), b_nan = isnan(vb);

	/* NaN is never better than a number. */
	if (a_nan != b_nan)
		return a_nan ? 1 : -1;
	if (!a_nan && va != vb) {
		if (dir < 0)
			return va < vb ? -1 : 1;
		return va > vb ? -1 : 1;
	}
	if (a_has_step != b_has_step)
		return a_has_step ? -1 : 1;
	if (a_has_step && a_step != b_step)
		return a_step < b_step ? -1 : 1;
	if (a_seq != b_seq)
		return a_seq < b_seq ? -1 : 1;
	return 0;
}

struct retain_cand {
	double value;
	bool has_step;
	int64_t step;
	int64_t seq;
	size_t idx;
};

static int retain_cand_cmp_dir(const struct retain_cand *a, const struct retain_cand *b, int dir)
{
	int c = retain_cmp_best(a->value, a->has_step, a->step, a->seq, b->value, b->has_step,
				b->step, b->seq, dir);

	/* Full order (qsort is not stable): equal candidates by table position. */
	if (c == 0 && a->idx != b->idx)
		c = a->idx < b->idx ? -1 : 1;
	return c;
}

static int retain_cand_cmp_min(const void *a, const void *b)
{
	return retain_cand_cmp_dir(a, b, -1);
}

static int retain_cand_cmp_max(const void *a, const void *b)
{
	return retain_cand_cmp_dir(a, b, 1);
}

/* Newest first: larger commit_seq, then table position. */
static int retain_cand_cmp_newest(const void *pa, const void *pb)
{
	const struct retain_cand *a = pa, *b = pb;

	if (a->seq != b->seq)
		return a->seq > b->seq ? -1 : 1;
	if (a->idx != b->idx)
		return a->idx < b->idx ? -1 : 1;
	return 0;
}

static bool retain_metric_value(const struct retain_item *it, const char *name, double *out)
{
	size_t i;

	if (!it->metrics)
		return false;
	for (i = 0; i < it->n_metrics; i++) {
		if (!strcmp(it->metrics[i].name, name)) {
			*out = it->metrics[i].value;
			return true;
		}
	}
	return false;
}

static bool retain_keep_every(const struct retain_item *it, uint64_t every)
{
	if (!every || !it->has_step)
		return false;
	/* A modulus beyond int64 divides only step 0. */
	if (every > (uint64_t)INT64_MAX)
		return it->step == 0;
	return it->step % (int64_t)every == 0;
}

/* "policy: not kept by keep_last=3, keep_best=2 (val_loss:min), keep_every=1000";
 * cut with "..." when the metric list does not fit. */
static void retain_delete_rule(const struct policy *p, size_t n_metrics, char *out, size_t len)
{
	size_t o, i;
	const char *sep = "";

	o = (size_t)snprintf(out, len, "policy: not kept by");
	if (p->keep_last) {
		o += (size_t)snprintf(out + o, len - o, " keep_last=%u", (unsigned)p->keep_last);
		sep = ",";
	}
	if (p->keep_best && n_metrics) {
		o += (size_t)snprintf(out + o, len - o, "%s keep_best=%u (", sep,
				      (unsigned)p->keep_best);
		for (i = 0; i < n_metrics && o < len; i++)
			o += (size_t)snprintf(out + o, len - o, "%s%s:%s", i ? ", " : "",
					      p->metrics[i].name,
					      p->metrics[i].dir < 0 ? "min" : "max");
		if (o < len)
			o += (size_t)snprintf(out + o, len - o, ")");
		sep = ",";
	}
	if (p->keep_every && o < len)
		o += (size_t)snprintf(out + o, len - o, "%s keep_every=%llu", sep,
				      (unsigned long long)p->keep_every);
	if (o >= len && len > 4)
		memcpy(out + len - 4, "...", 4);
}

/* What each item is marked as, before the rules are applied in order. */
struct retain_marks {
	struct retain_cand *cand; /* scratch for the sorts */
	int32_t *best_of;	  /* metric whose best the item is, or -1 */
	int32_t *kbest_of;	  /* metric whose keep_best the item is in, or -1 */
	bool *in_last;		  /* among the keep_last newest */
	size_t latest;		  /* index of the latest item */
};

static void marks_free(struct retain_marks *mk)
{
	free(mk->cand);
	free(mk->best_of);
	free(mk->kbest_of);
	free(mk->in_last);
}

static int marks_alloc(struct retain_marks *mk, size_t n)
{
	size_t i;

	*mk = (struct retain_marks){ 0 };
	mk->cand = calloc(n, sizeof(*mk->cand));
	mk->best_of = malloc(n * sizeof(*mk->best_of));
	mk->kbest_of = malloc(n * sizeof(*mk->kbest_of));
	mk->in_last = calloc(n, sizeof(*mk->in_last));
	if (!mk->cand || !mk->best_of || !mk->kbest_of || !mk->in_last) {
		marks_free(mk);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		mk->best_of[i] = mk->kbest_of[i] = -1;
	return 0;
}

/* Latest (largest commit_seq; the first one on a (corrupt) tie), the best
 * and keep_best of every tracked metric, the keep_last newest. The best of
 * every tracked metric is kept whatever keep_best says (contract: retention
 * never deletes a tracked best_* target). */
static void marks_compute(struct retain_marks *mk, const struct policy *p, size_t n_metrics,
			  const struct retain_item *items, size_t n)
{
	struct retain_cand *cand = mk->cand;
	size_t i, j, m;

	for (i = 0; i < n; i++)
		if (items[i].commit_seq > items[mk->latest].commit_seq)
			mk->latest = i;
	for (j = 0; j < n_metrics; j++) {
		const char *name = p->metrics[j].name;

		for (i = 0, m = 0; i < n; i++) {
			double v;

			if (!retain_metric_value(&items[i], name, &v) || isnan(v))
				continue;
			cand[m++] = (struct retain_cand){ v, items[i].has_step, items[i].step,
							  items[i].commit_seq, i };
		}
		if (m == 0)
			continue;
		qsort(cand, m, sizeof(*cand),
		      p->metrics[j].dir < 0 ? retain_cand_cmp_min : retain_cand_cmp_max);
		if (mk->best_of[cand[0].idx] < 0)
			mk->best_of[cand[0].idx] = (int32_t)j;
		for (i = 0; i < m && i < p->keep_best; i++)
			if (mk->kbest_of[cand[i].idx] < 0)
				mk->kbest_of[cand[i].idx] = (int32_t)j;
	}
	if (p->keep_last) {
		for (i = 0; i < n; i++)
			cand[i] = (struct retain_cand){ 0, false, 0, items[i].commit_seq, i };
		qsort(cand, n, sizeof(*cand), retain_cand_cmp_newest);
		for (i = 0; i < n && i < p->keep_last; i++)
			mk->in_last[cand[i].idx] = true;
	}
}

/* The first rule that keeps item i, in the documented order, or the
 * deletion rule. */
static void decide_one(struct retain_decision *d, const struct retain_marks *mk, size_t i,
		       const struct policy *p, const struct retain_item *it, bool off,
		       const char *del_rule)
{
	d->id = it->id;
	d->keep = true;
	if (i == mk->latest)
		snprintf(d->rule, sizeof(d->rule), "latest");
	else if (it->pinned)
		snprintf(d->rule, sizeof(d->rule), "pinned");
	else if (mk->best_of[i] >= 0)
		snprintf(d->rule, sizeof(d->rule), "best_%s", p->metrics[mk->best_of[i]].name);
	else if (mk->in_last[i])
		snprintf(d->rule, sizeof(d->rule), "keep_last=%u", (unsigned)p->keep_last);
	else if (mk->kbest_of[i] >= 0)
		snprintf(d->rule, sizeof(d->rule), "keep_best=%u:%s", (unsigned)p->keep_best,
			 p->metrics[mk->kbest_of[i]].name);
	else if (retain_keep_every(it, p->keep_every))
		snprintf(d->rule, sizeof(d->rule), "keep_every=%llu",
			 (unsigned long long)p->keep_every);
	else if (off)
		snprintf(d->rule, sizeof(d->rule), "no policy");
	else {
		d->keep = false;
		snprintf(d->rule, sizeof(d->rule), "%s", del_rule);
	}
}

int retain_decide(const struct policy *p, const struct retain_item *items, size_t n,
		  struct retain_decision *out)
{
	struct retain_marks mk;
	char del_rule[RETAIN_RULE_MAX] = "";
	size_t i, n_metrics;
	bool off;
	int rc;

	if (!p || (n && (!items || !out)))
		return -EINVAL;
	if (n == 0)
		return 0;
	if (n > RETAIN_MAX_ITEMS)
		return -E2BIG;
	n_metrics = p->n_metrics > POLICY_MAX_METRICS ? POLICY_MAX_METRICS : p->n_metrics;
	off = policy_retention_off(p);
	rc = marks_alloc(&mk, n);
	if (rc < 0)
		return rc;
	marks_compute(&mk, p, n_metrics, items, n);
	if (!off)
		retain_delete_rule(p, n_metrics, del_rule, sizeof(del_rule));
	for (i = 0; i < n; i++)
		decide_one(&out[i], &mk, i, p, &items[i], off, del_rule);
	marks_free(&mk);
	return 0;
}
