/* The bottom of the store: small helpers every store module uses (time,
 * names, crash points, events, notes, index errors), chunk reference counts,
 * pins, the policy read, and checkpoint info release. It calls only the index,
 * chunk and pure modules (util, policy), never a store module above it (see
 * the layers in store_int.h). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "store_int.h"
#include "util.h"

/* ---- small helpers ---- */

const char *store_ckpt_state_name(int state)
{
	switch (state) {
	case CKPT_STAGING:
		return "staging";
	case CKPT_COMMITTED:
		return "committed";
	case CKPT_ABORTED:
		return "aborted";
	case CKPT_DELETED:
		return "deleted";
	case CKPT_TRASHED:
		return "trashed";
	}
	return "unknown";
}

int64_t store_now(void)
{
	return (int64_t)time(NULL);
}

int64_t store_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writers (flush, gc) must not starve behind a steady stream of readers;
 * none of these locks is ever taken recursively, so writer preference is safe. */
int store_rwlock_init(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t a;
	int rc;

	if (pthread_rwlockattr_init(&a) != 0)
		return -ENOMEM;
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(l, &a);
	pthread_rwlockattr_destroy(&a);
	return rc ? -rc : 0;
}

void store_crash_point(struct store *st, const char *point)
{
	size_t n = strlen(point);

	if (!st->crash_at[0] || strncmp(st->crash_at, point, n) != 0)
		return;
	if (st->crash_at[n] == 0)
		raise(SIGKILL);
	else if (st->crash_at[n] == '+') /* POINT+MS: a pause there (race tests) */
		usleep((useconds_t)atoi(st->crash_at + n + 1) * 1000);
}

bool store_writable(const struct store *st)
{
	return !(st->flags & (STORE_RDONLY | STORE_SHARED));
}

int store_name_check(const char *name)
{
	if (!name || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (strchr(name, '/'))
		return -EINVAL;
	if (!util_utf8_valid(name))
		return -EILSEQ;
	return 0;
}

int store_event_add(struct store *st, const char *event, const char *name, const char *rule)
{
	return index_event_add(st->ix, store_now(), event, name, rule);
}

/* ---- chunk reference counts ---- */

int store_chunk_ref(struct store *st, const struct chunk_ref *r, int delta, uint32_t stored,
		    int codec)
{
	return index_chunk_ref(st->ix, r, delta, stored, codec);
}

int store_chunk_has_row(struct store *st, const uint8_t hash[CHUNK_HASH_LEN])
{
	int rc = index_chunk_exists(st->ix, hash);

	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

static int chunks_blob_delta(struct store *st, const void *blob, size_t len, int delta)
{
	struct chunk_ref *refs = NULL;
	size_t n = 0, i;
	int rc;

	if (!blob || !len)
		return 0;
	rc = chunk_refs_decode(blob, len, &refs, &n);
	if (rc < 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++)
		rc = store_chunk_ref(st, &refs[i], delta, 0, 0);
	free(refs);
	return rc;
}

int store_chunks_unref_blob(struct store *st, const void *blob, size_t len)
{
	return chunks_blob_delta(st, blob, len, -1);
}

/* Used for copy-on-write copies: every chunk already has a row. */
int store_chunks_ref_blob(struct store *st, const void *blob, size_t len)
{
	return chunks_blob_delta(st, blob, len, 1);
}

/* ---- pins ---- */

void store_version_pin(struct store *st, int64_t version)
{
	size_t i;

	store_mu_lock(st);
	for (i = 0; i < st->n_pins; i++) {
		if (st->pins[i].version == version) {
			st->pins[i].count++;
			goto out_unlock;
		}
	}
	if (st->n_pins == st->cap_pins) {
		size_t nc = st->cap_pins ? st->cap_pins * 2 : 16;
		struct pin_ent *np = realloc(st->pins, nc * sizeof(*np));

		/* no way to report: an unrecorded pin only means its rows may be
		 * purged early; open files keep their data regardless */
		if (!np)
			goto out_unlock;
		st->pins = np;
		st->cap_pins = nc;
	}
	st->pins[st->n_pins].version = version;
	st->pins[st->n_pins].count = 1;
	st->n_pins++;
out_unlock:
	store_mu_unlock(st);
}

void store_version_unpin(struct store *st, int64_t version)
{
	size_t i;

	store_mu_lock(st);
	for (i = 0; i < st->n_pins; i++) {
		if (st->pins[i].version == version) {
			if (--st->pins[i].count == 0)
				st->pins[i] = st->pins[--st->n_pins];
			break;
		}
	}
	store_mu_unlock(st);
}

bool store_version_pinned(struct store *st, int64_t version)
{
	size_t i;

	store_assert_mu_held(st);
	for (i = 0; i < st->n_pins; i++)
		if (st->pins[i].version == version)
			return true;
	return false;
}

/* ---- policy ---- */

/* The policy's rows as "key=value\n" lines, for policy_from_text. */
struct policy_text {
	char *text;
	size_t len, cap;
};

static int policy_line(void *ctx, const char *k, const char *v)
{
	struct policy_text *t = ctx;
	size_t need = strlen(k ? k : "") + strlen(v ? v : "") + 3;

	if (t->len + need > (1u << 20)) /* cap: a policy is small */
		return -E2BIG;
	if (t->len + need > t->cap) {
		size_t nc = (t->len + need) * 2;
		char *nt = realloc(t->text, nc);

		if (!nt)
			return -ENOMEM;
		t->text = nt;
		t->cap = nc;
	}
	t->len += (size_t)sprintf(t->text + t->len, "%s=%s\n", k ? k : "", v ? v : "");
	return 0;
}

int store_policy_get(struct store *st, struct policy *out)
{
	struct policy_text t = { 0 };
	int rc;

	policy_init(out);
	store_mu_lock(st);
	rc = index_policy_foreach(st->ix, policy_line, &t);
	store_mu_unlock(st);
	if (rc == 0 && t.text)
		rc = policy_from_text(out, t.text);
	free(t.text);
	return rc;
}

/* ---- notes ---- */

static void note_locked(struct store *st, const char *fmt, va_list ap)
{
	size_t slot = (st->notes_head + st->n_notes) % STORE_NOTES_MAX;

	store_assert_mu_held(st);
	if (st->n_notes == STORE_NOTES_MAX)
		st->notes_head = (st->notes_head + 1) % STORE_NOTES_MAX;
	else
		st->n_notes++;
	vsnprintf(st->notes[slot], STORE_NOTE_LEN, fmt, ap);
	/* one line per note */
	for (char *c = st->notes[slot]; *c; c++)
		if (*c == '\n')
			*c = ' ';
}

static void note_locked_fmt(struct store *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note_locked_fmt(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_locked(st, fmt, ap);
	va_end(ap);
}

void store_note(struct store *st, const char *fmt, ...)
{
	va_list ap;

	store_mu_lock(st);
	va_start(ap, fmt);
	note_locked(st, fmt, ap);
	va_end(ap);
	store_mu_unlock(st);
}

int store_index_error(struct store *st, const char *what)
{
	char line[STORE_NOTE_LEN];
	int rc = index_last_errno(st->ix);

	store_assert_mu_held(st);
	snprintf(line, sizeof(line), "index error %s: %s (%s)", what, index_last_error(st->ix),
		 strerror(-rc));
	/* a damaged index fails every lookup alike: one note, not 64 */
	if (!st->n_notes ||
	    strcmp(st->notes[(st->notes_head + st->n_notes - 1) % STORE_NOTES_MAX], line) != 0)
		note_locked_fmt(st, "%s", line);
	return rc;
}

char *store_notes(struct store *st)
{
	char *out;
	size_t i, len = 0;

	store_mu_lock(st);
	out = malloc(STORE_NOTES_MAX * (STORE_NOTE_LEN + 1) + 1);
	if (out) {
		for (i = 0; i < st->n_notes; i++) {
			const char *n = st->notes[(st->notes_head + i) % STORE_NOTES_MAX];

			len += (size_t)sprintf(out + len, "%s\n", n);
		}
		out[len] = 0;
	}
	store_mu_unlock(st);
	return out;
}

/* ---- checkpoint names ---- */

int store_ckpt_name(struct store *st, int64_t ckpt_id, char **out)
{
	return index_ckpt_name(st->ix, ckpt_id, out);
}
