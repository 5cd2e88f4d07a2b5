/* Retention decisions: a pure function from a table of committed checkpoints
 * and a policy to keep/delete with the rule that decided. No I/O; the store
 * gathers the table and applies the deletions. */
#ifndef CKPT_RETAIN_H
#define CKPT_RETAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "policy.h"

#define RETAIN_RULE_MAX 160

struct retain_item {
	int64_t id;
	int64_t commit_seq; /* commit order: larger is newer */
	bool has_step;
	int64_t step;
	bool pinned;
	const struct metric *metrics; /* not owned */
	size_t n_metrics;
};

struct retain_decision {
	int64_t id;
	bool keep;
	/* Why: for a keep the first rule that keeps it, in this order: "latest",
	 * "pinned", "best_<metric>" (the current best of a tracked metric),
	 * "keep_last=N", "keep_best=K:<metric>", "keep_every=N", "no policy";
	 * for a delete "policy: not kept by <active rules>". */
	char rule[RETAIN_RULE_MAX];
};

/* Decides for every item (any order; out[i] answers items[i]). Kept set is the
 * union of: the latest (largest commit_seq), pinned, the best of each tracked
 * metric, the keep_last newest, the keep_best best per tracked metric (ties:
 * lower step, then earlier commit; checkpoints without the metric do not
 * count), and those whose step is a multiple of keep_every (no step: not
 * kept by that rule). With every rule off, everything is kept. */
int retain_decide(const struct policy *p, const struct retain_item *items, size_t n,
		  struct retain_decision *out);

/* Compares two candidates for "best" by a metric in direction dir (-1 min,
 * +1 max): negative when a is better. Ties: lower step (no step sorts last),
 * then smaller commit_seq. Shared with the store's resolution so both agree. */
int retain_cmp_best(double va, bool a_has_step, int64_t a_step, int64_t a_seq, double vb,
		    bool b_has_step, int64_t b_step, int64_t b_seq, int dir);

#endif
