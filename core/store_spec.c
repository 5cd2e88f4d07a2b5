/* The store address (store.h): DIR[?OPTION[,OPTION...]] naming the index
 * and chunk backends, and the backends a store records at creation. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chunk_backend.h"
#include "store_int.h"
#include "util.h"

#define SPEC_INDEX_KEY "index_backend" /* store_info rows */
#define SPEC_CHUNK_KEY "chunk_backend"
#define SPEC_CHUNK_ID_KEY "chunk_identity" /* rados: "pool=P,ns=N" */

const char *store_spec_options(const char *spec)
{
	const char *q = strrchr(spec, '?');
	const char *p;

	if (!q)
		return NULL;
	for (p = q + 1; isalnum((unsigned char)*p) || *p == '_'; p++)
		;
	if (p[0] == 0 && p == q + 1)
		return q + 1; /* a trailing '?': no options */
	return p > q + 1 && *p == '=' ? q + 1 : NULL;
}

bool store_spec_is_pg(const char *spec)
{
	return !strncmp(spec, "postgresql:", 11) || !strncmp(spec, "postgres:", 9);
}

/* The words of a chunks=rados:... spec (chunk_rados.c) that may follow it
 * as words of their own: -o chunks=rados:pool=P,conf=F,id=I splits so. */
static bool spec_rados_key(const char *w)
{
	static const char *const keys[] = { "pool=",	"ns=",	    "conf=",	"id=",
					    "keyring=", "timeout=", "inflight=" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strncmp(w, keys[i], strlen(keys[i])))
			return true;
	return false;
}

/* chunks=VALUE of a PostgreSQL store, or dir=VALUE of any: a path is its
 * store directory (chunk backend dir under it); a backend name needs the
 * directory given too. */
static int spec_chunks_path(struct store_spec *s, const char *v, const char *w, char *err,
			    size_t err_len)
{
	bool is_dir = !strncmp(w, "dir=", 4);

	if (!is_dir && (!s->where || !strchr(v, '/')))
		return 1; /* a backend name */
	if (s->dir && strcmp(s->dir, v)) {
		util_seterr(err, err_len, "%s: chunks given twice", w);
		return -EINVAL;
	}
	free(s->dir);
	s->dir = NULL;
	if (v[0] == '/') {
		s->dir = strdup(v);
	} else { /* relative to where the address was given, not the daemon's cwd */
		char cwd[PATH_MAX];

		if (getcwd(cwd, sizeof(cwd)) && asprintf(&s->dir, "%s/%s", cwd, v) < 0)
			s->dir = NULL;
	}
	return s->dir ? 0 : -ENOMEM;
}

/* One OPTION word into s; -EINVAL or -EPROTONOSUPPORT with err set. */
static int spec_option(struct store_spec *s, const char *w, char *err, size_t err_len)
{
	const char *v = strchr(w, '=');
	bool is_index = v && v - w == 5 && !strncmp(w, "index", 5);
	bool is_chunks = v && v - w == 6 && !strncmp(w, "chunks", 6);
	const char *who = s->dir ? s->dir : "store";
	const void *be, *had;
	int rc;

	if (s->chunk_spec && spec_rados_key(w)) { /* more of chunks=rados:... */
		char *p;

		if (asprintf(&p, "%s,%s", s->chunk_spec, w) < 0)
			return -ENOMEM;
		free(s->chunk_spec);
		s->chunk_spec = p;
		return 0;
	}
	if (v && v - w == 3 && !strncmp(w, "dir", 3))
		return spec_chunks_path(s, v + 1, w, err, err_len);
	if (!is_index && !is_chunks) {
		util_seterr(err, err_len,
			    "%s: unknown store option '%s' (index=sqlite|postgresql,"
			    " chunks=dir|mem|DIR|rados:pool=P[,ns=N,conf=FILE,id=ID,...], dir=DIR)",
			    who, w);
		return -EINVAL;
	}
	v++;
	if (is_chunks && !strncmp(v, "rados:", 6)) {
		if (s->chunk_spec) {
			util_seterr(err, err_len, "%s: chunks given twice", who);
			return -EINVAL;
		}
		s->chunk_spec = strdup(v + 6);
		if (!s->chunk_spec)
			return -ENOMEM;
		v = "rados";
	} else if (is_chunks && (rc = spec_chunks_path(s, v, w, err, err_len)) <= 0) {
		return rc;
	}
	be = is_index ? (const void *)index_backend_find(v) : (const void *)chunk_backend_find(v);
	if (!be) {
		util_seterr(err, err_len, "%s: unknown %s backend '%s' (known: %s)", who,
			    is_index ? "index" : "chunk", v,
			    is_index ? "sqlite, postgresql" : "dir, mem, rados");
		return -EPROTONOSUPPORT;
	}
	had = is_index ? (const void *)s->index : (const void *)s->chunks;
	if (had && had != be) {
		util_seterr(err, err_len, "%s: %s given twice", who, is_index ? "index" : "chunks");
		return -EINVAL;
	}
	if (is_index)
		s->index = be;
	else
		s->chunks = be;
	return 0;
}

/* The part of spec before its options (len bytes): the store directory,
 * or for a PostgreSQL store the conninfo (where), whose directory comes
 * from a chunks=DIR option. */
static int spec_location(const char *spec, size_t len, struct store_spec *out)
{
	size_t skip;

	if (!store_spec_is_pg(spec)) {
		out->dir = strndup(spec, len);
		return out->dir ? 0 : -ENOMEM;
	}
	out->index = &index_pg_ops;
	skip = (size_t)(strchr(spec, ':') + 1 - spec);
	out->where = strndup(spec + skip, len - skip);
	return out->where ? 0 : -ENOMEM;
}

int store_spec_parse(const char *spec, struct store_spec *out, char *err, size_t err_len)
{
	const char *opts = store_spec_options(spec);
	char *copy, *w, *save = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = spec_location(spec, opts ? (size_t)(opts - 1 - spec) : strlen(spec), out);
	copy = strdup(opts ? opts : "");
	if (rc == 0 && !copy)
		rc = -ENOMEM;
	if (rc < 0)
		goto out_free;
	if (out->dir ? !out->dir[0] : !out->where[0]) {
		util_seterr(err, err_len, "%s: no store %s", spec,
			    out->dir ? "directory" : "connection string");
		rc = -EINVAL;
		goto out_free;
	}
	if (opts && opts[0] &&
	    (strstr(opts, ",,") || opts[strlen(opts) - 1] == ',' || opts[0] == ',')) {
		util_seterr(err, err_len, "%s: empty store option", spec);
		rc = -EINVAL;
		goto out_free;
	}
	for (w = strtok_r(copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save))
		rc = spec_option(out, w, err, err_len);
	if (rc == 0 && !out->dir) {
		util_seterr(err, err_len,
			    "%s: a PostgreSQL store needs its directory for chunks and staging:"
			    " add ?chunks=DIR (or -o chunks=DIR; with chunks=rados:..., dir=DIR)",
			    spec);
		rc = -EINVAL;
	}
	if (rc == 0 && !out->where && out->index == &index_pg_ops) {
		util_seterr(err, err_len,
			    "%s: a PostgreSQL index is named by a postgresql:CONNINFO?chunks=DIR"
			    " address",
			    spec);
		rc = -EINVAL;
	}
	if (rc == 0 && out->where && out->index != &index_pg_ops) {
		util_seterr(err, err_len, "%s: a postgresql: address with index=%s", spec,
			    out->index->name);
		rc = -EINVAL;
	}
out_free:
	free(copy);
	if (rc < 0)
		store_spec_release(out);
	return rc;
}

void store_spec_release(struct store_spec *s)
{
	free(s->dir);
	free(s->where);
	free(s->chunk_spec);
	memset(s, 0, sizeof(*s));
}

/* What names a RADOS store's objects, the same on every node: its pool
 * and namespace ("pool=P,ns=N"; conf, id and keyring are each node's).
 * *out malloc'd; -EINVAL without a pool. */
static int spec_identity(const char *rspec, char **out)
{
	char pool[256] = "", ns[256] = "";
	const char *p = rspec;

	while (p && *p) {
		const char *e = strchr(p, ',');
		int n = e ? (int)(e - p) : (int)strlen(p);

		if (!strncmp(p, "pool=", 5))
			snprintf(pool, sizeof(pool), "%.*s", n - 5, p + 5);
		else if (!strncmp(p, "ns=", 3))
			snprintf(ns, sizeof(ns), "%.*s", n - 3, p + 3);
		p = e ? e + 1 : NULL;
	}
	if (!pool[0])
		return -EINVAL;
	return asprintf(out, "pool=%s,ns=%s", pool, ns) < 0 ? -ENOMEM : 0;
}

static int spec_identity_record(struct store *st, const char *rspec)
{
	char *id = NULL;
	int rc = spec_identity(rspec, &id);

	if (rc == 0)
		rc = index_info_put_text(st->ix, SPEC_CHUNK_ID_KEY, id);
	if (rc == 0) {
		free(st->chunk_where);
		st->chunk_where = strdup(rspec);
		rc = st->chunk_where ? 0 : -ENOMEM;
	}
	free(id);
	return rc;
}

/* An existing RADOS store: the address's pool and namespace must be the
 * recorded ones; an address naming none (a plain DIR, ckpt on a mount)
 * uses the recorded ones with this node's default conf and id. */
static int spec_identity_check(struct store *st, const char *rspec, char *err, size_t err_len)
{
	char *had = NULL, *want = NULL;
	int rc = index_info_get_text(st->ix, SPEC_CHUNK_ID_KEY, &had);

	if (rc == 0 && rspec)
		rc = spec_identity(rspec, &want);
	if (rc < 0) {
		util_seterr(err, err_len, "%s: %s", st->dir,
			    rc == -EINVAL ? "chunks=rados: needs pool=P" : strerror(-rc));
	} else if (want && strcmp(had, want)) {
		util_seterr(err, err_len, "%s: store keeps its chunks in rados %s, not %s", st->dir,
			    had, want);
		rc = -EINVAL;
	} else {
		free(st->chunk_where);
		st->chunk_where = strdup(rspec ? rspec : had);
		rc = st->chunk_where ? 0 : -ENOMEM;
	}
	free(had);
	free(want);
	return rc;
}

/* The backend recorded under key (*name malloc'd), or dflt for a store
 * created before backends were recorded. */
static int spec_recorded(struct store *st, const char *key, const char *dflt, char **name)
{
	int rc = index_info_get_text(st->ix, key, name);

	if (rc == -ENOENT) {
		*name = strdup(dflt);
		rc = *name ? 0 : -ENOMEM;
	}
	return rc;
}

/* A new store records its backends; an existing one must be asked for the
 * ones it recorded (a store from before has none: sqlite + dir). Sets
 * st->chunk_ops. */
int store_spec_settle(struct store *st, const struct store_spec *s, bool created, char *err,
		      size_t err_len)
{
	const struct chunk_backend_ops *want = s->chunks ? s->chunks : &chunk_backend_dir;
	char *ixname = NULL, *chname = NULL;
	int rc;

	if (created) {
		rc = index_info_put_text(st->ix, SPEC_INDEX_KEY, st->ixops->name);
		if (rc == 0)
			rc = index_info_put_text(st->ix, SPEC_CHUNK_KEY, want->name);
		if (rc == 0 && s->chunk_spec)
			rc = spec_identity_record(st, s->chunk_spec);
		if (rc < 0)
			util_seterr(err, err_len, "%s: %s", st->dir,
				    rc == -EINVAL ? "chunks=rados: needs pool=P"
						  : index_last_error(st->ix));
		st->chunk_ops = want;
		return rc;
	}
	rc = spec_recorded(st, SPEC_INDEX_KEY, "sqlite", &ixname);
	if (rc == 0)
		rc = spec_recorded(st, SPEC_CHUNK_KEY, "dir", &chname);
	if (rc < 0) {
		util_seterr(err, err_len, "%s: %s", st->dir, strerror(-rc));
	} else if (strcmp(ixname, st->ixops->name) ||
		   (s->chunks && strcmp(chname, s->chunks->name))) {
		util_seterr(err, err_len,
			    "%s: store was created with index=%s,chunks=%s, not %s=%s", st->dir,
			    ixname, chname, strcmp(ixname, st->ixops->name) ? "index" : "chunks",
			    strcmp(ixname, st->ixops->name) ? st->ixops->name : s->chunks->name);
		rc = -EINVAL;
	} else if (!(st->chunk_ops = chunk_backend_find(chname))) {
		util_seterr(err, err_len,
			    "%s: store uses chunk backend '%s', unknown to this version", st->dir,
			    chname);
		rc = -EPROTONOSUPPORT;
	} else if (st->chunk_ops == &chunk_backend_rados) {
		rc = spec_identity_check(st, s->chunk_spec, err, err_len);
	}
	free(ixname);
	free(chname);
	return rc;
}

int store_spec_durable(const char *dir, const struct chunk_backend_ops *chunks, int flags,
		       char *err, size_t err_len)
{
	if (!(flags & STORE_DURABLE) || chunks != &chunk_backend_mem)
		return 0;
	util_seterr(err, err_len,
		    "%s: chunks=mem keeps chunk data only in this process's memory (for the core's"
		    " unit tests); ckptfs and ckpt refuse it",
		    dir);
	return -EPROTONOSUPPORT;
}
