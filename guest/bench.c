/* bench mode: compute_run in a ring-3 process over a 2 MiB arena of user
 * pages, timed there with RDTSC. ops = rounds (one round = sieve + hash +
 * sort, see compute.c), the same unit as bench/native_compute. */
#include "kit.h"
#include "compute.h"
#include "user.h"

void bench_run(void)
{
	char arg[16];
	uint32_t rounds = COMPUTE_DEFAULT_ROUNDS;
	if (cmdline_value("rounds", arg, sizeof arg))
		rounds = parse_u32(arg);
	if (!rounds)
		rounds = 1;
	struct proc *p = proc_spawn(user_bench, rounds, COMPUTE_ARENA_BYTES / 4096);
	sched_run();
	if (p->faulted || p->exit_code) {
		test_fail("bench.compute", "process died: exit 0x%x vector %u eip 0x%08x cr2 0x%08x",
			  p->exit_code, p->fault_vector, p->fault_eip, p->fault_cr2);
		return;
	}
	uint64_t cycles = ((uint64_t)p->report[BENCH_SLOT_HI] << 32) | p->report[BENCH_SLOT_LO];
	kprintf("BENCH compute cycles_per_op=%llu ops=%u checksum=0x%08x\n",
		udivmod64(cycles, rounds, NULL), rounds, p->report[BENCH_SLOT_SUM]);
	test_pass("bench.compute");
	proc_reap();
}
