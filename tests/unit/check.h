/* The one-line-per-check protocol of tests/run, for C unit tests. */
#ifndef RINGVM_CHECK_H
#define RINGVM_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(name, cond, ...)                                            \
	do {                                                              \
		if (cond) {                                               \
			printf("PASS %s\n", name);                        \
		} else {                                                  \
			check_failures++;                                 \
			printf("FAIL %s: ", name);                        \
			printf(__VA_ARGS__);                              \
			printf("\n");                                     \
		}                                                         \
		fflush(stdout);                                           \
	} while (0)

#define SKIP(name, ...)                                                   \
	do {                                                              \
		printf("SKIP %s: ", name);                                \
		printf(__VA_ARGS__);                                      \
		printf("\n");                                             \
	} while (0)

#define CHECK_DONE() return check_failures ? 1 : 0

#endif
