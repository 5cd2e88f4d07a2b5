/* Format checks run at commit on every file of a checkpoint: zip archives
 * (torch.save; by magic bytes), .npy (by magic bytes) and .safetensors (by
 * extension). A truncated or inconsistent file aborts the checkpoint.
 *
 * Reads go through a callback so the check works on staging data, committed
 * chunks or a plain file alike; only small ranges are read (headers and the
 * end of the file), never the whole file.
 */
#ifndef CKPT_FORMAT_H
#define CKPT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Reads exactly len bytes at off into buf; 0 or negative errno. */
typedef int (*format_read_fn)(void *ctx, void *buf, size_t len, uint64_t off);

/* Checks one file of size bytes named path (its path inside the checkpoint;
 * only the extension is used). Returns 0 when the file is fine or of no known
 * format, -EBADMSG when it is truncated or inconsistent (why receives a short
 * reason such as "model.pt: zip end of central directory missing"), or the
 * read callback's negative errno. */
int format_check(const char *path, uint64_t size, format_read_fn rd, void *ctx, char *why,
		 size_t why_len);

/* Where the array data of a file begins, from its first len bytes (head):
 * 8 + N for a safetensors layout (8-byte little-endian header length N, then
 * a JSON object starting with '{'), the end of the header for .npy. 0 when
 * the layout is not recognised or head is too short to tell. Only a hint:
 * the store anchors its chunk grid there so that arrays at stable offsets
 * behind a header of any length dedup chunk for chunk. */
uint64_t format_data_start(const void *head, size_t len);

/* One array of a known format (for `ckpt diff`): a safetensors tensor, a zip
 * entry (torch.save keeps each tensor storage as archive/data/N), the array
 * of an .npy file. */
struct format_item {
	const char *name;    /* tensor or entry name; "array" for .npy; valid during the call */
	const char *layout;  /* what the header says besides where: "F32 [4,1024]" for a
				tensor, the header dict for .npy, the JSON of a
				safetensors __metadata__, "method M, N bytes, crc C"
				from a zip entry's central header */
	uint64_t begin, end; /* its bytes in the file: a zip entry's (compressed) data,
				found through its local header; empty for
				__metadata__ */
};
typedef int (*format_item_fn)(void *ctx, const struct format_item *it);

enum { FORMAT_NONE = 0, FORMAT_ZIP = 1, FORMAT_NPY = 2, FORMAT_SAFETENSORS = 3 };
/* "zip", "npy", "safetensors", or NULL for FORMAT_NONE. */
const char *format_name(int format);

/* Runs format_check's parse (the same reads: headers, the zip central
 * directory, plus 30 bytes of each zip local header; never array data) and,
 * when the file is fine, reports every item
 * to cb in file order; cb returns 0, or a negative errno that stops the
 * walk and is returned.
 * Returns the FORMAT_* whose items were reported, FORMAT_NONE for no known
 * format (or a zip central directory too large to walk), -EBADMSG (why) when
 * malformed, or the read callback's negative errno. */
int format_items(const char *path, uint64_t size, format_read_fn rd, void *ctx, format_item_fn cb,
		 void *cb_ctx, char *why, size_t why_len);

#endif
