/* Crash safety: a child process works on the store and is SIGKILLed at a
 * named point (CKPT_CRASH_AT) or after a random number of bytes written; the
 * parent reopens the store (recovery) and checks the invariants: every
 * previously committed checkpoint intact and byte-identical, the crashed one
 * either committed and complete or not live (aborted), never a committed
 * partial; a replaced version is wholly old or wholly new; verify is clean. */
#include <signal.h>
#include <sys/wait.h>

#include "store_test_util.h"

#define MAX_CKPTS 128
#define MAX_PATCH 8
#define NFILES 2

struct patch {
	uint64_t off, len, seed;
};

struct mck {
	char name[32];
	uint64_t size[NFILES], seed[NFILES];
	struct patch patches[NFILES][MAX_PATCH];
	int n_patches[NFILES];
	bool live;
};

static struct mck model[MAX_CKPTS];
static int n_model;
static char *dir, *spec; /* spec: what store_open is given for dir */
static int n_killed;
static int n_sc[4]; /* iterations per scenario */

static void content(const struct mck *m, int j, uint8_t *buf)
{
	int p;

	tu_fill(buf, m->size[j], m->seed[j]);
	for (p = 0; p < m->n_patches[j]; p++)
		tu_fill(buf + m->patches[j][p].off, m->patches[j][p].len, m->patches[j][p].seed);
}

static uint64_t pick_size(uint64_t *s)
{
	uint64_t b = (tu_rand(s) % 3) * CHUNK_SIZE;

	switch (tu_rand(s) % 3) {
	case 0:
		return b + tu_rand(s) % 5; /* at a boundary */
	case 1:
		return b ? b - 1 - tu_rand(s) % 3 : 17;
	default:
		return tu_rand(s) % (2 * CHUNK_SIZE + 1000);
	}
}

static const char *file_name(int j)
{
	return j ? "model.bin" : "optimizer.bin";
}

/* Child: writes checkpoint m, killing itself after kill_after bytes if set.
 * With via_tmp, it is written as tmp-NAME and renamed over NAME (replacing a
 * live one) by a committing rename, like os.replace. */
static int child_write(struct store *st, const struct mck *m, uint64_t kill_after, uint64_t *s,
		       bool via_tmp)
{
	uint64_t written = 0;
	int64_t id, root;
	char tmp[64];
	int j;

	snprintf(tmp, sizeof(tmp), "tmp-%s", m->name);
	if (store_ckpt_create(st, via_tmp ? tmp : m->name, CKPT_DIR, 0755, &id, &root) != 0)
		return 10;
	for (j = 0; j < NFILES; j++) {
		struct store_node n;
		struct store_file *f;
		uint8_t *buf = malloc(m->size[j] + 1);
		uint64_t off = 0;

		if (!buf || store_node_create(st, root, file_name(j), 0644, &n) != 0 ||
		    store_file_open(st, n.id, STORE_F_WRITE, &f) != 0)
			return 11;
		content(m, j, buf);
		while (off < m->size[j]) {
			uint64_t piece = 1 + tu_rand(s) % (CHUNK_SIZE / 2);

			if (piece > m->size[j] - off)
				piece = m->size[j] - off;
			if (kill_after && written + piece >= kill_after)
				raise(SIGKILL);
			if (store_file_write(f, buf + off, piece, off) != (ssize_t)piece)
				return 12;
			off += piece;
			written += piece;
		}
		if (store_file_close(f) != 0)
			return 13;
		free(buf);
	}
	if (via_tmp)
		return store_ckpt_rename(st, id, m->name, STORE_RENAME_COMMIT) == 0 ? 0 : 15;
	return store_ckpt_commit(st, id) == 0 ? 0 : 14;
}

/* Child: a new version of m with one patch on file 0. */
static int child_patch(struct store *st, const struct mck *m, const struct patch *p)
{
	struct ckpt_info ci;
	struct store_node root, old, nn;
	struct store_file *f;
	uint8_t *buf = malloc(p->len);
	int64_t v;

	if (!buf || store_ckpt_lookup(st, m->name, &ci) != 0)
		return 20;
	if (store_version_root(st, ci.committed_version, &root) != 0 ||
	    store_node_lookup(st, root.id, file_name(0), &old) != 0 ||
	    store_ckpt_begin_version(st, ci.id, &v) != 0 ||
	    store_node_follow(st, old.id, &nn) != 0 ||
	    store_file_open(st, nn.id, STORE_F_WRITE, &f) != 0)
		return 21;
	tu_fill(buf, p->len, p->seed);
	if (store_file_write(f, buf, p->len, p->off) != (ssize_t)p->len || store_file_close(f) != 0)
		return 22;
	free(buf);
	if (store_ckpt_commit(st, ci.id) != 0)
		return 23;
	ckpt_info_release(&ci);
	return 0;
}

static bool content_is(struct store *st, const struct mck *m, int j, int64_t node)
{
	uint8_t *want = malloc(m->size[j] + 1), *got;
	size_t len;
	bool ok;

	ck_assert_ptr_nonnull(want);
	content(m, j, want);
	got = tu_read(st, node, &len);
	ok = len == m->size[j] && memcmp(got, want, len) == 0;
	free(want);
	free(got);
	return ok;
}

/* Is live checkpoint m committed with exactly m's content? */
static bool ckpt_matches(struct store *st, const struct mck *m)
{
	struct ckpt_info ci;
	struct store_node root, n;
	bool ok = true;
	int j;

	if (store_ckpt_lookup(st, m->name, &ci) != 0)
		return false;
	ck_assert_int_eq(ci.state, CKPT_COMMITTED); /* recovery leaves nothing staging */
	ck_assert_int_eq(ci.staging_version, 0);
	ck_assert_int_eq(store_version_root(st, ci.committed_version, &root), 0);
	ckpt_info_release(&ci);
	for (j = 0; j < NFILES && ok; j++) {
		if (store_node_lookup(st, root.id, file_name(j), &n) != 0)
			return false;
		ok = content_is(st, m, j, n.id);
	}
	return ok;
}

enum scenario { SC_WRITE, SC_PATCH, SC_DELETE, SC_REPLACE };

static const struct {
	const char *point;
	enum scenario sc;
} points[] = {
	{ "commit:before_barrier", SC_WRITE },	  { "commit:after_barrier", SC_WRITE },
	{ "commit:mid_transaction", SC_WRITE },	  { "commit:after_transaction", SC_WRITE },
	{ "flush:mid_transaction", SC_WRITE },	  { "commit:before_barrier", SC_PATCH },
	{ "commit:mid_transaction", SC_PATCH },	  { "commit:after_transaction", SC_PATCH },
	{ "delete:mid_transaction", SC_DELETE },  { "gc:mid_purge", SC_DELETE },
	{ "gc:before_rows", SC_DELETE },	  { "commit:before_barrier", SC_REPLACE },
	{ "commit:mid_transaction", SC_REPLACE }, { "commit:after_transaction", SC_REPLACE },
};

static void run_iteration(int it, uint64_t *s)
{
	int np = (int)(sizeof(points) / sizeof(points[0]));
	bool random_kill = it % 4 == 2, clean = it % 4 == 3;
	int pi = (it - it / 4 * 2) % np; /* walks every point in turn */
	enum scenario sc = random_kill || clean ? SC_WRITE : points[pi].sc;
	const char *point = random_kill || clean ? NULL : points[pi].point;
	struct mck cand;
	struct patch p = { 0 };
	int target = -1, status, j, live = 0, k;
	uint64_t kill_after = 0;
	struct store *st;
	pid_t pid;

	for (k = 0; k < n_model; k++)
		live += model[k].live;
	if ((sc == SC_PATCH || sc == SC_DELETE || sc == SC_REPLACE) && live == 0)
		sc = SC_WRITE;
	memset(&cand, 0, sizeof(cand));
	snprintf(cand.name, sizeof(cand.name), "checkpoint-%d", it);
	for (j = 0; j < NFILES; j++) {
		cand.size[j] = pick_size(s);
		cand.seed[j] = tu_rand(s);
	}
	if (random_kill)
		kill_after = 1 + tu_rand(s) % (cand.size[0] + cand.size[1] + 1);
	if (sc != SC_WRITE) {
		do
			target = (int)(tu_rand(s) % (uint64_t)n_model);
		while (!model[target].live);
		if (sc == SC_REPLACE)
			memcpy(cand.name, model[target].name, sizeof(cand.name));
		if (sc == SC_PATCH) {
			uint64_t sz = model[target].size[0];

			if (!sz || model[target].n_patches[0] == MAX_PATCH) {
				sc = SC_DELETE;
			} else {
				p.off = tu_rand(s) % sz;
				p.len = 1 + tu_rand(s) % (sz - p.off);
				p.seed = tu_rand(s);
			}
		}
	}
	n_sc[sc]++;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int rc = 0;

		if (point)
			setenv("CKPT_CRASH_AT", point, 1);
		if (store_open(spec, 0, &st, NULL, 0) != 0)
			_exit(2);
		if (sc == SC_WRITE || sc == SC_REPLACE)
			rc = child_write(st, &cand, kill_after, s, sc == SC_REPLACE);
		else if (sc == SC_PATCH)
			rc = child_patch(st, &model[target], &p);
		else {
			struct ckpt_info ci;

			if (store_ckpt_lookup(st, model[target].name, &ci) != 0 ||
			    store_ckpt_delete(st, ci.id, "user") != 0 ||
			    store_gc(st, true, NULL) != 0)
				rc = 30;
			ckpt_info_release(&ci);
		}
		store_close(st);
		_exit(rc);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	n_killed += WIFSIGNALED(status);
	ck_assert_msg(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
		      "iteration %d (%s): child exit %d", it, point ? point : "random",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	st = tu_open(dir, 0);
	/* every previously committed checkpoint: intact (the targets are checked below) */
	for (k = 0; k < n_model; k++)
		if (model[k].live && k != target)
			ck_assert_msg(ckpt_matches(st, &model[k]), "iteration %d (%s): %s damaged",
				      it, point ? point : "random", model[k].name);
	if (sc == SC_WRITE) {
		struct ckpt_info ci;

		if (store_ckpt_lookup(st, cand.name, &ci) == 0) {
			ckpt_info_release(&ci);
			ck_assert_msg(ckpt_matches(st, &cand), "iteration %d: committed partial %s",
				      it, cand.name);
			ck_assert(n_model < MAX_CKPTS);
			cand.live = true;
			model[n_model++] = cand;
		}
		if (point && strcmp(point, "commit:after_transaction") == 0)
			ck_assert(cand.live); /* the commit had returned durable */
		if (point && strcmp(point, "commit:mid_transaction") == 0)
			ck_assert(!cand.live);
	} else if (sc == SC_REPLACE) {
		struct ckpt_info ci;

		/* atomic replace: the name shows the old or the complete new one */
		if (ckpt_matches(st, &cand)) {
			cand.live = true;
			model[target] = cand;
		} else {
			ck_assert_msg(ckpt_matches(st, &model[target]),
				      "iteration %d: %s neither old nor new after replace", it,
				      cand.name);
		}
		if (point && strcmp(point, "commit:after_transaction") == 0)
			ck_assert(model[target].live && ckpt_matches(st, &cand));
		if (point && strcmp(point, "commit:mid_transaction") == 0)
			ck_assert(!ckpt_matches(st, &cand));
		/* the temporary never stays live */
		{
			char tmp[64];

			snprintf(tmp, sizeof(tmp), "tmp-%s", cand.name);
			ck_assert_int_eq(store_ckpt_lookup(st, tmp, &ci), -ENOENT);
		}
	} else if (sc == SC_PATCH) {
		struct mck patched = model[target];

		patched.patches[0][patched.n_patches[0]++] = p;
		if (ckpt_matches(st, &patched))
			model[target] = patched;
		else
			ck_assert_msg(ckpt_matches(st, &model[target]),
				      "iteration %d: %s neither old nor new", it,
				      model[target].name);
	} else {
		struct ckpt_info ci;

		if (store_ckpt_lookup(st, model[target].name, &ci) == 0) {
			ckpt_info_release(&ci);
			ck_assert(ckpt_matches(st, &model[target]));
		} else {
			model[target].live = false;
		}
	}
	/* latest: a committed checkpoint whose content was just checked */
	{
		int64_t lid;
		struct ckpt_info ci;
		bool known = false;

		if (store_resolve_latest(st, &lid, NULL) == 0) {
			ck_assert_int_eq(store_ckpt_get(st, lid, &ci), 0);
			for (k = 0; k < n_model; k++)
				known |= model[k].live && strcmp(model[k].name, ci.name) == 0;
			ck_assert_msg(known, "latest %s is not a known committed checkpoint",
				      ci.name);
			ckpt_info_release(&ci);
		}
	}
	{
		int problems = store_verify(st, NULL, NULL, NULL);

		ck_assert_msg(problems == 0, "iteration %d (%s): verify found %d problems", it,
			      point ? point : "random", problems);
	}
	store_close(st);
}

START_TEST(test_crash_points)
{
	uint64_t s = 0x5eed;
	int it;

	dir = tu_tmpstore();
	spec = tu_spec(dir);
	for (it = 0; it < 72; it++)
		run_iteration(it, &s);
	{
		int live = 0, k;

		for (k = 0; k < n_model; k++)
			live += model[k].live;
		printf("crash test: 72 iterations (write %d, new version %d, delete %d, replace %d),"
		       " %d killed, %d checkpoints committed, %d live at the end\n",
		       n_sc[SC_WRITE], n_sc[SC_PATCH], n_sc[SC_DELETE], n_sc[SC_REPLACE], n_killed,
		       n_model, live);
		ck_assert_int_gt(n_sc[SC_REPLACE], 5);
		ck_assert_int_gt(n_sc[SC_PATCH], 5);
		ck_assert_int_gt(n_sc[SC_DELETE], 5);
		ck_assert_int_gt(n_model, 15);
		ck_assert_int_gt(n_killed, 30);
	}
	tu_rmrf(dir);
	free(dir);
	free(spec);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_crash");
	TCase *tc = tcase_create("crash");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc,
			  600); /* 72 child runs; ASan on a loaded 2-core machine passed 120 s */
	tcase_add_test(tc, test_crash_points);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
