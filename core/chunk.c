/* Content-addressed chunk store on a local directory.
 *
 * Layout: DIR/ab/<64-hex sha256> holds one chunk (two-hex fan-out dirs are
 * created on demand); DIR/tmp/ holds files being written. A chunk file is a
 * fixed header followed by the payload:
 *
 *   "CKC1" | codec u8 | 3 zero bytes | raw_len u32 | payload_len u32 | xxh3 u64
 *
 * all little endian (CHUNK_HDR_LEN bytes), then payload_len bytes (raw, zlib
 * or zstd). A chunk is written in DIR/tmp and renamed into place, so a visible
 * chunk file is always complete (up to a crash before chunk_barrier(), which
 * chunk_get detects and chunk_put repairs). Temp names are "<pid>-<seq>", so
 * an open beside a live writer (the CLI beside a mount) leaves its files be.
 *
 * Thread safety: puts, gets and everything else may run concurrently. The
 * only shared mutable state is the pending list (see struct chunk_store),
 * guarded by cs->mu; barriers run one at a time (cs->barrier_mu);
 * compression contexts are per thread.
 */
#include "chunk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#define CHUNK_HDR_LEN 24
#define CHUNK_MAGIC "CKC1"
/* Largest payload a chunk file may declare: the worst compressed size of a
 * full chunk. Anything larger is damage, and refusing it caps allocations. */
#define CHUNK_PAYLOAD_MAX (CHUNK_SIZE + CHUNK_SIZE / 8 + 4096)
/* Cap on chunks remembered between barriers for per-file fsync; beyond it
 * the barrier falls back to syncfs() (32 bytes each: 32 MiB at the cap). */
#define CHUNK_PENDING_MAX (1u << 20)

/* By default a barrier over at most this many new chunks fsyncs them;
 * over more, it calls syncfs(). */
#define CHUNK_AUTO_FSYNC_MAX 16

struct chunk_store {
	char *dir;
	int dirfd;
	int tmpfd;
	/* fixed at open: a barrier fsyncs each chunk put since the last one
	 * (and its dir and the top dir) when there are at most this many,
	 * else calls syncfs(); 0: always syncfs() */
	size_t fsync_max;
	atomic_uint_fast64_t tmp_seq;

	pthread_mutex_t mu;
	/* protected by mu: hashes put since the last barrier (fsync_max > 0) */
	uint8_t (*pending)[CHUNK_HASH_LEN];
	size_t n_pending, cap_pending;
	int pending_overflow; /* protected by mu: list was capped, use syncfs */
	/* Held for a whole barrier. A barrier takes the pending list at its
	 * start, so a concurrent one could take chunks another caller put
	 * before its own barrier; waiting here until that barrier has synced
	 * them keeps "durable when chunk_barrier returns" true for every put
	 * made before the call. */
	pthread_mutex_t barrier_mu;
};

/* ---- per-thread compression contexts ---- */

static pthread_key_t zstd_cctx_key, zstd_dctx_key;
static pthread_once_t zstd_key_once = PTHREAD_ONCE_INIT;
static int zstd_key_err;

static void zstd_cctx_free(void *p) { ZSTD_freeCCtx(p); }
static void zstd_dctx_free(void *p) { ZSTD_freeDCtx(p); }

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

/* ---- hashing and names ---- */

void chunk_hash(const void *data, size_t len, uint8_t out[CHUNK_HASH_LEN])
{
	SHA256(data, len, out);
}

uint64_t chunk_xxh(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

void chunk_hex(const uint8_t hash[CHUNK_HASH_LEN], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < CHUNK_HASH_LEN; i++) {
		out[2 * i] = digits[hash[i] >> 4];
		out[2 * i + 1] = digits[hash[i] & 15];
	}
	out[64] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int chunk_unhex(const char *hex, uint8_t out[CHUNK_HASH_LEN])
{
	uint8_t tmp[CHUNK_HASH_LEN];

	if (!hex)
		return -EINVAL;
	for (int i = 0; i < CHUNK_HASH_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex[64] != '\0')
		return -EINVAL;
	memcpy(out, tmp, CHUNK_HASH_LEN);
	return 0;
}

/* "ab/abcdef..." relative to dirfd; out holds 68 bytes. */
static void chunk_relpath(const uint8_t hash[CHUNK_HASH_LEN], char out[68])
{
	char hex[65];

	chunk_hex(hash, hex);
	out[0] = hex[0];
	out[1] = hex[1];
	out[2] = '/';
	memcpy(out + 3, hex, 65);
}

/* ---- I/O helpers ---- */

static int read_full(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = pread(fd, p, len, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* short file: damage */
		p += r;
		len -= (size_t)r;
		off += r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Parsed, sanity-checked header of an open chunk file. */
struct chunk_hdr {
	int codec;
	uint32_t raw_len;
	uint32_t payload_len;
	uint64_t xxh;
	uint64_t file_size;
};

/* Reads and checks the header against the file size: -EIO on any
 * inconsistency so callers never trust a torn or foreign file. */
static int hdr_read(int fd, struct chunk_hdr *h)
{
	uint8_t b[CHUNK_HDR_LEN];
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < CHUNK_HDR_LEN)
		return -EIO;
	rc = read_full(fd, b, sizeof(b), 0);
	if (rc < 0)
		return rc;
	if (memcmp(b, CHUNK_MAGIC, 4) != 0 || b[5] || b[6] || b[7])
		return -EIO;
	h->codec = b[4];
	h->raw_len = get_le32(b + 8);
	h->payload_len = get_le32(b + 12);
	h->xxh = get_le64(b + 16);
	h->file_size = (uint64_t)st.st_size;
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

/* Decodes the payload of an open chunk file into out (exactly h->raw_len
 * bytes). -EIO when the payload does not decode to that length. */
static int payload_decode(int fd, const struct chunk_hdr *h, void *out)
{
	uint8_t *src;
	int rc;

	if (h->codec == CHUNK_CODEC_NONE)
		return read_full(fd, out, h->raw_len, CHUNK_HDR_LEN);
	src = malloc(h->payload_len ? h->payload_len : 1);
	if (!src)
		return -ENOMEM;
	rc = read_full(fd, src, h->payload_len, CHUNK_HDR_LEN);
	if (rc < 0)
		goto out_free_src;
	if (h->codec == CHUNK_CODEC_ZSTD) {
		ZSTD_DCtx *d = thread_dctx();
		size_t n;

		if (!d) {
			rc = -ENOMEM;
			goto out_free_src;
		}
		n = ZSTD_decompressDCtx(d, out, h->raw_len, src, h->payload_len);
		if (ZSTD_isError(n) || n != h->raw_len)
			rc = -EIO;
	} else {
		uLongf n = h->raw_len;

		if (uncompress(out, &n, src, h->payload_len) != Z_OK || n != h->raw_len)
			rc = -EIO;
	}
out_free_src:
	free(src);
	return rc;
}

static int fsync_dirfd_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* ---- open / close ---- */

/* True when a tmp name "<pid>-<seq>" belongs to another process that is
 * still alive: a writer beside us (the CLI opens the store beside a live
 * mount), whose file must not be pulled from under it. */
static int tmp_owner_alive(const char *name)
{
	char *end;
	long pid;

	errno = 0;
	pid = strtol(name, &end, 10);
	if (errno || end == name || *end != '-' || pid <= 0 || pid > INT_MAX)
		return 0;
	if ((pid_t)pid == getpid())
		return 0; /* not ours while open: left by an earlier holder of the pid */
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Removes the files in DIR/tmp left by writers that are gone: they were
 * never renamed into place, so no chunk list can refer to them. */
static int tmp_clean(int tmpfd)
{
	int fd = dup(tmpfd);
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (tmp_owner_alive(e->d_name))
			continue;
		if (unlinkat(tmpfd, e->d_name, 0) < 0 && errno != ENOENT) {
			rc = -errno;
			break;
		}
	}
	closedir(d);
	return rc;
}

int chunk_store_open(const char *dir, struct chunk_store **out)
{
	struct chunk_store *cs;
	const char *mode;
	int rc;

	if (!dir || !*dir || !out)
		return -EINVAL;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	cs->dirfd = -1;
	cs->tmpfd = -1;
	atomic_init(&cs->tmp_seq, 0);
	cs->dir = strdup(dir);
	if (!cs->dir) {
		rc = -ENOMEM;
		goto out_free_cs;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out_free_dir;
	}
	cs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cs->dirfd < 0) {
		rc = -errno;
		goto out_free_dir;
	}
	if (mkdirat(cs->dirfd, "tmp", 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out_close_dirfd;
	}
	cs->tmpfd = openat(cs->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cs->tmpfd < 0) {
		rc = -errno;
		goto out_close_dirfd;
	}
	rc = tmp_clean(cs->tmpfd);
	if (rc < 0)
		goto out_close_tmpfd;
	/* Barrier choice, by measurement on ext4. Many chunks (256 x 1 MiB
	 * puts): syncfs 5-130 ms against 0.2-1.6 s for fsync of every chunk,
	 * dir and top dir (one journal commit instead of one per file; the
	 * puts already started writeback). But syncfs also writes back every
	 * unrelated dirty page of the filesystem: a 64 KiB commit took 4.2 ms
	 * (p50) beside a writer of other files, against 2.4 ms with fsync. So
	 * the default fsyncs up to CHUNK_AUTO_FSYNC_MAX new chunks and calls
	 * syncfs beyond. CKPT_CHUNK_BARRIER=fsync|syncfs forces one. */
	mode = getenv("CKPT_CHUNK_BARRIER");
	if (mode && !strcmp(mode, "fsync"))
		cs->fsync_max = CHUNK_PENDING_MAX;
	else if (mode && !strcmp(mode, "syncfs"))
		cs->fsync_max = 0;
	else
		cs->fsync_max = CHUNK_AUTO_FSYNC_MAX;
	rc = pthread_mutex_init(&cs->mu, NULL);
	if (rc != 0) {
		rc = -rc;
		goto out_close_tmpfd;
	}
	rc = pthread_mutex_init(&cs->barrier_mu, NULL);
	if (rc != 0) {
		pthread_mutex_destroy(&cs->mu);
		rc = -rc;
		goto out_close_tmpfd;
	}
	*out = cs;
	return 0;

out_close_tmpfd:
	close(cs->tmpfd);
out_close_dirfd:
	close(cs->dirfd);
out_free_dir:
	free(cs->dir);
out_free_cs:
	free(cs);
	return rc;
}

void chunk_store_close(struct chunk_store *cs)
{
	if (!cs)
		return;
	pthread_mutex_destroy(&cs->barrier_mu);
	pthread_mutex_destroy(&cs->mu);
	free(cs->pending);
	close(cs->tmpfd);
	close(cs->dirfd);
	free(cs->dir);
	free(cs);
}

/* ---- put ---- */

/* Remembers a chunk for the next barrier. Past fsync_max, or on allocation
 * failure, flags the barrier to use syncfs instead, so no put is ever left
 * out. */
static void pending_add(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN])
{
	if (cs->fsync_max == 0)
		return;
	pthread_mutex_lock(&cs->mu);
	if (cs->pending_overflow)
		goto out_unlock;
	if (cs->n_pending >= cs->fsync_max) {
		cs->pending_overflow = 1;
		goto out_unlock;
	}
	if (cs->n_pending == cs->cap_pending) {
		size_t ncap = cs->cap_pending ? cs->cap_pending * 2 : CHUNK_AUTO_FSYNC_MAX;
		void *p;

		p = realloc(cs->pending, ncap * CHUNK_HASH_LEN);
		if (!p) {
			cs->pending_overflow = 1;
			goto out_unlock;
		}
		cs->pending = p;
		cs->cap_pending = ncap;
	}
	memcpy(cs->pending[cs->n_pending++], hash, CHUNK_HASH_LEN);
out_unlock:
	pthread_mutex_unlock(&cs->mu);
}

/* Checks an existing chunk file cheaply (header only) against the data being
 * put, so a chunk torn by a crash is rewritten instead of deduplicated.
 * Returns 1 when it looks intact, 0 when it must be rewritten, -ENOENT when
 * absent, other negative errno on failure. */
static int existing_ok(struct chunk_store *cs, const char *rel, uint32_t raw_len,
		       uint64_t xxh, uint32_t *stored_len, int *codec_used)
{
	struct chunk_hdr h;
	int fd, rc;

	fd = openat(cs->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = hdr_read(fd, &h);
	close(fd);
	if (rc == -EIO)
		return 0;
	if (rc < 0)
		return rc;
	if (h.raw_len != raw_len || h.xxh != xxh)
		return 0;
	if (stored_len)
		*stored_len = (uint32_t)h.file_size;
	if (codec_used)
		*codec_used = h.codec;
	return 1;
}

/* Compresses data with codec into a new buffer (*out, *out_len). Returns 1
 * when compressed and smaller, 0 when the raw data should be kept. */
static int compress_payload(int codec, const void *data, size_t len, uint8_t **out,
			    size_t *out_len)
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

/* Moves tmp into place. no_replace: another put may have won the race, and
 * then exactly one of them reports a new chunk. Returns 1 when placed, 0 when
 * an existing file was kept. */
static int place_chunk(struct chunk_store *cs, const char *tmpname, const char *rel,
		       int no_replace)
{
	char fan[3] = { rel[0], rel[1], '\0' };
	int tried_mkdir = 0;

	for (;;) {
		int r;

		if (no_replace) {
			r = renameat2(cs->tmpfd, tmpname, cs->dirfd, rel, RENAME_NOREPLACE);
			if (r < 0 && errno == EINVAL) {
				/* filesystem without RENAME_NOREPLACE: link fails
				 * on an existing name just the same */
				r = linkat(cs->tmpfd, tmpname, cs->dirfd, rel, 0);
				if (r == 0)
					unlinkat(cs->tmpfd, tmpname, 0);
			}
		} else {
			r = renameat(cs->tmpfd, tmpname, cs->dirfd, rel);
		}
		if (r == 0)
			return 1;
		if (errno == EEXIST) {
			unlinkat(cs->tmpfd, tmpname, 0);
			return 0;
		}
		if (errno != ENOENT || tried_mkdir)
			break;
		tried_mkdir = 1;
		if (mkdirat(cs->dirfd, fan, 0755) < 0 && errno != EEXIST)
			break;
	}
	{
		int err = -errno;

		unlinkat(cs->tmpfd, tmpname, 0);
		return err;
	}
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

int chunk_put_ref(struct chunk_store *cs, const void *data, const struct chunk_ref *ref,
		  int codec, int flags, uint32_t *stored_len, int *codec_used)
{
	char rel[68], tmpname[64];
	uint8_t hdr[CHUNK_HDR_LEN];
	uint8_t *cbuf = NULL;
	const void *payload = data;
	size_t len, payload_len;
	int used = CHUNK_CODEC_NONE, rc, fd, existing = 0;
	bool rewrite = (flags & CHUNK_PUT_REWRITE) != 0;

	if (!cs || !ref || ref->raw_len > CHUNK_SIZE || (ref->raw_len > 0 && !data))
		return -EINVAL;
	len = payload_len = ref->raw_len;
	if (codec == CHUNK_CODEC_AUTO)
		codec = CHUNK_CODEC_ZSTD;
	if (codec != CHUNK_CODEC_NONE && codec != CHUNK_CODEC_ZLIB && codec != CHUNK_CODEC_ZSTD)
		return -EINVAL;
	chunk_relpath(ref->hash, rel);

	if (!rewrite) {
		rc = existing_ok(cs, rel, ref->raw_len, ref->xxh, stored_len, codec_used);
		if (rc == 1) {
			/* may be an un-barriered put of this or a crashed session */
			pending_add(cs, ref->hash);
			return 0;
		}
		if (rc < 0 && rc != -ENOENT)
			return rc;
		existing = rc == 0; /* present but damaged: replace it */
	}

	if (codec != CHUNK_CODEC_NONE && len > 0) {
		rc = compress_payload(codec, data, len, &cbuf, &payload_len);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			payload = cbuf;
			used = codec;
		} else {
			payload_len = len;
		}
	}

	memcpy(hdr, CHUNK_MAGIC, 4);
	hdr[4] = (uint8_t)used;
	hdr[5] = hdr[6] = hdr[7] = 0;
	put_le32(hdr + 8, ref->raw_len);
	put_le32(hdr + 12, (uint32_t)payload_len);
	put_le64(hdr + 16, ref->xxh);

	snprintf(tmpname, sizeof(tmpname), "%ld-%llu", (long)getpid(),
		 (unsigned long long)atomic_fetch_add(&cs->tmp_seq, 1));
	fd = openat(cs->tmpfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto out_free_cbuf;
	}
	rc = write_full(fd, hdr, sizeof(hdr));
	if (rc == 0)
		rc = write_full(fd, payload, payload_len);
	if (rc == 0) {
		/* start writeback now so the barrier has less to wait for;
		 * a failure here only loses that head start */
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(cs->tmpfd, tmpname, 0);
		goto out_free_cbuf;
	}
	rc = place_chunk(cs, tmpname, rel, !existing && !rewrite);
	if (rc < 0)
		goto out_free_cbuf;
	if (rc == 0) {
		/* lost a race with an identical put: report that file */
		rc = existing_ok(cs, rel, ref->raw_len, ref->xxh, stored_len, codec_used);
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
	pending_add(cs, ref->hash);
out_free_cbuf:
	free(cbuf);
	return rc;
}

/* ---- get / has / release / verify / size ---- */

int chunk_get(struct chunk_store *cs, const struct chunk_ref *ref, void *buf, size_t cap)
{
	char rel[68];
	struct chunk_hdr h;
	int fd, rc;

	if (!cs || !ref || (!buf && ref->raw_len > 0))
		return -EINVAL;
	if (ref->raw_len > CHUNK_SIZE || cap < ref->raw_len)
		return -EINVAL;
	chunk_relpath(ref->hash, rel);
	fd = openat(cs->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Fast path for uncompressed chunks: header and payload in one call,
	 * plus one byte past the expected end so a longer file shows. The
	 * checks are hdr_read's, for a file of exactly header + raw_len. */
	if (buf) {
		uint8_t b[CHUNK_HDR_LEN], extra;
		struct iovec iov[3] = {
			{ b, sizeof(b) }, { buf, ref->raw_len }, { &extra, 1 },
		};
		ssize_t got = preadv(fd, iov, 3, 0);

		if (got == (ssize_t)(CHUNK_HDR_LEN + ref->raw_len) &&
		    memcmp(b, CHUNK_MAGIC, 4) == 0 && b[4] == CHUNK_CODEC_NONE &&
		    !b[5] && !b[6] && !b[7] && get_le32(b + 8) == ref->raw_len &&
		    get_le32(b + 12) == ref->raw_len && get_le64(b + 16) == ref->xxh) {
			rc = chunk_xxh(buf, ref->raw_len) == ref->xxh ? 0 : -EIO;
			goto out_close_fd;
		}
		/* anything else (compressed, short, damaged): the full checks */
	}
	rc = hdr_read(fd, &h);
	if (rc < 0)
		goto out_close_fd;
	/* the ref comes from the index: checking against it, not the header
	 * alone, makes the check independent of the chunk file */
	if (h.raw_len != ref->raw_len || h.xxh != ref->xxh) {
		rc = -EIO;
		goto out_close_fd;
	}
	rc = payload_decode(fd, &h, buf);
	if (rc == 0 && chunk_xxh(buf, ref->raw_len) != ref->xxh)
		rc = -EIO;
out_close_fd:
	close(fd);
	if (rc == -EIO && buf)
		memset(buf, 0, ref->raw_len); /* never hand out wrong bytes */
	return rc;
}

/* Starts reading a chunk file into the page cache without waiting: a
 * sequential reader asks for the chunks ahead, so the disk works on them
 * while the current one is decoded and replied (chunk files are separate
 * files, so the kernel's own readahead never crosses into the next one).
 * Best effort: errors are ignored. */
void chunk_prefetch(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN])
{
	char rel[68];
	int fd;

	if (!cs || !hash)
		return;
	chunk_relpath(hash, rel);
	fd = openat(cs->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	close(fd);
}

int chunk_has(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN])
{
	char rel[68];
	struct stat st;

	if (!cs || !hash)
		return -EINVAL;
	chunk_relpath(hash, rel);
	if (fstatat(cs->dirfd, rel, &st, 0) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

int chunk_release(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN])
{
	char rel[68];

	if (!cs || !hash)
		return -EINVAL;
	chunk_relpath(hash, rel);
	if (unlinkat(cs->dirfd, rel, 0) < 0)
		return -errno;
	return 0;
}

int chunk_verify(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN],
		 uint32_t *raw_len, uint32_t *stored_len)
{
	char rel[68];
	struct chunk_hdr h;
	uint8_t sum[CHUNK_HASH_LEN];
	uint8_t *raw;
	int fd, rc;

	if (!cs || !hash)
		return -EINVAL;
	chunk_relpath(hash, rel);
	fd = openat(cs->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = hdr_read(fd, &h);
	if (rc < 0)
		goto out_close_fd;
	if (raw_len)
		*raw_len = h.raw_len;
	if (stored_len)
		*stored_len = (uint32_t)h.file_size;
	raw = malloc(h.raw_len ? h.raw_len : 1);
	if (!raw) {
		rc = -ENOMEM;
		goto out_close_fd;
	}
	rc = payload_decode(fd, &h, raw);
	if (rc < 0)
		goto out_free_raw;
	chunk_hash(raw, h.raw_len, sum);
	if (memcmp(sum, hash, CHUNK_HASH_LEN) != 0 || chunk_xxh(raw, h.raw_len) != h.xxh)
		rc = -EIO;
out_free_raw:
	free(raw);
out_close_fd:
	close(fd);
	return rc;
}

static int chunk_stat(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN], struct stat *st)
{
	char rel[68];

	if (!cs || !hash)
		return -EINVAL;
	chunk_relpath(hash, rel);
	return fstatat(cs->dirfd, rel, st, 0) < 0 ? -errno : 0;
}

int64_t chunk_stored_size(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct stat st;
	int rc = chunk_stat(cs, hash, &st);

	return rc < 0 ? rc : (int64_t)st.st_size;
}

int chunk_mtime(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN], int64_t *ns)
{
	char rel[68];
	struct stat st;

	if (!cs || !hash || !ns)
		return -EINVAL;
	chunk_relpath(hash, rel);
	if (fstatat(cs->dirfd, rel, &st, 0) < 0)
		return -errno;
	*ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

/* ---- barrier ---- */

static int barrier_syncfs(struct chunk_store *cs)
{
	if (syncfs(cs->dirfd) < 0)
		return -errno;
	return 0;
}

static int barrier_fsync(struct chunk_store *cs)
{
	uint8_t (*list)[CHUNK_HASH_LEN];
	uint8_t fans[256] = { 0 };
	size_t n;
	int overflow, rc = 0;

	pthread_mutex_lock(&cs->mu);
	list = cs->pending;
	n = cs->n_pending;
	overflow = cs->pending_overflow;
	cs->pending = NULL;
	cs->n_pending = cs->cap_pending = 0;
	cs->pending_overflow = 0;
	pthread_mutex_unlock(&cs->mu);

	if (overflow) {
		free(list);
		return barrier_syncfs(cs);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char rel[68];
		int fd;

		chunk_relpath(list[i], rel);
		fans[list[i][0]] = 1;
		fd = openat(cs->dirfd, rel, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue; /* released since: nothing to keep */
			rc = -errno;
			break;
		}
		if (fsync(fd) < 0)
			rc = -errno;
		close(fd);
	}
	for (int i = 0; i < 256 && rc == 0; i++) {
		char fan[3];

		if (!fans[i])
			continue;
		snprintf(fan, sizeof(fan), "%02x", i);
		rc = fsync_dirfd_at(cs->dirfd, fan);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc == 0 && fsync(cs->dirfd) < 0)
		rc = -errno;
	free(list);
	if (rc < 0) {
		/* some puts may not be durable and are no longer listed: make
		 * the next barrier cover everything */
		pthread_mutex_lock(&cs->mu);
		cs->pending_overflow = 1;
		pthread_mutex_unlock(&cs->mu);
	}
	return rc;
}

int chunk_barrier(struct chunk_store *cs)
{
	int rc;

	if (!cs)
		return -EINVAL;
	pthread_mutex_lock(&cs->barrier_mu);
	rc = cs->fsync_max ? barrier_fsync(cs) : barrier_syncfs(cs);
	pthread_mutex_unlock(&cs->barrier_mu);
	return rc;
}

/* ---- foreach ---- */

int chunk_foreach(struct chunk_store *cs,
		  int (*fn)(void *ctx, const uint8_t hash[CHUNK_HASH_LEN]), void *ctx)
{
	if (!cs || !fn)
		return -EINVAL;
	for (int i = 0; i < 256; i++) {
		char fan[3];
		struct dirent *e;
		DIR *d;
		int fd, rc = 0;

		snprintf(fan, sizeof(fan), "%02x", i);
		fd = openat(cs->dirfd, fan, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		d = fdopendir(fd);
		if (!d) {
			rc = -errno;
			close(fd);
			return rc;
		}
		errno = 0;
		while ((e = readdir(d)) != NULL) {
			uint8_t h[CHUNK_HASH_LEN];

			/* skip anything that is not a chunk of this fan-out dir */
			if (strlen(e->d_name) != 64 || chunk_unhex(e->d_name, h) < 0 || h[0] != i)
				continue;
			rc = fn(ctx, h);
			if (rc != 0)
				break;
			errno = 0;
		}
		if (!e && errno != 0)
			rc = -errno;
		closedir(d);
		if (rc != 0)
			return rc;
	}
	return 0;
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
