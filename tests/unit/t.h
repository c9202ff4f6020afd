/* t.h: a minimal unit-test harness: CHECK records failures, RUN runs a test function. */
#ifndef R2K_T_H
#define R2K_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed, t_checks, t_tests_failed, t_tests;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		t_checks++;                                                                        \
		if (!(cond)) {                                                                     \
			t_failed++;                                                                \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long t_a = (long long)(a), t_b = (long long)(b);                              \
		t_checks++;                                                                        \
		if (t_a != t_b) {                                                                  \
			t_failed++;                                                                \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n",        \
			        __FILE__, __LINE__, #a, t_a, #b, t_b);                             \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *t_a = (a), *t_b = (b);                                                 \
		t_checks++;                                                                        \
		if (!t_a || !t_b || strcmp(t_a, t_b) != 0) {                                       \
			t_failed++;                                                                \
			fprintf(stderr, "%s:%d: CHECK_STR failed: '%s' != '%s'\n", __FILE__,       \
			        __LINE__, t_a ? t_a : "(null)", t_b ? t_b : "(null)");             \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		int t_before = t_failed;                                                           \
		t_tests++;                                                                         \
		fn();                                                                              \
		if (t_failed != t_before) {                                                        \
			t_tests_failed++;                                                          \
			fprintf(stderr, "FAIL %s\n", #fn);                                         \
		} else {                                                                           \
			printf("ok   %s\n", #fn);                                                  \
		}                                                                                  \
	} while (0)

#define T_DONE()                                                                                   \
	(printf("%d passed, %d failed\n", t_tests - t_tests_failed, t_tests_failed),               \
	 t_tests_failed ? 1 : 0)

#endif
