/* The two clocks every host-side benchmark reads: the TSC (cycles, to
 * compare with the guest's own RDTSC figures) and CLOCK_MONOTONIC. */
#ifndef RINGVM_BENCH_CLOCK_H
#define RINGVM_BENCH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
