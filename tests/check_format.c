/* Unit tests for core/format.c: the contract's "Known formats are checked at
 * commit" rule. Real files: committed fixtures made by
 * tests/fixtures/make_fixtures.py (torch.save, np.save, hand-written
 * safetensors), plus a fresh set from that script when /usr/bin/python3 has
 * torch and numpy. Broken variants are made from good files here. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"

static char fixdir[PATH_MAX];

/* A file in memory; counts what the check reads and any read outside it. */
struct mem {
	const unsigned char *p;
	size_t n;
	uint64_t bytes_read;
	unsigned reads, outside;
	int fail; /* when non-zero, every read returns it */
};

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct mem *m = ctx;

	if (m->fail)
		return m->fail;
	m->reads++;
	if (off > m->n || len > m->n - off) {
		m->outside++;
		return -EIO;
	}
	memcpy(buf, m->p + off, len);
	m->bytes_read += len;
	return 0;
}

static char why[256];

/* Runs format_check on buf[0..n) named name; asserts no read went outside. */
static int check_buf(const char *name, const void *buf, size_t n, struct mem *out)
{
	struct mem m = { .p = buf, .n = n };
	int rc;

	memset(why, 'X', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	rc = format_check(name, n, mem_read, &m, why, sizeof(why));
	ck_assert_msg(m.outside == 0, "%s: %u reads outside the file", name, m.outside);
	ck_assert_msg(rc == 0 || rc == -EBADMSG, "%s: rc %d", name, rc);
	if (rc == -EBADMSG)
		ck_assert_msg(strncmp(why, name, strlen(name)) == 0 &&
				      strlen(why) > strlen(name) + 2,
			      "%s: reason \"%s\" does not name the file", name, why);
	if (out)
		*out = m;
	return rc;
}

static unsigned char *load(const char *dir, const char *name, size_t *n)
{
	char path[PATH_MAX * 2];
	unsigned char *buf;
	FILE *f;
	long len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ck_assert_int_ge(len, 0);
	rewind(f);
	buf = malloc((size_t)len + 16); /* room for appending in tests */
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return buf;
}

static size_t rfind(const unsigned char *p, size_t n, const char *needle, size_t nl)
{
	for (size_t i = n - nl + 1; i-- > 0;)
		if (memcmp(p + i, needle, nl) == 0)
			return i;
	return (size_t)-1;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const char *const good_fixtures[] = {
	"model.pt",	    "many.pt", "plain.zip.bin", "f4.npy",      "v2.npy",
	"u1.npy",	    "c16.npy", "object.npy",	"unicode.npy", "model.safetensors",
	"zero.safetensors",
};

START_TEST(test_good_fixtures)
{
	for (size_t i = 0; i < sizeof(good_fixtures) / sizeof(good_fixtures[0]); i++) {
		size_t n;
		unsigned char *b = load(fixdir, good_fixtures[i], &n);

		ck_assert_msg(check_buf(good_fixtures[i], b, n, NULL) == 0, "%s: %s",
			      good_fixtures[i], why);
		ck_assert_str_eq(why, "");
		free(b);
	}
}
END_TEST

/* ---- zip ---- */

START_TEST(test_zip_every_truncation)
{
	static const char *const zips[] = { "model.pt", "plain.zip.bin" };

	for (size_t z = 0; z < 2; z++) {
		size_t n;
		unsigned char *b = load(fixdir, zips[z], &n);

		/* Below 4 bytes there is no magic: not a known format. */
		for (size_t len = 0; len < 4; len++)
			ck_assert_int_eq(check_buf(zips[z], b, len, NULL), 0);
		for (size_t len = 4; len < n; len++)
			ck_assert_msg(check_buf(zips[z], b, len, NULL) == -EBADMSG,
				      "%s truncated to %zu bytes passed", zips[z], len);
		ck_assert_int_eq(check_buf(zips[z], b, n, NULL), 0);
		free(b);
	}
}
END_TEST

START_TEST(test_zip_truncated_reason)
{
	size_t n;
	unsigned char *b = load(fixdir, "many.pt", &n);

	ck_assert_int_eq(check_buf("ck/many.pt", b, n - 1, NULL), -EBADMSG);
	ck_assert_str_eq(why, "ck/many.pt: zip end of central directory missing");
	ck_assert_int_eq(check_buf("many.pt", b, n / 2, NULL), -EBADMSG);
	ck_assert_str_eq(why, "many.pt: zip end of central directory missing");
	/* one byte too many: the end record no longer ends the file */
	b[n] = 0;
	ck_assert_int_eq(check_buf("many.pt", b, n + 1, NULL), -EBADMSG);
	free(b);
}
END_TEST

START_TEST(test_zip_corrupt_records)
{
	size_t n, eocd, loc, rec, cd;
	unsigned char *good = load(fixdir, "model.pt", &n);
	unsigned char *b = malloc(n);

	ck_assert_ptr_nonnull(b);
	eocd = rfind(good, n, "PK\x05\x06", 4);
	loc = rfind(good, n, "PK\x06\x07", 4);
	rec = rfind(good, n, "PK\x06\x06", 4);
	ck_assert_uint_eq(eocd, n - 22);
	ck_assert_uint_eq(loc, eocd - 20); /* torch.save writes zip64 records */
	ck_assert_uint_eq(rec, loc - 56);
	cd = get32(good + eocd + 16);
	ck_assert_mem_eq(good + cd, "PK\x01\x02", 4);

	/* EOCD's central directory offset off by one (zip64 disagrees) */
	memcpy(b, good, n);
	put32(b + eocd + 16, (uint32_t)cd + 1);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);

	/* both offsets off by one: no central header there */
	put64(b + rec + 48, cd + 1);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);

	/* both point past the end of the file */
	put32(b + eocd + 16, 0x7ffffff0u);
	put64(b + rec + 48, 0x7ffffff0u);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(why, "outside"));

	/* central directory size too large for the file */
	memcpy(b, good, n);
	put32(b + eocd + 12, get32(good + eocd + 12) + 100);
	put64(b + rec + 40, get32(good + eocd + 12) + 100);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);

	/* saturated 32-bit fields, real values in zip64: a valid zip64 archive */
	memcpy(b, good, n);
	b[eocd + 8] = b[eocd + 9] = b[eocd + 10] = b[eocd + 11] = 0xff;
	put32(b + eocd + 12, 0xffffffffu);
	put32(b + eocd + 16, 0xffffffffu);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), 0);
	/* ... whose zip64 offset is then corrupted */
	put64(b + rec + 48, (uint64_t)n + 1000);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);
	/* ... or whose locator is gone */
	put64(b + rec + 48, cd);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), 0);
	b[loc] = 'X';
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);
	/* ... or whose locator points outside the file */
	b[loc] = 'P';
	put64(b + loc + 8, (uint64_t)n * 4);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);
	put64(b + loc + 8, rec + 1);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);

	/* entry count wrong in both records */
	memcpy(b, good, n);
	b[eocd + 8] = b[eocd + 10] = (unsigned char)(good[eocd + 10] + 1);
	put64(b + rec + 24, good[eocd + 10] + 1u);
	put64(b + rec + 32, good[eocd + 10] + 1u);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);

	/* a central header's local offset beyond the central directory */
	memcpy(b, good, n);
	put32(b + cd + 42, (uint32_t)cd + 4);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);

	/* a central header's compressed size running into the directory */
	memcpy(b, good, n);
	put32(b + cd + 20, (uint32_t)cd);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);

	/* the first central header's signature damaged */
	memcpy(b, good, n);
	b[cd + 3] = 0x03;
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(why, "central directory entry 0"));

	/* sanity: the untouched copy still passes */
	memcpy(b, good, n);
	ck_assert_int_eq(check_buf("model.pt", b, n, NULL), 0);
	free(b);
	free(good);
}
END_TEST

START_TEST(test_zip_comment)
{
	size_t n, eocd;
	unsigned char *b = load(fixdir, "plain.zip.bin", &n);

	eocd = rfind(b, n, "PK\x05\x06", 4);
	ck_assert_uint_eq(eocd + 22 + b[eocd + 20], n); /* the comment ends the file */
	ck_assert_int_eq(check_buf("plain.zip", b, n, NULL), 0);
	b[eocd + 20]++;
	ck_assert_int_eq(check_buf("plain.zip", b, n, NULL), -EBADMSG);
	b[eocd + 20] -= 2;
	ck_assert_int_eq(check_buf("plain.zip", b, n, NULL), -EBADMSG);
	free(b);
}
END_TEST

/* ---- npy ---- */

static void replace_in(unsigned char *b, size_t n, const char *from, const char *to)
{
	size_t fl = strlen(from);
	size_t at = rfind(b, n > 200 ? 200 : n, from, fl);

	ck_assert_msg(at != (size_t)-1, "\"%s\" not in header", from);
	ck_assert_uint_eq(strlen(to), fl);
	memcpy(b + at, to, fl);
}

START_TEST(test_npy_every_truncation)
{
	static const char *const files[] = { "f4.npy", "v2.npy", "c16.npy", "unicode.npy" };

	for (size_t f = 0; f < 4; f++) {
		size_t n;
		unsigned char *b = load(fixdir, files[f], &n);

		for (size_t len = 0; len < 6; len++)
			ck_assert_int_eq(check_buf(files[f], b, len, NULL), 0);
		for (size_t len = 6; len < n; len++)
			ck_assert_msg(check_buf(files[f], b, len, NULL) == -EBADMSG,
				      "%s truncated to %zu bytes passed", files[f], len);
		b[n] = 0;
		ck_assert_int_eq(check_buf(files[f], b, n + 1, NULL), -EBADMSG);
		ck_assert_int_eq(check_buf(files[f], b, n, NULL), 0);
		free(b);
	}
}
END_TEST

START_TEST(test_npy_header_edits)
{
	static const struct {
		const char *from, *to;
		int rc;
	} edits[] = {
		{ "(3, 4)", "(3, 5)", -EBADMSG }, /* wrong shape */
		{ "(3, 4)", "(4, 3)", 0 },	  /* same size */
		{ "(3, 4)", "(2, 6)", 0 },
		{ "(3, 4)", "(12, )", 0 },
		{ "(3, 4)", "( 12 )", -EBADMSG }, /* "(12)" is not a tuple */
		{ "(3, 4)", "(3,,4)", -EBADMSG },
		{ "(3, 4)", "(3,-4)", -EBADMSG },
		{ "(3, 4)", "[3, 4]", -EBADMSG },
		{ "<f4", "<f8", -EBADMSG }, /* wrong item size */
		{ "<f4", "<i4", 0 },
		{ "<f4", ">u4", 0 },
		{ "<f4", "<U1", 0 }, /* 4 bytes per character */
		{ "<f4", "|u1", -EBADMSG },
		{ "<f4", "<f ", -EBADMSG },
		{ "'descr'", "'dascr'", -EBADMSG },
		{ "'descr'", "\"descr\"", 0 },
		{ "False", "True ", 0 },
		{ "False", "Maybe", -EBADMSG },
		{ "{'", "['", -EBADMSG },
	};
	size_t n;
	unsigned char *good = load(fixdir, "f4.npy", &n);
	unsigned char *b = malloc(n);

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		memcpy(b, good, n);
		replace_in(b, n, edits[i].from, edits[i].to);
		ck_assert_msg(check_buf("f4.npy", b, n, NULL) == edits[i].rc,
			      "%s -> %s: expected %d (%s)", edits[i].from, edits[i].to, edits[i].rc,
			      why);
	}
	/* the header must end in a newline */
	memcpy(b, good, n);
	ck_assert_uint_eq(b[10 + b[8] - 1], '\n');
	b[10 + b[8] - 1] = ' ';
	ck_assert_int_eq(check_buf("f4.npy", b, n, NULL), -EBADMSG);
	/* unknown version */
	memcpy(b, good, n);
	b[6] = 9;
	ck_assert_int_eq(check_buf("f4.npy", b, n, NULL), -EBADMSG);
	/* header length beyond the file */
	memcpy(b, good, n);
	b[8] = 0xff, b[9] = 0xff;
	ck_assert_int_eq(check_buf("f4.npy", b, n, NULL), -EBADMSG);
	free(b);
	free(good);
}
END_TEST

START_TEST(test_npy_v2_huge_header)
{
	size_t n;
	unsigned char *b = load(fixdir, "v2.npy", &n);

	put32(b + 8, 0xfffffff0u);
	ck_assert_int_eq(check_buf("v2.npy", b, n, NULL), -EBADMSG);
	free(b);
}
END_TEST

START_TEST(test_npy_object_skipped)
{
	/* Object arrays hold a pickle: no shape x item size to check. */
	size_t n;
	unsigned char *b = load(fixdir, "object.npy", &n);

	ck_assert_int_eq(check_buf("object.npy", b, n, NULL), 0);
	ck_assert_int_eq(check_buf("object.npy", b, n - 10, NULL), 0);
	free(b);
}
END_TEST

/* A hand-made npy: header text padded to 64 bytes, then data_len bytes. */
static unsigned char *make_npy(const char *dict, size_t data_len, size_t *n)
{
	size_t hl = strlen(dict), total = 10 + hl + 1;
	size_t pad = (64 - total % 64) % 64;
	unsigned char *b;

	*n = total + pad + data_len;
	b = calloc(1, *n);
	ck_assert_ptr_nonnull(b);
	memcpy(b, "\x93NUMPY\x01\x00", 8);
	b[8] = (unsigned char)((hl + pad + 1) & 0xff);
	b[9] = (unsigned char)((hl + pad + 1) >> 8);
	memcpy(b + 10, dict, hl);
	memset(b + 10 + hl, ' ', pad);
	b[10 + hl + pad] = '\n';
	return b;
}

START_TEST(test_npy_handmade)
{
	static const struct {
		const char *dict;
		size_t data;
		int rc;
	} cases[] = {
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 48, 0 },
		{ "{'descr':'<f4','fortran_order':False,'shape':(3,4)}", 48, 0 },
		{ "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8, 0 },
		{ "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 0, -EBADMSG },
		{ "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 9), }", 0, 0 },
		{ "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2,), }", 16, 0 },
		{ "{'descr': '<M8[ns', 'fortran_order': False, 'shape': (2,), }", 16, -EBADMSG },
		{ "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }", 5, 0 },
		{ "{'descr': '|S3', 'fortran_order': False, 'shape': (2,), }", 6, 0 },
		{ "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", 16, 0 },
		{ "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", 8, -EBADMSG },
		/* missing, extra or repeated keys */
		{ "{'descr': '<f4', 'shape': (3,), }", 12, -EBADMSG },
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", 12, -EBADMSG },
		{ "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", 12,
		  -EBADMSG },
		/* junk after the dict, unterminated string, escapes */
		{ "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x", 12, -EBADMSG },
		{ "{'descr': '<f4, 'fortran_order': False, 'shape': (3,), }", 12, -EBADMSG },
		{ "{'descr': '<f\\4', 'fortran_order': False, 'shape': (3,), }", 12, -EBADMSG },
		/* a product that overflows 64 bits */
		{ "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
		  0, -EBADMSG },
		/* structured dtypes are not sized */
		{ "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", 1, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n;
		unsigned char *b = make_npy(cases[i].dict, cases[i].data, &n);

		ck_assert_msg(check_buf("h.npy", b, n, NULL) == cases[i].rc, "%s + %zu: %s",
			      cases[i].dict, cases[i].data, why);
		free(b);
	}
}
END_TEST

/* ---- safetensors ---- */

static unsigned char *make_st(const char *header, size_t data_len, size_t *n)
{
	size_t hl = strlen(header);
	unsigned char *b;

	*n = 8 + hl + data_len;
	b = calloc(1, *n + 1);
	ck_assert_ptr_nonnull(b);
	put64(b, hl);
	memcpy(b + 8, header, hl);
	return b;
}

START_TEST(test_safetensors_every_truncation)
{
	static const char *const files[] = { "model.safetensors", "zero.safetensors" };

	for (size_t f = 0; f < 2; f++) {
		size_t n;
		unsigned char *b = load(fixdir, files[f], &n);

		for (size_t len = 0; len < n; len++)
			ck_assert_msg(check_buf(files[f], b, len, NULL) == -EBADMSG,
				      "%s truncated to %zu bytes passed", files[f], len);
		b[n] = 0;
		ck_assert_int_eq(check_buf(files[f], b, n + 1, NULL), -EBADMSG);
		ck_assert_int_eq(check_buf(files[f], b, n, NULL), 0);
		free(b);
	}
}
END_TEST

START_TEST(test_safetensors_headers)
{
	static const struct {
		const char *hdr;
		size_t data;
		int rc;
	} cases[] = {
		{ "{}", 0, 0 },
		{ "{}", 1, -EBADMSG },
		{ "{}    ", 0, 0 }, /* space padding */
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[2,6]}}",
		  6, 0 },
		/* the same tensors listed in the other order */
		{ "{\"b\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[2,6]},"
		  "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
		  6, 0 },
		/* gap */
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
		  "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}",
		  5, -EBADMSG },
		/* gap at the start */
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, -EBADMSG },
		/* overlap */
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
		  "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
		  3, -EBADMSG },
		/* the same range twice */
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
		  "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
		  2, -EBADMSG },
		/* data beyond the last tensor, and short of it */
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 3, -EBADMSG },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 1, -EBADMSG },
		/* byte count not shape x dtype size */
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, -EBADMSG },
		{ "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", 12, 0 },
		{ "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[5],\"data_offsets\":[0,5]}}", 5, 0 },
		{ "{\"a\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[0,2]}}", 2, 0 },
		{ "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, -EBADMSG },
		/* 12 bits is not a whole number of bytes */
		{ "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,1]}}", 1, -EBADMSG },
		{ "{\"a\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}", 8, 0 },
		{ "{\"a\":{\"dtype\":\"I64\",\"shape\":[0,7],\"data_offsets\":[0,0]}}", 0, 0 },
		/* malformed entries */
		{ "{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, -EBADMSG },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, -EBADMSG },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1,
		  -EBADMSG },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}", 1, -EBADMSG },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1, -EBADMSG },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, -EBADMSG },
		{ "{\"a\":[1,2]}", 0, -EBADMSG },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
		  "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
		  1, -EBADMSG },
		/* __metadata__ */
		{ "{\"__metadata__\":{\"format\":\"pt\"}}", 0, 0 },
		{ "{\"__metadata__\":{\"format\":1}}", 0, -EBADMSG },
		{ "{\"__metadata__\":\"pt\"}", 0, -EBADMSG },
		/* unparsable or not an object */
		{ "{\"a\":", 0, -EBADMSG },
		{ "[]", 0, -EBADMSG },
		{ "", 0, -EBADMSG },
		{ "{} x", 0, -EBADMSG },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n;
		unsigned char *b = make_st(cases[i].hdr, cases[i].data, &n);

		ck_assert_msg(check_buf("m.safetensors", b, n, NULL) == cases[i].rc,
			      "case %zu %s + %zu: %s", i, cases[i].hdr, cases[i].data, why);
		free(b);
	}
}
END_TEST

START_TEST(test_safetensors_header_length)
{
	size_t n;
	unsigned char *b = make_st("{}", 0, &n);

	put64(b, 1000); /* beyond the file */
	ck_assert_int_eq(check_buf("m.safetensors", b, n, NULL), -EBADMSG);
	put64(b, (uint64_t)200 << 20); /* beyond the cap, whatever the size */
	ck_assert_int_eq(check_buf("m.safetensors", b, n, NULL), -EBADMSG);
	put64(b, UINT64_MAX);
	ck_assert_int_eq(check_buf("m.safetensors", b, n, NULL), -EBADMSG);
	put64(b, 2);
	ck_assert_int_eq(check_buf("m.safetensors", b, n, NULL), 0);
	/* by extension only, case-insensitive; other names are not checked */
	put64(b, 1000);
	ck_assert_int_eq(check_buf("M.SafeTensors", b, n, NULL), -EBADMSG);
	ck_assert_int_eq(check_buf("m.safetensors.bin", b, n, NULL), 0);
	ck_assert_int_eq(check_buf("dir.safetensors/x", b, n, NULL), 0);
	free(b);
}
END_TEST

/* ---- other files, errors, read bounds ---- */

/* The chunk-grid hint: where the arrays begin, for the real fixtures and
 * for heads that only look similar. */
START_TEST(test_data_start)
{
	static const struct {
		const char *name;
		bool known;
	} fx[] = { { "model.safetensors", true },
		   { "zero.safetensors", true },
		   { "f4.npy", true },
		   { "v2.npy", true },
		   { "model.pt", false },
		   { "plain.zip.bin", false } };
	unsigned char h[16];
	size_t i, n;

	for (i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		unsigned char *p = load(fixdir, fx[i].name, &n);
		uint64_t ds = format_data_start(p, n < 16 ? n : 16), want = 0;

		if (p[0] == 0x93) /* npy: magic, version, header length */
			want = p[6] == 1 ? 10 + (uint64_t)(p[8] | p[9] << 8) : 12 + get32(p + 8);
		else if (fx[i].known)
			want = 8 + ((uint64_t)get32(p + 4) << 32 | get32(p));
		ck_assert_msg(ds == want, "%s: %llu, want %llu", fx[i].name, (unsigned long long)ds,
			      (unsigned long long)want);
		ck_assert(!fx[i].known || (ds > 0 && ds <= n));
		free(p);
	}
	memset(h, 0, sizeof(h));
	put64(h, 4096);
	h[8] = '{';
	ck_assert_uint_eq(format_data_start(h, 16), 8 + 4096);
	ck_assert_uint_eq(format_data_start(h, 8), 0); /* too short to tell */
	h[8] = '[';
	ck_assert_uint_eq(format_data_start(h, 16), 0); /* not a JSON object */
	h[8] = '{';
	put64(h, (100u << 20) + 1);
	ck_assert_uint_eq(format_data_start(h, 16), 0); /* beyond the header cap */
	put64(h, 1);
	ck_assert_uint_eq(format_data_start(h, 16), 0); /* shorter than "{}" */
	memcpy(h, "\x93NUMPY\x02\x00", 8);
	put32(h + 8, 0xffffffffu);
	ck_assert_uint_eq(format_data_start(h, 16), 0); /* npy header too long */
	ck_assert_uint_eq(format_data_start(h, 11), 0); /* v2 needs 12 bytes */
}
END_TEST

START_TEST(test_unknown_formats)
{
	static const char text[] = "just some text, not a checkpoint format\n";
	size_t n;
	unsigned char *b = load(fixdir, "f4.npy", &n);

	ck_assert_int_eq(check_buf("notes.txt", text, sizeof(text) - 1, NULL), 0);
	ck_assert_int_eq(check_buf("model.pt", text, sizeof(text) - 1, NULL), 0);
	ck_assert_int_eq(check_buf("x.npy", text, sizeof(text) - 1, NULL), 0);
	ck_assert_int_eq(check_buf("empty.pt", "", 0, NULL), 0);
	ck_assert_int_eq(check_buf("empty.npy", "", 0, NULL), 0);
	/* checked by magic bytes, whatever the name */
	ck_assert_int_eq(check_buf("weights.bin", b, n - 1, NULL), -EBADMSG);
	free(b);
	b = load(fixdir, "model.pt", &n);
	ck_assert_int_eq(check_buf("pytorch_model.bin", b, n - 1, NULL), -EBADMSG);
	ck_assert_int_eq(check_buf("noext", b, n, NULL), 0);
	free(b);
}
END_TEST

START_TEST(test_read_errors_pass_through)
{
	static const char *const files[] = { "model.pt", "f4.npy", "model.safetensors" };

	for (size_t f = 0; f < 3; f++) {
		size_t n;
		unsigned char *b = load(fixdir, files[f], &n);
		struct mem m = { .p = b, .n = n, .fail = -EIO };

		ck_assert_int_eq(format_check(files[f], n, mem_read, &m, why, sizeof(why)), -EIO);
		m.fail = -ENOMEM;
		ck_assert_int_eq(format_check(files[f], n, mem_read, &m, why, sizeof(why)),
				 -ENOMEM);
		/* a NULL or empty why buffer is fine */
		m.fail = 0;
		ck_assert_int_eq(format_check(files[f], n - 1, mem_read, &m, NULL, 0), -EBADMSG);
		ck_assert_int_eq(format_check(files[f], n, mem_read, &m, NULL, 0), 0);
		free(b);
	}
}
END_TEST

START_TEST(test_reads_are_small)
{
	/* A 64 MiB array and a 64 MiB safetensors file: only headers are read. */
	const size_t data = 64u << 20;
	struct mem m;
	size_t n;
	unsigned char *b;

	b = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4096, 4096), }", data, &n);
	ck_assert_int_eq(check_buf("big.npy", b, n, &m), 0);
	ck_assert_uint_le(m.bytes_read, 4096);
	free(b);

	b = make_st(
		"{\"w\":{\"dtype\":\"F32\",\"shape\":[4096,4096],\"data_offsets\":[0,67108864]}}",
		data, &n);
	ck_assert_int_eq(check_buf("big.safetensors", b, n, &m), 0);
	ck_assert_uint_le(m.bytes_read, 4096);
	free(b);
}
END_TEST

/* Fresh files from make_fixtures.py: torch/numpy of this machine. */
START_TEST(test_generated_files)
{
	static const char *const skip_size[] = { "object.npy", "struct.npy" };
	char dir[] = "/tmp/check_format.XXXXXX", cmd[PATH_MAX * 3], list[PATH_MAX * 2];
	char name[256];
	FILE *ls;
	int files = 0;

	if (access("/usr/bin/python3", X_OK) != 0) {
		fprintf(stderr, "test_generated_files: no /usr/bin/python3, skipped\n");
		return;
	}
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/make_fixtures.py %s", fixdir, dir);
	ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
	snprintf(list, sizeof(list), "ls %s", dir);
	ls = popen(list, "r");
	ck_assert_ptr_nonnull(ls);
	while (fgets(name, sizeof(name), ls)) {
		size_t n, half;
		unsigned char *b;
		struct mem m;
		bool sized = true;

		name[strcspn(name, "\n")] = '\0';
		b = load(dir, name, &n);
		ck_assert_msg(check_buf(name, b, n, &m) == 0, "%s: %s", name, why);
		/* only headers, the zip tail and central directory are read */
		ck_assert_msg(m.bytes_read <= 70000 + n / 50, "%s: read %llu of %zu bytes", name,
			      (unsigned long long)m.bytes_read, n);
		for (size_t i = 0; i < 2; i++)
			if (!strcmp(name, skip_size[i]))
				sized = false;
		if (sized) {
			ck_assert_msg(check_buf(name, b, n - 1, NULL) == -EBADMSG, "%s - 1 passed",
				      name);
			half = n / 2;
			ck_assert_msg(check_buf(name, b, half, NULL) == -EBADMSG, "%s / 2 passed",
				      name);
		}
		free(b);
		snprintf(cmd, sizeof(cmd), "%s/%s", dir, name);
		unlink(cmd);
		files++;
	}
	pclose(ls);
	rmdir(dir);
	ck_assert_int_ge(files, 20);
}
END_TEST

/* ---- items (ckpt diff) ---- */

struct items {
	char text[2048]; /* "name|layout|begin|end;" per item */
	int stop_at;	 /* return -ECANCELED at this item (1-based; 0: never) */
	int seen;
};

static int items_cb(void *ctx, const struct format_item *it)
{
	struct items *x = ctx;
	size_t l = strlen(x->text);

	snprintf(x->text + l, sizeof(x->text) - l, "%s|%s|%llu|%llu;", it->name, it->layout,
		 (unsigned long long)it->begin, (unsigned long long)it->end);
	return ++x->seen == x->stop_at ? -ECANCELED : 0;
}

static int items_of(const char *name, struct items *x)
{
	size_t n;
	unsigned char *b = load(fixdir, name, &n);
	struct mem m = { .p = b, .n = n };
	int rc = format_items(name, n, mem_read, &m, items_cb, x, why, sizeof(why));

	free(b);
	return rc;
}

START_TEST(test_items)
{
	struct items x = { 0 };
	size_t n;
	unsigned char *b;

	/* header: 8 + N bytes; tensors in file order, __metadata__ last */
	b = load(fixdir, "model.safetensors", &n);
	uint64_t d = 8 + (b[0] | (uint64_t)b[1] << 8);
	free(b);
	ck_assert_int_eq(items_of("model.safetensors", &x), FORMAT_SAFETENSORS);
	char want[1024];
	snprintf(
		want, sizeof(want),
		"embed.weight|F32 [3,4]|%llu|%llu;embed.bias|F16 [4]|%llu|%llu;"
		"mask|BOOL [2]|%llu|%llu;ids|I64 [3]|%llu|%llu;__metadata__|{\"format\":\"pt\"}|0|0;",
		(unsigned long long)d, (unsigned long long)d + 48, (unsigned long long)d + 48,
		(unsigned long long)d + 56, (unsigned long long)d + 56, (unsigned long long)d + 58,
		(unsigned long long)d + 58, (unsigned long long)d + 82);
	ck_assert_str_eq(x.text, want);

	/* zip: each entry's data (past its padded local header), the CD's facts */
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(items_of("model.pt", &x), FORMAT_ZIP);
	ck_assert_str_eq(x.text,
			 "model/data.pkl|method 0, 224 bytes, crc e00fbe8f|64|288;"
			 "model/data/0|method 0, 48 bytes, crc cce829ca|384|432;"
			 "model/data/1|method 0, 12 bytes, crc 7bd5c66f|512|524;"
			 "model/version|method 0, 2 bytes, crc 55679ed1|640|642;");

	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(items_of("f4.npy", &x), FORMAT_NPY);
	ck_assert_str_eq(
		x.text,
		"array|{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }|128|176;");

	/* no known format, a malformed one, a callback that stops */
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(items_of("trainer_state.json", &x), FORMAT_NONE);
	ck_assert_str_eq(x.text, "");
	b = load(fixdir, "model.pt", &n);
	struct mem m = { .p = b, .n = n - 1 };
	ck_assert_int_eq(
		format_items("model.pt", n - 1, mem_read, &m, items_cb, &x, why, sizeof(why)),
		-EBADMSG);
	ck_assert_str_eq(x.text, "");
	free(b);
	memset(&x, 0, sizeof(x));
	x.stop_at = 2;
	ck_assert_int_eq(items_of("model.pt", &x), -ECANCELED);
	ck_assert_int_eq(x.seen, 2);
	ck_assert_str_eq(format_name(FORMAT_ZIP), "zip");
	ck_assert_ptr_null(format_name(FORMAT_NONE));
}
END_TEST

static Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("zip");

	tcase_add_test(tc, test_good_fixtures);
	tcase_add_test(tc, test_zip_every_truncation);
	tcase_add_test(tc, test_zip_truncated_reason);
	tcase_add_test(tc, test_zip_corrupt_records);
	tcase_add_test(tc, test_zip_comment);
	suite_add_tcase(s, tc);

	tc = tcase_create("npy");
	tcase_add_test(tc, test_npy_every_truncation);
	tcase_add_test(tc, test_npy_header_edits);
	tcase_add_test(tc, test_npy_v2_huge_header);
	tcase_add_test(tc, test_npy_object_skipped);
	tcase_add_test(tc, test_npy_handmade);
	suite_add_tcase(s, tc);

	tc = tcase_create("safetensors");
	tcase_add_test(tc, test_safetensors_every_truncation);
	tcase_add_test(tc, test_safetensors_headers);
	tcase_add_test(tc, test_safetensors_header_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_unknown_formats);
	tcase_add_test(tc, test_data_start);
	tcase_add_test(tc, test_read_errors_pass_through);
	tcase_add_test(tc, test_reads_are_small);
	tcase_add_test(tc, test_generated_files);
	tcase_add_test(tc, test_items);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	char *slash;
	int failed;

	/* Fixtures sit next to this source file (CMake compiles it by its
	 * absolute path); CKPT_FIXTURES overrides. */
	snprintf(fixdir, sizeof(fixdir), "%s",
		 getenv("CKPT_FIXTURES") ? getenv("CKPT_FIXTURES") : __FILE__);
	if (!getenv("CKPT_FIXTURES")) {
		slash = strrchr(fixdir, '/');
		snprintf(slash ? slash + 1 : fixdir,
			 sizeof(fixdir) - (size_t)(slash ? slash + 1 - fixdir : 0), "fixtures");
	}
	sr = srunner_create(format_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
