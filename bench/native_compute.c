/* The guest kit's compute workload (guest/compute.c) run natively, as the
 * baseline for the guest's `bench` mode. Same arena size, same rounds
 * (rounds=N), same checksum; prints the guest's BENCH line plus ns=.
 * ops = rounds, as in the guest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "compute.h"

#include "clock.h"

int main(int argc, char **argv)
{
	uint32_t rounds = COMPUTE_DEFAULT_ROUNDS;
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "rounds=", 7)) {
			rounds = (uint32_t)strtoul(argv[i] + 7, NULL, 10);
		} else {
			fprintf(stderr, "usage: %s [rounds=N]\n", argv[0]);
			return 2;
		}
	}
	if (!rounds)
		rounds = 1;
	/* The guest's arena is fresh zeroed pages: start from the same state. */
	uint8_t *arena = calloc(1, COMPUTE_ARENA_BYTES);
	if (!arena) {
		perror("calloc");
		return 1;
	}
	uint64_t t0 = now_ns(), c0 = rdtsc();
	uint32_t sum = compute_run(arena, COMPUTE_ARENA_BYTES, rounds);
	uint64_t c1 = rdtsc(), t1 = now_ns();
	printf("BENCH compute cycles_per_op=%llu ops=%u checksum=0x%08x ns=%llu\n",
	       (unsigned long long)((c1 - c0) / rounds), rounds, sum, (unsigned long long)(t1 - t0));
	free(arena);
	return 0;
}
