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

#endif
