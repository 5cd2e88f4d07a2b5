/* Format checks at commit: zip (torch.save), .npy and .safetensors. See
 * format.h. Each check reads only headers, the end of the file and the zip
 * central directory, and refuses anything it cannot account for exactly:
 *
 *  - zip (magic "PK\3\4" at offset 0): the end-of-central-directory record
 *    must be found in the last 64 KiB + 22 bytes and end exactly at the end
 *    of the file (its comment included). When a zip64 locator precedes it
 *    (torch.save always writes one) the zip64 record must lie inside the
 *    file, before the locator. The central directory (offset + size) must
 *    end at or before the record that points at it; when it is at most
 *    FORMAT_ZIP_CD_MAX bytes it is walked: every entry must be a central
 *    header, the entry count and size must match, and every entry's local
 *    header and data must lie before the central directory.
 *  - .npy (magic "\x93NUMPY"): versions 1.x, 2.x and 3.x; the header is a
 *    small Python dict literal with exactly the keys descr, fortran_order and
 *    shape, parsed here by hand (strict, bounded). The file size must equal
 *    header + prod(shape) * itemsize. Object ('O') and structured (list)
 *    dtypes, and dtype kinds we do not know, skip the size check.
 *  - .safetensors (by extension, case-insensitive): an 8-byte little-endian
 *    header length N (N <= FORMAT_ST_HEADER_MAX, 8 + N <= size), a JSON
 *    object (jansson) of tensors {dtype, shape, data_offsets} and an optional
 *    "__metadata__" object of strings. Every tensor's byte count must equal
 *    prod(shape) * dtype size, and the data_offsets together must cover
 *    [0, size - 8 - N) exactly, without gaps or overlaps.
 *
 * Anything else is of no known format and passes.
 *
 * format_items runs the same parse and reports what it found (tensors, zip
 * entries, the .npy array) through a struct format_sink; format_check
 * passes none.
 */
#include "format.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FORMAT_ZIP_EOCD_LEN 22
#define FORMAT_ZIP_TAIL_MAX (65535 + FORMAT_ZIP_EOCD_LEN)
#define FORMAT_ZIP_CD_MAX (16u << 20)	 /* larger central directories: only bounds checked */
#define FORMAT_NPY_HEADER_MAX (1u << 20) /* numpy itself writes a few hundred bytes */
#define FORMAT_NPY_MAX_DIMS 64		 /* numpy's NPY_MAXDIMS is 32/64 */
#define FORMAT_ST_HEADER_MAX (100u << 20)
#define FORMAT_ST_MAX_TENSORS (1u << 20)

static int bad(char *why, size_t why_len, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(char *why, size_t why_len, const char *path, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(why, why_len, "%s: %s", path, msg);
	}
	return -EBADMSG;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
		((uint32_t)p[3] << 24);
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

/* Where format_items sends the items a check parsed; NULL for format_check. */
struct format_sink {
	format_item_fn cb;
	void *ctx;
	bool walked; /* the items were reported */
};

static int sink_emit(struct format_sink *s, const char *name, const char *layout, uint64_t begin,
		     uint64_t end)
{
	struct format_item it = { .name = name, .layout = layout, .begin = begin, .end = end };

	return s->cb(s->ctx, &it);
}

/* ---- zip ---- */

struct zip_dir {
	uint64_t entries;
	uint64_t cd_size;
	uint64_t cd_off;
	uint64_t cd_limit; /* the central directory must end at or before this */
};

/* Reads the zip64 record a locator at loc_off points to. */
static int zip64_record(const char *path, format_read_fn rd, void *ctx, const unsigned char *loc,
			uint64_t loc_off, struct zip_dir *z64, char *why, size_t why_len)
{
	unsigned char rec[56];
	uint64_t rec_off = le64(loc + 8);
	int rc;

	if (rec_off > loc_off || loc_off - rec_off < sizeof(rec))
		return bad(why, why_len, path, "zip64 end of central directory outside the file");
	rc = rd(ctx, rec, sizeof(rec), rec_off);
	if (rc < 0)
		return rc;
	if (memcmp(rec, "PK\x06\x06", 4) != 0)
		return bad(why, why_len, path, "zip64 end of central directory record missing");
	/* The record's own size field counts the bytes after its first 12. */
	if (le64(rec + 4) < 44 || le64(rec + 4) > loc_off - rec_off - 12)
		return bad(why, why_len, path, "zip64 end of central directory record size wrong");
	z64->entries = le64(rec + 32);
	z64->cd_size = le64(rec + 40);
	z64->cd_off = le64(rec + 48);
	z64->cd_limit = rec_off;
	return 0;
}

/* Parses the zip64 extra field of a central header for the fields that are
 * saturated (0xffffffff) in the fixed part. */
static int zip64_extra(const unsigned char *extra, size_t len, uint64_t *usize, uint64_t *csize,
		       uint64_t *loff)
{
	size_t i = 0;

	while (i + 4 <= len) {
		uint16_t id = le16(extra + i), sz = le16(extra + i + 2);
		const unsigned char *d = extra + i + 4;
		size_t o = 0;

		if (i + 4 + sz > len)
			return -1;
		if (id == 0x0001) {
			uint64_t *want[3] = { usize, csize, loff };

			for (int k = 0; k < 3; k++) {
				if (*want[k] != 0xffffffffu)
					continue;
				if (o + 8 > sz)
					return -1;
				*want[k] = le64(d + o);
				o += 8;
			}
			return 0;
		}
		i += 4 + (size_t)sz;
	}
	/* No zip64 field: fine unless a value was saturated. */
	return (*usize == 0xffffffffu || *csize == 0xffffffffu || *loff == 0xffffffffu) ? -1 : 0;
}

/* A walked entry: where its local header is, where its name is in the CD,
 * and what the CD says of its data. */
struct zip_ent {
	uint64_t loff, csize, usize;
	size_t name_at;
	size_t name_len;
	uint32_t crc;
	uint16_t method;
};

static int zip_ent_cmp(const void *a, const void *b)
{
	const struct zip_ent *x = a, *y = b;

	if (x->loff != y->loff)
		return x->loff < y->loff ? -1 : 1;
	return x->name_at < y->name_at ? -1 : x->name_at > y->name_at;
}

/* Reports the walked entries in file order: each one's data, found through
 * its local header (30 bytes read per entry; its extra field may differ from
 * the CD's, torch.save pads there), and as layout what the CD says of it. */
static int zip_emit(const char *path, format_read_fn rd, void *ctx, struct format_sink *sink,
		    const unsigned char *cd, struct zip_ent *ents, size_t n, uint64_t cd_off,
		    char *why, size_t why_len)
{
	char name[65536], layout[96];
	unsigned char lh[30];
	int rc = 0;

	qsort(ents, n, sizeof(*ents), zip_ent_cmp);
	for (size_t k = 0; k < n && rc == 0; k++) {
		const struct zip_ent *e = &ents[k];
		uint64_t at;

		if ((rc = rd(ctx, lh, sizeof(lh), e->loff)) < 0)
			return rc;
		at = e->loff + 30 + le16(lh + 26) + le16(lh + 28);
		if (memcmp(lh, "PK\x03\x04", 4) != 0 || at > cd_off || cd_off - at < e->csize)
			return bad(why, why_len, path, "zip entry %zu: local header damaged", k);
		memcpy(name, cd + e->name_at, e->name_len);
		name[e->name_len] = '\0';
		snprintf(layout, sizeof(layout), "method %u, %llu bytes, crc %08x", e->method,
			 (unsigned long long)e->usize, e->crc);
		rc = sink_emit(sink, name, layout, at, at + e->csize);
	}
	sink->walked = rc == 0;
	return rc;
}

static int zip_walk_cd(const char *path, format_read_fn rd, void *ctx, const struct zip_dir *z,
		       struct format_sink *sink, char *why, size_t why_len)
{
	unsigned char *cd;
	struct zip_ent *ents = NULL;
	uint64_t count = 0;
	size_t i = 0;
	int rc;

	if (z->cd_size > FORMAT_ZIP_CD_MAX) {
		unsigned char sig[4];

		/* Too big to walk: check that it starts where it should. */
		rc = rd(ctx, sig, sizeof(sig), z->cd_off);
		if (rc < 0)
			return rc;
		if (memcmp(sig, "PK\x01\x02", 4) != 0)
			return bad(why, why_len, path, "zip central directory offset wrong");
		return 0;
	}
	cd = malloc(z->cd_size ? z->cd_size : 1);
	/* at most one entry per 46 bytes of central directory */
	if (sink)
		ents = malloc((z->cd_size / 46 + 1) * sizeof(*ents));
	if (!cd || (sink && !ents)) {
		free(cd);
		free(ents);
		return -ENOMEM;
	}
	rc = z->cd_size ? rd(ctx, cd, z->cd_size, z->cd_off) : 0;
	if (rc < 0)
		goto out_free_cd;
	while (i < z->cd_size) {
		const unsigned char *h = cd + i;
		uint64_t usize, csize, loff;
		size_t nl, el, cl;

		if (z->cd_size - i < 46 || memcmp(h, "PK\x01\x02", 4) != 0) {
			rc = bad(why, why_len, path, "zip central directory entry %llu damaged",
				 (unsigned long long)count);
			goto out_free_cd;
		}
		nl = le16(h + 28), el = le16(h + 30), cl = le16(h + 32);
		if (z->cd_size - i - 46 < nl + el + cl) {
			rc = bad(why, why_len, path, "zip central directory entry %llu overruns it",
				 (unsigned long long)count);
			goto out_free_cd;
		}
		csize = le32(h + 20), usize = le32(h + 24), loff = le32(h + 42);
		if (zip64_extra(h + 46 + nl, el, &usize, &csize, &loff) < 0) {
			rc = bad(why, why_len, path, "zip entry %llu: zip64 extra field damaged",
				 (unsigned long long)count);
			goto out_free_cd;
		}
		/* Local header (30 bytes + name) and data precede the directory. */
		if (loff > z->cd_off || z->cd_off - loff < 30 + (uint64_t)nl ||
		    z->cd_off - loff - 30 - nl < csize) {
			rc = bad(why, why_len, path, "zip entry %llu lies outside the file data",
				 (unsigned long long)count);
			goto out_free_cd;
		}
		if (ents)
			ents[count] = (struct zip_ent){ loff, csize,	    usize,	 i + 46,
							nl,   le32(h + 16), le16(h + 10) };
		i += 46 + nl + el + cl;
		count++;
	}
	if (count != z->entries)
		rc = bad(why, why_len, path, "zip central directory has %llu entries, not %llu",
			 (unsigned long long)count, (unsigned long long)z->entries);
	else if (sink)
		rc = zip_emit(path, rd, ctx, sink, cd, ents, (size_t)count, z->cd_off, why,
			      why_len);
out_free_cd:
	free(ents);
	free(cd);
	return rc;
}

static int check_zip(const char *path, uint64_t size, format_read_fn rd, void *ctx,
		     struct format_sink *sink, char *why, size_t why_len)
{
	unsigned char *tail;
	size_t tl, pos;
	uint64_t tail_off, eocd_off;
	bool found = false;
	struct zip_dir z;
	const unsigned char *e;
	int rc;

	if (size < FORMAT_ZIP_EOCD_LEN + 4)
		return bad(why, why_len, path, "zip end of central directory missing");
	tl = size < FORMAT_ZIP_TAIL_MAX ? (size_t)size : FORMAT_ZIP_TAIL_MAX;
	tail_off = size - tl;
	tail = malloc(tl);
	if (!tail)
		return -ENOMEM;
	rc = rd(ctx, tail, tl, tail_off);
	if (rc < 0)
		goto out_free_tail;
	/* The last record whose comment ends exactly at the end of the file. */
	for (pos = tl - FORMAT_ZIP_EOCD_LEN + 1; pos-- > 0;) {
		if (memcmp(tail + pos, "PK\x05\x06", 4) == 0 &&
		    pos + FORMAT_ZIP_EOCD_LEN + le16(tail + pos + 20) == tl) {
			found = true;
			break;
		}
	}
	if (!found) {
		rc = bad(why, why_len, path, "zip end of central directory missing");
		goto out_free_tail;
	}
	e = tail + pos;
	eocd_off = tail_off + pos;
	z.entries = le16(e + 10);
	z.cd_size = le32(e + 12);
	z.cd_off = le32(e + 16);
	z.cd_limit = eocd_off;
	if (le16(e + 4) != 0 || le16(e + 6) != 0 || le16(e + 8) != le16(e + 10)) {
		rc = bad(why, why_len, path, "zip spans several disks");
		goto out_free_tail;
	}
	if (pos >= 20 && memcmp(e - 20, "PK\x06\x07", 4) == 0) {
		struct zip_dir z64 = { 0 };

		rc = zip64_record(path, rd, ctx, e - 20, eocd_off - 20, &z64, why, why_len);
		if (rc < 0)
			goto out_free_tail;
		/* The 32-bit fields are either saturated or agree with zip64. */
		if ((z.entries != 0xffff && z.entries != z64.entries) ||
		    (z.cd_size != 0xffffffffu && z.cd_size != z64.cd_size) ||
		    (z.cd_off != 0xffffffffu && z.cd_off != z64.cd_off)) {
			rc = bad(why, why_len, path, "zip64 and zip end records disagree");
			goto out_free_tail;
		}
		z = z64;
	} else if (z.entries == 0xffff || z.cd_size == 0xffffffffu || z.cd_off == 0xffffffffu) {
		rc = bad(why, why_len, path, "zip64 end of central directory locator missing");
		goto out_free_tail;
	}
	if (z.cd_off > z.cd_limit || z.cd_limit - z.cd_off < z.cd_size) {
		rc = bad(why, why_len, path, "zip central directory points outside the file");
		goto out_free_tail;
	}
	rc = zip_walk_cd(path, rd, ctx, &z, sink, why, why_len);
out_free_tail:
	free(tail);
	return rc;
}

/* ---- npy ---- */

struct npy_cursor {
	const char *s;
	size_t n, i;
};

static void npy_ws(struct npy_cursor *c)
{
	while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t'))
		c->i++;
}

static bool npy_eat(struct npy_cursor *c, char ch)
{
	npy_ws(c);
	if (c->i < c->n && c->s[c->i] == ch) {
		c->i++;
		return true;
	}
	return false;
}

/* A quoted string without escapes; out gets it (truncated to out_len-1). */
static bool npy_string(struct npy_cursor *c, char *out, size_t out_len)
{
	char q;
	size_t b;

	npy_ws(c);
	if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"'))
		return false;
	q = c->s[c->i++];
	b = c->i;
	while (c->i < c->n && c->s[c->i] != q) {
		if (c->s[c->i] == '\\' || c->s[c->i] == '\n')
			return false;
		c->i++;
	}
	if (c->i >= c->n || c->i - b >= out_len)
		return false;
	memcpy(out, c->s + b, c->i - b);
	out[c->i - b] = '\0';
	c->i++;
	return true;
}

static bool npy_word(struct npy_cursor *c, const char *w)
{
	size_t l = strlen(w);

	npy_ws(c);
	if (c->n - c->i >= l && memcmp(c->s + c->i, w, l) == 0) {
		c->i += l;
		return true;
	}
	return false;
}

/* (d0, d1, ...): a Python tuple of non-negative integers, so one element
 * needs its trailing comma ("(3,)"); the product goes to *count. */
static bool npy_shape(struct npy_cursor *c, uint64_t *count)
{
	uint64_t prod = 1;
	int dims = 0;
	bool comma = false;

	if (!npy_eat(c, '('))
		return false;
	while (!npy_eat(c, ')')) {
		uint64_t d = 0;
		size_t digits = 0;

		if (dims && !comma)
			return false;
		npy_ws(c);
		while (c->i < c->n && isdigit((unsigned char)c->s[c->i])) {
			if (digits >= 19)
				return false;
			d = d * 10 + (uint64_t)(c->s[c->i] - '0');
			c->i++, digits++;
		}
		if (!digits || ++dims > FORMAT_NPY_MAX_DIMS)
			return false;
		if (c->i < c->n && c->s[c->i] == 'L')
			c->i++; /* Python 2 long */
		if (__builtin_mul_overflow(prod, d, &prod))
			return false;
		comma = npy_eat(c, ',');
	}
	if (dims == 1 && !comma)
		return false;
	*count = prod;
	return true;
}

/* Item size of a simple descr such as '<f4', '|u1', '<U10', '<M8[ns]'.
 * Returns 1 with *size, 0 when the size check is skipped (object or unknown
 * kind), -1 when malformed. */
static int npy_itemsize(const char *d, uint64_t *size)
{
	char kind;
	uint64_t n = 0;
	size_t digits = 0;

	if (*d == '<' || *d == '>' || *d == '|' || *d == '=')
		d++;
	kind = *d++;
	if (!kind)
		return -1;
	if (kind == 'O' || !strchr("biufcmMSUVa?", kind))
		return 0; /* objects are pickles; unknown kinds are not sized */
	if (kind == '?' && !*d) {
		*size = 1;
		return 1;
	}
	while (isdigit((unsigned char)*d)) {
		if (digits++ >= 12)
			return -1;
		n = n * 10 + (uint64_t)(*d++ - '0');
	}
	if (!digits)
		return -1;
	if ((kind == 'm' || kind == 'M') && *d == '[') {
		d = strchr(d, ']');
		if (!d)
			return -1;
		d++;
	}
	if (*d)
		return -1;
	*size = kind == 'U' ? n * 4 : n;
	return 1;
}

/* The one array of a checked .npy file; its layout is the header dict. */
static int npy_emit(struct format_sink *sink, char *hdr, size_t hlen, uint64_t data_at,
		    uint64_t size)
{
	int rc;

	while (hlen && (hdr[hlen - 1] == '\n' || hdr[hlen - 1] == ' '))
		hdr[--hlen] = '\0';
	rc = sink_emit(sink, "array", hdr, data_at, size);
	sink->walked = rc == 0;
	return rc;
}

static int check_npy(const char *path, uint64_t size, format_read_fn rd, void *ctx,
		     struct format_sink *sink, char *why, size_t why_len)
{
	unsigned char pre[12];
	uint64_t hstart, hlen, count = 0, item = 0, data;
	char descr[64], key[32], *hdr;
	bool has_descr = false, has_fo = false, has_shape = false, skip = false;
	struct npy_cursor c;
	int rc, isz;

	if (size < 10)
		return bad(why, why_len, path, "npy header truncated");
	rc = rd(ctx, pre, size < 12 ? 10 : 12, 0);
	if (rc < 0)
		return rc;
	if (pre[6] == 1) {
		hstart = 10, hlen = le16(pre + 8);
	} else if (pre[6] == 2 || pre[6] == 3) {
		if (size < 12)
			return bad(why, why_len, path, "npy header truncated");
		hstart = 12, hlen = le32(pre + 8);
	} else {
		return bad(why, why_len, path, "npy version %u unknown", pre[6]);
	}
	if (hlen > FORMAT_NPY_HEADER_MAX)
		return bad(why, why_len, path, "npy header too long");
	if (hstart + hlen > size)
		return bad(why, why_len, path, "npy header truncated");
	hdr = malloc(hlen + 1);
	if (!hdr)
		return -ENOMEM;
	rc = hlen ? rd(ctx, hdr, hlen, hstart) : 0;
	if (rc < 0)
		goto out_free_hdr;
	hdr[hlen] = '\0';
	c.s = hdr, c.n = hlen, c.i = 0;
	rc = -EBADMSG;
	if (!hlen || hdr[hlen - 1] != '\n' || memchr(hdr, '\0', hlen))
		goto out_bad_header;
	c.n = hlen - 1; /* the newline ends it */
	if (!npy_eat(&c, '{'))
		goto out_bad_header;
	while (!npy_eat(&c, '}')) {
		if (!npy_string(&c, key, sizeof(key)) || !npy_eat(&c, ':'))
			goto out_bad_header;
		if (!strcmp(key, "descr") && !has_descr) {
			has_descr = true;
			npy_ws(&c);
			if (c.i < c.n && c.s[c.i] == '[') {
				/* Structured dtype: not sized here, and the
				 * rest of the header is not needed. */
				skip = true;
				break;
			}
			if (!npy_string(&c, descr, sizeof(descr)))
				goto out_bad_header;
		} else if (!strcmp(key, "fortran_order") && !has_fo) {
			has_fo = true;
			if (!npy_word(&c, "False") && !npy_word(&c, "True"))
				goto out_bad_header;
		} else if (!strcmp(key, "shape") && !has_shape) {
			has_shape = true;
			if (!npy_shape(&c, &count))
				goto out_bad_header;
		} else {
			goto out_bad_header;
		}
		if (npy_eat(&c, ','))
			continue;
		if (!npy_eat(&c, '}'))
			goto out_bad_header;
		break;
	}
	if (skip) {
		rc = 0;
		goto out_free_hdr;
	}
	npy_ws(&c);
	if (c.i != c.n || !has_descr || !has_fo || !has_shape)
		goto out_bad_header;
	isz = npy_itemsize(descr, &item);
	if (isz < 0)
		goto out_bad_header;
	rc = 0;
	if (isz == 0)
		goto out_free_hdr;
	if (__builtin_mul_overflow(count, item, &data))
		rc = bad(why, why_len, path, "npy shape x item size overflows");
	else if (data != size - hstart - hlen)
		rc = bad(why, why_len, path, "npy data is %llu bytes, shape x item size is %llu",
			 (unsigned long long)(size - hstart - hlen), (unsigned long long)data);
	goto out_free_hdr;
out_bad_header:
	rc = bad(why, why_len, path, "npy header malformed");
out_free_hdr:
	if (rc == 0 && sink)
		rc = npy_emit(sink, hdr, hlen, hstart + hlen, size);
	free(hdr);
	return rc;
}

/* ---- safetensors ---- */

struct st_range {
	uint64_t begin, end;
	const char *name; /* the tensor's key in the header (owned by the JSON) */
	json_t *t;
};

static int st_range_cmp(const void *a, const void *b)
{
	const struct st_range *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

/* Size in bits of one element; 0 for an unknown dtype. */
static unsigned st_dtype_bits(const char *dt)
{
	static const struct {
		const char *name;
		unsigned bits;
	} tab[] = {
		{ "F64", 64 }, { "F32", 32 },	 { "F16", 16 },	   { "BF16", 16 },
		{ "I64", 64 }, { "I32", 32 },	 { "I16", 16 },	   { "I8", 8 },
		{ "U64", 64 }, { "U32", 32 },	 { "U16", 16 },	   { "U8", 8 },
		{ "BOOL", 8 }, { "F8_E4M3", 8 }, { "F8_E5M2", 8 }, { "F8_E8M0", 8 },
		{ "C64", 64 }, { "F6_E2M3", 6 }, { "F6_E3M2", 6 }, { "F4", 4 },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (!strcmp(tab[i].name, dt))
			return tab[i].bits;
	return 0;
}

/* Checks one tensor entry; its range goes to *r. */
static int st_tensor(const char *path, const char *name, json_t *t, struct st_range *r, char *why,
		     size_t why_len)
{
	json_t *dt = json_object_get(t, "dtype"), *shape = json_object_get(t, "shape");
	json_t *offs = json_object_get(t, "data_offsets"), *d;
	uint64_t count = 1, bits, nbytes;
	unsigned dbits;
	size_t i;

	if (!json_is_object(t) || !json_is_string(dt) || !json_is_array(shape) ||
	    !json_is_array(offs) || json_array_size(offs) != 2)
		return bad(why, why_len, path, "safetensors tensor \"%.60s\" malformed", name);
	dbits = st_dtype_bits(json_string_value(dt));
	if (!dbits)
		return bad(why, why_len, path, "safetensors tensor \"%.60s\" dtype %.20s unknown",
			   name, json_string_value(dt));
	json_array_foreach(shape, i, d)
	{
		if (!json_is_integer(d) || json_integer_value(d) < 0 ||
		    __builtin_mul_overflow(count, (uint64_t)json_integer_value(d), &count))
			return bad(why, why_len, path,
				   "safetensors tensor \"%.60s\" shape malformed", name);
	}
	for (i = 0; i < 2; i++) {
		d = json_array_get(offs, i);
		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return bad(why, why_len, path,
				   "safetensors tensor \"%.60s\" data_offsets malformed", name);
	}
	r->begin = (uint64_t)json_integer_value(json_array_get(offs, 0));
	r->end = (uint64_t)json_integer_value(json_array_get(offs, 1));
	if (r->end < r->begin)
		return bad(why, why_len, path, "safetensors tensor \"%.60s\" data_offsets reversed",
			   name);
	if (__builtin_mul_overflow(count, (uint64_t)dbits, &bits) || bits % 8 ||
	    (nbytes = bits / 8) != r->end - r->begin)
		return bad(why, why_len, path,
			   "safetensors tensor \"%.60s\" is %llu bytes, not shape x dtype size",
			   name, (unsigned long long)(r->end - r->begin));
	return 0;
}

/* "DTYPE SHAPE" of a checked tensor entry, e.g. "F32 [4,1024]" (malloc'd). */
static char *st_layout(json_t *t)
{
	char *shape = json_dumps(json_object_get(t, "shape"), JSON_COMPACT), *out = NULL;

	if (shape &&
	    asprintf(&out, "%s %s", json_string_value(json_object_get(t, "dtype")), shape) < 0)
		out = NULL;
	free(shape);
	return out;
}

/* Reports the sorted tensors of a checked header (offsets from data_at), then
 * __metadata__ when there is one. */
static int st_emit(struct format_sink *sink, json_t *root, const struct st_range *r, size_t nr,
		   uint64_t data_at)
{
	json_t *meta = json_object_get(root, "__metadata__");
	char *layout;
	int rc = 0;

	for (size_t i = 0; i < nr && rc == 0; i++) {
		layout = st_layout(r[i].t);
		rc = layout ? sink_emit(sink, r[i].name, layout, data_at + r[i].begin,
					data_at + r[i].end)
			    : -ENOMEM;
		free(layout);
	}
	if (rc == 0 && meta) {
		layout = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
		rc = layout ? sink_emit(sink, "__metadata__", layout, 0, 0) : -ENOMEM;
		free(layout);
	}
	sink->walked = rc == 0;
	return rc;
}

static int check_safetensors(const char *path, uint64_t size, format_read_fn rd, void *ctx,
			     struct format_sink *sink, char *why, size_t why_len)
{
	unsigned char lenb[8];
	uint64_t n, data_len, at = 0;
	struct st_range *ranges = NULL;
	size_t nr = 0, i;
	json_error_t err;
	json_t *root, *v;
	const char *key;
	char *hdr;
	int rc;

	if (size < 8)
		return bad(why, why_len, path, "safetensors header length truncated");
	rc = rd(ctx, lenb, 8, 0);
	if (rc < 0)
		return rc;
	n = le64(lenb);
	if (n > FORMAT_ST_HEADER_MAX)
		return bad(why, why_len, path, "safetensors header length %llu too large",
			   (unsigned long long)n);
	if (n > size - 8)
		return bad(why, why_len, path, "safetensors header truncated");
	data_len = size - 8 - n;
	hdr = malloc(n ? n : 1);
	if (!hdr)
		return -ENOMEM;
	rc = n ? rd(ctx, hdr, n, 8) : 0;
	if (rc < 0)
		goto out_free_hdr;
	root = json_loadb(hdr, n, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		rc = bad(why, why_len, path, "safetensors header unparsable: %s", err.text);
		goto out_free_hdr;
	}
	if (!json_is_object(root) || json_object_size(root) > FORMAT_ST_MAX_TENSORS) {
		rc = bad(why, why_len, path, "safetensors header is not a tensor table");
		goto out_decref_root;
	}
	ranges = malloc((json_object_size(root) + 1) * sizeof(*ranges));
	if (!ranges) {
		rc = -ENOMEM;
		goto out_decref_root;
	}
	json_object_foreach(root, key, v)
	{
		if (!strcmp(key, "__metadata__")) {
			const char *mk;
			json_t *mv;

			if (!json_is_object(v)) {
				rc = bad(why, why_len, path,
					 "safetensors __metadata__ not an object");
				goto out_free_ranges;
			}
			json_object_foreach(v, mk, mv)
			{
				if (!json_is_string(mv)) {
					rc = bad(why, why_len, path,
						 "safetensors __metadata__ value not a string");
					goto out_free_ranges;
				}
			}
			continue;
		}
		rc = st_tensor(path, key, v, &ranges[nr], why, why_len);
		if (rc < 0)
			goto out_free_ranges;
		ranges[nr].name = key;
		ranges[nr++].t = v;
	}
	/* Sorted, each range must start where the previous one ended. */
	qsort(ranges, nr, sizeof(*ranges), st_range_cmp);
	for (i = 0; i < nr; i++) {
		if (ranges[i].begin != at) {
			rc = bad(why, why_len, path, "safetensors data %s at byte %llu",
				 ranges[i].begin > at ? "has a gap" : "overlaps",
				 (unsigned long long)at);
			goto out_free_ranges;
		}
		at = ranges[i].end;
	}
	if (at != data_len)
		rc = bad(why, why_len, path,
			 "safetensors data offsets cover %llu bytes, the file holds %llu",
			 (unsigned long long)at, (unsigned long long)data_len);
	else
		rc = sink ? st_emit(sink, root, ranges, nr, 8 + n) : 0;
out_free_ranges:
	free(ranges);
out_decref_root:
	json_decref(root);
out_free_hdr:
	free(hdr);
	return rc;
}

static bool has_ext(const char *path, const char *ext)
{
	size_t pl = strlen(path), el = strlen(ext);

	return pl > el && strcasecmp(path + pl - el, ext) == 0 && path[pl - el - 1] != '/';
}

/* The check for path's format: FORMAT_* when it passed, FORMAT_NONE for no
 * known format, else a negative errno (or what sink's callback returned). */
static int format_run(const char *path, uint64_t size, format_read_fn rd, void *ctx,
		      struct format_sink *sink, char *why, size_t why_len)
{
	unsigned char magic[6];
	int rc;

	if (why && why_len)
		why[0] = '\0';
	if (!path)
		path = "";
	if (has_ext(path, ".safetensors")) {
		rc = check_safetensors(path, size, rd, ctx, sink, why, why_len);
		return rc ? rc : FORMAT_SAFETENSORS;
	}
	if (size < 4)
		return FORMAT_NONE;
	rc = rd(ctx, magic, size < 6 ? 4 : 6, 0);
	if (rc < 0)
		return rc;
	if (memcmp(magic, "PK\x03\x04", 4) == 0) {
		rc = check_zip(path, size, rd, ctx, sink, why, why_len);
		return rc ? rc : FORMAT_ZIP;
	}
	if (size >= 6 && memcmp(magic, "\x93NUMPY", 6) == 0) {
		rc = check_npy(path, size, rd, ctx, sink, why, why_len);
		return rc ? rc : FORMAT_NPY;
	}
	return FORMAT_NONE;
}

int format_check(const char *path, uint64_t size, format_read_fn rd, void *ctx, char *why,
		 size_t why_len)
{
	int rc = format_run(path, size, rd, ctx, NULL, why, why_len);

	return rc < 0 ? rc : 0;
}

int format_items(const char *path, uint64_t size, format_read_fn rd, void *ctx, format_item_fn cb,
		 void *cb_ctx, char *why, size_t why_len)
{
	struct format_sink sink = { .cb = cb, .ctx = cb_ctx };
	int rc = format_run(path, size, rd, ctx, &sink, why, why_len);

	if (rc > FORMAT_NONE && !sink.walked)
		return FORMAT_NONE; /* a zip directory too large to walk */
	return rc;
}

const char *format_name(int format)
{
	switch (format) {
	case FORMAT_ZIP:
		return "zip";
	case FORMAT_NPY:
		return "npy";
	case FORMAT_SAFETENSORS:
		return "safetensors";
	}
	return NULL;
}

uint64_t format_data_start(const void *head, size_t len)
{
	const unsigned char *p = head;
	uint64_t n;

	if (len >= 9 && p[8] == '{') {
		n = le64(p);
		/* a JSON object is at least "{}" */
		if (n >= 2 && n <= FORMAT_ST_HEADER_MAX)
			return 8 + n;
	}
	if (len >= 10 && memcmp(p, "\x93NUMPY", 6) == 0) {
		if (p[6] == 1)
			return 10 + (uint64_t)le16(p + 8);
		if ((p[6] == 2 || p[6] == 3) && len >= 12 && le32(p + 8) <= FORMAT_NPY_HEADER_MAX)
			return 12 + (uint64_t)le32(p + 8);
	}
	return 0;
}
