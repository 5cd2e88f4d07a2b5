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

/* chunks=VALUE of a PostgreSQL store: a path is its store directory (chunk
 * backend dir under it); a backend name needs the directory given too. */
static int spec_chunks_path(struct store_spec *s, const char *v, const char *w, char *err,
			    size_t err_len)
{
	if (!s->where || !strchr(v, '/'))
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

	if (!is_index && !is_chunks) {
		util_seterr(err, err_len,
			    "%s: unknown store option '%s' (index=sqlite|postgresql,"
			    " chunks=dir|mem|DIR)",
			    who, w);
		return -EINVAL;
	}
	v++;
	if (is_chunks && (rc = spec_chunks_path(s, v, w, err, err_len)) <= 0)
		return rc;
	be = is_index ? (const void *)index_backend_find(v) : (const void *)chunk_backend_find(v);
	if (!be) {
		util_seterr(err, err_len, "%s: unknown %s backend '%s' (known: %s)", who,
			    is_index ? "index" : "chunk", v,
			    is_index ? "sqlite, postgresql" : "dir, mem");
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
			    " add ?chunks=DIR (or -o chunks=DIR)",
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
	memset(s, 0, sizeof(*s));
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
		if (rc < 0)
			util_seterr(err, err_len, "%s: %s", st->dir, index_last_error(st->ix));
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
