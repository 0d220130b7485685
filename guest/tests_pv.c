/* pv.*: the paravirtual ABI from the guest's side, run only when the kit
 * found it (pv.h). Hostile calls must fail with the documented error and
 * change nothing; ring 3 must not reach the doorbell; a batch of page-table
 * updates must map what it says; the pvclock must keep time with the PIT. */
#include "kit.h"
#include "user.h"

static int32_t iret_probe(uint32_t eip, uint32_t cs, uint32_t eflags, uint32_t esp, uint32_t ss)
{
	/* The frame RINGVM_HC_IRET pops, built on this stack; a refused
	 * frame returns here with the error in EAX. */
	uint32_t r;
	__asm__ volatile("pushl %5\n\tpushl %4\n\tpushl %3\n\tpushl %2\n\tpushl %1\n\t"
			 "pushl $0\n\tmovl $14, %%eax\n\toutl %%eax, $0xe4\n\taddl $24, %%esp"
			 : "=&a"(r)
			 : "g"(eip), "g"(cs), "g"(eflags), "g"(esp), "g"(ss)
			 : "memory");
	return (int32_t)r;
}

static struct ringvm_pv_sysregs state(void)
{
	struct ringvm_pv_sysregs r;
	memset(&r, 0, sizeof r);
	pv_call(RINGVM_HC_READ_STATE, (uint32_t)&r, 0, 0);
	return r;
}

struct hostile {
	const char *what;
	int32_t got, want;
};

static void test_hostile(void)
{
	static struct ringvm_pv_mmu_op ops[2];
	static uint64_t bad_gdt[4] __attribute__((aligned(8)));
	struct ringvm_pv_sysregs before = state();
	uint32_t scratch = frame_alloc();
	uint32_t ram = boot.mem_upper_kb ? (boot.mem_upper_kb + 1024u) * 1024u : 0x08000000u;

	/* A batch whose second entry is outside RAM: the first must not run. */
	ops[0] = (struct ringvm_pv_mmu_op){ scratch, 0x12345678u };
	ops[1] = (struct ringvm_pv_mmu_op){ ram + 0x1000u, 0 };
	int32_t batch_out = pv_call(RINGVM_HC_MMU_UPDATE, (uint32_t)ops, 2, 0);
	uint32_t scratch_after = *(volatile uint32_t *)phys_to_virt(scratch);
	ops[1] = (struct ringvm_pv_mmu_op){ scratch + 2, 0 };
	int32_t batch_unaligned = pv_call(RINGVM_HC_MMU_UPDATE, (uint32_t)ops, 2, 0);

	/* A GDT with a call gate (type 0xC, DPL 3): a way into ring 0. */
	bad_gdt[1] = gdt[SEL_KCODE >> 3];
	bad_gdt[2] = 0x0000EC0000080000ull;
	int32_t gate = pv_call(RINGVM_HC_SET_GDT, (uint32_t)bad_gdt, sizeof bad_gdt - 1, 0);

	/* An LDT (the user processes' table) with a DPL 0 code segment. */
	uint64_t saved_ldt = ldt[0];
	ldt[0] = 0x00CF9A000000FFFFull; /* ring 0 code, flat */
	int32_t ldt_dpl0 = pv_call(RINGVM_HC_SET_LDT, SEL_LDT, 0, 0);
	ldt[0] = saved_ldt;

	struct hostile t[] = {
		{ "unknown call 9999", pv_call(9999, 0, 0, 0), -RINGVM_ENOSYS },
		{ "console write from an unmapped page", pv_call(RINGVM_HC_CONSOLE_WRITE, 0x1000, 8, 0), -RINGVM_EFAULT },
		{ "console write of 5000 bytes", pv_call(RINGVM_HC_CONSOLE_WRITE, (uint32_t)&before, 5000, 0), -RINGVM_E2BIG },
		{ "mmu_update of 100000 entries", pv_call(RINGVM_HC_MMU_UPDATE, (uint32_t)ops, 100000, 0), -RINGVM_E2BIG },
		{ "mmu_update list unmapped", pv_call(RINGVM_HC_MMU_UPDATE, 0x1000, 1, 0), -RINGVM_EFAULT },
		{ "mmu_update PTE outside RAM", batch_out, -RINGVM_EFAULT },
		{ "mmu_update PTE unaligned", batch_unaligned, -RINGVM_EINVAL },
		{ "set_gdt with a call gate", gate, -RINGVM_EINVAL },
		{ "set_gdt limit 0x10000", pv_call(RINGVM_HC_SET_GDT, before.gdt_base, 0x10000, 0), -RINGVM_EINVAL },
		{ "set_ldt with DPL 0 code", ldt_dpl0, -RINGVM_EINVAL },
		{ "load_tr of a code segment", pv_call(RINGVM_HC_LOAD_TR, SEL_KCODE, 0, 0), -RINGVM_EINVAL },
		{ "set_kstack on a user segment", pv_call(RINGVM_HC_SET_KSTACK, SEL_UDATA, 0x1000, 0), -RINGVM_EINVAL },
		{ "set_cr3 outside RAM", pv_call(RINGVM_HC_SET_CR3, 0xF0000000u, 0, 0), -RINGVM_EFAULT },
		{ "set_idt unmapped", pv_call(RINGVM_HC_SET_IDT, 0x1000, 0x7FF, 0), -RINGVM_EFAULT },
		{ "set_shared unaligned", pv_call(RINGVM_HC_SET_SHARED, 0x1234, 0, 0), -RINGVM_EINVAL },
		{ "set_shared outside RAM", pv_call(RINGVM_HC_SET_SHARED, 0xF0000000u, 0, 0), -RINGVM_EFAULT },
		{ "read_state to an unmapped page", pv_call(RINGVM_HC_READ_STATE, 0x1000, 0, 0), -RINGVM_EFAULT },
		{ "iret to ring 0 code with RPL 3", iret_probe(0x400000, SEL_KCODE | 3, 0x202, USER_STACK_TOP, SEL_UDATA), -RINGVM_EINVAL },
		{ "iret with a ring 0 stack", iret_probe(0x400000, SEL_UCODE, 0x202, USER_STACK_TOP, SEL_KDATA | 3), -RINGVM_EINVAL },
		{ "iret with a null CS", iret_probe(0x400000, 3, 0x202, USER_STACK_TOP, SEL_UDATA), -RINGVM_EINVAL },
	};
	struct ringvm_pv_sysregs after = state();
	for (uint32_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (t[i].got != t[i].want) {
			test_fail("pv.hostile", "%s: returned %d, expected %d", t[i].what, (int)t[i].got,
				  (int)t[i].want);
			frame_free(scratch);
			return;
		}
	}
	frame_free(scratch);
	test_result("pv.hostile",
		    scratch_after == 0 && after.gdt_base == before.gdt_base &&
			    after.gdt_limit == before.gdt_limit && after.idt_base == before.idt_base &&
			    after.ldtr == SEL_LDT && after.tr == SEL_TSS && after.cr3 == before.cr3 &&
			    pv_shared->irq_masked == 0,
		    "state changed by refused calls: scratch 0x%x gdt 0x%x/0x%x idt 0x%x ldtr 0x%x tr 0x%x "
		    "cr3 0x%x (was 0x%x)",
		    scratch_after, after.gdt_base, after.gdt_limit, after.idt_base, after.ldtr, after.tr,
		    after.cr3, before.cr3);
}

static void test_user_denied(void)
{
	struct proc *p = proc_spawn(user_hypercall, RINGVM_HC_SHUTDOWN, 0);
	sched_run();
	test_result("pv.user_denied", p->faulted && p->fault_vector == 13,
		    "ring-3 OUT to the doorbell: expected #GP, got %s vector %u (exit 0x%x)",
		    p->faulted ? "fault" : "no fault", p->fault_vector, p->exit_code);
	proc_reap();
}

/* 64 pages mapped, checked through the mapping and unmapped again, each
 * with one hypercall (Xen's mmu_update). */
#define BATCH 64u
static void test_mmu_batch(void)
{
	static struct ringvm_pv_mmu_op ops[2 * BATCH];
	static uint32_t frames[BATCH];
	uint32_t base = KTEST_VA + 0x100000, kpd = virt_to_phys(kernel_pd);
	map_page(kpd, base, frame_alloc(), PTE_W); /* makes the page table */
	unmap_page(kpd, base);
	uint32_t *pt = phys_to_virt(kernel_pd[base >> 22] & ~0xFFFu);
	for (uint32_t i = 0; i < BATCH; i++) {
		frames[i] = frame_alloc();
		*(volatile uint32_t *)phys_to_virt(frames[i]) = 0xB0000000u | i;
		uint32_t va = base + i * 4096;
		ops[2 * i] = (struct ringvm_pv_mmu_op){ virt_to_phys(&pt[(va >> 12) & 0x3FF]),
							 frames[i] | PTE_P | PTE_W };
		ops[2 * i + 1] = (struct ringvm_pv_mmu_op){ RINGVM_MMU_INVLPG, va };
	}
	int32_t r = pv_call(RINGVM_HC_MMU_UPDATE, (uint32_t)ops, 2 * BATCH, 0);
	uint32_t bad = BATCH;
	for (uint32_t i = 0; i < BATCH && r == (int32_t)(2 * BATCH); i++)
		if (*(volatile uint32_t *)(base + i * 4096) != (0xB0000000u | i)) {
			bad = i;
			break;
		}
	for (uint32_t i = 0; i < BATCH; i++)
		ops[2 * i].val = 0;
	int32_t r2 = pv_call(RINGVM_HC_MMU_UPDATE, (uint32_t)ops, 2 * BATCH, 0);
	for (uint32_t i = 0; i < BATCH; i++)
		frame_free(frames[i]);
	test_result("pv.mmu_batch", r == (int32_t)(2 * BATCH) && bad == BATCH && r2 == r,
		    "batch returned %d then %d (want %u), first wrong page %u", (int)r, (int)r2,
		    2 * BATCH, bad);
}

/* The pvclock against the PIT: 20 ticks at 100 Hz are 200 ms. */
static void test_clock(void)
{
	uint32_t t = ticks;
	while (ticks == t)
		irq_on_halt();
	uint64_t a = pv_clock_ns();
	t = ticks;
	while (ticks - t < 20)
		irq_on_halt();
	uint64_t b = pv_clock_ns();
	uint32_t ms = (uint32_t)udivmod64(b - a, 1000000, NULL);
	test_result("pv.clock", b > a && ms >= 150 && ms <= 300,
		    "pvclock says %u ms for 20 PIT ticks (200 ms), expected 150..300", ms);
}

void tests_pv(void)
{
	if (!pv_active)
		return;
	if (test_wanted("pv.version"))
		test_result("pv.version", pv_call(RINGVM_HC_VERSION, 0, 0, 0) == RINGVM_PV_VERSION,
			    "version call returned %d", (int)pv_call(RINGVM_HC_VERSION, 0, 0, 0));
	if (test_wanted("pv.hostile"))
		test_hostile();
	if (test_wanted("pv.user_denied"))
		test_user_denied();
	if (test_wanted("pv.mmu_batch"))
		test_mmu_batch();
	if (test_wanted("pv.clock"))
		test_clock();
}
