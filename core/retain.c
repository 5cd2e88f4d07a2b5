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

int retain_decide(const struct policy *p, const struct retain_item *items, size_t n,
		  struct retain_decision *out)
{
	struct retain_cand *cand = NULL;
	int32_t *best_of = NULL, *kbest_of = NULL;
	bool *in_last = NULL;
	char del_rule[RETAIN_RULE_MAX];
	size_t i, j, m, latest = 0, n_metrics;
	bool off;
	int rc = 0;

	if (!p || (n && (!items || !out)))
		return -EINVAL;
	if (n == 0)
		return 0;
	if (n > RETAIN_MAX_ITEMS)
		return -E2BIG;
	n_metrics = p->n_metrics > POLICY_MAX_METRICS ? POLICY_MAX_METRICS : p->n_metrics;
	off = policy_retention_off(p);

	cand = calloc(n, sizeof(*cand));
	if (!cand)
		return -ENOMEM;
	best_of = malloc(n * sizeof(*best_of));
	if (!best_of) {
		rc = -ENOMEM;
		goto out_free_cand;
	}
	kbest_of = malloc(n * sizeof(*kbest_of));
	if (!kbest_of) {
		rc = -ENOMEM;
		goto out_free_best;
	}
	in_last = calloc(n, sizeof(*in_last));
	if (!in_last) {
		rc = -ENOMEM;
		goto out_free_kbest;
	}

	for (i = 0; i < n; i++) {
		best_of[i] = kbest_of[i] = -1;
		/* Latest: largest commit_seq; the first one on a (corrupt) tie. */
		if (items[i].commit_seq > items[latest].commit_seq)
			latest = i;
	}

	/* The best of every tracked metric is kept whatever keep_best says
	 * (contract: retention never deletes a tracked best_* target). */
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
		if (best_of[cand[0].idx] < 0)
			best_of[cand[0].idx] = (int32_t)j;
		for (i = 0; i < m && i < p->keep_best; i++)
			if (kbest_of[cand[i].idx] < 0)
				kbest_of[cand[i].idx] = (int32_t)j;
	}

	if (p->keep_last) {
		for (i = 0; i < n; i++)
			cand[i] = (struct retain_cand){ 0, false, 0, items[i].commit_seq, i };
		qsort(cand, n, sizeof(*cand), retain_cand_cmp_newest);
		for (i = 0; i < n && i < p->keep_last; i++)
			in_last[cand[i].idx] = true;
	}

	if (!off)
		retain_delete_rule(p, n_metrics, del_rule, sizeof(del_rule));

	for (i = 0; i < n; i++) {
		struct retain_decision *d = &out[i];

		d->id = items[i].id;
		d->keep = true;
		if (i == latest)
			snprintf(d->rule, sizeof(d->rule), "latest");
		else if (items[i].pinned)
			snprintf(d->rule, sizeof(d->rule), "pinned");
		else if (best_of[i] >= 0)
			snprintf(d->rule, sizeof(d->rule), "best_%s", p->metrics[best_of[i]].name);
		else if (in_last[i])
			snprintf(d->rule, sizeof(d->rule), "keep_last=%u", (unsigned)p->keep_last);
		else if (kbest_of[i] >= 0)
			snprintf(d->rule, sizeof(d->rule), "keep_best=%u:%s",
				 (unsigned)p->keep_best, p->metrics[kbest_of[i]].name);
		else if (retain_keep_every(&items[i], p->keep_every))
			snprintf(d->rule, sizeof(d->rule), "keep_every=%llu",
				 (unsigned long long)p->keep_every);
		else if (off)
			snprintf(d->rule, sizeof(d->rule), "no policy");
		else {
			d->keep = false;
			snprintf(d->rule, sizeof(d->rule), "%s", del_rule);
		}
	}

	free(in_last);
out_free_kbest:
	free(kbest_of);
out_free_best:
	free(best_of);
out_free_cand:
	free(cand);
	return rc;
}
