/* mkstore: builds (or adds to) a store through the core API from a JSON
 * description, so CLI tests need no mount.
 *
 *   mkstore STORE DESC.json        (DESC "-" reads stdin)
 *   mkstore --plain DIR DESC.json  writes each checkpoint as a plain file or
 *                                  directory DIR/NAME instead (the expected
 *                                  result of an export), whatever its state
 *
 * {
 *   "policy": ["keep_last=2", "metric=val_loss:min"],    optional, -o words
 *   "checkpoints": [
 *     { "name": "step-100",
 *       "kind": "dir" | "file",                  default "dir"
 *       "state": "committed" | "staging" | "aborted" | "deleted",  default committed
 *       "files": [                                dir checkpoints
 *         { "path": "sub/model.pt", "size": 3000000, "seed": 1,
 *           "mode": 420, "mtime": 1700000000 },   content: seed bytes ...
 *         { "path": "notes.txt", "text": "hello" },   ... or text
 *         { "path": "link", "symlink": "sub/model.pt" },
 *         { "path": "empty", "dir": true } ],
 *       "size": 10, "seed": 3, "text": "...", "mode": 420, "mtime": 0,
 *                                                 file checkpoints: the content
 *       "metrics": { "val_loss": 0.5 },           set as xattr metrics after commit
 *       "pinned": true,
 *       "reason": "killed by SIGKILL",            abort reason
 *       "rule": "user",                            delete rule
 *       "retain": true }                           run retention after the commit
 *   ]
 * }
 *
 * Seeded content is deterministic per (seed, offset): equal seeds give equal
 * bytes (dedup), different seeds different chunks. Prints one line per
 * checkpoint: "NAME ID STATE".
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "store.h"

#define MK_BLOCK (1u << 20)
#define MK_MAX_FILE ((uint64_t)1 << 32) /* a test store, not a benchmark */

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t pos = off + i;

		buf[i] = (uint8_t)(splitmix(seed * 0x100000001b3ULL ^ (pos >> 3)) >>
				   ((pos & 7) * 8));
	}
}

static int fail(const char *what, int r)
{
	fprintf(stderr, "mkstore: %s: %s\n", what, strerror(r < 0 ? -r : r));
	return 1;
}

/* Writes the content described by spec (text, or size + seed) into node id. */
static int write_content(struct store *st, int64_t id, json_t *spec, uint8_t *buf)
{
	struct store_file *f = NULL;
	json_t *text = json_object_get(spec, "text");
	int r;

	r = store_file_open(st, id, STORE_F_WRITE | STORE_F_TRUNC, &f);
	if (r < 0)
		return r;
	if (json_is_string(text)) {
		size_t len = json_string_length(text);
		ssize_t w = len ? store_file_write(f, json_string_value(text), len, 0) : 0;

		if (w < 0)
			r = (int)w;
	} else {
		json_int_t size = json_integer_value(json_object_get(spec, "size"));
		uint64_t seed = (uint64_t)json_integer_value(json_object_get(spec, "seed"));

		if (size < 0 || (uint64_t)size > MK_MAX_FILE)
			r = -EFBIG;
		for (uint64_t off = 0; r == 0 && off < (uint64_t)size; off += MK_BLOCK) {
			size_t n = (uint64_t)size - off < MK_BLOCK ? (size_t)((uint64_t)size - off)
								   : MK_BLOCK;
			ssize_t w;

			fill(buf, n, seed, off);
			w = store_file_write(f, buf, n, off);
			if (w < 0)
				r = (int)w;
			else if ((size_t)w != n)
				r = -EIO;
		}
	}
	{
		int rc = store_file_close(f);

		if (r == 0)
			r = rc;
	}
	if (r == 0 && json_is_integer(json_object_get(spec, "mtime")))
		r = store_node_setattr(st, id, STORE_SET_MTIME, 0, 0,
				       (int64_t)json_integer_value(json_object_get(spec, "mtime")) *
					       1000000000LL,
				       0, NULL);
	return r;
}

/* Finds or creates the directories of path under root; *parent receives the
 * directory that holds the last component, *base points into path. */
static int make_parents(struct store *st, int64_t root, char *path, int64_t *parent, char **base)
{
	int64_t dir = root;
	char *p = path, *slash;

	while ((slash = strchr(p, '/'))) {
		struct store_node n;
		int r;

		*slash = '\0';
		r = store_node_lookup(st, dir, p, &n);
		if (r == -ENOENT)
			r = store_node_mkdir(st, dir, p, S_IFDIR | 0755, &n);
		*slash = '/';
		if (r < 0)
			return r;
		dir = n.id;
		p = slash + 1;
	}
	*parent = dir;
	*base = p;
	return 0;
}

static int add_entry(struct store *st, int64_t root, json_t *e, uint8_t *buf)
{
	const char *path = json_string_value(json_object_get(e, "path"));
	json_t *mode_j = json_object_get(e, "mode");
	uint32_t mode = json_is_integer(mode_j) ? (uint32_t)json_integer_value(mode_j) & 07777
						: 0644;
	struct store_node n;
	char *dup, *base;
	int64_t parent;
	int r;

	if (!path || !path[0])
		return -EINVAL;
	dup = strdup(path);
	if (!dup)
		return -ENOMEM;
	r = make_parents(st, root, dup, &parent, &base);
	if (r < 0)
		goto out_free;
	if (json_is_string(json_object_get(e, "symlink"))) {
		r = store_node_symlink(st, parent, base,
				       json_string_value(json_object_get(e, "symlink")), &n);
	} else if (json_is_true(json_object_get(e, "dir"))) {
		r = store_node_mkdir(st, parent, base,
				     S_IFDIR | (json_is_integer(mode_j) ? mode : 0755), &n);
	} else {
		r = store_node_create(st, parent, base, S_IFREG | mode, &n);
		if (r == 0)
			r = write_content(st, n.id, e, buf);
	}
out_free:
	free(dup);
	return r;
}

static int state_of(const char *s)
{
	if (!s || strcmp(s, "committed") == 0)
		return CKPT_COMMITTED;
	if (strcmp(s, "staging") == 0)
		return CKPT_STAGING;
	if (strcmp(s, "aborted") == 0)
		return CKPT_ABORTED;
	if (strcmp(s, "deleted") == 0)
		return CKPT_DELETED;
	return -1;
}

static int build_ckpt(struct store *st, json_t *c, uint8_t *buf)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *kind_s = json_string_value(json_object_get(c, "kind"));
	int kind = kind_s && strcmp(kind_s, "file") == 0 ? CKPT_FILE : CKPT_DIR;
	int state = state_of(json_string_value(json_object_get(c, "state")));
	json_t *files = json_object_get(c, "files"), *metrics = json_object_get(c, "metrics");
	json_t *mode_j = json_object_get(c, "mode"), *e, *v;
	uint32_t mode = json_is_integer(mode_j) ? (uint32_t)json_integer_value(mode_j) & 07777
						: (kind == CKPT_FILE ? 0644 : 0755);
	int64_t id, root;
	const char *key;
	size_t i;
	char what[512];
	int r;

	if (!name || state < 0) {
		fprintf(stderr, "mkstore: a checkpoint needs a name and a known state\n");
		return 1;
	}
	snprintf(what, sizeof(what), "%s", name);
	r = store_ckpt_create(st, name, kind, (kind == CKPT_FILE ? S_IFREG : S_IFDIR) | mode, &id,
			      &root);
	if (r < 0)
		return fail(what, r);
	if (kind == CKPT_FILE) {
		r = write_content(st, root, c, buf);
		if (r < 0)
			return fail(what, r);
	} else {
		json_array_foreach(files, i, e)
		{
			r = add_entry(st, root, e, buf);
			if (r < 0) {
				snprintf(what, sizeof(what), "%s/%s", name,
					 json_string_value(json_object_get(e, "path")) ?: "?");
				return fail(what, r);
			}
		}
	}
	if (state == CKPT_STAGING)
		goto out_print;
	if (state == CKPT_ABORTED) {
		const char *reason = json_string_value(json_object_get(c, "reason"));

		r = store_ckpt_abort(st, id, reason ? reason : "mkstore: aborted");
		if (r < 0)
			return fail(what, r);
		goto out_print;
	}
	r = store_ckpt_commit(st, id);
	if (r < 0)
		return fail(what, r);
	json_object_foreach(metrics, key, v)
	{
		r = store_ckpt_set_metric(st, id, key, json_number_value(v));
		if (r < 0)
			return fail(key, r);
	}
	if (json_is_true(json_object_get(c, "pinned"))) {
		r = store_ckpt_set_pinned(st, id, true);
		if (r < 0)
			return fail("pin", r);
	}
	if (state == CKPT_DELETED) {
		const char *rule = json_string_value(json_object_get(c, "rule"));

		r = store_ckpt_delete(st, id, rule ? rule : "user");
		if (r < 0)
			return fail(what, r);
	}
	if (json_is_true(json_object_get(c, "retain"))) {
		r = store_retain_run(st, NULL, NULL);
		if (r < 0)
			return fail("retention", r);
	}
out_print:
	printf("%s %lld %s\n", name, (long long)id,
	       json_string_value(json_object_get(c, "state")) ?: "committed");
	return 0;
}

/* ---- --plain: the same description as ordinary files ----------------------- */

static int plain_content(const char *path, json_t *spec, uint32_t mode, uint8_t *buf)
{
	json_t *text = json_object_get(spec, "text");
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), r = 0;

	if (fd < 0)
		return -errno;
	if (json_is_string(text)) {
		size_t len = json_string_length(text);

		if (len && write(fd, json_string_value(text), len) != (ssize_t)len)
			r = -EIO;
	} else {
		json_int_t size = json_integer_value(json_object_get(spec, "size"));
		uint64_t seed = (uint64_t)json_integer_value(json_object_get(spec, "seed"));

		if (size < 0 || (uint64_t)size > MK_MAX_FILE)
			r = -EFBIG;
		for (uint64_t off = 0; r == 0 && off < (uint64_t)size; off += MK_BLOCK) {
			size_t n = (uint64_t)size - off < MK_BLOCK ? (size_t)((uint64_t)size - off)
								   : MK_BLOCK;

			fill(buf, n, seed, off);
			if (write(fd, buf, n) != (ssize_t)n)
				r = -EIO;
		}
	}
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && json_is_integer(json_object_get(spec, "mtime"))) {
		struct timespec ts[2] = { { .tv_sec = (time_t)json_integer_value(
						    json_object_get(spec, "mtime")) } };

		ts[1] = ts[0];
		if (futimens(fd, ts) < 0)
			r = -errno;
	}
	close(fd);
	return r;
}

/* mkdir -p of the parents of path (inside base, which exists). */
static int plain_parents(char *path)
{
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		if (p[-1] == '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	return 0;
}

static int plain_ckpt(const char *dir, json_t *c, uint8_t *buf)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *kind_s = json_string_value(json_object_get(c, "kind"));
	json_t *mode_j = json_object_get(c, "mode"), *e;
	char path[4096];
	size_t i;
	int r;

	if (!name)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (kind_s && strcmp(kind_s, "file") == 0)
		return plain_content(path, c,
				     json_is_integer(mode_j)
					     ? (uint32_t)json_integer_value(mode_j) & 07777
					     : 0644,
				     buf);
	if (mkdir(path, 0755) < 0)
		return -errno;
	json_array_foreach(json_object_get(c, "files"), i, e)
	{
		const char *rel = json_string_value(json_object_get(e, "path"));
		json_t *m = json_object_get(e, "mode");

		if (!rel)
			return -EINVAL;
		snprintf(path, sizeof(path), "%s/%s/%s", dir, name, rel);
		r = plain_parents(path);
		if (r < 0)
			return r;
		if (json_is_string(json_object_get(e, "symlink"))) {
			if (symlink(json_string_value(json_object_get(e, "symlink")), path) < 0)
				return -errno;
		} else if (json_is_true(json_object_get(e, "dir"))) {
			if (mkdir(path,
				  json_is_integer(m) ? (mode_t)json_integer_value(m) & 07777
						     : 0755) < 0 &&
			    errno != EEXIST)
				return -errno;
		} else {
			r = plain_content(
				path, e,
				json_is_integer(m) ? (uint32_t)json_integer_value(m) & 07777 : 0644,
				buf);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	json_error_t jerr;
	json_t *desc, *pol, *ckpts, *c;
	struct store *st = NULL;
	char err[512] = "";
	uint8_t *buf;
	size_t i;
	int rc = 0, r;

	bool plain = argc == 4 && strcmp(argv[1], "--plain") == 0;

	if (plain) {
		argv++;
		argc--;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: mkstore [--plain] STORE|DIR DESC.json|-\n");
		return 2;
	}
	desc = strcmp(argv[2], "-") == 0 ? json_loadf(stdin, 0, &jerr)
					 : json_load_file(argv[2], 0, &jerr);
	if (!desc) {
		fprintf(stderr, "mkstore: %s:%d: %s\n", argv[2], jerr.line, jerr.text);
		return 2;
	}
	buf = malloc(MK_BLOCK);
	if (!buf) {
		json_decref(desc);
		return fail("buffer", -ENOMEM);
	}
	if (plain) {
		json_array_foreach(json_object_get(desc, "checkpoints"), i, c)
		{
			r = plain_ckpt(argv[1], c, buf);
			if (r < 0) {
				rc = fail(json_string_value(json_object_get(c, "name")) ?: "?", r);
				break;
			}
		}
		goto out_free;
	}
	r = store_open(argv[1], 0, &st, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "mkstore: %s: %s\n", argv[1], err[0] ? err : strerror(-r));
		rc = 1;
		goto out_free;
	}
	pol = json_object_get(desc, "policy");
	if (json_array_size(pol)) {
		struct policy p;
		char *words[64], why[256] = "";
		size_t n = 0;

		json_array_foreach(pol, i, c) if (n < 64 && json_is_string(c))
			words[n++] = (char *)json_string_value(c);
		r = store_policy_get(st, &p);
		if (r == 0)
			r = policy_apply_words(&p, words, n, why, sizeof(why));
		if (r == 0)
			r = store_policy_set(st, &p);
		if (r < 0) {
			fprintf(stderr, "mkstore: policy: %s\n", why[0] ? why : strerror(-r));
			rc = 1;
			goto out_close;
		}
	}
	ckpts = json_object_get(desc, "checkpoints");
	json_array_foreach(ckpts, i, c)
	{
		rc = build_ckpt(st, c, buf);
		if (rc)
			break;
	}
out_close:
	store_close(st);
out_free:
	free(buf);
	json_decref(desc);
	return rc;
}
