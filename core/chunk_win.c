/* The read window (chunk_win.h). */
#include "chunk_win.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { SLOT_EMPTY, SLOT_LOADING, SLOT_READY, SLOT_FAILED };

struct chunk_win_slot {
	struct chunk_ref ref; /* what it holds or loads (LOADING, READY) */
	uint8_t *buf;	      /* CHUNK_WHOLE_LEN, aligned; NULL until first used */
	const uint8_t *data;  /* raw bytes inside buf, when READY */
	int state, rc;	      /* rc: the failed load's result, when FAILED */
	unsigned refs;	      /* holders and waiters */
	size_t served;	      /* bytes handed on since it was loaded */
	uint64_t pos;	      /* where the reader wanted it first */
	bool again;	      /* wanted at another pos too: kept past a full serve */
	uint64_t used;	      /* last get, for eviction (least recent first) */
};

struct chunk_win {
	struct chunk_store *cs;
	pthread_mutex_t mu; /* guards the slots and tick */
	pthread_cond_t cv;  /* a load finished */
	uint64_t tick;
	struct chunk_win_slot slot[CHUNK_WIN_SLOTS];
};

static atomic_int budget = CHUNK_WIN_BUDGET;

/* Buffers given back, for reuse. */
static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *kept[CHUNK_WIN_BUDGET];
static int n_kept;

int chunk_win_budget_left(void)
{
	return atomic_load(&budget);
}

uint8_t *chunk_buf_get(void)
{
	uint8_t *b = NULL;

	pthread_mutex_lock(&kept_mu);
	if (n_kept > 0)
		b = kept[--n_kept];
	pthread_mutex_unlock(&kept_mu);
	if (!b && posix_memalign((void **)&b, CHUNK_WHOLE_ALIGN, CHUNK_WHOLE_LEN) != 0)
		b = NULL;
	return b;
}

void chunk_buf_put(uint8_t *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&kept_mu);
	if (n_kept < CHUNK_WIN_BUDGET) {
		kept[n_kept++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&kept_mu);
	free(b);
}

/* Gives s's buffer back to the budget and the kept ones. */
static void slot_release(struct chunk_win_slot *s)
{
	chunk_buf_put(s->buf);
	s->buf = NULL;
	atomic_fetch_add(&budget, 1);
}

struct chunk_win *chunk_win_new(struct chunk_store *cs)
{
	struct chunk_win *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cs = cs;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	return w;
}

void chunk_win_free(struct chunk_win *w)
{
	if (!w)
		return;
	for (int i = 0; i < CHUNK_WIN_SLOTS; i++)
		if (w->slot[i].buf)
			slot_release(&w->slot[i]);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static bool same_ref(const struct chunk_ref *a, const struct chunk_ref *b)
{
	return a->xxh == b->xxh && a->raw_len == b->raw_len &&
		memcmp(a->hash, b->hash, CHUNK_HASH_LEN) == 0;
}

/* Gives s a buffer from the budget: false when it is spent (or no memory). */
static bool slot_buffer(struct chunk_win_slot *s)
{
	if (atomic_fetch_sub(&budget, 1) <= 0) {
		atomic_fetch_add(&budget, 1);
		return false;
	}
	s->buf = chunk_buf_get();
	if (!s->buf) {
		atomic_fetch_add(&budget, 1);
		return false;
	}
	return true;
}

/* A slot to load into: an empty one (with a buffer, or one the budget
 * gives), else the least recently used ready one nobody holds. NULL when
 * there is none. w->mu held. */
static struct chunk_win_slot *victim_locked(struct chunk_win *w)
{
	struct chunk_win_slot *empty = NULL, *lru = NULL;

	for (int i = 0; i < CHUNK_WIN_SLOTS; i++) {
		struct chunk_win_slot *s = &w->slot[i];

		if (s->refs)
			continue;
		if (s->state == SLOT_EMPTY && (!empty || (!empty->buf && s->buf)))
			empty = s;
		else if (s->state == SLOT_READY && (!lru || s->used < lru->used))
			lru = s;
	}
	if (empty && (empty->buf || slot_buffer(empty)))
		return empty;
	return lru;
}

/* The slot holding or loading ref, or NULL. w->mu held. */
static struct chunk_win_slot *find_locked(struct chunk_win *w, const struct chunk_ref *ref)
{
	for (int i = 0; i < CHUNK_WIN_SLOTS; i++)
		if ((w->slot[i].state == SLOT_LOADING || w->slot[i].state == SLOT_READY) &&
		    same_ref(&w->slot[i].ref, ref))
			return &w->slot[i];
	return NULL;
}

int chunk_win_get(struct chunk_win *w, const struct chunk_ref *ref, uint64_t pos,
		  struct chunk_win_slot **slot, const uint8_t **data)
{
	struct chunk_win_slot *s = NULL;
	int rc;

	pthread_mutex_lock(&w->mu);
	s = find_locked(w, ref);
	if (s) {
		s->refs++;
		while (s->state == SLOT_LOADING)
			pthread_cond_wait(&w->cv, &w->mu);
	} else {
		s = victim_locked(w);
		if (!s) {
			pthread_mutex_unlock(&w->mu);
			return -ENOBUFS;
		}
		s->ref = *ref;
		s->state = SLOT_LOADING;
		s->refs = 1;
		s->served = 0;
		s->pos = pos;
		s->again = false;
		pthread_mutex_unlock(&w->mu);
		rc = chunk_get_whole(w->cs, ref, s->buf, &s->data);
		pthread_mutex_lock(&w->mu);
		s->state = rc < 0 ? SLOT_FAILED : SLOT_READY;
		s->rc = rc;
		pthread_cond_broadcast(&w->cv);
	}
	s->used = ++w->tick;
	rc = s->state == SLOT_FAILED ? s->rc : 0;
	pthread_mutex_unlock(&w->mu);
	if (rc < 0) {
		chunk_win_put(w, s, 0);
		return rc;
	}
	*slot = s;
	*data = s->data;
	return 0;
}

void chunk_win_want(struct chunk_win *w, const struct chunk_ref *ref, uint64_t pos)
{
	struct chunk_win_slot *s;

	pthread_mutex_lock(&w->mu);
	s = find_locked(w, ref);
	if (s && s->pos != pos)
		s->again = true;
	pthread_mutex_unlock(&w->mu);
}

void chunk_win_put(struct chunk_win *w, struct chunk_win_slot *s, size_t served)
{
	pthread_mutex_lock(&w->mu);
	s->served += served;
	if (--s->refs == 0 && s->state == SLOT_FAILED) {
		s->state = SLOT_EMPTY; /* nothing of a failed load is kept */
	} else if (s->refs == 0 && s->served >= s->ref.raw_len && s->again) {
		s->again = false; /* its next place is still to be served */
		s->served = 0;
	} else if (s->refs == 0 && s->served >= s->ref.raw_len) {
		/* all of it handed on: the next reader is the kernel's cache */
		s->state = SLOT_EMPTY;
		slot_release(s);
	}
	pthread_mutex_unlock(&w->mu);
}
