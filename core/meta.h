/* Metric extraction: step, epoch and metrics of a checkpoint from its name,
 * trainer_state.json, metadata.json, metrics.json and xattr values, in the
 * contract's order (a later source overrides an earlier one per name).
 *
 * Pure functions over memory: no I/O, no SQLite. Thread-safe.
 */
#ifndef CKPT_META_H
#define CKPT_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_NAME_MAX 128	  /* longest metric name kept */
#define META_SOURCE_MAX 32	  /* "name", "trainer_state.json", "xattr", ... */
#define META_JSON_MAX (16u << 20) /* metadata files larger than this are refused */
#define META_MAX_METRICS 4096

struct metric {
	char name[META_NAME_MAX];
	double value;
	char source[META_SOURCE_MAX];
};

/* The result of extraction. Owns metrics and problems. */
struct meta_set {
	struct metric *metrics;
	size_t n_metrics, cap;
	bool has_step;
	int64_t step;
	char step_source[META_SOURCE_MAX];
	bool has_epoch;
	double epoch;
	char epoch_source[META_SOURCE_MAX];
	/* Human-readable notes on malformed input, "; "-separated, or NULL.
	 * Never fatal: a commit goes on without those metrics. */
	char *problems;
};

void meta_init(struct meta_set *ms);
void meta_release(struct meta_set *ms);

/* Sets one value from source. "step" and "global_step" set the step,
 * "epoch" sets the epoch; any other name becomes (or replaces) a metric.
 * Non-finite values are refused (-EINVAL). */
int meta_set_value(struct meta_set *ms, const char *name, double value, const char *source);

/* Appends a problem note (formatted) to ms->problems. */
void meta_problem(struct meta_set *ms, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1. The checkpoint name: key=value pairs separated by '-' or '_' or ',' (e.g.
 * "epoch=3-step=100-val_loss=0.2500.ckpt": the extension is not part of the
 * last value), and a trailing number as step ("checkpoint-1000",
 * "step_1000"), except that "checkpoint_epoch_0010" / "epoch_10" gives epoch
 * 10. Source "name". */
int meta_from_name(struct meta_set *ms, const char *name);

/* 2. trainer_state.json (Hugging Face): global_step, epoch, best_metric (as
 * metric "best_metric"), and for each numeric key in log_history its last
 * value (step/epoch keys there are ignored). Malformed input is a problem
 * note and returns -EINVAL; what was parsed before the error is not kept. */
int meta_from_trainer_state(struct meta_set *ms, const char *json, size_t len);

/* 3. metadata.json / metrics.json at the checkpoint root: numeric top-level
 * fields and the numeric fields of a nested "metrics" object; global_step /
 * step and epoch give step and epoch. source is the file name. Malformed:
 * problem note, -EINVAL. */
int meta_from_json(struct meta_set *ms, const char *json, size_t len, const char *source);

/* Parses an xattr value: a decimal number as text (surrounding white space
 * allowed, nothing else). 0 or -EINVAL. */
int meta_parse_number(const char *text, size_t len, double *out);

/* Default direction of an untracked metric: -1 (min) when its name contains
 * loss, err, error, perplexity, ppl, wer, cer, mse, mae or rmse
 * (case-insensitive), +1 (max) otherwise. */
int meta_default_direction(const char *metric);

/* true when metric can be a best_<metric> entry: not step/epoch, a valid
 * file name component (no '/', not "." or "..", non-empty, valid UTF-8,
 * best_prefix+name within 255 bytes is the caller's check). */
bool meta_name_usable(const char *metric);

#endif
