/* Unit tests for core/held.c: the set of held chunk hashes with counts
 * (held.h). Counts add and drop one by one, a hash is held until its last
 * hold goes, growth and tombstones keep every entry findable (checked
 * against a plain array model), and a list is added all or none. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "held.h"

/* A hash from an id; with collide, ids share their first 8 bytes (the slot
 * the set starts probing at) and differ further on. */
static void hash_of(uint32_t id, bool collide, uint8_t out[CHUNK_HASH_LEN])
{
	memset(out, 0, CHUNK_HASH_LEN);
	if (collide)
		memcpy(out + 8, &id, sizeof(id));
	else
		memcpy(out, &id, sizeof(id));
	out[CHUNK_HASH_LEN - 1] = 0xa5;
}

START_TEST(test_empty)
{
	struct held_set h;
	uint8_t a[CHUNK_HASH_LEN];

	held_init(&h);
	hash_of(1, false, a);
	ck_assert(!held_has(&h, a));
	ck_assert_uint_eq(held_count(&h, a), 0);
	held_del(&h, a); /* nothing held: nothing happens */
	ck_assert(!held_has(&h, a));
	held_free(&h);
}
END_TEST

START_TEST(test_counts)
{
	struct held_set h;
	uint8_t a[CHUNK_HASH_LEN], b[CHUNK_HASH_LEN];

	held_init(&h);
	hash_of(1, false, a);
	hash_of(2, false, b);
	ck_assert_int_eq(held_add(&h, a), 0);
	ck_assert_int_eq(held_add(&h, a), 0);
	ck_assert_int_eq(held_add(&h, b), 0);
	ck_assert_uint_eq(held_count(&h, a), 2);
	ck_assert_uint_eq(held_count(&h, b), 1);
	held_del(&h, a);
	ck_assert(held_has(&h, a)); /* one hold left */
	ck_assert_uint_eq(held_count(&h, a), 1);
	held_del(&h, a);
	ck_assert(!held_has(&h, a));
	ck_assert_uint_eq(held_count(&h, a), 0);
	ck_assert(held_has(&h, b));
	held_free(&h);
	ck_assert(!held_has(&h, b)); /* freed: empty and usable again */
	ck_assert_int_eq(held_add(&h, b), 0);
	ck_assert_uint_eq(held_count(&h, b), 1);
	held_free(&h);
}
END_TEST

/* Random adds and drops on ids that collide in their first slot (long probe
 * chains, tombstones, growth and same-size rehash), checked after every step
 * against an array of counts. */
static void model_run(bool collide)
{
	enum { IDS = 3000, STEPS = 60000 };
	uint32_t *model = calloc(IDS, sizeof(*model));
	struct held_set h;
	uint8_t x[CHUNK_HASH_LEN];
	uint32_t i;

	ck_assert_ptr_nonnull(model);
	held_init(&h);
	srand(12345);
	for (i = 0; i < STEPS; i++) {
		uint32_t id = (uint32_t)rand() % (i < STEPS / 2 ? IDS : IDS / 10);

		hash_of(id, collide, x);
		if (rand() % 3 && i < STEPS / 2) {
			ck_assert_int_eq(held_add(&h, x), 0);
			model[id]++;
		} else {
			held_del(&h, x);
			if (model[id])
				model[id]--;
		}
		ck_assert_uint_eq(held_count(&h, x), model[id]);
	}
	for (i = 0; i < IDS; i++) {
		hash_of(i, collide, x);
		ck_assert_uint_eq(held_count(&h, x), model[i]);
		ck_assert(held_has(&h, x) == (model[i] > 0));
	}
	ck_assert_uint_le(h.used, h.cap); /* never full: probes end */
	held_free(&h);
	free(model);
}

START_TEST(test_model_spread)
{
	model_run(false);
}
END_TEST

START_TEST(test_model_colliding)
{
	model_run(true);
}
END_TEST

/* Many holds dropped and re-added: tombstones are reused or rehashed away,
 * the table does not grow without bound. */
START_TEST(test_churn_bounded)
{
	struct held_set h;
	uint8_t x[CHUNK_HASH_LEN];
	uint32_t i;

	held_init(&h);
	for (i = 0; i < 200000; i++) {
		hash_of(i, false, x);
		ck_assert_int_eq(held_add(&h, x), 0);
		held_del(&h, x);
	}
	ck_assert_uint_le(h.cap, 1024);
	held_free(&h);
}
END_TEST

/* held_add_list adds every hold or none: a failure part way drops the holds
 * it added. */
START_TEST(test_list_all_or_none)
{
	struct held_set h;
	struct chunk_ref refs[3];
	struct held_ent *full = NULL;
	size_t i;

	memset(refs, 0, sizeof(refs));
	for (i = 0; i < 3; i++)
		hash_of((uint32_t)i + 10, false, refs[i].hash);
	held_init(&h);
	ck_assert_int_eq(held_add_list(&h, refs, 3), 0);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(held_count(&h, refs[i].hash), 1);
	held_del_list(&h, refs, 3);
	for (i = 0; i < 3; i++)
		ck_assert(!held_has(&h, refs[i].hash));

	/* the third hash's count at its maximum: the list add fails there */
	ck_assert_int_eq(held_add(&h, refs[2].hash), 0);
	for (i = 0; i < h.cap; i++)
		if (h.tab[i].count && memcmp(h.tab[i].hash, refs[2].hash, CHUNK_HASH_LEN) == 0)
			full = &h.tab[i];
	ck_assert_ptr_nonnull(full);
	full->count = UINT32_MAX;
	ck_assert_int_eq(held_add(&h, refs[2].hash), -EOVERFLOW);
	ck_assert_int_eq(held_add_list(&h, refs, 3), -EOVERFLOW);
	ck_assert(!held_has(&h, refs[0].hash));
	ck_assert(!held_has(&h, refs[1].hash));
	ck_assert_uint_eq(held_count(&h, refs[2].hash), UINT32_MAX);
	held_free(&h);
}
END_TEST

static Suite *held_suite(void)
{
	Suite *s = suite_create("held");
	TCase *tc = tcase_create("held");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_model_spread);
	tcase_add_test(tc, test_model_colliding);
	tcase_add_test(tc, test_churn_bounded);
	tcase_add_test(tc, test_list_all_or_none);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(held_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
