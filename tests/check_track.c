/* Unit tests for fs/track.c, the tracker of staging checkpoints: which are
 * ready to commit and in what order (the last to go quiet becomes latest),
 * writer bookkeeping, killed writers' exits, doomed (unrecorded) aborts and
 * their retry, and the commit modes (commit=close|rename, commit_marker,
 * commit_timeout_ms). No FUSE session: a zeroed struct fs with trk_lock and
 * the commit options, and a real store only where the tracker logs to it. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "store_test_util.h"

#define NO_PID 999999999 /* no such process: the tracker keeps it as its own tgid */

static struct fs *fs_new(void)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	ck_assert_ptr_nonnull(fs);
	pthread_mutex_init(&fs->trk_lock, NULL);
	return fs;
}

static void fs_free(struct fs *fs)
{
	fs_track_release_all(fs);
	pthread_mutex_destroy(&fs->trk_lock);
	free(fs);
}

static struct fs_track *track_of(struct fs *fs, int64_t id)
{
	for (struct fs_track *t = fs->tracks; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

/* Tracks id as a quiet checkpoint whose last change was ago_ms ago. */
static void add_quiet(struct fs *fs, int64_t id, int kind, const char *name, int64_t ago_ms)
{
	fs_track_add(fs, id, kind, name);
	struct fs_track *t = track_of(fs, id);
	ck_assert_ptr_nonnull(t);
	t->last_change_ms = fs_now_ms() - ago_ms;
}

static size_t ready(struct fs *fs, int64_t settle_ms, int64_t *ids, size_t max)
{
	return fs_track_ready(fs, settle_ms, ids, max);
}

/* ---- ready: which and in what order ---- */

START_TEST(test_ready_order)
{
	struct fs *fs = fs_new();
	int64_t ids[8];
	add_quiet(fs, 1, CKPT_DIR, "c", 100);
	add_quiet(fs, 2, CKPT_DIR, "a", 300);
	add_quiet(fs, 3, CKPT_DIR, "b", 200);
	ck_assert_uint_eq(ready(fs, -1, ids, 8), 3);
	/* the one quiet longest first: the last to finish commits last */
	ck_assert_int_eq(ids[0], 2);
	ck_assert_int_eq(ids[1], 3);
	ck_assert_int_eq(ids[2], 1);
	/* at most max, the oldest */
	ck_assert_uint_eq(ready(fs, -1, ids, 2), 2);
	ck_assert_int_eq(ids[0], 2);
	ck_assert_int_eq(ids[1], 3);
	/* ties of last change: creation order */
	int64_t same = fs_now_ms() - 50;
	add_quiet(fs, 10, CKPT_DIR, "t1", 0);
	add_quiet(fs, 11, CKPT_DIR, "t2", 0);
	track_of(fs, 11)->last_change_ms = same;
	track_of(fs, 10)->last_change_ms = same;
	fs_track_drop(fs, 1);
	fs_track_drop(fs, 2);
	fs_track_drop(fs, 3);
	ck_assert_uint_eq(ready(fs, -1, ids, 8), 2);
	ck_assert_int_eq(ids[0], 10);
	ck_assert_int_eq(ids[1], 11);
	fs_free(fs);
}
END_TEST

START_TEST(test_ready_settle_and_exclusions)
{
	struct fs *fs = fs_new();
	int64_t ids[8];
	add_quiet(fs, 1, CKPT_DIR, "old", 5000);
	add_quiet(fs, 2, CKPT_DIR, "fresh", 0);
	ck_assert_uint_eq(ready(fs, 1000, ids, 8), 1); /* quiet for settle_ms only */
	ck_assert_int_eq(ids[0], 1);
	ck_assert_uint_eq(ready(fs, -1, ids, 8), 2); /* unmount: any quiet time */

	add_quiet(fs, 3, CKPT_DIR, "tmp-x", 5000); /* temporary: only a rename commits */
	add_quiet(fs, 4, CKPT_DIR, "busy", 5000);
	fs_track_writer(fs, 4, NO_PID, true);
	track_of(fs, 4)->last_change_ms -= 5000;
	add_quiet(fs, 5, CKPT_DIR, "doomed", 5000);
	fs_track_doom(fs, 5, "disk full");
	ck_assert_uint_eq(ready(fs, -1, ids, 8), 2);
	ck_assert(ids[0] == 1 && ids[1] == 2);

	/* renamed to a final name: ready again (and the rename is a change) */
	fs_track_rename(fs, 3, "final");
	ck_assert(!track_of(fs, 3)->temp);
	ck_assert_uint_eq(ready(fs, 1000, ids, 8), 1);
	ck_assert_uint_eq(ready(fs, -1, ids, 8), 3);
	fs_track_rename(fs, 3, "name.tmp");
	ck_assert(track_of(fs, 3)->temp);
	/* the writer's flush: no longer active */
	fs_track_writer_done(fs, 4);
	ck_assert_int_eq(fs_track_active(fs, 4), 0);
	ck_assert_uint_eq(ready(fs, -1, ids, 8), 3);
	fs_free(fs);
}
END_TEST

/* ---- writers ---- */

START_TEST(test_writer_bookkeeping)
{
	struct fs *fs = fs_new();
	ck_assert_int_eq(fs_track_active(fs, 7), -1); /* untracked */
	fs_track_writer(fs, 7, getpid(), true);	      /* untracked: ignored */
	ck_assert_int_eq(fs_track_active(fs, 7), -1);

	fs_track_add(fs, 7, CKPT_DIR, "d");
	fs_track_add(fs, 7, CKPT_DIR, "d"); /* again: one track */
	ck_assert_ptr_null(track_of(fs, 7)->next);
	fs_track_writer(fs, 7, getpid(), true);
	fs_track_writer(fs, 7, getpid(), true);
	fs_track_writer(fs, 7, getpid(), false); /* a write, not an open */
	struct fs_track *t = track_of(fs, 7);
	ck_assert_int_eq(fs_track_active(fs, 7), 2);
	ck_assert_uint_eq(t->n_writers, 1); /* one process, recorded once */
	ck_assert_int_eq(t->writers[0], getpid());
	ck_assert(!t->invisible);
	fs_track_writer_done(fs, 7);
	fs_track_writer_done(fs, 7);
	fs_track_writer_done(fs, 7); /* never below 0 */
	ck_assert_int_eq(fs_track_active(fs, 7), 0);

	/* at most FS_MAX_WRITERS processes remembered */
	for (int i = 0; i < FS_MAX_WRITERS + 10; i++)
		fs_track_writer(fs, 7, NO_PID - i, false);
	ck_assert_uint_eq(t->n_writers, FS_MAX_WRITERS);

	int64_t before = t->last_change_ms = 0;
	fs_track_touch(fs, 7);
	ck_assert_int_gt(t->last_change_ms, before);
	fs_track_drop(fs, 7);
	ck_assert_int_eq(fs_track_active(fs, 7), -1);
	fs_track_drop(fs, 7); /* twice: nothing */
	fs_free(fs);
}
END_TEST

/* FUSE's pid 0 (a writer in a PID namespace the daemon is not in): counted,
 * marked invisible, and logged once per checkpoint as an event. */
START_TEST(test_invisible_writer)
{
	char *dir = tu_tmpstore();
	struct fs *fs = fs_new();
	fs->st = tu_open(dir, 0);
	int64_t id, root;
	ck_assert_int_eq(store_ckpt_create(fs->st, "inv", CKPT_DIR, 0755, &id, &root), 0);
	fs_track_add(fs, id, CKPT_DIR, "inv");
	fs_track_writer(fs, id, 0, true);
	fs_track_writer(fs, id, 0, false);
	ck_assert(track_of(fs, id)->invisible);
	ck_assert_uint_eq(track_of(fs, id)->n_writers, 0);
	ck_assert_uint_eq(fs->n_invisible, 2);
	struct store_event *ev = NULL;
	size_t n = 0, seen = 0;
	ck_assert_int_eq(store_events(fs->st, &ev, &n), 0);
	for (size_t i = 0; i < n; i++)
		seen += strcmp(ev[i].event, "invisible") == 0 && strcmp(ev[i].name, "inv") == 0;
	ck_assert_uint_eq(seen, 1);
	store_events_free(ev, n);
	store_close(fs->st);
	fs_free(fs);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- killed writers ---- */

START_TEST(test_exits)
{
	struct fs *fs = fs_new();
	char reason[FS_REASON_MAX];
	fs_track_add(fs, 1, CKPT_DIR, "a");
	fs_track_add(fs, 2, CKPT_FILE, "b");
	fs_track_add(fs, 3, CKPT_FILE, "c");
	fs_track_writer(fs, 1, NO_PID, true);
	fs_track_writer(fs, 2, NO_PID, true);
	fs_track_writer(fs, 3, NO_PID - 1, true);

	ck_assert(!fs_track_exit_seen(fs, NO_PID, 0));		/* a clean exit aborts nothing */
	ck_assert(fs_track_exit_seen(fs, NO_PID - 2, SIGKILL)); /* not a writer here */
	ck_assert_uint_eq(fs->n_exitq, 0);
	ck_assert_int_eq(fs_track_exit_next(fs, reason, sizeof(reason)), 0);

	ck_assert(fs_track_exit_seen(fs, NO_PID, SIGKILL));
	ck_assert(fs_track_exit_seen(fs, NO_PID - 1, 1 << 8));
	/* newest exit first; each checkpoint of that pid in turn */
	int64_t id = fs_track_exit_next(fs, reason, sizeof(reason));
	ck_assert_int_eq(id, 3);
	ck_assert_str_eq(reason, "writer pid 999999998 exited with status 1");
	fs_track_drop(fs, id); /* what fs_abort does */
	int64_t a = fs_track_exit_next(fs, reason, sizeof(reason));
	ck_assert(a == 1 || a == 2);
	ck_assert_str_eq(reason, "writer pid 999999999 killed by signal 9");
	fs_track_drop(fs, a);
	int64_t b = fs_track_exit_next(fs, reason, sizeof(reason));
	ck_assert_int_eq(b, 3 - a);
	/* a checkpoint whose abort is pending is not returned again */
	fs_track_doom(fs, b, "disk full");
	ck_assert_int_eq(fs_track_exit_next(fs, reason, sizeof(reason)), 0);
	ck_assert_uint_eq(fs->n_exitq, 0);
	fs_free(fs);
}
END_TEST

/* ---- doomed aborts and their retry ---- */

START_TEST(test_doom_retry)
{
	struct fs *fs = fs_new();
	int64_t ids[4];
	char reasons[4][FS_REASON_MAX];
	ck_assert_uint_eq(fs_track_doomed(fs, ids, reasons, 4), 0);
	ck_assert(!fs_track_is_doomed(fs, 5));
	fs_track_doom(fs, 5, "writer pid 9 killed by signal 9"); /* untracked: tracked now */
	fs_track_doom(fs, 5, "second reason");			 /* the first reason stays */
	fs_track_add(fs, 6, CKPT_FILE, "f");
	fs_track_doom(fs, 6, "commit failed: No space left on device");
	ck_assert(fs_track_is_doomed(fs, 5));
	ck_assert(!fs_track_commits_at_close(fs, 6, CKPT_FILE));
	ck_assert_uint_eq(fs_track_doomed(fs, ids, reasons, 4), 2);
	for (int i = 0; i < 2; i++) {
		if (ids[i] == 5)
			ck_assert_str_eq(reasons[i], "writer pid 9 killed by signal 9");
		else
			ck_assert_str_eq(reasons[i], "commit failed: No space left on device");
	}
	ck_assert_uint_eq(fs_track_doomed(fs, ids, reasons, 1), 1); /* at most max */
	fs_track_drop(fs, 5); /* the retried abort went through */
	ck_assert(!fs_track_is_doomed(fs, 5));
	ck_assert_uint_eq(fs_track_doomed(fs, ids, reasons, 4), 1);
	ck_assert_int_eq(ids[0], 6);
	fs_free(fs);
}
END_TEST

/* ---- commit modes ---- */

START_TEST(test_commits_at_close_default)
{
	struct fs *fs = fs_new();
	/* untracked (a path setattr): a file commits, a directory does not */
	ck_assert(fs_track_commits_at_close(fs, 1, CKPT_FILE));
	ck_assert(!fs_track_commits_at_close(fs, 1, CKPT_DIR));
	fs_track_add(fs, 2, CKPT_FILE, "f.ckpt");
	fs_track_writer(fs, 2, NO_PID, true);
	fs_track_writer(fs, 2, NO_PID, true);
	fs_track_writer_done(fs, 2);
	ck_assert(!fs_track_commits_at_close(fs, 2, CKPT_FILE)); /* another writer is open */
	fs_track_writer_done(fs, 2);
	ck_assert(fs_track_commits_at_close(fs, 2, CKPT_FILE));
	fs_track_add(fs, 3, CKPT_FILE, "f.ckpt.tmp");
	ck_assert(!fs_track_commits_at_close(fs, 3, CKPT_FILE)); /* temporary */
	fs_track_add(fs, 4, CKPT_DIR, "d");
	ck_assert(!fs_track_commits_at_close(fs, 4, CKPT_DIR)); /* by settle, not close */
	fs_free(fs);
}
END_TEST

START_TEST(test_commit_rename_only)
{
	struct fs *fs = fs_new();
	int64_t ids[4];
	char reasons[4][FS_REASON_MAX];
	fs->copts.rename_only = true;
	ck_assert(!fs_track_commits_at_close(fs, 1, CKPT_FILE)); /* untracked file */
	add_quiet(fs, 2, CKPT_FILE, "f.ckpt", 10000);
	add_quiet(fs, 3, CKPT_DIR, "d", 10000);
	add_quiet(fs, 4, CKPT_DIR, "tmp-d", 10000);
	ck_assert(!fs_track_commits_at_close(fs, 2, CKPT_FILE));
	ck_assert_uint_eq(ready(fs, -1, ids, 4), 0); /* nothing by settle, not even at unmount */
	/* no commit_timeout_ms: nothing is aborted before unmount */
	ck_assert_uint_eq(fs_track_untriggered(fs, false, ids, reasons, 4), 0);
	/* unmount: final names are aborted, temporary names stay staging */
	ck_assert_uint_eq(fs_track_untriggered(fs, true, ids, reasons, 4), 2);
	for (int i = 0; i < 2; i++) {
		ck_assert(ids[i] == 2 || ids[i] == 3);
		ck_assert_str_eq(reasons[i], "not committed by a rename before unmount");
	}
	ck_assert_uint_eq(fs_track_untriggered(fs, true, ids, reasons, 1), 1); /* at most max */
	fs_free(fs);
}
END_TEST

START_TEST(test_commit_marker)
{
	struct fs *fs = fs_new();
	int64_t ids[4];
	char reasons[4][FS_REASON_MAX];
	snprintf(fs->copts.marker, sizeof(fs->copts.marker), ".metadata");
	add_quiet(fs, 1, CKPT_DIR, "d", 10000);
	add_quiet(fs, 2, CKPT_FILE, "f.ckpt", 10000);
	add_quiet(fs, 3, CKPT_DIR, "tmp-d", 10000);
	/* a directory waits for its marker; a file still commits at close/settle */
	ck_assert(!fs_track_commits_at_close(fs, 1, CKPT_DIR));
	ck_assert(fs_track_commits_at_close(fs, 2, CKPT_FILE));
	ck_assert_uint_eq(ready(fs, -1, ids, 4), 1);
	ck_assert_int_eq(ids[0], 2);
	ck_assert_uint_eq(fs_track_untriggered(fs, true, ids, reasons, 4), 1);
	ck_assert_int_eq(ids[0], 1);
	ck_assert_str_eq(reasons[0], "no commit marker (.metadata) before unmount");

	/* the marker's close: commits at that close, or at once when it is ready
	 * (however long settle_ms is), and is never aborted as untriggered */
	fs_track_writer(fs, 1, NO_PID, true);
	fs_track_mark(fs, 1);
	ck_assert(!fs_track_commits_at_close(fs, 1, CKPT_DIR)); /* a writer is still open */
	fs_track_writer_done(fs, 1);
	ck_assert(fs_track_commits_at_close(fs, 1, CKPT_DIR));
	ck_assert_uint_eq(ready(fs, 1000000, ids, 4), 1);
	ck_assert_int_eq(ids[0], 1);
	ck_assert_uint_eq(fs_track_untriggered(fs, true, ids, reasons, 4), 0);
	/* a temporary name still commits only by its rename */
	fs_track_mark(fs, 3);
	ck_assert(!fs_track_commits_at_close(fs, 3, CKPT_DIR));
	fs_free(fs);
}
END_TEST

START_TEST(test_commit_timeout)
{
	struct fs *fs = fs_new();
	int64_t ids[4];
	char reasons[4][FS_REASON_MAX];
	fs->copts.rename_only = true;
	fs->copts.timeout_ms = 1000;
	add_quiet(fs, 1, CKPT_FILE, "quiet.ckpt", 5000);
	add_quiet(fs, 2, CKPT_FILE, "recent.ckpt", 10);
	add_quiet(fs, 3, CKPT_DIR, "tmp-quiet", 5000); /* temporary names time out too */
	add_quiet(fs, 4, CKPT_FILE, "open.ckpt", 5000);
	fs_track_writer(fs, 4, NO_PID, true);
	track_of(fs, 4)->last_change_ms -= 5000;
	ck_assert_uint_eq(fs_track_untriggered(fs, false, ids, reasons, 4), 2);
	for (int i = 0; i < 2; i++) {
		ck_assert(ids[i] == 1 || ids[i] == 3);
		ck_assert_str_eq(reasons[i], "not committed by a rename within 1000 ms");
	}
	fs_track_doom(fs, 1, "x"); /* already being aborted: not again */
	ck_assert_uint_eq(fs_track_untriggered(fs, false, ids, reasons, 4), 1);
	ck_assert_int_eq(ids[0], 3);

	/* a writer joining (resolved, not yet open) holds it off like an open one */
	ck_assert_int_eq(fs_track_join(fs, 3), 1);
	ck_assert_uint_eq(fs_track_untriggered(fs, false, ids, reasons, 4), 0);
	fs_track_unjoin(fs, 3);
	ck_assert_uint_eq(fs_track_untriggered(fs, false, ids, reasons, 4), 1);
	ck_assert_int_eq(ids[0], 3);

	/* the default mode never waits for a trigger: nothing times out */
	fs->copts.rename_only = false;
	add_quiet(fs, 5, CKPT_FILE, "plain.ckpt", 5000);
	ck_assert_uint_eq(fs_track_untriggered(fs, false, ids, reasons, 4), 1);
	ck_assert_int_eq(ids[0], 3);
	fs_free(fs);
}
END_TEST

/* ---- writers joining a checkpoint vs its commit ---- */

struct joiner {
	struct fs *fs;
	int64_t id;
	int rc;
};

static void *join_thread(void *arg)
{
	struct joiner *j = arg;
	__atomic_store_n(&j->rc, fs_track_join(j->fs, j->id), __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(test_join_vs_commit)
{
	struct fs *fs = fs_new();
	int64_t ids[4];
	add_quiet(fs, 1, CKPT_DIR, "c", 5000);
	ck_assert_int_eq(fs_track_join(fs, 2), 0); /* untracked: nothing to join */
	/* a joined writer holds the commit back and the checkpoint is not ready */
	ck_assert_int_eq(fs_track_join(fs, 1), 1);
	ck_assert_uint_eq(ready(fs, -1, ids, 4), 0);
	ck_assert(!fs_track_commit_begin(fs, 1));
	fs_track_unjoin(fs, 1);
	fs_track_unjoin(fs, 1); /* never below zero */
	ck_assert_uint_eq(ready(fs, -1, ids, 4), 1);
	/* an open writer too */
	fs_track_writer(fs, 1, NO_PID, true);
	ck_assert(!fs_track_commit_begin(fs, 1));
	fs_track_writer_done(fs, 1);
	/* a commit under way: a joiner waits for it to end (the track is
	 * dropped), then is told to resolve again */
	ck_assert(fs_track_commit_begin(fs, 1));
	struct joiner j = { fs, 1, 99 };
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, join_thread, &j), 0);
	usleep(50000);
	ck_assert_int_eq(__atomic_load_n(&j.rc, __ATOMIC_ACQUIRE), 99); /* still waiting */
	fs_track_drop(fs, 1);
	pthread_join(th, NULL);
	ck_assert_int_eq(j.rc, -EAGAIN);
	fs_free(fs);
}
END_TEST

static Suite *track_suite(void)
{
	Suite *s = suite_create("track");
	TCase *tc = tcase_create("ready");
	tcase_add_test(tc, test_ready_order);
	tcase_add_test(tc, test_ready_settle_and_exclusions);
	suite_add_tcase(s, tc);

	tc = tcase_create("writers");
	tcase_add_test(tc, test_writer_bookkeeping);
	tcase_add_test(tc, test_invisible_writer);
	tcase_add_test(tc, test_exits);
	tcase_add_test(tc, test_doom_retry);
	tcase_add_test(tc, test_join_vs_commit);
	suite_add_tcase(s, tc);

	tc = tcase_create("commit_modes");
	tcase_add_test(tc, test_commits_at_close_default);
	tcase_add_test(tc, test_commit_rename_only);
	tcase_add_test(tc, test_commit_marker);
	tcase_add_test(tc, test_commit_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(track_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
