/* Benchmark mode. "bench" alone runs compute (default 25 rounds, as it
 * always did); "bench=a,b,..." or "bench=all" runs the named benchmarks
 * in the order below, "quick" with a tenth of the iterations, "iters=N"
 * with N, "rounds=N" sets compute's rounds. Each prints
 *     BENCH name cycles_per_op=N ops=N
 * (compute adds checksum=0x...) then PASS bench.name, or FAIL bench.name.
 *
 * Everything is timed inside the guest with RDTSC around a loop of many
 * iterations. Loop overhead is subtracted where it is comparable to the
 * thing measured: the same loop with an empty body is timed and taken
 * away (bench_r0.c for the ring-0 ones, user.c for syscall and pgfault,
 * here for cr3 and ptemod). compute and forkwait are whole workloads, not
 * subtracted. */
#include "kit.h"
#include "bench.h"
#include "compute.h"
#include "user.h"

static uint64_t report64(struct proc *p, uint32_t slot)
{
	return ((uint64_t)p->report[slot + 1] << 32) | p->report[slot];
}

static int proc_ok(const char *test, struct proc *p)
{
	if (p->faulted || p->exit_code) {
		test_fail(test, "process died: exit 0x%x vector %u eip 0x%08x cr2 0x%08x",
			  p->exit_code, p->fault_vector, p->fault_eip, p->fault_cr2);
		return 0;
	}
	return 1;
}

static void bench_compute(void)
{
	char arg[16];
	uint32_t rounds = COMPUTE_DEFAULT_ROUNDS;
	char list[4];
	if (cmdline_value("bench", list, sizeof list))
		rounds = cmdline_has("quick") ? 1 : BENCH_COMPUTE_ROUNDS;
	if (cmdline_value("rounds", arg, sizeof arg))
		rounds = parse_u32(arg);
	if (!rounds)
		rounds = 1;
	struct proc *p = proc_spawn(user_bench, rounds, COMPUTE_ARENA_BYTES / 4096);
	sched_run();
	if (proc_ok("bench.compute", p)) {
		uint64_t cycles = report64(p, BENCH_SLOT_LO);
		kprintf("BENCH compute cycles_per_op=%llu ops=%u checksum=0x%08x\n",
			udivmod64(cycles, rounds, NULL), rounds, p->report[BENCH_SLOT_SUM]);
		bench_print("compute_cold", report64(p, BENCH_SLOT_COLD_LO), 1);
		test_pass("bench.compute");
	}
	proc_reap();
}

/* A ring-3 benchmark that reports its loop and its empty loop. */
static void bench_user(const char *name, void (*entry)(uint32_t), uint32_t n, uint32_t ops_per_iter)
{
	char test[32];
	ksnprintf(test, sizeof test, "bench.%s", name);
	struct proc *p = proc_spawn(entry, n, 0);
	sched_run();
	if (proc_ok(test, p)) {
		bench_print(name, bench_net(report64(p, BENCH_SLOT_LO), report64(p, BENCH_SLOT_EMPTY_LO)),
			    n * ops_per_iter);
		test_pass(test);
	}
	proc_reap();
}

/* pgfault: the page that faulted gets mapped, the other one unmapped. */
static uint32_t pf_frame[2];
static uint32_t pf_faults;

static struct regs *pf_hook(struct regs *r)
{
	uint32_t va = read_cr2() & ~0xFFFu;
	if (r->vector != 14 || (va != BENCH_PF_VA && va != BENCH_PF_VA + 4096))
		return NULL;
	uint32_t i = (va - BENCH_PF_VA) >> 12;
	map_page(current->pd_phys, va, pf_frame[i], PTE_U | PTE_W);
	unmap_page(current->pd_phys, BENCH_PF_VA + ((1 - i) << 12));
	pf_faults++;
	return r;
}

static void bench_pgfault(void)
{
	uint32_t n = bench_iters(BENCH_N_PGFAULT);
	pf_frame[0] = frame_alloc();
	pf_frame[1] = frame_alloc();
	pf_faults = 0;
	user_pf_hook = pf_hook;
	struct proc *p = proc_spawn(user_bench_pgfault, n, 0);
	uint32_t pd = p->pd_phys;
	sched_run();
	user_pf_hook = NULL;
	/* The frames are ours, not the process's: out of its map before reaping. */
	unmap_page(pd, BENCH_PF_VA);
	unmap_page(pd, BENCH_PF_VA + 4096);
	if (proc_ok("bench.pgfault", p)) {
		if (pf_faults != 2 * n) {
			test_fail("bench.pgfault", "%u faults, expected %u", pf_faults, 2 * n);
		} else {
			bench_print("pgfault", bench_net(report64(p, BENCH_SLOT_LO),
							 report64(p, BENCH_SLOT_EMPTY_LO)), 2 * n);
			test_pass("bench.pgfault");
		}
	}
	proc_reap();
	frame_free(pf_frame[0]);
	frame_free(pf_frame[1]);
}

/* cr3: switch between the kernel's address space and a second one (same
 * kernel half, nothing else), two writes per iteration. */
static uint32_t pv_cr3_of_vmm(void)
{
	struct ringvm_pv_sysregs r;
	pv_call(RINGVM_HC_READ_STATE, (uint32_t)&r, 0, 0);
	return r.cr3;
}

static void bench_cr3(void)
{
	uint32_t n = bench_iters(BENCH_N_CR3);
	uint32_t a = virt_to_phys(kernel_pd), b = pd_new();
	uint64_t empty = bench_loop_empty(n);
	uint32_t c = n;
	uint64_t t0 = rdtsc();
	if (pv_active) {
		for (; c; c--) {
			pv_call(RINGVM_HC_SET_CR3, b, 0, 0);
			pv_call(RINGVM_HC_SET_CR3, a, 0, 0);
		}
	} else {
		__asm__ volatile("1:\tmovl %1, %%cr3\n\tmovl %2, %%cr3\n\tdecl %0\n\tjnz 1b"
				 : "+c"(c) : "r"(b), "r"(a) : "memory", "cc");
	}
	uint64_t body = rdtsc() - t0;
	frame_free(b);
	bench_print("cr3", bench_net(body, empty), 2 * n);
	uint32_t now = pv_active ? pv_cr3_of_vmm() : read_cr3();
	test_result("bench.cr3", now == a, "cr3 0x%x after the loop, expected 0x%x", now, a);
}

/* ptemod: rewrite one kernel PTE (alternately pointing at two frames),
 * then INVLPG that page. */
static void bench_ptemod(void)
{
	uint32_t n = bench_iters(BENCH_N_PTEMOD);
	uint32_t kpd = virt_to_phys(kernel_pd), va = KTEST_VA + 0x10000;
	uint32_t f0 = frame_alloc(), f1 = frame_alloc();
	map_page(kpd, va, f0, PTE_W);
	uint32_t *pt = phys_to_virt(kernel_pd[va >> 22] & ~0xFFFu);
	uint32_t *pte = &pt[(va >> 12) & 0x3FF];
	uint32_t v = *pte, flip = f0 ^ f1;
	uint64_t empty = bench_loop_empty(n);
	uint32_t c = n;
	uint64_t t0 = rdtsc();
	if (pv_active) {
		/* One hypercall: the write and the flush in one batch. */
		for (; c; c--) {
			v ^= flip;
			pte_write(pte, v, va);
		}
	} else {
		__asm__ volatile("1:\txorl %3, %1\n\tmovl %1, (%2)\n\tinvlpg (%4)\n\tdecl %0\n\tjnz 1b"
				 : "+c"(c), "+r"(v) : "r"(pte), "r"(flip), "r"(va) : "memory", "cc");
	}
	uint64_t body = rdtsc() - t0;
	/* The page must now show the frame the last write chose. */
	uint32_t want = (n & 1) ? f1 : f0;
	*(volatile uint32_t *)va = 0x5A5A0000u | n;
	uint32_t got = *(volatile uint32_t *)phys_to_virt(want);
	unmap_page(kpd, va);
	frame_free(f0);
	frame_free(f1);
	bench_print("ptemod", bench_net(body, empty), n);
	test_result("bench.ptemod", got == (0x5A5A0000u | n),
		    "after %u PTE writes the page did not map frame 0x%x", n, want);
}

/* ptemod64: 64 PTEs rewritten (alternately pointing at two frames), then
 * their 64 pages flushed: 64 stores and 64 INVLPGs, or, paravirtual, one
 * hypercall with a batch of 128 entries (Xen's mmu_update). Per batch. */
#define PTEMOD_BATCH 64u
static void bench_ptemod64(void)
{
	static struct ringvm_pv_mmu_op ops[2][2 * PTEMOD_BATCH];
	uint32_t n = bench_iters(BENCH_N_PTEMOD64);
	uint32_t kpd = virt_to_phys(kernel_pd), base = KTEST_VA + 0x200000;
	uint32_t f[2] = { frame_alloc(), frame_alloc() };
	map_page(kpd, base, f[0], PTE_W); /* creates the page table */
	uint32_t *pt = phys_to_virt(kernel_pd[base >> 22] & ~0xFFFu);
	uint32_t *pte = &pt[(base >> 12) & 0x3FF];
	for (uint32_t k = 0; k < 2; k++)
		for (uint32_t i = 0; i < PTEMOD_BATCH; i++) {
			ops[k][2 * i] = (struct ringvm_pv_mmu_op){ virt_to_phys(&pte[i]), f[k] | PTE_P | PTE_W };
			ops[k][2 * i + 1] = (struct ringvm_pv_mmu_op){ RINGVM_MMU_INVLPG, base + i * 4096 };
		}
	uint64_t empty = bench_loop_empty(n);
	uint64_t t0 = rdtsc();
	for (uint32_t c = 1; c <= n; c++) {
		uint32_t k = c & 1;
		if (pv_active) {
			pv_call(RINGVM_HC_MMU_UPDATE, (uint32_t)ops[k], 2 * PTEMOD_BATCH, 0);
		} else {
			uint32_t val = f[k] | PTE_P | PTE_W;
			for (uint32_t i = 0; i < PTEMOD_BATCH; i++)
				pte[i] = val;
			for (uint32_t i = 0; i < PTEMOD_BATCH; i++)
				invlpg(base + i * 4096);
		}
	}
	uint64_t body = rdtsc() - t0;
	/* Every page must now show the frame the last batch chose. */
	uint32_t want = f[n & 1], bad = 0;
	*(volatile uint32_t *)phys_to_virt(want) = 0x64640000u | n;
	for (uint32_t i = 0; i < PTEMOD_BATCH; i++)
		bad += *(volatile uint32_t *)(base + i * 4096) != (0x64640000u | n);
	for (uint32_t i = 0; i < PTEMOD_BATCH; i++)
		unmap_page(kpd, base + i * 4096);
	frame_free(f[0]);
	frame_free(f[1]);
	bench_print("ptemod64", bench_net(body, empty), n);
	test_result("bench.ptemod64", !bad, "after %u batches %u of %u pages did not map frame 0x%x", n,
		    bad, PTEMOD_BATCH, want);
}

/* forkwait: n processes, created (page directory and tables, image,
 * stack), run (context switch to ring 3), exited and reaped (their memory
 * freed), four at a time. Not subtracted: the whole cycle is the op. */
static void bench_forkwait(void)
{
	uint32_t n = bench_iters(BENCH_N_FORKWAIT), done = 0, bad = 0;
	uint64_t t0 = rdtsc();
	while (done < n) {
		struct proc *ps[4];
		uint32_t batch = n - done < 4 ? n - done : 4;
		for (uint32_t i = 0; i < batch; i++)
			ps[i] = proc_spawn(user_exit0, 0, 0);
		sched_run();
		for (uint32_t i = 0; i < batch; i++)
			bad += ps[i]->faulted || ps[i]->exit_code;
		proc_reap();
		done += batch;
	}
	uint64_t t = rdtsc() - t0;
	bench_print("forkwait", t, n);
	test_result("bench.forkwait", !bad, "%u of %u processes did not exit 0", bad, n);
}

static void bench_ring0(const char *name, uint32_t dflt)
{
	char test[32];
	uint32_t n = bench_iters(dflt);
	uint64_t c;
	bench_r0(name, n, &c);
	bench_print(name, c, n);
	ksnprintf(test, sizeof test, "bench.%s", name);
	test_pass(test);
}

void bench_run(void)
{
	if (bench_selected("syscall"))
		bench_user("syscall", user_bench_syscall, bench_iters(BENCH_N_SYSCALL), 1);
	if (bench_selected("in"))
		bench_ring0("in", BENCH_N_IN);
	if (bench_selected("cr3"))
		bench_cr3();
	if (bench_selected("cli_sti"))
		bench_ring0("cli_sti", BENCH_N_CLI_STI);
	if (bench_selected("pushf_popf"))
		bench_ring0("pushf_popf", BENCH_N_PUSHF_POPF);
	if (bench_selected("pgfault"))
		bench_pgfault();
	if (bench_selected("ptemod"))
		bench_ptemod();
	if (bench_selected("ptemod64"))
		bench_ptemod64();
	if (bench_selected("divzero"))
		bench_ring0("divzero", BENCH_N_DIVZERO);
	if (bench_selected("call_ret"))
		bench_ring0("call_ret", BENCH_N_CALL_RET);
	if (bench_selected("timer"))
		bench_ring0("timer", BENCH_N_TIMER);
	if (bench_selected("x87"))
		bench_ring0("x87", BENCH_N_X87);
	if (bench_selected("compute") || bench_selected("compute_cold"))
		bench_compute();
	if (bench_selected("forkwait"))
		bench_forkwait();
}
