/* Comparing two files of the store by their chunk lists (`ckpt diff`).
 *
 * Two files hold the same bytes in a range when their chunk lists have the
 * same chunk (hash and length) at the same place relative to that range:
 * that is decided without reading any data. A chunk at the same place with
 * another hash, lying wholly inside the range, proves the range differs, also
 * without reading. Only what neither decides (chunks on different grids, a
 * chunk that also holds bytes outside the range) is read and compared.
 */
#ifndef CKPT_STORE_DIFF_H
#define CKPT_STORE_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "store.h"

/* ---- chunk lists (pure; no store) ----------------------------------------- */

enum diff_verdict { DIFF_SAME = 0, DIFF_CHANGED = 1, DIFF_UNKNOWN = 2 };

/* A chunk list with each chunk's file offset: offs[i] is where refs[i]
 * starts, offs[n] the total length. refs is borrowed, offs owned. */
struct diff_list {
	const struct chunk_ref *refs;
	size_t n;
	uint64_t *offs;
};
int diff_list_init(struct diff_list *l, const struct chunk_ref *refs, size_t n);
void diff_list_release(struct diff_list *l);

/* Walks bytes [oa, oa + len) of a against [ob, ob + len) of b and calls cb
 * with each run (offset from the range's start, length, DIFF_* verdict), in
 * order, adjacent runs of one verdict merged. A non-zero return of cb stops
 * the walk and is returned. -EINVAL when a range passes the end of its list. */
typedef int (*diff_run_fn)(void *ctx, uint64_t off, uint64_t len, int verdict);
int diff_runs(const struct diff_list *a, uint64_t oa, const struct diff_list *b, uint64_t ob,
	      uint64_t len, diff_run_fn cb, void *ctx);

/* ---- files of the store --------------------------------------------------- */

enum diff_status { DIFF_ST_SAME = 0, DIFF_ST_CHANGED, DIFF_ST_ADDED, DIFF_ST_REMOVED };
/* "same", "changed", "added", "removed". */
const char *diff_status_name(int status);

struct diff_item {
	char *name; /* tensor, zip entry, "array" (.npy), "__metadata__" */
	int status; /* changed, added or removed */
};

struct diff_file {
	int status; /* DIFF_ST_SAME or DIFF_ST_CHANGED */
	uint64_t size_a, size_b;
	uint64_t changed_bytes;	 /* bytes in chunks that differ (or that were read and
				   differ), plus the size difference */
	int format;		 /* FORMAT_* (format.h) when items were compared, else 0 */
	struct diff_item *items; /* the items that are not the same, by name */
	size_t n_items;
	size_t items_same;
	uint64_t bytes_read; /* file data read to decide, both sides (headers not counted) */
};
void diff_file_release(struct diff_file *d);

/* Compares regular-file nodes a and b (any versions). path_a / path_b name
 * them for the format checks (only the extension counts). When the files
 * differ and both are the same known format (format.h), each item is
 * compared too: by its header entry, then its bytes as above. 0 or a
 * negative errno (-EIO for a damaged chunk read, a chunk list that does not
 * add up to the size). */
int store_diff_file(struct store *st, int64_t a, const char *path_a, int64_t b, const char *path_b,
		    struct diff_file *out);

#endif
