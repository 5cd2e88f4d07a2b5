/* Chunks: what one is and how it is checked, whatever backend keeps it.
 *
 * A stored chunk is one backend object (chunk_backend.h) named by the SHA-256
 * of its raw bytes: a fixed header followed by the payload,
 *
 *   "CKC1" | codec u8 | 3 zero bytes | raw_len u32 | payload_len u32 | xxh3 u64
 *
 * all little endian (CHUNK_HDR_LEN bytes), then payload_len bytes (raw, zlib
 * or zstd). Backends keep objects whole or not at all; a torn object (a crash
 * before the barrier, damage on disk) is caught here: chunk_get checks the
 * header and the XXH3 of the decoded bytes against the index's ref and
 * returns -EIO, never wrong bytes, and chunk_put rewrites it.
 *
 * Thread safety: no shared state here but the per-thread compression
 * contexts; the backend's ops are thread-safe.
 */
#include "chunk_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#define CHUNK_HDR_LEN 24
#define CHUNK_MAGIC "CKC1"
/* Largest payload a chunk object may declare: the worst compressed size of a
 * full chunk. Anything larger is damage, and refusing it caps allocations. */
#define CHUNK_PAYLOAD_MAX (CHUNK_SIZE + CHUNK_SIZE / 8 + 4096)

struct chunk_store {
	const struct chunk_backend_ops *ops; /* == be->ops, one load shorter */
	struct chunk_backend *be;
	struct chunk_counters n; /* atomic adds (chunk_count) */
};

static void chunk_count(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

void chunk_store_counters(struct chunk_store *cs, struct chunk_counters *out)
{
	out->reads = __atomic_load_n(&cs->n.reads, __ATOMIC_RELAXED);
	out->read_bytes = __atomic_load_n(&cs->n.read_bytes, __ATOMIC_RELAXED);
	out->writes = __atomic_load_n(&cs->n.writes, __ATOMIC_RELAXED);
	out->dedup_hits = __atomic_load_n(&cs->n.dedup_hits, __ATOMIC_RELAXED);
	out->verify_failures = __atomic_load_n(&cs->n.verify_failures, __ATOMIC_RELAXED);
}

/* A backend that did not answer in time (a remote store that is down:
 * -ETIMEDOUT) is an I/O error, -EIO, to callers. Only the reads whose -EIO
 * callers take for damaged data (chunk_get, chunk_get_whole, chunk_verify)
 * return -ETIMEDOUT as it is: nothing was read, so nothing is known damaged. */
static int chunk_unanswered(int rc)
{
	return rc == -ETIMEDOUT ? -EIO : rc;
}

/* Counts a put's result (chunk_put_ref's return value) and returns it. */
static int chunk_count_put(struct chunk_store *cs, int rc)
{
	if (rc >= 0)
		chunk_count(rc ? &cs->n.writes : &cs->n.dedup_hits, 1);
	return chunk_unanswered(rc);
}

/* Counts a read's result and returns it: a damaged chunk (-EIO), or one
 * served (chunk_get's ref; NULL for chunk_verify, which serves none). */
static int chunk_count_read(struct chunk_store *cs, int rc, const struct chunk_ref *served)
{
	if (rc == -EIO)
		chunk_count(&cs->n.verify_failures, 1);
	if (rc == 0 && served) {
		chunk_count(&cs->n.reads, 1);
		chunk_count(&cs->n.read_bytes, served->raw_len);
	}
	return rc;
}

static pthread_key_t zstd_cctx_key, zstd_dctx_key;
static pthread_once_t zstd_key_once = PTHREAD_ONCE_INIT;
static int zstd_key_err;

static void zstd_cctx_free(void *p)
{
	ZSTD_freeCCtx(p);
}
static void zstd_dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void zstd_keys_init(void)
{
	if (pthread_key_create(&zstd_cctx_key, zstd_cctx_free) != 0) {
		zstd_key_err = 1;
		return;
	}
	if (pthread_key_create(&zstd_dctx_key, zstd_dctx_free) != 0)
		zstd_key_err = 1;
}

static ZSTD_CCtx *thread_cctx(void)
{
	ZSTD_CCtx *c;

	if (pthread_once(&zstd_key_once, zstd_keys_init) != 0 || zstd_key_err)
		return NULL;
	c = pthread_getspecific(zstd_cctx_key);
	if (c)
		return c;
	c = ZSTD_createCCtx();
	if (!c)
		return NULL;
	if (pthread_setspecific(zstd_cctx_key, c) != 0) {
		ZSTD_freeCCtx(c);
		return NULL;
	}
	return c;
}

static ZSTD_DCtx *thread_dctx(void)
{
	ZSTD_DCtx *d;

	if (pthread_once(&zstd_key_once, zstd_keys_init) != 0 || zstd_key_err)
		return NULL;
	d = pthread_getspecific(zstd_dctx_key);
	if (d)
		return d;
	d = ZSTD_createDCtx();
	if (!d)
		return NULL;
	if (pthread_setspecific(zstd_dctx_key, d) != 0) {
		ZSTD_freeDCtx(d);
		return NULL;
	}
	return d;
}

/* ---- little-endian helpers ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- hashing (names as text: chunk_hex.c) ---- */

void chunk_hash(const void *data, size_t len, uint8_t out[CHUNK_HASH_LEN])
{
	SHA256(data, len, out);
}

uint64_t chunk_xxh(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

/* ---- the CKC1 header ---- */

/* Parsed, sanity-checked header of a chunk object. */
struct chunk_hdr {
	int codec;
	uint32_t raw_len;
	uint32_t payload_len;
	uint64_t xxh;
	uint64_t file_size; /* the object's size */
};

static void hdr_encode(uint8_t b[CHUNK_HDR_LEN], int codec, uint32_t raw_len, uint32_t payload_len,
		       uint64_t xxh)
{
	memcpy(b, CHUNK_MAGIC, 4);
	b[4] = (uint8_t)codec;
	b[5] = b[6] = b[7] = 0;
	put_le32(b + 8, raw_len);
	put_le32(b + 12, payload_len);
	put_le64(b + 16, xxh);
}

/* Parses the header bytes b of an object of size bytes and checks them
 * against that size: -EIO on any inconsistency so callers never trust a torn
 * or foreign object. */
static int hdr_parse(const uint8_t b[CHUNK_HDR_LEN], uint64_t size, struct chunk_hdr *h)
{
	if (size < CHUNK_HDR_LEN)
		return -EIO;
	if (memcmp(b, CHUNK_MAGIC, 4) != 0 || b[5] || b[6] || b[7])
		return -EIO;
	h->codec = b[4];
	h->raw_len = get_le32(b + 8);
	h->payload_len = get_le32(b + 12);
	h->xxh = get_le64(b + 16);
	h->file_size = size;
	if (h->codec != CHUNK_CODEC_NONE && h->codec != CHUNK_CODEC_ZLIB &&
	    h->codec != CHUNK_CODEC_ZSTD)
		return -EIO;
	if (h->raw_len > CHUNK_SIZE || h->payload_len > CHUNK_PAYLOAD_MAX)
		return -EIO;
	if (h->codec == CHUNK_CODEC_NONE && h->payload_len != h->raw_len)
		return -EIO;
	if (h->file_size != (uint64_t)CHUNK_HDR_LEN + h->payload_len)
		return -EIO;
	return 0;
}

/* Reads and checks the header of the object of hash. */
static int hdr_get(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN], struct chunk_hdr *h)
{
	uint8_t b[CHUNK_HDR_LEN];
	struct iovec iov = { b, sizeof(b) };
	uint64_t size;
	int rc = cs->ops->get(cs->be, hash, &iov, 1, &size);

	return rc < 0 ? rc : hdr_parse(b, size, h);
}

/* ---- codecs ---- */

/* Decompresses src (h->payload_len bytes) into out (exactly h->raw_len
 * bytes). -EIO when the payload does not decode to that length. */
static int payload_decompress(const struct chunk_hdr *h, const uint8_t *src, void *out)
{
	if (h->codec == CHUNK_CODEC_ZSTD) {
		ZSTD_DCtx *d = thread_dctx();
		size_t n;

		if (!d)
			return -ENOMEM;
		n = ZSTD_decompressDCtx(d, out, h->raw_len, src, h->payload_len);
		return ZSTD_isError(n) || n != h->raw_len ? -EIO : 0;
	} else {
		uLongf n = h->raw_len;

		return uncompress(out, &n, src, h->payload_len) != Z_OK || n != h->raw_len ? -EIO
											   : 0;
	}
}

/* Compresses data with codec into a new buffer (*out, *out_len). Returns 1
 * when compressed and smaller, 0 when the raw data should be kept. */
static int compress_payload(int codec, const void *data, size_t len, uint8_t **out, size_t *out_len)
{
	size_t bound;
	uint8_t *buf;

	if (codec == CHUNK_CODEC_ZSTD) {
		ZSTD_CCtx *c = thread_cctx();
		size_t n;

		if (!c)
			return -ENOMEM;
		bound = ZSTD_compressBound(len);
		buf = malloc(bound);
		if (!buf)
			return -ENOMEM;
		n = ZSTD_compressCCtx(c, buf, bound, data, len, 1);
		if (ZSTD_isError(n) || n >= len) {
			free(buf);
			return 0;
		}
		*out = buf;
		*out_len = n;
		return 1;
	} else {
		uLongf n;

		bound = compressBound(len);
		buf = malloc(bound);
		if (!buf)
			return -ENOMEM;
		n = bound;
		if (compress2(buf, &n, data, len, 1) != Z_OK || n >= len) {
			free(buf);
			return 0;
		}
		*out = buf;
		*out_len = n;
		return 1;
	}
}

/* ---- load: one get, then the checks ---- */

/* Reads the object of hash and decodes it into out (room for cap bytes,
 * cap <= CHUNK_SIZE). want: the ref the index holds, whose length and XXH3
 * the header must show before anything is decoded, or NULL (verify). *h is
 * filled once the header parsed. -ENOENT missing, -EIO damaged.
 *
 * One backend get reads the header and the first cap payload bytes straight
 * into out: an uncompressed chunk (the default) is then complete without a
 * copy. A compressed payload is smaller than its raw bytes (chunk_put keeps
 * it only then), so it too is all in out and is moved aside to decode; a
 * larger one, which chunk_put never writes, is read again whole. */
static int obj_finish(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN],
		      const struct chunk_ref *want, const uint8_t b[CHUNK_HDR_LEN], uint64_t size,
		      uint8_t *out, uint32_t cap, size_t have, struct chunk_hdr *h);

static int obj_load(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN],
		    const struct chunk_ref *want, uint8_t *out, uint32_t cap, struct chunk_hdr *h)
{
	uint8_t b[CHUNK_HDR_LEN];
	struct iovec iov[2] = { { b, sizeof(b) }, { out, cap } };
	uint64_t size;
	int rc;

	rc = cs->ops->get(cs->be, hash, iov, 2, &size);
	if (rc < 0)
		return rc;
	return obj_finish(cs, hash, want, b, size, out, cap, cap, h);
}

/* The checks and decoding after a get: b the header bytes of an object of
 * size bytes, out its first `have` payload bytes and room for cap raw ones. */
static int obj_finish(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN],
		      const struct chunk_ref *want, const uint8_t b[CHUNK_HDR_LEN], uint64_t size,
		      uint8_t *out, uint32_t cap, size_t have, struct chunk_hdr *h)
{
	uint8_t b2[CHUNK_HDR_LEN];
	uint8_t *src;
	int rc;

	rc = hdr_parse(b, size, h);
	if (rc < 0)
		return rc;
	/* the ref comes from the index: checking against it, not the header
	 * alone, makes the check independent of the chunk object */
	if (want && (h->raw_len != want->raw_len || h->xxh != want->xxh))
		return -EIO;
	if (h->raw_len > cap)
		return -EIO;
	if (h->codec == CHUNK_CODEC_NONE)
		return 0;
	src = malloc(h->payload_len ? h->payload_len : 1);
	if (!src)
		return -ENOMEM;
	if (h->payload_len <= have) {
		memcpy(src, out, h->payload_len);
	} else {
		struct iovec iov[2] = { { b2, sizeof(b2) }, { src, h->payload_len } };

		rc = cs->ops->get(cs->be, hash, iov, 2, &size);
		/* replaced in between (healed): not the object parsed above */
		if (rc == 0 && (size != h->file_size || memcmp(b, b2, sizeof(b2)) != 0))
			rc = -EIO;
	}
	if (rc == 0)
		rc = payload_decompress(h, src, out);
	free(src);
	return rc;
}

/* ---- open / close ---- */

int chunk_store_open_with(const struct chunk_opts *opts, struct chunk_store **out)
{
	const struct chunk_backend_ops *ops;
	struct chunk_store *cs;
	int rc;

	if (!opts || !out)
		return -EINVAL;
	ops = opts->backend ? opts->backend : &chunk_backend_dir;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	cs->ops = ops;
	rc = chunk_unanswered(ops->open(opts, &cs->be));
	if (rc < 0)
		goto out_free_cs;
	if (ops->cleanup) {
		rc = ops->cleanup(cs->be);
		if (rc < 0)
			goto out_close_be;
	}
	*out = cs;
	return 0;

out_close_be:
	ops->close(cs->be);
out_free_cs:
	free(cs);
	return rc;
}

int chunk_store_open(const char *dir, struct chunk_store **out)
{
	struct chunk_opts opts = { .spec = dir };

	return chunk_store_open_with(&opts, out);
}

void chunk_store_close(struct chunk_store *cs)
{
	if (!cs)
		return;
	cs->ops->close(cs->be);
	free(cs);
}

struct chunk_backend *chunk_store_backend(struct chunk_store *cs)
{
	return cs ? cs->be : NULL;
}

const struct chunk_backend_ops *chunk_backend_find(const char *name)
{
	static const struct chunk_backend_ops *const all[] = { &chunk_backend_dir,
							       &chunk_backend_mem,
							       &chunk_backend_rados };

	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}

/* ---- put ---- */

/* Checks an existing chunk cheaply (header only) against the data being
 * put, so a chunk torn by a crash is rewritten instead of deduplicated.
 * Returns 1 when it looks intact, 0 when it must be rewritten, -ENOENT when
 * absent, other negative errno on failure. */
static int existing_ok(struct chunk_store *cs, const struct chunk_ref *ref, uint32_t *stored_len,
		       int *codec_used)
{
	struct chunk_hdr h;
	int rc = hdr_get(cs, ref->hash, &h);

	if (rc == -EIO)
		return 0;
	if (rc < 0)
		return rc;
	if (h.raw_len != ref->raw_len || h.xxh != ref->xxh)
		return 0;
	if (stored_len)
		*stored_len = (uint32_t)h.file_size;
	if (codec_used)
		*codec_used = h.codec;
	return 1;
}

void chunk_ref_of(const void *data, size_t len, struct chunk_ref *ref)
{
	chunk_hash(data, len, ref->hash);
	ref->xxh = chunk_xxh(data, len);
	ref->raw_len = (uint32_t)len;
}

int chunk_put(struct chunk_store *cs, const void *data, size_t len, int codec,
	      struct chunk_ref *ref, uint32_t *stored_len, int *codec_used)
{
	struct chunk_ref r;
	int rc;

	if (!cs || !ref || (len > 0 && !data) || len > CHUNK_SIZE)
		return -EINVAL;
	chunk_ref_of(data, len, &r);
	rc = chunk_put_ref(cs, data, &r, codec, 0, stored_len, codec_used);
	if (rc >= 0)
		*ref = r;
	return rc;
}

int chunk_put_ref(struct chunk_store *cs, const void *data, const struct chunk_ref *ref, int codec,
		  int flags, uint32_t *stored_len, int *codec_used)
{
	uint8_t hdr[CHUNK_HDR_LEN];
	uint8_t *cbuf = NULL;
	struct iovec iov[2];
	size_t len, payload_len;
	int used = CHUNK_CODEC_NONE, rc, existing = 0;
	bool rewrite = (flags & CHUNK_PUT_REWRITE) != 0;

	if (!cs || !ref || ref->raw_len > CHUNK_SIZE || (ref->raw_len > 0 && !data))
		return -EINVAL;
	len = payload_len = ref->raw_len;
	if (codec == CHUNK_CODEC_AUTO)
		codec = CHUNK_CODEC_ZSTD;
	if (codec != CHUNK_CODEC_NONE && codec != CHUNK_CODEC_ZLIB && codec != CHUNK_CODEC_ZSTD)
		return -EINVAL;

	if (!rewrite) {
		rc = existing_ok(cs, ref, stored_len, codec_used);
		if (rc == 1) {
			/* may be an un-barriered put of this or a crashed session */
			if (cs->ops->reuse)
				cs->ops->reuse(cs->be, ref->hash);
			return chunk_count_put(cs, 0);
		}
		if (rc < 0 && rc != -ENOENT)
			return chunk_unanswered(rc);
		existing = rc == 0; /* present but damaged: replace it */
	}

	iov[1].iov_base = (void *)data;
	if (codec != CHUNK_CODEC_NONE && len > 0) {
		rc = compress_payload(codec, data, len, &cbuf, &payload_len);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			iov[1].iov_base = cbuf;
			used = codec;
		} else {
			payload_len = len;
		}
	}
	hdr_encode(hdr, used, ref->raw_len, (uint32_t)payload_len, ref->xxh);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_len = payload_len;

	if (existing || rewrite)
		rc = cs->ops->replace(cs->be, ref->hash, iov, 2);
	else
		rc = cs->ops->put(cs->be, ref->hash, iov, 2);
	if (rc < 0)
		goto out_free_cbuf;
	if (rc == 0 && !existing && !rewrite) {
		/* lost a race with an identical put: report that object */
		rc = existing_ok(cs, ref, stored_len, codec_used);
		if (rc < 0)
			goto out_free_cbuf;
		rc = 0;
	} else {
		if (stored_len)
			*stored_len = (uint32_t)(CHUNK_HDR_LEN + payload_len);
		if (codec_used)
			*codec_used = used;
		rc = rewrite ? 2 : 1;
	}
out_free_cbuf:
	free(cbuf);
	return chunk_count_put(cs, rc);
}

/* ---- get / has / release / verify / size ---- */

int chunk_get(struct chunk_store *cs, const struct chunk_ref *ref, void *buf, size_t cap)
{
	struct chunk_hdr h;
	int rc;

	if (!cs || !ref || (!buf && ref->raw_len > 0))
		return -EINVAL;
	if (ref->raw_len > CHUNK_SIZE || cap < ref->raw_len)
		return -EINVAL;
	rc = obj_load(cs, ref->hash, ref, buf, ref->raw_len, &h);
	if (rc == 0 && chunk_xxh(buf, ref->raw_len) != ref->xxh)
		rc = -EIO;
	if (rc == -EIO && buf)
		memset(buf, 0, ref->raw_len); /* never hand out wrong bytes */
	return chunk_count_read(cs, rc, ref);
}

int chunk_get_whole(struct chunk_store *cs, const struct chunk_ref *ref, uint8_t *abuf,
		    const uint8_t **data)
{
	struct iovec iov = { abuf, CHUNK_WHOLE_LEN };
	uint8_t *out = abuf + CHUNK_HDR_LEN;
	struct chunk_hdr h;
	uint64_t size;
	int rc;

	if (!cs || !ref || !abuf || !data || ref->raw_len > CHUNK_SIZE)
		return -EINVAL;
	rc = cs->ops->get(cs->be, ref->hash, &iov, 1, &size);
	if (rc == 0)
		rc = obj_finish(cs, ref->hash, ref, abuf, size, out, ref->raw_len,
				size < CHUNK_WHOLE_LEN ? (size_t)size - CHUNK_HDR_LEN
						       : CHUNK_WHOLE_LEN - CHUNK_HDR_LEN,
				&h);
	if (rc == 0 && chunk_xxh(out, ref->raw_len) != ref->xxh)
		rc = -EIO;
	if (rc == -EIO)
		memset(out, 0, ref->raw_len); /* never hand out wrong bytes */
	*data = out;
	return chunk_count_read(cs, rc, ref);
}

void chunk_prefetch(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN])
{
	if (cs && hash && cs->ops->prefetch)
		cs->ops->prefetch(cs->be, hash);
}

int chunk_has(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_obj_stat st;
	int rc;

	if (!cs || !hash)
		return -EINVAL;
	rc = cs->ops->stat(cs->be, hash, &st);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : chunk_unanswered(rc);
}

int chunk_release(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN])
{
	if (!cs || !hash)
		return -EINVAL;
	return chunk_unanswered(cs->ops->remove(cs->be, hash));
}

int chunk_verify(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN], uint32_t *raw_len,
		 uint32_t *stored_len)
{
	struct chunk_hdr h = { 0 };
	uint8_t sum[CHUNK_HASH_LEN];
	uint8_t *raw;
	int rc;

	if (!cs || !hash)
		return -EINVAL;
	raw = malloc(CHUNK_SIZE);
	if (!raw)
		return -ENOMEM;
	rc = obj_load(cs, hash, NULL, raw, CHUNK_SIZE, &h);
	if (h.file_size) {
		/* the header parsed: its sizes, even when the payload is damaged */
		if (raw_len)
			*raw_len = h.raw_len;
		if (stored_len)
			*stored_len = (uint32_t)h.file_size;
	}
	if (rc == 0) {
		chunk_hash(raw, h.raw_len, sum);
		if (memcmp(sum, hash, CHUNK_HASH_LEN) != 0 || chunk_xxh(raw, h.raw_len) != h.xxh)
			rc = -EIO;
	}
	free(raw);
	return chunk_count_read(cs, rc, NULL);
}

static int chunk_stat(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN],
		      struct chunk_obj_stat *st)
{
	if (!cs || !hash)
		return -EINVAL;
	return chunk_unanswered(cs->ops->stat(cs->be, hash, st));
}

int64_t chunk_stored_size(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_obj_stat st;
	int rc = chunk_stat(cs, hash, &st);

	return rc < 0 ? rc : (int64_t)st.size;
}

int chunk_mtime(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN], int64_t *ns)
{
	struct chunk_obj_stat st;
	int rc;

	if (!ns)
		return -EINVAL;
	rc = chunk_stat(cs, hash, &st);
	if (rc == 0)
		*ns = st.mtime_ns;
	return rc;
}

int chunk_barrier(struct chunk_store *cs)
{
	if (!cs)
		return -EINVAL;
	return cs->ops->barrier ? chunk_unanswered(cs->ops->barrier(cs->be)) : 0;
}

int chunk_foreach(struct chunk_store *cs, int (*fn)(void *ctx, const uint8_t hash[CHUNK_HASH_LEN]),
		  void *ctx)
{
	if (!cs || !fn)
		return -EINVAL;
	return chunk_unanswered(cs->ops->foreach (cs->be, fn, ctx));
}

/* ---- chunk lists ---- */

void chunk_refs_encode(const struct chunk_ref *refs, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = out + i * CHUNK_REF_WIRE;

		memcpy(p, refs[i].hash, CHUNK_HASH_LEN);
		put_le64(p + CHUNK_HASH_LEN, refs[i].xxh);
		put_le32(p + CHUNK_HASH_LEN + 8, refs[i].raw_len);
	}
}

int chunk_refs_decode(const uint8_t *blob, size_t len, struct chunk_ref **out, size_t *n)
{
	struct chunk_ref *refs;
	size_t cnt;

	if (!out || !n || (len > 0 && !blob))
		return -EINVAL;
	if (len % CHUNK_REF_WIRE != 0)
		return -EINVAL;
	cnt = len / CHUNK_REF_WIRE;
	if (cnt == 0) {
		*out = NULL;
		*n = 0;
		return 0;
	}
	refs = calloc(cnt, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		const uint8_t *p = blob + i * CHUNK_REF_WIRE;

		memcpy(refs[i].hash, p, CHUNK_HASH_LEN);
		refs[i].xxh = get_le64(p + CHUNK_HASH_LEN);
		refs[i].raw_len = get_le32(p + CHUNK_HASH_LEN + 8);
		if (refs[i].raw_len > CHUNK_SIZE) {
			free(refs);
			return -EINVAL;
		}
	}
	*out = refs;
	*n = cnt;
	return 0;
}

/* ---- auto codec ---- */

int chunk_auto_codec(const void *sample, size_t len)
{
	ZSTD_CCtx *c;
	uint8_t *buf;
	size_t bound, n;
	int codec = CHUNK_CODEC_NONE;

	if (!sample || len == 0)
		return CHUNK_CODEC_NONE;
	if (len > CHUNK_SIZE)
		len = CHUNK_SIZE; /* a sample; caps the work */
	c = thread_cctx();
	if (!c)
		return CHUNK_CODEC_NONE;
	bound = ZSTD_compressBound(len);
	buf = malloc(bound);
	if (!buf)
		return CHUNK_CODEC_NONE;
	n = ZSTD_compressCCtx(c, buf, bound, sample, len, 1);
	/* saves at least 10%: n <= 0.9 * len */
	if (!ZSTD_isError(n) && n * 10 <= len * 9)
		codec = CHUNK_CODEC_ZSTD;
	free(buf);
	return codec;
}
