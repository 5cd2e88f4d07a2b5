/* Unit tests for core/meta.c: the contract's "Metrics and step" section and
 * the promises in meta.h. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

static const struct metric *find_metric(const struct meta_set *ms, const char *name)
{
	for (size_t i = 0; i < ms->n_metrics; i++)
		if (strcmp(ms->metrics[i].name, name) == 0)
			return &ms->metrics[i];
	return NULL;
}

#define ck_assert_metric(ms, nm, val)                                 \
	do {                                                          \
		const struct metric *m_ = find_metric((ms), (nm));    \
		ck_assert_msg(m_ != NULL, "metric %s missing", (nm)); \
		ck_assert_double_eq_tol(m_->value, (val), 1e-12);     \
	} while (0)

/* ---- names ---- */

START_TEST(test_name_lightning)
{
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, "epoch=3-step=100-val_loss=0.2500.ckpt"), 0);
	ck_assert(ms.has_step);
	ck_assert_int_eq(ms.step, 100);
	ck_assert_str_eq(ms.step_source, "name");
	ck_assert(ms.has_epoch);
	ck_assert_double_eq(ms.epoch, 3.0);
	ck_assert_uint_eq(ms.n_metrics, 1);
	ck_assert_metric(&ms, "val_loss", 0.25);
	ck_assert_str_eq(ms.metrics[0].source, "name");
	meta_release(&ms);
}
END_TEST

START_TEST(test_name_extensions)
{
	static const char *const names[] = {
		"val_loss=0.5.pt",  "val_loss=0.5.pth",	    "val_loss=0.5.bin",
		"val_loss=0.5.npy", "val_loss=0.5.npz",	    "val_loss=0.5.safetensors",
		"val_loss=0.5.h5",  "val_loss=0.5.msgpack", "val_loss=0.5.CKPT",
		"val_loss=0.5",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct meta_set ms;

		meta_init(&ms);
		ck_assert_int_eq(meta_from_name(&ms, names[i]), 0);
		ck_assert_msg(ms.n_metrics == 1, "%s: %zu metrics", names[i], ms.n_metrics);
		ck_assert_metric(&ms, "val_loss", 0.5);
		ck_assert(!ms.has_step);
		meta_release(&ms);
	}
}
END_TEST

START_TEST(test_name_negative_exponent)
{
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, "step=7-lr=1e-05-score=-2.5E+1-delta=+.5.ckpt"), 0);
	ck_assert(ms.has_step);
	ck_assert_int_eq(ms.step, 7);
	ck_assert_metric(&ms, "lr", 1e-05);
	ck_assert_metric(&ms, "score", -25.0);
	ck_assert_metric(&ms, "delta", 0.5);
	ck_assert_uint_eq(ms.n_metrics, 3);
	meta_release(&ms);
}
END_TEST

START_TEST(test_name_separators)
{
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, "epoch=3_step=100,val_acc=0.9"), 0);
	ck_assert(ms.has_epoch);
	ck_assert_double_eq(ms.epoch, 3.0);
	ck_assert(ms.has_step);
	ck_assert_int_eq(ms.step, 100);
	ck_assert_metric(&ms, "val_acc", 0.9);
	ck_assert_uint_eq(ms.n_metrics, 1);
	meta_release(&ms);

	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, "global_step=5"), 0);
	ck_assert(ms.has_step);
	ck_assert_int_eq(ms.step, 5);
	ck_assert_uint_eq(ms.n_metrics, 0);
	meta_release(&ms);
}
END_TEST

START_TEST(test_name_non_numeric)
{
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, "mode=train-tag=v1x-lr=0x10-acc=nan-f=inf-step=4"), 0);
	ck_assert(ms.has_step);
	ck_assert_int_eq(ms.step, 4);
	ck_assert_msg(ms.n_metrics == 0, "non-numeric values must be ignored, got %zu",
		      ms.n_metrics);
	meta_release(&ms);

	/* A fractional or negative step is not a step. */
	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, "step=1.5"), 0);
	ck_assert(!ms.has_step);
	ck_assert_int_eq(meta_from_name(&ms, "step=-3"), 0);
	ck_assert(!ms.has_step);
	meta_release(&ms);
}
END_TEST

START_TEST(test_name_trailing)
{
	static const struct {
		const char *name;
		int has_step;
		long step;
		int has_epoch;
		double epoch;
	} cases[] = {
		{ "checkpoint-1000", 1, 1000, 0, 0 },
		{ "step_1000", 1, 1000, 0, 0 },
		{ "global_step1000", 1, 1000, 0, 0 },
		{ "ckpt1000", 1, 1000, 0, 0 },
		{ "iter_0001000", 1, 1000, 0, 0 },
		{ "1000", 1, 1000, 0, 0 },
		{ "model_500.pt", 1, 500, 0, 0 },
		{ "checkpoint_epoch_0010", 0, 0, 1, 10 },
		{ "epoch_10", 0, 0, 1, 10 },
		{ "epoch-10", 0, 0, 1, 10 },
		{ "epoch10.pt", 0, 0, 1, 10 },
		{ "resnet50.pt", 0, 0, 0, 0 },
		{ "last-v1.ckpt", 0, 0, 0, 0 },
		{ "last.ckpt", 0, 0, 0, 0 },
		{ "model-00001-of-00002.safetensors", 0, 0, 0, 0 },
		{ "model", 0, 0, 0, 0 },
		{ "", 0, 0, 0, 0 },
		/* digits ending a value are not a trailing step */
		{ "val_loss=0.25", 0, 0, 0, 0 },
		{ "tag=x_12", 0, 0, 0, 0 },
		{ "tag=x-checkpoint-12", 1, 12, 0, 0 },
		/* a key=value pair wins over the trailing number */
		{ "step=5-checkpoint-1000", 1, 5, 0, 0 },
		{ "epoch=2-epoch_7", 0, 0, 1, 2 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct meta_set ms;

		meta_init(&ms);
		ck_assert_int_eq(meta_from_name(&ms, cases[i].name), 0);
		ck_assert_msg(ms.has_step == !!cases[i].has_step, "%s: has_step %d", cases[i].name,
			      ms.has_step);
		if (cases[i].has_step)
			ck_assert_msg(ms.step == cases[i].step, "%s: step %lld", cases[i].name,
				      (long long)ms.step);
		ck_assert_msg(ms.has_epoch == !!cases[i].has_epoch, "%s: has_epoch %d",
			      cases[i].name, ms.has_epoch);
		if (cases[i].has_epoch)
			ck_assert_msg(ms.epoch == cases[i].epoch, "%s: epoch %g", cases[i].name,
				      ms.epoch);
		if (!strchr(cases[i].name, '='))
			ck_assert_msg(ms.n_metrics == 0, "%s: %zu metrics", cases[i].name,
				      ms.n_metrics);
		meta_release(&ms);
	}
}
END_TEST

START_TEST(test_name_long_key)
{
	struct meta_set ms;
	char name[400];

	memset(name, 'k', 200);
	strcpy(name + 200, "=1.5-acc=2");
	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, name), 0);
	ck_assert_uint_eq(ms.n_metrics, 1);
	ck_assert_metric(&ms, "acc", 2.0);
	ck_assert_ptr_nonnull(ms.problems);
	meta_release(&ms);
}
END_TEST

/* ---- meta_set_value ---- */

START_TEST(test_set_value)
{
	struct meta_set ms;
	char longname[META_NAME_MAX + 10];

	meta_init(&ms);
	ck_assert_int_eq(meta_set_value(&ms, "acc", 0.5, "name"), 0);
	ck_assert_int_eq(meta_set_value(&ms, "acc", 0.75, "xattr"), 0);
	ck_assert_uint_eq(ms.n_metrics, 1);
	ck_assert_metric(&ms, "acc", 0.75);
	ck_assert_str_eq(ms.metrics[0].source, "xattr");
	ck_assert_int_eq(meta_set_value(&ms, "acc", NAN, "xattr"), -EINVAL);
	ck_assert_int_eq(meta_set_value(&ms, "acc", INFINITY, "xattr"), -EINVAL);
	ck_assert_int_eq(meta_set_value(&ms, "acc", -INFINITY, "xattr"), -EINVAL);
	ck_assert_metric(&ms, "acc", 0.75);
	ck_assert_int_eq(meta_set_value(&ms, "global_step", 42, "metadata.json"), 0);
	ck_assert(ms.has_step);
	ck_assert_int_eq(ms.step, 42);
	ck_assert_str_eq(ms.step_source, "metadata.json");
	ck_assert_int_eq(meta_set_value(&ms, "step", 43, "xattr"), 0);
	ck_assert_int_eq(ms.step, 43);
	ck_assert_int_eq(meta_set_value(&ms, "epoch", 1.5, "xattr"), 0);
	ck_assert(ms.has_epoch);
	ck_assert_double_eq(ms.epoch, 1.5);
	ck_assert_str_eq(ms.epoch_source, "xattr");
	ck_assert_uint_eq(ms.n_metrics, 1); /* step/epoch are not metrics */

	/* META_NAME_MAX-1 bytes is kept, one more is skipped with a note. */
	memset(longname, 'm', META_NAME_MAX - 1);
	longname[META_NAME_MAX - 1] = '\0';
	ck_assert_int_eq(meta_set_value(&ms, longname, 1, "xattr"), 0);
	ck_assert_ptr_null(ms.problems);
	memset(longname, 'm', META_NAME_MAX);
	longname[META_NAME_MAX] = '\0';
	ck_assert_int_lt(meta_set_value(&ms, longname, 1, "xattr"), 0);
	ck_assert_ptr_nonnull(ms.problems);
	ck_assert_uint_eq(ms.n_metrics, 2);
	meta_release(&ms);
}
END_TEST

START_TEST(test_metric_cap)
{
	struct meta_set ms;
	char nm[32];

	meta_init(&ms);
	for (int i = 0; i < META_MAX_METRICS; i++) {
		snprintf(nm, sizeof(nm), "m%d", i);
		ck_assert_int_eq(meta_set_value(&ms, nm, i, "x"), 0);
	}
	ck_assert_uint_eq(ms.n_metrics, META_MAX_METRICS);
	ck_assert_int_lt(meta_set_value(&ms, "one_more", 1, "x"), 0);
	ck_assert_uint_eq(ms.n_metrics, META_MAX_METRICS);
	ck_assert_ptr_nonnull(ms.problems);
	/* Replacing an existing one still works at the cap. */
	ck_assert_int_eq(meta_set_value(&ms, "m7", 99, "y"), 0);
	ck_assert_metric(&ms, "m7", 99);
	/* Notes are capped too. */
	for (int i = 0; i < 10000; i++)
		meta_set_value(&ms, "again", 1, "x");
	ck_assert_uint_le(strlen(ms.problems), 8192);
	meta_release(&ms);
}
END_TEST

START_TEST(test_problem_notes)
{
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_ptr_null(ms.problems);
	meta_problem(&ms, "first %d", 1);
	ck_assert_str_eq(ms.problems, "first 1");
	meta_problem(&ms, "second %s", "x");
	ck_assert_str_eq(ms.problems, "first 1; second x");
	meta_release(&ms);
	ck_assert_ptr_null(ms.problems);
}
END_TEST

/* ---- trainer_state.json ---- */

/* Shaped like a real Hugging Face Trainer trainer_state.json (transformers
 * 4.4x) with training and eval log entries. */
static const char trainer_state[] =
	"{\n"
	"  \"best_global_step\": 400,\n"
	"  \"best_metric\": 0.41234567,\n"
	"  \"best_model_checkpoint\": \"out/checkpoint-400\",\n"
	"  \"epoch\": 2.9985,\n"
	"  \"eval_steps\": 200,\n"
	"  \"global_step\": 600,\n"
	"  \"is_hyper_param_search\": false,\n"
	"  \"is_local_process_zero\": true,\n"
	"  \"is_world_process_zero\": true,\n"
	"  \"log_history\": [\n"
	"    {\n"
	"      \"epoch\": 0.5,\n"
	"      \"grad_norm\": 3.1415,\n"
	"      \"learning_rate\": 4.5e-05,\n"
	"      \"loss\": 2.3456,\n"
	"      \"step\": 100\n"
	"    },\n"
	"    {\n"
	"      \"epoch\": 1.0,\n"
	"      \"eval_accuracy\": 0.71,\n"
	"      \"eval_loss\": 0.55,\n"
	"      \"eval_runtime\": 12.345,\n"
	"      \"eval_samples_per_second\": 81.0,\n"
	"      \"eval_steps_per_second\": 10.125,\n"
	"      \"step\": 200\n"
	"    },\n"
	"    {\n"
	"      \"epoch\": 1.5,\n"
	"      \"grad_norm\": 2.5,\n"
	"      \"learning_rate\": 2.5e-05,\n"
	"      \"loss\": 1.25,\n"
	"      \"step\": 300\n"
	"    },\n"
	"    {\n"
	"      \"epoch\": 2.0,\n"
	"      \"eval_accuracy\": 0.8,\n"
	"      \"eval_loss\": 0.41234567,\n"
	"      \"eval_runtime\": 11.5,\n"
	"      \"eval_samples_per_second\": 86.9,\n"
	"      \"eval_steps_per_second\": 10.87,\n"
	"      \"step\": 400\n"
	"    },\n"
	"    {\n"
	"      \"epoch\": 2.9985,\n"
	"      \"step\": 600,\n"
	"      \"total_flos\": 1.2345e+15,\n"
	"      \"train_loss\": 1.5,\n"
	"      \"train_runtime\": 321.5,\n"
	"      \"train_samples_per_second\": 29.8,\n"
	"      \"train_steps_per_second\": 1.866,\n"
	"      \"note\": \"text is skipped\",\n"
	"      \"flag\": true,\n"
	"      \"nothing\": null\n"
	"    }\n"
	"  ],\n"
	"  \"logging_steps\": 100,\n"
	"  \"max_steps\": 600,\n"
	"  \"num_input_tokens_seen\": 0,\n"
	"  \"num_train_epochs\": 3,\n"
	"  \"save_steps\": 200,\n"
	"  \"stateful_callbacks\": {\n"
	"    \"TrainerControl\": {\n"
	"      \"args\": { \"should_save\": true, \"should_training_stop\": true },\n"
	"      \"attributes\": {}\n"
	"    }\n"
	"  },\n"
	"  \"total_flos\": 1.2345e+15,\n"
	"  \"train_batch_size\": 8,\n"
	"  \"trial_name\": null,\n"
	"  \"trial_params\": null\n"
	"}\n";

START_TEST(test_trainer_state)
{
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_int_eq(meta_from_trainer_state(&ms, trainer_state, strlen(trainer_state)), 0);
	ck_assert(ms.has_step);
	ck_assert_int_eq(ms.step, 600);
	ck_assert_str_eq(ms.step_source, "trainer_state.json");
	ck_assert(ms.has_epoch);
	ck_assert_double_eq_tol(ms.epoch, 2.9985, 1e-12);
	ck_assert_metric(&ms, "best_metric", 0.41234567);
	/* last values from log_history */
	ck_assert_metric(&ms, "loss", 1.25);
	ck_assert_metric(&ms, "grad_norm", 2.5);
	ck_assert_metric(&ms, "learning_rate", 2.5e-05);
	ck_assert_metric(&ms, "eval_loss", 0.41234567);
	ck_assert_metric(&ms, "eval_accuracy", 0.8);
	ck_assert_metric(&ms, "eval_runtime", 11.5);
	ck_assert_metric(&ms, "train_loss", 1.5);
	ck_assert_metric(&ms, "total_flos", 1.2345e+15);
	/* not from the top level other than the three keys; no text/bool/null */
	ck_assert_ptr_null(find_metric(&ms, "max_steps"));
	ck_assert_ptr_null(find_metric(&ms, "train_batch_size"));
	ck_assert_ptr_null(find_metric(&ms, "note"));
	ck_assert_ptr_null(find_metric(&ms, "flag"));
	ck_assert_ptr_null(find_metric(&ms, "nothing"));
	ck_assert_ptr_null(find_metric(&ms, "step"));
	ck_assert_ptr_null(find_metric(&ms, "epoch"));
	ck_assert_uint_eq(ms.n_metrics, 14); /* 13 log keys + best_metric */
	for (size_t i = 0; i < ms.n_metrics; i++)
		ck_assert_str_eq(ms.metrics[i].source, "trainer_state.json");
	ck_assert_ptr_null(ms.problems);
	meta_release(&ms);
}
END_TEST

START_TEST(test_trainer_state_overrides_name)
{
	struct meta_set ms;
	static const char js[] = "{\"global_step\": 20, \"best_metric\": null, \"epoch\": 1,"
				 " \"log_history\": [{\"loss\": 0.5, \"step\": 20}]}";

	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, "checkpoint-10"), 0);
	ck_assert_int_eq(ms.step, 10);
	ck_assert_int_eq(meta_from_trainer_state(&ms, js, strlen(js)), 0);
	ck_assert_int_eq(ms.step, 20);
	ck_assert_str_eq(ms.step_source, "trainer_state.json");
	ck_assert_ptr_null(find_metric(&ms, "best_metric")); /* null is skipped */
	ck_assert_metric(&ms, "loss", 0.5);
	meta_release(&ms);
}
END_TEST

START_TEST(test_trainer_state_malformed)
{
	struct meta_set ms;
	/* truncated after a good prefix: nothing of it may be kept */
	size_t cut = strlen(trainer_state) / 2;

	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, "checkpoint-10"), 0);
	ck_assert_int_eq(meta_from_trainer_state(&ms, trainer_state, cut), -EINVAL);
	ck_assert_int_eq(ms.step, 10);
	ck_assert_str_eq(ms.step_source, "name");
	ck_assert(!ms.has_epoch);
	ck_assert_uint_eq(ms.n_metrics, 0);
	ck_assert_ptr_nonnull(ms.problems);
	ck_assert_ptr_nonnull(strstr(ms.problems, "trainer_state.json"));
	ck_assert_ptr_nonnull(strstr(ms.problems, "line"));
	meta_release(&ms);

	/* a syntax error on line 3 is reported with its line */
	meta_init(&ms);
	ck_assert_int_eq(
		meta_from_trainer_state(&ms, "{\n\"global_step\": 5,\n\"epoch\": ,\n}", 30),
		-EINVAL);
	ck_assert(!ms.has_step);
	ck_assert_ptr_nonnull(strstr(ms.problems, "line 3"));
	meta_release(&ms);

	/* not an object; log_history of the wrong type */
	meta_init(&ms);
	ck_assert_int_eq(meta_from_trainer_state(&ms, "[1,2]", 5), -EINVAL);
	ck_assert_int_eq(meta_from_trainer_state(&ms, "{\"global_step\":3,\"log_history\":5}", 33),
			 -EINVAL);
	ck_assert(!ms.has_step);
	ck_assert_int_eq(meta_from_trainer_state(&ms, "", 0), -EINVAL);
	ck_assert_ptr_nonnull(ms.problems);
	meta_release(&ms);
}
END_TEST

START_TEST(test_trainer_state_python_nan)
{
	/* Python's json writes NaN for a diverged loss: the rest still counts. */
	static const char js[] = "{\"global_step\": 30, \"best_metric\": NaN, \"log_history\": ["
				 "{\"loss\": 0.5, \"grad_norm\": 1.0}, {\"loss\": NaN, "
				 "\"grad_norm\": Infinity, \"x\": -Infinity, \"s\": \"NaN\"}]}";
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_int_eq(meta_from_trainer_state(&ms, js, strlen(js)), 0);
	ck_assert_int_eq(ms.step, 30);
	ck_assert_metric(&ms, "loss", 0.5);
	ck_assert_metric(&ms, "grad_norm", 1.0);
	ck_assert_ptr_null(find_metric(&ms, "best_metric"));
	ck_assert_ptr_null(find_metric(&ms, "x"));
	meta_release(&ms);
}
END_TEST

START_TEST(test_trainer_state_fixture)
{
	/* Written by Python's json module (tests/fixtures/trainer_state.json):
	 * one grad_norm is NaN, so the last usable one is the first. */
	char path[4096], *buf, *slash;
	struct meta_set ms;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s", __FILE__);
	slash = strrchr(path, '/');
	snprintf(slash ? slash + 1 : path, sizeof(path) - (size_t)(slash ? slash + 1 - path : 0),
		 "fixtures/trainer_state.json");
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_gt(n, 0);
	rewind(f);
	buf = malloc((size_t)n);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	ck_assert_ptr_nonnull(memmem(buf, (size_t)n, "NaN", 3));

	meta_init(&ms);
	ck_assert_int_eq(meta_from_trainer_state(&ms, buf, (size_t)n), 0);
	ck_assert_int_eq(ms.step, 600);
	ck_assert_double_eq_tol(ms.epoch, 2.9985, 1e-12);
	ck_assert_metric(&ms, "best_metric", 0.41234567);
	ck_assert_metric(&ms, "grad_norm", 3.1415);
	ck_assert_metric(&ms, "loss", 1.25);
	ck_assert_metric(&ms, "eval_loss", 0.41234567);
	ck_assert_ptr_null(ms.problems);
	meta_release(&ms);
	free(buf);
}
END_TEST

START_TEST(test_json_too_big)
{
	struct meta_set ms;
	size_t n = META_JSON_MAX + 1;
	char *big = malloc(n);

	ck_assert_ptr_nonnull(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	meta_init(&ms);
	ck_assert_int_eq(meta_from_trainer_state(&ms, big, n), -EFBIG);
	ck_assert_ptr_nonnull(ms.problems);
	ck_assert_int_eq(meta_from_json(&ms, big, n, "metadata.json"), -EFBIG);
	ck_assert_ptr_nonnull(strstr(ms.problems, "metadata.json"));
	/* exactly at the cap is parsed */
	ck_assert_int_eq(meta_from_json(&ms, big, n - 1 - 1, "metadata.json"), -EINVAL);
	big[n - 2] = '}';
	ck_assert_int_eq(meta_from_json(&ms, big, n - 1, "metadata.json"), 0);
	free(big);
	meta_release(&ms);
}
END_TEST

/* ---- metadata.json / metrics.json ---- */

START_TEST(test_metadata_json)
{
	static const char js[] = "{\"step\": 1200, \"epoch\": 4, \"val_loss\": 0.125, "
				 "\"model\": \"gpt2\", \"finished\": true, \"lr\": null, "
				 "\"config\": {\"hidden\": 768}, \"list\": [1,2],"
				 " \"metrics\": {\"val_acc\": 0.93, \"val_loss\": 0.1, "
				 "\"ok\": false, \"name\": \"x\"}}";
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_int_eq(meta_from_json(&ms, js, strlen(js), "metadata.json"), 0);
	ck_assert(ms.has_step);
	ck_assert_int_eq(ms.step, 1200);
	ck_assert_str_eq(ms.step_source, "metadata.json");
	ck_assert(ms.has_epoch);
	ck_assert_double_eq(ms.epoch, 4.0);
	ck_assert_str_eq(ms.epoch_source, "metadata.json");
	ck_assert_metric(&ms, "val_acc", 0.93);
	ck_assert_metric(&ms, "val_loss", 0.1); /* nested metrics override */
	ck_assert_ptr_null(find_metric(&ms, "finished"));
	ck_assert_ptr_null(find_metric(&ms, "ok"));
	ck_assert_ptr_null(find_metric(&ms, "hidden"));
	ck_assert_ptr_null(find_metric(&ms, "lr"));
	ck_assert_uint_eq(ms.n_metrics, 2);
	ck_assert_str_eq(find_metric(&ms, "val_acc")->source, "metadata.json");
	meta_release(&ms);
}
END_TEST

START_TEST(test_metrics_json_order)
{
	/* name, then metadata.json, then metrics.json: later wins per name */
	static const char md[] = "{\"global_step\": 7, \"acc\": 0.5, \"f1\": 0.6}";
	static const char mt[] = "{\"metrics\": {\"acc\": 0.7}}";
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_int_eq(meta_from_name(&ms, "step=3-acc=0.1-bleu=20"), 0);
	ck_assert_int_eq(meta_from_json(&ms, md, strlen(md), "metadata.json"), 0);
	ck_assert_int_eq(meta_from_json(&ms, mt, strlen(mt), "metrics.json"), 0);
	ck_assert_int_eq(ms.step, 7);
	ck_assert_metric(&ms, "acc", 0.7);
	ck_assert_str_eq(find_metric(&ms, "acc")->source, "metrics.json");
	ck_assert_metric(&ms, "f1", 0.6);
	ck_assert_str_eq(find_metric(&ms, "f1")->source, "metadata.json");
	ck_assert_metric(&ms, "bleu", 20);
	ck_assert_str_eq(find_metric(&ms, "bleu")->source, "name");
	meta_release(&ms);
}
END_TEST

START_TEST(test_metadata_malformed)
{
	struct meta_set ms;

	meta_init(&ms);
	ck_assert_int_eq(meta_set_value(&ms, "acc", 0.5, "name"), 0);
	ck_assert_int_eq(meta_from_json(&ms, "{\"acc\": 0.9, \"b\": }", 19, "metrics.json"),
			 -EINVAL);
	ck_assert_metric(&ms, "acc", 0.5);
	ck_assert_uint_eq(ms.n_metrics, 1);
	ck_assert_ptr_nonnull(strstr(ms.problems, "metrics.json"));
	ck_assert_int_eq(meta_from_json(&ms, "42", 2, "metadata.json"), -EINVAL);
	ck_assert_int_eq(meta_from_json(&ms, "{\"a\":1}\0junk", 12, "metadata.json"), -EINVAL);
	ck_assert_uint_eq(ms.n_metrics, 1);
	/* a fractional step is refused with a note; the rest is kept */
	ck_assert_int_eq(meta_from_json(&ms, "{\"step\": 2.5, \"b\": 1}", 21, "metadata.json"), 0);
	ck_assert(!ms.has_step);
	ck_assert_metric(&ms, "b", 1);
	meta_release(&ms);
}
END_TEST

/* ---- numbers, directions, usable names ---- */

START_TEST(test_parse_number)
{
	double v = -1;

	ck_assert_int_eq(meta_parse_number("0.25", 4, &v), 0);
	ck_assert_double_eq(v, 0.25);
	ck_assert_int_eq(meta_parse_number("  -1.5e3\n", 9, &v), 0);
	ck_assert_double_eq(v, -1500);
	ck_assert_int_eq(meta_parse_number("42\n", 3, &v), 0);
	ck_assert_double_eq(v, 42);
	ck_assert_int_eq(meta_parse_number("+.5", 3, &v), 0);
	ck_assert_double_eq(v, 0.5);
	/* len bounds the text: trailing bytes are not read */
	ck_assert_int_eq(meta_parse_number("7xyz", 1, &v), 0);
	ck_assert_double_eq(v, 7);

	v = 123;
	ck_assert_int_eq(meta_parse_number("", 0, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("   ", 3, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("nan", 3, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("NaN", 3, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("inf", 3, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("-Infinity", 9, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("0x10", 4, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("1e999", 5, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("1.5abc", 6, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("1 2", 3, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("1\0", 2, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("e5", 2, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number(".", 1, &v), -EINVAL);
	ck_assert_int_eq(meta_parse_number("1e", 2, &v), -EINVAL);
	ck_assert_double_eq(v, 123); /* untouched on error */
}
END_TEST

START_TEST(test_default_direction)
{
	static const char *const mins[] = { "val_loss",	  "LOSS",    "train_err", "error_rate",
					    "perplexity", "val_ppl", "wer",	  "CER",
					    "mse",	  "val_mae", "rmse" };
	static const char *const maxs[] = { "accuracy", "val_acc", "f1",
					    "bleu",	"auc",	   "best_metric" };

	for (size_t i = 0; i < sizeof(mins) / sizeof(mins[0]); i++)
		ck_assert_msg(meta_default_direction(mins[i]) == -1, "%s", mins[i]);
	for (size_t i = 0; i < sizeof(maxs) / sizeof(maxs[0]); i++)
		ck_assert_msg(meta_default_direction(maxs[i]) == 1, "%s", maxs[i]);
}
END_TEST

START_TEST(test_name_usable)
{
	char n256[300];

	ck_assert(meta_name_usable("val_loss"));
	ck_assert(meta_name_usable("eval/acc") == false);
	ck_assert(!meta_name_usable("step"));
	ck_assert(!meta_name_usable("epoch"));
	ck_assert(!meta_name_usable(""));
	ck_assert(!meta_name_usable("."));
	ck_assert(!meta_name_usable(".."));
	ck_assert(meta_name_usable("...")); /* a valid file name */
	ck_assert(meta_name_usable("gen\xc3\xa9ral"));
	ck_assert(!meta_name_usable("bad\xc3"));
	ck_assert(!meta_name_usable("bad\xff"));
	ck_assert(!meta_name_usable("\xc0\xaf"));     /* overlong '/' */
	ck_assert(!meta_name_usable("\xed\xa0\x80")); /* surrogate */
	memset(n256, 'a', 256);
	n256[256] = '\0';
	ck_assert(!meta_name_usable(n256));
}
END_TEST

static Suite *meta_suite(void)
{
	Suite *s = suite_create("meta");
	TCase *tc = tcase_create("name");

	tcase_add_test(tc, test_name_lightning);
	tcase_add_test(tc, test_name_extensions);
	tcase_add_test(tc, test_name_negative_exponent);
	tcase_add_test(tc, test_name_separators);
	tcase_add_test(tc, test_name_non_numeric);
	tcase_add_test(tc, test_name_trailing);
	tcase_add_test(tc, test_name_long_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("set");
	tcase_add_test(tc, test_set_value);
	tcase_add_test(tc, test_metric_cap);
	tcase_add_test(tc, test_problem_notes);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_test(tc, test_trainer_state);
	tcase_add_test(tc, test_trainer_state_overrides_name);
	tcase_add_test(tc, test_trainer_state_malformed);
	tcase_add_test(tc, test_trainer_state_python_nan);
	tcase_add_test(tc, test_trainer_state_fixture);
	tcase_add_test(tc, test_json_too_big);
	tcase_add_test(tc, test_metadata_json);
	tcase_add_test(tc, test_metrics_json_order);
	tcase_add_test(tc, test_metadata_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_add_test(tc, test_parse_number);
	tcase_add_test(tc, test_default_direction);
	tcase_add_test(tc, test_name_usable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(meta_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
