/* Unit tests of the store: open, names, tree, file data round trips against
 * an in-memory model, commit, latest/best, delete, abort/promote, versions. */
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define TU_STORE_FIXTURE
#include "store_test_util.h"

START_TEST(test_open_init)
{
	struct stat sb;
	char p[512];
	struct store *ro;
	struct ckpt_info *arr;
	size_t n;

	snprintf(p, sizeof(p), "%s/index.db", dir);
	ck_assert_int_eq(stat(p, &sb), tu_pg() ? -1 : 0); /* PostgreSQL: the database holds it */
	ck_assert_int_eq(tu_index_sql(dir,
				      "SELECT count(*) FROM store_info"
				      " WHERE key = 'initialised_at'"),
			 1);
	snprintf(p, sizeof(p), "%s/chunks", dir);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_str_eq(store_dir(st), dir);
	ck_assert(!store_readonly(st));
	/* a read-only open beside the read-write one: no lock taken */
	ro = tu_open(dir, STORE_RDONLY);
	ck_assert(store_readonly(ro));
	ck_assert_int_eq(store_ckpt_list(ro, 0, &arr, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(arr);
	ck_assert_int_eq(store_ckpt_create(ro, "x", CKPT_DIR, 0755, NULL, NULL), -EROFS);
	store_close(ro);
	/* missing store with NOCREATE / RDONLY */
	ck_assert_int_eq(store_open("/nonexistent/ckst", STORE_NOCREATE, &ro, NULL, 0), -ENOENT);
	ck_assert_int_eq(store_open("/nonexistent/ckst", STORE_RDONLY, &ro, NULL, 0), -ENOENT);
}
END_TEST

START_TEST(test_names)
{
	char longname[300];
	int64_t id, root;

	memset(longname, 'a', 256);
	longname[256] = 0;
	ck_assert_int_eq(store_ckpt_create(st, "", CKPT_DIR, 0755, &id, &root), -EINVAL);
	ck_assert_int_eq(store_ckpt_create(st, ".", CKPT_DIR, 0755, &id, &root), -EINVAL);
	ck_assert_int_eq(store_ckpt_create(st, "..", CKPT_DIR, 0755, &id, &root), -EINVAL);
	ck_assert_int_eq(store_ckpt_create(st, "a/b", CKPT_DIR, 0755, &id, &root), -EINVAL);
	ck_assert_int_eq(store_ckpt_create(st, longname, CKPT_DIR, 0755, &id, &root),
			 -ENAMETOOLONG);
	ck_assert_int_eq(store_ckpt_create(st, "bad\xff", CKPT_DIR, 0755, &id, &root), -EILSEQ);
	ck_assert_int_eq(store_ckpt_create(st, "\xc0\xaf", CKPT_DIR, 0755, &id, &root), -EILSEQ);
	longname[255] = 0; /* exactly 255 bytes is fine */
	ck_assert_int_eq(store_ckpt_create(st, longname, CKPT_DIR, 0755, &id, &root), 0);
	ck_assert_int_eq(store_ckpt_create(st, "h\xc3\xa9llo", CKPT_DIR, 0755, &id, &root), 0);
	ck_assert_int_eq(store_ckpt_create(st, "h\xc3\xa9llo", CKPT_DIR, 0755, &id, &root),
			 -EEXIST);
	ck_assert_int_eq(store_node_create(st, root, "x\xfe", 0644, NULL), -EILSEQ);
	ck_assert_int_eq(store_node_mkdir(st, root, "..", 0755, NULL), -EINVAL);
	memset(longname, 'b', 256);
	longname[256] = 0;
	ck_assert_int_eq(store_node_create(st, root, longname, 0644, NULL), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_tree_ops)
{
	int64_t id, root;
	struct store_node d, f, n, l;
	struct store_dirent *de;
	size_t nd;
	char buf[64], *path;

	ck_assert_int_eq(store_ckpt_create(st, "ck", CKPT_DIR, 0755, &id, &root), 0);
	ck_assert_int_eq(store_node_mkdir(st, root, "sub", 0700, &d), 0);
	ck_assert(S_ISDIR(d.mode));
	ck_assert(d.writable);
	ck_assert_int_eq(store_node_create(st, d.id, "model.pt", 0600, &f), 0);
	ck_assert_int_eq(store_node_create(st, d.id, "model.pt", 0600, &n), -EEXIST);
	ck_assert_int_eq(store_node_create(st, f.id, "x", 0600, &n), -ENOTDIR);
	ck_assert_int_eq(store_node_symlink(st, root, "link", "sub/model.pt", &l), 0);
	ck_assert(S_ISLNK(l.mode));
	ck_assert_int_eq(store_node_readlink(st, l.id, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "sub/model.pt");
	ck_assert_int_eq(store_node_path(st, f.id, &path), 0);
	ck_assert_str_eq(path, "sub/model.pt");
	free(path);
	ck_assert_int_eq(store_node_path(st, root, &path), 0);
	ck_assert_str_eq(path, "");
	free(path);
	ck_assert_int_eq(store_node_list(st, root, &de, &nd), 0);
	ck_assert_uint_eq(nd, 2);
	ck_assert_str_eq(de[0].name, "link");
	ck_assert_str_eq(de[1].name, "sub");
	store_dirents_free(de, nd);
	ck_assert_int_eq(store_node_rmdir(st, root, "sub"), -ENOTEMPTY);
	ck_assert_int_eq(store_node_unlink(st, root, "sub"), -EISDIR);
	ck_assert_int_eq(store_node_rmdir(st, d.id, "model.pt"), -ENOTDIR);
	/* rename into place, replacing an existing file atomically */
	ck_assert_int_eq(store_node_create(st, root, "tmp.pt", 0600, &n), 0);
	ck_assert_int_eq(store_node_rename(st, root, "tmp.pt", d.id, "model.pt", 0), 0);
	ck_assert_int_eq(store_node_lookup(st, d.id, "model.pt", &f), 0);
	ck_assert_int_eq(f.id, n.id); /* id kept across rename */
	ck_assert_int_eq(store_node_lookup(st, root, "tmp.pt", &n), -ENOENT);
	ck_assert_int_eq(store_node_rename(st, root, "sub", d.id, "loop", 0), -EINVAL);
	ck_assert_int_eq(store_node_mkdir(st, root, "empty", 0755, &n), 0);
	ck_assert_int_eq(store_node_rename(st, root, "link", root, "empty", 0), -EISDIR);
	ck_assert_int_eq(store_node_rename(st, root, "link", root, "sub", RENAME_NOREPLACE),
			 -EEXIST);
	ck_assert_int_eq(store_node_rename(st, root, "sub", root, "empty", 0), 0);
	ck_assert_int_eq(store_node_lookup(st, root, "empty", &n), 0);
	ck_assert_int_eq(n.id, d.id);
	ck_assert_int_eq(store_node_unlink(st, d.id, "model.pt"), 0);
	ck_assert_int_eq(store_node_rmdir(st, root, "empty"), 0);
	ck_assert_int_eq(store_node_setattr(st, l.id, STORE_SET_MTIME, 0, 0, 12345, 0, &n), 0);
	ck_assert_int_eq(n.mtime_ns, 12345);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	/* committed: changes other than removal are read-only */
	ck_assert_int_eq(store_node_create(st, root, "late", 0644, NULL), -EROFS);
	ck_assert_int_eq(store_node_mkdir(st, root, "late", 0755, NULL), -EROFS);
	ck_assert_int_eq(store_node_setattr(st, l.id, STORE_SET_MODE, 0600, 0, 0, 0, NULL), -EROFS);
	ck_assert_int_eq(store_node_get(st, l.id, &n), 0);
	ck_assert(!n.writable);
}
END_TEST

/* Random writes, rewrites and truncates checked against an in-memory model,
 * through chunking with each codec, flushes in between, and a reopen. */
static void model_run(const char *codec, uint64_t seed)
{
	const size_t cap = 6 * CHUNK_SIZE + 4096;
	uint8_t *model = calloc(1, cap), *buf = malloc(cap), *got;
	uint64_t s = seed, size = 0;
	struct store_file *f;
	int64_t id, root, node;
	size_t len;
	int i;

	ck_assert_ptr_nonnull(model);
	ck_assert_ptr_nonnull(buf);
	tu_set_compress(st, codec);
	ck_assert_int_eq(store_ckpt_create(st, "model", CKPT_DIR, 0755, &id, &root), 0);
	node = tu_put(st, root, "data.bin", NULL, 0);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_READ | STORE_F_WRITE, &f), 0);
	for (i = 0; i < 300; i++) {
		uint64_t r = tu_rand(&s) % 100, off, n;

		if (r < 60) { /* write near chunk boundaries or anywhere */
			uint64_t b = (tu_rand(&s) % 6) * CHUNK_SIZE;

			off = (tu_rand(&s) & 1) ? b + (tu_rand(&s) % 64) - 32
						: tu_rand(&s) % (cap - 1);
			if (off > cap - 1)
				off = b;
			n = 1 + tu_rand(&s) % ((tu_rand(&s) & 3) ? 4096 : CHUNK_SIZE + 100);
			if (off + n > cap)
				n = cap - off;
			/* compressible and random data alike */
			if (tu_rand(&s) & 1)
				tu_fill(buf, n, tu_rand(&s));
			else
				memset(buf, (int)(tu_rand(&s) & 0xff), n);
			ck_assert_int_eq(store_file_write(f, buf, n, off), (ssize_t)n);
			memcpy(model + off, buf, n);
			if (off + n > size)
				size = off + n;
		} else if (r < 75) { /* truncate */
			uint64_t ns = tu_rand(&s) % cap;

			if (tu_rand(&s) & 1)
				ns = (ns / CHUNK_SIZE) * CHUNK_SIZE + (tu_rand(&s) % 3) - 1;
			if (ns > cap)
				ns = cap / 2;
			ck_assert_int_eq(store_file_truncate(f, ns), 0);
			if (ns < size)
				memset(model + ns, 0, size - ns);
			size = ns;
		} else if (r < 85) {
			ck_assert_int_eq(store_file_flush(f), 0);
		} else { /* read a random range */
			off = tu_rand(&s) % (size + 10);
			n = tu_rand(&s) % (2 * CHUNK_SIZE);
			{
				ssize_t got_n = store_file_read(f, buf, n, off);
				uint64_t exp = off >= size ? 0 : (off + n > size ? size - off : n);

				ck_assert_int_eq(got_n, (ssize_t)exp);
				ck_assert(memcmp(buf, model + off, exp) == 0);
			}
		}
		ck_assert_uint_eq(store_file_size(f), size);
	}
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	store_close(st);
	st = tu_open(dir, 0);
	node = tu_lookup(st, "model", "data.bin");
	got = tu_read(st, node, &len);
	ck_assert_uint_eq(len, size);
	ck_assert(memcmp(got, model, size) == 0);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
	free(got);
	free(model);
	free(buf);
}

START_TEST(test_model_none)
{
	model_run("none", 1);
}
END_TEST

START_TEST(test_model_zlib)
{
	model_run("zlib", 2);
}
END_TEST

START_TEST(test_model_zstd)
{
	model_run("zstd", 3);
}
END_TEST

START_TEST(test_model_auto)
{
	model_run("auto", 4);
}
END_TEST

START_TEST(test_commit_latest)
{
	int64_t a, b, c, lid, lv;
	struct ckpt_info ci;
	struct store_event *ev;
	size_t nev, len;
	uint8_t *got;
	const char *data = "hello weights";

	ck_assert_int_eq(store_resolve_latest(st, &lid, &lv), -ENOENT);
	a = tu_ckpt1(st, "checkpoint-300", "w.bin", data, strlen(data));
	ck_assert_int_eq(store_resolve_latest(st, &lid, &lv), 0);
	ck_assert_int_eq(lid, a);
	/* latest is commit order, not step */
	b = tu_ckpt1(st, "checkpoint-100", "w.bin", "x", 1);
	ck_assert_int_eq(store_resolve_latest(st, &lid, &lv), 0);
	ck_assert_int_eq(lid, b);
	/* a staging checkpoint is never latest */
	ck_assert_int_eq(store_ckpt_create(st, "checkpoint-400", CKPT_DIR, 0755, &c, NULL), 0);
	ck_assert_int_eq(store_resolve_latest(st, &lid, &lv), 0);
	ck_assert_int_eq(lid, b);
	ck_assert_int_eq(store_ckpt_get(st, a, &ci), 0);
	ck_assert_int_eq(ci.state, CKPT_COMMITTED);
	ck_assert(ci.has_step);
	ck_assert_int_eq(ci.step, 300);
	ck_assert_uint_eq(ci.logical_bytes, strlen(data));
	ck_assert_int_eq(ci.commit_seq, 1);
	ck_assert_int_eq(lv != 0, 1);
	ckpt_info_release(&ci);
	got = tu_read(st, tu_lookup(st, "checkpoint-300", "w.bin"), &len);
	ck_assert_uint_eq(len, strlen(data));
	ck_assert(memcmp(got, data, len) == 0);
	free(got);
	/* delete: latest re-resolves at once, the event has the rule */
	ck_assert_int_eq(store_ckpt_delete(st, b, "user"), 0);
	ck_assert_int_eq(store_resolve_latest(st, &lid, &lv), 0);
	ck_assert_int_eq(lid, a);
	ck_assert_int_eq(store_ckpt_lookup(st, "checkpoint-100", &ci), -ENOENT);
	ck_assert_int_eq(store_ckpt_get(st, b, &ci), 0);
	ck_assert_int_eq(ci.state, CKPT_DELETED);
	ck_assert_str_eq(ci.deleted_rule, "user");
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_events(st, &ev, &nev), 0);
	ck_assert_uint_ge(nev, 3);
	{
		size_t i;
		bool found = false;

		for (i = 0; i < nev; i++)
			if (strcmp(ev[i].event, "delete") == 0 &&
			    strcmp(ev[i].name, "checkpoint-100") == 0 && ev[i].rule &&
			    strcmp(ev[i].rule, "user") == 0)
				found = true;
		ck_assert(found);
	}
	store_events_free(ev, nev);
	/* withdraw: removing part of a committed checkpoint */
	ck_assert_int_eq(store_node_unlink(st, 0, "w.bin"), -ENOENT);
	{
		struct store_node root;

		ck_assert_int_eq(store_ckpt_lookup(st, "checkpoint-300", &ci), 0);
		ck_assert_int_eq(store_version_root(st, ci.version, &root), 0);
		ckpt_info_release(&ci);
		ck_assert_int_eq(store_node_unlink(st, root.id, "w.bin"), 0);
	}
	ck_assert_int_eq(store_resolve_latest(st, &lid, &lv), -ENOENT);
	ck_assert_int_eq(store_ckpt_lookup(st, "checkpoint-300", &ci), 0);
	ck_assert(ci.withdrawn);
	ck_assert_int_eq(ci.state, CKPT_COMMITTED);
	ckpt_info_release(&ci);
}
END_TEST

static int64_t ckpt_metric(const char *name, const char *metric, double v)
{
	int64_t id = tu_ckpt1(st, name, "f", name, strlen(name));

	ck_assert_int_eq(store_ckpt_set_metric(st, id, metric, v), 0);
	return id;
}

START_TEST(test_best)
{
	int64_t a, b, c, d, e, best, ver;
	char **names;
	size_t n;

	/* non-monotone values and ties */
	a = ckpt_metric("step-100", "val_loss", 0.5);
	b = ckpt_metric("step-300", "val_loss", 0.25);
	c = ckpt_metric("step-200", "val_loss", 0.25); /* ties b, lower step wins */
	d = ckpt_metric("step-400", "val_loss", 0.9);
	ck_assert_int_eq(store_resolve_best(st, "val_loss", 0, &best, &ver), 0); /* loss: min */
	ck_assert_int_eq(best, c);
	ck_assert_int_eq(store_resolve_best(st, "val_loss", +1, &best, &ver), 0);
	ck_assert_int_eq(best, d);
	/* tie on value and step: earlier commit wins */
	e = ckpt_metric("no-step-a", "acc", 0.7);
	ck_assert_int_eq(store_ckpt_set_metric(st, a, "acc", 0.7), 0);
	ck_assert_int_eq(store_resolve_best(st, "acc", 0, &best, &ver), 0); /* max */
	ck_assert_int_eq(best, a); /* a has a step, e has none: step first */
	ck_assert_int_eq(store_ckpt_set_metric(st, a, "step", 1000), 0);
	(void)e;
	/* withdrawn or deleted checkpoints are never best */
	ck_assert_int_eq(store_ckpt_delete(st, c, "user"), 0);
	ck_assert_int_eq(store_resolve_best(st, "val_loss", -1, &best, &ver), 0);
	ck_assert_int_eq(best, b);
	ck_assert_int_eq(store_ckpt_withdraw(st, b), 0);
	ck_assert_int_eq(store_resolve_best(st, "val_loss", -1, &best, &ver), 0);
	ck_assert_int_eq(best, a);
	ck_assert_int_eq(store_resolve_best(st, "nosuch", 0, &best, &ver), -ENOENT);
	ck_assert_int_eq(store_resolve_best(st, "step", 0, &best, &ver), -ENOENT);
	ck_assert_int_eq(store_metric_names(st, &names, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(names[0], "acc");
	ck_assert_str_eq(names[1], "val_loss");
	free(names[0]);
	free(names[1]);
	free(names);
	/* xattr values: bad names, removal */
	ck_assert_int_eq(store_ckpt_set_metric(st, a, "a/b", 1), -EINVAL);
	ck_assert_int_eq(store_ckpt_set_metric(st, a, "x", NAN), -EINVAL);
	ck_assert_int_eq(store_ckpt_remove_metric(st, a, "nosuch"), -ENODATA);
	ck_assert_int_eq(store_ckpt_remove_metric(st, a, "val_loss"), 0);
	ck_assert_int_eq(store_resolve_best(st, "val_loss", -1, &best, &ver), 0);
	ck_assert_int_eq(best, d);
}
END_TEST

START_TEST(test_metrics_sources)
{
	const char *files[] = { "trainer_state.json", "metrics.json", "metadata.json" };
	const char *ts = "{\"global_step\": 500, \"epoch\": 2.0, \"best_metric\": 0.3,"
			 " \"log_history\": [{\"loss\": 1.0, \"step\": 10}, {\"loss\": 0.5}]}";
	const char *mj = "{\"val_loss\": 0.2, \"metrics\": {\"acc\": 0.9}}";
	const char *md = "{\"val_loss\": 0.4, \"step\": 7}";
	const void *data[] = { ts, mj, md };
	size_t lens[] = { strlen(ts), strlen(mj), strlen(md) };
	struct ckpt_info ci;
	int64_t id;
	size_t i;
	double vl = 0, acc = 0;

	id = tu_ckpt(st, "epoch=1-step=100-val_loss=0.9", files, data, lens, 3);
	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	ck_assert(ci.has_step);
	ck_assert_int_eq(ci.step, 7); /* metadata.json after trainer_state.json */
	ck_assert(ci.has_epoch);
	ck_assert(fabs(ci.epoch - 2.0) < 1e-9);
	for (i = 0; i < ci.n_metrics; i++) {
		if (strcmp(ci.metrics[i].name, "val_loss") == 0) {
			vl = ci.metrics[i].value;
			ck_assert_str_eq(ci.metrics[i].source, "metrics.json");
		}
		if (strcmp(ci.metrics[i].name, "acc") == 0)
			acc = ci.metrics[i].value;
	}
	ck_assert(fabs(vl - 0.2) < 1e-12); /* metrics.json is last */
	ck_assert(fabs(acc - 0.9) < 1e-12);
	ckpt_info_release(&ci);
	/* malformed metadata: committed anyway, with a note */
	{
		const char *bad = "{not json";
		int64_t id2 = tu_ckpt1(st, "bad-meta", "metrics.json", bad, strlen(bad));

		ck_assert_int_eq(store_ckpt_get(st, id2, &ci), 0);
		ck_assert_int_eq(ci.state, CKPT_COMMITTED);
		ck_assert_ptr_nonnull(ci.note);
		ck_assert_ptr_nonnull(strstr(ci.note, "metrics.json"));
		ckpt_info_release(&ci);
	}
}
END_TEST

START_TEST(test_format_check_aborts)
{
	/* a zip that lost its end of central directory */
	uint8_t zip[256];
	int64_t id, root, lid;
	struct ckpt_info ci;

	memset(zip, 0x41, sizeof(zip));
	memcpy(zip, "PK\x03\x04", 4);
	ck_assert_int_eq(store_ckpt_create(st, "broken", CKPT_DIR, 0755, &id, &root), 0);
	tu_put(st, root, "model.pt", zip, sizeof(zip));
	ck_assert_int_eq(store_ckpt_commit(st, id), -EBADMSG);
	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	ck_assert_int_eq(ci.state, CKPT_ABORTED);
	ck_assert_ptr_nonnull(ci.note);
	ck_assert_ptr_nonnull(strstr(ci.note, "model.pt"));
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_resolve_latest(st, &lid, NULL), -ENOENT);
	/* the name is free at once */
	ck_assert_int_eq(store_ckpt_create(st, "broken", CKPT_DIR, 0755, &id, &root), 0);
}
END_TEST

START_TEST(test_abort_promote)
{
	int64_t a1, a2, a3, live, lid;
	struct ckpt_info ci;
	struct ckpt_info *arr;
	size_t n, i;
	int aborted = 0;

	ck_assert_int_eq(store_ckpt_create(st, "ck", CKPT_DIR, 0755, &a1, NULL), 0);
	ck_assert_int_eq(store_ckpt_abort(st, a1, "writer killed"), 0);
	sleep(1); /* abort times order the display names */
	ck_assert_int_eq(store_ckpt_create(st, "ck", CKPT_DIR, 0755, &a2, NULL), 0);
	ck_assert_int_eq(store_ckpt_abort(st, a2, "second"), 0);
	ck_assert_int_eq(store_ckpt_create(st, "ck", CKPT_DIR, 0755, &a3, NULL), 0);
	ck_assert_int_eq(store_ckpt_abort(st, a3, "third"), 0);
	ck_assert_int_eq(store_ckpt_lookup_aborted(st, "ck", &ci), 0);
	ck_assert_int_eq(ci.id, a3);
	ck_assert_str_eq(ci.name, "ck");
	ck_assert_str_eq(ci.note, "third");
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_lookup_aborted(st, "ck~2", &ci), 0);
	ck_assert_int_eq(ci.id, a2);
	ck_assert_str_eq(ci.name, "ck~2");
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_lookup_aborted(st, "ck~3", &ci), 0);
	ck_assert_int_eq(ci.id, a1);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_lookup_aborted(st, "ck~4", &ci), -ENOENT);
	ck_assert_int_eq(store_ckpt_list(st, 0, &arr, &n), 0);
	ck_assert_uint_eq(n, 0); /* aborted ones are not listed by default */
	ckpt_info_free_array(arr, n);
	ck_assert_int_eq(store_ckpt_list(st, STORE_LIST_ALL, &arr, &n), 0);
	for (i = 0; i < n; i++)
		aborted += arr[i].state == CKPT_ABORTED;
	ck_assert_int_eq(aborted, 3);
	ckpt_info_free_array(arr, n);
	/* promote: refused while a live one has the name */
	ck_assert_int_eq(store_ckpt_create(st, "ck", CKPT_DIR, 0755, &live, NULL), 0);
	ck_assert_int_eq(store_ckpt_promote(st, a2), -EEXIST);
	ck_assert_int_eq(store_ckpt_abort(st, live, "x"), 0);
	ck_assert_int_eq(store_ckpt_promote(st, a2), 0);
	ck_assert_int_eq(store_resolve_latest(st, &lid, NULL), 0);
	ck_assert_int_eq(lid, a2);
	ck_assert_int_eq(store_ckpt_lookup(st, "ck", &ci), 0);
	ck_assert_int_eq(ci.id, a2);
	ck_assert_int_eq(ci.state, CKPT_COMMITTED);
	ckpt_info_release(&ci);
	/* gc purges the aborted ones */
	ck_assert_int_eq(store_gc(st, true, NULL), 0);
	ck_assert_int_eq(store_ckpt_lookup_aborted(st, "ck", &ci), -ENOENT);
}
END_TEST

START_TEST(test_single_file_and_rename_commit)
{
	int64_t id, root, old, lid;
	struct store_file *f;
	struct ckpt_info ci;
	uint8_t *got;
	size_t len;

	old = 0;
	ck_assert_int_eq(store_ckpt_create(st, "last.ckpt", CKPT_FILE, 0644, &old, &root), 0);
	ck_assert_int_eq(store_file_open(st, root, STORE_F_WRITE, &f), 0);
	ck_assert_int_eq(store_file_write(f, "old", 3, 0), 3);
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_ckpt_commit(st, old), 0);
	/* tmp file + os.replace over it */
	ck_assert_int_eq(store_ckpt_create(st, "last.ckpt.tmp", CKPT_FILE, 0644, &id, &root), 0);
	ck_assert_int_eq(store_file_open(st, root, STORE_F_WRITE, &f), 0);
	ck_assert_int_eq(store_file_write(f, "newer", 5, 0), 5);
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_ckpt_rename(st, id, "last.ckpt",
					   STORE_RENAME_NOREPLACE | STORE_RENAME_COMMIT),
			 -EEXIST);
	ck_assert_int_eq(store_ckpt_rename(st, id, "last.ckpt", STORE_RENAME_COMMIT), 0);
	ck_assert_int_eq(store_resolve_latest(st, &lid, NULL), 0);
	ck_assert_int_eq(lid, id);
	ck_assert_int_eq(store_ckpt_lookup(st, "last.ckpt", &ci), 0);
	ck_assert_int_eq(ci.id, id);
	ck_assert_int_eq(ci.kind, CKPT_FILE);
	ck_assert_int_eq(ci.state, CKPT_COMMITTED);
	{
		struct store_node r;

		ck_assert_int_eq(store_version_root(st, ci.version, &r), 0);
		got = tu_read(st, r.id, &len);
		ck_assert_uint_eq(len, 5);
		ck_assert(memcmp(got, "newer", 5) == 0);
		free(got);
	}
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_get(st, old, &ci), 0);
	ck_assert_int_eq(ci.state, CKPT_DELETED);
	ck_assert_str_eq(ci.deleted_rule, "replaced");
	ckpt_info_release(&ci);
	/* plain rename of a committed checkpoint */
	ck_assert_int_eq(store_ckpt_rename(st, id, "renamed.ckpt", 0), 0);
	ck_assert_int_eq(store_ckpt_lookup(st, "renamed.ckpt", &ci), 0);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_lookup(st, "last.ckpt", &ci), -ENOENT);
}
END_TEST

/* Copy-on-write: a new version shares chunks; an old open reader keeps its
 * bytes after the new version commits, the checkpoint is deleted and gc runs. */
START_TEST(test_cow_version)
{
	size_t sz = 8 * CHUNK_SIZE, len;
	uint8_t *a = malloc(sz), *got;
	struct store_file *rd, *wr;
	struct store_node n2, root2;
	struct ckpt_info ci;
	struct store_stats s1, s2;
	int64_t id, v2, node1, lid, lv;
	uint8_t b[100];

	ck_assert_ptr_nonnull(a);
	tu_fill(a, sz, 7);
	id = tu_ckpt1(st, "checkpoint-500", "model.bin", a, sz);
	node1 = tu_lookup(st, "checkpoint-500", "model.bin");
	ck_assert_int_eq(store_stats(st, &s1), 0);
	ck_assert_int_eq(store_file_open(st, node1, STORE_F_READ, &rd), 0);
	ck_assert_int_eq(store_file_open(st, node1, STORE_F_WRITE, &wr), -EROFS);
	ck_assert_int_eq(store_ckpt_begin_version(st, id, &v2), 0);
	ck_assert_int_eq(store_node_follow(st, node1, &n2), 0);
	ck_assert_int_ne(n2.id, node1);
	ck_assert_int_eq(n2.version, v2);
	ck_assert(n2.writable);
	/* latest still the committed version while the new one is staging */
	ck_assert_int_eq(store_resolve_latest(st, &lid, &lv), 0);
	ck_assert_int_ne(lv, v2);
	ck_assert_int_eq(store_file_open(st, n2.id, STORE_F_WRITE, &wr), 0);
	memset(b, 0xee, sizeof(b));
	ck_assert_int_eq(store_file_write(wr, b, sizeof(b), 3 * CHUNK_SIZE + 10),
			 (ssize_t)sizeof(b));
	ck_assert_int_eq(store_file_close(wr), 0);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	ck_assert_int_eq(store_stats(st, &s2), 0);
	/* one changed chunk, the rest shared */
	ck_assert_uint_le(s2.raw_bytes, s1.raw_bytes + CHUNK_SIZE);
	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	ck_assert_int_eq(ci.committed_version, v2);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_version_root(st, v2, &root2), 0);
	got = tu_read(st, n2.id, &len);
	ck_assert_uint_eq(len, sz);
	ck_assert(memcmp(got + 3 * CHUNK_SIZE + 10, b, sizeof(b)) == 0);
	ck_assert(memcmp(got, a, 3 * CHUNK_SIZE + 10) == 0);
	free(got);
	/* delete + gc: the old reader still reads its bytes */
	ck_assert_int_eq(store_ckpt_delete(st, id, "user"), 0);
	ck_assert_int_eq(store_gc(st, true, NULL), 0);
	got = malloc(sz);
	ck_assert_int_eq(store_file_read(rd, got, sz, 0), (ssize_t)sz);
	ck_assert(memcmp(got, a, sz) == 0);
	free(got);
	ck_assert_int_eq(store_file_close(rd), 0);
	/* now everything is reclaimable */
	ck_assert_int_eq(store_gc(st, true, NULL), 0);
	ck_assert_int_eq(store_stats(st, &s2), 0);
	ck_assert_uint_eq(s2.chunks, 0);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
	free(a);
}
END_TEST

/* Aborting a new version of a committed checkpoint leaves it as it was. */
START_TEST(test_cow_abort)
{
	int64_t id, v2, lid, lv, v1;
	struct ckpt_info ci;
	struct store_node n2;
	struct store_file *wr;
	uint8_t *got;
	size_t len;

	id = tu_ckpt1(st, "checkpoint-1", "f", "original", 8);
	ck_assert_int_eq(store_resolve_latest(st, &lid, &v1), 0);
	ck_assert_int_eq(store_ckpt_begin_version(st, id, &v2), 0);
	ck_assert_int_eq(store_node_follow(st, tu_lookup(st, "checkpoint-1", "f"), &n2), 0);
	ck_assert_int_eq(store_file_open(st, n2.id, STORE_F_WRITE | STORE_F_TRUNC, &wr), 0);
	ck_assert_int_eq(store_file_write(wr, "partial", 7, 0), 7);
	ck_assert_int_eq(store_file_close(wr), 0);
	ck_assert_int_eq(store_ckpt_abort(st, id, "writer died"), 0);
	ck_assert_int_eq(store_resolve_latest(st, &lid, &lv), 0);
	ck_assert_int_eq(lid, id);
	ck_assert_int_eq(lv, v1);
	got = tu_read(st, tu_lookup(st, "checkpoint-1", "f"), &len);
	ck_assert_uint_eq(len, 8);
	ck_assert(memcmp(got, "original", 8) == 0);
	free(got);
	ck_assert_int_eq(store_ckpt_lookup_aborted(st, "checkpoint-1", &ci), 0);
	ck_assert_int_ne(ci.id, id);
	ck_assert_int_eq(ci.version, v2);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	ck_assert_int_eq(ci.staging_version, 0);
	ck_assert_int_eq(ci.state, CKPT_COMMITTED);
	ckpt_info_release(&ci);
}
END_TEST

START_TEST(test_recovery_aborts_staging)
{
	int64_t a, b, root, v2;
	struct ckpt_info ci;
	struct store_event *ev;
	size_t nev, i;
	bool found = false;

	a = tu_ckpt1(st, "done", "f", "x", 1);
	ck_assert_int_eq(store_ckpt_begin_version(st, a, &v2), 0);
	ck_assert_int_eq(store_ckpt_create(st, "half", CKPT_DIR, 0755, &b, &root), 0);
	tu_put(st, root, "f", "yy", 2);
	store_close(st);
	st = tu_open(dir, 0);
	ck_assert_int_eq(store_ckpt_get(st, b, &ci), 0);
	ck_assert_int_eq(ci.state, CKPT_ABORTED);
	ck_assert_ptr_nonnull(strstr(ci.note, "left staging at open"));
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_ckpt_get(st, a, &ci), 0);
	ck_assert_int_eq(ci.state, CKPT_COMMITTED);
	ck_assert_int_eq(ci.staging_version, 0);
	ckpt_info_release(&ci);
	ck_assert_int_eq(store_events(st, &ev, &nev), 0);
	for (i = 0; i < nev; i++)
		found |= strcmp(ev[i].event, "abort") == 0 && strcmp(ev[i].name, "half") == 0;
	store_events_free(ev, nev);
	ck_assert(found);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
}
END_TEST

START_TEST(test_lock_busy)
{
	pid_t pid;
	int status;
	struct store *other;
	char err[256];

	char *spec = tu_spec(dir);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int rc = store_open(spec, 0, &other, err, sizeof(err));

		if (tu_pg()) /* several mounts share a PostgreSQL store */
			_exit(rc == 0 ? (store_close(other), 0) : 1);
		_exit(rc == -EBUSY && strstr(err, "in use") ? 0 : 1);
	}
	free(spec);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* a SIGKILLed holder leaves no stuck lock */
	store_close(st);
	st = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (store_open(dir, 0, &other, NULL, 0) != 0)
			_exit(1);
		kill(getpid(), SIGSTOP);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, WUNTRACED), pid);
	ck_assert(WIFSTOPPED(status));
	if (!tu_pg())
		ck_assert_int_eq(store_open(dir, 0, &other, err, sizeof(err)), -EBUSY);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	st = tu_open(dir, 0);
}
END_TEST

/* Closes the test's store and runs sql on its index directly. */
static void close_and_edit_index(const char *sql)
{
	store_close(st);
	st = NULL;
	tu_index_sql(dir, sql);
}

/* utimens keeps atime exactly, across copy-on-write; setting mtime alone
 * leaves it; an index from before the atime column reads (read-only) and
 * gains the column at a read-write open. */
START_TEST(test_atime_kept)
{
	struct store_node n, c;
	int64_t id, root, v2;
	struct store *o;

	ck_assert_int_eq(store_ckpt_create(st, "at", CKPT_DIR, S_IFDIR | 0755, &id, &root), 0);
	ck_assert_int_eq(store_node_create(st, root, "f", 0644, &n), 0);
	ck_assert_int_eq(n.atime_ns, n.mtime_ns); /* never set: follows mtime */
	ck_assert_int_eq(store_node_setattr(st, n.id, STORE_SET_ATIME | STORE_SET_MTIME, 0, 0, 2000,
					    1000, &n),
			 0);
	ck_assert_int_eq(n.atime_ns, 1000);
	ck_assert_int_eq(n.mtime_ns, 2000);
	ck_assert_int_eq(store_node_setattr(st, n.id, STORE_SET_MTIME, 0, 0, 3000, 0, &n), 0);
	ck_assert_int_eq(n.atime_ns, 1000);
	ck_assert_int_eq(n.mtime_ns, 3000);
	ck_assert_int_eq(store_node_create(st, root, "g", 0644, &c), 0);
	ck_assert_int_eq(store_node_setattr(st, c.id, STORE_SET_MTIME, 0, 0, 5000, 0, &c), 0);
	ck_assert_int_eq(c.mtime_ns, 5000);
	ck_assert_int_ne(c.atime_ns, 5000); /* the atime shown before stays */
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	ck_assert_int_eq(store_ckpt_begin_version(st, id, &v2), 0);
	ck_assert_int_eq(store_version_root(st, v2, &c), 0);
	ck_assert_int_eq(store_node_lookup(st, c.id, "f", &c), 0);
	ck_assert_int_ne(c.id, n.id);
	ck_assert_int_eq(c.atime_ns, 1000);
	ck_assert_int_eq(c.mtime_ns, 3000);
	TU_SQLITE_ONLY("no PostgreSQL index predates the atime column");
	close_and_edit_index("ALTER TABLE nodes DROP COLUMN atime");
	o = tu_open(dir, STORE_RDONLY);
	ck_assert_int_eq(store_node_get(o, n.id, &c), 0);
	ck_assert_int_eq(c.atime_ns, c.mtime_ns);
	ck_assert_int_eq(c.mtime_ns, 3000);
	store_close(o);
	st = tu_open(dir, 0);
	ck_assert_int_eq(store_node_get(st, n.id, &c), 0);
	ck_assert_int_eq(c.atime_ns, 3000);
}
END_TEST

/* A file removed while open keeps its attributes for its handles (fstat,
 * ftruncate, fchmod of a tempfile-style saver); closed, it is gone. */
START_TEST(test_unlinked_open)
{
	struct store_node n, g;
	struct store_file *f;
	int64_t id, root;

	ck_assert_int_eq(store_ckpt_create(st, "ul", CKPT_DIR, S_IFDIR | 0755, &id, &root), 0);
	ck_assert_int_eq(store_node_create(st, root, "t", 0640, &n), 0);
	ck_assert_int_eq(store_file_open(st, n.id, STORE_F_READ | STORE_F_WRITE, &f), 0);
	ck_assert_int_eq(store_file_write(f, "abcdef", 6, 0), 6);
	ck_assert_int_eq(store_node_unlink(st, root, "t"), 0);
	ck_assert_int_eq(store_node_lookup(st, root, "t", &g), -ENOENT);
	ck_assert_int_eq(store_node_get(st, n.id, &g), 0);
	ck_assert_int_eq(g.parent, STORE_NODE_GONE);
	ck_assert_uint_eq(g.size, 6);
	ck_assert_uint_eq(g.mode, S_IFREG | 0640);
	ck_assert(g.writable);
	ck_assert_int_eq(
		store_node_setattr(st, n.id, STORE_SET_SIZE | STORE_SET_MODE, 0600, 3, 0, 0, &g),
		0);
	ck_assert_uint_eq(g.size, 3);
	ck_assert_uint_eq(g.mode, S_IFREG | 0600);
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_node_get(st, n.id, &g), -ENOENT);
}
END_TEST

/* Closes the test's store and stamps its index with format version v. */
static void close_and_set_format(const char *v)
{
	char sql[128];

	snprintf(sql, sizeof(sql),
		 tu_pg() ? "UPDATE store_info SET value = '%s' WHERE key = 'schema_version'"
			 : "PRAGMA user_version = %s",
		 v);
	close_and_edit_index(sql);
}

START_TEST(test_format_version_refused)
{
	char err[256], *spec = tu_spec(dir);
	struct store *o;

	tu_ckpt1(st, "kept", "f", "v", 1);
	close_and_set_format("99");
	ck_assert_int_eq(store_open(spec, 0, &o, err, sizeof(err)), -EPROTONOSUPPORT);
	ck_assert_ptr_nonnull(strstr(err, "newer"));
	ck_assert_int_eq(store_open(spec, STORE_RDONLY, &o, err, sizeof(err)), -EPROTONOSUPPORT);
	free(spec);
	close_and_set_format("1");
	/* read-only with nobody else holding the store (ckpt ls without a mount) */
	{
		struct ckpt_info *arr;
		size_t n;

		o = tu_open(dir, STORE_RDONLY);
		ck_assert_int_eq(store_ckpt_list(o, STORE_LIST_ALL, &arr, &n), 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_str_eq(arr[0].name, "kept");
		ckpt_info_free_array(arr, n);
		store_close(o);
	}
	st = tu_open(dir, 0);
}
END_TEST

START_TEST(test_shared_reader_sees_writer)
{
	int64_t id, root, node;
	struct store_file *w, *r;
	char buf[16];

	ck_assert_int_eq(store_ckpt_create(st, "s", CKPT_DIR, 0755, &id, &root), 0);
	node = tu_put(st, root, "f", NULL, 0);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_WRITE, &w), 0);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_READ, &r), 0);
	ck_assert_int_eq(store_file_write(w, "abcdef", 6, 0), 6);
	ck_assert_int_eq(store_file_read(r, buf, sizeof(buf), 0), 6);
	ck_assert(memcmp(buf, "abcdef", 6) == 0);
	ck_assert_int_eq(store_file_write(w, "XY", 2, 10), 2);
	ck_assert_int_eq(store_file_read(r, buf, sizeof(buf), 0), 12);
	ck_assert(memcmp(buf, "abcdef\0\0\0\0XY", 12) == 0);
	ck_assert_int_eq(store_file_read(r, buf, 4, 100), 0);
	ck_assert_int_eq(store_file_close(w), 0);
	ck_assert_int_eq(store_file_close(r), 0);
	/* an unlinked open file keeps its data */
	ck_assert_int_eq(store_file_open(st, node, STORE_F_READ | STORE_F_WRITE, &r), 0);
	ck_assert_int_eq(store_node_unlink(st, root, "f"), 0);
	ck_assert_int_eq(store_file_write(r, "Z", 1, 0), 1);
	ck_assert_int_eq(store_file_read(r, buf, sizeof(buf), 0), 12);
	ck_assert(memcmp(buf, "Zbcdef\0\0\0\0XY", 12) == 0);
	ck_assert_int_eq(store_file_close(r), 0);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
}
END_TEST

/* STORE_SHARED beside the read-write holder: index changes without the lock
 * (the `ckpt pin/policy/commit/gc` path), seen by the holder. */
START_TEST(test_shared_open)
{
	struct store *sh, *ro;
	struct ckpt_info ci;
	int64_t a, ab, lid;
	uint64_t freed = 1;

	a = tu_ckpt1(st, "step-1", "f", "abc", 3);
	ck_assert_int_eq(store_ckpt_create(st, "step-2", CKPT_DIR, 0755, &ab, NULL), 0);
	ck_assert_int_eq(store_ckpt_abort(st, ab, "killed"), 0);
	ck_assert(!store_changed_externally(st));
	sh = tu_open(dir, STORE_SHARED);
	ck_assert_int_eq(store_ckpt_set_pinned(sh, a, true), 0);
	ck_assert(tu_changed_externally(st));
	ck_assert_int_eq(store_ckpt_get(st, a, &ci), 0);
	ck_assert(ci.pinned);
	ck_assert_uint_eq(ci.logical_bytes, 3);
	ckpt_info_release(&ci);
	/* promote (ckpt commit NAME) works shared; file writes do not */
	ck_assert_int_eq(store_ckpt_promote(sh, ab), 0);
	ck_assert_int_eq(store_resolve_latest(st, &lid, NULL), 0);
	ck_assert_int_eq(lid, ab);
	ck_assert_int_eq(store_ckpt_create(sh, "x", CKPT_DIR, 0755, NULL, NULL), -EROFS);
	/* gc shared: index part only, no chunk file deletion */
	ck_assert_int_eq(store_ckpt_delete(sh, a, "user"), 0);
	ck_assert_int_eq(store_gc(sh, true, &freed), 0);
	ck_assert_uint_eq(freed, 0);
	store_close(sh);
	ck_assert(tu_changed_externally(st));
	ck_assert_int_eq(store_gc(st, false, &freed), 0);
	ck_assert_uint_gt(freed, 0); /* the holder reclaims */
	ro = tu_open(dir, STORE_RDONLY);
	ck_assert_int_eq(store_gc(ro, false, NULL), -EROFS);
	ck_assert_int_eq(store_ckpt_delete(ro, ab, "user"), -EROFS);
	ck_assert_int_eq(store_verify(ro, NULL, NULL, NULL), 0);
	store_close(ro);
}
END_TEST

/* Holes (truncate up, writes far past the end) share one zero chunk. */
START_TEST(test_sparse_holes)
{
	const uint64_t big = 200ull * CHUNK_SIZE + 5;
	struct store_stats s;
	struct store_file *f;
	int64_t id, root, node;
	uint8_t buf[4096], zero[4096] = { 0 };
	uint64_t off;

	ck_assert_int_eq(store_ckpt_create(st, "sparse", CKPT_DIR, 0755, &id, &root), 0);
	node = tu_put(st, root, "f", "head", 4);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_WRITE | STORE_F_READ, &f), 0);
	ck_assert_int_eq(store_file_truncate(f, big), 0);
	ck_assert_int_eq(store_file_write(f, "tail", 4, big - 4), 4);
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	ck_assert_int_eq(store_stats(st, &s), 0);
	ck_assert_uint_le(s.chunks, 4); /* head, one zero chunk, tail, maybe a short one */
	ck_assert_uint_eq(s.logical_bytes, big);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_READ, &f), 0);
	ck_assert_int_eq(store_file_read(f, buf, 4, 0), 4);
	ck_assert(memcmp(buf, "head", 4) == 0);
	for (off = 4; off + sizeof(buf) < big - 4; off += 7 * CHUNK_SIZE + 333) {
		ck_assert_int_eq(store_file_read(f, buf, sizeof(buf), off), (ssize_t)sizeof(buf));
		ck_assert(memcmp(buf, zero, sizeof(buf)) == 0);
	}
	ck_assert_int_eq(store_file_read(f, buf, sizeof(buf), big - 4), 4);
	ck_assert(memcmp(buf, "tail", 4) == 0);
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
}
END_TEST

/* Small random writes over more slots than the auto-flush threshold, so
 * flushes happen mid-writing and base chunks are copied back. */
START_TEST(test_model_many_slots)
{
	const size_t cap = 72 * (size_t)CHUNK_SIZE;
	uint8_t *model = calloc(1, cap), *got;
	uint64_t s = 99, size = 0;
	struct store_file *f;
	int64_t id, root, node;
	size_t len;
	int i;

	ck_assert_ptr_nonnull(model);
	ck_assert_int_eq(store_ckpt_create(st, "many", CKPT_DIR, 0755, &id, &root), 0);
	node = tu_put(st, root, "f", NULL, 0);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_WRITE | STORE_F_READ, &f), 0);
	for (i = 0; i < 1000; i++) {
		uint64_t off = tu_rand(&s) % (cap - 600), n = 1 + tu_rand(&s) % 512;
		uint8_t b[512];

		if (i % 300 == 299) {
			uint64_t ns = tu_rand(&s) % cap;

			ck_assert_int_eq(store_file_truncate(f, ns), 0);
			if (ns < size)
				memset(model + ns, 0, size - ns);
			size = ns;
			continue;
		}
		tu_fill(b, n, tu_rand(&s));
		ck_assert_int_eq(store_file_write(f, b, n, off), (ssize_t)n);
		memcpy(model + off, b, n);
		if (off + n > size)
			size = off + n;
	}
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	got = tu_read(st, node, &len);
	ck_assert_uint_eq(len, size);
	ck_assert(memcmp(got, model, size) == 0);
	free(got);
	free(model);
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
}
END_TEST

/* The policy's codec applies even when a reader opened the file first. */
START_TEST(test_codec_reader_first)
{
	uint8_t *z = calloc(1, 4 * CHUNK_SIZE);
	struct store_file *r, *w;
	struct store_stats s;
	int64_t id, root, node;

	ck_assert_ptr_nonnull(z);
	tu_set_compress(st, "zstd");
	ck_assert_int_eq(store_ckpt_create(st, "c", CKPT_DIR, 0755, &id, &root), 0);
	node = tu_put(st, root, "zeros", NULL, 0);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_READ, &r), 0);
	ck_assert_int_eq(store_file_open(st, node, STORE_F_WRITE, &w), 0);
	memset(z, 'a', 4 * CHUNK_SIZE); /* compressible, 4 identical chunks */
	z[0] = 'b';
	ck_assert_int_eq(store_file_write(w, z, 4 * CHUNK_SIZE, 0), 4 * CHUNK_SIZE);
	ck_assert_int_eq(store_file_close(w), 0);
	ck_assert_int_eq(store_file_close(r), 0);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	ck_assert_int_eq(store_stats(st, &s), 0);
	ck_assert_uint_eq(s.chunks, 2);
	ck_assert_uint_eq(s.raw_bytes, 2 * CHUNK_SIZE);
	ck_assert_uint_lt(s.stored_bytes, CHUNK_SIZE / 10); /* compressed */
	ck_assert(s.compression_ratio > 10);
	free(z);
}
END_TEST

/* follow maps an old node through versions, also after a middle version
 * was purged (origin links are compressed then). */
START_TEST(test_follow_through_purged)
{
	int64_t id, v1, v2, v3, n1;
	struct store_node n, r;
	struct ckpt_info ci;

	id = tu_ckpt1(st, "ck", "f", "one", 3);
	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	v1 = ci.committed_version;
	ckpt_info_release(&ci);
	n1 = tu_lookup(st, "ck", "f");
	store_version_pin(st, v1); /* a handle still bound to v1 */
	ck_assert_int_eq(store_ckpt_begin_version(st, id, &v2), 0);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	ck_assert_int_eq(store_ckpt_begin_version(st, id, &v3), 0);
	ck_assert_int_eq(store_ckpt_commit(st, id), 0);
	ck_assert_int_eq(store_gc(st, false, NULL), 0);
	ck_assert_int_eq(store_version_root(st, v2, &r), -ENOENT); /* purged */
	ck_assert_int_eq(store_version_root(st, v1, &r), 0);	   /* pinned: kept */
	ck_assert_int_eq(store_node_follow(st, n1, &n), 0);
	ck_assert_int_eq(n.version, v3);
	ck_assert_int_eq(store_node_follow(st, r.id, &n), 0); /* the root too */
	ck_assert_int_eq(n.version, v3);
	ck_assert_int_eq(n.parent, 0);
	store_version_unpin(st, v1);
	ck_assert_int_eq(store_gc(st, false, NULL), 0);
	ck_assert_int_eq(store_version_root(st, v1, &r), -ENOENT);
	ck_assert_int_eq(store_node_follow(st, n1, &n), -ENOENT); /* its row is gone */
	ck_assert_int_eq(store_verify(st, NULL, NULL, NULL), 0);
}
END_TEST

/* The mount's sweep: store_gc skips a pinned dead version; a pin dropped
 * after that (the kernel forgets an inode while gc runs, and its kick sees
 * no pinned version) must show as gc's work in the sweep's own look, or the
 * deleted data stays until something else runs gc. */
START_TEST(test_dead_unpinned_after_gc)
{
	int64_t id, v1, *dead;
	struct ckpt_info ci;
	size_t n, unpinned;

	id = tu_ckpt1(st, "ck", "f", "one", 3);
	ck_assert_int_eq(store_ckpt_get(st, id, &ci), 0);
	v1 = ci.committed_version;
	ckpt_info_release(&ci);
	store_version_pin(st, v1);
	ck_assert_int_eq(store_ckpt_delete(st, id, "user"), 0);
	ck_assert_int_eq(store_gc(st, false, NULL), 0);
	ck_assert_int_eq(store_versions_dead_pinned(st, &dead, &n, &unpinned), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(dead[0], v1);
	ck_assert_uint_eq(unpinned, 0);
	free(dead);
	store_version_unpin(st, v1); /* after gc looked */
	ck_assert_int_eq(store_versions_dead_pinned(st, &dead, &n, &unpinned), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(unpinned, 1);
	free(dead);
	ck_assert_int_eq(store_gc(st, false, NULL), 0);
	ck_assert_int_eq(store_versions_dead_pinned(st, &dead, &n, &unpinned), 0);
	ck_assert_uint_eq(n + unpinned, 0);
	free(dead);
}
END_TEST

START_TEST(test_files_and_notes)
{
	const char *names[] = { "b.bin", "a.bin" };
	const void *data[] = { "12345", "1" };
	size_t lens[] = { 5, 1 }, n, i;
	struct store_file_entry *e;
	struct store_file *f;
	int64_t id, sid, root;
	char *notes;

	id = tu_ckpt(st, "dir-ck", names, data, lens, 2);
	ck_assert_int_eq(store_ckpt_files(st, id, &e, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(e[0].path, "a.bin");
	ck_assert_uint_eq(e[0].size, 1);
	ck_assert_str_eq(e[1].path, "b.bin");
	ck_assert_uint_eq(e[1].size, 5);
	store_file_entries_free(e, n);
	ck_assert_int_eq(store_ckpt_create(st, "single.pt", CKPT_FILE, 0644, &sid, &root), 0);
	ck_assert_int_eq(store_file_open(st, root, STORE_F_WRITE, &f), 0);
	ck_assert_int_eq(store_file_write(f, "abc", 3, 0), 3);
	ck_assert_int_eq(store_file_close(f), 0);
	ck_assert_int_eq(store_ckpt_commit(st, sid), 0);
	ck_assert_int_eq(store_ckpt_files(st, sid, &e, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(e[0].path, "single.pt");
	ck_assert_uint_eq(e[0].size, 3);
	store_file_entries_free(e, n);
	/* notes: one line each, newest last, bounded */
	for (i = 0; i < 100; i++)
		store_note(st, "note %zu\nsecond line", i);
	notes = store_notes(st);
	ck_assert_ptr_nonnull(notes);
	ck_assert_ptr_null(strstr(notes, "note 35 "));
	ck_assert_ptr_nonnull(strstr(notes, "note 36 second line\n"));
	ck_assert_ptr_nonnull(strstr(notes, "note 99 second line\n"));
	{
		size_t lines = 0;
		char *c;

		for (c = notes; *c; c++)
			lines += *c == '\n';
		ck_assert_uint_eq(lines, 64);
	}
	free(notes);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_init);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_tree_ops);
	tcase_add_test(tc, test_atime_kept);
	tcase_add_test(tc, test_unlinked_open);
	tcase_add_test(tc, test_model_none);
	tcase_add_test(tc, test_model_zlib);
	tcase_add_test(tc, test_model_zstd);
	tcase_add_test(tc, test_model_auto);
	tcase_add_test(tc, test_commit_latest);
	tcase_add_test(tc, test_best);
	tcase_add_test(tc, test_metrics_sources);
	tcase_add_test(tc, test_format_check_aborts);
	tcase_add_test(tc, test_abort_promote);
	tcase_add_test(tc, test_single_file_and_rename_commit);
	tcase_add_test(tc, test_cow_version);
	tcase_add_test(tc, test_cow_abort);
	tcase_add_test(tc, test_recovery_aborts_staging);
	tcase_add_test(tc, test_lock_busy);
	tcase_add_test(tc, test_format_version_refused);
	tcase_add_test(tc, test_shared_reader_sees_writer);
	tcase_add_test(tc, test_shared_open);
	tcase_add_test(tc, test_sparse_holes);
	tcase_add_test(tc, test_model_many_slots);
	tcase_add_test(tc, test_codec_reader_first);
	tcase_add_test(tc, test_follow_through_purged);
	tcase_add_test(tc, test_dead_unpinned_after_gc);
	tcase_add_test(tc, test_files_and_notes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(store_suite());
}
