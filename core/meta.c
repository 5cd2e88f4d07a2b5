/* Metric extraction from names, trainer_state.json, metadata.json /
 * metrics.json and xattr text. See meta.h; all JSON goes through jansson.
 *
 * Rules for names (meta_from_name), in the order applied:
 *
 *  - One known extension is stripped first (case-insensitive): .ckpt .pt .pth
 *    .bin .safetensors .npy .npz .h5 .hdf5 .msgpack .pkl .pickle .tar .zip
 *    .json .distcp .index .data. "val_loss=0.2500.ckpt" -> "val_loss=0.2500".
 *  - key=value pairs. The name is read left to right; a key runs from the
 *    start, or from just after a '-' or ',', or from just after the value of
 *    the previous pair, to the next '='. So "epoch=3_step=100" gives epoch and
 *    step (the '_' after a value separates), while "val_loss=0.25" keeps its
 *    '_' (inside a key it is part of the name). A value is a decimal number
 *    (optional sign, digits, optional fraction, optional exponent: no hex, no
 *    nan/inf) that must end at the end of the name or at '-', '_' or ','; any
 *    other value is not numeric and the pair is ignored. "step" and
 *    "global_step" set the step, "epoch" the epoch (exact, case-sensitive),
 *    anything else is a metric.
 *  - A trailing number (the digits at the very end of the stripped name) is
 *    the step, unless the digits are part of a key=value value (numeric or
 *    not: "val_loss=0.25", "tag=x_12"). It counts when it is the whole name (Orbax's
 *    "1000"), when a '-', '_', ',' or '.' precedes it ("checkpoint-1000",
 *    "step_1000", "iter_0001000"), or when it directly follows a word ending
 *    in step, ckpt, checkpoint, iter or iteration ("global_step1000",
 *    "ckpt1000"); "model50" or "last-v1" give nothing. When the word before
 *    it (directly, or before the separator) is "epoch" (case-insensitive),
 *    it is the epoch instead: "checkpoint_epoch_0010", "epoch-10", "epoch10".
 *    After the word "of" it is a shard count and ignored
 *    ("model-00001-of-00002.safetensors").
 *  - A key=value pair wins over the trailing number for the same field.
 *
 * Steps must be whole numbers in [0, 2^53]; other step values are refused.
 */
#include "meta.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_PROBLEMS_MAX 4096		 /* problem notes beyond this are dropped */
#define META_NUMBER_TEXT_MAX 256	 /* longest number text parsed */
#define META_STEP_MAX 9007199254740992.0 /* 2^53: exact in a double */

void meta_init(struct meta_set *ms)
{
	memset(ms, 0, sizeof(*ms));
}

void meta_release(struct meta_set *ms)
{
	free(ms->metrics);
	free(ms->problems);
	memset(ms, 0, sizeof(*ms));
}

#define META_PROBLEMS_MORE "more problems not shown"

/* Appends one note; notes come from input, so their total is capped and
 * the last note kept says that more were dropped. */
static void problem_append(struct meta_set *ms, const char *note)
{
	size_t old, add, ml = strlen(META_PROBLEMS_MORE);
	char *p;

	old = ms->problems ? strlen(ms->problems) : 0;
	if (old >= ml && strcmp(ms->problems + old - ml, META_PROBLEMS_MORE) == 0)
		return;
	if (old + 2 + strlen(note) + 2 + ml > META_PROBLEMS_MAX)
		note = META_PROBLEMS_MORE;
	add = strlen(note) + (old ? 2 : 0);
	p = realloc(ms->problems, old + add + 1);
	if (!p)
		return; /* a lost note is not worth failing extraction */
	snprintf(p + old, add + 1, "%s%s", old ? "; " : "", note);
	ms->problems = p;
}

void meta_problem(struct meta_set *ms, const char *fmt, ...)
{
	char note[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	problem_append(ms, note);
}

static void copy_source(char dst[META_SOURCE_MAX], const char *source)
{
	snprintf(dst, META_SOURCE_MAX, "%s", source ? source : "");
}

int meta_set_value(struct meta_set *ms, const char *name, double value, const char *source)
{
	size_t i, len;

	if (!name || !*name)
		return -EINVAL;
	if (!isfinite(value))
		return -EINVAL;
	if (strcmp(name, "step") == 0 || strcmp(name, "global_step") == 0) {
		if (value < 0 || value > META_STEP_MAX || floor(value) != value)
			return -EINVAL;
		ms->has_step = true;
		ms->step = (int64_t)value;
		copy_source(ms->step_source, source);
		return 0;
	}
	if (strcmp(name, "epoch") == 0) {
		ms->has_epoch = true;
		ms->epoch = value;
		copy_source(ms->epoch_source, source);
		return 0;
	}
	len = strlen(name);
	if (len > META_NAME_MAX - 1) {
		meta_problem(ms, "%s: metric name too long (%zu bytes), skipped",
			     source ? source : "?", len);
		return -ENAMETOOLONG;
	}
	for (i = 0; i < ms->n_metrics; i++) {
		if (strcmp(ms->metrics[i].name, name) == 0) {
			ms->metrics[i].value = value;
			copy_source(ms->metrics[i].source, source);
			return 0;
		}
	}
	if (ms->n_metrics >= META_MAX_METRICS) {
		meta_problem(ms, "%s: more than %d metrics, \"%.40s\" skipped",
			     source ? source : "?", META_MAX_METRICS, name);
		return -ENOSPC;
	}
	if (ms->n_metrics == ms->cap) {
		size_t ncap = ms->cap ? ms->cap * 2 : 16;
		struct metric *m;

		if (ncap > META_MAX_METRICS)
			ncap = META_MAX_METRICS;
		m = realloc(ms->metrics, ncap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		ms->metrics = m;
		ms->cap = ncap;
	}
	memcpy(ms->metrics[ms->n_metrics].name, name, len + 1);
	ms->metrics[ms->n_metrics].value = value;
	copy_source(ms->metrics[ms->n_metrics].source, source);
	ms->n_metrics++;
	return 0;
}

/* Scans a strict decimal number at s: [+-]digits[.digits][(e|E)[+-]digits],
 * at least one mantissa digit. Returns its length (0: none). */
static size_t scan_decimal(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < n && isdigit((unsigned char)s[i]))
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && isdigit((unsigned char)s[i]))
			i++, digits++;
	}
	if (!digits)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1, ed = 0;

		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		while (j < n && isdigit((unsigned char)s[j]))
			j++, ed++;
		if (ed)
			i = j; /* "1e" alone: the 'e' is not part of the number */
	}
	return i;
}

/* Converts exactly n bytes of scanned decimal text. strtod assumes the C
 * locale's '.', which is what the process runs in (nobody calls
 * setlocale). */
static int decimal_value(const char *s, size_t n, double *out)
{
	char buf[META_NUMBER_TEXT_MAX + 1];
	char *end;
	double v;

	if (n == 0 || n > META_NUMBER_TEXT_MAX)
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (end != buf + n || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

int meta_parse_number(const char *text, size_t len, double *out)
{
	size_t b = 0, e = len, n;

	if (!text || !out)
		return -EINVAL;
	while (b < e && isspace((unsigned char)text[b]))
		b++;
	while (e > b && isspace((unsigned char)text[e - 1]))
		e--;
	if (b == e)
		return -EINVAL;
	n = scan_decimal(text + b, e - b);
	if (n != e - b)
		return -EINVAL; /* empty, nan, inf, hex, trailing junk, NUL */
	return decimal_value(text + b, n, out);
}

static const char *const meta_extensions[] = {
	".ckpt", ".pt",	 ".pth",  ".bin",     ".safetensors", ".npy",
	".npz",	 ".h5",	 ".hdf5", ".msgpack", ".pkl",	      ".pickle",
	".tar",	 ".zip", ".json", ".distcp",  ".index",	      ".data",
};

static size_t strip_extension(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(meta_extensions) / sizeof(meta_extensions[0]); i++) {
		size_t el = strlen(meta_extensions[i]);

		if (len > el && strncasecmp(name + len - el, meta_extensions[i], el) == 0)
			return len - el;
	}
	return len;
}

static bool is_pair_sep(char c)
{
	return c == '-' || c == ',';
}

static bool is_value_end(char c)
{
	return c == '-' || c == '_' || c == ',';
}

static bool word_ends_with(const char *w, size_t wl, const char *suffix)
{
	size_t sl = strlen(suffix);

	return wl >= sl && strncasecmp(w + wl - sl, suffix, sl) == 0;
}

/* The trailing-number rule; see the comment at the top. Sets *is_epoch to
 * say which field the number is for. Returns 0 when a number applies. */
static int trailing_number(const char *s, size_t n, size_t covered, double *out, bool *is_epoch)
{
	size_t d = n, i, ws;
	const char *word;
	size_t wl;
	bool sep;

	while (d > 0 && isdigit((unsigned char)s[d - 1]))
		d--;
	if (d == n || n - d > 18)
		return -ENOENT; /* no digits, or more than fit a step */
	/* Digits inside a key=value value are not a trailing number. */
	if (d < covered)
		return -ENOENT;
	*out = (double)strtoll(s + d, NULL, 10) /* <= 18 digits: no overflow */;
	*is_epoch = false;
	if (d == 0)
		return 0; /* the whole name is the number */
	sep = is_value_end(s[d - 1]) || s[d - 1] == '.';
	ws = sep ? d - 1 : d;
	/* The word before the number (or before its separator). */
	i = ws;
	while (i > 0 && !is_value_end(s[i - 1]) && s[i - 1] != '.' && s[i - 1] != '=')
		i--;
	word = s + i;
	wl = ws - i;
	if (word_ends_with(word, wl, "epoch")) {
		*is_epoch = true;
		return 0;
	}
	/* "model-00001-of-00002": a shard count, not a step. */
	if (wl == 2 && strncasecmp(word, "of", 2) == 0)
		return -ENOENT;
	if (sep)
		return 0;
	if (word_ends_with(word, wl, "step") || word_ends_with(word, wl, "ckpt") ||
	    word_ends_with(word, wl, "checkpoint") || word_ends_with(word, wl, "iter") ||
	    word_ends_with(word, wl, "iteration"))
		return 0;
	return -ENOENT;
}

int meta_from_name(struct meta_set *ms, const char *name)
{
	char key[META_NAME_MAX];
	bool pair_step = false, pair_epoch = false, t_epoch;
	size_t n, p = 0, covered = 0;
	double tv;
	int rc;

	if (!name)
		return -EINVAL;
	n = strip_extension(name, strnlen(name, 4096));

	while (p < n) {
		const char *eq = memchr(name + p, '=', n - p);
		size_t k, kl, vl, e;
		double v;

		if (!eq)
			break;
		/* The key starts after the last '-' or ',' before '='. */
		e = (size_t)(eq - name);
		k = e;
		while (k > p && !is_pair_sep(name[k - 1]))
			k--;
		kl = e - k;
		vl = scan_decimal(name + e + 1, n - e - 1);
		if (vl && (e + 1 + vl == n || is_value_end(name[e + 1 + vl])) && kl > 0) {
			if (kl > META_NAME_MAX - 1) {
				meta_problem(ms, "name: key too long (%zu bytes), skipped", kl);
			} else if (decimal_value(name + e + 1, vl, &v) == 0) {
				memcpy(key, name + k, kl);
				key[kl] = '\0';
				rc = meta_set_value(ms, key, v, "name");
				if (rc == -ENOMEM)
					return rc;
				if (rc == 0 &&
				    (!strcmp(key, "step") || !strcmp(key, "global_step")))
					pair_step = true;
				if (rc == 0 && !strcmp(key, "epoch"))
					pair_epoch = true;
			}
			p = e + 1 + vl;
			covered = p;
			if (p < n)
				p++; /* the separator after the value */
			continue;
		}
		/* Not numeric: skip to the next pair separator after the '='. */
		p = e + 1;
		while (p < n && !is_pair_sep(name[p]))
			p++;
		covered = p;
		if (p < n)
			p++;
	}

	if (trailing_number(name, n, covered, &tv, &t_epoch) == 0) {
		if (t_epoch && !pair_epoch)
			meta_set_value(ms, "epoch", tv, "name");
		else if (!t_epoch && !pair_step)
			meta_set_value(ms, "step", tv, "name");
	}
	return 0;
}

/* Python's json module writes NaN, Infinity and -Infinity, which are not
 * JSON; a diverged run's trainer_state.json has them. Outside strings they
 * are rewritten to null (lines unchanged, so jansson's line numbers still
 * match the file). Returns a new buffer, or NULL on allocation failure. */
static char *nonfinite_to_null(const char *in, size_t len, size_t *out_len)
{
	/* "NaN" (3 bytes) becomes "null" (4): at most 4/3 the size. */
	char *out = malloc(len + len / 3 + 8);
	bool in_str = false;
	size_t i = 0, o = 0;

	if (!out)
		return NULL;
	while (i < len) {
		char c = in[i];

		if (in_str) {
			out[o++] = c;
			if (c == '\\' && i + 1 < len)
				out[o++] = in[++i];
			else if (c == '"')
				in_str = false;
			i++;
			continue;
		}
		if (c == '"')
			in_str = true;
		if (c == 'N' && len - i >= 3 && memcmp(in + i, "NaN", 3) == 0) {
			memcpy(out + o, "null", 4), o += 4, i += 3;
			continue;
		}
		if (c == 'I' && len - i >= 8 && memcmp(in + i, "Infinity", 8) == 0) {
			memcpy(out + o, "null", 4), o += 4, i += 8;
			continue;
		}
		if (c == '-' && len - i >= 9 && memcmp(in + i, "-Infinity", 9) == 0) {
			memcpy(out + o, "null", 4), o += 4, i += 9;
			continue;
		}
		out[o++] = c;
		i++;
	}
	*out_len = o;
	return out;
}

/* Parses a metadata file into an object. On failure notes the problem
 * (file, jansson's text and line) and returns NULL with *rc set. */
static json_t *load_object(struct meta_set *ms, const char *json, size_t len, const char *source,
			   int *rc)
{
	json_error_t err;
	json_t *root;
	char *fixed;
	size_t flen;

	if (len > META_JSON_MAX) {
		meta_problem(ms, "%s: larger than %u bytes, ignored", source, META_JSON_MAX);
		*rc = -EFBIG;
		return NULL;
	}
	if (!json) {
		*rc = -EINVAL;
		return NULL;
	}
	fixed = nonfinite_to_null(json, len, &flen);
	if (!fixed) {
		*rc = -ENOMEM;
		return NULL;
	}
	root = json_loadb(fixed, flen, 0, &err);
	free(fixed);
	if (!root) {
		meta_problem(ms, "%s: malformed JSON at line %d column %d: %s", source, err.line,
			     err.column, err.text);
		*rc = -EINVAL;
		return NULL;
	}
	if (!json_is_object(root)) {
		meta_problem(ms, "%s: not a JSON object", source);
		json_decref(root);
		*rc = -EINVAL;
		return NULL;
	}
	*rc = 0;
	return root;
}

/* Moves everything from src into ms (src's values override). */
static int meta_merge(struct meta_set *ms, struct meta_set *src, const char *source)
{
	size_t i;
	int rc;

	if (src->problems)
		problem_append(ms, src->problems);
	if (src->has_step) {
		ms->has_step = true;
		ms->step = src->step;
		copy_source(ms->step_source, source);
	}
	if (src->has_epoch) {
		ms->has_epoch = true;
		ms->epoch = src->epoch;
		copy_source(ms->epoch_source, source);
	}
	for (i = 0; i < src->n_metrics; i++) {
		rc = meta_set_value(ms, src->metrics[i].name, src->metrics[i].value, source);
		if (rc == -ENOMEM)
			return rc;
	}
	return 0;
}

/* Sets key from a JSON number; other JSON types are skipped (booleans are
 * not numbers). Refused values (a fractional step) are noted. */
static int set_json_number(struct meta_set *ms, const char *key, json_t *v, const char *source)
{
	int rc;

	if (!json_is_number(v))
		return 0;
	rc = meta_set_value(ms, key, json_number_value(v), source);
	if (rc == -EINVAL)
		meta_problem(ms, "%s: \"%.40s\" value %g refused", source, key,
			     json_number_value(v));
	return rc == -ENOMEM ? rc : 0;
}

int meta_from_trainer_state(struct meta_set *ms, const char *json, size_t len)
{
	static const char src[] = "trainer_state.json";
	struct meta_set tmp;
	json_t *root, *hist, *entry, *v;
	const char *key;
	size_t i;
	int rc;

	root = load_object(ms, json, len, src, &rc);
	if (!root)
		return rc;
	meta_init(&tmp);
	hist = json_object_get(root, "log_history");
	if (hist && !json_is_array(hist)) {
		meta_problem(ms, "%s: log_history is not an array", src);
		rc = -EINVAL;
		goto out_release_tmp;
	}
	/* Later entries override earlier ones: each key keeps its last value. */
	json_array_foreach(hist, i, entry)
	{
		if (!json_is_object(entry))
			continue;
		json_object_foreach(entry, key, v)
		{
			if (!strcmp(key, "step") || !strcmp(key, "epoch") ||
			    !strcmp(key, "global_step"))
				continue;
			rc = set_json_number(&tmp, key, v, src);
			if (rc)
				goto out_release_tmp;
		}
	}
	rc = set_json_number(&tmp, "global_step", json_object_get(root, "global_step"), src);
	if (!rc)
		rc = set_json_number(&tmp, "epoch", json_object_get(root, "epoch"), src);
	if (!rc)
		rc = set_json_number(&tmp, "best_metric", json_object_get(root, "best_metric"),
				     src);
	if (!rc)
		rc = meta_merge(ms, &tmp, src);
out_release_tmp:
	meta_release(&tmp);
	json_decref(root);
	return rc;
}

int meta_from_json(struct meta_set *ms, const char *json, size_t len, const char *source)
{
	struct meta_set tmp;
	json_t *root, *metrics, *v;
	const char *key;
	int rc;

	if (!source)
		source = "metadata.json";
	root = load_object(ms, json, len, source, &rc);
	if (!root)
		return rc;
	meta_init(&tmp);
	json_object_foreach(root, key, v)
	{
		rc = set_json_number(&tmp, key, v, source);
		if (rc)
			goto out_release_tmp;
	}
	/* The nested metrics object overrides top-level fields of the same name. */
	metrics = json_object_get(root, "metrics");
	if (json_is_object(metrics)) {
		json_object_foreach(metrics, key, v)
		{
			rc = set_json_number(&tmp, key, v, source);
			if (rc)
				goto out_release_tmp;
		}
	}
	rc = meta_merge(ms, &tmp, source);
out_release_tmp:
	meta_release(&tmp);
	json_decref(root);
	return rc;
}

int meta_default_direction(const char *metric)
{
	static const char *const lower_better[] = {
		"loss", "err", "error", "perplexity", "ppl", "wer", "cer", "mse", "mae", "rmse",
	};
	size_t i;

	if (!metric)
		return 1;
	for (i = 0; i < sizeof(lower_better) / sizeof(lower_better[0]); i++)
		if (strcasestr(metric, lower_better[i]))
			return -1;
	return 1;
}

bool meta_name_usable(const char *metric)
{
	if (!metric || !*metric)
		return false;
	if (!strcmp(metric, "step") || !strcmp(metric, "epoch") || !strcmp(metric, "global_step"))
		return false;
	if (!strcmp(metric, ".") || !strcmp(metric, ".."))
		return false;
	if (strchr(metric, '/'))
		return false;
	if (strlen(metric) > 255)
		return false;
	return util_utf8_valid(metric);
}
