/* Content-addressed chunk store: put / get / has / release by SHA-256, and a
 * durable barrier. This file's functions own what a chunk is (hashing, the
 * CKC1 framing, codecs, verification against the index's ref); where chunks
 * live is a backend behind struct chunk_backend_ops (chunk_backend.h): the
 * local directory STORE/chunks (chunk_dir.c) by default, memory for tests
 * (chunk_mem.c), later a remote object store, without touching commit,
 * retention or the FUSE layer.
 *
 * All functions return 0 (or a documented non-negative value) on success and
 * a negative errno on failure. All are thread-safe: the framing keeps no
 * shared state (compression contexts are per thread), and every backend op
 * may run concurrently.
 */
#ifndef CKPT_CHUNK_H
#define CKPT_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_HASH_LEN 32
/* Fixed chunk size: files are cut at multiples of this offset (see README,
 * "Chunking"). A chunk is at most this long; the last one of a file is shorter. */
#define CHUNK_SIZE (1u << 20)

enum chunk_codec {
	CHUNK_CODEC_NONE = 0,
	CHUNK_CODEC_ZLIB = 1,
	CHUNK_CODEC_ZSTD = 2,
	CHUNK_CODEC_AUTO = 3, /* only as a request: chunk_put never stores it */
};

/* What a file's chunk list records for each chunk: enough to fetch it and to
 * verify it on read without re-hashing with SHA-256. */
struct chunk_ref {
	uint8_t hash[CHUNK_HASH_LEN]; /* SHA-256 of the raw (uncompressed) bytes */
	uint64_t xxh;		      /* XXH3-64 of the raw bytes: read-time check */
	uint32_t raw_len;	      /* bytes of file data, <= CHUNK_SIZE */
};

/* Serialised size of one chunk_ref inside a chunk-list BLOB (little endian:
 * hash, xxh, raw_len). */
#define CHUNK_REF_WIRE 44

struct chunk_store;
struct chunk_backend_ops;

/* How the durability barrier of the dir backend makes new chunks durable. */
enum chunk_barrier_mode {
	CHUNK_BARRIER_AUTO = 0, /* fsync each new chunk when at most 16, else syncfs */
	CHUNK_BARRIER_FSYNC,	/* always fsync each new chunk (and its directories) */
	CHUNK_BARRIER_SYNCFS,	/* always syncfs the store's filesystem */
};

/* Everything a chunk store is opened with; zero-initialise, then set. The
 * library reads no environment: front ends map their variables here. */
struct chunk_opts {
	const struct chunk_backend_ops *backend; /* NULL: chunk_backend_dir */
	const char *spec;		 /* where: the dir backend's directory; mem ignores it */
	enum chunk_barrier_mode barrier; /* dir backend only */
};

/* Opens the backend opts names and removes partial objects left by writers
 * that are gone (its cleanup op). */
int chunk_store_open_with(const struct chunk_opts *opts, struct chunk_store **out);
/* chunk_store_open_with the dir backend on DIR (created when missing), with
 * the default barrier. Removes temporary files left by a crashed writer. */
int chunk_store_open(const char *dir, struct chunk_store **out);
void chunk_store_close(struct chunk_store *cs);

/* What a chunk store did since it was opened (chunk_store_counters). */
struct chunk_counters {
	uint64_t reads;		  /* chunk_get calls that returned their chunk */
	uint64_t read_bytes;	  /* the raw bytes they returned */
	uint64_t writes;	  /* chunks stored by chunk_put*: new or rewritten objects */
	uint64_t dedup_hits;	  /* chunk_put* calls whose chunk was already stored */
	uint64_t verify_failures; /* chunk_get / chunk_verify calls that found their
				     chunk damaged (-EIO) */
};

/* A snapshot of cs's counters (each exact, read atomically one by one). */
void chunk_store_counters(struct chunk_store *cs, struct chunk_counters *out);

/* SHA-256 of data. */
void chunk_hash(const void *data, size_t len, uint8_t out[CHUNK_HASH_LEN]);
/* XXH3-64 of data. */
uint64_t chunk_xxh(const void *data, size_t len);
/* Lower-case hex of a hash; out must hold 65 bytes. */
void chunk_hex(const uint8_t hash[CHUNK_HASH_LEN], char out[65]);
int chunk_unhex(const char *hex, uint8_t out[CHUNK_HASH_LEN]);

/* Stores len (<= CHUNK_SIZE) bytes unless a chunk with the same hash is
 * already present. codec is a request: NONE, ZLIB or ZSTD (AUTO is treated as
 * ZSTD); the data is kept raw when compression does not make it smaller.
 * Fills ref. *stored_len receives the bytes the chunk occupies on disk (its
 * file size, header included) and *codec_used the codec really used; both may
 * be NULL. Returns 1 when a new chunk file was written, 0 when it was already
 * present, negative errno on failure (-ENOSPC, -EIO, ...). The new chunk is
 * visible to chunk_get at once but durable only after chunk_barrier(). */
int chunk_put(struct chunk_store *cs, const void *data, size_t len, int codec,
	      struct chunk_ref *ref, uint32_t *stored_len, int *codec_used);

/* Fills ref (SHA-256, XXH3-64, length) for len (<= CHUNK_SIZE) bytes. */
void chunk_ref_of(const void *data, size_t len, struct chunk_ref *ref);

/* chunk_put flag: write the chunk even when a file of that hash is present
 * and looks intact, replacing it atomically (a chunk known to be damaged). */
#define CHUNK_PUT_REWRITE 1

/* chunk_put for data whose ref (from chunk_ref_of) the caller has already
 * computed; flags 0 or CHUNK_PUT_REWRITE. Returns what chunk_put returns,
 * or 2 when CHUNK_PUT_REWRITE replaced (or re-created) the chunk file. */
int chunk_put_ref(struct chunk_store *cs, const void *data, const struct chunk_ref *ref, int codec,
		  int flags, uint32_t *stored_len, int *codec_used);

/* Reads the chunk of ref into buf (cap >= ref->raw_len), decompressing, and
 * verifies length and XXH3 against ref. -ENOENT when missing, -EIO on any
 * mismatch or damage (never wrong bytes). */
int chunk_get(struct chunk_store *cs, const struct chunk_ref *ref, void *buf, size_t cap);

/* Alignment and size of the buffer chunk_get_whole takes: a whole object
 * (CKC1 header + a full raw chunk) rounded up to the page. */
#define CHUNK_WHOLE_ALIGN 4096u
#define CHUNK_WHOLE_LEN (CHUNK_SIZE + CHUNK_WHOLE_ALIGN)

/* chunk_get for a reader that keeps the bytes where they land: the object is
 * read whole into abuf (CHUNK_WHOLE_LEN bytes, CHUNK_WHOLE_ALIGN-aligned, so
 * the dir backend reads it with O_DIRECT, past the page cache), checked as
 * chunk_get checks it, and *data points at its ref->raw_len raw bytes inside
 * abuf. Same results as chunk_get; on -EIO abuf holds no raw bytes. */
int chunk_get_whole(struct chunk_store *cs, const struct chunk_ref *ref, uint8_t *abuf,
		    const uint8_t **data);

/* 1 if present, 0 if not, negative errno on failure. */
int chunk_has(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN]);

/* Removes the chunk. 0, or -ENOENT when it was not there. The caller (the
 * store) decides when a chunk is unreferenced; this only deletes. */
int chunk_release(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN]);

/* Starts reading a chunk (into the page cache for the dir backend) without
 * waiting: a sequential reader prefetches the chunks ahead of it. Best
 * effort: errors ignored; a no-op for backends without read-ahead. */
void chunk_prefetch(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN]);

/* Makes every chunk put so far durable (data and directory entries for the
 * dir backend; acknowledged writes for a remote one). */
int chunk_barrier(struct chunk_store *cs);

/* Full check of one stored chunk: reads, decompresses and re-hashes with
 * SHA-256. 0 when intact, -ENOENT missing, -EIO damaged. *raw_len and
 * *stored_len (may be NULL) receive the sizes found. */
int chunk_verify(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN], uint32_t *raw_len,
		 uint32_t *stored_len);

/* Size of a stored chunk as kept (its file size, header included), or
 * negative errno. */
int64_t chunk_stored_size(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN]);
/* Modification time of a stored chunk, in ns since the epoch: when it was
 * written (recovery keeps chunk files older than the index). */
int chunk_mtime(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN], int64_t *ns);

/* Calls fn for every chunk present in the store (for verify and recovery).
 * Stops and returns fn's value when it is non-zero. */
int chunk_foreach(struct chunk_store *cs, int (*fn)(void *ctx, const uint8_t hash[CHUNK_HASH_LEN]),
		  void *ctx);

/* Serialise / parse chunk-list BLOBs (n * CHUNK_REF_WIRE bytes). */
void chunk_refs_encode(const struct chunk_ref *refs, size_t n, uint8_t *out);
int chunk_refs_decode(const uint8_t *blob, size_t len, struct chunk_ref **out, size_t *n);

/* Chooses a codec for a file from a sample of its first bytes, for
 * compress=auto: ZSTD when zstd level 1 saves at least 10% of the sample,
 * else NONE. */
int chunk_auto_codec(const void *sample, size_t len);

#endif
