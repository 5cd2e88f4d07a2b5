/* File data path. An open file is its base chunk list (from the node row),
 * an overlay file STORE/staging/<node> holding the bytes of "dirty" 1 MiB
 * slots at their file offsets, and a bitmap of dirty slots. Flush turns the
 * dirty slots into chunks, records the new list in the node row, and
 * truncates the overlay to 0 so its page cache is dropped, not written back.
 * Memory per open file is one slot buffer plus the chunk list.
 *
 * The chunk grid: chunk 0 covers [0, g) and chunk k >= 1 covers
 * [g + (k-1)C, g + kC), C = CHUNK_SIZE; the last one may be shorter. g = C
 * is the plain fixed grid. A file whose arrays begin behind a header
 * (safetensors, .npy: format_data_start) gets g = that offset mod C, so that
 * arrays at stable offsets dedup chunk for chunk whatever the header's
 * length; with g = C a 4.5 KiB header would shift every tensor off the grid
 * and a changed 5 MiB tensor would cost 6 chunks, not 5. A chunk list records
 * g implicitly: it is the first chunk's length when there are two or more. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "store_int.h"

static uint64_t grid_slot(uint32_t g, uint64_t off)
{
	return off < g ? 0 : 1 + (off - g) / CHUNK_SIZE;
}

static uint64_t grid_start(uint32_t g, uint64_t k)
{
	return k == 0 ? 0 : g + (k - 1) * CHUNK_SIZE;
}

static size_t grid_len(uint32_t g, uint64_t k)
{
	return k == 0 ? g : CHUNK_SIZE;
}

/* Chunks of a file of size bytes. */
static uint64_t grid_count(uint32_t g, uint64_t size)
{
	return size == 0 ? 0 : grid_slot(g, size - 1) + 1;
}

static uint32_t grid_of(const struct chunk_ref *refs, size_t n)
{
	if (n >= 2 && refs[0].raw_len > 0 && refs[0].raw_len < CHUNK_SIZE)
		return refs[0].raw_len;
	return CHUNK_SIZE;
}

/* The grid for a file whose first bytes are head[0..len). */
static uint32_t grid_sniff(const void *head, size_t len)
{
	uint64_t ds = format_data_start(head, len);
	uint32_t g = (uint32_t)(ds % CHUNK_SIZE);

	return g ? g : CHUNK_SIZE;
}

static bool slot_dirty(const struct ofile *of, uint64_t k)
{
	return k < of->dirty_cap && (of->dirty[k / 8] >> (k % 8)) & 1;
}

static void slot_set(struct ofile *of, uint64_t k, bool on)
{
	if (on)
		of->dirty[k / 8] |= (uint8_t)(1u << (k % 8));
	else
		of->dirty[k / 8] &= (uint8_t) ~(1u << (k % 8));
}

static int bitmap_grow(struct ofile *of, uint64_t slots)
{
	size_t ob = (of->dirty_cap + 7) / 8, nb;
	uint8_t *nd;

	if (slots <= of->dirty_cap)
		return 0;
	if (slots < of->dirty_cap * 2)
		slots = of->dirty_cap * 2;
	if (slots > STORE_FILE_MAX / CHUNK_SIZE + 1)
		slots = STORE_FILE_MAX / CHUNK_SIZE + 1; /* + chunk 0 of a grid g < C */
	nb = (size_t)((slots + 7) / 8);
	nd = realloc(of->dirty, nb);
	if (!nd)
		return -ENOMEM;
	memset(nd + ob, 0, nb - ob);
	of->dirty = nd;
	of->dirty_cap = (size_t)slots;
	return 0;
}

static void overlay_path(const struct store *st, int64_t node, char *buf, size_t len)
{
	size_t n;

	store_staging_dir(st, buf, len);
	n = strlen(buf);
	snprintf(buf + n, len - n, "/%lld", (long long)node);
}

static int ensure_fd(struct ofile *of)
{
	char path[PATH_MAX];

	if (of->fd >= 0)
		return 0;
	overlay_path(of->st, of->node, path, sizeof(path));
	of->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	return of->fd < 0 ? -errno : 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Reads len bytes; past the overlay's end (holes) reads zeros. */
static int pread_zero(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = fd >= 0 ? pread(fd, p, len, (off_t)off) : 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* The result rc of reading base chunk k of a file: a damaged or missing
 * chunk is recorded (a "corrupt" event; a damaged one also in the index, so
 * the next put of its bytes rewrites it) and becomes -EIO. A chunk store
 * that did not answer (-ETIMEDOUT) stays so, and nothing is recorded: the
 * data was not read, so it is not known damaged. */
static int base_damage(struct ofile *of, uint64_t k, int rc)
{
	struct store *st = of->st;
	const char *path = of->path ? of->path : "?";
	char rule[64];

	if (rc != -EIO && rc != -ENOENT)
		return rc;
	snprintf(rule, sizeof(rule), "damaged chunk at offset %llu",
		 (unsigned long long)grid_start(of->grid, k));
	store_mu_lock(st);
	if (!(st->flags & STORE_RDONLY)) {
		store_event_add(st, "corrupt", path, rule);
		if (rc == -EIO)
			store_damage_mark_locked(st, of->base[k].hash, "read");
	}
	store_mu_unlock(st);
	store_note(st, "corrupt data in %s (%s)", path, rule);
	return -EIO;
}

/* Holds a chunk of file of, then stores it, so gc cannot delete it before a
 * row references it (gc deletes with gc_rw held for writing; with several
 * mounts it looks at the held set as it marks a chunk dying). A chunk known
 * to be damaged is rewritten, not deduplicated onto. With several mounts
 * and stamp, the chunk is also stamped in the index (store_chunks_hold)
 * before this returns; a flush stamps all its chunks at once instead
 * (flush_hold). Returns 1 (a new chunk file) or 0 (present, or a damaged
 * one rewritten), or a negative errno. */
static int put_held(struct ofile *of, const void *buf, size_t len, int codec, bool stamp,
		    struct chunk_ref *ref, uint32_t *stored, int *codec_used)
{
	struct store *st = of->st;
	bool heal, held;
	int rc;

	chunk_ref_of(buf, len, ref);
	heal = store_damage_known(st, ref->hash);
	pthread_rwlock_rdlock(&st->gc_rw);
	store_mu_lock(st);
	rc = held_add(&st->held, ref->hash);
	store_mu_unlock(st);
	held = rc == 0;
	if (held)
		rc = chunk_put_ref(st->cs, buf, ref, codec, heal ? CHUNK_PUT_REWRITE : 0, stored,
				   codec_used);
	/* several mounts: relied on durably first; one gc was deleting is
	 * stored again */
	if (rc >= 0 && stamp && store_multi(st)) {
		uint8_t c = (uint8_t)*codec_used;
		bool made = rc == 1, again = false;
		int h = store_chunks_hold(st, ref, stored, &c, &made, 1, &again);

		if (h == 0 && again) {
			h = chunk_put_ref(st->cs, buf, ref, codec, CHUNK_PUT_REWRITE, stored,
					  codec_used);
			if (h >= 0)
				rc = 1; /* a file of ours now */
		}
		if (h < 0)
			rc = h;
		store_crash_point(st, "put:held");
	}
	if (rc < 0 && held) {
		store_mu_lock(st);
		held_del(&st->held, ref->hash);
		store_mu_unlock(st);
	}
	pthread_rwlock_unlock(&st->gc_rw);
	if (rc == 2) {
		store_damage_healed(st, ref->hash, of->path);
		rc = 0;
	}
	return rc;
}

/* ---- background hashing ----
 * A write that completes a slot (the file's bytes reach its end) queues it
 * for the store's worker thread, which reads the slot from the overlay and
 * hashes and stores it as a chunk while the writer goes on; flush then takes
 * that chunk instead of doing the work itself with the writer waiting, so
 * hashing overlaps the FUSE transport. A per-slot sequence number, odd while
 * a write changes the slot, tells whether the slot changed after the worker
 * read it; if it did, flush does the slot itself. Flush and truncate wait
 * for the file's queued jobs first, so the grid and the overlay do not move
 * under the worker. */

#define PH_MAX_JOBS 16 /* per file; beyond, flush does the slot itself */

static int ph_grow(struct ofile *of, size_t slots) /* ph_mu held */
{
	struct ph_slot *n;

	if (slots <= of->ph_cap)
		return 0;
	if (slots < of->ph_cap * 2)
		slots = of->ph_cap * 2;
	n = realloc(of->ph, slots * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + of->ph_cap, 0, (slots - of->ph_cap) * sizeof(*n));
	of->ph = n;
	of->ph_cap = slots;
	return 0;
}

/* Slots first..last are about to change (begin) or have changed (end). */
static int ph_mark(struct ofile *of, uint64_t first, uint64_t last, bool begin)
{
	int rc;

	pthread_mutex_lock(&of->ph_mu);
	rc = ph_grow(of, (size_t)last + 1);
	for (uint64_t k = first; rc == 0 && k <= last; k++) {
		/* begin makes seq odd, end makes it even again */
		if ((of->ph[k].seq & 1) == !begin)
			of->ph[k].seq++;
	}
	pthread_mutex_unlock(&of->ph_mu);
	return rc;
}

/* Waits until the worker has no job of this file (of->rw held for writing,
 * so no new one can be queued). */
static void ph_drain(struct ofile *of)
{
	pthread_mutex_lock(&of->ph_mu);
	while (of->ph_jobs)
		pthread_cond_wait(&of->ph_cv, &of->ph_mu);
	pthread_mutex_unlock(&of->ph_mu);
}

/* Lets go of a stored result nobody will use. The chunk has its row (the
 * worker writes it), so gc reclaims it once unreferenced. */
static void ph_unhold(struct store *st, const struct chunk_ref *ref)
{
	store_mu_lock(st);
	held_del(&st->held, ref->hash);
	store_mu_unlock(st);
}

/* A chunk put_held stored that may never get a row (the index write
 * failed, or the flush gave up): drops the hold and deletes the file if
 * this put created it (isnew) and nothing else holds or records it, so no
 * orphan file is left. */
static void put_forget(struct store *st, const uint8_t hash[CHUNK_HASH_LEN], bool isnew)
{
	pthread_rwlock_wrlock(&st->gc_rw); /* no put between check and delete */
	store_mu_lock(st);
	held_del(&st->held, hash);
	/* on a failed check (negative) the file stays: never delete in doubt */
	if (isnew && !held_has(&st->held, hash) && store_chunk_has_row(st, hash) == 0)
		chunk_release(st->cs, hash);
	store_mu_unlock(st);
	pthread_rwlock_unlock(&st->gc_rw);
}

static void *ph_worker(void *arg);

static void ph_start_locked(struct store *st) /* phq_mu held */
{
	if (st->ph_started || st->ph_stop)
		return;
	if (pthread_create(&st->ph_thread, NULL, ph_worker, st) == 0)
		st->ph_started = true;
}

/* Queues slot k of a file for hashing (of->rw held for writing). Best
 * effort: when it cannot, flush does the slot. */
static void ph_queue(struct ofile *of, uint64_t k, int codec)
{
	struct store *st = of->st;
	struct ph_job *j = malloc(sizeof(*j));
	bool queued = false;

	if (!j)
		return;
	*j = (struct ph_job){ .of = of,
			      .k = k,
			      .start = grid_start(of->grid, k),
			      .len = grid_len(of->grid, k),
			      .codec = codec };
	/* the job's reference, taken before the worker can drop it; not the
	 * last one when undone: the caller's handle holds one */
	store_mu_lock(st);
	of->refs++;
	store_mu_unlock(st);
	pthread_mutex_lock(&of->ph_mu);
	if (of->ph_jobs < PH_MAX_JOBS) {
		pthread_mutex_lock(&st->phq_mu);
		ph_start_locked(st);
		if (st->ph_started) {
			if (st->phq_tail)
				st->phq_tail->next = j;
			else
				st->phq_head = j;
			st->phq_tail = j;
			of->ph_jobs++;
			queued = true;
			pthread_cond_signal(&st->phq_cv);
		}
		pthread_mutex_unlock(&st->phq_mu);
	}
	pthread_mutex_unlock(&of->ph_mu);
	if (!queued) {
		store_mu_lock(st);
		of->refs--;
		store_mu_unlock(st);
		free(j);
	}
}

static void ofile_put(struct ofile *of);

/* One job: read the slot, store it as a chunk with a row (refs 0 until a
 * flush references it), keep the result if the slot did not change
 * meanwhile. */
static void ph_run(struct store *st, struct ph_job *j, uint8_t *buf, bool skip)
{
	struct ofile *of = j->of;
	struct ph_slot r = { 0 }, old = { 0 };
	uint32_t s1;
	int rc = -1;

	pthread_mutex_lock(&of->ph_mu);
	s1 = j->k < of->ph_cap ? of->ph[j->k].seq : 1;
	pthread_mutex_unlock(&of->ph_mu);
	if (!skip && !(s1 & 1) && buf && pread_zero(of->fd, buf, j->len, j->start) == 0) {
		uint32_t slen = 0;
		int used = 0;

		rc = put_held(of, buf, j->len, j->codec, true, &r.ref, &slen, &used);
		r.isnew = rc == 1;
		r.stored = slen;
		r.codec = (uint8_t)used;
		r.valid = true;
		r.res_seq = s1;
		/* the row referenced by nothing yet (several mounts: the hold in
		 * put_held made it, stamped) */
		if (rc >= 0 && !store_multi(st)) {
			int trc;

			store_mu_lock(st);
			trc = index_tx_begin(st->ix);
			if (trc == 0)
				trc = store_chunk_ref(st, &r.ref, 0, r.stored, r.codec);
			trc = index_tx_end(st->ix, trc);
			store_mu_unlock(st);
			if (trc < 0) {
				put_forget(st, r.ref.hash, r.isnew);
				rc = trc;
			}
		}
	}
	pthread_mutex_lock(&of->ph_mu);
	if (rc >= 0) {
		if (j->k < of->ph_cap && of->ph[j->k].seq == s1) {
			old = of->ph[j->k];
			r.seq = s1;
			of->ph[j->k] = r;
		} else {
			old = r; /* changed meanwhile: flush redoes it */
		}
	}
	of->ph_jobs--;
	pthread_cond_broadcast(&of->ph_cv);
	pthread_mutex_unlock(&of->ph_mu);
	if (old.valid)
		ph_unhold(st, &old.ref);
	ofile_put(of);
}

static void *ph_worker(void *arg)
{
	struct store *st = arg;
	uint8_t *buf = malloc(CHUNK_SIZE);

	pthread_mutex_lock(&st->phq_mu);
	for (;;) {
		struct ph_job *j;
		bool stop;

		while (!st->phq_head && !st->ph_stop)
			pthread_cond_wait(&st->phq_cv, &st->phq_mu);
		j = st->phq_head;
		stop = st->ph_stop;
		if (!j)
			break; /* stopping, nothing queued */
		st->phq_head = j->next;
		if (!st->phq_head)
			st->phq_tail = NULL;
		pthread_mutex_unlock(&st->phq_mu);
		ph_run(st, j, buf, stop);
		free(j);
		pthread_mutex_lock(&st->phq_mu);
	}
	pthread_mutex_unlock(&st->phq_mu);
	free(buf);
	return NULL;
}

void store_ph_init(struct store *st)
{
	pthread_mutex_init(&st->phq_mu, NULL);
	pthread_cond_init(&st->phq_cv, NULL);
}

void store_ph_stop(struct store *st)
{
	bool started;

	pthread_mutex_lock(&st->phq_mu);
	st->ph_stop = true;
	started = st->ph_started;
	pthread_cond_broadcast(&st->phq_cv);
	pthread_mutex_unlock(&st->phq_mu);
	if (started)
		pthread_join(st->ph_thread, NULL);
	pthread_cond_destroy(&st->phq_cv);
	pthread_mutex_destroy(&st->phq_mu);
}

/* Drops the holds of a file's unused results (st->mu held). */
static void ph_release_locked(struct ofile *of)
{
	store_assert_mu_held(of->st);
	for (size_t k = 0; k < of->ph_cap; k++)
		if (of->ph[k].valid)
			held_del(&of->st->held, of->ph[k].ref.hash);
}

/* ---- the shared open-file state ---- */

static void ofile_destroy(struct ofile *of)
{
	char path[PATH_MAX];

	if (of->fd >= 0) {
		close(of->fd);
		overlay_path(of->st, of->node, path, sizeof(path));
		unlink(path);
	}
	pthread_rwlock_destroy(&of->rw);
	pthread_cond_destroy(&of->ph_cv);
	pthread_mutex_destroy(&of->ph_mu);
	free(of->ph);
	free(of->base);
	free(of->dirty);
	free(of->path);
	free(of->scratch);
	chunk_win_free(atomic_load(&of->win));
	free(of);
}

/* Drops a reference (st->mu not held). */
static void ofile_put(struct ofile *of)
{
	struct store *st = of->st;
	bool last = false;

	store_mu_lock(st);
	if (--of->refs == 0) {
		struct ofile **pp;

		for (pp = &st->files; *pp; pp = &(*pp)->next) {
			if (*pp == of) {
				*pp = of->next;
				break;
			}
		}
		held_del_list(&st->held, of->base, of->n_base_row);
		ph_release_locked(of);
		last = true;
	}
	store_mu_unlock(st);
	if (last)
		ofile_destroy(of);
}

/* Finds or creates the node's open-file state (st->mu held). */
static int ofile_get(struct store *st, int64_t id, bool write, int codec, struct ofile **out)
{
	struct store_node n;
	struct ofile *of;
	char *cname = NULL, *npath = NULL;
	int rc;

	rc = store_node_get_locked(st, id, &n);
	if (rc < 0)
		return rc;
	if (S_ISDIR(n.mode))
		return -EISDIR;
	if (!S_ISREG(n.mode))
		return -EINVAL;
	if (write && !n.writable)
		return -EROFS;
	of = store_ofile_find(st, id);
	if (of) {
		of->refs++;
		*out = of;
		return 0;
	}
	of = calloc(1, sizeof(*of));
	if (!of)
		return -ENOMEM;
	of->st = st;
	of->node = id;
	of->version = n.version;
	of->ckpt = n.ckpt;
	of->fd = -1;
	of->codec = codec;
	of->refs = 1;
	atomic_init(&of->ro, !n.writable); /* its version is not staging */
	atomic_init(&of->unlinked, false);
	if (store_rwlock_init(&of->rw) < 0) {
		free(of);
		return -ENOMEM;
	}
	pthread_mutex_init(&of->ph_mu, NULL);
	pthread_cond_init(&of->ph_cv, NULL);
	rc = store_node_chunks_locked(st, id, &of->base, &of->n_base_row, &of->size);
	if (rc < 0)
		goto out_free;
	of->n_base = of->n_base_row;
	of->grid = grid_of(of->base, of->n_base_row);
	rc = held_add_list(&st->held, of->base, of->n_base_row);
	if (rc < 0)
		goto out_free;
	/* "ckpt/path" names the file in corrupt events */
	if (store_ckpt_name(st, n.ckpt, &cname) == 0 &&
	    store_node_path_locked(st, id, &npath) == 0) {
		size_t l = strlen(cname) + strlen(npath) + 2;

		of->path = malloc(l);
		if (of->path)
			snprintf(of->path, l, "%s%s%s", cname, *npath ? "/" : "", npath);
	}
	free(cname);
	free(npath);
	of->mtime_ns = n.mtime_ns;
	of->mode = n.mode;
	of->ctime_ns = n.ctime_ns;
	of->atime_ns = n.atime_ns == n.mtime_ns ? 0 : n.atime_ns;
	of->next = st->files;
	st->files = of;
	*out = of;
	return 0;
out_free:
	pthread_rwlock_destroy(&of->rw);
	pthread_cond_destroy(&of->ph_cv);
	pthread_mutex_destroy(&of->ph_mu);
	free(of->base);
	free(of);
	return rc;
}

int store_file_open(struct store *st, int64_t id, int flags, struct store_file **out)
{
	struct store_file *f;
	struct policy p;
	int rc, codec;
	bool write = (flags & (STORE_F_WRITE | STORE_F_TRUNC)) != 0;

	*out = NULL;
	if (write && !store_writable(st))
		return -EROFS;
	codec = CHUNK_CODEC_NONE;
	if (write) {
		rc = store_policy_get(st, &p);
		if (rc < 0)
			return rc;
		codec = p.compress == CHUNK_CODEC_AUTO ? -1 : p.compress;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->flags = flags | (write ? STORE_F_WRITE : 0);
	pthread_mutex_init(&f->cache_mu, NULL);
	store_mu_lock(st);
	rc = ofile_get(st, id, write, codec, &f->of);
	store_mu_unlock(st);
	if (rc < 0) {
		pthread_mutex_destroy(&f->cache_mu);
		free(f);
		return rc;
	}
	if (write) {
		/* a reader may have opened the state first: the writer's policy counts */
		pthread_rwlock_wrlock(&f->of->rw);
		if (!f->of->codec_set) {
			f->of->codec = codec;
			f->of->codec_set = true;
		}
		pthread_rwlock_unlock(&f->of->rw);
	}
	if (flags & STORE_F_TRUNC) {
		rc = store_file_truncate(f, 0);
		if (rc < 0) {
			store_file_close(f);
			return rc;
		}
	}
	*out = f;
	return 0;
}

uint64_t store_file_size(struct store_file *f)
{
	return __atomic_load_n(&f->of->size, __ATOMIC_RELAXED);
}

int64_t store_file_node(struct store_file *f)
{
	return f->of->node;
}

/* ---- read ---- */

#define PREFETCH_CHUNKS 8

/* A read starting at chunk k keeps chunk k + PREFETCH_CHUNKS on its way
 * from disk (and, at the start of a file, the ones before it). of->rw held. */
static void prefetch_ahead(struct ofile *of, uint64_t k)
{
	uint64_t j = k == 0 ? 1 : k + PREFETCH_CHUNKS;

	for (; j <= k + PREFETCH_CHUNKS && j < of->n_base; j++)
		if (!slot_dirty(of, j) && of->base[j].raw_len > 0)
			chunk_prefetch(of->st->cs, of->base[j].hash);
}

/* n bytes from offset so of a chunk of len raw bytes into dst; zeros past
 * its end (a short last chunk, then a size increase). */
static void copy_chunk(uint8_t *dst, const uint8_t *src, size_t len, size_t so, size_t n)
{
	size_t have = so < len ? len - so : 0;

	if (have > n)
		have = n;
	memcpy(dst, src + so, have);
	memset(dst + have, 0, n - have);
}

/* The file's read window, made at its first read; NULL without memory. */
static struct chunk_win *ofile_win(struct ofile *of)
{
	struct chunk_win *w = atomic_load(&of->win), *none = NULL;

	if (w)
		return w;
	w = chunk_win_new(of->st->cs);
	if (w && !atomic_compare_exchange_strong(&of->win, &none, w)) {
		chunk_win_free(w);
		w = none;
	}
	return w;
}

/* Bytes of base chunk k into dst (n bytes from in-slot offset so): from the
 * file's read window, or, when it has no room, straight from the chunk
 * store (through the handle's one-chunk cache for a part of a chunk). */
static int read_base(struct store_file *f, uint64_t k, uint8_t *dst, size_t so, size_t n)
{
	struct ofile *of = f->of;
	const struct chunk_ref *r = &of->base[k];
	struct chunk_win *w = ofile_win(of);
	struct chunk_win_slot *s;
	const uint8_t *data;
	int rc = -ENOBUFS;

	if (w)
		rc = chunk_win_get(w, r, k, &s, &data);
	if (rc == 0) {
		copy_chunk(dst, data, r->raw_len, so, n);
		chunk_win_put(w, s,
			      so < r->raw_len ? (n < r->raw_len - so ? n : r->raw_len - so) : 0);
	}
	if (rc != -ENOBUFS)
		return rc;
	if (so == 0)
		prefetch_ahead(of, k);
	/* A whole chunk goes straight into dst: no copy through the
	 * handle's cache and no cache lock. */
	if (so == 0 && n == r->raw_len)
		return chunk_get(of->st->cs, r, dst, n);
	pthread_mutex_lock(&f->cache_mu);
	if (!f->cache) {
		f->cache = malloc(CHUNK_SIZE);
		if (!f->cache) {
			rc = -ENOMEM;
			goto out_unlock;
		}
	}
	if (!f->cache_valid || memcmp(f->cache_hash, r->hash, CHUNK_HASH_LEN) != 0) {
		f->cache_valid = false;
		rc = chunk_get(of->st->cs, r, f->cache, CHUNK_SIZE);
		if (rc < 0)
			goto out_unlock;
		memcpy(f->cache_hash, r->hash, CHUNK_HASH_LEN);
		f->cache_len = r->raw_len;
		f->cache_valid = true;
	}
	rc = 0;
	copy_chunk(dst, f->cache, f->cache_len, so, n);
out_unlock:
	pthread_mutex_unlock(&f->cache_mu);
	return rc;
}

/* Base chunk k's bytes [so, so + n) pointed at in the file's read window
 * (r's iov), held until store_read_done: 1 when done so, 0 when the caller
 * must copy them (no room in the window or r; a short last chunk's zero
 * tail), or negative errno. n_hold <= n, so holds never run out first. */
static int read_base_in_place(struct store_file *f, uint64_t k, size_t so, size_t n,
			      struct store_read *r)
{
	struct ofile *of = f->of;
	const struct chunk_ref *ref = &of->base[k];
	struct chunk_win *w = ofile_win(of);
	struct chunk_win_slot *s;
	const uint8_t *data;
	int rc;

	/* the last iov entry stays free for the copied rest, all of it
	 * contiguous in r->buf once no piece is in place any more */
	if (!w || r->n >= STORE_READ_IOV - 1 || so + n > ref->raw_len)
		return 0;
	rc = chunk_win_get(w, ref, k, &s, &data);
	if (rc == -ENOBUFS)
		return 0;
	if (rc < 0)
		return rc;
	r->win = w;
	r->hold[r->n_hold] = s;
	r->served[r->n_hold++] = n;
	r->iov[r->n].iov_base = (void *)(data + so);
	r->iov[r->n++].iov_len = n;
	return 1;
}

/* Where a copied piece at offset done of a read goes: dst, or r's buffer
 * (then also appended to r's iov, merged with a contiguous last piece).
 * NULL without memory. */
static uint8_t *piece_dst(uint8_t *dst, struct store_read *r, size_t done)
{
	if (!r)
		return dst + done;
	if (!r->buf)
		r->buf = chunk_buf_get();
	return r->buf ? r->buf + done : NULL;
}

static void piece_add(struct store_read *r, uint8_t *p, size_t n)
{
	struct iovec *last = r->n ? &r->iov[r->n - 1] : NULL;

	if (last && (uint8_t *)last->iov_base + last->iov_len == p)
		last->iov_len += n;
	else
		r->iov[r->n++] = (struct iovec){ p, n };
}

#define READ_AHEAD_CHUNKS 4

/* A read of slots [k0, k1] that continues the file's furthest one (the
 * kernel's readahead requests arrive a little out of order) tells the
 * window the next READ_AHEAD_CHUNKS base chunks are wanted, so a chunk
 * repeated there is kept, not given back and read again. of->rw held. */
static void read_ahead(struct ofile *of, uint64_t k0, uint64_t k1)
{
	uint64_t next = atomic_load(&of->ra_next);
	struct chunk_win *w;

	if (k1 + 1 > next)
		atomic_store(&of->ra_next, k1 + 1);
	if (k0 > next + 1 || k0 + CHUNK_WIN_SLOTS < next || !(w = ofile_win(of)))
		return; /* not sequential */
	for (uint64_t j = k1 + 1; j <= k1 + READ_AHEAD_CHUNKS && j < of->n_base; j++)
		if (!slot_dirty(of, j) && of->base[j].raw_len > 0)
			chunk_win_want(w, &of->base[j], j);
}

/* store_file_read into dst, or (r non-NULL) in place. */
static ssize_t file_read(struct store_file *f, uint8_t *dst, size_t len, uint64_t off,
			 struct store_read *r)
{
	struct ofile *of = f->of;
	size_t done = 0;
	int rc = 0;

	if (!(f->flags & (STORE_F_READ | STORE_F_WRITE)))
		return -EBADF;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	pthread_rwlock_rdlock(&of->rw);
	if (off >= of->size) {
		pthread_rwlock_unlock(&of->rw);
		return 0;
	}
	if (len > of->size - off)
		len = (size_t)(of->size - off);
	while (done < len) {
		uint64_t pos = off + done, k = grid_slot(of->grid, pos);
		size_t so = (size_t)(pos - grid_start(of->grid, k)), n = grid_len(of->grid, k) - so;
		bool base = !slot_dirty(of, k) && k < of->n_base;
		uint8_t *p;

		if (n > len - done)
			n = len - done;
		if (r && base) {
			rc = base_damage(of, k, read_base_in_place(f, k, so, n, r));
			if (rc < 0)
				break;
			if (rc == 1) {
				done += n;
				continue;
			}
		}
		p = piece_dst(dst, r, done);
		if (!p) {
			rc = -ENOMEM;
			break;
		}
		if (slot_dirty(of, k))
			rc = pread_zero(of->fd, p, n, pos);
		else if (base)
			rc = base_damage(of, k, read_base(f, k, p, so, n));
		else
			memset(p, 0, n);
		if (rc < 0)
			break;
		if (r)
			piece_add(r, p, n);
		done += n;
	}
	if (rc >= 0 && len > 0)
		read_ahead(of, grid_slot(of->grid, off), grid_slot(of->grid, off + len - 1));
	pthread_rwlock_unlock(&of->rw);
	return rc < 0 ? rc : (ssize_t)done;
}

ssize_t store_file_read(struct store_file *f, void *buf, size_t len, uint64_t off)
{
	return file_read(f, buf, len, off, NULL);
}

ssize_t store_file_read_vec(struct store_file *f, size_t len, uint64_t off, struct store_read *r)
{
	ssize_t got;

	memset(r, 0, sizeof(*r));
	if (len > STORE_READ_MAX)
		return -EINVAL;
	got = file_read(f, NULL, len, off, r);
	if (got < 0)
		store_read_done(r);
	return got;
}

void store_read_done(struct store_read *r)
{
	for (int i = 0; i < r->n_hold; i++)
		chunk_win_put(r->win, r->hold[i], r->served[i]);
	r->n_hold = 0;
	chunk_buf_put(r->buf);
	r->buf = NULL;
}

/* ---- write, truncate ---- */

/* Copies the first n bytes of base chunk k into the overlay slot (before a
 * partial write or truncate makes the slot dirty). of->rw held for writing. */
static int slot_copy_base(struct ofile *of, uint64_t k, size_t n)
{
	int rc;

	if (k >= of->n_base || n == 0)
		return 0;
	if (n > of->base[k].raw_len)
		n = of->base[k].raw_len;
	if (!of->scratch) {
		of->scratch = malloc(CHUNK_SIZE);
		if (!of->scratch)
			return -ENOMEM;
	}
	rc = base_damage(of, k, chunk_get(of->st->cs, &of->base[k], of->scratch, CHUNK_SIZE));
	if (rc < 0)
		return rc;
	return pwrite_all(of->fd, of->scratch, n, grid_start(of->grid, k));
}

static int flush_locked(struct ofile *of);

ssize_t store_file_write(struct store_file *f, const void *buf, size_t len, uint64_t off)
{
	struct ofile *of = f->of;
	uint64_t k, first, last, end;
	int rc;

	if (!(f->flags & STORE_F_WRITE))
		return -EBADF;
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX || off > STORE_FILE_MAX || len > STORE_FILE_MAX - off)
		return -EFBIG;
	end = off + len;
	pthread_rwlock_wrlock(&of->rw);
	if (atomic_load(&of->ro)) {
		rc = -EROFS;
		goto out_unlock;
	}
	if (!of->grid_fixed && of->n_base == 0 && of->size == 0 && of->n_dirty == 0 && off == 0 &&
	    len >= 16) {
		/* a new file's grid follows its first bytes (a header is written
		 * first), so its slots can be hashed while it is being written */
		of->grid = grid_sniff(buf, 16);
		of->grid_fixed = true;
	}
	rc = ensure_fd(of);
	if (rc == 0)
		rc = bitmap_grow(of, grid_count(of->grid, end));
	if (rc < 0)
		goto out_unlock;
	first = grid_slot(of->grid, off);
	last = grid_slot(of->grid, end - 1);
	rc = ph_mark(of, first, last, true);
	if (rc < 0)
		goto out_unlock;
	for (k = first; k <= last; k++) {
		if (slot_dirty(of, k))
			continue;
		if (k < of->n_base) {
			uint64_t bs = grid_start(of->grid, k), be = bs + of->base[k].raw_len;

			if (be > of->size)
				be = of->size;
			/* base bytes the write does not overwrite must survive */
			if (be > bs && !(off <= bs && end >= be)) {
				rc = slot_copy_base(of, k, (size_t)(be - bs));
				if (rc < 0)
					goto out_mark;
			}
		}
		slot_set(of, k, true);
		of->n_dirty++;
	}
	rc = pwrite_all(of->fd, buf, len, off);
out_mark:
	ph_mark(of, first, last, false); /* grown by the first call: cannot fail */
	if (rc < 0)
		goto out_unlock;
	if (end > of->size)
		__atomic_store_n(&of->size, end, __ATOMIC_RELAXED);
	__atomic_store_n(&of->mtime_ns, store_now_ns(), __ATOMIC_RELAXED);
	if ((of->grid_fixed || of->n_base > 0) && of->codec >= 0) {
		/* the slots this write completed go to the worker */
		for (k = first; k <= last; k++)
			if (grid_start(of->grid, k) + grid_len(of->grid, k) <= end &&
			    slot_dirty(of, k))
				ph_queue(of, k, of->codec);
	}
	if (of->n_dirty >= STORE_DIRTY_FLUSH)
		rc = flush_locked(of);
out_unlock:
	pthread_rwlock_unlock(&of->rw);
	return rc < 0 ? rc : (ssize_t)len;
}

int store_file_truncate(struct store_file *f, uint64_t size)
{
	struct ofile *of = f->of;
	uint64_t k, keep, so;
	int rc = 0;

	if (!(f->flags & STORE_F_WRITE))
		return -EBADF;
	if (size > STORE_FILE_MAX)
		return -EFBIG;
	pthread_rwlock_wrlock(&of->rw);
	if (atomic_load(&of->ro)) {
		rc = -EROFS;
		goto out_unlock;
	}
	if (size < of->size) {
		/* results for slots from the cut on are stale now */
		ph_drain(of);
		pthread_mutex_lock(&of->ph_mu);
		for (k = grid_slot(of->grid, size); k < of->ph_cap; k++)
			of->ph[k].seq += 2;
		pthread_mutex_unlock(&of->ph_mu);
		if (size == 0)
			of->grid_fixed = false;	   /* the next first bytes choose again */
		keep = grid_count(of->grid, size); /* slots still in the file */
		/* a partial last slot keeps only its first bytes: make it dirty */
		k = grid_slot(of->grid, size);
		so = size - grid_start(of->grid, k);
		if (so && !slot_dirty(of, k) && k < of->n_base) {
			rc = ensure_fd(of);
			if (rc == 0)
				rc = bitmap_grow(of, k + 1);
			if (rc == 0)
				rc = slot_copy_base(of, k, (size_t)so);
			if (rc < 0)
				goto out_unlock;
			slot_set(of, k, true);
			of->n_dirty++;
		}
		for (k = keep; k < of->dirty_cap; k++) {
			if (slot_dirty(of, k)) {
				slot_set(of, k, false);
				of->n_dirty--;
			}
		}
		if (of->n_base > keep)
			of->n_base = (size_t)keep; /* cut base slots read as zeros again */
		if (of->fd >= 0 && ftruncate(of->fd, (off_t)size) < 0) {
			rc = -errno;
			goto out_unlock;
		}
	}
	if (size != of->size) {
		__atomic_store_n(&of->size, size, __ATOMIC_RELAXED);
		of->meta_dirty = true;
	}
	__atomic_store_n(&of->mtime_ns, store_now_ns(), __ATOMIC_RELAXED);
out_unlock:
	pthread_rwlock_unlock(&of->rw);
	return rc;
}

/* ---- flush ---- */

#define PUT_NEW 2 /* flush's put[k]: this flush created the chunk file */

/* One flush: the new chunk list on grid g and, per slot, what its put did. */
struct flush {
	struct chunk_ref *nl;
	uint32_t *stored;      /* bytes on disk of nl[k]'s chunk */
	uint8_t *codecs, *put; /* put[k]: 0 none, 1 held, PUT_NEW held and created */
	uint8_t *buf;	       /* CHUNK_SIZE */
	uint64_t n_new, stored_new;
	uint64_t zero_k; /* slot holding this flush's zero chunk, UINT64_MAX none */
	uint32_t g;
	bool regrid; /* the dirty bitmap is on the old grid */
};

/* Decide: the new list's grid, and which background results it cannot use
 * (their chunks have rows); allocates the per-slot arrays. */
static int flush_plan(struct ofile *of, struct flush *fl)
{
	uint64_t k, n;

	fl->g = of->grid;
	if (of->n_base == 0 && !of->grid_fixed) {
		/* nothing shared with a base: the grid may follow the data's
		 * layout (its header is written first, and is here by now) */
		unsigned char head[16];
		size_t hl = of->size < sizeof(head) ? (size_t)of->size : sizeof(head);
		int rc = pread_zero(of->fd, head, hl, 0);

		if (rc < 0)
			return rc;
		fl->g = grid_sniff(head, hl);
		fl->regrid = fl->g != of->grid;
	}
	fl->n_new = grid_count(fl->g, of->size);
	for (k = 0; k < of->ph_cap; k++) {
		struct ph_slot *r = &of->ph[k];

		if (r->valid &&
		    (fl->regrid || r->res_seq != r->seq || k >= fl->n_new || !slot_dirty(of, k))) {
			ph_unhold(of->st, &r->ref);
			r->valid = false;
		}
	}
	n = fl->n_new ? fl->n_new : 1;
	fl->nl = calloc(n, sizeof(*fl->nl));
	fl->stored = calloc(n, sizeof(*fl->stored));
	fl->codecs = calloc(n, 1);
	fl->put = calloc(n, 1);
	fl->buf = malloc(CHUNK_SIZE);
	return fl->nl && fl->stored && fl->codecs && fl->put && fl->buf ? 0 : -ENOMEM;
}

/* Slot k's chunk, hashed and stored by the worker: its hold is now put[k]'s. */
static void flush_take_ph(struct ofile *of, struct flush *fl, uint64_t k)
{
	struct ph_slot *r = &of->ph[k];

	fl->nl[k] = r->ref;
	fl->put[k] = 1; /* has its row: nothing to forget on failure */
	fl->stored[k] = r->stored;
	fl->codecs[k] = r->codec;
	if (r->isnew)
		fl->stored_new += r->stored;
	r->valid = false;
}

/* The length of slot k of the new list. */
static size_t flush_need(const struct ofile *of, const struct flush *fl, uint64_t k)
{
	uint64_t start = grid_start(fl->g, k);

	return (size_t)(of->size - start < grid_len(fl->g, k) ? of->size - start
							      : grid_len(fl->g, k));
}

/* The bytes of slot k (need of them) into fl->buf: from the overlay, the
 * base chunk (zero-filled past its end) or zeros. */
static int flush_read(struct ofile *of, struct flush *fl, uint64_t k, size_t need)
{
	struct store *st = of->st;
	int rc;

	if (fl->regrid || slot_dirty(of, k))
		return pread_zero(of->fd, fl->buf, need, grid_start(fl->g, k));
	if (k >= of->n_base) {
		memset(fl->buf, 0, need);
		return 0;
	}
	rc = base_damage(of, k, chunk_get(st->cs, &of->base[k], fl->buf, CHUNK_SIZE));
	if (rc == 0 && of->base[k].raw_len < need)
		memset(fl->buf + of->base[k].raw_len, 0, need - of->base[k].raw_len);
	return rc;
}

/* Load: slot k of the new list, from the overlay, the base, the worker or
 * zeros, stored as a chunk held by this flush. */
static int flush_slot(struct ofile *of, struct flush *fl, uint64_t k)
{
	struct store *st = of->st;
	size_t need = flush_need(of, fl, k);
	uint32_t slen = 0;
	int used = 0, rc = 0;
	bool zero = false;

	if (!fl->regrid && slot_dirty(of, k) && k < of->ph_cap && of->ph[k].valid &&
	    of->ph[k].ref.raw_len == need) {
		flush_take_ph(of, fl, k);
		return 0;
	}
	if (!fl->regrid && !slot_dirty(of, k) && k < of->n_base && of->base[k].raw_len == need) {
		fl->nl[k] = of->base[k]; /* unchanged: shared as it is */
		return 0;
	} else if (!fl->regrid && !slot_dirty(of, k) && k >= of->n_base && need == CHUNK_SIZE &&
		   fl->zero_k != UINT64_MAX) {
		/* a hole: the zero chunk this flush already stored */
		store_mu_lock(st);
		rc = held_add(&st->held, fl->nl[fl->zero_k].hash);
		store_mu_unlock(st);
		if (rc < 0)
			return rc;
		fl->nl[k] = fl->nl[fl->zero_k];
		fl->put[k] = 1;
		fl->stored[k] = fl->stored[fl->zero_k];
		fl->codecs[k] = fl->codecs[fl->zero_k];
		return 0;
	}
	/* the overlay, a short base chunk the file has grown past, or a hole */
	zero = !fl->regrid && !slot_dirty(of, k) && k >= of->n_base && need == CHUNK_SIZE;
	rc = flush_read(of, fl, k, need);
	if (rc < 0)
		return rc;
	if (of->codec < 0)
		of->codec = chunk_auto_codec(fl->buf, need); /* decided once per file */
	rc = put_held(of, fl->buf, need, of->codec, false, &fl->nl[k], &slen, &used);
	if (rc < 0)
		return rc;
	fl->put[k] = rc == 1 ? PUT_NEW : 1;
	if (zero)
		fl->zero_k = k;
	if (rc == 1)
		fl->stored_new += slen;
	fl->stored[k] = slen;
	fl->codecs[k] = (uint8_t)used;
	return 0;
}

/* Slot k's chunk stored again (rewritten): gc deleted, or was deleting,
 * the file a put of this flush found. */
static int flush_restore(struct ofile *of, struct flush *fl, uint64_t k)
{
	struct store *st = of->st;
	size_t need = flush_need(of, fl, k);
	uint32_t slen = 0;
	int used = 0, rc = flush_read(of, fl, k, need);

	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&st->gc_rw);
	rc = chunk_put_ref(st->cs, fl->buf, &fl->nl[k], fl->codecs[k], CHUNK_PUT_REWRITE, &slen,
			   &used);
	pthread_rwlock_unlock(&st->gc_rw);
	if (rc < 0)
		return rc;
	if (fl->put[k] != PUT_NEW)
		fl->stored_new += slen;
	fl->put[k] = PUT_NEW;
	fl->stored[k] = slen;
	fl->codecs[k] = (uint8_t)used;
	return 0;
}

/* Several mounts: every chunk this flush relies on (its puts' and the
 * worker's) is stamped in one statement before any reference to it is
 * recorded (store_chunks_hold); one gc was deleting, or whose row went
 * while its file was found, is stored again first. */
static int flush_hold(struct ofile *of, struct flush *fl)
{
	struct store *st = of->st;
	size_t m = fl->n_new ? (size_t)fl->n_new : 1, n = 0, i;
	struct chunk_ref *refs = malloc(m * sizeof(*refs));
	uint32_t *stored = malloc(m * sizeof(*stored));
	uint64_t *slot = malloc(m * sizeof(*slot));
	uint8_t *codecs = malloc(m);
	bool *made = malloc(m * sizeof(*made)), *again = malloc(m * sizeof(*again));
	int rc = refs && stored && slot && codecs && made && again ? 0 : -ENOMEM;

	for (uint64_t k = 0; rc == 0 && k < fl->n_new; k++) {
		if (!fl->put[k])
			continue;
		refs[n] = fl->nl[k];
		stored[n] = fl->stored[k];
		codecs[n] = fl->codecs[k];
		made[n] = fl->put[k] == PUT_NEW;
		slot[n++] = k;
	}
	if (rc == 0)
		rc = store_chunks_hold(st, refs, stored, codecs, made, n, again);
	for (i = 0; rc == 0 && i < n; i++)
		if (again[i])
			rc = flush_restore(of, fl, slot[i]);
	if (rc == 0)
		store_crash_point(st, "put:held");
	free(refs);
	free(stored);
	free(slot);
	free(codecs);
	free(made);
	free(again);
	return rc;
}

/* The node row takes the new list: references move from the old list's
 * changed chunks to the new ones (st->mu held, in a tx). */
static int flush_row(struct ofile *of, const struct flush *fl)
{
	struct store *st = of->st;
	const struct chunk_ref *nl = fl->nl;
	uint64_t k;
	int rc = 0;

	for (k = 0; rc == 0 && k < fl->n_new; k++)
		if (k >= of->n_base_row || memcmp(nl[k].hash, of->base[k].hash, CHUNK_HASH_LEN))
			rc = store_chunk_ref(st, &nl[k], 1, fl->stored[k], fl->codecs[k]);
	for (k = 0; rc == 0 && k < of->n_base_row; k++)
		if (k >= fl->n_new || memcmp(nl[k].hash, of->base[k].hash, CHUNK_HASH_LEN))
			rc = store_chunk_ref(st, &of->base[k], -1, 0, 0);
	store_crash_point(st, "flush:mid_transaction");
	if (rc == 0)
		rc = index_node_set_chunks(st->ix, of->node, nl, (size_t)fl->n_new, of->size,
					   of->mtime_ns);
	if (rc == 0 && fl->stored_new)
		rc = index_ckpt_add_stored(st->ix, of->ckpt, fl->stored_new);
	return rc;
}

/* Apply, in one transaction: every chunk written gets a row, referenced or
 * not, so gc finds it; the node row changes for staging data or an aborted
 * version's leftovers kept for inspection, never for a committed version,
 * whose bytes are fixed. The open file then holds the new list. */
static int flush_record(struct ofile *of, const struct flush *fl)
{
	struct store *st = of->st;
	struct index_node n;
	bool unlinked = atomic_load(&of->unlinked), row;
	uint64_t k;
	int rc, vstate;

	store_mu_lock(st);
	rc = index_node_get(st->ix, of->node, &n);
	vstate = rc == 0 ? n.vstate : -1;
	if (rc < 0 && rc != -ENOENT)
		goto out_unlock;
	row = !unlinked && (vstate == VER_STAGING || vstate == VER_ABORTED);
	if (!row && !unlinked && vstate >= 0 && vstate != VER_DEAD) {
		rc = -EROFS;
		goto out_unlock;
	}
	rc = index_tx_begin(st->ix);
	for (k = 0; rc == 0 && k < fl->n_new; k++)
		if (fl->put[k])
			rc = store_chunk_ref(st, &fl->nl[k], 0, fl->stored[k], fl->codecs[k]);
	if (row && rc == 0)
		rc = flush_row(of, fl);
	rc = index_tx_end(st->ix, rc);
	if (rc == 0) {
		rc = held_add_list(&st->held, fl->nl, (size_t)fl->n_new);
		if (rc == 0)
			held_del_list(&st->held, of->base, of->n_base_row);
	}
out_unlock:
	store_mu_unlock(st);
	return rc;
}

/* The recorded list becomes the base; the overlay is emptied. */
static int flush_adopt(struct ofile *of, struct flush *fl)
{
	int rc = 0;

	free(of->base);
	of->base = fl->nl;
	fl->nl = NULL;
	of->n_base = of->n_base_row = (size_t)fl->n_new;
	of->grid = fl->g;
	if (of->fd >= 0 && ftruncate(of->fd, 0) < 0)
		rc = -errno; /* the bitmap is cleared anyway: the data is in chunks */
	if (of->dirty)
		memset(of->dirty, 0, (of->dirty_cap + 7) / 8);
	of->n_dirty = 0;
	of->meta_dirty = false;
	return rc;
}

/* Drops the holds taken while putting (the list holds its own now); after
 * a failure, chunk files this flush created may have no row (a full disk
 * fails the index write or a later put): none is left behind. */
static void flush_release(struct ofile *of, struct flush *fl, int rc)
{
	struct store *st = of->st;
	const struct chunk_ref *list = fl->nl ? fl->nl : of->base;
	uint64_t k;

	store_mu_lock(st);
	for (k = 0; fl->put && k < fl->n_new; k++)
		if (fl->put[k] && (rc == 0 || fl->put[k] != PUT_NEW))
			held_del(&st->held, list[k].hash);
	store_mu_unlock(st);
	for (k = 0; rc < 0 && fl->put && k < fl->n_new; k++)
		if (fl->put[k] == PUT_NEW)
			put_forget(st, list[k].hash, true);
}

/* Chunks the dirty slots and records the new list (of->rw held for writing). */
static int flush_locked(struct ofile *of)
{
	struct flush fl = { .zero_k = UINT64_MAX };
	uint64_t k;
	int rc;

	ph_drain(of);
	if (!of->n_dirty && !of->meta_dirty)
		return 0;
	rc = flush_plan(of, &fl);
	if (rc == 0) {
		for (k = 0; rc == 0 && k < fl.n_new; k++)
			rc = flush_slot(of, &fl, k);
		if (rc == 0 && store_multi(of->st))
			rc = flush_hold(of, &fl);
		if (rc == 0)
			rc = flush_record(of, &fl);
		if (rc == 0)
			rc = flush_adopt(of, &fl);
		flush_release(of, &fl, rc);
	}
	free(fl.nl);
	free(fl.stored);
	free(fl.codecs);
	free(fl.put);
	free(fl.buf);
	return rc;
}

int store_file_flush(struct store_file *f)
{
	int rc;

	if (!(f->flags & STORE_F_WRITE))
		return 0;
	pthread_rwlock_wrlock(&f->of->rw);
	rc = flush_locked(f->of);
	pthread_rwlock_unlock(&f->of->rw);
	return rc;
}

int store_file_close(struct store_file *f)
{
	int rc = 0;

	if (!f)
		return 0;
	if (f->flags & STORE_F_WRITE)
		rc = store_file_flush(f);
	ofile_put(f->of);
	pthread_mutex_destroy(&f->cache_mu);
	free(f->cache);
	free(f);
	return rc;
}

int store_flush_version(struct store *st, int64_t version)
{
	struct ofile **list = NULL, *of;
	size_t n = 0, i;
	int rc = 0;

	store_mu_lock(st);
	for (of = st->files; of; of = of->next)
		n += of->version == version;
	if (n) {
		list = malloc(n * sizeof(*list));
		if (!list) {
			store_mu_unlock(st);
			return -ENOMEM;
		}
		n = 0;
		for (of = st->files; of; of = of->next) {
			if (of->version == version) {
				of->refs++; /* kept alive while flushing unlocked */
				list[n++] = of;
			}
		}
	}
	store_mu_unlock(st);
	for (i = 0; i < n; i++) {
		int frc;

		pthread_rwlock_wrlock(&list[i]->rw);
		frc = flush_locked(list[i]);
		pthread_rwlock_unlock(&list[i]->rw);
		if (frc < 0 && rc == 0)
			rc = frc;
		ofile_put(list[i]);
	}
	free(list);
	return rc;
}

void store_files_close_all(struct store *st)
{
	store_mu_lock(st);
	while (st->files) {
		struct ofile *of = st->files;

		st->files = of->next;
		held_del_list(&st->held, of->base, of->n_base_row);
		ph_release_locked(of);
		store_mu_unlock(st); /* destroying takes no store lock */
		ofile_destroy(of);
		store_mu_lock(st);
	}
	store_mu_unlock(st);
}

/* ---- reading a chunk list (commit checks, metadata files) ---- */

void chunk_reader_init(struct chunk_reader *r, struct store *st, const struct chunk_ref *refs,
		       size_t n, uint64_t size)
{
	r->st = st;
	r->refs = refs;
	r->n = n;
	r->size = size;
	r->grid = grid_of(refs, n);
	r->buf = NULL;
	r->cur = SIZE_MAX;
}

void chunk_reader_release(struct chunk_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

int chunk_reader_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct chunk_reader *r = ctx;
	uint8_t *p = buf;

	if (off > r->size || len > r->size - off)
		return -EINVAL;
	if (!r->buf) {
		r->buf = malloc(CHUNK_SIZE);
		if (!r->buf)
			return -ENOMEM;
	}
	while (len) {
		uint64_t k = grid_slot(r->grid, off);
		size_t so = (size_t)(off - grid_start(r->grid, k)), n = grid_len(r->grid, k) - so,
		       have;

		if (n > len)
			n = len;
		if (k >= r->n) {
			memset(p, 0, n);
		} else {
			if (r->cur != k) {
				int rc = chunk_get(r->st->cs, &r->refs[k], r->buf, CHUNK_SIZE);

				if (rc < 0) {
					r->cur = SIZE_MAX;
					if (rc ==
					    -EIO) { /* the next save of these bytes rewrites it */
						store_mu_lock(r->st);
						store_damage_mark_locked(r->st, r->refs[k].hash,
									 "commit check");
						store_mu_unlock(r->st);
					}
					return rc == -ENOENT || rc == -ETIMEDOUT ? -EIO : rc;
				}
				r->cur = (size_t)k;
			}
			have = so < r->refs[k].raw_len ? r->refs[k].raw_len - so : 0;
			if (have > n)
				have = n;
			memcpy(p, r->buf + so, have);
			memset(p + have, 0, n - have);
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}
