/* Small helpers shared by the core modules. No I/O, thread-safe. */
#ifndef CKPT_UTIL_H
#define CKPT_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool util_utf8_valid(const char *s);

/* Formats one line into err (len bytes; nothing when err is NULL or len 0):
 * newlines, e.g. in an engine's message, become spaces. */
void util_seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Makes room for element n in the growable array *p of *cap elements of
 * size elem (doubling, from 16). 0; -EFBIG when more than max elements would
 * be needed (a cap on anything that grows from input); -ENOMEM. On error the
 * array is unchanged and still owned by the caller. */
int util_grow_ptr(void **p, size_t *cap, size_t n, size_t elem, size_t max);

/* The same on a typed array lvalue: UTIL_GROW(arr, cap, n, max) is 0 or a
 * negative errno, and updates arr and cap. */
#define UTIL_GROW(arr, cap, n, max)                                                         \
	({                                                                                  \
		void *util_p_ = (arr);                                                      \
		int util_rc_ = util_grow_ptr(&util_p_, &(cap), (n), sizeof(*(arr)), (max)); \
		if (util_rc_ == 0)                                                          \
			(arr) = util_p_;                                                    \
		util_rc_;                                                                   \
	})

#endif
