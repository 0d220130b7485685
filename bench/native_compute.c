/* The guest kit's compute workload (guest/compute.c) run natively, as the
 * baseline for the guest's `bench` mode. Same arena size, same rounds
 * (rounds=N), same checksum, same order (one cold round timed on its
 * own, then the timed rounds); prints the guest's BENCH lines plus ns=.
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
	/* The guest's order (guest/user.c user_bench): one cold round, timed
	 * on its own, then the timed steady-state rounds. */
	uint64_t k0 = rdtsc();
	compute_run(arena, COMPUTE_ARENA_BYTES, 1);
	uint64_t t0 = now_ns(), c0 = rdtsc();
	uint32_t sum = compute_run(arena, COMPUTE_ARENA_BYTES, rounds);
	uint64_t c1 = rdtsc(), t1 = now_ns();
	printf("BENCH compute cycles_per_op=%llu ops=%u checksum=0x%08x ns=%llu\n",
	       (unsigned long long)((c1 - c0) / rounds), rounds, sum, (unsigned long long)(t1 - t0));
	printf("BENCH compute_cold cycles_per_op=%llu ops=1\n", (unsigned long long)(c0 - k0));
	free(arena);
	return 0;
}
