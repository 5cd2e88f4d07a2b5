/* Damage that must not spread, and chunks that must not be lost track of:
 * a chunk found damaged (by a read or by verify) is rewritten by the next
 * save of the same bytes, which heals every checkpoint sharing it; a save
 * that fails on a full disk leaves no chunk file without an index row; verify
 * beside a live writer does not call a chunk that is between its file and
 * its row an orphan. */
#include <time.h>

#define TU_STORE_FIXTURE
#include "store_test_util.h"

/* STORE/chunks/ab/<hash> of the chunk holding data[0..len). */
static void chunk_file_of(const char *store, const void *data, size_t len, char *out, size_t cap)
{
	uint8_t h[CHUNK_HASH_LEN];
	char hex[65];

	chunk_hash(data, len, h);
	chunk_hex(h, hex);
	snprintf(out, cap, "%s/chunks/%.2s/%s", store, hex, hex);
}

/* The rule of the newest event of that kind, or NULL (malloc'd). */
static char *last_event(struct store *s, const char *kind)
{
	struct store_event *ev;
	size_t n, i;
	char *rule = NULL;

	ck_assert_int_eq(store_events(s, &ev, &n), 0);
	for (i = 0; i < n; i++) {
		if (strcmp(ev[i].event, kind) == 0) {
			free(rule);
			rule = strdup(ev[i].rule ? ev[i].rule : "");
		}
	}
	store_events_free(ev, n);
	return rule;
}

/* Damage found by a read: a new checkpoint with the same bytes commits,
 * reads back intact, and heals the old checkpoint (logged as "heal"). */
START_TEST(test_read_damage_heals)
{
	const size_t sz = 3 * CHUNK_SIZE + 1000;
	uint8_t *a = malloc(sz), *buf = malloc(CHUNK_SIZE);
	struct store_file *f;
	char path[700], *rule;
	int problems = 0;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(buf);
	tu_fill(a, sz, 11);
	tu_ckpt1(st, "old", "m.bin", a, sz);
	chunk_file_of(dir, a, CHUNK_SIZE, path, sizeof(path)); /* the file's first chunk */
	tu_flip_byte(path);
	ck_assert_int_eq(store_file_open(st, tu_lookup(st, "old", "m.bin"), STORE_F_READ, &f), 0);
	ck_assert_int_eq(store_file_read(f, buf, CHUNK_SIZE, 0), -EIO);
	ck_assert_int_eq(store_file_close(f), 0);

	tu_ckpt1(st, "new", "m.bin", a, sz);
	tu_expect(st, tu_lookup(st, "new", "m.bin"), a, sz);
	tu_expect(st, tu_lookup(st, "old", "m.bin"), a, sz); /* healed too */
	rule = last_event(st, "heal");
	ck_assert_ptr_nonnull(rule);
	ck_assert_msg(strstr(rule, "old") != NULL, "heal event names the healed checkpoint: %s",
		      rule);
	free(rule);
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 0);
	ck_assert_int_eq(problems, 0);
	free(a);
	free(buf);
}
END_TEST

/* Damage found by verify alone (no read): a single-file checkpoint whose
 * first chunk is those bytes commits and reads back, and the old one heals. */
START_TEST(test_verify_damage_heals_file_ckpt)
{
	const size_t sz = 2 * CHUNK_SIZE + 77;
	uint8_t *a = malloc(sz);
	char path[700];
	int64_t id, node;
	struct store_file *f;
	int problems = 0;

	ck_assert_ptr_nonnull(a);
	tu_fill(a, sz, 12);
	tu_ckpt1(st, "old", "m.bin", a, sz);
	chunk_file_of(dir, a, CHUNK_SIZE, path, sizeof(path));
	tu_flip_byte(path);
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 1);

	ck_assert_int_eq(store_ckpt_create(st, "last.ckpt", CKPT_FILE, 0644, &id, &node), 0);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_WRITE, &f), 0);
	ck_assert_int_eq(store_file_write(f, a, sz, 0), (ssize_t)sz);
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	tu_expect(st, node, a, sz);
	tu_expect(st, tu_lookup(st, "old", "m.bin"), a, sz);
	problems = 0;
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 0);
	free(a);
}
END_TEST

/* A full disk while a file's dirty slots become chunks at close: the save
 * fails with ENOSPC, and after abort + gc no chunk file is left without an
 * index row (compress=auto keeps every slot for the flush itself). Runs in
 * a child with its own mount namespace and a 24 MiB tmpfs. */
static int enospc_flush_child(const char *base)
{
	char sdir[600];
	struct store *s;
	struct store_file *f;
	struct store_node n;
	uint8_t *buf = malloc(CHUNK_SIZE);
	int64_t id, root;
	int rc, problems = 0;

	if (!buf)
		return 2;
	snprintf(sdir, sizeof(sdir), "%s/store", base);
	if (store_open(sdir, 0, &s, NULL, 0) != 0)
		return 3;
	tu_set_compress(s, "auto");
	if (store_ckpt_create(s, "big", CKPT_DIR, 0755, &id, &root) != 0 ||
	    store_node_create(s, root, "f", 0644, &n) != 0 ||
	    store_file_open(s, n.id, STORE_F_WRITE, &f) != 0)
		return 4;
	for (uint64_t k = 0; k < 20; k++) { /* 20 MiB of overlay, no flush yet */
		tu_fill(buf, CHUNK_SIZE, k + 100);
		if (store_file_write(f, buf, CHUNK_SIZE, k * CHUNK_SIZE) != CHUNK_SIZE)
			return 5;
	}
	rc = store_file_close(f); /* the flush: some chunks fit, then ENOSPC */
	if (rc != -ENOSPC)
		return 6;
	if (store_ckpt_abort(s, id, "disk full") != 0 || store_gc(s, true, NULL) != 0)
		return 7;
	if (store_verify(s, tu_count_problem, NULL, &problems) != 0 || problems)
		return 8;
	store_close(s);
	free(buf);
	return 0;
}

START_TEST(test_enospc_flush_no_orphan)
{
	tu_in_tmpfs(dir, "24m", enospc_flush_child);
}
END_TEST

static void count_note(void *ctx, const char *line)
{
	(void)ctx;
	printf("verify note: %s\n", line);
}

/* A chunk file without a row is an orphan for the lock holder (nothing of
 * its own is in flight); beside a live writer (no lock) a fresh one may be
 * a chunk between its file and its row: skipped, and said so; an old one
 * is reported. */
START_TEST(test_verify_orphan_grace)
{
	uint8_t data[4096];
	char path[700], fake[700], cmd[1600];
	struct store_verify_opts o = { .report = tu_count_problem, .note = count_note };
	struct timespec old[2] = { { .tv_sec = time(NULL) - 7200 },
				   { .tv_sec = time(NULL) - 7200 } };
	struct store *ro;
	int problems = 0;

	tu_fill(data, sizeof(data), 3);
	tu_ckpt1(st, "ck", "f", data, sizeof(data));
	chunk_file_of(dir, data, sizeof(data), path, sizeof(path));
	snprintf(fake, sizeof(fake), "%s/chunks/00/00%062d", dir, 9);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/chunks/00' && cp '%s' '%s'", dir, path, fake);
	ck_assert_int_eq(system(cmd), 0);

	/* the lock holder; with several mounts (PostgreSQL) no mount is alone */
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), tu_pg() ? 0 : 1);
	ro = tu_open(dir, STORE_RDONLY | STORE_NOCREATE);
	problems = 0;
	o.ctx = &problems;
	ck_assert_int_eq(store_verify_ex(ro, &o), 0);
	ck_assert_int_eq(problems, 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, fake, old, 0), 0);
	ck_assert_int_eq(store_verify_ex(ro, &o), 1);
	ck_assert_int_eq(problems, 1);
	store_close(ro);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("store_heal");
	TCase *tc = tcase_create("heal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_read_damage_heals);
	tcase_add_test(tc, test_verify_damage_heals_file_ckpt);
	tcase_add_test(tc, test_enospc_flush_no_orphan);
	tcase_add_test(tc, test_verify_orphan_grace);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
