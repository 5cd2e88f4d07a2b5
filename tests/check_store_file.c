/* Store tests of file data: dedup, the chunking measurement on a
 * safetensors-like file, the anchored chunk grid, slots hashed in the
 * background, a large file in bounded memory, concurrent readers and
 * writers, and the exact size of a staging checkpoint. */
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "store_int.h" /* STORE_DIRTY_FLUSH in test_large_file_bounded */
#define TU_STORE_FIXTURE
#include "store_test_util.h"

/* Two checkpoints sharing 90% of their bytes store ~1.1x, not 2x. */
START_TEST(test_dedup_90)
{
	size_t sz = 20 * CHUNK_SIZE;
	uint8_t *a = malloc(sz), *b = malloc(sz);
	struct store_stats s1, s2;
	struct ckpt_info ci;
	int64_t idb;
	double ratio;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	tu_fill(a, sz, 11);
	memcpy(b, a, sz);
	tu_fill(b + 18 * CHUNK_SIZE, 2 * CHUNK_SIZE, 12); /* last 10% differ */
	tu_ckpt1(st, "step-1", "model.bin", a, sz);
	ck_assert_int_eq(store_stats(st, &s1), 0);
	idb = tu_ckpt1(st, "step-2", "model.bin", b, sz);
	ck_assert_int_eq(store_stats(st, &s2), 0);
	ratio = (double)s2.stored_bytes / (double)s1.stored_bytes;
	printf("dedup: one checkpoint %llu bytes stored, both %llu (%.3fx), dedup ratio %.2f\n",
	       (unsigned long long)s1.stored_bytes, (unsigned long long)s2.stored_bytes, ratio,
	       s2.dedup_ratio);
	ck_assert(ratio < 1.15);
	ck_assert(ratio > 1.05);
	ck_assert_uint_eq(s2.logical_bytes, 2 * sz);
	/* stored_bytes of the second counts only what it added */
	ck_assert_int_eq(store_ckpt_get(st, idb, &ci), 0);
	ck_assert_uint_le(ci.stored_bytes, 2 * CHUNK_SIZE + 4096);
	ck_assert_uint_ge(ci.stored_bytes, 2 * CHUNK_SIZE);
	ckpt_info_release(&ci);
	tu_expect(st, tu_lookup(st, "step-2", "model.bin"), b, sz);
	free(a);
	free(b);
}
END_TEST

/* A safetensors-like file: header, then tensors at stable offsets. */
static size_t make_safetensors(uint8_t **out, size_t ntensors, size_t tensor_bytes, uint64_t seed,
			       const bool *changed)
{
	char *hdr = malloc(128 * ntensors + 64);
	size_t hl = 0, i, total, pad;
	uint64_t off = 0;
	uint8_t *buf;

	ck_assert_ptr_nonnull(hdr);
	hl += (size_t)sprintf(hdr + hl, "{");
	for (i = 0; i < ntensors; i++) {
		hl += (size_t)sprintf(hdr + hl,
				      "%s\"t%zu\":{\"dtype\":\"U8\",\"shape\":[%zu],"
				      "\"data_offsets\":[%llu,%llu]}",
				      i ? "," : "", i, tensor_bytes, (unsigned long long)off,
				      (unsigned long long)(off + tensor_bytes));
		off += tensor_bytes;
	}
	hl += (size_t)sprintf(hdr + hl, "}");
	pad = (8 - hl % 8) % 8; /* safetensors pads the header with spaces */
	memset(hdr + hl, ' ', pad);
	hl += pad;
	total = 8 + hl + ntensors * tensor_bytes;
	buf = malloc(total);
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
	memcpy(buf + 8, hdr, hl);
	for (i = 0; i < ntensors; i++)
		tu_fill(buf + 8 + hl + i * tensor_bytes, tensor_bytes,
			seed * 1000 + i + (changed && changed[i] ? 500 : 0));
	free(hdr);
	*out = buf;
	return total;
}

/* The chunking measurement for the design notes: 10% of the tensors change. */
START_TEST(test_safetensors_10pct)
{
	const size_t nt = 30, tb = 2 * CHUNK_SIZE + 700001; /* ~2.7 MiB tensors */
	bool changed[30] = { false };
	struct store_stats s1, s2;
	uint8_t *a, *b;
	size_t la, lb, i;
	double growth;

	for (i = 0; i < nt; i += 10)
		changed[i + 3] = true; /* 4 of 40 tensors: 10% */
	la = make_safetensors(&a, nt, tb, 1, NULL);
	lb = make_safetensors(&b, nt, tb, 1, changed);
	ck_assert_uint_eq(la, lb);
	tu_ckpt1(st, "step-100", "model.safetensors", a, la);
	ck_assert_int_eq(store_stats(st, &s1), 0);
	tu_ckpt1(st, "step-200", "model.safetensors", b, lb);
	ck_assert_int_eq(store_stats(st, &s2), 0);
	growth = (double)(s2.stored_bytes - s1.stored_bytes) / (double)s1.stored_bytes;
	printf("safetensors-like %.1f MiB, 3 of 30 tensors changed: stored grew by %.1f%% "
	       "(%llu -> %llu bytes)\n",
	       la / 1048576.0, growth * 100, (unsigned long long)s1.stored_bytes,
	       (unsigned long long)s2.stored_bytes);
	/* each changed tensor touches its own chunks plus at most one shared
	 * boundary chunk on each side */
	ck_assert(growth < 0.25);
	ck_assert(growth >= 0.09);
	free(a);
	free(b);
}
END_TEST

static uint64_t le64_test(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Reads n random ranges of node (crossing chunk boundaries) and compares. */
static void check_ranges(int64_t node, const uint8_t *want, size_t size, uint64_t seed, int n)
{
	struct store_file *f;
	uint8_t *buf = malloc(3 * CHUNK_SIZE);
	int i;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_READ, &f), 0);
	for (i = 0; i < n; i++) {
		uint64_t off = tu_rand(&seed) % (size + 10),
			 len = 1 + tu_rand(&seed) % (3 * CHUNK_SIZE);
		uint64_t exp = off >= size ? 0 : (off + len > size ? size - off : len);
		ssize_t r = store_file_read(f, buf, len, off);

		ck_assert_int_eq(r, (ssize_t)exp);
		ck_assert(exp == 0 || memcmp(buf, want + off, exp) == 0);
	}
	ck_assert_int_eq(store_file_close(f), 0);
	free(buf);
}

/* Tensors behind a header of any length: the chunk grid is anchored at the
 * data start, so a changed 5 MiB tensor costs exactly 5 chunks (a fixed 1 MiB
 * grid would cut it into 6). */
START_TEST(test_safetensors_anchored)
{
	const size_t nt = 6, tb = 5 * CHUNK_SIZE;
	bool changed[6] = { false, false, true, false, false, false };
	struct ckpt_info ci;
	uint8_t *a, *b;
	size_t la, lb;
	uint64_t ds;
	int64_t idb;

	la = make_safetensors(&a, nt, tb, 3, NULL);
	lb = make_safetensors(&b, nt, tb, 3, changed);
	ds = 8 + le64_test(a);
	ck_assert_uint_ne(ds % CHUNK_SIZE, 0); /* the header really shifts the tensors */
	tu_ckpt1(st, "step-1", "model.safetensors", a, la);
	idb = tu_ckpt1(st, "step-2", "model.safetensors", b, lb);
	ck_assert_int_eq(store_ckpt_get(st, idb, &ci), 0);
	printf("anchored grid: header %llu B, 1 of 6 5 MiB tensors changed: %llu bytes stored\n",
	       (unsigned long long)ds, (unsigned long long)ci.stored_bytes);
	ck_assert_uint_ge(ci.stored_bytes, tb);
	ck_assert_uint_le(ci.stored_bytes, tb + 5 * 64); /* 5 chunks and their file headers */
	ckpt_info_release(&ci);
	tu_expect(st, tu_lookup(st, "step-2", "model.safetensors"), b, lb);
	check_ranges(tu_lookup(st, "step-1", "model.safetensors"), a, la, 5, 200);
	check_ranges(tu_lookup(st, "step-2", "model.safetensors"), b, lb, 6, 200);
	free(a);
	free(b);
}
END_TEST

/* Rewrites of a file on an anchored grid: partial writes across chunk 0 and
 * the boundaries after it, shrinking into chunk 0, growing past the end, a
 * truncate to 0 and a new header (a new grid), each round flushed (close)
 * and checked against a model; then committed. Named .bin: the random
 * writes break the header, which a .safetensors name would check. */
START_TEST(test_anchored_rewrite)
{
	const size_t cap = 8 * CHUNK_SIZE;
	uint8_t *model = calloc(1, cap), *src;
	struct store_node n;
	struct store_file *f;
	size_t size, sl, g;
	int64_t id, root;
	uint64_t seed = 77;
	int round, w;

	ck_assert_ptr_nonnull(model);
	sl = make_safetensors(&src, 3, CHUNK_SIZE + CHUNK_SIZE / 2 + 3, 9, NULL);
	ck_assert_uint_le(sl, cap);
	g = (8 + (size_t)le64_test(src)) % CHUNK_SIZE; /* chunk 0's length */
	memcpy(model, src, sl);
	size = sl;
	ck_assert_int_eq(store_ckpt_create(st, "rw", CKPT_DIR, 0755, &id, &root), 0);
	ck_assert_int_eq(store_node_create(st, root, "m.bin", 0644, &n), 0);
	ck_assert_int_eq(store_file_open(st, n.id, STORE_F_WRITE, &f), 0);
	ck_assert_int_eq(store_file_write(f, src, sl, 0), (ssize_t)sl);
	ck_assert_int_eq(store_file_close(f), 0);
	for (round = 0; round < 12; round++) {
		ck_assert_int_eq(store_file_open(st, n.id, STORE_F_WRITE | STORE_F_READ, &f), 0);
		if (round == 2) { /* start over behind a longer header */
			free(src);
			sl = make_safetensors(&src, 6000, 150, 10, NULL); /* ~0.4 MiB header */
			ck_assert_uint_le(sl, cap);
			g = (8 + (size_t)le64_test(src)) % CHUNK_SIZE;
			ck_assert_int_eq(store_file_truncate(f, 0), 0);
			ck_assert_int_eq(store_file_write(f, src, sl, 0), (ssize_t)sl);
			memcpy(model, src, sl);
			size = sl;
		}
		if (round % 3 == 1 || round == 10) {
			/* shrink first, while no slot is dirty: a partial base chunk
			 * is copied; into chunk 0 only near the end (a one-chunk
			 * file is back on the plain grid when reopened) */
			size_t ns = size / 2 + tu_rand(&seed) % (size / 2);

			if (round == 10)
				ns = 100 + tu_rand(&seed) % 4000;
			else if (round % 2 && size > g + CHUNK_SIZE)
				ns = g + CHUNK_SIZE - g / 2; /* in chunk 1, past C - g */

			if (ns < size) {
				ck_assert_int_eq(store_file_truncate(f, ns), 0);
				size = ns;
			}
		}
		for (w = 0; w < 6; w++) {
			uint64_t off = tu_rand(&seed) % (size + CHUNK_SIZE / 4);
			size_t wl = 1 + tu_rand(&seed) % (CHUNK_SIZE + 100);

			if (off + wl > cap)
				continue;
			tu_fill(model + off, wl, seed);
			if (off > size)
				memset(model + size, 0, off - size);
			ck_assert_int_eq(store_file_write(f, model + off, wl, off), (ssize_t)wl);
			if (off + wl > size)
				size = off + wl;
		}
		if (round % 3 == 2 && size + CHUNK_SIZE < cap) { /* grow with a hole */
			memset(model + size, 0, CHUNK_SIZE);
			size += CHUNK_SIZE;
			ck_assert_int_eq(store_file_truncate(f, size), 0);
		}
		ck_assert_int_eq(store_file_close(f), 0);
		tu_expect(st, n.id, model, size);
		check_ranges(n.id, model, size, seed + 1, 40);
	}
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	tu_expect(st, tu_lookup(st, "rw", "m.bin"), model, size);
	free(src);
	free(model);
}
END_TEST

/* Slots hashed in the background, then changed before the flush (partial
 * rewrites, a truncate, more appends): the data reads back exactly, and
 * after gc verify finds every chunk file accounted for (unused background
 * chunks have rows, so gc reclaims them). Timing varies per round. */
START_TEST(test_background_hash_changes)
{
	const size_t cap = 24 * CHUNK_SIZE;
	uint8_t *model = calloc(1, cap);
	int problems = 0;

	ck_assert_ptr_nonnull(model);
	for (int round = 0; round < 6; round++) {
		struct store_node n;
		struct store_file *f;
		int64_t id, root;
		size_t size = 0;
		char name[32];

		snprintf(name, sizeof(name), "bg-%d", round);
		ck_assert_int_eq(store_ckpt_create(st, name, CKPT_DIR, 0755, &id, &root), 0);
		ck_assert_int_eq(store_node_create(st, root, "w.bin", 0644, &n), 0);
		ck_assert_int_eq(store_file_open(st, n.id, STORE_F_WRITE | STORE_F_READ, &f), 0);
		for (size_t k = 0; k < 20; k++) { /* sequential: every slot queued */
			tu_fill(model + k * CHUNK_SIZE, CHUNK_SIZE, 1000 * (uint64_t)round + k);
			ck_assert_int_eq(store_file_write(f, model + k * CHUNK_SIZE, CHUNK_SIZE,
							  k * CHUNK_SIZE),
					 CHUNK_SIZE);
			if (round % 2)
				usleep(2000); /* let the worker keep up */
		}
		size = 20 * CHUNK_SIZE;
		/* change slots the worker may have stored already */
		for (size_t k = 2; k < 20; k += 5) {
			size_t off = k * CHUNK_SIZE + 777 * (size_t)(round + 1);

			tu_fill(model + off, 4096, 77 + k);
			ck_assert_int_eq(store_file_write(f, model + off, 4096, off), 4096);
		}
		if (round >= 2) { /* cut into slot 15, then append past it again */
			size = 15 * CHUNK_SIZE + 12345;
			ck_assert_int_eq(store_file_truncate(f, size), 0);
			tu_fill(model + size, 3 * CHUNK_SIZE, 555 + (uint64_t)round);
			ck_assert_int_eq(store_file_write(f, model + size, 3 * CHUNK_SIZE, size),
					 3 * CHUNK_SIZE);
			size += 3 * CHUNK_SIZE;
		}
		check_ranges(n.id, model, size, 31 + (uint64_t)round, 30);
		ck_assert_int_eq(store_file_close(f), 0);
		ck_assert_int_eq(store_ckpt_commit(st, id), 0);
		tu_expect(st, tu_lookup(st, name, "w.bin"), model, size);
	}
	ck_assert_int_eq(store_gc(st, true, NULL), 0);
	ck_assert_int_eq(store_verify(st, tu_count_problem, NULL, &problems), 0);
	ck_assert_int_eq(problems, 0);
	free(model);
}
END_TEST

/* Concurrent readers of a committed file, a writer of a staging one, and
 * tree lookups, all on one store. */
struct thr_arg {
	int64_t node;
	const uint8_t *data;
	size_t size;
	uint64_t seed;
	int errors;
};

static void *reader_thread(void *p)
{
	struct thr_arg *a = p;
	struct store_file *f;
	uint8_t *buf = malloc(CHUNK_SIZE + 7);
	uint64_t s = a->seed;
	int i;

	if (!buf || store_file_open(st, a->node, STORE_F_READ, &f) != 0) {
		a->errors++;
		free(buf);
		return NULL;
	}
	for (i = 0; i < 400; i++) {
		uint64_t off = tu_rand(&s) % a->size, n = 1 + tu_rand(&s) % (CHUNK_SIZE + 7);
		ssize_t r = store_file_read(f, buf, n, off);
		uint64_t exp = off + n > a->size ? a->size - off : n;

		if (r != (ssize_t)exp || memcmp(buf, a->data + off, exp) != 0)
			a->errors++;
	}
	store_file_close(f);
	free(buf);
	return NULL;
}

static void *writer_thread(void *p)
{
	struct thr_arg *a = p;
	int64_t id, root;
	char name[32];
	int i;

	for (i = 0; i < 5; i++) {
		struct store_node n;
		struct store_file *f;
		uint8_t *buf = malloc(3 * CHUNK_SIZE);
		int j;

		snprintf(name, sizeof(name), "w-%llu-%d", (unsigned long long)a->seed, i);
		if (!buf || store_ckpt_create(st, name, CKPT_DIR, 0755, &id, &root) != 0 ||
		    store_node_create(st, root, "x", 0644, &n) != 0 ||
		    store_file_open(st, n.id, STORE_F_WRITE | STORE_F_READ, &f) != 0) {
			a->errors++;
			free(buf);
			return NULL;
		}
		tu_fill(buf, 3 * CHUNK_SIZE, a->seed + (uint64_t)i);
		for (j = 0; j < 3; j++)
			if (store_file_write(f, buf + j * CHUNK_SIZE, CHUNK_SIZE,
					     (uint64_t)j * CHUNK_SIZE) != CHUNK_SIZE)
				a->errors++;
		if (store_file_close(f) != 0 || store_ckpt_commit(st, id) != 0)
			a->errors++;
		free(buf);
	}
	return NULL;
}

START_TEST(test_threads)
{
	size_t sz = 5 * CHUNK_SIZE + 333;
	uint8_t *a = malloc(sz);
	struct thr_arg args[6];
	pthread_t th[6];
	int64_t node, lid;
	int i;

	ck_assert_ptr_nonnull(a);
	tu_fill(a, sz, 77);
	tu_set_compress(st, "zstd");
	tu_ckpt1(st, "base", "f", a, sz);
	node = tu_lookup(st, "base", "f");
	for (i = 0; i < 6; i++) {
		args[i] = (struct thr_arg){
			.node = node, .data = a, .size = sz, .seed = 1 + (uint64_t)i
		};
		ck_assert_int_eq(pthread_create(&th[i], NULL, i < 4 ? reader_thread : writer_thread,
						&args[i]),
				 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].errors, 0);
	}
	ck_assert_int_eq(store_resolve_latest(st, &lid, NULL), 0);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
	free(a);
}
END_TEST

/* A large file written sequentially keeps memory and the overlay small. */
START_TEST(test_large_file_bounded)
{
	const size_t total = 320u << 20, step = CHUNK_SIZE;
	uint8_t *buf = malloc(step), *got = malloc(step);
	struct store_file *f;
	struct rusage ru0, ru1;
	int64_t id, root, node;
	uint64_t off, max_overlay = 0;
	char ov[600];
	struct stat sb;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(store_ckpt_create(st, "big", CKPT_DIR, 0755, &id, &root), 0);
	node = tu_put(st, root, "huge.bin", NULL, 0);
	snprintf(ov, sizeof(ov), "%s/staging/%lld", dir, (long long)node);
	getrusage(RUSAGE_SELF, &ru0);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_WRITE, &f), 0);
	for (off = 0; off < total; off += step) {
		tu_fill(buf, 64, off); /* distinct chunks, cheap to make */
		memset(buf + 64, (int)(off >> 20), step - 64);
		ck_assert_int_eq(store_file_write(f, buf, step, off), (ssize_t)step);
		if (stat(ov, &sb) == 0 && (uint64_t)sb.st_blocks * 512 > max_overlay)
			max_overlay = (uint64_t)sb.st_blocks * 512;
	}
	ck_assert_int_eq(store_file_close(f), 0);
	getrusage(RUSAGE_SELF, &ru1);
	printf("320 MiB sequential write: max RSS %ld -> %ld KiB, overlay peak %llu KiB\n",
	       ru0.ru_maxrss, ru1.ru_maxrss, (unsigned long long)max_overlay / 1024);
	ck_assert_int_lt(ru1.ru_maxrss - ru0.ru_maxrss, 96 * 1024);
	ck_assert_uint_le(max_overlay, (uint64_t)(STORE_DIRTY_FLUSH + 2) * CHUNK_SIZE);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_READ, &f), 0);
	ck_assert_uint_eq(store_file_size(f), total);
	ck_assert_int_eq(store_file_read(f, got, step, total - step), (ssize_t)step);
	tu_fill(buf, 64, total - step);
	memset(buf + 64, (int)((total - step) >> 20), step - 64);
	ck_assert(memcmp(got, buf, step) == 0);
	ck_assert_int_eq(store_file_close(f), 0);
	free(buf);
	free(got);
}
END_TEST

/* The size a staging checkpoint reports stays exact through creates,
 * writes, truncates, renames and unlinks, and after commit. */
/* The reported size, by every way of asking, equals want. */
static void expect_size(int64_t id, const char *name, uint64_t want)
{
	struct ckpt_info ci, *arr = NULL;
	size_t n = 0, found = 0;

	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	ck_assert_int_eq(store_ckpt_logical_bytes(st, &ci), 0);
	ck_assert_uint_eq(ci.logical_bytes, want);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_list(st, STORE_LIST_ALL | STORE_LIST_SIZES, &arr, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (arr[i].id == id && strcmp(arr[i].name, name) == 0) {
			ck_assert_uint_eq(arr[i].logical_bytes, want);
			found++;
		}
	}
	ckpt_info_free_array(arr, n);
	ck_assert_uint_eq(found, 1);
}

START_TEST(test_staging_size_exact)
{
	enum { N = 200 };
	uint64_t sizes[N] = { 0 }, sum = 0;
	static char buf[70000];
	int64_t id, root, sub;
	struct store_node n;
	unsigned seed = 7;
	char name[32];

	memset(buf, 'z', sizeof(buf));
	ck_assert_int_eq(store_ckpt_create(st, "sized", CKPT_DIR, S_IFDIR | 0755, &id, &root), 0);
	ck_assert_int_eq(store_node_mkdir(st, root, "sub", S_IFDIR | 0755, &n), 0);
	sub = n.id;
	ck_assert_int_eq(store_node_symlink(st, root, "link", "sub/f0", &n),
			 0); /* not a file: no bytes */
	expect_size(id, "sized", 0);
	for (int step = 0; step < 2000; step++) {
		int i = (int)(rand_r(&seed) % N), op = (int)(rand_r(&seed) % 4);
		struct store_file *f;

		snprintf(name, sizeof(name), "f%d", i);
		if (store_node_lookup(st, sub, name, &n) == -ENOENT) {
			ck_assert_int_eq(store_node_create(st, sub, name, S_IFREG | 0644, &n), 0);
			sizes[i] = 0;
		}
		if (op == 3) { /* unlink, or rename over another file */
			int j = (int)(rand_r(&seed) % N);
			char other[32];

			snprintf(other, sizeof(other), "f%d", j);
			if (j != i && rand_r(&seed) % 2) {
				ck_assert_int_eq(store_node_rename(st, sub, name, sub, other, 0),
						 0);
				sizes[j] = sizes[i];
			} else {
				ck_assert_int_eq(store_node_unlink(st, sub, name), 0);
			}
			sizes[i] = 0;
		} else {
			uint64_t off = rand_r(&seed) % 50000, len = rand_r(&seed) % 20000;

			ck_assert_int_eq(store_file_open(st, n.id, STORE_F_WRITE, &f), 0);
			if (op == 2) {
				ck_assert_int_eq(store_file_truncate(f, off), 0);
				sizes[i] = off;
			} else {
				ck_assert_int_eq(store_file_write(f, buf, len, off), (ssize_t)len);
				if (len && off + len > sizes[i])
					sizes[i] = off + len;
			}
			ck_assert_int_eq(store_file_close(f), 0);
		}
		if (step % 250 == 0) {
			sum = 0;
			for (int k = 0; k < N; k++)
				sum += sizes[k];
			expect_size(id, "sized", sum);
		}
	}
	sum = 0;
	for (int k = 0; k < N; k++)
		sum += sizes[k];
	expect_size(id, "sized", sum);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	expect_size(id, "sized", sum);
}
END_TEST

/* store_close with a file its caller left open (a daemon stopped by a
 * signal before the kernel's last RELEASE): its overlay and the chunks it
 * holds are let go under the store's lock (debug builds assert it). In a
 * child, which ends with _exit: the handle itself is the caller's to leak. */
START_TEST(test_close_with_open_file)
{
	struct store_node n;
	struct store_file *f;
	int64_t id, root;
	char buf[3 * 4096];
	int status;
	pid_t pid;

	memset(buf, 'x', sizeof(buf));
	store_close(st); /* the child opens its own (no connection shared across fork) */
	st = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *spec = tu_spec(dir);
		bool ok = store_open(spec, 0, &st, NULL, 0) == 0 &&
			store_ckpt_create(st, "left", CKPT_DIR, 0755, &id, &root) == 0 &&
			store_node_create(st, root, "open.bin", 0644, &n) == 0 &&
			store_file_open(st, n.id, STORE_F_WRITE, &f) == 0 &&
			store_file_write(f, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) &&
			store_file_flush(f) == 0 && /* chunks held by its list */
			store_file_write(f, buf, 100, 1 << 20) == 100;

		store_close(st); /* f is never closed: store_close lets it go */
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	st = tu_open(dir, 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}
END_TEST

/* ---- reads in place (store_file_read_vec) ---- */

#define VEC_LEN (5 * CHUNK_SIZE + 77777) /* a short last chunk */

/* Reads [off, off + len) of f in place and checks it against want (the
 * file's bytes, size bytes): the iov holds exactly the expected bytes. */
static void vec_expect(struct store_file *f, const uint8_t *want, size_t size, uint64_t off,
		       size_t len)
{
	struct store_read r;
	size_t exp = off >= size ? 0 : (len < size - off ? len : size - off), got = 0;
	ssize_t n = store_file_read_vec(f, len, off, &r);

	ck_assert_int_eq(n, (ssize_t)exp);
	for (int i = 0; i < r.n; i++) {
		ck_assert_uint_le(got + r.iov[i].iov_len, exp);
		ck_assert(memcmp(r.iov[i].iov_base, want + off + got, r.iov[i].iov_len) == 0);
		got += r.iov[i].iov_len;
	}
	ck_assert_uint_eq(got, exp);
	store_read_done(&r);
}

/* The kernel's request shapes: 1 MiB on and off the chunk grid, small
 * ones, across the short last chunk and past the end. */
static void vec_sweep(struct store_file *f, const uint8_t *want, size_t size)
{
	for (uint64_t off = 0; off < size + CHUNK_SIZE; off += CHUNK_SIZE / 2)
		vec_expect(f, want, size, off, STORE_READ_MAX);
	for (uint64_t off = 3; off < size; off += 777777)
		vec_expect(f, want, size, off, 4096 + off % 5000);
	vec_expect(f, want, size, size - 10, STORE_READ_MAX);
}

/* A committed file read in place equals its bytes; so does a file being
 * written, part flushed to chunks, part only in its overlay. */
START_TEST(test_read_vec)
{
	uint8_t *want = malloc(VEC_LEN);
	struct store_file *f;
	struct store_node n;
	int64_t id, root;

	tu_fill(want, VEC_LEN, 15);
	tu_ckpt1(st, "vec", "model.bin", want, VEC_LEN);
	ck_assert_int_eq(store_file_open(st, tu_lookup(st, "vec", "model.bin"), STORE_F_READ, &f),
			 0);
	vec_sweep(f, want, VEC_LEN);
	ck_assert_int_eq(store_file_close(f), 0);

	ck_assert_int_eq(store_ckpt_create(st, "vec2", CKPT_DIR, 0755, &id, &root), 0);
	ck_assert_int_eq(store_node_create(st, root, "w.bin", 0644, &n), 0);
	ck_assert_int_eq(store_file_open(st, n.id, STORE_F_READ | STORE_F_WRITE, &f), 0);
	ck_assert_int_eq(store_file_write(f, want, VEC_LEN, 0), VEC_LEN);
	ck_assert_int_eq(store_file_flush(f), 0);
	want[2 * CHUNK_SIZE + 5] ^= 0xff; /* the overlay's bytes in a base chunk */
	ck_assert_int_eq(store_file_write(f, want + 2 * CHUNK_SIZE + 5, 1, 2 * CHUNK_SIZE + 5), 1);
	vec_sweep(f, want, VEC_LEN);
	ck_assert_int_eq(store_file_close(f), 0);
	free(want);
}
END_TEST

/* Two readers of different files at once, sequentially in 1 MiB requests
 * off the grid (each file its own window): each sees its own bytes. */
struct vec_reader {
	struct store_file *f;
	const uint8_t *want;
};

static void *vec_reader_run(void *arg)
{
	struct vec_reader *v = arg;

	for (int rep = 0; rep < 3; rep++)
		for (uint64_t off = 4096 * rep; off < VEC_LEN; off += STORE_READ_MAX)
			vec_expect(v->f, v->want, VEC_LEN, off, STORE_READ_MAX);
	return NULL;
}

START_TEST(test_read_vec_two_files)
{
	const char *names[2] = { "a.bin", "b.bin" };
	uint8_t *want[2] = { malloc(VEC_LEN), malloc(VEC_LEN) };
	struct vec_reader v[2];
	pthread_t t[2];

	tu_fill(want[0], VEC_LEN, 21);
	tu_fill(want[1], VEC_LEN, 22);
	tu_ckpt(st, "two", names, (const void *const *)want, (size_t[]){ VEC_LEN, VEC_LEN }, 2);
	for (int i = 0; i < 2; i++) {
		v[i].want = want[i];
		ck_assert_int_eq(
			store_file_open(st, tu_lookup(st, "two", names[i]), STORE_F_READ, &v[i].f),
			0);
	}
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, vec_reader_run, &v[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(store_file_close(v[i].f), 0);
		free(want[i]);
	}
}
END_TEST

/* A file open for reading whose checkpoint is deleted and collected after
 * its first request (its read window holds chunks) reads on to its end,
 * right. */
START_TEST(test_read_vec_after_delete)
{
	uint8_t *want = malloc(VEC_LEN);
	struct store_file *f;
	int64_t id;

	tu_fill(want, VEC_LEN, 31);
	id = tu_ckpt1(st, "gone", "model.bin", want, VEC_LEN);
	ck_assert_int_eq(store_file_open(st, tu_lookup(st, "gone", "model.bin"), STORE_F_READ, &f),
			 0);
	vec_expect(f, want, VEC_LEN, 0, STORE_READ_MAX);
	ck_assert_int_eq(store_ckpt_delete(st, id, "user"), 0);
	ck_assert_int_eq(store_gc(st, false, NULL), 0);
	for (uint64_t off = STORE_READ_MAX; off < VEC_LEN; off += STORE_READ_MAX)
		vec_expect(f, want, VEC_LEN, off, STORE_READ_MAX);
	ck_assert_int_eq(store_file_close(f), 0);
	free(want);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_file");

	TU_TCASE(s, "read_vec", 120, test_read_vec, test_read_vec_two_files,
		 test_read_vec_after_delete);

	TU_TCASE(s, "dedup", 120, test_dedup_90, test_safetensors_10pct);
	TU_TCASE(s, "anchored", 120, test_safetensors_anchored, test_anchored_rewrite);
	TU_TCASE(s, "background", 120, test_background_hash_changes);
	TU_TCASE(s, "threads", 120, test_threads);
	TU_TCASE(s, "large", 120, test_large_file_bounded);
	TU_TCASE(s, "size", 120, test_staging_size_exact);
	TU_TCASE(s, "close", 120, test_close_with_open_file);
	return tu_run(s);
}
