/* The Ceph RADOS chunk backend (chunk_backend.h): one object per chunk,
 * named by the 64 lower-case hex digits of its hash, in pool P (namespace N).
 *
 * Spec (chunk_opts.spec): pool=P[,ns=N][,conf=FILE][,id=ID][,keyring=FILE]
 * [,timeout=SECONDS][,inflight=N]. conf: librados's own search when absent
 * (/etc/ceph/ceph.conf ...); id: admin; timeout (osd and mon op timeouts,
 * client_mount_timeout): 30 s; inflight: puts in flight, 8.
 *
 * Put-if-absent is a stat, then one write op {create EXCLUSIVE, write_full}
 * sent as aio: put copies the bytes, starts the op and returns 1 without
 * waiting (it blocks only while `inflight` puts are outstanding). So:
 * - a get, stat, remove or replace of a name whose put is in flight waits for
 *   that put first (visible at once to this process);
 * - a second put of a name in flight waits for the first and returns 0 when
 *   it succeeded (exactly one of two racing puts in one process returns 1);
 * - a put that fails after returning 1 is remembered: the next put returns
 *   its error (the writer learns it early) and every barrier fails while the
 *   object is still absent, so no commit can come to reference it. The first
 *   FAIL_KEEP failed puts keep their bytes: a barrier that finds such an
 *   object absent writes it again (the same exclusive create, synchronous),
 *   so a transient failure heals at the next barrier. A failed name is
 *   forgotten once it is present (put again, replaced, found or written by a
 *   barrier) or removed (gc reclaimed its row: nothing references it; even
 *   when that remove fails or the cluster is sick).
 * - EEXIST at completion (another node created it between our stat and our
 *   create) is success: its object is whole and acknowledged. That put
 *   returned 1 though none of ours was stored: counters and stored_len of
 *   that rare cross-node race are ours, the object theirs (same raw bytes).
 * A RADOS acknowledgement means committed on every replica, so barrier =
 * wait for the puts that returned before it; reuse stays NULL (an object a
 * get can see is acknowledged) and cleanup NULL (exclusive create leaves no
 * partial object). rados_set_pool_full_try makes a full pool say ENOSPC at
 * once; the op timeouts turn a sick cluster into -ETIMEDOUT (ETIME,
 * ECONNREFUSED and the like are mapped to it and logged), never a hang:
 * not -EIO, which chunk.c reads as damaged data (chunk.c gives it to its
 * callers as -EIO). A cluster that did not answer one op in time is taken
 * as sick for the next `timeout` seconds: every op then fails at once with
 * -ETIMEDOUT instead of waiting its own timeout (a save of N chunks fails
 * in one timeout, not N); the first op after that tries for real.
 *
 * prefetch starts an aio read of the whole object into one of PF_SLOTS
 * buffers (~9.4 MiB per backend, matching the store's read-ahead of 8
 * chunks); the next get of that name takes it. An error there is not
 * trusted: get reads again.
 *
 * mtime: rados_stat has whole seconds; stat reports the end of that second
 * (an object never looks older than it is: gc grace rules stay safe).
 *
 * Thread safety: one mutex (r->mu) over the slots and the failed list, one
 * condition variable that librados's completion callbacks signal.
 */
#include "chunk_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <rados/librados.h>

#define RADOS_INFLIGHT_DEFAULT 8
#define RADOS_INFLIGHT_MAX 256
#define RADOS_TIMEOUT_DEFAULT 30
#define PF_SLOTS 8
#define FAIL_KEEP 16 /* failed puts whose bytes are kept for a retry */
/* a prefetch reads up to this much: more than any chunk object, so a read
 * that fills it is not trusted as whole */
#define PF_BUF (CHUNK_SIZE + CHUNK_SIZE / 4)

enum { S_FREE, S_STAT, S_BUSY, S_DONE, S_TAKEN };

struct rslot {
	struct chunk_rados *r;
	int state;  /* S_*: STAT (put checking), BUSY (aio out), DONE, TAKEN (a get copies) */
	bool stale; /* prefetch: the object changed since; never served */
	uint8_t hash[CHUNK_HASH_LEN];
	uint64_t seq; /* put: when issued (barrier); prefetch: age (eviction) */
	rados_completion_t c;
	rados_write_op_t op;
	char *buf;
	size_t len; /* put: of buf */
	int rc;
};

struct rfail {
	uint8_t hash[CHUNK_HASH_LEN];
	int err;
	char *buf; /* the put's bytes for the barrier's retry (NULL: none kept) */
	size_t len;
};

struct chunk_rados {
	struct chunk_backend base;
	rados_t cl;
	rados_ioctx_t io;
	char *pool, *ns;
	int logged;
	int64_t timeout_ns;
	int64_t sick_until; /* CLOCK_MONOTONIC ns; atomic: ops fail at once before it */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* all below: protected by mu */
	struct rslot *puts;
	int n_puts;
	struct rslot pf[PF_SLOTS];
	uint64_t seq;
	struct rfail *failed;
	size_t n_failed, cap_failed;
	int fail_new;	/* a failed put no later put has reported yet */
	bool fail_lost; /* one could not be recorded: every barrier fails */
};

static struct chunk_rados *rados_of(struct chunk_backend *be)
{
	return (struct chunk_rados *)be;
}

/* ---- errors ---- */

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* -ETIMEDOUT while the cluster is taken as sick (an op timed out less than
 * `timeout` seconds ago), else 0. */
static int sick(struct chunk_rados *r)
{
	return mono_ns() < __atomic_load_n(&r->sick_until, __ATOMIC_RELAXED) ? -ETIMEDOUT : 0;
}

/* A librados result as the backend contract wants it: a cluster that does
 * not answer in time is -ETIMEDOUT (and sick for a while), a full pool or
 * quota -ENOSPC; logged (the first few) with what failed. */
static int rerr(struct chunk_rados *r, int rc, const char *what, const uint8_t *hash)
{
	int out = rc;
	char hex[65] = "";

	switch (rc) {
	case -ETIMEDOUT:
	case -ETIME:
	case -ECONNREFUSED:
	case -ENOTCONN:
	case -ESHUTDOWN:
	case -ECANCELED:
	case -EAGAIN:
		out = -ETIMEDOUT;
		__atomic_store_n(&r->sick_until, mono_ns() + r->timeout_ns, __ATOMIC_RELAXED);
		break;
	case -EDQUOT:
	case -ENOSPC:
		out = -ENOSPC;
		break;
	default:
		return rc;
	}
	if (hash)
		chunk_hex(hash, hex);
	if (__atomic_fetch_add(&r->logged, 1, __ATOMIC_RELAXED) < 20)
		fprintf(stderr, "ckptfs: rados pool %s%s%s: %s %s: %s%s\n", r->pool,
			r->ns[0] ? " namespace " : "", r->ns, what, hex, strerror(-rc),
			out == -ETIMEDOUT ? " (cluster not answering within the timeout)" : "");
	return out;
}

/* ---- open / close ---- */

struct rados_spec {
	char *copy;
	const char *pool, *ns, *conf, *id, *keyring;
	long timeout, inflight;
};

static int spec_num(const char *k, const char *v, long max, long *out)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < 1 || n > max) {
		fprintf(stderr, "ckptfs: rados: %s=%s: a number from 1 to %ld\n", k, v, max);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static int spec_parse(const char *spec, struct rados_spec *s)
{
	static const char *const keys[] = { "pool", "ns", "conf", "id", "keyring" };
	char *w, *save = NULL;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	s->timeout = RADOS_TIMEOUT_DEFAULT;
	s->inflight = RADOS_INFLIGHT_DEFAULT;
	s->copy = strdup(spec ? spec : "");
	if (!s->copy)
		return -ENOMEM;
	for (w = strtok_r(s->copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save)) {
		char *v = strchr(w, '=');
		const char **slot[] = { &s->pool, &s->ns, &s->conf, &s->id, &s->keyring };
		size_t i;

		if (v)
			*v++ = '\0';
		for (i = 0; v && i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(w, keys[i]))
				break;
		if (v && i < sizeof(keys) / sizeof(keys[0]))
			*slot[i] = v;
		else if (v && !strcmp(w, "timeout"))
			rc = spec_num(w, v, 3600, &s->timeout);
		else if (v && !strcmp(w, "inflight"))
			rc = spec_num(w, v, RADOS_INFLIGHT_MAX, &s->inflight);
		else {
			fprintf(stderr,
				"ckptfs: rados: unknown option '%s' (pool=P[,ns=N][,conf=FILE]"
				"[,id=ID][,keyring=FILE][,timeout=SECONDS][,inflight=N])\n",
				w);
			rc = -EINVAL;
		}
	}
	if (rc == 0 && (!s->pool || !s->pool[0])) {
		fprintf(stderr, "ckptfs: rados: no pool=P in '%s'\n", spec ? spec : "");
		rc = -EINVAL;
	}
	return rc;
}

/* Sets up and connects r->cl, then r->io on the pool and namespace. */
static int rados_connect_spec(struct chunk_rados *r, const struct rados_spec *s)
{
	char t[32];
	int rc;

	snprintf(t, sizeof(t), "%ld", s->timeout);
	rc = rados_create(&r->cl, s->id && s->id[0] ? s->id : "admin");
	if (rc < 0)
		return rc;
	rc = rados_conf_read_file(r->cl, s->conf);
	if (rc < 0) {
		fprintf(stderr, "ckptfs: rados: cannot read %s: %s\n",
			s->conf ? s->conf : "the default ceph.conf", strerror(-rc));
		return rc;
	}
	if (s->keyring && (rc = rados_conf_set(r->cl, "keyring", s->keyring)) < 0)
		return rc;
	if ((rc = rados_conf_set(r->cl, "rados_osd_op_timeout", t)) < 0 ||
	    (rc = rados_conf_set(r->cl, "rados_mon_op_timeout", t)) < 0 ||
	    (rc = rados_conf_set(r->cl, "client_mount_timeout", t)) < 0)
		return rc;
	rc = rados_connect(r->cl);
	if (rc < 0) {
		fprintf(stderr, "ckptfs: rados: cannot connect to the cluster (%s, id %s): %s\n",
			s->conf ? s->conf : "default ceph.conf", s->id ? s->id : "admin",
			strerror(-rc));
		return rerr(r, rc, "connect", NULL);
	}
	rc = rados_ioctx_create(r->cl, s->pool, &r->io);
	if (rc < 0) {
		fprintf(stderr, "ckptfs: rados: pool %s: %s\n", s->pool,
			rc == -ENOENT ? "no such pool (create it first)" : strerror(-rc));
		return rerr(r, rc, "open pool", NULL);
	}
	rados_ioctx_set_namespace(r->io, s->ns ? s->ns : "");
	rados_set_pool_full_try(r->io);
	return 0;
}

static void rados_close(struct chunk_backend *be);

static int rados_open(const struct chunk_opts *opts, struct chunk_backend **out)
{
	struct rados_spec s;
	struct chunk_rados *r;
	int rc = spec_parse(opts->spec, &s);

	if (rc < 0) {
		free(s.copy);
		return rc;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		free(s.copy);
		return -ENOMEM;
	}
	r->base.ops = &chunk_backend_rados;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->n_puts = (int)s.inflight;
	r->timeout_ns = (int64_t)s.timeout * 1000000000;
	r->puts = calloc((size_t)r->n_puts, sizeof(*r->puts));
	r->pool = strdup(s.pool);
	r->ns = strdup(s.ns ? s.ns : "");
	rc = r->puts && r->pool && r->ns ? rados_connect_spec(r, &s) : -ENOMEM;
	free(s.copy);
	if (rc < 0) {
		rados_close(&r->base);
		return rc;
	}
	*out = &r->base;
	return 0;
}

/* Frees what a finished slot holds. mu held. */
static void slot_clear(struct rslot *s)
{
	if (s->c)
		rados_aio_release(s->c);
	if (s->op)
		rados_release_write_op(s->op);
	s->c = NULL;
	s->op = NULL;
	s->state = S_FREE;
	s->stale = false;
}

/* Waits until no slot of the array is out (STAT, BUSY, TAKEN). mu held. */
static void wait_all(struct chunk_rados *r, struct rslot *a, int n)
{
	for (int i = 0; i < n; i++)
		while (a[i].state == S_STAT || a[i].state == S_BUSY || a[i].state == S_TAKEN)
			pthread_cond_wait(&r->cv, &r->mu);
}

static void reap_puts(struct chunk_rados *r);
static void fail_forget(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN]);

static void rados_close(struct chunk_backend *be)
{
	struct chunk_rados *r = rados_of(be);

	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	if (r->puts) {
		wait_all(r, r->puts, r->n_puts);
		reap_puts(r);
	}
	wait_all(r, r->pf, PF_SLOTS);
	for (int i = 0; i < PF_SLOTS; i++) {
		slot_clear(&r->pf[i]);
		free(r->pf[i].buf);
	}
	pthread_mutex_unlock(&r->mu);
	if (r->io)
		rados_ioctx_destroy(r->io);
	if (r->cl)
		rados_shutdown(r->cl);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r->puts);
	while (r->n_failed)
		fail_forget(r, r->failed[0].hash);
	free(r->failed);
	free(r->pool);
	free(r->ns);
	free(r);
}

/* ---- slots, failures ---- */

static void slot_done(rados_completion_t c, void *arg)
{
	struct rslot *s = arg;
	struct chunk_rados *r = s->r;

	pthread_mutex_lock(&r->mu);
	s->rc = rados_aio_get_return_value(c);
	s->state = S_DONE;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static struct rslot *slot_find(struct rslot *a, int n, const uint8_t hash[CHUNK_HASH_LEN])
{
	for (int i = 0; i < n; i++)
		if (a[i].state != S_FREE && !memcmp(a[i].hash, hash, CHUNK_HASH_LEN))
			return &a[i];
	return NULL;
}

static ssize_t fail_find(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN])
{
	for (size_t i = 0; i < r->n_failed; i++)
		if (!memcmp(r->failed[i].hash, hash, CHUNK_HASH_LEN))
			return (ssize_t)i;
	return -1;
}

/* The name is present or gone for good: no barrier waits for it. mu held. */
static void fail_forget(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN])
{
	ssize_t i = fail_find(r, hash);

	if (i >= 0) {
		free(r->failed[i].buf);
		r->failed[i] = r->failed[--r->n_failed];
	}
}

/* Failed puts whose bytes are kept. mu held. */
static size_t fail_kept(const struct chunk_rados *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_failed; i++)
		n += r->failed[i].buf != NULL;
	return n;
}

/* A put that returned 1 failed: remembered until its name is present or
 * removed (on ENOMEM, fail_lost fails every later barrier). Takes the put's
 * bytes (*buf) for the barrier's retry while fewer than FAIL_KEEP are kept.
 * mu held. */
static void fail_add(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN], int err, char **buf,
		     size_t len)
{
	if (!r->fail_new)
		r->fail_new = err;
	if (fail_find(r, hash) >= 0)
		return;
	if (r->n_failed == r->cap_failed) {
		size_t ncap = r->cap_failed ? r->cap_failed * 2 : 16;
		void *p = realloc(r->failed, ncap * sizeof(*r->failed));

		if (!p) {
			r->fail_lost = true;
			return;
		}
		r->failed = p;
		r->cap_failed = ncap;
	}
	memcpy(r->failed[r->n_failed].hash, hash, CHUNK_HASH_LEN);
	r->failed[r->n_failed].err = err;
	r->failed[r->n_failed].buf = NULL;
	if (buf && fail_kept(r) < FAIL_KEEP) {
		r->failed[r->n_failed].buf = *buf;
		r->failed[r->n_failed].len = len;
		*buf = NULL;
	}
	r->n_failed++;
}

/* Finishes the puts that completed. mu held. */
static void reap_puts(struct chunk_rados *r)
{
	for (int i = 0; i < r->n_puts; i++) {
		struct rslot *s = &r->puts[i];

		if (s->state != S_DONE)
			continue;
		if (s->rc < 0 && s->rc != -EEXIST)
			fail_add(r, s->hash, rerr(r, s->rc, "put", s->hash), &s->buf, s->len);
		else
			fail_forget(r, s->hash);
		free(s->buf);
		s->buf = NULL;
		slot_clear(s);
	}
}

/* Drops a prefetched copy of hash: the object is about to change. mu held. */
static void pf_drop(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct rslot *s = slot_find(r->pf, PF_SLOTS, hash);

	if (s && s->state == S_DONE)
		slot_clear(s);
	else if (s)
		s->stale = true; /* reading (or being copied): never served again */
}

/* Waits until no put of hash is in flight, and drops a prefetched copy of
 * it when drop. mu held. */
static void wait_name(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN], bool drop)
{
	struct rslot *s;

	while ((s = slot_find(r->puts, r->n_puts, hash)) && s->state != S_DONE)
		pthread_cond_wait(&r->cv, &r->mu);
	reap_puts(r);
	if (drop)
		pf_drop(r, hash);
}

/* wait_name under mu, then the sick-cluster check: what an op on one object
 * does before it goes out. 0 or the sick window's error. */
static int name_ready(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN], bool drop)
{
	pthread_mutex_lock(&r->mu);
	wait_name(r, hash, drop);
	pthread_mutex_unlock(&r->mu);
	return sick(r);
}

static void oid_of(const uint8_t hash[CHUNK_HASH_LEN], char oid[65])
{
	chunk_hex(hash, oid);
}

/* ---- write ---- */

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* A free put slot reserved (S_STAT) for hash, or NULL with *rc: 0 when a
 * put of hash in flight succeeded meanwhile, or the error of an earlier
 * failed put not yet reported. mu held. */
static struct rslot *put_reserve(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN], int *rc)
{
	bool waited = false;

	for (;;) {
		struct rslot *s;

		reap_puts(r);
		if (r->fail_new) {
			*rc = r->fail_new;
			r->fail_new = 0;
			return NULL;
		}
		s = slot_find(r->puts, r->n_puts, hash);
		if (!s && waited && fail_find(r, hash) < 0) {
			*rc = 0; /* the put we waited for stored it */
			return NULL;
		}
		if (!s) {
			for (int i = 0; i < r->n_puts && !s; i++)
				if (r->puts[i].state == S_FREE)
					s = &r->puts[i];
			if (s) {
				s->state = S_STAT;
				s->r = r;
				memcpy(s->hash, hash, CHUNK_HASH_LEN);
				pf_drop(r, hash);
				return s;
			}
		} else if (s->state != S_STAT) {
			waited = true; /* sent: its outcome will be recorded */
		} /* else it may fail unsent, unrecorded: then we stat it ourselves */
		pthread_cond_wait(&r->cv, &r->mu);
	}
}

static int rados_put(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		     const struct iovec *iov, int iovcnt)
{
	struct chunk_rados *r = rados_of(be);
	size_t len = iov_total(iov, iovcnt), off = 0;
	uint64_t size;
	time_t mt;
	struct rslot *s;
	char oid[65];
	int rc = 0;

	oid_of(hash, oid);
	pthread_mutex_lock(&r->mu);
	s = put_reserve(r, hash, &rc);
	pthread_mutex_unlock(&r->mu);
	if (!s)
		return rc;
	rc = sick(r);
	if (rc == 0 && (rc = rados_stat(r->io, oid, &size, &mt)) < 0 && rc != -ENOENT)
		rc = rerr(r, rc, "put", hash);
	if (rc != -ENOENT) /* present (0), or failed */
		goto out_free_slot;
	s->buf = malloc(len ? len : 1);
	s->len = len;
	if (!s->buf) {
		rc = -ENOMEM;
		goto out_free_slot;
	}
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(s->buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	s->op = rados_create_write_op();
	if (!s->op || rados_aio_create_completion2(s, slot_done, &s->c) < 0) {
		rc = -ENOMEM;
		goto out_free_slot;
	}
	rados_write_op_create(s->op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	rados_write_op_write_full(s->op, s->buf, len);
	pthread_mutex_lock(&r->mu);
	s->state = S_BUSY;
	s->seq = ++r->seq;
	pthread_mutex_unlock(&r->mu);
	rc = rados_aio_write_op_operate(s->op, r->io, s->c, oid, NULL, 0);
	if (rc == 0)
		return 1;
	rc = rerr(r, rc, "put", hash);
	/* not sent: no completion will come */
	pthread_mutex_lock(&r->mu);
	s->state = S_STAT;
	pthread_mutex_unlock(&r->mu);
out_free_slot:
	pthread_mutex_lock(&r->mu);
	if (rc == 0)
		fail_forget(r, hash); /* present */
	free(s->buf);
	s->buf = NULL;
	slot_clear(s);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* After a replace or remove of hash went out: drops a prefetch that may
 * have started reading the old object since name_ready's drop, and forgets
 * a failed put of hash when present (the replace stored it). */
static void name_changed(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN], bool present)
{
	pthread_mutex_lock(&r->mu);
	pf_drop(r, hash);
	if (present)
		fail_forget(r, hash);
	pthread_mutex_unlock(&r->mu);
}

/* iov as the parts of one write op replacing the object. */
static int rados_replace(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
			 const struct iovec *iov, int iovcnt)
{
	struct chunk_rados *r = rados_of(be);
	rados_write_op_t op;
	uint64_t off = 0;
	char oid[65];
	int rc;

	oid_of(hash, oid);
	if ((rc = name_ready(r, hash, true)) < 0)
		return rc;
	op = rados_create_write_op();
	if (!op)
		return -ENOMEM;
	/* write_full of the first part truncates; the rest follow it */
	rados_write_op_write_full(op, iovcnt ? iov[0].iov_base : "", iovcnt ? iov[0].iov_len : 0);
	for (int i = 1; i < iovcnt; i++) {
		off += iov[i - 1].iov_len;
		if (iov[i].iov_len)
			rados_write_op_write(op, iov[i].iov_base, iov[i].iov_len, off);
	}
	rc = rados_write_op_operate(op, r->io, oid, NULL, 0);
	rados_release_write_op(op);
	name_changed(r, hash, rc == 0);
	return rerr(r, rc, "replace", hash);
}

/* ---- read ---- */

/* Copies a prefetched object into iov; 1 when served, 0 when the caller
 * must read it (none, stale, failed, or possibly larger than the buffer). */
static int pf_take(struct chunk_rados *r, const uint8_t hash[CHUNK_HASH_LEN],
		   const struct iovec *iov, int iovcnt, uint64_t *size)
{
	struct rslot *s;
	size_t off = 0, n;
	int got = 0;

	pthread_mutex_lock(&r->mu);
	wait_name(r, hash, false);
	while ((s = slot_find(r->pf, PF_SLOTS, hash)) && s->state == S_BUSY)
		pthread_cond_wait(&r->cv, &r->mu);
	if (s && s->state == S_DONE && !s->stale && s->rc >= 0 && (size_t)s->rc < PF_BUF) {
		s->state = S_TAKEN; /* no eviction while we copy */
		pthread_mutex_unlock(&r->mu);
		for (int i = 0; i < iovcnt && off < (size_t)s->rc; i++) {
			n = (size_t)s->rc - off < iov[i].iov_len ? (size_t)s->rc - off
								 : iov[i].iov_len;
			memcpy(iov[i].iov_base, s->buf + off, n);
			off += n;
		}
		*size = (uint64_t)s->rc;
		got = 1;
		pthread_mutex_lock(&r->mu);
	}
	if (s && (got || s->state == S_DONE)) {
		slot_clear(s); /* used or not trusted: one get only */
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return got;
}

static int rados_get(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
		     const struct iovec *iov, int iovcnt, uint64_t *size)
{
	struct chunk_rados *r = rados_of(be);
	rados_read_op_t op;
	size_t *nread = NULL;
	int *prv = NULL, srv = 0;
	uint64_t off = 0, sz = 0;
	time_t mt;
	char oid[65];
	int rc;

	if (pf_take(r, hash, iov, iovcnt, size))
		return 0;
	if ((rc = sick(r)) < 0)
		return rc;
	oid_of(hash, oid);
	op = rados_create_read_op();
	nread = calloc((size_t)iovcnt + 1, sizeof(*nread));
	prv = calloc((size_t)iovcnt + 1, sizeof(*prv));
	if (!op || !nread || !prv) {
		rc = -ENOMEM;
		goto out;
	}
	/* one atomic op: the size and every part at its offset */
	rados_read_op_stat(op, &sz, &mt, &srv);
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			rados_read_op_read(op, off, iov[i].iov_len, iov[i].iov_base, &nread[i],
					   &prv[i]);
		off += iov[i].iov_len;
	}
	rc = rados_read_op_operate(op, r->io, oid, 0);
	if (rc == 0 && srv < 0)
		rc = srv;
	if (rc == 0)
		*size = sz;
out:
	if (op)
		rados_release_read_op(op);
	free(nread);
	free(prv);
	return rc < 0 ? rerr(r, rc, "get", hash) : 0;
}

static int rados_stat_op(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN],
			 struct chunk_obj_stat *st)
{
	struct chunk_rados *r = rados_of(be);
	uint64_t size;
	time_t mt;
	char oid[65];
	int rc;

	oid_of(hash, oid);
	if ((rc = name_ready(r, hash, false)) < 0)
		return rc;
	rc = rados_stat(r->io, oid, &size, &mt);
	if (rc < 0)
		return rerr(r, rc, "stat", hash);
	st->size = size;
	st->mtime_ns = (int64_t)mt * 1000000000 + 999999999; /* never older than it is */
	return 0;
}

static int rados_remove_op(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_rados *r = rados_of(be);
	char oid[65];
	int rc;

	oid_of(hash, oid);
	pthread_mutex_lock(&r->mu);
	wait_name(r, hash, true);
	/* removed on purpose: nothing waits for it, even if the remove fails */
	fail_forget(r, hash);
	pthread_mutex_unlock(&r->mu);
	if ((rc = sick(r)) < 0)
		return rc;
	rc = rados_remove(r->io, oid);
	name_changed(r, hash, false);
	return rerr(r, rc, "remove", hash);
}

static void rados_prefetch(struct chunk_backend *be, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_rados *r = rados_of(be);
	struct rslot *s = NULL;
	char oid[65];

	pthread_mutex_lock(&r->mu);
	if (sick(r) || slot_find(r->pf, PF_SLOTS, hash) || slot_find(r->puts, r->n_puts, hash))
		goto out_unlock;
	for (int i = 0; i < PF_SLOTS; i++) {
		struct rslot *c = &r->pf[i];

		if (c->state == S_FREE) {
			s = c;
			break;
		}
		/* else the oldest finished one, stale first */
		if (c->state == S_DONE &&
		    (!s || c->stale > s->stale || (c->stale == s->stale && c->seq < s->seq)))
			s = c;
	}
	if (!s)
		goto out_unlock; /* all reading: enough in flight */
	slot_clear(s);
	if (!s->buf && !(s->buf = malloc(PF_BUF)))
		goto out_unlock;
	if (rados_aio_create_completion2(s, slot_done, &s->c) < 0)
		goto out_unlock;
	s->r = r;
	s->state = S_BUSY;
	s->seq = ++r->seq;
	memcpy(s->hash, hash, CHUNK_HASH_LEN);
	pthread_mutex_unlock(&r->mu);
	oid_of(hash, oid);
	if (rados_aio_read(r->io, oid, s->c, s->buf, PF_BUF, 0) == 0)
		return;
	pthread_mutex_lock(&r->mu);
	slot_clear(s); /* not sent: no completion will come */
	pthread_cond_broadcast(&r->cv);
out_unlock:
	pthread_mutex_unlock(&r->mu);
}

/* ---- barrier, listing ---- */

/* The barrier's retry of a failed put whose object is absent: the same
 * exclusive create, synchronous; EEXIST (someone stored it) is success. */
static int put_retry(struct chunk_rados *r, const char *oid, const struct rfail *f)
{
	rados_write_op_t op = rados_create_write_op();
	int rc;

	if (!op)
		return -ENOMEM;
	rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	rados_write_op_write_full(op, f->buf, f->len);
	rc = rados_write_op_operate(op, r->io, oid, NULL, 0);
	rados_release_write_op(op);
	return rc == -EEXIST ? 0 : rc < 0 ? rerr(r, rc, "put", f->hash) : 0;
}

static int rados_barrier(struct chunk_backend *be)
{
	struct chunk_rados *r = rados_of(be);
	struct rfail *f = NULL;
	size_t n = 0;
	uint64_t snap, size;
	time_t mt;
	char oid[65];
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	snap = r->seq;
	for (int i = 0; i < r->n_puts; i++)
		while (r->puts[i].state == S_BUSY && r->puts[i].seq <= snap)
			pthread_cond_wait(&r->cv, &r->mu);
	reap_puts(r);
	rc = r->fail_lost ? -ENOMEM : 0; /* a failure it could not record: forever */
	r->fail_new = 0;		 /* reported here if still absent */
	if (r->n_failed && (f = malloc(r->n_failed * sizeof(*f)))) {
		n = r->n_failed;
		memcpy(f, r->failed, n * sizeof(*f));
		for (size_t i = 0; i < n; i++)
			r->failed[i].buf = NULL; /* the retry owns them */
	}
	pthread_mutex_unlock(&r->mu);
	/* a failed put's name is fine again once its object is there */
	for (size_t i = 0; i < n; i++) {
		int s;

		oid_of(f[i].hash, oid);
		if ((s = sick(r)) == 0)
			s = rados_stat(r->io, oid, &size, &mt);
		if (s == -ENOENT && f[i].buf)
			s = put_retry(r, oid, &f[i]);
		pthread_mutex_lock(&r->mu);
		if (s == 0) {
			fail_forget(r, f[i].hash);
		} else {
			ssize_t k = fail_find(r, f[i].hash);

			if (k >= 0 && !r->failed[k].buf) { /* still failed: kept for the next */
				r->failed[k].buf = f[i].buf;
				r->failed[k].len = f[i].len;
				f[i].buf = NULL;
			}
		}
		pthread_mutex_unlock(&r->mu);
		free(f[i].buf);
		if (s != 0 && rc == 0) {
			rc = s == -ENOENT	  ? f[i].err
				: s == -ETIMEDOUT ? s
						  : rerr(r, s, "stat", f[i].hash);
		}
	}
	if (r->n_failed && !f && rc == 0)
		rc = -ENOMEM; /* could not check them: not durable as far as we know */
	free(f);
	return rc;
}

static bool is_chunk_name(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

static int rados_foreach(struct chunk_backend *be, chunk_foreach_fn fn, void *ctx)
{
	struct chunk_rados *r = rados_of(be);
	rados_list_ctx_t lc;
	const char *name;
	uint8_t hash[CHUNK_HASH_LEN];
	int rc = sick(r);

	if (rc < 0)
		return rc;
	rc = rados_nobjects_list_open(r->io, &lc);
	if (rc < 0)
		return rerr(r, rc, "list", NULL);
	while ((rc = rados_nobjects_list_next(lc, &name, NULL, NULL)) == 0) {
		if (!is_chunk_name(name) || chunk_unhex(name, hash) < 0)
			continue;
		if ((rc = fn(ctx, hash)) != 0) {
			rados_nobjects_list_close(lc);
			return rc; /* fn's value, whatever it is */
		}
	}
	rados_nobjects_list_close(lc);
	return rc == -ENOENT ? 0 : rerr(r, rc, "list", NULL); /* -ENOENT: the end */
}

const struct chunk_backend_ops chunk_backend_rados = {
	.name = "rados",
	.open = rados_open,
	.close = rados_close,
	.put = rados_put,
	.replace = rados_replace,
	.get = rados_get,
	.stat = rados_stat_op,
	.remove = rados_remove_op,
	.foreach = rados_foreach,
	.barrier = rados_barrier,
	.prefetch = rados_prefetch,
};
