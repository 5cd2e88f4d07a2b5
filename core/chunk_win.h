/* A read window: a few whole, verified chunks that the readers of one open
 * file share while they read them (core/chunk_win.c).
 *
 * The kernel's readahead sends 1 MiB requests that straddle the 1 MiB chunk
 * grid, several at once from different threads, so most chunks are needed
 * by two requests at the same time. A window loads each chunk once
 * (chunk_get_whole: O_DIRECT into an aligned buffer, XXH3 checked), and
 * every request takes its bytes from there, by copy or straight into the
 * reply (zero copy).
 *
 * Buffers (CHUNK_WHOLE_LEN each) come from one budget per process,
 * CHUNK_WIN_BUDGET buffers; a window that cannot get one says -ENOBUFS and
 * the caller reads another way (chunk_get into its own buffer). A slot
 * gives its buffer back once every byte of its chunk has been served (a
 * reader through the kernel's page cache asks for each byte once), else
 * when the window is freed (the file's last close). Given-back buffers are
 * kept for reuse (chunk_buf_get), never returned to the system: touching
 * fresh memory costs more than reading the chunk (page faults; on the VMs
 * measured 9 ms a MiB).
 *
 * Thread safety: every function but chunk_win_free may run concurrently on
 * one window. A slot from chunk_win_get stays valid, and its bytes
 * unchanged, until chunk_win_put.
 */
#ifndef CKPT_CHUNK_WIN_H
#define CKPT_CHUNK_WIN_H

#include "chunk.h"

#define CHUNK_WIN_SLOTS 16   /* chunks one window keeps */
#define CHUNK_WIN_BUDGET 128 /* buffers of all windows of a process */

struct chunk_win;
struct chunk_win_slot;

/* A window over cs; NULL when out of memory. */
struct chunk_win *chunk_win_new(struct chunk_store *cs);
/* Frees the window and gives its buffers back; no slot may be held. */
void chunk_win_free(struct chunk_win *w);

/* pos: where the reader wants ref (its slot in the file), which tells a
 * chunk repeated further on (a run of zeros) from the same place asked
 * for twice.
 *
 * The verified raw bytes of ref (*data, ref->raw_len bytes), held in *slot
 * until chunk_win_put. A chunk another thread is loading is waited for, one
 * the window has is returned at once, else it is loaded now. -ENOBUFS:
 * every slot is held or loading, or the budget is spent; -ENOENT, -EIO (a
 * damaged chunk: nothing is kept, the next get tries again), -ENOMEM as
 * chunk_get. */
int chunk_win_get(struct chunk_win *w, const struct chunk_ref *ref, uint64_t pos,
		  struct chunk_win_slot **slot, const uint8_t **data);
/* Tells the window ref is wanted at pos soon (a sequential reader's next
 * chunks): a chunk it has for another pos (a repeat, e.g. a run of zeros)
 * is kept past its next full serve. Loads nothing (loading ahead of the
 * kernel's own readahead on loader threads measured slower: README). */
void chunk_win_want(struct chunk_win *w, const struct chunk_ref *ref, uint64_t pos);

/* Ends a hold. served: bytes of the chunk the holder handed on (counted
 * towards giving the buffer back; 0 when it only looked). */
void chunk_win_put(struct chunk_win *w, struct chunk_win_slot *slot, size_t served);

/* A CHUNK_WHOLE_LEN buffer, CHUNK_WHOLE_ALIGN-aligned, from the process's
 * kept ones when there is one (NULL without memory), and its return: kept
 * for the next get, up to CHUNK_WIN_BUDGET of them. Outside the budget. */
uint8_t *chunk_buf_get(void);
void chunk_buf_put(uint8_t *buf);

/* Buffers not handed out yet, of CHUNK_WIN_BUDGET (tests). */
int chunk_win_budget_left(void);

#endif
