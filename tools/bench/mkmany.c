/* mkmany: adds committed directory checkpoints to a store through the core
 * API (core/store.h), fast enough for 100,000 of them (the mount is not).
 *
 *   mkmany STORE FROM TO [BYTES]
 *
 * Creates checkpoints ckpt-%07d for FROM <= i < TO, each a directory with
 * one file model.bin of BYTES bytes (default 4096; the same content in every
 * checkpoint, so they share one chunk: this is a metadata fixture). The store
 * must not be mounted (it takes the store lock). Prints the rate on stderr.
 * run.sh runs it with tools/bench/nosync.so preloaded: durability of the
 * fixture is irrelevant to lookup latency, and 100k fsyncs would dominate. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const char *what, const char *name, int rc)
{
	fprintf(stderr, "mkmany: %s %s: %s\n", what, name ? name : "", strerror(rc < 0 ? -rc : rc));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: mkmany STORE FROM TO [BYTES]\n");
		return 2;
	}
	long from = atol(argv[2]), to = atol(argv[3]);
	size_t bytes = argc > 4 ? (size_t)atol(argv[4]) : 4096;
	char err[512] = "";
	struct store *st = NULL;
	int rc = store_open(argv[1], 0, &st, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "mkmany: %s: %s\n", argv[1], err[0] ? err : strerror(-rc));
		return 1;
	}
	unsigned char *buf = malloc(bytes ? bytes : 1);
	if (!buf)
		return die("malloc", NULL, -ENOMEM);
	for (size_t i = 0; i < bytes; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	double t0 = now();
	for (long i = from; i < to; i++) {
		char name[64];
		snprintf(name, sizeof(name), "ckpt-%07ld", i);
		int64_t id = 0, root = 0;
		rc = store_ckpt_create(st, name, CKPT_DIR, 0755, &id, &root);
		if (rc < 0)
			return die("create", name, rc);
		struct store_node node;
		rc = store_node_create(st, root, "model.bin", S_IFREG | 0644, &node);
		if (rc < 0)
			return die("create model.bin in", name, rc);
		if (bytes) {
			struct store_file *f = NULL;
			rc = store_file_open(st, node.id, STORE_F_WRITE, &f);
			if (rc < 0)
				return die("open model.bin in", name, rc);
			ssize_t w = store_file_write(f, buf, bytes, 0);
			if (w < 0)
				return die("write model.bin in", name, (int)w);
			rc = store_file_close(f);
			if (rc < 0)
				return die("close model.bin in", name, rc);
		}
		rc = store_ckpt_commit(st, id);
		if (rc < 0)
			return die("commit", name, rc);
	}
	double dt = now() - t0;
	store_close(st);
	free(buf);
	fprintf(stderr, "mkmany: %ld checkpoints in %.1f s (%.0f/s)\n", to - from, dt,
		dt > 0 ? (to - from) / dt : 0.0);
	return 0;
}
