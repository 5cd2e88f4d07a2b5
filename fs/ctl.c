/* The .ckptfs control files: read-only text regenerated at every open. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"

const char *const fs_ctl_names[FS_CTL_N] = { "status",		"latest",  "retention",
					     "checkpoints.tsv", "metrics", "trash.tsv" };

#define FS_CTL_MAX (64u << 20) /* a control file never grows past this */
#define FS_CTL_PROBLEMS 20     /* metric problems shown in status */

struct fs_buf {
	char *s;
	size_t len, cap;
	int err;
};

static void fs_buf_printf(struct fs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fs_buf_printf(struct fs_buf *b, const char *fmt, ...)
{
	if (b->err)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || b->len + (size_t)n + 1 > FS_CTL_MAX) {
		b->err = -EFBIG;
		return;
	}
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		while (ncap < b->len + (size_t)n + 1)
			ncap *= 2;
		char *ns = realloc(b->s, ncap);
		if (!ns) {
			b->err = -ENOMEM;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Appends S as one TSV field: backslash, tab, newline, carriage return and
 * the other control characters become \\ \t \n \r \xHH (PostgreSQL COPY
 * text format), so a row is always one line of tab-separated fields. */
static void fs_buf_tsv(struct fs_buf *b, const char *s)
{
	for (const char *run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != 0x7f && c != '\\')
			continue;
		fs_buf_printf(b, "%.*s", (int)(s - run), run);
		if (!c)
			return;
		if (c == '\\' || c == '\t' || c == '\n' || c == '\r')
			fs_buf_printf(b, "\\%c",
				      c == '\\'		  ? '\\'
					      : c == '\t' ? 't'
					      : c == '\n' ? 'n'
							  : 'r');
		else
			fs_buf_printf(b, "\\x%02x", c);
		run = s + 1;
	}
}

static void fs_iso8601(int64_t t, char *buf, size_t len)
{
	if (t <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fs_gen_status(struct fs *fs, struct fs_buf *b)
{
	struct store_stats s;
	memset(&s, 0, sizeof(s));
	int rc = store_stats(fs->st, &s);
	if (rc < 0)
		fs_buf_printf(b, "stats: unavailable (%s)\n", strerror(-rc));
	fs_buf_printf(b, "store: %s\n", store_address(fs->st));
	fs_buf_printf(b, "checkpoints: %llu\nstaging: %llu\naborted: %llu\ndeleted: %llu\n",
		      (unsigned long long)s.checkpoints, (unsigned long long)s.staging,
		      (unsigned long long)s.aborted, (unsigned long long)s.deleted);
	fs_buf_printf(b, "trashed: %llu\n", (unsigned long long)s.trashed);
	fs_buf_printf(b, "logical_bytes: %llu\nstored_bytes: %llu\n",
		      (unsigned long long)s.logical_bytes, (unsigned long long)s.stored_bytes);
	fs_buf_printf(b, "process_exit_connector: %s\n", fs->pw_status);
	fs_buf_printf(b, "writer_exit: %s\n", fs->writer_exit ? fs->writer_exit : "unavailable");
	fs_buf_printf(b, "commit: %s%s%s", fs->copts.rename_only ? "rename" : "close",
		      fs->copts.marker[0] ? ", marker " : "", fs->copts.marker);
	if (fs->copts.timeout_ms > 0)
		fs_buf_printf(b, ", timeout %lld ms", (long long)fs->copts.timeout_ms);
	fs_buf_printf(b, "\n");

	struct policy *p = malloc(sizeof(*p));
	char *text = NULL;
	if (p) {
		pthread_mutex_lock(&fs->pol_lock);
		*p = fs->pol;
		pthread_mutex_unlock(&fs->pol_lock);
		if (policy_to_text(p, &text) == 0 && text) {
			fs_buf_printf(b, "policy:\n");
			for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
			     l = strtok_r(NULL, "\n", &save))
				fs_buf_printf(b, "  %s\n", l);
		}
		free(text);
		free(p);
	}

	char *notes = store_notes(fs->st);
	fs_buf_printf(b, "notes:\n");
	uint64_t invisible = __atomic_load_n(&fs->n_invisible, __ATOMIC_RELAXED);
	if (invisible)
		fs_buf_printf(
			b,
			"  invisible writers: %llu writes by processes this mount cannot see (FUSE pid 0: "
			"another PID namespace); their exits are not detected: see commit=rename, "
			"commit_marker=GLOB\n",
			(unsigned long long)invisible);
	if (notes)
		for (char *save = NULL, *l = strtok_r(notes, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save))
			fs_buf_printf(b, "  %s\n", l);
	free(notes);

	/* Aborted ones with their reasons, committed ones with metric problems. */
	struct ckpt_info *arr = NULL;
	size_t n = 0;
	if (store_ckpt_list(fs->st, STORE_LIST_ALL | STORE_LIST_NO_METRICS, &arr, &n) == 0) {
		fs_buf_printf(b, "aborted checkpoints:\n");
		for (size_t i = 0; i < n; i++)
			if (arr[i].state == CKPT_ABORTED)
				fs_buf_printf(b, "  %s: %s\n", arr[i].name,
					      arr[i].note ? arr[i].note : "");
		fs_buf_printf(b, "metric problems:\n");
		size_t shown = 0;
		for (size_t i = n; i-- > 0 && shown < FS_CTL_PROBLEMS;) {
			if (arr[i].state == CKPT_COMMITTED && arr[i].note && arr[i].note[0]) {
				fs_buf_printf(b, "  %s: %s\n", arr[i].name, arr[i].note);
				shown++;
			}
		}
		ckpt_info_free_array(arr, n);
	}
}

static void fs_gen_latest(struct fs *fs, struct fs_buf *b)
{
	int64_t id, version;
	struct ckpt_info ci;
	int rc = store_resolve_latest(fs->st, &id, &version);
	if (rc == 0)
		rc = store_ckpt_get(fs->st, id, &ci);
	if (rc == 0) {
		fs_buf_printf(b, "%s\n", ci.name);
		ckpt_info_release(&ci);
	} else if (rc != -ENOENT) {
		b->err = rc; /* empty means "none": an index error is not that */
	}
}

static void fs_gen_retention(struct fs *fs, struct fs_buf *b)
{
	struct retain_row *rows = NULL;
	size_t n = 0;
	int rc = store_retain_plan(fs->st, &rows, &n);
	if (rc < 0) {
		b->err = rc;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		fs_buf_tsv(b, rows[i].name);
		fs_buf_printf(b, "\t%s\t%s\n", rows[i].keep ? "keep" : "delete", rows[i].rule);
	}
	retain_rows_free(rows, n);
}

static void fs_gen_tsv(struct fs *fs, struct fs_buf *b)
{
	struct ckpt_info *arr = NULL;
	size_t n = 0;
	int rc = store_ckpt_list(fs->st, STORE_LIST_ALL, &arr, &n);
	if (rc < 0) {
		b->err = rc;
		return;
	}
	fs_buf_printf(b, "name\tstate\tstep\tepoch\tcommitted_at\tmetrics\n");
	for (size_t i = 0; i < n; i++) {
		struct ckpt_info *c = &arr[i];
		if (c->state == CKPT_DELETED || c->state == CKPT_TRASHED)
			continue;
		/* trashed ones: trash.tsv */ /* like `ckpt ls` without --all, plus the aborted ones */
		char when[40], step[32] = "", epoch[40] = "";
		fs_iso8601(c->committed_at, when, sizeof(when));
		if (c->has_step)
			snprintf(step, sizeof(step), "%lld", (long long)c->step);
		if (c->has_epoch)
			snprintf(epoch, sizeof(epoch), "%g", c->epoch);
		fs_buf_tsv(b, c->name);
		fs_buf_printf(b, "\t%s\t%s\t%s\t%s\t", store_ckpt_state_name(c->state), step, epoch,
			      when);
		for (size_t m = 0; m < c->n_metrics; m++) {
			fs_buf_printf(b, "%s", m ? ";" : "");
			fs_buf_tsv(b, c->metrics[m].name);
			fs_buf_printf(b, "=%.10g", c->metrics[m].value);
		}
		fs_buf_printf(b, "\n");
	}
	ckpt_info_free_array(arr, n);
}

/* The trash: shown name, when trashed, when it will be purged (at the
 * first commit or gc from then on), why it was deleted. */
static void fs_gen_trash(struct fs *fs, struct fs_buf *b)
{
	struct ckpt_info *arr = NULL;
	size_t n = 0;
	b->err = store_trash_list(fs->st, &arr, &n);
	pthread_mutex_lock(&fs->pol_lock);
	int64_t grace = (int64_t)fs->pol.trash_s;
	pthread_mutex_unlock(&fs->pol_lock);
	fs_buf_printf(b, "name\tdeleted_at\tpurge_at\treason\n");
	for (size_t i = 0; i < n; i++) {
		char at[40], purge[40];
		fs_iso8601(arr[i].ended_at, at, sizeof(at));
		fs_iso8601(arr[i].ended_at + grace, purge, sizeof(purge));
		fs_buf_tsv(b, arr[i].name);
		fs_buf_printf(b, "\t%s\t%s\t", at, purge);
		fs_buf_tsv(b, arr[i].deleted_rule ? arr[i].deleted_rule : "");
		fs_buf_printf(b, "\n");
	}
	ckpt_info_free_array(arr, n);
}

static void fs_metric(struct fs_buf *b, const char *name, const char *type, const char *help,
		      uint64_t v)
{
	fs_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
		      (unsigned long long)v);
}

static uint64_t fs_load(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Upper bounds (seconds) of ckptfs_commit_seconds' buckets but +Inf. */
const double fs_commit_bounds[FS_COMMIT_BUCKETS - 1] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
							 0.5,	1,    2.5,   5,	   10 };

/* The Prometheus text exposition format (version 0.0.4): counters of this
 * daemon since it mounted, gauges of the store now. */
static void fs_gen_metrics(struct fs *fs, struct fs_buf *b)
{
	static const struct {
		const char *name, *help;
		size_t off;
		bool chunk; /* of struct chunk_counters, else of struct fs_metrics */
	} counters[] = {
		{ "ckptfs_commits_total", "Checkpoints this mount committed.",
		  offsetof(struct fs_metrics, commits), false },
		{ "ckptfs_aborts_total", "Checkpoints this mount aborted.",
		  offsetof(struct fs_metrics, aborts), false },
		{ "ckptfs_deletions_total", "Checkpoints this mount deleted (rm and retention).",
		  offsetof(struct fs_metrics, deletions), false },
		{ "ckptfs_reads_total", "Read requests served from checkpoints.",
		  offsetof(struct fs_metrics, reads), false },
		{ "ckptfs_read_bytes_total", "Bytes read from checkpoints.",
		  offsetof(struct fs_metrics, read_bytes), false },
		{ "ckptfs_writes_total", "Write requests into staging checkpoints.",
		  offsetof(struct fs_metrics, writes), false },
		{ "ckptfs_write_bytes_total", "Bytes written into staging checkpoints.",
		  offsetof(struct fs_metrics, write_bytes), false },
		{ "ckptfs_read_failures_total",
		  "Reads that failed verification (EIO/EBADMSG: damaged data).",
		  offsetof(struct fs_metrics, read_failures), false },
		{ "ckptfs_chunk_reads_total", "Chunks read from the chunk store and verified.",
		  offsetof(struct chunk_counters, reads), true },
		{ "ckptfs_chunk_read_bytes_total", "Bytes of those chunks (uncompressed).",
		  offsetof(struct chunk_counters, read_bytes), true },
		{ "ckptfs_chunk_writes_total",
		  "Chunks stored: new ones, and damaged ones rewritten.",
		  offsetof(struct chunk_counters, writes), true },
		{ "ckptfs_chunk_dedup_hits_total", "Chunks saved that were stored already.",
		  offsetof(struct chunk_counters, dedup_hits), true },
		{ "ckptfs_chunk_verify_failures_total",
		  "Chunks found damaged when read or verified (never handed out).",
		  offsetof(struct chunk_counters, verify_failures), true },
	};
	struct store_stats s;
	struct chunk_counters cc;
	uint64_t cum = 0;

	store_chunk_counters(fs->st, &cc);
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		const char *base = counters[i].chunk ? (const char *)&cc : (const char *)&fs->m;
		fs_metric(b, counters[i].name, "counter", counters[i].help,
			  fs_load((const uint64_t *)(base + counters[i].off)));
	}
	memset(&s, 0, sizeof(s));
	int rc = store_stats(fs->st, &s);
	if (rc < 0) {
		b->err = rc; /* a scrape error, never a zero that looks real */
		return;
	}
	fs_metric(b, "ckptfs_checkpoints", "gauge", "Committed checkpoints in the store.",
		  s.checkpoints);
	fs_metric(b, "ckptfs_logical_bytes", "gauge", "Bytes of the committed checkpoints.",
		  s.logical_bytes);
	fs_metric(b, "ckptfs_stored_bytes", "gauge", "Chunk bytes on disk.", s.stored_bytes);
	fs_metric(b, "ckptfs_chunks", "gauge", "Chunks in the store.", s.chunks);
	fs_buf_printf(b,
		      "# HELP ckptfs_commit_seconds Time from the commit trigger to the commit.\n"
		      "# TYPE ckptfs_commit_seconds histogram\n");
	for (size_t i = 0; i < FS_COMMIT_BUCKETS; i++) {
		cum += fs_load(&fs->m.commit_bucket[i]);
		if (i + 1 < FS_COMMIT_BUCKETS)
			fs_buf_printf(b, "ckptfs_commit_seconds_bucket{le=\"%g\"} %llu\n",
				      fs_commit_bounds[i], (unsigned long long)cum);
		else
			fs_buf_printf(b, "ckptfs_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
				      (unsigned long long)cum);
	}
	fs_buf_printf(b, "ckptfs_commit_seconds_sum %.9f\nckptfs_commit_seconds_count %llu\n",
		      (double)fs_load(&fs->m.commit_ns) / 1e9, (unsigned long long)cum);
}

int fs_ctl_generate(struct fs *fs, int ctl, char **out, size_t *len)
{
	struct fs_buf b = { 0 };
	fs_buf_printf(&b, "%s", ""); /* so an empty file still has a buffer */
	switch (ctl) {
	case FS_CTL_STATUS:
		fs_gen_status(fs, &b);
		break;
	case FS_CTL_LATEST:
		fs_gen_latest(fs, &b);
		break;
	case FS_CTL_RETENTION:
		fs_gen_retention(fs, &b);
		break;
	case FS_CTL_TSV:
		fs_gen_tsv(fs, &b);
		break;
	case FS_CTL_METRICS:
		fs_gen_metrics(fs, &b);
		break;
	case FS_CTL_TRASH:
		fs_gen_trash(fs, &b);
		break;
	default:
		b.err = -EINVAL;
	}
	if (b.err) {
		free(b.s);
		return b.err;
	}
	*out = b.s;
	*len = b.len;
	return 0;
}
