/* `ckpt undelete` and `ckpt trash ls|empty` (issue #17): the trash of a
 * store opened by tools/ckpt.c, which calls these through ckpt_trash.h.
 * Each returns the ckpt exit code (0 ok, 1 failed, 4 no such checkpoint). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ckpt_trash.h"

static void trash_err(const char *what, const char *fmt, const char *arg, int err)
{
	fprintf(stderr, "ckpt: %s: ", what);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, ": %s\n", strerror(err));
}

static int trash_exit(int rc)
{
	return rc == 0 ? 0 : rc == -ENOENT ? 4 : 1;
}

/* Prints json (stolen) as ckpt does; NULL is out of memory. */
static int trash_json_print(json_t *j)
{
	int rc = j && json_dumpf(j, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;

	if (rc == 0)
		putchar('\n');
	json_decref(j);
	return rc;
}

static void utc(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int trash_cmd_undelete(struct store *st, const char *name, bool json)
{
	struct ckpt_info ci;
	int64_t id;
	int rc = store_undelete(st, name, &id);

	if (rc == -EEXIST) {
		fprintf(stderr,
			"ckpt: undelete: %s: a live checkpoint has its name: remove or rename it"
			" first\n",
			name);
		return 1;
	}
	if (rc < 0) {
		trash_err("undelete", rc == -ENOENT ? "%s: not in the trash" : "%s", name, -rc);
		return trash_exit(rc);
	}
	if (store_ckpt_get(st, id, &ci) < 0)
		return 0;
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:I}", "name", ci.name, "state",
				      store_ckpt_state_name(ci.state), "commit_seq",
				      (json_int_t)ci.commit_seq);

		rc = trash_json_print(o);
	} else {
		printf("restored %s\n", ci.name);
	}
	ckpt_info_release(&ci);
	return rc;
}

static json_t *trash_row_json(const struct ckpt_info *ci, int64_t grace, uint64_t unique)
{
	char at[40], purge[40];

	utc(ci->ended_at, at, sizeof(at));
	utc(ci->ended_at + grace, purge, sizeof(purge));
	return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:I, s:I}", "name", ci->name, "kind",
			 ci->kind == CKPT_FILE ? "file" : "dir", "step",
			 ci->has_step ? json_integer(ci->step) : json_null(), "deleted_at", at,
			 "purge_at", purge, "reason", ci->deleted_rule ? ci->deleted_rule : "",
			 "logical_bytes", (json_int_t)ci->logical_bytes, "unique_bytes",
			 (json_int_t)unique);
}

int trash_cmd_ls(struct store *st, bool json)
{
	struct ckpt_info *arr = NULL;
	json_t *ja = json ? json_array() : NULL;
	struct policy p;
	size_t n = 0, i;
	int rc = store_policy_get(st, &p);

	if (rc == 0)
		rc = store_trash_list(st, &arr, &n);
	if (rc < 0) {
		trash_err("trash", "%s", "listing the trash", -rc);
		json_decref(ja);
		return 1;
	}
	if (!json)
		printf("%-32s %-20s %-20s %12s  %s\n", "NAME", "DELETED", "PURGE_AT", "UNIQUE",
		       "REASON");
	for (i = 0; rc == 0 && i < n; i++) {
		char at[40], purge[40];
		uint64_t unique = 0;

		rc = store_ckpt_unique_bytes(st, &arr[i], &unique);
		if (rc == 0 && json) {
			rc = json_array_append_new(
				     ja, trash_row_json(&arr[i], (int64_t)p.trash_s, unique))
				? -ENOMEM
				: 0;
		} else if (rc == 0) {
			utc(arr[i].ended_at, at, sizeof(at));
			utc(arr[i].ended_at + (int64_t)p.trash_s, purge, sizeof(purge));
			printf("%-32s %-20s %-20s %12llu  %s\n", arr[i].name, at, purge,
			       (unsigned long long)unique,
			       arr[i].deleted_rule ? arr[i].deleted_rule : "");
		}
	}
	ckpt_info_free_array(arr, n);
	if (rc < 0) {
		trash_err("trash", "%s", "listing the trash", -rc);
		json_decref(ja);
		return 1;
	}
	return json ? trash_json_print(ja) : 0;
}

int trash_cmd_empty(struct store *st, const char *name, bool json)
{
	struct ckpt_info *arr = NULL;
	size_t n = 0, i, purged = 0;
	int rc = store_trash_list(st, &arr, &n);

	for (i = 0; rc == 0 && i < n; i++) {
		if (name && strcmp(arr[i].name, name) != 0)
			continue;
		rc = store_trash_purge(st, arr[i].id, "emptied by hand");
		purged += rc == 0;
	}
	ckpt_info_free_array(arr, n);
	if (rc == 0 && name && !purged)
		rc = -ENOENT;
	if (rc < 0) {
		trash_err("trash empty", rc == -ENOENT ? "%s: not in the trash" : "%s",
			  name ? name : "the trash", -rc);
		return trash_exit(rc);
	}
	if (json)
		return trash_json_print(json_pack("{s:I}", "purged", (json_int_t)purged));
	printf("purged %zu checkpoint(s)\n", purged);
	return 0;
}
