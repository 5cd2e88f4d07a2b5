/* Unit tests for core/policy.c: the contract's mount options ("Commands"),
 * temporary names ("Commit") and plain files, and the promises in policy.h. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "policy.h"

static int set(struct policy *p, const char *key, const char *value, char *why)
{
	return policy_set(p, key, value, why, 256);
}

START_TEST(test_defaults)
{
	struct policy p;

	memset(&p, 0xa5, sizeof(p));
	policy_init(&p);
	ck_assert_uint_eq(p.keep_last, 0);
	ck_assert_uint_eq(p.keep_best, 0);
	ck_assert_uint_eq(p.keep_every, 0);
	ck_assert_uint_eq(p.n_metrics, 0);
	ck_assert_int_eq(p.compress, CHUNK_CODEC_NONE);
	ck_assert_uint_eq(p.settle_ms, 2000);
	ck_assert(!p.hide_virtual);
	ck_assert_str_eq(p.latest_name, "latest");
	ck_assert_str_eq(p.best_prefix, "best_");
	ck_assert_str_eq(p.plain, "latest_checkpointed_iteration.txt");
	/* Contract: "With no policy set, nothing is deleted automatically." */
	ck_assert(policy_retention_off(&p));
}
END_TEST

START_TEST(test_numbers_accept)
{
	struct policy p;
	char why[256];

	policy_init(&p);
	ck_assert_int_eq(set(&p, "keep_last", "3", why), 0);
	ck_assert_uint_eq(p.keep_last, 3);
	ck_assert_int_eq(set(&p, "keep_best", "007", why), 0);
	ck_assert_uint_eq(p.keep_best, 7);
	ck_assert_int_eq(set(&p, "keep_every", "1000", why), 0);
	ck_assert_uint_eq(p.keep_every, 1000);
	ck_assert_int_eq(set(&p, "settle_ms", "0", why), 0);
	ck_assert_uint_eq(p.settle_ms, 0);
	ck_assert_int_eq(set(&p, "settle_ms", "3600000", why), 0);
	ck_assert_uint_eq(p.settle_ms, 3600000);
	ck_assert_int_eq(set(&p, "keep_last", "2147483648", why), 0);
	ck_assert_uint_eq(p.keep_last, 2147483648u);
	ck_assert_int_eq(set(&p, "keep_every", "2147483648", why), 0);
	ck_assert_uint_eq(p.keep_every, 2147483648u);
	ck_assert_int_eq(set(&p, "keep_last", "0", why), 0);
	ck_assert_uint_eq(p.keep_last, 0);
}
END_TEST

/* trash=DURATION, max_bytes=SIZE, min_free=SIZE: units, refusals, text. */
START_TEST(test_lifecycle)
{
	struct policy p, q;
	char why[256], *text = NULL;

	policy_init(&p);
	ck_assert_uint_eq(p.trash_s, 0); /* off by default */
	ck_assert_int_eq(set(&p, "trash", "24h", why), 0);
	ck_assert_uint_eq(p.trash_s, 86400);
	ck_assert_int_eq(set(&p, "trash", "90", why), 0);
	ck_assert_uint_eq(p.trash_s, 90);
	ck_assert_int_eq(set(&p, "trash", "2d", why), 0);
	ck_assert_uint_eq(p.trash_s, 172800);
	ck_assert_int_eq(set(&p, "max_bytes", "2G", why), 0);
	ck_assert_uint_eq(p.max_bytes, 2ull << 30);
	ck_assert_int_eq(set(&p, "min_free", "512MiB", why), 0);
	ck_assert_uint_eq(p.min_free, 512ull << 20);
	ck_assert_int_eq(set(&p, "min_free", "1234", why), 0);
	ck_assert_uint_eq(p.min_free, 1234);
	ck_assert_int_eq(set(&p, "trash", "1w", why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "unit"));
	ck_assert_int_eq(set(&p, "max_bytes", "-1", why), -EINVAL);
	ck_assert_int_eq(set(&p, "max_bytes", "G", why), -EINVAL);
	ck_assert_int_eq(set(&p, "max_bytes", "99999999999T", why), -EINVAL); /* overflows */
	ck_assert_int_eq(set(&p, "trash", NULL, why), -EINVAL);
	ck_assert_uint_eq(p.trash_s, 172800); /* unchanged by a refusal */
	ck_assert_int_eq(policy_to_text(&p, &text), 0);
	policy_init(&q);
	ck_assert_int_eq(policy_from_text(&q, text), 0);
	ck_assert_uint_eq(q.trash_s, 172800);
	ck_assert_uint_eq(q.max_bytes, 2ull << 30);
	ck_assert_uint_eq(q.min_free, 1234);
	free(text);
}
END_TEST

START_TEST(test_numbers_reject)
{
	static const char *const keys[] = { "keep_last", "keep_best", "keep_every", "settle_ms" };
	static const char *const bad[] = { "",	 "abc", "-1",	"+1",  " 1",
					   "1 ", "1.5", "0x10", "1e3", "3k" };
	struct policy p, before;
	char why[256];

	policy_init(&p);
	ck_assert_int_eq(set(&p, "keep_last", "5", why), 0);
	ck_assert_int_eq(set(&p, "keep_every", "10", why), 0);
	before = p;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char want[128];

			why[0] = '\0';
			ck_assert_msg(set(&p, keys[k], bad[i], why) == -EINVAL, "%s=%s", keys[k],
				      bad[i]);
			snprintf(want, sizeof(want), "%s: '%s' is not a non-negative integer",
				 keys[k], bad[i]);
			ck_assert_str_eq(why, want);
		}
		why[0] = '\0';
		ck_assert_int_eq(set(&p, keys[k], NULL, why), -EINVAL);
		ck_assert_ptr_nonnull(strstr(why, keys[k]));
	}
	ck_assert_int_eq(set(&p, "keep_last", "abc", why), -EINVAL);
	ck_assert_str_eq(why, "keep_last: 'abc' is not a non-negative integer");
	/* Range: keep_* up to 2^31, settle_ms up to one hour; overflow too. */
	ck_assert_int_eq(set(&p, "keep_last", "2147483649", why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "out of range"));
	ck_assert_int_eq(set(&p, "keep_best", "99999999999999999999999", why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "out of range"));
	ck_assert_int_eq(set(&p, "keep_every", "18446744073709551616", why), -EINVAL);
	ck_assert_int_eq(set(&p, "settle_ms", "3600001", why), -EINVAL);
	ck_assert_str_eq(why, "settle_ms: '3600001' is out of range (0..3600000)");
	ck_assert_mem_eq(&p, &before, sizeof(p));
}
END_TEST

START_TEST(test_unknown_key)
{
	struct policy p, before;
	char why[256];

	policy_init(&p);
	before = p;
	ck_assert_int_eq(set(&p, "x", "1", why), -ENOENT);
	ck_assert_str_eq(why, "unknown option 'x'");
	ck_assert_int_eq(set(&p, "keep_lasts", "1", why), -ENOENT);
	ck_assert_str_eq(why, "unknown option 'keep_lasts'");
	ck_assert_int_eq(set(&p, "", "1", why), -ENOENT);
	ck_assert_int_eq(set(&p, "KEEP_LAST", "1", why), -ENOENT);
	ck_assert_mem_eq(&p, &before, sizeof(p));
	/* why may be NULL */
	ck_assert_int_eq(policy_set(&p, "x", "1", NULL, 0), -ENOENT);
	ck_assert_int_eq(policy_set(&p, "keep_last", "x", NULL, 0), -EINVAL);
}
END_TEST

START_TEST(test_why_one_line)
{
	struct policy p;
	char why[256], small[16];
	char long_value[400];

	policy_init(&p);
	ck_assert_int_eq(set(&p, "keep_last", "1\n2", why), -EINVAL);
	ck_assert_ptr_null(strchr(why, '\n'));
	ck_assert_int_eq(set(&p, "bad\nkey", "1", why), -ENOENT);
	ck_assert_ptr_null(strchr(why, '\n'));
	memset(long_value, 'a', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	ck_assert_int_eq(set(&p, "compress", long_value, why), -EINVAL);
	ck_assert_uint_lt(strlen(why), 200);
	ck_assert_ptr_nonnull(strstr(why, "compress"));
	/* A short buffer is filled and terminated, not overrun. */
	memset(small, 'Z', sizeof(small));
	ck_assert_int_eq(policy_set(&p, "keep_last", "abc", small, sizeof(small)), -EINVAL);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

START_TEST(test_metric)
{
	struct policy p;
	char why[256];
	bool tracked;

	policy_init(&p);
	ck_assert_int_eq(set(&p, "metric", "val_loss:min", why), 0);
	ck_assert_uint_eq(p.n_metrics, 1);
	ck_assert_str_eq(p.metrics[0].name, "val_loss");
	ck_assert_int_eq(p.metrics[0].dir, -1);
	ck_assert_int_eq(set(&p, "metric", "accuracy:max", why), 0);
	ck_assert_uint_eq(p.n_metrics, 2);
	ck_assert_str_eq(p.metrics[1].name, "accuracy");
	ck_assert_int_eq(p.metrics[1].dir, 1);
	/* Same name replaces, in place. */
	ck_assert_int_eq(set(&p, "metric", "val_loss:max", why), 0);
	ck_assert_uint_eq(p.n_metrics, 2);
	ck_assert_int_eq(p.metrics[0].dir, 1);
	/* A ',' list (the text form) adds each. */
	ck_assert_int_eq(set(&p, "metric", "a:min,b:max", why), 0);
	ck_assert_uint_eq(p.n_metrics, 4);
	ck_assert_str_eq(p.metrics[3].name, "b");
	/* A name that cannot be a best_<metric> entry is refused; dots are fine. */
	ck_assert_int_eq(set(&p, "metric", "eval/loss:min", why), -EINVAL);
	ck_assert_int_eq(set(&p, "metric", "eval.loss:min", why), 0);
	/* Direction: tracked wins over the default; untracked gets the default. */
	ck_assert_int_eq(policy_direction(&p, "val_loss", &tracked), 1);
	ck_assert(tracked);
	ck_assert_int_eq(policy_direction(&p, "train_loss", &tracked), -1);
	ck_assert(!tracked);
	ck_assert_int_eq(policy_direction(&p, "bleu", &tracked), 1);
	ck_assert(!tracked);
	ck_assert_int_eq(policy_direction(&p, "a", NULL), -1);
	/* metric= clears. */
	ck_assert_int_eq(set(&p, "metric", "", why), 0);
	ck_assert_uint_eq(p.n_metrics, 0);
	ck_assert_int_eq(policy_direction(&p, "val_loss", &tracked), -1);
	ck_assert(!tracked);
}
END_TEST

START_TEST(test_metric_reject)
{
	static const char *const bad[] = {
		"val_loss",	"val_loss:", "val_loss:up", "val_loss:MIN", ":min",   "a:b:min",
		"a/b:max",	"step:max",  "epoch:min",   "..:min",	    "a:min,", ",a:min",
		"a:min,,b:max", "a:min,b",   "x\ny:min",    "\xff\xfe:min",
	};
	struct policy p, before;
	char why[256];
	char long_name[200];

	policy_init(&p);
	ck_assert_int_eq(set(&p, "metric", "keep:max", why), 0);
	before = p;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(set(&p, "metric", bad[i], why) == -EINVAL, "metric=%s", bad[i]);
		ck_assert_msg(strncmp(why, "metric: ", 8) == 0, "why '%s'", why);
		ck_assert_ptr_null(strchr(why, '\n'));
		/* All or nothing inside one value too. */
		ck_assert_mem_eq(&p, &before, sizeof(p));
	}
	ck_assert_int_eq(set(&p, "metric", NULL, why), -EINVAL);
	ck_assert_int_eq(set(&p, "metric", "val_loss", why), -EINVAL);
	ck_assert_str_eq(why, "metric: 'val_loss' needs a direction (NAME:min or NAME:max)");
	memset(long_name, 'm', 150);
	strcpy(long_name + 150, ":min");
	ck_assert_int_eq(set(&p, "metric", long_name, why), -EINVAL);
	memset(long_name, 'm', META_NAME_MAX - 1);
	strcpy(long_name + META_NAME_MAX - 1, ":min");
	ck_assert_int_eq(set(&p, "metric", long_name, why), 0);
	ck_assert_uint_eq(strlen(p.metrics[1].name), META_NAME_MAX - 1);
}
END_TEST

START_TEST(test_metric_cap)
{
	struct policy p;
	char why[256], v[64];

	policy_init(&p);
	for (int i = 0; i < POLICY_MAX_METRICS; i++) {
		snprintf(v, sizeof(v), "m%d:max", i);
		ck_assert_int_eq(set(&p, "metric", v, why), 0);
	}
	ck_assert_uint_eq(p.n_metrics, POLICY_MAX_METRICS);
	ck_assert_int_eq(set(&p, "metric", "one_more:max", why), -EINVAL);
	ck_assert_uint_eq(p.n_metrics, POLICY_MAX_METRICS);
	/* Re-setting a tracked one is not growth. */
	ck_assert_int_eq(set(&p, "metric", "m3:min", why), 0);
	ck_assert_int_eq(p.metrics[3].dir, -1);
}
END_TEST

START_TEST(test_compress)
{
	static const struct {
		const char *v;
		int codec;
	} ok[] = { { "none", CHUNK_CODEC_NONE },
		   { "zlib", CHUNK_CODEC_ZLIB },
		   { "zstd", CHUNK_CODEC_ZSTD },
		   { "auto", CHUNK_CODEC_AUTO } };
	struct policy p;
	char why[256];

	policy_init(&p);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_int_eq(set(&p, "compress", ok[i].v, why), 0);
		ck_assert_int_eq(p.compress, ok[i].codec);
	}
	ck_assert_int_eq(set(&p, "compress", "lz4", why), -EINVAL);
	ck_assert_str_eq(why, "compress: 'lz4' is not one of none, zlib, zstd, auto");
	ck_assert_int_eq(set(&p, "compress", "ZSTD", why), -EINVAL);
	ck_assert_int_eq(set(&p, "compress", "", why), -EINVAL);
	ck_assert_int_eq(set(&p, "compress", NULL, why), -EINVAL);
	ck_assert_int_eq(p.compress, CHUNK_CODEC_AUTO);
}
END_TEST

START_TEST(test_hide_virtual)
{
	struct policy p;
	char why[256];

	policy_init(&p);
	ck_assert_int_eq(set(&p, "hide_virtual", NULL, why), 0);
	ck_assert(p.hide_virtual);
	ck_assert_int_eq(set(&p, "hide_virtual", "0", why), 0);
	ck_assert(!p.hide_virtual);
	ck_assert_int_eq(set(&p, "hide_virtual", "true", why), 0);
	ck_assert(p.hide_virtual);
	ck_assert_int_eq(set(&p, "hide_virtual", "false", why), 0);
	ck_assert(!p.hide_virtual);
	ck_assert_int_eq(set(&p, "hide_virtual", "1", why), 0);
	ck_assert(p.hide_virtual);
	ck_assert_int_eq(set(&p, "hide_virtual", "yes", why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "hide_virtual"));
	ck_assert_int_eq(set(&p, "hide_virtual", "", why), -EINVAL);
	ck_assert(p.hide_virtual);
}
END_TEST

START_TEST(test_names)
{
	struct policy p;
	char why[256], long_name[300];

	policy_init(&p);
	/* The contract's DeepSpeed example. */
	ck_assert_int_eq(set(&p, "latest_name", "latest_ckpt", why), 0);
	ck_assert_str_eq(p.latest_name, "latest_ckpt");
	ck_assert_int_eq(set(&p, "best_prefix", "top-", why), 0);
	ck_assert_str_eq(p.best_prefix, "top-");
	ck_assert_int_eq(set(&p, "latest_name", "", why), -EINVAL);
	ck_assert_int_eq(set(&p, "latest_name", NULL, why), -EINVAL);
	ck_assert_int_eq(set(&p, "latest_name", "a/b", why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "'/'"));
	ck_assert_int_eq(set(&p, "latest_name", ".", why), -EINVAL);
	ck_assert_int_eq(set(&p, "latest_name", "..", why), -EINVAL);
	ck_assert_int_eq(set(&p, "latest_name", ".ckptfs", why), -EINVAL);
	ck_assert_str_eq(why, "latest_name: '.ckptfs' is reserved");
	ck_assert_int_eq(set(&p, "latest_name", "a\nb", why), -EINVAL);
	ck_assert_int_eq(set(&p, "latest_name", "\xc3\x28", why), -EINVAL);
	ck_assert_int_eq(set(&p, "best_prefix", "", why), -EINVAL);
	ck_assert_int_eq(set(&p, "best_prefix", "b/", why), -EINVAL);
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ck_assert_int_eq(set(&p, "latest_name", long_name, why), -EINVAL);
	ck_assert_int_eq(set(&p, "best_prefix", long_name, why), -EINVAL);
	long_name[255] = '\0';
	ck_assert_int_eq(set(&p, "latest_name", long_name, why), 0);
	ck_assert_str_eq(p.best_prefix, "top-");
	ck_assert_int_eq(set(&p, "latest_name", "n\xc3\xa9", why), 0);
	ck_assert_str_eq(p.latest_name, "n\xc3\xa9");
}
END_TEST

START_TEST(test_plain)
{
	struct policy p;
	char why[256];

	policy_init(&p);
	/* Default: Megatron's tracker file is plain, nothing else. */
	ck_assert(policy_is_plain(&p, "latest_checkpointed_iteration.txt"));
	ck_assert(!policy_is_plain(&p, "latest"));
	ck_assert(!policy_is_plain(&p, "iter_0000100"));
	ck_assert(!policy_is_plain(&p, "latest_checkpointed_iteration.txt.tmp"));
	/* The contract's DeepSpeed example: plain=latest. */
	ck_assert_int_eq(set(&p, "plain", "latest", why), 0);
	ck_assert(policy_is_plain(&p, "latest"));
	ck_assert(!policy_is_plain(&p, "latest_checkpointed_iteration.txt"));
	ck_assert(!policy_is_plain(&p, "latest2"));
	ck_assert_int_eq(set(&p, "plain", "latest:*.log:notes-??.txt", why), 0);
	ck_assert(policy_is_plain(&p, "latest"));
	ck_assert(policy_is_plain(&p, "train.log"));
	ck_assert(policy_is_plain(&p, "notes-01.txt"));
	ck_assert(!policy_is_plain(&p, "notes-1.txt"));
	ck_assert(!policy_is_plain(&p, "step-100"));
	ck_assert(!policy_is_plain(&p, NULL));
	/* Rejects: empty glob, '/', control characters; p unchanged. */
	ck_assert_int_eq(set(&p, "plain", "a::b", why), -EINVAL);
	ck_assert_int_eq(set(&p, "plain", "a:", why), -EINVAL);
	ck_assert_int_eq(set(&p, "plain", ":a", why), -EINVAL);
	ck_assert_int_eq(set(&p, "plain", "dir/*", why), -EINVAL);
	ck_assert_int_eq(set(&p, "plain", "a\nb", why), -EINVAL);
	ck_assert_int_eq(set(&p, "plain", NULL, why), -EINVAL);
	ck_assert_str_eq(p.plain, "latest:*.log:notes-??.txt");
	/* Empty: nothing is plain. */
	ck_assert_int_eq(set(&p, "plain", "", why), 0);
	ck_assert(!policy_is_plain(&p, "latest_checkpointed_iteration.txt"));
	ck_assert(!policy_is_plain(&p, ""));
}
END_TEST

START_TEST(test_temp_names)
{
	/* The contract's list: tmp-*, tmp_*, *.tmp, *.temp, *.partial, .*,
	 * *.orbax-checkpoint-tmp-*, and its example tmp-checkpoint-300. */
	static const char *const temp[] = {
		"tmp-checkpoint-300", "tmp_foo", "tmp-", "last.ckpt.tmp", "model.safetensors.tmp",
		"x.temp", "download.partial", ".hidden", ".tmp1234",
		"checkpoint_100.orbax-checkpoint-tmp-1700000000", "a.orbax-checkpoint-tmp-",
		/* write-then-rename tools' own names (README Choices) */
		"tmpa1b2_c3d", /* Python tempfile: tmp + 8 of [a-z0-9_] */
		"sedK9fQ2z",   /* sed -i: sed + 6 of [A-Za-z0-9] */
	};
	static const char *const real[] = {
		"step-100",
		"epoch=3-val_loss=0.25.ckpt",
		"last.ckpt",
		"checkpoint-500",
		"tmp",
		"tmpdir",
		"tmpA1b2c3d4",	/* not tempfile's alphabet */
		"tmpa1b2c3d",	/* 7 after tmp */
		"tmpa1b2c3d4e", /* 9 after tmp */
		"sed_123456",
		"sedation1x",
		"sedate",
		"TMP-x",
		"my-tmp-dir",
		"x.tmp.bak",
		"x.tmpl",
		"x.Temp",
		"partial",
		"orbax-checkpoint-tmp-1",
		"checkpoint_100",
		"latest",
		"",
	};
	for (size_t i = 0; i < sizeof(temp) / sizeof(temp[0]); i++)
		ck_assert_msg(policy_is_temp_name(temp[i]), "%s should be temporary", temp[i]);
	for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++)
		ck_assert_msg(!policy_is_temp_name(real[i]), "%s should not be temporary", real[i]);
	ck_assert(!policy_is_temp_name(NULL));
}
END_TEST

START_TEST(test_retention_off)
{
	struct policy p;
	char why[256];

	policy_init(&p);
	ck_assert(policy_retention_off(&p));
	/* Tracked metrics alone, or keep_best without metrics, delete nothing. */
	ck_assert_int_eq(set(&p, "metric", "val_loss:min", why), 0);
	ck_assert(policy_retention_off(&p));
	ck_assert_int_eq(set(&p, "metric", "", why), 0);
	ck_assert_int_eq(set(&p, "keep_best", "2", why), 0);
	ck_assert(policy_retention_off(&p));
	ck_assert_int_eq(set(&p, "metric", "val_loss:min", why), 0);
	ck_assert(!policy_retention_off(&p));
	policy_init(&p);
	ck_assert_int_eq(set(&p, "keep_last", "1", why), 0);
	ck_assert(!policy_retention_off(&p));
	policy_init(&p);
	ck_assert_int_eq(set(&p, "keep_every", "1", why), 0);
	ck_assert(!policy_retention_off(&p));
	/* Non-retention options do not turn retention on. */
	policy_init(&p);
	ck_assert_int_eq(set(&p, "compress", "zstd", why), 0);
	ck_assert_int_eq(set(&p, "settle_ms", "10", why), 0);
	ck_assert_int_eq(set(&p, "hide_virtual", NULL, why), 0);
	ck_assert(policy_retention_off(&p));
}
END_TEST

START_TEST(test_apply_words)
{
	struct policy p;
	char why[256];
	char *w1[] = { "keep_last=3", "metric=val_loss:min", "hide_virtual", "compress=zstd" };
	char *w2[] = { "metric=a:min", "metric=b:max" };
	char *w3[] = { "keep_best=2" };
	char *w4[] = { "metric=" };
	char *w5[] = { "metric=c:max,d:min" };

	policy_init(&p);
	ck_assert_int_eq(set(&p, "metric", "old:max", why), 0);
	ck_assert_int_eq(policy_apply_words(&p, w1, 4, why, sizeof(why)), 0);
	ck_assert_uint_eq(p.keep_last, 3);
	ck_assert(p.hide_virtual);
	ck_assert_int_eq(p.compress, CHUNK_CODEC_ZSTD);
	/* A metric= list replaces the tracked metrics as a whole. */
	ck_assert_uint_eq(p.n_metrics, 1);
	ck_assert_str_eq(p.metrics[0].name, "val_loss");
	ck_assert_int_eq(policy_apply_words(&p, w2, 2, why, sizeof(why)), 0);
	ck_assert_uint_eq(p.n_metrics, 2);
	ck_assert_str_eq(p.metrics[0].name, "a");
	ck_assert_int_eq(p.metrics[0].dir, -1);
	ck_assert_str_eq(p.metrics[1].name, "b");
	ck_assert_int_eq(p.metrics[1].dir, 1);
	/* Options not given keep their value, metrics included. */
	ck_assert_int_eq(policy_apply_words(&p, w3, 1, why, sizeof(why)), 0);
	ck_assert_uint_eq(p.keep_best, 2);
	ck_assert_uint_eq(p.keep_last, 3);
	ck_assert_uint_eq(p.n_metrics, 2);
	ck_assert(p.hide_virtual);
	ck_assert_int_eq(policy_apply_words(&p, w5, 1, why, sizeof(why)), 0);
	ck_assert_uint_eq(p.n_metrics, 2);
	ck_assert_str_eq(p.metrics[0].name, "c");
	ck_assert_str_eq(p.metrics[1].name, "d");
	/* metric= alone clears. */
	ck_assert_int_eq(policy_apply_words(&p, w4, 1, why, sizeof(why)), 0);
	ck_assert_uint_eq(p.n_metrics, 0);
	ck_assert_int_eq(policy_apply_words(&p, NULL, 0, why, sizeof(why)), 0);
}
END_TEST

START_TEST(test_apply_words_all_or_nothing)
{
	struct policy p, before;
	char why[256];
	char *bad1[] = { "keep_last=9", "metric=x:max", "keep_best=lots" };
	char *bad2[] = { "keep_last=9", "metric=x:max", "frobnicate=1" };
	char *bad3[] = { "metric=x:max", "metric=y" };
	char *bad4[] = { "keep_last" };

	policy_init(&p);
	ck_assert_int_eq(set(&p, "metric", "val_loss:min", why), 0);
	ck_assert_int_eq(set(&p, "keep_last", "2", why), 0);
	before = p;
	ck_assert_int_eq(policy_apply_words(&p, bad1, 3, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "keep_best: 'lots' is not a non-negative integer");
	ck_assert_mem_eq(&p, &before, sizeof(p));
	ck_assert_int_eq(policy_apply_words(&p, bad2, 3, why, sizeof(why)), -ENOENT);
	ck_assert_str_eq(why, "unknown option 'frobnicate'");
	ck_assert_mem_eq(&p, &before, sizeof(p));
	ck_assert_int_eq(policy_apply_words(&p, bad3, 2, why, sizeof(why)), -EINVAL);
	ck_assert_mem_eq(&p, &before, sizeof(p));
	/* A bare word that is not a flag needs a value. */
	ck_assert_int_eq(policy_apply_words(&p, bad4, 1, why, sizeof(why)), -EINVAL);
	ck_assert_mem_eq(&p, &before, sizeof(p));
}
END_TEST

static void assert_policy_eq(const struct policy *a, const struct policy *b)
{
	ck_assert_uint_eq(a->keep_last, b->keep_last);
	ck_assert_uint_eq(a->keep_best, b->keep_best);
	ck_assert_uint_eq(a->keep_every, b->keep_every);
	ck_assert_uint_eq(a->n_metrics, b->n_metrics);
	for (size_t i = 0; i < a->n_metrics; i++) {
		ck_assert_str_eq(a->metrics[i].name, b->metrics[i].name);
		ck_assert_int_eq(a->metrics[i].dir, b->metrics[i].dir);
	}
	ck_assert_int_eq(a->compress, b->compress);
	ck_assert_uint_eq(a->settle_ms, b->settle_ms);
	ck_assert_int_eq(a->hide_virtual, b->hide_virtual);
	ck_assert_str_eq(a->latest_name, b->latest_name);
	ck_assert_str_eq(a->best_prefix, b->best_prefix);
	ck_assert_str_eq(a->plain, b->plain);
}

START_TEST(test_text_roundtrip)
{
	struct policy p, q;
	char why[256], *text = NULL, *text2 = NULL;
	char *words[] = { "keep_last=3",	 "keep_best=2",	      "keep_every=1000",
			  "metric=val_loss:min", "metric=acc:max",    "compress=auto",
			  "settle_ms=150",	 "hide_virtual",      "latest_name=latest_ckpt",
			  "best_prefix=top_",	 "plain=latest:*.log" };

	/* Defaults round-trip. */
	policy_init(&p);
	ck_assert_int_eq(policy_to_text(&p, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, "keep_last=0\n"));
	ck_assert_ptr_nonnull(strstr(text, "plain=latest_checkpointed_iteration.txt\n"));
	memset(&q, 0x5a, sizeof(q));
	ck_assert_int_eq(policy_from_text(&q, text), 0);
	assert_policy_eq(&p, &q);
	free(text);
	text = NULL;

	/* Every field changed round-trips. */
	ck_assert_int_eq(
		policy_apply_words(&p, words, sizeof(words) / sizeof(words[0]), why, sizeof(why)),
		0);
	ck_assert_int_eq(policy_to_text(&p, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, "metric=val_loss:min,acc:max\n"));
	ck_assert_ptr_nonnull(strstr(text, "keep_every=1000\n"));
	ck_assert_ptr_nonnull(strstr(text, "compress=auto\n"));
	ck_assert_ptr_nonnull(strstr(text, "latest_name=latest_ckpt\n"));
	policy_init(&q);
	ck_assert_int_eq(policy_from_text(&q, text), 0);
	assert_policy_eq(&p, &q);
	/* And the text is stable. */
	ck_assert_int_eq(policy_to_text(&q, &text2), 0);
	ck_assert_str_eq(text, text2);
	free(text);
	free(text2);
}
END_TEST

START_TEST(test_text_roundtrip_max)
{
	struct policy p, q;
	char why[256], v[300], *text = NULL;

	policy_init(&p);
	for (int i = 0; i < POLICY_MAX_METRICS; i++) {
		snprintf(v, sizeof(v), "%0*d:%s", META_NAME_MAX - 1, i, i % 2 ? "max" : "min");
		ck_assert_int_eq(set(&p, "metric", v, why), 0);
	}
	ck_assert_int_eq(set(&p, "keep_every", "2147483648", why), 0);
	memset(v, 'n', 255);
	v[255] = '\0';
	ck_assert_int_eq(set(&p, "latest_name", v, why), 0);
	ck_assert_int_eq(policy_to_text(&p, &text), 0);
	ck_assert_int_eq(policy_from_text(&q, text), 0);
	assert_policy_eq(&p, &q);
	free(text);
}
END_TEST

START_TEST(test_from_text_lenient)
{
	struct policy p, before;

	/* Unknown keys ignored (a newer store), missing keys default, repeated
	 * metric lines add up, CRLF and blank lines tolerated. */
	ck_assert_int_eq(policy_from_text(&p,
					  "future_option=42\r\n\nkeep_last=4\n"
					  "metric=a:min\nmetric=b:max\nhide_virtual\n"),
			 0);
	ck_assert_uint_eq(p.keep_last, 4);
	ck_assert_uint_eq(p.n_metrics, 2);
	ck_assert_str_eq(p.metrics[1].name, "b");
	ck_assert(p.hide_virtual);
	ck_assert_uint_eq(p.settle_ms, 2000);
	ck_assert_str_eq(p.latest_name, "latest");
	ck_assert_int_eq(policy_from_text(&p, ""), 0);
	ck_assert_uint_eq(p.keep_last, 0);
	ck_assert_uint_eq(p.n_metrics, 0);
	/* A bad value is an error, and p is unchanged. */
	ck_assert_int_eq(policy_from_text(&p, "keep_last=7\n"), 0);
	before = p;
	ck_assert_int_eq(policy_from_text(&p, "keep_last=1\nsettle_ms=soon\n"), -EINVAL);
	ck_assert_mem_eq(&p, &before, sizeof(p));
	ck_assert_int_eq(policy_from_text(&p, NULL), -EINVAL);
}
END_TEST

START_TEST(test_from_text_caps)
{
	struct policy p;
	size_t big = (2u << 20);
	char *text = malloc(big + 1);
	const char *prefix = "keep_last=1\nplain=";

	ck_assert_ptr_nonnull(text);
	/* A line longer than any option can be is refused, not truncated. */
	memset(text, 'a', big);
	memcpy(text, prefix, strlen(prefix));
	text[20000] = '\0';
	ck_assert_int_eq(policy_from_text(&p, text), -EINVAL);
	/* So is a text larger than any policy. */
	for (size_t i = 0; i < big; i += 2)
		text[i] = '\n', text[i + 1] = '#';
	text[big] = '\0';
	ck_assert_int_lt(policy_from_text(&p, text), 0);
	free(text);
}
END_TEST

START_TEST(test_to_text_refuses_corrupt)
{
	struct policy p;
	char *text = (char *)1;

	/* Fields set directly (not by policy_set) that would break the line
	 * format are refused rather than written. */
	policy_init(&p);
	snprintf(p.latest_name, sizeof(p.latest_name), "a\nkeep_last=1");
	ck_assert_int_eq(policy_to_text(&p, &text), -EINVAL);
	ck_assert_ptr_null(text);
	policy_init(&p);
	p.compress = 9;
	ck_assert_int_eq(policy_to_text(&p, &text), -EINVAL);
	policy_init(&p);
	p.n_metrics = POLICY_MAX_METRICS + 1;
	ck_assert_int_eq(policy_to_text(&p, &text), -EINVAL);
	policy_init(&p);
	memset(p.plain, 'x', sizeof(p.plain)); /* unterminated */
	ck_assert_int_eq(policy_to_text(&p, &text), -EINVAL);
	ck_assert(!policy_is_plain(&p, "x"));
	ck_assert_int_eq(policy_to_text(NULL, &text), -EINVAL);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc;

	tc = tcase_create("options");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_numbers_accept);
	tcase_add_test(tc, test_numbers_reject);
	tcase_add_test(tc, test_lifecycle);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_why_one_line);
	tcase_add_test(tc, test_metric);
	tcase_add_test(tc, test_metric_reject);
	tcase_add_test(tc, test_metric_cap);
	tcase_add_test(tc, test_compress);
	tcase_add_test(tc, test_hide_virtual);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_retention_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_temp_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("lists");
	tcase_add_test(tc, test_apply_words);
	tcase_add_test(tc, test_apply_words_all_or_nothing);
	tcase_add_test(tc, test_text_roundtrip);
	tcase_add_test(tc, test_text_roundtrip_max);
	tcase_add_test(tc, test_from_text_lenient);
	tcase_add_test(tc, test_from_text_caps);
	tcase_add_test(tc, test_to_text_refuses_corrupt);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
