/* Unit tests for core/store_diff.c (`ckpt diff`): the chunk-list walk on
 * made-up lists, then files of a real store: whole files, safetensors
 * tensors on whole chunks (decided without reading data) and small tensors
 * that share chunks (read just their ranges). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "store_diff.h"
#include "store_test_util.h"

#define MIB (1u << 20)

/* ---- diff_runs on made-up lists ---- */

/* A list of n chunks of the given lengths; chunk i's hash is ids[i]. */
static struct chunk_ref *mk_refs(const uint32_t *lens, const uint8_t *ids, size_t n)
{
	struct chunk_ref *r = calloc(n ? n : 1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	for (size_t i = 0; i < n; i++) {
		r[i].raw_len = lens[i];
		r[i].hash[0] = ids[i];
	}
	return r;
}

struct runs {
	char text[512]; /* "off+len:V " per run, V = S/C/U */
};

static int runs_cb(void *ctx, uint64_t off, uint64_t len, int verdict)
{
	struct runs *x = ctx;
	size_t l = strlen(x->text);

	snprintf(x->text + l, sizeof(x->text) - l, "%llu+%llu:%c ", (unsigned long long)off,
		 (unsigned long long)len, "SCU"[verdict]);
	return 0;
}

static const char *walk(const uint32_t *la, const uint8_t *ia, size_t na, uint64_t oa,
			const uint32_t *lb, const uint8_t *ib, size_t nb, uint64_t ob, uint64_t len)
{
	static struct runs x;
	struct chunk_ref *ra = mk_refs(la, ia, na), *rb = mk_refs(lb, ib, nb);
	struct diff_list a, b;
	int r;

	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(diff_list_init(&a, ra, na), 0);
	ck_assert_int_eq(diff_list_init(&b, rb, nb), 0);
	r = diff_runs(&a, oa, &b, ob, len, runs_cb, &x);
	diff_list_release(&a);
	diff_list_release(&b);
	free(ra);
	free(rb);
	if (r == -EINVAL)
		return "EINVAL";
	ck_assert_int_eq(r, 0);
	return x.text;
}

START_TEST(test_runs)
{
	static const uint32_t g[] = { 10, 10, 10, 10 };
	static const uint8_t same[] = { 1, 2, 3, 4 }, one[] = { 1, 9, 3, 4 },
			     two[] = { 1, 9, 8, 4 };

	ck_assert_str_eq(walk(g, same, 4, 0, g, same, 4, 0, 40), "0+40:S ");
	/* a changed chunk wholly inside the range is decided */
	ck_assert_str_eq(walk(g, same, 4, 0, g, one, 4, 0, 40), "0+10:S 10+10:C 20+20:S ");
	ck_assert_str_eq(walk(g, same, 4, 0, g, two, 4, 0, 40), "0+10:S 10+20:C 30+10:S ");
	/* a range covering part of a changed chunk: only reading can tell */
	ck_assert_str_eq(walk(g, same, 4, 15, g, one, 4, 15, 10), "0+5:U 5+5:S ");
	ck_assert_str_eq(walk(g, same, 4, 12, g, one, 4, 12, 8), "0+8:U ");
	/* ranges at different offsets compare chunk for chunk relative to them */
	static const uint32_t h[] = { 5, 10, 10, 10 };
	static const uint8_t sh[] = { 7, 2, 3, 4 };
	ck_assert_str_eq(walk(g, same, 4, 10, h, sh, 4, 5, 30), "0+30:S ");
	/* other grids: nothing is decided */
	static const uint32_t k[] = { 15, 15, 10 };
	static const uint8_t kid[] = { 1, 2, 4 };
	ck_assert_str_eq(walk(g, same, 4, 0, k, kid, 3, 0, 40), "0+30:U 30+10:S ");
	/* empty and out-of-range */
	ck_assert_str_eq(walk(g, same, 4, 40, g, same, 4, 40, 0), "");
	ck_assert_str_eq(walk(g, same, 4, 35, g, same, 4, 0, 10), "EINVAL");
	ck_assert_str_eq(walk(g, same, 4, 0, g, same, 3, 0, 40), "EINVAL");
}
END_TEST

/* ---- files in a store ---- */

/* A safetensors file of n U8 tensors "t<i>" of sz bytes, tensor i filled
 * from seeds[i]; *len receives its size. */
static uint8_t *mk_st(size_t n, size_t sz, const uint64_t *seeds, size_t *len)
{
	char hdr[4096];
	size_t hl = 0, at = 0;
	uint8_t *buf;

	hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl, "{");
	for (size_t i = 0; i < n; i++, at += sz)
		hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl,
				       "%s\"t%zu\":{\"dtype\":\"U8\",\"shape\":[%zu],"
				       "\"data_offsets\":[%zu,%zu]}",
				       i ? "," : "", i, sz, at, at + sz);
	hl += (size_t)snprintf(hdr + hl, sizeof(hdr) - hl, "}");
	ck_assert_uint_lt(hl, sizeof(hdr));
	*len = 8 + hl + n * sz;
	buf = malloc(*len);
	ck_assert_ptr_nonnull(buf);
	for (int b = 0; b < 8; b++)
		buf[b] = (uint8_t)((uint64_t)hl >> (8 * b));
	memcpy(buf + 8, hdr, hl);
	for (size_t i = 0; i < n; i++)
		tu_fill(buf + 8 + hl + i * sz, sz, seeds[i]);
	return buf;
}

static struct store *st;
static char *dir;
static int64_t root_a, root_b;

static void setup(void)
{
	int64_t id;

	dir = tu_tmpstore();
	st = tu_open(dir, 0);
	ck_assert_int_eq(store_ckpt_create(st, "a", CKPT_DIR, 0755, &id, &root_a), 0);
	ck_assert_int_eq(store_ckpt_create(st, "b", CKPT_DIR, 0755, &id, &root_b), 0);
}

static void teardown(void)
{
	store_close(st);
	tu_rmrf(dir);
	free(dir);
}

/* The changed item names of d, "name:status " each. */
static const char *items_text(const struct diff_file *d)
{
	static char text[1024];

	text[0] = '\0';
	for (size_t i = 0; i < d->n_items; i++) {
		size_t l = strlen(text);

		snprintf(text + l, sizeof(text) - l, "%s:%s ", d->items[i].name,
			 diff_status_name(d->items[i].status));
	}
	return text;
}

START_TEST(test_tensors_on_whole_chunks)
{
	uint64_t s1[] = { 1, 2, 3, 4, 5 }, s2[] = { 1, 20, 3, 40, 5 };
	size_t la, lb;
	uint8_t *a = mk_st(5, MIB, s1, &la), *b = mk_st(5, MIB, s2, &lb);
	int64_t na = tu_put(st, root_a, "m.safetensors", a, la);
	int64_t nb = tu_put(st, root_b, "m.safetensors", b, lb);
	int64_t nc = tu_put(st, root_b, "copy.safetensors", a, la);
	struct diff_file d;

	/* two tensors redrawn: exactly those two, decided by the chunk lists */
	ck_assert_int_eq(store_diff_file(st, na, "m.safetensors", nb, "m.safetensors", &d), 0);
	ck_assert_int_eq(d.status, DIFF_ST_CHANGED);
	ck_assert_int_eq(d.format, FORMAT_SAFETENSORS);
	ck_assert_str_eq(items_text(&d), "t1:changed t3:changed ");
	ck_assert_uint_eq(d.items_same, 3);
	ck_assert_uint_eq(d.changed_bytes, 2 * MIB);
	ck_assert_uint_eq(d.bytes_read, 0);
	diff_file_release(&d);

	/* the same bytes: same, nothing read, no items */
	ck_assert_int_eq(store_diff_file(st, na, "m.safetensors", nc, "copy.safetensors", &d), 0);
	ck_assert_int_eq(d.status, DIFF_ST_SAME);
	ck_assert_uint_eq(d.changed_bytes, 0);
	ck_assert_uint_eq(d.bytes_read, 0);
	ck_assert_uint_eq(d.n_items, 0);
	diff_file_release(&d);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_small_tensors_read_their_range)
{
	/* 8 tensors of 300,000 bytes: several share each chunk */
	uint64_t s1[] = { 1, 2, 3, 4, 5, 6, 7, 8 }, s2[] = { 1, 2, 3, 4, 50, 6, 7, 8 };
	size_t la, lb;
	uint8_t *a = mk_st(8, 300000, s1, &la), *b = mk_st(8, 300000, s2, &lb);
	int64_t na = tu_put(st, root_a, "m.safetensors", a, la);
	int64_t nb = tu_put(st, root_b, "m.safetensors", b, lb);
	struct diff_file d;

	ck_assert_int_eq(store_diff_file(st, na, "m.safetensors", nb, "m.safetensors", &d), 0);
	ck_assert_int_eq(d.status, DIFF_ST_CHANGED);
	ck_assert_str_eq(items_text(&d), "t4:changed ");
	ck_assert_uint_eq(d.items_same, 7);
	/* the tensors sharing t4's changed chunk are read where they overlap it:
	 * at most that chunk, on both sides; the other chunks never */
	ck_assert_uint_gt(d.bytes_read, 0);
	ck_assert_uint_le(d.bytes_read, 2 * MIB);
	diff_file_release(&d);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_added_removed_and_plain_files)
{
	uint64_t s1[] = { 1, 2, 3 }, s2[] = { 1, 2 };
	size_t la, lb;
	uint8_t *a = mk_st(3, 1000, s1, &la), *b = mk_st(2, 1000, s2, &lb);
	int64_t na = tu_put(st, root_a, "m.safetensors", a, la);
	int64_t nb = tu_put(st, root_b, "m.safetensors", b, lb);
	struct diff_file d;
	uint8_t p[3 * MIB];

	ck_assert_int_eq(store_diff_file(st, na, "m.safetensors", nb, "m.safetensors", &d), 0);
	ck_assert_str_eq(items_text(&d), "t2:removed ");
	ck_assert_uint_eq(d.items_same, 2);
	diff_file_release(&d);
	/* and the other way round */
	ck_assert_int_eq(store_diff_file(st, nb, "m.safetensors", na, "m.safetensors", &d), 0);
	ck_assert_str_eq(items_text(&d), "t2:added ");
	diff_file_release(&d);

	/* a plain file: 1 of 3 chunks changed, then grown by 100 bytes */
	tu_fill(p, sizeof(p), 9);
	int64_t pa = tu_put(st, root_a, "opt.bin", p, sizeof(p));
	p[MIB + 5] ^= 1;
	int64_t pb = tu_put(st, root_b, "opt.bin", p, sizeof(p));
	ck_assert_int_eq(store_diff_file(st, pa, "opt.bin", pb, "opt.bin", &d), 0);
	ck_assert_int_eq(d.status, DIFF_ST_CHANGED);
	ck_assert_int_eq(d.format, FORMAT_NONE);
	ck_assert_uint_eq(d.changed_bytes, MIB);
	ck_assert_uint_eq(d.bytes_read, 0);
	diff_file_release(&d);
	int64_t pc = tu_put(st, root_b, "longer.bin", p, sizeof(p) - 100);
	ck_assert_int_eq(store_diff_file(st, pc, "x", pb, "x", &d), 0);
	ck_assert_uint_eq(d.size_a, sizeof(p) - 100);
	/* the last chunks differ in length: read, found equal; only the tail counts */
	ck_assert_uint_eq(d.changed_bytes, 100);
	ck_assert_uint_eq(d.bytes_read, 2 * (MIB - 100));
	diff_file_release(&d);
	free(a);
	free(b);
}
END_TEST

static Suite *diff_suite(void)
{
	Suite *s = suite_create("store_diff");
	TCase *tc = tcase_create("runs");

	tcase_add_test(tc, test_runs);
	suite_add_tcase(s, tc);
	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tensors_on_whole_chunks);
	tcase_add_test(tc, test_small_tensors_read_their_range);
	tcase_add_test(tc, test_added_removed_and_plain_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(diff_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
