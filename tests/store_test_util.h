/* Helpers shared by tests/check_store*.c (header-only: each test is one
 * executable). */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <rados/librados.h>
#include <sqlite3.h>
#include <utime.h>

#include "chunk.h"
#include "chunk_backend.h"
#include "store.h"

/* CKPT_TEST_INDEX=postgresql runs a suite against the PostgreSQL index
 * (a fresh database per store, on the server CKPT_TEST_PG names, chunks in
 * the store's directory); unset, against SQLite. */
static inline bool tu_pg(void)
{
	const char *b = getenv("CKPT_TEST_INDEX");

	return b && !strcmp(b, "postgresql");
}

/* Skips the rest of a test under PostgreSQL (Check has no skip), saying why. */
#define TU_SQLITE_ONLY(why)                                      \
	do {                                                     \
		if (tu_pg()) {                                   \
			printf("skip (sqlite only): %s\n", why); \
			return;                                  \
		}                                                \
	} while (0)

/* Runs sql (maybe several statements) on database db of CKPT_TEST_PG's
 * server; the last statement's row count, or its first value when it
 * returns rows. */
static inline int64_t tu_pg_sql(const char *db, const char *sql)
{
	char ci[1024];
	PGconn *c;
	PGresult *r;
	int64_t v;

	snprintf(ci, sizeof(ci), "%s dbname=%s", getenv("CKPT_TEST_PG"), db);
	c = PQconnectdb(ci);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "CKPT_TEST_PG: %s", PQerrorMessage(c));
	r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		      "%s: %s", sql, PQerrorMessage(c));
	v = PQresultStatus(r) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
						 : strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

/* Runs one statement on CKPT_TEST_PG's server (maintenance database). */
static inline void tu_pg_admin(const char *fmt, const char *db)
{
	char sql[512];

	snprintf(sql, sizeof(sql), fmt, db, db);
	tu_pg_sql("postgres", sql);
}

/* The database of the store at dir: its directory's basename, lowercased. */
static inline void tu_pg_dbname(const char *dir, char *out, size_t len)
{
	const char *b = strrchr(dir, '/');
	size_t i;

	snprintf(out, len, "%s", b ? b + 1 : dir);
	for (i = 0; out[i]; i++)
		out[i] = out[i] == '.' ? '_' : (char)tolower((unsigned char)out[i]);
}

/* CKPT_TEST_CHUNKS=rados runs a suite with its chunks in the Ceph test
 * cluster (CKPT_TEST_CEPH_CONF, _POOL, _KEYRING, _ID), a namespace per store
 * (its directory's basename); unset, in the store's chunks/ directory. */
static inline bool tu_rados(void)
{
	const char *c = getenv("CKPT_TEST_CHUNKS");

	return c && !strcmp(c, "rados");
}

#define TU_ENV_OR(name, dflt) (getenv(name) && *getenv(name) ? getenv(name) : (dflt))

/* The rados words (chunks=rados:...) of the store at dir. */
static inline void tu_rados_spec(const char *dir, char *out, size_t cap)
{
	const char *b = strrchr(dir, '/');

	snprintf(out, cap, "pool=%s,ns=%s,conf=%s,keyring=%s,id=%s",
		 TU_ENV_OR("CKPT_TEST_CEPH_POOL", "ckpt"), b ? b + 1 : dir,
		 TU_ENV_OR("CKPT_TEST_CEPH_CONF", ""), TU_ENV_OR("CKPT_TEST_CEPH_KEYRING", ""),
		 TU_ENV_OR("CKPT_TEST_CEPH_ID", "admin"));
}

/* The address store_open is given for the store at dir (a malloc'd copy
 * of dir for SQLite with local chunks). */
static inline char *tu_spec(const char *dir)
{
	char db[128], rs[1024], *s;

	if (tu_rados())
		tu_rados_spec(dir, rs, sizeof(rs));
	if (!tu_pg()) {
		if (!tu_rados())
			return strdup(dir);
		ck_assert_int_gt(asprintf(&s, "%s?chunks=rados:%s", dir, rs), 0);
		return s;
	}
	tu_pg_dbname(dir, db, sizeof(db));
	if (tu_rados())
		ck_assert_int_gt(asprintf(&s, "postgresql:%s dbname=%s?chunks=rados:%s,dir=%s",
					  getenv("CKPT_TEST_PG"), db, rs, dir),
				 0);
	else
		ck_assert_int_gt(asprintf(&s, "postgresql:%s dbname=%s?chunks=%s",
					  getenv("CKPT_TEST_PG"), db, dir),
				 0);
	return s;
}

/* ---- the store's chunk objects, whichever backend keeps them ---- */

/* The chunk objects of the store at dir, opened on their own (close with
 * chunk_store_close). */
static inline struct chunk_store *tu_objs(const char *dir)
{
	char where[1024];
	struct chunk_opts o = { .backend = tu_rados() ? &chunk_backend_rados : &chunk_backend_dir,
				.spec = where };
	struct chunk_store *cs = NULL;

	if (tu_rados())
		tu_rados_spec(dir, where, sizeof(where));
	else
		snprintf(where, sizeof(where), "%s/chunks", dir);
	ck_assert_int_eq(chunk_store_open_with(&o, &cs), 0);
	return cs;
}

struct tu_obj_walk {
	struct chunk_store *cs;
	int64_t min_size; /* only objects larger than this */
	long n;		  /* objects seen */
	uint64_t bytes;	  /* their sizes */
	bool found;	  /* first: the lowest name seen so far */
	uint8_t first[CHUNK_HASH_LEN];
	bool remove; /* each one seen is removed */
};

static int tu_obj_cb(void *ctx, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct tu_obj_walk *w = ctx;
	int64_t sz = chunk_stored_size(w->cs, hash);

	if (sz <= w->min_size)
		return 0;
	w->n++;
	w->bytes += (uint64_t)sz;
	if (!w->found || memcmp(hash, w->first, CHUNK_HASH_LEN) < 0)
		memcpy(w->first, hash, CHUNK_HASH_LEN);
	w->found = true;
	if (w->remove)
		chunk_release(w->cs, hash);
	return 0;
}

/* Walks the objects of the store at dir larger than min_size. */
static inline struct tu_obj_walk tu_obj_walk(const char *dir, int64_t min_size, bool remove)
{
	struct tu_obj_walk w = { .min_size = min_size, .remove = remove };

	w.cs = tu_objs(dir);
	ck_assert_int_eq(chunk_foreach(w.cs, tu_obj_cb, &w), 0);
	chunk_store_close(w.cs);
	w.cs = NULL;
	return w;
}

static inline long tu_obj_count(const char *dir)
{
	return tu_obj_walk(dir, -1, false).n;
}

static inline uint64_t tu_obj_bytes(const char *dir)
{
	return tu_obj_walk(dir, -1, false).bytes;
}

/* The lowest-named object larger than min_size (one must exist). */
static inline void tu_obj_first(const char *dir, int64_t min_size, uint8_t hash[CHUNK_HASH_LEN])
{
	struct tu_obj_walk w = tu_obj_walk(dir, min_size, false);

	ck_assert(w.found);
	memcpy(hash, w.first, CHUNK_HASH_LEN);
}

/* Whole object (malloc'd, *len bytes). */
static inline uint8_t *tu_obj_get(struct chunk_store *cs, const uint8_t hash[CHUNK_HASH_LEN],
				  size_t *len)
{
	struct chunk_backend *be = chunk_store_backend(cs);
	uint8_t *buf = malloc(2 * CHUNK_SIZE);
	struct iovec iov = { buf, 2 * CHUNK_SIZE };
	uint64_t size;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(be->ops->get(be, hash, &iov, 1, &size), 0);
	ck_assert_uint_lt(size, 2 * CHUNK_SIZE);
	*len = (size_t)size;
	return buf;
}

/* Flips one byte in the middle of an object, keeping its size. */
static inline void tu_obj_flip(const char *dir, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_store *cs = tu_objs(dir);
	struct chunk_backend *be = chunk_store_backend(cs);
	size_t len;
	uint8_t *buf = tu_obj_get(cs, hash, &len);
	struct iovec iov = { buf, len };

	buf[len / 2] ^= 0x40;
	ck_assert_int_eq(be->ops->replace(be, hash, &iov, 1), 0);
	free(buf);
	chunk_store_close(cs);
}

static inline void tu_obj_remove(const char *dir, const uint8_t hash[CHUNK_HASH_LEN])
{
	struct chunk_store *cs = tu_objs(dir);

	ck_assert_int_eq(chunk_release(cs, hash), 0);
	chunk_store_close(cs);
}

/* Stores a copy of object from of the store at src under the name to in
 * the store at dir, written an hour ago (no mount of a store with several
 * may still be about to record its row). */
static inline void tu_obj_copy_old(const char *src, const uint8_t from[CHUNK_HASH_LEN],
				   const char *dir, const uint8_t to[CHUNK_HASH_LEN])
{
	struct chunk_store *cs = tu_objs(src);
	size_t len;
	uint8_t *buf = tu_obj_get(cs, from, &len);
	struct iovec iov = { buf, len };
	struct chunk_backend *be;
	time_t old = time(NULL) - 3600;
	char hex[65], path[1024];

	chunk_store_close(cs);
	cs = tu_objs(dir);
	be = chunk_store_backend(cs);

	chunk_hex(to, hex);
	if (tu_rados()) {
		rados_t cl;
		rados_ioctx_t io;
		rados_write_op_t op = rados_create_write_op();
		const char *b = strrchr(dir, '/');

		ck_assert_int_eq(rados_create(&cl, TU_ENV_OR("CKPT_TEST_CEPH_ID", "admin")), 0);
		ck_assert_int_eq(rados_conf_read_file(cl, getenv("CKPT_TEST_CEPH_CONF")), 0);
		if (getenv("CKPT_TEST_CEPH_KEYRING") && *getenv("CKPT_TEST_CEPH_KEYRING"))
			rados_conf_set(cl, "keyring", getenv("CKPT_TEST_CEPH_KEYRING"));
		ck_assert_int_eq(rados_connect(cl), 0);
		ck_assert_int_eq(
			rados_ioctx_create(cl, TU_ENV_OR("CKPT_TEST_CEPH_POOL", "ckpt"), &io), 0);
		rados_ioctx_set_namespace(io, b ? b + 1 : dir);
		rados_write_op_write_full(op, (const char *)buf, len);
		ck_assert_int_eq(rados_write_op_operate(op, io, hex, &old, 0), 0);
		rados_release_write_op(op);
		rados_ioctx_destroy(io);
		rados_shutdown(cl);
	} else {
		struct utimbuf ut = { old, old };

		ck_assert_int_eq(be->ops->put(be, to, &iov, 1), 1);
		snprintf(path, sizeof(path), "%s/chunks/%.2s/%s", dir, hex, hex);
		ck_assert_int_eq(utime(path, &ut), 0);
	}
	free(buf);
	chunk_store_close(cs);
}

static int tu_sqlite_row(void *ctx, int n, char **val, char **col)
{
	(void)col;
	if (n > 0 && val[0] && *(int64_t *)ctx == -1) /* the first row's */
		*(int64_t *)ctx = strtoll(val[0], NULL, 10);
	return 0;
}

/* Runs sql (maybe several statements) on the index of the store at
 * dir, whichever backend: the last statement's changed rows, or the first
 * value of a statement returning rows (SQL both engines speak). */
static inline int64_t tu_index_sql(const char *dir, const char *sql)
{
	char p[1024];
	sqlite3 *db;
	int64_t v = -1;

	if (tu_pg()) {
		tu_pg_dbname(dir, p, sizeof(p));
		return tu_pg_sql(p, sql);
	}
	snprintf(p, sizeof(p), "%s/index.db", dir);
	ck_assert_int_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_msg(sqlite3_exec(db, sql, tu_sqlite_row, &v, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	if (v < 0)
		v = sqlite3_changes(db);
	sqlite3_close(db);
	return v;
}

static int tu_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static inline void tu_rmrf(const char *dir)
{
	char db[128];

	nftw(dir, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	if (tu_rados() && strstr(dir, "/ckst."))
		tu_obj_walk(dir, -1, true); /* the namespace goes with its objects */
	if (tu_pg() && strstr(dir, "/ckst.")) {
		tu_pg_dbname(dir, db, sizeof(db));
		tu_pg_admin("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db);
	}
}

/* A fresh directory path for a store (not created). */
static inline char *tu_tmpstore(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *p = malloc(strlen(base) + 32);

	ck_assert_ptr_nonnull(p);
	sprintf(p, "%s/ckst.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(p));
	rmdir(p); /* store_open creates it */
	if (tu_pg()) {
		char db[128];

		tu_pg_dbname(p, db, sizeof(db));
		tu_pg_admin("CREATE DATABASE \"%s\"", db);
	}
	return p;
}

static inline struct store *tu_open(const char *dir, int flags)
{
	struct store *st = NULL;
	char err[256], *spec = tu_spec(dir);
	int rc = store_open(spec, flags, &st, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open(%s): %d %s", spec, rc, err);
	free(spec);
	return st;
}

static inline void tu_set_compress(struct store *st, const char *codec)
{
	struct policy p;

	ck_assert_int_eq(store_policy_get(st, &p), 0);
	ck_assert_int_eq(policy_set(&p, "compress", codec, NULL, 0), 0);
	ck_assert_int_eq(store_policy_set(st, &p), 0);
}

/* Creates a file under parent with data; returns the node id. */
static inline int64_t tu_put(struct store *st, int64_t parent, const char *name, const void *data,
			     size_t len)
{
	struct store_node n;
	struct store_file *f;

	ck_assert_int_eq(store_node_create(st, parent, name, 0644, &n), 0);
	ck_assert_int_eq(store_file_open(st, n.id, STORE_F_WRITE, &f), 0);
	if (len)
		ck_assert_int_eq(store_file_write(f, data, len, 0), (ssize_t)len);
	ck_assert_int_eq(store_file_close(f), 0);
	return n.id;
}

/* Whole content of a regular node (malloc'd). */
static inline uint8_t *tu_read(struct store *st, int64_t id, size_t *len)
{
	struct store_file *f;
	uint64_t size;
	uint8_t *buf;
	ssize_t r;

	ck_assert_int_eq(store_file_open(st, id, STORE_F_READ, &f), 0);
	size = store_file_size(f);
	buf = malloc(size + 1);
	ck_assert_ptr_nonnull(buf);
	r = store_file_read(f, buf, size + 1, 0);
	ck_assert_int_eq(r, (ssize_t)size);
	ck_assert_int_eq(store_file_close(f), 0);
	*len = size;
	return buf;
}

/* A committed directory checkpoint with files name[i] = data[i]. */
static inline int64_t tu_ckpt(struct store *st, const char *name, const char *const *files,
			      const void *const *data, const size_t *lens, size_t n)
{
	int64_t id, root;
	size_t i;

	ck_assert_int_eq(store_ckpt_create(st, name, CKPT_DIR, 0755, &id, &root), 0);
	for (i = 0; i < n; i++)
		tu_put(st, root, files[i], data[i], lens[i]);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	return id;
}

static inline int64_t tu_ckpt1(struct store *st, const char *name, const char *file,
			       const void *data, size_t len)
{
	return tu_ckpt(st, name, &file, &data, &len, 1);
}

/* xorshift pseudo-random bytes */
static inline uint64_t tu_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static inline void tu_fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(tu_rand(&s) >> 24);
}

/* Node id of path a/b inside the shown version of a live checkpoint. */
/* Asserts that node id holds exactly want[0..len). */
static inline void tu_expect(struct store *st, int64_t id, const void *want, size_t len)
{
	size_t got_len;
	uint8_t *got = tu_read(st, id, &got_len);

	ck_assert_uint_eq(got_len, len);
	ck_assert(memcmp(got, want, len) == 0);
	free(got);
}

static inline int64_t tu_lookup(struct store *st, const char *ckpt, const char *file)
{
	struct ckpt_info ci;
	struct store_node root, n;

	ck_assert_int_eq(store_ckpt_lookup(st, ckpt, &ci), 0);
	ck_assert_int_eq(store_version_root(st, ci.version, &root), 0);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_node_lookup(st, root.id, file, &n), 0);
	return n.id;
}

static inline uint64_t tu_du(const char *dir)
{
	char cmd[512];
	unsigned long long kb = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "du -sk '%s' 2>/dev/null", dir);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%llu", &kb) != 1)
			kb = 0;
		pclose(p);
	}
	return kb * 1024;
}

/* Flips one byte in the middle of a (chunk) file, keeping its size. */
static inline void tu_flip_byte(const char *path)
{
	struct stat sb;
	uint8_t c;
	int fd = open(path, O_RDWR);

	ck_assert_msg(fd >= 0, "open %s", path);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_int_eq(pread(fd, &c, 1, sb.st_size / 2), 1);
	c ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &c, 1, sb.st_size / 2), 1);
	close(fd);
}

/* Runs fn(base) in a child with its own mount namespace and a tmpfs of
 * size (e.g. "12m") on base = dir + ".nospc" (the mount goes away with the
 * child). fn returns 0, 77 (skip) or the number of the step that failed. */
static inline void tu_in_tmpfs(const char *dir, const char *size, int (*fn)(const char *base))
{
	char base[512], opts[32];
	int status;
	pid_t pid;

	snprintf(base, sizeof(base), "%s.nospc", dir); /* dir itself holds the fixture store */
	snprintf(opts, sizeof(opts), "size=%s", size);
	ck_assert_int_eq(mkdir(base, 0700), 0);
	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int r = 77;

		if (unshare(CLONE_NEWNS) == 0 &&
		    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
		    mount("tmpfs", base, "tmpfs", 0, opts) == 0)
			r = fn(base);
		fflush(stdout);
		_exit(r);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(rmdir(base), 0);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		printf("skipped (no mount namespace privilege)\n");
		return;
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "tmpfs child step %d failed", WEXITSTATUS(status));
}

/* Whether st sees a change made through another store handle: at once on
 * SQLite; PostgreSQL's notification reaches st's connection a moment after
 * the other handle's commit returned (the contract's bound: 100 ms), so
 * this polls for up to 5 s. */
static inline bool tu_changed_externally(struct store *st)
{
	for (int i = 0; i < 500; i++) {
		if (store_changed_externally(st))
			return true;
		usleep(10000);
	}
	return false;
}

/* A verify callback that counts the problems in *(int *)ctx and prints them. */
static inline void tu_count_problem(void *ctx, const char *problem)
{
	(*(int *)ctx)++;
	printf("verify: %s\n", problem);
}

/* Runs a suite; the exit status for a test's main. */
static inline int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The fixture most store suites share: each test gets a fresh read-write
 * store st in directory dir, closed and removed after it. A suite opts in by
 * defining TU_STORE_FIXTURE before including this header. */
#ifdef TU_STORE_FIXTURE
static char *dir;
static struct store *st;

static void setup(void)
{
	dir = tu_tmpstore();
	st = tu_open(dir, 0);
}

static void teardown(void)
{
	store_close(st);
	st = NULL;
	tu_rmrf(dir);
	free(dir);
}

/* Adds to suite s a TCase on the store fixture with a timeout in seconds and
 * the tests that follow (TU_TCASE ends the list). */
static inline void tu_tcase(Suite *s, const char *name, double timeout, ...)
{
	TCase *tc = tcase_create(name);
	const TTest *t;
	va_list ap;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout);
	va_start(ap, timeout);
	while ((t = va_arg(ap, const TTest *)))
		tcase_add_test(tc, t);
	va_end(ap);
	suite_add_tcase(s, tc);
}
#define TU_TCASE(s, name, timeout, ...) tu_tcase(s, name, timeout, __VA_ARGS__, (const TTest *)NULL)
#endif

#endif
