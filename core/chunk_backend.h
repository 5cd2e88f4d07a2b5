/* Where chunks live: the backend seam under core/chunk.c.
 *
 * chunk.c owns what a chunk is (SHA-256 name, CKC1 header, codecs, the XXH3
 * check against the index's ref); a backend only keeps opaque objects under
 * their 32-byte names. Modelled on git's struct odb_source (odb/source.h) and
 * SQLite's VFS object: the store passes a backend in at open instead of one
 * being chosen inside. Backends:
 *   chunk_backend_dir  today's local directory (core/chunk_dir.c)
 *   chunk_backend_mem  in memory, for tests (core/chunk_mem.c)
 *   chunk_backend_rados  Ceph RADOS objects (core/chunk_rados.c)
 * A remote object store (Ceph RADOS) maps put to an exclusive create, get to a
 * read, stat to a stat, foreach to object listing, barrier to "wait for all
 * outstanding writes to be acknowledged".
 *
 * Conventions for every op:
 * - Returns 0 (or the documented non-negative value) on success, a negative
 *   errno on failure: -ENOENT for a missing object, -ENOMEM, -ENOSPC, -EIO ...
 *   as they come; never a bare -1. A remote store that did not answer in
 *   time is -ETIMEDOUT, never -EIO (chunk.c reads a get's -EIO as damaged
 *   data, and hands -ETIMEDOUT on as -EIO where nothing diagnoses damage).
 * - Buffers belong to the caller: put reads iov only during the call, get
 *   writes iov only during the call; a backend keeps no pointer to them.
 * - Thread safety: every op except open and close may be called from several
 *   threads at once, on the same and on different names. Two puts of one name
 *   racing must leave one complete object, and exactly one of them returns 1.
 *   A get never sees a partly written object: an object appears whole
 *   (rename into place, exclusive create) or not at all.
 * - Objects are immutable once put, except through replace (healing a
 *   damaged chunk) and remove.
 * - Optional ops may be NULL; their meaning when NULL is given with each.
 */
#ifndef CKPT_CHUNK_BACKEND_H
#define CKPT_CHUNK_BACKEND_H

#include <stdint.h>
#include <sys/uio.h>

#include "chunk.h"

/* One open backend. Backends embed it as their first member and cast. */
struct chunk_backend {
	const struct chunk_backend_ops *ops;
};

struct chunk_obj_stat {
	uint64_t size;	  /* bytes of the object (what stored_size reports) */
	int64_t mtime_ns; /* when it was written (put or replace), ns since the epoch */
};

typedef int (*chunk_foreach_fn)(void *ctx, const uint8_t hash[CHUNK_HASH_LEN]);

struct chunk_backend_ops {
	const char *name; /* "dir", "mem": what a store address names */

	/* Opens the backend described by opts (opts->spec: where; its meaning
	 * is the backend's). *out on success. Not thread-safe against close. */
	int (*open)(const struct chunk_opts *opts, struct chunk_backend **out);
	/* Frees everything; no op may be running or follow. NULL is fine. */
	void (*close)(struct chunk_backend *be);

	/* Put-if-absent: stores the concatenated iov bytes under hash unless
	 * an object of that name exists. 1 when stored, 0 when one was already
	 * there (left untouched, whatever its content), negative errno on
	 * failure (then nothing new is visible). Visible to get at once,
	 * durable after the next barrier. */
	int (*put)(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		   const struct iovec *iov, int iovcnt);
	/* Stores the iov bytes under hash whether or not an object exists,
	 * atomically replacing it (a get sees the old or the new object, never
	 * a mix): heals a damaged chunk. 0 or negative errno. */
	int (*replace)(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		       const struct iovec *iov, int iovcnt);
	/* Reads the object from its first byte into iov, in order, and sets
	 * *size to the object's whole size: fewer bytes than the iov holds
	 * were filled when *size is smaller; only a prefix was read when it is
	 * larger. -ENOENT when missing. */
	int (*get)(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		   const struct iovec *iov, int iovcnt, uint64_t *size);
	/* Size and write time of the object; -ENOENT when missing. */
	int (*stat)(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		    struct chunk_obj_stat *st);
	/* Deletes the object: 0, or -ENOENT when it was not there. */
	int (*remove)(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN]);
	/* Calls fn once for every object present for the whole walk (objects
	 * put or removed during it may or may not be seen); stops and returns fn's value when it is non-zero. Objects
	 * under names that are not chunk names are skipped. May be slow on a
	 * remote store (a listing): verify and recovery use it, no hot path. */
	int (*foreach)(struct chunk_backend *be, chunk_foreach_fn fn, void *ctx);

	/* ---- optional ---- */

	/* Durability barrier: when it returns 0, every put and replace that
	 * returned before the call started is durable (local dir: fsync of
	 * the new files and their directories, or syncfs; remote: all
	 * outstanding writes acknowledged). NULL: put and replace are durable
	 * when they return (or, for the mem backend, there is nothing to make
	 * durable). */
	int (*barrier)(struct chunk_backend *be);
	/* The caller relies on an object it found present instead of putting
	 * it (deduplication): the next barrier must cover it as if it had just
	 * been put, for it may be the un-synced write of a crashed session.
	 * NULL: an object a get can see is already durable (a remote store
	 * whose reads see only acknowledged writes). */
	void (*reuse)(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN]);
	/* Hint: a get of this object comes soon (a sequential reader reads
	 * ahead). Best effort, no result; may start I/O in the background (local
	 * dir: posix_fadvise WILLNEED). NULL: no read-ahead. */
	void (*prefetch)(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN]);
	/* Removes partial objects left by writers that are gone (local dir:
	 * temp files of dead processes), leaving live writers' ones alone.
	 * Called once by chunk_store_open_with after open; an error fails the
	 * open. NULL: the backend never leaves partial objects. */
	int (*cleanup)(struct chunk_backend *be);
};

extern const struct chunk_backend_ops chunk_backend_dir;
extern const struct chunk_backend_ops chunk_backend_mem;
extern const struct chunk_backend_ops chunk_backend_rados; /* core/chunk_rados.c */

/* The backend of that name, or NULL. */
const struct chunk_backend_ops *chunk_backend_find(const char *name);

/* The open backend under a chunk store (tests drive it directly). */
struct chunk_backend *chunk_store_backend(struct chunk_store *cs);

#endif
