/* Unit tests for core/chunk_win.c, the read window, and chunk_get_whole on
 * the dir backend (O_DIRECT into an aligned buffer): bytes equal what was
 * put, also for many threads reading overlapping chunks at once; a damaged
 * chunk in the middle of a run is -EIO for that chunk only and never
 * served (nor kept: once healed it reads back); a held slot's bytes stay
 * put while other chunks evict; every buffer returns to the budget, also
 * from a slot all of whose bytes were served, unless the chunk is wanted
 * again further on. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk_win.h"

#define N 24 /* chunks: three times a window */

static char base[] = "/var/tmp/check_chunk_win.XXXXXX";
static struct chunk_store *cs;
static struct chunk_ref refs[N];
static uint8_t *data[N];

static uint32_t chunk_len(int i)
{
	return i == N - 1 ? 12345 : CHUNK_SIZE; /* a short last chunk */
}

static void setup(void)
{
	char dir[64];

	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(dir, sizeof(dir), "%s/chunks", base);
	ck_assert_int_eq(chunk_store_open(dir, &cs), 0);
	srand(7);
	for (int i = 0; i < N; i++) {
		data[i] = malloc(CHUNK_SIZE);
		for (uint32_t j = 0; j < chunk_len(i); j++)
			data[i][j] = (uint8_t)(rand() >> 7);
		ck_assert_int_ge(chunk_put(cs, data[i], chunk_len(i),
					   i % 3 == 1 ? CHUNK_CODEC_ZSTD : CHUNK_CODEC_NONE,
					   &refs[i], NULL, NULL),
				 0);
	}
}

static void teardown(void)
{
	char cmd[128];

	chunk_store_close(cs);
	for (int i = 0; i < N; i++)
		free(data[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(base + strlen(base) - 6, "XXXXXX");
}

/* Flips one payload byte of chunk i's file. */
static void damage(int i)
{
	char hex[65], path[256];
	uint8_t b;

	chunk_hex(refs[i].hash, hex);
	snprintf(path, sizeof(path), "%s/chunks/%.2s/%s", base, hex, hex);
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, 24 + 1000), 1);
	b ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &b, 1, 24 + 1000), 1);
	close(fd);
}

static int get_check(struct chunk_win *w, int i)
{
	struct chunk_win_slot *s;
	const uint8_t *p;
	int rc = chunk_win_get(w, &refs[i], i, &s, &p);

	if (rc == 0) {
		ck_assert_int_eq(memcmp(p, data[i], chunk_len(i)), 0);
		chunk_win_put(w, s, 0);
	}
	return rc;
}

START_TEST(test_whole_roundtrip)
{
	uint8_t *abuf;
	const uint8_t *p;

	ck_assert_int_eq(posix_memalign((void **)&abuf, CHUNK_WHOLE_ALIGN, CHUNK_WHOLE_LEN), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(chunk_get_whole(cs, &refs[i], abuf, &p), 0);
		ck_assert_int_eq(memcmp(p, data[i], chunk_len(i)), 0);
	}
	struct chunk_ref bad = refs[0];
	bad.xxh ^= 1; /* the index says otherwise: never the object's bytes */
	ck_assert_int_eq(chunk_get_whole(cs, &bad, abuf, &p), -EIO);
	free(abuf);
}
END_TEST

START_TEST(test_sequential_and_reuse)
{
	struct chunk_win *w = chunk_win_new(cs);
	int left = chunk_win_budget_left();

	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < N; i++) {
			ck_assert_int_eq(get_check(w, i), 0);
			ck_assert_int_eq(get_check(w, i), 0); /* the straddling request */
		}
	ck_assert_int_eq(chunk_win_budget_left(), left - CHUNK_WIN_SLOTS);
	chunk_win_free(w);
	ck_assert_int_eq(chunk_win_budget_left(), left);
}
END_TEST

/* Damage in the middle of a run: -EIO for that chunk alone, again on a
 * retry (a failure is not kept as data), and its bytes once healed. */
START_TEST(test_damage_mid_run)
{
	struct chunk_win *w = chunk_win_new(cs);

	damage(10);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(get_check(w, i), i == 10 ? -EIO : 0);
	ck_assert_int_eq(get_check(w, 10), -EIO);
	ck_assert_int_eq(chunk_put_ref(cs, data[10], &refs[10], CHUNK_CODEC_NONE, CHUNK_PUT_REWRITE,
				       NULL, NULL),
			 2);
	ck_assert_int_eq(get_check(w, 10), 0);
	chunk_win_free(w);
}
END_TEST

/* A held slot keeps its bytes while every other slot is reused; with every
 * slot held, a new chunk is -ENOBUFS (the caller reads another way). */
START_TEST(test_held_and_full)
{
	struct chunk_win *w = chunk_win_new(cs);
	struct chunk_win_slot *s[CHUNK_WIN_SLOTS];
	const uint8_t *p[CHUNK_WIN_SLOTS];

	ck_assert_int_eq(chunk_win_get(w, &refs[0], 0, &s[0], &p[0]), 0);
	for (int i = 1; i < N; i++)
		ck_assert_int_eq(get_check(w, i), 0);
	ck_assert_int_eq(memcmp(p[0], data[0], CHUNK_SIZE), 0);
	for (int i = 1; i < CHUNK_WIN_SLOTS; i++)
		ck_assert_int_eq(chunk_win_get(w, &refs[i], i, &s[i], &p[i]), 0);
	ck_assert_int_eq(get_check(w, CHUNK_WIN_SLOTS), -ENOBUFS);
	for (int i = 0; i < CHUNK_WIN_SLOTS; i++) {
		ck_assert_int_eq(memcmp(p[i], data[i], chunk_len(i)), 0);
		chunk_win_put(w, s[i], 0);
	}
	ck_assert_int_eq(get_check(w, CHUNK_WIN_SLOTS), 0);
	chunk_win_free(w);
}
END_TEST

/* Many threads read overlapping runs (as FUSE worker threads serve
 * readahead requests that straddle chunks), one chunk damaged: every get
 * is the right bytes, -EIO for the damaged one, or -ENOBUFS. */
struct reader {
	struct chunk_win *w;
	int first, ok, eio;
};

static void *reader_run(void *arg)
{
	struct reader *r = arg;

	for (int rep = 0; rep < 4; rep++)
		for (int i = r->first; i < N; i++) {
			int rc;

			if (r->first == 1 && i + 2 < N) /* some read ahead */
				chunk_win_want(r->w, &refs[i + 2], i + 2);
			rc = get_check(r->w, i);

			if (rc == 0)
				r->ok++;
			else if (rc == -EIO && i == 5)
				r->eio++;
			else
				ck_assert_int_eq(rc, -ENOBUFS);
		}
	return NULL;
}

START_TEST(test_concurrent)
{
	struct chunk_win *w = chunk_win_new(cs);
	struct reader r[8];
	pthread_t t[8];
	int left = chunk_win_budget_left(), ok = 0, eio = 0;

	damage(5);
	for (int i = 0; i < 8; i++) {
		r[i] = (struct reader){ w, i % 3, 0, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader_run, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].ok;
		eio += r[i].eio;
	}
	ck_assert_int_gt(ok, 0);
	ck_assert_int_gt(eio, 0);
	chunk_win_free(w);
	ck_assert_int_eq(chunk_win_budget_left(), left);
}
END_TEST

/* A slot whose every byte has been served gives its buffer back at once
 * (the window lives on); a part served keeps it; a get after the give-back
 * loads the chunk again, right. */
START_TEST(test_served_gives_back)
{
	struct chunk_win *w = chunk_win_new(cs);
	int left = chunk_win_budget_left();
	struct chunk_win_slot *s;
	const uint8_t *p;

	ck_assert_int_eq(chunk_win_get(w, &refs[3], 3, &s, &p), 0);
	chunk_win_put(w, s, CHUNK_SIZE / 2);
	ck_assert_int_eq(chunk_win_budget_left(), left - 1);
	ck_assert_int_eq(chunk_win_get(w, &refs[3], 3, &s, &p), 0);
	ck_assert_int_eq(memcmp(p, data[3], CHUNK_SIZE), 0);
	chunk_win_put(w, s, CHUNK_SIZE / 2);
	ck_assert_int_eq(chunk_win_budget_left(), left);
	ck_assert_int_eq(get_check(w, 3), 0);
	ck_assert_int_eq(get_check(w, N - 1), 0);
	ck_assert_int_eq(chunk_win_budget_left(), left - 2);
	chunk_win_free(w);
	ck_assert_int_eq(chunk_win_budget_left(), left);
}
END_TEST

/* A chunk wanted at two places (chunk_win_want for another pos): its first full
 * serve keeps it for the second, which then gives it back. */
START_TEST(test_repeated_chunk_kept)
{
	struct chunk_win *w = chunk_win_new(cs);
	int left = chunk_win_budget_left();
	struct chunk_win_slot *s;
	const uint8_t *p;

	ck_assert_int_eq(chunk_win_get(w, &refs[3], 0, &s, &p), 0);
	chunk_win_want(w, &refs[3], 0); /* the same place again: not a repeat */
	chunk_win_put(w, s, CHUNK_SIZE);
	ck_assert_int_eq(chunk_win_budget_left(), left);
	ck_assert_int_eq(chunk_win_get(w, &refs[3], 0, &s, &p), 0);
	chunk_win_want(w, &refs[3], 7);
	chunk_win_put(w, s, CHUNK_SIZE);
	ck_assert_int_eq(chunk_win_budget_left(), left - 1);
	ck_assert_int_eq(chunk_win_get(w, &refs[3], 7, &s, &p), 0);
	ck_assert_int_eq(memcmp(p, data[3], CHUNK_SIZE), 0);
	chunk_win_put(w, s, CHUNK_SIZE);
	ck_assert_int_eq(chunk_win_budget_left(), left);
	chunk_win_free(w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chunk_win");
	TCase *tc = tcase_create("win");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_whole_roundtrip);
	tcase_add_test(tc, test_sequential_and_reuse);
	tcase_add_test(tc, test_damage_mid_run);
	tcase_add_test(tc, test_held_and_full);
	tcase_add_test(tc, test_concurrent);
	tcase_add_test(tc, test_served_gives_back);
	tcase_add_test(tc, test_repeated_chunk_kept);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
