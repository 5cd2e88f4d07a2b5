/* The in-memory chunk backend (chunk_backend.h), for tests: a hash table of
 * objects under one mutex. Each open is a new, empty store (opts->spec is
 * ignored) and everything goes with close. Puts are "durable" when they
 * return, so barrier, reuse, prefetch and cleanup are left NULL: the mem
 * backend is also the test that those optional ops may be missing.
 *
 * Thread safety: every op takes m->mu; object bytes are copied in and out
 * under it, so a get never sees a replace half done.
 */
#include "chunk_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mem_obj {
	struct mem_obj *next; /* bucket chain */
	uint8_t hash[CHUNK_HASH_LEN];
	int64_t mtime_ns;
	size_t len;
	uint8_t *data;
};

#define MEM_BUCKETS 4096 /* hashes are uniform: their first bytes index */

struct chunk_mem {
	struct chunk_backend base;
	pthread_mutex_t mu;
	struct mem_obj *buckets[MEM_BUCKETS]; /* protected by mu */
};

static struct chunk_mem *mem_of(struct chunk_backend *be)
{
	return (struct chunk_mem *)be;
}

static struct mem_obj **bucket(struct chunk_mem *m, const uint8_t hash[CHUNK_HASH_LEN])
{
	return &m->buckets[(hash[0] << 8 | hash[1]) % MEM_BUCKETS];
}

/* The link that points at the object of hash (*link NULL when absent).
 * Caller holds m->mu. */
static struct mem_obj **find(struct chunk_mem *m, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct mem_obj **p = bucket(m, hash);

	while (*p && memcmp((*p)->hash, hash, CHUNK_HASH_LEN) != 0)
		p = &(*p)->next;
	return p;
}

static int mem_open(const struct chunk_opts *opts, struct chunk_backend **out)
{
	struct chunk_mem *m;
	int rc;

	(void)opts;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = pthread_mutex_init(&m->mu, NULL);
	if (rc != 0) {
		free(m);
		return -rc;
	}
	m->base.ops = &chunk_backend_mem;
	*out = &m->base;
	return 0;
}

static void mem_close(struct chunk_backend *be)
{
	struct chunk_mem *m = mem_of(be);

	if (!m)
		return;
	for (size_t i = 0; i < MEM_BUCKETS; i++) {
		while (m->buckets[i]) {
			struct mem_obj *o = m->buckets[i];

			m->buckets[i] = o->next;
			free(o->data);
			free(o);
		}
	}
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* The iov bytes in one new buffer, stamped now; NULL when out of memory. */
static struct mem_obj *obj_new(const uint8_t hash[CHUNK_HASH_LEN], const struct iovec *iov,
			       int iovcnt)
{
	struct mem_obj *o = calloc(1, sizeof(*o));
	struct timespec ts;
	size_t off = 0;

	if (!o)
		return NULL;
	for (int i = 0; i < iovcnt; i++)
		o->len += iov[i].iov_len;
	o->data = malloc(o->len ? o->len : 1);
	if (!o->data) {
		free(o);
		return NULL;
	}
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue; /* an empty payload may come with a NULL base */
		memcpy(o->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	memcpy(o->hash, hash, CHUNK_HASH_LEN);
	clock_gettime(CLOCK_REALTIME, &ts);
	o->mtime_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return o;
}

static void obj_free(struct mem_obj *o)
{
	free(o->data);
	free(o);
}

/* Links o under its hash: in place of an existing object when replace,
 * else only when absent (then 1; 0 and o freed when present). */
static int mem_store(struct chunk_backend *be, struct mem_obj *o, int replace)
{
	struct chunk_mem *m = mem_of(be);
	struct mem_obj **p, *old;

	if (!o)
		return -ENOMEM;
	pthread_mutex_lock(&m->mu);
	p = find(m, o->hash);
	old = *p;
	if (old && !replace) {
		pthread_mutex_unlock(&m->mu);
		obj_free(o);
		return 0;
	}
	o->next = old ? old->next : NULL;
	*p = o;
	pthread_mutex_unlock(&m->mu);
	if (old)
		obj_free(old);
	return 1;
}

static int mem_put(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		   const struct iovec *iov, int iovcnt)
{
	return mem_store(be, obj_new(hash, iov, iovcnt), 0);
}

static int mem_replace(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		       const struct iovec *iov, int iovcnt)
{
	int rc = mem_store(be, obj_new(hash, iov, iovcnt), 1);

	return rc < 0 ? rc : 0;
}

static int mem_get(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		   const struct iovec *iov, int iovcnt, uint64_t *size)
{
	struct chunk_mem *m = mem_of(be);
	struct mem_obj *o;
	size_t off = 0;

	pthread_mutex_lock(&m->mu);
	o = *find(m, hash);
	if (!o) {
		pthread_mutex_unlock(&m->mu);
		return -ENOENT;
	}
	for (int i = 0; i < iovcnt && off < o->len; i++) {
		size_t n = o->len - off < iov[i].iov_len ? o->len - off : iov[i].iov_len;

		memcpy(iov[i].iov_base, o->data + off, n);
		off += n;
	}
	*size = o->len;
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static int mem_stat(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		    struct chunk_obj_stat *st)
{
	struct chunk_mem *m = mem_of(be);
	struct mem_obj *o;

	pthread_mutex_lock(&m->mu);
	o = *find(m, hash);
	if (o) {
		st->size = o->len;
		st->mtime_ns = o->mtime_ns;
	}
	pthread_mutex_unlock(&m->mu);
	return o ? 0 : -ENOENT;
}

static int mem_remove(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_mem *m = mem_of(be);
	struct mem_obj **p, *o;

	pthread_mutex_lock(&m->mu);
	p = find(m, hash);
	o = *p;
	if (o)
		*p = o->next;
	pthread_mutex_unlock(&m->mu);
	if (!o)
		return -ENOENT;
	obj_free(o);
	return 0;
}

/* fn may call back into the backend (verify gets, recovery removes), so the
 * names are copied out first and fn runs without the mutex. */
static int mem_foreach(struct chunk_backend *be, chunk_foreach_fn fn, void *ctx)
{
	struct chunk_mem *m = mem_of(be);
	uint8_t(*names)[CHUNK_HASH_LEN] = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < MEM_BUCKETS && rc == 0; i++) {
		for (struct mem_obj *o = m->buckets[i]; o; o = o->next) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				void *p = realloc(names, ncap * CHUNK_HASH_LEN);

				if (!p) {
					rc = -ENOMEM;
					break;
				}
				names = p;
				cap = ncap;
			}
			memcpy(names[n++], o->hash, CHUNK_HASH_LEN);
		}
	}
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(ctx, names[i]);
	free(names);
	return rc;
}

const struct chunk_backend_ops chunk_backend_mem = {
	.name = "mem",
	.open = mem_open,
	.close = mem_close,
	.put = mem_put,
	.replace = mem_replace,
	.get = mem_get,
	.stat = mem_stat,
	.remove = mem_remove,
	.foreach = mem_foreach,
};
