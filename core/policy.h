/* The store's policy: retention rules and mount behaviour, as set by mount
 * options (-o) and `ckpt policy`, persisted in the index as key/value text.
 * Pure data and parsing; no I/O. */
#ifndef CKPT_POLICY_H
#define CKPT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"

#define POLICY_MAX_METRICS 64
#define POLICY_TEXT_MAX 256

struct policy_metric {
	char name[META_NAME_MAX];
	int dir; /* -1 min, +1 max */
};

struct policy {
	uint32_t keep_last;				  /* 0 = rule off */
	uint32_t keep_best;				  /* 0 = rule off; per tracked metric */
	uint64_t keep_every;				  /* 0 = rule off */
	struct policy_metric metrics[POLICY_MAX_METRICS]; /* tracked metrics */
	size_t n_metrics;
	int compress;	    /* enum chunk_codec: NONE (default), ZLIB, ZSTD, AUTO */
	uint32_t settle_ms; /* default 2000 */
	bool hide_virtual;
	char latest_name[POLICY_TEXT_MAX]; /* default "latest" */
	char best_prefix[POLICY_TEXT_MAX]; /* default "best_" */
	char plain[POLICY_TEXT_MAX * 4];   /* ':'-separated globs; default
					      "latest_checkpointed_iteration.txt" */
	/* Lifecycle (0 = off): deleted checkpoints stay in the trash this
	 * long (trash=DURATION: N[s|m|h|d]); the store's stored bytes stay
	 * under max_bytes and its filesystem keeps min_free bytes free
	 * (SIZE: N[K|M|G|T], binary units). */
	uint64_t trash_s, max_bytes, min_free;
};

/* Fills the defaults. */
void policy_init(struct policy *p);

/* Applies one option. key is a mount option name (keep_last, keep_best,
 * keep_every, metric, compress, settle_ms, hide_virtual, latest_name,
 * best_prefix, plain, trash, max_bytes, min_free); value may be NULL for flags (hide_virtual). Returns 0,
 * -EINVAL for a bad value (why, if non-NULL, receives a one-line reason), or
 * -ENOENT for an unknown key. "metric=NAME:min|max" appends (replacing the
 * same name); "metric=" (empty value) clears the tracked metrics.
 * Applying a list: the first metric= in one list replaces the stored tracked
 * metrics (see policy_apply_words). */
int policy_set(struct policy *p, const char *key, const char *value, char *why, size_t why_len);

/* Applies KEY=VALUE words (n entries; a bare word is a flag such as
 * hide_virtual). A metric= given in the list replaces the tracked metrics as
 * a whole (metric=a:min,metric=b:max gives exactly a and b; "metric=" alone
 * clears them); options not given keep their value. 0, or the first
 * policy_set error with why filled; p is unchanged on error. */
int policy_apply_words(struct policy *p, char *const *words, size_t n, char *why, size_t why_len);

/* Serialise to / parse from key=value lines (the index stores one row per
 * key; this is the same text the CLI prints). Serialisation covers every
 * field; parsing ignores unknown keys (a newer store may have more). */
int policy_to_text(const struct policy *p, char **out); /* malloc'd */
int policy_from_text(struct policy *p, const char *text);

/* Direction for a metric: the tracked direction when tracked, else
 * meta_default_direction(). *tracked (may be NULL) says which. */
int policy_direction(const struct policy *p, const char *metric, bool *tracked);

/* true when the top-level name matches one of the plain globs (fnmatch). */
bool policy_is_plain(const struct policy *p, const char *name);

/* Refuses name options that contradict each other: a plain glob matching
 * latest_name or .ckptfs, a plain glob that only names best_prefix entries,
 * a latest_name that is a best_prefix entry. 0, or -EINVAL with a one-line
 * reason in why. */
int policy_check_names(const struct policy *p, char *why, size_t why_len);

/* true when the top-level name is a temporary name: tmp-*, tmp_*, *.tmp,
 * *.temp, *.partial, .*, *.orbax-checkpoint-tmp-*, and Python tempfile's
 * tmpXXXXXXXX and sed -i's sedXXXXXX */
bool policy_is_temp_name(const char *name);

/* true when no retention rule is on (nothing is ever deleted by policy). */
bool policy_retention_off(const struct policy *p);

#endif
