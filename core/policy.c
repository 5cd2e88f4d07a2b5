/* The store's policy: option parsing, validation and the key=value text form.
 * Pure data; no I/O. See policy.h. */
#include "policy.h"
#include "util.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chunk.h"

#define POLICY_KEEP_MAX (UINT64_C(1) << 31)
#define POLICY_SETTLE_MAX UINT64_C(3600000)
/* Caps on text that grows from input (a stored policy, a CLI argument). */
#define POLICY_FROM_TEXT_MAX (1u << 20)
#define POLICY_LINE_MAX 16384
#define POLICY_WHY_VALUE_MAX 64

static const char *const policy_codec_names[] = {
	[CHUNK_CODEC_NONE] = "none",
	[CHUNK_CODEC_ZLIB] = "zlib",
	[CHUNK_CODEC_ZSTD] = "zstd",
	[CHUNK_CODEC_AUTO] = "auto",
};
#define POLICY_N_CODECS (sizeof(policy_codec_names) / sizeof(policy_codec_names[0]))

void policy_init(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	p->compress = CHUNK_CODEC_NONE;
	p->settle_ms = 2000;
	p->hide_virtual = false;
	snprintf(p->latest_name, sizeof(p->latest_name), "%s", "latest");
	snprintf(p->best_prefix, sizeof(p->best_prefix), "%s", "best_");
	snprintf(p->plain, sizeof(p->plain), "%s", "latest_checkpointed_iteration.txt");
}

/* Copies value into buf for quoting in a one-line reason: control bytes
 * become '?' and long values are cut, so why stays one short line. */
static const char *policy_quote(char *buf, size_t len, const char *value)
{
	size_t i, o = 0;

	if (!value)
		value = "";
	for (i = 0; value[i] && o + 1 < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (i >= POLICY_WHY_VALUE_MAX) {
			if (o + 4 < len)
				memcpy(buf + o, "...", 3), o += 3;
			break;
		}
		buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[o] = '\0';
	return buf;
}

__attribute__((format(printf, 3, 4))) static int policy_fail(char *why, size_t why_len,
							     const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Strictly decimal: digits only, no sign, no space, at most max. */
static int policy_parse_uint(const char *key, const char *value, uint64_t max, uint64_t *out,
			     char *why, size_t why_len)
{
	char q[POLICY_WHY_VALUE_MAX + 8];
	uint64_t v = 0;
	const char *s;

	if (!value || !*value)
		return policy_fail(why, why_len, "%s: '%s' is not a non-negative integer", key,
				   policy_quote(q, sizeof(q), value));
	for (s = value; *s; s++) {
		if (*s < '0' || *s > '9')
			return policy_fail(why, why_len, "%s: '%s' is not a non-negative integer",
					   key, policy_quote(q, sizeof(q), value));
		/* Saturate instead of wrapping so a huge number reads as out of range. */
		if (v > (UINT64_MAX - 9) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return policy_fail(why, why_len, "%s: '%s' is out of range (0..%llu)", key,
				   policy_quote(q, sizeof(q), value), (unsigned long long)max);
	*out = v;
	return 0;
}

/* A whole number with an optional unit suffix from units ("s", "m" ...,
 * each with its multiplier); a bare number is in the first unit's scale 1.
 * Saturating; max caps the result. */
struct policy_unit {
	const char *suffix;
	uint64_t mult;
};

static int policy_parse_scaled(const char *key, const char *value, const struct policy_unit *units,
			       uint64_t *out, char *why, size_t why_len)
{
	char q[POLICY_WHY_VALUE_MAX + 8], num[32];
	size_t digits = value ? strspn(value, "0123456789") : 0;
	uint64_t v, mult = 1;
	int rc;

	if (!digits || digits >= sizeof(num))
		return policy_fail(why, why_len, "%s: '%s' is not a number with a unit", key,
				   policy_quote(q, sizeof(q), value));
	memcpy(num, value, digits);
	num[digits] = 0;
	if (value[digits]) {
		for (; units->suffix && strcasecmp(units->suffix, value + digits); units++)
			;
		if (!units->suffix)
			return policy_fail(why, why_len, "%s: '%s' has an unknown unit", key,
					   policy_quote(q, sizeof(q), value));
		mult = units->mult;
	}
	rc = policy_parse_uint(key, num, UINT64_MAX / mult, &v, why, why_len);
	if (rc == 0)
		*out = v * mult;
	return rc;
}

static const struct policy_unit policy_duration_units[] = {
	{ "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 }, { NULL, 0 }
};
static const struct policy_unit policy_size_units[] = {
	{ "k", UINT64_C(1) << 10 },   { "m", UINT64_C(1) << 20 },   { "g", UINT64_C(1) << 30 },
	{ "t", UINT64_C(1) << 40 },   { "kib", UINT64_C(1) << 10 }, { "mib", UINT64_C(1) << 20 },
	{ "gib", UINT64_C(1) << 30 }, { "tib", UINT64_C(1) << 40 }, { NULL, 0 }
};

static bool policy_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return true;
	return false;
}

/* latest_name / best_prefix: one file name component the mount can serve. */
static int policy_check_name(const char *key, const char *value, size_t cap, char *why,
			     size_t why_len)
{
	char q[POLICY_WHY_VALUE_MAX + 8];

	if (!value || !*value)
		return policy_fail(why, why_len, "%s: must not be empty", key);
	policy_quote(q, sizeof(q), value);
	if (strlen(value) >= cap)
		return policy_fail(why, why_len, "%s: '%s' is longer than %zu bytes", key, q,
				   cap - 1);
	if (strchr(value, '/'))
		return policy_fail(why, why_len, "%s: '%s' must not contain '/'", key, q);
	if (policy_has_control(value))
		return policy_fail(why, why_len, "%s: '%s' contains a control character", key, q);
	if (!util_utf8_valid(value))
		return policy_fail(why, why_len, "%s: '%s' is not valid UTF-8", key, q);
	return 0;
}

static int policy_set_latest_name(struct policy *p, const char *value, char *why, size_t why_len)
{
	char q[POLICY_WHY_VALUE_MAX + 8];
	int rc = policy_check_name("latest_name", value, sizeof(p->latest_name), why, why_len);

	if (rc)
		return rc;
	if (!strcmp(value, ".") || !strcmp(value, "..") || !strcmp(value, ".ckptfs"))
		return policy_fail(why, why_len, "latest_name: '%s' is reserved",
				   policy_quote(q, sizeof(q), value));
	snprintf(p->latest_name, sizeof(p->latest_name), "%s", value);
	return 0;
}

static int policy_set_best_prefix(struct policy *p, const char *value, char *why, size_t why_len)
{
	/* One byte is left for the metric name: NAME_MAX is the caller's check. */
	int rc = policy_check_name("best_prefix", value, sizeof(p->best_prefix), why, why_len);

	if (rc)
		return rc;
	snprintf(p->best_prefix, sizeof(p->best_prefix), "%s", value);
	return 0;
}

static int policy_set_plain(struct policy *p, const char *value, char *why, size_t why_len)
{
	char q[POLICY_WHY_VALUE_MAX + 8];
	const char *s, *colon;

	if (!value)
		return policy_fail(why, why_len, "plain: needs a value (GLOB[:GLOB...])");
	policy_quote(q, sizeof(q), value);
	if (strlen(value) >= sizeof(p->plain))
		return policy_fail(why, why_len, "plain: '%s' is longer than %zu bytes", q,
				   sizeof(p->plain) - 1);
	if (policy_has_control(value))
		return policy_fail(why, why_len, "plain: '%s' contains a control character", q);
	/* Empty value: no plain files at all (turns off the Megatron default). */
	for (s = value; *value; s = colon + 1) {
		colon = strchrnul(s, ':');
		if (colon == s)
			return policy_fail(why, why_len, "plain: '%s' has an empty glob", q);
		/* Top-level names never contain '/': such a glob could never match. */
		if (memchr(s, '/', (size_t)(colon - s)))
			return policy_fail(why, why_len, "plain: '%s': a glob must not contain '/'",
					   q);
		if (!*colon)
			break; /* last glob */
	}
	snprintf(p->plain, sizeof(p->plain), "%s", value);
	return 0;
}

static int policy_set_flag(bool *flag, const char *key, const char *value, char *why,
			   size_t why_len)
{
	char q[POLICY_WHY_VALUE_MAX + 8];

	if (!value || !strcmp(value, "1") || !strcmp(value, "true"))
		*flag = true;
	else if (!strcmp(value, "0") || !strcmp(value, "false"))
		*flag = false;
	else
		return policy_fail(why, why_len, "%s: '%s' is not one of 1, 0, true, false", key,
				   policy_quote(q, sizeof(q), value));
	return 0;
}

static int policy_set_compress(struct policy *p, const char *value, char *why, size_t why_len)
{
	char q[POLICY_WHY_VALUE_MAX + 8];
	size_t i;

	for (i = 0; value && i < POLICY_N_CODECS; i++) {
		if (!strcmp(value, policy_codec_names[i])) {
			p->compress = (int)i;
			return 0;
		}
	}
	return policy_fail(why, why_len, "compress: '%s' is not one of none, zlib, zstd, auto",
			   policy_quote(q, sizeof(q), value));
}

/* One NAME:min|max item of a metric= value (len bytes at s). */
static int policy_add_metric(struct policy_metric *list, size_t *n, const char *s, size_t len,
			     char *why, size_t why_len)
{
	char item[META_NAME_MAX + 8], q[POLICY_WHY_VALUE_MAX + 8];
	const char *colon;
	size_t name_len, i;
	int dir;

	if (len == 0)
		return policy_fail(why, why_len, "metric: empty entry (want NAME:min or NAME:max)");
	if (len >= sizeof(item)) {
		snprintf(item, sizeof(item), "%.*s", (int)(sizeof(item) - 1), s);
		return policy_fail(why, why_len, "metric: '%s' is too long (name max %d bytes)",
				   policy_quote(q, sizeof(q), item), META_NAME_MAX - 1);
	}
	memcpy(item, s, len);
	item[len] = '\0';
	policy_quote(q, sizeof(q), item);
	colon = strrchr(item, ':');
	if (!colon)
		return policy_fail(why, why_len,
				   "metric: '%s' needs a direction (NAME:min or NAME:max)", q);
	if (!strcmp(colon + 1, "min"))
		dir = -1;
	else if (!strcmp(colon + 1, "max"))
		dir = 1;
	else
		return policy_fail(why, why_len, "metric: '%s': direction must be min or max", q);
	name_len = (size_t)(colon - item);
	item[name_len] = '\0';
	if (name_len == 0)
		return policy_fail(why, why_len, "metric: '%s': empty metric name", q);
	if (name_len >= META_NAME_MAX)
		return policy_fail(why, why_len, "metric: '%s': name longer than %d bytes", q,
				   META_NAME_MAX - 1);
	if (strchr(item, ':') || policy_has_control(item) || !meta_name_usable(item))
		return policy_fail(why, why_len,
				   "metric: '%s': not a usable metric name (no ':', '/', ',', "
				   "step, epoch)",
				   q);
	for (i = 0; i < *n; i++) {
		if (!strcmp(list[i].name, item)) {
			list[i].dir = dir;
			return 0;
		}
	}
	if (*n >= POLICY_MAX_METRICS)
		return policy_fail(why, why_len, "metric: more than %d tracked metrics",
				   POLICY_MAX_METRICS);
	memcpy(list[*n].name, item, name_len + 1); /* name_len < META_NAME_MAX */
	list[*n].dir = dir;
	(*n)++;
	return 0;
}

/* metric=NAME:dir[,NAME:dir...] appends (a ',' list is one CLI word or the
 * text form); metric= clears. All items or none. */
static int policy_set_metric(struct policy *p, const char *value, char *why, size_t why_len)
{
	struct policy_metric list[POLICY_MAX_METRICS];
	size_t n = p->n_metrics;
	const char *s, *comma;
	int rc;

	if (!value)
		return policy_fail(why, why_len, "metric: needs a value (NAME:min or NAME:max)");
	if (!*value) {
		p->n_metrics = 0;
		return 0;
	}
	if (n > POLICY_MAX_METRICS)
		n = POLICY_MAX_METRICS;
	memcpy(list, p->metrics, n * sizeof(list[0]));
	for (s = value;; s = comma + 1) {
		comma = strchrnul(s, ',');
		rc = policy_add_metric(list, &n, s, (size_t)(comma - s), why, why_len);
		if (rc)
			return rc;
		if (!*comma)
			break;
	}
	memcpy(p->metrics, list, n * sizeof(list[0]));
	p->n_metrics = n;
	return 0;
}

int policy_set(struct policy *p, const char *key, const char *value, char *why, size_t why_len)
{
	char q[POLICY_WHY_VALUE_MAX + 8];
	uint64_t v;
	int rc;

	if (!p || !key)
		return -EINVAL;
	if (!strcmp(key, "keep_last") || !strcmp(key, "keep_best")) {
		rc = policy_parse_uint(key, value, POLICY_KEEP_MAX, &v, why, why_len);
		if (rc)
			return rc;
		if (!strcmp(key, "keep_last"))
			p->keep_last = (uint32_t)v;
		else
			p->keep_best = (uint32_t)v;
		return 0;
	}
	if (!strcmp(key, "keep_every")) {
		rc = policy_parse_uint(key, value, POLICY_KEEP_MAX, &v, why, why_len);
		if (rc)
			return rc;
		p->keep_every = v;
		return 0;
	}
	if (!strcmp(key, "settle_ms")) {
		rc = policy_parse_uint(key, value, POLICY_SETTLE_MAX, &v, why, why_len);
		if (rc)
			return rc;
		p->settle_ms = (uint32_t)v;
		return 0;
	}
	if (!strcmp(key, "trash"))
		return policy_parse_scaled(key, value, policy_duration_units, &p->trash_s, why,
					   why_len);
	if (!strcmp(key, "max_bytes") || !strcmp(key, "min_free"))
		return policy_parse_scaled(key, value, policy_size_units,
					   key[1] == 'a' ? &p->max_bytes : &p->min_free, why,
					   why_len);
	if (!strcmp(key, "metric"))
		return policy_set_metric(p, value, why, why_len);
	if (!strcmp(key, "compress"))
		return policy_set_compress(p, value, why, why_len);
	if (!strcmp(key, "hide_virtual"))
		return policy_set_flag(&p->hide_virtual, key, value, why, why_len);
	if (!strcmp(key, "latest_name"))
		return policy_set_latest_name(p, value, why, why_len);
	if (!strcmp(key, "best_prefix"))
		return policy_set_best_prefix(p, value, why, why_len);
	if (!strcmp(key, "plain"))
		return policy_set_plain(p, value, why, why_len);
	if (why && why_len)
		snprintf(why, why_len, "unknown option '%s'", policy_quote(q, sizeof(q), key));
	return -ENOENT;
}

/* One KEY=VALUE word (a bare word is a flag). The first metric= of a list
 * clears the tracked metrics so the list replaces them as a whole. */
static int policy_apply_word(struct policy *p, const char *word, bool *metric_seen,
			     bool ignore_unknown, char *why, size_t why_len)
{
	char key[64], q[POLICY_WHY_VALUE_MAX + 8];
	const char *eq = strchr(word, '=');
	const char *value = eq ? eq + 1 : NULL;
	size_t key_len = eq ? (size_t)(eq - word) : strlen(word);
	int rc;

	if (key_len >= sizeof(key)) {
		if (ignore_unknown)
			return 0;
		if (why && why_len)
			snprintf(why, why_len, "unknown option '%s'",
				 policy_quote(q, sizeof(q), word));
		return -ENOENT;
	}
	memcpy(key, word, key_len);
	key[key_len] = '\0';
	if (!strcmp(key, "metric") && !*metric_seen) {
		*metric_seen = true;
		p->n_metrics = 0;
	}
	rc = policy_set(p, key, value, why, why_len);
	if (rc == -ENOENT && ignore_unknown)
		return 0;
	return rc;
}

int policy_apply_words(struct policy *p, char *const *words, size_t n, char *why, size_t why_len)
{
	struct policy *tmp;
	bool metric_seen = false;
	size_t i;
	int rc = 0;

	if (!p || (n && !words))
		return -EINVAL;
	/* Work on a copy so p is unchanged on error; struct policy is ~10 KiB. */
	tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	*tmp = *p;
	for (i = 0; i < n; i++) {
		if (!words[i]) {
			rc = -EINVAL;
			goto out_free_tmp;
		}
		rc = policy_apply_word(tmp, words[i], &metric_seen, false, why, why_len);
		if (rc)
			goto out_free_tmp;
	}
	*p = *tmp;
out_free_tmp:
	free(tmp);
	return rc;
}

struct policy_buf {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static int policy_buf_add(struct policy_buf *b,
								const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if (!b->s || b->len + (size_t)n >= b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *s;

		while (cap <= b->len + (size_t)n)
			cap *= 2;
		s = realloc(b->s, cap);
		if (!s)
			return -ENOMEM;
		b->s = s;
		b->cap = cap;
		va_start(ap, fmt);
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

/* A field that would break the line format (set directly, not by policy_set). */
static bool policy_text_ok(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) && !strchr(s, '\n') && !strchr(s, '\r');
}

int policy_to_text(const struct policy *p, char **out)
{
	struct policy_buf b = { 0 };
	size_t i;
	int rc;

	if (!p || !out)
		return -EINVAL;
	*out = NULL;
	if (p->n_metrics > POLICY_MAX_METRICS || p->compress < 0 ||
	    (size_t)p->compress >= POLICY_N_CODECS ||
	    !policy_text_ok(p->latest_name, sizeof(p->latest_name)) ||
	    !policy_text_ok(p->best_prefix, sizeof(p->best_prefix)) ||
	    !policy_text_ok(p->plain, sizeof(p->plain)))
		return -EINVAL;
	for (i = 0; i < p->n_metrics; i++)
		if (!policy_text_ok(p->metrics[i].name, sizeof(p->metrics[i].name)) ||
		    strchr(p->metrics[i].name, ','))
			return -EINVAL;

	rc = policy_buf_add(
		&b, "keep_last=%u\nkeep_best=%u\nkeep_every=%llu\nmetric=", (unsigned)p->keep_last,
		(unsigned)p->keep_best, (unsigned long long)p->keep_every);
	/* All tracked metrics on one line: one row per key in the index. */
	for (i = 0; !rc && i < p->n_metrics; i++)
		rc = policy_buf_add(&b, "%s%s:%s", i ? "," : "", p->metrics[i].name,
				    p->metrics[i].dir < 0 ? "min" : "max");
	if (!rc)
		rc = policy_buf_add(&b,
				    "\ncompress=%s\nsettle_ms=%u\nhide_virtual=%s\n"
				    "latest_name=%s\nbest_prefix=%s\nplain=%s\n"
				    "trash=%llu\nmax_bytes=%llu\nmin_free=%llu\n",
				    policy_codec_names[p->compress], (unsigned)p->settle_ms,
				    p->hide_virtual ? "true" : "false", p->latest_name,
				    p->best_prefix, p->plain, (unsigned long long)p->trash_s,
				    (unsigned long long)p->max_bytes,
				    (unsigned long long)p->min_free);
	if (rc) {
		free(b.s);
		return rc;
	}
	*out = b.s;
	return 0;
}

int policy_from_text(struct policy *p, const char *text)
{
	char line[POLICY_LINE_MAX];
	struct policy *tmp;
	bool metric_seen = false;
	const char *s, *nl;
	size_t len;
	int rc = 0;

	if (!p || !text)
		return -EINVAL;
	if (strnlen(text, POLICY_FROM_TEXT_MAX + 1) > POLICY_FROM_TEXT_MAX)
		return -E2BIG;
	/* The text is the whole policy: keys it lacks (an older store) take
	 * their defaults. p is unchanged on error. */
	tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	policy_init(tmp);
	for (s = text; *s; s = *nl ? nl + 1 : nl) {
		nl = strchrnul(s, '\n');
		len = (size_t)(nl - s);
		if (len && s[len - 1] == '\r')
			len--;
		if (len == 0 || s[0] == '#')
			continue;
		if (len >= sizeof(line)) {
			rc = -EINVAL;
			goto out_free_tmp;
		}
		memcpy(line, s, len);
		line[len] = '\0';
		rc = policy_apply_word(tmp, line, &metric_seen, true, NULL, 0);
		if (rc)
			goto out_free_tmp;
	}
	*p = *tmp;
out_free_tmp:
	free(tmp);
	return rc;
}

int policy_direction(const struct policy *p, const char *metric, bool *tracked)
{
	size_t i, n = p ? p->n_metrics : 0;

	if (n > POLICY_MAX_METRICS)
		n = POLICY_MAX_METRICS;
	for (i = 0; metric && i < n; i++) {
		if (!strcmp(p->metrics[i].name, metric)) {
			if (tracked)
				*tracked = true;
			return p->metrics[i].dir < 0 ? -1 : 1;
		}
	}
	if (tracked)
		*tracked = false;
	return meta_default_direction(metric);
}

bool policy_is_plain(const struct policy *p, const char *name)
{
	char glob[sizeof(p->plain)];
	const char *s, *colon;
	size_t len;

	if (!p || !name || !memchr(p->plain, '\0', sizeof(p->plain)))
		return false;
	for (s = p->plain; *s; s = *colon ? colon + 1 : colon) {
		colon = strchrnul(s, ':');
		len = (size_t)(colon - s);
		if (len == 0)
			continue;
		memcpy(glob, s, len);
		glob[len] = '\0';
		if (fnmatch(glob, name, 0) == 0)
			return true;
	}
	return false;
}

/* true when a plain glob only matches best_ entries: its literal head (up to
 * the first wildcard) starts with the prefix and the glob is longer. */
static bool policy_glob_in_prefix(const char *glob, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix), head = strcspn(glob, "*?[\\");

	if (head > len)
		head = len;
	return pl > 0 && len > pl && head >= pl && strncmp(glob, prefix, pl) == 0;
}

int policy_check_names(const struct policy *p, char *why, size_t why_len)
{
	char q[POLICY_WHY_VALUE_MAX + 8], n[POLICY_WHY_VALUE_MAX + 8];
	size_t bl = strlen(p->best_prefix);
	const char *s, *colon;

	policy_quote(q, sizeof(q), p->plain);
	policy_quote(n, sizeof(n), p->latest_name);
	if (policy_is_plain(p, p->latest_name))
		return policy_fail(why, why_len,
				   "plain=%s matches latest_name=%s, the virtual entry "
				   "(give latest_name=OTHER to keep a plain file of that name)",
				   q, n);
	if (policy_is_plain(p, ".ckptfs"))
		return policy_fail(why, why_len, "plain=%s matches .ckptfs, which is reserved", q);
	if (bl && strncmp(p->latest_name, p->best_prefix, bl) == 0 && p->latest_name[bl])
		return policy_fail(why, why_len, "latest_name=%s is a best_prefix=%s entry", n,
				   policy_quote(q, sizeof(q), p->best_prefix));
	for (s = p->plain; *s; s = *colon ? colon + 1 : colon) {
		colon = strchrnul(s, ':');
		if (policy_glob_in_prefix(s, (size_t)(colon - s), p->best_prefix))
			return policy_fail(why, why_len, "plain=%s names best_prefix=%s entries", q,
					   policy_quote(n, sizeof(n), p->best_prefix));
	}
	return 0;
}

/* name is prefix followed by exactly n characters of set. */
static bool tool_temp_name(const char *name, const char *prefix, size_t n, const char *set)
{
	size_t pl = strlen(prefix);

	return strncmp(name, prefix, pl) == 0 && strlen(name) == pl + n &&
		strspn(name + pl, set) == n;
}

bool policy_is_temp_name(const char *name)
{
	static const char *const globs[] = {
		"tmp-*", "tmp_*", "*.tmp", "*.temp", "*.partial", ".*", "*.orbax-checkpoint-tmp-*",
	};
	static const char lower[] = "abcdefghijklmnopqrstuvwxyz0123456789_";
	static const char alnum[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t i;

	if (!name)
		return false;
	for (i = 0; i < sizeof(globs) / sizeof(globs[0]); i++)
		if (fnmatch(globs[i], name, 0) == 0)
			return true;
	/* The contract's list, plus the names of two write-then-rename tools
	 * (README Choices): Python's tempfile (tmp + 8 of its alphabet) and
	 * sed -i (sed + 6, mkstemp's) would otherwise commit at close and
	 * count towards keep_last before their rename lands. */
	return tool_temp_name(name, "tmp", 8, lower) || tool_temp_name(name, "sed", 6, alnum);
}

bool policy_retention_off(const struct policy *p)
{
	if (!p)
		return true; /* no policy: nothing is deleted */
	return p->keep_last == 0 && p->keep_every == 0 && (p->keep_best == 0 || p->n_metrics == 0);
}
